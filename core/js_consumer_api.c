/*
 * js_consumer_api.c - the "$JS.API.CONSUMER.>" handlers: CREATE in its four
 * subject forms, DURABLE.CREATE, INFO, DELETE, NAMES, LIST and MSG.NEXT,
 * with nats-server 2.9.10's checks in its order, so that every error a
 * client can provoke comes back with the same err_code
 * (shared/spec/jetstream-api.md §2, §3, §7).
 *
 * Subjects nats-server has no subscription for (a wrong token count, an
 * unknown op) get no reply at all, as there. The dispatcher in jetstream.c
 * hands every "CONSUMER." op here; all but MSG.NEXT arrive with a reply
 * subject.
 */
#include "core/consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/jetstream.h"
#include "core/js_json.h"
#include "core/stream.h"

#define NAMES_LIMIT 1024
#define LIST_LIMIT 256
#define MAX_TOKENS 32

struct toks {
	const char *t[MAX_TOKENS];
	size_t l[MAX_TOKENS];
	int n;
};

/* Split op on '.'; false when it has more tokens than we ever look at
 * (only a create filter can be long: see filter_from). */
static void tokenize(const char *s, size_t len, struct toks *tk)
{
	tk->n = 0;
	size_t start = 0;
	for (size_t i = 0; i <= len && tk->n < MAX_TOKENS; i++) {
		if (i == len || s[i] == '.') {
			tk->t[tk->n] = s + start;
			tk->l[tk->n] = i - start;
			tk->n++;
			start = i + 1;
		}
	}
}

static bool tok_is(const struct toks *tk, int i, const char *w)
{
	return i < tk->n && tk->l[i] == strlen(w) && memcmp(tk->t[i], w, tk->l[i]) == 0;
}

static int respond(struct jn_js *js, struct jn_pub *pub, const struct jn_msg *req,
                   json_t *resp)
{
	int rc = resp ? jn_js_respond(js, pub, req, resp) : -JN_ENOMEM;
	json_decref(resp);
	return rc;
}

static void respond_err(struct jn_js *js, struct jn_pub *pub, const struct jn_msg *req,
                        const char *type, int err, const char *desc)
{
	jn_js_respond_error(js, pub, req, type, err, desc && *desc ? desc : NULL);
}

/* nats-server's isEmptyRequest: nothing, or a JSON object with no members. */
static bool empty_request(const struct jn_msg *req)
{
	json_t *o = NULL;
	if (jn_js_parse_request(req, &o))
		return false;
	bool empty = !o || (json_is_object(o) && json_object_size(o) == 0);
	json_decref(o);
	return empty;
}

/* ---- CREATE ------------------------------------------------------------- */

#define T_CREATE "consumer_create_response"

static void h_create(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                     enum jn_consumer_create_kind kind, const char *stream, size_t sl,
                     const char *cname, size_t cl, const char *filt, size_t fl)
{
	json_t *body = NULL;
	struct jn_consumer_cfg cfg = { 0 };
	char err[256] = "";
	int rc = jn_js_parse_request(req, &body);
	if (rc || !body || !json_is_object(body)) {
		respond_err(js, pub, req, T_CREATE, -JN_EBADJSON, NULL);
		goto out;
	}
	json_t *jc = json_object_get(body, "config");
	json_t *empty = NULL;
	if (!jc || json_is_null(jc))
		jc = empty = json_object();
	rc = jn_consumer_cfg_parse(jc, &cfg);
	json_decref(empty);
	if (rc) {
		respond_err(js, pub, req, T_CREATE, rc == -JN_ENOMEM ? rc : -JN_EBADJSON, NULL);
		goto out;
	}
	const char *rs = NULL;
	size_t rsl = 0;
	if (jn_js_get_str(body, "stream_name", &rs, &rsl)) {
		respond_err(js, pub, req, T_CREATE, -JN_EBADJSON, NULL);
		goto out;
	}
	if (!rs || rsl != sl || memcmp(rs, stream, sl) != 0) {
		respond_err(js, pub, req, T_CREATE, -JN_ESTREAMMISMATCH, NULL);
		goto out;
	}
	if (cl && (memchr(cname, '/', cl) || memchr(cname, '\\', cl))) {
		respond_err(js, pub, req, T_CREATE, -JN_ECONSUMERPATHSEP, NULL);
		goto out;
	}
	const char *dn = cfg.durable_name;
	if (kind == JN_CREATE_LEGACY_DURABLE) {
		if (!dn) {
			respond_err(js, pub, req, T_CREATE, -JN_EDURABLENOTSET, NULL);
			goto out;
		}
		if (strlen(dn) != cl || memcmp(dn, cname, cl) != 0) {
			respond_err(js, pub, req, T_CREATE, -JN_EDURABLEMISMATCH, NULL);
			goto out;
		}
	}
	if (kind == JN_CREATE_NAMED) {
		if (dn && (strlen(dn) != cl || memcmp(dn, cname, cl) != 0)) {
			respond_err(js, pub, req, T_CREATE, -JN_EDURABLEMISMATCH, NULL);
			goto out;
		}
		jn_free(cfg.name);
		cfg.name = jn_strndup(cname, cl);
		if (!cfg.name) {
			respond_err(js, pub, req, T_CREATE, -JN_ENOMEM, NULL);
			goto out;
		}
	}
	if (kind == JN_CREATE_LEGACY_EPHEMERAL && dn) {
		respond_err(js, pub, req, T_CREATE, -JN_EEPHEMERALDURABLE, NULL);
		goto out;
	}
	if (fl && (!cfg.filter_subject || strlen(cfg.filter_subject) != fl ||
	           memcmp(cfg.filter_subject, filt, fl) != 0)) {
		respond_err(js, pub, req, T_CREATE, -JN_EFILTERMISMATCH, NULL);
		goto out;
	}
	if (cfg.num_replicas > 1) {
		respond_err(js, pub, req, T_CREATE, -JN_EREPLICAS, NULL);
		goto out;
	}
	struct jn_stream *st = jn_js_stream_get(js, stream, sl);
	if (!st) {
		respond_err(js, pub, req, T_CREATE, -JN_ESTREAMNOTFOUND, NULL);
		goto out;
	}
	struct jn_consumer *c = NULL;
	rc = jn_consumer_create(st, &cfg, &c, err, sizeof err);
	if (rc) {
		respond_err(js, pub, req, T_CREATE, rc, err);
	} else {
		json_t *info = jn_consumer_info_json(c);
		json_t *resp = jn_js_response_new(T_CREATE);
		if (info && resp) {
			json_object_update(resp, info);
			respond(js, pub, req, resp);
			resp = NULL;
			jn_consumer_kick(c, pub);
		} else {
			respond_err(js, pub, req, T_CREATE, -JN_ECONSUMERNOTFOUND, NULL);
		}
		json_decref(info);
		json_decref(resp);
	}
	jn_stream_unref(st);
out:
	jn_consumer_cfg_fini(&cfg);
	json_decref(body);
}

/* ---- INFO / DELETE ------------------------------------------------------- */

static struct jn_consumer *find(struct jn_js *js, struct jn_pub *pub, const struct jn_msg *req,
                                const char *type, const struct toks *tk, int si,
                                struct jn_stream **st)
{
	*st = jn_js_stream_get(js, tk->t[si], tk->l[si]);
	if (!*st) {
		respond_err(js, pub, req, type, -JN_ESTREAMNOTFOUND, NULL);
		return NULL;
	}
	struct jn_consumer *c = jn_stream_consumer_find(*st, tk->t[si + 1], tk->l[si + 1]);
	if (!c) {
		respond_err(js, pub, req, type, -JN_ECONSUMERNOTFOUND, NULL);
		jn_stream_unref(*st);
		*st = NULL;
	}
	return c;
}

static void h_info(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                   const struct toks *tk)
{
	static const char type[] = "consumer_info_response";
	if (!empty_request(req)) {
		respond_err(js, pub, req, type, -JN_ENOTEMPTY, NULL);
		return;
	}
	struct jn_stream *st;
	struct jn_consumer *c = find(js, pub, req, type, tk, 2, &st);
	if (!c)
		return;
	json_t *info = jn_consumer_info_json(c);
	if (!info) {
		respond_err(js, pub, req, type, -JN_ECONSUMERNOTFOUND, NULL);
	} else {
		json_t *resp = jn_js_response_new(type);
		if (resp)
			json_object_update(resp, info);
		respond(js, pub, req, resp);
		json_decref(info);
	}
	jn_stream_unref(st);
}

static void h_delete(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                     const struct toks *tk)
{
	static const char type[] = "consumer_delete_response";
	if (!empty_request(req)) {
		respond_err(js, pub, req, type, -JN_ENOTEMPTY, NULL);
		return;
	}
	struct jn_stream *st;
	struct jn_consumer *c = find(js, pub, req, type, tk, 2, &st);
	if (!c)
		return;
	int rc = jn_consumer_delete(c);
	if (rc) {
		respond_err(js, pub, req, type, rc, NULL);
	} else {
		json_t *resp = jn_js_response_new(type);
		if (resp)
			json_object_set_new(resp, "success", json_true());
		respond(js, pub, req, resp);
	}
	jn_stream_unref(st);
}

/* ---- NAMES / LIST ------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
	const struct jn_consumer *x = *(struct jn_consumer *const *)a;
	const struct jn_consumer *y = *(struct jn_consumer *const *)b;
	return strcmp(jn_consumer_name(x), jn_consumer_name(y));
}

static void h_names_list(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                         const struct toks *tk, bool list)
{
	const char *type = list ? "consumer_list_response" : "consumer_names_response";
	int64_t offset = 0;
	json_t *body = NULL;
	if (jn_js_parse_request(req, &body) || (body && !json_is_object(body)) ||
	    (body && jn_js_get_i64(body, "offset", &offset))) {
		json_decref(body);
		respond_err(js, pub, req, type, -JN_EBADJSON, NULL);
		return;
	}
	json_decref(body);
	struct jn_stream *st = jn_js_stream_get(js, tk->t[2], tk->l[2]);
	if (!st) {
		respond_err(js, pub, req, type, -JN_ESTREAMNOTFOUND, NULL);
		return;
	}
	struct jn_consumer **cs = NULL;
	int n = jn_stream_consumer_list(st, &cs);
	if (n < 0) {
		respond_err(js, pub, req, type, n, NULL);
		jn_stream_unref(st);
		return;
	}
	qsort(cs, (size_t)n, sizeof *cs, cmp_names);
	if (offset < 0)
		offset = 0;
	if (offset > n)
		offset = n;
	int limit = list ? LIST_LIMIT : NAMES_LIMIT;
	json_t *resp = jn_js_response_new(type);
	json_t *arr = json_array();
	for (int i = (int)offset; i < n && (int)json_array_size(arr) < limit; i++) {
		if (list) {
			json_t *info = jn_consumer_info_json(cs[i]);
			if (info)
				json_array_append_new(arr, info);
		} else {
			json_array_append_new(arr, json_string(jn_consumer_name(cs[i])));
		}
	}
	if (resp) {
		json_object_set_new(resp, "total", json_integer(n));
		json_object_set_new(resp, "offset", json_integer(offset));
		json_object_set_new(resp, "limit", json_integer(limit));
		json_object_set_new(resp, "consumers", arr);
		arr = NULL;
	}
	json_decref(arr);
	respond(js, pub, req, resp);
	jn_free(cs);
	jn_stream_unref(st);
}

/* ---- MSG.NEXT ------------------------------------------------------------- */

static void h_next(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                   const struct toks *tk)
{
	if (!req->reply_len)
		return;
	struct jn_stream *st = jn_js_stream_get(js, tk->t[3], tk->l[3]);
	struct jn_consumer *c = st ? jn_stream_consumer_find(st, tk->t[4], tk->l[4]) : NULL;
	/* an unknown stream or consumer: nats-server answers nothing (observed) */
	if (c)
		jn_consumer_pull(c, req->reply, req->reply_len, req->data, req->data_len, pub);
	if (st)
		jn_stream_unref(st);
}

/* ---- dispatch ------------------------------------------------------------- */

void jn_js_consumer_api(struct jn_js *js, const char *op, size_t len,
                        const struct jn_msg *req, struct jn_pub *pub)
{
	struct toks tk;
	tokenize(op, len, &tk);
	for (int i = 0; i < tk.n; i++)
		if (!tk.l[i])
			return;
	if (!tok_is(&tk, 0, "CONSUMER"))
		return;
	if (tok_is(&tk, 1, "CREATE") && tk.n >= 3) {
		if (tk.n == 3) {
			h_create(js, req, pub, JN_CREATE_LEGACY_EPHEMERAL, tk.t[2], tk.l[2], NULL, 0,
			         NULL, 0);
		} else {
			const char *f = NULL;
			size_t fl = 0;
			if (tk.n > 4) {   /* the rest of the subject is the filter */
				f = tk.t[4];
				fl = (size_t)(op + len - f);
			}
			h_create(js, req, pub, JN_CREATE_NAMED, tk.t[2], tk.l[2], tk.t[3], tk.l[3],
			         f, fl);
		}
	} else if (tok_is(&tk, 1, "DURABLE") && tok_is(&tk, 2, "CREATE") && tk.n == 5) {
		h_create(js, req, pub, JN_CREATE_LEGACY_DURABLE, tk.t[3], tk.l[3], tk.t[4], tk.l[4],
		         NULL, 0);
	} else if (tok_is(&tk, 1, "INFO") && tk.n == 4) {
		h_info(js, req, pub, &tk);
	} else if (tok_is(&tk, 1, "DELETE") && tk.n == 4) {
		h_delete(js, req, pub, &tk);
	} else if (tok_is(&tk, 1, "NAMES") && tk.n == 3) {
		h_names_list(js, req, pub, &tk, false);
	} else if (tok_is(&tk, 1, "LIST") && tk.n == 3) {
		h_names_list(js, req, pub, &tk, true);
	} else if (tok_is(&tk, 1, "MSG") && tok_is(&tk, 2, "NEXT") && tk.n == 5) {
		h_next(js, req, pub, &tk);
	}
}
