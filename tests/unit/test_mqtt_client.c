/*
 * test_mqtt_client.c - the MQTT engine (adapters/mqtt/client.c, session.c,
 * retained.c, server.c) on the wire: packets in, packets out.
 *
 * Each connection is a fake jn_link (its close op records the reason) with
 * a real outq; a real router and sublist connect them, so NATS-side
 * subscribers and publishers are plain jn_subs and jn_router_publish calls
 * in the test. Client packets are built with the codec's encoder (tested on
 * its own against known bytes in test_mqtt_codec.c); what the server sends
 * is compared byte for byte where the bytes are short, and decoded where
 * the fields are what matters.
 */
#include <errno.h>
#include <fcntl.h>
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

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "adapters/mqtt/codec.h"
#include "adapters/mqtt/server.h"
#include "adapters/mqtt/server_int.h"
#include "core/filestore_hooks.h"
#include "core/alloc.h"
#include "core/auth.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/header.h"
#include "core/outq.h"
#include "core/router.h"
#include "core/sublist.h"

#define NCONN 6
#define SEC 1000000000LL

struct conn {
	struct jn_link link;
	void *st;
	int closes;
	char reason[160];
	bool gone;
	uint8_t version;           /* for decoding what it receives */
};

/* A NATS-side subscriber: a plain jn_sub recording what it gets. */
struct natsub {
	struct jn_sub sub;
	int n;
	char subject[256];
	char reply[256];
	uint8_t hdr[1024];
	uint32_t hdr_len;
	uint8_t data[1024];
	uint32_t data_len;
};

struct env {
	struct jn_router router;
	struct jn_auth auth;
	struct jn_mqtt_opts opts;
	struct jn_mqtt_server *srv;
	struct jn_sublist_cache *cache;
	struct jn_thread_ctx ctx;
	struct jn_epoch_thread *et;
	struct conn c[NCONN];
	int pipefd[2];
	size_t mem0;
	uint8_t *out;
	size_t out_len;
	struct natsub ns[4];
	int nns;
};

static void fake_close(struct jn_link *l, const char *reason)
{
	struct conn *c = (struct conn *)l;
	c->closes++;
	snprintf(c->reason, sizeof c->reason, "%s", reason ? reason : "");
}

static const struct jn_link_ops fake_ops = { .close = fake_close };

typedef void (*tweak_fn)(struct jn_mqtt_opts *o, struct jn_auth *a);

static struct env *env_new(tweak_fn tweak)
{
	struct env *e = calloc(1, sizeof *e);
	assert_non_null(e);
	e->mem0 = jn_mem_used();
	assert_int_equal(jn_router_init(&e->router), 0);
	jn_auth_init(&e->auth);
	jn_mqtt_opts_default(&e->opts);
	e->opts.host = "127.0.0.1";
	if (tweak)
		tweak(&e->opts, &e->auth);
	assert_int_equal(jn_mqtt_server_new(&e->opts, &e->router, &e->auth, &e->srv), 0);
	e->cache = jn_sublist_cache_new(e->router.subs);
	e->et = jn_epoch_register();
	jn_epoch_enter(e->et);
	e->ctx.cache = e->cache;
	e->ctx.now_ns = 1000 * SEC;
	assert_int_equal(pipe2(e->pipefd, O_NONBLOCK), 0);
	fcntl(e->pipefd[1], F_SETPIPE_SZ, 1 << 20);
	return e;
}

static void conn_open(struct env *e, int i)
{
	struct conn *c = &e->c[i];
	if (c->link.ops)
		jn_outq_fini(&c->link.out);
	memset(c, 0, sizeof *c);
	c->link.ops = &fake_ops;
	jn_outq_init(&c->link.out, 0, NULL, NULL);
	c->link.id = 100 + (uint64_t)i * 10 + (uint64_t)(e->ctx.now_ns % 7);
	snprintf(c->link.peer_ip, sizeof c->link.peer_ip, "127.0.0.%d", i + 1);
	c->link.created_ns = e->ctx.now_ns;
	c->version = JN_MQTT_V311;
	c->st = jn_mqtt_proto.open(e->srv, &c->link, &e->ctx);
	assert_non_null(c->st);
	c->link.proto_state = c->st;
}

static int conn_send(struct env *e, int i, const void *buf, size_t n)
{
	assert_non_null(e->c[i].st);
	assert_false(e->c[i].gone);
	return jn_mqtt_proto.on_data(e->c[i].st, buf, n, &e->ctx);
}

/* Bytes queued on connection i since the last call. */
static const uint8_t *conn_out(struct env *e, int i, size_t *len)
{
	free(e->out);
	size_t cap = 1 << 16, n = 0;
	e->out = malloc(cap);
	for (;;) {
		long left = jn_outq_drain(&e->c[i].link.out, e->pipefd[1]);
		assert_true(left >= 0);
		for (;;) {
			if (n + 65536 > cap) {
				cap *= 2;
				e->out = realloc(e->out, cap);
			}
			ssize_t r = read(e->pipefd[0], e->out + n, 65536);
			if (r <= 0)
				break;
			n += (size_t)r;
		}
		if (left == 0)
			break;
	}
	e->out_len = n;
	*len = n;
	return e->out;
}

static void conn_close(struct env *e, int i)
{
	struct conn *c = &e->c[i];
	if (!c->st || c->gone)
		return;
	jn_outq_close(&c->link.out);
	jn_mqtt_proto.on_close(c->st, &e->ctx);
	c->gone = true;
}

static void conn_tick(struct env *e, int i)
{
	jn_mqtt_proto.on_tick(e->c[i].st, &e->ctx);
}

static void env_free(struct env *e)
{
	for (int i = 0; i < NCONN; i++)
		conn_close(e, i);
	for (int k = 0; k < e->nns; k++)
		jn_sublist_remove(e->router.subs, &e->ns[k].sub);
	jn_mqtt_server_free(e->srv);
	jn_epoch_exit(e->et);
	jn_epoch_drain();
	jn_epoch_unregister(e->et);
	for (int i = 0; i < NCONN; i++)
		if (e->c[i].link.ops)
			jn_outq_fini(&e->c[i].link.out);
	assert_int_equal(jn_sublist_count(e->router.subs), 0);
	jn_sublist_cache_free(e->cache);
	jn_router_fini(&e->router);
	jn_auth_fini(&e->auth);
	jn_outq_pool_trim();
	assert_int_equal(jn_mem_used(), e->mem0);
	close(e->pipefd[0]);
	close(e->pipefd[1]);
	free(e->out);
	free(e);
}

/* ---- NATS side ---------------------------------------------------------------- */

static void natsub_deliver(struct jn_sub *s, const struct jn_msg *m, struct jn_pub *pub)
{
	(void)pub;
	struct natsub *n = (struct natsub *)s;
	n->n++;
	snprintf(n->subject, sizeof n->subject, "%.*s", (int)m->subject_len, m->subject);
	snprintf(n->reply, sizeof n->reply, "%.*s", (int)m->reply_len, m->reply ? m->reply : "");
	n->hdr_len = m->hdr_len < sizeof n->hdr ? m->hdr_len : 0;
	if (n->hdr_len)
		memcpy(n->hdr, m->hdr, n->hdr_len);
	n->data_len = m->data_len < sizeof n->data ? m->data_len : 0;
	memcpy(n->data, m->data, n->data_len);
}

static struct natsub *nats_sub(struct env *e, const char *subject)
{
	assert_true(e->nns < 4);
	struct natsub *n = &e->ns[e->nns++];
	memset(n, 0, sizeof *n);
	n->sub.subject = subject;
	n->sub.subject_len = (uint32_t)strlen(subject);
	n->sub.deliver = natsub_deliver;
	n->sub.owner = n;
	assert_int_equal(jn_sublist_insert(e->router.subs, &n->sub), 0);
	return n;
}

static void nats_pub(struct env *e, const char *subject, const char *reply, const char *hdr,
                     const char *data)
{
	struct jn_msg m = {
		.subject = subject,
		.subject_len = (uint32_t)strlen(subject),
		.reply = reply,
		.reply_len = reply ? (uint32_t)strlen(reply) : 0,
		.hdr = (const uint8_t *)hdr,
		.hdr_len = hdr ? (uint32_t)strlen(hdr) : 0,
		.data = (const uint8_t *)data,
		.data_len = (uint32_t)strlen(data),
	};
	struct jn_pub pub = { 0 };
	jn_router_publish(&e->router, e->cache, &m, &pub);
}

/* ---- client packets ------------------------------------------------------------- */

struct bytes {
	uint8_t b[4096];
	size_t n;
};

static struct bytes enc(const struct jn_mqtt_pkt *p)
{
	struct bytes r;
	r.n = jn_mqtt_encode(p, r.b, sizeof r.b, false);
	assert_true(r.n <= sizeof r.b);
	return r;
}

#define BIN(s) ((struct jn_mqtt_bin){ (const uint8_t *)(s), (uint32_t)strlen(s) })

static struct jn_mqtt_pkt connect_pkt(uint8_t v, const char *cid, uint8_t flags, uint16_t ka)
{
	struct jn_mqtt_pkt p = { .type = JN_MQTT_CONNECT, .version = v };
	p.connect.level = v;
	p.connect.flags = flags;
	p.connect.keep_alive = ka;
	p.connect.client_id = BIN(cid);
	return p;
}

static struct bytes connect_b(uint8_t v, const char *cid, uint8_t flags)
{
	struct jn_mqtt_pkt p = connect_pkt(v, cid, flags, 0);
	return enc(&p);
}

static struct bytes publish_b(uint8_t v, const char *topic, const char *payload, uint8_t qos,
                              uint16_t pid, bool retain)
{
	struct jn_mqtt_pkt p = { .type = JN_MQTT_PUBLISH, .version = v, .pid = pid };
	p.publish.topic = BIN(topic);
	p.publish.payload = BIN(payload);
	p.publish.qos = qos;
	p.publish.retain = retain;
	return enc(&p);
}

static uint8_t list_buf[512];

static struct bytes subscribe_b(uint8_t v, uint16_t pid, const char *filter, uint8_t opts)
{
	size_t fl = strlen(filter);
	list_buf[0] = (uint8_t)(fl >> 8);
	list_buf[1] = (uint8_t)fl;
	memcpy(list_buf + 2, filter, fl);
	list_buf[2 + fl] = opts;
	struct jn_mqtt_pkt p = { .type = JN_MQTT_SUBSCRIBE, .version = v, .pid = pid };
	p.list.raw = (struct jn_mqtt_bin){ list_buf, (uint32_t)fl + 3 };
	return enc(&p);
}

static struct bytes unsubscribe_b(uint8_t v, uint16_t pid, const char *filter)
{
	size_t fl = strlen(filter);
	list_buf[0] = (uint8_t)(fl >> 8);
	list_buf[1] = (uint8_t)fl;
	memcpy(list_buf + 2, filter, fl);
	struct jn_mqtt_pkt p = { .type = JN_MQTT_UNSUBSCRIBE, .version = v, .pid = pid };
	p.list.raw = (struct jn_mqtt_bin){ list_buf, (uint32_t)fl + 2 };
	return enc(&p);
}

static struct bytes ack_b(uint8_t type, uint8_t v, uint16_t pid)
{
	struct jn_mqtt_pkt p = { .type = type, .version = v, .pid = pid };
	return enc(&p);
}

#define SEND(e, i, ...) do { struct bytes b_ = (__VA_ARGS__); conn_send((e), (i), b_.b, b_.n); } while (0)

/* ---- expectations ------------------------------------------------------------------ */

static void expect_bytes_at(struct env *e, int i, const char *want, size_t n, int line)
{
	size_t got_n;
	const uint8_t *got = conn_out(e, i, &got_n);
	if (got_n < n && e->opts.store_dir) {
		/* with a store, acknowledgements wait for its fsync and come from
		 * its syncer thread: give them up to 5 s */
		uint8_t *acc = malloc(n + 65536);
		size_t acc_n = got_n;
		memcpy(acc, got, got_n);
		for (int t = 0; t < 5000 && acc_n < n; t++) {
			usleep(1000);
			size_t k;
			const uint8_t *more = conn_out(e, i, &k);
			if (k) {
				acc = realloc(acc, acc_n + k + n);
				memcpy(acc + acc_n, more, k);
				acc_n += k;
			}
		}
		free(e->out);
		e->out = acc;
		got = acc;
		got_n = acc_n;
	}
	if (got_n != n || memcmp(got, want, n) != 0) {
		char g[512] = "", w[512] = "";
		for (size_t k = 0; k < got_n && k < 120; k++)
			sprintf(g + strlen(g), "%02x ", got[k]);
		for (size_t k = 0; k < n && k < 120; k++)
			sprintf(w + strlen(w), "%02x ", (uint8_t)want[k]);
		fail_msg("line %d conn %d:\n got: %s(%zu)\nwant: %s(%zu)", line, i, g, got_n, w, n);
	}
}

#define EXPECT(e, i, lit) expect_bytes_at((e), (i), (lit), sizeof(lit) - 1, __LINE__)
#define EXPECT_NONE(e, i) expect_bytes_at((e), (i), "", 0, __LINE__)

/* Decoded packets of connection i (valid until the next conn_out). */
struct got {
	struct jn_mqtt_pkt p[32];
	int n;
};

static int got_cb(void *ctx, const struct jn_mqtt_pkt *p)
{
	struct got *g = ctx;
	assert_true(g->n < 32);
	g->p[g->n++] = *p;
	return 0;
}

static void packets(struct env *e, int i, struct got *g)
{
	size_t n;
	const uint8_t *b = conn_out(e, i, &n);
	struct jn_mqtt_parser ps;
	jn_mqtt_parser_init(&ps, 0);
	ps.version = e->c[i].version;
	g->n = 0;
	assert_int_equal(jn_mqtt_parse(&ps, b, n, got_cb, g), 0);
	assert_int_equal(jn_mqtt_parser_held(&ps), 0);
	jn_mqtt_parser_fini(&ps);
}

static bool bin_is(const struct jn_mqtt_bin *b, const char *s)
{
	return b->p && b->len == strlen(s) && memcmp(b->p, s, b->len) == 0;
}

static void expect_publish(const struct jn_mqtt_pkt *p, const char *topic, const char *payload,
                           uint8_t qos, bool retain, bool dup)
{
	assert_int_equal(p->type, JN_MQTT_PUBLISH);
	if (!bin_is(&p->publish.topic, topic))
		fail_msg("topic \"%.*s\", want \"%s\"", (int)p->publish.topic.len, p->publish.topic.p,
		         topic);
	if (!bin_is(&p->publish.payload, payload))
		fail_msg("payload \"%.*s\", want \"%s\"", (int)p->publish.payload.len,
		         p->publish.payload.p, payload);
	assert_int_equal(p->publish.qos, qos);
	assert_int_equal(p->publish.retain, retain);
	assert_int_equal(p->publish.dup, dup);
}

static void expect_closed(struct env *e, int i, bool closed)
{
	if ((e->c[i].closes > 0) != closed)
		fail_msg("conn %d: closed=%d, want %d (%s)", i, e->c[i].closes > 0, closed,
		         e->c[i].reason);
}

/* Connect connection i with client id cid (clean), consume the CONNACK. */
static void hello(struct env *e, int i, uint8_t v, const char *cid, uint8_t flags)
{
	conn_open(e, i);
	e->c[i].version = v;
	SEND(e, i, connect_b(v, cid, flags));
	struct got g;
	packets(e, i, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.p[0].type, JN_MQTT_CONNACK);
	assert_int_equal(g.p[0].reason, 0);
}

static void sub(struct env *e, int i, const char *filter, uint8_t opts, uint8_t want_code)
{
	uint8_t v = e->c[i].version;
	SEND(e, i, subscribe_b(v, 1, filter, opts));
	struct got g;
	packets(e, i, &g);
	assert_true(g.n >= 1);
	assert_int_equal(g.p[0].type, JN_MQTT_SUBACK);
	size_t pos = 0;
	struct jn_mqtt_bin f;
	uint8_t code;
	assert_true(jn_mqtt_topics_next(&g.p[0], &pos, &f, &code));
	assert_int_equal(code, want_code);
}

#define CLEAN JN_MQTT_CF_CLEAN

/* ---- CONNECT ----------------------------------------------------------------------- */

static void test_connect_basic(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	conn_open(e, 0);
	SEND(e, 0, connect_b(4, "c1", CLEAN));
	EXPECT(e, 0, "\x20\x02\x00\x00");
	SEND(e, 0, ack_b(JN_MQTT_PINGREQ, 4, 0));
	EXPECT(e, 0, "\xd0\x00");
	/* v5: CONNACK carries the server's limits */
	conn_open(e, 1);
	e->c[1].version = 5;
	SEND(e, 1, connect_b(5, "c5", CLEAN));
	struct got g;
	packets(e, 1, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.p[0].reason, 0);
	assert_false(g.p[0].session_present);
	assert_int_equal(g.p[0].props.topic_alias_max, 64);
	assert_int_equal(g.p[0].props.receive_max, 1024);
	assert_int_equal(g.p[0].props.max_packet_size, 1024 * 1024);
	assert_false(JN_MQTT_HAS(&g.p[0].props, JN_MQTT_P_ASSIGNED_CLIENT_ID));
	/* DISCONNECT closes without a will */
	SEND(e, 0, ack_b(JN_MQTT_DISCONNECT, 4, 0));
	expect_closed(e, 0, true);
	EXPECT_NONE(e, 0);
	env_free(e);
}

static void test_connect_refused(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	/* level 6: 3.1.1's CONNACK rc 1 then close */
	conn_open(e, 0);
	static const uint8_t l6[] = { 0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 60, 0, 0 };
	conn_send(e, 0, l6, sizeof l6);
	EXPECT(e, 0, "\x20\x02\x00\x01");
	expect_closed(e, 0, true);
	/* empty client id without clean session: rc 2 */
	conn_open(e, 1);
	SEND(e, 1, connect_b(4, "", 0));
	EXPECT(e, 1, "\x20\x02\x00\x02");
	expect_closed(e, 1, true);
	/* first packet not CONNECT: closed, nothing sent */
	conn_open(e, 2);
	SEND(e, 2, ack_b(JN_MQTT_PINGREQ, 4, 0));
	EXPECT_NONE(e, 2);
	expect_closed(e, 2, true);
	/* reserved flag set: closed without CONNACK */
	conn_open(e, 3);
	static const uint8_t rsv[] = { 0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 3, 0, 60, 0, 0 };
	conn_send(e, 3, rsv, sizeof rsv);
	EXPECT_NONE(e, 3);
	expect_closed(e, 3, true);
	/* a second CONNECT: closed */
	hello(e, 4, 4, "x", CLEAN);
	SEND(e, 4, connect_b(4, "x", CLEAN));
	EXPECT_NONE(e, 4);
	expect_closed(e, 4, true);
	/* MQTT 3.1 with an empty client id: rc 2 */
	conn_open(e, 5);
	static const uint8_t v31[] = { 0x10, 0x0e, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 60, 0, 0 };
	conn_send(e, 5, v31, sizeof v31);
	EXPECT(e, 5, "\x20\x02\x00\x02");
	env_free(e);
}

static void test_connect_assigned_id(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	hello(e, 0, 4, "", CLEAN);   /* 3.1.1: empty id with clean session is fine */
	conn_open(e, 1);
	e->c[1].version = 5;
	SEND(e, 1, connect_b(5, "", 0));
	struct got g;
	packets(e, 1, &g);
	assert_int_equal(g.p[0].reason, 0);
	assert_true(JN_MQTT_HAS(&g.p[0].props, JN_MQTT_P_ASSIGNED_CLIENT_ID));
	assert_true(g.p[0].props.assigned_client_id.len > 5);
	assert_memory_equal(g.p[0].props.assigned_client_id.p, "auto-", 5);
	env_free(e);
}

static void users_tweak(struct jn_mqtt_opts *o, struct jn_auth *a)
{
	(void)o;
	struct jn_user *u;
	assert_int_equal(jn_auth_add_user(a, "alice", "secret", &u), 0);
	assert_int_equal(jn_auth_add_user(a, "bob", "pw", &u), 0);
	jn_perm_add(&u->publish, true, "bob.>");
	jn_perm_add(&u->subscribe, true, "bob.>");
	jn_perm_add(&u->subscribe, true, "shared.*");
	jn_perm_add(&u->subscribe, false, "bob.secret");
	u->has_permissions = true;
	a->required = true;
}

static struct bytes connect_user_b(uint8_t v, const char *cid, const char *user, const char *pass)
{
	struct jn_mqtt_pkt p = connect_pkt(v, cid, CLEAN, 0);
	if (user) {
		p.connect.flags |= JN_MQTT_CF_USER;
		p.connect.username = BIN(user);
	}
	if (pass) {
		p.connect.flags |= JN_MQTT_CF_PASS;
		p.connect.password = BIN(pass);
	}
	return enc(&p);
}

static void test_auth(void **state)
{
	(void)state;
	struct env *e = env_new(users_tweak);
	conn_open(e, 0);
	SEND(e, 0, connect_user_b(4, "a", "alice", "wrong"));
	EXPECT(e, 0, "\x20\x02\x00\x04");
	expect_closed(e, 0, true);
	conn_open(e, 1);
	SEND(e, 1, connect_user_b(4, "a", NULL, NULL));
	EXPECT(e, 1, "\x20\x02\x00\x05");
	expect_closed(e, 1, true);
	conn_open(e, 2);
	SEND(e, 2, connect_user_b(5, "a", "alice", "wrong"));
	EXPECT(e, 2, "\x20\x03\x00\x86\x00");
	conn_open(e, 3);
	SEND(e, 3, connect_user_b(4, "a", "alice", "secret"));
	EXPECT(e, 3, "\x20\x02\x00\x00");
	assert_int_equal(jn_mqtt_server_stats(e->srv)->auth_failures, 3);
	env_free(e);
}

static void test_permissions(void **state)
{
	(void)state;
	struct env *e = env_new(users_tweak);
	conn_open(e, 0);
	SEND(e, 0, connect_user_b(4, "b3", "bob", "pw"));
	EXPECT(e, 0, "\x20\x02\x00\x00");
	/* denied subscribe: SUBACK 0x80 (3.1.1) */
	SEND(e, 0, subscribe_b(4, 1, "alice/x", 1));
	EXPECT(e, 0, "\x90\x03\x00\x01\x80");
	SEND(e, 0, subscribe_b(4, 2, "bob/#", 1));   /* bob.> allowed, but not "bob" */
	EXPECT(e, 0, "\x90\x03\x00\x02\x80");
	SEND(e, 0, subscribe_b(4, 3, "bob/+", 1));
	EXPECT(e, 0, "\x90\x03\x00\x03\x01");
	/* denied publish: dropped, QoS 1 still PUBACKed */
	struct natsub *n = nats_sub(e, ">");
	SEND(e, 0, publish_b(4, "alice/x", "no", 1, 5, false));
	EXPECT(e, 0, "\x40\x02\x00\x05");
	assert_int_equal(n->n, 0);
	SEND(e, 0, publish_b(4, "bob/x", "yes", 0, 0, false));
	assert_int_equal(n->n, 1);
	EXPECT(e, 0, "\x30\x0a\x00\x05" "bob/x" "yes");   /* its own subscription bob/+ */
	/* a wildcard subscription does not receive a denied subject */
	nats_pub(e, "bob.secret", NULL, NULL, "s");
	EXPECT_NONE(e, 0);
	/* v5: the reasons are said */
	conn_open(e, 1);
	e->c[1].version = 5;
	SEND(e, 1, connect_user_b(5, "b5", "bob", "pw"));
	struct got g;
	packets(e, 1, &g);
	assert_int_equal(g.p[0].reason, 0);
	SEND(e, 1, subscribe_b(5, 1, "alice/x", 1));
	EXPECT(e, 1, "\x90\x04\x00\x01\x00\x87");
	SEND(e, 1, publish_b(5, "alice/x", "no", 1, 9, false));
	EXPECT(e, 1, "\x40\x03\x00\x09\x87");
	SEND(e, 1, publish_b(5, "alice/x", "no", 2, 10, false));
	EXPECT(e, 1, "\x50\x03\x00\x0a\x87");
	assert_int_equal(n->n, 2);   /* bob/x and the NATS bob.secret */
	env_free(e);
}

/* ---- keep alive, will, takeover ---------------------------------------------------- */

static void test_keep_alive(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	conn_open(e, 0);
	struct jn_mqtt_pkt p = connect_pkt(4, "ka", CLEAN, 2);
	struct bytes b = enc(&p);
	conn_send(e, 0, b.b, b.n);
	EXPECT(e, 0, "\x20\x02\x00\x00");
	e->ctx.now_ns += 2900 * 1000000LL;   /* 1.45 x 2 s */
	conn_tick(e, 0);
	expect_closed(e, 0, false);
	SEND(e, 0, ack_b(JN_MQTT_PINGREQ, 4, 0));   /* traffic resets the clock */
	EXPECT(e, 0, "\xd0\x00");
	e->ctx.now_ns += 2900 * 1000000LL;
	conn_tick(e, 0);
	expect_closed(e, 0, false);
	e->ctx.now_ns += 100 * 1000000LL;    /* 3.0 s of silence */
	conn_tick(e, 0);
	expect_closed(e, 0, true);
	/* v5 is told why */
	conn_open(e, 1);
	e->c[1].version = 5;
	p = connect_pkt(5, "ka5", CLEAN, 1);
	b = enc(&p);
	conn_send(e, 1, b.b, b.n);
	struct got g;
	packets(e, 1, &g);
	e->ctx.now_ns += 1500 * 1000000LL;
	conn_tick(e, 1);
	EXPECT(e, 1, "\xe0\x01\x8d");
	expect_closed(e, 1, true);
	/* no CONNECT within the connect timeout */
	conn_open(e, 2);
	e->ctx.now_ns += 9 * SEC;
	conn_tick(e, 2);
	expect_closed(e, 2, false);
	e->ctx.now_ns += 1 * SEC;
	conn_tick(e, 2);
	expect_closed(e, 2, true);
	env_free(e);
}

static struct bytes connect_will_b(uint8_t v, const char *cid, const char *wt, const char *wm,
                                   uint8_t wqos, bool wretain)
{
	struct jn_mqtt_pkt p = connect_pkt(v, cid, CLEAN | JN_MQTT_CF_WILL, 0);
	p.connect.flags |= (uint8_t)(wqos << 3) | (wretain ? JN_MQTT_CF_WILL_RETAIN : 0);
	p.connect.will_topic = BIN(wt);
	p.connect.will_payload = BIN(wm);
	return enc(&p);
}

static void test_will(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	hello(e, 0, 4, "watcher", CLEAN);
	sub(e, 0, "will/#", 1, 1);
	/* abnormal close (socket gone): the will is published */
	conn_open(e, 1);
	SEND(e, 1, connect_will_b(4, "w1", "will/w1", "gone", 1, false));
	EXPECT(e, 1, "\x20\x02\x00\x00");
	conn_close(e, 1);
	struct got g;
	packets(e, 0, &g);
	assert_int_equal(g.n, 1);
	expect_publish(&g.p[0], "will/w1", "gone", 1, false, false);
	SEND(e, 0, ack_b(JN_MQTT_PUBACK, 4, g.p[0].pid));
	/* DISCONNECT first: no will */
	conn_open(e, 2);
	SEND(e, 2, connect_will_b(4, "w2", "will/w2", "gone", 0, false));
	EXPECT(e, 2, "\x20\x02\x00\x00");
	SEND(e, 2, ack_b(JN_MQTT_DISCONNECT, 4, 0));
	conn_close(e, 2);
	EXPECT_NONE(e, 0);
	/* a protocol violation publishes it too, and a retained will is kept */
	conn_open(e, 3);
	SEND(e, 3, connect_will_b(4, "w3", "will/w3", "broken", 0, true));
	EXPECT(e, 3, "\x20\x02\x00\x00");
	static const uint8_t junk[] = { 0x00, 0x00 };
	conn_send(e, 3, junk, sizeof junk);
	expect_closed(e, 3, true);
	conn_close(e, 3);
	packets(e, 0, &g);
	assert_int_equal(g.n, 1);
	expect_publish(&g.p[0], "will/w3", "broken", 0, false, false);
	hello(e, 4, 4, "late", CLEAN);
	sub(e, 4, "will/+", 0, 0);
	/* the SUBACK was consumed by sub(); the retained will came after it */
	SEND(e, 4, subscribe_b(4, 2, "will/w3", 0));
	packets(e, 4, &g);
	assert_int_equal(g.n, 2);
	expect_publish(&g.p[1], "will/w3", "broken", 0, true, false);
	env_free(e);
}

static void test_takeover(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	hello(e, 0, 4, "watcher", CLEAN);
	sub(e, 0, "will/#", 0, 0);
	conn_open(e, 1);
	SEND(e, 1, connect_will_b(4, "same", "will/same", "old", 0, false));
	EXPECT(e, 1, "\x20\x02\x00\x00");
	/* the same client id again: the first connection is closed */
	hello(e, 2, 4, "same", CLEAN);
	expect_closed(e, 1, true);
	expect_closed(e, 2, false);
	conn_close(e, 1);   /* the gateway's close: the will goes out (as mosquitto) */
	struct got g;
	packets(e, 0, &g);
	assert_int_equal(g.n, 1);
	expect_publish(&g.p[0], "will/same", "old", 0, false, false);
	/* the new connection works and owns the session */
	sub(e, 2, "t", 0, 0);
	nats_pub(e, "t", NULL, NULL, "x");
	EXPECT(e, 2, "\x30\x04\x00\x01tx");
	/* v5: the old one is told 0x8E */
	hello(e, 3, 5, "five", CLEAN);
	hello(e, 4, 5, "five", CLEAN);
	EXPECT(e, 3, "\xe0\x01\x8e");
	expect_closed(e, 3, true);
	env_free(e);
}

/* ---- publish / subscribe ------------------------------------------------------------ */

static void test_qos_flows(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	hello(e, 0, 4, "sub", CLEAN);
	hello(e, 1, 4, "pub", CLEAN);
	sub(e, 0, "a/b", 2, 2);
	/* QoS 0 */
	SEND(e, 1, publish_b(4, "a/b", "q0", 0, 0, false));
	EXPECT_NONE(e, 1);
	EXPECT(e, 0, "\x30\x07\x00\x03" "a/b" "q0");
	/* QoS 1: PUBACK to the publisher, QoS 1 PUBLISH with a pid to the subscriber */
	SEND(e, 1, publish_b(4, "a/b", "q1", 1, 7, false));
	EXPECT(e, 1, "\x40\x02\x00\x07");
	EXPECT(e, 0, "\x32\x09\x00\x03" "a/b" "\x00\x01" "q1");
	SEND(e, 0, ack_b(JN_MQTT_PUBACK, 4, 1));
	/* QoS 2 in: PUBREC, delivered once even if the PUBLISH is repeated */
	SEND(e, 1, publish_b(4, "a/b", "q2", 2, 8, false));
	EXPECT(e, 1, "\x50\x02\x00\x08");
	EXPECT(e, 0, "\x34\x09\x00\x03" "a/b" "\x00\x02" "q2");
	struct jn_mqtt_pkt dup = { .type = JN_MQTT_PUBLISH, .version = 4, .pid = 8 };
	dup.publish = (struct jn_mqtt_publish){ BIN("a/b"), BIN("q2"), 2, true, false };
	struct bytes b = enc(&dup);
	conn_send(e, 1, b.b, b.n);
	EXPECT(e, 1, "\x50\x02\x00\x08");
	EXPECT_NONE(e, 0);
	SEND(e, 1, ack_b(JN_MQTT_PUBREL, 4, 8));
	EXPECT(e, 1, "\x70\x02\x00\x08");
	/* after PUBREL the pid is free again: a new PUBLISH with it is new */
	SEND(e, 1, publish_b(4, "a/b", "q2b", 2, 8, false));
	EXPECT(e, 1, "\x50\x02\x00\x08");
	SEND(e, 1, ack_b(JN_MQTT_PUBREL, 4, 8));
	EXPECT(e, 1, "\x70\x02\x00\x08");
	/* PUBREL for an unknown pid: still PUBCOMP */
	SEND(e, 1, ack_b(JN_MQTT_PUBREL, 4, 99));
	EXPECT(e, 1, "\x70\x02\x00\x63");
	/* QoS 2 out: PUBREC from the subscriber -> PUBREL -> PUBCOMP */
	SEND(e, 0, ack_b(JN_MQTT_PUBREC, 4, 2));
	struct got g;
	packets(e, 0, &g);
	/* first the q2b PUBLISH (pid 3), queued behind nothing; then PUBREL 2 */
	assert_int_equal(g.n, 2);
	expect_publish(&g.p[0], "a/b", "q2b", 2, false, false);
	assert_int_equal(g.p[0].pid, 3);
	assert_int_equal(g.p[1].type, JN_MQTT_PUBREL);
	assert_int_equal(g.p[1].pid, 2);
	SEND(e, 0, ack_b(JN_MQTT_PUBCOMP, 4, 2));
	SEND(e, 0, ack_b(JN_MQTT_PUBREC, 4, 3));
	EXPECT(e, 0, "\x62\x02\x00\x03");
	SEND(e, 0, ack_b(JN_MQTT_PUBCOMP, 4, 3));
	EXPECT_NONE(e, 0);
	env_free(e);
}

static void test_qos_downgrade(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	hello(e, 0, 4, "s0", CLEAN);
	hello(e, 1, 4, "s1", CLEAN);
	hello(e, 2, 4, "p", CLEAN);
	sub(e, 0, "d", 0, 0);
	sub(e, 1, "d", 1, 1);
	SEND(e, 2, publish_b(4, "d", "x", 2, 1, false));
	EXPECT(e, 2, "\x50\x02\x00\x01");
	EXPECT(e, 0, "\x30\x04\x00\x01" "dx");             /* min(2, 0) */
	EXPECT(e, 1, "\x32\x06\x00\x01" "d\x00\x01" "x");  /* min(2, 1) */
	/* NATS-published messages are QoS 0 whatever the subscription (as on
	 * nats-server) */
	nats_pub(e, "d", NULL, NULL, "n");
	EXPECT(e, 1, "\x30\x04\x00\x01" "dn");
	/* a re-SUBSCRIBE replaces the QoS */
	SEND(e, 1, subscribe_b(4, 5, "d", 0));
	EXPECT(e, 1, "\x90\x03\x00\x05\x00");
	SEND(e, 2, publish_b(4, "d", "y", 1, 2, false));
	EXPECT(e, 1, "\x30\x04\x00\x01" "dy");
	env_free(e);
}

static void test_cross_protocol(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	struct natsub *exact = nats_sub(e, "sensors.kitchen.temp");
	struct natsub *star = nats_sub(e, "sensors.*.temp");
	hello(e, 0, 4, "p", CLEAN);
	SEND(e, 0, publish_b(4, "sensors/kitchen/temp", "21.5", 1, 1, false));
	EXPECT(e, 0, "\x40\x02\x00\x01");
	assert_int_equal(exact->n, 1);
	assert_int_equal(star->n, 1);
	assert_string_equal(exact->subject, "sensors.kitchen.temp");
	assert_int_equal(exact->data_len, 4);
	assert_memory_equal(exact->data, "21.5", 4);
	/* nats-server's header, byte for byte */
	static const char want_hdr[] = "NATS/1.0\r\nNmqtt-Pub:1\r\n\r\n";
	assert_int_equal(exact->hdr_len, sizeof want_hdr - 1);
	assert_memory_equal(exact->hdr, want_hdr, sizeof want_hdr - 1);
	/* NATS -> MQTT wildcards */
	hello(e, 1, 4, "s", CLEAN);
	sub(e, 1, "sensors/+/temp", 1, 1);
	hello(e, 2, 4, "s2", CLEAN);
	sub(e, 2, "sensors/#", 0, 0);
	nats_pub(e, "sensors.hall.temp", NULL, NULL, "19");
	EXPECT(e, 1, "\x30\x15\x00\x11" "sensors/hall/temp" "19");
	EXPECT(e, 2, "\x30\x15\x00\x11" "sensors/hall/temp" "19");
	nats_pub(e, "sensors", NULL, NULL, "p");   /* '#' includes the parent */
	EXPECT_NONE(e, 1);
	EXPECT(e, 2, "\x30\x0a\x00\x07" "sensors" "p");
	/* empty levels and '.' through the mapping */
	sub(e, 2, "x/+/y", 0, 0);
	nats_pub(e, "x./.y", NULL, NULL, "e");
	EXPECT(e, 2, "\x30\x07\x00\x04" "x//y" "e");
	SEND(e, 0, publish_b(4, "v1.2/x", "d", 0, 0, false));
	struct natsub *dot = nats_sub(e, "v1//2.x");
	SEND(e, 0, publish_b(4, "v1.2/x", "d", 0, 0, false));
	assert_int_equal(dot->n, 1);
	env_free(e);
}

static void test_dollar_topics(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	hello(e, 0, 4, "all", CLEAN);
	sub(e, 0, "#", 0, 0);
	hello(e, 1, 4, "plus", CLEAN);
	sub(e, 1, "+/x", 0, 0);
	hello(e, 2, 4, "sys", CLEAN);
	sub(e, 2, "$SYS/#", 0, 0);
	nats_pub(e, "$SYS.x", NULL, NULL, "s");
	EXPECT_NONE(e, 0);
	EXPECT_NONE(e, 1);
	EXPECT(e, 2, "\x30\x09\x00\x06" "$SYS/x" "s");
	nats_pub(e, "$JS.API.INFO", NULL, NULL, "{}");
	EXPECT_NONE(e, 0);
	nats_pub(e, "a.x", NULL, NULL, "n");
	EXPECT(e, 0, "\x30\x06\x00\x03" "a/x" "n");
	EXPECT(e, 1, "\x30\x06\x00\x03" "a/x" "n");
	env_free(e);
}

static void test_retained(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	hello(e, 0, 4, "p", CLEAN);
	hello(e, 1, 4, "live", CLEAN);
	sub(e, 1, "r/#", 1, 1);
	SEND(e, 0, publish_b(4, "r/1", "one", 1, 1, true));
	EXPECT(e, 0, "\x40\x02\x00\x01");
	/* the live copy goes out with RETAIN 0 */
	struct got g;
	packets(e, 1, &g);
	assert_int_equal(g.n, 1);
	expect_publish(&g.p[0], "r/1", "one", 1, false, false);
	SEND(e, 1, ack_b(JN_MQTT_PUBACK, 4, g.p[0].pid));
	SEND(e, 0, publish_b(4, "r/2", "two", 0, 0, true));
	packets(e, 1, &g);
	/* a new subscriber gets them with RETAIN 1, QoS min(stored, granted),
	 * after its SUBACK; also through wildcards */
	hello(e, 2, 4, "new", CLEAN);
	SEND(e, 2, subscribe_b(4, 1, "r/+", 2));
	packets(e, 2, &g);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.p[0].type, JN_MQTT_SUBACK);
	int one = g.p[1].publish.payload.len == 3 && memcmp(g.p[1].publish.payload.p, "one", 3) == 0 ? 1 : 2;
	expect_publish(&g.p[one], "r/1", "one", 1, true, false);
	expect_publish(&g.p[3 - one], "r/2", "two", 0, true, false);
	/* a re-SUBSCRIBE sends them again */
	SEND(e, 2, subscribe_b(4, 2, "r/2", 0));
	packets(e, 2, &g);
	assert_int_equal(g.n, 2);
	expect_publish(&g.p[1], "r/2", "two", 0, true, false);
	/* an empty retained payload clears, and is still delivered live */
	SEND(e, 0, publish_b(4, "r/1", "", 0, 0, true));
	packets(e, 1, &g);
	assert_int_equal(g.n, 1);
	expect_publish(&g.p[0], "r/1", "", 0, false, false);
	hello(e, 3, 4, "newer", CLEAN);
	SEND(e, 3, subscribe_b(4, 1, "r/#", 1));
	packets(e, 3, &g);
	assert_int_equal(g.n, 2);
	expect_publish(&g.p[1], "r/2", "two", 0, true, false);
	assert_int_equal(jn_mqtt_server_stats(e->srv)->retained, 1);
	/* '$' topics are retained too but hidden from '#' */
	SEND(e, 0, publish_b(4, "$app/x", "d", 0, 0, true));
	hello(e, 4, 4, "hash", CLEAN);
	SEND(e, 4, subscribe_b(4, 1, "#", 0));
	packets(e, 4, &g);
	assert_int_equal(g.n, 2);
	expect_publish(&g.p[1], "r/2", "two", 0, true, false);
	env_free(e);
}

static void test_unsubscribe(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	hello(e, 0, 4, "u", CLEAN);
	sub(e, 0, "a/+", 0, 0);
	SEND(e, 0, unsubscribe_b(4, 3, "a/#"));   /* not an exact match: nothing removed */
	EXPECT(e, 0, "\xb0\x02\x00\x03");
	nats_pub(e, "a.b", NULL, NULL, "1");
	EXPECT(e, 0, "\x30\x06\x00\x03" "a/b" "1");
	SEND(e, 0, unsubscribe_b(4, 4, "a/+"));
	EXPECT(e, 0, "\xb0\x02\x00\x04");
	nats_pub(e, "a.b", NULL, NULL, "2");
	EXPECT_NONE(e, 0);
	assert_int_equal(jn_sublist_count(e->router.subs), 0);
	/* v5 says whether something was removed */
	hello(e, 1, 5, "u5", CLEAN);
	sub(e, 1, "a/#", 0, 0);
	assert_int_equal(jn_sublist_count(e->router.subs), 2);   /* "a.>" and "a" */
	SEND(e, 1, unsubscribe_b(5, 5, "x"));
	EXPECT(e, 1, "\xb0\x04\x00\x05\x00\x11");
	SEND(e, 1, unsubscribe_b(5, 6, "a/#"));
	EXPECT(e, 1, "\xb0\x04\x00\x06\x00\x00");
	assert_int_equal(jn_sublist_count(e->router.subs), 0);
	env_free(e);
}

static void test_bad_filters(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	hello(e, 0, 4, "f", CLEAN);
	SEND(e, 0, subscribe_b(4, 1, "a/#/b", 0));
	EXPECT(e, 0, "\x90\x03\x00\x01\x80");
	SEND(e, 0, subscribe_b(4, 2, "a+", 0));
	EXPECT(e, 0, "\x90\x03\x00\x02\x80");
	SEND(e, 0, subscribe_b(4, 3, "a/*", 0));   /* valid MQTT, not mappable */
	EXPECT(e, 0, "\x90\x03\x00\x03\x80");
	hello(e, 1, 5, "f5", CLEAN);
	SEND(e, 1, subscribe_b(5, 1, "a/#/b", 0));
	EXPECT(e, 1, "\x90\x04\x00\x01\x00\x8f");
	/* PUBLISH to a wildcard topic: protocol violation, closed */
	SEND(e, 0, publish_b(4, "a/+", "x", 0, 0, false));
	expect_closed(e, 0, true);
	SEND(e, 1, publish_b(5, "a/#", "x", 0, 0, false));
	EXPECT(e, 1, "\xe0\x01\x90");
	expect_closed(e, 1, true);
	env_free(e);
}

/* ---- persistent sessions --------------------------------------------------------------- */

static void test_persistent_session(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	conn_open(e, 0);
	SEND(e, 0, connect_b(4, "keep", 0));
	EXPECT(e, 0, "\x20\x02\x00\x00");   /* no session yet */
	sub(e, 0, "k/#", 1, 1);
	SEND(e, 0, ack_b(JN_MQTT_DISCONNECT, 4, 0));
	conn_close(e, 0);
	/* offline: QoS 1 is queued, QoS 0 and NATS messages are not */
	hello(e, 1, 4, "pub", CLEAN);
	SEND(e, 1, publish_b(4, "k/1", "first", 1, 1, false));
	EXPECT(e, 1, "\x40\x02\x00\x01");
	SEND(e, 1, publish_b(4, "k/0", "lost", 0, 0, false));
	nats_pub(e, "k.n", NULL, NULL, "lost too");
	SEND(e, 1, publish_b(4, "k/2", "second", 2, 2, false));
	EXPECT(e, 1, "\x50\x02\x00\x02");
	/* back: session present, the queue in order */
	conn_open(e, 2);
	SEND(e, 2, connect_b(4, "keep", 0));
	struct got g;
	packets(e, 2, &g);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.p[0].type, JN_MQTT_CONNACK);
	assert_true(g.p[0].session_present);
	expect_publish(&g.p[1], "k/1", "first", 1, false, false);
	expect_publish(&g.p[2], "k/2", "second", 1, false, false);
	/* unacknowledged: resent with DUP on the next reconnect, same pids */
	uint16_t pid1 = g.p[1].pid, pid2 = g.p[2].pid;
	SEND(e, 2, ack_b(JN_MQTT_PUBACK, 4, pid1));
	conn_close(e, 2);
	conn_open(e, 3);
	SEND(e, 3, connect_b(4, "keep", 0));
	packets(e, 3, &g);
	assert_int_equal(g.n, 2);
	assert_true(g.p[0].session_present);
	expect_publish(&g.p[1], "k/2", "second", 1, false, true);
	assert_int_equal(g.p[1].pid, pid2);
	SEND(e, 3, ack_b(JN_MQTT_PUBACK, 4, pid2));
	/* the subscription survived */
	nats_pub(e, "k.live", NULL, NULL, "z");
	EXPECT(e, 3, "\x30\x09\x00\x06" "k/live" "z");
	/* clean session discards it */
	conn_close(e, 3);
	conn_open(e, 4);
	SEND(e, 4, connect_b(4, "keep", CLEAN));
	EXPECT(e, 4, "\x20\x02\x00\x00");
	nats_pub(e, "k.live", NULL, NULL, "z");
	EXPECT_NONE(e, 4);
	env_free(e);
}

static void test_inflight_window(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	/* a 5.0 client with Receive Maximum 2 gets two in flight at a time */
	conn_open(e, 0);
	e->c[0].version = 5;
	struct jn_mqtt_pkt p = connect_pkt(5, "win", CLEAN, 0);
	JN_MQTT_SET(&p.props, JN_MQTT_P_RECEIVE_MAX);
	p.props.receive_max = 2;
	struct bytes b = enc(&p);
	conn_send(e, 0, b.b, b.n);
	struct got g;
	packets(e, 0, &g);
	sub(e, 0, "w", 1, 1);
	hello(e, 1, 4, "p", CLEAN);
	for (int i = 0; i < 5; i++) {
		char m[2] = { (char)('0' + i), 0 };
		SEND(e, 1, publish_b(4, "w", m, 1, (uint16_t)(i + 1), false));
	}
	packets(e, 0, &g);
	assert_int_equal(g.n, 2);
	expect_publish(&g.p[0], "w", "0", 1, false, false);
	expect_publish(&g.p[1], "w", "1", 1, false, false);
	SEND(e, 0, ack_b(JN_MQTT_PUBACK, 5, g.p[1].pid));   /* out of order is fine */
	packets(e, 0, &g);
	assert_int_equal(g.n, 1);
	expect_publish(&g.p[0], "w", "2", 1, false, false);
	env_free(e);
}

static void test_client_max_packet(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	conn_open(e, 0);
	e->c[0].version = 5;
	struct jn_mqtt_pkt p = connect_pkt(5, "small", CLEAN, 0);
	JN_MQTT_SET(&p.props, JN_MQTT_P_MAX_PACKET_SIZE);
	p.props.max_packet_size = 20;
	struct bytes b = enc(&p);
	conn_send(e, 0, b.b, b.n);
	struct got g;
	packets(e, 0, &g);
	sub(e, 0, "m", 1, 1);
	nats_pub(e, "m", NULL, NULL, "0123456789012345678901234567890");   /* too big: dropped */
	nats_pub(e, "m", NULL, NULL, "ok");
	packets(e, 0, &g);
	assert_int_equal(g.n, 1);
	expect_publish(&g.p[0], "m", "ok", 0, false, false);
	env_free(e);
}

/* ---- MQTT 5 -------------------------------------------------------------------------- */

static void test_v5_properties(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	struct natsub *n = nats_sub(e, "req.>");
	hello(e, 0, 5, "p5", CLEAN);
	hello(e, 1, 5, "s5", CLEAN);
	sub(e, 1, "req/#", 1, 1);
	/* user properties, content type, response topic, correlation data */
	uint8_t ub[128];
	size_t un = jn_mqtt_user_put(ub, sizeof ub, "trace", 5, "abc", 3);
	un += jn_mqtt_user_put(ub + un, sizeof ub - un, "x-k", 3, "v w", 3);
	struct jn_mqtt_pkt p = { .type = JN_MQTT_PUBLISH, .version = 5, .pid = 4 };
	p.publish = (struct jn_mqtt_publish){ BIN("req/a"), BIN("{}"), 1, false, false };
	JN_MQTT_SET(&p.props, JN_MQTT_P_USER);
	p.props.user = (struct jn_mqtt_bin){ ub, (uint32_t)un };
	JN_MQTT_SET(&p.props, JN_MQTT_P_CONTENT_TYPE);
	p.props.content_type = BIN("application/json");
	JN_MQTT_SET(&p.props, JN_MQTT_P_RESPONSE_TOPIC);
	p.props.response_topic = BIN("resp/p5");
	JN_MQTT_SET(&p.props, JN_MQTT_P_CORRELATION_DATA);
	p.props.correlation_data = (struct jn_mqtt_bin){ (const uint8_t *)"\x00\xff\x10", 3 };
	JN_MQTT_SET(&p.props, JN_MQTT_P_PAYLOAD_FORMAT);
	p.props.payload_format = 1;
	struct bytes b = enc(&p);
	conn_send(e, 0, b.b, b.n);
	EXPECT(e, 0, "\x40\x02\x00\x04");
	/* NATS sees headers and a reply subject */
	assert_int_equal(n->n, 1);
	assert_string_equal(n->reply, "resp.p5");
	const char *v;
	size_t vl;
	assert_true(jn_hdr_get(n->hdr, n->hdr_len, "trace", &v, &vl));
	assert_int_equal(vl, 3);
	assert_memory_equal(v, "abc", 3);
	assert_true(jn_hdr_get(n->hdr, n->hdr_len, "x-k", &v, &vl));
	assert_memory_equal(v, "v w", 3);
	assert_true(jn_hdr_get(n->hdr, n->hdr_len, "Nmqtt-Ct", &v, &vl));
	assert_memory_equal(v, "application/json", vl);
	/* the MQTT 5 subscriber gets them all back */
	struct got g;
	packets(e, 1, &g);
	assert_int_equal(g.n, 1);
	const struct jn_mqtt_props *gp = &g.p[0].props;
	assert_true(bin_is(&gp->content_type, "application/json"));
	assert_true(bin_is(&gp->response_topic, "resp/p5"));
	assert_int_equal(gp->correlation_data.len, 3);
	assert_memory_equal(gp->correlation_data.p, "\x00\xff\x10", 3);
	assert_int_equal(gp->payload_format, 1);
	assert_int_equal(gp->nuser, 2);
	size_t pos = 0;
	struct jn_mqtt_bin k, val;
	assert_true(jn_mqtt_user_next(&gp->user, &pos, &k, &val));
	assert_true(bin_is(&k, "trace"));
	assert_true(bin_is(&val, "abc"));
	/* NATS request -> MQTT 5: headers become user properties, the reply
	 * subject the response topic */
	nats_pub(e, "req.b", "_INBOX.x1", "NATS/1.0\r\nApp: 1\r\n\r\n", "q");
	packets(e, 1, &g);
	assert_int_equal(g.n, 1);
	assert_true(bin_is(&g.p[0].props.response_topic, "_INBOX/x1"));
	pos = 0;
	assert_true(jn_mqtt_user_next(&g.p[0].props.user, &pos, &k, &val));
	assert_true(bin_is(&k, "App"));
	assert_true(bin_is(&val, "1"));
	env_free(e);
}

static void test_v5_topic_alias(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	struct natsub *n = nats_sub(e, "alias.t");
	hello(e, 0, 5, "a5", CLEAN);
	struct jn_mqtt_pkt p = { .type = JN_MQTT_PUBLISH, .version = 5 };
	p.publish = (struct jn_mqtt_publish){ BIN("alias/t"), BIN("1"), 0, false, false };
	JN_MQTT_SET(&p.props, JN_MQTT_P_TOPIC_ALIAS);
	p.props.topic_alias = 3;
	struct bytes b = enc(&p);
	conn_send(e, 0, b.b, b.n);
	p.publish.topic = BIN("");
	b = enc(&p);
	conn_send(e, 0, b.b, b.n);
	assert_int_equal(n->n, 2);
	/* an alias never set: protocol error */
	p.props.topic_alias = 4;
	b = enc(&p);
	conn_send(e, 0, b.b, b.n);
	EXPECT(e, 0, "\xe0\x01\x82");
	expect_closed(e, 0, true);
	/* above the maximum: 0x94 */
	hello(e, 1, 5, "a6", CLEAN);
	p.publish.topic = BIN("alias/t");
	p.props.topic_alias = 65;
	b = enc(&p);
	conn_send(e, 1, b.b, b.n);
	EXPECT(e, 1, "\xe0\x01\x94");
	env_free(e);
}

static void test_v5_sub_options(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	hello(e, 0, 5, "o5", CLEAN);
	/* no local: its own messages do not come back */
	sub(e, 0, "nl", JN_MQTT_SO_NO_LOCAL, 0);
	SEND(e, 0, publish_b(5, "nl", "x", 0, 0, false));
	EXPECT_NONE(e, 0);
	hello(e, 1, 5, "o6", CLEAN);
	SEND(e, 1, publish_b(5, "nl", "y", 0, 0, false));
	struct got g;
	packets(e, 0, &g);
	assert_int_equal(g.n, 1);
	/* retain as published keeps RETAIN on live copies */
	sub(e, 0, "rap", JN_MQTT_SO_RAP, 0);
	SEND(e, 1, publish_b(5, "rap", "r", 0, 0, true));
	packets(e, 0, &g);
	assert_int_equal(g.n, 1);
	expect_publish(&g.p[0], "rap", "r", 0, true, false);
	/* retain handling 2: no retained messages; 1: only for a new one */
	SEND(e, 0, subscribe_b(5, 7, "rap", 2 << JN_MQTT_SO_RH_SHIFT));
	packets(e, 0, &g);
	assert_int_equal(g.n, 1);
	SEND(e, 0, subscribe_b(5, 8, "rap", 1 << JN_MQTT_SO_RH_SHIFT));
	packets(e, 0, &g);
	assert_int_equal(g.n, 1);   /* existed already */
	hello(e, 2, 5, "o7", CLEAN);
	SEND(e, 2, subscribe_b(5, 1, "rap", 1 << JN_MQTT_SO_RH_SHIFT));
	packets(e, 2, &g);
	assert_int_equal(g.n, 2);
	expect_publish(&g.p[1], "rap", "r", 0, true, false);
	/* subscription identifier */
	struct jn_mqtt_pkt sp = { .type = JN_MQTT_SUBSCRIBE, .version = 5, .pid = 9 };
	static const uint8_t l[] = { 0, 3, 's', 'i', 'd', 0 };
	sp.list.raw = (struct jn_mqtt_bin){ l, sizeof l };
	JN_MQTT_SET(&sp.props, JN_MQTT_P_SUBSCRIPTION_ID);
	sp.props.nsub_ids = 1;
	sp.props.sub_ids[0] = 300;
	struct bytes b = enc(&sp);
	conn_send(e, 2, b.b, b.n);
	packets(e, 2, &g);
	nats_pub(e, "sid", NULL, NULL, "i");
	packets(e, 2, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.p[0].props.nsub_ids, 1);
	assert_int_equal(g.p[0].props.sub_ids[0], 300);
	env_free(e);
}

static void test_shared_subscription(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	hello(e, 0, 5, "g1", CLEAN);
	hello(e, 1, 5, "g2", CLEAN);
	hello(e, 2, 4, "g3", CLEAN);
	sub(e, 0, "$share/grp/job/+", 0, 0);
	sub(e, 1, "$share/grp/job/+", 0, 0);
	sub(e, 2, "$share/grp/job/+", 0, 0);   /* 3.1.1 clients may share too */
	int total = 0;
	for (int i = 0; i < 30; i++)
		nats_pub(e, "job.x", NULL, NULL, "w");
	int each[3];
	for (int i = 0; i < 3; i++) {
		size_t n;
		conn_out(e, i, &n);
		/* 30 08 00 05 "job/x" "w", and a property length in 5.0 */
		each[i] = (int)(n / (e->c[i].version == 5 ? 11 : 10));
		total += each[i];
	}
	assert_int_equal(total, 30);
	assert_true(each[0] > 0 && each[1] > 0 && each[2] > 0);
	/* a NATS queue subscriber of the same group shares the work */
	/* no local on a shared subscription is a protocol error */
	SEND(e, 0, subscribe_b(5, 3, "$share/g/x", JN_MQTT_SO_NO_LOCAL));
	EXPECT(e, 0, "\xe0\x01\x82");
	expect_closed(e, 0, true);
	/* a malformed share name */
	SEND(e, 1, subscribe_b(5, 4, "$share/g+/x", 0));
	EXPECT(e, 1, "\x90\x04\x00\x04\x00\x8f");
	env_free(e);
}

static void test_message_expiry(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	conn_open(e, 0);
	e->c[0].version = 5;
	struct jn_mqtt_pkt cp = connect_pkt(5, "exp", 0, 0);
	JN_MQTT_SET(&cp.props, JN_MQTT_P_SESSION_EXPIRY);
	cp.props.session_expiry = 600;
	struct bytes b = enc(&cp);
	conn_send(e, 0, b.b, b.n);
	struct got g;
	packets(e, 0, &g);
	sub(e, 0, "e/#", 1, 1);
	conn_close(e, 0);
	hello(e, 1, 5, "pub", CLEAN);
	struct jn_mqtt_pkt p = { .type = JN_MQTT_PUBLISH, .version = 5, .pid = 1 };
	p.publish = (struct jn_mqtt_publish){ BIN("e/short"), BIN("s"), 1, false, false };
	JN_MQTT_SET(&p.props, JN_MQTT_P_MESSAGE_EXPIRY);
	p.props.message_expiry = 1;
	b = enc(&p);
	conn_send(e, 1, b.b, b.n);
	p.publish.topic = BIN("e/long");
	p.props.message_expiry = 100;
	b = enc(&p);
	conn_send(e, 1, b.b, b.n);
	struct timespec ts = { 1, 100000000 };
	nanosleep(&ts, NULL);
	conn_open(e, 2);
	e->c[2].version = 5;
	b = enc(&cp);
	conn_send(e, 2, b.b, b.n);
	packets(e, 2, &g);
	assert_int_equal(g.n, 2);
	assert_true(g.p[0].session_present);
	expect_publish(&g.p[1], "e/long", "s", 1, false, false);
	/* the interval left, not the original */
	assert_true(g.p[1].props.message_expiry <= 99 && g.p[1].props.message_expiry >= 97);
	env_free(e);
}

static void test_session_expiry(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	conn_open(e, 0);
	e->c[0].version = 5;
	struct jn_mqtt_pkt cp = connect_pkt(5, "se", 0, 0);
	JN_MQTT_SET(&cp.props, JN_MQTT_P_SESSION_EXPIRY);
	cp.props.session_expiry = 5;
	struct bytes b = enc(&cp);
	conn_send(e, 0, b.b, b.n);
	struct got g;
	packets(e, 0, &g);
	sub(e, 0, "se", 1, 1);
	conn_close(e, 0);
	assert_int_equal(jn_sublist_count(e->router.subs), 1);
	hello(e, 1, 4, "ticker", CLEAN);
	e->ctx.now_ns += 4 * SEC;
	conn_tick(e, 1);
	assert_int_equal(jn_sublist_count(e->router.subs), 1);
	e->ctx.now_ns += 2 * SEC;
	conn_tick(e, 1);
	assert_int_equal(jn_sublist_count(e->router.subs), 0);
	conn_open(e, 2);
	e->c[2].version = 5;
	conn_send(e, 2, b.b, b.n);
	packets(e, 2, &g);
	assert_false(g.p[0].session_present);
	/* session expiry 0 (the 5.0 default) ends the session with the connection */
	hello(e, 3, 5, "zero", 0);
	sub(e, 3, "z", 1, 1);
	conn_close(e, 3);
	assert_int_equal(jn_sublist_count(e->router.subs), 0);
	env_free(e);
}

static void test_will_delay(void **state)
{
	(void)state;
	struct env *e = env_new(NULL);
	hello(e, 0, 4, "watch", CLEAN);
	sub(e, 0, "wd", 0, 0);
	struct jn_mqtt_pkt cp = connect_pkt(5, "wd", JN_MQTT_CF_WILL, 0);
	JN_MQTT_SET(&cp.props, JN_MQTT_P_SESSION_EXPIRY);
	cp.props.session_expiry = 100;
	cp.connect.will_topic = BIN("wd");
	cp.connect.will_payload = BIN("late");
	JN_MQTT_SET(&cp.connect.will_props, JN_MQTT_P_WILL_DELAY);
	cp.connect.will_props.will_delay = 3;
	struct bytes b = enc(&cp);
	conn_open(e, 1);
	e->c[1].version = 5;
	conn_send(e, 1, b.b, b.n);
	struct got g;
	packets(e, 1, &g);
	conn_close(e, 1);
	EXPECT_NONE(e, 0);
	/* back within the delay: no will */
	conn_open(e, 2);
	e->c[2].version = 5;
	conn_send(e, 2, b.b, b.n);
	packets(e, 2, &g);
	conn_close(e, 2);
	e->ctx.now_ns += 2 * SEC;
	conn_tick(e, 0);
	EXPECT_NONE(e, 0);
	e->ctx.now_ns += 2 * SEC;
	conn_tick(e, 0);
	EXPECT(e, 0, "\x30\x08\x00\x02" "wd" "late");
	env_free(e);
}

/* ---- persistence across restarts --------------------------------------------------- */

static char store_tmp[64];

static void store_tweak(struct jn_mqtt_opts *o, struct jn_auth *a)
{
	(void)a;
	o->store_dir = store_tmp;
}

/* What a daemon restart does to the MQTT server: connections gone, the
 * server freed (its store closed) and created again on the same directory. */
static void env_restart(struct env *e)
{
	for (int i = 0; i < NCONN; i++)
		conn_close(e, i);
	jn_mqtt_server_free(e->srv);
	jn_epoch_drain();
	assert_int_equal(jn_mqtt_server_new(&e->opts, &e->router, &e->auth, &e->srv), 0);
}

static void test_persist_restart(void **state)
{
	(void)state;
	snprintf(store_tmp, sizeof store_tmp, "/tmp/jn-mqtt-unit-XXXXXX");
	assert_non_null(mkdtemp(store_tmp));
	struct env *e = env_new(store_tweak);
	/* a persistent subscriber with one message in flight (no PUBACK) */
	hello(e, 0, 4, "p1", 0);
	sub(e, 0, "a/#", 2, 2);
	hello(e, 1, 4, "pub", CLEAN);
	SEND(e, 1, publish_b(4, "a/1", "inflight", 1, 1, false));
	struct got g;
	packets(e, 0, &g);
	assert_int_equal(g.n, 1);
	uint16_t pid1 = g.p[0].pid;
	/* and one in the PUBREL phase */
	SEND(e, 1, publish_b(4, "a/q2", "released", 2, 2, false));
	SEND(e, 1, ack_b(JN_MQTT_PUBREL, 4, 2));
	packets(e, 0, &g);
	assert_int_equal(g.n, 1);
	uint16_t pid2 = g.p[0].pid;
	SEND(e, 0, ack_b(JN_MQTT_PUBREC, 4, pid2));
	packets(e, 0, &g);
	assert_int_equal(g.p[0].type, JN_MQTT_PUBREL);
	conn_close(e, 0);
	/* one queued while offline, a retained message, a QoS 0 (not kept) */
	SEND(e, 1, publish_b(4, "a/2", "queued", 2, 3, false));
	SEND(e, 1, ack_b(JN_MQTT_PUBREL, 4, 3));
	SEND(e, 1, publish_b(4, "a/0", "lost", 0, 0, false));
	SEND(e, 1, publish_b(4, "r/1", "kept", 1, 4, true));
	/* a persistent publisher with a QoS 2 message before its PUBREL */
	hello(e, 2, 4, "q2c", 0);
	SEND(e, 2, publish_b(4, "a/x", "once", 2, 7, false));
	conn_close(e, 2);
	/* a clean session is not kept */
	hello(e, 3, 4, "gone", CLEAN);
	sub(e, 3, "z", 1, 1);

	env_restart(e);
	assert_int_equal(jn_sublist_count(e->router.subs), 2);   /* p1's a/#: "a.>" and "a" */

	conn_open(e, 0);
	SEND(e, 0, connect_b(4, "p1", 0));
	packets(e, 0, &g);
	assert_int_equal(g.n, 5);
	assert_true(g.p[0].session_present);
	/* in flight: same pids, DUP; then what was queued */
	expect_publish(&g.p[1], "a/1", "inflight", 1, false, true);
	assert_int_equal(g.p[1].pid, pid1);
	assert_int_equal(g.p[2].type, JN_MQTT_PUBREL);
	assert_int_equal(g.p[2].pid, pid2);
	expect_publish(&g.p[3], "a/2", "queued", 2, false, false);
	expect_publish(&g.p[4], "a/x", "once", 2, false, false);
	(void)pid1;
	/* the publisher's QoS 2 state survived: a resend is not delivered again */
	conn_open(e, 2);
	SEND(e, 2, connect_b(4, "q2c", 0));
	packets(e, 2, &g);
	assert_true(g.p[0].session_present);
	struct jn_mqtt_pkt dup = { .type = JN_MQTT_PUBLISH, .version = 4, .pid = 7 };
	dup.publish = (struct jn_mqtt_publish){ BIN("a/x"), BIN("once"), 2, true, false };
	struct bytes b = enc(&dup);
	conn_send(e, 2, b.b, b.n);
	EXPECT(e, 2, "\x50\x02\x00\x07");
	SEND(e, 2, ack_b(JN_MQTT_PUBREL, 4, 7));
	EXPECT(e, 2, "\x70\x02\x00\x07");
	EXPECT_NONE(e, 0);
	/* retained */
	hello(e, 4, 4, "late", CLEAN);
	SEND(e, 4, subscribe_b(4, 1, "r/#", 1));
	packets(e, 4, &g);
	assert_int_equal(g.n, 2);
	expect_publish(&g.p[1], "r/1", "kept", 1, true, false);
	/* acknowledge everything; after another restart nothing comes back */
	SEND(e, 0, ack_b(JN_MQTT_PUBACK, 4, pid1));
	SEND(e, 0, ack_b(JN_MQTT_PUBCOMP, 4, pid2));
	/* (the queued ones are QoS 2 in flight now: PUBREC, PUBCOMP) */
	packets(e, 0, &g);
	env_restart(e);
	conn_open(e, 0);
	SEND(e, 0, connect_b(4, "p1", 0));
	packets(e, 0, &g);
	assert_true(g.p[0].session_present);
	assert_int_equal(g.n, 3);   /* the two QoS 2 messages never acknowledged */
	env_free(e);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", store_tmp);
	assert_int_equal(system(cmd), 0);
}

/* An acknowledgement waits for the fsync of what was persisted for its
 * packet: a failed fsync turns a 5.0 PUBACK into 0x80, and the PUBACKs
 * after it keep their order behind it. */
static void test_ack_waits_for_fsync(void **state)
{
	(void)state;
	snprintf(store_tmp, sizeof store_tmp, "/tmp/jn-mqtt-unit-XXXXXX");
	assert_non_null(mkdtemp(store_tmp));
	struct env *e = env_new(store_tweak);
	hello(e, 0, 5, "dur", CLEAN);
	SEND(e, 0, publish_b(5, "r/x", "v", 1, 1, true));
	EXPECT(e, 0, "\x40\x03\x00\x01\x10");   /* fsynced; nobody subscribed */
	jn_filestore_inject_fault(e->srv->store, JN_FS_FAULT_FSYNC, EIO, false);
	SEND(e, 0, publish_b(5, "r/y", "v", 1, 2, true));
	SEND(e, 0, publish_b(5, "n/x", "v", 1, 3, false));   /* nothing to persist */
	EXPECT(e, 0, "\x40\x03\x00\x02\x80\x40\x03\x00\x03\x10");
	env_free(e);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", store_tmp);
	assert_int_equal(system(cmd), 0);
}

/* ---- bad input --------------------------------------------------------------------------- */

static void small_tweak(struct jn_mqtt_opts *o, struct jn_auth *a)
{
	(void)a;
	o->max_packet_size = 100;
}

static void test_bad_input(void **state)
{
	(void)state;
	struct env *e = env_new(small_tweak);
	hello(e, 0, 4, "ok", CLEAN);
	sub(e, 0, "t", 0, 0);
	/* malformed: closes that connection only */
	hello(e, 1, 4, "bad", CLEAN);
	static const uint8_t bad[] = { 0x32, 0x03, 0x00, 0x01, 'a' };   /* QoS 1 without pid */
	conn_send(e, 1, bad, sizeof bad);
	expect_closed(e, 1, true);
	hello(e, 2, 5, "bad5", CLEAN);
	conn_send(e, 2, bad, sizeof bad);
	EXPECT(e, 2, "\xe0\x01\x81");
	expect_closed(e, 2, true);
	/* over the packet size: 0x95 before reading the body */
	hello(e, 3, 5, "big5", CLEAN);
	static const uint8_t big[] = { 0x30, 0xe8, 0x07 };
	conn_send(e, 3, big, sizeof big);
	EXPECT(e, 3, "\xe0\x01\x95");
	expect_closed(e, 3, true);
	/* a server-only packet from a client */
	hello(e, 4, 4, "weird", CLEAN);
	static const uint8_t connack[] = { 0x20, 0x02, 0x00, 0x00 };
	conn_send(e, 4, connack, sizeof connack);
	expect_closed(e, 4, true);
	/* the others are fine */
	expect_closed(e, 0, false);
	nats_pub(e, "t", NULL, NULL, "1");
	EXPECT(e, 0, "\x30\x04\x00\x01" "t1");
	assert_true(jn_mqtt_server_stats(e->srv)->protocol_errors >= 4);
	env_free(e);
}

/* A whole conversation gives the same bytes whether its input arrives in
 * one piece, split anywhere, or a byte at a time. */
static void conversation(struct env *e, const uint8_t *in, size_t n, const size_t *cuts,
                         size_t ncuts)
{
	conn_open(e, 0);
	size_t at = 0;
	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : n;
		uint8_t *piece = malloc(end - at + 1);
		memcpy(piece, in + at, end - at);
		conn_send(e, 0, piece, end - at);
		free(piece);
		at = end;
	}
}

static void test_split_every_byte(void **state)
{
	(void)state;
	uint8_t in[2048];
	size_t n = 0;
	struct bytes parts[] = {
		connect_b(4, "split", CLEAN),
		subscribe_b(4, 1, "s/#", 2),
		publish_b(4, "s/a", "zero", 0, 0, false),
		publish_b(4, "s/b", "one", 1, 1, true),
		publish_b(4, "s/c", "two", 2, 2, false),
		ack_b(JN_MQTT_PUBREL, 4, 2),
		ack_b(JN_MQTT_PINGREQ, 4, 0),
		unsubscribe_b(4, 3, "s/#"),
	};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		memcpy(in + n, parts[i].b, parts[i].n);
		n += parts[i].n;
	}
	struct env *e = env_new(NULL);
	conversation(e, in, n, NULL, 0);
	size_t wl;
	const uint8_t *w = conn_out(e, 0, &wl);
	uint8_t *whole = malloc(wl);
	memcpy(whole, w, wl);
	expect_closed(e, 0, false);
	env_free(e);
	assert_true(wl > 30);
	for (size_t cut = 1; cut < n; cut++) {
		e = env_new(NULL);
		conversation(e, in, n, &cut, 1);
		size_t gl;
		const uint8_t *got = conn_out(e, 0, &gl);
		if (gl != wl || memcmp(got, whole, wl) != 0)
			fail_msg("split at %zu differs", cut);
		env_free(e);
	}
	size_t *cuts = malloc(n * sizeof *cuts);
	for (size_t i = 0; i + 1 < n; i++)
		cuts[i] = i + 1;
	e = env_new(NULL);
	conversation(e, in, n, cuts, n - 1);
	size_t gl;
	const uint8_t *got = conn_out(e, 0, &gl);
	assert_int_equal(gl, wl);
	assert_memory_equal(got, whole, wl);
	env_free(e);
	free(cuts);
	free(whole);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_basic),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_connect_assigned_id),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_will),
		cmocka_unit_test(test_takeover),
		cmocka_unit_test(test_qos_flows),
		cmocka_unit_test(test_qos_downgrade),
		cmocka_unit_test(test_cross_protocol),
		cmocka_unit_test(test_dollar_topics),
		cmocka_unit_test(test_retained),
		cmocka_unit_test(test_unsubscribe),
		cmocka_unit_test(test_bad_filters),
		cmocka_unit_test(test_persistent_session),
		cmocka_unit_test(test_inflight_window),
		cmocka_unit_test(test_client_max_packet),
		cmocka_unit_test(test_v5_properties),
		cmocka_unit_test(test_v5_topic_alias),
		cmocka_unit_test(test_v5_sub_options),
		cmocka_unit_test(test_shared_subscription),
		cmocka_unit_test(test_message_expiry),
		cmocka_unit_test(test_session_expiry),
		cmocka_unit_test(test_will_delay),
		cmocka_unit_test(test_persist_restart),
		cmocka_unit_test(test_ack_waits_for_fsync),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_split_every_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
