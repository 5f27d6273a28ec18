/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of every record the stores
 * write (message segments, consumer state). Hardware (SSE4.2 crc32) when the
 * CPU has it, a slicing-by-8 table otherwise; both give identical results.
 */
#ifndef JN_CRC32C_H
#define JN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: start with crc = 0; jn_crc32c(jn_crc32c(0, a, n), b, m)
 * equals the CRC of a followed by b. crc32c("123456789") = 0xE3069283. */
uint32_t jn_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
