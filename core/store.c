/*
 * store.c - what every message store does, whatever holds the bytes.
 *
 * Owns: sequence assignment, the seq -> entry array, the per-subject index,
 * filter evaluation, purge/compact/expire rules (nats-server's PurgeEx and
 * Compact semantics), byte accounting and the store mutex. Backends
 * (memstore.c, filestore.c) plug in through struct jn__store_ops.
 *
 * The index. Entries for seqs [base, last_seq] live in one array used as a
 * deque: appends push at the back, deleting the first message pops the front
 * (amortised O(1)), interior deletes leave a hole (subj = JN__NOSUBJ). Each
 * live entry is also linked to the previous and next message of its subject,
 * so a subject's first/last seq and count stay exact under any delete, which
 * is what max_msgs_per_subject (drop the subject's oldest), last-by-subject
 * (KV get) and num_pending of filtered consumers need.
 *
 * Filters are evaluated per subject, not per message: a wildcard filter is
 * matched once per distinct subject per call (memo array by subject id), and
 * queries that can be answered from the subject table (last, counts, "is
 * there anything at all") never walk the messages.
 */
#include "core/store_impl.h"

#include <string.h>

#include "core/alloc.h"
#include "core/crc32c.h"
#include "core/err.h"
#include "core/subject.h"

/* ---- message buffers ---- */

void jn_store_msg_fini(struct jn_store_msg *m)
{
	jn_free(m->jn__buf);
	memset(m, 0, sizeof *m);
}

int jn__msg_reserve(struct jn_store_msg *m, size_t n)
{
	if (m->jn__cap >= n)
		return 0;
	size_t cap = m->jn__cap ? m->jn__cap : 256;
	while (cap < n)
		cap *= 2;
	uint8_t *b = jn_realloc(m->jn__buf, cap);
	if (!b)
		return -JN_ENOMEM;
	m->jn__buf = b;
	m->jn__cap = cap;
	return 0;
}

int jn__msg_fill(struct jn_store_msg *m, uint64_t seq, int64_t ts,
                 const char *subj, uint32_t slen, const uint8_t *hdr, uint32_t hlen,
                 const uint8_t *data, uint32_t dlen)
{
	int rc = jn__msg_reserve(m, (size_t)slen + hlen + dlen + 1);
	if (rc)
		return rc;
	uint8_t *b = m->jn__buf;
	memcpy(b, subj, slen);
	if (hlen)
		memcpy(b + slen, hdr, hlen);
	if (dlen)
		memcpy(b + slen + hlen, data, dlen);
	m->seq = seq;
	m->ts = ts;
	m->subject = (const char *)b;
	m->subject_len = slen;
	m->hdr = hlen ? b + slen : NULL;
	m->hdr_len = hlen;
	m->data = b + slen + hlen;
	m->data_len = dlen;
	return 0;
}

uint64_t jn_store_msg_size(enum jn_store_type type, uint32_t slen, uint32_t hlen,
                           uint32_t dlen)
{
	if (type == JN_STORE_MEMORY)
		return (uint64_t)slen + hlen + dlen + 16;
	return (uint64_t)slen + dlen + 30 + (hlen ? (uint64_t)hlen + 4 : 0);
}

/* ---- entries ---- */

static struct jn__sent *ent(struct jn_store *st, uint64_t seq)
{
	if (seq < st->base || seq - st->base >= st->n)
		return NULL;
	return &st->ents[st->head + (seq - st->base)];
}

static struct jn__sent *live_ent(struct jn_store *st, uint64_t seq)
{
	struct jn__sent *e = ent(st, seq);
	return e && e->subj != JN__NOSUBJ ? e : NULL;
}

static int ents_reserve(struct jn_store *st, size_t more)
{
	size_t need = st->n + more;
	if (st->head + need <= st->cap)
		return 0;
	if (need <= st->cap / 2) {
		/* plenty of room once the consumed front is reclaimed */
		memmove(st->ents, st->ents + st->head, st->n * sizeof *st->ents);
		st->head = 0;
		return 0;
	}
	size_t cap = st->cap ? st->cap * 2 : 64;
	while (cap < need)
		cap *= 2;
	struct jn__sent *e = jn_malloc(cap * sizeof *e);
	if (!e)
		return -JN_ENOMEM;
	if (st->n)
		memcpy(e, st->ents + st->head, st->n * sizeof *e);
	jn_free(st->ents);
	st->ents = e;
	st->cap = cap;
	st->head = 0;
	return 0;
}

static void fix_first(struct jn_store *st)
{
	st->first_seq = st->msgs ? st->base : st->last_seq + 1;
}

/* Drop deleted entries at the front; an empty store holds no entries. */
static void trim_front(struct jn_store *st)
{
	while (st->n && st->ents[st->head].subj == JN__NOSUBJ) {
		st->head++;
		st->n--;
		st->base++;
	}
	if (st->n == 0 || st->msgs == 0) {
		st->n = 0;
		st->head = 0;
		st->base = st->last_seq + 1;
	}
	fix_first(st);
}

/* Raise last_seq to `last` (> last_seq): the gap is deleted seqs. */
static int raise_last(struct jn_store *st, uint64_t last, int64_t ts)
{
	if (last <= st->last_seq)
		return 0;
	if (st->msgs) {
		uint64_t gap = last - st->last_seq;
		int rc = ents_reserve(st, gap);
		if (rc)
			return rc;
		for (uint64_t i = 0; i < gap; i++) {
			struct jn__sent *e = &st->ents[st->head + st->n++];
			memset(e, 0, sizeof *e);
			e->subj = JN__NOSUBJ;
			e->ts = ts;
		}
	}
	st->last_seq = last;
	if (!st->msgs)
		st->base = last + 1;
	fix_first(st);
	return 0;
}

/* ---- subjects ---- */

static uint32_t subj_hash(const char *s, size_t len)
{
	return jn_crc32c(0x9e3779b9u, s, len);
}

static uint32_t subj_find(struct jn_store *st, const char *s, size_t len, uint32_t h)
{
	if (!st->hcap)
		return JN__NOSUBJ;
	uint32_t mask = st->hcap - 1;
	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t v = st->htab[i];
		if (!v)
			return JN__NOSUBJ;
		struct jn__subj *sj = &st->subs[v - 1];
		if (sj->hash == h && sj->len == len && memcmp(sj->name, s, len) == 0)
			return v - 1;
	}
}

static void htab_put(uint32_t *tab, uint32_t cap, uint32_t h, uint32_t id)
{
	uint32_t mask = cap - 1, i = h & mask;
	while (tab[i])
		i = (i + 1) & mask;
	tab[i] = id + 1;
}

static int htab_grow(struct jn_store *st)
{
	uint32_t cap = st->hcap ? st->hcap * 2 : 64;
	uint32_t *t = jn_calloc(cap, sizeof *t);
	if (!t)
		return -JN_ENOMEM;
	for (uint32_t i = 0; i < st->hcap; i++)
		if (st->htab[i])
			htab_put(t, cap, st->subs[st->htab[i] - 1].hash, st->htab[i] - 1);
	jn_free(st->htab);
	st->htab = t;
	st->hcap = cap;
	return 0;
}

/* Find or create; a created subject has msgs == 0 until linked. */
static int subj_get(struct jn_store *st, const char *s, size_t len, uint32_t *id)
{
	uint32_t h = subj_hash(s, len);
	uint32_t i = subj_find(st, s, len, h);
	if (i != JN__NOSUBJ) {
		*id = i;
		return 0;
	}
	if ((st->nsubs_used + 1) * 2 > st->hcap) {
		int rc = htab_grow(st);
		if (rc)
			return rc;
	}
	if (st->nfree == 0 && st->subs_hi == st->subs_cap) {
		uint32_t cap = st->subs_cap ? st->subs_cap * 2 : 16;
		struct jn__subj *ns = jn_realloc(st->subs, cap * sizeof *ns);
		if (!ns)
			return -JN_ENOMEM;
		st->subs = ns;
		uint32_t *nf = jn_realloc(st->free_ids, cap * sizeof *nf);
		if (!nf)
			return -JN_ENOMEM;
		st->free_ids = nf;
		st->subs_cap = cap;
	}
	char *name = jn_strndup(s, len);
	if (!name)
		return -JN_ENOMEM;
	i = st->nfree ? st->free_ids[--st->nfree] : st->subs_hi++;
	struct jn__subj *sj = &st->subs[i];
	memset(sj, 0, sizeof *sj);
	sj->name = name;
	sj->len = (uint32_t)len;
	sj->hash = h;
	htab_put(st->htab, st->hcap, h, i);
	st->nsubs_used++;
	*id = i;
	return 0;
}

/* Remove subject id (no messages left) from the hash (backward-shift
 * deletion keeps linear probing correct without tombstones). */
static void subj_release(struct jn_store *st, uint32_t id)
{
	struct jn__subj *sj = &st->subs[id];
	uint32_t mask = st->hcap - 1, i = sj->hash & mask;
	while (st->htab[i] != id + 1)
		i = (i + 1) & mask;
	for (uint32_t j = (i + 1) & mask; st->htab[j]; j = (j + 1) & mask) {
		uint32_t home = st->subs[st->htab[j] - 1].hash & mask;
		/* can the entry at j move to the hole at i? (home not in (i, j]) */
		bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!between) {
			st->htab[i] = st->htab[j];
			i = j;
		}
	}
	st->htab[i] = 0;
	jn_free(sj->name);
	sj->name = NULL;
	st->free_ids[st->nfree++] = id;
	st->nsubs_used--;
}

/* ---- filters ---- */

enum { F_ALL, F_LIT, F_WILD, F_NONE };

struct filt {
	const char *f;
	size_t len;
	int kind;
	uint32_t id;      /* F_LIT */
};

static void filt_prep(struct jn_store *st, struct filt *fl, const char *f, size_t len)
{
	fl->f = f;
	fl->len = len;
	if (!f || len == 0 || (len == 1 && f[0] == '>')) {
		fl->kind = F_ALL;
	} else if (jn_subject_has_wildcard(f, len)) {
		fl->kind = F_WILD;
		if (st->memo_cap < st->subs_hi) {
			uint32_t cap = st->subs_cap;
			uint32_t *m = jn_realloc(st->memo, cap * sizeof *m);
			if (m) {
				memset(m + st->memo_cap, 0, (cap - st->memo_cap) * sizeof *m);
				st->memo = m;
				st->memo_cap = cap;
			}
		}
		if (++st->memo_gen >= (1u << 30)) {
			memset(st->memo, 0, st->memo_cap * sizeof *st->memo);
			st->memo_gen = 1;
		}
	} else {
		fl->id = subj_find(st, f, len, subj_hash(f, len));
		fl->kind = fl->id == JN__NOSUBJ ? F_NONE : F_LIT;
	}
}

static bool filt_match(struct jn_store *st, const struct filt *fl, uint32_t id)
{
	switch (fl->kind) {
	case F_ALL:
		return true;
	case F_LIT:
		return id == fl->id;
	case F_NONE:
		return false;
	}
	struct jn__subj *sj = &st->subs[id];
	if (id < st->memo_cap) {
		uint32_t v = st->memo[id];
		if ((v >> 1) == st->memo_gen)
			return v & 1;
		bool m = jn_subject_match(fl->f, fl->len, sj->name, sj->len);
		st->memo[id] = (st->memo_gen << 1) | (m ? 1u : 0u);
		return m;
	}
	return jn_subject_match(fl->f, fl->len, sj->name, sj->len);
}

/* ---- core index operations ---- */

/* Forget live seq: unlink from its subject, fix counts, tell the backend. */
static void idx_forget(struct jn_store *st, uint64_t seq)
{
	struct jn__sent *e = live_ent(st, seq);
	struct jn__subj *sj = &st->subs[e->subj];
	if (e->prev)
		ent(st, e->prev)->next = e->next;
	else
		sj->first = e->next;
	if (e->next)
		ent(st, e->next)->prev = e->prev;
	else
		sj->last = e->prev;
	uint32_t id = e->subj;
	if (--sj->msgs == 0)
		subj_release(st, id);
	st->msgs--;
	st->bytes -= e->size;
	struct jn__sent copy = *e;
	e->subj = JN__NOSUBJ;
	e->prev = e->next = 0;
	st->ops->forget(st, seq, &copy);
	if (seq == st->base || st->msgs == 0)
		trim_front(st);
}

/* Remove every message < seq after the backend recorded the floor. */
static uint64_t idx_forget_below(struct jn_store *st, uint64_t seq)
{
	uint64_t n = 0;
	while (st->msgs && st->base < seq) {
		idx_forget(st, st->base);   /* base is always live when msgs > 0 */
		n++;
	}
	return n;
}

static int idx_append(struct jn_store *st, uint64_t seq, int64_t ts, uint32_t id,
                      uint32_t size, uint64_t loc)
{
	/* capacity was reserved by the caller */
	if (st->msgs == 0) {
		st->n = 0;
		st->head = 0;
		st->base = seq;
	}
	struct jn__sent *e = &st->ents[st->head + st->n++];
	struct jn__subj *sj = &st->subs[id];
	e->loc = loc;
	e->ts = ts;
	e->subj = id;
	e->size = size;
	e->next = 0;
	e->prev = sj->last;
	if (sj->last)
		ent(st, sj->last)->next = seq;
	else
		sj->first = seq;
	sj->last = seq;
	sj->msgs++;
	st->msgs++;
	st->bytes += size;
	st->last_seq = seq;
	st->last_ts = ts;
	fix_first(st);
	return 0;
}

/* ---- init / recovery hooks ---- */

int jn__store_init(struct jn_store *st, enum jn_store_type type,
                   const struct jn__store_ops *ops, void *be)
{
	pthread_mutex_init(&st->mu, NULL);
	st->type = type;
	st->ops = ops;
	st->be = be;
	st->base = 1;
	return 0;
}

void jn__store_fini(struct jn_store *st)
{
	for (uint32_t i = 0; i < st->subs_hi; i++)
		jn_free(st->subs[i].name);
	jn_free(st->subs);
	jn_free(st->free_ids);
	jn_free(st->htab);
	jn_free(st->memo);
	jn_free(st->ents);
	pthread_mutex_destroy(&st->mu);
}

int jn__store_recover_msg(struct jn_store *st, uint64_t seq, int64_t ts,
                          const char *subj, uint32_t slen, uint32_t size, uint64_t loc)
{
	if (seq <= st->last_seq)
		return -JN_EINVAL;
	int rc = raise_last(st, seq - 1, ts);
	if (!rc)
		rc = ents_reserve(st, 1);
	uint32_t id;
	if (!rc)
		rc = subj_get(st, subj, slen, &id);
	if (rc)
		return rc;
	return idx_append(st, seq, ts, id, size, loc);
}

bool jn__store_recover_del(struct jn_store *st, uint64_t seq)
{
	if (!live_ent(st, seq))
		return false;
	idx_forget(st, seq);
	return true;
}

void jn__store_recover_floor(struct jn_store *st, uint64_t seq)
{
	idx_forget_below(st, seq);
	if (seq > 0 && seq - 1 > st->last_seq)
		raise_last(st, seq - 1, st->last_ts);   /* msgs == 0 here: no alloc */
	fix_first(st);
}

void jn__store_recover_last(struct jn_store *st, uint64_t last_seq, int64_t last_ts)
{
	if (last_seq > st->last_seq) {
		if (raise_last(st, last_seq, last_ts) != 0)
			return;
	}
	if (last_ts)
		st->last_ts = last_ts;
}

/* ---- public API ---- */

enum jn_store_type jn_store_type(const struct jn_store *st)
{
	return st->type;
}

static void lock(struct jn_store *st) { pthread_mutex_lock(&st->mu); }
static void unlock(struct jn_store *st) { pthread_mutex_unlock(&st->mu); }

static void end_op(struct jn_store *st)
{
	if (st->ops->end_op)
		st->ops->end_op(st);
}

int jn_store_append(struct jn_store *st, const char *subject, size_t slen,
                    const uint8_t *hdr, size_t hlen, const uint8_t *data, size_t dlen,
                    int64_t ts, uint64_t *seq_out)
{
	if (!subject || slen == 0 || slen > UINT16_MAX || hlen > UINT32_MAX / 4 ||
	    dlen > UINT32_MAX / 4 || (hlen && !hdr) || (dlen && !data))
		return -JN_EINVAL;
	uint64_t size = jn_store_msg_size(st->type, (uint32_t)slen, (uint32_t)hlen,
	                                  (uint32_t)dlen);
	if (size > UINT32_MAX)
		return -JN_EINVAL;
	lock(st);
	uint32_t id;
	int rc = ents_reserve(st, 1);
	if (!rc)
		rc = subj_get(st, subject, slen, &id);
	if (rc) {
		unlock(st);
		return rc;
	}
	uint64_t seq = st->last_seq + 1, loc = 0;
	rc = st->ops->put(st, seq, ts, subject, (uint32_t)slen, hdr, (uint32_t)hlen,
	                  data, (uint32_t)dlen, &loc);
	if (rc) {
		if (st->subs[id].msgs == 0)
			subj_release(st, id);
	} else {
		idx_append(st, seq, ts, id, (uint32_t)size, loc);
		if (seq_out)
			*seq_out = seq;
	}
	end_op(st);
	unlock(st);
	return rc;
}

int jn_store_skip(struct jn_store *st, int64_t ts, uint64_t *seq_out)
{
	lock(st);
	uint64_t seq = st->last_seq + 1;
	int rc = st->msgs ? ents_reserve(st, 1) : 0;
	if (!rc)
		rc = st->ops->skip(st, seq, ts);
	if (!rc) {
		raise_last(st, seq, ts);   /* reserved: cannot fail */
		st->last_ts = ts;
		if (seq_out)
			*seq_out = seq;
	}
	end_op(st);
	unlock(st);
	return rc;
}

static int load_locked(struct jn_store *st, uint64_t seq, struct jn_store_msg *m)
{
	struct jn__sent *e = live_ent(st, seq);
	if (!e)
		return -JN_ENOTFOUND;
	return st->ops->get(st, seq, e, m);
}

int jn_store_load(struct jn_store *st, uint64_t seq, struct jn_store_msg *m)
{
	lock(st);
	int rc = load_locked(st, seq, m);
	unlock(st);
	return rc;
}

/* First live seq >= start with subject id (literal); 0 if none. */
static uint64_t next_of_subject(struct jn_store *st, uint32_t id, uint64_t start)
{
	struct jn__subj *sj = &st->subs[id];
	if (sj->last < start)
		return 0;
	if (sj->first >= start)
		return sj->first;
	/* Walk the subject's chain back from its last message, or scan the
	 * array forward from start, whichever is bounded by less work. */
	if (sj->msgs < sj->last - start) {
		uint64_t s = sj->last;
		for (;;) {
			uint64_t p = ent(st, s)->prev;
			if (p < start)
				return s;
			s = p;
		}
	}
	for (uint64_t s = start; s <= sj->last; s++) {
		struct jn__sent *e = ent(st, s);
		if (e->subj == id)
			return s;
	}
	return 0;
}

static uint64_t next_seq(struct jn_store *st, uint64_t start, const struct filt *fl)
{
	if (st->msgs == 0)
		return 0;
	if (start < st->base)
		start = st->base;
	if (start > st->last_seq)
		return 0;
	switch (fl->kind) {
	case F_NONE:
		return 0;
	case F_LIT:
		return next_of_subject(st, fl->id, start);
	case F_ALL:
		for (uint64_t s = start; s <= st->last_seq; s++)
			if (ent(st, s)->subj != JN__NOSUBJ)
				return s;
		return 0;
	}
	/* Wildcard: one pass over the subjects bounds the scan. A matching
	 * subject starting at or after `start` gives a candidate; only subjects
	 * that straddle `start` need the message scan, up to that candidate. */
	uint64_t cand = 0;
	bool straddle = false;
	if (st->last_seq - start > st->subs_hi) {
		for (uint32_t i = 0; i < st->subs_hi; i++) {
			struct jn__subj *sj = &st->subs[i];
			if (!sj->name || sj->last < start || !filt_match(st, fl, i))
				continue;
			if (sj->first >= start) {
				if (!cand || sj->first < cand)
					cand = sj->first;
			} else {
				straddle = true;
			}
		}
		if (!straddle)
			return cand;
	}
	uint64_t end = cand ? cand : st->last_seq;
	for (uint64_t s = start; s <= end; s++) {
		struct jn__sent *e = ent(st, s);
		if (e->subj != JN__NOSUBJ && filt_match(st, fl, e->subj))
			return s;
	}
	return 0;
}

int jn_store_load_next(struct jn_store *st, uint64_t start, const char *filter,
                       size_t flen, struct jn_store_msg *m)
{
	lock(st);
	struct filt fl;
	filt_prep(st, &fl, filter, flen);
	uint64_t s = next_seq(st, start, &fl);
	int rc = s ? load_locked(st, s, m) : -JN_ENOTFOUND;
	unlock(st);
	return rc;
}

static uint64_t last_seq_matching(struct jn_store *st, const struct filt *fl)
{
	if (st->msgs == 0)
		return 0;
	switch (fl->kind) {
	case F_NONE:
		return 0;
	case F_LIT:
		return st->subs[fl->id].last;
	case F_ALL:
		for (uint64_t s = st->last_seq; s >= st->base; s--)
			if (ent(st, s)->subj != JN__NOSUBJ)
				return s;
		return 0;
	}
	uint64_t best = 0;
	for (uint32_t i = 0; i < st->subs_hi; i++) {
		struct jn__subj *sj = &st->subs[i];
		if (sj->name && sj->last > best && filt_match(st, fl, i))
			best = sj->last;
	}
	return best;
}

int jn_store_load_last(struct jn_store *st, const char *filter, size_t flen,
                       struct jn_store_msg *m)
{
	lock(st);
	struct filt fl;
	filt_prep(st, &fl, filter, flen);
	uint64_t s = last_seq_matching(st, &fl);
	int rc = s ? load_locked(st, s, m) : -JN_ENOTFOUND;
	unlock(st);
	return rc;
}

static int remove_locked(struct jn_store *st, uint64_t seq)
{
	struct jn__sent *e = live_ent(st, seq);
	if (!e)
		return -JN_ENOTFOUND;
	int rc = st->ops->tomb(st, seq, e);
	if (rc)
		return rc;
	idx_forget(st, seq);
	return 0;
}

int jn_store_remove(struct jn_store *st, uint64_t seq)
{
	lock(st);
	int rc = remove_locked(st, seq);
	end_op(st);
	unlock(st);
	return rc;
}

/* Everything < seq goes (see jn_store_compact). */
static int64_t compact_locked(struct jn_store *st, uint64_t seq)
{
	if (seq == 0)
		seq = st->last_seq + 1;
	if (st->msgs && seq <= st->base)
		return 0;   /* nothing below seq */
	if (!st->msgs && seq <= st->last_seq + 1) {
		fix_first(st);   /* a purge of an empty store: first = last + 1 */
		return 0;
	}
	int rc = st->ops->floor(st, seq, st->last_ts);
	if (rc)
		return rc;
	uint64_t n = idx_forget_below(st, seq);
	if (seq - 1 > st->last_seq)
		raise_last(st, seq - 1, st->last_ts);   /* empty now: no alloc */
	fix_first(st);
	return (int64_t)n;
}

int64_t jn_store_compact(struct jn_store *st, uint64_t seq)
{
	lock(st);
	int64_t n = compact_locked(st, seq);
	end_op(st);
	unlock(st);
	return n;
}

/* The number of live messages in [lo, hi], scanning. */
static uint64_t count_live(struct jn_store *st, uint64_t lo, uint64_t hi)
{
	uint64_t n = 0;
	for (uint64_t s = lo; s <= hi; s++)
		n += ent(st, s)->subj != JN__NOSUBJ;
	return n;
}

/* Messages of one subject with seq >= start: walk its chain from both ends
 * at once and stop at whichever side crosses `start` first, so the cost is
 * twice the smaller of the two parts. */
static uint64_t subject_pending(struct jn_store *st, uint32_t id, uint64_t start)
{
	struct jn__subj *sj = &st->subs[id];
	if (sj->last < start)
		return 0;
	if (sj->first >= start)
		return sj->msgs;
	uint64_t fwd = sj->first, back = sj->last, below = 0, above = 0;
	for (;;) {
		/* fwd < start: count it below and step on */
		below++;
		fwd = ent(st, fwd)->next;
		if (fwd >= start)
			return sj->msgs - below;
		/* back >= start: count it above and step back */
		above++;
		back = ent(st, back)->prev;
		if (back < start)
			return above;
	}
}

static uint64_t matching_total(struct jn_store *st, const struct filt *fl)
{
	switch (fl->kind) {
	case F_ALL:
		return st->msgs;
	case F_NONE:
		return 0;
	case F_LIT:
		return st->subs[fl->id].msgs;
	}
	uint64_t n = 0;
	for (uint32_t i = 0; i < st->subs_hi; i++)
		if (st->subs[i].name && filt_match(st, fl, i))
			n += st->subs[i].msgs;
	return n;
}

int64_t jn_store_purge(struct jn_store *st, const char *filter, size_t flen,
                       uint64_t up_to, uint64_t keep)
{
	if (up_to == 1)
		return 0;
	lock(st);
	struct filt fl;
	filt_prep(st, &fl, filter, flen);
	int64_t ret;
	if (fl.kind == F_ALL && keep == 0) {
		ret = compact_locked(st, up_to ? up_to : st->last_seq + 1);
		goto out;
	}
	if (fl.kind == F_ALL && up_to > 1) {
		ret = compact_locked(st, up_to);
		goto out;
	}
	uint64_t total = matching_total(st, &fl);
	if (total == 0 || (keep && keep >= total)) {
		ret = 0;
		goto out;
	}
	uint64_t maxp = keep ? total - keep : UINT64_MAX;
	if (fl.kind == F_ALL) {
		/* keep the newest `keep` of everything: a floor, no tombstones */
		uint64_t s = st->base, skipped = 0;
		for (; s <= st->last_seq; s++)
			if (ent(st, s)->subj != JN__NOSUBJ && ++skipped > maxp)
				break;
		ret = compact_locked(st, s);
		goto out;
	}
	uint64_t hi = up_to ? up_to - 1 : st->last_seq, purged = 0;
	int rc = 0;
	if (fl.kind == F_LIT) {
		uint64_t s = st->subs[fl.id].first;
		while (s && s <= hi && purged < maxp) {
			uint64_t nx = ent(st, s)->next;
			bool last = st->subs[fl.id].msgs == 1;
			if ((rc = remove_locked(st, s)) != 0)
				break;
			purged++;
			if (last)
				break;   /* the subject slot is gone */
			s = nx;
		}
	} else {
		for (uint64_t s = st->base; st->msgs && s <= hi && purged < maxp; s++) {
			struct jn__sent *e = ent(st, s);
			if (!e || e->subj == JN__NOSUBJ || !filt_match(st, &fl, e->subj))
				continue;
			if ((rc = remove_locked(st, s)) != 0)
				break;
			purged++;
		}
	}
	ret = rc ? rc : (int64_t)purged;
out:
	end_op(st);
	unlock(st);
	return ret;
}

int64_t jn_store_expire(struct jn_store *st, int64_t older_than)
{
	lock(st);
	int64_t ret = 0;
	if (st->msgs) {
		uint64_t s = st->base;
		for (; s <= st->last_seq; s++) {
			struct jn__sent *e = ent(st, s);
			if (e->subj != JN__NOSUBJ && e->ts >= older_than)
				break;
		}
		if (s > st->base)
			ret = compact_locked(st, s);
	}
	end_op(st);
	unlock(st);
	return ret;
}

int64_t jn_store_next_expiry(struct jn_store *st)
{
	lock(st);
	int64_t ts = st->msgs ? st->ents[st->head].ts : 0;
	unlock(st);
	return ts;
}

uint64_t jn_store_seq_for_time(struct jn_store *st, int64_t ts)
{
	lock(st);
	uint64_t res = st->last_seq + 1;
	if (st->msgs) {
		size_t lo = 0, hi = st->n;   /* first index with ts >= target */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (st->ents[st->head + mid].ts < ts)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < st->n; lo++)
			if (st->ents[st->head + lo].subj != JN__NOSUBJ) {
				res = st->base + lo;
				break;
			}
	}
	unlock(st);
	return res;
}

void jn_store_state(struct jn_store *st, struct jn_store_state *out)
{
	lock(st);
	out->msgs = st->msgs;
	out->bytes = st->bytes;
	out->first_seq = st->first_seq;
	out->last_seq = st->last_seq;
	out->first_ts = st->msgs ? st->ents[st->head].ts : 0;
	out->last_ts = st->last_ts;
	out->num_deleted = st->msgs ? st->last_seq - st->first_seq + 1 - st->msgs : 0;
	out->num_subjects = st->nsubs_used;
	unlock(st);
}

int jn_store_subject_info(struct jn_store *st, const char *subject, size_t len,
                          struct jn_subject_state *out)
{
	lock(st);
	uint32_t id = subj_find(st, subject, len, subj_hash(subject, len));
	int rc = -JN_ENOTFOUND;
	if (id != JN__NOSUBJ) {
		struct jn__subj *sj = &st->subs[id];
		out->subject = NULL;
		out->subject_len = sj->len;
		out->msgs = sj->msgs;
		out->first_seq = sj->first;
		out->last_seq = sj->last;
		rc = 0;
	}
	unlock(st);
	return rc;
}

int64_t jn_store_subjects(struct jn_store *st, const char *filter, size_t flen,
                          int (*cb)(void *arg, const struct jn_subject_state *ss),
                          void *arg)
{
	lock(st);
	struct filt fl;
	filt_prep(st, &fl, filter, flen);
	int64_t calls = 0;
	for (uint32_t i = 0; i < st->subs_hi; i++) {
		struct jn__subj *sj = &st->subs[i];
		if (!sj->name || !filt_match(st, &fl, i))
			continue;
		struct jn_subject_state ss = {
			.subject = sj->name, .subject_len = sj->len, .msgs = sj->msgs,
			.first_seq = sj->first, .last_seq = sj->last,
		};
		calls++;
		if (cb(arg, &ss))
			break;
	}
	unlock(st);
	return calls;
}

int64_t jn_store_deleted(struct jn_store *st, int (*cb)(void *arg, uint64_t seq), void *arg)
{
	lock(st);
	int64_t calls = 0;
	for (uint64_t s = st->base; st->msgs && s <= st->last_seq; s++) {
		if (ent(st, s)->subj != JN__NOSUBJ)
			continue;
		calls++;
		if (cb(arg, s))
			break;
	}
	unlock(st);
	return calls;
}

uint64_t jn_store_num_pending(struct jn_store *st, uint64_t start, const char *filter,
                              size_t flen, bool last_per_subject)
{
	lock(st);
	struct filt fl;
	filt_prep(st, &fl, filter, flen);
	uint64_t n = 0;
	if (st->msgs == 0 || start > st->last_seq || fl.kind == F_NONE)
		goto out;
	if (start < st->base)
		start = st->base;
	if (last_per_subject) {
		if (fl.kind == F_LIT) {
			n = st->subs[fl.id].last >= start;
			goto out;
		}
		for (uint32_t i = 0; i < st->subs_hi; i++) {
			struct jn__subj *sj = &st->subs[i];
			if (sj->name && sj->last >= start && filt_match(st, &fl, i))
				n++;
		}
		goto out;
	}
	switch (fl.kind) {
	case F_ALL:
		if (start - st->base < st->last_seq - start)
			n = start == st->base ? st->msgs : st->msgs - count_live(st, st->base, start - 1);
		else
			n = count_live(st, start, st->last_seq);
		goto out;
	case F_LIT:
		n = subject_pending(st, fl.id, start);
		goto out;
	}
	if (st->last_seq - start + 1 <= st->subs_hi) {
		for (uint64_t s = start; s <= st->last_seq; s++) {
			struct jn__sent *e = ent(st, s);
			if (e->subj != JN__NOSUBJ && filt_match(st, &fl, e->subj))
				n++;
		}
	} else {
		for (uint32_t i = 0; i < st->subs_hi; i++)
			if (st->subs[i].name && filt_match(st, &fl, i))
				n += subject_pending(st, i, start);
	}
out:
	unlock(st);
	return n;
}

int jn_store_when_durable(struct jn_store *st, uint64_t seq,
                          void (*cb)(void *arg, int err), void *arg)
{
	if (!cb)
		return -JN_EINVAL;
	lock(st);
	int rc = seq == 0 || seq > st->last_seq ? -JN_EINVAL
	                                         : st->ops->when_durable(st, seq, cb, arg);
	unlock(st);
	if (rc == 1) {
		cb(arg, 0);
		rc = 0;
	}
	return rc;
}

int jn_store_sync(struct jn_store *st)
{
	return st->ops->sync(st);
}

void jn_store_stats(struct jn_store *st, struct jn_store_stats *out)
{
	memset(out, 0, sizeof *out);
	lock(st);
	st->ops->stats(st, out);
	unlock(st);
}

void jn_store_free(struct jn_store *st)
{
	if (!st)
		return;
	st->ops->free(st, false);
	jn__store_fini(st);
	jn_free(st);
}

int jn_store_delete(struct jn_store *st)
{
	int rc = st->ops->free(st, true);
	jn__store_fini(st);
	jn_free(st);
	return rc;
}
