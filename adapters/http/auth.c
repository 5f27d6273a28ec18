/*
 * auth.c - HTTP credentials onto core/auth.h: "Authorization: Bearer
 * <token>" is the server token, "Authorization: Basic base64(user:pass)" a
 * user and password, checked against the same users and permissions as the
 * NATS listener (jn_auth_check). No header: the no_auth_user if one is
 * configured, else 401 when auth is required. A malformed header is 401.
 *
 * HTTP authenticates every request, not once per connection, and a bcrypt
 * check costs milliseconds by design. So a successful check against a
 * bcrypt hash is remembered for CACHE_TTL in a small table keyed by the
 * exact header value (a failed one never is). The table holds secrets in
 * memory, as the plain-text passwords of the configuration already are.
 */
#include <string.h>
#include <strings.h>
#include "adapters/http/server_int.h"
#include "core/alloc.h"
#include "core/base64.h"
#include "core/err.h"

#define CACHE_SLOTS 64
#define CACHE_TTL_NS (60LL * 1000000000LL)
#define CACHE_KEY_MAX 256

struct auth_cache_entry {
	uint64_t hash;
	int64_t expires;
	const struct jn_user *user;
	size_t len;
	char key[CACHE_KEY_MAX];
};

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int jn__http_parse_cred(const char *h, struct jn__http_cred *c)
{
	memset(c, 0, sizeof *c);
	if (!h)
		return c->kind = JN_HTTP_CRED_NONE;
	h = skip_ws(h);
	if (strncasecmp(h, "Bearer", 6) == 0 && (h[6] == ' ' || h[6] == '\t')) {
		const char *t = skip_ws(h + 6);
		size_t n = strlen(t);
		while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
			n--;
		if (n == 0 || n >= sizeof c->buf)
			return c->kind = JN_HTTP_CRED_BAD;
		memcpy(c->buf, t, n);
		c->buf[n] = '\0';
		c->token = c->buf;
		return c->kind = JN_HTTP_CRED_BEARER;
	}
	if (strncasecmp(h, "Basic", 5) == 0 && (h[5] == ' ' || h[5] == '\t')) {
		const char *t = skip_ws(h + 5);
		size_t n = strlen(t);
		while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
			n--;
		if (n == 0 || n / 4 * 3 + 3 >= sizeof c->buf)
			return c->kind = JN_HTTP_CRED_BAD;
		long k = jn_base64_decode(t, n, (uint8_t *)c->buf);
		if (k < 0)
			return c->kind = JN_HTTP_CRED_BAD;
		c->buf[k] = '\0';
		if (memchr(c->buf, '\0', (size_t)k))   /* NUL inside: refuse */
			return c->kind = JN_HTTP_CRED_BAD;
		char *colon = strchr(c->buf, ':');
		if (!colon)
			return c->kind = JN_HTTP_CRED_BAD;
		*colon = '\0';
		c->user = c->buf;
		c->pass = colon + 1;
		return c->kind = JN_HTTP_CRED_BASIC;
	}
	return c->kind = JN_HTTP_CRED_BAD;
}

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static bool is_bcrypt(const char *p)
{
	return p && p[0] == '$' && p[1] == '2';
}

static bool cache_get(struct jn_http_server *s, const char *key, size_t n, uint64_t h,
                      const struct jn_user **user)
{
	if (!s->auth_cache || n >= CACHE_KEY_MAX)
		return false;
	bool hit = false;
	int64_t now = jn__http_mono_ns();
	pthread_mutex_lock(&s->auth_lock);
	struct auth_cache_entry *e = &s->auth_cache[h % CACHE_SLOTS];
	if (e->hash == h && e->len == n && e->expires > now && memcmp(e->key, key, n) == 0) {
		*user = e->user;
		hit = true;
	}
	pthread_mutex_unlock(&s->auth_lock);
	return hit;
}

static void cache_put(struct jn_http_server *s, const char *key, size_t n, uint64_t h,
                      const struct jn_user *user)
{
	if (n >= CACHE_KEY_MAX)
		return;
	pthread_mutex_lock(&s->auth_lock);
	if (!s->auth_cache)
		s->auth_cache = jn_calloc(CACHE_SLOTS, sizeof *s->auth_cache);
	if (s->auth_cache) {
		struct auth_cache_entry *e = &s->auth_cache[h % CACHE_SLOTS];
		e->hash = h;
		e->len = n;
		memcpy(e->key, key, n);
		e->user = user;
		e->expires = jn__http_mono_ns() + CACHE_TTL_NS;
	}
	pthread_mutex_unlock(&s->auth_lock);
}

int jn__http_authenticate(struct http_req *r)
{
	struct jn_http_server *s = r->srv;
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	                                            MHD_HTTP_HEADER_AUTHORIZATION);
	r->user = NULL;
	if (!s->auth)
		return 0;
	size_t hn = h ? strlen(h) : 0;
	uint64_t hash = h ? fnv1a(h, hn) : 0;
	if (h && cache_get(s, h, hn, hash, &r->user))
		return 0;
	struct jn__http_cred c;
	int kind = jn__http_parse_cred(h, &c);
	if (kind == JN_HTTP_CRED_BAD)
		goto fail;
	const struct jn_user *u = NULL;
	int rc = jn_auth_check(s->auth, c.user, c.pass, c.token, &u);
	memset(&c, 0, sizeof c);   /* no plain secret left on the stack */
	if (rc < 0)
		goto fail;
	r->user = u;
	if (h && ((u && is_bcrypt(u->password)) || (!u && is_bcrypt(s->auth->token))))
		cache_put(s, h, hn, hash, u);
	return 0;
fail:
	atomic_fetch_add_explicit(&s->stats.auth_failures, 1, memory_order_relaxed);
	return -JN_EAUTH;
}

void jn__http_auth_fini(struct jn_http_server *s)
{
	if (s->auth_cache) {
		memset(s->auth_cache, 0, CACHE_SLOTS * sizeof *s->auth_cache);
		jn_free(s->auth_cache);
		s->auth_cache = NULL;
	}
}
