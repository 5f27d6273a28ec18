/*
 * test_js_stream_ops.c - the message operations of a stream: PURGE (all,
 * by subject, keep N, up to a sequence), MSG.GET (by seq, last by subject,
 * next by subject), MSG.DELETE / erase, DIRECT.GET (both subject forms, the
 * appended Nats-* headers, the status replies), and STREAM.INFO's
 * deleted_details and subjects_filter. Every case also runs against
 * nats-server.
 */
#include "js_it.h"

static const struct it_config js_cfg = { .jetstream = true };

static natsConnection *start(void)
{
	it_start(&js_cfg);
	return it_connect(NULL, NULL);
}

/* pg.a gets even payloads 0,2,..; pg.b odd ones: seq i+1 carries i. */
static void fill_pg(natsConnection *nc, int n)
{
	jt_create(nc, "PG", "{\"name\":\"PG\",\"subjects\":[\"pg.>\"]}");
	for (int i = 0; i < n; i++) {
		char d[16], want[64];
		snprintf(d, sizeof d, "%d", i);
		snprintf(want, sizeof want, "{\"stream\":\"PG\", \"seq\":%d}", i + 1);
		jt_pub_expect(nc, i % 2 ? "pg.b" : "pg.a", d, want, NULL);
	}
}

static void test_purge_variants(void)
{
	natsConnection *nc = start();
	fill_pg(nc, 10);
	const char *T = "stream_purge_response";
	json_t *r = jt_api(nc, "$JS.API.STREAM.PURGE.PG", "{\"filter\":\"pg.a\",\"keep\":2}");
	jt_expect_ok(r, T);
	IT_EQ_INT(jt_int(r, "purged"), 3);
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.INFO.PG", "{\"subjects_filter\":\">\",\"deleted_details\":true}");
	IT_EQ_INT(jt_int(r, "total"), 2);
	IT_EQ_INT(jt_int(r, "state.messages"), 7);
	IT_EQ_INT(jt_int(r, "state.first_seq"), 2);
	IT_EQ_INT(jt_int(r, "state.num_deleted"), 2);
	json_t *d = jt_get(r, "state.deleted");
	IT_CHECK(json_is_array(d) && json_array_size(d) == 2, "deleted list");
	IT_EQ_INT(json_integer_value(json_array_get(d, 0)), 3);
	IT_EQ_INT(json_integer_value(json_array_get(d, 1)), 5);
	json_t *subs = jt_get(r, "state.subjects");
	IT_EQ_INT(json_integer_value(json_object_get(subs, "pg.a")), 2);
	IT_EQ_INT(json_integer_value(json_object_get(subs, "pg.b")), 5);
	json_decref(r);
	/* no details unless asked */
	r = jt_api(nc, "$JS.API.STREAM.INFO.PG", NULL);
	IT_CHECK(jt_get(r, "state.deleted") == NULL && jt_get(r, "state.subjects") == NULL,
	         "details only on request");
	json_decref(r);

	r = jt_api(nc, "$JS.API.STREAM.PURGE.PG", "{\"seq\":4}");   /* below 4 */
	IT_EQ_INT(jt_int(r, "purged"), 1);
	json_decref(r);
	IT_EQ_INT(jt_state(nc, "PG", "first_seq"), 4);
	r = jt_api(nc, "$JS.API.STREAM.PURGE.PG", "{\"filter\":\"pg.b\",\"seq\":8}");
	IT_EQ_INT(jt_int(r, "purged"), 2);
	json_decref(r);
	IT_EQ_INT(jt_state(nc, "PG", "first_seq"), 7);
	r = jt_api(nc, "$JS.API.STREAM.PURGE.PG", "{\"seq\":8,\"keep\":1}");
	jt_expect_err(r, T, 10003, "bad request");
	IT_EQ_INT(jt_int(r, "purged"), 0);
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.PURGE.PG", "{\"keep\":1}");
	IT_EQ_INT(jt_int(r, "purged"), 3);
	json_decref(r);
	IT_EQ_INT(jt_state(nc, "PG", "messages"), 1);
	IT_EQ_INT(jt_state(nc, "PG", "first_seq"), 10);

	/* everything, through libnats; sequences go on */
	jsCtx *js = jt_ctx(nc);
	jsErrCode ec = 0;
	IT_OK(js_PurgeStream(js, "PG", NULL, &ec));
	IT_EQ_INT(jt_state(nc, "PG", "messages"), 0);
	IT_EQ_INT(jt_state(nc, "PG", "first_seq"), 11);
	IT_EQ_INT(jt_state(nc, "PG", "last_seq"), 10);
	jt_pub_expect(nc, "pg.a", "x", "{\"stream\":\"PG\", \"seq\":11}", NULL);
	jsOptions o;
	jsOptions_Init(&o);
	o.Stream.Purge.Subject = "pg.a";
	IT_OK(js_PurgeStream(js, "PG", &o, &ec));
	IT_EQ_INT(jt_state(nc, "PG", "messages"), 0);
	r = jt_api(nc, "$JS.API.STREAM.PURGE.NOPE", NULL);
	jt_expect_err(r, T, 10059, NULL);
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.PURGE.PG", "{bad");
	jt_expect_err(r, T, 10025, NULL);
	json_decref(r);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void expect_msg(json_t *r, const char *subj, int seq, const char *data_b64)
{
	jt_expect_ok(r, "stream_msg_get_response");
	IT_EQ_STR(jt_str(r, "message.subject"), subj);
	IT_EQ_INT(jt_int(r, "message.seq"), seq);
	IT_EQ_STR(jt_str(r, "message.data"), data_b64);
	IT_CHECK(jt_get(r, "message.time") != NULL, "time present");
}

static void test_msg_get_and_delete(void)
{
	natsConnection *nc = start();
	fill_pg(nc, 4);   /* 1:a "0" 2:b "1" 3:a "2" 4:b "3" */
	const char *T = "stream_msg_get_response";
	json_t *r = jt_api(nc, "$JS.API.STREAM.MSG.GET.PG", "{\"seq\":2}");
	expect_msg(r, "pg.b", 2, "MQ==");
	IT_CHECK(jt_get(r, "message.hdrs") == NULL, "no hdrs without headers");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.GET.PG", "{\"last_by_subj\":\"pg.a\"}");
	expect_msg(r, "pg.a", 3, "Mg==");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.GET.PG", "{\"last_by_subj\":\"pg.*\"}");
	expect_msg(r, "pg.b", 4, "Mw==");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.GET.PG", "{\"seq\":2,\"next_by_subj\":\"pg.a\"}");
	expect_msg(r, "pg.a", 3, "Mg==");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.GET.PG", "{\"seq\":9}");
	jt_expect_err(r, T, 10037, "no message found");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.GET.PG", "{\"last_by_subj\":\"pg.zz\"}");
	jt_expect_err(r, T, 10037, NULL);
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.GET.PG", NULL);
	jt_expect_err(r, T, 10003, "bad request");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.GET.PG", "{\"seq\":1,\"last_by_subj\":\"pg.a\"}");
	jt_expect_err(r, T, 10003, NULL);
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.GET.NOPE", "{\"seq\":1}");
	jt_expect_err(r, T, 10059, NULL);
	json_decref(r);

	/* headers come back as the raw block, base64 */
	jt_pub_expect(nc, "pg.h", "body", "{\"stream\":\"PG\", \"seq\":5}", "X-Foo", "bar", NULL);
	jsCtx *js = jt_ctx(nc);
	natsMsg *m = NULL;
	jsErrCode ec = 0;
	IT_OK(js_GetMsg(&m, js, "PG", 5, NULL, &ec));
	IT_EQ_STR(natsMsg_GetSubject(m), "pg.h");
	const char *v = NULL;
	IT_OK(natsMsgHeader_Get(m, "X-Foo", &v));
	IT_EQ_STR(v, "bar");
	IT_EQ_INT(natsMsg_GetDataLength(m), 4);
	natsMsg_Destroy(m);
	IT_OK(js_GetLastMsg(&m, js, "PG", "pg.b", NULL, &ec));
	IT_EQ_INT(natsMsg_GetDataLength(m), 1);
	IT_CHECK(natsMsg_GetData(m)[0] == '3', "last pg.b");
	natsMsg_Destroy(m);

	/* delete and erase make interior holes */
	IT_OK(js_DeleteMsg(js, "PG", 2, NULL, &ec));
	IT_OK(js_EraseMsg(js, "PG", 3, NULL, &ec));
	IT_STATUS(js_GetMsg(&m, js, "PG", 2, NULL, &ec), NATS_NOT_FOUND);
	IT_EQ_INT(ec, 10037);
	r = jt_api(nc, "$JS.API.STREAM.MSG.DELETE.PG", "{\"seq\":2}");
	jt_expect_err(r, "stream_msg_delete_response", 10043, "sequence 2 not found");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.DELETE.PG", "{\"seq\":99}");
	jt_expect_err(r, "stream_msg_delete_response", 10057, "stream store EOF");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.DELETE.PG", "{\"seq\":0}");
	jt_expect_err(r, "stream_msg_delete_response", 10057, "no message found");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.DELETE.PG", NULL);
	jt_expect_err(r, "stream_msg_delete_response", 10003, NULL);
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.DELETE.PG", "{\"seq\":4,\"no_erase\":true}");
	jt_expect_ok(r, "stream_msg_delete_response");
	IT_CHECK(json_is_true(json_object_get(r, "success")), "success");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.INFO.PG", "{\"deleted_details\":true}");
	IT_EQ_INT(jt_int(r, "state.messages"), 2);
	IT_EQ_INT(jt_int(r, "state.first_seq"), 1);
	IT_EQ_INT(jt_int(r, "state.last_seq"), 5);
	IT_EQ_INT(jt_int(r, "state.num_deleted"), 3);
	IT_EQ_INT(json_array_size(jt_get(r, "state.deleted")), 3);
	json_decref(r);
	/* next_by_subj skips the holes */
	r = jt_api(nc, "$JS.API.STREAM.MSG.GET.PG", "{\"seq\":2,\"next_by_subj\":\">\"}");
	expect_msg(r, "pg.h", 5, "Ym9keQ==");
	json_decref(r);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* A direct-get reply: header value of key, or "" when absent. */
static const char *hdr(natsMsg *m, const char *key)
{
	const char *v = NULL;
	return natsMsgHeader_Get(m, key, &v) == NATS_OK ? v : "";
}

static natsMsg *direct(natsConnection *nc, const char *subj, const char *body)
{
	natsMsg *reply = NULL;
	IT_OK(natsConnection_Request(&reply, nc, subj, body, (int)strlen(body), 5000));
	return reply;
}

static void test_direct_get(void)
{
	natsConnection *nc = start();
	jt_create(nc, "DG", "{\"name\":\"DG\",\"subjects\":[\"dg.>\"],\"allow_direct\":true}");
	jt_pub_expect(nc, "dg.a", "A1", "{\"stream\":\"DG\", \"seq\":1}", NULL);
	jt_pub_expect(nc, "dg.b", "B1", "{\"stream\":\"DG\", \"seq\":2}", "X-Foo", "bar", NULL);
	jt_pub_expect(nc, "dg.a", "A2", "{\"stream\":\"DG\", \"seq\":3}", NULL);

	natsMsg *m = direct(nc, "$JS.API.DIRECT.GET.DG", "{\"seq\":2}");
	IT_EQ_STR(hdr(m, "Nats-Stream"), "DG");
	IT_EQ_STR(hdr(m, "Nats-Subject"), "dg.b");
	IT_EQ_STR(hdr(m, "Nats-Sequence"), "2");
	IT_EQ_STR(hdr(m, "X-Foo"), "bar");
	IT_CHECK(strlen(hdr(m, "Nats-Time-Stamp")) > 20, "timestamp %s", hdr(m, "Nats-Time-Stamp"));
	IT_EQ_INT(natsMsg_GetDataLength(m), 2);
	IT_CHECK(memcmp(natsMsg_GetData(m), "B1", 2) == 0, "payload");
	natsMsg_Destroy(m);
	m = direct(nc, "$JS.API.DIRECT.GET.DG", "{\"last_by_subj\":\"dg.a\"}");
	IT_EQ_STR(hdr(m, "Nats-Sequence"), "3");
	natsMsg_Destroy(m);
	m = direct(nc, "$JS.API.DIRECT.GET.DG", "{\"seq\":1,\"next_by_subj\":\"dg.b\"}");
	IT_EQ_STR(hdr(m, "Nats-Sequence"), "2");
	natsMsg_Destroy(m);
	/* the subject-appended form (KV gets): last message of that subject */
	m = direct(nc, "$JS.API.DIRECT.GET.DG.dg.b", "");
	IT_EQ_STR(hdr(m, "Nats-Subject"), "dg.b");
	IT_EQ_STR(hdr(m, "Nats-Sequence"), "2");
	natsMsg_Destroy(m);

	/* errors are status messages */
	struct { const char *subj, *body, *status, *desc; } errs[] = {
		{ "$JS.API.DIRECT.GET.DG", "{\"seq\":9}", "404", "Message Not Found" },
		{ "$JS.API.DIRECT.GET.DG.dg.zz", "", "404", "Message Not Found" },
		{ "$JS.API.DIRECT.GET.DG", "", "408", "Empty Request" },
		{ "$JS.API.DIRECT.GET.DG", "{}", "408", "Empty Request" },
		{ "$JS.API.DIRECT.GET.DG", "{bad", "408", "Malformed Request" },
		{ "$JS.API.DIRECT.GET.DG", "{\"seq\":1,\"last_by_subj\":\"dg.a\"}", "408", "Bad Request" },
		{ "$JS.API.DIRECT.GET.DG.dg.b", "x", "408", "Bad Request" },
	};
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		m = direct(nc, errs[i].subj, errs[i].body);
		IT_CHECK(strcmp(hdr(m, "Status"), errs[i].status) == 0 &&
		         strcmp(hdr(m, "Description"), errs[i].desc) == 0,
		         "%s %s: status \"%s\" \"%s\", expected %s %s", errs[i].subj, errs[i].body,
		         hdr(m, "Status"), hdr(m, "Description"), errs[i].status, errs[i].desc);
		IT_EQ_INT(natsMsg_GetDataLength(m), 0);
		natsMsg_Destroy(m);
	}

	/* libnats' direct get */
	jsCtx *js = jt_ctx(nc);
	jsDirectGetMsgOptions dg;
	jsDirectGetMsgOptions_Init(&dg);
	dg.LastBySubject = "dg.a";
	IT_OK(js_DirectGetMsg(&m, js, "DG", NULL, &dg));
	IT_EQ_INT(natsMsg_GetDataLength(m), 2);
	IT_CHECK(memcmp(natsMsg_GetData(m), "A2", 2) == 0, "A2");
	natsMsg_Destroy(m);
	jsDirectGetMsgOptions_Init(&dg);
	dg.Sequence = 7;
	IT_STATUS(js_DirectGetMsg(&m, js, "DG", NULL, &dg), NATS_NOT_FOUND);

	/* turning allow_direct off removes the responder */
	json_t *r = jt_api(nc, "$JS.API.STREAM.UPDATE.DG", "{\"name\":\"DG\",\"subjects\":[\"dg.>\"]}");
	jt_expect_ok(r, "stream_update_response");
	json_decref(r);
	natsMsg *reply = NULL;
	natsStatus s = natsConnection_RequestString(&reply, nc, "$JS.API.DIRECT.GET.DG", "{\"seq\":1}", 500);
	IT_CHECK(s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS, "direct get still answered");
	natsMsg_Destroy(reply);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

IT_MAIN(
	IT_TEST(test_purge_variants),
	IT_TEST(test_msg_get_and_delete),
	IT_TEST(test_direct_get),
)
