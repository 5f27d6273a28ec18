/*
 * test_http_route.c - the HTTP adapter's pure decisions: the route table
 * (404 vs 405 and the Allow set), method names, which request headers
 * become NATS headers, Authorization parsing, the SSE event framing,
 * PubAck -> HTTP status, and JSON body errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "adapters/http/server_int.h"
#include "core/alloc.h"

static const struct jn__route *find(const char *path, unsigned method, unsigned *allow)
{
	size_t n;
	const struct jn__route *t = jn__http_routes(&n);
	return jn__route_find(t, n, path, method, allow);
}

static void test_routes(void **state)
{
	(void)state;
	unsigned allow;
	const struct jn__route *r;
	r = find("/v1/publish/a.b", JN_HM_POST, &allow);
	assert_non_null(r);
	assert_ptr_equal(r->fn, jn__http_publish_route);
	assert_int_equal(allow, JN_HM_POST);
	/* "**" takes one or more segments */
	r = find("/v1/publish/a/b/c", JN_HM_POST, &allow);
	assert_non_null(r);
	assert_ptr_equal(r->fn, jn__http_publish_route);
	assert_null(find("/v1/publish", JN_HM_POST, &allow));
	assert_int_equal(allow, 0);
	/* wrong method: no route, but the path is known */
	assert_null(find("/v1/publish/a", JN_HM_GET, &allow));
	assert_int_equal(allow, JN_HM_POST);
	/* both subscribe forms */
	r = find("/v1/subscribe", JN_HM_GET, &allow);
	assert_non_null(r);
	assert_ptr_equal(r->fn, jn__http_subscribe_route);
	r = find("/v1/subscribe/a.>", JN_HM_GET, &allow);
	assert_non_null(r);
	assert_null(find("/v1/subscribe/a", JN_HM_HEAD, &allow));   /* SSE: GET only */
	assert_int_equal(allow, JN_HM_GET);
	/* "*" is exactly one segment */
	r = find("/v1/streams/ORDERS", JN_HM_DELETE, &allow);
	assert_non_null(r);
	assert_int_equal(allow, JN_HM_GET | JN_HM_HEAD | JN_HM_PUT | JN_HM_DELETE);
	assert_null(find("/v1/streams/ORDERS/x", JN_HM_GET, &allow));
	assert_int_equal(allow, 0);
	r = find("/v1/streams/S/consumers/C/fetch", JN_HM_POST, &allow);
	assert_non_null(r);
	r = find("/v1/kv/B/keys/a/b", JN_HM_PUT, &allow);
	assert_non_null(r);
	/* fixed paths */
	assert_non_null(find("/healthz", JN_HM_GET, &allow));
	assert_true(find("/healthz", JN_HM_GET, &allow)->flags & JN_ROUTE_PUBLIC);
	assert_false(find("/metrics", JN_HM_GET, &allow)->flags & JN_ROUTE_PUBLIC);
	assert_non_null(find("/healthz/", JN_HM_HEAD, &allow));
	assert_null(find("/healthzz", JN_HM_GET, &allow));
	assert_int_equal(allow, 0);
	assert_null(find("//healthz", JN_HM_GET, &allow));
	assert_null(find("/", JN_HM_GET, &allow));
	assert_null(find("", JN_HM_GET, &allow));
	/* every route has a handler and a method */
	size_t n;
	const struct jn__route *t = jn__http_routes(&n);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(t[i].fn);
		assert_true(t[i].methods != 0);
	}
}

static void test_methods(void **state)
{
	(void)state;
	assert_int_equal(jn__http_method_bit("GET"), JN_HM_GET);
	assert_int_equal(jn__http_method_bit("DELETE"), JN_HM_DELETE);
	assert_int_equal(jn__http_method_bit("get"), 0);   /* methods are case-sensitive */
	assert_int_equal(jn__http_method_bit("BREW"), 0);
	char buf[96];
	jn__http_allow_str(JN_HM_POST, buf, sizeof buf);
	assert_string_equal(buf, "POST");
	jn__http_allow_str(JN_HM_GET | JN_HM_HEAD | JN_HM_PUT | JN_HM_DELETE, buf, sizeof buf);
	assert_string_equal(buf, "GET, HEAD, PUT, DELETE");
	jn__http_allow_str(0, buf, sizeof buf);
	assert_string_equal(buf, "");
}

static void test_header_map(void **state)
{
	(void)state;
	size_t n;
	const char *p;
	p = jn__http_map_header("nats-msg-id", &n);
	assert_non_null(p);
	assert_int_equal(n, 11);
	assert_memory_equal(p, "Nats-Msg-Id", 11);
	p = jn__http_map_header("NATS-EXPECTED-LAST-SUBJECT-SEQUENCE", &n);
	assert_memory_equal(p, "Nats-Expected-Last-Subject-Sequence", n);
	p = jn__http_map_header("nats-rollup", &n);
	assert_memory_equal(p, "Nats-Rollup", n);
	p = jn__http_map_header("Nats-Expected-Future", &n);   /* unknown: as given */
	assert_memory_equal(p, "Nats-Expected-Future", n);
	p = jn__http_map_header("X-Nats-Hdr-Trace", &n);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "Trace", 5);
	p = jn__http_map_header("x-nats-hdr-my-Key", &n);   /* case as given */
	assert_memory_equal(p, "my-Key", n);
	assert_null(jn__http_map_header("X-Nats-Hdr-", &n));
	assert_null(jn__http_map_header("Nats-Expected-", &n));
	assert_null(jn__http_map_header("Content-Type", &n));
	assert_null(jn__http_map_header("Authorization", &n));
	assert_null(jn__http_map_header("Nats-Msg", &n));
}

static void test_credentials(void **state)
{
	(void)state;
	struct jn__http_cred c;
	assert_int_equal(jn__http_parse_cred(NULL, &c), JN_HTTP_CRED_NONE);
	assert_int_equal(jn__http_parse_cred("Bearer abc", &c), JN_HTTP_CRED_BEARER);
	assert_string_equal(c.token, "abc");
	assert_int_equal(jn__http_parse_cred("bearer \t abc  ", &c), JN_HTTP_CRED_BEARER);
	assert_string_equal(c.token, "abc");
	assert_int_equal(jn__http_parse_cred("Basic YWxpY2U6d29uZGVy", &c), JN_HTTP_CRED_BASIC);
	assert_string_equal(c.user, "alice");
	assert_string_equal(c.pass, "wonder");
	/* a password may contain ':'; the user may be empty */
	assert_int_equal(jn__http_parse_cred("BASIC dTpwOnc=", &c), JN_HTTP_CRED_BASIC);   /* u:p:w */
	assert_string_equal(c.user, "u");
	assert_string_equal(c.pass, "p:w");
	assert_int_equal(jn__http_parse_cred("Basic OnB3", &c), JN_HTTP_CRED_BASIC);   /* :pw */
	assert_string_equal(c.user, "");
	static const char *bad[] = {
		"", "Bearer", "Bearer ", "Basic", "Basic ", "Basic !!", "Basic YWxpY2U=" /* no colon */,
		"Basic YQBiOmM=" /* NUL inside */, "Digest x", "Bearerabc", "Token abc",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (jn__http_parse_cred(bad[i], &c) != JN_HTTP_CRED_BAD)
			fail_msg("\"%s\" should be refused", bad[i]);
	char big[2000] = "Bearer ";
	memset(big + 7, 'x', sizeof big - 8);
	big[sizeof big - 1] = '\0';
	assert_int_equal(jn__http_parse_cred(big, &c), JN_HTTP_CRED_BAD);
}

static char *sse(const char *subj, const char *reply, const char *hdr, const char *data,
                 size_t dlen)
{
	struct jn_msg m = {
		.subject = subj, .subject_len = (uint32_t)strlen(subj),
		.reply = reply, .reply_len = reply ? (uint32_t)strlen(reply) : 0,
		.hdr = (const uint8_t *)hdr, .hdr_len = hdr ? (uint32_t)strlen(hdr) : 0,
		.data = (const uint8_t *)data, .data_len = (uint32_t)dlen,
	};
	struct jn__hbuf b = { 0 };
	jn__http_sse_format(&b, &m);
	assert_false(b.oom);
	return jn__hbuf_take(&b, NULL);
}

static void test_sse_format(void **state)
{
	(void)state;
	char *e = sse("a.b", NULL, NULL, "hi", 2);
	assert_string_equal(e, "event: msg\ndata: {\"subject\":\"a.b\",\"reply\":\"\",\"headers\":{},"
	                       "\"data\":\"aGk=\"}\n\n");
	jn_free(e);
	e = sse("a.b", "_INBOX.x", "NATS/1.0\r\nA: 1\r\nB: x\r\nA: 2\r\nC:\r\nA: 3\r\n\r\n", "", 0);
	assert_string_equal(e, "event: msg\ndata: {\"subject\":\"a.b\",\"reply\":\"_INBOX.x\","
	                       "\"headers\":{\"A\":[\"1\",\"2\",\"3\"],\"B\":\"x\",\"C\":\"\"},"
	                       "\"data\":\"\"}\n\n");
	jn_free(e);
	/* a status line is not a header; a bad block gives no headers */
	e = sse("s", NULL, "NATS/1.0 503\r\n\r\n", "", 0);
	assert_non_null(strstr(e, "\"headers\":{}"));
	jn_free(e);
	e = sse("s", NULL, "garbage", "", 0);
	assert_non_null(strstr(e, "\"headers\":{}"));
	jn_free(e);
	/* binary payloads and odd subjects stay one well-formed JSON line */
	e = sse("q\"x\xff", NULL, NULL, "\n\n\0", 3);
	char *data = strstr(e, "data: ");
	assert_non_null(data);
	char *end = strstr(data, "\n\n");
	assert_non_null(end);
	assert_null(memchr(data, '\n', (size_t)(end - data)));   /* no newline inside the event */
	json_error_t je;
	json_t *o = json_loadb(data + 6, (size_t)(end - data - 6), 0, &je);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "subject")), "q\"x\xef\xbf\xbd");
	assert_string_equal(json_string_value(json_object_get(o, "data")), "CgoA");
	json_decref(o);
	jn_free(e);
}

static void test_json_body(void **state)
{
	(void)state;
	char why[256];
	json_t *o = jn__http_parse_json((const uint8_t *)"{\"a\":1}", 7, why, sizeof why);
	assert_non_null(o);
	json_decref(o);
	assert_null(jn__http_parse_json((const uint8_t *)"{\"a\":", 5, why, sizeof why));
	assert_non_null(strstr(why, "invalid JSON"));
	assert_non_null(strstr(why, "line 1"));
	assert_null(jn__http_parse_json((const uint8_t *)"{\n\"a\":1,\n\"a\":2}", 15, why, sizeof why));
	assert_non_null(strstr(why, "line 3"));   /* duplicate key, where it is */
	assert_null(jn__http_parse_json((const uint8_t *)"[]", 2, why, sizeof why));
	assert_non_null(strstr(why, "object"));
	assert_null(jn__http_parse_json((const uint8_t *)"", 0, why, sizeof why));
	assert_non_null(strstr(why, "empty"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes), cmocka_unit_test(test_methods),
		cmocka_unit_test(test_header_map), cmocka_unit_test(test_credentials),
		cmocka_unit_test(test_sse_format),
		cmocka_unit_test(test_json_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
