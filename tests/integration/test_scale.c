/*
 * test_scale.c - many subscriptions on one connection and many connections
 * on one server, every message accounted for.
 */
#include <stdio.h>
#include <stdlib.h>
#include "harness.h"

static void t_ten_thousand_subscriptions(void)
{
	enum { N = 10000 };
	it_start(NULL);
	natsConnection *sc = it_connect(NULL, NULL), *pc = it_connect(NULL, NULL);
	natsSubscription **subs = calloc(N, sizeof *subs), *all = NULL;
	IT_CHECK(subs != NULL, "oom");
	char subj[32];
	for (int i = 0; i < N; i++) {
		snprintf(subj, sizeof subj, "many.%d", i);
		IT_OK(natsConnection_SubscribeSync(&subs[i], sc, subj));
	}
	IT_OK(natsConnection_SubscribeSync(&all, sc, "many.*"));
	IT_OK(natsSubscription_SetPendingLimits(all, N * 2, 64 * 1024 * 1024));
	IT_OK(natsConnection_FlushTimeout(sc, 10000));
	for (int i = 0; i < N; i++) {
		snprintf(subj, sizeof subj, "many.%d", i);
		IT_OK(natsConnection_PublishString(pc, subj, subj));
	}
	IT_OK(natsConnection_FlushTimeout(pc, 10000));
	IT_OK(natsConnection_FlushTimeout(sc, 10000));
	for (int i = 0; i < N; i++) {
		natsMsg *m = NULL;
		natsStatus s = natsSubscription_NextMsg(&m, subs[i], 2000);
		IT_CHECK(s == NATS_OK, "subscription %d received nothing: %s", i, natsStatus_GetText(s));
		snprintf(subj, sizeof subj, "many.%d", i);
		IT_EQ_STR(natsMsg_GetSubject(m), subj);
		natsMsg_Destroy(m);
		int pending = -1;
		IT_OK(natsSubscription_GetPending(subs[i], &pending, NULL));
		IT_CHECK(pending == 0, "subscription %d got %d extra messages", i, pending);
	}
	int pending = 0;
	IT_OK(natsSubscription_GetPending(all, &pending, NULL));
	IT_EQ_INT(pending, N);
	for (int i = 0; i < N; i++)
		natsSubscription_Destroy(subs[i]);
	free(subs);
	natsSubscription_Destroy(all);
	natsConnection_Destroy(sc);
	natsConnection_Destroy(pc);
}

/* 200 clients: each subscribes to its own subject and to a broadcast
 * subject, and each publishes to its neighbour. */
static void t_many_connections(void)
{
	enum { N = 200 };
	it_start(NULL);
	natsConnection *c[N];
	natsSubscription *own[N], *bcast[N];
	char subj[32], data[32];
	for (int i = 0; i < N; i++) {
		c[i] = it_connect(NULL, NULL);
		snprintf(subj, sizeof subj, "conn.%d", i);
		IT_OK(natsConnection_SubscribeSync(&own[i], c[i], subj));
		IT_OK(natsConnection_SubscribeSync(&bcast[i], c[i], "all"));
	}
	for (int i = 0; i < N; i++)
		IT_OK(natsConnection_Flush(c[i]));
	IT_OK(natsConnection_PublishString(c[0], "all", "hello everyone"));
	for (int i = 0; i < N; i++) {
		snprintf(subj, sizeof subj, "conn.%d", (i + 1) % N);
		snprintf(data, sizeof data, "from %d", i);
		IT_OK(natsConnection_PublishString(c[i], subj, data));
	}
	for (int i = 0; i < N; i++)
		IT_OK(natsConnection_Flush(c[i]));
	for (int i = 0; i < N; i++) {
		natsMsg *m = NULL;
		natsStatus s = natsSubscription_NextMsg(&m, bcast[i], 5000);
		IT_CHECK(s == NATS_OK, "client %d missed the broadcast: %s", i, natsStatus_GetText(s));
		natsMsg_Destroy(m);
		s = natsSubscription_NextMsg(&m, own[i], 5000);
		IT_CHECK(s == NATS_OK, "client %d missed its neighbour's message: %s", i,
		         natsStatus_GetText(s));
		snprintf(data, sizeof data, "from %d", (i + N - 1) % N);
		IT_CHECK(natsMsg_GetDataLength(m) == (int)strlen(data) &&
		         memcmp(natsMsg_GetData(m), data, strlen(data)) == 0,
		         "client %d got \"%.*s\", expected \"%s\"", i, natsMsg_GetDataLength(m),
		         natsMsg_GetData(m), data);
		natsMsg_Destroy(m);
	}
	for (int i = 0; i < N; i++) {
		natsSubscription_Destroy(own[i]);
		natsSubscription_Destroy(bcast[i]);
		natsConnection_Destroy(c[i]);
	}
}

IT_MAIN(IT_TEST(t_ten_thousand_subscriptions), IT_TEST(t_many_connections))
