/*
 * main.c - the junction command line: parse flags, build the configuration
 * (built-in defaults < embedded conf/junction.json < -c FILE < flags), run
 * the daemon. Exit status: 0 after a clean shutdown, 1 when the daemon
 * cannot start (bad config, port in use), 2 for a bad command line.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/alloc.h"
#include "core/log.h"
#include "gateway/config.h"
#include "gateway/daemon.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: junction [options]\n"
	        "\n"
	        "  -c, --config FILE      load FILE over the built-in configuration\n"
	        "  -a, --addr ADDR        NATS listen address (overrides nats.host)\n"
	        "  -p, --port PORT        NATS listen port (overrides nats.port)\n"
	        "      --store-dir DIR    storage directory (overrides store_dir)\n"
	        "      --workers N        I/O worker threads, 0 = one per CPU (overrides workers)\n"
	        "  -D, --debug            log at debug level\n"
	        "  -V, --trace            log at trace level (protocol traffic)\n"
	        "  -h, --help             show this help and exit\n"
	        "  -v, --version          show the version and exit\n"
	        "\n"
	        "Configuration format: docs/configuration.md\n");
}

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_STORE = 256, OPT_WORKERS };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "store-dir", required_argument, NULL, OPT_STORE },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "debug", no_argument, NULL, 'D' },
		{ "trace", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *addr = NULL, *store = NULL;
	long port = -1, workers = -1;
	int level = -1;
	int o;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":c:a:p:DVhv", opts, NULL)) != -1) {
		switch (o) {
		case 'c': file = optarg; break;
		case 'a': addr = optarg; break;
		case 'p':
			if (parse_int(optarg, 1, 65535, &port) < 0) {
				fprintf(stderr, "junction: invalid port \"%s\" (1..65535)\n", optarg);
				return 2;
			}
			break;
		case OPT_STORE: store = optarg; break;
		case OPT_WORKERS:
			if (parse_int(optarg, 0, 1024, &workers) < 0) {
				fprintf(stderr, "junction: invalid worker count \"%s\" (0..1024)\n", optarg);
				return 2;
			}
			break;
		case 'D': if (level < 0 || level > JN_LOG_DEBUG) level = JN_LOG_DEBUG; break;
		case 'V': level = JN_LOG_TRACE; break;
		case 'h': usage(stdout); return 0;
		case 'v': printf("junction %s\n", JN_VERSION); return 0;
		case ':':
			fprintf(stderr, "junction: option %s needs an argument\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		default:
			fprintf(stderr, "junction: unknown option %s\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "junction: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	struct jn_config cfg;
	char err[512];
	int rc = jn_config_init(&cfg);
	if (rc == 0)
		rc = jn_config_load_default(&cfg, err, sizeof err);
	if (rc == 0 && file)
		rc = jn_config_load_file(&cfg, file, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "junction: %s\n", err[0] ? err : "out of memory");
		jn_config_fini(&cfg);
		return 1;
	}
	if (addr) {
		if (strlen(addr) >= sizeof cfg.nats_listen.host) {
			fprintf(stderr, "junction: address too long\n");
			jn_config_fini(&cfg);
			return 2;
		}
		snprintf(cfg.nats_listen.host, sizeof cfg.nats_listen.host, "%s", addr);
	}
	if (port > 0)
		cfg.nats_listen.port = (int)port;
	if (workers >= 0)
		cfg.workers = (int)workers;
	if (store) {
		char *s = jn_strdup(store);
		if (!s) {
			fprintf(stderr, "junction: out of memory\n");
			jn_config_fini(&cfg);
			return 1;
		}
		jn_free(cfg.store_dir);
		cfg.store_dir = s;
	}
	if (level >= 0)
		cfg.log_level = level;
	jn_config_sync(&cfg);
	jn_log_set_level((enum jn_log_level)cfg.log_level);

	struct jn_daemon *d = jn_daemon_new(&cfg);
	if (!d) {
		jn_config_fini(&cfg);
		return 1;
	}
	jn_daemon_run(d);
	jn_daemon_free(d);
	jn_config_fini(&cfg);
	/* everything is freed by now: what is left is a leak */
	if (jn_mem_used())
		jn_warn("exit with %zu bytes in %zu allocations still live", jn_mem_used(),
		        jn_mem_allocs());
	jn_info("junction stopped");
	return 0;
}
