/*
 * syncer.h - the background threads that make file stores durable.
 *
 * A syncer runs "jobs" (one per file store) on its own thread(s): the job's
 * run() is called when the job is kicked (as soon as a thread is free) or at
 * a due time. A job never runs on two threads at once; a kick that arrives
 * while the job runs makes it run once more afterwards, so nothing kicked is
 * missed and many kicks during one run cost one extra run (group commit).
 *
 * Why shared rather than a thread per store: a server has many small stores
 * (every KV bucket and MQTT's internal streams is one) that are idle most of
 * the time. The design is one syncer per store directory, i.e. per
 * file system, where fsyncs serialize in the journal anyway; `threads` > 1
 * lets fsyncs of different stores overlap on devices that benefit.
 *
 * Thread-safety: every function may be called from any thread, except that
 * jn_syncer_remove() must not be called from inside the job's own run().
 */
#ifndef JN_SYNCER_H
#define JN_SYNCER_H

#include <stdint.h>

struct jn_syncer;

struct jn_sync_job {
	void (*run)(struct jn_sync_job *job);   /* set before jn_syncer_add */
	/* Private to syncer.c. */
	struct jn_sync_job *jn__prev, *jn__next;
	int64_t jn__due;      /* monotonic ns; INT64_MAX = not scheduled */
	int jn__state;
	struct jn_syncer *jn__s;
};

/* threads: 1..16. Returns NULL when out of memory or threads can't start. */
struct jn_syncer *jn_syncer_new(unsigned threads);
/* Every job must have been removed. Joins the threads. */
void jn_syncer_free(struct jn_syncer *s);

/* Register / unregister a job. remove waits until the job is not running and
 * guarantees run() is not called again. */
void jn_syncer_add(struct jn_syncer *s, struct jn_sync_job *job);
void jn_syncer_remove(struct jn_sync_job *job);

/* Run the job as soon as possible / at (or after) monotonic time due_ns.
 * The earliest request wins. */
void jn_syncer_kick(struct jn_sync_job *job);
void jn_syncer_kick_at(struct jn_sync_job *job, int64_t due_ns);

int64_t jn_mono_ns(void);

#endif
