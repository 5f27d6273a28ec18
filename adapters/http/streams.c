/*
 * streams.c - the JetStream and KV routes of the contract (/v1/streams...,
 * /v1/ack, /v1/kv...). Their handlers come with the JetStream C API; until
 * then every one of these routes answers, after routing (404/405) and
 * authentication (401) as any other:
 *   - JetStream disabled in the configuration: 503 with err_code 10076
 *     "JetStream not enabled" (what the NATS API says too);
 *   - JetStream enabled: a JSON body, when the method carries one, is
 *     checked first (400 naming the problem), then 501 "not implemented
 *     yet". docs/http-api.md lists these endpoints as not yet served.
 */
#include <jansson.h>
#include <string.h>
#include "adapters/http/server_int.h"
#include "core/err.h"

void jn__http_streams_route(struct http_req *r)
{
	struct jn_http_server *s = r->srv;
	if (!s->opts.jetstream_enabled) {
		jn__http_error_jn(r, JN_EJSNOTENABLED, true, NULL);
		return;
	}
	/* a KV value (PUT /v1/kv/B/keys/K) is raw bytes, every other body JSON */
	bool kv_value = strncmp(r->url, "/v1/kv/", 7) == 0 && strstr(r->url + 7, "/keys/");
	if ((r->method & (JN_HM_PUT | JN_HM_POST)) && r->body_len && !kv_value) {
		json_t *o = jn__http_body_json(r);
		if (!o)
			return;
		json_decref(o);
	}
	jn__http_error(r, 501, 0, "not implemented yet: %s over HTTP (use the NATS JetStream API)",
	               r->url);
}
