/*
 * test_mqtt_nats.c - one message space for MQTT and NATS clients: an MQTT
 * publish reaches NATS subscribers of the mapped subject and its
 * wildcards, a NATS publish reaches MQTT filters, NATS users and
 * permissions apply to MQTT, MQTT 5 properties and NATS headers carry
 * over, request/reply works across, and MQTT shared subscriptions are
 * NATS queue groups. Junction only (libnats + libmosquitto): mosquitto has
 * no NATS side, and nats-server 2.9 has no MQTT 5.
 */
#include "harness.h"
#include "mqtt_it.h"

static const struct it_config mqtt_cfg = { .mqtt = true };

static natsMsg *next_msg(natsSubscription *s)
{
	natsMsg *m = NULL;
	IT_OK(natsSubscription_NextMsg(&m, s, 5000));
	return m;
}

static void expect_no_msg(natsSubscription *s, int ms)
{
	natsMsg *m = NULL;
	natsStatus st = natsSubscription_NextMsg(&m, s, ms);
	if (st == NATS_OK) {
		char subj[128];
		snprintf(subj, sizeof subj, "%s", natsMsg_GetSubject(m));
		natsMsg_Destroy(m);
		it_fail(__FILE__, __LINE__, "unexpected NATS message on %s", subj);
	}
	IT_EQ_INT(st, NATS_TIMEOUT);
}

static void mqtt_to_nats(void)
{
	it_start(&mqtt_cfg);
	natsConnection *nc = it_connect(NULL, NULL);
	natsSubscription *exact, *star, *full, *other;
	IT_OK(natsConnection_SubscribeSync(&exact, nc, "sensors.kitchen.temp"));
	IT_OK(natsConnection_SubscribeSync(&star, nc, "sensors.*.temp"));
	IT_OK(natsConnection_SubscribeSync(&full, nc, "sensors.>"));
	IT_OK(natsConnection_SubscribeSync(&other, nc, "sensors.*.hum"));
	IT_OK(natsConnection_Flush(nc));
	struct mqi *p = mqi_open("p", NULL);
	mqi_pub(p, "sensors/kitchen/temp", "21.5", 1, false);
	natsSubscription *subs[] = { exact, star, full };
	for (int i = 0; i < 3; i++) {
		natsMsg *m = next_msg(subs[i]);
		IT_EQ_STR(natsMsg_GetSubject(m), "sensors.kitchen.temp");
		IT_EQ_STR(natsMsg_GetData(m), "21.5");
		/* nats-server's header: the MQTT QoS */
		const char *q = NULL;
		IT_OK(natsMsgHeader_Get(m, "Nmqtt-Pub", &q));
		IT_EQ_STR(q, "1");
		natsMsg_Destroy(m);
	}
	expect_no_msg(other, 200);
	/* QoS 0, and the mapping of empty levels and dots */
	natsSubscription *dots;
	IT_OK(natsConnection_SubscribeSync(&dots, nc, "v1//2.x./"));
	IT_OK(natsConnection_Flush(nc));
	mqi_pub(p, "v1.2/x/", "d", 0, false);
	natsMsg *m = next_msg(dots);
	IT_EQ_STR(natsMsg_GetData(m), "d");
	natsMsg_Destroy(m);
	mqi_close(p);
	natsSubscription_Destroy(exact);
	natsSubscription_Destroy(star);
	natsSubscription_Destroy(full);
	natsSubscription_Destroy(other);
	natsSubscription_Destroy(dots);
	natsConnection_Destroy(nc);
}

static void nats_to_mqtt(void)
{
	it_start(&mqtt_cfg);
	struct mqi *plus = mqi_open("plus", NULL);
	struct mqi *hash = mqi_open("hash", NULL);
	struct mqi *all = mqi_open("all", NULL);
	mqi_sub(plus, "sensors/+/temp", 1);
	mqi_sub(hash, "sensors/#", 2);
	mqi_sub(all, "#", 0);
	natsConnection *nc = it_connect(NULL, NULL);
	IT_OK(natsConnection_PublishString(nc, "sensors.hall.temp", "19"));
	IT_OK(natsConnection_PublishString(nc, "sensors", "parent"));
	IT_OK(natsConnection_PublishString(nc, "$SYS.hidden", "x"));
	IT_OK(natsConnection_Flush(nc));
	/* NATS messages are QoS 0 for MQTT, whatever the granted QoS */
	mqi_expect(plus, "sensors/hall/temp", "19", 0, false);
	mqi_expect(hash, "sensors/hall/temp", "19", 0, false);
	mqi_expect(hash, "sensors", "parent", 0, false);
	mqi_expect(all, "sensors/hall/temp", "19", 0, false);
	mqi_expect(all, "sensors", "parent", 0, false);
	mqi_expect_none(all, 300);   /* '$' subjects stay hidden from '#' */
	mqi_expect_none(plus, 1);
	/* NATS headers reach MQTT 5 subscribers as user properties */
	struct mqi_opts v5 = { .version = 5 };
	struct mqi *five = mqi_open("five", &v5);
	mqi_sub(five, "h/#", 0);
	natsMsg *msg = NULL;
	IT_OK(natsMsg_Create(&msg, "h.x", NULL, "body", 4));
	IT_OK(natsMsgHeader_Set(msg, "Trace-Id", "abc123"));
	IT_OK(natsConnection_PublishMsg(nc, msg));
	natsMsg_Destroy(msg);
	struct mqi_msg *r = mqi_next(five);
	IT_EQ_STR(r->topic, "h/x");
	char *k = NULL, *v = NULL;
	IT_CHECK(mosquitto_property_read_string_pair(r->props, MQTT_PROP_USER_PROPERTY, &k, &v,
	                                             false) != NULL, "no user property");
	IT_EQ_STR(k, "Trace-Id");
	IT_EQ_STR(v, "abc123");
	free(k);
	free(v);
	mqi_close(plus);
	mqi_close(hash);
	mqi_close(all);
	mqi_close(five);
	natsConnection_Destroy(nc);
}

static void properties_to_headers(void)
{
	it_start(&mqtt_cfg);
	natsConnection *nc = it_connect(NULL, NULL);
	natsSubscription *s;
	IT_OK(natsConnection_SubscribeSync(&s, nc, "props.>"));
	IT_OK(natsConnection_Flush(nc));
	struct mqi_opts v5 = { .version = 5 };
	struct mqi *p = mqi_open("p5", &v5);
	mosquitto_property *props = NULL;
	mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "trace", "42");
	mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, "text/plain");
	mqi_pub_props(p, "props/a", "hello", 1, false, props);
	natsMsg *m = next_msg(s);
	const char *val = NULL;
	IT_OK(natsMsgHeader_Get(m, "trace", &val));
	IT_EQ_STR(val, "42");
	IT_OK(natsMsgHeader_Get(m, "Nmqtt-Ct", &val));
	IT_EQ_STR(val, "text/plain");
	natsMsg_Destroy(m);
	mqi_close(p);
	natsSubscription_Destroy(s);
	natsConnection_Destroy(nc);
}

static void retained_and_nats(void)
{
	it_start(&mqtt_cfg);
	natsConnection *nc = it_connect(NULL, NULL);
	natsSubscription *s;
	IT_OK(natsConnection_SubscribeSync(&s, nc, "ret.>"));
	IT_OK(natsConnection_Flush(nc));
	struct mqi *p = mqi_open("p", NULL);
	mqi_pub(p, "ret/x", "kept", 1, true);
	natsMsg *m = next_msg(s);   /* NATS sees the live message */
	IT_EQ_STR(natsMsg_GetData(m), "kept");
	const char *q = NULL;
	IT_OK(natsMsgHeader_Get(m, "Nmqtt-Pub", &q));
	/* QoS 1, then the PUBLISH flags nibble in hex when RETAIN is set
	 * (QoS 1 << 1 | RETAIN = 3), as nats-server 2.10+ writes it */
	IT_EQ_STR(q, "13");
	natsMsg_Destroy(m);
	/* a later NATS subscriber gets nothing; a later MQTT one the retained copy */
	natsSubscription *late;
	IT_OK(natsConnection_SubscribeSync(&late, nc, "ret.x"));
	expect_no_msg(late, 200);
	struct mqi *ms = mqi_open("late", NULL);
	mqi_sub(ms, "ret/+", 1);
	mqi_expect(ms, "ret/x", "kept", 1, true);
	mqi_close(p);
	mqi_close(ms);
	natsSubscription_Destroy(s);
	natsSubscription_Destroy(late);
	natsConnection_Destroy(nc);
}

static const struct it_perms bob_perms = {
	.pub_allow = { "bob.>" },
	.sub_allow = { "bob.>", "bob" },
	.sub_deny = { "bob.secret" },
};

static const struct it_config auth_cfg = {
	.mqtt = true,
	.users = {
		{ "alice", "s3cret", NULL },
		{ "bob", "pw", &bob_perms },
	},
};

static void auth_and_permissions(void)
{
	it_start(&auth_cfg);
	/* wrong password: CONNACK 4; no credentials: CONNACK 5 */
	int fd = mqr_connect();
	mqr_send(fd, "\x10\x19\x00\x04MQTT\x04\xc2\x00\x3c\x00\x01x\x00\x05" "alice" "\x00\x03" "bad");
	mqr_expect(fd, "\x20\x02\x00\x04");
	it_raw_expect_closed(fd, 2000);
	close(fd);
	fd = mqr_hello("anon", 60, true);
	mqr_expect(fd, "\x20\x02\x00\x05");
	it_raw_expect_closed(fd, 2000);
	close(fd);
	struct mqi_opts alice = { .user = "alice", .password = "s3cret" };
	struct mqi *a = mqi_open("alice", &alice);
	struct mqi_opts bob = { .user = "bob", .password = "pw" };
	struct mqi *b = mqi_open("bob", &bob);
	/* denied subscribe: 0x80; allowed ones granted */
	IT_EQ_INT(mqi_sub(b, "alice/#", 1), 0x80);
	IT_EQ_INT(mqi_sub(b, "bob/#", 1), 1);
	/* a wildcard subscription does not receive a denied subject */
	mqi_pub(a, "bob/secret", "hidden", 1, false);
	mqi_pub(a, "bob/open", "seen", 1, false);
	mqi_expect(b, "bob/open", "seen", 1, false);
	/* denied publish: dropped (QoS 1 still acknowledged) */
	natsConnection *nc = it_connect("alice", "s3cret");
	natsSubscription *s;
	IT_OK(natsConnection_SubscribeSync(&s, nc, ">"));
	IT_OK(natsConnection_Flush(nc));
	mqi_pub(b, "alice/x", "no", 1, false);
	mqi_pub(b, "bob/x", "yes", 1, false);
	natsMsg *m = next_msg(s);
	IT_EQ_STR(natsMsg_GetSubject(m), "bob.x");
	natsMsg_Destroy(m);
	mqi_expect(b, "bob/x", "yes", 1, false);
	mqi_close(a);
	mqi_close(b);
	natsSubscription_Destroy(s);
	natsConnection_Destroy(nc);
}

/* NATS request -> MQTT 5 responder, and MQTT 5 requester -> NATS responder. */
static void request_reply(void)
{
	it_start(&mqtt_cfg);
	natsConnection *nc = it_connect(NULL, NULL);
	struct mqi_opts v5 = { .version = 5 };
	struct mqi *svc = mqi_open("svc", &v5);
	mqi_sub(svc, "svc/echo", 0);
	natsInbox *inbox = NULL;
	IT_OK(natsInbox_Create(&inbox));
	natsSubscription *rs;
	IT_OK(natsConnection_SubscribeSync(&rs, nc, inbox));
	IT_OK(natsConnection_PublishRequestString(nc, "svc.echo", inbox, "ping"));
	IT_OK(natsConnection_Flush(nc));
	struct mqi_msg *req = mqi_next(svc);
	char *rt = NULL;
	IT_CHECK(mosquitto_property_read_string(req->props, MQTT_PROP_RESPONSE_TOPIC, &rt, false),
	         "no response topic");
	mqi_pub(svc, rt, "pong", 0, false);
	free(rt);
	natsMsg *rep = next_msg(rs);
	IT_EQ_STR(natsMsg_GetData(rep), "pong");
	natsMsg_Destroy(rep);
	/* the other way: the response topic is the reply subject */
	natsSubscription *srv;
	IT_OK(natsConnection_SubscribeSync(&srv, nc, "time.now"));
	IT_OK(natsConnection_Flush(nc));
	struct mqi *cli = mqi_open("cli", &v5);
	mqi_sub(cli, "replies/cli", 0);
	mosquitto_property *props = NULL;
	mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, "replies/cli");
	mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, "\x01\x02", 2);
	mqi_pub_props(cli, "time/now", "?", 0, false, props);
	natsMsg *q = next_msg(srv);
	IT_EQ_STR(natsMsg_GetReply(q), "replies.cli");
	IT_OK(natsConnection_PublishString(nc, natsMsg_GetReply(q), "noon"));
	natsMsg_Destroy(q);
	mqi_expect(cli, "replies/cli", "noon", 0, false);
	mqi_close(svc);
	mqi_close(cli);
	natsSubscription_Destroy(rs);
	natsSubscription_Destroy(srv);
	natsInbox_Destroy(inbox);
	natsConnection_Destroy(nc);
}

/* $share/<group>/<filter> is the NATS queue group <group>: MQTT and NATS
 * members share the messages, each message goes to one of them. */
static void shared_subscription_queue_group(void)
{
	it_start(&mqtt_cfg);
	struct mqi_opts v5 = { .version = 5 };
	struct mqi *w1 = mqi_open("w1", &v5);
	struct mqi *w2 = mqi_open("w2", NULL);
	mqi_sub(w1, "$share/workers/jobs/#", 0);
	mqi_sub(w2, "$share/workers/jobs/#", 0);
	natsConnection *nc = it_connect(NULL, NULL);
	natsSubscription *qs;
	IT_OK(natsConnection_QueueSubscribeSync(&qs, nc, "jobs.>", "workers"));
	IT_OK(natsConnection_Flush(nc));
	struct mqi *p = mqi_open("p", NULL);
	enum { N = 90 };
	for (int i = 0; i < N; i++) {
		char b[16];
		snprintf(b, sizeof b, "%d", i);
		mqi_pub(p, "jobs/a", b, 0, false);
	}
	it_sleep_ms(500);
	int n1, n2, n3 = 0;
	pthread_mutex_lock(&w1->lock);
	n1 = w1->nrx;
	pthread_mutex_unlock(&w1->lock);
	pthread_mutex_lock(&w2->lock);
	n2 = w2->nrx;
	pthread_mutex_unlock(&w2->lock);
	natsMsg *m;
	while (natsSubscription_NextMsg(&m, qs, 100) == NATS_OK) {
		n3++;
		natsMsg_Destroy(m);
	}
	IT_EQ_INT(n1 + n2 + n3, N);
	IT_CHECK(n1 > 0 && n2 > 0 && n3 > 0, "split %d/%d/%d", n1, n2, n3);
	mqi_close(w1);
	mqi_close(w2);
	mqi_close(p);
	natsSubscription_Destroy(qs);
	natsConnection_Destroy(nc);
}

IT_MAIN(IT_TEST(mqtt_to_nats), IT_TEST(nats_to_mqtt), IT_TEST(properties_to_headers),
        IT_TEST(retained_and_nats), IT_TEST(auth_and_permissions), IT_TEST(request_reply),
        IT_TEST(shared_subscription_queue_group))
