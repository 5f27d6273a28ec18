/*
 * outq.h - a connection's outbound byte queue.
 *
 * Any thread may append (a publisher on another worker delivering a MSG);
 * only the owning worker drains it to the socket. Bytes live in a chain of
 * fixed-size blocks from a shared pool, so an idle connection holds no
 * buffer at all, and draining is one writev over the chain.
 *
 * The first append into an empty, unscheduled queue calls kick() (outside
 * the lock): that is how the I/O layer learns the connection needs a flush,
 * once per batch rather than once per message. When pending bytes would
 * exceed the limit, the append fails with -JN_ESLOW, the queue is marked
 * slow, and kick() is called so the owner can close the connection; the
 * publisher is never blocked.
 */
#ifndef JN_OUTQ_H
#define JN_OUTQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define JN_OUTQ_BLOCK 16384   /* bytes per pooled block */

struct jn_outq_block;

struct jn_outq {
	pthread_mutex_t lock;
	struct jn_outq_block *head, *tail;  /* chain; head has `off` bytes already written */
	size_t pending;                     /* bytes queued, not yet written */
	size_t limit;                       /* max pending bytes (slow consumer) */
	bool scheduled;                     /* kick() called, drain not yet started */
	bool slow;                          /* limit exceeded: owner must close */
	bool closed;                        /* appends are dropped */
	void (*kick)(struct jn_outq *q, void *arg);
	void *kick_arg;
	/* statistics */
	_Atomic uint64_t msgs_out, bytes_out;
};

void jn_outq_init(struct jn_outq *q, size_t limit,
                  void (*kick)(struct jn_outq *, void *), void *kick_arg);
void jn_outq_fini(struct jn_outq *q);   /* returns blocks to the pool */

/* Append iovecs as one unit (all or nothing). counts_msg: add 1 to msgs_out.
 * 0, -JN_ESLOW (over limit, nothing appended), -JN_ECLOSED, -JN_ENOMEM. */
int jn_outq_append(struct jn_outq *q, const struct iovec *iov, int iovcnt, bool counts_msg);

/* Owner only: write as much as the fd takes (writev, non-blocking).
 * Returns bytes still pending (0 = drained), or -JN_EIO on a socket error.
 * Clears `scheduled` so the next append kicks again. */
long jn_outq_drain(struct jn_outq *q, int fd);

void jn_outq_close(struct jn_outq *q);  /* drop pending, refuse appends */
size_t jn_outq_pending(struct jn_outq *q);

/* Pool statistics (tests, metrics). */
size_t jn_outq_pool_blocks_free(void);
void jn_outq_pool_trim(void);

#endif
