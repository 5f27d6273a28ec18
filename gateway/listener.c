/*
 * listener.c - listening sockets and the acceptor.
 *
 * Why one listening socket accepted by one thread (the main thread) rather
 * than one SO_REUSEPORT socket per worker:
 *   - balance: the kernel spreads SO_REUSEPORT accepts by a hash of the
 *     4-tuple, so a handful of long-lived connections (a benchmark's
 *     publisher and subscriber, a test's two clients) often land on the
 *     same worker; round-robin puts consecutive connections on different
 *     workers, always;
 *   - safety: without SO_REUSEPORT a second daemon on the same port fails
 *     with EADDRINUSE instead of silently sharing the port;
 *   - workers never wake for accepts, only for their connections.
 * The price is one inbox push and eventfd write per accepted connection,
 * negligible next to the connection's handshake.
 */
#include "gateway/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/alloc.h"
#include "core/log.h"

#define BACKLOG 4096   /* the kernel caps it at net.core.somaxconn */

struct jn_listener {
	int fd;
	int port;
	const struct jn_service *svc;
	unsigned next;          /* round-robin cursor */
	char addr[80];
};

static void format_addr(const struct sockaddr *sa, char *buf, size_t cap, int *port)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int p = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
		p = ntohs(a->sin_port);
		snprintf(buf, cap, "%s:%d", ip, p);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
		p = ntohs(a->sin6_port);
		snprintf(buf, cap, "[%s]:%d", ip, p);
	} else {
		snprintf(buf, cap, "?");
	}
	if (port)
		*port = p;
}

struct jn_listener *jn_listener_open(const char *host, int port, const struct jn_service *svc,
                                     char *err, size_t errlen)
{
	char portstr[16];
	snprintf(portstr, sizeof portstr, "%d", port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host, portstr, &hints, &res);
	if (gai != 0) {
		snprintf(err, errlen, "%s: cannot listen on %s:%d: %s", svc->name, host, port,
		         gai_strerror(gai));
		return NULL;
	}
	int fd = -1, saved = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		/* SO_REUSEADDR only skips TIME_WAIT after a restart; on Linux it
		 * does not let two sockets listen on one port. */
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, BACKLOG) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot listen on %s:%d: %s", svc->name, host, port,
		         strerror(saved));
		return NULL;
	}
	struct jn_listener *l = jn_calloc(1, sizeof *l);
	if (!l) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", svc->name);
		return NULL;
	}
	l->fd = fd;
	l->svc = svc;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		format_addr((struct sockaddr *)&ss, l->addr, sizeof l->addr, &l->port);
	else
		snprintf(l->addr, sizeof l->addr, "%s:%d", host, l->port = port);
	return l;
}

void jn_listener_free(struct jn_listener *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	jn_free(l);
}

int jn_listener_fd(const struct jn_listener *l) { return l->fd; }
const char *jn_listener_addr(const struct jn_listener *l) { return l->addr; }
int jn_listener_port(const struct jn_listener *l) { return l->port; }

int jn_listener_accept(struct jn_listener *l, struct jn_worker **workers, unsigned n)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			switch (errno) {
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EAGAIN:
				return 0;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				jn_warn("%s: accept: %s (pausing accepts)", l->svc->name, strerror(errno));
				return 1;
			default:
				jn_warn("%s: accept: %s", l->svc->name, strerror(errno));
				return 0;
			}
		}
		/* Small writes (PONG, +OK, a MSG) must not wait for Nagle. */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct jn_worker *w = workers[l->next++ % n];
		struct jn_conn *c = jn_conn_new(fd, l->svc, w, (struct sockaddr *)&ss,
		                                (uint16_t)l->port);
		if (!c) {
			jn_warn("%s: out of memory accepting a connection", l->svc->name);
			close(fd);
			continue;
		}
		jn_worker_adopt(w, c);
	}
}
