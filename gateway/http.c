/*
 * http.c - see http.h. Kept out of daemon.c so the daemon only starts and
 * stops the HTTP server; everything the adapter needs to know about the
 * rest of the process is gathered here.
 */
#include "gateway/http.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "core/log.h"
#include "gateway/daemon.h"

/* Every enabled listener accepts, and the store is writable. */
static int health(void *arg, char *why, size_t cap)
{
	const struct jn_gw_health *h = arg;
	if (h->cfg->nats_listen.enabled && !*h->nats_listener) {
		snprintf(why, cap, "nats listener is not open");
		return -1;
	}
	if (h->jetstream && access(h->cfg->store_dir, W_OK) != 0) {
		snprintf(why, cap, "store directory \"%s\" is not writable", h->cfg->store_dir);
		return -1;
	}
	return 0;
}

int jn_gw_http_start(const struct jn_config *cfg, struct jn_router *router,
                     const struct jn_nats_server *nats, const struct jn_gw_health *h,
                     struct jn_http_server **out)
{
	*out = NULL;
	if (!cfg->http_listen.enabled)
		return 0;
	struct jn_http_opts o = cfg->http;
	o.host = cfg->http_listen.host;
	o.port = cfg->http_listen.port;
	o.max_payload = cfg->nats.max_payload;
	o.server_name = cfg->server_name;
	o.version = JN_VERSION;
	o.server_id = nats ? jn_nats_server_id(nats) : "";
	o.jetstream_enabled = h->jetstream;
	o.js = h->js;
	o.health = health;
	o.health_arg = (void *)h;
	o.nsources = 0;
	if (nats) {
		const struct jn_nats_stats *ns = jn_nats_server_stats(nats);
		o.sources[o.nsources++] = (struct jn_http_stats_source){
			.name = "nats",
			.conns_current = &ns->conns_current,
			.conns_total = &ns->conns_total,
			.msgs_in = &ns->msgs_in,
			.bytes_in = &ns->bytes_in,
			.msgs_out = &ns->msgs_out,
			.bytes_out = &ns->bytes_out,
			.slow_consumers = &ns->slow_consumers,
		};
	}
	/* (the MQTT adapter adds its counters here the same way) */
	o.nlisteners = 0;
	if (cfg->nats_listen.enabled)
		o.listeners[o.nlisteners++] = (struct jn_http_listener_info){
			"nats", cfg->nats_listen.host, cfg->nats_listen.port };
	if (cfg->mqtt_listen.enabled)
		o.listeners[o.nlisteners++] = (struct jn_http_listener_info){
			"mqtt", cfg->mqtt_listen.host, cfg->mqtt_listen.port };
	char err[300];
	struct jn_http_server *s = jn_http_server_new(&o, router, &cfg->auth, err, sizeof err);
	if (!s) {
		jn_error("%s", err);
		return -1;
	}
	jn_info("http: listening on %s", jn_http_server_addr(s));
	*out = s;
	return 0;
}
