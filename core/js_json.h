/*
 * js_json.h - small JSON helpers shared by the JetStream modules (streams,
 * consumers): API response objects with their "type" and error object, RFC
 * 3339 nano timestamps, stream/consumer name rules, and request parsing.
 *
 * JSON values are jansson's (json_t, its own allocator: free a json_dumps()
 * string with free(), not jn_free()).
 */
#ifndef JN_JS_JSON_H
#define JN_JS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "core/msg.h"

#define JN_JS_API_PREFIX "$JS.API."
#define JN_JS_TYPE_PREFIX "io.nats.jetstream.api.v1."
#define JN_JS_ZERO_TIME "0001-01-01T00:00:00Z"
#define JN_JS_NAME_MAX 255
#define JN_JS_TIME_LEN 40      /* buffer size enough for any formatted time */

/* Format ns since the Unix epoch as "2026-11-25T07:28:33.632117029Z" (UTC,
 * trailing zeros of the fraction dropped as Go does; no fraction when 0);
 * ns == 0 gives JN_JS_ZERO_TIME. Returns the length (buf NUL-terminated). */
size_t jn_js_time_format(int64_t ns, char buf[JN_JS_TIME_LEN]);
/* Parse RFC 3339 ("Z" or "+hh:mm" offset, 0..9 fractional digits).
 * JN_JS_ZERO_TIME parses to 0. 0 or -JN_EINVAL. */
int jn_js_time_parse(const char *s, size_t len, int64_t *ns);
/* json string of jn_js_time_format(ns). New reference. */
json_t *jn_js_time_json(int64_t ns);

/* {"type":"io.nats.jetstream.api.v1.<type_suffix>"}. New reference. */
json_t *jn_js_response_new(const char *type_suffix);
/* Set resp["error"] = {"code","err_code","description"} from the error
 * table row of err; desc overrides the description when not NULL. */
void jn_js_response_set_error(json_t *resp, int err, const char *desc);
/* jn_js_response_new + jn_js_response_set_error. */
json_t *jn_js_error_new(const char *type_suffix, int err, const char *desc);

/* Stream / consumer names: 1..255 bytes, no '.', '*', '>', whitespace or
 * control characters (nats-server 2.9 rules). */
bool jn_js_name_valid(const char *s, size_t len);

/* Parse a request body: empty (or only whitespace) gives *out = NULL and 0;
 * else a JSON object (new reference) or -JN_EBADJSON. */
int jn_js_parse_request(const struct jn_msg *req, json_t **out);

/* Typed member reads, lenient like Go's json: absent or null -> *out
 * untouched and 0; wrong type -> -JN_EBADJSON. */
int jn_js_get_u64(json_t *obj, const char *key, uint64_t *out);
int jn_js_get_i64(json_t *obj, const char *key, int64_t *out);
int jn_js_get_bool(json_t *obj, const char *key, bool *out);
/* *out points into obj (valid while obj lives). */
int jn_js_get_str(json_t *obj, const char *key, const char **out, size_t *len);

/* uint64 as a JSON integer (values above INT64_MAX are clamped). */
json_t *jn_js_u64(uint64_t v);

/* json_dumps(JSON_COMPACT) into a malloc()ed string (free()), length in *len. */
char *jn_js_dumps(json_t *v, size_t *len);

#endif
