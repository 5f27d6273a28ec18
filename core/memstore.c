/*
 * memstore.c - the memory backend of struct jn_store: each message is one
 * heap block (subject, headers, payload back to back) whose address is the
 * entry's locator. Everything else (sequences, subjects, purge rules) is
 * store.c's. Nothing survives the process; "durable" means stored, so
 * durability callbacks run inline.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/store_impl.h"

struct mrec {
	uint32_t slen, hlen, dlen;
	uint8_t bytes[];   /* subject, headers, data */
};

static int mem_put(struct jn_store *st, uint64_t seq, int64_t ts, const char *subj,
                   uint32_t slen, const uint8_t *hdr, uint32_t hlen,
                   const uint8_t *data, uint32_t dlen, uint64_t *loc)
{
	struct mrec *r = jn_malloc(sizeof *r + (size_t)slen + hlen + dlen);
	if (!r)
		return -JN_ENOMEM;
	r->slen = slen;
	r->hlen = hlen;
	r->dlen = dlen;
	memcpy(r->bytes, subj, slen);
	if (hlen)
		memcpy(r->bytes + slen, hdr, hlen);
	if (dlen)
		memcpy(r->bytes + slen + hlen, data, dlen);
	*loc = (uint64_t)(uintptr_t)r;
	return 0;
}

static int mem_get(struct jn_store *st, uint64_t seq, const struct jn__sent *e,
                   struct jn_store_msg *m)
{
	const struct mrec *r = (const struct mrec *)(uintptr_t)e->loc;
	return jn__msg_fill(m, seq, e->ts, (const char *)r->bytes, r->slen,
	                    r->bytes + r->slen, r->hlen, r->bytes + r->slen + r->hlen,
	                    r->dlen);
}

static int mem_tomb(struct jn_store *st, uint64_t seq, const struct jn__sent *e)
{
	return 0;
}

static int mem_floor(struct jn_store *st, uint64_t seq, int64_t last_ts)
{
	return 0;
}

static int mem_skip(struct jn_store *st, uint64_t seq, int64_t ts)
{
	return 0;
}

static void mem_forget(struct jn_store *st, uint64_t seq, const struct jn__sent *e)
{
	jn_free((void *)(uintptr_t)e->loc);
}

static int mem_when_durable(struct jn_store *st, uint64_t seq,
                            void (*cb)(void *arg, int err), void *arg)
{
	return 1;
}

static int mem_sync(struct jn_store *st)
{
	return 0;
}

static void mem_stats(struct jn_store *st, struct jn_store_stats *out)
{
	out->durable_seq = st->last_seq;
}

static int mem_free(struct jn_store *st, bool delete_files)
{
	for (size_t i = 0; i < st->n; i++) {
		struct jn__sent *e = &st->ents[st->head + i];
		if (e->subj != JN__NOSUBJ)
			jn_free((void *)(uintptr_t)e->loc);
	}
	return 0;
}

static const struct jn__store_ops mem_ops = {
	.put = mem_put,
	.get = mem_get,
	.tomb = mem_tomb,
	.floor = mem_floor,
	.skip = mem_skip,
	.forget = mem_forget,
	.when_durable = mem_when_durable,
	.sync = mem_sync,
	.stats = mem_stats,
	.free = mem_free,
};

int jn_memstore_open(const struct jn_store_cfg *cfg, struct jn_store **out)
{
	struct jn_store *st = jn_calloc(1, sizeof *st);
	if (!st)
		return -JN_ENOMEM;
	jn__store_init(st, JN_STORE_MEMORY, &mem_ops, NULL);
	*out = st;
	return 0;
}
