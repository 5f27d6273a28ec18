/*
 * worker.h - an I/O worker thread: one epoll loop that owns a set of
 * connections for their whole life (threading model in worker.c).
 */
#ifndef JN_WORKER_H
#define JN_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include "core/router.h"
#include "gateway/conn.h"

struct jn_worker;

/* Create worker number `index` (epoll fd, eventfd, inbox); the thread is not
 * started yet. Borrowed: router outlives the worker. NULL on failure. */
struct jn_worker *jn_worker_new(unsigned index, struct jn_router *router);
int jn_worker_start(struct jn_worker *w);      /* 0 or -JN_EIO */
/* Ask the worker to close every connection and exit (non-blocking). */
void jn_worker_close(struct jn_worker *w);
/* Wait for the thread to exit (after jn_worker_close; never from a worker). */
void jn_worker_stop(struct jn_worker *w);
/* After jn_worker_stop (or if never started). Connections still queued to
 * it are released. */
void jn_worker_free(struct jn_worker *w);

/* Hand a new connection (state NEW, owner == w) to its worker: it will add
 * it to its epoll set and call proto->open(). Any thread. */
void jn_worker_adopt(struct jn_worker *w, struct jn_conn *c);
/* The owner must look at c at its next safe point: flush its output, or
 * close it if closing is set. From a worker inside a batch this is
 * deferred to the end of the batch (once per batch per connection); from
 * anywhere else it goes straight to the owner's inbox. Any thread. */
void jn_worker_schedule(struct jn_conn *c);

unsigned jn_worker_index(const struct jn_worker *w);
/* Connections currently open on w (approximate when read by another thread). */
uint32_t jn_worker_conn_count(const struct jn_worker *w);

#endif
