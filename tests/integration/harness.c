/*
 * harness.c - see harness.h. Owns the server child process, its config file
 * and scratch directory, the raw-socket helpers and the forking test runner.
 *
 * Process tree while a case runs:  runner -> case process -> server.
 * The runner never touches libnats (so fork is safe there); it creates the
 * scratch directory, forks the case, enforces the timeout, prints the
 * server log of a failed case and removes the directory. The server child
 * gets PR_SET_PDEATHSIG(SIGKILL), so killing the case kills the server.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef JN_JUNCTION_BIN
#define JN_JUNCTION_BIN "junction"
#endif
#ifndef JN_NATS_SERVER_DEFAULT
#define JN_NATS_SERVER_DEFAULT "nats-server"
#endif
#ifndef JN_MOSQUITTO_DEFAULT
#define JN_MOSQUITTO_DEFAULT "/usr/sbin/mosquitto"
#endif

struct it_server *it_srv;
static struct it_server it__server;
static char it__dir[256];       /* scratch dir handed down by the runner */
static bool it__verbose;

int64_t it_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

bool it_is_junction(void)
{
	const char *s = getenv("JN_TEST_SERVER");
	return s == NULL || *s == '\0' || strcmp(s, "junction") == 0;
}

bool it_is_mosquitto(void)
{
	const char *s = getenv("JN_TEST_SERVER");
	return s != NULL && strcmp(s, "mosquitto") == 0;
}

/* ---- failure ------------------------------------------------------------ */

static void it__kill_server(void)
{
	if (it_srv != NULL && it_srv->pid > 0) {
		kill(it_srv->pid, SIGKILL);
		waitpid(it_srv->pid, NULL, 0);
		it_srv->pid = 0;
	}
}

/* Describe a server that already died (crash during the case). */
static void it__server_death_note(char *buf, size_t cap)
{
	int st;
	buf[0] = '\0';
	if (it_srv == NULL || it_srv->pid <= 0)
		return;
	if (waitpid(it_srv->pid, &st, WNOHANG) == it_srv->pid) {
		if (WIFSIGNALED(st))
			snprintf(buf, cap, " [the server had died: signal %d]", WTERMSIG(st));
		else
			snprintf(buf, cap, " [the server had exited: status %d]", WEXITSTATUS(st));
		it_srv->pid = 0;
	}
}

static void it__vfail(const char *file, int line, const char *cond, const char *fmt,
                      va_list ap) __attribute__((noreturn));
static void it__vfail(const char *file, int line, const char *cond, const char *fmt,
                      va_list ap)
{
	char note[128];

	it__server_death_note(note, sizeof note);
	fprintf(stdout, "%s:%d: FAILURE: ", file, line);
	if (cond != NULL)
		fprintf(stdout, "check failed: %s: ", cond);
	vfprintf(stdout, fmt, ap);
	fprintf(stdout, "%s\n", note);
	fflush(stdout);
	it__kill_server();
	_exit(1);
}

void it_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	it__vfail(file, line, NULL, fmt, ap);
}

void it_fail_check(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	it__vfail(file, line, cond, fmt, ap);
}

static void it__atexit(void)
{
	it__kill_server();
}

/* ---- config writers ---------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static bool list_present(const char *const *l)
{
	return l[0] != NULL;
}

static void json_list(FILE *f, const char *key, const char *const *l, bool *first)
{
	if (!list_present(l))
		return;
	fprintf(f, "%s", *first ? "" : ", ");
	*first = false;
	json_str(f, key);
	fprintf(f, ": [");
	for (int i = 0; i < IT_MAX_SUBJ && l[i]; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, l[i]);
	}
	fprintf(f, "]");
}

static void json_perm(FILE *f, const char *key, const char *const *allow,
                      const char *const *deny, bool *first)
{
	bool f2 = true;
	if (!list_present(allow) && !list_present(deny))
		return;
	fprintf(f, "%s", *first ? "" : ", ");
	*first = false;
	json_str(f, key);
	fprintf(f, ": {");
	json_list(f, "allow", allow, &f2);
	json_list(f, "deny", deny, &f2);
	fprintf(f, "}");
}

/* Durations are written the way both servers read them: "<n>ms". */
static void write_junction_config(FILE *f, const struct it_config *c, int port)
{
	fprintf(f, "{\n  \"server_name\": \"junction-it\",\n");
	fprintf(f, "  \"store_dir\": ");
	{
		char store[300];
		snprintf(store, sizeof store, "%s/store", it__dir);
		json_str(f, store);
	}
	fprintf(f, ",\n  \"nats\": {\"host\": \"127.0.0.1\", \"port\": %d", port);
	if (c->max_payload)
		fprintf(f, ", \"max_payload\": %lld", (long long)c->max_payload);
	if (c->max_pending)
		fprintf(f, ", \"max_pending\": %lld", (long long)c->max_pending);
	if (c->ping_interval_ms)
		fprintf(f, ", \"ping_interval\": \"%dms\"", c->ping_interval_ms);
	if (c->ping_max)
		fprintf(f, ", \"ping_max\": %d", c->ping_max);
	if (c->write_deadline_ms)
		fprintf(f, ", \"write_deadline\": \"%dms\"", c->write_deadline_ms);
	if (c->max_connections)
		fprintf(f, ", \"max_connections\": %d", c->max_connections);
	if (c->max_subscriptions)
		fprintf(f, ", \"max_subscriptions\": %d", c->max_subscriptions);
	fprintf(f, "},\n");
	/* Only the NATS listener is under test: keep the gateway's other
	 * listeners off so cases never collide on fixed ports. */
	if (c->mqtt)
		fprintf(f, "  \"mqtt\": {\"enabled\": true, \"host\": \"127.0.0.1\", \"port\": %d%s%s},\n",
		        it__server.mqtt_port, c->mqtt_extra ? ", " : "", c->mqtt_extra ? c->mqtt_extra : "");
	else
		fprintf(f, "  \"mqtt\": {\"enabled\": false},\n");
	if (c->http)
		fprintf(f, "  \"http\": {\"enabled\": true, \"host\": \"127.0.0.1\", \"port\": %d%s%s}",
		        it__server.http_port, c->http_extra ? ", " : "", c->http_extra ? c->http_extra : "");
	else
		fprintf(f, "  \"http\": {\"enabled\": false}");
	/* JetStream only when asked, like nats-server without -js. */
	fprintf(f, ",\n  \"jetstream\": {\"enabled\": %s}", c->jetstream ? "true" : "false");
	if (c->token || c->users[0].user || c->auth_timeout_ms) {
		bool first = true;
		fprintf(f, ",\n  \"authorization\": {");
		if (c->token) {
			fprintf(f, "\"token\": ");
			json_str(f, c->token);
			first = false;
		}
		if (c->auth_timeout_ms) {
			fprintf(f, "%s\"timeout\": \"%dms\"", first ? "" : ", ", c->auth_timeout_ms);
			first = false;
		}
		if (c->users[0].user) {
			fprintf(f, "%s\"users\": [", first ? "" : ", ");
			for (int i = 0; i < IT_MAX_USERS && c->users[i].user; i++) {
				const struct it_user *u = &c->users[i];
				fprintf(f, "%s\n    {\"user\": ", i ? "," : "");
				json_str(f, u->user);
				fprintf(f, ", \"password\": ");
				json_str(f, u->password ? u->password : "");
				if (u->perms) {
					bool pf = true;
					fprintf(f, ", \"permissions\": {");
					json_perm(f, "publish", u->perms->pub_allow, u->perms->pub_deny, &pf);
					json_perm(f, "subscribe", u->perms->sub_allow, u->perms->sub_deny, &pf);
					fprintf(f, "}");
				}
				fprintf(f, "}");
			}
			fprintf(f, "]");
		}
		fprintf(f, "}");
	}
	fprintf(f, "\n}\n");
}

/* nats-server's config syntax accepts JSON-style quoted strings and lists. */
static void write_nats_server_config(FILE *f, const struct it_config *c, int port)
{
	fprintf(f, "host: \"127.0.0.1\"\nport: %d\n", port);
	if (c->max_payload)
		fprintf(f, "max_payload: %lld\n", (long long)c->max_payload);
	if (c->max_pending)
		fprintf(f, "max_pending: %lld\n", (long long)c->max_pending);
	if (c->ping_interval_ms)
		fprintf(f, "ping_interval: \"%dms\"\n", c->ping_interval_ms);
	if (c->ping_max)
		fprintf(f, "ping_max: %d\n", c->ping_max);
	if (c->write_deadline_ms)
		fprintf(f, "write_deadline: \"%dms\"\n", c->write_deadline_ms);
	if (c->max_connections)
		fprintf(f, "max_connections: %d\n", c->max_connections);
	if (c->max_subscriptions)
		fprintf(f, "max_subscriptions: %d\n", c->max_subscriptions);
	if (c->jetstream) {
		fprintf(f, "jetstream {\n  store_dir: ");
		char store[300];
		snprintf(store, sizeof store, "%s/store", it__dir);
		json_str(f, store);
		fprintf(f, "\n}\n");
	}
	if (c->token || c->users[0].user || c->auth_timeout_ms) {
		fprintf(f, "authorization {\n");
		if (c->token) {
			fprintf(f, "  token: ");
			json_str(f, c->token);
			fprintf(f, "\n");
		}
		if (c->auth_timeout_ms)
			fprintf(f, "  timeout: %g\n", c->auth_timeout_ms / 1000.0);
		if (c->users[0].user) {
			fprintf(f, "  users: [\n");
			for (int i = 0; i < IT_MAX_USERS && c->users[i].user; i++) {
				const struct it_user *u = &c->users[i];
				fprintf(f, "    {user: ");
				json_str(f, u->user);
				fprintf(f, ", password: ");
				json_str(f, u->password ? u->password : "");
				if (u->perms) {
					bool pf = true;
					fprintf(f, ", permissions: {");
					json_perm(f, "publish", u->perms->pub_allow, u->perms->pub_deny, &pf);
					json_perm(f, "subscribe", u->perms->sub_allow, u->perms->sub_deny, &pf);
					fprintf(f, "}");
				}
				fprintf(f, "}\n");
			}
			fprintf(f, "  ]\n");
		}
		fprintf(f, "}\n");
	}
}

/* mosquitto 2.0: one loopback listener, anonymous unless users are given
 * (their passwords hashed by mosquitto_passwd -U), persistence in the
 * scratch directory (saved at SIGTERM, loaded at start). NATS permissions
 * have no mosquitto equivalent here: tests that need them are junction's. */
static void write_mosquitto_config(FILE *f, const struct it_config *c, int port)
{
	fprintf(f, "listener %d 127.0.0.1\n", port);
	/* run as we are: mosquitto started by root otherwise becomes the user
	 * "mosquitto", who cannot write the scratch directory */
	struct passwd *pw_ent = getpwuid(getuid());
	if (pw_ent != NULL)
		fprintf(f, "user %s\n", pw_ent->pw_name);
	fprintf(f, "persistence true\npersistence_location %s/\n", it__dir);
	fprintf(f, "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n");
	if (it__verbose)
		fprintf(f, "log_type all\n");
	if (!c->users[0].user) {
		fprintf(f, "allow_anonymous true\n");
		return;
	}
	char pw[300];
	snprintf(pw, sizeof pw, "%s/mosquitto.passwd", it__dir);
	FILE *pf = fopen(pw, "w");
	if (pf == NULL)
		it_fail(__FILE__, __LINE__, "cannot write %s: %s", pw, strerror(errno));
	for (int i = 0; i < IT_MAX_USERS && c->users[i].user; i++)
		fprintf(pf, "%s:%s\n", c->users[i].user, c->users[i].password ? c->users[i].password : "");
	fclose(pf);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "mosquitto_passwd -U '%s'", pw);
	if (system(cmd) != 0)
		it_fail(__FILE__, __LINE__, "%s failed", cmd);
	fprintf(f, "allow_anonymous false\npassword_file %s\n", pw);
}

/* ---- server process ---------------------------------------------------- */

/* A random port in 14000..29999 that nobody listens on right now. It lies
 * below the kernel's ephemeral range, so outgoing connections of other
 * tests cannot take it between this check and the server's bind. */
static int pick_port(void)
{
	static bool seeded;
	if (!seeded) {
		srand((unsigned)(getpid() ^ (it_now_ms() * 7919)));
		seeded = true;
	}
	for (int tries = 0; tries < 200; tries++) {
		int port = 14000 + rand() % 16000;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd < 0)
			continue;
		if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0) {
			close(fd);
			return port;
		}
		close(fd);
	}
	it_fail(__FILE__, __LINE__, "no free loopback port found");
}

static int tcp_connect(int port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static char it__bin[512], it__conf[300];

/* Start the server process from it__bin/it__conf and wait until it listens
 * (append: keep the log of an earlier run, for restarts). */
static void it__spawn(bool append)
{
	const char *bin = it__bin;
	const char *conf = it__conf;
	char *argv[12];
	int argc = 0;
	argv[argc++] = (char *)bin;
	argv[argc++] = "-c";
	argv[argc++] = (char *)conf;
	if (it__verbose && it__server.mosquitto) {
		argv[argc++] = "-v";
	} else if (it__verbose) {
		argv[argc++] = "-D";
		argv[argc++] = "-V";
	}
	argv[argc] = NULL;

	/* Everything the child needs is prepared: after fork it only makes
	 * async-signal-safe calls (libnats threads may exist here). */
	pid_t parent = getpid();
	int logfd = open(it__server.log,
	                 O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC) | O_CLOEXEC, 0644);
	if (logfd < 0)
		it_fail(__FILE__, __LINE__, "cannot open %s: %s", it__server.log, strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		it_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(logfd, 1);
		dup2(logfd, 2);
		int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (devnull >= 0)
			dup2(devnull, 0);
		execvp(bin, argv);
		_exit(127);
	}
	close(logfd);
	it__server.pid = pid;

	/* Ready when the port accepts; ASan builds start slower. */
	int64_t deadline = it_now_ms() + 15000;
	for (;;) {
		char note[128];
		it__server_death_note(note, sizeof note);
		if (note[0])
			it_fail(__FILE__, __LINE__, "%s did not start (%s)%s", bin, conf, note);
		int fd = tcp_connect(it__server.port, 0);
		if (fd >= 0 && it__server.mqtt_port && it__server.mqtt_port != it__server.port) {
			close(fd);
			fd = tcp_connect(it__server.mqtt_port, 0);
		}
		if (fd >= 0) {
			close(fd);
			break;
		}
		if (it_now_ms() > deadline)
			it_fail(__FILE__, __LINE__, "%s did not listen on port %d within 15 s", bin,
			        it__server.port);
		it_sleep_ms(10);
	}
}

struct it_server *it_start(const struct it_config *cfg)
{
	static const struct it_config none;
	char conf[300];
	const char *bin;
	FILE *f;

	if (cfg == NULL)
		cfg = &none;
	if (it_srv != NULL)
		it_fail(__FILE__, __LINE__, "it_start called twice in one test case");
	memset(&it__server, 0, sizeof it__server);
	it__server.junction = it_is_junction();
	it__server.mosquitto = it_is_mosquitto();
	it__server.port = pick_port();
	if (it__server.mosquitto)
		it__server.mqtt_port = it__server.port;
	while (cfg->mqtt && it__server.junction &&
	       (it__server.mqtt_port == 0 || it__server.mqtt_port == it__server.port))
		it__server.mqtt_port = pick_port();
	while (cfg->http && it__server.junction &&
	       (it__server.http_port == 0 || it__server.http_port == it__server.port))
		it__server.http_port = pick_port();
	snprintf(it__server.url, sizeof it__server.url, "nats://127.0.0.1:%d", it__server.port);
	snprintf(it__server.dir, sizeof it__server.dir, "%s", it__dir);
	snprintf(it__server.log, sizeof it__server.log, "%s/server.log", it__dir);

	snprintf(conf, sizeof conf, "%s/%s", it__dir,
	         it__server.junction ? "junction.json"
	         : it__server.mosquitto ? "mosquitto.conf" : "nats-server.conf");
	f = fopen(conf, "w");
	if (f == NULL)
		it_fail(__FILE__, __LINE__, "cannot write %s: %s", conf, strerror(errno));
	if (it__server.junction)
		write_junction_config(f, cfg, it__server.port);
	else if (it__server.mosquitto)
		write_mosquitto_config(f, cfg, it__server.port);
	else
		write_nats_server_config(f, cfg, it__server.port);
	fclose(f);

	if (it__server.junction) {
		bin = getenv("JN_JUNCTION_BIN");
		if (bin == NULL || *bin == '\0')
			bin = JN_JUNCTION_BIN;
	} else if (it__server.mosquitto) {
		bin = getenv("JN_MOSQUITTO_BIN");
		if (bin == NULL || *bin == '\0')
			bin = JN_MOSQUITTO_DEFAULT;
	} else {
		bin = getenv("JN_NATS_SERVER_BIN");
		if (bin == NULL || *bin == '\0')
			bin = JN_NATS_SERVER_DEFAULT;
	}
	snprintf(it__bin, sizeof it__bin, "%s", bin);
	snprintf(it__conf, sizeof it__conf, "%s", conf);
	it_srv = &it__server;
	it__spawn(false);
	return it_srv;
}

void it_stop(void)
{
	int st = 0;
	pid_t pid;

	if (it_srv == NULL || it_srv->pid <= 0)
		return;
	pid = it_srv->pid;
	kill(pid, SIGTERM);
	int64_t deadline = it_now_ms() + 15000;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (it_now_ms() > deadline)
			it_fail(__FILE__, __LINE__, "server (pid %d) did not exit within 15 s of SIGTERM",
			        (int)pid);
		it_sleep_ms(5);
	}
	it_srv->pid = 0;
	if (WIFSIGNALED(st))
		it_fail(__FILE__, __LINE__, "server died of signal %d after SIGTERM", WTERMSIG(st));
	/* nats-server exits 1 on SIGTERM by design; junction promises 0. */
	if (it_srv->junction && WEXITSTATUS(st) != 0)
		it_fail(__FILE__, __LINE__, "junction exited with status %d after SIGTERM, expected 0",
		        WEXITSTATUS(st));
}

void it_restart(bool kill9)
{
	if (it_srv == NULL)
		it_fail(__FILE__, __LINE__, "it_restart before it_start");
	if (it_srv->pid <= 0) {
		/* stopped by it_stop(): just start it again */
	} else if (kill9) {
		int st;
		kill(it_srv->pid, SIGKILL);
		waitpid(it_srv->pid, &st, 0);
		it_srv->pid = 0;
	} else {
		it_stop();
	}
	it__spawn(true);
}

/* ---- libnats helpers --------------------------------------------------- */

natsOptions *it_opts(void)
{
	natsOptions *o = NULL;
	if (it_srv == NULL)
		it_fail(__FILE__, __LINE__, "it_opts before it_start");
	IT_OK(natsOptions_Create(&o));
	IT_OK(natsOptions_SetURL(o, it_srv->url));
	IT_OK(natsOptions_SetAllowReconnect(o, false));
	IT_OK(natsOptions_SetTimeout(o, 5000));
	return o;
}

natsConnection *it_connect(const char *user, const char *password)
{
	natsOptions *o = it_opts();
	natsConnection *nc = NULL;
	if (user != NULL)
		IT_OK(natsOptions_SetUserInfo(o, user, password));
	IT_OK(natsConnection_Connect(&nc, o));
	natsOptions_Destroy(o);
	return nc;
}

/* ---- raw sockets ------------------------------------------------------- */

/* Printable rendering of wire bytes for failure messages (static buffer). */
static const char *esc(const char *p, size_t n)
{
	static char out[4][2048];
	static int which;
	char *o = out[which++ & 3];
	size_t k = 0;
	for (size_t i = 0; i < n && k < sizeof out[0] - 8; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r')
			k += (size_t)sprintf(o + k, "\\r");
		else if (c == '\n')
			k += (size_t)sprintf(o + k, "\\n");
		else if (c == '\t')
			k += (size_t)sprintf(o + k, "\\t");
		else if (c == '\\')
			k += (size_t)sprintf(o + k, "\\\\");
		else if (c < 0x20 || c >= 0x7f)
			k += (size_t)sprintf(o + k, "\\x%02x", c);
		else
			o[k++] = (char)c;
	}
	if (k >= sizeof out[0] - 8)
		k += (size_t)sprintf(o + k, "...");
	o[k] = '\0';
	return o;
}

int it_raw_connect_rcvbuf(int rcvbuf)
{
	if (it_srv == NULL)
		it_fail(__FILE__, __LINE__, "it_raw_connect before it_start");
	int fd = tcp_connect(it_srv->port, rcvbuf);
	if (fd < 0)
		it_fail(__FILE__, __LINE__, "connect to 127.0.0.1:%d: %s", it_srv->port, strerror(errno));
	return fd;
}

int it_raw_connect(void)
{
	return it_raw_connect_rcvbuf(0);
}

void it_raw_sendn(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			it_fail(__FILE__, __LINE__, "send(\"%s\"): %s", esc(p, len), strerror(errno));
		p += w;
		len -= (size_t)w;
	}
}

void it_raw_send(int fd, const char *s)
{
	it_raw_sendn(fd, s, strlen(s));
}

/* Read up to cap bytes, waiting at most until deadline. Returns bytes read,
 * 0 on orderly close or reset, -1 on timeout. *err gets errno on reset. */
static ssize_t read_some(int fd, char *buf, size_t cap, int64_t deadline, int *err)
{
	*err = 0;
	for (;;) {
		int64_t left = deadline - it_now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left < 0)
			left = 0;
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -1;
		ssize_t n = recv(fd, buf, cap, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err = errno;
			return 0;
		}
		return n;
	}
}

void it_raw_expect_at(const char *file, int line, int fd, const char *want, size_t n,
                      int timeout_ms)
{
	char *got = malloc(n + 1);
	size_t have = 0;
	int64_t deadline = it_now_ms() + timeout_ms;
	int err;

	if (got == NULL)
		it_fail(file, line, "out of memory");
	while (have < n) {
		ssize_t r = read_some(fd, got + have, n - have, deadline, &err);
		if (r <= 0)
			it_fail(file, line, "expected \"%s\", got \"%s\" then %s", esc(want, n),
			        esc(got, have),
			        r < 0 ? "nothing more (timeout)" : err ? strerror(err) : "connection closed");
		if (memcmp(got + have, want + have, (size_t)r) != 0) {
			have += (size_t)r;
			it_fail(file, line, "expected \"%s\", got \"%s\"", esc(want, n), esc(got, have));
		}
		have += (size_t)r;
	}
	free(got);
}

size_t it_raw_line_at(const char *file, int line, int fd, char *buf, size_t cap, int timeout_ms)
{
	size_t have = 0;
	int64_t deadline = it_now_ms() + timeout_ms;
	int err;

	/* Byte at a time: never consume beyond the line. */
	while (have + 1 < cap) {
		ssize_t r = read_some(fd, buf + have, 1, deadline, &err);
		if (r <= 0)
			it_fail(file, line, "expected a line, got \"%s\" then %s", esc(buf, have),
			        r < 0 ? "nothing more (timeout)" : err ? strerror(err) : "connection closed");
		have++;
		if (have >= 2 && buf[have - 2] == '\r' && buf[have - 1] == '\n') {
			buf[have] = '\0';
			return have;
		}
	}
	it_fail(file, line, "line longer than %zu bytes: \"%s\"", cap, esc(buf, have));
}

void it_raw_expect_closed_at(const char *file, int line, int fd, int timeout_ms)
{
	char buf[512];
	int err;
	ssize_t r = read_some(fd, buf, sizeof buf, it_now_ms() + timeout_ms, &err);
	if (r < 0)
		it_fail(file, line, "expected the server to close the connection within %d ms; it stayed open",
		        timeout_ms);
	if (r > 0)
		it_fail(file, line, "expected the connection to close, got \"%s\"", esc(buf, (size_t)r));
}

void it_raw_expect_silence_at(const char *file, int line, int fd, int ms)
{
	char buf[512];
	int err;
	ssize_t r = read_some(fd, buf, sizeof buf, it_now_ms() + ms, &err);
	if (r == 0)
		it_fail(file, line, "expected nothing for %d ms, but the connection closed (%s)", ms,
		        err ? strerror(err) : "EOF");
	if (r > 0)
		it_fail(file, line, "expected nothing for %d ms, got \"%s\"", ms, esc(buf, (size_t)r));
}

const char *it_raw_info_at(const char *file, int line, int fd)
{
	static char buf[8192];
	size_t n = it_raw_line_at(file, line, fd, buf, sizeof buf, 5000);
	if (n < 9 || memcmp(buf, "INFO {", 6) != 0)
		it_fail(file, line, "expected \"INFO {...}\\r\\n\" first, got \"%s\"", esc(buf, n));
	/* nats-server writes "} \r\n"; a client must accept either. */
	size_t end = n - 2;
	while (end > 6 && buf[end - 1] == ' ')
		end--;
	if (buf[end - 1] != '}')
		it_fail(file, line, "INFO line does not end with a JSON object: \"%s\"", esc(buf, n));
	buf[end] = '\0';
	return buf + 5;
}

void it_raw_hello_at(const char *file, int line, int fd, const char *connect_json)
{
	char out[4096];
	it_raw_info_at(file, line, fd);
	snprintf(out, sizeof out, "CONNECT %s\r\nPING\r\n", connect_json);
	it_raw_send(fd, out);
	it_raw_expect_at(file, line, fd, "PONG\r\n", 6, 5000);
}

int it_raw_client(void)
{
	int fd = it_raw_connect();
	it_raw_hello(fd, "{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"protocol\":1}");
	return fd;
}

/* ---- runner ------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void print_log_tail(const char *dir)
{
	char path[300];
	snprintf(path, sizeof path, "%s/server.log", dir);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	/* Last 120 lines: keep a ring of line starts. */
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	if (n == 0)
		return;
	size_t start = n, lines = 0;
	while (start > 0 && lines < 121) {
		start--;
		if (text[start] == '\n')
			lines++;
	}
	if (text[start] == '\n')
		start++;
	printf("  --- server log (%s), last lines ---\n", path);
	for (char *p = text + start; *p;) {
		char *e = strchr(p, '\n');
		if (e)
			*e = '\0';
		printf("  | %s\n", p);
		if (!e)
			break;
		p = e + 1;
	}
}

static int run_case(const struct it_test *t)
{
	char dir[] = "/tmp/jn-it-XXXXXX";
	int timeout_s = t->timeout_s > 0 ? t->timeout_s : 60;
	int st = 0;
	int64_t start = it_now_ms();
	bool timed_out = false;

	if (mkdtemp(dir) == NULL) {
		printf("[ FAIL ] %s: mkdtemp: %s\n", t->name, strerror(errno));
		return 1;
	}
	printf("[ RUN  ] %s\n", t->name);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		printf("[ FAIL ] %s: fork: %s\n", t->name, strerror(errno));
		return 1;
	}
	if (pid == 0) {
		snprintf(it__dir, sizeof it__dir, "%s", dir);
		atexit(it__atexit);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		t->fn();
		it_stop();
		nats_Close();
		fflush(stdout);
		exit(0);
	}
	int64_t deadline = start + (int64_t)timeout_s * 1000;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (!timed_out && it_now_ms() > deadline) {
			timed_out = true;
			kill(pid, SIGKILL);   /* the server dies with it (PDEATHSIG) */
		}
		it_sleep_ms(5);
	}
	int64_t ms = it_now_ms() - start;
	bool ok = !timed_out && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (!ok) {
		if (timed_out)
			printf("%s: FAILURE: timed out after %d s\n", t->name, timeout_s);
		else if (WIFSIGNALED(st))
			printf("%s: FAILURE: test process died of signal %d\n", t->name, WTERMSIG(st));
		print_log_tail(dir);
	} else if (it__verbose) {
		print_log_tail(dir);
	}
	printf("[ %s ] %s (%lld ms)\n", ok ? " OK " : "FAIL", t->name, (long long)ms);
	fflush(stdout);
	if (ok || getenv("JN_TEST_KEEP") == NULL)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("  (kept %s)\n", dir);
	return ok ? 0 : 1;
}

int it_main(int argc, char **argv, const struct it_test *tests, size_t n)
{
	int passed = 0, failed = 0;
	const char *v = getenv("JN_TEST_VERBOSE");

	const char *which = getenv("JN_TEST_SERVER");
	if (which != NULL && *which && strcmp(which, "junction") != 0 &&
	    strcmp(which, "nats-server") != 0 && strcmp(which, "mosquitto") != 0) {
		printf("JN_TEST_SERVER=%s: expected \"junction\", \"nats-server\" or \"mosquitto\"\n",
		       which);
		return 2;
	}
	it__verbose = v != NULL && *v && strcmp(v, "0") != 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	printf("server under test: %s\n", it_is_junction() ? "junction"
	                                   : it_is_mosquitto() ? "mosquitto" : "nats-server");
	for (size_t i = 0; i < n; i++) {
		bool selected = argc <= 1;
		for (int a = 1; a < argc; a++)
			if (strcmp(argv[a], tests[i].name) == 0)
				selected = true;
		if (!selected)
			continue;
		if (run_case(&tests[i]) == 0)
			passed++;
		else
			failed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 && passed > 0 ? 0 : 1;
}
