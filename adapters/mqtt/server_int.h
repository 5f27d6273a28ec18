/*
 * server_int.h - what the files of adapters/mqtt share, not for other
 * folders: the server object, sessions, subscriptions, queued messages,
 * connections, and the functions one file offers the others.
 *
 * Objects and who frees them:
 *   jn_mqtt_server   the daemon (jn_mqtt_server_free)
 *   mq_session       reference counted: the registry holds one reference
 *                    while the session is registered, an attached
 *                    connection one more. The last drop unlinks what is
 *                    left and retires it through the epoch (subscriptions
 *                    point to it and other threads read them unlocked).
 *   mq_sub           owned by its session; removed from the sublist and
 *                    retired through the epoch, never freed directly
 *   mq_msg           owned by its session's queue, under the session lock
 *   mq_conn          the per-connection state; retired in on_close
 *
 * Locks: srv->reg_lock before a session's lock; srv->ret_lock (retained
 * messages) before a session's lock (SUBSCRIBE sends retained messages
 * under it); an ack FIFO's lock (acks.c) before a session's lock;
 * srv->store_lock and a link's outq lock are leaves. Nothing calls jn_router_publish() while holding any of them: a
 * publish may deliver into any session, including the publisher's own.
 */
#ifndef JN_MQTT_SERVER_INT_H
#define JN_MQTT_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "adapters/mqtt/codec.h"
#include "adapters/mqtt/server.h"
#include "core/msg.h"
#include "core/sublist.h"

struct mq_session;
struct mq_conn;
struct mq_retained;
struct jn_store;

/* The NATS header that marks a message published over MQTT, with its QoS
 * digit and, when the PUBLISH had RETAIN, a hex digit of its flags (as
 * nats-server writes it): "Nmqtt-Pub:1" / "Nmqtt-Pub:13". */
#define MQ_HDR_PUB "Nmqtt-Pub"
/* MQTT 5 PUBLISH properties carried through NATS (user properties travel
 * as plain headers, the response topic as the reply subject). */
#define MQ_HDR_EXPIRY "Nmqtt-Exp"        /* message expiry interval, seconds */
#define MQ_HDR_CTYPE "Nmqtt-Ct"          /* content type */
#define MQ_HDR_PFI "Nmqtt-Pfi"           /* payload format indicator (1) */
#define MQ_HDR_CORR "Nmqtt-Corr"         /* correlation data, base64 */

struct jn_mqtt_server {
	struct jn_mqtt_opts opts;
	char *host;
	char *store_dir;
	struct jn_router *router;        /* borrowed */
	const struct jn_auth *auth;      /* borrowed, may be NULL */
	bool auth_required;
	struct jn_mqtt_stats stats;
	/* session registry: client id -> session, chained hash */
	pthread_mutex_t reg_lock;
	struct mq_session **reg;
	uint32_t reg_cap, reg_n;
	_Atomic int64_t next_sweep_ns;   /* expiry sweep, any connection's tick */
	_Atomic uint64_t auto_id;        /* assigned client ids: "auto-<salt><n>" */
	uint64_t id_salt;
	/* retained messages: topic -> message */
	pthread_mutex_t ret_lock;
	struct mq_retained **ret;
	uint32_t ret_cap, ret_n;
	/* persistence (persist.c); NULL without store_dir */
	struct jn_store *store;
	pthread_mutex_t store_lock;
};

/* A subscription: one MQTT filter, one or two NATS subscriptions (a filter
 * ending in "/#" also needs its parent level). */
struct mq_sub {
	struct jn_sub js[2];             /* js[i].owner == this */
	struct mq_session *s;
	_Atomic bool removed;
	_Atomic uint8_t qos;             /* granted; a re-SUBSCRIBE changes it in place */
	_Atomic uint8_t opts;            /* JN_MQTT_SO_NO_LOCAL | JN_MQTT_SO_RAP */
	_Atomic uint32_t sub_id;         /* 5.0 subscription identifier, 0 = none */
	uint8_t njs;
	bool hides_dollar;               /* filter starts with a wildcard */
	bool shared;                     /* $share/<group>/...: a queue group */
	bool deny_filter;                /* delivery-time permission filter */
	const struct jn_user *user;      /* for deny_filter */
	uint32_t filter_len;             /* the filter as the client wrote it */
	char *filter;                    /* points into str */
	char str[];                      /* filter\0 subject\0 [parent\0] [group\0] */
};

/* Outbound message states. */
enum { MQ_QUEUED = 0, MQ_SENT, MQ_RELEASED };

/* A QoS 1/2 message owed to a session: queued, or sent and unacknowledged.
 * Kept in NATS form; converted to a PUBLISH each time it is sent. */
struct mq_msg {
	struct mq_msg *next;
	uint64_t seq;                    /* store sequence (0: not persisted) */
	uint64_t order;                  /* persist.c: queue position across rewrites */
	int64_t expires_ns;              /* CLOCK_REALTIME; 0 = never */
	uint32_t sub_id;
	uint16_t pid;                    /* 0 until sent */
	uint8_t qos;
	uint8_t state;
	bool retain;
	uint32_t subject_len, reply_len, hdr_len, data_len;
	uint8_t bytes[];                 /* subject | reply | hdr | data */
};

struct mq_session {
	pthread_mutex_t lock;
	_Atomic uint32_t refs;
	struct jn_mqtt_server *srv;
	struct mq_session *hnext;        /* registry chain (reg_lock) */
	uint32_t hash;
	uint32_t cid_len;
	char *client_id;
	/* under lock: */
	bool dead;                       /* torn down; holders just drop their ref */
	bool registered;
	bool persistent;                 /* survives its connection */
	uint8_t version;                 /* of the last connection */
	uint32_t expiry_s;               /* 5.0 session expiry; UINT32_MAX = never */
	int64_t detached_ns;             /* CLOCK_MONOTONIC when the connection left */
	struct mq_conn *conn;            /* attached connection or NULL */
	_Atomic uint64_t conn_id;        /* its link id (no-local), 0 offline */
	uint16_t window;                 /* in-flight limit for this connection */
	struct mq_sub **subs;
	uint32_t nsubs, subs_cap;
	struct mq_msg *ifl_head, *ifl_tail;  /* sent, unacknowledged, in send order */
	struct mq_msg *q_head, *q_tail;      /* not sent yet */
	uint32_t ninflight, nqueued;
	uint16_t next_pid;
	uint16_t *q2in;                  /* inbound QoS 2 pids awaiting PUBREL */
	uint32_t nq2in, q2in_cap;
	uint64_t meta_seq;               /* persist.c: the session's record */
	/* 5.0 will delay: a will waiting for its time, or for the session end */
	struct mq_will *will;
	int64_t will_due_ns;
};

/* A will message in NATS form, owned by its connection (then maybe, for a
 * 5.0 will delay, by its session). */
struct mq_will {
	const struct jn_user *user;      /* publisher's permissions (immutable) */
	uint64_t origin_id;
	uint8_t qos;
	bool retain;
	uint32_t delay_s;
	uint32_t subject_len, reply_len, hdr_len, data_len;
	uint8_t bytes[];                 /* subject | reply | hdr | data */
};

/* ---- server.c --------------------------------------------------------------- */

/* Find or create the session of client_id under reg_lock, returning it with
 * a reference for the caller and *existed. NULL on OOM. */
struct mq_session *jn__mqtt_session_get(struct jn_mqtt_server *srv, const char *cid,
                                        uint32_t cid_len, bool *existed);
/* persist.c, loading: a new unregistered session (refs 1), and linking
 * it into the registry (the reference becomes the registry's). */
struct mq_session *jn__mqtt_session_alloc(struct jn_mqtt_server *srv, const char *cid,
                                          uint32_t len);
int jn__mqtt_session_insert_loaded(struct jn_mqtt_server *srv, struct mq_session *s);
/* Drop it from the registry (if registered); the registry's reference
 * goes. Caller holds a reference. */
void jn__mqtt_session_unregister(struct mq_session *s);
void jn__mqtt_session_ref(struct mq_session *s);
void jn__mqtt_session_unref(struct mq_session *s);
/* Expire detached sessions and due wills; cheap when nothing is due. */
void jn__mqtt_sweep(struct jn_mqtt_server *srv, struct jn_thread_ctx *ctx, int64_t now_ns);
int64_t jn__mqtt_realtime_ns(void);

/* ---- session.c -------------------------------------------------------------- */

/* Tear a session down (under its lock): subscriptions leave the sublist,
 * messages are freed, dead is set. */
void jn__mqtt_session_kill_locked(struct mq_session *s);
/* Add or replace a subscription. Returns 0 (*isnew says whether the filter
 * was new, *out the subscription), -JN_EBADSUBJECT, -JN_ENOMEM. Under lock. */
int jn__mqtt_sub_add_locked(struct mq_session *s, const char *filter, uint32_t flen,
                            uint8_t qos, uint8_t opts, uint32_t sub_id,
                            const struct jn_user *deny_user, bool *isnew, struct mq_sub **out);
/* Remove by exact filter; 0 or -JN_ENOTFOUND. Under lock. */
int jn__mqtt_sub_remove_locked(struct mq_session *s, const char *filter, uint32_t flen);
/* Deliver one message to one subscription (the deliver callback uses it,
 * and SUBSCRIBE for retained messages). qos: the message's QoS. */
void jn__mqtt_sub_deliver(struct mq_sub *ms, const struct jn_msg *m, uint8_t qos, bool retain,
                          int64_t expires_ns, uint64_t origin_id);
/* After attaching a connection (under lock): resend what is in flight,
 * then send queued messages up to the window. */
void jn__mqtt_session_resume_locked(struct mq_session *s, struct mq_conn *c);
/* Acknowledgements from the client: PUBACK/PUBCOMP free the message,
 * PUBREC moves it to MQ_RELEASED (and sends PUBREL) unless its reason is
 * a failure (>= 0x80, 5.0), which ends the flow. Returns 0, or
 * -JN_ENOTFOUND for a pid not in flight (nothing is sent). Takes the lock;
 * ignored (0) when c is no longer the session's connection. */
int jn__mqtt_session_ack(struct mq_session *s, struct mq_conn *c, uint8_t type, uint16_t pid,
                         uint8_t reason);
/* Inbound QoS 2 pid bookkeeping (under lock). */
bool jn__mqtt_q2in_has(struct mq_session *s, uint16_t pid);
int jn__mqtt_q2in_add(struct mq_session *s, uint16_t pid);
bool jn__mqtt_q2in_del(struct mq_session *s, uint16_t pid);
void jn__mqtt_msg_free(struct mq_msg *m);
/* The deliver callback of every MQTT jn_sub. */
void jn__mqtt_deliver(struct jn_sub *sub, const struct jn_msg *m, struct jn_pub *pub);
/* Read Nmqtt-Pub from a header block: QoS (0 without the header) and the
 * retain flag. */
uint8_t jn__mqtt_hdr_qos(const uint8_t *hdr, uint32_t len, bool *retain);
/* When a message with a Nmqtt-Exp header expires (CLOCK_REALTIME ns), or
 * 0 for never. now: the current CLOCK_REALTIME. */
int64_t jn__mqtt_hdr_expires(const struct jn_msg *m, int64_t now);

/* ---- client.c --------------------------------------------------------------- */

/* Publish a will as its client would have published it (permissions,
 * retain). No lock may be held. ctx may be NULL (not on a worker). */
void jn__mqtt_publish_will(struct jn_mqtt_server *srv, const struct mq_will *w,
                           struct jn_thread_ctx *ctx);

/* Send a PUBLISH built from a message in NATS form to connection c (called
 * under c's session lock, from any thread). Returns 0, -JN_EMSGSIZE (over
 * the client's maximum packet size: dropped), or the outq error. */
int jn__mqtt_send_publish(struct mq_conn *c, const struct jn_msg *m, uint8_t qos, bool retain,
                          bool dup, uint16_t pid, uint32_t sub_id, int64_t expires_ns);
/* Send PUBREL for pid (under the session lock). */
void jn__mqtt_send_pubrel(struct mq_conn *c, uint16_t pid);
/* Shutdown (any thread, under the session lock that has c attached): a
 * 5.0 client gets DISCONNECT 0x8B, then the connection is closed. */
/* The connection's version and its link id. */
uint8_t jn__mqtt_conn_version(const struct mq_conn *c);

/* Send an acknowledgement packet (PUBACK, PUBREC, PUBCOMP; the reason only
 * for 5.0) now; any thread that may touch c (acks.c). A failed 5.0 PUBREC
 * ends its QoS 2 flow: the packet id is forgotten. */
void jn__mqtt_ack_send(struct mq_conn *c, uint8_t type, uint16_t pid, uint8_t reason);
/* Is this thread inside a worker's on_data (an epoch read section)? */
bool jn__mqtt_on_worker(void);

/* ---- acks.c ----------------------------------------------------------------- */

struct mq_ack;
struct mq_ackq;
struct jn_js_puback;

/* Queue an acknowledgement behind the connection's earlier ones (creating
 * the FIFO in *qp on first use). It holds one wait for the caller, which
 * adds one per verdict to come (jn__mqtt_ack_wait) and ends its own with
 * jn__mqtt_ack_done(a, reason, false). NULL on OOM. */
struct mq_ack *jn__mqtt_ack_new(struct mq_ackq **qp, struct mq_conn *c, uint8_t type,
                                uint16_t pid, uint8_t reason);
void jn__mqtt_ack_wait(struct mq_ack *a);
/* One verdict is in (reason 0 = success; the first failure wins). When the
 * entry and those before it are complete they are sent. foreign: the
 * caller is not in an epoch read section (a syncer thread). */
void jn__mqtt_ack_done(struct mq_ack *a, uint8_t reason, bool foreign);
/* Verdict callbacks for jn_js_publish_acked and jn_store_when_durable. */
void jn__mqtt_ack_js_done(void *arg, const struct jn_js_puback *ack);
void jn__mqtt_ack_store_done(void *arg, int err);
/* Anything queued and not sent yet? */
bool jn__mqtt_acks_pending(struct mq_ackq *q);
/* The connection is closing: queued acknowledgements are dropped as their
 * verdicts come; the FIFO frees itself after the last. */
void jn__mqtt_acks_detach(struct mq_ackq *q);

/* ---- retained.c ------------------------------------------------------------- */

/* Store (payload non-empty) or delete (empty) the retained message of the
 * message's subject. hdr is stored as given. ts_ns: its publish time
 * (CLOCK_REALTIME); expires_ns 0 = never. Returns 0 or -JN_ENOMEM. */
int jn__mqtt_retain(struct jn_mqtt_server *srv, const struct jn_msg *m, int64_t ts_ns,
                    int64_t expires_ns, bool persist);
/* Deliver every retained message matching ms's filter to ms (with RETAIN
 * set), under ret_lock; takes the session lock per message. */
void jn__mqtt_retained_send(struct jn_mqtt_server *srv, struct mq_sub *ms);
void jn__mqtt_retained_free_all(struct jn_mqtt_server *srv);
/* persist.c, loading: copy every retained record forward (new record,
 * old one deleted). */
void jn__mqtt_retained_compact(struct jn_mqtt_server *srv);
/* persist.c, loading: a retained message whose record is store seq. */
int jn__mqtt_retain_loaded(struct jn_mqtt_server *srv, const struct jn_msg *m, int64_t ts_ns,
                           int64_t expires_ns, uint64_t seq);

/* ---- persist.c -------------------------------------------------------------- */

/* Open the store under srv->store_dir and load sessions and retained
 * messages. 0 or an error. */
int jn__mqtt_persist_open(struct jn_mqtt_server *srv);
void jn__mqtt_persist_close(struct jn_mqtt_server *srv);
/* Write / replace the session's record (client id, expiry, subscriptions);
 * a no-op for a session that is not persistent or without a store.
 * Under the session lock. */
void jn__mqtt_persist_session(struct mq_session *s);
/* Remove the session's record and its messages (under the session lock). */
void jn__mqtt_persist_session_drop(struct mq_session *s);
/* Append a message owed to s (sets m->seq); update its pid/state; remove. */
void jn__mqtt_persist_msg_add(struct mq_session *s, struct mq_msg *m);
void jn__mqtt_persist_msg_update(struct mq_session *s, struct mq_msg *m);
void jn__mqtt_persist_msg_del(struct mq_session *s, struct mq_msg *m);
/* Inbound QoS 2 pid received / released. */
void jn__mqtt_persist_q2in(struct mq_session *s);
/* Durability marks for one inbound packet (thread-local): begin, write,
 * end returns the highest seq this thread appended meanwhile (0: none).
 * barrier: make the deletes written so far covered by the mark. */
void jn__mqtt_persist_mark_begin(void);
uint64_t jn__mqtt_persist_mark_end(void);
void jn__mqtt_persist_barrier(struct jn_mqtt_server *srv);
/* jn_store_when_durable on the adapter's store (store must exist). */
int jn__mqtt_persist_when_durable(struct jn_mqtt_server *srv, uint64_t seq,
                                  void (*cb)(void *arg, int err), void *arg);
/* Retained message stored / removed: returns the record's seq (0: none). */
uint64_t jn__mqtt_persist_retained(struct jn_mqtt_server *srv, const struct jn_msg *m,
                                   int64_t ts_ns, int64_t expires_ns);
void jn__mqtt_persist_retained_del(struct jn_mqtt_server *srv, uint64_t seq);

#endif
