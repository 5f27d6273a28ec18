/*
 * test_subject.c - the subject rules of core/subject.c as tables:
 * validity of filters and literals (whitespace, empty tokens, wildcard
 * placement), matching (with the examples of nats-protocol.md §5), subset
 * and overlap, and tokenizing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/subject.h"

#define S(x) (x), strlen(x)

struct vcase {
	const char *s;
	bool filter;    /* valid as a filter */
	bool literal;   /* valid as a literal */
};

static const struct vcase vcases[] = {
	{ "foo", true, true },
	{ "foo.bar", true, true },
	{ "foo.bar.baz", true, true },
	{ "$JS.API.INFO", true, true },
	{ "_INBOX.abc123", true, true },
	{ "a/b.c#d.e+f", true, true },
	{ "f\xc3\xbc\xc3\xbc.bar", true, true },   /* UTF-8 */
	{ "*", true, false },
	{ ">", true, false },
	{ "foo.*", true, false },
	{ "foo.>", true, false },
	{ "*.bar", true, false },
	{ "*.*.>", true, false },
	{ "foo.*.baz", true, false },
	{ "a*", true, true },         /* not a whole token: literal */
	{ "*a", true, true },
	{ ">x", true, true },
	{ "x>", true, true },
	{ "foo.a>.bar", true, true },
	{ "foo.**", true, true },
	{ "foo.>>", true, true },
	{ "", false, false },
	{ ".", false, false },
	{ "..", false, false },
	{ ".foo", false, false },
	{ "foo.", false, false },
	{ "foo..bar", false, false },
	{ "foo.>.bar", false, false },
	{ ">.foo", false, false },
	{ ">.>", false, false },
	{ "foo bar", false, false },
	{ " foo", false, false },
	{ "foo ", false, false },
	{ "foo\tbar", false, false },
	{ "foo\rbar", false, false },
	{ "foo\nbar", false, false },
	{ "foo\fbar", false, false },
	{ "foo\vbar", false, false },
	{ "foo.\t", false, false },
	{ "foo.* ", false, false },
	{ "foo.>\n", false, false },
};

static void test_validity(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof vcases / sizeof vcases[0]; i++) {
		const struct vcase *c = &vcases[i];
		if (jn_subject_valid_filter(S(c->s)) != c->filter ||
		    jn_subject_valid_literal(S(c->s)) != c->literal)
			fail_msg("case %zu \"%s\": want filter=%d literal=%d", i, c->s, c->filter, c->literal);
	}
	assert_false(jn_subject_valid_filter(NULL, 0));
	/* Length is honoured: bytes after len do not count. */
	assert_true(jn_subject_valid_literal("foo.bar..", 7));
	assert_false(jn_subject_valid_literal("foo.bar", 4));   /* "foo." */
}

static void test_has_wildcard(void **state)
{
	(void)state;
	assert_true(jn_subject_has_wildcard(S("*")));
	assert_true(jn_subject_has_wildcard(S(">")));
	assert_true(jn_subject_has_wildcard(S("foo.*.bar")));
	assert_true(jn_subject_has_wildcard(S("foo.>")));
	assert_false(jn_subject_has_wildcard(S("foo.bar")));
	assert_false(jn_subject_has_wildcard(S("foo.a*.b>")));
	assert_false(jn_subject_has_wildcard(S("foo.**")));
}

struct mcase {
	const char *filter;
	const char *subj;
	bool match;
};

static const struct mcase mcases[] = {
	/* nats-protocol.md §5 / NATS docs examples */
	{ "time.*.east", "time.us.east", true },
	{ "time.*.east", "time.eu.east", true },
	{ "time.us.>", "time.us.east", true },
	{ "time.us.>", "time.us.east.atlanta", true },
	{ "time.us.*", "time.us.east.atlanta", false },
	{ "time.us.*", "time.us.east", true },
	{ "foo.>", "foo", false },
	{ ">", "$JS.API.INFO", true },
	{ ">", "_INBOX.x.y", true },
	{ ">", "foo", true },
	{ "*", "foo", true },
	{ "*", "foo.bar", false },
	{ "foo", "foo", true },
	{ "foo", "foo.bar", false },
	{ "foo.bar", "foo", false },
	{ "foo", "Foo", false },
	{ "foo", "fo", false },
	{ "fo", "foo", false },
	{ "foo.*", "foo.bar", true },
	{ "foo.*", "foo", false },
	{ "foo.*", "foo.bar.baz", false },
	{ "*.bar", "foo.bar", true },
	{ "*.bar", "foo.baz", false },
	{ "*.*", "a.b", true },
	{ "*.*", "a", false },
	{ "*.>", "a.b", true },
	{ "*.>", "a", false },
	{ "foo.*.>", "foo.a.b.c", true },
	{ "foo.*.>", "foo.a", false },
	{ "a*", "a*", true },
	{ "a*", "ab", false },
	{ "foo.>", "foo.>", true },      /* a wildcard publish is just tokens to match */
	{ "foo.bar.baz", "foo.bar.bax", false },
	{ "foo.bar.baz", "foo.bar.baz", true },
};

static void test_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof mcases / sizeof mcases[0]; i++) {
		const struct mcase *c = &mcases[i];
		if (jn_subject_match(S(c->filter), S(c->subj)) != c->match)
			fail_msg("match(\"%s\", \"%s\") want %d", c->filter, c->subj, c->match);
	}
}

struct rcase {
	const char *a, *b;
	bool a_sub_b;     /* a ⊆ b */
	bool b_sub_a;     /* b ⊆ a */
	bool overlap;
};

static const struct rcase rcases[] = {
	{ "foo.*", "foo.>", true, false, true },
	{ "foo.>", "foo.>", true, true, true },
	{ ">", "foo.>", false, true, true },
	{ "foo.bar", "foo.*", true, false, true },
	{ "foo.bar", "foo.>", true, false, true },
	{ "foo.bar", ">", true, false, true },
	{ "foo", "foo.>", false, false, false },
	{ "foo", "*", true, false, true },
	{ "foo", ">", true, false, true },
	{ "foo", "foo", true, true, true },
	{ "foo", "bar", false, false, false },
	{ "foo.*", "*.bar", false, false, true },
	{ "foo.*", "bar.*", false, false, false },
	{ "*.*", "*.>", true, false, true },
	{ "*.*", ">", true, false, true },
	{ "*", "*.>", false, false, false },
	{ "*.>", ">", true, false, true },
	{ "foo.*.baz", "foo.>", true, false, true },
	{ "foo.*.baz", "foo.*.*", true, false, true },
	{ "foo.*.baz", "foo.bar.*", false, false, true },
	{ "foo.*.baz", "foo.bar.bax", false, false, false },
	{ "foo.>", "foo.*.*", false, true, true },
	{ "foo.>", "bar.>", false, false, false },
	{ "a.b.c", "a.b", false, false, false },
	{ "a.>", "a.b.c.d.e", false, true, true },
	{ "*.b.>", "a.*.c", false, false, true },
	{ "*.b.>", "a.b.c", false, true, true },
	{ "*.b.>", "a.*", false, false, false },
	{ "a*", "*", true, false, true },
	{ "a*", "a.*", false, false, false },
};

static void test_subset_overlap(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rcases / sizeof rcases[0]; i++) {
		const struct rcase *c = &rcases[i];
		if (jn_subject_subset(S(c->a), S(c->b)) != c->a_sub_b)
			fail_msg("subset(\"%s\" of \"%s\") want %d", c->a, c->b, c->a_sub_b);
		if (jn_subject_subset(S(c->b), S(c->a)) != c->b_sub_a)
			fail_msg("subset(\"%s\" of \"%s\") want %d", c->b, c->a, c->b_sub_a);
		if (jn_subject_overlap(S(c->a), S(c->b)) != c->overlap ||
		    jn_subject_overlap(S(c->b), S(c->a)) != c->overlap)
			fail_msg("overlap(\"%s\", \"%s\") want %d", c->a, c->b, c->overlap);
	}
}

/* Subset and overlap agree with match on every literal of a small universe:
 * a ⊆ b iff every literal matching a matches b (over the universe, which is
 * rich enough to separate the filters below), overlap iff one matches both. */
static void test_relations_vs_match(void **state)
{
	(void)state;
	static const char *const tok[] = { "a", "b", "*", ">" };
	static const char *const lit[] = { "a", "b", "c" };
	char filters[400][16];
	int nf = 0;
	/* all filters of 1..3 tokens over tok, keeping only valid ones */
	for (int len = 1; len <= 3; len++) {
		int total = 1;
		for (int i = 0; i < len; i++)
			total *= 4;
		for (int k = 0; k < total; k++) {
			char buf[16] = "";
			int x = k;
			for (int i = 0; i < len; i++) {
				if (i)
					strcat(buf, ".");
				strcat(buf, tok[x % 4]);
				x /= 4;
			}
			if (jn_subject_valid_filter(S(buf)))
				strcpy(filters[nf++], buf);
		}
	}
	/* literals of 1..5 tokens over lit */
	static char lits[400][16];
	int nl = 0;
	for (int len = 1; len <= 5; len++) {
		int total = 1;
		for (int i = 0; i < len; i++)
			total *= 3;
		for (int k = 0; k < total; k++) {
			char buf[16] = "";
			int x = k;
			for (int i = 0; i < len; i++) {
				if (i)
					strcat(buf, ".");
				strcat(buf, lit[x % 3]);
				x /= 3;
			}
			strcpy(lits[nl++], buf);
		}
	}
	for (int i = 0; i < nf; i++) {
		for (int j = 0; j < nf; j++) {
			bool subset = true, overlap = false;
			for (int l = 0; l < nl; l++) {
				bool mi = jn_subject_match(S(filters[i]), S(lits[l]));
				bool mj = jn_subject_match(S(filters[j]), S(lits[l]));
				if (mi && !mj)
					subset = false;
				if (mi && mj)
					overlap = true;
			}
			if (jn_subject_subset(S(filters[i]), S(filters[j])) != subset)
				fail_msg("subset(%s, %s) want %d", filters[i], filters[j], subset);
			if (jn_subject_overlap(S(filters[i]), S(filters[j])) != overlap)
				fail_msg("overlap(%s, %s) want %d", filters[i], filters[j], overlap);
		}
	}
}

static void test_tokenize(void **state)
{
	(void)state;
	const char *tok[4];
	size_t tl[4];
	assert_int_equal(jn_subject_tokenize(S("foo.bar.*"), tok, tl, 4), 3);
	assert_int_equal(tl[0], 3);
	assert_memory_equal(tok[0], "foo", 3);
	assert_memory_equal(tok[1], "bar", 3);
	assert_int_equal(tl[2], 1);
	assert_memory_equal(tok[2], "*", 1);
	assert_int_equal(jn_subject_tokenize(S("a.b.c.d"), tok, tl, 4), 4);
	assert_int_equal(jn_subject_tokenize(S("a.b.c.d.e"), tok, tl, 4), -1);
	assert_int_equal(jn_subject_tokenize(S("x"), tok, tl, 4), 1);
	assert_int_equal(tl[0], 1);
}

/* Long subjects (more tokens than JN_SUBJECT_MAX_TOKENS) still work. */
static void test_long_subject(void **state)
{
	(void)state;
	static char s[4096], f[4096];
	size_t n = 0;
	for (int i = 0; i < 1000; i++)
		n += (size_t)sprintf(s + n, "%st%d", i ? "." : "", i % 7);
	memcpy(f, s, n);
	assert_true(jn_subject_valid_literal(s, n));
	assert_true(jn_subject_match(s, n, s, n));
	f[n - 2] = '*';   /* last token "t5" -> "*5": a literal, no match */
	assert_false(jn_subject_match(f, n, s, n));
	f[n - 2] = '>';   /* "...t4.>": '>' replaces the last token */
	assert_true(jn_subject_valid_filter(f, n - 1));
	assert_true(jn_subject_match(f, n - 1, s, n));
	f[n - 2] = '*';   /* "...t4.*" */
	assert_true(jn_subject_match(f, n - 1, s, n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validity),
		cmocka_unit_test(test_has_wildcard),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_subset_overlap),
		cmocka_unit_test(test_relations_vs_match),
		cmocka_unit_test(test_tokenize),
		cmocka_unit_test(test_long_subject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
