/*
 * test_consumer_ack.c - the bytes around deliveries: ack reply subjects
 * (the v1 form written, v1 and v2 read, malformed ones refused), ack bodies
 * (+ACK, -NAK with a JSON or Go-duration delay, +WPI, +NXT, +TERM), Go
 * durations, and pull request bodies as nats-server reads them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/consumer.h"
#include "core/err.h"

static void test_ack_subject_round_trip(void **state)
{
	(void)state;
	char buf[256];
	int n = jn_ack_subject_format(buf, sizeof buf, "ORDERS", 6, "DISPATCH", 8, 1, 1, 1,
	                              1795591713640809294LL, 1);
	assert_string_equal(buf, "$JS.ACK.ORDERS.DISPATCH.1.1.1.1795591713640809294.1");
	assert_int_equal(n, (int)strlen(buf));
	struct jn_ack_info ai;
	assert_int_equal(jn_ack_subject_parse(buf, (size_t)n, &ai), 0);
	assert_int_equal(ai.stream_len, 6);
	assert_memory_equal(ai.stream, "ORDERS", 6);
	assert_memory_equal(ai.consumer, "DISPATCH", 8);
	assert_int_equal(ai.delivered, 1);
	assert_int_equal(ai.sseq, 1);
	assert_int_equal(ai.cseq, 1);
	assert_int_equal(ai.ts, 1795591713640809294LL);
	assert_int_equal(ai.pending, 1);
	/* too small a buffer */
	assert_int_equal(jn_ack_subject_format(buf, 20, "ORDERS", 6, "DISPATCH", 8, 1, 1, 1, 1, 1),
	                 -JN_ENOMEM);
	/* v2: $JS.ACK.<domain>.<acc hash>.<stream>.<consumer>.<dc>.<sseq>.<cseq>.<ts>.<pending>.<rand> */
	const char *v2 = "$JS.ACK.hub.ACCHASH.KV_x.c1.3.42.7.1700000000000000000.9.r4nd";
	assert_int_equal(jn_ack_subject_parse(v2, strlen(v2), &ai), 0);
	assert_memory_equal(ai.stream, "KV_x", 4);
	assert_memory_equal(ai.consumer, "c1", 2);
	assert_int_equal(ai.delivered, 3);
	assert_int_equal(ai.sseq, 42);
	assert_int_equal(ai.cseq, 7);
	assert_int_equal(ai.pending, 9);
}

static void test_ack_subject_malformed(void **state)
{
	(void)state;
	const char *bad[] = {
		"$JS.ACK.S.C.1.1.1.1",                /* 8 tokens */
		"$JS.ACK.S.C.1.1.1.1.1.1",            /* 10 */
		"$JS.ACK.S.C.1.x.1.1.1",              /* not a number */
		"$JS.ACK.S.C.1.-1.1.1.1",             /* sign */
		"$JS.ACK.S.C.1..1.1.1",               /* empty token */
		"$JS.NAK.S.C.1.1.1.1.1",
		"$JS.ACK.S.C.1.99999999999999999999.1.1.1",   /* overflow */
		"",
		"$JS.ACK.S.C.1.1.1.1.1.",
	};
	struct jn_ack_info ai;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (jn_ack_subject_parse(bad[i], strlen(bad[i]), &ai) == 0)
			fail_msg("accepted %s", bad[i]);
}

static void test_ack_bodies(void **state)
{
	(void)state;
	int64_t d;
	const uint8_t *rest;
	size_t rl;
#define KIND(s) jn_ack_body_parse((const uint8_t *)(s), strlen(s), &d, &rest, &rl)
	assert_int_equal(KIND(""), JN_ACK_ACK);
	assert_int_equal(KIND("+ACK"), JN_ACK_ACK);
	assert_int_equal(KIND("+OK"), JN_ACK_ACK);
	assert_int_equal(KIND("+WPI"), JN_ACK_WPI);
	assert_int_equal(KIND("+TERM"), JN_ACK_TERM);
	assert_int_equal(KIND("+TERM not needed"), JN_ACK_TERM);
	assert_int_equal(KIND("+TERMINATE"), JN_ACK_UNKNOWN);
	assert_int_equal(KIND("+ACKX"), JN_ACK_UNKNOWN);
	assert_int_equal(KIND("hello"), JN_ACK_UNKNOWN);
	assert_int_equal(KIND("-NAK"), JN_ACK_NAK);
	assert_int_equal(d, 0);
	assert_int_equal(KIND("-NAK {\"delay\": 5000000000}"), JN_ACK_NAK);   /* nats.go */
	assert_int_equal(d, 5000000000LL);
	assert_int_equal(KIND("-NAK 1.5s"), JN_ACK_NAK);
	assert_int_equal(d, 1500000000LL);
	assert_int_equal(KIND("-NAK {bad"), JN_ACK_NAK);   /* a plain NAK, as nats-server */
	assert_int_equal(d, 0);
	assert_int_equal(KIND("-NAK soon"), JN_ACK_NAK);
	assert_int_equal(d, 0);
	assert_int_equal(KIND("+NXT"), JN_ACK_NXT);
	assert_int_equal(rl, 0);
	assert_int_equal(KIND("+NXT {\"batch\":2}"), JN_ACK_NXT);
	assert_int_equal(rl, strlen(" {\"batch\":2}"));
	assert_memory_equal(rest, " {\"batch\":2}", rl);
#undef KIND
}

static void test_go_durations(void **state)
{
	(void)state;
	struct { const char *s; int64_t ns; } ok[] = {
		{ "0", 0 }, { "5s", 5000000000LL }, { "300ms", 300000000LL }, { "1.5s", 1500000000LL },
		{ "1h2m3s", 3723000000000LL }, { "-2s", -2000000000LL }, { "+1m", 60000000000LL },
		{ "10us", 10000 }, { "10\xc2\xb5s", 10000 }, { "7ns", 7 }, { ".5s", 500000000LL },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t ns = -1;
		assert_int_equal(jn_go_duration_parse(ok[i].s, strlen(ok[i].s), &ns), 0);
		assert_int_equal(ns, ok[i].ns);
	}
	const char *bad[] = { "", "5", "s", "5x", "1.s.", "-", "3 s", "99999999999h" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ns;
		if (jn_go_duration_parse(bad[i], strlen(bad[i]), &ns) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

static int pull(const char *body, struct jn_pull_req *r, char *err)
{
	return jn_pull_req_parse((const uint8_t *)body, strlen(body), r, err, 128);
}

static void test_pull_requests(void **state)
{
	(void)state;
	struct jn_pull_req r;
	char err[128];
	assert_int_equal(pull("", &r, err), 0);
	assert_int_equal(r.batch, 1);
	assert_int_equal(r.expires, 0);
	assert_false(r.no_wait);
	assert_int_equal(pull("  17 ", &r, err), 0);
	assert_int_equal(r.batch, 17);
	assert_int_equal(pull("many", &r, err), 0);   /* nats-server: batch 1 */
	assert_int_equal(r.batch, 1);
	/* what nats.go's Fetch(10) sends */
	assert_int_equal(pull("{\"expires\":4989997576,\"batch\":10,\"no_wait\":true}", &r, err), 0);
	assert_int_equal(r.batch, 10);
	assert_int_equal(r.expires, 4989997576LL);
	assert_true(r.no_wait);
	/* what nats.js sends */
	assert_int_equal(pull("{\"batch\":2,\"max_bytes\":0,\"idle_heartbeat\":500000000,"
	                      "\"expires\":1000000000}", &r, err), 0);
	assert_int_equal(r.idle_heartbeat, 500000000);
	assert_int_equal(r.max_bytes, 0);
	assert_int_equal(pull("{\"batch\":0}", &r, err), 0);
	assert_int_equal(r.batch, 1);
	assert_int_equal(pull("{\"batch\":1,\"expires\":1000000000,\"idle_heartbeat\":600000000}",
	                      &r, err), -JN_EBADREQUEST);
	assert_string_equal(err, "heartbeat value too large");
	assert_int_equal(pull("{\"batch\":1,\"idle_heartbeat\":1}", &r, err), -JN_EBADREQUEST);
	assert_int_equal(pull("{bad", &r, err), -JN_EBADREQUEST);
	assert_true(strlen(err) > 0);
	assert_int_equal(pull("{\"batch\":\"5\"}", &r, err), -JN_EBADREQUEST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ack_subject_round_trip),
		cmocka_unit_test(test_ack_subject_malformed),
		cmocka_unit_test(test_ack_bodies),
		cmocka_unit_test(test_go_durations),
		cmocka_unit_test(test_pull_requests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
