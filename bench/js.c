/*
 * js.c - the JetStream workloads: publishing with PubAcks (one at a time, or
 * a window of asynchronous publishes; to a file or a memory stream) and a pull
 * consumer fetching and acknowledging a prefilled stream.
 *
 * All clients are libnats' JetStream API, the application's view: js_Publish,
 * js_PublishAsync with a MaxPending window, js_PullSubscribe +
 * natsSubscription_Fetch + natsMsg_Ack. Each run creates its own stream (after
 * deleting a leftover of the same name) and deletes it at the end, so a server
 * can run every workload in a row.
 *
 * Nothing is taken on trust: after publishing, the stream must hold exactly
 * the messages that were acknowledged; after fetching, the consumer's ack
 * floor must reach the last fetched message with nothing redelivered. A server
 * that acks what it did not store, or loses acks, fails the run.
 *
 * Rates: publish = acknowledged / (first publish .. last PubAck);
 * fetch = fetched and acked / (first fetch .. Flush after the last ack).
 */
#include "bench/bench.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define PUB_STREAM    "JNBENCH"
#define PUB_SUBJ      "jnbench.pub"
#define FETCH_STREAM  "JNBENCHF"
#define FETCH_SUBJ    "jnbench.fetch"
#define FETCH_DURABLE "jnbench"
#define API_WAIT_MS   10000
#define ASYNC_WAIT_MS 60000   /* last PubAcks of a window, waiting for the disk */
#define FETCH_WAIT_MS 5000
#define PREFILL_SECS  60.0    /* safety cap only: the prefill wants every message */

static const char *wname(const struct jn_bench_opts *o, const char *dflt)
{
	return o->name ? o->name : dflt;
}

static double rate(uint64_t n, uint64_t t0, uint64_t t1)
{
	return t1 > t0 ? (double)n * 1e9 / (double)(t1 - t0) : 0.0;
}

static void js_fail(const char *what, natsStatus st, jsErrCode ec)
{
	fprintf(stderr, "jn_bench: %s: %s", what, natsStatus_GetText(st));
	if (ec)
		fprintf(stderr, " (err_code %d)", (int)ec);
	const char *last = nats_GetLastError(NULL);
	if (last && *last)
		fprintf(stderr, " (last libnats error: %s)", last);
	fputc('\n', stderr);
}

/* ---- context and stream ---- */

struct js_run {
	natsConnection *nc;
	jsCtx *js;
	char *payload;
};

/* The async publish window's PubAcks are counted here (libnats' reply thread). */
struct ack_count {
	_Atomic uint64_t ok, err;
	_Atomic int first_err;   /* natsStatus of the first failure */
	_Atomic int first_code;  /* its jsErrCode */
};

static void on_pub_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct ack_count *c = closure;
	if (pa && !pae) {
		atomic_fetch_add_explicit(&c->ok, 1, memory_order_relaxed);
	} else {
		int zero = 0;
		if (pae && atomic_compare_exchange_strong(&c->first_err, &zero, (int)pae->Err))
			atomic_store(&c->first_code, (int)pae->ErrCode);
		atomic_fetch_add_explicit(&c->err, 1, memory_order_relaxed);
	}
	natsMsg_Destroy(msg);
}

/* Connects and makes a JetStream context whose async publishes keep at most
 * `window` PubAcks outstanding, counted into acks. Returns 0 or -1. */
static int js_open(const struct jn_bench_opts *o, struct js_run *r, const char *cname,
                   bool send_asap, struct ack_count *acks)
{
	memset(r, 0, sizeof *r);
	r->payload = jn_malloc((size_t)o->size + 1);
	if (!r->payload)
		return -1;
	jn_bench_fill(r->payload, (size_t)o->size);
	r->nc = jn_bench_nats_connect(o, cname, send_asap);
	if (!r->nc)
		return -1;
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = API_WAIT_MS;
	jo.PublishAsync.MaxPending = o->window;
	jo.PublishAsync.AckHandler = on_pub_ack;
	jo.PublishAsync.AckHandlerClosure = acks;
	/* A full window waits for PubAcks, which with an fsync per group commit
	 * can take a while on a busy disk; the default 200 ms would turn that
	 * into an error instead of back-pressure. */
	jo.PublishAsync.StallWait = ASYNC_WAIT_MS;
	natsStatus st = natsConnection_JetStream(&r->js, r->nc, &jo);
	if (st != NATS_OK) {
		js_fail("JetStream context", st, 0);
		return -1;
	}
	return 0;
}

static void js_close(struct js_run *r)
{
	if (r->js)
		jsCtx_Destroy(r->js);
	if (r->nc)
		natsConnection_Destroy(r->nc);
	jn_free(r->payload);
	memset(r, 0, sizeof *r);
}

/* (Re)creates stream `name` on `subj`, storage per o->js_memory. */
static int stream_create(const struct jn_bench_opts *o, struct js_run *r, const char *name,
                         const char *subj)
{
	jsErrCode ec = 0;
	natsStatus st = js_DeleteStream(r->js, name, NULL, &ec);
	if (st != NATS_OK && st != NATS_NOT_FOUND && ec != JSStreamNotFoundErr) {
		js_fail("delete leftover stream", st, ec);
		return -1;
	}
	jsStreamConfig cfg;
	jsStreamConfig_Init(&cfg);
	const char *subjects[] = { subj };
	cfg.Name = name;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = o->js_memory ? js_MemoryStorage : js_FileStorage;
	jsStreamInfo *si = NULL;
	ec = 0;
	st = js_AddStream(&si, r->js, &cfg, NULL, &ec);
	if (st != NATS_OK) {
		js_fail("add stream", st, ec);
		return -1;
	}
	jsStreamInfo_Destroy(si);
	return 0;
}

/* The server's message count of the stream, or -1. */
static int64_t stream_msgs(struct js_run *r, const char *name)
{
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	natsStatus st = js_GetStreamInfo(&si, r->js, name, NULL, &ec);
	if (st != NATS_OK) {
		js_fail("stream info", st, ec);
		return -1;
	}
	int64_t n = (int64_t)si->State.Msgs;
	jsStreamInfo_Destroy(si);
	return n;
}

static void stream_delete(struct js_run *r, const char *name)
{
	jsErrCode ec = 0;
	natsStatus st = js_DeleteStream(r->js, name, NULL, &ec);
	if (st != NATS_OK)
		js_fail("delete stream", st, ec);
}

/* ---- publishing ---- */

struct pub_result {
	uint64_t acked;
	uint64_t start_ns, end_ns;
	uint64_t *lat_ns;    /* sync only: one round trip per message (jn_malloc'ed) */
	size_t nlat;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n), in microseconds. */
static double pct_us(const uint64_t *v, size_t n, double q)
{
	if (n == 0)
		return 0.0;
	size_t k = (size_t)(q * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)v[k - 1] / 1000.0;
}

/* One js_Publish at a time: each waits for its PubAck. The sequence numbers
 * must run 1, 2, 3...: a gap or a repeat means the server lost or reordered. */
static int publish_sync(struct js_run *r, const char *subj, int size, long count,
                        double secs, struct pub_result *res)
{
	uint64_t cap = (uint64_t)(secs * 1e9);
	size_t lat_cap = 65536;
	res->lat_ns = jn_malloc(lat_cap * sizeof *res->lat_ns);
	if (!res->lat_ns)
		return -1;
	res->start_ns = jn_bench_now_ns();
	uint64_t now = res->start_ns;
	for (long i = 0; i < count && now - res->start_ns < cap; i++) {
		jsPubAck *pa = NULL;
		jsErrCode ec = 0;
		natsStatus st = js_Publish(&pa, r->js, subj, r->payload, size, NULL, &ec);
		uint64_t t = jn_bench_now_ns();
		if (st != NATS_OK) {
			js_fail("js_Publish", st, ec);
			return -1;
		}
		if (pa->Sequence != (uint64_t)i + 1) {
			fprintf(stderr, "jn_bench: PubAck seq %" PRIu64 ", expected %ld\n", pa->Sequence,
			        i + 1);
			jsPubAck_Destroy(pa);
			return -1;
		}
		jsPubAck_Destroy(pa);
		if (res->nlat == lat_cap) {
			uint64_t *n = jn_realloc(res->lat_ns, 2 * lat_cap * sizeof *n);
			if (!n)
				return -1;
			res->lat_ns = n;
			lat_cap *= 2;
		}
		res->lat_ns[res->nlat++] = t - now;
		res->acked++;
		now = t;
	}
	res->end_ns = jn_bench_now_ns();
	return 0;
}

/* js_PublishAsync until count or the time cap, at most o->window PubAcks
 * outstanding (libnats stalls the publisher when the window is full), then
 * js_PublishAsyncComplete. Every message must be acknowledged positively. */
static int publish_async(struct js_run *r, const char *subj, int size, long count,
                         double secs, struct ack_count *acks, struct pub_result *res)
{
	uint64_t cap = (uint64_t)(secs * 1e9);
	long i;
	int rc = 0;
	uint64_t ok0 = atomic_load(&acks->ok);
	res->start_ns = jn_bench_now_ns();
	for (i = 0; i < count; i++) {
		if ((i & 255) == 0 && jn_bench_now_ns() - res->start_ns > cap)
			break;
		natsStatus st = js_PublishAsync(r->js, subj, r->payload, size, NULL);
		if (st != NATS_OK) {
			js_fail("js_PublishAsync", st, 0);
			rc = -1;
			break;
		}
	}
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = ASYNC_WAIT_MS;
	natsStatus st = js_PublishAsyncComplete(r->js, &po);
	res->end_ns = jn_bench_now_ns();
	if (st != NATS_OK) {
		js_fail("js_PublishAsyncComplete", st, 0);
		rc = -1;
	}
	res->acked = atomic_load(&acks->ok) - ok0;
	uint64_t err = atomic_load(&acks->err);
	if (err) {
		fprintf(stderr, "jn_bench: %" PRIu64 " of %ld async publishes failed, first: %s (err_code %d)\n",
		        err, i, natsStatus_GetText((natsStatus)atomic_load(&acks->first_err)),
		        atomic_load(&acks->first_code));
		rc = -1;
	} else if (rc == 0 && res->acked != (uint64_t)i) {
		fprintf(stderr, "jn_bench: %ld async publishes, %" PRIu64 " PubAcks\n", i,
		        res->acked);
		rc = -1;
	}
	return rc;
}

/* The stream must hold exactly what was acknowledged. */
static int check_stored(struct js_run *r, const char *stream, uint64_t acked)
{
	int64_t n = stream_msgs(r, stream);
	if (n < 0)
		return -1;
	if ((uint64_t)n != acked) {
		fprintf(stderr, "jn_bench: %s holds %" PRId64 " messages, %" PRIu64 " were acknowledged\n",
		        stream, n, acked);
		return -1;
	}
	return 0;
}

int jn_bench_jspub(const struct jn_bench_opts *o)
{
	const char *w = wname(o, "jspub");
	static struct ack_count acks;
	struct js_run r;
	struct pub_result res = { 0 };
	long count = o->count > 0 ? o->count : 50000000;   /* the time cap decides */
	/* Sync: the request must leave at once, it is the latency being measured.
	 * Async: let libnats batch the window into large writes. */
	int rc = js_open(o, &r, "jn_bench-jspub", !o->js_async, &acks);
	if (rc == 0)
		rc = stream_create(o, &r, PUB_STREAM, PUB_SUBJ);
	bool created = rc == 0;
	if (rc == 0) {
		fprintf(stderr, "  %s: %s publish, %s stream, %d B%s\n", w,
		        o->js_async ? "async" : "sync", o->js_memory ? "memory" : "file", o->size,
		        o->js_async ? "" : " (one PubAck at a time)");
		if (o->js_async)
			rc = publish_async(&r, PUB_SUBJ, o->size, count, o->secs, &acks, &res);
		else
			rc = publish_sync(&r, PUB_SUBJ, o->size, count, o->secs, &res);
	}
	if (rc == 0)
		rc = check_stored(&r, PUB_STREAM, res.acked);
	if (rc == 0) {
		jn_bench_result(w, "acked msgs/s", rate(res.acked, res.start_ns, res.end_ns),
		                "msgs/s", "higher");
		if (!o->js_async && res.nlat > 0) {
			qsort(res.lat_ns, res.nlat, sizeof *res.lat_ns, cmp_u64);
			jn_bench_result(w, "p50 PubAck latency", pct_us(res.lat_ns, res.nlat, 0.50),
			                "us", "lower");
			jn_bench_result(w, "p99 PubAck latency", pct_us(res.lat_ns, res.nlat, 0.99),
			                "us", "lower");
		}
	}
	if (created)
		stream_delete(&r, PUB_STREAM);
	jn_free(res.lat_ns);
	js_close(&r);
	return rc;
}

/* ---- pull consumer ---- */

/* Polls the consumer until its ack floor reaches `fetched` (acks are plain
 * publishes: the Flush proved the server read them, not that it applied
 * them). Fails on redeliveries: nothing here should be delivered twice. */
static int check_acked(struct js_run *r, natsSubscription *sub, uint64_t fetched)
{
	uint64_t deadline = jn_bench_now_ns() + 5000000000ull;
	for (;;) {
		jsConsumerInfo *ci = NULL;
		jsErrCode ec = 0;
		natsStatus st = natsSubscription_GetConsumerInfo(&ci, sub, NULL, &ec);
		if (st != NATS_OK) {
			js_fail("consumer info", st, ec);
			return -1;
		}
		uint64_t floor = ci->AckFloor.Consumer;
		int64_t pending = ci->NumAckPending, redelivered = ci->NumRedelivered;
		jsConsumerInfo_Destroy(ci);
		if (redelivered != 0) {
			fprintf(stderr, "jn_bench: consumer redelivered %" PRId64 " messages\n",
			        redelivered);
			return -1;
		}
		if (floor == fetched && pending == 0)
			return 0;
		if (jn_bench_now_ns() > deadline) {
			fprintf(stderr, "jn_bench: %" PRIu64 " fetched and acked, consumer ack floor %"
			        PRIu64 " with %" PRId64 " pending\n", fetched, floor, pending);
			return -1;
		}
		jn_bench_sleep_ms(50);
	}
}

/* Fetches batches of o->batch and acks every message (natsMsg_Ack: a publish
 * to its reply subject, no round trip), until the prefill is consumed or the
 * time cap. */
static int fetch_all(const struct jn_bench_opts *o, struct js_run *r, natsSubscription *sub,
                     uint64_t prefill, uint64_t *fetched, uint64_t *t0, uint64_t *t1)
{
	uint64_t cap = (uint64_t)(o->secs * 1e9);
	uint64_t n = 0;
	int rc = 0;
	*t0 = jn_bench_now_ns();
	while (n < prefill && jn_bench_now_ns() - *t0 < cap) {
		natsMsgList list = { 0 };
		jsErrCode ec = 0;
		int want = prefill - n < (uint64_t)o->batch ? (int)(prefill - n) : o->batch;
		natsStatus st = natsSubscription_Fetch(&list, sub, want, FETCH_WAIT_MS, &ec);
		if (st != NATS_OK) {
			js_fail("fetch", st, ec);
			rc = -1;
			break;
		}
		for (int i = 0; i < list.Count; i++) {
			if (natsMsg_GetDataLength(list.Msgs[i]) != o->size) {
				fprintf(stderr, "jn_bench: fetched a message of %d bytes, expected %d\n",
				        natsMsg_GetDataLength(list.Msgs[i]), o->size);
				rc = -1;
				break;
			}
			st = natsMsg_Ack(list.Msgs[i], NULL);
			if (st != NATS_OK) {
				js_fail("ack", st, 0);
				rc = -1;
				break;
			}
			n++;
		}
		natsMsgList_Destroy(&list);
		if (rc)
			break;
	}
	natsStatus st = natsConnection_FlushTimeout(r->nc, 30000);
	*t1 = jn_bench_now_ns();
	*fetched = n;
	if (st != NATS_OK && rc == 0) {
		js_fail("flush after the acks", st, 0);
		rc = -1;
	}
	return rc;
}

int jn_bench_jsfetch(const struct jn_bench_opts *o)
{
	const char *w = wname(o, "jsfetch");
	static struct ack_count acks;
	struct js_run r;
	struct pub_result pre = { 0 };
	natsSubscription *sub = NULL;
	uint64_t prefill = o->count > 0 ? (uint64_t)o->count : 200000;
	uint64_t fetched = 0, t0 = 0, t1 = 0;

	int rc = js_open(o, &r, "jn_bench-jsfetch", false, &acks);
	if (rc == 0)
		rc = stream_create(o, &r, FETCH_STREAM, FETCH_SUBJ);
	bool created = rc == 0;
	if (rc == 0) {
		fprintf(stderr, "  %s: prefill %" PRIu64 " x %d B (%s stream)\n", w, prefill,
		        o->size, o->js_memory ? "memory" : "file");
		rc = publish_async(&r, FETCH_SUBJ, o->size, (long)prefill, PREFILL_SECS, &acks, &pre);
		if (rc == 0 && pre.acked != prefill) {
			fprintf(stderr, "jn_bench: prefill stopped at %" PRIu64 " messages\n", pre.acked);
			rc = -1;
		}
	}
	if (rc == 0)
		rc = check_stored(&r, FETCH_STREAM, prefill);
	if (rc == 0) {
		jsSubOptions so;
		jsSubOptions_Init(&so);
		so.Stream = FETCH_STREAM;
		so.Config.AckPolicy = js_AckExplicit;
		jsErrCode ec = 0;
		natsStatus st = js_PullSubscribe(&sub, r.js, FETCH_SUBJ, FETCH_DURABLE, NULL, &so, &ec);
		if (st != NATS_OK) {
			js_fail("pull subscribe", st, ec);
			rc = -1;
		}
	}
	if (rc == 0) {
		fprintf(stderr, "  %s: fetch batches of %d, ack each\n", w, o->batch);
		rc = fetch_all(o, &r, sub, prefill, &fetched, &t0, &t1);
	}
	if (rc == 0)
		rc = check_acked(&r, sub, fetched);
	if (rc == 0) {
		jn_bench_result(w, "fetched+acked msgs/s", rate(fetched, t0, t1), "msgs/s", "higher");
		jn_bench_result(w, "prefill (async publish) msgs/s",
		                rate(pre.acked, pre.start_ns, pre.end_ns), "msgs/s", "info");
	}
	if (sub) {
		natsSubscription_Unsubscribe(sub);
		natsSubscription_Destroy(sub);
	}
	if (created)
		stream_delete(&r, FETCH_STREAM);
	js_close(&r);
	return rc;
}
