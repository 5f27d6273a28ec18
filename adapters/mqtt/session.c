/*
 * session.c - an MQTT session: its subscriptions and the QoS 1/2 messages
 * it is owed, whether or not a connection is attached (3.1.1 §4.1,
 * 5.0 §4.1).
 *
 * Delivery. Every subscription is one or two jn_subs in the router's
 * sublist, with jn__mqtt_deliver as callback; it runs on the publisher's
 * thread. The effective QoS is min(message QoS, granted QoS); a message
 * published over NATS has no Nmqtt-Pub header and is QoS 0 (as on
 * nats-server). QoS 0 goes straight to the attached connection, or
 * nowhere. QoS 1/2 is copied into an mq_msg on the session's queue and
 * sent while fewer than `window` messages are in flight; it stays until
 * acknowledged, is resent (DUP) when the client reconnects to a persistent
 * session, and is kept in the store when there is one.
 *
 * Concurrency. All of a session's state is under its lock: deliveries from
 * any thread, the connection's acknowledgements, SUBSCRIBE, takeover.
 * Sending (appending to the link's outq) happens under the session lock,
 * so packets of one session leave in the order their packet ids were
 * given. A subscription that was removed, or whose session died, drops
 * what reaches it afterwards through a cached match.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/mqtt/message.h"
#include "adapters/mqtt/server_int.h"
#include "adapters/mqtt/topic.h"
#include "core/alloc.h"
#include "core/auth.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/header.h"
#include "core/log.h"
#include "core/subject.h"

static inline void stat_add(_Atomic uint64_t *a, uint64_t v)
{
	atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

/* ---- messages --------------------------------------------------------------- */

void jn__mqtt_msg_free(struct mq_msg *m)
{
	jn_free(m);
}

static struct mq_msg *msg_new(const struct jn_msg *m, uint8_t qos, bool retain, uint32_t sub_id,
                              int64_t expires_ns)
{
	size_t n = (size_t)m->subject_len + m->reply_len + m->hdr_len + m->data_len;
	struct mq_msg *q = jn_malloc(sizeof *q + n);
	if (!q)
		return NULL;
	memset(q, 0, sizeof *q);
	q->qos = qos;
	q->retain = retain;
	q->sub_id = sub_id;
	q->expires_ns = expires_ns;
	q->subject_len = m->subject_len;
	q->reply_len = m->reply_len;
	q->hdr_len = m->hdr_len;
	q->data_len = m->data_len;
	jn__mqtt_msg_flatten(q->bytes, m);
	return q;
}

static void msg_view(const struct mq_msg *q, struct jn_msg *m)
{
	jn__mqtt_msg_unflatten(q->bytes, q->subject_len, q->reply_len, q->hdr_len, q->data_len, m);
}

uint8_t jn__mqtt_hdr_qos(const uint8_t *hdr, uint32_t len, bool *retain)
{
	*retain = false;
	if (!len)
		return 0;
	const char *v;
	size_t vl;
	if (!jn_hdr_get(hdr, len, MQ_HDR_PUB, &v, &vl) || vl < 1 || v[0] < '0' || v[0] > '2')
		return 0;
	if (vl >= 2) {
		char c = v[1];
		int f = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
		*retain = f & 1;
	}
	return (uint8_t)(v[0] - '0');
}

/* ---- in-flight window --------------------------------------------------------- */

static bool pid_in_flight(const struct mq_session *s, uint16_t pid)
{
	for (const struct mq_msg *m = s->ifl_head; m; m = m->next)
		if (m->pid == pid)
			return true;
	return false;
}

static uint16_t alloc_pid(struct mq_session *s)
{
	for (;;) {
		if (++s->next_pid == 0)
			s->next_pid = 1;
		if (!pid_in_flight(s, s->next_pid))
			return s->next_pid;
	}
}

static void ifl_append(struct mq_session *s, struct mq_msg *m)
{
	m->next = NULL;
	if (s->ifl_tail)
		s->ifl_tail->next = m;
	else
		s->ifl_head = m;
	s->ifl_tail = m;
	s->ninflight++;
}

static void ifl_unlink(struct mq_session *s, struct mq_msg *prev, struct mq_msg *m)
{
	if (prev)
		prev->next = m->next;
	else
		s->ifl_head = m->next;
	if (s->ifl_tail == m)
		s->ifl_tail = prev;
	m->next = NULL;
	s->ninflight--;
}

static void drop_msg(struct mq_session *s, struct mq_msg *m)
{
	if (m->seq)
		jn__mqtt_persist_msg_del(s, m);
	jn__mqtt_msg_free(m);
}

static struct jn_msg view_of(const struct mq_msg *q)
{
	struct jn_msg m;
	msg_view(q, &m);
	return m;
}

/* Send queued messages while the window allows. Under lock. */
static void send_queued_locked(struct mq_session *s)
{
	struct mq_conn *c = s->conn;
	if (!c)
		return;
	int64_t now = 0;
	while (s->q_head && s->ninflight < s->window) {
		struct mq_msg *m = s->q_head;
		s->q_head = m->next;
		if (!s->q_head)
			s->q_tail = NULL;
		m->next = NULL;
		s->nqueued--;
		if (m->expires_ns) {
			if (!now)
				now = jn__mqtt_realtime_ns();
			if (now >= m->expires_ns) {
				stat_add(&s->srv->stats.dropped, 1);
				drop_msg(s, m);
				continue;
			}
		}
		m->pid = alloc_pid(s);
		m->state = MQ_SENT;
		struct jn_msg v = view_of(m);
		int rc = jn__mqtt_send_publish(c, &v, m->qos, m->retain, false, m->pid, m->sub_id,
		                               m->expires_ns);
		if (rc == -JN_EMSGSIZE) {
			/* too large for this client: 5.0 §3.1.2.11.4 says discard */
			stat_add(&s->srv->stats.dropped, 1);
			drop_msg(s, m);
			continue;
		}
		ifl_append(s, m);
		if (m->seq)
			jn__mqtt_persist_msg_update(s, m);
	}
}

void jn__mqtt_session_resume_locked(struct mq_session *s, struct mq_conn *c)
{
	for (struct mq_msg *m = s->ifl_head; m; m = m->next) {
		if (m->state == MQ_RELEASED) {
			jn__mqtt_send_pubrel(c, m->pid);
			continue;
		}
		struct jn_msg v = view_of(m);
		jn__mqtt_send_publish(c, &v, m->qos, m->retain, true, m->pid, m->sub_id, m->expires_ns);
	}
	send_queued_locked(s);
}

int jn__mqtt_session_ack(struct mq_session *s, struct mq_conn *c, uint8_t type, uint16_t pid,
                         uint8_t reason)
{
	int rc = -JN_ENOTFOUND;
	pthread_mutex_lock(&s->lock);
	if (s->dead || s->conn != c) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	struct mq_msg *prev = NULL, *m = s->ifl_head;
	while (m && m->pid != pid) {
		prev = m;
		m = m->next;
	}
	if (m) {
		switch (type) {
		case JN_MQTT_PUBACK:
			if (m->qos != 1)
				break;
			ifl_unlink(s, prev, m);
			drop_msg(s, m);
			rc = 0;
			break;
		case JN_MQTT_PUBREC:
			if (m->qos != 2)
				break;
			rc = 0;
			if (reason >= 0x80) {   /* the receiver ends the flow */
				ifl_unlink(s, prev, m);
				drop_msg(s, m);
				break;
			}
			if (m->state != MQ_RELEASED) {
				m->state = MQ_RELEASED;
				if (m->seq)
					jn__mqtt_persist_msg_update(s, m);
			}
			jn__mqtt_send_pubrel(c, pid);
			break;
		case JN_MQTT_PUBCOMP:
			if (m->qos != 2 || m->state != MQ_RELEASED)
				break;
			ifl_unlink(s, prev, m);
			drop_msg(s, m);
			rc = 0;
			break;
		}
	}
	send_queued_locked(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- inbound QoS 2 ------------------------------------------------------------- */

bool jn__mqtt_q2in_has(struct mq_session *s, uint16_t pid)
{
	for (uint32_t i = 0; i < s->nq2in; i++)
		if (s->q2in[i] == pid)
			return true;
	return false;
}

int jn__mqtt_q2in_add(struct mq_session *s, uint16_t pid)
{
	if (s->nq2in == s->q2in_cap) {
		uint32_t cap = s->q2in_cap ? s->q2in_cap * 2 : 8;
		uint16_t *n = jn_realloc(s->q2in, cap * sizeof *n);
		if (!n)
			return -JN_ENOMEM;
		s->q2in = n;
		s->q2in_cap = cap;
	}
	s->q2in[s->nq2in++] = pid;
	jn__mqtt_persist_q2in(s);
	return 0;
}

bool jn__mqtt_q2in_del(struct mq_session *s, uint16_t pid)
{
	for (uint32_t i = 0; i < s->nq2in; i++) {
		if (s->q2in[i] == pid) {
			s->q2in[i] = s->q2in[--s->nq2in];
			if (s->nq2in == 0) {
				jn_free(s->q2in);
				s->q2in = NULL;
				s->q2in_cap = 0;
			}
			jn__mqtt_persist_q2in(s);
			return true;
		}
	}
	return false;
}

/* ---- delivery ----------------------------------------------------------------- */

void jn__mqtt_sub_deliver(struct mq_sub *ms, const struct jn_msg *m, uint8_t qos, bool retain,
                          int64_t expires_ns, uint64_t origin_id)
{
	struct mq_session *s = ms->s;
	uint8_t opts = atomic_load_explicit(&ms->opts, memory_order_relaxed);
	if ((opts & JN_MQTT_SO_NO_LOCAL) && origin_id &&
	    origin_id == atomic_load_explicit(&s->conn_id, memory_order_relaxed))
		return;
	uint8_t granted = atomic_load_explicit(&ms->qos, memory_order_relaxed);
	if (qos > granted)
		qos = granted;
	uint32_t sub_id = atomic_load_explicit(&ms->sub_id, memory_order_relaxed);
	pthread_mutex_lock(&s->lock);
	if (s->dead || atomic_load(&ms->removed)) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (qos == 0) {
		if (s->conn)
			jn__mqtt_send_publish(s->conn, m, 0, retain, false, 0, sub_id, expires_ns);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (!s->conn && !s->persistent) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (s->nqueued >= s->srv->opts.max_queued) {
		/* like mosquitto's max_queued_messages: newest dropped */
		stat_add(&s->srv->stats.dropped, 1);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	struct mq_msg *q = msg_new(m, qos, retain, sub_id, expires_ns);
	if (!q) {
		stat_add(&s->srv->stats.dropped, 1);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (s->persistent)
		jn__mqtt_persist_msg_add(s, q);
	if (s->q_tail)
		s->q_tail->next = q;
	else
		s->q_head = q;
	s->q_tail = q;
	s->nqueued++;
	send_queued_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static int64_t parse_secs(const char *v, size_t n)
{
	int64_t x = 0;
	if (n == 0 || n > 10)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

int64_t jn__mqtt_hdr_expires(const struct jn_msg *m, int64_t now)
{
	const char *v;
	size_t vl;
	if (!m->hdr_len || !jn_hdr_get(m->hdr, m->hdr_len, MQ_HDR_EXPIRY, &v, &vl))
		return 0;
	int64_t secs = parse_secs(v, vl);
	return secs < 0 ? 0 : now + secs * 1000000000LL;
}

void jn__mqtt_deliver(struct jn_sub *js, const struct jn_msg *m, struct jn_pub *pub)
{
	struct mq_sub *ms = js->owner;
	if (atomic_load_explicit(&ms->removed, memory_order_relaxed))
		return;
	/* [MQTT-4.7.2-1]: '$' topics are not for filters starting with a
	 * wildcard ('$' stays the first byte through the mapping). */
	if (ms->hides_dollar && m->subject_len && m->subject[0] == '$')
		return;
	if (ms->deny_filter && jn_auth_deliver_denied(ms->user, m->subject, m->subject_len))
		return;
	bool retain = false;
	uint8_t qos = jn__mqtt_hdr_qos(m->hdr, m->hdr_len, &retain);
	if (!(atomic_load_explicit(&ms->opts, memory_order_relaxed) & JN_MQTT_SO_RAP))
		retain = false;   /* 3.1.1 §3.3.1.3: live copies go out with RETAIN 0 */
	int64_t expires = m->hdr_len ? jn__mqtt_hdr_expires(m, jn__mqtt_realtime_ns()) : 0;
	jn__mqtt_sub_deliver(ms, m, qos, retain, expires, pub ? pub->origin_id : 0);
}

/* ---- subscriptions ------------------------------------------------------------- */

static void sub_free(void *p)
{
	jn_free(p);
}

static void sub_unlink(struct mq_session *s, struct mq_sub *ms)
{
	if (atomic_exchange(&ms->removed, true))
		return;
	for (uint8_t i = 0; i < ms->njs; i++)
		jn_sublist_remove(s->srv->router->subs, &ms->js[i]);
	jn_epoch_retire(ms, sub_free);
}

static struct mq_sub *sub_find(struct mq_session *s, const char *filter, uint32_t flen,
                               uint32_t *idx)
{
	for (uint32_t i = 0; i < s->nsubs; i++) {
		struct mq_sub *ms = s->subs[i];
		if (ms->filter_len == flen && memcmp(ms->filter, filter, flen) == 0) {
			if (idx)
				*idx = i;
			return ms;
		}
	}
	return NULL;
}

int jn__mqtt_sub_add_locked(struct mq_session *s, const char *filter, uint32_t flen,
                            uint8_t qos, uint8_t opts, uint32_t sub_id,
                            const struct jn_user *deny_user, bool *isnew, struct mq_sub **out)
{
	const char *group = NULL, *inner = filter;
	size_t glen = 0, ilen = flen;
	int sh = jn_mqtt_share_parse(filter, flen, &group, &glen, &inner, &ilen);
	if (sh < 0)
		return sh;
	struct mq_sub *old = sub_find(s, filter, flen, NULL);
	if (old) {
		/* [MQTT-3.8.4-3]: replaced in place, the flow is not interrupted */
		atomic_store(&old->qos, qos);
		atomic_store(&old->opts, opts);
		atomic_store(&old->sub_id, sub_id);
		*isnew = false;
		*out = old;
		return 0;
	}
	size_t cap = JN_MQTT_SUBJECT_CAP(ilen);
	size_t need = (size_t)flen + 1 + cap + 1 + cap + 1 + glen + 1;
	struct mq_sub *ms = jn_calloc(1, sizeof *ms + need);
	if (!ms)
		return -JN_ENOMEM;
	char *p = ms->str;
	memcpy(p, filter, flen);
	ms->filter = p;
	ms->filter_len = flen;
	p += flen + 1;
	bool up = false;
	int n = jn_mqtt_filter_to_subject(inner, ilen, p, cap, &up);
	if (n < 0) {
		jn_free(ms);
		return n;
	}
	char *subj = p;
	p += n + 1;
	char *parent = NULL;
	if (up) {
		memcpy(p, subj, (size_t)n - 2);
		parent = p;
		p += n - 2 + 1;
	}
	char *qname = NULL;
	if (sh == 1) {
		memcpy(p, group, glen);
		qname = p;
		ms->shared = true;
	}
	ms->s = s;
	atomic_init(&ms->qos, qos);
	atomic_init(&ms->opts, opts);
	atomic_init(&ms->sub_id, sub_id);
	ms->hides_dollar = jn_mqtt_filter_hides_dollar(inner, ilen);
	if (deny_user && jn_auth_sub_needs_filter(deny_user, subj, (size_t)n)) {
		ms->deny_filter = true;
		ms->user = deny_user;
	}
	ms->njs = up ? 2 : 1;
	for (uint8_t i = 0; i < ms->njs; i++) {
		struct jn_sub *js = &ms->js[i];
		js->subject = i ? parent : subj;
		js->subject_len = i ? (uint32_t)n - 2 : (uint32_t)n;
		js->queue = qname;
		js->queue_len = (uint32_t)glen;
		js->deliver = jn__mqtt_deliver;
		js->owner = ms;
		js->owner_id = 0;
	}
	if (s->nsubs == s->subs_cap) {
		uint32_t c = s->subs_cap ? s->subs_cap * 2 : 4;
		struct mq_sub **ns = jn_realloc(s->subs, c * sizeof *ns);
		if (!ns) {
			jn_free(ms);
			return -JN_ENOMEM;
		}
		s->subs = ns;
		s->subs_cap = c;
	}
	for (uint8_t i = 0; i < ms->njs; i++) {
		int rc = jn_sublist_insert(s->srv->router->subs, &ms->js[i]);
		if (rc < 0) {
			for (uint8_t k = 0; k < i; k++)
				jn_sublist_remove(s->srv->router->subs, &ms->js[k]);
			if (i == 0) {
				jn_free(ms);   /* never visible to another thread */
			} else {
				atomic_store(&ms->removed, true);
				jn_epoch_retire(ms, sub_free);
			}
			return rc == -JN_EBADSUBJECT ? rc : -JN_ENOMEM;
		}
	}
	s->subs[s->nsubs++] = ms;
	*isnew = true;
	*out = ms;
	return 0;
}

int jn__mqtt_sub_remove_locked(struct mq_session *s, const char *filter, uint32_t flen)
{
	uint32_t i;
	struct mq_sub *ms = sub_find(s, filter, flen, &i);
	if (!ms)
		return -JN_ENOTFOUND;
	s->subs[i] = s->subs[--s->nsubs];
	sub_unlink(s, ms);
	return 0;
}

void jn__mqtt_session_kill_locked(struct mq_session *s)
{
	if (s->dead)
		return;
	s->dead = true;
	for (uint32_t i = 0; i < s->nsubs; i++)
		sub_unlink(s, s->subs[i]);
	jn_free(s->subs);
	s->subs = NULL;
	s->nsubs = s->subs_cap = 0;
	for (struct mq_msg *m = s->ifl_head, *n; m; m = n) {
		n = m->next;
		jn__mqtt_msg_free(m);
	}
	for (struct mq_msg *m = s->q_head, *n; m; m = n) {
		n = m->next;
		jn__mqtt_msg_free(m);
	}
	s->ifl_head = s->ifl_tail = s->q_head = s->q_tail = NULL;
	s->ninflight = s->nqueued = 0;
	jn_free(s->q2in);
	s->q2in = NULL;
	s->nq2in = s->q2in_cap = 0;
	jn_free(s->will);
	s->will = NULL;
}
