/*
 * bench.h - the pieces shared by jn_bench's workloads.
 *
 * jn_bench measures ONE NATS server at a URL and prints one line per metric:
 *
 *     RESULT <TAB> workload <TAB> metric <TAB> value <TAB> unit <TAB> better [<TAB> server]
 *
 * where better is "higher", "lower" or "info", and server is present only when
 * one run measured two servers (reqlat --pair). bench/run.sh runs the same
 * binary against nats-server and Junction and turns those lines into a table.
 * Human-readable progress goes to stderr, never to stdout.
 *
 * Publishers are libnats clients. Subscribers of the throughput workloads are
 * raw sockets read by one epoll thread (sink.c): a libnats subscriber
 * allocates and hands every message to a delivery thread, which on a 2-core
 * machine costs more CPU than the server spends routing the message, so the
 * numbers would measure the client. Request/reply uses raw clients too
 * (reqrep.c). --libnats switches pub/sub subscribers and request/reply back to
 * libnats, the application's view. The JetStream workloads (js.c) are libnats'
 * JetStream API throughout.
 */
#ifndef JN_BENCH_H
#define JN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

struct jn_bench_opts {
	char url[320];       /* nats://host:port, for libnats */
	char host[256];      /* the same, split, for raw sockets */
	int port;
	int size;            /* payload bytes */
	long count;          /* messages or requests to send (upper bound) */
	double secs;         /* time cap of the sending phase */
	int subs;            /* fan-out subscribers / queue-group members */
	int threads;         /* concurrent requesters */
	int conns;           /* idle connections */
	int pid;             /* server pid, for RSS */
	int drain_ms;        /* silence after which undelivered messages count as lost */
	bool libnats;        /* subscribers/requesters/responders on libnats, not raw */
	const char *name;    /* workload name used in RESULT lines */
	/* reqlat --pair: a second server measured in the same run, requests
	 * alternating between the two, so both see the same background load. */
	bool pair;
	char url2[320], host2[256];
	int port2;
	char label[2][64];   /* server names printed in RESULT lines when paired */
	/* JetStream workloads (js.c) */
	bool js_async;       /* jspub: js_PublishAsync with a window, not js_Publish */
	bool js_memory;      /* memory stream instead of file */
	int window;          /* jspub --async: PubAcks outstanding at most */
	int batch;           /* jsfetch: messages per fetch */
};

uint64_t jn_bench_now_ns(void);
void jn_bench_sleep_ms(int ms);
/* Print one RESULT line on stdout (see the top of this file). */
void jn_bench_result(const char *workload, const char *metric, double value,
                     const char *unit, const char *better);
/* The same with a seventh field naming the server (paired runs). */
void jn_bench_result_for(const char *server, const char *workload, const char *metric,
                         double value, const char *unit, const char *better);
/* Fill n bytes of payload; deterministic so both servers see the same bytes. */
void jn_bench_fill(char *buf, size_t n);

/* A libnats connection that never reconnects (a dropped connection must show
 * as a failure, not be papered over) and reports async errors on stderr.
 * send_asap: write each publish at once instead of buffering (responders).
 * Returns NULL on failure; caller destroys the connection. */
natsConnection *jn_bench_nats_connect(const struct jn_bench_opts *o, const char *name,
                                      bool send_asap);

/* rawconn.c: a NATS connection on a plain blocking socket. Connects, reads
 * INFO, sends CONNECT, then `extra` (SUB lines, may be NULL), then PING, and
 * waits for PONG, so every SUB in `extra` is registered on return.
 * Returns the fd (caller closes it) or -1 with a message on stderr. */
int jn_bench_raw_connect(const char *host, int port, const char *extra, int timeout_ms);

/* A buffered reader of MSG lines on a raw connection, for request/reply.
 * Payloads must fit in the buffer (they are small there). */
#define JN_BENCH_RD_BUF 65536
struct jn_bench_rawrd {
	int fd;
	size_t len, pos;          /* bytes in buf; parse position */
	char buf[JN_BENCH_RD_BUF];
};
struct jn_bench_rawmsg {
	const char *reply;        /* NULL when the message has no reply subject */
	size_t reply_len;
	const char *data;         /* payload (for HMSG: headers and payload) */
	size_t size;
};
/* Next complete MSG/HMSG into m, pointing into rd->buf (valid until the next
 * call). Reads from the socket only when block is true; answers PINGs.
 * Returns 1 with a message, 0 when none is buffered and !block, -1 when the
 * connection closed or sent something unusable. */
int jn_bench_raw_next(struct jn_bench_rawrd *rd, struct jn_bench_rawmsg *m, bool block);
int jn_bench_write_all(int fd, const char *p, size_t n);

/* sink.c: raw-socket subscribers counted by one reader thread. */
struct jn_bench_sink;
/* Opens n connections; connection i sends the SUB line sub_line(i, buf).
 * Returns NULL on failure. Free with jn_bench_sink_free(). */
struct jn_bench_sink *jn_bench_sink_new(const struct jn_bench_opts *o, int n,
                                        void (*sub_line)(int i, char *buf, size_t len));
/* Wait until `expected` messages arrived in total, or nothing arrived for
 * idle_ms, or deadline_ns (absolute, jn_bench_now_ns clock) passed.
 * Returns the number received so far. */
uint64_t jn_bench_sink_wait(struct jn_bench_sink *s, uint64_t expected, int idle_ms,
                            uint64_t deadline_ns);
uint64_t jn_bench_sink_total(const struct jn_bench_sink *s);
/* Stops the reader thread; counts are final after it. */
void jn_bench_sink_stop(struct jn_bench_sink *s);
/* Messages connection i received; only after jn_bench_sink_stop(). */
uint64_t jn_bench_sink_conn_count(const struct jn_bench_sink *s, int i);
/* Times of the first and of the last read that carried a message (0: none). */
uint64_t jn_bench_sink_first_ns(const struct jn_bench_sink *s);
uint64_t jn_bench_sink_last_ns(const struct jn_bench_sink *s);
/* Connections the server closed or that saw -ERR (slow consumer, ...). */
int jn_bench_sink_errors(const struct jn_bench_sink *s);
void jn_bench_sink_free(struct jn_bench_sink *s);

/* Workloads: each returns 0 on success, negative on failure. */
int jn_bench_pubsub(const struct jn_bench_opts *o);   /* 1:1 */
int jn_bench_fanout(const struct jn_bench_opts *o);
int jn_bench_queue(const struct jn_bench_opts *o);
int jn_bench_reqlat(const struct jn_bench_opts *o);
int jn_bench_reqtput(const struct jn_bench_opts *o);
int jn_bench_idle(const struct jn_bench_opts *o);
int jn_bench_jspub(const struct jn_bench_opts *o);    /* js.c */
int jn_bench_jsfetch(const struct jn_bench_opts *o);
int jn_bench_kvput(const struct jn_bench_opts *o);     /* kv.c */
int jn_bench_kvget(const struct jn_bench_opts *o);

#endif
