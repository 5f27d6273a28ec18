/*
 * message.h - converting between an MQTT PUBLISH and a NATS message: the
 * header block an MQTT publish carries through NATS, and the MQTT 5
 * properties a NATS message turns into (message.c has the field list).
 * Internal to adapters/mqtt.
 */
#ifndef JN_MQTT_MESSAGE_H
#define JN_MQTT_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/mqtt/codec.h"
#include "adapters/mqtt/server_int.h"
#include "core/msg.h"

/* The NATS header block of an MQTT publish (props: its 5.0 properties, or
 * NULL). Writes into out only if it fits; returns the block's length
 * (snprintf rule). */
size_t jn__mqtt_build_hdr(uint8_t qos, bool retain, const struct jn_mqtt_props *props,
                          uint8_t *out, size_t cap);

/* An upper bound of jn__mqtt_props_from_msg's result for m. */
size_t jn__mqtt_props_bound(const struct jn_msg *m);

/* The 5.0 PUBLISH property bytes (without the length prefix) for a NATS
 * message: Message Expiry (when has_expiry), Subscription Identifier
 * (sub_id > 0), Response Topic (the reply subject), and what the headers
 * carry. Writes into out only what fits; returns the length (an upper
 * bound when it did not fit). */
size_t jn__mqtt_props_from_msg(const struct jn_msg *m, uint32_t expiry_s, bool has_expiry,
                               uint32_t sub_id, uint8_t *out, size_t cap);

/* A message kept in one allocation (retained messages, messages queued for
 * a session): subject | reply | hdr | data back to back. flatten copies m's
 * parts to p and returns the end; unflatten points m at the parts. */
uint8_t *jn__mqtt_msg_flatten(uint8_t *p, const struct jn_msg *m);
void jn__mqtt_msg_unflatten(const uint8_t *p, uint32_t subject_len, uint32_t reply_len,
                            uint32_t hdr_len, uint32_t data_len, struct jn_msg *m);

#endif
