/*
 * consumer.c - the JetStream consumer engine: a cursor over one stream that
 * delivers in stream order to a push subject or to waiting pull requests,
 * tracks acks (explicit / all / none), redelivers after ack_wait or backoff
 * up to max_deliver, honours -NAK [delay], +WPI, +TERM, +NXT, max_ack_pending,
 * flow control and idle heartbeats, and persists durables through
 * consumer_state.h. Behaviour follows nats-server 2.9.10's consumer.go
 * (getNextMsg, processAckMsg, processNak, checkPending, processWaiting,
 * nextReqFromMsg, selectStartingSeqNo), so info counters match it exactly.
 *
 * THREADS AND LOCKS
 *
 * Anything may call in concurrently: pull requests and acks on any worker,
 * new-message hooks on the publishing thread, the tick on the timer thread,
 * API calls on workers. Each consumer has one mutex, c->mu, guarding all of
 * its state. Lock order:
 *
 *     c->mu  ->  stream mutex (inside jn_stream_* calls)  ->  store mutex
 *                                                         ->  sublist lock
 *
 * Never the other way: the stream calls our hooks without its mutex (see
 * stream.h). Two calls are made WITHOUT c->mu because they take other
 * consumers' locks: jn_stream_ack_hint() and jn_stream_consumer_remove().
 * The router is never called with c->mu held either: a delivery can run
 * arbitrary deliver callbacks on this thread, including ones that come back
 * into this consumer (a pull request whose reply subject is an API subject,
 * a deliver subject some stream stores, ...).
 *
 * ORDER. One thread at a time is "the pumper" (c->pumping): it alone
 * publishes deliveries and status messages. Under c->mu it picks the next
 * delivery and commits it to the state (sequences, pending), then drops the
 * lock, publishes, and re-takes the lock for the next one. Any other thread
 * that wants something sent either queues it in c->outbox (status messages:
 * 404/408/409, heartbeats, flow control requests) or just changes state,
 * then calls pump(); if a pumper is active, pump() only sets c->kick and
 * returns, and the pumper goes round once more. So deliveries leave in
 * stream order, and a status such as "408 Request Timeout" always leaves
 * after the messages that were committed before it, per consumer. A pumper
 * delivers at most a budget of messages (so a worker is never stuck in a
 * huge backlog); the rest is continued by jn_consumer_tick.
 *
 * LIFETIME. The scratch buffers (loaded message, ack subject) are used by
 * the pumper outside the lock; they live as long as the consumer, which is
 * freed through jn_epoch_retire() after it was detached from the stream,
 * so a pumper (always inside an epoch section) can finish its publish
 * safely. After c->closed is set nobody touches the stream's store.
 *
 * TIME. Timestamps (delivery times in pending, "created", last_active,
 * pull request expiry) are wall clock ns (jn_js_now_ns), as nats-server
 * uses: pending times survive a restart in the consumer state file.
 */
#include "core/consumer.h"

#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/consumer_state.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/header.h"
#include "core/jetstream.h"
#include "core/js_json.h"
#include "core/log.h"
#include "core/store.h"
#include "core/store_io.h"
#include "core/stream.h"
#include "core/subject.h"
#include "core/sublist.h"

#define WORKER_BUDGET 4096       /* deliveries per pump on a worker thread */
#define TICK_BUDGET 8192         /* ... from the tick */
#define FC_MAX_PENDING (32LL << 20)   /* nats-server JsFlowControlMaxPending */
#define NS_MS 1000000LL

/* ---- pending map: stream seq -> delivery state ------------------------- */

/* An entry exists while the message awaits an ack (pending), or was
 * redelivered at least once (rdc > 0, nats-server's rdc map), or sits on
 * the redelivery queue. */
struct pent {
	uint64_t sseq;        /* key; 0 = empty slot */
	uint64_t cseq;        /* consumer seq of the first delivery */
	int64_t ts;           /* last delivery time (moved by NAK delay / WPI) */
	uint64_t rdc;         /* redeliveries so far */
	bool pending;
	bool on_rdq;
};

struct pmap {
	struct pent *t;
	size_t cap, n;        /* cap: power of two or 0 */
};

static size_t pslot(uint64_t k, size_t cap)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)k & (cap - 1);
}

static struct pent *pget(const struct pmap *m, uint64_t k)
{
	if (!m->cap)
		return NULL;
	for (size_t i = pslot(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->t[i].sseq == k)
			return &m->t[i];
		if (!m->t[i].sseq)
			return NULL;
	}
}

static int pgrow(struct pmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16;
	struct pent *nt = jn_calloc(ncap, sizeof *nt);
	if (!nt)
		return -JN_ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->t[i].sseq)
			continue;
		size_t j = pslot(m->t[i].sseq, ncap);
		while (nt[j].sseq)
			j = (j + 1) & (ncap - 1);
		nt[j] = m->t[i];
	}
	jn_free(m->t);
	m->t = nt;
	m->cap = ncap;
	return 0;
}

/* The entry for k, created zeroed if absent; NULL on OOM. */
static struct pent *pput(struct pmap *m, uint64_t k)
{
	struct pent *e = pget(m, k);
	if (e)
		return e;
	if ((m->n + 1) * 2 > m->cap && pgrow(m))
		return NULL;
	size_t i = pslot(k, m->cap);
	while (m->t[i].sseq)
		i = (i + 1) & (m->cap - 1);
	m->t[i] = (struct pent){ .sseq = k };
	m->n++;
	return &m->t[i];
}

/* Backward-shift deletion keeps probe chains intact. */
static void pdel(struct pmap *m, struct pent *e)
{
	size_t i = (size_t)(e - m->t), mask = m->cap - 1;
	m->t[i].sseq = 0;
	m->n--;
	for (size_t j = (i + 1) & mask; m->t[j].sseq; j = (j + 1) & mask) {
		size_t h = pslot(m->t[j].sseq, m->cap);
		/* may the entry at j move to the hole at i? */
		if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
			m->t[i] = m->t[j];
			m->t[j].sseq = 0;
			i = j;
		}
	}
}

/* ---- waiting pull requests, outbox ------------------------------------ */

struct wreq {
	char *reply;
	uint32_t reply_len;
	int64_t n;            /* messages still owed */
	int64_t d;            /* messages delivered to it */
	int64_t b;            /* max_bytes left; 0 = unlimited */
	int64_t expires;      /* wall ns; 0 = never */
	int64_t hb, hbt;      /* idle heartbeat interval / next due */
	bool no_wait;
};

/* A status message (or flow control request) waiting for the pumper. */
struct outmsg {
	struct outmsg *next;
	uint32_t subj_len, reply_len, hdr_len;
	char data[];          /* subject, reply, header */
};

struct jn_consumer {
	pthread_mutex_t mu;
	struct jn_stream *st;             /* reference held */
	struct jn_js *js;
	struct jn_store *store;           /* valid until closed */
	char *name;
	char *stream_name;
	struct jn_consumer_cfg cfg;
	bool durable;
	bool closed;
	bool pumping, kick, more;
	int64_t created;
	enum jn_retention retention;

	/* cursor (nats-server: o.sseq/o.dseq are the NEXT sequences) */
	uint64_t sseq, dseq;
	uint64_t adflr, asflr;            /* ack floor: consumer / stream seq */
	int64_t ldt, lat;                 /* last delivery / last ack time */
	uint64_t *lss;                    /* last_per_subject start list */
	size_t nlss, ilss;
	uint64_t lss_resume;

	struct pmap pm;
	uint64_t npending;                /* entries with pending */
	uint64_t nredelivered;            /* entries with rdc > 0 */
	uint64_t *rdq;                    /* redelivery queue, FIFO from rdq_head */
	size_t rdq_head, rdq_len, rdq_cap;
	int64_t next_check;               /* when to look for expired acks */

	uint64_t npc;                     /* cached num_pending */
	bool npc_valid;

	/* pull */
	struct wreq *wq;
	size_t nwq, capwq;
	int64_t last_activity;
	int64_t next_interest_check;

	/* push */
	bool active;
	int64_t inactive_since;
	int64_t next_hb;
	int64_t pbytes, maxpb, pblimit, fcsz;
	char fcid[16 + 2 * JN_JS_NAME_MAX];   /* $JS.FC.<stream>.<consumer>.<id> */

	/* replay original */
	bool replay;
	uint64_t replay_lseq;
	int64_t replay_lts, replay_due;
	uint64_t replay_seq;

	struct outmsg *out_head, *out_tail;

	struct jn_cstate *cs;             /* durables on file streams */
	char *dir;

	/* pumper scratch */
	struct jn_store_msg sm;
	char *ackbuf;                     /* "$JS.ACK.<stream>.<name>." + numbers */
	size_t ackcap, ackpre;
	struct jn_match *mc;              /* one-entry match cache (pumper only) */
	char *mc_subj;
	size_t mc_len, mc_cap;
	uint64_t mc_gen;
	char *tgt;                        /* delivery target copy */
	size_t tgtcap;
	uint8_t *hdrbuf;
	size_t hdrcap;
};

static void pump(struct jn_consumer *c, struct jn_pub *ctx, int budget);

static pthread_mutex_t create_mu = PTHREAD_MUTEX_INITIALIZER;

const char *jn_consumer_name(const struct jn_consumer *c)
{
	return c->name;
}

static bool is_push(const struct jn_consumer *c)
{
	return c->cfg.deliver_subject != NULL;
}

static bool tracks_acks(const struct jn_consumer *c)
{
	return c->cfg.ack_policy != JN_ACK_NONE;
}

static const char *filter(const struct jn_consumer *c, size_t *len)
{
	*len = c->cfg.filter_subject ? strlen(c->cfg.filter_subject) : 0;
	return c->cfg.filter_subject;
}

static bool has_interest(struct jn_consumer *c, const char *subj, size_t len)
{
	return jn_sublist_has_interest(jn_js_router(c->js)->subs, NULL, subj, len);
}

/* ---- redelivery queue ---------------------------------------------------- */

static int rdq_push(struct jn_consumer *c, uint64_t seq)
{
	if (c->rdq_head + c->rdq_len == c->rdq_cap) {
		if (c->rdq_head > 0) {
			memmove(c->rdq, c->rdq + c->rdq_head, c->rdq_len * sizeof *c->rdq);
			c->rdq_head = 0;
		} else {
			size_t ncap = c->rdq_cap ? c->rdq_cap * 2 : 16;
			uint64_t *n = jn_realloc(c->rdq, ncap * sizeof *n);
			if (!n)
				return -JN_ENOMEM;
			c->rdq = n;
			c->rdq_cap = ncap;
		}
	}
	c->rdq[c->rdq_head + c->rdq_len++] = seq;
	return 0;
}

static void rdq_remove(struct jn_consumer *c, uint64_t seq)
{
	struct pent *e = pget(&c->pm, seq);
	if (e && !e->on_rdq)
		return;
	for (size_t i = 0; i < c->rdq_len; i++) {
		if (c->rdq[c->rdq_head + i] == seq) {
			memmove(c->rdq + c->rdq_head + i, c->rdq + c->rdq_head + i + 1,
			        (c->rdq_len - i - 1) * sizeof *c->rdq);
			c->rdq_len--;
			break;
		}
	}
	if (e)
		e->on_rdq = false;
}

static bool on_rdq(struct jn_consumer *c, uint64_t seq)
{
	struct pent *e = pget(&c->pm, seq);
	return e && e->on_rdq;
}

/* Forget an entry that is neither pending, redelivered nor queued. */
static void maybe_drop(struct jn_consumer *c, struct pent *e)
{
	if (!e->pending && e->rdc == 0 && !e->on_rdq)
		pdel(&c->pm, e);
}

/* Remove everything known about seq (acked): pending, rdc, rdq. Returns
 * whether it was pending. */
static bool forget(struct jn_consumer *c, uint64_t seq)
{
	struct pent *e = pget(&c->pm, seq);
	if (!e)
		return false;
	bool was = e->pending;
	if (e->on_rdq)
		rdq_remove(c, seq);
	e = pget(&c->pm, seq);
	if (e->pending)
		c->npending--;
	if (e->rdc)
		c->nredelivered--;
	pdel(&c->pm, e);
	return was;
}

/* ---- outbox (status messages) -------------------------------------------- */

static void outbox_add(struct jn_consumer *c, const char *subj, size_t sl, const char *reply,
                       size_t rl, const uint8_t *hdr, size_t hl)
{
	struct outmsg *m = jn_malloc(sizeof *m + sl + rl + hl);
	if (!m)
		return;   /* a lost status only costs the client a timeout */
	m->next = NULL;
	m->subj_len = (uint32_t)sl;
	m->reply_len = (uint32_t)rl;
	m->hdr_len = (uint32_t)hl;
	memcpy(m->data, subj, sl);
	if (rl)
		memcpy(m->data + sl, reply, rl);
	memcpy(m->data + sl + rl, hdr, hl);
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
}

static void outbox_clear(struct jn_consumer *c)
{
	while (c->out_head) {
		struct outmsg *m = c->out_head;
		c->out_head = m->next;
		jn_free(m);
	}
	c->out_tail = NULL;
}

/* "NATS/1.0 <code> <desc>\r\n[Nats-Pending-Messages: n\r\nNats-Pending-Bytes: b\r\n]\r\n" */
static size_t status_hdr(uint8_t *buf, size_t cap, int code, const char *desc,
                         bool pending, int64_t n, int64_t b)
{
	struct jn_hdr_buf hb;
	jn_hdr_begin(&hb, buf, cap, code, desc);
	if (pending) {
		char v[24];
		int l = snprintf(v, sizeof v, "%lld", (long long)n);
		jn_hdr_add(&hb, "Nats-Pending-Messages", v, (size_t)l);
		l = snprintf(v, sizeof v, "%lld", (long long)b);
		jn_hdr_add(&hb, "Nats-Pending-Bytes", v, (size_t)l);
	}
	int len = jn_hdr_done(&hb);
	return len < 0 ? 0 : (size_t)len;
}

static void queue_status(struct jn_consumer *c, const char *subj, size_t sl, int code,
                         const char *desc, bool pending, int64_t n, int64_t b)
{
	uint8_t buf[512];
	size_t hl = status_hdr(buf, sizeof buf, code, desc, pending, n, b);
	if (hl)
		outbox_add(c, subj, sl, NULL, 0, buf, hl);
}

/* Send a status right now from this thread (callers outside the pumper
 * whose message has no ordering relation to deliveries). */
static void send_status_now(struct jn_js *js, struct jn_pub *ctx, const char *subj,
                            size_t sl, int code, const char *desc)
{
	uint8_t buf[512];
	size_t hl = status_hdr(buf, sizeof buf, code, desc, false, 0, 0);
	if (!hl)
		return;
	struct jn_msg m = { .subject = subj, .subject_len = (uint32_t)sl, .hdr = buf,
	                    .hdr_len = (uint32_t)hl };
	jn_js_publish(js, ctx, &m);
}

/* 100 Idle Heartbeat with the last delivered sequences (and the pending
 * flow control subject when stalled). */
static void queue_heartbeat(struct jn_consumer *c, const char *subj, size_t sl)
{
	uint8_t buf[512];
	struct jn_hdr_buf hb;
	char v[24];
	jn_hdr_begin(&hb, buf, sizeof buf, 100, "Idle Heartbeat");
	int l = snprintf(v, sizeof v, "%" PRIu64, c->dseq - 1);
	jn_hdr_add(&hb, "Nats-Last-Consumer", v, (size_t)l);
	l = snprintf(v, sizeof v, "%" PRIu64, c->sseq ? c->sseq - 1 : 0);
	jn_hdr_add(&hb, "Nats-Last-Stream", v, (size_t)l);
	if (c->fcid[0])
		jn_hdr_add(&hb, "Nats-Consumer-Stalled", c->fcid, strlen(c->fcid));
	int len = jn_hdr_done(&hb);
	if (len > 0)
		outbox_add(c, subj, sl, NULL, 0, buf, (size_t)len);
}

/* ---- waiting queue ------------------------------------------------------- */

static void wq_remove(struct jn_consumer *c, size_t i)
{
	jn_free(c->wq[i].reply);
	memmove(c->wq + i, c->wq + i + 1, (c->nwq - i - 1) * sizeof *c->wq);
	c->nwq--;
}

/* nats-server's processWaiting: expire (408) and drop requests without
 * interest; heartbeats for the idle ones. eos: the stream has nothing more
 * for us, so one-shot (no_wait) requests that got something are done.
 * Returns the messages the interested requests still ask for. */
static int64_t process_waiting(struct jn_consumer *c, int64_t now, bool eos, bool interest)
{
	int64_t brp = 0;
	for (size_t i = 0; i < c->nwq;) {
		struct wreq *w = &c->wq[i];
		if ((eos && w->no_wait && w->d > 0) || (w->expires && now >= w->expires)) {
			queue_status(c, w->reply, w->reply_len, 408, "Request Timeout", true,
			             w->n, w->b);
			wq_remove(c, i);
			continue;
		}
		if (interest && !has_interest(c, w->reply, w->reply_len)) {
			wq_remove(c, i);
			continue;
		}
		brp += w->n;
		if (w->hbt && now >= w->hbt) {
			queue_heartbeat(c, w->reply, w->reply_len);
			w->hbt = now + w->hb;
		}
		i++;
	}
	return brp;
}

/* ---- num_pending --------------------------------------------------------- */

static bool lps(const struct jn_consumer *c)
{
	return c->cfg.deliver_policy == JN_DELIVER_LAST_PER_SUBJECT;
}

static uint64_t npc_exact(struct jn_consumer *c)
{
	size_t fl;
	const char *f = filter(c, &fl);
	uint64_t n = jn_store_num_pending(c->store, c->sseq, f, fl, lps(c));
	c->npc = n;
	c->npc_valid = true;
	return n;
}

/* The cached count, kept up by deliveries (-1) and new messages (+1) as
 * nats-server keeps it: exact again at every info, an estimate in between
 * (deletions by limits are not seen; with last_per_subject new messages
 * count one each). */
static uint64_t npc_get(struct jn_consumer *c)
{
	if (c->npc_valid)
		return c->npc;
	return npc_exact(c);
}

/* ---- persistence --------------------------------------------------------- */

static enum jn_cs_ack cs_policy(const struct jn_consumer_cfg *cfg)
{
	switch (cfg->ack_policy) {
	case JN_ACK_ALL: return JN_CS_ACK_ALL;
	case JN_ACK_EXPLICIT: return JN_CS_ACK_EXPLICIT;
	default: return JN_CS_ACK_NONE;
	}
}

/* The opaque config blob of the state file: {"created":ns,"config":{...}}. */
static int save_config(struct jn_consumer *c)
{
	if (!c->cs)
		return 0;
	json_t *o = json_object();
	json_t *cfg = jn_consumer_cfg_to_json(&c->cfg);
	if (!o || !cfg) {
		json_decref(o);
		json_decref(cfg);
		return -JN_ENOMEM;
	}
	json_object_set_new(o, "created", json_integer(c->created));
	json_object_set_new(o, "config", cfg);
	size_t len;
	char *s = jn_js_dumps(o, &len);
	json_decref(o);
	if (!s)
		return -JN_ENOMEM;
	int rc = jn_cstate_set_config(c->cs, s, len);
	free(s);
	return rc;
}

static void cs_deliver(struct jn_consumer *c, uint64_t cseq, uint64_t sseq, uint64_t dc,
                       int64_t ts)
{
	if (c->cs) {
		int rc = jn_cstate_record_deliver(c->cs, cseq, sseq, dc, ts);
		if (rc && rc != -JN_EINVAL)
			jn_warn("jetstream: consumer %s > %s: cannot persist delivery: %s",
			        c->stream_name, c->name, jn_strerror(rc));
	}
}

static void cs_ack(struct jn_consumer *c, uint64_t cseq, uint64_t sseq)
{
	if (c->cs) {
		int rc = jn_cstate_record_ack(c->cs, cseq, sseq);
		if (rc && rc != -JN_ENOTFOUND && rc != -JN_EINVAL)
			jn_warn("jetstream: consumer %s > %s: cannot persist ack: %s",
			        c->stream_name, c->name, jn_strerror(rc));
	}
}

/* ---- creation / teardown ------------------------------------------------- */

static void consumer_free(void *p)
{
	struct jn_consumer *c = p;
	jn_consumer_cfg_fini(&c->cfg);
	jn_free(c->name);
	jn_free(c->stream_name);
	jn_free(c->pm.t);
	jn_free(c->rdq);
	for (size_t i = 0; i < c->nwq; i++)
		jn_free(c->wq[i].reply);
	jn_free(c->wq);
	jn_free(c->lss);
	outbox_clear(c);
	jn_store_msg_fini(&c->sm);
	jn_free(c->ackbuf);
	if (c->mc)
		jn_match_release(NULL, c->mc);
	jn_free(c->mc_subj);
	jn_free(c->tgt);
	jn_free(c->hdrbuf);
	jn_free(c->dir);
	if (c->cs)
		jn_cstate_free(c->cs);
	if (c->st)
		jn_stream_unref(c->st);
	pthread_mutex_destroy(&c->mu);
	jn_free(c);
}

static struct jn_consumer *consumer_alloc(struct jn_stream *st, const char *name)
{
	struct jn_consumer *c = jn_calloc(1, sizeof *c);
	if (!c)
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	c->name = jn_strdup(name);
	c->stream_name = jn_strdup(jn_stream_name(st));
	c->ackcap = 16 + 8 + strlen(jn_stream_name(st)) + strlen(name) + 5 * 21;
	c->ackbuf = jn_malloc(c->ackcap);
	if (!c->name || !c->stream_name || !c->ackbuf) {
		consumer_free(c);
		return NULL;
	}
	c->ackpre = (size_t)snprintf(c->ackbuf, c->ackcap, "$JS.ACK.%s.%s.", c->stream_name,
	                             c->name);
	jn_stream_ref(st);
	c->st = st;
	c->js = jn_stream_js(st);
	c->store = jn_stream_store(st);
	c->retention = jn_stream_retention(st);
	c->dseq = 1;
	c->next_check = INT64_MAX;
	return c;
}

/* Settings derived from the config (create, update, recovery). */
static void apply_cfg_runtime(struct jn_consumer *c, int64_t now)
{
	if (!c->durable && c->cfg.inactive_threshold <= 0)
		c->cfg.inactive_threshold = JN_CONSUMER_INACTIVE_DEFAULT_NS;
	if (c->cfg.flow_control && !c->pblimit) {
		c->pblimit = FC_MAX_PENDING;
		c->maxpb = FC_MAX_PENDING / 16;
	}
	if (c->cfg.idle_heartbeat > 0 && !c->next_hb)
		c->next_hb = now + c->cfg.idle_heartbeat;
}

/* nats-server's selectStartingSeqNo. */
struct lss_collect {
	uint64_t *v;
	size_t n, cap;
	bool oom;
};

static int lss_cb(void *arg, const struct jn_subject_state *ss)
{
	struct lss_collect *l = arg;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		uint64_t *nv = jn_realloc(l->v, ncap * sizeof *nv);
		if (!nv) {
			l->oom = true;
			return 1;
		}
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = ss->last_seq;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int select_start(struct jn_consumer *c)
{
	struct jn_store_state s;
	jn_store_state(c->store, &s);
	size_t fl;
	const char *f = filter(c, &fl);
	uint64_t seq;
	if (c->cfg.opt_start_seq == 0) {
		switch (c->cfg.deliver_policy) {
		case JN_DELIVER_ALL:
			seq = s.first_seq;
			break;
		case JN_DELIVER_LAST:
			seq = s.last_seq;
			if (f) {
				struct jn_store_msg m = { 0 };
				seq = jn_store_load_last(c->store, f, fl, &m) == 0 ? m.seq : 0;
				jn_store_msg_fini(&m);
			}
			break;
		case JN_DELIVER_LAST_PER_SUBJECT: {
			struct lss_collect l = { 0 };
			jn_store_subjects(c->store, f, fl, lss_cb, &l);
			if (l.oom) {
				jn_free(l.v);
				return -JN_ENOMEM;
			}
			if (l.n) {
				qsort(l.v, l.n, sizeof *l.v, cmp_u64);
				c->lss = l.v;
				c->nlss = l.n;
				c->ilss = 0;
				c->lss_resume = s.last_seq;
				seq = l.v[0];
			} else {
				jn_free(l.v);
				seq = s.last_seq;
			}
			break;
		}
		case JN_DELIVER_BY_START_TIME:
			seq = jn_store_seq_for_time(c->store, c->cfg.opt_start_time);
			break;
		default:   /* new */
			seq = s.last_seq + 1;
			break;
		}
	} else {
		seq = c->cfg.opt_start_seq;
	}
	if (s.first_seq == 0)
		seq = 1;
	else if (seq < s.first_seq)
		seq = s.first_seq;
	else if (seq > s.last_seq)
		seq = s.last_seq + 1;
	c->sseq = seq;
	c->dseq = 1;
	/* nats-server's consumer store records only the delivered position at
	 * the start, so every ack floor begins at {0, 0} (observed) */
	c->adflr = 0;
	c->asflr = 0;
	if (c->cfg.replay_policy == JN_REPLAY_ORIGINAL) {
		c->replay = true;
		c->replay_lseq = s.last_seq;
	}
	return 0;
}

static void random_name(char out[9])
{
	static const char alnum[] =
		"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	for (int i = 0; i < 8; i++)
		out[i] = alnum[jn_router_rand(62)];
	out[8] = '\0';
}

static bool name_chars_ok(const char *s)
{
	return *s && !strpbrk(s, " \t\r\n\f.*>");
}

static bool wants_files(const struct jn_consumer *c)
{
	return c->durable && !c->cfg.mem_storage && jn_stream_dir(c->st) != NULL;
}

static char *consumer_dir(struct jn_stream *st, const char *name)
{
	const char *sd = jn_stream_dir(st);
	size_t n = strlen(sd) + strlen(name) + 16;
	char *p = jn_malloc(n);
	if (p)
		snprintf(p, n, "%s/consumers/%s", sd, name);
	return p;
}

/* Detach-independent teardown: close, tell waiting pulls, release files,
 * retire. Exactly one caller gets here per consumer (the one that detached
 * it, or the stream through jn_consumer_stream_gone). */
static void teardown(struct jn_consumer *c, bool deleted, bool remove_files)
{
	pthread_mutex_lock(&c->mu);
	c->closed = true;
	struct wreq *wq = c->wq;
	size_t nwq = c->nwq;
	c->wq = NULL;
	c->nwq = c->capwq = 0;
	outbox_clear(c);
	struct jn_cstate *cs = c->cs;
	c->cs = NULL;
	c->store = NULL;
	pthread_mutex_unlock(&c->mu);

	for (size_t i = 0; i < nwq; i++) {
		if (deleted)
			send_status_now(c->js, NULL, wq[i].reply, wq[i].reply_len, 409,
			                "Consumer Deleted");
		jn_free(wq[i].reply);
	}
	jn_free(wq);
	if (cs) {
		if (remove_files) {
			jn_cstate_delete(cs);
			if (c->dir)
				jn_rmtree(c->dir);
		} else {
			jn_cstate_free(cs);
		}
	}
	jn_epoch_retire(c, consumer_free);
}

int jn_consumer_delete(struct jn_consumer *c)
{
	if (jn_stream_consumer_remove(c->st, c))
		return -JN_ECONSUMERNOTFOUND;
	teardown(c, true, true);
	return 0;
}

void jn_consumer_stream_gone(struct jn_consumer *c, bool deleted)
{
	teardown(c, deleted, deleted);
}

/* Update an existing consumer to cfg (defaults applied): nats-server's
 * updateConfig. */
static int update(struct jn_consumer *c, const struct jn_consumer_cfg *ncfg, char *errbuf,
                  size_t errcap)
{
	struct jn_consumer_cfg nc;
	if (jn_consumer_cfg_copy(&nc, ncfg))
		return -JN_ENOMEM;
	pthread_mutex_lock(&c->mu);
	if (c->closed) {
		pthread_mutex_unlock(&c->mu);
		jn_consumer_cfg_fini(&nc);
		return -JN_ECONSUMERNOTFOUND;
	}
	/* an ephemeral keeps its stamped default threshold */
	if (!c->durable && nc.inactive_threshold <= 0)
		nc.inactive_threshold = JN_CONSUMER_INACTIVE_DEFAULT_NS;
	bool bound = c->cfg.deliver_subject &&
	             has_interest(c, c->cfg.deliver_subject, strlen(c->cfg.deliver_subject));
	int rc = jn_consumer_cfg_check_update(&c->cfg, &nc, bound, errbuf, errcap);
	if (!rc && (c->cfg.filter_subject || nc.filter_subject) &&
	    !(c->cfg.filter_subject && nc.filter_subject &&
	      strcmp(c->cfg.filter_subject, nc.filter_subject) == 0)) {
		rc = jn_stream_consumer_set_filter(c->st, c, nc.filter_subject);
		c->npc_valid = false;
	}
	if (rc) {
		pthread_mutex_unlock(&c->mu);
		jn_consumer_cfg_fini(&nc);
		return rc;
	}
	bool deliver_changed = c->cfg.deliver_subject && nc.deliver_subject &&
	                       strcmp(c->cfg.deliver_subject, nc.deliver_subject) != 0;
	if (deliver_changed) {
		/* everything outstanding goes again to the new subject */
		uint64_t *exp = NULL;
		size_t n = 0;
		if (c->npending)
			exp = jn_malloc(c->npending * sizeof *exp);
		for (size_t i = 0; exp && i < c->pm.cap; i++) {
			struct pent *e = &c->pm.t[i];
			if (e->sseq && e->pending && !e->on_rdq)
				exp[n++] = e->sseq;
		}
		qsort(exp, n, sizeof *exp, cmp_u64);
		for (size_t i = 0; i < n; i++)
			if (!rdq_push(c, exp[i]))
				pget(&c->pm, exp[i])->on_rdq = true;
		jn_free(exp);
		c->active = has_interest(c, nc.deliver_subject, strlen(nc.deliver_subject));
	}
	jn_consumer_cfg_fini(&c->cfg);
	c->cfg = nc;
	apply_cfg_runtime(c, jn_js_now_ns());
	if (c->cs) {
		jn_cstate_set_policy(c->cs, cs_policy(&c->cfg), c->cfg.max_deliver);
		save_config(c);
	}
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int jn_consumer_create(struct jn_stream *st, const struct jn_consumer_cfg *req,
                       struct jn_consumer **out, char *errbuf, size_t errcap)
{
	if (errcap)
		errbuf[0] = '\0';
	struct jn_consumer_cfg cfg;
	if (jn_consumer_cfg_copy(&cfg, req))
		return -JN_ENOMEM;
	jn_consumer_cfg_defaults(&cfg);
	struct jn_stream_cfg scfg;
	int rc = jn_stream_config(st, &scfg);
	if (rc) {
		jn_consumer_cfg_fini(&cfg);
		return rc == -JN_ECLOSED ? -JN_ESTREAMNOTFOUND : rc;
	}
	rc = jn_consumer_cfg_check(&cfg, &scfg, errbuf, errcap);
	enum jn_retention ret = scfg.retention;
	jn_stream_cfg_fini(&scfg);
	if (rc) {
		jn_consumer_cfg_fini(&cfg);
		return rc;
	}

	const char *cname = cfg.durable_name ? cfg.durable_name : cfg.name;
	struct jn_consumer *c = NULL;
	/* creates are rare: one at a time, so two creates of one durable never
	 * share its state directory */
	pthread_mutex_lock(&create_mu);
	for (int attempt = 0; attempt < 3; attempt++) {
		if (cname) {
			struct jn_consumer *eo = jn_stream_consumer_find(st, cname, strlen(cname));
			if (eo) {
				rc = update(eo, &cfg, errbuf, errcap);
				if (rc == -JN_ECONSUMERNOTFOUND)
					continue;   /* deleted meanwhile: create it */
				if (!rc)
					*out = eo;
				goto fail;
			}
		}
		if (ret == JN_RET_WORKQUEUE && !cfg.direct && cfg.ack_policy != JN_ACK_EXPLICIT) {
			rc = -JN_EWQEXPLICITACK;
			goto fail;
		}
		if (cfg.durable_name && strlen(cfg.durable_name) > JN_JS_NAME_MAX) {
			rc = -JN_ECONSUMERNAMELEN;
			goto fail;
		}
		char gen[9];
		const char *name = cname;
		if (!name) {
			random_name(gen);
			name = gen;
		}
		if (!name_chars_ok(name)) {
			rc = -JN_ECONSUMERNAME;
			goto fail;
		}
		c = consumer_alloc(st, name);
		if (!c) {
			rc = -JN_ENOMEM;
			goto fail;
		}
		if ((rc = jn_consumer_cfg_copy(&c->cfg, &cfg)))
			goto fail_c;
		c->durable = cfg.durable_name != NULL;
		int64_t now = jn_js_now_ns();
		c->created = now;
		apply_cfg_runtime(c, now);
		if (!c->store) {
			rc = -JN_ESTREAMNOTFOUND;
			goto fail_c;
		}
		if ((rc = select_start(c)))
			goto fail_c;
		if (wants_files(c)) {
			c->dir = consumer_dir(st, name);
			if (!c->dir) {
				rc = -JN_ENOMEM;
				goto fail_c;
			}
			jn_rmtree(c->dir);   /* leftovers of a consumer deleted during a crash */
			rc = jn_cstate_open(c->dir, cs_policy(&c->cfg), c->cfg.max_deliver, &c->cs);
			if (!rc)
				rc = save_config(c);
			if (!rc && c->sseq > 1)
				rc = jn_cstate_set_starting(c->cs, c->sseq - 1);
			if (rc) {
				if (errcap)
					snprintf(errbuf, errcap, "error creating store for consumer: %s",
					         jn_strerror(rc));
				rc = -JN_ECONSUMERSTORE;
				goto fail_c;
			}
		}
		if (is_push(c))
			c->active = has_interest(c, c->cfg.deliver_subject,
			                         strlen(c->cfg.deliver_subject));
		c->last_activity = now;
		struct jn_stream_consumer_desc d = {
			.name = c->name,
			.filter = c->cfg.filter_subject,
			.deliver_all = c->cfg.deliver_policy == JN_DELIVER_ALL,
		};
		rc = jn_stream_consumer_add(st, c, &d);
		if (rc == -JN_ECONSUMEREXISTS && cname) {
			/* a concurrent create of the same name won: update that one */
			if (c->cs) {
				jn_cstate_free(c->cs);   /* the dir is the winner's now */
				c->cs = NULL;
			}
			consumer_free(c);
			c = NULL;
			continue;
		}
		if (rc == -JN_ECLOSED)
			rc = -JN_ESTREAMNOTFOUND;
		if (rc)
			goto fail_c;
		*out = c;
		pthread_mutex_unlock(&create_mu);
		jn_consumer_cfg_fini(&cfg);
		return 0;
	}
	rc = -JN_ECONSUMEREXISTS;
	goto fail;
fail_c:
	if (c->cs) {
		jn_cstate_delete(c->cs);
		c->cs = NULL;
	}
	if (c->dir)
		jn_rmtree(c->dir);
	consumer_free(c);
fail:
	pthread_mutex_unlock(&create_mu);
	jn_consumer_cfg_fini(&cfg);
	return rc;
}

/* Start delivering what is available (after a create). */
void jn_consumer_kick(struct jn_consumer *c, struct jn_pub *pub)
{
	pump(c, pub, WORKER_BUDGET);
}

/* ---- choosing and committing the next delivery -------------------------- */

enum cand_src { SRC_NONE = 0, SRC_RDQ, SRC_NEW };
enum cand_why { WHY_OK = 0, WHY_EOF, WHY_MAXP, WHY_ERR };

struct cand {
	enum cand_src src;
	uint64_t seq;
	uint64_t dc;
	bool last_lss;
};

/* nats-server's getNextMsg without the commit: the message goes into c->sm.
 * Dropping redeliveries beyond max_deliver happens here (for good). */
static enum cand_why select_next(struct jn_consumer *c, int64_t now, struct cand *k)
{
	memset(k, 0, sizeof *k);
	while (c->rdq_len) {
		uint64_t seq = c->rdq[c->rdq_head];
		struct pent *e = pget(&c->pm, seq);
		if (!e || !e->on_rdq) {
			c->rdq_head++;
			c->rdq_len--;
			continue;
		}
		uint64_t dc = e->rdc + 2;
		if (c->cfg.max_deliver > 0 && dc > (uint64_t)c->cfg.max_deliver) {
			c->rdq_head++;
			c->rdq_len--;
			e->on_rdq = false;
			if (e->rdc++ == 0)
				c->nredelivered++;
			if (e->pending) {
				e->pending = false;
				c->npending--;
			}
			cs_deliver(c, e->cseq, seq, dc, now);
			continue;
		}
		if (jn_store_load(c->store, seq, &c->sm)) {
			/* gone from the stream: nothing to redeliver */
			c->rdq_head++;
			c->rdq_len--;
			e->on_rdq = false;
			if (e->pending) {
				e->pending = false;
				c->npending--;
			}
			maybe_drop(c, e);
			continue;
		}
		k->src = SRC_RDQ;
		k->seq = seq;
		k->dc = dc;
		return WHY_OK;
	}
	if (c->rdq_len == 0)
		c->rdq_head = 0;
	/* last_per_subject entries already passed (a message deleted during
	 * the catch-up made an earlier load jump ahead) are skipped, so
	 * nothing goes out twice */
	while (c->lss && c->ilss > 0 && c->ilss < c->nlss && c->lss[c->ilss] < c->sseq)
		c->ilss++;
	if (c->lss && c->ilss >= c->nlss) {
		if (c->sseq < c->lss_resume)
			c->sseq = c->lss_resume;
		jn_free(c->lss);
		c->lss = NULL;
		c->nlss = c->ilss = 0;
	}
	uint64_t start = c->sseq;
	if (c->lss && c->ilss < c->nlss) {
		start = c->lss[c->ilss];
		k->last_lss = c->ilss + 1 == c->nlss;
	}
	if (c->cfg.max_ack_pending > 0 && c->npending >= (uint64_t)c->cfg.max_ack_pending)
		return WHY_MAXP;
	size_t fl;
	const char *f = filter(c, &fl);
	int rc = jn_store_load_next(c->store, start, f, fl, &c->sm);
	struct jn_store_state s;
	if (rc == -JN_ENOTFOUND) {
		/* Another thread may have appended between that load and now:
		 * read the state first, then look again, so the cursor below
		 * never jumps over a message that load did not see. */
		jn_store_state(c->store, &s);
		rc = jn_store_load_next(c->store, start, f, fl, &c->sm);
	}
	if (rc) {
		if (rc != -JN_ENOTFOUND)
			return WHY_ERR;
		/* EOF: the cursor moves to the end, as nats-server's store says */
		if (c->lss) {   /* nothing matching at or after any remaining entry */
			jn_free(c->lss);
			c->lss = NULL;
			c->nlss = c->ilss = 0;
		}
		if (s.last_seq >= c->sseq)
			c->sseq = s.last_seq + 1;
		c->npc = 0;
		c->npc_valid = true;
		return WHY_EOF;
	}
	k->src = SRC_NEW;
	k->seq = c->sm.seq;
	k->dc = 1;
	return WHY_OK;
}

static void commit(struct jn_consumer *c, const struct cand *k, int64_t now)
{
	uint64_t dseq = c->dseq++;
	if (k->src == SRC_RDQ) {
		c->rdq_head++;
		c->rdq_len--;
		struct pent *e = pget(&c->pm, k->seq);
		e->on_rdq = false;
		if (e->rdc++ == 0)
			c->nredelivered++;
		e->ts = now;
		if (!e->pending && tracks_acks(c)) {
			/* NAKed after it stopped pending: nats-server tracks it again */
			e->pending = true;
			e->cseq = dseq;
			c->npending++;
		}
	} else {
		if (c->lss && c->ilss < c->nlss) {
			c->ilss++;
			if (k->last_lss) {
				if (c->sseq < c->lss_resume)
					c->sseq = c->lss_resume;
				jn_free(c->lss);
				c->lss = NULL;
				c->nlss = c->ilss = 0;
			}
		}
		if (k->seq >= c->sseq)
			c->sseq = k->seq + 1;
		if (c->npc_valid && c->npc > 0)
			c->npc--;
		if (tracks_acks(c)) {
			struct pent *e = pput(&c->pm, k->seq);
			if (e && !e->pending) {
				e->pending = true;
				e->cseq = dseq;
				e->ts = now;
				c->npending++;
			}
		} else {
			c->adflr = dseq;
			c->asflr = k->seq;
		}
	}
	if (tracks_acks(c) && c->next_check == INT64_MAX)
		c->next_check = now + (c->cfg.ack_wait > 0 ? c->cfg.ack_wait : 1);
	c->ldt = now;
	cs_deliver(c, dseq, k->seq, k->dc, now);
}

static int grow(void **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *np = jn_realloc(*p, n);
	if (!np)
		return -JN_ENOMEM;
	*p = np;
	*cap = n;
	return 0;
}

static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* The ack reply subject into c->ackbuf after its fixed prefix (the same
 * bytes as jn_ack_subject_format, without printf on the hot path). */
static int ack_subject(struct jn_consumer *c, uint64_t dc, uint64_t sseq, uint64_t cseq,
                       int64_t ts, uint64_t pending)
{
	char *p = c->ackbuf + c->ackpre;
	p = put_u64(p, dc);
	*p++ = '.';
	p = put_u64(p, sseq);
	*p++ = '.';
	p = put_u64(p, cseq);
	*p++ = '.';
	if (ts < 0) {
		*p++ = '-';
		ts = -ts;
	}
	p = put_u64(p, (uint64_t)ts);
	*p++ = '.';
	p = put_u64(p, pending);
	*p = '\0';
	return (int)(p - c->ackbuf);
}

/* The subscribers of subj, through a one-entry cache that only the pumper
 * uses: valid while no subscription changed anywhere (the sublist
 * generation), so the subscriptions it names are alive (a removal after
 * the check is retired after our epoch section began). Borrowed result;
 * NULL on OOM. */
static struct jn_match *pumper_match(struct jn_consumer *c, const char *subj, size_t len)
{
	struct jn_sublist *sl = jn_js_router(c->js)->subs;
	uint64_t g = jn_sublist_generation(sl);
	if (c->mc && c->mc_gen == g && c->mc_len == len && memcmp(c->mc_subj, subj, len) == 0)
		return c->mc;
	if (c->mc) {
		jn_match_release(NULL, c->mc);
		c->mc = NULL;
	}
	struct jn_match *m = jn_sublist_match(sl, NULL, subj, len);
	if (!m)
		return NULL;
	c->mc = m;   /* owned by the cache from here on */
	c->mc_len = SIZE_MAX;   /* matches nothing until the subject is kept */
	if (len > c->mc_cap) {
		char *n = jn_realloc(c->mc_subj, len);
		if (!n)
			return m;
		c->mc_subj = n;
		c->mc_cap = len;
	}
	memcpy(c->mc_subj, subj, len);
	c->mc_len = len;
	c->mc_gen = g;
	return m;
}

/* A ready delivery, pointing at the pumper's scratch buffers. */
struct dlv {
	struct jn_msg m;      /* the stored subject, the ack reply, hdr, data */
	const char *tgt;      /* where it goes: deliver subject / request reply */
	size_t tgt_len;
	uint64_t seq;
	bool hint;            /* retention hint after the publish (ack none) */
	bool push;
};

/* The request at the head of the waiting queue that may receive, after
 * expiring and dropping those that may not (nats-server's nextWaiting). */
static struct wreq *head_request(struct jn_consumer *c, int64_t now)
{
	while (c->nwq) {
		struct wreq *w = &c->wq[0];
		if (w->expires && now >= w->expires) {
			queue_status(c, w->reply, w->reply_len, 408, "Request Timeout", true, w->n,
			             w->b);
			wq_remove(c, 0);
			continue;
		}
		struct jn_match *m = pumper_match(c, w->reply, w->reply_len);
		bool any = m ? m->nplain || m->nqueues : has_interest(c, w->reply, w->reply_len);
		if (!any) {
			wq_remove(c, 0);
			continue;
		}
		return w;
	}
	return NULL;
}

/* Build the next delivery under the lock and commit it. 1 = d is ready,
 * 0 = nothing to deliver now. */
static int next_delivery(struct jn_consumer *c, int64_t now, struct dlv *d)
{
	bool push = is_push(c);
	struct wreq *w = NULL;
	if (push) {
		if (!c->active)
			return 0;
		if (c->maxpb > 0 && c->pbytes > c->maxpb)
			return 0;   /* flow control window full */
	} else if (!(w = head_request(c, now))) {
		return 0;
	}
	for (;;) {
		if (w && grow((void **)&c->tgt, &c->tgtcap, w->reply_len + 1))
			return 0;
		struct cand k;
		enum cand_why why = select_next(c, now, &k);
		if (why != WHY_OK) {
			if (!push && why == WHY_EOF)
				process_waiting(c, now, true, false);
			return 0;
		}
		if (c->replay && k.src == SRC_NEW) {
			if (k.seq > c->replay_lseq) {
				c->replay = false;
			} else if (c->replay_lts > 0 && c->replay_seq != k.seq) {
				int64_t delay = c->sm.ts - c->replay_lts;
				if (delay > NS_MS) {
					c->replay_seq = k.seq;
					c->replay_due = now + delay;
					return 0;
				}
			} else if (c->replay_seq == k.seq && now < c->replay_due) {
				return 0;
			}
		}
		uint64_t npc = npc_get(c);
		uint64_t pend = k.src == SRC_NEW && npc > 0 ? npc - 1 : npc;
		int al = ack_subject(c, k.dc, k.seq, c->dseq, c->sm.ts, pend);
		const uint8_t *hdr = c->sm.hdr;
		uint32_t hl = c->sm.hdr_len;
		const uint8_t *data = c->sm.data;
		uint32_t dl = c->sm.data_len;
		if (c->cfg.headers_only) {
			/* headers kept, body replaced by its size */
			size_t need = (hl ? hl : 10) + 64;
			if (grow((void **)&c->hdrbuf, &c->hdrcap, need))
				return 0;
			size_t n = 0;
			if (hl) {
				memcpy(c->hdrbuf, hdr, hl - 2);
				n = hl - 2;
			} else {
				memcpy(c->hdrbuf, "NATS/1.0\r\n", 10);
				n = 10;
			}
			n += (size_t)snprintf((char *)c->hdrbuf + n, c->hdrcap - n,
			                      "Nats-Msg-Size: %u\r\n\r\n", dl);
			hdr = c->hdrbuf;
			hl = (uint32_t)n;
			data = NULL;
			dl = 0;
		}
		int64_t sz = (int64_t)c->sm.subject_len + al + hl + dl;
		if (w && w->b > 0) {
			if (sz > w->b) {
				queue_status(c, w->reply, w->reply_len, 409,
				             "Message Size Exceeds MaxBytes", true, w->n, w->b);
				wq_remove(c, 0);
				if (!(w = head_request(c, now)))
					return 0;
				continue;   /* same message, next request */
			}
			w->b -= sz;
			if (w->b == 0)
				w->n = 1;
		}
		commit(c, &k, now);
		const char *tgt;
		size_t tl;
		if (push) {
			tgt = c->cfg.deliver_subject;
			tl = strlen(tgt);
		} else {
			memcpy(c->tgt, w->reply, w->reply_len);
			tgt = c->tgt;
			tl = w->reply_len;
			w->n--;
			w->d++;
			if (w->n <= 0) {
				wq_remove(c, 0);
			} else {
				if (w->hb > 0)
					w->hbt = now + w->hb;
				if (c->nwq > 1) {   /* round robin among waiting requests */
					struct wreq t = *w;
					memmove(c->wq, c->wq + 1, (c->nwq - 1) * sizeof *c->wq);
					c->wq[c->nwq - 1] = t;
				}
			}
			c->last_activity = now;
		}
		if (c->replay && k.src == SRC_NEW)
			c->replay_lts = c->sm.ts;
		d->m = (struct jn_msg){
			.subject = c->sm.subject, .subject_len = c->sm.subject_len,
			.reply = c->ackbuf, .reply_len = (uint32_t)al,
			.hdr = hl ? hdr : NULL, .hdr_len = hl,
			.data = data, .data_len = dl,
		};
		d->seq = k.seq;
		d->push = push;
		d->hint = !tracks_acks(c) && c->retention != JN_RET_LIMITS;
		if (push) {
			c->next_hb = c->cfg.idle_heartbeat > 0 ? now + c->cfg.idle_heartbeat : 0;
			if (c->maxpb > 0) {
				c->pbytes += (int64_t)tl + al + hl + dl;
				if (!c->fcid[0] && c->pbytes > c->maxpb / 2) {
					int n = snprintf(c->fcid, sizeof c->fcid, "$JS.FC.%s.%s.", c->stream_name,
					                 c->name);
					static const char alnum[] =
						"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
					for (int i = 0; i < 4 && n + i + 1 < (int)sizeof c->fcid; i++) {
						c->fcid[n + i] = alnum[jn_router_rand(62)];
						c->fcid[n + i + 1] = '\0';
					}
					c->fcsz = c->pbytes;
					uint8_t fh[64];
					struct jn_hdr_buf hb;
					jn_hdr_begin(&hb, fh, sizeof fh, 100, "FlowControl Request");
					int fl = jn_hdr_done(&hb);
					if (fl > 0)
						outbox_add(c, tgt, tl, c->fcid, strlen(c->fcid), fh, (size_t)fl);
				} else if (c->fcid[0] && c->pbytes - c->fcsz >= c->maxpb) {
					c->fcsz += sz;
				}
			}
		}
		d->tgt = tgt;
		d->tgt_len = tl;
		return 1;
	}
}

/* ---- the pump ------------------------------------------------------------- */

/* Deliver msg to the subscribers of tgt the way the router would (every
 * plain subscription, one member of each queue group), but showing the
 * message's stored subject, as nats-server does: the client sees
 * "MSG ORDERS.processed <sid> $JS.ACK..." on its inbox subscription.
 * Returns the deliveries made. */
static int deliver_to(struct jn_consumer *c, struct jn_pub *ctx, const char *tgt, size_t tl,
                      const struct jn_msg *msg)
{
	struct jn_pub pub = { .origin_id = 0, .batch = ctx ? ctx->batch : NULL };
	if (!ctx)
		jn_router_thread_enter();
	struct jn_match *m = pumper_match(c, tgt, tl);
	int n = 0;
	if (m) {
		for (uint32_t i = 0; i < m->nplain; i++) {
			struct jn_sub *s = m->plain[i];
			if (s->deliver) {
				s->deliver(s, msg, &pub);
				n++;
			}
		}
		for (uint32_t g = 0; g < m->nqueues; g++) {
			const struct jn_qgroup *q = &m->queues[g];
			uint32_t start = jn_router_rand(q->n);
			for (uint32_t k = 0; k < q->n; k++) {
				struct jn_sub *s = q->members[(start + k) % q->n];
				if (s->deliver) {
					s->deliver(s, msg, &pub);
					n++;
					break;
				}
			}
		}
	}
	if (!ctx) {
		jn_router_thread_exit();
		jn_epoch_poll();
	}
	return n;
}

static void pump(struct jn_consumer *c, struct jn_pub *ctx, int budget)
{
	pthread_mutex_lock(&c->mu);
	if (c->pumping) {
		c->kick = true;
		pthread_mutex_unlock(&c->mu);
		return;
	}
	c->pumping = true;
	c->more = false;
	for (;;) {
		if (c->closed)
			break;
		c->kick = false;
		struct outmsg *om = c->out_head;
		if (om) {
			c->out_head = om->next;
			if (!c->out_head)
				c->out_tail = NULL;
			pthread_mutex_unlock(&c->mu);
			struct jn_msg m = {
				.subject = om->data, .subject_len = om->subj_len,
				.reply = om->reply_len ? om->data + om->subj_len : NULL,
				.reply_len = om->reply_len,
				.hdr = (const uint8_t *)om->data + om->subj_len + om->reply_len,
				.hdr_len = om->hdr_len,
			};
			jn_js_publish(c->js, ctx, &m);
			jn_free(om);
			pthread_mutex_lock(&c->mu);
			continue;
		}
		if (budget <= 0) {
			c->more = true;
			break;
		}
		struct dlv d;
		int64_t now = jn_js_now_ns();
		if (!next_delivery(c, now, &d)) {
			if (c->kick || c->out_head)
				continue;
			break;
		}
		budget--;
		pthread_mutex_unlock(&c->mu);
		int n = deliver_to(c, ctx, d.tgt, d.tgt_len, &d.m);
		if (d.hint)
			jn_stream_ack_hint(c->st, d.seq, c);
		pthread_mutex_lock(&c->mu);
		if (n == 0 && d.push)
			c->active = false;   /* nobody listens: wait for interest */
	}
	c->pumping = false;
	pthread_mutex_unlock(&c->mu);
}

static void pump_from(struct jn_consumer *c, void *batch, int budget)
{
	if (batch) {
		struct jn_pub p = { .origin_id = 0, .batch = batch };
		pump(c, &p, budget);
	} else {
		pump(c, NULL, budget);
	}
}

/* ---- stream hooks --------------------------------------------------------- */

void jn_consumer_on_new_message(struct jn_consumer *c, uint64_t seq, const char *subj,
                                size_t subj_len, void *batch)
{
	pthread_mutex_lock(&c->mu);
	if (c->closed) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	if (c->npc_valid && seq >= c->sseq)
		c->npc++;
	bool work = is_push(c) ? c->active : c->nwq > 0;
	pthread_mutex_unlock(&c->mu);
	if (work)
		pump_from(c, batch, WORKER_BUDGET);
}

bool jn_consumer_acked(struct jn_consumer *c, uint64_t seq)
{
	pthread_mutex_lock(&c->mu);
	bool acked;
	if (seq <= c->asflr)
		acked = true;
	else if (c->cfg.ack_policy != JN_ACK_EXPLICIT || seq >= c->sseq)
		acked = false;
	else {
		struct pent *e = pget(&c->pm, seq);
		acked = !(e && e->pending);
	}
	pthread_mutex_unlock(&c->mu);
	return acked;
}

void jn_consumer_on_purge(struct jn_consumer *c, const char *filt, uint64_t first_seq)
{
	(void)filt;
	pthread_mutex_lock(&c->mu);
	if (c->closed) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	if (first_seq == 0) {
		struct jn_store_state s;
		jn_store_state(c->store, &s);
		first_seq = s.last_seq + 1;
	}
	if (c->sseq < first_seq)
		c->sseq = first_seq;
	if (c->asflr < first_seq) {
		c->asflr = first_seq - 1;
		c->adflr = c->dseq - 1;
	}
	/* nats-server drops every pending ack on a purge; redelivery counts and
	 * queued redeliveries at or past the cursor stay */
	for (size_t i = 0; i < c->pm.cap;) {
		struct pent *e = &c->pm.t[i];
		if (!e->sseq) {
			i++;
			continue;
		}
		if (e->pending) {
			e->pending = false;
			c->npending--;
		}
		if (e->on_rdq && e->sseq < c->sseq) {
			rdq_remove(c, e->sseq);
			e = &c->pm.t[i];
		}
		if (!e->rdc && !e->on_rdq) {
			pdel(&c->pm, e);   /* the slot now holds a later entry: look again */
			continue;
		}
		i++;
	}
	if (!c->npending)
		c->next_check = INT64_MAX;
	c->npc_valid = false;
	jn_free(c->lss);
	c->lss = NULL;
	c->nlss = c->ilss = 0;
	if (c->cs)
		jn_cstate_record_ack_floor(c->cs, c->adflr, c->asflr);
	pthread_mutex_unlock(&c->mu);
}

/* nats-server's checkPending: queue every message whose ack_wait (or
 * backoff step) ran out, and say when to look next. */
static void check_pending(struct jn_consumer *c, int64_t now)
{
	int64_t ttl = c->cfg.ack_wait > 0 ? c->cfg.ack_wait : JN_CONSUMER_ACK_WAIT_DEFAULT_NS;
	int64_t next = ttl;
	uint32_t nb = c->cfg.nbackoff;
	if (nb)
		next = c->cfg.backoff[nb - 1];
	struct jn_store_state s;
	jn_store_state(c->store, &s);
	uint64_t *exp = NULL;
	size_t nexp = 0, capexp = 0;
	for (size_t i = 0; i < c->pm.cap;) {
		struct pent *e = &c->pm.t[i];
		if (!e->sseq || !e->pending) {
			i++;
			continue;
		}
		if (e->sseq < s.first_seq) {   /* gone from the stream */
			forget(c, e->sseq);
			continue;
		}
		int64_t elapsed = now - e->ts, deadline = ttl;
		if (nb) {
			uint64_t dc = e->rdc, nbi = dc + 1;
			if (dc + 1 >= nb) {
				dc = nb - 1;
				nbi = dc;
			}
			deadline = c->cfg.backoff[dc];
			if (c->cfg.backoff[nbi] < next)
				next = c->cfg.backoff[nbi];
		}
		if (elapsed >= deadline) {
			if (!e->on_rdq) {
				if (nexp == capexp) {
					size_t ncap = capexp ? capexp * 2 : 16;
					uint64_t *ne = jn_realloc(exp, ncap * sizeof *ne);
					if (!ne)
						break;
					exp = ne;
					capexp = ncap;
				}
				exp[nexp++] = e->sseq;
			}
		} else if (deadline - elapsed < next) {
			next = deadline - elapsed;
		}
		i++;
	}
	if (nexp) {
		qsort(exp, nexp, sizeof *exp, cmp_u64);
		int64_t off = now - pget(&c->pm, exp[0])->ts;
		for (size_t i = 0; i < nexp; i++) {
			struct pent *e = pget(&c->pm, exp[i]);
			if (!rdq_push(c, exp[i]))
				e->on_rdq = true;
			/* keeps their order for later redeliveries */
			e->ts += off;
		}
	}
	jn_free(exp);
	c->next_check = c->npending ? now + (next > 0 ? next : NS_MS) : INT64_MAX;
}

void jn_consumer_tick(struct jn_consumer *c, int64_t now)
{
	pthread_mutex_lock(&c->mu);
	if (c->closed) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	bool work = c->more || c->out_head;
	bool del = false;
	if (c->npending && now >= c->next_check) {
		check_pending(c, now);
		work |= c->rdq_len > 0;
	}
	if (c->replay_due && now >= c->replay_due) {
		c->replay_due = 0;
		work = true;
	}
	/* interest is looked up at most every 100 ms (a failed delivery marks a
	 * push consumer inactive at once) */
	bool interest = now >= c->next_interest_check;
	if (interest)
		c->next_interest_check = now + 100 * NS_MS;
	if (is_push(c)) {
		bool was = c->active;
		if (interest)
			c->active = has_interest(c, c->cfg.deliver_subject,
			                         strlen(c->cfg.deliver_subject));
		if (c->active) {
			bool avail = c->rdq_len > 0;
			if (!avail) {
				struct jn_store_state s;
				jn_store_state(c->store, &s);
				avail = c->sseq <= s.last_seq;
			}
			c->inactive_since = 0;
			if (!was || avail)
				work = true;
			if (c->cfg.idle_heartbeat > 0 && now >= c->next_hb) {
				queue_heartbeat(c, c->cfg.deliver_subject, strlen(c->cfg.deliver_subject));
				c->next_hb = now + c->cfg.idle_heartbeat;
				work = true;
			}
		} else {
			if (!c->inactive_since)
				c->inactive_since = now;
			else if (c->cfg.inactive_threshold > 0 &&
			         now - c->inactive_since >= c->cfg.inactive_threshold) {
				/* the last look may be 100 ms old: look again first */
				c->active = has_interest(c, c->cfg.deliver_subject,
				                         strlen(c->cfg.deliver_subject));
				if (c->active) {
					c->inactive_since = 0;
					work = true;
				} else {
					del = true;
				}
			}
		}
	} else {
		if (c->nwq) {
			process_waiting(c, now, false, interest);
			bool avail = c->rdq_len > 0;
			if (!avail && c->nwq) {
				struct jn_store_state s;
				jn_store_state(c->store, &s);
				avail = c->sseq <= s.last_seq;
			}
			if (c->nwq && avail)
				work = true;
		}
		if (c->out_head)
			work = true;
		if (c->cfg.inactive_threshold > 0 && c->nwq == 0 &&
		    now - c->last_activity > c->cfg.inactive_threshold)
			del = true;
	}
	pthread_mutex_unlock(&c->mu);
	if (del) {
		jn_debug("jetstream: consumer %s > %s inactive, deleting", c->stream_name, c->name);
		if (jn_consumer_delete(c) == 0)
			return;
	}
	if (work)
		pump(c, NULL, TICK_BUDGET);
}

/* ---- pull requests -------------------------------------------------------- */

/* Go's Duration.String() for the "Exceeded MaxRequestExpires of 1s" text. */
static void go_duration(int64_t ns, char *buf, size_t cap)
{
	if (ns == 0) {
		snprintf(buf, cap, "0s");
		return;
	}
	const char *sign = ns < 0 ? "-" : "";
	uint64_t u = ns < 0 ? (uint64_t)-(ns + 1) + 1 : (uint64_t)ns;
	if (u < 1000000000ULL) {
		const char *unit;
		uint64_t div;
		if (u < 1000) {
			snprintf(buf, cap, "%s%lluns", sign, (unsigned long long)u);
			return;
		} else if (u < 1000000) {
			unit = "\xc2\xb5s";
			div = 1000;
		} else {
			unit = "ms";
			div = 1000000;
		}
		char frac[16] = "";
		uint64_t f = u % div;
		if (f) {
			int w = div == 1000 ? 3 : 6;
			snprintf(frac, sizeof frac, ".%0*llu", w, (unsigned long long)f);
			size_t fl = strlen(frac);
			while (frac[fl - 1] == '0')
				frac[--fl] = '\0';
		}
		snprintf(buf, cap, "%s%llu%s%s", sign, (unsigned long long)(u / div), frac, unit);
		return;
	}
	uint64_t secs = u / 1000000000ULL, f = u % 1000000000ULL;
	char frac[16] = "";
	if (f) {
		snprintf(frac, sizeof frac, ".%09llu", (unsigned long long)f);
		size_t fl = strlen(frac);
		while (frac[fl - 1] == '0')
			frac[--fl] = '\0';
	}
	uint64_t h = secs / 3600, m = secs / 60 % 60, sec = secs % 60;
	if (h)
		snprintf(buf, cap, "%s%lluh%llum%llu%ss", sign, (unsigned long long)h,
		         (unsigned long long)m, (unsigned long long)sec, frac);
	else if (m)
		snprintf(buf, cap, "%s%llum%llu%ss", sign, (unsigned long long)m,
		         (unsigned long long)sec, frac);
	else
		snprintf(buf, cap, "%s%llu%ss", sign, (unsigned long long)sec, frac);
}

void jn_consumer_pull(struct jn_consumer *c, const char *reply, size_t rl,
                      const uint8_t *body, size_t bl, struct jn_pub *ctx)
{
	if (!rl)
		return;
	struct jn_pull_req r;
	char err[160], desc[200];
	if (jn_pull_req_parse(body, bl, &r, err, sizeof err)) {
		for (char *p = err; *p; p++)
			if (*p == '\r' || *p == '\n')
				*p = ' ';
		snprintf(desc, sizeof desc, "Bad Request - %s", err);
		pthread_mutex_lock(&c->mu);
		queue_status(c, reply, rl, 400, desc, false, 0, 0);
		pthread_mutex_unlock(&c->mu);
		pump(c, ctx, WORKER_BUDGET);
		return;
	}
	int64_t now = jn_js_now_ns();
	pthread_mutex_lock(&c->mu);
	if (c->closed) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	int code = 0;
	desc[0] = '\0';
	if (is_push(c)) {
		code = 409;
		snprintf(desc, sizeof desc, "Consumer is push based");
	} else if (c->cfg.max_batch > 0 && r.batch > c->cfg.max_batch) {
		code = 409;
		snprintf(desc, sizeof desc, "Exceeded MaxRequestBatch of %lld",
		         (long long)c->cfg.max_batch);
	} else if (r.expires > 0 && c->cfg.max_expires > 0 && r.expires > c->cfg.max_expires) {
		char d[40];
		go_duration(c->cfg.max_expires, d, sizeof d);
		code = 409;
		snprintf(desc, sizeof desc, "Exceeded MaxRequestExpires of %s", d);
	} else if (r.max_bytes > 0 && c->cfg.max_bytes > 0 && r.max_bytes > c->cfg.max_bytes) {
		code = 409;
		snprintf(desc, sizeof desc, "Exceeded MaxRequestMaxBytes of %lld",
		         (long long)c->cfg.max_bytes);
	}
	if (!code) {
		int64_t maxw = c->cfg.max_waiting > 0 ? c->cfg.max_waiting : JN_CONSUMER_MAX_WAITING_DEFAULT;
		if ((int64_t)c->nwq >= maxw)
			process_waiting(c, now, false, true);
		if (r.no_wait) {
			uint64_t pending = npc_get(c) + c->rdq_len;
			if (pending == 0 && r.expires == 0) {
				c->last_activity = now;
				code = 404;
				snprintf(desc, sizeof desc, "No Messages");
			} else if (pending > 0) {
				int64_t brp = process_waiting(c, now, false, true);
				if (pending < (uint64_t)brp) {
					c->last_activity = now;
					code = 408;
					snprintf(desc, sizeof desc, "Requests Pending");
				}
			}
		}
		if (!code && (int64_t)c->nwq >= maxw) {
			code = 409;
			snprintf(desc, sizeof desc, "Exceeded MaxWaiting");
		}
	}
	if (!code && c->nwq == c->capwq) {
		size_t ncap = c->capwq ? c->capwq * 2 : 8;
		struct wreq *nw = jn_realloc(c->wq, ncap * sizeof *nw);
		if (nw) {
			c->wq = nw;
			c->capwq = ncap;
		}
	}
	char *rcopy = NULL;
	if (!code && c->nwq < c->capwq && (rcopy = jn_strndup(reply, rl))) {
		c->wq[c->nwq++] = (struct wreq){
			.reply = rcopy, .reply_len = (uint32_t)rl, .n = r.batch, .b = r.max_bytes,
			.expires = r.expires ? now + r.expires : 0, .hb = r.idle_heartbeat,
			.hbt = r.idle_heartbeat ? now + r.idle_heartbeat : 0, .no_wait = r.no_wait,
		};
		c->last_activity = now;
	}
	if (code)
		queue_status(c, reply, rl, code, desc, false, 0, 0);
	pthread_mutex_unlock(&c->mu);
	pump(c, ctx, WORKER_BUDGET);
}

/* ---- acks ----------------------------------------------------------------- */

/* The floor moves past the acked message and any acked ones after it, up
 * to (not including) the oldest message still pending. */
static void explicit_floor(struct jn_consumer *c, uint64_t dseq, uint64_t sseq)
{
	if (c->npending == 0) {
		c->adflr = c->dseq - 1;
		c->asflr = c->sseq - 1;
		return;
	}
	if (dseq != c->adflr + 1)
		return;
	c->adflr = dseq;
	c->asflr = sseq;
	/* the first pending message after sseq: walk the gap or the map,
	 * whichever is shorter */
	uint64_t best = 0;
	if (c->sseq - sseq <= c->pm.cap) {
		for (uint64_t ss = sseq + 1; ss < c->sseq; ss++) {
			struct pent *e = pget(&c->pm, ss);
			if (e && e->pending) {
				best = ss;
				break;
			}
		}
	} else {
		for (size_t i = 0; i < c->pm.cap; i++) {
			struct pent *e = &c->pm.t[i];
			if (e->sseq > sseq && e->pending && (!best || e->sseq < best))
				best = e->sseq;
		}
	}
	if (best) {
		struct pent *e = pget(&c->pm, best);
		if (e->cseq > 0) {
			c->adflr = e->cseq - 1;
			c->asflr = best - 1;
		}
	}
}

/* nats-server's processAckMsg. Fills hints with the stream seqs whose ack
 * the stream must hear about (interest / workqueue retention); returns
 * their count (hints may be reallocated; the caller frees it). Sets
 * *unblock when max_ack_pending stopped being a limit. */
static size_t process_ack(struct jn_consumer *c, uint64_t sseq, uint64_t dseq, int64_t now,
                          uint64_t **hints, bool *unblock)
{
	size_t nh = 0;
	*unblock = false;
	bool at_max = c->cfg.max_ack_pending > 0 &&
	              c->npending >= (uint64_t)c->cfg.max_ack_pending;
	switch (c->cfg.ack_policy) {
	case JN_ACK_EXPLICIT: {
		struct pent *e = pget(&c->pm, sseq);
		bool was = false;
		if (e && e->pending) {
			dseq = e->cseq;
			was = true;
		}
		forget(c, sseq);
		explicit_floor(c, dseq, sseq);
		c->lat = now;
		cs_ack(c, dseq, sseq);
		if (was)
			*unblock = at_max;
		if (was && c->retention != JN_RET_LIMITS) {
			if ((*hints = jn_malloc(sizeof **hints))) {
				(*hints)[0] = sseq;
				nh = 1;
			}
		}
		break;
	}
	case JN_ACK_ALL: {
		if (dseq <= c->adflr || sseq <= c->asflr)
			return 0;
		*unblock = at_max;
		uint64_t from = c->asflr;
		c->adflr = dseq;
		c->asflr = sseq;
		size_t cap = 0;
		/* everything at or below sseq is acked */
		if (sseq - from <= c->pm.cap) {
			for (uint64_t s = from + 1; s <= sseq; s++) {
				if (forget(c, s) && c->retention != JN_RET_LIMITS) {
					if (nh == cap) {
						cap = cap ? cap * 2 : 16;
						uint64_t *n = jn_realloc(*hints, cap * sizeof *n);
						if (!n)
							break;
						*hints = n;
					}
					(*hints)[nh++] = s;
				}
			}
		} else {
			for (size_t i = 0; i < c->pm.cap;) {
				struct pent *e = &c->pm.t[i];
				if (e->sseq && e->sseq <= sseq) {
					uint64_t s = e->sseq;
					if (forget(c, s) && c->retention != JN_RET_LIMITS) {
						if (nh == cap) {
							cap = cap ? cap * 2 : 16;
							uint64_t *n = jn_realloc(*hints, cap * sizeof *n);
							if (n)
								*hints = n;
						}
						if (nh < cap)
							(*hints)[nh++] = s;
					}
					continue;   /* the slot was refilled by the shift */
				}
				i++;
			}
		}
		c->lat = now;
		cs_ack(c, dseq, sseq);
		break;
	}
	default:
		return 0;
	}
	if (!c->npending)
		c->next_check = INT64_MAX;
	return nh;
}

void jn_consumer_ack(struct jn_consumer *c, const struct jn_ack_info *ai,
                     const struct jn_msg *msg, struct jn_pub *ctx)
{
	int64_t delay = 0;
	const uint8_t *rest;
	size_t rest_len;
	enum jn_ack_kind kind = jn_ack_body_parse(msg->data, msg->data_len, &delay, &rest,
	                                          &rest_len);
	int64_t now = jn_js_now_ns();
	uint64_t *hints = NULL;
	size_t nh = 0;
	bool kick = false;
	pthread_mutex_lock(&c->mu);
	if (c->closed) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	uint64_t sseq = ai->sseq, dseq = ai->cseq;
	switch (kind) {
	case JN_ACK_ACK:
	case JN_ACK_TERM:
	case JN_ACK_NXT:
		nh = process_ack(c, sseq, dseq, now, &hints, &kick);
		break;
	case JN_ACK_NAK: {
		if (dseq <= c->adflr || dseq > c->dseq)
			break;
		struct pent *e = pget(&c->pm, sseq);
		if (c->npending > 0 && !(e && e->pending))
			break;
		if (delay > 0) {
			rdq_remove(c, sseq);
			e = pget(&c->pm, sseq);
			if (e && e->pending) {
				e->ts = now - c->cfg.ack_wait + delay;
				cs_deliver(c, e->cseq, sseq, ai->delivered, e->ts);
				c->ldt = now;
				if (c->next_check > now + 10 * NS_MS)
					c->next_check = now + 10 * NS_MS;
			}
			break;
		}
		if (!on_rdq(c, sseq)) {
			if (!e)
				e = pput(&c->pm, sseq);
			if (e && !rdq_push(c, sseq))
				e->on_rdq = true;
		}
		kick = true;
		break;
	}
	case JN_ACK_WPI: {
		struct pent *e = pget(&c->pm, sseq);
		if (e && e->pending) {
			e->ts = now;
			cs_deliver(c, e->cseq, sseq, 1, now);
			c->ldt = now;
		}
		break;
	}
	default:
		break;
	}
	struct jn_stream *st = c->st;
	pthread_mutex_unlock(&c->mu);

	for (size_t i = 0; i < nh; i++)
		jn_stream_ack_hint(st, hints[i], c);
	jn_free(hints);
	if (kind == JN_ACK_NXT) {
		jn_consumer_pull(c, msg->reply, msg->reply_len, rest, rest_len, ctx);
		return;
	}
	if (msg->reply_len) {   /* AckSync: an empty message says it is done */
		struct jn_msg r = { .subject = msg->reply, .subject_len = msg->reply_len };
		jn_js_publish(c->js, ctx, &r);
	}
	if (kick)
		pump(c, ctx, WORKER_BUDGET);
}

void jn_consumer_flow_control(struct jn_consumer *c, const char *subj, size_t len,
                              struct jn_pub *ctx)
{
	pthread_mutex_lock(&c->mu);
	if (c->closed || !c->fcid[0] || strlen(c->fcid) != len ||
	    memcmp(c->fcid, subj, len) != 0) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	if (c->maxpb < c->pblimit) {
		c->maxpb *= 2;
		if (c->maxpb > c->pblimit)
			c->maxpb = c->pblimit;
	}
	c->pbytes -= c->fcsz;
	if (c->pbytes < 0)
		c->pbytes = 0;
	c->fcid[0] = '\0';
	c->fcsz = 0;
	pthread_mutex_unlock(&c->mu);
	pump(c, ctx, WORKER_BUDGET);
}

/* ---- info ----------------------------------------------------------------- */

static json_t *seq_info(uint64_t cseq, uint64_t sseq, int64_t last)
{
	json_t *o = json_object();
	json_object_set_new(o, "consumer_seq", jn_js_u64(cseq));
	json_object_set_new(o, "stream_seq", jn_js_u64(sseq));
	if (last)
		json_object_set_new(o, "last_active", jn_js_time_json(last));
	return o;
}

json_t *jn_consumer_info_json(struct jn_consumer *c)
{
	int64_t now = jn_js_now_ns();
	pthread_mutex_lock(&c->mu);
	if (c->closed) {
		pthread_mutex_unlock(&c->mu);
		return NULL;
	}
	bool kick = false;
	if (is_push(c)) {
		bool was = c->active;
		c->active = has_interest(c, c->cfg.deliver_subject, strlen(c->cfg.deliver_subject));
		kick = c->active && !was;
	} else if (c->nwq) {
		process_waiting(c, now, false, true);
		kick = c->out_head != NULL;
	}
	json_t *o = json_object();
	json_object_set_new(o, "stream_name", json_string(c->stream_name));
	json_object_set_new(o, "name", json_string(c->name));
	json_object_set_new(o, "created", jn_js_time_json(c->created));
	json_object_set_new(o, "config", jn_consumer_cfg_to_json(&c->cfg));
	json_object_set_new(o, "delivered", seq_info(c->dseq - 1, c->sseq ? c->sseq - 1 : 0,
	                                             c->ldt));
	json_object_set_new(o, "ack_floor", seq_info(c->adflr, c->asflr, c->lat));
	json_object_set_new(o, "num_ack_pending", jn_js_u64(c->npending));
	json_object_set_new(o, "num_redelivered", jn_js_u64(c->nredelivered));
	json_object_set_new(o, "num_waiting", jn_js_u64(is_push(c) ? 0 : c->nwq));
	json_object_set_new(o, "num_pending", jn_js_u64(npc_exact(c)));
	if (is_push(c) && c->active)
		json_object_set_new(o, "push_bound", json_true());
	pthread_mutex_unlock(&c->mu);
	if (kick)
		pump(c, NULL, WORKER_BUDGET);
	return o;
}

/* ---- recovery ------------------------------------------------------------- */

static int recover_one(struct jn_stream *st, const char *name)
{
	char *dir = consumer_dir(st, name);
	if (!dir)
		return -JN_ENOMEM;
	struct jn_cstate *cs = NULL;
	struct jn_consumer_state state = { 0 };
	json_t *blob = NULL;
	struct jn_consumer *c = NULL;
	int rc = jn_cstate_open(dir, JN_CS_ACK_NONE, 0, &cs);
	if (!rc)
		rc = jn_cstate_load(cs, &state);
	if (rc)
		goto fail;
	json_error_t je;
	if (!state.config || !(blob = json_loadb(state.config, state.config_len, 0, &je))) {
		rc = -JN_EIO;
		goto fail;
	}
	struct jn_consumer_cfg cfg;
	if ((rc = jn_consumer_cfg_parse(json_object_get(blob, "config"), &cfg)))
		goto fail;
	c = consumer_alloc(st, name);
	if (!c) {
		jn_consumer_cfg_fini(&cfg);
		rc = -JN_ENOMEM;
		goto fail;
	}
	c->cfg = cfg;
	c->durable = true;
	c->dir = dir;
	dir = NULL;
	int64_t created = 0;
	jn_js_get_i64(blob, "created", &created);
	int64_t now = jn_js_now_ns();
	c->created = created ? created : now;
	apply_cfg_runtime(c, now);
	if (!c->store) {
		rc = -JN_ECLOSED;
		goto fail;
	}
	jn_cstate_set_policy(cs, cs_policy(&c->cfg), c->cfg.max_deliver);
	c->dseq = state.delivered_cseq + 1;
	c->sseq = state.delivered_sseq + 1;
	c->adflr = state.ack_floor_cseq;
	/* set_starting stored the start in the floor too; nats-server keeps
	 * the floor at 0 until something is acked */
	c->asflr = state.ack_floor_cseq ? state.ack_floor_sseq : 0;
	for (size_t i = 0; i < state.npending; i++) {
		struct pent *e = pput(&c->pm, state.pending[i].sseq);
		if (!e) {
			rc = -JN_ENOMEM;
			goto fail;
		}
		e->pending = true;
		e->cseq = state.pending[i].cseq;
		e->ts = state.pending[i].ts;
		c->npending++;
	}
	for (size_t i = 0; i < state.nredelivered; i++) {
		struct pent *e = pput(&c->pm, state.redelivered[i].sseq);
		if (!e) {
			rc = -JN_ENOMEM;
			goto fail;
		}
		if (!e->rdc && state.redelivered[i].count)
			c->nredelivered++;
		e->rdc = state.redelivered[i].count;
		if (!e->rdc)
			maybe_drop(c, e);
	}
	if (c->npending)
		c->next_check = now;
	if (c->cfg.replay_policy == JN_REPLAY_ORIGINAL) {
		c->replay = true;
		struct jn_store_state s;
		jn_store_state(c->store, &s);
		c->replay_lseq = s.last_seq;
	}
	c->last_activity = now;
	c->cs = cs;
	cs = NULL;
	struct jn_stream_consumer_desc d = {
		.name = c->name,
		.filter = c->cfg.filter_subject,
		.deliver_all = c->cfg.deliver_policy == JN_DELIVER_ALL,
	};
	if ((rc = jn_stream_consumer_add(st, c, &d)))
		goto fail;
	json_decref(blob);
	jn_consumer_state_fini(&state);
	return 0;
fail:
	jn_warn("jetstream: cannot recover consumer %s > %s: %s", jn_stream_name(st), name,
	        jn_strerror(rc));
	if (c)
		consumer_free(c);   /* with the state file, if it was handed over */
	if (cs)
		jn_cstate_free(cs);
	json_decref(blob);
	jn_consumer_state_fini(&state);
	jn_free(dir);
	return rc;
}

int jn_consumers_recover(struct jn_stream *st)
{
	const char *sd = jn_stream_dir(st);
	if (!sd)
		return 0;
	size_t n = strlen(sd) + 16;
	char *cdir = jn_malloc(n);
	if (!cdir)
		return -JN_ENOMEM;
	snprintf(cdir, n, "%s/consumers", sd);
	DIR *d = opendir(cdir);
	jn_free(cdir);
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!name_chars_ok(de->d_name))
			continue;
		recover_one(st, de->d_name);
	}
	closedir(d);
	return 0;
}
