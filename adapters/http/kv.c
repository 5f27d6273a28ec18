/*
 * kv.c - the Key/Value routes of the contract (/v1/kv...), over core/kv.h.
 * Until the handlers land: 503 with 10076 when JetStream is disabled,
 * otherwise 501.
 */
#include "adapters/http/server_int.h"
#include "core/err.h"

void jn__http_kv_route(struct http_req *r)
{
	struct jn_http_server *s = r->srv;
	if (!s->opts.jetstream_enabled) {
		jn__http_error_jn(r, JN_EJSNOTENABLED, true, NULL);
		return;
	}
	jn__http_error(r, 501, 0, "not implemented yet: %s over HTTP", r->url);
}
