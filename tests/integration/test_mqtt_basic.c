/*
 * test_mqtt_basic.c - MQTT 3.1.1 on the wire: CONNECT rules, QoS 0/1/2
 * both directions, wildcards and '$' topics, retained messages, wills,
 * keep alive, session takeover, persistent sessions and redelivery, bad
 * input, and many clients at once.
 *
 * MQTT only: every case runs against junction and, with
 * JN_TEST_SERVER=mosquitto, against mosquitto 2.0, which proves the
 * expectations are MQTT's and not junction's. Where the two brokers may
 * legitimately differ (overlapping subscriptions) the test accepts both.
 */
#include "harness.h"
#include "mqtt_it.h"

static const struct it_config mqtt_cfg = { .mqtt = true };

static void connack_and_ping(void)
{
	it_start(&mqtt_cfg);
	int fd = mqr_hello("c1", 60, true);
	mqr_expect(fd, "\x20\x02\x00\x00");
	mqr_send(fd, "\xc0\x00");
	mqr_expect(fd, "\xd0\x00");
	/* UNSUBACK even when nothing was subscribed [MQTT-3.10.4-4] */
	mqr_send(fd, "\xa2\x05\x00\x07\x00\x01x");
	mqr_expect(fd, "\xb0\x02\x00\x07");
	mqr_send(fd, "\xe0\x00");
	it_raw_expect_closed(fd, 2000);
	close(fd);
}

static void connect_refusals(void)
{
	it_start(&mqtt_cfg);
	/* protocol level 6: rc 1 (unacceptable protocol version), closed */
	int fd = mqr_connect();
	mqr_send(fd, "\x10\x0c\x00\x04MQTT\x06\x02\x00\x3c\x00\x00");
	mqr_expect(fd, "\x20\x02\x00\x01");
	it_raw_expect_closed(fd, 2000);
	close(fd);
	/* empty client id without clean session: rc 2, closed */
	fd = mqr_connect();
	mqr_send(fd, "\x10\x0c\x00\x04MQTT\x04\x00\x00\x3c\x00\x00");
	mqr_expect(fd, "\x20\x02\x00\x02");
	it_raw_expect_closed(fd, 2000);
	close(fd);
	/* empty client id with clean session: accepted */
	fd = mqr_connect();
	mqr_send(fd, "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00");
	mqr_expect(fd, "\x20\x02\x00\x00");
	close(fd);
	/* a first packet that is not CONNECT: closed without a reply */
	fd = mqr_connect();
	mqr_send(fd, "\xc0\x00");
	it_raw_expect_closed(fd, 2000);
	close(fd);
	/* a second CONNECT: closed */
	fd = mqr_hello("twice", 60, true);
	mqr_expect(fd, "\x20\x02\x00\x00");
	mqr_send(fd, "\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03two");
	it_raw_expect_closed(fd, 2000);
	close(fd);
	/* the reserved connect flag: closed */
	fd = mqr_connect();
	mqr_send(fd, "\x10\x0c\x00\x04MQTT\x04\x03\x00\x3c\x00\x00");
	it_raw_expect_closed(fd, 2000);
	close(fd);
}

static void qos_end_to_end(void)
{
	it_start(&mqtt_cfg);
	struct mqi *s0 = mqi_open("s0", NULL);
	struct mqi *s1 = mqi_open("s1", NULL);
	struct mqi *s2 = mqi_open("s2", NULL);
	struct mqi *p = mqi_open("p", NULL);
	IT_EQ_INT(mqi_sub(s0, "q/t", 0), 0);
	IT_EQ_INT(mqi_sub(s1, "q/t", 1), 1);
	IT_EQ_INT(mqi_sub(s2, "q/t", 2), 2);
	for (int q = 0; q <= 2; q++) {
		char m[8];
		snprintf(m, sizeof m, "m%d", q);
		mqi_pub(p, "q/t", m, q, false);
		/* delivered at min(published QoS, granted QoS) */
		mqi_expect(s0, "q/t", m, 0, false);
		mqi_expect(s1, "q/t", m, q < 1 ? q : 1, false);
		mqi_expect(s2, "q/t", m, q, false);
	}
	/* order is kept for one publisher, one topic, one QoS */
	for (int i = 0; i < 50; i++) {
		char m[8];
		snprintf(m, sizeof m, "%d", i);
		mqi_pub(p, "q/t", m, 1, false);
	}
	for (int i = 0; i < 50; i++) {
		char m[8];
		snprintf(m, sizeof m, "%d", i);
		mqi_expect(s1, "q/t", m, 1, false);
		mqi_expect(s2, "q/t", m, 1, false);
	}
	mqi_close(s0);
	mqi_close(s1);
	mqi_close(s2);
	mqi_close(p);
}

/* The QoS 2 exchange, byte for byte, both directions. */
static void qos2_bytes(void)
{
	it_start(&mqtt_cfg);
	int sub = mqr_hello("q2sub", 60, true);
	mqr_expect(sub, "\x20\x02\x00\x00");
	mqr_send(sub, "\x82\x08\x00\x01\x00\x03x/y\x02");
	mqr_expect(sub, "\x90\x03\x00\x01\x02");
	int pub = mqr_hello("q2pub", 60, true);
	mqr_expect(pub, "\x20\x02\x00\x00");
	mqr_send(pub, "\x34\x0a\x00\x03x/y\x00\x05hey");
	mqr_expect(pub, "\x50\x02\x00\x05");
	/* a duplicate before PUBREL is not delivered twice */
	mqr_send(pub, "\x3c\x0a\x00\x03x/y\x00\x05hey");
	mqr_expect(pub, "\x50\x02\x00\x05");
	mqr_send(pub, "\x62\x02\x00\x05");
	mqr_expect(pub, "\x70\x02\x00\x05");
	mqr_expect(sub, "\x34\x0a\x00\x03x/y\x00\x01hey");
	mqr_send(sub, "\x50\x02\x00\x01");
	mqr_expect(sub, "\x62\x02\x00\x01");
	mqr_send(sub, "\x70\x02\x00\x01");
	it_raw_expect_silence(sub, 300);
	/* QoS 1 out, byte for byte */
	mqr_send(pub, "\x32\x0a\x00\x03x/y\x00\x06one");
	mqr_expect(pub, "\x40\x02\x00\x06");
	mqr_expect(sub, "\x32\x0a\x00\x03x/y\x00\x02one");
	mqr_send(sub, "\x40\x02\x00\x02");
	close(sub);
	close(pub);
}

static void wildcards_and_dollar(void)
{
	it_start(&mqtt_cfg);
	struct mqi *all = mqi_open("all", NULL);
	struct mqi *two = mqi_open("two", NULL);
	struct mqi *sys = mqi_open("sys", NULL);
	struct mqi *parent = mqi_open("parent", NULL);
	struct mqi *p = mqi_open("p", NULL);
	mqi_sub(all, "#", 0);
	mqi_sub(two, "+/+", 0);
	mqi_sub(sys, "$test/#", 0);
	mqi_sub(parent, "sport/tennis/#", 0);
	/* [MQTT-4.7.2-1]: '$' topics are not matched by leading wildcards */
	mqi_pub(p, "$test/x", "d", 1, false);
	mqi_expect(sys, "$test/x", "d", 0, false);
	mqi_pub(p, "a/b", "ab", 1, false);
	mqi_expect(all, "a/b", "ab", 0, false);
	mqi_expect(two, "a/b", "ab", 0, false);
	/* '#' includes the parent level; '+' matches an empty level */
	mqi_pub(p, "sport/tennis", "parent", 1, false);
	mqi_expect(parent, "sport/tennis", "parent", 0, false);
	mqi_expect(all, "sport/tennis", "parent", 0, false);
	mqi_expect(two, "sport/tennis", "parent", 0, false);
	mqi_pub(p, "sport/tennis/player1/ranking", "deep", 1, false);
	mqi_expect(parent, "sport/tennis/player1/ranking", "deep", 0, false);
	mqi_expect(all, "sport/tennis/player1/ranking", "deep", 0, false);
	mqi_pub(p, "/x", "empty first level", 1, false);
	mqi_expect(two, "/x", "empty first level", 0, false);
	mqi_expect(all, "/x", "empty first level", 0, false);
	mqi_expect_none(all, 200);
	mqi_expect_none(two, 1);
	mqi_expect_none(sys, 1);
	mqi_close(all);
	mqi_close(two);
	mqi_close(sys);
	mqi_close(parent);
	mqi_close(p);
}

static void overlapping_subscriptions(void)
{
	it_start(&mqtt_cfg);
	struct mqi *s = mqi_open("over", NULL);
	struct mqi *p = mqi_open("p", NULL);
	mqi_sub(s, "o/#", 1);
	mqi_sub(s, "o/+", 2);
	mqi_pub(p, "o/x", "m", 2, false);
	/* one copy at the highest QoS (mosquitto), or one per subscription
	 * (nats-server, junction): both are allowed (3.1.1 §3.3.5) */
	struct mqi_msg *m = mqi_next(s);
	IT_EQ_STR(m->topic, "o/x");
	it_sleep_ms(300);
	pthread_mutex_lock(&s->lock);
	int extra = s->nrx - s->rhead;
	pthread_mutex_unlock(&s->lock);
	IT_CHECK(extra == 0 || extra == 1, "%d extra copies", extra);
	if (extra == 0)
		IT_EQ_INT(m->qos, 2);
	else
		IT_CHECK((m->qos == 1 && s->rx[1].qos == 2) || (m->qos == 2 && s->rx[1].qos == 1),
		         "copies at QoS %d and %d", m->qos, s->rx[1].qos);
	mqi_close(s);
	mqi_close(p);
}

static void retained_messages(void)
{
	it_start(&mqtt_cfg);
	struct mqi *p = mqi_open("p", NULL);
	struct mqi *live = mqi_open("live", NULL);
	mqi_sub(live, "r/#", 1);
	mqi_pub(p, "r/1", "one", 1, true);
	mqi_pub(p, "r/2", "two", 0, true);
	/* live copies carry RETAIN 0 */
	mqi_expect(live, "r/1", "one", 1, false);
	mqi_expect(live, "r/2", "two", 0, false);
	/* a new subscription gets them with RETAIN 1, QoS min(stored, granted) */
	struct mqi *late = mqi_open("late", NULL);
	mqi_sub(late, "r/1", 2);
	mqi_expect(late, "r/1", "one", 1, true);
	mqi_sub(late, "r/+", 0);
	struct mqi_msg *a = mqi_next(late), *b = mqi_next(late);
	if (strcmp(a->topic, "r/2") == 0) {
		struct mqi_msg *t = a;
		a = b;
		b = t;
	}
	IT_EQ_STR(a->payload, "one");
	IT_EQ_INT(a->retain, 1);
	IT_EQ_INT(a->qos, 0);
	IT_EQ_STR(b->payload, "two");
	IT_EQ_INT(b->retain, 1);
	/* replaced by the next retained publish */
	mqi_pub(p, "r/1", "uno", 1, true);
	mqi_expect(live, "r/1", "uno", 1, false);
	/* an empty payload deletes it; it is still delivered live */
	mqi_pub(p, "r/2", "", 1, true);
	mqi_expect(live, "r/2", "", 1, false);
	struct mqi *later = mqi_open("later", NULL);
	mqi_sub(later, "r/#", 1);
	mqi_expect(later, "r/1", "uno", 1, true);
	mqi_expect_none(later, 300);
	/* a publish without RETAIN leaves the retained message alone */
	mqi_pub(p, "r/1", "not kept", 0, false);
	struct mqi *last = mqi_open("last", NULL);
	mqi_sub(last, "r/1", 0);
	mqi_expect(last, "r/1", "uno", 0, true);
	mqi_close(p);
	mqi_close(live);
	mqi_close(late);
	mqi_close(later);
	mqi_close(last);
}

static void unsubscribe_stops(void)
{
	it_start(&mqtt_cfg);
	struct mqi *s = mqi_open("s", NULL);
	struct mqi *p = mqi_open("p", NULL);
	mqi_sub(s, "u/+", 1);
	mqi_pub(p, "u/1", "a", 1, false);
	mqi_expect(s, "u/1", "a", 1, false);
	mqi_unsub(s, "u/#");   /* not the same filter: nothing removed */
	mqi_pub(p, "u/1", "b", 1, false);
	mqi_expect(s, "u/1", "b", 1, false);
	mqi_unsub(s, "u/+");
	mqi_pub(p, "u/1", "c", 1, false);
	mqi_expect_none(s, 300);
	mqi_close(s);
	mqi_close(p);
}

static void will_messages(void)
{
	it_start(&mqtt_cfg);
	struct mqi *w = mqi_open("watcher", NULL);
	mqi_sub(w, "will/#", 1);
	struct mqi_opts o = { .will_topic = "will/a", .will_payload = "a died", .will_qos = 1 };
	struct mqi *a = mqi_open("a", &o);
	mqi_kill(a);   /* no DISCONNECT */
	mqi_expect(w, "will/a", "a died", 1, false);
	o.will_topic = "will/b";
	o.will_payload = "b died";
	struct mqi *b = mqi_open("b", &o);
	mqi_close(b);   /* DISCONNECT: the will is discarded */
	mqi_expect_none(w, 500);
	/* a retained will is kept */
	o.will_topic = "will/c";
	o.will_payload = "c died";
	o.will_retain = true;
	struct mqi *c = mqi_open("c", &o);
	mqi_kill(c);
	mqi_expect(w, "will/c", "c died", 1, false);
	struct mqi *late = mqi_open("late", NULL);
	mqi_sub(late, "will/c", 1);
	mqi_expect(late, "will/c", "c died", 1, true);
	mqi_close(w);
	mqi_close(late);
}

static void will_on_protocol_error(void)
{
	it_start(&mqtt_cfg);
	struct mqi *w = mqi_open("watcher", NULL);
	mqi_sub(w, "will/#", 0);
	int fd = mqr_connect();
	/* CONNECT with will "will/x" = "bad", QoS 0 */
	mqr_send(fd, "\x10\x1a\x00\x04MQTT\x04\x06\x00\x3c\x00\x01z\x00\x06will/x\x00\x03"
	             "bad");
	mqr_expect(fd, "\x20\x02\x00\x00");
	mqr_send(fd, "\x32\x03\x00\x01q");   /* QoS 1 PUBLISH without packet id */
	it_raw_expect_closed(fd, 2000);
	close(fd);
	mqi_expect(w, "will/x", "bad", 0, false);
	mqi_close(w);
}

static void keep_alive_timeout(void)
{
	it_start(&mqtt_cfg);
	int fd = mqr_hello("ka", 1, true);
	mqr_expect(fd, "\x20\x02\x00\x00");
	int64_t t0 = it_now_ms();
	it_raw_expect_closed(fd, 8000);
	int64_t took = it_now_ms() - t0;
	/* [MQTT-3.1.2-24]: after 1.5 x keep alive, never before the keep alive
	 * itself. mosquitto 2.0.11 checks keep alives coarsely and closes
	 * after about 4.8 s here (observed), later than the spec says; the
	 * bound is the spec's for junction. */
	int64_t upper = it_is_mosquitto() ? 6000 : 2600;
	IT_CHECK(took >= 1000 && took <= upper, "closed after %lld ms", (long long)took);
	close(fd);
	/* PINGREQs keep it open */
	fd = mqr_hello("ka2", 1, true);
	mqr_expect(fd, "\x20\x02\x00\x00");
	for (int i = 0; i < 4; i++) {
		it_sleep_ms(700);
		mqr_send(fd, "\xc0\x00");
		mqr_expect(fd, "\xd0\x00");
	}
	close(fd);
}

static void session_takeover(void)
{
	it_start(&mqtt_cfg);
	int a = mqr_hello("same", 60, true);
	mqr_expect(a, "\x20\x02\x00\x00");
	int b = mqr_hello("same", 60, true);
	mqr_expect(b, "\x20\x02\x00\x00");
	/* [MQTT-3.1.4-2]: the old connection is closed */
	it_raw_expect_closed(a, 2000);
	close(a);
	mqr_send(b, "\xc0\x00");
	mqr_expect(b, "\xd0\x00");
	close(b);
}

static void persistent_session(void)
{
	it_start(&mqtt_cfg);
	struct mqi_opts keep = { .persistent = true };
	struct mqi *s = mqi_open("keeper", &keep);
	IT_EQ_INT(s->connack_flags & 1, 0);   /* no session yet */
	mqi_sub(s, "k/#", 1);
	mqi_close(s);
	struct mqi *p = mqi_open("p", NULL);
	mqi_pub(p, "k/1", "queued 1", 1, false);
	mqi_pub(p, "k/0", "not queued", 0, false);
	mqi_pub(p, "k/2", "queued 2", 2, false);
	s = mqi_open("keeper", &keep);
	IT_EQ_INT(s->connack_flags & 1, 1);   /* session present */
	mqi_expect(s, "k/1", "queued 1", 1, false);
	mqi_expect(s, "k/2", "queued 2", 1, false);
	mqi_expect_none(s, 300);
	/* the subscription survived */
	mqi_pub(p, "k/3", "live", 1, false);
	mqi_expect(s, "k/3", "live", 1, false);
	mqi_close(s);
	/* clean session: the stored session goes */
	s = mqi_open("keeper", NULL);
	IT_EQ_INT(s->connack_flags & 1, 0);
	mqi_pub(p, "k/4", "nobody", 1, false);
	mqi_expect_none(s, 300);
	mqi_close(s);
	s = mqi_open("keeper", &keep);
	IT_EQ_INT(s->connack_flags & 1, 0);
	mqi_close(s);
	mqi_close(p);
}

/* Unacknowledged QoS 1 is sent again with DUP on reconnect, same pid. */
static void redelivery_on_reconnect(void)
{
	it_start(&mqtt_cfg);
	int s = mqr_hello("redo", 60, false);
	mqr_expect(s, "\x20\x02\x00\x00");
	mqr_send(s, "\x82\x08\x00\x01\x00\x03r/d\x01");
	mqr_expect(s, "\x90\x03\x00\x01\x01");
	struct mqi *p = mqi_open("p", NULL);
	mqi_pub(p, "r/d", "again", 1, false);
	mqr_expect(s, "\x32\x0c\x00\x03r/d\x00\x01" "again");
	close(s);   /* no PUBACK */
	it_sleep_ms(200);
	s = mqr_hello("redo", 60, false);
	mqr_expect(s, "\x20\x02\x01\x00");
	mqr_expect(s, "\x3a\x0c\x00\x03r/d\x00\x01" "again");
	mqr_send(s, "\x40\x02\x00\x01");
	it_raw_expect_silence(s, 300);
	close(s);
	/* acknowledged: not sent again */
	s = mqr_hello("redo", 60, false);
	mqr_expect(s, "\x20\x02\x01\x00");
	it_raw_expect_silence(s, 300);
	close(s);
	mqi_close(p);
}

/* A QoS 2 message whose PUBREC came but not the PUBCOMP: PUBREL again. */
static void pubrel_on_reconnect(void)
{
	it_start(&mqtt_cfg);
	int s = mqr_hello("rel", 60, false);
	mqr_expect(s, "\x20\x02\x00\x00");
	mqr_send(s, "\x82\x08\x00\x01\x00\x03r/e\x02");
	mqr_expect(s, "\x90\x03\x00\x01\x02");
	struct mqi *p = mqi_open("p", NULL);
	mqi_pub(p, "r/e", "two", 2, false);
	mqr_expect(s, "\x34\x0a\x00\x03r/e\x00\x01two");
	mqr_send(s, "\x50\x02\x00\x01");
	mqr_expect(s, "\x62\x02\x00\x01");
	close(s);   /* no PUBCOMP */
	it_sleep_ms(200);
	s = mqr_hello("rel", 60, false);
	mqr_expect(s, "\x20\x02\x01\x00");
	mqr_expect(s, "\x62\x02\x00\x01");
	mqr_send(s, "\x70\x02\x00\x01");
	it_raw_expect_silence(s, 300);
	close(s);
	mqi_close(p);
}

/* A malformed packet, an oversized length, a protocol violation: each
 * closes its own connection and nothing else. */
static void bad_input_isolated(void)
{
	it_start(&mqtt_cfg);
	struct mqi *good = mqi_open("good", NULL);
	mqi_sub(good, "g", 1);
	static const struct { const char *b; size_t n; } bad[] = {
		{ "\x32\x03\x00\x01q", 5 },                 /* QoS 1 without packet id */
		{ "\x36\x05\x00\x01q\x00\x01", 7 },         /* QoS 3 */
		{ "\x30\xff\xff\xff\xff\x7f", 6 },          /* 5-byte remaining length */
		{ "\x82\x06\x00\x01\x00\x01q\x03", 8 },     /* SUBSCRIBE QoS 3 */
		{ "\x60\x02\x00\x01", 4 },                  /* PUBREL with flags 0000 */
		{ "\x00\x00", 2 },                          /* reserved type */
		{ "\x30\x04\x00\x02\xc3\x28", 6 },          /* topic not UTF-8 */
		{ "\x82\x02\x00\x01", 4 },                  /* SUBSCRIBE without filters */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char id[16];
		snprintf(id, sizeof id, "bad%zu", i);
		int fd = mqr_hello(id, 60, true);
		mqr_expect(fd, "\x20\x02\x00\x00");
		it_raw_sendn(fd, bad[i].b, bad[i].n);
		it_raw_expect_closed(fd, 2000);
		close(fd);
		struct mqi *p = mqi_open("p", NULL);
		mqi_pub(p, "g", id, 1, false);
		mqi_expect(good, "g", id, 1, false);
		mqi_close(p);
	}
	mqi_close(good);
}

/* 200 clients at once: each gets its own messages and the broadcast. */
static void many_clients(void)
{
	it_start(&mqtt_cfg);
	enum { N = 200 };
	static struct mqi *c[N];
	for (int i = 0; i < N; i++) {
		char id[16], t[16];
		snprintf(id, sizeof id, "c%d", i);
		snprintf(t, sizeof t, "own/%d", i);
		c[i] = mqi_open(id, NULL);
		mqi_sub(c[i], t, 1);
		mqi_sub(c[i], "all", 0);
	}
	struct mqi *p = mqi_open("p", NULL);
	mqi_pub(p, "all", "broadcast", 0, false);
	for (int i = 0; i < N; i++) {
		char t[16], m[16];
		snprintf(t, sizeof t, "own/%d", i);
		snprintf(m, sizeof m, "to %d", i);
		mqi_pub(c[(i + 1) % N], t, m, 1, false);
	}
	for (int i = 0; i < N; i++) {
		char t[16], m[16];
		snprintf(t, sizeof t, "own/%d", i);
		snprintf(m, sizeof m, "to %d", i);
		mqi_expect(c[i], "all", "broadcast", 0, false);
		mqi_expect(c[i], t, m, 1, false);
	}
	for (int i = 0; i < N; i++)
		mqi_close(c[i]);
	mqi_close(p);
}

IT_MAIN(IT_TEST(connack_and_ping), IT_TEST(connect_refusals), IT_TEST(qos_end_to_end),
        IT_TEST(qos2_bytes), IT_TEST(wildcards_and_dollar), IT_TEST(overlapping_subscriptions),
        IT_TEST(retained_messages), IT_TEST(unsubscribe_stops), IT_TEST(will_messages),
        IT_TEST(will_on_protocol_error), IT_TEST(keep_alive_timeout), IT_TEST(session_takeover),
        IT_TEST(persistent_session), IT_TEST(redelivery_on_reconnect),
        IT_TEST(pubrel_on_reconnect), IT_TEST(bad_input_isolated), IT_TEST_T(many_clients, 120))
