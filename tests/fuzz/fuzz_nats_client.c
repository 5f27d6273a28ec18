/*
 * fuzz_nats_client.c - libFuzzer target for the whole NATS connection engine
 * (adapters/nats/client.c, server.c, parser.c) over a real router.
 *
 * Two connections: B is a fixed subscriber (headers on, plain, wildcard,
 * queue and auto-unsubscribe subscriptions); A receives the fuzz input, cut
 * into pieces whose sizes come from the input's first byte, with time
 * advanced and ticks run between pieces. Properties: no crash or sanitizer
 * report; the engine never asks for a close without reason; after both
 * connections close every subscription is gone from the sublist and every
 * byte the engine allocated is given back.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/nats/server.h"
#include "core/alloc.h"
#include "core/epoch.h"
#include "core/outq.h"
#include "core/router.h"
#include "core/sublist.h"

struct fconn {
	struct jn_link link;   /* first: close() casts back */
	void *st;
	int closes;
};

static void fclose_cb(struct jn_link *l, const char *reason)
{
	struct fconn *c = (struct fconn *)l;
	if (!reason || !reason[0])
		abort();
	c->closes++;
}

static const struct jn_link_ops ops = { .close = fclose_cb };

static int devnull = -1;

static void drain(struct fconn *c)
{
	while (jn_outq_drain(&c->link.out, devnull) > 0)
		;
}

static void open_conn(struct fconn *c, struct jn_nats_server *s, uint64_t id,
                      struct jn_thread_ctx *ctx)
{
	memset(c, 0, sizeof *c);
	c->link.ops = &ops;
	c->link.id = id;
	snprintf(c->link.peer_ip, sizeof c->link.peer_ip, "127.0.0.1");
	jn_outq_init(&c->link.out, 0, NULL, NULL);
	c->st = jn_nats_proto.open(s, &c->link, ctx);
	if (!c->st)
		abort();
}

static void feed(struct fconn *c, const char *s, struct jn_thread_ctx *ctx)
{
	if (!c->closes)
		jn_nats_proto.on_data(c->st, (const uint8_t *)s, strlen(s), ctx);
}

static void close_conn(struct fconn *c, struct jn_thread_ctx *ctx)
{
	drain(c);
	jn_outq_close(&c->link.out);
	jn_nats_proto.on_close(c->st, ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (devnull < 0)
		devnull = open("/dev/null", O_WRONLY);
	jn_outq_pool_trim();
	size_t mem0 = jn_mem_used();

	struct jn_router router;
	if (jn_router_init(&router) < 0)
		abort();
	struct jn_auth auth;
	jn_auth_init(&auth);
	struct jn_nats_opts opts;
	jn_nats_opts_default(&opts);
	opts.max_payload = 4096;
	opts.max_control_line = 512;
	opts.max_subs = 64;
	opts.max_pending = 1 << 16;
	opts.ping_interval_ns = 1000000000LL;
	struct jn_nats_server *srv = jn_nats_server_new(&opts, &router, &auth);
	struct jn_epoch_thread *et = jn_epoch_register();
	struct jn_sublist_cache *cache = jn_sublist_cache_new(router.subs);
	if (!srv || !et || !cache)
		abort();
	jn_epoch_enter(et);
	struct jn_thread_ctx ctx = { .cache = cache, .now_ns = 1000000000000LL };

	struct fconn a, b;
	open_conn(&b, srv, 2, &ctx);
	feed(&b, "CONNECT {\"verbose\":false,\"headers\":true}\r\n"
	         "SUB foo 1\r\nSUB foo.* 2\r\nSUB > 3\r\nSUB foo q 4\r\nSUB _INBOX.> 5\r\n"
	         "UNSUB 1 3\r\n", &ctx);
	open_conn(&a, srv, 1, &ctx);

	/* First byte: piece size (1..64); 0 means the rest in one piece. */
	size_t piece = size ? data[0] % 65 : 0;
	const uint8_t *p = size ? data + 1 : data;
	size_t left = size ? size - 1 : 0;
	while (left && !a.closes) {
		size_t n = piece && piece < left ? piece : left;
		jn_nats_proto.on_data(a.st, p, n, &ctx);
		p += n;
		left -= n;
		ctx.now_ns += 300000000LL;
		jn_nats_proto.on_tick(a.st, &ctx);
		jn_nats_proto.on_tick(b.st, &ctx);
		drain(&a);
		drain(&b);
	}
	close_conn(&a, &ctx);
	close_conn(&b, &ctx);
	if (jn_sublist_count(router.subs) != 0)
		abort();

	jn_epoch_exit(et);
	jn_epoch_drain();
	jn_epoch_unregister(et);
	jn_outq_fini(&a.link.out);
	jn_outq_fini(&b.link.out);
	jn_sublist_cache_free(cache);
	jn_nats_server_free(srv);
	jn_router_fini(&router);
	jn_auth_fini(&auth);
	jn_outq_pool_trim();
	if (jn_mem_used() != mem0) {
		fprintf(stderr, "fuzz_nats_client: %zu bytes not freed\n", jn_mem_used() - mem0);
		abort();
	}
	return 0;
}
