/*
 * store_impl.h - private to store.c, memstore.c and filestore.c.
 *
 * All store semantics live once, in store.c: sequence assignment, the
 * seq -> message index, the per-subject index, filters, purge/compact/expire
 * rules, byte accounting, locking. A backend only says where a message's
 * bytes live and how removals become durable, through struct jn__store_ops.
 * That way the memory and file stores cannot drift apart, and the shared
 * test suite exercising one exercises the logic of both.
 *
 * Locking: st->mu is held during every backend op except free(); backends
 * with their own threads (the file store's syncer job) take st->mu too.
 */
#ifndef JN_STORE_IMPL_H
#define JN_STORE_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/store.h"

#define JN__NOSUBJ UINT32_MAX

/* One sequence in [base, last_seq]. A deleted (or skipped) seq keeps its ts
 * so that seq_for_time can bisect over the array. */
struct jn__sent {
	uint64_t loc;      /* backend's locator of the bytes */
	int64_t ts;
	uint64_t prev;     /* previous / next seq with the same subject, 0 = none */
	uint64_t next;
	uint32_t subj;     /* subject id, JN__NOSUBJ when not stored */
	uint32_t size;     /* accounted bytes (jn_store_msg_size) */
};

struct jn__subj {
	char *name;        /* NULL: free slot */
	uint32_t len;
	uint32_t hash;
	uint64_t msgs;
	uint64_t first;
	uint64_t last;
};

struct jn__store_ops {
	/* Store the bytes of message seq and set *loc. On failure nothing of
	 * it may remain visible. */
	int (*put)(struct jn_store *st, uint64_t seq, int64_t ts,
	           const char *subj, uint32_t slen, const uint8_t *hdr, uint32_t hlen,
	           const uint8_t *data, uint32_t dlen, uint64_t *loc);
	/* Copy message seq (entry e) into m. */
	int (*get)(struct jn_store *st, uint64_t seq, const struct jn__sent *e,
	           struct jn_store_msg *m);
	/* Record that seq will be deleted (a tombstone); called before the index
	 * forgets it. Failure: the message stays. */
	int (*tomb)(struct jn_store *st, uint64_t seq, const struct jn__sent *e);
	/* Record that every seq < seq is deleted, and that last_seq >= seq - 1
	 * (ts = the store's last_ts, to survive a restart). Called before the
	 * index forgets them. */
	int (*floor)(struct jn_store *st, uint64_t seq, int64_t last_ts);
	/* Record a skipped seq. */
	int (*skip)(struct jn_store *st, uint64_t seq, int64_t ts);
	/* The index forgot seq (after tomb/floor, or for memstore instead). */
	void (*forget)(struct jn_store *st, uint64_t seq, const struct jn__sent *e);
	/* End of every mutating public call, still under st->mu. */
	void (*end_op)(struct jn_store *st);
	/* Called with st->mu held. Return 1 if cb must be called now (the
	 * caller does it after unlocking), 0 if queued, or an error. */
	int (*when_durable)(struct jn_store *st, uint64_t seq,
	                    void (*cb)(void *arg, int err), void *arg);
	/* Called WITHOUT st->mu. */
	int (*sync)(struct jn_store *st);
	void (*stats)(struct jn_store *st, struct jn_store_stats *out);
	/* Called WITHOUT st->mu; frees the backend (not the index). */
	int (*free)(struct jn_store *st, bool delete_files);
};

struct jn_store {
	pthread_mutex_t mu;
	enum jn_store_type type;
	const struct jn__store_ops *ops;
	void *be;                      /* backend state */

	/* State (see store.h). */
	uint64_t msgs, bytes;
	uint64_t first_seq, last_seq;
	int64_t last_ts;

	/* seq -> entry: ents[head .. head+n) are seqs [base, base+n). When
	 * msgs > 0, base == first_seq and base+n-1 == last_seq; when msgs == 0,
	 * n == 0 and base == last_seq + 1. */
	struct jn__sent *ents;
	size_t head, n, cap;
	uint64_t base;

	/* Subjects: slots by id, open-addressing hash of ids + 1. */
	struct jn__subj *subs;
	uint32_t nsubs_used;           /* live subjects */
	uint32_t subs_cap;             /* slots allocated */
	uint32_t subs_hi;              /* slots ever used (ids < subs_hi) */
	uint32_t *free_ids;
	uint32_t nfree;
	uint32_t *htab;
	uint32_t hcap;                 /* power of two */

	/* Wildcard match memo per subject id: (gen << 1) | match. */
	uint32_t *memo;
	uint32_t memo_cap;
	uint32_t memo_gen;
};

/* For backends: build the common part. st is zeroed by the caller. */
int jn__store_init(struct jn_store *st, enum jn_store_type type,
                   const struct jn__store_ops *ops, void *be);
void jn__store_fini(struct jn_store *st);

/* For the file store's recovery (st->mu not needed: not yet shared).
 * Insert a recovered message; seq must be > every seq inserted so far. */
int jn__store_recover_msg(struct jn_store *st, uint64_t seq, int64_t ts,
                          const char *subj, uint32_t slen, uint32_t size, uint64_t loc);
/* A recovered tombstone: forget seq if present (calls ops->forget). Returns
 * true if it was present. */
bool jn__store_recover_del(struct jn_store *st, uint64_t seq);
/* A recovered floor / skip / segment name: everything < seq is gone and
 * last_seq >= seq - 1. */
void jn__store_recover_floor(struct jn_store *st, uint64_t seq);
void jn__store_recover_last(struct jn_store *st, uint64_t last_seq, int64_t last_ts);

/* Copy a message into m's buffer: grows it, sets every field. */
int jn__msg_fill(struct jn_store_msg *m, uint64_t seq, int64_t ts,
                 const char *subj, uint32_t slen, const uint8_t *hdr, uint32_t hlen,
                 const uint8_t *data, uint32_t dlen);
/* Make m's buffer at least n bytes (for backends reading straight into it). */
int jn__msg_reserve(struct jn_store_msg *m, size_t n);

#endif
