/*
 * test_queue.c - queue groups: each message goes to exactly one member of
 * each group, spread over the members, while plain subscribers get all
 * (shared/spec/nats-protocol.md section 6).
 */
#include <stdio.h>
#include <unistd.h>
#include "harness.h"

/* Drain a sync subscription: count messages until ms pass with none. */
static int drain(natsSubscription *sub, int ms)
{
	int n = 0;
	natsMsg *m = NULL;
	while (natsSubscription_NextMsg(&m, sub, ms) == NATS_OK) {
		n++;
		natsMsg_Destroy(m);
	}
	return n;
}

static void t_queue_group(void)
{
	enum { N = 300, MEMBERS = 3 };
	it_start(NULL);
	natsConnection *mc[MEMBERS], *plainc = it_connect(NULL, NULL), *pc = it_connect(NULL, NULL);
	natsSubscription *ms[MEMBERS], *plain = NULL;
	for (int i = 0; i < MEMBERS; i++) {
		mc[i] = it_connect(NULL, NULL);
		IT_OK(natsConnection_QueueSubscribeSync(&ms[i], mc[i], "work", "workers"));
		IT_OK(natsConnection_Flush(mc[i]));
	}
	IT_OK(natsConnection_SubscribeSync(&plain, plainc, "work"));
	IT_OK(natsConnection_Flush(plainc));
	for (int i = 0; i < N; i++)
		IT_OK(natsConnection_PublishString(pc, "work", "job"));
	IT_OK(natsConnection_Flush(pc));

	int got_plain = drain(plain, 200);
	int total = 0, each[MEMBERS];
	for (int i = 0; i < MEMBERS; i++) {
		IT_OK(natsConnection_Flush(mc[i]));
		each[i] = drain(ms[i], 100);
		total += each[i];
	}
	printf("  queue members got %d, %d, %d; plain got %d\n", each[0], each[1], each[2], got_plain);
	IT_EQ_INT(got_plain, N);
	IT_EQ_INT(total, N);
	for (int i = 0; i < MEMBERS; i++)
		IT_CHECK(each[i] > 0, "member %d got no message (%d/%d/%d): not spread", i, each[0],
		         each[1], each[2]);

	for (int i = 0; i < MEMBERS; i++) {
		natsSubscription_Destroy(ms[i]);
		natsConnection_Destroy(mc[i]);
	}
	natsSubscription_Destroy(plain);
	natsConnection_Destroy(plainc);
	natsConnection_Destroy(pc);
}

/* Two groups on one subject: each group gets every message once. Members
 * with different patterns (foo.* and foo.bar) in one group form one group. */
static void t_two_groups_mixed_patterns(void)
{
	enum { N = 100 };
	it_start(NULL);
	natsConnection *c = it_connect(NULL, NULL), *pc = it_connect(NULL, NULL);
	natsSubscription *a1 = NULL, *a2 = NULL, *b1 = NULL, *b2 = NULL;
	IT_OK(natsConnection_QueueSubscribeSync(&a1, c, "foo.*", "A"));
	IT_OK(natsConnection_QueueSubscribeSync(&a2, c, "foo.bar", "A"));
	IT_OK(natsConnection_QueueSubscribeSync(&b1, c, "foo.bar", "B"));
	IT_OK(natsConnection_QueueSubscribeSync(&b2, c, "foo.>", "B"));
	IT_OK(natsConnection_Flush(c));
	for (int i = 0; i < N; i++)
		IT_OK(natsConnection_PublishString(pc, "foo.bar", "m"));
	IT_OK(natsConnection_Flush(pc));
	IT_OK(natsConnection_Flush(c));
	int na1 = drain(a1, 200), na2 = drain(a2, 200), nb1 = drain(b1, 200), nb2 = drain(b2, 200);
	printf("  group A: %d + %d, group B: %d + %d\n", na1, na2, nb1, nb2);
	IT_EQ_INT(na1 + na2, N);
	IT_EQ_INT(nb1 + nb2, N);
	natsSubscription_Destroy(a1);
	natsSubscription_Destroy(a2);
	natsSubscription_Destroy(b1);
	natsSubscription_Destroy(b2);
	natsConnection_Destroy(c);
	natsConnection_Destroy(pc);
}

/* Raw wire: SUB with a queue name delivers MSG with the member's sid. */
static void t_queue_wire(void)
{
	it_start(NULL);
	int fd = it_raw_client();
	it_raw_send(fd, "SUB q.x grp 9\r\nPUB q.x 2\r\nok\r\nPING\r\n");
	it_raw_expect(fd, "MSG q.x 9 2\r\nok\r\nPONG\r\n");
	close(fd);
}

IT_MAIN(IT_TEST(t_queue_group), IT_TEST(t_two_groups_mixed_patterns), IT_TEST(t_queue_wire))
