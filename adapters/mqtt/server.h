/*
 * server.h - the MQTT adapter: one jn_mqtt_server per listener, shared by
 * all workers, and jn_mqtt_proto, the per-connection engine (client.c).
 *
 * MQTT clients publish into and subscribe from the same router as NATS
 * clients: a PUBLISH on "a/b" is a NATS message on "a.b" (topic.h has the
 * mapping), and every MQTT subscription is an internal jn_sub whose
 * deliver callback encodes a PUBLISH into the subscriber's link->out.
 * docs/mqtt.md describes the behaviour; the server object holds what
 * outlives a connection: options, the session registry, retained messages,
 * the optional store and statistics.
 */
#ifndef JN_MQTT_SERVER_H
#define JN_MQTT_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "adapters/link.h"
#include "core/auth.h"
#include "core/router.h"

struct jn_js;

struct jn_mqtt_opts {
	const char *host;              /* for logs */
	int port;
	uint32_t max_packet_size;      /* whole packet, both directions; default 1 MiB */
	uint16_t max_inflight;         /* outbound QoS 1/2 window per session; default 64
	                                  (a 5.0 client's Receive Maximum may lower it) */
	uint32_t max_queued;           /* QoS 1/2 messages queued per session; default 1000 */
	uint16_t receive_max;          /* inbound QoS 2 in progress (5.0); default 1024 */
	uint16_t topic_alias_max;      /* inbound topic aliases (5.0); default 64 */
	uint32_t max_session_expiry;   /* seconds; 0 = no cap */
	size_t max_pending;            /* outbound bytes per connection; default 64 MiB */
	int64_t connect_timeout_ns;    /* CONNECT must come within; default 10 s */
	int64_t write_deadline_ns;     /* default 10 s */
	uint32_t max_connections;      /* 0 = unlimited */
	uint16_t max_keepalive;        /* seconds; 0 = no cap. A 5.0 client asking for
	                                  more (or 0) is told Server Keep Alive; a
	                                  3.1.1 one is refused (CONNACK 2), as mosquitto */
	const char *store_dir;         /* sessions and retained messages persist
	                                  here; NULL = memory only */
	struct jn_js *js;              /* borrowed, may be NULL: with it a QoS 1/2
	                                  publish a stream captures is acknowledged
	                                  only once the stream stored it durably */
};

void jn_mqtt_opts_default(struct jn_mqtt_opts *o);

struct jn_mqtt_stats {
	_Atomic uint64_t conns_total, conns_current;
	_Atomic uint64_t msgs_in, bytes_in, msgs_out, bytes_out;
	_Atomic uint64_t sessions, retained;
	_Atomic uint64_t auth_failures, protocol_errors, dropped, slow_consumers;
};

struct jn_mqtt_server;

/* Borrowed: router and auth (may be NULL: no auth) must outlive the
 * server. Options are copied. With a store_dir the persisted sessions and
 * retained messages are loaded (their subscriptions become live at once).
 * 0 and *out, or -JN_ENOMEM / -JN_EIO / -JN_EEXIST (store in use). */
int jn_mqtt_server_new(const struct jn_mqtt_opts *opts, struct jn_router *router,
                       const struct jn_auth *auth, struct jn_mqtt_server **out);
/* After every connection is closed (no worker runs): unsubscribes what is
 * left, flushes the store, frees everything. */
void jn_mqtt_server_free(struct jn_mqtt_server *s);
const struct jn_mqtt_stats *jn_mqtt_server_stats(const struct jn_mqtt_server *s);

extern const struct jn_proto jn_mqtt_proto;

#endif
