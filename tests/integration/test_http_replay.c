/*
 * test_http_replay.c - GET /v1/streams/{s}/events: ordered replay of a
 * stream over SSE (id = stream sequence), live messages after it, resume
 * with Last-Event-ID across a reconnect (no gap, no duplicate), the reset
 * event when the resume point was purged, deliver= and filter=, and the
 * error answers.
 */
#include "http_it.h"
#include "js_it.h"

#define EVENTS "/v1/streams/ORDERS/events"

static void setup(void)
{
	struct it_config cfg = { .jetstream = true };
	ht_start(&cfg, NULL);
	json_decref(ht_call("PUT", "/v1/streams/ORDERS",
	                    "{\"subjects\":[\"orders.>\"],\"storage\":\"memory\"}", 201));
}

static void publish(const char *subj, const char *data)
{
	struct ht_resp r;
	ht_reqf(&r, "POST", data, NULL, "/v1/publish/%s", subj);
	HT_STATUS(&r, 200);
	ht_free(&r);
}

static void publish_n(int n, const char *subj)
{
	for (int i = 0; i < n; i++) {
		char d[32];
		snprintf(d, sizeof d, "m%d", i);
		publish(subj, d);
	}
}

/* The stream's ids must be exactly from..to. */
static void expect_ids(struct ht_sse *s, long long from, long long to)
{
	long long ids[256];
	int n = ht_sse_ids(s, ids, 256);
	IT_EQ_INT(n, to - from + 1);
	for (int i = 0; i < n; i++)
		IT_EQ_INT(ids[i], from + i);
}

static void replay_and_resume(void)
{
	setup();
	publish_n(5, "orders.a");
	struct ht_sse *s = ht_sse_open(EVENTS, NULL);
	ht_sse_wait(s, 5, 3000);
	json_t *e = ht_sse_event(s, 0);
	IT_EQ_INT(jt_int(e, "seq"), 1);
	IT_EQ_STR(jt_str(e, "subject"), "orders.a");
	IT_EQ_STR(jt_str(e, "data"), "bTA=");
	IT_CHECK(json_object_get(e, "ack") == NULL, "replay is ack-less");
	json_decref(e);
	/* live messages follow */
	publish_n(2, "orders.b");
	ht_sse_wait(s, 7, 3000);
	expect_ids(s, 1, 7);
	ht_sse_close(s);
	/* while away */
	publish_n(3, "orders.c");
	s = ht_sse_open(EVENTS "?deliver=all", "Last-Event-ID: 7");
	ht_sse_wait(s, 3, 3000);
	publish("orders.d", "live");
	ht_sse_wait(s, 4, 3000);
	it_sleep_ms(100);
	expect_ids(s, 8, 11);
	IT_CHECK(strstr(s->buf, "event: reset") == NULL, "unexpected reset: %s", s->buf);
	ht_sse_close(s);
	/* the consumer-less replay left no consumer behind */
	json_t *o = ht_call("GET", "/v1/streams/ORDERS/consumers", NULL, 200);
	IT_EQ_INT(json_array_size(json_object_get(o, "consumers")), 0);
	json_decref(o);
}

static void reset_after_purge(void)
{
	setup();
	publish_n(5, "orders.a");
	json_decref(ht_call("POST", "/v1/streams/ORDERS/purge", NULL, 200));
	publish_n(2, "orders.b");
	struct ht_sse *s = ht_sse_open(EVENTS, "Last-Event-ID: 3");
	ht_sse_wait(s, 2, 3000);
	ht_sse_wait_str(s, "event: reset\ndata: {\"first_seq\":6}\n\n", 1000);
	const char *reset = strstr(s->buf, "event: reset");
	const char *first = strstr(s->buf, "event: msg");
	IT_CHECK(reset && first && reset < first, "reset comes first: %s", s->buf);
	expect_ids(s, 6, 7);
	ht_sse_close(s);
	/* seq:N before the first message: the same */
	s = ht_sse_open(EVENTS "?deliver=seq:2", NULL);
	ht_sse_wait(s, 2, 3000);
	ht_sse_wait_str(s, "event: reset\ndata: {\"first_seq\":6}", 1000);
	ht_sse_close(s);
	/* resuming at the end: nothing, no reset, then live ones */
	s = ht_sse_open(EVENTS, "Last-Event-ID: 7");
	publish("orders.c", "x");
	ht_sse_wait(s, 1, 3000);
	expect_ids(s, 8, 8);
	IT_CHECK(strstr(s->buf, "event: reset") == NULL, "unexpected reset: %s", s->buf);
	ht_sse_close(s);
}

static void deliver_and_filter(void)
{
	setup();
	publish("orders.eu", "1");
	publish("orders.us", "2");
	publish("orders.eu", "3");
	publish("orders.us", "4");
	struct ht_sse *s = ht_sse_open(EVENTS "?deliver=new", NULL);
	publish("orders.eu", "5");
	ht_sse_wait(s, 1, 3000);
	expect_ids(s, 5, 5);
	ht_sse_close(s);
	s = ht_sse_open(EVENTS "?deliver=last", NULL);
	ht_sse_wait(s, 1, 3000);
	expect_ids(s, 5, 5);
	ht_sse_close(s);
	s = ht_sse_open(EVENTS "?deliver=last&filter=orders.us", NULL);
	ht_sse_wait(s, 1, 3000);
	expect_ids(s, 4, 4);
	ht_sse_close(s);
	s = ht_sse_open(EVENTS "?deliver=last_per_subject", NULL);
	ht_sse_wait(s, 2, 3000);
	expect_ids(s, 4, 5);
	ht_sse_close(s);
	s = ht_sse_open(EVENTS "?deliver=seq:3", NULL);
	ht_sse_wait(s, 3, 3000);
	expect_ids(s, 3, 5);
	ht_sse_close(s);
	s = ht_sse_open(EVENTS "?filter=orders.eu", NULL);
	ht_sse_wait(s, 3, 3000);
	publish("orders.us", "6");
	publish("orders.eu", "7");
	ht_sse_wait(s, 4, 3000);
	long long ids[8];
	IT_EQ_INT(ht_sse_ids(s, ids, 8), 4);
	IT_EQ_INT(ids[0], 1);
	IT_EQ_INT(ids[1], 3);
	IT_EQ_INT(ids[2], 5);
	IT_EQ_INT(ids[3], 7);
	ht_sse_close(s);
	/* time: from a moment between two messages */
	json_t *m = ht_call("GET", "/v1/streams/ORDERS/messages/7", NULL, 200);
	char path[256];
	snprintf(path, sizeof path, EVENTS "?deliver=time:%s", jt_str(m, "time"));
	json_decref(m);
	s = ht_sse_open(path, NULL);
	ht_sse_wait(s, 1, 3000);
	it_sleep_ms(50);
	expect_ids(s, 7, 7);
	ht_sse_close(s);
	/* errors */
	static const char *bad[] = {
		EVENTS "?deliver=sometimes", EVENTS "?deliver=seq:x", EVENTS "?deliver=time:yesterday",
		EVENTS "?filter=orders..x", EVENTS "?filter=other.x",
	};
	struct ht_resp r;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ht_req(&r, "GET", bad[i], NULL, 0, NULL);
		HT_ERROR(&r, 400, NULL);
		ht_free(&r);
	}
	const char *lei[] = { "Last-Event-ID: abc", NULL };
	ht_req(&r, "GET", EVENTS, NULL, 0, lei);
	HT_ERROR(&r, 400, "Last-Event-ID");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/streams/NOPE/events", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	IT_EQ_INT(ht_err_code(&r), 10059);
	ht_free(&r);
	/* the stream deleted under a replay: it ends */
	s = ht_sse_open(EVENTS, NULL);
	ht_sse_wait(s, 7, 3000);
	json_decref(ht_call("DELETE", "/v1/streams/ORDERS", NULL, 200));
	ht_sse_close(s);
}

/* A replay larger than the SSE buffer is paced by the reader, not cut. */
static void long_replay_not_cut(void)
{
	struct it_config cfg = { .jetstream = true };
	ht_start(&cfg, "\"sse_max_buffer\": 65536");
	json_decref(ht_call("PUT", "/v1/streams/BIG",
	                    "{\"subjects\":[\"big\"],\"storage\":\"memory\"}", 201));
	natsConnection *nc = it_connect(NULL, NULL);
	char data[4096];
	memset(data, 'x', sizeof data);
	for (int i = 0; i < 200; i++)
		IT_OK(natsConnection_Publish(nc, "big", data, sizeof data));
	IT_OK(natsConnection_Flush(nc));
	json_t *o = ht_call("GET", "/v1/streams/BIG", NULL, 200);
	IT_EQ_INT(jt_int(o, "state.messages"), 200);
	json_decref(o);
	struct ht_sse *s = ht_sse_open("/v1/streams/BIG/events", NULL);
	ht_sse_wait(s, 200, 10000);
	ht_sse_close(s);
	struct ht_resp r;
	ht_req(&r, "GET", "/metrics", NULL, 0, NULL);
	IT_EQ_INT(ht_metric(r.body, "junction_slow_consumers_total{adapter=\"http\"}"), 0);
	ht_free(&r);
	natsConnection_Destroy(nc);
}

IT_MAIN(IT_TEST(replay_and_resume), IT_TEST(reset_after_purge), IT_TEST(deliver_and_filter),
        IT_TEST(long_replay_not_cut))
