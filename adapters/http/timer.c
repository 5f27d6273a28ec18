/*
 * timer.c - the HTTP adapter's one timer thread: expires waiting requests
 * (request.c's deadline heap) and fetches (fetch.c), sends the SSE
 * keep-alive pings, and does the delayed wake-ups of event streams.
 *
 * It sleeps on a condition variable (CLOCK_MONOTONIC) until the earliest
 * request deadline or the next ping round, whichever comes first; a new
 * request whose deadline is the earliest kicks it awake. It touches only
 * objects it finds under their owners' locks and resumes connections
 * outside them, so it needs no epoch registration.
 */
#include <errno.h>
#include <time.h>
#include "adapters/http/server_int.h"
#include "core/err.h"

int64_t jn__http_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *timer_main(void *arg)
{
	struct jn_http_server *s = arg;
	int64_t interval = s->opts.sse_ping_interval_ns;
	int64_t next_ping = jn__http_mono_ns() + interval;
	pthread_mutex_lock(&s->timer_lock);
	while (!s->timer_stop) {
		s->timer_kick = false;
		pthread_mutex_unlock(&s->timer_lock);
		int64_t now = jn__http_mono_ns();
		int64_t wake = jn__http_inbox_expire(s, now);
		int64_t w2 = jn__http_pull_expire(s, now);
		if (w2 < wake)
			wake = w2;
		w2 = jn__http_sse_recheck(s, now);
		if (w2 < wake)
			wake = w2;
		if (now >= next_ping) {
			jn__http_sse_ping_all(s);
			next_ping = now + interval;
		}
		if (next_ping < wake)
			wake = next_ping;
		pthread_mutex_lock(&s->timer_lock);
		if (s->timer_stop || s->timer_kick)
			continue;
		struct timespec ts = { .tv_sec = wake / 1000000000LL, .tv_nsec = wake % 1000000000LL };
		int rc = pthread_cond_timedwait(&s->timer_cond, &s->timer_lock, &ts);
		(void)rc;   /* timeout, signal or spurious: look again */
	}
	pthread_mutex_unlock(&s->timer_lock);
	return NULL;
}

int jn__http_timer_start(struct jn_http_server *s)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&s->timer_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return -JN_ENOMEM;
	if (pthread_create(&s->timer, NULL, timer_main, s) != 0) {
		pthread_cond_destroy(&s->timer_cond);
		return -JN_ENOMEM;
	}
	s->timer_on = true;
	return 0;
}

void jn__http_timer_stop(struct jn_http_server *s)
{
	if (!s->timer_on)
		return;
	pthread_mutex_lock(&s->timer_lock);
	s->timer_stop = true;
	pthread_cond_signal(&s->timer_cond);
	pthread_mutex_unlock(&s->timer_lock);
	pthread_join(s->timer, NULL);
	pthread_cond_destroy(&s->timer_cond);
	s->timer_on = false;
}

void jn__http_timer_kick(struct jn_http_server *s)
{
	pthread_mutex_lock(&s->timer_lock);
	s->timer_kick = true;
	pthread_cond_signal(&s->timer_cond);
	pthread_mutex_unlock(&s->timer_lock);
}
