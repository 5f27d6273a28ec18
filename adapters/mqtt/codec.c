/*
 * codec.c - MQTT packets: the resumable framing state machine, the body
 * decoder for every packet type of 3.1/3.1.1 and 5.0, and the encoder.
 *
 * Owns: byte-level rules only (codec.h lists them and the error codes).
 * Untrusted bytes go through `struct rd`, whose every read checks the
 * remaining length first and fails as malformed; nothing is read past the
 * body. The encoder takes trusted packets and asserts what it assumes.
 *
 * Framing states:
 *   S_FIRST  waiting for the type/flags byte
 *   S_LEN    reading the Remaining Length, 7 bits per byte, at most 4 bytes
 *   S_BODY   gathering Remaining Length bytes in scratch (only when the
 *            body did not arrive whole in one buffer)
 * The packet-size limit is checked as soon as the length is known, before
 * any body byte is buffered.
 */
#include "adapters/mqtt/codec.h"

#include <assert.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

/* ---- reading untrusted bytes ---------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static size_t rd_left(const struct rd *r)
{
	return r->len - r->pos;
}

static int rd_u8(struct rd *r, uint8_t *v)
{
	if (rd_left(r) < 1)
		return -JN_EINVAL;
	*v = r->p[r->pos++];
	return 0;
}

static int rd_u16(struct rd *r, uint16_t *v)
{
	if (rd_left(r) < 2)
		return -JN_EINVAL;
	*v = (uint16_t)((r->p[r->pos] << 8) | r->p[r->pos + 1]);
	r->pos += 2;
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
	if (rd_left(r) < 4)
		return -JN_EINVAL;
	const uint8_t *b = r->p + r->pos;
	*v = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
	r->pos += 4;
	return 0;
}

static int rd_varint(struct rd *r, uint32_t *v)
{
	uint32_t val = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t b;
		if (rd_u8(r, &b) < 0)
			return -JN_EINVAL;
		val |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = val;
			return 0;
		}
	}
	return -JN_EINVAL;   /* a fifth byte */
}

static int rd_bin(struct rd *r, struct jn_mqtt_bin *b)
{
	uint16_t n;
	if (rd_u16(r, &n) < 0 || rd_left(r) < n)
		return -JN_EINVAL;
	b->p = r->p + r->pos;
	b->len = n;
	r->pos += n;
	return 0;
}

static int rd_str(struct rd *r, struct jn_mqtt_bin *b)
{
	if (rd_bin(r, b) < 0 || !jn_mqtt_utf8_valid(b->p, b->len))
		return -JN_EINVAL;
	return 0;
}

bool jn_mqtt_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = s[i];
		if (c < 0x80) {
			if (c == 0)
				return false;
			i++;
			continue;
		}
		uint32_t cp;
		size_t n;
		if ((c & 0xe0) == 0xc0) {
			cp = c & 0x1f;
			n = 1;
		} else if ((c & 0xf0) == 0xe0) {
			cp = c & 0x0f;
			n = 2;
		} else if ((c & 0xf8) == 0xf0) {
			cp = c & 0x07;
			n = 3;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			uint8_t cc = s[i + k];
			if ((cc & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (cc & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += n + 1;
	}
	return true;
}

/* ---- properties ----------------------------------------------------------- */

enum ptype { PT_BYTE = 1, PT_U16, PT_U32, PT_VARINT, PT_STR, PT_BIN, PT_PAIR };

/* Bit 0 of `where` stands for a CONNECT's will properties. */
#define W_WILL 1u
#define W(t) (1u << (t))
#define W_ACKS (W(JN_MQTT_PUBACK) | W(JN_MQTT_PUBREC) | W(JN_MQTT_PUBREL) | W(JN_MQTT_PUBCOMP))
#define W_ALL (0xfffeu | W_WILL)

struct pdef {
	uint8_t type;
	uint16_t where;
	bool bool_only;      /* byte that must be 0 or 1 */
	bool nonzero;        /* 0 is a protocol error */
};

static const struct pdef pdefs[0x2b] = {
	[JN_MQTT_P_PAYLOAD_FORMAT] = { PT_BYTE, W(JN_MQTT_PUBLISH) | W_WILL, true, false },
	[JN_MQTT_P_MESSAGE_EXPIRY] = { PT_U32, W(JN_MQTT_PUBLISH) | W_WILL, false, false },
	[JN_MQTT_P_CONTENT_TYPE] = { PT_STR, W(JN_MQTT_PUBLISH) | W_WILL, false, false },
	[JN_MQTT_P_RESPONSE_TOPIC] = { PT_STR, W(JN_MQTT_PUBLISH) | W_WILL, false, false },
	[JN_MQTT_P_CORRELATION_DATA] = { PT_BIN, W(JN_MQTT_PUBLISH) | W_WILL, false, false },
	[JN_MQTT_P_SUBSCRIPTION_ID] = { PT_VARINT, W(JN_MQTT_PUBLISH) | W(JN_MQTT_SUBSCRIBE), false, true },
	[JN_MQTT_P_SESSION_EXPIRY] = { PT_U32, W(JN_MQTT_CONNECT) | W(JN_MQTT_CONNACK) | W(JN_MQTT_DISCONNECT), false, false },
	[JN_MQTT_P_ASSIGNED_CLIENT_ID] = { PT_STR, W(JN_MQTT_CONNACK), false, false },
	[JN_MQTT_P_SERVER_KEEP_ALIVE] = { PT_U16, W(JN_MQTT_CONNACK), false, false },
	[JN_MQTT_P_AUTH_METHOD] = { PT_STR, W(JN_MQTT_CONNECT) | W(JN_MQTT_CONNACK) | W(JN_MQTT_AUTH), false, false },
	[JN_MQTT_P_AUTH_DATA] = { PT_BIN, W(JN_MQTT_CONNECT) | W(JN_MQTT_CONNACK) | W(JN_MQTT_AUTH), false, false },
	[JN_MQTT_P_REQUEST_PROBLEM_INFO] = { PT_BYTE, W(JN_MQTT_CONNECT), true, false },
	[JN_MQTT_P_WILL_DELAY] = { PT_U32, W_WILL, false, false },
	[JN_MQTT_P_REQUEST_RESPONSE_INFO] = { PT_BYTE, W(JN_MQTT_CONNECT), true, false },
	[JN_MQTT_P_RESPONSE_INFO] = { PT_STR, W(JN_MQTT_CONNACK), false, false },
	[JN_MQTT_P_SERVER_REFERENCE] = { PT_STR, W(JN_MQTT_CONNACK) | W(JN_MQTT_DISCONNECT), false, false },
	[JN_MQTT_P_REASON_STRING] = { PT_STR, W(JN_MQTT_CONNACK) | W_ACKS | W(JN_MQTT_SUBACK) |
	                              W(JN_MQTT_UNSUBACK) | W(JN_MQTT_DISCONNECT) | W(JN_MQTT_AUTH), false, false },
	[JN_MQTT_P_RECEIVE_MAX] = { PT_U16, W(JN_MQTT_CONNECT) | W(JN_MQTT_CONNACK), false, true },
	[JN_MQTT_P_TOPIC_ALIAS_MAX] = { PT_U16, W(JN_MQTT_CONNECT) | W(JN_MQTT_CONNACK), false, false },
	[JN_MQTT_P_TOPIC_ALIAS] = { PT_U16, W(JN_MQTT_PUBLISH), false, true },
	[JN_MQTT_P_MAX_QOS] = { PT_BYTE, W(JN_MQTT_CONNACK), true, false },
	[JN_MQTT_P_RETAIN_AVAILABLE] = { PT_BYTE, W(JN_MQTT_CONNACK), true, false },
	[JN_MQTT_P_USER] = { PT_PAIR, W_ALL, false, false },
	[JN_MQTT_P_MAX_PACKET_SIZE] = { PT_U32, W(JN_MQTT_CONNECT) | W(JN_MQTT_CONNACK), false, true },
	[JN_MQTT_P_WILDCARD_SUB_AVAILABLE] = { PT_BYTE, W(JN_MQTT_CONNACK), true, false },
	[JN_MQTT_P_SUB_ID_AVAILABLE] = { PT_BYTE, W(JN_MQTT_CONNACK), true, false },
	[JN_MQTT_P_SHARED_SUB_AVAILABLE] = { PT_BYTE, W(JN_MQTT_CONNACK), true, false },
};

static const struct pdef *pdef_of(uint32_t id)
{
	if (id >= sizeof pdefs / sizeof pdefs[0] || !pdefs[id].type)
		return NULL;
	return &pdefs[id];
}

/* Read a property block (length varint + properties) for packet kind
 * `where_bit` (a W() bit or W_WILL). */
static int rd_props(struct rd *r, unsigned where_bit, struct jn_mqtt_props *out)
{
	uint32_t n;
	memset(out, 0, sizeof *out);
	if (rd_varint(r, &n) < 0 || rd_left(r) < n)
		return -JN_EINVAL;
	struct rd pr = { r->p + r->pos, n, 0 };
	r->pos += n;
	int proto = 0;   /* protocol errors are reported after the whole block
	                    parsed: a malformed block is malformed first */
	while (rd_left(&pr) > 0) {
		uint32_t id;
		if (rd_varint(&pr, &id) < 0)
			return -JN_EINVAL;
		const struct pdef *d = pdef_of(id);
		if (!d)
			return -JN_EINVAL;
		if (!(d->where & where_bit))
			proto = -JN_EPROTO;
		bool multi = id == JN_MQTT_P_USER ||
		             (id == JN_MQTT_P_SUBSCRIPTION_ID && where_bit == W(JN_MQTT_PUBLISH));
		if (!multi && JN_MQTT_HAS(out, id))
			proto = -JN_EPROTO;
		JN_MQTT_SET(out, id);
		uint8_t b = 0;
		uint16_t h = 0;
		uint32_t w = 0;
		struct jn_mqtt_bin s = { 0 }, v = { 0 };
		int rc = 0;
		switch (d->type) {
		case PT_BYTE:
			rc = rd_u8(&pr, &b);
			w = b;
			break;
		case PT_U16:
			rc = rd_u16(&pr, &h);
			w = h;
			break;
		case PT_U32:
			rc = rd_u32(&pr, &w);
			break;
		case PT_VARINT:
			rc = rd_varint(&pr, &w);
			break;
		case PT_STR:
			rc = rd_str(&pr, &s);
			break;
		case PT_BIN:
			rc = rd_bin(&pr, &s);
			break;
		case PT_PAIR:
			rc = rd_str(&pr, &s);
			if (rc == 0)
				rc = rd_str(&pr, &v);
			break;
		}
		if (rc < 0)
			return rc;
		if ((d->bool_only && w > 1) || (d->nonzero && w == 0 && d->type != PT_STR))
			proto = -JN_EPROTO;
		switch (id) {
		case JN_MQTT_P_PAYLOAD_FORMAT: out->payload_format = b; break;
		case JN_MQTT_P_MESSAGE_EXPIRY: out->message_expiry = w; break;
		case JN_MQTT_P_CONTENT_TYPE: out->content_type = s; break;
		case JN_MQTT_P_RESPONSE_TOPIC: out->response_topic = s; break;
		case JN_MQTT_P_CORRELATION_DATA: out->correlation_data = s; break;
		case JN_MQTT_P_SUBSCRIPTION_ID:
			if (out->nsub_ids < JN_MQTT_MAX_SUBIDS)
				out->sub_ids[out->nsub_ids] = w;
			out->nsub_ids++;
			break;
		case JN_MQTT_P_SESSION_EXPIRY: out->session_expiry = w; break;
		case JN_MQTT_P_ASSIGNED_CLIENT_ID: out->assigned_client_id = s; break;
		case JN_MQTT_P_SERVER_KEEP_ALIVE: out->server_keep_alive = h; break;
		case JN_MQTT_P_AUTH_METHOD: out->auth_method = s; break;
		case JN_MQTT_P_AUTH_DATA: out->auth_data = s; break;
		case JN_MQTT_P_REQUEST_PROBLEM_INFO: out->request_problem_info = b; break;
		case JN_MQTT_P_WILL_DELAY: out->will_delay = w; break;
		case JN_MQTT_P_REQUEST_RESPONSE_INFO: out->request_response_info = b; break;
		case JN_MQTT_P_RESPONSE_INFO: out->response_info = s; break;
		case JN_MQTT_P_SERVER_REFERENCE: out->server_reference = s; break;
		case JN_MQTT_P_REASON_STRING: out->reason_string = s; break;
		case JN_MQTT_P_RECEIVE_MAX: out->receive_max = h; break;
		case JN_MQTT_P_TOPIC_ALIAS_MAX: out->topic_alias_max = h; break;
		case JN_MQTT_P_TOPIC_ALIAS: out->topic_alias = h; break;
		case JN_MQTT_P_MAX_QOS: out->max_qos = b; break;
		case JN_MQTT_P_RETAIN_AVAILABLE: out->retain_available = b; break;
		case JN_MQTT_P_USER: out->nuser++; break;
		case JN_MQTT_P_MAX_PACKET_SIZE: out->max_packet_size = w; break;
		case JN_MQTT_P_WILDCARD_SUB_AVAILABLE: out->wildcard_sub_available = b; break;
		case JN_MQTT_P_SUB_ID_AVAILABLE: out->sub_id_available = b; break;
		case JN_MQTT_P_SHARED_SUB_AVAILABLE: out->shared_sub_available = b; break;
		}
	}
	if (out->nuser) {
		out->user.p = pr.p;
		out->user.len = (uint32_t)pr.len;
	}
	return proto;
}

/* Skip one encoded property of a validated block. */
static bool skip_prop(struct rd *r, uint32_t id)
{
	const struct pdef *d = pdef_of(id);
	uint8_t b;
	uint16_t h;
	uint32_t w;
	struct jn_mqtt_bin s;
	if (!d)
		return false;
	switch (d->type) {
	case PT_BYTE: return rd_u8(r, &b) == 0;
	case PT_U16: return rd_u16(r, &h) == 0;
	case PT_U32: return rd_u32(r, &w) == 0;
	case PT_VARINT: return rd_varint(r, &w) == 0;
	case PT_STR:
	case PT_BIN: return rd_bin(r, &s) == 0;
	case PT_PAIR: return rd_bin(r, &s) == 0 && rd_bin(r, &s) == 0;
	}
	return false;
}

bool jn_mqtt_user_next(const struct jn_mqtt_bin *user, size_t *pos,
                       struct jn_mqtt_bin *key, struct jn_mqtt_bin *val)
{
	if (!user->p)
		return false;
	struct rd r = { user->p, user->len, *pos };
	while (rd_left(&r) > 0) {
		uint32_t id;
		if (rd_varint(&r, &id) < 0)
			return false;
		if (id == JN_MQTT_P_USER) {
			if (rd_bin(&r, key) < 0 || rd_bin(&r, val) < 0)
				return false;
			*pos = r.pos;
			return true;
		}
		if (!skip_prop(&r, id))
			return false;
	}
	*pos = r.pos;
	return false;
}

/* ---- packet bodies ------------------------------------------------------------ */

static int want_end(const struct rd *r)
{
	return rd_left(r) == 0 ? 0 : -JN_EINVAL;
}

/* Combine a structural result with a deferred protocol error: malformed
 * wins, because it means the rest could not even be read. */
static int first_err(int malformed, int proto)
{
	return malformed < 0 ? malformed : proto;
}

static int dec_connect(struct rd *r, struct jn_mqtt_pkt *o)
{
	struct jn_mqtt_connect *c = &o->connect;
	if (rd_bin(r, &c->proto_name) < 0 || rd_u8(r, &c->level) < 0)
		return -JN_EINVAL;
	bool mqtt = c->proto_name.len == 4 && memcmp(c->proto_name.p, "MQTT", 4) == 0;
	bool mqisdp = c->proto_name.len == 6 && memcmp(c->proto_name.p, "MQIsdp", 6) == 0;
	if (!mqtt && !mqisdp)
		return -JN_EPROTO;
	if ((mqtt && c->level != JN_MQTT_V311 && c->level != JN_MQTT_V5) ||
	    (mqisdp && c->level != JN_MQTT_V31)) {
		/* The engine answers "unacceptable protocol version". */
		c->unsupported = true;
		o->version = c->level;
		return 0;
	}
	o->version = c->level;
	bool v5 = c->level == JN_MQTT_V5;
	if (rd_u8(r, &c->flags) < 0 || rd_u16(r, &c->keep_alive) < 0)
		return -JN_EINVAL;
	uint8_t f = c->flags;
	if (f & 0x01)
		return -JN_EINVAL;   /* reserved bit [MQTT-3.1.2-3] */
	uint8_t wqos = (f & JN_MQTT_CF_WILL_QOS) >> 3;
	if (!(f & JN_MQTT_CF_WILL) && (wqos || (f & JN_MQTT_CF_WILL_RETAIN)))
		return -JN_EINVAL;   /* [MQTT-3.1.2-11/13/15] */
	if (wqos == 3)
		return -JN_EINVAL;   /* [MQTT-3.1.2-14] */
	if (!v5 && (f & JN_MQTT_CF_PASS) && !(f & JN_MQTT_CF_USER))
		return -JN_EINVAL;   /* [MQTT-3.1.2-22] */
	int proto = 0;
	if (v5) {
		int rc = rd_props(r, W(JN_MQTT_CONNECT), &o->props);
		if (rc == -JN_EINVAL)
			return rc;
		proto = rc;
	}
	if (rd_str(r, &c->client_id) < 0)
		return -JN_EINVAL;
	if (f & JN_MQTT_CF_WILL) {
		if (v5) {
			int rc = rd_props(r, W_WILL, &c->will_props);
			if (rc == -JN_EINVAL)
				return rc;
			if (!proto)
				proto = rc;
		}
		if (rd_str(r, &c->will_topic) < 0 || rd_bin(r, &c->will_payload) < 0)
			return -JN_EINVAL;
		if (!c->will_payload.p)
			c->will_payload.p = (const uint8_t *)"";
	}
	if ((f & JN_MQTT_CF_USER) && rd_str(r, &c->username) < 0)
		return -JN_EINVAL;
	if ((f & JN_MQTT_CF_PASS) && rd_bin(r, &c->password) < 0)
		return -JN_EINVAL;
	return first_err(want_end(r), proto);
}

static int dec_connack(struct rd *r, struct jn_mqtt_pkt *o)
{
	uint8_t flags;
	if (rd_u8(r, &flags) < 0 || rd_u8(r, &o->reason) < 0)
		return -JN_EINVAL;
	if (flags & 0xfe)
		return -JN_EINVAL;
	o->session_present = flags & 1;
	int proto = 0;
	if (o->version == JN_MQTT_V5) {
		proto = rd_props(r, W(JN_MQTT_CONNACK), &o->props);
		if (proto == -JN_EINVAL)
			return proto;
	}
	return first_err(want_end(r), proto);
}

static int dec_publish(struct rd *r, struct jn_mqtt_pkt *o)
{
	struct jn_mqtt_publish *p = &o->publish;
	p->qos = (o->flags >> 1) & 3;
	p->dup = o->flags & 8;
	p->retain = o->flags & 1;
	if (p->qos == 3)
		return -JN_EINVAL;   /* [MQTT-3.3.1-4] */
	if (rd_str(r, &p->topic) < 0)
		return -JN_EINVAL;
	if (p->qos > 0) {
		if (rd_u16(r, &o->pid) < 0)
			return -JN_EINVAL;
		if (o->pid == 0)
			return -JN_EPROTO;
	}
	int proto = 0;
	if (o->version == JN_MQTT_V5) {
		proto = rd_props(r, W(JN_MQTT_PUBLISH), &o->props);
		if (proto == -JN_EINVAL)
			return proto;
	}
	if (p->qos == 0 && p->dup && !proto)
		proto = -JN_EPROTO;   /* [MQTT-3.3.1-2] */
	if (p->topic.len == 0 && o->version != JN_MQTT_V5 && !proto)
		proto = -JN_EPROTO;   /* [MQTT-4.7.3-1]; 5.0 allows it with an alias */
	p->payload.p = r->p + r->pos;
	p->payload.len = (uint32_t)rd_left(r);
	r->pos = r->len;
	return proto;
}

/* PUBACK PUBREC PUBREL PUBCOMP: pid, then in 5.0 an optional reason code
 * and an optional property block. */
static int dec_ack(struct rd *r, struct jn_mqtt_pkt *o)
{
	if (rd_u16(r, &o->pid) < 0)
		return -JN_EINVAL;
	int proto = o->pid == 0 ? -JN_EPROTO : 0;
	if (o->version == JN_MQTT_V5) {
		if (rd_left(r) >= 1 && rd_u8(r, &o->reason) < 0)
			return -JN_EINVAL;
		if (rd_left(r) >= 1) {
			int rc = rd_props(r, 1u << o->type, &o->props);
			if (rc == -JN_EINVAL)
				return rc;
			if (!proto)
				proto = rc;
		}
	}
	return first_err(want_end(r), proto);
}

static int dec_subscribe(struct rd *r, struct jn_mqtt_pkt *o, bool unsub)
{
	if (rd_u16(r, &o->pid) < 0)
		return -JN_EINVAL;
	int proto = o->pid == 0 ? -JN_EPROTO : 0;
	if (o->version == JN_MQTT_V5) {
		int rc = rd_props(r, 1u << o->type, &o->props);
		if (rc == -JN_EINVAL)
			return rc;
		if (!proto)
			proto = rc;
	}
	o->list.raw.p = r->p + r->pos;
	o->list.raw.len = (uint32_t)rd_left(r);
	while (rd_left(r) > 0) {
		struct jn_mqtt_bin f;
		if (rd_str(r, &f) < 0)
			return -JN_EINVAL;
		if (f.len == 0 && !proto)
			proto = -JN_EPROTO;   /* [MQTT-4.7.3-1] */
		if (!unsub) {
			uint8_t opt;
			if (rd_u8(r, &opt) < 0)
				return -JN_EINVAL;
			uint8_t reserved = o->version == JN_MQTT_V5 ? 0xc0 : 0xfc;
			if ((opt & reserved) || (opt & 3) == 3 || ((opt >> 4) & 3) == 3)
				return -JN_EINVAL;   /* [MQTT-3.8.3-4], 5.0 §3.8.3.1 */
		}
		o->list.count++;
	}
	if (o->list.count == 0)
		return first_err(-JN_EPROTO, 0);   /* [MQTT-3.8.3-3] / [MQTT-3.10.3-2] */
	return proto;
}

static int dec_suback(struct rd *r, struct jn_mqtt_pkt *o)
{
	if (rd_u16(r, &o->pid) < 0)
		return -JN_EINVAL;
	int proto = 0;
	if (o->version == JN_MQTT_V5) {
		proto = rd_props(r, 1u << o->type, &o->props);
		if (proto == -JN_EINVAL)
			return proto;
	}
	o->list.raw.p = r->p + r->pos;
	o->list.raw.len = (uint32_t)rd_left(r);
	o->list.count = o->list.raw.len;
	r->pos = r->len;
	if (o->type == JN_MQTT_SUBACK && o->list.count == 0)
		return -JN_EINVAL;
	if (o->type == JN_MQTT_UNSUBACK && o->version != JN_MQTT_V5 && o->list.count)
		return -JN_EINVAL;
	return proto;
}

/* DISCONNECT and AUTH in 5.0: optional reason code, optional properties. */
static int dec_reason_props(struct rd *r, struct jn_mqtt_pkt *o)
{
	int proto = 0;
	if (rd_left(r) >= 1 && rd_u8(r, &o->reason) < 0)
		return -JN_EINVAL;
	if (rd_left(r) >= 1) {
		proto = rd_props(r, 1u << o->type, &o->props);
		if (proto == -JN_EINVAL)
			return proto;
	}
	return first_err(want_end(r), proto);
}

/* Fixed-header flags each type must carry (§2.2.2); PUBLISH is free. */
static int flags_ok(uint8_t type, uint8_t flags)
{
	switch (type) {
	case JN_MQTT_PUBLISH:
		return 1;
	case JN_MQTT_PUBREL:
	case JN_MQTT_SUBSCRIBE:
	case JN_MQTT_UNSUBSCRIBE:
		return flags == 2;
	default:
		return flags == 0;
	}
}

int jn_mqtt_decode(uint8_t first, const uint8_t *body, size_t len, uint8_t version,
                   struct jn_mqtt_pkt *out)
{
	memset(out, 0, sizeof *out);
	out->type = first >> 4;
	out->flags = first & 15;
	out->version = version ? version : JN_MQTT_V311;
	if (out->type == 0 || (out->type == JN_MQTT_AUTH && out->version != JN_MQTT_V5))
		return -JN_EINVAL;
	if (!flags_ok(out->type, out->flags))
		return -JN_EINVAL;
	struct rd r = { body, len, 0 };
	bool v5 = out->version == JN_MQTT_V5;
	switch (out->type) {
	case JN_MQTT_CONNECT:
		return dec_connect(&r, out);
	case JN_MQTT_CONNACK:
		return dec_connack(&r, out);
	case JN_MQTT_PUBLISH:
		return dec_publish(&r, out);
	case JN_MQTT_PUBACK:
	case JN_MQTT_PUBREC:
	case JN_MQTT_PUBREL:
	case JN_MQTT_PUBCOMP:
		return dec_ack(&r, out);
	case JN_MQTT_SUBSCRIBE:
		return dec_subscribe(&r, out, false);
	case JN_MQTT_UNSUBSCRIBE:
		return dec_subscribe(&r, out, true);
	case JN_MQTT_SUBACK:
	case JN_MQTT_UNSUBACK:
		return dec_suback(&r, out);
	case JN_MQTT_PINGREQ:
	case JN_MQTT_PINGRESP:
		return want_end(&r);
	case JN_MQTT_DISCONNECT:
		return v5 ? dec_reason_props(&r, out) : want_end(&r);
	case JN_MQTT_AUTH:
		return dec_reason_props(&r, out);
	}
	return -JN_EINVAL;
}

bool jn_mqtt_topics_next(const struct jn_mqtt_pkt *p, size_t *pos,
                         struct jn_mqtt_bin *filter, uint8_t *opts)
{
	struct rd r = { p->list.raw.p, p->list.raw.len, *pos };
	if (!r.p || rd_left(&r) == 0)
		return false;
	switch (p->type) {
	case JN_MQTT_SUBSCRIBE:
		if (rd_bin(&r, filter) < 0 || rd_u8(&r, opts) < 0)
			return false;
		break;
	case JN_MQTT_UNSUBSCRIBE:
		if (rd_bin(&r, filter) < 0)
			return false;
		*opts = 0;
		break;
	case JN_MQTT_SUBACK:
	case JN_MQTT_UNSUBACK:
		filter->p = NULL;
		filter->len = 0;
		if (rd_u8(&r, opts) < 0)
			return false;
		break;
	default:
		return false;
	}
	*pos = r.pos;
	return true;
}

/* ---- framing -------------------------------------------------------------- */

enum { S_FIRST = 0, S_LEN, S_BODY };

void jn_mqtt_parser_init(struct jn_mqtt_parser *p, uint32_t max_packet)
{
	memset(p, 0, sizeof *p);
	p->max_packet = max_packet;
}

static void scratch_free(struct jn_mqtt_parser *p)
{
	jn_free(p->scratch);
	p->scratch = NULL;
	p->have = p->cap = 0;
}

void jn_mqtt_parser_fini(struct jn_mqtt_parser *p)
{
	scratch_free(p);
	p->state = S_FIRST;
}

size_t jn_mqtt_parser_held(const struct jn_mqtt_parser *p)
{
	return p->cap;
}

size_t jn_mqtt_varint_size(uint32_t v)
{
	return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

static int deliver(struct jn_mqtt_parser *p, const uint8_t *body, jn_mqtt_pkt_fn fn, void *ctx)
{
	struct jn_mqtt_pkt pkt;
	int rc = jn_mqtt_decode(p->first, body, p->rem, p->version, &pkt);
	if (rc == 0) {
		pkt.size = 1 + p->len_bytes + p->rem;
		rc = fn(ctx, &pkt);
	}
	p->state = S_FIRST;
	if (p->scratch)
		scratch_free(p);
	return rc;
}

static int fail(struct jn_mqtt_parser *p, int rc)
{
	scratch_free(p);
	return rc;
}

int jn_mqtt_parse(struct jn_mqtt_parser *p, const uint8_t *buf, size_t len,
                  jn_mqtt_pkt_fn fn, void *ctx)
{
	size_t i = 0;
	while (i < len) {
		switch (p->state) {
		case S_FIRST:
			p->first = buf[i++];
			p->rem = 0;
			p->len_bytes = 0;
			if ((p->first >> 4) == 0)
				return fail(p, -JN_EINVAL);   /* reserved type */
			p->state = S_LEN;
			break;
		case S_LEN: {
			uint8_t b = buf[i++];
			p->rem |= (uint32_t)(b & 0x7f) << (7 * p->len_bytes);
			p->len_bytes++;
			if (b & 0x80) {
				if (p->len_bytes == 4)
					return fail(p, -JN_EINVAL);
				break;
			}
			uint64_t total = 1ull + p->len_bytes + p->rem;
			if (p->max_packet && total > p->max_packet)
				return fail(p, -JN_EMAXPAYLOAD);
			if (p->rem == 0) {
				int rc = deliver(p, buf + i, fn, ctx);
				if (rc < 0)
					return fail(p, rc);
				break;
			}
			p->state = S_BODY;
			p->have = 0;
			if (len - i >= p->rem) {   /* whole: decode in place */
				const uint8_t *body = buf + i;
				i += p->rem;
				int rc = deliver(p, body, fn, ctx);
				if (rc < 0)
					return fail(p, rc);
			}
			break;
		}
		case S_BODY: {
			size_t take = len - i;
			if (take > p->rem - p->have)
				take = p->rem - p->have;
			if (p->have + take > p->cap) {
				/* Grow with what arrives, not with what the length
				 * announces: a peer cannot make us reserve memory it
				 * does not send. */
				size_t ncap = p->cap ? p->cap : 256;
				while (ncap < p->have + take)
					ncap *= 2;
				if (ncap > p->rem)
					ncap = p->rem;
				uint8_t *ns = jn_realloc(p->scratch, ncap);
				if (!ns)
					return fail(p, -JN_ENOMEM);
				p->scratch = ns;
				p->cap = (uint32_t)ncap;
			}
			memcpy(p->scratch + p->have, buf + i, take);
			p->have += (uint32_t)take;
			i += take;
			if (p->have == p->rem) {
				int rc = deliver(p, p->scratch, fn, ctx);
				if (rc < 0)
					return fail(p, rc);
			}
			break;
		}
		}
	}
	return 0;
}

/* ---- encoding (trusted input) ------------------------------------------------ */

struct wr {
	uint8_t *p;
	size_t cap;
	size_t len;   /* may exceed cap: then nothing past cap was written */
};

static void w_bytes(struct wr *w, const void *src, size_t n)
{
	if (n && w->len + n <= w->cap)
		memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void w_u8(struct wr *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void w_u16(struct wr *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	w_bytes(w, b, 2);
}

static void w_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	w_bytes(w, b, 4);
}

static void w_varint(struct wr *w, uint32_t v)
{
	assert(v <= JN_MQTT_MAX_REMAINING);
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		if (v)
			b |= 0x80;
		w_u8(w, b);
	} while (v);
}

static void w_bin(struct wr *w, const struct jn_mqtt_bin *b)
{
	assert(b->len <= 65535);
	w_u16(w, (uint16_t)b->len);
	w_bytes(w, b->p, b->len);
}

size_t jn_mqtt_user_put(uint8_t *buf, size_t cap, const void *key, size_t klen,
                        const void *val, size_t vlen)
{
	struct wr w = { buf, cap, 0 };
	struct jn_mqtt_bin k = { key, (uint32_t)klen }, v = { val, (uint32_t)vlen };
	w_u8(&w, JN_MQTT_P_USER);
	w_bin(&w, &k);
	w_bin(&w, &v);
	return w.len;
}

static void w_props_body(struct wr *w, const struct jn_mqtt_props *p)
{
	for (uint32_t id = 1; id < sizeof pdefs / sizeof pdefs[0]; id++) {
		if (!JN_MQTT_HAS(p, id) || id == JN_MQTT_P_USER)
			continue;
		assert(pdef_of(id) != NULL);
		if (id == JN_MQTT_P_SUBSCRIPTION_ID) {
			uint32_t n = p->nsub_ids < JN_MQTT_MAX_SUBIDS ? p->nsub_ids : JN_MQTT_MAX_SUBIDS;
			for (uint32_t k = 0; k < n; k++) {
				w_u8(w, (uint8_t)id);
				w_varint(w, p->sub_ids[k]);
			}
			continue;
		}
		w_u8(w, (uint8_t)id);
		switch (id) {
		case JN_MQTT_P_PAYLOAD_FORMAT: w_u8(w, p->payload_format); break;
		case JN_MQTT_P_MESSAGE_EXPIRY: w_u32(w, p->message_expiry); break;
		case JN_MQTT_P_CONTENT_TYPE: w_bin(w, &p->content_type); break;
		case JN_MQTT_P_RESPONSE_TOPIC: w_bin(w, &p->response_topic); break;
		case JN_MQTT_P_CORRELATION_DATA: w_bin(w, &p->correlation_data); break;
		case JN_MQTT_P_SESSION_EXPIRY: w_u32(w, p->session_expiry); break;
		case JN_MQTT_P_ASSIGNED_CLIENT_ID: w_bin(w, &p->assigned_client_id); break;
		case JN_MQTT_P_SERVER_KEEP_ALIVE: w_u16(w, p->server_keep_alive); break;
		case JN_MQTT_P_AUTH_METHOD: w_bin(w, &p->auth_method); break;
		case JN_MQTT_P_AUTH_DATA: w_bin(w, &p->auth_data); break;
		case JN_MQTT_P_REQUEST_PROBLEM_INFO: w_u8(w, p->request_problem_info); break;
		case JN_MQTT_P_WILL_DELAY: w_u32(w, p->will_delay); break;
		case JN_MQTT_P_REQUEST_RESPONSE_INFO: w_u8(w, p->request_response_info); break;
		case JN_MQTT_P_RESPONSE_INFO: w_bin(w, &p->response_info); break;
		case JN_MQTT_P_SERVER_REFERENCE: w_bin(w, &p->server_reference); break;
		case JN_MQTT_P_REASON_STRING: w_bin(w, &p->reason_string); break;
		case JN_MQTT_P_RECEIVE_MAX: w_u16(w, p->receive_max); break;
		case JN_MQTT_P_TOPIC_ALIAS_MAX: w_u16(w, p->topic_alias_max); break;
		case JN_MQTT_P_TOPIC_ALIAS: w_u16(w, p->topic_alias); break;
		case JN_MQTT_P_MAX_QOS: w_u8(w, p->max_qos); break;
		case JN_MQTT_P_RETAIN_AVAILABLE: w_u8(w, p->retain_available); break;
		case JN_MQTT_P_MAX_PACKET_SIZE: w_u32(w, p->max_packet_size); break;
		case JN_MQTT_P_WILDCARD_SUB_AVAILABLE: w_u8(w, p->wildcard_sub_available); break;
		case JN_MQTT_P_SUB_ID_AVAILABLE: w_u8(w, p->sub_id_available); break;
		case JN_MQTT_P_SHARED_SUB_AVAILABLE: w_u8(w, p->shared_sub_available); break;
		}
	}
	size_t pos = 0;
	struct jn_mqtt_bin k, v;
	while (jn_mqtt_user_next(&p->user, &pos, &k, &v)) {
		w_u8(w, JN_MQTT_P_USER);
		w_bin(w, &k);
		w_bin(w, &v);
	}
}

static void w_props(struct wr *w, const struct jn_mqtt_props *p)
{
	struct wr count = { NULL, 0, 0 };
	w_props_body(&count, p);
	w_varint(w, (uint32_t)count.len);
	w_props_body(w, p);
}

static bool has_props(const struct jn_mqtt_props *p)
{
	return p->present != 0;
}

static void w_body(struct wr *w, const struct jn_mqtt_pkt *p, bool omit_payload)
{
	bool v5 = p->version == JN_MQTT_V5;
	switch (p->type) {
	case JN_MQTT_CONNECT: {
		const struct jn_mqtt_connect *c = &p->connect;
		struct jn_mqtt_bin name = c->proto_name;
		if (!name.p) {
			name.p = (const uint8_t *)(p->version == JN_MQTT_V31 ? "MQIsdp" : "MQTT");
			name.len = p->version == JN_MQTT_V31 ? 6 : 4;
		}
		w_bin(w, &name);
		w_u8(w, c->level ? c->level : p->version);
		w_u8(w, c->flags);
		w_u16(w, c->keep_alive);
		if (v5)
			w_props(w, &p->props);
		struct jn_mqtt_bin cid = c->client_id;
		w_bin(w, &cid);
		if (c->flags & JN_MQTT_CF_WILL) {
			if (v5)
				w_props(w, &c->will_props);
			w_bin(w, &c->will_topic);
			w_bin(w, &c->will_payload);
		}
		if (c->flags & JN_MQTT_CF_USER)
			w_bin(w, &c->username);
		if (c->flags & JN_MQTT_CF_PASS)
			w_bin(w, &c->password);
		break;
	}
	case JN_MQTT_CONNACK:
		w_u8(w, p->session_present ? 1 : 0);
		w_u8(w, p->reason);
		if (v5)
			w_props(w, &p->props);
		break;
	case JN_MQTT_PUBLISH:
		w_bin(w, &p->publish.topic);
		if (p->publish.qos)
			w_u16(w, p->pid);
		if (v5)
			w_props(w, &p->props);
		if (omit_payload)
			w->len += p->publish.payload.len;
		else
			w_bytes(w, p->publish.payload.p, p->publish.payload.len);
		break;
	case JN_MQTT_PUBACK:
	case JN_MQTT_PUBREC:
	case JN_MQTT_PUBREL:
	case JN_MQTT_PUBCOMP:
		w_u16(w, p->pid);
		/* 5.0 §3.4.2.1: reason and properties may be left out when the
		 * reason is Success and there are no properties. */
		if (v5 && (p->reason || has_props(&p->props))) {
			w_u8(w, p->reason);
			if (has_props(&p->props))
				w_props(w, &p->props);
		}
		break;
	case JN_MQTT_SUBSCRIBE:
	case JN_MQTT_UNSUBSCRIBE:
	case JN_MQTT_SUBACK:
	case JN_MQTT_UNSUBACK:
		w_u16(w, p->pid);
		if (v5)
			w_props(w, &p->props);
		if (p->type != JN_MQTT_UNSUBACK || v5)
			w_bytes(w, p->list.raw.p, p->list.raw.len);
		break;
	case JN_MQTT_PINGREQ:
	case JN_MQTT_PINGRESP:
		break;
	case JN_MQTT_DISCONNECT:
	case JN_MQTT_AUTH:
		if (v5 && (p->reason || has_props(&p->props))) {
			w_u8(w, p->reason);
			if (has_props(&p->props))
				w_props(w, &p->props);
		}
		break;
	default:
		assert(0 && "unknown packet type");
	}
}

size_t jn_mqtt_encode(const struct jn_mqtt_pkt *p, uint8_t *buf, size_t cap, bool omit_payload)
{
	struct wr count = { NULL, 0, 0 };
	w_body(&count, p, true);
	size_t body = count.len;
	assert(body <= JN_MQTT_MAX_REMAINING);
	uint8_t first = (uint8_t)(p->type << 4);
	switch (p->type) {
	case JN_MQTT_PUBLISH:
		first |= (uint8_t)((p->publish.dup ? 8 : 0) | (p->publish.qos << 1) |
		                   (p->publish.retain ? 1 : 0));
		break;
	case JN_MQTT_PUBREL:
	case JN_MQTT_SUBSCRIBE:
	case JN_MQTT_UNSUBSCRIBE:
		first |= 2;
		break;
	default:
		break;
	}
	size_t total = 1 + jn_mqtt_varint_size((uint32_t)body) + body;
	size_t out_len = omit_payload && p->type == JN_MQTT_PUBLISH ? total - p->publish.payload.len
	                                                             : total;
	if (out_len > cap)
		return total;
	struct wr w = { buf, cap, 0 };
	w_u8(&w, first);
	w_varint(&w, (uint32_t)body);
	w_body(&w, p, omit_payload);
	return total;
}
