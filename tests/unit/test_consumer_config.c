/*
 * test_consumer_config.c - ConsumerConfig: parsing (lenient like Go's json,
 * strict on types and enum strings), nats-server's defaults, every
 * validation rule with its err_code and text, the update rules, equality,
 * and the JSON echo (member order and omitted zero values as nats-server
 * 2.9.10 writes them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/consumer.h"
#include "core/err.h"
#include "core/stream.h"

static int parse(const char *json, struct jn_consumer_cfg *c)
{
	json_error_t e;
	json_t *o = json_loads(json, 0, &e);
	assert_non_null(o);
	int rc = jn_consumer_cfg_parse(o, c);
	json_decref(o);
	return rc;
}

/* parse + defaults + check against a stream on "S.>" (retention given). */
static int check(const char *json, enum jn_retention ret, char *err)
{
	struct jn_consumer_cfg c;
	int rc = parse(json, &c);
	if (rc)
		return rc;
	jn_consumer_cfg_defaults(&c);
	char *subjects[] = { "S.>" };
	struct jn_stream_cfg s = { .name = "S", .subjects = subjects, .nsubjects = 1,
	                           .retention = ret };
	rc = jn_consumer_cfg_check(&c, &s, err, 256);
	jn_consumer_cfg_fini(&c);
	return rc;
}

static char *echo(const char *json)
{
	struct jn_consumer_cfg c;
	assert_int_equal(parse(json, &c), 0);
	jn_consumer_cfg_defaults(&c);
	json_t *o = jn_consumer_cfg_to_json(&c);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	jn_consumer_cfg_fini(&c);
	return s;
}

static void test_parse_and_defaults(void **state)
{
	(void)state;
	struct jn_consumer_cfg c;
	assert_int_equal(parse("{}", &c), 0);
	assert_null(c.durable_name);
	assert_int_equal(c.ack_policy, JN_ACK_NONE);       /* the JSON zero value */
	assert_int_equal(c.deliver_policy, JN_DELIVER_ALL);
	jn_consumer_cfg_defaults(&c);
	assert_int_equal(c.max_waiting, 512);              /* pull */
	assert_int_equal(c.ack_wait, 0);                   /* no acks, no ack_wait */
	assert_int_equal(c.max_deliver, -1);
	assert_int_equal(c.max_ack_pending, 0);
	jn_consumer_cfg_fini(&c);

	assert_int_equal(parse("{\"durable_name\":\"D\",\"ack_policy\":\"explicit\","
	                       "\"deliver_policy\":\"undefined\",\"durable_name\":\"D\","
	                       "\"unknown_2_10_field\":[1,2],\"name\":\"\"}", &c), 0);
	assert_string_equal(c.durable_name, "D");
	assert_null(c.name);                               /* "" is unset */
	assert_int_equal(c.deliver_policy, JN_DELIVER_ALL);
	jn_consumer_cfg_defaults(&c);
	assert_int_equal(c.ack_wait, 30000000000LL);
	assert_int_equal(c.max_ack_pending, 1000);
	jn_consumer_cfg_fini(&c);

	/* backoff overrides ack_wait; push has no max_waiting default */
	assert_int_equal(parse("{\"ack_policy\":\"all\",\"backoff\":[5,10],"
	                       "\"deliver_subject\":\"d\",\"ack_wait\":99}", &c), 0);
	jn_consumer_cfg_defaults(&c);
	assert_int_equal(c.ack_wait, 5);
	assert_int_equal(c.max_waiting, 0);
	assert_int_equal(c.nbackoff, 2);
	assert_int_equal(c.backoff[1], 10);
	jn_consumer_cfg_fini(&c);

	assert_int_equal(parse("{\"opt_start_time\":\"2026-11-25T07:28:33.5Z\","
	                       "\"deliver_policy\":\"by_start_time\"}", &c), 0);
	assert_true(c.has_opt_start_time);
	assert_int_equal(c.opt_start_time % 1000000000LL, 500000000LL);
	jn_consumer_cfg_fini(&c);
}

static void test_parse_errors(void **state)
{
	(void)state;
	struct jn_consumer_cfg c;
	assert_int_equal(parse("{\"ack_policy\":\"sometimes\"}", &c), -JN_EBADJSON);
	assert_int_equal(parse("{\"deliver_policy\":1}", &c), -JN_EBADJSON);
	assert_int_equal(parse("{\"replay_policy\":\"fast\"}", &c), -JN_EBADJSON);
	assert_int_equal(parse("{\"ack_wait\":\"30s\"}", &c), -JN_EBADJSON);
	assert_int_equal(parse("{\"backoff\":[\"1s\"]}", &c), -JN_EBADJSON);
	assert_int_equal(parse("{\"backoff\":5}", &c), -JN_EBADJSON);
	assert_int_equal(parse("{\"opt_start_time\":\"yesterday\"}", &c), -JN_EBADJSON);
	assert_int_equal(parse("{\"flow_control\":\"yes\"}", &c), -JN_EBADJSON);
	assert_int_equal(parse("{\"durable_name\":5}", &c), -JN_EBADJSON);
	json_t *a = json_array();
	assert_int_equal(jn_consumer_cfg_parse(a, &c), -JN_EBADJSON);
	json_decref(a);
}

static void test_checks(void **state)
{
	(void)state;
	char err[256];
	struct { const char *json; enum jn_retention ret; int rc; const char *desc; } cases[] = {
		{ "{\"ack_policy\":\"explicit\"}", JN_RET_LIMITS, 0, NULL },
		{ "{\"ack_policy\":\"explicit\",\"filter_subject\":\"S.a.*\"}", JN_RET_LIMITS, 0, NULL },
		{ "{\"filter_subject\":\">\"}", JN_RET_LIMITS, 0, NULL },   /* wider, covers S.> */
		{ "{\"filter_subject\":\"T.a\"}", JN_RET_LIMITS, -JN_EFILTERNOTSUBSET, NULL },
		{ "{\"backoff\":[1,2],\"max_deliver\":2}", JN_RET_LIMITS, -JN_EMAXDELIVERBACKOFF, NULL },
		{ "{\"backoff\":[1,2],\"max_deliver\":3}", JN_RET_LIMITS, 0, NULL },
		{ "{\"deliver_subject\":\"d.*\"}", JN_RET_LIMITS, -JN_EDELIVERWILDCARD, NULL },
		{ "{\"deliver_subject\":\"d..x\"}", JN_RET_LIMITS, -JN_EDELIVERSUBJECT, NULL },
		{ "{\"deliver_subject\":\"S.x\"}", JN_RET_LIMITS, -JN_EDELIVERCYCLE, NULL },
		{ "{\"deliver_subject\":\"d\",\"max_waiting\":1}", JN_RET_LIMITS, -JN_EPUSHMAXWAITING, NULL },
		{ "{\"deliver_subject\":\"d\",\"max_ack_pending\":1}", JN_RET_LIMITS,
		  -JN_EMAXPENDINGNOACK, NULL },
		{ "{\"deliver_subject\":\"d\",\"idle_heartbeat\":99999999}", JN_RET_LIMITS,
		  -JN_ESMALLHEARTBEAT, NULL },
		{ "{\"deliver_subject\":\"d\",\"idle_heartbeat\":100000000}", JN_RET_LIMITS, 0, NULL },
		{ "{\"deliver_subject\":\"d\",\"flow_control\":true}", JN_RET_LIMITS,
		  -JN_EFCNOHEARTBEAT, NULL },
		{ "{}", JN_RET_WORKQUEUE, -JN_EPULLNOACK, NULL },
		{ "{\"rate_limit_bps\":10}", JN_RET_LIMITS, -JN_EPULLRATELIMIT, NULL },
		{ "{\"max_waiting\":-1}", JN_RET_LIMITS, -JN_EMAXWAITINGNEG, NULL },
		{ "{\"idle_heartbeat\":1000000000}", JN_RET_LIMITS, -JN_EHBPULL, NULL },
		{ "{\"flow_control\":true}", JN_RET_LIMITS, -JN_EFCPULL, NULL },
		{ "{\"max_batch\":-1}", JN_RET_LIMITS, -JN_EMAXBATCHNEG, NULL },
		{ "{\"max_expires\":999999}", JN_RET_LIMITS, -JN_EMAXEXPIRESSMALL, NULL },
		{ "{\"direct\":true}", JN_RET_LIMITS, -JN_EDIRECTPULL, NULL },
		{ "{\"direct\":true,\"deliver_subject\":\"d\",\"durable_name\":\"x\"}", JN_RET_LIMITS,
		  -JN_EDIRECTDURABLE, NULL },
		{ "{\"durable_name\":\"a\",\"name\":\"b\"}", JN_RET_LIMITS, -JN_EDURABLENAMEMISMATCH, NULL },
		{ "{\"deliver_policy\":\"by_start_sequence\"}", JN_RET_LIMITS, -JN_EDELIVERPOLICY,
		  "consumer delivery policy is deliver by start sequence, but optional start sequence "
		  "is not set" },
		{ "{\"deliver_policy\":\"by_start_time\",\"opt_start_seq\":3,"
		  "\"opt_start_time\":\"2026-01-01T00:00:00Z\"}", JN_RET_LIMITS, -JN_EDELIVERPOLICY,
		  "consumer delivery policy is deliver by start time, but optional start start sequence "
		  "is also set" },
		{ "{\"deliver_policy\":\"new\",\"opt_start_time\":\"2026-01-01T00:00:00Z\"}",
		  JN_RET_LIMITS, -JN_EDELIVERPOLICY,
		  "consumer delivery policy is deliver new, but optional start time is also set" },
		{ "{\"deliver_policy\":\"last_per_subject\"}", JN_RET_LIMITS, -JN_EDELIVERPOLICY,
		  "consumer delivery policy is deliver last per subject, but optional filter subject "
		  "is not set" },
		{ "{\"sample_freq\":\"50%\"}", JN_RET_LIMITS, 0, NULL },
		{ "{\"sample_freq\":\"-5\"}", JN_RET_LIMITS, -JN_ESAMPLEFREQ, NULL },
		{ "{\"sample_freq\":\"x\"}", JN_RET_LIMITS, -JN_ESAMPLEFREQ, NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = check(cases[i].json, cases[i].ret, err);
		if (rc != cases[i].rc)
			fail_msg("%s: got %d (%s), expected %d", cases[i].json, rc, jn_strerror(rc),
			         cases[i].rc);
		if (cases[i].desc)
			assert_string_equal(err, cases[i].desc);
	}
	/* the err_codes clients see */
	assert_int_equal(jn_err_info(-JN_EFILTERNOTSUBSET)->js_err_code, 10093);
	assert_int_equal(jn_err_info(-JN_EPULLNOACK)->js_err_code, 10084);
	assert_int_equal(jn_err_info(-JN_EWQEXPLICITACK)->js_err_code, 10098);
	assert_int_equal(jn_err_info(-JN_ECONSUMERCREATE)->js_err_code, 10012);
	assert_int_equal(jn_err_info(-JN_EDELIVERPOLICY)->js_err_code, 10094);
}

static void test_update_rules(void **state)
{
	(void)state;
	struct { const char *old, *upd; bool bound; int rc; const char *desc; } cases[] = {
		{ "{\"ack_policy\":\"explicit\"}", "{\"ack_policy\":\"explicit\"}", false, 0, NULL },
		{ "{\"ack_policy\":\"explicit\"}",
		  "{\"ack_policy\":\"explicit\",\"max_ack_pending\":5,\"ack_wait\":7,"
		  "\"description\":\"d\",\"max_deliver\":3,\"headers_only\":true}", false, 0, NULL },
		{ "{}", "{\"deliver_policy\":\"new\"}", false, -JN_ECONSUMERCREATE,
		  "deliver policy can not be updated" },
		{ "{\"deliver_policy\":\"by_start_sequence\",\"opt_start_seq\":1}",
		  "{\"deliver_policy\":\"by_start_sequence\",\"opt_start_seq\":2}", false,
		  -JN_ECONSUMERCREATE, "start sequence can not be updated" },
		{ "{}", "{\"ack_policy\":\"all\"}", false, -JN_ECONSUMERCREATE,
		  "ack policy can not be updated" },
		{ "{}", "{\"replay_policy\":\"original\"}", false, -JN_ECONSUMERCREATE,
		  "replay policy can not be updated" },
		{ "{\"deliver_subject\":\"a\",\"idle_heartbeat\":1}",
		  "{\"deliver_subject\":\"a\",\"idle_heartbeat\":2}", false, -JN_ECONSUMERCREATE,
		  "heart beats can not be updated" },
		{ "{}", "{\"max_waiting\":7}", false, -JN_ECONSUMERCREATE,
		  "max waiting can not be updated" },
		{ "{\"deliver_subject\":\"a\"}", "{\"deliver_subject\":\"b\"}", false, 0, NULL },
		{ "{\"deliver_subject\":\"a\"}", "{\"deliver_subject\":\"b\"}", true,
		  -JN_ECONSUMEREXISTS, NULL },
		{ "{\"ack_policy\":\"explicit\"}",
		  "{\"ack_policy\":\"explicit\",\"backoff\":[1,2],\"max_deliver\":2}", false,
		  -JN_EMAXDELIVERBACKOFF, NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct jn_consumer_cfg o, n;
		assert_int_equal(parse(cases[i].old, &o), 0);
		assert_int_equal(parse(cases[i].upd, &n), 0);
		jn_consumer_cfg_defaults(&o);
		jn_consumer_cfg_defaults(&n);
		char err[256];
		int rc = jn_consumer_cfg_check_update(&o, &n, cases[i].bound, err, sizeof err);
		if (rc != cases[i].rc)
			fail_msg("%s -> %s: got %d, expected %d", cases[i].old, cases[i].upd, rc,
			         cases[i].rc);
		if (cases[i].desc)
			assert_string_equal(err, cases[i].desc);
		jn_consumer_cfg_fini(&o);
		jn_consumer_cfg_fini(&n);
	}
}

static void test_echo(void **state)
{
	(void)state;
	/* what nats-server 2.9.10 answers for the seed's DISPATCH */
	char *s = echo("{\"durable_name\":\"DISPATCH\",\"name\":\"DISPATCH\",\"deliver_policy\":\"all\","
	               "\"ack_policy\":\"explicit\",\"filter_subject\":\"ORDERS.processed\","
	               "\"replay_policy\":\"instant\",\"max_ack_pending\":65536,\"num_replicas\":0}");
	assert_string_equal(s, "{\"durable_name\":\"DISPATCH\",\"name\":\"DISPATCH\",\"deliver_policy\":"
	                       "\"all\",\"ack_policy\":\"explicit\",\"ack_wait\":30000000000,"
	                       "\"max_deliver\":-1,\"filter_subject\":\"ORDERS.processed\","
	                       "\"replay_policy\":\"instant\",\"max_waiting\":512,"
	                       "\"max_ack_pending\":65536,\"num_replicas\":0}");
	free(s);
	/* an ordered consumer as nats.go creates it */
	s = echo("{\"deliver_subject\":\"_INBOX.x\",\"deliver_policy\":\"by_start_sequence\","
	         "\"opt_start_seq\":5,\"ack_policy\":\"none\",\"max_deliver\":1,\"flow_control\":true,"
	         "\"idle_heartbeat\":5000000000,\"ack_wait\":79200000000000,\"mem_storage\":true,"
	         "\"num_replicas\":1,\"inactive_threshold\":5000000000}");
	assert_string_equal(s, "{\"deliver_policy\":\"by_start_sequence\",\"opt_start_seq\":5,"
	                       "\"ack_policy\":\"none\",\"ack_wait\":79200000000000,\"max_deliver\":1,"
	                       "\"replay_policy\":\"instant\",\"idle_heartbeat\":5000000000,"
	                       "\"flow_control\":true,\"deliver_subject\":\"_INBOX.x\","
	                       "\"inactive_threshold\":5000000000,\"num_replicas\":1,"
	                       "\"mem_storage\":true}");
	free(s);
	/* every other member, in Go's order */
	s = echo("{\"description\":\"d\",\"opt_start_time\":\"2026-11-25T07:28:33.632117029Z\","
	         "\"deliver_policy\":\"by_start_time\",\"ack_policy\":\"all\",\"backoff\":[1,2],"
	         "\"max_deliver\":5,\"replay_policy\":\"original\",\"rate_limit_bps\":8,"
	         "\"sample_freq\":\"10%\",\"headers_only\":true,\"max_batch\":2,\"max_expires\":3,"
	         "\"max_bytes\":4,\"deliver_group\":\"g\",\"direct\":true}");
	assert_string_equal(s, "{\"description\":\"d\",\"deliver_policy\":\"by_start_time\","
	                       "\"opt_start_time\":\"2026-11-25T07:28:33.632117029Z\","
	                       "\"ack_policy\":\"all\",\"ack_wait\":1,\"max_deliver\":5,"
	                       "\"backoff\":[1,2],\"replay_policy\":\"original\","
	                       "\"rate_limit_bps\":8,\"sample_freq\":\"10%\",\"max_waiting\":512,"
	                       "\"max_ack_pending\":1000,\"headers_only\":true,\"max_batch\":2,"
	                       "\"max_expires\":3,\"max_bytes\":4,\"deliver_group\":\"g\","
	                       "\"num_replicas\":0,\"direct\":true}");
	free(s);
}

static void test_copy_equal(void **state)
{
	(void)state;
	struct jn_consumer_cfg a, b;
	assert_int_equal(parse("{\"durable_name\":\"D\",\"backoff\":[1,2,3],\"filter_subject\":"
	                       "\"S.a\",\"deliver_subject\":\"x\",\"deliver_group\":\"q\"}", &a), 0);
	assert_int_equal(jn_consumer_cfg_copy(&b, &a), 0);
	assert_true(jn_consumer_cfg_equal(&a, &b));
	assert_ptr_not_equal(a.backoff, b.backoff);
	b.backoff[2] = 4;
	assert_false(jn_consumer_cfg_equal(&a, &b));
	b.backoff[2] = 3;
	jn_free(b.deliver_group);
	b.deliver_group = NULL;
	assert_false(jn_consumer_cfg_equal(&a, &b));
	jn_consumer_cfg_fini(&a);
	jn_consumer_cfg_fini(&b);
	assert_string_equal(jn_deliver_policy_str(JN_DELIVER_LAST_PER_SUBJECT), "last_per_subject");
	assert_string_equal(jn_ack_policy_str(JN_ACK_EXPLICIT), "explicit");
	assert_string_equal(jn_replay_policy_str(JN_REPLAY_ORIGINAL), "original");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_defaults),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_update_rules),
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_copy_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
