/*
 * base64.c - see base64.h. The decoder is strict (canonical input only):
 * it reads credentials and headers from the network, where a lenient
 * decoder would make two different strings mean the same bytes.
 */
#include "core/base64.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t jn_base64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void jn_base64_encode(const uint8_t *s, size_t n, char *out)
{
	size_t i = 0;
	while (i + 3 <= n) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*out++ = b64[v >> 18];
		*out++ = b64[(v >> 12) & 63];
		*out++ = b64[(v >> 6) & 63];
		*out++ = b64[v & 63];
		i += 3;
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		*out++ = b64[v >> 18];
		*out++ = b64[(v >> 12) & 63];
		*out++ = '=';
		*out++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		*out++ = b64[v >> 18];
		*out++ = b64[(v >> 12) & 63];
		*out++ = b64[(v >> 6) & 63];
		*out++ = '=';
	}
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long jn_base64_decode(const char *s, size_t n, uint8_t *out)
{
	/* strip padding (at most two '=' at the very end) */
	size_t pad = 0;
	while (n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (pad && (n + pad) % 4 != 0)
		return -1;
	if (n % 4 == 1)
		return -1;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val(s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* leftover bits must be zero (canonical encoding) */
	if (bits && (acc & ((1u << bits) - 1)))
		return -1;
	return (long)o;
}
