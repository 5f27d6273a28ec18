/*
 * test_http_streams.c - the HTTP adapter's stream and consumer management
 * (/v1/streams..., /v1/streams/{s}/consumers...), messages by sequence and
 * by subject, purge, the PubAck of a publish that a stream captures, the
 * error answers (status + err_code) and the per-stream / per-consumer
 * series of /metrics. Streams written over HTTP are checked over NATS and
 * the other way round.
 */
#include "http_it.h"
#include "js_it.h"

#define ORDERS_CFG "{\"subjects\":[\"orders.>\"],\"storage\":\"memory\"}"

static long long err_code_of(json_t *o)
{
	return json_integer_value(json_object_get(json_object_get(o, "error"), "err_code"));
}

static void stream_crud(void)
{
	struct it_config cfg = { .jetstream = true };
	ht_start(&cfg, NULL);
	json_t *o = ht_call("PUT", "/v1/streams/ORDERS", ORDERS_CFG, 201);
	IT_EQ_STR(jt_str(o, "config.name"), "ORDERS");
	IT_EQ_INT(jt_int(o, "state.messages"), 0);
	IT_CHECK(json_object_get(o, "type") == NULL, "API type member leaked: %s",
	         json_dumps(o, 0));
	json_decref(o);
	/* the same stream over NATS */
	natsConnection *nc = it_connect(NULL, NULL);
	o = jt_api(nc, "$JS.API.STREAM.INFO.ORDERS", NULL);
	IT_EQ_STR(jt_str(o, "config.name"), "ORDERS");
	json_decref(o);
	/* update: 200 */
	o = ht_call("PUT", "/v1/streams/ORDERS",
	            "{\"name\":\"ORDERS\",\"subjects\":[\"orders.>\"],\"storage\":\"memory\","
	            "\"max_msgs\":100}", 200);
	IT_EQ_INT(jt_int(o, "config.max_msgs"), 100);
	json_decref(o);
	o = ht_call("GET", "/v1/streams/ORDERS", NULL, 200);
	IT_EQ_INT(jt_int(o, "config.max_msgs"), 100);
	IT_CHECK(json_is_string(json_object_get(o, "created")), "no created");
	json_decref(o);
	/* a stream made over NATS is listed */
	o = jt_api(nc, "$JS.API.STREAM.CREATE.OTHER",
	           "{\"name\":\"OTHER\",\"subjects\":[\"other\"],\"storage\":\"memory\"}");
	json_decref(o);
	o = ht_call("GET", "/v1/streams", NULL, 200);
	IT_EQ_INT(json_array_size(json_object_get(o, "streams")), 2);
	json_decref(o);
	/* refused update (storage cannot change): a client mistake, 400 */
	o = ht_call("PUT", "/v1/streams/ORDERS",
	            "{\"subjects\":[\"orders.>\"],\"storage\":\"file\"}", 400);
	IT_EQ_INT(err_code_of(o), 10052);
	json_decref(o);
	/* bad config: 400 */
	o = ht_call("PUT", "/v1/streams/BAD", "{\"subjects\":[\"a\"],\"retention\":\"sometimes\"}",
	            400);
	json_decref(o);
	/* overlapping subjects */
	o = ht_call("PUT", "/v1/streams/DUP", "{\"subjects\":[\"orders.eu\"]}", 400);
	IT_EQ_INT(err_code_of(o), 10065);
	json_decref(o);
	/* name in the body must match */
	o = ht_call("PUT", "/v1/streams/ORDERS", "{\"name\":\"X\",\"subjects\":[\"orders.>\"]}", 400);
	IT_EQ_INT(err_code_of(o), 10056);
	json_decref(o);
	/* malformed JSON names the problem */
	struct ht_resp r;
	ht_req(&r, "PUT", "/v1/streams/ORDERS", "{\"subjects\":", 12, NULL);
	HT_ERROR(&r, 400, "invalid JSON");
	ht_free(&r);
	/* invalid name, unknown stream, wrong method */
	ht_req(&r, "GET", "/v1/streams/a.b", NULL, 0, NULL);
	HT_ERROR(&r, 400, NULL);
	ht_free(&r);
	ht_req(&r, "GET", "/v1/streams/NOPE", NULL, 0, NULL);
	HT_ERROR(&r, 404, "stream not found");
	IT_EQ_INT(ht_err_code(&r), 10059);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/streams/ORDERS", "{}", 2, NULL);
	HT_ERROR(&r, 405, NULL);
	IT_EQ_STR(ht_header(&r, "Allow"), "GET, HEAD, PUT, DELETE");
	ht_free(&r);
	/* delete: 200, then 404 both ways */
	o = ht_call("DELETE", "/v1/streams/ORDERS", NULL, 200);
	IT_CHECK(json_is_true(json_object_get(o, "deleted")), "deleted");
	json_decref(o);
	ht_req(&r, "DELETE", "/v1/streams/ORDERS", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	IT_EQ_INT(ht_err_code(&r), 10059);
	ht_free(&r);
	o = jt_api(nc, "$JS.API.STREAM.INFO.ORDERS", NULL);
	IT_EQ_INT(jt_int(o, "error.err_code"), 10059);
	json_decref(o);
	natsConnection_Destroy(nc);
}

static void body_too_large(void)
{
	struct it_config cfg = { .jetstream = true, .max_payload = 256 };
	ht_start(&cfg, NULL);
	char big[1024];
	memset(big, ' ', sizeof big);
	memcpy(big, "{\"subjects\":[\"a\"]", 17);
	big[sizeof big - 1] = '}';
	struct ht_resp r;
	ht_req(&r, "PUT", "/v1/streams/BIG", big, sizeof big, NULL);
	HT_ERROR(&r, 413, NULL);
	ht_free(&r);
	ht_req(&r, "GET", "/v1/streams/BIG", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	ht_free(&r);
}

static void publish_nats(natsConnection *nc, const char *subj, const char *data,
                         const char *hk, const char *hv)
{
	natsMsg *m = NULL;
	IT_OK(natsMsg_Create(&m, subj, NULL, data, (int)strlen(data)));
	if (hk)
		IT_OK(natsMsgHeader_Add(m, hk, hv));
	natsMsg *reply = NULL;
	IT_OK(natsConnection_RequestMsg(&reply, nc, m, 5000));   /* the PubAck */
	natsMsg_Destroy(reply);
	natsMsg_Destroy(m);
}

static void messages_and_purge(void)
{
	struct it_config cfg = { .jetstream = true };
	ht_start(&cfg, NULL);
	json_decref(ht_call("PUT", "/v1/streams/ORDERS", ORDERS_CFG, 201));
	natsConnection *nc = it_connect(NULL, NULL);
	publish_nats(nc, "orders.eu", "one", "Trace", "1");
	publish_nats(nc, "orders.us", "two", NULL, NULL);
	publish_nats(nc, "orders.eu", "three\xff", NULL, NULL);
	json_t *o = ht_call("GET", "/v1/streams/ORDERS/messages/1", NULL, 200);
	IT_EQ_STR(jt_str(o, "subject"), "orders.eu");
	IT_EQ_INT(jt_int(o, "seq"), 1);
	IT_EQ_STR(jt_str(o, "data"), "b25l");   /* "one" */
	IT_EQ_STR(jt_str(o, "headers.Trace"), "1");
	const char *t = jt_str(o, "time");
	IT_CHECK(strlen(t) > 20 && t[10] == 'T' && t[strlen(t) - 1] == 'Z', "time %s", t);
	IT_CHECK(json_object_get(o, "ack") == NULL, "no ack outside a consumer");
	json_decref(o);
	/* text on request, base64 when the payload is not UTF-8 */
	o = ht_call("GET", "/v1/streams/ORDERS/messages/2?encoding=utf8", NULL, 200);
	IT_EQ_STR(jt_str(o, "data_text"), "two");
	json_decref(o);
	o = ht_call("GET", "/v1/streams/ORDERS/messages/3?encoding=utf8", NULL, 200);
	IT_CHECK(json_object_get(o, "data_text") == NULL, "invalid UTF-8 as text");
	IT_EQ_STR(jt_str(o, "data"), "dGhyZWX/");
	json_decref(o);
	o = ht_call("GET", "/v1/streams/ORDERS/messages?last_by_subject=orders.eu", NULL, 200);
	IT_EQ_INT(jt_int(o, "seq"), 3);
	json_decref(o);
	struct ht_resp r;
	ht_req(&r, "GET", "/v1/streams/ORDERS/messages/abc", NULL, 0, NULL);
	HT_ERROR(&r, 400, "sequence");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/streams/ORDERS/messages/0", NULL, 0, NULL);
	HT_ERROR(&r, 400, NULL);
	ht_free(&r);
	ht_req(&r, "GET", "/v1/streams/ORDERS/messages?last_by_subject=orders..x", NULL, 0, NULL);
	HT_ERROR(&r, 400, "subject");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/streams/ORDERS/messages/99", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	IT_EQ_INT(ht_err_code(&r), 10037);
	ht_free(&r);
	ht_req(&r, "GET", "/v1/streams/NOPE/messages/1", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	IT_EQ_INT(ht_err_code(&r), 10059);
	ht_free(&r);
	/* delete one message */
	json_decref(ht_call("DELETE", "/v1/streams/ORDERS/messages/2", NULL, 200));
	ht_req(&r, "GET", "/v1/streams/ORDERS/messages/2", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	ht_free(&r);
	ht_req(&r, "DELETE", "/v1/streams/ORDERS/messages/2", NULL, 0, NULL);
	IT_CHECK(r.status >= 400 && r.status < 500, "delete again: %ld %s", r.status, r.body);
	ht_free(&r);
	ht_req(&r, "DELETE", "/v1/streams/ORDERS/messages/x", NULL, 0, NULL);
	HT_ERROR(&r, 400, NULL);
	ht_free(&r);
	/* purge a subject, then the rest */
	publish_nats(nc, "orders.us", "four", NULL, NULL);
	o = ht_call("POST", "/v1/streams/ORDERS/purge", "{\"filter\":\"orders.eu\"}", 200);
	IT_EQ_INT(jt_int(o, "purged"), 2);
	json_decref(o);
	o = ht_call("POST", "/v1/streams/ORDERS/purge", NULL, 200);
	IT_EQ_INT(jt_int(o, "purged"), 1);
	json_decref(o);
	o = jt_api(nc, "$JS.API.STREAM.INFO.ORDERS", NULL);
	IT_EQ_INT(jt_int(o, "state.messages"), 0);
	json_decref(o);
	ht_req(&r, "POST", "/v1/streams/ORDERS/purge", "{\"filter\":", 10, NULL);
	HT_ERROR(&r, 400, "invalid JSON");
	ht_free(&r);
	natsConnection_Destroy(nc);
}

static void publish_puback(void)
{
	struct it_config cfg = { .jetstream = true };
	ht_start(&cfg, NULL);
	json_decref(ht_call("PUT", "/v1/streams/ORDERS",
	                    "{\"subjects\":[\"orders.>\"],\"max_msgs_per_subject\":2,"
	                    "\"discard\":\"new\",\"discard_new_per_subject\":true,"
	                    "\"max_msgs\":100}", 201));
	struct ht_resp r;
	ht_req(&r, "POST", "/v1/publish/orders.eu", "a", 1, NULL);
	HT_STATUS(&r, 200);
	json_t *o = ht_json(&r);
	IT_EQ_STR(jt_str(o, "stream"), "ORDERS");
	IT_EQ_INT(jt_int(o, "seq"), 1);
	IT_CHECK(json_is_false(json_object_get(o, "duplicate")), "duplicate: %s", r.body);
	json_decref(o);
	ht_free(&r);
	/* dedupe by Nats-Msg-Id */
	const char *id[] = { "Nats-Msg-Id: m1", NULL };
	ht_req(&r, "POST", "/v1/publish/orders.us", "b", 1, id);
	HT_STATUS(&r, 200);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/publish/orders.us", "b", 1, id);
	HT_STATUS(&r, 200);
	o = ht_json(&r);
	IT_CHECK(json_is_true(json_object_get(o, "duplicate")), "not a duplicate: %s", r.body);
	IT_EQ_INT(jt_int(o, "seq"), 2);
	json_decref(o);
	ht_free(&r);
	/* a failed expectation is the client's: 400 with 10071 */
	const char *exp[] = { "Nats-Expected-Last-Subject-Sequence: 7", NULL };
	ht_req(&r, "POST", "/v1/publish/orders.eu", "c", 1, exp);
	HT_ERROR(&r, 400, NULL);
	IT_EQ_INT(ht_err_code(&r), 10071);
	ht_free(&r);
	const char *exp_ok[] = { "nats-expected-last-subject-sequence: 1", NULL };
	ht_req(&r, "POST", "/v1/publish/orders.eu", "c", 1, exp_ok);
	HT_STATUS(&r, 200);
	o = ht_json(&r);
	IT_EQ_INT(jt_int(o, "seq"), 3);
	json_decref(o);
	ht_free(&r);
	/* the stream cannot store it (discard new, per subject limit): 503 */
	ht_req(&r, "POST", "/v1/publish/orders.eu", "d", 1, NULL);
	HT_ERROR(&r, 503, NULL);
	IT_EQ_INT(ht_err_code(&r), 10077);
	ht_free(&r);
	/* a subject no stream stores is still fire-and-forget */
	ht_req(&r, "POST", "/v1/publish/elsewhere", "e", 1, NULL);
	HT_STATUS(&r, 202);
	ht_free(&r);
	o = ht_call("GET", "/v1/streams/ORDERS", NULL, 200);
	IT_EQ_INT(jt_int(o, "state.messages"), 3);
	json_decref(o);
	/* no_ack silences the NATS PubAck, not the HTTP answer */
	json_decref(ht_call("PUT", "/v1/streams/QUIET",
	                    "{\"subjects\":[\"quiet\"],\"no_ack\":true,\"storage\":\"memory\"}", 201));
	int64_t t0 = it_now_ms();
	ht_req(&r, "POST", "/v1/publish/quiet", "q", 1, NULL);
	HT_STATUS(&r, 200);
	IT_CHECK(it_now_ms() - t0 < 1000, "took %lld ms", (long long)(it_now_ms() - t0));
	o = ht_json(&r);
	IT_EQ_STR(jt_str(o, "stream"), "QUIET");
	IT_EQ_INT(jt_int(o, "seq"), 1);
	json_decref(o);
	ht_free(&r);
	/* a message over the stream's max_msg_size is the client's: 400 */
	json_decref(ht_call("PUT", "/v1/streams/SMALL",
	                    "{\"subjects\":[\"small\"],\"max_msg_size\":4}", 201));
	ht_req(&r, "POST", "/v1/publish/small", "too long", 8, NULL);
	HT_ERROR(&r, 400, NULL);
	IT_EQ_INT(ht_err_code(&r), 10054);
	ht_free(&r);
}

static void consumer_crud(void)
{
	struct it_config cfg = { .jetstream = true };
	ht_start(&cfg, NULL);
	json_decref(ht_call("PUT", "/v1/streams/ORDERS", ORDERS_CFG, 201));
	json_t *o = ht_call("PUT", "/v1/streams/ORDERS/consumers/WORK",
	                    "{\"ack_policy\":\"explicit\",\"ack_wait\":\"30s\"}", 201);
	IT_EQ_STR(jt_str(o, "name"), "WORK");
	IT_EQ_STR(jt_str(o, "config.durable_name"), "WORK");
	IT_EQ_INT(jt_int(o, "config.ack_wait"), 30000000000LL);
	json_decref(o);
	o = ht_call("PUT", "/v1/streams/ORDERS/consumers/WORK",
	            "{\"durable_name\":\"WORK\",\"ack_policy\":\"explicit\",\"ack_wait\":5000000000,"
	            "\"description\":\"updated\"}", 200);
	IT_EQ_STR(jt_str(o, "config.description"), "updated");
	json_decref(o);
	/* over NATS too */
	natsConnection *nc = it_connect(NULL, NULL);
	o = jt_api(nc, "$JS.API.CONSUMER.INFO.ORDERS.WORK", NULL);
	IT_EQ_STR(jt_str(o, "config.description"), "updated");
	json_decref(o);
	o = jt_api(nc, "$JS.API.CONSUMER.CREATE.ORDERS.NATSC",
	           "{\"stream_name\":\"ORDERS\",\"config\":{\"durable_name\":\"NATSC\","
	           "\"ack_policy\":\"explicit\"}}");
	json_decref(o);
	o = ht_call("GET", "/v1/streams/ORDERS/consumers", NULL, 200);
	IT_EQ_INT(json_array_size(json_object_get(o, "consumers")), 2);
	json_decref(o);
	o = ht_call("GET", "/v1/streams/ORDERS/consumers/NATSC", NULL, 200);
	IT_EQ_INT(jt_int(o, "num_pending"), 0);
	IT_CHECK(json_object_get(o, "delivered") && json_object_get(o, "ack_floor"), "info");
	json_decref(o);
	/* refused update: 400 */
	o = ht_call("PUT", "/v1/streams/ORDERS/consumers/WORK",
	            "{\"ack_policy\":\"all\"}", 400);
	json_decref(o);
	/* the name in the body must be the path's */
	o = ht_call("PUT", "/v1/streams/ORDERS/consumers/WORK", "{\"durable_name\":\"X\"}", 400);
	IT_EQ_INT(err_code_of(o), 10017);
	json_decref(o);
	struct ht_resp r;
	ht_req(&r, "GET", "/v1/streams/ORDERS/consumers/NOPE", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	IT_EQ_INT(ht_err_code(&r), 10014);
	ht_free(&r);
	ht_req(&r, "PUT", "/v1/streams/NOPE/consumers/C", "{\"ack_policy\":\"explicit\"}", 25, NULL);
	HT_ERROR(&r, 404, NULL);
	IT_EQ_INT(ht_err_code(&r), 10059);
	ht_free(&r);
	ht_req(&r, "GET", "/v1/streams/NOPE/consumers", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	ht_free(&r);
	ht_req(&r, "GET", "/v1/streams/ORDERS/consumers/a.b", NULL, 0, NULL);
	HT_ERROR(&r, 400, NULL);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/streams/ORDERS/consumers/WORK", "{}", 2, NULL);
	HT_ERROR(&r, 405, NULL);
	IT_EQ_STR(ht_header(&r, "Allow"), "GET, HEAD, PUT, DELETE");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/streams/ORDERS/consumers/WORK/fetch", NULL, 0, NULL);
	HT_ERROR(&r, 405, NULL);
	IT_EQ_STR(ht_header(&r, "Allow"), "POST");
	ht_free(&r);
	o = ht_call("DELETE", "/v1/streams/ORDERS/consumers/WORK", NULL, 200);
	json_decref(o);
	ht_req(&r, "DELETE", "/v1/streams/ORDERS/consumers/WORK", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	IT_EQ_INT(ht_err_code(&r), 10014);
	ht_free(&r);
	o = jt_api(nc, "$JS.API.CONSUMER.INFO.ORDERS.WORK", NULL);
	IT_EQ_INT(jt_int(o, "error.err_code"), 10014);
	json_decref(o);
	natsConnection_Destroy(nc);
}

static void metrics_per_stream(void)
{
	struct it_config cfg = { .jetstream = true };
	ht_start(&cfg, NULL);
	json_decref(ht_call("PUT", "/v1/streams/ORDERS", ORDERS_CFG, 201));
	json_decref(ht_call("PUT", "/v1/streams/ORDERS/consumers/WORK",
	                    "{\"ack_policy\":\"explicit\"}", 201));
	for (int i = 0; i < 3; i++) {
		struct ht_resp r;
		ht_req(&r, "POST", "/v1/publish/orders.x", "12345", 5, NULL);
		HT_STATUS(&r, 200);
		ht_free(&r);
	}
	int64_t t0 = it_now_ms();
	json_t *f = ht_call("POST", "/v1/streams/ORDERS/consumers/WORK/fetch?batch=1&wait=0", NULL,
	                    200);
	IT_EQ_INT(json_array_size(json_object_get(f, "messages")), 1);
	IT_CHECK(it_now_ms() - t0 < 900, "fetch took %lld ms", (long long)(it_now_ms() - t0));
	json_decref(f);
	struct ht_resp r;
	ht_req(&r, "GET", "/metrics", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	IT_EQ_INT(ht_metric(r.body, "junction_stream_messages{stream=\"ORDERS\"}"), 3);
	IT_CHECK(ht_metric(r.body, "junction_stream_bytes{stream=\"ORDERS\"}") > 15, "%s", r.body);
	IT_EQ_INT(ht_metric(r.body,
	                    "junction_consumer_pending{stream=\"ORDERS\",consumer=\"WORK\"}"), 2);
	IT_EQ_INT(ht_metric(r.body,
	                    "junction_consumer_ack_pending{stream=\"ORDERS\",consumer=\"WORK\"}"), 1);
	IT_EQ_INT(ht_metric(r.body, "junction_streams"), 1);
	ht_free(&r);
}

/* The JetStream routes need the publish permission of the API subject they
 * stand for, as over NATS. */
static void permissions(void)
{
	static const struct it_perms reader = {
		.pub_allow = { "$JS.API.STREAM.INFO.ORDERS", "$JS.API.STREAM.MSG.GET.ORDERS",
		               "$JS.API.CONSUMER.MSG.NEXT.ORDERS.WORK" },
	};
	struct it_config cfg = { .jetstream = true };
	cfg.users[0] = (struct it_user){ "admin", "pw", NULL };
	cfg.users[1] = (struct it_user){ "reader", "pw", &reader };
	ht_start(&cfg, NULL);
	const char *admin[] = { "Authorization: Basic YWRtaW46cHc=", NULL };    /* admin:pw */
	const char *rd[] = { "Authorization: Basic cmVhZGVyOnB3", NULL };       /* reader:pw */
	struct ht_resp r;
	ht_reqf(&r, "PUT", ORDERS_CFG, admin, "/v1/streams/ORDERS");
	HT_STATUS(&r, 201);
	ht_free(&r);
	ht_reqf(&r, "PUT", "{\"ack_policy\":\"explicit\"}", admin,
	        "/v1/streams/ORDERS/consumers/WORK");
	HT_STATUS(&r, 201);
	ht_free(&r);
	ht_reqf(&r, "POST", "x", admin, "/v1/publish/orders.a");
	HT_STATUS(&r, 200);
	ht_free(&r);
	/* allowed */
	ht_reqf(&r, "GET", NULL, rd, "/v1/streams/ORDERS");
	HT_STATUS(&r, 200);
	ht_free(&r);
	ht_reqf(&r, "GET", NULL, rd, "/v1/streams/ORDERS/messages/1");
	HT_STATUS(&r, 200);
	ht_free(&r);
	ht_reqf(&r, "POST", NULL, rd, "/v1/streams/ORDERS/consumers/WORK/fetch?wait=0");
	HT_STATUS(&r, 200);
	json_t *o = ht_json(&r);
	char body[512];
	snprintf(body, sizeof body, "{\"ack\":[\"%s\"]}",
	         jt_str(json_array_get(json_object_get(o, "messages"), 0), "ack"));
	json_decref(o);
	ht_free(&r);
	/* denied: 403, and nothing changed */
	ht_reqf(&r, "DELETE", NULL, rd, "/v1/streams/ORDERS");
	HT_ERROR(&r, 403, "$JS.API.STREAM.DELETE.ORDERS");
	ht_free(&r);
	ht_reqf(&r, "GET", NULL, rd, "/v1/streams");
	HT_ERROR(&r, 403, NULL);
	ht_free(&r);
	ht_reqf(&r, "POST", body, rd, "/v1/ack");
	HT_ERROR(&r, 403, "$JS.ACK.ORDERS.WORK");
	ht_free(&r);
	ht_reqf(&r, "GET", NULL, admin, "/v1/streams/ORDERS/consumers/WORK");
	o = ht_json(&r);
	IT_EQ_INT(jt_int(o, "num_ack_pending"), 1);
	json_decref(o);
	ht_free(&r);
	ht_reqf(&r, "POST", body, admin, "/v1/ack");
	HT_STATUS(&r, 200);
	o = ht_json(&r);
	IT_EQ_INT(jt_int(o, "acked"), 1);
	json_decref(o);
	ht_free(&r);
}

IT_MAIN(IT_TEST(stream_crud), IT_TEST(permissions), IT_TEST(body_too_large), IT_TEST(messages_and_purge),
        IT_TEST(publish_puback), IT_TEST(consumer_crud), IT_TEST(metrics_per_stream))
