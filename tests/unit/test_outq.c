/*
 * test_outq.c - the outbound queue: byte order across many appends and
 * partial writes, the kick protocol (once per scheduling, including appends
 * made while a drain is inside its syscall), the slow-consumer limit,
 * close, the block pool, idle queues holding no block, and 4 appender
 * threads against one drainer with every byte checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/outq.h"

/* ---- helpers ----------------------------------------------------------- */

struct kicker {
	pthread_mutex_t m;
	pthread_cond_t c;
	int kicks;
	bool kicked;
};

static void kick_count(struct jn_outq *q, void *arg)
{
	struct kicker *k = arg;
	(void)q;
	pthread_mutex_lock(&k->m);
	k->kicks++;
	k->kicked = true;
	pthread_cond_signal(&k->c);
	pthread_mutex_unlock(&k->m);
}

static void kicker_init(struct kicker *k)
{
	pthread_mutex_init(&k->m, NULL);
	pthread_cond_init(&k->c, NULL);
	k->kicks = 0;
	k->kicked = false;
}

static int kicks(struct kicker *k)
{
	pthread_mutex_lock(&k->m);
	int n = k->kicks;
	pthread_mutex_unlock(&k->m);
	return n;
}

/* sv[0] writes (small send buffer if sndbuf > 0), sv[1] reads, non-blocking. */
static void make_pair(int sv[2], int sndbuf)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (sndbuf > 0)
		assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
	int fl = fcntl(sv[1], F_GETFL);
	assert_int_equal(fcntl(sv[1], F_SETFL, fl | O_NONBLOCK), 0);
}

/* Reads whatever is available into out (up to cap), returns bytes read. */
static size_t read_avail(int fd, uint8_t *out, size_t cap)
{
	size_t got = 0;
	while (got < cap) {
		ssize_t r = read(fd, out + got, cap - got);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		break;
	}
	return got;
}

/* A deterministic byte stream: byte i of the whole conversation. */
static uint8_t stream_byte(uint64_t i)
{
	uint64_t x = i * 0x9E3779B97F4A7C15ull;
	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 17));
}

static void fill_stream(uint8_t *p, uint64_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = stream_byte(off + i);
}

static bool chain_empty(struct jn_outq *q)
{
	pthread_mutex_lock(&q->lock);
	bool e = !q->head && !q->tail;
	pthread_mutex_unlock(&q->lock);
	return e;
}

/* ---- tests ------------------------------------------------------------- */

static void test_append_drain_kick_once(void **state)
{
	(void)state;
	struct kicker k;
	kicker_init(&k);
	struct jn_outq q;
	jn_outq_init(&q, 0, kick_count, &k);
	int sv[2];
	make_pair(sv, 0);

	const char *msgs[] = { "MSG a 1 2\r\n", "hi", "\r\n", "PONG\r\n" };
	size_t total = 0;
	for (int i = 0; i < 10; i++) {
		struct iovec iov[4];
		for (int j = 0; j < 4; j++) {
			iov[j].iov_base = (void *)msgs[j];
			iov[j].iov_len = strlen(msgs[j]);
			total += iov[j].iov_len;
		}
		assert_int_equal(jn_outq_append(&q, iov, 4, true), 0);
	}
	assert_int_equal(kicks(&k), 1);          /* one kick for the batch */
	assert_int_equal(jn_outq_pending(&q), total);
	assert_true(q.scheduled);

	assert_int_equal(jn_outq_drain(&q, sv[0]), 0);
	assert_false(q.scheduled);
	assert_true(chain_empty(&q));
	uint8_t buf[1024];
	size_t got = read_avail(sv[1], buf, sizeof buf);
	assert_int_equal(got, total);
	size_t off = 0;
	for (int i = 0; i < 10; i++)
		for (int j = 0; j < 4; j++) {
			assert_memory_equal(buf + off, msgs[j], strlen(msgs[j]));
			off += strlen(msgs[j]);
		}
	assert_int_equal(atomic_load(&q.msgs_out), 10);
	assert_int_equal(atomic_load(&q.bytes_out), total);

	/* Drained: the next append kicks again, exactly once. */
	struct iovec one = { (void *)"x", 1 };
	assert_int_equal(jn_outq_append(&q, &one, 1, false), 0);
	assert_int_equal(jn_outq_append(&q, &one, 1, false), 0);
	assert_int_equal(kicks(&k), 2);
	assert_int_equal(atomic_load(&q.msgs_out), 10);
	/* An empty append is accepted and neither kicks nor queues. */
	assert_int_equal(jn_outq_drain(&q, sv[0]), 0);
	assert_int_equal(jn_outq_append(&q, NULL, 0, true), 0);
	assert_int_equal(kicks(&k), 2);
	assert_int_equal(atomic_load(&q.msgs_out), 11);
	assert_true(chain_empty(&q));
	/* Draining an empty queue is fine. */
	assert_int_equal(jn_outq_drain(&q, sv[0]), 0);

	jn_outq_fini(&q);
	close(sv[0]);
	close(sv[1]);
}

/* Many appends of odd sizes (some spanning several blocks), drains that
 * the socket only partly takes, reads at irregular times: the receiver must
 * see exactly the appended stream, in order. */
static void test_order_partial_writes(void **state)
{
	(void)state;
	struct kicker k;
	kicker_init(&k);
	struct jn_outq q;
	jn_outq_init(&q, 0, kick_count, &k);
	int sv[2];
	make_pair(sv, 4096);

	const uint64_t target = 8u << 20;   /* 8 MiB through the queue */
	uint64_t appended = 0, received = 0;
	uint32_t seed = 7;
	int partial = 0, drains = 0;
	uint8_t *chunk = malloc(3 * JN_OUTQ_BLOCK + 100);
	uint8_t *rbuf = malloc(1 << 16);
	uint8_t *want = malloc(1 << 16);
	assert_non_null(chunk);
	assert_non_null(rbuf);
	assert_non_null(want);
	int kicks_before_drain = kicks(&k);

	while (received < target) {
		seed = seed * 1103515245u + 12345u;
		int napp = appended < target ? (int)((seed >> 16) % 5) : 0;
		for (int a = 0; a < napp && appended < target; a++) {
			seed = seed * 1103515245u + 12345u;
			size_t n;
			switch ((seed >> 8) % 4) {
			case 0: n = 1 + (seed >> 12) % 16; break;
			case 1: n = 1 + (seed >> 12) % 2000; break;
			case 2: n = JN_OUTQ_BLOCK - 3 + (seed >> 12) % 7; break;
			default: n = 1 + (seed >> 12) % (3 * JN_OUTQ_BLOCK + 100); break;
			}
			if (n > target - appended)
				n = (size_t)(target - appended);
			fill_stream(chunk, appended, n);
			/* Split into up to 3 iovecs to exercise gathering. */
			struct iovec iov[3];
			size_t c1 = n / 3, c2 = n / 2;
			iov[0] = (struct iovec){ chunk, c1 };
			iov[1] = (struct iovec){ chunk + c1, c2 - c1 };
			iov[2] = (struct iovec){ chunk + c2, n - c2 };
			assert_int_equal(jn_outq_append(&q, iov, 3, true), 0);
			appended += n;
		}
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 10) % 3 != 0 || appended == target) {
			long r = jn_outq_drain(&q, sv[0]);
			assert_true(r >= 0);
			drains++;
			if (r > 0)
				partial++;
			assert_int_equal((size_t)r, jn_outq_pending(&q));
			/* pending = appended - written, and nothing else */
			assert_int_equal((uint64_t)r, appended - atomic_load(&q.bytes_out));
		}
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 12) % 4 != 0 || appended == target) {
			size_t got = read_avail(sv[1], rbuf, 1 << 16);
			fill_stream(want, received, got);
			assert_memory_equal(rbuf, want, got);
			received += got;
		}
		assert_true(received <= appended);
	}
	assert_true(partial > 10);      /* the socket really pushed back */
	assert_true(drains > 10);
	assert_int_equal(jn_outq_pending(&q), 0);
	assert_true(chain_empty(&q));
	assert_int_equal(atomic_load(&q.bytes_out), target);
	/* Kicks: at most one per drain (plus the first). */
	assert_true(kicks(&k) - kicks_before_drain <= drains + 1);
	assert_true(kicks(&k) >= 2);

	free(chunk);
	free(rbuf);
	free(want);
	jn_outq_fini(&q);
	close(sv[0]);
	close(sv[1]);
}

/* A partial drain leaves bytes pending and clears `scheduled`: the next
 * append kicks again, and its bytes come after the remainder. */
static void test_partial_then_append(void **state)
{
	(void)state;
	struct kicker k;
	kicker_init(&k);
	struct jn_outq q;
	jn_outq_init(&q, 0, kick_count, &k);
	int sv[2];
	make_pair(sv, 4096);

	size_t n1 = 4 * JN_OUTQ_BLOCK + 123;
	uint8_t *a = malloc(n1);
	fill_stream(a, 0, n1);
	struct iovec iov = { a, n1 };
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), 0);
	assert_int_equal(kicks(&k), 1);
	long r = jn_outq_drain(&q, sv[0]);
	assert_true(r > 0 && (size_t)r < n1);
	assert_false(q.scheduled);

	uint8_t b[5000];
	fill_stream(b, n1, sizeof b);
	iov = (struct iovec){ b, sizeof b };
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), 0);
	assert_int_equal(kicks(&k), 2);
	assert_int_equal(jn_outq_pending(&q), (size_t)r + sizeof b);

	uint64_t received = 0, total = n1 + sizeof b;
	uint8_t rbuf[8192], want[8192];
	while (received < total) {
		r = jn_outq_drain(&q, sv[0]);
		assert_true(r >= 0);
		size_t got = read_avail(sv[1], rbuf, sizeof rbuf);
		fill_stream(want, received, got);
		assert_memory_equal(rbuf, want, got);
		received += got;
	}
	assert_true(chain_empty(&q));
	free(a);
	jn_outq_fini(&q);
	close(sv[0]);
	close(sv[1]);
}

/* An append made while a drain is blocked inside its write must kick (the
 * drain cleared `scheduled` when it took the chain) and its bytes must
 * follow the ones being written. A blocking pipe holds the drain in
 * writev() long enough to append deterministically. */
struct drain_arg {
	struct jn_outq *q;
	int fd;
	long ret;
};

static void *drain_thread(void *p)
{
	struct drain_arg *d = p;
	d->ret = jn_outq_drain(d->q, d->fd);
	return NULL;
}

static void test_append_during_drain(void **state)
{
	(void)state;
	struct kicker k;
	kicker_init(&k);
	struct jn_outq q;
	jn_outq_init(&q, 0, kick_count, &k);
	int p[2];
	assert_int_equal(pipe(p), 0);
	(void)fcntl(p[1], F_SETPIPE_SZ, 4096);

	size_t na = 3 * JN_OUTQ_BLOCK;
	uint8_t *a = malloc(na);
	fill_stream(a, 0, na);
	struct iovec iov = { a, na };
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), 0);
	assert_int_equal(kicks(&k), 1);

	struct drain_arg d = { &q, p[1], -99 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, drain_thread, &d), 0);
	/* Wait until the drain has taken the chain (scheduled cleared). */
	for (int i = 0; i < 2000; i++) {
		pthread_mutex_lock(&q.lock);
		bool taken = !q.scheduled && !q.head;
		pthread_mutex_unlock(&q.lock);
		if (taken)
			break;
		usleep(1000);
	}
	usleep(20000);   /* it is now blocked in writev on the full pipe */

	uint8_t b[100];
	fill_stream(b, na, sizeof b);
	iov = (struct iovec){ b, sizeof b };
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), 0);   /* not blocked */
	assert_int_equal(kicks(&k), 2);   /* kicked although a drain runs */
	assert_int_equal(jn_outq_pending(&q), na + sizeof b);

	/* Unblock the writer by reading the first na bytes. */
	uint8_t *rbuf = malloc(na + sizeof b);
	size_t got = 0;
	while (got < na) {
		ssize_t r = read(p[0], rbuf + got, na - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	pthread_join(t, NULL);
	assert_int_equal(d.ret, (long)sizeof b);   /* the later append is pending */
	assert_int_equal(jn_outq_drain(&q, p[1]), 0);
	while (got < na + sizeof b) {
		ssize_t r = read(p[0], rbuf + got, na + sizeof b - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	uint8_t *want = malloc(na + sizeof b);
	fill_stream(want, 0, na + sizeof b);
	assert_memory_equal(rbuf, want, na + sizeof b);
	assert_true(chain_empty(&q));
	assert_int_equal(kicks(&k), 2);

	free(a);
	free(rbuf);
	free(want);
	jn_outq_fini(&q);
	close(p[0]);
	close(p[1]);
}

/* Same, but the drain ends with a partial write: its remainder must go back
 * in front of the bytes appended while it was writing. The pipe's reader
 * is closed while the writer is blocked, so writev() returns the partial
 * count (SIGPIPE is ignored for this test). */
static void test_partial_remainder_before_concurrent_append(void **state)
{
	(void)state;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigaction(SIGPIPE, &ign, &old);
	struct kicker k;
	kicker_init(&k);
	struct jn_outq q;
	jn_outq_init(&q, 0, kick_count, &k);
	int p[2];
	assert_int_equal(pipe(p), 0);
	(void)fcntl(p[1], F_SETPIPE_SZ, 4096);

	size_t na = 3 * JN_OUTQ_BLOCK + 77;
	uint8_t *a = malloc(na);
	fill_stream(a, 0, na);
	struct iovec iov = { a, na };
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), 0);

	struct drain_arg d = { &q, p[1], -99 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, drain_thread, &d), 0);
	for (int i = 0; i < 2000; i++) {
		pthread_mutex_lock(&q.lock);
		bool taken = !q.scheduled && !q.head;
		pthread_mutex_unlock(&q.lock);
		if (taken)
			break;
		usleep(1000);
	}
	usleep(20000);
	uint8_t b[100];
	fill_stream(b, na, sizeof b);
	iov = (struct iovec){ b, sizeof b };
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), 0);
	assert_int_equal(kicks(&k), 2);
	close(p[0]);                       /* writer returns what it wrote */
	pthread_join(t, NULL);
	uint64_t written = atomic_load(&q.bytes_out);
	assert_true(written > 0 && written < na);
	assert_int_equal(d.ret, (long)(na + sizeof b - written));

	/* Whatever is left goes out in stream order to a fresh socket. */
	int sv[2];
	make_pair(sv, 0);
	int big = 1 << 20;
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	size_t rest = na + sizeof b - (size_t)written;
	uint8_t *rbuf = malloc(rest), *want = malloc(rest);
	size_t got = 0;
	while (got < rest) {
		assert_true(jn_outq_drain(&q, sv[0]) >= 0);
		got += read_avail(sv[1], rbuf + got, rest - got);
	}
	fill_stream(want, written, rest);
	assert_memory_equal(rbuf, want, rest);
	assert_true(chain_empty(&q));

	free(a);
	free(rbuf);
	free(want);
	jn_outq_fini(&q);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	sigaction(SIGPIPE, &old, NULL);
}

static void test_limit_slow(void **state)
{
	(void)state;
	struct kicker k;
	kicker_init(&k);
	struct jn_outq q;
	jn_outq_init(&q, 1000, kick_count, &k);
	uint8_t data[1000];
	memset(data, 'x', sizeof data);

	struct iovec iov = { data, 600 };
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), 0);
	assert_int_equal(kicks(&k), 1);
	/* 600 + 300 + 100 = exactly the limit: allowed. */
	struct iovec two[2] = { { data, 300 }, { data, 100 } };
	assert_int_equal(jn_outq_append(&q, two, 2, true), 0);
	assert_int_equal(jn_outq_pending(&q), 1000);
	assert_false(q.slow);
	assert_int_equal(kicks(&k), 1);

	/* One byte more: refused whole, slow, one kick. */
	iov.iov_len = 1;
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), -JN_ESLOW);
	assert_true(q.slow);
	assert_int_equal(kicks(&k), 2);
	assert_int_equal(jn_outq_pending(&q), 1000);
	assert_int_equal(atomic_load(&q.msgs_out), 2);
	/* Later appends are refused without further kicks. */
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), -JN_ESLOW);
	assert_int_equal(kicks(&k), 2);
	jn_outq_fini(&q);

	/* A multi-iovec append over the limit leaves nothing behind. */
	jn_outq_init(&q, 1000, kick_count, &k);
	struct iovec big[3] = { { data, 400 }, { data, 400 }, { data, 201 } };
	assert_int_equal(jn_outq_append(&q, big, 3, true), -JN_ESLOW);
	assert_int_equal(jn_outq_pending(&q), 0);
	assert_true(chain_empty(&q));
	assert_int_equal(atomic_load(&q.msgs_out), 0);
	assert_int_equal(kicks(&k), 3);   /* the slow kick */
	jn_outq_fini(&q);

	/* Draining below the limit lets appends through again until slow. */
	int sv[2];
	make_pair(sv, 0);
	jn_outq_init(&q, 1000, kick_count, &k);
	iov.iov_len = 1000;
	assert_int_equal(jn_outq_append(&q, &iov, 1, false), 0);
	assert_int_equal(jn_outq_drain(&q, sv[0]), 0);
	assert_int_equal(jn_outq_append(&q, &iov, 1, false), 0);
	assert_false(q.slow);
	jn_outq_fini(&q);
	close(sv[0]);
	close(sv[1]);
}

static void test_close(void **state)
{
	(void)state;
	struct kicker k;
	kicker_init(&k);
	struct jn_outq q;
	jn_outq_pool_trim();
	jn_outq_init(&q, 0, kick_count, &k);
	uint8_t *d = calloc(1, 2 * JN_OUTQ_BLOCK);
	struct iovec iov = { d, 2 * JN_OUTQ_BLOCK };
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), 0);
	assert_int_equal(jn_outq_pool_blocks_free(), 0);
	jn_outq_close(&q);
	assert_int_equal(jn_outq_pending(&q), 0);
	assert_true(chain_empty(&q));
	assert_int_equal(jn_outq_pool_blocks_free(), 2);   /* blocks went back */
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), -JN_ECLOSED);
	assert_int_equal(jn_outq_pending(&q), 0);
	int sv[2];
	make_pair(sv, 0);
	assert_int_equal(jn_outq_drain(&q, sv[0]), 0);
	uint8_t b[16];
	assert_int_equal(read_avail(sv[1], b, sizeof b), 0);   /* nothing sent */
	jn_outq_close(&q);   /* twice is fine */
	jn_outq_fini(&q);
	free(d);
	close(sv[0]);
	close(sv[1]);
}

/* Blocks come from the pool and go back to it; an idle queue holds none. */
static void test_pool_reuse_idle(void **state)
{
	(void)state;
	jn_outq_pool_trim();
	assert_int_equal(jn_outq_pool_blocks_free(), 0);
	size_t allocs0 = jn_mem_allocs(), used0 = jn_mem_used();

	struct kicker k;
	kicker_init(&k);
	struct jn_outq q;
	jn_outq_init(&q, 0, kick_count, &k);
	assert_true(chain_empty(&q));
	int sv[2];
	make_pair(sv, 0);
	int big = 1 << 20;
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);

	uint8_t *d = calloc(1, 3 * JN_OUTQ_BLOCK);
	struct iovec iov = { d, 3 * JN_OUTQ_BLOCK };
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), 0);
	assert_int_equal(jn_mem_allocs(), allocs0 + 3);   /* exactly 3 blocks */
	assert_int_equal(jn_outq_drain(&q, sv[0]), 0);
	assert_true(chain_empty(&q));                      /* idle: no block */
	assert_int_equal(jn_outq_pool_blocks_free(), 3);
	uint8_t *rb = malloc(3 * JN_OUTQ_BLOCK);
	assert_int_equal(read_avail(sv[1], rb, 3 * JN_OUTQ_BLOCK), 3 * JN_OUTQ_BLOCK);

	/* Reuse: no new allocation for the next two blocks. */
	iov.iov_len = 2 * JN_OUTQ_BLOCK;
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), 0);
	assert_int_equal(jn_outq_pool_blocks_free(), 1);
	assert_int_equal(jn_mem_allocs(), allocs0 + 3);
	assert_int_equal(jn_outq_drain(&q, sv[0]), 0);
	assert_int_equal(jn_outq_pool_blocks_free(), 3);
	assert_true(chain_empty(&q));
	(void)read_avail(sv[1], rb, 3 * JN_OUTQ_BLOCK);

	/* A small message fits the free space of the current tail. */
	struct iovec s1 = { d, 10 };
	assert_int_equal(jn_outq_append(&q, &s1, 1, true), 0);
	assert_int_equal(jn_outq_append(&q, &s1, 1, true), 0);
	assert_int_equal(jn_outq_pool_blocks_free(), 2);   /* one block for both */
	jn_outq_fini(&q);
	assert_int_equal(jn_outq_pool_blocks_free(), 3);

	jn_outq_pool_trim();
	assert_int_equal(jn_outq_pool_blocks_free(), 0);
	assert_int_equal(jn_mem_allocs(), allocs0);
	assert_int_equal(jn_mem_used(), used0);
	free(d);
	free(rb);
	close(sv[0]);
	close(sv[1]);
}

static void test_io_errors_and_pipes(void **state)
{
	(void)state;
	struct jn_outq q;
	jn_outq_init(&q, 0, NULL, NULL);   /* no kick callback is fine */
	int sv[2];
	make_pair(sv, 0);
	close(sv[1]);
	struct iovec iov = { (void *)"hello", 5 };
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), 0);
	/* EPIPE must come back as -JN_EIO, not as a SIGPIPE. */
	assert_int_equal(jn_outq_drain(&q, sv[0]), -JN_EIO);
	assert_int_equal(jn_outq_pending(&q), 5);   /* kept for the owner to drop */
	close(sv[0]);
	assert_int_equal(jn_outq_drain(&q, 12345), -JN_EIO);   /* bad fd */
	jn_outq_fini(&q);

	/* Not a socket: a pipe works through writev. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	jn_outq_init(&q, 0, NULL, NULL);
	assert_int_equal(jn_outq_append(&q, &iov, 1, true), 0);
	assert_int_equal(jn_outq_drain(&q, p[1]), 0);
	char b[8] = { 0 };
	assert_int_equal(read(p[0], b, sizeof b), 5);
	assert_string_equal(b, "hello");
	jn_outq_fini(&q);
	close(p[0]);
	close(p[1]);
}

/* ---- 4 appenders, 1 drainer, 1 reader ----------------------------------
 * Record: [u8 tid][u32 seq][u16 len][len bytes of stream_byte(tid*1e9+seq+i)].
 * The drainer drains only when kicked, or while the socket pushes back
 * (pending > 0, wait for POLLOUT): a lost kick leaves bytes behind and the
 * test times out. */

#define MT_THREADS 4
#define MT_RECORDS 20000

struct mt {
	struct jn_outq q;
	struct kicker k;
	int sv[2];
	bool stop;
	int drains;
	uint64_t records_ok;
	bool reader_failed;
	char fail_msg[128];
};

struct appender_arg {
	struct mt *mt;
	uint8_t tid;
};

static void *appender(void *p)
{
	struct appender_arg *a = p;
	uint8_t rec[7 + 1024];
	uint32_t seed = a->tid * 7919u + 1;
	for (uint32_t seq = 0; seq < MT_RECORDS; seq++) {
		seed = seed * 1103515245u + 12345u;
		uint16_t len = (uint16_t)((seed >> 16) % 1024);
		rec[0] = a->tid;
		memcpy(rec + 1, &seq, 4);
		memcpy(rec + 5, &len, 2);
		for (uint16_t i = 0; i < len; i++)
			rec[7 + i] = stream_byte((uint64_t)a->tid * 1000000000ull + seq + i);
		/* Two iovecs: header and body, appended as one unit. */
		struct iovec iov[2] = { { rec, 7 }, { rec + 7, len } };
		int rc = jn_outq_append(&a->mt->q, iov, 2, true);
		if (rc != 0)
			abort();
	}
	return NULL;
}

static void *drainer(void *p)
{
	struct mt *mt = p;
	bool need_out = false;
	for (;;) {
		pthread_mutex_lock(&mt->k.m);
		while (!mt->k.kicked && !need_out && !mt->stop)
			pthread_cond_wait(&mt->k.c, &mt->k.m);
		if (mt->stop && !mt->k.kicked && !need_out) {
			pthread_mutex_unlock(&mt->k.m);
			break;
		}
		mt->k.kicked = false;
		pthread_mutex_unlock(&mt->k.m);
		long r = jn_outq_drain(&mt->q, mt->sv[0]);
		mt->drains++;
		if (r < 0)
			abort();
		need_out = r > 0;
		if (need_out) {
			struct pollfd pfd = { .fd = mt->sv[0], .events = POLLOUT };
			(void)poll(&pfd, 1, 100);
		}
	}
	return NULL;
}

static void *reader(void *p)
{
	struct mt *mt = p;
	uint32_t next[MT_THREADS] = { 0 };
	uint8_t *buf = malloc(1 << 16);
	size_t have = 0;
	uint64_t want = (uint64_t)MT_THREADS * MT_RECORDS;
	while (mt->records_ok < want) {
		struct pollfd pfd = { .fd = mt->sv[1], .events = POLLIN };
		if (poll(&pfd, 1, 60000) <= 0) {
			snprintf(mt->fail_msg, sizeof mt->fail_msg,
			         "reader starved after %llu records",
			         (unsigned long long)mt->records_ok);
			mt->reader_failed = true;
			break;
		}
		ssize_t r = read(mt->sv[1], buf + have, (1 << 16) - have);
		if (r <= 0) {
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			mt->reader_failed = true;
			snprintf(mt->fail_msg, sizeof mt->fail_msg, "read failed");
			break;
		}
		have += (size_t)r;
		size_t off = 0;
		while (have - off >= 7) {
			uint8_t tid = buf[off];
			uint32_t seq;
			uint16_t len;
			memcpy(&seq, buf + off + 1, 4);
			memcpy(&len, buf + off + 5, 2);
			if (have - off < 7u + len)
				break;
			bool ok = tid < MT_THREADS && seq == next[tid];
			for (uint16_t i = 0; ok && i < len; i++)
				ok = buf[off + 7 + i] ==
				     stream_byte((uint64_t)tid * 1000000000ull + seq + i);
			if (!ok) {
				snprintf(mt->fail_msg, sizeof mt->fail_msg,
				         "bad record tid %u seq %u (want %u)", tid, seq,
				         tid < MT_THREADS ? next[tid] : 0);
				mt->reader_failed = true;
				free(buf);
				return NULL;
			}
			next[tid]++;
			mt->records_ok++;
			off += 7u + len;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	free(buf);
	return NULL;
}

static void test_multithreaded(void **state)
{
	(void)state;
	struct mt *mt = calloc(1, sizeof *mt);
	kicker_init(&mt->k);
	jn_outq_init(&mt->q, 0, kick_count, &mt->k);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, mt->sv), 0);
	int sndbuf = 16384;
	(void)setsockopt(mt->sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

	pthread_t d, r, a[MT_THREADS];
	struct appender_arg args[MT_THREADS];
	assert_int_equal(pthread_create(&r, NULL, reader, mt), 0);
	assert_int_equal(pthread_create(&d, NULL, drainer, mt), 0);
	for (int i = 0; i < MT_THREADS; i++) {
		args[i] = (struct appender_arg){ mt, (uint8_t)i };
		assert_int_equal(pthread_create(&a[i], NULL, appender, &args[i]), 0);
	}
	for (int i = 0; i < MT_THREADS; i++)
		pthread_join(a[i], NULL);
	pthread_join(r, NULL);
	pthread_mutex_lock(&mt->k.m);
	mt->stop = true;
	pthread_cond_signal(&mt->k.c);
	pthread_mutex_unlock(&mt->k.m);
	pthread_join(d, NULL);

	if (mt->reader_failed)
		fail_msg("%s", mt->fail_msg);
	assert_int_equal(mt->records_ok, (uint64_t)MT_THREADS * MT_RECORDS);
	assert_int_equal(jn_outq_pending(&mt->q), 0);
	assert_true(chain_empty(&mt->q));
	assert_int_equal(atomic_load(&mt->q.msgs_out), (uint64_t)MT_THREADS * MT_RECORDS);
	/* Each kick needs a drain since the previous one. */
	assert_true(kicks(&mt->k) <= mt->drains + 1);
	jn_outq_fini(&mt->q);
	close(mt->sv[0]);
	close(mt->sv[1]);
	free(mt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_drain_kick_once),
		cmocka_unit_test(test_order_partial_writes),
		cmocka_unit_test(test_partial_then_append),
		cmocka_unit_test(test_append_during_drain),
		cmocka_unit_test(test_partial_remainder_before_concurrent_append),
		cmocka_unit_test(test_limit_slow),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_pool_reuse_idle),
		cmocka_unit_test(test_io_errors_and_pipes),
		cmocka_unit_test(test_multithreaded),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	jn_outq_pool_trim();
	return rc;
}
