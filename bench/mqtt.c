/*
 * mqtt.c - jn_mqtt_bench, the MQTT load generator of bench/mqtt_bench.sh:
 * measures ONE MQTT broker at host:port and prints RESULT lines in
 * bench.h's format (RESULT <TAB> workload <TAB> metric <TAB> value <TAB>
 * unit <TAB> better), so the same binary runs against Junction, mosquitto
 * and nats-server's MQTT listener.
 *
 * Workloads:
 *   tput   P publishers -> S subscribers, QoS 0 or 1, one topic or a
 *          wildcard filter: delivered messages per second (all subscribers)
 *          and the messages lost.
 *   lat    QoS 1 end to end: one message in flight, PUBLISH written to the
 *          publisher's socket -> PUBLISH read on the subscriber's; p50/p99.
 *   idle   N connected idle MQTT clients: server RSS growth per connection.
 *
 * The clients are MQTT 3.1.1 on plain blocking sockets, one thread each,
 * packets pre-encoded: a libmosquitto client hands every message through
 * its own thread and callbacks, which on a 2-core machine costs more CPU
 * than the broker spends on it, so the numbers would measure the client.
 * Publishers bound what they have in flight: QoS 1 by a window of
 * unacknowledged PUBLISHes (64), QoS 0 by a PINGREQ after every 4096
 * messages with at most two PINGRESPs outstanding (a broker answers a
 * PINGREQ after the PUBLISHes before it), and both by end-to-end credit:
 * publishers pause while the slowest subscriber is more than 20,000
 * messages behind them. A broker acknowledges a QoS 1 publish when it took
 * it, not when subscribers got it, so without the credit a fast broker
 * would fill its subscriber queues until it drops (mosquitto and Junction
 * drop beyond max_queued_messages) and the throughput would not be one it
 * can sustain. The numbers are sustained delivery rates without loss.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 64
#define PING_EVERY 4096
#define LAG 20000   /* messages sent and not yet received by the slowest subscriber */

struct opts {
	const char *workload, *host, *name;
	int port, pubs, subs, size, qos, conns, pid;
	long count;
	double secs;
	bool wild;
	bool retain;   /* tput: PUBLISH with RETAIN (a broker that persists writes each) */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void result(const char *w, const char *metric, double v, const char *unit,
                   const char *better)
{
	printf("RESULT\t%s\t%s\t%.6g\t%s\t%s\n", w, metric, v, unit, better);
	fflush(stdout);
}

/* ---- sockets and packets ---------------------------------------------------- */

static int tcp_connect(const struct opts *o)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
	if (fd < 0 || inet_pton(AF_INET, o->host, &a.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		fprintf(stderr, "mqtt_bench: connect %s:%d: %s\n", o->host, o->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static size_t put_varint(uint8_t *b, uint32_t v)
{
	size_t n = 0;
	do {
		uint8_t x = v & 0x7f;
		v >>= 7;
		b[n++] = x | (v ? 0x80 : 0);
	} while (v);
	return n;
}

/* Buffered packet reader. */
struct rd {
	int fd;
	uint8_t *buf;
	size_t cap, len, pos;
};

static void rd_init(struct rd *r, int fd)
{
	r->fd = fd;
	r->cap = 1 << 18;
	r->buf = malloc(r->cap);
	r->len = r->pos = 0;
}

/* The next packet: its first byte in *type, its body in *body (length *blen). Blocks
 * (timeout via SO_RCVTIMEO). 1, 0 on EOF/timeout, -1 on a bad packet. */
static int rd_next(struct rd *r, uint8_t *type, const uint8_t **body, uint32_t *blen)
{
	for (;;) {
		size_t avail = r->len - r->pos;
		if (avail >= 2) {
			const uint8_t *p = r->buf + r->pos;
			uint32_t rem = 0;
			size_t i = 1;
			bool done = false;
			for (; i < avail && i <= 4; i++) {
				rem |= (uint32_t)(p[i] & 0x7f) << (7 * (i - 1));
				if (!(p[i] & 0x80)) {
					done = true;
					i++;
					break;
				}
			}
			if (!done && i > 4)
				return -1;
			if (done && avail >= i + rem) {
				*type = p[0];
				*body = p + i;
				*blen = rem;
				r->pos += i + rem;
				return 1;
			}
			if (done && i + rem > r->cap) {
				r->cap = (i + rem) * 2;
				r->buf = realloc(r->buf, r->cap);
			}
		}
		if (r->pos) {
			memmove(r->buf, r->buf + r->pos, r->len - r->pos);
			r->len -= r->pos;
			r->pos = 0;
		}
		ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		r->len += (size_t)n;
	}
}

/* Anything already buffered? */
static bool rd_buffered(const struct rd *r)
{
	return r->len > r->pos;
}

static void set_timeout(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* CONNECT (3.1.1, clean session) and CONNACK 0. */
static int mqtt_hello(const struct opts *o, const char *cid, int keepalive, struct rd *r)
{
	int fd = tcp_connect(o);
	if (fd < 0)
		return -1;
	uint8_t b[300];
	size_t il = strlen(cid), n = 0;
	b[n++] = 0x10;
	n += put_varint(b + n, (uint32_t)(10 + 2 + il));
	memcpy(b + n, "\x00\x04MQTT\x04\x02", 8);
	n += 8;
	b[n++] = (uint8_t)(keepalive >> 8);
	b[n++] = (uint8_t)keepalive;
	b[n++] = (uint8_t)(il >> 8);
	b[n++] = (uint8_t)il;
	memcpy(b + n, cid, il);
	n += il;
	set_timeout(fd, 10000);
	rd_init(r, fd);
	uint8_t t;
	const uint8_t *body;
	uint32_t bl;
	if (write_all(fd, b, n) < 0 || rd_next(r, &t, &body, &bl) != 1 || t != 0x20 || bl != 2 ||
	    body[1] != 0) {
		fprintf(stderr, "mqtt_bench: %s: no CONNACK 0\n", cid);
		close(fd);
		free(r->buf);
		return -1;
	}
	return fd;
}

static int mqtt_subscribe(struct rd *r, const char *filter, int qos)
{
	uint8_t b[300];
	size_t fl = strlen(filter), n = 0;
	b[n++] = 0x82;
	n += put_varint(b + n, (uint32_t)(2 + 2 + fl + 1));
	b[n++] = 0;
	b[n++] = 1;
	b[n++] = (uint8_t)(fl >> 8);
	b[n++] = (uint8_t)fl;
	memcpy(b + n, filter, fl);
	n += fl;
	b[n++] = (uint8_t)qos;
	uint8_t t;
	const uint8_t *body;
	uint32_t bl;
	if (write_all(r->fd, b, n) < 0 || rd_next(r, &t, &body, &bl) != 1 || t != 0x90 ||
	    bl < 3 || body[2] != qos) {
		fprintf(stderr, "mqtt_bench: SUBSCRIBE %s refused\n", filter);
		return -1;
	}
	return 0;
}

/* A PUBLISH of `size` bytes of payload; pid 0 for QoS 0. Returns its length. */
static bool g_retain;

static size_t enc_publish(uint8_t *b, const char *topic, int qos, uint16_t pid,
                          const uint8_t *payload, int size)
{
	size_t tl = strlen(topic), n = 0;
	b[n++] = (uint8_t)(0x30 | (qos << 1) | (g_retain ? 1 : 0));
	n += put_varint(b + n, (uint32_t)(2 + tl + (qos ? 2 : 0) + (size_t)size));
	b[n++] = (uint8_t)(tl >> 8);
	b[n++] = (uint8_t)tl;
	memcpy(b + n, topic, tl);
	n += tl;
	if (qos) {
		b[n++] = (uint8_t)(pid >> 8);
		b[n++] = (uint8_t)pid;
	}
	memcpy(b + n, payload, (size_t)size);
	return n + (size_t)size;
}

/* ---- tput ---------------------------------------------------------------------- */

struct sub_state {
	const struct opts *o;
	int fd;
	struct rd r;
	long expect;
	_Atomic long got;
	uint64_t last_ns;
	atomic_bool *stop;
};

static void *sub_main(void *arg)
{
	struct sub_state *s = arg;
	uint8_t acks[4 * 1024];
	size_t na = 0;
	set_timeout(s->fd, 200);
	while (s->got < s->expect) {
		uint8_t t;
		const uint8_t *body;
		uint32_t bl;
		int rc = rd_next(&s->r, &t, &body, &bl);
		if (rc != 1) {
			if (atomic_load(s->stop))
				break;
			continue;
		}
		if ((t & 0xf0) != 0x30)
			continue;
		s->got++;
		if (t & 0x06) {
			uint32_t tl = (uint32_t)body[0] << 8 | body[1];
			acks[na++] = 0x40;
			acks[na++] = 2;
			acks[na++] = body[2 + tl];
			acks[na++] = body[3 + tl];
		}
		/* acknowledge what this read brought, in one write */
		if (na && (!rd_buffered(&s->r) || na + 4 > sizeof acks)) {
			if (write_all(s->fd, acks, na) < 0)
				break;
			na = 0;
		}
		s->last_ns = now_ns();
	}
	if (na)
		(void)write_all(s->fd, acks, na);
	return NULL;
}

/* End-to-end credit shared by the publishers and subscribers of a run. */
struct credit {
	_Atomic long sent;          /* by all publishers */
	struct sub_state *subs;
	int nsubs;
};

static void credit_wait(struct credit *c)
{
	for (;;) {
		long sent = atomic_load(&c->sent), min = sent;
		for (int i = 0; i < c->nsubs; i++) {
			long g = atomic_load(&c->subs[i].got);
			if (g < min)
				min = g;
		}
		if (sent - min <= LAG)
			return;
		usleep(50);
	}
}

struct pub_state {
	struct credit *credit;
	const struct opts *o;
	int fd;
	struct rd r;
	char topic[64];
	long count, sent;
	uint64_t deadline_ns;
	int err;
};

static void *pub_main(void *arg)
{
	struct pub_state *p = arg;
	const struct opts *o = p->o;
	uint8_t *payload = malloc((size_t)o->size);
	for (int i = 0; i < o->size; i++)
		payload[i] = (uint8_t)('a' + i % 26);
	size_t one = 64 + strlen(p->topic) + (size_t)o->size;
	uint8_t *buf = malloc(one * 256 + 8);
	uint8_t t;
	const uint8_t *body;
	uint32_t bl;
	if (o->qos == 0) {
		int pings = 0;
		long since_ping = 0;
		while (p->sent < p->count && now_ns() < p->deadline_ns) {
			size_t n = 0;
			int k = 0;
			credit_wait(p->credit);
			for (; k < 256 && p->sent + k < p->count; k++)
				n += enc_publish(buf + n, p->topic, 0, 0, payload, o->size);
			since_ping += k;
			if (since_ping >= PING_EVERY) {
				buf[n++] = 0xc0;
				buf[n++] = 0;
				pings++;
				since_ping = 0;
			}
			atomic_fetch_add(&p->credit->sent, k);
			if (write_all(p->fd, buf, n) < 0) {
				p->err = 1;
				break;
			}
			p->sent += k;
			while (pings >= 2) {
				if (rd_next(&p->r, &t, &body, &bl) != 1) {
					p->err = 1;
					goto out;
				}
				if (t == 0xd0)
					pings--;
			}
		}
		buf[0] = 0xc0;
		buf[1] = 0;
		if (write_all(p->fd, buf, 2) == 0)
			pings++;
		while (pings > 0 && rd_next(&p->r, &t, &body, &bl) == 1)
			if (t == 0xd0)
				pings--;
	} else {
		int inflight = 0;
		uint16_t pid = 0;
		while ((p->sent < p->count && now_ns() < p->deadline_ns) || inflight > 0) {
			size_t n = 0;
			int k = 0;
			bool more = p->sent < p->count && now_ns() < p->deadline_ns;
			if (more && inflight < WINDOW)
				credit_wait(p->credit);
			while (more && inflight + k < WINDOW && p->sent + k < p->count && k < 256) {
				if (++pid == 0)
					pid = 1;
				n += enc_publish(buf + n, p->topic, 1, pid, payload, o->size);
				k++;
			}
			atomic_fetch_add(&p->credit->sent, k);
			if (n && write_all(p->fd, buf, n) < 0) {
				p->err = 1;
				break;
			}
			p->sent += k;
			inflight += k;
			/* at least one PUBACK, then whatever is already buffered */
			do {
				if (rd_next(&p->r, &t, &body, &bl) != 1) {
					p->err = 1;
					goto out;
				}
				if ((t & 0xf0) == 0x40)
					inflight--;
			} while (rd_buffered(&p->r));
		}
	}
out:
	free(payload);
	free(buf);
	return NULL;
}

static int run_tput(const struct opts *o)
{
	int P = o->pubs, S = o->subs;
	struct sub_state *ss = calloc((size_t)S, sizeof *ss);
	struct pub_state *ps = calloc((size_t)P, sizeof *ps);
	pthread_t *st = calloc((size_t)S, sizeof *st), *pt = calloc((size_t)P, sizeof *pt);
	atomic_bool stop = false;
	struct credit credit = { .subs = ss, .nsubs = S };
	long per_pub = o->count / P;
	char cid[64];
	int tag = getpid();
	for (int i = 0; i < S; i++) {
		snprintf(cid, sizeof cid, "bsub-%d-%d", tag, i);
		ss[i].o = o;
		ss[i].fd = mqtt_hello(o, cid, 600, &ss[i].r);
		if (ss[i].fd < 0 || mqtt_subscribe(&ss[i].r, o->wild ? "bench/w/+" : "bench/t", o->qos) < 0)
			return 1;
		ss[i].expect = per_pub * P;
		ss[i].stop = &stop;
	}
	for (int i = 0; i < P; i++) {
		snprintf(cid, sizeof cid, "bpub-%d-%d", tag, i);
		ps[i].o = o;
		ps[i].credit = &credit;
		ps[i].fd = mqtt_hello(o, cid, 600, &ps[i].r);
		if (ps[i].fd < 0)
			return 1;
		set_timeout(ps[i].fd, 10000);
		if (o->wild)
			snprintf(ps[i].topic, sizeof ps[i].topic, "bench/w/%d", i);
		else
			snprintf(ps[i].topic, sizeof ps[i].topic, "bench/t");
		ps[i].count = per_pub;
	}
	usleep(200 * 1000);   /* subscriptions settle (nats-server creates consumers) */
	uint64_t t0 = now_ns();
	for (int i = 0; i < P; i++)
		ps[i].deadline_ns = t0 + (uint64_t)(o->secs * 1e9);
	for (int i = 0; i < S; i++)
		pthread_create(&st[i], NULL, sub_main, &ss[i]);
	for (int i = 0; i < P; i++)
		pthread_create(&pt[i], NULL, pub_main, &ps[i]);
	long sent = 0;
	int perr = 0;
	for (int i = 0; i < P; i++) {
		pthread_join(pt[i], NULL);
		sent += ps[i].sent;
		perr |= ps[i].err;
	}
	/* subscribers expect what was actually sent; they stop on a quiet second */
	for (int i = 0; i < S; i++)
		ss[i].expect = sent;
	uint64_t quiet_until = now_ns() + 2000000000ull;
	for (;;) {
		long got = 0;
		for (int i = 0; i < S; i++)
			got += ss[i].got;
		if (got >= sent * S || now_ns() > quiet_until)
			break;
		usleep(10000);
	}
	atomic_store(&stop, true);
	long got = 0;
	uint64_t t_end = t0;
	for (int i = 0; i < S; i++) {
		pthread_join(st[i], NULL);
		got += ss[i].got;
		if (ss[i].last_ns > t_end)
			t_end = ss[i].last_ns;
	}
	double secs = (double)(t_end - t0) / 1e9;
	char w[128];
	snprintf(w, sizeof w, "%s", o->name ? o->name : "tput");
	if (perr)
		fprintf(stderr, "mqtt_bench: %s: a publisher failed\n", w);
	result(w, "msgs/s", secs > 0 ? (double)got / secs : 0, "msg/s", "higher");
	result(w, "lost", (double)(sent * S - got), "msgs", "lower");
	fprintf(stderr, "%s: sent %ld x %d subs, received %ld in %.2f s\n", w, sent, S, got, secs);
	for (int i = 0; i < S; i++) {
		close(ss[i].fd);
		free(ss[i].r.buf);
	}
	for (int i = 0; i < P; i++) {
		close(ps[i].fd);
		free(ps[i].r.buf);
	}
	free(ss);
	free(ps);
	free(st);
	free(pt);
	return perr;
}

/* ---- lat ----------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int run_lat(const struct opts *o)
{
	struct rd pr, sr;
	int tag = getpid();
	char cid[64];
	snprintf(cid, sizeof cid, "blat-sub-%d", tag);
	int sfd = mqtt_hello(o, cid, 600, &sr);
	if (sfd < 0 || mqtt_subscribe(&sr, "bench/lat", 1) < 0)
		return 1;
	snprintf(cid, sizeof cid, "blat-pub-%d", tag);
	int pfd = mqtt_hello(o, cid, 600, &pr);
	if (pfd < 0)
		return 1;
	usleep(200 * 1000);
	uint8_t *payload = calloc(1, (size_t)o->size + 1);
	uint8_t *buf = malloc((size_t)o->size + 128);
	long n = o->count, warm = 200;
	uint64_t *lat = malloc(sizeof *lat * (size_t)n);
	uint64_t deadline = now_ns() + (uint64_t)(o->secs * 1e9);
	long k = 0;
	uint16_t pid = 0;
	for (long i = 0; i < n + warm && now_ns() < deadline; i++) {
		if (++pid == 0)
			pid = 1;
		size_t len = enc_publish(buf, "bench/lat", 1, pid, payload, o->size);
		uint64_t t0 = now_ns();
		if (write_all(pfd, buf, len) < 0)
			return 1;
		uint8_t t;
		const uint8_t *body;
		uint32_t bl;
		do {
			if (rd_next(&sr, &t, &body, &bl) != 1) {
				fprintf(stderr, "mqtt_bench: lat: no message\n");
				return 1;
			}
		} while ((t & 0xf0) != 0x30);
		uint64_t t1 = now_ns();
		uint32_t tl = (uint32_t)body[0] << 8 | body[1];
		uint8_t ack[4] = { 0x40, 2, body[2 + tl], body[3 + tl] };
		if (write_all(sfd, ack, 4) < 0)
			return 1;
		do {   /* the publisher's PUBACK before the next one */
			if (rd_next(&pr, &t, &body, &bl) != 1) {
				fprintf(stderr, "mqtt_bench: lat: no PUBACK\n");
				return 1;
			}
		} while ((t & 0xf0) != 0x40);
		if (i >= warm && k < n)
			lat[k++] = t1 - t0;
	}
	qsort(lat, (size_t)k, sizeof *lat, cmp_u64);
	const char *w = o->name ? o->name : "lat";
	if (k) {
		result(w, "p50", (double)lat[k / 2] / 1000.0, "us", "lower");
		result(w, "p99", (double)lat[(size_t)((double)k * 0.99)] / 1000.0, "us", "lower");
	}
	fprintf(stderr, "%s: %ld samples\n", w, k);
	close(sfd);
	close(pfd);
	free(sr.buf);
	free(pr.buf);
	free(lat);
	free(buf);
	free(payload);
	return k ? 0 : 1;
}

/* ---- idle ---------------------------------------------------------------------- */

static long rss_kb(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int run_idle(const struct opts *o)
{
	int N = o->conns;
	int *fds = calloc((size_t)N, sizeof *fds);
	usleep(300 * 1000);
	long r0 = rss_kb(o->pid);
	int tag = getpid();
	int ok = 0;
	for (int i = 0; i < N; i++) {
		char cid[64];
		struct rd r;
		snprintf(cid, sizeof cid, "bidle-%d-%d", tag, i);
		fds[i] = mqtt_hello(o, cid, 600, &r);
		if (fds[i] < 0)
			break;
		free(r.buf);
		ok++;
	}
	usleep(1000 * 1000);
	long r1 = rss_kb(o->pid);
	const char *w = o->name ? o->name : "idle";
	if (ok == N && r0 > 0 && r1 > 0)
		result(w, "rss/conn", (double)(r1 - r0) * 1024.0 / N, "B", "lower");
	fprintf(stderr, "%s: %d connections, RSS %ld -> %ld kB\n", w, ok, r0, r1);
	for (int i = 0; i < ok; i++)
		close(fds[i]);
	free(fds);
	return ok == N ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct opts o = { .host = "127.0.0.1", .port = 1883, .pubs = 1, .subs = 1, .size = 128,
	                  .qos = 0, .conns = 1000, .count = 2000000, .secs = 3 };
	if (argc < 2) {
		fprintf(stderr, "usage: jn_mqtt_bench tput|lat|idle [--host H] [--port P] [--pubs N] "
		                "[--subs N] [--size B] [--qos 0|1] [--wild] [--retain] [--count N] [--secs S] "
		                "[--conns N] [--pid PID] [--name NAME]\n");
		return 2;
	}
	o.workload = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--wild") == 0) {
			o.wild = true;
			continue;
		}
		if (strcmp(a, "--retain") == 0) {
			o.retain = g_retain = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "mqtt_bench: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (strcmp(a, "--host") == 0)
			o.host = v;
		else if (strcmp(a, "--port") == 0)
			o.port = atoi(v);
		else if (strcmp(a, "--pubs") == 0)
			o.pubs = atoi(v);
		else if (strcmp(a, "--subs") == 0)
			o.subs = atoi(v);
		else if (strcmp(a, "--size") == 0)
			o.size = atoi(v);
		else if (strcmp(a, "--qos") == 0)
			o.qos = atoi(v);
		else if (strcmp(a, "--count") == 0)
			o.count = atol(v);
		else if (strcmp(a, "--secs") == 0)
			o.secs = atof(v);
		else if (strcmp(a, "--conns") == 0)
			o.conns = atoi(v);
		else if (strcmp(a, "--pid") == 0)
			o.pid = atoi(v);
		else if (strcmp(a, "--name") == 0)
			o.name = v;
		else {
			fprintf(stderr, "mqtt_bench: unknown option %s\n", a);
			return 2;
		}
	}
	if (o.pubs < 1 || o.subs < 1 || o.size < 0 || o.size > 65000 || o.qos < 0 || o.qos > 1) {
		fprintf(stderr, "mqtt_bench: bad arguments\n");
		return 2;
	}
	if (strcmp(o.workload, "tput") == 0)
		return run_tput(&o);
	if (strcmp(o.workload, "lat") == 0)
		return run_lat(&o);
	if (strcmp(o.workload, "idle") == 0)
		return run_idle(&o);
	fprintf(stderr, "mqtt_bench: unknown workload %s\n", o.workload);
	return 2;
}
