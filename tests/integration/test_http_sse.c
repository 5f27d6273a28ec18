/*
 * test_http_sse.c - GET /v1/subscribe as server-sent events: wildcards and
 * several subjects on one stream, messages from NATS publishers and from
 * HTTP publishes, the event JSON (subject, reply, headers, base64 data),
 * queue groups, pings, unsubscribe on disconnect, input errors, and a slow
 * client that is cut while another keeps receiving everything.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_it.h"

static natsConnection *nats(void)
{
	return it_connect(NULL, NULL);
}

static long long metric(const char *series)
{
	struct ht_resp r;
	ht_req(&r, "GET", "/metrics", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	long long v = ht_metric(r.body, series);
	ht_free(&r);
	return v;
}

/* Wait until metric == want (within ms). */
#define wait_metric(series, want, ms) wait_metric_at(__FILE__, __LINE__, series, want, ms)
static void wait_metric_at(const char *file, int line, const char *series, long long want, int ms)
{
	int64_t deadline = it_now_ms() + ms;
	long long v;
	while ((v = metric(series)) != want) {
		if (it_now_ms() > deadline)
			it_fail(file, line, "%s is %lld, expected %lld", series, v, want);
		it_sleep_ms(20);
	}
}

static void check_event(struct ht_sse *s, int i, const char *subject, const char *reply,
                        const char *data)
{
	json_t *e = ht_sse_event(s, i);
	IT_EQ_STR(json_string_value(json_object_get(e, "subject")), subject);
	IT_EQ_STR(json_string_value(json_object_get(e, "reply")), reply);
	IT_CHECK(json_is_object(json_object_get(e, "headers")), "headers is not an object");
	char dec[1024];
	const char *b64 = json_string_value(json_object_get(e, "data"));
	IT_CHECK(b64 != NULL, "no data");
	size_t n = ht_b64(b64, dec, sizeof dec);
	IT_CHECK(n == strlen(data) && memcmp(dec, data, n) == 0, "event %d data \"%.*s\", expected \"%s\"",
	         i, (int)n, dec, data);
	json_decref(e);
}

static void sse_wildcards_nats_and_http(void)
{
	ht_start(NULL, NULL);
	struct ht_sse *s = ht_sse_open("/v1/subscribe?subject=a.%3E&subject=b.*", NULL);
	natsConnection *nc = nats();
	IT_OK(natsConnection_PublishString(nc, "a.x.y", "one"));
	IT_OK(natsConnection_PublishString(nc, "b.q", "two"));
	IT_OK(natsConnection_PublishString(nc, "b.q.r", "no"));
	IT_OK(natsConnection_PublishString(nc, "c.d", "no"));
	IT_OK(natsConnection_PublishRequestString(nc, "a.b", "my.inbox", "three"));
	IT_OK(natsConnection_Flush(nc));
	ht_sse_wait(s, 3, 5000);
	struct ht_resp r;
	const char *h[] = { "X-Nats-Hdr-K: v", "X-Nats-Hdr-R: 1", "X-Nats-Hdr-R: 2", NULL };
	ht_req(&r, "POST", "/v1/publish/b.z", "four", 4, h);
	HT_STATUS(&r, 202);
	ht_free(&r);
	ht_sse_wait(s, 4, 5000);
	it_sleep_ms(200);
	IT_EQ_INT(ht_sse_count(s), 4);
	check_event(s, 0, "a.x.y", "", "one");
	check_event(s, 1, "b.q", "", "two");
	check_event(s, 2, "a.b", "my.inbox", "three");
	check_event(s, 3, "b.z", "", "four");
	json_t *e = ht_sse_event(s, 3);
	json_t *hd = json_object_get(e, "headers");
	IT_EQ_STR(json_string_value(json_object_get(hd, "K")), "v");
	json_t *rl = json_object_get(hd, "R");
	IT_CHECK(json_is_array(rl) && json_array_size(rl) == 2, "repeated header not a list");
	IT_EQ_STR(json_string_value(json_array_get(rl, 0)), "1");
	IT_EQ_STR(json_string_value(json_array_get(rl, 1)), "2");
	json_decref(e);
	e = ht_sse_event(s, 0);
	IT_EQ_INT(json_object_size(json_object_get(e, "headers")), 0);
	json_decref(e);
	ht_sse_close(s);
	natsConnection_Destroy(nc);
}

/* Overlapping subjects on one stream: one event per message. */
static void sse_overlap_once(void)
{
	ht_start(NULL, NULL);
	struct ht_sse *s = ht_sse_open("/v1/subscribe?subject=a.%3E&subject=a.b&subject=*.b", NULL);
	struct ht_resp r;
	ht_req(&r, "POST", "/v1/publish/a.b", "x", 1, NULL);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/publish/z.b", "y", 1, NULL);
	ht_free(&r);
	ht_sse_wait(s, 2, 5000);
	it_sleep_ms(200);
	IT_EQ_INT(ht_sse_count(s), 2);
	check_event(s, 0, "a.b", "", "x");
	check_event(s, 1, "z.b", "", "y");
	ht_sse_close(s);
}

static void sse_path_forms(void)
{
	ht_start(NULL, NULL);
	/* subject in the path, '>' encoded, and '/' inside the subject */
	struct ht_sse *s1 = ht_sse_open("/v1/subscribe/p.%3E", NULL);
	struct ht_sse *s2 = ht_sse_open("/v1/subscribe/p.a%2Fb", NULL);
	struct ht_sse *s3 = ht_sse_open("/v1/subscribe/p.*", NULL);
	natsConnection *nc = nats();
	IT_OK(natsConnection_PublishString(nc, "p.a/b", "slash"));
	IT_OK(natsConnection_PublishString(nc, "p.q.r", "deep"));
	IT_OK(natsConnection_Flush(nc));
	ht_sse_wait(s1, 2, 5000);
	ht_sse_wait(s2, 1, 5000);
	ht_sse_wait(s3, 1, 5000);
	it_sleep_ms(200);
	IT_EQ_INT(ht_sse_count(s2), 1);
	IT_EQ_INT(ht_sse_count(s3), 1);
	check_event(s2, 0, "p.a/b", "", "slash");
	check_event(s1, 1, "p.q.r", "", "deep");
	ht_sse_close(s1);
	ht_sse_close(s2);
	ht_sse_close(s3);
	natsConnection_Destroy(nc);
}

static void sse_queue_group(void)
{
	ht_start(NULL, NULL);
	struct ht_sse *q1 = ht_sse_open("/v1/subscribe/jobs.*?queue=workers", NULL);
	struct ht_sse *q2 = ht_sse_open("/v1/subscribe?subject=jobs.*&queue=workers", NULL);
	struct ht_sse *all = ht_sse_open("/v1/subscribe/jobs.*", NULL);
	enum { N = 60 };
	for (int i = 0; i < N; i++) {
		struct ht_resp r;
		char path[64];
		snprintf(path, sizeof path, "/v1/publish/jobs.%d", i);
		ht_req(&r, "POST", path, "j", 1, NULL);
		HT_STATUS(&r, 202);
		ht_free(&r);
	}
	ht_sse_wait(all, N, 5000);
	int64_t deadline = it_now_ms() + 5000;
	while (ht_sse_count(q1) + ht_sse_count(q2) < N && it_now_ms() < deadline)
		it_sleep_ms(5);
	it_sleep_ms(200);
	IT_EQ_INT(ht_sse_count(q1) + ht_sse_count(q2), N);
	IT_CHECK(ht_sse_count(q1) > 0 && ht_sse_count(q2) > 0, "queue split %d/%d", ht_sse_count(q1),
	         ht_sse_count(q2));
	/* a NATS queue subscriber in the same group shares the work too */
	natsConnection *nc = nats();
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_QueueSubscribeSync(&sub, nc, "jobs.*", "workers"));
	IT_OK(natsConnection_Flush(nc));
	int before = ht_sse_count(q1) + ht_sse_count(q2);
	for (int i = 0; i < N; i++)
		IT_OK(natsConnection_PublishString(nc, "jobs.n", "k"));
	IT_OK(natsConnection_Flush(nc));
	int got_nats = 0;
	natsMsg *m = NULL;
	while (natsSubscription_NextMsg(&m, sub, 300) == NATS_OK) {
		got_nats++;
		natsMsg_Destroy(m);
	}
	int got_sse = ht_sse_count(q1) + ht_sse_count(q2) - before;
	IT_EQ_INT(got_nats + got_sse, N);
	IT_CHECK(got_nats > 0 && got_sse > 0, "queue split nats %d / sse %d", got_nats, got_sse);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	ht_sse_close(q1);
	ht_sse_close(q2);
	ht_sse_close(all);
}

static void sse_pings(void)
{
	ht_start(NULL, "\"sse_ping_interval\": \"150ms\"");
	struct ht_sse *s = ht_sse_open("/v1/subscribe/quiet", NULL);
	it_sleep_ms(700);
	pthread_mutex_lock(&s->lock);
	int pings = 0;
	for (const char *p = s->buf; (p = strstr(p, ": ping\n\n")); p++)
		pings++;
	pthread_mutex_unlock(&s->lock);
	IT_CHECK(pings >= 2 && pings <= 6, "%d pings in 700 ms at 150 ms", pings);
	ht_sse_close(s);
}

static int raw_http(int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)it_srv->http_port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	IT_CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect");
	return fd;
}

/* Read until `want` appears (bytes are consumed). */
static void raw_until(int fd, const char *want)
{
	char buf[8192];
	size_t have = 0;
	int64_t deadline = it_now_ms() + 5000;
	while (it_now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = recv(fd, buf + have, 1, 0);   /* byte at a time: read no further */
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		if (strstr(buf, want))
			return;
		if (have + 2 >= sizeof buf)
			break;
	}
	it_fail(__FILE__, __LINE__, "never saw \"%s\"", want);
}

static void sse_unsubscribed_on_disconnect(void)
{
	ht_start(NULL, "\"sse_ping_interval\": \"100ms\"");
	long long base = metric("junction_subscriptions");
	int fd = raw_http(0);
	const char *req = "GET /v1/subscribe?subject=gone.a&subject=gone.b HTTP/1.1\r\nHost: x\r\n\r\n";
	IT_CHECK(send(fd, req, strlen(req), 0) > 0, "send");
	raw_until(fd, ": ok\n\n");
	IT_EQ_INT(metric("junction_subscriptions"), base + 2);
	IT_EQ_INT(metric("junction_http_sse_streams"), 1);
	close(fd);
	/* noticed at the next write (a ping at the latest) */
	wait_metric("junction_subscriptions", base, 3000);
	wait_metric("junction_http_sse_streams", 0, 3000);
}

static void sse_bad_requests(void)
{
	ht_start(NULL, NULL);
	struct ht_resp r;
	ht_req(&r, "GET", "/v1/subscribe", NULL, 0, NULL);
	HT_ERROR(&r, 400, "subject");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/subscribe?subject=a..b", NULL, 0, NULL);
	HT_ERROR(&r, 400, "subject");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/subscribe?subject=a.%3E.b", NULL, 0, NULL);
	HT_ERROR(&r, 400, "subject");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/subscribe/a..b", NULL, 0, NULL);
	HT_ERROR(&r, 400, "subject");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/subscribe?subject=", NULL, 0, NULL);
	HT_ERROR(&r, 400, "subject");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/subscribe/ok?queue=bad%20name", NULL, 0, NULL);
	HT_ERROR(&r, 400, "queue");
	ht_free(&r);
	char path[2048] = "/v1/subscribe?subject=s0";
	for (int i = 1; i < 33; i++) {
		char part[32];
		snprintf(part, sizeof part, "&subject=s%d", i);
		strcat(path, part);
	}
	ht_req(&r, "GET", path, NULL, 0, NULL);
	HT_ERROR(&r, 400, "32");
	ht_free(&r);
	/* nothing was left subscribed by the failures (the inbox only) */
	IT_EQ_INT(metric("junction_subscriptions"), 1);
}

/* A client that stops reading overflows its bounded buffer and is cut;
 * the publisher is never slowed and another client, which reads, gets
 * everything. The publisher sends in bursts and lets the reading client
 * stay within 100 events, well under the buffer (on two loaded cores an
 * unpaced NATS publisher outruns any HTTP writer; a burst larger than
 * sse_max_buffer cuts any client, which is what the limit means). */
static void sse_slow_consumer_cut(void)
{
	ht_start(NULL, "\"sse_max_buffer\": \"1MiB\", \"sse_ping_interval\": \"200ms\"");
	int slow = raw_http(4096);
	const char *req = "GET /v1/subscribe/load HTTP/1.1\r\nHost: x\r\n\r\n";
	IT_CHECK(send(slow, req, strlen(req), 0) > 0, "send");
	raw_until(slow, ": ok\n\n");
	struct ht_sse *fast = ht_sse_open("/v1/subscribe/load", NULL);
	natsConnection *nc = nats();
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, nc, "load"));
	IT_OK(natsSubscription_SetPendingLimits(sub, -1, -1));
	IT_OK(natsConnection_Flush(nc));

	enum { N = 3000, SIZE = 4096, BURST = 20 };
	static char payload[SIZE];
	memset(payload, 'L', sizeof payload);
	int64_t t0 = it_now_ms();
	for (int i = 0; i < N; i++) {
		IT_OK(natsConnection_Publish(nc, "load", payload, SIZE));
		if (i % BURST == BURST - 1) {
			IT_OK(natsConnection_Flush(nc));
			/* the reading client stays within 100 events (~550 KB) of the
			 * publisher: it reads, so it must never be cut */
			int64_t lag_deadline = it_now_ms() + 10000;
			while (ht_sse_count(fast) < i + 1 - 100 && it_now_ms() < lag_deadline)
				it_sleep_ms(1);
		}
	}
	IT_OK(natsConnection_Flush(nc));
	int64_t pub_ms = it_now_ms() - t0;

	ht_sse_wait(fast, N, 30000);
	int got = 0;
	natsMsg *m = NULL;
	while (got < N && natsSubscription_NextMsg(&m, sub, 5000) == NATS_OK) {
		got++;
		natsMsg_Destroy(m);
	}
	IT_EQ_INT(got, N);
	wait_metric("junction_slow_consumers_total{adapter=\"http\"}", 1, 5000);
	/* the slow client's connection ends once it reads what was in flight */
	char buf[65536];
	int64_t deadline = it_now_ms() + 10000;
	ssize_t n;
	size_t total = 0;
	while ((n = recv(slow, buf, sizeof buf, 0)) > 0 && it_now_ms() < deadline)
		total += (size_t)n;
	IT_CHECK(n <= 0, "slow client still open after %zu bytes", total);
	IT_CHECK(total < (size_t)N * SIZE, "the slow client got everything (%zu bytes)", total);
	close(slow);
	/* the fast stream is still alive and well */
	struct ht_resp r;
	ht_req(&r, "POST", "/v1/publish/load", "after", 5, NULL);
	ht_free(&r);
	ht_sse_wait(fast, N + 1, 5000);
	IT_EQ_INT(metric("junction_slow_consumers_total{adapter=\"http\"}"), 1);
	wait_metric("junction_http_sse_streams", 1, 3000);
	printf("  published %d x %d B in %lld ms\n", N, SIZE, (long long)pub_ms);
	ht_sse_close(fast);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
}

/* Ending the server ends streams cleanly (and it exits 0: checked by it_stop). */
static void sse_server_stop_ends_stream(void)
{
	ht_start(NULL, NULL);
	struct ht_sse *s = ht_sse_open("/v1/subscribe/x", NULL);
	it_stop();
	int64_t deadline = it_now_ms() + 5000;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		bool done = s->done;
		CURLcode rc = s->rc;
		pthread_mutex_unlock(&s->lock);
		if (done) {
			IT_CHECK(rc == CURLE_OK, "stream ended with %s, expected a clean end",
			         curl_easy_strerror(rc));
			break;
		}
		IT_CHECK(it_now_ms() < deadline, "stream still open after the server stopped");
		it_sleep_ms(10);
	}
	ht_sse_close(s);
}

IT_MAIN(IT_TEST(sse_wildcards_nats_and_http), IT_TEST(sse_overlap_once), IT_TEST(sse_path_forms),
        IT_TEST(sse_queue_group), IT_TEST(sse_pings), IT_TEST(sse_unsubscribed_on_disconnect),
        IT_TEST(sse_bad_requests), IT_TEST_T(sse_slow_consumer_cut, 120),
        IT_TEST(sse_server_stop_ends_stream))
