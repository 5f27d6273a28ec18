/*
 * persist.c - MQTT sessions and retained messages on disk, so that they
 * survive a restart of the daemon (3.1.1 §4.1: a persistent session's
 * subscriptions and owed QoS 1/2 messages; retained messages).
 *
 * Choice. One core/store.h file store in <store_dir>/mqtt (the daemon
 * passes that directory): an append-only log with CRC-checked records, a
 * group-commit syncer and interior deletes, which is exactly an MQTT
 * broker's persistence pattern (add when owed, delete when acknowledged).
 * Small atomic files (core/store_io.h) would cost an fsync and a rename per
 * acknowledged message; the log costs one append and one tombstone.
 *
 * Records. The store subject says the kind; the header slot holds the
 * message's NATS header block where there is one; integers are
 * little-endian:
 *   "ses"  a persistent session: u16 cid_len, cid, u32 expiry (seconds,
 *          UINT32_MAX = never), u8 version, u16 next_pid, u32 nsubs, per
 *          subscription (u16 filter_len, filter, u8 qos, u8 options,
 *          u32 subscription id), u32 nq2in, u16 pid each (inbound QoS 2
 *          waiting for PUBREL). Rewritten (append new, delete old) on every
 *          change.
 *   "msg"  a QoS 1/2 message owed to a session: u16 cid_len, cid, u64
 *          order (the queue position: the seq of its first record), u8
 *          qos, u8 retain, u8 state, u16 pid, u32 sub_id, i64 expires_ns,
 *          u32 subject_len, subject, u32 reply_len, reply, then the payload;
 *          header slot: its NATS header. A new pid or state is a new record
 *          (same order) and the old one deleted.
 *   "ret"  a retained message: i64 expires_ns, u32 subject_len, subject,
 *          u32 reply_len, reply, payload; header slot: its NATS header;
 *          the record's timestamp is the publish time.
 *
 * Guarantees. Appends are fsynced by the store's syncer (group commit: one
 * fsync covers every record appended while the previous one ran). The
 * acknowledgement of an inbound PUBLISH (PUBACK/PUBREC) or PUBREL
 * (PUBCOMP) waits until every record written for that packet is fsynced
 * (a thread-local mark of the highest seq appended while handling it; a
 * delete is covered by a skipped seq after its tombstone, see
 * jn__mqtt_persist_barrier). So what a client was told is stored survives
 * a crash and a power loss. Records written for other reasons (a
 * subscription change, an outbound message's new state) are fsynced by
 * the next round and survive a crash of the process. Loading takes the
 * latest record of each session and message, drops messages whose session
 * has no record, drops expired retained messages, and copies every live
 * record forward once, so segments of earlier runs are freed.
 * Subscriptions come back without their permission filter (the user is not
 * known until the client connects again); they were checked at SUBSCRIBE.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/mqtt/server_int.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/store.h"
#include "core/store_io.h"

#define SEGMENT_SIZE (1u << 20)

/* ---- encoding ---------------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void put(struct buf *b, const void *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *np = jn_realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void put_u8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	put(b, x, 2);
}

static void put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	put(b, x, 4);
}

static void put_u64(struct buf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	put(b, x, 8);
}

/* Reading a record back: bounds-checked, fails as malformed. */
struct rd {
	const uint8_t *p;
	size_t len, pos;
	bool bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	if (r->bad || r->len - r->pos < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->pos;
	r->pos += n;
	return p;
}

static uint64_t get_le(struct rd *r, int n)
{
	const uint8_t *p = take(r, (size_t)n);
	uint64_t v = 0;
	if (p)
		for (int i = 0; i < n; i++)
			v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- writing ------------------------------------------------------------------ */

/* The highest seq this thread appended since jn__mqtt_persist_mark_begin():
 * an inbound packet's deliveries run on the thread that handles it, so
 * this covers every record written for it (acks.c waits for it). */
static _Thread_local uint64_t tl_mark;

void jn__mqtt_persist_mark_begin(void)
{
	tl_mark = 0;
}

uint64_t jn__mqtt_persist_mark_end(void)
{
	uint64_t m = tl_mark;
	tl_mark = 0;
	return m;
}

void jn__mqtt_persist_barrier(struct jn_mqtt_server *srv)
{
	/* A tombstone has no seq of its own; a skipped seq after it does, and
	 * the store makes records durable in log order. */
	uint64_t seq = 0;
	if (srv->store && jn_store_skip(srv->store, jn__mqtt_realtime_ns(), &seq) == 0 &&
	    seq > tl_mark)
		tl_mark = seq;
}

int jn__mqtt_persist_when_durable(struct jn_mqtt_server *srv, uint64_t seq,
                                  void (*cb)(void *arg, int err), void *arg)
{
	return jn_store_when_durable(srv->store, seq, cb, arg);
}

static uint64_t append(struct jn_mqtt_server *srv, const char *kind, const struct buf *b,
                       const uint8_t *hdr, uint32_t hdr_len, int64_t ts)
{
	if (b->oom) {
		jn_warn("mqtt: out of memory writing a %s record; not persisted", kind);
		return 0;
	}
	uint64_t seq = 0;
	int rc = jn_store_append(srv->store, kind, strlen(kind), hdr, hdr_len, b->p, b->len,
	                         ts ? ts : jn__mqtt_realtime_ns(), &seq);
	if (rc < 0) {
		jn_warn("mqtt: cannot persist a %s record: %s", kind, jn_strerror(rc));
		return 0;
	}
	if (seq > tl_mark)
		tl_mark = seq;
	return seq;
}

static void remove_seq(struct jn_mqtt_server *srv, uint64_t seq)
{
	if (seq)
		jn_store_remove(srv->store, seq);
}

void jn__mqtt_persist_session(struct mq_session *s)
{
	struct jn_mqtt_server *srv = s->srv;
	if (!srv->store || !s->persistent || s->dead)
		return;
	struct buf b = { 0 };
	put_u16(&b, (uint16_t)s->cid_len);
	put(&b, s->client_id, s->cid_len);
	put_u32(&b, s->expiry_s);
	put_u8(&b, s->version);
	put_u16(&b, s->next_pid);
	put_u32(&b, s->nsubs);
	for (uint32_t i = 0; i < s->nsubs; i++) {
		const struct mq_sub *ms = s->subs[i];
		put_u16(&b, (uint16_t)ms->filter_len);
		put(&b, ms->filter, ms->filter_len);
		put_u8(&b, atomic_load(&ms->qos));
		put_u8(&b, atomic_load(&ms->opts));
		put_u32(&b, atomic_load(&ms->sub_id));
	}
	put_u32(&b, s->nq2in);
	for (uint32_t i = 0; i < s->nq2in; i++)
		put_u16(&b, s->q2in[i]);
	uint64_t seq = append(srv, "ses", &b, NULL, 0, 0);
	jn_free(b.p);
	if (seq) {
		remove_seq(srv, s->meta_seq);
		s->meta_seq = seq;
	}
}

void jn__mqtt_persist_q2in(struct mq_session *s)
{
	jn__mqtt_persist_session(s);
}

static void drop_msgs(struct jn_mqtt_server *srv, struct mq_msg *m)
{
	for (; m; m = m->next) {
		remove_seq(srv, m->seq);
		m->seq = 0;
	}
}

void jn__mqtt_persist_session_drop(struct mq_session *s)
{
	struct jn_mqtt_server *srv = s->srv;
	if (!srv->store)
		return;
	remove_seq(srv, s->meta_seq);
	s->meta_seq = 0;
	drop_msgs(srv, s->ifl_head);
	drop_msgs(srv, s->q_head);
}

static uint64_t write_msg(struct mq_session *s, const struct mq_msg *m)
{
	const uint8_t *p = m->bytes;
	const uint8_t *subject = p;
	const uint8_t *reply = p + m->subject_len;
	const uint8_t *hdr = reply + m->reply_len;
	const uint8_t *data = hdr + m->hdr_len;
	struct buf b = { 0 };
	put_u16(&b, (uint16_t)s->cid_len);
	put(&b, s->client_id, s->cid_len);
	put_u64(&b, m->order);
	put_u8(&b, m->qos);
	put_u8(&b, m->retain);
	put_u8(&b, m->state);
	put_u16(&b, m->pid);
	put_u32(&b, m->sub_id);
	put_u64(&b, (uint64_t)m->expires_ns);
	put_u32(&b, m->subject_len);
	put(&b, subject, m->subject_len);
	put_u32(&b, m->reply_len);
	put(&b, reply, m->reply_len);
	put(&b, data, m->data_len);
	uint64_t seq = append(s->srv, "msg", &b, m->hdr_len ? hdr : NULL, m->hdr_len, 0);
	jn_free(b.p);
	return seq;
}

void jn__mqtt_persist_msg_add(struct mq_session *s, struct mq_msg *m)
{
	if (!s->srv->store || !s->persistent)
		return;
	m->order = 0;
	/* the order key is the seq of the first record; known after the
	 * append, so the first record says 0 and means "my own seq" */
	m->seq = write_msg(s, m);
}

void jn__mqtt_persist_msg_update(struct mq_session *s, struct mq_msg *m)
{
	if (!s->srv->store || !m->seq)
		return;
	if (!m->order)
		m->order = m->seq;
	uint64_t seq = write_msg(s, m);
	if (seq) {
		remove_seq(s->srv, m->seq);
		m->seq = seq;
	}
}

void jn__mqtt_persist_msg_del(struct mq_session *s, struct mq_msg *m)
{
	if (s->srv->store)
		remove_seq(s->srv, m->seq);
	m->seq = 0;
}

uint64_t jn__mqtt_persist_retained(struct jn_mqtt_server *srv, const struct jn_msg *m,
                                   int64_t ts_ns, int64_t expires_ns)
{
	if (!srv->store)
		return 0;
	struct buf b = { 0 };
	put_u64(&b, (uint64_t)expires_ns);
	put_u32(&b, m->subject_len);
	put(&b, m->subject, m->subject_len);
	put_u32(&b, m->reply_len);
	put(&b, m->reply, m->reply_len);
	put(&b, m->data, m->data_len);
	uint64_t seq = append(srv, "ret", &b, m->hdr, m->hdr_len, ts_ns);
	jn_free(b.p);
	return seq;
}

void jn__mqtt_persist_retained_del(struct jn_mqtt_server *srv, uint64_t seq)
{
	if (srv->store)
		remove_seq(srv, seq);
}

/* ---- loading ------------------------------------------------------------------- */

/* Find a loaded session by client id (registry, no connections yet). */
static struct mq_session *find_session(struct jn_mqtt_server *srv, const char *cid, size_t len)
{
	for (uint32_t i = 0; i < srv->reg_cap; i++)
		for (struct mq_session *s = srv->reg[i]; s; s = s->hnext)
			if (s->cid_len == len && memcmp(s->client_id, cid, len) == 0)
				return s;
	return NULL;
}

static int load_session(struct jn_mqtt_server *srv, const struct jn_store_msg *sm)
{
	struct rd r = { sm->data, sm->data_len, 0, false };
	size_t cl = (size_t)get_le(&r, 2);
	const char *cid = (const char *)take(&r, cl);
	uint32_t expiry = (uint32_t)get_le(&r, 4);
	uint8_t version = (uint8_t)get_le(&r, 1);
	uint16_t next_pid = (uint16_t)get_le(&r, 2);
	uint32_t nsubs = (uint32_t)get_le(&r, 4);
	if (r.bad)
		return -JN_EINVAL;
	/* an older record of the same session is replaced */
	struct mq_session *old = find_session(srv, cid, cl);
	struct mq_session *s = old ? old : jn__mqtt_session_alloc(srv, cid, (uint32_t)cl);
	if (!s)
		return -JN_ENOMEM;
	pthread_mutex_lock(&s->lock);
	if (old) {
		for (uint32_t i = s->nsubs; i > 0; i--)
			jn__mqtt_sub_remove_locked(s, s->subs[i - 1]->filter, s->subs[i - 1]->filter_len);
		jn_free(s->q2in);
		s->q2in = NULL;
		s->nq2in = s->q2in_cap = 0;
		remove_seq(srv, s->meta_seq);
	}
	s->persistent = true;
	s->expiry_s = expiry;
	/* the expiry counts from the restart (monotonic clocks do not carry
	 * across it) */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->detached_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	s->version = version;
	s->next_pid = next_pid;
	s->meta_seq = sm->seq;
	int rc = 0;
	for (uint32_t i = 0; i < nsubs && rc == 0; i++) {
		size_t fl = (size_t)get_le(&r, 2);
		const char *f = (const char *)take(&r, fl);
		uint8_t qos = (uint8_t)get_le(&r, 1);
		uint8_t opts = (uint8_t)get_le(&r, 1);
		uint32_t sid = (uint32_t)get_le(&r, 4);
		if (r.bad || qos > 2) {
			rc = -JN_EINVAL;
			break;
		}
		bool isnew;
		struct mq_sub *ms;
		rc = jn__mqtt_sub_add_locked(s, f, (uint32_t)fl, qos, opts, sid, NULL, &isnew, &ms);
	}
	uint32_t nq = rc == 0 ? (uint32_t)get_le(&r, 4) : 0;
	for (uint32_t i = 0; i < nq && !r.bad && rc == 0; i++) {
		uint16_t pid = (uint16_t)get_le(&r, 2);
		if (!r.bad && s->nq2in == s->q2in_cap) {
			uint32_t cap = s->q2in_cap ? s->q2in_cap * 2 : 8;
			uint16_t *np = jn_realloc(s->q2in, cap * sizeof *np);
			if (!np) {
				rc = -JN_ENOMEM;
				break;
			}
			s->q2in = np;
			s->q2in_cap = cap;
		}
		if (!r.bad)
			s->q2in[s->nq2in++] = pid;
	}
	if (r.bad && rc == 0)
		rc = -JN_EINVAL;
	pthread_mutex_unlock(&s->lock);
	if (!old) {
		if (rc == 0)
			rc = jn__mqtt_session_insert_loaded(srv, s);
		if (rc < 0)
			jn__mqtt_session_unref(s);
	}
	return rc;
}

/* A loaded message waiting for its session, in a list sorted later. */
struct pending {
	struct mq_msg *m;
	char *cid;
	size_t cid_len;
};

static int load_msg(const struct jn_store_msg *sm, struct pending *out)
{
	struct rd r = { sm->data, sm->data_len, 0, false };
	size_t cl = (size_t)get_le(&r, 2);
	const char *cid = (const char *)take(&r, cl);
	uint64_t order = get_le(&r, 8);
	uint8_t qos = (uint8_t)get_le(&r, 1);
	uint8_t retain = (uint8_t)get_le(&r, 1);
	uint8_t state = (uint8_t)get_le(&r, 1);
	uint16_t pid = (uint16_t)get_le(&r, 2);
	uint32_t sub_id = (uint32_t)get_le(&r, 4);
	int64_t expires = (int64_t)get_le(&r, 8);
	uint32_t sl = (uint32_t)get_le(&r, 4);
	const uint8_t *subj = take(&r, sl);
	uint32_t rl = (uint32_t)get_le(&r, 4);
	const uint8_t *reply = take(&r, rl);
	if (r.bad || qos < 1 || qos > 2 || state > MQ_RELEASED || (state != MQ_QUEUED && !pid))
		return -JN_EINVAL;
	size_t dl = r.len - r.pos;
	const uint8_t *data = r.p + r.pos;
	size_t n = (size_t)sl + rl + sm->hdr_len + dl;
	struct mq_msg *m = jn_malloc(sizeof *m + n);
	char *c = jn_strndup(cid, cl);
	if (!m || !c) {
		jn_free(m);
		jn_free(c);
		return -JN_ENOMEM;
	}
	memset(m, 0, sizeof *m);
	m->seq = sm->seq;
	m->order = order ? order : sm->seq;
	m->qos = qos;
	m->retain = retain;
	m->state = state;
	m->pid = pid;
	m->sub_id = sub_id;
	m->expires_ns = expires;
	m->subject_len = sl;
	m->reply_len = rl;
	m->hdr_len = sm->hdr_len;
	m->data_len = (uint32_t)dl;
	uint8_t *p = m->bytes;
	memcpy(p, subj, sl);
	p += sl;
	if (rl)
		memcpy(p, reply, rl);
	p += rl;
	if (sm->hdr_len)
		memcpy(p, sm->hdr, sm->hdr_len);
	p += sm->hdr_len;
	if (dl)
		memcpy(p, data, dl);
	*out = (struct pending){ m, c, cl };
	return 0;
}

static int load_retained(struct jn_mqtt_server *srv, const struct jn_store_msg *sm, int64_t now)
{
	struct rd r = { sm->data, sm->data_len, 0, false };
	int64_t expires = (int64_t)get_le(&r, 8);
	uint32_t sl = (uint32_t)get_le(&r, 4);
	const char *subj = (const char *)take(&r, sl);
	uint32_t rl = (uint32_t)get_le(&r, 4);
	const char *reply = (const char *)take(&r, rl);
	if (r.bad || sl == 0)
		return -JN_EINVAL;
	if (expires && expires <= now) {
		remove_seq(srv, sm->seq);
		return 0;
	}
	struct jn_msg m = {
		.subject = subj,
		.subject_len = sl,
		.reply = rl ? reply : NULL,
		.reply_len = rl,
		.hdr = sm->hdr_len ? sm->hdr : NULL,
		.hdr_len = sm->hdr_len,
		.data = r.p + r.pos,
		.data_len = (uint32_t)(r.len - r.pos),
	};
	return jn__mqtt_retain_loaded(srv, &m, sm->ts, expires, sm->seq);
}

static int cmp_pending(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;
	return x->m->order < y->m->order ? -1 : x->m->order > y->m->order;
}

/* Put the loaded messages on their sessions' queues, in queue order. */
static void attach_msgs(struct jn_mqtt_server *srv, struct pending *pv, size_t n)
{
	if (n > 1)
		qsort(pv, n, sizeof *pv, cmp_pending);
	for (size_t i = 0; i < n; i++) {
		struct mq_msg *m = pv[i].m;
		struct mq_session *s = find_session(srv, pv[i].cid, pv[i].cid_len);
		jn_free(pv[i].cid);
		if (!s) {
			remove_seq(srv, m->seq);   /* its session ended */
			jn__mqtt_msg_free(m);
			continue;
		}
		m->next = NULL;
		if (m->state == MQ_QUEUED) {
			if (s->q_tail)
				s->q_tail->next = m;
			else
				s->q_head = m;
			s->q_tail = m;
			s->nqueued++;
		} else {
			if (s->ifl_tail)
				s->ifl_tail->next = m;
			else
				s->ifl_head = m;
			s->ifl_tail = m;
			s->ninflight++;
		}
	}
}

/* Copy every live record forward once: old segments become all-deleted
 * and the store unlinks them. */
static void compact(struct jn_mqtt_server *srv)
{
	for (uint32_t i = 0; i < srv->reg_cap; i++) {
		for (struct mq_session *s = srv->reg[i]; s; s = s->hnext) {
			pthread_mutex_lock(&s->lock);
			jn__mqtt_persist_session(s);
			for (struct mq_msg *m = s->ifl_head; m; m = m->next)
				jn__mqtt_persist_msg_update(s, m);
			for (struct mq_msg *m = s->q_head; m; m = m->next)
				jn__mqtt_persist_msg_update(s, m);
			pthread_mutex_unlock(&s->lock);
		}
	}
}

int jn__mqtt_persist_open(struct jn_mqtt_server *srv)
{
	int rc = jn_mkdirs(srv->store_dir);
	if (rc < 0)
		return rc;
	struct jn_store_cfg cfg = { .segment_size = SEGMENT_SIZE };
	rc = jn_filestore_open(srv->store_dir, &cfg, &srv->store);
	if (rc < 0) {
		srv->store = NULL;
		return rc;
	}
	struct jn_store_msg sm = { 0 };
	struct pending *pv = NULL;
	size_t npv = 0, cappv = 0;
	size_t nses = 0, nret = 0, bad = 0;
	int64_t now = jn__mqtt_realtime_ns();
	uint64_t seq = 1;
	rc = 0;
	for (;;) {
		int lr = jn_store_load_next(srv->store, seq, NULL, 0, &sm);
		if (lr == -JN_ENOTFOUND)
			break;
		if (lr < 0) {
			rc = lr;
			break;
		}
		seq = sm.seq + 1;
		int r = 0;
		if (sm.subject_len == 3 && memcmp(sm.subject, "ses", 3) == 0) {
			r = load_session(srv, &sm);
			nses += r == 0;
		} else if (sm.subject_len == 3 && memcmp(sm.subject, "msg", 3) == 0) {
			if (npv == cappv) {
				size_t c = cappv ? cappv * 2 : 64;
				struct pending *np = jn_realloc(pv, c * sizeof *np);
				if (!np) {
					rc = -JN_ENOMEM;
					break;
				}
				pv = np;
				cappv = c;
			}
			r = load_msg(&sm, &pv[npv]);
			npv += r == 0;
		} else if (sm.subject_len == 3 && memcmp(sm.subject, "ret", 3) == 0) {
			r = load_retained(srv, &sm, now);
			nret += r == 0;
		} else {
			r = -JN_EINVAL;
		}
		if (r == -JN_ENOMEM) {
			rc = r;
			break;
		}
		if (r < 0) {
			/* a record we cannot read is dropped, not a reason to refuse
			 * to start */
			bad++;
			remove_seq(srv, sm.seq);
		}
	}
	jn_store_msg_fini(&sm);
	if (rc == 0) {
		attach_msgs(srv, pv, npv);
		compact(srv);
		jn__mqtt_retained_compact(srv);
	} else {
		for (size_t i = 0; i < npv; i++) {
			jn__mqtt_msg_free(pv[i].m);
			jn_free(pv[i].cid);
		}
	}
	jn_free(pv);
	if (rc == 0 && (nses || nret || npv || bad))
		jn_info("mqtt: loaded %zu session%s, %zu queued message%s, %zu retained message%s%s",
		        nses, nses == 1 ? "" : "s", npv, npv == 1 ? "" : "s", nret, nret == 1 ? "" : "s",
		        bad ? " (unreadable records dropped)" : "");
	return rc;
}

void jn__mqtt_persist_close(struct jn_mqtt_server *srv)
{
	if (srv->store) {
		jn_store_free(srv->store);
		srv->store = NULL;
	}
}
