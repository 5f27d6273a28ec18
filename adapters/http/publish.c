/*
 * publish.c - POST /v1/publish/{subject}: the request body becomes a
 * message on subject, the request's Nats-* and X-Nats-Hdr-* headers its
 * NATS headers. Answer 202 {"ok":true} (at most once: no subscriber is not
 * an error), or, when a stream stores the subject, 200 with the PubAck
 * {"stream","seq","duplicate"} or the stream's error. With JetStream on,
 * every publish goes through jn_js_publish_acked(): its verdict says
 * whether a stream captured the message, so there is no separate "does a
 * stream capture this?" look-up; the callback comes inline (not captured,
 * refused, already durable) or from the syncer thread once the write is
 * fsynced, and then resumes the suspended request.
 *
 * Also owns publishing from libmicrohttpd threads: such a thread is not an
 * I/O worker, so on first use it registers with the epoch scheme and gets
 * its own match cache (released when the thread exits), and brackets each
 * publish with an epoch read section. pub.batch is NULL: deliveries into
 * NATS connections are posted straight to their workers' inboxes.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "adapters/http/server_int.h"
#include "core/alloc.h"
#include "core/auth.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/jetstream.h"
#include "core/router.h"
#include "core/subject.h"

/* ---- the publishing thread ------------------------------------------------ */

struct pub_thread {
	struct jn_epoch_thread *ep;
	struct jn_sublist_cache *cache;
	struct jn_sublist *sl;
	unsigned polls;
};

static pthread_key_t thread_key;
static pthread_once_t thread_once = PTHREAD_ONCE_INIT;
static _Thread_local struct pub_thread *self;

static void thread_release(void *p)
{
	struct pub_thread *t = p;
	if (t->cache)
		jn_sublist_cache_free(t->cache);
	if (t->ep)
		jn_epoch_unregister(t->ep);
	jn_free(t);
}

static void make_key(void)
{
	(void)pthread_key_create(&thread_key, thread_release);
}

static struct pub_thread *this_thread(struct jn_sublist *sl)
{
	if (self && self->sl == sl)
		return self;
	if (self) {   /* another router (tests run several servers): start over */
		pthread_setspecific(thread_key, NULL);
		thread_release(self);
		self = NULL;
	}
	pthread_once(&thread_once, make_key);
	struct pub_thread *t = jn_calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->ep = jn_epoch_register();
	t->cache = jn_sublist_cache_new(sl);   /* NULL is fine: uncached matches */
	t->sl = sl;
	if (!t->ep) {
		thread_release(t);
		return NULL;
	}
	pthread_setspecific(thread_key, t);
	self = t;
	return t;
}

/* Both publishes: through this thread's cache and read section; done set:
 * through JetStream's verdict hook (jn_js_publish_acked). */
static int publish(struct jn_http_server *s, const struct jn_msg *m, uint32_t *matched,
                   jn_js_puback_fn done, void *arg)
{
	struct pub_thread *t = this_thread(s->router->subs);
	if (!t)
		return -JN_ENOMEM;   /* unsafe to match outside a read section */
	struct jn_pub pub = { .origin_id = 0, .batch = NULL };
	jn_epoch_enter(t->ep);
	int rc = done ? jn_js_publish_acked(s->opts.js, t->cache, m, &pub, done, arg)
	              : jn_router_publish(s->router, t->cache, m, &pub);
	jn_epoch_exit(t->ep);
	if ((++t->polls & 63) == 0)
		jn_epoch_poll();
	if (matched)
		*matched = pub.matched;
	atomic_fetch_add_explicit(&s->stats.msgs_in, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->stats.bytes_in, m->data_len, memory_order_relaxed);
	return rc;
}

int jn__http_publish(struct jn_http_server *s, const struct jn_msg *m, uint32_t *matched)
{
	return publish(s, m, matched, NULL, NULL);
}

int jn__http_publish_acked(struct jn_http_server *s, const struct jn_msg *m,
                           jn_js_puback_fn done, void *arg)
{
	return publish(s, m, NULL, done, arg);
}

/* ---- headers --------------------------------------------------------------- */

#define HDR_PREFIX "X-Nats-Hdr-"
#define HDR_PREFIX_LEN (sizeof HDR_PREFIX - 1)

const char *jn__http_map_header(const char *name, size_t *out_len)
{
	static const char *const canon[] = {
		"Nats-Msg-Id",
		"Nats-Expected-Stream",
		"Nats-Expected-Last-Msg-Id",
		"Nats-Expected-Last-Sequence",
		"Nats-Expected-Last-Subject-Sequence",
		"Nats-Rollup",
	};
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof canon / sizeof canon[0]; i++) {
		if (strcasecmp(name, canon[i]) == 0) {
			*out_len = strlen(canon[i]);
			return canon[i];
		}
	}
	if (n > 14 && strncasecmp(name, "Nats-Expected-", 14) == 0) {
		*out_len = n;
		return name;
	}
	if (n > HDR_PREFIX_LEN && strncasecmp(name, HDR_PREFIX, HDR_PREFIX_LEN) == 0) {
		*out_len = n - HDR_PREFIX_LEN;
		return name + HDR_PREFIX_LEN;
	}
	return NULL;
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
	(void)kind;
	struct jn__hbuf *b = cls;
	size_t nlen;
	const char *name = jn__http_map_header(key, &nlen);
	if (!name)
		return MHD_YES;
	if (b->len == 0)
		jn__hbuf_puts(b, "NATS/1.0\r\n");
	jn__hbuf_put(b, name, nlen);
	jn__hbuf_put(b, ": ", 2);
	if (value)
		jn__hbuf_puts(b, value);
	jn__hbuf_put(b, "\r\n", 2);
	return MHD_YES;
}

int jn__http_msg_headers(struct http_req *r, struct jn__hbuf *b)
{
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_header, b);
	if (b->len)
		jn__hbuf_put(b, "\r\n", 2);
	return b->oom ? -JN_ENOMEM : 0;
}

/* ---- subjects in paths ------------------------------------------------------ */

int jn__http_path_subject(struct http_req *r, int from, bool wildcards, char **out,
                          size_t *len)
{
	const char *p = r->url;
	for (int i = 0; i < from && p; i++) {
		p = strchr(p + 1, '/');
	}
	size_t n = p ? strlen(p + 1) : 0;
	if (p)
		p++;
	if (n && p[n - 1] == '/')
		n--;
	char *s = jn_malloc(n + 1);
	if (!s) {
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return -JN_ENOMEM;
	}
	long k = n ? jn__pct_decode(p, n, s) : -1;
	int bad = wildcards ? JN_EBADSUBJECT : JN_EBADPUBSUBJECT;
	if (k < 0) {
		jn_free(s);
		jn__http_error_jn(r, bad, false, "malformed percent-encoding in the path");
		return -bad;
	}
	s[k] = '\0';
	bool ok = wildcards ? jn_subject_valid_filter(s, (size_t)k)
	                    : jn_subject_valid_literal(s, (size_t)k);
	if (!ok) {
		jn__http_error_jn(r, bad, false, s);
		jn_free(s);
		return -bad;
	}
	*out = s;
	*len = (size_t)k;
	return 0;
}

/* ---- the route --------------------------------------------------------------- */

/* ---- PubAck of a captured publish ------------------------------------------------ */

/* Shared by the request and the verdict callback (which may run later on a
 * syncer thread, once the write is fsynced): two references. */
struct ack_wait {
	pthread_mutex_t lock;
	_Atomic int refs;
	bool done, suspended;
	struct MHD_Connection *conn;
	int err;
	bool captured, duplicate;
	uint64_t seq;
	char stream[256];
	char desc[256];
};

static void ack_wait_release(struct ack_wait *w)
{
	if (atomic_fetch_sub(&w->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&w->lock);
	jn_free(w);
}

static void ack_verdict(void *arg, const struct jn_js_puback *ack)
{
	struct ack_wait *w = arg;
	struct MHD_Connection *resume = NULL;
	pthread_mutex_lock(&w->lock);
	w->done = true;
	w->err = ack->err;
	w->captured = ack->stream != NULL;
	w->duplicate = ack->duplicate;
	w->seq = ack->seq;
	snprintf(w->stream, sizeof w->stream, "%s", ack->stream ? ack->stream : "");
	snprintf(w->desc, sizeof w->desc, "%s", ack->err_desc ? ack->err_desc : "");
	if (w->suspended) {
		w->suspended = false;
		resume = w->conn;
	}
	pthread_mutex_unlock(&w->lock);
	if (resume)
		MHD_resume_connection(resume);
	ack_wait_release(w);
}

static void ack_answer(struct http_req *r, struct ack_wait *w)
{
	struct jn_http_server *s = r->srv;
	r->resume_fn = NULL;
	if (!w->captured && !w->err) {   /* no stream stored it after all */
		r->resp = s->resp_accepted;
		r->resp_shared = true;
		r->status = 202;
		return;
	}
	if (w->err) {
		const struct jn_err_info *e = jn_err_info(w->err);
		unsigned status = jn__http_js_status(e->js_err_code, e->http_status);
		jn__http_error(r, status, e->js_err_code, "%s", w->desc[0] ? w->desc : e->text);
		return;
	}
	struct jn__hbuf b = { 0 };
	jn__hbuf_puts(&b, "{\"stream\":");
	jn__hbuf_json_str(&b, w->stream, strlen(w->stream));
	jn__hbuf_printf(&b, ",\"seq\":%llu,\"duplicate\":%s}", (unsigned long long)w->seq,
	                w->duplicate ? "true" : "false");
	size_t len = 0;
	char *p = jn__hbuf_take(&b, &len);
	jn__http_reply_take(r, 200, p, len, "application/json");
}

static void ack_resume(struct http_req *r)
{
	struct ack_wait *w = r->state;
	pthread_mutex_lock(&w->lock);
	bool done = w->done;
	pthread_mutex_unlock(&w->lock);
	if (done)
		ack_answer(r, w);
}

static void ack_cleanup(struct http_req *r)
{
	ack_wait_release(r->state);
	r->state = NULL;
}

/* Publish m through JetStream's verdict hook and answer with the PubAck
 * once the capturing stream has decided (and, in sync "always" mode, the
 * write is durable). */
static void publish_acked(struct http_req *r, const struct jn_msg *m)
{
	struct jn_http_server *s = r->srv;
	struct ack_wait *w = jn_calloc(1, sizeof *w);
	if (!w) {
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return;
	}
	pthread_mutex_init(&w->lock, NULL);
	atomic_init(&w->refs, 2);
	w->conn = r->conn;
	r->state = w;
	r->cleanup = ack_cleanup;
	int rc = jn__http_publish_acked(s, m, ack_verdict, w);
	if (rc < 0) {
		ack_wait_release(w);   /* the callback's reference: it will not run */
		jn__http_error_jn(r, rc, false, NULL);
		return;
	}
	pthread_mutex_lock(&w->lock);
	bool done = w->done;
	if (!done) {
		/* under the lock: the verdict sees `suspended` and resumes us */
		w->suspended = true;
		MHD_suspend_connection(r->conn);
	}
	pthread_mutex_unlock(&w->lock);
	if (done)
		ack_answer(r, w);
	else
		r->resume_fn = ack_resume;
}

void jn__http_publish_route(struct http_req *r)
{
	struct jn_http_server *s = r->srv;
	char *subj;
	size_t slen;
	if (jn__http_path_subject(r, 2, false, &subj, &slen) < 0)
		return;
	if (!jn_auth_can_publish(r->user, subj, slen)) {
		jn__http_error_jn(r, JN_EPERM_PUB, false, subj);
		jn_free(subj);
		return;
	}
	struct jn__hbuf h = { 0 };
	if (jn__http_msg_headers(r, &h) < 0) {
		jn__hbuf_free(&h);
		jn_free(subj);
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return;
	}
	if (h.len + r->body_len > s->opts.max_payload) {
		jn__hbuf_free(&h);
		jn_free(subj);
		jn__http_error_jn(r, JN_EMAXPAYLOAD, false, NULL);
		return;
	}
	struct jn_msg m = {
		.subject = subj,
		.subject_len = (uint32_t)slen,
		.hdr = h.len ? (const uint8_t *)h.p : NULL,
		.hdr_len = (uint32_t)h.len,
		.data = r->body,
		.data_len = (uint32_t)r->body_len,
	};
	if (s->opts.js) {
		/* The stream's verdict says whether one captured it: 202 if not. */
		publish_acked(r, &m);
		jn__hbuf_free(&h);
		jn_free(subj);
		return;
	}
	int rc = jn__http_publish(s, &m, NULL);
	jn__hbuf_free(&h);
	jn_free(subj);
	if (rc < 0) {
		jn__http_error_jn(r, rc, false, NULL);
		return;
	}
	r->resp = s->resp_accepted;
	r->resp_shared = true;
	r->status = 202;
}
