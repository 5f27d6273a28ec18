/*
 * test_headers.c - message headers (ADR-4): libnats round trip with
 * repeated keys, the exact HPUB/HMSG bytes, header stripping for
 * subscribers that did not ask for headers, and HPUB refused without
 * headers support (spec sections 3 and 4).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "harness.h"

static void t_headers_roundtrip(void)
{
	it_start(NULL);
	natsConnection *sc = it_connect(NULL, NULL), *pc = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	natsMsg *out = NULL, *in = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, sc, "hdr"));
	IT_OK(natsConnection_Flush(sc));

	IT_OK(natsMsg_Create(&out, "hdr", NULL, "body", 4));
	IT_OK(natsMsgHeader_Set(out, "Single", "one"));
	IT_OK(natsMsgHeader_Add(out, "Multi", "first"));
	IT_OK(natsMsgHeader_Add(out, "Multi", "second"));
	IT_OK(natsMsgHeader_Add(out, "Multi", "third value"));
	IT_OK(natsMsgHeader_Set(out, "Case-Kept", "V"));
	IT_OK(natsConnection_PublishMsg(pc, out));
	IT_OK(natsConnection_Flush(pc));

	IT_OK(natsSubscription_NextMsg(&in, sub, 2000));
	IT_CHECK(natsMsg_GetDataLength(in) == 4 && memcmp(natsMsg_GetData(in), "body", 4) == 0,
	         "payload \"%.*s\"", natsMsg_GetDataLength(in), natsMsg_GetData(in));
	const char *v = NULL;
	IT_OK(natsMsgHeader_Get(in, "Single", &v));
	IT_EQ_STR(v, "one");
	IT_OK(natsMsgHeader_Get(in, "Case-Kept", &v));
	IT_EQ_STR(v, "V");
	const char **vals = NULL;
	int count = 0;
	IT_OK(natsMsgHeader_Values(in, "Multi", &vals, &count));
	IT_EQ_INT(count, 3);
	IT_EQ_STR(vals[0], "first");
	IT_EQ_STR(vals[1], "second");
	IT_EQ_STR(vals[2], "third value");
	free((void *)vals);
	natsMsg_Destroy(in);
	natsMsg_Destroy(out);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(sc);
	natsConnection_Destroy(pc);
}

/* A message with headers and an empty payload is still delivered. */
static void t_headers_empty_payload(void)
{
	it_start(NULL);
	natsConnection *c = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	natsMsg *out = NULL, *in = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, c, "hdr.empty"));
	IT_OK(natsMsg_Create(&out, "hdr.empty", NULL, NULL, 0));
	IT_OK(natsMsgHeader_Set(out, "K", "v"));
	IT_OK(natsConnection_PublishMsg(c, out));
	IT_OK(natsSubscription_NextMsg(&in, sub, 2000));
	IT_EQ_INT(natsMsg_GetDataLength(in), 0);
	const char *v = NULL;
	IT_OK(natsMsgHeader_Get(in, "K", &v));
	IT_EQ_STR(v, "v");
	natsMsg_Destroy(in);
	natsMsg_Destroy(out);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(c);
}

static void t_hpub_wire(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "SUB foo 1\r\nHPUB foo 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPING\r\n");
	it_raw_expect(fd, "HMSG foo 1 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPONG\r\n");
	it_raw_send(fd, "HPUB foo rep.ly 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n");
	it_raw_expect(fd, "HMSG foo 1 rep.ly 12 12\r\nNATS/1.0\r\n\r\n\r\nPONG\r\n");
	/* A zero-length header block is a plain message (nats.js KV puts):
	 * nats-server delivers it as MSG. */
	it_raw_send(fd, "HPUB foo 0 2\r\nv1\r\nPING\r\n");
	it_raw_expect(fd, "MSG foo 1 2\r\nv1\r\nPONG\r\n");
	close(fd);
}

/* A subscriber whose CONNECT lacked headers:true gets MSG without headers. */
static void t_headers_stripped_for_old_clients(void)
{
	it_start(NULL);
	int old = it_raw_connect();
	it_raw_hello(old, "{\"verbose\":false,\"pedantic\":false}");
	it_raw_send(old, "SUB foo 1\r\nPING\r\n");
	it_raw_expect(old, "PONG\r\n");
	int pub = it_raw_client();
	it_raw_send(pub, "HPUB foo 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPING\r\n");
	it_raw_expect(pub, "PONG\r\n");
	it_raw_send(old, "PING\r\n");
	it_raw_expect(old, "MSG foo 1 2\r\nhi\r\nPONG\r\n");
	close(old);
	close(pub);
}

/* HPUB from a connection that did not announce headers closes it. */
static void t_hpub_without_headers_support(void)
{
	it_start(NULL);
	int fd = it_raw_connect();
	it_raw_hello(fd, "{\"verbose\":false,\"pedantic\":false}");
	it_raw_send(fd, "HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n");
	char buf[256];
	/* nats-server closes without a word; an -ERR first is tolerated. */
	struct timeval tv = { 3, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		IT_CHECK(strncmp(buf, "-ERR ", 5) == 0, "expected close, got \"%s\"", buf);
		it_raw_expect_closed(fd, 3000);
	} else {
		IT_CHECK(n == 0 || errno == ECONNRESET, "expected close, got %s",
		         n < 0 ? strerror(errno) : "?");
	}
	close(fd);
}

/* Header size larger than the total size is a protocol error. */
static void t_hpub_bad_sizes(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "HPUB foo 20 12\r\n");
	char buf[256];
	struct timeval tv = { 3, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		IT_CHECK(strncmp(buf, "-ERR ", 5) == 0, "expected -ERR or close, got \"%s\"", buf);
		it_raw_expect_closed(fd, 3000);
	} else {
		IT_CHECK(n == 0 || errno == ECONNRESET, "expected close, got %s",
		         n < 0 ? strerror(errno) : "?");
	}
	close(fd);
}

IT_MAIN(IT_TEST(t_headers_roundtrip), IT_TEST(t_headers_empty_payload), IT_TEST(t_hpub_wire),
        IT_TEST(t_headers_stripped_for_old_clients), IT_TEST(t_hpub_without_headers_support),
        IT_TEST(t_hpub_bad_sizes))
