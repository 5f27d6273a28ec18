/*
 * replay.c - GET /v1/streams/{s}/events?deliver=...&filter=...: an ordered,
 * ack-less replay of a stream as server-sent events, then its new messages
 * as they are stored.
 *
 *   id: <stream seq>
 *   event: msg
 *   data: {"subject","seq","time","headers","data"}
 *
 * No consumer is involved: the replay reads the store itself, in sequence
 * order, a few dozen KiB at a time and only when the client has read
 * everything sent so far (the SSE buffer's refill), so a slow reader costs
 * a cursor, not memory, and is never cut for a long replay. The cursor is
 * the next sequence to read; "id:" carries the sequence so a reconnect with
 * Last-Event-ID: N resumes at N+1 (whatever deliver= says) with no gap and
 * no duplicate.
 *
 * Gaps. When the cursor is before the first message the stream still holds
 * (aged out, purged, or a Last-Event-ID / seq:N from before them), the
 * stream sends "event: reset" with data {"first_seq":F} and goes on from F,
 * so the client learns of the gap. This is checked at every refill, so it
 * also covers messages removed while a slow client was reading.
 *
 * New messages. The replay subscribes to the filter (or the stream's
 * subjects) on the router only to learn that something arrived: a delivery
 * wakes the stream, which reads the store again. A delivery may run before
 * the stream itself has stored that message (both are subscribers of the
 * same publish), so each wake-up also asks for a second look 20 ms later.
 *
 * deliver=: all (default), last, new, last_per_subject, seq:N, time:RFC3339.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapters/http/server_int.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/jetstream.h"
#include "core/js_json.h"
#include "core/store.h"
#include "core/stream.h"
#include "core/subject.h"

#define REFILL_BYTES (64 * 1024)
#define REFILL_MSGS 256
#define RECHECK_NS (20LL * 1000000LL)

struct replay;

struct wake_sub {
	struct jn_sub sub;               /* first: deliver casts */
	struct replay *rp;
	bool inserted;
};

struct replay {
	struct jn_http_server *srv;
	struct sse_client *c;
	char stream[256];
	char *filter;                    /* ">" when none */
	size_t flen;
	bool text;
	uint64_t next;                   /* next sequence to look at */
	uint64_t *lps;                   /* last_per_subject: these first */
	size_t nlps, ilps;
	struct wake_sub *subs;
	uint32_t nsubs;
	char **subj_copies;
};

static void wake_deliver(struct jn_sub *sub, const struct jn_msg *m, struct jn_pub *pub)
{
	(void)m;
	(void)pub;
	struct wake_sub *w = (struct wake_sub *)sub;
	struct sse_client *c = w->rp->c;
	if (!c)
		return;
	jn__http_sse_wake(c);
	jn__http_sse_wake_later(c, RECHECK_NS);
}

static void replay_stop(void *ctx)
{
	struct replay *rp = ctx;
	for (uint32_t i = 0; i < rp->nsubs; i++) {
		if (rp->subs[i].inserted) {
			jn_sublist_remove(rp->srv->router->subs, &rp->subs[i].sub);
			rp->subs[i].inserted = false;
		}
	}
}

static void replay_free(void *ctx)
{
	struct replay *rp = ctx;
	for (uint32_t i = 0; i < rp->nsubs; i++)
		jn_free(rp->subj_copies ? rp->subj_copies[i] : NULL);
	jn_free(rp->subj_copies);
	jn_free(rp->subs);
	jn_free(rp->lps);
	jn_free(rp->filter);
	jn_free(rp);
}

/* One "msg" event for m. */
static void format_event(struct replay *rp, struct jn__hbuf *b, const struct jn_store_msg *m)
{
	struct jn__http_jsmsg jm = {
		.subject = m->subject, .subject_len = m->subject_len, .seq = m->seq, .ts = m->ts,
		.hdr = m->hdr, .hdr_len = m->hdr_len, .data = m->data, .data_len = m->data_len,
	};
	jn__hbuf_printf(b, "id: %" PRIu64 "\nevent: msg\ndata: ", m->seq);
	jn__http_jsmsg_json(b, &jm, rp->text);
	jn__hbuf_puts(b, "\n\n");
}

/* Load seq (exact, next_by_subj false) or the first matching message at or
 * after seq. 0, -JN_ENOMSG, or another error (stream closing). */
static int load(struct jn_stream *st, struct replay *rp, uint64_t seq, bool exact,
                struct jn_store_msg *m)
{
	json_t *req = exact ? json_pack("{sI}", "seq", (json_int_t)seq)
	                    : json_pack("{sIss#}", "seq", (json_int_t)seq, "next_by_subj",
	                                rp->filter, rp->flen);
	if (!req)
		return -JN_ENOMEM;
	int rc = jn_stream_msg_get(st, req, m);
	json_decref(req);
	return rc;
}

static void replay_refill(struct sse_client *c, void *ctx)
{
	struct replay *rp = ctx;
	struct jn_stream *st = jn_js_stream_get(rp->srv->opts.js, rp->stream, strlen(rp->stream));
	struct jn_store_state ss;
	if (!st || jn_stream_state(st, &ss) < 0) {
		static const char gone[] =
			"event: error\ndata: {\"code\":404,\"err_code\":10059,"
			"\"description\":\"stream not found\"}\n\n";
		(void)jn__http_sse_push(c, gone, sizeof gone - 1);
		jn__http_sse_end(c);
		if (st)
			jn_stream_unref(st);
		return;
	}
	struct jn__hbuf b = { 0 };
	struct jn_store_msg m = { 0 };
	int sent = 0;
	while (rp->ilps < rp->nlps && b.len < REFILL_BYTES && sent < REFILL_MSGS) {
		if (load(st, rp, rp->lps[rp->ilps++], true, &m) == 0) {
			format_event(rp, &b, &m);
			sent++;
		}
	}
	if (rp->ilps == rp->nlps) {
		if (ss.first_seq > rp->next) {
			jn__hbuf_printf(&b, "event: reset\ndata: {\"first_seq\":%" PRIu64 "}\n\n",
			                ss.first_seq);
			rp->next = ss.first_seq;
		}
		while (b.len < REFILL_BYTES && sent < REFILL_MSGS) {
			int rc = load(st, rp, rp->next, false, &m);
			if (rc < 0) {
				/* nothing of ours up to what was stored when the state
				 * was read: the next look starts after it */
				if (rc == -JN_ENOMSG && rp->next <= ss.last_seq)
					rp->next = ss.last_seq + 1;
				break;
			}
			format_event(rp, &b, &m);
			rp->next = m.seq + 1;
			sent++;
		}
	}
	jn_store_msg_fini(&m);
	jn_stream_unref(st);
	if (b.oom) {
		jn__hbuf_free(&b);
		jn__http_sse_end(c);
		return;
	}
	if (b.len) {
		struct jn_http_server *s = rp->srv;
		atomic_fetch_add_explicit(&s->stats.msgs_out, (uint64_t)sent, memory_order_relaxed);
		(void)jn__http_sse_push(c, b.p, b.len);
	}
	jn__hbuf_free(&b);
}

static const struct jn__sse_ops replay_ops = {
	.refill = replay_refill,
	.stop = replay_stop,
	.free = replay_free,
};

/* ---- the start position ---------------------------------------------------------- */

struct lps_acc {
	uint64_t *v;
	size_t n, cap;
	uint64_t upto;
	bool oom;
};

static int lps_cb(void *arg, const struct jn_subject_state *ss)
{
	struct lps_acc *a = arg;
	if (ss->last_seq > a->upto)
		return 0;   /* a newer message: the live part sends it */
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		uint64_t *v = jn_realloc(a->v, cap * sizeof *v);
		if (!v) {
			a->oom = true;
			return 1;
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = ss->last_seq;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Compute rp->next (and rp->lps) from Last-Event-ID / deliver=. 0 or -1
 * with an answer set. */
static int start_position(struct http_req *r, struct replay *rp, struct jn_stream *st)
{
	struct jn_store_state ss;
	if (jn_stream_state(st, &ss) < 0) {
		jn__http_error_jn(r, JN_ESTREAMNOTFOUND, true, NULL);
		return -1;
	}
	uint64_t first = ss.first_seq ? ss.first_seq : 1;
	const char *lei = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
	if (lei) {
		char *end;
		unsigned long long n = strtoull(lei, &end, 10);
		if (*lei < '0' || *lei > '9' || *end || n >= UINT64_MAX - 1) {
			jn__http_error(r, 400, 0, "invalid Last-Event-ID \"%.40s\": expected a stream "
			               "sequence", lei);
			return -1;
		}
		rp->next = (uint64_t)n + 1;
		return 0;
	}
	const char *d = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "deliver");
	char dec[128];
	long k = 0;
	if (d) {
		size_t n = strlen(d);
		k = n < sizeof dec ? jn__pct_decode(d, n, dec) : -1;
		if (k >= 0)
			dec[k] = '\0';
	}
	if (!d || strcmp(dec, "all") == 0) {
		rp->next = first;
	} else if (k < 0) {
		goto bad;
	} else if (strcmp(dec, "new") == 0) {
		rp->next = ss.last_seq + 1;
	} else if (strcmp(dec, "last") == 0) {
		struct jn_store_msg m = { 0 };
		json_t *req = json_pack("{ss#}", "last_by_subj", rp->filter, rp->flen);
		int rc = req ? jn_stream_msg_get(st, req, &m) : -JN_ENOMEM;
		json_decref(req);
		rp->next = rc == 0 ? m.seq : ss.last_seq + 1;
		jn_store_msg_fini(&m);
	} else if (strcmp(dec, "last_per_subject") == 0) {
		struct lps_acc a = { .upto = ss.last_seq };
		if (jn_stream_closed(st)) {
			jn__http_error_jn(r, JN_ESTREAMNOTFOUND, true, NULL);
			return -1;
		}
		(void)jn_store_subjects(jn_stream_store(st), rp->filter, rp->flen, lps_cb, &a);
		if (a.oom) {
			jn_free(a.v);
			jn__http_error_jn(r, JN_ENOMEM, false, NULL);
			return -1;
		}
		if (a.n)
			qsort(a.v, a.n, sizeof *a.v, cmp_u64);
		rp->lps = a.v;
		rp->nlps = a.n;
		rp->next = ss.last_seq + 1;
	} else if (strncmp(dec, "seq:", 4) == 0) {
		char *end;
		unsigned long long n = strtoull(dec + 4, &end, 10);
		if (dec[4] < '0' || dec[4] > '9' || *end || n == 0)
			goto bad;
		rp->next = (uint64_t)n;
	} else if (strncmp(dec, "time:", 5) == 0) {
		int64_t t;
		if (jn_js_time_parse(dec + 5, strlen(dec + 5), &t) < 0)
			goto bad;
		if (jn_stream_closed(st)) {
			jn__http_error_jn(r, JN_ESTREAMNOTFOUND, true, NULL);
			return -1;
		}
		rp->next = jn_store_seq_for_time(jn_stream_store(st), t);
		if (rp->next < first)
			rp->next = first;
	} else {
		goto bad;
	}
	return 0;
bad:
	jn__http_error(r, 400, 0, "invalid deliver \"%.60s\": expected all, last, new, "
	               "last_per_subject, seq:N or time:RFC3339", d);
	return -1;
}

/* The wake-up subscriptions: the filter, or every subject of the stream. */
static int make_subs(struct replay *rp, struct jn_stream *st)
{
	struct jn_stream_cfg cfg;
	bool filtered = !(rp->flen == 1 && rp->filter[0] == '>');
	int rc = 0;
	uint32_t n = 1;
	if (!filtered) {
		if ((rc = jn_stream_config(st, &cfg)) < 0)
			return rc;
		n = cfg.nsubjects;
	}
	rp->subs = jn_calloc(n, sizeof *rp->subs);
	rp->subj_copies = jn_calloc(n, sizeof *rp->subj_copies);
	if (!rp->subs || !rp->subj_copies) {
		rc = -JN_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		const char *sj = filtered ? rp->filter : cfg.subjects[i];
		if (!(rp->subj_copies[i] = jn_strdup(sj))) {
			rc = -JN_ENOMEM;
			goto out;
		}
		rp->nsubs = i + 1;
		struct wake_sub *w = &rp->subs[i];
		w->sub.subject = rp->subj_copies[i];
		w->sub.subject_len = (uint32_t)strlen(rp->subj_copies[i]);
		w->sub.deliver = wake_deliver;
		w->sub.owner = rp;
		w->rp = rp;
	}
out:
	if (!filtered)
		jn_stream_cfg_fini(&cfg);
	return rc;
}

void jn__http_replay_route(struct http_req *r, const char *stream)
{
	struct jn_http_server *s = r->srv;
	struct replay *rp = jn_calloc(1, sizeof *rp);
	if (!rp) {
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return;
	}
	rp->srv = s;
	snprintf(rp->stream, sizeof rp->stream, "%s", stream);
	rp->text = jn__http_wants_text(r);
	const char *f = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "filter");
	size_t fl = f ? strlen(f) : 1;
	rp->filter = jn_malloc(fl + 1);
	if (!rp->filter) {
		replay_free(rp);
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return;
	}
	long k = f ? jn__pct_decode(f, fl, rp->filter) : 1;
	if (!f)
		rp->filter[0] = '>';
	if (k <= 0 || !jn_subject_valid_filter(rp->filter, (size_t)k)) {
		jn__http_error_jn(r, JN_EBADSUBJECT, false, f ? f : "");
		replay_free(rp);
		return;
	}
	rp->filter[k] = '\0';
	rp->flen = (size_t)k;
	struct jn_stream *st = jn_js_stream_get(s->opts.js, stream, strlen(stream));
	if (!st) {
		replay_free(rp);
		jn__http_error_jn(r, JN_ESTREAMNOTFOUND, true, NULL);
		return;
	}
	int rc = 0;
	if (f && !jn_stream_filter_valid(st, rp->filter, rp->flen)) {
		jn__http_error(r, 400, 0, "filter \"%s\" is not a subset of the stream's subjects",
		               rp->filter);
		rc = -1;
	}
	if (rc == 0)
		rc = start_position(r, rp, st);
	if (rc == 0 && (rc = make_subs(rp, st)) < 0)
		jn__http_error_jn(r, rc, false, NULL);
	jn_stream_unref(st);
	if (rc < 0) {
		replay_free(rp);
		return;
	}
	struct sse_client *c = jn__http_sse_start(r, &replay_ops, rp);
	if (!c) {
		replay_free(rp);
		return;
	}
	rp->c = c;
	for (uint32_t i = 0; i < rp->nsubs; i++) {
		if (jn_sublist_insert(s->router->subs, &rp->subs[i].sub) == 0)
			rp->subs[i].inserted = true;
	}
}
