/*
 * test_js_consumer_api.c - the CONSUMER.* API: every CREATE subject form
 * (spec §2/§7) with the config echoed as nats-server fills it in, the
 * err_codes of the create checks, create-or-update, INFO / DELETE / NAMES /
 * LIST, and pull requests on unknown consumers. Raw requests, so the JSON
 * itself is checked. Every case also runs against nats-server.
 */
#include "jsc_it.h"

static natsConnection *setup(void)
{
	natsConnection *nc = jsc_start(NULL);
	jt_create(nc, "S", "{\"name\":\"S\",\"subjects\":[\"S.>\"]}");
	return nc;
}

static void expect_create_err(natsConnection *nc, const char *subj, const char *body,
                              int code, const char *desc)
{
	json_t *r = jt_api(nc, subj, body);
	jt_expect_err(r, "consumer_create_response", code, desc);
	json_decref(r);
}

static bool has(json_t *o, const char *path)
{
	return jt_get(o, path) != NULL;
}

/* CONSUMER.CREATE.<s>: a legacy ephemeral with a generated name and the
 * defaults nats-server fills in. */
static void test_create_ephemeral_legacy(void)
{
	natsConnection *nc = setup();
	json_t *r = jsc_create(nc, "$JS.API.CONSUMER.CREATE.S",
	                       "{\"stream_name\":\"S\",\"config\":{\"ack_policy\":\"explicit\"}}");
	IT_EQ_STR(jt_str(r, "stream_name"), "S");
	IT_EQ_INT(strlen(jt_str(r, "name")), 8);
	IT_CHECK(!has(r, "config.name") && !has(r, "config.durable_name"), "no names in config");
	IT_EQ_STR(jt_str(r, "config.deliver_policy"), "all");
	IT_EQ_STR(jt_str(r, "config.ack_policy"), "explicit");
	IT_EQ_INT(jt_int(r, "config.ack_wait"), 30000000000LL);
	IT_EQ_INT(jt_int(r, "config.max_deliver"), -1);
	IT_EQ_STR(jt_str(r, "config.replay_policy"), "instant");
	IT_EQ_INT(jt_int(r, "config.max_waiting"), 512);
	IT_EQ_INT(jt_int(r, "config.max_ack_pending"), 1000);
	IT_EQ_INT(jt_int(r, "config.inactive_threshold"), 5000000000LL);
	IT_EQ_INT(jt_int(r, "config.num_replicas"), 0);
	IT_CHECK(!has(r, "config.filter_subject") && !has(r, "config.deliver_subject") &&
	         !has(r, "config.idle_heartbeat") && !has(r, "config.flow_control") &&
	         !has(r, "config.opt_start_seq") && !has(r, "config.mem_storage"),
	         "zero values omitted");
	IT_EQ_INT(jt_int(r, "delivered.consumer_seq"), 0);
	IT_EQ_INT(jt_int(r, "ack_floor.stream_seq"), 0);
	IT_EQ_INT(jt_int(r, "num_waiting"), 0);
	IT_CHECK(!has(r, "push_bound"), "pull consumers are never bound");
	/* an ack none ephemeral push: no ack_wait, no max_ack_pending, no max_waiting */
	json_decref(r);
	r = jsc_create(nc, "$JS.API.CONSUMER.CREATE.S",
	               "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"dlv.x\"}}");
	IT_EQ_STR(jt_str(r, "config.ack_policy"), "none");
	IT_CHECK(!has(r, "config.ack_wait") && !has(r, "config.max_ack_pending") &&
	         !has(r, "config.max_waiting"), "no ack defaults for ack none");
	IT_EQ_STR(jt_str(r, "config.deliver_subject"), "dlv.x");
	IT_CHECK(!has(r, "push_bound"), "nobody listens on dlv.x");
	json_decref(r);
	natsConnection_Destroy(nc);
}

/* CONSUMER.CREATE.<s>.<n>, .<n>.<filter>, DURABLE.CREATE.<s>.<d>. */
static void test_create_named_and_durable(void)
{
	natsConnection *nc = setup();
	json_t *r = jsc_create(nc, "$JS.API.CONSUMER.CREATE.S.N1",
	                       "{\"stream_name\":\"S\",\"config\":{\"ack_policy\":\"explicit\"}}");
	IT_EQ_STR(jt_str(r, "name"), "N1");
	IT_EQ_STR(jt_str(r, "config.name"), "N1");
	IT_CHECK(!has(r, "config.durable_name"), "named ephemeral has no durable_name");
	IT_EQ_INT(jt_int(r, "config.inactive_threshold"), 5000000000LL);
	json_decref(r);

	r = jsc_create(nc, "$JS.API.CONSUMER.CREATE.S.D1.S.a",
	               "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D1\","
	               "\"filter_subject\":\"S.a\",\"ack_policy\":\"explicit\","
	               "\"max_ack_pending\":65536}}");
	IT_EQ_STR(jt_str(r, "name"), "D1");
	IT_EQ_STR(jt_str(r, "config.durable_name"), "D1");
	IT_EQ_STR(jt_str(r, "config.name"), "D1");
	IT_EQ_STR(jt_str(r, "config.filter_subject"), "S.a");
	IT_EQ_INT(jt_int(r, "config.max_ack_pending"), 65536);
	IT_CHECK(!has(r, "config.inactive_threshold"), "durables have no default threshold");
	json_decref(r);

	r = jsc_create(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.D2",
	               "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D2\","
	               "\"ack_policy\":\"all\",\"deliver_subject\":\"dlv.d2\","
	               "\"deliver_group\":\"g\"}}");
	IT_EQ_STR(jt_str(r, "name"), "D2");
	IT_EQ_STR(jt_str(r, "config.durable_name"), "D2");
	IT_CHECK(!has(r, "config.name"), "legacy durable create does not set name");
	IT_EQ_STR(jt_str(r, "config.ack_policy"), "all");
	IT_EQ_INT(jt_int(r, "config.ack_wait"), 30000000000LL);
	IT_EQ_STR(jt_str(r, "config.deliver_group"), "g");
	json_decref(r);

	/* an identical create succeeds and returns the same consumer */
	r = jsc_create(nc, "$JS.API.CONSUMER.CREATE.S.D1.S.a",
	               "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D1\","
	               "\"filter_subject\":\"S.a\",\"ack_policy\":\"explicit\","
	               "\"max_ack_pending\":65536}}");
	IT_EQ_STR(jt_str(r, "name"), "D1");
	json_decref(r);
	/* an allowed update: max_ack_pending and description */
	r = jsc_create(nc, "$JS.API.CONSUMER.CREATE.S.D1.S.a",
	               "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D1\","
	               "\"description\":\"updated\",\"filter_subject\":\"S.a\","
	               "\"ack_policy\":\"explicit\",\"max_ack_pending\":10}}");
	IT_EQ_INT(jt_int(r, "config.max_ack_pending"), 10);
	IT_EQ_STR(jt_str(r, "config.description"), "updated");
	json_decref(r);
	r = jsc_info(nc, "S", "D1");
	IT_EQ_INT(jt_int(r, "config.max_ack_pending"), 10);
	json_decref(r);
	/* forbidden updates: 10012 with the field named */
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S.D1.S.a",
	                  "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D1\","
	                  "\"filter_subject\":\"S.a\",\"ack_policy\":\"explicit\","
	                  "\"deliver_policy\":\"new\"}}",
	                  10012, "deliver policy can not be updated");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S.D1.S.a",
	                  "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D1\","
	                  "\"filter_subject\":\"S.a\",\"ack_policy\":\"all\"}}",
	                  10012, "ack policy can not be updated");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S.D1.S.a",
	                  "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D1\","
	                  "\"filter_subject\":\"S.a\",\"ack_policy\":\"explicit\","
	                  "\"deliver_subject\":\"x.y\"}}",
	                  10012, "max waiting can not be updated");
	natsConnection_Destroy(nc);
}

/* nats.go 1.22 puts a wildcard filter into the create subject
 * (js.PullSubscribe("ORDERS.*", "DISPATCH") sends
 * CONSUMER.CREATE.ORDERS.DISPATCH.ORDERS.*): a publish subject with
 * wildcard tokens must reach the API (nats-server routes it unless
 * pedantic). */
static void test_create_wildcard_filter_subject(void)
{
	natsConnection *nc = setup();
	json_t *r = jsc_create(nc, "$JS.API.CONSUMER.CREATE.S.W.S.*.>",
	                       "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"W\","
	                       "\"filter_subject\":\"S.*.>\",\"ack_policy\":\"explicit\"}}");
	IT_EQ_STR(jt_str(r, "config.filter_subject"), "S.*.>");
	json_decref(r);
	natsConnection_Destroy(nc);
}

/* The request checks, in nats-server's order. */
static void test_create_errors(void)
{
	natsConnection *nc = setup();
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S", "{bad", 10025, "invalid JSON");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"T\",\"config\":{}}",
	                  10056, "stream name in subject does not match request");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"X\"}}", 10020,
	                  "consumer expected to be ephemeral but a durable name was set in request");
	expect_create_err(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.D3",
	                  "{\"stream_name\":\"S\",\"config\":{}}", 10018,
	                  "consumer expected to be durable but a durable name was not set");
	expect_create_err(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.D3",
	                  "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"X\"}}", 10017,
	                  "consumer name in subject does not match durable name in request");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S.N2",
	                  "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"X\"}}", 10017, NULL);
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S.N2.S.b",
	                  "{\"stream_name\":\"S\",\"config\":{\"filter_subject\":\"S.a\"}}", 10131,
	                  "Consumer create request did not match filtered subject from create subject");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.NOPE",
	                  "{\"stream_name\":\"NOPE\",\"config\":{}}", 10059, "stream not found");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"filter_subject\":\"T.a\"}}", 10093,
	                  "consumer filter subject is not a valid subset of the interest subjects");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"idle_heartbeat\":1000000000}}", 10088,
	                  "consumer idle heartbeat requires a push based consumer");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"flow_control\":true}}", 10089,
	                  "consumer flow control requires a push based consumer");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"d.x\","
	                  "\"flow_control\":true}}",
	                  10108, "consumer with flow control also needs heartbeats");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"d.x\","
	                  "\"idle_heartbeat\":50000000}}",
	                  10083, "consumer idle heartbeat needs to be >= 100ms");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"d.x\","
	                  "\"max_waiting\":10}}",
	                  10080, "consumer in push mode can not set max waiting");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"S.loop\"}}",
	                  10081, "consumer deliver subject forms a cycle");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"d.*\"}}", 10079,
	                  "consumer deliver subject has wildcards");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"d.x\","
	                  "\"max_ack_pending\":5}}",
	                  10082, "consumer requires ack policy for max ack pending");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"ack_policy\":\"explicit\","
	                  "\"backoff\":[1000000000,2000000000],\"max_deliver\":2}}",
	                  10116, "max deliver is required to be > length of backoff values");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"by_start_sequence\"}}",
	                  10094,
	                  "consumer delivery policy is deliver by start sequence, but optional start "
	                  "sequence is not set");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"all\","
	                  "\"opt_start_seq\":3}}",
	                  10094,
	                  "consumer delivery policy is deliver all, but optional start sequence is "
	                  "also set");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"last_per_subject\"}}",
	                  10094,
	                  "consumer delivery policy is deliver last per subject, but optional filter "
	                  "subject is not set");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.S",
	                  "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"sometimes\"}}",
	                  10025, NULL);
	/* workqueue streams */
	jt_create(nc, "WQ", "{\"name\":\"WQ\",\"subjects\":[\"wq.>\"],\"retention\":\"workqueue\"}");
	expect_create_err(nc, "$JS.API.CONSUMER.CREATE.WQ",
	                  "{\"stream_name\":\"WQ\",\"config\":{\"ack_policy\":\"none\"}}", 10084,
	                  "consumer in pull mode requires ack policy");
	natsConnection_Destroy(nc);
}

static void test_info_delete_names_list(void)
{
	natsConnection *nc = setup();
	const char *names[] = { "C", "A", "B" };
	for (int i = 0; i < 3; i++) {
		char subj[128], body[256];
		snprintf(subj, sizeof subj, "$JS.API.CONSUMER.DURABLE.CREATE.S.%s", names[i]);
		snprintf(body, sizeof body,
		         "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"%s\","
		         "\"ack_policy\":\"explicit\"}}", names[i]);
		json_decref(jsc_create(nc, subj, body));
	}
	json_t *r = jt_api(nc, "$JS.API.CONSUMER.NAMES.S", NULL);
	jt_expect_ok(r, "consumer_names_response");
	IT_EQ_INT(jt_int(r, "total"), 3);
	IT_EQ_INT(jt_int(r, "offset"), 0);
	IT_EQ_INT(jt_int(r, "limit"), 1024);
	json_t *a = jt_get(r, "consumers");
	IT_EQ_INT(json_array_size(a), 3);
	IT_EQ_STR(json_string_value(json_array_get(a, 0)), "A");
	IT_EQ_STR(json_string_value(json_array_get(a, 2)), "C");
	json_decref(r);
	r = jt_api(nc, "$JS.API.CONSUMER.NAMES.S", "{\"offset\":2}");
	IT_EQ_INT(jt_int(r, "offset"), 2);
	IT_EQ_INT(json_array_size(jt_get(r, "consumers")), 1);
	IT_EQ_STR(json_string_value(json_array_get(jt_get(r, "consumers"), 0)), "C");
	json_decref(r);
	r = jt_api(nc, "$JS.API.CONSUMER.LIST.S", NULL);
	jt_expect_ok(r, "consumer_list_response");
	IT_EQ_INT(jt_int(r, "total"), 3);
	IT_EQ_INT(jt_int(r, "limit"), 256);
	a = jt_get(r, "consumers");
	IT_EQ_INT(json_array_size(a), 3);
	IT_EQ_STR(jt_str(json_array_get(a, 1), "name"), "B");
	IT_EQ_STR(jt_str(json_array_get(a, 1), "stream_name"), "S");
	IT_EQ_STR(jt_str(json_array_get(a, 1), "config.ack_policy"), "explicit");
	json_decref(r);
	r = jt_api(nc, "$JS.API.CONSUMER.NAMES.NOPE", NULL);
	jt_expect_err(r, "consumer_names_response", 10059, "stream not found");
	json_decref(r);

	r = jt_api(nc, "$JS.API.CONSUMER.INFO.S.NOPE", NULL);
	jt_expect_err(r, "consumer_info_response", 10014, "consumer not found");
	json_decref(r);
	r = jt_api(nc, "$JS.API.CONSUMER.INFO.NOPE.A", NULL);
	jt_expect_err(r, "consumer_info_response", 10059, "stream not found");
	json_decref(r);

	r = jt_api(nc, "$JS.API.CONSUMER.DELETE.S.B", NULL);
	jt_expect_ok(r, "consumer_delete_response");
	IT_CHECK(json_is_true(jt_get(r, "success")), "delete success");
	json_decref(r);
	r = jt_api(nc, "$JS.API.CONSUMER.DELETE.S.B", NULL);
	jt_expect_err(r, "consumer_delete_response", 10014, "consumer not found");
	json_decref(r);
	r = jt_api(nc, "$JS.API.CONSUMER.INFO.S.B", NULL);
	jt_expect_err(r, "consumer_info_response", 10014, NULL);
	json_decref(r);
	r = jt_api(nc, "$JS.API.CONSUMER.NAMES.S", NULL);
	IT_EQ_INT(jt_int(r, "total"), 2);
	json_decref(r);
	IT_EQ_INT(jt_state(nc, "S", "consumer_count"), 2);
	natsConnection_Destroy(nc);
}

/* A pull request for a consumer that does not exist gets no answer at all
 * (observed: not even "no responders", the API import has interest). */
static void test_next_unknown_consumer(void)
{
	natsConnection *nc = setup();
	natsMsg *reply = NULL;
	natsStatus s = natsConnection_RequestString(&reply, nc, "$JS.API.CONSUMER.MSG.NEXT.S.NOPE",
	                                            "", 500);
	IT_STATUS(s, NATS_TIMEOUT);
	natsConnection_Destroy(nc);
}

IT_MAIN(IT_TEST(test_create_ephemeral_legacy), IT_TEST(test_create_named_and_durable),
        IT_TEST(test_create_errors), IT_TEST(test_info_delete_names_list),
        IT_TEST(test_next_unknown_consumer), IT_TEST(test_create_wildcard_filter_subject))
