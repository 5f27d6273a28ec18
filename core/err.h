/*
 * err.h - the one error type of Junction.
 *
 * Every function that can fail returns 0 (or a non-negative count) on success
 * and a negative jn_err code (-JN_ENOTFOUND, ...) on failure. The mapping of
 * each code to what a protocol says on the wire (NATS -ERR text, JetStream
 * err_code, HTTP status, MQTT v5 reason code) lives in one table in err.c, so
 * no adapter writes error literals of its own.
 */
#ifndef JN_ERR_H
#define JN_ERR_H

enum jn_err {
	JN_OK = 0,
	JN_ENOMEM,        /* allocation failed */
	JN_EINVAL,        /* invalid argument (generic) */
	JN_ENOTFOUND,     /* no such object */
	JN_EEXIST,        /* object already exists */
	JN_EBADSUBJECT,   /* subject fails the subject rules */
	JN_EBADPUBSUBJECT,/* publish subject not a valid literal */
	JN_EPROTO,        /* protocol violation / unknown operation */
	JN_EMAXCTRL,      /* control line too long */
	JN_EMAXPAYLOAD,   /* payload over max_payload */
	JN_EAUTH,         /* authentication failed */
	JN_EAUTHTIMEOUT,  /* no CONNECT within the auth timeout */
	JN_EPERM_PUB,     /* publish permission denied */
	JN_EPERM_SUB,     /* subscribe permission denied */
	JN_ESTALE,        /* too many unanswered pings */
	JN_ESLOW,         /* slow consumer: outbound limit exceeded */
	JN_ECLOSED,       /* object is closing or closed */
	JN_EMAXCONN,      /* maximum connections exceeded */
	JN_EMAXSUBS,      /* maximum subscriptions exceeded */
	JN_EBADPROTOVER,  /* CONNECT protocol not 0 or 1 */
	JN_ENOHEADERS,    /* no_responders requested without headers */
	JN_EBADHDR,       /* malformed header block */
	JN_ECONFIG,       /* configuration error */
	JN_EIO,           /* I/O error */
	JN_ENOSPC,        /* disk full */
	JN_ETIMEOUT,      /* timed out */
	JN_ENORESPONDERS, /* request had no responders */
	/* Added by core2: more specific codes so each JetStream err_code the
	 * clients test has its own row (ENOTFOUND/EEXIST carry the stream ones). */
	JN_EPERM_REPLY,   /* publish with a reply subject not allowed */
	JN_EJSNOTENABLED, /* JetStream not enabled (10076) */
	JN_EBADREQUEST,   /* JetStream: bad request (10003) */
	JN_EBADJSON,      /* JetStream: invalid JSON (10025) */
	JN_ESTREAMMISMATCH, /* stream name in subject does not match request (10056) */
	JN_ESUBJOVERLAP,  /* subjects overlap with an existing stream (10065) */
	JN_ESTREAMNOTFOUND,   /* stream not found (10059) */
	JN_ESTREAMEXISTS, /* stream name in use with a different config (10058) */
	JN_ECONSUMERNOTFOUND, /* consumer not found (10014) */
	JN_ECONSUMEREXISTS,   /* consumer name already in use (10013) */
	JN_ENOMSG,        /* no message found (10037) */
	JN_EEXPECTSTREAM, /* Nats-Expected-Stream mismatch (10060) */
	JN_EWRONGLASTSEQ, /* expected last sequence mismatch (10071) */
	JN_EWRONGLASTMSGID, /* expected last msg id mismatch (10070) */
	JN_EMSGSIZE,      /* message larger than the stream's max_msg_size (10054) */
	JN_ERR_COUNT
};

/* How one error shows on each protocol. 0 / NULL = not applicable. */
struct jn_err_info {
	int code;                /* enum jn_err */
	const char *name;        /* "JN_ENOTFOUND" */
	const char *text;        /* human text for logs and HTTP descriptions */
	const char *nats_err;    /* text inside -ERR '...' (NULL: no -ERR; close silently if nats_close) */
	int nats_close;          /* 1: NATS connection is closed (after the -ERR, if any) */
	int js_err_code;         /* JetStream err_code (10059 ...) */
	int http_status;         /* HTTP status */
	int mqtt_reason;         /* MQTT v5 reason code */
};

/* err may be given negative or positive. Unknown codes map to JN_EINVAL's row. */
const struct jn_err_info *jn_err_info(int err);
const char *jn_strerror(int err);

#endif
