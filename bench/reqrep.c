/*
 * reqrep.c - request/reply: latency of sequential requests, and throughput of
 * several requesters at once, all served by one responder.
 *
 * Two client kinds, same protocol traffic (PUB with a reply subject, one MSG
 * back through the requester's inbox subscription):
 * - raw (default): each requester is one thread blocked on its own socket and
 *   the responder one thread that batches the replies of a read; a round trip
 *   is then the server's two hops plus four socket wake-ups, so the figure is
 *   mostly the server's.
 * - libnats (--libnats): natsConnection_Request with the shared reply inbox,
 *   and a responder that sends each reply at once (SendAsap). What an
 *   application sees; each hop adds libnats' reader and delivery threads,
 *   which on 2 cores costs more than the server does.
 */
#include "bench/bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/alloc.h"

#define REQ_SUBJ "bench.rr"
#define REQ_TIMEOUT_MS 5000
#define WARMUP 1000

struct responder {
	/* libnats */
	natsConnection *nc;
	natsSubscription *sub;
	/* raw */
	int fd;
	pthread_t tid;
	bool thread_started;
	_Atomic uint64_t errors;
};

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	struct responder *r = closure;
	const char *reply = natsMsg_GetReply(msg);
	if (!reply ||
	    natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg)) !=
	            NATS_OK)
		atomic_fetch_add(&r->errors, 1);
	natsMsg_Destroy(msg);
}

/* Raw responder: answers every request of a read batch, then writes all the
 * replies at once, as a server-side service written for speed would. */
static void *raw_responder_main(void *arg)
{
	struct responder *r = arg;
	struct jn_bench_rawrd *rd = jn_calloc(1, sizeof *rd);
	char *out = jn_malloc(JN_BENCH_RD_BUF * 2);
	if (!rd || !out) {
		atomic_fetch_add(&r->errors, 1);
		goto done;
	}
	rd->fd = r->fd;
	size_t olen = 0;
	for (;;) {
		struct jn_bench_rawmsg m;
		int got = jn_bench_raw_next(rd, &m, olen == 0);
		if (got == 0 || (got == 1 && olen > JN_BENCH_RD_BUF)) {
			if (jn_bench_write_all(r->fd, out, olen) != 0)
				break;
			olen = 0;
		}
		if (got < 0)
			break;   /* the main thread shut the socket down, or the server closed it */
		if (got == 0)
			continue;
		if (!m.reply) {
			atomic_fetch_add(&r->errors, 1);
			continue;
		}
		olen += (size_t)snprintf(out + olen, 64 + m.reply_len, "PUB %.*s %zu\r\n",
		                         (int)m.reply_len, m.reply, m.size);
		memcpy(out + olen, m.data, m.size);
		olen += m.size;
		memcpy(out + olen, "\r\n", 2);
		olen += 2;
	}
done:
	jn_free(out);
	jn_free(rd);
	return NULL;
}

static int responder_start(const struct jn_bench_opts *o, struct responder *r)
{
	memset(r, 0, sizeof *r);
	r->fd = -1;
	if (!o->libnats) {
		r->fd = jn_bench_raw_connect(o->host, o->port, "SUB " REQ_SUBJ " 1\r\n", 5000);
		if (r->fd < 0)
			return -1;
		if (pthread_create(&r->tid, NULL, raw_responder_main, r) != 0) {
			close(r->fd);
			return -1;
		}
		r->thread_started = true;
		return 0;
	}
	r->nc = jn_bench_nats_connect(o, "jn_bench-responder", true);
	if (!r->nc)
		return -1;
	if (natsConnection_Subscribe(&r->sub, r->nc, REQ_SUBJ, on_request, r) != NATS_OK ||
	    natsSubscription_SetPendingLimits(r->sub, -1, -1) != NATS_OK ||
	    natsConnection_FlushTimeout(r->nc, 5000) != NATS_OK) {
		fprintf(stderr, "jn_bench: responder subscribe failed\n");
		natsSubscription_Destroy(r->sub);
		natsConnection_Destroy(r->nc);
		return -1;
	}
	return 0;
}

static void responder_stop(struct responder *r)
{
	if (r->thread_started) {
		shutdown(r->fd, SHUT_RDWR);
		pthread_join(r->tid, NULL);
		close(r->fd);
		return;
	}
	natsSubscription_Unsubscribe(r->sub);
	natsSubscription_Destroy(r->sub);
	natsConnection_Destroy(r->nc);
}

/* One requester connection, libnats or raw. */
struct reqconn {
	natsConnection *nc;
	int fd;
	struct jn_bench_rawrd *rd;
	char *req;            /* raw: the whole PUB, preformatted; libnats: payload */
	size_t req_len;
	int size;
};

static int reqconn_open(const struct jn_bench_opts *o, int idx, struct reqconn *c)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->size = o->size;
	c->req = jn_malloc((size_t)o->size + 128);
	if (!c->req)
		return -1;
	if (o->libnats) {
		jn_bench_fill(c->req, (size_t)o->size);
		c->nc = jn_bench_nats_connect(o, "jn_bench-requester", false);
		return c->nc ? 0 : -1;
	}
	char sub[64];
	snprintf(sub, sizeof sub, "SUB _INBOX.jnb.%d 1\r\n", idx);
	int h = snprintf(c->req, 128, "PUB " REQ_SUBJ " _INBOX.jnb.%d %d\r\n", idx, o->size);
	jn_bench_fill(c->req + h, (size_t)o->size);
	memcpy(c->req + h + o->size, "\r\n", 2);
	c->req_len = (size_t)h + (size_t)o->size + 2;
	c->rd = jn_calloc(1, sizeof *c->rd);
	if (!c->rd)
		return -1;
	c->fd = jn_bench_raw_connect(o->host, o->port, sub, 5000);
	c->rd->fd = c->fd;
	if (c->fd < 0)
		return -1;
	/* A reply that never comes must fail the run, not hang it. */
	struct timeval tv = { REQ_TIMEOUT_MS / 1000, 0 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return 0;
}

static void reqconn_close(struct reqconn *c)
{
	if (c->nc)
		natsConnection_Destroy(c->nc);
	if (c->fd >= 0)
		close(c->fd);
	jn_free(c->rd);
	jn_free(c->req);
}

static int request_once(struct reqconn *c)
{
	if (c->nc) {
		natsMsg *reply = NULL;
		natsStatus st = natsConnection_Request(&reply, c->nc, REQ_SUBJ, c->req, c->size,
		                                       REQ_TIMEOUT_MS);
		if (st != NATS_OK) {
			fprintf(stderr, "jn_bench: request: %s\n", natsStatus_GetText(st));
			return -1;
		}
		natsMsg_Destroy(reply);
		return 0;
	}
	struct jn_bench_rawmsg m;
	if (jn_bench_write_all(c->fd, c->req, c->req_len) != 0 ||
	    jn_bench_raw_next(c->rd, &m, true) != 1) {
		fprintf(stderr, "jn_bench: raw request failed\n");
		return -1;
	}
	if (m.size != (size_t)c->size) {
		fprintf(stderr, "jn_bench: reply of %zu bytes to a %d-byte request\n", m.size, c->size);
		return -1;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct_us(const uint64_t *v, size_t n, double q)
{
	size_t k = (size_t)(q * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)v[k - 1] / 1000.0;
}

/* One server of a latency run: its responder, requester and samples. */
struct lat_target {
	struct jn_bench_opts o;     /* url/host/port of this server */
	struct responder resp;
	struct reqconn c;
	bool resp_up, conn_up;
	uint64_t *lat;
	size_t n;
};

static void lat_report(const char *w, struct lat_target *t, const char *server)
{
	uint64_t *lat = t->lat;
	size_t n = t->n;
	qsort(lat, n, sizeof *lat, cmp_u64);
	jn_bench_result_for(server, w, "p50 latency", pct_us(lat, n, 0.50), "us", "lower");
	jn_bench_result_for(server, w, "p99 latency", pct_us(lat, n, 0.99), "us", "lower");
	jn_bench_result_for(server, w, "p99.9 latency", pct_us(lat, n, 0.999), "us", "lower");
	jn_bench_result_for(server, w, "max latency", (double)lat[n - 1] / 1000.0, "us", "lower");
	jn_bench_result_for(server, w, "requests measured", (double)n, "reqs", "info");
}

/*
 * Sequential requests, each timed alone. With --pair the requests alternate
 * between the two servers (A B, B A, A B, ...), so a burst of other load on
 * the shared cores hits both alike, and the time cap is doubled so each
 * server gets as many samples as in a run of its own.
 */
int jn_bench_reqlat(const struct jn_bench_opts *o)
{
	const char *w = o->name ? o->name : "reqrep-latency";
	long count = o->count > 0 ? o->count : 100000;
	int nt = o->pair ? 2 : 1;
	struct lat_target t[2];
	memset(t, 0, sizeof t);
	t[0].o = *o;
	if (o->pair) {
		t[1].o = *o;
		memcpy(t[1].o.url, o->url2, sizeof o->url2);
		memcpy(t[1].o.host, o->host2, sizeof o->host2);
		t[1].o.port = o->port2;
	}
	int rc = 0;
	for (int i = 0; i < nt && rc == 0; i++) {
		rc = responder_start(&t[i].o, &t[i].resp);
		t[i].resp_up = rc == 0;
		if (rc == 0) {
			rc = reqconn_open(&t[i].o, 0, &t[i].c);
			t[i].conn_up = true;   /* reqconn_close copes with a failed open */
		}
		if (rc == 0 && !(t[i].lat = jn_malloc((size_t)count * sizeof *t[i].lat)))
			rc = -1;
	}
	for (int k = 0; k < WARMUP && rc == 0; k++)
		for (int i = 0; i < nt && rc == 0; i++)
			rc = request_once(&t[i].c);
	uint64_t cap = (uint64_t)(o->secs * 1e9) * (uint64_t)nt;
	uint64_t start = jn_bench_now_ns();
	for (long k = 0; rc == 0 && k < count; k++) {
		if (jn_bench_now_ns() - start > cap)
			break;
		for (int j = 0; j < nt && rc == 0; j++) {
			struct lat_target *x = &t[(k + j) % nt];
			uint64_t t0 = jn_bench_now_ns();
			rc = request_once(&x->c);
			x->lat[x->n++] = jn_bench_now_ns() - t0;
		}
	}
	for (int i = 0; i < nt; i++) {
		if (rc == 0 && t[i].n > 0)
			lat_report(w, &t[i], o->pair ? o->label[i] : NULL);
		if (t[i].resp_up && atomic_load(&t[i].resp.errors))
			rc = -1;
	}
	for (int i = 0; i < nt; i++) {
		jn_free(t[i].lat);
		if (t[i].conn_up)
			reqconn_close(&t[i].c);
		if (t[i].resp_up)
			responder_stop(&t[i].resp);
	}
	return rc;
}

struct requester {
	struct reqconn c;
	uint64_t deadline_ns;
	uint64_t done;
	int rc;
	pthread_t tid;
};

static void *requester_main(void *arg)
{
	struct requester *q = arg;
	while (q->rc == 0 && jn_bench_now_ns() < q->deadline_ns) {
		q->rc = request_once(&q->c);
		if (q->rc == 0)
			q->done++;
	}
	return NULL;
}

int jn_bench_reqtput(const struct jn_bench_opts *o)
{
	const char *w = o->name ? o->name : "reqrep-throughput";
	int nt = o->threads > 0 ? o->threads : 8;
	struct responder resp;
	if (responder_start(o, &resp) != 0)
		return -1;
	struct requester *q = jn_calloc((size_t)nt, sizeof *q);
	int rc = q ? 0 : -1;
	int started = 0;
	int opened = 0;
	for (int i = 0; rc == 0 && i < nt; i++, opened++)
		rc = reqconn_open(o, i, &q[i].c);
	/* Warm every connection's reply path before the clock starts. */
	for (int i = 0; rc == 0 && i < nt; i++)
		rc = request_once(&q[i].c);
	uint64_t start = jn_bench_now_ns();
	for (int i = 0; rc == 0 && i < nt; i++) {
		q[i].deadline_ns = start + (uint64_t)(o->secs * 1e9);
		if (pthread_create(&q[i].tid, NULL, requester_main, &q[i]) != 0)
			rc = -1;
		else
			started++;
	}
	uint64_t total = 0;
	for (int i = 0; i < started; i++) {
		pthread_join(q[i].tid, NULL);
		total += q[i].done;
		if (q[i].rc != 0)
			rc = -1;
	}
	uint64_t end = jn_bench_now_ns();
	if (rc == 0) {
		char metric[64];
		snprintf(metric, sizeof metric, "requests/s (%d requesters)", nt);
		jn_bench_result(w, metric, (double)total * 1e9 / (double)(end - start), "reqs/s",
		                "higher");
	}
	for (int i = 0; i < opened; i++)
		reqconn_close(&q[i].c);
	jn_free(q);
	if (atomic_load(&resp.errors))
		rc = -1;
	responder_stop(&resp);
	return rc;
}
