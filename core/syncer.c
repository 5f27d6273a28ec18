/*
 * syncer.c - job threads for file-store group commit.
 *
 * All registered jobs sit on one list under one mutex. A thread picks the
 * job with the earliest due time that is due, marks it RUNNING, drops the
 * lock and calls run(). Stores are few (tens to hundreds) and a pick happens
 * once per fsync round, so a linear scan is cheaper than maintaining a heap.
 */
#include "core/syncer.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "core/alloc.h"

enum { IDLE, RUNNING, RUNNING_KICKED };

#define MAX_THREADS 16

struct jn_syncer {
	pthread_mutex_t mu;
	pthread_cond_t work;     /* a job became due or was kicked */
	pthread_cond_t done;     /* a run finished (for remove) */
	struct jn_sync_job *jobs;
	bool stop;
	unsigned nthreads;
	pthread_t th[MAX_THREADS];
};

int64_t jn_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *thread_main(void *arg)
{
	struct jn_syncer *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		int64_t now = jn_mono_ns(), next = INT64_MAX;
		struct jn_sync_job *pick = NULL;
		for (struct jn_sync_job *j = s->jobs; j; j = j->jn__next) {
			if (j->jn__state != IDLE || j->jn__due == INT64_MAX)
				continue;
			if (j->jn__due <= now && (!pick || j->jn__due < pick->jn__due))
				pick = j;
			else if (j->jn__due > now && j->jn__due < next)
				next = j->jn__due;
		}
		if (!pick) {
			if (next == INT64_MAX) {
				pthread_cond_wait(&s->work, &s->mu);
			} else {
				/* the condvar uses CLOCK_MONOTONIC (set in jn_syncer_new) */
				struct timespec ts = { .tv_sec = next / 1000000000,
				                       .tv_nsec = next % 1000000000 };
				pthread_cond_timedwait(&s->work, &s->mu, &ts);
			}
			continue;
		}
		pick->jn__state = RUNNING;
		pick->jn__due = INT64_MAX;
		pthread_mutex_unlock(&s->mu);
		pick->run(pick);
		pthread_mutex_lock(&s->mu);
		if (pick->jn__state == RUNNING_KICKED)
			pick->jn__due = 0;
		pick->jn__state = IDLE;
		pthread_cond_broadcast(&s->done);
		if (pick->jn__due != INT64_MAX)
			pthread_cond_signal(&s->work);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct jn_syncer *jn_syncer_new(unsigned threads)
{
	if (threads == 0)
		threads = 1;
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	struct jn_syncer *s = jn_calloc(1, sizeof *s);
	if (!s)
		return NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, &ca);
	pthread_cond_init(&s->done, NULL);
	pthread_condattr_destroy(&ca);
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_create(&s->th[i], NULL, thread_main, s) != 0) {
			s->nthreads = i;
			jn_syncer_free(s);
			return NULL;
		}
		s->nthreads = i + 1;
	}
	return s;
}

void jn_syncer_free(struct jn_syncer *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->nthreads; i++)
		pthread_join(s->th[i], NULL);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->done);
	pthread_mutex_destroy(&s->mu);
	jn_free(s);
}

void jn_syncer_add(struct jn_syncer *s, struct jn_sync_job *job)
{
	job->jn__s = s;
	job->jn__state = IDLE;
	job->jn__due = INT64_MAX;
	pthread_mutex_lock(&s->mu);
	job->jn__prev = NULL;
	job->jn__next = s->jobs;
	if (s->jobs)
		s->jobs->jn__prev = job;
	s->jobs = job;
	pthread_mutex_unlock(&s->mu);
}

void jn_syncer_remove(struct jn_sync_job *job)
{
	struct jn_syncer *s = job->jn__s;
	pthread_mutex_lock(&s->mu);
	while (job->jn__state != IDLE)
		pthread_cond_wait(&s->done, &s->mu);
	if (job->jn__prev)
		job->jn__prev->jn__next = job->jn__next;
	else
		s->jobs = job->jn__next;
	if (job->jn__next)
		job->jn__next->jn__prev = job->jn__prev;
	job->jn__prev = job->jn__next = NULL;
	job->jn__due = INT64_MAX;
	pthread_mutex_unlock(&s->mu);
}

void jn_syncer_kick_at(struct jn_sync_job *job, int64_t due_ns)
{
	struct jn_syncer *s = job->jn__s;
	pthread_mutex_lock(&s->mu);
	if (job->jn__state == RUNNING && due_ns <= jn_mono_ns())
		job->jn__state = RUNNING_KICKED;
	else if (due_ns < job->jn__due)
		job->jn__due = due_ns;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
}

void jn_syncer_kick(struct jn_sync_job *job)
{
	jn_syncer_kick_at(job, 0);
}
