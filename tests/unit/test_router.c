/*
 * test_router.c - fan-out rules of core/router.c: every plain subscription
 * gets each message, each queue group exactly one member, spread at random
 * across members; no_echo skips the publisher's own subscriptions (a queue
 * group falls back to another member); pub->matched counts matches before
 * echo filtering; delivery callbacks may publish again (nested) while the
 * outer publish is iterating; jn_router_rand stays in range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/router.h"

#define NSUB 16

struct tsub {
	struct jn_sub s;
	unsigned got;          /* total deliveries */
	unsigned this_pub;     /* deliveries in the current publish */
	const struct jn_msg *last_msg;
	struct jn_pub *last_pub;
};

static struct tsub subs[NSUB];

static void on_msg(struct jn_sub *s, const struct jn_msg *msg, struct jn_pub *pub)
{
	struct tsub *t = (struct tsub *)s;
	t->got++;
	t->this_pub++;
	t->last_msg = msg;
	t->last_pub = pub;
}

static struct tsub *mk(int i, const char *subject, const char *queue, uint64_t owner)
{
	struct tsub *t = &subs[i];
	memset(t, 0, sizeof *t);
	t->s.subject = subject;
	t->s.subject_len = (uint32_t)strlen(subject);
	t->s.queue = queue;
	t->s.queue_len = queue ? (uint32_t)strlen(queue) : 0;
	t->s.deliver = on_msg;
	t->s.owner = t;
	t->s.owner_id = owner;
	return t;
}

static void reset_pub(void)
{
	for (int i = 0; i < NSUB; i++)
		subs[i].this_pub = 0;
}

static struct jn_msg msg_for(const char *subject)
{
	struct jn_msg m;
	memset(&m, 0, sizeof m);
	m.subject = subject;
	m.subject_len = (uint32_t)strlen(subject);
	m.data = (const uint8_t *)"hello";
	m.data_len = 5;
	return m;
}

static void test_fanout(void **state)
{
	(void)state;
	size_t mem0 = jn_mem_used();
	struct jn_router r;
	assert_int_equal(jn_router_init(&r), 0);
	struct jn_sublist_cache *c = jn_sublist_cache_new(r.subs);
	struct tsub *p[3], *g[3], *h[2], *other;
	p[0] = mk(0, "foo", NULL, 1);
	p[1] = mk(1, "foo", NULL, 2);
	p[2] = mk(2, ">", NULL, 3);
	g[0] = mk(3, "foo", "g", 4);
	g[1] = mk(4, "foo", "g", 5);
	g[2] = mk(5, "*", "g", 6);        /* other filter, same group */
	h[0] = mk(6, "foo", "h", 7);
	h[1] = mk(7, "foo.>", "h", 8);     /* does not match foo */
	other = mk(8, "bar", NULL, 9);
	for (int i = 0; i <= 8; i++)
		assert_int_equal(jn_sublist_insert(r.subs, &subs[i].s), 0);

	const int N = 3000;
	for (int n = 0; n < N; n++) {
		reset_pub();
		struct jn_msg m = msg_for("foo");
		struct jn_pub pub = { .origin_id = 100, .batch = &pub };
		int d = jn_router_publish(&r, n % 2 ? c : NULL, &m, &pub);
		assert_int_equal(d, 3 + 2);                 /* 3 plain, groups g and h */
		assert_int_equal(pub.matched, 3 + 3 + 1);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(p[i]->this_pub, 1);
			assert_ptr_equal(p[i]->last_msg, &m);
			assert_ptr_equal(p[i]->last_pub, &pub);
		}
		assert_int_equal(g[0]->this_pub + g[1]->this_pub + g[2]->this_pub, 1);
		assert_int_equal(h[0]->this_pub, 1);
		assert_int_equal(h[1]->this_pub, 0);
		assert_int_equal(other->this_pub, 0);
	}
	/* Random choice: each member of g gets about a third. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p[i]->got, N);
		if (g[i]->got < N / 3 - 250 || g[i]->got > N / 3 + 250)
			fail_msg("member %d of g got %u of %d", i, g[i]->got, N);
	}

	/* Only ">" matches. */
	struct jn_msg m = msg_for("nobody.home");
	struct jn_pub pub = { .origin_id = 1, .matched = 99 };
	assert_int_equal(jn_router_publish(&r, c, &m, &pub), 1);
	assert_int_equal(pub.matched, 1);

	m = msg_for("foo.x");   /* ">" and h's "foo.>"; "*" is one token only */
	pub.matched = 0;
	reset_pub();
	assert_int_equal(jn_router_publish(&r, c, &m, &pub), 2);
	assert_int_equal(pub.matched, 2);
	assert_int_equal(p[2]->this_pub, 1);
	assert_int_equal(h[1]->this_pub, 1);

	for (int i = 0; i <= 8; i++)
		assert_int_equal(jn_sublist_remove(r.subs, &subs[i].s), 0);
	/* No subscriber at all: no responders. */
	m = msg_for("foo");
	pub.matched = 99;
	assert_int_equal(jn_router_publish(&r, c, &m, &pub), 0);
	assert_int_equal(pub.matched, 0);
	jn_sublist_cache_free(c);
	jn_router_fini(&r);
	assert_int_equal(jn_mem_used(), mem0);
}

static void test_no_echo(void **state)
{
	(void)state;
	struct jn_router r;
	assert_int_equal(jn_router_init(&r), 0);
	struct jn_sublist_cache *c = jn_sublist_cache_new(r.subs);
	const uint64_t me = 42;
	struct tsub *mine = mk(0, "foo", NULL, me);
	struct tsub *theirs = mk(1, "foo", NULL, 7);
	struct tsub *q_me = mk(2, "foo", "q", me);      /* q: me + one other */
	struct tsub *q_other = mk(3, "foo", "q", 7);
	struct tsub *solo = mk(4, "foo", "solo", me);   /* only me */
	for (int i = 0; i <= 4; i++)
		assert_int_equal(jn_sublist_insert(r.subs, &subs[i].s), 0);

	for (int n = 0; n < 200; n++) {
		reset_pub();
		struct jn_msg m = msg_for("foo");
		struct jn_pub pub = { .origin_id = me, .no_echo = true };
		int d = jn_router_publish(&r, c, &m, &pub);
		assert_int_equal(pub.matched, 5);            /* before echo filtering */
		assert_int_equal(d, 2);                      /* theirs + q_other */
		assert_int_equal(mine->this_pub, 0);
		assert_int_equal(theirs->this_pub, 1);
		assert_int_equal(q_me->this_pub, 0);
		assert_int_equal(q_other->this_pub, 1);      /* every time, not half */
		assert_int_equal(solo->this_pub, 0);
	}
	/* Echo on: own subscriptions get it, q is split. */
	for (int n = 0; n < 200; n++) {
		reset_pub();
		struct jn_msg m = msg_for("foo");
		struct jn_pub pub = { .origin_id = me, .no_echo = false };
		assert_int_equal(jn_router_publish(&r, c, &m, &pub), 4);
		assert_int_equal(mine->this_pub, 1);
		assert_int_equal(solo->this_pub, 1);
		assert_int_equal(q_me->this_pub + q_other->this_pub, 1);
	}
	assert_true(q_me->got > 50 && q_other->got > 250);
	/* no_echo from someone else: nothing skipped. */
	reset_pub();
	struct jn_msg m = msg_for("foo");
	struct jn_pub pub = { .origin_id = 1000, .no_echo = true };
	assert_int_equal(jn_router_publish(&r, c, &m, &pub), 4);

	for (int i = 0; i <= 4; i++)
		assert_int_equal(jn_sublist_remove(r.subs, &subs[i].s), 0);
	jn_sublist_cache_free(c);
	jn_router_fini(&r);
}

/* A callback that publishes again on the same thread and cache, and changes
 * the sublist in between, so the outer publish's cache entry is evicted
 * and freed from the cache while the outer loop still iterates it. */
static struct jn_router *nr;
static struct jn_sublist_cache *ncache;
static int depth, nested_calls;
static struct tsub extra;

static void on_nested(struct jn_sub *s, const struct jn_msg *msg, struct jn_pub *pub)
{
	on_msg(s, msg, pub);
	if (depth > 0)
		return;
	depth++;
	nested_calls++;
	if (s == &subs[0].s) {   /* once per outer publish */
		if (!extra.s.jn__node) {
			assert_int_equal(jn_sublist_insert(nr->subs, &extra.s), 0);
		} else {
			assert_int_equal(jn_sublist_remove(nr->subs, &extra.s), 0);
			extra.s.jn__node = NULL;
		}
	}
	struct jn_msg m = msg_for("nest");
	struct jn_pub inner = { .origin_id = 5 };
	int d = jn_router_publish(nr, ncache, &m, &inner);
	assert_true(d >= 4);
	depth--;
}

static void test_nested_publish(void **state)
{
	(void)state;
	size_t mem0 = jn_mem_used();
	struct jn_router r;
	assert_int_equal(jn_router_init(&r), 0);
	nr = &r;
	ncache = jn_sublist_cache_new(r.subs);
	for (int i = 0; i < 4; i++) {
		mk(i, "nest", NULL, 1);
		subs[i].s.deliver = on_nested;
		assert_int_equal(jn_sublist_insert(r.subs, &subs[i].s), 0);
	}
	memset(&extra, 0, sizeof extra);
	extra.s.subject = "nest";
	extra.s.subject_len = 4;
	extra.s.deliver = on_msg;

	for (int n = 0; n < 50; n++) {
		bool extra_in = extra.s.jn__node != NULL;
		struct jn_msg m = msg_for("nest");
		struct jn_pub pub = { .origin_id = 9 };
		int d = jn_router_publish(&r, ncache, &m, &pub);
		/* The outer publish delivers to the set it matched at the start. */
		assert_int_equal(d, 4 + (extra_in ? 1 : 0));
		assert_int_equal(pub.matched, (uint32_t)d);
	}
	assert_int_equal(nested_calls, 50 * 4);
	for (int i = 0; i < 4; i++)   /* 50 outer + 200 inner deliveries each */
		assert_int_equal(subs[i].got, 50 + 200);
	if (extra.s.jn__node)
		assert_int_equal(jn_sublist_remove(r.subs, &extra.s), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(jn_sublist_remove(r.subs, &subs[i].s), 0);
	jn_sublist_cache_free(ncache);
	jn_router_fini(&r);
	assert_int_equal(jn_mem_used(), mem0);
}

static void *rand_thread(void *arg)
{
	uint32_t *out = arg;
	for (int i = 0; i < 8; i++)
		out[i] = jn_router_rand(1u << 30);
	return NULL;
}

static void test_rand(void **state)
{
	(void)state;
	assert_int_equal(jn_router_rand(0), 0);
	assert_int_equal(jn_router_rand(1), 0);
	unsigned hist[7] = { 0 };
	for (int i = 0; i < 70000; i++) {
		uint32_t x = jn_router_rand(7);
		assert_true(x < 7);
		hist[x]++;
	}
	for (int i = 0; i < 7; i++)
		if (hist[i] < 9000 || hist[i] > 11000)
			fail_msg("bucket %d: %u of 70000", i, hist[i]);
	for (int i = 0; i < 1000; i++)
		assert_true(jn_router_rand(UINT32_MAX) < UINT32_MAX);
	/* Threads are seeded differently. */
	uint32_t a[8], b[8];
	pthread_t t1, t2;
	pthread_create(&t1, NULL, rand_thread, a);
	pthread_join(t1, NULL);
	pthread_create(&t2, NULL, rand_thread, b);
	pthread_join(t2, NULL);
	assert_memory_not_equal(a, b, sizeof a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fanout),
		cmocka_unit_test(test_no_echo),
		cmocka_unit_test(test_nested_publish),
		cmocka_unit_test(test_rand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
