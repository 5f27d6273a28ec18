/*
 * test_mqtt_codec.c - adapters/mqtt/codec.c: every packet type in 3.1.1
 * and 5.0 (known bytes, encode/decode round trips), streams split at every
 * byte and fed a byte at a time, malformed packets as a table of bytes and
 * the error each must give, and the packet size limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "adapters/mqtt/codec.h"
#include "core/alloc.h"
#include "core/err.h"

#define B(s) ((struct jn_mqtt_bin){ (const uint8_t *)(s), sizeof(s) - 1 })

/* ---- helpers ------------------------------------------------------------ */

struct seen {
	uint8_t *buf;       /* re-encoded packets, back to back */
	size_t len, cap;
	int n;
	struct jn_mqtt_pkt last;
	uint8_t last_bytes[4096];
};

static void seen_put(struct seen *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2 + 256;
		s->buf = realloc(s->buf, s->cap);
		assert_non_null(s->buf);
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

/* Record a decoded packet as its re-encoding plus its size: two parses
 * that saw the same packets record the same bytes. */
static int record(void *ctx, const struct jn_mqtt_pkt *p)
{
	struct seen *s = ctx;
	uint8_t tmp[8192];
	size_t n = jn_mqtt_encode(p, tmp, sizeof tmp, false);
	assert_true(n <= sizeof tmp);
	seen_put(s, &p->size, sizeof p->size);
	seen_put(s, tmp, n);
	s->n++;
	s->last = *p;
	return 0;
}

static size_t enc(const struct jn_mqtt_pkt *p, uint8_t *buf, size_t cap)
{
	size_t n = jn_mqtt_encode(p, buf, cap, false);
	assert_true(n <= cap);
	return n;
}

/* Parse in one piece; returns the parser's result. */
static int parse_all(const uint8_t *in, size_t len, uint8_t version, uint32_t max,
                     struct seen *s)
{
	struct jn_mqtt_parser p;
	jn_mqtt_parser_init(&p, max);
	p.version = version;
	int rc = jn_mqtt_parse(&p, in, len, record, s);
	assert_int_equal(jn_mqtt_parser_held(&p), rc < 0 ? 0 : jn_mqtt_parser_held(&p));
	jn_mqtt_parser_fini(&p);
	assert_int_equal(jn_mqtt_parser_held(&p), 0);
	return rc;
}

/* Each piece is its own exact-size heap copy, so a pointer kept into an
 * earlier piece is a use-after-free under ASan. */
static int parse_cuts(const uint8_t *in, size_t len, uint8_t version, uint32_t max,
                      const size_t *cuts, size_t ncuts, struct seen *s)
{
	struct jn_mqtt_parser p;
	jn_mqtt_parser_init(&p, max);
	p.version = version;
	int rc = 0;
	size_t at = 0;
	for (size_t k = 0; k <= ncuts && rc >= 0; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		uint8_t *piece = malloc(end - at + 1);
		memcpy(piece, in + at, end - at);
		rc = jn_mqtt_parse(&p, piece, end - at, record, s);
		free(piece);
		at = end;
	}
	if (rc < 0)
		assert_int_equal(jn_mqtt_parser_held(&p), 0);
	jn_mqtt_parser_fini(&p);
	return rc;
}

/* Decode exactly one whole packet from bytes. */
static int decode1(const uint8_t *in, size_t len, uint8_t version, struct jn_mqtt_pkt *out)
{
	struct seen s = { 0 };
	int rc = parse_all(in, len, version, 0, &s);
	if (rc == 0) {
		assert_int_equal(s.n, 1);
		*out = s.last;
	}
	free(s.buf);
	return rc;
}

/* ---- packets of every type -------------------------------------------- */

static uint8_t user_block[256];

static struct jn_mqtt_bin some_users(void)
{
	size_t n = jn_mqtt_user_put(user_block, sizeof user_block, "k1", 2, "v1", 2);
	n += jn_mqtt_user_put(user_block + n, sizeof user_block - n, "k1", 2, "", 0);
	n += jn_mqtt_user_put(user_block + n, sizeof user_block - n, "k\xc3\xa9", 3, "long value", 10);
	return (struct jn_mqtt_bin){ user_block, (uint32_t)n };
}

static uint8_t sub_list[64];

/* Build the packets of one version; returns how many. */
static int all_packets(uint8_t v, struct jn_mqtt_pkt *pk)
{
	bool v5 = v == JN_MQTT_V5;
	int n = 0;
	memset(pk, 0, sizeof *pk * 20);
	for (int i = 0; i < 20; i++)
		pk[i].version = v;

	/* CONNECT with everything */
	struct jn_mqtt_pkt *c = &pk[n++];
	c->type = JN_MQTT_CONNECT;
	c->connect.level = v;
	c->connect.flags = JN_MQTT_CF_USER | JN_MQTT_CF_PASS | JN_MQTT_CF_WILL_RETAIN |
	                   (1 << 3) | JN_MQTT_CF_WILL | JN_MQTT_CF_CLEAN;
	c->connect.keep_alive = 60;
	c->connect.client_id = B("client-1");
	c->connect.will_topic = B("will/t");
	c->connect.will_payload = B("gone");
	c->connect.username = B("user");
	c->connect.password = B("p\0ss");
	if (v5) {
		JN_MQTT_SET(&c->props, JN_MQTT_P_SESSION_EXPIRY);
		c->props.session_expiry = 3600;
		JN_MQTT_SET(&c->props, JN_MQTT_P_RECEIVE_MAX);
		c->props.receive_max = 10;
		JN_MQTT_SET(&c->props, JN_MQTT_P_MAX_PACKET_SIZE);
		c->props.max_packet_size = 65536;
		JN_MQTT_SET(&c->props, JN_MQTT_P_TOPIC_ALIAS_MAX);
		c->props.topic_alias_max = 5;
		JN_MQTT_SET(&c->props, JN_MQTT_P_REQUEST_PROBLEM_INFO);
		c->props.request_problem_info = 1;
		JN_MQTT_SET(&c->props, JN_MQTT_P_USER);
		c->props.user = some_users();
		JN_MQTT_SET(&c->connect.will_props, JN_MQTT_P_WILL_DELAY);
		c->connect.will_props.will_delay = 5;
		JN_MQTT_SET(&c->connect.will_props, JN_MQTT_P_CONTENT_TYPE);
		c->connect.will_props.content_type = B("text/plain");
	}
	/* minimal CONNECT */
	c = &pk[n++];
	c->type = JN_MQTT_CONNECT;
	c->connect.level = v;
	c->connect.flags = JN_MQTT_CF_CLEAN;
	c->connect.client_id = B("");

	struct jn_mqtt_pkt *a = &pk[n++];
	a->type = JN_MQTT_CONNACK;
	a->session_present = true;
	a->reason = 0;
	if (v5) {
		JN_MQTT_SET(&a->props, JN_MQTT_P_ASSIGNED_CLIENT_ID);
		a->props.assigned_client_id = B("auto-1");
		JN_MQTT_SET(&a->props, JN_MQTT_P_TOPIC_ALIAS_MAX);
		a->props.topic_alias_max = 10;
		JN_MQTT_SET(&a->props, JN_MQTT_P_MAX_QOS);
		a->props.max_qos = 1;
		JN_MQTT_SET(&a->props, JN_MQTT_P_SHARED_SUB_AVAILABLE);
		a->props.shared_sub_available = 1;
	}

	struct jn_mqtt_pkt *p = &pk[n++];
	p->type = JN_MQTT_PUBLISH;
	p->publish.topic = B("a/b");
	p->publish.payload = B("hello");
	/* QoS 0 without pid */
	p = &pk[n++];
	p->type = JN_MQTT_PUBLISH;
	p->publish.qos = 2;
	p->publish.dup = true;
	p->publish.retain = true;
	p->pid = 65535;
	p->publish.topic = B("sensors/kitchen/temp");
	p->publish.payload = B("");
	if (v5) {
		JN_MQTT_SET(&p->props, JN_MQTT_P_MESSAGE_EXPIRY);
		p->props.message_expiry = 30;
		JN_MQTT_SET(&p->props, JN_MQTT_P_RESPONSE_TOPIC);
		p->props.response_topic = B("reply/here");
		JN_MQTT_SET(&p->props, JN_MQTT_P_CORRELATION_DATA);
		p->props.correlation_data = B("\x00\x01\x02");
		JN_MQTT_SET(&p->props, JN_MQTT_P_SUBSCRIPTION_ID);
		p->props.nsub_ids = 2;
		p->props.sub_ids[0] = 1;
		p->props.sub_ids[1] = 268435455;
		JN_MQTT_SET(&p->props, JN_MQTT_P_TOPIC_ALIAS);
		p->props.topic_alias = 3;
		JN_MQTT_SET(&p->props, JN_MQTT_P_PAYLOAD_FORMAT);
		p->props.payload_format = 1;
		JN_MQTT_SET(&p->props, JN_MQTT_P_USER);
		p->props.user = some_users();
	}
	for (uint8_t t = JN_MQTT_PUBACK; t <= JN_MQTT_PUBCOMP; t++) {
		p = &pk[n++];
		p->type = t;
		p->pid = (uint16_t)(t * 100);
		if (v5 && t == JN_MQTT_PUBREC) {
			p->reason = JN_MQTT_RC_NO_MATCHING_SUBSCRIBERS;
		}
		if (v5 && t == JN_MQTT_PUBCOMP) {
			p->reason = JN_MQTT_RC_PACKET_ID_NOT_FOUND;
			JN_MQTT_SET(&p->props, JN_MQTT_P_REASON_STRING);
			p->props.reason_string = B("unknown");
		}
	}

	size_t k = 0;
	static const char *filters[] = { "a/+", "b/#", "$share/g/c" };
	for (int i = 0; i < 3; i++) {
		size_t fl = strlen(filters[i]);
		sub_list[k++] = 0;
		sub_list[k++] = (uint8_t)fl;
		memcpy(sub_list + k, filters[i], fl);
		k += fl;
		sub_list[k++] = (uint8_t)(v5 ? (i | (i == 1 ? JN_MQTT_SO_NO_LOCAL | JN_MQTT_SO_RAP |
		                                               (2 << JN_MQTT_SO_RH_SHIFT) : 0))
		                             : i);
	}
	p = &pk[n++];
	p->type = JN_MQTT_SUBSCRIBE;
	p->pid = 1;
	p->list.raw = (struct jn_mqtt_bin){ sub_list, (uint32_t)k };
	if (v5) {
		JN_MQTT_SET(&p->props, JN_MQTT_P_SUBSCRIPTION_ID);
		p->props.nsub_ids = 1;
		p->props.sub_ids[0] = 77;
	}

	p = &pk[n++];
	p->type = JN_MQTT_SUBACK;
	p->pid = 1;
	p->list.raw = B("\x00\x01\x80");

	static uint8_t unsub_list[] = { 0, 3, 'a', '/', '+', 0, 1, '#' };
	p = &pk[n++];
	p->type = JN_MQTT_UNSUBSCRIBE;
	p->pid = 2;
	p->list.raw = (struct jn_mqtt_bin){ unsub_list, sizeof unsub_list };

	p = &pk[n++];
	p->type = JN_MQTT_UNSUBACK;
	p->pid = 2;
	if (v5)
		p->list.raw = B("\x00\x11");

	pk[n++].type = JN_MQTT_PINGREQ;
	pk[n++].type = JN_MQTT_PINGRESP;
	p = &pk[n++];
	p->type = JN_MQTT_DISCONNECT;
	if (v5) {
		p->reason = JN_MQTT_RC_DISCONNECT_WITH_WILL;
		JN_MQTT_SET(&p->props, JN_MQTT_P_SESSION_EXPIRY);
		p->props.session_expiry = 0;
		p = &pk[n++];
		p->type = JN_MQTT_AUTH;
		p->reason = 0x18;
		JN_MQTT_SET(&p->props, JN_MQTT_P_AUTH_METHOD);
		p->props.auth_method = B("SCRAM");
		JN_MQTT_SET(&p->props, JN_MQTT_P_AUTH_DATA);
		p->props.auth_data = B("\x01\x02");
	}
	return n;
}

/* ---- tests --------------------------------------------------------------- */

static void test_known_bytes(void **state)
{
	(void)state;
	struct jn_mqtt_pkt p;
	/* What mosquitto_pub -V mqttv311 sends with an empty client id. */
	static const uint8_t connect311[] = { 0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0 };
	assert_int_equal(decode1(connect311, sizeof connect311, 0, &p), 0);
	assert_int_equal(p.type, JN_MQTT_CONNECT);
	assert_int_equal(p.version, 4);
	assert_int_equal(p.connect.level, 4);
	assert_int_equal(p.connect.flags, JN_MQTT_CF_CLEAN);
	assert_int_equal(p.connect.keep_alive, 60);
	assert_non_null(p.connect.client_id.p);
	assert_int_equal(p.connect.client_id.len, 0);
	assert_int_equal(p.size, sizeof connect311);

	/* MQTT 3.1 */
	static const uint8_t connect31[] = { 0x10, 0x11, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 10,
	                                     0, 3, 'a', 'b', 'c' };
	assert_int_equal(decode1(connect31, sizeof connect31, 0, &p), 0);
	assert_int_equal(p.version, 3);
	assert_false(p.connect.unsupported);
	assert_memory_equal(p.connect.client_id.p, "abc", 3);

	/* Level 6: decoded as far as the level, for a CONNACK 0x01. */
	static const uint8_t connect6[] = { 0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 60, 0, 0 };
	assert_int_equal(decode1(connect6, sizeof connect6, 0, &p), 0);
	assert_true(p.connect.unsupported);
	assert_int_equal(p.connect.level, 6);

	/* v5 CONNECT, session expiry 0x78 and receive maximum 20. */
	static const uint8_t connect5[] = { 0x10, 0x16, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60,
	                                    8, 0x11, 0, 0, 0, 0x78, 0x21, 0, 20, 0, 1, 'x' };
	assert_int_equal(decode1(connect5, sizeof connect5, 0, &p), 0);
	assert_int_equal(p.version, 5);
	assert_true(JN_MQTT_HAS(&p.props, JN_MQTT_P_SESSION_EXPIRY));
	assert_int_equal(p.props.session_expiry, 0x78);
	assert_int_equal(p.props.receive_max, 20);
	assert_false(JN_MQTT_HAS(&p.props, JN_MQTT_P_MAX_PACKET_SIZE));

	static const uint8_t pub1[] = { 0x32, 0x08, 0, 3, 'a', '/', 'b', 0, 7, 'x' };
	assert_int_equal(decode1(pub1, sizeof pub1, 4, &p), 0);
	assert_int_equal(p.type, JN_MQTT_PUBLISH);
	assert_int_equal(p.publish.qos, 1);
	assert_int_equal(p.pid, 7);
	assert_int_equal(p.publish.payload.len, 1);
	assert_int_equal(p.publish.payload.p[0], 'x');

	static const uint8_t sub[] = { 0x82, 0x08, 0, 1, 0, 3, 'a', '/', 'b', 1 };
	assert_int_equal(decode1(sub, sizeof sub, 4, &p), 0);
	assert_int_equal(p.list.count, 1);
	size_t pos = 0;
	struct jn_mqtt_bin f;
	uint8_t o;
	assert_true(jn_mqtt_topics_next(&p, &pos, &f, &o));
	assert_int_equal(f.len, 3);
	assert_int_equal(o, 1);
	assert_false(jn_mqtt_topics_next(&p, &pos, &f, &o));

	/* Server packets, encoded. */
	uint8_t buf[64];
	struct jn_mqtt_pkt a = { .type = JN_MQTT_CONNACK, .version = 4, .session_present = true };
	assert_int_equal(enc(&a, buf, sizeof buf), 4);
	assert_memory_equal(buf, "\x20\x02\x01\x00", 4);
	a.session_present = false;
	a.reason = JN_MQTT_CONNACK_BAD_VERSION;
	enc(&a, buf, sizeof buf);
	assert_memory_equal(buf, "\x20\x02\x00\x01", 4);
	/* v5 CONNACK without properties still has the property length. */
	a.version = 5;
	a.reason = 0;
	assert_int_equal(enc(&a, buf, sizeof buf), 5);
	assert_memory_equal(buf, "\x20\x03\x00\x00\x00", 5);
	struct jn_mqtt_pkt r = { .type = JN_MQTT_PINGRESP, .version = 4 };
	assert_int_equal(enc(&r, buf, sizeof buf), 2);
	assert_memory_equal(buf, "\xd0\x00", 2);
	struct jn_mqtt_pkt ack = { .type = JN_MQTT_PUBACK, .version = 5, .pid = 7 };
	assert_int_equal(enc(&ack, buf, sizeof buf), 4);   /* success: short form */
	assert_memory_equal(buf, "\x40\x02\x00\x07", 4);
	ack.reason = JN_MQTT_RC_NOT_AUTHORIZED;
	assert_int_equal(enc(&ack, buf, sizeof buf), 5);
	assert_memory_equal(buf, "\x40\x03\x00\x07\x87", 5);
	ack.type = JN_MQTT_PUBREL;
	ack.version = 4;
	enc(&ack, buf, sizeof buf);
	assert_memory_equal(buf, "\x62\x02\x00\x07", 4);
	struct jn_mqtt_pkt d = { .type = JN_MQTT_DISCONNECT, .version = 5,
	                         .reason = JN_MQTT_RC_SESSION_TAKEN_OVER };
	assert_int_equal(enc(&d, buf, sizeof buf), 3);
	assert_memory_equal(buf, "\xe0\x01\x8e", 3);
	struct jn_mqtt_pkt sa = { .type = JN_MQTT_SUBACK, .version = 4, .pid = 1,
	                          .list.raw = B("\x01\x80") };
	assert_int_equal(enc(&sa, buf, sizeof buf), 6);
	assert_memory_equal(buf, "\x90\x04\x00\x01\x01\x80", 6);
	struct jn_mqtt_pkt ua = { .type = JN_MQTT_UNSUBACK, .version = 4, .pid = 2 };
	assert_int_equal(enc(&ua, buf, sizeof buf), 4);
	assert_memory_equal(buf, "\xb0\x02\x00\x02", 4);
}

/* Encode -> decode -> encode gives the same bytes, and the decoded fields
 * are the ones put in, for every packet type of both versions. */
static void test_roundtrip(void **state)
{
	(void)state;
	static const uint8_t versions[] = { JN_MQTT_V311, JN_MQTT_V5 };
	for (size_t vi = 0; vi < 2; vi++) {
		uint8_t v = versions[vi];
		struct jn_mqtt_pkt pk[20];
		int n = all_packets(v, pk);
		for (int i = 0; i < n; i++) {
			uint8_t a[1024], b[1024];
			size_t la = enc(&pk[i], a, sizeof a);
			struct jn_mqtt_pkt d;
			int rc = decode1(a, la, v, &d);
			if (rc != 0)
				fail_msg("v%d packet %d (type %d) does not decode: %d", v, i, pk[i].type, rc);
			assert_int_equal(d.type, pk[i].type);
			assert_int_equal(d.pid, pk[i].pid);
			assert_int_equal(d.reason, pk[i].reason);
			assert_int_equal(d.size, la);
			if (v == JN_MQTT_V5)
				assert_int_equal(d.props.present, pk[i].props.present);
			size_t lb = enc(&d, b, sizeof b);
			assert_int_equal(la, lb);
			assert_memory_equal(a, b, la);
			/* The size estimate without room, and omit_payload. */
			assert_int_equal(jn_mqtt_encode(&pk[i], NULL, 0, false), la);
			if (pk[i].type == JN_MQTT_PUBLISH) {
				uint8_t h[1024];
				size_t total = jn_mqtt_encode(&pk[i], h, sizeof h, true);
				assert_int_equal(total, la);
				size_t hl = la - pk[i].publish.payload.len;
				assert_memory_equal(h, a, hl);
			}
		}
	}
}

static void test_fields(void **state)
{
	(void)state;
	struct jn_mqtt_pkt pk[20];
	all_packets(JN_MQTT_V5, pk);
	uint8_t a[1024];
	struct jn_mqtt_pkt d;
	/* CONNECT with will properties and user properties */
	size_t la = enc(&pk[0], a, sizeof a);
	assert_int_equal(decode1(a, la, 0, &d), 0);
	assert_memory_equal(d.connect.client_id.p, "client-1", 8);
	assert_memory_equal(d.connect.will_topic.p, "will/t", 6);
	assert_memory_equal(d.connect.will_payload.p, "gone", 4);
	assert_int_equal(d.connect.password.len, 4);
	assert_int_equal(d.connect.will_props.will_delay, 5);
	assert_memory_equal(d.connect.will_props.content_type.p, "text/plain", 10);
	assert_int_equal(d.props.nuser, 3);
	size_t pos = 0;
	struct jn_mqtt_bin k, v;
	assert_true(jn_mqtt_user_next(&d.props.user, &pos, &k, &v));
	assert_memory_equal(k.p, "k1", 2);
	assert_memory_equal(v.p, "v1", 2);
	assert_true(jn_mqtt_user_next(&d.props.user, &pos, &k, &v));
	assert_int_equal(v.len, 0);
	assert_true(jn_mqtt_user_next(&d.props.user, &pos, &k, &v));
	assert_int_equal(k.len, 3);
	assert_false(jn_mqtt_user_next(&d.props.user, &pos, &k, &v));
	/* PUBLISH QoS 2 with two subscription ids */
	la = enc(&pk[4], a, sizeof a);
	assert_int_equal(decode1(a, la, 5, &d), 0);
	assert_int_equal(d.publish.qos, 2);
	assert_true(d.publish.dup);
	assert_true(d.publish.retain);
	assert_int_equal(d.props.nsub_ids, 2);
	assert_int_equal(d.props.sub_ids[1], 268435455);
	assert_int_equal(d.props.correlation_data.len, 3);
	assert_non_null(d.publish.payload.p);
	assert_int_equal(d.publish.payload.len, 0);
	/* SUBSCRIBE options */
	for (int i = 0; i < 20; i++) {
		if (pk[i].type != JN_MQTT_SUBSCRIBE)
			continue;
		la = enc(&pk[i], a, sizeof a);
		assert_int_equal(decode1(a, la, 5, &d), 0);
		assert_int_equal(d.list.count, 3);
		assert_int_equal(d.props.sub_ids[0], 77);
		pos = 0;
		struct jn_mqtt_bin f;
		uint8_t o;
		assert_true(jn_mqtt_topics_next(&d, &pos, &f, &o));
		assert_true(jn_mqtt_topics_next(&d, &pos, &f, &o));
		assert_memory_equal(f.p, "b/#", 3);
		assert_int_equal(o & JN_MQTT_SO_QOS, 1);
		assert_true(o & JN_MQTT_SO_NO_LOCAL);
		assert_true(o & JN_MQTT_SO_RAP);
		assert_int_equal(o >> JN_MQTT_SO_RH_SHIFT, 2);
	}
}

/* A stream of every packet parses the same whole, split at any byte, and
 * a byte at a time. */
static void test_split_every_byte(void **state)
{
	(void)state;
	static const uint8_t versions[] = { JN_MQTT_V311, JN_MQTT_V5 };
	for (size_t vi = 0; vi < 2; vi++) {
		uint8_t v = versions[vi];
		struct jn_mqtt_pkt pk[20];
		int n = all_packets(v, pk);
		uint8_t stream[8192];
		size_t len = 0;
		for (int i = 0; i < n; i++) {
			/* CONNECT sets its own version; keep the rest at v */
			len += enc(&pk[i], stream + len, sizeof stream - len);
		}
		struct seen whole = { 0 };
		assert_int_equal(parse_all(stream, len, v, 0, &whole), 0);
		assert_int_equal(whole.n, n);
		for (size_t cut = 0; cut <= len; cut++) {
			struct seen s = { 0 };
			assert_int_equal(parse_cuts(stream, len, v, 0, &cut, 1, &s), 0);
			assert_int_equal(s.len, whole.len);
			assert_memory_equal(s.buf, whole.buf, whole.len);
			free(s.buf);
		}
		size_t *cuts = malloc(len * sizeof *cuts);
		for (size_t i = 0; i < len; i++)
			cuts[i] = i + 1;
		struct seen s = { 0 };
		assert_int_equal(parse_cuts(stream, len, v, 0, cuts, len - 1, &s), 0);
		assert_int_equal(s.len, whole.len);
		assert_memory_equal(s.buf, whole.buf, whole.len);
		free(s.buf);
		free(cuts);
		free(whole.buf);
	}
}

struct bad_row {
	const char *what;
	uint8_t version;
	const char *bytes;
	size_t len;
	int err;
};

#define BAD(what, v, s, e) { what, v, s, sizeof(s) - 1, e }

static const struct bad_row bad_rows[] = {
	BAD("reserved type 0", 4, "\x00\x00", -JN_EINVAL),
	BAD("AUTH in 3.1.1", 4, "\xf0\x00", -JN_EINVAL),
	BAD("5-byte remaining length", 4, "\x30\xff\xff\xff\xff\x01", -JN_EINVAL),
	BAD("PUBREL flags 0000", 4, "\x60\x02\x00\x01", -JN_EINVAL),
	BAD("SUBSCRIBE flags 0000", 4, "\x80\x06\x00\x01\x00\x01" "a" "\x00", -JN_EINVAL),
	BAD("UNSUBSCRIBE flags 0011", 4, "\xa3\x05\x00\x01\x00\x01" "a", -JN_EINVAL),
	BAD("PINGREQ flags", 4, "\xc1\x00", -JN_EINVAL),
	BAD("PINGREQ with a body", 4, "\xc0\x01\x00", -JN_EINVAL),
	BAD("DISCONNECT with a body (3.1.1)", 4, "\xe0\x01\x00", -JN_EINVAL),
	BAD("PUBLISH QoS 3", 4, "\x36\x05\x00\x01" "a" "\x00\x01", -JN_EINVAL),
	BAD("PUBLISH QoS 1 pid 0", 4, "\x32\x05\x00\x01" "a" "\x00\x00", -JN_EPROTO),
	BAD("PUBLISH QoS 0 DUP", 4, "\x38\x03\x00\x01" "a", -JN_EPROTO),
	BAD("PUBLISH empty topic (3.1.1)", 4, "\x30\x02\x00\x00", -JN_EPROTO),
	BAD("PUBLISH topic longer than the body", 4, "\x30\x03\x00\x05" "a", -JN_EINVAL),
	BAD("PUBLISH topic not UTF-8", 4, "\x30\x04\x00\x02\xc3\x28", -JN_EINVAL),
	BAD("PUBLISH topic with U+0000", 4, "\x30\x04\x00\x02" "a\x00", -JN_EINVAL),
	BAD("PUBLISH topic overlong UTF-8", 4, "\x30\x04\x00\x02\xc0\xaf", -JN_EINVAL),
	BAD("PUBLISH topic surrogate", 4, "\x30\x05\x00\x03\xed\xa0\x80", -JN_EINVAL),
	BAD("PUBLISH QoS 1 without pid", 4, "\x32\x03\x00\x01" "a", -JN_EINVAL),
	BAD("PUBACK short", 4, "\x40\x01\x00", -JN_EINVAL),
	BAD("PUBACK long (3.1.1)", 4, "\x40\x03\x00\x01\x00", -JN_EINVAL),
	BAD("PUBACK pid 0", 4, "\x40\x02\x00\x00", -JN_EPROTO),
	BAD("SUBSCRIBE no filters", 4, "\x82\x02\x00\x01", -JN_EPROTO),
	BAD("SUBSCRIBE QoS 3", 4, "\x82\x06\x00\x01\x00\x01" "a" "\x03", -JN_EINVAL),
	BAD("SUBSCRIBE reserved bits (3.1.1)", 4, "\x82\x06\x00\x01\x00\x01" "a" "\x04", -JN_EINVAL),
	BAD("SUBSCRIBE missing options", 4, "\x82\x05\x00\x01\x00\x01" "a", -JN_EINVAL),
	BAD("SUBSCRIBE empty filter", 4, "\x82\x05\x00\x01\x00\x00\x00", -JN_EPROTO),
	BAD("SUBSCRIBE pid 0", 4, "\x82\x06\x00\x00\x00\x01" "a" "\x00", -JN_EPROTO),
	BAD("UNSUBSCRIBE no filters", 4, "\xa2\x02\x00\x01", -JN_EPROTO),
	BAD("CONNECT reserved flag", 0, "\x10\x0c\x00\x04MQTT\x04\x03\x00\x3c\x00\x00", -JN_EINVAL),
	BAD("CONNECT will QoS without will", 0, "\x10\x0c\x00\x04MQTT\x04\x0a\x00\x3c\x00\x00", -JN_EINVAL),
	BAD("CONNECT will retain without will", 0, "\x10\x0c\x00\x04MQTT\x04\x22\x00\x3c\x00\x00", -JN_EINVAL),
	BAD("CONNECT will QoS 3", 0, "\x10\x12\x00\x04MQTT\x04\x1e\x00\x3c\x00\x00\x00\x01t\x00\x01m", -JN_EINVAL),
	BAD("CONNECT password without user (3.1.1)", 0, "\x10\x10\x00\x04MQTT\x04\x42\x00\x3c\x00\x00\x00\x02pw", -JN_EINVAL),
	BAD("CONNECT bad protocol name", 0, "\x10\x0c\x00\x04MQTX\x04\x02\x00\x3c\x00\x00", -JN_EPROTO),
	BAD("CONNECT truncated", 0, "\x10\x0a\x00\x04MQTT\x04\x02\x00\x3c", -JN_EINVAL),
	BAD("CONNECT trailing bytes", 0, "\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x00\x00", -JN_EINVAL),
	BAD("CONNECT user flag, no user", 0, "\x10\x0c\x00\x04MQTT\x04\x82\x00\x3c\x00\x00", -JN_EINVAL),
	BAD("CONNECT client id not UTF-8", 0, "\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01\xff", -JN_EINVAL),
	/* 5.0 properties */
	BAD("v5 CONNECT unknown property", 0, "\x10\x0f\x00\x04MQTT\x05\x02\x00\x3c\x02\x7f\x00\x00\x00", -JN_EINVAL),
	BAD("v5 CONNECT property not allowed", 0, "\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x03\x23\x00\x01\x00\x00", -JN_EPROTO),
	BAD("v5 CONNECT duplicate property", 0, "\x10\x13\x00\x04MQTT\x05\x02\x00\x3c\x06\x21\x00\x01\x21\x00\x01\x00\x00", -JN_EPROTO),
	BAD("v5 CONNECT receive maximum 0", 0, "\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x03\x21\x00\x00\x00\x00", -JN_EPROTO),
	BAD("v5 CONNECT property length past the body", 0, "\x10\x0d\x00\x04MQTT\x05\x02\x00\x3c\x09\x00\x00", -JN_EINVAL),
	BAD("v5 CONNECT truncated property", 0, "\x10\x0f\x00\x04MQTT\x05\x02\x00\x3c\x02\x21\x00\x00\x00", -JN_EINVAL),
	BAD("v5 CONNECT request problem info 2", 0, "\x10\x0f\x00\x04MQTT\x05\x02\x00\x3c\x02\x17\x02\x00\x00", -JN_EPROTO),
	BAD("v5 PUBLISH topic alias 0", 5, "\x30\x07\x00\x01" "a" "\x03\x23\x00\x00", -JN_EPROTO),
	BAD("v5 PUBLISH payload format 2", 5, "\x30\x06\x00\x01" "a" "\x02\x01\x02", -JN_EPROTO),
	BAD("v5 PUBLISH missing property length", 5, "\x30\x03\x00\x01" "a", -JN_EINVAL),
	BAD("v5 PUBLISH subscription id 0", 5, "\x30\x06\x00\x01" "a" "\x02\x0b\x00", -JN_EPROTO),
	BAD("v5 PUBLISH session expiry", 5, "\x30\x09\x00\x01" "a" "\x05\x11\x00\x00\x00\x01", -JN_EPROTO),
	BAD("v5 PUBLISH user property bad UTF-8", 5, "\x30\x0b\x00\x01" "a" "\x07\x26\x00\x01\xff\x00\x01v", -JN_EINVAL),
	BAD("v5 SUBSCRIBE two subscription ids", 5, "\x82\x0b\x00\x01\x04\x0b\x01\x0b\x02\x00\x01" "a" "\x00", -JN_EPROTO),
	BAD("v5 SUBSCRIBE reserved option bits", 5, "\x82\x07\x00\x01\x00\x00\x01" "a" "\x40", -JN_EINVAL),
	BAD("v5 SUBSCRIBE retain handling 3", 5, "\x82\x07\x00\x01\x00\x00\x01" "a" "\x30", -JN_EINVAL),
	BAD("v5 PUBACK property block past the end", 5, "\x40\x04\x00\x01\x00\x05", -JN_EINVAL),
	BAD("v5 DISCONNECT server reference ok, then junk", 5, "\xe0\x03\x00\x00\x00", -JN_EINVAL),
	BAD("v5 AUTH bad property", 5, "\xf0\x04\x18\x02\x21\x00", -JN_EINVAL),
	BAD("v5 AUTH property not allowed", 5, "\xf0\x05\x18\x03\x21\x00\x01", -JN_EPROTO),
};

static void test_malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_rows / sizeof bad_rows[0]; i++) {
		const struct bad_row *r = &bad_rows[i];
		struct seen s = { 0 };
		int rc = parse_all((const uint8_t *)r->bytes, r->len, r->version, 0, &s);
		if (rc != r->err)
			fail_msg("%s: got %d (%d packets), expected %d", r->what, rc, s.n, r->err);
		if (s.n != 0)
			fail_msg("%s: a packet was delivered", r->what);
		/* the same split at every byte */
		for (size_t cut = 0; cut <= r->len; cut++) {
			struct seen t = { 0 };
			rc = parse_cuts((const uint8_t *)r->bytes, r->len, r->version, 0, &cut, 1, &t);
			if (rc != r->err)
				fail_msg("%s split at %zu: got %d, expected %d", r->what, cut, rc, r->err);
			free(t.buf);
		}
		free(s.buf);
	}
}

static void test_packet_size_limit(void **state)
{
	(void)state;
	/* A PUBLISH announcing 1000 bytes under a 100-byte limit fails on the
	 * length, before any body byte, holding nothing. */
	uint8_t hdr[] = { 0x30, 0xe8, 0x07 };
	struct jn_mqtt_parser p;
	jn_mqtt_parser_init(&p, 100);
	struct seen s = { 0 };
	assert_int_equal(jn_mqtt_parse(&p, hdr, sizeof hdr, record, &s), -JN_EMAXPAYLOAD);
	assert_int_equal(jn_mqtt_parser_held(&p), 0);
	jn_mqtt_parser_fini(&p);
	/* The limit counts the whole packet: 100 bytes exactly pass. */
	uint8_t pkt[100] = { 0x30, 98, 0, 1, 'a' };
	jn_mqtt_parser_init(&p, 100);
	assert_int_equal(jn_mqtt_parse(&p, pkt, sizeof pkt, record, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.last.publish.payload.len, 95);
	pkt[1] = 99;
	assert_int_equal(jn_mqtt_parse(&p, pkt, 2, record, &s), -JN_EMAXPAYLOAD);
	jn_mqtt_parser_fini(&p);
	free(s.buf);

	/* The largest Remaining Length is accepted by the framing, and the
	 * scratch grows only with what arrives. */
	uint8_t big[] = { 0x30, 0xff, 0xff, 0xff, 0x7f, 0, 1, 'a' };
	jn_mqtt_parser_init(&p, 0);
	memset(&s, 0, sizeof s);
	assert_int_equal(jn_mqtt_parse(&p, big, sizeof big, record, &s), 0);
	assert_int_equal(s.n, 0);
	assert_true(jn_mqtt_parser_held(&p) <= 256);
	jn_mqtt_parser_fini(&p);
	assert_int_equal(jn_mqtt_parser_held(&p), 0);
}

static void test_scratch_released(void **state)
{
	(void)state;
	size_t mem0 = jn_mem_used();
	static const uint8_t pub[] = { 0x30, 0x08, 0, 3, 'a', '/', 'b', 'x', 'y', 'z' };
	struct jn_mqtt_parser p;
	jn_mqtt_parser_init(&p, 0);
	struct seen s = { 0 };
	assert_int_equal(jn_mqtt_parse(&p, pub, 5, record, &s), 0);
	assert_true(jn_mqtt_parser_held(&p) > 0);
	assert_int_equal(jn_mqtt_parse(&p, pub + 5, sizeof pub - 5, record, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(jn_mqtt_parser_held(&p), 0);
	assert_int_equal(jn_mem_used(), mem0);
	/* A callback error stops the parse and is returned. */
	jn_mqtt_parser_fini(&p);
	free(s.buf);
}

static int stop_cb(void *ctx, const struct jn_mqtt_pkt *p)
{
	(void)p;
	(*(int *)ctx)++;
	return -JN_ECLOSED;
}

static void test_callback_stops(void **state)
{
	(void)state;
	static const uint8_t two[] = { 0xc0, 0x00, 0xc0, 0x00 };
	struct jn_mqtt_parser p;
	jn_mqtt_parser_init(&p, 0);
	int n = 0;
	assert_int_equal(jn_mqtt_parse(&p, two, sizeof two, stop_cb, &n), -JN_ECLOSED);
	assert_int_equal(n, 1);
	jn_mqtt_parser_fini(&p);
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(jn_mqtt_utf8_valid((const uint8_t *)"", 0));
	assert_true(jn_mqtt_utf8_valid((const uint8_t *)"abc", 3));
	assert_true(jn_mqtt_utf8_valid((const uint8_t *)"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
	assert_false(jn_mqtt_utf8_valid((const uint8_t *)"\xc3", 1));
	assert_false(jn_mqtt_utf8_valid((const uint8_t *)"\xe0\x80\xaf", 3));   /* overlong */
	assert_false(jn_mqtt_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(jn_mqtt_utf8_valid((const uint8_t *)"\xff", 1));
	assert_false(jn_mqtt_utf8_valid((const uint8_t *)"a\0b", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_bytes),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_split_every_byte),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_packet_size_limit),
		cmocka_unit_test(test_scratch_released),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
