/*
 * info.c - the operations endpoints that are not metrics: GET /healthz,
 * GET /v1/info, GET /v1/openapi.json; and the JSON request body reader
 * every JSON-taking endpoint uses (400 naming what is wrong and where).
 *
 * /healthz is the one endpoint that never asks for credentials (load
 * balancers and orchestrators probe it); it is 200 {"status":"ok"} when
 * the daemon's health probe passes (every enabled listener open, store
 * writable) and 503 {"status":"unavailable","reason":"..."} otherwise.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "adapters/http/server_int.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/sublist.h"

void jn__http_health_route(struct http_req *r)
{
	struct jn_http_server *s = r->srv;
	char why[256] = "";
	int rc = 0;
	if (atomic_load(&s->stopping)) {
		rc = -1;
		snprintf(why, sizeof why, "shutting down");
	} else if (s->opts.health) {
		rc = s->opts.health(s->opts.health_arg, why, sizeof why);
	}
	if (rc == 0) {
		jn__http_reply_copy(r, 200, "{\"status\":\"ok\"}", 15, "application/json");
		return;
	}
	struct jn__hbuf b = { 0 };
	jn__hbuf_puts(&b, "{\"status\":\"unavailable\",\"reason\":");
	jn__hbuf_json_str(&b, why, strlen(why));
	jn__hbuf_puts(&b, "}");
	size_t len = 0;
	char *p = jn__hbuf_take(&b, &len);
	jn__http_reply_take(r, 503, p, len, "application/json");
}

static uint64_t ld(const _Atomic uint64_t *p)
{
	return p ? atomic_load_explicit(p, memory_order_relaxed) : 0;
}

static void adapter_json(struct jn__hbuf *b, const struct jn_http_stats_source *src,
                         uint64_t tot[4])
{
	uint64_t v[7] = { ld(src->conns_current), ld(src->conns_total), ld(src->msgs_in),
	                  ld(src->bytes_in), ld(src->msgs_out), ld(src->bytes_out),
	                  ld(src->slow_consumers) };
	jn__hbuf_json_str(b, src->name, strlen(src->name));
	jn__hbuf_printf(b, ":{\"connections\":%llu,\"total_connections\":%llu,"
	                "\"in_msgs\":%llu,\"in_bytes\":%llu,\"out_msgs\":%llu,\"out_bytes\":%llu,"
	                "\"slow_consumers\":%llu}",
	                (unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2],
	                (unsigned long long)v[3], (unsigned long long)v[4], (unsigned long long)v[5],
	                (unsigned long long)v[6]);
	for (int i = 0; i < 4; i++)
		tot[i] += v[2 + i];
}

void jn__http_info_route(struct http_req *r)
{
	struct jn_http_server *s = r->srv;
	struct jn__hbuf b = { 0 };
	char up[48], now[40];
	jn__format_duration(jn__http_mono_ns() - s->started_mono_ns, up, sizeof up);
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);

	jn__hbuf_puts(&b, "{\"server_name\":");
	jn__hbuf_json_str(&b, s->server_name, strlen(s->server_name));
	jn__hbuf_puts(&b, ",\"server_id\":");
	jn__hbuf_json_str(&b, s->server_id, strlen(s->server_id));
	jn__hbuf_puts(&b, ",\"version\":");
	jn__hbuf_json_str(&b, s->version, strlen(s->version));
	jn__hbuf_printf(&b, ",\"now\":\"%s\",\"uptime\":\"%s\",\"uptime_ns\":%lld", now, up,
	                (long long)(jn__http_mono_ns() - s->started_mono_ns));
	jn__hbuf_puts(&b, ",\"listeners\":[");
	for (unsigned i = 0; i < s->opts.nlisteners; i++) {
		const struct jn_http_listener_info *l = &s->opts.listeners[i];
		jn__hbuf_puts(&b, i ? ",{\"protocol\":" : "{\"protocol\":");
		jn__hbuf_json_str(&b, l->protocol, strlen(l->protocol));
		jn__hbuf_puts(&b, ",\"host\":");
		jn__hbuf_json_str(&b, l->host, strlen(l->host));
		jn__hbuf_printf(&b, ",\"port\":%d}", l->port);
	}
	jn__hbuf_puts(&b, "],\"adapters\":{");
	uint64_t tot[4] = { 0 };
	for (unsigned i = 0; i < s->opts.nsources; i++) {
		adapter_json(&b, &s->opts.sources[i], tot);
		jn__hbuf_puts(&b, ",");
	}
	struct jn_http_stats_source me = {
		.name = "http",
		.conns_current = &s->stats.conns_current,
		.conns_total = &s->stats.conns_total,
		.msgs_in = &s->stats.msgs_in,
		.bytes_in = &s->stats.bytes_in,
		.msgs_out = &s->stats.msgs_out,
		.bytes_out = &s->stats.bytes_out,
		.slow_consumers = &s->stats.slow_consumers,
	};
	adapter_json(&b, &me, tot);
	jn__hbuf_printf(&b, "},\"in_msgs\":%llu,\"in_bytes\":%llu,\"out_msgs\":%llu,"
	                "\"out_bytes\":%llu,\"subscriptions\":%u,\"sse_streams\":%llu",
	                (unsigned long long)tot[0], (unsigned long long)tot[1],
	                (unsigned long long)tot[2], (unsigned long long)tot[3],
	                jn_sublist_count(s->router->subs),
	                (unsigned long long)ld(&s->stats.sse_clients));
	jn__hbuf_printf(&b, ",\"jetstream\":{\"enabled\":%s}", s->opts.jetstream_enabled ? "true"
	                                                                              : "false");
	jn__hbuf_printf(&b, ",\"max_payload\":%u}", s->opts.max_payload);
	size_t len = 0;
	char *p = jn__hbuf_take(&b, &len);
	jn__http_reply_take(r, 200, p, len, "application/json");
}

void jn__http_openapi_route(struct http_req *r)
{
	jn__http_reply_copy(r, 200, jn_http_openapi_json, strlen(jn_http_openapi_json),
	                    "application/json");
}

/* ---- JSON bodies ---------------------------------------------------------------- */

struct json_t *jn__http_parse_json(const uint8_t *p, size_t n, char *why, size_t cap)
{
	json_error_t e;
	if (n == 0) {
		snprintf(why, cap, "invalid JSON: empty body (expected a JSON object)");
		return NULL;
	}
	json_t *o = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &e);
	if (!o) {
		snprintf(why, cap, "invalid JSON: %s at line %d column %d", e.text, e.line, e.column);
		return NULL;
	}
	if (!json_is_object(o)) {
		snprintf(why, cap, "invalid JSON: expected an object");
		json_decref(o);
		return NULL;
	}
	return o;
}

struct json_t *jn__http_body_json(struct http_req *r)
{
	char why[256];
	json_t *o = jn__http_parse_json(r->body, r->body_len, why, sizeof why);
	if (!o)
		jn__http_error(r, 400, jn_err_info(JN_EBADJSON)->js_err_code, "%s", why);
	return o;
}
