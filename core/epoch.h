/*
 * epoch.h - epoch-based reclamation for objects read without locks.
 *
 * Subscriptions and connections are reached by other threads through cached
 * match results without holding any lock. Such an object is never freed
 * directly: its owner unlinks it, then jn_epoch_retire()s it, and it is freed
 * once every registered thread has been outside a read section at least once
 * since (two epoch advances).
 *
 * A thread brackets its reading with jn_epoch_enter()/jn_epoch_exit() (a
 * worker does it once per event-loop batch, not per message) and calls
 * jn_epoch_poll() now and then to free what is due. A thread that blocks
 * (epoll_wait) must be outside its section.
 */
#ifndef JN_EPOCH_H
#define JN_EPOCH_H

struct jn_epoch_thread;  /* one per participating thread */

/* Register the calling thread. Returns NULL on OOM. */
struct jn_epoch_thread *jn_epoch_register(void);
void jn_epoch_unregister(struct jn_epoch_thread *t);

void jn_epoch_enter(struct jn_epoch_thread *t);
void jn_epoch_exit(struct jn_epoch_thread *t);

/* Free obj with free_fn(obj) once no reader can still see it.
 * Callable from any thread, registered or not. */
void jn_epoch_retire(void *obj, void (*free_fn)(void *obj));

/* Try to advance the epoch and free what is due. Cheap; call per batch. */
void jn_epoch_poll(void);

/* Free everything retired, without waiting (only when no reader is left:
 * shutdown, tests). */
void jn_epoch_drain(void);

#endif
