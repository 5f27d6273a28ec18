/*
 * test_permissions.c - per-user publish/subscribe permissions: a denied
 * publish is dropped and reported as an async error, a denied subscription
 * is not created, the connection stays up (spec section 8).
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include "harness.h"

/* limited: may publish only foo.> and _INBOX.>, may not subscribe to
 * foo.secret; narrow: may subscribe only to foo.>. admin: anything. */
static const struct it_perms limited_perms = {
	.pub_allow = { "foo.>", "_INBOX.>" },
	.sub_deny = { "foo.secret" },
};
static const struct it_perms narrow_perms = {
	.sub_allow = { "foo.>" },
	.pub_deny = { "foo.nope", "bar.*" },
};
static const struct it_config cfg = {
	.users = { { "limited", "pw1", &limited_perms },
	           { "narrow", "pw2", &narrow_perms },
	           { "admin", "pw3", NULL } },
};

/* What the async error handler saw (libnats calls it from its own thread). */
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t err_cv = PTHREAD_COND_INITIALIZER;
static natsStatus err_status;
static char err_text[512];
static int err_count;

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	const char *txt = NULL;
	natsConnection_GetLastError(nc, &txt);
	pthread_mutex_lock(&err_mu);
	err_status = err;
	snprintf(err_text, sizeof err_text, "%s", txt ? txt : "");
	err_count++;
	pthread_cond_broadcast(&err_cv);
	pthread_mutex_unlock(&err_mu);
}

static void wait_error(const char *want)
{
	int64_t deadline = it_now_ms() + 3000;
	pthread_mutex_lock(&err_mu);
	while (err_count == 0 && it_now_ms() < deadline) {
		pthread_mutex_unlock(&err_mu);
		it_sleep_ms(5);
		pthread_mutex_lock(&err_mu);
	}
	int n = err_count;
	natsStatus st = err_status;
	char txt[512];
	snprintf(txt, sizeof txt, "%s", err_text);
	err_count = 0;
	pthread_mutex_unlock(&err_mu);
	IT_CHECK(n == 1, "expected one async error, got %d", n);
	IT_CHECK(st == NATS_NOT_PERMITTED, "async error %s, expected NATS_NOT_PERMITTED",
	         natsStatus_GetText(st));
	IT_EQ_STR(txt, want);
}

static natsConnection *connect_with_handler(const char *user, const char *pass)
{
	natsOptions *o = it_opts();
	natsConnection *nc = NULL;
	IT_OK(natsOptions_SetUserInfo(o, user, pass));
	IT_OK(natsOptions_SetErrorHandler(o, on_error, NULL));
	IT_OK(natsConnection_Connect(&nc, o));
	natsOptions_Destroy(o);
	return nc;
}

static void t_publish_denied(void)
{
	it_start(&cfg);
	natsConnection *lim = connect_with_handler("limited", "pw1");
	natsConnection *adm = it_connect("admin", "pw3");
	natsSubscription *bar = NULL, *foo = NULL;
	natsMsg *m = NULL;
	IT_OK(natsConnection_SubscribeSync(&bar, adm, "bar"));
	IT_OK(natsConnection_SubscribeSync(&foo, adm, "foo.ok"));
	IT_OK(natsConnection_Flush(adm));

	IT_OK(natsConnection_PublishString(lim, "bar", "forbidden"));
	IT_OK(natsConnection_PublishString(lim, "foo.ok", "allowed"));
	IT_OK(natsConnection_Flush(lim));
	wait_error("Permissions Violation for Publish to \"bar\"");
	IT_CHECK(natsConnection_Status(lim) == NATS_CONN_STATUS_CONNECTED,
	         "a permissions violation must not close the connection");

	IT_OK(natsSubscription_NextMsg(&m, foo, 2000));
	natsMsg_Destroy(m);
	IT_OK(natsConnection_Flush(adm));
	IT_STATUS(natsSubscription_NextMsg(&m, bar, 200), NATS_TIMEOUT);
	natsSubscription_Destroy(bar);
	natsSubscription_Destroy(foo);
	natsConnection_Destroy(lim);
	natsConnection_Destroy(adm);
}

static void t_subscribe_denied(void)
{
	it_start(&cfg);
	natsConnection *lim = connect_with_handler("limited", "pw1");
	natsConnection *adm = it_connect("admin", "pw3");
	natsSubscription *secret = NULL, *open = NULL;
	natsMsg *m = NULL;
	IT_OK(natsConnection_SubscribeSync(&secret, lim, "foo.secret"));
	IT_OK(natsConnection_SubscribeSync(&open, lim, "foo.open"));
	IT_OK(natsConnection_Flush(lim));
	wait_error("Permissions Violation for Subscription to \"foo.secret\"");
	IT_CHECK(natsConnection_Status(lim) == NATS_CONN_STATUS_CONNECTED,
	         "a permissions violation must not close the connection");

	IT_OK(natsConnection_PublishString(adm, "foo.secret", "s"));
	IT_OK(natsConnection_PublishString(adm, "foo.open", "o"));
	IT_OK(natsConnection_Flush(adm));
	IT_OK(natsSubscription_NextMsg(&m, open, 2000));
	natsMsg_Destroy(m);
	IT_OK(natsConnection_Flush(lim));
	IT_STATUS(natsSubscription_NextMsg(&m, secret, 200), NATS_TIMEOUT);
	natsSubscription_Destroy(secret);
	natsSubscription_Destroy(open);
	natsConnection_Destroy(lim);
	natsConnection_Destroy(adm);
}

/* The exact -ERR lines; the connection stays usable after each. */
static void t_permissions_wire(void)
{
	it_start(&cfg);
	int fd = it_raw_connect();
	it_raw_hello(fd, "{\"verbose\":false,\"pedantic\":false,\"user\":\"limited\",\"pass\":\"pw1\"}");
	it_raw_send(fd, "PUB bar 1\r\nx\r\nPING\r\n");
	it_raw_expect(fd, "-ERR 'Permissions Violation for Publish to \"bar\"'\r\nPONG\r\n");
	it_raw_send(fd, "SUB foo.secret 1\r\nPING\r\n");
	it_raw_expect(fd, "-ERR 'Permissions Violation for Subscription to \"foo.secret\"'\r\nPONG\r\n");
	it_raw_send(fd, "SUB foo.secret grp 2\r\nPING\r\n");
	it_raw_expect(fd, "-ERR 'Permissions Violation for Subscription to \"foo.secret\" using queue "
	                  "\"grp\"'\r\nPONG\r\n");
	/* allowed things still work */
	it_raw_send(fd, "SUB foo.fine 3\r\nPUB foo.fine 1\r\ny\r\nPING\r\n");
	it_raw_expect(fd, "MSG foo.fine 3 1\r\ny\r\nPONG\r\n");
	close(fd);
}

/* A subscription broader than the allow list is refused; the deny list of
 * publish works with wildcards. */
static void t_permissions_wildcards_wire(void)
{
	it_start(&cfg);
	int fd = it_raw_connect();
	it_raw_hello(fd, "{\"verbose\":false,\"pedantic\":false,\"user\":\"narrow\",\"pass\":\"pw2\"}");
	it_raw_send(fd, "SUB > 1\r\nPING\r\n");
	it_raw_expect(fd, "-ERR 'Permissions Violation for Subscription to \">\"'\r\nPONG\r\n");
	it_raw_send(fd, "SUB bar 2\r\nPING\r\n");
	it_raw_expect(fd, "-ERR 'Permissions Violation for Subscription to \"bar\"'\r\nPONG\r\n");
	it_raw_send(fd, "SUB foo.* 3\r\nPING\r\n");
	it_raw_expect(fd, "PONG\r\n");
	it_raw_send(fd, "PUB bar.x 1\r\nx\r\nPUB foo.nope 1\r\nx\r\nPUB foo.yes 1\r\ny\r\nPING\r\n");
	it_raw_expect(fd, "-ERR 'Permissions Violation for Publish to \"bar.x\"'\r\n"
	                  "-ERR 'Permissions Violation for Publish to \"foo.nope\"'\r\n"
	                  "MSG foo.yes 3 1\r\ny\r\nPONG\r\n");
	close(fd);
}

IT_MAIN(IT_TEST(t_publish_denied), IT_TEST(t_subscribe_denied), IT_TEST(t_permissions_wire),
        IT_TEST(t_permissions_wildcards_wire))
