/*
 * route.c - the route table of the HTTP API and the matcher.
 *
 * The table is data: one row per (path pattern, methods, handler). Unknown
 * paths are 404 and a known path with another method is 405 with an Allow
 * listing every method of every row whose pattern matches. The JetStream
 * rows go to streams.c, which dispatches on the path (fetch.c, replay.c
 * for the pulls and event streams); the KV rows to kv.c.
 *
 * Matching works on the raw path, segment by segment; decoding of what a
 * handler captures happens in the handler (a subject may contain an
 * encoded '/').
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "adapters/http/server_int.h"

#define GET (JN_HM_GET | JN_HM_HEAD)

static const struct jn__route routes[] = {
	{ "/healthz", GET, jn__http_health_route, JN_ROUTE_PUBLIC },
	{ "/metrics", GET, jn__http_metrics_route, 0 },
	{ "/v1/info", GET, jn__http_info_route, 0 },
	{ "/v1/openapi.json", GET, jn__http_openapi_route, JN_ROUTE_PUBLIC },
	{ "/v1/publish/**", JN_HM_POST, jn__http_publish_route, 0 },
	{ "/v1/request/**", JN_HM_POST, jn__http_request_route, 0 },
	{ "/v1/subscribe", JN_HM_GET, jn__http_subscribe_route, 0 },
	{ "/v1/subscribe/**", JN_HM_GET, jn__http_subscribe_route, 0 },
	/* JetStream: streams.c (and fetch.c, replay.c). */
	{ "/v1/streams", GET, jn__http_streams_route, 0 },
	{ "/v1/streams/*", GET | JN_HM_PUT | JN_HM_DELETE, jn__http_streams_route, 0 },
	{ "/v1/streams/*/purge", JN_HM_POST, jn__http_streams_route, 0 },
	{ "/v1/streams/*/messages", GET, jn__http_streams_route, 0 },
	{ "/v1/streams/*/messages/*", GET | JN_HM_DELETE, jn__http_streams_route, 0 },
	{ "/v1/streams/*/events", JN_HM_GET, jn__http_streams_route, 0 },
	{ "/v1/streams/*/consumers", GET, jn__http_streams_route, 0 },
	{ "/v1/streams/*/consumers/*", GET | JN_HM_PUT | JN_HM_DELETE, jn__http_streams_route, 0 },
	{ "/v1/streams/*/consumers/*/fetch", JN_HM_POST, jn__http_streams_route, 0 },
	{ "/v1/streams/*/consumers/*/events", JN_HM_GET, jn__http_streams_route, 0 },
	{ "/v1/ack", JN_HM_POST, jn__http_streams_route, 0 },
	/* Key/Value: kv.c. */
	{ "/v1/kv", GET, jn__http_kv_route, 0 },
	{ "/v1/kv/*", GET | JN_HM_PUT | JN_HM_DELETE, jn__http_kv_route, 0 },
	{ "/v1/kv/*/keys", GET, jn__http_kv_route, 0 },
	{ "/v1/kv/*/keys/**", GET | JN_HM_PUT | JN_HM_DELETE, jn__http_kv_route, 0 },
	{ "/v1/kv/*/watch", JN_HM_GET, jn__http_kv_route, 0 },
};

const struct jn__route *jn__http_routes(size_t *n)
{
	*n = sizeof routes / sizeof routes[0];
	return routes;
}

/* KV keys may contain '/', so "/v1/kv/B/keys/a/b/history" is ambiguous;
 * the contract's ".../history" suffix is recognised by the KV handler. */

static bool seg_eq(const char *a, size_t alen, const char *lit, size_t llen)
{
	return alen == llen && memcmp(a, lit, llen) == 0;
}

static bool pattern_match(const char *pattern, const char **seg, const size_t *seglen, int nseg)
{
	const char *pseg[JN_HTTP_MAX_SEGS];
	size_t plen[JN_HTTP_MAX_SEGS];
	int np = jn__path_split(pattern, pseg, plen);
	if (np < 0)
		return false;
	for (int i = 0; i < np; i++) {
		if (seg_eq(pseg[i], plen[i], "**", 2))
			return nseg > i;   /* one or more remaining */
		if (i >= nseg)
			return false;
		if (seg_eq(pseg[i], plen[i], "*", 1))
			continue;
		if (!seg_eq(seg[i], seglen[i], pseg[i], plen[i]))
			return false;
	}
	return np == nseg;
}

const struct jn__route *jn__route_find(const struct jn__route *t, size_t n, const char *path,
                                       unsigned method, unsigned *allow)
{
	const char *seg[JN_HTTP_MAX_SEGS];
	size_t seglen[JN_HTTP_MAX_SEGS];
	const struct jn__route *found = NULL;
	*allow = 0;
	int nseg = jn__path_split(path, seg, seglen);
	if (nseg < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!pattern_match(t[i].pattern, seg, seglen, nseg))
			continue;
		*allow |= t[i].methods;
		if (!found && (t[i].methods & method))
			found = &t[i];
	}
	return found;
}

unsigned jn__http_method_bit(const char *m)
{
	static const struct { const char *name; unsigned bit; } tab[] = {
		{ "GET", JN_HM_GET }, { "HEAD", JN_HM_HEAD }, { "POST", JN_HM_POST },
		{ "PUT", JN_HM_PUT }, { "DELETE", JN_HM_DELETE }, { "OPTIONS", JN_HM_OPTIONS },
		{ "PATCH", JN_HM_PATCH },
	};
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		if (strcmp(m, tab[i].name) == 0)
			return tab[i].bit;
	return 0;
}

void jn__http_allow_str(unsigned methods, char *buf, size_t cap)
{
	static const char *names[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH" };
	size_t len = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < 7; i++) {
		if (!(methods & (1u << i)))
			continue;
		int k = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", names[i]);
		if (k < 0 || (size_t)k >= cap - len)
			break;
		len += (size_t)k;
	}
}
