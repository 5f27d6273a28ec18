/*
 * metrics.c - GET /metrics: Prometheus text exposition format 0.0.4.
 *
 * Per adapter (label adapter="nats"|"http"|...): open connections,
 * connections accepted, messages and bytes in and out, slow consumers.
 * Server-wide: subscriptions in the router, open SSE streams, HTTP answers
 * by status class, authentication failures, bytes allocated, uptime.
 * Messages/bytes "in" are what clients published through that adapter,
 * "out" what it delivered to its clients (payload bytes, as nats-server's
 * in_bytes/out_bytes). With JetStream: the number of streams and
 * consumers, and per stream (label stream="NAME") its messages and bytes,
 * per consumer (stream="S",consumer="C") its pending (not yet delivered)
 * and ack pending counts, read through the JetStream API in-process
 * (STREAM.LIST, CONSUMER.LIST) so they are what `nats str info` shows.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "adapters/http/server_int.h"
#include <jansson.h>
#include "core/alloc.h"
#include "core/jetstream.h"
#include "core/sublist.h"

static uint64_t ld(const _Atomic uint64_t *p)
{
	return p ? atomic_load_explicit(p, memory_order_relaxed) : 0;
}

/* Label values escape backslash, double quote and newline. */
static void label(struct jn__hbuf *b, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			jn__hbuf_put(b, "\\", 1);
		if (*v == '\n') {
			jn__hbuf_puts(b, "\\n");
			continue;
		}
		jn__hbuf_put(b, v, 1);
	}
}

static void family(struct jn__hbuf *b, const char *name, const char *type, const char *help)
{
	jn__hbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The HTTP adapter's own counters as a source, followed by the daemon's. */
static unsigned sources(struct jn_http_server *s, struct jn_http_stats_source *out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < s->opts.nsources && n < JN_HTTP_MAX_SOURCES; i++)
		out[n++] = s->opts.sources[i];
	out[n++] = (struct jn_http_stats_source){
		.name = "http",
		.conns_current = &s->stats.conns_current,
		.conns_total = &s->stats.conns_total,
		.msgs_in = &s->stats.msgs_in,
		.bytes_in = &s->stats.bytes_in,
		.msgs_out = &s->stats.msgs_out,
		.bytes_out = &s->stats.bytes_out,
		.slow_consumers = &s->stats.slow_consumers,
	};
	return n;
}

/* Every member `member` of the pages of a LIST op, in one array (new
 * reference; empty on error). */
static json_t *list_all(struct jn_js *js, const char *op, const char *member)
{
	json_t *all = json_array();
	json_int_t offset = 0;
	for (;;) {
		char body[64];
		int n = snprintf(body, sizeof body, "{\"offset\":%lld}", (long long)offset);
		json_t *resp = NULL;
		if (jn_js_api_call(js, op, body, (size_t)n, &resp) < 0)
			break;
		json_t *page = json_object_get(resp, member);
		size_t k = json_array_size(page);
		json_array_extend(all, page);
		json_int_t total = json_integer_value(json_object_get(resp, "total"));
		json_decref(resp);
		offset += (json_int_t)k;
		if (k == 0 || offset >= total)
			break;
	}
	return all;
}

static json_int_t jint(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	return json_integer_value(v);
}

static void jetstream_series(struct jn_http_server *s, struct jn__hbuf *b)
{
	struct jn_js *js = s->opts.js;
	json_t *streams = list_all(js, "STREAM.LIST", "streams");
	size_t n = json_array_size(streams);
	json_t **cons = jn_calloc(n ? n : 1, sizeof *cons);
	size_t ncons = 0;
	for (size_t i = 0; cons && i < n; i++) {
		const char *name = json_string_value(
			json_object_get(json_object_get(json_array_get(streams, i), "config"), "name"));
		char op[300];
		snprintf(op, sizeof op, "CONSUMER.LIST.%s", name ? name : "");
		cons[i] = list_all(js, op, "consumers");
		ncons += json_array_size(cons[i]);
	}
	family(b, "junction_streams", "gauge", "JetStream streams.");
	jn__hbuf_printf(b, "junction_streams %zu\n", n);
	family(b, "junction_consumers", "gauge", "JetStream consumers.");
	jn__hbuf_printf(b, "junction_consumers %zu\n", ncons);
	static const struct {
		const char *name, *help, *a, *b;
	} sf[] = {
		{ "junction_stream_messages", "Messages stored in the stream.", "state", "messages" },
		{ "junction_stream_bytes", "Bytes stored in the stream.", "state", "bytes" },
		{ "junction_stream_consumers", "Consumers of the stream.", "state", "consumer_count" },
	}, cf[] = {
		{ "junction_consumer_pending", "Messages the consumer has not delivered yet.",
		  "num_pending", NULL },
		{ "junction_consumer_ack_pending", "Messages delivered and not acknowledged yet.",
		  "num_ack_pending", NULL },
		{ "junction_consumer_redelivered", "Messages being redelivered.",
		  "num_redelivered", NULL },
		{ "junction_consumer_waiting", "Pull requests waiting.", "num_waiting", NULL },
	};
	for (size_t f = 0; f < sizeof sf / sizeof sf[0]; f++) {
		family(b, sf[f].name, "gauge", sf[f].help);
		for (size_t i = 0; i < n; i++) {
			json_t *st = json_array_get(streams, i);
			jn__hbuf_printf(b, "%s{stream=\"", sf[f].name);
			label(b, json_string_value(json_object_get(json_object_get(st, "config"),
			                                           "name")));
			jn__hbuf_printf(b, "\"} %lld\n", (long long)jint(st, sf[f].a, sf[f].b));
		}
	}
	for (size_t f = 0; cons && f < sizeof cf / sizeof cf[0]; f++) {
		family(b, cf[f].name, "gauge", cf[f].help);
		for (size_t i = 0; i < n; i++) {
			size_t k;
			json_t *c;
			json_array_foreach(cons[i], k, c) {
				jn__hbuf_printf(b, "%s{stream=\"", cf[f].name);
				label(b, json_string_value(json_object_get(c, "stream_name")));
				jn__hbuf_puts(b, "\",consumer=\"");
				label(b, json_string_value(json_object_get(c, "name")));
				jn__hbuf_printf(b, "\"} %lld\n", (long long)jint(c, cf[f].a, cf[f].b));
			}
		}
	}
	for (size_t i = 0; cons && i < n; i++)
		json_decref(cons[i]);
	jn_free(cons);
	json_decref(streams);
}

void jn__http_metrics_route(struct http_req *r)
{
	struct jn_http_server *s = r->srv;
	struct jn__hbuf b = { 0 };
	struct jn_http_stats_source src[JN_HTTP_MAX_SOURCES + 1];
	unsigned n = sources(s, src);
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} per[] = {
		{ "junction_connections", "gauge", "Open client connections.",
		  offsetof(struct jn_http_stats_source, conns_current) },
		{ "junction_connections_total", "counter", "Client connections accepted.",
		  offsetof(struct jn_http_stats_source, conns_total) },
		{ "junction_messages_in_total", "counter", "Messages published by clients.",
		  offsetof(struct jn_http_stats_source, msgs_in) },
		{ "junction_bytes_in_total", "counter", "Payload bytes published by clients.",
		  offsetof(struct jn_http_stats_source, bytes_in) },
		{ "junction_messages_out_total", "counter", "Messages delivered to clients.",
		  offsetof(struct jn_http_stats_source, msgs_out) },
		{ "junction_bytes_out_total", "counter", "Payload bytes delivered to clients.",
		  offsetof(struct jn_http_stats_source, bytes_out) },
		{ "junction_slow_consumers_total", "counter",
		  "Clients disconnected because they could not keep up.",
		  offsetof(struct jn_http_stats_source, slow_consumers) },
	};
	family(&b, "junction_info", "gauge", "Server name and version.");
	jn__hbuf_puts(&b, "junction_info{server_name=\"");
	label(&b, s->server_name);
	jn__hbuf_puts(&b, "\",version=\"");
	label(&b, s->version);
	jn__hbuf_puts(&b, "\"} 1\n");
	family(&b, "junction_uptime_seconds", "gauge", "Seconds since the HTTP adapter started.");
	jn__hbuf_printf(&b, "junction_uptime_seconds %.3f\n",
	                (double)(jn__http_mono_ns() - s->started_mono_ns) / 1e9);
	for (size_t f = 0; f < sizeof per / sizeof per[0]; f++) {
		family(&b, per[f].name, per[f].type, per[f].help);
		for (unsigned i = 0; i < n; i++) {
			const _Atomic uint64_t *const *pp =
				(const _Atomic uint64_t *const *)((const char *)&src[i] + per[f].off);
			if (!*pp)
				continue;
			jn__hbuf_printf(&b, "%s{adapter=\"", per[f].name);
			label(&b, src[i].name);
			jn__hbuf_printf(&b, "\"} %llu\n", (unsigned long long)ld(*pp));
		}
	}
	family(&b, "junction_subscriptions", "gauge",
	       "Subscriptions in the router (clients' and internal).");
	jn__hbuf_printf(&b, "junction_subscriptions %u\n", jn_sublist_count(s->router->subs));
	family(&b, "junction_http_sse_streams", "gauge", "Open server-sent event streams.");
	jn__hbuf_printf(&b, "junction_http_sse_streams %llu\n",
	                (unsigned long long)ld(&s->stats.sse_clients));
	family(&b, "junction_http_responses_total", "counter", "HTTP answers by status class.");
	jn__hbuf_printf(&b, "junction_http_responses_total{code=\"2xx\"} %llu\n",
	                (unsigned long long)ld(&s->stats.status_2xx));
	jn__hbuf_printf(&b, "junction_http_responses_total{code=\"4xx\"} %llu\n",
	                (unsigned long long)ld(&s->stats.status_4xx));
	jn__hbuf_printf(&b, "junction_http_responses_total{code=\"5xx\"} %llu\n",
	                (unsigned long long)ld(&s->stats.status_5xx));
	family(&b, "junction_http_auth_failures_total", "counter",
	       "HTTP requests refused for bad or missing credentials.");
	jn__hbuf_printf(&b, "junction_http_auth_failures_total %llu\n",
	                (unsigned long long)ld(&s->stats.auth_failures));
	if (s->opts.js)
		jetstream_series(s, &b);
	family(&b, "junction_memory_bytes", "gauge", "Bytes allocated by junction's allocator.");
	jn__hbuf_printf(&b, "junction_memory_bytes %zu\n", jn_mem_used());
	size_t len = 0;
	char *p = jn__hbuf_take(&b, &len);
	jn__http_reply_take(r, 200, p, len, "text/plain; version=0.0.4; charset=utf-8");
}
