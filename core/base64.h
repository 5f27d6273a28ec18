/*
 * base64.h - RFC 4648 base64, standard alphabet, for every layer that
 * carries bytes in text: JetStream MSG.GET answers, MQTT correlation data
 * in a NATS header, HTTP message JSON and Basic credentials.
 */
#ifndef JN_BASE64_H
#define JN_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length of n bytes (padded), without a NUL. */
size_t jn_base64_len(size_t n);
/* Encode n bytes into out (jn_base64_len(n) bytes, no NUL). */
void jn_base64_encode(const uint8_t *s, size_t n, char *out);
/* Decode, padded or not; out needs n * 3 / 4 + 1 bytes. The decoded length,
 * or -1 for anything that is not canonical base64 (bad character, bad
 * padding, non-zero leftover bits). */
long jn_base64_decode(const char *s, size_t n, uint8_t *out);

#endif
