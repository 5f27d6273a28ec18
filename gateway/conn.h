/*
 * conn.h - one client connection as the I/O layer sees it: a struct
 * jn_link (what the protocol adapter sees) plus the socket and the
 * bookkeeping of its owning worker. See worker.c for the threading model.
 *
 * Which thread touches what:
 *   link.out                  any thread appends; drained under drain_mu:
 *                             by the owner, or by another worker at the end
 *                             of its batch (jn_conn_flush_remote)
 *   fd (writes), direct       under drain_mu once the connection is open
 *   closing, in_inbox, refs,  atomics, any thread
 *   watchers
 *   inbox_next                under the owner's inbox lock
 *   everything else           owner worker only
 *
 * Lifetime: a jn_conn is freed only through jn_epoch_retire() (other
 * threads may hold it through a cached subscription), once its reference
 * count drops to zero. The count starts at 1, the owner's, which the close
 * path drops (after the inbox let go of it, see worker.c); a worker pacing
 * a producer against this connection holds one more (jn_conn_tryget) so it
 * can look at its queue across batches.
 */
#ifndef JN_CONN_H
#define JN_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "adapters/link.h"

struct jn_worker;

/* What a listener serves: a protocol, its server object and the limits the
 * I/O layer enforces for it. Lives as long as the daemon. */
struct jn_service {
	const char *name;               /* "nats": log prefix */
	const struct jn_proto *proto;
	void *server;                   /* the adapter's server object */
	size_t max_pending;             /* outq limit (slow consumer) */
	int64_t write_deadline_ns;      /* pending output without progress; 0 = none */
};

enum jn_conn_state {
	JN_CONN_NEW = 0,    /* accepted, on its way to the owner */
	JN_CONN_OPEN,       /* in the owner's epoll set and conn table */
	JN_CONN_CLOSED,     /* socket closed, on_close done; awaiting retire */
};

struct jn_conn {
	struct jn_link link;            /* first: a jn_link * is a jn_conn * */
	const struct jn_service *svc;
	struct jn_worker *owner;
	struct jn_conn *inbox_next;
	_Atomic bool in_inbox;          /* queued in owner's inbox; stays set once closed */
	_Atomic bool closing;           /* close requested (first caller wins) */
	_Atomic uint32_t refs;
	_Atomic uint64_t watchers;      /* bit i: worker i watches this queue (i < 64) */
	/* Serialises drains of link.out and the socket's close: two drainers
	 * would reorder bytes, and a write after close could reach a reused
	 * descriptor. */
	pthread_mutex_t drain_mu;
	_Atomic bool direct;            /* open: another worker may drain it */
	uint8_t state;                  /* enum jn_conn_state */
	bool want_out;                  /* EPOLLOUT armed */
	bool read_paused;               /* EPOLLIN removed: producer being paced */
	bool in_close_list;             /* in this batch's close list */
	bool in_readers;                /* in this batch's reader list */
	int fd;
	uint32_t slot;                  /* index in the owner's conn table */
};

/* Allocate a connection for an accepted socket (not yet owned by anyone's
 * epoll). Takes ownership of fd on success; on failure (NULL) the caller
 * still owns fd. */
struct jn_conn *jn_conn_new(int fd, const struct jn_service *svc, struct jn_worker *owner,
                            const struct sockaddr *peer, uint16_t local_port);
/* Free a connection that never reached the owner (state NEW): closes fd. */
void jn_conn_discard(struct jn_conn *c);
/* The jn_epoch_retire() callback. */
void jn_conn_free(void *c);

/* Take a reference unless the count already reached zero (the connection
 * is being retired). Call only where c is known not yet freed: inside an
 * epoch read section in which it was reachable. */
bool jn_conn_tryget(struct jn_conn *c);
/* Drop a reference; the last one retires the connection. Any thread. */
void jn_conn_put(struct jn_conn *c);

/* Owner only, at a safe point. Write what the socket takes and keep
 * EPOLLOUT armed exactly while bytes remain; close a slow consumer.
 * epfd: the owner's epoll. Returns the bytes still pending, or -1 when the
 * connection is closing. */
long jn_conn_flush(struct jn_conn *c, int epfd, int64_t now_ns);
/* Any worker but the owner, at the end of its batch, inside its epoch
 * section: write what the socket takes right now, so that a message
 * published on one worker reaches a subscriber owned by another without
 * waking that worker (an eventfd write and an epoll round: measured 52 ->
 * 30 us p50 MQTT QoS 1 latency). Gives up (returns -1) when the owner or
 * another worker is draining it, when it is not open, closing or slow, or
 * on a write error (then it asks for the close). Returns the bytes still
 * pending otherwise. Whatever it returns but 0, the caller hands c to its
 * owner as before (EPOLLOUT, close, slow consumer are the owner's). */
long jn_conn_flush_remote(struct jn_conn *c, int64_t now_ns);
/* Owner only: stop (or resume) reading c, keeping write interest as is. */
void jn_conn_pause_read(struct jn_conn *c, int epfd, bool paused);
/* Owner only, at a safe point: final drain, close the socket, on_close,
 * and drop the owner's reference (or leave that to the inbox pop when the
 * connection is queued there). */
void jn_conn_teardown(struct jn_conn *c, int epfd, struct jn_thread_ctx *ctx);
/* Owner only: output pending and no write progress for twice the write
 * deadline (a backstop: adapters enforce the deadline itself in on_tick). */
bool jn_conn_write_stalled(const struct jn_conn *c, int64_t now_ns);

#endif
