/*
 * router.c - one publish, many deliveries.
 *
 * Owns the fan-out rule: every matching plain subscription gets the
 * message; each queue group (grouped by name across filters, as built by
 * the sublist) gets it once, at a random member. With no_echo, the
 * publisher's own subscriptions are skipped, and a queue group whose
 * random pick is the publisher moves on to its next member, so the group
 * still receives the message when it has another member.
 *
 * The match result is held by reference for the whole fan-out: a deliver
 * callback may publish again on this thread and evict it from the cache.
 * The caller must be inside its epoch section, which keeps the subs alive.
 */
#include "core/router.h"

#include <pthread.h>
#include <time.h>

#include "core/err.h"

int jn_router_init(struct jn_router *r)
{
	r->subs = jn_sublist_new();
	return r->subs ? 0 : -JN_ENOMEM;
}

void jn_router_fini(struct jn_router *r)
{
	jn_sublist_free(r->subs);
	r->subs = NULL;
}

static bool echo_skip(const struct jn_sub *s, const struct jn_pub *pub)
{
	return pub->no_echo && s->owner_id == pub->origin_id;
}

int jn_router_publish(struct jn_router *r, struct jn_sublist_cache *cache,
                      const struct jn_msg *msg, struct jn_pub *pub)
{
	struct jn_match *m = jn_sublist_match(r->subs, cache, msg->subject, msg->subject_len);
	if (!m)
		return -JN_ENOMEM;
	uint32_t matched = m->nplain;
	for (uint32_t g = 0; g < m->nqueues; g++)
		matched += m->queues[g].n;
	pub->matched = matched;

	int delivered = 0;
	for (uint32_t i = 0; i < m->nplain; i++) {
		struct jn_sub *s = m->plain[i];
		if (echo_skip(s, pub) || !s->deliver)
			continue;
		s->deliver(s, msg, pub);
		delivered++;
	}
	for (uint32_t g = 0; g < m->nqueues; g++) {
		const struct jn_qgroup *q = &m->queues[g];
		uint32_t start = jn_router_rand(q->n);
		for (uint32_t k = 0; k < q->n; k++) {
			uint32_t idx = start + k;
			if (idx >= q->n)
				idx -= q->n;
			struct jn_sub *s = q->members[idx];
			if (echo_skip(s, pub) || !s->deliver)
				continue;
			s->deliver(s, msg, pub);
			delivered++;
			break;
		}
	}
	jn_match_release(cache, m);
	return delivered;
}

/* xorshift64*: per thread, so no shared state on the hot path. */
static _Thread_local uint64_t rng_state;

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint32_t jn_router_rand(uint32_t n)
{
	if (n <= 1)
		return 0;
	uint64_t x = rng_state;
	if (x == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = splitmix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
		             (uint64_t)(uintptr_t)&rng_state ^ (uint64_t)pthread_self());
		if (x == 0)
			x = 0x2545f4914f6cdd1dull;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	/* Top 32 bits scaled to [0, n) by multiplication: no division. */
	return (uint32_t)(((x * 0x2545f4914f6cdd1dull) >> 32) * n >> 32);
}
