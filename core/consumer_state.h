/*
 * consumer_state.h - the durable state of one JetStream consumer: its config
 * (an opaque JSON blob), the delivered and ack-floor sequence pairs, the
 * pending map (stream seq -> consumer seq of the first delivery, time of the
 * last delivery) and redelivery counts.
 *
 * The update rules are nats-server's consumer store (UpdateDelivered /
 * UpdateAcks): record_deliver() adds to pending (or refreshes the time of a
 * redelivery), record_ack() removes from pending and moves the ack floor,
 * ack policy "all" acks everything up to the given seq, ack policy "none"
 * moves the floor with every delivery.
 *
 * Persistence: <dir>/state is a snapshot record followed by an append log of
 * the updates, each record CRC-protected (format at the top of
 * consumer_state.c). Updates are written to the file (page cache) as they
 * happen, so they survive a process crash; jn_cstate_sync() makes them
 * survive a power loss. The log is compacted into a fresh snapshot
 * (write-tmp, fsync, rename, fsync dir) when it grows past twice the
 * snapshot (at least 64 KiB). Losing the last updates after a power loss
 * means redelivery, never loss: acks are at-least-once by design.
 *
 * Thread-safety: a jn_cstate has its own mutex; any thread may call it.
 */
#ifndef JN_CONSUMER_STATE_H
#define JN_CONSUMER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jn_cs_ack { JN_CS_ACK_NONE = 0, JN_CS_ACK_ALL, JN_CS_ACK_EXPLICIT };

struct jn_cs_pending {
	uint64_t sseq;        /* stream seq */
	uint64_t cseq;        /* consumer seq of its first delivery */
	int64_t ts;           /* ns of its last delivery */
};

struct jn_cs_redelivered {
	uint64_t sseq;
	uint64_t count;       /* deliveries beyond the first */
};

/* A copy of the state. Arrays are sorted by sseq and owned by the struct. */
struct jn_consumer_state {
	uint64_t delivered_cseq, delivered_sseq;
	uint64_t ack_floor_cseq, ack_floor_sseq;
	struct jn_cs_pending *pending;
	size_t npending;
	struct jn_cs_redelivered *redelivered;
	size_t nredelivered;
	char *config;         /* NUL-terminated; NULL when never set */
	size_t config_len;
};

void jn_consumer_state_fini(struct jn_consumer_state *s);

struct jn_cstate;

/* Open (create or recover) <dir>/state; dir is created if missing. The
 * policy decides how future updates apply (it is not stored: the caller
 * knows it from its config). On success *out is owned by the caller. */
int jn_cstate_open(const char *dir, enum jn_cs_ack policy, int64_t max_deliver,
                   struct jn_cstate **out);
/* max_deliver is updatable (<= 0: unlimited). */
void jn_cstate_set_policy(struct jn_cstate *cs, enum jn_cs_ack policy, int64_t max_deliver);

/* Deep copy of the current state into *out (fini it). */
int jn_cstate_load(struct jn_cstate *cs, struct jn_consumer_state *out);

int jn_cstate_set_config(struct jn_cstate *cs, const char *json, size_t len);

/* Start position: delivered.sseq = ack_floor.sseq = sseq (a new consumer
 * with deliver policy new/by_start_sequence/...: start - 1). */
int jn_cstate_set_starting(struct jn_cstate *cs, uint64_t sseq);

/* Message sseq went out as consumer seq cseq, delivery number dc (1 = first),
 * at ts. dc > 1 with ack policy none is -JN_EINVAL. */
int jn_cstate_record_deliver(struct jn_cstate *cs, uint64_t cseq, uint64_t sseq,
                             uint64_t dc, int64_t ts);

/* Ack (explicit, or "all up to" with policy all; +TERM too). 0, or
 * -JN_ENOTFOUND if sseq is not pending (nothing changes), -JN_EINVAL with
 * policy none. An ack at or below the floor is a quiet 0. */
int jn_cstate_record_ack(struct jn_cstate *cs, uint64_t cseq, uint64_t sseq);

/* Force the ack floor up to (cseq, sseq): everything pending or redelivered
 * at or below sseq is forgotten (stream purged under the consumer, ...). */
int jn_cstate_record_ack_floor(struct jn_cstate *cs, uint64_t cseq, uint64_t sseq);

/* Queries on the live state. */
uint64_t jn_cstate_num_pending(struct jn_cstate *cs);
uint64_t jn_cstate_num_redelivered(struct jn_cstate *cs);
bool jn_cstate_pending_get(struct jn_cstate *cs, uint64_t sseq, struct jn_cs_pending *out);

/* Rewrite the file as one snapshot now. */
int jn_cstate_snapshot(struct jn_cstate *cs);
/* fsync the file. */
int jn_cstate_sync(struct jn_cstate *cs);
/* Bytes in the state file (tests, metrics). */
uint64_t jn_cstate_file_size(struct jn_cstate *cs);

/* fsync and release. */
void jn_cstate_free(struct jn_cstate *cs);
/* Release and remove <dir>/state (and dir, if then empty). */
int jn_cstate_delete(struct jn_cstate *cs);

#endif
