/*
 * jn_bench.c - command line and shared helpers of the load generator.
 *
 *     jn_bench -u nats://127.0.0.1:4222 WORKLOAD [options]
 *
 * One workload per invocation, so each run starts from a clean client and a
 * crash or hang in one workload cannot spoil another; bench/run.sh loops.
 * Results are RESULT lines on stdout (format in bench.h).
 */
#include "bench/bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <nats/nats.h>

uint64_t jn_bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void jn_bench_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void jn_bench_result_for(const char *server, const char *workload, const char *metric,
                         double value, const char *unit, const char *better)
{
	if (server)
		printf("RESULT\t%s\t%s\t%.6g\t%s\t%s\t%s\n", workload, metric, value, unit, better,
		       server);
	else
		printf("RESULT\t%s\t%s\t%.6g\t%s\t%s\n", workload, metric, value, unit, better);
	fflush(stdout);
	fprintf(stderr, "  %-12s %-28s %14.1f %s%s%s\n", workload, metric, value, unit,
	        server ? "  " : "", server ? server : "");
}

void jn_bench_result(const char *workload, const char *metric, double value,
                     const char *unit, const char *better)
{
	jn_bench_result_for(NULL, workload, metric, value, unit, better);
}

void jn_bench_fill(char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + i % 26);
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
                           void *closure)
{
	fprintf(stderr, "jn_bench: %s: async error: %s\n", (const char *)closure,
	        natsStatus_GetText(err));
}

natsConnection *jn_bench_nats_connect(const struct jn_bench_opts *o, const char *name,
                                      bool send_asap)
{
	natsOptions *opts = NULL;
	natsConnection *nc = NULL;
	natsStatus st = natsOptions_Create(&opts);
	if (st == NATS_OK)
		st = natsOptions_SetURL(opts, o->url);
	if (st == NATS_OK)
		st = natsOptions_SetName(opts, name);
	if (st == NATS_OK)
		st = natsOptions_SetAllowReconnect(opts, false);
	if (st == NATS_OK)
		st = natsOptions_SetTimeout(opts, 5000);
	if (st == NATS_OK)
		st = natsOptions_SetSendAsap(opts, send_asap);
	if (st == NATS_OK)
		st = natsOptions_SetErrorHandler(opts, on_async_error, (void *)name);
	if (st == NATS_OK)
		st = natsConnection_Connect(&nc, opts);
	natsOptions_Destroy(opts);
	if (st != NATS_OK) {
		fprintf(stderr, "jn_bench: %s: connect to %s: %s\n", name, o->url,
		        natsStatus_GetText(st));
		return NULL;
	}
	return nc;
}

/* Fills host, port and url (normalised) from a nats://host:port URL. */
static int split_url(const char *url, char *host, size_t hostlen, int *port, char *norm,
                     size_t normlen)
{
	const char *p = url;
	if (strncmp(p, "nats://", 7) == 0)
		p += 7;
	const char *colon = strrchr(p, ':');
	size_t hlen = colon ? (size_t)(colon - p) : strlen(p);
	if (hlen == 0 || hlen >= hostlen)
		return -1;
	memcpy(host, p, hlen);
	host[hlen] = '\0';
	*port = colon ? atoi(colon + 1) : 4222;
	if (*port <= 0 || *port > 65535)
		return -1;
	snprintf(norm, normlen, "nats://%s:%d", host, *port);
	return 0;
}

static int parse_url(struct jn_bench_opts *o, const char *url)
{
	return split_url(url, o->host, sizeof o->host, &o->port, o->url, sizeof o->url);
}

static int parse_pair(struct jn_bench_opts *o, const char *url)
{
	o->pair = true;
	return split_url(url, o->host2, sizeof o->host2, &o->port2, o->url2, sizeof o->url2);
}

static int parse_labels(struct jn_bench_opts *o, const char *arg)
{
	const char *comma = strchr(arg, ',');
	if (!comma || (size_t)(comma - arg) >= sizeof o->label[0] ||
	    strlen(comma + 1) >= sizeof o->label[1])
		return -1;
	snprintf(o->label[0], sizeof o->label[0], "%.*s", (int)(comma - arg), arg);
	snprintf(o->label[1], sizeof o->label[1], "%s", comma + 1);
	return 0;
}

/* 5,000 idle sockets and 100 subscribers need more than the usual 1024 fds. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: jn_bench [-u URL] WORKLOAD [options]\n"
	        "workloads:\n"
	        "  pubsub   1 publisher -> 1 subscriber         (-s SIZE -n COUNT -t SECS)\n"
	        "  fanout   1 publisher -> -S subscribers on wildcards (default 100)\n"
	        "  queue    1 publisher -> queue group of -S members (default 4)\n"
	        "  reqlat   sequential request/reply latency    (-n COUNT -t SECS)\n"
	        "  reqtput  request/reply throughput, -T requesters (default 8)\n"
	        "  idle     server RSS per idle connection      (-c CONNS -p PID)\n"
	        "  jspub    JetStream publish with PubAcks, 1 at a time or --async\n"
	        "           (--window N, default 4096); file stream or --memory\n"
	        "  jsfetch  pull consumer: prefill -n msgs (200000), then fetch\n"
	        "           --batch N (default 256) and ack each\n"
	        "  kvput    KV kvStore_Put round trips, -T clients (bucket history 1)\n"
	        "  kvget    KV kvStore_Get round trips on 1000 prefilled keys, -T clients\n"
	        "options:\n"
	        "  -u URL        server (default nats://127.0.0.1:4222)\n"
	        "  -s SIZE       payload bytes (default 128)\n"
	        "  -n COUNT      messages/requests to send at most\n"
	        "  -t SECS       time cap of the sending phase (default 3)\n"
	        "  -S N          subscribers / members\n"
	        "  -T N          requester threads\n"
	        "  -c N          idle connections (default 5000)\n"
	        "  -p PID        server pid (idle)\n"
	        "  -N NAME       workload name printed in RESULT lines\n"
	        "  -w MS         silence after which missing messages count as lost (1000)\n"
	        "  --libnats     pubsub, reqlat, reqtput: libnats clients instead of raw sockets\n"
	        "  --pair URL2   reqlat: measure URL and URL2 in one run, alternating requests\n"
	        "  --labels A,B  reqlat --pair: server names for the RESULT lines (server1,server2)\n"
	        "  --async       jspub: js_PublishAsync with a window instead of js_Publish\n"
	        "  --memory      jspub, jsfetch: memory stream instead of file\n"
	        "  --window N    jspub --async: outstanding PubAcks at most (4096)\n"
	        "  --batch N     jsfetch: messages per fetch (256)\n");
}

static const struct option longopts[] = {
	{ "libnats", no_argument, NULL, 'L' },
	{ "pair", required_argument, NULL, 'P' },
	{ "labels", required_argument, NULL, 'B' },
	{ "async", no_argument, NULL, 'A' },
	{ "memory", no_argument, NULL, 'M' },
	{ "window", required_argument, NULL, 'W' },
	{ "batch", required_argument, NULL, 'b' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Options may stand before and after the workload ("+" stops getopt at it).
 * Returns 0, or 1 for --help, or 2 for a bad option. */
static int parse_opts(int argc, char **argv, struct jn_bench_opts *o)
{
	int c;
	while ((c = getopt_long(argc, argv, "+u:s:n:t:S:T:c:p:N:w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			if (parse_url(o, optarg) != 0) {
				fprintf(stderr, "jn_bench: bad URL %s\n", optarg);
				return 2;
			}
			break;
		case 's': o->size = atoi(optarg); break;
		case 'n': o->count = atol(optarg); break;
		case 't': o->secs = atof(optarg); break;
		case 'S': o->subs = atoi(optarg); break;
		case 'T': o->threads = atoi(optarg); break;
		case 'c': o->conns = atoi(optarg); break;
		case 'p': o->pid = atoi(optarg); break;
		case 'N': o->name = optarg; break;
		case 'w': o->drain_ms = atoi(optarg); break;
		case 'L': o->libnats = true; break;
		case 'A': o->js_async = true; break;
		case 'M': o->js_memory = true; break;
		case 'W': o->window = atoi(optarg); break;
		case 'b': o->batch = atoi(optarg); break;
		case 'P':
			if (parse_pair(o, optarg) != 0) {
				fprintf(stderr, "jn_bench: bad URL %s\n", optarg);
				return 2;
			}
			break;
		case 'B':
			if (parse_labels(o, optarg) != 0) {
				fprintf(stderr, "jn_bench: --labels wants NAME1,NAME2\n");
				return 2;
			}
			break;
		case 'h': return 1;
		default: return 2;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct jn_bench_opts o = {
		.size = 128, .count = 0, .secs = 3.0, .subs = 0, .threads = 8,
		.conns = 5000, .pid = 0, .drain_ms = 1000, .window = 4096, .batch = 256,
	};
	parse_url(&o, "nats://127.0.0.1:4222");
	parse_labels(&o, "server1,server2");
	int prc = parse_opts(argc, argv, &o);
	if (prc == 0 && optind >= argc)
		prc = 2;
	const char *work = prc == 0 ? argv[optind++] : NULL;
	if (prc == 0)
		prc = parse_opts(argc, argv, &o);
	if (prc != 0) {
		usage();
		return prc == 1 ? 0 : 2;
	}
	if (o.size < 0 || o.size > 1 << 20 || o.secs <= 0 || o.window < 1 || o.batch < 1) {
		fprintf(stderr, "jn_bench: bad size, time, window or batch\n");
		return 2;
	}
	raise_nofile();
	if (nats_Open(-1) != NATS_OK) {
		fprintf(stderr, "jn_bench: nats_Open failed\n");
		return 1;
	}

	int rc;
	if (strcmp(work, "pubsub") == 0)
		rc = jn_bench_pubsub(&o);
	else if (strcmp(work, "fanout") == 0)
		rc = jn_bench_fanout(&o);
	else if (strcmp(work, "queue") == 0)
		rc = jn_bench_queue(&o);
	else if (strcmp(work, "reqlat") == 0)
		rc = jn_bench_reqlat(&o);
	else if (strcmp(work, "reqtput") == 0)
		rc = jn_bench_reqtput(&o);
	else if (strcmp(work, "idle") == 0)
		rc = jn_bench_idle(&o);
	else if (strcmp(work, "jspub") == 0)
		rc = jn_bench_jspub(&o);
	else if (strcmp(work, "jsfetch") == 0)
		rc = jn_bench_jsfetch(&o);
	else if (strcmp(work, "kvput") == 0)
		rc = jn_bench_kvput(&o);
	else if (strcmp(work, "kvget") == 0)
		rc = jn_bench_kvget(&o);
	else {
		fprintf(stderr, "jn_bench: unknown workload %s\n", work);
		usage();
		rc = -2;
	}
	nats_CloseAndWait(2000);
	return rc == 0 ? 0 : 1;
}
