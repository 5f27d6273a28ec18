/*
 * test_js_consumer_acks.c - what a consumer delivers and how acks move it:
 * the first message of every deliver policy, ack policies explicit / all /
 * none, redelivery after ack_wait, max_deliver, -NAK with and without
 * delay, +TERM, +WPI, backoff, and CONSUMER.INFO counters checked exactly
 * after a scripted sequence. Pull requests are sent raw so each step is
 * deterministic. Every case also runs against nats-server.
 */
#include "jsc_it.h"

#define INBOX "_INBOX.acks"

static natsConnection *setup(jsCtx **js, natsSubscription **inbox)
{
	natsConnection *nc = jsc_start(js);
	jt_create(nc, "S", "{\"name\":\"S\",\"subjects\":[\"S.>\"]}");
	*inbox = jsc_sub(nc, INBOX);
	return nc;
}

static void durable(natsConnection *nc, const char *name, const char *cfg_members)
{
	char subj[200], body[1024];
	snprintf(subj, sizeof subj, "$JS.API.CONSUMER.DURABLE.CREATE.S.%s", name);
	snprintf(body, sizeof body, "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"%s\"%s%s}}",
	         name, *cfg_members ? "," : "", cfg_members);
	json_decref(jsc_create(nc, subj, body));
}

/* Pull one message with a plain request and return it (the caller acks). */
static natsMsg *pull1(natsConnection *nc, natsSubscription *inbox, const char *cons,
                      const char *want)
{
	jsc_pull(nc, "S", cons, INBOX, "{\"batch\":1,\"expires\":3000000000}");
	return jsc_expect_data(inbox, 3000, want);
}

static void expect_meta(natsMsg *m, uint64_t sseq, uint64_t cseq, uint64_t delivered,
                        uint64_t pending)
{
	jsMsgMetaData *md = jsc_meta(m);
	IT_EQ_INT(md->Sequence.Stream, sseq);
	IT_EQ_INT(md->Sequence.Consumer, cseq);
	IT_EQ_INT(md->NumDelivered, delivered);
	IT_EQ_INT(md->NumPending, pending);
	jsMsgMetaData_Destroy(md);
}

/* The scripted sequence: every counter of CONSUMER.INFO after every step. */
static void test_info_counters_exact(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in);
	const char *subj[] = { "S.a", "S.b", "S.a", "S.a", "S.b", "S.a" };
	for (int i = 0; i < 6; i++) {
		char d[8];
		snprintf(d, sizeof d, "m%d", i + 1);
		jsc_pub(js, subj[i], d);
	}
	durable(nc, "P", "\"filter_subject\":\"S.a\",\"ack_policy\":\"explicit\"");
	jsc_expect_counts(nc, "S", "P", .pending = 4);

	jsc_pull(nc, "S", "P", INBOX, "2");
	natsMsg *m1 = jsc_expect_data(in, 3000, "m1");
	expect_meta(m1, 1, 1, 1, 3);
	natsMsg *m3 = jsc_expect_data(in, 3000, "m3");
	expect_meta(m3, 3, 2, 1, 2);
	jsc_expect_counts(nc, "S", "P", .dc = 2, .ds = 3, .ack_pending = 2, .pending = 2);

	jsc_ack_body(nc, m3, "+ACK");   /* not the floor's next: the floor stays */
	jsc_expect_counts(nc, "S", "P", .dc = 2, .ds = 3, .ack_pending = 1, .pending = 2);
	jsc_ack_body(nc, m1, "");       /* an empty body acks too */
	jsc_expect_counts(nc, "S", "P", .dc = 2, .ds = 3, .fc = 2, .fs = 3, .pending = 2);

	natsMsg *m4 = pull1(nc, in, "P", "m4");
	expect_meta(m4, 4, 3, 1, 1);
	jsc_ack_body(nc, m4, "-NAK");
	m4 = pull1(nc, in, "P", "m4");     /* redelivered at once, new consumer seq */
	expect_meta(m4, 4, 4, 2, 1);
	jsc_expect_counts(nc, "S", "P", .dc = 4, .ds = 4, .fc = 2, .fs = 3, .ack_pending = 1,
	                  .redelivered = 1, .pending = 1);

	/* no_wait batch 5: the one left, then 408 with what was still owed */
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":5,\"no_wait\":true}");
	natsMsg *m6 = jsc_expect_data(in, 3000, "m6");
	expect_meta(m6, 6, 5, 1, 0);
	natsMsg *st = jsc_expect_status(in, 3000, "408", "Request Timeout");
	IT_EQ_STR(jsc_hdr(st, "Nats-Pending-Messages"), "4");
	IT_EQ_STR(jsc_hdr(st, "Nats-Pending-Bytes"), "0");
	natsMsg_Destroy(st);
	jsc_expect_counts(nc, "S", "P", .dc = 5, .ds = 6, .fc = 2, .fs = 3, .ack_pending = 2,
	                  .redelivered = 1);

	jsc_ack_body(nc, m6, "+ACK");
	jsc_expect_counts(nc, "S", "P", .dc = 5, .ds = 6, .fc = 2, .fs = 3, .ack_pending = 1,
	                  .redelivered = 1);
	jsc_ack_body(nc, m4, "+TERM");  /* the last pending: floor = delivered */
	jsc_expect_counts(nc, "S", "P", .dc = 5, .ds = 6, .fc = 5, .fs = 6);

	/* a waiting request counts in num_waiting until its batch is done */
	jsc_pull(nc, "S", "P", INBOX, "{\"batch\":3,\"expires\":10000000000}");
	jsc_expect_counts(nc, "S", "P", .dc = 5, .ds = 6, .fc = 5, .fs = 6, .waiting = 1);
	jsc_pub(js, "S.b", "m7");
	jsc_pub(js, "S.a", "m8");
	natsMsg *m8 = jsc_expect_data(in, 3000, "m8");
	expect_meta(m8, 8, 6, 1, 0);
	jsc_expect_counts(nc, "S", "P", .dc = 6, .ds = 8, .fc = 5, .fs = 6, .ack_pending = 1,
	                  .waiting = 1);
	natsMsg_Destroy(m8);

	json_t *r = jsc_info(nc, "S", "P");
	IT_CHECK(json_is_string(jt_get(r, "delivered.last_active")), "delivered.last_active");
	IT_CHECK(json_is_string(jt_get(r, "ack_floor.last_active")), "ack_floor.last_active");
	json_decref(r);
	natsSubscription_Destroy(in);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_ack_all_and_none(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in);
	for (int i = 1; i <= 5; i++) {
		char d[8];
		snprintf(d, sizeof d, "m%d", i);
		jsc_pub(js, "S.x", d);
	}
	durable(nc, "ALL", "\"ack_policy\":\"all\"");
	jsc_pull(nc, "S", "ALL", INBOX, "5");
	natsMsg *m[5];
	for (int i = 0; i < 5; i++) {
		char d[8];
		snprintf(d, sizeof d, "m%d", i + 1);
		m[i] = jsc_expect_data(in, 3000, d);
	}
	jsc_ack_body(nc, m[2], "+ACK");   /* acks 1..3 */
	jsc_expect_counts(nc, "S", "ALL", .dc = 5, .ds = 5, .fc = 3, .fs = 3, .ack_pending = 2);
	jsc_ack_body(nc, m[0], "+ACK");   /* below the floor: nothing */
	jsc_expect_counts(nc, "S", "ALL", .dc = 5, .ds = 5, .fc = 3, .fs = 3, .ack_pending = 2);
	jsc_ack_body(nc, m[4], "+ACK");
	jsc_expect_counts(nc, "S", "ALL", .dc = 5, .ds = 5, .fc = 5, .fs = 5);
	natsMsg_Destroy(m[1]);
	natsMsg_Destroy(m[3]);

	durable(nc, "NONE", "\"ack_policy\":\"none\"");
	json_t *r = jsc_info(nc, "S", "NONE");
	IT_CHECK(!jt_get(r, "config.ack_wait") && !jt_get(r, "config.max_ack_pending"),
	         "ack none has no ack_wait / max_ack_pending");
	json_decref(r);
	jsc_pull(nc, "S", "NONE", INBOX, "3");
	for (int i = 0; i < 3; i++) {
		char d[8];
		snprintf(d, sizeof d, "m%d", i + 1);
		natsMsg *x = jsc_expect_data(in, 3000, d);
		jsMsgMetaData *md = jsc_meta(x);
		IT_EQ_INT(md->Sequence.Consumer, i + 1);
		jsMsgMetaData_Destroy(md);
		natsMsg_Destroy(x);
	}
	/* delivered = acked */
	jsc_expect_counts(nc, "S", "NONE", .dc = 3, .ds = 3, .fc = 3, .fs = 3, .pending = 2);
	natsSubscription_Destroy(in);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_redelivery_and_max_deliver(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in);
	jsc_pub(js, "S.x", "one");
	durable(nc, "R", "\"ack_policy\":\"explicit\",\"ack_wait\":500000000,\"max_deliver\":2");
	int64_t t0 = it_now_ms();
	natsMsg *m = pull1(nc, in, "R", "one");
	expect_meta(m, 1, 1, 1, 0);
	natsMsg_Destroy(m);   /* never acked */
	m = pull1(nc, in, "R", "one");   /* after ack_wait */
	IT_CHECK(it_now_ms() - t0 >= 450, "redelivered after %lld ms", (long long)(it_now_ms() - t0));
	expect_meta(m, 1, 2, 2, 0);
	natsMsg_Destroy(m);
	jsc_expect_counts(nc, "S", "R", .dc = 2, .ds = 1, .ack_pending = 1, .redelivered = 1);
	/* max_deliver reached: the next pull waits in vain and it stops pending */
	jsc_pull(nc, "S", "R", INBOX, "{\"batch\":1,\"expires\":1500000000}");
	natsMsg_Destroy(jsc_expect_status(in, 3000, "408", "Request Timeout"));
	jsc_expect_counts(nc, "S", "R", .dc = 2, .ds = 1, .redelivered = 1);
	natsSubscription_Destroy(in);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_nak_delay_term_progress(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in);
	jsc_pub(js, "S.x", "a");
	jsc_pub(js, "S.x", "b");
	durable(nc, "N", "\"ack_policy\":\"explicit\",\"ack_wait\":1000000000");

	/* -NAK {"delay": 1s}: back after the delay, not before */
	natsMsg *a = pull1(nc, in, "N", "a");
	int64_t t0 = it_now_ms();
	jsc_ack_body(nc, a, "-NAK {\"delay\": 1000000000}");   /* as nats.go sends it */
	jsc_ack_body(nc, pull1(nc, in, "N", "b"), "+ACK");   /* b comes first now */
	jsc_pull(nc, "S", "N", INBOX, "{\"batch\":1,\"expires\":3000000000}");
	a = jsc_expect_data(in, 3000, "a");
	IT_CHECK(it_now_ms() - t0 >= 900, "NAK delay honoured (%lld ms)", (long long)(it_now_ms() - t0));
	expect_meta(a, 1, 3, 2, 0);

	/* -NAK with a Go duration */
	jsc_ack_body(nc, a, "-NAK 300ms");
	t0 = it_now_ms();
	a = pull1(nc, in, "N", "a");
	IT_CHECK(it_now_ms() - t0 >= 250, "NAK duration honoured");
	expect_meta(a, 1, 4, 3, 0);

	/* +TERM: never again, counts as acked */
	jsc_ack_body(nc, a, "+TERM");
	jsc_expect_counts(nc, "S", "N", .dc = 4, .ds = 2, .fc = 4, .fs = 2);

	/* +WPI restarts ack_wait */
	jsc_pub(js, "S.x", "c");
	natsMsg *c = pull1(nc, in, "N", "c");
	t0 = it_now_ms();
	it_sleep_ms(700);
	IT_OK(natsConnection_PublishString(nc, natsMsg_GetReply(c), "+WPI"));
	IT_OK(natsConnection_Flush(nc));
	/* without the WPI it would be back at t0 + 1000 */
	jsc_pull(nc, "S", "N", INBOX, "{\"batch\":1,\"expires\":700000000}");
	natsMsg_Destroy(jsc_expect_status(in, 3000, "408", NULL));
	jsc_pull(nc, "S", "N", INBOX, "{\"batch\":1,\"expires\":3000000000}");
	natsMsg *c2 = jsc_expect_data(in, 3000, "c");
	IT_CHECK(it_now_ms() - t0 >= 1550, "redelivered %lld ms after the first delivery",
	         (long long)(it_now_ms() - t0));
	expect_meta(c2, 3, 6, 2, 0);
	jsc_ack_body(nc, c2, "+ACK");
	natsMsg_Destroy(c);
	jsc_expect_counts(nc, "S", "N", .dc = 6, .ds = 3, .fc = 6, .fs = 3);
	natsSubscription_Destroy(in);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* backoff [300ms, 900ms]: ack_wait becomes 300 ms, the second redelivery
 * waits 900 ms. */
static void test_backoff(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in);
	jsc_pub(js, "S.x", "z");
	durable(nc, "B", "\"ack_policy\":\"explicit\",\"max_deliver\":3,"
	                 "\"backoff\":[300000000,900000000]");
	json_t *r = jsc_info(nc, "S", "B");
	IT_EQ_INT(jt_int(r, "config.ack_wait"), 300000000);
	json_decref(r);
	int64_t t0 = it_now_ms();
	natsMsg_Destroy(pull1(nc, in, "B", "z"));
	natsMsg_Destroy(pull1(nc, in, "B", "z"));
	int64_t t1 = it_now_ms();
	IT_CHECK(t1 - t0 >= 250 && t1 - t0 < 800, "first backoff %lld ms", (long long)(t1 - t0));
	natsMsg *m = pull1(nc, in, "B", "z");
	int64_t t2 = it_now_ms();
	IT_CHECK(t2 - t1 >= 800, "second backoff %lld ms", (long long)(t2 - t1));
	expect_meta(m, 1, 3, 3, 0);
	natsMsg_Destroy(m);
	natsSubscription_Destroy(in);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* The first message each deliver policy hands out. */
static void test_deliver_policies(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in);
	jsc_pub(js, "S.a", "1");
	jsc_pub(js, "S.b", "2");
	jsc_pub(js, "S.a", "3");
	jsc_pub(js, "S.c", "4");
	it_sleep_ms(50);
	json_t *si = jt_api(nc, "$JS.API.STREAM.INFO.S", NULL);
	char t_mid[64];
	snprintf(t_mid, sizeof t_mid, "%s", jt_str(si, "state.last_ts"));
	json_decref(si);
	it_sleep_ms(50);
	jsc_pub(js, "S.b", "5");

	struct { const char *name, *cfg, *first; long long start; } cases[] = {
		{ "ALL", "\"deliver_policy\":\"all\"", "1", 0 },
		{ "LAST", "\"deliver_policy\":\"last\"", "5", 4 },
		{ "LASTF", "\"deliver_policy\":\"last\",\"filter_subject\":\"S.a\"", "3", 2 },
		{ "LPS", "\"deliver_policy\":\"last_per_subject\",\"filter_subject\":\"S.*\"", "3", 2 },
		{ "SEQ", "\"deliver_policy\":\"by_start_sequence\",\"opt_start_seq\":4", "4", 3 },
		{ "SEQF", "\"deliver_policy\":\"by_start_sequence\",\"opt_start_seq\":2,"
		          "\"filter_subject\":\"S.a\"", "3", 1 },
		{ "NEW", "\"deliver_policy\":\"new\"", "6", 5 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char subj[200], body[512];
		snprintf(subj, sizeof subj, "$JS.API.CONSUMER.DURABLE.CREATE.S.%s", cases[i].name);
		snprintf(body, sizeof body,
		         "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"%s\","
		         "\"ack_policy\":\"explicit\",%s}}", cases[i].name, cases[i].cfg);
		json_t *r = jsc_create(nc, subj, body);
		IT_EQ_INT(jt_int(r, "delivered.stream_seq"), cases[i].start);
		/* nats-server starts every ack floor at 0, whatever the start */
		IT_EQ_INT(jt_int(r, "ack_floor.stream_seq"), 0);
		json_decref(r);
	}
	/* by_start_time: the message stored after t_mid */
	char body[512];
	snprintf(body, sizeof body,
	         "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"TIME\",\"ack_policy\":"
	         "\"explicit\",\"deliver_policy\":\"by_start_time\",\"opt_start_time\":\"%s\"}}",
	         t_mid);
	json_t *r = jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.TIME", body);
	IT_EQ_INT(jt_int(r, "delivered.stream_seq"), 3);   /* the first at or after t_mid: 4 */
	json_decref(r);

	jsc_pub(js, "S.d", "6");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		natsMsg_Destroy(pull1(nc, in, cases[i].name, cases[i].first));
	natsMsg_Destroy(pull1(nc, in, "TIME", "4"));
	/* last_per_subject: the last of each subject in seq order, then the new */
	natsMsg_Destroy(pull1(nc, in, "LPS", "4"));
	natsMsg_Destroy(pull1(nc, in, "LPS", "5"));
	natsMsg_Destroy(pull1(nc, in, "LPS", "6"));
	natsSubscription_Destroy(in);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* max_ack_pending stops deliveries until an ack makes room. */
static void test_max_ack_pending(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in);
	for (int i = 1; i <= 4; i++) {
		char d[8];
		snprintf(d, sizeof d, "%d", i);
		jsc_pub(js, "S.x", d);
	}
	durable(nc, "M", "\"ack_policy\":\"explicit\",\"max_ack_pending\":2");
	jsc_pull(nc, "S", "M", INBOX, "{\"batch\":4,\"expires\":5000000000}");
	natsMsg *m1 = jsc_expect_data(in, 3000, "1");
	natsMsg *m2 = jsc_expect_data(in, 3000, "2");
	jsc_none(in, 300);
	jsc_ack_body(nc, m1, "+ACK");
	natsMsg *m3 = jsc_expect_data(in, 3000, "3");
	jsc_none(in, 300);
	natsMsg_Destroy(m2);
	natsMsg_Destroy(m3);
	jsc_expect_counts(nc, "S", "M", .dc = 3, .ds = 3, .fc = 1, .fs = 1, .ack_pending = 2,
	                  .waiting = 1, .pending = 1);
	natsSubscription_Destroy(in);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* Interest retention: a push consumer with ack none removes what it
 * delivered; an explicit one when it acks. */
static void test_interest_retention(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in);
	jt_create(nc, "I", "{\"name\":\"I\",\"subjects\":[\"i.>\"],\"retention\":\"interest\"}");
	natsSubscription *dlv = jsc_sub(nc, "dlv.i");
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.I.PUSH",
	                       "{\"stream_name\":\"I\",\"config\":{\"durable_name\":\"PUSH\","
	                       "\"deliver_subject\":\"dlv.i\",\"ack_policy\":\"none\"}}"));
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.I.PULL",
	                       "{\"stream_name\":\"I\",\"config\":{\"durable_name\":\"PULL\","
	                       "\"ack_policy\":\"explicit\"}}"));
	jsc_pub(js, "i.x", "one");
	natsMsg_Destroy(jsc_expect_data(dlv, 3000, "one"));
	IT_EQ_INT(jt_state(nc, "I", "messages"), 1);   /* PULL still wants it */
	char subj[] = "$JS.API.CONSUMER.MSG.NEXT.I.PULL";
	IT_OK(natsConnection_PublishRequestString(nc, subj, INBOX, "1"));
	natsMsg *m = jsc_expect_data(in, 3000, "one");
	jsc_ack_body(nc, m, "+ACK");
	int64_t deadline = it_now_ms() + 2000;
	while (jt_state(nc, "I", "messages") != 0 && it_now_ms() < deadline)
		it_sleep_ms(20);
	IT_EQ_INT(jt_state(nc, "I", "messages"), 0);
	natsSubscription_Destroy(dlv);
	natsSubscription_Destroy(in);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* A purge moves the consumer past what is gone and forgets its acks. */
static void test_purge(void)
{
	jsCtx *js;
	natsSubscription *in;
	natsConnection *nc = setup(&js, &in);
	for (int i = 1; i <= 5; i++) {
		char d[8];
		snprintf(d, sizeof d, "%d", i);
		jsc_pub(js, "S.x", d);
	}
	durable(nc, "G", "\"ack_policy\":\"explicit\"");
	jsc_pull(nc, "S", "G", INBOX, "2");
	natsMsg *m1 = jsc_expect_data(in, 2000, "1");
	natsMsg *m2 = jsc_expect_data(in, 2000, "2");
	jsc_expect_counts(nc, "S", "G", .dc = 2, .ds = 2, .ack_pending = 2, .pending = 3);
	json_t *r = jt_api(nc, "$JS.API.STREAM.PURGE.S", NULL);
	jt_expect_ok(r, "stream_purge_response");
	json_decref(r);
	jsc_expect_counts(nc, "S", "G", .dc = 2, .ds = 5, .fc = 2, .fs = 5);
	jsc_ack_body(nc, m1, "+ACK");   /* too late: nothing changes */
	natsMsg_Destroy(m2);
	jsc_expect_counts(nc, "S", "G", .dc = 2, .ds = 5, .fc = 2, .fs = 5);
	jsc_pub(js, "S.x", "6");
	natsMsg *m6 = pull1(nc, in, "G", "6");
	expect_meta(m6, 6, 3, 1, 0);
	jsc_ack_body(nc, m6, "+ACK");
	jsc_expect_counts(nc, "S", "G", .dc = 3, .ds = 6, .fc = 3, .fs = 6);
	natsSubscription_Destroy(in);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

IT_MAIN(IT_TEST(test_purge), IT_TEST(test_info_counters_exact), IT_TEST(test_ack_all_and_none),
        IT_TEST(test_redelivery_and_max_deliver), IT_TEST(test_nak_delay_term_progress),
        IT_TEST(test_backoff), IT_TEST(test_deliver_policies), IT_TEST(test_max_ack_pending),
        IT_TEST(test_interest_retention))
