/*
 * rawconn.c - a NATS client connection on a plain socket, for the workloads
 * that need thousands of connections (idle) or a client cheaper than the
 * server under test (sink.c).
 *
 * Promise: on return the server has answered our PING, so it has processed
 * CONNECT and every SUB sent before it (the protocol handles a connection's
 * commands in order). The socket is left blocking; callers may change that.
 */
#include "bench/bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define CONNECT_LINE \
	"CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1," \
	"\"lang\":\"c\",\"version\":\"jn_bench\",\"name\":\"jn_bench\"}\r\n"

int jn_bench_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads until `want` appears at the start of a line; any -ERR is fatal.
 * Lines are short here (INFO is the longest), so a fixed buffer is enough. */
static int read_until(int fd, const char *want)
{
	char buf[8192];
	size_t len = 0;
	size_t wlen = strlen(want);
	for (;;) {
		if (len == sizeof buf)
			return -1;
		ssize_t r = read(fd, buf + len, sizeof buf - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		len += (size_t)r;
		size_t start = 0;
		for (size_t i = 0; i < len; i++) {
			if (buf[i] != '\n')
				continue;
			const char *line = buf + start;
			size_t llen = i + 1 - start;
			if (llen >= wlen && memcmp(line, want, wlen) == 0)
				return 0;
			if (llen >= 4 && memcmp(line, "-ERR", 4) == 0) {
				fprintf(stderr, "jn_bench: server said %.*s", (int)llen, line);
				return -1;
			}
			start = i + 1;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
	}
}

int jn_bench_raw_connect(const char *host, int port, const char *extra, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "jn_bench: raw connections need a numeric IPv4 host, not %s\n", host);
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("jn_bench: socket");
		return -1;
	}
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		perror("jn_bench: connect");
		close(fd);
		return -1;
	}
	if (read_until(fd, "INFO ") != 0) {
		fprintf(stderr, "jn_bench: no INFO from %s:%d\n", host, port);
		close(fd);
		return -1;
	}
	if (jn_bench_write_all(fd, CONNECT_LINE, sizeof CONNECT_LINE - 1) != 0 ||
	    (extra && jn_bench_write_all(fd, extra, strlen(extra)) != 0) ||
	    jn_bench_write_all(fd, "PING\r\n", 6) != 0 || read_until(fd, "PONG") != 0) {
		fprintf(stderr, "jn_bench: handshake with %s:%d failed\n", host, port);
		close(fd);
		return -1;
	}
	struct timeval none = { 0, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
	return fd;
}

/* Splits a MSG/HMSG control line (without CRLF) at spaces into at most 6
 * tokens; returns how many. */
static int tokens(const char *line, size_t len, const char *tok[6], size_t tlen[6])
{
	int n = 0;
	size_t i = 0;
	while (i < len && n < 6) {
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && line[i] != ' ')
			i++;
		tok[n] = line + start;
		tlen[n++] = i - start;
	}
	return n;
}

static size_t to_size(const char *p, size_t n)
{
	size_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (size_t)(p[i] - '0');
	return v;
}

/* One protocol item from the buffer: 1 = message, 0 = need more bytes,
 * 2 = a non-message line consumed, -1 = error. */
static int parse_one(struct jn_bench_rawrd *rd, struct jn_bench_rawmsg *m)
{
	char *p = rd->buf + rd->pos;
	size_t avail = rd->len - rd->pos;
	char *nl = memchr(p, '\n', avail);
	if (!nl)
		return 0;
	size_t llen = (size_t)(nl - p) + 1;
	size_t clen = llen >= 2 && p[llen - 2] == '\r' ? llen - 2 : llen - 1;
	bool hmsg = clen > 5 && memcmp(p, "HMSG ", 5) == 0;
	if (hmsg || (clen > 4 && memcmp(p, "MSG ", 4) == 0)) {
		const char *tok[6];
		size_t tlen[6];
		int n = tokens(p, clen, tok, tlen);
		int plain = hmsg ? 5 : 4;   /* token count without a reply subject */
		if (n != plain && n != plain + 1)
			return -1;
		size_t size = to_size(tok[n - 1], tlen[n - 1]);
		if (llen + size + 2 > sizeof rd->buf)
			return -1;
		if (avail < llen + size + 2)
			return 0;
		m->reply = n == plain + 1 ? tok[3] : NULL;
		m->reply_len = n == plain + 1 ? tlen[3] : 0;
		m->data = p + llen;
		m->size = size;
		rd->pos += llen + size + 2;
		return 1;
	}
	if (clen == 4 && memcmp(p, "PING", 4) == 0) {
		if (jn_bench_write_all(rd->fd, "PONG\r\n", 6) != 0)
			return -1;
	} else if (clen >= 4 && memcmp(p, "-ERR", 4) == 0) {
		fprintf(stderr, "jn_bench: server said %.*s\n", (int)clen, p);
	}
	rd->pos += llen;
	return 2;
}

int jn_bench_raw_next(struct jn_bench_rawrd *rd, struct jn_bench_rawmsg *m, bool block)
{
	for (;;) {
		int r = parse_one(rd, m);
		if (r == 1)
			return 1;
		if (r < 0)
			return -1;
		if (r == 2)
			continue;
		if (!block)
			return 0;
		/* Keep the partial item, drop what was consumed, read more. */
		memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
		rd->len -= rd->pos;
		rd->pos = 0;
		if (rd->len == sizeof rd->buf)
			return -1;
		ssize_t got = read(rd->fd, rd->buf + rd->len, sizeof rd->buf - rd->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		rd->len += (size_t)got;
	}
}
