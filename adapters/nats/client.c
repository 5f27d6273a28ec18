/*
 * client.c - one NATS client connection: jn_nats_proto.
 *
 * Owns: the per-connection protocol engine (spec nats-protocol.md §2, §3,
 * §6-§9, §11): INFO on accept, CONNECT options and authentication, PUB/HPUB
 * into the router, SUB/UNSUB with queue groups and auto-unsubscribe,
 * MSG/HMSG formatting for this connection's subscriptions, PING/PONG, the
 * ping and auth timers, no-responders, permissions and slow consumers.
 *
 * Threads. Everything but deliver() runs on the connection's worker. deliver()
 * runs on whichever thread publishes (another worker, an internal service),
 * so what it touches is either immutable while the subscription exists,
 * atomic, or behind a lock: the subscriber's outq has its own lock, and the
 * sid table is behind `lock` because an auto-unsubscribe completes on the
 * publisher's thread. The client and its subscriptions are reached through
 * cached match results without locks, so they are freed only by
 * jn_epoch_retire(); a subscription is removed exactly once, by whoever
 * wins the exchange on its `removed` flag (UNSUB, the last allowed
 * delivery, or on_close).
 *
 * Hot path, per PUB: parse (zero copy) -> subject check -> permission check
 * (only when the user has publish permissions) -> jn_router_publish ->
 * per delivery one line formatted on the stack and one jn_outq_append of
 * [line, headers, payload, CRLF]. No allocation; statistics are summed in
 * thread-local counters and added to the shared atomics once per read.
 *
 * Memory. An idle connection holds this struct and nothing else: the
 * parser's scratch exists only while a command is split across reads, and
 * the sid table only while there are subscriptions.
 */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "adapters/nats/parser.h"
#include "adapters/nats/server_int.h"
#include "core/alloc.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/log.h"
#include "core/subject.h"

/* Close reasons, for the log only (the wire texts come from core/err.c). */
#define REASON_SLOW "Slow Consumer Detected"
#define REASON_WDEADLINE "Slow Consumer Detected (write deadline)"
#define REASON_PARSE "Protocol Error"
#define REASON_CLIENT_ERR "Client Sent -ERR"
#define REASON_NOHEADERS "HPUB Without Headers Support"
#define REASON_BADJSON "Invalid JSON"
#define REASON_NOMEM "Out Of Memory"

struct nats_client;

struct nats_sub {
	struct jn_sub sub;               /* first: deliver() casts back */
	struct nats_client *c;
	const struct jn_user *user;      /* for the delivery-time deny filter */
	_Atomic uint64_t delivered;      /* deliveries so far (auto-unsubscribe) */
	_Atomic uint64_t max;            /* UNSUB max; 0 = none */
	_Atomic bool removed;
	bool deny_filter;                /* jn_auth_sub_needs_filter() at SUB time */
	uint32_t hash;                   /* of the sid */
	uint32_t sid_len;
	const char *sid;
	char str[];                      /* subject\0[queue\0]sid\0 */
};

/* sid -> subscription, open addressing with linear probing. Allocated on
 * the first SUB, shrunk as subscriptions go. */
struct sidtab {
	struct nats_sub **slot;
	uint32_t cap;                    /* 0 or a power of two */
	uint32_t n;
};

struct nats_client {
	struct jn_nats_server *srv;
	struct jn_link *link;
	struct jn_thread_ctx *ctx;       /* during on_data only */
	const struct jn_user *user;      /* authenticated user; NULL = unrestricted */
	struct jn_nats_parser parser;
	pthread_mutex_t lock;            /* guards tab */
	struct sidtab tab;
	bool tab_closed;                 /* on_close took the table */
	int64_t opened_ns;
	int64_t last_in_ns;              /* last inbound bytes */
	int64_t ping_due_ns;
	int64_t stuck_since_ns;          /* output pending without progress since */
	int64_t progress_seen_ns;
	int pings_out;
	int8_t protocol;
	bool authed;                     /* may send anything (auth done or not needed) */
	bool verbose, pedantic, echo, no_responders;
	bool pub_perms, sub_perms;       /* user has publish / subscribe permissions */
	bool closing;
	_Atomic bool headers;            /* read by deliver() on other threads */
	_Atomic bool slow;               /* slow consumer counted and close asked */
};

/* ---- statistics -----------------------------------------------------------
 * Summed per thread during one on_data() and added to the server's atomics
 * at its end: one contended add per read, not per message. */

struct tl_stats {
	struct jn_nats_server *srv;
	uint64_t msgs_in, bytes_in, msgs_out, bytes_out;
};
static _Thread_local struct tl_stats tl;

static inline void stat_add(_Atomic uint64_t *a, uint64_t v)
{
	atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

static void count_out(struct jn_nats_server *s, uint64_t bytes)
{
	if (tl.srv == s) {
		tl.msgs_out++;
		tl.bytes_out += bytes;
	} else {
		stat_add(&s->stats.msgs_out, 1);
		stat_add(&s->stats.bytes_out, bytes);
	}
}

static void tl_flush(void)
{
	struct jn_nats_server *s = tl.srv;
	if (!s)
		return;
	if (tl.msgs_in) {
		stat_add(&s->stats.msgs_in, tl.msgs_in);
		stat_add(&s->stats.bytes_in, tl.bytes_in);
	}
	if (tl.msgs_out) {
		stat_add(&s->stats.msgs_out, tl.msgs_out);
		stat_add(&s->stats.bytes_out, tl.bytes_out);
	}
	memset(&tl, 0, sizeof tl);
}

/* ---- output ------------------------------------------------------------- */

static void slow_consumer(struct nats_client *c, const char *reason)
{
	if (atomic_exchange(&c->slow, true))
		return;
	stat_add(&c->srv->stats.slow_consumers, 1);
	jn_link_close(c->link, reason);
}

/* Queue bytes on this connection; a refused append makes it a slow consumer
 * (or, out of memory, closes it). Returns 0 or the append error. */
static int out_append(struct nats_client *c, const struct iovec *iov, int n, bool is_msg)
{
	int rc = jn_outq_append(&c->link->out, iov, n, is_msg);
	if (rc == -JN_ESLOW)
		slow_consumer(c, REASON_SLOW);
	else if (rc == -JN_ENOMEM)
		jn_link_close(c->link, REASON_NOMEM);
	return rc;
}

static void send_raw(struct nats_client *c, const char *s, size_t n)
{
	struct iovec iov = { .iov_base = (void *)s, .iov_len = n };
	out_append(c, &iov, 1, false);
}

#define SEND_LIT(c, lit) send_raw((c), (lit), sizeof(lit) - 1)

static void send_err_text(struct nats_client *c, const char *text)
{
	struct iovec iov[3] = {
		{ .iov_base = (void *)"-ERR '", .iov_len = 6 },
		{ .iov_base = (void *)text, .iov_len = strlen(text) },
		{ .iov_base = (void *)"'\r\n", .iov_len = 3 },
	};
	out_append(c, iov, 3, false);
}

/* Send the -ERR of `code` if it has one; close if the table says so.
 * Returns -code when the connection is closing, else 0. */
static int proto_err(struct nats_client *c, int code)
{
	const struct jn_err_info *e = jn_err_info(code);
	if (e->nats_err)
		send_err_text(c, e->nats_err);
	if (!e->nats_close)
		return 0;
	c->closing = true;
	jn_link_close(c->link, e->nats_err ? e->nats_err : e->text);
	return -(code < 0 ? -code : code);
}

/* Close without an -ERR (nats-server's silent closes). */
static int close_silent(struct nats_client *c, const char *reason)
{
	c->closing = true;
	jn_link_close(c->link, reason);
	return -JN_EPROTO;
}

/* Append s[0..n) quoted as Go's %q does for the bytes a subject can hold. */
static size_t quote(char *dst, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *p = dst;
	*p++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			*p++ = '\\';
			*p++ = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			*p++ = '\\';
			*p++ = 'x';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		} else {
			*p++ = (char)ch;
		}
	}
	*p++ = '"';
	return (size_t)(p - dst);
}

/* -ERR '<table prefix> "<a>"[ using queue "<q>"]': the permission errors,
 * the only -ERR texts that carry data. Rare, so the line is heap-built. */
static void send_perm_err(struct nats_client *c, int code, const struct jn_nats_str *a,
                          const struct jn_nats_str *q)
{
	const char *prefix = jn_err_info(code)->nats_err;
	size_t plen = strlen(prefix);
	size_t cap = plen + 4 * (size_t)a->len + 4 * (size_t)(q ? q->len : 0) + 64;
	char *buf = jn_malloc(cap);
	if (!buf)
		return;
	char *p = buf;
	memcpy(p, prefix, plen);
	p += plen;
	*p++ = ' ';
	p += quote(p, a->p, a->len);
	if (q && q->len) {
		memcpy(p, " using queue ", 13);
		p += 13;
		p += quote(p, q->p, q->len);
	}
	*p = '\0';
	send_err_text(c, buf);
	jn_free(buf);
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

#define LINE_STACK 512

/*
 * Queue one MSG/HMSG on c. hdr/hdr_len: the header block (HMSG when the
 * client asked for headers, otherwise stripped). The control line is built
 * in a stack buffer when it fits, else sent as separate pieces.
 */
static void emit_msg(struct nats_client *c, const char *subj, uint32_t subj_len,
                     const char *sid, uint32_t sid_len, const char *reply, uint32_t reply_len,
                     const uint8_t *hdr, uint32_t hdr_len, const uint8_t *data, uint32_t data_len)
{
	bool hmsg = hdr_len > 0 && atomic_load_explicit(&c->headers, memory_order_relaxed);
	uint64_t body = hmsg ? (uint64_t)hdr_len + data_len : data_len;
	struct iovec iov[12];
	int k = 0;
	char line[LINE_STACK];
	size_t need = 5 + (size_t)subj_len + 1 + sid_len + 1 + reply_len + 1 + 20 + 1 + 20 + 2;
	if (need <= sizeof line) {
		char *p = line;
		if (hmsg) {
			memcpy(p, "HMSG ", 5);
			p += 5;
		} else {
			memcpy(p, "MSG ", 4);
			p += 4;
		}
		memcpy(p, subj, subj_len);
		p += subj_len;
		*p++ = ' ';
		memcpy(p, sid, sid_len);
		p += sid_len;
		*p++ = ' ';
		if (reply_len) {
			memcpy(p, reply, reply_len);
			p += reply_len;
			*p++ = ' ';
		}
		if (hmsg) {
			p = put_u64(p, hdr_len);
			*p++ = ' ';
		}
		p = put_u64(p, body);
		*p++ = '\r';
		*p++ = '\n';
		iov[k++] = (struct iovec){ line, (size_t)(p - line) };
	} else {
		char *p = line;
		*p++ = ' ';
		if (hmsg) {
			p = put_u64(p, hdr_len);
			*p++ = ' ';
		}
		p = put_u64(p, body);
		*p++ = '\r';
		*p++ = '\n';
		iov[k++] = (struct iovec){ (void *)(hmsg ? "HMSG " : "MSG "), hmsg ? 5u : 4u };
		iov[k++] = (struct iovec){ (void *)subj, subj_len };
		iov[k++] = (struct iovec){ (void *)" ", 1 };
		iov[k++] = (struct iovec){ (void *)sid, sid_len };
		if (reply_len) {
			iov[k++] = (struct iovec){ (void *)" ", 1 };
			iov[k++] = (struct iovec){ (void *)reply, reply_len };
		}
		iov[k++] = (struct iovec){ line, (size_t)(p - line) };
	}
	if (hmsg)
		iov[k++] = (struct iovec){ (void *)hdr, hdr_len };
	if (data_len)
		iov[k++] = (struct iovec){ (void *)data, data_len };
	iov[k++] = (struct iovec){ (void *)"\r\n", 2 };
	if (out_append(c, iov, k, true) == 0)
		count_out(c->srv, body);
}

/* ---- the sid table -------------------------------------------------------- */

static uint32_t sid_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static struct nats_sub *tab_find(const struct sidtab *t, const char *sid, uint32_t len, uint32_t h)
{
	if (!t->cap)
		return NULL;
	uint32_t mask = t->cap - 1;
	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		struct nats_sub *s = t->slot[i];
		if (!s)
			return NULL;
		if (s->hash == h && s->sid_len == len && memcmp(s->sid, sid, len) == 0)
			return s;
	}
}

static void tab_place(struct nats_sub **slot, uint32_t cap, struct nats_sub *s)
{
	uint32_t mask = cap - 1;
	uint32_t i = s->hash & mask;
	while (slot[i])
		i = (i + 1) & mask;
	slot[i] = s;
}

static int tab_resize(struct sidtab *t, uint32_t cap)
{
	struct nats_sub **ns = NULL;
	if (cap) {
		ns = jn_calloc(cap, sizeof *ns);
		if (!ns)
			return -JN_ENOMEM;
		for (uint32_t i = 0; i < t->cap; i++)
			if (t->slot[i])
				tab_place(ns, cap, t->slot[i]);
	}
	jn_free(t->slot);
	t->slot = ns;
	t->cap = cap;
	return 0;
}

#define TAB_MIN 8u

static int tab_insert(struct sidtab *t, struct nats_sub *s)
{
	if ((t->n + 1) * 4 > t->cap * 3) {
		int rc = tab_resize(t, t->cap ? t->cap * 2 : TAB_MIN);
		if (rc < 0)
			return rc;
	}
	tab_place(t->slot, t->cap, s);
	t->n++;
	return 0;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void tab_remove(struct sidtab *t, struct nats_sub *s)
{
	if (!t->cap)
		return;
	uint32_t mask = t->cap - 1;
	uint32_t i = s->hash & mask;
	while (t->slot[i] && t->slot[i] != s)
		i = (i + 1) & mask;
	if (!t->slot[i])
		return;
	for (uint32_t j = (i + 1) & mask; t->slot[j]; j = (j + 1) & mask) {
		uint32_t home = t->slot[j]->hash & mask;
		/* Move slot j back to i unless its home lies cyclically in (i, j]. */
		bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			t->slot[i] = t->slot[j];
			i = j;
		}
	}
	t->slot[i] = NULL;
	t->n--;
	if (t->n == 0)
		tab_resize(t, 0);
	else if (t->cap > TAB_MIN && t->n * 8 < t->cap)
		tab_resize(t, t->cap / 2);   /* failure keeps the larger table */
}

/* ---- subscriptions ---------------------------------------------------------- */

static void sub_free(void *p)
{
	jn_free(p);
}

/* Remove a subscription from the sid table and the sublist, once, from any
 * thread. The struct is retired, not freed: cached matches may hold it. */
static void sub_remove(struct nats_client *c, struct nats_sub *ns)
{
	if (atomic_exchange(&ns->removed, true))
		return;
	pthread_mutex_lock(&c->lock);
	if (!c->tab_closed)
		tab_remove(&c->tab, ns);
	pthread_mutex_unlock(&c->lock);
	jn_sublist_remove(c->srv->router->subs, &ns->sub);
	jn_epoch_retire(ns, sub_free);
}

static void deliver(struct jn_sub *s, const struct jn_msg *m, struct jn_pub *pub)
{
	(void)pub;
	struct nats_sub *ns = (struct nats_sub *)s;
	struct nats_client *c = ns->c;
	if (atomic_load_explicit(&ns->removed, memory_order_relaxed))
		return;
	if (ns->deny_filter && jn_auth_deliver_denied(ns->user, m->subject, m->subject_len))
		return;
	/* seq_cst pairs with handle_unsub: of a concurrent UNSUB max and this
	 * delivery, at least one sees the other, so exactly max get through. */
	uint64_t n = atomic_fetch_add(&ns->delivered, 1) + 1;
	uint64_t max = atomic_load(&ns->max);
	if (max && n > max)
		return;
	emit_msg(c, m->subject, m->subject_len, ns->sid, ns->sid_len, m->reply, m->reply_len,
	         m->hdr, m->hdr_len, m->data, m->data_len);
	if (max && n == max)
		sub_remove(c, ns);
}

/* ---- commands ------------------------------------------------------------- */

static void send_ok(struct nats_client *c)
{
	if (c->verbose)
		SEND_LIT(c, "+OK\r\n");
}

/* Overlay helpers with Go's json.Unmarshal semantics: absent or null keeps
 * the current value, a wrong type fails the whole CONNECT. */
static int j_bool(json_t *o, const char *k, bool *v)
{
	json_t *x = json_object_get(o, k);
	if (!x || json_is_null(x))
		return 0;
	if (!json_is_boolean(x))
		return -1;
	*v = json_is_true(x);
	return 0;
}

static int j_str(json_t *o, const char *k, const char **v)
{
	json_t *x = json_object_get(o, k);
	if (!x || json_is_null(x))
		return 0;
	if (!json_is_string(x))
		return -1;
	*v = json_string_value(x);
	return 0;
}

static int j_int(json_t *o, const char *k, int64_t *v)
{
	json_t *x = json_object_get(o, k);
	if (!x || json_is_null(x))
		return 0;
	if (!json_is_integer(x))
		return -1;
	*v = json_integer_value(x);
	return 0;
}

static void set_user(struct nats_client *c, const struct jn_user *u)
{
	c->user = u;
	c->pub_perms = u && (u->publish.has_allow || u->publish.ndeny);
	c->sub_perms = u && (u->subscribe.has_allow || u->subscribe.ndeny);
}

static int auth_fail(struct nats_client *c)
{
	stat_add(&c->srv->stats.auth_failures, 1);
	return proto_err(c, JN_EAUTH);
}

static int handle_connect(struct nats_client *c, const struct jn_nats_cmd *cmd)
{
	json_error_t jerr;
	json_t *o = cmd->json.len ? json_loadb(cmd->json.p, cmd->json.len, 0, &jerr) : NULL;
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return close_silent(c, REASON_BADJSON);
	}
	bool verbose = c->verbose, pedantic = c->pedantic, echo = c->echo;
	bool headers = atomic_load(&c->headers), no_resp = c->no_responders;
	int64_t proto = c->protocol;
	const char *user = NULL, *pass = NULL, *token = NULL, *account = NULL;
	bool new_account = false;
	if (j_bool(o, "verbose", &verbose) || j_bool(o, "pedantic", &pedantic) ||
	    j_bool(o, "echo", &echo) || j_bool(o, "headers", &headers) ||
	    j_bool(o, "no_responders", &no_resp) || j_int(o, "protocol", &proto) ||
	    j_str(o, "user", &user) || j_str(o, "pass", &pass) ||
	    j_str(o, "auth_token", &token) || j_str(o, "account", &account) ||
	    j_bool(o, "new_account", &new_account)) {
		json_decref(o);
		return close_silent(c, REASON_BADJSON);
	}
	const struct jn_user *u = NULL;
	int rc = 0;
	if (c->srv->auth_required && jn_auth_check(c->srv->auth, user, pass, token, &u) < 0)
		rc = auth_fail(c);
	else if (new_account || (account && account[0]))
		rc = auth_fail(c);   /* nats-server 2.9 refuses account designation */
	json_decref(o);
	if (rc < 0)
		return rc;
	/* The options apply from here on (nats-server sets them before its
	 * protocol checks too). */
	set_user(c, u);
	c->authed = true;
	c->verbose = verbose;
	c->pedantic = pedantic;
	c->echo = echo;
	c->no_responders = no_resp;
	atomic_store(&c->headers, headers);
	c->parser.hpub_off = !headers;
	c->parser.connect_first = 0;
	if (proto < 0 || proto > 1)
		return proto_err(c, JN_EBADPROTOVER);
	c->protocol = (int8_t)proto;
	if (no_resp && !headers)
		return proto_err(c, JN_ENOHEADERS);
	send_ok(c);
	return 0;
}

/* Replies the client may not use (nats-server 2.9 isReservedReply):
 * service-import replies, gateway-routed replies and JetStream acks. */
static bool reserved_reply(const struct jn_nats_str *r)
{
	static const struct { const char *p; uint32_t n; } pre[] = {
		{ "_R_.", 4 }, { "$JS.ACK.", 8 }, { "_GR_.", 5 },
	};
	for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
		if (r->len > pre[i].n && memcmp(r->p, pre[i].p, pre[i].n) == 0)
			return true;
	return false;
}

/* No responders (spec §7): tell the requester through its own first plain
 * subscription that matches the reply subject. */
static void send_no_responders(struct nats_client *c, const struct jn_nats_str *reply)
{
	static const uint8_t hdr[] = "NATS/1.0 503\r\n\r\n";
	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < c->tab.cap; i++) {
		struct nats_sub *s = c->tab.slot[i];
		if (!s || s->sub.queue || atomic_load(&s->removed))
			continue;
		if (!jn_subject_match(s->sub.subject, s->sub.subject_len, reply->p, reply->len))
			continue;
		/* The client asked for no_responders, so it has headers. */
		emit_msg(c, reply->p, reply->len, s->sid, s->sid_len, NULL, 0,
		         hdr, sizeof hdr - 1, NULL, 0);
		break;
	}
	pthread_mutex_unlock(&c->lock);
}

static int handle_pub(struct nats_client *c, const struct jn_nats_cmd *cmd)
{
	tl.msgs_in++;
	tl.bytes_in += cmd->total_len;
	if (cmd->op == JN_NATS_HPUB && !atomic_load_explicit(&c->headers, memory_order_relaxed))
		return close_silent(c, REASON_NOHEADERS);
	const struct jn_nats_str *subj = &cmd->subject;
	bool route = true;
	if (!jn_subject_valid_literal(subj->p, subj->len)) {
		/* 2.9 routes a subject with wildcard tokens (pedantic clients
		 * also get -ERR): nats.go puts a consumer's filter into the
		 * $JS.API.CONSUMER.CREATE subject, so dropping it would break
		 * JetStream. A malformed subject (empty token) is dropped. */
		if (c->pedantic)
			proto_err(c, JN_EBADPUBSUBJECT);
		route = jn_subject_valid_filter(subj->p, subj->len);
	}
	if (c->pub_perms && !jn_auth_can_publish(c->user, subj->p, subj->len)) {
		send_perm_err(c, JN_EPERM_PUB, subj, NULL);
		return 0;
	}
	if (cmd->reply.len && reserved_reply(&cmd->reply)) {
		send_perm_err(c, JN_EPERM_REPLY, &cmd->reply, NULL);
		return 0;
	}
	send_ok(c);
	if (!route)
		return 0;
	struct jn_msg m = {
		.subject = subj->p,
		.subject_len = subj->len,
		.reply = cmd->reply.len ? cmd->reply.p : NULL,
		.reply_len = cmd->reply.len,
		.data = cmd->payload,
		.data_len = cmd->total_len,
	};
	if (cmd->op == JN_NATS_HPUB && cmd->hdr_len > 0) {
		m.hdr = cmd->payload;
		m.hdr_len = cmd->hdr_len;
		m.data = cmd->payload + cmd->hdr_len;
		m.data_len = cmd->total_len - cmd->hdr_len;
	}
	struct jn_pub pub = {
		.origin_id = c->link->id,
		.no_echo = !c->echo,
		.batch = c->ctx ? c->ctx->batch : NULL,
	};
	int n = jn_router_publish(c->srv->router, c->ctx ? c->ctx->cache : NULL, &m, &pub);
	if (n == 0 && cmd->reply.len && c->no_responders)
		send_no_responders(c, &cmd->reply);
	return 0;
}

static int handle_sub(struct nats_client *c, const struct jn_nats_cmd *cmd)
{
	const struct jn_nats_str *subj = &cmd->subject, *q = &cmd->queue, *sid = &cmd->sid;
	if (c->sub_perms && !jn_auth_can_subscribe(c->user, subj->p, subj->len)) {
		send_perm_err(c, JN_EPERM_SUB, subj, q);
		return 0;
	}
	uint32_t h = sid_hash(sid->p, sid->len);
	uint32_t max_subs = c->srv->opts.max_subs;
	pthread_mutex_lock(&c->lock);
	bool full = max_subs && c->tab.n >= max_subs;
	bool dup = tab_find(&c->tab, sid->p, sid->len, h) != NULL;
	pthread_mutex_unlock(&c->lock);
	if (full)
		return proto_err(c, JN_EMAXSUBS);
	if (dup) {   /* the first subscription stays (observed) */
		send_ok(c);
		return 0;
	}
	size_t slen = (size_t)subj->len + 1 + (q->len ? q->len + 1u : 0) + sid->len + 1;
	struct nats_sub *ns = jn_calloc(1, sizeof *ns + slen);
	if (!ns)
		return close_silent(c, REASON_NOMEM);
	char *p = ns->str;
	memcpy(p, subj->p, subj->len);
	ns->sub.subject = p;
	ns->sub.subject_len = subj->len;
	p += subj->len + 1;
	if (q->len) {
		memcpy(p, q->p, q->len);
		ns->sub.queue = p;
		ns->sub.queue_len = q->len;
		p += q->len + 1;
	}
	memcpy(p, sid->p, sid->len);
	ns->sid = p;
	ns->sid_len = sid->len;
	ns->hash = h;
	ns->sub.deliver = deliver;
	ns->sub.owner = c;
	ns->sub.owner_id = c->link->id;
	ns->c = c;
	if (c->sub_perms && jn_auth_sub_needs_filter(c->user, subj->p, subj->len)) {
		ns->user = c->user;
		ns->deny_filter = true;
	}
	/* Into the table first, so that an auto-unsubscribe can always find
	 * it; the table is only read under the lock. */
	pthread_mutex_lock(&c->lock);
	int rc = tab_insert(&c->tab, ns);
	pthread_mutex_unlock(&c->lock);
	if (rc < 0) {
		jn_free(ns);
		return close_silent(c, REASON_NOMEM);
	}
	rc = jn_sublist_insert(c->srv->router->subs, &ns->sub);
	if (rc < 0) {
		/* Never visible to another thread: freed at once. */
		pthread_mutex_lock(&c->lock);
		tab_remove(&c->tab, ns);
		pthread_mutex_unlock(&c->lock);
		jn_free(ns);
		if (rc == -JN_EBADSUBJECT)
			return proto_err(c, JN_EBADSUBJECT);
		return close_silent(c, REASON_NOMEM);
	}
	send_ok(c);
	return 0;
}

static int handle_unsub(struct nats_client *c, const struct jn_nats_cmd *cmd)
{
	uint32_t h = sid_hash(cmd->sid.p, cmd->sid.len);
	bool now = false;
	pthread_mutex_lock(&c->lock);
	struct nats_sub *ns = tab_find(&c->tab, cmd->sid.p, cmd->sid.len, h);
	if (ns) {
		if (cmd->max_msgs > 0) {
			atomic_store(&ns->max, (uint64_t)cmd->max_msgs);
			now = atomic_load(&ns->delivered) >= (uint64_t)cmd->max_msgs;
		} else {
			now = true;
		}
	}
	pthread_mutex_unlock(&c->lock);
	/* ns stays valid after the unlock even if a delivery removes it now:
	 * we are in this worker's epoch section. */
	if (now)
		sub_remove(c, ns);
	send_ok(c);
	return 0;
}

/* With auth required, before CONNECT: only a no_auth_user lets other
 * operations through (nats-server parser.go). */
static int pre_connect(struct nats_client *c)
{
	const struct jn_auth *a = c->srv->auth;
	const struct jn_user *u = NULL;
	if (a && a->no_auth_user && jn_auth_check(a, NULL, NULL, NULL, &u) == 0) {
		set_user(c, u);
		c->authed = true;
		return 0;
	}
	return auth_fail(c);
}

static int on_cmd(void *arg, const struct jn_nats_cmd *cmd)
{
	struct nats_client *c = arg;
	if (!c->authed && cmd->op != JN_NATS_CONNECT) {
		int rc = pre_connect(c);
		if (rc < 0)
			return rc;
	}
	switch (cmd->op) {
	case JN_NATS_PUB:
	case JN_NATS_HPUB:
		return handle_pub(c, cmd);
	case JN_NATS_SUB:
		return handle_sub(c, cmd);
	case JN_NATS_UNSUB:
		return handle_unsub(c, cmd);
	case JN_NATS_PING:
		SEND_LIT(c, "PONG\r\n");
		return 0;
	case JN_NATS_PONG:
		c->pings_out = 0;
		return 0;
	case JN_NATS_CONNECT:
		return handle_connect(c, cmd);
	case JN_NATS_INFO: {
		/* Ignored, but it must be JSON (nats-server closes otherwise). */
		json_error_t jerr;
		json_t *o = cmd->json.len ? json_loadb(cmd->json.p, cmd->json.len, 0, &jerr) : NULL;
		bool ok = o && json_is_object(o);
		json_decref(o);
		return ok ? 0 : close_silent(c, REASON_BADJSON);
	}
	case JN_NATS_OK:
		return 0;
	case JN_NATS_ERR:
		return close_silent(c, REASON_CLIENT_ERR);
	}
	return close_silent(c, REASON_PARSE);
}

/* ---- jn_proto ------------------------------------------------------------- */

static void client_free(void *p)
{
	struct nats_client *c = p;
	jn_free(c->tab.slot);
	pthread_mutex_destroy(&c->lock);
	jn_free(c);
}

static void *nats_open(void *server, struct jn_link *l, struct jn_thread_ctx *ctx)
{
	struct jn_nats_server *s = server;
	uint64_t cur = atomic_fetch_add(&s->stats.conns_current, 1);
	if (s->opts.max_connections && cur >= s->opts.max_connections) {
		atomic_fetch_sub(&s->stats.conns_current, 1);
		jn__nats_send_info(s, l);
		const char *t = jn_err_info(JN_EMAXCONN)->nats_err;
		struct iovec iov[3] = {
			{ .iov_base = (void *)"-ERR '", .iov_len = 6 },
			{ .iov_base = (void *)t, .iov_len = strlen(t) },
			{ .iov_base = (void *)"'\r\n", .iov_len = 3 },
		};
		jn_outq_append(&l->out, iov, 3, false);
		return NULL;
	}
	struct nats_client *c = jn_calloc(1, sizeof *c);
	if (!c) {
		atomic_fetch_sub(&s->stats.conns_current, 1);
		return NULL;
	}
	c->srv = s;
	c->link = l;
	pthread_mutex_init(&c->lock, NULL);
	jn_nats_parser_init(&c->parser, s->opts.max_control_line, s->opts.max_payload);
	c->parser.hpub_off = 1;
	/* With auth required, nats-server refuses a first command that is not
	 * CONNECT at its first byte; a no_auth_user lets any command in. */
	c->parser.connect_first = s->auth_required && !(s->auth && s->auth->no_auth_user);
	/* Before CONNECT nats-server treats a client as verbose and pedantic. */
	c->verbose = c->pedantic = c->echo = true;
	c->authed = !s->auth_required;
	int64_t now = ctx ? ctx->now_ns : l->created_ns;
	c->opened_ns = c->last_in_ns = now;
	c->ping_due_ns = now + s->opts.ping_interval_ns;
	/* The outbound limit is a NATS option; nobody else appends yet. */
	pthread_mutex_lock(&l->out.lock);
	l->out.limit = s->opts.max_pending;
	pthread_mutex_unlock(&l->out.lock);
	stat_add(&s->stats.conns_total, 1);
	jn__nats_send_info(s, l);
	return c;
}

static int nats_on_data(void *state, const uint8_t *buf, size_t len, struct jn_thread_ctx *ctx)
{
	struct nats_client *c = state;
	/* slow: a delivery on another thread already asked for the close. */
	if (c->closing || atomic_load_explicit(&c->slow, memory_order_relaxed))
		return -JN_ECLOSED;
	c->ctx = ctx;
	if (ctx)
		c->last_in_ns = ctx->now_ns;
	if (tl.srv != c->srv) {
		tl_flush();
		tl.srv = c->srv;
	}
	int rc = jn_nats_parse(&c->parser, buf, len, on_cmd, c);
	if (rc < 0 && !c->closing) {
		/* An error from the parser itself. */
		stat_add(rc == -JN_EAUTH ? &c->srv->stats.auth_failures : &c->srv->stats.parse_errors, 1);
		if (c->parser.err)
			send_err_text(c, c->parser.err);
		c->closing = true;
		jn_link_close(c->link, c->parser.err ? c->parser.err : REASON_PARSE);
	}
	tl_flush();
	c->ctx = NULL;
	return rc < 0 ? rc : 0;
}

static void nats_on_tick(void *state, struct jn_thread_ctx *ctx)
{
	struct nats_client *c = state;
	if (c->closing || !ctx)
		return;
	struct jn_nats_server *s = c->srv;
	int64_t now = ctx->now_ns;

	if (!c->authed) {
		int64_t to = s->auth && s->auth->timeout_ns > 0 ? s->auth->timeout_ns : 2000000000LL;
		if (now - c->opened_ns >= to)
			proto_err(c, JN_EAUTHTIMEOUT);
		return;
	}

	/* Write deadline: output pending and the socket took nothing for
	 * write_deadline. */
	if (s->opts.write_deadline_ns > 0) {
		int64_t prog = atomic_load_explicit(&c->link->last_write_progress_ns,
		                                    memory_order_relaxed);
		if (jn_outq_pending(&c->link->out) == 0) {
			c->stuck_since_ns = 0;
			c->progress_seen_ns = prog;
		} else if (prog != c->progress_seen_ns || !c->stuck_since_ns) {
			c->progress_seen_ns = prog;
			c->stuck_since_ns = now;
		} else if (now - c->stuck_since_ns >= s->opts.write_deadline_ns) {
			c->closing = true;
			slow_consumer(c, REASON_WDEADLINE);
			return;
		}
	}

	if (s->opts.ping_interval_ns <= 0 || now < c->ping_due_ns)
		return;
	if (now - c->last_in_ns < s->opts.ping_interval_ns) {
		/* Recent inbound traffic postpones the PING. */
		c->ping_due_ns = c->last_in_ns + s->opts.ping_interval_ns;
		return;
	}
	c->ping_due_ns = now + s->opts.ping_interval_ns;
	if (c->pings_out + 1 > s->opts.ping_max) {
		stat_add(&s->stats.stale_connections, 1);
		proto_err(c, JN_ESTALE);
		return;
	}
	c->pings_out++;
	SEND_LIT(c, "PING\r\n");
}

static void nats_on_close(void *state, struct jn_thread_ctx *ctx)
{
	(void)ctx;
	struct nats_client *c = state;
	struct jn_nats_server *s = c->srv;
	c->closing = true;
	jn_nats_parser_fini(&c->parser);
	pthread_mutex_lock(&c->lock);
	struct sidtab t = c->tab;
	memset(&c->tab, 0, sizeof c->tab);
	c->tab_closed = true;
	pthread_mutex_unlock(&c->lock);
	for (uint32_t i = 0; i < t.cap; i++) {
		struct nats_sub *ns = t.slot[i];
		if (!ns || atomic_exchange(&ns->removed, true))
			continue;   /* a delivery thread is removing it */
		jn_sublist_remove(s->router->subs, &ns->sub);
		jn_epoch_retire(ns, sub_free);
	}
	jn_free(t.slot);
	atomic_fetch_sub(&s->stats.conns_current, 1);
	jn_epoch_retire(c, client_free);
}

const struct jn_proto jn_nats_proto = {
	.name = "nats",
	.open = nats_open,
	.on_data = nats_on_data,
	.on_tick = nats_on_tick,
	.on_close = nats_on_close,
};
