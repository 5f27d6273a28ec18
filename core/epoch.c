/*
 * epoch.c - epoch-based reclamation.
 *
 * State: a global epoch G; per registered thread one atomic word,
 * (local epoch << 1) | active; a limbo list of retired objects, each
 * tagged with the epoch at which it was retired.
 *
 * Protocol (the one crossbeam-epoch uses, in C11 terms):
 *   enter:   e = load(G); exchange(state, e<<1|1); fence(seq_cst); read.
 *   exit:    store(state, 0, release).
 *   retire:  the object is already unreachable for new readers;
 *            fence(seq_cst); tag = load(G); append to limbo.
 *   advance: g = load(G); fence(seq_cst); if every active thread has
 *            local == g: fence(acquire); G = g + 1 (release).
 *   free:    every limbo entry with tag + 2 <= G.
 * An active thread pins G to at most its local epoch + 1, so an object
 * tagged t is freed only after every thread active at t has left its
 * section; a thread that entered later started after the unlink, which the
 * two seq_cst fences make visible to it.
 *
 * Limbo entries are appended under limbo_lock with the tag read under the
 * lock, so tags never decrease along the list and freeing pops from the
 * head. Retire is rare (unsubscribe, close); poll is frequent, so poll
 * returns after one relaxed load when limbo is empty and never waits for
 * a lock another thread holds. Free functions run outside every lock and
 * may retire again.
 */
#include "core/epoch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/alloc.h"
#include "core/log.h"

struct jn_epoch_thread {
	_Atomic uint64_t state;          /* (epoch << 1) | active */
	unsigned nest;                   /* owner thread only */
	struct jn_epoch_thread *next;    /* registry, under reg_lock */
};

struct limbo {
	struct limbo *next;
	void *obj;
	void (*free_fn)(void *);
	uint64_t tag;
};

static _Atomic uint64_t global_epoch = 1;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jn_epoch_thread *threads;

static pthread_mutex_t limbo_lock = PTHREAD_MUTEX_INITIALIZER;
static struct limbo *limbo_head, *limbo_tail;
static _Atomic size_t limbo_count;

struct jn_epoch_thread *jn_epoch_register(void)
{
	struct jn_epoch_thread *t = jn_calloc(1, sizeof *t);
	if (!t)
		return NULL;
	atomic_init(&t->state, 0);
	pthread_mutex_lock(&reg_lock);
	t->next = threads;
	threads = t;
	pthread_mutex_unlock(&reg_lock);
	return t;
}

void jn_epoch_unregister(struct jn_epoch_thread *t)
{
	if (!t)
		return;
	atomic_store_explicit(&t->state, 0, memory_order_release);
	pthread_mutex_lock(&reg_lock);
	for (struct jn_epoch_thread **pp = &threads; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	jn_free(t);
}

void jn_epoch_enter(struct jn_epoch_thread *t)
{
	if (t->nest++ > 0)
		return;
	uint64_t e = atomic_load_explicit(&global_epoch, memory_order_relaxed);
	/* An RMW, not a plain store: it continues the release sequence of our
	 * last exit, so an advancer that reads this value (and fences acquire)
	 * still synchronizes with that exit, also under the C++20 rules that
	 * dropped same-thread stores from release sequences. */
	atomic_exchange_explicit(&t->state, (e << 1) | 1u, memory_order_relaxed);
	/* Orders the store above before every read in the section: an
	 * advancer that scans after this fence sees us active. */
	atomic_thread_fence(memory_order_seq_cst);
}

void jn_epoch_exit(struct jn_epoch_thread *t)
{
	if (t->nest == 0 || --t->nest > 0)
		return;
	/* Release: every read of the section happens before we count as out. */
	atomic_store_explicit(&t->state, 0, memory_order_release);
}

void jn_epoch_retire(void *obj, void (*free_fn)(void *obj))
{
	if (!obj)
		return;
	struct limbo *l = jn_malloc(sizeof *l);
	if (!l) {
		/* Freeing now could hand memory back under a reader's feet, and
		 * waiting could deadlock a caller inside its own section. */
		jn_error("epoch: out of memory retiring %p, leaking it", obj);
		return;
	}
	l->next = NULL;
	l->obj = obj;
	l->free_fn = free_fn;
	pthread_mutex_lock(&limbo_lock);
	/* The caller's unlink happens before this fence; the tag is read after. */
	atomic_thread_fence(memory_order_seq_cst);
	l->tag = atomic_load_explicit(&global_epoch, memory_order_relaxed);
	if (limbo_tail)
		limbo_tail->next = l;
	else
		limbo_head = l;
	limbo_tail = l;
	atomic_fetch_add_explicit(&limbo_count, 1, memory_order_relaxed);
	pthread_mutex_unlock(&limbo_lock);
}

/* One step of G, if every active thread has caught up with it. */
static void try_advance(void)
{
	if (pthread_mutex_trylock(&reg_lock) != 0)
		return;   /* someone is advancing or (un)registering; next poll */
	uint64_t g = atomic_load_explicit(&global_epoch, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	bool ok = true;
	for (struct jn_epoch_thread *t = threads; t; t = t->next) {
		uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
		if ((s & 1u) && (s >> 1) != g) {
			ok = false;
			break;
		}
	}
	if (ok) {
		atomic_thread_fence(memory_order_acquire);
		/* Only the reg_lock holder advances, so a plain store is enough. */
		atomic_store_explicit(&global_epoch, g + 1, memory_order_release);
	}
	pthread_mutex_unlock(&reg_lock);
}

static void run_list(struct limbo *l)
{
	while (l) {
		struct limbo *nx = l->next;
		if (l->free_fn)
			l->free_fn(l->obj);
		jn_free(l);
		l = nx;
	}
}

void jn_epoch_poll(void)
{
	if (atomic_load_explicit(&limbo_count, memory_order_relaxed) == 0)
		return;
	try_advance();
	uint64_t g = atomic_load_explicit(&global_epoch, memory_order_acquire);
	if (pthread_mutex_trylock(&limbo_lock) != 0)
		return;
	struct limbo *due = NULL, **tailp = &due;
	size_t n = 0;
	while (limbo_head && limbo_head->tag + 2 <= g) {
		struct limbo *l = limbo_head;
		limbo_head = l->next;
		*tailp = l;
		tailp = &l->next;
		n++;
	}
	*tailp = NULL;
	if (!limbo_head)
		limbo_tail = NULL;
	atomic_fetch_sub_explicit(&limbo_count, n, memory_order_relaxed);
	pthread_mutex_unlock(&limbo_lock);
	run_list(due);
}

void jn_epoch_drain(void)
{
	/* Free functions may retire more (a connection retiring its subs). */
	for (;;) {
		pthread_mutex_lock(&limbo_lock);
		struct limbo *all = limbo_head;
		size_t n = atomic_load_explicit(&limbo_count, memory_order_relaxed);
		limbo_head = limbo_tail = NULL;
		atomic_fetch_sub_explicit(&limbo_count, n, memory_order_relaxed);
		pthread_mutex_unlock(&limbo_lock);
		if (!all)
			return;
		run_list(all);
	}
}
