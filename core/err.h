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
	/* Added by jss (streams): one row per err_code the stream API returns. */
	JN_ESTREAMCONFIG, /* invalid stream config / forbidden update (10052) */
	JN_EREPLICAS,     /* num_replicas > 1 without clustering (10074) */
	JN_ESTORELIMIT,   /* discard-new limit reached (10077) */
	JN_EROLLUP,       /* Nats-Rollup not permitted (10111) */
	JN_ESEALED,       /* invalid operation on sealed stream (10109) */
	JN_EDELETEDENIED, /* message delete not permitted (10057) */
	JN_EPURGEDENIED,  /* stream purge not permitted (10110) */
	JN_EMAXCONSUMERS, /* maximum consumers limit reached (10026) */
	JN_EHDRSIZE,      /* headers over 64 KiB (10097) */
	JN_ENOTEMPTY,     /* expected an empty request payload (10038) */
	JN_ESTREAMGENERAL,/* other stream failure (10051) */
	JN_ERESOURCES,    /* insufficient resources: account limits (10023) */
	JN_EWQUNFILTERED, /* workqueue: 2nd unfiltered consumer (10099) */
	JN_EWQOVERLAP,    /* workqueue: overlapping consumer filters (10100) */
	JN_EWQDELIVERALL, /* workqueue: consumer must be deliver all (10101) */
	JN_ESEQNOTFOUND,  /* MSG.DELETE of an interior deleted seq (10043) */
	/* Added by jsc (consumers): one row per consumer err_code. */
	JN_ECONSUMERCREATE, /* consumer create / update failed (10012; description varies) */
	JN_EDURABLENOTINSUBJ, /* consumer expected to be durable but no durable name set in subject (10016) */
	JN_EDURABLEMISMATCH, /* consumer name in subject does not match durable name in request (10017) */
	JN_EDURABLENOTSET, /* consumer expected to be durable but a durable name was not set (10018) */
	JN_EEPHEMERALDURABLE, /* consumer expected to be ephemeral but a durable name was set in request (10020) */
	JN_ECONSUMERCFGREQ, /* consumer config required (10078) */
	JN_EDELIVERWILDCARD, /* consumer deliver subject has wildcards (10079) */
	JN_EPUSHMAXWAITING, /* consumer in push mode can not set max waiting (10080) */
	JN_EDELIVERCYCLE, /* consumer deliver subject forms a cycle (10081) */
	JN_EMAXPENDINGNOACK, /* consumer requires ack policy for max ack pending (10082) */
	JN_ESMALLHEARTBEAT, /* consumer idle heartbeat needs to be >= 100ms (10083) */
	JN_EPULLNOACK, /* consumer in pull mode requires ack policy (10084) */
	JN_EPULLRATELIMIT, /* consumer in pull mode can not have rate limit set (10086) */
	JN_EMAXWAITINGNEG, /* consumer max waiting needs to be positive (10087) */
	JN_EHBPULL, /* consumer idle heartbeat requires a push based consumer (10088) */
	JN_EFCPULL, /* consumer flow control requires a push based consumer (10089) */
	JN_EDIRECTPULL, /* consumer direct requires a push based consumer (10090) */
	JN_EDIRECTDURABLE, /* consumer direct requires an ephemeral consumer (10091) */
	JN_EFILTERNOTSUBSET, /* consumer filter subject is not a valid subset of the interest subjects (10093) */
	JN_EDELIVERPOLICY, /* 10094 (description varies) */
	JN_ESAMPLEFREQ, /* failed to parse consumer sampling configuration (10095) */
	JN_EWQEXPLICITACK, /* workqueue stream requires explicit ack (10098) */
	JN_ECONSUMERNAMELEN, /* consumer name is too long, maximum allowed is 255 (10102) */
	JN_ECONSUMERNAME, /* durable name can not contain '.', '*', '>' (10103) */
	JN_ECONSUMERSTORE, /* error creating store for consumer (10104) */
	JN_ECONSUMERACTIVE, /* consumer already exists and is still active (10105) */
	JN_ECONSUMERREPLACE, /* consumer replacement durable config not the same (10106) */
	JN_ECONSUMERDESCLEN, /* consumer description is too long, maximum allowed is 4096 (10107) */
	JN_EFCNOHEARTBEAT, /* consumer with flow control also needs heartbeats (10108) */
	JN_EDELIVERSUBJECT, /* invalid push consumer deliver subject (10112) */
	JN_EMAXBATCHNEG, /* consumer max request batch needs to be > 0 (10114) */
	JN_EMAXEXPIRESSMALL, /* consumer max request expires needs to be >= 1ms (10115) */
	JN_EMAXDELIVERBACKOFF, /* max deliver is required to be > length of backoff values (10116) */
	JN_ECONSUMERPATHSEP, /* Consumer name can not contain path separators (10127) */
	JN_EFILTERMISMATCH, /* Consumer create request did not match filtered subject from create subject (10131) */
	JN_EDURABLENAMEMISMATCH, /* Consumer Durable and Name have to be equal if both are provided (10132) */
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
