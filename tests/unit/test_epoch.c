/*
 * test_epoch.c - epoch-based reclamation (core/epoch.c).
 *
 * Deterministic cases: an object is not freed while a thread that was in
 * its read section at retire time is still inside (nested sections too),
 * and is freed a few polls after it leaves; unregistered and idle threads
 * do not hold anything back; drain frees everything, including what free
 * functions retire. Stress: reader threads load pointers that writer
 * threads swap out and retire; each object carries a canary that its free
 * function overwrites, and readers check it while they hold the pointer
 * (run under ASan as well, which reports any use after free directly).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "core/alloc.h"
#include "core/epoch.h"

static int freed_count;

static void count_free(void *p)
{
	(void)p;
	freed_count++;
}

static void poll_n(int n)
{
	for (int i = 0; i < n; i++)
		jn_epoch_poll();
}

static void test_reader_holds_back(void **state)
{
	(void)state;
	jn_epoch_drain();
	freed_count = 0;
	struct jn_epoch_thread *t = jn_epoch_register();
	assert_non_null(t);
	int obj;
	jn_epoch_enter(t);
	jn_epoch_retire(&obj, count_free);
	poll_n(20);
	assert_int_equal(freed_count, 0);     /* reader still inside */
	jn_epoch_exit(t);
	poll_n(3);
	assert_int_equal(freed_count, 1);

	/* Nested sections: only the outermost exit counts. */
	jn_epoch_enter(t);
	jn_epoch_enter(t);
	jn_epoch_retire(&obj, count_free);
	jn_epoch_exit(t);
	poll_n(20);
	assert_int_equal(freed_count, 1);
	jn_epoch_exit(t);
	poll_n(3);
	assert_int_equal(freed_count, 2);

	/* A registered thread outside its section does not hold back. */
	jn_epoch_retire(&obj, count_free);
	poll_n(3);
	assert_int_equal(freed_count, 3);

	/* A thread that enters and exits between polls does not block progress. */
	jn_epoch_retire(&obj, count_free);
	for (int i = 0; i < 3; i++) {
		jn_epoch_enter(t);
		jn_epoch_exit(t);
		jn_epoch_poll();
	}
	assert_int_equal(freed_count, 4);
	jn_epoch_unregister(t);
}

struct held {
	struct jn_epoch_thread *t;
	atomic_int stage;    /* 1: inside, 2: told to leave, 3: left */
};

static void *holder(void *arg)
{
	struct held *h = arg;
	h->t = jn_epoch_register();
	jn_epoch_enter(h->t);
	atomic_store(&h->stage, 1);
	while (atomic_load(&h->stage) != 2)
		sched_yield();
	jn_epoch_exit(h->t);
	atomic_store(&h->stage, 3);
	while (atomic_load(&h->stage) != 4)
		sched_yield();
	jn_epoch_unregister(h->t);
	return NULL;
}

/* Another thread's section holds back objects retired by this one
 * (which is not even registered), until it exits. */
static void test_other_thread(void **state)
{
	(void)state;
	jn_epoch_drain();
	freed_count = 0;
	struct held h = { .stage = 0 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, holder, &h), 0);
	while (atomic_load(&h.stage) != 1)
		sched_yield();
	int obj;
	jn_epoch_retire(&obj, count_free);
	poll_n(50);
	assert_int_equal(freed_count, 0);
	atomic_store(&h.stage, 2);
	while (atomic_load(&h.stage) != 3)
		sched_yield();
	poll_n(3);
	assert_int_equal(freed_count, 1);
	atomic_store(&h.stage, 4);
	pthread_join(th, NULL);
}

/* Unregistering a thread (even one left inside) releases what it held. */
static void test_unregister_releases(void **state)
{
	(void)state;
	jn_epoch_drain();
	freed_count = 0;
	struct jn_epoch_thread *t = jn_epoch_register();
	int obj;
	jn_epoch_enter(t);
	jn_epoch_retire(&obj, count_free);
	poll_n(10);
	assert_int_equal(freed_count, 0);
	jn_epoch_unregister(t);
	poll_n(3);
	assert_int_equal(freed_count, 1);
}

static int chain_left;

static void chain_free(void *p)
{
	freed_count++;
	if (chain_left-- > 0)
		jn_epoch_retire(p, chain_free);   /* a free fn may retire more */
}

static void test_drain(void **state)
{
	(void)state;
	jn_epoch_drain();
	freed_count = 0;
	struct jn_epoch_thread *t = jn_epoch_register();
	int obj;
	jn_epoch_enter(t);
	for (int i = 0; i < 100; i++)
		jn_epoch_retire(&obj, count_free);
	chain_left = 5;
	jn_epoch_retire(&obj, chain_free);
	jn_epoch_exit(t);
	jn_epoch_drain();
	assert_int_equal(freed_count, 100 + 6);
	poll_n(5);
	assert_int_equal(freed_count, 106);
	jn_epoch_unregister(t);
	jn_epoch_retire(NULL, count_free);   /* no-op */
	jn_epoch_drain();
	assert_int_equal(freed_count, 106);
}

/* ---- stress ----------------------------------------------------------- */

#define SLOTS 64
#define READERS 3
#define WRITERS 2
#define WRITES_PER_WRITER 30000
#define CANARY 0xc0ffee00c0ffee00ull
#define DEAD 0xdeadbeefdeadbeefull

struct obj {
	uint64_t canary;
	uint64_t payload[6];
	uint64_t canary2;
	struct obj *qnext;
};

static _Atomic(struct obj *) slots[SLOTS];
static _Atomic(struct obj *) quarantine;
static atomic_bool stop;
static _Atomic uint64_t bad, reads, allocs, frees, read_batches;

/* Half the objects are really freed (ASan reports a late read of those);
 * the other half stay allocated, marked DEAD, until the test ends, so a
 * late read of one sees DEAD rather than a reused block's fresh canary. */
static void obj_free(void *p)
{
	struct obj *o = p;
	o->canary = DEAD;
	o->canary2 = DEAD;
	atomic_fetch_add(&frees, 1);
	if (o->payload[0] & 1) {
		jn_free(o);
		return;
	}
	o->qnext = atomic_load(&quarantine);
	while (!atomic_compare_exchange_weak(&quarantine, &o->qnext, o))
		;
}

static struct obj *obj_new(uint64_t v)
{
	struct obj *o = jn_malloc(sizeof *o);
	o->canary = CANARY;
	for (int i = 0; i < 6; i++)
		o->payload[i] = v;
	o->canary2 = CANARY;
	atomic_fetch_add(&allocs, 1);
	return o;
}

static void *stress_reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
	struct jn_epoch_thread *t = jn_epoch_register();
	while (!atomic_load(&stop)) {
		jn_epoch_enter(t);
		for (int k = 0; k < 64; k++) {
			seed = seed * 1103515245u + 12345u;
			struct obj *o = atomic_load_explicit(&slots[(seed >> 8) % SLOTS], memory_order_acquire);
			if (!o)
				continue;
			uint64_t c1 = o->canary;
			uint64_t v = o->payload[0];
			for (int i = 1; i < 6; i++)
				if (o->payload[i] != v)
					atomic_fetch_add(&bad, 1);
			sched_yield();   /* widen the window: writers run meanwhile */
			if (c1 != CANARY || o->canary != CANARY || o->canary2 != CANARY)
				atomic_fetch_add(&bad, 1);
			atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
		}
		jn_epoch_exit(t);
		atomic_fetch_add(&read_batches, 1);
		jn_epoch_poll();
	}
	jn_epoch_unregister(t);
	return NULL;
}

static void *stress_writer(void *arg)
{
	uint64_t v = (uintptr_t)arg * 1000003u;
	unsigned seed = (unsigned)(uintptr_t)arg + 7u;
	for (int i = 0; i < WRITES_PER_WRITER; i++) {
		seed = seed * 1103515245u + 12345u;
		struct obj *n = obj_new(v++);
		struct obj *old = atomic_exchange_explicit(&slots[(seed >> 8) % SLOTS], n, memory_order_acq_rel);
		if (old)
			jn_epoch_retire(old, obj_free);
		if (i % 16 == 0)
			jn_epoch_poll();
		if (i % 8 == 0)
			sched_yield();
		if (i % 500 == 0) {   /* keep readers interleaved on a busy machine */
			uint64_t b = atomic_load(&read_batches);
			while (atomic_load(&read_batches) < b + 2)
				sched_yield();
		}
	}
	return NULL;
}

static void test_stress(void **state)
{
	(void)state;
	jn_epoch_drain();
	size_t mem0 = jn_mem_used();
	pthread_t r[READERS], w[WRITERS];
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&r[i], NULL, stress_reader, (void *)(uintptr_t)(i + 1)), 0);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&w[i], NULL, stress_writer, (void *)(uintptr_t)(i + 1)), 0);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(r[i], NULL);
	/* Objects were freed while the test ran, not only at the end. */
	uint64_t freed_live = atomic_load(&frees);
	for (int i = 0; i < SLOTS; i++) {
		struct obj *o = atomic_exchange(&slots[i], NULL);
		if (o)
			jn_epoch_retire(o, obj_free);
	}
	jn_epoch_drain();
	for (struct obj *o = atomic_exchange(&quarantine, NULL), *nx; o; o = nx) {
		nx = o->qnext;
		jn_free(o);
	}
	assert_int_equal(atomic_load(&bad), 0);
	assert_true(atomic_load(&reads) > 5000);
	/* Progress under load depends on scheduling (a reader preempted inside
	 * its section holds everything back); the deterministic tests above
	 * check progress exactly. Here: reclamation did not stall. */
	assert_true(freed_live > 1000);
	assert_int_equal(atomic_load(&frees), atomic_load(&allocs));
	assert_int_equal(jn_mem_used(), mem0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_holds_back),
		cmocka_unit_test(test_other_thread),
		cmocka_unit_test(test_unregister_releases),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
