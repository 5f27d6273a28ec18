/*
 * request.c - request/reply over HTTP: POST /v1/request/{subject}.
 *
 * One wildcard subscription serves every waiting request of the server:
 * "_INBOX.<22 random base62>.*"; request N publishes with the reply
 * subject "_INBOX.<random>.N" and waits, its connection suspended, until
 * the first message on that subject, its deadline, or shutdown. A map
 * (id -> pending) finds the request from the reply subject; a min-heap of
 * deadlines lets the adapter's timer thread expire them. Both live under
 * the inbox lock, and so does every pending's state: the first of reply,
 * timeout and shutdown to change it from P_WAIT wins, removes the pending
 * from the map and the heap and, if the connection is suspended, resumes
 * it (after unlocking). Later replies find nothing and are dropped, like
 * nats.c drops replies to a request that is gone.
 *
 * No responders: jn_router_publish reports how many subscriptions matched;
 * zero means nobody can answer, and the request ends at once with 503,
 * as a NATS client with no_responders gets its 503 status message.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "adapters/http/server_int.h"
#include "core/rand.h"
#include "core/alloc.h"
#include "core/auth.h"
#include "core/err.h"
#include "core/log.h"

#define MAX_TIMEOUT_NS (600LL * 1000000000LL)   /* ?timeout is at most 10 min */

enum { P_WAIT, P_REPLY, P_TIMEOUT, P_STOP };

struct pending {
	uint64_t id;
	struct pending *next;          /* map chain */
	uint32_t heap_idx;             /* UINT32_MAX: not in the heap */
	bool in_map;
	bool suspended;
	int state;
	int64_t deadline;
	struct MHD_Connection *conn;
	jn__http_reply_fn done;
	uint8_t *reply;                /* headers then data, jn_malloc'd */
	uint32_t hlen, dlen;
};

/* ---- map and heap (inbox lock held) --------------------------------------- */

static uint32_t slot_of(const struct http_inbox *in, uint64_t id)
{
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & (in->map_cap - 1);
}

static int map_insert(struct http_inbox *in, struct pending *p)
{
	if (in->map_n + 1 > in->map_cap) {
		uint32_t cap = in->map_cap ? in->map_cap * 2 : 64;
		struct pending **m = jn_calloc(cap, sizeof *m);
		if (!m)
			return -JN_ENOMEM;
		struct pending **old = in->map;
		uint32_t oldcap = in->map_cap;
		in->map = m;
		in->map_cap = cap;
		for (uint32_t i = 0; i < oldcap; i++) {
			struct pending *q = old[i];
			while (q) {
				struct pending *nx = q->next;
				uint32_t k = slot_of(in, q->id);
				q->next = m[k];
				m[k] = q;
				q = nx;
			}
		}
		jn_free(old);
	}
	uint32_t k = slot_of(in, p->id);
	p->next = in->map[k];
	in->map[k] = p;
	p->in_map = true;
	in->map_n++;
	return 0;
}

static struct pending *map_find(struct http_inbox *in, uint64_t id)
{
	if (!in->map_cap)
		return NULL;
	for (struct pending *p = in->map[slot_of(in, id)]; p; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

static void map_remove(struct http_inbox *in, struct pending *p)
{
	if (!p->in_map)
		return;
	struct pending **pp = &in->map[slot_of(in, p->id)];
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	p->in_map = false;
	in->map_n--;
}

static void heap_swap(struct http_inbox *in, uint32_t a, uint32_t b)
{
	struct pending *t = in->heap[a];
	in->heap[a] = in->heap[b];
	in->heap[b] = t;
	in->heap[a]->heap_idx = a;
	in->heap[b]->heap_idx = b;
}

static void heap_up(struct http_inbox *in, uint32_t i)
{
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (in->heap[parent]->deadline <= in->heap[i]->deadline)
			break;
		heap_swap(in, i, parent);
		i = parent;
	}
}

static void heap_down(struct http_inbox *in, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < in->heap_n && in->heap[l]->deadline < in->heap[m]->deadline)
			m = l;
		if (r < in->heap_n && in->heap[r]->deadline < in->heap[m]->deadline)
			m = r;
		if (m == i)
			return;
		heap_swap(in, i, m);
		i = m;
	}
}

static int heap_push(struct http_inbox *in, struct pending *p)
{
	if (in->heap_n == in->heap_cap) {
		uint32_t cap = in->heap_cap ? in->heap_cap * 2 : 64;
		struct pending **h = jn_realloc(in->heap, cap * sizeof *h);
		if (!h)
			return -JN_ENOMEM;
		in->heap = h;
		in->heap_cap = cap;
	}
	p->heap_idx = in->heap_n;
	in->heap[in->heap_n++] = p;
	heap_up(in, p->heap_idx);
	return 0;
}

static void heap_remove(struct http_inbox *in, struct pending *p)
{
	uint32_t i = p->heap_idx;
	if (i == UINT32_MAX)
		return;
	p->heap_idx = UINT32_MAX;
	in->heap_n--;
	if (i == in->heap_n)
		return;
	in->heap[i] = in->heap[in->heap_n];
	in->heap[i]->heap_idx = i;
	heap_up(in, i);
	heap_down(in, in->heap[i]->heap_idx);
}

/* Leave P_WAIT: returns the connection to resume (or NULL). Lock held. */
static struct MHD_Connection *settle(struct http_inbox *in, struct pending *p, int state)
{
	p->state = state;
	map_remove(in, p);
	heap_remove(in, p);
	if (!p->suspended)
		return NULL;
	p->suspended = false;
	return p->conn;
}

/* ---- the inbox subscription --------------------------------------------------- */

static void inbox_deliver(struct jn_sub *sub, const struct jn_msg *m, struct jn_pub *pub)
{
	(void)pub;
	struct jn_http_server *s = sub->owner;
	struct http_inbox *in = &s->inbox;
	if (m->subject_len <= in->prefix_len)
		return;
	uint64_t id = 0;
	for (uint32_t i = (uint32_t)in->prefix_len; i < m->subject_len; i++) {
		char c = m->subject[i];
		if (c < '0' || c > '9' || id > UINT64_MAX / 10 - 1)
			return;
		id = id * 10 + (uint64_t)(c - '0');
	}
	/* copy outside the lock; most replies find their request waiting */
	uint8_t *copy = jn_malloc((size_t)m->hdr_len + m->data_len + 1);
	if (!copy)
		return;   /* the request will time out: the best we can do */
	if (m->hdr_len)
		memcpy(copy, m->hdr, m->hdr_len);
	if (m->data_len)
		memcpy(copy + m->hdr_len, m->data, m->data_len);
	struct MHD_Connection *resume = NULL;
	pthread_mutex_lock(&in->lock);
	struct pending *p = map_find(in, id);
	if (p && p->state == P_WAIT) {
		p->reply = copy;
		p->hlen = m->hdr_len;
		p->dlen = m->data_len;
		copy = NULL;
		resume = settle(in, p, P_REPLY);
	}
	pthread_mutex_unlock(&in->lock);
	jn_free(copy);
	if (!p)
		return;
	atomic_fetch_add_explicit(&s->stats.msgs_out, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->stats.bytes_out, m->data_len, memory_order_relaxed);
	if (resume)
		MHD_resume_connection(resume);
}

int jn__http_inbox_start(struct jn_http_server *s)
{
	struct http_inbox *in = &s->inbox;
	char tok[23];
	jn_random_token(tok, 22);
	int n = snprintf(in->subject, sizeof in->subject, "_INBOX.%s.*", tok);
	in->prefix_len = (size_t)n - 1;
	in->sub.subject = in->subject;
	in->sub.subject_len = (uint32_t)n;
	in->sub.deliver = inbox_deliver;
	in->sub.owner = s;
	int rc = jn_sublist_insert(s->router->subs, &in->sub);
	if (rc == 0)
		in->inserted = true;
	return rc;
}

void jn__http_inbox_stop(struct jn_http_server *s)
{
	struct http_inbox *in = &s->inbox;
	if (in->inserted) {
		jn_sublist_remove(s->router->subs, &in->sub);
		in->inserted = false;
	}
	/* end every waiting request; resume outside the lock */
	for (;;) {
		struct MHD_Connection *batch[64];
		int n = 0;
		pthread_mutex_lock(&in->lock);
		for (uint32_t i = 0; i < in->map_cap && n < 64; i++) {
			while (in->map[i] && n < 64) {
				struct MHD_Connection *c = settle(in, in->map[i], P_STOP);
				if (c)
					batch[n++] = c;
			}
		}
		bool more = in->map_n > 0;
		pthread_mutex_unlock(&in->lock);
		for (int i = 0; i < n; i++)
			MHD_resume_connection(batch[i]);
		if (!more)
			break;
	}
}

void jn__http_inbox_fini(struct jn_http_server *s)
{
	jn_free(s->inbox.map);
	jn_free(s->inbox.heap);
	s->inbox.map = NULL;
	s->inbox.heap = NULL;
}

int64_t jn__http_inbox_expire(struct jn_http_server *s, int64_t now_ns)
{
	struct http_inbox *in = &s->inbox;
	for (;;) {
		struct MHD_Connection *batch[64];
		int n = 0;
		int64_t next = INT64_MAX;
		pthread_mutex_lock(&in->lock);
		while (in->heap_n && in->heap[0]->deadline <= now_ns && n < 64) {
			struct MHD_Connection *c = settle(in, in->heap[0], P_TIMEOUT);
			if (c)
				batch[n++] = c;
		}
		if (in->heap_n)
			next = in->heap[0]->deadline;
		pthread_mutex_unlock(&in->lock);
		for (int i = 0; i < n; i++)
			MHD_resume_connection(batch[i]);
		if (n < 64)
			return next;
	}
}

/* ---- one waiting request ------------------------------------------------------ */

static void finish(struct http_req *r, struct pending *p)
{
	switch (p->state) {
	case P_REPLY:
		p->done(r, 200, p->reply, p->hlen, p->reply + p->hlen, p->dlen);
		break;
	case P_TIMEOUT:
		p->done(r, 504, NULL, 0, NULL, 0);
		break;
	default:
		p->done(r, 503, NULL, 0, NULL, 0);
		break;
	}
	r->resume_fn = NULL;
}

/* Re-entry after MHD_resume_connection. */
static void pending_resume(struct http_req *r)
{
	struct pending *p = r->state;
	struct http_inbox *in = &r->srv->inbox;
	pthread_mutex_lock(&in->lock);
	int state = p->state;
	pthread_mutex_unlock(&in->lock);
	if (state != P_WAIT)
		finish(r, p);
}

static void pending_cleanup(struct http_req *r)
{
	struct pending *p = r->state;
	struct http_inbox *in = &r->srv->inbox;
	pthread_mutex_lock(&in->lock);
	map_remove(in, p);
	heap_remove(in, p);
	pthread_mutex_unlock(&in->lock);
	jn_free(p->reply);
	jn_free(p);
	r->state = NULL;
}

void jn__http_request_start(struct http_req *r, const char *subject, size_t slen,
                            const uint8_t *hdr, uint32_t hlen, const uint8_t *data,
                            uint32_t dlen, int64_t timeout_ns, jn__http_reply_fn done)
{
	struct jn_http_server *s = r->srv;
	struct http_inbox *in = &s->inbox;
	struct pending *p = jn_calloc(1, sizeof *p);
	if (!p) {
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return;
	}
	p->heap_idx = UINT32_MAX;
	p->conn = r->conn;
	p->done = done;
	p->state = P_WAIT;
	p->deadline = jn__http_mono_ns() + timeout_ns;
	r->state = p;
	r->cleanup = pending_cleanup;

	pthread_mutex_lock(&in->lock);
	int rc = atomic_load(&s->stopping) ? -JN_ECLOSED : 0;
	if (rc == 0) {
		p->id = ++in->next_id;
		rc = map_insert(in, p);
	}
	if (rc == 0 && (rc = heap_push(in, p)) < 0)
		map_remove(in, p);
	bool earliest = rc == 0 && p->heap_idx == 0;
	pthread_mutex_unlock(&in->lock);
	if (rc < 0) {
		p->state = P_STOP;
		if (rc == -JN_ECLOSED)
			finish(r, p);
		else
			jn__http_error_jn(r, rc, false, NULL);
		return;
	}
	if (earliest)
		jn__http_timer_kick(s);

	char reply[64];
	int rlen = snprintf(reply, sizeof reply, "%.*s%" PRIu64, (int)in->prefix_len, in->subject,
	                    p->id);
	struct jn_msg m = {
		.subject = subject,
		.subject_len = (uint32_t)slen,
		.reply = reply,
		.reply_len = (uint32_t)rlen,
		.hdr = hlen ? hdr : NULL,
		.hdr_len = hlen,
		.data = data,
		.data_len = dlen,
	};
	uint32_t matched = 0;
	rc = jn__http_publish(s, &m, &matched);
	pthread_mutex_lock(&in->lock);
	if (p->state == P_WAIT && (rc < 0 || matched == 0))
		settle(in, p, P_STOP);   /* nobody can answer */
	bool waiting = p->state == P_WAIT;
	if (waiting) {
		/* Under the lock, so a reply on another thread that settles p
		 * after this point sees `suspended` and resumes us. */
		p->suspended = true;
		MHD_suspend_connection(r->conn);
	}
	pthread_mutex_unlock(&in->lock);
	if (waiting) {
		r->resume_fn = pending_resume;
		return;
	}
	if (rc < 0 && p->state == P_STOP) {
		r->resume_fn = NULL;
		jn__http_error_jn(r, rc, false, NULL);
		return;
	}
	finish(r, p);
}

/* ---- POST /v1/request/{subject} ------------------------------------------------ */

static void add_reply_headers(struct MHD_Response *resp, const uint8_t *hdr, uint32_t hlen)
{
	if (!hlen || jn_hdr_validate(hdr, hlen) < 0)
		return;
	int code = 0;
	const char *desc;
	size_t dlen;
	if (jn_hdr_status(hdr, hlen, &code, &desc, &dlen) == 0 && code) {
		char v[16];
		snprintf(v, sizeof v, "%d", code);
		MHD_add_response_header(resp, "X-Nats-Status", v);
		if (dlen) {
			char d[256];
			snprintf(d, sizeof d, "%.*s", (int)dlen, desc);
			MHD_add_response_header(resp, "X-Nats-Description", d);
		}
	}
	size_t pos = 0;
	const char *k, *v;
	size_t kl, vl;
	while (jn_hdr_next(hdr, hlen, &pos, &k, &kl, &v, &vl)) {
		char name[300], val[4096];
		if (kl + 12 >= sizeof name || vl >= sizeof val)
			continue;
		snprintf(name, sizeof name, "X-Nats-Hdr-%.*s", (int)kl, k);
		memcpy(val, v, vl);
		val[vl] = '\0';
		/* refused (odd characters in a NATS name) -> just not shown */
		(void)MHD_add_response_header(resp, name, val);
	}
}

static void request_done(struct http_req *r, int status, const uint8_t *hdr, uint32_t hlen,
                         const uint8_t *data, uint32_t dlen)
{
	if (status == 504) {
		jn__http_error_jn(r, JN_ETIMEOUT, false, "no reply before the timeout");
		return;
	}
	if (status != 200) {
		jn__http_error_jn(r, atomic_load(&r->srv->stopping) ? JN_ECLOSED : JN_ENORESPONDERS,
		                  false, NULL);
		return;
	}
	int code = 0;
	const char *desc;
	size_t desclen;
	if (hlen && jn_hdr_status(hdr, hlen, &code, &desc, &desclen) == 0 && code == 503) {
		jn__http_error_jn(r, JN_ENORESPONDERS, false, NULL);
		return;
	}
	jn__http_reply_copy(r, 200, data, dlen, "application/octet-stream");
	if (r->resp && r->status == 200)
		add_reply_headers(r->resp, hdr, hlen);
}

/* ?timeout=: 0 and *ns, or an answer is set on r and -1. */
static int query_timeout(struct http_req *r, int64_t *ns)
{
	const char *t = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "timeout");
	*ns = r->srv->opts.request_timeout_ns;
	if (!t)
		return 0;
	size_t n = strlen(t);
	char dec[64];
	long k = n < sizeof dec ? jn__pct_decode(t, n, dec) : -1;
	if (k < 0 || jn__parse_duration(dec, (size_t)k, ns) < 0 || *ns <= 0 ||
	    *ns > MAX_TIMEOUT_NS) {
		jn__http_error(r, 400, 0, "invalid timeout \"%.40s\": expected a duration such as "
		               "\"500ms\" or \"2s\" (at most 10m), or integer nanoseconds", t);
		return -1;
	}
	return 0;
}

void jn__http_request_route(struct http_req *r)
{
	struct jn_http_server *s = r->srv;
	char *subj;
	size_t slen;
	if (jn__http_path_subject(r, 2, false, &subj, &slen) < 0)
		return;
	int64_t timeout;
	if (query_timeout(r, &timeout) < 0) {
		jn_free(subj);
		return;
	}
	if (!jn_auth_can_publish(r->user, subj, slen)) {
		jn__http_error_jn(r, JN_EPERM_PUB, false, subj);
		jn_free(subj);
		return;
	}
	struct jn__hbuf h = { 0 };
	if (jn__http_msg_headers(r, &h) < 0 || h.len + r->body_len > s->opts.max_payload) {
		jn__http_error_jn(r, h.oom ? JN_ENOMEM : JN_EMAXPAYLOAD, false, NULL);
		jn__hbuf_free(&h);
		jn_free(subj);
		return;
	}
	jn__http_request_start(r, subj, slen, (const uint8_t *)h.p, (uint32_t)h.len, r->body,
	                       (uint32_t)r->body_len, timeout, request_done);
	jn__hbuf_free(&h);
	jn_free(subj);
}
