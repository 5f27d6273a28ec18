/*
 * rand.c - see rand.h. Tokens name private subjects: whoever can guess one
 * can subscribe to another client's replies, hence getrandom(); the
 * fallback only has to keep tokens distinct.
 */
#include "core/rand.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

void jn_random_token(char *out, size_t n)
{
	static const char alpha[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	static _Atomic uint64_t counter;
	uint8_t rnd[64];
	size_t done = 0;
	while (done < n) {
		size_t k = n - done < sizeof rnd ? n - done : sizeof rnd;
		if (getrandom(rnd, k, 0) != (ssize_t)k) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t x = ((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30)) +
			             atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ull;
			for (size_t i = 0; i < k; i++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				rnd[i] = (uint8_t)x;
			}
		}
		/* 256 % 62 != 0: a slight bias, irrelevant at 22+ characters */
		for (size_t i = 0; i < k; i++)
			out[done + i] = alpha[rnd[i] % 62];
		done += k;
	}
	out[n] = '\0';
}
