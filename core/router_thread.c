/*
 * router_thread.c - publishing from threads that are not I/O workers.
 *
 * Owns: one epoch registration per such thread, made on first use and
 * released when the thread exits (pthread key destructor). Promise: a
 * publish made through jn_router_publish_any_thread() runs inside an epoch
 * read section, so the subscriptions it reaches through match results stay
 * allocated until it returns, exactly as on a worker.
 *
 * A read section is also the batch of such a thread: deliveries made inside
 * it may leave their output queued (the I/O layer's choice), and when the
 * outermost section ends the batch-end hook runs, still inside it, so the
 * I/O layer writes them out once: a syncer round firing sixty PubAcks to
 * one connection costs one write, not sixty.
 */
#include "core/router.h"

#include <pthread.h>
#include <stddef.h>

#include "core/epoch.h"
#include "core/err.h"

static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static _Thread_local struct jn_epoch_thread *self;
static _Thread_local unsigned depth;        /* nesting of read sections */
static void (*batch_end)(void);             /* set once at start-up */

void jn_router_set_thread_batch_hook(void (*end)(void))
{
	batch_end = end;
}

bool jn_router_thread_in_batch(void)
{
	return depth > 0;
}

static void release(void *p)
{
	jn_epoch_unregister(p);
}

static void make_key(void)
{
	(void)pthread_key_create(&key, release);
}

static struct jn_epoch_thread *this_thread(void)
{
	if (!self) {
		pthread_once(&key_once, make_key);
		self = jn_epoch_register();
		if (self)
			(void)pthread_setspecific(key, self);
	}
	return self;
}

void jn_router_thread_enter(void)
{
	struct jn_epoch_thread *t = this_thread();
	if (t) {
		jn_epoch_enter(t);
		depth++;
	}
}

void jn_router_thread_exit(void)
{
	if (!self || depth == 0)
		return;
	if (depth == 1 && batch_end)
		batch_end();   /* inside the section: what it touched is still there */
	depth--;
	jn_epoch_exit(self);
}

int jn_router_publish_any_thread(struct jn_router *r, const struct jn_msg *msg,
                                 struct jn_pub *pub)
{
	struct jn_epoch_thread *t = this_thread();
	if (!t)
		return -JN_ENOMEM;   /* unsafe to match without a read section */
	jn_router_thread_enter();
	int rc = jn_router_publish(r, NULL, msg, pub);
	jn_router_thread_exit();
	jn_epoch_poll();
	return rc;
}
