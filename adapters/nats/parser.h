/*
 * parser.h - the NATS client protocol (client -> server direction) as a
 * resumable state machine over a byte stream.
 *
 * Feed it whatever recv() returned; a command split at any byte boundary
 * parses exactly as if it had arrived whole. When a command is complete the
 * parser calls `on_cmd` with pointers into the caller's buffer (zero copy);
 * only a control line or payload that straddles two reads is copied into
 * the parser's own scratch buffer, which is allocated on demand and released
 * as soon as it is no longer needed, so an idle connection holds nothing.
 *
 * Operations: CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG, INFO (ignored by
 * the server, but parsed), +OK and -ERR (tolerated). Names are
 * case-insensitive; arguments are separated by spaces or tabs, repeated
 * separators tolerated. A control line ends with "\n"; a '\r' right before
 * it is dropped (nats-server tolerates a bare "\n" too). The payload of
 * PUB/HPUB must be followed by exactly "\r\n".
 */
#ifndef JN_NATS_PARSER_H
#define JN_NATS_PARSER_H

#include <stddef.h>
#include <stdint.h>

enum jn_nats_op {
	JN_NATS_CONNECT = 1,
	JN_NATS_PUB,
	JN_NATS_HPUB,
	JN_NATS_SUB,
	JN_NATS_UNSUB,
	JN_NATS_PING,
	JN_NATS_PONG,
	JN_NATS_INFO,
	JN_NATS_OK,
	JN_NATS_ERR,
};

struct jn_nats_str {
	const char *p;
	uint32_t len;      /* p == NULL, len == 0: absent */
};

/* One parsed command; every pointer is valid only during on_cmd. */
struct jn_nats_cmd {
	enum jn_nats_op op;
	struct jn_nats_str subject;   /* PUB HPUB SUB */
	struct jn_nats_str reply;     /* PUB HPUB (optional) */
	struct jn_nats_str queue;     /* SUB (optional) */
	struct jn_nats_str sid;       /* SUB UNSUB */
	int64_t max_msgs;             /* UNSUB: -1 when absent or not a number
	                                 (nats-server then unsubscribes at once) */
	uint32_t hdr_len;             /* HPUB */
	uint32_t total_len;           /* PUB HPUB: payload (+headers) size */
	const uint8_t *payload;       /* PUB HPUB: total_len bytes (headers first) */
	struct jn_nats_str json;      /* CONNECT INFO: the JSON text; -ERR: text */
};

/* Return 0 to continue, <0 to stop parsing (connection closing). */
typedef int (*jn_nats_cmd_fn)(void *ctx, const struct jn_nats_cmd *cmd);

/* Zero-initialised apart from the limits; see parser.c for the states. */
struct jn_nats_parser {
	int state;
	int skip_op;                  /* PING/PONG/+OK whose line tail is skipped */
	uint32_t max_control_line;
	uint32_t max_payload;
	/* control-line / payload accumulation across reads:
	 * [control line (line_len bytes)][payload][\r\n] */
	uint8_t *scratch;
	uint32_t scratch_len, scratch_cap;
	uint32_t line_len;            /* bytes of the control line in scratch */
	uint32_t need;                /* payload bytes (+2 for CRLF) still expected */
	const char *err;              /* after a failure: the NATS -ERR text, or NULL
	                                 to close without -ERR */
	/* Set by the connection engine; nats-server makes these checks on the
	 * control line, before any payload byte (both 0 after init): */
	uint8_t hpub_off;             /* HPUB not allowed (no CONNECT headers:true):
	                                 its control line closes silently */
	uint8_t connect_first;        /* auth pending: a command not starting with
	                                 'C' fails at its first byte (-JN_EAUTH) */
};

void jn_nats_parser_init(struct jn_nats_parser *p, uint32_t max_control_line,
                         uint32_t max_payload);
void jn_nats_parser_fini(struct jn_nats_parser *p);

/* Parse buf. Returns 0, the callback's negative value, or on a protocol error
 * -JN_EPROTO / -JN_EMAXCTRL / -JN_EMAXPAYLOAD / -JN_EAUTH with p->err set to
 * the -ERR text to send ("Unknown Protocol Operation", "maximum control line
 * exceeded", "Maximum Payload Violation", "Authorization Violation"), or NULL
 * for a malformed argument list or a refused HPUB (close silently, like
 * nats-server). -JN_ENOMEM (err NULL) when scratch cannot grow. After an
 * error the parser must not be fed again. */
int jn_nats_parse(struct jn_nats_parser *p, const uint8_t *buf, size_t len,
                  jn_nats_cmd_fn on_cmd, void *ctx);

/* Bytes held in scratch (0 when idle). */
size_t jn_nats_parser_held(const struct jn_nats_parser *p);

#endif
