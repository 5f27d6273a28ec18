/*
 * http_sse.c - jn_http_sse, the SSE fan-out load generator of
 * bench/http_bench.sh: C clients hold GET /v1/subscribe/<subject> streams
 * open (HTTP/1.0, so the stream is plain bytes, no chunk framing), one
 * libnats publisher sends N messages of S bytes as fast as it can, and the
 * clients count "event: msg" lines on one epoll thread. Prints one line:
 *
 *   clients N size published_per_s delivered_per_s per_client_per_s elapsed_ms complete
 *
 * where elapsed runs from the first publish to the last delivery and
 * complete says whether every client got every message (a client cut as a
 * slow consumer shows as incomplete).
 *
 *   jn_http_sse --nats nats://127.0.0.1:4222 --http 8080 [--clients 100]
 *               [--msgs 20000] [--size 128] [--timeout 60]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <nats/nats.h>

static const char MARK[] = "event: msg\n";

struct client {
	int fd;
	int state;          /* characters of MARK matched so far */
	long events;
	bool open;          /* ": ok" seen */
	bool closed;
	char head[4096];    /* until the stream is open */
	size_t hlen;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count(struct client *c, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == MARK[c->state]) {
			if (++c->state == (int)sizeof MARK - 1) {
				c->events++;
				c->state = 0;
			}
		} else {
			c->state = p[i] == MARK[0] ? 1 : 0;
		}
	}
}

/* Feed bytes; before the stream is open, wait for the ": ok" comment. */
static void feed(struct client *c, const char *p, size_t n)
{
	if (c->open) {
		count(c, p, n);
		return;
	}
	size_t k = n < sizeof c->head - 1 - c->hlen ? n : sizeof c->head - 1 - c->hlen;
	memcpy(c->head + c->hlen, p, k);
	c->hlen += k;
	c->head[c->hlen] = '\0';
	char *ok = strstr(c->head, ": ok\n\n");
	if (ok) {
		c->open = true;
		size_t used = (size_t)(ok + 6 - c->head);
		count(c, c->head + used, c->hlen - used);
		if (k < n)
			count(c, p + k, n - k);
	}
}

static int connect_http(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		perror("connect");
		exit(1);
	}
	return fd;
}

static void pump(int ep, struct client *cl, int ms)
{
	struct epoll_event ev[64];
	char buf[65536];
	int n = epoll_wait(ep, ev, 64, ms);
	for (int i = 0; i < n; i++) {
		struct client *c = ev[i].data.ptr;
		ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (r > 0) {
			feed(c, buf, (size_t)r);
		} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->closed = true;
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		}
	}
	(void)cl;
}

int main(int argc, char **argv)
{
	const char *url = "nats://127.0.0.1:4222";
	int port = 8080, nclients = 100, size = 128, timeout_s = 60;
	long msgs = 20000;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--nats")) url = argv[i + 1];
		else if (!strcmp(argv[i], "--http")) port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--clients")) nclients = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--msgs")) msgs = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--timeout")) timeout_s = atoi(argv[i + 1]);
		else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
	}
	struct client *cl = calloc((size_t)nclients, sizeof *cl);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	const char *req = "GET /v1/subscribe/bench.sse HTTP/1.0\r\nHost: bench\r\n\r\n";
	for (int i = 0; i < nclients; i++) {
		cl[i].fd = connect_http(port);
		if (send(cl[i].fd, req, strlen(req), 0) < 0) {
			perror("send");
			return 1;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cl[i] };
		epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev);
	}
	int64_t deadline = now_ms() + 10000;
	for (;;) {
		int open = 0;
		for (int i = 0; i < nclients; i++)
			open += cl[i].open;
		if (open == nclients)
			break;
		if (now_ms() > deadline) {
			fprintf(stderr, "only %d of %d streams opened\n", open, nclients);
			return 1;
		}
		pump(ep, cl, 50);
	}

	natsConnection *nc = NULL;
	natsOptions *o = NULL;
	natsOptions_Create(&o);
	natsOptions_SetURL(o, url);
	if (natsConnection_Connect(&nc, o) != NATS_OK) {
		fprintf(stderr, "cannot connect to %s\n", url);
		return 1;
	}
	char *payload = malloc((size_t)size);
	memset(payload, 'p', (size_t)size);
	int64_t t0 = now_ms();
	for (long i = 0; i < msgs; i++) {
		natsConnection_Publish(nc, "bench.sse", payload, size);
		if ((i & 255) == 255)
			pump(ep, cl, 0);   /* read while publishing: one thread does both */
	}
	natsConnection_Flush(nc);
	int64_t t_pub = now_ms() - t0;
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	int64_t last = t0;
	for (;;) {
		long done = 0, live = 0;
		for (int i = 0; i < nclients; i++) {
			done += cl[i].events >= msgs;
			live += !cl[i].closed;
		}
		if (done == nclients || now_ms() > end)
			break;
		if (live == 0)
			break;
		long before = 0, after = 0;
		for (int i = 0; i < nclients; i++)
			before += cl[i].events;
		pump(ep, cl, 100);
		for (int i = 0; i < nclients; i++)
			after += cl[i].events;
		if (after > before)
			last = now_ms();
	}
	long total = 0;
	bool complete = true;
	for (int i = 0; i < nclients; i++) {
		total += cl[i].events;
		complete = complete && cl[i].events >= msgs;
	}
	double el = (double)(last - t0) / 1000.0;
	if (el <= 0)
		el = 0.001;
	printf("clients %d msgs %ld size %d published_per_s %.0f delivered_per_s %.0f "
	       "per_client_per_s %.0f elapsed_ms %lld complete %s\n",
	       nclients, msgs, size, (double)msgs / ((double)(t_pub ? t_pub : 1) / 1000.0),
	       (double)total / el, (double)total / el / nclients, (long long)(last - t0),
	       complete ? "yes" : "no");
	natsConnection_Destroy(nc);
	natsOptions_Destroy(o);
	for (int i = 0; i < nclients; i++)
		close(cl[i].fd);
	free(cl);
	free(payload);
	return complete ? 0 : 3;
}
