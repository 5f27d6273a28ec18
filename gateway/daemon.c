/*
 * daemon.c - wiring and lifecycle of the whole process.
 *
 * Start: raise RLIMIT_NOFILE to the hard limit (thousands of connections),
 * block the stop signals before any thread exists (so only the signalfd
 * sees them; no work ever runs in a signal handler), build the router and
 * the NATS server, open the listeners (a port in use fails here, before any
 * thread starts), then start the workers.
 *
 * The main thread then runs the acceptor (listener.c) and waits for a
 * signal. Stop: close the listeners, tell every worker to close its
 * connections (each gets a final flush), join the workers, and only then
 * free what the epoch scheme still holds, the adapters and the router:
 * once no worker runs there is no reader left.
 */
#include "gateway/daemon.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include "adapters/mqtt/server.h"
#include "adapters/nats/server.h"
#include "core/alloc.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/jetstream.h"
#include "core/log.h"
#include "core/outq.h"
#include "core/router.h"
#include "gateway/http.h"
#include "gateway/listener.h"
#include "gateway/worker.h"

#define ACCEPT_PAUSE_MS 100

struct jn_daemon {
	const struct jn_config *cfg;
	struct jn_router router;
	bool router_ok;
	struct jn_nats_opts nats_opts;
	struct jn_nats_server *nats;
	struct jn_service nats_svc;
	struct jn_listener *nats_listener;
	struct jn_mqtt_server *mqtt;    /* NULL when disabled */
	struct jn_service mqtt_svc;
	struct jn_listener *mqtt_listener;
	struct jn_http_server *http;    /* NULL when disabled */
	struct jn_gw_health http_health;
	struct jn_worker **workers;
	unsigned nworkers;
	int epfd;
	int sigfd;
	int stopfd;
	struct jn_js *js;           /* NULL when JetStream is disabled */
	pthread_t js_timer;
	bool js_timer_on;
	atomic_bool js_timer_stop;
};

#define JS_TICK_NS 20000000L   /* 20 ms */

/* JetStream's timers (ack_wait, expiries, heartbeats) run from this thread. */
static void *js_timer_main(void *arg)
{
	struct jn_daemon *d = arg;
	struct timespec ts = { 0, JS_TICK_NS };
	while (!atomic_load(&d->js_timer_stop)) {
		nanosleep(&ts, NULL);
		jn_js_tick(d->js, jn_js_now_ns());
	}
	return NULL;
}

static void js_timer_stop(struct jn_daemon *d)
{
	if (d->js_timer_on) {
		atomic_store(&d->js_timer_stop, true);
		pthread_join(d->js_timer, NULL);
		d->js_timer_on = false;
	}
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rlim_t old = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		jn_debug("file descriptor limit raised from %llu to %llu", (unsigned long long)old,
		         (unsigned long long)rl.rlim_max);
	else
		jn_warn("cannot raise the file descriptor limit: %s", strerror(errno));
}

static unsigned worker_count(int configured)
{
	if (configured > 0)
		return (unsigned)configured;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* The MQTT server and its listener, when enabled; sessions and retained
 * messages persist under <store_dir>/mqtt. */
static int mqtt_start(struct jn_daemon *d, const struct jn_config *cfg, char *err, size_t errlen)
{
	if (!cfg->mqtt_listen.enabled)
		return 0;
	/* after JetStream: acknowledgements wait for the capturing stream */
	struct jn_mqtt_opts mo = cfg->mqtt;
	mo.js = d->js;
	mo.host = cfg->mqtt_listen.host;
	mo.port = cfg->mqtt_listen.port;
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/mqtt", cfg->store_dir);
	mo.store_dir = dir;
	int rc = jn_mqtt_server_new(&mo, &d->router, &cfg->auth, &d->mqtt);
	if (rc < 0) {
		snprintf(err, errlen, "mqtt: cannot start with store directory \"%.150s\": %s", dir,
		         jn_strerror(rc));
		return -1;
	}
	d->mqtt_svc = (struct jn_service){
		.name = "mqtt",
		.proto = &jn_mqtt_proto,
		.server = d->mqtt,
		.max_pending = mo.max_pending,
		.write_deadline_ns = mo.write_deadline_ns,
	};
	d->mqtt_listener = jn_listener_open(cfg->mqtt_listen.host, cfg->mqtt_listen.port,
	                                    &d->mqtt_svc, err, errlen);
	return d->mqtt_listener ? 0 : -1;
}

static void mqtt_watch(struct jn_daemon *d, bool on)
{
	if (!d->mqtt_listener)
		return;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = d->mqtt_listener };
	epoll_ctl(d->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, jn_listener_fd(d->mqtt_listener), &ev);
}

struct jn_daemon *jn_daemon_new(const struct jn_config *cfg)
{
	struct jn_daemon *d = jn_calloc(1, sizeof *d);
	if (!d) {
		jn_error("out of memory");
		return NULL;
	}
	d->cfg = cfg;
	d->epfd = d->sigfd = d->stopfd = -1;

	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);   /* workers inherit the mask */
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	d->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sigfd < 0 || d->stopfd < 0 || d->epfd < 0) {
		jn_error("cannot create the main loop: %s", strerror(errno));
		goto fail;
	}

	if (jn_router_init(&d->router) < 0) {
		jn_error("out of memory");
		goto fail;
	}
	d->router_ok = true;
	d->nats_opts = cfg->nats;
	d->nats_opts.server_name = cfg->server_name;
	d->nats_opts.host = cfg->nats_listen.host;
	d->nats_opts.port = cfg->nats_listen.port;
	if (cfg->jetstream.enabled) {
		struct jn_js_cfg jc = {
			.store_dir = cfg->store_dir,
			.sync = cfg->jetstream.sync_interval ? JN_SYNC_INTERVAL : JN_SYNC_ALWAYS,
			.sync_interval_ms = (uint32_t)(cfg->jetstream.sync_interval_ns / 1000000),
			.max_memory = cfg->jetstream.max_memory,
			.max_file = cfg->jetstream.max_file,
		};
		int rc = jn_js_open(&d->router, &jc, &d->js);
		if (rc < 0) {
			jn_error("jetstream: cannot start with store directory \"%s\": %s",
			         cfg->store_dir, jn_strerror(rc));
			goto fail;
		}
		d->nats_opts.jetstream = true;
	}
	d->nats = jn_nats_server_new(&d->nats_opts, &d->router, &cfg->auth);
	if (!d->nats) {
		jn_error("nats: cannot create the server");
		goto fail;
	}
	d->nats_svc = (struct jn_service){
		.name = "nats",
		.proto = &jn_nats_proto,
		.server = d->nats,
		.max_pending = cfg->nats.max_pending,
		.write_deadline_ns = cfg->nats.write_deadline_ns,
	};

	char err[256];
	d->nats_listener = jn_listener_open(cfg->nats_listen.host, cfg->nats_listen.port,
	                                    &d->nats_svc, err, sizeof err);
	if (!d->nats_listener) {
		jn_error("%s", err);
		goto fail;
	}
	if (mqtt_start(d, cfg, err, sizeof err) < 0) {
		jn_error("%s", err);
		goto fail;
	}

	d->nworkers = worker_count(cfg->workers);
	d->workers = jn_calloc(d->nworkers, sizeof *d->workers);
	if (!d->workers) {
		jn_error("out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < d->nworkers; i++) {
		d->workers[i] = jn_worker_new(i, &d->router);
		if (!d->workers[i] || jn_worker_start(d->workers[i]) < 0) {
			jn_error("cannot start I/O worker %u: %s", i, strerror(errno));
			goto fail;
		}
	}

	if (d->js) {
		if (pthread_create(&d->js_timer, NULL, js_timer_main, d) != 0) {
			jn_error("jetstream: cannot start the timer thread");
			goto fail;
		}
		d->js_timer_on = true;
	}

	struct epoll_event ev = { .events = EPOLLIN };
	ev.data.ptr = &d->sigfd;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->sigfd, &ev);
	ev.data.ptr = &d->stopfd;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->stopfd, &ev);
	ev.data.ptr = d->nats_listener;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, jn_listener_fd(d->nats_listener), &ev) < 0) {
		jn_error("epoll_ctl: %s", strerror(errno));
		goto fail;
	}

	jn_info("junction %s, pid %d, %u I/O worker%s, server name \"%s\"", JN_VERSION,
	        (int)getpid(), d->nworkers, d->nworkers == 1 ? "" : "s", cfg->server_name);
	jn_info("nats: listening on %s", jn_listener_addr(d->nats_listener));
	mqtt_watch(d, true);
	if (d->mqtt_listener)
		jn_info("mqtt: listening on %s", jn_listener_addr(d->mqtt_listener));
	d->http_health = (struct jn_gw_health){ cfg, &d->nats_listener, d->js != NULL, d->js };
	if (jn_gw_http_start(cfg, &d->router, d->nats, &d->http_health, &d->http) < 0)
		goto fail;
	jn_info("junction ready");
	return d;
fail:
	jn_daemon_free(d);
	return NULL;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int jn_daemon_run(struct jn_daemon *d)
{
	bool paused = false;
	int64_t resume_at = 0;
	int lfd = jn_listener_fd(d->nats_listener);
	for (;;) {
		int timeout = -1;
		if (paused) {
			int64_t left = resume_at - mono_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		struct epoll_event evs[8];
		int n = epoll_wait(d->epfd, evs, 8, timeout);
		if (n < 0 && errno != EINTR) {
			jn_error("epoll_wait: %s", strerror(errno));
			break;
		}
		bool stop = false;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &d->sigfd) {
				struct signalfd_siginfo si;
				while (read(d->sigfd, &si, sizeof si) == sizeof si) {
					if (si.ssi_signo == SIGHUP) {
						jn_info("SIGHUP: configuration reload is not supported; ignored");
						continue;
					}
					jn_info("%s received, shutting down",
					        si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
					stop = true;
				}
			} else if (p == &d->stopfd) {
				stop = true;
			} else if ((p == d->nats_listener || p == d->mqtt_listener) && !paused) {
				if (jn_listener_accept(p, d->workers, d->nworkers) == 1) {
					epoll_ctl(d->epfd, EPOLL_CTL_DEL, lfd, NULL);
					mqtt_watch(d, false);
					paused = true;
					resume_at = mono_ms() + ACCEPT_PAUSE_MS;
				}
			}
		}
		if (stop)
			break;
		if (paused && mono_ms() >= resume_at) {
			struct epoll_event ev = { .events = EPOLLIN, .data.ptr = d->nats_listener };
			epoll_ctl(d->epfd, EPOLL_CTL_ADD, lfd, &ev);
			mqtt_watch(d, true);
			paused = false;
		}
	}

	/* stop accepting first, so no connection arrives behind the close */
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, lfd, NULL);
	jn_listener_free(d->nats_listener);
	d->nats_listener = NULL;
	mqtt_watch(d, false);
	jn_listener_free(d->mqtt_listener);
	d->mqtt_listener = NULL;
	jn_http_server_free(d->http);   /* before the workers: it publishes into them */
	d->http = NULL;
	js_timer_stop(d);
	for (unsigned i = 0; i < d->nworkers; i++)
		jn_worker_close(d->workers[i]);
	for (unsigned i = 0; i < d->nworkers; i++)
		jn_worker_stop(d->workers[i]);
	jn_info("all connections closed");
	return 0;
}

void jn_daemon_shutdown(struct jn_daemon *d)
{
	uint64_t one = 1;
	ssize_t r = write(d->stopfd, &one, sizeof one);
	(void)r;
}

int jn_daemon_nats_port(const struct jn_daemon *d)
{
	return d->nats_listener ? jn_listener_port(d->nats_listener) : 0;
}

void jn_daemon_free(struct jn_daemon *d)
{
	if (!d)
		return;
	jn_listener_free(d->nats_listener);
	jn_listener_free(d->mqtt_listener);
	jn_http_server_free(d->http);
	js_timer_stop(d);
	if (d->workers) {
		for (unsigned i = 0; i < d->nworkers; i++) {
			if (d->workers[i]) {
				jn_worker_close(d->workers[i]);
				jn_worker_stop(d->workers[i]);
			}
		}
		for (unsigned i = 0; i < d->nworkers; i++)
			jn_worker_free(d->workers[i]);
		jn_free(d->workers);
	}
	/* no worker runs any more: nothing can read what was retired */
	jn_epoch_drain();
	/* JetStream last: the stores sync and release their pending PubAcks
	 * (into no connection, all are closed) */
	if (d->js) {
		jn_js_close(d->js);
		d->js = NULL;
		jn_epoch_drain();
	}
	if (d->nats)
		jn_nats_server_free(d->nats);
	if (d->mqtt)
		jn_mqtt_server_free(d->mqtt);   /* persists what is left; before the router */
	if (d->router_ok)
		jn_router_fini(&d->router);
	jn_epoch_drain();
	jn_outq_pool_trim();
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->stopfd >= 0)
		close(d->stopfd);
	jn_free(d);
}
