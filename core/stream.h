/*
 * stream.h - one JetStream stream: its config (parse, validate, JSON), its
 * message store, the ingest subscription on its subjects (PubAck, dedupe,
 * expectation headers, rollup, limits with discard old/new, retention), the
 * message operations of the API (purge, get, delete, direct get), and the
 * list of consumers attached to it.
 *
 * Lifetime. A stream is reference counted (jn_stream_ref/unref); the
 * registry in jetstream.c holds one reference, and a consumer should hold
 * one for as long as it keeps the pointer. Closing or deleting the stream
 * (API DELETE, shutdown) unsubscribes it, detaches every consumer with
 * jn_consumer_stream_gone(), then frees (close) or removes (delete) the
 * store; the struct itself lives until the last unref, and every function
 * on a closed stream returns -JN_ECLOSED (or does nothing).
 *
 * Locks. Each stream has one mutex, held for config reads/changes and for
 * the check-then-append of one publish (expectations, dedupe, limits). The
 * store has its own leaf mutex. The stream NEVER calls a consumer hook
 * while holding its mutex. A consumer may call jn_stream_* while holding its
 * own lock, EXCEPT jn_stream_ack_hint() and jn_stream_consumer_remove()
 * (they call jn_consumer_acked() on the other consumers).
 *
 * Consumers are freed through jn_epoch_retire() after
 * jn_stream_consumer_remove() (a publish in flight may still call their
 * on_new_message hook), exactly like subscriptions.
 */
#ifndef JN_STREAM_H
#define JN_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "core/msg.h"
#include "core/router.h"
#include "core/store.h"

struct jn_js;
struct jn_stream;
struct jn_consumer;      /* consumer.c */

enum jn_retention { JN_RET_LIMITS = 0, JN_RET_INTEREST, JN_RET_WORKQUEUE };
enum jn_discard { JN_DISCARD_OLD = 0, JN_DISCARD_NEW };

/* A parsed, normalised StreamConfig (nats-server 2.9 field set). Strings
 * and arrays are owned by the struct (jn_stream_cfg_fini). Limits are -1
 * when unlimited (0 in a request means unlimited too). */
struct jn_stream_cfg {
	char *name;
	char *description;            /* NULL when unset */
	char **subjects;              /* nsubjects >= 1 after normalisation */
	uint32_t nsubjects;
	enum jn_retention retention;
	int64_t max_consumers;
	int64_t max_msgs;
	int64_t max_bytes;
	int64_t max_msgs_per_subject;
	int64_t max_age_ns;           /* 0 = forever */
	int32_t max_msg_size;
	enum jn_store_type storage;
	enum jn_discard discard;
	int num_replicas;             /* always 1 */
	int64_t duplicate_window_ns;
	bool no_ack;
	bool sealed;
	bool deny_delete;
	bool deny_purge;
	bool allow_rollup_hdrs;
	bool allow_direct;
	bool mirror_direct;
	bool discard_new_per_subject;
};

#define JN_STREAM_DEFAULT_DUP_WINDOW_NS (120LL * 1000000000LL)
#define JN_STREAM_MAX_DESCRIPTION 4096
#define JN_STREAM_MAX_HDR (64 * 1024)

void jn_stream_cfg_fini(struct jn_stream_cfg *c);
/* Deep copy; 0 or -JN_ENOMEM. */
int jn_stream_cfg_copy(struct jn_stream_cfg *dst, const struct jn_stream_cfg *src);

/* Parse a StreamConfig JSON object (the request body of STREAM.CREATE /
 * UPDATE, or meta.json's "config"), apply the defaults and normalisations
 * nats-server applies, and validate it on its own (no other streams).
 * Errors: -JN_EBADJSON (not JSON / not an object), -JN_ESTREAMCONFIG (desc
 * written to errbuf, as nats-server words it), -JN_EREPLICAS, -JN_ENOMEM.
 * On failure *out is zeroed (nothing to fini). */
int jn_stream_cfg_parse(json_t *obj, struct jn_stream_cfg *out,
                        char *errbuf, size_t errcap);
/* Same, from JSON text. */
int jn_stream_cfg_parse_text(const char *json, size_t len, struct jn_stream_cfg *out,
                             char *errbuf, size_t errcap);

/* The config as nats-server echoes it (every non-omitempty field). New
 * reference, NULL on OOM. */
json_t *jn_stream_cfg_to_json(const struct jn_stream_cfg *c);

/* Same configuration (what makes a repeated CREATE succeed). */
bool jn_stream_cfg_equal(const struct jn_stream_cfg *a, const struct jn_stream_cfg *b);

/* May `old` be updated to `upd`? 0, or -JN_ESTREAMCONFIG with the reason in
 * errbuf ("stream configuration update can not change storage type", ...). */
int jn_stream_cfg_check_update(const struct jn_stream_cfg *old,
                               const struct jn_stream_cfg *upd,
                               char *errbuf, size_t errcap);

/* Do two configs' subjects overlap (10065 between streams)? */
bool jn_stream_cfg_overlap(const struct jn_stream_cfg *a, const struct jn_stream_cfg *b);

/* ---- Reference, identity, accessors (any thread) ----------------------- */

void jn_stream_ref(struct jn_stream *st);
void jn_stream_unref(struct jn_stream *st);

/* Immutable for the stream's life: */
const char *jn_stream_name(const struct jn_stream *st);
struct jn_js *jn_stream_js(const struct jn_stream *st);
enum jn_retention jn_stream_retention(const struct jn_stream *st);
enum jn_store_type jn_stream_storage(const struct jn_stream *st);
/* "<store_dir>/streams/<name>" for file storage, NULL for memory storage
 * (its consumers keep no files either). */
const char *jn_stream_dir(const struct jn_stream *st);

/* The store: valid until jn_consumer_stream_gone() was called on the
 * consumer asking (consumers), or while the caller holds a reference and
 * the stream is not closed (others). Use it directly for loads, num_pending,
 * seq_for_time, state. */
struct jn_store *jn_stream_store(struct jn_stream *st);

bool jn_stream_closed(struct jn_stream *st);

/* The store's state, read under the stream lock (safe against a
 * concurrent close): 0 or -JN_ECLOSED (out zeroed). */
int jn_stream_state(struct jn_stream *st, struct jn_store_state *out);

/* Deep copy of the current config (updates may change it). */
int jn_stream_config(struct jn_stream *st, struct jn_stream_cfg *out);

/* Is filter (a valid subject filter) a subset of one of the stream's
 * subjects (consumer filter check, 10093)? */
bool jn_stream_filter_valid(struct jn_stream *st, const char *filter, size_t len);

/* ---- Consumers attached to the stream ---------------------------------- */

struct jn_stream_consumer_desc {
	const char *name;             /* consumer name (copied) */
	const char *filter;           /* NULL or "": every subject (copied) */
	bool deliver_all;             /* deliver_policy "all" (workqueue rule) */
};

/* Attach c. Checks, under the stream lock: name unused (-JN_ECONSUMEREXISTS),
 * max_consumers (-JN_EMAXCONSUMERS), workqueue rules (-JN_EWQDELIVERALL,
 * -JN_EWQUNFILTERED, -JN_EWQOVERLAP), -JN_ECLOSED. From now on c's hooks
 * are called. On failure c is not attached. */
int jn_stream_consumer_add(struct jn_stream *st, struct jn_consumer *c,
                           const struct jn_stream_consumer_desc *d);

/* Change the filter of an attached consumer (consumer update). Same checks. */
int jn_stream_consumer_set_filter(struct jn_stream *st, struct jn_consumer *c,
                                  const char *filter);

/* Detach c (consumer deleted). After it returns no new hook call starts;
 * calls already running may finish (free c with jn_epoch_retire). With
 * interest retention, messages no remaining consumer is interested in are
 * removed. 0 or -JN_ENOTFOUND. Not under c's own lock. */
int jn_stream_consumer_remove(struct jn_stream *st, struct jn_consumer *c);

/* The consumer called name, or NULL. Valid while the caller stays in its
 * epoch read section (or holds its own reference on the consumer). */
struct jn_consumer *jn_stream_consumer_find(struct jn_stream *st, const char *name,
                                            size_t len);

/* Snapshot of the attached consumers, in creation order: *out is a
 * jn_malloc'ed array the caller frees (jn_free); pointers as for find.
 * Returns the count or -JN_ENOMEM. */
int jn_stream_consumer_list(struct jn_stream *st, struct jn_consumer ***out);

uint32_t jn_stream_consumer_count(struct jn_stream *st);

/* Retention: consumer c acked (or terminated, or delivered with ack none)
 * message seq. interest: the message goes once every attached consumer
 * whose filter matches its subject has jn_consumer_acked() it; workqueue:
 * it goes now; limits: nothing. Call WITHOUT holding c's lock. */
void jn_stream_ack_hint(struct jn_stream *st, uint64_t seq, struct jn_consumer *c);

/* ---- Stream operations (API handlers in jetstream.c use these) --------- */

/* Create or recover. cfg is copied. dir: "<store_dir>/streams/<name>" (file
 * storage; the store lives in dir/msgs) or NULL (memory). created_ns: the
 * creation time (recovery passes meta.json's). The stream is not subscribed
 * yet (jn_stream_start). On success *out has one reference for the caller. */
int jn_stream_open(struct jn_js *js, const struct jn_stream_cfg *cfg, const char *dir,
                   int64_t created_ns, const struct jn_store_cfg *scfg,
                   struct jn_stream **out);
/* Write meta.json (file storage; no-op for memory). */
int jn_stream_write_meta(struct jn_stream *st);
/* Subscribe the stream's subjects on the router. */
int jn_stream_start(struct jn_stream *st, struct jn_router *r);
/* Unsubscribe, detach consumers (jn_consumer_stream_gone(c, deleted)), then
 * free (deleted false: sync) or remove (deleted true: store files, consumer
 * dirs, meta.json, the directory) the store. The caller still owns its
 * reference. Idempotent. */
void jn_stream_close(struct jn_stream *st, bool deleted);

/* Update the config (cfg already checked with jn_stream_cfg_check_update
 * and for overlaps by the caller); re-subscribes if subjects changed, applies
 * new limits at once, rewrites meta.json. */
int jn_stream_update(struct jn_stream *st, const struct jn_stream_cfg *cfg);

/* StreamInfo: {"config":..,"created":..,"state":{..}}. opts may be NULL:
 * the STREAM.INFO request ({"deleted_details":true,"subjects_filter":"x.>"}).
 * New reference or NULL (OOM). */
json_t *jn_stream_info_json(struct jn_stream *st, json_t *opts);

/* Purge per the request (filter/seq/keep; NULL = everything). Returns the
 * count purged or -JN_ESEALED / -JN_EPURGEDENIED / -JN_EBADREQUEST / error. */
int64_t jn_stream_purge(struct jn_stream *st, const char *filter, uint64_t seq,
                        uint64_t keep);

/* MSG.GET / DIRECT.GET: load per the request {"seq"} | {"last_by_subj"} |
 * {"seq","next_by_subj"} into m. -JN_EBADREQUEST for a bad combination,
 * -JN_ENOMSG when there is no such message. */
int jn_stream_msg_get(struct jn_stream *st, json_t *req, struct jn_store_msg *m);

/* MSG.DELETE: -JN_ESEALED, -JN_EDELETEDENIED, -JN_ENOMSG. */
int jn_stream_msg_delete(struct jn_stream *st, uint64_t seq);

/* Expiry of max_age (and the dedupe window) as of now_ns. */
void jn_stream_tick(struct jn_stream *st, int64_t now_ns);

/* Is literal subject within this stream's subjects? */
bool jn_stream_subject_match(struct jn_stream *st, const char *subj, size_t len);

int64_t jn_stream_created(const struct jn_stream *st);

/* ---- Implemented by consumer.c (jsc) ---------------------------------- */

/* Message seq (subject subj) was stored and matches c's filter. Called from
 * the publishing thread after the append (before it is durable, like
 * nats-server), without the stream lock, inside an epoch section. batch: the
 * publishing thread's flush batch (put it in your jn_pub when delivering
 * right now), NULL on a non-worker thread. */
void jn_consumer_on_new_message(struct jn_consumer *c, uint64_t seq,
                                const char *subj, size_t subj_len, void *batch);

/* Has c acked (explicitly or through its ack floor; +TERM counts; ack none:
 * delivered) message seq? Interest retention. Takes c's lock. */
bool jn_consumer_acked(struct jn_consumer *c, uint64_t seq);

/* Messages below first_seq (or matching filter, up to first_seq) were purged
 * or compacted away (API purge, rollup, discard-old limits are NOT
 * reported; max_age is not): move delivered / ack floor past them. filter
 * NULL: the whole stream. */
void jn_consumer_on_purge(struct jn_consumer *c, const char *filter, uint64_t first_seq);

/* The stream is closing (deleted false: shutdown, keep files) or was
 * deleted (deleted true: the stream removes the consumer's directory right
 * after this returns; send "409 Consumer Deleted" to waiting pulls). When
 * this returns c must no longer touch the stream's store; then c frees
 * itself (jn_epoch_retire) and drops its stream reference. Not under the
 * stream lock. */
void jn_consumer_stream_gone(struct jn_consumer *c, bool deleted);

/* Periodic work (ack_wait, pull expiry, heartbeats, inactive threshold,
 * catching up on messages stored before the consumer attached). From
 * jn_js_tick: one thread, inside an epoch section. */
void jn_consumer_tick(struct jn_consumer *c, int64_t now_ns);

/* Recover the durable consumers of a stream (from jn_stream_dir(st)/consumers)
 * and attach them. Called once by jn_js_open per recovered file stream,
 * before anything is subscribed. A consumer that cannot be recovered is
 * logged and skipped (returns 0); an error return is fatal for the open. */
int jn_consumers_recover(struct jn_stream *st);

#endif
