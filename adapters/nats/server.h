/*
 * server.h - the NATS client-protocol adapter: one jn_nats_server per
 * listener, shared by all workers (read-only after creation, except atomic
 * counters), and jn_nats_proto, the per-connection protocol engine.
 */
#ifndef JN_NATS_SERVER_H
#define JN_NATS_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "adapters/link.h"
#include "core/auth.h"
#include "core/router.h"

/* The nats-server version advertised in INFO. Clients gate features on it
 * (spec nats-protocol.md §2.3): report the 2.9 level until the 2.10
 * JetStream features are implemented. */
#define JN_NATS_COMPAT_VERSION "2.9.10"

struct jn_nats_opts {
	const char *server_name;     /* NULL: server_id */
	const char *host;            /* advertised in INFO */
	int port;
	uint32_t max_payload;        /* default 1 MiB */
	uint32_t max_control_line;   /* default 4096 */
	size_t max_pending;          /* outbound bytes per connection, default 64 MiB */
	int64_t ping_interval_ns;    /* default 2 min */
	int ping_max;                /* default 2 */
	int64_t write_deadline_ns;   /* default 10 s */
	uint32_t max_connections;    /* 0 = unlimited */
	uint32_t max_subs;           /* per connection, 0 = unlimited */
	bool jetstream;              /* advertise jetstream:true in INFO */
};

void jn_nats_opts_default(struct jn_nats_opts *o);

struct jn_nats_stats {
	_Atomic uint64_t conns_total, conns_current;
	_Atomic uint64_t msgs_in, bytes_in, msgs_out, bytes_out;
	_Atomic uint64_t slow_consumers, stale_connections, auth_failures, parse_errors;
};

struct jn_nats_server;

/* Borrowed: router and auth (may be NULL: no auth) must outlive the server.
 * Options are copied, strings included. NULL on OOM or a bad option. */
struct jn_nats_server *jn_nats_server_new(const struct jn_nats_opts *opts,
                                          struct jn_router *router,
                                          const struct jn_auth *auth);
void jn_nats_server_free(struct jn_nats_server *s);
const struct jn_nats_stats *jn_nats_server_stats(const struct jn_nats_server *s);
const char *jn_nats_server_id(const struct jn_nats_server *s);

extern const struct jn_proto jn_nats_proto;

#endif
