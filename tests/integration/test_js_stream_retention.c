/*
 * test_js_stream_retention.c - what a stream does with its consumers:
 * workqueue removes a message when it is acked and enforces the workqueue
 * consumer rules; interest removes a message once every consumer whose
 * filter matches has acked it, and when the last interested consumer goes;
 * max_consumers. Pull consumers through libnats (as the seed's DISPATCH).
 * Every case also runs against nats-server.
 */
#include "js_it.h"

static const struct it_config js_cfg = { .jetstream = true };

static natsConnection *start(jsCtx **js)
{
	it_start(&js_cfg);
	natsConnection *nc = it_connect(NULL, NULL);
	*js = jt_ctx(nc);
	return nc;
}

static natsSubscription *pull(jsCtx *js, const char *subject, const char *durable)
{
	natsSubscription *sub = NULL;
	jsErrCode ec = 0;
	IT_OK(js_PullSubscribe(&sub, js, subject, durable, NULL, NULL, &ec));
	return sub;
}

/* Fetch exactly n messages and ack them (synchronously). */
static void fetch_ack(natsSubscription *sub, int n)
{
	natsMsgList l = { 0 };
	jsErrCode ec = 0;
	int got = 0;
	int64_t deadline = it_now_ms() + 5000;
	while (got < n && it_now_ms() < deadline) {
		natsStatus s = natsSubscription_Fetch(&l, sub, n - got, 2000, &ec);
		if (s == NATS_TIMEOUT)
			continue;
		IT_OK(s);
		for (int i = 0; i < l.Count; i++)
			IT_OK(natsMsg_AckSync(l.Msgs[i], NULL, &ec));
		got += l.Count;
		natsMsgList_Destroy(&l);
	}
	IT_EQ_INT(got, n);
}

static void add_consumer_expect(jsCtx *js, const char *stream, const char *durable,
                                const char *filter, jsDeliverPolicy dp, int err_code)
{
	jsConsumerConfig cc;
	jsConsumerConfig_Init(&cc);
	cc.Durable = durable;
	cc.FilterSubject = filter;
	cc.AckPolicy = js_AckExplicit;
	cc.DeliverPolicy = dp;
	jsConsumerInfo *ci = NULL;
	jsErrCode ec = 0;
	natsStatus s = js_AddConsumer(&ci, js, stream, &cc, NULL, &ec);
	if (err_code == 0) {
		IT_OK(s);
		jsConsumerInfo_Destroy(ci);
	} else {
		IT_CHECK(s != NATS_OK, "consumer %s created, expected error %d", durable, err_code);
		IT_EQ_INT(ec, err_code);
	}
}

static void test_workqueue(void)
{
	jsCtx *js;
	natsConnection *nc = start(&js);
	jt_create(nc, "WQ", "{\"name\":\"WQ\",\"subjects\":[\"wq.*\"],\"retention\":\"workqueue\"}");
	for (int i = 0; i < 3; i++) {
		jsPubAck *pa = NULL;
		jsErrCode ec = 0;
		IT_OK(js_Publish(&pa, js, "wq.a", "job", 3, NULL, &ec));
		jsPubAck_Destroy(pa);
	}
	IT_OK(js_Publish(NULL, js, "wq.b", "other", 5, NULL, NULL));
	natsSubscription *sub = pull(js, "wq.a", "WORKER");
	fetch_ack(sub, 2);
	/* acked jobs are gone, the rest stays */
	int64_t deadline = it_now_ms() + 2000;
	while (jt_state(nc, "WQ", "messages") != 2 && it_now_ms() < deadline)
		it_sleep_ms(20);
	IT_EQ_INT(jt_state(nc, "WQ", "messages"), 2);
	IT_EQ_INT(jt_state(nc, "WQ", "first_seq"), 3);
	IT_EQ_INT(jt_state(nc, "WQ", "consumer_count"), 1);

	/* the workqueue consumer rules */
	add_consumer_expect(js, "WQ", "OVERLAP", "wq.*", js_DeliverAll, 10100);
	add_consumer_expect(js, "WQ", "LAST", "wq.b", js_DeliverLast, 10101);
	add_consumer_expect(js, "WQ", "B", "wq.b", js_DeliverAll, 0);
	add_consumer_expect(js, "WQ", "ALL1", NULL, js_DeliverAll, 10099);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_workqueue_unfiltered(void)
{
	jsCtx *js;
	natsConnection *nc = start(&js);
	jt_create(nc, "WU", "{\"name\":\"WU\",\"subjects\":[\"wu.>\"],\"retention\":\"workqueue\"}");
	add_consumer_expect(js, "WU", "ONE", NULL, js_DeliverAll, 0);
	add_consumer_expect(js, "WU", "TWO", NULL, js_DeliverAll, 10099);
	add_consumer_expect(js, "WU", "THREE", "wu.x", js_DeliverAll, 10100);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* jetstream-api.md §11, as observed: consumers on ">" and "in2.b". */
static void test_interest(void)
{
	jsCtx *js;
	natsConnection *nc = start(&js);
	jt_create(nc, "IN", "{\"name\":\"IN\",\"subjects\":[\"in2.*\"],\"retention\":\"interest\"}");
	natsSubscription *all = pull(js, "in2.*", "ALL");
	natsSubscription *onlyb = pull(js, "in2.b", "ONLYB");
	IT_OK(js_Publish(NULL, js, "in2.a", "a", 1, NULL, NULL));
	IT_OK(js_Publish(NULL, js, "in2.b", "b", 1, NULL, NULL));
	IT_EQ_INT(jt_state(nc, "IN", "messages"), 2);
	fetch_ack(all, 2);
	int64_t deadline = it_now_ms() + 2000;
	while (jt_state(nc, "IN", "messages") != 1 && it_now_ms() < deadline)
		it_sleep_ms(20);
	/* in2.a had only ALL interested: gone; in2.b waits for ONLYB */
	IT_EQ_INT(jt_state(nc, "IN", "messages"), 1);
	IT_EQ_INT(jt_state(nc, "IN", "first_seq"), 2);
	fetch_ack(onlyb, 1);
	deadline = it_now_ms() + 2000;
	while (jt_state(nc, "IN", "messages") != 0 && it_now_ms() < deadline)
		it_sleep_ms(20);
	IT_EQ_INT(jt_state(nc, "IN", "messages"), 0);

	/* a message only a deleted consumer still wanted goes with it */
	IT_OK(js_Publish(NULL, js, "in2.b", "b2", 2, NULL, NULL));
	fetch_ack(all, 1);
	IT_EQ_INT(jt_state(nc, "IN", "messages"), 1);
	jsErrCode ec = 0;
	IT_OK(js_DeleteConsumer(js, "IN", "ONLYB", NULL, &ec));
	deadline = it_now_ms() + 2000;
	while (jt_state(nc, "IN", "messages") != 0 && it_now_ms() < deadline)
		it_sleep_ms(20);
	IT_EQ_INT(jt_state(nc, "IN", "messages"), 0);
	natsSubscription_Destroy(all);
	natsSubscription_Destroy(onlyb);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_max_consumers(void)
{
	jsCtx *js;
	natsConnection *nc = start(&js);
	jt_create(nc, "MC", "{\"name\":\"MC\",\"subjects\":[\"mc\"],\"max_consumers\":1}");
	add_consumer_expect(js, "MC", "C1", NULL, js_DeliverAll, 0);
	add_consumer_expect(js, "MC", "C2", NULL, js_DeliverAll, 10026);
	json_t *r = jt_api(nc, "$JS.API.INFO", NULL);
	IT_EQ_INT(jt_int(r, "consumers"), 1);
	json_decref(r);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

IT_MAIN(
	IT_TEST(test_workqueue),
	IT_TEST(test_workqueue_unfiltered),
	IT_TEST(test_interest),
	IT_TEST(test_max_consumers),
)
