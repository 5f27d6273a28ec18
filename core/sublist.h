/*
 * sublist.h - the subscription index: a trie over subject tokens with "*"
 * and ">" nodes (like nats-server's sublist), plus a per-thread match cache.
 *
 * Ownership: the sublist never owns a struct jn_sub. The caller allocates it
 * (usually embedded in an adapter's own subscription struct), keeps it alive
 * while inserted, and after jn_sublist_remove() must jn_epoch_retire() it
 * rather than free it: other threads may still hold cached match results
 * that point to it.
 *
 * Concurrency: insert/remove take the write lock and bump the generation;
 * match takes the read lock only on a cache miss. Match cost depends on the
 * number of subject tokens and matching subscriptions, not on the number of
 * non-matching ones.
 */
#ifndef JN_SUBLIST_H
#define JN_SUBLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/msg.h"

struct jn_sub;
struct jn_pub;

/* Called once per delivery. `pub` describes the publishing side. */
typedef void (*jn_deliver_fn)(struct jn_sub *sub, const struct jn_msg *msg,
                              struct jn_pub *pub);

struct jn_sub {
	/* Set by the owner before insert; must not change while inserted.
	 * The strings are owned by whoever owns the jn_sub. */
	const char *subject;
	uint32_t subject_len;
	const char *queue;        /* NULL for a plain subscription */
	uint32_t queue_len;
	jn_deliver_fn deliver;
	void *owner;              /* adapter's object (client, internal handler) */
	uint64_t owner_id;        /* connection id; used for echo suppression */
	/* Private to sublist.c. */
	void *jn__node;
	uint32_t jn__slot;
};

/* The subscriptions that match one subject. Immutable once built; shared
 * by reference count within one cache (single thread). */
struct jn_match {
	uint32_t refs;
	uint32_t nplain;
	struct jn_sub **plain;
	uint32_t nqueues;
	struct jn_qgroup {
		const char *name;
		uint32_t name_len;
		uint32_t n;
		struct jn_sub **members;
	} *queues;
	/* storage follows */
};

struct jn_sublist;
struct jn_sublist_cache;   /* one per thread; not thread-safe itself */

struct jn_sublist *jn_sublist_new(void);
void jn_sublist_free(struct jn_sublist *sl);   /* subs still inserted are not touched */

/* 0, -JN_EBADSUBJECT (not a valid filter), -JN_ENOMEM. */
int jn_sublist_insert(struct jn_sublist *sl, struct jn_sub *sub);
/* 0 or -JN_ENOTFOUND. */
int jn_sublist_remove(struct jn_sublist *sl, struct jn_sub *sub);

uint32_t jn_sublist_count(const struct jn_sublist *sl);
uint64_t jn_sublist_generation(const struct jn_sublist *sl);

/* Match a literal subject. With cache == NULL builds a fresh result.
 * Returns a result with one reference the caller owns (release with
 * jn_match_release), or NULL on OOM. An empty result has nplain = nqueues = 0. */
struct jn_match *jn_sublist_match(struct jn_sublist *sl, struct jn_sublist_cache *cache,
                                  const char *subj, size_t len);
void jn_match_release(struct jn_sublist_cache *cache, struct jn_match *m);

struct jn_sublist_cache *jn_sublist_cache_new(struct jn_sublist *sl);
void jn_sublist_cache_free(struct jn_sublist_cache *c);

/* Does any subscription exist that matches subj (plain or queue)? */
bool jn_sublist_has_interest(struct jn_sublist *sl, struct jn_sublist_cache *cache,
                             const char *subj, size_t len);

/* Diagnostics for tests: trie nodes currently allocated, and the number of
 * trie nodes the calling thread has visited in uncached matches so far. */
size_t jn_sublist_debug_nodes(struct jn_sublist *sl);
uint64_t jn_sublist_debug_visits(void);

#endif
