/*
 * test_js_stream_persist.c - streams survive the server: a clean restart
 * keeps every file stream's config, created time, state, messages and
 * dedupe window (memory streams are gone, as with nats-server); a SIGKILL
 * in the middle of 100,000 asynchronous publishes loses no message whose
 * PubAck the client received, and the survivors are in publish order; an
 * unwritable store directory stops junction at start with a clear message.
 * Every case but the last also runs against nats-server.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "js_it.h"

static const struct it_config js_cfg = { .jetstream = true };

static natsConnection *start(void)
{
	it_start(&js_cfg);
	return it_connect(NULL, NULL);
}

static json_t *info(natsConnection *nc, const char *name)
{
	char subj[128];
	snprintf(subj, sizeof subj, "$JS.API.STREAM.INFO.%s", name);
	json_t *r = jt_api(nc, subj, "{\"deleted_details\":true}");
	jt_expect_ok(r, "stream_info_response");
	return r;
}

static void same_json(json_t *a, json_t *b, const char *what)
{
	if (!json_equal(a, b)) {
		char *x = json_dumps(a, JSON_COMPACT), *y = json_dumps(b, JSON_COMPACT);
		it_fail(__FILE__, __LINE__, "%s changed across the restart:\n  before %s\n  after  %s",
		        what, x, y);
	}
}

static void test_restart_keeps_streams(void)
{
	natsConnection *nc = start();
	jt_create(nc, "KEEP", "{\"name\":\"KEEP\",\"subjects\":[\"keep.>\",\"other\"],"
	                      "\"description\":\"kept\",\"max_msgs\":1000,\"max_bytes\":1000000,"
	                      "\"max_msgs_per_subject\":50,\"max_msg_size\":4096,\"discard\":\"new\","
	                      "\"duplicate_window\":60000000000,\"allow_direct\":true,"
	                      "\"deny_delete\":false,\"allow_rollup_hdrs\":true}");
	jt_create(nc, "WQ", "{\"name\":\"WQ\",\"subjects\":[\"wq\"],\"retention\":\"workqueue\"}");
	jt_create(nc, "MEM", "{\"name\":\"MEM\",\"subjects\":[\"mem\"],\"storage\":\"memory\"}");
	char want[64];
	for (int i = 1; i <= 20; i++) {
		char d[16];
		snprintf(d, sizeof d, "payload-%d", i);
		snprintf(want, sizeof want, "{\"stream\":\"KEEP\", \"seq\":%d}", i);
		jt_pub_expect(nc, i % 3 ? "keep.a" : "keep.b", d, want, "X-N", d, NULL);
	}
	jt_pub_expect(nc, "wq", "job", "{\"stream\":\"WQ\", \"seq\":1}", NULL);
	jt_pub_expect(nc, "mem", "m", "{\"stream\":\"MEM\", \"seq\":1}", NULL);
	json_t *r = jt_api(nc, "$JS.API.STREAM.MSG.DELETE.KEEP", "{\"seq\":7}");
	jt_expect_ok(r, "stream_msg_delete_response");
	json_decref(r);
	json_t *before = info(nc, "KEEP");
	json_t *before_wq = info(nc, "WQ");
	natsConnection_Destroy(nc);

	it_restart(false);
	nc = it_connect(NULL, NULL);
	json_t *after = info(nc, "KEEP");
	same_json(json_object_get(before, "config"), json_object_get(after, "config"), "config");
	same_json(json_object_get(before, "created"), json_object_get(after, "created"), "created");
	same_json(json_object_get(before, "state"), json_object_get(after, "state"), "state");
	json_t *after_wq = info(nc, "WQ");
	same_json(before_wq, after_wq, "WQ info");
	json_decref(before);
	json_decref(after);
	json_decref(before_wq);
	json_decref(after_wq);
	r = jt_api(nc, "$JS.API.STREAM.INFO.MEM", NULL);
	jt_expect_err(r, "stream_info_response", 10059, NULL);
	json_decref(r);

	/* messages, headers and holes are all there */
	jsCtx *js = jt_ctx(nc);
	for (int i = 1; i <= 20; i++) {
		natsMsg *m = NULL;
		jsErrCode ec = 0;
		if (i == 7) {
			IT_STATUS(js_GetMsg(&m, js, "KEEP", 7, NULL, &ec), NATS_NOT_FOUND);
			continue;
		}
		IT_OK(js_GetMsg(&m, js, "KEEP", (uint64_t)i, NULL, &ec));
		char d[16];
		snprintf(d, sizeof d, "payload-%d", i);
		IT_EQ_INT(natsMsg_GetDataLength(m), (int)strlen(d));
		IT_CHECK(memcmp(natsMsg_GetData(m), d, strlen(d)) == 0, "payload of %d", i);
		const char *v = NULL;
		IT_OK(natsMsgHeader_Get(m, "X-N", &v));
		IT_EQ_STR(v, d);
		IT_EQ_STR(natsMsg_GetSubject(m), i % 3 ? "keep.a" : "keep.b");
		natsMsg_Destroy(m);
	}
	/* still subscribed (both subjects), sequences go on, direct get works */
	jt_pub_expect(nc, "other", "x", "{\"stream\":\"KEEP\", \"seq\":21}", NULL);
	jt_pub_expect(nc, "keep.c", "x", "{\"stream\":\"KEEP\", \"seq\":22}", NULL);
	natsMsg *reply = NULL;
	IT_STATUS(natsConnection_RequestString(&reply, nc, "mem", "again", 1000), NATS_NO_RESPONDERS);
	natsConnection_Destroy(nc);
	jsCtx_Destroy(js);
}

static void test_restart_keeps_dedupe(void)
{
	natsConnection *nc = start();
	jt_create(nc, "DD", "{\"name\":\"DD\",\"subjects\":[\"dd\"]}");
	jt_pub_expect(nc, "dd", "a", "{\"stream\":\"DD\", \"seq\":1}", "Nats-Msg-Id", "one", NULL);
	jt_pub_expect(nc, "dd", "b", "{\"stream\":\"DD\", \"seq\":2}", "Nats-Msg-Id", "two", NULL);
	natsConnection_Destroy(nc);
	it_restart(false);
	nc = it_connect(NULL, NULL);
	jt_pub_expect(nc, "dd", "a", "{\"stream\":\"DD\", \"seq\":1,\"duplicate\": true}",
	              "Nats-Msg-Id", "one", NULL);
	/* the last message's id is known again too */
	jt_pub_expect(nc, "dd", "c", "{\"stream\":\"DD\", \"seq\":3}",
	              "Nats-Expected-Last-Msg-Id", "two", NULL);
	IT_EQ_INT(jt_state(nc, "DD", "messages"), 3);
	natsConnection_Destroy(nc);
}

/* ---- crash in the middle of asynchronous publishing ------------------- */

#define CRASH_N 100000

static uint64_t acked[CRASH_N];   /* stream seq acknowledged for message i, 0: none */
static pthread_mutex_t acked_mu = PTHREAD_MUTEX_INITIALIZER;
static int nacked;

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)closure;
	if (pa && !pae) {
		char d[16];
		int n = natsMsg_GetDataLength(msg);
		snprintf(d, sizeof d, "%.*s", n < 15 ? n : 15, natsMsg_GetData(msg));
		long i = strtol(d, NULL, 10);
		pthread_mutex_lock(&acked_mu);
		if (i >= 0 && i < CRASH_N) {
			acked[i] = pa->Sequence;
			nacked++;
		}
		pthread_mutex_unlock(&acked_mu);
	}
	natsMsg_Destroy(msg);
}

static int acked_count(void)
{
	pthread_mutex_lock(&acked_mu);
	int n = nacked;
	pthread_mutex_unlock(&acked_mu);
	return n;
}

static void test_crash_keeps_acked(void)
{
	natsConnection *nc = start();
	jt_create(nc, "CRASH", "{\"name\":\"CRASH\",\"subjects\":[\"crash.>\"]}");
	jsOptions o;
	jsOptions_Init(&o);
	o.Wait = 5000;
	o.PublishAsync.AckHandler = on_ack;
	o.PublishAsync.MaxPending = 2000;
	jsCtx *js = NULL;
	IT_OK(natsConnection_JetStream(&js, nc, &o));

	int sent = 0;
	bool killed = false;
	for (int i = 0; i < CRASH_N; i++) {
		char d[16];
		int n = snprintf(d, sizeof d, "%d", i);
		if (js_PublishAsync(js, "crash.x", d, n, NULL) != NATS_OK)
			break;
		sent++;
		if (!killed && i >= CRASH_N / 2 && acked_count() >= 5000) {
			it_restart(true);   /* SIGKILL mid-run, then start again */
			killed = true;
			break;
		}
	}
	IT_CHECK(killed, "never reached the crash point (sent %d, acked %d)", sent, acked_count());
	it_sleep_ms(200);
	natsConnection_Close(nc);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	int nack = acked_count();
	printf("  crash: sent %d, acked %d before SIGKILL\n", sent, nack);

	/* every acknowledged message is there, with its payload, in order */
	nc = it_connect(NULL, NULL);
	uint64_t last = jt_state(nc, "CRASH", "last_seq");
	uint64_t prev = 0;
	int checked = 0;
	for (int i = 0; i < CRASH_N; i++) {
		if (!acked[i])
			continue;
		IT_CHECK(acked[i] > prev, "message %d acked as seq %llu after seq %llu", i,
		         (unsigned long long)acked[i], (unsigned long long)prev);
		IT_CHECK(acked[i] <= last, "acked seq %llu beyond last_seq %llu after the crash",
		         (unsigned long long)acked[i], (unsigned long long)last);
		prev = acked[i];
		char body[64], want[16];
		snprintf(body, sizeof body, "{\"seq\":%llu}", (unsigned long long)acked[i]);
		json_t *r = jt_api(nc, "$JS.API.STREAM.MSG.GET.CRASH", body);
		IT_CHECK(json_object_get(r, "error") == NULL, "acked message %d (seq %llu) lost", i,
		         (unsigned long long)acked[i]);
		/* base64 of the decimal index */
		const char *b64 = jt_str(r, "message.data");
		static const char t[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		int n = snprintf(want, sizeof want, "%d", i);
		char enc[32];
		int k = 0;
		for (int j = 0; j < n; j += 3) {
			uint32_t v = (uint32_t)(unsigned char)want[j] << 16;
			if (j + 1 < n)
				v |= (uint32_t)(unsigned char)want[j + 1] << 8;
			if (j + 2 < n)
				v |= (unsigned char)want[j + 2];
			enc[k++] = t[v >> 18];
			enc[k++] = t[(v >> 12) & 63];
			enc[k++] = j + 1 < n ? t[(v >> 6) & 63] : '=';
			enc[k++] = j + 2 < n ? t[v & 63] : '=';
		}
		enc[k] = 0;
		IT_EQ_STR(b64, enc);
		json_decref(r);
		checked++;
	}
	IT_EQ_INT(checked, nack);
	/* and the stream takes new messages after the last one */
	char w[64];
	snprintf(w, sizeof w, "{\"stream\":\"CRASH\", \"seq\":%llu}", (unsigned long long)last + 1);
	jt_pub_expect(nc, "crash.y", "after", w, NULL);
	natsConnection_Destroy(nc);
}

/* ---- junction only: a really full disk -------------------------------- */

static char tmpfs_at[400];

/* The mount lives in a private mount namespace of this test process (and
 * the server it starts), so it vanishes with them even after a failure. */
static bool mount_tmpfs(const char *at, const char *opts)
{
	if (unshare(CLONE_NEWNS) != 0)
		return false;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return false;
	return mount("tmpfs", at, "tmpfs", 0, opts) == 0;
}

/* The store on a 4 MiB tmpfs: publishing until it is full gives error
 * PubAcks (10077), never a lost acknowledged message; after freeing space
 * (purge) and after a restart everything acknowledged is still there. */
static void test_disk_full(void)
{
	if (!it_is_junction()) {
		printf("  (junction only: nats-server's disk-full handling is not under test)\n");
		return;
	}
	natsConnection *nc = start();
	natsConnection_Destroy(nc);
	snprintf(tmpfs_at, sizeof tmpfs_at, "%s/store", it_srv->dir);
	it_stop();
	if (!mount_tmpfs(tmpfs_at, "size=4m")) {
		printf("  (skipped: cannot mount a tmpfs here: %s)\n", strerror(errno));
		it_restart(false);
		return;
	}
	it_restart(false);
	nc = it_connect(NULL, NULL);
	jt_create(nc, "FULL", "{\"name\":\"FULL\",\"subjects\":[\"full\"]}");
	static char data[8001];
	memset(data, 'x', sizeof data - 1);
	uint64_t last_ok = 0;
	int errors = 0;
	char buf[512];
	for (int i = 0; i < 2000 && errors < 5; i++) {
		natsMsg *m = NULL;
		IT_OK(natsMsg_Create(&m, "full", NULL, data, (int)strlen(data)));
		IT_CHECK(jt_pub_raw(nc, m, buf, sizeof buf, 5000), "no PubAck at message %d", i);
		natsMsg_Destroy(m);
		if (strstr(buf, "\"error\"")) {
			IT_CHECK(strstr(buf, "\"err_code\":10077") && strstr(buf, "\"seq\":0"),
			         "unexpected error ack %s", buf);
			errors++;
			continue;
		}
		IT_CHECK(errors == 0, "stored after the disk filled up: %s", buf);
		last_ok = strtoull(strstr(buf, "\"seq\":") + 6, NULL, 10);
	}
	IT_CHECK(errors > 0 && last_ok > 100, "disk never filled (%llu stored)",
	         (unsigned long long)last_ok);
	printf("  disk full after %llu messages: %s\n", (unsigned long long)last_ok, buf);
	IT_EQ_INT(jt_state(nc, "FULL", "messages"), last_ok);
	IT_EQ_INT(jt_state(nc, "FULL", "last_seq"), last_ok);
	natsConnection_Destroy(nc);
	it_restart(false);
	nc = it_connect(NULL, NULL);
	IT_EQ_INT(jt_state(nc, "FULL", "messages"), last_ok);
	json_t *r = jt_api(nc, "$JS.API.STREAM.MSG.GET.FULL", "{\"last_by_subj\":\"full\"}");
	IT_EQ_INT(jt_int(r, "message.seq"), last_ok);
	json_decref(r);
	/* space comes back with a purge, and writes work again */
	r = jt_api(nc, "$JS.API.STREAM.PURGE.FULL", NULL);
	jt_expect_ok(r, "stream_purge_response");
	json_decref(r);
	snprintf(buf, sizeof buf, "{\"stream\":\"FULL\", \"seq\":%llu}",
	         (unsigned long long)last_ok + 1);
	jt_pub_expect(nc, "full", "again", buf, NULL);
	natsConnection_Destroy(nc);
	it_stop();
	umount2(tmpfs_at, MNT_DETACH);
}

/* ---- junction only: refusing an unwritable store ---------------------- */

static void test_unwritable_store_refused(void)
{
	if (!it_is_junction()) {
		printf("  (junction only: nats-server's startup is not under test)\n");
		return;
	}
	char exe[1024], bin[1100];
	const char *env = getenv("JN_JUNCTION_BIN");
	if (env && *env) {
		snprintf(bin, sizeof bin, "%s", env);
	} else {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		IT_CHECK(n > 0, "readlink");
		exe[n] = 0;
		*strrchr(exe, '/') = 0;
		snprintf(bin, sizeof bin, "%s/../../gateway/junction", exe);
	}
	/* a store directory below a regular file cannot be created */
	char dir[] = "/tmp/jn-it-store-XXXXXX";
	IT_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	char file[300], store[400], log[300];
	snprintf(file, sizeof file, "%s/file", dir);
	snprintf(store, sizeof store, "%s/store", file);
	snprintf(log, sizeof log, "%s/log", dir);
	FILE *f = fopen(file, "w");
	fputs("x", f);
	fclose(f);
	char port[16];
	snprintf(port, sizeof port, "%d", 20000 + (int)(getpid() % 9000));
	pid_t pid = fork();
	if (pid == 0) {
		FILE *lf = freopen(log, "w", stderr);
		(void)lf;
		dup2(2, 1);
		execl(bin, bin, "-a", "127.0.0.1", "-p", port, "--store-dir", store, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	int64_t deadline = it_now_ms() + 10000;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (it_now_ms() > deadline) {
			kill(pid, SIGKILL);
			it_fail(__FILE__, __LINE__, "junction started with an unusable store directory");
		}
		it_sleep_ms(20);
	}
	IT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 127,
	         "junction exit status %d", WEXITSTATUS(st));
	char text[4096] = "";
	f = fopen(log, "r");
	size_t n = fread(text, 1, sizeof text - 1, f);
	text[n] = 0;
	fclose(f);
	IT_CHECK(strstr(text, "jetstream") && strstr(text, store), "no clear message: %s", text);
	unlink(log);
	unlink(file);
	rmdir(dir);
}

IT_MAIN(
	IT_TEST(test_restart_keeps_streams),
	IT_TEST(test_restart_keeps_dedupe),
	IT_TEST_T(test_crash_keeps_acked, 180),
	IT_TEST(test_disk_full),
	IT_TEST(test_unwritable_store_refused),
)
