/*
 * config.h - the daemon's configuration: built-in defaults, overlaid by the
 * embedded default file (conf/junction.json), overlaid by a JSON file
 * (-c FILE), overlaid by command-line flags.
 *
 * A bad file is refused with one message naming the file, the line and
 * column, and the field ("junction.json:12:15: nats.port: expected an integer
 * 1..65535, got \"abc\""); the daemon does not start. Unknown keys are errors
 * too (a typo must not be silently ignored). The format is documented in
 * docs/configuration.md.
 *
 * Overlay rules: every key is optional; a key present in a later layer
 * replaces the earlier value. Objects ("nats", "mqtt", ...) merge key by key,
 * except "authorization", which a file replaces as a whole (users, token and
 * permissions are one security decision, never half from each file).
 */
#ifndef JN_CONFIG_H
#define JN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "adapters/http/server.h"
#include "adapters/mqtt/server.h"
#include "adapters/nats/server.h"
#include "core/auth.h"

struct jn_listen {
	bool enabled;
	char host[256];
	int port;
};

/* "jetstream": {...}. Sizes in bytes, -1 = unlimited. */
struct jn_js_config {
	bool enabled;               /* default true */
	bool sync_interval;         /* "sync": "interval" (default "always") */
	int64_t sync_interval_ns;   /* "sync_interval"; default 2m */
	int64_t max_memory;
	int64_t max_file;
};

struct jn_config {
	char *path;                 /* last file loaded, or NULL */
	char *server_name;          /* owned; default "junction" */
	int workers;                /* I/O threads; 0 = one per core */
	char *store_dir;            /* owned; default "./store" */
	int log_level;              /* enum jn_log_level */
	struct jn_listen nats_listen;
	struct jn_nats_opts nats;   /* string fields point into this config */
	struct jn_listen mqtt_listen;
	struct jn_mqtt_opts mqtt;   /* limits; host, port, store_dir and js set by the daemon */
	struct jn_listen http_listen;
	struct jn_http_opts http;   /* the other "http" keys; host/port from http_listen */
	char *http_allow_origin;    /* owned; http.allow_origin points here */
	struct jn_auth auth;
	struct jn_js_config jetstream;
};

/* The embedded conf/junction.json (generated at build time). */
extern const char jn_default_config[];

/* Built-in defaults. 0 or -JN_ENOMEM (the config is still safe to fini). */
int jn_config_init(struct jn_config *c);
void jn_config_fini(struct jn_config *c);

/* Overlay a JSON file. On error returns -JN_ECONFIG (or -JN_ENOMEM) and
 * writes one line "FILE:LINE:COL: FIELD: problem" into err; c may then hold
 * part of the overlay but stays valid for jn_config_fini(). */
int jn_config_load_file(struct jn_config *c, const char *path, char *err, size_t errlen);
/* Same, from a string (the embedded default); name is used in messages. */
int jn_config_load_string(struct jn_config *c, const char *name, const char *json,
                          char *err, size_t errlen);
/* Overlay the embedded default file. */
int jn_config_load_default(struct jn_config *c, char *err, size_t errlen);

/* Re-point c->nats's host/port/server_name at the listener fields after
 * they were changed directly (command-line overrides). */
void jn_config_sync(struct jn_config *c);

#endif
