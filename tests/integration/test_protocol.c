/*
 * test_protocol.c - the client protocol byte for byte on raw sockets: INFO,
 * CONNECT defaults (verbose, pedantic), MSG framing, whitespace and case
 * tolerance, UNSUB, PING/PONG ordering, and the -ERR cases that close or
 * keep a connection (shared/spec/nats-protocol.md sections 1-3, 5, 8, 11).
 */
#include <jansson.h>
#include <regex.h>
#include <unistd.h>
#include "harness.h"

static void t_info_fields(void)
{
	it_start(&(struct it_config){ .max_payload = 65536 });
	int fd = it_raw_connect();
	const char *text = it_raw_info(fd);
	json_error_t jerr;
	json_t *info = json_loads(text, 0, &jerr);
	IT_CHECK(info != NULL, "INFO is not JSON (%s): %s", jerr.text, text);

	json_t *v = json_object_get(info, "server_id");
	IT_CHECK(json_is_string(v) && json_string_length(v) > 0, "server_id: %s", text);
	v = json_object_get(info, "version");
	IT_CHECK(json_is_string(v), "version missing: %s", text);
	int maj = 0, min = 0, pat = 0;
	char tail = 0;
	IT_CHECK(sscanf(json_string_value(v), "%d.%d.%d%c", &maj, &min, &pat, &tail) == 3,
	         "version must be X.Y.Z, got \"%s\"", json_string_value(v));
	IT_CHECK(maj > 2 || (maj == 2 && min >= 9), "version %s < 2.9.0", json_string_value(v));
	v = json_object_get(info, "proto");
	IT_CHECK(json_is_integer(v) && json_integer_value(v) == 1, "proto must be 1: %s", text);
	IT_CHECK(json_is_true(json_object_get(info, "headers")), "headers must be true: %s", text);
	v = json_object_get(info, "max_payload");
	IT_CHECK(json_is_integer(v) && json_integer_value(v) == 65536,
	         "max_payload must be the configured 65536: %s", text);
	v = json_object_get(info, "client_id");
	IT_CHECK(json_is_integer(v) && json_integer_value(v) > 0, "client_id must be > 0: %s", text);
	IT_CHECK(json_object_get(info, "auth_required") == NULL ||
	         json_is_false(json_object_get(info, "auth_required")),
	         "no auth configured, yet auth_required: %s", text);
	json_decref(info);

	/* A second connection gets a different client_id. */
	int fd2 = it_raw_connect();
	json_t *info2 = json_loads(it_raw_info(fd2), 0, &jerr);
	IT_CHECK(info2 != NULL, "second INFO is not JSON");
	json_t *c2 = json_object_get(info2, "client_id");
	IT_CHECK(json_is_integer(c2), "second INFO has no client_id");
	json_decref(info2);
	close(fd);
	close(fd2);
}

/* CONNECT {} means verbose: +OK after CONNECT, SUB, PUB, UNSUB; not after PING. */
static void t_verbose_default(void)
{
	it_start(NULL);
	int fd = it_raw_connect();
	it_raw_info(fd);
	it_raw_send(fd, "CONNECT {}\r\n");
	it_raw_expect(fd, "+OK\r\n");
	it_raw_send(fd, "SUB foo 1\r\n");
	it_raw_expect(fd, "+OK\r\n");
	it_raw_send(fd, "PUB foo 2\r\nhi\r\n");
	it_raw_expect(fd, "+OK\r\nMSG foo 1 2\r\nhi\r\n");
	it_raw_send(fd, "PING\r\n");
	it_raw_expect(fd, "PONG\r\n");
	it_raw_send(fd, "UNSUB 1\r\n");
	it_raw_expect(fd, "+OK\r\n");
	it_raw_send(fd, "PUB foo 2\r\nhi\r\nPING\r\n");
	it_raw_expect(fd, "+OK\r\nPONG\r\n");
	close(fd);
}

static void t_verbose_off(void)
{
	it_start(NULL);
	int fd = it_raw_connect();
	it_raw_info(fd);
	it_raw_send(fd, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB foo 1\r\n"
	                "PUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n");
	it_raw_expect(fd, "MSG foo 1 2\r\nhi\r\nPONG\r\n");
	close(fd);
}

/* Pedantic: a wildcard publish subject is answered with -ERR; the
 * connection stays open. */
static void t_pedantic_publish_subject(void)
{
	it_start(NULL);
	int fd = it_raw_connect();
	it_raw_info(fd);
	it_raw_send(fd, "CONNECT {\"verbose\":false,\"pedantic\":true}\r\nPUB foo.* 1\r\nx\r\nPING\r\n");
	it_raw_expect(fd, "-ERR 'Invalid Publish Subject'\r\nPONG\r\n");
	it_raw_send(fd, "SUB foo 1\r\nPUB foo 1\r\ny\r\nPING\r\n");
	it_raw_expect(fd, "MSG foo 1 1\r\ny\r\nPONG\r\n");
	close(fd);
}

static void t_pub_sub_wire(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n");
	it_raw_expect(fd, "MSG foo 1 2\r\nhi\r\nPONG\r\n");
	close(fd);
}

static void t_reply_subject_wire(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "SUB foo.* 3\r\nPUB foo.x bar.reply 1\r\na\r\nPING\r\n");
	it_raw_expect(fd, "MSG foo.x 3 bar.reply 1\r\na\r\nPONG\r\n");
	close(fd);
}

static void t_zero_length_payload(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "SUB foo 1\r\nPUB foo 0\r\n\r\nPING\r\n");
	it_raw_expect(fd, "MSG foo 1 0\r\n\r\nPONG\r\n");
	close(fd);
}

/* Payloads are opaque: CR LF inside must not be parsed. */
static void t_binary_payload(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	static const char pub[] = "SUB bin 7\r\nPUB bin 9\r\nPING\r\n\0\xff" "Z\r\nPING\r\n";
	static const char want[] = "MSG bin 7 9\r\nPING\r\n\0\xff" "Z\r\nPONG\r\n";
	it_raw_sendn(fd, pub, sizeof pub - 1);
	it_raw_expect_at(__FILE__, __LINE__, fd, want, sizeof want - 1, 5000);
	close(fd);
}

static void t_case_and_whitespace(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "sub\tfoo   1\r\nPub  foo \t 1\r\na\r\nping\r\n");
	it_raw_expect(fd, "MSG foo 1 1\r\na\r\nPONG\r\n");
	close(fd);
}

/* Two subscriptions of one connection that both match: two MSGs, each with
 * its own sid. */
static void t_overlapping_subs(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "SUB a.b 1\r\nPING\r\n");
	it_raw_expect(fd, "PONG\r\n");
	it_raw_send(fd, "SUB a.* 2\r\nPING\r\n");
	it_raw_expect(fd, "PONG\r\n");
	it_raw_send(fd, "PUB a.b 1\r\nz\r\nPING\r\n");
	char l1[256], l2[256];
	it_raw_line(fd, l1, sizeof l1);
	it_raw_expect(fd, "z\r\n");
	it_raw_line(fd, l2, sizeof l2);
	it_raw_expect(fd, "z\r\n");
	it_raw_expect(fd, "PONG\r\n");
	bool ok = (strcmp(l1, "MSG a.b 1 1\r\n") == 0 && strcmp(l2, "MSG a.b 2 1\r\n") == 0) ||
	          (strcmp(l1, "MSG a.b 2 1\r\n") == 0 && strcmp(l2, "MSG a.b 1 1\r\n") == 0);
	IT_CHECK(ok, "expected one MSG for sid 1 and one for sid 2, got \"%.*s\" and \"%.*s\"",
	         (int)strlen(l1) - 2, l1, (int)strlen(l2) - 2, l2);
	close(fd);
}

static void t_unsub(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "SUB foo 1\r\nUNSUB 1\r\nPUB foo 1\r\na\r\nPING\r\n");
	it_raw_expect(fd, "PONG\r\n");
	/* UNSUB of an unknown sid is ignored. */
	it_raw_send(fd, "UNSUB 99\r\nPING\r\n");
	it_raw_expect(fd, "PONG\r\n");
	close(fd);
}

/* UNSUB <sid> <n>: the subscription ends after n messages in total. */
static void t_unsub_max_wire(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "SUB foo 1\r\nUNSUB 1 2\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\n"
	                "PUB foo 1\r\nc\r\nPING\r\n");
	it_raw_expect(fd, "MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nPONG\r\n");
	close(fd);
}

/* PONG comes after every MSG caused by what was sent before the PING, and
 * a publisher's PONG means its messages are queued to other subscribers. */
static void t_ping_pong_ordering(void)
{
	it_start(NULL);
	int sub = it_raw_client();
	int pub = it_raw_client();
	it_raw_send(sub, "SUB order 1\r\nPING\r\n");
	it_raw_expect(sub, "PONG\r\n");
	it_raw_send(pub, "PUB order 2\r\nm1\r\nPUB order 2\r\nm2\r\nPING\r\n");
	it_raw_expect(pub, "PONG\r\n");
	it_raw_send(sub, "PING\r\n");
	it_raw_expect(sub, "MSG order 1 2\r\nm1\r\nMSG order 1 2\r\nm2\r\nPONG\r\n");
	close(sub);
	close(pub);
}

/* A server PONG answers each PING even when pipelined. */
static void t_pipelined_pings(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "PING\r\nPING\r\nPING\r\n");
	it_raw_expect(fd, "PONG\r\nPONG\r\nPONG\r\n");
	close(fd);
}

/* Without auth, operations before CONNECT are accepted (verbose default). */
static void t_ops_before_connect(void)
{
	it_start(NULL);
	int fd = it_raw_connect();
	it_raw_info(fd);
	it_raw_send(fd, "SUB foo 1\r\n");
	it_raw_expect(fd, "+OK\r\n");
	it_raw_send(fd, "PING\r\n");
	it_raw_expect(fd, "PONG\r\n");
	close(fd);
}

/* An unknown operation closes that connection with -ERR; others go on. */
static void t_unknown_op(void)
{
	it_start(NULL);
	int other = it_raw_client();
	it_raw_send(other, "SUB still.here 5\r\nPING\r\n");
	it_raw_expect(other, "PONG\r\n");

	int bad = it_raw_client();
	it_raw_send(bad, "FOO bar\r\n");
	it_raw_expect(bad, "-ERR 'Unknown Protocol Operation'\r\n");
	it_raw_expect_closed(bad, 3000);
	close(bad);

	int pub = it_raw_client();
	it_raw_send(pub, "PUB still.here 2\r\nok\r\nPING\r\n");
	it_raw_expect(pub, "PONG\r\n");
	it_raw_send(other, "PING\r\n");
	it_raw_expect(other, "MSG still.here 5 2\r\nok\r\nPONG\r\n");
	close(pub);
	close(other);
}

/* A payload longer than announced is a framing error. */
static void t_payload_longer_than_announced(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "PUB foo 3\r\nabcdef\r\n");
	it_raw_expect(fd, "-ERR 'Unknown Protocol Operation'\r\n");
	it_raw_expect_closed(fd, 3000);
	close(fd);
}

/* An invalid SUB subject is refused; the connection stays usable. */
static void t_invalid_subject(void)
{
	static const char *const bad[] = { "foo..bar", "foo.>.bar", ".foo", "foo." };
	it_start(NULL);
	int fd = it_raw_client();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char line[128];
		snprintf(line, sizeof line, "SUB %s 1\r\nPING\r\n", bad[i]);
		it_raw_send(fd, line);
		it_raw_expect(fd, "-ERR 'Invalid Subject'\r\nPONG\r\n");
	}
	/* None of them was created: sid 1 is still free. */
	it_raw_send(fd, "SUB ok 1\r\nPUB ok 1\r\nx\r\nPING\r\n");
	it_raw_expect(fd, "MSG ok 1 1\r\nx\r\nPONG\r\n");
	close(fd);
}

static void t_invalid_client_protocol(void)
{
	it_start(NULL);
	int fd = it_raw_connect();
	it_raw_info(fd);
	it_raw_send(fd, "CONNECT {\"verbose\":false,\"protocol\":2}\r\n");
	it_raw_expect(fd, "-ERR 'invalid client protocol'\r\n");
	it_raw_expect_closed(fd, 3000);
	close(fd);
}

static void t_no_responders_needs_headers(void)
{
	it_start(NULL);
	int fd = it_raw_connect();
	it_raw_info(fd);
	it_raw_send(fd, "CONNECT {\"verbose\":false,\"no_responders\":true}\r\n");
	it_raw_expect(fd, "-ERR 'no responders requires headers support'\r\n");
	it_raw_expect_closed(fd, 3000);
	close(fd);
}

static void t_max_control_line(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	char line[6000];
	memset(line, 'a', sizeof line);
	memcpy(line, "SUB ", 4);
	memcpy(line + sizeof line - 4, " 1\r\n", 4);
	it_raw_sendn(fd, line, sizeof line);
	it_raw_expect(fd, "-ERR 'maximum control line exceeded'\r\n");
	it_raw_expect_closed(fd, 3000);
	close(fd);
}

IT_MAIN(IT_TEST(t_info_fields), IT_TEST(t_verbose_default), IT_TEST(t_verbose_off),
        IT_TEST(t_pedantic_publish_subject), IT_TEST(t_pub_sub_wire),
        IT_TEST(t_reply_subject_wire), IT_TEST(t_zero_length_payload), IT_TEST(t_binary_payload),
        IT_TEST(t_case_and_whitespace), IT_TEST(t_overlapping_subs), IT_TEST(t_unsub),
        IT_TEST(t_unsub_max_wire), IT_TEST(t_ping_pong_ordering), IT_TEST(t_pipelined_pings),
        IT_TEST(t_ops_before_connect), IT_TEST(t_unknown_op),
        IT_TEST(t_payload_longer_than_announced), IT_TEST(t_invalid_subject),
        IT_TEST(t_invalid_client_protocol), IT_TEST(t_no_responders_needs_headers),
        IT_TEST(t_max_control_line))
