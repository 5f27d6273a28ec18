/*
 * http.h - wiring of the HTTP adapter into the daemon: its options from the
 * configuration, the other adapters' counters for /metrics and /v1/info,
 * and the health probe behind /healthz.
 */
#ifndef JN_GATEWAY_HTTP_H
#define JN_GATEWAY_HTTP_H

#include <stdbool.h>
#include "adapters/http/server.h"
#include "adapters/nats/server.h"
#include "gateway/config.h"
#include "gateway/listener.h"

/* What the health probe looks at; owned by the daemon, must outlive the
 * HTTP server. */
struct jn_gw_health {
	const struct jn_config *cfg;
	struct jn_listener *const *nats_listener;   /* the daemon's field */
	bool jetstream;                              /* JetStream is running */
	struct jn_js *js;                            /* it, or NULL */
};

/* Start the HTTP server when cfg->http_listen.enabled (else returns 0 with
 * *out NULL). Logs "http: listening on HOST:PORT" on success; on failure
 * logs why and returns <0. */
int jn_gw_http_start(const struct jn_config *cfg, struct jn_router *router,
                     const struct jn_nats_server *nats, const struct jn_gw_health *health,
                     struct jn_http_server **out);

#endif
