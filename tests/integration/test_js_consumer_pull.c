/*
 * test_js_consumer_pull.c - pull requests (ADR-13) and the status messages
 * clients rely on: 404 No Messages, 408 Request Timeout with the
 * Nats-Pending-* headers, batches, max_bytes (409 Message Size Exceeds
 * MaxBytes), max_waiting, the consumer's request limits, 409 Consumer
 * Deleted, 409 Consumer is push based, 400 Bad Request, idle heartbeats in
 * a request, +NXT, and libnats' Fetch on top. Every case also runs against
 * nats-server.
 */
#include <pthread.h>

#include "jsc_it.h"

#define INBOX "_INBOX.pull"

static natsConnection *setup(jsCtx **js, natsSubscription **inbox, const char *cons_cfg)
{
	natsConnection *nc = jsc_start(js);
	jt_create(nc, "S", "{\"name\":\"S\",\"subjects\":[\"S.>\"]}");
	char body[512];
	snprintf(body, sizeof body,
	         "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"P\",\"ack_policy\":\"explicit\"%s%s}}",
	         cons_cfg ? "," : "", cons_cfg ? cons_cfg : "");
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.P", body));
	*inbox = jsc_sub(nc, INBOX);
	return nc;
}

static void teardown(natsConnection *nc, jsCtx *js, natsSubscription *in)
{
	natsSubscription_Destroy(in);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_no_wait_and_expires(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in, NULL);
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":1,\"no_wait\":true}");
	natsMsg_Destroy(jsc_expect_status(in, 2000, "404", "No Messages"));
	int64_t t0 = it_now_ms();
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":2,\"expires\":400000000}");
	natsMsg *st = jsc_expect_status(in, 3000, "408", "Request Timeout");
	IT_CHECK(it_now_ms() - t0 >= 350, "expired after %lld ms", (long long)(it_now_ms() - t0));
	IT_EQ_STR(jsc_hdr(st, "Nats-Pending-Messages"), "2");
	IT_EQ_STR(jsc_hdr(st, "Nats-Pending-Bytes"), "0");
	natsMsg_Destroy(st);
	/* no_wait with expires waits for the first message */
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":5,\"no_wait\":true,\"expires\":3000000000}");
	jsc_none(in, 200);
	jsc_pub(js, "S.a", "late");
	natsMsg_Destroy(jsc_expect_data(in, 3000, "late"));
	natsMsg_Destroy(jsc_expect_status(in, 3000, "408", "Request Timeout"));
	jsc_expect_counts(nc, "S", "P", .dc = 1, .ds = 1, .ack_pending = 1);
	teardown(nc, js, in);
}

static void test_batch_forms(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in, NULL);
	for (int i = 1; i <= 6; i++) {
		char d[8];
		snprintf(d, sizeof d, "%d", i);
		jsc_pub(js, "S.a", d);
	}
	jsc_pull(nc, "S", "P", INBOX, "");    /* empty: one message */
	natsMsg_Destroy(jsc_expect_data(in, 2000, "1"));
	jsc_none(in, 200);
	jsc_pull(nc, "S", "P", INBOX, "2");   /* a bare number: that batch */
	natsMsg_Destroy(jsc_expect_data(in, 2000, "2"));
	natsMsg_Destroy(jsc_expect_data(in, 2000, "3"));
	jsc_none(in, 200);
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":2}");   /* a satisfied batch ends silently */
	natsMsg_Destroy(jsc_expect_data(in, 2000, "4"));
	natsMsg_Destroy(jsc_expect_data(in, 2000, "5"));
	jsc_none(in, 200);
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":4,\"no_wait\":true}");
	natsMsg_Destroy(jsc_expect_data(in, 2000, "6"));
	natsMsg *st = jsc_expect_status(in, 2000, "408", "Request Timeout");
	IT_EQ_STR(jsc_hdr(st, "Nats-Pending-Messages"), "3");
	natsMsg_Destroy(st);
	jsc_expect_counts(nc, "S", "P", .dc = 6, .ds = 6, .ack_pending = 6);
	teardown(nc, js, in);
}

static void test_max_bytes(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in, NULL);
	char big[101];
	memset(big, 'x', 100);
	big[100] = '\0';
	jsc_pub(js, "S.a", big);
	jsc_pub(js, "S.a", big);
	/* room for one message (subject + ack subject + 100 bytes) but not two */
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":10,\"max_bytes\":250,\"expires\":2000000000}");
	natsMsg_Destroy(jsc_expect_data(in, 2000, big));
	natsMsg *st = jsc_expect_status(in, 2000, "409", "Message Size Exceeds MaxBytes");
	IT_EQ_STR(jsc_hdr(st, "Nats-Pending-Messages"), "9");
	natsMsg_Destroy(st);
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":1,\"max_bytes\":50,\"expires\":2000000000}");
	st = jsc_expect_status(in, 2000, "409", "Message Size Exceeds MaxBytes");
	IT_EQ_STR(jsc_hdr(st, "Nats-Pending-Messages"), "1");
	IT_EQ_STR(jsc_hdr(st, "Nats-Pending-Bytes"), "50");
	natsMsg_Destroy(st);
	jsc_expect_counts(nc, "S", "P", .dc = 1, .ds = 1, .ack_pending = 1, .pending = 1);
	teardown(nc, js, in);
}

static void test_request_limits(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in, "\"max_waiting\":2,\"max_batch\":3,"
	                                     "\"max_expires\":2000000000,\"max_bytes\":1000");
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":5}");
	natsMsg_Destroy(jsc_expect_status(in, 2000, "409", "Exceeded MaxRequestBatch of 3"));
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":1,\"expires\":5000000000}");
	natsMsg_Destroy(jsc_expect_status(in, 2000, "409", "Exceeded MaxRequestExpires of 2s"));
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":1,\"max_bytes\":2000,\"expires\":1000000000}");
	natsMsg_Destroy(jsc_expect_status(in, 2000, "409", "Exceeded MaxRequestMaxBytes of 1000"));
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":1,\"expires\":1500000000}");
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":1,\"expires\":1500000000}");
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":1,\"expires\":1500000000}");
	natsMsg_Destroy(jsc_expect_status(in, 2000, "409", "Exceeded MaxWaiting"));
	jsc_expect_counts(nc, "S", "P", .waiting = 2);
	natsMsg_Destroy(jsc_expect_status(in, 3000, "408", "Request Timeout"));
	natsMsg_Destroy(jsc_expect_status(in, 3000, "408", "Request Timeout"));
	jsc_expect_counts(nc, "S", "P", .waiting = 0);
	teardown(nc, js, in);
}

static void test_deleted_push_bad_request(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in, NULL);
	jsc_pull(nc, "S", "P", INBOX, "{bad");
	natsMsg *st = jsc_expect_status(in, 2000, "400", NULL);
	IT_CHECK(strncmp(jsc_desc(st), "Bad Request", 11) == 0, "desc %s", jsc_desc(st));
	natsMsg_Destroy(st);
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":1,\"expires\":1000000000,\"idle_heartbeat\":600000000}");
	natsMsg_Destroy(jsc_expect_status(in, 2000, "400", "Bad Request - heartbeat value too large"));

	json_decref(jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.PUSH",
	                       "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"PUSH\","
	                       "\"deliver_subject\":\"dlv.push\"}}"));
	jsc_pull(nc, "S", "PUSH", INBOX, "1");
	natsMsg_Destroy(jsc_expect_status(in, 2000, "409", "Consumer is push based"));

	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":3,\"expires\":10000000000}");
	jsc_expect_counts(nc, "S", "P", .waiting = 1);
	json_t *r = jt_api(nc, "$JS.API.CONSUMER.DELETE.S.P", NULL);
	jt_expect_ok(r, "consumer_delete_response");
	json_decref(r);
	natsMsg_Destroy(jsc_expect_status(in, 2000, "409", "Consumer Deleted"));
	teardown(nc, js, in);
}

/* Deleting the stream ends waiting requests with 409 Consumer Deleted. */
static void test_stream_deleted(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in, NULL);
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":3,\"expires\":10000000000}");
	jsc_expect_counts(nc, "S", "P", .waiting = 1);
	json_t *r = jt_api(nc, "$JS.API.STREAM.DELETE.S", NULL);
	jt_expect_ok(r, "stream_delete_response");
	json_decref(r);
	natsMsg_Destroy(jsc_expect_status(in, 2000, "409", "Consumer Deleted"));
	r = jt_api(nc, "$JS.API.CONSUMER.INFO.S.P", NULL);
	jt_expect_err(r, "consumer_info_response", 10059, NULL);
	json_decref(r);
	teardown(nc, js, in);
}

/* A request with idle_heartbeat gets "100 Idle Heartbeat" while idle. */
static void test_request_heartbeat(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in, NULL);
	jsc_pub(js, "S.a", "x");
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":2,\"expires\":3000000000,\"idle_heartbeat\":300000000}");
	natsMsg_Destroy(jsc_expect_data(in, 2000, "x"));
	int64_t t0 = it_now_ms();
	natsMsg *hb = jsc_expect_status(in, 2000, "100", "Idle Heartbeat");
	IT_CHECK(it_now_ms() - t0 >= 200, "heartbeat after %lld ms", (long long)(it_now_ms() - t0));
	IT_EQ_STR(jsc_hdr(hb, "Nats-Last-Consumer"), "1");
	IT_EQ_STR(jsc_hdr(hb, "Nats-Last-Stream"), "1");
	natsMsg_Destroy(hb);
	teardown(nc, js, in);
}

/* +NXT acks and asks for the next message with the ack's reply subject. */
static void test_ack_next(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in, NULL);
	jsc_pub(js, "S.a", "1");
	jsc_pub(js, "S.a", "2");
	jsc_pub(js, "S.a", "3");
	jsc_pull(nc, "S", "P", INBOX, "1");
	natsMsg *m = jsc_expect_data(in, 2000, "1");
	IT_OK(natsConnection_PublishRequestString(nc, natsMsg_GetReply(m), INBOX, "+NXT"));
	natsMsg_Destroy(m);
	m = jsc_expect_data(in, 2000, "2");
	IT_OK(natsConnection_PublishRequestString(nc, natsMsg_GetReply(m), INBOX, "+NXT {\"batch\":1}"));
	natsMsg_Destroy(m);
	natsMsg_Destroy(jsc_expect_data(in, 2000, "3"));
	jsc_expect_counts(nc, "S", "P", .dc = 3, .ds = 3, .fc = 2, .fs = 2, .ack_pending = 1);
	teardown(nc, js, in);
}

/* libnats' pull subscription: Fetch batches, Fetch on an empty stream times
 * out, FetchRequest with max_bytes and heartbeat. */
static void test_libnats_fetch(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in, NULL);
	natsSubscription *sub = NULL;
	jsErrCode ec = 0;
	IT_OK(js_PullSubscribe(&sub, js, "S.f", "F", NULL, NULL, &ec));
	natsMsgList l = { 0 };
	IT_STATUS(natsSubscription_Fetch(&l, sub, 5, 500, &ec), NATS_TIMEOUT);
	for (int i = 0; i < 7; i++)
		jsc_pub(js, "S.f", "m");
	IT_OK(natsSubscription_Fetch(&l, sub, 5, 2000, &ec));
	IT_EQ_INT(l.Count, 5);
	for (int i = 0; i < l.Count; i++)
		IT_OK(natsMsg_Ack(l.Msgs[i], NULL));
	natsMsgList_Destroy(&l);
	jsFetchRequest fr;
	jsFetchRequest_Init(&fr);
	fr.Batch = 10;
	fr.Expires = 1000LL * 1000000;
	fr.Heartbeat = 200LL * 1000000;
	IT_OK(natsSubscription_FetchRequest(&l, sub, &fr));
	IT_EQ_INT(l.Count, 2);
	for (int i = 0; i < l.Count; i++)
		IT_OK(natsMsg_AckSync(l.Msgs[i], NULL, &ec));
	natsMsgList_Destroy(&l);
	jsc_expect_counts(nc, "S", "F", .dc = 7, .ds = 7, .fc = 7, .fs = 7);
	natsSubscription_Destroy(sub);
	teardown(nc, js, in);
}

/* Four connections fetch and ack one durable while a fifth publishes:
 * every message exactly once, and the counters add up. */
enum { CN = 4, CMSGS = 2000 };
struct worker {
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *sub;
	unsigned char *seen;
	pthread_mutex_t *mu;
	int got;
	bool failed;
};

static int total_got(struct worker *w)
{
	int t = 0;
	pthread_mutex_lock(w[0].mu);
	for (int i = 0; i < CN; i++)
		t += w[i].got;
	pthread_mutex_unlock(w[0].mu);
	return t;
}

static void *fetcher(void *arg)
{
	struct worker *w = arg;
	int64_t deadline = it_now_ms() + 20000;
	while (it_now_ms() < deadline) {
		natsMsgList l = { 0 };
		jsErrCode ec = 0;
		natsStatus s = natsSubscription_Fetch(&l, w->sub, 10, 300, &ec);
		if (s == NATS_TIMEOUT) {
			pthread_mutex_lock(w->mu);
			bool done = w->seen[0] == 1;   /* [0]: "all delivered" flag */
			pthread_mutex_unlock(w->mu);
			if (done)
				break;
			continue;
		}
		if (s != NATS_OK) {
			w->failed = true;
			break;
		}
		for (int i = 0; i < l.Count; i++) {
			int v = atoi(natsMsg_GetData(l.Msgs[i]));
			pthread_mutex_lock(w->mu);
			if (v >= 1 && v <= CMSGS)
				w->seen[v]++;
			w->got++;
			pthread_mutex_unlock(w->mu);
			if (natsMsg_AckSync(l.Msgs[i], NULL, &ec) != NATS_OK)
				w->failed = true;
		}
		natsMsgList_Destroy(&l);
	}
	return NULL;
}

static void test_concurrent_fetch_ack(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in, NULL);
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.C",
	                       "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"C\","
	                       "\"ack_policy\":\"explicit\",\"filter_subject\":\"S.c\"}}"));
	static unsigned char seen[CMSGS + 1];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	struct worker w[CN];
	pthread_t th[CN];
	for (int i = 0; i < CN; i++) {
		w[i] = (struct worker){ .seen = seen, .mu = &mu };
		w[i].nc = it_connect(NULL, NULL);
		w[i].js = jt_ctx(w[i].nc);
		jsErrCode ec = 0;
		jsSubOptions so;
		IT_OK(jsSubOptions_Init(&so));
		so.Stream = "S";
		so.Consumer = "C";
		IT_OK(js_PullSubscribe(&w[i].sub, w[i].js, "S.c", "C", NULL, &so, &ec));
		pthread_create(&th[i], NULL, fetcher, &w[i]);
	}
	for (int i = 1; i <= CMSGS; i++) {
		char d[16];
		snprintf(d, sizeof d, "%d", i);
		IT_OK(js_PublishAsync(js, "S.c", d, (int)strlen(d), NULL));
	}
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = 10000;
	IT_OK(js_PublishAsyncComplete(js, &po));
	int64_t deadline = it_now_ms() + 20000;
	while (total_got(w) < CMSGS && it_now_ms() < deadline)
		it_sleep_ms(20);
	pthread_mutex_lock(&mu);
	seen[0] = 1;
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < CN; i++)
		pthread_join(th[i], NULL);
	IT_EQ_INT(total_got(w), CMSGS);
	for (int i = 1; i <= CMSGS; i++)
		if (seen[i] != 1)
			it_fail(__FILE__, __LINE__, "message %d delivered %d times", i, seen[i]);
	for (int i = 0; i < CN; i++) {
		IT_CHECK(!w[i].failed, "worker %d failed", i);
		natsSubscription_Destroy(w[i].sub);
		jsCtx_Destroy(w[i].js);
		natsConnection_Destroy(w[i].nc);
	}
	jsc_expect_counts(nc, "S", "C", .dc = CMSGS, .ds = CMSGS, .fc = CMSGS, .fs = CMSGS);
	teardown(nc, js, in);
}

IT_MAIN(IT_TEST_T(test_concurrent_fetch_ack, 60), IT_TEST(test_no_wait_and_expires), IT_TEST(test_batch_forms), IT_TEST(test_max_bytes),
        IT_TEST(test_request_limits), IT_TEST(test_deleted_push_bad_request),
        IT_TEST(test_request_heartbeat), IT_TEST(test_stream_deleted), IT_TEST(test_ack_next), IT_TEST(test_libnats_fetch))
