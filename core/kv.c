/*
 * kv.c - Key/Value buckets over JetStream (kv.h), built the way the NATS
 * clients build them (shared/spec/kv.md) so that one bucket is one bucket
 * whoever looks at it:
 *
 *   bucket B      stream KV_B on "$KV.B.>", created through the in-process
 *                 $JS.API (jn_js_api_call) with the config nats.go sends
 *   put / delete  a publish on "$KV.B.<key>" through the router
 *                 (jn_js_publish_acked): subscribers and watchers see it,
 *                 the revision is the stream sequence, reported once durable.
 *                 Delete = "KV-Operation: DEL"; purge = "KV-Operation: PURGE"
 *                 + "Nats-Rollup: sub"; create / update =
 *                 "Nats-Expected-Last-Subject-Sequence"
 *   get / history read the stream under its lock (jn_stream_msg_get)
 *   keys          the subjects of stream info, then the last message of each
 *   watch         an ephemeral push consumer (ack none) whose deliver subject
 *                 is a private subscription of ours on the router: the
 *                 consumer's single pumper hands deliveries over in stream
 *                 order, and the pending count in each ack subject says when
 *                 the initial values are all there.
 *
 * Nothing here keeps state beyond what the stream holds, except live
 * watchers (their subscription and consumer).
 */
#include "core/kv.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/header.h"
#include "core/jetstream.h"
#include "core/js_json.h"
#include "core/rand.h"
#include "core/stream.h"
#include "core/subject.h"
#include "core/sublist.h"

#define DUP_WINDOW_NS (120LL * 1000000000LL)
#define HDR_OP "KV-Operation"
#define SUBJ_MAX 1024

/* ---- names ----------------------------------------------------------------- */

bool jn_kv_bucket_valid(const char *name, size_t len)
{
	if (!name || len == 0 || len > 240)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool jn_kv_key_valid(const char *key, size_t len, bool pattern)
{
	if (!key || len == 0 || len > SUBJ_MAX - 300 || key[0] == '.' || key[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = key[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '/' || c == '_' || c == '=' || c == '.')
			continue;
		if (pattern && (c == '*' || c == '>'))
			continue;
		return false;
	}
	/* what the clients let through must still be a subject: no empty
	 * token, wildcards only as whole tokens */
	return pattern ? jn_subject_valid_filter(key, len) : jn_subject_valid_literal(key, len);
}

/* "$KV.<bucket>.<key>" into buf; length or -JN_EINVAL. */
static int subject_of(char *buf, size_t cap, const char *bucket, const char *key)
{
	int n = snprintf(buf, cap, "$KV.%s.%s", bucket, key);
	return n < 0 || (size_t)n >= cap ? -JN_EINVAL : n;
}

static int stream_name(char *buf, size_t cap, const char *bucket)
{
	int n = snprintf(buf, cap, "KV_%s", bucket);
	return n < 0 || (size_t)n >= cap ? -JN_EINVAL : n;
}

/* ---- entries ---------------------------------------------------------------- */

void jn_kv_entry_fini(struct jn_kv_entry *e)
{
	if (!e)
		return;
	jn_free(e->key);
	jn_free(e->value);
	memset(e, 0, sizeof *e);
}

void jn_kv_entries_free(struct jn_kv_entry *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++)
		jn_kv_entry_fini(&e[i]);
	jn_free(e);
}

void jn_kv_keys_free(char **keys, size_t n)
{
	for (size_t i = 0; keys && i < n; i++)
		jn_free(keys[i]);
	jn_free(keys);
}

static enum jn_kv_op op_of(const uint8_t *hdr, size_t hlen)
{
	const char *v;
	size_t vl;
	if (!hlen || !jn_hdr_get(hdr, hlen, HDR_OP, &v, &vl))
		return JN_KV_PUT;
	if (vl == 3 && memcmp(v, "DEL", 3) == 0)
		return JN_KV_DEL;
	if (vl == 5 && memcmp(v, "PURGE", 5) == 0)
		return JN_KV_PURGE;
	return JN_KV_PUT;
}

/* Fill e from a stored message whose subject starts with a prefix of
 * plen bytes. 0 or -JN_ENOMEM (e zeroed). */
static int entry_from(struct jn_kv_entry *e, size_t plen, const char *subj, size_t slen,
                      uint64_t seq, int64_t ts, const uint8_t *hdr, size_t hlen,
                      const uint8_t *data, size_t dlen, bool with_value)
{
	memset(e, 0, sizeof *e);
	e->key = jn_strndup(subj + plen, slen > plen ? slen - plen : 0);
	if (!e->key)
		return -JN_ENOMEM;
	e->revision = seq;
	e->created_ns = ts;
	e->op = op_of(hdr, hlen);
	if (with_value && dlen) {
		e->value = jn_malloc(dlen);
		if (!e->value) {
			jn_kv_entry_fini(e);
			return -JN_ENOMEM;
		}
		memcpy(e->value, data, dlen);
		e->len = dlen;
	}
	return 0;
}

/* ---- API calls --------------------------------------------------------------- */

/* The jn_err whose JetStream err_code is code (the most specific row: the
 * later rows of the table were added for exactly one code each). */
static int err_from_code(int code)
{
	for (int i = JN_ERR_COUNT - 1; i > 0; i--)
		if (jn_err_info(i)->js_err_code == code)
			return -i;
	return -JN_ESTREAMGENERAL;
}

/* Call op; 0 with *resp (the caller's), or the error the answer carries
 * (*resp NULL). */
static int api(struct jn_js *js, const char *op, json_t *body, json_t **resp)
{
	*resp = NULL;
	char *text = NULL;
	size_t len = 0;
	if (body) {
		text = jn_js_dumps(body, &len);
		if (!text)
			return -JN_ENOMEM;
	}
	json_t *r = NULL;
	int rc = jn_js_api_call(js, op, text, len, &r);
	free(text);
	if (rc)
		return rc;
	json_t *err = json_object_get(r, "error");
	if (err) {
		rc = err_from_code((int)json_integer_value(json_object_get(err, "err_code")));
		json_decref(r);
		return rc;
	}
	*resp = r;
	return 0;
}

/* ---- buckets ---------------------------------------------------------------- */

static int64_t jint(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* StreamInfo -> the bucket status of kv.h; NULL on OOM or a non-KV stream. */
static json_t *status_from_info(json_t *info)
{
	json_t *cfg = json_object_get(info, "config");
	const char *name = json_string_value(json_object_get(cfg, "name"));
	if (!name || strncmp(name, "KV_", 3) != 0)
		return NULL;
	json_t *desc = json_object_get(cfg, "description");
	json_t *storage = json_object_get(cfg, "storage");
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "bucket", json_string(name + 3));
	json_object_set_new(o, "values", json_integer(jint(info, "state", "messages")));
	json_object_set_new(o, "history", json_integer(jint(cfg, "max_msgs_per_subject", NULL)));
	json_object_set_new(o, "ttl", json_integer(jint(cfg, "max_age", NULL)));
	json_object_set_new(o, "bytes", json_integer(jint(info, "state", "bytes")));
	json_object_set_new(o, "storage",
	                    json_string(json_is_string(storage) ? json_string_value(storage)
	                                                        : "file"));
	json_object_set_new(o, "max_bytes", json_integer(jint(cfg, "max_bytes", NULL)));
	json_object_set_new(o, "max_value_size", json_integer(jint(cfg, "max_msg_size", NULL)));
	json_object_set_new(o, "description",
	                    json_string(json_is_string(desc) ? json_string_value(desc) : ""));
	json_object_set(o, "created", json_object_get(info, "created"));
	return o;
}

int jn_kv_bucket_create(struct jn_js *js, const struct jn_kv_cfg *cfg, json_t **status_out)
{
	if (status_out)
		*status_out = NULL;
	if (!cfg || !cfg->bucket || !jn_kv_bucket_valid(cfg->bucket, strlen(cfg->bucket)))
		return -JN_EINVAL;
	int64_t history = cfg->history ? cfg->history : 1;
	if (history < 1 || history > JN_KV_MAX_HISTORY || cfg->ttl_ns < 0)
		return -JN_EINVAL;
	char name[300], subj[300], op[320];
	stream_name(name, sizeof name, cfg->bucket);
	snprintf(subj, sizeof subj, "$KV.%s.>", cfg->bucket);
	snprintf(op, sizeof op, "STREAM.CREATE.%s", name);
	int64_t dup = DUP_WINDOW_NS;
	if (cfg->ttl_ns > 0 && cfg->ttl_ns < dup)
		dup = cfg->ttl_ns;
	json_t *b = json_pack("{s:s, s:[s], s:s, s:i, s:i, s:I, s:s, s:I, s:I, s:I, s:s, s:i, "
	                      "s:I, s:b, s:b, s:b, s:b}",
	                      "name", name, "subjects", subj, "retention", "limits",
	                      "max_consumers", -1, "max_msgs", -1,
	                      "max_bytes", (json_int_t)(cfg->max_bytes > 0 ? cfg->max_bytes : -1),
	                      "discard", "new", "max_age", (json_int_t)cfg->ttl_ns,
	                      "max_msgs_per_subject", (json_int_t)history,
	                      "max_msg_size",
	                      (json_int_t)(cfg->max_value_size > 0 ? cfg->max_value_size : -1),
	                      "storage", cfg->storage == JN_STORE_MEMORY ? "memory" : "file",
	                      "num_replicas", 1, "duplicate_window", (json_int_t)dup,
	                      "deny_delete", 1, "allow_rollup_hdrs", 1, "allow_direct", 1,
	                      "mirror_direct", 0);
	if (!b)
		return -JN_ENOMEM;
	if (cfg->description && *cfg->description)
		json_object_set_new(b, "description", json_string(cfg->description));
	json_t *r;
	int rc = api(js, op, b, &r);
	json_decref(b);
	if (rc)
		return rc;
	if (status_out) {
		*status_out = status_from_info(r);
		if (!*status_out)
			rc = -JN_ENOMEM;
	}
	json_decref(r);
	return rc;
}

int jn_kv_bucket_delete(struct jn_js *js, const char *bucket)
{
	if (!bucket || !jn_kv_bucket_valid(bucket, strlen(bucket)))
		return -JN_ESTREAMNOTFOUND;
	char op[320];
	snprintf(op, sizeof op, "STREAM.DELETE.KV_%s", bucket);
	json_t *r;
	int rc = api(js, op, NULL, &r);
	json_decref(r);
	return rc;
}

int jn_kv_bucket_status(struct jn_js *js, const char *bucket, json_t **out)
{
	*out = NULL;
	if (!bucket || !jn_kv_bucket_valid(bucket, strlen(bucket)))
		return -JN_ESTREAMNOTFOUND;
	char op[320];
	snprintf(op, sizeof op, "STREAM.INFO.KV_%s", bucket);
	json_t *r;
	int rc = api(js, op, NULL, &r);
	if (rc)
		return rc;
	*out = status_from_info(r);
	json_decref(r);
	return *out ? 0 : -JN_ESTREAMNOTFOUND;
}

int jn_kv_bucket_list(struct jn_js *js, json_t **out)
{
	*out = NULL;
	json_t *list = json_array();
	if (!list)
		return -JN_ENOMEM;
	int64_t offset = 0;
	for (;;) {
		json_t *req = json_pack("{s:s, s:I}", "subject", "$KV.*.>", "offset",
		                        (json_int_t)offset);
		json_t *r;
		int rc = req ? api(js, "STREAM.LIST", req, &r) : -JN_ENOMEM;
		json_decref(req);
		if (rc) {
			json_decref(list);
			return rc;
		}
		json_t *streams = json_object_get(r, "streams");
		size_t n = json_array_size(streams);
		for (size_t i = 0; i < n; i++) {
			json_t *st = status_from_info(json_array_get(streams, i));
			if (st)
				json_array_append_new(list, st);
		}
		offset += (int64_t)n;
		int64_t total = jint(r, "total", NULL);
		json_decref(r);
		if (n == 0 || offset >= total)
			break;
	}
	*out = json_pack("{s:o}", "buckets", list);
	return *out ? 0 : -JN_ENOMEM;
}

/* ---- reads -------------------------------------------------------------------- */

static struct jn_stream *bucket_stream(struct jn_js *js, const char *bucket)
{
	char name[300];
	if (!bucket || !jn_kv_bucket_valid(bucket, strlen(bucket)) ||
	    stream_name(name, sizeof name, bucket) < 0)
		return NULL;
	return jn_js_stream_get(js, name, strlen(name));
}

/* Load one message into m per the MSG.GET request req (stolen). */
static int load(struct jn_stream *st, json_t *req, struct jn_store_msg *m)
{
	if (!req)
		return -JN_ENOMEM;
	int rc = jn_stream_msg_get(st, req, m);
	json_decref(req);
	if (rc == -JN_ENOMSG)
		return -JN_ENOTFOUND;
	if (rc == -JN_ECLOSED)
		return -JN_ESTREAMNOTFOUND;
	return rc;
}

int jn_kv_get(struct jn_js *js, const char *bucket, const char *key, uint64_t revision,
              struct jn_kv_entry *out)
{
	memset(out, 0, sizeof *out);
	if (!key || !jn_kv_key_valid(key, strlen(key), false))
		return -JN_EINVAL;
	struct jn_stream *st = bucket_stream(js, bucket);
	if (!st)
		return -JN_ESTREAMNOTFOUND;
	char subj[SUBJ_MAX];
	int sl = subject_of(subj, sizeof subj, bucket, key);
	struct jn_store_msg m = { 0 };
	int rc = sl < 0 ? sl
	         : load(st, revision ? json_pack("{s:I}", "seq", (json_int_t)revision)
	                             : json_pack("{s:s}", "last_by_subj", subj), &m);
	if (rc == 0 && (m.subject_len != (uint32_t)sl || memcmp(m.subject, subj, (size_t)sl)))
		rc = -JN_ENOTFOUND;   /* that revision is another key's */
	if (rc == 0) {
		size_t plen = (size_t)sl - strlen(key);
		rc = entry_from(out, plen, m.subject, m.subject_len, m.seq, m.ts, m.hdr, m.hdr_len,
		                m.data, m.data_len, true);
		if (rc == 0 && out->op != JN_KV_PUT)
			rc = -JN_ENOTFOUND;   /* the marker stays in *out */
	}
	jn_store_msg_fini(&m);
	jn_stream_unref(st);
	return rc;
}

int jn_kv_keys(struct jn_js *js, const char *bucket, const char *filter, char ***keys,
               size_t *n)
{
	*keys = NULL;
	*n = 0;
	if (!filter || !*filter)
		filter = ">";
	if (!jn_kv_key_valid(filter, strlen(filter), true))
		return -JN_EINVAL;
	struct jn_stream *st = bucket_stream(js, bucket);
	if (!st)
		return -JN_ESTREAMNOTFOUND;
	char subj[SUBJ_MAX];
	int sl = subject_of(subj, sizeof subj, bucket, filter);
	size_t plen = (size_t)sl - strlen(filter);
	json_t *opts = json_pack("{s:s}", "subjects_filter", subj);
	json_t *info = opts ? jn_stream_info_json(st, opts) : NULL;
	json_decref(opts);
	int rc = info ? 0 : -JN_ENOMEM;
	json_t *subjects = json_object_get(json_object_get(info, "state"), "subjects");
	size_t cap = json_object_size(subjects);
	char **out = cap ? jn_calloc(cap, sizeof *out) : NULL;
	if (cap && !out)
		rc = -JN_ENOMEM;
	size_t k = 0;
	const char *s;
	json_t *v;
	struct jn_store_msg m = { 0 };
	json_object_foreach(subjects, s, v) {
		if (rc)
			break;
		int lr = load(st, json_pack("{s:s}", "last_by_subj", s), &m);
		if (lr == -JN_ENOTFOUND)
			continue;   /* expired or purged meanwhile */
		if (lr) {
			rc = lr;
			break;
		}
		if (op_of(m.hdr, m.hdr_len) != JN_KV_PUT)
			continue;
		out[k] = jn_strndup(m.subject + plen, m.subject_len - plen);
		if (!out[k]) {
			rc = -JN_ENOMEM;
			break;
		}
		k++;
	}
	jn_store_msg_fini(&m);
	json_decref(info);
	jn_stream_unref(st);
	if (rc) {
		jn_kv_keys_free(out, k);
		return rc;
	}
	*keys = out;
	*n = k;
	return 0;
}

int jn_kv_history(struct jn_js *js, const char *bucket, const char *key,
                  struct jn_kv_entry **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!key || !jn_kv_key_valid(key, strlen(key), false))
		return -JN_EINVAL;
	struct jn_stream *st = bucket_stream(js, bucket);
	if (!st)
		return -JN_ESTREAMNOTFOUND;
	char subj[SUBJ_MAX];
	int sl = subject_of(subj, sizeof subj, bucket, key);
	size_t plen = (size_t)sl - strlen(key);
	struct jn_kv_entry *e = NULL;
	size_t k = 0, cap = 0;
	uint64_t next = 0;
	int rc = 0;
	struct jn_store_msg m = { 0 };
	for (;;) {
		int lr = load(st, json_pack("{s:I, s:s}", "seq", (json_int_t)next, "next_by_subj",
		                            subj), &m);
		if (lr == -JN_ENOTFOUND)
			break;
		if (lr) {
			rc = lr;
			break;
		}
		if (k == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct jn_kv_entry *g = jn_realloc(e, nc * sizeof *g);
			if (!g) {
				rc = -JN_ENOMEM;
				break;
			}
			e = g;
			cap = nc;
		}
		rc = entry_from(&e[k], plen, m.subject, m.subject_len, m.seq, m.ts, m.hdr,
		                m.hdr_len, m.data, m.data_len, true);
		if (rc)
			break;
		k++;
		next = m.seq + 1;
	}
	jn_store_msg_fini(&m);
	jn_stream_unref(st);
	if (!rc && k == 0)
		rc = -JN_ENOTFOUND;
	if (rc) {
		jn_kv_entries_free(e, k);
		return rc;
	}
	*out = e;
	*n = k;
	return 0;
}

/* ---- writes -------------------------------------------------------------------- */

struct write_ctx {
	jn_kv_done_fn done;
	void *arg;
	bool *retry;     /* create's first attempt: set instead of failing */
};

static void on_puback(void *arg, const struct jn_js_puback *a)
{
	struct write_ctx *w = arg;
	if (a->err == -JN_EWRONGLASTSEQ && w->retry) {
		/* a refusal is told inline: the writer, still in its call,
		 * looks at the latest revision and tries again */
		*w->retry = true;
		return;
	}
	int err = a->err;
	if (!err && !a->stream)
		err = -JN_ESTREAMNOTFOUND;   /* the bucket went away meanwhile */
	w->done(w->arg, err, err ? 0 : a->seq);
	jn_free(w);
}

/* Publish one KV write; on 0 the ack callback owns (and frees) w, unless it
 * set *w->retry. */
static int publish(struct jn_js *js, struct write_ctx *w, const char *subj, size_t sl,
                   enum jn_kv_op op, uint64_t expect, const void *value, size_t len)
{
	uint8_t hbuf[256];
	struct jn_hdr_buf h;
	jn_hdr_begin(&h, hbuf, sizeof hbuf, 0, NULL);
	if (op == JN_KV_DEL)
		jn_hdr_add(&h, HDR_OP, "DEL", 3);
	else if (op == JN_KV_PURGE) {
		jn_hdr_add(&h, HDR_OP, "PURGE", 5);
		jn_hdr_add(&h, "Nats-Rollup", "sub", 3);
	}
	if (expect != JN_KV_ANY) {
		char v[24];
		int vl = snprintf(v, sizeof v, "%" PRIu64, expect);
		jn_hdr_add(&h, "Nats-Expected-Last-Subject-Sequence", v, (size_t)vl);
	}
	bool any = op != JN_KV_PUT || expect != JN_KV_ANY;
	int hl = any ? jn_hdr_done(&h) : 0;
	if (hl < 0)
		return hl;
	struct jn_msg m = {
		.subject = subj, .subject_len = (uint32_t)sl,
		.hdr = hl ? hbuf : NULL, .hdr_len = (uint32_t)hl,
		.data = value, .data_len = (uint32_t)len,
	};
	int rc = jn_js_publish_acked(js, NULL, &m, NULL, on_puback, w);
	return rc < 0 ? rc : 0;
}

static int write_op(struct jn_js *js, const char *bucket, const char *key, enum jn_kv_op op,
                    const void *value, size_t len, uint64_t expect, jn_kv_done_fn done,
                    void *arg)
{
	if (!key || !jn_kv_key_valid(key, strlen(key), false) || !done || len > UINT32_MAX)
		return -JN_EINVAL;
	struct jn_stream *st = bucket_stream(js, bucket);
	if (!st)
		return -JN_ESTREAMNOTFOUND;
	jn_stream_unref(st);
	char subj[SUBJ_MAX];
	int sl = subject_of(subj, sizeof subj, bucket, key);
	if (sl < 0)
		return sl;
	struct write_ctx *w = jn_malloc(sizeof *w);
	if (!w)
		return -JN_ENOMEM;
	bool retry = false;
	*w = (struct write_ctx){ .done = done, .arg = arg,
	                         .retry = op == JN_KV_PUT && expect == 0 ? &retry : NULL };
	int rc = publish(js, w, subj, (size_t)sl, op, expect, value, len);
	if (rc < 0) {
		jn_free(w);
		return rc;
	}
	if (!retry)
		return 0;
	/* Create found a message on the key: fine if it is a delete/purge
	 * marker (nats.go Create does the same), as an update of that marker. */
	w->retry = NULL;
	struct jn_kv_entry e;
	int g = jn_kv_get(js, bucket, key, 0, &e);
	uint64_t marker = g == -JN_ENOTFOUND ? e.revision : 0;
	jn_kv_entry_fini(&e);
	if (g == -JN_ENOTFOUND || g == 0) {
		if (g == 0) {
			done(arg, -JN_EWRONGLASTSEQ, 0);
			jn_free(w);
			return 0;
		}
		/* marker: update it; 0: the key expired meanwhile, create again */
		rc = publish(js, w, subj, (size_t)sl, op, marker, value, len);
	} else {
		rc = g;
	}
	if (rc < 0) {
		done(arg, rc, 0);
		jn_free(w);
	}
	return 0;
}

int jn_kv_put(struct jn_js *js, const char *bucket, const char *key, const void *value,
              size_t len, uint64_t expect, jn_kv_done_fn done, void *arg)
{
	return write_op(js, bucket, key, JN_KV_PUT, value, len, expect, done, arg);
}

int jn_kv_delete(struct jn_js *js, const char *bucket, const char *key, bool purge,
                 uint64_t expect, jn_kv_done_fn done, void *arg)
{
	return write_op(js, bucket, key, purge ? JN_KV_PURGE : JN_KV_DEL, NULL, 0, expect, done,
	                arg);
}

/* ---- watch ----------------------------------------------------------------------- */

struct jn_kv_watch {
	struct jn_sub sub;            /* first: deliver casts back */
	struct jn_js *js;
	jn_kv_watch_fn fn;
	void *arg;
	bool meta_only;
	size_t prefix_len;            /* "$KV.<bucket>." */
	pthread_mutex_t mu;           /* everything below; held while fn runs */
	bool stopped;
	bool init_done;
	uint64_t last_rev;            /* entries at or below are not repeated */
	char stream[300];
	char consumer[64];
	char deliver[64];
};

static void watch_free(void *p)
{
	struct jn_kv_watch *w = p;
	pthread_mutex_destroy(&w->mu);
	jn_free(w);
}

/* "$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>":
 * the last four numbers. false if reply is not such a subject. */
static bool parse_ack(const char *s, size_t n, uint64_t *sseq, int64_t *ts, uint64_t *pending)
{
	uint64_t v[4] = { 0 };
	size_t end = n;
	for (int i = 3; i >= 0; i--) {
		size_t start = end;
		while (start > 0 && s[start - 1] != '.')
			start--;
		if (start == 0 || start == end)
			return false;
		uint64_t x = 0;
		for (size_t j = start; j < end; j++) {
			if (s[j] < '0' || s[j] > '9')
				return false;
			x = x * 10 + (uint64_t)(s[j] - '0');
		}
		v[i] = x;
		end = start - 1;
	}
	if (n < 8 || memcmp(s, "$JS.ACK.", 8) != 0)
		return false;
	*sseq = v[0];
	*ts = (int64_t)v[2];
	*pending = v[3];
	return true;
}

static void watch_deliver(struct jn_sub *sub, const struct jn_msg *m, struct jn_pub *pub)
{
	(void)pub;
	struct jn_kv_watch *w = (struct jn_kv_watch *)sub;
	uint64_t sseq, pending;
	int64_t ts;
	if (!m->reply_len || !parse_ack(m->reply, m->reply_len, &sseq, &ts, &pending))
		return;   /* a status message (heartbeat, flow control): not asked for */
	struct jn_kv_entry e = {
		.revision = sseq,
		.created_ns = ts,
		.op = op_of(m->hdr, m->hdr_len),
		.value = (m->data_len && !w->meta_only) ? (uint8_t *)m->data : NULL,
		.len = w->meta_only ? 0 : m->data_len,
		.delta = pending,
	};
	char keybuf[SUBJ_MAX];
	if (m->subject_len <= w->prefix_len || m->subject_len - w->prefix_len >= sizeof keybuf)
		return;
	memcpy(keybuf, m->subject + w->prefix_len, m->subject_len - w->prefix_len);
	keybuf[m->subject_len - w->prefix_len] = '\0';
	e.key = keybuf;
	if (!e.len)
		e.value = NULL;
	pthread_mutex_lock(&w->mu);
	if (!w->stopped && sseq > w->last_rev) {
		w->last_rev = sseq;
		w->fn(w->arg, &e);
		if (!w->init_done && pending == 0) {
			w->init_done = true;
			w->fn(w->arg, NULL);
		}
	}
	pthread_mutex_unlock(&w->mu);
}

int jn_kv_watch(struct jn_js *js, const char *bucket, const char *pattern, unsigned flags,
                uint64_t after_rev, jn_kv_watch_fn fn, void *arg, struct jn_kv_watch **out)
{
	*out = NULL;
	if (!pattern || !*pattern)
		pattern = ">";
	if (!fn || !jn_kv_key_valid(pattern, strlen(pattern), true))
		return -JN_EINVAL;
	struct jn_stream *st = bucket_stream(js, bucket);
	if (!st)
		return -JN_ESTREAMNOTFOUND;
	jn_stream_unref(st);
	char filter[SUBJ_MAX];
	int fl = subject_of(filter, sizeof filter, bucket, pattern);
	if (fl < 0)
		return fl;
	struct jn_kv_watch *w = jn_calloc(1, sizeof *w);
	if (!w)
		return -JN_ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	w->js = js;
	w->fn = fn;
	w->arg = arg;
	w->meta_only = flags & JN_KV_WATCH_META_ONLY;
	w->prefix_len = (size_t)fl - strlen(pattern);
	w->last_rev = after_rev;
	stream_name(w->stream, sizeof w->stream, bucket);
	char rnd[40];
	jn_random_token(rnd, sizeof rnd - 1);
	snprintf(w->deliver, sizeof w->deliver, "_JNKV.%s", rnd);
	w->sub.subject = w->deliver;
	w->sub.subject_len = (uint32_t)strlen(w->deliver);
	w->sub.deliver = watch_deliver;
	w->sub.owner = w;
	struct jn_router *r = jn_js_router(js);
	int rc = jn_sublist_insert(r->subs, &w->sub);
	if (rc) {
		watch_free(w);
		return rc;
	}

	const char *policy = after_rev ? "by_start_sequence"
	                     : (flags & JN_KV_WATCH_UPDATES_ONLY) ? "new"
	                     : (flags & JN_KV_WATCH_HISTORY) ? "all" : "last_per_subject";
	json_t *cfg = json_pack("{s:s, s:s, s:i, s:s, s:s, s:b, s:s, s:i, s:b}",
	                        "deliver_policy", policy, "ack_policy", "none", "max_deliver", 1,
	                        "filter_subject", filter, "replay_policy", "instant",
	                        "headers_only", w->meta_only ? 1 : 0,
	                        "deliver_subject", w->deliver, "num_replicas", 1,
	                        "mem_storage", 1);
	if (cfg && after_rev)
		json_object_set_new(cfg, "opt_start_seq", jn_js_u64(after_rev + 1));
	json_t *req = cfg ? json_pack("{s:s, s:o}", "stream_name", w->stream, "config", cfg)
	                  : NULL;
	char op[400];
	snprintf(op, sizeof op, "CONSUMER.CREATE.%s", w->stream);
	json_t *resp = NULL;
	rc = req ? api(js, op, req, &resp) : -JN_ENOMEM;
	json_decref(req);
	if (rc) {
		pthread_mutex_lock(&w->mu);
		w->stopped = true;
		pthread_mutex_unlock(&w->mu);
		jn_sublist_remove(r->subs, &w->sub);
		jn_epoch_retire(w, watch_free);
		return rc == -JN_ECONSUMERCREATE || rc == -JN_EFILTERNOTSUBSET ? -JN_EINVAL : rc;
	}
	const char *name = json_string_value(json_object_get(resp, "name"));
	snprintf(w->consumer, sizeof w->consumer, "%s", name ? name : "");
	int64_t pending = jint(resp, "num_pending", NULL);
	int64_t delivered = jint(resp, "delivered", "consumer_seq");
	json_decref(resp);
	pthread_mutex_lock(&w->mu);
	if (!w->init_done && pending + delivered == 0) {
		w->init_done = true;
		w->fn(w->arg, NULL);
	}
	pthread_mutex_unlock(&w->mu);
	*out = w;
	return 0;
}

void jn_kv_watch_stop(struct jn_kv_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopped = true;   /* a call of fn in progress held mu: it is over */
	pthread_mutex_unlock(&w->mu);
	jn_sublist_remove(jn_js_router(w->js)->subs, &w->sub);
	if (w->consumer[0]) {
		char op[400];
		snprintf(op, sizeof op, "CONSUMER.DELETE.%s.%s", w->stream, w->consumer);
		json_t *r = NULL;
		(void)api(w->js, op, NULL, &r);   /* gone already when the bucket was deleted */
		json_decref(r);
	}
	jn_epoch_retire(w, watch_free);
}
