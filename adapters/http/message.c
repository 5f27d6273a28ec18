/*
 * message.c - the one JSON shape of a stored message over HTTP (fetch
 * results, consumer and replay events, GET messages/{seq}):
 *
 *   {"subject":"orders.eu","seq":12,["consumer_seq":3,"delivered":1,"pending":4,]
 *    "time":"2026-01-02T03:04:05.123456789Z","headers":{"K":"v"},
 *    "data":"<base64>" | "data_text":"<UTF-8 text>"[,"ack":"$JS.ACK..."]}
 *
 * The consumer fields and "ack" appear only when a consumer delivered the
 * message. "data_text" replaces "data" only when the client asked for text
 * (Accept: text/plain or ?encoding=utf8) and the payload is valid UTF-8, so
 * a client always learns which one it got from the member's name.
 */
#include <string.h>
#include <strings.h>
#include "adapters/http/server_int.h"
#include "core/js_json.h"

/* RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c < 0x80) {
			if (c == 0)
				return false;   /* jansson strings stop at NUL */
			i++;
			continue;
		}
		size_t len;
		uint32_t cp;
		if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

void jn__http_jsmsg_json(struct jn__hbuf *b, const struct jn__http_jsmsg *m, bool text)
{
	char t[JN_JS_TIME_LEN];
	size_t tl = jn_js_time_format(m->ts, t);
	jn__hbuf_puts(b, "{\"subject\":");
	jn__hbuf_json_str(b, m->subject, m->subject_len);
	jn__hbuf_printf(b, ",\"seq\":%llu", (unsigned long long)m->seq);
	if (m->ack)
		jn__hbuf_printf(b, ",\"consumer_seq\":%llu,\"delivered\":%llu,\"pending\":%llu",
		                (unsigned long long)m->cseq, (unsigned long long)m->delivered,
		                (unsigned long long)m->pending);
	jn__hbuf_puts(b, ",\"time\":\"");
	jn__hbuf_put(b, t, tl);
	jn__hbuf_puts(b, "\",\"headers\":");
	jn__http_headers_json(b, m->hdr, m->hdr_len);
	if (text && utf8_valid(m->data, m->data_len)) {
		jn__hbuf_puts(b, ",\"data_text\":");
		jn__hbuf_json_str(b, (const char *)m->data, m->data_len);
	} else {
		jn__hbuf_puts(b, ",\"data\":\"");
		jn__hbuf_base64(b, m->data, m->data_len);
		jn__hbuf_puts(b, "\"");
	}
	if (m->ack) {
		jn__hbuf_puts(b, ",\"ack\":");
		jn__hbuf_json_str(b, m->ack, m->ack_len);
	}
	jn__hbuf_puts(b, "}");
}

bool jn__http_wants_text(struct http_req *r)
{
	const char *e = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "encoding");
	if (e)
		return strcasecmp(e, "utf8") == 0 || strcasecmp(e, "utf-8") == 0;
	const char *a = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept");
	return a && strncasecmp(a, "text/plain", 10) == 0;
}
