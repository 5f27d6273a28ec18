/*
 * stream.c - one JetStream stream at run time: the ingest subscription on
 * its subjects, the publish path (checks, store, limits, PubAck), the
 * message operations of the API, direct get, expiry, and the consumer list.
 *
 * The publish path, under the stream mutex, in nats-server 2.9's order:
 *   sealed (10109) -> Nats-Expected-Stream (10060) -> Nats-Msg-Id seen in
 *   the dedupe window (success ack with the first seq, "duplicate": true,
 *   nothing stored) -> Nats-Expected-Last-Subject-Sequence (10071) ->
 *   Nats-Expected-Last-Sequence (10071) -> Nats-Expected-Last-Msg-Id (10070)
 *   -> Nats-Rollup (10111; a value other than sub/all: dropped, no ack) ->
 *   max_msg_size (10054) -> header size (10097) -> discard-new limits and
 *   server limits (10077 / 10023) -> interest retention with no interested
 *   consumer (sequence skipped, normal ack) -> append -> discard-old limits,
 *   rollup purge, dedupe record.
 * Then, without the mutex: consumers whose filter matches are told
 * (jn_consumer_on_new_message), and the PubAck is sent once the message is
 * durable (jn_store_when_durable: after the group-commit fsync in sync
 * "always" mode, at once otherwise). A store error answers 10077 with the
 * store's reason; nothing half-written is acknowledged.
 *
 * Dedupe: msg-id -> (seq, time) in a hash table plus a FIFO in arrival
 * order, trimmed by jn_stream_tick() and on every insert. It is rebuilt from
 * the stored messages of the last window when a stream is recovered.
 */
#include "core/stream.h"

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
#include "core/log.h"
#include "core/store_io.h"
#include "core/subject.h"
#include "core/sublist.h"

/* ---- internal hooks of jetstream.c (not part of the public interface) -- */
bool jn__js_over_limit(struct jn_js *js, enum jn_store_type t, uint64_t add);

/* ---- dedupe window ---------------------------------------------------- */

struct dd_ent {
	struct dd_ent *hnext;     /* hash chain */
	struct dd_ent *fnext;     /* FIFO, oldest first */
	uint64_t seq;
	int64_t ts;
	uint32_t hash;
	uint16_t len;
	char id[];
};

struct dedupe {
	struct dd_ent **tab;
	uint32_t cap;             /* power of two or 0 */
	uint32_t count;
	struct dd_ent *head, *tail;
};

static uint32_t dd_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static struct dd_ent *dd_find(struct dedupe *d, const char *id, size_t n)
{
	if (!d->cap)
		return NULL;
	uint32_t h = dd_hash(id, n);
	for (struct dd_ent *e = d->tab[h & (d->cap - 1)]; e; e = e->hnext)
		if (e->hash == h && e->len == n && memcmp(e->id, id, n) == 0)
			return e;
	return NULL;
}

static void dd_unlink(struct dedupe *d, struct dd_ent *x)
{
	struct dd_ent **pp = &d->tab[x->hash & (d->cap - 1)];
	while (*pp && *pp != x)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = x->hnext;
	d->count--;
}

/* Drop entries older than `before` (FIFO order = arrival order). */
static void dd_expire(struct dedupe *d, int64_t before)
{
	while (d->head && d->head->ts < before) {
		struct dd_ent *e = d->head;
		d->head = e->fnext;
		if (!d->head)
			d->tail = NULL;
		dd_unlink(d, e);
		jn_free(e);
	}
}

static int dd_insert(struct dedupe *d, const char *id, size_t n, uint64_t seq, int64_t ts)
{
	if (n > UINT16_MAX)
		return -JN_EINVAL;
	if (d->count + 1 > d->cap / 2 * 1 + d->cap / 4) {   /* load <= 0.75 */
		uint32_t ncap = d->cap ? d->cap * 2 : 64;
		struct dd_ent **nt = jn_calloc(ncap, sizeof *nt);
		if (!nt)
			return -JN_ENOMEM;
		for (uint32_t i = 0; i < d->cap; i++) {
			for (struct dd_ent *e = d->tab[i], *nx; e; e = nx) {
				nx = e->hnext;
				e->hnext = nt[e->hash & (ncap - 1)];
				nt[e->hash & (ncap - 1)] = e;
			}
		}
		jn_free(d->tab);
		d->tab = nt;
		d->cap = ncap;
	}
	struct dd_ent *e = jn_malloc(sizeof *e + n);
	if (!e)
		return -JN_ENOMEM;
	memcpy(e->id, id, n);
	e->len = (uint16_t)n;
	e->seq = seq;
	e->ts = ts;
	e->hash = dd_hash(id, n);
	e->hnext = d->tab[e->hash & (d->cap - 1)];
	d->tab[e->hash & (d->cap - 1)] = e;
	e->fnext = NULL;
	if (d->tail)
		d->tail->fnext = e;
	else
		d->head = e;
	d->tail = e;
	d->count++;
	return 0;
}

static void dd_fini(struct dedupe *d)
{
	for (struct dd_ent *e = d->head, *nx; e; e = nx) {
		nx = e->fnext;
		jn_free(e);
	}
	jn_free(d->tab);
	memset(d, 0, sizeof *d);
}

/* ---- the stream -------------------------------------------------------- */

enum sub_kind { SUB_INGEST, SUB_DIRECT };

/* One router subscription of the stream. Retired through the epoch (a
 * delivery may be running on another worker); holds a stream reference. */
struct ssub {
	struct jn_sub sub;
	struct jn_stream *st;
	enum sub_kind kind;
	char subject[];
};

struct cons_ent {
	struct jn_consumer *c;
	char *name;
	char *filter;             /* NULL: every subject */
	bool deliver_all;
};

struct jn_stream {
	_Atomic int refs;
	struct jn_js *js;
	char *name;               /* immutable copy of cfg.name */
	char *dir;                /* NULL for memory storage */
	enum jn_retention retention;
	enum jn_store_type storage;
	int64_t created;

	pthread_mutex_t mu;
	struct jn_stream_cfg cfg;
	struct jn_store *store;
	struct jn_router *router; /* set by start */
	bool closed;
	struct ssub **subs;
	uint32_t nsubs;
	struct cons_ent *cons;
	uint32_t ncons;
	struct dedupe dd;
	char *last_msg_id;        /* Nats-Msg-Id of the last stored message */
	size_t last_msg_id_len;
	/* Publishes past the mutex that still use the store (PubAck
	 * registration): close waits for them before freeing it. */
	uint32_t inflight;
	pthread_cond_t idle;
};

void jn_stream_ref(struct jn_stream *st)
{
	atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
}

static void stream_free(struct jn_stream *st)
{
	/* close() released the store, subscriptions and consumers. */
	jn_stream_cfg_fini(&st->cfg);
	dd_fini(&st->dd);
	jn_free(st->last_msg_id);
	jn_free(st->name);
	jn_free(st->dir);
	pthread_cond_destroy(&st->idle);
	pthread_mutex_destroy(&st->mu);
	jn_free(st);
}

void jn_stream_unref(struct jn_stream *st)
{
	if (st && atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1) {
		/* No subscription is left (each holds a reference): closing here
		 * cannot come back to unref. */
		if (!st->closed)
			jn_stream_close(st, false);
		stream_free(st);
	}
}

const char *jn_stream_name(const struct jn_stream *st) { return st->name; }
struct jn_js *jn_stream_js(const struct jn_stream *st) { return st->js; }
enum jn_retention jn_stream_retention(const struct jn_stream *st) { return st->retention; }
enum jn_store_type jn_stream_storage(const struct jn_stream *st) { return st->storage; }
const char *jn_stream_dir(const struct jn_stream *st) { return st->dir; }
struct jn_store *jn_stream_store(struct jn_stream *st) { return st->store; }
int64_t jn_stream_created(const struct jn_stream *st) { return st->created; }

bool jn_stream_closed(struct jn_stream *st)
{
	pthread_mutex_lock(&st->mu);
	bool c = st->closed;
	pthread_mutex_unlock(&st->mu);
	return c;
}

int jn_stream_state(struct jn_stream *st, struct jn_store_state *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&st->mu);
	int rc = st->closed || !st->store ? -JN_ECLOSED : 0;
	if (rc == 0)
		jn_store_state(st->store, out);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int jn_stream_config(struct jn_stream *st, struct jn_stream_cfg *out)
{
	pthread_mutex_lock(&st->mu);
	int rc = jn_stream_cfg_copy(out, &st->cfg);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static bool subject_in(const struct jn_stream_cfg *c, const char *s, size_t n)
{
	for (uint32_t i = 0; i < c->nsubjects; i++)
		if (jn_subject_match(c->subjects[i], strlen(c->subjects[i]), s, n))
			return true;
	return false;
}

bool jn_stream_subject_match(struct jn_stream *st, const char *subj, size_t len)
{
	pthread_mutex_lock(&st->mu);
	bool r = subject_in(&st->cfg, subj, len);
	pthread_mutex_unlock(&st->mu);
	return r;
}

bool jn_stream_filter_valid(struct jn_stream *st, const char *filter, size_t len)
{
	bool ok = false;
	pthread_mutex_lock(&st->mu);
	for (uint32_t i = 0; i < st->cfg.nsubjects && !ok; i++)
		ok = jn_subject_subset(filter, len, st->cfg.subjects[i], strlen(st->cfg.subjects[i]));
	pthread_mutex_unlock(&st->mu);
	return ok;
}

/* ---- consumers --------------------------------------------------------- */

static bool filter_matches(const char *filter, const char *subj, size_t n)
{
	return !filter || jn_subject_match(filter, strlen(filter), subj, n);
}

static bool filters_overlap(const char *a, const char *b)
{
	if (!a || !b)
		return true;
	return jn_subject_overlap(a, strlen(a), b, strlen(b));
}

/* Workqueue rules for consumer `name` with `filter` against the others. */
static int wq_check(struct jn_stream *st, const char *name, const char *filter,
                    bool deliver_all)
{
	if (st->retention != JN_RET_WORKQUEUE)
		return 0;
	/* nats-server's order: uniqueness first, then the deliver policy */
	for (uint32_t i = 0; i < st->ncons; i++) {
		struct cons_ent *e = &st->cons[i];
		if (strcmp(e->name, name) == 0)
			continue;
		if (!filter)
			return -JN_EWQUNFILTERED;
		if (filters_overlap(filter, e->filter))
			return -JN_EWQOVERLAP;
	}
	if (!deliver_all)
		return -JN_EWQDELIVERALL;
	return 0;
}

int jn_stream_consumer_add(struct jn_stream *st, struct jn_consumer *c,
                           const struct jn_stream_consumer_desc *d)
{
	const char *filter = d->filter && d->filter[0] && strcmp(d->filter, ">") != 0
	                     ? d->filter : NULL;
	int rc = 0;
	pthread_mutex_lock(&st->mu);
	if (st->closed) {
		rc = -JN_ECLOSED;
		goto out;
	}
	for (uint32_t i = 0; i < st->ncons; i++) {
		if (strcmp(st->cons[i].name, d->name) == 0) {
			rc = -JN_ECONSUMEREXISTS;
			goto out;
		}
	}
	if (st->cfg.max_consumers > 0 && st->ncons >= (uint64_t)st->cfg.max_consumers) {
		rc = -JN_EMAXCONSUMERS;
		goto out;
	}
	if ((rc = wq_check(st, d->name, filter, d->deliver_all)))
		goto out;
	struct cons_ent *n = jn_realloc(st->cons, (st->ncons + 1) * sizeof *n);
	if (!n) {
		rc = -JN_ENOMEM;
		goto out;
	}
	st->cons = n;
	struct cons_ent *e = &st->cons[st->ncons];
	e->c = c;
	e->deliver_all = d->deliver_all;
	e->name = jn_strdup(d->name);
	e->filter = filter ? jn_strdup(filter) : NULL;
	if (!e->name || (filter && !e->filter)) {
		jn_free(e->name);
		jn_free(e->filter);
		rc = -JN_ENOMEM;
		goto out;
	}
	st->ncons++;
out:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static struct cons_ent *cons_find(struct jn_stream *st, struct jn_consumer *c)
{
	for (uint32_t i = 0; i < st->ncons; i++)
		if (st->cons[i].c == c)
			return &st->cons[i];
	return NULL;
}

int jn_stream_consumer_set_filter(struct jn_stream *st, struct jn_consumer *c,
                                  const char *filter)
{
	if (filter && (!filter[0] || strcmp(filter, ">") == 0))
		filter = NULL;
	int rc = 0;
	pthread_mutex_lock(&st->mu);
	struct cons_ent *e = st->closed ? NULL : cons_find(st, c);
	if (!e) {
		rc = st->closed ? -JN_ECLOSED : -JN_ENOTFOUND;
		goto out;
	}
	if ((rc = wq_check(st, e->name, filter, e->deliver_all)))
		goto out;
	char *nf = filter ? jn_strdup(filter) : NULL;
	if (filter && !nf) {
		rc = -JN_ENOMEM;
		goto out;
	}
	jn_free(e->filter);
	e->filter = nf;
out:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

struct jn_consumer *jn_stream_consumer_find(struct jn_stream *st, const char *name,
                                            size_t len)
{
	struct jn_consumer *c = NULL;
	pthread_mutex_lock(&st->mu);
	for (uint32_t i = 0; i < st->ncons && !c; i++)
		if (strlen(st->cons[i].name) == len && memcmp(st->cons[i].name, name, len) == 0)
			c = st->cons[i].c;
	pthread_mutex_unlock(&st->mu);
	return c;
}

int jn_stream_consumer_list(struct jn_stream *st, struct jn_consumer ***out)
{
	pthread_mutex_lock(&st->mu);
	uint32_t n = st->ncons;
	struct jn_consumer **a = jn_malloc((n ? n : 1) * sizeof *a);
	if (!a) {
		pthread_mutex_unlock(&st->mu);
		return -JN_ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		a[i] = st->cons[i].c;
	pthread_mutex_unlock(&st->mu);
	*out = a;
	return (int)n;
}

uint32_t jn_stream_consumer_count(struct jn_stream *st)
{
	pthread_mutex_lock(&st->mu);
	uint32_t n = st->ncons;
	pthread_mutex_unlock(&st->mu);
	return n;
}

/* Snapshot of (consumer, filter copy) pairs; caller frees with snap_free. */
struct snap {
	uint32_t n;
	struct jn_consumer **c;
	char **filter;
};

static int snap_take(struct jn_stream *st, struct snap *s)
{
	memset(s, 0, sizeof *s);
	uint32_t n = st->ncons;
	if (!n)
		return 0;
	s->c = jn_calloc(n, sizeof *s->c);
	s->filter = jn_calloc(n, sizeof *s->filter);
	if (!s->c || !s->filter)
		goto oom;
	for (uint32_t i = 0; i < n; i++) {
		s->c[i] = st->cons[i].c;
		if (st->cons[i].filter && !(s->filter[i] = jn_strdup(st->cons[i].filter)))
			goto oom;
		s->n = i + 1;
	}
	return 0;
oom:
	for (uint32_t i = 0; i < n && s->filter; i++)
		jn_free(s->filter[i]);
	jn_free(s->c);
	jn_free(s->filter);
	memset(s, 0, sizeof *s);
	return -JN_ENOMEM;
}

static void snap_free(struct snap *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		jn_free(s->filter[i]);
	jn_free(s->c);
	jn_free(s->filter);
}

/* Interest retention: does every consumer interested in msg `seq` (other
 * than `skip`'s verdict, already known) say it acked it? */
static bool all_acked(const struct snap *s, const char *subj, size_t n, uint64_t seq)
{
	for (uint32_t i = 0; i < s->n; i++) {
		if (!filter_matches(s->filter[i], subj, n))
			continue;
		if (!jn_consumer_acked(s->c[i], seq))
			return false;
	}
	return true;
}

void jn_stream_ack_hint(struct jn_stream *st, uint64_t seq, struct jn_consumer *c)
{
	if (st->retention == JN_RET_LIMITS)
		return;
	pthread_mutex_lock(&st->mu);
	if (st->closed) {
		pthread_mutex_unlock(&st->mu);
		return;
	}
	if (st->retention == JN_RET_WORKQUEUE) {
		(void)jn_store_remove(st->store, seq);
		pthread_mutex_unlock(&st->mu);
		return;
	}
	struct jn_store_msg m = { 0 };
	struct snap s;
	int rc = jn_store_load(st->store, seq, &m);
	if (rc == 0)
		rc = snap_take(st, &s);
	pthread_mutex_unlock(&st->mu);
	if (rc) {
		jn_store_msg_fini(&m);
		return;
	}
	bool gone = all_acked(&s, m.subject, m.subject_len, seq);
	snap_free(&s);
	jn_store_msg_fini(&m);
	if (!gone)
		return;
	pthread_mutex_lock(&st->mu);
	if (!st->closed)
		(void)jn_store_remove(st->store, seq);
	pthread_mutex_unlock(&st->mu);
}

/* Interest retention after a consumer left: drop what nobody wants now. */
static void interest_sweep(struct jn_stream *st)
{
	struct jn_store_msg m = { 0 };
	struct snap s;
	uint64_t seq = 1;
	for (;;) {
		pthread_mutex_lock(&st->mu);
		int rc = st->closed ? -JN_ECLOSED : jn_store_load_next(st->store, seq, NULL, 0, &m);
		if (rc == 0)
			rc = snap_take(st, &s);
		pthread_mutex_unlock(&st->mu);
		if (rc)
			break;
		bool gone = all_acked(&s, m.subject, m.subject_len, m.seq);
		snap_free(&s);
		if (gone) {
			pthread_mutex_lock(&st->mu);
			if (!st->closed)
				(void)jn_store_remove(st->store, m.seq);
			pthread_mutex_unlock(&st->mu);
		}
		seq = m.seq + 1;
	}
	jn_store_msg_fini(&m);
}

int jn_stream_consumer_remove(struct jn_stream *st, struct jn_consumer *c)
{
	pthread_mutex_lock(&st->mu);
	struct cons_ent *e = cons_find(st, c);
	if (!e) {
		pthread_mutex_unlock(&st->mu);
		return -JN_ENOTFOUND;
	}
	jn_free(e->name);
	jn_free(e->filter);
	uint32_t i = (uint32_t)(e - st->cons);
	memmove(&st->cons[i], &st->cons[i + 1], (st->ncons - i - 1) * sizeof *e);
	st->ncons--;
	bool sweep = st->retention == JN_RET_INTEREST && !st->closed;
	pthread_mutex_unlock(&st->mu);
	if (sweep)
		interest_sweep(st);
	return 0;
}

/* ---- open / subscribe / close ----------------------------------------- */

static int dd_rebuild(struct jn_stream *st, int64_t now)
{
	if (st->cfg.duplicate_window_ns <= 0)
		return 0;
	uint64_t seq = jn_store_seq_for_time(st->store, now - st->cfg.duplicate_window_ns);
	struct jn_store_msg m = { 0 };
	int rc = 0;
	while (jn_store_load_next(st->store, seq, NULL, 0, &m) == 0) {
		const char *id;
		size_t idl;
		if (m.hdr_len && jn_hdr_get(m.hdr, m.hdr_len, "Nats-Msg-Id", &id, &idl) && idl) {
			if ((rc = dd_insert(&st->dd, id, idl, m.seq, m.ts)))
				break;
		}
		seq = m.seq + 1;
	}
	/* Nats-Expected-Last-Msg-Id compares with the last message's id. */
	struct jn_store_state ss;
	jn_store_state(st->store, &ss);
	if (rc == 0 && ss.msgs && jn_store_load(st->store, ss.last_seq, &m) == 0) {
		const char *id;
		size_t idl;
		if (m.hdr_len && jn_hdr_get(m.hdr, m.hdr_len, "Nats-Msg-Id", &id, &idl) && idl) {
			st->last_msg_id = jn_strndup(id, idl);
			st->last_msg_id_len = st->last_msg_id ? idl : 0;
		}
	}
	jn_store_msg_fini(&m);
	return rc;
}

int jn_stream_open(struct jn_js *js, const struct jn_stream_cfg *cfg, const char *dir,
                   int64_t created_ns, const struct jn_store_cfg *scfg,
                   struct jn_stream **out)
{
	struct jn_stream *st = jn_calloc(1, sizeof *st);
	if (!st)
		return -JN_ENOMEM;
	atomic_init(&st->refs, 1);
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->idle, NULL);
	st->js = js;
	st->created = created_ns;
	int rc = jn_stream_cfg_copy(&st->cfg, cfg);
	if (rc)
		goto fail;
	st->retention = cfg->retention;
	st->storage = cfg->storage;
	if (!(st->name = jn_strdup(cfg->name))) {
		rc = -JN_ENOMEM;
		goto fail;
	}
	if (cfg->storage == JN_STORE_FILE) {
		if (!dir || !(st->dir = jn_strdup(dir))) {
			rc = dir ? -JN_ENOMEM : -JN_EINVAL;
			goto fail;
		}
		rc = jn_filestore_open(dir, scfg, &st->store);
	} else {
		rc = jn_memstore_open(scfg, &st->store);
	}
	if (rc)
		goto fail;
	if ((rc = dd_rebuild(st, jn_js_now_ns())))
		goto fail_store;
	*out = st;
	return 0;
fail_store:
	jn_store_free(st->store);
fail:
	st->closed = true;
	stream_free(st);
	return rc;
}

int jn_stream_write_meta(struct jn_stream *st)
{
	if (!st->dir)
		return 0;
	pthread_mutex_lock(&st->mu);
	json_t *o = json_object();
	json_object_set_new(o, "config", jn_stream_cfg_to_json(&st->cfg));
	json_object_set_new(o, "created", jn_js_time_json(st->created));
	pthread_mutex_unlock(&st->mu);
	size_t len = 0;
	char *s = jn_js_dumps(o, &len);
	json_decref(o);
	if (!s)
		return -JN_ENOMEM;
	char path[4096];
	snprintf(path, sizeof path, "%s/meta.json", st->dir);
	int rc = jn_file_write_atomic(path, s, len);
	free(s);
	return rc;
}

static void ingest_deliver(struct jn_sub *sub, const struct jn_msg *msg, struct jn_pub *pub);

static void ssub_free(void *p)
{
	struct ssub *s = p;
	jn_stream_unref(s->st);
	jn_free(s);
}

static int add_sub(struct jn_stream *st, const char *subject, const char *queue,
                   enum sub_kind kind)
{
	size_t n = strlen(subject);
	struct ssub *s = jn_calloc(1, sizeof *s + n + 1);
	if (!s)
		return -JN_ENOMEM;
	memcpy(s->subject, subject, n + 1);
	s->st = st;
	s->kind = kind;
	s->sub.subject = s->subject;
	s->sub.subject_len = (uint32_t)n;
	s->sub.queue = queue;
	s->sub.queue_len = queue ? (uint32_t)strlen(queue) : 0;
	s->sub.deliver = ingest_deliver;
	s->sub.owner = s;
	s->sub.owner_id = 0;
	struct ssub **a = jn_realloc(st->subs, (st->nsubs + 1) * sizeof *a);
	if (!a) {
		jn_free(s);
		return -JN_ENOMEM;
	}
	st->subs = a;
	int rc = jn_sublist_insert(st->router->subs, &s->sub);
	if (rc) {
		jn_free(s);
		return rc;
	}
	jn_stream_ref(st);
	st->subs[st->nsubs++] = s;
	return 0;
}

static void drop_subs(struct ssub **subs, uint32_t n, struct jn_router *r)
{
	for (uint32_t i = 0; i < n; i++) {
		jn_sublist_remove(r->subs, &subs[i]->sub);
		jn_epoch_retire(subs[i], ssub_free);
	}
	jn_free(subs);
}

/* Subscribe cfg's subjects (+ direct get); under st->mu. On failure nothing
 * new stays subscribed. */
static int subscribe_locked(struct jn_stream *st)
{
	int rc = 0;
	for (uint32_t i = 0; i < st->cfg.nsubjects && !rc; i++)
		rc = add_sub(st, st->cfg.subjects[i], NULL, SUB_INGEST);
	if (!rc && st->cfg.allow_direct) {
		char s[512];
		snprintf(s, sizeof s, "$JS.API.DIRECT.GET.%s", st->name);
		rc = add_sub(st, s, "_sys_", SUB_DIRECT);
		if (!rc) {
			snprintf(s, sizeof s, "$JS.API.DIRECT.GET.%s.>", st->name);
			rc = add_sub(st, s, "_sys_", SUB_DIRECT);
		}
	}
	if (rc) {
		drop_subs(st->subs, st->nsubs, st->router);
		st->subs = NULL;
		st->nsubs = 0;
	}
	return rc;
}

int jn_stream_start(struct jn_stream *st, struct jn_router *r)
{
	pthread_mutex_lock(&st->mu);
	st->router = r;
	int rc = st->closed ? -JN_ECLOSED : subscribe_locked(st);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

void jn_stream_close(struct jn_stream *st, bool deleted)
{
	pthread_mutex_lock(&st->mu);
	if (st->closed) {
		pthread_mutex_unlock(&st->mu);
		return;
	}
	st->closed = true;
	struct ssub **subs = st->subs;
	uint32_t nsubs = st->nsubs;
	struct cons_ent *cons = st->cons;
	uint32_t ncons = st->ncons;
	st->subs = NULL;
	st->nsubs = 0;
	st->cons = NULL;
	st->ncons = 0;
	pthread_mutex_unlock(&st->mu);

	/* The caller holds a reference, so st outlives this call even when the
	 * subscriptions' references go (through the epoch) meanwhile. */
	if (st->router)
		drop_subs(subs, nsubs, st->router);
	for (uint32_t i = 0; i < ncons; i++) {
		jn_consumer_stream_gone(cons[i].c, deleted);
		jn_free(cons[i].name);
		jn_free(cons[i].filter);
	}
	jn_free(cons);

	pthread_mutex_lock(&st->mu);
	while (st->inflight)
		pthread_cond_wait(&st->idle, &st->mu);
	struct jn_store *store = st->store;
	st->store = NULL;
	if (store) {
		if (deleted)
			(void)jn_store_delete(store);
		else
			jn_store_free(store);
	}
	pthread_mutex_unlock(&st->mu);
	if (deleted && st->dir) {
		int rc = jn_rmtree(st->dir);
		if (rc)
			jn_warn("jetstream: cannot remove %s: %s", st->dir, jn_strerror(rc));
	}
}

struct over {
	char **subj;
	size_t n, cap;
	uint64_t max;
};

static int over_cb(void *arg, const struct jn_subject_state *ss)
{
	struct over *o = arg;
	if (ss->msgs <= o->max)
		return 0;
	if (o->n == o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 16;
		char **a = jn_realloc(o->subj, nc * sizeof *a);
		if (!a)
			return 1;
		o->subj = a;
		o->cap = nc;
	}
	if (!(o->subj[o->n] = jn_strndup(ss->subject, ss->subject_len)))
		return 1;
	o->n++;
	return 0;
}

/* A lowered max_msgs_per_subject applies to what is stored; under st->mu. */
static void trim_subjects_locked(struct jn_stream *st)
{
	struct over o = { .max = (uint64_t)st->cfg.max_msgs_per_subject };
	jn_store_subjects(st->store, NULL, 0, over_cb, &o);
	for (size_t i = 0; i < o.n; i++) {
		(void)jn_store_purge(st->store, o.subj[i], strlen(o.subj[i]), 0, o.max);
		jn_free(o.subj[i]);
	}
	jn_free(o.subj);
}

int jn_stream_update(struct jn_stream *st, const struct jn_stream_cfg *cfg)
{
	struct jn_stream_cfg nc;
	int rc = jn_stream_cfg_copy(&nc, cfg);
	if (rc)
		return rc;
	pthread_mutex_lock(&st->mu);
	if (st->closed) {
		pthread_mutex_unlock(&st->mu);
		jn_stream_cfg_fini(&nc);
		return -JN_ECLOSED;
	}
	bool resub = nc.nsubjects != st->cfg.nsubjects || nc.allow_direct != st->cfg.allow_direct;
	for (uint32_t i = 0; !resub && i < nc.nsubjects; i++)
		resub = strcmp(nc.subjects[i], st->cfg.subjects[i]) != 0;
	struct jn_stream_cfg old = st->cfg;
	st->cfg = nc;
	if (resub && st->router) {
		struct ssub **osubs = st->subs;
		uint32_t onsubs = st->nsubs;
		st->subs = NULL;
		st->nsubs = 0;
		rc = subscribe_locked(st);
		if (rc) {   /* keep the old subjects */
			st->cfg = old;
			old = nc;
			st->subs = osubs;
			st->nsubs = onsubs;
		} else {
			drop_subs(osubs, onsubs, st->router);
		}
	}
	bool per_subject = rc == 0 && st->cfg.max_msgs_per_subject > 0 &&
	                   (old.max_msgs_per_subject <= 0 ||
	                    old.max_msgs_per_subject > st->cfg.max_msgs_per_subject);
	if (per_subject)
		trim_subjects_locked(st);
	pthread_mutex_unlock(&st->mu);
	jn_stream_cfg_fini(&old);
	if (rc)
		return rc;
	jn_stream_tick(st, jn_js_now_ns());   /* new limits apply now */
	return jn_stream_write_meta(st);
}

/* ---- limits ------------------------------------------------------------ */

/* Discard-old limits after an append; under st->mu. Keeps at least the
 * newest message. */
static void enforce_limits_locked(struct jn_stream *st, const char *subj, size_t slen)
{
	const struct jn_stream_cfg *c = &st->cfg;
	if (c->max_msgs_per_subject > 0 && subj && !c->discard_new_per_subject) {
		struct jn_subject_state ss;
		if (jn_store_subject_info(st->store, subj, slen, &ss) == 0 &&
		    ss.msgs > (uint64_t)c->max_msgs_per_subject)
			(void)jn_store_purge(st->store, subj, slen, 0,
			                     (uint64_t)c->max_msgs_per_subject);
	}
	if (c->discard != JN_DISCARD_OLD)
		return;
	struct jn_store_state s;
	jn_store_state(st->store, &s);
	while (c->max_msgs > 0 && s.msgs > (uint64_t)c->max_msgs) {
		if (jn_store_compact(st->store, s.first_seq + (s.msgs - (uint64_t)c->max_msgs)) <= 0)
			break;
		jn_store_state(st->store, &s);
	}
	if (c->max_bytes > 0 && s.bytes > (uint64_t)c->max_bytes) {
		struct jn_store_msg m = { 0 };
		while (s.bytes > (uint64_t)c->max_bytes && s.msgs > 1) {
			if (jn_store_load_next(st->store, s.first_seq, NULL, 0, &m) ||
			    jn_store_remove(st->store, m.seq))
				break;
			jn_store_state(st->store, &s);
		}
		jn_store_msg_fini(&m);
	}
}

static void expire_locked(struct jn_stream *st, int64_t now)
{
	if (st->cfg.max_age_ns > 0) {
		int64_t cut = now - st->cfg.max_age_ns;
		int64_t first = jn_store_next_expiry(st->store);
		if (first && first < cut)
			(void)jn_store_expire(st->store, cut);
	}
	dd_expire(&st->dd, now - st->cfg.duplicate_window_ns);
}

void jn_stream_tick(struct jn_stream *st, int64_t now_ns)
{
	pthread_mutex_lock(&st->mu);
	if (!st->closed) {
		expire_locked(st, now_ns);
		enforce_limits_locked(st, NULL, 0);
	}
	pthread_mutex_unlock(&st->mu);
}

/* ---- the publish path -------------------------------------------------- */

/* JSON string body of a name (names cannot hold control characters, but
 * may hold '"' and '\'). */
static size_t json_escape(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s && n + 2 < cap; s++) {
		if (*s == '"' || *s == '\\')
			out[n++] = '\\';
		out[n++] = *s;
	}
	out[n] = 0;
	return n;
}

struct ack_ctx {
	struct jn_js *js;
	uint64_t seq;
	bool dup;
	jn_js_puback_fn hook_fn;   /* set: tell it instead of publishing a PubAck */
	void *hook_arg;
	uint32_t reply_len;
	char stream[2 * JN_JS_NAME_MAX + 1];   /* escaped */
	char name[JN_JS_NAME_MAX + 1];         /* as is, for the hook */
	char reply[];
};

/* Set while this thread calls jn_store_when_durable: a callback that fires
 * inline reuses the publishing worker's pub (its batch). */
static _Thread_local struct jn_pub *inline_pub;

/* jn_js_publish_acked(): set on the publishing thread for the duration of
 * its router publish. Delivery to a stream's ingest subscription is a
 * direct call on that thread, so the first ingest reached takes the hook
 * (and clears it: a publish made while ingesting, e.g. a push delivery,
 * must not take it too). Overlapping subjects are refused between streams,
 * so at most one stream can capture a subject. */
struct ack_hook {
	jn_js_puback_fn fn;
	void *arg;
	bool claimed;
};
static _Thread_local struct ack_hook *tl_hook;

static void hook_tell(jn_js_puback_fn fn, void *arg, const char *stream, uint64_t seq,
                      bool dup, int err, const char *desc)
{
	struct jn_js_puback a = { .err = err, .stream = stream, .seq = err ? 0 : seq,
	                          .duplicate = dup, .err_desc = desc };
	fn(arg, &a);
}

static void send_ack(struct jn_js *js, struct jn_pub *pub, const char *reply, size_t rlen,
                     const char *stream_esc, uint64_t seq, bool dup, int err,
                     const char *desc)
{
	char body[512];
	int n;
	if (err) {
		const struct jn_err_info *e = jn_err_info(err);
		char d[256];
		json_escape(d, sizeof d, desc ? desc : e->text);
		n = snprintf(body, sizeof body,
		             "{\"error\":{\"code\":%d,\"err_code\":%d,\"description\":\"%s\"},"
		             "\"stream\":\"%s\",\"seq\":0}",
		             e->http_status, e->js_err_code ? e->js_err_code : 10077, d, stream_esc);
	} else if (dup) {
		n = snprintf(body, sizeof body, "{\"stream\":\"%s\", \"seq\":%llu,\"duplicate\": true}",
		             stream_esc, (unsigned long long)seq);
	} else {
		n = snprintf(body, sizeof body, "{\"stream\":\"%s\", \"seq\":%llu}", stream_esc,
		             (unsigned long long)seq);
	}
	if (n < 0 || (size_t)n >= sizeof body)
		return;
	struct jn_msg m = { .subject = reply, .subject_len = (uint32_t)rlen,
	                    .data = (const uint8_t *)body, .data_len = (uint32_t)n };
	(void)jn_js_publish(js, pub, &m);
}

static void durable_cb(void *arg, int err)
{
	struct ack_ctx *a = arg;
	if (a->hook_fn) {
		hook_tell(a->hook_fn, a->hook_arg, a->name, a->seq, a->dup,
		          err ? -JN_ESTORELIMIT : 0, err ? jn_strerror(err) : NULL);
		jn_free(a);
		return;
	}
	send_ack(a->js, inline_pub, a->reply, a->reply_len, a->stream, a->seq, a->dup, err,
	         err ? jn_strerror(err) : NULL);
	jn_free(a);
}

static void ack_when_durable(struct jn_stream *st, struct jn_store *store,
                             struct jn_pub *pub, const struct jn_msg *msg,
                             const char *stream_esc, uint64_t seq, bool dup,
                             struct ack_hook *hook)
{
	struct ack_ctx *a = jn_malloc(sizeof *a + msg->reply_len);
	if (!a) {
		if (hook)
			hook_tell(hook->fn, hook->arg, st->name, 0, false, -JN_ENOMEM, NULL);
		return;   /* the client times out and retries */
	}
	a->js = st->js;
	a->seq = seq;
	a->dup = dup;
	a->hook_fn = hook ? hook->fn : NULL;
	a->hook_arg = hook ? hook->arg : NULL;
	snprintf(a->name, sizeof a->name, "%s", st->name);
	a->reply_len = msg->reply_len;
	if (msg->reply_len)   /* no reply with jn_js_publish_acked: NULL */
		memcpy(a->reply, msg->reply, msg->reply_len);
	snprintf(a->stream, sizeof a->stream, "%s", stream_esc);
	struct jn_pub *saved = inline_pub;
	inline_pub = pub;
	int rc = jn_store_when_durable(store, seq, durable_cb, a);
	inline_pub = saved;
	if (rc) {
		if (hook)
			hook_tell(hook->fn, hook->arg, st->name, 0, false, -JN_ESTORELIMIT,
			          jn_strerror(rc));
		else
			send_ack(st->js, pub, msg->reply, msg->reply_len, stream_esc, 0, false,
			         -JN_ESTORELIMIT, jn_strerror(rc));
		jn_free(a);
	}
}

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t nv = v * 10 + (uint64_t)(s[i] - '0');
		if (nv / 10 != v)
			return false;
		v = nv;
	}
	*out = v;
	return true;
}

enum { ROLLUP_NONE, ROLLUP_SUB, ROLLUP_ALL };

#define NOTIFY_STACK 16

static void ingest(struct jn_stream *st, const struct jn_msg *msg, struct jn_pub *pub)
{
	int64_t now = jn_js_now_ns();
	bool want_ack = msg->reply_len > 0;
	struct ack_hook *hook = tl_hook;
	int err = 0;
	char desc[128];
	const char *errdesc = NULL;
	uint64_t seq = 0;
	bool dup = false, stored = false;
	int rollup = ROLLUP_NONE;
	struct jn_consumer *nstack[NOTIFY_STACK], **notify = nstack;
	uint32_t nnotify = 0;
	char esc[2 * JN_JS_NAME_MAX + 1];
	json_escape(esc, sizeof esc, st->name);
	const uint8_t *hdr = msg->hdr_len ? msg->hdr : NULL;
	size_t hlen = msg->hdr_len;
	const char *id = NULL;
	size_t idl = 0;
	const char *v;
	size_t vl;

	pthread_mutex_lock(&st->mu);
	if (st->closed) {
		pthread_mutex_unlock(&st->mu);
		return;   /* not captured: the hook (if any) stays unclaimed */
	}
	if (hook) {
		tl_hook = NULL;
		hook->claimed = true;
	}
	const struct jn_stream_cfg *c = &st->cfg;
	if (c->no_ack)
		want_ack = false;
	if (hook)
		want_ack = true;   /* the hook always hears the verdict */
	struct jn_store *store = st->store;
	if (c->sealed) {
		err = -JN_ESEALED;
		goto reply;
	}
	if (hdr) {
		if (jn_hdr_get(hdr, hlen, "Nats-Expected-Stream", &v, &vl) && vl &&
		    (vl != strlen(st->name) || memcmp(v, st->name, vl) != 0)) {
			err = -JN_EEXPECTSTREAM;
			goto reply;
		}
		if (jn_hdr_get(hdr, hlen, "Nats-Msg-Id", &id, &idl) && idl) {
			struct dd_ent *e = dd_find(&st->dd, id, idl);
			if (e && e->ts >= now - c->duplicate_window_ns) {
				seq = e->seq;
				dup = true;
				goto reply;
			}
		} else {
			id = NULL;
			idl = 0;
		}
		if (jn_hdr_get(hdr, hlen, "Nats-Expected-Last-Subject-Sequence", &v, &vl) && vl) {
			uint64_t want, have = 0;
			struct jn_subject_state ss;
			if (jn_store_subject_info(store, msg->subject, msg->subject_len, &ss) == 0)
				have = ss.last_seq;
			if (!parse_u64(v, vl, &want) || want != have) {
				err = -JN_EWRONGLASTSEQ;
				snprintf(desc, sizeof desc, "wrong last sequence: %llu",
				         (unsigned long long)have);
				errdesc = desc;
				goto reply;
			}
		}
		if (jn_hdr_get(hdr, hlen, "Nats-Expected-Last-Sequence", &v, &vl) && vl) {
			uint64_t want;
			struct jn_store_state ss;
			jn_store_state(store, &ss);
			if (!parse_u64(v, vl, &want) || want != ss.last_seq) {
				err = -JN_EWRONGLASTSEQ;
				snprintf(desc, sizeof desc, "wrong last sequence: %llu",
				         (unsigned long long)ss.last_seq);
				errdesc = desc;
				goto reply;
			}
		}
		if (jn_hdr_get(hdr, hlen, "Nats-Expected-Last-Msg-Id", &v, &vl) && vl) {
			if (vl != st->last_msg_id_len ||
			    (vl && memcmp(v, st->last_msg_id, vl) != 0)) {
				err = -JN_EWRONGLASTMSGID;
				snprintf(desc, sizeof desc, "wrong last msg ID: %.*s",
				         (int)(st->last_msg_id_len > 80 ? 80 : st->last_msg_id_len),
				         st->last_msg_id ? st->last_msg_id : "");
				errdesc = desc;
				goto reply;
			}
		}
		if (jn_hdr_get(hdr, hlen, "Nats-Rollup", &v, &vl) && vl) {
			if (!c->allow_rollup_hdrs || c->deny_purge) {
				err = -JN_EROLLUP;
				goto reply;
			}
			if (vl == 3 && memcmp(v, "sub", 3) == 0) {
				rollup = ROLLUP_SUB;
			} else if (vl == 3 && memcmp(v, "all", 3) == 0) {
				rollup = ROLLUP_ALL;
			} else {
				pthread_mutex_unlock(&st->mu);
				if (hook)   /* nats-server drops it silently; a hook must hear */
					hook_tell(hook->fn, hook->arg, st->name, 0, false, -JN_EBADREQUEST,
					          "invalid rollup value");
				return;   /* nats-server drops it without an ack */
			}
		}
	}
	if (c->max_msg_size > 0 && (uint64_t)msg->hdr_len + msg->data_len > (uint64_t)c->max_msg_size) {
		err = -JN_EMSGSIZE;
		goto reply;
	}
	if (hlen > JN_STREAM_MAX_HDR) {
		err = -JN_EHDRSIZE;
		goto reply;
	}
	uint64_t size = jn_store_msg_size(st->storage, msg->subject_len, msg->hdr_len,
	                                  msg->data_len);
	if (c->discard == JN_DISCARD_NEW) {
		struct jn_store_state ss;
		jn_store_state(store, &ss);
		/* At the subject's own limit the new message replaces the subject's
		 * oldest (discard old per subject), so the totals do not grow. */
		bool asl = false;
		if (c->max_msgs_per_subject > 0 && !c->discard_new_per_subject) {
			struct jn_subject_state s1;
			asl = jn_store_subject_info(store, msg->subject, msg->subject_len, &s1) == 0 &&
			      s1.msgs >= (uint64_t)c->max_msgs_per_subject;
		}
		if (c->max_msgs > 0 && ss.msgs + 1 > (uint64_t)c->max_msgs && !asl) {
			err = -JN_ESTORELIMIT;
			errdesc = "maximum messages exceeded";
			goto reply;
		}
		if (c->max_bytes > 0 && ss.bytes + size > (uint64_t)c->max_bytes && !asl) {
			err = -JN_ESTORELIMIT;
			errdesc = "maximum bytes exceeded";
			goto reply;
		}
		if (c->discard_new_per_subject && c->max_msgs_per_subject > 0) {
			struct jn_subject_state s2;
			if (jn_store_subject_info(store, msg->subject, msg->subject_len, &s2) == 0 &&
			    s2.msgs + 1 > (uint64_t)c->max_msgs_per_subject) {
				err = -JN_ESTORELIMIT;
				errdesc = "maximum messages per subject exceeded";
				goto reply;
			}
		}
	}
	if (jn__js_over_limit(st->js, st->storage, size)) {
		err = -JN_ERESOURCES;
		goto reply;
	}

	/* Consumers to tell, and interest retention's "anyone interested?". */
	if (st->ncons > NOTIFY_STACK) {
		notify = jn_malloc(st->ncons * sizeof *notify);
		if (!notify) {
			err = -JN_ENOMEM;
			goto reply;
		}
	}
	for (uint32_t i = 0; i < st->ncons; i++)
		if (filter_matches(st->cons[i].filter, msg->subject, msg->subject_len))
			notify[nnotify++] = st->cons[i].c;

	if (st->retention == JN_RET_INTEREST && nnotify == 0) {
		err = jn_store_skip(store, now, &seq);
		if (err) {
			errdesc = jn_strerror(err);
			err = -JN_ESTORELIMIT;
		}
		goto reply;
	}
	err = jn_store_append(store, msg->subject, msg->subject_len, hdr, hlen, msg->data,
	                      msg->data_len, now, &seq);
	if (err) {
		errdesc = jn_strerror(err);
		err = -JN_ESTORELIMIT;
		nnotify = 0;
		goto reply;
	}
	stored = true;
	if (rollup == ROLLUP_SUB)
		(void)jn_store_purge(store, msg->subject, msg->subject_len, 0, 1);
	else if (rollup == ROLLUP_ALL)
		(void)jn_store_compact(store, seq);
	enforce_limits_locked(st, msg->subject, msg->subject_len);
	if (id) {
		dd_expire(&st->dd, now - c->duplicate_window_ns);
		(void)dd_insert(&st->dd, id, idl, seq, now);
	}
	if (idl != st->last_msg_id_len || (idl && memcmp(id, st->last_msg_id, idl) != 0)) {
		char *n = idl ? jn_strndup(id, idl) : NULL;
		jn_free(st->last_msg_id);
		st->last_msg_id = n;
		st->last_msg_id_len = n ? idl : 0;
	}

reply:
	if (want_ack && !err && seq)
		st->inflight++;   /* the store stays open until the ack is registered */
	pthread_mutex_unlock(&st->mu);
	if (stored) {
		void *batch = pub ? pub->batch : NULL;
		for (uint32_t i = 0; i < nnotify; i++)
			jn_consumer_on_new_message(notify[i], seq, msg->subject, msg->subject_len, batch);
		if (rollup != ROLLUP_NONE) {
			/* The consumers' view of what was purged under them. */
			pthread_mutex_lock(&st->mu);
			struct snap s;
			int rc = st->closed ? -JN_ECLOSED : snap_take(st, &s);
			pthread_mutex_unlock(&st->mu);
			if (rc == 0) {
				char f[1024];
				const char *filter = NULL;
				if (rollup == ROLLUP_SUB && msg->subject_len < sizeof f) {
					memcpy(f, msg->subject, msg->subject_len);
					f[msg->subject_len] = 0;
					filter = f;
				}
				for (uint32_t i = 0; i < s.n; i++)
					jn_consumer_on_purge(s.c[i], filter, seq);
				snap_free(&s);
			}
		}
	}
	if (notify != nstack)
		jn_free(notify);
	if (!want_ack)
		return;
	if (err) {
		if (hook)
			hook_tell(hook->fn, hook->arg, st->name, 0, false, err, errdesc);
		else
			send_ack(st->js, pub, msg->reply, msg->reply_len, esc, 0, false, err, errdesc);
		return;
	}
	if (seq == 0) {
		if (hook)
			hook_tell(hook->fn, hook->arg, st->name, 0, false, -JN_ESTREAMGENERAL,
			          "message not stored");
		return;
	}
	/* A skipped sequence (interest, nobody listening) or a duplicate is
	 * acknowledged once everything up to it is durable too. */
	ack_when_durable(st, store, pub, msg, esc, seq, dup, hook);
	pthread_mutex_lock(&st->mu);
	if (--st->inflight == 0)
		pthread_cond_broadcast(&st->idle);
	pthread_mutex_unlock(&st->mu);
}

/* ---- direct get (ADR-31) ---------------------------------------------- */

static void direct_status(struct jn_js *js, struct jn_pub *pub, const struct jn_msg *req,
                          int code, const char *desc)
{
	uint8_t hb[128];
	struct jn_hdr_buf b;
	jn_hdr_begin(&b, hb, sizeof hb, code, desc);
	int hl = jn_hdr_done(&b);
	if (hl < 0)
		return;
	struct jn_msg m = { .subject = req->reply, .subject_len = req->reply_len,
	                    .hdr = hb, .hdr_len = (uint32_t)hl, .data = (const uint8_t *)"",
	                    .data_len = 0 };
	(void)jn_js_publish(js, pub, &m);
}

/* Send stored message m as a direct-get reply: its own headers first, then
 * Nats-Stream, Nats-Subject, Nats-Sequence, Nats-Time-Stamp. */
static void direct_send(struct jn_stream *st, struct jn_pub *pub, const struct jn_msg *req,
                        const struct jn_store_msg *m)
{
	char seqs[24], ts[JN_JS_TIME_LEN];
	snprintf(seqs, sizeof seqs, "%llu", (unsigned long long)m->seq);
	jn_js_time_format(m->ts, ts);
	size_t own = 0;
	if (m->hdr_len >= 12)
		own = m->hdr_len - 2;   /* drop the final blank line */
	size_t cap = (own ? own : 10) + strlen(st->name) + m->subject_len + 160;
	uint8_t *hb = jn_malloc(cap);
	if (!hb)
		return;
	size_t n = 0;
	if (own) {
		memcpy(hb, m->hdr, own);
		n = own;
	} else {
		memcpy(hb, "NATS/1.0\r\n", 10);
		n = 10;
	}
	n += (size_t)snprintf((char *)hb + n, cap - n,
	                      "Nats-Stream: %s\r\nNats-Subject: %.*s\r\nNats-Sequence: %s\r\n"
	                      "Nats-Time-Stamp: %s\r\n\r\n",
	                      st->name, (int)m->subject_len, m->subject, seqs, ts);
	struct jn_msg out = { .subject = req->reply, .subject_len = req->reply_len,
	                      .hdr = hb, .hdr_len = (uint32_t)n, .data = m->data,
	                      .data_len = m->data_len };
	(void)jn_js_publish(st->js, pub, &out);
	jn_free(hb);
}

int jn_stream_msg_get(struct jn_stream *st, json_t *req, struct jn_store_msg *m)
{
	uint64_t seq = 0;
	const char *last = NULL, *next = NULL;
	size_t lastl = 0, nextl = 0;
	if (jn_js_get_u64(req, "seq", &seq) || jn_js_get_str(req, "last_by_subj", &last, &lastl) ||
	    jn_js_get_str(req, "next_by_subj", &next, &nextl))
		return -JN_EBADREQUEST;
	if (last && !lastl)
		last = NULL;
	if (next && !nextl)
		next = NULL;
	if ((seq && last) || (last && next) || (!seq && !last && !next))
		return -JN_EBADREQUEST;
	if ((last && !jn_subject_valid_filter(last, lastl)) ||
	    (next && !jn_subject_valid_filter(next, nextl)))
		return -JN_EBADREQUEST;
	pthread_mutex_lock(&st->mu);
	int rc;
	if (st->closed)
		rc = -JN_ECLOSED;
	else if (last)
		rc = jn_store_load_last(st->store, last, lastl, m);
	else if (next)
		rc = jn_store_load_next(st->store, seq, next, nextl, m);
	else
		rc = jn_store_load(st->store, seq, m);
	pthread_mutex_unlock(&st->mu);
	return rc == -JN_ENOTFOUND ? -JN_ENOMSG : rc;
}

static void direct_get(struct jn_stream *st, const struct jn_msg *req, struct jn_pub *pub)
{
	if (!req->reply_len)
		return;
	size_t plen = strlen("$JS.API.DIRECT.GET.") + strlen(st->name);
	struct jn_store_msg m = { 0 };
	int rc;
	if (req->subject_len > plen + 1) {
		/* $JS.API.DIRECT.GET.<stream>.<subject>: the body must be empty. */
		if (req->data_len) {
			direct_status(st->js, pub, req, 408, "Bad Request");
			return;
		}
		const char *subj = req->subject + plen + 1;
		size_t sl = req->subject_len - plen - 1;
		pthread_mutex_lock(&st->mu);
		rc = st->closed ? -JN_ECLOSED : jn_store_load_last(st->store, subj, sl, &m);
		pthread_mutex_unlock(&st->mu);
	} else {
		json_t *o = NULL;
		rc = jn_js_parse_request(req, &o);
		if (rc || !o || (!json_object_get(o, "seq") && !json_object_get(o, "last_by_subj") &&
		                 !json_object_get(o, "next_by_subj"))) {
			json_decref(o);
			direct_status(st->js, pub, req, 408, rc ? "Malformed Request" : "Empty Request");
			return;
		}
		rc = jn_stream_msg_get(st, o, &m);
		json_decref(o);
		if (rc == -JN_EBADREQUEST) {
			direct_status(st->js, pub, req, 408, "Bad Request");
			return;
		}
	}
	if (rc == 0)
		direct_send(st, pub, req, &m);
	else
		direct_status(st->js, pub, req, 404, "Message Not Found");
	jn_store_msg_fini(&m);
}

static void ingest_deliver(struct jn_sub *sub, const struct jn_msg *msg, struct jn_pub *pub)
{
	struct ssub *s = sub->owner;
	if (s->kind == SUB_DIRECT)
		direct_get(s->st, msg, pub);
	else
		ingest(s->st, msg, pub);
}

/* ---- API operations ---------------------------------------------------- */

int64_t jn_stream_purge(struct jn_stream *st, const char *filter, uint64_t seq,
                        uint64_t keep)
{
	if (seq && keep)
		return -JN_EBADREQUEST;
	if (filter && (!filter[0] || strcmp(filter, ">") == 0))
		filter = NULL;
	if (filter && !jn_subject_valid_filter(filter, strlen(filter)))
		return -JN_EBADREQUEST;
	pthread_mutex_lock(&st->mu);
	int64_t n;
	struct snap s = { 0 };
	struct jn_store_state ss = { 0 };
	if (st->closed)
		n = -JN_ECLOSED;
	else if (st->cfg.sealed)
		n = -JN_ESEALED;
	else if (st->cfg.deny_purge)
		n = -JN_EPURGEDENIED;
	else
		n = jn_store_purge(st->store, filter, filter ? strlen(filter) : 0, seq, keep);
	if (n >= 0) {
		jn_store_state(st->store, &ss);
		if (snap_take(st, &s))
			memset(&s, 0, sizeof s);
	}
	pthread_mutex_unlock(&st->mu);
	if (n >= 0) {
		uint64_t upto = seq ? seq : ss.last_seq + 1;
		if (!filter && !seq && !keep)
			upto = ss.first_seq;
		for (uint32_t i = 0; i < s.n; i++)
			jn_consumer_on_purge(s.c[i], filter, filter || keep ? upto : ss.first_seq);
		snap_free(&s);
	}
	return n;
}

int jn_stream_msg_delete(struct jn_stream *st, uint64_t seq)
{
	pthread_mutex_lock(&st->mu);
	int rc;
	if (st->closed)
		rc = -JN_ECLOSED;
	else if (st->cfg.sealed)
		rc = -JN_ESEALED;
	else if (st->cfg.deny_delete)
		rc = -JN_EDELETEDENIED;
	else
		rc = jn_store_remove(st->store, seq);
	pthread_mutex_unlock(&st->mu);
	return rc == -JN_ENOTFOUND ? -JN_ENOMSG : rc;
}

/* ---- info -------------------------------------------------------------- */

struct subj_acc {
	json_t *obj;
	uint64_t count;
};

static int subj_cb(void *arg, const struct jn_subject_state *ss)
{
	struct subj_acc *a = arg;
	char buf[1024];
	if (ss->subject_len >= sizeof buf)
		return 0;
	memcpy(buf, ss->subject, ss->subject_len);
	buf[ss->subject_len] = 0;
	json_object_set_new(a->obj, buf, jn_js_u64(ss->msgs));
	a->count++;
	return a->count >= 100000;   /* nats-server's cap on subject details */
}

static int del_cb(void *arg, uint64_t seq)
{
	json_array_append_new(arg, jn_js_u64(seq));
	return 0;
}

json_t *jn_stream_info_json(struct jn_stream *st, json_t *opts)
{
	bool deleted_details = false;
	const char *sfilter = NULL;
	size_t sfl = 0;
	(void)jn_js_get_bool(opts, "deleted_details", &deleted_details);
	(void)jn_js_get_str(opts, "subjects_filter", &sfilter, &sfl);
	if (sfilter && (!sfl || !jn_subject_valid_filter(sfilter, sfl)))
		sfilter = NULL;

	json_t *o = json_object();
	if (!o)
		return NULL;
	pthread_mutex_lock(&st->mu);
	json_object_set_new(o, "config", jn_stream_cfg_to_json(&st->cfg));
	json_object_set_new(o, "created", jn_js_time_json(st->created));
	struct jn_store_state ss = { 0 };
	if (st->store)
		jn_store_state(st->store, &ss);
	json_t *s = json_object();
	json_object_set_new(s, "messages", jn_js_u64(ss.msgs));
	json_object_set_new(s, "bytes", jn_js_u64(ss.bytes));
	json_object_set_new(s, "first_seq", jn_js_u64(ss.first_seq));
	json_object_set_new(s, "first_ts", jn_js_time_json(ss.msgs ? ss.first_ts : 0));
	json_object_set_new(s, "last_seq", jn_js_u64(ss.last_seq));
	json_object_set_new(s, "last_ts", jn_js_time_json(ss.last_ts));
	if (ss.num_subjects)
		json_object_set_new(s, "num_subjects", jn_js_u64(ss.num_subjects));
	if (sfilter && st->store && ss.num_subjects) {
		struct subj_acc a = { .obj = json_object() };
		jn_store_subjects(st->store, sfilter, sfl, subj_cb, &a);
		if (a.count)
			json_object_set_new(s, "subjects", a.obj);
		else
			json_decref(a.obj);
	}
	if (ss.num_deleted) {
		json_object_set_new(s, "num_deleted", jn_js_u64(ss.num_deleted));
		if (deleted_details && st->store) {
			json_t *d = json_array();
			jn_store_deleted(st->store, del_cb, d);
			json_object_set_new(s, "deleted", d);
		}
	}
	json_object_set_new(s, "consumer_count", json_integer(st->ncons));
	pthread_mutex_unlock(&st->mu);
	json_object_set_new(o, "state", s);
	return o;
}

/* ---- publish with a verdict (jetstream.h) ------------------------------ */

int jn_js_publish_acked(struct jn_js *js, struct jn_sublist_cache *cache,
                        const struct jn_msg *msg, struct jn_pub *pub,
                        jn_js_puback_fn done, void *arg)
{
	struct ack_hook h = { .fn = done, .arg = arg, .claimed = false };
	struct ack_hook *saved = tl_hook;
	tl_hook = &h;
	int rc;
	if (pub) {
		rc = jn_router_publish(jn_js_router(js), cache, msg, pub);
	} else {
		struct jn_pub p = { 0 };
		rc = jn_router_publish_any_thread(jn_js_router(js), msg, &p);
	}
	tl_hook = saved;
	if (rc < 0 && !h.claimed)
		return rc;
	if (!h.claimed)
		hook_tell(done, arg, NULL, 0, false, 0, NULL);
	return rc < 0 ? 0 : rc;
}
