/*
 * message.c - an MQTT PUBLISH as a NATS message and back.
 *
 * MQTT -> NATS: the subject is the mapped topic (topic.h), the header block
 * carries what MQTT adds to the payload:
 *   Nmqtt-Pub:<qos>[<flags hex>]   always (nats-server's header; the flags
 *                                   digit only when RETAIN is set)
 *   Nmqtt-Exp:<seconds>            5.0 Message Expiry Interval
 *   Nmqtt-Ct:<content type>        5.0 Content Type
 *   Nmqtt-Pfi:1                    5.0 Payload Format Indicator (UTF-8)
 *   Nmqtt-Corr:<base64>            5.0 Correlation Data
 *   <key>: <value>                 5.0 User Properties, in order
 * and the 5.0 Response Topic becomes the reply subject, so an MQTT 5
 * requester and a NATS responder (or the reverse) talk request/reply.
 * NATS -> MQTT 5: the reverse; every header that is not Nmqtt-* becomes a
 * User Property, so NATS headers reach MQTT 5 subscribers. 3.1.1
 * subscribers get only the topic and the payload.
 *
 * A user property whose key could not be a NATS header name (it needs
 * visible ASCII without ':') or whose value holds CR or LF is not carried;
 * neither is a content type with CR or LF. Everything else round-trips.
 */
#include <stdio.h>
#include <string.h>

#include "adapters/mqtt/message.h"
#include "adapters/mqtt/topic.h"
#include "core/base64.h"
#include "core/header.h"

/* ---- MQTT -> NATS ----------------------------------------------------------- */

struct hb {
	uint8_t *p;
	size_t cap, len;
};

static void hb_put(struct hb *b, const void *s, size_t n)
{
	if (n && b->len + n <= b->cap)
		memcpy(b->p + b->len, s, n);
	b->len += n;
}

static bool has_crlf(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\r' || s[i] == '\n')
			return true;
	return false;
}

static bool header_name_ok(const uint8_t *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == ':')
			return false;
	return true;
}

size_t jn__mqtt_build_hdr(uint8_t qos, bool retain, const struct jn_mqtt_props *props,
                          uint8_t *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	struct hb b = { out, cap, 0 };
	hb_put(&b, "NATS/1.0\r\n" MQ_HDR_PUB ":", 10 + sizeof MQ_HDR_PUB);
	char q[2] = { (char)('0' + qos), hex[(qos << 1) | 1] };
	hb_put(&b, q, retain ? 2 : 1);
	hb_put(&b, "\r\n", 2);
	if (props) {
		if (JN_MQTT_HAS(props, JN_MQTT_P_MESSAGE_EXPIRY)) {
			char num[16];
			int n = snprintf(num, sizeof num, "%u", props->message_expiry);
			hb_put(&b, MQ_HDR_EXPIRY ":", sizeof MQ_HDR_EXPIRY);
			hb_put(&b, num, (size_t)n);
			hb_put(&b, "\r\n", 2);
		}
		const struct jn_mqtt_bin *ct = &props->content_type;
		if (JN_MQTT_HAS(props, JN_MQTT_P_CONTENT_TYPE) && !has_crlf(ct->p, ct->len)) {
			hb_put(&b, MQ_HDR_CTYPE ":", sizeof MQ_HDR_CTYPE);
			hb_put(&b, ct->p, ct->len);
			hb_put(&b, "\r\n", 2);
		}
		if (JN_MQTT_HAS(props, JN_MQTT_P_PAYLOAD_FORMAT) && props->payload_format == 1)
			hb_put(&b, MQ_HDR_PFI ":1\r\n", sizeof MQ_HDR_PFI + 3);
		const struct jn_mqtt_bin *cd = &props->correlation_data;
		if (JN_MQTT_HAS(props, JN_MQTT_P_CORRELATION_DATA)) {
			hb_put(&b, MQ_HDR_CORR ":", sizeof MQ_HDR_CORR);
			size_t need = jn_base64_len(cd->len);
			if (b.len + need <= b.cap)
				jn_base64_encode(cd->p, cd->len, (char *)b.p + b.len);
			b.len += need;
			hb_put(&b, "\r\n", 2);
		}
		size_t pos = 0;
		struct jn_mqtt_bin k, v;
		while (jn_mqtt_user_next(&props->user, &pos, &k, &v)) {
			if (!header_name_ok(k.p, k.len) || has_crlf(v.p, v.len))
				continue;
			hb_put(&b, k.p, k.len);
			hb_put(&b, ": ", 2);
			hb_put(&b, v.p, v.len);
			hb_put(&b, "\r\n", 2);
		}
	}
	hb_put(&b, "\r\n", 2);
	return b.len;
}

/* ---- NATS -> MQTT 5 properties ------------------------------------------------- */

static bool key_is(const char *k, size_t kl, const char *name)
{
	size_t n = strlen(name);
	return kl == n && memcmp(k, name, n) == 0;
}

static void w_u8(struct hb *b, uint8_t v)
{
	hb_put(b, &v, 1);
}

static void w_str(struct hb *b, const void *s, size_t n)
{
	uint8_t l[2] = { (uint8_t)(n >> 8), (uint8_t)n };
	hb_put(b, l, 2);
	hb_put(b, s, n);
}

size_t jn__mqtt_props_bound(const struct jn_msg *m)
{
	/* A header line "k:v\r\n" (4 bytes of framing) becomes 5 bytes of
	 * framing as a user property; the reply grows by the topic's 2-byte
	 * length; plus the fixed properties. */
	return (size_t)m->hdr_len * 2 + m->reply_len + 64;
}

size_t jn__mqtt_props_from_msg(const struct jn_msg *m, uint32_t expiry_s, bool has_expiry,
                               uint32_t sub_id, uint8_t *out, size_t cap)
{
	struct hb b = { out, cap, 0 };
	if (has_expiry) {
		uint8_t e[5] = { JN_MQTT_P_MESSAGE_EXPIRY, (uint8_t)(expiry_s >> 24),
		                 (uint8_t)(expiry_s >> 16), (uint8_t)(expiry_s >> 8), (uint8_t)expiry_s };
		hb_put(&b, e, 5);
	}
	if (sub_id) {
		w_u8(&b, JN_MQTT_P_SUBSCRIPTION_ID);
		uint32_t v = sub_id;
		do {
			uint8_t x = v & 0x7f;
			v >>= 7;
			if (v)
				x |= 0x80;
			w_u8(&b, x);
		} while (v);
	}
	if (m->reply_len && m->reply_len <= 65535) {
		/* the reply subject as the Response Topic; it shrinks or keeps
		 * its length through the mapping */
		size_t at = b.len + 3;
		w_u8(&b, JN_MQTT_P_RESPONSE_TOPIC);
		hb_put(&b, "\0\0", 2);
		if (at + m->reply_len <= b.cap) {
			size_t tl = jn_mqtt_subject_to_topic(m->reply, m->reply_len, (char *)b.p + at);
			if (jn_mqtt_utf8_valid(b.p + at, tl) && tl > 0) {
				b.p[at - 2] = (uint8_t)(tl >> 8);
				b.p[at - 1] = (uint8_t)tl;
				b.len = at + tl;
			} else {
				b.len = at - 3;   /* not a topic an MQTT client could use */
			}
		} else {
			b.len = at + m->reply_len;   /* overflow: just count */
		}
	}
	if (m->hdr_len) {
		size_t pos = 0;
		const char *k, *v;
		size_t kl, vl;
		while (jn_hdr_next(m->hdr, m->hdr_len, &pos, &k, &kl, &v, &vl)) {
			if (kl >= 6 && memcmp(k, "Nmqtt-", 6) == 0) {
				if (key_is(k, kl, MQ_HDR_CTYPE) && jn_mqtt_utf8_valid((const uint8_t *)v, vl) &&
				    vl <= 65535) {
					w_u8(&b, JN_MQTT_P_CONTENT_TYPE);
					w_str(&b, v, vl);
				} else if (key_is(k, kl, MQ_HDR_PFI) && vl == 1 && v[0] == '1') {
					w_u8(&b, JN_MQTT_P_PAYLOAD_FORMAT);
					w_u8(&b, 1);
				} else if (key_is(k, kl, MQ_HDR_CORR) && vl <= 87380) {
					size_t at = b.len + 3;
					w_u8(&b, JN_MQTT_P_CORRELATION_DATA);
					hb_put(&b, "\0\0", 2);
					if (at + vl <= b.cap) {
						long dl = jn_base64_decode(v, vl, b.p + at);
						if (dl >= 0) {
							b.p[at - 2] = (uint8_t)(dl >> 8);
							b.p[at - 1] = (uint8_t)dl;
							b.len = at + (size_t)dl;
						} else {
							b.len = at - 3;
						}
					} else {
						b.len = at + vl;
					}
				}
				continue;   /* the other Nmqtt-* headers are ours */
			}
			if (kl > 65535 || vl > 65535 || !jn_mqtt_utf8_valid((const uint8_t *)k, kl) ||
			    !jn_mqtt_utf8_valid((const uint8_t *)v, vl))
				continue;
			w_u8(&b, JN_MQTT_P_USER);
			w_str(&b, k, kl);
			w_str(&b, v, vl);
		}
	}
	return b.len;
}

/* ---- flat storage ------------------------------------------------------------ */

uint8_t *jn__mqtt_msg_flatten(uint8_t *p, const struct jn_msg *m)
{
	memcpy(p, m->subject, m->subject_len);
	p += m->subject_len;
	if (m->reply_len)
		memcpy(p, m->reply, m->reply_len);
	p += m->reply_len;
	if (m->hdr_len)
		memcpy(p, m->hdr, m->hdr_len);
	p += m->hdr_len;
	if (m->data_len)
		memcpy(p, m->data, m->data_len);
	return p + m->data_len;
}

void jn__mqtt_msg_unflatten(const uint8_t *p, uint32_t subject_len, uint32_t reply_len,
                            uint32_t hdr_len, uint32_t data_len, struct jn_msg *m)
{
	m->subject = (const char *)p;
	m->subject_len = subject_len;
	p += subject_len;
	m->reply = reply_len ? (const char *)p : NULL;
	m->reply_len = reply_len;
	p += reply_len;
	m->hdr = hdr_len ? p : NULL;
	m->hdr_len = hdr_len;
	p += hdr_len;
	m->data = p;
	m->data_len = data_len;
}
