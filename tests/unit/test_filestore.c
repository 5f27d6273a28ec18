/*
 * test_filestore.c - what only the file store promises: its on-disk format
 * survives close/reopen exactly, torn and damaged records are handled as
 * documented at the top of core/filestore.c, fully deleted segments are
 * unlinked without resurrecting deletes, acknowledged (durable) messages
 * survive SIGKILL, group commit batches fsyncs, and full disks / I/O errors
 * leave the store consistent. The generic contract is in test_store.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/crc32c.h"
#include "core/err.h"
#include "core/filestore_hooks.h"
#include "core/log.h"
#include "core/store.h"
#include "core/store_io.h"
#include "core/syncer.h"

uint32_t jn__crc32c_sw(uint32_t crc, const void *buf, size_t len);

struct fx {
	char dir[64];
	char msgs[80];
	struct jn_store_cfg cfg;
	struct jn_store *st;
	struct jn_store_msg m;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	strcpy(f->dir, "/tmp/jn_fstore_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->msgs, sizeof f->msgs, "%s/msgs", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	jn_store_msg_fini(&f->m);
	if (f->st)
		jn_store_free(f->st);
	char mnt[80];
	snprintf(mnt, sizeof mnt, "%s/mnt", f->dir);
	umount2(mnt, MNT_DETACH);   /* if test_enospc_tmpfs failed half-way */
	assert_int_equal(jn_rmtree(f->dir), 0);
	free(f);
	return 0;
}

static void fopen_(struct fx *f)
{
	assert_int_equal(jn_filestore_open(f->dir, &f->cfg, &f->st), 0);
}

static void fclose_(struct fx *f)
{
	jn_store_free(f->st);
	f->st = NULL;
}

static void reopen(struct fx *f)
{
	fclose_(f);
	fopen_(f);
}

/* Message i: subject "s.<i%7>", optional header, payload of i-derived size. */
static void make_msg(uint64_t i, char *subj, char *hdr, uint8_t *data, size_t *hl, size_t *dl)
{
	sprintf(subj, "s.%" PRIu64, i % 7);
	*hl = 0;
	if (i % 3 == 0)
		*hl = (size_t)sprintf(hdr, "NATS/1.0\r\nId: %" PRIu64 "\r\n\r\n", i);
	*dl = 20 + (i * 37) % 90;
	for (size_t k = 0; k < *dl; k++)
		data[k] = (uint8_t)(i * 31 + k);
}

static uint64_t put_i(struct fx *f, uint64_t i)
{
	char subj[32], hdr[64];
	uint8_t data[128];
	size_t hl, dl;
	make_msg(i, subj, hdr, data, &hl, &dl);
	uint64_t seq = 0;
	assert_int_equal(jn_store_append(f->st, subj, strlen(subj), (uint8_t *)hdr, hl, data, dl,
	                                 (int64_t)i * 1000, &seq), 0);
	return seq;
}

static size_t rec_len_i(uint64_t i)
{
	char subj[32], hdr[64];
	uint8_t data[128];
	size_t hl, dl;
	make_msg(i, subj, hdr, data, &hl, &dl);
	return 32 + strlen(subj) + hl + dl;
}

static void check_i(struct fx *f, uint64_t seq, uint64_t i)
{
	char subj[32], hdr[64];
	uint8_t data[128];
	size_t hl, dl;
	make_msg(i, subj, hdr, data, &hl, &dl);
	assert_int_equal(jn_store_load(f->st, seq, &f->m), 0);
	assert_int_equal(f->m.seq, seq);
	assert_int_equal(f->m.ts, (int64_t)i * 1000);
	assert_int_equal(f->m.subject_len, strlen(subj));
	assert_memory_equal(f->m.subject, subj, strlen(subj));
	assert_int_equal(f->m.hdr_len, hl);
	if (hl)
		assert_memory_equal(f->m.hdr, hdr, hl);
	assert_int_equal(f->m.data_len, dl);
	assert_memory_equal(f->m.data, data, dl);
}

static struct jn_store_state sstate(struct fx *f)
{
	struct jn_store_state s;
	jn_store_state(f->st, &s);
	return s;
}

/* Segment first-seqs on disk, sorted; returns the count. */
static int list_segs(struct fx *f, uint64_t *out, int max)
{
	DIR *d = opendir(f->msgs);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		uint64_t v;
		char tail[8];
		if (sscanf(de->d_name, "%" SCNu64 "%7s", &v, tail) == 2 && strcmp(tail, ".blk") == 0 &&
		    n < max)
			out[n++] = v;
	}
	closedir(d);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
			uint64_t t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static void seg_path(struct fx *f, uint64_t first, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%" PRIu64 ".blk", f->msgs, first);
}

static off_t file_size(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* ---- crc32c ---- */

static void test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(jn_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(jn__crc32c_sw(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(jn_crc32c(0, "", 0), 0);
	uint8_t buf[1024];
	unsigned r = 7;
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)rand_r(&r);
	for (int t = 0; t < 300; t++) {
		size_t off = (size_t)rand_r(&r) % 64, len = (size_t)rand_r(&r) % (sizeof buf - 64);
		uint32_t a = jn_crc32c(0, buf + off, len);
		assert_int_equal(a, jn__crc32c_sw(0, buf + off, len));
		/* chaining */
		size_t cut = len ? (size_t)rand_r(&r) % len : 0;
		assert_int_equal(a, jn_crc32c(jn_crc32c(0, buf + off, cut), buf + off + cut, len - cut));
	}
}

/* ---- persistence ---- */

static void test_reopen_everything(void **state)
{
	struct fx *f = *state;
	f->cfg.segment_size = 4096;
	fopen_(f);
	const int N = 600;
	for (int i = 1; i <= N; i++)
		assert_int_equal(put_i(f, (uint64_t)i), (uint64_t)i);
	/* deletes spread over every segment, a subject purge, a compact */
	for (int i = 5; i <= N; i += 11)
		assert_int_equal(jn_store_remove(f->st, (uint64_t)i), 0);
	assert_true(jn_store_purge(f->st, "s.3", 3, 0, 0) > 0);
	assert_int_equal(jn_store_compact(f->st, 20) >= 0, 1);
	struct jn_store_state before = sstate(f);
	struct jn_store_stats stats;
	jn_store_stats(f->st, &stats);
	assert_true(stats.segments > 10);
	uint64_t subj_n[7];
	for (int k = 0; k < 7; k++) {
		char s[8];
		sprintf(s, "s.%d", k);
		struct jn_subject_state ss = { 0 };
		jn_store_subject_info(f->st, s, strlen(s), &ss);
		subj_n[k] = ss.msgs;
	}
	reopen(f);
	struct jn_store_state after = sstate(f);
	assert_memory_equal(&before, &after, sizeof before);
	for (int k = 0; k < 7; k++) {
		char s[8];
		sprintf(s, "s.%d", k);
		struct jn_subject_state ss = { 0 };
		jn_store_subject_info(f->st, s, strlen(s), &ss);
		assert_int_equal(ss.msgs, subj_n[k]);
	}
	uint64_t live = 0;
	for (int i = 1; i <= N; i++) {
		bool gone = i < 20 || (i >= 5 && (i - 5) % 11 == 0) || i % 7 == 3;
		if (gone) {
			assert_int_equal(jn_store_load(f->st, (uint64_t)i, &f->m), -JN_ENOTFOUND);
		} else {
			check_i(f, (uint64_t)i, (uint64_t)i);
			live++;
		}
	}
	assert_int_equal(after.msgs, live);
	assert_int_equal(put_i(f, N + 1), N + 1);
}

/* ---- torn tails and damage ---- */

static void torn_case(struct fx *f, int n, int mode, unsigned *rnd)
{
	f->cfg.segment_size = 2048;
	fopen_(f);
	for (int i = 1; i <= n; i++)
		put_i(f, (uint64_t)i);
	fclose_(f);
	uint64_t segs[256];
	int ns = list_segs(f, segs, 256);
	assert_true(ns >= 2);
	char path[128];
	seg_path(f, segs[ns - 1], path, sizeof path);
	off_t size = file_size(path);
	off_t last = size - (off_t)rec_len_i((uint64_t)n);
	assert_true(last >= 0);
	if (mode == 0) {
		/* cut somewhere inside the last record */
		off_t cut = last + 1 + (off_t)(rand_r(rnd) % (unsigned)(size - last - 1));
		assert_int_equal(truncate(path, cut), 0);
	} else {
		/* damage one byte of the last record (any field, even the CRC) */
		flip_byte(path, last + (off_t)(rand_r(rnd) % (unsigned)(size - last)));
	}
	fopen_(f);
	struct jn_store_state s = sstate(f);
	assert_int_equal(s.msgs, (uint64_t)n - 1);
	assert_int_equal(s.last_seq, (uint64_t)n - 1);
	assert_int_equal(file_size(path), last);   /* truncated at the record */
	for (int i = 1; i < n; i++)
		check_i(f, (uint64_t)i, (uint64_t)i);
	assert_int_equal(jn_store_load(f->st, (uint64_t)n, &f->m), -JN_ENOTFOUND);
	/* appends continue with the lost seq, and survive another reopen */
	assert_int_equal(put_i(f, 1000), (uint64_t)n);
	reopen(f);
	check_i(f, (uint64_t)n, 1000);
	assert_int_equal(sstate(f).msgs, (uint64_t)n);
	fclose_(f);
	assert_int_equal(jn_rmtree(f->msgs), 0);
}

static void test_torn_tail(void **state)
{
	struct fx *f = *state;
	unsigned rnd = 99;
	for (int t = 0; t < 12; t++)
		torn_case(f, 40 + t * 3, 0, &rnd);
	for (int t = 0; t < 12; t++)
		torn_case(f, 40 + t * 3, 1, &rnd);
}

static void test_damage_mid_last_segment(void **state)
{
	struct fx *f = *state;
	f->cfg.segment_size = 1 << 20;   /* one segment */
	fopen_(f);
	off_t off = 0, dmg = 0;
	for (int i = 1; i <= 50; i++) {
		if (i == 30)
			dmg = off + 40;   /* inside record 30's body */
		put_i(f, (uint64_t)i);
		off += (off_t)rec_len_i((uint64_t)i);
	}
	fclose_(f);
	char path[128];
	seg_path(f, 1, path, sizeof path);
	flip_byte(path, dmg);
	fopen_(f);
	/* the last segment ends at the first bad record: 30.. are gone */
	struct jn_store_state s = sstate(f);
	assert_int_equal(s.msgs, 29);
	assert_int_equal(s.last_seq, 29);
	for (int i = 1; i < 30; i++)
		check_i(f, (uint64_t)i, (uint64_t)i);
	assert_int_equal(put_i(f, 30), 30);
}

static void test_damage_older_segment(void **state)
{
	struct fx *f = *state;
	f->cfg.segment_size = 2048;
	fopen_(f);
	const int N = 120;
	for (int i = 1; i <= N; i++)
		put_i(f, (uint64_t)i);
	fclose_(f);
	uint64_t segs[64];
	int ns = list_segs(f, segs, 64);
	assert_true(ns >= 3);
	/* record 3 of the first segment: damage its payload; record 6: its
	 * length word (the scan must find the next record by itself) */
	char path[128];
	seg_path(f, 1, path, sizeof path);
	off_t o3 = (off_t)(rec_len_i(1) + rec_len_i(2)), o6 = o3;
	for (int i = 3; i < 6; i++)
		o6 += (off_t)rec_len_i((uint64_t)i);
	flip_byte(path, o3 + 40);
	flip_byte(path, o6 + 1);
	fopen_(f);
	struct jn_store_state s = sstate(f);
	assert_int_equal(s.msgs, (uint64_t)N - 2);
	assert_int_equal(s.last_seq, (uint64_t)N);
	assert_int_equal(s.num_deleted, 2);
	for (int i = 1; i <= N; i++) {
		if (i == 3 || i == 6)
			assert_int_equal(jn_store_load(f->st, (uint64_t)i, &f->m), -JN_ENOTFOUND);
		else
			check_i(f, (uint64_t)i, (uint64_t)i);
	}
	assert_int_equal(put_i(f, N + 1), N + 1);
}

/* ---- segments ---- */

static void test_rollover_and_unlink(void **state)
{
	struct fx *f = *state;
	f->cfg.segment_size = 4096;
	fopen_(f);
	const int N = 3000;   /* > FD_CAP segments: descriptors get recycled */
	for (int i = 1; i <= N; i++)
		put_i(f, (uint64_t)i);
	uint64_t segs[512];
	assert_int_equal(jn_store_sync(f->st), 0);
	int ns = list_segs(f, segs, 512);
	assert_true(ns > 70);
	for (int i = 1; i <= N; i += 97)
		check_i(f, (uint64_t)i, (uint64_t)i);
	/* delete every message of the 3rd and 4th segments (interior) */
	for (uint64_t q = segs[2]; q < segs[4]; q++)
		assert_int_equal(jn_store_remove(f->st, q), 0);
	assert_int_equal(jn_store_sync(f->st), 0);
	uint64_t after[512];
	int na = list_segs(f, after, 512);
	assert_int_equal(na, ns - 2);
	for (int k = 0; k < na; k++)
		assert_true(after[k] != segs[2] && after[k] != segs[3]);
	struct jn_store_stats st;
	jn_store_stats(f->st, &st);
	assert_int_equal(st.unlinked, 2);
	/* compact away the first 10 segments */
	assert_true(jn_store_compact(f->st, segs[10]) > 0);
	assert_int_equal(jn_store_sync(f->st), 0);
	na = list_segs(f, after, 512);
	assert_int_equal(after[0], segs[10]);
	reopen(f);
	struct jn_store_state s = sstate(f);
	assert_int_equal(s.first_seq, segs[10]);
	assert_int_equal(s.last_seq, N);
	for (uint64_t q = segs[10]; q <= (uint64_t)N; q++)
		check_i(f, q, q);
}

/* Deletes of messages in an old segment are tombstones in a newer one; when
 * that newer one is unlinked, the tombstones must live on. */
static void test_tombstones_survive_unlink(void **state)
{
	struct fx *f = *state;
	f->cfg.segment_size = 4096;
	fopen_(f);
	for (int i = 1; i <= 100; i++)
		put_i(f, (uint64_t)i);
	uint64_t segs[64];
	assert_int_equal(jn_store_sync(f->st), 0);
	int ns = list_segs(f, segs, 64);
	assert_true(ns >= 3);
	uint64_t active = segs[ns - 1];
	/* delete 5 and 10 (first segment): tombstones land in `active` */
	assert_int_equal(jn_store_remove(f->st, 5), 0);
	assert_int_equal(jn_store_remove(f->st, 10), 0);
	/* empty `active` of messages, then roll past it */
	for (uint64_t q = active; q <= 100; q++)
		assert_int_equal(jn_store_remove(f->st, q), 0);
	uint64_t i = 101;
	while (true) {
		/* new messages go to `active` until it fills: delete them too */
		uint64_t q = put_i(f, i++);
		assert_int_equal(jn_store_remove(f->st, q), 0);
		assert_int_equal(jn_store_sync(f->st), 0);
		ns = list_segs(f, segs, 64);
		bool still = false;
		for (int k = 0; k < ns; k++)
			still |= segs[k] == active;
		if (!still)
			break;
		assert_true(i < 400);
	}
	uint64_t msgs = sstate(f).msgs;
	reopen(f);
	assert_int_equal(jn_store_load(f->st, 5, &f->m), -JN_ENOTFOUND);
	assert_int_equal(jn_store_load(f->st, 10, &f->m), -JN_ENOTFOUND);
	check_i(f, 4, 4);
	assert_int_equal(sstate(f).msgs, msgs);
	/* and once more: the copies themselves may move again */
	reopen(f);
	assert_int_equal(jn_store_load(f->st, 5, &f->m), -JN_ENOTFOUND);
	assert_int_equal(sstate(f).msgs, msgs);
}

static void test_purge_leaves_one_segment(void **state)
{
	struct fx *f = *state;
	f->cfg.segment_size = 4096;
	fopen_(f);
	for (int i = 1; i <= 500; i++)
		put_i(f, (uint64_t)i);
	assert_int_equal(jn_store_purge(f->st, NULL, 0, 0, 0), 500);
	assert_int_equal(jn_store_sync(f->st), 0);
	uint64_t segs[64];
	int ns = list_segs(f, segs, 64);
	assert_int_equal(ns, 1);
	assert_int_equal(segs[0], 501);
	reopen(f);
	struct jn_store_state s = sstate(f);
	assert_int_equal(s.msgs, 0);
	assert_int_equal(s.first_seq, 501);
	assert_int_equal(s.last_seq, 500);
	assert_int_equal(s.last_ts, 500 * 1000);
	assert_int_equal(put_i(f, 501), 501);
}

static void test_large_message(void **state)
{
	struct fx *f = *state;
	f->cfg.segment_size = 64 * 1024;
	fopen_(f);
	size_t big = 3u << 20;
	uint8_t *data = malloc(big);
	for (size_t k = 0; k < big; k++)
		data[k] = (uint8_t)(k * 7 + 3);
	put_i(f, 1);
	uint64_t seq;
	assert_int_equal(jn_store_append(f->st, "big", 3, NULL, 0, data, big, 5, &seq), 0);
	assert_int_equal(seq, 2);
	put_i(f, 3);
	for (int r = 0; r < 2; r++) {
		assert_int_equal(jn_store_load(f->st, 2, &f->m), 0);
		assert_int_equal(f->m.data_len, big);
		assert_memory_equal(f->m.data, data, big);
		check_i(f, 1, 1);
		check_i(f, 3, 3);
		reopen(f);
	}
	free(data);
}

static void test_lock_and_delete(void **state)
{
	struct fx *f = *state;
	fopen_(f);
	put_i(f, 1);
	struct jn_store *other;
	assert_int_equal(jn_filestore_open(f->dir, &f->cfg, &other), -JN_EEXIST);
	assert_int_equal(jn_store_delete(f->st), 0);
	f->st = NULL;
	struct stat sb;
	assert_int_equal(stat(f->msgs, &sb), -1);
	assert_int_equal(errno, ENOENT);
	/* the caller's directory stays; a new store starts from scratch */
	fopen_(f);
	assert_int_equal(sstate(f).last_seq, 0);
}

/* ---- durability ---- */

struct gc {
	struct jn_store *st;
	atomic_uint *fired;       /* per seq */
	atomic_uint total;
	atomic_uint bad;
	int per_thread;
};

struct gc_arg {
	struct gc *gc;
	uint64_t seq;
};

static void gc_cb(void *arg, int err)
{
	struct gc_arg *a = arg;
	struct jn_store_stats st;
	jn_store_stats(a->gc->st, &st);
	if (err || st.durable_seq < a->seq || st.fsyncs == 0)
		atomic_fetch_add(&a->gc->bad, 1);
	atomic_fetch_add(&a->gc->fired[a->seq], 1);
	atomic_fetch_add(&a->gc->total, 1);
	free(a);
}

static void *gc_thread(void *p)
{
	struct gc *gc = p;
	for (int i = 0; i < gc->per_thread; i++) {
		uint64_t seq;
		uint8_t data[64] = { 1 };
		if (jn_store_append(gc->st, "gc.t", 4, NULL, 0, data, sizeof data, i, &seq) != 0) {
			atomic_fetch_add(&gc->bad, 1);
			continue;
		}
		struct gc_arg *a = malloc(sizeof *a);
		a->gc = gc;
		a->seq = seq;
		if (jn_store_when_durable(gc->st, seq, gc_cb, a) != 0)
			atomic_fetch_add(&gc->bad, 1);
	}
	return NULL;
}

static void test_group_commit(void **state)
{
	struct fx *f = *state;
	fopen_(f);
	enum { T = 4, PER = 5000 };
	struct gc gc = { .st = f->st, .per_thread = PER };
	gc.fired = calloc(T * PER + 1, sizeof *gc.fired);
	pthread_t th[T];
	for (int i = 0; i < T; i++)
		pthread_create(&th[i], NULL, gc_thread, &gc);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 10000 && atomic_load(&gc.total) < T * PER; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&gc.total), T * PER);
	assert_int_equal(atomic_load(&gc.bad), 0);
	for (int q = 1; q <= T * PER; q++)
		assert_int_equal(atomic_load(&gc.fired[q]), 1);
	struct jn_store_stats st;
	jn_store_stats(f->st, &st);
	/* one fsync serves many appends */
	assert_true(st.fsyncs > 0);
	assert_true(st.fsyncs * 10 < T * PER);
	assert_true(st.writes * 10 < T * PER);
	free(gc.fired);
}

/* Bytes of log in a segment file, ahead of the zero-filled reservation
 * the store keeps past its appends: the first record's length word (0
 * while nothing is written), -1 if anything but zeros follows that record. */
static off_t log_len(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return 0;
	uint8_t w[4] = { 0 };
	off_t len = 0;
	if (fread(w, 1, 4, fp) == 4)
		len = (off_t)((uint32_t)w[0] | (uint32_t)w[1] << 8 | (uint32_t)w[2] << 16 |
		              (uint32_t)w[3] << 24);
	if (len > 0 && fseeko(fp, len, SEEK_SET) == 0) {
		int c;
		while ((c = fgetc(fp)) != EOF)
			if (c != 0) {
				len = -1;
				break;
			}
	}
	fclose(fp);
	return len;
}

static void count_cb(void *arg, int err)
{
	atomic_int *n = arg;
	atomic_fetch_add(n, err ? 1000000 : 1);
}

static void test_interval_mode(void **state)
{
	struct fx *f = *state;
	f->cfg.sync = JN_SYNC_INTERVAL;
	f->cfg.sync_interval_ms = 50;
	fopen_(f);
	struct jn_store_stats st0;
	jn_store_stats(f->st, &st0);
	atomic_int n = 0;
	uint64_t seq = put_i(f, 1);
	assert_int_equal(jn_store_when_durable(f->st, seq, count_cb, &n), 0);
	assert_int_equal(atomic_load(&n), 1);   /* inline */
	/* the record reaches the file soon (process-crash safe)... */
	char path[128];
	seg_path(f, 1, path, sizeof path);
	for (int i = 0; i < 2000 && log_len(path) == 0; i++)
		usleep(1000);
	assert_int_equal(log_len(path), (off_t)rec_len_i(1));
	/* ...and is fsynced within the interval */
	struct jn_store_stats st;
	for (int i = 0; i < 2000; i++) {
		jn_store_stats(f->st, &st);
		if (st.fsyncs > st0.fsyncs)
			break;
		usleep(1000);
	}
	assert_true(st.fsyncs > st0.fsyncs);
}

static void shared_cb(void *arg, int err)
{
	count_cb(arg, err);
}

static void test_shared_syncer(void **state)
{
	struct fx *f = *state;
	struct jn_syncer *sy = jn_syncer_new(2);
	assert_non_null(sy);
	char dir2[80];
	snprintf(dir2, sizeof dir2, "%s/two", f->dir);
	f->cfg.syncer = sy;
	fopen_(f);
	struct jn_store *b;
	assert_int_equal(jn_filestore_open(dir2, &f->cfg, &b), 0);
	atomic_int n = 0;
	for (int i = 1; i <= 200; i++) {
		uint64_t sa = put_i(f, (uint64_t)i), sb;
		assert_int_equal(jn_store_append(b, "b", 1, NULL, 0, (const uint8_t *)"x", 1, i, &sb), 0);
		assert_int_equal(jn_store_when_durable(f->st, sa, shared_cb, &n), 0);
		assert_int_equal(jn_store_when_durable(b, sb, shared_cb, &n), 0);
	}
	for (int i = 0; i < 5000 && atomic_load(&n) < 400; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&n), 400);
	jn_store_free(b);
	fclose_(f);
	jn_syncer_free(sy);
}

/* A child appends as fast as it can and reports every seq it was told is
 * durable; it is SIGKILLed mid-flight. Every reported seq must be there. */
static void durable_pipe_cb(void *arg, int err)
{
	uint64_t *p = arg;
	if (!err) {
		ssize_t w = write((int)p[0], &p[1], sizeof p[1]);
		(void)w;
	}
	free(p);
}

static void test_crash_durable(void **state)
{
	struct fx *f = *state;
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		struct jn_store *st;
		struct jn_store_cfg cfg = { .segment_size = 64 * 1024 };
		if (jn_filestore_open(f->dir, &cfg, &st) != 0)
			_exit(2);
		for (uint64_t i = 1;; i++) {
			char subj[32], hdr[64];
			uint8_t data[128];
			size_t hl, dl;
			uint64_t seq;
			make_msg(i, subj, hdr, data, &hl, &dl);
			if (jn_store_append(st, subj, strlen(subj), (uint8_t *)hdr, hl, data, dl,
			                    (int64_t)i * 1000, &seq) != 0 || seq != i)
				_exit(3);
			if (i % 3 == 0) {
				uint64_t *a = malloc(2 * sizeof *a);
				a[0] = (uint64_t)pfd[1];
				a[1] = seq;
				jn_store_when_durable(st, seq, durable_pipe_cb, a);
			}
			if (i % 64 == 0)
				usleep(100);
		}
	}
	close(pfd[1]);
	uint64_t max = 0, v;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t r = read(pfd[0], &v, sizeof v);
		assert_int_equal(r, (ssize_t)sizeof v);
		if (v > max)
			max = v;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (max > 3000 && (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > 300)
			break;
	}
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFSIGNALED(status));
	while (read(pfd[0], &v, sizeof v) == (ssize_t)sizeof v)
		if (v > max)
			max = v;
	close(pfd[0]);
	fopen_(f);
	struct jn_store_state s = sstate(f);
	assert_true(s.last_seq >= max);
	assert_int_equal(s.msgs, s.last_seq);
	for (uint64_t i = 1; i <= max; i++)
		check_i(f, i, i);
	assert_int_equal(put_i(f, s.last_seq + 1), s.last_seq + 1);
}

/* An idle store gives its write buffers back (many idle KV buckets must
 * not each hold buffer memory). */
static void test_idle_buffers_released(void **state)
{
	struct fx *f = *state;
	fopen_(f);
	for (int i = 1; i <= 3000; i++)
		put_i(f, (uint64_t)i);
	size_t busy = jn_mem_used();   /* buffers in use (up to 2 x 256 KiB) */
	size_t now = busy;
	for (int i = 0; i < 3000 && now + 16 * 1024 > busy; i++) {
		usleep(1000);
		now = jn_mem_used();
	}
	assert_true(now + 16 * 1024 <= busy);
	/* and the store works on */
	assert_int_equal(put_i(f, 3001), 3001);
	check_i(f, 3001, 3001);
	check_i(f, 1, 1);
}

/* ---- disk errors ---- */

static void test_enospc_reserve(void **state)
{
	struct fx *f = *state;
	fopen_(f);
	for (int i = 1; i <= 10; i++)
		put_i(f, (uint64_t)i);
	struct jn_store_state before = sstate(f);
	jn_filestore_inject_fault(f->st, JN_FS_FAULT_FALLOCATE, ENOSPC, false);
	char subj[] = "s.1";
	uint64_t seq = 0;
	assert_int_equal(jn_store_append(f->st, subj, 3, NULL, 0, (const uint8_t *)"x", 1, 1, &seq),
	                 -JN_ENOSPC);
	struct jn_store_state after = sstate(f);
	assert_memory_equal(&before, &after, sizeof before);
	/* space is back: the sequence that failed is the next one used */
	assert_int_equal(put_i(f, 11), 11);
	reopen(f);
	for (int i = 1; i <= 11; i++)
		check_i(f, (uint64_t)i, (uint64_t)i);
	assert_int_equal(sstate(f).msgs, 11);
}

static void test_enospc_write_through_rollback(void **state)
{
	struct fx *f = *state;
	fopen_(f);
	jn_filestore_set_prealloc(f->st, false);
	for (int i = 1; i <= 10; i++)
		put_i(f, (uint64_t)i);
	char path[128];
	seg_path(f, 1, path, sizeof path);
	off_t size = file_size(path);   /* written through: all on file */
	assert_true(size > 0);
	/* a torn write: half the record reaches the file, then ENOSPC */
	jn_filestore_inject_fault(f->st, JN_FS_FAULT_WRITE, ENOSPC, true);
	char subj[32], hdr[64];
	uint8_t data[128];
	size_t hl, dl;
	make_msg(11, subj, hdr, data, &hl, &dl);
	uint64_t seq;
	assert_int_equal(jn_store_append(f->st, subj, strlen(subj), (uint8_t *)hdr, hl, data, dl,
	                                 11000, &seq), -JN_ENOSPC);
	assert_int_equal(file_size(path), size);   /* rolled back */
	assert_int_equal(sstate(f).last_seq, 10);
	assert_int_equal(put_i(f, 11), 11);
	reopen(f);
	for (int i = 1; i <= 11; i++)
		check_i(f, (uint64_t)i, (uint64_t)i);
	assert_int_equal(sstate(f).msgs, 11);
}

static void test_fsync_failure(void **state)
{
	struct fx *f = *state;
	fopen_(f);
	uint64_t a = put_i(f, 1);
	assert_int_equal(jn_store_sync(f->st), 0);
	jn_filestore_inject_fault(f->st, JN_FS_FAULT_FSYNC, EIO, false);
	atomic_int n = 0;
	uint64_t b = put_i(f, 2);
	/* the syncer may fail before we register: then the error is returned
	 * and the callback never runs; otherwise it runs once, with the error */
	int rc = jn_store_when_durable(f->st, b, count_cb, &n);
	if (rc == 0) {
		for (int i = 0; i < 5000 && atomic_load(&n) == 0; i++)
			usleep(1000);
		assert_int_equal(atomic_load(&n), 1000000);
	} else {
		assert_int_equal(rc, -JN_EIO);
		usleep(20000);
		assert_int_equal(atomic_load(&n), 0);
	}
	/* the store refuses writes now; reads still work */
	uint64_t seq;
	assert_int_equal(jn_store_append(f->st, "x", 1, NULL, 0, NULL, 0, 1, &seq), -JN_EIO);
	assert_int_equal(jn_store_when_durable(f->st, b, count_cb, &n), -JN_EIO);
	check_i(f, a, 1);
	/* reopening recovers what the disk has */
	reopen(f);
	check_i(f, a, 1);
	uint64_t last = sstate(f).last_seq;   /* 2 may or may not have made it */
	assert_true(last == 1 || last == 2);
	assert_int_equal(put_i(f, 3), last + 1);
}

static void test_enospc_tmpfs(void **state)
{
	struct fx *f = *state;
	char mnt[80];
	snprintf(mnt, sizeof mnt, "%s/mnt", f->dir);
	assert_int_equal(mkdir(mnt, 0755), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0) {
		rmdir(mnt);
		skip();   /* not root / no mount namespace: the hooks above cover it */
	}
	char dir[96];
	snprintf(dir, sizeof dir, "%s/stream", mnt);
	struct jn_store_cfg cfg = { .segment_size = 64 * 1024 };
	struct jn_store *st;
	assert_int_equal(jn_filestore_open(dir, &cfg, &st), 0);
	uint8_t data[1000];
	memset(data, 'd', sizeof data);
	uint64_t seq = 0, last_ok = 0;
	int rc = 0;
	for (int i = 0; i < 5000; i++) {
		data[0] = (uint8_t)i;
		rc = jn_store_append(st, "fill", 4, NULL, 0, data, sizeof data, i, &seq);
		if (rc)
			break;
		last_ok = seq;
	}
	assert_int_equal(rc, -JN_ENOSPC);
	assert_true(last_ok > 100);
	struct jn_store_state s;
	jn_store_state(st, &s);
	assert_int_equal(s.last_seq, last_ok);
	assert_int_equal(jn_store_sync(st), 0);   /* what was accepted can be synced */
	/* deleting works on a full disk, and frees space */
	assert_true(jn_store_compact(st, last_ok / 2) > 0);
	assert_int_equal(jn_store_sync(st), 0);
	assert_int_equal(jn_store_append(st, "fill", 4, NULL, 0, data, sizeof data, 1, &seq), 0);
	assert_int_equal(seq, last_ok + 1);
	jn_store_free(st);
	assert_int_equal(jn_filestore_open(dir, &cfg, &st), 0);
	jn_store_state(st, &s);
	assert_int_equal(s.last_seq, last_ok + 1);
	assert_int_equal(s.first_seq, last_ok / 2);
	struct jn_store_msg m = { 0 };
	for (uint64_t q = last_ok / 2; q <= last_ok; q++) {
		assert_int_equal(jn_store_load(st, q, &m), 0);
		assert_int_equal(m.data_len, sizeof data);
		assert_int_equal(m.data[0], (uint8_t)(q - 1));
	}
	jn_store_msg_fini(&m);
	jn_store_free(st);
	assert_int_equal(umount(mnt), 0);
	rmdir(mnt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test_setup_teardown(test_reopen_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_mid_last_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_older_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollover_and_unlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tombstones_survive_unlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_leaves_one_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interval_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_syncer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_buffers_released, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_reserve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_write_through_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_tmpfs, setup, teardown),
	};
	jn_log_set_level(JN_LOG_ERROR);   /* damaged-record warnings are expected */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
