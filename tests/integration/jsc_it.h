/*
 * jsc_it.h - helpers for the JetStream consumer integration tests, on top
 * of js_it.h: consumer info with every counter checked at once, raw pull
 * requests and their status messages, raw subscriptions. Header-only
 * (static inline), like js_it.h.
 */
#ifndef JN_JSC_IT_H
#define JN_JSC_IT_H

#include "js_it.h"

static const struct it_config jsc_cfg = { .jetstream = true };

static inline natsConnection *jsc_start(jsCtx **js)
{
	it_start(&jsc_cfg);
	natsConnection *nc = it_connect(NULL, NULL);
	if (js)
		*js = jt_ctx(nc);
	return nc;
}

/* Publish through JetStream (waits for the PubAck); returns the seq. */
#define jsc_pub(js, subj, data) jsc_pub_at(__FILE__, __LINE__, js, subj, data)
static inline uint64_t jsc_pub_at(const char *file, int line, jsCtx *js, const char *subj,
                                  const char *data)
{
	jsPubAck *pa = NULL;
	jsErrCode ec = 0;
	natsStatus s = js_Publish(&pa, js, subj, data, (int)strlen(data), NULL, &ec);
	if (s != NATS_OK)
		it_fail(file, line, "js_Publish %s: %s (%d)", subj, natsStatus_GetText(s), (int)ec);
	uint64_t seq = pa->Sequence;
	jsPubAck_Destroy(pa);
	return seq;
}

/* The raw CONSUMER.INFO response (must be a success). */
#define jsc_info(nc, stream, cons) jsc_info_at(__FILE__, __LINE__, nc, stream, cons)
static inline json_t *jsc_info_at(const char *file, int line, natsConnection *nc,
                                  const char *stream, const char *cons)
{
	char subj[300];
	snprintf(subj, sizeof subj, "$JS.API.CONSUMER.INFO.%s.%s", stream, cons);
	json_t *r = jt_api_at(file, line, nc, subj, NULL);
	jt_expect_ok_at(file, line, r, "consumer_info_response");
	return r;
}

struct jsc_counts {
	long long dc, ds;      /* delivered consumer / stream seq */
	long long fc, fs;      /* ack floor */
	long long ack_pending, redelivered, waiting, pending;
};

static inline void jsc_counts_of(json_t *r, struct jsc_counts *k)
{
	k->dc = json_integer_value(jt_get(r, "delivered.consumer_seq"));
	k->ds = json_integer_value(jt_get(r, "delivered.stream_seq"));
	k->fc = json_integer_value(jt_get(r, "ack_floor.consumer_seq"));
	k->fs = json_integer_value(jt_get(r, "ack_floor.stream_seq"));
	k->ack_pending = json_integer_value(jt_get(r, "num_ack_pending"));
	k->redelivered = json_integer_value(jt_get(r, "num_redelivered"));
	k->waiting = json_integer_value(jt_get(r, "num_waiting"));
	k->pending = json_integer_value(jt_get(r, "num_pending"));
}

/* Every counter of CONSUMER.INFO must be exactly as given. Acks travel
 * asynchronously, so the check is retried for up to 2 s before failing. */
#define jsc_expect_counts(nc, stream, cons, ...) \
	jsc_expect_counts_at(__FILE__, __LINE__, nc, stream, cons, (struct jsc_counts){ __VA_ARGS__ })
static inline void jsc_expect_counts_at(const char *file, int line, natsConnection *nc,
                                        const char *stream, const char *cons,
                                        struct jsc_counts want)
{
	struct jsc_counts got = { 0 };
	int64_t deadline = it_now_ms() + 2000;
	for (;;) {
		json_t *r = jsc_info_at(file, line, nc, stream, cons);
		jsc_counts_of(r, &got);
		json_decref(r);
		if (memcmp(&got, &want, sizeof got) == 0)
			return;
		if (it_now_ms() > deadline)
			break;
		it_sleep_ms(50);
	}
	it_fail(file, line,
	        "consumer %s > %s: delivered {%lld,%lld} ack_floor {%lld,%lld} ack_pending %lld "
	        "redelivered %lld waiting %lld pending %lld; expected {%lld,%lld} {%lld,%lld} "
	        "%lld %lld %lld %lld",
	        stream, cons, got.dc, got.ds, got.fc, got.fs, got.ack_pending, got.redelivered,
	        got.waiting, got.pending, want.dc, want.ds, want.fc, want.fs, want.ack_pending,
	        want.redelivered, want.waiting, want.pending);
}

/* Create a consumer with a raw request on subj ("$JS.API.CONSUMER...."),
 * expecting success; returns the response. */
#define jsc_create(nc, subj, body) jsc_create_at(__FILE__, __LINE__, nc, subj, body)
static inline json_t *jsc_create_at(const char *file, int line, natsConnection *nc,
                                    const char *subj, const char *body)
{
	json_t *r = jt_api_at(file, line, nc, subj, body);
	jt_expect_ok_at(file, line, r, "consumer_create_response");
	return r;
}

/* A raw synchronous subscription. */
static inline natsSubscription *jsc_sub(natsConnection *nc, const char *subj)
{
	natsSubscription *s = NULL;
	IT_OK(natsConnection_SubscribeSync(&s, nc, subj));
	IT_OK(natsConnection_Flush(nc));
	return s;
}

/* Send a pull request (body as given) with reply inbox. */
static inline void jsc_pull(natsConnection *nc, const char *stream, const char *cons,
                            const char *inbox, const char *body)
{
	char subj[300];
	snprintf(subj, sizeof subj, "$JS.API.CONSUMER.MSG.NEXT.%s.%s", stream, cons);
	IT_OK(natsConnection_PublishRequestString(nc, subj, inbox, body));
	IT_OK(natsConnection_Flush(nc));
}

/* The status code of a status message ("404"), or NULL for a normal one. */
static inline const char *jsc_status(natsMsg *m)
{
	const char *v = NULL;
	if (natsMsg_GetDataLength(m) > 0)
		return NULL;
	if (natsMsgHeader_Get(m, "Status", &v) != NATS_OK)
		return NULL;
	return v;
}

static inline const char *jsc_desc(natsMsg *m)
{
	const char *v = NULL;
	if (natsMsgHeader_Get(m, "Description", &v) != NATS_OK)
		return "";
	return v;
}

static inline const char *jsc_hdr(natsMsg *m, const char *key)
{
	const char *v = NULL;
	if (natsMsgHeader_Get(m, key, &v) != NATS_OK)
		return NULL;
	return v;
}

/* Next message on sub within ms, or fail. The caller destroys it. */
#define jsc_next(sub, ms) jsc_next_at(__FILE__, __LINE__, sub, ms)
static inline natsMsg *jsc_next_at(const char *file, int line, natsSubscription *sub, int ms)
{
	natsMsg *m = NULL;
	natsStatus s = natsSubscription_NextMsg(&m, sub, ms);
	if (s != NATS_OK)
		it_fail(file, line, "no message within %d ms: %s", ms, natsStatus_GetText(s));
	return m;
}

/* Nothing may arrive on sub for ms. */
#define jsc_none(sub, ms) jsc_none_at(__FILE__, __LINE__, sub, ms)
static inline void jsc_none_at(const char *file, int line, natsSubscription *sub, int ms)
{
	natsMsg *m = NULL;
	natsStatus s = natsSubscription_NextMsg(&m, sub, ms);
	if (s == NATS_OK) {
		const char *st = jsc_status(m);
		it_fail(file, line, "unexpected message on %s: status %s \"%.*s\"",
		        natsMsg_GetSubject(m), st ? st : "-", natsMsg_GetDataLength(m),
		        natsMsg_GetData(m));
	}
}

/* Next message must be the status code (with description when not NULL). */
#define jsc_expect_status(sub, ms, code, desc) \
	jsc_expect_status_at(__FILE__, __LINE__, sub, ms, code, desc)
static inline natsMsg *jsc_expect_status_at(const char *file, int line, natsSubscription *sub,
                                            int ms, const char *code, const char *desc)
{
	natsMsg *m = jsc_next_at(file, line, sub, ms);
	const char *st = jsc_status(m);
	if (!st || strcmp(st, code) != 0)
		it_fail(file, line, "expected status %s, got %s (data \"%.*s\")", code,
		        st ? st : "a message", natsMsg_GetDataLength(m), natsMsg_GetData(m));
	if (desc && strcmp(jsc_desc(m), desc) != 0)
		it_fail(file, line, "status %s: description \"%s\", expected \"%s\"", code,
		        jsc_desc(m), desc);
	return m;
}

/* Next message must be a delivery with this payload; returns it. */
#define jsc_expect_data(sub, ms, data) jsc_expect_data_at(__FILE__, __LINE__, sub, ms, data)
static inline natsMsg *jsc_expect_data_at(const char *file, int line, natsSubscription *sub,
                                          int ms, const char *data)
{
	natsMsg *m = jsc_next_at(file, line, sub, ms);
	const char *st = jsc_status(m);
	if (st)
		it_fail(file, line, "expected \"%s\", got status %s %s", data, st, jsc_desc(m));
	if ((size_t)natsMsg_GetDataLength(m) != strlen(data) ||
	    memcmp(natsMsg_GetData(m), data, strlen(data)) != 0)
		it_fail(file, line, "expected \"%s\", got \"%.*s\"", data, natsMsg_GetDataLength(m),
		        natsMsg_GetData(m));
	return m;
}

/* Delivery metadata of m (from its ack subject). */
static inline jsMsgMetaData *jsc_meta(natsMsg *m)
{
	jsMsgMetaData *md = NULL;
	IT_OK(natsMsg_GetMetaData(&md, m));
	return md;
}

/* Ack m synchronously with body ("+ACK", "-NAK", "+TERM", ...) and destroy it. */
static inline void jsc_ack_body(natsConnection *nc, natsMsg *m, const char *body)
{
	natsMsg *r = NULL;
	IT_OK(natsConnection_RequestString(&r, nc, natsMsg_GetReply(m), body, 5000));
	natsMsg_Destroy(r);
	natsMsg_Destroy(m);
}

#endif
