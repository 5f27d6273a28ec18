/*
 * pubsub.c - the one-publisher workloads: 1:1, fan-out over wildcards, and a
 * queue group.
 *
 * The publisher is libnats, publishing in a tight loop into its buffer (libnats
 * writes when the buffer fills, and its flusher thread writes the rest), until
 * `count` messages or the time cap; then a Flush round trip proves the server
 * has read everything. Subscribers are registered (PING/PONG) before the first
 * publish, so every published message is expected; what does not arrive within
 * a second of silence is reported as lost.
 *
 * Rates: publisher = sent / (first publish .. flush returned);
 * subscriber = received / (first receipt .. last receipt).
 */
#include "bench/bench.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

#define DRAIN_MAX_NS  30000000000ull

struct pub_run {
	long sent;
	uint64_t start_ns, end_ns;
};

static const char *wname(const struct jn_bench_opts *o, const char *dflt)
{
	return o->name ? o->name : dflt;
}

static double rate(uint64_t n, uint64_t t0, uint64_t t1)
{
	return t1 > t0 ? (double)n * 1e9 / (double)(t1 - t0) : 0.0;
}

/* Publishes up to count messages of o->size bytes on subj, within o->secs. */
static int publish(const struct jn_bench_opts *o, const char *subj, long count,
                   struct pub_run *r)
{
	natsConnection *nc = jn_bench_nats_connect(o, "jn_bench-pub", false);
	if (!nc)
		return -1;
	char *payload = jn_malloc((size_t)o->size + 1);
	if (!payload) {
		natsConnection_Destroy(nc);
		return -1;
	}
	jn_bench_fill(payload, (size_t)o->size);
	uint64_t cap = (uint64_t)(o->secs * 1e9);
	int rc = 0;
	long i;
	r->start_ns = jn_bench_now_ns();
	for (i = 0; i < count; i++) {
		if ((i & 1023) == 0 && jn_bench_now_ns() - r->start_ns > cap)
			break;
		natsStatus st = natsConnection_Publish(nc, subj, payload, o->size);
		if (st != NATS_OK) {
			fprintf(stderr, "jn_bench: publish: %s\n", natsStatus_GetText(st));
			rc = -1;
			break;
		}
	}
	natsStatus st = natsConnection_FlushTimeout(nc, 30000);
	r->end_ns = jn_bench_now_ns();
	r->sent = i;
	if (st != NATS_OK) {
		fprintf(stderr, "jn_bench: final flush: %s\n", natsStatus_GetText(st));
		rc = -1;
	}
	natsConnection_Destroy(nc);
	jn_free(payload);
	return rc;
}

static double lost(uint64_t expected, uint64_t got)
{
	return (double)expected - (double)got;
}

static void report_pub(const char *w, const struct pub_run *r)
{
	jn_bench_result(w, "publisher msgs/s", rate((uint64_t)r->sent, r->start_ns, r->end_ns),
	                "msgs/s", "higher");
}

/* ---- 1:1 ---- */

static void sub_pubsub(int i, char *buf, size_t len)
{
	snprintf(buf, len, "SUB bench.ps %d\r\n", i + 1);
}

struct nats_counter {
	_Atomic uint64_t n;
	_Atomic uint64_t first_ns, last_ns;
};

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	struct nats_counter *c = closure;
	uint64_t now = jn_bench_now_ns();
	uint64_t zero = 0;
	atomic_compare_exchange_strong(&c->first_ns, &zero, now);
	atomic_store_explicit(&c->last_ns, now, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->n, 1, memory_order_relaxed);
	natsMsg_Destroy(msg);
}

static int pubsub_libnats(const struct jn_bench_opts *o, const char *w, long count)
{
	static struct nats_counter ctr;
	natsSubscription *sub = NULL;
	natsConnection *nc = jn_bench_nats_connect(o, "jn_bench-sub", false);
	if (!nc)
		return -1;
	if (natsConnection_Subscribe(&sub, nc, "bench.ps", on_msg, &ctr) != NATS_OK ||
	    natsSubscription_SetPendingLimits(sub, -1, -1) != NATS_OK ||
	    natsConnection_FlushTimeout(nc, 5000) != NATS_OK) {
		fprintf(stderr, "jn_bench: libnats subscribe failed\n");
		natsSubscription_Destroy(sub);
		natsConnection_Destroy(nc);
		return -1;
	}
	struct pub_run r;
	int rc = publish(o, "bench.ps", count, &r);
	uint64_t deadline = jn_bench_now_ns() + DRAIN_MAX_NS;
	uint64_t seen = 0, changed = jn_bench_now_ns();
	for (;;) {
		uint64_t n = atomic_load(&ctr.n), now = jn_bench_now_ns();
		if (n >= (uint64_t)r.sent || now > deadline)
			break;
		if (n != seen) {
			seen = n;
			changed = now;
		} else if (now - changed > (uint64_t)o->drain_ms * 1000000ull) {
			break;
		}
		jn_bench_sleep_ms(2);
	}
	uint64_t got = atomic_load(&ctr.n);
	report_pub(w, &r);
	jn_bench_result(w, "subscriber msgs/s", rate(got, ctr.first_ns, ctr.last_ns), "msgs/s",
	                "higher");
	jn_bench_result(w, "lost msgs", lost((uint64_t)r.sent, got), "msgs", "lower");
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	return rc;
}

int jn_bench_pubsub(const struct jn_bench_opts *o)
{
	char dflt[32];
	snprintf(dflt, sizeof dflt, "pubsub-%dB", o->size);
	const char *w = wname(o, dflt);
	long count = o->count > 0 ? o->count : 50000000;   /* the time cap decides */
	if (o->libnats)
		return pubsub_libnats(o, w, count);

	struct jn_bench_sink *s = jn_bench_sink_new(o, 1, sub_pubsub);
	if (!s)
		return -1;
	struct pub_run r;
	int rc = publish(o, "bench.ps", count, &r);
	uint64_t got = jn_bench_sink_wait(s, (uint64_t)r.sent, o->drain_ms,
	                                  jn_bench_now_ns() + DRAIN_MAX_NS);
	report_pub(w, &r);
	jn_bench_result(w, "subscriber msgs/s",
	                rate(got, jn_bench_sink_first_ns(s), jn_bench_sink_last_ns(s)), "msgs/s",
	                "higher");
	jn_bench_result(w, "lost msgs", lost((uint64_t)r.sent, got), "msgs", "lower");
	if (jn_bench_sink_errors(s))
		rc = -1;
	jn_bench_sink_free(s);
	return rc;
}

/* ---- fan-out ---- */

/* Every filter matches "fan.data", through each kind of wildcard. */
static void sub_fanout(int i, char *buf, size_t len)
{
	static const char *const filters[] = { "fan.*", "fan.>", "*.data", ">" , "*.*" };
	snprintf(buf, len, "SUB %s %d\r\n", filters[i % 5], i + 1);
}

int jn_bench_fanout(const struct jn_bench_opts *o)
{
	const char *w = wname(o, "fanout");
	int n = o->subs > 0 ? o->subs : 100;
	long count = o->count > 0 ? o->count : 50000;
	struct jn_bench_sink *s = jn_bench_sink_new(o, n, sub_fanout);
	if (!s)
		return -1;
	struct pub_run r;
	int rc = publish(o, "fan.data", count, &r);
	uint64_t expected = (uint64_t)r.sent * (uint64_t)n;
	uint64_t got = jn_bench_sink_wait(s, expected, o->drain_ms,
	                                  jn_bench_now_ns() + DRAIN_MAX_NS);
	jn_bench_result(w, "delivered msgs/s",
	                rate(got, jn_bench_sink_first_ns(s), jn_bench_sink_last_ns(s)), "msgs/s",
	                "higher");
	report_pub(w, &r);
	jn_bench_result(w, "lost msgs", lost(expected, got), "msgs", "lower");
	if (jn_bench_sink_errors(s))
		rc = -1;
	jn_bench_sink_free(s);
	return rc;
}

/* ---- queue group ---- */

static void sub_queue(int i, char *buf, size_t len)
{
	snprintf(buf, len, "SUB q.work workers %d\r\n", i + 1);
}

int jn_bench_queue(const struct jn_bench_opts *o)
{
	const char *w = wname(o, "queue");
	int n = o->subs > 0 ? o->subs : 4;
	long count = o->count > 0 ? o->count : 50000000;
	struct jn_bench_sink *s = jn_bench_sink_new(o, n, sub_queue);
	if (!s)
		return -1;
	struct pub_run r;
	int rc = publish(o, "q.work", count, &r);
	uint64_t got = jn_bench_sink_wait(s, (uint64_t)r.sent, o->drain_ms,
	                                  jn_bench_now_ns() + DRAIN_MAX_NS);
	jn_bench_sink_stop(s);
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int i = 0; i < n; i++) {
		uint64_t c = jn_bench_sink_conn_count(s, i);
		lo = c < lo ? c : lo;
		hi = c > hi ? c : hi;
	}
	double mean = (double)got / n;
	jn_bench_result(w, "delivered msgs/s",
	                rate(got, jn_bench_sink_first_ns(s), jn_bench_sink_last_ns(s)), "msgs/s",
	                "higher");
	report_pub(w, &r);
	jn_bench_result(w, "spread (max-min)/mean", mean > 0 ? 100.0 * (double)(hi - lo) / mean : 0,
	                "%", "lower");
	jn_bench_result(w, "lost msgs", lost((uint64_t)r.sent, got), "msgs", "lower");
	if (jn_bench_sink_errors(s))
		rc = -1;
	jn_bench_sink_free(s);
	return rc;
}
