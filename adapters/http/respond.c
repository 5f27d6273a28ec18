/*
 * respond.c - building answers: bodies handed to libmicrohttpd without a
 * copy (freed through jn_free when it is done with them), and the one JSON
 * error shape of the contract:
 *
 *   {"error":{"code":<HTTP status>[,"err_code":<JetStream code>],"description":"..."}}
 *
 * Statuses and texts of core errors come from the table in core/err.c;
 * the few HTTP-only conditions (unknown path, wrong method, bad query) are
 * written by their callers with jn__http_error().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "adapters/http/server_int.h"
#include "core/alloc.h"
#include "core/err.h"

void jn__http_common_headers(struct jn_http_server *s, struct MHD_Response *resp)
{
	if (s->allow_origin)
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", s->allow_origin);
}

static void free_body(void *p)
{
	jn_free(p);
}

void jn__http_reply_take(struct http_req *r, unsigned status, char *buf, size_t len,
                         const char *ctype)
{
	if (r->resp) {   /* an answer is already set: keep the first */
		jn_free(buf);
		return;
	}
	struct MHD_Response *resp =
		buf ? MHD_create_response_from_buffer_with_free_callback(len, buf, free_body) : NULL;
	if (!resp) {
		jn_free(buf);
		/* last resort: a static body needs no allocation of ours */
		static const char oom[] =
			"{\"error\":{\"code\":503,\"description\":\"out of memory\"}}";
		resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom,
		                                       MHD_RESPMEM_PERSISTENT);
		status = 503;
		ctype = "application/json";
		if (!resp)
			return;   /* server.c answers MHD_NO: the connection is closed */
	}
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	jn__http_common_headers(r->srv, resp);
	r->resp = resp;
	r->status = status;
}

void jn__http_reply_copy(struct http_req *r, unsigned status, const void *buf, size_t len,
                         const char *ctype)
{
	char *p = jn_malloc(len ? len : 1);
	if (p && len)
		memcpy(p, buf, len);
	jn__http_reply_take(r, status, p, len, ctype);
}

static void error_body(struct http_req *r, unsigned status, int err_code, const char *desc)
{
	struct jn__hbuf b = { 0 };
	jn__hbuf_printf(&b, "{\"error\":{\"code\":%u,", status);
	if (err_code)
		jn__hbuf_printf(&b, "\"err_code\":%d,", err_code);
	jn__hbuf_puts(&b, "\"description\":");
	jn__hbuf_json_str(&b, desc, strlen(desc));
	jn__hbuf_puts(&b, "}}");
	size_t len = 0;
	char *p = jn__hbuf_take(&b, &len);
	jn__http_reply_take(r, status, p, len, "application/json");
	if (status == 401 && r->resp && r->status == 401) {
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                        "Bearer realm=\"junction\"");
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                        "Basic realm=\"junction\"");
	}
}

void jn__http_error(struct http_req *r, unsigned status, int err_code, const char *fmt, ...)
{
	char desc[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(desc, sizeof desc, fmt, ap);
	va_end(ap);
	error_body(r, status, err_code, desc);
}

void jn__http_error_jn(struct http_req *r, int err, bool with_js, const char *detail)
{
	const struct jn_err_info *e = jn_err_info(err);
	char desc[512];
	if (detail && *detail)
		snprintf(desc, sizeof desc, "%s: %s", e->text, detail);
	else
		snprintf(desc, sizeof desc, "%s", e->text);
	error_body(r, (unsigned)e->http_status, with_js ? e->js_err_code : 0, desc);
}
