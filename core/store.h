/*
 * store.h - a stream's message store: an append-only sequence of messages
 * with interior deletes, a per-subject index and durability notifications.
 * The stream layer is storage-agnostic: jn_memstore_open() and
 * jn_filestore_open() return the same `struct jn_store`, and every function
 * below behaves identically on both, except where durability is concerned
 * (a memory store is "durable" at once).
 *
 * Sequences. The first message gets seq 1 and every append (or skip) takes
 * last_seq + 1; sequences are never reused, not after deletes, purges or a
 * restart (the file store persists last_seq even when every message is gone).
 * first_seq is the lowest stored seq; when the store is empty it is
 * last_seq + 1 (0 for a store never written, like nats-server). Interior
 * deletes are exact: num_deleted = last_seq - first_seq + 1 - msgs.
 *
 * Bytes. `bytes` counts each stored message as nats-server does, so that
 * max_bytes limits and stream info agree with it (jn_store_msg_size()):
 *   file:   subject + data + 30, plus headers + 4 when there are headers
 *           (nats-server: 4 len + 8 seq + 8 ts + 2 subj_len + 8 hash + 4 hdr_len)
 *   memory: subject + headers + data + 16
 *
 * Filters. Every `filter` argument is a subject filter with "*" and ">"
 * wildcards (assumed valid, see subject.h); NULL, "" or ">" mean "every
 * subject".
 *
 * Thread-safety. Every function may be called from any thread; the store has
 * its own mutex (the stream normally calls it under its stream mutex, which
 * is fine). Durability callbacks run on the syncer thread, or inline in the
 * calling thread, with no store lock held: they may call the store, but the
 * caller of jn_store_when_durable() must not hold a lock the callback takes.
 *
 * Errors: -JN_EINVAL (bad argument), -JN_ENOTFOUND (no such message),
 * -JN_ENOSPC / -JN_EIO (disk; the store stays consistent and usable when the
 * condition clears), -JN_ENOMEM. After a failed fsync the file store refuses
 * every further write with that error (Linux may have dropped the dirty pages,
 * so a retry could report lost data as durable): free and reopen it, and
 * recovery decides what survived.
 */
#ifndef JN_STORE_H
#define JN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jn_store;
struct jn_syncer;

enum jn_store_type { JN_STORE_MEMORY = 1, JN_STORE_FILE = 2 };

enum jn_sync_mode {
	JN_SYNC_ALWAYS = 0,   /* group commit: durable = fsynced (default) */
	JN_SYNC_INTERVAL,     /* fsync every sync_interval_ms; callbacks fire at once */
};

#define JN_STORE_SEGMENT_SIZE (8u << 20)   /* default segment roll size */
#define JN_STORE_SYNC_INTERVAL_MS 120000   /* nats-server's sync_interval */

/* Zero-initialised = defaults. Only read by the open call. */
struct jn_store_cfg {
	enum jn_sync_mode sync;
	uint32_t sync_interval_ms;    /* INTERVAL mode; 0 = default */
	uint64_t segment_size;        /* file store roll threshold; 0 = default */
	struct jn_syncer *syncer;     /* file store: shared syncer (must outlive
	                                 the store); NULL = a private one-thread syncer */
};

struct jn_store_state {
	uint64_t msgs;
	uint64_t bytes;
	uint64_t first_seq;
	uint64_t last_seq;
	int64_t first_ts;             /* ns; 0 when empty */
	int64_t last_ts;              /* ns of the last append/skip; kept after purges */
	uint64_t num_deleted;         /* interior deletes between first and last */
	uint64_t num_subjects;        /* distinct subjects with >= 1 message */
};

/* One subject's slice of the store. */
struct jn_subject_state {
	const char *subject;          /* borrowed; not NUL-terminated */
	uint32_t subject_len;
	uint64_t msgs;
	uint64_t first_seq;
	uint64_t last_seq;
};

/* A loaded message. Zero-initialise it once and reuse it for many loads: the
 * store copies the message into the private buffer, growing it only when a
 * message is larger than any before, so a hot loop does not allocate. The
 * pointers stay valid until the next load into the same struct or
 * jn_store_msg_fini(); they do not depend on the store (it may be changed or
 * freed meanwhile). */
struct jn_store_msg {
	uint64_t seq;
	int64_t ts;
	const char *subject;
	uint32_t subject_len;
	const uint8_t *hdr;           /* NULL when hdr_len == 0 */
	uint32_t hdr_len;
	const uint8_t *data;
	uint32_t data_len;
	/* Private. */
	uint8_t *jn__buf;
	size_t jn__cap;
};

void jn_store_msg_fini(struct jn_store_msg *m);

/* Open an in-memory store. *out is owned by the caller (jn_store_free). */
int jn_memstore_open(const struct jn_store_cfg *cfg, struct jn_store **out);

/* Open (create or recover) a file store in `dir` (created if missing); the
 * store owns `<dir>/msgs/` and nothing else in dir. See filestore.c for the
 * format and the recovery rules. -JN_EEXIST if another store object in this
 * or another process has the directory open. */
int jn_filestore_open(const char *dir, const struct jn_store_cfg *cfg,
                      struct jn_store **out);

/* Flush and fsync, fire the remaining durability callbacks (inline, in this
 * thread: err 0 if the final fsync worked), release everything. Never call
 * it (or jn_store_delete) from one of the store's own durability callbacks. */
void jn_store_free(struct jn_store *st);
/* Like free, but removes the store's files (msgs/) instead of syncing them;
 * remaining callbacks get -JN_ECLOSED. */
int jn_store_delete(struct jn_store *st);

enum jn_store_type jn_store_type(const struct jn_store *st);

/* Bytes a message counts for in `bytes` (see the top of this file). */
uint64_t jn_store_msg_size(enum jn_store_type type, uint32_t subject_len,
                           uint32_t hdr_len, uint32_t data_len);

/* Append a message with the next sequence, returned in *seq. The bytes are
 * copied. subject: a valid literal subject of 1..65535 bytes; hdr may be NULL
 * when hdr_len is 0. The message is readable at once; it is durable once
 * jn_store_when_durable() says so. On failure nothing was stored and no
 * sequence was used. */
int jn_store_append(struct jn_store *st, const char *subject, size_t subject_len,
                    const uint8_t *hdr, size_t hdr_len,
                    const uint8_t *data, size_t data_len,
                    int64_t ts_ns, uint64_t *seq);

/* Use the next sequence without storing a message (interest retention with
 * no interested consumer). The gap counts as deleted if messages follow. */
int jn_store_skip(struct jn_store *st, int64_t ts_ns, uint64_t *seq);

/* Load message seq into m. -JN_ENOTFOUND if not stored (deleted, purged,
 * never written). */
int jn_store_load(struct jn_store *st, uint64_t seq, struct jn_store_msg *m);

/* The first message with seq >= start whose subject matches filter.
 * -JN_ENOTFOUND if there is none. */
int jn_store_load_next(struct jn_store *st, uint64_t start,
                       const char *filter, size_t filter_len,
                       struct jn_store_msg *m);

/* The last message whose subject matches filter (last-by-subject, KV get).
 * -JN_ENOTFOUND if there is none. */
int jn_store_load_last(struct jn_store *st, const char *filter, size_t filter_len,
                       struct jn_store_msg *m);

/* Delete one message. 0, or -JN_ENOTFOUND if it is not stored. */
int jn_store_remove(struct jn_store *st, uint64_t seq);

/* nats-server's PurgeEx. Removes messages matching filter, only those with
 * seq < up_to when up_to > 0 (up_to = 1 removes nothing), and keeps the
 * newest `keep` matching messages when keep > 0. Unfiltered with neither
 * option: everything goes and first_seq becomes last_seq + 1. Unfiltered
 * with up_to > 1: jn_store_compact(up_to). Returns the count removed (>= 0)
 * or a negative error (after a partial purge on a disk error). */
int64_t jn_store_purge(struct jn_store *st, const char *filter, size_t filter_len,
                       uint64_t up_to, uint64_t keep);

/* Remove every message with seq < seq. When seq > last_seq + 1 the store
 * ends up empty with first_seq = seq and the next append gets seq (nats
 * Compact). seq == 0 purges everything. Returns the count removed. */
int64_t jn_store_compact(struct jn_store *st, uint64_t seq);

/* max_age: removes messages from the front while their timestamp is
 * < older_than_ns, stopping at the first younger one (timestamps are those
 * given to append; with a clock that jumped back a younger message may
 * shadow older ones behind it, as in nats-server). Returns the count. */
int64_t jn_store_expire(struct jn_store *st, int64_t older_than_ns);

/* Timestamp of the first (oldest) message, 0 when empty: when the next
 * expiry is due is this + max_age. */
int64_t jn_store_next_expiry(struct jn_store *st);

/* First seq whose timestamp is >= ts_ns (deliver_policy by_start_time);
 * last_seq + 1 if none. Assumes timestamps grow with seq. */
uint64_t jn_store_seq_for_time(struct jn_store *st, int64_t ts_ns);

void jn_store_state(struct jn_store *st, struct jn_store_state *out);

/* One literal subject's counts: 0 or -JN_ENOTFOUND (no message on it).
 * out->subject is NULL. */
int jn_store_subject_info(struct jn_store *st, const char *subject, size_t len,
                          struct jn_subject_state *out);

/* Call cb for every subject matching filter (in no particular order) under
 * the store lock: cb must not call into the store; it returns 0 to go on,
 * anything else to stop. Returns the number of calls made. */
int64_t jn_store_subjects(struct jn_store *st, const char *filter, size_t filter_len,
                          int (*cb)(void *arg, const struct jn_subject_state *ss),
                          void *arg);

/* Call cb for every interior deleted seq (first_seq < seq < last_seq, not
 * stored), ascending, under the store lock (same rules as for
 * jn_store_subjects): stream info's "deleted" with deleted_details. Returns
 * the number of calls made. */
int64_t jn_store_deleted(struct jn_store *st, int (*cb)(void *arg, uint64_t seq),
                         void *arg);

/* Messages with seq >= start matching filter; with last_per_subject, the
 * number of matching subjects whose last message has seq >= start. */
uint64_t jn_store_num_pending(struct jn_store *st, uint64_t start,
                              const char *filter, size_t filter_len,
                              bool last_per_subject);

/* Durability of an appended seq (0 < seq <= last_seq): cb(arg, 0) once every
 * message up to seq is fsynced, or cb(arg, -JN_EIO/-JN_ECLOSED) if that
 * can never happen. Called inline, before this returns, when seq is already
 * durable, for a memory store and in JN_SYNC_INTERVAL mode; otherwise from
 * the syncer thread, in seq order. Returns 0 (cb will be / was called once)
 * or an error (cb is never called). */
int jn_store_when_durable(struct jn_store *st, uint64_t seq,
                          void (*cb)(void *arg, int err), void *arg);

/* Write and fsync everything now, in this thread (tests, shutdown,
 * snapshots). Also fires the callbacks that became due. */
int jn_store_sync(struct jn_store *st);

/* Counters for tests and metrics. */
struct jn_store_stats {
	uint64_t fsyncs;              /* fdatasync calls on segments */
	uint64_t writes;              /* write(2)/pwrite(2) calls for records */
	uint64_t segments;            /* segment files (file store) */
	uint64_t unlinked;            /* segment files unlinked so far */
	uint64_t durable_seq;         /* highest seq known fsynced */
};
void jn_store_stats(struct jn_store *st, struct jn_store_stats *out);

#endif
