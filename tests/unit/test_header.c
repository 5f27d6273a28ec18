/*
 * test_header.c - NATS/1.0 header blocks: validation, status lines, key
 * lookup, iteration, the builder, and robustness on arbitrary bytes (every
 * reader runs over exact-size heap copies so ASan sees any overread).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/header.h"

/* An exact-size heap copy: one byte past the end is out of bounds. */
static uint8_t *dup_exact(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	assert_non_null(d);
	if (n)
		memcpy(d, p, n);
	return d;
}

static int validate_str(const char *s)
{
	size_t n = strlen(s);
	uint8_t *d = dup_exact(s, n);
	int rc = jn_hdr_validate(d, n);
	free(d);
	return rc;
}

static void test_validate_good(void **state)
{
	(void)state;
	static const char *good[] = {
		"NATS/1.0\r\n\r\n",
		"NATS/1.0 503\r\n\r\n",
		"NATS/1.0 404 No Messages\r\n\r\n",
		"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 8\r\nNats-Pending-Bytes: 0\r\n\r\n",
		"NATS/1.0\r\nA: b\r\n\r\n",
		"NATS/1.0\r\nNats-Msg-Id: id1\r\n\r\n",
		"NATS/1.0\r\nA: 1\r\nA: 2\r\na: 3\r\n\r\n",
		"NATS/1.0\r\nEmpty:\r\n\r\n",
		"NATS/1.0\r\nK:v:w\r\n\r\n",
		"NATS/1.0\r\nK: \tspaced value \r\n\r\n",
		"NATS/1.0 100 Idle Heartbeat\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		if (validate_str(good[i]) != 0)
			fail_msg("should be valid: %s", good[i]);
	}
}

static void test_validate_bad(void **state)
{
	(void)state;
	static const char *bad[] = {
		"",
		"NATS/1.0",
		"NATS/1.0\r\n",                  /* no blank line */
		"NATS/1.1\r\n\r\n",
		"nats/1.0\r\n\r\n",
		"NATS/1.0x\r\n\r\n",
		"NATS/1.0 50\r\n\r\n",           /* status not 3 digits */
		"NATS/1.0 5034\r\n\r\n",
		"NATS/1.0 abc\r\n\r\n",
		"NATS/1.0\r\n\r\nX",             /* bytes after the blank line */
		"NATS/1.0\r\n\r\n\r\n",
		"NATS/1.0\r\nNoColon\r\n\r\n",
		"NATS/1.0\r\n: empty name\r\n\r\n",
		"NATS/1.0\r\nBad Name: v\r\n\r\n",
		"NATS/1.0\r\n Lead: v\r\n\r\n",
		"NATS/1.0\r\nA: b\n\r\n",        /* bare LF */
		"NATS/1.0\nA: b\r\n\r\n",
		"NATS/1.0\r\nA: b\rc\r\n\r\n",   /* bare CR */
		"NATS/1.0\r\nA: b\r\n\r",
		"NATS/1.0\r\nA: b\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (validate_str(bad[i]) != -JN_EBADHDR)
			fail_msg("should be invalid: %s", bad[i]);
	}
	assert_int_equal(jn_hdr_validate(NULL, 0), -JN_EBADHDR);
	/* A control byte or NUL in a name is refused; in a value it is data. */
	const uint8_t nul_name[] = "NATS/1.0\r\nA\0B: v\r\n\r\n";
	assert_int_equal(jn_hdr_validate(nul_name, sizeof nul_name - 1), -JN_EBADHDR);
	const uint8_t nul_val[] = "NATS/1.0\r\nAB: v\0w\r\n\r\n";
	assert_int_equal(jn_hdr_validate(nul_val, sizeof nul_val - 1), 0);
}

/* Every strict prefix of a valid block is invalid. */
static void test_validate_truncated(void **state)
{
	(void)state;
	const char *s = "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 8\r\n\r\n";
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		uint8_t *d = dup_exact(s, i);
		assert_int_equal(jn_hdr_validate(d, i), -JN_EBADHDR);
		free(d);
	}
	assert_int_equal(validate_str(s), 0);
}

static void check_status(const char *s, int rc_want, int code_want, const char *desc_want)
{
	size_t n = strlen(s);
	uint8_t *d = dup_exact(s, n);
	int code = -1;
	const char *desc = NULL;
	size_t dl = 99;
	int rc = jn_hdr_status(d, n, &code, &desc, &dl);
	assert_int_equal(rc, rc_want);
	assert_int_equal(code, code_want);
	assert_non_null(desc);
	assert_int_equal(dl, strlen(desc_want));
	assert_memory_equal(desc, desc_want, dl);
	free(d);
}

static void test_status(void **state)
{
	(void)state;
	check_status("NATS/1.0 503\r\n\r\n", 0, 503, "");
	check_status("NATS/1.0 404 No Messages\r\n\r\n", 0, 404, "No Messages");
	check_status("NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 8\r\n\r\n",
	             0, 408, "Request Timeout");
	check_status("NATS/1.0 409 Exceeded MaxRequestBatch of 5\r\n\r\n", 0, 409,
	             "Exceeded MaxRequestBatch of 5");
	check_status("NATS/1.0\r\nA: b\r\n\r\n", 0, 0, "");
	check_status("NATS/1.0\r\n\r\n", 0, 0, "");
	check_status("NATS/1.0  100\tIdle Heartbeat \r\n\r\n", 0, 100, "Idle Heartbeat");
	check_status("NATS/1.0 50\r\n\r\n", -JN_EBADHDR, 0, "");
	check_status("NATS/1.0 5034\r\n\r\n", -JN_EBADHDR, 0, "");
	check_status("NATS/1.0x\r\n\r\n", -JN_EBADHDR, 0, "");
	check_status("NATS/1.0 503", -JN_EBADHDR, 0, "");   /* no CRLF */
	check_status("HTTP/1.1 200 OK\r\n\r\n", -JN_EBADHDR, 0, "");
	/* NULL outputs are allowed. */
	const uint8_t s[] = "NATS/1.0 503\r\n\r\n";
	assert_int_equal(jn_hdr_status(s, sizeof s - 1, NULL, NULL, NULL), 0);
}

static bool get_str(const char *blk, const char *key, char *out, size_t outcap)
{
	size_t n = strlen(blk);
	uint8_t *d = dup_exact(blk, n);
	const char *v = NULL;
	size_t vl = 0;
	bool found = jn_hdr_get(d, n, key, &v, &vl);
	if (found) {
		assert_true(v >= (const char *)d && v + vl <= (const char *)d + n);
		assert_true(vl < outcap);
		memcpy(out, v, vl);
		out[vl] = 0;
	}
	free(d);
	return found;
}

static void test_get(void **state)
{
	(void)state;
	char v[128];
	const char *blk = "NATS/1.0\r\nNats-Msg-Id: id1\r\nNats-Msg: short\r\n"
	                  "A: first\r\nA: second\r\nB:\t \tx y \r\nEmpty:\r\n"
	                  "lower: l\r\n\r\n";
	assert_true(get_str(blk, "Nats-Msg-Id", v, sizeof v));
	assert_string_equal(v, "id1");
	assert_true(get_str(blk, "Nats-Msg", v, sizeof v));   /* not a prefix match */
	assert_string_equal(v, "short");
	assert_true(get_str(blk, "A", v, sizeof v));          /* first occurrence */
	assert_string_equal(v, "first");
	assert_true(get_str(blk, "B", v, sizeof v));          /* leading blanks skipped */
	assert_string_equal(v, "x y ");
	assert_true(get_str(blk, "Empty", v, sizeof v));
	assert_string_equal(v, "");
	assert_false(get_str(blk, "a", v, sizeof v));         /* case-sensitive */
	assert_false(get_str(blk, "LOWER", v, sizeof v));
	assert_true(get_str(blk, "lower", v, sizeof v));
	assert_false(get_str(blk, "Nats-Msg-I", v, sizeof v));
	assert_false(get_str(blk, "Missing", v, sizeof v));
	assert_false(get_str(blk, "", v, sizeof v));
	/* The status line is not a field, a value is not a key. */
	assert_false(get_str("NATS/1.0 503\r\n\r\n", "NATS/1.0 503", v, sizeof v));
	assert_false(get_str("NATS/1.0\r\nX: Y: z\r\n\r\n", "Y", v, sizeof v));
	assert_true(get_str("NATS/1.0\r\nX: Y: z\r\n\r\n", "X", v, sizeof v));
	assert_string_equal(v, "Y: z");
	/* Lenient: a line without ':' is skipped; nothing after the blank line. */
	assert_true(get_str("NATS/1.0\r\ngarbage\r\nK: v\r\n\r\n", "K", v, sizeof v));
	assert_string_equal(v, "v");
	assert_false(get_str("NATS/1.0\r\n\r\nK: v\r\n", "K", v, sizeof v));
	/* A field without its CRLF (truncated block) is not returned. */
	assert_false(get_str("NATS/1.0\r\nK: v", "K", v, sizeof v));
	/* NULL key / outputs. */
	const uint8_t s[] = "NATS/1.0\r\nK: v\r\n\r\n";
	assert_false(jn_hdr_get(s, sizeof s - 1, NULL, NULL, NULL));
	assert_true(jn_hdr_get(s, sizeof s - 1, "K", NULL, NULL));
	assert_false(jn_hdr_get(NULL, 0, "K", NULL, NULL));
}

static void test_next(void **state)
{
	(void)state;
	const char *blk = "NATS/1.0 408 Request Timeout\r\nA: 1\r\nB-b:two\r\nA: 3\r\n\r\n";
	size_t n = strlen(blk);
	uint8_t *d = dup_exact(blk, n);
	static const char *keys[] = { "A", "B-b", "A" };
	static const char *vals[] = { "1", "two", "3" };
	size_t pos = 0;
	const char *k, *v;
	size_t kl, vl;
	int i = 0;
	while (jn_hdr_next(d, n, &pos, &k, &kl, &v, &vl)) {
		assert_true(i < 3);
		assert_int_equal(kl, strlen(keys[i]));
		assert_memory_equal(k, keys[i], kl);
		assert_int_equal(vl, strlen(vals[i]));
		assert_memory_equal(v, vals[i], vl);
		i++;
	}
	assert_int_equal(i, 3);
	/* Once at the end it stays at the end. */
	assert_false(jn_hdr_next(d, n, &pos, &k, &kl, &v, &vl));
	free(d);

	const char *none = "NATS/1.0 503\r\n\r\n";
	d = dup_exact(none, strlen(none));
	pos = 0;
	assert_false(jn_hdr_next(d, strlen(none), &pos, &k, &kl, &v, &vl));
	free(d);
	/* A position past the end is harmless. */
	pos = 1000;
	assert_false(jn_hdr_next((const uint8_t *)none, strlen(none), &pos, &k, &kl, &v, &vl));
}

/* Arbitrary bytes through every reader; ASan/UBSan are the judges, plus
 * the results must stay inside the buffer. Mostly header-like bytes so
 * the interesting paths are reached. */
static void run_readers(const uint8_t *d, size_t n)
{
	int code;
	const char *desc;
	size_t dl;
	int rc = jn_hdr_status(d, n, &code, &desc, &dl);
	if (n) {
		assert_true(desc >= (const char *)d && desc + dl <= (const char *)d + n);
	}
	if (rc == 0)
		assert_true(code >= 0 && code <= 999);
	(void)jn_hdr_validate(d, n);
	size_t pos = 0;
	const char *k, *v;
	size_t kl, vl;
	int guard = 0;
	while (jn_hdr_next(d, n, &pos, &k, &kl, &v, &vl)) {
		assert_true(k >= (const char *)d && k + kl <= (const char *)d + n);
		assert_true(v >= (const char *)d && v + vl <= (const char *)d + n);
		assert_true(kl > 0);
		assert_true(pos <= n);
		assert_true(++guard <= (int)n);
	}
	(void)jn_hdr_get(d, n, "A", &v, &vl);
	(void)jn_hdr_get(d, n, "Nats-Msg-Id", &v, &vl);
}

static void test_random_bytes(void **state)
{
	(void)state;
	static const char alphabet[] = "NATS/1.0 \r\n:AaB\t5034x\r\n\r\n";
	uint32_t seed = 12345;
	for (int iter = 0; iter < 200000; iter++) {
		seed = seed * 1103515245u + 12345u;
		size_t n = (seed >> 16) % 64;
		uint8_t tmp[64];
		bool prefixed = (seed >> 8) & 1;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			tmp[i] = (seed >> 20) & 1 ? (uint8_t)(seed >> 12)
			                          : (uint8_t)alphabet[(seed >> 12) % (sizeof alphabet - 1)];
		}
		if (prefixed && n >= 8)
			memcpy(tmp, "NATS/1.0", 8);
		uint8_t *d = dup_exact(tmp, n);
		run_readers(d, n);
		free(d);
	}
	/* Every prefix of a real block too. */
	const char *s = "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 8\r\nA:\r\n\r\n";
	for (size_t i = 0; i <= strlen(s); i++) {
		uint8_t *d = dup_exact(s, i);
		run_readers(d, i);
		free(d);
	}
}

static void test_build(void **state)
{
	(void)state;
	uint8_t buf[256];
	struct jn_hdr_buf b;

	jn_hdr_begin(&b, buf, sizeof buf, 0, NULL);
	jn_hdr_add(&b, "Nats-Msg-Id", "id1", 3);
	jn_hdr_add(&b, "Empty", NULL, 0);
	int n = jn_hdr_done(&b);
	const char *want = "NATS/1.0\r\nNats-Msg-Id: id1\r\nEmpty: \r\n\r\n";
	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(buf, want, (size_t)n);
	assert_int_equal(jn_hdr_validate(buf, (size_t)n), 0);

	jn_hdr_begin(&b, buf, sizeof buf, 503, NULL);
	n = jn_hdr_done(&b);
	assert_int_equal(n, 16);   /* spec §4: HDR_LEN 16 */
	assert_memory_equal(buf, "NATS/1.0 503\r\n\r\n", 16);

	jn_hdr_begin(&b, buf, sizeof buf, 404, "No Messages");
	n = jn_hdr_done(&b);
	assert_memory_equal(buf, "NATS/1.0 404 No Messages\r\n\r\n", (size_t)n);

	jn_hdr_begin(&b, buf, sizeof buf, 408, "Request Timeout");
	jn_hdr_add(&b, "Nats-Pending-Messages", "8", 1);
	jn_hdr_add(&b, "Nats-Pending-Bytes", "0", 1);
	n = jn_hdr_done(&b);
	want = "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 8\r\nNats-Pending-Bytes: 0\r\n\r\n";
	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(buf, want, (size_t)n);
	/* Round trip through the readers. */
	int code;
	const char *desc, *v;
	size_t dl, vl;
	assert_int_equal(jn_hdr_status(buf, (size_t)n, &code, &desc, &dl), 0);
	assert_int_equal(code, 408);
	assert_int_equal(dl, 15);
	assert_true(jn_hdr_get(buf, (size_t)n, "Nats-Pending-Bytes", &v, &vl));
	assert_int_equal(vl, 1);
	assert_int_equal(v[0], '0');
}

/* Overflow: -JN_ENOMEM, nothing written past cap, len says what was needed. */
static void test_build_overflow(void **state)
{
	(void)state;
	const char *want = "NATS/1.0 404 No Messages\r\nK: value\r\n\r\n";
	size_t need = strlen(want);
	for (size_t cap = 0; cap < need; cap++) {
		uint8_t buf[128];
		memset(buf, 0xAA, sizeof buf);
		struct jn_hdr_buf b;
		jn_hdr_begin(&b, buf, cap, 404, "No Messages");
		jn_hdr_add(&b, "K", "value", 5);
		assert_int_equal(jn_hdr_done(&b), -JN_ENOMEM);
		assert_int_equal(b.len, need);
		for (size_t i = cap; i < sizeof buf; i++)
			assert_int_equal(buf[i], 0xAA);
	}
	/* Exactly enough room works. */
	uint8_t *exact = malloc(need);
	struct jn_hdr_buf b;
	jn_hdr_begin(&b, exact, need, 404, "No Messages");
	jn_hdr_add(&b, "K", "value", 5);
	assert_int_equal(jn_hdr_done(&b), (int)need);
	assert_memory_equal(exact, want, need);
	free(exact);
	/* A sizing pass with no buffer. */
	jn_hdr_begin(&b, NULL, 0, 0, NULL);
	jn_hdr_add(&b, "K", "value", 5);
	assert_int_equal(jn_hdr_done(&b), -JN_ENOMEM);
	assert_int_equal(b.len, strlen("NATS/1.0\r\nK: value\r\n\r\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_good),
		cmocka_unit_test(test_validate_bad),
		cmocka_unit_test(test_validate_truncated),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_next),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
