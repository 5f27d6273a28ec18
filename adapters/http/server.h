/*
 * server.h - the HTTP adapter: REST + server-sent events on libmicrohttpd
 * (contract: docs/http-api.md).
 *
 * One jn_http_server per listener. It runs inside libmicrohttpd's own
 * threads (epoll, internal polling thread or a small pool), not on the I/O
 * workers: a publish over HTTP enters jn_router_publish() like any other,
 * and long answers (SSE streams, requests waiting for a reply) are
 * suspended connections resumed by the delivery that completes them; there
 * is no thread per client. One timer thread owned by the adapter expires
 * requests and sends SSE keep-alive pings.
 *
 * The daemon hands the server what only it knows (the other adapters'
 * statistics for /metrics and /v1/info, the listeners, a health probe, the
 * JetStream hooks) through jn_http_opts; everything there is borrowed and
 * must outlive the server.
 */
#ifndef JN_HTTP_SERVER_H
#define JN_HTTP_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/auth.h"
#include "core/router.h"

struct jn_js;

#define JN_HTTP_MAX_SOURCES 4
#define JN_HTTP_MAX_LISTENERS 4

/* Another adapter's counters, shown by /metrics and /v1/info under
 * adapter="<name>". Any pointer may be NULL (not counted). */
struct jn_http_stats_source {
	const char *name;
	const _Atomic uint64_t *conns_current, *conns_total;
	const _Atomic uint64_t *msgs_in, *bytes_in, *msgs_out, *bytes_out;
	const _Atomic uint64_t *slow_consumers;
};

struct jn_http_listener_info {
	const char *protocol;      /* "nats", "mqtt", "http" */
	const char *host;
	int port;
};

struct jn_http_opts {
	/* --- configuration ("http" section of the config file) --- */
	const char *host;              /* listen address; default "0.0.0.0" */
	int port;                      /* default 8080; 0 = any free port */
	unsigned threads;              /* libmicrohttpd threads; default 1 */
	uint32_t max_connections;      /* default 1024 */
	uint32_t max_payload;          /* request body limit; default 1 MiB */
	int64_t idle_timeout_ns;       /* idle keep-alive connection; default 60 s */
	int64_t request_timeout_ns;    /* /v1/request without ?timeout; default 5 s */
	int64_t sse_ping_interval_ns;  /* ": ping" comment period; default 15 s */
	size_t sse_max_buffer;         /* per SSE client before it is cut; default 8 MiB */
	const char *allow_origin;      /* CORS Access-Control-Allow-Origin; NULL = none */

	/* --- wiring by the daemon (not from the config file) --- */
	const char *server_name;
	const char *version;
	const char *server_id;
	struct jn_http_stats_source sources[JN_HTTP_MAX_SOURCES];
	unsigned nsources;
	struct jn_http_listener_info listeners[JN_HTTP_MAX_LISTENERS];
	unsigned nlisteners;           /* the HTTP listener is added by the server */
	/* /healthz: return 0 when healthy, or <0 with a reason written to why. */
	int (*health)(void *arg, char *why, size_t cap);
	void *health_arg;
	/* JetStream. With jetstream_enabled false or js NULL, the /v1/streams,
	 * /v1/kv and /v1/ack routes answer 503 "JetStream not enabled" (10076).
	 * With js, POST /v1/publish/{subject} goes through jn_js_publish_acked():
	 * 200 with the PubAck (or the JetStream error with its HTTP status)
	 * when a stream captured it, 202 otherwise. */
	bool jetstream_enabled;
	struct jn_js *js;              /* the JetStream service; NULL when disabled */
};

void jn_http_opts_default(struct jn_http_opts *o);

struct jn_http_stats {
	_Atomic uint64_t conns_total, conns_current;
	_Atomic uint64_t requests;                 /* HTTP requests answered */
	_Atomic uint64_t status_2xx, status_4xx, status_5xx;
	_Atomic uint64_t msgs_in, bytes_in;        /* publishes and requests */
	_Atomic uint64_t msgs_out, bytes_out;      /* SSE events and replies */
	_Atomic uint64_t sse_clients;              /* open SSE streams */
	_Atomic uint64_t slow_consumers;           /* SSE clients cut for overflow */
	_Atomic uint64_t auth_failures;
};

struct jn_http_server;

/* Open the listener and start serving. router and auth (may be NULL: no
 * auth) are borrowed and must outlive the server; options are copied,
 * strings included. On failure returns NULL and writes one line into err
 * ("http: cannot listen on 0.0.0.0:8080: Address already in use"). */
struct jn_http_server *jn_http_server_new(const struct jn_http_opts *opts,
                                          struct jn_router *router,
                                          const struct jn_auth *auth,
                                          char *err, size_t errlen);

/* Stop: refuse new connections, end every SSE stream and pending request,
 * stop libmicrohttpd's threads and the timer, unsubscribe everything. The
 * memory is handed to jn_epoch_retire() (deliveries on I/O workers may still
 * be running), so call it before the workers stop and drain the epochs
 * after. Never from a callback of the server itself. NULL is a no-op. */
void jn_http_server_free(struct jn_http_server *s);

const struct jn_http_stats *jn_http_server_stats(const struct jn_http_server *s);
/* "HOST:PORT" as bound (static storage inside s). */
const char *jn_http_server_addr(const struct jn_http_server *s);
int jn_http_server_port(const struct jn_http_server *s);

#endif
