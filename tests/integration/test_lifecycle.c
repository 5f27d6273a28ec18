/*
 * test_lifecycle.c - the server process itself: SIGTERM with clients still
 * connected and messages in flight ends the process cleanly (exit 0 for
 * junction, checked by the harness) and closes every client socket; a
 * client that vanishes mid-message does not disturb the others.
 */
#include <stdio.h>
#include <unistd.h>
#include "harness.h"

static void t_sigterm_with_clients(void)
{
	enum { N = 50 };
	int fds[N];
	it_start(NULL);
	for (int i = 0; i < N; i++) {
		fds[i] = it_raw_client();
		it_raw_send(fds[i], "SUB busy.> 1\r\nPING\r\n");
		it_raw_expect(fds[i], "PONG\r\n");
	}
	natsConnection *nc = it_connect(NULL, NULL);
	for (int i = 0; i < 100; i++)
		IT_OK(natsConnection_PublishString(nc, "busy.x", "in flight"));
	IT_OK(natsConnection_Flush(nc));

	int64_t t0 = it_now_ms();
	it_stop();
	int64_t took = it_now_ms() - t0;
	IT_CHECK(took < 5000, "shutdown took %lld ms", (long long)took);
	/* Every client sees its messages (already queued) and then the close. */
	for (int i = 0; i < N; i++) {
		for (int k = 0; k < 100; k++) {
			char line[64];
			it_raw_line(fds[i], line, sizeof line);
			IT_EQ_STR(line, "MSG busy.x 1 9\r\n");
			it_raw_expect(fds[i], "in flight\r\n");
		}
		it_raw_expect_closed(fds[i], 3000);
		close(fds[i]);
	}
	int64_t deadline = it_now_ms() + 3000;
	while (natsConnection_Status(nc) != NATS_CONN_STATUS_CLOSED && it_now_ms() < deadline)
		it_sleep_ms(10);
	IT_CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CLOSED,
	         "libnats connection not closed by the shutdown (status %d)",
	         (int)natsConnection_Status(nc));
	natsConnection_Destroy(nc);
}

/* A client that dies in the middle of a PUB payload, or right after
 * subscribing, leaves the server serving everyone else. */
static void t_client_vanishes_mid_message(void)
{
	it_start(NULL);
	int watcher = it_raw_client();
	it_raw_send(watcher, "SUB v 1\r\nPING\r\n");
	it_raw_expect(watcher, "PONG\r\n");
	for (int i = 0; i < 20; i++) {
		int fd = it_raw_client();
		it_raw_send(fd, "SUB v 1\r\nPUB v 100\r\nonly part of it");
		close(fd);
	}
	int pub = it_raw_client();
	it_raw_send(pub, "PUB v 2\r\nok\r\nPING\r\n");
	it_raw_expect(pub, "PONG\r\n");
	it_raw_send(watcher, "PING\r\n");
	it_raw_expect(watcher, "MSG v 1 2\r\nok\r\nPONG\r\n");
	close(pub);
	close(watcher);
}

IT_MAIN(IT_TEST(t_sigterm_with_clients), IT_TEST(t_client_vanishes_mid_message))
