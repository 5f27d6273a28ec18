/*
 * sublist.c - the subscription trie and the per-thread match cache.
 *
 * Trie. One level per subject token. A level holds a hash table from
 * literal token to node, plus at most one '*' node and one '>' node, so
 * matching a subject looks up one literal per token (and follows the
 * wildcard branches that exist); subscriptions on other literals are never
 * touched. A node holds its plain subscriptions in an array and its queue
 * subscriptions in one array per queue name. sub->jn__node / jn__slot say
 * where a subscription sits, so removal is O(tokens) and swap-removes; a
 * node left without subscriptions or children is pruned, up to the root.
 *
 * Concurrency. Insert and remove hold the write lock and bump `gen`;
 * a trie walk holds the read lock. Nodes and levels are only reached under
 * the lock, so they are freed at once. Subscriptions are reached without
 * the lock through match results, so the caller retires them by epoch.
 *
 * Match results (struct jn_match) are one allocation each: a private
 * header (generation, subject hash, subject copy) around the public struct,
 * the plain array, the queue groups and their member arrays, and the
 * subject bytes. Queue group names point at members[0]->queue, which lives
 * as long as the member does (epoch), never into the trie.
 *
 * Cache. Direct-mapped, CACHE_SLOTS entries per thread, keyed by a 64-bit
 * hash of the subject; a colliding subject evicts the entry. An entry is
 * valid while its generation equals the sublist's, so a hit is one hash,
 * one atomic load, one memcmp and a reference increment: no lock, no
 * allocation. References are plain integers: a cache and its results
 * belong to one thread. A delivery callback may publish again and evict
 * the entry its caller is iterating; the caller's reference keeps it alive.
 */
#include "core/sublist.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/subject.h"

#define CACHE_SLOTS 4096u   /* power of two */
#define LEVEL_MIN_BUCKETS 4u

struct level;

/* The queue subscriptions of one node that share a queue name. The name is
 * members[0]->queue: a group is deleted when it empties, so it always has one. */
struct qset {
	struct jn_sub **subs;
	uint32_t n, cap;
};

struct node {
	struct node *hnext;        /* chain in up's literal table */
	struct level *up;          /* level that holds this node */
	struct level *next;        /* child level or NULL */
	uint64_t hash;             /* of tok, literal nodes only */
	struct jn_sub **psubs;
	uint32_t np, pcap;
	struct qset *qs;
	uint32_t nq, qcap;
	uint32_t toklen;
	char tok[];                /* token bytes (not NUL-terminated) */
};

struct level {
	struct node *owner;        /* node whose child this is; NULL for root */
	struct node *pwc, *fwc;
	struct node **tab;         /* literal table, NULL while empty */
	uint32_t mask;             /* buckets - 1 */
	uint32_t nlit;
};

struct jn_sublist {
	pthread_rwlock_t lock;
	struct level root;
	size_t nodes;                  /* under the lock; for tests */
	_Atomic uint32_t count;
	/* Read on every cache hit by every thread: keep it off the lock's line. */
	char pad[64];
	_Atomic uint64_t gen;
	char pad2[56];
};

/* Public struct first, so a struct jn_match * is a struct xmatch *. */
struct xmatch {
	struct jn_match m;
	uint64_t gen;
	uint64_t hash;
	const char *subj;
	uint32_t subj_len;
};

struct cslot {
	uint64_t hash;
	struct xmatch *x;
};

struct jn_sublist_cache {
	struct jn_sublist *sl;
	struct cslot slots[CACHE_SLOTS];
};

static _Thread_local uint64_t tl_visits;

/* ---- hashing ---------------------------------------------------------- */

static inline uint64_t rd64(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t rd32(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 29);
}

/* Word at a time; the tail is one overlapping read (the length is mixed in
 * first, so overlap cannot make two strings of one length collide more).
 * Ends with a full avalanche: the low bits pick cache slots and buckets. */
static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
	if (n >= 8) {
		const char *last = p + n - 8;
		for (; p < last; p += 8)
			h = mix(h, rd64(p));
		h = mix(h, rd64(last));
	} else if (n >= 4) {
		h = mix(h, rd32(p) | (uint64_t)rd32(p + n - 4) << 32);
	} else if (n > 0) {
		h = mix(h, (uint64_t)(unsigned char)p[0] | (uint64_t)(unsigned char)p[n / 2] << 8 |
		           (uint64_t)(unsigned char)p[n - 1] << 16);
	}
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	return h;
}

/* Equality of two byte strings of length n, inline: subjects are short and
 * a libc call costs more than the compare. */
static inline bool bytes_eq(const char *a, const char *b, size_t n)
{
	if (n >= 8) {
		size_t off = 0;
		for (; off + 8 < n; off += 8)
			if (rd64(a + off) != rd64(b + off))
				return false;
		return rd64(a + n - 8) == rd64(b + n - 8);
	}
	if (n >= 4)
		return rd32(a) == rd32(b) && rd32(a + n - 4) == rd32(b + n - 4);
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* ---- levels and nodes (caller holds the write lock) --------------------- */

static bool is_queue(const struct jn_sub *s)
{
	return s->queue && s->queue_len > 0;
}

static bool level_empty(const struct level *l)
{
	return !l->pwc && !l->fwc && l->nlit == 0;
}

static struct node *level_find(const struct level *l, const char *t, size_t tl, uint64_t h)
{
	if (l->nlit == 0)
		return NULL;
	for (struct node *n = l->tab[h & l->mask]; n; n = n->hnext) {
		tl_visits++;
		if (n->hash == h && n->toklen == tl && bytes_eq(n->tok, t, tl))
			return n;
	}
	return NULL;
}

static int level_rehash(struct level *l, uint32_t nb)
{
	struct node **tab = jn_calloc(nb, sizeof *tab);
	if (!tab)
		return -JN_ENOMEM;
	if (l->tab) {
		for (uint32_t i = 0; i <= l->mask; i++) {
			struct node *n = l->tab[i];
			while (n) {
				struct node *nx = n->hnext;
				n->hnext = tab[n->hash & (nb - 1)];
				tab[n->hash & (nb - 1)] = n;
				n = nx;
			}
		}
		jn_free(l->tab);
	}
	l->tab = tab;
	l->mask = nb - 1;
	return 0;
}

static struct node *node_new(struct jn_sublist *sl, struct level *up, const char *t, size_t tl)
{
	struct node *n = jn_calloc(1, sizeof *n + tl);
	if (!n)
		return NULL;
	n->up = up;
	n->toklen = (uint32_t)tl;
	memcpy(n->tok, t, tl);
	sl->nodes++;
	return n;
}

/* Find or create the child of l for token t. NULL on OOM. */
static struct node *level_get(struct jn_sublist *sl, struct level *l, const char *t, size_t tl)
{
	if (tl == 1 && (t[0] == '*' || t[0] == '>')) {
		struct node **slot = t[0] == '*' ? &l->pwc : &l->fwc;
		if (!*slot)
			*slot = node_new(sl, l, t, tl);
		return *slot;
	}
	uint64_t h = hash_bytes(t, tl);
	struct node *n = level_find(l, t, tl, h);
	if (n)
		return n;
	if (!l->tab || l->nlit + 1 > l->mask + 1) {
		uint32_t nb = l->tab ? (l->mask + 1) * 2 : LEVEL_MIN_BUCKETS;
		if (level_rehash(l, nb) < 0)
			return NULL;
	}
	n = node_new(sl, l, t, tl);
	if (!n)
		return NULL;
	n->hash = h;
	n->hnext = l->tab[h & l->mask];
	l->tab[h & l->mask] = n;
	l->nlit++;
	return n;
}

static void level_unlink(struct level *l, struct node *n)
{
	if (l->pwc == n) {
		l->pwc = NULL;
		return;
	}
	if (l->fwc == n) {
		l->fwc = NULL;
		return;
	}
	struct node **pp = &l->tab[n->hash & l->mask];
	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	l->nlit--;
	if (l->nlit == 0) {
		jn_free(l->tab);
		l->tab = NULL;
		l->mask = 0;
	} else if (l->mask + 1 > 4 * LEVEL_MIN_BUCKETS && l->nlit * 8 < l->mask + 1) {
		(void)level_rehash(l, (l->mask + 1) / 2);   /* on OOM keep the big table */
	}
}

/* Free empty nodes and levels from n upwards; the root level stays. */
static void prune(struct jn_sublist *sl, struct node *n)
{
	while (n) {
		if (n->next && level_empty(n->next)) {
			jn_free(n->next);
			n->next = NULL;
		}
		if (n->np || n->nq || n->next)
			return;
		struct level *l = n->up;
		level_unlink(l, n);
		jn_free(n->psubs);
		jn_free(n->qs);
		jn_free(n);
		sl->nodes--;
		if (!level_empty(l))
			return;
		n = l->owner;   /* NULL at the root */
	}
}

/* Find the node a filter lives at, without creating anything. */
static struct node *find_node(struct jn_sublist *sl, const char *s, size_t len)
{
	struct level *l = &sl->root;
	struct node *n = NULL;
	const char *end = s + len;
	for (;;) {
		const char *dot = memchr(s, '.', (size_t)(end - s));
		size_t tl = (size_t)((dot ? dot : end) - s);
		if (tl == 1 && s[0] == '*')
			n = l->pwc;
		else if (tl == 1 && s[0] == '>')
			n = l->fwc;
		else
			n = level_find(l, s, tl, hash_bytes(s, tl));
		if (!n || !dot)
			return n;
		if (!(l = n->next))
			return NULL;
		s = dot + 1;
	}
}

static struct qset *node_qset(struct node *n, const struct jn_sub *sub)
{
	for (uint32_t i = 0; i < n->nq; i++) {
		const struct jn_sub *m = n->qs[i].subs[0];
		if (m->queue_len == sub->queue_len && memcmp(m->queue, sub->queue, sub->queue_len) == 0)
			return &n->qs[i];
	}
	return NULL;
}

/* Append to a pointer array, growing it. */
static int ptrs_push(struct jn_sub ***arr, uint32_t *n, uint32_t *cap, struct jn_sub *s)
{
	if (*n == *cap) {
		uint32_t nc = *cap ? *cap * 2 : 2;
		struct jn_sub **na = jn_realloc(*arr, nc * sizeof *na);
		if (!na)
			return -JN_ENOMEM;
		*arr = na;
		*cap = nc;
	}
	(*arr)[*n] = s;
	s->jn__slot = (*n)++;
	return 0;
}

/* Swap-remove index i; the moved subscription learns its new slot. */
static void ptrs_del(struct jn_sub ***arr, uint32_t *n, uint32_t *cap, uint32_t i)
{
	struct jn_sub *last = (*arr)[--*n];
	(*arr)[i] = last;
	last->jn__slot = i;
	if (*n == 0) {
		jn_free(*arr);
		*arr = NULL;
		*cap = 0;
	} else if (*cap >= 16 && *n * 4 < *cap) {
		struct jn_sub **na = jn_realloc(*arr, (*cap / 2) * sizeof *na);
		if (na) {
			*arr = na;
			*cap /= 2;
		}
	}
}

/* Is sub at the slot it claims in n? Reads only n's arrays, so a sub that
 * was never inserted (garbage jn__ fields) is safe to ask about. For a
 * queue sub, *qsp is set to n's set for its queue name (or NULL). */
static bool sub_at(struct node *n, struct jn_sub *sub, struct qset **qsp)
{
	if (!is_queue(sub))
		return sub->jn__node == n && sub->jn__slot < n->np && n->psubs[sub->jn__slot] == sub;
	/* Always report the set for sub's queue name: insert appends to it. */
	struct qset *q = node_qset(n, sub);
	*qsp = q;
	return q && sub->jn__node == n && sub->jn__slot < q->n && q->subs[sub->jn__slot] == sub;
}

/* ---- public: lifecycle, insert, remove ---------------------------------- */

struct jn_sublist *jn_sublist_new(void)
{
	struct jn_sublist *sl = jn_calloc(1, sizeof *sl);
	if (!sl)
		return NULL;
	/* glibc's default rwlock lets a steady stream of readers (cache misses
	 * under publish load) starve SUB/UNSUB. Prefer writers; safe because no
	 * thread ever takes the read lock twice. */
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
#ifdef PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	int rc = pthread_rwlock_init(&sl->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc != 0) {
		jn_free(sl);
		return NULL;
	}
	atomic_init(&sl->count, 0);
	atomic_init(&sl->gen, 1);
	return sl;
}

static void level_free_all(struct level *l);

static void node_free_all(struct node *n)
{
	if (n->next) {
		level_free_all(n->next);
		jn_free(n->next);
	}
	jn_free(n->psubs);
	for (uint32_t q = 0; q < n->nq; q++)
		jn_free(n->qs[q].subs);
	jn_free(n->qs);
	jn_free(n);
}

/* Frees everything below l (not l itself). Subscriptions are not touched. */
static void level_free_all(struct level *l)
{
	if (l->pwc)
		node_free_all(l->pwc);
	if (l->fwc)
		node_free_all(l->fwc);
	if (l->tab) {
		for (uint32_t b = 0; b <= l->mask; b++) {
			struct node *n = l->tab[b];
			while (n) {
				struct node *nx = n->hnext;
				node_free_all(n);
				n = nx;
			}
		}
		jn_free(l->tab);
	}
}

void jn_sublist_free(struct jn_sublist *sl)
{
	if (!sl)
		return;
	level_free_all(&sl->root);
	pthread_rwlock_destroy(&sl->lock);
	jn_free(sl);
}

int jn_sublist_insert(struct jn_sublist *sl, struct jn_sub *sub)
{
	if (!sub || !jn_subject_valid_filter(sub->subject, sub->subject_len))
		return -JN_EBADSUBJECT;
	int rc = -JN_ENOMEM;
	pthread_rwlock_wrlock(&sl->lock);
	struct level *l = &sl->root;
	struct node *n = NULL;
	const char *s = sub->subject, *end = s + sub->subject_len;
	for (;;) {
		const char *dot = memchr(s, '.', (size_t)(end - s));
		size_t tl = (size_t)((dot ? dot : end) - s);
		n = level_get(sl, l, s, tl);
		if (!n) {
			prune(sl, l->owner);
			goto out;
		}
		if (!dot)
			break;
		if (!n->next) {
			n->next = jn_calloc(1, sizeof *n->next);
			if (!n->next) {
				prune(sl, n);
				goto out;
			}
			n->next->owner = n;
		}
		l = n->next;
		s = dot + 1;
	}
	struct qset *q = NULL;
	if (sub_at(n, sub, &q)) {
		rc = -JN_EEXIST;
		goto out;
	}
	if (!is_queue(sub)) {
		rc = ptrs_push(&n->psubs, &n->np, &n->pcap, sub);
	} else {
		if (!q) {
			if (n->nq == n->qcap) {
				uint32_t nc = n->qcap ? n->qcap * 2 : 1;
				struct qset *nqs = jn_realloc(n->qs, nc * sizeof *nqs);
				if (!nqs) {
					prune(sl, n);
					goto out;
				}
				n->qs = nqs;
				n->qcap = nc;
			}
			q = &n->qs[n->nq];
			memset(q, 0, sizeof *q);
			rc = ptrs_push(&q->subs, &q->n, &q->cap, sub);
			if (rc == 0)
				n->nq++;
		} else {
			rc = ptrs_push(&q->subs, &q->n, &q->cap, sub);
		}
	}
	if (rc < 0) {
		prune(sl, n);
		goto out;
	}
	sub->jn__node = n;
	atomic_fetch_add_explicit(&sl->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&sl->gen, 1, memory_order_seq_cst);
out:
	pthread_rwlock_unlock(&sl->lock);
	return rc;
}

int jn_sublist_remove(struct jn_sublist *sl, struct jn_sub *sub)
{
	if (!sub || !jn_subject_valid_filter(sub->subject, sub->subject_len))
		return -JN_ENOTFOUND;
	int rc = -JN_ENOTFOUND;
	pthread_rwlock_wrlock(&sl->lock);
	struct node *n = find_node(sl, sub->subject, sub->subject_len);
	struct qset *q = NULL;
	if (!n || !sub_at(n, sub, &q))
		goto out;
	if (!q) {
		ptrs_del(&n->psubs, &n->np, &n->pcap, sub->jn__slot);
	} else {
		ptrs_del(&q->subs, &q->n, &q->cap, sub->jn__slot);
		if (q->n == 0) {
			*q = n->qs[--n->nq];
			if (n->nq == 0) {
				jn_free(n->qs);
				n->qs = NULL;
				n->qcap = 0;
			}
		}
	}
	sub->jn__node = NULL;
	prune(sl, n);
	atomic_fetch_sub_explicit(&sl->count, 1, memory_order_relaxed);
	/* The bump is the unlink readers of cached results see; jn_epoch_retire
	 * of the sub must come after it (it does: the caller retires after we return). */
	atomic_fetch_add_explicit(&sl->gen, 1, memory_order_seq_cst);
	rc = 0;
out:
	pthread_rwlock_unlock(&sl->lock);
	return rc;
}

uint32_t jn_sublist_count(const struct jn_sublist *sl)
{
	return atomic_load_explicit(&sl->count, memory_order_relaxed);
}

uint64_t jn_sublist_generation(const struct jn_sublist *sl)
{
	return atomic_load_explicit(&sl->gen, memory_order_acquire);
}

size_t jn_sublist_debug_nodes(struct jn_sublist *sl)
{
	pthread_rwlock_rdlock(&sl->lock);
	size_t n = sl->nodes;
	pthread_rwlock_unlock(&sl->lock);
	return n;
}

uint64_t jn_sublist_debug_visits(void)
{
	return tl_visits;
}

/* ---- matching ----------------------------------------------------------- */

/* Nodes whose subscriptions match, in walk order. */
struct collect {
	struct node **v;
	uint32_t n, cap;
	bool oom;
	struct node *inl[32];
};

static void collect_add(struct collect *c, struct node *n)
{
	tl_visits++;
	if (n->np == 0 && n->nq == 0)
		return;
	if (c->n == c->cap) {
		uint32_t nc = c->cap * 2;
		struct node **nv;
		if (c->v == c->inl) {
			nv = jn_malloc(nc * sizeof *nv);
			if (nv)
				memcpy(nv, c->v, c->n * sizeof *nv);
		} else {
			nv = jn_realloc(c->v, nc * sizeof *nv);
		}
		if (!nv) {
			c->oom = true;
			return;
		}
		c->v = nv;
		c->cap = nc;
	}
	c->v[c->n++] = n;
}

/* Descend for the tokens in [s, end). At each level a '>' node matches the
 * rest (one or more tokens), a '*' node consumes one token and branches,
 * and the literal node for the token continues the walk. Recursion depth
 * is bounded by the number of '*' branches taken, i.e. by subject tokens. */
static void walk(const struct level *l, const char *s, const char *end, struct collect *c)
{
	for (;;) {
		const char *dot = memchr(s, '.', (size_t)(end - s));
		size_t tl = (size_t)((dot ? dot : end) - s);
		if (l->fwc)
			collect_add(c, l->fwc);
		if (l->pwc) {
			if (!dot)
				collect_add(c, l->pwc);
			else if (l->pwc->next)
				walk(l->pwc->next, dot + 1, end, c);
		}
		struct node *n = level_find(l, s, tl, l->nlit ? hash_bytes(s, tl) : 0);
		if (!n)
			return;
		if (!dot) {
			collect_add(c, n);
			return;
		}
		if (!(l = n->next))
			return;
		tl_visits++;
		s = dot + 1;
	}
}

struct tgroup {
	const char *name;
	uint32_t len;
	uint32_t n;
};

static int64_t tg_find(const struct tgroup *tg, uint32_t ng, const struct jn_sub *s)
{
	for (uint32_t i = 0; i < ng; i++)
		if (tg[i].len == s->queue_len && memcmp(tg[i].name, s->queue, s->queue_len) == 0)
			return i;
	return -1;
}

/* Turn the collected nodes into one allocation (see the top comment).
 * Queue sets from different nodes with the same name become one group. */
static struct xmatch *build(const struct collect *c, const char *subj, size_t len)
{
	struct tgroup tinl[16], *tg = tinl;
	uint32_t ng = 0, tcap = 16;
	size_t nplain = 0, nmem = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct node *n = c->v[i];
		nplain += n->np;
		for (uint32_t q = 0; q < n->nq; q++) {
			const struct jn_sub *first = n->qs[q].subs[0];
			int64_t k = tg_find(tg, ng, first);
			if (k < 0) {
				if (ng == tcap) {
					struct tgroup *nt = jn_malloc(2 * tcap * sizeof *nt);
					if (!nt)
						goto oom;
					memcpy(nt, tg, ng * sizeof *nt);
					if (tg != tinl)
						jn_free(tg);
					tg = nt;
					tcap *= 2;
				}
				k = ng++;
				tg[k].name = first->queue;
				tg[k].len = first->queue_len;
				tg[k].n = 0;
			}
			tg[k].n += n->qs[q].n;
			nmem += n->qs[q].n;
		}
	}
	size_t size = sizeof(struct xmatch) + nplain * sizeof(struct jn_sub *) +
	              ng * sizeof(struct jn_qgroup) + nmem * sizeof(struct jn_sub *) + len;
	struct xmatch *x = jn_malloc(size);
	if (!x)
		goto oom;
	char *p = (char *)(x + 1);
	x->m.refs = 1;
	x->m.nplain = (uint32_t)nplain;
	x->m.plain = (struct jn_sub **)p;
	p += nplain * sizeof(struct jn_sub *);
	x->m.nqueues = ng;
	x->m.queues = ng ? (struct jn_qgroup *)p : NULL;
	p += ng * sizeof(struct jn_qgroup);
	struct jn_sub **mem = (struct jn_sub **)p;
	p += nmem * sizeof(struct jn_sub *);
	for (uint32_t k = 0; k < ng; k++) {
		x->m.queues[k].name = tg[k].name;
		x->m.queues[k].name_len = tg[k].len;
		x->m.queues[k].n = 0;          /* counts up while filling */
		x->m.queues[k].members = mem;
		mem += tg[k].n;
	}
	memcpy(p, subj, len);
	x->subj = p;
	x->subj_len = (uint32_t)len;

	struct jn_sub **pl = x->m.plain;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct node *n = c->v[i];
		if (n->np) {
			memcpy(pl, n->psubs, n->np * sizeof *pl);
			pl += n->np;
		}
		for (uint32_t q = 0; q < n->nq; q++) {
			const struct qset *qs = &n->qs[q];
			struct jn_qgroup *g = &x->m.queues[tg_find(tg, ng, qs->subs[0])];
			memcpy(g->members + g->n, qs->subs, qs->n * sizeof *qs->subs);
			g->n += qs->n;
		}
	}
	if (tg != tinl)
		jn_free(tg);
	return x;
oom:
	if (tg != tinl)
		jn_free(tg);
	return NULL;
}

/* Walk the trie under the read lock and build a result for subj. */
static struct xmatch *lookup(struct jn_sublist *sl, const char *subj, size_t len, uint64_t h)
{
	struct collect c = { .v = NULL, .n = 0, .cap = 32, .oom = false };
	c.v = c.inl;
	pthread_rwlock_rdlock(&sl->lock);
	/* Read under the lock: writers bump it under the write lock, so the
	 * generation names exactly the trie state walked below. */
	uint64_t gen = atomic_load_explicit(&sl->gen, memory_order_relaxed);
	if (len > 0)
		walk(&sl->root, subj, subj + len, &c);
	struct xmatch *x = c.oom ? NULL : build(&c, subj, len);
	pthread_rwlock_unlock(&sl->lock);
	if (c.v != c.inl)
		jn_free(c.v);
	if (x) {
		x->gen = gen;
		x->hash = h;
	}
	return x;
}

static void xmatch_unref(struct xmatch *x)
{
	if (--x->m.refs == 0)
		jn_free(x);
}

struct jn_match *jn_sublist_match(struct jn_sublist *sl, struct jn_sublist_cache *cache,
                                  const char *subj, size_t len)
{
	uint64_t h = hash_bytes(subj, len);
	struct cslot *cs = NULL;
	if (cache && cache->sl == sl) {
		cs = &cache->slots[h & (CACHE_SLOTS - 1)];
		struct xmatch *x = cs->x;
		if (x && cs->hash == h && x->subj_len == len &&
		    x->gen == atomic_load_explicit(&sl->gen, memory_order_acquire) &&
		    bytes_eq(x->subj, subj, len)) {
			x->m.refs++;
			return &x->m;
		}
	}
	struct xmatch *x = lookup(sl, subj, len, h);
	if (!x)
		return NULL;
	if (cs) {
		if (cs->x)
			xmatch_unref(cs->x);
		cs->hash = h;
		cs->x = x;
		x->m.refs++;   /* the cache's reference */
	}
	return &x->m;
}

void jn_match_release(struct jn_sublist_cache *cache, struct jn_match *m)
{
	(void)cache;
	if (m)
		xmatch_unref((struct xmatch *)m);
}

struct jn_sublist_cache *jn_sublist_cache_new(struct jn_sublist *sl)
{
	struct jn_sublist_cache *c = jn_calloc(1, sizeof *c);
	if (c)
		c->sl = sl;
	return c;
}

void jn_sublist_cache_free(struct jn_sublist_cache *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < CACHE_SLOTS; i++)
		if (c->slots[i].x)
			xmatch_unref(c->slots[i].x);
	jn_free(c);
}

bool jn_sublist_has_interest(struct jn_sublist *sl, struct jn_sublist_cache *cache,
                             const char *subj, size_t len)
{
	if (cache) {
		struct jn_match *m = jn_sublist_match(sl, cache, subj, len);
		if (m) {
			bool any = m->nplain || m->nqueues;
			jn_match_release(cache, m);
			return any;
		}
		/* OOM: answer from the trie directly */
	}
	struct collect c = { .v = NULL, .n = 0, .cap = 32, .oom = false };
	c.v = c.inl;
	pthread_rwlock_rdlock(&sl->lock);
	if (len > 0)
		walk(&sl->root, subj, subj + len, &c);
	pthread_rwlock_unlock(&sl->lock);
	bool any = c.n > 0;
	if (c.v != c.inl)
		jn_free(c.v);
	return any;
}
