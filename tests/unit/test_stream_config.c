/*
 * test_stream_config.c - StreamConfig parsing, nats-server's defaults and
 * normalisations, validation errors (codes and texts), the update rules,
 * equality and overlap, and the JSON written back; plus the shared JSON
 * helpers (RFC 3339 nano times, names, error objects).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/js_json.h"
#include "core/stream.h"

static int parse(const char *json, struct jn_stream_cfg *c, char *err)
{
	return jn_stream_cfg_parse_text(json, strlen(json), c, err, 256);
}

static void test_defaults(void **state)
{
	(void)state;
	struct jn_stream_cfg c;
	char err[256];
	assert_int_equal(parse("{\"name\":\"ORDERS\"}", &c, err), 0);
	assert_string_equal(c.name, "ORDERS");
	assert_null(c.description);
	assert_int_equal(c.nsubjects, 1);
	assert_string_equal(c.subjects[0], "ORDERS");   /* no subjects -> [name] */
	assert_int_equal(c.retention, JN_RET_LIMITS);
	assert_int_equal(c.discard, JN_DISCARD_OLD);
	assert_int_equal(c.storage, JN_STORE_FILE);
	assert_int_equal(c.max_msgs, -1);
	assert_int_equal(c.max_bytes, -1);
	assert_int_equal(c.max_consumers, -1);
	assert_int_equal(c.max_msgs_per_subject, -1);
	assert_int_equal(c.max_msg_size, -1);
	assert_int_equal(c.max_age_ns, 0);
	assert_int_equal(c.num_replicas, 1);
	assert_int_equal(c.duplicate_window_ns, 120000000000LL);
	jn_stream_cfg_fini(&c);

	/* zero and negative limits mean unlimited; a max_age below two minutes
	 * becomes the dedupe window */
	assert_int_equal(parse("{\"name\":\"A\",\"max_msgs\":0,\"max_bytes\":-5,\"max_age\":1000000000,"
	                       "\"num_replicas\":0}", &c, err), 0);
	assert_int_equal(c.max_msgs, -1);
	assert_int_equal(c.max_bytes, -1);
	assert_int_equal(c.duplicate_window_ns, 1000000000LL);
	assert_int_equal(c.num_replicas, 1);
	jn_stream_cfg_fini(&c);
}

/* The seed's CHARGING config, as `nats str add --config` sends it. */
static void test_charging(void **state)
{
	(void)state;
	const char *json =
		"{\"name\":\"CHARGING\",\"subjects\":[\"CHARGING.js.chargingInfo\",\"CHARGING.js.order\"],"
		"\"retention\":\"workqueue\",\"max_consumers\":-1,\"max_msgs_per_subject\":-1,"
		"\"max_msgs\":-1,\"max_bytes\":10485760,\"max_age\":0,\"max_msg_size\":-1,"
		"\"storage\":\"file\",\"discard\":\"old\",\"num_replicas\":1,"
		"\"duplicate_window\":120000000000,\"sealed\":false,\"deny_delete\":false,"
		"\"deny_purge\":false,\"allow_rollup_hdrs\":false}";
	struct jn_stream_cfg c;
	char err[256];
	assert_int_equal(parse(json, &c, err), 0);
	assert_int_equal(c.retention, JN_RET_WORKQUEUE);
	assert_int_equal(c.max_bytes, 10485760);
	assert_int_equal(c.nsubjects, 2);
	/* every field of the request comes back with the same value */
	json_t *in = json_loads(json, 0, NULL);
	json_t *out = jn_stream_cfg_to_json(&c);
	const char *key;
	json_t *v;
	json_object_foreach(in, key, v) {
		json_t *o = json_object_get(out, key);
		assert_non_null(o);
		assert_true(json_equal(v, o));
	}
	/* and it parses back to an equal config */
	char *text = json_dumps(out, JSON_COMPACT);
	struct jn_stream_cfg c2;
	assert_int_equal(parse(text, &c2, err), 0);
	assert_true(jn_stream_cfg_equal(&c, &c2));
	free(text);
	json_decref(in);
	json_decref(out);
	jn_stream_cfg_fini(&c);
	jn_stream_cfg_fini(&c2);
}

static void test_every_field_round_trips(void **state)
{
	(void)state;
	const char *json =
		"{\"name\":\"F\",\"description\":\"d\",\"subjects\":[\"f.*\",\"g.>\"],"
		"\"retention\":\"interest\",\"max_consumers\":4,\"max_msgs\":10,\"max_bytes\":2000,"
		"\"max_age\":300000000000,\"max_msgs_per_subject\":3,\"max_msg_size\":512,"
		"\"discard\":\"new\",\"storage\":\"memory\",\"num_replicas\":1,\"no_ack\":true,"
		"\"duplicate_window\":60000000000,\"allow_direct\":true,\"mirror_direct\":false,"
		"\"discard_new_per_subject\":true,\"sealed\":false,\"deny_delete\":true,"
		"\"deny_purge\":false,\"allow_rollup_hdrs\":true}";
	struct jn_stream_cfg c;
	char err[256];
	assert_int_equal(parse(json, &c, err), 0);
	json_t *in = json_loads(json, 0, NULL);
	json_t *out = jn_stream_cfg_to_json(&c);
	assert_true(json_equal(in, out));
	/* nats-server's field order */
	char *text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_non_null(strstr(text, "{\"name\":\"F\",\"description\":\"d\",\"subjects\""));
	assert_true(strstr(text, "\"num_replicas\"") < strstr(text, "\"no_ack\""));
	assert_true(strstr(text, "\"no_ack\"") < strstr(text, "\"duplicate_window\""));
	assert_true(strstr(text, "\"mirror_direct\"") < strstr(text, "\"discard_new_per_subject\""));
	assert_true(strstr(text, "\"deny_purge\"") < strstr(text, "\"allow_rollup_hdrs\""));
	free(text);
	json_decref(in);
	json_decref(out);
	jn_stream_cfg_fini(&c);

	/* omitempty: no_ack and discard_new_per_subject only when true */
	assert_int_equal(parse("{\"name\":\"G\"}", &c, err), 0);
	out = jn_stream_cfg_to_json(&c);
	assert_null(json_object_get(out, "no_ack"));
	assert_null(json_object_get(out, "discard_new_per_subject"));
	assert_null(json_object_get(out, "description"));
	assert_non_null(json_object_get(out, "allow_direct"));
	json_decref(out);
	jn_stream_cfg_fini(&c);
}

static void test_errors(void **state)
{
	(void)state;
	static const struct { const char *json; int err; const char *text; } cases[] = {
		{ "{bad", -JN_EBADJSON, NULL },
		{ "[1]", -JN_EBADJSON, NULL },
		{ "{\"name\":\"A\",\"retention\":\"foo\"}", -JN_EBADJSON, NULL },
		{ "{\"name\":\"A\",\"storage\":\"disk\"}", -JN_EBADJSON, NULL },
		{ "{\"name\":\"A\",\"discard\":\"newer\"}", -JN_EBADJSON, NULL },
		{ "{\"name\":\"A\",\"max_msgs\":\"5\"}", -JN_EBADJSON, NULL },
		{ "{\"name\":\"A\",\"subjects\":\"a\"}", -JN_EBADJSON, NULL },
		{ "{\"name\":\"A\",\"subjects\":[1]}", -JN_EBADJSON, NULL },
		{ "{\"name\":\"A\",\"sealed\":1}", -JN_EBADJSON, NULL },
		{ "{\"name\":\"A\",\"max_msg_size\":3000000000}", -JN_EBADJSON, NULL },
		{ "{}", -JN_ESTREAMCONFIG, "stream name is required and can not contain '.', '*', '>'" },
		{ "{\"name\":\"a.b\"}", -JN_ESTREAMCONFIG, NULL },
		{ "{\"name\":\"a b\"}", -JN_ESTREAMCONFIG, NULL },
		{ "{\"name\":\"A\",\"num_replicas\":3}", -JN_EREPLICAS,
		  "replicas > 1 not supported in non-clustered mode" },
		{ "{\"name\":\"A\",\"num_replicas\":7}", -JN_ESTREAMCONFIG, "maximum replicas is 5" },
		{ "{\"name\":\"A\",\"max_age\":-1}", -JN_ESTREAMCONFIG, "max age can not be negative" },
		{ "{\"name\":\"A\",\"max_age\":99999999}", -JN_ESTREAMCONFIG, "max age needs to be >= 100ms" },
		{ "{\"name\":\"A\",\"duplicate_window\":-1}", -JN_ESTREAMCONFIG,
		  "duplicates window can not be negative" },
		{ "{\"name\":\"A\",\"duplicate_window\":50}", -JN_ESTREAMCONFIG,
		  "duplicates window needs to be >= 100ms" },
		{ "{\"name\":\"A\",\"max_age\":1000000000,\"duplicate_window\":2000000000}",
		  -JN_ESTREAMCONFIG, "duplicates window can not be larger then max age" },
		{ "{\"name\":\"A\",\"deny_purge\":true,\"allow_rollup_hdrs\":true}", -JN_ESTREAMCONFIG,
		  "roll-ups require the purge permission" },
		{ "{\"name\":\"A\",\"discard_new_per_subject\":true,\"max_msgs_per_subject\":1}",
		  -JN_ESTREAMCONFIG, "discard new per subject requires discard new policy to be set" },
		{ "{\"name\":\"A\",\"discard_new_per_subject\":true,\"discard\":\"new\"}",
		  -JN_ESTREAMCONFIG, "discard new per subject requires max msgs per subject > 0" },
		{ "{\"name\":\"A\",\"subjects\":[\"a..b\"]}", -JN_ESTREAMCONFIG, "invalid subject" },
		{ "{\"name\":\"A\",\"subjects\":[\"a.>.b\"]}", -JN_ESTREAMCONFIG, "invalid subject" },
		{ "{\"name\":\"A\",\"subjects\":[\"a\",\"a\"]}", -JN_ESTREAMCONFIG,
		  "duplicate subjects detected" },
		{ "{\"name\":\"A\",\"subjects\":[\"a.*\",\"a.b\"]}", -JN_ESTREAMCONFIG,
		  "subject \"a.*\" overlaps with \"a.b\"" },
		{ "{\"name\":\"A\",\"subjects\":[\">\"]}", -JN_ESTREAMCONFIG,
		  "capturing all subjects requires no-ack to be true" },
		{ "{\"name\":\"A\",\"subjects\":[\"$JS.API.>\"]}", -JN_ESTREAMCONFIG,
		  "subjects that overlap with jetstream api require no-ack to be true" },
		{ "{\"name\":\"A\",\"mirror\":{\"name\":\"B\"}}", -JN_ESTREAMCONFIG, NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct jn_stream_cfg c;
		char err[256] = "";
		int rc = parse(cases[i].json, &c, err);
		if (rc != cases[i].err)
			fail_msg("%s: rc %d (%s), expected %d", cases[i].json, rc, err, cases[i].err);
		if (cases[i].text)
			assert_string_equal(err, cases[i].text);
		assert_null(c.name);   /* zeroed on failure */
	}
	/* unknown fields (2.10 clients) and null values are ignored */
	struct jn_stream_cfg c;
	char err[256];
	assert_int_equal(parse("{\"name\":\"A\",\"compression\":\"s2\",\"metadata\":{},"
	                       "\"description\":null,\"mirror\":null,\"sources\":[]}", &c, err), 0);
	jn_stream_cfg_fini(&c);
	/* no_ack allows the catch-all subject */
	assert_int_equal(parse("{\"name\":\"A\",\"subjects\":[\">\"],\"no_ack\":true}", &c, err), 0);
	jn_stream_cfg_fini(&c);
	/* the JetStream error codes behind them */
	assert_int_equal(jn_err_info(-JN_ESTREAMCONFIG)->js_err_code, 10052);
	assert_int_equal(jn_err_info(-JN_EREPLICAS)->js_err_code, 10074);
	assert_int_equal(jn_err_info(-JN_EBADJSON)->js_err_code, 10025);
}

static void test_update_rules(void **state)
{
	(void)state;
	struct jn_stream_cfg a, b;
	char err[256];
	assert_int_equal(parse("{\"name\":\"U\",\"subjects\":[\"u\"],\"deny_delete\":true}", &a, err), 0);
	static const struct { const char *json; const char *text; } bad[] = {
		{ "{\"name\":\"V\",\"subjects\":[\"u\"],\"deny_delete\":true}",
		  "stream configuration name must match original" },
		{ "{\"name\":\"U\",\"subjects\":[\"u\"],\"deny_delete\":true,\"storage\":\"memory\"}",
		  "stream configuration update can not change storage type" },
		{ "{\"name\":\"U\",\"subjects\":[\"u\"],\"deny_delete\":true,\"retention\":\"interest\"}",
		  "stream configuration update can not change retention policy" },
		{ "{\"name\":\"U\",\"subjects\":[\"u\"],\"deny_delete\":true,\"max_consumers\":3}",
		  "stream configuration update can not change MaxConsumers" },
		{ "{\"name\":\"U\",\"subjects\":[\"u\"]}",
		  "stream configuration update can not cancel deny message deletes" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(parse(bad[i].json, &b, err), 0);
		assert_int_equal(jn_stream_cfg_check_update(&a, &b, err, sizeof err), -JN_ESTREAMCONFIG);
		assert_string_equal(err, bad[i].text);
		jn_stream_cfg_fini(&b);
	}
	assert_int_equal(parse("{\"name\":\"U\",\"subjects\":[\"u\",\"w.>\"],\"deny_delete\":true,"
	                       "\"max_msgs\":9,\"sealed\":true}", &b, err), 0);
	assert_int_equal(jn_stream_cfg_check_update(&a, &b, err, sizeof err), 0);
	assert_false(jn_stream_cfg_equal(&a, &b));
	/* sealed is for ever */
	assert_int_equal(jn_stream_cfg_check_update(&b, &a, err, sizeof err), -JN_ESTREAMCONFIG);
	struct jn_stream_cfg copy;
	assert_int_equal(jn_stream_cfg_copy(&copy, &b), 0);
	assert_true(jn_stream_cfg_equal(&copy, &b));
	assert_ptr_not_equal(copy.subjects[1], b.subjects[1]);
	jn_stream_cfg_fini(&copy);
	jn_stream_cfg_fini(&a);
	jn_stream_cfg_fini(&b);
}

static void test_overlap(void **state)
{
	(void)state;
	struct jn_stream_cfg a, b, c;
	char err[256];
	assert_int_equal(parse("{\"name\":\"A\",\"subjects\":[\"orders.*\",\"x\"]}", &a, err), 0);
	assert_int_equal(parse("{\"name\":\"B\",\"subjects\":[\"orders.new\"]}", &b, err), 0);
	assert_int_equal(parse("{\"name\":\"C\",\"subjects\":[\"orders.new.x\",\"y.>\"]}", &c, err), 0);
	assert_true(jn_stream_cfg_overlap(&a, &b));
	assert_false(jn_stream_cfg_overlap(&a, &c));
	assert_false(jn_stream_cfg_overlap(&b, &c));
	jn_stream_cfg_fini(&a);
	jn_stream_cfg_fini(&b);
	jn_stream_cfg_fini(&c);
}

static void test_times(void **state)
{
	(void)state;
	char b[JN_JS_TIME_LEN];
	assert_int_equal(jn_js_time_format(0, b), 20);
	assert_string_equal(b, "0001-01-01T00:00:00Z");
	jn_js_time_format(1795591713640809294LL, b);
	assert_string_equal(b, "2026-11-25T07:28:33.640809294Z");
	jn_js_time_format(1795591713500000000LL, b);   /* Go trims trailing zeros */
	assert_string_equal(b, "2026-11-25T07:28:33.5Z");
	jn_js_time_format(1795591713000000000LL, b);
	assert_string_equal(b, "2026-11-25T07:28:33Z");
	int64_t ns = -1;
	assert_int_equal(jn_js_time_parse("2026-11-25T07:28:33.640809294Z", 30, &ns), 0);
	assert_int_equal(ns, 1795591713640809294LL);
	assert_int_equal(jn_js_time_parse("2026-11-25T08:28:33.5+01:00", 27, &ns), 0);
	assert_int_equal(ns, 1795591713500000000LL);
	assert_int_equal(jn_js_time_parse("0001-01-01T00:00:00Z", 20, &ns), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(jn_js_time_parse("2026-11-25 07:28:33Z", 20, &ns), -JN_EINVAL);
	assert_int_equal(jn_js_time_parse("2026-11-25T07:28:33", 19, &ns), -JN_EINVAL);
	assert_int_equal(jn_js_time_parse("2026-13-25T07:28:33Z", 20, &ns), -JN_EINVAL);
	assert_int_equal(jn_js_time_parse("2026-11-25T07:28:33.Z", 21, &ns), -JN_EINVAL);
}

static void test_names_and_errors(void **state)
{
	(void)state;
	assert_true(jn_js_name_valid("ORDERS", 6));
	assert_true(jn_js_name_valid("KV_cfg-1", 8));
	assert_false(jn_js_name_valid("", 0));
	assert_false(jn_js_name_valid("a.b", 3));
	assert_false(jn_js_name_valid("a*", 2));
	assert_false(jn_js_name_valid("a>", 2));
	assert_false(jn_js_name_valid("a b", 3));
	assert_false(jn_js_name_valid("a\tb", 3));
	char long_name[300];
	memset(long_name, 'x', sizeof long_name);
	assert_true(jn_js_name_valid(long_name, 255));
	assert_false(jn_js_name_valid(long_name, 256));

	json_t *r = jn_js_error_new("stream_info_response", -JN_ESTREAMNOTFOUND, NULL);
	char *s = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(s, "{\"type\":\"io.nats.jetstream.api.v1.stream_info_response\","
	                       "\"error\":{\"code\":404,\"err_code\":10059,"
	                       "\"description\":\"stream not found\"}}");
	free(s);
	json_decref(r);
	r = jn_js_error_new("x", -JN_EWRONGLASTSEQ, "wrong last sequence: 5");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "err_code")),
	                 10071);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"),
	                                                      "description")),
	                    "wrong last sequence: 5");
	json_decref(r);

	/* request bodies: empty is no object; anything but an object is bad */
	json_t *o = (json_t *)1;
	struct jn_msg m = { .data = (const uint8_t *)" \r\n", .data_len = 3 };
	assert_int_equal(jn_js_parse_request(&m, &o), 0);
	assert_null(o);
	m.data = (const uint8_t *)"[1]";
	assert_int_equal(jn_js_parse_request(&m, &o), -JN_EBADJSON);
	m.data = (const uint8_t *)"{\"seq\":9223372036854775807,\"n\":-1,\"b\":true}";
	m.data_len = (uint32_t)strlen((const char *)m.data);
	assert_int_equal(jn_js_parse_request(&m, &o), 0);
	uint64_t u = 0;
	assert_int_equal(jn_js_get_u64(o, "seq", &u), 0);
	assert_true(u == INT64_MAX);
	assert_int_equal(jn_js_get_u64(o, "n", &u), -JN_EBADJSON);
	assert_int_equal(jn_js_get_u64(o, "b", &u), -JN_EBADJSON);
	u = 7;
	assert_int_equal(jn_js_get_u64(o, "absent", &u), 0);
	assert_int_equal(u, 7);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_charging),
		cmocka_unit_test(test_every_field_round_trips),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_update_rules),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_names_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
