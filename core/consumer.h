/*
 * consumer.h - JetStream consumers: a cursor over one stream with ack
 * tracking, redelivery, pull requests (ADR-13) and push delivery with idle
 * heartbeats and flow control (ADR-9), at the nats-server 2.9 behaviour
 * level (shared/spec/jetstream-api.md §7-§11).
 *
 * Pieces:
 *   consumer_config.c  ConsumerConfig: parse, defaults, validation, update
 *                      rules, JSON echo (pure; unit tested)
 *   consumer.c         the engine: delivery, acks, pull requests, timers,
 *                      persistence of durables (consumer_state.h), and the
 *                      hooks stream.h declares (on_new_message, acked, ...)
 *   js_ack.c           ack subjects, ack bodies and pull request bodies
 *                      (pure; unit tested), and the "$JS.ACK.>" and
 *                      "$JS.FC.>" subscriptions (jn_js_consumers_start/stop)
 *   js_consumer_api.c  the "$JS.API.CONSUMER.>" handlers (jn_js_consumer_api)
 *
 * Lifetime. A consumer is attached to its stream's consumer list
 * (stream.h) and holds a stream reference. It goes away in exactly one of
 * three ways: deleted through the API, deleted by its inactive threshold
 * (ephemerals) from jn_consumer_tick, or detached by its stream
 * (jn_consumer_stream_gone). Each first detaches it, so no new caller finds
 * it, then frees it through jn_epoch_retire(): every caller holding a
 * consumer pointer must be inside an epoch read section (worker deliver
 * callbacks and jn_js_tick are).
 */
#ifndef JN_CONSUMER_H
#define JN_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "core/msg.h"
#include "core/router.h"

struct jn_js;
struct jn_stream;
struct jn_stream_cfg;
struct jn_consumer;

/* ---- ConsumerConfig (consumer_config.c) -------------------------------- */

enum jn_deliver_policy {
	JN_DELIVER_ALL = 0,
	JN_DELIVER_LAST,
	JN_DELIVER_NEW,
	JN_DELIVER_BY_START_SEQ,
	JN_DELIVER_BY_START_TIME,
	JN_DELIVER_LAST_PER_SUBJECT,
};

/* The JSON zero value is "none" (nats.go and nats.js send "explicit"). */
enum jn_ack_policy { JN_ACK_NONE = 0, JN_ACK_ALL, JN_ACK_EXPLICIT };

enum jn_replay_policy { JN_REPLAY_INSTANT = 0, JN_REPLAY_ORIGINAL };

#define JN_CONSUMER_ACK_WAIT_DEFAULT_NS (30LL * 1000000000LL)
#define JN_CONSUMER_INACTIVE_DEFAULT_NS (5LL * 1000000000LL)
#define JN_CONSUMER_MAX_WAITING_DEFAULT 512
#define JN_CONSUMER_MAX_ACK_PENDING_DEFAULT 1000
#define JN_CONSUMER_MAX_DESCRIPTION 4096
#define JN_CONSUMER_MIN_HEARTBEAT_NS (100LL * 1000000LL)

/* A ConsumerConfig (nats-server 2.9 field set). Strings and the backoff
 * array are owned by the struct (jn_consumer_cfg_fini). Durations in ns.
 * Zero-initialised = an empty request. */
struct jn_consumer_cfg {
	char *durable_name;           /* NULL when unset (never "") */
	char *name;
	char *description;
	enum jn_deliver_policy deliver_policy;
	uint64_t opt_start_seq;
	bool has_opt_start_time;
	int64_t opt_start_time;       /* ns since the Unix epoch */
	enum jn_ack_policy ack_policy;
	int64_t ack_wait;
	int64_t max_deliver;          /* -1 after defaults: unlimited */
	int64_t *backoff;
	uint32_t nbackoff;
	char *filter_subject;
	enum jn_replay_policy replay_policy;
	uint64_t rate_limit_bps;      /* accepted and echoed; not enforced */
	char *sample_freq;            /* accepted and echoed; no advisories */
	int64_t max_waiting;
	int64_t max_ack_pending;
	int64_t idle_heartbeat;
	bool flow_control;
	bool headers_only;
	int64_t max_batch;            /* pull request limits */
	int64_t max_expires;
	int64_t max_bytes;
	char *deliver_subject;        /* set: push consumer */
	char *deliver_group;
	int64_t inactive_threshold;
	int64_t num_replicas;
	bool mem_storage;
	bool direct;
};

void jn_consumer_cfg_fini(struct jn_consumer_cfg *c);
/* Deep copy; 0 or -JN_ENOMEM (dst is then zeroed). */
int jn_consumer_cfg_copy(struct jn_consumer_cfg *dst, const struct jn_consumer_cfg *src);

/* Parse a ConsumerConfig object (the "config" member of a create request,
 * or a persisted config), lenient like Go's json: absent and null members
 * keep their zero value, unknown members are ignored. A member of the wrong
 * type or an unknown enum string is -JN_EBADJSON; out of memory -JN_ENOMEM.
 * On failure *out is zeroed (nothing to fini). */
int jn_consumer_cfg_parse(json_t *obj, struct jn_consumer_cfg *out);

/* nats-server's setConsumerConfigDefaults: max_waiting 512 for pull,
 * ack_wait 30 s with acks, max_deliver -1, ack_wait = backoff[0], and
 * max_ack_pending 1000 with acks. */
void jn_consumer_cfg_defaults(struct jn_consumer_cfg *c);

/* nats-server's checkConsumerCfg against the stream's config (scfg may be
 * NULL: the stream-dependent checks are skipped). 0, or the error (its
 * err_code row) with the exact nats-server description written to errbuf
 * when it varies (-JN_EDELIVERPOLICY, -JN_ESAMPLEFREQ), "" otherwise. */
int jn_consumer_cfg_check(const struct jn_consumer_cfg *c, const struct jn_stream_cfg *scfg,
                          char *errbuf, size_t errcap);

/* May `old` (as stored) become `upd` (defaults applied)? nats-server's
 * checkNewConsumerConfig: 0, or -JN_ECONSUMERCREATE with "<field> can not be
 * updated" in errbuf, or -JN_EMAXDELIVERBACKOFF. deliver_bound: the old
 * deliver subject currently has a subscriber (a bound push consumer can not
 * change it: -JN_ECONSUMEREXISTS). */
int jn_consumer_cfg_check_update(const struct jn_consumer_cfg *old,
                                 const struct jn_consumer_cfg *upd, bool deliver_bound,
                                 char *errbuf, size_t errcap);

bool jn_consumer_cfg_equal(const struct jn_consumer_cfg *a, const struct jn_consumer_cfg *b);

/* The config as nats-server echoes it (Go field order and omitempty rules).
 * New reference, NULL on OOM. */
json_t *jn_consumer_cfg_to_json(const struct jn_consumer_cfg *c);

const char *jn_deliver_policy_str(enum jn_deliver_policy p);
const char *jn_ack_policy_str(enum jn_ack_policy p);
const char *jn_replay_policy_str(enum jn_replay_policy p);

/* ---- Ack subjects, ack bodies, pull requests (js_ack.c) ----------------- */

/* The fields of a delivery's reply subject. */
struct jn_ack_info {
	const char *stream;           /* point into the parsed subject */
	size_t stream_len;
	const char *consumer;
	size_t consumer_len;
	uint64_t delivered;           /* delivery count, 1 = first */
	uint64_t sseq;
	uint64_t cseq;
	int64_t ts;                   /* stored time, ns */
	uint64_t pending;
};

/* "$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>"
 * (the 9-token v1 form nats-server 2.9 sends). Returns the length written
 * (buf NUL-terminated) or -JN_ENOMEM when cap is too small. */
int jn_ack_subject_format(char *buf, size_t cap, const char *stream, size_t stream_len,
                          const char *consumer, size_t consumer_len, uint64_t delivered,
                          uint64_t sseq, uint64_t cseq, int64_t ts, uint64_t pending);

/* Parse the v1 form, and the 12-token v2 form
 * "$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.
 * <cseq>.<ts>.<pending>.<random>" that clients also accept. 0 or -JN_EINVAL. */
int jn_ack_subject_parse(const char *subj, size_t len, struct jn_ack_info *out);

enum jn_ack_kind {
	JN_ACK_ACK = 0,   /* empty, "+ACK", "+OK" */
	JN_ACK_NAK,       /* "-NAK" [delay] */
	JN_ACK_WPI,       /* "+WPI" */
	JN_ACK_NXT,       /* "+NXT" [pull request] */
	JN_ACK_TERM,      /* "+TERM" [reason] */
	JN_ACK_UNKNOWN,   /* anything else: ignored, as nats-server does */
};

/* Classify an ack body (the payload after any headers). For -NAK, *delay_ns
 * is the delay of "-NAK {\"delay\": <ns>}" or "-NAK <Go duration>" (0 when
 * none or unparsable: a plain NAK, as nats-server treats a bad delay). For
 * +NXT, rest/rest_len are the bytes after "+NXT" (a pull request body). */
enum jn_ack_kind jn_ack_body_parse(const uint8_t *body, size_t len, int64_t *delay_ns,
                                   const uint8_t **rest, size_t *rest_len);

/* Go's time.ParseDuration ("1.5s", "300ms", "1h2m", "-5s"): 0 or -JN_EINVAL. */
int jn_go_duration_parse(const char *s, size_t len, int64_t *ns);

/* A pull request ("CONSUMER.MSG.NEXT" body, or what follows +NXT). */
struct jn_pull_req {
	int64_t batch;                /* >= 1 after parsing, as clients mean it */
	int64_t expires;              /* ns from now, 0 = never */
	int64_t max_bytes;            /* 0 = unlimited */
	bool no_wait;
	int64_t idle_heartbeat;       /* ns, 0 = none */
};

/* nats-server's nextReqFromMsg: empty -> batch 1; "{...}" -> the JSON
 * request; a decimal number -> that batch; anything else -> batch 1.
 * Errors (-JN_EBADREQUEST, text for "400 Bad Request - <text>" in errbuf):
 * malformed JSON, "heartbeat value too large" (idle_heartbeat * 2 >
 * expires). */
int jn_pull_req_parse(const uint8_t *body, size_t len, struct jn_pull_req *out,
                      char *errbuf, size_t errcap);

/* ---- The consumer (consumer.c) ------------------------------------------ */

/* How the create request named the consumer (spec §7 subject forms). */
enum jn_consumer_create_kind {
	JN_CREATE_LEGACY_EPHEMERAL,   /* CONSUMER.CREATE.<s> */
	JN_CREATE_NAMED,              /* CONSUMER.CREATE.<s>.<n>[.<filter>] */
	JN_CREATE_LEGACY_DURABLE,     /* CONSUMER.DURABLE.CREATE.<s>.<d> */
};

/* Create, or update if a consumer with the config's name (durable_name, else
 * name) exists: nats-server's addConsumer. cfg is the parsed request config
 * (defaults not yet applied); it is borrowed. On success *out is the
 * consumer (valid while the caller stays in its epoch section) and 0 is
 * returned; on failure the error row to answer with, plus the description
 * in errbuf when it varies ("" otherwise). */
int jn_consumer_create(struct jn_stream *st, const struct jn_consumer_cfg *cfg,
                       struct jn_consumer **out, char *errbuf, size_t errcap);

/* Start delivering what is already available (after a create or update;
 * the API handler calls it once the response is out). */
void jn_consumer_kick(struct jn_consumer *c, struct jn_pub *pub);

/* Delete through the API (or the inactive threshold): detach from the
 * stream, answer waiting pull requests with "409 Consumer Deleted", remove
 * its state files, free it. 0 or -JN_ECONSUMERNOTFOUND (already gone). Not
 * under any consumer lock. */
int jn_consumer_delete(struct jn_consumer *c);

/* ConsumerInfo ({"stream_name","name","created","config","delivered",...}).
 * New reference, NULL on OOM or when c was deleted meanwhile. */
json_t *jn_consumer_info_json(struct jn_consumer *c);

const char *jn_consumer_name(const struct jn_consumer *c);

/* A pull request (CONSUMER.MSG.NEXT or +NXT) with its reply subject (the
 * message's reply). pub: the calling deliver callback's pub, or NULL on a
 * non-worker thread. */
void jn_consumer_pull(struct jn_consumer *c, const char *reply, size_t reply_len,
                      const uint8_t *body, size_t body_len, struct jn_pub *pub);

/* An ack publish on one of c's ack subjects (already parsed into ai). */
void jn_consumer_ack(struct jn_consumer *c, const struct jn_ack_info *ai,
                     const struct jn_msg *msg, struct jn_pub *pub);

/* A flow control response on subject subj ("$JS.FC.<s>.<c>.<id>"). */
void jn_consumer_flow_control(struct jn_consumer *c, const char *subj, size_t len,
                              struct jn_pub *pub);

#endif
