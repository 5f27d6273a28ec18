/*
 * fuzz_nats_parser.c - libFuzzer target for adapters/nats/parser.c.
 *
 * Property: the parser's output is a function of the byte stream alone.
 * Each input is parsed whole, then split at every byte boundary (at most
 * SPLIT_ALL bytes; past that at SPLIT_SOME deterministic points), then fed
 * a byte at a time; every run must give the same commands (compared in a
 * serialized form), the same return code and -ERR text, and must hold no
 * scratch memory once it ended in an error or was finalised. Each input is
 * checked under the default limits and under tiny ones, so the limit paths
 * are reached by short inputs. Any difference aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/nats/parser.h"

#define SPLIT_ALL 512
#define SPLIT_SOME 64

struct out {
	uint8_t *buf;
	size_t len, cap;
	const uint8_t *in;
	size_t in_len;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap < o->len + n)
			cap *= 2;
		o->buf = realloc(o->buf, cap);
		if (!o->buf)
			abort();
		o->cap = cap;
	}
	if (n)
		memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void put_u64(struct out *o, uint64_t v)
{
	put(o, &v, sizeof v);
}

static void put_str(struct out *o, const struct jn_nats_str *s)
{
	if (!s->p && s->len)
		abort();   /* absent strings have no length */
	put_u64(o, s->p ? s->len : UINT64_MAX);
	put(o, s->p, s->len);
}

static int record(void *ctx, const struct jn_nats_cmd *c)
{
	struct out *o = ctx;
	put_u64(o, (uint64_t)c->op);
	put_str(o, &c->subject);
	put_str(o, &c->reply);
	put_str(o, &c->queue);
	put_str(o, &c->sid);
	put_str(o, &c->json);
	put_u64(o, (uint64_t)c->max_msgs);
	put_u64(o, c->hdr_len);
	put_u64(o, c->total_len);
	if (c->op == JN_NATS_PUB || c->op == JN_NATS_HPUB) {
		if (c->hdr_len > c->total_len || (c->total_len && !c->payload))
			abort();
		put(o, c->payload, c->total_len);
	}
	return 0;
}

/* Parse in[0..len) cut at the ascending positions cuts[0..n). Each piece is
 * a fresh exact-size copy, so a pointer kept into an earlier piece is a
 * use-after-free ASan reports. */
static void run(const uint8_t *in, size_t len, const size_t *cuts, size_t n,
                uint32_t mcl, uint32_t mp, struct out *o)
{
	struct jn_nats_parser p;
	jn_nats_parser_init(&p, mcl, mp);
	o->len = 0;
	int rc = 0;
	size_t at = 0;
	for (size_t k = 0; k <= n && rc >= 0; k++) {
		size_t end = k < n ? cuts[k] : len;
		size_t m = end - at;
		uint8_t *piece = malloc(m ? m : 1);
		if (!piece)
			abort();
		memcpy(piece, in + at, m);
		rc = jn_nats_parse(&p, piece, m, record, o);
		free(piece);
		at = end;
	}
	put_u64(o, (uint64_t)(int64_t)rc);
	if (rc < 0) {
		put(o, p.err ? p.err : "(null)", p.err ? strlen(p.err) : 6);
		if (jn_nats_parser_held(&p) != 0)
			abort();   /* a failed parser holds nothing */
	}
	jn_nats_parser_fini(&p);
	if (jn_nats_parser_held(&p) != 0)
		abort();
}

static void fail(const char *what, size_t a, size_t b)
{
	fprintf(stderr, "fuzz_nats_parser: %s differs from the whole parse (%zu, %zu)\n",
	        what, a, b);
	abort();
}

static void check(const uint8_t *data, size_t size, uint32_t mcl, uint32_t mp)
{
	static struct out whole, split;
	run(data, size, NULL, 0, mcl, mp, &whole);

	size_t cut;
	if (size <= SPLIT_ALL) {
		for (cut = 1; cut < size; cut++) {
			run(data, size, &cut, 1, mcl, mp, &split);
			if (split.len != whole.len || memcmp(split.buf, whole.buf, whole.len))
				fail("split", cut, 0);
		}
	} else {
		uint64_t x = 0x9e3779b97f4a7c15ull ^ size;
		for (int k = 0; k < SPLIT_SOME; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			cut = 1 + (size_t)(x % (size - 1));
			run(data, size, &cut, 1, mcl, mp, &split);
			if (split.len != whole.len || memcmp(split.buf, whole.buf, whole.len))
				fail("split", cut, 0);
		}
	}
	/* Two cuts, a few positions. */
	if (size > 2) {
		size_t cuts[2] = { size / 3, size / 3 + 1 + (size - size / 3 - 2) / 2 };
		if (cuts[0] == 0)
			cuts[0] = 1;
		if (cuts[1] > cuts[0] && cuts[1] < size) {
			run(data, size, cuts, 2, mcl, mp, &split);
			if (split.len != whole.len || memcmp(split.buf, whole.buf, whole.len))
				fail("two cuts", cuts[0], cuts[1]);
		}
	}
	/* A byte at a time. */
	if (size > 1) {
		size_t *cuts = malloc((size - 1) * sizeof *cuts);
		if (!cuts)
			abort();
		for (size_t k = 0; k + 1 < size; k++)
			cuts[k] = k + 1;
		run(data, size, cuts, size - 1, mcl, mp, &split);
		free(cuts);
		if (split.len != whole.len || memcmp(split.buf, whole.buf, whole.len))
			fail("byte at a time", 0, 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size, 4096, 1024 * 1024);
	check(data, size, 16, 32);
	return 0;
}
