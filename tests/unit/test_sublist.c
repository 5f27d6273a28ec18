/*
 * test_sublist.c - the subscription trie and its per-thread cache:
 * insert/remove/match, queue grouping by name across filters, pruning,
 * cache hits and invalidation, results held across nested matches, a
 * randomized comparison against a brute-force matcher, match cost
 * independent of non-matching subscriptions, and concurrent matching while
 * subscriptions are removed and retired through the epoch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/subject.h"
#include "core/sublist.h"

#define S(x) (x), strlen(x)

static void sub_set(struct jn_sub *s, const char *subject, const char *queue)
{
	memset(s, 0, sizeof *s);
	s->subject = subject;
	s->subject_len = (uint32_t)strlen(subject);
	s->queue = queue;
	s->queue_len = queue ? (uint32_t)strlen(queue) : 0;
}

static bool has_plain(const struct jn_match *m, const struct jn_sub *s)
{
	for (uint32_t i = 0; i < m->nplain; i++)
		if (m->plain[i] == s)
			return true;
	return false;
}

static const struct jn_qgroup *group(const struct jn_match *m, const char *name)
{
	for (uint32_t i = 0; i < m->nqueues; i++)
		if (m->queues[i].name_len == strlen(name) &&
		    memcmp(m->queues[i].name, name, strlen(name)) == 0)
			return &m->queues[i];
	return NULL;
}

static bool in_group(const struct jn_qgroup *g, const struct jn_sub *s)
{
	for (uint32_t i = 0; g && i < g->n; i++)
		if (g->members[i] == s)
			return true;
	return false;
}

static void test_basic(void **state)
{
	(void)state;
	size_t mem0 = jn_mem_used();
	struct jn_sublist *sl = jn_sublist_new();
	assert_non_null(sl);
	struct jn_sub a, b, c, d, e;
	sub_set(&a, "foo.bar", NULL);
	sub_set(&b, "foo.*", NULL);
	sub_set(&c, "foo.>", NULL);
	sub_set(&d, ">", NULL);
	sub_set(&e, "foo", NULL);
	uint64_t g0 = jn_sublist_generation(sl);
	assert_int_equal(jn_sublist_insert(sl, &a), 0);
	assert_true(jn_sublist_generation(sl) > g0);
	assert_int_equal(jn_sublist_insert(sl, &b), 0);
	assert_int_equal(jn_sublist_insert(sl, &c), 0);
	assert_int_equal(jn_sublist_insert(sl, &d), 0);
	assert_int_equal(jn_sublist_insert(sl, &e), 0);
	assert_int_equal(jn_sublist_count(sl), 5);

	struct jn_match *m = jn_sublist_match(sl, NULL, S("foo.bar"));
	assert_non_null(m);
	assert_int_equal(m->nplain, 4);
	assert_int_equal(m->nqueues, 0);
	assert_true(has_plain(m, &a) && has_plain(m, &b) && has_plain(m, &c) && has_plain(m, &d));
	jn_match_release(NULL, m);

	m = jn_sublist_match(sl, NULL, S("foo"));
	assert_int_equal(m->nplain, 2);   /* foo and >, not foo.> */
	assert_true(has_plain(m, &e) && has_plain(m, &d));
	jn_match_release(NULL, m);

	m = jn_sublist_match(sl, NULL, S("foo.bar.baz"));
	assert_int_equal(m->nplain, 2);
	assert_true(has_plain(m, &c) && has_plain(m, &d));
	jn_match_release(NULL, m);

	m = jn_sublist_match(sl, NULL, S("bar"));
	assert_int_equal(m->nplain, 1);
	assert_true(has_plain(m, &d));
	jn_match_release(NULL, m);

	assert_true(jn_sublist_has_interest(sl, NULL, S("x.y.z")));
	g0 = jn_sublist_generation(sl);
	assert_int_equal(jn_sublist_remove(sl, &d), 0);
	assert_true(jn_sublist_generation(sl) > g0);
	assert_false(jn_sublist_has_interest(sl, NULL, S("x.y.z")));
	assert_true(jn_sublist_has_interest(sl, NULL, S("foo.x")));
	assert_int_equal(jn_sublist_count(sl), 4);

	m = jn_sublist_match(sl, NULL, S("nothing.here"));
	assert_non_null(m);
	assert_int_equal(m->nplain, 0);
	assert_int_equal(m->nqueues, 0);
	jn_match_release(NULL, m);

	jn_sublist_free(sl);
	assert_int_equal(jn_mem_used(), mem0);
}

static void test_errors(void **state)
{
	(void)state;
	struct jn_sublist *sl = jn_sublist_new();
	struct jn_sublist *other = jn_sublist_new();
	struct jn_sub s, bad, q, never;
	sub_set(&bad, "foo..bar", NULL);
	assert_int_equal(jn_sublist_insert(sl, &bad), -JN_EBADSUBJECT);
	sub_set(&bad, "foo.>.bar", NULL);
	assert_int_equal(jn_sublist_insert(sl, &bad), -JN_EBADSUBJECT);
	sub_set(&bad, "foo bar", NULL);
	assert_int_equal(jn_sublist_insert(sl, &bad), -JN_EBADSUBJECT);
	sub_set(&bad, "", NULL);
	assert_int_equal(jn_sublist_insert(sl, &bad), -JN_EBADSUBJECT);
	assert_int_equal(jn_sublist_count(sl), 0);

	sub_set(&s, "foo", NULL);
	sub_set(&q, "foo", "g");
	/* Never inserted, with garbage in the private fields. */
	sub_set(&never, "foo", NULL);
	never.jn__node = (void *)(uintptr_t)0xdeadbeef;
	never.jn__slot = 12345;
	assert_int_equal(jn_sublist_remove(sl, &never), -JN_ENOTFOUND);
	assert_int_equal(jn_sublist_insert(sl, &s), 0);
	assert_int_equal(jn_sublist_insert(sl, &s), -JN_EEXIST);
	assert_int_equal(jn_sublist_insert(sl, &q), 0);
	assert_int_equal(jn_sublist_insert(sl, &q), -JN_EEXIST);
	assert_int_equal(jn_sublist_count(sl), 2);
	/* At the same node, but not the inserted object. */
	never.jn__node = s.jn__node;
	never.jn__slot = s.jn__slot;
	assert_int_equal(jn_sublist_remove(sl, &never), -JN_ENOTFOUND);
	/* Inserted in another sublist. */
	assert_int_equal(jn_sublist_remove(other, &s), -JN_ENOTFOUND);
	uint64_t g = jn_sublist_generation(sl);
	assert_int_equal(jn_sublist_remove(sl, &s), 0);
	assert_int_equal(jn_sublist_remove(sl, &s), -JN_ENOTFOUND);
	assert_int_equal(jn_sublist_remove(sl, &q), 0);
	assert_int_equal(jn_sublist_remove(sl, &q), -JN_ENOTFOUND);
	assert_int_equal(jn_sublist_generation(sl), g + 2);   /* failures do not bump */
	assert_int_equal(jn_sublist_count(sl), 0);
	jn_sublist_free(sl);
	jn_sublist_free(other);
}

/* Queue subscriptions are grouped by queue name across different filters;
 * plain ones are not grouped; removal keeps the remaining slots right. */
static void test_queue_groups(void **state)
{
	(void)state;
	struct jn_sublist *sl = jn_sublist_new();
	struct jn_sub g1, g2, g3, h1, p1, p2, gx;
	sub_set(&g1, "foo.*", "g");
	sub_set(&g2, "foo.bar", "g");
	sub_set(&g3, "foo.bar", "g");
	sub_set(&h1, "foo.>", "h");
	sub_set(&p1, "foo.bar", NULL);
	sub_set(&p2, "foo.*", NULL);
	sub_set(&gx, "foo.baz", "g");   /* same name, filter does not match foo.bar */
	struct jn_sub *all[] = { &g1, &g2, &g3, &h1, &p1, &p2, &gx };
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(jn_sublist_insert(sl, all[i]), 0);

	struct jn_match *m = jn_sublist_match(sl, NULL, S("foo.bar"));
	assert_int_equal(m->nplain, 2);
	assert_true(has_plain(m, &p1) && has_plain(m, &p2));
	assert_int_equal(m->nqueues, 2);
	const struct jn_qgroup *g = group(m, "g"), *h = group(m, "h");
	assert_non_null(g);
	assert_non_null(h);
	assert_int_equal(g->n, 3);
	assert_true(in_group(g, &g1) && in_group(g, &g2) && in_group(g, &g3));
	assert_false(in_group(g, &gx));
	assert_int_equal(h->n, 1);
	assert_true(in_group(h, &h1));
	jn_match_release(NULL, m);

	m = jn_sublist_match(sl, NULL, S("foo.baz"));
	g = group(m, "g");
	assert_int_equal(g->n, 2);
	assert_true(in_group(g, &g1) && in_group(g, &gx));
	jn_match_release(NULL, m);

	/* Remove the first member of a set: the name must survive (it points
	 * at a remaining member) and the moved member must stay removable. */
	assert_int_equal(jn_sublist_remove(sl, &g2), 0);
	m = jn_sublist_match(sl, NULL, S("foo.bar"));
	g = group(m, "g");
	assert_non_null(g);
	assert_int_equal(g->n, 2);
	assert_true(in_group(g, &g1) && in_group(g, &g3));
	jn_match_release(NULL, m);
	assert_int_equal(jn_sublist_remove(sl, &g3), 0);
	assert_int_equal(jn_sublist_remove(sl, &h1), 0);
	m = jn_sublist_match(sl, NULL, S("foo.bar"));
	assert_int_equal(m->nqueues, 1);
	g = group(m, "g");
	assert_int_equal(g->n, 1);
	assert_true(in_group(g, &g1));
	assert_int_equal(m->nplain, 2);
	jn_match_release(NULL, m);

	/* A plain and a queue sub on the same filter, and same queue name
	 * prefix: "g" and "gg" are different groups. */
	struct jn_sub gg;
	sub_set(&gg, "foo.bar", "gg");
	assert_int_equal(jn_sublist_insert(sl, &gg), 0);
	m = jn_sublist_match(sl, NULL, S("foo.bar"));
	assert_int_equal(m->nqueues, 2);
	assert_true(in_group(group(m, "gg"), &gg));
	assert_false(in_group(group(m, "g"), &gg));
	jn_match_release(NULL, m);
	jn_sublist_free(sl);
}

/* Removing subscriptions frees the nodes they alone needed. */
static void test_pruning(void **state)
{
	(void)state;
	size_t mem0 = jn_mem_used();
	struct jn_sublist *sl = jn_sublist_new();
	struct jn_sub a, b, c, d, e, f;
	sub_set(&a, "a.b.c", NULL);
	sub_set(&b, "a.b.d", NULL);
	sub_set(&c, "a.*.>", "q");
	sub_set(&d, "a.b", NULL);
	sub_set(&e, ">", NULL);
	sub_set(&f, "a.b.c", "q");
	assert_int_equal(jn_sublist_debug_nodes(sl), 0);
	assert_int_equal(jn_sublist_insert(sl, &a), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 3);       /* a, b, c */
	assert_int_equal(jn_sublist_insert(sl, &b), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 4);       /* + d */
	assert_int_equal(jn_sublist_insert(sl, &c), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 6);       /* + *, > */
	assert_int_equal(jn_sublist_insert(sl, &d), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 6);       /* a.b exists */
	assert_int_equal(jn_sublist_insert(sl, &e), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 7);
	assert_int_equal(jn_sublist_insert(sl, &f), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 7);

	assert_int_equal(jn_sublist_remove(sl, &a), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 7);       /* f still at a.b.c */
	assert_int_equal(jn_sublist_remove(sl, &f), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 6);
	assert_int_equal(jn_sublist_remove(sl, &d), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 6);       /* b has child d */
	assert_int_equal(jn_sublist_remove(sl, &b), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 4);       /* b, d gone */
	assert_int_equal(jn_sublist_remove(sl, &c), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 1);       /* only > */
	assert_int_equal(jn_sublist_remove(sl, &e), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 0);
	jn_sublist_free(sl);
	assert_int_equal(jn_mem_used(), mem0);

	/* Many literals at one level: the table grows and shrinks back. */
	sl = jn_sublist_new();
	static struct jn_sub many[2000];
	static char names[2000][16];
	for (int i = 0; i < 2000; i++) {
		snprintf(names[i], sizeof names[i], "x.n%d", i);
		sub_set(&many[i], names[i], NULL);
		assert_int_equal(jn_sublist_insert(sl, &many[i]), 0);
	}
	assert_int_equal(jn_sublist_debug_nodes(sl), 2001);
	for (int i = 0; i < 2000; i++) {
		struct jn_match *m = jn_sublist_match(sl, NULL, names[i], strlen(names[i]));
		assert_int_equal(m->nplain, 1);
		assert_ptr_equal(m->plain[0], &many[i]);
		jn_match_release(NULL, m);
	}
	for (int i = 0; i < 2000; i++)
		assert_int_equal(jn_sublist_remove(sl, &many[i]), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 0);
	jn_sublist_free(sl);
	assert_int_equal(jn_mem_used(), mem0);
}

/* A hit returns the cached result without walking the trie; any insert or
 * remove makes every entry stale. */
static void test_cache(void **state)
{
	(void)state;
	size_t mem0 = jn_mem_used();
	struct jn_sublist *sl = jn_sublist_new();
	struct jn_sublist_cache *c = jn_sublist_cache_new(sl);
	assert_non_null(c);
	struct jn_sub a, b, q;
	sub_set(&a, "foo.bar", NULL);
	sub_set(&b, "foo.*", NULL);
	sub_set(&q, "foo.>", "g");
	assert_int_equal(jn_sublist_insert(sl, &a), 0);

	struct jn_match *m1 = jn_sublist_match(sl, c, S("foo.bar"));
	assert_int_equal(m1->nplain, 1);
	jn_match_release(c, m1);
	uint64_t v0 = jn_sublist_debug_visits();
	struct jn_match *m2 = jn_sublist_match(sl, c, S("foo.bar"));
	assert_ptr_equal(m1, m2);                           /* a hit */
	assert_int_equal(jn_sublist_debug_visits(), v0);    /* no trie walk */
	jn_match_release(c, m2);

	/* Same prefix, different subject: not a hit. */
	struct jn_match *m3 = jn_sublist_match(sl, c, S("foo.ba"));
	assert_int_equal(m3->nplain, 0);
	jn_match_release(c, m3);

	assert_int_equal(jn_sublist_insert(sl, &b), 0);
	m2 = jn_sublist_match(sl, c, S("foo.bar"));
	assert_int_equal(m2->nplain, 2);
	assert_true(has_plain(m2, &a) && has_plain(m2, &b));
	jn_match_release(c, m2);
	m3 = jn_sublist_match(sl, c, S("foo.ba"));
	assert_int_equal(m3->nplain, 1);                    /* stale empty entry rebuilt */
	jn_match_release(c, m3);
	assert_true(jn_sublist_has_interest(sl, c, S("foo.x")));
	assert_false(jn_sublist_has_interest(sl, c, S("bar.x")));

	assert_int_equal(jn_sublist_insert(sl, &q), 0);
	m2 = jn_sublist_match(sl, c, S("foo.bar"));
	assert_int_equal(m2->nqueues, 1);
	jn_match_release(c, m2);

	assert_int_equal(jn_sublist_remove(sl, &a), 0);
	m2 = jn_sublist_match(sl, c, S("foo.bar"));
	assert_int_equal(m2->nplain, 1);
	assert_false(has_plain(m2, &a));
	jn_match_release(c, m2);
	assert_int_equal(jn_sublist_remove(sl, &b), 0);
	assert_true(jn_sublist_has_interest(sl, c, S("foo.x")));   /* q: foo.> */
	assert_int_equal(jn_sublist_remove(sl, &q), 0);
	assert_false(jn_sublist_has_interest(sl, c, S("foo.x")));
	m2 = jn_sublist_match(sl, c, S("foo.bar"));
	assert_int_equal(m2->nplain + m2->nqueues, 0);
	jn_match_release(c, m2);

	/* Many distinct subjects: colliding slots evict, results stay correct. */
	assert_int_equal(jn_sublist_insert(sl, &b), 0);
	char buf[32];
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 20000; i++) {
			int n = snprintf(buf, sizeof buf, "%s.%d", i % 2 ? "foo" : "bar", i);
			struct jn_match *m = jn_sublist_match(sl, c, buf, (size_t)n);
			assert_int_equal(m->nplain, (uint32_t)(i % 2));
			jn_match_release(c, m);
		}
	}
	assert_int_equal(jn_sublist_remove(sl, &b), 0);
	jn_sublist_cache_free(c);
	jn_sublist_free(sl);
	assert_int_equal(jn_mem_used(), mem0);
}

/* A caller holds a result while (as a delivery callback would) matching
 * again on the same cache, which replaces the entry: the held result stays
 * intact until released. */
static void test_nested_hold(void **state)
{
	(void)state;
	size_t mem0 = jn_mem_used();
	struct jn_sublist *sl = jn_sublist_new();
	struct jn_sublist_cache *c = jn_sublist_cache_new(sl);
	struct jn_sub a, b;
	sub_set(&a, "foo", NULL);
	sub_set(&b, "foo", "q");
	assert_int_equal(jn_sublist_insert(sl, &a), 0);
	struct jn_match *outer = jn_sublist_match(sl, c, S("foo"));
	assert_int_equal(outer->refs, 2);   /* caller + cache */

	struct jn_match *inner = jn_sublist_match(sl, c, S("foo"));
	assert_ptr_equal(inner, outer);
	assert_int_equal(outer->refs, 3);
	jn_match_release(c, inner);

	/* The nested publish path changes the sublist, then matches again. */
	assert_int_equal(jn_sublist_insert(sl, &b), 0);
	inner = jn_sublist_match(sl, c, S("foo"));
	assert_ptr_not_equal(inner, outer);
	assert_int_equal(inner->nqueues, 1);
	assert_int_equal(outer->refs, 1);   /* evicted: only the caller's */
	assert_int_equal(outer->nplain, 1); /* still readable (ASan checks) */
	assert_ptr_equal(outer->plain[0], &a);
	assert_int_equal(outer->nqueues, 0);
	jn_match_release(c, inner);
	jn_match_release(c, outer);

	jn_sublist_cache_free(c);
	/* A result outlives the cache that made it. */
	c = jn_sublist_cache_new(sl);
	outer = jn_sublist_match(sl, c, S("foo"));
	jn_sublist_cache_free(c);
	assert_int_equal(outer->refs, 1);
	assert_int_equal(outer->nplain, 1);
	jn_match_release(NULL, outer);

	assert_int_equal(jn_sublist_remove(sl, &a), 0);
	assert_int_equal(jn_sublist_remove(sl, &b), 0);
	jn_sublist_free(sl);
	assert_int_equal(jn_mem_used(), mem0);
}

/* ---- randomized comparison against brute force ------------------------- */

#define RSUBS 1500
#define RQUEUES 4

static uint64_t rng = 0x1234567887654321ull;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static const char *const alpha[] = { "a", "b", "c", "dd", "e" };
static const char *const qnames[RQUEUES] = { NULL, "q1", "q2", "q3" };

static size_t rand_subject(char *buf, bool filter)
{
	int ntok = 1 + (int)rnd(4);
	size_t n = 0;
	for (int i = 0; i < ntok; i++) {
		if (i)
			buf[n++] = '.';
		const char *t = alpha[rnd(5)];
		if (filter) {
			uint32_t r = rnd(10);
			if (r < 2)
				t = "*";
			else if (r < 3 && i == ntok - 1)
				t = ">";
		}
		size_t tl = strlen(t);
		memcpy(buf + n, t, tl);
		n += tl;
	}
	buf[n] = '\0';
	return n;
}

static int ptrcmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
	return x < y ? -1 : x > y;
}

struct rsub {
	struct jn_sub s;
	char subj[32];
	bool in;
};

/* Compare one result with jn_subject_match over every inserted sub. */
static void check_against_brute(const struct jn_match *m, struct rsub *rs, const char *subj, size_t len)
{
	static struct jn_sub *want[RQUEUES][RSUBS], *got[RSUBS];
	uint32_t nw[RQUEUES] = { 0 };
	for (int i = 0; i < RSUBS; i++) {
		if (!rs[i].in || !jn_subject_match(rs[i].subj, rs[i].s.subject_len, subj, len))
			continue;
		int q = 0;
		while (rs[i].s.queue != qnames[q])
			q++;
		want[q][nw[q]++] = &rs[i].s;
	}
	if (m->nplain != nw[0])
		fail_msg("subject %s: %u plain, want %u", subj, m->nplain, nw[0]);
	memcpy(got, m->plain, nw[0] * sizeof *got);
	qsort(want[0], nw[0], sizeof *got, ptrcmp);
	qsort(got, nw[0], sizeof *got, ptrcmp);
	assert_memory_equal(want[0], got, nw[0] * sizeof *got);

	uint32_t groups_want = 0;
	for (int q = 1; q < RQUEUES; q++) {
		const struct jn_qgroup *g = group(m, qnames[q]);
		if (nw[q] == 0) {
			assert_null(g);
			continue;
		}
		groups_want++;
		if (!g || g->n != nw[q])
			fail_msg("subject %s queue %s: %u members, want %u", subj, qnames[q], g ? g->n : 0, nw[q]);
		memcpy(got, g->members, nw[q] * sizeof *got);
		qsort(want[q], nw[q], sizeof *got, ptrcmp);
		qsort(got, nw[q], sizeof *got, ptrcmp);
		assert_memory_equal(want[q], got, nw[q] * sizeof *got);
	}
	assert_int_equal(m->nqueues, groups_want);   /* no duplicate or empty group */
}

static void test_random_vs_brute(void **state)
{
	(void)state;
	size_t mem0 = jn_mem_used();
	struct jn_sublist *sl = jn_sublist_new();
	struct jn_sublist_cache *c = jn_sublist_cache_new(sl);
	static struct rsub rs[RSUBS];
	memset(rs, 0, sizeof rs);
	uint32_t inserted = 0;
	uint64_t total_matched = 0, hits = 0;
	for (int step = 0; step < 30000; step++) {
		uint32_t op = rnd(10);
		/* Alternate phases with and without changes, so cached entries are
		 * both reused and invalidated. */
		bool mutating = (step / 1000) % 2 == 0;
		if (mutating && op < 3) {
			/* toggle a random sub: insert if out, remove if in */
			struct rsub *r = &rs[rnd(RSUBS)];
			if (!r->in) {
				size_t n = rand_subject(r->subj, true);
				sub_set(&r->s, r->subj, qnames[rnd(RQUEUES)]);
				r->s.subject_len = (uint32_t)n;
				assert_int_equal(jn_sublist_insert(sl, &r->s), 0);
				r->in = true;
				inserted++;
			} else {
				assert_int_equal(jn_sublist_remove(sl, &r->s), 0);
				assert_int_equal(jn_sublist_remove(sl, &r->s), -JN_ENOTFOUND);
				r->in = false;
				inserted--;
			}
			assert_int_equal(jn_sublist_count(sl), inserted);
		} else {
			char subj[32];
			size_t n = rand_subject(subj, false);
			bool cached = op & 1;
			uint64_t v0 = jn_sublist_debug_visits();
			struct jn_match *m = jn_sublist_match(sl, cached ? c : NULL, subj, n);
			assert_non_null(m);
			if (cached && jn_sublist_debug_visits() == v0)
				hits++;
			check_against_brute(m, rs, subj, n);
			total_matched += m->nplain + m->nqueues;
			bool any = m->nplain || m->nqueues;
			jn_match_release(cached ? c : NULL, m);
			assert_true(jn_sublist_has_interest(sl, NULL, subj, n) == any);
			assert_true(jn_sublist_has_interest(sl, c, subj, n) == any);
		}
	}
	assert_true(total_matched > 10000);   /* the alphabet makes matches common */
	assert_true(hits > 1000);
	for (int i = 0; i < RSUBS; i++)
		if (rs[i].in)
			assert_int_equal(jn_sublist_remove(sl, &rs[i].s), 0);
	assert_int_equal(jn_sublist_count(sl), 0);
	assert_int_equal(jn_sublist_debug_nodes(sl), 0);
	jn_sublist_cache_free(c);
	jn_sublist_free(sl);
	assert_int_equal(jn_mem_used(), mem0);
}

/* The nodes an uncached match visits do not grow with 10,000 subscriptions
 * that do not match the subject (siblings, deeper filters, other roots). */
static void test_nonmatching_cost(void **state)
{
	(void)state;
	struct jn_sublist *sl = jn_sublist_new();
	struct jn_sub m1, m2, m3;
	sub_set(&m1, "orders.eu.new", NULL);
	sub_set(&m2, "orders.*.new", NULL);
	sub_set(&m3, "orders.>", "g");
	assert_int_equal(jn_sublist_insert(sl, &m1), 0);
	assert_int_equal(jn_sublist_insert(sl, &m2), 0);
	assert_int_equal(jn_sublist_insert(sl, &m3), 0);

	uint64_t v0 = jn_sublist_debug_visits();
	struct jn_match *m = jn_sublist_match(sl, NULL, S("orders.eu.new"));
	uint64_t before = jn_sublist_debug_visits() - v0;
	assert_int_equal(m->nplain, 2);
	jn_match_release(NULL, m);

	static struct jn_sub noise[10000];
	static char names[10000][40];
	for (int i = 0; i < 10000; i++) {
		switch (i % 4) {
		case 0: snprintf(names[i], sizeof names[i], "orders.r%d.new", i); break;
		case 1: snprintf(names[i], sizeof names[i], "orders.eu.new.%d", i); break;
		case 2: snprintf(names[i], sizeof names[i], "t%d.>", i); break;
		default: snprintf(names[i], sizeof names[i], "orders.eu.x%d", i); break;
		}
		sub_set(&noise[i], names[i], i % 3 ? NULL : "g");
		assert_int_equal(jn_sublist_insert(sl, &noise[i]), 0);
	}
	v0 = jn_sublist_debug_visits();
	m = jn_sublist_match(sl, NULL, S("orders.eu.new"));
	uint64_t after = jn_sublist_debug_visits() - v0;
	assert_int_equal(m->nplain, 2);
	assert_int_equal(m->nqueues, 1);
	assert_int_equal(m->queues[0].n, 1);
	jn_match_release(NULL, m);
	/* Equal up to a few extra hash-chain probes. */
	if (after > before + 6)
		fail_msg("visits grew from %llu to %llu with 10k non-matching subs",
		         (unsigned long long)before, (unsigned long long)after);
	jn_sublist_free(sl);
}

/* ---- concurrency: matching threads vs a writer that retires subs -------- */

#define CANARY 0x5ca1ab1e5ca1ab1eull
#define DEAD   0xdeaddeaddeaddeadull

struct csub {
	struct jn_sub s;
	uint64_t canary;
	char subj[16];
};

static struct jn_sublist *csl;
static atomic_bool cstop;
static _Atomic uint64_t cfreed, cbad, cchecked, cbatches;

static void csub_free(void *p)
{
	struct csub *c = p;
	c->canary = DEAD;
	atomic_fetch_add(&cfreed, 1);
	jn_free(c);
}

static void *reader(void *arg)
{
	(void)arg;
	struct jn_epoch_thread *et = jn_epoch_register();
	struct jn_sublist_cache *c = jn_sublist_cache_new(csl);
	static const char *const subjects[] = { "a.b", "a.c", "b.b", "a.b.c" };
	uint64_t i = 0;
	while (!atomic_load(&cstop)) {
		jn_epoch_enter(et);
		for (int k = 0; k < 32; k++) {
			const char *s = subjects[(i++) % 4];
			struct jn_match *m = jn_sublist_match(csl, c, s, strlen(s));
			for (uint32_t j = 0; j < m->nplain; j++) {
				struct csub *cs = (struct csub *)m->plain[j];
				if (cs->canary != CANARY)
					atomic_fetch_add(&cbad, 1);
				atomic_fetch_add_explicit(&cchecked, 1, memory_order_relaxed);
			}
			for (uint32_t g = 0; g < m->nqueues; g++)
				for (uint32_t j = 0; j < m->queues[g].n; j++)
					if (((struct csub *)m->queues[g].members[j])->canary != CANARY)
						atomic_fetch_add(&cbad, 1);
			jn_match_release(c, m);
		}
		jn_epoch_exit(et);
		atomic_fetch_add(&cbatches, 1);
		jn_epoch_poll();
		sched_yield();   /* a worker would block in epoll_wait here */
	}
	jn_sublist_cache_free(c);
	jn_epoch_unregister(et);
	return NULL;
}

static void test_concurrent_retire(void **state)
{
	(void)state;
	size_t mem0 = jn_mem_used();
	csl = jn_sublist_new();
	atomic_store(&cstop, false);
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader, NULL), 0);
	static const char *const filters[] = { "a.b", "a.*", "*.b", ">", "a.>", "a.b.c" };
	struct csub *live[64] = { 0 };
	uint64_t retired = 0;
	struct jn_epoch_thread *et = jn_epoch_register();
	for (int step = 0; step < 20000; step++) {
		int k = (int)rnd(64);
		if (live[k]) {
			assert_int_equal(jn_sublist_remove(csl, &live[k]->s), 0);
			jn_epoch_retire(live[k], csub_free);
			live[k] = NULL;
			retired++;
		} else {
			struct csub *cs = jn_calloc(1, sizeof *cs);
			cs->canary = CANARY;
			strcpy(cs->subj, filters[rnd(6)]);
			sub_set(&cs->s, cs->subj, rnd(3) == 0 ? "q" : NULL);
			assert_int_equal(jn_sublist_insert(csl, &cs->s), 0);
			live[k] = cs;
		}
		if (step % 64 == 0)
			jn_epoch_poll();
		/* Make sure readers run between changes, however threads are
		 * scheduled on this machine. */
		if (step % 200 == 0) {
			uint64_t b = atomic_load(&cbatches);
			while (atomic_load(&cbatches) < b + 3)
				sched_yield();
		}
	}
	atomic_store(&cstop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	jn_epoch_unregister(et);
	for (int k = 0; k < 64; k++) {
		if (live[k]) {
			assert_int_equal(jn_sublist_remove(csl, &live[k]->s), 0);
			jn_epoch_retire(live[k], csub_free);
			retired++;
		}
	}
	jn_epoch_drain();
	assert_int_equal(atomic_load(&cfreed), retired);
	assert_int_equal(atomic_load(&cbad), 0);
	assert_true(atomic_load(&cchecked) > 1000);
	jn_sublist_free(csl);
	assert_int_equal(jn_mem_used(), mem0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_queue_groups),
		cmocka_unit_test(test_pruning),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_nested_hold),
		cmocka_unit_test(test_random_vs_brute),
		cmocka_unit_test(test_nonmatching_cost),
		cmocka_unit_test(test_concurrent_retire),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
