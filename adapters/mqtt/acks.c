/*
 * acks.c - acknowledgements of inbound publishes (PUBACK, PUBREC, PUBCOMP)
 * that may only go out once what they promise is durable, in the order the
 * packets came.
 *
 * "Acknowledged means durable": a PUBACK/PUBREC is sent once (a) the
 * JetStream stream that captures the subject, if any, stored the message
 * and fsynced it (jn_js_publish_acked), and (b) what this adapter itself
 * wrote to its store for the packet (retained message, inbound QoS 2 state,
 * messages queued for persistent sessions) is fsynced (the store's group
 * commit: one fsync covers every record written while the previous one
 * ran). A PUBCOMP waits for the released QoS 2 id to be durable. Verdicts
 * come inline or later from a syncer thread.
 *
 * Order: 3.1.1 §4.6 and 5.0 §4.6 make the server send PUBACKs and PUBRECs
 * in the order the PUBLISHes arrived, so every acknowledgement of a
 * connection goes through one FIFO; the head leaves as soon as all its
 * verdicts are in, then the next ones that are ready. A connection with
 * nothing pending sends at once and allocates nothing.
 *
 * Lifetime: the FIFO (struct mq_ackq) is reference counted apart from the
 * connection, because a verdict may come after the connection closed: one
 * reference is the connection's (dropped by jn__mqtt_acks_detach in
 * on_close), one is held per verdict still to come. A syncer thread that
 * finds the connection still attached (under the FIFO lock) enters an epoch
 * read section first, so the connection and its link, which on_close and
 * the gateway retire through the epoch only after detaching, stay allocated
 * while it sends. Acknowledgements still queued when the connection closes
 * are dropped: the client resends those publishes (DUP) on its next
 * connection, which is what an unacknowledged publish means.
 *
 * Lock order: the FIFO lock is taken with no adapter lock held; under it
 * the connection's session lock (a refused 5.0 PUBREC forgets its packet
 * id) and a link's outq lock (a leaf) may be taken.
 */
#include <pthread.h>
#include <string.h>

#include "adapters/mqtt/server_int.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/jetstream.h"
#include "core/router.h"

#define SPARE_MAX 8

struct mq_ack {
	struct mq_ack *next;
	struct mq_ackq *q;
	uint16_t pid;
	uint8_t type;
	uint8_t reason;          /* 0 success, 0x10 nobody subscribed, >= 0x80 failure */
	uint32_t waits;          /* verdicts still to come (under q->lock) */
};

struct mq_ackq {
	pthread_mutex_t lock;
	uint32_t refs;           /* under lock: connection + one per wait */
	struct mq_conn *conn;    /* NULL once detached */
	struct mq_ack *head, *tail;
	struct mq_ack *spare;    /* reused entries */
	uint32_t nspare;
};

static void q_free(struct mq_ackq *q)
{
	for (struct mq_ack *a = q->head, *n; a; a = n) {
		n = a->next;
		jn_free(a);
	}
	for (struct mq_ack *a = q->spare, *n; a; a = n) {
		n = a->next;
		jn_free(a);
	}
	pthread_mutex_destroy(&q->lock);
	jn_free(q);
}

bool jn__mqtt_acks_pending(struct mq_ackq *q)
{
	if (!q)
		return false;
	pthread_mutex_lock(&q->lock);
	bool p = q->head != NULL;
	pthread_mutex_unlock(&q->lock);
	return p;
}

struct mq_ack *jn__mqtt_ack_new(struct mq_ackq **qp, struct mq_conn *c, uint8_t type,
                                uint16_t pid, uint8_t reason)
{
	struct mq_ackq *q = *qp;
	if (!q) {
		q = jn_calloc(1, sizeof *q);
		if (!q)
			return NULL;
		pthread_mutex_init(&q->lock, NULL);
		q->refs = 1;
		q->conn = c;
		*qp = q;
	}
	pthread_mutex_lock(&q->lock);
	struct mq_ack *a = q->spare;
	if (a) {
		q->spare = a->next;
		q->nspare--;
	} else {
		pthread_mutex_unlock(&q->lock);
		a = jn_malloc(sizeof *a);
		if (!a)
			return NULL;
		pthread_mutex_lock(&q->lock);
	}
	*a = (struct mq_ack){ .q = q, .pid = pid, .type = type, .reason = reason, .waits = 1 };
	if (q->tail)
		q->tail->next = a;
	else
		q->head = a;
	q->tail = a;
	q->refs++;
	pthread_mutex_unlock(&q->lock);
	return a;
}

void jn__mqtt_ack_wait(struct mq_ack *a)
{
	struct mq_ackq *q = a->q;
	pthread_mutex_lock(&q->lock);
	a->waits++;
	q->refs++;
	pthread_mutex_unlock(&q->lock);
}

/* Pop the ready head entries (under lock) into a private list. */
static struct mq_ack *take_ready(struct mq_ackq *q)
{
	struct mq_ack *first = NULL, **tail = &first;
	while (q->head && q->head->waits == 0) {
		struct mq_ack *a = q->head;
		q->head = a->next;
		if (!q->head)
			q->tail = NULL;
		a->next = NULL;
		*tail = a;
		tail = &a->next;
	}
	return first;
}

void jn__mqtt_ack_done(struct mq_ack *a, uint8_t reason, bool foreign)
{
	struct mq_ackq *q = a->q;
	/* A thread outside any read section enters one before it may see the
	 * connection attached; once detached it stays so, and a thread that
	 * only drops acknowledgements (the last callbacks at shutdown) needs
	 * no epoch registration. */
	bool entered = false;
	if (foreign) {
		pthread_mutex_lock(&q->lock);
		entered = q->conn != NULL;
		pthread_mutex_unlock(&q->lock);
		if (entered)
			jn_router_thread_enter();
	}
	pthread_mutex_lock(&q->lock);
	/* the first failure (>= 0x80) wins over everything else, including
	 * 0x10 "no matching subscribers", which is a success */
	if (reason >= 0x80 ? a->reason < 0x80 : !a->reason)
		a->reason = reason;
	a->waits--;
	struct mq_ack *ready = a->waits == 0 && q->head == a ? take_ready(q) : NULL;
	struct mq_conn *c = q->conn;
	/* Sent under the lock, so that two threads finishing entries of one
	 * connection cannot interleave their sends out of order. */
	for (struct mq_ack *r = ready; r; r = r->next)
		if (c)
			jn__mqtt_ack_send(c, r->type, r->pid, r->reason);
	while (ready) {
		struct mq_ack *n = ready->next;
		if (q->nspare < SPARE_MAX) {
			ready->next = q->spare;
			q->spare = ready;
			q->nspare++;
		} else {
			jn_free(ready);
		}
		ready = n;
	}
	bool last = --q->refs == 0;
	pthread_mutex_unlock(&q->lock);
	if (last)
		q_free(q);
	if (entered)
		jn_router_thread_exit();
}

void jn__mqtt_ack_js_done(void *arg, const struct jn_js_puback *ack)
{
	struct mq_ack *a = arg;
	uint8_t reason = 0;
	if (ack->err) {
		/* 5.0: a store limit is a quota; anything else (expectations,
		 * I/O) is unspecified. 3.1.1 cannot say it (send_ack drops it). */
		reason = jn_err_info(ack->err)->mqtt_reason == JN_MQTT_RC_QUOTA_EXCEEDED
		             ? JN_MQTT_RC_QUOTA_EXCEEDED : JN_MQTT_RC_UNSPECIFIED;
	}
	jn__mqtt_ack_done(a, reason, !jn__mqtt_on_worker());
}

void jn__mqtt_ack_store_done(void *arg, int err)
{
	jn__mqtt_ack_done(arg, err ? JN_MQTT_RC_UNSPECIFIED : 0, !jn__mqtt_on_worker());
}

void jn__mqtt_acks_detach(struct mq_ackq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->conn = NULL;
	bool last = --q->refs == 0;
	pthread_mutex_unlock(&q->lock);
	if (last)
		q_free(q);
}
