/*
 * kv.c - the Key/Value workloads: libnats' kvStore API, the application's
 * view (every call is a round trip: a put waits for its PubAck, a get for
 * its direct-get reply).
 *
 *   kvput  -T clients, each with its own connection, kvStore_Put in a loop
 *          on 1,000 keys of its own (bucket history 1, file or --memory)
 *   kvget  the bucket prefilled with 1,000 keys, then -T clients doing
 *          kvStore_Get on keys in turn
 *
 * Each run creates bucket JNBENCHKV (deleting a leftover) and deletes it at
 * the end. Checks: every put got a revision and the stream's last sequence
 * equals the puts acknowledged (prefill included); every get returned the
 * value that was put.
 *
 * Rate = operations completed by all clients / (start .. last client done).
 */
#include "bench/bench.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define BUCKET "JNBENCHKV"
#define NKEYS 1000
#define MAX_CLIENTS 64

struct kv_client {
	const struct jn_bench_opts *o;
	int id;
	bool get;
	natsConnection *nc;
	jsCtx *js;
	kvStore *kv;
	const char *payload;
	uint64_t ops;
	int failed;
	pthread_barrier_t *start;
	uint64_t end_ns;
};

static void kv_fail(const char *what, natsStatus st)
{
	const char *last = nats_GetLastError(NULL);
	fprintf(stderr, "jn_bench: %s: %s%s%s\n", what, natsStatus_GetText(st),
	        last && *last ? " - " : "", last && *last ? last : "");
}

static int client_open(struct kv_client *c, const char *name)
{
	c->nc = jn_bench_nats_connect(c->o, name, true);
	if (!c->nc)
		return -1;
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = 10000;
	natsStatus st = natsConnection_JetStream(&c->js, c->nc, &jo);
	if (st == NATS_OK)
		st = js_KeyValue(&c->kv, c->js, BUCKET);
	if (st != NATS_OK) {
		kv_fail("bind bucket", st);
		return -1;
	}
	return 0;
}

static void client_close(struct kv_client *c)
{
	if (c->kv)
		kvStore_Destroy(c->kv);
	if (c->js)
		jsCtx_Destroy(c->js);
	if (c->nc)
		natsConnection_Destroy(c->nc);
	c->kv = NULL;
	c->js = NULL;
	c->nc = NULL;
}

static void key_of(char *buf, size_t cap, int client, uint64_t i, bool get)
{
	if (get)
		snprintf(buf, cap, "k.%" PRIu64, i % NKEYS);
	else
		snprintf(buf, cap, "c%d.k%" PRIu64, client, i % NKEYS);
}

static void *client_main(void *arg)
{
	struct kv_client *c = arg;
	const struct jn_bench_opts *o = c->o;
	size_t size = (size_t)o->size;
	pthread_barrier_wait(c->start);
	uint64_t t0 = jn_bench_now_ns(), cap = (uint64_t)(o->secs * 1e9);
	char key[64];
	for (uint64_t i = (uint64_t)c->id * 7919; !c->failed; i++) {
		if ((c->ops & 63) == 0 && jn_bench_now_ns() - t0 > cap)
			break;
		if (o->count > 0 && c->ops >= (uint64_t)o->count)
			break;
		key_of(key, sizeof key, c->id, i, c->get);
		if (c->get) {
			kvEntry *e = NULL;
			natsStatus st = kvStore_Get(&e, c->kv, key);
			if (st != NATS_OK) {
				kv_fail("kvStore_Get", st);
				c->failed = 1;
				break;
			}
			if ((size_t)kvEntry_ValueLen(e) != size ||
			    memcmp(kvEntry_Value(e), c->payload, size) != 0) {
				fprintf(stderr, "jn_bench: kvStore_Get %s: wrong value\n", key);
				c->failed = 1;
			}
			kvEntry_Destroy(e);
		} else {
			uint64_t rev = 0;
			natsStatus st = kvStore_Put(&rev, c->kv, key, c->payload, (int)size);
			if (st != NATS_OK || rev == 0) {
				kv_fail("kvStore_Put", st);
				c->failed = 1;
				break;
			}
		}
		c->ops++;
	}
	c->end_ns = jn_bench_now_ns();
	return NULL;
}

static int bucket_create(const struct jn_bench_opts *o, jsCtx *js)
{
	(void)js_DeleteKeyValue(js, BUCKET);   /* a leftover of an aborted run */
	kvConfig cfg;
	kvConfig_Init(&cfg);
	cfg.Bucket = BUCKET;
	cfg.History = 1;
	cfg.StorageType = o->js_memory ? js_MemoryStorage : js_FileStorage;
	kvStore *kv = NULL;
	natsStatus st = js_CreateKeyValue(&kv, js, &cfg);
	if (st != NATS_OK) {
		kv_fail("create bucket", st);
		return -1;
	}
	kvStore_Destroy(kv);
	return 0;
}

static int64_t last_seq(jsCtx *js)
{
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	natsStatus st = js_GetStreamInfo(&si, js, "KV_" BUCKET, NULL, &ec);
	if (st != NATS_OK) {
		kv_fail("stream info", st);
		return -1;
	}
	int64_t n = (int64_t)si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	return n;
}

static int run(const struct jn_bench_opts *o, bool get)
{
	const char *w = o->name ? o->name : get ? "kvget" : "kvput";
	int n = o->threads < 1 ? 1 : o->threads > MAX_CLIENTS ? MAX_CLIENTS : o->threads;
	char *payload = jn_malloc((size_t)o->size + 1);
	struct kv_client *cl = jn_calloc((size_t)n, sizeof *cl);
	struct kv_client admin = { .o = o };
	int rc = payload && cl ? 0 : -1;
	bool created = false;
	if (rc == 0) {
		jn_bench_fill(payload, (size_t)o->size);
		admin.nc = jn_bench_nats_connect(o, "jn_bench-kv-admin", true);
		jsOptions jo;
		jsOptions_Init(&jo);
		jo.Wait = 10000;
		rc = admin.nc && natsConnection_JetStream(&admin.js, admin.nc, &jo) == NATS_OK ? 0 : -1;
	}
	if (rc == 0)
		rc = bucket_create(o, admin.js);
	created = rc == 0;
	if (rc == 0 && get) {
		natsStatus st = js_KeyValue(&admin.kv, admin.js, BUCKET);
		for (int i = 0; st == NATS_OK && i < NKEYS; i++) {
			char key[32];
			key_of(key, sizeof key, 0, (uint64_t)i, true);
			st = kvStore_Put(NULL, admin.kv, key, payload, o->size);
		}
		if (st != NATS_OK) {
			kv_fail("prefill", st);
			rc = -1;
		}
	}
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, (unsigned)n + 1);
	pthread_t *th = jn_calloc((size_t)n, sizeof *th);
	int started = 0;
	for (int i = 0; rc == 0 && th && i < n; i++) {
		char name[48];
		snprintf(name, sizeof name, "jn_bench-%s-%d", w, i);
		cl[i] = (struct kv_client){ .o = o, .id = i, .get = get, .payload = payload,
		                            .start = &start };
		if (client_open(&cl[i], name) < 0)
			rc = -1;
	}
	if (!th)
		rc = -1;
	if (rc == 0) {
		fprintf(stderr, "  %s: %d client%s, kvStore_%s, %s bucket, %d B values\n", w, n,
		        n > 1 ? "s" : "", get ? "Get" : "Put", o->js_memory ? "memory" : "file",
		        o->size);
		for (int i = 0; i < n; i++)
			if (pthread_create(&th[i], NULL, client_main, &cl[i]) == 0)
				started++;
	}
	uint64_t t0 = 0, t1 = 0, ops = 0;
	if (started == n && rc == 0) {
		pthread_barrier_wait(&start);
		t0 = jn_bench_now_ns();
		for (int i = 0; i < n; i++) {
			pthread_join(th[i], NULL);
			ops += cl[i].ops;
			if (cl[i].failed)
				rc = -1;
			if (cl[i].end_ns > t1)
				t1 = cl[i].end_ns;
		}
	} else {
		rc = -1;   /* threads never started wait on the barrier forever: abort */
		if (started) {
			fprintf(stderr, "jn_bench: could not start every client\n");
			exit(1);
		}
	}
	pthread_barrier_destroy(&start);
	if (rc == 0 && !get) {
		int64_t last = last_seq(admin.js);
		if (last != (int64_t)ops) {
			fprintf(stderr, "jn_bench: %" PRIu64 " puts acknowledged, stream last seq %" PRId64
			        "\n", ops, last);
			rc = -1;
		}
	}
	if (rc == 0)
		jn_bench_result(w, get ? "get ops/s" : "put ops/s",
		                t1 > t0 ? (double)ops * 1e9 / (double)(t1 - t0) : 0.0, "ops/s",
		                "higher");
	for (int i = 0; cl && i < n; i++)
		client_close(&cl[i]);
	if (created && js_DeleteKeyValue(admin.js, BUCKET) != NATS_OK)
		kv_fail("delete bucket", NATS_ERR);
	client_close(&admin);
	jn_free(th);
	jn_free(cl);
	jn_free(payload);
	return rc;
}

int jn_bench_kvput(const struct jn_bench_opts *o)
{
	return run(o, false);
}

int jn_bench_kvget(const struct jn_bench_opts *o)
{
	return run(o, true);
}
