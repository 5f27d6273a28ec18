/*
 * server.c - the listener-wide half of the NATS adapter.
 *
 * Owns: option defaults, the server id, the INFO line and the statistics
 * shared by every connection of one listener. The object is immutable
 * after jn_nats_server_new() apart from the relaxed atomic counters, so
 * workers read it without locks.
 *
 * INFO (spec nats-protocol.md §2.1) is built once with jansson, in the
 * field order nats-server 2.9 uses; only client_id and client_ip differ per
 * connection and are appended at accept time from a stack buffer.
 */
#include "adapters/nats/server_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"

void jn_nats_opts_default(struct jn_nats_opts *o)
{
	memset(o, 0, sizeof *o);
	o->server_name = NULL;
	o->host = "0.0.0.0";
	o->port = 4222;
	o->max_payload = 1024 * 1024;
	o->max_control_line = 4096;
	o->max_pending = (size_t)64 * 1024 * 1024;
	o->ping_interval_ns = 120LL * 1000000000LL;
	o->ping_max = 2;
	o->write_deadline_ns = 10LL * 1000000000LL;
	o->max_connections = 0;
	o->max_subs = 0;
	o->jetstream = false;
}

/* 56 characters like nats-server's ids ("N" + upper-case alphanumerics):
 * clients only need it unique. */
static void make_server_id(char id[57])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[55];
	ssize_t got = getrandom(rnd, sizeof rnd, 0);
	if (got != (ssize_t)sizeof rnd) {
		/* No entropy source: a time-seeded generator still gives an id
		 * distinct from other servers started at other instants. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ 0x9e3779b97f4a7c15ull;
		for (size_t i = 0; i < sizeof rnd; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			rnd[i] = (unsigned char)x;
		}
	}
	id[0] = 'N';
	for (size_t i = 0; i < sizeof rnd; i++)
		id[i + 1] = alphabet[rnd[i] % (sizeof alphabet - 1)];
	id[56] = '\0';
}

static int build_info(struct jn_nats_server *s)
{
	json_t *o = json_object();
	if (!o)
		return -JN_ENOMEM;
	const char *name = s->server_name ? s->server_name : s->server_id;
	int bad = 0;
	bad |= json_object_set_new(o, "server_id", json_string(s->server_id));
	bad |= json_object_set_new(o, "server_name", json_string(name));
	bad |= json_object_set_new(o, "version", json_string(JN_NATS_COMPAT_VERSION));
	bad |= json_object_set_new(o, "proto", json_integer(1));
	bad |= json_object_set_new(o, "go", json_string("junction"));
	bad |= json_object_set_new(o, "host", json_string(s->host ? s->host : "0.0.0.0"));
	bad |= json_object_set_new(o, "port", json_integer(s->opts.port));
	bad |= json_object_set_new(o, "headers", json_true());
	if (s->auth_required)
		bad |= json_object_set_new(o, "auth_required", json_true());
	bad |= json_object_set_new(o, "max_payload", json_integer(s->opts.max_payload));
	if (s->opts.jetstream)
		bad |= json_object_set_new(o, "jetstream", json_true());
	if (bad) {   /* OOM, or a name/host that is not UTF-8 */
		json_decref(o);
		return -JN_ECONFIG;
	}
	size_t n = json_dumpb(o, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *buf = n ? jn_malloc(5 + n + 1) : NULL;
	if (!buf) {
		json_decref(o);
		return -JN_ENOMEM;
	}
	memcpy(buf, "INFO ", 5);
	json_dumpb(o, buf + 5, n, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	/* Drop the closing brace: the per-connection fields follow. */
	s->info_prefix_len = 5 + n - 1;
	buf[s->info_prefix_len] = '\0';
	s->info_prefix = buf;
	return 0;
}

struct jn_nats_server *jn_nats_server_new(const struct jn_nats_opts *opts,
                                          struct jn_router *router,
                                          const struct jn_auth *auth)
{
	struct jn_nats_server *s = jn_calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->opts = *opts;
	if (s->opts.max_control_line == 0)
		s->opts.max_control_line = 4096;
	if (s->opts.max_payload == 0)
		s->opts.max_payload = 1024 * 1024;
	if (opts->server_name && !(s->server_name = jn_strdup(opts->server_name)))
		goto fail;
	if (opts->host && !(s->host = jn_strdup(opts->host)))
		goto fail;
	s->opts.server_name = s->server_name;
	s->opts.host = s->host;
	s->router = router;
	s->auth = auth;
	s->auth_required = auth && auth->required;
	make_server_id(s->server_id);
	if (build_info(s) < 0)
		goto fail;
	return s;
fail:
	jn_nats_server_free(s);
	return NULL;
}

void jn_nats_server_free(struct jn_nats_server *s)
{
	if (!s)
		return;
	jn_free(s->info_prefix);
	jn_free(s->server_name);
	jn_free(s->host);
	jn_free(s);
}

const struct jn_nats_stats *jn_nats_server_stats(const struct jn_nats_server *s)
{
	return &s->stats;
}

const char *jn_nats_server_id(const struct jn_nats_server *s)
{
	return s->server_id;
}

/* The gateway's peer address is trusted text, but only what an IP literal
 * can contain goes into JSON unescaped; anything else is left out. */
static bool ip_chars_ok(const char *ip)
{
	if (!ip[0])
		return false;
	for (const char *p = ip; *p; p++) {
		char c = *p;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
		      c == '.' || c == ':'))
			return false;
	}
	return true;
}

int jn__nats_send_info(struct jn_nats_server *s, struct jn_link *l)
{
	char tail[128];
	int n;
	char ip[sizeof l->peer_ip];
	memcpy(ip, l->peer_ip, sizeof ip);
	ip[sizeof ip - 1] = '\0';
	if (ip_chars_ok(ip))
		n = snprintf(tail, sizeof tail, ",\"client_id\":%" PRIu64 ",\"client_ip\":\"%s\"} \r\n",
		             l->id, ip);
	else
		n = snprintf(tail, sizeof tail, ",\"client_id\":%" PRIu64 "} \r\n", l->id);
	struct iovec iov[2] = {
		{ .iov_base = s->info_prefix, .iov_len = s->info_prefix_len },
		{ .iov_base = tail, .iov_len = (size_t)n },
	};
	return jn_outq_append(&l->out, iov, 2, false);
}
