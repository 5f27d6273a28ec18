/*
 * fuzz_mqtt_codec.c - libFuzzer target for adapters/mqtt/codec.c.
 *
 * Input: one byte choosing the session's protocol level (even: 3.1.1,
 * odd: 5.0), then the byte stream a client sends.
 *
 * Properties:
 *  - the decoded packets are a function of the byte stream alone: the
 *    input parsed whole, split at every byte (at most SPLIT_ALL bytes;
 *    past that at SPLIT_SOME deterministic points) and a byte at a time
 *    gives the same packets and the same return code;
 *  - every decoded packet re-encodes to bytes that decode to the same
 *    packet again (encode(decode(encode(x))) == encode(x)), so the encoder
 *    and decoder agree on every field the decoder accepts;
 *  - a parser that failed, or was finalised, holds no memory.
 * Each input runs under no size limit and under a 64-byte one, so the
 * limit paths are reached by short inputs. Any difference aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/mqtt/codec.h"

#define SPLIT_ALL 512
#define SPLIT_SOME 64

struct out {
	uint8_t *buf;
	size_t len, cap;
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

static uint8_t *encode_alloc(const struct jn_mqtt_pkt *p, size_t *len)
{
	size_t n = jn_mqtt_encode(p, NULL, 0, false);
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		abort();
	if (jn_mqtt_encode(p, b, n, false) != n)
		abort();
	*len = n;
	return b;
}

static int check_roundtrip_cb(void *ctx, const struct jn_mqtt_pkt *p)
{
	*(struct jn_mqtt_pkt *)ctx = *p;
	return 0;
}

/* The re-encoding of p must decode, and re-encode identically. */
static void check_roundtrip(const struct jn_mqtt_pkt *p, const uint8_t *enc, size_t n)
{
	if (p->type == JN_MQTT_CONNECT && p->connect.unsupported)
		return;   /* only the level was decoded */
	struct jn_mqtt_parser ps;
	jn_mqtt_parser_init(&ps, 0);
	ps.version = p->version;
	struct jn_mqtt_pkt d;
	memset(&d, 0, sizeof d);
	if (jn_mqtt_parse(&ps, enc, n, check_roundtrip_cb, &d) != 0 || d.type != p->type) {
		fprintf(stderr, "fuzz_mqtt_codec: re-encoded packet type %d does not decode\n", p->type);
		abort();
	}
	jn_mqtt_parser_fini(&ps);
	size_t n2;
	uint8_t *enc2 = encode_alloc(&d, &n2);
	if (n2 != n || memcmp(enc2, enc, n) != 0) {
		fprintf(stderr, "fuzz_mqtt_codec: packet type %d is not stable through encode/decode\n",
		        p->type);
		abort();
	}
	free(enc2);
}

static int record(void *ctx, const struct jn_mqtt_pkt *p)
{
	struct out *o = ctx;
	size_t n;
	uint8_t *enc = encode_alloc(p, &n);
	uint32_t sz = p->size;
	put(o, &sz, sizeof sz);
	put(o, enc, n);
	free(enc);
	return 0;
}

static int record_check(void *ctx, const struct jn_mqtt_pkt *p)
{
	size_t n;
	uint8_t *enc = encode_alloc(p, &n);
	check_roundtrip(p, enc, n);
	free(enc);
	return record(ctx, p);
}

static void run(const uint8_t *in, size_t len, uint8_t version, uint32_t max, const size_t *cuts,
                size_t ncuts, bool check, struct out *o)
{
	struct jn_mqtt_parser p;
	jn_mqtt_parser_init(&p, max);
	p.version = version;
	o->len = 0;
	int rc = 0;
	size_t at = 0;
	for (size_t k = 0; k <= ncuts && rc >= 0; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		size_t m = end - at;
		uint8_t *piece = malloc(m ? m : 1);
		if (!piece)
			abort();
		memcpy(piece, in + at, m);
		rc = jn_mqtt_parse(&p, piece, m, check ? record_check : record, o);
		free(piece);
		at = end;
	}
	int64_t r = rc;
	put(o, &r, sizeof r);
	if (rc < 0 && jn_mqtt_parser_held(&p) != 0)
		abort();
	jn_mqtt_parser_fini(&p);
	if (jn_mqtt_parser_held(&p) != 0)
		abort();
}

static void same(const struct out *a, const struct out *b, const char *what, size_t at)
{
	if (a->len != b->len || memcmp(a->buf, b->buf, a->len) != 0) {
		fprintf(stderr, "fuzz_mqtt_codec: %s (%zu) differs from the whole parse\n", what, at);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t version = (data[0] & 1) ? JN_MQTT_V5 : JN_MQTT_V311;
	const uint8_t *in = data + 1;
	size_t len = size - 1;
	static const uint32_t limits[] = { 0, 64 };
	struct out whole = { 0 }, part = { 0 };
	for (size_t li = 0; li < 2; li++) {
		run(in, len, version, limits[li], NULL, 0, true, &whole);
		size_t step = len <= SPLIT_ALL ? 1 : len / SPLIT_SOME;
		for (size_t cut = 1; cut < len; cut += step) {
			run(in, len, version, limits[li], &cut, 1, false, &part);
			same(&whole, &part, "split", cut);
		}
		if (len <= SPLIT_ALL * 4 && len > 1) {
			size_t *cuts = malloc((len - 1) * sizeof *cuts);
			if (!cuts)
				abort();
			for (size_t i = 0; i + 1 < len; i++)
				cuts[i] = i + 1;
			run(in, len, version, limits[li], cuts, len - 1, false, &part);
			same(&whole, &part, "byte at a time", 0);
			free(cuts);
		}
	}
	free(whole.buf);
	free(part.buf);
	return 0;
}
