/*
 * test_nats_client.c - the NATS connection engine (adapters/nats/client.c,
 * server.c) on the wire: bytes in, bytes out.
 *
 * Each connection is a fake jn_link (its close op records the reason) with
 * a real outq; a real router and sublist connect them. Output is drained
 * from link->out through a pipe and compared byte for byte. Most cases are
 * tables of steps: connection k sends these bytes, then every connection
 * must have produced exactly these bytes (NULL: nothing) and exactly these
 * connections must have been closed.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <jansson.h>

/* Table rows leave trailing fields (closed) to zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "adapters/nats/server.h"
#include "core/alloc.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/outq.h"
#include "core/router.h"
#include "core/sublist.h"

#define NCONN 4
#define SEC 1000000000LL

struct conn {
	struct jn_link link;
	void *st;
	int closes;             /* close requests */
	char reason[160];
	bool gone;              /* on_close ran */
};

struct env {
	struct jn_router router;
	struct jn_auth auth;
	struct jn_nats_opts opts;
	struct jn_nats_server *srv;
	struct jn_sublist_cache *cache;
	struct jn_thread_ctx ctx;
	struct jn_epoch_thread *et;
	struct conn c[NCONN];
	int pipefd[2];
	size_t mem0;
	char *out;              /* last conn_out() result */
};

static void fake_close(struct jn_link *l, const char *reason)
{
	struct conn *c = (struct conn *)l;   /* link is the first member */
	c->closes++;
	snprintf(c->reason, sizeof c->reason, "%s", reason ? reason : "");
}

static const struct jn_link_ops fake_ops = { .close = fake_close };

typedef void (*tweak_fn)(struct jn_nats_opts *o, struct jn_auth *a);

static struct env *env_new(tweak_fn tweak)
{
	struct env *e = calloc(1, sizeof *e);
	assert_non_null(e);
	e->mem0 = jn_mem_used();
	assert_int_equal(jn_router_init(&e->router), 0);
	jn_auth_init(&e->auth);
	jn_nats_opts_default(&e->opts);
	e->opts.host = "127.0.0.1";
	e->opts.port = 4222;
	e->opts.server_name = "unit";
	if (tweak)
		tweak(&e->opts, &e->auth);
	e->srv = jn_nats_server_new(&e->opts, &e->router, &e->auth);
	assert_non_null(e->srv);
	e->cache = jn_sublist_cache_new(e->router.subs);
	assert_non_null(e->cache);
	e->et = jn_epoch_register();
	assert_non_null(e->et);
	jn_epoch_enter(e->et);
	e->ctx.cache = e->cache;
	e->ctx.now_ns = 1000 * SEC;
	assert_int_equal(pipe2(e->pipefd, O_NONBLOCK), 0);
	fcntl(e->pipefd[1], F_SETPIPE_SZ, 1 << 20);
	return e;
}

/* Bytes queued on connection i since the last call (NUL-terminated,
 * valid until the next call). */
static const char *conn_out(struct env *e, int i)
{
	free(e->out);
	size_t cap = 4096, len = 0;
	e->out = malloc(cap);
	for (;;) {
		long left = jn_outq_drain(&e->c[i].link.out, e->pipefd[1]);
		assert_true(left >= 0);
		for (;;) {
			if (len + 65536 + 1 > cap) {
				cap = (len + 65536 + 1) * 2;
				e->out = realloc(e->out, cap);
			}
			ssize_t r = read(e->pipefd[0], e->out + len, 65536);
			if (r <= 0)
				break;
			len += (size_t)r;
		}
		if (left == 0)
			break;
	}
	e->out[len] = '\0';
	return e->out;
}

/* Open connection i; returns the INFO line's JSON (caller decrefs) or NULL
 * when the engine refused the connection. */
static json_t *conn_open(struct env *e, int i)
{
	struct conn *c = &e->c[i];
	memset(c, 0, sizeof *c);
	c->link.ops = &fake_ops;
	jn_outq_init(&c->link.out, 0, NULL, NULL);
	c->link.id = 100 + (uint64_t)i;
	snprintf(c->link.peer_ip, sizeof c->link.peer_ip, "127.0.0.%d", i + 1);
	c->link.created_ns = e->ctx.now_ns;
	c->st = jn_nats_proto.open(e->srv, &c->link, &e->ctx);
	c->link.proto_state = c->st;
	const char *out = conn_out(e, i);
	assert_true(strncmp(out, "INFO {", 6) == 0);
	const char *end = strstr(out, "} \r\n");
	assert_non_null(end);
	json_error_t jerr;
	json_t *info = json_loadb(out + 5, (size_t)(end + 1 - (out + 5)), 0, &jerr);
	assert_non_null(info);
	if (!c->st)
		json_decref(info);
	return c->st ? info : NULL;
}

static void conn_open_ok(struct env *e, int i)
{
	json_t *info = conn_open(e, i);
	assert_non_null(info);
	json_decref(info);
}

static int conn_send_n(struct env *e, int i, const char *s, size_t n)
{
	assert_non_null(e->c[i].st);
	return jn_nats_proto.on_data(e->c[i].st, (const uint8_t *)s, n, &e->ctx);
}

static int conn_send(struct env *e, int i, const char *s)
{
	return conn_send_n(e, i, s, strlen(s));
}

static void conn_tick(struct env *e, int i)
{
	jn_nats_proto.on_tick(e->c[i].st, &e->ctx);
}

/* What the gateway does on close: stop the queue, then on_close. */
static void conn_close(struct env *e, int i)
{
	struct conn *c = &e->c[i];
	if (!c->st || c->gone)
		return;
	jn_outq_close(&c->link.out);
	jn_nats_proto.on_close(c->st, &e->ctx);
	c->gone = true;
}

static void env_free(struct env *e)
{
	for (int i = 0; i < NCONN; i++)
		conn_close(e, i);
	jn_epoch_exit(e->et);
	jn_epoch_drain();
	jn_epoch_unregister(e->et);
	for (int i = 0; i < NCONN; i++)
		if (e->c[i].link.ops)
			jn_outq_fini(&e->c[i].link.out);
	assert_int_equal(jn_sublist_count(e->router.subs), 0);
	jn_sublist_cache_free(e->cache);
	jn_nats_server_free(e->srv);
	jn_router_fini(&e->router);
	jn_auth_fini(&e->auth);
	jn_outq_pool_trim();
	assert_int_equal(jn_mem_used(), e->mem0);
	close(e->pipefd[0]);
	close(e->pipefd[1]);
	free(e->out);
	free(e);
}

/* ---- tables ------------------------------------------------------------- */

struct step {
	int c;                    /* sending connection */
	const char *in;
	const char *out[NCONN];   /* expected output per connection; NULL = none */
	unsigned closed;          /* bitmask of connections closed after the step */
};

static void run_steps(struct env *e, const struct step *s, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (!e->c[s[k].c].closes)
			conn_send(e, s[k].c, s[k].in);
		for (int i = 0; i < NCONN; i++) {
			if (!e->c[i].link.ops)
				continue;
			const char *got = conn_out(e, i);
			const char *want = s[k].out[i] ? s[k].out[i] : "";
			if (strcmp(got, want) != 0)
				fail_msg("step %zu (%s) conn %d:\n got: [%s]\nwant: [%s]", k, s[k].in, i,
				         got, want);
			bool closed = e->c[i].closes > 0;
			bool want_closed = (s[k].closed >> i) & 1;
			if (closed != want_closed)
				fail_msg("step %zu conn %d: closed=%d want %d (%s)", k, i, closed,
				         want_closed, e->c[i].reason);
		}
	}
}

static void run_table(tweak_fn tweak, int nconn, const struct step *s, size_t n)
{
	struct env *e = env_new(tweak);
	for (int i = 0; i < nconn; i++)
		conn_open_ok(e, i);
	run_steps(e, s, n);
	env_free(e);
}

#define TABLE(tweak, nconn, ...) do { \
	const struct step t_[] = { __VA_ARGS__ }; \
	run_table(tweak, nconn, t_, sizeof t_ / sizeof t_[0]); \
} while (0)

#define QUIET "CONNECT {\"verbose\":false}\r\n"
#define QUIET_HDR "CONNECT {\"verbose\":false,\"headers\":true}\r\n"
#define C0 1u
#define C1 2u
#define C2 4u

/* ---- INFO and CONNECT ---------------------------------------------------- */

static void test_info_on_open(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	json_t *info = conn_open(e, 0);
	assert_non_null(info);
	const char *id = json_string_value(json_object_get(info, "server_id"));
	assert_non_null(id);
	assert_int_equal(strlen(id), 56);
	for (const char *p = id; *p; p++)
		assert_true((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'));
	assert_string_equal(id, jn_nats_server_id(e->srv));
	assert_string_equal(json_string_value(json_object_get(info, "server_name")), "unit");
	assert_string_equal(json_string_value(json_object_get(info, "version")), "2.9.10");
	assert_int_equal(json_integer_value(json_object_get(info, "proto")), 1);
	assert_string_equal(json_string_value(json_object_get(info, "host")), "127.0.0.1");
	assert_int_equal(json_integer_value(json_object_get(info, "port")), 4222);
	assert_true(json_is_true(json_object_get(info, "headers")));
	assert_int_equal(json_integer_value(json_object_get(info, "max_payload")), 1048576);
	assert_int_equal(json_integer_value(json_object_get(info, "client_id")), 100);
	assert_string_equal(json_string_value(json_object_get(info, "client_ip")), "127.0.0.1");
	assert_null(json_object_get(info, "auth_required"));
	assert_null(json_object_get(info, "jetstream"));
	json_decref(info);
	/* A second connection gets its own client_id. */
	info = conn_open(e, 1);
	assert_int_equal(json_integer_value(json_object_get(info, "client_id")), 101);
	json_decref(info);
	const struct jn_nats_stats *st = jn_nats_server_stats(e->srv);
	assert_int_equal(st->conns_total, 2);
	assert_int_equal(st->conns_current, 2);
	conn_close(e, 0);
	assert_int_equal(st->conns_current, 1);
	env_free(e);
}

static void tweak_auth_js(struct jn_nats_opts *o, struct jn_auth *a)
{
	o->jetstream = true;
	o->server_name = NULL;
	assert_int_equal(jn_auth_set_token(a, "s3cret"), 0);
}

static void test_info_auth_jetstream(void **state)
{
	(void)state;
	struct env *e = env_new(tweak_auth_js);
	json_t *info = conn_open(e, 0);
	assert_true(json_is_true(json_object_get(info, "auth_required")));
	assert_true(json_is_true(json_object_get(info, "jetstream")));
	/* server_name defaults to the id */
	assert_string_equal(json_string_value(json_object_get(info, "server_name")),
	                    jn_nats_server_id(e->srv));
	json_decref(info);
	env_free(e);
}

static void test_connect_defaults(void **state)
{
	(void)state;
	/* CONNECT {} is verbose: +OK after CONNECT, SUB, PUB, UNSUB, not PING. */
	TABLE(NULL, 1,
	      { 0, "CONNECT {}\r\n", { "+OK\r\n" } },
	      { 0, "SUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n",
	        { "+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n+OK\r\nPONG\r\n" } },
	      /* pedantic by default */
	      { 0, "PUB foo.* 1\r\nx\r\n", { "-ERR 'Invalid Publish Subject'\r\n+OK\r\n" } },
	      { 0, QUIET "PING\r\n", { "PONG\r\n" } });
	/* Before CONNECT, without auth, operations work and are verbose. */
	TABLE(NULL, 1,
	      { 0, "SUB foo 1\r\n", { "+OK\r\n" } },
	      { 0, "PUB foo 1\r\nx\r\n", { "+OK\r\nMSG foo 1 1\r\nx\r\n" } });
	/* Options overlay: a second CONNECT changes only what it names. */
	TABLE(NULL, 1,
	      { 0, QUIET, { NULL } },
	      { 0, "CONNECT {\"echo\":false}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n",
	        { "PONG\r\n" } });
}

static void test_connect_errors(void **state)
{
	(void)state;
	TABLE(NULL, 1,
	      { 0, "CONNECT {\"protocol\":2}\r\nPING\r\n", { "-ERR 'invalid client protocol'\r\n" }, C0 });
	TABLE(NULL, 1,
	      { 0, "CONNECT {\"protocol\":-1}\r\n", { "-ERR 'invalid client protocol'\r\n" }, C0 });
	TABLE(NULL, 1,
	      { 0, "CONNECT {\"verbose\":false,\"protocol\":1,\"no_responders\":true}\r\n",
	        { "-ERR 'no responders requires headers support'\r\n" }, C0 });
	/* Invalid JSON or wrong types close without -ERR (observed). */
	TABLE(NULL, 1, { 0, "CONNECT {\"verbose\":\r\nPING\r\n", { NULL }, C0 });
	TABLE(NULL, 1, { 0, "CONNECT {\"protocol\":\"1\"}\r\nPING\r\n", { NULL }, C0 });
	TABLE(NULL, 1, { 0, "CONNECT\r\nPING\r\n", { NULL }, C0 });
	TABLE(NULL, 1, { 0, "CONNECT [1]\r\n", { NULL }, C0 });
	/* null keeps the default */
	TABLE(NULL, 1, { 0, "CONNECT {\"verbose\":null}\r\n", { "+OK\r\n" } });
	/* Account designation is refused in 2.9. */
	TABLE(NULL, 1, { 0, "CONNECT {\"account\":\"A\"}\r\n", { "-ERR 'Authorization Violation'\r\n" }, C0 });
}

/* ---- core protocol ---------------------------------------------------------- */

static void test_ping_pong_and_pubsub(void **state)
{
	(void)state;
	TABLE(NULL, 3,
	      { 0, QUIET "PING\r\n", { "PONG\r\n" } },
	      { 1, QUIET "PING\r\nPING\r\n", { NULL, "PONG\r\nPONG\r\n" } },
	      { 0, "SUB foo 1\r\nSUB foo.* 2\r\nPING\r\n", { "PONG\r\n" } },
	      { 2, QUIET "SUB > 3\r\n", { NULL } },
	      { 1, "PUB foo 2\r\nhi\r\n", { "MSG foo 1 2\r\nhi\r\n", NULL, "MSG foo 3 2\r\nhi\r\n" } },
	      { 1, "PUB foo.x bar.reply 1\r\na\r\n",
	        { "MSG foo.x 2 bar.reply 1\r\na\r\n", NULL, "MSG foo.x 3 bar.reply 1\r\na\r\n" } },
	      { 1, "PUB foo 0\r\n\r\n", { "MSG foo 1 0\r\n\r\n", NULL, "MSG foo 3 0\r\n\r\n" } },
	      /* Payloads are opaque. */
	      { 1, "PUB foo 6\r\nPUB \r\n\r\n",
	        { "MSG foo 1 6\r\nPUB \r\n\r\n", NULL, "MSG foo 3 6\r\nPUB \r\n\r\n" } },
	      /* Duplicate sid: the first subscription stays. */
	      { 0, "SUB bar 1\r\n", { NULL } },
	      { 1, "PUB bar 1\r\nx\r\n", { NULL, NULL, "MSG bar 3 1\r\nx\r\n" } },
	      /* Ops are case-insensitive, separators repeat. */
	      { 0, "unsub\t 1\r\nsub  zz\t9\r\n", { NULL } },
	      { 1, "pub foo 1\r\nx\r\nPub zz 1\r\ny\r\n",
	        { "MSG zz 9 1\r\ny\r\n", NULL, "MSG foo 3 1\r\nx\r\nMSG zz 3 1\r\ny\r\n" } },
	      /* Client INFO and +OK are ignored. */
	      { 0, "INFO {\"a\":1}\r\n+OK\r\nPING\r\n", { "PONG\r\n" } });
}

/* PONG comes after everything the PING follows, also when split. */
static void test_pong_order_split(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	conn_open_ok(e, 0);
	const char *in = QUIET "SUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n";
	size_t n = strlen(in);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(conn_send_n(e, 0, in + i, 1), 0);
	assert_string_equal(conn_out(e, 0), "MSG foo 1 5\r\nhello\r\nPONG\r\n");
	env_free(e);
}

static void test_headers(void **state)
{
	(void)state;
	TABLE(NULL, 3,
	      { 0, QUIET_HDR "SUB foo 1\r\n", { NULL } },
	      { 2, QUIET "SUB foo 7\r\n", { NULL } },
	      { 1, QUIET_HDR "HPUB foo 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n",
	        { "HMSG foo 1 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n", NULL, "MSG foo 7 2\r\nhi\r\n" } },
	      { 1, "HPUB foo rep 12 12\r\nNATS/1.0\r\n\r\n\r\n",
	        { "HMSG foo 1 rep 12 12\r\nNATS/1.0\r\n\r\n\r\n", NULL, "MSG foo 7 rep 0\r\n\r\n" } },
	      /* hdr_len 0 is a plain message (observed). */
	      { 1, "HPUB foo 0 2\r\nv1\r\n", { "MSG foo 1 2\r\nv1\r\n", NULL, "MSG foo 7 2\r\nv1\r\n" } },
	      /* A plain PUB reaches a header client as MSG. */
	      { 1, "PUB foo 1\r\nx\r\n", { "MSG foo 1 1\r\nx\r\n", NULL, "MSG foo 7 1\r\nx\r\n" } },
	      /* HPUB without headers:true closes silently (observed), at its
	       * control line: a broken payload after it gets no -ERR either. */
	      { 2, "HPUB foo 12 12\r\nNATS/1.0\r\n\r\nXX\r\n", { NULL }, C2 });
}

static void test_queue_groups(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	for (int i = 0; i < 3; i++) {
		conn_open_ok(e, i);
		conn_send(e, i, QUIET);
	}
	conn_send(e, 0, "SUB foo g1 1\r\n");
	conn_send(e, 1, "SUB foo g1 2\r\n");
	conn_send(e, 2, "SUB foo 3\r\nSUB foo.> g2 4\r\nSUB foo.* g2 5\r\n");
	int n0 = 0, n1 = 0;
	for (int k = 0; k < 200; k++)
		conn_send(e, 2, "PUB foo 1\r\nx\r\n");
	const char *o = conn_out(e, 0);
	for (const char *p = o; (p = strstr(p, "MSG foo 1 1\r\nx\r\n")); p++)
		n0++;
	assert_int_equal(strlen(o), (size_t)n0 * 16);
	o = conn_out(e, 1);
	for (const char *p = o; (p = strstr(p, "MSG foo 2 1\r\nx\r\n")); p++)
		n1++;
	assert_int_equal(strlen(o), (size_t)n1 * 16);
	assert_int_equal(n0 + n1, 200);      /* exactly one member per message */
	assert_true(n0 > 0 && n1 > 0);       /* random choice reaches both */
	o = conn_out(e, 2);                  /* the plain sub gets all (echo on) */
	assert_int_equal(strlen(o), 200 * 16);
	/* Queue group spans filters: foo.> and foo.* form one group g2. */
	for (int k = 0; k < 100; k++)
		conn_send(e, 0, "PUB foo.a 1\r\ny\r\n");
	o = conn_out(e, 2);
	int n4 = 0, n5 = 0;
	for (const char *p = o; (p = strstr(p, "MSG foo.a 4 ")); p++)
		n4++;
	for (const char *p = o; (p = strstr(p, "MSG foo.a 5 ")); p++)
		n5++;
	assert_int_equal(n4 + n5, 100);
	env_free(e);
}

static void test_unsub_max(void **state)
{
	(void)state;
	TABLE(NULL, 2,
	      /* Observed: SUB foo 1, UNSUB 1 2, three PUBs -> two MSGs. */
	      { 0, QUIET "SUB foo 1\r\nUNSUB 1 2\r\n", { NULL } },
	      { 1, QUIET "PUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\n",
	        { "MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\n" } },
	      /* The sid is free again. */
	      { 0, "SUB foo 1\r\n", { NULL } },
	      { 1, "PUB foo 1\r\nd\r\n", { "MSG foo 1 1\r\nd\r\n" } },
	      /* max <= delivered: removed at once. */
	      { 0, "UNSUB 1 1\r\n", { NULL } },
	      { 1, "PUB foo 1\r\ne\r\n", { NULL } },
	      /* max > delivered counts the earlier deliveries. */
	      { 0, "SUB bar 2\r\n", { NULL } },
	      { 1, "PUB bar 1\r\nf\r\nPUB bar 1\r\ng\r\n", { "MSG bar 2 1\r\nf\r\nMSG bar 2 1\r\ng\r\n" } },
	      { 0, "UNSUB 2 3\r\n", { NULL } },
	      { 1, "PUB bar 1\r\nh\r\nPUB bar 1\r\ni\r\n", { "MSG bar 2 1\r\nh\r\n" } },
	      /* Unknown sid: ignored (and verbose still acknowledges). */
	      { 0, "UNSUB 77\r\nUNSUB 78 5\r\nPING\r\n", { "PONG\r\n" } },
	      /* (a later CONNECT overlays: only what it names changes) */
	      { 0, "CONNECT {}\r\nUNSUB 79\r\n", { NULL } },
	      { 0, "CONNECT {\"verbose\":true}\r\nUNSUB 79\r\n", { "+OK\r\n+OK\r\n" } },
	      /* Old-style request: UNSUB <sid> 1. */
	      { 0, "SUB _INBOX.r 5\r\nUNSUB 5 1\r\n", { "+OK\r\n+OK\r\n" } },
	      { 1, "PUB _INBOX.r 1\r\nr\r\nPUB _INBOX.r 1\r\nr\r\n", { "MSG _INBOX.r 5 1\r\nr\r\n" } });
}

static void test_echo_off(void **state)
{
	(void)state;
	TABLE(NULL, 2,
	      { 0, "CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n",
	        { "PONG\r\n" } },
	      { 1, QUIET "PUB foo 1\r\ny\r\n", { "MSG foo 1 1\r\ny\r\n" } },
	      /* a queue group skips the publisher's own member */
	      { 0, "SUB q g 2\r\n", { NULL } },
	      { 1, "SUB q g 3\r\n", { NULL } },
	      { 0, "PUB q 1\r\nz\r\nPUB q 1\r\nz\r\n", { NULL, "MSG q 3 1\r\nz\r\nMSG q 3 1\r\nz\r\n" } });
}

#define NR_CONNECT "CONNECT {\"verbose\":false,\"protocol\":1,\"headers\":true,\"no_responders\":true}\r\n"

static void test_no_responders(void **state)
{
	(void)state;
	TABLE(NULL, 2,
	      /* Observed: HMSG <reply> <sid> 16 16 + NATS/1.0 503. */
	      { 0, NR_CONNECT "SUB _INBOX.abc.*  1\r\nPUB nobody.home _INBOX.abc.xyz 1\r\nx\r\n",
	        { "HMSG _INBOX.abc.xyz 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n" } },
	      /* Also for HPUB. */
	      { 0, "HPUB nobody _INBOX.abc.2 12 12\r\nNATS/1.0\r\n\r\n\r\n",
	        { "HMSG _INBOX.abc.2 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n" } },
	      /* No reply subscription of its own: nothing. */
	      { 0, "PUB nobody _INBOX.other.1 1\r\nx\r\n", { NULL } },
	      /* No reply: nothing. */
	      { 0, "PUB nobody 1\r\nx\r\n", { NULL } },
	      /* A responder exists: no 503. */
	      { 1, QUIET "SUB service 1\r\n", { NULL } },
	      { 0, "PUB service _INBOX.abc.3 1\r\nx\r\n", { NULL, "MSG service 1 _INBOX.abc.3 1\r\nx\r\n" } },
	      /* Without no_responders: nothing. */
	      { 1, "SUB _INBOX.def.* 2\r\nPUB nobody _INBOX.def.1 1\r\nx\r\n", { NULL } });
}

static void test_invalid_subjects(void **state)
{
	(void)state;
	TABLE(NULL, 2,
	      /* Observed: -ERR 'Invalid Subject', connection stays. */
	      { 0, QUIET "SUB foo..bar 1\r\nSUB foo.>.bar 2\r\nSUB .foo 3\r\nPING\r\n",
	        { "-ERR 'Invalid Subject'\r\n-ERR 'Invalid Subject'\r\n-ERR 'Invalid Subject'\r\nPONG\r\n" } },
	      /* The failed sid was not kept. */
	      { 0, "SUB foo 1\r\n", { NULL } },
	      { 0, "SUB > 9\r\n", { NULL } },
	      /* Pedantic: -ERR, yet a wildcard subject is still delivered (2.9). */
	      { 1, "CONNECT {\"verbose\":false,\"pedantic\":true}\r\nPUB foo.* 1\r\nx\r\n",
	        { "MSG foo.* 9 1\r\nx\r\n", "-ERR 'Invalid Publish Subject'\r\n" } },
	      { 1, "PUB foo..x 1\r\nx\r\n", { NULL, "-ERR 'Invalid Publish Subject'\r\n" } },
	      /* Not pedantic: no -ERR; the wildcard subject is still routed
	       * (observed on 2.9.10; nats.go relies on it for consumer
	       * create subjects), the malformed one is dropped silently. */
	      { 1, "CONNECT {\"pedantic\":false,\"verbose\":false}\r\n"
	           "PUB foo.* 1\r\nx\r\nPUB foo..x 1\r\nx\r\nPING\r\n",
	        { "MSG foo.* 9 1\r\nx\r\n", "PONG\r\n" } });
}

static void tweak_perms(struct jn_nats_opts *o, struct jn_auth *a)
{
	(void)o;
	struct jn_user *u;
	assert_int_equal(jn_auth_add_user(a, "alice", "pw", &u), 0);
	assert_int_equal(jn_perm_add(&u->publish, true, "foo.>"), 0);
	assert_int_equal(jn_perm_add(&u->publish, true, "_INBOX.>"), 0);
	assert_int_equal(jn_perm_add(&u->subscribe, true, "foo.>"), 0);
	assert_int_equal(jn_perm_add(&u->subscribe, true, "_INBOX.>"), 0);
	assert_int_equal(jn_perm_add(&u->subscribe, false, "foo.secret"), 0);
	assert_int_equal(jn_auth_add_user(a, "bob", "pw2", NULL), 0);
}

#define ALICE "CONNECT {\"verbose\":false,\"user\":\"alice\",\"pass\":\"pw\"}\r\n"
#define BOB "CONNECT {\"verbose\":false,\"user\":\"bob\",\"pass\":\"pw2\"}\r\n"

static void test_permissions(void **state)
{
	(void)state;
	TABLE(tweak_perms, 2,
	      { 0, ALICE "PING\r\n", { "PONG\r\n" } },
	      { 1, BOB "SUB > 1\r\nPING\r\n", { NULL, "PONG\r\n" } },
	      /* Observed texts; the connection stays, nothing is delivered. */
	      { 0, "PUB bar 1\r\nx\r\n", { "-ERR 'Permissions Violation for Publish to \"bar\"'\r\n" } },
	      { 0, "SUB bar 1\r\n", { "-ERR 'Permissions Violation for Subscription to \"bar\"'\r\n" } },
	      { 0, "SUB foo.secret 2\r\n",
	        { "-ERR 'Permissions Violation for Subscription to \"foo.secret\"'\r\n" } },
	      { 0, "SUB bar workers 3\r\n",
	        { "-ERR 'Permissions Violation for Subscription to \"bar\" using queue \"workers\"'\r\n" } },
	      /* A SUB broader than allowed is refused. */
	      { 0, "SUB > 4\r\n", { "-ERR 'Permissions Violation for Subscription to \">\"'\r\n" } },
	      /* Allowed ones work. */
	      { 0, "SUB foo.* 5\r\nPUB foo.a 1\r\nx\r\n", { "MSG foo.a 5 1\r\nx\r\n", "MSG foo.a 1 1\r\nx\r\n" } },
	      /* The wildcard SUB is filtered at delivery for denied subjects. */
	      { 1, "PUB foo.secret 1\r\ns\r\nPUB foo.b 1\r\nt\r\n",
	        { "MSG foo.b 5 1\r\nt\r\n", "MSG foo.secret 1 1\r\ns\r\nMSG foo.b 1 1\r\nt\r\n" } },
	      /* Reserved reply subjects (nats-server 2.9 isReservedReply). */
	      { 1, "PUB foo.c _R_.x 1\r\nx\r\nPUB foo.c $JS.ACK.s.c.1 1\r\nx\r\n",
	        { NULL, "-ERR 'Permissions Violation for Publish with Reply of \"_R_.x\"'\r\n"
	                "-ERR 'Permissions Violation for Publish with Reply of \"$JS.ACK.s.c.1\"'\r\n" } },
	      /* Quotes in a subject are escaped as nats-server's %q does. */
	      { 0, "PUB a\"b 1\r\nx\r\n", { "-ERR 'Permissions Violation for Publish to \"a\\\"b\"'\r\n" } });
}

static void test_auth(void **state)
{
	(void)state;
	/* Any op before CONNECT: Authorization Violation and close (observed). */
	TABLE(tweak_perms, 1, { 0, "PING\r\n", { "-ERR 'Authorization Violation'\r\n" }, C0 });
	TABLE(tweak_perms, 1, { 0, "SUB foo 1\r\n", { "-ERR 'Authorization Violation'\r\n" }, C0 });
	/* ... at its first byte, like nats-server, without waiting for the line */
	TABLE(tweak_perms, 1, { 0, "P", { "-ERR 'Authorization Violation'\r\n" }, C0 });
	TABLE(tweak_perms, 1, { 0, "PUB foo 3\r\nabcdef\r\n", { "-ERR 'Authorization Violation'\r\n" }, C0 });
	TABLE(tweak_perms, 1,
	      { 0, "CONNECT {\"user\":\"alice\",\"pass\":\"bad\"}\r\nPING\r\n",
	        { "-ERR 'Authorization Violation'\r\n" }, C0 });
	TABLE(tweak_perms, 1, { 0, "CONNECT {}\r\n", { "-ERR 'Authorization Violation'\r\n" }, C0 });
	TABLE(tweak_perms, 1,
	      { 0, "CONNECT {\"user\":\"alice\",\"pass\":\"pw\"}\r\nPING\r\n", { "+OK\r\nPONG\r\n" } });
	TABLE(tweak_auth_js, 1,
	      { 0, "CONNECT {\"verbose\":false,\"auth_token\":\"s3cret\"}\r\nPING\r\n", { "PONG\r\n" } });
	TABLE(tweak_auth_js, 1,
	      { 0, "CONNECT {\"verbose\":false,\"auth_token\":\"nope\"}\r\nPING\r\n",
	        { "-ERR 'Authorization Violation'\r\n" }, C0 });
	struct env *e = env_new(tweak_perms);
	conn_open_ok(e, 0);
	conn_send(e, 0, BOB "PING\r\n");
	conn_send(e, 0, "CONNECT {\"user\":\"bob\",\"pass\":\"x\"}\r\n");
	assert_string_equal(conn_out(e, 0), "PONG\r\n-ERR 'Authorization Violation'\r\n");
	assert_int_equal(jn_nats_server_stats(e->srv)->auth_failures, 1);
	env_free(e);
}

static void tweak_no_auth_user(struct jn_nats_opts *o, struct jn_auth *a)
{
	tweak_perms(o, a);
	assert_int_equal(jn_auth_set_no_auth_user(a, "alice"), 0);
}

static void test_no_auth_user(void **state)
{
	(void)state;
	/* With no_auth_user, ops before CONNECT run as that user. */
	TABLE(tweak_no_auth_user, 1,
	      { 0, "PING\r\nPUB bar 1\r\nx\r\n",
	        { "PONG\r\n-ERR 'Permissions Violation for Publish to \"bar\"'\r\n" } });
}

static void test_auth_timeout(void **state)
{
	(void)state;
	struct env *e = env_new(tweak_perms);
	conn_open_ok(e, 0);
	conn_open_ok(e, 1);
	conn_send(e, 1, BOB);
	e->ctx.now_ns += 1999 * 1000000LL;
	conn_tick(e, 0);
	conn_tick(e, 1);
	assert_string_equal(conn_out(e, 0), "");
	assert_int_equal(e->c[0].closes, 0);
	e->ctx.now_ns += 1000000LL;
	conn_tick(e, 0);
	conn_tick(e, 1);
	assert_string_equal(conn_out(e, 0), "-ERR 'Authentication Timeout'\r\n");
	assert_int_equal(e->c[0].closes, 1);
	assert_int_equal(e->c[1].closes, 0);    /* authenticated in time */
	env_free(e);
	/* Without auth, no timer. */
	e = env_new(NULL);
	conn_open_ok(e, 0);
	e->ctx.now_ns += 60 * SEC;
	conn_tick(e, 0);
	assert_int_equal(e->c[0].closes, 0);
	env_free(e);
}

static void tweak_small(struct jn_nats_opts *o, struct jn_auth *a)
{
	(void)a;
	o->max_payload = 1024;
	o->max_control_line = 64;
}

static void test_framing_errors(void **state)
{
	(void)state;
	TABLE(tweak_small, 1,
	      { 0, QUIET "PUB foo 0\r\n\r\nPING\r\n", { "PONG\r\n" } },
	      { 0, "PUB foo 1025\r\n", { "-ERR 'Maximum Payload Violation'\r\n" }, C0 });
	TABLE(tweak_small, 1,
	      { 0, QUIET "SUB aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1\r\n",
	        { "-ERR 'maximum control line exceeded'\r\n" }, C0 });
	TABLE(NULL, 1, { 0, QUIET "FOO\r\n", { "-ERR 'Unknown Protocol Operation'\r\n" }, C0 });
	TABLE(NULL, 1, { 0, QUIET "PING\r\nMSG foo 1 1\r\n", { "PONG\r\n-ERR 'Unknown Protocol Operation'\r\n" }, C0 });
	TABLE(NULL, 1, { 0, QUIET "PUB foo 3\r\nabcdef\r\n", { "-ERR 'Unknown Protocol Operation'\r\n" }, C0 });
	/* Broken arguments close without -ERR (observed). */
	TABLE(NULL, 1, { 0, QUIET "PUB foo bar baz 1\r\nx\r\n", { NULL }, C0 });
	TABLE(NULL, 1, { 0, QUIET "PUB foo x\r\n", { NULL }, C0 });
	/* -ERR from a client closes (nats-server processErr). */
	TABLE(NULL, 1, { 0, QUIET "-ERR 'x'\r\nPING\r\n", { NULL }, C0 });
	TABLE(NULL, 1, { 0, QUIET "INFO nope\r\nPING\r\n", { NULL }, C0 });

	struct env *e = env_new(NULL);
	conn_open_ok(e, 0);
	assert_true(conn_send(e, 0, "XYZ\r\n") < 0);
	assert_string_equal(e->c[0].reason, "Unknown Protocol Operation");
	assert_int_equal(jn_nats_server_stats(e->srv)->parse_errors, 1);
	/* After a close request nothing more is processed. */
	assert_true(jn_nats_proto.on_data(e->c[0].st, (const uint8_t *)"PING\r\n", 6, &e->ctx) < 0);
	assert_string_equal(conn_out(e, 0), "-ERR 'Unknown Protocol Operation'\r\n");
	env_free(e);
}

static void tweak_ping(struct jn_nats_opts *o, struct jn_auth *a)
{
	(void)a;
	o->ping_interval_ns = 2 * SEC;
	o->ping_max = 2;
}

static void test_ping_timer(void **state)
{
	(void)state;
	struct env *e = env_new(tweak_ping);
	int64_t t0 = e->ctx.now_ns;
	conn_open_ok(e, 0);
	conn_send(e, 0, QUIET);
	e->ctx.now_ns = t0 + SEC;
	conn_tick(e, 0);
	assert_string_equal(conn_out(e, 0), "");
	e->ctx.now_ns = t0 + 2 * SEC;               /* idle for a whole interval */
	conn_tick(e, 0);
	assert_string_equal(conn_out(e, 0), "PING\r\n");
	conn_send(e, 0, "PONG\r\n");               /* resets the count */
	e->ctx.now_ns = t0 + 3 * SEC;
	conn_send(e, 0, "PING\r\n");               /* inbound traffic ... */
	assert_string_equal(conn_out(e, 0), "PONG\r\n");
	e->ctx.now_ns = t0 + 4 * SEC;               /* ... postpones the PING */
	conn_tick(e, 0);
	assert_string_equal(conn_out(e, 0), "");
	e->ctx.now_ns = t0 + 5 * SEC;
	conn_tick(e, 0);
	assert_string_equal(conn_out(e, 0), "PING\r\n");
	e->ctx.now_ns = t0 + 7 * SEC;
	conn_tick(e, 0);
	assert_string_equal(conn_out(e, 0), "PING\r\n");
	assert_int_equal(e->c[0].closes, 0);
	/* ping_max unanswered: Stale Connection. */
	e->ctx.now_ns = t0 + 9 * SEC;
	conn_tick(e, 0);
	assert_string_equal(conn_out(e, 0), "-ERR 'Stale Connection'\r\n");
	assert_int_equal(e->c[0].closes, 1);
	assert_int_equal(jn_nats_server_stats(e->srv)->stale_connections, 1);
	env_free(e);
}

static void tweak_limits(struct jn_nats_opts *o, struct jn_auth *a)
{
	(void)a;
	o->max_connections = 2;
	o->max_subs = 2;
}

static void test_max_conns_and_subs(void **state)
{
	(void)state;
	struct env *e = env_new(tweak_limits);
	conn_open_ok(e, 0);
	conn_open_ok(e, 1);
	json_t *refused = conn_open(e, 2);
	assert_null(refused);
	assert_null(e->c[2].st);
	/* conn_open checked the INFO; then the -ERR follows it. */
	assert_string_equal(e->out + (strstr(e->out, "} \r\n") - e->out) + 4,
	                    "-ERR 'maximum connections exceeded'\r\n");
	assert_int_equal(jn_nats_server_stats(e->srv)->conns_current, 2);
	conn_close(e, 1);
	conn_open_ok(e, 3);   /* room again */
	/* max_subs: -ERR, connection stays. */
	conn_send(e, 0, QUIET "SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n");
	assert_string_equal(conn_out(e, 0), "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n");
	assert_int_equal(e->c[0].closes, 0);
	conn_send(e, 0, "UNSUB 1\r\nSUB c 3\r\nPING\r\n");
	assert_string_equal(conn_out(e, 0), "PONG\r\n");
	env_free(e);
}

static void tweak_slow(struct jn_nats_opts *o, struct jn_auth *a)
{
	(void)a;
	o->max_pending = 1000;
}

static void test_slow_consumer(void **state)
{
	(void)state;
	struct env *e = env_new(tweak_slow);
	conn_open_ok(e, 0);
	conn_open_ok(e, 1);
	conn_send(e, 0, QUIET "SUB foo 1\r\n");
	conn_send(e, 1, QUIET);
	char pub[600];
	int n = snprintf(pub, sizeof pub, "PUB foo 400\r\n");
	memset(pub + n, 'p', 400);
	memcpy(pub + n + 400, "\r\n", 3);
	for (int k = 0; k < 5; k++)
		assert_int_equal(conn_send(e, 1, pub), 0);   /* the publisher is never blocked */
	assert_int_equal(e->c[0].closes, 1);             /* closed once, counted once */
	assert_string_equal(e->c[0].reason, "Slow Consumer Detected");
	assert_int_equal(e->c[1].closes, 0);
	assert_int_equal(jn_nats_server_stats(e->srv)->slow_consumers, 1);
	const char *o = conn_out(e, 0);
	assert_int_equal(strlen(o), 2 * (15 + 400 + 2));  /* what fit */
	env_free(e);
}

static void tweak_wdl(struct jn_nats_opts *o, struct jn_auth *a)
{
	(void)a;
	o->write_deadline_ns = 10 * SEC;
}

static void test_write_deadline(void **state)
{
	(void)state;
	struct env *e = env_new(tweak_wdl);
	conn_open_ok(e, 0);
	conn_send(e, 0, QUIET "SUB foo 1\r\nPUB foo 1\r\nx\r\n");
	/* Pending output and no write progress for the deadline: closed. */
	conn_tick(e, 0);
	e->ctx.now_ns += 9 * SEC;
	conn_tick(e, 0);
	assert_int_equal(e->c[0].closes, 0);
	/* progress resets the clock */
	atomic_store(&e->c[0].link.last_write_progress_ns, e->ctx.now_ns);
	e->ctx.now_ns += 5 * SEC;
	conn_tick(e, 0);
	e->ctx.now_ns += 9 * SEC;
	conn_tick(e, 0);
	assert_int_equal(e->c[0].closes, 0);
	e->ctx.now_ns += 1 * SEC;
	conn_tick(e, 0);
	assert_int_equal(e->c[0].closes, 1);
	assert_int_equal(jn_nats_server_stats(e->srv)->slow_consumers, 1);
	env_free(e);
}

/* ---- lifetime, memory, statistics --------------------------------------- */

static void test_close_cleans_up(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	conn_open_ok(e, 0);
	conn_open_ok(e, 1);
	conn_send(e, 0, QUIET);
	char line[64];
	for (int k = 0; k < 300; k++) {
		snprintf(line, sizeof line, "SUB s.%d %d\r\n", k, k);
		conn_send(e, 0, line);
	}
	conn_send(e, 0, "SUB s.* q 999\r\nUNSUB 5\r\nUNSUB 6 1\r\n");
	assert_int_equal(jn_sublist_count(e->router.subs), 300);
	/* unsubscribing everything frees the sid table */
	for (int k = 0; k < 300; k++) {
		snprintf(line, sizeof line, "UNSUB %d\r\n", k);
		conn_send(e, 0, line);
	}
	assert_int_equal(jn_sublist_count(e->router.subs), 1);
	conn_send(e, 0, "SUB x 1\r\n");
	conn_send(e, 1, QUIET "SUB y 1\r\n");
	conn_close(e, 0);
	assert_int_equal(jn_sublist_count(e->router.subs), 1);
	conn_send(e, 1, "PUB x 1\r\nx\r\nPUB s.1 1\r\nx\r\nPING\r\n");
	assert_string_equal(conn_out(e, 1), "PONG\r\n");
	env_free(e);   /* asserts every byte was given back */
}

/* Everything retired so far is freed and pooled blocks go back, so that
 * jn_mem_used() shows what connections hold. */
static size_t settled_mem(struct env *e)
{
	jn_epoch_exit(e->et);
	jn_epoch_drain();
	jn_epoch_enter(e->et);
	jn_outq_pool_trim();
	return jn_mem_used();
}

static void test_idle_memory(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	size_t before = settled_mem(e);
	conn_open_ok(e, 0);
	conn_send(e, 0, QUIET "PING\r\n");
	/* a split command holds scratch only until it completes */
	conn_send(e, 0, "PUB foo 5\r\nhe");
	assert_true(jn_mem_used() > before + 5);
	conn_send(e, 0, "llo\r\n");
	conn_out(e, 0);
	size_t engine = settled_mem(e) - before;
	print_message("idle connection: %zu bytes of engine state + %zu of link\n",
	              engine, sizeof(struct jn_link));
	assert_true(engine + sizeof(struct jn_link) <= 2048);
	/* subscriptions cost their own allocation and the table; all go */
	conn_send(e, 0, "SUB a 1\r\nSUB b 2\r\n");
	assert_true(jn_mem_used() > before + engine);
	conn_send(e, 0, "UNSUB 1\r\nUNSUB 2\r\n");
	assert_int_equal(settled_mem(e) - before, engine);
	env_free(e);
}

static void test_stats(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	conn_open_ok(e, 0);
	conn_open_ok(e, 1);
	conn_send(e, 0, QUIET "SUB foo 1\r\nSUB foo 2\r\n");
	conn_send(e, 1, QUIET "PUB foo 3\r\nabc\r\nPUB bar 10\r\n0123456789\r\n");
	const struct jn_nats_stats *st = jn_nats_server_stats(e->srv);
	assert_int_equal(st->msgs_in, 2);
	assert_int_equal(st->bytes_in, 13);
	assert_int_equal(st->msgs_out, 2);
	assert_int_equal(st->bytes_out, 6);
	env_free(e);
}

/* ---- threads: auto-unsubscribe with concurrent publishers -------------- */

struct pubthread {
	struct env *e;
	int conn;
	int count;
	pthread_barrier_t *go;
};

static void *pub_main(void *arg)
{
	struct pubthread *t = arg;
	struct jn_epoch_thread *et = jn_epoch_register();
	struct jn_sublist_cache *cache = jn_sublist_cache_new(t->e->router.subs);
	struct jn_thread_ctx ctx = { .cache = cache, .now_ns = t->e->ctx.now_ns };
	pthread_barrier_wait(t->go);
	for (int k = 0; k < t->count; k++) {
		jn_epoch_enter(et);
		jn_nats_proto.on_data(t->e->c[t->conn].st, (const uint8_t *)"PUB foo 1\r\nx\r\n", 14, &ctx);
		jn_epoch_exit(et);
		if ((k & 63) == 0)
			jn_epoch_poll();
	}
	jn_sublist_cache_free(cache);
	jn_epoch_unregister(et);
	return NULL;
}

static void test_unsub_max_threads(void **state)
{
	(void)state;
	for (int round = 0; round < 20; round++) {
		struct env *e = env_new(NULL);
		for (int i = 0; i < NCONN; i++) {
			conn_open_ok(e, i);
			conn_send(e, i, QUIET);
		}
		uint64_t max = 1000 + (uint64_t)round * 37;
		char cmd[64];
		snprintf(cmd, sizeof cmd, "SUB foo 1\r\nUNSUB 1 %llu\r\n", (unsigned long long)max);
		conn_send(e, 0, cmd);
		/* main thread is a reader too; leave its section while others run */
		jn_epoch_exit(e->et);
		pthread_t th[3];
		struct pubthread pt[3];
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, 3);
		for (int i = 0; i < 3; i++) {
			pt[i] = (struct pubthread){ e, i + 1, 600, &go };
			assert_int_equal(pthread_create(&th[i], NULL, pub_main, &pt[i]), 0);
		}
		for (int i = 0; i < 3; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&go);
		jn_epoch_enter(e->et);
		const char *o = conn_out(e, 0);
		if (strlen(o) != max * 16)   /* "MSG foo 1 1\r\nx\r\n" */
			fail_msg("round %d: %zu bytes: %.200s (c1 closes %d %s)", round, strlen(o), o,
			         e->c[1].closes, e->c[1].reason);
		assert_int_equal(jn_sublist_count(e->router.subs), 0);
		/* the sid is gone from the table too */
		conn_send(e, 0, "SUB foo 1\r\n");
		assert_int_equal(jn_sublist_count(e->router.subs), 1);
		env_free(e);
	}
}

/* Subscriber closing while others publish to it. */
static void test_close_during_publish_threads(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	for (int i = 0; i < NCONN; i++) {
		conn_open_ok(e, i);
		conn_send(e, i, QUIET);
	}
	conn_send(e, 0, "SUB foo 1\r\nSUB foo 2\r\nUNSUB 2 500\r\n");
	jn_epoch_exit(e->et);
	pthread_t th[3];
	struct pubthread pt[3];
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, 4);
	for (int i = 0; i < 3; i++) {
		pt[i] = (struct pubthread){ e, i + 1, 2000, &go };
		assert_int_equal(pthread_create(&th[i], NULL, pub_main, &pt[i]), 0);
	}
	pthread_barrier_wait(&go);
	struct timespec ts = { 0, 200000 };
	nanosleep(&ts, NULL);   /* let the publishers get going */
	jn_epoch_enter(e->et);
	conn_close(e, 0);
	jn_epoch_exit(e->et);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	jn_epoch_enter(e->et);
	assert_int_equal(jn_sublist_count(e->router.subs), 0);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_on_open),
		cmocka_unit_test(test_info_auth_jetstream),
		cmocka_unit_test(test_connect_defaults),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_ping_pong_and_pubsub),
		cmocka_unit_test(test_pong_order_split),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_queue_groups),
		cmocka_unit_test(test_unsub_max),
		cmocka_unit_test(test_echo_off),
		cmocka_unit_test(test_no_responders),
		cmocka_unit_test(test_invalid_subjects),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_no_auth_user),
		cmocka_unit_test(test_auth_timeout),
		cmocka_unit_test(test_framing_errors),
		cmocka_unit_test(test_ping_timer),
		cmocka_unit_test(test_max_conns_and_subs),
		cmocka_unit_test(test_slow_consumer),
		cmocka_unit_test(test_write_deadline),
		cmocka_unit_test(test_close_cleans_up),
		cmocka_unit_test(test_idle_memory),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_unsub_max_threads),
		cmocka_unit_test(test_close_during_publish_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
