/*
 * header.h - NATS/1.0 header blocks (ADR-4).
 *
 *   NATS/1.0[ <3-digit status>[ <description>]]\r\n
 *   Name: value\r\n          (zero or more; names case-preserving, repeatable)
 *   \r\n
 *
 * Parsing works on borrowed bytes and never allocates. Building uses a
 * caller-owned buffer.
 */
#ifndef JN_HEADER_H
#define JN_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Validate framing: starts with "NATS/1.0", every line ends in CRLF, ends
 * with the blank line, each field line has a ':' and a non-empty name
 * without whitespace. 0 or -JN_EBADHDR. */
int jn_hdr_validate(const uint8_t *hdr, size_t len);

/* Status line: *code = 0 if none. desc points into hdr (may be empty). */
int jn_hdr_status(const uint8_t *hdr, size_t len, int *code,
                  const char **desc, size_t *desc_len);

/* First value of exact (case-sensitive) key. Leading spaces/tabs of the
 * value are skipped. Returns true if found. */
bool jn_hdr_get(const uint8_t *hdr, size_t len, const char *key,
                const char **val, size_t *val_len);

/* Iterate fields: *pos starts at 0; returns false at the end. */
bool jn_hdr_next(const uint8_t *hdr, size_t len, size_t *pos,
                 const char **key, size_t *key_len,
                 const char **val, size_t *val_len);

/* Builder over a caller buffer; on overflow `len` exceeds `cap` and
 * jn_hdr_done returns -JN_ENOMEM (nothing is written past cap). */
struct jn_hdr_buf {
	uint8_t *buf;
	size_t cap;
	size_t len;
};
void jn_hdr_begin(struct jn_hdr_buf *b, uint8_t *buf, size_t cap,
                  int status, const char *desc);   /* status 0: plain */
void jn_hdr_add(struct jn_hdr_buf *b, const char *key, const char *val, size_t val_len);
int jn_hdr_done(struct jn_hdr_buf *b);   /* appends final CRLF; returns len or -JN_ENOMEM */

#endif
