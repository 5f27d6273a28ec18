/*
 * test_mqtt_durable.c - "acknowledged means durable" for MQTT publishes,
 * the MQTT limits of the configuration, and the 5.0 shutdown notice.
 *
 * A PUBACK/PUBREC is sent only once the JetStream stream capturing the
 * subject stored and fsynced the message and what the adapter persisted
 * for it (retained message, queued messages of persistent sessions) is
 * fsynced; acknowledgements keep the order of the PUBLISHes; a stream that
 * refuses the message makes a 5.0 PUBACK carry 0x97 (limits) or 0x80
 * (other refusals); a 3.1.1 client gets a plain PUBACK (as nats-server,
 * which never tells). Junction only (JetStream, kill -9, junction config,
 * and mosquitto 2.0.11 closes at shutdown without DISCONNECT 0x8B).
 */
#include "js_it.h"
#include "mqtt_it.h"

static const struct it_config js_cfg = { .mqtt = true, .jetstream = true };

static bool skip_mosquitto(void)
{
	if (it_is_mosquitto()) {
		printf("  (skipped on mosquitto: junction's JetStream, configuration, shutdown)\n");
		return true;
	}
	return false;
}

/* Publish without waiting; returns the mid. */
static int pub_nowait(struct mqi *c, const char *topic, const char *payload, int qos, bool retain)
{
	int mid = 0;
	int rc = mosquitto_publish_v5(c->m, &mid, topic, (int)strlen(payload), payload, qos, retain,
	                              NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		it_fail(__FILE__, __LINE__, "publish %s: %s", topic, mosquitto_strerror(rc));
	return mid;
}

/* Wait until the flow of mid completed (acks come in order, so every
 * earlier publish completed too). */
static void wait_mid(struct mqi *c, int mid, int ms)
{
	int64_t dl = mqi__deadline(ms);
	pthread_mutex_lock(&c->lock);
	while (c->published_mid != mid && mqi__wait(c, dl)) {
	}
	bool ok = c->published_mid == mid;
	pthread_mutex_unlock(&c->lock);
	IT_CHECK(ok, "publish mid %d did not complete within %d ms", mid, ms);
}

/* The MQTT packet read whole from fd (type byte, body into buf). */
static int read_pkt(int fd, uint8_t *buf, size_t cap, size_t *len, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	uint8_t h;
	if (recv(fd, &h, 1, MSG_WAITALL) != 1)
		return -1;
	uint32_t rem = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t b;
		if (recv(fd, &b, 1, MSG_WAITALL) != 1)
			return -1;
		rem |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			break;
	}
	IT_CHECK(rem <= cap, "packet of %u bytes", rem);
	if (rem && recv(fd, buf, rem, MSG_WAITALL) != (ssize_t)rem)
		return -1;
	*len = rem;
	return h;
}

/* A raw 5.0 CONNECT (clean start, keep alive ka) and its CONNACK. */
static int raw_hello_v5(const char *id, int ka)
{
	int fd = mqr_connect();
	uint8_t b[300];
	size_t il = strlen(id), n = 0;
	b[n++] = 0x10;
	b[n++] = (uint8_t)(10 + 1 + 2 + il);
	memcpy(b + n, "\x00\x04MQTT\x05", 7);
	n += 7;
	b[n++] = 0x02;
	b[n++] = (uint8_t)(ka >> 8);
	b[n++] = (uint8_t)ka;
	b[n++] = 0;   /* no properties */
	b[n++] = (uint8_t)(il >> 8);
	b[n++] = (uint8_t)il;
	memcpy(b + n, id, il);
	n += il;
	it_raw_sendn(fd, b, n);
	uint8_t body[256];
	size_t len;
	int t = read_pkt(fd, body, sizeof body, &len, 5000);
	IT_CHECK(t == 0x20 && len >= 2 && body[1] == 0, "CONNACK: type %#x rc %d", t,
	         len >= 2 ? body[1] : -1);
	return fd;
}

/* A 3.1.1 QoS 1 PUBLISH, raw. */
static size_t raw_pub311(uint8_t *b, const char *topic, uint16_t pid, const char *payload)
{
	size_t tl = strlen(topic), pl = strlen(payload), n = 0;
	b[n++] = 0x32;
	b[n++] = (uint8_t)(2 + tl + 2 + pl);
	b[n++] = (uint8_t)(tl >> 8);
	b[n++] = (uint8_t)tl;
	memcpy(b + n, topic, tl);
	n += tl;
	b[n++] = (uint8_t)(pid >> 8);
	b[n++] = (uint8_t)pid;
	memcpy(b + n, payload, pl);
	return n + pl;
}

/* The PUBACK comes once the message is in the stream. */
static void puback_after_stream_store(void)
{
	if (skip_mosquitto())
		return;
	it_start(&js_cfg);
	natsConnection *nc = it_connect(NULL, NULL);
	jt_create(nc, "DUR", "{\"name\":\"DUR\",\"subjects\":[\"dur.>\"],\"storage\":\"file\"}");
	struct mqi_opts v5 = { .version = 5 };
	struct mqi *c = mqi_open("durpub", &v5);
	for (int i = 1; i <= 3; i++) {
		IT_EQ_INT(mqi_pub(c, "dur/a", "m", 1, false), 0);
		IT_EQ_INT(jt_state(nc, "DUR", "messages"), i);
		IT_EQ_INT(jt_state(nc, "DUR", "last_seq"), i);
	}
	/* QoS 2 likewise at PUBREC (the flow completes after it) */
	IT_EQ_INT(mqi_pub(c, "dur/b", "m", 2, false), 0);
	IT_EQ_INT(jt_state(nc, "DUR", "messages"), 4);
	mqi_close(c);
	natsConnection_Destroy(nc);
}

/* PUBACKs keep the order of the PUBLISHes even when the earlier one waits
 * for a stream's fsync and the later one needs nothing. */
static void puback_order(void)
{
	if (skip_mosquitto())
		return;
	it_start(&js_cfg);
	natsConnection *nc = it_connect(NULL, NULL);
	jt_create(nc, "ORD", "{\"name\":\"ORD\",\"subjects\":[\"ord.>\"],\"storage\":\"file\"}");
	int fd = mqr_hello("order", 60, true);
	mqr_expect(fd, "\x20\x02\x00\x00");
	uint8_t b[4096];
	size_t n = 0;
	for (uint16_t pid = 1; pid <= 40; pid++)
		n += raw_pub311(b + n, pid % 2 ? "ord/x" : "free/x", pid, "p");
	it_raw_sendn(fd, b, n);
	for (uint16_t pid = 1; pid <= 40; pid++) {
		uint8_t want[4] = { 0x40, 0x02, 0x00, (uint8_t)pid };
		it_raw_expect_at(__FILE__, __LINE__, fd, (const char *)want, 4, 5000);
	}
	IT_EQ_INT(jt_state(nc, "ORD", "messages"), 20);
	close(fd);
	natsConnection_Destroy(nc);
}

/* A stream that refuses: 5.0 gets the reason, 3.1.1 a plain PUBACK. */
static void stream_refusal(void)
{
	if (skip_mosquitto())
		return;
	it_start(&js_cfg);
	natsConnection *nc = it_connect(NULL, NULL);
	jt_create(nc, "FULL", "{\"name\":\"FULL\",\"subjects\":[\"full.>\"],\"storage\":\"file\","
	                      "\"max_msgs\":1,\"discard\":\"new\"}");
	struct mqi_opts v5 = { .version = 5 };
	struct mqi *c = mqi_open("full5", &v5);
	IT_EQ_INT(mqi_pub(c, "full/a", "first", 1, false), 0);
	IT_EQ_INT(mqi_pub(c, "full/a", "second", 1, false), MQTT_RC_QUOTA_EXCEEDED);
	IT_EQ_INT(mqi_pub(c, "full/a", "third", 2, false), MQTT_RC_QUOTA_EXCEEDED);
	/* the connection goes on normally after refusals */
	IT_EQ_INT(mqi_pub(c, "other/a", "x", 1, false), MQTT_RC_NO_MATCHING_SUBSCRIBERS);
	/* other refusals: a wrong expectation, through a user property that
	 * becomes a NATS header */
	jt_create(nc, "EXP", "{\"name\":\"EXP\",\"subjects\":[\"exp.>\"],\"storage\":\"file\"}");
	mosquitto_property *props = NULL;
	mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
	                                   "Nats-Expected-Last-Sequence", "99");
	IT_EQ_INT(mqi_pub_props(c, "exp/a", "x", 1, false, props), MQTT_RC_UNSPECIFIED);
	IT_EQ_INT(jt_state(nc, "EXP", "messages"), 0);
	mqi_close(c);
	/* 3.1.1: acknowledged (no way to refuse), not stored */
	int fd = mqr_hello("full3", 60, true);
	mqr_expect(fd, "\x20\x02\x00\x00");
	uint8_t b[64];
	it_raw_sendn(fd, b, raw_pub311(b, "full/a", 5, "fourth"));
	mqr_expect(fd, "\x40\x02\x00\x05");
	IT_EQ_INT(jt_state(nc, "FULL", "messages"), 1);
	close(fd);
	natsConnection_Destroy(nc);
}

/* kill -9 right after the last PUBACK: the stream's messages, the retained
 * message and the messages queued for an offline persistent session are
 * all there after the restart. */
static void durable_kill9(void)
{
	if (skip_mosquitto())
		return;
	it_start(&js_cfg);
	natsConnection *nc = it_connect(NULL, NULL);
	jt_create(nc, "K", "{\"name\":\"K\",\"subjects\":[\"k.>\"],\"storage\":\"file\"}");
	natsConnection_Destroy(nc);
	struct mqi_opts keep = { .persistent = true };
	struct mqi *s = mqi_open("offline", &keep);
	mqi_sub(s, "q/#", 1);
	mqi_close(s);
	struct mqi *p = mqi_open("killpub", NULL);
	enum { N = 60 };
	int mid = 0;
	pub_nowait(p, "ret/1", "kept", 1, true);
	for (int i = 0; i < N; i++) {
		char payload[16];
		snprintf(payload, sizeof payload, "%d", i);
		pub_nowait(p, "k/x", payload, 1, false);
		mid = pub_nowait(p, "q/x", payload, 1, false);
	}
	pub_nowait(p, "ret/2", "kept2", 1, true);
	mid = pub_nowait(p, "ret/1", "", 1, true);   /* deleted again */
	wait_mid(p, mid, 10000);
	/* drop the client first (a libmosquitto thread reconnecting to a dead
	 * server is cancelled inside getaddrinfo and leaks), then kill -9 */
	mqi_kill(p);
	it_restart(true);

	nc = it_connect(NULL, NULL);
	IT_EQ_INT(jt_state(nc, "K", "messages"), N);
	natsConnection_Destroy(nc);
	s = mqi_open("offline", &keep);
	IT_EQ_INT(s->connack_flags & 1, 1);
	for (int i = 0; i < N; i++) {
		char payload[16];
		snprintf(payload, sizeof payload, "%d", i);
		mqi_expect(s, "q/x", payload, 1, false);
	}
	mqi_close(s);
	struct mqi *late = mqi_open("late", NULL);
	mqi_sub(late, "ret/#", 1);
	mqi_expect(late, "ret/2", "kept2", 1, true);
	mqi_expect_none(late, 200);
	mqi_close(late);
}

/* "mqtt" limits from the configuration reach the wire. */
static void config_limits(void)
{
	if (skip_mosquitto())
		return;
	struct it_config cfg = {
		.mqtt = true,
		.mqtt_extra = "\"max_packet_size\": 200, \"max_keepalive\": \"30s\", "
		              "\"receive_maximum\": 10, \"max_topic_aliases\": 5",
	};
	it_start(&cfg);
	struct mqi_opts v5 = { .version = 5, .keepalive = 60 };
	struct mqi *c = mqi_open("lim", &v5);
	uint32_t mps = 0;
	uint16_t ka = 0, rmax = 0, tam = 0;
	IT_CHECK(mosquitto_property_read_int32(c->connack_props, MQTT_PROP_MAXIMUM_PACKET_SIZE, &mps,
	                                       false), "no Maximum Packet Size in CONNACK");
	IT_EQ_INT(mps, 200);
	IT_CHECK(mosquitto_property_read_int16(c->connack_props, MQTT_PROP_SERVER_KEEP_ALIVE, &ka,
	                                       false), "no Server Keep Alive in CONNACK");
	IT_EQ_INT(ka, 30);
	IT_CHECK(mosquitto_property_read_int16(c->connack_props, MQTT_PROP_RECEIVE_MAXIMUM, &rmax,
	                                       false), "no Receive Maximum in CONNACK");
	IT_EQ_INT(rmax, 10);
	IT_CHECK(mosquitto_property_read_int16(c->connack_props, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, &tam,
	                                       false), "no Topic Alias Maximum in CONNACK");
	IT_EQ_INT(tam, 5);
	mqi_close(c);
	/* 3.1.1 asking for more than max_keepalive: refused (identifier
	 * rejected), as mosquitto does */
	struct mqi_opts v4 = { .keepalive = 60, .expect_refusal = true };
	c = mqi_open("lim4", &v4);
	IT_EQ_INT(c->connack_rc, 2);
	mqi_close(c);
	/* an oversize PUBLISH closes a 5.0 connection with 0x95 */
	int fd = raw_hello_v5("big", 20);
	uint8_t b[400];
	size_t n = 0;
	b[n++] = 0x30;
	b[n++] = 0x80 | (uint8_t)(300 & 0x7f);
	b[n++] = (uint8_t)(300 >> 7);
	b[n++] = 0;
	b[n++] = 1;
	b[n++] = 't';
	b[n++] = 0;   /* no properties */
	memset(b + n, 'x', 300 - 4);
	n += 300 - 4;
	it_raw_sendn(fd, b, n);
	uint8_t body[64];
	size_t len;
	int t = read_pkt(fd, body, sizeof body, &len, 5000);
	IT_CHECK(t == 0xe0 && len >= 1 && body[0] == 0x95, "expected DISCONNECT 0x95, got %#x %#x",
	         t, len ? body[0] : 0);
	it_raw_expect_closed(fd, 2000);
	close(fd);
}

/* SIGTERM: a 5.0 client is told 0x8B (server shutting down). */
static void shutdown_notice(void)
{
	if (skip_mosquitto())
		return;
	it_start(&(struct it_config){ .mqtt = true });
	int fd = raw_hello_v5("bye", 60);
	it_stop();
	uint8_t body[64];
	size_t len;
	int t = read_pkt(fd, body, sizeof body, &len, 5000);
	IT_CHECK(t == 0xe0 && len >= 1 && body[0] == 0x8b, "expected DISCONNECT 0x8B, got %#x %#x",
	         t, len ? body[0] : 0);
	close(fd);
}

IT_MAIN(IT_TEST(puback_after_stream_store), IT_TEST(puback_order), IT_TEST(stream_refusal),
        IT_TEST(durable_kill9), IT_TEST(config_limits), IT_TEST(shutdown_notice))
