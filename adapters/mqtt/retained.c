/*
 * retained.c - retained messages (3.1.1 §3.3.1.3, 5.0 §3.3.1.3): at most
 * one per topic, replaced by every PUBLISH with RETAIN on that topic,
 * deleted by one with an empty payload, and sent (RETAIN 1, QoS
 * min(stored, granted)) to every new matching subscription.
 *
 * Kept in NATS form (subject, reply, header block with the Nmqtt-Pub QoS,
 * payload) so that a retained message goes out through the same
 * conversion as a live one, plus its MQTT topic for matching filters.
 * A chained hash table keyed by subject, under ret_lock. SUBSCRIBE walks
 * the whole table: retained messages are few next to the messages that
 * flow, and a walk per SUBSCRIBE costs nothing on the publish path.
 *
 * A 5.0 retained message with a Message Expiry Interval is dropped once it
 * expired (lazily, when a walk meets it).
 */
#include <string.h>

#include "adapters/mqtt/message.h"
#include "adapters/mqtt/server_int.h"
#include "adapters/mqtt/topic.h"
#include "core/alloc.h"
#include "core/err.h"

struct mq_retained {
	struct mq_retained *next;
	uint32_t hash;
	uint64_t seq;              /* store record, 0 = none */
	int64_t ts_ns;
	int64_t expires_ns;        /* 0 = never */
	uint32_t subject_len, reply_len, hdr_len, data_len, topic_len;
	uint8_t bytes[];           /* subject | reply | hdr | data | topic */
};

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static const char *r_subject(const struct mq_retained *r)
{
	return (const char *)r->bytes;
}

static const char *r_topic(const struct mq_retained *r)
{
	return (const char *)r->bytes + r->subject_len + r->reply_len + r->hdr_len + r->data_len;
}

static void r_view(const struct mq_retained *r, struct jn_msg *m)
{
	jn__mqtt_msg_unflatten(r->bytes, r->subject_len, r->reply_len, r->hdr_len, r->data_len, m);
}

static int grow(struct jn_mqtt_server *srv)
{
	uint32_t cap = srv->ret_cap ? srv->ret_cap * 2 : 64;
	struct mq_retained **t = jn_calloc(cap, sizeof *t);
	if (!t)
		return -JN_ENOMEM;
	for (uint32_t i = 0; i < srv->ret_cap; i++) {
		for (struct mq_retained *r = srv->ret[i], *n; r; r = n) {
			n = r->next;
			r->next = t[r->hash & (cap - 1)];
			t[r->hash & (cap - 1)] = r;
		}
	}
	jn_free(srv->ret);
	srv->ret = t;
	srv->ret_cap = cap;
	return 0;
}

/* Unlink and return the message of subject (under ret_lock), or NULL. */
static struct mq_retained *take(struct jn_mqtt_server *srv, const char *subj, uint32_t len,
                                uint32_t h)
{
	if (!srv->ret_cap)
		return NULL;
	struct mq_retained **pp = &srv->ret[h & (srv->ret_cap - 1)];
	for (; *pp; pp = &(*pp)->next) {
		struct mq_retained *r = *pp;
		if (r->hash == h && r->subject_len == len && memcmp(r_subject(r), subj, len) == 0) {
			*pp = r->next;
			r->next = NULL;
			srv->ret_n--;
			return r;
		}
	}
	return NULL;
}

static void drop(struct jn_mqtt_server *srv, struct mq_retained *r)
{
	if (r->seq)
		jn__mqtt_persist_retained_del(srv, r->seq);
	jn_free(r);
	atomic_fetch_sub(&srv->stats.retained, 1);
}

/* Store m (takes a copy). seq: its store record if it came from there. */
static int put(struct jn_mqtt_server *srv, const struct jn_msg *m, int64_t ts_ns,
               int64_t expires_ns, uint64_t seq, bool persist)
{
	uint32_t h = hash_bytes(m->subject, m->subject_len);
	pthread_mutex_lock(&srv->ret_lock);
	struct mq_retained *old = take(srv, m->subject, m->subject_len, h);
	if (old)
		drop(srv, old);
	if (m->data_len == 0) {   /* [MQTT-3.3.1-10/11]: delete only */
		pthread_mutex_unlock(&srv->ret_lock);
		return 0;
	}
	if ((srv->ret_n + 1) * 4 > srv->ret_cap * 3 && grow(srv) < 0) {
		pthread_mutex_unlock(&srv->ret_lock);
		return -JN_ENOMEM;
	}
	size_t n = (size_t)m->subject_len * 2 + m->reply_len + m->hdr_len + m->data_len;
	struct mq_retained *r = jn_malloc(sizeof *r + n);
	if (!r) {
		pthread_mutex_unlock(&srv->ret_lock);
		return -JN_ENOMEM;
	}
	memset(r, 0, sizeof *r);
	r->hash = h;
	r->ts_ns = ts_ns;
	r->expires_ns = expires_ns;
	r->subject_len = m->subject_len;
	r->reply_len = m->reply_len;
	r->hdr_len = m->hdr_len;
	r->data_len = m->data_len;
	uint8_t *p = jn__mqtt_msg_flatten(r->bytes, m);
	r->topic_len = (uint32_t)jn_mqtt_subject_to_topic(m->subject, m->subject_len, (char *)p);
	r->seq = seq ? seq : persist ? jn__mqtt_persist_retained(srv, m, ts_ns, expires_ns) : 0;
	r->next = srv->ret[h & (srv->ret_cap - 1)];
	srv->ret[h & (srv->ret_cap - 1)] = r;
	srv->ret_n++;
	atomic_fetch_add(&srv->stats.retained, 1);
	pthread_mutex_unlock(&srv->ret_lock);
	return 0;
}

int jn__mqtt_retain(struct jn_mqtt_server *srv, const struct jn_msg *m, int64_t ts_ns,
                    int64_t expires_ns, bool persist)
{
	return put(srv, m, ts_ns, expires_ns, 0, persist);
}

int jn__mqtt_retain_loaded(struct jn_mqtt_server *srv, const struct jn_msg *m, int64_t ts_ns,
                           int64_t expires_ns, uint64_t seq)
{
	return put(srv, m, ts_ns, expires_ns, seq, false);
}

void jn__mqtt_retained_send(struct jn_mqtt_server *srv, struct mq_sub *ms)
{
	if (ms->shared)
		return;   /* 5.0 §4.8.2: no retained messages for shared subscriptions */
	const char *filter = ms->filter;
	size_t flen = ms->filter_len;
	int64_t now = 0;
	pthread_mutex_lock(&srv->ret_lock);
	for (uint32_t i = 0; i < srv->ret_cap; i++) {
		struct mq_retained **pp = &srv->ret[i];
		while (*pp) {
			struct mq_retained *r = *pp;
			if (r->expires_ns) {
				if (!now)
					now = jn__mqtt_realtime_ns();
				if (now >= r->expires_ns) {
					*pp = r->next;
					srv->ret_n--;
					drop(srv, r);
					continue;
				}
			}
			if (jn_mqtt_topic_match(filter, flen, r_topic(r), r->topic_len)) {
				struct jn_msg m;
				r_view(r, &m);
				bool rf;
				uint8_t qos = jn__mqtt_hdr_qos(m.hdr, m.hdr_len, &rf);
				jn__mqtt_sub_deliver(ms, &m, qos, true, r->expires_ns, 0);
			}
			pp = &r->next;
		}
	}
	pthread_mutex_unlock(&srv->ret_lock);
}

void jn__mqtt_retained_compact(struct jn_mqtt_server *srv)
{
	pthread_mutex_lock(&srv->ret_lock);
	for (uint32_t i = 0; i < srv->ret_cap; i++) {
		for (struct mq_retained *r = srv->ret[i]; r; r = r->next) {
			struct jn_msg m;
			r_view(r, &m);
			uint64_t seq = jn__mqtt_persist_retained(srv, &m, r->ts_ns, r->expires_ns);
			if (seq) {
				if (r->seq)
					jn__mqtt_persist_retained_del(srv, r->seq);
				r->seq = seq;
			}
		}
	}
	pthread_mutex_unlock(&srv->ret_lock);
}

void jn__mqtt_retained_free_all(struct jn_mqtt_server *srv)
{
	for (uint32_t i = 0; i < srv->ret_cap; i++) {
		for (struct mq_retained *r = srv->ret[i], *n; r; r = n) {
			n = r->next;
			jn_free(r);
		}
	}
	jn_free(srv->ret);
	srv->ret = NULL;
	srv->ret_cap = srv->ret_n = 0;
}
