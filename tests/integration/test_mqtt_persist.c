/*
 * test_mqtt_persist.c - persistent sessions and retained messages across a
 * restart of the server: subscriptions, QoS 1/2 messages queued while the
 * client was away, messages in flight (resent with DUP and the same packet
 * id), and retained messages.
 *
 * Runs against junction and mosquitto (persistence in the scratch
 * directory). mosquitto writes its database only at shutdown (and on its
 * autosave timer), so the kill -9 case is junction's alone: junction
 * appends to its store as things happen.
 */
#include "harness.h"
#include "mqtt_it.h"

static const struct it_config mqtt_cfg = { .mqtt = true };

static void restart_case(bool kill9)
{
	it_start(&mqtt_cfg);
	struct mqi_opts keep = { .persistent = true };
	struct mqi *s = mqi_open("keeper", &keep);
	mqi_sub(s, "p/#", 2);
	mqi_close(s);
	struct mqi *p = mqi_open("p", NULL);
	mqi_pub(p, "p/1", "one", 1, false);
	mqi_pub(p, "p/2", "two", 2, false);
	mqi_pub(p, "ret/a", "retained", 1, true);
	mqi_close(p);
	/* a message in flight: delivered, never acknowledged */
	int fd = mqr_hello("raw", 60, false);
	mqr_expect(fd, "\x20\x02\x00\x00");
	mqr_send(fd, "\x82\x08\x00\x01\x00\x03" "f/x" "\x01");
	mqr_expect(fd, "\x90\x03\x00\x01\x01");
	p = mqi_open("p2", NULL);
	mqi_pub(p, "f/x", "unacked", 1, false);
	mqi_close(p);
	mqr_expect(fd, "\x32\x0e\x00\x03" "f/x" "\x00\x01" "unacked");
	close(fd);
	it_sleep_ms(200);

	it_restart(kill9);

	s = mqi_open("keeper", &keep);
	IT_EQ_INT(s->connack_flags & 1, 1);
	mqi_expect(s, "p/1", "one", 1, false);
	mqi_expect(s, "p/2", "two", 2, false);
	mqi_expect_none(s, 200);
	/* the subscription itself came back */
	p = mqi_open("p", NULL);
	mqi_pub(p, "p/3", "after", 1, false);
	mqi_expect(s, "p/3", "after", 1, false);
	fd = mqr_hello("raw", 60, false);
	mqr_expect(fd, "\x20\x02\x01\x00");
	mqr_expect(fd, "\x3a\x0e\x00\x03" "f/x" "\x00\x01" "unacked");
	mqr_send(fd, "\x40\x02\x00\x01");
	close(fd);
	struct mqi *late = mqi_open("late", NULL);
	mqi_sub(late, "ret/#", 1);
	mqi_expect(late, "ret/a", "retained", 1, true);
	mqi_close(s);
	mqi_close(p);
	mqi_close(late);
}

static void restart_sigterm(void)
{
	restart_case(false);
}

static void restart_kill9(void)
{
	if (it_is_mosquitto()) {
		printf("  (skipped on mosquitto: it persists only at shutdown)\n");
		return;
	}
	restart_case(true);
}

/* A clean session, and a retained message cleared, leave nothing behind. */
static void nothing_left_behind(void)
{
	it_start(&mqtt_cfg);
	struct mqi *c = mqi_open("clean", NULL);
	mqi_sub(c, "c/#", 1);
	mqi_close(c);
	struct mqi *p = mqi_open("p", NULL);
	mqi_pub(p, "ret/b", "x", 0, true);
	mqi_pub(p, "ret/b", "", 0, true);
	mqi_close(p);
	it_restart(false);
	struct mqi_opts keep = { .persistent = true };
	c = mqi_open("clean", &keep);
	IT_EQ_INT(c->connack_flags & 1, 0);
	mqi_sub(c, "ret/#", 0);
	mqi_expect_none(c, 300);
	mqi_close(c);
}

IT_MAIN(IT_TEST(restart_sigterm), IT_TEST(restart_kill9), IT_TEST(nothing_left_behind))
