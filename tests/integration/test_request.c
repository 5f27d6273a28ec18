/*
 * test_request.c - request/reply: new-style (one wildcard inbox
 * subscription) and old-style (one inbox per request) requests, several
 * responders, and the no-responders 503 status (spec section 7).
 */
#include <stdio.h>
#include <unistd.h>
#include "harness.h"

static void echo_responder(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s:%.*s", (const char *)closure, natsMsg_GetDataLength(msg),
	         natsMsg_GetData(msg));
	if (natsMsg_GetReply(msg) != NULL)
		natsConnection_PublishString(nc, natsMsg_GetReply(msg), buf);
	natsMsg_Destroy(msg);
}

static void request_case(bool old_style)
{
	it_start(NULL);
	natsConnection *rc = it_connect(NULL, NULL), *qc = NULL;
	natsSubscription *rs = NULL;
	natsOptions *o = it_opts();
	IT_OK(natsOptions_UseOldRequestStyle(o, old_style));
	IT_OK(natsConnection_Connect(&qc, o));
	natsOptions_Destroy(o);
	IT_OK(natsConnection_Subscribe(&rs, rc, "svc.echo", echo_responder, "r1"));
	IT_OK(natsConnection_Flush(rc));
	for (int i = 0; i < 20; i++) {
		char q[32], want[40];
		natsMsg *reply = NULL;
		snprintf(q, sizeof q, "q%d", i);
		snprintf(want, sizeof want, "r1:q%d", i);
		IT_OK(natsConnection_RequestString(&reply, qc, "svc.echo", q, 2000));
		IT_CHECK(natsMsg_GetDataLength(reply) == (int)strlen(want) &&
		         memcmp(natsMsg_GetData(reply), want, strlen(want)) == 0,
		         "reply \"%.*s\", expected \"%s\"", natsMsg_GetDataLength(reply),
		         natsMsg_GetData(reply), want);
		natsMsg_Destroy(reply);
	}
	natsSubscription_Destroy(rs);
	natsConnection_Destroy(rc);
	natsConnection_Destroy(qc);
}

static void t_request_reply(void)
{
	request_case(false);
}

static void t_request_reply_old_style(void)
{
	request_case(true);
}

/* A request with a hand-made inbox: SUB inbox, PUB with reply, the
 * responder's MSG arrives on the exact reply subject. */
static void t_request_manual_inbox(void)
{
	it_start(NULL);
	natsConnection *rc = it_connect(NULL, NULL), *qc = it_connect(NULL, NULL);
	natsSubscription *rs = NULL, *inbox = NULL;
	natsInbox *ib = NULL;
	IT_OK(natsConnection_Subscribe(&rs, rc, "svc.manual", echo_responder, "m"));
	IT_OK(natsConnection_Flush(rc));
	IT_OK(natsInbox_Create(&ib));
	IT_OK(natsConnection_SubscribeSync(&inbox, qc, ib));
	IT_OK(natsSubscription_AutoUnsubscribe(inbox, 1));
	IT_OK(natsConnection_PublishRequestString(qc, "svc.manual", ib, "hi"));
	natsMsg *m = NULL;
	IT_OK(natsSubscription_NextMsg(&m, inbox, 2000));
	IT_EQ_STR(natsMsg_GetSubject(m), ib);
	IT_CHECK(natsMsg_GetDataLength(m) == 4 && memcmp(natsMsg_GetData(m), "m:hi", 4) == 0,
	         "reply \"%.*s\"", natsMsg_GetDataLength(m), natsMsg_GetData(m));
	natsMsg_Destroy(m);
	natsInbox_Destroy(ib);
	natsSubscription_Destroy(inbox);
	natsSubscription_Destroy(rs);
	natsConnection_Destroy(rc);
	natsConnection_Destroy(qc);
}

/* Several responders: NextMsg on a manual inbox sees every reply. */
static void t_multiple_responders(void)
{
	it_start(NULL);
	natsConnection *c1 = it_connect(NULL, NULL), *c2 = it_connect(NULL, NULL),
	               *qc = it_connect(NULL, NULL);
	natsSubscription *s1 = NULL, *s2 = NULL, *inbox = NULL;
	IT_OK(natsConnection_Subscribe(&s1, c1, "svc.multi", echo_responder, "a"));
	IT_OK(natsConnection_Subscribe(&s2, c2, "svc.multi", echo_responder, "b"));
	IT_OK(natsConnection_Flush(c1));
	IT_OK(natsConnection_Flush(c2));
	IT_OK(natsConnection_SubscribeSync(&inbox, qc, "my.inbox"));
	IT_OK(natsConnection_PublishRequestString(qc, "svc.multi", "my.inbox", "x"));
	int seen_a = 0, seen_b = 0;
	for (int i = 0; i < 2; i++) {
		natsMsg *m = NULL;
		IT_OK(natsSubscription_NextMsg(&m, inbox, 2000));
		if (natsMsg_GetDataLength(m) == 3 && memcmp(natsMsg_GetData(m), "a:x", 3) == 0)
			seen_a++;
		else if (natsMsg_GetDataLength(m) == 3 && memcmp(natsMsg_GetData(m), "b:x", 3) == 0)
			seen_b++;
		natsMsg_Destroy(m);
	}
	IT_CHECK(seen_a == 1 && seen_b == 1, "replies a=%d b=%d, expected one each", seen_a, seen_b);
	natsSubscription_Destroy(s1);
	natsSubscription_Destroy(s2);
	natsSubscription_Destroy(inbox);
	natsConnection_Destroy(c1);
	natsConnection_Destroy(c2);
	natsConnection_Destroy(qc);
}

/* No subscriber: the server answers the request at once with a 503 status. */
static void t_no_responders(void)
{
	it_start(NULL);
	natsConnection *qc = it_connect(NULL, NULL);
	natsMsg *reply = NULL;
	int64_t t0 = it_now_ms();
	natsStatus s = natsConnection_RequestString(&reply, qc, "nobody.home", "x", 5000);
	int64_t took = it_now_ms() - t0;
	IT_CHECK(s == NATS_NO_RESPONDERS, "request returned %s, expected NATS_NO_RESPONDERS",
	         natsStatus_GetText(s));
	IT_CHECK(took < 1000, "no-responders answer took %lld ms", (long long)took);
	natsMsg_Destroy(reply);
	natsConnection_Destroy(qc);
}

/* The exact 503 bytes, and only to a publisher that asked for them. */
static void t_no_responders_wire(void)
{
	it_start(NULL);
	int fd = it_raw_connect();
	it_raw_info(fd);
	it_raw_send(fd, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
	                "\"no_responders\":true,\"protocol\":1}\r\nPING\r\n");
	it_raw_expect(fd, "PONG\r\n");
	it_raw_send(fd, "SUB _INBOX.abc.* 1\r\nPUB nobody.home _INBOX.abc.x1 1\r\nx\r\nPING\r\n");
	it_raw_expect(fd, "HMSG _INBOX.abc.x1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\nPONG\r\n");

	/* Without no_responders in CONNECT: nothing. */
	int plain = it_raw_client();
	it_raw_send(plain, "SUB _INBOX.def.* 1\r\nPUB nobody.home _INBOX.def.x1 1\r\nx\r\nPING\r\n");
	it_raw_expect(plain, "PONG\r\n");
	/* With a subscriber on the subject: the request goes there, no 503. */
	int resp = it_raw_client();
	it_raw_send(resp, "SUB somebody.home 4\r\nPING\r\n");
	it_raw_expect(resp, "PONG\r\n");
	it_raw_send(fd, "PUB somebody.home _INBOX.abc.x2 1\r\ny\r\nPING\r\n");
	it_raw_expect(fd, "PONG\r\n");
	it_raw_send(resp, "PING\r\n");
	it_raw_expect(resp, "MSG somebody.home 4 _INBOX.abc.x2 1\r\ny\r\nPONG\r\n");
	close(fd);
	close(plain);
	close(resp);
}

IT_MAIN(IT_TEST(t_request_reply), IT_TEST(t_request_reply_old_style),
        IT_TEST(t_request_manual_inbox), IT_TEST(t_multiple_responders), IT_TEST(t_no_responders),
        IT_TEST(t_no_responders_wire))
