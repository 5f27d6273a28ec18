/*
 * rand.h - unguessable tokens for private subjects (inboxes, internal
 * deliver subjects): one generator instead of one per adapter.
 */
#ifndef JN_RAND_H
#define JN_RAND_H

#include <stddef.h>

/* Write n random characters from [0-9A-Za-z] and a NUL into out (n + 1
 * bytes). From getrandom(); should the kernel refuse, a per-process
 * counter mixed with the clock keeps tokens distinct (not secret). Any
 * thread. */
void jn_random_token(char *out, size_t n);

#endif
