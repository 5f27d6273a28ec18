/*
 * js_ack.c - the wire formats around consumer deliveries and the internal
 * subscriptions that receive acks and flow-control responses.
 *
 * Owns:
 *   - the ack reply subject of a delivery (format and parse),
 *       $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
 *     the 9-token v1 form nats-server 2.9 sends and nats.go / nats.js / nats.c
 *     parse; the parser also reads the 12-token v2 form;
 *   - ack bodies (+ACK, -NAK [delay], +WPI, +NXT [request], +TERM [reason]),
 *     with Go duration syntax for "-NAK 5s";
 *   - pull request bodies (nats-server's nextReqFromMsg);
 *   - the "$JS.ACK.>" and "$JS.FC.>" subscriptions: an ack from any adapter
 *     (NATS, HTTP, MQTT) reaches its consumer through this one path;
 *   - jn_js_ack_apply(): the same ack, applied directly for an adapter that
 *     needs to know whether it hit a pending message (HTTP POST /v1/ack
 *     counts "unknown" ids); it builds the ack body and calls
 *     jn_consumer_ack() exactly as ack_deliver() does.
 *
 * The parsers take untrusted bytes: every length is checked and a malformed
 * input is rejected (or, where nats-server ignores it, ignored), never
 * trusted.
 */
#include "core/consumer.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/jetstream.h"
#include "core/js_json.h"
#include "core/log.h"
#include "core/stream.h"
#include "core/sublist.h"

/* ---- ack subjects ------------------------------------------------------ */

int jn_ack_subject_format(char *buf, size_t cap, const char *stream, size_t stream_len,
                          const char *consumer, size_t consumer_len, uint64_t delivered,
                          uint64_t sseq, uint64_t cseq, int64_t ts, uint64_t pending)
{
	if (stream_len > INT_MAX || consumer_len > INT_MAX)
		return -JN_ENOMEM;
	int n = snprintf(buf, cap, "$JS.ACK.%.*s.%.*s.%llu.%llu.%llu.%lld.%llu",
	                 (int)stream_len, stream, (int)consumer_len, consumer,
	                 (unsigned long long)delivered, (unsigned long long)sseq,
	                 (unsigned long long)cseq, (long long)ts, (unsigned long long)pending);
	if (n < 0 || (size_t)n >= cap)
		return -JN_ENOMEM;
	return n;
}

/* A decimal token: digits only, no sign, fits in 63 bits. */
static bool dec_token(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 19)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

int jn_ack_subject_parse(const char *subj, size_t len, struct jn_ack_info *out)
{
	const char *tok[12];
	size_t tl[12];
	int n = 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || subj[i] == '.') {
			if (n == 12)
				return -JN_EINVAL;
			tok[n] = subj + start;
			tl[n] = i - start;
			if (tl[n] == 0)
				return -JN_EINVAL;
			n++;
			start = i + 1;
		}
	}
	if ((n != 9 && n != 12) || tl[0] != 3 || memcmp(tok[0], "$JS", 3) != 0 ||
	    tl[1] != 3 || memcmp(tok[1], "ACK", 3) != 0)
		return -JN_EINVAL;
	int b = n == 9 ? 2 : 4;   /* v2 has <domain>.<account hash> first */
	uint64_t ts;
	memset(out, 0, sizeof *out);
	out->stream = tok[b];
	out->stream_len = tl[b];
	out->consumer = tok[b + 1];
	out->consumer_len = tl[b + 1];
	if (!dec_token(tok[b + 2], tl[b + 2], &out->delivered) ||
	    !dec_token(tok[b + 3], tl[b + 3], &out->sseq) ||
	    !dec_token(tok[b + 4], tl[b + 4], &out->cseq) ||
	    !dec_token(tok[b + 5], tl[b + 5], &ts) ||
	    !dec_token(tok[b + 6], tl[b + 6], &out->pending))
		return -JN_EINVAL;
	out->ts = (int64_t)ts;
	return 0;
}

/* ---- Go durations ------------------------------------------------------ */

int jn_go_duration_parse(const char *s, size_t len, int64_t *ns)
{
	size_t i = 0;
	bool neg = false;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	if (i == len)
		return -JN_EINVAL;
	if (len - i == 1 && s[i] == '0') {
		*ns = 0;
		return 0;
	}
	double total = 0;
	while (i < len) {
		double v = 0, scale = 1;
		bool digits = false;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			v = v * 10 + (s[i++] - '0');
			digits = true;
		}
		if (i < len && s[i] == '.') {
			i++;
			while (i < len && s[i] >= '0' && s[i] <= '9') {
				scale /= 10;
				v += (s[i++] - '0') * scale;
				digits = true;
			}
		}
		if (!digits)
			return -JN_EINVAL;
		size_t u = i;
		while (i < len && !(s[i] >= '0' && s[i] <= '9') && s[i] != '.')
			i++;
		size_t ul = i - u;
		double mult;
		if (ul == 2 && memcmp(s + u, "ns", 2) == 0)
			mult = 1;
		else if ((ul == 2 && memcmp(s + u, "us", 2) == 0) ||
		         (ul == 3 && memcmp(s + u, "\xc2\xb5s", 3) == 0) ||
		         (ul == 3 && memcmp(s + u, "\xce\xbcs", 3) == 0))
			mult = 1e3;
		else if (ul == 2 && memcmp(s + u, "ms", 2) == 0)
			mult = 1e6;
		else if (ul == 1 && s[u] == 's')
			mult = 1e9;
		else if (ul == 1 && s[u] == 'm')
			mult = 60e9;
		else if (ul == 1 && s[u] == 'h')
			mult = 3600e9;
		else
			return -JN_EINVAL;
		total += v * mult;
		if (total > 9.2e18)
			return -JN_EINVAL;
	}
	*ns = (int64_t)(neg ? -total : total);
	return 0;
}

/* ---- ack bodies -------------------------------------------------------- */

static bool has_prefix(const uint8_t *b, size_t n, const char *p)
{
	size_t pl = strlen(p);
	return n >= pl && memcmp(b, p, pl) == 0;
}

static bool equals(const uint8_t *b, size_t n, const char *p)
{
	return n == strlen(p) && memcmp(b, p, n) == 0;
}

static void trim(const uint8_t **b, size_t *n)
{
	while (*n && isspace(**b)) {
		(*b)++;
		(*n)--;
	}
	while (*n && isspace((*b)[*n - 1]))
		(*n)--;
}

/* The delay of a NAK: {"delay": ns} or a Go duration; 0 if unparsable. */
static int64_t nak_delay(const uint8_t *a, size_t n)
{
	trim(&a, &n);
	if (!n)
		return 0;
	int64_t d = 0;
	if (a[0] == '{') {
		json_error_t je;
		json_t *o = json_loadb((const char *)a, n, 0, &je);
		if (!o)
			return 0;
		if (jn_js_get_i64(o, "delay", &d))
			d = 0;
		json_decref(o);
		return d;
	}
	if (jn_go_duration_parse((const char *)a, n, &d))
		return 0;
	return d;
}

enum jn_ack_kind jn_ack_body_parse(const uint8_t *b, size_t n, int64_t *delay_ns,
                                   const uint8_t **rest, size_t *rest_len)
{
	*delay_ns = 0;
	*rest = NULL;
	*rest_len = 0;
	if (n == 0 || equals(b, n, "+ACK") || equals(b, n, "+OK"))
		return JN_ACK_ACK;
	if (has_prefix(b, n, "+NXT")) {
		*rest = b + 4;
		*rest_len = n - 4;
		return JN_ACK_NXT;
	}
	if (has_prefix(b, n, "-NAK")) {
		*delay_ns = nak_delay(b + 4, n - 4);
		return JN_ACK_NAK;
	}
	if (equals(b, n, "+WPI"))
		return JN_ACK_WPI;
	/* 2.9 takes only the bare word; 2.10 clients may add a reason. */
	if (equals(b, n, "+TERM") || (has_prefix(b, n, "+TERM") && isspace(b[5])))
		return JN_ACK_TERM;
	return JN_ACK_UNKNOWN;
}

/* ---- pull requests ----------------------------------------------------- */

static void set_err(char *buf, size_t cap, const char *msg)
{
	if (cap)
		snprintf(buf, cap, "%s", msg);
}

int jn_pull_req_parse(const uint8_t *b, size_t n, struct jn_pull_req *out,
                      char *errbuf, size_t cap)
{
	memset(out, 0, sizeof *out);
	out->batch = 1;
	if (cap)
		errbuf[0] = '\0';
	trim(&b, &n);
	if (n == 0)
		return 0;
	if (b[0] == '{') {
		json_error_t je;
		json_t *o = json_loadb((const char *)b, n, 0, &je);
		if (!o || !json_is_object(o)) {
			json_decref(o);
			set_err(errbuf, cap, o ? "json: cannot unmarshal into Go value of type "
			                         "server.JSApiConsumerGetNextRequest"
			                       : je.text);
			return -JN_EBADREQUEST;
		}
		int64_t batch = 0;
		int rc = jn_js_get_i64(o, "batch", &batch);
		if (!rc)
			rc = jn_js_get_i64(o, "expires", &out->expires);
		if (!rc)
			rc = jn_js_get_i64(o, "max_bytes", &out->max_bytes);
		if (!rc)
			rc = jn_js_get_bool(o, "no_wait", &out->no_wait);
		if (!rc)
			rc = jn_js_get_i64(o, "idle_heartbeat", &out->idle_heartbeat);
		json_decref(o);
		if (rc) {
			set_err(errbuf, cap, "json: cannot unmarshal into Go struct field "
			                     "JSApiConsumerGetNextRequest");
			return -JN_EBADREQUEST;
		}
		if (out->idle_heartbeat > 0 && out->idle_heartbeat * 2 > out->expires) {
			set_err(errbuf, cap, "heartbeat value too large");
			return -JN_EBADREQUEST;
		}
		/* batch 0 delivers one message in nats-server as well */
		out->batch = batch > 0 ? batch : 1;
		if (out->expires < 0)
			out->expires = 0;
		if (out->max_bytes < 0)
			out->max_bytes = 0;
		return 0;
	}
	uint64_t v;
	bool neg = b[0] == '-';
	if (!neg && dec_token((const char *)b, n, &v))
		out->batch = v > 0 ? (int64_t)v : 1;
	return 0;
}

/* ---- the ack and flow-control subscriptions ---------------------------- */

struct ack_subs {
	struct jn_js *js;
	struct jn_sub ack;
	struct jn_sub fc;
	bool ack_in, fc_in;
};

/* The consumer named in tokens 2 and 3 of subj, with its stream referenced. */
static struct jn_consumer *lookup(struct jn_js *js, const char *stream, size_t sl,
                                  const char *cons, size_t cl, struct jn_stream **st)
{
	*st = jn_js_stream_get(js, stream, sl);
	if (!*st)
		return NULL;
	struct jn_consumer *c = jn_stream_consumer_find(*st, cons, cl);
	if (!c) {
		jn_stream_unref(*st);
		*st = NULL;
	}
	return c;
}

static void ack_deliver(struct jn_sub *sub, const struct jn_msg *msg, struct jn_pub *pub)
{
	struct ack_subs *as = sub->owner;
	struct jn_ack_info ai;
	if (jn_ack_subject_parse(msg->subject, msg->subject_len, &ai))
		return;   /* nats-server: no sequences, nothing to do, no reply */
	struct jn_stream *st;
	struct jn_consumer *c = lookup(as->js, ai.stream, ai.stream_len, ai.consumer,
	                               ai.consumer_len, &st);
	if (!c)
		return;
	jn_consumer_ack(c, &ai, msg, pub);
	jn_stream_unref(st);
}

static void fc_deliver(struct jn_sub *sub, const struct jn_msg *msg, struct jn_pub *pub)
{
	struct ack_subs *as = sub->owner;
	/* $JS.FC.<stream>.<consumer>.<id> */
	const char *tok[5];
	size_t tl[5];
	int n = 0;
	size_t start = 0;
	for (size_t i = 0; i <= msg->subject_len; i++) {
		if (i == msg->subject_len || msg->subject[i] == '.') {
			if (n == 5)
				return;
			tok[n] = msg->subject + start;
			tl[n] = i - start;
			n++;
			start = i + 1;
		}
	}
	if (n != 5)
		return;
	struct jn_stream *st;
	struct jn_consumer *c = lookup(as->js, tok[2], tl[2], tok[3], tl[3], &st);
	if (!c)
		return;
	jn_consumer_flow_control(c, msg->subject, msg->subject_len, pub);
	jn_stream_unref(st);
}

int jn_js_consumers_start(struct jn_js *js)
{
	void **slot = jn_js_consumer_slot(js);
	if (*slot)
		return 0;
	struct ack_subs *as = jn_calloc(1, sizeof *as);
	if (!as)
		return -JN_ENOMEM;
	as->js = js;
	as->ack = (struct jn_sub){ .subject = "$JS.ACK.>", .subject_len = 9,
	                           .deliver = ack_deliver, .owner = as };
	as->fc = (struct jn_sub){ .subject = "$JS.FC.>", .subject_len = 8,
	                          .deliver = fc_deliver, .owner = as };
	struct jn_sublist *sl = jn_js_router(js)->subs;
	int rc = jn_sublist_insert(sl, &as->ack);
	if (rc) {
		jn_free(as);
		return rc;
	}
	as->ack_in = true;
	rc = jn_sublist_insert(sl, &as->fc);
	if (rc) {
		jn_sublist_remove(sl, &as->ack);
		jn_epoch_retire(as, jn_free);
		return rc;
	}
	as->fc_in = true;
	*slot = as;
	return 0;
}

void jn_js_consumers_stop(struct jn_js *js)
{
	void **slot = jn_js_consumer_slot(js);
	struct ack_subs *as = *slot;
	if (!as)
		return;
	*slot = NULL;
	struct jn_sublist *sl = jn_js_router(js)->subs;
	if (as->ack_in)
		jn_sublist_remove(sl, &as->ack);
	if (as->fc_in)
		jn_sublist_remove(sl, &as->fc);
	/* a worker may still be delivering to them through a cached match */
	jn_epoch_retire(as, jn_free);
}

/* ---- acks from other adapters ------------------------------------------ */

int jn_js_ack_apply(struct jn_js *js, const char *subj, size_t len, int kind,
                    int64_t delay_ns)
{
	struct jn_ack_info ai;
	if (jn_ack_subject_parse(subj, len, &ai))
		return -JN_EINVAL;
	char body[64];
	int blen;
	switch (kind) {
	case JN_ACK_ACK:
		blen = snprintf(body, sizeof body, "+ACK");
		break;
	case JN_ACK_NAK:
		blen = delay_ns > 0 ? snprintf(body, sizeof body, "-NAK {\"delay\":%lld}",
		                               (long long)delay_ns)
		                    : snprintf(body, sizeof body, "-NAK");
		break;
	case JN_ACK_TERM:
		blen = snprintf(body, sizeof body, "+TERM");
		break;
	case JN_ACK_WPI:
		blen = snprintf(body, sizeof body, "+WPI");
		break;
	default:
		return -JN_EINVAL;
	}
	/* the consumer is reached as the $JS.ACK.> subscription reaches it,
	 * inside an epoch read section */
	jn_router_thread_enter();
	struct jn_stream *st;
	struct jn_consumer *c = lookup(js, ai.stream, ai.stream_len, ai.consumer,
	                               ai.consumer_len, &st);
	int rc = -JN_ENOTFOUND;
	if (c && !jn_consumer_acked(c, ai.sseq)) {
		struct jn_msg m = { .subject = subj, .subject_len = (uint32_t)len,
		                    .data = (const uint8_t *)body, .data_len = (uint32_t)blen };
		jn_consumer_ack(c, &ai, &m, NULL);
		rc = 0;
	}
	if (c)
		jn_stream_unref(st);
	jn_router_thread_exit();
	return rc;
}
