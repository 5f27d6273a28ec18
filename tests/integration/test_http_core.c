/*
 * test_http_core.c - the HTTP adapter's core messaging against a running
 * junction: POST /v1/publish (to NATS subscribers, headers, binary bodies,
 * every error path), POST /v1/request (libnats responders, no responders,
 * timeouts), routing errors (404, 405 with Allow), body limits (413).
 */
#include "http_it.h"

/* A libnats subscriber on subj; returns its next message within 2 s. */
static natsMsg *next(natsSubscription *sub)
{
	natsMsg *m = NULL;
	IT_OK(natsSubscription_NextMsg(&m, sub, 2000));
	return m;
}

static void publish_reaches_nats(void)
{
	ht_start(NULL, NULL);
	natsConnection *nc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, nc, "orders.>"));
	IT_OK(natsConnection_Flush(nc));

	static const char bin[] = { 'a', 0, (char)0xff, '\r', '\n', 'z' };
	struct ht_resp r;
	const char *hdrs[] = { "Nats-Msg-Id: m-1", "x-nats-hdr-Trace: on",
	                       "X-Nats-Hdr-Multi: 1", "X-Nats-Hdr-Multi: 2",
	                       "Content-Type: application/octet-stream", "X-Other: dropped", NULL };
	ht_req(&r, "POST", "/v1/publish/orders.eu.created", bin, sizeof bin, hdrs);
	HT_STATUS(&r, 202);
	IT_EQ_STR(r.body, "{\"ok\":true}");
	IT_EQ_STR(ht_header(&r, "Content-Type"), "application/json");
	ht_free(&r);

	natsMsg *m = next(sub);
	IT_EQ_STR(natsMsg_GetSubject(m), "orders.eu.created");
	IT_EQ_INT(natsMsg_GetDataLength(m), sizeof bin);
	IT_CHECK(memcmp(natsMsg_GetData(m), bin, sizeof bin) == 0, "payload bytes differ");
	const char *v = NULL;
	IT_OK(natsMsgHeader_Get(m, "Nats-Msg-Id", &v));
	IT_EQ_STR(v, "m-1");
	IT_OK(natsMsgHeader_Get(m, "Trace", &v));
	IT_EQ_STR(v, "on");
	const char **vals = NULL;
	int nv = 0;
	IT_OK(natsMsgHeader_Values(m, "Multi", &vals, &nv));
	IT_EQ_INT(nv, 2);
	IT_EQ_STR(vals[0], "1");
	IT_EQ_STR(vals[1], "2");
	free((void *)vals);
	IT_STATUS(natsMsgHeader_Get(m, "X-Other", &v), NATS_NOT_FOUND);
	IT_STATUS(natsMsgHeader_Get(m, "Content-Type", &v), NATS_NOT_FOUND);
	natsMsg_Destroy(m);

	/* empty body, no headers; an encoded '/' stays inside the subject */
	ht_req(&r, "POST", "/v1/publish/orders.a%2Fb", "", 0, NULL);
	HT_STATUS(&r, 202);
	ht_free(&r);
	m = next(sub);
	IT_EQ_STR(natsMsg_GetSubject(m), "orders.a/b");
	IT_EQ_INT(natsMsg_GetDataLength(m), 0);
	IT_STATUS(natsMsgHeader_Get(m, "Nats-Msg-Id", &v), NATS_NOT_FOUND);
	natsMsg_Destroy(m);

	/* nobody listening is not an error for a publish */
	ht_req(&r, "POST", "/v1/publish/nobody.here", "x", 1, NULL);
	HT_STATUS(&r, 202);
	ht_free(&r);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}

static void publish_bad_subjects(void)
{
	ht_start(NULL, NULL);
	static const char *bad[] = {
		"/v1/publish/foo..bar", "/v1/publish/foo.*", "/v1/publish/foo.%3E",
		"/v1/publish/.foo", "/v1/publish/foo%20bar", "/v1/publish/foo%zz",
		"/v1/publish/foo%00", "/v1/publish/a.%2A.b",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct ht_resp r;
		ht_req(&r, "POST", bad[i], "x", 1, NULL);
		HT_ERROR(&r, 400, "subject");
		ht_free(&r);
	}
}

static void routing_errors(void)
{
	ht_start(NULL, NULL);
	struct ht_resp r;
	ht_req(&r, "GET", "/v1/nothing", NULL, 0, NULL);
	HT_ERROR(&r, 404, "/v1/nothing");
	ht_free(&r);
	ht_req(&r, "GET", "/", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/publish", "x", 1, NULL);   /* no subject */
	HT_ERROR(&r, 404, NULL);
	ht_free(&r);

	ht_req(&r, "GET", "/v1/publish/foo", NULL, 0, NULL);
	HT_ERROR(&r, 405, NULL);
	IT_EQ_STR(ht_header(&r, "Allow"), "POST");
	ht_free(&r);
	ht_req(&r, "DELETE", "/v1/request/foo", NULL, 0, NULL);
	HT_ERROR(&r, 405, NULL);
	IT_EQ_STR(ht_header(&r, "Allow"), "POST");
	ht_free(&r);
	ht_req(&r, "POST", "/v1/subscribe/foo", "x", 1, NULL);
	HT_ERROR(&r, 405, NULL);
	IT_EQ_STR(ht_header(&r, "Allow"), "GET");
	ht_free(&r);
	ht_req(&r, "POST", "/metrics", "", 0, NULL);
	HT_ERROR(&r, 405, NULL);
	IT_EQ_STR(ht_header(&r, "Allow"), "GET, HEAD");
	ht_free(&r);
	ht_req(&r, "PATCH", "/v1/streams/X", "{}", 2, NULL);
	HT_ERROR(&r, 405, NULL);
	IT_EQ_STR(ht_header(&r, "Allow"), "GET, HEAD, PUT, DELETE");
	ht_free(&r);

	/* OPTIONS lists the methods */
	ht_req(&r, "OPTIONS", "/v1/publish/foo", NULL, 0, NULL);
	HT_STATUS(&r, 204);
	IT_EQ_STR(ht_header(&r, "Allow"), "POST, OPTIONS");
	ht_free(&r);
}

static void publish_too_large(void)
{
	struct it_config cfg = { .max_payload = 1000 };
	ht_start(&cfg, NULL);
	natsConnection *nc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, nc, "big"));
	IT_OK(natsConnection_Flush(nc));
	char body[4000];
	memset(body, 'b', sizeof body);
	struct ht_resp r;
	/* exactly max_payload passes */
	ht_req(&r, "POST", "/v1/publish/big", body, 1000, NULL);
	HT_STATUS(&r, 202);
	ht_free(&r);
	/* one more byte: 413, read and dropped (connection kept) */
	ht_req(&r, "POST", "/v1/publish/big", body, 1001, NULL);
	HT_ERROR(&r, 413, "payload");
	ht_free(&r);
	/* a client waiting for 100-continue is answered before sending */
	const char *expect[] = { "Expect: 100-continue", NULL };
	ht_req(&r, "POST", "/v1/publish/big", body, sizeof body, expect);
	HT_ERROR(&r, 413, NULL);
	ht_free(&r);
	/* headers count too: 990 bytes of body + a header block > 1000 */
	const char *h[] = { "X-Nats-Hdr-Pad: 0123456789012345678901234567890123456789", NULL };
	ht_req(&r, "POST", "/v1/publish/big", body, 990, h);
	HT_ERROR(&r, 413, NULL);
	ht_free(&r);
	/* and on requests */
	ht_req(&r, "POST", "/v1/request/big", body, 1001, NULL);
	HT_ERROR(&r, 413, NULL);
	ht_free(&r);

	natsMsg *m = next(sub);   /* only the first one got through */
	IT_EQ_INT(natsMsg_GetDataLength(m), 1000);
	natsMsg_Destroy(m);
	m = NULL;
	IT_STATUS(natsSubscription_NextMsg(&m, sub, 200), NATS_TIMEOUT);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}

/* ---- request/reply --------------------------------------------------------- */

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)sub;
	(void)closure;
	natsMsg *reply = NULL;
	char out[256];
	snprintf(out, sizeof out, "echo:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
	if (natsMsg_Create(&reply, natsMsg_GetReply(msg), NULL, out, (int)strlen(out)) == NATS_OK) {
		const char *trace = NULL;
		natsMsgHeader_Set(reply, "Served-By", "responder-1");
		if (natsMsgHeader_Get(msg, "Trace", &trace) == NATS_OK)
			natsMsgHeader_Set(reply, "Trace", trace);
		natsConnection_PublishMsg(nc, reply);
		natsMsg_Destroy(reply);
	}
	natsMsg_Destroy(msg);
}

static void request_reply(void)
{
	ht_start(NULL, NULL);
	natsConnection *nc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_Subscribe(&sub, nc, "svc.echo", on_request, NULL));
	IT_OK(natsConnection_Flush(nc));
	for (int i = 0; i < 20; i++) {   /* several, so stale state would show */
		struct ht_resp r;
		char body[32];
		int n = snprintf(body, sizeof body, "ping-%d", i);
		const char *h[] = { "X-Nats-Hdr-Trace: t1", NULL };
		ht_req(&r, "POST", "/v1/request/svc.echo?timeout=2s", body, (size_t)n, h);
		HT_STATUS(&r, 200);
		char want[64];
		snprintf(want, sizeof want, "echo:%s", body);
		IT_EQ_STR(r.body, want);
		IT_EQ_STR(ht_header(&r, "X-Nats-Hdr-Served-By"), "responder-1");
		IT_EQ_STR(ht_header(&r, "X-Nats-Hdr-Trace"), "t1");
		ht_free(&r);
	}
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}

static void request_no_responders(void)
{
	ht_start(NULL, NULL);
	struct ht_resp r;
	int64_t t0 = it_now_ms();
	ht_req(&r, "POST", "/v1/request/nobody.home?timeout=5s", "x", 1, NULL);
	HT_ERROR(&r, 503, "no responders");
	IT_CHECK(it_now_ms() - t0 < 2000, "no responders must not wait for the timeout");
	ht_free(&r);
}

static void request_timeout(void)
{
	ht_start(NULL, NULL);
	natsConnection *nc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, nc, "svc.slow"));   /* never answers */
	IT_OK(natsConnection_Flush(nc));
	struct ht_resp r;
	int64_t t0 = it_now_ms();
	ht_req(&r, "POST", "/v1/request/svc.slow?timeout=300ms", "x", 1, NULL);
	int64_t took = it_now_ms() - t0;
	HT_ERROR(&r, 504, "timeout");
	IT_CHECK(took >= 280 && took < 2000, "took %lld ms for a 300ms timeout", (long long)took);
	ht_free(&r);
	/* integer nanoseconds work too */
	t0 = it_now_ms();
	ht_req(&r, "POST", "/v1/request/svc.slow?timeout=200000000", "x", 1, NULL);
	took = it_now_ms() - t0;
	HT_ERROR(&r, 504, NULL);
	IT_CHECK(took >= 180 && took < 2000, "took %lld ms for a 200ms timeout", (long long)took);
	ht_free(&r);
	/* the requests did reach the subscriber, with a reply subject */
	natsMsg *m = next(sub);
	IT_CHECK(natsMsg_GetReply(m) != NULL && strncmp(natsMsg_GetReply(m), "_INBOX.", 7) == 0,
	         "reply subject %s", natsMsg_GetReply(m) ? natsMsg_GetReply(m) : "(none)");
	natsMsg_Destroy(m);
	/* a late reply to a timed-out request is dropped quietly */
	m = next(sub);
	IT_OK(natsConnection_PublishString(nc, natsMsg_GetReply(m), "late"));
	natsMsg_Destroy(m);
	IT_OK(natsConnection_Flush(nc));
	ht_req(&r, "GET", "/healthz", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	ht_free(&r);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}

static void request_bad_timeout(void)
{
	ht_start(NULL, NULL);
	static const char *bad[] = { "abc", "-1s", "0", "5x", "1h", "%zz" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char path[128];
		snprintf(path, sizeof path, "/v1/request/svc?timeout=%s", bad[i]);
		struct ht_resp r;
		ht_req(&r, "POST", path, "x", 1, NULL);
		HT_ERROR(&r, 400, "timeout");
		ht_free(&r);
	}
}

/* Many concurrent waiting requests, answered out of order by a responder
 * that delays some: each gets its own reply. */
struct par {
	int i;
	int ok;
};

static void *par_main(void *arg)
{
	struct par *p = arg;
	struct ht_resp r;
	char body[16], want[32], path[64];
	int n = snprintf(body, sizeof body, "%d", p->i);
	snprintf(want, sizeof want, "echo:%d", p->i);
	snprintf(path, sizeof path, "/v1/request/svc.echo?timeout=5s");
	ht_req(&r, "POST", path, body, (size_t)n, NULL);
	p->ok = r.status == 200 && strcmp(r.body, want) == 0;
	ht_free(&r);
	return NULL;
}

static void request_concurrent(void)
{
	ht_start(NULL, NULL);
	natsConnection *nc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_Subscribe(&sub, nc, "svc.echo", on_request, NULL));
	IT_OK(natsConnection_Flush(nc));
	enum { N = 32 };
	pthread_t th[N];
	struct par p[N];
	for (int i = 0; i < N; i++) {
		p[i] = (struct par){ .i = i };
		pthread_create(&th[i], NULL, par_main, &p[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		IT_CHECK(p[i].ok, "request %d did not get its own reply", i);
	}
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}

IT_MAIN(IT_TEST(publish_reaches_nats), IT_TEST(publish_bad_subjects), IT_TEST(routing_errors),
        IT_TEST(publish_too_large), IT_TEST(request_reply), IT_TEST(request_no_responders),
        IT_TEST(request_timeout), IT_TEST(request_bad_timeout), IT_TEST(request_concurrent))
