/*
 * test_http_codec.c - the HTTP adapter's pure text codecs: percent-decoding,
 * path splitting, base64 both ways (RFC 4648 vectors), durations, JSON
 * string escaping of arbitrary bytes, the growable buffer. Inputs are
 * exact-size heap copies so ASan sees any overread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "adapters/http/codec.h"
#include "core/base64.h"
#include "core/alloc.h"

static char *dup_exact(const char *s, size_t n)
{
	char *d = malloc(n ? n : 1);
	assert_non_null(d);
	memcpy(d, s, n);
	return d;
}

static long pct(const char *in, char *out)
{
	size_t n = strlen(in);
	char *d = dup_exact(in, n);
	long k = jn__pct_decode(d, n, out);
	free(d);
	if (k >= 0)
		out[k] = '\0';
	return k;
}

static void test_pct_decode(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(pct("abc", out), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(pct("a.%3E", out), 3);
	assert_string_equal(out, "a.>");
	assert_int_equal(pct("%2a%2A", out), 2);
	assert_string_equal(out, "**");
	assert_int_equal(pct("a%2Fb", out), 3);
	assert_string_equal(out, "a/b");
	assert_int_equal(pct("a+b", out), 3);    /* '+' is literal */
	assert_string_equal(out, "a+b");
	assert_int_equal(pct("%e2%82%ac", out), 3);
	assert_string_equal(out, "\xe2\x82\xac");
	assert_int_equal(pct("", out), 0);
	/* malformed */
	assert_int_equal(pct("%", out), -1);
	assert_int_equal(pct("a%4", out), -1);
	assert_int_equal(pct("%g0", out), -1);
	assert_int_equal(pct("%0g", out), -1);
	assert_int_equal(pct("%00", out), -1);   /* NUL refused */
	assert_int_equal(pct("ab%", out), -1);
}

static int split(const char *path, const char **seg, size_t *len)
{
	return jn__path_split(path, seg, len);
}

static void test_path_split(void **state)
{
	(void)state;
	const char *seg[JN_HTTP_MAX_SEGS];
	size_t len[JN_HTTP_MAX_SEGS];
	assert_int_equal(split("/", seg, len), 0);
	assert_int_equal(split("/v1", seg, len), 1);
	assert_int_equal(len[0], 2);
	assert_int_equal(split("/v1/publish/a.b", seg, len), 3);
	assert_memory_equal(seg[2], "a.b", 3);
	assert_int_equal(len[2], 3);
	assert_int_equal(split("/v1/publish/", seg, len), 2);   /* one trailing '/' ignored */
	assert_int_equal(split("/v1//x", seg, len), -1);
	assert_int_equal(split("//", seg, len), -1);
	assert_int_equal(split("v1/x", seg, len), -1);
	assert_int_equal(split("", seg, len), -1);
	assert_int_equal(split(NULL, seg, len), -1);
	assert_int_equal(split("/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", seg, len), 16);
	assert_int_equal(split("/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", seg, len), -1);
}

static void b64_both(const char *plain, const char *enc)
{
	size_t n = strlen(plain);
	char out[128];
	assert_int_equal(jn_base64_len(n), strlen(enc));
	jn_base64_encode((const uint8_t *)plain, n, out);
	assert_memory_equal(out, enc, strlen(enc));
	uint8_t dec[128];
	char *d = dup_exact(enc, strlen(enc));
	long k = jn_base64_decode(d, strlen(enc), dec);
	free(d);
	assert_int_equal(k, (long)n);
	assert_memory_equal(dec, plain, n);
}

static long b64_dec(const char *s)
{
	uint8_t out[64];
	char *d = dup_exact(s, strlen(s));
	long k = jn_base64_decode(d, strlen(s), out);
	free(d);
	return k;
}

static void test_base64(void **state)
{
	(void)state;
	/* RFC 4648 section 10 */
	b64_both("", "");
	b64_both("f", "Zg==");
	b64_both("fo", "Zm8=");
	b64_both("foo", "Zm9v");
	b64_both("foob", "Zm9vYg==");
	b64_both("fooba", "Zm9vYmE=");
	b64_both("foobar", "Zm9vYmFy");
	b64_both("alice:wonder", "YWxpY2U6d29uZGVy");
	/* every byte value survives */
	uint8_t all[256], back[256];
	char enc[400];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	jn_base64_encode(all, 256, enc);
	assert_int_equal(jn_base64_decode(enc, jn_base64_len(256), back), 256);
	assert_memory_equal(all, back, 256);
	/* unpadded input is accepted */
	assert_int_equal(b64_dec("Zg"), 1);
	assert_int_equal(b64_dec("Zm8"), 2);
	/* malformed */
	assert_int_equal(b64_dec("Z"), -1);
	assert_int_equal(b64_dec("Zg="), -1);      /* padding without a full quantum */
	assert_int_equal(b64_dec("Zm9v!"), -1);
	assert_int_equal(b64_dec("Zm 9v"), -1);
	assert_int_equal(b64_dec("Zh=="), -1);     /* non-zero trailing bits */
	assert_int_equal(b64_dec("Zg==="), -1);
}

static int dur(const char *s, int64_t *ns)
{
	char *d = dup_exact(s, strlen(s));
	int rc = jn__parse_duration(d, strlen(s), ns);
	free(d);
	return rc;
}

static void test_duration(void **state)
{
	(void)state;
	static const struct { const char *s; int64_t ns; } ok[] = {
		{ "0", 0 }, { "1ns", 1 }, { "1us", 1000 }, { "500ms", 500000000LL },
		{ "2s", 2000000000LL }, { "2m", 120000000000LL }, { "1h", 3600000000000LL },
		{ "1m30s", 90000000000LL }, { "1.5s", 1500000000LL }, { ".5s", 500000000LL },
		{ "2000000000", 2000000000LL }, { "1h2m3s4ms", 3723004000000LL },
		{ "0.001s", 1000000LL }, { "1", 1 }, { "1.s", 1000000000LL },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t ns = -1;
		if (dur(ok[i].s, &ns) != 0 || ns != ok[i].ns)
			fail_msg("%s: got %lld, rc", ok[i].s, (long long)ns);
	}
	static const char *bad[] = { "", "s", "-1s", "1x", "ms", "1 s", "1s ",
	                             "99999999999999999999", "9999999999h", "1.2.3s", "+1s" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ns;
		if (dur(bad[i], &ns) == 0)
			fail_msg("\"%s\" should be refused, got %lld", bad[i], (long long)ns);
	}
	char out[32];
	jn__format_duration(3723LL * 1000000000LL, out, sizeof out);
	assert_string_equal(out, "1h2m3s");
	jn__format_duration(59LL * 1000000000LL, out, sizeof out);
	assert_string_equal(out, "59s");
	jn__format_duration(90061LL * 1000000000LL, out, sizeof out);
	assert_string_equal(out, "1d1h1m1s");
}

static void json_is(const char *in, size_t n, const char *want)
{
	struct jn__hbuf b = { 0 };
	char *d = dup_exact(in, n);
	jn__hbuf_json_str(&b, d, n);
	free(d);
	assert_false(b.oom);
	assert_string_equal(b.p, want);
	jn__hbuf_free(&b);
}

static void test_json_escape(void **state)
{
	(void)state;
	json_is("abc", 3, "\"abc\"");
	json_is("", 0, "\"\"");
	json_is("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	json_is("\n\r\t\x01\x1f\x7f", 6, "\"\\n\\r\\t\\u0001\\u001f\\u007f\"");
	json_is("a\0b", 3, "\"a\\u0000b\"");
	/* valid UTF-8 passes through */
	json_is("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	/* invalid bytes become U+FFFD, one per byte */
	json_is("\xff", 1, "\"\\ufffd\"");
	json_is("a\xc3", 2, "\"a\\ufffd\"");                  /* truncated */
	json_is("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");         /* overlong '/' */
	json_is("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");   /* surrogate */
	json_is("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");   /* > U+10FFFF */
	json_is("\x80z", 2, "\"\\ufffdz\"");
}

static void test_hbuf(void **state)
{
	(void)state;
	size_t before = jn_mem_used();
	struct jn__hbuf b = { 0 };
	for (int i = 0; i < 1000; i++)
		jn__hbuf_printf(&b, "%d,", i);
	assert_false(b.oom);
	assert_int_equal(strncmp(b.p, "0,1,2,", 6), 0);
	char big[2000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	size_t len0 = b.len;
	jn__hbuf_printf(&b, "<%s>", big);   /* longer than the on-stack try */
	assert_int_equal(b.len, len0 + sizeof big + 1);
	assert_int_equal(b.p[b.len], '\0');
	jn__hbuf_base64(&b, (const uint8_t *)"foo", 3);
	assert_memory_equal(b.p + b.len - 4, "Zm9v", 4);
	size_t n = 0;
	char *p = jn__hbuf_take(&b, &n);
	assert_non_null(p);
	assert_null(b.p);
	assert_int_equal(strlen(p), n);
	jn_free(p);
	/* an empty buffer still gives a string */
	p = jn__hbuf_take(&b, &n);
	assert_non_null(p);
	assert_int_equal(n, 0);
	assert_string_equal(p, "");
	jn_free(p);
	assert_int_equal(jn_mem_used(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pct_decode), cmocka_unit_test(test_path_split),
		cmocka_unit_test(test_base64), cmocka_unit_test(test_duration),
		cmocka_unit_test(test_json_escape), cmocka_unit_test(test_hbuf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
