/*
 * server.c - the listener-wide half of the MQTT adapter: options, the
 * session registry (client id -> session), session reference counting and
 * the periodic sweep that expires detached 5.0 sessions and publishes
 * delayed wills.
 *
 * The registry is one chained hash table under reg_lock; it is touched on
 * CONNECT, on the end of a session and by the sweep, never on the message
 * path. A session found here is returned with a reference, so it cannot
 * go away between the lookup and the caller taking its lock.
 *
 * The sweep needs no thread of its own: every connection's tick offers to
 * run it, and one of them does, at most once a second (a CAS on
 * next_sweep_ns). With no connection at all nothing sweeps: a detached
 * session then outlives its expiry until the next connection arrives,
 * which nobody can observe but that connection, and it sweeps first.
 */
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "adapters/mqtt/server_int.h"
#include "core/alloc.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/log.h"

#define SWEEP_EVERY_NS 1000000000LL

void jn_mqtt_opts_default(struct jn_mqtt_opts *o)
{
	memset(o, 0, sizeof *o);
	o->host = "0.0.0.0";
	o->port = 1883;
	o->max_packet_size = 1024 * 1024;
	o->max_inflight = 64;
	o->max_queued = 1000;
	o->receive_max = 1024;
	o->topic_alias_max = 64;
	o->max_session_expiry = 0;
	o->max_pending = (size_t)64 * 1024 * 1024;
	o->connect_timeout_ns = 10LL * 1000000000LL;
	o->write_deadline_ns = 10LL * 1000000000LL;
	o->max_connections = 0;
	o->store_dir = NULL;
}

int64_t jn__mqtt_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/* ---- registry ---------------------------------------------------------------- */

static int reg_grow(struct jn_mqtt_server *srv)
{
	uint32_t cap = srv->reg_cap ? srv->reg_cap * 2 : 64;
	struct mq_session **t = jn_calloc(cap, sizeof *t);
	if (!t)
		return -JN_ENOMEM;
	for (uint32_t i = 0; i < srv->reg_cap; i++) {
		for (struct mq_session *s = srv->reg[i], *n; s; s = n) {
			n = s->hnext;
			s->hnext = t[s->hash & (cap - 1)];
			t[s->hash & (cap - 1)] = s;
		}
	}
	jn_free(srv->reg);
	srv->reg = t;
	srv->reg_cap = cap;
	return 0;
}

static void session_free(void *p)
{
	struct mq_session *s = p;
	pthread_mutex_destroy(&s->lock);
	jn_free(s->client_id);
	jn_free(s);
}

static struct mq_session *session_new(struct jn_mqtt_server *srv, const char *cid, uint32_t len,
                                      uint32_t h)
{
	struct mq_session *s = jn_calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->client_id = jn_strndup(cid, len);
	if (!s->client_id) {
		jn_free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->srv = srv;
	s->hash = h;
	s->cid_len = len;
	s->window = srv->opts.max_inflight;
	atomic_init(&s->refs, 1);
	return s;
}

struct mq_session *jn__mqtt_session_get(struct jn_mqtt_server *srv, const char *cid,
                                        uint32_t cid_len, bool *existed)
{
	uint32_t h = hash_bytes(cid, cid_len);
	pthread_mutex_lock(&srv->reg_lock);
	if (srv->reg_cap) {
		for (struct mq_session *s = srv->reg[h & (srv->reg_cap - 1)]; s; s = s->hnext) {
			if (s->hash == h && s->cid_len == cid_len && memcmp(s->client_id, cid, cid_len) == 0) {
				atomic_fetch_add(&s->refs, 1);
				pthread_mutex_unlock(&srv->reg_lock);
				*existed = true;
				return s;
			}
		}
	}
	*existed = false;
	if ((srv->reg_n + 1) * 4 > srv->reg_cap * 3 && reg_grow(srv) < 0) {
		pthread_mutex_unlock(&srv->reg_lock);
		return NULL;
	}
	struct mq_session *s = session_new(srv, cid, cid_len, h);
	if (!s) {
		pthread_mutex_unlock(&srv->reg_lock);
		return NULL;
	}
	atomic_store(&s->refs, 2);   /* registry + caller */
	s->registered = true;
	s->hnext = srv->reg[h & (srv->reg_cap - 1)];
	srv->reg[h & (srv->reg_cap - 1)] = s;
	srv->reg_n++;
	pthread_mutex_unlock(&srv->reg_lock);
	atomic_fetch_add(&srv->stats.sessions, 1);
	return s;
}

int jn__mqtt_session_insert_loaded(struct jn_mqtt_server *srv, struct mq_session *s)
{
	pthread_mutex_lock(&srv->reg_lock);
	if ((srv->reg_n + 1) * 4 > srv->reg_cap * 3 && reg_grow(srv) < 0) {
		pthread_mutex_unlock(&srv->reg_lock);
		return -JN_ENOMEM;
	}
	s->registered = true;
	s->hnext = srv->reg[s->hash & (srv->reg_cap - 1)];
	srv->reg[s->hash & (srv->reg_cap - 1)] = s;
	srv->reg_n++;
	pthread_mutex_unlock(&srv->reg_lock);
	atomic_fetch_add(&srv->stats.sessions, 1);
	return 0;
}

struct mq_session *jn__mqtt_session_alloc(struct jn_mqtt_server *srv, const char *cid,
                                          uint32_t len)
{
	return session_new(srv, cid, len, hash_bytes(cid, len));
}

void jn__mqtt_session_unregister(struct mq_session *s)
{
	struct jn_mqtt_server *srv = s->srv;
	bool was = false;
	pthread_mutex_lock(&srv->reg_lock);
	if (s->registered) {
		struct mq_session **pp = &srv->reg[s->hash & (srv->reg_cap - 1)];
		while (*pp && *pp != s)
			pp = &(*pp)->hnext;
		if (*pp)
			*pp = s->hnext;
		s->hnext = NULL;
		s->registered = false;
		srv->reg_n--;
		was = true;
	}
	pthread_mutex_unlock(&srv->reg_lock);
	if (was)
		jn__mqtt_session_unref(s);
}

void jn__mqtt_session_ref(struct mq_session *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void jn__mqtt_session_unref(struct mq_session *s)
{
	if (atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	pthread_mutex_lock(&s->lock);
	jn__mqtt_session_kill_locked(s);
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_sub(&s->srv->stats.sessions, 1);
	/* subscriptions were retired before: they may still be read, and
	 * they point here */
	jn_epoch_retire(s, session_free);
}

/* ---- sweep -------------------------------------------------------------------- */

struct due {
	struct mq_session *s;
	bool expire;
};

void jn__mqtt_sweep(struct jn_mqtt_server *srv, struct jn_thread_ctx *ctx, int64_t now)
{
	int64_t next = atomic_load(&srv->next_sweep_ns);
	if (now < next || !atomic_compare_exchange_strong(&srv->next_sweep_ns, &next,
	                                                  now + SWEEP_EVERY_NS))
		return;
	struct due *due = NULL;
	uint32_t ndue = 0, capdue = 0;
	pthread_mutex_lock(&srv->reg_lock);
	for (uint32_t i = 0; i < srv->reg_cap; i++) {
		for (struct mq_session *s = srv->reg[i]; s; s = s->hnext) {
			pthread_mutex_lock(&s->lock);
			bool expire = !s->conn && !s->dead && s->expiry_s != UINT32_MAX &&
			              now - s->detached_ns >= (int64_t)s->expiry_s * 1000000000LL;
			bool will = s->will && now >= s->will_due_ns;
			pthread_mutex_unlock(&s->lock);
			if (!expire && !will)
				continue;
			if (ndue == capdue) {
				uint32_t c = capdue ? capdue * 2 : 16;
				struct due *nd = jn_realloc(due, c * sizeof *nd);
				if (!nd)
					break;
				due = nd;
				capdue = c;
			}
			atomic_fetch_add(&s->refs, 1);
			due[ndue++] = (struct due){ s, expire };
		}
	}
	pthread_mutex_unlock(&srv->reg_lock);
	for (uint32_t i = 0; i < ndue; i++) {
		struct mq_session *s = due[i].s;
		struct mq_will *w = NULL;
		bool gone = false;
		pthread_mutex_lock(&s->lock);
		if (s->will && (due[i].expire || now >= s->will_due_ns) && !s->conn) {
			w = s->will;   /* 5.0 §3.1.3.2.2: at the delay or the session end */
			s->will = NULL;
		}
		if (due[i].expire && !s->conn && !s->dead) {
			jn_debug("mqtt: session \"%s\" expired", s->client_id);
			jn__mqtt_persist_session_drop(s);
			jn__mqtt_session_kill_locked(s);
			gone = true;
		}
		pthread_mutex_unlock(&s->lock);
		if (w) {
			jn__mqtt_publish_will(srv, w, ctx);
			jn_free(w);
		}
		if (gone)
			jn__mqtt_session_unregister(s);
		jn__mqtt_session_unref(s);
	}
	jn_free(due);
}

/* ---- server --------------------------------------------------------------------- */

int jn_mqtt_server_new(const struct jn_mqtt_opts *opts, struct jn_router *router,
                       const struct jn_auth *auth, struct jn_mqtt_server **out)
{
	struct jn_mqtt_server *s = jn_calloc(1, sizeof *s);
	if (!s)
		return -JN_ENOMEM;
	s->opts = *opts;
	if (!s->opts.max_inflight)
		s->opts.max_inflight = 64;
	if (!s->opts.max_queued)
		s->opts.max_queued = 1000;
	if (!s->opts.receive_max)
		s->opts.receive_max = 1024;
	if (s->opts.max_packet_size && s->opts.max_packet_size < 64)
		s->opts.max_packet_size = 64;
	pthread_mutex_init(&s->reg_lock, NULL);
	pthread_mutex_init(&s->ret_lock, NULL);
	pthread_mutex_init(&s->store_lock, NULL);
	s->router = router;
	s->auth = auth;
	if (getrandom(&s->id_salt, sizeof s->id_salt, 0) != (ssize_t)sizeof s->id_salt)
		s->id_salt = (uint64_t)jn__mqtt_realtime_ns() * 0x9e3779b97f4a7c15ull;
	s->auth_required = auth && auth->required;
	int rc = -JN_ENOMEM;
	if (opts->host && !(s->host = jn_strdup(opts->host)))
		goto fail;
	if (opts->store_dir && !(s->store_dir = jn_strdup(opts->store_dir)))
		goto fail;
	s->opts.host = s->host;
	s->opts.store_dir = s->store_dir;
	if (s->store_dir && (rc = jn__mqtt_persist_open(s)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	jn_mqtt_server_free(s);
	return rc;
}

void jn_mqtt_server_free(struct jn_mqtt_server *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->reg_cap; i++) {
		for (struct mq_session *x = s->reg[i], *n; x; x = n) {
			n = x->hnext;
			pthread_mutex_lock(&x->lock);
			jn__mqtt_session_kill_locked(x);
			pthread_mutex_unlock(&x->lock);
			jn_epoch_retire(x, session_free);
		}
	}
	jn_free(s->reg);
	jn__mqtt_retained_free_all(s);
	jn__mqtt_persist_close(s);
	pthread_mutex_destroy(&s->reg_lock);
	pthread_mutex_destroy(&s->ret_lock);
	pthread_mutex_destroy(&s->store_lock);
	jn_free(s->host);
	jn_free(s->store_dir);
	jn_free(s);
}

const struct jn_mqtt_stats *jn_mqtt_server_stats(const struct jn_mqtt_server *s)
{
	return &s->stats;
}
