/*
 * test_js_consumer_push.c - push consumers: delivery to the deliver subject
 * with the stored subject shown, idle heartbeats (ADR-9), flow control
 * (100 FlowControl Request, stall, resume), a queue group, an ordered
 * consumer as libnats creates it, interest (push_bound, delivery waits for
 * a subscriber) and the inactive threshold of ephemerals. Every case also
 * runs against nats-server.
 */
#include <pthread.h>

#include "jsc_it.h"

static natsConnection *setup(jsCtx **js)
{
	natsConnection *nc = jsc_start(js);
	jt_create(nc, "S", "{\"name\":\"S\",\"subjects\":[\"S.>\"]}");
	return nc;
}

static void test_push_delivery_and_heartbeat(void)
{
	jsCtx *js;
	natsConnection *nc = setup(&js);
	jsc_pub(js, "S.a", "1");
	jsc_pub(js, "S.b", "2");
	natsSubscription *dlv = jsc_sub(nc, "dlv.hb");
	json_t *r = jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.H",
	                       "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"H\","
	                       "\"deliver_subject\":\"dlv.hb\",\"ack_policy\":\"explicit\","
	                       "\"idle_heartbeat\":300000000}}");
	IT_CHECK(json_is_true(jt_get(r, "push_bound")), "bound: dlv.hb has a subscriber");
	json_decref(r);
	natsMsg *m = jsc_expect_data(dlv, 2000, "1");
	IT_EQ_STR(natsMsg_GetSubject(m), "S.a");   /* the stored subject, not dlv.hb */
	IT_CHECK(strncmp(natsMsg_GetReply(m), "$JS.ACK.S.H.1.1.1.", 18) == 0, "ack subject %s",
	         natsMsg_GetReply(m));
	natsMsg_Destroy(m);
	m = jsc_expect_data(dlv, 2000, "2");
	IT_EQ_STR(natsMsg_GetSubject(m), "S.b");
	natsMsg_Destroy(m);
	int64_t t0 = it_now_ms();
	natsMsg *hb = jsc_expect_status(dlv, 2000, "100", "Idle Heartbeat");
	IT_CHECK(it_now_ms() - t0 >= 200, "heartbeat after %lld ms", (long long)(it_now_ms() - t0));
	IT_EQ_STR(jsc_hdr(hb, "Nats-Last-Consumer"), "2");
	IT_EQ_STR(jsc_hdr(hb, "Nats-Last-Stream"), "2");
	IT_CHECK(natsMsg_GetReply(hb) == NULL, "heartbeats have no reply");
	natsMsg_Destroy(hb);
	/* heartbeats keep coming while idle */
	natsMsg_Destroy(jsc_expect_status(dlv, 2000, "100", "Idle Heartbeat"));
	natsSubscription_Destroy(dlv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* Deliveries wait for a subscriber on the deliver subject, then flow. */
static void test_push_waits_for_interest(void)
{
	jsCtx *js;
	natsConnection *nc = setup(&js);
	jsc_pub(js, "S.a", "early");
	json_t *r = jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.W",
	                       "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"W\","
	                       "\"deliver_subject\":\"dlv.w\",\"ack_policy\":\"explicit\"}}");
	IT_CHECK(!jt_get(r, "push_bound"), "not bound yet");
	json_decref(r);
	it_sleep_ms(200);
	jsc_expect_counts(nc, "S", "W", .pending = 1);   /* nothing went out */
	natsSubscription *dlv = jsc_sub(nc, "dlv.w");
	natsMsg_Destroy(jsc_expect_data(dlv, 3000, "early"));
	jsc_pub(js, "S.a", "late");
	natsMsg_Destroy(jsc_expect_data(dlv, 3000, "late"));
	r = jsc_info(nc, "S", "W");
	IT_CHECK(json_is_true(jt_get(r, "push_bound")), "bound now");
	json_decref(r);
	natsSubscription_Destroy(dlv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* Flow control: a request once half the 2 MiB window is out, a stall when
 * it is full, and more after the client answers. */
static void test_flow_control(void)
{
	jsCtx *js;
	natsConnection *nc = setup(&js);
	enum { N = 48, SZ = 64 * 1024 };
	char *big = malloc(SZ + 1);
	memset(big, 'f', SZ);
	big[SZ] = '\0';
	for (int i = 0; i < N; i++)
		jsc_pub(js, "S.big", big);
	natsSubscription *dlv = jsc_sub(nc, "dlv.fc");
	IT_OK(natsSubscription_SetPendingLimits(dlv, -1, -1));
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.CREATE.S",
	                       "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"dlv.fc\","
	                       "\"flow_control\":true,\"idle_heartbeat\":5000000000}}"));
	int got = 0;
	char *fc = NULL;
	for (;;) {   /* until the window is full: silence */
		natsMsg *m = NULL;
		if (natsSubscription_NextMsg(&m, dlv, 500) != NATS_OK)
			break;
		const char *st = jsc_status(m);
		if (st) {
			IT_EQ_STR(st, "100");
			IT_EQ_STR(jsc_desc(m), "FlowControl Request");
			IT_CHECK(fc == NULL, "one flow control request per window");
			IT_CHECK(strncmp(natsMsg_GetReply(m), "$JS.FC.S.", 9) == 0, "fc reply %s",
			         natsMsg_GetReply(m));
			fc = strdup(natsMsg_GetReply(m));
			IT_CHECK(got * SZ > (1 << 20) / 2 && got * SZ <= (1 << 20) + 2 * SZ,
			         "flow control request after %d messages", got);
		} else {
			got++;
		}
		natsMsg_Destroy(m);
	}
	IT_CHECK(fc != NULL, "a flow control request came");
	IT_CHECK(got < N && got * SZ >= (2 << 20) - 2 * SZ, "stalled after %d messages", got);
	IT_OK(natsConnection_PublishString(nc, fc, ""));
	free(fc);
	fc = NULL;
	while (got < N) {
		natsMsg *m = jsc_next(dlv, 3000);
		const char *st = jsc_status(m);
		if (st && natsMsg_GetReply(m))
			IT_OK(natsConnection_PublishString(nc, natsMsg_GetReply(m), ""));
		else if (!st)
			got++;
		natsMsg_Destroy(m);
	}
	IT_EQ_INT(got, N);
	free(big);
	natsSubscription_Destroy(dlv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

struct qcount {
	pthread_mutex_t mu;
	int n[2];
	int seen[64];
};
struct qarg {
	struct qcount *q;
	int who;
};

static void on_q(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
	struct qarg *a = arg;
	int v = atoi(natsMsg_GetData(m));
	pthread_mutex_lock(&a->q->mu);
	a->q->n[a->who]++;
	if (v >= 0 && v < 64)
		a->q->seen[v]++;
	pthread_mutex_unlock(&a->q->mu);
	natsMsg_Ack(m, NULL);
	natsMsg_Destroy(m);
}

/* A push consumer with deliver_group: each message to one member. */
static void test_queue_group(void)
{
	jsCtx *js;
	natsConnection *nc = setup(&js);
	struct qcount q = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct qarg a0 = { &q, 0 }, a1 = { &q, 1 };
	jsSubOptions so;
	IT_OK(jsSubOptions_Init(&so));
	so.Queue = "workers";
	so.Config.Durable = "workers";
	natsSubscription *s0 = NULL, *s1 = NULL;
	jsErrCode ec = 0;
	IT_OK(js_Subscribe(&s0, js, "S.q", on_q, &a0, NULL, &so, &ec));
	IT_OK(js_Subscribe(&s1, js, "S.q", on_q, &a1, NULL, &so, &ec));
	json_t *r = jsc_info(nc, "S", "workers");
	IT_EQ_STR(jt_str(r, "config.deliver_group"), "workers");
	json_decref(r);
	enum { N = 40 };
	for (int i = 0; i < N; i++) {
		char d[8];
		snprintf(d, sizeof d, "%d", i);
		jsc_pub(js, "S.q", d);
	}
	int64_t deadline = it_now_ms() + 5000;
	for (;;) {
		pthread_mutex_lock(&q.mu);
		int total = q.n[0] + q.n[1];
		pthread_mutex_unlock(&q.mu);
		if (total >= N || it_now_ms() > deadline)
			break;
		it_sleep_ms(20);
	}
	it_sleep_ms(200);
	pthread_mutex_lock(&q.mu);
	IT_EQ_INT(q.n[0] + q.n[1], N);
	IT_CHECK(q.n[0] > 0 && q.n[1] > 0, "both members got some (%d, %d)", q.n[0], q.n[1]);
	for (int i = 0; i < N; i++)
		IT_EQ_INT(q.seen[i], 1);
	pthread_mutex_unlock(&q.mu);
	natsSubscription_Destroy(s0);
	natsSubscription_Destroy(s1);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* The ordered consumer as libnats creates it (ephemeral, ack none, flow
 * control, heartbeats, memory storage, one replica): all messages, in
 * order, on a subscription that never acks. */
static void test_ordered_consumer(void)
{
	jsCtx *js;
	natsConnection *nc = setup(&js);
	for (int i = 0; i < 5; i++) {
		char d[8];
		snprintf(d, sizeof d, "o%d", i);
		jsc_pub(js, "S.o", d);
	}
	jsSubOptions so;
	IT_OK(jsSubOptions_Init(&so));
	so.Ordered = true;
	natsSubscription *sub = NULL;
	jsErrCode ec = 0;
	IT_OK(js_SubscribeSync(&sub, js, "S.o", NULL, &so, &ec));
	for (int i = 0; i < 10; i++) {
		if (i == 5) {
			for (int k = 5; k < 10; k++) {
				char d[8];
				snprintf(d, sizeof d, "o%d", k);
				jsc_pub(js, "S.o", d);
			}
		}
		char d[8];
		snprintf(d, sizeof d, "o%d", i);
		natsMsg *m = NULL;
		IT_OK(natsSubscription_NextMsg(&m, sub, 3000));
		IT_EQ_INT(natsMsg_GetDataLength(m), (int)strlen(d));
		IT_CHECK(memcmp(natsMsg_GetData(m), d, strlen(d)) == 0, "message %d in order", i);
		jsMsgMetaData *md = jsc_meta(m);
		IT_EQ_INT(md->Sequence.Consumer, i + 1);
		jsMsgMetaData_Destroy(md);
		natsMsg_Destroy(m);
	}
	json_t *r = jt_api(nc, "$JS.API.CONSUMER.LIST.S", NULL);
	json_t *c = json_array_get(jt_get(r, "consumers"), 0);
	IT_CHECK(c != NULL, "the ordered consumer exists");
	IT_EQ_STR(jt_str(c, "config.ack_policy"), "none");
	IT_CHECK(json_is_true(jt_get(c, "config.flow_control")), "flow control");
	IT_CHECK(json_is_true(jt_get(c, "config.mem_storage")), "memory storage");
	IT_EQ_INT(jt_int(c, "config.num_replicas"), 1);
	IT_EQ_INT(jt_int(c, "config.max_deliver"), 1);
	IT_CHECK(jt_int(c, "config.idle_heartbeat") > 0, "heartbeats");
	IT_EQ_INT(jt_int(c, "delivered.consumer_seq"), 10);
	IT_EQ_INT(jt_int(c, "ack_floor.consumer_seq"), 10);
	json_decref(r);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* An ordered consumer through more than the flow control window: libnats
 * answers the flow control requests itself and gets everything in order. */
static void test_ordered_consumer_flow_control(void)
{
	jsCtx *js;
	natsConnection *nc = setup(&js);
	enum { N = 64, SZ = 64 * 1024 };
	char *big = malloc(SZ + 1);
	for (int i = 0; i < N; i++) {
		memset(big, 'a' + i % 26, SZ);
		big[SZ] = '\0';
		snprintf(big, 8, "%06d", i);
		big[6] = '-';
		jsc_pub(js, "S.big", big);
	}
	jsSubOptions so;
	IT_OK(jsSubOptions_Init(&so));
	so.Ordered = true;
	natsSubscription *sub = NULL;
	jsErrCode ec = 0;
	IT_OK(js_SubscribeSync(&sub, js, "S.big", NULL, &so, &ec));
	IT_OK(natsSubscription_SetPendingLimits(sub, -1, -1));
	for (int i = 0; i < N; i++) {
		natsMsg *m = NULL;
		IT_OK(natsSubscription_NextMsg(&m, sub, 5000));
		IT_EQ_INT(natsMsg_GetDataLength(m), SZ);
		IT_EQ_INT(atoi(natsMsg_GetData(m)), i);
		natsMsg_Destroy(m);
	}
	free(big);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* Ephemerals go after inactive_threshold without interest (push: no
 * subscriber on the deliver subject; pull: no request), not while used. */
static void test_ephemeral_inactive(void)
{
	jsCtx *js;
	natsConnection *nc = setup(&js);
	natsSubscription *dlv = jsc_sub(nc, "dlv.keep");
	json_t *r = jsc_create(nc, "$JS.API.CONSUMER.CREATE.S.KEEP",
	                       "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"dlv.keep\","
	                       "\"inactive_threshold\":500000000}}");
	json_decref(r);
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.CREATE.S.GONE",
	                       "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"dlv.nobody\","
	                       "\"inactive_threshold\":500000000}}"));
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.CREATE.S.PULLGONE",
	                       "{\"stream_name\":\"S\",\"config\":{\"ack_policy\":\"explicit\","
	                       "\"inactive_threshold\":500000000}}"));
	r = jt_api(nc, "$JS.API.CONSUMER.NAMES.S", NULL);
	IT_EQ_INT(jt_int(r, "total"), 3);
	json_decref(r);
	int64_t deadline = it_now_ms() + 4000;
	long long total = 3;
	while (it_now_ms() < deadline) {
		r = jt_api(nc, "$JS.API.CONSUMER.NAMES.S", NULL);
		total = jt_int(r, "total");
		json_decref(r);
		if (total == 1)
			break;
		it_sleep_ms(100);
	}
	IT_EQ_INT(total, 1);
	r = jsc_info(nc, "S", "KEEP");
	json_decref(r);
	/* and the survivor goes once its subscriber leaves */
	natsSubscription_Unsubscribe(dlv);
	natsSubscription_Destroy(dlv);
	deadline = it_now_ms() + 4000;
	while (it_now_ms() < deadline) {
		r = jt_api(nc, "$JS.API.CONSUMER.NAMES.S", NULL);
		total = jt_int(r, "total");
		json_decref(r);
		if (total == 0)
			break;
		it_sleep_ms(100);
	}
	IT_EQ_INT(total, 0);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* A push consumer with acks: an unacked delivery comes again after
 * ack_wait, an update of the deliver subject moves delivery there. */
static void test_push_redelivery_and_rebind(void)
{
	jsCtx *js;
	natsConnection *nc = setup(&js);
	natsSubscription *d1 = jsc_sub(nc, "dlv.one");
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.R",
	                       "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"R\","
	                       "\"deliver_subject\":\"dlv.one\",\"ack_policy\":\"explicit\","
	                       "\"ack_wait\":400000000}}"));
	jsc_pub(js, "S.r", "r1");
	natsMsg_Destroy(jsc_expect_data(d1, 2000, "r1"));
	natsMsg *m = jsc_expect_data(d1, 2000, "r1");   /* after ack_wait */
	jsMsgMetaData *md = jsc_meta(m);
	IT_EQ_INT(md->NumDelivered, 2);
	jsMsgMetaData_Destroy(md);
	natsMsg_Destroy(m);
	natsSubscription_Unsubscribe(d1);
	natsSubscription_Destroy(d1);
	/* not bound any more: the deliver subject may change */
	natsSubscription *d2 = jsc_sub(nc, "dlv.two");
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.R",
	                       "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"R\","
	                       "\"deliver_subject\":\"dlv.two\",\"ack_policy\":\"explicit\","
	                       "\"ack_wait\":400000000}}"));
	m = jsc_expect_data(d2, 3000, "r1");   /* still unacked: redelivered there */
	jsc_ack_body(nc, m, "+ACK");
	jsc_pub(js, "S.r", "r2");
	m = jsc_expect_data(d2, 2000, "r2");
	jsc_ack_body(nc, m, "+ACK");
	json_t *r = jsc_info(nc, "S", "R");
	IT_EQ_INT(jt_int(r, "num_ack_pending"), 0);
	IT_EQ_INT(jt_int(r, "num_redelivered"), 0);
	IT_EQ_STR(jt_str(r, "config.deliver_subject"), "dlv.two");
	json_decref(r);
	natsSubscription_Destroy(d2);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* headers_only: the headers, Nats-Msg-Size, no body. */
static void test_headers_only(void)
{
	jsCtx *js;
	natsConnection *nc = setup(&js);
	natsSubscription *dlv = jsc_sub(nc, "dlv.ho");
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.CREATE.S",
	                       "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"dlv.ho\","
	                       "\"headers_only\":true}}"));
	natsMsg *m = NULL;
	IT_OK(natsMsg_Create(&m, "S.h", NULL, "hello", 5));
	IT_OK(natsMsgHeader_Set(m, "A", "b"));
	jsErrCode ec = 0;
	IT_OK(js_PublishMsg(NULL, js, m, NULL, &ec));
	natsMsg_Destroy(m);
	jsc_pub(js, "S.h", "plain!");
	m = jsc_next(dlv, 2000);
	IT_EQ_INT(natsMsg_GetDataLength(m), 0);
	IT_EQ_STR(jsc_hdr(m, "A"), "b");
	IT_EQ_STR(jsc_hdr(m, "Nats-Msg-Size"), "5");
	natsMsg_Destroy(m);
	m = jsc_next(dlv, 2000);
	IT_EQ_INT(natsMsg_GetDataLength(m), 0);
	IT_EQ_STR(jsc_hdr(m, "Nats-Msg-Size"), "6");
	natsMsg_Destroy(m);
	natsSubscription_Destroy(dlv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* replay_policy original: deliveries keep the stored messages' spacing. */
static void test_replay_original(void)
{
	jsCtx *js;
	natsConnection *nc = setup(&js);
	jsc_pub(js, "S.r", "1");
	it_sleep_ms(300);
	jsc_pub(js, "S.r", "2");
	it_sleep_ms(300);
	jsc_pub(js, "S.r", "3");
	natsSubscription *dlv = jsc_sub(nc, "dlv.replay");
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.CREATE.S",
	                       "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"dlv.replay\","
	                       "\"replay_policy\":\"original\"}}"));
	natsMsg_Destroy(jsc_expect_data(dlv, 2000, "1"));
	int64_t t0 = it_now_ms();
	natsMsg_Destroy(jsc_expect_data(dlv, 2000, "2"));
	natsMsg_Destroy(jsc_expect_data(dlv, 2000, "3"));
	int64_t dt = it_now_ms() - t0;
	IT_CHECK(dt >= 450 && dt < 1500, "replayed over %lld ms", (long long)dt);
	jsc_pub(js, "S.r", "4");   /* caught up: live messages at once */
	t0 = it_now_ms();
	natsMsg_Destroy(jsc_expect_data(dlv, 2000, "4"));
	IT_CHECK(it_now_ms() - t0 < 200, "live delivery");
	natsSubscription_Destroy(dlv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* An ephemeral without an inactive_threshold goes 5 s (plus nats-server's
 * jitter of up to 1 s) after losing its subscriber. */
static void test_ephemeral_default_threshold(void)
{
	jsCtx *js;
	natsConnection *nc = setup(&js);
	json_t *r = jsc_create(nc, "$JS.API.CONSUMER.CREATE.S",
	                       "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"dlv.none\"}}");
	IT_EQ_INT(jt_int(r, "config.inactive_threshold"), 5000000000LL);
	json_decref(r);
	it_sleep_ms(4000);
	r = jt_api(nc, "$JS.API.CONSUMER.NAMES.S", NULL);
	IT_EQ_INT(jt_int(r, "total"), 1);
	json_decref(r);
	int64_t deadline = it_now_ms() + 4000;
	long long total = 1;
	while (total && it_now_ms() < deadline) {
		it_sleep_ms(100);
		r = jt_api(nc, "$JS.API.CONSUMER.NAMES.S", NULL);
		total = jt_int(r, "total");
		json_decref(r);
	}
	IT_EQ_INT(total, 0);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* A bound push consumer's deliver subject can not be taken over. */
static void test_bound_push_update(void)
{
	jsCtx *js;
	natsConnection *nc = setup(&js);
	natsSubscription *d = jsc_sub(nc, "dlv.bound");
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.B",
	                       "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"B\","
	                       "\"deliver_subject\":\"dlv.bound\"}}"));
	json_t *r = jt_api(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.B",
	                   "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"B\","
	                   "\"deliver_subject\":\"dlv.other\"}}");
	jt_expect_err(r, "consumer_create_response", 10013, "consumer name already in use");
	json_decref(r);
	natsSubscription_Destroy(d);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

IT_MAIN(IT_TEST(test_headers_only), IT_TEST(test_replay_original),
        IT_TEST_T(test_ephemeral_default_threshold, 30), IT_TEST(test_bound_push_update),
        IT_TEST(test_push_delivery_and_heartbeat), IT_TEST(test_push_waits_for_interest),
        IT_TEST(test_flow_control), IT_TEST(test_queue_group), IT_TEST(test_ordered_consumer),
        IT_TEST(test_ordered_consumer_flow_control),
        IT_TEST(test_ephemeral_inactive), IT_TEST(test_push_redelivery_and_rebind))
