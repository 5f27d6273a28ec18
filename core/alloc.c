/*
 * alloc.c - counting allocator.
 *
 * Each block carries a 16-byte prefix holding its size, so jn_free() can
 * subtract exactly what was added and jn_mem_used() is the true number of
 * live bytes handed out (not counting the prefix). 16 bytes keeps the
 * returned pointer aligned for any type malloc() would align for.
 */
#include "core/alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX 16

static _Atomic size_t mem_used;
static _Atomic size_t mem_allocs;

static void *account(unsigned char *raw, size_t n)
{
	if (!raw)
		return NULL;
	memcpy(raw, &n, sizeof n);
	atomic_fetch_add_explicit(&mem_used, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&mem_allocs, 1, memory_order_relaxed);
	return raw + PREFIX;
}

void *jn_malloc(size_t n)
{
	if (n > SIZE_MAX - PREFIX)
		return NULL;
	return account(malloc(n + PREFIX), n);
}

void *jn_calloc(size_t nmemb, size_t size)
{
	if (size && nmemb > (SIZE_MAX - PREFIX) / size)
		return NULL;
	size_t n = nmemb * size;
	return account(calloc(1, n + PREFIX), n);
}

void *jn_realloc(void *p, size_t n)
{
	if (!p)
		return jn_malloc(n);
	if (n > SIZE_MAX - PREFIX)
		return NULL;
	unsigned char *raw = (unsigned char *)p - PREFIX;
	size_t old;
	memcpy(&old, raw, sizeof old);
	unsigned char *nraw = realloc(raw, n + PREFIX);
	if (!nraw)
		return NULL;   /* p stays valid and accounted */
	memcpy(nraw, &n, sizeof n);
	if (n >= old)
		atomic_fetch_add_explicit(&mem_used, n - old, memory_order_relaxed);
	else
		atomic_fetch_sub_explicit(&mem_used, old - n, memory_order_relaxed);
	return nraw + PREFIX;
}

void jn_free(void *p)
{
	if (!p)
		return;
	unsigned char *raw = (unsigned char *)p - PREFIX;
	size_t n;
	memcpy(&n, raw, sizeof n);
	atomic_fetch_sub_explicit(&mem_used, n, memory_order_relaxed);
	atomic_fetch_sub_explicit(&mem_allocs, 1, memory_order_relaxed);
	free(raw);
}

char *jn_strndup(const char *s, size_t n)
{
	char *d = jn_malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *jn_strdup(const char *s)
{
	return jn_strndup(s, strlen(s));
}

size_t jn_mem_used(void)
{
	return atomic_load_explicit(&mem_used, memory_order_relaxed);
}

size_t jn_mem_allocs(void)
{
	return atomic_load_explicit(&mem_allocs, memory_order_relaxed);
}
