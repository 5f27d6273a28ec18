/*
 * mqtt_it.h - MQTT helpers for the integration tests (header-only, like
 * js_it.h): a synchronous wrapper around libmosquitto, and raw-socket
 * MQTT with packets written as bytes, both aimed at it_srv->mqtt_port so
 * the same test runs against junction and against mosquitto
 * (JN_TEST_SERVER=mosquitto).
 *
 * libmosquitto runs its network loop in its own thread (loop_start); the
 * callbacks here only record what arrived under a mutex, and the test
 * thread waits on a condition variable with a deadline. Automatic
 * reconnection is pushed out of the way (60 s) so that a connection the
 * server closes stays closed for the test to see.
 */
#ifndef JN_MQTT_IT_H
#define JN_MQTT_IT_H

#include <arpa/inet.h>
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MQI_MAX_RX 1024

struct mqi_msg {
	char *topic;
	char *payload;
	int len;
	int qos;
	bool retain;
	mosquitto_property *props;   /* 5.0: a copy, freed with the client */
};

struct mqi {
	struct mosquitto *m;
	int version;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool connacked;
	int connack_rc;
	int connack_flags;
	mosquitto_property *connack_props;
	bool disconnected;
	int disconnect_rc;
	int last_suback_mid;
	int granted[16];
	int ngranted;
	int last_unsuback_mid;
	int published_mid;       /* last mid whose flow completed */
	int published_rc;        /* its 5.0 reason code */
	struct mqi_msg rx[MQI_MAX_RX];
	int nrx, rhead;
};

static int64_t mqi__deadline(int ms)
{
	return it_now_ms() + ms;
}

/* Wait on c->cond until *flag-ish condition or the deadline; call locked. */
static bool mqi__wait(struct mqi *c, int64_t deadline)
{
	int64_t left = deadline - it_now_ms();
	if (left <= 0)
		return false;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += left / 1000;
	ts.tv_nsec += (left % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	return true;
}

static void mqi__on_connect(struct mosquitto *m, void *obj, int rc, int flags,
                            const mosquitto_property *props)
{
	(void)m;
	struct mqi *c = obj;
	pthread_mutex_lock(&c->lock);
	c->connacked = true;
	c->connack_rc = rc;
	c->connack_flags = flags;
	if (props)
		mosquitto_property_copy_all(&c->connack_props, props);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void mqi__on_disconnect(struct mosquitto *m, void *obj, int rc,
                               const mosquitto_property *props)
{
	(void)m;
	(void)props;
	struct mqi *c = obj;
	pthread_mutex_lock(&c->lock);
	c->disconnected = true;
	c->disconnect_rc = rc;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void mqi__on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                            const mosquitto_property *props)
{
	(void)m;
	struct mqi *c = obj;
	pthread_mutex_lock(&c->lock);
	if (c->nrx < MQI_MAX_RX) {
		struct mqi_msg *r = &c->rx[c->nrx++];
		r->topic = strdup(msg->topic);
		r->payload = malloc((size_t)msg->payloadlen + 1);
		if (msg->payloadlen)
			memcpy(r->payload, msg->payload, (size_t)msg->payloadlen);
		r->payload[msg->payloadlen] = '\0';
		r->len = msg->payloadlen;
		r->qos = msg->qos;
		r->retain = msg->retain;
		r->props = NULL;
		if (props)
			mosquitto_property_copy_all(&r->props, props);
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void mqi__on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted,
                              const mosquitto_property *props)
{
	(void)m;
	(void)props;
	struct mqi *c = obj;
	pthread_mutex_lock(&c->lock);
	c->last_suback_mid = mid;
	c->ngranted = n < 16 ? n : 16;
	for (int i = 0; i < c->ngranted; i++)
		c->granted[i] = granted[i];
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void mqi__on_unsubscribe(struct mosquitto *m, void *obj, int mid,
                                const mosquitto_property *props)
{
	(void)m;
	(void)props;
	struct mqi *c = obj;
	pthread_mutex_lock(&c->lock);
	c->last_unsuback_mid = mid;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void mqi__on_publish(struct mosquitto *m, void *obj, int mid, int rc,
                            const mosquitto_property *props)
{
	(void)m;
	(void)props;
	struct mqi *c = obj;
	pthread_mutex_lock(&c->lock);
	c->published_mid = mid;
	c->published_rc = rc;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* Options of mqi_open beyond the client id. */
struct mqi_opts {
	int version;                 /* 4 (default) or 5 */
	bool persistent;             /* 3.1.1: clean session 0 */
	int keepalive;               /* default 60 */
	const char *user, *password;
	const char *will_topic, *will_payload;
	int will_qos;
	bool will_retain;
	mosquitto_property *connect_props;   /* 5.0; consumed */
	mosquitto_property *will_props;      /* 5.0; consumed */
	bool expect_refusal;         /* do not fail on a non-zero CONNACK */
};

/* Connect and wait for the CONNACK (5 s). Fails the case unless it is
 * accepted (or expect_refusal). */
static struct mqi *mqi_open_at(const char *file, int line, const char *id,
                               const struct mqi_opts *o)
{
	static const struct mqi_opts none;
	if (o == NULL)
		o = &none;
	static bool inited;
	if (!inited) {
		mosquitto_lib_init();
		inited = true;
	}
	struct mqi *c = calloc(1, sizeof *c);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->version = o->version ? o->version : 4;
	c->m = mosquitto_new(id, !o->persistent, c);
	if (c->m == NULL)
		it_fail(file, line, "mosquitto_new: %s", strerror(errno));
	mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION,
	                     c->version == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	mosquitto_connect_v5_callback_set(c->m, mqi__on_connect);
	mosquitto_disconnect_v5_callback_set(c->m, mqi__on_disconnect);
	mosquitto_message_v5_callback_set(c->m, mqi__on_message);
	mosquitto_subscribe_v5_callback_set(c->m, mqi__on_subscribe);
	mosquitto_unsubscribe_v5_callback_set(c->m, mqi__on_unsubscribe);
	mosquitto_publish_v5_callback_set(c->m, mqi__on_publish);
	mosquitto_reconnect_delay_set(c->m, 60, 60, false);
	if (o->user)
		mosquitto_username_pw_set(c->m, o->user, o->password);
	if (o->will_topic) {
		mosquitto_property *wprops = o->will_props;
		mosquitto_will_set_v5(c->m, o->will_topic, (int)strlen(o->will_payload), o->will_payload,
		                      o->will_qos, o->will_retain, wprops);
		/* (will_set_v5 takes ownership of the properties) */
	}
	mosquitto_property *cprops = o->connect_props;   /* consumed: freed here */
	int rc = mosquitto_connect_bind_v5(c->m, "127.0.0.1", it_srv->mqtt_port,
	                                   o->keepalive ? o->keepalive : 60, NULL, cprops);
	mosquitto_property_free_all(&cprops);
	if (rc != MOSQ_ERR_SUCCESS)
		it_fail(file, line, "mosquitto_connect: %s", mosquitto_strerror(rc));
	mosquitto_loop_start(c->m);
	int64_t dl = mqi__deadline(5000);
	pthread_mutex_lock(&c->lock);
	while (!c->connacked && !c->disconnected && mqi__wait(c, dl)) {
	}
	bool ok = c->connacked;
	int crc = c->connack_rc;
	pthread_mutex_unlock(&c->lock);
	if (!ok && !o->expect_refusal)
		it_fail(file, line, "client \"%s\": no CONNACK within 5 s", id ? id : "");
	if (ok && crc != 0 && !o->expect_refusal)
		it_fail(file, line, "client \"%s\": CONNACK rc %d", id ? id : "", crc);
	return c;
}

#define mqi_open(id, o) mqi_open_at(__FILE__, __LINE__, id, o)

static void mqi_close(struct mqi *c)
{
	if (c == NULL)
		return;
	mosquitto_disconnect(c->m);
	mosquitto_loop_stop(c->m, false);
	mosquitto_destroy(c->m);
	for (int i = 0; i < c->nrx; i++) {
		free(c->rx[i].topic);
		free(c->rx[i].payload);
		mosquitto_property_free_all(&c->rx[i].props);
	}
	mosquitto_property_free_all(&c->connack_props);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}

/* Drop the TCP connection without DISCONNECT (the will goes out). */
static inline void mqi_kill(struct mqi *c)
{
	/* stop the network thread first (it is waiting in poll), so that it
	 * cannot start a reconnection; then drop the socket */
	int fd = mosquitto_socket(c->m);
	mosquitto_loop_stop(c->m, true);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	mosquitto_destroy(c->m);
	c->m = NULL;
	for (int i = 0; i < c->nrx; i++) {
		free(c->rx[i].topic);
		free(c->rx[i].payload);
		mosquitto_property_free_all(&c->rx[i].props);
	}
	mosquitto_property_free_all(&c->connack_props);
	free(c);
}

/* Subscribe and wait for the SUBACK; returns the granted QoS / code. */
static int mqi_sub_at(const char *file, int line, struct mqi *c, const char *filter, int qos,
                      int options, mosquitto_property *props)
{
	int mid = 0;
	int rc = mosquitto_subscribe_v5(c->m, &mid, filter, qos, options, props);
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_SUCCESS)
		it_fail(file, line, "subscribe %s: %s", filter, mosquitto_strerror(rc));
	int64_t dl = mqi__deadline(5000);
	pthread_mutex_lock(&c->lock);
	while (c->last_suback_mid != mid && mqi__wait(c, dl)) {
	}
	bool ok = c->last_suback_mid == mid;
	int g = c->ngranted ? c->granted[0] : -1;
	pthread_mutex_unlock(&c->lock);
	if (!ok)
		it_fail(file, line, "no SUBACK for %s within 5 s", filter);
	return g;
}

#define mqi_sub(c, f, q) mqi_sub_at(__FILE__, __LINE__, c, f, q, 0, NULL)
#define mqi_sub_opts(c, f, q, o, p) mqi_sub_at(__FILE__, __LINE__, c, f, q, o, p)

static inline void mqi_unsub_at(const char *file, int line, struct mqi *c, const char *filter)
{
	int mid = 0;
	if (mosquitto_unsubscribe(c->m, &mid, filter) != MOSQ_ERR_SUCCESS)
		it_fail(file, line, "unsubscribe %s failed", filter);
	int64_t dl = mqi__deadline(5000);
	pthread_mutex_lock(&c->lock);
	while (c->last_unsuback_mid != mid && mqi__wait(c, dl)) {
	}
	bool ok = c->last_unsuback_mid == mid;
	pthread_mutex_unlock(&c->lock);
	if (!ok)
		it_fail(file, line, "no UNSUBACK for %s within 5 s", filter);
}

#define mqi_unsub(c, f) mqi_unsub_at(__FILE__, __LINE__, c, f)

/* Publish; for QoS 1/2 wait until the flow completed. Returns the 5.0
 * reason code of the PUBACK/PUBREC (0 for QoS 0). */
static int mqi_pub_at(const char *file, int line, struct mqi *c, const char *topic,
                      const void *payload, int len, int qos, bool retain,
                      mosquitto_property *props)
{
	int mid = 0;
	int rc = mosquitto_publish_v5(c->m, &mid, topic, len, payload, qos, retain, props);
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_SUCCESS)
		it_fail(file, line, "publish %s: %s", topic, mosquitto_strerror(rc));
	int64_t dl = mqi__deadline(5000);
	pthread_mutex_lock(&c->lock);
	while (c->published_mid != mid && mqi__wait(c, dl)) {
	}
	bool ok = c->published_mid == mid;
	int prc = c->published_rc;
	pthread_mutex_unlock(&c->lock);
	if (!ok)
		it_fail(file, line, "publish %s (QoS %d) did not complete within 5 s", topic, qos);
	return prc;
}

#define mqi_pub(c, t, s, q, r) mqi_pub_at(__FILE__, __LINE__, c, t, s, (int)strlen(s), q, r, NULL)
#define mqi_pub_props(c, t, s, q, r, p) mqi_pub_at(__FILE__, __LINE__, c, t, s, (int)strlen(s), q, r, p)

/* The next message received (within ms), or fail. The returned pointer is
 * valid until the client is closed. */
static struct mqi_msg *mqi_next_at(const char *file, int line, struct mqi *c, int ms)
{
	int64_t dl = mqi__deadline(ms);
	pthread_mutex_lock(&c->lock);
	while (c->rhead >= c->nrx && mqi__wait(c, dl)) {
	}
	struct mqi_msg *m = c->rhead < c->nrx ? &c->rx[c->rhead++] : NULL;
	pthread_mutex_unlock(&c->lock);
	if (m == NULL)
		it_fail(file, line, "no message within %d ms", ms);
	return m;
}

#define mqi_next(c) mqi_next_at(__FILE__, __LINE__, c, 5000)

/* The next message must be topic/payload with this QoS and RETAIN flag. */
static void mqi_expect_at(const char *file, int line, struct mqi *c, const char *topic,
                          const char *payload, int qos, bool retain)
{
	struct mqi_msg *m = mqi_next_at(file, line, c, 5000);
	if (strcmp(m->topic, topic) != 0 || strcmp(m->payload, payload) != 0 || m->qos != qos ||
	    m->retain != retain)
		it_fail(file, line, "got %s \"%s\" qos %d retain %d, expected %s \"%s\" qos %d retain %d",
		        m->topic, m->payload, m->qos, m->retain, topic, payload, qos, retain);
}

#define mqi_expect(c, t, p, q, r) mqi_expect_at(__FILE__, __LINE__, c, t, p, q, r)

/* Nothing may arrive for ms. */
static void mqi_expect_none_at(const char *file, int line, struct mqi *c, int ms)
{
	it_sleep_ms(ms);
	pthread_mutex_lock(&c->lock);
	struct mqi_msg *m = c->rhead < c->nrx ? &c->rx[c->rhead] : NULL;
	pthread_mutex_unlock(&c->lock);
	if (m)
		it_fail(file, line, "expected no message, got %s \"%s\"", m->topic, m->payload);
}

#define mqi_expect_none(c, ms) mqi_expect_none_at(__FILE__, __LINE__, c, ms)

/* Wait until the server closed the connection (ms). */
static inline bool mqi_wait_disconnect(struct mqi *c, int ms)
{
	int64_t dl = mqi__deadline(ms);
	pthread_mutex_lock(&c->lock);
	while (!c->disconnected && mqi__wait(c, dl)) {
	}
	bool d = c->disconnected;
	pthread_mutex_unlock(&c->lock);
	return d;
}

/* ---- raw MQTT over a socket ------------------------------------------------ */

static int mqr_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)it_srv->mqtt_port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		it_fail(__FILE__, __LINE__, "connect to MQTT port %d: %s", it_srv->mqtt_port,
		        strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* Bytes given as a string literal with \x escapes. */
#define mqr_send(fd, lit) it_raw_sendn(fd, lit, sizeof(lit) - 1)
#define mqr_expect(fd, lit) it_raw_expect_at(__FILE__, __LINE__, fd, lit, sizeof(lit) - 1, 5000)

/* CONNECT 3.1.1, clean, keep alive ka, client id id; expects CONNACK 0. */
static inline int mqr_hello(const char *id, int ka, bool clean)
{
	int fd = mqr_connect();
	unsigned char b[300];
	size_t il = strlen(id), n = 0;
	b[n++] = 0x10;
	b[n++] = (unsigned char)(10 + 2 + il);
	memcpy(b + n, "\x00\x04MQTT\x04", 7);
	n += 7;
	b[n++] = clean ? 0x02 : 0x00;
	b[n++] = (unsigned char)(ka >> 8);
	b[n++] = (unsigned char)ka;
	b[n++] = (unsigned char)(il >> 8);
	b[n++] = (unsigned char)il;
	memcpy(b + n, id, il);
	n += il;
	it_raw_sendn(fd, b, n);
	return fd;
}

#endif
