/*
 * test_mqtt_v5.c - MQTT 5.0: reason codes on acknowledgements, properties
 * carried from publisher to subscriber, subscription options (no local,
 * retain as published, retain handling, subscription identifiers), shared
 * subscriptions, topic aliases, message and session expiry, will delay,
 * Receive Maximum, the client's Maximum Packet Size, and the server's
 * DISCONNECT reasons.
 *
 * MQTT only: runs against junction and mosquitto 2.0.
 */
#include "harness.h"
#include "mqtt_it.h"

static const struct it_config mqtt_cfg = { .mqtt = true };
static const struct mqi_opts v5 = { .version = 5 };

static struct mqi *open5(const char *id)
{
	struct mqi_opts o = v5;
	return mqi_open(id, &o);
}

static void connack_and_assigned_id(void)
{
	it_start(&mqtt_cfg);
	struct mqi_opts o = v5;
	struct mqi *c = mqi_open(NULL, &o);   /* empty client id */
	char *id = NULL;
	IT_CHECK(mosquitto_property_read_string(c->connack_props, MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER,
	                                        &id, false) != NULL,
	         "no Assigned Client Identifier");
	IT_CHECK(strlen(id) > 0, "empty assigned id");
	free(id);
	mqi_close(c);
	/* raw: CONNACK reason 0, then properties */
	int fd = mqr_connect();
	mqr_send(fd, "\x10\x0f\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x02v5");
	mqr_expect(fd, "\x20");
	unsigned char len;
	IT_CHECK(recv(fd, &len, 1, MSG_WAITALL) == 1, "short CONNACK");
	unsigned char rest[128];
	IT_CHECK(len >= 3 && recv(fd, rest, len, MSG_WAITALL) == len, "CONNACK body");
	IT_EQ_INT(rest[0], 0);   /* no session present */
	IT_EQ_INT(rest[1], 0);   /* success */
	IT_EQ_INT(rest[2], len - 3);   /* property length */
	close(fd);
}

static void puback_reason_codes(void)
{
	it_start(&mqtt_cfg);
	struct mqi *p = open5("p");
	/* nobody subscribed: 0x10 No matching subscribers (still accepted) */
	IT_EQ_INT(mqi_pub(p, "nobody/here", "x", 1, false), 0x10);
	/* QoS 2: the PUBREC says it (libmosquitto reports the PUBCOMP, so raw) */
	int fd = mqr_connect();
	mqr_send(fd, "\x10\x0f\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x02q2");
	unsigned char h[2], rest[128];
	IT_CHECK(recv(fd, h, 2, MSG_WAITALL) == 2 && h[0] == 0x20, "CONNACK");
	IT_CHECK(recv(fd, rest, h[1], MSG_WAITALL) == h[1] && rest[1] == 0, "CONNACK body");
	mqr_send(fd, "\x34\x0b\x00\x05" "nob/x" "\x00\x09\x00" "z");
	/* 0x10 is optional (a MAY); mosquitto 2.0.11 says it in PUBACK only
	 * (observed), junction in PUBREC too */
	if (it_is_mosquitto())
		mqr_expect(fd, "\x50\x02\x00\x09");
	else
		mqr_expect(fd, "\x50\x03\x00\x09\x10");
	mqr_send(fd, "\x62\x02\x00\x09");
	mqr_expect(fd, "\x70\x02\x00\x09");
	close(fd);
	struct mqi *s = open5("s");
	mqi_sub(s, "somebody", 0);
	IT_EQ_INT(mqi_pub(p, "somebody", "x", 1, false), 0);
	mqi_expect(s, "somebody", "x", 0, false);
	mqi_close(p);
	mqi_close(s);
}

static void properties_forwarded(void)
{
	it_start(&mqtt_cfg);
	struct mqi *s = open5("s");
	mqi_sub(s, "props/#", 1);
	struct mqi *p = open5("p");
	mosquitto_property *pr = NULL;
	mosquitto_property_add_string_pair(&pr, MQTT_PROP_USER_PROPERTY, "k1", "v1");
	mosquitto_property_add_string_pair(&pr, MQTT_PROP_USER_PROPERTY, "k2", "v 2");
	mosquitto_property_add_string(&pr, MQTT_PROP_CONTENT_TYPE, "application/json");
	mosquitto_property_add_string(&pr, MQTT_PROP_RESPONSE_TOPIC, "reply/to/me");
	mosquitto_property_add_binary(&pr, MQTT_PROP_CORRELATION_DATA, "\x00\x01\xfe", 3);
	mosquitto_property_add_byte(&pr, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1);
	mqi_pub_props(p, "props/a", "{}", 1, false, pr);
	struct mqi_msg *m = mqi_next(s);
	IT_EQ_STR(m->topic, "props/a");
	char *k = NULL, *v = NULL;
	const mosquitto_property *at = mosquitto_property_read_string_pair(m->props,
	                                   MQTT_PROP_USER_PROPERTY, &k, &v, false);
	IT_CHECK(at != NULL, "no user property");
	IT_EQ_STR(k, "k1");
	IT_EQ_STR(v, "v1");
	free(k);
	free(v);
	at = mosquitto_property_read_string_pair(at, MQTT_PROP_USER_PROPERTY, &k, &v, true);
	IT_CHECK(at != NULL, "no second user property");
	IT_EQ_STR(k, "k2");
	IT_EQ_STR(v, "v 2");
	free(k);
	free(v);
	char *ct = NULL, *rt = NULL;
	IT_CHECK(mosquitto_property_read_string(m->props, MQTT_PROP_CONTENT_TYPE, &ct, false),
	         "no content type");
	IT_EQ_STR(ct, "application/json");
	IT_CHECK(mosquitto_property_read_string(m->props, MQTT_PROP_RESPONSE_TOPIC, &rt, false),
	         "no response topic");
	IT_EQ_STR(rt, "reply/to/me");
	free(ct);
	free(rt);
	void *cd = NULL;
	uint16_t cdl = 0;
	IT_CHECK(mosquitto_property_read_binary(m->props, MQTT_PROP_CORRELATION_DATA, &cd, &cdl, false),
	         "no correlation data");
	IT_EQ_INT(cdl, 3);
	IT_CHECK(memcmp(cd, "\x00\x01\xfe", 3) == 0, "correlation data differs");
	free(cd);
	uint8_t pfi = 0;
	IT_CHECK(mosquitto_property_read_byte(m->props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, &pfi, false),
	         "no payload format indicator");
	IT_EQ_INT(pfi, 1);
	mqi_close(s);
	mqi_close(p);
}

static void no_local_and_retain_as_published(void)
{
	it_start(&mqtt_cfg);
	struct mqi *c = open5("self");
	mqi_sub_opts(c, "nl", 0, MQTT_SUB_OPT_NO_LOCAL, NULL);
	mqi_pub(c, "nl", "mine", 1, false);
	mqi_expect_none(c, 300);
	struct mqi *o = open5("other");
	mqi_pub(o, "nl", "theirs", 1, false);
	mqi_expect(c, "nl", "theirs", 0, false);
	/* retain as published: live copies keep RETAIN */
	mqi_sub_opts(c, "rap", 0, MQTT_SUB_OPT_RETAIN_AS_PUBLISHED, NULL);
	mqi_sub(o, "rap", 0);
	mqi_pub(o, "rap", "r", 0, true);
	mqi_expect(c, "rap", "r", 0, true);
	mqi_expect(o, "rap", "r", 0, false);
	mqi_close(c);
	mqi_close(o);
}

static void retain_handling(void)
{
	it_start(&mqtt_cfg);
	struct mqi *p = open5("p");
	/* QoS 1: the PUBACK says the retained message is stored; at QoS 0 the
	 * SUBSCRIBE below could overtake it and get it live */
	mqi_pub(p, "rh/x", "kept", 1, true);
	struct mqi *c = open5("c");
	/* 2: never at subscribe */
	mqi_sub_opts(c, "rh/#", 0, MQTT_SUB_OPT_SEND_RETAIN_NEVER, NULL);
	mqi_expect_none(c, 300);
	/* 1: only when the subscription is new (this one exists already) */
	mqi_sub_opts(c, "rh/#", 0, MQTT_SUB_OPT_SEND_RETAIN_NEW, NULL);
	mqi_expect_none(c, 300);
	mqi_sub_opts(c, "rh/+", 0, MQTT_SUB_OPT_SEND_RETAIN_NEW, NULL);
	mqi_expect(c, "rh/x", "kept", 0, true);
	/* 0: every time */
	mqi_sub_opts(c, "rh/+", 0, MQTT_SUB_OPT_SEND_RETAIN_ALWAYS, NULL);
	mqi_expect(c, "rh/x", "kept", 0, true);
	mqi_close(c);
	mqi_close(p);
}

static void subscription_identifiers(void)
{
	it_start(&mqtt_cfg);
	struct mqi *c = open5("c");
	mosquitto_property *pr = NULL;
	mosquitto_property_add_varint(&pr, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, 42);
	mqi_sub_opts(c, "sid/#", 0, 0, pr);
	struct mqi *p = open5("p");
	mqi_pub(p, "sid/x", "i", 0, false);
	struct mqi_msg *m = mqi_next(c);
	uint32_t id = 0;
	IT_CHECK(mosquitto_property_read_varint(m->props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, &id, false),
	         "no subscription identifier");
	IT_EQ_INT(id, 42);
	mqi_close(c);
	mqi_close(p);
}

static void shared_subscriptions(void)
{
	it_start(&mqtt_cfg);
	struct mqi *a = open5("a");
	struct mqi *b = open5("b");
	struct mqi *solo = open5("solo");
	mqi_sub(a, "$share/g/work/+", 0);
	mqi_sub(b, "$share/g/work/+", 0);
	mqi_sub(solo, "work/+", 0);
	struct mqi *p = open5("p");
	enum { N = 40 };
	for (int i = 0; i < N; i++)
		mqi_pub(p, "work/x", "job", 1, false);
	for (int i = 0; i < N; i++)
		mqi_expect(solo, "work/x", "job", 0, false);
	it_sleep_ms(300);
	pthread_mutex_lock(&a->lock);
	int na = a->nrx;
	pthread_mutex_unlock(&a->lock);
	pthread_mutex_lock(&b->lock);
	int nb = b->nrx;
	pthread_mutex_unlock(&b->lock);
	/* each message to exactly one member of the group */
	IT_EQ_INT(na + nb, N);
	IT_CHECK(na > 0 && nb > 0, "split %d/%d", na, nb);
	mqi_close(a);
	mqi_close(b);
	mqi_close(solo);
	mqi_close(p);
}

static void topic_alias_in(void)
{
	it_start(&mqtt_cfg);
	struct mqi *s = open5("s");
	mqi_sub(s, "alias/t", 0);
	int fd = mqr_connect();
	mqr_send(fd, "\x10\x0f\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x02ta");
	unsigned char h[2];
	IT_CHECK(recv(fd, h, 2, MSG_WAITALL) == 2 && h[0] == 0x20, "CONNACK");
	unsigned char rest[128];
	IT_CHECK(recv(fd, rest, h[1], MSG_WAITALL) == h[1] && rest[1] == 0, "CONNACK body");
	/* PUBLISH "alias/t" setting alias 1, then one with an empty topic */
	mqr_send(fd, "\x30\x0f\x00\x07" "alias/t" "\x03\x23\x00\x01" "m1");
	mqr_send(fd, "\x30\x08\x00\x00\x03\x23\x00\x01" "m2");
	mqi_expect(s, "alias/t", "m1", 0, false);
	mqi_expect(s, "alias/t", "m2", 0, false);
	/* an alias that was never set: protocol error, DISCONNECT 0x82 */
	mqr_send(fd, "\x30\x08\x00\x00\x03\x23\x00\x02" "m3");
	mqr_expect(fd, "\xe0\x01\x82");
	it_raw_expect_closed(fd, 2000);
	close(fd);
	mqi_close(s);
}

static void message_expiry(void)
{
	it_start(&mqtt_cfg);
	struct mqi_opts o = v5;
	o.persistent = true;
	mosquitto_property_add_int32(&o.connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 300);
	struct mqi *s = mqi_open("exp", &o);
	mqi_sub(s, "e/#", 1);
	mqi_close(s);
	struct mqi *p = open5("p");
	mosquitto_property *pr = NULL;
	mosquitto_property_add_int32(&pr, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, 1);
	mqi_pub_props(p, "e/short", "gone", 1, false, pr);
	pr = NULL;
	mosquitto_property_add_int32(&pr, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, 100);
	mqi_pub_props(p, "e/long", "kept", 1, false, pr);
	it_sleep_ms(2200);
	o = v5;
	o.persistent = true;
	mosquitto_property_add_int32(&o.connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 300);
	s = mqi_open("exp", &o);
	IT_EQ_INT(s->connack_flags & 1, 1);
	struct mqi_msg *m = mqi_next(s);
	IT_EQ_STR(m->topic, "e/long");
	uint32_t left = 0;
	IT_CHECK(mosquitto_property_read_int32(m->props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, &left, false),
	         "no message expiry on delivery");
	/* what is left of the interval, not the interval */
	IT_CHECK(left >= 95 && left <= 99, "expiry %u", left);
	mqi_expect_none(s, 200);
	mqi_close(s);
	mqi_close(p);
}

static void session_expiry(void)
{
	it_start(&mqtt_cfg);
	struct mqi_opts o = v5;
	o.persistent = true;
	mosquitto_property_add_int32(&o.connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 1);
	struct mqi *s = mqi_open("short", &o);
	mqi_sub(s, "se", 1);
	mqi_close(s);
	/* the default expiry 0: the session ends with the connection */
	o = v5;
	o.persistent = true;
	struct mqi *z = mqi_open("zero", &o);
	mqi_sub(z, "se", 1);
	mqi_close(z);
	o = v5;
	o.persistent = true;
	mosquitto_property_add_int32(&o.connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 100);
	z = mqi_open("zero", &o);
	IT_EQ_INT(z->connack_flags & 1, 0);
	mqi_close(z);
	/* back within the interval: session present */
	o = v5;
	o.persistent = true;
	mosquitto_property_add_int32(&o.connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 1);
	s = mqi_open("short", &o);
	IT_EQ_INT(s->connack_flags & 1, 1);
	mqi_close(s);
	/* after it: gone (mosquitto checks expiry on its own coarse timer) */
	it_sleep_ms(it_is_mosquitto() ? 4000 : 2500);
	o = v5;
	o.persistent = true;
	s = mqi_open("short", &o);
	IT_EQ_INT(s->connack_flags & 1, 0);
	mqi_close(s);
}

static void will_delay(void)
{
	it_start(&mqtt_cfg);
	struct mqi *w = open5("watch");
	mqi_sub(w, "wd/#", 0);
	struct mqi_opts o = v5;
	o.persistent = true;
	o.will_topic = "wd/x";
	o.will_payload = "late";
	mosquitto_property_add_int32(&o.connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 60);
	mosquitto_property_add_int32(&o.will_props, MQTT_PROP_WILL_DELAY_INTERVAL, 2);
	struct mqi *c = mqi_open("delayed", &o);
	int64_t t0 = it_now_ms();
	mqi_kill(c);
	mqi_expect_none(w, 1000);   /* not at once */
	struct mqi_msg *m = mqi_next_at(__FILE__, __LINE__, w, 4000);
	int64_t took = it_now_ms() - t0;
	IT_EQ_STR(m->topic, "wd/x");
	IT_EQ_STR(m->payload, "late");
	IT_CHECK(took >= 1500 && took <= 4500, "will after %lld ms", (long long)took);
	/* a client back within the delay cancels it */
	o = v5;
	o.persistent = true;
	o.will_topic = "wd/y";
	o.will_payload = "cancelled";
	mosquitto_property_add_int32(&o.connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 60);
	mosquitto_property_add_int32(&o.will_props, MQTT_PROP_WILL_DELAY_INTERVAL, 2);
	c = mqi_open("delayed2", &o);
	mqi_kill(c);
	o = v5;
	o.persistent = true;
	mosquitto_property_add_int32(&o.connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 60);
	c = mqi_open("delayed2", &o);
	mqi_expect_none(w, 3000);
	mqi_close(c);
	mqi_close(w);
}

/* Receive Maximum 2: never more than two QoS 1 messages unacknowledged. */
static void receive_maximum(void)
{
	it_start(&mqtt_cfg);
	int fd = mqr_connect();
	mqr_send(fd, "\x10\x12\x00\x04MQTT\x05\x02\x00\x3c\x03\x21\x00\x02\x00\x02rm");
	unsigned char h[2];
	IT_CHECK(recv(fd, h, 2, MSG_WAITALL) == 2 && h[0] == 0x20, "CONNACK");
	unsigned char rest[128];
	IT_CHECK(recv(fd, rest, h[1], MSG_WAITALL) == h[1] && rest[1] == 0, "CONNACK body");
	mqr_send(fd, "\x82\x08\x00\x01\x00\x00\x02rm\x01");
	mqr_expect(fd, "\x90\x04\x00\x01\x00\x01");
	struct mqi *p = open5("p");
	mqi_pub(p, "rm", "1", 1, false);
	mqi_pub(p, "rm", "2", 1, false);
	mqi_pub(p, "rm", "3", 1, false);
	mqr_expect(fd, "\x32\x08\x00\x02rm\x00\x01\x00" "1");
	mqr_expect(fd, "\x32\x08\x00\x02rm\x00\x02\x00" "2");
	it_raw_expect_silence(fd, 300);
	mqr_send(fd, "\x40\x02\x00\x01");
	mqr_expect(fd, "\x32\x08\x00\x02rm\x00\x03\x00" "3");
	close(fd);
	mqi_close(p);
}

/* Maximum Packet Size from the client: larger messages are not sent. */
static void client_maximum_packet_size(void)
{
	it_start(&mqtt_cfg);
	int fd = mqr_connect();
	mqr_send(fd, "\x10\x14\x00\x04MQTT\x05\x02\x00\x3c\x05\x27\x00\x00\x00\x14\x00\x02mp");
	unsigned char h[2];
	IT_CHECK(recv(fd, h, 2, MSG_WAITALL) == 2 && h[0] == 0x20, "CONNACK");
	unsigned char rest[128];
	IT_CHECK(recv(fd, rest, h[1], MSG_WAITALL) == h[1] && rest[1] == 0, "CONNACK body");
	mqr_send(fd, "\x82\x08\x00\x01\x00\x00\x02mp\x00");
	mqr_expect(fd, "\x90\x04\x00\x01\x00\x00");
	struct mqi *p = open5("p");
	mqi_pub(p, "mp", "this payload makes the packet longer than twenty bytes", 0, false);
	mqi_pub(p, "mp", "small", 0, false);
	mqr_expect(fd, "\x30\x0a\x00\x02mp\x00" "small");
	close(fd);
	mqi_close(p);
}

static void takeover_reason(void)
{
	it_start(&mqtt_cfg);
	int a = mqr_connect();
	mqr_send(a, "\x10\x0f\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x02to");
	unsigned char h[2];
	IT_CHECK(recv(a, h, 2, MSG_WAITALL) == 2 && h[0] == 0x20, "CONNACK");
	unsigned char rest[128];
	IT_CHECK(recv(a, rest, h[1], MSG_WAITALL) == h[1], "CONNACK body");
	struct mqi *b = mqi_open("to", &v5);
	/* the old connection is told: DISCONNECT 0x8E Session taken over
	 * (5.0 §3.1.4). mosquitto 2.0.11 only closes it (observed). */
	if (!it_is_mosquitto())
		mqr_expect(a, "\xe0\x01\x8e");
	it_raw_expect_closed(a, 2000);
	close(a);
	mqi_close(b);
}

static void unsuback_reasons(void)
{
	it_start(&mqtt_cfg);
	int fd = mqr_connect();
	mqr_send(fd, "\x10\x0f\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x02us");
	unsigned char h[2];
	IT_CHECK(recv(fd, h, 2, MSG_WAITALL) == 2 && h[0] == 0x20, "CONNACK");
	unsigned char rest[128];
	IT_CHECK(recv(fd, rest, h[1], MSG_WAITALL) == h[1], "CONNACK body");
	mqr_send(fd, "\x82\x08\x00\x01\x00\x00\x02us\x00");
	mqr_expect(fd, "\x90\x04\x00\x01\x00\x00");
	/* one existed, one did not */
	mqr_send(fd, "\xa2\x0b\x00\x02\x00\x00\x02us\x00\x02no");
	mqr_expect(fd, "\xb0\x05\x00\x02\x00\x00\x11");
	close(fd);
}

IT_MAIN(IT_TEST(connack_and_assigned_id), IT_TEST(puback_reason_codes),
        IT_TEST(properties_forwarded), IT_TEST(no_local_and_retain_as_published),
        IT_TEST(retain_handling), IT_TEST(subscription_identifiers),
        IT_TEST(shared_subscriptions), IT_TEST(topic_alias_in), IT_TEST(message_expiry),
        IT_TEST(session_expiry), IT_TEST(will_delay), IT_TEST(receive_maximum),
        IT_TEST(client_maximum_packet_size), IT_TEST(takeover_reason), IT_TEST(unsuback_reasons))
