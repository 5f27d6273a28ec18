/*
 * router.h - one publish, many deliveries.
 *
 * Every adapter (NATS, MQTT, HTTP, internal services) publishes through
 * jn_router_publish(): the message reaches every matching plain subscription
 * and exactly one member of each matching queue group (grouped by queue
 * name across filters), chosen at random. A subscription whose owner_id
 * equals pub->origin_id is skipped when pub->no_echo is set (for queue
 * groups another member is chosen if one exists).
 */
#ifndef JN_ROUTER_H
#define JN_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include "core/msg.h"
#include "core/sublist.h"

/* The publishing side of one publish call. Owned by the caller. */
struct jn_pub {
	uint64_t origin_id;      /* publisher's connection id (0: internal) */
	bool no_echo;            /* skip subscriptions with owner_id == origin_id */
	void *batch;             /* opaque to core: the publishing thread's
	                            flush batch, handed through to deliver */
	uint32_t matched;        /* out: subscriptions that matched the subject,
	                            before echo filtering (0 = no responders) */
};

struct jn_router {
	struct jn_sublist *subs;
};

int jn_router_init(struct jn_router *r);
void jn_router_fini(struct jn_router *r);

/* Returns the number of deliveries made (>= 0), or -JN_ENOMEM.
 * cache: the calling thread's cache (may be NULL). */
int jn_router_publish(struct jn_router *r, struct jn_sublist_cache *cache,
                      const struct jn_msg *msg, struct jn_pub *pub);

/* Random member index in [0, n), per-thread fast PRNG. */
uint32_t jn_router_rand(uint32_t n);

/* For threads that are not I/O workers (syncer callbacks sending PubAcks,
 * the JetStream timer): the calling thread gets its own epoch registration
 * on first use (released at thread exit). enter/exit bracket a read section
 * (nestable); publish_any_thread is jn_router_publish() inside one, with no
 * match cache. pub->batch must be NULL. Implemented in router_thread.c. */
void jn_router_thread_enter(void);
void jn_router_thread_exit(void);
/* Is this (non-worker) thread inside such a section, i.e. in a batch? */
bool jn_router_thread_in_batch(void);
/* The I/O layer's hook, run when a non-worker thread's outermost section
 * ends (inside it): flush what the batch left queued. Set once at start. */
void jn_router_set_thread_batch_hook(void (*end)(void));
int jn_router_publish_any_thread(struct jn_router *r, const struct jn_msg *msg,
                                 struct jn_pub *pub);

#endif
