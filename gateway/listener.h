/*
 * listener.h - a listening TCP socket and its acceptor, which hands every
 * accepted connection to the next worker in turn.
 */
#ifndef JN_LISTENER_H
#define JN_LISTENER_H

#include <stddef.h>
#include "gateway/conn.h"
#include "gateway/worker.h"

struct jn_listener;

/* Bind and listen on host:port (non-blocking). NULL on failure with a
 * message in err ("cannot listen on 127.0.0.1:4222: Address already in use").
 * Borrowed: svc outlives the listener. */
struct jn_listener *jn_listener_open(const char *host, int port, const struct jn_service *svc,
                                     char *err, size_t errlen);
void jn_listener_free(struct jn_listener *l);   /* closes the socket */

int jn_listener_fd(const struct jn_listener *l);
const char *jn_listener_addr(const struct jn_listener *l);   /* "127.0.0.1:4222" */
int jn_listener_port(const struct jn_listener *l);           /* the bound port */

/* Accept every pending connection, each to the next of the n workers.
 * Returns 0, or 1 when the process is out of descriptors or memory: the
 * caller should stop polling this listener for a moment (the pending
 * connection stays in the backlog) instead of spinning on it. */
int jn_listener_accept(struct jn_listener *l, struct jn_worker **workers, unsigned n);

#endif
