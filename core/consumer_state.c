/*
 * consumer_state.c - one consumer's durable state (see consumer_state.h).
 *
 * FILE <dir>/state
 *
 * A sequence of records:
 *
 *    0  u32 len      whole record (8 + 1 + payload), little-endian
 *    4  u32 crc      CRC-32C of bytes [0,4) then [8,len)
 *    8  u8  type
 *    9  payload      unsigned LEB128 varints (ts: zigzag), and raw bytes
 *
 *   1 SNAP    dc ds fc fs  config_len config[...]  npending {sseq cseq ts}...
 *             nredelivered {sseq count}...        (dc/ds delivered, fc/fs floor)
 *   2 CONFIG  len bytes[len]
 *   3 START   sseq
 *   4 DLV     cseq sseq dc ts flags   (flags: 1 track pending, 2 drop: dc > max_deliver)
 *   5 ACK     cseq sseq flags         (flags: 1 ack all)
 *   6 FLOOR   cseq sseq
 *
 * The first record is always a SNAP; every later record is one update,
 * applied in order to the state the SNAP describes. An update record carries
 * every decision that depended on the consumer's config (ack policy,
 * max_deliver) as flags, so replay gives the same state whatever the config
 * is at replay time.
 *
 * A file only ever comes into existence by write-tmp + fsync + rename +
 * fsync-dir holding one SNAP, so a valid SNAP is always first; updates are
 * appended with write(2). Recovery replays until the first short or invalid
 * record and truncates the file there (a torn tail). A first record that is
 * not a valid SNAP is reported as -JN_EIO: that is damage, not a crash.
 *
 * Compaction: when the updates since the snapshot exceed max(64 KiB, twice
 * the snapshot), the whole state is written as a new file the same atomic
 * way. A crash at any point leaves either the old file (plus a stray
 * state.tmp, removed on open) or the new one.
 */
#include "core/consumer_state.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/crc32c.h"
#include "core/err.h"
#include "core/log.h"
#include "core/store_io.h"

enum { T_SNAP = 1, T_CONFIG, T_START, T_DLV, T_ACK, T_FLOOR };
enum { DLV_TRACK = 1, DLV_DROP = 2 };
enum { ACK_ALL = 1 };

#define REC_HDR 9
#define COMPACT_MIN (64u << 10)

/* ---- a small u64 -> (u64, i64) hash map (key 0 = empty) ---- */

struct cent {
	uint64_t key;
	uint64_t a;
	int64_t b;
};

struct cmap {
	struct cent *t;
	size_t cap, n;
};

static size_t slot_of(uint64_t key, size_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

static struct cent *cmap_get(const struct cmap *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->t[i].key == key)
			return &m->t[i];
		if (m->t[i].key == 0)
			return NULL;
	}
}

static int cmap_grow(struct cmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct cent *t = jn_calloc(cap, sizeof *t);
	if (!t)
		return -JN_ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->t[i].key)
			continue;
		size_t j = slot_of(m->t[i].key, cap);
		while (t[j].key)
			j = (j + 1) & (cap - 1);
		t[j] = m->t[i];
	}
	jn_free(m->t);
	m->t = t;
	m->cap = cap;
	return 0;
}

/* Find or insert (value zeroed). NULL on OOM. */
static struct cent *cmap_put(struct cmap *m, uint64_t key)
{
	struct cent *e = cmap_get(m, key);
	if (e)
		return e;
	if ((m->n + 1) * 2 > m->cap && cmap_grow(m) != 0)
		return NULL;
	size_t i = slot_of(key, m->cap);
	while (m->t[i].key)
		i = (i + 1) & (m->cap - 1);
	m->t[i] = (struct cent){ .key = key };
	m->n++;
	return &m->t[i];
}

static bool cmap_del(struct cmap *m, uint64_t key)
{
	struct cent *e = cmap_get(m, key);
	if (!e)
		return false;
	size_t mask = m->cap - 1, i = (size_t)(e - m->t);
	for (size_t j = (i + 1) & mask; m->t[j].key; j = (j + 1) & mask) {
		size_t home = slot_of(m->t[j].key, m->cap);
		bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!between) {
			m->t[i] = m->t[j];
			i = j;
		}
	}
	m->t[i].key = 0;
	m->n--;
	return true;
}

/* Delete every key <= max. */
static void cmap_del_upto(struct cmap *m, uint64_t max)
{
	for (size_t i = 0; i < m->cap;) {
		if (m->t[i].key && m->t[i].key <= max)
			cmap_del(m, m->t[i].key);   /* may shift a later entry into i */
		else
			i++;
	}
}

static void cmap_fini(struct cmap *m)
{
	jn_free(m->t);
	memset(m, 0, sizeof *m);
}

/* ---- the object ---- */

struct jn_cstate {
	pthread_mutex_t mu;
	char *dir;
	char *path;
	int fd;
	enum jn_cs_ack policy;
	int64_t max_deliver;
	uint64_t dc, ds, fc, fs;   /* delivered / floor: consumer seq, stream seq */
	struct cmap pending;       /* sseq -> a = cseq, b = ts */
	struct cmap redeliv;       /* sseq -> a = count */
	char *config;
	size_t config_len;
	uint64_t file_size, snap_size;
};

/* ---- encoding ---- */

struct ebuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void eb_need(struct ebuf *b, size_t n)
{
	if (b->oom || b->len + n <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *p = jn_realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void eb_bytes(struct ebuf *b, const void *d, size_t n)
{
	eb_need(b, n);
	if (!b->oom && n) {
		memcpy(b->p + b->len, d, n);
		b->len += n;
	}
}

static void eb_uv(struct ebuf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;
	do {
		t[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			t[n] |= 0x80;
		n++;
	} while (v);
	eb_bytes(b, t, n);
}

static void eb_sv(struct ebuf *b, int64_t v)
{
	eb_uv(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void eb_begin(struct ebuf *b, uint8_t type)
{
	uint8_t h[REC_HDR] = { 0 };
	h[8] = type;
	b->len = 0;
	eb_bytes(b, h, sizeof h);
}

static void eb_finish(struct ebuf *b)
{
	if (b->oom)
		return;
	uint32_t len = htole32((uint32_t)b->len);
	memcpy(b->p, &len, 4);
	uint32_t crc = htole32(jn_crc32c(jn_crc32c(0, b->p, 4), b->p + 8, b->len - 8));
	memcpy(b->p + 4, &crc, 4);
}

/* Bounds-checked reader over untrusted bytes. */
struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t rd_uv(struct rd *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = true;
			return 0;
		}
		uint8_t c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

static int64_t rd_sv(struct rd *r)
{
	uint64_t u = rd_uv(r);
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* ---- applying updates (shared by live calls and replay) ---- */

static uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static int apply_deliver(struct jn_cstate *cs, uint64_t cseq, uint64_t sseq, uint64_t dc,
                         int64_t ts, unsigned flags)
{
	if (cseq <= cs->fc)
		return 0;   /* old news (a replay of something already acked) */
	if (!(flags & DLV_TRACK)) {
		if (cseq > cs->dc)
			cs->dc = cs->fc = cseq;
		if (sseq > cs->ds)
			cs->ds = cs->fs = sseq;
		return 0;
	}
	if (sseq <= cs->ds) {
		struct cent *p = cmap_get(&cs->pending, sseq);
		if (p)
			p->b = ts;   /* a redelivery keeps its first consumer seq */
	} else {
		struct cent *p = cmap_put(&cs->pending, sseq);
		if (!p)
			return -JN_ENOMEM;
		p->a = cseq;
		p->b = ts;
	}
	cs->dc = max64(cs->dc, cseq);
	cs->ds = max64(cs->ds, sseq);
	if (dc > 1) {
		if (flags & DLV_DROP)
			cmap_del(&cs->pending, sseq);
		struct cent *r = cmap_put(&cs->redeliv, sseq);
		if (!r)
			return -JN_ENOMEM;
		if (r->a < dc - 1)
			r->a = dc - 1;
	}
	return 0;
}

static void apply_ack(struct jn_cstate *cs, uint64_t cseq, uint64_t sseq, unsigned flags)
{
	cmap_del(&cs->redeliv, sseq);
	if (cseq <= cs->fc || !cmap_get(&cs->pending, sseq))
		return;
	if (flags & ACK_ALL) {
		cs->fc = cseq;
		cs->fs = sseq;
		cmap_del_upto(&cs->pending, sseq);
		cmap_del_upto(&cs->redeliv, sseq);
		return;
	}
	struct cent *p = cmap_get(&cs->pending, sseq);
	if (cseq > p->a && p->a > 0)
		cseq = p->a;   /* the floor counts first deliveries */
	cmap_del(&cs->pending, sseq);
	if (cs->pending.n == 0) {
		cs->fc = cs->dc;
		cs->fs = cs->ds;
	} else if (cseq == cs->fc + 1) {
		cs->fc = cseq;
		cs->fs = sseq;
		if (cs->dc > cseq) {
			/* the floor stops below the oldest message still pending */
			for (uint64_t ss = sseq + 1; ss <= cs->ds; ss++) {
				struct cent *q = cmap_get(&cs->pending, ss);
				if (q) {
					if (q->a > 0) {
						cs->fc = q->a - 1;
						cs->fs = ss - 1;
					}
					break;
				}
			}
		}
	}
}

static void apply_floor(struct jn_cstate *cs, uint64_t cseq, uint64_t sseq)
{
	cs->fc = max64(cs->fc, cseq);
	cs->fs = max64(cs->fs, sseq);
	cs->dc = max64(cs->dc, cs->fc);
	cs->ds = max64(cs->ds, cs->fs);
	cmap_del_upto(&cs->pending, sseq);
	cmap_del_upto(&cs->redeliv, sseq);
}

static int apply_config(struct jn_cstate *cs, const void *json, size_t len)
{
	char *c = jn_strndup(json, len);
	if (!c)
		return -JN_ENOMEM;
	jn_free(cs->config);
	cs->config = c;
	cs->config_len = len;
	return 0;
}

/* ---- snapshot encode/decode ---- */

static void encode_snapshot(struct jn_cstate *cs, struct ebuf *b)
{
	eb_begin(b, T_SNAP);
	eb_uv(b, cs->dc);
	eb_uv(b, cs->ds);
	eb_uv(b, cs->fc);
	eb_uv(b, cs->fs);
	eb_uv(b, cs->config ? cs->config_len + 1 : 0);   /* 0 = never set */
	if (cs->config)
		eb_bytes(b, cs->config, cs->config_len);
	eb_uv(b, cs->pending.n);
	for (size_t i = 0; i < cs->pending.cap; i++) {
		struct cent *e = &cs->pending.t[i];
		if (e->key) {
			eb_uv(b, e->key);
			eb_uv(b, e->a);
			eb_sv(b, e->b);
		}
	}
	eb_uv(b, cs->redeliv.n);
	for (size_t i = 0; i < cs->redeliv.cap; i++) {
		struct cent *e = &cs->redeliv.t[i];
		if (e->key) {
			eb_uv(b, e->key);
			eb_uv(b, e->a);
		}
	}
	eb_finish(b);
}

static int decode_snapshot(struct jn_cstate *cs, struct rd *r)
{
	cs->dc = rd_uv(r);
	cs->ds = rd_uv(r);
	cs->fc = rd_uv(r);
	cs->fs = rd_uv(r);
	uint64_t cl = rd_uv(r);
	if (cl) {
		if (r->bad || cl - 1 > (uint64_t)(r->end - r->p))
			return -JN_EIO;
		int rc = apply_config(cs, r->p, (size_t)(cl - 1));
		if (rc)
			return rc;
		r->p += cl - 1;
	}
	uint64_t n = rd_uv(r);
	for (uint64_t i = 0; i < n && !r->bad; i++) {
		uint64_t s = rd_uv(r), c = rd_uv(r);
		int64_t ts = rd_sv(r);
		if (r->bad || s == 0)
			return -JN_EIO;
		struct cent *e = cmap_put(&cs->pending, s);
		if (!e)
			return -JN_ENOMEM;
		e->a = c;
		e->b = ts;
	}
	n = rd_uv(r);
	for (uint64_t i = 0; i < n && !r->bad; i++) {
		uint64_t s = rd_uv(r), c = rd_uv(r);
		if (r->bad || s == 0)
			return -JN_EIO;
		struct cent *e = cmap_put(&cs->redeliv, s);
		if (!e)
			return -JN_ENOMEM;
		e->a = c;
	}
	return r->bad || r->p != r->end ? -JN_EIO : 0;
}

/* Apply one update record. -JN_EIO if malformed. */
static int replay_update(struct jn_cstate *cs, uint8_t type, struct rd *r)
{
	uint64_t a, b, c;
	int64_t ts;
	unsigned flags;
	int rc = 0;
	switch (type) {
	case T_CONFIG:
		a = rd_uv(r);
		if (r->bad || a != (uint64_t)(r->end - r->p))
			return -JN_EIO;
		rc = apply_config(cs, r->p, (size_t)a);
		r->p = r->end;
		break;
	case T_START:
		a = rd_uv(r);
		if (!r->bad)
			cs->ds = cs->fs = a;
		break;
	case T_DLV:
		a = rd_uv(r);
		b = rd_uv(r);
		c = rd_uv(r);
		ts = rd_sv(r);
		flags = (unsigned)rd_uv(r);
		if (!r->bad && b)
			rc = apply_deliver(cs, a, b, c, ts, flags);
		break;
	case T_ACK:
		a = rd_uv(r);
		b = rd_uv(r);
		flags = (unsigned)rd_uv(r);
		if (!r->bad && b)
			apply_ack(cs, a, b, flags);
		break;
	case T_FLOOR:
		a = rd_uv(r);
		b = rd_uv(r);
		if (!r->bad)
			apply_floor(cs, a, b);
		break;
	default:
		return -JN_EIO;
	}
	if (rc)
		return rc;
	return r->bad || r->p != r->end ? -JN_EIO : 0;
}

/* ---- file I/O ---- */

static int write_all(int fd, const uint8_t *p, size_t len, size_t *done)
{
	size_t d = 0;
	while (d < len) {
		ssize_t n = write(fd, p + d, len - d);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*done = d;
			return jn_errno_to_err(errno);
		}
		d += (size_t)n;
	}
	*done = d;
	return 0;
}

static int open_append(struct jn_cstate *cs)
{
	if (cs->fd >= 0)
		close(cs->fd);
	cs->fd = open(cs->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	return cs->fd < 0 ? jn_errno_to_err(errno) : 0;
}

static int snapshot_locked(struct jn_cstate *cs)
{
	struct ebuf b = { 0 };
	encode_snapshot(cs, &b);
	if (b.oom) {
		jn_free(b.p);
		return -JN_ENOMEM;
	}
	int rc = jn_file_write_atomic(cs->path, b.p, b.len);
	if (!rc) {
		rc = open_append(cs);
		cs->file_size = cs->snap_size = b.len;
	}
	jn_free(b.p);
	return rc;
}

/* Append one finished record; on failure the file is cut back. */
static int append_rec(struct jn_cstate *cs, struct ebuf *b)
{
	if (b->oom)
		return -JN_ENOMEM;
	if (cs->fd < 0)
		return -JN_ECLOSED;
	size_t done = 0;
	int rc = write_all(cs->fd, b->p, b->len, &done);
	if (rc) {
		if (done && ftruncate(cs->fd, (off_t)cs->file_size) != 0)
			jn_warn("consumer state %s: cannot roll back a torn write", cs->path);
		return rc;
	}
	cs->file_size += b->len;
	return 0;
}

static void maybe_compact(struct jn_cstate *cs)
{
	uint64_t log = cs->file_size - cs->snap_size;
	uint64_t limit = cs->snap_size * 2 > COMPACT_MIN ? cs->snap_size * 2 : COMPACT_MIN;
	if (log > limit) {
		int rc = snapshot_locked(cs);
		if (rc)
			jn_warn("consumer state %s: compaction failed: %s", cs->path, jn_strerror(rc));
	}
}

/* ---- recovery ---- */

static int recover(struct jn_cstate *cs)
{
	char *data;
	size_t len;
	int rc = jn_file_read_all(cs->path, &data, &len);
	if (rc)
		return rc;
	const uint8_t *p = (const uint8_t *)data;
	size_t off = 0;
	bool first = true;
	while (off < len) {
		uint32_t rl = 0, crc;
		if (len - off >= REC_HDR)
			memcpy(&rl, p + off, 4);
		rl = le32toh(rl);
		if (len - off < REC_HDR || rl < REC_HDR || rl > len - off)
			break;
		memcpy(&crc, p + off + 4, 4);
		crc = le32toh(crc);
		if (jn_crc32c(jn_crc32c(0, p + off, 4), p + off + 8, rl - 8) != crc)
			break;
		struct rd r = { p + off + REC_HDR, p + off + rl, false };
		uint8_t type = p[off + 8];
		if (first) {
			if (type != T_SNAP || decode_snapshot(cs, &r) != 0)
				break;
			cs->snap_size = rl;
			first = false;
		} else if ((rc = replay_update(cs, type, &r)) != 0) {
			if (rc != -JN_EIO)
				break;
			rc = 0;
			jn_warn("consumer state %s: malformed record at %zu", cs->path, off);
			break;
		}
		off += rl;
	}
	jn_free(data);
	if (rc)
		return rc;
	if (first) {
		jn_warn("consumer state %s: no valid snapshot at the start", cs->path);
		return -JN_EIO;
	}
	if (off < len) {
		jn_warn("consumer state %s: truncating %zu bytes of torn or damaged tail",
		        cs->path, len - off);
		if (truncate(cs->path, (off_t)off) != 0)
			return jn_errno_to_err(errno);
	}
	cs->file_size = off;
	return open_append(cs);
}

/* ---- public API ---- */

int jn_cstate_open(const char *dir, enum jn_cs_ack policy, int64_t max_deliver,
                   struct jn_cstate **out)
{
	char path[PATH_MAX];
	if (!dir || snprintf(path, sizeof path, "%s/state.tmp", dir) >= (int)sizeof path)
		return -JN_EINVAL;
	int rc = jn_mkdirs(dir);
	if (rc)
		return rc;
	unlink(path);   /* an unfinished compaction: the old file is intact */
	path[strlen(path) - 4] = '\0';
	struct jn_cstate *cs = jn_calloc(1, sizeof *cs);
	if (!cs)
		return -JN_ENOMEM;
	pthread_mutex_init(&cs->mu, NULL);
	cs->fd = -1;
	cs->policy = policy;
	cs->max_deliver = max_deliver;
	cs->dir = jn_strdup(dir);
	cs->path = jn_strdup(path);
	if (!cs->dir || !cs->path) {
		rc = -JN_ENOMEM;
	} else if (access(path, F_OK) == 0) {
		rc = recover(cs);
	} else {
		rc = snapshot_locked(cs);
		/* the directory may be new too: make its entry durable */
		if (!rc && snprintf(path, sizeof path, "%s/..", dir) < (int)sizeof path)
			rc = jn_fsync_dir(path);
	}
	if (rc) {
		jn_cstate_free(cs);
		return rc;
	}
	*out = cs;
	return 0;
}

void jn_cstate_set_policy(struct jn_cstate *cs, enum jn_cs_ack policy, int64_t max_deliver)
{
	pthread_mutex_lock(&cs->mu);
	cs->policy = policy;
	cs->max_deliver = max_deliver;
	pthread_mutex_unlock(&cs->mu);
}

static int cmp_pending(const void *a, const void *b)
{
	const struct jn_cs_pending *x = a, *y = b;
	return x->sseq < y->sseq ? -1 : x->sseq > y->sseq;
}

static int cmp_redeliv(const void *a, const void *b)
{
	const struct jn_cs_redelivered *x = a, *y = b;
	return x->sseq < y->sseq ? -1 : x->sseq > y->sseq;
}

void jn_consumer_state_fini(struct jn_consumer_state *s)
{
	jn_free(s->pending);
	jn_free(s->redelivered);
	jn_free(s->config);
	memset(s, 0, sizeof *s);
}

int jn_cstate_load(struct jn_cstate *cs, struct jn_consumer_state *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&cs->mu);
	int rc = 0;
	out->delivered_cseq = cs->dc;
	out->delivered_sseq = cs->ds;
	out->ack_floor_cseq = cs->fc;
	out->ack_floor_sseq = cs->fs;
	if (cs->pending.n && !(out->pending = jn_malloc(cs->pending.n * sizeof *out->pending)))
		rc = -JN_ENOMEM;
	if (!rc && cs->redeliv.n &&
	    !(out->redelivered = jn_malloc(cs->redeliv.n * sizeof *out->redelivered)))
		rc = -JN_ENOMEM;
	if (!rc && cs->config && !(out->config = jn_strndup(cs->config, cs->config_len)))
		rc = -JN_ENOMEM;
	if (!rc) {
		out->config_len = cs->config_len;
		for (size_t i = 0; i < cs->pending.cap; i++) {
			struct cent *e = &cs->pending.t[i];
			if (e->key)
				out->pending[out->npending++] = (struct jn_cs_pending){ e->key, e->a, e->b };
		}
		for (size_t i = 0; i < cs->redeliv.cap; i++) {
			struct cent *e = &cs->redeliv.t[i];
			if (e->key)
				out->redelivered[out->nredelivered++] = (struct jn_cs_redelivered){ e->key, e->a };
		}
	}
	pthread_mutex_unlock(&cs->mu);
	if (rc) {
		jn_consumer_state_fini(out);
		return rc;
	}
	if (out->npending)
		qsort(out->pending, out->npending, sizeof *out->pending, cmp_pending);
	if (out->nredelivered)
		qsort(out->redelivered, out->nredelivered, sizeof *out->redelivered, cmp_redeliv);
	return 0;
}

int jn_cstate_set_config(struct jn_cstate *cs, const char *json, size_t len)
{
	struct ebuf b = { 0 };
	eb_begin(&b, T_CONFIG);
	eb_uv(&b, len);
	eb_bytes(&b, json, len);
	eb_finish(&b);
	pthread_mutex_lock(&cs->mu);
	int rc = append_rec(cs, &b);
	if (!rc)
		rc = apply_config(cs, json, len);
	if (!rc)
		maybe_compact(cs);
	pthread_mutex_unlock(&cs->mu);
	jn_free(b.p);
	return rc;
}

int jn_cstate_set_starting(struct jn_cstate *cs, uint64_t sseq)
{
	uint8_t mem[32];
	struct ebuf b = { mem, 0, sizeof mem, false };
	eb_begin(&b, T_START);
	eb_uv(&b, sseq);
	eb_finish(&b);
	pthread_mutex_lock(&cs->mu);
	int rc = append_rec(cs, &b);
	if (!rc) {
		cs->ds = cs->fs = sseq;
		maybe_compact(cs);
	}
	pthread_mutex_unlock(&cs->mu);
	return rc;
}

int jn_cstate_record_deliver(struct jn_cstate *cs, uint64_t cseq, uint64_t sseq,
                             uint64_t dc, int64_t ts)
{
	if (sseq == 0 || cseq == 0 || dc == 0)
		return -JN_EINVAL;
	pthread_mutex_lock(&cs->mu);
	int rc = 0;
	unsigned flags = 0;
	if (cs->policy != JN_CS_ACK_NONE)
		flags |= DLV_TRACK;
	else if (dc != 1)
		rc = -JN_EINVAL;
	if (cs->max_deliver > 0 && dc > (uint64_t)cs->max_deliver)
		flags |= DLV_DROP;
	if (!rc && cseq > cs->fc) {
		/* make sure the in-memory update cannot fail after the write */
		if ((flags & DLV_TRACK) &&
		    ((sseq > cs->ds && !cmap_get(&cs->pending, sseq) &&
		      (cs->pending.n + 1) * 2 > cs->pending.cap && cmap_grow(&cs->pending)) ||
		     (dc > 1 && !cmap_get(&cs->redeliv, sseq) &&
		      (cs->redeliv.n + 1) * 2 > cs->redeliv.cap && cmap_grow(&cs->redeliv))))
			rc = -JN_ENOMEM;
		uint8_t mem[64];
		struct ebuf b = { mem, 0, sizeof mem, false };
		eb_begin(&b, T_DLV);
		eb_uv(&b, cseq);
		eb_uv(&b, sseq);
		eb_uv(&b, dc);
		eb_sv(&b, ts);
		eb_uv(&b, flags);
		eb_finish(&b);
		if (!rc)
			rc = append_rec(cs, &b);
		if (!rc)
			rc = apply_deliver(cs, cseq, sseq, dc, ts, flags);
		if (!rc)
			maybe_compact(cs);
	}
	pthread_mutex_unlock(&cs->mu);
	return rc;
}

int jn_cstate_record_ack(struct jn_cstate *cs, uint64_t cseq, uint64_t sseq)
{
	pthread_mutex_lock(&cs->mu);
	int rc = 0;
	if (cs->policy == JN_CS_ACK_NONE) {
		rc = -JN_EINVAL;
	} else {
		bool redeliv = cmap_get(&cs->redeliv, sseq) != NULL;
		bool pend = cseq > cs->fc && cmap_get(&cs->pending, sseq) != NULL;
		if (!redeliv && !pend) {
			rc = cseq <= cs->fc ? 0 : -JN_ENOTFOUND;
		} else {
			unsigned flags = cs->policy == JN_CS_ACK_ALL ? ACK_ALL : 0;
			uint8_t mem[48];
			struct ebuf b = { mem, 0, sizeof mem, false };
			eb_begin(&b, T_ACK);
			eb_uv(&b, cseq);
			eb_uv(&b, sseq);
			eb_uv(&b, flags);
			eb_finish(&b);
			rc = append_rec(cs, &b);
			if (!rc) {
				apply_ack(cs, cseq, sseq, flags);
				maybe_compact(cs);
				if (!pend)
					rc = cseq <= cs->fc ? 0 : -JN_ENOTFOUND;
			}
		}
	}
	pthread_mutex_unlock(&cs->mu);
	return rc;
}

int jn_cstate_record_ack_floor(struct jn_cstate *cs, uint64_t cseq, uint64_t sseq)
{
	uint8_t mem[32];
	struct ebuf b = { mem, 0, sizeof mem, false };
	eb_begin(&b, T_FLOOR);
	eb_uv(&b, cseq);
	eb_uv(&b, sseq);
	eb_finish(&b);
	pthread_mutex_lock(&cs->mu);
	int rc = append_rec(cs, &b);
	if (!rc) {
		apply_floor(cs, cseq, sseq);
		maybe_compact(cs);
	}
	pthread_mutex_unlock(&cs->mu);
	return rc;
}

uint64_t jn_cstate_num_pending(struct jn_cstate *cs)
{
	pthread_mutex_lock(&cs->mu);
	uint64_t n = cs->pending.n;
	pthread_mutex_unlock(&cs->mu);
	return n;
}

uint64_t jn_cstate_num_redelivered(struct jn_cstate *cs)
{
	pthread_mutex_lock(&cs->mu);
	uint64_t n = cs->redeliv.n;
	pthread_mutex_unlock(&cs->mu);
	return n;
}

bool jn_cstate_pending_get(struct jn_cstate *cs, uint64_t sseq, struct jn_cs_pending *out)
{
	pthread_mutex_lock(&cs->mu);
	struct cent *e = cmap_get(&cs->pending, sseq);
	if (e && out)
		*out = (struct jn_cs_pending){ sseq, e->a, e->b };
	pthread_mutex_unlock(&cs->mu);
	return e != NULL;
}

int jn_cstate_snapshot(struct jn_cstate *cs)
{
	pthread_mutex_lock(&cs->mu);
	int rc = snapshot_locked(cs);
	pthread_mutex_unlock(&cs->mu);
	return rc;
}

int jn_cstate_sync(struct jn_cstate *cs)
{
	pthread_mutex_lock(&cs->mu);
	int rc = cs->fd >= 0 && fsync(cs->fd) != 0 ? jn_errno_to_err(errno) : 0;
	pthread_mutex_unlock(&cs->mu);
	return rc;
}

uint64_t jn_cstate_file_size(struct jn_cstate *cs)
{
	pthread_mutex_lock(&cs->mu);
	uint64_t n = cs->file_size;
	pthread_mutex_unlock(&cs->mu);
	return n;
}

static void release(struct jn_cstate *cs)
{
	if (cs->fd >= 0)
		close(cs->fd);
	cmap_fini(&cs->pending);
	cmap_fini(&cs->redeliv);
	jn_free(cs->config);
	jn_free(cs->path);
	jn_free(cs->dir);
	pthread_mutex_destroy(&cs->mu);
	jn_free(cs);
}

void jn_cstate_free(struct jn_cstate *cs)
{
	if (!cs)
		return;
	if (cs->fd >= 0 && fsync(cs->fd) != 0)
		jn_warn("consumer state %s: fsync: %s", cs->path, strerror(errno));
	release(cs);
}

int jn_cstate_delete(struct jn_cstate *cs)
{
	int rc = 0;
	if (unlink(cs->path) != 0 && errno != ENOENT)
		rc = jn_errno_to_err(errno);
	if (rmdir(cs->dir) != 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT && !rc)
		rc = jn_errno_to_err(errno);
	release(cs);
	return rc;
}
