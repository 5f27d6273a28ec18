/*
 * test_js_consumer_persist.c - durable consumers survive a restart (clean
 * SIGTERM and SIGKILL): config, created time, delivered / ack floor /
 * pending / redelivery state, so delivery resumes where it was and unacked
 * messages come again. Memory-storage consumers do not survive (junction
 * does not keep ephemerals either; nats-server 2.9 brings them back and
 * never expires them, so that is not checked). Every case also runs against
 * nats-server.
 */
#include <time.h>

#include "jsc_it.h"

#define INBOX "_INBOX.persist"

static void pub_n(jsCtx *js, int from, int to)
{
	for (int i = from; i <= to; i++) {
		char d[8];
		snprintf(d, sizeof d, "%d", i);
		jsc_pub(js, "S.x", d);
	}
}

/* RFC 3339 UTC with fraction -> ns (enough for these tests). */
static long long ts_ns(const char *s)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	IT_CHECK(p != NULL, "time %s", s);
	long long ns = (long long)timegm(&tm) * 1000000000LL;
	if (*p == '.') {
		long long scale = 100000000LL;
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			ns += (*p - '0') * scale;
	}
	return ns;
}

static void restart_case(bool kill9)
{
	jsCtx *js;
	natsConnection *nc = jsc_start(&js);
	jt_create(nc, "S", "{\"name\":\"S\",\"subjects\":[\"S.>\"]}");
	pub_n(js, 1, 10);
	json_t *r = jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.D",
	                       "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D\","
	                       "\"ack_policy\":\"explicit\",\"ack_wait\":1000000000,"
	                       "\"max_ack_pending\":100,\"description\":\"keep me\"}}");
	char created[64];
	snprintf(created, sizeof created, "%s", jt_str(r, "created"));
	json_decref(r);
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.CREATE.S.EPH",
	                       "{\"stream_name\":\"S\",\"config\":{\"ack_policy\":\"explicit\"}}"));
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.MEM",
	                       "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"MEM\","
	                       "\"ack_policy\":\"explicit\",\"mem_storage\":true}}"));
	natsSubscription *in = jsc_sub(nc, INBOX);
	jsc_pull(nc, "S", "D", INBOX, "5");
	natsMsg *m[5];
	for (int i = 0; i < 5; i++) {
		char d[8];
		snprintf(d, sizeof d, "%d", i + 1);
		m[i] = jsc_expect_data(in, 2000, d);
	}
	/* 1-3 acked, 4 NAKed and redelivered, 5 left pending */
	for (int i = 0; i < 3; i++)
		jsc_ack_body(nc, m[i], "+ACK");
	jsc_ack_body(nc, m[3], "-NAK");
	jsc_pull(nc, "S", "D", INBOX, "1");
	natsMsg *m4 = jsc_expect_data(in, 2000, "4");
	natsMsg_Destroy(m4);
	natsMsg_Destroy(m[4]);
	jsc_expect_counts(nc, "S", "D", .dc = 6, .ds = 5, .fc = 3, .fs = 3, .ack_pending = 2,
	                  .redelivered = 1, .pending = 5);
	natsSubscription_Destroy(in);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);

	it_restart(kill9);
	nc = it_connect(NULL, NULL);
	js = jt_ctx(nc);
	r = jsc_info(nc, "S", "D");
	/* nats-server re-reads it from its own file, a few µs off */
	long long dt = ts_ns(jt_str(r, "created")) - ts_ns(created);
	IT_CHECK(dt > -1000000000LL && dt < 1000000000LL, "created kept (%lld ns off)", dt);
	IT_EQ_STR(jt_str(r, "config.description"), "keep me");
	IT_EQ_INT(jt_int(r, "config.max_ack_pending"), 100);
	IT_EQ_INT(jt_int(r, "config.ack_wait"), 1000000000);
	json_decref(r);
	r = jt_api(nc, "$JS.API.CONSUMER.INFO.S.MEM", NULL);
	jt_expect_err(r, "consumer_info_response", 10014, NULL);   /* mem_storage: not kept */
	json_decref(r);
	in = jsc_sub(nc, INBOX);
	if (kill9 && !it_is_junction()) {
		/* nats-server writes consumer state lazily: after SIGKILL acks may
		 * be lost, which means redelivery, never loss */
		bool seen[11] = { false };
		int64_t deadline = it_now_ms() + 8000;
		int missing = 7;
		while (missing > 0 && it_now_ms() < deadline) {
			jsc_pull(nc, "S", "D", INBOX, "{\"batch\":10,\"expires\":1500000000}");
			for (;;) {
				natsMsg *x = NULL;
				if (natsSubscription_NextMsg(&x, in, 2000) != NATS_OK)
					break;   /* the batch was filled by redeliveries */
				if (jsc_status(x)) {
					natsMsg_Destroy(x);
					break;
				}
				int v = atoi(natsMsg_GetData(x));
				if (v >= 4 && v <= 10 && !seen[v]) {
					seen[v] = true;
					missing--;
				}
				jsc_ack_body(nc, x, "+ACK");
			}
		}
		IT_EQ_INT(missing, 0);
		natsSubscription_Destroy(in);
		jsCtx_Destroy(js);
		natsConnection_Destroy(nc);
		return;
	}
	/* junction keeps every ack and delivery it wrote before the crash */
	jsc_expect_counts(nc, "S", "D", .dc = 6, .ds = 5, .fc = 3, .fs = 3, .ack_pending = 2,
	                  .redelivered = 1, .pending = 5);

	/* 4 and 5 come again (after ack_wait), then the rest in order */
	jsc_pull(nc, "S", "D", INBOX, "{\"batch\":7,\"expires\":5000000000}");
	int seen4 = 0, seen5 = 0;
	for (int i = 0; i < 7; i++) {
		natsMsg *x = jsc_next(in, 4000);
		IT_CHECK(!jsc_status(x), "a message, not status %s", jsc_status(x));
		int v = atoi(natsMsg_GetData(x));
		jsMsgMetaData *md = jsc_meta(x);
		if (v == 4) {
			seen4++;
			IT_EQ_INT(md->NumDelivered, 3);
		} else if (v == 5) {
			seen5++;
			IT_EQ_INT(md->NumDelivered, 2);
		} else {
			IT_CHECK(v >= 6 && v <= 10, "value %d", v);
			IT_EQ_INT(md->NumDelivered, 1);
		}
		jsMsgMetaData_Destroy(md);
		jsc_ack_body(nc, x, "+ACK");
	}
	IT_EQ_INT(seen4, 1);
	IT_EQ_INT(seen5, 1);
	jsc_expect_counts(nc, "S", "D", .dc = 13, .ds = 10, .fc = 13, .fs = 10);
	/* and that is kept too */
	natsSubscription_Destroy(in);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	it_restart(kill9);
	nc = it_connect(NULL, NULL);
	jsc_expect_counts(nc, "S", "D", .dc = 13, .ds = 10, .fc = 13, .fs = 10);
	natsConnection_Destroy(nc);
}

static void test_durable_survives_restart(void)
{
	restart_case(false);
}

static void test_durable_survives_kill9(void)
{
	restart_case(true);
}

/* A deliver-new push durable keeps its position across a restart and a
 * deleted durable stays deleted. */
static void test_push_durable_position_and_delete(void)
{
	jsCtx *js;
	natsConnection *nc = jsc_start(&js);
	jt_create(nc, "S", "{\"name\":\"S\",\"subjects\":[\"S.>\"]}");
	pub_n(js, 1, 3);
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.NEWP",
	                       "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"NEWP\","
	                       "\"deliver_policy\":\"new\",\"deliver_subject\":\"dlv.p\","
	                       "\"ack_policy\":\"explicit\"}}"));
	json_decref(jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.DEL",
	                       "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"DEL\","
	                       "\"ack_policy\":\"explicit\"}}"));
	json_t *r = jt_api(nc, "$JS.API.CONSUMER.DELETE.S.DEL", NULL);
	jt_expect_ok(r, "consumer_delete_response");
	json_decref(r);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);

	it_restart(false);
	nc = it_connect(NULL, NULL);
	js = jt_ctx(nc);
	r = jt_api(nc, "$JS.API.CONSUMER.INFO.S.DEL", NULL);
	jt_expect_err(r, "consumer_info_response", 10014, NULL);
	json_decref(r);
	jsc_expect_counts(nc, "S", "NEWP", .ds = 3);
	pub_n(js, 4, 4);
	natsSubscription *dlv = jsc_sub(nc, "dlv.p");
	natsMsg *m = jsc_expect_data(dlv, 3000, "4");
	jsc_ack_body(nc, m, "+ACK");
	jsc_expect_counts(nc, "S", "NEWP", .dc = 1, .ds = 4, .fc = 1, .fs = 4);
	natsSubscription_Destroy(dlv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

IT_MAIN(IT_TEST(test_durable_survives_restart), IT_TEST(test_durable_survives_kill9),
        IT_TEST(test_push_durable_position_and_delete))
