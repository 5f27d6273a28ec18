/*
 * filestore.c - the file backend of struct jn_store: durable, group-committed
 * message segments. Semantics (sequences, subjects, purge rules) are
 * store.c's; this file decides how bytes reach the disk and come back.
 *
 * FILES
 *
 *   <dir>/msgs/<N>.blk   segments; N (decimal) = last_seq + 1 when the
 *                        segment was created, so every message in it has
 *                        seq >= N and every message in an older segment
 *                        has seq < N. A segment named N also proves that
 *                        last_seq >= N - 1 (sequences survive a purge).
 *
 * The store holds an exclusive flock(2) on <dir>/msgs while open.
 *
 * RECORDS
 *
 * A segment is a sequence of records, all integers little-endian:
 *
 *    0  u32 len        whole record, header included (32 + slen + hlen + dlen)
 *    4  u32 crc        CRC-32C of bytes [0,4) then [8,len)
 *    8  u64 seq
 *   16  i64 ts         ns since the epoch
 *   24  u16 slen       subject length
 *   26  u8  kind       1 MSG, 2 DEL, 3 SKIP, 4 FLOOR
 *   27  u8  flags      0
 *   28  u32 hlen       header block length
 *   32  subject[slen] headers[hlen] payload[len - 32 - slen - hlen]
 *
 *   MSG    a message: seq, ts, subject (1..65535 bytes), headers, payload.
 *   DEL    tombstone: message `seq` is deleted. ts unused, no body.
 *   SKIP   sequence `seq` was used without a message (interest retention).
 *   FLOOR  every message with seq < `seq` is deleted, and last_seq >= seq-1;
 *          ts = last_ts at the time (purge, compact, expiry). No body.
 *
 * A record is valid iff len >= 32, it lies entirely inside the file, kind is
 * known, seq > 0, a MSG has 1 <= slen and 32 + slen + hlen <= len, any other
 * kind has len == 32, and the CRC matches. A zero len word means "no more
 * records" (a hole left by a crash between two out-of-order writes).
 *
 * Deletes are tombstones in the active segment rather than in-place edits:
 * a delete is one more sequential append, group-committed with everything
 * else, and no old segment is ever written again. The cost is that a
 * segment holding tombstones for older segments (`ext` below) can only be
 * unlinked after those tombstones are copied forward into the active
 * segment; likewise a FLOOR record is copied forward while older segments
 * still exist. Both are small, and only needed while the older segment has
 * not been unlinked durably.
 *
 * A segment whose messages are all deleted (and that is not the active one)
 * is unlinked once the records that deleted them are fsynced, followed by a
 * directory fsync; only then does it stop counting as "exists" for the
 * copy-forward rule. After a purge/compact/expiry that empties the active
 * segment of messages, a fresh segment is started so the old one can go.
 *
 * WRITES AND SYNC ORDER
 *
 * Appends are encoded into an in-memory write buffer (coalescing many small
 * records into one write), and space for them is reserved first with
 * fallocate(FALLOC_FL_KEEP_SIZE) in 1 MiB steps: an append that cannot get
 * disk space fails with -JN_ENOSPC before it takes a sequence, so a full
 * disk never leaves a half-written record or loses anything stored. Message
 * appends keep 64 KiB of reserved space spare that only deletes may use, so
 * deleting messages to free space works on a full disk. On a file system
 * without fallocate, every append is written through at once and a failed
 * write is rolled back by truncating the segment to its previous end.
 *
 * Group commit (JN_SYNC_ALWAYS): the first write after a sync round kicks
 * the store's syncer job (syncer.c). A round, under the store mutex, swaps
 * the write buffer out and notes the last seq and log position; then,
 * without the mutex (appends go on into a fresh buffer), it pwrite()s the
 * swapped buffer, fdatasync()s every segment written since the last round,
 * and fsyncs msgs/ if a segment was created. Then, under the mutex again,
 * everything up to the noted seq is durable: waiting callbacks whose seq is
 * covered are collected and called after unlocking, and segments whose
 * deleting records are now durable are unlinked (then msgs/ is fsynced).
 * Appends that arrive during a round are covered by the next round, so one
 * fsync serves every append queued while the previous one ran.
 *
 * JN_SYNC_INTERVAL: the same rounds write to the kernel promptly (so data
 * survives a process crash) but fsync only every sync_interval_ms;
 * durability callbacks fire at once, like nats-server's default.
 *
 * An fsync failure is not retried (after a failed fsync Linux may have
 * dropped the dirty pages): the store refuses further writes with that
 * error and fails pending callbacks; reopening recovers what is on disk.
 *
 * WHAT SURVIVES A CRASH
 *
 * Every message whose durability callback reported success, every delete
 * and purge fsynced before the crash, and last_seq. Appends not yet fsynced
 * may or may not be there, but what is there is a prefix of the append
 * order of each segment up to the first damaged record.
 *
 * RECOVERY (open)
 *
 * Segments are read in order of N and their records applied in order. In
 * the last segment, the first short, zero or invalid record ends the log:
 * the file is truncated there (a torn tail is cut, never a reason to refuse
 * to open). In an older segment an invalid record is reported with jn_warn
 * and skipped: the scan resumes after it if its length is plausible,
 * otherwise at the next offset where a valid record starts. Messages out of
 * their segment's range or not above last_seq are reported and skipped.
 * Then fully deleted segments are unlinked as above, every segment is
 * fsynced (what was recovered from the page cache becomes durable) and the
 * store continues appending to the last segment.
 *
 * READS
 *
 * Records still in the write buffer (or being written by the syncer) are
 * copied from memory: consumers reading the tail cost a memcpy. Others are
 * read with pread(2) on the segment (page cache): one syscall, no mapping
 * to maintain, no SIGBUS if a file shrinks, and CRC-checked on every read.
 * At most FD_CAP segment descriptors stay open; others are closed LRU.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <dirent.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/crc32c.h"
#include "core/err.h"
#include "core/router.h"
#include "core/filestore_hooks.h"
#include "core/log.h"
#include "core/store_impl.h"
#include "core/store_io.h"
#include "core/syncer.h"

#define REC_HDR 32
enum { R_MSG = 1, R_DEL = 2, R_SKIP = 3, R_FLOOR = 4 };

#define RESERVE_STEP (1u << 20)     /* fallocate granularity */
#define DELETE_SLACK (64u << 10)    /* reserved space only deletes may use */
#define WBUF_MIN (16u << 10)
#define WBUF_MAX (256u << 10)
#define FD_CAP 64
#define SEG_MIN (4u << 10)
#define SEG_MAX (1u << 30)

struct seg {
	uint64_t first;        /* from the name */
	uint64_t max_seq;      /* highest MSG seq in it, 0 = none */
	uint64_t live;         /* messages not deleted */
	uint64_t size;         /* logical end: written + buffered */
	uint64_t reserved;     /* fallocated end (active segment) */
	uint64_t floor;        /* highest FLOOR seq recorded in it */
	uint64_t *ext;         /* DEL records in it for seqs < first */
	size_t next, cext;
	uint64_t unlink_at;    /* doomed: unlink once durable_pos >= this */
	uint64_t lru;
	int fd;                /* -1: closed */
	int pins;              /* a sync round is using fd */
	bool dirty;            /* written since a round last collected it */
	bool doomed;           /* no live messages, waiting to be unlinked */
	bool unlinked;         /* unlinked; removed after the dir fsync */
};

struct wbuf {
	uint8_t *buf;
	size_t len, cap;
	struct seg *seg;       /* where buf[0] goes */
	uint64_t off;
};

struct waiter {
	uint64_t seq;
	void (*cb)(void *arg, int err);
	void *arg;
};

struct fs {
	struct jn_store *st;
	char *mdir;                    /* <dir>/msgs */
	int dirfd;                     /* msgs/, flocked */
	enum jn_sync_mode mode;
	int64_t interval_ns;
	uint64_t seg_size;

	struct jn_syncer *syncer;
	bool own_syncer, job_added;
	struct jn_sync_job job;

	struct seg **segs;             /* by first, ascending */
	size_t nsegs, csegs;
	struct seg *active;
	int nopen;
	uint64_t lru_clock;

	struct wbuf w;                 /* appends go here */
	struct wbuf f;                 /* being written by a round */
	bool f_busy;
	bool prealloc;                 /* fallocate works */

	uint64_t log_pos;              /* bytes of records ever written */
	uint64_t durable_pos, durable_seq;
	bool kicked;                   /* a round is due (job kicked) */
	bool dir_dirty;                /* a segment was created */
	bool doom_check;               /* some segment may have no live msgs */
	bool floor_roll;               /* a floor was written: maybe roll */
	int err;                       /* sticky fsync failure (negative) */
	bool in_round;
	pthread_cond_t round_cv;
	int64_t last_fsync;

	struct waiter *wq;             /* pending durability callbacks */
	size_t nwq, cwq;
	struct waiter *fire;           /* round scratch: callbacks to call */
	size_t cfire;
	struct seg **pinned;           /* round scratch: segments to fsync */
	size_t cpinned;

	uint64_t n_fsyncs, n_writes, n_unlinked;

	/* Fault injection (filestore_hooks.h). */
	int fault_where, fault_err;
	bool fault_partial;
};

static struct fs *FS(struct jn_store *st) { return st->be; }

/* ---- records ---- */

static void put_hdr(uint8_t *p, uint32_t len, uint64_t seq, int64_t ts,
                    uint16_t slen, uint8_t kind, uint32_t hlen)
{
	uint32_t v32 = htole32(len);
	memcpy(p, &v32, 4);
	memset(p + 4, 0, 4);
	uint64_t v64 = htole64(seq);
	memcpy(p + 8, &v64, 8);
	v64 = htole64((uint64_t)ts);
	memcpy(p + 16, &v64, 8);
	uint16_t v16 = htole16(slen);
	memcpy(p + 24, &v16, 2);
	p[26] = kind;
	p[27] = 0;
	v32 = htole32(hlen);
	memcpy(p + 28, &v32, 4);
}

static void put_crc(uint8_t *p, uint32_t crc)
{
	uint32_t v = htole32(crc);
	memcpy(p + 4, &v, 4);
}

static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }

struct rec {
	uint32_t len;
	uint64_t seq;
	int64_t ts;
	uint16_t slen;
	uint8_t kind;
	uint32_t hlen;
	const uint8_t *body;
};

/* Header plausibility, without the CRC. 1 valid, 0 end marker (len 0),
 * -1 invalid/short. */
static int rec_hdr(const uint8_t *p, size_t avail, struct rec *r)
{
	if (avail < 4)
		return avail == 0 ? 0 : -1;
	r->len = get32(p);
	if (r->len == 0)
		return 0;
	if (avail < REC_HDR || r->len < REC_HDR || r->len > avail)
		return -1;
	r->seq = get64(p + 8);
	r->ts = (int64_t)get64(p + 16);
	r->slen = get16(p + 24);
	r->kind = p[26];
	r->hlen = get32(p + 28);
	r->body = p + REC_HDR;
	if (r->seq == 0 || p[27] != 0)
		return -1;
	if (r->kind == R_MSG) {
		if (r->slen == 0 || (uint64_t)REC_HDR + r->slen + r->hlen > r->len)
			return -1;
	} else if (r->kind == R_DEL || r->kind == R_SKIP || r->kind == R_FLOOR) {
		if (r->len != REC_HDR || r->slen || r->hlen)
			return -1;
	} else {
		return -1;
	}
	return 1;
}

static uint32_t rec_crc(const uint8_t *p, size_t len)
{
	return jn_crc32c(jn_crc32c(0, p, 4), p + 8, len - 8);
}

static int rec_parse(const uint8_t *p, size_t avail, struct rec *r)
{
	int v = rec_hdr(p, avail, r);
	if (v <= 0)
		return v;
	return rec_crc(p, r->len) == get32(p + 4) ? 1 : -1;
}

/* ---- segments ---- */

static void seg_name(char *buf, size_t cap, uint64_t first)
{
	snprintf(buf, cap, "%" PRIu64 ".blk", first);
}

static void seg_close(struct fs *fs, struct seg *s)
{
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
		fs->nopen--;
	}
}

static void seg_free(struct fs *fs, struct seg *s)
{
	seg_close(fs, s);
	jn_free(s->ext);
	jn_free(s);
}

/* Close the least recently used closable descriptor when over the cap. */
static void fd_evict(struct fs *fs)
{
	while (fs->nopen >= FD_CAP) {
		struct seg *victim = NULL;
		for (size_t i = 0; i < fs->nsegs; i++) {
			struct seg *s = fs->segs[i];
			if (s->fd < 0 || s == fs->active || s->pins || s->dirty)
				continue;
			if (!victim || s->lru < victim->lru)
				victim = s;
		}
		if (!victim)
			return;
		seg_close(fs, victim);
	}
}

static int seg_fd(struct fs *fs, struct seg *s)
{
	s->lru = ++fs->lru_clock;
	if (s->fd >= 0)
		return s->fd;
	fd_evict(fs);
	char name[32];
	seg_name(name, sizeof name, s->first);
	int fd = openat(fs->dirfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return jn_errno_to_err(errno);
	s->fd = fd;
	fs->nopen++;
	return fd;
}

/* The segment holding seq (largest first <= seq). */
static struct seg *seg_for(struct fs *fs, uint64_t seq)
{
	if (fs->active && seq >= fs->active->first)
		return fs->active;
	size_t lo = 0, hi = fs->nsegs;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (fs->segs[mid]->first <= seq)
			lo = mid;
		else
			hi = mid;
	}
	return fs->nsegs && fs->segs[lo]->first <= seq ? fs->segs[lo] : NULL;
}

static int segs_push(struct fs *fs, struct seg *s)
{
	if (fs->nsegs == fs->csegs) {
		size_t c = fs->csegs ? fs->csegs * 2 : 8;
		struct seg **n = jn_realloc(fs->segs, c * sizeof *n);
		if (!n)
			return -JN_ENOMEM;
		fs->segs = n;
		fs->csegs = c;
	}
	fs->segs[fs->nsegs++] = s;
	return 0;
}

static struct seg *seg_new(uint64_t first)
{
	struct seg *s = jn_calloc(1, sizeof *s);
	if (s) {
		s->first = first;
		s->fd = -1;
	}
	return s;
}

/* ---- fault injection ---- */

/* Under st->mu. */
static bool fault(struct fs *fs, int where, int *err, bool *partial)
{
	*err = 0;
	if (partial)
		*partial = false;
	if (fs->fault_where != where)
		return false;
	*err = fs->fault_err;
	if (partial)
		*partial = fs->fault_partial;
	fs->fault_where = JN_FS_FAULT_NONE;
	return true;
}

void jn_filestore_inject_fault(struct jn_store *st, enum jn_fs_fault where,
                               int err, bool partial)
{
	pthread_mutex_lock(&st->mu);
	FS(st)->fault_where = where;
	FS(st)->fault_err = err;
	FS(st)->fault_partial = partial;
	pthread_mutex_unlock(&st->mu);
}

void jn_filestore_set_prealloc(struct jn_store *st, bool on)
{
	pthread_mutex_lock(&st->mu);
	FS(st)->prealloc = on;
	pthread_mutex_unlock(&st->mu);
}

/* ---- low-level I/O ---- */

/* pwrite everything or fail. *done = bytes written before a failure.
 * ferr != 0: an injected failure (see fault()). */
static int pwrite_full(int fd, const uint8_t *p, size_t len, uint64_t off,
                       size_t *done, int ferr, bool partial)
{
	size_t d = 0;
	if (ferr) {
		if (partial && len > 1) {
			ssize_t n = pwrite(fd, p, len / 2, (off_t)off);
			if (n > 0)
				d = (size_t)n;
		}
		if (done)
			*done = d;
		return jn_errno_to_err(ferr);
	}
	while (d < len) {
		ssize_t n = pwrite(fd, p + d, len - d, (off_t)(off + d));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (done)
				*done = d;
			return jn_errno_to_err(errno);
		}
		d += (size_t)n;
	}
	if (done)
		*done = d;
	return 0;
}

static int data_sync(int fd, int ferr)
{
	if (ferr)
		return jn_errno_to_err(ferr);
	if (fdatasync(fd) != 0)
		return jn_errno_to_err(errno);
	return 0;
}

/* Write zeros over [from, to), space fallocate just reserved. Why: blocks
 * that fallocate hands out are "unwritten" extents, and a file's size
 * grows with every append, so each fdatasync after an append into them has
 * metadata to commit (extent conversion, i_size): on ext4 that is a journal
 * commit, more than twice the cost of flushing the data alone (measured
 * 430 us against 180 us per fdatasync here). Written-over blocks inside the
 * file's size make every later fdatasync a pure data flush; the metadata
 * is committed once per RESERVE_STEP, by the first round after this. The
 * zeros are harmless: recovery already ends the active segment at the
 * first zero record, and a clean close or a roll truncates them away.
 * Nothing appended lies at or above `from` (it is the reservation's end),
 * so this never overwrites a record. */
static int zero_fill(int fd, uint64_t from, uint64_t to)
{
	static const uint8_t zeros[64 * 1024];
	while (from < to) {
		size_t n = to - from < sizeof zeros ? (size_t)(to - from) : sizeof zeros;
		ssize_t w = pwrite(fd, zeros, n, (off_t)from);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return jn_errno_to_err(errno);
		}
		from += (uint64_t)w;
	}
	return 0;
}

/* Reserve disk space so that writes up to `end` cannot hit ENOSPC. */
static int reserve(struct fs *fs, struct seg *s, uint64_t end)
{
	int ferr;
	if (!fs->prealloc)
		return 0;
	if (fault(fs, JN_FS_FAULT_FALLOCATE, &ferr, NULL))
		return jn_errno_to_err(ferr);
	if (s->reserved >= end)
		return 0;
	int fd = seg_fd(fs, s);
	if (fd < 0)
		return fd;
	uint64_t want = s->reserved + RESERVE_STEP;
	if (want < end)
		want = end;
	if (want > fs->seg_size + DELETE_SLACK && end <= fs->seg_size + DELETE_SLACK)
		want = fs->seg_size + DELETE_SLACK;
	for (;;) {
		if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)s->reserved,
		              (off_t)(want - s->reserved)) == 0) {
			int rc = zero_fill(fd, s->reserved, want);
			if (rc)
				return rc;
			s->reserved = want;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EOPNOTSUPP || errno == ENOSYS) {
			jn_info("filestore %s: no fallocate, writing through", fs->mdir);
			fs->prealloc = false;
			return 0;
		}
		if ((errno == ENOSPC || errno == EDQUOT) && want > end) {
			want = end;   /* try for just what is needed */
			continue;
		}
		return jn_errno_to_err(errno);
	}
}

/* Write the append buffer out now (under st->mu). On failure the buffer is
 * kept, so nothing appended is lost; a later flush retries. */
static int flush_w(struct fs *fs)
{
	if (fs->w.len == 0)
		return 0;
	int fd = seg_fd(fs, fs->w.seg);
	if (fd < 0)
		return fd;
	int ferr;
	bool partial;
	fault(fs, JN_FS_FAULT_WRITE, &ferr, &partial);
	int rc = pwrite_full(fd, fs->w.buf, fs->w.len, fs->w.off, NULL, ferr, partial);
	fs->n_writes++;
	if (rc)
		return rc;
	fs->w.off += fs->w.len;
	fs->w.len = 0;
	return 0;
}

static void kick(struct fs *fs)
{
	if (!fs->kicked && fs->job_added) {
		fs->kicked = true;
		jn_syncer_kick(&fs->job);
	}
}

static int create_segment(struct fs *fs, uint64_t first, struct seg **out)
{
	char name[32];
	seg_name(name, sizeof name, first);
	struct seg *s = seg_new(first);
	if (!s)
		return -JN_ENOMEM;
	int rc = segs_push(fs, s);
	if (rc) {
		jn_free(s);
		return rc;
	}
	fd_evict(fs);
	int fd = openat(fs->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = jn_errno_to_err(errno);
		fs->nsegs--;
		jn_free(s);
		return rc;
	}
	s->fd = fd;
	fs->nopen++;
	s->dirty = true;   /* its directory entry must be synced before acks */
	fs->dir_dirty = true;
	*out = s;
	return 0;
}

/* Start a new active segment named last_seq + 1. */
static int roll(struct fs *fs)
{
	struct seg *old = fs->active;
	uint64_t first = fs->st->last_seq + 1;
	if (old->first >= first)
		return 0;   /* the active one has no message: nothing to gain */
	int rc = flush_w(fs);
	if (rc)
		return rc;
	struct seg *s;
	rc = create_segment(fs, first, &s);
	if (rc)
		return rc;
	/* Give back the reservation past the end (ext4, xfs and tmpfs drop
	 * blocks beyond EOF on a truncate to the current size). */
	if (old->reserved > old->size && old->fd >= 0 &&
	    ftruncate(old->fd, (off_t)old->size) == 0)
		old->reserved = old->size;
	fs->active = s;
	fs->w.seg = s;
	fs->w.off = 0;
	fs->doom_check = true;
	kick(fs);
	return 0;
}

/* Append one record to the active segment. kind MSG may roll first. *off:
 * where it went. Nothing is changed on failure. */
static int write_record(struct fs *fs, uint8_t kind, uint64_t seq, int64_t ts,
                        const char *subj, uint16_t slen, const uint8_t *hdr,
                        uint32_t hlen, const uint8_t *data, uint32_t dlen,
                        uint64_t *off_out)
{
	if (fs->err)
		return fs->err;
	uint64_t reclen = (uint64_t)REC_HDR + slen + hlen + dlen;
	if (reclen > UINT32_MAX)
		return -JN_EINVAL;
	if (fs->active->size && fs->active->size + reclen > fs->seg_size) {
		int rc = roll(fs);
		if (rc && kind == R_MSG)
			return rc;   /* deletes may overfill a segment instead */
	}
	struct seg *a = fs->active;
	if (kind == R_MSG && a->size + reclen > UINT32_MAX)
		return -JN_EIO;   /* cannot happen while segments roll; the locator is 32-bit */
	int rc = reserve(fs, a, a->size + reclen + (kind == R_MSG ? DELETE_SLACK : 0));
	if (rc)
		return rc;
	struct wbuf *w = &fs->w;
	if (w->len == 0) {
		w->seg = a;
		w->off = a->size;
	}
	if (w->len + reclen > w->cap && w->cap < WBUF_MAX) {
		size_t cap = w->cap ? w->cap : WBUF_MIN;
		while (cap < w->len + reclen && cap < WBUF_MAX)
			cap *= 2;
		uint8_t *nb = jn_realloc(w->buf, cap);
		if (nb) {
			w->buf = nb;
			w->cap = cap;
		}
	}
	if (w->len + reclen > w->cap) {
		if ((rc = flush_w(fs)) != 0)
			return rc;
	}
	uint64_t off = a->size;
	if (reclen > w->cap) {
		/* Bigger than the buffer: write it directly (buffer is empty). */
		uint8_t h[REC_HDR];
		put_hdr(h, (uint32_t)reclen, seq, ts, slen, kind, hlen);
		uint32_t crc = jn_crc32c(0, h, 4);
		crc = jn_crc32c(crc, h + 8, REC_HDR - 8);
		crc = jn_crc32c(crc, subj, slen);
		crc = jn_crc32c(crc, hdr, hlen);
		crc = jn_crc32c(crc, data, dlen);
		put_crc(h, crc);
		uint8_t *tmp = jn_malloc(reclen);
		if (!tmp)
			return -JN_ENOMEM;
		memcpy(tmp, h, REC_HDR);
		if (slen)
			memcpy(tmp + REC_HDR, subj, slen);
		if (hlen)
			memcpy(tmp + REC_HDR + slen, hdr, hlen);
		if (dlen)
			memcpy(tmp + REC_HDR + slen + hlen, data, dlen);
		int fd = seg_fd(fs, a), ferr;
		bool partial;
		size_t done = 0;
		fault(fs, JN_FS_FAULT_WRITE, &ferr, &partial);
		rc = fd < 0 ? fd : pwrite_full(fd, tmp, reclen, off, &done, ferr, partial);
		fs->n_writes++;
		jn_free(tmp);
		if (rc) {
			if (done && ftruncate(fd, (off_t)off) != 0)
				jn_warn("filestore %s: cannot roll back a torn write: %s",
				        fs->mdir, strerror(errno));
			return rc;
		}
		w->off = off + reclen;
	} else {
		uint8_t *p = w->buf + w->len;
		put_hdr(p, (uint32_t)reclen, seq, ts, slen, kind, hlen);
		if (slen)
			memcpy(p + REC_HDR, subj, slen);
		if (hlen)
			memcpy(p + REC_HDR + slen, hdr, hlen);
		if (dlen)
			memcpy(p + REC_HDR + slen + hlen, data, dlen);
		put_crc(p, rec_crc(p, reclen));
		w->len += reclen;
		if (!fs->prealloc) {
			/* No reservation: write through now, so that a full disk
			 * is reported to this append and rolled back here. */
			int fd = seg_fd(fs, a), ferr;
			bool partial;
			size_t done = 0;
			fault(fs, JN_FS_FAULT_WRITE, &ferr, &partial);
			rc = fd < 0 ? fd : pwrite_full(fd, w->buf, w->len, w->off, &done, ferr,
			                               partial);
			fs->n_writes++;
			if (rc) {
				w->len -= reclen;   /* earlier bytes (if any) stay queued */
				if (done && ftruncate(fd, (off_t)w->off) != 0)
					jn_warn("filestore %s: cannot roll back a torn write: %s",
					        fs->mdir, strerror(errno));
				return rc;
			}
			w->off += w->len;
			w->len = 0;
		}
	}
	a->size += reclen;
	a->dirty = true;
	fs->log_pos += reclen;
	*off_out = off;
	kick(fs);
	return 0;
}

/* ---- dooming and unlinking ---- */

static int ext_push(struct seg *s, uint64_t seq)
{
	if (s->next == s->cext) {
		size_t c = s->cext ? s->cext * 2 : 16;
		uint64_t *n = jn_realloc(s->ext, c * sizeof *n);
		if (!n)
			return -JN_ENOMEM;
		s->ext = n;
		s->cext = c;
	}
	s->ext[s->next++] = seq;
	return 0;
}

static size_t seg_index(struct fs *fs, struct seg *s)
{
	for (size_t i = 0; i < fs->nsegs; i++)
		if (fs->segs[i] == s)
			return i;
	return fs->nsegs;
}

/* Write a DEL record for seq into the active segment and remember it there
 * if it refers to an older segment. */
static int write_tomb(struct fs *fs, uint64_t seq)
{
	struct seg *a = fs->active;
	if (seq < a->first && a->next == a->cext) {
		/* make room first: a tombstone we could not track would be lost
		 * when its segment is unlinked */
		int rc = ext_push(a, 0);
		if (rc)
			return rc;
		a->next--;
	}
	uint64_t off;
	int rc = write_record(fs, R_DEL, seq, 0, NULL, 0, NULL, 0, NULL, 0, &off);
	if (rc)
		return rc;
	a = fs->active;   /* may have rolled */
	if (seq < a->first && ext_push(a, seq) != 0)
		jn_warn("filestore %s: out of memory tracking a delete", fs->mdir);
	return 0;
}

/* Segment s (not active) has no live message: copy forward what older
 * segments still need from it, then schedule its unlink. */
static int doom(struct fs *fs, struct seg *s)
{
	size_t idx = seg_index(fs, s);
	uint64_t oldest = fs->segs[0]->first;
	for (size_t i = 0; i < s->next; i++) {
		uint64_t t = s->ext[i];
		if (t < oldest)
			continue;   /* its segment is gone for good */
		struct seg *h = seg_for(fs, t);
		if (!h || h == s || t > h->max_seq)
			continue;
		int rc = write_tomb(fs, t);
		if (rc)
			return rc;
		s->ext[i] = 0;   /* done: do not copy twice if we fail later */
	}
	if (s->floor && (idx > 0 || fs->active->floor < s->floor)) {
		uint64_t off;
		int rc = write_record(fs, R_FLOOR, s->floor, fs->st->last_ts, NULL, 0,
		                      NULL, 0, NULL, 0, &off);
		if (rc)
			return rc;
		if (fs->active->floor < s->floor)
			fs->active->floor = s->floor;
	}
	jn_free(s->ext);
	s->ext = NULL;
	s->next = s->cext = 0;
	s->doomed = true;
	s->unlink_at = fs->log_pos;
	kick(fs);
	return 0;
}

static void process_dooms(struct fs *fs)
{
	while (fs->doom_check) {
		fs->doom_check = false;
		for (size_t i = 0; i < fs->nsegs; i++) {
			struct seg *s = fs->segs[i];
			if (s == fs->active || s->doomed || s->live)
				continue;
			if (doom(fs, s) != 0) {
				/* retry at the next operation; nothing is lost */
				fs->doom_check = true;
				return;
			}
		}
	}
}

/* ---- backend ops ---- */

static int fs_put(struct jn_store *st, uint64_t seq, int64_t ts, const char *subj,
                  uint32_t slen, const uint8_t *hdr, uint32_t hlen,
                  const uint8_t *data, uint32_t dlen, uint64_t *loc)
{
	struct fs *fs = FS(st);
	uint64_t off;
	int rc = write_record(fs, R_MSG, seq, ts, subj, (uint16_t)slen, hdr, hlen,
	                      data, dlen, &off);
	if (rc)
		return rc;
	struct seg *a = fs->active;
	a->max_seq = seq;
	a->live++;
	*loc = off << 32 | (REC_HDR + (uint64_t)slen + hlen + dlen);
	return 0;
}

/* Copy record bytes [off, off+len) of segment s into dst, from the write
 * buffers when they hold them. 1 = from memory, 0 = from the file. */
static int read_bytes(struct fs *fs, struct seg *s, uint64_t off, uint32_t len,
                      uint8_t *dst)
{
	const struct wbuf *bufs[2] = { &fs->w, fs->f_busy ? &fs->f : NULL };
	for (int i = 0; i < 2; i++) {
		const struct wbuf *b = bufs[i];
		if (b && b->len && b->seg == s && off >= b->off && off + len <= b->off + b->len) {
			memcpy(dst, b->buf + (off - b->off), len);
			return 1;
		}
	}
	int fd = seg_fd(fs, s);
	if (fd < 0)
		return fd;
	size_t d = 0;
	while (d < len) {
		ssize_t n = pread(fd, dst + d, len - d, (off_t)(off + d));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? jn_errno_to_err(errno) : -JN_EIO;
		d += (size_t)n;
	}
	return 0;
}

static int fs_get(struct jn_store *st, uint64_t seq, const struct jn__sent *e,
                  struct jn_store_msg *m)
{
	struct fs *fs = FS(st);
	struct seg *s = seg_for(fs, seq);
	uint64_t off = e->loc >> 32;
	uint32_t len = (uint32_t)e->loc;
	if (!s)
		return -JN_EIO;
	int rc = jn__msg_reserve(m, len);
	if (rc)
		return rc;
	uint8_t *p = m->jn__buf;
	rc = read_bytes(fs, s, off, len, p);
	if (rc < 0)
		return rc;
	struct rec r;
	if ((rc == 1 ? rec_hdr(p, len, &r) : rec_parse(p, len, &r)) != 1 ||
	    r.kind != R_MSG || r.seq != seq || r.len != len) {
		jn_warn("filestore %s: message %" PRIu64 " is damaged on disk", fs->mdir, seq);
		return -JN_EIO;
	}
	m->seq = seq;
	m->ts = r.ts;
	m->subject = (const char *)p + REC_HDR;
	m->subject_len = r.slen;
	m->hdr = r.hlen ? p + REC_HDR + r.slen : NULL;
	m->hdr_len = r.hlen;
	m->data = p + REC_HDR + r.slen + r.hlen;
	m->data_len = len - REC_HDR - r.slen - r.hlen;
	return 0;
}

static int fs_tomb(struct jn_store *st, uint64_t seq, const struct jn__sent *e)
{
	return write_tomb(FS(st), seq);
}

static int fs_floor(struct jn_store *st, uint64_t seq, int64_t last_ts)
{
	struct fs *fs = FS(st);
	uint64_t off;
	int rc = write_record(fs, R_FLOOR, seq, last_ts, NULL, 0, NULL, 0, NULL, 0, &off);
	if (rc)
		return rc;
	if (fs->active->floor < seq)
		fs->active->floor = seq;
	fs->floor_roll = true;
	return 0;
}

static int fs_skip(struct jn_store *st, uint64_t seq, int64_t ts)
{
	uint64_t off;
	return write_record(FS(st), R_SKIP, seq, ts, NULL, 0, NULL, 0, NULL, 0, &off);
}

static void fs_forget(struct jn_store *st, uint64_t seq, const struct jn__sent *e)
{
	struct fs *fs = FS(st);
	struct seg *s = seg_for(fs, seq);
	if (s && s->live && --s->live == 0 && s != fs->active)
		fs->doom_check = true;
}

static void fs_end_op(struct jn_store *st)
{
	struct fs *fs = FS(st);
	if (fs->floor_roll) {
		fs->floor_roll = false;
		struct seg *a = fs->active;
		if (a->live == 0 && a->max_seq && roll(fs) != 0)
			jn_debug("filestore %s: could not start a new segment after a purge",
			         fs->mdir);
	}
	process_dooms(fs);
}

static int fs_when_durable(struct jn_store *st, uint64_t seq,
                           void (*cb)(void *arg, int err), void *arg)
{
	struct fs *fs = FS(st);
	if (fs->err)
		return fs->err;
	if (fs->mode == JN_SYNC_INTERVAL || seq <= fs->durable_seq)
		return 1;
	if (fs->nwq == fs->cwq) {
		size_t c = fs->cwq ? fs->cwq * 2 : 64;
		struct waiter *n = jn_realloc(fs->wq, c * sizeof *n);
		if (!n)
			return -JN_ENOMEM;
		fs->wq = n;
		fs->cwq = c;
	}
	fs->wq[fs->nwq++] = (struct waiter){ seq, cb, arg };
	kick(fs);
	return 0;
}

/* Move the callbacks that are due (all of them, with err, when failed) to
 * fs->fire. Returns how many. Under st->mu. */
static size_t collect_waiters(struct fs *fs, bool all)
{
	if (fs->cfire < fs->nwq) {
		struct waiter *n = jn_realloc(fs->fire, fs->cwq * sizeof *n);
		if (!n)
			return 0;   /* they stay queued for the next round */
		fs->fire = n;
		fs->cfire = fs->cwq;
	}
	size_t nf = 0, keep = 0;
	for (size_t i = 0; i < fs->nwq; i++) {
		if (all || fs->wq[i].seq <= fs->durable_seq)
			fs->fire[nf++] = fs->wq[i];
		else
			fs->wq[keep++] = fs->wq[i];
	}
	fs->nwq = keep;
	return nf;
}

/* One group-commit round. Called without st->mu, from the syncer or from
 * jn_store_sync/free (batch: on a syncer thread). Rounds are serialised by
 * in_round. */
static int sync_round(struct fs *fs, bool force_fsync, bool batch)
{
	struct jn_store *st = fs->st;
	pthread_mutex_lock(&st->mu);
	while (fs->in_round)
		pthread_cond_wait(&fs->round_cv, &st->mu);
	fs->in_round = true;
	fs->kicked = false;
	int64_t now = jn_mono_ns();
	bool do_fsync = force_fsync || fs->mode == JN_SYNC_ALWAYS ||
	                now - fs->last_fsync >= fs->interval_ns;
	uint64_t target_seq = st->last_seq, target_pos = fs->log_pos;
	int rc = fs->err;
	size_t npinned = 0;
	bool dirsync = false;
	int wfault = 0, sfault = 0;
	bool wpartial = false;
	if (!rc) {
		if (fs->w.len) {
			struct wbuf t = fs->f;
			fs->f = fs->w;
			fs->w = t;
			fs->w.len = 0;
			fs->w.seg = fs->f.seg;
			fs->w.off = fs->f.off + fs->f.len;
			fs->f_busy = true;
			fs->f.seg->pins++;
			int fd = seg_fd(fs, fs->f.seg);
			if (fd < 0)
				rc = fd;
			fault(fs, JN_FS_FAULT_WRITE, &wfault, &wpartial);
		}
		if (do_fsync) {
			if (fs->cpinned < fs->nsegs) {
				struct seg **n = jn_realloc(fs->pinned, fs->nsegs * sizeof *n);
				if (n) {
					fs->pinned = n;
					fs->cpinned = fs->nsegs;
				} else {
					do_fsync = false;   /* try again next round */
				}
			}
		}
		if (do_fsync) {
			for (size_t i = 0; i < fs->nsegs; i++) {
				struct seg *s = fs->segs[i];
				if (s->dirty && !s->unlinked && seg_fd(fs, s) >= 0) {
					s->dirty = false;
					s->pins++;
					fs->pinned[npinned++] = s;
				}
			}
			dirsync = fs->dir_dirty;
			fs->dir_dirty = false;
			if (npinned)
				fault(fs, JN_FS_FAULT_FSYNC, &sfault, NULL);
		}
	}
	bool wrote = fs->f_busy;
	pthread_mutex_unlock(&st->mu);

	if (!rc && wrote)
		rc = pwrite_full(fs->f.seg->fd, fs->f.buf, fs->f.len, fs->f.off, NULL,
		                 wfault, wpartial);
	uint64_t synced = 0;
	for (size_t i = 0; !rc && i < npinned; i++) {
		rc = data_sync(fs->pinned[i]->fd, i == 0 ? sfault : 0);
		synced++;
	}
	if (!rc && dirsync && fsync(fs->dirfd) != 0)
		rc = jn_errno_to_err(errno);

	pthread_mutex_lock(&st->mu);
	if (fs->f_busy) {
		fs->f.seg->pins--;
		fs->f.len = 0;
		fs->f_busy = false;
	}
	for (size_t i = 0; i < npinned; i++)
		fs->pinned[i]->pins--;
	fs->n_fsyncs += synced;
	fs->n_writes += wrote;
	if (rc && !fs->err) {
		jn_error("filestore %s: write/fsync failed (%s): refusing further writes",
		         fs->mdir, jn_strerror(rc));
		fs->err = rc;
	}
	bool unlinked_any = false;
	if (!fs->err && do_fsync) {
		if (target_seq > fs->durable_seq)
			fs->durable_seq = target_seq;
		fs->durable_pos = target_pos;
		fs->last_fsync = now;
		for (size_t i = 0; i < fs->nsegs; i++) {
			struct seg *s = fs->segs[i];
			if (!s->doomed || s->unlinked || s->pins || s->unlink_at > fs->durable_pos)
				continue;
			char name[32];
			seg_name(name, sizeof name, s->first);
			seg_close(fs, s);
			if (unlinkat(fs->dirfd, name, 0) != 0 && errno != ENOENT) {
				jn_warn("filestore %s: unlink %s: %s", fs->mdir, name, strerror(errno));
				continue;
			}
			s->unlinked = true;
			unlinked_any = true;
		}
	}
	size_t nfire = collect_waiters(fs, fs->err != 0);
	struct waiter *fire = fs->fire;   /* ours while we call them */
	size_t cfire = fs->cfire;
	fs->fire = NULL;
	fs->cfire = 0;
	int ferr = fs->err;
	pthread_mutex_unlock(&st->mu);

	if (unlinked_any) {
		int drc = fsync(fs->dirfd);
		pthread_mutex_lock(&st->mu);
		if (drc == 0) {
			size_t k = 0;
			for (size_t i = 0; i < fs->nsegs; i++) {
				struct seg *s = fs->segs[i];
				if (s->unlinked) {
					seg_free(fs, s);
					fs->n_unlinked++;
				} else {
					fs->segs[k++] = s;
				}
			}
			fs->nsegs = k;
		}
		pthread_mutex_unlock(&st->mu);
	}

	pthread_mutex_lock(&st->mu);
	fs->in_round = false;
	pthread_cond_broadcast(&fs->round_cv);
	if (fs->w.len == 0 && (fs->w.cap || fs->f.cap)) {
		/* Idle stores give their buffers back: a round with nothing to
		 * write frees them; otherwise look again in a second. */
		if (!wrote) {
			jn_free(fs->w.buf);
			jn_free(fs->f.buf);
			fs->w.buf = fs->f.buf = NULL;
			fs->w.cap = fs->f.cap = 0;
		} else if (fs->job_added) {
			jn_syncer_kick_at(&fs->job, jn_mono_ns() + 1000000000);
		}
	}
	if (!fs->err && fs->mode == JN_SYNC_INTERVAL && fs->job_added) {
		bool pending = false;
		for (size_t i = 0; i < fs->nsegs && !pending; i++)
			pending = fs->segs[i]->dirty || fs->segs[i]->doomed;
		if (pending)
			jn_syncer_kick_at(&fs->job, fs->last_fsync + fs->interval_ns);
	}
	pthread_mutex_unlock(&st->mu);

	/* Outside the round, so a callback may even call jn_store_sync().
	 * One router read section around them all makes them one batch for
	 * the I/O layer: the PubAcks of a round that go to one connection
	 * leave in one write (router_thread.c). Only on the syncer's own
	 * threads (batch): another thread calling jn_store_sync/free should not
	 * get an epoch registration it never asked for. */
	batch = batch && nfire;
	if (batch)
		jn_router_thread_enter();
	for (size_t i = 0; i < nfire; i++)
		fire[i].cb(fire[i].arg, ferr);
	if (batch)
		jn_router_thread_exit();
	pthread_mutex_lock(&st->mu);
	if (!fs->fire) {
		fs->fire = fire;
		fs->cfire = cfire;
	} else {
		jn_free(fire);
	}
	pthread_mutex_unlock(&st->mu);
	return ferr;
}

static void job_run(struct jn_sync_job *job)
{
	struct fs *fs = (struct fs *)((char *)job - offsetof(struct fs, job));
	sync_round(fs, false, true);
}

static int fs_sync(struct jn_store *st)
{
	return sync_round(FS(st), true, false);
}

static void fs_stats(struct jn_store *st, struct jn_store_stats *out)
{
	struct fs *fs = FS(st);
	out->fsyncs = fs->n_fsyncs;
	out->writes = fs->n_writes;
	out->segments = 0;
	for (size_t i = 0; i < fs->nsegs; i++)
		out->segments += !fs->segs[i]->unlinked;
	out->unlinked = fs->n_unlinked;
	out->durable_seq = fs->mode == JN_SYNC_INTERVAL ? st->last_seq : fs->durable_seq;
}

static void fs_release(struct fs *fs)
{
	for (size_t i = 0; i < fs->nsegs; i++)
		seg_free(fs, fs->segs[i]);
	jn_free(fs->segs);
	jn_free(fs->w.buf);
	jn_free(fs->f.buf);
	jn_free(fs->wq);
	jn_free(fs->fire);
	jn_free(fs->pinned);
	if (fs->dirfd >= 0)
		close(fs->dirfd);   /* releases the flock */
	jn_free(fs->mdir);
	pthread_cond_destroy(&fs->round_cv);
	if (fs->own_syncer)
		jn_syncer_free(fs->syncer);
	jn_free(fs);
}

static int fs_free(struct jn_store *st, bool delete_files)
{
	struct fs *fs = FS(st);
	if (fs->job_added) {
		jn_syncer_remove(&fs->job);
		fs->job_added = false;
	}
	int rc = 0;
	if (!delete_files) {
		/* Final round: writes, fsyncs, unlinks, fires what is due. */
		rc = sync_round(fs, true, false);
		/* Give back the zero-filled reservation: the next open then reads
		 * exactly the log (a crash leaves it, and recovery cuts it). */
		struct seg *a = fs->active;
		if (!rc && a && a->fd >= 0 && a->reserved > a->size &&
		    ftruncate(a->fd, (off_t)a->size) == 0)
			a->reserved = a->size;
		size_t n = collect_waiters(fs, true);   /* anything left: failed */
		for (size_t i = 0; i < n; i++)
			fs->fire[i].cb(fs->fire[i].arg, rc ? rc : -JN_ECLOSED);
	} else {
		size_t n = collect_waiters(fs, true);
		for (size_t i = 0; i < n; i++)
			fs->fire[i].cb(fs->fire[i].arg, -JN_ECLOSED);
		for (size_t i = 0; i < fs->nsegs; i++) {
			char name[32];
			seg_name(name, sizeof name, fs->segs[i]->first);
			seg_close(fs, fs->segs[i]);
			if (unlinkat(fs->dirfd, name, 0) != 0 && errno != ENOENT && !rc)
				rc = jn_errno_to_err(errno);
		}
		char *mdir = jn_strdup(fs->mdir);
		close(fs->dirfd);
		fs->dirfd = -1;
		if (mdir) {
			int r = jn_rmtree(mdir);
			if (r && !rc)
				rc = r;
			jn_free(mdir);
		}
	}
	fs_release(fs);
	return rc;
}

static const struct jn__store_ops fs_ops = {
	.put = fs_put,
	.get = fs_get,
	.tomb = fs_tomb,
	.floor = fs_floor,
	.skip = fs_skip,
	.forget = fs_forget,
	.end_op = fs_end_op,
	.when_durable = fs_when_durable,
	.sync = fs_sync,
	.stats = fs_stats,
	.free = fs_free,
};

/* ---- recovery ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Segment first-seqs found in msgs/, sorted. */
static int list_segments(struct fs *fs, uint64_t **out, size_t *n)
{
	int fd = dup(fs->dirfd);
	if (fd < 0)
		return jn_errno_to_err(errno);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return jn_errno_to_err(errno);
	}
	rewinddir(d);
	uint64_t *v = NULL;
	size_t nv = 0, cv = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		size_t len = strlen(name);
		if (len < 5 || len > 24 || strcmp(name + len - 4, ".blk") != 0)
			continue;
		uint64_t first = 0;
		bool ok = true;
		for (size_t i = 0; i < len - 4; i++) {
			if (name[i] < '0' || name[i] > '9' || first > (UINT64_MAX - 9) / 10) {
				ok = false;
				break;
			}
			first = first * 10 + (uint64_t)(name[i] - '0');
		}
		char canon[32];
		seg_name(canon, sizeof canon, first);
		if (!ok || first == 0 || strcmp(canon, name) != 0) {
			jn_warn("filestore %s: ignoring unexpected file %s", fs->mdir, name);
			continue;
		}
		if (nv == cv) {
			cv = cv ? cv * 2 : 16;
			uint64_t *nvp = jn_realloc(v, cv * sizeof *nvp);
			if (!nvp) {
				rc = -JN_ENOMEM;
				break;
			}
			v = nvp;
		}
		v[nv++] = first;
	}
	closedir(d);
	if (rc) {
		jn_free(v);
		return rc;
	}
	if (nv)
		qsort(v, nv, sizeof *v, cmp_u64);
	*out = v;
	*n = nv;
	return 0;
}

/* Apply one valid record found at offset off of segment s. */
static void apply_record(struct fs *fs, struct seg *s, uint64_t next_first,
                         const struct rec *r, uint64_t off, int64_t *last_ts)
{
	struct jn_store *st = fs->st;
	switch (r->kind) {
	case R_MSG: {
		if (r->seq < s->first || (next_first && r->seq >= next_first) ||
		    r->seq <= st->last_seq) {
			jn_warn("filestore %s: segment %" PRIu64 ": message %" PRIu64
			        " out of order, skipped", fs->mdir, s->first, r->seq);
			return;
		}
		uint32_t dlen = r->len - REC_HDR - r->slen - r->hlen;
		uint32_t size = (uint32_t)jn_store_msg_size(JN_STORE_FILE, r->slen, r->hlen, dlen);
		if (jn__store_recover_msg(st, r->seq, r->ts, (const char *)r->body, r->slen,
		                          size, off << 32 | r->len) != 0) {
			jn_warn("filestore %s: cannot index message %" PRIu64, fs->mdir, r->seq);
			return;
		}
		s->max_seq = r->seq;
		s->live++;
		*last_ts = r->ts;
		break;
	}
	case R_DEL:
		jn__store_recover_del(st, r->seq);
		if (r->seq < s->first && r->seq >= fs->segs[0]->first)
			ext_push(s, r->seq);
		break;
	case R_SKIP:
		jn__store_recover_last(st, r->seq, r->ts);
		*last_ts = r->ts;
		break;
	case R_FLOOR:
		jn__store_recover_floor(st, r->seq);
		if (s->floor < r->seq)
			s->floor = r->seq;
		*last_ts = r->ts;
		break;
	}
}

/* Find the next offset >= from where a valid record starts, or len. */
static size_t resync(const uint8_t *buf, size_t len, size_t from)
{
	struct rec r;
	for (size_t o = from; o + REC_HDR <= len; o++)
		if (rec_parse(buf + o, len - o, &r) == 1)
			return o;
	return len;
}

static int read_file(int fd, uint8_t **buf, size_t *cap, size_t *len)
{
	struct stat sb;
	if (fstat(fd, &sb) != 0)
		return jn_errno_to_err(errno);
	size_t size = (size_t)sb.st_size;
	if (size + 1 > *cap) {
		uint8_t *n = jn_realloc(*buf, size + 1);
		if (!n)
			return -JN_ENOMEM;
		*buf = n;
		*cap = size + 1;
	}
	size_t d = 0;
	while (d < size) {
		ssize_t r = pread(fd, *buf + d, size - d, (off_t)d);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return jn_errno_to_err(errno);
		if (r == 0)
			break;
		d += (size_t)r;
	}
	*len = d;
	return 0;
}

static int recover(struct fs *fs)
{
	uint64_t *firsts = NULL;
	size_t nfirst = 0;
	int rc = list_segments(fs, &firsts, &nfirst);
	if (rc)
		return rc;
	uint8_t *buf = NULL;
	size_t cap = 0;
	int64_t last_ts = 0;
	for (size_t i = 0; i < nfirst && !rc; i++) {
		bool last = i + 1 == nfirst;
		struct seg *s = seg_new(firsts[i]);
		if (!s || segs_push(fs, s) != 0) {
			jn_free(s);
			rc = -JN_ENOMEM;
			break;
		}
		int fd = seg_fd(fs, s);
		size_t len = 0;
		if (fd < 0 || (rc = read_file(fd, &buf, &cap, &len)) != 0) {
			rc = fd < 0 ? fd : rc;
			break;
		}
		jn__store_recover_last(fs->st, s->first - 1, 0);   /* the name's promise */
		size_t off = 0;
		while (off < len) {
			struct rec r;
			int v = rec_parse(buf + off, len - off, &r);
			if (v == 1) {
				apply_record(fs, s, last ? 0 : firsts[i + 1], &r, off, &last_ts);
				off += r.len;
				continue;
			}
			if (last)
				break;   /* the log ends here; truncated below */
			if (v == 0) {
				/* zeros: a hole or the end; look for records after it */
				size_t nx = resync(buf, len, off + 1);
				if (nx < len)
					jn_warn("filestore %s: segment %" PRIu64 ": %zu zero bytes "
					        "at %zu skipped", fs->mdir, s->first, nx - off, off);
				off = nx;
				continue;
			}
			/* Damaged: if its length word is plausible and leads to the
			 * end or to a valid record, trust it; else search. */
			size_t nx = len;
			if (len - off >= REC_HDR) {
				uint32_t l = get32(buf + off);
				struct rec r2;
				if (l >= REC_HDR && l <= len - off &&
				    (off + l == len || rec_parse(buf + off + l, len - off - l, &r2) == 1))
					nx = off + l;
			}
			if (nx == len)
				nx = resync(buf, len, off + 1);
			jn_warn("filestore %s: segment %" PRIu64 ": damaged record at offset %zu, "
			        "skipped %zu bytes", fs->mdir, s->first, off, nx - off);
			off = nx;
		}
		s->size = off;
		bool zero_tail = true;   /* a reservation zero_fill() left */
		for (size_t z = off; z < len && zero_tail; z++)
			zero_tail = buf[z] == 0;
		if (last && off < len && !zero_tail) {
			jn_warn("filestore %s: segment %" PRIu64 ": truncating %zu bytes of torn "
			        "or damaged tail at offset %zu", fs->mdir, s->first, len - off, off);
		}
		/* Cut torn tails (last segment) and give back reservations left
		 * by a crash (any segment). */
		if (ftruncate(fd, (off_t)(last ? off : len)) != 0) {
			rc = jn_errno_to_err(errno);
			break;
		}
		if (!last)
			s->size = len;
		s->reserved = s->size;
		if (last) {
			s->dirty = true;   /* fsynced by the first round */
		} else {
			/* What was recovered from the page cache must be durable
			 * before anything is acknowledged on top of it. */
			if ((rc = data_sync(fd, 0)) != 0)
				break;
			seg_close(fs, s);
		}
	}
	jn_free(buf);
	jn_free(firsts);
	if (rc)
		return rc;
	if (last_ts)
		fs->st->last_ts = last_ts;
	if (fs->nsegs == 0) {
		struct seg *s;
		rc = create_segment(fs, fs->st->last_seq + 1, &s);
		if (rc)
			return rc;
	}
	fs->active = fs->segs[fs->nsegs - 1];
	fs->w.seg = fs->active;
	fs->w.off = fs->active->size;
	fs->log_pos = 0;
	fs->doom_check = true;
	process_dooms(fs);
	return 0;
}

int jn_filestore_open(const char *dir, const struct jn_store_cfg *cfg,
                      struct jn_store **out)
{
	static const struct jn_store_cfg defaults;
	if (!cfg)
		cfg = &defaults;
	if (!dir || !*dir)
		return -JN_EINVAL;
	struct jn_store *st = jn_calloc(1, sizeof *st);
	struct fs *fs = jn_calloc(1, sizeof *fs);
	char path[PATH_MAX];
	if (!st || !fs) {
		jn_free(st);
		jn_free(fs);
		return -JN_ENOMEM;
	}
	jn__store_init(st, JN_STORE_FILE, &fs_ops, fs);
	fs->st = st;
	fs->dirfd = -1;
	pthread_cond_init(&fs->round_cv, NULL);
	fs->mode = cfg->sync;
	fs->interval_ns = (int64_t)(cfg->sync_interval_ms ? cfg->sync_interval_ms
	                                                  : JN_STORE_SYNC_INTERVAL_MS) * 1000000;
	fs->seg_size = cfg->segment_size ? cfg->segment_size : JN_STORE_SEGMENT_SIZE;
	if (fs->seg_size < SEG_MIN)
		fs->seg_size = SEG_MIN;
	if (fs->seg_size > SEG_MAX)
		fs->seg_size = SEG_MAX;
	fs->prealloc = true;
	fs->last_fsync = jn_mono_ns();

	int rc = 0;
	if (snprintf(path, sizeof path, "%s/msgs", dir) >= (int)sizeof path)
		rc = -JN_EINVAL;
	if (!rc && !(fs->mdir = jn_strdup(path)))
		rc = -JN_ENOMEM;
	if (!rc)
		rc = jn_mkdirs(path);
	if (!rc) {
		fs->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fs->dirfd < 0)
			rc = jn_errno_to_err(errno);
	}
	if (!rc && flock(fs->dirfd, LOCK_EX | LOCK_NB) != 0)
		rc = errno == EWOULDBLOCK ? -JN_EEXIST : jn_errno_to_err(errno);
	if (!rc)
		rc = jn_fsync_dir(dir);   /* msgs/ itself must be durable... */
	if (!rc) {
		/* ...and dir, which jn_mkdirs may just have created */
		snprintf(path, sizeof path, "%s/..", dir);
		rc = jn_fsync_dir(path);
	}
	if (!rc)
		rc = recover(fs);
	if (!rc) {
		rc = sync_round(fs, true, false);
		if (!rc)
			fs->durable_seq = st->last_seq;
	}
	if (!rc) {
		fs->syncer = cfg->syncer;
		if (!fs->syncer) {
			fs->syncer = jn_syncer_new(1);
			fs->own_syncer = true;
			if (!fs->syncer)
				rc = -JN_ENOMEM;
		}
	}
	if (rc) {
		fs_release(fs);
		jn__store_fini(st);
		jn_free(st);
		return rc;
	}
	fs->job.run = job_run;
	jn_syncer_add(fs->syncer, &fs->job);
	fs->job_added = true;
	*out = st;
	return 0;
}
