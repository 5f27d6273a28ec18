/*
 * test_js_seed.c - the seed programs' consumer flows, as libnats stands in
 * for nats.go (shared/seed/000_*.txt):
 *   (1) stream ORDERS on ORDERS.*, pull durable DISPATCH on
 *       ORDERS.processed (js_PullSubscribe), Fetch(10), republish
 *       "<order>,completed" to ORDERS.processed and Ack each message; the
 *       ack floor follows;
 *   (4) the mixed push/pull order flow: a push durable on ORDERS.received
 *       (js_Subscribe) hands each order on to ORDERS.processed, the pull
 *       durable DISPATCH completes it on ORDERS.completed.
 * Every case also runs against nats-server.
 */
#include <pthread.h>

#include "jsc_it.h"

static void orders_stream(jsCtx *js)
{
	jsStreamConfig sc;
	jsStreamConfig_Init(&sc);
	sc.Name = "ORDERS";
	const char *subjects[] = { "ORDERS.*" };
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	jsErrCode ec = 0;
	IT_OK(js_AddStream(NULL, js, &sc, NULL, &ec));
}

/* Seed flow 1, two rounds of the Go program's loop. */
static void test_seed_dispatch(void)
{
	jsCtx *js;
	natsConnection *nc = jsc_start(&js);
	orders_stream(js);
	for (int i = 0; i < 5; i++) {
		char d[16];
		snprintf(d, sizeof d, "%d", 1001 + i);
		jsc_pub(js, "ORDERS.processed", d);
	}
	natsSubscription *sub = NULL;
	jsErrCode ec = 0;
	IT_OK(js_PullSubscribe(&sub, js, "ORDERS.processed", "DISPATCH", NULL, NULL, &ec));

	/* the consumer as the seed creates it */
	json_t *r = jsc_info(nc, "ORDERS", "DISPATCH");
	IT_EQ_STR(jt_str(r, "config.durable_name"), "DISPATCH");
	IT_EQ_STR(jt_str(r, "config.filter_subject"), "ORDERS.processed");
	IT_EQ_STR(jt_str(r, "config.ack_policy"), "explicit");
	IT_EQ_INT(jt_int(r, "config.ack_wait"), 30000000000LL);
	IT_EQ_INT(jt_int(r, "config.max_deliver"), -1);
	IT_EQ_INT(jt_int(r, "config.max_waiting"), 512);
	IT_EQ_INT(jt_int(r, "num_pending"), 5);
	json_decref(r);

	const char *want[2][5] = {
		{ "1001", "1002", "1003", "1004", "1005" },
		{ "1001,completed", "1002,completed", "1003,completed", "1004,completed",
		  "1005,completed" },
	};
	for (int round = 0; round < 2; round++) {
		natsMsgList l = { 0 };
		IT_OK(natsSubscription_Fetch(&l, sub, 10, 5000, &ec));
		IT_EQ_INT(l.Count, 5);
		for (int i = 0; i < l.Count; i++) {
			natsMsg *m = l.Msgs[i];
			char order[64];
			snprintf(order, sizeof order, "%.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
			IT_EQ_STR(order, want[round][i]);
			IT_EQ_STR(natsMsg_GetSubject(m), "ORDERS.processed");
			char *dot = strchr(order, '.');   /* the Go program splits on "." */
			if (dot)
				*dot = '\0';
			char out[80];
			snprintf(out, sizeof out, "%s,completed", order);
			jsc_pub(js, "ORDERS.processed", out);
			IT_OK(natsMsg_Ack(m, NULL));
		}
		natsMsgList_Destroy(&l);
		/* delivered = 5 per round; everything acked; what was republished
		 * this round is pending (the fetch ended at the stream's end) */
		long long n = 5 * (round + 1);
		jsc_expect_counts(nc, "ORDERS", "DISPATCH", .dc = n, .ds = n, .fc = n, .fs = n,
		                  .pending = 5);
	}
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* ---- seed flow 4: push on ORDERS.received, pull on ORDERS.processed ---- */

struct flow {
	jsCtx *js;
	pthread_mutex_t mu;
	int received;
	bool failed;
};

static void on_received(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
	struct flow *f = arg;
	char out[64];
	snprintf(out, sizeof out, "%.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
	jsErrCode ec = 0;
	natsStatus s = js_Publish(NULL, f->js, "ORDERS.processed", out, (int)strlen(out), NULL, &ec);
	if (s == NATS_OK)
		s = natsMsg_Ack(m, NULL);
	pthread_mutex_lock(&f->mu);
	if (s != NATS_OK)
		f->failed = true;
	f->received++;
	pthread_mutex_unlock(&f->mu);
	natsMsg_Destroy(m);
}

static void test_seed_mixed_push_pull(void)
{
	jsCtx *js;
	natsConnection *nc = jsc_start(&js);
	orders_stream(js);
	struct flow f = { .js = js };
	pthread_mutex_init(&f.mu, NULL);

	jsSubOptions so;
	IT_OK(jsSubOptions_Init(&so));
	so.Config.Durable = "RECEIVER";
	so.Config.AckPolicy = js_AckExplicit;
	so.ManualAck = true;
	natsSubscription *push = NULL;
	jsErrCode ec = 0;
	IT_OK(js_Subscribe(&push, js, "ORDERS.received", on_received, &f, NULL, &so, &ec));
	natsSubscription *pull = NULL;
	IT_OK(js_PullSubscribe(&pull, js, "ORDERS.processed", "DISPATCH", NULL, NULL, &ec));

	enum { N = 20 };
	for (int i = 0; i < N; i++) {
		char d[16];
		snprintf(d, sizeof d, "%d", 2001 + i);
		jsc_pub(js, "ORDERS.received", d);
	}
	int done = 0;
	int64_t deadline = it_now_ms() + 15000;
	while (done < N && it_now_ms() < deadline) {
		natsMsgList l = { 0 };
		natsStatus s = natsSubscription_Fetch(&l, pull, 10, 1000, &ec);
		if (s == NATS_TIMEOUT)
			continue;
		IT_OK(s);
		for (int i = 0; i < l.Count; i++) {
			natsMsg *m = l.Msgs[i];
			char out[80];
			snprintf(out, sizeof out, "%.*s,completed", natsMsg_GetDataLength(m),
			         natsMsg_GetData(m));
			jsc_pub(js, "ORDERS.completed", out);
			IT_OK(natsMsg_AckSync(m, NULL, &ec));
			done++;
		}
		natsMsgList_Destroy(&l);
	}
	IT_EQ_INT(done, N);
	pthread_mutex_lock(&f.mu);
	IT_CHECK(!f.failed, "push handler failed to republish or ack");
	IT_EQ_INT(f.received, N);
	pthread_mutex_unlock(&f.mu);

	/* every order completed exactly once, in order */
	natsSubscription *check = NULL;
	IT_OK(js_PullSubscribe(&check, js, "ORDERS.completed", "CHECK", NULL, NULL, &ec));
	natsMsgList l = { 0 };
	IT_OK(natsSubscription_Fetch(&l, check, N, 5000, &ec));
	IT_EQ_INT(l.Count, N);
	for (int i = 0; i < N; i++) {
		char w[32];
		snprintf(w, sizeof w, "%d,completed", 2001 + i);
		IT_EQ_INT(natsMsg_GetDataLength(l.Msgs[i]), (int)strlen(w));
		IT_CHECK(memcmp(natsMsg_GetData(l.Msgs[i]), w, strlen(w)) == 0, "order %d", i);
	}
	natsMsgList_Destroy(&l);

	/* both consumers delivered and acked everything */
	json_t *r = jsc_info(nc, "ORDERS", "RECEIVER");
	IT_EQ_INT(jt_int(r, "delivered.consumer_seq"), N);
	IT_EQ_INT(jt_int(r, "ack_floor.consumer_seq"), N);
	IT_EQ_INT(jt_int(r, "num_ack_pending"), 0);
	IT_EQ_INT(jt_int(r, "num_pending"), 0);
	IT_CHECK(json_is_true(jt_get(r, "push_bound")), "push consumer bound");
	json_decref(r);
	r = jsc_info(nc, "ORDERS", "DISPATCH");
	IT_EQ_INT(jt_int(r, "delivered.consumer_seq"), N);
	IT_EQ_INT(jt_int(r, "ack_floor.consumer_seq"), N);
	IT_EQ_INT(jt_int(r, "ack_floor.stream_seq"), jt_int(r, "delivered.stream_seq"));
	IT_EQ_INT(jt_int(r, "num_ack_pending"), 0);
	IT_EQ_INT(jt_int(r, "num_redelivered"), 0);
	IT_EQ_INT(jt_int(r, "num_pending"), 0);
	json_decref(r);

	natsSubscription_Destroy(check);
	natsSubscription_Destroy(pull);
	natsSubscription_Unsubscribe(push);
	natsSubscription_Destroy(push);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	pthread_mutex_destroy(&f.mu);
}

IT_MAIN(IT_TEST(test_seed_dispatch), IT_TEST(test_seed_mixed_push_pull))
