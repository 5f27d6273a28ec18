/*
 * harness.h - the integration-test harness: runs a NATS server under test as
 * a child process, talks to it through libnats and through raw sockets, and
 * reports failures with the bytes that were expected and the bytes that came.
 *
 * The server is the built junction by default, or Debian's nats-server when
 * the environment has JN_TEST_SERVER=nats-server: the same test then proves
 * that it checks real NATS behaviour. One C description (struct it_config)
 * is written as a JSON file for junction and as a .conf file for nats-server.
 *
 * Each test case runs in its own forked process with its own server on a
 * fresh loopback port, so a crash or a hang fails that case only. The server
 * child dies with its parent (PR_SET_PDEATHSIG), so nothing survives a test.
 * After a case the server is stopped with SIGTERM; junction must then exit 0
 * (clean shutdown is part of what is tested).
 *
 * MQTT tests (it_config.mqtt) get an MQTT listener on it_srv->mqtt_port;
 * with JN_TEST_SERVER=mosquitto the server is Debian's mosquitto with a
 * generated mosquitto.conf (that listener only, persistence in the scratch
 * directory), so MQTT-only tests prove they check real MQTT behaviour.
 *
 * Environment:
 *   JN_TEST_SERVER      "junction" (default), "nats-server" or "mosquitto"
 *   JN_JUNCTION_BIN     junction binary (default: the one CMake built)
 *   JN_NATS_SERVER_BIN  nats-server binary (default: the one CMake found)
 *   JN_MOSQUITTO_BIN    mosquitto binary (default: /usr/sbin/mosquitto)
 *   JN_TEST_VERBOSE=1   run the server with -D -V and print its log always
 */
#ifndef JN_IT_HARNESS_H
#define JN_IT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <nats/nats.h>

#define IT_MAX_USERS 4
#define IT_MAX_SUBJ 8

/* NULL-terminated subject lists; an all-NULL list is absent. */
struct it_perms {
	const char *pub_allow[IT_MAX_SUBJ];
	const char *pub_deny[IT_MAX_SUBJ];
	const char *sub_allow[IT_MAX_SUBJ];
	const char *sub_deny[IT_MAX_SUBJ];
};

struct it_user {
	const char *user;              /* NULL ends the list */
	const char *password;
	const struct it_perms *perms;  /* NULL: no restrictions */
};

/* Zero means "server default" for every field. */
struct it_config {
	const char *token;
	struct it_user users[IT_MAX_USERS];
	int64_t max_payload;
	int64_t max_pending;
	int ping_interval_ms;
	int ping_max;
	int write_deadline_ms;
	int auth_timeout_ms;
	int max_connections;
	int max_subscriptions;     /* per connection */
	bool jetstream;            /* enable JetStream, store in <dir>/store */
	bool mqtt;                 /* MQTT listener on it_srv->mqtt_port */
	bool http;                 /* junction: HTTP listener on it_srv->http_port */
	const char *http_extra;    /* more members of the "http" object, JSON text */
	const char *mqtt_extra;    /* more members of the "mqtt" object (junction), JSON text */
};

struct it_server {
	int pid;
	int port;
	int http_port;        /* 0 unless it_config.http */
	int mqtt_port;        /* 0 unless it_config.mqtt (mosquitto: == port) */
	bool mosquitto;       /* the server is mosquitto */
	char url[64];
	bool junction;        /* false: nats-server */
	char dir[256];        /* scratch dir: config, log, store */
	char log[300];
};

/* The server of the running test case (NULL before it_start). */
extern struct it_server *it_srv;

/* Start the server under test for this test case; fails the case on error.
 * cfg may be NULL (all defaults). Returns it_srv. */
struct it_server *it_start(const struct it_config *cfg);
/* SIGTERM the server and wait for it; fails the case if junction does not
 * exit 0 within 15 s. Called automatically after each passing case. */
void it_stop(void);
/* Stop the server (SIGTERM, checked as it_stop does; or SIGKILL when kill9)
 * and start it again with the same config, port and store directory. After
 * it_stop() it just starts the server again. */
void it_restart(bool kill9);
/* True when the server under test is junction. */
bool it_is_junction(void);
/* True when it is mosquitto (JN_TEST_SERVER=mosquitto). */
bool it_is_mosquitto(void);

/* ---- failure reporting ------------------------------------------------ */

/* Print "file:line: message", the server log tail, stop everything and end
 * the test case as failed. Never returns. */
void it_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));

/* Same, prefixed with the text of the failed condition. */
void it_fail_check(const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));

#define IT_CHECK(cond, ...) \
	do { if (!(cond)) it_fail_check(__FILE__, __LINE__, #cond, __VA_ARGS__); } while (0)

#define IT_OK(expr) \
	do { natsStatus it__s = (expr); \
	     if (it__s != NATS_OK) it_fail(__FILE__, __LINE__, "%s returned %s (%s)", #expr, \
	                                   natsStatus_GetText(it__s), nats_GetLastError(NULL)); } while (0)

#define IT_STATUS(expr, want) \
	do { natsStatus it__s = (expr); \
	     if (it__s != (want)) it_fail(__FILE__, __LINE__, "%s returned %s, expected %s (%s)", #expr, \
	                                  natsStatus_GetText(it__s), natsStatus_GetText(want), \
	                                  nats_GetLastError(NULL)); } while (0)

#define IT_EQ_INT(a, b) \
	do { long long it__a = (long long)(a), it__b = (long long)(b); \
	     if (it__a != it__b) it_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", \
	                                 #a, it__a, #b, it__b); } while (0)

#define IT_EQ_STR(a, b) \
	do { const char *it__a = (a), *it__b = (b); \
	     if (it__a == NULL || strcmp(it__a, it__b) != 0) \
	         it_fail(__FILE__, __LINE__, "%s is \"%s\", expected \"%s\"", #a, \
	                 it__a ? it__a : "(null)", it__b); } while (0)

/* ---- libnats helpers -------------------------------------------------- */

/* Options pointing at it_srv with reconnects off and a 5 s connect timeout.
 * The caller owns the result (natsOptions_Destroy). */
natsOptions *it_opts(void);
/* Connect with it_opts() (plus user/password when user != NULL); fails the
 * case on error. The caller owns the connection. */
natsConnection *it_connect(const char *user, const char *password);

/* Milliseconds on a monotonic clock. */
int64_t it_now_ms(void);
void it_sleep_ms(int ms);

/* ---- raw sockets ------------------------------------------------------ */

/* A blocking TCP connection to it_srv. The caller closes it. */
int it_raw_connect(void);
/* Same, with SO_RCVBUF set before connecting (slow-consumer tests). */
int it_raw_connect_rcvbuf(int rcvbuf);
void it_raw_send(int fd, const char *s);
void it_raw_sendn(int fd, const void *buf, size_t len);
/* Read exactly strlen(want) bytes within 5 s and compare them byte for byte. */
#define it_raw_expect(fd, want) it_raw_expect_at(__FILE__, __LINE__, fd, want, strlen(want), 5000)
void it_raw_expect_at(const char *file, int line, int fd, const char *want, size_t n,
                      int timeout_ms);
/* Read one line (through "\r\n", included) into buf; returns its length. */
#define it_raw_line(fd, buf, cap) it_raw_line_at(__FILE__, __LINE__, fd, buf, cap, 5000)
size_t it_raw_line_at(const char *file, int line, int fd, char *buf, size_t cap, int timeout_ms);
/* The peer must close within timeout_ms, sending nothing more. */
#define it_raw_expect_closed(fd, ms) it_raw_expect_closed_at(__FILE__, __LINE__, fd, ms)
void it_raw_expect_closed_at(const char *file, int line, int fd, int timeout_ms);
/* Nothing may arrive (and no close) for ms milliseconds. */
#define it_raw_expect_silence(fd, ms) it_raw_expect_silence_at(__FILE__, __LINE__, fd, ms)
void it_raw_expect_silence_at(const char *file, int line, int fd, int ms);
/* Read the INFO line, check its framing, and return its JSON text (static
 * buffer, valid until the next call). */
#define it_raw_info(fd) it_raw_info_at(__FILE__, __LINE__, fd)
const char *it_raw_info_at(const char *file, int line, int fd);
/* INFO, then "CONNECT <json>\r\nPING\r\n", then expect "PONG\r\n" (or
 * "+OK\r\nPONG\r\n" when verbose is true in the json). */
#define it_raw_hello(fd, json) it_raw_hello_at(__FILE__, __LINE__, fd, json)
void it_raw_hello_at(const char *file, int line, int fd, const char *connect_json);
/* it_raw_connect + it_raw_hello with {"verbose":false,"pedantic":false,"headers":true}. */
int it_raw_client(void);

/* ---- test runner ------------------------------------------------------ */

struct it_test {
	const char *name;
	void (*fn)(void);
	int timeout_s;    /* 0: 60 s */
};
#define IT_TEST(fn) { #fn, fn, 0 }
#define IT_TEST_T(fn, secs) { #fn, fn, secs }

/* Run every test (or only those named on the command line), each in a
 * forked process; print one line per test and "N passed, N failed".
 * Returns the process exit status. */
int it_main(int argc, char **argv, const struct it_test *tests, size_t n);

#define IT_MAIN(...) \
	int main(int argc, char **argv) { \
		static const struct it_test it__t[] = { __VA_ARGS__ }; \
		return it_main(argc, argv, it__t, sizeof it__t / sizeof it__t[0]); \
	}

#endif
