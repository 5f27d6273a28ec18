/*
 * codec.h - MQTT 3.1, 3.1.1 and 5.0 packets: a resumable decoder over a
 * byte stream and an encoder, both directions (the server decodes what
 * clients send; tests and the fuzz target also decode what the server
 * sends and encode what clients send).
 *
 * Framing (MQTT 3.1.1 §2.2, 5.0 §2.1): one byte type+flags, the Remaining
 * Length as a variable byte integer (at most 4 bytes), then that many bytes.
 * The parser takes whatever recv() returned; a packet split at any byte
 * decodes exactly as if it had arrived whole. A packet whole in the input
 * is decoded in place (zero copy); only one that straddles reads is
 * gathered in a scratch buffer, grown as bytes arrive (never to the
 * announced length up front) and freed once the packet is handled, so an
 * idle connection holds nothing.
 *
 * Validation. Everything a packet says is bounds-checked: strings are
 * well-formed UTF-8 without U+0000, fixed flags are checked per type, a
 * body with bytes left over or missing is malformed, v5 properties must be
 * allowed for the packet type and (except User Property and a PUBLISH's
 * Subscription Identifiers) appear once. Errors:
 *   -JN_EINVAL       malformed packet (v5 reason 0x81)
 *   -JN_EPROTO       protocol error (v5 reason 0x82)
 *   -JN_EMAXPAYLOAD  packet larger than the parser's max_packet (0x95)
 *   -JN_ENOMEM       scratch could not grow
 * What the codec cannot know (a topic with wildcards in PUBLISH, a second
 * CONNECT, a type that is not valid in this direction) is the engine's.
 *
 * Ownership: every jn_mqtt_bin in a decoded packet points into the input
 * (or the parser's scratch) and is valid only during the callback.
 */
#ifndef JN_MQTT_CODEC_H
#define JN_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jn_mqtt_type {
	JN_MQTT_CONNECT = 1,
	JN_MQTT_CONNACK = 2,
	JN_MQTT_PUBLISH = 3,
	JN_MQTT_PUBACK = 4,
	JN_MQTT_PUBREC = 5,
	JN_MQTT_PUBREL = 6,
	JN_MQTT_PUBCOMP = 7,
	JN_MQTT_SUBSCRIBE = 8,
	JN_MQTT_SUBACK = 9,
	JN_MQTT_UNSUBSCRIBE = 10,
	JN_MQTT_UNSUBACK = 11,
	JN_MQTT_PINGREQ = 12,
	JN_MQTT_PINGRESP = 13,
	JN_MQTT_DISCONNECT = 14,
	JN_MQTT_AUTH = 15,   /* 5.0 only */
};

/* Protocol levels. */
#define JN_MQTT_V31 3    /* "MQIsdp" */
#define JN_MQTT_V311 4
#define JN_MQTT_V5 5

#define JN_MQTT_MAX_REMAINING 268435455u   /* 4-byte variable byte integer */
#define JN_MQTT_MAX_SUBIDS 8               /* Subscription Identifiers kept per PUBLISH */

/* CONNECT flags (§3.1.2.3). */
#define JN_MQTT_CF_USER 0x80
#define JN_MQTT_CF_PASS 0x40
#define JN_MQTT_CF_WILL_RETAIN 0x20
#define JN_MQTT_CF_WILL_QOS 0x18
#define JN_MQTT_CF_WILL 0x04
#define JN_MQTT_CF_CLEAN 0x02

/* SUBSCRIBE options byte (5.0 §3.8.3.1; 3.1.1 uses only the QoS bits). */
#define JN_MQTT_SO_QOS 0x03
#define JN_MQTT_SO_NO_LOCAL 0x04
#define JN_MQTT_SO_RAP 0x08          /* retain as published */
#define JN_MQTT_SO_RH_SHIFT 4        /* retain handling, 2 bits */

/* v5 property identifiers (5.0 §2.2.2.2). */
enum jn_mqtt_prop_id {
	JN_MQTT_P_PAYLOAD_FORMAT = 0x01,
	JN_MQTT_P_MESSAGE_EXPIRY = 0x02,
	JN_MQTT_P_CONTENT_TYPE = 0x03,
	JN_MQTT_P_RESPONSE_TOPIC = 0x08,
	JN_MQTT_P_CORRELATION_DATA = 0x09,
	JN_MQTT_P_SUBSCRIPTION_ID = 0x0B,
	JN_MQTT_P_SESSION_EXPIRY = 0x11,
	JN_MQTT_P_ASSIGNED_CLIENT_ID = 0x12,
	JN_MQTT_P_SERVER_KEEP_ALIVE = 0x13,
	JN_MQTT_P_AUTH_METHOD = 0x15,
	JN_MQTT_P_AUTH_DATA = 0x16,
	JN_MQTT_P_REQUEST_PROBLEM_INFO = 0x17,
	JN_MQTT_P_WILL_DELAY = 0x18,
	JN_MQTT_P_REQUEST_RESPONSE_INFO = 0x19,
	JN_MQTT_P_RESPONSE_INFO = 0x1A,
	JN_MQTT_P_SERVER_REFERENCE = 0x1C,
	JN_MQTT_P_REASON_STRING = 0x1F,
	JN_MQTT_P_RECEIVE_MAX = 0x21,
	JN_MQTT_P_TOPIC_ALIAS_MAX = 0x22,
	JN_MQTT_P_TOPIC_ALIAS = 0x23,
	JN_MQTT_P_MAX_QOS = 0x24,
	JN_MQTT_P_RETAIN_AVAILABLE = 0x25,
	JN_MQTT_P_USER = 0x26,
	JN_MQTT_P_MAX_PACKET_SIZE = 0x27,
	JN_MQTT_P_WILDCARD_SUB_AVAILABLE = 0x28,
	JN_MQTT_P_SUB_ID_AVAILABLE = 0x29,
	JN_MQTT_P_SHARED_SUB_AVAILABLE = 0x2A,
};

/* Bit of property id in jn_mqtt_props.present (ids are < 64). */
#define JN_MQTT_HAS(props, id) (((props)->present >> (id)) & 1u)
#define JN_MQTT_SET(props, id) ((props)->present |= (uint64_t)1 << (id))

/* v5 reason codes the server sends (5.0 §2.4). */
enum jn_mqtt_reason {
	JN_MQTT_RC_SUCCESS = 0x00,
	JN_MQTT_RC_GRANTED_QOS1 = 0x01,
	JN_MQTT_RC_GRANTED_QOS2 = 0x02,
	JN_MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
	JN_MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
	JN_MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
	JN_MQTT_RC_UNSPECIFIED = 0x80,
	JN_MQTT_RC_MALFORMED = 0x81,
	JN_MQTT_RC_PROTOCOL_ERROR = 0x82,
	JN_MQTT_RC_IMPL_SPECIFIC = 0x83,
	JN_MQTT_RC_UNSUPPORTED_VERSION = 0x84,
	JN_MQTT_RC_CLIENT_ID_INVALID = 0x85,
	JN_MQTT_RC_BAD_USER_PASS = 0x86,
	JN_MQTT_RC_NOT_AUTHORIZED = 0x87,
	JN_MQTT_RC_SERVER_UNAVAILABLE = 0x88,
	JN_MQTT_RC_SERVER_BUSY = 0x89,
	JN_MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
	JN_MQTT_RC_BAD_AUTH_METHOD = 0x8C,
	JN_MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
	JN_MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
	JN_MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
	JN_MQTT_RC_TOPIC_NAME_INVALID = 0x90,
	JN_MQTT_RC_PACKET_ID_IN_USE = 0x91,
	JN_MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
	JN_MQTT_RC_RECEIVE_MAX_EXCEEDED = 0x93,
	JN_MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
	JN_MQTT_RC_PACKET_TOO_LARGE = 0x95,
	JN_MQTT_RC_QUOTA_EXCEEDED = 0x97,
	JN_MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
	JN_MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
	JN_MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
	JN_MQTT_RC_SHARED_NOT_SUPPORTED = 0x9E,
	JN_MQTT_RC_SUB_IDS_NOT_SUPPORTED = 0xA1,
	JN_MQTT_RC_WILDCARDS_NOT_SUPPORTED = 0xA2,
};

/* 3.1.1 CONNACK return codes (§3.2.2.3). */
enum jn_mqtt_connack_rc {
	JN_MQTT_CONNACK_ACCEPTED = 0,
	JN_MQTT_CONNACK_BAD_VERSION = 1,
	JN_MQTT_CONNACK_ID_REJECTED = 2,
	JN_MQTT_CONNACK_UNAVAILABLE = 3,
	JN_MQTT_CONNACK_BAD_USER_PASS = 4,
	JN_MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

/* Bytes: p == NULL means absent (a present empty string has p != NULL). */
struct jn_mqtt_bin {
	const uint8_t *p;
	uint32_t len;
};

/* The v5 properties of one packet (or of a CONNECT's will). Fields whose
 * bit is not in `present` are zero. `user` is a sequence of encoded
 * properties of which the User Property ones count (see
 * jn_mqtt_user_next): a decoder sets it to the whole property block, an
 * encoder writes only its User Properties. */
struct jn_mqtt_props {
	uint64_t present;
	uint8_t payload_format;
	uint8_t request_problem_info;
	uint8_t request_response_info;
	uint8_t max_qos;
	uint8_t retain_available;
	uint8_t wildcard_sub_available;
	uint8_t sub_id_available;
	uint8_t shared_sub_available;
	uint16_t server_keep_alive;
	uint16_t receive_max;
	uint16_t topic_alias_max;
	uint16_t topic_alias;
	uint32_t message_expiry;
	uint32_t session_expiry;
	uint32_t will_delay;
	uint32_t max_packet_size;
	uint32_t nsub_ids;          /* Subscription Identifiers (PUBLISH may carry several) */
	uint32_t sub_ids[JN_MQTT_MAX_SUBIDS];
	struct jn_mqtt_bin content_type;
	struct jn_mqtt_bin response_topic;
	struct jn_mqtt_bin correlation_data;
	struct jn_mqtt_bin assigned_client_id;
	struct jn_mqtt_bin auth_method;
	struct jn_mqtt_bin auth_data;
	struct jn_mqtt_bin response_info;
	struct jn_mqtt_bin server_reference;
	struct jn_mqtt_bin reason_string;
	struct jn_mqtt_bin user;    /* encoded properties; only User Properties count */
	uint32_t nuser;             /* decoder: User Properties found */
};

struct jn_mqtt_connect {
	struct jn_mqtt_bin proto_name;   /* "MQTT" or "MQIsdp" */
	uint8_t level;                   /* 3, 4, 5; anything else: `unsupported` */
	bool unsupported;                /* only proto_name and level were decoded */
	uint8_t flags;                   /* JN_MQTT_CF_* */
	uint16_t keep_alive;             /* seconds */
	struct jn_mqtt_bin client_id;
	struct jn_mqtt_bin will_topic;   /* when flags & JN_MQTT_CF_WILL */
	struct jn_mqtt_bin will_payload;
	struct jn_mqtt_props will_props; /* v5 */
	struct jn_mqtt_bin username;     /* when flags & JN_MQTT_CF_USER */
	struct jn_mqtt_bin password;     /* when flags & JN_MQTT_CF_PASS */
};

struct jn_mqtt_publish {
	struct jn_mqtt_bin topic;        /* may be empty in v5 (topic alias) */
	struct jn_mqtt_bin payload;
	uint8_t qos;
	bool dup;
	bool retain;
};

/* SUBSCRIBE / UNSUBSCRIBE entries, SUBACK / UNSUBACK reason codes: the
 * raw list, validated by the decoder; walk it with jn_mqtt_topics_next. */
struct jn_mqtt_list {
	struct jn_mqtt_bin raw;
	uint32_t count;
};

/* One decoded packet. */
struct jn_mqtt_pkt {
	uint8_t type;        /* enum jn_mqtt_type */
	uint8_t flags;       /* low nibble of the first byte */
	uint8_t version;     /* level the packet was decoded (or is encoded) for */
	uint8_t reason;      /* CONNACK return/reason code, acks, DISCONNECT, AUTH */
	bool session_present;/* CONNACK */
	uint16_t pid;        /* packet identifier (0: none) */
	uint32_t size;       /* decoder: whole packet size in bytes */
	struct jn_mqtt_props props;
	struct jn_mqtt_connect connect;
	struct jn_mqtt_publish publish;
	struct jn_mqtt_list list;        /* SUBSCRIBE UNSUBSCRIBE SUBACK UNSUBACK */
};

/* ---- decoding ----------------------------------------------------------- */

/* Decode one packet body. first: the packet's first byte; body/len: the
 * Remaining Length bytes; version: the session's level (ignored for
 * CONNECT, which carries its own). 0 or -JN_EINVAL / -JN_EPROTO. */
int jn_mqtt_decode(uint8_t first, const uint8_t *body, size_t len, uint8_t version,
                   struct jn_mqtt_pkt *out);

/* Walk a decoded list. SUBSCRIBE: filter + options byte; UNSUBSCRIBE:
 * filter (opts 0); SUBACK / UNSUBACK: filter absent, opts = reason code.
 * *pos starts at 0. Returns false at the end. */
bool jn_mqtt_topics_next(const struct jn_mqtt_pkt *p, size_t *pos,
                         struct jn_mqtt_bin *filter, uint8_t *opts);

/* Walk the User Properties of an encoded property sequence (a decoded
 * props.user or one built with jn_mqtt_user_put). *pos starts at 0. */
bool jn_mqtt_user_next(const struct jn_mqtt_bin *user, size_t *pos,
                       struct jn_mqtt_bin *key, struct jn_mqtt_bin *val);

/* UTF-8 as MQTT wants it (§1.5.3): well-formed, no U+0000, no surrogates. */
bool jn_mqtt_utf8_valid(const uint8_t *s, size_t len);

typedef int (*jn_mqtt_pkt_fn)(void *ctx, const struct jn_mqtt_pkt *p);

/* Zero-initialised apart from max_packet. */
struct jn_mqtt_parser {
	uint8_t state;
	uint8_t first;           /* first byte of the packet being read */
	uint8_t len_bytes;       /* Remaining Length bytes read so far */
	uint8_t version;         /* set by the engine after CONNECT */
	uint32_t rem;            /* Remaining Length (being) decoded */
	uint32_t max_packet;     /* whole packet size limit; 0 = protocol maximum */
	uint8_t *scratch;        /* body of a packet split across reads */
	uint32_t have, cap;
};

void jn_mqtt_parser_init(struct jn_mqtt_parser *p, uint32_t max_packet);
void jn_mqtt_parser_fini(struct jn_mqtt_parser *p);

/* Feed bytes. For each complete packet calls fn; a negative return of fn
 * stops parsing and is returned. Returns 0, fn's error, or a decoding error
 * (see the top). After an error the parser must not be fed again. */
int jn_mqtt_parse(struct jn_mqtt_parser *p, const uint8_t *buf, size_t len,
                  jn_mqtt_pkt_fn fn, void *ctx);

/* Bytes held in scratch (0 when idle). */
size_t jn_mqtt_parser_held(const struct jn_mqtt_parser *p);

/* ---- encoding ----------------------------------------------------------- */

/* Encode p (p->version decides 3.1.1 or 5.0 layout) into buf[0..cap).
 * Returns the packet's full size; bytes are written only if it fits (like
 * snprintf). With omit_payload, a PUBLISH is encoded without its payload
 * bytes (the Remaining Length still counts them): the caller sends the
 * payload as a second piece. Trusted input: invalid fields are asserted. */
size_t jn_mqtt_encode(const struct jn_mqtt_pkt *p, uint8_t *buf, size_t cap, bool omit_payload);

/* Append one encoded User Property to buf (same snprintf rule on cap;
 * returns the bytes it takes). */
size_t jn_mqtt_user_put(uint8_t *buf, size_t cap, const void *key, size_t klen,
                        const void *val, size_t vlen);

/* Size of a variable byte integer. */
size_t jn_mqtt_varint_size(uint32_t v);

#endif
