/*
 * test_http_fetch.c - pulling from a durable consumer over HTTP: fetch
 * (returns what is there, waits up to ?wait= when empty, an empty list is
 * 200), POST /v1/ack (ack, nak, term, progress; unknown and stale ids
 * counted), redelivery after ack_wait, the same consumer state seen and
 * changed over NATS and HTTP, and consumer events over SSE.
 */
#include "http_it.h"
#include "js_it.h"

#define FETCH "/v1/streams/ORDERS/consumers/WORK/fetch"

/* ORDERS on orders.> and a pull consumer WORK with the given ack wait. */
static void setup(const char *ack_wait)
{
	struct it_config cfg = { .jetstream = true };
	ht_start(&cfg, NULL);
	json_decref(ht_call("PUT", "/v1/streams/ORDERS",
	                    "{\"subjects\":[\"orders.>\"],\"storage\":\"memory\"}", 201));
	char body[200];
	snprintf(body, sizeof body, "{\"ack_policy\":\"explicit\",\"ack_wait\":\"%s\"}", ack_wait);
	json_decref(ht_call("PUT", "/v1/streams/ORDERS/consumers/WORK", body, 201));
}

static void publish(const char *subj, const char *data)
{
	struct ht_resp r;
	ht_reqf(&r, "POST", data, NULL, "/v1/publish/%s", subj);
	HT_STATUS(&r, 200);
	ht_free(&r);
}

static json_t *msgs_of(json_t *o)
{
	json_t *m = json_object_get(o, "messages");
	IT_CHECK(json_is_array(m), "no messages array");
	return m;
}

static json_t *info(void)
{
	return ht_call("GET", "/v1/streams/ORDERS/consumers/WORK", NULL, 200);
}

static void *publish_later(void *arg)
{
	(void)arg;
	it_sleep_ms(300);
	publish("orders.late", "late");
	return NULL;
}

static void fetch_semantics(void)
{
	setup("30s");
	/* empty, no wait: at once */
	int64_t t0 = it_now_ms();
	json_t *o = ht_call("POST", FETCH "?batch=5&wait=0", NULL, 200);
	IT_EQ_INT(json_array_size(msgs_of(o)), 0);
	IT_CHECK(it_now_ms() - t0 < 900, "no-wait fetch took %lld ms", (long long)(it_now_ms() - t0));
	json_decref(o);
	/* empty, waits for ?wait= then answers 200 [] */
	t0 = it_now_ms();
	o = ht_call("POST", FETCH "?batch=5&wait=300ms", NULL, 200);
	int64_t took = it_now_ms() - t0;
	IT_EQ_INT(json_array_size(msgs_of(o)), 0);
	IT_CHECK(took >= 280 && took < 2500, "empty fetch with wait 300ms took %lld ms",
	         (long long)took);
	json_decref(o);
	/* what is there comes at once, up to batch */
	publish("orders.a", "one");
	publish("orders.b", "two");
	publish("orders.c", "three");
	t0 = it_now_ms();
	o = ht_call("POST", FETCH "?batch=2&wait=5s", NULL, 200);
	IT_CHECK(it_now_ms() - t0 < 2000, "fetch of available messages took %lld ms",
	         (long long)(it_now_ms() - t0));
	json_t *ms = msgs_of(o);
	IT_EQ_INT(json_array_size(ms), 2);
	json_t *m0 = json_array_get(ms, 0);
	IT_EQ_STR(jt_str(m0, "subject"), "orders.a");
	IT_EQ_INT(jt_int(m0, "seq"), 1);
	IT_EQ_INT(jt_int(m0, "consumer_seq"), 1);
	IT_EQ_INT(jt_int(m0, "delivered"), 1);
	IT_EQ_INT(jt_int(m0, "pending"), 2);
	IT_EQ_STR(jt_str(m0, "data"), "b25l");
	IT_CHECK(strncmp(jt_str(m0, "ack"), "$JS.ACK.ORDERS.WORK.1.1.1.", 26) == 0, "ack %s",
	         jt_str(m0, "ack"));
	IT_CHECK(json_is_object(json_object_get(m0, "headers")), "headers");
	IT_CHECK(json_is_string(json_object_get(m0, "time")), "time");
	IT_EQ_INT(jt_int(json_array_get(ms, 1), "seq"), 2);
	json_decref(o);
	/* batch larger than what is there: the rest, without waiting */
	t0 = it_now_ms();
	o = ht_call("POST", FETCH "?batch=10&wait=5s", NULL, 200);
	IT_CHECK(it_now_ms() - t0 < 2000, "took %lld ms", (long long)(it_now_ms() - t0));
	IT_EQ_INT(json_array_size(msgs_of(o)), 1);
	IT_EQ_INT(jt_int(json_array_get(msgs_of(o), 0), "seq"), 3);
	json_decref(o);
	/* waiting: answered as soon as a message arrives */
	pthread_t th;
	pthread_create(&th, NULL, publish_later, NULL);
	t0 = it_now_ms();
	o = ht_call("POST", FETCH "?batch=10&wait=5s", NULL, 200);
	took = it_now_ms() - t0;
	pthread_join(th, NULL);
	IT_EQ_INT(json_array_size(msgs_of(o)), 1);
	IT_EQ_STR(jt_str(json_array_get(msgs_of(o), 0), "subject"), "orders.late");
	IT_CHECK(took >= 250 && took < 3000, "waiting fetch took %lld ms", (long long)took);
	json_decref(o);
	/* text on request */
	publish("orders.t", "hello");
	const char *acc[] = { "Accept: text/plain", NULL };
	struct ht_resp r;
	ht_req(&r, "POST", FETCH "?wait=0", NULL, 0, acc);
	HT_STATUS(&r, 200);
	o = ht_json(&r);
	IT_EQ_STR(jt_str(json_array_get(msgs_of(o), 0), "data_text"), "hello");
	json_decref(o);
	ht_free(&r);
	/* nothing was lost: every message is ack pending exactly once */
	o = info();
	IT_EQ_INT(jt_int(o, "num_ack_pending"), 5);
	IT_EQ_INT(jt_int(o, "num_pending"), 0);
	IT_EQ_INT(jt_int(o, "delivered.stream_seq"), 5);
	json_decref(o);
	/* bad parameters, unknown consumer or stream */
	static const char *bad[] = { "?batch=0", "?batch=abc", "?wait=forever", "?max_bytes=-1",
	                             "?batch=100000" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ht_reqf(&r, "POST", NULL, NULL, FETCH "%s", bad[i]);
		HT_ERROR(&r, 400, NULL);
		ht_free(&r);
	}
	ht_req(&r, "POST", "/v1/streams/ORDERS/consumers/NOPE/fetch?wait=0", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	IT_EQ_INT(ht_err_code(&r), 10014);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/streams/NOPE/consumers/WORK/fetch?wait=0", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	IT_EQ_INT(ht_err_code(&r), 10059);
	ht_free(&r);
}

static char *ack_of(json_t *fetched, size_t i)
{
	return strdup(jt_str(json_array_get(msgs_of(fetched), i), "ack"));
}

static void ack_body(struct ht_resp *r, const char *kind, const char *id1, const char *id2)
{
	char body[1024];
	snprintf(body, sizeof body, "{\"kind\":\"%s\",\"ack\":[\"%s\"%s%s%s]}", kind, id1,
	         id2 ? ",\"" : "", id2 ? id2 : "", id2 ? "\"" : "");
	ht_req(r, "POST", "/v1/ack", body, strlen(body), NULL);
}

static void redelivery_after_ack_wait(void)
{
	setup("1s");
	publish("orders.a", "one");
	json_t *o = ht_call("POST", FETCH "?wait=0", NULL, 200);
	IT_EQ_INT(json_array_size(msgs_of(o)), 1);
	json_decref(o);
	/* not acked: nothing more before ack_wait ... */
	o = ht_call("POST", FETCH "?wait=300ms", NULL, 200);
	IT_EQ_INT(json_array_size(msgs_of(o)), 0);
	json_decref(o);
	/* ... and the same message again after it */
	o = ht_call("POST", FETCH "?wait=3s", NULL, 200);
	IT_EQ_INT(json_array_size(msgs_of(o)), 1);
	json_t *m = json_array_get(msgs_of(o), 0);
	IT_EQ_INT(jt_int(m, "seq"), 1);
	IT_EQ_INT(jt_int(m, "delivered"), 2);
	char *id = ack_of(o, 0);
	json_decref(o);
	struct ht_resp r;
	ack_body(&r, "ack", id, NULL);
	HT_STATUS(&r, 200);
	o = ht_json(&r);
	IT_EQ_INT(jt_int(o, "acked"), 1);
	json_decref(o);
	ht_free(&r);
	free(id);
	/* acked: never again */
	it_sleep_ms(1200);
	o = ht_call("POST", FETCH "?wait=0", NULL, 200);
	IT_EQ_INT(json_array_size(msgs_of(o)), 0);
	json_decref(o);
}

static void ack_kinds_and_nats(void)
{
	setup("30s");
	natsConnection *nc = it_connect(NULL, NULL);
	for (int i = 0; i < 4; i++)
		publish("orders.x", "m");
	json_t *f = ht_call("POST", FETCH "?batch=3&wait=0", NULL, 200);
	IT_EQ_INT(json_array_size(msgs_of(f)), 3);
	char *a1 = ack_of(f, 0), *a2 = ack_of(f, 1), *a3 = ack_of(f, 2);
	json_decref(f);
	/* ack over HTTP: seen over NATS */
	struct ht_resp r;
	ack_body(&r, "ack", a1, "$JS.ACK.garbage");
	HT_STATUS(&r, 200);
	json_t *o = ht_json(&r);
	IT_EQ_INT(jt_int(o, "acked"), 1);
	IT_EQ_INT(jt_int(o, "unknown"), 1);
	json_decref(o);
	ht_free(&r);
	o = jt_api(nc, "$JS.API.CONSUMER.INFO.ORDERS.WORK", NULL);
	IT_EQ_INT(jt_int(o, "ack_floor.stream_seq"), 1);
	IT_EQ_INT(jt_int(o, "num_ack_pending"), 2);
	json_decref(o);
	/* stale: acked already */
	ack_body(&r, "ack", a1, NULL);
	o = ht_json(&r);
	IT_EQ_INT(jt_int(o, "acked"), 0);
	IT_EQ_INT(jt_int(o, "unknown"), 1);
	json_decref(o);
	ht_free(&r);
	/* ack over NATS of what HTTP fetched */
	IT_OK(natsConnection_PublishString(nc, a2, "+ACK"));
	IT_OK(natsConnection_Flush(nc));
	o = info();
	IT_EQ_INT(jt_int(o, "ack_floor.stream_seq"), 2);
	IT_EQ_INT(jt_int(o, "num_ack_pending"), 1);
	json_decref(o);
	/* term: gone for good */
	ack_body(&r, "term", a3, NULL);
	o = ht_json(&r);
	IT_EQ_INT(jt_int(o, "acked"), 1);
	json_decref(o);
	ht_free(&r);
	o = info();
	IT_EQ_INT(jt_int(o, "num_ack_pending"), 0);
	json_decref(o);
	/* fetched over NATS, acked over HTTP; nak redelivers at once */
	natsMsg *reply = NULL;
	IT_OK(natsConnection_RequestString(&reply, nc, "$JS.API.CONSUMER.MSG.NEXT.ORDERS.WORK",
	                                   "{\"batch\":1,\"no_wait\":true}", 5000));
	const char *nid = natsMsg_GetReply(reply);
	IT_CHECK(nid && strncmp(nid, "$JS.ACK.ORDERS.WORK.", 20) == 0, "reply %s", nid ? nid : "");
	ack_body(&r, "nak", nid, NULL);
	o = ht_json(&r);
	IT_EQ_INT(jt_int(o, "acked"), 1);
	json_decref(o);
	ht_free(&r);
	natsMsg_Destroy(reply);
	f = ht_call("POST", FETCH "?wait=1s", NULL, 200);
	IT_EQ_INT(json_array_size(msgs_of(f)), 1);
	IT_EQ_INT(jt_int(json_array_get(msgs_of(f), 0), "seq"), 4);
	IT_EQ_INT(jt_int(json_array_get(msgs_of(f), 0), "delivered"), 2);
	char *a4 = ack_of(f, 0);
	json_decref(f);
	/* nak with a delay: not before it */
	const char *nb = "{\"kind\":\"nak\",\"delay\":\"1s\",\"ack\":[\"%s\"]}";
	char body[512];
	snprintf(body, sizeof body, nb, a4);
	ht_req(&r, "POST", "/v1/ack", body, strlen(body), NULL);
	HT_STATUS(&r, 200);
	ht_free(&r);
	f = ht_call("POST", FETCH "?wait=200ms", NULL, 200);
	IT_EQ_INT(json_array_size(msgs_of(f)), 0);
	json_decref(f);
	f = ht_call("POST", FETCH "?wait=3s", NULL, 200);
	IT_EQ_INT(json_array_size(msgs_of(f)), 1);
	IT_EQ_INT(jt_int(json_array_get(msgs_of(f), 0), "delivered"), 3);
	char *a5 = ack_of(f, 0);
	json_decref(f);
	/* progress keeps it pending */
	ack_body(&r, "progress", a5, NULL);
	o = ht_json(&r);
	IT_EQ_INT(jt_int(o, "acked"), 1);
	json_decref(o);
	ht_free(&r);
	/* malformed requests */
	static const char *bad[] = {
		"{\"ack\":\"x\"}", "{\"ack\":[],\"kind\":\"maybe\"}", "{\"ack\":[],\"kind\":3}",
		"{\"ack\":[],\"kind\":\"ack\",\"delay\":\"1s\"}", "{\"ack\":[", "",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ht_req(&r, "POST", "/v1/ack", bad[i], strlen(bad[i]), NULL);
		HT_ERROR(&r, 400, NULL);
		ht_free(&r);
	}
	ht_req(&r, "GET", "/v1/ack", NULL, 0, NULL);
	HT_ERROR(&r, 405, NULL);
	IT_EQ_STR(ht_header(&r, "Allow"), "POST");
	ht_free(&r);
	/* a non-string id counts as unknown */
	ht_req(&r, "POST", "/v1/ack", "{\"ack\":[1,null]}", 16, NULL);
	o = ht_json(&r);
	IT_EQ_INT(jt_int(o, "unknown"), 2);
	json_decref(o);
	ht_free(&r);
	free(a1);
	free(a2);
	free(a3);
	free(a4);
	free(a5);
	natsConnection_Destroy(nc);
}

static void consumer_events(void)
{
	setup("1s");
	publish("orders.a", "one");
	struct ht_sse *s = ht_sse_open("/v1/streams/ORDERS/consumers/WORK/events", NULL);
	ht_sse_wait(s, 1, 3000);
	publish("orders.b", "two");
	publish("orders.c", "three");
	ht_sse_wait(s, 3, 3000);
	long long ids[16];
	int n = ht_sse_ids(s, ids, 16);
	IT_EQ_INT(n, 3);
	IT_EQ_INT(ids[0], 1);
	IT_EQ_INT(ids[2], 3);
	/* ack two of them; the third is redelivered after ack_wait */
	struct ht_resp r;
	for (int i = 0; i < 2; i++) {
		json_t *e = ht_sse_event(s, i);
		IT_EQ_INT(jt_int(e, "delivered"), 1);
		char body[512];
		snprintf(body, sizeof body, "{\"ack\":[\"%s\"]}", jt_str(e, "ack"));
		ht_req(&r, "POST", "/v1/ack", body, strlen(body), NULL);
		json_t *o = ht_json(&r);
		IT_EQ_INT(jt_int(o, "acked"), 1);
		json_decref(o);
		ht_free(&r);
		json_decref(e);
	}
	ht_sse_wait(s, 4, 4000);
	json_t *e = ht_sse_event(s, 3);
	IT_EQ_INT(jt_int(e, "seq"), 3);
	IT_EQ_INT(jt_int(e, "delivered"), 2);
	json_decref(e);
	/* the same consumer: fetch sees nothing new meanwhile */
	json_t *o = info();
	IT_EQ_INT(jt_int(o, "num_ack_pending"), 1);
	IT_EQ_INT(jt_int(o, "ack_floor.stream_seq"), 2);
	json_decref(o);
	ht_sse_close(s);
	ht_req(&r, "GET", "/v1/streams/ORDERS/consumers/NOPE/events", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	IT_EQ_INT(ht_err_code(&r), 10014);
	ht_free(&r);
	/* a consumer whose max_batch is below the stream's pull size: adopted */
	json_decref(ht_call("PUT", "/v1/streams/ORDERS/consumers/SMALL",
	                    "{\"ack_policy\":\"explicit\",\"max_batch\":2,"
	                    "\"max_expires\":\"2s\"}", 201));
	s = ht_sse_open("/v1/streams/ORDERS/consumers/SMALL/events", NULL);
	ht_sse_wait(s, 3, 3000);
	publish("orders.d", "four");
	ht_sse_wait(s, 4, 3000);
	IT_CHECK(strstr(s->buf, "event: error") == NULL, "error: %s", s->buf);
	ht_sse_close(s);
	/* the consumer deleted under a stream: it ends with an error event */
	s = ht_sse_open("/v1/streams/ORDERS/consumers/WORK/events", NULL);
	json_decref(ht_call("DELETE", "/v1/streams/ORDERS/consumers/WORK", NULL, 200));
	ht_sse_wait_str(s, "event: error", 5000);
	ht_sse_close(s);
}

IT_MAIN(IT_TEST(fetch_semantics), IT_TEST(redelivery_after_ack_wait), IT_TEST(ack_kinds_and_nats),
        IT_TEST(consumer_events))
