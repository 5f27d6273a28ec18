/*
 * stream_config.c - StreamConfig: parse a request body into struct
 * jn_stream_cfg with nats-server 2.9's defaults and normalisations, validate
 * it on its own, check an update against the current config, and write it
 * back as JSON with nats-server's field order and omitempty rules.
 *
 * Error texts are nats-server's (clients show them to users); a field of the
 * wrong JSON type or an unknown enum value is "invalid JSON" (10025), as Go's
 * decoder makes it.
 */
#include "core/stream.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/js_json.h"
#include "core/subject.h"

#define MIN_AGE_NS 100000000LL      /* 100 ms */

void jn_stream_cfg_fini(struct jn_stream_cfg *c)
{
	if (!c)
		return;
	jn_free(c->name);
	jn_free(c->description);
	for (uint32_t i = 0; i < c->nsubjects; i++)
		jn_free(c->subjects[i]);
	jn_free(c->subjects);
	memset(c, 0, sizeof *c);
}

int jn_stream_cfg_copy(struct jn_stream_cfg *dst, const struct jn_stream_cfg *src)
{
	*dst = *src;
	dst->name = NULL;
	dst->description = NULL;
	dst->subjects = NULL;
	dst->nsubjects = 0;
	dst->name = jn_strdup(src->name ? src->name : "");
	if (!dst->name)
		goto oom;
	if (src->description && !(dst->description = jn_strdup(src->description)))
		goto oom;
	if (src->nsubjects) {
		dst->subjects = jn_calloc(src->nsubjects, sizeof *dst->subjects);
		if (!dst->subjects)
			goto oom;
		for (uint32_t i = 0; i < src->nsubjects; i++) {
			if (!(dst->subjects[i] = jn_strdup(src->subjects[i])))
				goto oom;
			dst->nsubjects = i + 1;
		}
	}
	return 0;
oom:
	jn_stream_cfg_fini(dst);
	return -JN_ENOMEM;
}

static int fail(char *errbuf, size_t errcap, int err, const char *fmt, const char *a,
                const char *b)
{
	if (errbuf && errcap)
		snprintf(errbuf, errcap, fmt, a ? a : "", b ? b : "");
	return err;
}

/* Integer limit: absent -> 0; must be a JSON integer. */
static int get_int(json_t *o, const char *key, int64_t *out)
{
	*out = 0;
	return jn_js_get_i64(o, key, out);
}

static int get_enum(json_t *o, const char *key, const char *const *names, int n, int *out)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -JN_EBADJSON;
	for (int i = 0; i < n; i++) {
		if (strcmp(json_string_value(v), names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -JN_EBADJSON;
}

static const char *const retention_names[] = { "limits", "interest", "workqueue" };
static const char *const discard_names[] = { "old", "new" };
static const char *const storage_names[] = { "file", "memory" };

int jn_stream_cfg_parse(json_t *o, struct jn_stream_cfg *c, char *errbuf, size_t errcap)
{
	memset(c, 0, sizeof *c);
	if (errbuf && errcap)
		errbuf[0] = 0;
	if (!json_is_object(o))
		return -JN_EBADJSON;
	int rc = 0;
	const char *name = NULL, *desc = NULL;
	size_t name_len = 0, desc_len = 0;
	int ret = 0, disc = 0, stor = 0;
	int64_t replicas = 0, mms = 0;
	if ((rc = jn_js_get_str(o, "name", &name, &name_len)) ||
	    (rc = jn_js_get_str(o, "description", &desc, &desc_len)) ||
	    (rc = get_enum(o, "retention", retention_names, 3, &ret)) ||
	    (rc = get_enum(o, "discard", discard_names, 2, &disc)) ||
	    (rc = get_enum(o, "storage", storage_names, 2, &stor)) ||
	    (rc = get_int(o, "max_consumers", &c->max_consumers)) ||
	    (rc = get_int(o, "max_msgs", &c->max_msgs)) ||
	    (rc = get_int(o, "max_bytes", &c->max_bytes)) ||
	    (rc = get_int(o, "max_msgs_per_subject", &c->max_msgs_per_subject)) ||
	    (rc = get_int(o, "max_age", &c->max_age_ns)) ||
	    (rc = get_int(o, "max_msg_size", &mms)) ||
	    (rc = get_int(o, "num_replicas", &replicas)) ||
	    (rc = get_int(o, "duplicate_window", &c->duplicate_window_ns)) ||
	    (rc = jn_js_get_bool(o, "no_ack", &c->no_ack)) ||
	    (rc = jn_js_get_bool(o, "sealed", &c->sealed)) ||
	    (rc = jn_js_get_bool(o, "deny_delete", &c->deny_delete)) ||
	    (rc = jn_js_get_bool(o, "deny_purge", &c->deny_purge)) ||
	    (rc = jn_js_get_bool(o, "allow_rollup_hdrs", &c->allow_rollup_hdrs)) ||
	    (rc = jn_js_get_bool(o, "allow_direct", &c->allow_direct)) ||
	    (rc = jn_js_get_bool(o, "mirror_direct", &c->mirror_direct)) ||
	    (rc = jn_js_get_bool(o, "discard_new_per_subject", &c->discard_new_per_subject)))
		goto out;
	json_t *subs = json_object_get(o, "subjects");
	if (subs && !json_is_null(subs) && !json_is_array(subs)) {
		rc = -JN_EBADJSON;
		goto out;
	}
	size_t nsubs = subs && json_is_array(subs) ? json_array_size(subs) : 0;
	for (size_t i = 0; i < nsubs; i++) {
		if (!json_is_string(json_array_get(subs, i))) {
			rc = -JN_EBADJSON;
			goto out;
		}
	}
	if (mms < INT32_MIN || mms > INT32_MAX) {
		rc = -JN_EBADJSON;   /* Go: int32 overflow fails the decode */
		goto out;
	}
	c->max_msg_size = (int32_t)mms;
	c->retention = (enum jn_retention)ret;
	c->discard = (enum jn_discard)disc;
	c->storage = stor == 1 ? JN_STORE_MEMORY : JN_STORE_FILE;

	/* Semantic checks, in nats-server's order. */
	if (!name || !jn_js_name_valid(name, name_len) || memchr(name, 0, name_len)) {
		rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		          "stream name is required and can not contain '.', '*', '>'", NULL, NULL);
		goto out;
	}
	if (desc && desc_len > JN_STREAM_MAX_DESCRIPTION) {
		rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		          "stream description is too long, maximum allowed is 4096", NULL, NULL);
		goto out;
	}
	if (json_object_get(o, "mirror") || json_object_get(o, "sources")) {
		json_t *m = json_object_get(o, "mirror");
		json_t *s = json_object_get(o, "sources");
		if ((m && !json_is_null(m)) || (s && json_is_array(s) && json_array_size(s) > 0)) {
			rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
			          "stream mirrors and sources are not supported", NULL, NULL);
			goto out;
		}
	}
	if (json_object_get(o, "republish") && !json_is_null(json_object_get(o, "republish"))) {
		rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		          "stream republish is not supported", NULL, NULL);
		goto out;
	}
	if (replicas == 0)
		replicas = 1;
	if (replicas > 5) {
		rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG, "maximum replicas is 5", NULL, NULL);
		goto out;
	}
	if (replicas < 0) {
		rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		          "replicas count cannot be negative", NULL, NULL);
		goto out;
	}
	if (replicas > 1) {
		rc = fail(errbuf, errcap, -JN_EREPLICAS,
		          "replicas > 1 not supported in non-clustered mode", NULL, NULL);
		goto out;
	}
	c->num_replicas = 1;
	if (c->max_msgs <= 0)
		c->max_msgs = -1;
	if (c->max_msgs_per_subject <= 0)
		c->max_msgs_per_subject = -1;
	if (c->max_bytes <= 0)
		c->max_bytes = -1;
	if (c->max_msg_size <= 0)
		c->max_msg_size = -1;
	if (c->max_consumers <= 0)
		c->max_consumers = -1;
	if (c->max_age_ns < 0) {
		rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG, "max age can not be negative", NULL, NULL);
		goto out;
	}
	if (c->max_age_ns != 0 && c->max_age_ns < MIN_AGE_NS) {
		rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG, "max age needs to be >= 100ms", NULL, NULL);
		goto out;
	}
	if (c->duplicate_window_ns == 0) {
		c->duplicate_window_ns = JN_STREAM_DEFAULT_DUP_WINDOW_NS;
		if (c->max_age_ns != 0 && c->max_age_ns < c->duplicate_window_ns)
			c->duplicate_window_ns = c->max_age_ns;
	}
	if (c->duplicate_window_ns < 0) {
		rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		          "duplicates window can not be negative", NULL, NULL);
		goto out;
	}
	if (c->max_age_ns != 0 && c->duplicate_window_ns > c->max_age_ns) {
		rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		          "duplicates window can not be larger then max age", NULL, NULL);
		goto out;
	}
	if (c->duplicate_window_ns < MIN_AGE_NS) {
		rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		          "duplicates window needs to be >= 100ms", NULL, NULL);
		goto out;
	}
	if (c->deny_purge && c->allow_rollup_hdrs) {
		rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		          "roll-ups require the purge permission", NULL, NULL);
		goto out;
	}
	if (c->discard_new_per_subject) {
		if (c->discard != JN_DISCARD_NEW) {
			rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
			          "discard new per subject requires discard new policy to be set",
			          NULL, NULL);
			goto out;
		}
		if (c->max_msgs_per_subject <= 0) {
			rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
			          "discard new per subject requires max msgs per subject > 0",
			          NULL, NULL);
			goto out;
		}
	}

	if (!(c->name = jn_strndup(name, name_len))) {
		rc = -JN_ENOMEM;
		goto out;
	}
	if (desc && desc_len && !(c->description = jn_strndup(desc, desc_len))) {
		rc = -JN_ENOMEM;
		goto out;
	}
	size_t n = nsubs ? nsubs : 1;
	c->subjects = jn_calloc(n, sizeof *c->subjects);
	if (!c->subjects) {
		rc = -JN_ENOMEM;
		goto out;
	}
	if (nsubs == 0) {
		if (!(c->subjects[0] = jn_strdup(c->name))) {
			rc = -JN_ENOMEM;
			goto out;
		}
		c->nsubjects = 1;
	}
	for (size_t i = 0; i < nsubs; i++) {
		json_t *s = json_array_get(subs, i);
		const char *sv = json_string_value(s);
		size_t sl = json_string_length(s);
		if (!jn_subject_valid_filter(sv, sl) || memchr(sv, 0, sl)) {
			rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG, "invalid subject", NULL, NULL);
			goto out;
		}
		for (uint32_t j = 0; j < c->nsubjects; j++) {
			if (strcmp(c->subjects[j], sv) == 0) {
				rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
				          "duplicate subjects detected", NULL, NULL);
				goto out;
			}
		}
		if (!(c->subjects[i] = jn_strndup(sv, sl))) {
			rc = -JN_ENOMEM;
			goto out;
		}
		c->nsubjects = (uint32_t)i + 1;
	}
	for (uint32_t i = 0; i < c->nsubjects; i++) {
		for (uint32_t j = i + 1; j < c->nsubjects; j++) {
			if (jn_subject_overlap(c->subjects[i], strlen(c->subjects[i]),
			                       c->subjects[j], strlen(c->subjects[j]))) {
				rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
				          "subject \"%s\" overlaps with \"%s\"", c->subjects[i],
				          c->subjects[j]);
				goto out;
			}
		}
		/* The API and ack namespaces belong to the server. */
		const char *s = c->subjects[i];
		size_t sl = strlen(s);
		if (strcmp(s, ">") == 0 && !c->no_ack) {
			rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
			          "capturing all subjects requires no-ack to be true", NULL, NULL);
			goto out;
		}
		if (!c->no_ack && (jn_subject_overlap(s, sl, "$JS.API.>", 9) ||
		                   jn_subject_overlap(s, sl, "$JS.ACK.>", 9))) {
			rc = fail(errbuf, errcap, -JN_ESTREAMCONFIG,
			          "subjects that overlap with jetstream api require no-ack to be true",
			          NULL, NULL);
			goto out;
		}
	}
	return 0;
out:
	jn_stream_cfg_fini(c);
	return rc;
}

int jn_stream_cfg_parse_text(const char *json, size_t len, struct jn_stream_cfg *out,
                             char *errbuf, size_t errcap)
{
	memset(out, 0, sizeof *out);
	json_error_t e;
	json_t *o = json_loadb(json, len, 0, &e);
	if (!o)
		return -JN_EBADJSON;
	int rc = jn_stream_cfg_parse(o, out, errbuf, errcap);
	json_decref(o);
	return rc;
}

json_t *jn_stream_cfg_to_json(const struct jn_stream_cfg *c)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "name", json_string(c->name));
	if (c->description)
		json_object_set_new(o, "description", json_string(c->description));
	json_t *subs = json_array();
	for (uint32_t i = 0; i < c->nsubjects; i++)
		json_array_append_new(subs, json_string(c->subjects[i]));
	json_object_set_new(o, "subjects", subs);
	json_object_set_new(o, "retention", json_string(retention_names[c->retention]));
	json_object_set_new(o, "max_consumers", json_integer(c->max_consumers));
	json_object_set_new(o, "max_msgs", json_integer(c->max_msgs));
	json_object_set_new(o, "max_bytes", json_integer(c->max_bytes));
	json_object_set_new(o, "max_age", json_integer(c->max_age_ns));
	json_object_set_new(o, "max_msgs_per_subject", json_integer(c->max_msgs_per_subject));
	json_object_set_new(o, "max_msg_size", json_integer(c->max_msg_size));
	json_object_set_new(o, "discard", json_string(discard_names[c->discard]));
	json_object_set_new(o, "storage",
	                    json_string(c->storage == JN_STORE_MEMORY ? "memory" : "file"));
	json_object_set_new(o, "num_replicas", json_integer(c->num_replicas));
	if (c->no_ack)
		json_object_set_new(o, "no_ack", json_true());
	json_object_set_new(o, "duplicate_window", json_integer(c->duplicate_window_ns));
	json_object_set_new(o, "allow_direct", json_boolean(c->allow_direct));
	json_object_set_new(o, "mirror_direct", json_boolean(c->mirror_direct));
	if (c->discard_new_per_subject)
		json_object_set_new(o, "discard_new_per_subject", json_true());
	json_object_set_new(o, "sealed", json_boolean(c->sealed));
	json_object_set_new(o, "deny_delete", json_boolean(c->deny_delete));
	json_object_set_new(o, "deny_purge", json_boolean(c->deny_purge));
	json_object_set_new(o, "allow_rollup_hdrs", json_boolean(c->allow_rollup_hdrs));
	return o;
}

static bool streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool jn_stream_cfg_equal(const struct jn_stream_cfg *a, const struct jn_stream_cfg *b)
{
	if (!streq(a->name, b->name) || !streq(a->description, b->description) ||
	    a->nsubjects != b->nsubjects)
		return false;
	for (uint32_t i = 0; i < a->nsubjects; i++)
		if (!streq(a->subjects[i], b->subjects[i]))
			return false;
	return a->retention == b->retention && a->max_consumers == b->max_consumers &&
	       a->max_msgs == b->max_msgs && a->max_bytes == b->max_bytes &&
	       a->max_msgs_per_subject == b->max_msgs_per_subject &&
	       a->max_age_ns == b->max_age_ns && a->max_msg_size == b->max_msg_size &&
	       a->storage == b->storage && a->discard == b->discard &&
	       a->num_replicas == b->num_replicas &&
	       a->duplicate_window_ns == b->duplicate_window_ns && a->no_ack == b->no_ack &&
	       a->sealed == b->sealed && a->deny_delete == b->deny_delete &&
	       a->deny_purge == b->deny_purge && a->allow_rollup_hdrs == b->allow_rollup_hdrs &&
	       a->allow_direct == b->allow_direct && a->mirror_direct == b->mirror_direct &&
	       a->discard_new_per_subject == b->discard_new_per_subject;
}

int jn_stream_cfg_check_update(const struct jn_stream_cfg *old,
                               const struct jn_stream_cfg *upd,
                               char *errbuf, size_t errcap)
{
	if (!streq(old->name, upd->name))
		return fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		            "stream configuration name must match original", NULL, NULL);
	if (old->storage != upd->storage)
		return fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		            "stream configuration update can not change storage type", NULL, NULL);
	if (old->retention != upd->retention)
		return fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		            "stream configuration update can not change retention policy",
		            NULL, NULL);
	if (old->max_consumers != upd->max_consumers)
		return fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		            "stream configuration update can not change MaxConsumers", NULL, NULL);
	if (old->sealed && !upd->sealed)
		return fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		            "stream configuration update can not unseal a sealed stream", NULL, NULL);
	if (old->deny_delete && !upd->deny_delete)
		return fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		            "stream configuration update can not cancel deny message deletes",
		            NULL, NULL);
	if (old->deny_purge && !upd->deny_purge)
		return fail(errbuf, errcap, -JN_ESTREAMCONFIG,
		            "stream configuration update can not cancel deny purge", NULL, NULL);
	return 0;
}

bool jn_stream_cfg_overlap(const struct jn_stream_cfg *a, const struct jn_stream_cfg *b)
{
	for (uint32_t i = 0; i < a->nsubjects; i++)
		for (uint32_t j = 0; j < b->nsubjects; j++)
			if (jn_subject_overlap(a->subjects[i], strlen(a->subjects[i]),
			                       b->subjects[j], strlen(b->subjects[j])))
				return true;
	return false;
}
