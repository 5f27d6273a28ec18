/*
 * test_err.c - the error table: every code has one complete row, lookups
 * accept any int, and the wire texts are exactly the ones clients know
 * (shared/spec/nats-protocol.md §8, jetstream-api.md §3).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"

static void test_every_code_has_a_row(void **state)
{
	(void)state;
	for (int c = 0; c < JN_ERR_COUNT; c++) {
		const struct jn_err_info *e = jn_err_info(c);
		assert_non_null(e);
		assert_non_null(e->name);          /* a gap leaves a zeroed row */
		assert_int_equal(e->code, c);
		assert_memory_equal(e->name, "JN_", 3);
		assert_non_null(e->text);
		assert_true(strlen(e->text) > 0);
		assert_true(e->http_status >= 100 && e->http_status <= 599);
		assert_true(e->mqtt_reason >= 0 && e->mqtt_reason <= 0xA2);
		assert_true(e->js_err_code == 0 ||
		            (e->js_err_code >= 10000 && e->js_err_code <= 10999));
		/* Errors (not OK) use MQTT failure codes or the 0x10 "no matching
		 * subscribers" notice. */
		if (c != JN_OK)
			assert_true(e->mqtt_reason >= 0x80 || e->mqtt_reason == 0x10);
		for (int d = 0; d < c; d++)
			assert_string_not_equal(jn_err_info(d)->name, e->name);
	}
}

static void test_negative_positive_unknown(void **state)
{
	(void)state;
	for (int c = 0; c < JN_ERR_COUNT; c++) {
		assert_ptr_equal(jn_err_info(-c), jn_err_info(c));
		assert_ptr_equal(jn_strerror(-c), jn_err_info(c)->text);
	}
	const struct jn_err_info *inval = jn_err_info(JN_EINVAL);
	int unknown[] = { JN_ERR_COUNT, -JN_ERR_COUNT, 1000, -1000, INT_MAX, INT_MIN };
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		assert_ptr_equal(jn_err_info(unknown[i]), inval);
	assert_string_equal(jn_err_info(-JN_ENOTFOUND)->name, "JN_ENOTFOUND");
	assert_string_equal(jn_strerror(-JN_ESTREAMNOTFOUND), "stream not found");
	assert_string_equal(jn_strerror(0), "success");
}

/* Exact -ERR texts and what the server does after them. */
static void test_nats_texts(void **state)
{
	(void)state;
	static const struct { int code; const char *text; int close; } want[] = {
		{ JN_EPROTO, "Unknown Protocol Operation", 1 },
		{ JN_EMAXPAYLOAD, "Maximum Payload Violation", 1 },
		{ JN_EMAXCTRL, "maximum control line exceeded", 1 },
		{ JN_EAUTH, "Authorization Violation", 1 },
		{ JN_EAUTHTIMEOUT, "Authentication Timeout", 1 },
		{ JN_ESTALE, "Stale Connection", 1 },
		{ JN_EMAXCONN, "maximum connections exceeded", 1 },
		{ JN_EMAXSUBS, "maximum subscriptions exceeded", 0 },
		{ JN_EBADPROTOVER, "invalid client protocol", 1 },
		{ JN_ENOHEADERS, "no responders requires headers support", 1 },
		{ JN_EBADSUBJECT, "Invalid Subject", 0 },
		{ JN_EBADPUBSUBJECT, "Invalid Publish Subject", 0 },
		{ JN_EPERM_PUB, "Permissions Violation for Publish to", 0 },
		{ JN_EPERM_SUB, "Permissions Violation for Subscription to", 0 },
		{ JN_EPERM_REPLY, "Permissions Violation for Publish with Reply of", 0 },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const struct jn_err_info *e = jn_err_info(-want[i].code);
		assert_non_null(e->nats_err);
		assert_string_equal(e->nats_err, want[i].text);
		assert_int_equal(e->nats_close, want[i].close);
	}
	/* No other text may reach the wire: nats.go closes for good on an
	 * unknown -ERR. */
	for (int c = 0; c < JN_ERR_COUNT; c++) {
		const char *t = jn_err_info(c)->nats_err;
		if (!t)
			continue;
		bool listed = false;
		for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
			listed |= strcmp(t, want[i].text) == 0;
		assert_true(listed);
	}
	/* Slow consumers are closed without -ERR (spec §9). */
	assert_null(jn_err_info(-JN_ESLOW)->nats_err);
	assert_int_equal(jn_err_info(-JN_ESLOW)->nats_close, 1);
	assert_null(jn_err_info(JN_OK)->nats_err);
	assert_int_equal(jn_err_info(JN_OK)->nats_close, 0);
}

static void test_jetstream_codes(void **state)
{
	(void)state;
	static const struct { int code, js, http; const char *text; } want[] = {
		{ JN_ESTREAMNOTFOUND, 10059, 404, "stream not found" },
		{ JN_ENOTFOUND, 10059, 404, NULL },
		{ JN_ESTREAMEXISTS, 10058, 400,
		  "stream name already in use with a different configuration" },
		{ JN_ECONSUMERNOTFOUND, 10014, 404, "consumer not found" },
		{ JN_ECONSUMEREXISTS, 10013, 400, "consumer name already in use" },
		{ JN_ENOMSG, 10037, 404, "no message found" },
		{ JN_EJSNOTENABLED, 10076, 503, "JetStream not enabled" },
		{ JN_EBADREQUEST, 10003, 400, "bad request" },
		{ JN_EBADJSON, 10025, 400, "invalid JSON" },
		{ JN_ESTREAMMISMATCH, 10056, 400, "stream name in subject does not match request" },
		{ JN_ESUBJOVERLAP, 10065, 400, "subjects overlap with an existing stream" },
		{ JN_EEXPECTSTREAM, 10060, 400, "expected stream does not match" },
		{ JN_EWRONGLASTSEQ, 10071, 400, "wrong last sequence" },
		{ JN_EWRONGLASTMSGID, 10070, 400, "wrong last msg ID" },
		{ JN_EMSGSIZE, 10054, 400, "message size exceeds maximum allowed" },
		{ JN_ENOSPC, 10047, 503, NULL },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const struct jn_err_info *e = jn_err_info(-want[i].code);
		assert_int_equal(e->js_err_code, want[i].js);
		assert_int_equal(e->http_status, want[i].http);
		if (want[i].text)
			assert_string_equal(e->text, want[i].text);
	}
}

static void test_http_and_mqtt(void **state)
{
	(void)state;
	static const struct { int code, http, mqtt; } want[] = {
		{ JN_OK, 200, 0x00 },
		{ JN_EAUTH, 401, 0x86 },
		{ JN_EPERM_PUB, 403, 0x87 },
		{ JN_EPERM_SUB, 403, 0x87 },
		{ JN_EMAXPAYLOAD, 413, 0x95 },
		{ JN_EMAXCTRL, 431, 0x95 },
		{ JN_ESLOW, 503, 0x97 },
		{ JN_EMAXSUBS, 429, 0x97 },
		{ JN_EINVAL, 400, 0x81 },
		{ JN_EBADHDR, 400, 0x81 },
		{ JN_EPROTO, 400, 0x82 },
		{ JN_EBADSUBJECT, 400, 0x8F },
		{ JN_EBADPUBSUBJECT, 400, 0x90 },
		{ JN_EBADPROTOVER, 400, 0x84 },
		{ JN_ETIMEOUT, 504, 0x80 },
		{ JN_ENORESPONDERS, 503, 0x10 },
		{ JN_ENOTFOUND, 404, 0x80 },
		{ JN_EEXIST, 409, 0x80 },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const struct jn_err_info *e = jn_err_info(-want[i].code);
		assert_int_equal(e->http_status, want[i].http);
		assert_int_equal(e->mqtt_reason, want[i].mqtt);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_has_a_row),
		cmocka_unit_test(test_negative_positive_unknown),
		cmocka_unit_test(test_nats_texts),
		cmocka_unit_test(test_jetstream_codes),
		cmocka_unit_test(test_http_and_mqtt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
