/*
 * test_stream.c - the JetStream service inside one process, with no
 * network: requests and publishes go straight into a router. Checks what
 * the integration tests cannot see: a PubAck leaves only once the message
 * is fsynced (sync "always"), a disk that fails a write or an fsync gives
 * an error PubAck and loses nothing that was acknowledged, a reopened
 * service recovers its streams, and an unusable store directory is refused.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/epoch.h"
#include "core/err.h"
#include "core/filestore_hooks.h"
#include "core/jetstream.h"
#include "core/js_json.h"
#include "core/router.h"
#include "core/store.h"
#include "core/store_io.h"
#include "core/stream.h"

/* Replies to "_R.<n>" land in slot n. */
#define SLOTS 64
struct capture {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char body[SLOTS][1024];
	bool got[SLOTS];
	uint64_t durable_at_ack[SLOTS];   /* the store's durable seq when the ack left */
	struct jn_store *store;           /* of the stream under test, if set */
};

static struct capture cap = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
static struct jn_router router;
static struct jn_sub reply_sub;
static struct jn_js *js;
static char dir[64];

static void on_reply(struct jn_sub *sub, const struct jn_msg *m, struct jn_pub *pub)
{
	(void)sub;
	(void)pub;
	int n = atoi(m->subject + 3);
	if (n < 0 || n >= SLOTS)
		return;
	pthread_mutex_lock(&cap.mu);
	snprintf(cap.body[n], sizeof cap.body[n], "%.*s", (int)m->data_len, (const char *)m->data);
	if (cap.store) {
		struct jn_store_stats s;
		jn_store_stats(cap.store, &s);
		cap.durable_at_ack[n] = s.durable_seq;
	}
	cap.got[n] = true;
	pthread_cond_broadcast(&cap.cv);
	pthread_mutex_unlock(&cap.mu);
}

/* Publish (subject, body, optional header block) with reply _R.<slot>. */
static void pub(const char *subj, const char *body, const char *hdr, int slot)
{
	char reply[16];
	snprintf(reply, sizeof reply, "_R.%d", slot);
	pthread_mutex_lock(&cap.mu);
	cap.got[slot] = false;
	pthread_mutex_unlock(&cap.mu);
	struct jn_msg m = { .subject = subj, .subject_len = (uint32_t)strlen(subj),
	                    .reply = reply, .reply_len = (uint32_t)strlen(reply),
	                    .hdr = (const uint8_t *)hdr, .hdr_len = hdr ? (uint32_t)strlen(hdr) : 0,
	                    .data = (const uint8_t *)body, .data_len = (uint32_t)strlen(body) };
	struct jn_pub p = { 0 };
	assert_true(jn_router_publish_any_thread(&router, &m, &p) >= 0);
}

static const char *wait_reply(int slot)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* Generous: an ack waits for fsync, and one fsync right after a build
	 * has flushed gigabytes of object files can take seconds on a shared
	 * CI disk (ext4 data=ordered commits other files' data first). */
	ts.tv_sec += 30;
	pthread_mutex_lock(&cap.mu);
	while (!cap.got[slot])
		if (pthread_cond_timedwait(&cap.cv, &cap.mu, &ts) != 0)
			break;
	bool got = cap.got[slot];
	pthread_mutex_unlock(&cap.mu);
	if (!got)
		fail_msg("no reply in slot %d", slot);
	return cap.body[slot];
}

static bool no_reply(int slot, int ms)
{
	usleep((useconds_t)ms * 1000);
	pthread_mutex_lock(&cap.mu);
	bool got = cap.got[slot];
	pthread_mutex_unlock(&cap.mu);
	return !got;
}

static void js_open(void)
{
	struct jn_js_cfg c = { .store_dir = dir };
	assert_int_equal(jn_js_open(&router, &c, &js), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/jn-test-stream-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(jn_router_init(&router), 0);
	reply_sub = (struct jn_sub){ .subject = "_R.*", .subject_len = 4, .deliver = on_reply };
	assert_int_equal(jn_sublist_insert(router.subs, &reply_sub), 0);
	js_open();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cap.store = NULL;
	jn_js_close(js);
	jn_sublist_remove(router.subs, &reply_sub);
	jn_epoch_drain();
	jn_router_fini(&router);
	jn_epoch_drain();
	jn_rmtree(dir);
	return 0;
}

static struct jn_store *stream_store(const char *name)
{
	struct jn_stream *st = jn_js_stream_get(js, name, strlen(name));
	assert_non_null(st);
	struct jn_store *s = jn_stream_store(st);
	jn_stream_unref(st);   /* the registry keeps it */
	return s;
}

static void create(const char *name, const char *cfg)
{
	char subj[128];
	snprintf(subj, sizeof subj, "$JS.API.STREAM.CREATE.%s", name);
	pub(subj, cfg, NULL, 0);
	const char *r = wait_reply(0);
	if (strstr(r, "\"error\""))
		fail_msg("create %s: %s", name, r);
}

/* sync "always": the ack of seq N is sent when the store says N is fsynced. */
static void test_ack_after_fsync(void **state)
{
	(void)state;
	create("S", "{\"name\":\"S\",\"subjects\":[\"s.>\"]}");
	cap.store = stream_store("S");
	for (int i = 1; i <= 20; i++)
		pub("s.a", "payload", NULL, i);
	for (int i = 1; i <= 20; i++) {
		char want[64];
		const char *r = wait_reply(i);
		uint64_t seq = strtoull(strstr(r, "\"seq\":") + 6, NULL, 10);
		snprintf(want, sizeof want, "{\"stream\":\"S\", \"seq\":%llu}", (unsigned long long)seq);
		assert_string_equal(r, want);
		assert_true(cap.durable_at_ack[i] >= seq);
	}
	struct jn_store_stats s;
	jn_store_stats(cap.store, &s);
	assert_true(s.fsyncs >= 1);
	assert_true(s.fsyncs <= 20);   /* group commit may merge them */
}

/* A failed write answers 10077 and stores nothing; the store goes on. */
static void test_disk_full_write(void **state)
{
	(void)state;
	create("D", "{\"name\":\"D\",\"subjects\":[\"d\"]}");
	struct jn_store *st = stream_store("D");
	jn_filestore_set_prealloc(st, false);
	pub("d", "one", NULL, 1);
	assert_string_equal(wait_reply(1), "{\"stream\":\"D\", \"seq\":1}");
	jn_filestore_inject_fault(st, JN_FS_FAULT_WRITE, ENOSPC, true);
	pub("d", "two", "NATS/1.0\r\nNats-Msg-Id: two\r\n\r\n", 2);
	const char *r = wait_reply(2);
	assert_non_null(strstr(r, "\"err_code\":10077"));
	assert_non_null(strstr(r, "\"stream\":\"D\",\"seq\":0"));
	assert_non_null(strstr(r, "insufficient storage"));
	/* the id was not recorded: a retry is stored, not a duplicate */
	pub("d", "two", "NATS/1.0\r\nNats-Msg-Id: two\r\n\r\n", 3);
	assert_string_equal(wait_reply(3), "{\"stream\":\"D\", \"seq\":2}");
	struct jn_store_state ss;
	jn_store_state(st, &ss);
	assert_int_equal(ss.msgs, 2);
	struct jn_store_msg m = { 0 };
	assert_int_equal(jn_store_load(st, 1, &m), 0);
	assert_memory_equal(m.data, "one", 3);
	assert_int_equal(jn_store_load(st, 2, &m), 0);
	assert_memory_equal(m.data, "two", 3);
	jn_store_msg_fini(&m);
}

/* A failed fsync: the waiting publish gets an error, never a success; what
 * was acknowledged before is there after a reopen. */
static void test_fsync_failure(void **state)
{
	(void)state;
	create("F", "{\"name\":\"F\",\"subjects\":[\"f\"]}");
	struct jn_store *st = stream_store("F");
	pub("f", "kept", NULL, 1);
	assert_string_equal(wait_reply(1), "{\"stream\":\"F\", \"seq\":1}");
	jn_filestore_inject_fault(st, JN_FS_FAULT_FSYNC, EIO, false);
	pub("f", "doubtful", NULL, 2);
	const char *r = wait_reply(2);
	assert_non_null(strstr(r, "\"error\""));
	assert_non_null(strstr(r, "\"seq\":0"));
	/* the store now refuses writes until it is reopened */
	pub("f", "refused", NULL, 3);
	assert_non_null(strstr(wait_reply(3), "\"err_code\":10077"));

	jn_js_close(js);
	js = NULL;
	js_open();
	st = stream_store("F");
	struct jn_store_msg m = { 0 };
	assert_int_equal(jn_store_load(st, 1, &m), 0);
	assert_memory_equal(m.data, "kept", 4);
	jn_store_msg_fini(&m);
	pub("f", "after", NULL, 4);
	assert_non_null(strstr(wait_reply(4), "\"stream\":\"F\", \"seq\":"));
}

/* Close and open again: streams, config and messages come back. */
static void test_reopen(void **state)
{
	(void)state;
	create("R", "{\"name\":\"R\",\"subjects\":[\"r.*\"],\"max_msgs\":5,\"description\":\"x\"}");
	create("RM", "{\"name\":\"RM\",\"subjects\":[\"rm\"],\"storage\":\"memory\"}");
	for (int i = 1; i <= 8; i++)
		pub("r.x", "m", NULL, i);
	for (int i = 1; i <= 8; i++)
		wait_reply(i);
	jn_js_close(js);
	js = NULL;
	js_open();
	pub("$JS.API.STREAM.INFO.R", "", NULL, 10);
	const char *r = wait_reply(10);
	assert_non_null(strstr(r, "\"max_msgs\":5"));
	assert_non_null(strstr(r, "\"description\":\"x\""));
	assert_non_null(strstr(r, "\"messages\":5,"));
	assert_non_null(strstr(r, "\"first_seq\":4,"));
	assert_non_null(strstr(r, "\"last_seq\":8,"));
	pub("$JS.API.STREAM.INFO.RM", "", NULL, 11);
	assert_non_null(strstr(wait_reply(11), "\"err_code\":10059"));
	/* the ingest subscription is back */
	pub("r.y", "m", NULL, 12);
	assert_string_equal(wait_reply(12), "{\"stream\":\"R\", \"seq\":9}");
	/* a stray directory without meta.json is skipped, not fatal */
	char p[128];
	snprintf(p, sizeof p, "%s/streams/JUNK", dir);
	assert_int_equal(jn_mkdirs(p), 0);
	jn_js_close(js);
	js = NULL;
	js_open();
	pub("$JS.API.STREAM.NAMES", "", NULL, 13);
	assert_non_null(strstr(wait_reply(13), "\"streams\":[\"R\"]"));
}

static void test_requests_without_reply(void **state)
{
	(void)state;
	struct jn_msg m = { .subject = "$JS.API.STREAM.CREATE.Q", .subject_len = 23,
	                    .data = (const uint8_t *)"{\"name\":\"Q\"}", .data_len = 12 };
	struct jn_pub p = { 0 };
	assert_true(jn_router_publish_any_thread(&router, &m, &p) >= 0);
	assert_null(jn_js_stream_get(js, "Q", 1));   /* ignored, as nats-server does */
	pub("$JS.API.BOGUS", "", NULL, 1);
	assert_true(no_reply(1, 100));
}

static void test_unusable_store_dir(void **state)
{
	(void)state;
	char file[128];
	snprintf(file, sizeof file, "%s/plainfile", dir);
	assert_int_equal(jn_file_write_atomic(file, "x", 1), 0);
	char bad[160];
	snprintf(bad, sizeof bad, "%s/store", file);
	struct jn_js_cfg c = { .store_dir = bad };
	struct jn_js *j2 = NULL;
	assert_true(jn_js_open(&router, &c, &j2) < 0);
	assert_null(j2);
}

/* jn_js_publish_acked: the verdict comes to a C callback, after fsync. */
struct verdict {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	int err;
	char stream[32];
	uint64_t seq, durable_at;
	bool dup;
	struct jn_store *store;
};

static void on_verdict(void *arg, const struct jn_js_puback *a)
{
	struct verdict *v = arg;
	pthread_mutex_lock(&v->mu);
	v->calls++;
	v->err = a->err;
	snprintf(v->stream, sizeof v->stream, "%s", a->stream ? a->stream : "");
	v->seq = a->seq;
	v->dup = a->duplicate;
	if (v->store) {
		struct jn_store_stats s;
		jn_store_stats(v->store, &s);
		v->durable_at = s.durable_seq;
	}
	pthread_cond_broadcast(&v->cv);
	pthread_mutex_unlock(&v->mu);
}

static void publish_acked(struct verdict *v, const char *subj, const char *hdr)
{
	pthread_mutex_lock(&v->mu);
	v->calls = 0;
	pthread_mutex_unlock(&v->mu);
	struct jn_msg m = { .subject = subj, .subject_len = (uint32_t)strlen(subj),
	                    .hdr = (const uint8_t *)hdr, .hdr_len = hdr ? (uint32_t)strlen(hdr) : 0,
	                    .data = (const uint8_t *)"v", .data_len = 1 };
	assert_true(jn_js_publish_acked(js, NULL, &m, NULL, on_verdict, v) >= 0);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	pthread_mutex_lock(&v->mu);
	while (v->calls == 0)
		if (pthread_cond_timedwait(&v->cv, &v->mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&v->mu);
	usleep(20000);   /* a second call would show up now */
	pthread_mutex_lock(&v->mu);
	assert_int_equal(v->calls, 1);
	pthread_mutex_unlock(&v->mu);
}

static void test_publish_acked(void **state)
{
	(void)state;
	create("K", "{\"name\":\"K\",\"subjects\":[\"k.>\"]}");
	static struct verdict v = { .mu = PTHREAD_MUTEX_INITIALIZER,
	                            .cv = PTHREAD_COND_INITIALIZER };
	v.store = stream_store("K");

	publish_acked(&v, "k.a", NULL);
	assert_int_equal(v.err, 0);
	assert_string_equal(v.stream, "K");
	assert_int_equal(v.seq, 1);
	assert_true(v.durable_at >= 1);   /* told only once fsynced */

	publish_acked(&v, "k.a", "NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 7\r\n\r\n");
	assert_int_equal(v.err, -JN_EWRONGLASTSEQ);
	assert_int_equal(v.seq, 0);

	publish_acked(&v, "k.b", "NATS/1.0\r\nNats-Msg-Id: x\r\n\r\n");
	assert_int_equal(v.seq, 2);
	assert_false(v.dup);
	publish_acked(&v, "k.b", "NATS/1.0\r\nNats-Msg-Id: x\r\n\r\n");
	assert_int_equal(v.seq, 2);
	assert_true(v.dup);

	publish_acked(&v, "nobody.stores.this", NULL);
	assert_int_equal(v.err, 0);
	assert_string_equal(v.stream, "");
	assert_int_equal(v.seq, 0);
	v.store = NULL;
}

/* jn_js_api_call: the same answers as over NATS, without a reply subject. */
static void test_api_call(void **state)
{
	(void)state;
	json_t *r;
	const char *cfg = "{\"name\":\"AC\",\"subjects\":[\"ac.>\"]}";
	assert_int_equal(jn_js_api_call(js, "STREAM.CREATE.AC", cfg, strlen(cfg), &r), 0);
	assert_string_equal(json_string_value(json_object_get(r, "type")),
	                    "io.nats.jetstream.api.v1.stream_create_response");
	assert_null(json_object_get(r, "error"));
	json_decref(r);
	pub("ac.x", "m", NULL, 1);
	wait_reply(1);
	assert_int_equal(jn_js_api_call(js, "STREAM.INFO.AC", NULL, 0, &r), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "state"), "messages")), 1);
	json_decref(r);
	assert_int_equal(jn_js_api_call(js, "STREAM.INFO.NOPE", NULL, 0, &r), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "err_code")), 10059);
	json_decref(r);
	const char *cc = "{\"stream_name\":\"AC\",\"config\":{\"durable_name\":\"d\",\"ack_policy\":\"explicit\"}}";
	assert_int_equal(jn_js_api_call(js, "CONSUMER.DURABLE.CREATE.AC.d", cc, strlen(cc), &r), 0);
	assert_int_equal(json_integer_value(json_object_get(r, "num_pending")), 1);
	json_decref(r);
	assert_int_equal(jn_js_api_call(js, "NO.SUCH.OP", NULL, 0, &r), -JN_ETIMEOUT);
	assert_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ack_after_fsync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_acked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requests_without_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unusable_store_dir, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
