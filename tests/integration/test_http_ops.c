/*
 * test_http_ops.c - the HTTP adapter's authentication (Bearer, Basic, 401
 * with WWW-Authenticate, 403 from the same permissions as NATS), the
 * operations endpoints (/healthz, /v1/info, /metrics, /v1/openapi.json),
 * CORS, and the JetStream routes' answers when JetStream is disabled and
 * to malformed bodies (their behaviour: test_http_streams.c, test_http_fetch.c,
 * test_http_replay.c).
 */
#include "http_it.h"

static const struct it_perms alice_perms = {
	.pub_allow = { "pub.>" },
	.sub_allow = { "sub.>" },
	.sub_deny = { "sub.secret" },
};

static struct it_config users_cfg(void)
{
	struct it_config cfg = { 0 };
	cfg.users[0] = (struct it_user){ "alice", "wonder", &alice_perms };
	cfg.users[1] = (struct it_user){ "bob", "builder", NULL };
	return cfg;
}

#define ALICE "Authorization: Basic YWxpY2U6d29uZGVy"   /* alice:wonder */
#define BOB "Authorization: Basic Ym9iOmJ1aWxkZXI="     /* bob:builder */

static void auth_basic_users(void)
{
	struct it_config cfg = users_cfg();
	ht_start(&cfg, NULL);
	struct ht_resp r;
	/* no credentials */
	ht_req(&r, "POST", "/v1/publish/pub.a", "x", 1, NULL);
	HT_ERROR(&r, 401, NULL);
	IT_CHECK(strstr(r.headers, "WWW-Authenticate: Basic realm=\"junction\"") != NULL,
	         "no Basic challenge in %s", r.headers);
	IT_CHECK(strstr(r.headers, "WWW-Authenticate: Bearer") != NULL, "no Bearer challenge in %s",
	         r.headers);
	ht_free(&r);
	/* wrong password, unknown user, malformed headers */
	static const char *bad[] = {
		"Authorization: Basic YWxpY2U6d3Jvbmc=",   /* alice:wrong */
		"Authorization: Basic ZXZlOnB3",           /* eve:pw */
		"Authorization: Basic !!!!",
		"Authorization: Basic YWxpY2U=",           /* alice (no colon) */
		"Authorization: Digest abc",
		"Authorization: Bearer wonder",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *h[] = { bad[i], NULL };
		ht_req(&r, "POST", "/v1/publish/pub.a", "x", 1, h);
		HT_ERROR(&r, 401, NULL);
		ht_free(&r);
	}
	/* unknown paths are still 404 without credentials; /healthz and the
	 * OpenAPI document are public; the rest needs credentials */
	ht_req(&r, "GET", "/nothing", NULL, 0, NULL);
	HT_ERROR(&r, 404, NULL);
	ht_free(&r);
	ht_req(&r, "GET", "/healthz", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	ht_free(&r);
	ht_req(&r, "GET", "/v1/openapi.json", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	ht_free(&r);
	ht_req(&r, "GET", "/metrics", NULL, 0, NULL);
	HT_ERROR(&r, 401, NULL);
	ht_free(&r);
	ht_req(&r, "GET", "/v1/info", NULL, 0, NULL);
	HT_ERROR(&r, 401, NULL);
	ht_free(&r);

	/* alice: allowed and denied */
	const char *a[] = { ALICE, NULL };
	ht_req(&r, "POST", "/v1/publish/pub.a", "x", 1, a);
	HT_STATUS(&r, 202);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/publish/other.a", "x", 1, a);
	HT_ERROR(&r, 403, "other.a");
	ht_free(&r);
	ht_req(&r, "POST", "/v1/request/other.a", "x", 1, a);
	HT_ERROR(&r, 403, "other.a");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/subscribe/other.a", NULL, 0, a);
	HT_ERROR(&r, 403, "other.a");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/subscribe/%3E", NULL, 0, a);   /* ">" is wider than "sub.>" */
	HT_ERROR(&r, 403, NULL);
	ht_free(&r);
	ht_req(&r, "GET", "/v1/subscribe?subject=sub.a&subject=nope", NULL, 0, a);
	HT_ERROR(&r, 403, "nope");
	ht_free(&r);
	ht_req(&r, "GET", "/metrics", NULL, 0, a);
	HT_STATUS(&r, 200);
	IT_CHECK(ht_metric(r.body, "junction_http_auth_failures_total") >= 9,
	         "auth failures not counted: %s", r.body);
	ht_free(&r);

	/* bob: no permissions configured, everything allowed */
	const char *b[] = { BOB, NULL };
	ht_req(&r, "POST", "/v1/publish/other.a", "x", 1, b);
	HT_STATUS(&r, 202);
	ht_free(&r);
}

/* A wildcard stream allowed by sub.> must not see sub.secret (deny). */
static void auth_deny_filter_on_stream(void)
{
	struct it_config cfg = users_cfg();
	ht_start(&cfg, NULL);
	struct ht_sse *s = ht_sse_open("/v1/subscribe/sub.*", ALICE);
	struct ht_resp r;
	const char *b[] = { BOB, NULL };
	ht_req(&r, "POST", "/v1/publish/sub.secret", "hidden", 6, b);
	HT_STATUS(&r, 202);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/publish/sub.open", "shown", 5, b);
	HT_STATUS(&r, 202);
	ht_free(&r);
	ht_sse_wait(s, 1, 5000);
	it_sleep_ms(200);
	IT_EQ_INT(ht_sse_count(s), 1);
	json_t *e = ht_sse_event(s, 0);
	IT_EQ_STR(json_string_value(json_object_get(e, "subject")), "sub.open");
	json_decref(e);
	ht_sse_close(s);
}

static void auth_bearer_token(void)
{
	struct it_config cfg = { .token = "s3cret" };
	ht_start(&cfg, NULL);
	struct ht_resp r;
	const char *good[] = { "Authorization: Bearer s3cret", NULL };
	const char *lower[] = { "authorization: bearer   s3cret  ", NULL };
	const char *wrong[] = { "Authorization: Bearer s3cre", NULL };
	const char *basic[] = { "Authorization: Basic czNjcmV0OnMzY3JldA==", NULL };
	ht_req(&r, "POST", "/v1/publish/a", "x", 1, good);
	HT_STATUS(&r, 202);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/publish/a", "x", 1, lower);
	HT_STATUS(&r, 202);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/publish/a", "x", 1, wrong);
	HT_ERROR(&r, 401, NULL);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/publish/a", "x", 1, basic);
	HT_ERROR(&r, 401, NULL);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/publish/a", "x", 1, NULL);
	HT_ERROR(&r, 401, NULL);
	ht_free(&r);
	/* a NATS client with the same token sees what HTTP publishes */
	natsOptions *o = it_opts();
	IT_OK(natsOptions_SetToken(o, "s3cret"));
	natsConnection *nc = NULL;
	IT_OK(natsConnection_Connect(&nc, o));
	natsOptions_Destroy(o);
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, nc, "tok.>"));
	IT_OK(natsConnection_Flush(nc));
	ht_req(&r, "POST", "/v1/publish/tok.x", "hello", 5, good);
	HT_STATUS(&r, 202);
	ht_free(&r);
	natsMsg *m = NULL;
	IT_OK(natsSubscription_NextMsg(&m, sub, 2000));
	IT_EQ_STR(natsMsg_GetData(m), "hello");
	natsMsg_Destroy(m);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}

static void metrics_and_info(void)
{
	ht_start(NULL, NULL);
	natsConnection *nc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, nc, "m.>"));
	IT_OK(natsConnection_Flush(nc));
	struct ht_resp r;
	for (int i = 0; i < 3; i++) {
		ht_req(&r, "POST", "/v1/publish/m.x", "abcd", 4, NULL);
		HT_STATUS(&r, 202);
		ht_free(&r);
	}
	IT_OK(natsConnection_PublishString(nc, "m.y", "zz"));
	IT_OK(natsConnection_Flush(nc));
	for (int i = 0; i < 4; i++) {
		natsMsg *m = NULL;
		IT_OK(natsSubscription_NextMsg(&m, sub, 2000));
		natsMsg_Destroy(m);
	}
	ht_req(&r, "GET", "/metrics", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	IT_CHECK(strncmp(ht_header(&r, "Content-Type"), "text/plain; version=0.0.4", 25) == 0,
	         "content type %s", ht_header(&r, "Content-Type"));
	IT_EQ_INT(ht_metric(r.body, "junction_messages_in_total{adapter=\"http\"}"), 3);
	IT_EQ_INT(ht_metric(r.body, "junction_bytes_in_total{adapter=\"http\"}"), 12);
	IT_EQ_INT(ht_metric(r.body, "junction_messages_in_total{adapter=\"nats\"}"), 1);
	IT_EQ_INT(ht_metric(r.body, "junction_messages_out_total{adapter=\"nats\"}"), 4);
	IT_EQ_INT(ht_metric(r.body, "junction_connections{adapter=\"nats\"}"), 1);
	IT_CHECK(ht_metric(r.body, "junction_connections{adapter=\"http\"}") >= 1, "http conns");
	IT_EQ_INT(ht_metric(r.body, "junction_subscriptions"), 2);   /* m.> and the inbox */
	IT_EQ_INT(ht_metric(r.body, "junction_slow_consumers_total{adapter=\"http\"}"), 0);
	IT_CHECK(strstr(r.body, "# TYPE junction_messages_in_total counter\n") != NULL, "TYPE line");
	IT_CHECK(strstr(r.body, "junction_info{server_name=\"junction-it\",version=\"") != NULL,
	         "info series");
	ht_free(&r);

	ht_req(&r, "GET", "/v1/info", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	json_t *o = ht_json(&r);
	IT_EQ_STR(json_string_value(json_object_get(o, "server_name")), "junction-it");
	IT_CHECK(json_is_string(json_object_get(o, "version")), "version");
	IT_CHECK(json_is_string(json_object_get(o, "uptime")), "uptime");
	json_t *ls = json_object_get(o, "listeners");
	IT_CHECK(json_is_array(ls) && json_array_size(ls) == 2, "listeners: %s", r.body);
	bool saw_nats = false, saw_http = false;
	for (size_t i = 0; i < json_array_size(ls); i++) {
		json_t *l = json_array_get(ls, i);
		const char *p = json_string_value(json_object_get(l, "protocol"));
		long long port = json_integer_value(json_object_get(l, "port"));
		saw_nats |= strcmp(p, "nats") == 0 && port == it_srv->port;
		saw_http |= strcmp(p, "http") == 0 && port == it_srv->http_port;
	}
	IT_CHECK(saw_nats && saw_http, "listeners: %s", r.body);
	json_t *ad = json_object_get(o, "adapters");
	IT_EQ_INT(json_integer_value(json_object_get(json_object_get(ad, "nats"), "connections")), 1);
	IT_EQ_INT(json_integer_value(json_object_get(json_object_get(ad, "http"), "in_msgs")), 3);
	IT_EQ_INT(json_integer_value(json_object_get(o, "in_msgs")), 4);
	IT_EQ_INT(json_integer_value(json_object_get(o, "subscriptions")), 2);
	json_decref(o);
	ht_free(&r);

	ht_req(&r, "GET", "/healthz", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	IT_EQ_STR(r.body, "{\"status\":\"ok\"}");
	ht_free(&r);
	ht_req(&r, "HEAD", "/healthz", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	IT_EQ_INT(r.len, 0);
	ht_free(&r);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}

static void openapi_document(void)
{
	ht_start(NULL, NULL);
	struct ht_resp r;
	ht_req(&r, "GET", "/v1/openapi.json", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	IT_EQ_STR(ht_header(&r, "Content-Type"), "application/json");
	json_t *o = ht_json(&r);
	IT_EQ_STR(json_string_value(json_object_get(o, "openapi")), "3.0.3");
	json_t *paths = json_object_get(o, "paths");
	static const char *want[] = { "/v1/publish/{subject}", "/v1/request/{subject}",
	                              "/v1/subscribe/{subject}", "/v1/subscribe", "/healthz",
	                              "/v1/info", "/metrics", "/v1/openapi.json",
	                              "/v1/streams", "/v1/streams/{stream}",
	                              "/v1/streams/{stream}/purge", "/v1/streams/{stream}/messages",
	                              "/v1/streams/{stream}/messages/{seq}",
	                              "/v1/streams/{stream}/events", "/v1/streams/{stream}/consumers",
	                              "/v1/streams/{stream}/consumers/{consumer}",
	                              "/v1/streams/{stream}/consumers/{consumer}/fetch",
	                              "/v1/streams/{stream}/consumers/{consumer}/events", "/v1/ack",
	                              "/v1/kv", "/v1/kv/{bucket}", "/v1/kv/{bucket}/keys",
	                              "/v1/kv/{bucket}/keys/{key}", "/v1/kv/{bucket}/keys/{key}/history",
	                              "/v1/kv/{bucket}/watch" };
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		IT_CHECK(json_object_get(paths, want[i]) != NULL, "no path %s", want[i]);
	json_decref(o);
	ht_free(&r);
}

static void cors_allow_origin(void)
{
	ht_start(NULL, "\"allow_origin\": \"https://app.example\"");
	struct ht_resp r;
	ht_req(&r, "POST", "/v1/publish/c", "x", 1, NULL);
	HT_STATUS(&r, 202);
	IT_EQ_STR(ht_header(&r, "Access-Control-Allow-Origin"), "https://app.example");
	ht_free(&r);
	ht_req(&r, "GET", "/nothing", NULL, 0, NULL);
	HT_STATUS(&r, 404);
	IT_EQ_STR(ht_header(&r, "Access-Control-Allow-Origin"), "https://app.example");
	ht_free(&r);
	const char *pre[] = { "Origin: https://app.example", "Access-Control-Request-Method: POST",
	                      "Access-Control-Request-Headers: authorization, x-nats-hdr-a", NULL };
	ht_req(&r, "OPTIONS", "/v1/request/c", NULL, 0, pre);
	HT_STATUS(&r, 204);
	IT_EQ_STR(ht_header(&r, "Access-Control-Allow-Methods"), "POST, OPTIONS");
	IT_EQ_STR(ht_header(&r, "Access-Control-Allow-Headers"), "authorization, x-nats-hdr-a");
	ht_free(&r);
}

static void jetstream_routes_disabled(void)
{
	ht_start(NULL, NULL);   /* the harness runs junction without JetStream */
	static const struct { const char *m, *p; } reqs[] = {
		{ "GET", "/v1/streams" }, { "PUT", "/v1/streams/ORDERS" },
		{ "GET", "/v1/streams/ORDERS/messages/1" }, { "POST", "/v1/ack" },
		{ "GET", "/v1/kv" }, { "PUT", "/v1/kv/b/keys/k" },
	};
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		struct ht_resp r;
		ht_req(&r, reqs[i].m, reqs[i].p, "{}", 2, NULL);
		HT_ERROR(&r, 503, "JetStream not enabled");
		json_t *o = ht_json(&r);
		IT_EQ_INT(json_integer_value(json_object_get(json_object_get(o, "error"), "err_code")),
		          10076);
		json_decref(o);
		ht_free(&r);
	}
}

static void jetstream_routes_enabled(void)
{
	struct it_config cfg = { .jetstream = true };
	ht_start(&cfg, NULL);
	struct ht_resp r;
	ht_req(&r, "PUT", "/v1/streams/ORDERS", "{\"subjects\": [\"a\"", 17, NULL);
	HT_ERROR(&r, 400, "invalid JSON");
	IT_CHECK(strstr(r.body, "line 1") != NULL, "no position in %s", r.body);
	json_t *o = ht_json(&r);
	IT_EQ_INT(json_integer_value(json_object_get(json_object_get(o, "error"), "err_code")), 10025);
	json_decref(o);
	ht_free(&r);
	ht_req(&r, "PUT", "/v1/streams/ORDERS", "[1]", 3, NULL);
	HT_ERROR(&r, 400, "object");
	ht_free(&r);
	/* nothing was created by the refused requests */
	ht_req(&r, "GET", "/v1/streams", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	o = ht_json(&r);
	IT_EQ_INT(json_array_size(json_object_get(o, "streams")), 0);
	json_decref(o);
	ht_free(&r);
	ht_req(&r, "GET", "/v1/info", NULL, 0, NULL);
	o = ht_json(&r);
	IT_CHECK(json_is_true(json_object_get(json_object_get(o, "jetstream"), "enabled")),
	         "info: %s", r.body);
	json_decref(o);
	ht_free(&r);
}

IT_MAIN(IT_TEST(auth_basic_users), IT_TEST(auth_deny_filter_on_stream), IT_TEST(auth_bearer_token),
        IT_TEST(metrics_and_info), IT_TEST(openapi_document), IT_TEST(cors_allow_origin),
        IT_TEST(jetstream_routes_disabled), IT_TEST(jetstream_routes_enabled))
