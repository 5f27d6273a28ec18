/*
 * daemon.h - the running broker: router, protocol servers, workers and
 * listeners wired together from a configuration, plus the main thread's
 * loop (accepting, signals) and an orderly shutdown.
 */
#ifndef JN_DAEMON_H
#define JN_DAEMON_H

#include "gateway/config.h"

#define JN_VERSION "0.1.0"

struct jn_daemon;

/* Build everything and open the listeners; workers are running when it
 * returns. Blocks SIGINT/SIGTERM/SIGHUP in the calling thread (they are
 * read through a signalfd by jn_daemon_run) and ignores SIGPIPE.
 * Borrowed: cfg outlives the daemon. NULL on failure, already logged
 * (for instance "nats: cannot listen on 127.0.0.1:4222: Address already in use"). */
struct jn_daemon *jn_daemon_new(const struct jn_config *cfg);

/* Accept connections until SIGINT/SIGTERM or jn_daemon_shutdown(); then
 * stop accepting, flush and close every connection and join the workers.
 * Returns 0. Call from the thread that called jn_daemon_new(). */
int jn_daemon_run(struct jn_daemon *d);

/* Make jn_daemon_run() return. Any thread; async-signal-safe. */
void jn_daemon_shutdown(struct jn_daemon *d);

/* After jn_daemon_run() returned (or instead of it). */
void jn_daemon_free(struct jn_daemon *d);

/* The NATS listener's bound port. */
int jn_daemon_nats_port(const struct jn_daemon *d);

#endif
