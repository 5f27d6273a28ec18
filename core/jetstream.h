/*
 * jetstream.h - the JetStream service of one server (one account): the
 * registry of streams, the internal subscription on "$JS.API.>" that answers
 * the API, account INFO, the periodic tick, and open (with recovery of every
 * stream and its durable consumers) / close.
 *
 * Threads. API requests arrive in deliver callbacks on any worker thread,
 * concurrently; the registry has its own mutex and every stream its own. The
 * service has no threads: file stores share one syncer (fsync, PubAcks in
 * sync "always" mode) and the daemon calls jn_js_tick() every ~20 ms from a
 * timer thread.
 *
 * Epochs. Streams are reference counted. Consumers (consumer.c) are reached
 * without locks through a stream's consumer list, so a removed consumer is
 * freed through jn_epoch_retire(); every thread that calls a consumer hook or
 * holds a consumer pointer from jn_stream_consumer_find/_list is inside an
 * epoch read section (worker deliver callbacks are; jn_js_tick enters one;
 * other threads use jn_router_thread_enter/exit from router.h).
 *
 * Layout on disk (file storage only):
 *   <store_dir>/streams/<name>/meta.json       config + created (atomic write)
 *   <store_dir>/streams/<name>/msgs/           file store
 *   <store_dir>/streams/<name>/consumers/<c>/  consumer state (consumer.c)
 */
#ifndef JN_JETSTREAM_H
#define JN_JETSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "core/msg.h"
#include "core/router.h"
#include "core/store.h"

struct jn_js;
struct jn_stream;

/* Zero-initialised = defaults (except store_dir, required). Copied by open. */
struct jn_js_cfg {
	const char *store_dir;          /* "<store_dir>/streams/..." */
	enum jn_sync_mode sync;         /* ALWAYS: PubAck after fsync (default) */
	uint32_t sync_interval_ms;      /* INTERVAL mode; 0 = store default (2 min) */
	int64_t max_memory;             /* account limit, bytes; <= 0: unlimited */
	int64_t max_file;               /* account limit, bytes; <= 0: unlimited */
	unsigned sync_threads;          /* syncer threads; 0 = 1 */
};

/* Open the service: create store_dir/streams (must be writable: -JN_EIO or
 * -JN_ENOSPC or the like otherwise, with a logged reason), recover every
 * stream found there with its durable consumers, then subscribe "$JS.API.>"
 * and the streams' subjects on r. r must outlive the service.
 * On success *out is owned by the caller (jn_js_close). */
int jn_js_open(struct jn_router *r, const struct jn_js_cfg *cfg, struct jn_js **out);

/* Unsubscribe everything, close every stream and consumer (files synced,
 * nothing deleted), free the service. Call once workers no longer deliver
 * (after they stopped) or at least when no jn_js_tick runs any more. */
void jn_js_close(struct jn_js *js);

/* Timers: max_age expiry, dedupe window expiry, and jn_consumer_tick() of
 * every consumer. now_ns is wall-clock time (jn_js_now_ns()). Any single
 * thread; enters its own epoch read section. */
void jn_js_tick(struct jn_js *js, int64_t now_ns);

/* CLOCK_REALTIME in ns: message timestamps, max_age, "created". */
int64_t jn_js_now_ns(void);

struct jn_router *jn_js_router(struct jn_js *js);

/* A stream by name, with a reference the caller owns (jn_stream_unref), or
 * NULL if there is no such stream. */
struct jn_stream *jn_js_stream_get(struct jn_js *js, const char *name, size_t len);

/* Publish a message (API response, PubAck, delivery) from JetStream code.
 * pub: the current deliver callback's pub (its batch is reused), or NULL on
 * a non-worker thread (then the publish brackets itself with the thread's
 * epoch section, see jn_router_publish_any_thread). Returns deliveries made
 * or a negative error. */
int jn_js_publish(struct jn_js *js, struct jn_pub *pub, const struct jn_msg *msg);

/* Answer an API request: serialise resp and publish it to req->reply (does
 * nothing without a reply subject). Counts the call in INFO's api.total and,
 * when resp has an "error" member, api.errors. resp is borrowed. */
int jn_js_respond(struct jn_js *js, struct jn_pub *pub, const struct jn_msg *req,
                  json_t *resp);

/* Shorthand: {"type": JN_JS_TYPE_PREFIX type_suffix, "error": {...}} for err
 * (desc NULL: the error table's text). */
int jn_js_respond_error(struct jn_js *js, struct jn_pub *pub, const struct jn_msg *req,
                        const char *type_suffix, int err, const char *desc);

/* The outcome of jn_js_publish_acked(): what the capturing stream said.
 * Pointers are valid during the callback only. */
struct jn_js_puback {
	int err;               /* 0, or why the stream refused or failed to store
	                        * it (-JN_EWRONGLASTSEQ, -JN_ESTORELIMIT, ...) */
	const char *stream;    /* the capturing stream; NULL: no stream captured it */
	uint64_t seq;          /* its stream sequence (0 on error / not captured) */
	bool duplicate;        /* Nats-Msg-Id seen within the duplicate window */
	const char *err_desc;  /* with err: the PubAck's description, or NULL */
};
typedef void (*jn_js_puback_fn)(void *arg, const struct jn_js_puback *ack);

/* Publish msg through the router like any publisher (every subscriber and
 * the capturing stream, if any, see it) and learn the stream's verdict
 * without a reply subject: done(arg, ack) is called exactly once, either
 * inline before this returns (no stream captures the subject, the stream
 * refused it, or it is already durable) or later from a syncer thread once
 * the write is fsynced (sync "always"). msg->reply, if set, is delivered to
 * subscribers as usual but the stream answers the hook, not the reply.
 * pub/cache: the worker's (caller inside its epoch section), or pub NULL on
 * any other thread. Returns deliveries made (>= 0) with done called or to be
 * called, or a negative error with done NOT called. */
int jn_js_publish_acked(struct jn_js *js, struct jn_sublist_cache *cache,
                        const struct jn_msg *msg, struct jn_pub *pub,
                        jn_js_puback_fn done, void *arg);

/* Call the JetStream API in-process, exactly as a NATS client's request on
 * "$JS.API.<op>" with payload body (may be NULL) would: *resp is the JSON
 * answer (new reference; it may be an {"error":{..}} object, as on the
 * wire). For every op answered inline (all but CONSUMER.MSG.NEXT, which
 * needs a real reply subject); -JN_ETIMEOUT when nothing was answered
 * (unknown op, or no reply expected). Any thread that is not inside an
 * epoch read section (it brackets the call with jn_router_thread_enter/
 * exit); not from inside a deliver callback. */
int jn_js_api_call(struct jn_js *js, const char *op, const char *body, size_t len,
                   json_t **resp);

/* Account-wide counts for INFO and limits. */
uint64_t jn_js_consumer_count(struct jn_js *js);

/* A pointer-sized slot owned by the consumer module (its ack subscription
 * and whatever else it keeps per service); NULL after open. */
void **jn_js_consumer_slot(struct jn_js *js);

/* Ack a delivery from outside NATS (the HTTP adapter's POST /v1/ack):
 * exactly what a publish of the ack body on ack_subject does ($JS.ACK.>),
 * kind being an enum jn_ack_kind of consumer.h (ACK, NAK with delay_ns > 0
 * for a delayed redelivery, TERM, WPI). 0, -JN_EINVAL for a malformed ack
 * subject or kind, -JN_ENOTFOUND when its consumer is gone or the message
 * is no longer pending (already acked, or acked by a later ack floor).
 * Any thread outside an epoch read section. Implemented in js_ack.c. */
int jn_js_ack_apply(struct jn_js *js, const char *ack_subject, size_t len, int kind,
                    int64_t delay_ns);

/* ---- Implemented by consumer.c (jsc) ---------------------------------- */

/* Called by jn_js_open after every stream (and, through
 * jn_consumers_recover, every consumer) is recovered and before the API
 * subscription: subscribe "$JS.ACK.>" (and "$JS.FC.>"). 0 or an error (open
 * fails). */
int jn_js_consumers_start(struct jn_js *js);
/* Called first by jn_js_close: unsubscribe what start subscribed. */
void jn_js_consumers_stop(struct jn_js *js);

/* Every request on "$JS.API.CONSUMER.>" (op = the subject after
 * "$JS.API.", e.g. "CONSUMER.CREATE.ORDERS.DISPATCH.ORDERS.processed" or
 * "CONSUMER.MSG.NEXT.ORDERS.DISPATCH"; not NUL-terminated). Runs in the
 * deliver callback of the API subscription (any worker, concurrently).
 * The dispatcher has already checked that req has a reply subject for every
 * op but MSG.NEXT (which is passed even without one). Must answer through
 * jn_js_respond*() / jn_js_publish(). */
void jn_js_consumer_api(struct jn_js *js, const char *op, size_t op_len,
                        const struct jn_msg *req, struct jn_pub *pub);

#endif
