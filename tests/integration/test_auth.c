/*
 * test_auth.c - authentication: user/password and token, success and
 * failure through libnats, and the exact wire behaviour (INFO auth_required,
 * -ERR 'Authorization Violation' then close, the auth timeout).
 */
#include <jansson.h>
#include <stdio.h>
#include <strings.h>
#include <unistd.h>
#include "harness.h"

static const struct it_config users_cfg = {
	.users = { { "alice", "wonderland", NULL }, { "bob", "builder", NULL } },
};

static const struct it_config token_cfg = { .token = "s3cr3t-t0ken" };

/* The last libnats error text must name the authorization violation. */
static void expect_auth_failure(natsStatus s)
{
	const char *txt = nats_GetLastError(NULL);
	/* libnats maps -ERR 'Authorization Violation' during connect to this. */
	IT_CHECK(s == NATS_CONNECTION_AUTH_FAILED,
	         "connect returned %s, expected NATS_CONNECTION_AUTH_FAILED", natsStatus_GetText(s));
	IT_CHECK(txt != NULL && strcasestr(txt, "authorization violation") != NULL,
	         "last error \"%s\" does not mention the authorization violation", txt ? txt : "");
}

static void t_user_password_ok(void)
{
	it_start(&users_cfg);
	natsConnection *a = it_connect("alice", "wonderland"), *b = it_connect("bob", "builder");
	natsSubscription *sub = NULL;
	natsMsg *m = NULL;
	IT_OK(natsConnection_SubscribeSync(&sub, a, "auth.ok"));
	IT_OK(natsConnection_Flush(a));
	IT_OK(natsConnection_PublishString(b, "auth.ok", "x"));
	IT_OK(natsSubscription_NextMsg(&m, sub, 2000));
	natsMsg_Destroy(m);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(a);
	natsConnection_Destroy(b);
}

static void connect_fails(const char *user, const char *pass, const char *token)
{
	natsOptions *o = it_opts();
	natsConnection *nc = NULL;
	if (user)
		IT_OK(natsOptions_SetUserInfo(o, user, pass));
	if (token)
		IT_OK(natsOptions_SetToken(o, token));
	natsStatus s = natsConnection_Connect(&nc, o);
	natsOptions_Destroy(o);
	IT_CHECK(nc == NULL, "connected although credentials were wrong");
	expect_auth_failure(s);
}

static void t_user_password_wrong(void)
{
	it_start(&users_cfg);
	connect_fails("alice", "builder", NULL);
	connect_fails("mallory", "wonderland", NULL);
	connect_fails("alice", "", NULL);
}

static void t_user_password_missing(void)
{
	it_start(&users_cfg);
	connect_fails(NULL, NULL, NULL);
}

static void t_token_ok(void)
{
	it_start(&token_cfg);
	natsOptions *o = it_opts();
	natsConnection *nc = NULL;
	IT_OK(natsOptions_SetToken(o, "s3cr3t-t0ken"));
	IT_OK(natsConnection_Connect(&nc, o));
	IT_OK(natsConnection_Flush(nc));
	natsOptions_Destroy(o);
	natsConnection_Destroy(nc);
}

static void t_token_wrong(void)
{
	it_start(&token_cfg);
	connect_fails(NULL, NULL, "s3cr3t-t0ke");
	connect_fails(NULL, NULL, NULL);
}

static void t_info_auth_required(void)
{
	it_start(&users_cfg);
	int fd = it_raw_connect();
	json_error_t jerr;
	json_t *info = json_loads(it_raw_info(fd), 0, &jerr);
	IT_CHECK(info != NULL, "INFO not JSON: %s", jerr.text);
	IT_CHECK(json_is_true(json_object_get(info, "auth_required")),
	         "INFO lacks auth_required:true");
	json_decref(info);
	close(fd);
}

static void t_wire_bad_password(void)
{
	it_start(&users_cfg);
	int fd = it_raw_connect();
	it_raw_info(fd);
	it_raw_send(fd, "CONNECT {\"verbose\":false,\"user\":\"alice\",\"pass\":\"nope\"}\r\nPING\r\n");
	it_raw_expect(fd, "-ERR 'Authorization Violation'\r\n");
	it_raw_expect_closed(fd, 3000);
	close(fd);

	/* The right password on a new connection works, verbose default +OK. */
	fd = it_raw_connect();
	it_raw_info(fd);
	it_raw_send(fd, "CONNECT {\"user\":\"alice\",\"pass\":\"wonderland\"}\r\nPING\r\n");
	it_raw_expect(fd, "+OK\r\nPONG\r\n");
	close(fd);
}

static void t_wire_token(void)
{
	it_start(&token_cfg);
	int fd = it_raw_connect();
	it_raw_info(fd);
	it_raw_send(fd, "CONNECT {\"verbose\":false,\"auth_token\":\"wrong\"}\r\nPING\r\n");
	it_raw_expect(fd, "-ERR 'Authorization Violation'\r\n");
	it_raw_expect_closed(fd, 3000);
	close(fd);
	fd = it_raw_connect();
	it_raw_hello(fd, "{\"verbose\":false,\"auth_token\":\"s3cr3t-t0ken\"}");
	close(fd);
}

/* With auth on, any operation before CONNECT is a violation. */
static void t_wire_op_before_connect(void)
{
	it_start(&users_cfg);
	int fd = it_raw_connect();
	it_raw_info(fd);
	it_raw_send(fd, "SUB foo 1\r\n");
	it_raw_expect(fd, "-ERR 'Authorization Violation'\r\n");
	it_raw_expect_closed(fd, 3000);
	close(fd);
}

/* No CONNECT within authorization.timeout: -ERR and close. */
static void t_auth_timeout(void)
{
	static const struct it_config cfg = {
		.users = { { "alice", "wonderland", NULL } },
		.auth_timeout_ms = 500,
	};
	it_start(&cfg);
	int fd = it_raw_connect();
	int64_t t0 = it_now_ms();
	it_raw_info(fd);
	it_raw_expect_at(__FILE__, __LINE__, fd, "-ERR 'Authentication Timeout'\r\n", 31, 5000);
	int64_t took = it_now_ms() - t0;
	it_raw_expect_closed(fd, 3000);
	IT_CHECK(took >= 300 && took < 3000, "auth timeout after %lld ms, configured 500 ms",
	         (long long)took);
	close(fd);
}

IT_MAIN(IT_TEST(t_user_password_ok), IT_TEST(t_user_password_wrong),
        IT_TEST(t_user_password_missing), IT_TEST(t_token_ok), IT_TEST(t_token_wrong),
        IT_TEST(t_info_auth_required), IT_TEST(t_wire_bad_password), IT_TEST(t_wire_token),
        IT_TEST(t_wire_op_before_connect), IT_TEST(t_auth_timeout))
