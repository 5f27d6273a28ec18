/*
 * test_limits.c - the server's protective limits: max_payload (client-side
 * refusal from INFO and the server's -ERR on the wire), slow consumers cut
 * off without hurting others, and stale connections closed after
 * unanswered PINGs (spec sections 1 and 9).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "harness.h"

static void t_max_payload_client(void)
{
	it_start(&(struct it_config){ .max_payload = 1024 });
	natsConnection *c = it_connect(NULL, NULL);
	natsSubscription *sub = NULL;
	natsMsg *m = NULL;
	char buf[1025];
	memset(buf, 'p', sizeof buf);
	IT_CHECK(natsConnection_GetMaxPayload(c) == 1024, "libnats read max_payload %lld from INFO",
	         (long long)natsConnection_GetMaxPayload(c));
	IT_OK(natsConnection_SubscribeSync(&sub, c, "mp"));
	IT_STATUS(natsConnection_Publish(c, "mp", buf, 1025), NATS_MAX_PAYLOAD);
	IT_OK(natsConnection_Publish(c, "mp", buf, 1024));
	IT_OK(natsSubscription_NextMsg(&m, sub, 2000));
	IT_EQ_INT(natsMsg_GetDataLength(m), 1024);
	natsMsg_Destroy(m);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(c);
}

/* The size in the PUB line is checked before any payload byte is read. */
static void t_max_payload_wire_default(void)
{
	it_start(NULL);
	int other = it_raw_client();
	int fd = it_raw_client();
	it_raw_send(fd, "PUB foo 2000000\r\n");
	it_raw_expect(fd, "-ERR 'Maximum Payload Violation'\r\n");
	it_raw_expect_closed(fd, 3000);
	close(fd);
	it_raw_send(other, "PING\r\n");
	it_raw_expect(other, "PONG\r\n");
	close(other);
}

static void t_max_payload_wire_configured(void)
{
	it_start(&(struct it_config){ .max_payload = 1024 });
	int fd = it_raw_client();
	char line[64];
	/* exactly the limit is fine */
	char *msg = malloc(1024 + 64);
	IT_CHECK(msg != NULL, "oom");
	int n = snprintf(msg, 64, "SUB mp 1\r\nPUB mp 1024\r\n");
	memset(msg + n, 'z', 1024);
	memcpy(msg + n + 1024, "\r\nPING\r\n", 8);
	it_raw_sendn(fd, msg, (size_t)n + 1024 + 8);
	it_raw_line(fd, line, sizeof line);
	IT_EQ_STR(line, "MSG mp 1 1024\r\n");
	memcpy(msg, "zzzz", 4);
	char *want = malloc(1024 + 8);
	IT_CHECK(want != NULL, "oom");
	memset(want, 'z', 1024);
	memcpy(want + 1024, "\r\nPONG\r\n", 8);
	it_raw_expect_at(__FILE__, __LINE__, fd, want, 1024 + 8, 5000);
	free(want);
	free(msg);
	it_raw_send(fd, "PUB mp 1025\r\n");
	it_raw_expect(fd, "-ERR 'Maximum Payload Violation'\r\n");
	it_raw_expect_closed(fd, 3000);
	close(fd);

	/* HPUB: the limit applies to headers + payload. */
	fd = it_raw_client();
	it_raw_send(fd, "HPUB mp 12 1025\r\n");
	it_raw_expect(fd, "-ERR 'Maximum Payload Violation'\r\n");
	it_raw_expect_closed(fd, 3000);
	close(fd);
}

/* ---- slow consumer ----------------------------------------------------- */

enum { FLOOD_SIZE = 1024 };

static void flood_payload(char *buf, int i)
{
	memset(buf, 'x', FLOOD_SIZE);
	char head[16];
	snprintf(head, sizeof head, "%08d", i);
	memcpy(buf, head, 8);
}

/* Read what the slow socket had queued. Returns bytes read before the close;
 * fails if the stream is not a prefix of the in-order MSG frames or if the
 * connection is still open after timeout_ms. */
static size_t drain_slow(int fd, int n, int timeout_ms)
{
	static char frame[FLOOD_SIZE + 64];
	char buf[65536];
	int idx = 0;
	size_t pos = 0, flen = 0, total = 0;
	int64_t deadline = it_now_ms() + timeout_ms;

	struct timeval tv = { 0, 200 * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof buf, 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return total;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			IT_CHECK(it_now_ms() < deadline,
			         "slow consumer still connected %d ms after the flood (read %zu bytes)",
			         timeout_ms, total);
			continue;
		}
		IT_CHECK(r > 0, "recv: %s", strerror(errno));
		for (ssize_t k = 0; k < r; k++) {
			if (pos == flen && buf[k] == 'P') {
				/* the server's keep-alive PING may come between frames */
				memcpy(frame, "PING\r\n", 6);
				flen = 6;
				pos = 0;
			} else if (pos == flen) {
				IT_CHECK(idx < n, "slow consumer got more than %d messages", n);
				int h = snprintf(frame, 64, "MSG flood 1 %d\r\n", FLOOD_SIZE);
				flood_payload(frame + h, idx++);
				memcpy(frame + h + FLOOD_SIZE, "\r\n", 2);
				flen = (size_t)h + FLOOD_SIZE + 2;
				pos = 0;
			}
			IT_CHECK(buf[k] == frame[pos],
			         "slow consumer stream differs at byte %zu (message %d, offset %zu): "
			         "got 0x%02x, expected 0x%02x", total + (size_t)k, idx - 1, pos,
			         (unsigned char)buf[k], (unsigned char)frame[pos]);
			pos++;
		}
		total += (size_t)r;
	}
}

/* A raw subscriber that never reads (tiny receive buffer), a libnats
 * subscriber that reads everything, and a publisher flooding n 1 KiB
 * messages. The slow one must be closed with no -ERR, the bytes it got must
 * be an in-order prefix of the MSG stream, and the fast one must get all n
 * in order. */
static void slow_consumer_case(const struct it_config *cfg, int n, int idle_ms)
{
	it_start(cfg);
	int slow = it_raw_connect_rcvbuf(4096);
	it_raw_hello(slow, "{\"verbose\":false,\"pedantic\":false}");
	it_raw_send(slow, "SUB flood 1\r\nPING\r\n");
	it_raw_expect(slow, "PONG\r\n");

	natsConnection *fc = it_connect(NULL, NULL), *pc = it_connect(NULL, NULL);
	natsSubscription *fast = NULL;
	IT_OK(natsConnection_SubscribeSync(&fast, fc, "flood"));
	IT_OK(natsSubscription_SetPendingLimits(fast, 1000000, 1024 * 1024 * 1024));
	IT_OK(natsConnection_Flush(fc));

	char payload[FLOOD_SIZE];
	int64_t t0 = it_now_ms();
	for (int i = 0; i < n; i++) {
		flood_payload(payload, i);
		IT_OK(natsConnection_Publish(pc, "flood", payload, FLOOD_SIZE));
	}
	IT_OK(natsConnection_FlushTimeout(pc, 15000));
	int64_t pub_ms = it_now_ms() - t0;

	for (int i = 0; i < n; i++) {
		natsMsg *m = NULL;
		natsStatus s = natsSubscription_NextMsg(&m, fast, 10000);
		IT_CHECK(s == NATS_OK, "fast subscriber got %d of %d messages: %s", i, n,
		         natsStatus_GetText(s));
		flood_payload(payload, i);
		int len = natsMsg_GetDataLength(m), off = 0;
		const char *d = natsMsg_GetData(m);
		while (off < len && off < FLOOD_SIZE && d[off] == payload[off])
			off++;
		IT_CHECK(len == FLOOD_SIZE && off == FLOOD_SIZE,
		         "fast subscriber: message %d (of %d) wrong: length %d, first difference at "
		         "byte %d (got 0x%02x, expected 0x%02x), starts \"%.8s\"", i, n, len, off,
		         off < len ? (unsigned char)d[off] : 0, (unsigned char)payload[off], d);
		natsMsg_Destroy(m);
	}
	/* Let a blocked write outlive write_deadline before reading. */
	it_sleep_ms(idle_ms);
	int64_t t1 = it_now_ms();
	size_t slow_bytes = drain_slow(slow, n, 10000);
	size_t flood_bytes = (size_t)n * (FLOOD_SIZE + 19);
	printf("  publish took %lld ms; slow consumer read %zu of %zu bytes, closed %lld ms "
	       "after the reading began\n", (long long)pub_ms, slow_bytes, flood_bytes,
	       (long long)(it_now_ms() - t1));
	IT_CHECK(slow_bytes < flood_bytes, "the slow consumer was not cut off");
	close(slow);
	IT_CHECK(natsConnection_Status(fc) == NATS_CONN_STATUS_CONNECTED, "fast subscriber lost");
	natsSubscription_Destroy(fast);
	natsConnection_Destroy(fc);
	natsConnection_Destroy(pc);
}

/* max_pending 1 MiB, 20 MiB flood. nats-server 2.9 holds the publisher back
 * (it stalls producers feeding a connection near its limit) and cuts the
 * slow one at write_deadline; a fast subscriber that keeps reading is never
 * dropped, even though it lags the publisher by more than 1 MiB at times. */
static void t_slow_consumer(void)
{
	slow_consumer_case(&(struct it_config){ .max_pending = 1024 * 1024, .max_payload = 65536,
	                                        .write_deadline_ms = 2000 }, 20000, 0);
}

/* Default max_pending (64 MiB) is never reached by a 12 MiB flood: the slow
 * one must be cut because its writes stay blocked for write_deadline. */
static void t_slow_consumer_write_deadline(void)
{
	slow_consumer_case(&(struct it_config){ .write_deadline_ms = 1000 }, 12000, 2500);
}

/* ---- stale connection -------------------------------------------------- */

static void t_stale_connection(void)
{
	it_start(&(struct it_config){ .ping_interval_ms = 1000, .ping_max = 1 });
	int stale = it_raw_client();
	int alive = it_raw_client();
	natsConnection *nc = it_connect(NULL, NULL);

	int64_t t0 = it_now_ms();
	it_raw_expect_at(__FILE__, __LINE__, stale, "PING\r\n", 6, 5000);
	/* The responsive raw client answers its PINGs as they come. */
	it_raw_expect_at(__FILE__, __LINE__, alive, "PING\r\n", 6, 5000);
	it_raw_send(alive, "PONG\r\n");
	it_raw_expect_at(__FILE__, __LINE__, stale, "-ERR 'Stale Connection'\r\n", 25, 5000);
	int64_t took = it_now_ms() - t0;
	it_raw_expect_closed(stale, 3000);
	close(stale);
	printf("  stale connection closed %lld ms after its first PING\n", (long long)took);

	it_raw_expect_at(__FILE__, __LINE__, alive, "PING\r\n", 6, 5000);
	it_raw_send(alive, "PONG\r\nPING\r\n");
	it_raw_expect(alive, "PONG\r\n");
	close(alive);
	IT_OK(natsConnection_Flush(nc));
	IT_CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED,
	         "a libnats client (which answers PINGs) was dropped");
	natsConnection_Destroy(nc);
}

/* ---- connection and subscription limits ------------------------------ */

static void t_max_connections(void)
{
	it_start(&(struct it_config){ .max_connections = 3 });
	it_sleep_ms(100);   /* let the server notice the readiness probe's close */
	int a = it_raw_client(), b = it_raw_client(), c = it_raw_client();
	int d = it_raw_connect();
	char line[8192];
	it_raw_line(d, line, sizeof line);
	if (strncmp(line, "INFO ", 5) == 0)   /* an INFO first is tolerated */
		it_raw_line(d, line, sizeof line);
	IT_EQ_STR(line, "-ERR 'maximum connections exceeded'\r\n");
	it_raw_expect_closed(d, 3000);
	close(d);
	/* the three admitted ones still work; a freed slot can be reused */
	it_raw_send(a, "SUB x 1\r\nPING\r\n");
	it_raw_expect(a, "PONG\r\n");
	close(c);
	it_sleep_ms(200);
	int e = it_raw_client();
	it_raw_send(e, "PUB x 1\r\nz\r\nPING\r\n");
	it_raw_expect(e, "PONG\r\n");
	it_raw_send(a, "PING\r\n");
	it_raw_expect(a, "MSG x 1 1\r\nz\r\nPONG\r\n");
	close(a);
	close(b);
	close(e);
}

static void t_max_subscriptions(void)
{
	it_start(&(struct it_config){ .max_subscriptions = 2 });
	int fd = it_raw_client();
	it_raw_send(fd, "SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n");
	it_raw_expect(fd, "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n");
	/* the connection stays; the first two work, the third was not made */
	it_raw_send(fd, "PUB a 1\r\n1\r\nPUB b 1\r\n2\r\nPUB c 1\r\n3\r\nPING\r\n");
	it_raw_expect(fd, "MSG a 1 1\r\n1\r\nMSG b 2 1\r\n2\r\nPONG\r\n");
	close(fd);
}

IT_MAIN(IT_TEST(t_max_payload_client), IT_TEST(t_max_payload_wire_default),
        IT_TEST(t_max_payload_wire_configured), IT_TEST(t_slow_consumer),
        IT_TEST(t_slow_consumer_write_deadline),
        IT_TEST(t_stale_connection), IT_TEST(t_max_connections), IT_TEST(t_max_subscriptions))
