/*
 * idle.c - what an idle connection costs the server: its resident set size
 * (VmRSS in /proc/<pid>/status) before and after opening N connections that
 * completed CONNECT + PING/PONG and then say nothing.
 *
 * Plain sockets, not libnats: 5,000 libnats connections would be 10,000
 * client threads. The server is measured after a settle pause, because a
 * garbage-collected server (nats-server) or a lazily growing one may still be
 * touching memory just after the last handshake.
 */
#include "bench/bench.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"

#define SETTLE_MS 1500

/* VmRSS in KiB, or -1. */
static long vm_rss_kib(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int jn_bench_idle(const struct jn_bench_opts *o)
{
	const char *w = o->name ? o->name : "idle-conns";
	if (o->pid <= 0 || o->conns <= 0) {
		fprintf(stderr, "jn_bench: idle needs -p SERVER_PID and -c CONNS > 0\n");
		return -1;
	}
	int *fds = jn_malloc((size_t)o->conns * sizeof *fds);
	if (!fds)
		return -1;
	jn_bench_sleep_ms(200);
	long before = vm_rss_kib(o->pid);
	if (before < 0) {
		fprintf(stderr, "jn_bench: cannot read /proc/%d/status\n", o->pid);
		jn_free(fds);
		return -1;
	}
	int rc = 0, n = 0;
	uint64_t t0 = jn_bench_now_ns();
	for (; n < o->conns; n++) {
		fds[n] = jn_bench_raw_connect(o->host, o->port, NULL, 5000);
		if (fds[n] < 0) {
			fprintf(stderr, "jn_bench: idle connection %d of %d failed\n", n + 1, o->conns);
			rc = -1;
			break;
		}
	}
	uint64_t t1 = jn_bench_now_ns();
	jn_bench_sleep_ms(SETTLE_MS);
	long after = vm_rss_kib(o->pid);
	if (rc == 0 && after >= 0) {
		jn_bench_result(w, "RSS before", (double)before, "KiB", "info");
		jn_bench_result(w, "RSS per idle conn", (double)(after - before) * 1024.0 / n,
		                "bytes", "lower");
		jn_bench_result(w, "connect+handshake rate", (double)n * 1e9 / (double)(t1 - t0),
		                "conns/s", "higher");
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	jn_free(fds);
	return rc;
}
