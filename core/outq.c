/*
 * outq.c - a connection's outbound byte queue: many appenders, one drainer.
 *
 * Owns: the chain of pooled blocks holding bytes not yet written to the
 * socket, the slow-consumer limit, and the kick protocol that tells the
 * I/O layer a queue needs flushing. Also the process-wide block pool.
 *
 * Layout. Bytes live in blocks of JN_OUTQ_BLOCK bytes: [off, len) of a
 * block is unwritten data, [len, JN_OUTQ_BLOCK) free space that only the
 * tail block uses. An idle queue (everything written, or closed) holds no
 * block at all: drained blocks go straight back to the pool.
 *
 * Draining. The drainer (the owner's thread, only one at a time) detaches
 * the whole chain under the lock and writes it with the lock released, so
 * publishers appending to this connection never wait for a syscall. What
 * the socket did not take is spliced back in front of whatever was
 * appended meanwhile, so bytes leave in exactly the order they were
 * appended. `pending` counts detached (in flight) bytes too: the limit is
 * on bytes not yet written, wherever they are.
 *
 * Kick invariant. `scheduled` is true from the kick() an append makes until
 * the next drain starts (drain clears it at the moment it detaches the
 * chain). Hence:
 *   every byte appended is either in the chain a drain detaches (and so
 *   written, or reported back to the owner as pending by that drain's
 *   return value), or was appended after that detach, when `scheduled`
 *   was false or was already set by an append that kicked after the same
 *   detach, so a kick for it is on its way and another drain will follow.
 * No append can land after a drain's detach and find `scheduled` still set
 * by a kick that drain already consumed: the clear and the detach happen
 * under the same lock hold. The kick is called after the lock is released
 * (it may take the owner's locks or write to an eventfd).
 *
 * Slow consumer: an append that would take `pending` over `limit` is refused
 * whole, the queue is marked slow, and kick() is called on that transition
 * only, so the owner wakes up, sees `slow` and closes the connection. Later
 * appends are refused without further kicks. limit 0 means no limit.
 *
 * Statistics: msgs_out counts appends made with counts_msg (the only place
 * message boundaries are known); bytes_out counts bytes the socket accepted.
 */
#include "core/outq.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
#define DRAIN_IOV (IOV_MAX < 1024 ? IOV_MAX : 1024)

struct jn_outq_block {
	struct jn_outq_block *next;
	uint32_t off;     /* first unwritten byte */
	uint32_t len;     /* end of data */
	uint8_t data[JN_OUTQ_BLOCK];
};

/* ---- the pool ----------------------------------------------------------
 * A mutex-protected free list: taken once per block (16 KiB), so contention
 * is negligible next to the copying, and a mutex has none of the ABA
 * hazards of a lock-free stack. At most POOL_KEEP free blocks are retained
 * (16 MiB); beyond that blocks go back to the allocator. */

#define POOL_KEEP 1024

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jn_outq_block *pool_head;
static size_t pool_count;

static struct jn_outq_block *block_get(void)
{
	pthread_mutex_lock(&pool_lock);
	struct jn_outq_block *b = pool_head;
	if (b) {
		pool_head = b->next;
		pool_count--;
	}
	pthread_mutex_unlock(&pool_lock);
	if (!b) {
		b = jn_malloc(sizeof *b);
		if (!b)
			return NULL;
	}
	b->next = NULL;
	b->off = b->len = 0;
	return b;
}

/* Returns a whole chain to the pool (or the allocator, past the cap). */
static void chain_put(struct jn_outq_block *b)
{
	struct jn_outq_block *excess = NULL;
	pthread_mutex_lock(&pool_lock);
	while (b) {
		struct jn_outq_block *next = b->next;
		if (pool_count < POOL_KEEP) {
			b->next = pool_head;
			pool_head = b;
			pool_count++;
		} else {
			b->next = excess;
			excess = b;
		}
		b = next;
	}
	pthread_mutex_unlock(&pool_lock);
	while (excess) {
		struct jn_outq_block *next = excess->next;
		jn_free(excess);
		excess = next;
	}
}

size_t jn_outq_pool_blocks_free(void)
{
	pthread_mutex_lock(&pool_lock);
	size_t n = pool_count;
	pthread_mutex_unlock(&pool_lock);
	return n;
}

void jn_outq_pool_trim(void)
{
	pthread_mutex_lock(&pool_lock);
	struct jn_outq_block *b = pool_head;
	pool_head = NULL;
	pool_count = 0;
	pthread_mutex_unlock(&pool_lock);
	while (b) {
		struct jn_outq_block *next = b->next;
		jn_free(b);
		b = next;
	}
}

/* ---- the queue --------------------------------------------------------- */

void jn_outq_init(struct jn_outq *q, size_t limit,
                  void (*kick)(struct jn_outq *, void *), void *kick_arg)
{
	pthread_mutex_init(&q->lock, NULL);
	q->head = q->tail = NULL;
	q->pending = 0;
	q->limit = limit;
	q->scheduled = q->slow = q->closed = false;
	q->kick = kick;
	q->kick_arg = kick_arg;
	atomic_init(&q->msgs_out, 0);
	atomic_init(&q->bytes_out, 0);
}

/* Owner only, with no drain running: frees every block. */
void jn_outq_fini(struct jn_outq *q)
{
	pthread_mutex_lock(&q->lock);
	struct jn_outq_block *b = q->head;
	q->head = q->tail = NULL;
	q->pending = 0;
	q->closed = true;
	pthread_mutex_unlock(&q->lock);
	chain_put(b);
	pthread_mutex_destroy(&q->lock);
}

static void do_kick(struct jn_outq *q)
{
	if (q->kick)
		q->kick(q, q->kick_arg);
}

/* The bytes are copied; iov stays the caller's. */
int jn_outq_append(struct jn_outq *q, const struct iovec *iov, int iovcnt, bool counts_msg)
{
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SIZE_MAX - total)
			return -JN_EINVAL;
		total += iov[i].iov_len;
	}

	pthread_mutex_lock(&q->lock);
	if (q->closed) {
		pthread_mutex_unlock(&q->lock);
		return -JN_ECLOSED;
	}
	if (q->slow) {
		pthread_mutex_unlock(&q->lock);
		return -JN_ESLOW;
	}
	if (q->limit && (total > q->limit || q->pending > q->limit - total)) {
		q->slow = true;
		pthread_mutex_unlock(&q->lock);
		do_kick(q);
		return -JN_ESLOW;
	}
	if (total == 0) {
		pthread_mutex_unlock(&q->lock);
		if (counts_msg)
			atomic_fetch_add_explicit(&q->msgs_out, 1, memory_order_relaxed);
		return 0;
	}

	/* Get every block needed first, so a failed allocation leaves the
	 * queue exactly as it was (all or nothing). */
	size_t room = q->tail ? JN_OUTQ_BLOCK - q->tail->len : 0;
	struct jn_outq_block *fresh = NULL, *fresh_tail = NULL;
	if (total > room) {
		size_t need = (total - room + JN_OUTQ_BLOCK - 1) / JN_OUTQ_BLOCK;
		for (size_t i = 0; i < need; i++) {
			struct jn_outq_block *b = block_get();
			if (!b) {
				pthread_mutex_unlock(&q->lock);
				chain_put(fresh);
				return -JN_ENOMEM;
			}
			if (fresh_tail)
				fresh_tail->next = b;
			else
				fresh = b;
			fresh_tail = b;
		}
	}

	/* Copy into the tail's free space, then the fresh blocks. */
	struct jn_outq_block *dst = q->tail && room ? q->tail : fresh;
	if (q->tail)
		q->tail->next = fresh;
	else
		q->head = fresh;
	if (fresh_tail)
		q->tail = fresh_tail;
	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *src = iov[i].iov_base;
		size_t n = iov[i].iov_len;
		while (n) {
			if (dst->len == JN_OUTQ_BLOCK)
				dst = dst->next;
			size_t c = JN_OUTQ_BLOCK - dst->len;
			if (c > n)
				c = n;
			memcpy(dst->data + dst->len, src, c);
			dst->len += (uint32_t)c;
			src += c;
			n -= c;
		}
	}
	q->pending += total;
	bool kick = !q->scheduled;
	q->scheduled = true;
	pthread_mutex_unlock(&q->lock);

	if (counts_msg)
		atomic_fetch_add_explicit(&q->msgs_out, 1, memory_order_relaxed);
	if (kick)
		do_kick(q);
	return 0;
}

/* One non-blocking gathering write. sendmsg for MSG_NOSIGNAL (a peer that
 * went away must give EPIPE, not kill the process) and MSG_DONTWAIT (the
 * owner's fd might be blocking); writev for fds that are not sockets. */
static ssize_t write_chain(int fd, struct iovec *iov, int n, bool *not_sock)
{
	for (;;) {
		ssize_t w;
		if (!*not_sock) {
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
			w = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0 && errno == ENOTSOCK) {
				*not_sock = true;
				continue;
			}
		} else {
			w = writev(fd, iov, n);
		}
		if (w < 0 && errno == EINTR)
			continue;
		return w;
	}
}

long jn_outq_drain(struct jn_outq *q, int fd)
{
	pthread_mutex_lock(&q->lock);
	struct jn_outq_block *head = q->head, *tail = q->tail;
	q->head = q->tail = NULL;
	q->scheduled = false;   /* see the kick invariant at the top */
	pthread_mutex_unlock(&q->lock);

	size_t written = 0;
	int err = 0;
	bool not_sock = false;
	struct jn_outq_block *done = NULL;   /* fully written blocks, for the pool */
	while (head) {
		struct iovec iov[DRAIN_IOV];
		int n = 0;
		size_t want = 0;
		for (struct jn_outq_block *b = head; b && n < DRAIN_IOV; b = b->next) {
			if (b->len == b->off)
				continue;
			iov[n].iov_base = b->data + b->off;
			iov[n].iov_len = b->len - b->off;
			want += iov[n].iov_len;
			n++;
		}
		ssize_t w = n ? write_chain(fd, iov, n, &not_sock) : 0;
		if (w < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				err = -JN_EIO;
			break;
		}
		written += (size_t)w;
		/* Consume w bytes from the front of the chain. */
		size_t left = (size_t)w;
		while (head) {
			size_t have = head->len - head->off;
			if (have > left) {
				head->off += (uint32_t)left;
				break;
			}
			left -= have;
			struct jn_outq_block *next = head->next;
			head->next = done;
			done = head;
			head = next;
		}
		if (!head)
			tail = NULL;
		if ((size_t)w < want)
			break;   /* the socket is full */
	}
	chain_put(done);

	long ret;
	pthread_mutex_lock(&q->lock);
	if (q->closed) {
		/* Closed while we wrote: close() already zeroed pending and
		 * dropped the queued chain; drop our remainder too. */
		pthread_mutex_unlock(&q->lock);
		chain_put(head);
		return err ? err : 0;
	}
	if (head) {
		/* Unwritten bytes go back in front of anything appended
		 * meanwhile. Appends went to a new chain (ours was detached), so
		 * our tail's free space is simply left unused. */
		tail->next = q->head;
		q->head = head;
		if (!q->tail)
			q->tail = tail;
	}
	q->pending -= written;
	ret = q->pending > (size_t)LONG_MAX ? LONG_MAX : (long)q->pending;
	pthread_mutex_unlock(&q->lock);

	if (written)
		atomic_fetch_add_explicit(&q->bytes_out, written, memory_order_relaxed);
	return err ? err : ret;
}

void jn_outq_close(struct jn_outq *q)
{
	pthread_mutex_lock(&q->lock);
	struct jn_outq_block *b = q->head;
	q->head = q->tail = NULL;
	q->pending = 0;
	q->closed = true;
	pthread_mutex_unlock(&q->lock);
	chain_put(b);
}

size_t jn_outq_pending(struct jn_outq *q)
{
	pthread_mutex_lock(&q->lock);
	size_t n = q->pending;
	pthread_mutex_unlock(&q->lock);
	return n;
}
