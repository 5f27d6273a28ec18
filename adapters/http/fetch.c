/*
 * fetch.c - pulling from a durable pull consumer over HTTP:
 *   POST /v1/streams/{s}/consumers/{c}/fetch?batch=N&wait=D&max_bytes=B
 *   GET  /v1/streams/{s}/consumers/{c}/events   (SSE)
 *
 * Both are ordinary pull requests ("$JS.API.CONSUMER.MSG.NEXT.<s>.<c>",
 * nats-server's ADR-13), sent from a private inbox "_INBOX.<random>.*" that
 * a struct pull subscribes on the router, exactly as a NATS client's fetch
 * does: the consumer cannot tell HTTP from NATS, its ack wait, redelivery,
 * max_ack_pending and ack floors apply unchanged, and the ack id of every
 * message is the "$JS.ACK..." reply subject it was delivered with. Request
 * N of a pull replies on "_INBOX.<random>.N", so a status (which shows
 * that subject; messages show their stored subject) that ends an older
 * request is told from the current one's.
 *
 * Fetch never leaves a pull request half used, since a message the
 * consumer hands to a request nobody listens to any more stays unacked
 * until its ack wait runs out. So it asks in steps, each one finished (its
 * batch delivered, or ended by a status) before the answer:
 *   1. {"batch":N,"no_wait":true}: whatever is there now (404/408 ends it);
 *      any message -> answer; nothing and no wait -> answer [].
 *   2. {"batch":1,"expires":wait}: the first message to arrive (or 408);
 *   3. {"batch":N-1,"no_wait":true}: what arrived with it, then answer.
 * A safety deadline (wait + 1 s) answers with what is there even if the
 * consumer never ends a step (e.g. held at max_ack_pending).
 *
 * Consumer SSE keeps one pull request open at a time ({"batch":64,
 * "expires":10s,"max_bytes":half the SSE buffer}); the next one is sent
 * when the previous one ended and the client has read everything, so a
 * slow reader slows the pulls instead of filling memory. Each event is
 *   id: <stream seq>
 *   event: msg
 *   data: {message JSON with "ack"}
 * A request over the consumer's max_batch / max_expires / max_bytes is
 * refused with a 409 naming the limit: the stream adopts the limit and asks
 * again. Any other 409/400 status (consumer deleted) ends the stream with
 * an "event: error" carrying {"code","description"}.
 *
 * Threads: deliveries run on whatever thread the consumer delivers from
 * (an I/O worker, the JetStream timer, a libmicrohttpd thread); they only
 * append under the pull's lock and resume the connection. Pull requests
 * are sent from libmicrohttpd threads only (the handler, its resumptions,
 * the SSE refill), never from inside a delivery.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "adapters/http/server_int.h"
#include "core/rand.h"
#include "core/alloc.h"
#include "core/consumer.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/jetstream.h"
#include "core/stream.h"

#define MAX_WAIT_NS (600LL * 1000000000LL)
#define DEFAULT_WAIT_NS (5LL * 1000000000LL)
#define MAX_BATCH 10000
#define SSE_BATCH 64
#define SSE_EXPIRES_NS (10LL * 1000000000LL)
#define NS_S 1000000000LL

enum { STEP_NOW = 1, STEP_WAIT, STEP_MORE };

struct pull {
	struct jn_sub sub;               /* "_INBOX.<random>.*"; first: deliver casts */
	char inbox[48];
	size_t prefix_len;               /* "_INBOX.<random>." */
	char api[600];                   /* "$JS.API.CONSUMER.MSG.NEXT.<s>.<c>" */
	struct jn_http_server *srv;
	bool inserted;
	struct pull *prev, *next;        /* srv->pull_head (fetches), under pull_lock */
	bool linked;
	bool text;                       /* "data_text" */

	pthread_mutex_t lock;            /* everything below */
	uint64_t gen;                    /* the current request's number */
	bool outstanding;                /* the current request is not over */
	int64_t want;                    /* messages it may still bring */
	int status;                      /* the status that ended a request, 0 none */
	char status_desc[128];
	/* fetch */
	struct MHD_Connection *conn;
	bool suspended, expired, stopped;
	int step;
	int64_t batch, max_bytes, wait_ns, deadline;
	struct jn__hbuf out;             /* the messages, comma-separated */
	uint32_t got;
	/* SSE */
	struct sse_client *sse;
	bool ended;
	int64_t sse_batch, sse_expires, sse_max_bytes;   /* 0: not set yet */
};

/* ---- the inbox ---------------------------------------------------------------- */

/* Turn a delivery into the contract's message JSON. false: not a consumer
 * delivery (no parsable ack subject). */
static bool format_msg(struct pull *p, const struct jn_msg *m, struct jn__hbuf *b,
                       uint64_t *sseq)
{
	struct jn_ack_info ai;
	if (!m->reply_len || jn_ack_subject_parse(m->reply, m->reply_len, &ai) < 0)
		return false;
	struct jn__http_jsmsg jm = {
		.subject = m->subject, .subject_len = m->subject_len, .seq = ai.sseq, .ts = ai.ts,
		.hdr = m->hdr, .hdr_len = m->hdr_len, .data = m->data, .data_len = m->data_len,
		.ack = m->reply, .ack_len = m->reply_len,
		.cseq = ai.cseq, .delivered = ai.delivered, .pending = ai.pending,
	};
	jn__http_jsmsg_json(b, &jm, p->text);
	*sseq = ai.sseq;
	return true;
}

static void pull_deliver(struct jn_sub *sub, const struct jn_msg *m, struct jn_pub *pub)
{
	(void)pub;
	struct pull *p = (struct pull *)sub;
	/* A message shows its stored subject (as nats-server sends it); a
	 * status shows the request's reply subject, which names the request. */
	uint64_t gen = 0;
	bool ours = m->subject_len > p->prefix_len &&
	            memcmp(m->subject, p->inbox, p->prefix_len) == 0;
	for (uint32_t i = (uint32_t)p->prefix_len; ours && i < m->subject_len; i++) {
		char c = m->subject[i];
		if (c < '0' || c > '9' || gen > UINT64_MAX / 10 - 1)
			return;
		gen = gen * 10 + (uint64_t)(c - '0');
	}
	int code = 0;
	const char *desc = NULL;
	size_t dlen = 0;
	if (m->hdr_len && jn_hdr_validate(m->hdr, m->hdr_len) == 0)
		(void)jn_hdr_status(m->hdr, m->hdr_len, &code, &desc, &dlen);
	if (code == 100)
		return;   /* idle heartbeat */
	struct MHD_Connection *resume = NULL;
	bool wake_sse = false;
	if (code) {
		if (!ours)
			return;
		pthread_mutex_lock(&p->lock);
		if (gen == p->gen && p->outstanding) {
			p->outstanding = false;
			p->status = code;
			snprintf(p->status_desc, sizeof p->status_desc, "%.*s", (int)dlen,
			         desc ? desc : "");
			if (p->suspended) {
				p->suspended = false;
				resume = p->conn;
			}
			wake_sse = p->sse != NULL;
		}
		pthread_mutex_unlock(&p->lock);
	} else {
		struct jn__hbuf b = { 0 };
		uint64_t sseq = 0;
		if (p->sse)
			jn__hbuf_puts(&b, "event: msg\ndata: ");
		size_t at = b.len;
		if (!format_msg(p, m, &b, &sseq)) {
			jn__hbuf_free(&b);
			return;
		}
		if (p->sse) {
			/* "id:" first: rebuild the prefix now that seq is known */
			struct jn__hbuf e = { 0 };
			jn__hbuf_printf(&e, "id: %" PRIu64 "\nevent: msg\ndata: ", sseq);
			jn__hbuf_put(&e, b.p + at, b.len - at);
			jn__hbuf_puts(&e, "\n\n");
			if (!e.oom && !b.oom)
				(void)jn__http_sse_push(p->sse, e.p, e.len);
			jn__hbuf_free(&e);
		}
		pthread_mutex_lock(&p->lock);
		if (!ours)
			gen = p->gen;
		if (!p->sse && !p->stopped && !b.oom) {
			/* a late message of an earlier step still belongs to us */
			if (p->got)
				jn__hbuf_put(&p->out, ",", 1);
			jn__hbuf_put(&p->out, b.p + at, b.len - at);
			p->got++;
		}
		if (gen == p->gen && p->outstanding && --p->want <= 0) {
			p->outstanding = false;
			if (p->suspended) {
				p->suspended = false;
				resume = p->conn;
			}
			wake_sse = p->sse != NULL;
		}
		pthread_mutex_unlock(&p->lock);
		jn__hbuf_free(&b);
		struct jn_http_server *s = p->srv;
		atomic_fetch_add_explicit(&s->stats.msgs_out, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->stats.bytes_out, m->data_len, memory_order_relaxed);
	}
	if (resume)
		MHD_resume_connection(resume);
	if (wake_sse)
		jn__http_sse_wake(p->sse);
}

static struct pull *pull_new(struct http_req *r, const char *stream, const char *consumer)
{
	struct pull *p = jn_calloc(1, sizeof *p);
	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	char tok[23];
	jn_random_token(tok, 22);
	int n = snprintf(p->inbox, sizeof p->inbox, "_INBOX.%s.*", tok);
	p->prefix_len = (size_t)n - 1;
	snprintf(p->api, sizeof p->api, "$JS.API.CONSUMER.MSG.NEXT.%s.%s", stream, consumer);
	p->sub.subject = p->inbox;
	p->sub.subject_len = (uint32_t)n;
	p->sub.deliver = pull_deliver;
	p->sub.owner = p;
	p->srv = r->srv;
	p->conn = r->conn;
	p->text = jn__http_wants_text(r);
	return p;
}

static void pull_free(void *arg)
{
	struct pull *p = arg;
	jn__hbuf_free(&p->out);
	pthread_mutex_destroy(&p->lock);
	jn_free(p);
}

/* Out of the trie; freed once no delivery can be inside it. */
static void pull_retire(struct pull *p)
{
	if (p->inserted) {
		jn_sublist_remove(p->srv->router->subs, &p->sub);
		p->inserted = false;
	}
	jn_epoch_retire(p, pull_free);
}

/* Send the next pull request (libmicrohttpd thread, no lock held). */
static int send_pull(struct pull *p, int64_t batch, int64_t expires, bool no_wait,
                     int64_t max_bytes)
{
	char body[160], reply[64];
	int bl = snprintf(body, sizeof body, "{\"batch\":%lld", (long long)batch);
	if (expires > 0)
		bl += snprintf(body + bl, sizeof body - (size_t)bl, ",\"expires\":%lld",
		               (long long)expires);
	if (no_wait)
		bl += snprintf(body + bl, sizeof body - (size_t)bl, ",\"no_wait\":true");
	if (max_bytes > 0)
		bl += snprintf(body + bl, sizeof body - (size_t)bl, ",\"max_bytes\":%lld",
		               (long long)max_bytes);
	bl += snprintf(body + bl, sizeof body - (size_t)bl, "}");
	pthread_mutex_lock(&p->lock);
	uint64_t gen = ++p->gen;
	p->outstanding = true;
	p->want = batch;
	p->status = 0;
	p->status_desc[0] = '\0';
	pthread_mutex_unlock(&p->lock);
	int rl = snprintf(reply, sizeof reply, "%.*s%" PRIu64, (int)p->prefix_len, p->inbox, gen);
	struct jn_msg m = {
		.subject = p->api, .subject_len = (uint32_t)strlen(p->api),
		.reply = reply, .reply_len = (uint32_t)rl,
		.data = (const uint8_t *)body, .data_len = (uint32_t)bl,
	};
	uint32_t matched = 0;
	int rc = jn__http_publish(p->srv, &m, &matched);
	if (rc >= 0 && matched == 0)
		rc = -JN_ENORESPONDERS;
	if (rc < 0) {
		pthread_mutex_lock(&p->lock);
		p->outstanding = false;
		p->status = 503;
		snprintf(p->status_desc, sizeof p->status_desc, "%s", jn_strerror(rc));
		pthread_mutex_unlock(&p->lock);
	}
	return rc;
}

/* Does the consumer exist? 0, or the error to answer with. */
static int consumer_exists(struct jn_http_server *s, const char *stream, const char *consumer)
{
	int rc = 0;
	jn_router_thread_enter();
	struct jn_stream *st = jn_js_stream_get(s->opts.js, stream, strlen(stream));
	if (!st)
		rc = -JN_ESTREAMNOTFOUND;
	else if (!jn_stream_consumer_find(st, consumer, strlen(consumer)))
		rc = -JN_ECONSUMERNOTFOUND;
	if (st)
		jn_stream_unref(st);
	jn_router_thread_exit();
	return rc;
}

/* ---- fetch ------------------------------------------------------------------------ */

static void fetch_unlink(struct pull *p)
{
	struct jn_http_server *s = p->srv;
	pthread_mutex_lock(&s->pull_lock);
	if (p->linked) {
		if (p->prev)
			p->prev->next = p->next;
		else
			s->pull_head = p->next;
		if (p->next)
			p->next->prev = p->prev;
		p->linked = false;
	}
	pthread_mutex_unlock(&s->pull_lock);
}

static void fetch_cleanup(struct http_req *r)
{
	struct pull *p = r->state;
	fetch_unlink(p);
	pull_retire(p);
	r->state = NULL;
}

static void fetch_answer(struct http_req *r, struct pull *p)
{
	r->resume_fn = NULL;
	pthread_mutex_lock(&p->lock);
	p->stopped = true;   /* later deliveries are not ours to answer */
	uint32_t got = p->got;
	int status = p->status;
	char desc[128];
	snprintf(desc, sizeof desc, "%s", p->status_desc);
	bool oom = p->out.oom;
	struct jn__hbuf out = p->out;
	p->out = (struct jn__hbuf){ 0 };
	pthread_mutex_unlock(&p->lock);
	if (oom) {
		jn__hbuf_free(&out);
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return;
	}
	if (got == 0 && status != 0 && status != 404 && status != 408) {
		jn__hbuf_free(&out);
		if (status == 409 && strstr(desc, "Deleted"))
			jn__http_error_jn(r, JN_ECONSUMERNOTFOUND, true, NULL);
		else
			jn__http_error(r, (unsigned)status, 0, "%s", desc);
		return;
	}
	struct jn__hbuf b = { 0 };
	jn__hbuf_puts(&b, "{\"messages\":[");
	if (out.len)
		jn__hbuf_put(&b, out.p, out.len);
	jn__hbuf_puts(&b, "]}");
	jn__hbuf_free(&out);
	size_t len = 0;
	char *body = jn__hbuf_take(&b, &len);
	jn__http_reply_take(r, 200, body, len, "application/json");
}

/* Run the steps until one is pending (suspend) or the answer is ready.
 * Called by the handler and after every resumption. */
static void fetch_step(struct http_req *r)
{
	struct pull *p = r->state;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		if (p->stopped) {
			pthread_mutex_unlock(&p->lock);
			r->resume_fn = NULL;
			jn__http_error_jn(r, JN_ECLOSED, false, NULL);
			return;
		}
		if (p->outstanding && !p->expired) {
			/* under the lock: whoever ends the step sees `suspended` */
			p->suspended = true;
			MHD_suspend_connection(r->conn);
			pthread_mutex_unlock(&p->lock);
			r->resume_fn = fetch_step;
			return;
		}
		bool expired = p->expired;
		uint32_t got = p->got;
		int status = p->status;
		pthread_mutex_unlock(&p->lock);
		int next = 0;
		if (!expired && !(status && status != 404 && status != 408)) {
			if (p->step == 0)
				next = STEP_NOW;
			else if (p->step == STEP_NOW && got == 0 && p->wait_ns > 0)
				next = STEP_WAIT;
			else if (p->step == STEP_WAIT && got > 0 && got < p->batch)
				next = STEP_MORE;
		}
		if (!next) {
			fetch_answer(r, p);
			return;
		}
		p->step = next;
		if (next == STEP_NOW)
			send_pull(p, p->batch, 0, true, p->max_bytes);
		else if (next == STEP_WAIT)
			send_pull(p, 1, p->wait_ns, false, p->max_bytes);
		else
			send_pull(p, p->batch - got, 0, true, p->max_bytes);
	}
}

/* ?name=N with 1 <= N <= max; absent: def. -1: answer set. */
static int query_int(struct http_req *r, const char *key, int64_t max, int64_t def, int64_t *out)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
	*out = def;
	if (!v)
		return 0;
	int64_t n = 0;
	bool ok = *v != '\0' && strlen(v) <= 18;
	for (const char *c = v; ok && *c; c++) {
		ok = *c >= '0' && *c <= '9';
		n = n * 10 + (*c - '0');
	}
	if (!ok || n < 1 || n > max) {
		jn__http_error(r, 400, 0, "invalid %s \"%.40s\": expected an integer from 1 to %lld",
		               key, v, (long long)max);
		return -1;
	}
	*out = n;
	return 0;
}

/* A pull on an existing consumer, or NULL with the error answered. */
static struct pull *pull_open(struct http_req *r, const char *stream, const char *consumer)
{
	int rc = consumer_exists(r->srv, stream, consumer);
	if (rc < 0) {
		jn__http_error_jn(r, rc, true, NULL);
		return NULL;
	}
	struct pull *p = pull_new(r, stream, consumer);
	if (!p)
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
	return p;
}

void jn__http_fetch_route(struct http_req *r, const char *stream, const char *consumer)
{
	struct jn_http_server *s = r->srv;
	int64_t batch, max_bytes, wait = DEFAULT_WAIT_NS;
	if (query_int(r, "batch", MAX_BATCH, 1, &batch) < 0 ||
	    query_int(r, "max_bytes", INT64_MAX / 2, 0, &max_bytes) < 0 ||
	    jn__http_query_duration(r, "wait", MAX_WAIT_NS, &wait) < 0)
		return;
	struct pull *p = pull_open(r, stream, consumer);
	if (!p)
		return;
	p->batch = batch;
	p->max_bytes = max_bytes;
	p->wait_ns = wait;
	p->deadline = jn__http_mono_ns() + wait + NS_S;
	int rc = jn_sublist_insert(s->router->subs, &p->sub);
	if (rc < 0) {
		pull_free(p);
		jn__http_error_jn(r, rc, false, NULL);
		return;
	}
	p->inserted = true;
	r->state = p;
	r->cleanup = fetch_cleanup;
	pthread_mutex_lock(&s->pull_lock);
	bool stopping = atomic_load(&s->stopping);
	if (!stopping) {
		p->next = s->pull_head;
		if (p->next)
			p->next->prev = p;
		s->pull_head = p;
		p->linked = true;
	}
	pthread_mutex_unlock(&s->pull_lock);
	if (stopping) {
		jn__http_error_jn(r, JN_ECLOSED, false, NULL);
		return;
	}
	jn__http_timer_kick(s);   /* it may sleep past our deadline */
	fetch_step(r);
}

int64_t jn__http_pull_expire(struct jn_http_server *s, int64_t now)
{
	int64_t next = INT64_MAX;
	pthread_mutex_lock(&s->pull_lock);
	for (struct pull *p = s->pull_head; p; p = p->next) {
		struct MHD_Connection *resume = NULL;
		pthread_mutex_lock(&p->lock);
		if (!p->expired && p->deadline <= now) {
			p->expired = true;
			if (p->suspended) {
				p->suspended = false;
				resume = p->conn;
			}
		} else if (!p->expired && p->deadline < next) {
			next = p->deadline;
		}
		pthread_mutex_unlock(&p->lock);
		if (resume)
			MHD_resume_connection(resume);
	}
	pthread_mutex_unlock(&s->pull_lock);
	return next;
}

void jn__http_pull_stop(struct jn_http_server *s)
{
	pthread_mutex_lock(&s->pull_lock);
	for (struct pull *p = s->pull_head; p; p = p->next) {
		struct MHD_Connection *resume = NULL;
		pthread_mutex_lock(&p->lock);
		p->stopped = true;
		if (p->suspended) {
			p->suspended = false;
			resume = p->conn;
		}
		pthread_mutex_unlock(&p->lock);
		if (resume)
			MHD_resume_connection(resume);
	}
	pthread_mutex_unlock(&s->pull_lock);
}

/* ---- consumer events (SSE) -------------------------------------------------------- */

/* A request over the consumer's own limits (max_batch, max_expires,
 * max_bytes) is refused with 409 "Exceeded MaxRequest... of <limit>": take
 * the limit and ask again. true: adapted. */
static bool adapt_to_limit(struct pull *p, const char *desc)
{
	static const char b[] = "Exceeded MaxRequestBatch of ";
	static const char e[] = "Exceeded MaxRequestExpires of ";
	static const char m[] = "Exceeded MaxRequestMaxBytes of ";
	int64_t v = 0;
	if (strncmp(desc, b, sizeof b - 1) == 0) {
		v = strtoll(desc + sizeof b - 1, NULL, 10);
		if (v <= 0 || v >= p->sse_batch)
			return false;
		p->sse_batch = v;
	} else if (strncmp(desc, e, sizeof e - 1) == 0) {
		const char *d = desc + sizeof e - 1;
		if (jn_go_duration_parse(d, strlen(d), &v) < 0 || v <= 0 || v >= p->sse_expires)
			return false;
		p->sse_expires = v;
	} else if (strncmp(desc, m, sizeof m - 1) == 0) {
		v = strtoll(desc + sizeof m - 1, NULL, 10);
		if (v <= 0 || (p->sse_max_bytes && v >= p->sse_max_bytes))
			return false;
		p->sse_max_bytes = v;
	} else {
		return false;
	}
	return true;
}

static void events_refill(struct sse_client *c, void *ctx)
{
	struct pull *p = ctx;
	pthread_mutex_lock(&p->lock);
	bool busy = p->outstanding || p->ended;
	int status = p->status;
	char desc[128];
	snprintf(desc, sizeof desc, "%s", p->status_desc);
	pthread_mutex_unlock(&p->lock);
	if (busy)
		return;
	if (!p->sse_batch) {
		int64_t mb = (int64_t)(p->srv->opts.sse_max_buffer / 2);
		p->sse_batch = SSE_BATCH;
		p->sse_expires = SSE_EXPIRES_NS;
		p->sse_max_bytes = mb > 0 ? mb : 0;
	}
	if (status == 409 && adapt_to_limit(p, desc))
		status = 0;
	if (status && status != 408 && status != 404) {
		pthread_mutex_lock(&p->lock);
		p->ended = true;
		pthread_mutex_unlock(&p->lock);
		struct jn__hbuf b = { 0 };
		jn__hbuf_printf(&b, "event: error\ndata: {\"code\":%d,\"description\":", status);
		jn__hbuf_json_str(&b, desc, strlen(desc));
		jn__hbuf_puts(&b, "}\n\n");
		if (!b.oom)
			(void)jn__http_sse_push(c, b.p, b.len);
		jn__hbuf_free(&b);
		jn__http_sse_end(c);
		return;
	}
	send_pull(p, p->sse_batch, p->sse_expires, false, p->sse_max_bytes);
}

static void events_stop(void *ctx)
{
	struct pull *p = ctx;
	if (p->inserted) {
		jn_sublist_remove(p->srv->router->subs, &p->sub);
		p->inserted = false;
	}
}

static const struct jn__sse_ops events_ops = {
	.refill = events_refill,
	.stop = events_stop,
	.free = pull_free,
};

void jn__http_consumer_events_route(struct http_req *r, const char *stream,
                                    const char *consumer)
{
	struct jn_http_server *s = r->srv;
	struct pull *p = pull_open(r, stream, consumer);
	if (!p)
		return;
	struct sse_client *c = jn__http_sse_start(r, &events_ops, p);
	if (!c) {
		pull_free(p);
		return;
	}
	/* p is the stream's now; deliveries need p->sse before the first pull,
	 * which refill sends once ": ok" is read */
	p->sse = c;
	int rc = jn_sublist_insert(s->router->subs, &p->sub);
	if (rc < 0) {
		jn__http_sse_end(c);
		return;
	}
	p->inserted = true;
}
