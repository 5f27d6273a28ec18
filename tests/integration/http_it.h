/*
 * http_it.h - helpers for the HTTP adapter's integration tests: start
 * junction with its HTTP listener, blocking requests through libcurl
 * (status, headers, body), JSON checks, and an SSE client that runs
 * libcurl on its own thread and collects the stream. Header-only (static
 * inline) so each test binary takes what it uses.
 */
#ifndef JN_HTTP_IT_H
#define JN_HTTP_IT_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "harness.h"

/* Start junction with HTTP on (extra: more "http" members, JSON text, may
 * be NULL) and wait until the HTTP port accepts. */
static inline struct it_server *ht_start(struct it_config *cfg, const char *extra)
{
	static struct it_config none;
	if (!cfg)
		cfg = &none;
	if (!it_is_junction())
		it_fail(__FILE__, __LINE__, "the HTTP tests need junction (nats-server has no HTTP API)");
	cfg->http = true;
	cfg->http_extra = extra;
	struct it_server *s = it_start(cfg);
	curl_global_init(CURL_GLOBAL_ALL);
	int64_t deadline = it_now_ms() + 10000;
	for (;;) {
		CURL *c = curl_easy_init();
		char url[128];
		snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", s->http_port);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
		CURLcode rc = curl_easy_perform(c);
		curl_easy_cleanup(c);
		if (rc == CURLE_OK)
			break;
		if (it_now_ms() > deadline)
			it_fail(__FILE__, __LINE__, "HTTP port %d never accepted", s->http_port);
		it_sleep_ms(10);
	}
	return s;
}

/* ---- requests ------------------------------------------------------------- */

struct ht_resp {
	long status;
	char *body;          /* NUL-terminated (binary bodies: use len) */
	size_t len;
	char headers[8192];  /* raw header block */
	size_t hlen;
	double secs;         /* total time */
};

static inline size_t ht__body_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct ht_resp *r = arg;
	size_t k = sz * n;
	char *b = realloc(r->body, r->len + k + 1);
	if (!b)
		return 0;
	memcpy(b + r->len, p, k);
	r->body = b;
	r->len += k;
	r->body[r->len] = '\0';
	return k;
}

static inline size_t ht__hdr_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct ht_resp *r = arg;
	size_t k = sz * n;
	if (r->hlen + k < sizeof r->headers) {
		memcpy(r->headers + r->hlen, p, k);
		r->hlen += k;
		r->headers[r->hlen] = '\0';
	}
	return k;
}

static inline void ht_free(struct ht_resp *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* method, path ("/v1/publish/a"), body (may be NULL), extra request
 * headers (NULL-terminated list of "Name: value", may be NULL). */
#define ht_req(r, method, path, body, blen, hdrs) \
	ht_req_at(__FILE__, __LINE__, r, method, path, body, blen, hdrs)
static inline void ht_req_at(const char *file, int line, struct ht_resp *r, const char *method,
                             const char *path, const void *body, size_t blen,
                             const char *const *hdrs)
{
	memset(r, 0, sizeof *r);
	CURL *c = curl_easy_init();
	char url[2048];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", it_srv->http_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	struct curl_slist *sl = NULL;
	for (int i = 0; hdrs && hdrs[i]; i++)
		sl = curl_slist_append(sl, hdrs[i]);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ht__body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ht__hdr_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		it_fail(file, line, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->secs);
	curl_slist_free_all(sl);
	curl_easy_cleanup(c);
	if (!r->body) {
		r->body = calloc(1, 1);
	}
}

/* Value of the last response header `name` (static buffer), or NULL. */
static inline const char *ht_header(const struct ht_resp *r, const char *name)
{
	static char val[1024];
	const char *p = r->headers, *found = NULL;
	size_t nl = strlen(name);
	while (*p) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			break;
		if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			snprintf(val, sizeof val, "%.*s", (int)(eol - v), v);
			found = val;
		}
		p = eol + 2;
	}
	return found;
}

#define HT_STATUS(r, want) \
	do { if ((r)->status != (want)) it_fail(__FILE__, __LINE__, "HTTP status %ld, expected %d; body: %s", \
	                                        (r)->status, (want), (r)->body ? (r)->body : ""); } while (0)

/* The body as a JSON object (fails the case otherwise). Caller decrefs. */
#define ht_json(r) ht_json_at(__FILE__, __LINE__, r)
static inline json_t *ht_json_at(const char *file, int line, const struct ht_resp *r)
{
	json_error_t e;
	json_t *o = json_loadb(r->body, r->len, 0, &e);
	if (!o || !json_is_object(o))
		it_fail(file, line, "body is not a JSON object: %s", r->body);
	return o;
}

/* {"error":{"code":status,...}} with the right code, description containing
 * `part` (may be NULL). */
#define HT_ERROR(r, status, part) ht_error_at(__FILE__, __LINE__, r, status, part)
static inline void ht_error_at(const char *file, int line, const struct ht_resp *r, long status,
                               const char *part)
{
	if (r->status != status)
		it_fail(file, line, "HTTP status %ld, expected %ld; body: %s", r->status, status, r->body);
	json_t *o = ht_json_at(file, line, r);
	json_t *e = json_object_get(o, "error");
	if (!json_is_object(e) || json_integer_value(json_object_get(e, "code")) != status ||
	    !json_is_string(json_object_get(e, "description")))
		it_fail(file, line, "not an error object with code %ld: %s", status, r->body);
	const char *d = json_string_value(json_object_get(e, "description"));
	if (part && !strstr(d, part))
		it_fail(file, line, "error description \"%s\" does not mention \"%s\"", d, part);
	json_decref(o);
}

/* ---- SSE ----------------------------------------------------------------- */

struct ht_sse {
	pthread_t th;
	char url[2048];
	struct curl_slist *hdrs;
	pthread_mutex_t lock;
	char *buf;
	size_t len, cap;
	long status;
	bool done;            /* the transfer ended */
	CURLcode rc;
	volatile int stop;
	int events;           /* "event: msg" blocks so far */
	volatile int fd;      /* the transfer's socket, to wake it on close */
	size_t scanned;       /* buf[0..scanned) is counted */
};

static inline size_t ht__sse_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct ht_sse *s = arg;
	size_t k = sz * n;
	pthread_mutex_lock(&s->lock);
	char *b = s->buf;
	if (s->len + k + 1 > s->cap) {   /* grow geometrically: a fast reader stays fast */
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + k + 1)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (b) {
			s->buf = b;
			s->cap = cap;
		}
	}
	if (b) {
		memcpy(b + s->len, p, k);
		s->len += k;
		s->buf[s->len] = '\0';
		/* count whole events; a marker cut by a read boundary is found
		 * next time because scanning resumes before the tail */
		static const char mark[] = "event: msg\n";
		const char *q = s->buf + s->scanned, *hit;
		while ((hit = strstr(q, mark))) {
			s->events++;
			q = hit + sizeof mark - 1;
		}
		size_t tail = s->len >= sizeof mark - 1 ? s->len - (sizeof mark - 2) : 0;
		s->scanned = (size_t)(q - s->buf) > tail ? (size_t)(q - s->buf) : tail;
	}
	pthread_mutex_unlock(&s->lock);
	return b ? k : 0;
}

static inline int ht__sse_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
                                   curl_off_t d)
{
	(void)a; (void)b; (void)c; (void)d;
	struct ht_sse *s = arg;
	return s->stop ? 1 : 0;
}

static inline int ht__sse_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	(void)purpose;
	((struct ht_sse *)arg)->fd = fd;
	return CURL_SOCKOPT_OK;
}

static inline void *ht__sse_main(void *arg)
{
	struct ht_sse *s = arg;
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, s->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ht__sse_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, ht__sse_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, ht__sse_sockopt);
	curl_easy_setopt(c, CURLOPT_SOCKOPTDATA, s);
	CURLcode rc = curl_easy_perform(c);
	long st = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	curl_easy_cleanup(c);
	pthread_mutex_lock(&s->lock);
	s->rc = rc;
	s->status = st;
	s->done = true;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Open a stream on path; waits for the ": ok" that says it is subscribed.
 * hdr: one extra request header or NULL. */
#define ht_sse_open(path, hdr) ht_sse_open_at(__FILE__, __LINE__, path, hdr)
static inline struct ht_sse *ht_sse_open_at(const char *file, int line, const char *path,
                                            const char *hdr)
{
	struct ht_sse *s = calloc(1, sizeof *s);
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d%s", it_srv->http_port, path);
	if (hdr)
		s->hdrs = curl_slist_append(NULL, hdr);
	pthread_create(&s->th, NULL, ht__sse_main, s);
	int64_t deadline = it_now_ms() + 5000;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		bool ok = s->buf && strncmp(s->buf, ": ok\n\n", 6) == 0;
		bool done = s->done;
		pthread_mutex_unlock(&s->lock);
		if (ok)
			return s;
		if (done || it_now_ms() > deadline)
			it_fail(file, line, "SSE %s: no \": ok\" (status %ld, got \"%s\")", path, s->status,
			        s->buf ? s->buf : "");
		it_sleep_ms(2);
	}
}

static inline void ht_sse_close(struct ht_sse *s)
{
	s->stop = 1;
	if (s->fd > 0)
		shutdown(s->fd, SHUT_RDWR);   /* wake the transfer now, not at its next progress call */
	pthread_join(s->th, NULL);
	curl_slist_free_all(s->hdrs);
	free(s->buf);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Number of "event: msg" blocks received so far. */
static inline int ht_sse_count(struct ht_sse *s)
{
	pthread_mutex_lock(&s->lock);
	int n = s->events;
	pthread_mutex_unlock(&s->lock);
	return n;
}

#define ht_sse_wait(s, n, ms) ht_sse_wait_at(__FILE__, __LINE__, s, n, ms)
static inline void ht_sse_wait_at(const char *file, int line, struct ht_sse *s, int n, int ms)
{
	int64_t deadline = it_now_ms() + ms;
	while (ht_sse_count(s) < n) {
		if (it_now_ms() > deadline)
			it_fail(file, line, "expected %d SSE events within %d ms, got %d: \"%.2000s\"", n, ms,
			        ht_sse_count(s), s->buf ? s->buf : "");
		it_sleep_ms(2);
	}
}

/* The data JSON of the i-th "event: msg" (0-based). Caller decrefs. */
#define ht_sse_event(s, i) ht_sse_event_at(__FILE__, __LINE__, s, i)
static inline json_t *ht_sse_event_at(const char *file, int line, struct ht_sse *s, int i)
{
	json_t *o = NULL;
	pthread_mutex_lock(&s->lock);
	const char *p = s->buf;
	for (int k = 0; p && k <= i; k++) {
		p = strstr(p, "event: msg\n");
		if (p && k < i)
			p++;
	}
	if (p) {
		const char *d = p + strlen("event: msg\n");
		const char *end = strstr(d, "\n\n");
		if (strncmp(d, "data: ", 6) == 0 && end) {
			json_error_t e;
			o = json_loadb(d + 6, (size_t)(end - d - 6), 0, &e);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (!o)
		it_fail(file, line, "no well-formed event %d in \"%.2000s\"", i, s->buf ? s->buf : "");
	return o;
}

/* Decode the base64 "data" of an event into buf; returns its length. */
static inline size_t ht_b64(const char *in, char *out, size_t cap)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = 0;
	unsigned acc = 0;
	int bits = 0;
	for (; *in && *in != '='; in++) {
		const char *q = strchr(a, *in);
		if (!q)
			break;
		acc = (acc << 6) | (unsigned)(q - a);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n < cap)
				out[n++] = (char)(acc >> bits);
		}
	}
	return n;
}

/* A metric's value from /metrics text (line "name value"), or -1. */
static inline long long ht_metric(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p;) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atoll(p + n + 1);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}


/* ---- JetStream helpers ------------------------------------------------------ */

/* A request whose path is printf-formatted; body is a C string or NULL. */
#define ht_reqf(r, method, body, hdrs, ...) \
	ht_reqf_at(__FILE__, __LINE__, r, method, body, hdrs, __VA_ARGS__)
static inline void ht_reqf_at(const char *file, int line, struct ht_resp *r, const char *method,
                              const char *body, const char *const *hdrs, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
static inline void ht_reqf_at(const char *file, int line, struct ht_resp *r, const char *method,
                              const char *body, const char *const *hdrs, const char *fmt, ...)
{
	char path[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	ht_req_at(file, line, r, method, path, body, body ? strlen(body) : 0, hdrs);
}

/* method path body -> the JSON answer, which must have status want.
 * Caller decrefs. */
#define ht_call(method, path, body, want) ht_call_at(__FILE__, __LINE__, method, path, body, want)
static inline json_t *ht_call_at(const char *file, int line, const char *method,
                                 const char *path, const char *body, long want)
{
	struct ht_resp r;
	ht_req_at(file, line, &r, method, path, body, body ? strlen(body) : 0, NULL);
	if (r.status != want)
		it_fail(file, line, "%s %s: HTTP status %ld, expected %ld; body: %s", method, path,
		        r.status, want, r.body);
	json_t *o = ht_json_at(file, line, &r);
	ht_free(&r);
	return o;
}

/* The "err_code" of an error answer (0 if none). */
static inline long long ht_err_code(const struct ht_resp *r)
{
	json_error_t e;
	json_t *o = json_loadb(r->body, r->len, 0, &e);
	long long v = json_integer_value(json_object_get(json_object_get(o, "error"), "err_code"));
	json_decref(o);
	return v;
}

/* Wait until the SSE stream's bytes contain str (fails after ms). */
#define ht_sse_wait_str(s, str, ms) ht_sse_wait_str_at(__FILE__, __LINE__, s, str, ms)
static inline void ht_sse_wait_str_at(const char *file, int line, struct ht_sse *s,
                                      const char *str, int ms)
{
	int64_t deadline = it_now_ms() + ms;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		bool found = s->buf && strstr(s->buf, str);
		pthread_mutex_unlock(&s->lock);
		if (found)
			return;
		if (it_now_ms() > deadline)
			it_fail(file, line, "SSE: no \"%s\" within %d ms in \"%.2000s\"", str, ms,
			        s->buf ? s->buf : "");
		it_sleep_ms(2);
	}
}

/* The "id:" values of the stream so far, in order, into ids (at most cap);
 * returns how many. */
static inline int ht_sse_ids(struct ht_sse *s, long long *ids, int cap)
{
	int n = 0;
	pthread_mutex_lock(&s->lock);
	for (const char *p = s->buf; p && (p = strstr(p, "\nid: ")) && n < cap; p++)
		ids[n++] = atoll(p + 5);
	pthread_mutex_unlock(&s->lock);
	return n;
}


#endif
