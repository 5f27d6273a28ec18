/*
 * link.h - the contract between the I/O layer (gateway/) and a protocol
 * adapter (adapters/nats, later mqtt).
 *
 * The gateway owns sockets, epoll and threads. For each accepted socket it
 * allocates a struct jn_link and calls the protocol's open(); from then on it
 * feeds received bytes to on_data() and ticks the connection; the adapter
 * answers by appending to link->out (from any thread) and asks for a close
 * with link_close(). Arrows point one way: gateway -> adapters -> core; an
 * adapter knows a link only through this header.
 *
 * Lifetime: link and adapter state may be reached by other threads (a
 * publisher delivering into link->out through a cached subscription), so
 * neither is freed directly. on_close() unlinks the adapter's subscriptions
 * and hands its state to jn_epoch_retire(); the gateway then retires the
 * link the same way. After on_close() returns no other callback is made.
 */
#ifndef JN_LINK_H
#define JN_LINK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/outq.h"
#include "core/sublist.h"

struct jn_link;

/* What the calling thread brings to a callback. Owned by the worker. */
struct jn_thread_ctx {
	struct jn_sublist_cache *cache;  /* this thread's match cache */
	void *batch;                     /* this thread's flush batch (jn_pub.batch) */
	int64_t now_ns;                  /* CLOCK_MONOTONIC at batch start */
	unsigned worker;                 /* worker index */
};

struct jn_link_ops {
	/* Ask for the connection to be closed at the next safe point: pending
	 * output already queued is flushed first (best effort, so a final -ERR
	 * reaches the peer), then the socket is closed and on_close() runs.
	 * Callable from any thread, any number of times. reason goes to the log. */
	void (*close)(struct jn_link *l, const char *reason);
};

struct jn_link {
	const struct jn_link_ops *ops;  /* gateway's */
	struct jn_outq out;             /* outbound bytes; gateway drains it */
	uint64_t id;                    /* unique, non-zero connection id */
	char peer_ip[48];
	uint16_t peer_port;
	uint16_t local_port;
	int64_t created_ns;
	_Atomic int64_t last_write_progress_ns;  /* for write_deadline */
	void *proto_state;              /* adapter's, from open() */
};

static inline void jn_link_close(struct jn_link *l, const char *reason)
{
	l->ops->close(l, reason);
}

/* One protocol (nats, mqtt). `server` is the adapter's server object. */
struct jn_proto {
	const char *name;
	/* Called on the owning worker right after accept. Return the adapter's
	 * per-connection state (stored in l->proto_state), or NULL to refuse
	 * (the adapter may have queued a final -ERR in l->out first). */
	void *(*open)(void *server, struct jn_link *l, struct jn_thread_ctx *ctx);
	/* Bytes received. buf is the worker's read buffer, valid only during the
	 * call: keep nothing pointing into it. Return 0, or <0 after having
	 * called jn_link_close() (the gateway stops reading this connection). */
	int (*on_data)(void *state, const uint8_t *buf, size_t len, struct jn_thread_ctx *ctx);
	/* Periodic (every ~100 ms): ping timers, auth timeout, expiry. */
	void (*on_tick)(void *state, struct jn_thread_ctx *ctx);
	/* Optional. The server is stopping: the input already received has
	 * been processed and the connection closes right after this returns
	 * (its output is flushed first): the adapter's last words (MQTT 5:
	 * DISCONNECT 0x8B). On the owning worker. */
	void (*on_shutdown)(void *state, struct jn_thread_ctx *ctx);
	/* The socket is closed. Unlink everything, retire state. Called once. */
	void (*on_close)(void *state, struct jn_thread_ctx *ctx);
};

#endif
