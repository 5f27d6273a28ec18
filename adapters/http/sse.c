/*
 * sse.c - core subscriptions as server-sent event streams:
 * GET /v1/subscribe/{subject} and GET /v1/subscribe?subject=a.>&subject=b.*
 * (optional ?queue=<group>).
 *
 * Each stream is one sse_client with one internal subscription (struct
 * jn_sub with a callback, like a NATS client's) per subject. Framing:
 *
 *   event: msg
 *   data: {"subject":"a.b","reply":"","headers":{"K":"v","R":["1","2"]},"data":"<base64>"}
 *   <blank line>
 *
 * and ": ping" comment lines every sse_ping_interval. The stream starts
 * with ": ok" so that the response headers go out at once.
 *
 * Delivery runs on the publisher's thread (any I/O worker or libmicrohttpd
 * thread): it formats the event straight into the client's buffer under
 * the client's small lock and, if the connection is suspended because the
 * buffer was empty, resumes it. libmicrohttpd's content reader (sse_read)
 * drains the buffer and suspends the connection when it is empty: no
 * thread per client and no polling.
 *
 * Bounded buffer, slow clients. A client whose buffer would exceed
 * sse_max_buffer is a slow consumer: it is counted, logged, and cut (its
 * socket is shut down, so libmicrohttpd closes it even while it waits to
 * write) and every later delivery is dropped at once. Publishers never
 * wait and other clients never notice. One event larger than the limit is
 * still accepted into an empty buffer (a big message is not slowness).
 *
 * Several subjects on one stream behave like one subscription to their
 * union: a message that matches two of them arrives once (the first
 * matching subject delivers it). With ?queue= every subject joins the
 * group, and the router already picks one member per group.
 *
 * Lifetime. A client is reached without locks through cached match
 * results, so it is freed through jn_epoch_retire(), once libmicrohttpd
 * has both completed the request and dropped the response (two references)
 * and its subscriptions are out of the trie. While a client is suspended
 * libmicrohttpd cannot close it; once the request completed (alive false)
 * its socket may be closed and reused, so nobody touches it any more.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "adapters/http/server_int.h"
#include "core/alloc.h"
#include "core/auth.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/log.h"
#include "core/subject.h"

#define MAX_SUBJECTS 32
#define BLOCK_SIZE (16 * 1024)          /* libmicrohttpd read size */
#define KEEP_CAP (64 * 1024)            /* buffer kept while idle */
#define MAX_QUEUE_LEN 255

struct sse_client;

struct sse_sub {
	struct jn_sub sub;               /* first: deliver casts back */
	struct sse_client *c;
	uint32_t index;
	bool deny_filter;
	bool inserted;
};

struct sse_client {
	struct jn_http_server *srv;
	struct sse_client *prev, *next;  /* srv->sse_head list, under srv->sse_lock */
	bool linked;
	_Atomic int refs;                /* request + response */
	pthread_mutex_t lock;            /* everything below */
	struct MHD_Connection *conn;
	bool alive;                      /* request not completed: the fd is ours to shut */
	bool suspended;
	bool closed;                     /* end the stream (server stopping) */
	bool overflow;                   /* slow consumer: cut */
	struct jn__hbuf buf;             /* pending bytes are buf.p[head..buf.len) */
	size_t head;
	size_t max;
	const struct jn_user *user;
	bool queue;
	char peer[64];
	/* generic streams (jn__http_sse_start): a producer behind ops */
	const struct jn__sse_ops *ops;
	void *ctx;
	bool wake;                       /* wake-up while not suspended */
	int64_t recheck_at;              /* mono ns of a delayed wake-up, 0 none */
	uint32_t nsubs;
	struct sse_sub subs[];
};

/* ---- framing ------------------------------------------------------------------ */

/* {"K":"v","R":["1","2"]}: a repeated key becomes a list, in order. */
static void format_headers(struct jn__hbuf *b, const struct jn_msg *m)
{
	jn__http_headers_json(b, m->hdr, m->hdr_len);
}

void jn__http_headers_json(struct jn__hbuf *b, const uint8_t *hdr, uint32_t hdr_len)
{
	struct jn_msg mm = { .hdr = hdr, .hdr_len = hdr_len };
	const struct jn_msg *m = &mm;
	jn__hbuf_put(b, "{", 1);
	if (!m->hdr_len || jn_hdr_validate(m->hdr, m->hdr_len) < 0) {
		jn__hbuf_put(b, "}", 1);
		return;
	}
	size_t pos = 0, start;
	bool first = true;
	const char *k, *v, *k2, *v2;
	size_t kl, vl, kl2, vl2;
	for (;;) {
		start = pos;
		if (!jn_hdr_next(m->hdr, m->hdr_len, &pos, &k, &kl, &v, &vl))
			break;
		/* a key met before was written then, with all its values */
		size_t p2 = 0;
		bool seen = false;
		while (!seen && p2 < start &&
		       jn_hdr_next(m->hdr, m->hdr_len, &p2, &k2, &kl2, &v2, &vl2))
			seen = kl2 == kl && memcmp(k2, k, kl) == 0;
		if (seen)
			continue;
		/* count occurrences from here on */
		size_t p3 = pos, count = 1;
		while (jn_hdr_next(m->hdr, m->hdr_len, &p3, &k2, &kl2, &v2, &vl2))
			if (kl2 == kl && memcmp(k2, k, kl) == 0)
				count++;
		if (!first)
			jn__hbuf_put(b, ",", 1);
		first = false;
		jn__hbuf_json_str(b, k, kl);
		jn__hbuf_put(b, ":", 1);
		if (count == 1) {
			jn__hbuf_json_str(b, v, vl);
			continue;
		}
		jn__hbuf_put(b, "[", 1);
		jn__hbuf_json_str(b, v, vl);
		p3 = pos;
		while (jn_hdr_next(m->hdr, m->hdr_len, &p3, &k2, &kl2, &v2, &vl2)) {
			if (kl2 == kl && memcmp(k2, k, kl) == 0) {
				jn__hbuf_put(b, ",", 1);
				jn__hbuf_json_str(b, v2, vl2);
			}
		}
		jn__hbuf_put(b, "]", 1);
	}
	jn__hbuf_put(b, "}", 1);
}

void jn__http_sse_format(struct jn__hbuf *b, const struct jn_msg *m)
{
	jn__hbuf_puts(b, "event: msg\ndata: {\"subject\":");
	jn__hbuf_json_str(b, m->subject, m->subject_len);
	jn__hbuf_puts(b, ",\"reply\":");
	jn__hbuf_json_str(b, m->reply ? m->reply : "", m->reply ? m->reply_len : 0);
	jn__hbuf_puts(b, ",\"headers\":");
	format_headers(b, m);
	jn__hbuf_puts(b, ",\"data\":\"");
	jn__hbuf_base64(b, m->data, m->data_len);
	jn__hbuf_puts(b, "\"}\n\n");
}

/* ---- the buffer (client lock held) -------------------------------------------- */

static size_t pending_bytes(const struct sse_client *c)
{
	return c->buf.len - c->head;
}

/* Room for appending at the end: consumed bytes are reclaimed first. */
static void buf_compact(struct sse_client *c)
{
	if (c->head == 0)
		return;
	size_t n = pending_bytes(c);
	if (n)
		memmove(c->buf.p, c->buf.p + c->head, n);
	c->buf.len = n;
	c->head = 0;
}

/* Cut a slow consumer: count it once; make libmicrohttpd drop it now. */
static void cut(struct sse_client *c, struct MHD_Connection **resume)
{
	if (c->overflow)
		return;
	c->overflow = true;
	struct jn_http_server *s = c->srv;
	atomic_fetch_add_explicit(&s->stats.slow_consumers, 1, memory_order_relaxed);
	jn_warn("http: %s - slow consumer, SSE stream cut (%zu bytes pending, sse_max_buffer %zu)",
	        c->peer, pending_bytes(c), c->max);
	jn__hbuf_free(&c->buf);
	c->head = 0;
	if (c->suspended) {
		c->suspended = false;
		*resume = c->conn;    /* sse_read then ends the stream */
	} else if (c->alive) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci)
			shutdown(ci->connect_fd, SHUT_RDWR);
	}
}

/* ---- delivery ------------------------------------------------------------------- */

static void sse_deliver(struct jn_sub *sub, const struct jn_msg *m, struct jn_pub *pub)
{
	(void)pub;
	struct sse_sub *ss = (struct sse_sub *)sub;
	struct sse_client *c = ss->c;
	if (ss->deny_filter && jn_auth_deliver_denied(c->user, m->subject, m->subject_len))
		return;
	if (!c->queue) {
		for (uint32_t j = 0; j < ss->index; j++) {
			const struct jn_sub *o = &c->subs[j].sub;
			if (jn_subject_match(o->subject, o->subject_len, m->subject, m->subject_len))
				return;   /* the earlier subject delivers it */
		}
	}
	struct MHD_Connection *resume = NULL;
	bool sent = false;
	pthread_mutex_lock(&c->lock);
	if (!c->closed && !c->overflow) {
		size_t before = pending_bytes(c);
		if (c->head > c->buf.cap / 2 || before == 0)
			buf_compact(c);
		size_t old = c->buf.len;
		jn__http_sse_format(&c->buf, m);
		if (c->buf.oom || (before > 0 && pending_bytes(c) > c->max)) {
			c->buf.len = old;
			cut(c, &resume);
		} else {
			sent = true;
			if (c->suspended) {
				c->suspended = false;
				resume = c->conn;
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (sent) {
		struct jn_http_server *s = c->srv;
		atomic_fetch_add_explicit(&s->stats.msgs_out, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->stats.bytes_out, m->data_len, memory_order_relaxed);
	}
	if (resume)
		MHD_resume_connection(resume);
}

/* ---- libmicrohttpd side ------------------------------------------------------------ */

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct sse_client *c = cls;
	ssize_t rc;
	pthread_mutex_lock(&c->lock);
	/* A generic stream's producer fills the buffer only when it is empty:
	 * the client's reading speed paces it. A wake-up that lands while the
	 * producer runs makes it look again rather than suspend. */
	for (int round = 0; c->ops && c->ops->refill && !c->overflow && !c->closed &&
	                    pending_bytes(c) == 0; round++) {
		if (round == 16) {   /* still being woken: do not suspend, come back */
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		c->wake = false;
		pthread_mutex_unlock(&c->lock);
		c->ops->refill(c, c->ctx);
		pthread_mutex_lock(&c->lock);
		if (!c->wake)
			break;
	}
	if (c->overflow) {
		rc = MHD_CONTENT_READER_END_WITH_ERROR;
	} else if (pending_bytes(c) == 0) {
		if (c->closed) {
			rc = MHD_CONTENT_READER_END_OF_STREAM;
		} else {
			/* under the lock: a delivery after this sees `suspended` */
			c->suspended = true;
			MHD_suspend_connection(c->conn);
			rc = 0;
		}
		if (c->buf.cap > KEEP_CAP)
			jn__hbuf_free(&c->buf);
		c->buf.len = c->head = 0;
	} else {
		size_t n = pending_bytes(c);
		if (n > max)
			n = max;
		memcpy(out, c->buf.p + c->head, n);
		c->head += n;
		rc = (ssize_t)n;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static void client_free(void *p)
{
	struct sse_client *c = p;
	if (c->ops && c->ops->free)
		c->ops->free(c->ctx);
	jn__hbuf_free(&c->buf);
	pthread_mutex_destroy(&c->lock);
	jn_free(c);
}

/* Both owners are done: unsubscribe, unlink, retire. */
static void client_release(struct sse_client *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	struct jn_http_server *s = c->srv;
	for (uint32_t i = 0; i < c->nsubs; i++) {
		if (c->subs[i].inserted) {
			jn_sublist_remove(s->router->subs, &c->subs[i].sub);
			c->subs[i].inserted = false;
		}
	}
	if (c->ops && c->ops->stop)
		c->ops->stop(c->ctx);
	pthread_mutex_lock(&c->lock);
	if (c->recheck_at) {
		c->recheck_at = 0;
		atomic_fetch_sub(&s->sse_rechecks, 1);
	}
	pthread_mutex_unlock(&c->lock);
	if (c->linked) {
		pthread_mutex_lock(&s->sse_lock);
		if (c->prev)
			c->prev->next = c->next;
		else
			s->sse_head = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->linked = false;
		pthread_mutex_unlock(&s->sse_lock);
		atomic_fetch_sub_explicit(&s->stats.sse_clients, 1, memory_order_relaxed);
	}
	jn_epoch_retire(c, client_free);
}

static void mark_dead(struct sse_client *c)
{
	pthread_mutex_lock(&c->lock);
	c->alive = false;
	c->closed = true;
	pthread_mutex_unlock(&c->lock);
}

/* The response is destroyed. */
static void sse_response_free(void *cls)
{
	struct sse_client *c = cls;
	mark_dead(c);
	client_release(c);
}

/* The request completed (connection closing or stream ended). */
static void sse_cleanup(struct http_req *r)
{
	struct sse_client *c = r->state;
	mark_dead(c);
	client_release(c);
	r->state = NULL;
}

/* ---- the route --------------------------------------------------------------------- */

struct subj_list {
	struct http_req *r;
	char *s[MAX_SUBJECTS];
	size_t len[MAX_SUBJECTS];
	int n;
	int err;            /* an answer was set */
	bool too_many;
};

static enum MHD_Result collect_subject(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
	(void)kind;
	struct subj_list *l = cls;
	if (strcmp(key, "subject") != 0 || l->err)
		return MHD_YES;
	if (l->n == MAX_SUBJECTS) {
		l->too_many = true;
		return MHD_NO;
	}
	size_t n = value ? strlen(value) : 0;
	char *s = jn_malloc(n + 1);
	if (!s) {
		jn__http_error_jn(l->r, JN_ENOMEM, false, NULL);
		l->err = 1;
		return MHD_NO;
	}
	long k = n ? jn__pct_decode(value, n, s) : -1;
	if (k >= 0)
		s[k] = '\0';
	if (k <= 0 || !jn_subject_valid_filter(s, (size_t)k)) {
		jn__http_error_jn(l->r, JN_EBADSUBJECT, false, k > 0 ? s : value ? value : "");
		jn_free(s);
		l->err = 1;
		return MHD_NO;
	}
	l->s[l->n] = s;
	l->len[l->n] = (size_t)k;
	l->n++;
	return MHD_YES;
}

static void peer_of(struct MHD_Connection *conn, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(out, cap, "?");
	if (!ci || !ci->client_addr)
		return;
	char host[48];
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
		snprintf(out, cap, "%s:%u", host, ntohs(a->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		snprintf(out, cap, "[%s]:%u", host, ntohs(a->sin6_port));
	}
}

/* ?queue=: NULL when absent; else decoded into out. -1: answer set. */
static int query_queue(struct http_req *r, char *out, size_t cap, const char **q)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "queue");
	*q = NULL;
	if (!v)
		return 0;
	size_t n = strlen(v);
	long k = n && n < cap ? jn__pct_decode(v, n, out) : -1;
	bool ok = k > 0 && k <= MAX_QUEUE_LEN;
	for (long i = 0; ok && i < k; i++)
		ok = out[i] > ' ' && out[i] != 0x7f;
	if (!ok) {
		jn__http_error(r, 400, 0, "invalid queue group name \"%.64s\"", v);
		return -1;
	}
	out[k] = '\0';
	*q = out;
	return 0;
}

/* Link c into the server's list of SSE clients (what stop ends), unless
 * the server is stopping (*stopping says). */
static void link_client(struct jn_http_server *s, struct sse_client *c, bool *stopping)
{
	pthread_mutex_lock(&s->sse_lock);
	*stopping = atomic_load(&s->stopping);
	if (!*stopping) {
		c->next = s->sse_head;
		if (c->next)
			c->next->prev = c;
		s->sse_head = c;
		c->linked = true;
		atomic_fetch_add_explicit(&s->stats.sse_clients, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&s->sse_lock);
}

void jn__http_subscribe_route(struct http_req *r)
{
	struct jn_http_server *s = r->srv;
	struct subj_list l = { .r = r };
	struct sse_client *c = NULL;
	char qbuf[MAX_QUEUE_LEN + 2];
	const char *queue;
	size_t qlen = 0;

	if (strncmp(r->url, "/v1/subscribe/", 14) == 0) {
		if (jn__http_path_subject(r, 2, true, &l.s[0], &l.len[0]) < 0)
			return;
		l.n = 1;
	} else {
		MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_subject, &l);
		if (l.err)
			goto out;
		if (l.too_many) {
			jn__http_error(r, 400, 0, "at most %d subjects per stream", MAX_SUBJECTS);
			goto out;
		}
		if (l.n == 0) {
			jn__http_error(r, 400, 0, "no subject: use /v1/subscribe/{subject} or "
			               "?subject=... (repeatable)");
			goto out;
		}
	}
	if (query_queue(r, qbuf, sizeof qbuf, &queue) < 0)
		goto out;
	if (queue)
		qlen = strlen(queue);
	for (int i = 0; i < l.n; i++) {
		if (!jn_auth_can_subscribe(r->user, l.s[i], l.len[i])) {
			jn__http_error_jn(r, JN_EPERM_SUB, false, l.s[i]);
			goto out;
		}
	}

	/* one allocation: client, subs, then the strings */
	size_t strs = qlen + 1;
	for (int i = 0; i < l.n; i++)
		strs += l.len[i] + 1;
	c = jn_calloc(1, sizeof *c + (size_t)l.n * sizeof c->subs[0] + strs);
	if (!c) {
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		goto out;
	}
	char *p = (char *)&c->subs[l.n];
	pthread_mutex_init(&c->lock, NULL);
	c->srv = s;
	c->conn = r->conn;
	c->alive = true;
	c->max = s->opts.sse_max_buffer;
	c->user = r->user;
	c->queue = queue != NULL;
	c->nsubs = (uint32_t)l.n;
	atomic_init(&c->refs, 2);
	peer_of(r->conn, c->peer, sizeof c->peer);
	const char *qcopy = NULL;
	if (queue) {
		memcpy(p, queue, qlen + 1);
		qcopy = p;
		p += qlen + 1;
	}
	for (int i = 0; i < l.n; i++) {
		struct sse_sub *ss = &c->subs[i];
		memcpy(p, l.s[i], l.len[i] + 1);
		ss->sub.subject = p;
		ss->sub.subject_len = (uint32_t)l.len[i];
		p += l.len[i] + 1;
		ss->sub.queue = qcopy;
		ss->sub.queue_len = (uint32_t)qlen;
		ss->sub.deliver = sse_deliver;
		ss->sub.owner = c;
		ss->c = c;
		ss->index = (uint32_t)i;
		ss->deny_filter = jn_auth_sub_needs_filter(r->user, l.s[i], l.len[i]);
	}
	jn__hbuf_puts(&c->buf, ": ok\n\n");

	struct MHD_Response *resp =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK_SIZE, sse_read, c,
		                                  sse_response_free);
	if (!resp) {
		client_free(c);
		c = NULL;
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		goto out;
	}
	/* From here the response owns one reference and the request the other. */
	r->state = c;
	r->cleanup = sse_cleanup;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	jn__http_common_headers(s, resp);

	bool stopping;
	link_client(s, c, &stopping);
	int rc = stopping ? -JN_ECLOSED : 0;
	for (uint32_t i = 0; rc == 0 && i < c->nsubs; i++) {
		rc = jn_sublist_insert(s->router->subs, &c->subs[i].sub);
		c->subs[i].inserted = rc == 0;
	}
	if (rc < 0) {
		MHD_destroy_response(resp);   /* drops the response's reference */
		jn__http_error_jn(r, rc, false, NULL);
		goto out;   /* the request's reference goes in sse_cleanup */
	}
	r->resp = resp;
	r->status = 200;
out:
	for (int i = 0; i < l.n; i++)
		jn_free(l.s[i]);
}

/* ---- pings and shutdown ---------------------------------------------------------- */

/* Apply f to every client under the list lock and resume the ones it
 * un-suspends afterwards, outside every lock. */
static void for_each_client(struct jn_http_server *s, bool ping)
{
	size_t cap = 0, n = 0;
	struct MHD_Connection **resume = NULL;
	pthread_mutex_lock(&s->sse_lock);
	if (ping) {
		/* pings are best effort: if we cannot allocate, skip this round */
		cap = (size_t)atomic_load(&s->stats.sse_clients) + 1;
		resume = jn_malloc(cap * sizeof *resume);
		if (!resume)
			cap = 0;
	} else {
		atomic_store(&s->stopping, true);
	}
	for (struct sse_client *c = s->sse_head; c; c = c->next) {
		struct MHD_Connection *conn = NULL;
		pthread_mutex_lock(&c->lock);
		if (ping) {
			if (!c->closed && !c->overflow && n < cap) {
				if (pending_bytes(c) == 0)
					buf_compact(c);
				if (pending_bytes(c) + 8 <= c->max) {
					jn__hbuf_puts(&c->buf, ": ping\n\n");
					if (c->buf.oom)
						cut(c, &conn);
				}
				if (c->suspended) {
					c->suspended = false;
					conn = c->conn;
				}
			}
		} else {
			c->closed = true;
			if (c->suspended) {
				c->suspended = false;
				conn = c->conn;
			}
		}
		pthread_mutex_unlock(&c->lock);
		if (!conn)
			continue;
		if (n == cap) {   /* stop path: grow (rare: only at shutdown) */
			size_t nc = cap ? cap * 2 : 16;
			struct MHD_Connection **g = jn_realloc(resume, nc * sizeof *g);
			if (!g) {
				/* cannot remember it: resume now, under the list lock */
				MHD_resume_connection(conn);
				continue;
			}
			resume = g;
			cap = nc;
		}
		resume[n++] = conn;
	}
	pthread_mutex_unlock(&s->sse_lock);
	for (size_t i = 0; i < n; i++)
		MHD_resume_connection(resume[i]);
	jn_free(resume);
}

void jn__http_sse_ping_all(struct jn_http_server *s)
{
	for_each_client(s, true);
}

void jn__http_sse_stop(struct jn_http_server *s)
{
	for_each_client(s, false);
}

/* ---- generic streams (JetStream replay, consumer events) ------------------------ */


struct sse_client *jn__http_sse_start(struct http_req *r, const struct jn__sse_ops *ops,
                                      void *ctx)
{
	struct jn_http_server *s = r->srv;
	struct sse_client *c = jn_calloc(1, sizeof *c);
	if (!c) {
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->srv = s;
	c->conn = r->conn;
	c->alive = true;
	c->max = s->opts.sse_max_buffer;
	c->user = r->user;
	atomic_init(&c->refs, 2);
	peer_of(r->conn, c->peer, sizeof c->peer);
	jn__hbuf_puts(&c->buf, ": ok\n\n");
	struct MHD_Response *resp =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK_SIZE, sse_read, c,
		                                  sse_response_free);
	if (!resp) {
		client_free(c);
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return NULL;
	}
	bool stopping;
	link_client(s, c, &stopping);
	if (stopping) {
		/* nothing ever ran: free at once; the response's free callback
		 * must not see c, so unhook it first */
		MHD_destroy_response(resp);   /* runs sse_response_free: one ref */
		atomic_fetch_sub(&c->refs, 1);
		jn_epoch_retire(c, client_free);
		jn__http_error_jn(r, JN_ECLOSED, false, NULL);
		return NULL;
	}
	c->ops = ops;
	c->ctx = ctx;
	r->state = c;
	r->cleanup = sse_cleanup;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	jn__http_common_headers(s, resp);
	r->resp = resp;
	r->status = 200;
	return c;
}

int jn__http_sse_push(struct sse_client *c, const char *p, size_t n)
{
	struct MHD_Connection *resume = NULL;
	int rc = 0;
	pthread_mutex_lock(&c->lock);
	if (c->closed) {
		rc = -JN_ECLOSED;
	} else if (c->overflow) {
		rc = -JN_ESLOW;
	} else {
		size_t before = pending_bytes(c);
		if (c->head > c->buf.cap / 2 || before == 0)
			buf_compact(c);
		size_t old = c->buf.len;
		jn__hbuf_put(&c->buf, p, n);
		if (c->buf.oom || (before > 0 && pending_bytes(c) > c->max)) {
			c->buf.len = old;
			cut(c, &resume);
			rc = -JN_ESLOW;
		} else if (c->suspended) {
			c->suspended = false;
			resume = c->conn;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (resume)
		MHD_resume_connection(resume);
	return rc;
}

size_t jn__http_sse_buffered(struct sse_client *c)
{
	pthread_mutex_lock(&c->lock);
	size_t n = pending_bytes(c);
	pthread_mutex_unlock(&c->lock);
	return n;
}

void jn__http_sse_wake(struct sse_client *c)
{
	struct MHD_Connection *resume = NULL;
	pthread_mutex_lock(&c->lock);
	if (c->suspended) {
		c->suspended = false;
		resume = c->conn;
	} else {
		c->wake = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (resume)
		MHD_resume_connection(resume);
}

void jn__http_sse_end(struct sse_client *c)
{
	pthread_mutex_lock(&c->lock);
	c->closed = true;
	pthread_mutex_unlock(&c->lock);
	jn__http_sse_wake(c);
}

void jn__http_sse_wake_later(struct sse_client *c, int64_t delay_ns)
{
	struct jn_http_server *s = c->srv;
	int64_t at = jn__http_mono_ns() + delay_ns;
	bool kick = false;
	pthread_mutex_lock(&c->lock);
	if (!c->closed && (c->recheck_at == 0 || at < c->recheck_at)) {
		kick = c->recheck_at == 0;
		if (kick)
			atomic_fetch_add(&s->sse_rechecks, 1);
		c->recheck_at = at;
	}
	pthread_mutex_unlock(&c->lock);
	if (kick)
		jn__http_timer_kick(s);
}

int64_t jn__http_sse_recheck(struct jn_http_server *s, int64_t now)
{
	if (atomic_load(&s->sse_rechecks) == 0)
		return INT64_MAX;
	int64_t next = INT64_MAX;
	pthread_mutex_lock(&s->sse_lock);
	for (struct sse_client *c = s->sse_head; c; c = c->next) {
		struct MHD_Connection *conn = NULL;
		pthread_mutex_lock(&c->lock);
		if (c->recheck_at && c->recheck_at <= now) {
			c->recheck_at = 0;
			atomic_fetch_sub(&s->sse_rechecks, 1);
			if (c->suspended) {
				c->suspended = false;
				conn = c->conn;
			} else {
				c->wake = true;
			}
		} else if (c->recheck_at && c->recheck_at < next) {
			next = c->recheck_at;
		}
		pthread_mutex_unlock(&c->lock);
		/* resuming under the list lock is allowed: libmicrohttpd takes no
		 * lock of ours (server_int.h) and the list lock is not a client's */
		if (conn)
			MHD_resume_connection(conn);
	}
	pthread_mutex_unlock(&s->sse_lock);
	return next;
}
