/*
 * test_mqtt_topic.c - adapters/mqtt/topic.c: the MQTT topic/filter rules
 * and the topic <-> subject mapping, as tables. The mapping rows marked
 * "(2.9)" were observed on nats-server 2.9.10 (shared/spec/mqtt.md §B2);
 * the '.' rows follow nats-server 2.10+, which maps '.' to "//".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "adapters/mqtt/topic.h"
#include "core/err.h"

struct map_row {
	const char *mqtt;
	const char *nats;        /* NULL: refused */
	const char *back;        /* subject -> topic result; NULL: same as mqtt */
};

static const struct map_row topic_rows[] = {
	{ "x/y", "x.y", NULL },                 /* (2.9) */
	{ "/a", "/.a", NULL },                  /* (2.9) */
	{ "a/", "a./", NULL },                  /* (2.9) */
	{ "a//b", "a./.b", NULL },              /* (2.9) */
	{ "a///b", "a././.b", NULL },
	{ "/", "/./", NULL },
	{ "//", "/././", NULL },
	{ "/a/", "/.a./", NULL },
	{ "a.b", "a//b", NULL },
	{ "a/.b", "a.//b", NULL },
	{ ".", "//", NULL },
	{ "$foo/x", "$foo.x", NULL },           /* (2.9) */
	{ "$SYS/broker/uptime", "$SYS.broker.uptime", NULL },
	{ "r", "r", NULL },
	{ "sensors/kitchen/temp", "sensors.kitchen.temp", NULL },
	{ "caf\xc3\xa9/x", "caf\xc3\xa9.x", NULL },
	{ "a*/b>", "a*.b>", NULL },             /* '*' and '>' inside a level are literal */
	{ "a b", NULL, NULL },                  /* whitespace refused */
	{ "a\tb", NULL, NULL },
	{ "a\x7f", NULL, NULL },
	{ "a/+", NULL, NULL },                  /* wildcards are not topic names */
	{ "a/#", NULL, NULL },
	{ "#", NULL, NULL },
	{ "a/*", NULL, NULL },                  /* would be a NATS wildcard */
	{ ">", NULL, NULL },
	{ "", NULL, NULL },
};

static void test_topic_to_subject(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof topic_rows / sizeof topic_rows[0]; i++) {
		const struct map_row *r = &topic_rows[i];
		char out[256];
		int n = jn_mqtt_topic_to_subject(r->mqtt, strlen(r->mqtt), out, sizeof out);
		if (!r->nats) {
			if (n != -JN_EBADSUBJECT)
				fail_msg("topic \"%s\": expected refusal, got %d", r->mqtt, n);
			continue;
		}
		if (n < 0)
			fail_msg("topic \"%s\": refused (%d), expected \"%s\"", r->mqtt, n, r->nats);
		out[n] = '\0';
		if (strcmp(out, r->nats) != 0)
			fail_msg("topic \"%s\" -> \"%s\", expected \"%s\"", r->mqtt, out, r->nats);
		char back[256];
		size_t m = jn_mqtt_subject_to_topic(out, (size_t)n, back);
		back[m] = '\0';
		const char *want = r->back ? r->back : r->mqtt;
		if (strcmp(back, want) != 0)
			fail_msg("subject \"%s\" -> topic \"%s\", expected \"%s\"", out, back, want);
	}
}

static void test_subject_to_topic(void **state)
{
	(void)state;
	static const struct { const char *nats, *mqtt; } rows[] = {
		{ "a.b", "a/b" },              /* (2.9) */
		{ "$foo.x", "$foo/x" },        /* (2.9) */
		{ "r", "r" },                  /* (2.9) */
		{ "p/q", "pq" },               /* a lone '/' is dropped (2.10+) */
		{ "_INBOX.abc.1", "_INBOX/abc/1" },
		{ "a//b", "a.b" },
		{ "/.a", "/a" },
		{ "a./", "a/" },
		{ "$JS.API.INFO", "$JS/API/INFO" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[64];
		size_t n = jn_mqtt_subject_to_topic(rows[i].nats, strlen(rows[i].nats), out);
		out[n] = '\0';
		if (strcmp(out, rows[i].mqtt) != 0)
			fail_msg("subject \"%s\" -> \"%s\", expected \"%s\"", rows[i].nats, out,
			         rows[i].mqtt);
	}
}

static void test_filter_to_subject(void **state)
{
	(void)state;
	static const struct {
		const char *mqtt;
		const char *nats;     /* NULL: refused */
		const char *second;   /* the level-up subscription, or NULL */
	} rows[] = {
		{ "sport/+/x", "sport.*.x", NULL },
		{ "sport/#", "sport.>", "sport" },   /* (2.9): two NATS subs */
		{ "#", ">", NULL },                  /* (2.9) */
		{ "+", "*", NULL },
		{ "+/#", "*.>", "*" },
		{ "sensors/+/temp", "sensors.*.temp", NULL },
		{ "/#", "/.>", "/" },
		{ "+/+", "*.*", NULL },
		{ "a/b", "a.b", NULL },
		{ "a.b/#", "a//b.>", "a//b" },
		{ "$SYS/#", "$SYS.>", "$SYS" },
		{ "a/#/b", NULL, NULL },             /* '#' not last */
		{ "a+", NULL, NULL },                /* '+' not a whole level */
		{ "a/b#", NULL, NULL },
		{ "##", NULL, NULL },
		{ "a/*", NULL, NULL },
		{ "a b/#", NULL, NULL },
		{ "", NULL, NULL },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[256];
		bool up = true;
		int n = jn_mqtt_filter_to_subject(rows[i].mqtt, strlen(rows[i].mqtt), out, sizeof out,
		                                  &up);
		if (!rows[i].nats) {
			if (n != -JN_EBADSUBJECT)
				fail_msg("filter \"%s\": expected refusal, got %d", rows[i].mqtt, n);
			continue;
		}
		if (n < 0)
			fail_msg("filter \"%s\" refused", rows[i].mqtt);
		out[n] = '\0';
		if (strcmp(out, rows[i].nats) != 0)
			fail_msg("filter \"%s\" -> \"%s\", expected \"%s\"", rows[i].mqtt, out,
			         rows[i].nats);
		if (up != (rows[i].second != NULL))
			fail_msg("filter \"%s\": level_up %d", rows[i].mqtt, up);
		if (up) {
			out[n - 2] = '\0';
			assert_string_equal(out, rows[i].second);
		}
	}
}

static void test_filter_valid(void **state)
{
	(void)state;
	static const char *ok[] = { "#", "+", "a/+/b", "a/#", "+/+/#", "/", "//", "$SYS/#", "/+/" };
	static const char *bad[] = { "", "a/#/b", "a#", "a/b+", "#/a", "+a" };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (!jn_mqtt_filter_valid(ok[i], strlen(ok[i])))
			fail_msg("\"%s\" should be a valid filter", ok[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (jn_mqtt_filter_valid(bad[i], strlen(bad[i])))
			fail_msg("\"%s\" should be an invalid filter", bad[i]);
}

static void test_topic_match(void **state)
{
	(void)state;
	static const struct { const char *f, *t; bool m; } rows[] = {
		{ "a/b", "a/b", true },
		{ "a/b", "a/c", false },
		{ "a/+", "a/b", true },
		{ "a/+", "a", false },
		{ "a/+", "a/b/c", false },
		{ "a/#", "a", true },          /* '#' includes the parent level */
		{ "a/#", "a/b/c", true },
		{ "a/#", "ab", false },
		{ "#", "a/b", true },
		{ "#", "/", true },
		{ "+", "/", false },
		{ "+/+", "/", true },
		{ "/+", "/a", true },
		{ "+/a", "/a", true },
		{ "a/+", "a/", true },         /* an empty level is a level */
		{ "#", "$SYS/x", false },      /* [MQTT-4.7.2-1] */
		{ "+/x", "$SYS/x", false },
		{ "$SYS/#", "$SYS/x", true },
		{ "$SYS/+", "$SYS/x", true },
		{ "sensors/+/temp", "sensors/kitchen/temp", true },
		{ "sensors/#", "sensors/kitchen/temp", true },
		{ "sensors/+/temp", "sensors/kitchen/hum", false },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		bool m = jn_mqtt_topic_match(rows[i].f, strlen(rows[i].f), rows[i].t, strlen(rows[i].t));
		if (m != rows[i].m)
			fail_msg("match(\"%s\", \"%s\") = %d, expected %d", rows[i].f, rows[i].t, m,
			         rows[i].m);
	}
}

static void test_share_parse(void **state)
{
	(void)state;
	const char *g, *f;
	size_t gl, fl;
	const char *s = "$share/grp/a/+/b";
	assert_int_equal(jn_mqtt_share_parse(s, strlen(s), &g, &gl, &f, &fl), 1);
	assert_int_equal(gl, 3);
	assert_memory_equal(g, "grp", 3);
	assert_int_equal(fl, 5);
	assert_memory_equal(f, "a/+/b", 5);
	s = "a/b";
	assert_int_equal(jn_mqtt_share_parse(s, strlen(s), &g, &gl, &f, &fl), 0);
	s = "$sharex/a";
	assert_int_equal(jn_mqtt_share_parse(s, strlen(s), &g, &gl, &f, &fl), 0);
	static const char *bad[] = { "$share/", "$share//a", "$share/g", "$share/g/", "$share/g+/a",
	                             "$share/#/a" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (jn_mqtt_share_parse(bad[i], strlen(bad[i]), &g, &gl, &f, &fl) != -JN_EBADSUBJECT)
			fail_msg("\"%s\" should be a malformed shared subscription", bad[i]);
}

/* Every topic that converts comes back unchanged, whatever its bytes. */
static void test_roundtrip_generated(void **state)
{
	(void)state;
	static const char alphabet[] = { 'a', '/', '.', '$', 'b' };
	char t[8], s[64], back[64];
	for (int len = 1; len <= 6; len++) {
		int total = 1;
		for (int i = 0; i < len; i++)
			total *= 5;
		for (int k = 0; k < total; k++) {
			int x = k;
			for (int i = 0; i < len; i++) {
				t[i] = alphabet[x % 5];
				x /= 5;
			}
			int n = jn_mqtt_topic_to_subject(t, (size_t)len, s, sizeof s);
			assert_true(n > 0);
			size_t m = jn_mqtt_subject_to_topic(s, (size_t)n, back);
			if (m != (size_t)len || memcmp(back, t, m) != 0)
				fail_msg("\"%.*s\" -> \"%.*s\" -> \"%.*s\"", len, t, n, s, (int)m, back);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topic_to_subject),
		cmocka_unit_test(test_subject_to_topic),
		cmocka_unit_test(test_filter_to_subject),
		cmocka_unit_test(test_filter_valid),
		cmocka_unit_test(test_topic_match),
		cmocka_unit_test(test_share_parse),
		cmocka_unit_test(test_roundtrip_generated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
