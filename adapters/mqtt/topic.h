/*
 * topic.h - MQTT topic names and filters, and their mapping onto NATS
 * subjects, both ways, as nats-server (2.10+) maps them, so that MQTT and
 * NATS clients of Junction see the same message space as they would on
 * nats-server.
 *
 * MQTT -> NATS (topic names and filters alike):
 *   '/' between two non-empty levels   -> '.'
 *   an empty level (leading '/', '//', trailing '/') is kept as a token
 *   holding a literal '/': "/a" -> "/.a", "a/" -> "a./", "a//b" -> "a./.b",
 *   "/" -> "/./"
 *   '.' -> "//"   ("a.b" -> "a//b")
 *   '+' -> '*', '#' -> '>'   (filters only)
 *   space, TAB, CR, LF, FF, DEL -> refused (they would break NATS framing)
 * A level that is literally "*" or ">" is refused too: in NATS it would be
 * a wildcard. NATS -> MQTT undoes the mapping: '.' -> '/', "/." -> '/',
 * "//" -> '.', and any other '/' (which no MQTT topic produces) is dropped,
 * as nats-server drops it.
 *
 * A filter "a/#" also matches "a" itself: it needs two NATS subscriptions,
 * "a.>" and "a" (jn_mqtt_filter_to_subject says so with *level_up).
 */
#ifndef JN_MQTT_TOPIC_H
#define JN_MQTT_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

/* Output room the conversions to NATS need for an input of len bytes. */
#define JN_MQTT_SUBJECT_CAP(len) (2 * (size_t)(len) + 1)

/* Topic name of a PUBLISH -> literal NATS subject. Returns the length
 * written to out (cap >= JN_MQTT_SUBJECT_CAP(len)), or -JN_EBADSUBJECT for
 * an empty topic, wildcards, refused characters or a "*" / ">" level. */
int jn_mqtt_topic_to_subject(const char *topic, size_t len, char *out, size_t cap);

/* Topic filter -> NATS filter. Same rules, wildcards allowed where MQTT
 * allows them ('+' a whole level, '#' a whole last level); anything else
 * is -JN_EBADSUBJECT. *level_up: a second subscription on the first
 * (return value - 2) bytes of out is needed (a filter ending in "/#"). */
int jn_mqtt_filter_to_subject(const char *filter, size_t len, char *out, size_t cap,
                              bool *level_up);

/* NATS subject -> MQTT topic. out needs len bytes. Returns the length. */
size_t jn_mqtt_subject_to_topic(const char *subj, size_t len, char *out);

/* MQTT syntax only (§4.7): non-empty, '+' and '#' placed correctly. */
bool jn_mqtt_filter_valid(const char *f, size_t len);

/* Does the topic name match the filter, by MQTT rules, including
 * [MQTT-4.7.2-1]: a topic starting with '$' is not matched by a filter
 * starting with '+' or '#'. Both assumed valid. */
bool jn_mqtt_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen);

/* Does a filter's first level hold a wildcard ('$' topics are hidden from it)? */
bool jn_mqtt_filter_hides_dollar(const char *f, size_t len);

/* "$share/<group>/<filter>" (5.0 §4.8.2): 1 with group and filter set,
 * 0 when f is not a shared subscription, -JN_EBADSUBJECT when it is one
 * but malformed (empty group, group with '+', '#' or no filter). */
int jn_mqtt_share_parse(const char *f, size_t len, const char **group, size_t *glen,
                        const char **filter, size_t *flen);

#endif
