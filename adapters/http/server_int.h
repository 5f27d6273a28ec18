/*
 * server_int.h - what the files of adapters/http share. Not for other
 * folders (tests/unit may call the pure jn__ functions).
 *
 * Files: server.c (libmicrohttpd daemon, request life cycle, dispatch),
 * route.c (route table), respond.c (responses and JSON errors), auth.c
 * (Authorization header), publish.c, request.c (request/reply and the
 * reply inbox), sse.c (subscriptions as event streams), timer.c (request
 * deadlines, SSE pings), metrics.c (/metrics), info.c (/healthz, /v1/info,
 * /v1/openapi.json), streams.c (JetStream routes: streams, consumers,
 * messages, ack), fetch.c (fetch and consumer events: pull requests from a
 * private inbox), replay.c (stream replay SSE, read from the store),
 * message.c (the JSON of a stored message), kv.c (Key/Value routes),
 * codec.c (text codecs).
 *
 * Threads and locks. Handlers run on libmicrohttpd threads. Deliveries
 * (SSE events, replies) run on whichever thread publishes: an I/O worker,
 * another libmicrohttpd thread, a JetStream thread. A suspended connection
 * is resumed by exactly one party: whoever flips its `suspended` flag from
 * true to false under the object's lock, and that party calls
 * MHD_resume_connection() after dropping every lock of ours (so no lock of
 * ours is ever held while libmicrohttpd takes its own). While a connection
 * is suspended libmicrohttpd cannot close it, so the MHD_Connection pointer
 * stays valid for the resumer without any reference count.
 */
#ifndef JN_HTTP_SERVER_INT_H
#define JN_HTTP_SERVER_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include "adapters/http/codec.h"
#include "adapters/http/server.h"
#include "core/header.h"
#include "core/jetstream.h"
#include "core/sublist.h"

/* HTTP methods as bits (route tables, Allow). */
enum {
	JN_HM_GET = 1, JN_HM_HEAD = 2, JN_HM_POST = 4, JN_HM_PUT = 8,
	JN_HM_DELETE = 16, JN_HM_OPTIONS = 32, JN_HM_PATCH = 64,
};

struct http_req;
typedef void (*jn__http_handler)(struct http_req *r);

/* One route. Pattern segments: a literal, "*" (exactly one segment) or
 * "**" (one or more trailing segments). */
struct jn__route {
	const char *pattern;
	unsigned methods;
	jn__http_handler fn;
	unsigned flags;
};
#define JN_ROUTE_PUBLIC 1u    /* no authentication (health probes) */

/* Find the route for path (raw, not decoded) and method. Returns NULL when
 * none; *allow gets the methods of every route whose pattern matches the
 * path (0: unknown path -> 404; else wrong method -> 405). */
const struct jn__route *jn__route_find(const struct jn__route *t, size_t n, const char *path,
                                       unsigned method, unsigned *allow);
const struct jn__route *jn__http_routes(size_t *n);
unsigned jn__http_method_bit(const char *method);
/* "GET, HEAD, POST" for an Allow header (buf cap >= 64). */
void jn__http_allow_str(unsigned methods, char *buf, size_t cap);

/* ---- the server ------------------------------------------------------------ */

struct pending;   /* request.c */
struct pull;      /* fetch.c */
struct json_t;    /* jansson */
struct sse_client;

struct http_inbox {
	struct jn_sub sub;            /* "_INBOX.<random>.*"; first: deliver casts */
	char subject[40];
	size_t prefix_len;            /* "_INBOX.<random>." */
	pthread_mutex_t lock;         /* map, heap, every pending's state */
	struct pending **map;         /* id -> pending, open hashing with chains */
	uint32_t map_cap, map_n;
	struct pending **heap;        /* deadlines, min-heap */
	uint32_t heap_n, heap_cap;
	uint64_t next_id;
	bool inserted;
};

struct jn_http_server {
	struct jn_http_opts opts;     /* strings point at the copies below */
	char *host, *allow_origin, *server_name, *version, *server_id;
	struct jn_router *router;
	const struct jn_auth *auth;
	struct MHD_Daemon *mhd;
	int listen_fd;
	char addr[300];
	int port;
	int64_t started_mono_ns;
	int64_t started_wall_ns;
	struct jn_http_stats stats;
	_Atomic bool stopping;
	_Atomic uint64_t live_reqs;           /* requests not completed yet */
	struct MHD_Response *resp_accepted;   /* shared 202 {"ok":true} */

	struct http_inbox inbox;

	pthread_mutex_t sse_lock;             /* the list; taken before a client's lock */
	struct sse_client *sse_head;
	_Atomic int sse_rechecks;             /* clients with a delayed wake-up */

	pthread_mutex_t pull_lock;            /* fetch.c: the list of pulls */
	struct pull *pull_head;

	pthread_mutex_t auth_lock;            /* credential cache (auth.c) */
	struct auth_cache_entry *auth_cache;

	pthread_t timer;
	pthread_mutex_t timer_lock;
	pthread_cond_t timer_cond;
	bool timer_on, timer_stop, timer_kick;
};

/* Per request (MHD's con_cls): created on the first call of the access
 * handler, freed by the completion callback. */
struct http_req {
	struct jn_http_server *srv;
	struct MHD_Connection *conn;
	const struct jn__route *route;
	unsigned method;
	const char *url;               /* raw path, owned by libmicrohttpd */
	const struct jn_user *user;    /* NULL: unrestricted */
	/* body */
	uint8_t *body;
	size_t body_len, body_cap;
	uint64_t body_seen;            /* bytes received, kept or not */
	bool body_too_big;
	bool dispatched;
	/* the answer, queued by server.c */
	unsigned status;
	struct MHD_Response *resp;
	bool resp_shared;              /* resp belongs to the server, not to r */
	/* asynchronous answers: called again each time the connection is
	 * resumed, until it sets resp */
	void (*resume_fn)(struct http_req *r);
	void *state;                   /* pending or sse_client */
	void (*cleanup)(struct http_req *r);   /* on completion, if set */
};

/* ---- respond.c ---------------------------------------------------------- */

/* Set r's answer: body bytes taken from buf (jn_malloc'd; ownership passes
 * even on failure), content type as given. */
void jn__http_reply_take(struct http_req *r, unsigned status, char *buf, size_t len,
                         const char *ctype);
void jn__http_reply_copy(struct http_req *r, unsigned status, const void *buf, size_t len,
                         const char *ctype);
/* {"error":{"code":status[,"err_code":N],"description":"..."}}; err_code 0
 * is left out. Adds WWW-Authenticate to a 401. */
void jn__http_error(struct http_req *r, unsigned status, int err_code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* From the core error table: status and text of err (negative or not);
 * with_js: add its JetStream err_code. detail (may be NULL) is appended to
 * the description after ": ". */
void jn__http_error_jn(struct http_req *r, int err, bool with_js, const char *detail);
/* Headers every response gets (CORS). */
void jn__http_common_headers(struct jn_http_server *s, struct MHD_Response *resp);

/* ---- auth.c --------------------------------------------------------------- */

struct jn__http_cred {
	int kind;                 /* JN_HTTP_CRED_* */
	const char *token;        /* Bearer: points into the header */
	char *user, *pass;        /* Basic: decoded, inside buf */
	char buf[512];
};
enum { JN_HTTP_CRED_NONE, JN_HTTP_CRED_BEARER, JN_HTTP_CRED_BASIC, JN_HTTP_CRED_BAD };
/* Parse an Authorization header value (NULL: none). Returns c->kind. */
int jn__http_parse_cred(const char *h, struct jn__http_cred *c);
/* Authenticate r from its Authorization header: 0 (r->user set) or
 * -JN_EAUTH. */
int jn__http_authenticate(struct http_req *r);
void jn__http_auth_fini(struct jn_http_server *s);

/* ---- publish.c ----------------------------------------------------------- */

/* NATS name for an HTTP request header that becomes a message header, or
 * NULL: Nats-Msg-Id, Nats-Expected-*, Nats-Rollup (canonical case) and
 * X-Nats-Hdr-<Name> (<Name> as given). */
const char *jn__http_map_header(const char *name, size_t *out_len);
/* Build the NATS/1.0 block from r's request headers into b (left empty if
 * none map). Returns 0 or -JN_ENOMEM. */
int jn__http_msg_headers(struct http_req *r, struct jn__hbuf *b);
/* Decode and check the subject of r's path from segment index `from` on
 * (raw), into a jn_malloc'd string. 0, or an error answer is set on r and
 * <0 returned. */
int jn__http_path_subject(struct http_req *r, int from, bool wildcards, char **out,
                          size_t *len);
/* Publish from a libmicrohttpd thread (epoch section + this thread's match
 * cache). Returns deliveries or <0; *matched = subscriptions matched. */
int jn__http_publish(struct jn_http_server *s, const struct jn_msg *m, uint32_t *matched);
/* The same through JetStream's verdict hook (s->opts.js set): done(arg,
 * ack) exactly once when the return is >= 0 (see jn_js_publish_acked). */
int jn__http_publish_acked(struct jn_http_server *s, const struct jn_msg *m,
                           jn_js_puback_fn done, void *arg);
void jn__http_publish_route(struct http_req *r);

/* ---- request.c ------------------------------------------------------------ */

int jn__http_inbox_start(struct jn_http_server *s);
void jn__http_inbox_stop(struct jn_http_server *s);   /* unsubscribe; resume all */
void jn__http_inbox_fini(struct jn_http_server *s);
/* Publish m (reply set by this call) and wait for the first reply, until
 * timeout_ns. done(r, status, hdr, hlen, data, dlen) builds the answer:
 * status 200 with the reply, 503 (no responders / stopping), 504. */
typedef void (*jn__http_reply_fn)(struct http_req *r, int status, const uint8_t *hdr,
                                  uint32_t hlen, const uint8_t *data, uint32_t dlen);
void jn__http_request_start(struct http_req *r, const char *subject, size_t slen,
                            const uint8_t *hdr, uint32_t hlen, const uint8_t *data,
                            uint32_t dlen, int64_t timeout_ns, jn__http_reply_fn done);
/* Expire what is due; returns the next deadline (mono ns) or INT64_MAX. */
int64_t jn__http_inbox_expire(struct jn_http_server *s, int64_t now_ns);
void jn__http_request_route(struct http_req *r);

/* ---- sse.c ------------------------------------------------------------------ */

void jn__http_subscribe_route(struct http_req *r);
/* One "event: msg" for m, appended to b. */
void jn__http_sse_format(struct jn__hbuf *b, const struct jn_msg *m);
/* Queue ": ping" on every stream. */
void jn__http_sse_ping_all(struct jn_http_server *s);
void jn__http_sse_stop(struct jn_http_server *s);   /* end every stream */
/* {"K":"v","R":["1","2"]} from a NATS/1.0 header block (repeated keys
 * become lists, in order); {} when there is none or it is malformed. */
void jn__http_headers_json(struct jn__hbuf *b, const uint8_t *hdr, uint32_t hdr_len);

/* Generic event streams: a producer (ops) fills the client's bounded buffer.
 * refill: the buffer is empty; push more, or leave it empty and arrange a
 *   wake-up (jn__http_sse_wake/_wake_later) for when there is more. Runs on
 *   the libmicrohttpd thread with no lock of ours held.
 * stop: the stream is over (client gone or server stopping): unsubscribe.
 *   Deliveries already running may still reach ctx until free.
 * free: after the epoch; free ctx.
 * The first two may be NULL. */
struct jn__sse_ops {
	void (*refill)(struct sse_client *c, void *ctx);
	void (*stop)(void *ctx);
	void (*free)(void *ctx);
};
/* Answer r with an event stream (": ok" first). On success ctx belongs to
 * the stream (ops->free); on failure an error answer is set, NULL is
 * returned and the caller keeps ctx. */
struct sse_client *jn__http_sse_start(struct http_req *r, const struct jn__sse_ops *ops,
                                      void *ctx);
/* Queue bytes (whole events). 0, -JN_ESLOW (the client was cut: over
 * sse_max_buffer) or -JN_ECLOSED. Any thread. */
int jn__http_sse_push(struct sse_client *c, const char *p, size_t n);
size_t jn__http_sse_buffered(struct sse_client *c);
void jn__http_sse_wake(struct sse_client *c);            /* call refill again */
void jn__http_sse_wake_later(struct sse_client *c, int64_t delay_ns);
void jn__http_sse_end(struct sse_client *c);             /* end after the buffer */
/* Timer: do the delayed wake-ups that are due; next one (mono ns) or INT64_MAX. */
int64_t jn__http_sse_recheck(struct jn_http_server *s, int64_t now);

/* ---- timer.c ----------------------------------------------------------------- */

int jn__http_timer_start(struct jn_http_server *s);
void jn__http_timer_stop(struct jn_http_server *s);
void jn__http_timer_kick(struct jn_http_server *s);   /* a nearer deadline exists */
int64_t jn__http_mono_ns(void);

/* ---- metrics.c / info.c / streams.c ------------------------------------------ */

void jn__http_metrics_route(struct http_req *r);
void jn__http_health_route(struct http_req *r);
void jn__http_info_route(struct http_req *r);
void jn__http_openapi_route(struct http_req *r);
void jn__http_streams_route(struct http_req *r);
void jn__http_kv_route(struct http_req *r);   /* kv.c */

/* ---- JetStream (streams.c, message.c, fetch.c, replay.c) ---------------------- */

/* Answer r from a JetStream API error object {"code","err_code","description"}:
 * the status of the error table's row for err_code (a client's mistake is
 * 4xx even where the NATS API says 500), the err_code and description kept. */
void jn__http_js_error(struct http_req *r, struct json_t *err);
/* The HTTP status of JetStream error err_code (code: the NATS API's, used
 * when err_code is unknown). */
unsigned jn__http_js_status(int err_code, long code);
/* One message as the contract's JSON object, appended to b:
 * {"subject","seq",["consumer_seq","delivered","pending",]"time","headers",
 *  "data"|"data_text"[,"ack"]}. ack NULL: no consumer fields. text: give
 * "data_text" when the payload is valid UTF-8. */
struct jn__http_jsmsg {
	const char *subject;
	size_t subject_len;
	uint64_t seq;
	int64_t ts;
	const uint8_t *hdr, *data;
	uint32_t hdr_len, data_len;
	const char *ack;              /* NULL: not delivered by a consumer */
	size_t ack_len;
	uint64_t cseq, delivered, pending;
};
void jn__http_jsmsg_json(struct jn__hbuf *b, const struct jn__http_jsmsg *m, bool text);
/* Does r want "data_text" (Accept: text/plain or ?encoding=utf8)? */
bool jn__http_wants_text(struct http_req *r);
/* Path segment i of r's URL, percent-decoded into out (NUL-terminated).
 * Returns its length or -1 (absent, malformed, too long). */
long jn__http_path_seg(struct http_req *r, int i, char *out, size_t cap);
/* A duration query parameter: 0 (absent: *ns untouched) or -1 with a 400 set. */
int jn__http_query_duration(struct http_req *r, const char *key, int64_t max_ns,
                            int64_t *ns);

void jn__http_fetch_route(struct http_req *r, const char *stream, const char *consumer);
void jn__http_consumer_events_route(struct http_req *r, const char *stream,
                                    const char *consumer);
void jn__http_replay_route(struct http_req *r, const char *stream);
/* Timer: expire fetches; next deadline (mono ns) or INT64_MAX. */
int64_t jn__http_pull_expire(struct jn_http_server *s, int64_t now);
void jn__http_pull_stop(struct jn_http_server *s);   /* end every fetch (503) */
/* Parse r's body as a JSON object; on failure sets a 400 naming the
 * problem and returns NULL. The caller owns the result (json_decref). */
struct json_t *jn__http_body_json(struct http_req *r);
/* "invalid JSON: <what> at line L column C" into out. NULL result = bad. */
struct json_t *jn__http_parse_json(const uint8_t *p, size_t n, char *why, size_t cap);

/* The OpenAPI document (generated from adapters/http/openapi.json). */
extern const char jn_http_openapi_json[];

#endif
