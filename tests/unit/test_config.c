/*
 * test_config.c - the configuration loader (gateway/config.c), its field
 * locator (gateway/jsonpos.c) and value syntaxes (gateway/units.c).
 *
 * Every error case checks the whole message, "FILE:LINE:COL: FIELD:
 * problem", so a wrong line, column or field name fails the test. Every
 * test also checks that the counting allocator is back where it started.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "gateway/config.h"
#include "gateway/jsonpos.h"
#include "core/units.h"

#define SEC 1000000000LL

static size_t mem_at_start;

static int setup(void **state)
{
	(void)state;
	mem_at_start = jn_mem_used();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(jn_mem_used(), mem_at_start);
	return 0;
}

/* ---- defaults ------------------------------------------------------------ */

static void test_builtin_defaults(void **state)
{
	(void)state;
	struct jn_config c;
	assert_int_equal(jn_config_init(&c), 0);
	assert_string_equal(c.server_name, "junction");
	assert_string_equal(c.store_dir, "./store");
	assert_int_equal(c.workers, 0);
	assert_int_equal(c.log_level, JN_LOG_INFO);
	assert_true(c.nats_listen.enabled);
	assert_string_equal(c.nats_listen.host, "0.0.0.0");
	assert_int_equal(c.nats_listen.port, 4222);
	assert_int_equal(c.nats.max_payload, 1024 * 1024);
	assert_false(c.auth.required);
	jn_config_fini(&c);
}

static void test_embedded_default_file(void **state)
{
	(void)state;
	struct jn_config c;
	char err[512];
	assert_int_equal(jn_config_init(&c), 0);
	int rc = jn_config_load_default(&c, err, sizeof err);
	if (rc)
		fail_msg("%s", err);
	assert_string_equal(c.server_name, "junction");
	assert_string_equal(c.store_dir, "./store");
	assert_int_equal(c.workers, 0);
	assert_int_equal(c.log_level, JN_LOG_INFO);
	assert_string_equal(c.nats_listen.host, "0.0.0.0");
	assert_int_equal(c.nats_listen.port, 4222);
	assert_int_equal(c.nats.max_payload, 1048576);
	assert_int_equal(c.nats.max_control_line, 4096);
	assert_int_equal(c.nats.max_pending, 64 * 1024 * 1024);
	assert_int_equal(c.nats.ping_interval_ns, 120 * SEC);
	assert_int_equal(c.nats.ping_max, 2);
	assert_int_equal(c.nats.write_deadline_ns, 10 * SEC);
	assert_int_equal(c.nats.max_connections, 0);
	assert_int_equal(c.nats.max_subs, 0);
	assert_true(c.mqtt_listen.enabled);
	assert_int_equal(c.mqtt_listen.port, 1883);
	assert_true(c.http_listen.enabled);
	assert_int_equal(c.http_listen.port, 8080);
	assert_false(c.auth.required);
	assert_int_equal(c.auth.timeout_ns, 2 * SEC);
	/* the adapter's view follows the listener */
	assert_string_equal(c.nats.host, "0.0.0.0");
	assert_int_equal(c.nats.port, 4222);
	assert_string_equal(c.nats.server_name, "junction");
	jn_config_fini(&c);
}

/* ---- a full file --------------------------------------------------------- */

static const char full_json[] =
	"{\n"
	"  \"server_name\": \"edge-1\",\n"
	"  \"workers\": 3,\n"
	"  \"store_dir\": \"/var/lib/junction\",\n"
	"  \"log_level\": \"debug\",\n"
	"  \"nats\": {\n"
	"    \"host\": \"127.0.0.1\", \"port\": 14222,\n"
	"    \"max_payload\": \"2MiB\", \"max_control_line\": \"8K\",\n"
	"    \"max_pending\": 134217728, \"ping_interval\": \"1m30s\",\n"
	"    \"ping_max\": 5, \"write_deadline\": 2500000000,\n"
	"    \"max_connections\": 1000, \"max_subscriptions\": 50\n"
	"  },\n"
	"  \"mqtt\": { \"enabled\": false, \"host\": \"::1\", \"port\": 11883 },\n"
	"  \"http\": { \"enabled\": true, \"port\": 18080 },\n"
	"  \"authorization\": {\n"
	"    \"timeout\": \"500ms\",\n"
	"    \"no_auth_user\": \"guest\",\n"
	"    \"users\": [\n"
	"      { \"user\": \"admin\", \"password\": \"s3cret\" },\n"
	"      { \"user\": \"guest\", \"password\": \"guest\",\n"
	"        \"permissions\": {\n"
	"          \"publish\": { \"allow\": [\"public.>\", \"req.*\"], \"deny\": \"public.secret\" },\n"
	"          \"subscribe\": [\"public.>\", \"_INBOX.>\"]\n"
	"        } }\n"
	"    ]\n"
	"  },\n"
	"  \"jetstream\": { \"enabled\": false, \"sync\": \"interval\", \"sync_interval\": \"30s\",\n"
	"                 \"max_memory\": \"1GB\", \"max_file\": -1 }\n"
	"}\n";

static void test_full_file(void **state)
{
	(void)state;
	struct jn_config c;
	char err[512];
	assert_int_equal(jn_config_init(&c), 0);
	assert_int_equal(jn_config_load_default(&c, err, sizeof err), 0);
	int rc = jn_config_load_string(&c, "full.json", full_json, err, sizeof err);
	if (rc)
		fail_msg("%s", err);
	assert_string_equal(c.server_name, "edge-1");
	assert_int_equal(c.workers, 3);
	assert_string_equal(c.store_dir, "/var/lib/junction");
	assert_int_equal(c.log_level, JN_LOG_DEBUG);
	assert_string_equal(c.nats_listen.host, "127.0.0.1");
	assert_int_equal(c.nats_listen.port, 14222);
	assert_int_equal(c.nats.port, 14222);
	assert_string_equal(c.nats.host, "127.0.0.1");
	assert_string_equal(c.nats.server_name, "edge-1");
	assert_int_equal(c.nats.max_payload, 2 * 1024 * 1024);
	assert_int_equal(c.nats.max_control_line, 8000);
	assert_int_equal(c.nats.max_pending, 134217728);
	assert_int_equal(c.nats.ping_interval_ns, 90 * SEC);
	assert_int_equal(c.nats.ping_max, 5);
	assert_int_equal(c.nats.write_deadline_ns, 2500000000LL);
	assert_int_equal(c.nats.max_connections, 1000);
	assert_int_equal(c.nats.max_subs, 50);
	assert_false(c.mqtt_listen.enabled);
	assert_string_equal(c.mqtt_listen.host, "::1");
	assert_int_equal(c.mqtt_listen.port, 11883);
	assert_true(c.http_listen.enabled);
	assert_string_equal(c.http_listen.host, "0.0.0.0");   /* kept from the default */
	assert_int_equal(c.http_listen.port, 18080);

	assert_true(c.auth.required);
	assert_null(c.auth.token);
	assert_int_equal(c.auth.timeout_ns, 500000000LL);
	assert_string_equal(c.auth.no_auth_user, "guest");
	assert_int_equal(c.auth.nusers, 2);
	assert_string_equal(c.auth.users[0].name, "admin");
	assert_string_equal(c.auth.users[0].password, "s3cret");
	assert_false(c.auth.users[0].has_permissions);
	const struct jn_user *g = &c.auth.users[1];
	assert_string_equal(g->name, "guest");
	assert_true(g->has_permissions);
	assert_int_equal(g->publish.nallow, 2);
	assert_string_equal(g->publish.allow[0], "public.>");
	assert_string_equal(g->publish.allow[1], "req.*");
	assert_int_equal(g->publish.ndeny, 1);
	assert_string_equal(g->publish.deny[0], "public.secret");
	assert_int_equal(g->subscribe.nallow, 2);
	assert_int_equal(g->subscribe.ndeny, 0);
	/* the permissions are live, not just stored */
	assert_true(jn_auth_can_publish(g, "public.x", 8));
	assert_false(jn_auth_can_publish(g, "public.secret", 13));
	assert_false(jn_auth_can_publish(g, "private", 7));
	assert_true(jn_auth_can_subscribe(g, "_INBOX.abc", 10));
	assert_false(c.jetstream.enabled);
	assert_true(c.jetstream.sync_interval);
	assert_int_equal(c.jetstream.sync_interval_ns, 30 * SEC);
	assert_int_equal(c.jetstream.max_memory, 1LL << 30);
	assert_int_equal(c.jetstream.max_file, -1);
	const struct jn_user *who = NULL;
	assert_int_equal(jn_auth_check(&c.auth, "admin", "s3cret", NULL, &who), 0);
	assert_non_null(who);
	assert_int_not_equal(jn_auth_check(&c.auth, "admin", "nope", NULL, &who), 0);
	jn_config_fini(&c);
}

static void test_partial_overlay(void **state)
{
	(void)state;
	struct jn_config c;
	char err[512];
	assert_int_equal(jn_config_init(&c), 0);
	assert_int_equal(jn_config_load_default(&c, err, sizeof err), 0);
	assert_int_equal(jn_config_load_string(&c, "p.json", "{\"nats\":{\"port\":5222}}", err,
	                                       sizeof err), 0);
	assert_int_equal(c.nats_listen.port, 5222);
	assert_string_equal(c.nats_listen.host, "0.0.0.0");
	assert_int_equal(c.nats.max_pending, 64 * 1024 * 1024);
	assert_string_equal(c.server_name, "junction");
	/* an empty object changes nothing */
	assert_int_equal(jn_config_load_string(&c, "e.json", "{}", err, sizeof err), 0);
	assert_int_equal(c.nats_listen.port, 5222);
	/* a later "authorization" replaces the earlier one as a whole */
	assert_int_equal(jn_config_load_string(&c, "a.json",
	                 "{\"authorization\":{\"token\":\"t0k\"}}", err, sizeof err), 0);
	assert_true(c.auth.required);
	assert_string_equal(c.auth.token, "t0k");
	assert_int_equal(jn_config_load_string(&c, "b.json",
	                 "{\"authorization\":{\"users\":[{\"user\":\"u\",\"password\":\"p\"}]}}",
	                 err, sizeof err), 0);
	assert_null(c.auth.token);
	assert_int_equal(c.auth.nusers, 1);
	assert_int_equal(c.auth.timeout_ns, 2 * SEC);   /* back to the default */
	jn_config_fini(&c);
}

/* ---- errors: message, line, column, field -------------------------------- */

struct err_case {
	const char *json;
	const char *want;
};

static const struct err_case err_cases[] = {
	/* the example of the design brief: value position */
	{ "{\n  \"server_name\": \"x\",\n  \"nats\": {\n    \"host\": \"h\",\n"
	  "    \"port\": \"abc\"\n  }\n}",
	  "t.json:5:13: nats.port: expected an integer 1..65535, got \"abc\"" },
	{ "{\"nats\": {\"port\": 0}}",
	  "t.json:1:19: nats.port: expected an integer 1..65535, got 0" },
	{ "{\"nats\": {\"port\": 65536}}",
	  "t.json:1:19: nats.port: expected an integer 1..65535, got 65536" },
	{ "{\"nats\": {\"port\": 4222.0}}",
	  "t.json:1:19: nats.port: expected an integer 1..65535, got 4222.0" },
	/* unknown fields point at the key */
	{ "{\n  \"workers\": 1,\n  \"wrokers\": 2\n}",
	  "t.json:3:3: wrokers: unknown field" },
	{ "{\"nats\": {\n\t\"prot\": 1}}",
	  "t.json:2:2: nats.prot: unknown field" },
	{ "{\"mqtt\": {\"enabled\": true, \"tls\": {}}}",
	  "t.json:1:28: mqtt.tls: unknown field" },
	{ "{\"nats\": {\"enabled\": true}}",
	  "t.json:1:11: nats.enabled: unknown field" },
	/* types */
	{ "{\"server_name\": 5}", "t.json:1:17: server_name: expected a string, got 5" },
	{ "{\"server_name\": \"\"}", "t.json:1:17: server_name: must not be empty" },
	{ "{\"workers\": -1}", "t.json:1:13: workers: expected an integer 0..1024, got -1" },
	{ "{\"log_level\": \"loud\"}",
	  "t.json:1:15: log_level: expected one of \"trace\", \"debug\", \"info\", \"warn\", "
	  "\"error\", got \"loud\"" },
	{ "{\"mqtt\": {\"enabled\": \"yes\"}}",
	  "t.json:1:22: mqtt.enabled: expected true or false, got \"yes\"" },
	{ "{\"http\": []}", "t.json:1:10: http: expected an object, got an array" },
	{ "{\"jetstream\": true}", "t.json:1:15: jetstream: expected an object, got a boolean" },
	{ "{\"jetstream\": {\"sync\": \"sometimes\"}}",
	  "t.json:1:24: jetstream.sync: expected \"always\" or \"interval\", got \"sometimes\"" },
	{ "{\"jetstream\": {\"max_store\": 1}}", "t.json:1:16: jetstream.max_store: unknown field" },
	{ "[1, 2]", "t.json:1:1: (top level): expected a JSON object at the top level, got an array" },
	/* durations */
	{ "{\"nats\": {\"ping_interval\": \"2 minutes\"}}",
	  "t.json:1:28: nats.ping_interval: expected a duration such as \"10s\", \"500ms\" or "
	  "\"1h30m\", got \"2 minutes\"" },
	{ "{\"nats\": {\"ping_interval\": 60}}",
	  "t.json:1:28: nats.ping_interval: must be at least 1ms, got 60 (an integer is "
	  "nanoseconds; write a string such as \"60s\")" },
	{ "{\"nats\": {\"write_deadline\": \"0\"}}",
	  "t.json:1:29: nats.write_deadline: must be at least 1ms, got \"0\"" },
	{ "{\"authorization\": {\"timeout\": 2.5}}",
	  "t.json:1:31: authorization.timeout: expected a duration such as \"10s\" or integer "
	  "nanoseconds, got 2.5" },
	/* sizes */
	{ "{\"nats\": {\"max_payload\": \"1XB\"}}",
	  "t.json:1:26: nats.max_payload: expected a size such as 1048576, \"1MB\" or \"64MiB\", "
	  "got \"1XB\"" },
	{ "{\"nats\": {\"max_pending\": 0}}",
	  "t.json:1:26: nats.max_pending: must be a size from 1 to 9223372036854775807 bytes, got 0" },
	{ "{\"nats\": {\"max_payload\": \"4GB\"}}",
	  "t.json:1:26: nats.max_payload: must be a size from 1 to 2147483647 bytes, got \"4GB\"" },
	/* cross-field: max_payload <= max_pending, reported where this file sets it */
	{ "{\n  \"nats\": {\n    \"max_payload\": \"100MB\"\n  }\n}",
	  "t.json:3:20: nats.max_payload: max_payload (104857600) cannot be higher than "
	  "max_pending (67108864)" },
	{ "{\"nats\": {\"max_pending\": 1000}}",
	  "t.json:1:26: nats.max_pending: max_payload (1048576) cannot be higher than "
	  "max_pending (1000)" },
	/* authorization */
	{ "{\"authorization\": {\n"
	  "  \"users\": [\n"
	  "    {\"user\": \"a\", \"password\": \"x\"},\n"
	  "    {\"user\": \"b\", \"password\": 7}\n"
	  "  ]}}",
	  "t.json:4:31: authorization.users[1].password: expected a string, got 7" },
	{ "{\"authorization\": {\"users\": [\n"
	  "  {\"user\": \"a\", \"password\": \"x\"},\n"
	  "  {\"user\": \"a\", \"password\": \"y\"}]}}",
	  "t.json:3:12: authorization.users[1].user: duplicate user \"a\"" },
	{ "{\"authorization\": {\"users\": [\n  {\"password\": \"x\"}]}}",
	  "t.json:2:3: authorization.users[0]: missing field \"user\"" },
	{ "{\"authorization\": {\"users\": [{\"user\": \"a\", \"pass\": \"x\"}]}}",
	  "t.json:1:44: authorization.users[0].pass: unknown field" },
	{ "{\"authorization\": {\n"
	  "  \"token\": \"s\",\n"
	  "  \"users\": [{\"user\": \"a\", \"password\": \"x\"}]}}",
	  "t.json:2:12: authorization.token: cannot be combined with authorization.users "
	  "(use one or the other)" },
	{ "{\"authorization\": {\"no_auth_user\": \"zz\",\n"
	  " \"users\": [{\"user\": \"a\", \"password\": \"x\"}]}}",
	  "t.json:1:36: authorization.no_auth_user: user \"zz\" is not in authorization.users" },
	{ "{\"authorization\": {\"users\": [{\"user\": \"a\", \"password\": \"x\",\n"
	  "  \"permissions\": {\"publish\": {\"allow\": [\"ok.>\", \"bad..subject\"]}}}]}}",
	  "t.json:2:49: authorization.users[0].permissions.publish.allow[1]: invalid subject "
	  "\"bad..subject\"" },
	{ "{\"authorization\": {\"users\": [{\"user\": \"a\", \"password\": \"x\",\n"
	  "  \"permissions\": {\"subscribe\": \"foo.>.bar\"}}]}}",
	  "t.json:2:32: authorization.users[0].permissions.subscribe: invalid subject "
	  "\"foo.>.bar\"" },
	{ "{\"authorization\": {\"users\": [{\"user\": \"a\", \"password\": \"x\",\n"
	  "  \"permissions\": {\"publish\": {\"allow\": [\"a\"], \"allow_responses\": true}}}]}}",
	  "t.json:2:47: authorization.users[0].permissions.publish.allow_responses: unknown field" },
	/* mqtt limits */
	{ "{\"mqtt\": {\"max_packet_size\": 10}}",
	  "t.json:1:30: mqtt.max_packet_size: must be a size from 64 to 268435460 bytes, got 10" },
	{ "{\"mqtt\": {\"max_inflight_messages\": 0}}",
	  "t.json:1:36: mqtt.max_inflight_messages: expected an integer 1..65535, got 0" },
	{ "{\"mqtt\": {\"max_keepalive\": \"1500ms\"}}",
	  "t.json:1:28: mqtt.max_keepalive: must be whole seconds from 1s to 65535s, got \"1500ms\"" },
	{ "{\"mqtt\": {\"max_keepalive\": \"19h\"}}",
	  "t.json:1:28: mqtt.max_keepalive: must be whole seconds from 1s to 65535s, got \"19h\"" },
	{ "{\"mqtt\": {\"persistent_client_expiration\": 3600}}",
	  "t.json:1:43: mqtt.persistent_client_expiration: must be at least 1000ms, got 3600 (an "
	  "integer is nanoseconds; write a string such as \"3600s\")" },
	{ "{\"mqtt\": {\"max_inflight\": 5}}", "t.json:1:11: mqtt.max_inflight: unknown field" },
	/* columns count characters, not bytes (as jansson's do) */
	{ "{\"server_name\": \"\xc3\xa9t\xc3\xa9\", \"workers\": \"\xc3\xa9\"}",
	  "t.json:1:35: workers: expected an integer 0..1024, got \"\xc3\xa9\"" },
};

static void test_error_positions(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		struct jn_config c;
		char err[512] = "";
		assert_int_equal(jn_config_init(&c), 0);
		int rc = jn_config_load_string(&c, "t.json", err_cases[i].json, err, sizeof err);
		if (rc != -JN_ECONFIG || strcmp(err, err_cases[i].want) != 0)
			fail_msg("case %zu: rc %d\n  got:  %s\n  want: %s", i, rc, err, err_cases[i].want);
		jn_config_fini(&c);
	}
}

static void test_duplicate_key(void **state)
{
	(void)state;
	struct jn_config c;
	char err[512];
	assert_int_equal(jn_config_init(&c), 0);
	int rc = jn_config_load_string(&c, "d.json",
	                               "{\n  \"nats\": {\n    \"port\": 1,\n    \"port\": 2\n  }\n}",
	                               err, sizeof err);
	assert_int_equal(rc, -JN_ECONFIG);
	/* jansson reports the end of the repeated key */
	assert_string_equal(err, "d.json:4:10: invalid JSON: duplicate object key near '\"port\"'");
	jn_config_fini(&c);
}

static void test_syntax_error(void **state)
{
	(void)state;
	struct jn_config c;
	char err[512];
	assert_int_equal(jn_config_init(&c), 0);
	assert_int_equal(jn_config_load_string(&c, "s.json", "{\n  \"workers\": 1,\n}", err,
	                                       sizeof err), -JN_ECONFIG);
	assert_string_equal(err, "s.json:3:1: invalid JSON: string or '}' expected near '}'");
	assert_int_equal(jn_config_load_string(&c, "s.json", "{\n  \"log_level\": info\n}", err,
	                                       sizeof err), -JN_ECONFIG);
	assert_string_equal(err, "s.json:2:19: invalid JSON: invalid token near 'info'");
	assert_int_equal(jn_config_load_string(&c, "s.json", "", err, sizeof err), -JN_ECONFIG);
	assert_string_equal(err, "s.json:1:1: invalid JSON: '[' or '{' expected near end of file");
	jn_config_fini(&c);
}

static void test_load_file(void **state)
{
	(void)state;
	char path[] = "/tmp/jn_test_config_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char body[] = "{\n  \"nats\": { \"port\": 7777 },\n  \"store_dir\": 1\n}\n";
	assert_int_equal(write(fd, body, sizeof body - 1), (ssize_t)(sizeof body - 1));
	close(fd);

	struct jn_config c;
	char err[512], want[600];
	assert_int_equal(jn_config_init(&c), 0);
	assert_int_equal(jn_config_load_file(&c, path, err, sizeof err), -JN_ECONFIG);
	snprintf(want, sizeof want, "%s:3:16: store_dir: expected a string, got 1", path);
	assert_string_equal(err, want);
	assert_null(c.path);

	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"nats\": {\"port\": 7777}}", f);
	fclose(f);
	assert_int_equal(jn_config_load_file(&c, path, err, sizeof err), 0);
	assert_int_equal(c.nats_listen.port, 7777);
	assert_string_equal(c.path, path);
	unlink(path);

	assert_int_equal(jn_config_load_file(&c, path, err, sizeof err), -JN_ECONFIG);
	snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, want);
	jn_config_fini(&c);
}

/* Every shipped example loads over the default, and the documented full
 * example means what docs/configuration.md says it means. */
static void test_examples(void **state)
{
	(void)state;
	const char *dir = JN_SOURCE_DIR "/conf/examples";
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		char path[1024], err[512];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct jn_config c;
		assert_int_equal(jn_config_init(&c), 0);
		assert_int_equal(jn_config_load_default(&c, err, sizeof err), 0);
		if (jn_config_load_file(&c, path, err, sizeof err) != 0)
			fail_msg("%s", err);
		if (strcmp(e->d_name, "full.json") == 0) {
			const struct jn_user *u = NULL;
			assert_int_equal(c.workers, 4);
			assert_int_equal(c.nats.max_connections, 65536);
			assert_int_equal(c.auth.nusers, 3);
			assert_string_equal(c.auth.no_auth_user, "anonymous");
			/* the bcrypt hash in the example is the hash of "admin" */
			assert_int_equal(jn_auth_check(&c.auth, "admin", "admin", NULL, &u), 0);
			assert_int_not_equal(jn_auth_check(&c.auth, "admin", "nimda", NULL, &u), 0);
			assert_int_equal(jn_auth_check(&c.auth, "sensor", "s3nsor", NULL, &u), 0);
			assert_true(jn_auth_can_publish(u, "telemetry.t1", 12));
			assert_false(jn_auth_can_publish(u, "config.sensor.x", 15));
			assert_true(jn_auth_can_subscribe(u, "config.sensor.*", 15));
		}
		jn_config_fini(&c);
		n++;
	}
	closedir(d);
	assert_true(n >= 5);
}

/* The "mqtt" limits reach the adapter's options; unset ones keep its
 * defaults. */
static void test_mqtt_limits(void **state)
{
	(void)state;
	struct jn_config c;
	char err[512] = "";
	assert_int_equal(jn_config_init(&c), 0);
	assert_int_equal(c.mqtt.max_packet_size, 1024 * 1024);
	assert_int_equal(c.mqtt.max_inflight, 64);
	assert_int_equal(c.mqtt.max_keepalive, 0);
	const char *json =
		"{\"mqtt\": {\"enabled\": true, \"port\": 11883, \"max_connections\": 5000,\n"
		" \"max_packet_size\": \"256KiB\", \"max_inflight_messages\": 20,\n"
		" \"max_queued_messages\": 500, \"receive_maximum\": 100, \"max_topic_aliases\": 0,\n"
		" \"max_keepalive\": \"5m\", \"persistent_client_expiration\": \"2h\",\n"
		" \"max_pending\": \"8MiB\", \"write_deadline\": \"3s\", \"connect_timeout\": \"2s\"}}";
	if (jn_config_load_string(&c, "m.json", json, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_true(c.mqtt_listen.enabled);
	assert_int_equal(c.mqtt_listen.port, 11883);
	assert_int_equal(c.mqtt.max_connections, 5000);
	assert_int_equal(c.mqtt.max_packet_size, 256 * 1024);
	assert_int_equal(c.mqtt.max_inflight, 20);
	assert_int_equal(c.mqtt.max_queued, 500);
	assert_int_equal(c.mqtt.receive_max, 100);
	assert_int_equal(c.mqtt.topic_alias_max, 0);
	assert_int_equal(c.mqtt.max_keepalive, 300);
	assert_int_equal(c.mqtt.max_session_expiry, 7200);
	assert_int_equal(c.mqtt.max_pending, 8 * 1024 * 1024);
	assert_int_equal(c.mqtt.write_deadline_ns, 3 * SEC);
	assert_int_equal(c.mqtt.connect_timeout_ns, 2 * SEC);
	/* a later file changes one key, the others stay */
	assert_int_equal(jn_config_load_string(&c, "n.json",
	                                       "{\"mqtt\": {\"max_inflight_messages\": 7}}", err,
	                                       sizeof err), 0);
	assert_int_equal(c.mqtt.max_inflight, 7);
	assert_int_equal(c.mqtt.max_queued, 500);
	jn_config_fini(&c);
}

/* ---- value syntaxes ------------------------------------------------------ */

static void test_durations(void **state)
{
	(void)state;
	static const struct { const char *s; int64_t ns; } ok[] = {
		{ "0", 0 }, { "1ns", 1 }, { "1us", 1000 }, { "1\xc2\xb5s", 1000 },
		{ "1\xce\xbcs", 1000 }, { "500ms", 500000000 }, { "10s", 10 * SEC },
		{ "2m", 120 * SEC }, { "1h30m", 5400 * SEC }, { "1.5s", 1500000000 },
		{ ".5s", 500000000 }, { "1h1m1s1ms", 3661001000000LL }, { "0s", 0 },
		{ "2562047h", 2562047LL * 3600 * SEC },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t ns = -1;
		if (jn_parse_duration(ok[i].s, &ns) != 0 || ns != ok[i].ns)
			fail_msg("\"%s\": got %lld, want %lld", ok[i].s, (long long)ns, (long long)ok[i].ns);
	}
	static const char *const bad[] = {
		"", "10", "s", "1x", "-1s", "1 s", " 1s", "1s ", "1.s.", "3000000h", "1e3s", "m5",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ns;
		if (jn_parse_duration(bad[i], &ns) != -JN_EINVAL)
			fail_msg("\"%s\" should be refused", bad[i]);
	}
}

static void test_sizes(void **state)
{
	(void)state;
	static const struct { const char *s; int64_t n; } ok[] = {
		{ "0", 0 }, { "1024", 1024 }, { "10b", 10 }, { "1K", 1000 }, { "1k", 1000 },
		{ "1KB", 1024 }, { "1kib", 1024 }, { "1Ki", 1024 }, { "1M", 1000000 },
		{ "1MB", 1048576 }, { "64MiB", 64LL << 20 }, { "2G", 2000000000LL },
		{ "2GB", 2LL << 30 }, { "1T", 1000000000000LL }, { "1TiB", 1LL << 40 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t n = -1;
		if (jn_parse_size(ok[i].s, &n) != 0 || n != ok[i].n)
			fail_msg("\"%s\": got %lld, want %lld", ok[i].s, (long long)n, (long long)ok[i].n);
	}
	static const char *const bad[] = {
		"", "MB", "1.5MB", "-1", "1 MB", "1XB", "1MBs", "99999999999TB", "0x10",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t n;
		if (jn_parse_size(bad[i], &n) != -JN_EINVAL)
			fail_msg("\"%s\" should be refused", bad[i]);
	}
}

/* ---- the locator on its own ---------------------------------------------- */

static void test_jsonpos(void **state)
{
	(void)state;
	const char *t =
		"{\n"
		"  \"a\": {\"b\": [10, {\"c\": \"x\"}, [1, 2]]},\n"
		"  \"p\\u006Frt\": 1,\n"
		"  \"s\": \"with \\\" quote and } brace\", \"t\": 2\n"
		"}";
	int line, col;
	size_t len = strlen(t);
	assert_int_equal(jn_jsonpos_find(t, len, "", false, &line, &col), 0);
	assert_int_equal(line, 1);
	assert_int_equal(col, 1);
	assert_int_equal(jn_jsonpos_find(t, len, "a.b[1].c", false, &line, &col), 0);
	assert_int_equal(line, 2);
	assert_int_equal(col, 25);
	assert_int_equal(jn_jsonpos_find(t, len, "a.b[1].c", true, &line, &col), 0);
	assert_int_equal(col, 20);
	assert_int_equal(jn_jsonpos_find(t, len, "a.b[2][1]", false, &line, &col), 0);
	assert_int_equal(col, 35);
	/* escaped key */
	assert_int_equal(jn_jsonpos_find(t, len, "port", true, &line, &col), 0);
	assert_int_equal(line, 3);
	assert_int_equal(col, 3);
	/* skipping a string holding a quote and a brace */
	assert_int_equal(jn_jsonpos_find(t, len, "t", false, &line, &col), 0);
	assert_int_equal(line, 4);
	assert_int_equal(col, 42);
	/* missing: the deepest ancestor */
	assert_int_equal(jn_jsonpos_find(t, len, "a.b[7]", false, &line, &col), 1);
	assert_int_equal(line, 2);
	assert_int_equal(col, 14);
	assert_int_equal(jn_jsonpos_find(t, len, "a.zz.y", false, &line, &col), 1);
	assert_int_equal(col, 8);
	assert_int_equal(jn_jsonpos_find("  ", 2, "a", false, &line, &col), -1);
	assert_int_equal(line, 1);
	assert_int_equal(col, 1);
}

int main(void)
{
	jn_log_set_level(JN_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_builtin_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_embedded_default_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_overlay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_positions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_examples, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mqtt_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jsonpos, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
