/*
 * server_int.h - what server.c (the listener-wide object) and client.c (the
 * per-connection engine) share inside adapters/nats. Not for other folders.
 */
#ifndef JN_NATS_SERVER_INT_H
#define JN_NATS_SERVER_INT_H

#include "adapters/nats/server.h"

struct jn_nats_server {
	struct jn_nats_opts opts;      /* string fields point at the copies below */
	char *server_name;
	char *host;
	struct jn_router *router;      /* borrowed */
	const struct jn_auth *auth;    /* borrowed, may be NULL */
	bool auth_required;
	char server_id[57];
	/* "INFO {...": the INFO line up to (not including) the per-connection
	 * fields and the closing brace; built once. */
	char *info_prefix;
	size_t info_prefix_len;
	struct jn_nats_stats stats;
};

/* Queue the INFO line for link l (client_id = l->id, client_ip = peer_ip).
 * 0 or the jn_outq_append error. */
int jn__nats_send_info(struct jn_nats_server *s, struct jn_link *l);

#endif
