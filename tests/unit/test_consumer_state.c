/*
 * test_consumer_state.c - core/consumer_state: the ack/deliver rules
 * (nats-server's consumer store semantics), replay after reopen, log
 * compaction, torn-tail recovery, and the atomic small-file helper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/consumer_state.h"
#include "core/err.h"
#include "core/log.h"
#include "core/store_io.h"

struct fx {
	char dir[64];
	char cdir[96];
	char path[128];
	struct jn_cstate *cs;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	strcpy(f->dir, "/tmp/jn_cstate_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cdir, sizeof f->cdir, "%s/consumers/C1", f->dir);
	snprintf(f->path, sizeof f->path, "%s/state", f->cdir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->cs)
		jn_cstate_free(f->cs);
	assert_int_equal(jn_rmtree(f->dir), 0);
	free(f);
	return 0;
}

static void copen(struct fx *f, enum jn_cs_ack pol, int64_t maxd)
{
	assert_int_equal(jn_cstate_open(f->cdir, pol, maxd, &f->cs), 0);
}

static void creopen(struct fx *f, enum jn_cs_ack pol, int64_t maxd)
{
	jn_cstate_free(f->cs);
	f->cs = NULL;
	copen(f, pol, maxd);
}

static void assert_state_equal(const struct jn_consumer_state *a, const struct jn_consumer_state *b)
{
	assert_int_equal(a->delivered_cseq, b->delivered_cseq);
	assert_int_equal(a->delivered_sseq, b->delivered_sseq);
	assert_int_equal(a->ack_floor_cseq, b->ack_floor_cseq);
	assert_int_equal(a->ack_floor_sseq, b->ack_floor_sseq);
	assert_int_equal(a->npending, b->npending);
	for (size_t i = 0; i < a->npending; i++) {
		assert_int_equal(a->pending[i].sseq, b->pending[i].sseq);
		assert_int_equal(a->pending[i].cseq, b->pending[i].cseq);
		assert_int_equal(a->pending[i].ts, b->pending[i].ts);
	}
	assert_int_equal(a->nredelivered, b->nredelivered);
	for (size_t i = 0; i < a->nredelivered; i++) {
		assert_int_equal(a->redelivered[i].sseq, b->redelivered[i].sseq);
		assert_int_equal(a->redelivered[i].count, b->redelivered[i].count);
	}
	assert_int_equal(a->config_len, b->config_len);
	if (a->config || b->config) {
		assert_non_null(a->config);
		assert_non_null(b->config);
		assert_memory_equal(a->config, b->config, a->config_len);
	}
}

static struct jn_consumer_state load(struct fx *f)
{
	struct jn_consumer_state s;
	assert_int_equal(jn_cstate_load(f->cs, &s), 0);
	return s;
}

static void floor_is(struct fx *f, uint64_t c, uint64_t s)
{
	struct jn_consumer_state st = load(f);
	assert_int_equal(st.ack_floor_cseq, c);
	assert_int_equal(st.ack_floor_sseq, s);
	jn_consumer_state_fini(&st);
}

/* ---- the atomic file helper ---- */

static void test_atomic_write(void **state)
{
	struct fx *f = *state;
	char p[128], tmp[140];
	snprintf(p, sizeof p, "%s/meta.json", f->dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", p);
	assert_int_equal(jn_file_write_atomic(p, "{\"a\":1}", 7), 0);
	char *d;
	size_t n;
	assert_int_equal(jn_file_read_all(p, &d, &n), 0);
	assert_int_equal(n, 7);
	assert_string_equal(d, "{\"a\":1}");
	jn_free(d);
	assert_int_equal(jn_file_write_atomic(p, "{}", 2), 0);
	assert_int_equal(jn_file_read_all(p, &d, &n), 0);
	assert_int_equal(n, 2);
	jn_free(d);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(jn_file_read_all(tmp, &d, &n), -JN_ENOTFOUND);
}

/* ---- rules ---- */

static void test_explicit_acks(void **state)
{
	struct fx *f = *state;
	copen(f, JN_CS_ACK_EXPLICIT, -1);
	for (uint64_t i = 1; i <= 5; i++)
		assert_int_equal(jn_cstate_record_deliver(f->cs, i, 9 + i, 1, (int64_t)i * 100), 0);
	assert_int_equal(jn_cstate_num_pending(f->cs), 5);
	floor_is(f, 0, 0);
	assert_int_equal(jn_cstate_record_ack(f->cs, 1, 10), 0);
	floor_is(f, 1, 10);
	assert_int_equal(jn_cstate_record_ack(f->cs, 3, 12), 0);   /* out of order */
	floor_is(f, 1, 10);
	assert_int_equal(jn_cstate_record_ack(f->cs, 2, 11), 0);   /* floor jumps to below 13 */
	floor_is(f, 3, 12);
	assert_int_equal(jn_cstate_num_pending(f->cs), 2);
	struct jn_cs_pending p;
	assert_true(jn_cstate_pending_get(f->cs, 13, &p));
	assert_int_equal(p.cseq, 4);
	assert_int_equal(p.ts, 400);
	assert_false(jn_cstate_pending_get(f->cs, 12, &p));
	assert_int_equal(jn_cstate_record_ack(f->cs, 4, 13), 0);
	assert_int_equal(jn_cstate_record_ack(f->cs, 5, 14), 0);   /* nothing left: floor = delivered */
	floor_is(f, 5, 14);
	assert_int_equal(jn_cstate_record_ack(f->cs, 5, 14), 0);   /* below the floor: quiet */
	assert_int_equal(jn_cstate_record_ack(f->cs, 9, 99), -JN_ENOTFOUND);
	struct jn_consumer_state s = load(f);
	assert_int_equal(s.delivered_cseq, 5);
	assert_int_equal(s.delivered_sseq, 14);
	assert_int_equal(s.npending, 0);
	jn_consumer_state_fini(&s);
}

static void test_ack_all(void **state)
{
	struct fx *f = *state;
	copen(f, JN_CS_ACK_ALL, -1);
	for (uint64_t i = 1; i <= 5; i++)
		assert_int_equal(jn_cstate_record_deliver(f->cs, i, i, 1, 1), 0);
	assert_int_equal(jn_cstate_record_ack(f->cs, 3, 3), 0);
	floor_is(f, 3, 3);
	assert_int_equal(jn_cstate_num_pending(f->cs), 2);
	assert_false(jn_cstate_pending_get(f->cs, 1, NULL));
	assert_true(jn_cstate_pending_get(f->cs, 4, NULL));
	creopen(f, JN_CS_ACK_ALL, -1);
	floor_is(f, 3, 3);
	assert_int_equal(jn_cstate_num_pending(f->cs), 2);
}

static void test_ack_none(void **state)
{
	struct fx *f = *state;
	copen(f, JN_CS_ACK_NONE, -1);
	assert_int_equal(jn_cstate_record_deliver(f->cs, 1, 7, 1, 1), 0);
	assert_int_equal(jn_cstate_record_deliver(f->cs, 2, 9, 1, 1), 0);
	floor_is(f, 2, 9);
	assert_int_equal(jn_cstate_num_pending(f->cs), 0);
	assert_int_equal(jn_cstate_record_deliver(f->cs, 3, 9, 2, 1), -JN_EINVAL);
	assert_int_equal(jn_cstate_record_ack(f->cs, 2, 9), -JN_EINVAL);
	creopen(f, JN_CS_ACK_NONE, -1);
	floor_is(f, 2, 9);
}

static void test_redelivery(void **state)
{
	struct fx *f = *state;
	copen(f, JN_CS_ACK_EXPLICIT, 3);
	assert_int_equal(jn_cstate_record_deliver(f->cs, 1, 1, 1, 100), 0);
	assert_int_equal(jn_cstate_record_deliver(f->cs, 2, 2, 1, 150), 0);
	assert_int_equal(jn_cstate_record_deliver(f->cs, 3, 1, 2, 200), 0);
	struct jn_cs_pending p;
	assert_true(jn_cstate_pending_get(f->cs, 1, &p));
	assert_int_equal(p.cseq, 1);     /* the first delivery's consumer seq */
	assert_int_equal(p.ts, 200);     /* the latest delivery's time */
	assert_int_equal(jn_cstate_num_redelivered(f->cs), 1);
	assert_int_equal(jn_cstate_record_deliver(f->cs, 4, 1, 3, 300), 0);
	struct jn_consumer_state s = load(f);
	assert_int_equal(s.nredelivered, 1);
	assert_int_equal(s.redelivered[0].sseq, 1);
	assert_int_equal(s.redelivered[0].count, 2);
	jn_consumer_state_fini(&s);
	/* past max_deliver: no longer pending */
	assert_int_equal(jn_cstate_record_deliver(f->cs, 5, 1, 4, 400), 0);
	assert_false(jn_cstate_pending_get(f->cs, 1, NULL));
	creopen(f, JN_CS_ACK_EXPLICIT, 100);   /* replay ignores today's max_deliver */
	assert_false(jn_cstate_pending_get(f->cs, 1, NULL));
	assert_int_equal(jn_cstate_num_redelivered(f->cs), 1);
	/* acking clears the redelivery count */
	assert_int_equal(jn_cstate_record_ack(f->cs, 2, 2), 0);
	floor_is(f, 5, 2);   /* nothing pending: the floor is what was delivered */
	/* a late ack of the dropped message: at the floor, quiet, count gone */
	assert_int_equal(jn_cstate_record_ack(f->cs, 5, 1), 0);
	assert_int_equal(jn_cstate_num_redelivered(f->cs), 0);
	assert_int_equal(jn_cstate_record_ack(f->cs, 6, 77), -JN_ENOTFOUND);
}

static void test_floor_and_starting(void **state)
{
	struct fx *f = *state;
	copen(f, JN_CS_ACK_EXPLICIT, -1);
	assert_int_equal(jn_cstate_set_starting(f->cs, 41), 0);
	struct jn_consumer_state s = load(f);
	assert_int_equal(s.delivered_sseq, 41);
	assert_int_equal(s.ack_floor_sseq, 41);
	jn_consumer_state_fini(&s);
	for (uint64_t i = 1; i <= 6; i++)
		assert_int_equal(jn_cstate_record_deliver(f->cs, i, 41 + i, i % 2 ? 1 : 2, 5), 0);
	assert_int_equal(jn_cstate_record_ack_floor(f->cs, 4, 45), 0);
	assert_int_equal(jn_cstate_num_pending(f->cs), 2);
	assert_int_equal(jn_cstate_num_redelivered(f->cs), 1);   /* 46 */
	creopen(f, JN_CS_ACK_EXPLICIT, -1);
	floor_is(f, 4, 45);
	assert_int_equal(jn_cstate_num_pending(f->cs), 2);
	assert_int_equal(jn_cstate_num_redelivered(f->cs), 1);
}

/* ---- persistence ---- */

static void random_ops(struct fx *f, unsigned *rnd, int n, uint64_t *cseq, uint64_t *sseq)
{
	for (int i = 0; i < n; i++) {
		unsigned op = (unsigned)rand_r(rnd) % 10;
		if (op < 5) {
			++*cseq;
			++*sseq;
			assert_int_equal(jn_cstate_record_deliver(f->cs, *cseq, *sseq, 1, rand_r(rnd)), 0);
		} else if (op < 6 && *sseq) {
			/* redeliver something */
			uint64_t s = 1 + (uint64_t)rand_r(rnd) % *sseq;
			++*cseq;
			jn_cstate_record_deliver(f->cs, *cseq, s, 2 + (uint64_t)rand_r(rnd) % 3, rand_r(rnd));
		} else if (*sseq) {
			uint64_t s = 1 + (uint64_t)rand_r(rnd) % *sseq;
			struct jn_cs_pending p;
			if (jn_cstate_pending_get(f->cs, s, &p))
				assert_int_equal(jn_cstate_record_ack(f->cs, p.cseq, s), 0);
		}
	}
}

static void test_replay(void **state)
{
	struct fx *f = *state;
	copen(f, JN_CS_ACK_EXPLICIT, 4);
	assert_int_equal(jn_cstate_set_config(f->cs, "{\"durable_name\":\"C1\"}", 21), 0);
	unsigned rnd = 5;
	uint64_t c = 0, s = 0;
	random_ops(f, &rnd, 500, &c, &s);
	struct jn_consumer_state a = load(f);
	assert_true(a.npending > 10);
	assert_true(a.nredelivered > 0);
	creopen(f, JN_CS_ACK_EXPLICIT, 4);
	struct jn_consumer_state b = load(f);
	assert_state_equal(&a, &b);
	assert_string_equal(b.config, "{\"durable_name\":\"C1\"}");
	jn_consumer_state_fini(&a);
	jn_consumer_state_fini(&b);
	/* an explicit snapshot is one record and replays the same */
	assert_int_equal(jn_cstate_snapshot(f->cs), 0);
	uint64_t snap = jn_cstate_file_size(f->cs);
	struct stat sb;
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal((uint64_t)sb.st_size, snap);
	a = load(f);
	creopen(f, JN_CS_ACK_EXPLICIT, 4);
	b = load(f);
	assert_state_equal(&a, &b);
	jn_consumer_state_fini(&a);
	jn_consumer_state_fini(&b);
}

static void test_compaction(void **state)
{
	struct fx *f = *state;
	copen(f, JN_CS_ACK_EXPLICIT, -1);
	uint64_t written = 0, maxsize = 0;
	/* a steady stream: deliver, ack a little later; pending stays ~50 */
	for (uint64_t i = 1; i <= 30000; i++) {
		uint64_t before = jn_cstate_file_size(f->cs);
		assert_int_equal(jn_cstate_record_deliver(f->cs, i, i, 1, (int64_t)i), 0);
		if (i > 50)
			assert_int_equal(jn_cstate_record_ack(f->cs, i - 50, i - 50), 0);
		uint64_t after = jn_cstate_file_size(f->cs);
		if (after > before)
			written += after - before;
		if (after > maxsize)
			maxsize = after;
	}
	assert_true(written > 300000);          /* the log really was long... */
	assert_true(maxsize < 200000);          /* ...but the file stayed small */
	struct jn_consumer_state a = load(f);
	assert_int_equal(a.npending, 50);
	assert_int_equal(a.ack_floor_sseq, 29950);
	creopen(f, JN_CS_ACK_EXPLICIT, -1);
	struct jn_consumer_state b = load(f);
	assert_state_equal(&a, &b);
	jn_consumer_state_fini(&a);
	jn_consumer_state_fini(&b);
	char tmp[140];
	snprintf(tmp, sizeof tmp, "%s.tmp", f->path);
	assert_int_equal(access(tmp, F_OK), -1);
}

static void copy_file(const char *from, const char *to)
{
	char *d;
	size_t n;
	assert_int_equal(jn_file_read_all(from, &d, &n), 0);
	FILE *fp = fopen(to, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(d, 1, n, fp), n);
	fclose(fp);
	jn_free(d);
}

static void test_torn_tail(void **state)
{
	struct fx *f = *state;
	copen(f, JN_CS_ACK_EXPLICIT, 5);
	enum { N = 60 };
	struct jn_consumer_state states[N + 1];
	uint64_t sizes[N + 1];
	states[0] = load(f);
	sizes[0] = jn_cstate_file_size(f->cs);
	unsigned rnd = 77;
	uint64_t c = 0, s = 0;
	for (int i = 1; i <= N; i++) {
		uint64_t before = jn_cstate_file_size(f->cs);
		do
			random_ops(f, &rnd, 1, &c, &s);
		while (jn_cstate_file_size(f->cs) == before);   /* one record per step */
		states[i] = load(f);
		sizes[i] = jn_cstate_file_size(f->cs);
	}
	jn_cstate_free(f->cs);
	f->cs = NULL;
	char saved[160];
	snprintf(saved, sizeof saved, "%s/saved", f->dir);
	copy_file(f->path, saved);
	for (int t = 0; t < 40; t++) {
		copy_file(saved, f->path);
		int k = 1 + rand_r(&rnd) % N;   /* damage record k */
		off_t off = (off_t)sizes[k - 1] + (off_t)((unsigned)rand_r(&rnd) % (sizes[k] - sizes[k - 1]));
		if (t % 2) {
			assert_int_equal(truncate(f->path, off), 0);
		} else {
			int fd = open(f->path, O_RDWR);
			uint8_t b;
			assert_int_equal(pread(fd, &b, 1, off), 1);
			b ^= 0x21;
			assert_int_equal(pwrite(fd, &b, 1, off), 1);
			close(fd);
		}
		copen(f, JN_CS_ACK_EXPLICIT, 5);
		struct jn_consumer_state got = load(f);
		assert_state_equal(&got, &states[k - 1]);
		jn_consumer_state_fini(&got);
		assert_int_equal(jn_cstate_file_size(f->cs), sizes[k - 1]);
		/* and it goes on from there */
		assert_int_equal(jn_cstate_record_deliver(f->cs, 1000, 1000, 1, 1), 0);
		creopen(f, JN_CS_ACK_EXPLICIT, 5);
		assert_true(jn_cstate_pending_get(f->cs, 1000, NULL));
		jn_cstate_free(f->cs);
		f->cs = NULL;
	}
	for (int i = 0; i <= N; i++)
		jn_consumer_state_fini(&states[i]);
}

static void test_damaged_snapshot(void **state)
{
	struct fx *f = *state;
	copen(f, JN_CS_ACK_EXPLICIT, -1);
	assert_int_equal(jn_cstate_record_deliver(f->cs, 1, 1, 1, 1), 0);
	jn_cstate_free(f->cs);
	f->cs = NULL;
	int fd = open(f->path, O_RDWR);
	uint8_t b = 0xff;
	assert_int_equal(pwrite(fd, &b, 1, 9), 1);   /* inside the snapshot */
	close(fd);
	struct jn_cstate *cs;
	assert_int_equal(jn_cstate_open(f->cdir, JN_CS_ACK_EXPLICIT, -1, &cs), -JN_EIO);
}

static void test_stray_tmp_and_delete(void **state)
{
	struct fx *f = *state;
	copen(f, JN_CS_ACK_EXPLICIT, -1);
	assert_int_equal(jn_cstate_record_deliver(f->cs, 1, 1, 1, 1), 0);
	jn_cstate_free(f->cs);
	f->cs = NULL;
	/* a compaction that crashed before its rename */
	char tmp[140];
	snprintf(tmp, sizeof tmp, "%s.tmp", f->path);
	FILE *fp = fopen(tmp, "wb");
	fputs("garbage", fp);
	fclose(fp);
	copen(f, JN_CS_ACK_EXPLICIT, -1);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_true(jn_cstate_pending_get(f->cs, 1, NULL));
	assert_int_equal(jn_cstate_delete(f->cs), 0);
	f->cs = NULL;
	assert_int_equal(access(f->cdir, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_atomic_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explicit_acks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redelivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_floor_and_starting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stray_tmp_and_delete, setup, teardown),
	};
	jn_log_set_level(JN_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
