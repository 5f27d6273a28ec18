/*
 * conn.c - the gateway's implementation of struct jn_link: allocation, the
 * outq kick, the close request and the owner's final tear-down.
 *
 * Close path. jn_link_close() from any thread sets `closing` (first caller
 * wins, later calls are no-ops) and schedules the connection; its owner
 * notices at the end of a batch (the safe point) and runs
 * jn_conn_teardown(): one last best-effort drain so a final -ERR reaches
 * the peer, unread input discarded (closing a socket with unread bytes
 * sends RST, which can destroy that -ERR in flight), close(2), then the
 * adapter's on_close(), then the outq is closed and the connection retired.
 * Peer EOF, read errors, write errors, slow consumers and shutdown all take
 * this one path.
 */
#include "gateway/conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include "core/alloc.h"
#include "core/epoch.h"
#include "core/log.h"
#include "gateway/worker.h"

static _Atomic uint64_t next_link_id = 1;

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void conn_close(struct jn_link *l, const char *reason)
{
	struct jn_conn *c = (struct jn_conn *)l;
	if (atomic_exchange(&c->closing, true))
		return;
	if (!reason)
		reason = "";
	/* slow consumers are an operator's business (nats-server logs them
	 * too); ordinary closes are debug noise */
	enum jn_log_level lvl = strncmp(reason, "Slow Consumer", 13) == 0 ? JN_LOG_WARN
	                                                                  : JN_LOG_DEBUG;
	if (jn_log_get_level() <= lvl)
		jn_log(lvl, "%s: %s:%u - cid:%llu - closing: %s", c->svc->name, l->peer_ip,
		       l->peer_port, (unsigned long long)l->id, reason);
	jn_worker_schedule(c);
}

static const struct jn_link_ops conn_ops = { .close = conn_close };

/* outq kick: the queue went from idle to non-empty (or overflowed). */
static void conn_kick(struct jn_outq *q, void *arg)
{
	(void)q;
	jn_worker_schedule(arg);
}

struct jn_conn *jn_conn_new(int fd, const struct jn_service *svc, struct jn_worker *owner,
                            const struct sockaddr *peer, uint16_t local_port)
{
	struct jn_conn *c = jn_calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->link.ops = &conn_ops;
	jn_outq_init(&c->link.out, svc->max_pending, conn_kick, c);
	c->link.id = atomic_fetch_add(&next_link_id, 1);
	c->link.local_port = local_port;
	c->link.created_ns = mono_ns();
	atomic_store(&c->link.last_write_progress_ns, c->link.created_ns);
	if (peer && peer->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)peer;
		inet_ntop(AF_INET, &a->sin_addr, c->link.peer_ip, sizeof c->link.peer_ip);
		c->link.peer_port = ntohs(a->sin_port);
	} else if (peer && peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)peer;
		inet_ntop(AF_INET6, &a->sin6_addr, c->link.peer_ip, sizeof c->link.peer_ip);
		c->link.peer_port = ntohs(a->sin6_port);
	} else {
		snprintf(c->link.peer_ip, sizeof c->link.peer_ip, "?");
	}
	c->svc = svc;
	c->owner = owner;
	c->fd = fd;
	c->state = JN_CONN_NEW;
	atomic_init(&c->refs, 1);
	pthread_mutex_init(&c->drain_mu, NULL);
	return c;
}

void jn_conn_free(void *p)
{
	struct jn_conn *c = p;
	jn_outq_fini(&c->link.out);
	pthread_mutex_destroy(&c->drain_mu);
	jn_free(c);
}

void jn_conn_discard(struct jn_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	jn_conn_free(c);
}

bool jn_conn_tryget(struct jn_conn *c)
{
	uint32_t r = atomic_load(&c->refs);
	do {
		if (r == 0)
			return false;
	} while (!atomic_compare_exchange_weak(&c->refs, &r, r + 1));
	return true;
}

void jn_conn_put(struct jn_conn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1)
		jn_epoch_retire(c, jn_conn_free);
}

static void set_events(struct jn_conn *c, int epfd, bool paused, bool out)
{
	struct epoll_event ev = {
		.events = (paused ? 0 : EPOLLIN) | (out ? EPOLLOUT : 0),
		.data.ptr = c,
	};
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) {
		c->read_paused = paused;
		c->want_out = out;
	}
}

void jn_conn_pause_read(struct jn_conn *c, int epfd, bool paused)
{
	if (c->state == JN_CONN_OPEN && c->read_paused != paused)
		set_events(c, epfd, paused, c->want_out);
}

long jn_conn_flush(struct jn_conn *c, int epfd, int64_t now_ns)
{
	if (c->state != JN_CONN_OPEN)
		return -1;
	pthread_mutex_lock(&c->link.out.lock);
	bool slow = c->link.out.slow;
	pthread_mutex_unlock(&c->link.out.lock);
	if (slow) {
		/* the adapter usually got -JN_ESLOW first and closed already */
		jn_link_close(&c->link, "Slow Consumer Detected (max_pending)");
		return -1;
	}
	/* Even when EPOLLOUT is armed we try: the attempt costs one EAGAIN, and
	 * it clears the queue's `scheduled` flag, so the next append kicks again
	 * and the appending batch sees how full this queue is (see pacing in
	 * worker.c). */
	size_t before = jn_outq_pending(&c->link.out);
	pthread_mutex_lock(&c->drain_mu);
	long rem = jn_outq_drain(&c->link.out, c->fd);
	pthread_mutex_unlock(&c->drain_mu);
	if (rem < 0) {
		jn_link_close(&c->link, "Write Error");
		return -1;
	}
	/* progress = the socket took bytes; a stall is timed from the moment
	 * output first stayed pending */
	if ((size_t)rem < before || (rem > 0 && !c->want_out))
		atomic_store_explicit(&c->link.last_write_progress_ns, now_ns, memory_order_relaxed);
	if ((rem > 0) != c->want_out)
		set_events(c, epfd, c->read_paused, rem > 0);
	return rem;
}

long jn_conn_flush_remote(struct jn_conn *c, int64_t now_ns)
{
	if (!atomic_load(&c->direct) || atomic_load(&c->closing))
		return -1;
	if (pthread_mutex_trylock(&c->drain_mu) != 0)
		return -1;   /* someone is writing it: they will see our bytes */
	long rem = -1;
	if (atomic_load(&c->direct)) {
		pthread_mutex_lock(&c->link.out.lock);
		bool slow = c->link.out.slow;
		pthread_mutex_unlock(&c->link.out.lock);
		if (!slow) {
			size_t before = jn_outq_pending(&c->link.out);
			rem = jn_outq_drain(&c->link.out, c->fd);
			if (rem < 0)
				jn_link_close(&c->link, "Write Error");
			else if ((size_t)rem < before)
				atomic_store_explicit(&c->link.last_write_progress_ns, now_ns,
				                      memory_order_relaxed);
		}
	}
	pthread_mutex_unlock(&c->drain_mu);
	return rem < 0 ? -1 : rem;
}

bool jn_conn_write_stalled(const struct jn_conn *c, int64_t now_ns)
{
	if (!c->want_out || c->svc->write_deadline_ns <= 0)
		return false;
	int64_t last = atomic_load_explicit(&((struct jn_conn *)c)->link.last_write_progress_ns,
	                                    memory_order_relaxed);
	return now_ns - last > 2 * c->svc->write_deadline_ns;
}

void jn_conn_teardown(struct jn_conn *c, int epfd, struct jn_thread_ctx *ctx)
{
	if (c->state != JN_CONN_OPEN)
		return;
	pthread_mutex_lock(&c->drain_mu);   /* no other worker writes it from now on */
	atomic_store(&c->direct, false);
	(void)jn_outq_drain(&c->link.out, c->fd);
	pthread_mutex_unlock(&c->drain_mu);
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	char sink[4096];
	for (int i = 0; i < 16; i++)
		if (recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) <= 0)
			break;
	close(c->fd);
	c->fd = -1;
	c->want_out = false;
	c->read_paused = false;
	c->state = JN_CONN_CLOSED;
	jn_debug("%s: %s:%u - cid:%llu - closed", c->svc->name, c->link.peer_ip,
	         c->link.peer_port, (unsigned long long)c->link.id);
	if (c->link.proto_state)
		c->svc->proto->on_close(c->link.proto_state, ctx);
	c->link.proto_state = NULL;
	jn_outq_close(&c->link.out);
	/* Queued in the inbox right now? Then the owner drops its reference
	 * when it pops it; otherwise take the flag for good (nobody queues it
	 * again) and drop it now. */
	if (!atomic_exchange(&c->in_inbox, true))
		jn_conn_put(c);
}
