/*
 * consumer_config.c - the JetStream ConsumerConfig: parsing, nats-server's
 * defaults (setConsumerConfigDefaults), validation (checkConsumerCfg), the
 * update rules (checkNewConsumerConfig) and the JSON echo.
 *
 * Promise: a config parsed here, given defaults and echoed, reads back field
 * for field what nats-server 2.9.10 answers to the same create request
 * (shared/spec/jetstream-api.md §7): same member order, same omitted zero
 * values, durations in ns, opt_start_time as RFC 3339 nano UTC.
 *
 * Pure: no consumer or stream object is touched, so every rule is unit
 * tested on its own (tests/unit/test_consumer_config.c).
 */
#include "core/consumer.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/js_json.h"
#include "core/stream.h"
#include "core/subject.h"

static const char *const deliver_names[] = {
	[JN_DELIVER_ALL] = "all",
	[JN_DELIVER_LAST] = "last",
	[JN_DELIVER_NEW] = "new",
	[JN_DELIVER_BY_START_SEQ] = "by_start_sequence",
	[JN_DELIVER_BY_START_TIME] = "by_start_time",
	[JN_DELIVER_LAST_PER_SUBJECT] = "last_per_subject",
};
static const char *const ack_names[] = {
	[JN_ACK_NONE] = "none", [JN_ACK_ALL] = "all", [JN_ACK_EXPLICIT] = "explicit",
};
static const char *const replay_names[] = {
	[JN_REPLAY_INSTANT] = "instant", [JN_REPLAY_ORIGINAL] = "original",
};

const char *jn_deliver_policy_str(enum jn_deliver_policy p) { return deliver_names[p]; }
const char *jn_ack_policy_str(enum jn_ack_policy p) { return ack_names[p]; }
const char *jn_replay_policy_str(enum jn_replay_policy p) { return replay_names[p]; }

void jn_consumer_cfg_fini(struct jn_consumer_cfg *c)
{
	if (!c)
		return;
	jn_free(c->durable_name);
	jn_free(c->name);
	jn_free(c->description);
	jn_free(c->backoff);
	jn_free(c->filter_subject);
	jn_free(c->sample_freq);
	jn_free(c->deliver_subject);
	jn_free(c->deliver_group);
	memset(c, 0, sizeof *c);
}

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = jn_strdup(src);
	return *dst ? 0 : -JN_ENOMEM;
}

int jn_consumer_cfg_copy(struct jn_consumer_cfg *dst, const struct jn_consumer_cfg *src)
{
	*dst = *src;
	dst->backoff = NULL;
	int rc = dup_str(&dst->durable_name, src->durable_name);
	rc |= dup_str(&dst->name, src->name);
	rc |= dup_str(&dst->description, src->description);
	rc |= dup_str(&dst->filter_subject, src->filter_subject);
	rc |= dup_str(&dst->sample_freq, src->sample_freq);
	rc |= dup_str(&dst->deliver_subject, src->deliver_subject);
	rc |= dup_str(&dst->deliver_group, src->deliver_group);
	if (!rc && src->nbackoff) {
		dst->backoff = jn_malloc(src->nbackoff * sizeof *dst->backoff);
		if (dst->backoff)
			memcpy(dst->backoff, src->backoff, src->nbackoff * sizeof *dst->backoff);
		else
			rc = -1;
	}
	if (rc) {
		jn_consumer_cfg_fini(dst);
		return -JN_ENOMEM;
	}
	return 0;
}

/* ---- parsing ----------------------------------------------------------- */

/* A string member: "" and absent both leave *dst NULL (Go's zero value). */
static int get_str(json_t *o, const char *key, char **dst)
{
	const char *s = NULL;
	size_t len = 0;
	int rc = jn_js_get_str(o, key, &s, &len);
	if (rc || !s || !len)
		return rc;
	*dst = jn_strndup(s, len);
	return *dst ? 0 : -JN_ENOMEM;
}

static int get_enum(json_t *o, const char *key, const char *const *names, size_t n,
                    const char *alias, int *out)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -JN_EBADJSON;
	const char *s = json_string_value(v);
	for (size_t i = 0; i < n; i++) {
		if (names[i] && strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	if (alias && strcmp(s, alias) == 0) {
		*out = 0;
		return 0;
	}
	return -JN_EBADJSON;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int jn_consumer_cfg_parse(json_t *o, struct jn_consumer_cfg *out)
{
	memset(out, 0, sizeof *out);
	if (!json_is_object(o))
		return -JN_EBADJSON;
	struct jn_consumer_cfg *c = out;
	int rc = 0, e;
	if ((rc = get_str(o, "durable_name", &c->durable_name)) ||
	    (rc = get_str(o, "name", &c->name)) ||
	    (rc = get_str(o, "description", &c->description)) ||
	    (rc = get_str(o, "filter_subject", &c->filter_subject)) ||
	    (rc = get_str(o, "sample_freq", &c->sample_freq)) ||
	    (rc = get_str(o, "deliver_subject", &c->deliver_subject)) ||
	    (rc = get_str(o, "deliver_group", &c->deliver_group)))
		goto fail;
	e = 0;
	if ((rc = get_enum(o, "deliver_policy", deliver_names, NELEM(deliver_names),
	                   "undefined", &e)))
		goto fail;
	c->deliver_policy = (enum jn_deliver_policy)e;
	e = 0;
	if ((rc = get_enum(o, "ack_policy", ack_names, NELEM(ack_names), NULL, &e)))
		goto fail;
	c->ack_policy = (enum jn_ack_policy)e;
	e = 0;
	if ((rc = get_enum(o, "replay_policy", replay_names, NELEM(replay_names), NULL, &e)))
		goto fail;
	c->replay_policy = (enum jn_replay_policy)e;
	if ((rc = jn_js_get_u64(o, "opt_start_seq", &c->opt_start_seq)) ||
	    (rc = jn_js_get_i64(o, "ack_wait", &c->ack_wait)) ||
	    (rc = jn_js_get_i64(o, "max_deliver", &c->max_deliver)) ||
	    (rc = jn_js_get_u64(o, "rate_limit_bps", &c->rate_limit_bps)) ||
	    (rc = jn_js_get_i64(o, "max_waiting", &c->max_waiting)) ||
	    (rc = jn_js_get_i64(o, "max_ack_pending", &c->max_ack_pending)) ||
	    (rc = jn_js_get_i64(o, "idle_heartbeat", &c->idle_heartbeat)) ||
	    (rc = jn_js_get_bool(o, "flow_control", &c->flow_control)) ||
	    (rc = jn_js_get_bool(o, "headers_only", &c->headers_only)) ||
	    (rc = jn_js_get_i64(o, "max_batch", &c->max_batch)) ||
	    (rc = jn_js_get_i64(o, "max_expires", &c->max_expires)) ||
	    (rc = jn_js_get_i64(o, "max_bytes", &c->max_bytes)) ||
	    (rc = jn_js_get_i64(o, "inactive_threshold", &c->inactive_threshold)) ||
	    (rc = jn_js_get_i64(o, "num_replicas", &c->num_replicas)) ||
	    (rc = jn_js_get_bool(o, "mem_storage", &c->mem_storage)) ||
	    (rc = jn_js_get_bool(o, "direct", &c->direct)))
		goto fail;
	json_t *t = json_object_get(o, "opt_start_time");
	if (t && !json_is_null(t)) {
		if (!json_is_string(t) ||
		    jn_js_time_parse(json_string_value(t), json_string_length(t),
		                     &c->opt_start_time)) {
			rc = -JN_EBADJSON;
			goto fail;
		}
		c->has_opt_start_time = true;
	}
	json_t *b = json_object_get(o, "backoff");
	if (b && !json_is_null(b)) {
		if (!json_is_array(b)) {
			rc = -JN_EBADJSON;
			goto fail;
		}
		size_t n = json_array_size(b);
		if (n) {
			c->backoff = jn_calloc(n, sizeof *c->backoff);
			if (!c->backoff) {
				rc = -JN_ENOMEM;
				goto fail;
			}
			for (size_t i = 0; i < n; i++) {
				json_t *v = json_array_get(b, i);
				if (!json_is_integer(v)) {
					rc = -JN_EBADJSON;
					goto fail;
				}
				c->backoff[i] = json_integer_value(v);
			}
			c->nbackoff = (uint32_t)n;
		}
	}
	return 0;
fail:
	jn_consumer_cfg_fini(c);
	return rc;
}

/* ---- defaults and validation ------------------------------------------- */

static bool acks(const struct jn_consumer_cfg *c)
{
	return c->ack_policy == JN_ACK_EXPLICIT || c->ack_policy == JN_ACK_ALL;
}

void jn_consumer_cfg_defaults(struct jn_consumer_cfg *c)
{
	if (!c->deliver_subject && c->max_waiting == 0)
		c->max_waiting = JN_CONSUMER_MAX_WAITING_DEFAULT;
	if (c->ack_wait == 0 && acks(c))
		c->ack_wait = JN_CONSUMER_ACK_WAIT_DEFAULT_NS;
	if (c->max_deliver == 0)
		c->max_deliver = -1;
	if (c->nbackoff > 0)
		c->ack_wait = c->backoff[0];
	if (acks(c) && c->max_ack_pending == 0)
		c->max_ack_pending = JN_CONSUMER_MAX_ACK_PENDING_DEFAULT;
}

static int fail_desc(char *errbuf, size_t cap, int err, const char *fmt, const char *a,
                     const char *b)
{
	if (cap)
		snprintf(errbuf, cap, fmt, a, b);
	return err;
}

/* nats-server's validFilteredSubject: the filter is inside one of the
 * stream's subjects, or (a wildcard filter) covers one of them. */
static bool filter_valid(const char *f, const struct jn_stream_cfg *s)
{
	size_t fl = strlen(f);
	if (!jn_subject_valid_filter(f, fl))
		return false;
	bool wc = jn_subject_has_wildcard(f, fl);
	for (uint32_t i = 0; i < s->nsubjects; i++) {
		const char *ss = s->subjects[i];
		size_t sl = strlen(ss);
		if (jn_subject_subset(f, fl, ss, sl))
			return true;
		if (wc && jn_subject_subset(ss, sl, f, fl))
			return true;
	}
	return false;
}

/* Deliver subject inside the stream's own subjects: every delivery would be
 * stored again. */
static bool forms_cycle(const char *d, const struct jn_stream_cfg *s)
{
	size_t dl = strlen(d);
	for (uint32_t i = 0; i < s->nsubjects; i++)
		if (jn_subject_subset(d, dl, s->subjects[i], strlen(s->subjects[i])))
			return true;
	return false;
}

static bool valid_sample_freq(const char *s)
{
	size_t n = strlen(s);
	if (n && s[n - 1] == '%')
		n--;
	size_t i = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	if (i == n)
		return false;
	bool neg = s[0] == '-';
	bool nonzero = false;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		nonzero |= s[i] != '0';
	}
	return !(neg && nonzero);
}

int jn_consumer_cfg_check(const struct jn_consumer_cfg *c, const struct jn_stream_cfg *scfg,
                          char *errbuf, size_t cap)
{
	if (cap)
		errbuf[0] = '\0';
	if (c->nbackoff > 0 && c->max_deliver <= (int64_t)c->nbackoff)
		return -JN_EMAXDELIVERBACKOFF;
	if (c->description && strlen(c->description) > JN_CONSUMER_MAX_DESCRIPTION)
		return -JN_ECONSUMERDESCLEN;
	if (c->deliver_subject) {
		size_t dl = strlen(c->deliver_subject);
		if (jn_subject_has_wildcard(c->deliver_subject, dl))
			return -JN_EDELIVERWILDCARD;
		if (!jn_subject_valid_literal(c->deliver_subject, dl))
			return -JN_EDELIVERSUBJECT;
		if (scfg && forms_cycle(c->deliver_subject, scfg))
			return -JN_EDELIVERCYCLE;
		if (c->max_waiting != 0)
			return -JN_EPUSHMAXWAITING;
		if (c->max_ack_pending > 0 && c->ack_policy == JN_ACK_NONE)
			return -JN_EMAXPENDINGNOACK;
		if (c->idle_heartbeat > 0 && c->idle_heartbeat < JN_CONSUMER_MIN_HEARTBEAT_NS)
			return -JN_ESMALLHEARTBEAT;
	} else {
		if (c->ack_policy == JN_ACK_NONE && scfg && scfg->retention == JN_RET_WORKQUEUE)
			return -JN_EPULLNOACK;
		if (c->rate_limit_bps > 0)
			return -JN_EPULLRATELIMIT;
		if (c->max_waiting < 0)
			return -JN_EMAXWAITINGNEG;
		if (c->idle_heartbeat > 0)
			return -JN_EHBPULL;
		if (c->flow_control)
			return -JN_EFCPULL;
		if (c->max_batch < 0)
			return -JN_EMAXBATCHNEG;
		if (c->max_expires != 0 && c->max_expires < 1000000)
			return -JN_EMAXEXPIRESSMALL;
	}
	if (c->direct) {
		if (!c->deliver_subject)
			return -JN_EDIRECTPULL;
		if (c->durable_name)
			return -JN_EDIRECTDURABLE;
	}
	if (c->filter_subject && scfg && !filter_valid(c->filter_subject, scfg))
		return -JN_EFILTERNOTSUBSET;

	static const char bad_start[] =
		"consumer delivery policy is deliver %s, but optional start %s is also set";
	static const char not_set[] =
		"consumer delivery policy is deliver %s, but optional %s is not set";
	bool seq = c->opt_start_seq > 0, tm = c->has_opt_start_time;
	const char *dp = NULL;
	switch (c->deliver_policy) {
	case JN_DELIVER_ALL: dp = "all"; break;
	case JN_DELIVER_LAST: dp = "last"; break;
	case JN_DELIVER_NEW: dp = "new"; break;
	case JN_DELIVER_LAST_PER_SUBJECT: dp = "last per subject"; break;
	case JN_DELIVER_BY_START_SEQ:
		if (!seq)
			return fail_desc(errbuf, cap, -JN_EDELIVERPOLICY, not_set,
			                 "by start sequence", "start sequence");
		if (tm)
			return fail_desc(errbuf, cap, -JN_EDELIVERPOLICY, bad_start,
			                 "by start sequence", "time");
		break;
	case JN_DELIVER_BY_START_TIME:
		if (!tm)
			return fail_desc(errbuf, cap, -JN_EDELIVERPOLICY, not_set,
			                 "by start time", "start time");
		if (seq)
			return fail_desc(errbuf, cap, -JN_EDELIVERPOLICY, bad_start,
			                 "by start time", "start sequence");
		break;
	}
	if (dp) {
		if (seq)
			return fail_desc(errbuf, cap, -JN_EDELIVERPOLICY, bad_start, dp, "sequence");
		if (tm)
			return fail_desc(errbuf, cap, -JN_EDELIVERPOLICY, bad_start, dp, "time");
		if (c->deliver_policy == JN_DELIVER_LAST_PER_SUBJECT && !c->filter_subject)
			return fail_desc(errbuf, cap, -JN_EDELIVERPOLICY, not_set, dp,
			                 "filter subject");
	}
	if (c->sample_freq && !valid_sample_freq(c->sample_freq)) {
		if (cap)
			snprintf(errbuf, cap,
			         "failed to parse consumer sampling configuration: invalid value %s",
			         c->sample_freq);
		return -JN_ESAMPLEFREQ;
	}
	if (c->flow_control && c->idle_heartbeat == 0)
		return -JN_EFCNOHEARTBEAT;
	if (c->durable_name && c->name && strcmp(c->durable_name, c->name) != 0)
		return -JN_EDURABLENAMEMISMATCH;
	return 0;
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool jn_consumer_cfg_equal(const struct jn_consumer_cfg *a, const struct jn_consumer_cfg *b)
{
	if (a->nbackoff != b->nbackoff ||
	    (a->nbackoff && memcmp(a->backoff, b->backoff, a->nbackoff * sizeof *a->backoff)))
		return false;
	return str_eq(a->durable_name, b->durable_name) && str_eq(a->name, b->name) &&
	       str_eq(a->description, b->description) &&
	       a->deliver_policy == b->deliver_policy && a->opt_start_seq == b->opt_start_seq &&
	       a->has_opt_start_time == b->has_opt_start_time &&
	       a->opt_start_time == b->opt_start_time && a->ack_policy == b->ack_policy &&
	       a->ack_wait == b->ack_wait && a->max_deliver == b->max_deliver &&
	       str_eq(a->filter_subject, b->filter_subject) &&
	       a->replay_policy == b->replay_policy && a->rate_limit_bps == b->rate_limit_bps &&
	       str_eq(a->sample_freq, b->sample_freq) && a->max_waiting == b->max_waiting &&
	       a->max_ack_pending == b->max_ack_pending &&
	       a->idle_heartbeat == b->idle_heartbeat && a->flow_control == b->flow_control &&
	       a->headers_only == b->headers_only && a->max_batch == b->max_batch &&
	       a->max_expires == b->max_expires && a->max_bytes == b->max_bytes &&
	       str_eq(a->deliver_subject, b->deliver_subject) &&
	       str_eq(a->deliver_group, b->deliver_group) &&
	       a->inactive_threshold == b->inactive_threshold &&
	       a->num_replicas == b->num_replicas && a->mem_storage == b->mem_storage &&
	       a->direct == b->direct;
}

int jn_consumer_cfg_check_update(const struct jn_consumer_cfg *o,
                                 const struct jn_consumer_cfg *n, bool deliver_bound,
                                 char *errbuf, size_t cap)
{
	if (cap)
		errbuf[0] = '\0';
	if (jn_consumer_cfg_equal(o, n))
		return 0;
	const char *what = NULL;
	if (o->deliver_policy != n->deliver_policy)
		what = "deliver policy can not be updated";
	else if (o->opt_start_seq != n->opt_start_seq)
		what = "start sequence can not be updated";
	else if (o->has_opt_start_time != n->has_opt_start_time ||
	         o->opt_start_time != n->opt_start_time)
		what = "start time can not be updated";
	else if (o->ack_policy != n->ack_policy)
		what = "ack policy can not be updated";
	else if (o->replay_policy != n->replay_policy)
		what = "replay policy can not be updated";
	else if (o->idle_heartbeat != n->idle_heartbeat)
		what = "heart beats can not be updated";
	else if (o->flow_control != n->flow_control)
		what = "flow control can not be updated";
	else if (o->max_waiting != n->max_waiting)
		what = "max waiting can not be updated";
	else if (!str_eq(o->deliver_subject, n->deliver_subject)) {
		if (!o->deliver_subject)
			what = "can not update pull consumer to push based";
		else if (!n->deliver_subject)
			what = "can not update push consumer to pull based";
		else if (deliver_bound)
			return -JN_ECONSUMEREXISTS;
	}
	if (what) {
		if (cap)
			snprintf(errbuf, cap, "%s", what);
		return -JN_ECONSUMERCREATE;
	}
	if (n->nbackoff > 0 && n->max_deliver <= (int64_t)n->nbackoff)
		return -JN_EMAXDELIVERBACKOFF;
	return 0;
}

/* ---- JSON echo --------------------------------------------------------- */

static void set_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

static void set_int(json_t *o, const char *k, int64_t v)
{
	if (v)
		json_object_set_new(o, k, json_integer(v));
}

json_t *jn_consumer_cfg_to_json(const struct jn_consumer_cfg *c)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	set_str(o, "durable_name", c->durable_name);
	set_str(o, "name", c->name);
	set_str(o, "description", c->description);
	json_object_set_new(o, "deliver_policy", json_string(deliver_names[c->deliver_policy]));
	if (c->opt_start_seq)
		json_object_set_new(o, "opt_start_seq", jn_js_u64(c->opt_start_seq));
	if (c->has_opt_start_time)
		json_object_set_new(o, "opt_start_time", jn_js_time_json(c->opt_start_time));
	json_object_set_new(o, "ack_policy", json_string(ack_names[c->ack_policy]));
	set_int(o, "ack_wait", c->ack_wait);
	set_int(o, "max_deliver", c->max_deliver);
	if (c->nbackoff) {
		json_t *a = json_array();
		for (uint32_t i = 0; i < c->nbackoff; i++)
			json_array_append_new(a, json_integer(c->backoff[i]));
		json_object_set_new(o, "backoff", a);
	}
	set_str(o, "filter_subject", c->filter_subject);
	json_object_set_new(o, "replay_policy", json_string(replay_names[c->replay_policy]));
	if (c->rate_limit_bps)
		json_object_set_new(o, "rate_limit_bps", jn_js_u64(c->rate_limit_bps));
	set_str(o, "sample_freq", c->sample_freq);
	set_int(o, "max_waiting", c->max_waiting);
	set_int(o, "max_ack_pending", c->max_ack_pending);
	set_int(o, "idle_heartbeat", c->idle_heartbeat);
	if (c->flow_control)
		json_object_set_new(o, "flow_control", json_true());
	if (c->headers_only)
		json_object_set_new(o, "headers_only", json_true());
	set_int(o, "max_batch", c->max_batch);
	set_int(o, "max_expires", c->max_expires);
	set_int(o, "max_bytes", c->max_bytes);
	set_str(o, "deliver_subject", c->deliver_subject);
	set_str(o, "deliver_group", c->deliver_group);
	set_int(o, "inactive_threshold", c->inactive_threshold);
	json_object_set_new(o, "num_replicas", json_integer(c->num_replicas));
	if (c->mem_storage)
		json_object_set_new(o, "mem_storage", json_true());
	if (c->direct)
		json_object_set_new(o, "direct", json_true());
	return o;
}
