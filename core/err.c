/*
 * err.c - the one table saying how each jn_err shows on every protocol.
 *
 * Owns: the row of every enum jn_err (name, human text, NATS -ERR text and
 * whether NATS closes, JetStream err_code, HTTP status, MQTT v5 reason code).
 * Adapters look errors up here and never write these literals themselves.
 *
 * Sources: NATS -ERR texts are the exact strings of
 * shared/spec/nats-protocol.md §8 (clients match them, so no other text may
 * go on the wire); JetStream codes and descriptions are nats-server's
 * errors.json as listed in shared/spec/jetstream-api.md §3; HTTP statuses
 * follow shared/spec/rest.md (a client mistake is 4xx); MQTT codes are the
 * v5 reason codes (an MQTT 3.1.1 adapter maps them down itself).
 *
 * Reading the NATS columns:
 *   nats_err != NULL, nats_close 1  send -ERR '<text>' then close
 *   nats_err != NULL, nats_close 0  send -ERR '<text>', keep the connection
 *   nats_err == NULL, nats_close 1  close without any -ERR
 *   nats_err == NULL, nats_close 0  nothing on the NATS wire (the error is
 *                                   reported elsewhere: a JetStream API
 *                                   response, an HTTP status, a log line)
 * The permission rows hold only the prefix: the adapter appends
 * ` "<subject>"` (and ` using queue "<q>"`), as nats-server does.
 * For JetStream rows whose nats-server description carries a value
 * ("wrong last sequence: 5") `text` is the part before ": ".
 *
 * Promise: jn_err_info() never returns NULL, for any int.
 */
#include "core/err.h"

#include <assert.h>
#include <limits.h>
#include <stddef.h>

/* One row; designated by code so the order of the enum can change freely
 * and a duplicated code is a compile warning (-Woverride-init). */
#define ROW(c, txt, nerr, nclose, js, http, mqtt) \
	[c] = { .code = (c), .name = #c, .text = (txt), .nats_err = (nerr), \
	        .nats_close = (nclose), .js_err_code = (js), .http_status = (http), \
	        .mqtt_reason = (mqtt) }

/* MQTT v5 reason codes used below. */
enum {
	MQ_SUCCESS = 0x00,
	MQ_NO_SUBSCRIBERS = 0x10,
	MQ_UNSPECIFIED = 0x80,
	MQ_MALFORMED = 0x81,
	MQ_PROTOCOL = 0x82,
	MQ_IMPL_SPECIFIC = 0x83,
	MQ_BAD_VERSION = 0x84,
	MQ_BAD_USER_PASS = 0x86,
	MQ_NOT_AUTHORIZED = 0x87,
	MQ_SERVER_BUSY = 0x89,
	MQ_SHUTTING_DOWN = 0x8B,
	MQ_KEEPALIVE_TIMEOUT = 0x8D,
	MQ_TOPIC_FILTER_INVALID = 0x8F,
	MQ_TOPIC_NAME_INVALID = 0x90,
	MQ_PACKET_TOO_LARGE = 0x95,
	MQ_QUOTA_EXCEEDED = 0x97,
};

static const struct jn_err_info table[] = {
	ROW(JN_OK, "success", NULL, 0, 0, 200, MQ_SUCCESS),
	ROW(JN_ENOMEM, "out of memory",
	    NULL, 1, 10023, 503, MQ_QUOTA_EXCEEDED),
	ROW(JN_EINVAL, "invalid argument",
	    NULL, 1, 10003, 400, MQ_MALFORMED),
	/* Generic; the JetStream codes are the stream ones, the commonest
	 * meaning, but the JetStream API should use the specific rows below. */
	ROW(JN_ENOTFOUND, "not found",
	    NULL, 0, 10059, 404, MQ_UNSPECIFIED),
	ROW(JN_EEXIST, "already exists",
	    NULL, 0, 10058, 409, MQ_UNSPECIFIED),
	ROW(JN_EBADSUBJECT, "invalid subject",
	    "Invalid Subject", 0, 0, 400, MQ_TOPIC_FILTER_INVALID),
	ROW(JN_EBADPUBSUBJECT, "invalid publish subject",
	    "Invalid Publish Subject", 0, 0, 400, MQ_TOPIC_NAME_INVALID),
	ROW(JN_EPROTO, "protocol violation",
	    "Unknown Protocol Operation", 1, 0, 400, MQ_PROTOCOL),
	ROW(JN_EMAXCTRL, "control line too long",
	    "maximum control line exceeded", 1, 0, 431, MQ_PACKET_TOO_LARGE),
	ROW(JN_EMAXPAYLOAD, "payload too large",
	    "Maximum Payload Violation", 1, 0, 413, MQ_PACKET_TOO_LARGE),
	ROW(JN_EAUTH, "authorization violation",
	    "Authorization Violation", 1, 0, 401, MQ_BAD_USER_PASS),
	ROW(JN_EAUTHTIMEOUT, "authentication timeout",
	    "Authentication Timeout", 1, 0, 408, MQ_NOT_AUTHORIZED),
	ROW(JN_EPERM_PUB, "publish permission denied",
	    "Permissions Violation for Publish to", 0, 0, 403, MQ_NOT_AUTHORIZED),
	ROW(JN_EPERM_SUB, "subscribe permission denied",
	    "Permissions Violation for Subscription to", 0, 0, 403, MQ_NOT_AUTHORIZED),
	ROW(JN_ESTALE, "stale connection",
	    "Stale Connection", 1, 0, 408, MQ_KEEPALIVE_TIMEOUT),
	/* nats-server closes a slow consumer without -ERR (spec §9). */
	ROW(JN_ESLOW, "slow consumer",
	    NULL, 1, 0, 503, MQ_QUOTA_EXCEEDED),
	ROW(JN_ECLOSED, "closed",
	    NULL, 1, 0, 503, MQ_SHUTTING_DOWN),
	ROW(JN_EMAXCONN, "maximum connections exceeded",
	    "maximum connections exceeded", 1, 0, 503, MQ_QUOTA_EXCEEDED),
	ROW(JN_EMAXSUBS, "maximum subscriptions exceeded",
	    "maximum subscriptions exceeded", 0, 0, 429, MQ_QUOTA_EXCEEDED),
	ROW(JN_EBADPROTOVER, "invalid client protocol",
	    "invalid client protocol", 1, 0, 400, MQ_BAD_VERSION),
	ROW(JN_ENOHEADERS, "no responders requires headers support",
	    "no responders requires headers support", 1, 0, 400, MQ_PROTOCOL),
	/* Like a broken argument list: nats-server closes without -ERR. */
	ROW(JN_EBADHDR, "malformed header block",
	    NULL, 1, 10003, 400, MQ_MALFORMED),
	ROW(JN_ECONFIG, "configuration error",
	    NULL, 0, 0, 500, MQ_IMPL_SPECIFIC),
	ROW(JN_EIO, "I/O error",
	    NULL, 1, 0, 500, MQ_UNSPECIFIED),
	ROW(JN_ENOSPC, "insufficient storage resources available",
	    NULL, 0, 10047, 503, MQ_QUOTA_EXCEEDED),
	ROW(JN_ETIMEOUT, "timeout",
	    NULL, 0, 0, 504, MQ_UNSPECIFIED),
	ROW(JN_ENORESPONDERS, "no responders",
	    NULL, 0, 0, 503, MQ_NO_SUBSCRIBERS),
	ROW(JN_EPERM_REPLY, "publish reply permission denied",
	    "Permissions Violation for Publish with Reply of", 0, 0, 403, MQ_NOT_AUTHORIZED),
	ROW(JN_EJSNOTENABLED, "JetStream not enabled",
	    NULL, 0, 10076, 503, MQ_IMPL_SPECIFIC),
	ROW(JN_EBADREQUEST, "bad request",
	    NULL, 0, 10003, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EBADJSON, "invalid JSON",
	    NULL, 0, 10025, 400, MQ_MALFORMED),
	ROW(JN_ESTREAMMISMATCH, "stream name in subject does not match request",
	    NULL, 0, 10056, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_ESUBJOVERLAP, "subjects overlap with an existing stream",
	    NULL, 0, 10065, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_ESTREAMNOTFOUND, "stream not found",
	    NULL, 0, 10059, 404, MQ_UNSPECIFIED),
	ROW(JN_ESTREAMEXISTS, "stream name already in use with a different configuration",
	    NULL, 0, 10058, 400, MQ_UNSPECIFIED),
	ROW(JN_ECONSUMERNOTFOUND, "consumer not found",
	    NULL, 0, 10014, 404, MQ_UNSPECIFIED),
	ROW(JN_ECONSUMEREXISTS, "consumer name already in use",
	    NULL, 0, 10013, 400, MQ_UNSPECIFIED),
	ROW(JN_ENOMSG, "no message found",
	    NULL, 0, 10037, 404, MQ_UNSPECIFIED),
	ROW(JN_EEXPECTSTREAM, "expected stream does not match",
	    NULL, 0, 10060, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EWRONGLASTSEQ, "wrong last sequence",
	    NULL, 0, 10071, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EWRONGLASTMSGID, "wrong last msg ID",
	    NULL, 0, 10070, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EMSGSIZE, "message size exceeds maximum allowed",
	    NULL, 0, 10054, 400, MQ_PACKET_TOO_LARGE),
	ROW(JN_ESTREAMCONFIG, "invalid stream configuration",
	    NULL, 0, 10052, 500, MQ_IMPL_SPECIFIC),
	ROW(JN_EREPLICAS, "replicas > 1 not supported in non-clustered mode",
	    NULL, 0, 10074, 500, MQ_IMPL_SPECIFIC),
	ROW(JN_ESTORELIMIT, "maximum messages exceeded",
	    NULL, 0, 10077, 503, MQ_QUOTA_EXCEEDED),
	ROW(JN_EROLLUP, "rollup not permitted",
	    NULL, 0, 10111, 500, MQ_NOT_AUTHORIZED),
	ROW(JN_ESEALED, "invalid operation on sealed stream",
	    NULL, 0, 10109, 400, MQ_NOT_AUTHORIZED),
	ROW(JN_EDELETEDENIED, "message delete not permitted",
	    NULL, 0, 10057, 500, MQ_NOT_AUTHORIZED),
	ROW(JN_EPURGEDENIED, "stream purge not permitted",
	    NULL, 0, 10110, 500, MQ_NOT_AUTHORIZED),
	ROW(JN_EMAXCONSUMERS, "maximum consumers limit reached",
	    NULL, 0, 10026, 400, MQ_QUOTA_EXCEEDED),
	ROW(JN_EHDRSIZE, "header size exceeds maximum allowed of 64k",
	    NULL, 0, 10097, 400, MQ_PACKET_TOO_LARGE),
	ROW(JN_ENOTEMPTY, "expected an empty request payload",
	    NULL, 0, 10038, 400, MQ_MALFORMED),
	ROW(JN_ESTREAMGENERAL, "stream operation failed",
	    NULL, 0, 10051, 500, MQ_UNSPECIFIED),
	ROW(JN_ERESOURCES, "insufficient resources",
	    NULL, 0, 10023, 503, MQ_QUOTA_EXCEEDED),
	ROW(JN_EWQUNFILTERED, "multiple non-filtered consumers not allowed on workqueue stream",
	    NULL, 0, 10099, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EWQOVERLAP, "filtered consumer not unique on workqueue stream",
	    NULL, 0, 10100, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EWQDELIVERALL, "consumer must be deliver all on workqueue stream",
	    NULL, 0, 10101, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_ESEQNOTFOUND, "sequence not found",
	    NULL, 0, 10043, 400, MQ_UNSPECIFIED),
	ROW(JN_ECONSUMERCREATE, "consumer create failed",
	    NULL, 0, 10012, 500, MQ_IMPL_SPECIFIC),
	ROW(JN_EDURABLENOTINSUBJ, "consumer expected to be durable but no durable name set in subject",
	    NULL, 0, 10016, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EDURABLEMISMATCH, "consumer name in subject does not match durable name in request",
	    NULL, 0, 10017, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EDURABLENOTSET, "consumer expected to be durable but a durable name was not set",
	    NULL, 0, 10018, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EEPHEMERALDURABLE, "consumer expected to be ephemeral but a durable name was set in request",
	    NULL, 0, 10020, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_ECONSUMERCFGREQ, "consumer config required",
	    NULL, 0, 10078, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EDELIVERWILDCARD, "consumer deliver subject has wildcards",
	    NULL, 0, 10079, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EPUSHMAXWAITING, "consumer in push mode can not set max waiting",
	    NULL, 0, 10080, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EDELIVERCYCLE, "consumer deliver subject forms a cycle",
	    NULL, 0, 10081, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EMAXPENDINGNOACK, "consumer requires ack policy for max ack pending",
	    NULL, 0, 10082, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_ESMALLHEARTBEAT, "consumer idle heartbeat needs to be >= 100ms",
	    NULL, 0, 10083, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EPULLNOACK, "consumer in pull mode requires ack policy",
	    NULL, 0, 10084, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EPULLRATELIMIT, "consumer in pull mode can not have rate limit set",
	    NULL, 0, 10086, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EMAXWAITINGNEG, "consumer max waiting needs to be positive",
	    NULL, 0, 10087, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EHBPULL, "consumer idle heartbeat requires a push based consumer",
	    NULL, 0, 10088, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EFCPULL, "consumer flow control requires a push based consumer",
	    NULL, 0, 10089, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EDIRECTPULL, "consumer direct requires a push based consumer",
	    NULL, 0, 10090, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EDIRECTDURABLE, "consumer direct requires an ephemeral consumer",
	    NULL, 0, 10091, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EFILTERNOTSUBSET, "consumer filter subject is not a valid subset of the interest subjects",
	    NULL, 0, 10093, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EDELIVERPOLICY, "invalid consumer deliver policy",
	    NULL, 0, 10094, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_ESAMPLEFREQ, "failed to parse consumer sampling configuration",
	    NULL, 0, 10095, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EWQEXPLICITACK, "workqueue stream requires explicit ack",
	    NULL, 0, 10098, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_ECONSUMERNAMELEN, "consumer name is too long, maximum allowed is 255",
	    NULL, 0, 10102, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_ECONSUMERNAME, "durable name can not contain '.', '*', '>'",
	    NULL, 0, 10103, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_ECONSUMERSTORE, "error creating store for consumer",
	    NULL, 0, 10104, 500, MQ_IMPL_SPECIFIC),
	ROW(JN_ECONSUMERACTIVE, "consumer already exists and is still active",
	    NULL, 0, 10105, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_ECONSUMERREPLACE, "consumer replacement durable config not the same",
	    NULL, 0, 10106, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_ECONSUMERDESCLEN, "consumer description is too long, maximum allowed is 4096",
	    NULL, 0, 10107, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EFCNOHEARTBEAT, "consumer with flow control also needs heartbeats",
	    NULL, 0, 10108, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EDELIVERSUBJECT, "invalid push consumer deliver subject",
	    NULL, 0, 10112, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EMAXBATCHNEG, "consumer max request batch needs to be > 0",
	    NULL, 0, 10114, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EMAXEXPIRESSMALL, "consumer max request expires needs to be >= 1ms",
	    NULL, 0, 10115, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EMAXDELIVERBACKOFF, "max deliver is required to be > length of backoff values",
	    NULL, 0, 10116, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_ECONSUMERPATHSEP, "Consumer name can not contain path separators",
	    NULL, 0, 10127, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EFILTERMISMATCH, "Consumer create request did not match filtered subject from create subject",
	    NULL, 0, 10131, 400, MQ_IMPL_SPECIFIC),
	ROW(JN_EDURABLENAMEMISMATCH, "Consumer Durable and Name have to be equal if both are provided",
	    NULL, 0, 10132, 400, MQ_IMPL_SPECIFIC),
};

/* A code added to the enum without a row makes the table short (when it is
 * the last one) ... */
_Static_assert(sizeof table / sizeof table[0] == JN_ERR_COUNT,
               "err.c: every enum jn_err needs exactly one row");
/* ... and a gap in the middle leaves a zeroed row whose name is NULL, which
 * tests/unit/test_err.c checks for every code (C11 cannot read a static
 * table in a constant expression). */

const struct jn_err_info *jn_err_info(int err)
{
	if (err < 0)
		err = err == INT_MIN ? JN_EINVAL : -err;
	if (err >= JN_ERR_COUNT || !table[err].name)
		err = JN_EINVAL;
	return &table[err];
}

const char *jn_strerror(int err)
{
	return jn_err_info(err)->text;
}
