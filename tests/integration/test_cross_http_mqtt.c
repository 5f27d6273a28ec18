/*
 * test_cross_http_mqtt.c - the HTTP adapter and the MQTT listener share one
 * message space: an MQTT publish reaches an SSE subscriber with a wildcard
 * subject, an HTTP publish reaches MQTT subscribers (topic mapped back from
 * the subject), and an MQTT QoS 1 publish into a stream is fetched over
 * HTTP. Junction only: no reference server speaks both.
 */
#include "http_it.h"
#include "mqtt_it.h"

static struct it_server *start(void)
{
	static struct it_config cfg = { .mqtt = true, .jetstream = true };
	return ht_start(&cfg, NULL);
}

static void mqtt_publish_reaches_sse(void)
{
	start();
	struct ht_sse *s = ht_sse_open("/v1/subscribe?subject=sensors.*.temp&subject=alarms.>", NULL);
	it_sleep_ms(100);   /* the SSE subscription is in place once the stream opened */
	struct mqi *m = mqi_open("dev1", NULL);
	mqi_pub(m, "sensors/kitchen/temp", "21.5", 0, false);
	mqi_pub(m, "sensors/kitchen/humidity", "no", 0, false);
	mqi_pub(m, "alarms/door/front", "open", 1, false);
	ht_sse_wait(s, 2, 5000);
	it_sleep_ms(200);
	IT_EQ_INT(ht_sse_count(s), 2);
	json_t *e = ht_sse_event(s, 0);
	IT_EQ_STR(json_string_value(json_object_get(e, "subject")), "sensors.kitchen.temp");
	char dec[64];
	size_t n = ht_b64(json_string_value(json_object_get(e, "data")), dec, sizeof dec);
	IT_CHECK(n == 4 && memcmp(dec, "21.5", 4) == 0, "payload \"%.*s\"", (int)n, dec);
	json_decref(e);
	e = ht_sse_event(s, 1);
	IT_EQ_STR(json_string_value(json_object_get(e, "subject")), "alarms.door.front");
	json_decref(e);
	mqi_close(m);
	ht_sse_close(s);
}

static void http_publish_reaches_mqtt(void)
{
	start();
	struct mqi *m = mqi_open("dev2", NULL);
	mqi_sub(m, "sensors/+/temp", 1);
	mqi_sub(m, "cmd/#", 0);
	struct ht_resp r;
	ht_req(&r, "POST", "/v1/publish/sensors.garage.temp", "9", 1, NULL);
	HT_STATUS(&r, 202);
	ht_free(&r);
	ht_req(&r, "POST", "/v1/publish/cmd.valve.open", "now", 3, NULL);
	HT_STATUS(&r, 202);
	ht_free(&r);
	mqi_expect(m, "sensors/garage/temp", "9", 0, false);
	mqi_expect(m, "cmd/valve/open", "now", 0, false);
	mqi_expect_none(m, 200);
	mqi_close(m);
}

/* MQTT QoS 1 into a stream: stored before the PUBACK, fetched over HTTP,
 * and the PubAck of an HTTP publish into the same stream follows on. */
static void mqtt_into_stream_fetched_over_http(void)
{
	start();
	const char *cfg = "{\"subjects\":[\"meter.>\"]}";
	struct ht_resp r;
	ht_req(&r, "PUT", "/v1/streams/METER", cfg, strlen(cfg), NULL);
	IT_CHECK(r.status == 200 || r.status == 201, "create: %ld %s", r.status, r.body);
	ht_free(&r);
	const char *cc = "{\"ack_policy\":\"explicit\"}";
	ht_req(&r, "PUT", "/v1/streams/METER/consumers/web", cc, strlen(cc), NULL);
	IT_CHECK(r.status == 200 || r.status == 201, "consumer: %ld %s", r.status, r.body);
	ht_free(&r);

	struct mqi *m = mqi_open("meter7", NULL);
	mqi_pub(m, "meter/7/kwh", "42", 1, false);   /* waits for the PUBACK */
	ht_req(&r, "GET", "/v1/streams/METER/messages?last_by_subject=meter.7.kwh", NULL, 0, NULL);
	HT_STATUS(&r, 200);   /* stored by the time the PUBACK came */
	ht_free(&r);
	ht_req(&r, "POST", "/v1/publish/meter.8.kwh", "43", 2, NULL);
	HT_STATUS(&r, 200);
	json_t *pa = ht_json(&r);
	IT_EQ_STR(json_string_value(json_object_get(pa, "stream")), "METER");
	IT_EQ_INT(json_integer_value(json_object_get(pa, "seq")), 2);
	json_decref(pa);
	ht_free(&r);

	ht_req(&r, "POST", "/v1/streams/METER/consumers/web/fetch?batch=10&wait=1s", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	json_t *o = ht_json(&r);
	json_t *msgs = json_object_get(o, "messages");
	IT_EQ_INT(json_array_size(msgs), 2);
	IT_EQ_STR(json_string_value(json_object_get(json_array_get(msgs, 0), "subject")), "meter.7.kwh");
	IT_EQ_STR(json_string_value(json_object_get(json_array_get(msgs, 1), "subject")), "meter.8.kwh");
	json_decref(o);
	ht_free(&r);
	mqi_close(m);
}

IT_MAIN(IT_TEST(mqtt_publish_reaches_sse), IT_TEST(http_publish_reaches_mqtt),
        IT_TEST(mqtt_into_stream_fetched_over_http))
