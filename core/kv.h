/*
 * kv.h - Key/Value buckets as a C API over JetStream, for adapters that are
 * not NATS clients (the HTTP adapter). A bucket B is the stream KV_B on
 * "$KV.B.>", exactly as nats.go / nats.js / nats.c build it (see
 * ../shared/spec/kv.md), so a value written here is read by a NATS KV client
 * and the other way round: this file adds no state of its own beyond what
 * the stream holds.
 *
 * Writes go through the router like any publish (jn_js_publish_acked), so
 * NATS/MQTT subscribers of "$KV.B.>" and watchers see them, and the revision
 * is reported only once the write is durable. Reads (get, keys, history)
 * look at the stream's store directly and return at once.
 *
 * Threads: reads and writes may be called from any thread that is not inside
 * a deliver callback of the same bucket's stream; bucket functions,
 * jn_kv_watch and jn_kv_watch_stop call the in-process $JS.API
 * (jn_js_api_call), so not from inside any epoch read section (no deliver
 * callback, no KV callback). Callbacks (done, watch) run on a worker, the
 * syncer, the tick thread or the calling thread itself (a write refused at
 * once, initial watch values delivered before jn_kv_watch returns): they
 * must not block.
 */
#ifndef JN_KV_H
#define JN_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "core/store.h"

struct jn_js;

#define JN_KV_MAX_HISTORY 64

/* Zero-initialised = nats.go defaults (history 1, no TTL, unlimited,
 * file storage). */
struct jn_kv_cfg {
	const char *bucket;          /* required; [A-Za-z0-9_-]+ */
	const char *description;     /* NULL: none */
	int64_t history;             /* 1..64; 0 = 1 */
	int64_t ttl_ns;              /* max_age; 0 = forever */
	int64_t max_bytes;           /* <= 0: unlimited */
	int32_t max_value_size;      /* <= 0: unlimited */
	enum jn_store_type storage;  /* JN_STORE_FILE default */
};

enum jn_kv_op { JN_KV_PUT = 0, JN_KV_DEL, JN_KV_PURGE };

/* One revision of one key. Owned by whoever filled it (jn_kv_entry_fini),
 * except the const entries passed to watch callbacks (valid during the
 * call only). */
struct jn_kv_entry {
	char *key;                   /* NUL-terminated, without "$KV.B." */
	uint64_t revision;           /* stream sequence */
	int64_t created_ns;          /* wall clock of the write */
	enum jn_kv_op op;
	uint8_t *value;              /* NULL when len == 0 */
	size_t len;
	uint64_t delta;              /* watch: entries still pending after this one */
};
void jn_kv_entry_fini(struct jn_kv_entry *e);

/* Name rules of the clients (kv.md section 2). pattern: '*' and '>' allowed. */
bool jn_kv_bucket_valid(const char *name, size_t len);
bool jn_kv_key_valid(const char *key, size_t len, bool pattern);

/* ---- buckets ----------------------------------------------------------- */

/* Create bucket cfg->bucket (stream KV_<bucket> with the config nats.go
 * sends). Creating an existing bucket with the same config succeeds.
 * 0, -JN_EINVAL (bad name/history), -JN_ESTREAMEXISTS (different config),
 * or the stream's error (-JN_ERESOURCES, ...). Writes the status to
 * *status_out (new reference) when status_out is not NULL. */
int jn_kv_bucket_create(struct jn_js *js, const struct jn_kv_cfg *cfg, json_t **status_out);

/* Delete the bucket and every value. 0 or -JN_ESTREAMNOTFOUND. */
int jn_kv_bucket_delete(struct jn_js *js, const char *bucket);

/* Status as the HTTP contract shows it: {"bucket","values","history","ttl",
 * "bytes","storage","max_bytes","max_value_size","description"}; new
 * reference in *out. 0 or -JN_ESTREAMNOTFOUND. */
int jn_kv_bucket_status(struct jn_js *js, const char *bucket, json_t **out);

/* Every bucket's status: {"buckets":[...]}; new reference in *out. */
int jn_kv_bucket_list(struct jn_js *js, json_t **out);

/* ---- reads ------------------------------------------------------------- */

/* The latest revision of key. -JN_ENOTFOUND when the key never existed or
 * its latest revision is a DEL/PURGE marker (out->op says which when
 * out->revision != 0: the marker is returned, so callers can do create-
 * after-delete), -JN_ESTREAMNOTFOUND without the bucket, -JN_EINVAL for a
 * bad key. revision != 0: that exact revision (must be on key, else
 * -JN_ENOTFOUND). */
int jn_kv_get(struct jn_js *js, const char *bucket, const char *key, uint64_t revision,
              struct jn_kv_entry *out);

/* Live keys (latest revision not a marker) matching filter (NULL or ">":
 * all). *keys: jn_malloc'ed array of jn_malloc'ed strings, *n entries;
 * free with jn_kv_keys_free. */
int jn_kv_keys(struct jn_js *js, const char *bucket, const char *filter, char ***keys,
               size_t *n);
void jn_kv_keys_free(char **keys, size_t n);

/* Every revision still held for key, oldest first (markers included).
 * *out: jn_malloc'ed array; free with jn_kv_entries_free. -JN_ENOTFOUND when
 * none. */
int jn_kv_history(struct jn_js *js, const char *bucket, const char *key,
                  struct jn_kv_entry **out, size_t *n);
void jn_kv_entries_free(struct jn_kv_entry *e, size_t n);

/* ---- writes (asynchronous: the revision is known once durable) --------- */

/* err 0 and the new revision, or -JN_EWRONGLASTSEQ (compare-and-set or
 * create failed), -JN_ESTREAMNOTFOUND, -JN_EMSGSIZE, -JN_ESTORELIMIT, ... */
typedef void (*jn_kv_done_fn)(void *arg, int err, uint64_t revision);

#define JN_KV_ANY UINT64_MAX   /* no expectation on the last revision */

/* Put value under key. expect: JN_KV_ANY (plain put), 0 (create: only if the
 * key is absent, deleted or purged, as nats.go Create does), or N (update:
 * only if the latest revision of key is N). done is called exactly once,
 * inline or later from another thread, when the return is 0; not at all
 * when it is negative (-JN_EINVAL bad key, -JN_ESTREAMNOTFOUND, -JN_ENOMEM). */
int jn_kv_put(struct jn_js *js, const char *bucket, const char *key, const void *value,
              size_t len, uint64_t expect, jn_kv_done_fn done, void *arg);

/* Delete (tombstone "KV-Operation: DEL") or, with purge, purge ("KV-Operation:
 * PURGE" + rollup: older revisions go). expect as for put. Same contract. */
int jn_kv_delete(struct jn_js *js, const char *bucket, const char *key, bool purge,
                 uint64_t expect, jn_kv_done_fn done, void *arg);

/* ---- watch ------------------------------------------------------------- */

enum {
	JN_KV_WATCH_HISTORY = 1,      /* every revision held, not only the latest */
	JN_KV_WATCH_UPDATES_ONLY = 2, /* no initial values */
	JN_KV_WATCH_META_ONLY = 4,    /* entries without values */
};

/* e: an entry (valid during the call), or NULL once the initial values are
 * all delivered (exactly once, also when there were none). */
typedef void (*jn_kv_watch_fn)(void *arg, const struct jn_kv_entry *e);

struct jn_kv_watch;

/* Watch keys matching pattern (NULL or ">": all). after_rev > 0 resumes:
 * every change with revision > after_rev, no snapshot of current values
 * (the NULL marker comes once caught up). Entries come in revision order,
 * each once; calls of fn never overlap. fn may run before this returns
 * (the initial values). On success *out is the caller's (jn_kv_watch_stop).
 * -JN_ESTREAMNOTFOUND, -JN_EINVAL (bad pattern), -JN_ENOMEM. */
int jn_kv_watch(struct jn_js *js, const char *bucket, const char *pattern, unsigned flags,
                uint64_t after_rev, jn_kv_watch_fn fn, void *arg, struct jn_kv_watch **out);

/* Stop: after it returns fn is not called any more (a call running on
 * another thread has finished). Frees w. Never from inside fn. */
void jn_kv_watch_stop(struct jn_kv_watch *w);

#endif
