/*
 * test_pubsub.c - publish/subscribe through libnats: delivery, subject
 * wildcards (the time.* cases), ordering, echo off, auto-unsubscribe
 * and flush semantics.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "harness.h"

/* Receive one message within ms and check its subject and data; the caller
 * gets nothing back (the message is destroyed). */
static void expect_msg(natsSubscription *sub, const char *subject, const char *data, int ms)
{
	natsMsg *m = NULL;
	natsStatus s = natsSubscription_NextMsg(&m, sub, ms);
	IT_CHECK(s == NATS_OK, "waiting for \"%s\" on %s: %s", data, subject, natsStatus_GetText(s));
	IT_EQ_STR(natsMsg_GetSubject(m), subject);
	IT_EQ_INT(natsMsg_GetDataLength(m), strlen(data));
	IT_CHECK(memcmp(natsMsg_GetData(m), data, strlen(data)) == 0, "data \"%.*s\", expected \"%s\"",
	         natsMsg_GetDataLength(m), natsMsg_GetData(m), data);
	natsMsg_Destroy(m);
}

static void expect_none(natsSubscription *sub, int ms)
{
	natsMsg *m = NULL;
	natsStatus s = natsSubscription_NextMsg(&m, sub, ms);
	IT_CHECK(s == NATS_TIMEOUT, "expected no message, got %s on \"%s\"", natsStatus_GetText(s),
	         m ? natsMsg_GetSubject(m) : "-");
}

static void t_pub_sub(void)
{
	it_start(NULL);
	natsConnection *sc = it_connect(NULL, NULL), *pc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, sc, "greeting"));
	IT_OK(natsConnection_Flush(sc));
	IT_OK(natsConnection_PublishString(pc, "greeting", "hello world"));
	IT_OK(natsConnection_PublishString(pc, "other", "not for you"));
	IT_OK(natsConnection_Flush(pc));
	expect_msg(sub, "greeting", "hello world", 2000);
	expect_none(sub, 200);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(sc);
	natsConnection_Destroy(pc);
}

/* Publish each subject once, then check the subscriber got exactly want[]. */
static void wildcard_case(const char *pattern, const char *const *pubs, const char *const *want)
{
	it_start(NULL);
	natsConnection *sc = it_connect(NULL, NULL), *pc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, sc, pattern));
	IT_OK(natsConnection_Flush(sc));
	for (int i = 0; pubs[i]; i++)
		IT_OK(natsConnection_PublishString(pc, pubs[i], pubs[i]));
	IT_OK(natsConnection_Flush(pc));
	for (int i = 0; want[i]; i++)
		expect_msg(sub, want[i], want[i], 2000);
	expect_none(sub, 200);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(sc);
	natsConnection_Destroy(pc);
}

static void t_wildcard_star(void)
{
	static const char *const pubs[] = { "time.us.east", "time.us.west", "time.eu.east",
	                                    "time.us.east.atlanta", "time.east", NULL };
	static const char *const want[] = { "time.us.east", "time.eu.east", NULL };
	wildcard_case("time.*.east", pubs, want);
}

static void t_wildcard_full(void)
{
	static const char *const pubs[] = { "time.us", "time.us.east", "time.eu.east",
	                                    "time.us.east.atlanta", NULL };
	static const char *const want[] = { "time.us.east", "time.us.east.atlanta", NULL };
	wildcard_case("time.us.>", pubs, want);
}

static void t_wildcard_star_is_one_token(void)
{
	static const char *const pubs[] = { "time.us.east.atlanta", "time.us", "time.us.east", NULL };
	static const char *const want[] = { "time.us.east", NULL };
	wildcard_case("time.us.*", pubs, want);
}

/* Messages from one publisher arrive in publish order. */
static void t_ordering(void)
{
	enum { N = 2000 };
	it_start(NULL);
	natsConnection *sc = it_connect(NULL, NULL), *pc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, sc, "seq"));
	IT_OK(natsConnection_Flush(sc));
	for (int i = 0; i < N; i++) {
		char b[16];
		snprintf(b, sizeof b, "%d", i);
		IT_OK(natsConnection_PublishString(pc, "seq", b));
	}
	IT_OK(natsConnection_Flush(pc));
	for (int i = 0; i < N; i++) {
		char b[16];
		snprintf(b, sizeof b, "%d", i);
		expect_msg(sub, "seq", b, 5000);
	}
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(sc);
	natsConnection_Destroy(pc);
}

/* With echo off a connection does not get its own messages; others do. */
static void t_no_echo(void)
{
	it_start(NULL);
	natsOptions *o = it_opts();
	natsConnection *quiet = NULL, *loud = it_connect(NULL, NULL), *other = it_connect(NULL, NULL);
	IT_OK(natsOptions_SetNoEcho(o, true));
	IT_OK(natsConnection_Connect(&quiet, o));
	natsOptions_Destroy(o);

	natsSubscription *qs = NULL, *ls = NULL, *os = NULL;
	IT_OK(natsConnection_SubscribeSync(&qs, quiet, "echo"));
	IT_OK(natsConnection_SubscribeSync(&ls, loud, "echo"));
	IT_OK(natsConnection_SubscribeSync(&os, other, "echo"));
	IT_OK(natsConnection_Flush(quiet));
	IT_OK(natsConnection_Flush(loud));
	IT_OK(natsConnection_Flush(other));

	IT_OK(natsConnection_PublishString(quiet, "echo", "from-quiet"));
	IT_OK(natsConnection_Flush(quiet));
	IT_OK(natsConnection_PublishString(loud, "echo", "from-loud"));
	IT_OK(natsConnection_Flush(loud));

	expect_msg(os, "echo", "from-quiet", 2000);
	expect_msg(os, "echo", "from-loud", 2000);
	/* echo on (the default): the publisher gets both, its own included */
	expect_msg(ls, "echo", "from-quiet", 2000);
	expect_msg(ls, "echo", "from-loud", 2000);
	/* echo off: only the other connection's message */
	expect_msg(qs, "echo", "from-loud", 2000);
	expect_none(qs, 200);

	natsSubscription_Destroy(qs);
	natsSubscription_Destroy(ls);
	natsSubscription_Destroy(os);
	natsConnection_Destroy(quiet);
	natsConnection_Destroy(loud);
	natsConnection_Destroy(other);
}

static void t_auto_unsubscribe(void)
{
	it_start(NULL);
	natsConnection *sc = it_connect(NULL, NULL), *pc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL, *watch = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, sc, "auto"));
	IT_OK(natsSubscription_AutoUnsubscribe(sub, 2));
	IT_OK(natsConnection_SubscribeSync(&watch, sc, "auto"));
	IT_OK(natsConnection_Flush(sc));
	for (int i = 0; i < 5; i++)
		IT_OK(natsConnection_PublishString(pc, "auto", "x"));
	IT_OK(natsConnection_Flush(pc));
	/* The control subscription proves all five were delivered. */
	for (int i = 0; i < 5; i++)
		expect_msg(watch, "auto", "x", 2000);
	IT_OK(natsConnection_Flush(sc));
	int got = 0;
	natsMsg *m = NULL;
	while (natsSubscription_NextMsg(&m, sub, 300) == NATS_OK) {
		got++;
		natsMsg_Destroy(m);
	}
	IT_EQ_INT(got, 2);
	/* libnats also drops extra messages itself, so count what the server
	 * sent on the wire: 5 for the watcher + 2 for the auto-unsubscribed. */
	natsStatistics *st = NULL;
	uint64_t in_msgs = 0;
	IT_OK(natsStatistics_Create(&st));
	IT_OK(natsConnection_GetStats(sc, st));
	IT_OK(natsStatistics_GetCounts(st, &in_msgs, NULL, NULL, NULL, NULL));
	natsStatistics_Destroy(st);
	IT_EQ_INT(in_msgs, 7);
	natsSubscription_Destroy(sub);
	natsSubscription_Destroy(watch);
	natsConnection_Destroy(sc);
	natsConnection_Destroy(pc);
}

/* Flush is PING/PONG: once the publisher's flush returns, its messages are
 * queued to the subscriber ahead of the subscriber's own PONG, so after the
 * subscriber's flush every message is already in the client. */
static void t_flush_ordering(void)
{
	enum { N = 1000 };
	it_start(NULL);
	natsConnection *sc = it_connect(NULL, NULL), *pc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, sc, "flush.test"));
	IT_OK(natsConnection_Flush(sc));
	for (int i = 0; i < N; i++)
		IT_OK(natsConnection_PublishString(pc, "flush.test", "payload"));
	IT_OK(natsConnection_Flush(pc));
	IT_OK(natsConnection_Flush(sc));
	int msgs = 0, bytes = 0;
	IT_OK(natsSubscription_GetPending(sub, &msgs, &bytes));
	IT_EQ_INT(msgs, N);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(sc);
	natsConnection_Destroy(pc);
}

/* Unsubscribe stops delivery at once (ordered after the UNSUB). */
static void t_unsubscribe(void)
{
	it_start(NULL);
	natsConnection *sc = it_connect(NULL, NULL), *pc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL, *watch = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, sc, "u"));
	IT_OK(natsConnection_SubscribeSync(&watch, pc, "u"));
	IT_OK(natsConnection_Flush(sc));
	IT_OK(natsConnection_Flush(pc));
	IT_OK(natsConnection_PublishString(pc, "u", "1"));
	IT_OK(natsConnection_Flush(pc));
	expect_msg(sub, "u", "1", 2000);
	IT_OK(natsSubscription_Unsubscribe(sub));
	IT_OK(natsConnection_Flush(sc));
	IT_OK(natsConnection_PublishString(pc, "u", "2"));
	IT_OK(natsConnection_Flush(pc));
	expect_msg(watch, "u", "1", 2000);
	expect_msg(watch, "u", "2", 2000);
	natsSubscription_Destroy(sub);
	natsSubscription_Destroy(watch);
	natsConnection_Destroy(sc);
	natsConnection_Destroy(pc);
}

/* Payloads up to max_payload arrive intact (the default 1 MiB). */
static void t_large_payload(void)
{
	enum { N = 1024 * 1024 };
	it_start(NULL);
	natsConnection *sc = it_connect(NULL, NULL), *pc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	char *data = malloc(N);
	IT_CHECK(data != NULL, "oom");
	for (int i = 0; i < N; i++)
		data[i] = (char)(i * 31 + 7);
	IT_OK(natsConnection_SubscribeSync(&sub, sc, "big"));
	IT_OK(natsConnection_Flush(sc));
	IT_OK(natsConnection_Publish(pc, "big", data, N));
	IT_OK(natsConnection_Flush(pc));
	natsMsg *m = NULL;
	IT_OK(natsSubscription_NextMsg(&m, sub, 5000));
	IT_EQ_INT(natsMsg_GetDataLength(m), N);
	IT_CHECK(memcmp(natsMsg_GetData(m), data, N) == 0, "1 MiB payload corrupted");
	natsMsg_Destroy(m);
	free(data);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(sc);
	natsConnection_Destroy(pc);
}


/* ---- bulk stream integrity ------------------------------------------- */

#define BULK_HEAD "MSG bulk 1 1024\r\n"
enum { BULK_N = 12000, BULK_SIZE = 1024, BULK_FRAME = sizeof BULK_HEAD - 1 + BULK_SIZE + 2 };

struct bulk_reader {
	int fd;
	char *buf;
	size_t len, cap;
};

static void *bulk_read(void *arg)
{
	struct bulk_reader *r = arg;
	while (r->len < r->cap) {
		ssize_t n = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
		if (n <= 0)
			break;
		r->len += (size_t)n;
	}
	return NULL;
}

static void bulk_payload(char *p, int round, int i)
{
	char head[24];
	memset(p, 'a' + round, BULK_SIZE);
	snprintf(head, sizeof head, "%08d", i);
	memcpy(p, head, 8);
}

/* A publisher floods 12,000 x 1 KiB; a raw subscriber reading as fast as it
 * can must see exactly the concatenation of the MSG frames, in order. Three
 * rounds, because a reordering of queued output shows up only now and then. */
static void t_bulk_stream_integrity(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "SUB bulk 1\r\nPING\r\n");
	it_raw_expect(fd, "PONG\r\n");
	natsConnection *pc = it_connect(NULL, NULL);
	struct bulk_reader r = { .fd = fd, .cap = (size_t)BULK_N * BULK_FRAME };
	char *want = malloc(r.cap);
	r.buf = malloc(r.cap);
	IT_CHECK(want != NULL && r.buf != NULL, "oom");
	for (int round = 0; round < 3; round++) {
		pthread_t th;
		char p[BULK_SIZE];
		r.len = 0;
		for (int i = 0; i < BULK_N; i++) {
			char *f = want + (size_t)i * BULK_FRAME;
			memcpy(f, BULK_HEAD, sizeof BULK_HEAD - 1);
			bulk_payload(f + sizeof BULK_HEAD - 1, round, i);
			memcpy(f + sizeof BULK_HEAD - 1 + BULK_SIZE, "\r\n", 2);
		}
		IT_CHECK(pthread_create(&th, NULL, bulk_read, &r) == 0, "pthread_create");
		for (int i = 0; i < BULK_N; i++) {
			bulk_payload(p, round, i);
			IT_OK(natsConnection_Publish(pc, "bulk", p, BULK_SIZE));
		}
		IT_OK(natsConnection_FlushTimeout(pc, 10000));
		int64_t deadline = it_now_ms() + 10000;
		while (r.len < r.cap && it_now_ms() < deadline)
			it_sleep_ms(5);
		if (r.len < r.cap)
			shutdown(fd, SHUT_RD);
		pthread_join(th, NULL);
		size_t k = 0;
		while (k < r.len && r.buf[k] == want[k])
			k++;
		IT_CHECK(k == r.cap,
		         "round %d: subscriber stream differs from the published sequence at byte %zu "
		         "(message %zu, offset %zu) of %zu received: got \"%.40s\", expected "
		         "\"%.40s\"", round, k, k / BULK_FRAME, k % BULK_FRAME, r.len,
		         k < r.len ? r.buf + k : "", want + k);
	}
	free(want);
	free(r.buf);
	natsConnection_Destroy(pc);
	close(fd);
}

IT_MAIN(IT_TEST(t_pub_sub), IT_TEST(t_wildcard_star), IT_TEST(t_wildcard_full),
        IT_TEST(t_wildcard_star_is_one_token), IT_TEST(t_ordering), IT_TEST(t_no_echo),
        IT_TEST(t_auto_unsubscribe), IT_TEST(t_flush_ordering), IT_TEST(t_unsubscribe),
        IT_TEST(t_large_payload), IT_TEST(t_bulk_stream_integrity))
