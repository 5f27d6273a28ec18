/*
 * server.c - the libmicrohttpd daemon and the life of one HTTP request.
 *
 * Daemon: MHD_USE_EPOLL_INTERNAL_THREAD (one epoll thread, or a pool of
 * `threads` with MHD_OPTION_THREAD_POOL_SIZE) with MHD_ALLOW_SUSPEND_RESUME,
 * on a listening socket opened here (so a port in use is reported with its
 * errno), max_connections, an idle timeout, and the URL left undecoded (the
 * handlers decode what they capture: an encoded '/' inside a subject must
 * not split the path).
 *
 * One request, as libmicrohttpd calls the access handler:
 *   1st call (headers read): route (404/405), authenticate (401), look at
 *       Content-Length (413: answered at once and the connection closed
 *       when the client waits for "100 Continue" or the body is huge;
 *       otherwise the body is read and dropped first, so keep-alive and
 *       the answer both survive);
 *   body calls: append to r->body up to max_payload;
 *   last call: run the route's handler. It sets an answer, or suspends the
 *       connection and sets resume_fn; after MHD_resume_connection the
 *       access handler is called again and resume_fn tries again.
 * The completion callback frees the request (and runs its cleanup:
 * unsubscribe an SSE stream, forget a pending request).
 *
 * Shutdown (jn_http_server_free): stop accepting (MHD_quiesce_daemon), mark
 * stopping (new requests get 503), stop the timer, end every pending
 * request and SSE stream so no connection stays suspended (libmicrohttpd
 * refuses to stop with one), stop the daemon, then retire the server: an
 * I/O worker may still be inside one of our deliver callbacks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "adapters/http/server_int.h"
#include "core/alloc.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/log.h"

void jn_http_opts_default(struct jn_http_opts *o)
{
	memset(o, 0, sizeof *o);
	o->host = "0.0.0.0";
	o->port = 8080;
	o->threads = 1;
	o->max_connections = 1024;
	o->max_payload = 1024 * 1024;
	o->idle_timeout_ns = 60LL * 1000000000LL;
	o->request_timeout_ns = 5LL * 1000000000LL;
	o->sse_ping_interval_ns = 15LL * 1000000000LL;
	o->sse_max_buffer = 8u * 1024 * 1024;
}

/* ---- answers -------------------------------------------------------------- */

static void count_status(struct jn_http_server *s, unsigned status)
{
	_Atomic uint64_t *c = status < 300 ? &s->stats.status_2xx
	                    : status < 500 ? &s->stats.status_4xx : &s->stats.status_5xx;
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->stats.requests, 1, memory_order_relaxed);
}

static enum MHD_Result queue(struct http_req *r)
{
	enum MHD_Result rc = MHD_queue_response(r->conn, r->status, r->resp);
	count_status(r->srv, r->status);
	if (!r->resp_shared)
		MHD_destroy_response(r->resp);
	r->resp = NULL;
	r->resp_shared = false;
	return rc;
}

/* OPTIONS: the methods of the path (and CORS preflight answers). */
static void options(struct http_req *r, unsigned allow)
{
	char methods[96];
	jn__http_allow_str(allow | JN_HM_OPTIONS, methods, sizeof methods);
	jn__http_reply_copy(r, 204, "", 0, NULL);
	if (!r->resp)
		return;
	MHD_add_response_header(r->resp, MHD_HTTP_HEADER_ALLOW, methods);
	if (r->srv->allow_origin) {
		const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
		                                            "Access-Control-Request-Headers");
		MHD_add_response_header(r->resp, "Access-Control-Allow-Methods", methods);
		MHD_add_response_header(r->resp, "Access-Control-Allow-Headers",
		                        h ? h : "Authorization, Content-Type, Last-Event-ID");
		MHD_add_response_header(r->resp, "Access-Control-Max-Age", "600");
	}
}

/* A body this much over the limit is not read just to keep the connection. */
static uint64_t drain_limit(const struct jn_http_server *s)
{
	uint64_t m = (uint64_t)s->opts.max_payload * 4;
	return m < 8u * 1024 * 1024 ? 8u * 1024 * 1024 : m;
}

/* First call: everything that can be decided from the request line and
 * headers. Returns true when the answer must go out now (before the body). */
static bool begin(struct http_req *r)
{
	struct jn_http_server *s = r->srv;
	size_t n;
	const struct jn__route *t = jn__http_routes(&n);
	unsigned allow = 0;
	if (atomic_load(&s->stopping)) {
		jn__http_error_jn(r, JN_ECLOSED, false, "server shutting down");
		return true;
	}
	r->route = jn__route_find(t, n, r->url, r->method, &allow);
	if (r->method == JN_HM_OPTIONS && allow) {
		options(r, allow);
	} else if (!r->route && !allow) {
		jn__http_error(r, 404, 0, "no such endpoint: %.200s", r->url);
	} else if (!r->route) {
		char methods[96];
		jn__http_allow_str(allow, methods, sizeof methods);
		jn__http_error(r, 405, 0, "method not allowed; allowed: %s", methods);
		if (r->resp)
			MHD_add_response_header(r->resp, MHD_HTTP_HEADER_ALLOW, methods);
	} else if (!(r->route->flags & JN_ROUTE_PUBLIC) && jn__http_authenticate(r) < 0) {
		jn__http_error_jn(r, JN_EAUTH, false, "missing or invalid credentials");
	}
	const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
	if (len > s->opts.max_payload) {
		r->body_too_big = true;
		const char *expect = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
		                                                 MHD_HTTP_HEADER_EXPECT);
		if (expect || len > drain_limit(s)) {
			if (!r->resp)
				jn__http_error_jn(r, JN_EMAXPAYLOAD, false, NULL);
			return true;
		}
	}
	return false;
}

static void absorb(struct http_req *r, const char *data, size_t n)
{
	struct jn_http_server *s = r->srv;
	r->body_seen += n;
	if (r->resp || r->body_too_big)
		return;   /* answer known: the body is read and dropped */
	if (r->body_len + n > s->opts.max_payload) {
		r->body_too_big = true;
		jn_free(r->body);
		r->body = NULL;
		r->body_len = r->body_cap = 0;
		return;
	}
	if (r->body_len + n > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 4096;
		while (cap < r->body_len + n)
			cap *= 2;
		if (cap > s->opts.max_payload)
			cap = s->opts.max_payload;
		uint8_t *b = jn_realloc(r->body, cap);
		if (!b) {
			jn__http_error_jn(r, JN_ENOMEM, false, NULL);
			return;
		}
		r->body = b;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct jn_http_server *s = cls;
	struct http_req *r = *con_cls;
	if (!r) {
		r = jn_calloc(1, sizeof *r);
		if (!r)
			return MHD_NO;
		r->srv = s;
		r->conn = conn;
		r->url = url;
		r->method = jn__http_method_bit(method);
		*con_cls = r;
		atomic_fetch_add(&s->live_reqs, 1);
		if (begin(r) && r->resp)
			return queue(r);
		return MHD_YES;
	}
	if (*upload_size) {
		absorb(r, upload_data, *upload_size);
		*upload_size = 0;
		/* a chunked body that never ends is not read forever */
		return r->body_seen > drain_limit(s) ? MHD_NO : MHD_YES;
	}
	if (!r->resp && !r->dispatched) {
		r->dispatched = true;
		if (r->body_too_big)
			jn__http_error_jn(r, JN_EMAXPAYLOAD, false, NULL);
		else
			r->route->fn(r);
	} else if (!r->resp && r->resume_fn) {
		r->resume_fn(r);
	}
	if (r->resp)
		return queue(r);
	if (r->resume_fn)
		return MHD_YES;   /* suspended; called again when resumed */
	jn__http_error(r, 500, 0, "internal error: no answer");
	return r->resp ? queue(r) : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)conn;
	(void)toe;
	struct jn_http_server *s = cls;
	struct http_req *r = *con_cls;
	if (!r)
		return;
	atomic_fetch_sub(&s->live_reqs, 1);
	if (r->cleanup)
		r->cleanup(r);
	if (r->resp && !r->resp_shared)
		MHD_destroy_response(r->resp);
	jn_free(r->body);
	jn_free(r);
	*con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	(void)conn;
	(void)socket_context;
	struct jn_http_server *s = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		atomic_fetch_add_explicit(&s->stats.conns_total, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->stats.conns_current, 1, memory_order_relaxed);
	} else {
		atomic_fetch_sub_explicit(&s->stats.conns_current, 1, memory_order_relaxed);
	}
}

/* The raw URL: handlers decode the parts they capture. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	if (jn_log_get_level() > JN_LOG_DEBUG)
		return;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	jn_debug("http: libmicrohttpd: %s", msg);
}

/* ---- listening socket ---------------------------------------------------------- */

static int open_listener(struct jn_http_server *s, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char port[16];
	snprintf(port, sizeof port, "%d", s->opts.port);
	int rc = getaddrinfo(s->host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "http: cannot listen on %s:%d: %s", s->host, s->opts.port,
		         gai_strerror(rc));
		return -JN_ECONFIG;
	}
	int fd = -1, saved = 0;
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
			saved = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "http: cannot listen on %s:%d: %s", s->host, s->opts.port,
		         strerror(saved));
		return -JN_EIO;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[64] = "?";
	int p = s->opts.port;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
			p = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			host[0] = '[';
			inet_ntop(AF_INET6, &a->sin6_addr, host + 1, sizeof host - 2);
			strcat(host, "]");
			p = ntohs(a->sin6_port);
		}
	}
	s->listen_fd = fd;
	s->port = p;
	snprintf(s->addr, sizeof s->addr, "%s:%d", host, p);
	return 0;
}

/* ---- life cycle ------------------------------------------------------------------ */

static char *dup_or_null(const char *p, bool *oom)
{
	if (!p)
		return NULL;
	char *d = jn_strdup(p);
	if (!d)
		*oom = true;
	return d;
}

static void server_free(void *p)
{
	struct jn_http_server *s = p;
	jn__http_inbox_fini(s);
	jn__http_auth_fini(s);
	pthread_mutex_destroy(&s->inbox.lock);
	pthread_mutex_destroy(&s->sse_lock);
	pthread_mutex_destroy(&s->pull_lock);
	pthread_mutex_destroy(&s->auth_lock);
	pthread_mutex_destroy(&s->timer_lock);
	jn_free(s->host);
	jn_free(s->allow_origin);
	jn_free(s->server_name);
	jn_free(s->version);
	jn_free(s->server_id);
	jn_free(s);
}

struct jn_http_server *jn_http_server_new(const struct jn_http_opts *opts,
                                          struct jn_router *router,
                                          const struct jn_auth *auth,
                                          char *err, size_t errlen)
{
	struct jn_http_server *s = jn_calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "http: out of memory");
		return NULL;
	}
	s->opts = *opts;
	s->router = router;
	s->auth = auth;
	s->listen_fd = -1;
	pthread_mutex_init(&s->inbox.lock, NULL);
	pthread_mutex_init(&s->sse_lock, NULL);
	pthread_mutex_init(&s->pull_lock, NULL);
	pthread_mutex_init(&s->auth_lock, NULL);
	pthread_mutex_init(&s->timer_lock, NULL);
	bool oom = false;
	s->host = dup_or_null(opts->host ? opts->host : "0.0.0.0", &oom);
	s->allow_origin = dup_or_null(opts->allow_origin, &oom);
	s->server_name = dup_or_null(opts->server_name ? opts->server_name : "junction", &oom);
	s->version = dup_or_null(opts->version ? opts->version : "", &oom);
	s->server_id = dup_or_null(opts->server_id ? opts->server_id : "", &oom);
	s->opts.host = s->host;
	s->opts.allow_origin = s->allow_origin;
	s->opts.server_name = s->server_name;
	s->opts.version = s->version;
	s->opts.server_id = s->server_id;
	if (s->opts.threads == 0)
		s->opts.threads = 1;
	if (s->opts.max_payload == 0)
		s->opts.max_payload = 1024 * 1024;
	if (s->opts.sse_ping_interval_ns <= 0)
		s->opts.sse_ping_interval_ns = 15LL * 1000000000LL;
	if (s->opts.request_timeout_ns <= 0)
		s->opts.request_timeout_ns = 5LL * 1000000000LL;
	if (s->opts.sse_max_buffer == 0)
		s->opts.sse_max_buffer = 8u * 1024 * 1024;
	s->started_mono_ns = jn__http_mono_ns();
	if (oom) {
		snprintf(err, errlen, "http: out of memory");
		goto fail;
	}
	static const char ok[] = "{\"ok\":true}";
	s->resp_accepted = MHD_create_response_from_buffer(sizeof ok - 1, (void *)ok,
	                                                   MHD_RESPMEM_PERSISTENT);
	if (!s->resp_accepted) {
		snprintf(err, errlen, "http: out of memory");
		goto fail;
	}
	MHD_add_response_header(s->resp_accepted, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	jn__http_common_headers(s, s->resp_accepted);

	if (open_listener(s, err, errlen) < 0)
		goto fail;
	if (s->opts.nlisteners < JN_HTTP_MAX_LISTENERS)
		s->opts.listeners[s->opts.nlisteners++] =
			(struct jn_http_listener_info){ "http", s->host, s->port };
	if (jn__http_inbox_start(s) < 0) {
		snprintf(err, errlen, "http: cannot subscribe the reply inbox");
		goto fail;
	}
	if (jn__http_timer_start(s) < 0) {
		snprintf(err, errlen, "http: cannot start the timer thread");
		goto fail;
	}
	unsigned idle_s = (unsigned)(s->opts.idle_timeout_ns / 1000000000LL);
	if (s->opts.idle_timeout_ns > 0 && idle_s == 0)
		idle_s = 1;
	struct MHD_OptionItem ops[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL },
		{ MHD_OPTION_LISTEN_SOCKET, s->listen_fd, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, (intptr_t)s->opts.max_connections, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)idle_s, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s },
		{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s },
		{ MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)no_unescape, NULL },
		{ s->opts.threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
		  (intptr_t)s->opts.threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	s->mhd = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	                          MHD_USE_ERROR_LOG,
	                          0, NULL, NULL, on_access, s, MHD_OPTION_ARRAY, ops,
	                          MHD_OPTION_END);
	if (!s->mhd) {
		snprintf(err, errlen, "http: cannot start libmicrohttpd on %s", s->addr);
		goto fail;
	}
	s->listen_fd = -1;   /* the daemon's now */
	return s;
fail:
	jn__http_timer_stop(s);
	jn__http_inbox_stop(s);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->resp_accepted)
		MHD_destroy_response(s->resp_accepted);
	jn_epoch_retire(s, server_free);   /* the inbox may have been visible */
	return NULL;
}

void jn_http_server_free(struct jn_http_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stopping, true);
	int lfd = s->mhd ? MHD_quiesce_daemon(s->mhd) : -1;
	jn__http_timer_stop(s);
	jn__http_inbox_stop(s);
	jn__http_pull_stop(s);
	jn__http_sse_stop(s);
	/* Let the threads send what was resumed (503s, the end of each SSE
	 * stream) before the daemon closes every connection. */
	for (int i = 0; i < 400 && s->mhd && atomic_load(&s->live_reqs) > 0; i++) {
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	s->mhd = NULL;
	if (lfd >= 0)
		close(lfd);
	MHD_destroy_response(s->resp_accepted);
	jn_epoch_retire(s, server_free);
}

const struct jn_http_stats *jn_http_server_stats(const struct jn_http_server *s)
{
	return &s->stats;
}

const char *jn_http_server_addr(const struct jn_http_server *s)
{
	return s->addr;
}

int jn_http_server_port(const struct jn_http_server *s)
{
	return s->port;
}
