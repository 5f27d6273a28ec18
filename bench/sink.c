/*
 * sink.c - subscribers that only count: N raw NATS connections read by one
 * epoll thread that parses just enough of MSG/HMSG to skip the payload.
 *
 * Why raw: a libnats subscriber allocates a message and hands it to a
 * delivery thread for every delivery; with 100 subscribers on a 2-core machine
 * that is the bottleneck, not the server. Counting costs tens of nanoseconds
 * per message here, so the server under test gets the CPU.
 *
 * Timing: the reader stamps each read() that carried at least one message,
 * so first/last are read granularity (a few microseconds at these rates).
 * PINGs from the server are answered so a long run is never taken as stale.
 */
#include "bench/bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/alloc.h"

#define SINK_BUF (256 * 1024)

struct sink_conn {
	int fd;
	bool dead;
	uint64_t msgs;       /* written by the reader; read after jn_bench_sink_stop() */
	size_t len;          /* unparsed bytes at the start of buf */
	size_t skip;         /* payload bytes still to skip */
	bool want_crlf;      /* a payload was skipped: its CRLF must come next */
	bool reported;       /* a protocol error was already printed */
	char *buf;
};

struct jn_bench_sink {
	int n;
	int epfd;
	pthread_t reader;
	bool reader_started;
	_Atomic bool stop;
	_Atomic uint64_t total;
	_Atomic uint64_t first_ns, last_ns;
	_Atomic int errors;
	struct sink_conn *conns;
	FILE *capture;       /* JN_BENCH_CAPTURE: every byte connection 0 reads */
};

/* The size is the last token of a MSG/HMSG line (HMSG: the total size). */
static size_t last_number(const char *line, size_t llen)
{
	size_t end = llen;
	while (end > 0 && (line[end - 1] == '\r' || line[end - 1] == '\n' || line[end - 1] == ' '))
		end--;
	size_t start = end;
	while (start > 0 && line[start - 1] >= '0' && line[start - 1] <= '9')
		start--;
	size_t v = 0;
	for (size_t i = start; i < end; i++)
		v = v * 10 + (size_t)(line[i] - '0');
	return v;
}

/* A stream that is not what the protocol says is a server bug (or ours):
 * counted as an error so it can never pass as a quiet message loss. */
static void bad_stream(struct jn_bench_sink *s, struct sink_conn *c, const char *why,
                       const char *line, size_t llen)
{
	atomic_fetch_add(&s->errors, 1);
	if (c->reported)
		return;
	c->reported = true;
	fprintf(stderr, "jn_bench: subscriber stream broken (%s) after %llu msgs at: %.*s\n", why,
	        (unsigned long long)c->msgs, (int)(llen > 60 ? 60 : llen), line);
}

/* Parses what is in c->buf; returns messages counted, keeps a partial line. */
static uint64_t parse(struct jn_bench_sink *s, struct sink_conn *c)
{
	uint64_t got = 0;
	size_t pos = 0;
	while (pos < c->len) {
		if (c->skip > 0) {
			size_t n = c->len - pos < c->skip ? c->len - pos : c->skip;
			pos += n;
			c->skip -= n;
			continue;
		}
		char *nl = memchr(c->buf + pos, '\n', c->len - pos);
		if (!nl)
			break;
		const char *line = c->buf + pos;
		size_t llen = (size_t)(nl - line) + 1;
		if (c->want_crlf) {
			c->want_crlf = false;
			if (llen != 2 || line[0] != '\r')
				bad_stream(s, c, "payload not followed by CRLF", line, llen);
		} else if (llen > 4 && memcmp(line, "MSG ", 4) == 0) {
			c->skip = last_number(line, llen);
			c->want_crlf = true;
			got++;
		} else if (llen > 5 && memcmp(line, "HMSG ", 5) == 0) {
			c->skip = last_number(line, llen);
			c->want_crlf = true;
			got++;
		} else if (llen >= 4 && memcmp(line, "PING", 4) == 0) {
			if (write(c->fd, "PONG\r\n", 6) != 6)
				c->dead = true;
		} else if (llen >= 4 && memcmp(line, "-ERR", 4) == 0) {
			fprintf(stderr, "jn_bench: subscriber got %.*s", (int)llen, line);
			atomic_fetch_add(&s->errors, 1);
		} else if (!(llen >= 3 && memcmp(line, "+OK", 3) == 0) &&
		           !(llen >= 4 && memcmp(line, "PONG", 4) == 0) &&
		           !(llen >= 5 && memcmp(line, "INFO ", 5) == 0)) {
			bad_stream(s, c, "unknown line", line, llen);
		}
		pos += llen;
	}
	if (pos > 0) {
		memmove(c->buf, c->buf + pos, c->len - pos);
		c->len -= pos;
	}
	return got;
}

static void *reader_main(void *arg)
{
	struct jn_bench_sink *s = arg;
	struct epoll_event evs[64];
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		int k = epoll_wait(s->epfd, evs, 64, 20);
		if (k < 0 && errno != EINTR)
			break;
		for (int e = 0; e < k; e++) {
			struct sink_conn *c = evs[e].data.ptr;
			if (c->dead)
				continue;
			ssize_t r = read(c->fd, c->buf + c->len, SINK_BUF - c->len);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				fprintf(stderr, "jn_bench: server closed a subscriber\n");
				c->dead = true;
				atomic_fetch_add(&s->errors, 1);
				epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
				continue;
			}
			if (s->capture && c == &s->conns[0])
				fwrite(c->buf + c->len, 1, (size_t)r, s->capture);
			c->len += (size_t)r;
			uint64_t got = parse(s, c);
			if (c->len == SINK_BUF) {
				fprintf(stderr, "jn_bench: protocol line longer than %d bytes\n", SINK_BUF);
				c->dead = true;
				atomic_fetch_add(&s->errors, 1);
				epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
			}
			if (got) {
				uint64_t now = jn_bench_now_ns();
				c->msgs += got;
				uint64_t zero = 0;
				atomic_compare_exchange_strong(&s->first_ns, &zero, now);
				atomic_store_explicit(&s->last_ns, now, memory_order_relaxed);
				atomic_fetch_add_explicit(&s->total, got, memory_order_relaxed);
			}
		}
	}
	return NULL;
}

struct jn_bench_sink *jn_bench_sink_new(const struct jn_bench_opts *o, int n,
                                        void (*sub_line)(int i, char *buf, size_t len))
{
	struct jn_bench_sink *s = jn_calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->epfd = -1;
	s->conns = jn_calloc((size_t)n, sizeof *s->conns);
	if (!s->conns)
		goto fail;
	for (int i = 0; i < n; i++)
		s->conns[i].fd = -1;
	s->n = n;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		goto fail;
	for (int i = 0; i < n; i++) {
		struct sink_conn *c = &s->conns[i];
		char line[512];
		sub_line(i, line, sizeof line);
		c->buf = jn_malloc(SINK_BUF);
		if (!c->buf)
			goto fail;
		c->fd = jn_bench_raw_connect(o->host, o->port, line, 5000);
		if (c->fd < 0)
			goto fail;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
			goto fail;
	}
	/* For server developers: the exact stream behind a "stream broken". */
	const char *cap = getenv("JN_BENCH_CAPTURE");
	if (cap && *cap && !(s->capture = fopen(cap, "wb")))
		perror(cap);
	if (pthread_create(&s->reader, NULL, reader_main, s) != 0)
		goto fail;
	s->reader_started = true;
	return s;
fail:
	fprintf(stderr, "jn_bench: could not set up %d subscribers\n", n);
	jn_bench_sink_free(s);
	return NULL;
}

uint64_t jn_bench_sink_wait(struct jn_bench_sink *s, uint64_t expected, int idle_ms,
                            uint64_t deadline_ns)
{
	uint64_t seen = atomic_load(&s->total);
	uint64_t last_change = jn_bench_now_ns();
	for (;;) {
		uint64_t t = atomic_load(&s->total);
		uint64_t now = jn_bench_now_ns();
		if (t >= expected || now >= deadline_ns)
			return t;
		if (t != seen) {
			seen = t;
			last_change = now;
		} else if (now - last_change > (uint64_t)idle_ms * 1000000u) {
			return t;
		}
		jn_bench_sleep_ms(2);
	}
}

uint64_t jn_bench_sink_total(const struct jn_bench_sink *s) { return atomic_load(&s->total); }
uint64_t jn_bench_sink_conn_count(const struct jn_bench_sink *s, int i) { return s->conns[i].msgs; }
uint64_t jn_bench_sink_first_ns(const struct jn_bench_sink *s) { return atomic_load(&s->first_ns); }
uint64_t jn_bench_sink_last_ns(const struct jn_bench_sink *s) { return atomic_load(&s->last_ns); }
int jn_bench_sink_errors(const struct jn_bench_sink *s) { return atomic_load(&s->errors); }

void jn_bench_sink_stop(struct jn_bench_sink *s)
{
	if (s->reader_started) {
		atomic_store(&s->stop, true);
		pthread_join(s->reader, NULL);
		s->reader_started = false;
	}
}

void jn_bench_sink_free(struct jn_bench_sink *s)
{
	if (!s)
		return;
	jn_bench_sink_stop(s);
	for (int i = 0; s->conns && i < s->n; i++) {
		if (s->conns[i].fd >= 0)
			close(s->conns[i].fd);
		jn_free(s->conns[i].buf);
	}
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->capture)
		fclose(s->capture);
	jn_free(s->conns);
	jn_free(s);
}
