/*
 * client.c - one MQTT network connection: jn_mqtt_proto.
 *
 * Owns: the per-connection protocol engine for MQTT 3.1, 3.1.1 and 5.0
 * (shared/spec/mqtt.md §A): CONNECT validation and authentication against
 * the same users as NATS, session attach/takeover, PUBLISH into the router
 * (QoS 0/1/2, retained messages, topic aliases, permissions), SUBSCRIBE /
 * UNSUBSCRIBE, the acknowledgements of both directions, PINGREQ, keep
 * alive, wills, and closing with the right CONNACK / DISCONNECT reason.
 * What outlives the connection (subscriptions, messages owed) is the
 * session's (session.c).
 *
 * Threads. Everything here runs on the connection's worker, except
 * jn__mqtt_send_publish / jn__mqtt_send_pubrel, which session.c calls
 * under the session lock from whichever thread delivers. What those read
 * of the connection (version, the client's maximum packet size) is set
 * before the connection is attached to a session and never changes after.
 *
 * Errors. A malformed packet or a protocol violation closes this one
 * connection (3.1.1 §4.8) and publishes its will; a 5.0 client first gets
 * a DISCONNECT with the reason code (0x81 malformed, 0x82 protocol error,
 * 0x95 packet too large, 0x94 topic alias invalid, 0x90 topic name
 * invalid, 0x93 receive maximum exceeded, 0x8D keep alive timeout, 0x8E
 * session taken over).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "adapters/mqtt/message.h"
#include "adapters/mqtt/server_int.h"
#include "adapters/mqtt/topic.h"
#include "core/alloc.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/jetstream.h"
#include "core/log.h"
#include "core/router.h"
#include "core/subject.h"

#define SEC 1000000000LL
#define STACK_TOPIC 256
#define STACK_PROPS 512
#define STACK_HDR 512

struct mq_alias {
	char *topic;
	uint16_t len;
};

struct mq_conn {
	struct jn_mqtt_server *srv;
	struct jn_link *link;
	struct jn_thread_ctx *ctx;       /* during on_data / on_tick only */
	struct jn_mqtt_parser parser;
	struct mq_session *s;            /* after CONNECT; holds a reference */
	const struct jn_user *user;      /* NULL = unrestricted */
	bool pub_perms, sub_perms;
	bool connected;                  /* CONNACK 0 sent */
	bool closing;
	bool disconnected;               /* DISCONNECT received: no will */
	_Atomic bool taken_over;
	/* taken over while its session was persistent (set and read under
	 * the session lock): a delayed will is then cancelled (mqtt_on_close) */
	bool taken_over_persistent;
	uint8_t version;                 /* fixed once attached */
	uint16_t keep_alive;             /* seconds, 0 = off */
	uint32_t client_max_packet;      /* 5.0; 0 = protocol maximum */
	int64_t opened_ns, last_in_ns;
	int64_t stuck_since_ns, progress_seen_ns;
	struct mq_alias *aliases;        /* 5.0 inbound topic aliases, on demand */
	struct mq_will *will;
	struct mq_ackq *acks;            /* acks.c; on the first tracked ack */
};

/* Set while this thread runs mqtt_on_data: verdict callbacks that fire
 * inline know they are inside the worker's epoch read section. */
static _Thread_local bool tl_on_worker;

bool jn__mqtt_on_worker(void)
{
	return tl_on_worker;
}

static inline void stat_add(_Atomic uint64_t *a, uint64_t v)
{
	atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

uint8_t jn__mqtt_conn_version(const struct mq_conn *c)
{
	return c->version;
}

/* ---- output ----------------------------------------------------------------- */

static int out_append(struct mq_conn *c, const struct iovec *iov, int n, bool is_msg)
{
	int rc = jn_outq_append(&c->link->out, iov, n, is_msg);
	if (rc == -JN_ESLOW) {
		stat_add(&c->srv->stats.slow_consumers, 1);
		jn_link_close(c->link, "Slow Consumer Detected");
	} else if (rc == -JN_ENOMEM) {
		jn_link_close(c->link, "Out Of Memory");
	}
	return rc;
}

/* Encode a small server packet and queue it. */
static int send_pkt(struct mq_conn *c, const struct jn_mqtt_pkt *p)
{
	uint8_t buf[512];
	size_t n = jn_mqtt_encode(p, buf, sizeof buf, false);
	if (n > sizeof buf)
		return -JN_EINVAL;   /* only small packets go this way */
	struct iovec iov = { buf, n };
	return out_append(c, &iov, 1, false);
}

static void send_ack(struct mq_conn *c, uint8_t type, uint16_t pid, uint8_t reason)
{
	struct jn_mqtt_pkt p = { .type = type, .version = c->version, .pid = pid };
	if (c->version == JN_MQTT_V5)
		p.reason = reason;
	send_pkt(c, &p);
}

void jn__mqtt_ack_send(struct mq_conn *c, uint8_t type, uint16_t pid, uint8_t reason)
{
	struct mq_session *s = c->s;
	if (type == JN_MQTT_PUBREC && reason >= 0x80 && c->version == JN_MQTT_V5 && s) {
		/* 5.0 §4.3.3: a failed PUBREC ends the flow; no PUBREL follows */
		pthread_mutex_lock(&s->lock);
		if (s->conn == c)
			jn__mqtt_q2in_del(s, pid);
		pthread_mutex_unlock(&s->lock);
	}
	send_ack(c, type, pid, reason);
}

/* An acknowledgement that needs no verdict, behind those still waiting. */
static int ack_now(struct mq_conn *c, uint8_t type, uint16_t pid, uint8_t reason)
{
	if (!jn__mqtt_acks_pending(c->acks)) {
		send_ack(c, type, pid, reason);
		return 0;
	}
	struct mq_ack *a = jn__mqtt_ack_new(&c->acks, c, type, pid, reason);
	if (!a)
		return -JN_ENOMEM;
	jn__mqtt_ack_done(a, 0, false);
	return 0;
}

void jn__mqtt_send_pubrel(struct mq_conn *c, uint16_t pid)
{
	send_ack(c, JN_MQTT_PUBREL, pid, 0);
}

static void send_disconnect(struct mq_conn *c, uint8_t reason)
{
	if (c->version != JN_MQTT_V5 || !c->connected)
		return;
	struct jn_mqtt_pkt p = { .type = JN_MQTT_DISCONNECT, .version = JN_MQTT_V5, .reason = reason };
	send_pkt(c, &p);
}

static void put_varint(uint8_t *b, size_t *n, uint32_t v)
{
	do {
		uint8_t x = v & 0x7f;
		v >>= 7;
		if (v)
			x |= 0x80;
		b[(*n)++] = x;
	} while (v);
}

int jn__mqtt_send_publish(struct mq_conn *c, const struct jn_msg *m, uint8_t qos, bool retain,
                          bool dup, uint16_t pid, uint32_t sub_id, int64_t expires_ns)
{
	char tstack[STACK_TOPIC];
	uint8_t pstack[STACK_PROPS];
	char *topic = m->subject_len <= sizeof tstack ? tstack : jn_malloc(m->subject_len);
	uint8_t *props = NULL;
	size_t plen = 0;
	int rc = -JN_ENOMEM;
	if (!topic)
		return rc;
	size_t tlen = jn_mqtt_subject_to_topic(m->subject, m->subject_len, topic);
	if (tlen == 0 || tlen > 65535) {
		rc = -JN_EMSGSIZE;   /* no MQTT topic for this subject */
		goto out;
	}
	bool v5 = c->version == JN_MQTT_V5;
	if (v5) {
		uint32_t left = 0;
		if (expires_ns) {
			int64_t d = expires_ns - jn__mqtt_realtime_ns();
			left = d <= 0 ? 1 : (uint32_t)((d + SEC - 1) / SEC);
		}
		size_t bound = jn__mqtt_props_bound(m);
		props = bound <= sizeof pstack ? pstack : jn_malloc(bound);
		if (!props)
			goto out;
		plen = jn__mqtt_props_from_msg(m, left, expires_ns != 0, sub_id, props, bound);
		if (plen > bound)
			plen = 0;   /* cannot happen: the bound holds */
	}
	uint64_t rem = 2 + (uint64_t)tlen + (qos ? 2 : 0) + m->data_len;
	if (v5)
		rem += jn_mqtt_varint_size((uint32_t)plen) + plen;
	uint64_t total = 1 + jn_mqtt_varint_size(rem > JN_MQTT_MAX_REMAINING ? 0 : (uint32_t)rem) + rem;
	if (rem > JN_MQTT_MAX_REMAINING || (c->client_max_packet && total > c->client_max_packet)) {
		rc = -JN_EMSGSIZE;
		goto out;
	}
	uint8_t h1[8], h2[8];
	size_t n1 = 0, n2 = 0;
	h1[n1++] = (uint8_t)((JN_MQTT_PUBLISH << 4) | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0));
	put_varint(h1, &n1, (uint32_t)rem);
	h1[n1++] = (uint8_t)(tlen >> 8);
	h1[n1++] = (uint8_t)tlen;
	if (qos) {
		h2[n2++] = (uint8_t)(pid >> 8);
		h2[n2++] = (uint8_t)pid;
	}
	if (v5)
		put_varint(h2, &n2, (uint32_t)plen);
	struct iovec iov[5];
	int k = 0;
	iov[k++] = (struct iovec){ h1, n1 };
	iov[k++] = (struct iovec){ topic, tlen };
	if (n2)
		iov[k++] = (struct iovec){ h2, n2 };
	if (plen)
		iov[k++] = (struct iovec){ props, plen };
	if (m->data_len)
		iov[k++] = (struct iovec){ (void *)m->data, m->data_len };
	rc = out_append(c, iov, k, true);
	if (rc == 0) {
		stat_add(&c->srv->stats.msgs_out, 1);
		stat_add(&c->srv->stats.bytes_out, m->data_len);
	}
out:
	if (topic != tstack)
		jn_free(topic);
	if (props && props != pstack)
		jn_free(props);
	return rc;
}

/* ---- closing ---------------------------------------------------------------- */

static int close_conn(struct mq_conn *c, const char *why)
{
	if (!c->closing) {
		c->closing = true;
		jn_link_close(c->link, why);
	}
	return -JN_ECLOSED;
}

/* The server stops (after the input already received was processed, so
 * a publish sent just before the signal is not lost): 5.0 clients hear
 * why. */
static void mqtt_on_shutdown(void *state, struct jn_thread_ctx *ctx)
{
	(void)ctx;
	struct mq_conn *c = state;
	if (!c->closing)
		send_disconnect(c, JN_MQTT_RC_SERVER_SHUTTING_DOWN);
}

/* A protocol violation: 5.0 gets a DISCONNECT with the reason first. */
static int violation(struct mq_conn *c, uint8_t reason, const char *why)
{
	stat_add(&c->srv->stats.protocol_errors, 1);
	if (!c->closing)
		send_disconnect(c, reason);
	jn_debug("mqtt: %s:%u - cid:%" PRIu64 " - %s", c->link->peer_ip, c->link->peer_port,
	         c->link->id, why);
	return close_conn(c, why);
}

static uint8_t reason_of(int err)
{
	switch (err) {
	case -JN_EINVAL: return JN_MQTT_RC_MALFORMED;
	case -JN_EMAXPAYLOAD: return JN_MQTT_RC_PACKET_TOO_LARGE;
	default: return JN_MQTT_RC_PROTOCOL_ERROR;
	}
}

/* ---- CONNECT ---------------------------------------------------------------- */

static int connack_fail(struct mq_conn *c, uint8_t rc3, uint8_t rc5, const char *why)
{
	struct jn_mqtt_pkt p = { .type = JN_MQTT_CONNACK, .version = c->version };
	p.reason = c->version == JN_MQTT_V5 ? rc5 : rc3;
	send_pkt(c, &p);
	jn_debug("mqtt: %s:%u - cid:%" PRIu64 " - CONNECT refused: %s", c->link->peer_ip,
	         c->link->peer_port, c->link->id, why);
	return close_conn(c, why);
}

/* A copy with a NUL, for jn_auth_check. */
static char *cstr(const struct jn_mqtt_bin *b)
{
	if (!b->p)
		return NULL;
	return jn_strndup((const char *)b->p, b->len);
}

static void set_user(struct mq_conn *c, const struct jn_user *u)
{
	c->user = u;
	c->pub_perms = u && (u->publish.has_allow || u->publish.ndeny);
	c->sub_perms = u && (u->subscribe.has_allow || u->subscribe.ndeny);
}

static int check_auth(struct mq_conn *c, const struct jn_mqtt_connect *k)
{
	const struct jn_auth *a = c->srv->auth;
	if (!c->srv->auth_required) {
		/* a no_auth_user still gives its permissions */
		const struct jn_user *u = NULL;
		if (a && a->no_auth_user && !k->username.p && !k->password.p)
			jn_auth_check(a, NULL, NULL, NULL, &u);
		set_user(c, u);
		return 0;
	}
	char *user = cstr(&k->username);
	char *pass = cstr(&k->password);
	if ((k->username.p && !user) || (k->password.p && !pass)) {
		jn_free(user);
		jn_free(pass);
		return -JN_ENOMEM;
	}
	const struct jn_user *u = NULL;
	/* nats-server takes the MQTT password as the token too */
	int rc = jn_auth_check(a, user, pass, pass, &u);
	jn_free(user);
	jn_free(pass);
	if (rc < 0)
		return rc;
	set_user(c, u);
	return 0;
}

/* The will in NATS form (subject, response topic as reply, header block
 * with its properties, payload). NULL with *err on refusal. */
static struct mq_will *make_will(struct mq_conn *c, const struct jn_mqtt_connect *k, int *err)
{
	uint8_t qos = (k->flags & JN_MQTT_CF_WILL_QOS) >> 3;
	bool retain = k->flags & JN_MQTT_CF_WILL_RETAIN;
	const struct jn_mqtt_props *wp = c->version == JN_MQTT_V5 ? &k->will_props : NULL;
	size_t scap = JN_MQTT_SUBJECT_CAP(k->will_topic.len);
	size_t hlen = jn__mqtt_build_hdr(qos, retain, wp, NULL, 0);
	bool has_reply = wp && JN_MQTT_HAS(wp, JN_MQTT_P_RESPONSE_TOPIC) && wp->response_topic.len;
	size_t rcap = has_reply ? JN_MQTT_SUBJECT_CAP(wp->response_topic.len) : 0;
	struct mq_will *w = jn_calloc(1, sizeof *w + scap + rcap + hlen + k->will_payload.len);
	if (!w) {
		*err = -JN_ENOMEM;
		return NULL;
	}
	uint8_t *p = w->bytes;
	int n = jn_mqtt_topic_to_subject((const char *)k->will_topic.p, k->will_topic.len,
	                                 (char *)p, scap);
	if (n < 0) {
		jn_free(w);
		*err = -JN_EBADSUBJECT;
		return NULL;
	}
	w->subject_len = (uint32_t)n;
	p += n;
	if (has_reply) {
		int r = jn_mqtt_topic_to_subject((const char *)wp->response_topic.p,
		                                 wp->response_topic.len, (char *)p, rcap);
		w->reply_len = r > 0 ? (uint32_t)r : 0;
		p += w->reply_len;
	}
	jn__mqtt_build_hdr(qos, retain, wp, p, hlen);
	w->hdr_len = (uint32_t)hlen;
	p += hlen;
	if (k->will_payload.len)
		memcpy(p, k->will_payload.p, k->will_payload.len);
	w->data_len = k->will_payload.len;
	w->qos = qos;
	w->retain = retain;
	w->delay_s = wp && JN_MQTT_HAS(wp, JN_MQTT_P_WILL_DELAY) ? wp->will_delay : 0;
	w->user = c->user;
	w->origin_id = c->link->id;
	return w;
}

static void will_view(const struct mq_will *w, struct jn_msg *m)
{
	const uint8_t *p = w->bytes;
	memset(m, 0, sizeof *m);
	m->subject = (const char *)p;
	m->subject_len = w->subject_len;
	p += w->subject_len;
	m->reply = w->reply_len ? (const char *)p : NULL;
	m->reply_len = w->reply_len;
	p += w->reply_len;
	m->hdr = p;
	m->hdr_len = w->hdr_len;
	p += w->hdr_len;
	m->data = p;
	m->data_len = w->data_len;
}

/* Into the router as a publish of connection `origin`. */
static uint32_t route(struct jn_mqtt_server *srv, const struct jn_msg *m, uint64_t origin,
                      struct jn_thread_ctx *ctx)
{
	struct jn_pub pub = { .origin_id = origin, .batch = ctx ? ctx->batch : NULL };
	jn_router_publish(srv->router, ctx ? ctx->cache : NULL, m, &pub);
	return pub.matched;
}

/* Retain m (a PUBLISH with RETAIN): stored or, with an empty payload,
 * deleted. */
static void retain(struct jn_mqtt_server *srv, const struct jn_msg *m)
{
	int64_t now = jn__mqtt_realtime_ns();
	int64_t exp = jn__mqtt_hdr_expires(m, now);
	jn__mqtt_retain(srv, m, now, exp, true);
	if (m->data_len == 0)
		jn__mqtt_persist_barrier(srv);   /* the delete is what must be durable */
}

void jn__mqtt_publish_will(struct jn_mqtt_server *srv, const struct mq_will *w,
                           struct jn_thread_ctx *ctx)
{
	struct jn_msg m;
	will_view(w, &m);
	if (w->user && !jn_auth_can_publish(w->user, m.subject, m.subject_len))
		return;
	if (w->retain)
		retain(srv, &m);
	stat_add(&srv->stats.msgs_in, 1);
	stat_add(&srv->stats.bytes_in, m.data_len);
	route(srv, &m, w->origin_id, ctx);
}

/* Attach c to the session of client id cid, taking it over from another
 * connection, resetting or resuming it; then send connack (its
 * session_present filled in) and what the session owes, all under the
 * session lock so that CONNACK is the first packet. */
static int attach(struct mq_conn *c, const char *cid, uint32_t cid_len, bool clean,
                  uint32_t expiry, uint16_t client_rmax, struct jn_mqtt_pkt *connack)
{
	struct jn_mqtt_server *srv = c->srv;
	int64_t now = c->ctx ? c->ctx->now_ns : c->last_in_ns;
	struct mq_will *ended_will = NULL;
	for (int tries = 0; tries < 16; tries++) {
		bool existed;
		struct mq_session *s = jn__mqtt_session_get(srv, cid, cid_len, &existed);
		if (!s)
			return -JN_ENOMEM;
		pthread_mutex_lock(&s->lock);
		if (s->dead) {
			/* Its last connection just ended it: a new one is due. That
			 * connection unlinks it from the registry only after dropping
			 * the session lock, so on a loaded machine we can get here
			 * again and again before it does: unlink it ourselves
			 * (idempotent) so the next lookup creates a fresh session. */
			pthread_mutex_unlock(&s->lock);
			jn__mqtt_session_unregister(s);
			jn__mqtt_session_unref(s);
			continue;
		}
		struct mq_conn *old = s->conn;
		if (old) {
			/* [MQTT-3.1.4-2] session takeover: the old connection goes */
			atomic_store(&old->taken_over, true);
			old->taken_over_persistent = s->persistent;
			send_disconnect(old, JN_MQTT_RC_SESSION_TAKEN_OVER);
			jn_link_close(old->link, "Session Taken Over");
			s->conn = NULL;
			atomic_store(&s->conn_id, 0);
		}
		/* expired while nobody swept: the session ended, and with it a
		 * delayed will is due (5.0 §3.1.3.2.2) */
		bool expired = existed && !old && s->persistent && s->expiry_s != UINT32_MAX &&
		               now - s->detached_ns >= (int64_t)s->expiry_s * SEC;
		if (expired && s->will) {
			ended_will = s->will;
			s->will = NULL;
		}
		bool resume = existed && !clean && s->persistent && !expired;
		if (existed && !resume) {
			if (s->persistent)
				jn__mqtt_persist_session_drop(s);
			jn__mqtt_session_kill_locked(s);
			s->dead = false;
		}
		if (s->will) {   /* 5.0: a delayed will is cancelled by the return */
			jn_free(s->will);
			s->will = NULL;
		}
		bool was_persistent = s->persistent;
		s->persistent = expiry > 0;
		s->expiry_s = expiry;
		s->version = c->version;
		s->window = srv->opts.max_inflight < client_rmax ? srv->opts.max_inflight : client_rmax;
		s->conn = c;
		atomic_store(&s->conn_id, c->link->id);
		c->s = s;
		if (s->persistent)
			jn__mqtt_persist_session(s);
		else if (was_persistent)
			jn__mqtt_persist_session_drop(s);
		connack->session_present = resume;
		send_pkt(c, connack);
		jn__mqtt_session_resume_locked(s, c);
		pthread_mutex_unlock(&s->lock);
		if (ended_will) {
			jn__mqtt_publish_will(srv, ended_will, c->ctx);
			jn_free(ended_will);
		}
		return 0;
	}
	return -JN_ECLOSED;
}

static int handle_connect(struct mq_conn *c, const struct jn_mqtt_pkt *p)
{
	struct jn_mqtt_server *srv = c->srv;
	const struct jn_mqtt_connect *k = &p->connect;
	c->version = k->level;
	if (k->unsupported) {
		/* [MQTT-3.1.2-2]: 3.1.1's CONNACK, rc 1 (nats-server: 20 02 00 01) */
		c->version = JN_MQTT_V311;
		return connack_fail(c, JN_MQTT_CONNACK_BAD_VERSION, JN_MQTT_CONNACK_BAD_VERSION,
		                    "unsupported protocol version");
	}
	c->parser.version = k->level;
	bool v5 = k->level == JN_MQTT_V5;
	bool clean = k->flags & JN_MQTT_CF_CLEAN;
	if (v5 && JN_MQTT_HAS(&p->props, JN_MQTT_P_AUTH_METHOD))
		return connack_fail(c, 0, JN_MQTT_RC_BAD_AUTH_METHOD, "enhanced authentication");

	char cid_buf[64];
	const char *cid = (const char *)k->client_id.p;
	uint32_t cid_len = k->client_id.len;
	bool assigned = false;
	if (cid_len == 0) {
		/* [MQTT-3.1.3-7/8]; 3.1 needs 1..23 characters */
		if (k->level == JN_MQTT_V31 || (!v5 && !clean))
			return connack_fail(c, JN_MQTT_CONNACK_ID_REJECTED, JN_MQTT_RC_CLIENT_ID_INVALID,
			                    "empty client id");
		uint64_t n = atomic_fetch_add(&srv->auto_id, 1);
		cid_len = (uint32_t)snprintf(cid_buf, sizeof cid_buf, "auto-%016" PRIx64 "%08" PRIx64,
		                             srv->id_salt, n);
		cid = cid_buf;
		assigned = true;
	}

	int rc = check_auth(c, k);
	if (rc < 0) {
		stat_add(&srv->stats.auth_failures, 1);
		if (rc == -JN_ENOMEM)
			return close_conn(c, "Out Of Memory");
		bool creds = k->username.p || k->password.p;
		return connack_fail(c, creds ? JN_MQTT_CONNACK_BAD_USER_PASS : JN_MQTT_CONNACK_NOT_AUTHORIZED,
		                    creds ? JN_MQTT_RC_BAD_USER_PASS : JN_MQTT_RC_NOT_AUTHORIZED,
		                    "Authorization Violation");
	}

	if (k->flags & JN_MQTT_CF_WILL) {
		int err = 0;
		c->will = make_will(c, k, &err);
		if (!c->will) {
			if (err == -JN_ENOMEM)
				return close_conn(c, "Out Of Memory");
			if (v5)
				return connack_fail(c, 0, JN_MQTT_RC_TOPIC_NAME_INVALID, "invalid will topic");
			return violation(c, 0, "invalid will topic");
		}
	}

	uint32_t expiry = clean ? 0 : UINT32_MAX;
	uint16_t rmax = 65535;
	bool capped = false;
	if (v5) {
		expiry = JN_MQTT_HAS(&p->props, JN_MQTT_P_SESSION_EXPIRY) ? p->props.session_expiry : 0;
		if (JN_MQTT_HAS(&p->props, JN_MQTT_P_RECEIVE_MAX))
			rmax = p->props.receive_max;
		if (JN_MQTT_HAS(&p->props, JN_MQTT_P_MAX_PACKET_SIZE))
			c->client_max_packet = p->props.max_packet_size;
	}
	/* also a 3.1.1 persistent session (mosquitto's persistent_client_expiration) */
	if (srv->opts.max_session_expiry && expiry > srv->opts.max_session_expiry) {
		expiry = srv->opts.max_session_expiry;
		capped = v5;
	}
	c->keep_alive = k->keep_alive;
	bool ka_capped = false;
	if (srv->opts.max_keepalive && (k->keep_alive == 0 || k->keep_alive > srv->opts.max_keepalive)) {
		/* as mosquitto: 5.0 is told the server's value, 3.1.1 cannot be */
		if (!v5)
			return connack_fail(c, JN_MQTT_CONNACK_ID_REJECTED, 0, "keep alive over max_keepalive");
		c->keep_alive = srv->opts.max_keepalive;
		ka_capped = true;
	}

	struct jn_mqtt_pkt ack = { .type = JN_MQTT_CONNACK, .version = c->version };
	if (v5) {
		struct jn_mqtt_props *ap = &ack.props;
		if (ka_capped) {
			JN_MQTT_SET(ap, JN_MQTT_P_SERVER_KEEP_ALIVE);
			ap->server_keep_alive = c->keep_alive;
		}
		if (srv->opts.receive_max < 65535) {
			JN_MQTT_SET(ap, JN_MQTT_P_RECEIVE_MAX);
			ap->receive_max = srv->opts.receive_max;
		}
		if (srv->opts.max_packet_size) {
			JN_MQTT_SET(ap, JN_MQTT_P_MAX_PACKET_SIZE);
			ap->max_packet_size = srv->opts.max_packet_size;
		}
		if (srv->opts.topic_alias_max) {
			JN_MQTT_SET(ap, JN_MQTT_P_TOPIC_ALIAS_MAX);
			ap->topic_alias_max = srv->opts.topic_alias_max;
		}
		if (assigned) {
			JN_MQTT_SET(ap, JN_MQTT_P_ASSIGNED_CLIENT_ID);
			ap->assigned_client_id = (struct jn_mqtt_bin){ (const uint8_t *)cid, cid_len };
		}
		if (capped) {
			JN_MQTT_SET(ap, JN_MQTT_P_SESSION_EXPIRY);
			ap->session_expiry = expiry;
		}
	}
	c->connected = true;
	rc = attach(c, cid, cid_len, clean, expiry, rmax, &ack);
	if (rc < 0) {
		c->connected = false;
		return connack_fail(c, JN_MQTT_CONNACK_UNAVAILABLE, JN_MQTT_RC_SERVER_UNAVAILABLE,
		                    "cannot create the session");
	}
	jn_debug("mqtt: %s:%u - cid:%" PRIu64 " - client \"%.*s\" connected (v%u%s)",
	         c->link->peer_ip, c->link->peer_port, c->link->id, (int)cid_len, cid, k->level,
	         c->s->persistent ? ", persistent session" : "");
	return 0;
}

/* ---- PUBLISH in ---------------------------------------------------------------- */

static int handle_publish(struct mq_conn *c, const struct jn_mqtt_pkt *p)
{
	struct jn_mqtt_server *srv = c->srv;
	const struct jn_mqtt_publish *pp = &p->publish;
	bool v5 = c->version == JN_MQTT_V5;
	const char *topic = (const char *)pp->topic.p;
	uint32_t tlen = pp->topic.len;
	jn__mqtt_persist_mark_begin();
	if (v5 && JN_MQTT_HAS(&p->props, JN_MQTT_P_TOPIC_ALIAS)) {
		uint16_t a = p->props.topic_alias;
		if (a == 0 || a > srv->opts.topic_alias_max)
			return violation(c, JN_MQTT_RC_TOPIC_ALIAS_INVALID, "topic alias out of range");
		if (!c->aliases) {
			c->aliases = jn_calloc(srv->opts.topic_alias_max, sizeof *c->aliases);
			if (!c->aliases)
				return close_conn(c, "Out Of Memory");
		}
		struct mq_alias *al = &c->aliases[a - 1];
		if (tlen) {
			char *t = jn_strndup(topic, tlen);
			if (!t)
				return close_conn(c, "Out Of Memory");
			jn_free(al->topic);
			al->topic = t;
			al->len = (uint16_t)tlen;
		} else if (al->topic) {
			topic = al->topic;
			tlen = al->len;
		} else {
			return violation(c, JN_MQTT_RC_PROTOCOL_ERROR, "unknown topic alias");
		}
	}
	if (tlen == 0)
		return violation(c, JN_MQTT_RC_PROTOCOL_ERROR, "empty topic");

	char sstack[STACK_TOPIC * 2 + 1];
	size_t scap = JN_MQTT_SUBJECT_CAP(tlen);
	char *subj = scap <= sizeof sstack ? sstack : jn_malloc(scap);
	uint8_t hstack[STACK_HDR];
	uint8_t *hdr = NULL;
	char rstack[STACK_TOPIC];
	char *reply = NULL;
	int rc = 0;
	if (!subj)
		return close_conn(c, "Out Of Memory");
	int n = jn_mqtt_topic_to_subject(topic, tlen, subj, scap);
	if (n < 0) {
		/* wildcards, whitespace, or a "*" / ">" level (nats-server closes too) */
		rc = violation(c, JN_MQTT_RC_TOPIC_NAME_INVALID, "invalid topic name");
		goto out;
	}
	stat_add(&srv->stats.msgs_in, 1);
	stat_add(&srv->stats.bytes_in, pp->payload.len);

	if (c->pub_perms && !jn_auth_can_publish(c->user, subj, (size_t)n)) {
		/* dropped; 3.1.1 has no way to say so, 5.0 says it in the ack */
		jn_debug("mqtt: cid:%" PRIu64 " - publish to \"%.*s\" denied", c->link->id, n, subj);
		if (pp->qos && ack_now(c, pp->qos == 1 ? JN_MQTT_PUBACK : JN_MQTT_PUBREC, p->pid,
		                       JN_MQTT_RC_NOT_AUTHORIZED) < 0)
			rc = close_conn(c, "Out Of Memory");
		goto out;
	}

	struct mq_session *s = c->s;
	if (pp->qos == 2) {
		pthread_mutex_lock(&s->lock);
		bool dup = jn__mqtt_q2in_has(s, p->pid);
		bool full = !dup && s->nq2in >= srv->opts.receive_max;
		int arc = dup || full ? 0 : jn__mqtt_q2in_add(s, p->pid);
		pthread_mutex_unlock(&s->lock);
		if (full && v5) {
			rc = violation(c, JN_MQTT_RC_RECEIVE_MAX_EXCEEDED, "receive maximum exceeded");
			goto out;
		}
		if (arc < 0) {
			rc = close_conn(c, "Out Of Memory");
			goto out;
		}
		if (dup) {
			/* already delivered on its first PUBLISH: only the PUBREC again
			 * (its id is durable: the first PUBREC waited for that) */
			if (ack_now(c, JN_MQTT_PUBREC, p->pid, 0) < 0)
				rc = close_conn(c, "Out Of Memory");
			goto out;
		}
	}

	const struct jn_mqtt_props *props = v5 ? &p->props : NULL;
	size_t hlen = jn__mqtt_build_hdr(pp->qos, pp->retain, props, NULL, 0);
	hdr = hlen <= sizeof hstack ? hstack : jn_malloc(hlen);
	if (!hdr) {
		rc = close_conn(c, "Out Of Memory");
		goto out;
	}
	jn__mqtt_build_hdr(pp->qos, pp->retain, props, hdr, hlen);
	struct jn_msg m = {
		.subject = subj,
		.subject_len = (uint32_t)n,
		.hdr = hdr,
		.hdr_len = (uint32_t)hlen,
		.data = pp->payload.p,
		.data_len = pp->payload.len,
	};
	if (v5 && JN_MQTT_HAS(&p->props, JN_MQTT_P_RESPONSE_TOPIC) && p->props.response_topic.len) {
		size_t rcap = JN_MQTT_SUBJECT_CAP(p->props.response_topic.len);
		reply = rcap <= sizeof rstack ? rstack : jn_malloc(rcap);
		int r = reply ? jn_mqtt_topic_to_subject((const char *)p->props.response_topic.p,
		                                         p->props.response_topic.len, reply, rcap)
		              : -1;
		if (r > 0) {
			m.reply = reply;
			m.reply_len = (uint32_t)r;
		}
	}
	if (pp->qos == 0) {
		if (pp->retain)
			retain(srv, &m);
		route(srv, &m, c->link->id, c->ctx);
		goto out;
	}
	/* QoS 1/2: the acknowledgement waits for what it promises (acks.c):
	 * the capturing stream's fsynced verdict and our own records */
	uint8_t type = pp->qos == 1 ? JN_MQTT_PUBACK : JN_MQTT_PUBREC;
	struct mq_ack *a = NULL;
	if (srv->opts.js || srv->store) {
		a = jn__mqtt_ack_new(&c->acks, c, type, p->pid, 0);
		if (!a) {
			rc = close_conn(c, "Out Of Memory");
			goto out;
		}
	}
	if (pp->retain)
		retain(srv, &m);
	struct jn_pub pub = { .origin_id = c->link->id, .batch = c->ctx ? c->ctx->batch : NULL };
	if (a && srv->opts.js) {
		jn__mqtt_ack_wait(a);
		if (jn_js_publish_acked(srv->opts.js, c->ctx ? c->ctx->cache : NULL, &m, &pub,
		                        jn__mqtt_ack_js_done, a) < 0)
			jn__mqtt_ack_done(a, JN_MQTT_RC_UNSPECIFIED, false);
	} else {
		jn_router_publish(srv->router, c->ctx ? c->ctx->cache : NULL, &m, &pub);
	}
	uint8_t reason = pub.matched ? 0 : JN_MQTT_RC_NO_MATCHING_SUBSCRIBERS;
	uint64_t mark = jn__mqtt_persist_mark_end();
	if (a && mark) {
		jn__mqtt_ack_wait(a);
		if (jn__mqtt_persist_when_durable(srv, mark, jn__mqtt_ack_store_done, a) < 0)
			jn__mqtt_ack_done(a, JN_MQTT_RC_UNSPECIFIED, false);
	}
	if (a)
		jn__mqtt_ack_done(a, reason, false);
	else
		send_ack(c, type, p->pid, reason);
out:
	if (subj != sstack)
		jn_free(subj);
	if (hdr && hdr != hstack)
		jn_free(hdr);
	if (reply && reply != rstack)
		jn_free(reply);
	return rc;
}

/* ---- acknowledgements ------------------------------------------------------------ */

static int handle_ack(struct mq_conn *c, const struct jn_mqtt_pkt *p)
{
	int rc = jn__mqtt_session_ack(c->s, c, p->type, p->pid, p->reason);
	if (rc == -JN_ENOTFOUND && p->type == JN_MQTT_PUBREC && p->reason < 0x80) {
		/* let the client finish a flow we no longer know (5.0 §4.3.3) */
		send_ack(c, JN_MQTT_PUBREL, p->pid, JN_MQTT_RC_PACKET_ID_NOT_FOUND);
	}
	return 0;
}

static int handle_pubrel(struct mq_conn *c, const struct jn_mqtt_pkt *p)
{
	struct mq_session *s = c->s;
	jn__mqtt_persist_mark_begin();
	pthread_mutex_lock(&s->lock);
	bool found = jn__mqtt_q2in_del(s, p->pid);
	pthread_mutex_unlock(&s->lock);
	uint64_t mark = jn__mqtt_persist_mark_end();
	/* 3.1.1 §4.3.3: PUBCOMP even for an unknown pid; once the id's release
	 * is durable, so that a crash cannot make its reuse look like a
	 * duplicate */
	uint8_t reason = found ? 0 : JN_MQTT_RC_PACKET_ID_NOT_FOUND;
	if (!mark)
		return ack_now(c, JN_MQTT_PUBCOMP, p->pid, reason) < 0 ? close_conn(c, "Out Of Memory")
		                                                       : 0;
	struct mq_ack *a = jn__mqtt_ack_new(&c->acks, c, JN_MQTT_PUBCOMP, p->pid, reason);
	if (!a)
		return close_conn(c, "Out Of Memory");
	jn__mqtt_ack_wait(a);
	if (jn__mqtt_persist_when_durable(c->srv, mark, jn__mqtt_ack_store_done, a) < 0)
		jn__mqtt_ack_done(a, JN_MQTT_RC_UNSPECIFIED, false);
	jn__mqtt_ack_done(a, 0, false);
	return 0;
}

/* ---- SUBSCRIBE / UNSUBSCRIBE --------------------------------------------------- */

/* May this user subscribe to filter (all its NATS subjects)? */
static bool sub_allowed(struct mq_conn *c, const char *f, size_t flen)
{
	if (!c->sub_perms)
		return true;
	const char *g, *inner = f;
	size_t gl, ilen = flen;
	if (jn_mqtt_share_parse(f, flen, &g, &gl, &inner, &ilen) < 0)
		return false;
	size_t cap = JN_MQTT_SUBJECT_CAP(ilen);
	char stack[STACK_TOPIC * 2 + 1];
	char *s = cap <= sizeof stack ? stack : jn_malloc(cap);
	if (!s)
		return false;
	bool up;
	int n = jn_mqtt_filter_to_subject(inner, ilen, s, cap, &up);
	bool ok = n > 0 && jn_auth_can_subscribe(c->user, s, (size_t)n) &&
	          (!up || jn_auth_can_subscribe(c->user, s, (size_t)n - 2));
	if (s != stack)
		jn_free(s);
	return ok;
}

static int handle_subscribe(struct mq_conn *c, const struct jn_mqtt_pkt *p)
{
	struct jn_mqtt_server *srv = c->srv;
	struct mq_session *s = c->s;
	bool v5 = c->version == JN_MQTT_V5;
	uint32_t count = p->list.count;
	uint8_t cstack[64];
	struct mq_sub *mstack[64];
	uint8_t *codes = count <= 64 ? cstack : jn_malloc(count);
	struct mq_sub **newsubs = count <= 64 ? mstack : jn_malloc(count * sizeof *newsubs);
	int rc = 0;
	if (!codes || !newsubs) {
		rc = close_conn(c, "Out Of Memory");
		goto out;
	}
	uint32_t sub_id = v5 && JN_MQTT_HAS(&p->props, JN_MQTT_P_SUBSCRIPTION_ID)
	                      ? p->props.sub_ids[0] : 0;
	uint32_t nnew = 0;
	pthread_mutex_lock(&s->lock);
	if (s->conn != c || s->dead) {
		pthread_mutex_unlock(&s->lock);
		goto out;   /* taken over meanwhile */
	}
	size_t pos = 0;
	struct jn_mqtt_bin f;
	uint8_t opt;
	uint32_t i = 0;
	bool changed = false;
	while (jn_mqtt_topics_next(p, &pos, &f, &opt)) {
		uint8_t qos = opt & JN_MQTT_SO_QOS;
		uint8_t flags = v5 ? (opt & (JN_MQTT_SO_NO_LOCAL | JN_MQTT_SO_RAP)) : 0;
		uint8_t rh = v5 ? (opt >> JN_MQTT_SO_RH_SHIFT) & 3 : 0;
		const char *fs = (const char *)f.p;
		const char *g, *inner;
		size_t gl, il;
		int sh = jn_mqtt_share_parse(fs, f.len, &g, &gl, &inner, &il);
		if (v5 && sh == 1 && (flags & JN_MQTT_SO_NO_LOCAL)) {
			pthread_mutex_unlock(&s->lock);
			rc = violation(c, JN_MQTT_RC_PROTOCOL_ERROR, "no local on a shared subscription");
			goto out;
		}
		uint8_t code;
		if (sh < 0 || !jn_mqtt_filter_valid(sh == 1 ? inner : fs, sh == 1 ? il : f.len)) {
			code = v5 ? JN_MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
		} else if (!sub_allowed(c, fs, f.len)) {
			code = v5 ? JN_MQTT_RC_NOT_AUTHORIZED : 0x80;
		} else {
			bool isnew = false;
			struct mq_sub *ms = NULL;
			int arc = jn__mqtt_sub_add_locked(s, fs, f.len, qos, flags, sub_id,
			                                  c->sub_perms ? c->user : NULL, &isnew, &ms);
			if (arc == 0) {
				code = qos;
				changed = true;
				if (rh == 0 || (rh == 1 && isnew))
					newsubs[nnew++] = ms;
			} else if (arc == -JN_EBADSUBJECT) {
				/* a "*" or ">" level: valid MQTT, but not mappable */
				code = v5 ? JN_MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
			} else {
				code = v5 ? JN_MQTT_RC_UNSPECIFIED : 0x80;
			}
		}
		codes[i++] = code;
	}
	if (changed)
		jn__mqtt_persist_session(s);
	struct jn_mqtt_pkt ack = { .type = JN_MQTT_SUBACK, .version = c->version, .pid = p->pid };
	ack.list.raw = (struct jn_mqtt_bin){ codes, i };
	uint8_t big[1024];
	size_t n = jn_mqtt_encode(&ack, big, sizeof big, false);
	uint8_t *buf = n <= sizeof big ? big : jn_malloc(n);
	if (buf) {
		jn_mqtt_encode(&ack, buf, n, false);
		struct iovec iov = { buf, n };
		out_append(c, &iov, 1, false);
		if (buf != big)
			jn_free(buf);
	}
	pthread_mutex_unlock(&s->lock);
	/* After the SUBACK: retained messages of the new subscriptions. A
	 * subscription removed meanwhile drops them (it checks `removed`). */
	for (uint32_t k = 0; k < nnew; k++)
		jn__mqtt_retained_send(srv, newsubs[k]);
out:
	if (codes && codes != cstack)
		jn_free(codes);
	if (newsubs && newsubs != mstack)
		jn_free(newsubs);
	return rc;
}

static int handle_unsubscribe(struct mq_conn *c, const struct jn_mqtt_pkt *p)
{
	struct mq_session *s = c->s;
	uint32_t count = p->list.count;
	uint8_t cstack[64];
	uint8_t *codes = count <= 64 ? cstack : jn_malloc(count);
	if (!codes)
		return close_conn(c, "Out Of Memory");
	pthread_mutex_lock(&s->lock);
	if (s->conn != c || s->dead) {
		pthread_mutex_unlock(&s->lock);
		if (codes != cstack)
			jn_free(codes);
		return 0;
	}
	size_t pos = 0;
	struct jn_mqtt_bin f;
	uint8_t opt;
	uint32_t i = 0;
	bool changed = false;
	while (jn_mqtt_topics_next(p, &pos, &f, &opt)) {
		int rc = jn__mqtt_sub_remove_locked(s, (const char *)f.p, f.len);
		codes[i++] = rc == 0 ? 0 : JN_MQTT_RC_NO_SUBSCRIPTION_EXISTED;
		changed |= rc == 0;
	}
	if (changed)
		jn__mqtt_persist_session(s);
	/* [MQTT-3.10.4-4]: UNSUBACK even when nothing matched */
	struct jn_mqtt_pkt ack = { .type = JN_MQTT_UNSUBACK, .version = c->version, .pid = p->pid };
	if (c->version == JN_MQTT_V5)
		ack.list.raw = (struct jn_mqtt_bin){ codes, i };
	uint8_t big[1024];
	size_t n = jn_mqtt_encode(&ack, big, sizeof big, false);
	uint8_t *buf = n <= sizeof big ? big : jn_malloc(n);
	if (buf) {
		jn_mqtt_encode(&ack, buf, n, false);
		struct iovec iov = { buf, n };
		out_append(c, &iov, 1, false);
		if (buf != big)
			jn_free(buf);
	}
	pthread_mutex_unlock(&s->lock);
	if (codes != cstack)
		jn_free(codes);
	return 0;
}

/* ---- DISCONNECT ------------------------------------------------------------------ */

static int handle_disconnect(struct mq_conn *c, const struct jn_mqtt_pkt *p)
{
	if (c->version == JN_MQTT_V5) {
		if (JN_MQTT_HAS(&p->props, JN_MQTT_P_SESSION_EXPIRY)) {
			struct mq_session *s = c->s;
			pthread_mutex_lock(&s->lock);
			bool bad = s->expiry_s == 0 && p->props.session_expiry != 0;
			if (!bad && s->conn == c) {
				/* 5.0 §3.14.2.2.2: the client may shorten or end it */
				s->expiry_s = p->props.session_expiry;
				bool was = s->persistent;
				s->persistent = s->expiry_s > 0;
				if (was && !s->persistent)
					jn__mqtt_persist_session_drop(s);
				else if (s->persistent)
					jn__mqtt_persist_session(s);
			}
			pthread_mutex_unlock(&s->lock);
			if (bad)
				return violation(c, JN_MQTT_RC_PROTOCOL_ERROR, "session expiry set at DISCONNECT");
		}
		/* 0x04: disconnect with will message */
		c->disconnected = p->reason != JN_MQTT_RC_DISCONNECT_WITH_WILL;
	} else {
		c->disconnected = true;
	}
	return close_conn(c, "Client Closed");
}

/* ---- dispatch ---------------------------------------------------------------------- */

static int on_pkt(void *arg, const struct jn_mqtt_pkt *p)
{
	struct mq_conn *c = arg;
	if (c->closing)
		return -JN_ECLOSED;
	if (!c->connected) {
		if (p->type != JN_MQTT_CONNECT)
			return violation(c, 0, "first packet is not CONNECT");
		return handle_connect(c, p);
	}
	switch (p->type) {
	case JN_MQTT_PUBLISH:
		return handle_publish(c, p);
	case JN_MQTT_PUBACK:
	case JN_MQTT_PUBREC:
	case JN_MQTT_PUBCOMP:
		return handle_ack(c, p);
	case JN_MQTT_PUBREL:
		return handle_pubrel(c, p);
	case JN_MQTT_SUBSCRIBE:
		return handle_subscribe(c, p);
	case JN_MQTT_UNSUBSCRIBE:
		return handle_unsubscribe(c, p);
	case JN_MQTT_PINGREQ: {
		static const uint8_t resp[2] = { 0xd0, 0x00 };
		struct iovec iov = { (void *)resp, 2 };
		out_append(c, &iov, 1, false);
		return 0;
	}
	case JN_MQTT_DISCONNECT:
		return handle_disconnect(c, p);
	case JN_MQTT_CONNECT:
		return violation(c, JN_MQTT_RC_PROTOCOL_ERROR, "second CONNECT");   /* [MQTT-3.1.0-2] */
	default:
		/* AUTH without enhanced authentication, or a server's packet */
		return violation(c, JN_MQTT_RC_PROTOCOL_ERROR, "unexpected packet type");
	}
}

/* ---- jn_proto ------------------------------------------------------------------------ */

static void conn_free(void *p)
{
	jn_free(p);
}

static void *mqtt_open(void *server, struct jn_link *l, struct jn_thread_ctx *ctx)
{
	struct jn_mqtt_server *srv = server;
	uint64_t cur = atomic_fetch_add(&srv->stats.conns_current, 1);
	if (srv->opts.max_connections && cur >= srv->opts.max_connections) {
		atomic_fetch_sub(&srv->stats.conns_current, 1);
		return NULL;
	}
	struct mq_conn *c = jn_calloc(1, sizeof *c);
	if (!c) {
		atomic_fetch_sub(&srv->stats.conns_current, 1);
		return NULL;
	}
	c->srv = srv;
	c->link = l;
	c->version = JN_MQTT_V311;
	jn_mqtt_parser_init(&c->parser, srv->opts.max_packet_size);
	int64_t now = ctx ? ctx->now_ns : l->created_ns;
	c->opened_ns = c->last_in_ns = now;
	pthread_mutex_lock(&l->out.lock);
	l->out.limit = srv->opts.max_pending;
	pthread_mutex_unlock(&l->out.lock);
	stat_add(&srv->stats.conns_total, 1);
	return c;
}

static int mqtt_on_data(void *state, const uint8_t *buf, size_t len, struct jn_thread_ctx *ctx)
{
	struct mq_conn *c = state;
	if (c->closing || atomic_load_explicit(&c->taken_over, memory_order_relaxed))
		return -JN_ECLOSED;
	c->ctx = ctx;
	if (ctx)
		c->last_in_ns = ctx->now_ns;
	tl_on_worker = true;
	int rc = jn_mqtt_parse(&c->parser, buf, len, on_pkt, c);
	if (rc < 0 && !c->closing)
		violation(c, reason_of(rc), rc == -JN_EMAXPAYLOAD ? "packet too large" : "malformed packet");
	tl_on_worker = false;
	c->ctx = NULL;
	return rc < 0 ? rc : 0;
}

static void mqtt_on_tick(void *state, struct jn_thread_ctx *ctx)
{
	struct mq_conn *c = state;
	if (c->closing || !ctx)
		return;
	struct jn_mqtt_server *srv = c->srv;
	int64_t now = ctx->now_ns;
	c->ctx = ctx;
	jn__mqtt_sweep(srv, ctx, now);
	c->ctx = NULL;
	if (!c->connected) {
		if (srv->opts.connect_timeout_ns > 0 && now - c->opened_ns >= srv->opts.connect_timeout_ns)
			close_conn(c, "Connect Timeout");
		return;
	}
	/* [MQTT-3.1.2-24]: one and a half times the keep alive */
	if (c->keep_alive && now - c->last_in_ns >= (int64_t)c->keep_alive * 3 * SEC / 2) {
		send_disconnect(c, JN_MQTT_RC_KEEP_ALIVE_TIMEOUT);
		close_conn(c, "Keep Alive Timeout");
		return;
	}
	if (srv->opts.write_deadline_ns > 0) {
		int64_t prog = atomic_load_explicit(&c->link->last_write_progress_ns,
		                                    memory_order_relaxed);
		if (jn_outq_pending(&c->link->out) == 0) {
			c->stuck_since_ns = 0;
			c->progress_seen_ns = prog;
		} else if (prog != c->progress_seen_ns || !c->stuck_since_ns) {
			c->progress_seen_ns = prog;
			c->stuck_since_ns = now;
		} else if (now - c->stuck_since_ns >= srv->opts.write_deadline_ns) {
			stat_add(&srv->stats.slow_consumers, 1);
			close_conn(c, "Slow Consumer Detected (write deadline)");
		}
	}
}

static void mqtt_on_close(void *state, struct jn_thread_ctx *ctx)
{
	struct mq_conn *c = state;
	struct jn_mqtt_server *srv = c->srv;
	c->closing = true;
	/* first: from here no verdict sends into this connection */
	jn__mqtt_acks_detach(c->acks);
	c->acks = NULL;
	jn_mqtt_parser_fini(&c->parser);
	struct mq_will *w = c->will;
	c->will = NULL;
	bool publish = w && !c->disconnected;
	struct mq_session *s = c->s;
	if (s) {
		bool gone = false;
		pthread_mutex_lock(&s->lock);
		if (s->conn == c) {
			s->conn = NULL;
			atomic_store(&s->conn_id, 0);
			s->detached_ns = ctx ? ctx->now_ns : c->last_in_ns;
			if (!s->persistent) {
				jn__mqtt_session_kill_locked(s);   /* clean session ends here */
				gone = true;
			} else if (publish && w->delay_s > 0) {
				/* 5.0 will delay: the sweep publishes it unless the
				 * client comes back first */
				s->will = w;
				s->will_due_ns = s->detached_ns + (int64_t)w->delay_s * SEC;
				w = NULL;
				publish = false;
			}
		} else if (publish && w->delay_s > 0 && c->taken_over_persistent) {
			/* 5.0 §3.1.3.2.2: a new connection to the (persistent)
			 * session came within the delay: it took this one over
			 * before we saw our own close, so the will is cancelled,
			 * exactly as if our close had been seen first (the will
			 * parked in s->will above) and the new CONNECT had then
			 * cancelled it in attach(). */
			publish = false;
		}
		pthread_mutex_unlock(&s->lock);
		if (gone)
			jn__mqtt_session_unregister(s);
	}
	if (publish)
		jn__mqtt_publish_will(srv, w, ctx);
	jn_free(w);
	if (s) {
		c->s = NULL;
		jn__mqtt_session_unref(s);
	}
	if (c->aliases) {
		for (uint16_t i = 0; i < srv->opts.topic_alias_max; i++)
			jn_free(c->aliases[i].topic);
		jn_free(c->aliases);
		c->aliases = NULL;
	}
	atomic_fetch_sub(&srv->stats.conns_current, 1);
	jn_epoch_retire(c, conn_free);
}

const struct jn_proto jn_mqtt_proto = {
	.name = "mqtt",
	.open = mqtt_open,
	.on_data = mqtt_on_data,
	.on_tick = mqtt_on_tick,
	.on_shutdown = mqtt_on_shutdown,
	.on_close = mqtt_on_close,
};
