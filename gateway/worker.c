/*
 * worker.c - the I/O worker: one thread, one epoll loop, and the
 * connections it owns from accept to close.
 *
 * THREADING MODEL
 *
 * Threads. The main thread runs the acceptor and the signal handling
 * (daemon.c, listener.c). N workers (config "workers", default one per CPU)
 * each run the loop below. Connections never migrate: the worker that
 * receives a connection from the acceptor owns its socket, its epoll
 * registration, its conn-table slot and the adapter's per-connection state
 * until the end.
 *
 * Who may touch what.
 *   - The owner alone reads the socket, drains link->out, calls the
 *     adapter's open/on_data/on_tick/on_close, and closes the socket.
 *   - Any thread may append to a connection's link->out (a publisher on
 *     worker A delivering into a subscriber on worker B) and may ask for a
 *     close (jn_link_close). Both only flag the connection and schedule it.
 *   - Cross-thread requests travel through the owner's inbox: a
 *     mutex-protected intrusive list of connections plus an eventfd. A
 *     connection is in an inbox at most once (the in_inbox flag); the wake
 *     write is coalesced by wake_pending, so a burst of posts costs one
 *     eventfd write until the owner has consumed it.
 *
 * The batch. One loop iteration is one batch:
 *     epoll_wait                       (outside the epoch read section)
 *     jn_epoch_enter
 *       readable  -> recv into the worker's one 64 KiB buffer, up to
 *                    256 KiB per connection per batch (fairness), feed
 *                    proto->on_data; level-triggered epoll brings back the
 *                    rest next time
 *       writable  -> drain link->out
 *       eventfd   -> pop the inbox: adopt new connections (proto->open),
 *                    flush or close the ones other threads scheduled
 *       every 100 ms: proto->on_tick for each connection (the adapter's
 *                    timers: ping, auth timeout, write_deadline)
 *     end of batch:
 *       for each connection in this batch's dirty set:
 *         owned here   -> drain to the socket; arm EPOLLOUT while bytes
 *                         remain, disarm when drained; close if slow
 *         owned by B   -> if the batch touched at most DIRECT_MAX such
 *                         connections, drain it from here unless someone
 *                         else is draining it (jn_conn_flush_remote: B
 *                         never wakes for it); if bytes remain or that was
 *                         not done, push to B's inbox, wake B (once per
 *                         batch)
 *       close the connections flagged for close (the safe point: never in
 *       the middle of a delivery, so nothing on the stack points at them)
 *       pace this batch's producers if a destination is congested (below)
 *     jn_epoch_exit, jn_epoch_poll
 * The dirty set is filled by the outq kick callback (gateway/conn.c): when
 * an append makes an idle queue non-empty the appending thread adds the
 * connection to ITS OWN current batch (thread-local pointer), so a publish
 * fanned out to 1000 subscribers costs one flush per subscriber per batch,
 * not one per message. A thread with no batch (not a worker) posts to the
 * owner's inbox directly.
 *
 * Pacing fast producers. A subscriber that reads, but slower than a
 * publisher writes, would otherwise hit max_pending and be dropped as a
 * slow consumer. nats-server 2.9 stalls the producer instead while a
 * destination is more than half full; we do the same without blocking the
 * thread: when a batch leaves some destination over max_pending/2
 * ("congested"), every connection read in that batch stops being read
 * (EPOLLIN removed) until that destination is back under max_pending/4 or
 * STALL_MAX has passed; TCP flow control then slows the publisher itself.
 * A destination on another worker is kicked only once per drain by its
 * owner, so a batch may append to it without seeing it; hence a worker
 * keeps a watch list of the remote destinations it left bytes in and looks
 * at them at the end of every batch until they are empty.
 * A subscriber that does not read at all is still cut: by write_deadline,
 * or by max_pending once STALL_MAX lets the publisher through again. The
 * paused producer holds a reference on the destination (conn.h) so its
 * queue can be looked at across batches.
 *
 * Lifetime. Connections are reached without locks by other threads
 * (through cached subscription matches), so a closed one is retired with
 * jn_epoch_retire(), never freed directly. Every reference another thread
 * holds for a moment (a dirty-set entry, a cached match) lives inside that
 * thread's epoch read section, so it stays valid until that batch ends.
 * References that outlive a batch are counted (jn_conn refs): the owner's
 * own, dropped by the close path, and one per pacing entry (stall or watch
 * list). An inbox entry also outlives a batch: a connection closed while
 * queued in its owner's inbox has the owner's reference dropped when the
 * owner pops it, not before, and once closed its in_inbox flag stays set
 * so nobody queues it again. The last reference retires it.
 *
 * Memory. An idle connection holds its jn_conn (a jn_link plus a few
 * fields) and the adapter's state: no read buffer (the worker has one) and
 * no output block (link->out gives its blocks back once drained).
 */
#include "gateway/worker.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "core/alloc.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/log.h"
#include "core/router.h"

#define RBUF_SIZE (64 * 1024)
#define READ_BUDGET (256 * 1024)     /* per connection per batch */
#define TICK_NS (100 * 1000000LL)
#define MAX_EVENTS 256
#define STALL_MAX_NS (1000 * 1000000LL)   /* longest a producer is paced at once */
#define DIRECT_MAX 4                      /* remote destinations a batch writes itself */

struct conn_vec {
	struct jn_conn **v;
	uint32_t n, cap;
};

/* The batch: what jn_thread_ctx.batch points to. */
struct batch {
	struct conn_vec dirty;    /* connections to flush or hand over */
	struct conn_vec closing;  /* owned connections to tear down */
	struct conn_vec readers;  /* connections whose input was processed */
};

/* A producer whose reading is paused until `dest` drains (or `until`). */
struct stall {
	struct jn_conn *producer;  /* owned by this worker */
	struct jn_conn *dest;      /* any worker's; we hold a reference */
	int64_t until_ns;
};

struct jn_worker {
	unsigned index;
	struct jn_router *router;
	pthread_t thread;
	bool started;
	sem_t ready;
	int init_rc;
	int epfd;
	int evfd;
	/* inbox: any thread pushes, the owner pops */
	pthread_mutex_t inbox_lock;
	struct jn_conn *inbox_head, *inbox_tail;
	_Atomic bool wake_pending;
	_Atomic bool stopping;
	_Atomic uint32_t nconns_pub;
	/* owner thread only */
	struct conn_vec conns;    /* c->slot is the index */
	struct batch batch;
	struct stall *stalls;     /* paused producers */
	uint32_t nstalls, cap_stalls;
	struct conn_vec watch;    /* remote destinations filling up (refs held) */
	bool in_batch;
	struct jn_thread_ctx ctx;
	struct jn_epoch_thread *epoch;
	uint8_t *rbuf;
};

static _Thread_local struct jn_worker *tls_worker;

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int vec_push(struct conn_vec *v, struct jn_conn *c)
{
	if (v->n == v->cap) {
		uint32_t ncap = v->cap ? v->cap * 2 : 64;
		struct jn_conn **nv = jn_realloc(v->v, (size_t)ncap * sizeof *nv);
		if (!nv)
			return -JN_ENOMEM;
		v->v = nv;
		v->cap = ncap;
	}
	v->v[v->n++] = c;
	return 0;
}

/* ---- inbox --------------------------------------------------------------- */

static void wake(struct jn_worker *w)
{
	if (atomic_exchange(&w->wake_pending, true))
		return;
	uint64_t one = 1;
	ssize_t r = write(w->evfd, &one, sizeof one);
	(void)r;   /* EAGAIN only if the counter is near overflow: still readable */
}

/* Queue c in its owner's inbox unless it is already there (or retired). */
static void post(struct jn_conn *c)
{
	if (atomic_exchange(&c->in_inbox, true))
		return;
	struct jn_worker *w = c->owner;
	pthread_mutex_lock(&w->inbox_lock);
	c->inbox_next = NULL;
	if (w->inbox_tail)
		w->inbox_tail->inbox_next = c;
	else
		w->inbox_head = c;
	w->inbox_tail = c;
	pthread_mutex_unlock(&w->inbox_lock);
	wake(w);
}

static struct jn_conn *inbox_take(struct jn_worker *w)
{
	pthread_mutex_lock(&w->inbox_lock);
	struct jn_conn *list = w->inbox_head;
	w->inbox_head = w->inbox_tail = NULL;
	pthread_mutex_unlock(&w->inbox_lock);
	return list;
}

static bool inbox_empty(struct jn_worker *w)
{
	pthread_mutex_lock(&w->inbox_lock);
	bool empty = w->inbox_head == NULL;
	pthread_mutex_unlock(&w->inbox_lock);
	return empty;
}

void jn_worker_adopt(struct jn_worker *w, struct jn_conn *c)
{
	c->owner = w;
	post(c);
}

/* The batch of a thread that is not a worker: the connections its current
 * router read section kicked. Fixed size: nothing to free when the thread
 * ends; past it, connections go to their owners as before. */
#define FOREIGN_MAX 64
static _Thread_local struct {
	uint32_t n;
	struct jn_conn *v[FOREIGN_MAX];
} foreign;

/* router_thread.c's batch-end hook, still inside the read section that
 * kept these connections allocated. */
static void foreign_batch_end(void)
{
	int64_t now = foreign.n ? mono_ns() : 0;
	for (uint32_t i = 0; i < foreign.n; i++)
		if (jn_conn_flush_remote(foreign.v[i], now) != 0)
			post(foreign.v[i]);
	foreign.n = 0;
}

void jn_worker_schedule(struct jn_conn *c)
{
	struct jn_worker *me = tls_worker;
	if (me && me->in_batch && vec_push(&me->batch.dirty, c) == 0)
		return;
	/* Not a worker (the syncer sending PubAcks or MQTT PUBACKs, the
	 * JetStream timer, HTTP), inside a router read section: collect it
	 * and write it at the end of that section (foreign_batch_end) rather
	 * than wake the owner for it. */
	if (!me && jn_router_thread_in_batch() && foreign.n < FOREIGN_MAX) {
		foreign.v[foreign.n++] = c;
		return;
	}
	post(c);   /* no batch here (or out of memory): straight to the owner */
}

/* ---- connection table ---------------------------------------------------- */

static int table_add(struct jn_worker *w, struct jn_conn *c)
{
	if (vec_push(&w->conns, c) < 0)
		return -JN_ENOMEM;
	c->slot = w->conns.n - 1;
	atomic_store_explicit(&w->nconns_pub, w->conns.n, memory_order_relaxed);
	return 0;
}

static void table_remove(struct jn_worker *w, struct jn_conn *c)
{
	uint32_t last = w->conns.n - 1;
	if (c->slot != last) {
		w->conns.v[c->slot] = w->conns.v[last];
		w->conns.v[c->slot]->slot = c->slot;
	}
	w->conns.n = last;
	atomic_store_explicit(&w->nconns_pub, w->conns.n, memory_order_relaxed);
}

/* ---- pacing --------------------------------------------------------------- */

static bool congested(const struct jn_conn *c, long pending)
{
	size_t lim = c->svc->max_pending;
	return lim && pending > 0 && (size_t)pending > lim / 2;
}

static bool relieved(struct jn_conn *c)
{
	size_t lim = c->svc->max_pending;
	return jn_outq_pending(&c->link.out) <= lim / 4;   /* 0 once closed */
}

static void stall_remove(struct jn_worker *w, uint32_t i)
{
	struct stall *st = &w->stalls[i];
	jn_trace("%s: cid:%llu - resumed: cid:%llu has %zu bytes pending", st->producer->svc->name,
	         (unsigned long long)st->producer->link.id, (unsigned long long)st->dest->link.id,
	         jn_outq_pending(&st->dest->link.out));
	jn_conn_pause_read(st->producer, w->epfd, false);
	jn_conn_put(st->dest);
	*st = w->stalls[--w->nstalls];
}

/* Is c in w's watch list? Worker i < 64 keeps a bit in c, so a fan-out to
 * thousands of remote subscribers does not scan the list per post. */
static bool watching(struct jn_worker *w, struct jn_conn *c)
{
	if (w->index < 64)
		return atomic_load_explicit(&c->watchers, memory_order_relaxed) >> w->index & 1;
	for (uint32_t i = 0; i < w->watch.n; i++)
		if (w->watch.v[i] == c)
			return true;
	return false;
}

static void watch_mark(struct jn_worker *w, struct jn_conn *c, bool on)
{
	if (w->index >= 64)
		return;
	uint64_t bit = (uint64_t)1 << w->index;
	if (on)
		atomic_fetch_or_explicit(&c->watchers, bit, memory_order_relaxed);
	else
		atomic_fetch_and_explicit(&c->watchers, ~bit, memory_order_relaxed);
}

/* Remote destination c had `pending` bytes when this batch posted it. */
static void watch_add(struct jn_worker *w, struct jn_conn *c, long pending)
{
	if (!c->svc->max_pending || pending <= 0 || watching(w, c))
		return;
	if (!jn_conn_tryget(c))
		return;
	if (vec_push(&w->watch, c) < 0) {
		jn_conn_put(c);
		return;
	}
	watch_mark(w, c, true);
}

/* The fullest congested watched destination. Only an empty queue leaves the
 * list: "below some mark" at one glance says nothing about the next batch,
 * because the owner may not get to drain it for a while (an owner that is
 * not scheduled, on a busy machine, does not drain at all). */
static struct jn_conn *watch_scan(struct jn_worker *w, long *hot_pending)
{
	struct jn_conn *hot = NULL;
	for (uint32_t i = 0; i < w->watch.n;) {
		struct jn_conn *d = w->watch.v[i];
		long p = (long)jn_outq_pending(&d->link.out);   /* 0 once closed */
		if (p == 0) {
			w->watch.v[i] = w->watch.v[--w->watch.n];
			watch_mark(w, d, false);
			jn_conn_put(d);
			continue;
		}
		if (congested(d, p) && p > *hot_pending) {
			hot = d;
			*hot_pending = p;
		}
		i++;
	}
	return hot;
}

/* End of batch: pause this batch's readers behind `hot` (may be NULL). */
static void stall_readers(struct jn_worker *w, struct jn_conn *hot)
{
	struct conn_vec *r = &w->batch.readers;
	for (uint32_t i = 0; i < r->n; i++) {
		struct jn_conn *p = r->v[i];
		p->in_readers = false;
		if (!hot || p == hot || p->state != JN_CONN_OPEN || p->read_paused ||
		    atomic_load(&p->closing))
			continue;
		if (w->nstalls == w->cap_stalls) {
			uint32_t ncap = w->cap_stalls ? w->cap_stalls * 2 : 16;
			struct stall *ns = jn_realloc(w->stalls, ncap * sizeof *ns);
			if (!ns)
				continue;   /* no pacing then: not worth failing over */
			w->stalls = ns;
			w->cap_stalls = ncap;
		}
		if (!jn_conn_tryget(hot))
			continue;   /* being retired: nothing to wait for */
		w->stalls[w->nstalls++] = (struct stall){ p, hot, w->ctx.now_ns + STALL_MAX_NS };
		jn_conn_pause_read(p, w->epfd, true);
		jn_trace("%s: cid:%llu - paused: cid:%llu has %zu bytes pending", p->svc->name,
		         (unsigned long long)p->link.id, (unsigned long long)hot->link.id,
		         jn_outq_pending(&hot->link.out));
	}
	r->n = 0;
}

/* Start of batch: resume producers whose destination drained. */
static void stall_check(struct jn_worker *w)
{
	for (uint32_t i = 0; i < w->nstalls;) {
		struct stall *st = &w->stalls[i];
		if (w->ctx.now_ns >= st->until_ns || relieved(st->dest))
			stall_remove(w, i);
		else
			i++;
	}
}

/* A producer closing while paused. */
static void stall_forget(struct jn_worker *w, struct jn_conn *c)
{
	for (uint32_t i = 0; i < w->nstalls; i++) {
		if (w->stalls[i].producer == c) {
			stall_remove(w, i);
			return;
		}
	}
}

/* ---- per-connection work (owner, inside a batch) ------------------------- */

static void adopt_now(struct jn_worker *w, struct jn_conn *c)
{
	if (table_add(w, c) < 0) {
		jn_warn("%s: out of memory adopting connection from %s:%u", c->svc->name,
		        c->link.peer_ip, c->link.peer_port);
		jn_conn_discard(c);
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		jn_warn("%s: epoll_ctl: %s", c->svc->name, strerror(errno));
		table_remove(w, c);
		jn_conn_discard(c);
		return;
	}
	c->state = JN_CONN_OPEN;
	jn_debug("%s: %s:%u - cid:%llu - accepted on worker %u", c->svc->name, c->link.peer_ip,
	         c->link.peer_port, (unsigned long long)c->link.id, w->index);
	c->link.proto_state = c->svc->proto->open(c->svc->server, &c->link, &w->ctx);
	if (!c->link.proto_state)
		jn_link_close(&c->link, "refused by the protocol adapter");
	else
		atomic_store(&c->direct, true);
}

/* Flush or queue for close. c is owned by w. Returns what stays pending
 * (-1: closing). */
static long service(struct jn_worker *w, struct jn_conn *c)
{
	if (c->state != JN_CONN_OPEN)
		return -1;
	if (atomic_load(&c->closing)) {
		if (!c->in_close_list && vec_push(&w->batch.closing, c) == 0)
			c->in_close_list = true;
		return -1;   /* if the push failed, the next schedule retries */
	}
	return jn_conn_flush(c, w->epfd, w->ctx.now_ns);
}

static void read_conn(struct jn_worker *w, struct jn_conn *c)
{
	size_t budget = READ_BUDGET;
	while (c->state == JN_CONN_OPEN && !atomic_load(&c->closing)) {
		ssize_t n = recv(c->fd, w->rbuf, RBUF_SIZE, 0);
		if (n > 0) {
			if (!c->in_readers && vec_push(&w->batch.readers, c) == 0)
				c->in_readers = true;
			int rc = c->svc->proto->on_data(c->link.proto_state, w->rbuf, (size_t)n, &w->ctx);
			if (rc < 0 || (size_t)n < RBUF_SIZE || (size_t)n >= budget)
				return;   /* short read: socket very likely empty */
			budget -= (size_t)n;
			continue;
		}
		if (n == 0) {
			jn_link_close(&c->link, "Client Closed");
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			char why[96];
			snprintf(why, sizeof why, "Read Error: %s", strerror(errno));
			jn_link_close(&c->link, why);
		}
		return;
	}
}

static void handle_wake(struct jn_worker *w)
{
	uint64_t v;
	ssize_t r = read(w->evfd, &v, sizeof v);
	(void)r;
	atomic_store(&w->wake_pending, false);   /* before taking: see post() */
	struct jn_conn *c = inbox_take(w);
	while (c) {
		struct jn_conn *next = c->inbox_next;
		c->inbox_next = NULL;
		if (c->state == JN_CONN_CLOSED) {
			/* closed while queued: dropping the owner's reference was
			 * left to us. in_inbox stays set so nobody queues it again. */
			jn_conn_put(c);
		} else {
			atomic_store(&c->in_inbox, false);
			if (c->state == JN_CONN_NEW)
				adopt_now(w, c);
			else
				service(w, c);
		}
		c = next;
	}
}

static void tick(struct jn_worker *w)
{
	int64_t now = w->ctx.now_ns;
	bool stopping = atomic_load(&w->stopping);
	for (uint32_t i = 0; i < w->conns.n; i++) {
		struct jn_conn *c = w->conns.v[i];
		if (atomic_load(&c->closing))
			continue;
		if (stopping) {
			/* What the peer sent before the shutdown is processed first:
			 * the batch that saw `stopping` may have read only part of
			 * it (a retained set read, its clear still in the socket),
			 * and the close below discards unread input. Data sent
			 * before the signal is already in the socket buffer, so one
			 * bounded read_conn() (which stops at EAGAIN) gets it. */
			read_conn(w, c);
			if (!atomic_load(&c->closing)) {
				if (c->svc->proto->on_shutdown)
					c->svc->proto->on_shutdown(c->link.proto_state, &w->ctx);
				jn_link_close(&c->link, "Server Shutdown");
			}
			continue;
		}
		if (c->svc->proto->on_tick)
			c->svc->proto->on_tick(c->link.proto_state, &w->ctx);
		/* The adapter enforces write_deadline in on_tick (and counts the
		 * slow consumer); this backstop, at twice the deadline, only
		 * guarantees that no adapter bug can pin a stuck socket's output
		 * forever. */
		if (!atomic_load(&c->closing) && jn_conn_write_stalled(c, now)) {
			pthread_mutex_lock(&c->link.out.lock);
			c->link.out.slow = true;
			pthread_mutex_unlock(&c->link.out.lock);
			jn_link_close(&c->link, "Slow Consumer Detected (write deadline, gateway)");
		}
	}
}

/* The end of a batch: flush what was scheduled, then tear down what must
 * close. Tear-downs can schedule more work (on_close unsubscribing...), so
 * loop until both lists are empty. */
static void end_batch(struct jn_worker *w)
{
	struct batch *b = &w->batch;
	struct jn_conn *hot = NULL;   /* the fullest congested destination */
	long hot_pending = 0;
	for (;;) {
		/* Writing another worker's connections from here saves a wake-up
		 * (latency) but puts the writes on this thread: worth it for the
		 * few destinations of a request or a small publish, not for a
		 * fan-out, where the owners writing in parallel is faster. */
		uint32_t remote = 0;
		for (uint32_t i = 0; i < b->dirty.n && remote <= DIRECT_MAX; i++)
			remote += b->dirty.v[i]->owner != w;
		bool direct = remote <= DIRECT_MAX;
		for (uint32_t i = 0; i < b->dirty.n; i++) {
			struct jn_conn *c = b->dirty.v[i];
			long pending;
			if (c->owner == w) {
				pending = service(w, c);
			} else {
				/* Write it from here when nobody else is: the owner
				 * only hears of it when the socket did not take it all. */
				if (!direct || jn_conn_flush_remote(c, w->ctx.now_ns) != 0)
					post(c);
				pending = (long)jn_outq_pending(&c->link.out);
				watch_add(w, c, pending);
			}
			if (congested(c, pending) && pending > hot_pending) {
				hot = c;
				hot_pending = pending;
			}
		}
		b->dirty.n = 0;
		if (b->closing.n == 0)
			break;
		for (uint32_t i = 0; i < b->closing.n; i++) {
			struct jn_conn *c = b->closing.v[i];
			c->in_close_list = false;
			if (c->state != JN_CONN_OPEN)
				continue;
			if (c->read_paused)
				stall_forget(w, c);
			table_remove(w, c);
			jn_conn_teardown(c, w->epfd, &w->ctx);
		}
		b->closing.n = 0;
		if (b->dirty.n == 0)
			break;
	}
	if (w->watch.n) {
		struct jn_conn *h = watch_scan(w, &hot_pending);
		if (h)
			hot = h;
	}
	stall_readers(w, hot);
	/* do not keep a huge batch array after a burst */
	if (b->dirty.cap > 4096) {
		jn_free(b->dirty.v);
		b->dirty = (struct conn_vec){ 0 };
	}
}

static void *run(void *arg)
{
	struct jn_worker *w = arg;
	tls_worker = w;
	char name[16];
	snprintf(name, sizeof name, "jn-worker-%u", w->index);
	pthread_setname_np(pthread_self(), name);

	w->epoch = jn_epoch_register();
	w->ctx.cache = jn_sublist_cache_new(w->router->subs);
	w->ctx.batch = &w->batch;
	w->ctx.worker = w->index;
	w->init_rc = w->epoch && w->ctx.cache ? 0 : -JN_ENOMEM;
	sem_post(&w->ready);
	if (w->init_rc < 0)
		goto out;

	struct epoll_event evs[MAX_EVENTS];
	int64_t next_tick = mono_ns() + TICK_NS;
	for (;;) {
		int64_t now = mono_ns();
		int timeout = now >= next_tick ? 0 : (int)((next_tick - now + 999999) / 1000000);
		if (w->nstalls && timeout > 1)
			timeout = 1;   /* paced producers: watch their destinations drain */
		int n = epoll_wait(w->epfd, evs, MAX_EVENTS, timeout);
		if (n < 0)
			n = 0;   /* EINTR */
		now = mono_ns();

		jn_epoch_enter(w->epoch);
		w->in_batch = true;
		w->ctx.now_ns = now;
		if (w->nstalls)
			stall_check(w);
		for (int i = 0; i < n; i++) {
			struct jn_conn *c = evs[i].data.ptr;
			if (!c) {
				handle_wake(w);
				continue;
			}
			if (c->state != JN_CONN_OPEN)
				continue;
			if (atomic_load(&c->closing)) {
				service(w, c);   /* queue the close now, stop reading */
				continue;
			}
			if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
				service(w, c);
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				read_conn(w, c);
		}
		if (now >= next_tick || atomic_load(&w->stopping)) {
			tick(w);
			next_tick += TICK_NS;
			if (next_tick <= now)
				next_tick = now + TICK_NS;   /* fell behind: do not burst */
		}
		end_batch(w);
		w->in_batch = false;
		jn_epoch_exit(w->epoch);
		jn_epoch_poll();

		if (atomic_load(&w->stopping) && w->conns.n == 0 && inbox_empty(w))
			break;
	}
out:
	for (uint32_t i = 0; i < w->watch.n; i++) {
		watch_mark(w, w->watch.v[i], false);
		jn_conn_put(w->watch.v[i]);
	}
	w->watch.n = 0;
	if (w->ctx.cache)
		jn_sublist_cache_free(w->ctx.cache);
	w->ctx.cache = NULL;
	if (w->epoch)
		jn_epoch_unregister(w->epoch);
	w->epoch = NULL;
	tls_worker = NULL;
	return NULL;
}

/* ---- lifecycle ----------------------------------------------------------- */

struct jn_worker *jn_worker_new(unsigned index, struct jn_router *router)
{
	jn_router_set_thread_batch_hook(foreign_batch_end);   /* the same for every worker */
	struct jn_worker *w = jn_calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->index = index;
	w->router = router;
	w->epfd = -1;
	w->evfd = -1;
	pthread_mutex_init(&w->inbox_lock, NULL);
	sem_init(&w->ready, 0, 0);
	w->rbuf = jn_malloc(RBUF_SIZE);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!w->rbuf || w->epfd < 0 || w->evfd < 0)
		goto fail;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) < 0)
		goto fail;
	return w;
fail:
	jn_worker_free(w);
	return NULL;
}

int jn_worker_start(struct jn_worker *w)
{
	if (pthread_create(&w->thread, NULL, run, w) != 0)
		return -JN_EIO;
	w->started = true;
	sem_wait(&w->ready);
	if (w->init_rc < 0) {
		pthread_join(w->thread, NULL);
		w->started = false;
		return w->init_rc;
	}
	return 0;
}

void jn_worker_close(struct jn_worker *w)
{
	atomic_store(&w->stopping, true);
	/* bypass the coalescing: the stop must be seen even if a wake is
	 * pending (the loop re-checks stopping every iteration anyway) */
	uint64_t one = 1;
	ssize_t r = write(w->evfd, &one, sizeof one);
	(void)r;
}

void jn_worker_stop(struct jn_worker *w)
{
	if (w->started) {
		pthread_join(w->thread, NULL);
		w->started = false;
	}
}

void jn_worker_free(struct jn_worker *w)
{
	if (!w)
		return;
	/* Release what was queued after the loop ended: connections never
	 * adopted, and closed ones whose retire was left to the pop. */
	struct jn_conn *c = inbox_take(w);
	while (c) {
		struct jn_conn *next = c->inbox_next;
		if (c->state == JN_CONN_NEW)
			jn_conn_discard(c);
		else if (c->state == JN_CONN_CLOSED)
			jn_conn_put(c);
		c = next;
	}
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->evfd >= 0)
		close(w->evfd);
	jn_free(w->conns.v);
	jn_free(w->batch.dirty.v);
	jn_free(w->batch.closing.v);
	jn_free(w->batch.readers.v);
	jn_free(w->stalls);
	jn_free(w->watch.v);
	jn_free(w->rbuf);
	pthread_mutex_destroy(&w->inbox_lock);
	sem_destroy(&w->ready);
	jn_free(w);
}

unsigned jn_worker_index(const struct jn_worker *w)
{
	return w->index;
}

uint32_t jn_worker_conn_count(const struct jn_worker *w)
{
	return atomic_load_explicit(&((struct jn_worker *)w)->nconns_pub, memory_order_relaxed);
}
