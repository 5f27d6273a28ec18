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
