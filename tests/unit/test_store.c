/*
 * test_store.c - the store contract (core/store.h), run twice: against the
 * memory store and against the file store (which is also closed and
 * reopened at interesting points, so everything checked here must survive a
 * restart too). File-store-only behaviour (format, recovery, group commit,
 * disk errors) is in test_filestore.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/store.h"
#include "core/store_io.h"
#include "core/subject.h"

struct fx {
	enum jn_store_type type;
	char dir[64];
	struct jn_store_cfg cfg;
	struct jn_store *st;
	struct jn_store_msg m;
};

static enum jn_store_type MEM = JN_STORE_MEMORY, FILE_ = JN_STORE_FILE;

static void open_store(struct fx *f)
{
	if (f->type == JN_STORE_MEMORY)
		assert_int_equal(jn_memstore_open(&f->cfg, &f->st), 0);
	else
		assert_int_equal(jn_filestore_open(f->dir, &f->cfg, &f->st), 0);
}

/* File store: close and recover. Memory store: nothing (keeps contents). */
static void reopen(struct fx *f)
{
	if (f->type != JN_STORE_FILE)
		return;
	jn_store_free(f->st);
	open_store(f);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->type = *(enum jn_store_type *)*state;
	if (f->type == JN_STORE_FILE) {
		strcpy(f->dir, "/tmp/jn_store_XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		f->cfg.segment_size = 4096;   /* many segments, exercise rollover */
	}
	open_store(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	jn_store_msg_fini(&f->m);
	jn_store_free(f->st);
	if (f->type == JN_STORE_FILE)
		assert_int_equal(jn_rmtree(f->dir), 0);
	free(f);
	return 0;
}

static uint64_t put(struct fx *f, const char *subj, const char *data, int64_t ts)
{
	uint64_t seq = 0;
	assert_int_equal(jn_store_append(f->st, subj, strlen(subj), NULL, 0,
	                                 (const uint8_t *)data, strlen(data), ts, &seq), 0);
	return seq;
}

static const char *F(const char *s) { return s; }
#define FL(s) F(s), ((s) ? strlen(s) : 0)

static struct jn_store_state state_of(struct fx *f)
{
	struct jn_store_state s;
	jn_store_state(f->st, &s);
	return s;
}

/* ---- basic append / load ---- */

static void test_append_load(void **state)
{
	struct fx *f = *state;
	struct jn_store_state s = state_of(f);
	assert_int_equal(s.msgs, 0);
	assert_int_equal(s.first_seq, 0);
	assert_int_equal(s.last_seq, 0);

	const char *hdr = "NATS/1.0\r\nA: b\r\n\r\n";
	uint64_t seq;
	assert_int_equal(put(f, "foo", "hello", 100), 1);
	assert_int_equal(jn_store_append(f->st, "bar.baz", 7, (const uint8_t *)hdr, strlen(hdr),
	                                 (const uint8_t *)"", 0, 200, &seq), 0);
	assert_int_equal(seq, 2);
	assert_int_equal(put(f, "foo", "again", 300), 3);

	for (int round = 0; round < 2; round++) {
		assert_int_equal(jn_store_load(f->st, 1, &f->m), 0);
		assert_int_equal(f->m.seq, 1);
		assert_int_equal(f->m.ts, 100);
		assert_memory_equal(f->m.subject, "foo", 3);
		assert_int_equal(f->m.subject_len, 3);
		assert_int_equal(f->m.hdr_len, 0);
		assert_null(f->m.hdr);
		assert_int_equal(f->m.data_len, 5);
		assert_memory_equal(f->m.data, "hello", 5);

		assert_int_equal(jn_store_load(f->st, 2, &f->m), 0);
		assert_int_equal(f->m.subject_len, 7);
		assert_memory_equal(f->m.subject, "bar.baz", 7);
		assert_int_equal(f->m.hdr_len, strlen(hdr));
		assert_memory_equal(f->m.hdr, hdr, strlen(hdr));
		assert_int_equal(f->m.data_len, 0);
		assert_int_equal(f->m.ts, 200);

		assert_int_equal(jn_store_load(f->st, 0, &f->m), -JN_ENOTFOUND);
		assert_int_equal(jn_store_load(f->st, 4, &f->m), -JN_ENOTFOUND);

		s = state_of(f);
		assert_int_equal(s.msgs, 3);
		assert_int_equal(s.first_seq, 1);
		assert_int_equal(s.last_seq, 3);
		assert_int_equal(s.first_ts, 100);
		assert_int_equal(s.last_ts, 300);
		assert_int_equal(s.num_deleted, 0);
		assert_int_equal(s.num_subjects, 2);
		uint64_t want = jn_store_msg_size(f->type, 3, 0, 5) * 2 +
		                jn_store_msg_size(f->type, 7, (uint32_t)strlen(hdr), 0);
		assert_int_equal(s.bytes, want);
		reopen(f);
	}
	/* bad arguments take no sequence */
	assert_int_equal(jn_store_append(f->st, "", 0, NULL, 0, NULL, 0, 1, &seq), -JN_EINVAL);
	assert_int_equal(put(f, "x", "y", 400), 4);
}

static void test_msg_size(void **state)
{
	(void)state;
	/* nats-server's formulas: file 22+slen+4+hlen+dlen+8 (hlen>0) or 22+slen+dlen+8 */
	assert_int_equal(jn_store_msg_size(JN_STORE_FILE, 3, 0, 5), 22 + 3 + 5 + 8);
	assert_int_equal(jn_store_msg_size(JN_STORE_FILE, 3, 10, 5), 22 + 3 + 4 + 10 + 5 + 8);
	assert_int_equal(jn_store_msg_size(JN_STORE_MEMORY, 3, 10, 5), 3 + 10 + 5 + 16);
}

/* ---- filters ---- */

static void fill_subjects(struct fx *f)
{
	put(f, "a.b", "1", 1);     /* 1 */
	put(f, "a.c", "2", 2);     /* 2 */
	put(f, "b.c", "3", 3);     /* 3 */
	put(f, "a.b.c", "4", 4);   /* 4 */
	put(f, "a.b", "5", 5);     /* 5 */
	put(f, "c", "6", 6);       /* 6 */
}

static uint64_t next_seq(struct fx *f, uint64_t start, const char *filter)
{
	int rc = jn_store_load_next(f->st, start, FL(filter), &f->m);
	if (rc == -JN_ENOTFOUND)
		return 0;
	assert_int_equal(rc, 0);
	assert_true(f->m.seq >= start);
	if (filter)
		assert_true(jn_subject_match(filter, strlen(filter), f->m.subject, f->m.subject_len));
	return f->m.seq;
}

static uint64_t last_seq(struct fx *f, const char *filter)
{
	int rc = jn_store_load_last(f->st, FL(filter), &f->m);
	if (rc == -JN_ENOTFOUND)
		return 0;
	assert_int_equal(rc, 0);
	return f->m.seq;
}

static void test_load_next_filters(void **state)
{
	struct fx *f = *state;
	fill_subjects(f);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(next_seq(f, 1, NULL), 1);
		assert_int_equal(next_seq(f, 0, ">"), 1);
		assert_int_equal(next_seq(f, 2, NULL), 2);
		assert_int_equal(next_seq(f, 1, "a.*"), 1);
		assert_int_equal(next_seq(f, 2, "a.*"), 2);
		assert_int_equal(next_seq(f, 3, "a.*"), 5);
		assert_int_equal(next_seq(f, 6, "a.*"), 0);
		assert_int_equal(next_seq(f, 1, "a.>"), 1);
		assert_int_equal(next_seq(f, 3, "a.>"), 4);
		assert_int_equal(next_seq(f, 1, "*.c"), 2);
		assert_int_equal(next_seq(f, 3, "*.c"), 3);
		assert_int_equal(next_seq(f, 4, "*.c"), 0);
		assert_int_equal(next_seq(f, 2, "a.b"), 5);
		assert_int_equal(next_seq(f, 1, "c"), 6);
		assert_int_equal(next_seq(f, 1, "zzz"), 0);
		assert_int_equal(next_seq(f, 1, "*.*.*"), 4);
		assert_int_equal(next_seq(f, 7, NULL), 0);
		assert_int_equal(next_seq(f, 100, "a.b"), 0);

		assert_int_equal(last_seq(f, NULL), 6);
		assert_int_equal(last_seq(f, "a.b"), 5);
		assert_int_equal(last_seq(f, "a.*"), 5);
		assert_int_equal(last_seq(f, "*.c"), 3);
		assert_int_equal(last_seq(f, "a.>"), 5);
		assert_int_equal(last_seq(f, "q.>"), 0);
		assert_int_equal(last_seq(f, "a.c"), 2);
		assert_memory_equal(f->m.data, "2", 1);
		reopen(f);
	}
	/* deletes are skipped by every lookup */
	assert_int_equal(jn_store_remove(f->st, 5), 0);
	assert_int_equal(jn_store_remove(f->st, 6), 0);
	assert_int_equal(next_seq(f, 2, "a.b"), 0);
	assert_int_equal(last_seq(f, "a.b"), 1);
	assert_int_equal(last_seq(f, NULL), 4);
	assert_int_equal(next_seq(f, 5, NULL), 0);
	reopen(f);
	assert_int_equal(last_seq(f, "a.b"), 1);
	assert_int_equal(last_seq(f, NULL), 4);
}

/* ---- deletes ---- */

static void test_remove_interior(void **state)
{
	struct fx *f = *state;
	for (int i = 1; i <= 10; i++)
		put(f, i % 2 ? "odd" : "even", "x", i);
	assert_int_equal(jn_store_remove(f->st, 4), 0);
	assert_int_equal(jn_store_remove(f->st, 5), 0);
	assert_int_equal(jn_store_remove(f->st, 5), -JN_ENOTFOUND);
	assert_int_equal(jn_store_remove(f->st, 11), -JN_ENOTFOUND);
	assert_int_equal(jn_store_remove(f->st, 0), -JN_ENOTFOUND);
	for (int round = 0; round < 2; round++) {
		struct jn_store_state s = state_of(f);
		assert_int_equal(s.msgs, 8);
		assert_int_equal(s.first_seq, 1);
		assert_int_equal(s.last_seq, 10);
		assert_int_equal(s.num_deleted, 2);
		/* left: odd 1 3 7 9, even 2 6 8 10 */
		assert_int_equal(s.bytes, 4 * jn_store_msg_size(f->type, 3, 0, 1) +
		                 4 * jn_store_msg_size(f->type, 4, 0, 1));
		reopen(f);
	}
}

static int collect_deleted(void *arg, uint64_t seq)
{
	uint64_t *v = arg;
	v[++v[0]] = seq;
	return 0;
}

static void test_deleted_list(void **state)
{
	struct fx *f = *state;
	for (int i = 1; i <= 8; i++)
		put(f, "d", "x", i);
	uint64_t seq;
	assert_int_equal(jn_store_skip(f->st, 9, &seq), 0);   /* 9: a gap too */
	put(f, "d", "x", 10);
	assert_int_equal(jn_store_remove(f->st, 1), 0);   /* the front: not interior */
	assert_int_equal(jn_store_remove(f->st, 3), 0);
	assert_int_equal(jn_store_remove(f->st, 6), 0);
	for (int round = 0; round < 2; round++) {
		uint64_t v[16] = { 0 };
		assert_int_equal(jn_store_deleted(f->st, collect_deleted, v), 3);
		assert_int_equal(v[0], 3);
		assert_int_equal(v[1], 3);
		assert_int_equal(v[2], 6);
		assert_int_equal(v[3], 9);
		assert_int_equal(state_of(f).num_deleted, 3);
		reopen(f);
	}
}

static void test_remove_ends(void **state)
{
	struct fx *f = *state;
	for (int i = 1; i <= 6; i++)
		put(f, "s", "x", i * 10);
	/* removing the first advances first_seq over deleted ones */
	assert_int_equal(jn_store_remove(f->st, 2), 0);
	assert_int_equal(jn_store_remove(f->st, 1), 0);
	struct jn_store_state s = state_of(f);
	assert_int_equal(s.first_seq, 3);
	assert_int_equal(s.first_ts, 30);
	assert_int_equal(s.num_deleted, 0);
	/* removing the last keeps last_seq: sequences are never reused */
	assert_int_equal(jn_store_remove(f->st, 6), 0);
	s = state_of(f);
	assert_int_equal(s.last_seq, 6);
	assert_int_equal(s.msgs, 3);
	assert_int_equal(s.num_deleted, 1);
	reopen(f);
	s = state_of(f);
	assert_int_equal(s.first_seq, 3);
	assert_int_equal(s.last_seq, 6);
	assert_int_equal(s.num_deleted, 1);
	assert_int_equal(put(f, "s", "y", 70), 7);
	/* removing everything: empty, first = last + 1 */
	for (uint64_t q = 3; q <= 7; q++)
		if (q != 6)
			assert_int_equal(jn_store_remove(f->st, q), 0);
	s = state_of(f);
	assert_int_equal(s.msgs, 0);
	assert_int_equal(s.bytes, 0);
	assert_int_equal(s.first_seq, 8);
	assert_int_equal(s.last_seq, 7);
	assert_int_equal(s.num_deleted, 0);
	assert_int_equal(s.num_subjects, 0);
	reopen(f);
	s = state_of(f);
	assert_int_equal(s.msgs, 0);
	assert_int_equal(s.first_seq, 8);
	assert_int_equal(s.last_seq, 7);
	assert_int_equal(put(f, "s", "z", 80), 8);
}

/* ---- purge ---- */

static void test_purge_all(void **state)
{
	struct fx *f = *state;
	fill_subjects(f);
	assert_int_equal(jn_store_purge(f->st, NULL, 0, 0, 0), 6);
	for (int round = 0; round < 2; round++) {
		struct jn_store_state s = state_of(f);
		assert_int_equal(s.msgs, 0);
		assert_int_equal(s.first_seq, 7);
		assert_int_equal(s.last_seq, 6);
		assert_int_equal(s.last_ts, 6);
		assert_int_equal(s.num_subjects, 0);
		assert_int_equal(s.bytes, 0);
		reopen(f);
	}
	assert_int_equal(put(f, "a.b", "7", 7), 7);
	assert_int_equal(jn_store_purge(f->st, ">", 1, 0, 0), 1);
	assert_int_equal(jn_store_purge(f->st, ">", 1, 0, 0), 0);
	reopen(f);
	assert_int_equal(state_of(f).first_seq, 8);
	assert_int_equal(put(f, "a.b", "8", 8), 8);
}

static void test_purge_filter(void **state)
{
	struct fx *f = *state;
	fill_subjects(f);
	assert_int_equal(jn_store_purge(f->st, FL("a.*"), 0, 0), 3);   /* 1, 2, 5 */
	for (int round = 0; round < 2; round++) {
		struct jn_store_state s = state_of(f);
		assert_int_equal(s.msgs, 3);
		assert_int_equal(s.first_seq, 3);
		assert_int_equal(s.num_deleted, 1);   /* 5 */
		assert_int_equal(s.num_subjects, 3);
		assert_int_equal(next_seq(f, 1, "a.*"), 0);
		assert_int_equal(next_seq(f, 1, NULL), 3);
		assert_int_equal(jn_store_subject_info(f->st, "a.b", 3, &(struct jn_subject_state){0}),
		                 -JN_ENOTFOUND);
		reopen(f);
	}
}

static void test_purge_up_to(void **state)
{
	struct fx *f = *state;
	fill_subjects(f);
	/* up_to is exclusive; 1 is a no-op */
	assert_int_equal(jn_store_purge(f->st, FL("a.b"), 1, 0), 0);
	assert_int_equal(jn_store_purge(f->st, FL("a.b"), 5, 0), 1);   /* only seq 1 */
	assert_int_equal(next_seq(f, 1, "a.b"), 5);
	/* unfiltered with up_to: compact */
	assert_int_equal(jn_store_purge(f->st, NULL, 0, 4, 0), 2);   /* 2, 3 */
	struct jn_store_state s = state_of(f);
	assert_int_equal(s.first_seq, 4);
	assert_int_equal(s.msgs, 3);
	reopen(f);
	s = state_of(f);
	assert_int_equal(s.first_seq, 4);
	assert_int_equal(s.msgs, 3);
}

static void test_purge_keep(void **state)
{
	struct fx *f = *state;
	for (int i = 1; i <= 10; i++)
		put(f, i <= 6 ? "k.a" : "k.b", "v", i);
	/* keep the newest 2 of k.a (seq 5, 6) */
	assert_int_equal(jn_store_purge(f->st, FL("k.a"), 0, 2), 4);
	assert_int_equal(next_seq(f, 1, "k.a"), 5);
	/* keep >= count: nothing */
	assert_int_equal(jn_store_purge(f->st, FL("k.a"), 0, 2), 0);
	assert_int_equal(jn_store_purge(f->st, FL("k.a"), 0, 5), 0);
	/* filter + keep across subjects: keep the newest 3 of k.> (8, 9, 10) */
	assert_int_equal(jn_store_purge(f->st, FL("k.>"), 0, 3), 3);
	struct jn_store_state s = state_of(f);
	assert_int_equal(s.msgs, 3);
	assert_int_equal(s.first_seq, 8);
	reopen(f);
	/* unfiltered keep */
	assert_int_equal(jn_store_purge(f->st, NULL, 0, 0, 1), 2);
	s = state_of(f);
	assert_int_equal(s.msgs, 1);
	assert_int_equal(s.first_seq, 10);
	reopen(f);
	s = state_of(f);
	assert_int_equal(s.msgs, 1);
	assert_int_equal(s.first_seq, 10);
	assert_int_equal(s.last_seq, 10);
}

static void test_purge_filter_keep_up_to(void **state)
{
	struct fx *f = *state;
	for (int i = 1; i <= 10; i++)
		put(f, "p", "v", i);
	/* keep 2 of p, only below 6: 10 matching, maxp 8, but only 1..5 qualify */
	assert_int_equal(jn_store_purge(f->st, FL("p"), 6, 2), 5);
	assert_int_equal(state_of(f).first_seq, 6);
}

/* ---- compact ---- */

static void test_compact(void **state)
{
	struct fx *f = *state;
	for (int i = 1; i <= 5; i++)
		put(f, "c", "v", i);
	assert_int_equal(jn_store_compact(f->st, 1), 0);
	assert_int_equal(jn_store_compact(f->st, 3), 2);
	assert_int_equal(jn_store_compact(f->st, 2), 0);
	struct jn_store_state s = state_of(f);
	assert_int_equal(s.first_seq, 3);
	assert_int_equal(s.msgs, 3);
	/* past the end: empty, next append gets that seq */
	assert_int_equal(jn_store_compact(f->st, 100), 3);
	s = state_of(f);
	assert_int_equal(s.msgs, 0);
	assert_int_equal(s.first_seq, 100);
	assert_int_equal(s.last_seq, 99);
	reopen(f);
	s = state_of(f);
	assert_int_equal(s.first_seq, 100);
	assert_int_equal(s.last_seq, 99);
	assert_int_equal(put(f, "c", "w", 6), 100);
	assert_int_equal(jn_store_compact(f->st, 0), 1);   /* 0: everything */
	assert_int_equal(state_of(f).first_seq, 101);
}

/* ---- subjects and pending ---- */

static int count_cb(void *arg, const struct jn_subject_state *ss)
{
	uint64_t *n = arg;
	n[0]++;
	n[1] += ss->msgs;
	return 0;
}

static void test_subject_index(void **state)
{
	struct fx *f = *state;
	fill_subjects(f);
	put(f, "a.b", "7", 7);   /* 7 */
	for (int round = 0; round < 2; round++) {
		struct jn_subject_state ss;
		assert_int_equal(jn_store_subject_info(f->st, "a.b", 3, &ss), 0);
		assert_int_equal(ss.msgs, 3);
		assert_int_equal(ss.first_seq, 1);
		assert_int_equal(ss.last_seq, 7);
		assert_int_equal(jn_store_subject_info(f->st, "a", 1, &ss), -JN_ENOTFOUND);
		uint64_t n[2] = { 0, 0 };
		assert_int_equal(jn_store_subjects(f->st, FL("a.>"), count_cb, n), 3);
		assert_int_equal(n[0], 3);
		assert_int_equal(n[1], 5);
		memset(n, 0, sizeof n);
		jn_store_subjects(f->st, NULL, 0, count_cb, n);
		assert_int_equal(n[0], 5);
		assert_int_equal(n[1], 7);
		assert_int_equal(state_of(f).num_subjects, 5);
		reopen(f);
	}
	/* removing a subject's oldest (max_msgs_per_subject) moves its first */
	assert_int_equal(jn_store_remove(f->st, 1), 0);
	struct jn_subject_state ss;
	assert_int_equal(jn_store_subject_info(f->st, "a.b", 3, &ss), 0);
	assert_int_equal(ss.first_seq, 5);
	assert_int_equal(ss.msgs, 2);
	/* removing its newest moves its last */
	assert_int_equal(jn_store_remove(f->st, 7), 0);
	assert_int_equal(jn_store_subject_info(f->st, "a.b", 3, &ss), 0);
	assert_int_equal(ss.last_seq, 5);
	assert_int_equal(ss.first_seq, 5);
	reopen(f);
	assert_int_equal(jn_store_subject_info(f->st, "a.b", 3, &ss), 0);
	assert_int_equal(ss.first_seq, 5);
	assert_int_equal(ss.last_seq, 5);
	assert_int_equal(ss.msgs, 1);
	assert_int_equal(jn_store_remove(f->st, 5), 0);
	assert_int_equal(jn_store_subject_info(f->st, "a.b", 3, &ss), -JN_ENOTFOUND);
	assert_int_equal(state_of(f).num_subjects, 4);
}

static void test_num_pending(void **state)
{
	struct fx *f = *state;
	fill_subjects(f);          /* 1 a.b, 2 a.c, 3 b.c, 4 a.b.c, 5 a.b, 6 c */
	put(f, "a.c", "7", 7);     /* 7 */
	assert_int_equal(jn_store_remove(f->st, 3), 0);
	assert_int_equal(jn_store_num_pending(f->st, 1, NULL, 0, false), 6);
	assert_int_equal(jn_store_num_pending(f->st, 0, NULL, 0, false), 6);
	assert_int_equal(jn_store_num_pending(f->st, 3, NULL, 0, false), 4);
	assert_int_equal(jn_store_num_pending(f->st, 7, NULL, 0, false), 1);
	assert_int_equal(jn_store_num_pending(f->st, 8, NULL, 0, false), 0);
	assert_int_equal(jn_store_num_pending(f->st, 1, FL("a.*"), false), 4);
	assert_int_equal(jn_store_num_pending(f->st, 2, FL("a.*"), false), 3);
	assert_int_equal(jn_store_num_pending(f->st, 6, FL("a.*"), false), 1);
	assert_int_equal(jn_store_num_pending(f->st, 1, FL("a.b"), false), 2);
	assert_int_equal(jn_store_num_pending(f->st, 2, FL("a.b"), false), 1);
	assert_int_equal(jn_store_num_pending(f->st, 6, FL("a.b"), false), 0);
	assert_int_equal(jn_store_num_pending(f->st, 1, FL("*.c"), false), 2);
	assert_int_equal(jn_store_num_pending(f->st, 1, FL("nope"), false), 0);
	/* last per subject: subjects whose last message is >= start */
	assert_int_equal(jn_store_num_pending(f->st, 1, FL("a.>"), true), 3);
	assert_int_equal(jn_store_num_pending(f->st, 6, FL("a.>"), true), 1);
	assert_int_equal(jn_store_num_pending(f->st, 1, NULL, 0, true), 4);
	assert_int_equal(jn_store_num_pending(f->st, 1, FL("a.b"), true), 1);
}

/* ---- time ---- */

static void test_expire(void **state)
{
	struct fx *f = *state;
	assert_int_equal(jn_store_next_expiry(f->st), 0);
	for (int i = 1; i <= 10; i++)
		put(f, "e", "v", i * 100);
	assert_int_equal(jn_store_next_expiry(f->st), 100);
	assert_int_equal(jn_store_expire(f->st, 100), 0);    /* strictly older */
	assert_int_equal(jn_store_expire(f->st, 350), 3);
	assert_int_equal(jn_store_next_expiry(f->st), 400);
	struct jn_store_state s = state_of(f);
	assert_int_equal(s.first_seq, 4);
	assert_int_equal(s.first_ts, 400);
	reopen(f);
	assert_int_equal(jn_store_next_expiry(f->st), 400);
	/* deleted messages are not in the way */
	assert_int_equal(jn_store_remove(f->st, 5), 0);
	assert_int_equal(jn_store_expire(f->st, 600), 1);   /* 4; 5 is gone; 6 is not older */
	assert_int_equal(state_of(f).first_seq, 6);
	assert_int_equal(jn_store_expire(f->st, 2000), 5);
	s = state_of(f);
	assert_int_equal(s.msgs, 0);
	assert_int_equal(s.first_seq, 11);
	assert_int_equal(jn_store_next_expiry(f->st), 0);
	reopen(f);
	assert_int_equal(state_of(f).first_seq, 11);
	assert_int_equal(state_of(f).last_seq, 10);
}

static void test_seq_for_time(void **state)
{
	struct fx *f = *state;
	for (int i = 1; i <= 20; i++)
		put(f, "t", "v", i * 10);
	assert_int_equal(jn_store_remove(f->st, 5), 0);
	assert_int_equal(jn_store_seq_for_time(f->st, 0), 1);
	assert_int_equal(jn_store_seq_for_time(f->st, 10), 1);
	assert_int_equal(jn_store_seq_for_time(f->st, 11), 2);
	assert_int_equal(jn_store_seq_for_time(f->st, 45), 6);   /* 5 is deleted */
	assert_int_equal(jn_store_seq_for_time(f->st, 200), 20);
	assert_int_equal(jn_store_seq_for_time(f->st, 201), 21);
}

static void test_skip(void **state)
{
	struct fx *f = *state;
	uint64_t seq;
	assert_int_equal(jn_store_skip(f->st, 5, &seq), 0);
	assert_int_equal(seq, 1);
	struct jn_store_state s = state_of(f);
	assert_int_equal(s.first_seq, 2);
	assert_int_equal(s.last_seq, 1);
	assert_int_equal(s.msgs, 0);
	reopen(f);
	s = state_of(f);
	assert_int_equal(s.first_seq, 2);
	assert_int_equal(s.last_seq, 1);
	assert_int_equal(put(f, "s", "v", 6), 2);
	assert_int_equal(jn_store_skip(f->st, 7, &seq), 0);
	assert_int_equal(seq, 3);
	assert_int_equal(put(f, "s", "v", 8), 4);
	s = state_of(f);
	assert_int_equal(s.msgs, 2);
	assert_int_equal(s.num_deleted, 1);
	reopen(f);
	s = state_of(f);
	assert_int_equal(s.msgs, 2);
	assert_int_equal(s.num_deleted, 1);
	assert_int_equal(s.last_seq, 4);
}

/* ---- durability notification ---- */

/* Runs on the syncer thread (file store) or inline (memory store). */
static void durable_cb(void *arg, int err)
{
	int *p = arg;
	__atomic_store_n(&p[1], err, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&p[0], 1, __ATOMIC_SEQ_CST);
}

static void test_when_durable(void **state)
{
	struct fx *f = *state;
	int calls[2] = { 0, 99 };
	assert_int_equal(jn_store_when_durable(f->st, 1, durable_cb, calls), -JN_EINVAL);
	assert_int_equal(calls[0], 0);
	uint64_t seq = put(f, "d", "v", 1);
	assert_int_equal(jn_store_when_durable(f->st, seq, durable_cb, calls), 0);
	if (f->type == JN_STORE_MEMORY)
		assert_int_equal(__atomic_load_n(&calls[0], __ATOMIC_SEQ_CST), 1);   /* inline */
	assert_int_equal(jn_store_sync(f->st), 0);
	for (int i = 0; i < 1000 && __atomic_load_n(&calls[0], __ATOMIC_SEQ_CST) == 0; i++)
		usleep(1000);
	assert_int_equal(__atomic_load_n(&calls[0], __ATOMIC_SEQ_CST), 1);
	assert_int_equal(__atomic_load_n(&calls[1], __ATOMIC_SEQ_CST), 0);
	/* already durable: inline */
	assert_int_equal(jn_store_when_durable(f->st, seq, durable_cb, calls), 0);
	assert_int_equal(__atomic_load_n(&calls[0], __ATOMIC_SEQ_CST), 2);
}

/* ---- randomized model check ---- */

#define NSUBJ 6
static const char *const subjects[NSUBJ] = { "m.a", "m.b", "m.c.d", "n.a", "n.b.c", "o" };
static const char *const filters[] = { NULL, ">", "m.*", "m.>", "*.a", "n.>", "o", "m.a",
                                       "*.b.*", "zz" };
#define NFILT (sizeof filters / sizeof filters[0])

struct model {
	uint64_t last, first_override;
	bool any_written;
	int64_t last_ts;
	struct mm { int subj; int64_t ts; bool live; } *m;   /* index = seq */
	size_t cap;
};

static bool mmatch(int f, int subj)
{
	const char *fl = filters[f];
	if (!fl)
		return true;
	return jn_subject_match(fl, strlen(fl), subjects[subj], strlen(subjects[subj]));
}

static void model_grow(struct model *md, uint64_t seq)
{
	if (seq >= md->cap) {
		size_t nc = md->cap ? md->cap : 64;
		while (nc <= seq)
			nc *= 2;
		md->m = realloc(md->m, nc * sizeof *md->m);
		memset(md->m + md->cap, 0, (nc - md->cap) * sizeof *md->m);
		md->cap = nc;
	}
}

static uint64_t model_first(struct model *md)
{
	for (uint64_t s = 1; s <= md->last; s++)
		if (md->m[s].live)
			return s;
	return md->any_written ? md->last + 1 : 0;
}

static uint64_t model_msgs(struct model *md)
{
	uint64_t n = 0;
	for (uint64_t s = 1; s <= md->last; s++)
		n += md->m[s].live;
	return n;
}

static uint64_t model_compact(struct model *md, uint64_t seq)
{
	uint64_t n = 0;
	if (seq == 0)
		seq = md->last + 1;
	for (uint64_t s = 1; s < seq && s <= md->last; s++)
		if (md->m[s].live) {
			md->m[s].live = false;
			n++;
		}
	if (seq > md->last + 1) {
		model_grow(md, seq);
		md->last = seq - 1;
	}
	md->any_written = true;
	return n;
}

static uint64_t model_purge(struct model *md, int f, uint64_t up_to, uint64_t keep)
{
	if (up_to == 1)
		return 0;
	bool all = !filters[f] || strcmp(filters[f], ">") == 0;
	if (all && keep == 0)
		return model_compact(md, up_to ? up_to : md->last + 1);
	if (all && up_to > 1)
		return model_compact(md, up_to);
	uint64_t total = 0;
	for (uint64_t s = 1; s <= md->last; s++)
		total += md->m[s].live && mmatch(f, md->m[s].subj);
	if (total == 0 || (keep && keep >= total))
		return 0;
	uint64_t maxp = keep ? total - keep : UINT64_MAX, hi = up_to ? up_to - 1 : md->last, n = 0;
	for (uint64_t s = 1; s <= hi && s <= md->last && n < maxp; s++)
		if (md->m[s].live && mmatch(f, md->m[s].subj)) {
			md->m[s].live = false;
			n++;
		}
	return n;
}

static void model_check(struct fx *f, struct model *md, unsigned *rnd)
{
	struct jn_store_state s = state_of(f);
	uint64_t msgs = model_msgs(md);
	assert_int_equal(s.msgs, msgs);
	assert_int_equal(s.last_seq, md->last);
	assert_int_equal(s.first_seq, model_first(md));
	assert_int_equal(s.num_deleted, msgs ? md->last - s.first_seq + 1 - msgs : 0);
	uint64_t bytes = 0, nsub = 0;
	bool seen[NSUBJ] = { 0 };
	for (uint64_t q = 1; q <= md->last; q++)
		if (md->m[q].live) {
			bytes += jn_store_msg_size(f->type, (uint32_t)strlen(subjects[md->m[q].subj]), 0, 1);
			if (!seen[md->m[q].subj]) {
				seen[md->m[q].subj] = true;
				nsub++;
			}
		}
	assert_int_equal(s.bytes, bytes);
	assert_int_equal(s.num_subjects, nsub);
	for (int k = 0; k < 8; k++) {
		int fi = (int)(rand_r(rnd) % NFILT);
		uint64_t start = md->last ? (uint64_t)rand_r(rnd) % (md->last + 2) : 0;
		uint64_t want_next = 0, want_last = 0, want_pend = 0, want_lps = 0;
		bool lps_seen[NSUBJ] = { 0 };
		for (uint64_t q = 1; q <= md->last; q++) {
			if (!md->m[q].live || !mmatch(fi, md->m[q].subj))
				continue;
			if (q >= start && !want_next)
				want_next = q;
			want_last = q;
			if (q >= start)
				want_pend++;
		}
		/* scanning down, a subject's first hit is its last message */
		for (uint64_t q = md->last; q >= 1 && q >= start; q--)
			if (md->m[q].live && mmatch(fi, md->m[q].subj) && !lps_seen[md->m[q].subj]) {
				lps_seen[md->m[q].subj] = true;
				want_lps++;
			}
		const char *fl = filters[fi];
		assert_int_equal(next_seq(f, start, fl), want_next);
		assert_int_equal(last_seq(f, fl), want_last);
		assert_int_equal(jn_store_num_pending(f->st, start, FL(fl), false), want_pend);
		assert_int_equal(jn_store_num_pending(f->st, start, FL(fl), true), want_lps);
	}
	for (int j = 0; j < NSUBJ; j++) {
		struct jn_subject_state ss;
		uint64_t n = 0, first = 0, last = 0;
		for (uint64_t q = 1; q <= md->last; q++)
			if (md->m[q].live && md->m[q].subj == j) {
				n++;
				if (!first)
					first = q;
				last = q;
			}
		int rc = jn_store_subject_info(f->st, subjects[j], strlen(subjects[j]), &ss);
		if (!n) {
			assert_int_equal(rc, -JN_ENOTFOUND);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(ss.msgs, n);
			assert_int_equal(ss.first_seq, first);
			assert_int_equal(ss.last_seq, last);
		}
	}
	/* a random live message reads back intact */
	if (msgs) {
		uint64_t q;
		do
			q = 1 + (uint64_t)rand_r(rnd) % md->last;
		while (!md->m[q].live);
		assert_int_equal(jn_store_load(f->st, q, &f->m), 0);
		assert_int_equal(f->m.ts, md->m[q].ts);
		assert_int_equal(f->m.subject_len, strlen(subjects[md->m[q].subj]));
		assert_memory_equal(f->m.subject, subjects[md->m[q].subj], f->m.subject_len);
	}
}

static void test_model_random(void **state)
{
	struct fx *f = *state;
	struct model md = { 0 };
	unsigned rnd = 12345;
	int64_t ts = 1000;
	int steps = f->type == JN_STORE_FILE ? 2500 : 4000;
	for (int i = 0; i < steps; i++) {
		unsigned op = (unsigned)rand_r(&rnd) % 100;
		if (op < 55) {
			int sj = (int)(rand_r(&rnd) % NSUBJ);
			uint64_t seq;
			ts += rand_r(&rnd) % 3;
			assert_int_equal(jn_store_append(f->st, subjects[sj], strlen(subjects[sj]), NULL, 0,
			                                 (const uint8_t *)"x", 1, ts, &seq), 0);
			model_grow(&md, seq);
			assert_int_equal(seq, md.last + 1);
			md.last = seq;
			md.any_written = true;
			md.m[seq] = (struct mm){ sj, ts, true };
		} else if (op < 80) {
			if (!md.last)
				continue;
			uint64_t q = 1 + (uint64_t)rand_r(&rnd) % md.last;
			int rc = jn_store_remove(f->st, q);
			assert_int_equal(rc, md.m[q].live ? 0 : -JN_ENOTFOUND);
			md.m[q].live = false;
		} else if (op < 84) {
			int fi = (int)(rand_r(&rnd) % NFILT);
			uint64_t up_to = rand_r(&rnd) % 3 ? 0 : (uint64_t)rand_r(&rnd) % (md.last + 3);
			uint64_t keep = rand_r(&rnd) % 2 ? 0 : (uint64_t)rand_r(&rnd) % 6;
			if (up_to && keep && (!filters[fi] || !strcmp(filters[fi], ">")))
				keep = 0;
			uint64_t want = model_purge(&md, fi, up_to, keep);
			assert_int_equal(jn_store_purge(f->st, FL(filters[fi]), up_to, keep), (int64_t)want);
		} else if (op < 86) {
			uint64_t to = md.first_override + (uint64_t)rand_r(&rnd) % (md.last + 4);
			uint64_t want = model_compact(&md, to);
			assert_int_equal(jn_store_compact(f->st, to), (int64_t)want);
		} else if (op < 88) {
			int64_t cut = ts - (int64_t)(rand_r(&rnd) % 200);
			uint64_t want = 0, s;
			for (s = 1; s <= md.last; s++)
				if (md.m[s].live && md.m[s].ts >= cut)
					break;
			for (uint64_t q = 1; q < s; q++)
				if (md.m[q].live) {
					md.m[q].live = false;
					want++;
				}
			if (want)
				md.any_written = true;
			assert_int_equal(jn_store_expire(f->st, cut), (int64_t)want);
		} else if (op < 90) {
			uint64_t seq;
			assert_int_equal(jn_store_skip(f->st, ts, &seq), 0);
			model_grow(&md, seq);
			md.last = seq;
			md.any_written = true;
		} else if (op < 91) {
			reopen(f);
		}
		model_check(f, &md, &rnd);
	}
	reopen(f);
	model_check(f, &md, &rnd);
	free(md.m);
}

#define BOTH(fn) \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &MEM), \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &FILE_)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_size),
		BOTH(test_append_load),
		BOTH(test_load_next_filters),
		BOTH(test_remove_interior),
		BOTH(test_remove_ends),
		BOTH(test_deleted_list),
		BOTH(test_purge_all),
		BOTH(test_purge_filter),
		BOTH(test_purge_up_to),
		BOTH(test_purge_keep),
		BOTH(test_purge_filter_keep_up_to),
		BOTH(test_compact),
		BOTH(test_subject_index),
		BOTH(test_num_pending),
		BOTH(test_expire),
		BOTH(test_seq_for_time),
		BOTH(test_skip),
		BOTH(test_when_durable),
		BOTH(test_model_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
