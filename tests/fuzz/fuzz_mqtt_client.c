/*
 * fuzz_mqtt_client.c - libFuzzer target for the MQTT engine
 * (adapters/mqtt/client.c, session.c, retained.c, message.c, server.c).
 *
 * Input: the byte stream of one client connection. A second connection,
 * already connected (5.0) with subscriptions on "#", "$share/g/#" and a
 * persistent session, receives whatever the first one publishes, so the
 * delivery paths run too. The input is fed in two pieces (cut at a point
 * the first byte chooses) with a keep-alive tick between them, then the
 * connection is closed the way the gateway closes it.
 *
 * Properties: no crash or sanitizer report, every close request comes
 * through the link, and after the server is freed every byte the adapter
 * allocated is back (jn_mem_used returns to where it started).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/mqtt/codec.h"
#include "adapters/mqtt/server.h"
#include "core/alloc.h"
#include "core/auth.h"
#include "core/epoch.h"
#include "core/outq.h"
#include "core/router.h"
#include "core/sublist.h"

struct conn {
	struct jn_link link;
	void *st;
	int closes;
};

static void fake_close(struct jn_link *l, const char *reason)
{
	(void)reason;
	((struct conn *)l)->closes++;
}

static const struct jn_link_ops ops = { .close = fake_close };

static int devnull = -1;

static void drain(struct conn *c)
{
	while (jn_outq_drain(&c->link.out, devnull) > 0) {
	}
}

static void open_conn(struct conn *c, uint64_t id, struct jn_mqtt_server *srv,
                      struct jn_thread_ctx *ctx)
{
	memset(c, 0, sizeof *c);
	c->link.ops = &ops;
	c->link.id = id;
	jn_outq_init(&c->link.out, 0, NULL, NULL);
	c->st = jn_mqtt_proto.open(srv, &c->link, ctx);
	if (!c->st)
		abort();
}

static void close_conn(struct conn *c, struct jn_thread_ctx *ctx)
{
	jn_outq_close(&c->link.out);
	jn_mqtt_proto.on_close(c->st, ctx);
}

/* The watcher: CONNECT 5.0 "w" (session expiry 60), SUBSCRIBE "#" QoS 2,
 * "$share/g/#" QoS 1. */
static const uint8_t watcher[] = {
	0x10, 0x13, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x00, 0x00, 0x3c,
	0x05, 0x11, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x01, 'w',
	0x82, 0x14, 0x00, 0x01, 0x00, 0x00, 0x01, '#', 0x02,
	0x00, 0x0a, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', '#', 0x01,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (devnull < 0)
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	size_t mem0 = jn_mem_used();
	struct jn_router router;
	if (jn_router_init(&router) < 0)
		abort();
	struct jn_auth auth;
	jn_auth_init(&auth);
	struct jn_mqtt_opts opts;
	jn_mqtt_opts_default(&opts);
	opts.max_packet_size = 4096;
	opts.max_queued = 8;
	opts.max_inflight = 2;
	opts.topic_alias_max = 4;
	struct jn_mqtt_server *srv = NULL;
	if (jn_mqtt_server_new(&opts, &router, &auth, &srv) < 0)
		abort();
	struct jn_epoch_thread *et = jn_epoch_register();
	jn_epoch_enter(et);
	struct jn_sublist_cache *cache = jn_sublist_cache_new(router.subs);
	struct jn_thread_ctx ctx = { .cache = cache, .now_ns = 1000000000000LL };

	struct conn w, c;
	open_conn(&w, 1, srv, &ctx);
	jn_mqtt_proto.on_data(w.st, watcher, sizeof watcher, &ctx);
	drain(&w);
	open_conn(&c, 2, srv, &ctx);
	size_t cut = size ? (size_t)data[0] % (size + 1) : 0;
	int rc = 0;
	if (cut)
		rc = jn_mqtt_proto.on_data(c.st, data, cut, &ctx);
	ctx.now_ns += 2000000000LL;
	jn_mqtt_proto.on_tick(c.st, &ctx);
	if (rc == 0 && !c.closes && size > cut)
		rc = jn_mqtt_proto.on_data(c.st, data + cut, size - cut, &ctx);
	if (rc < 0 && !c.closes)
		abort();   /* an error without a close request */
	drain(&c);
	drain(&w);
	/* the watcher acknowledges what it got; then both go */
	static const uint8_t acks[] = { 0x40, 0x02, 0x00, 0x01, 0x50, 0x02, 0x00, 0x02,
	                                0x70, 0x02, 0x00, 0x02, 0xc0, 0x00 };
	jn_mqtt_proto.on_data(w.st, acks, sizeof acks, &ctx);
	close_conn(&c, &ctx);
	ctx.now_ns += 120000000000LL;
	jn_mqtt_proto.on_tick(w.st, &ctx);
	close_conn(&w, &ctx);

	jn_mqtt_server_free(srv);
	jn_sublist_cache_free(cache);
	jn_epoch_exit(et);
	jn_epoch_drain();
	jn_epoch_unregister(et);
	jn_outq_fini(&c.link.out);
	jn_outq_fini(&w.link.out);
	if (jn_sublist_count(router.subs) != 0)
		abort();
	jn_router_fini(&router);
	jn_auth_fini(&auth);
	jn_outq_pool_trim();
	if (jn_mem_used() != mem0) {
		fprintf(stderr, "fuzz_mqtt_client: %zu bytes not freed\n", jn_mem_used() - mem0);
		abort();
	}
	return 0;
}
