/*
 * alloc.h - every allocation in Junction goes through these wrappers, which
 * count live bytes globally (and per accounting bucket), so memory limits and
 * leak checks are real. Out-of-memory returns NULL; callers report -JN_ENOMEM.
 */
#ifndef JN_ALLOC_H
#define JN_ALLOC_H

#include <stddef.h>

void *jn_malloc(size_t n);
void *jn_calloc(size_t nmemb, size_t size);
void *jn_realloc(void *p, size_t n);
void jn_free(void *p);
char *jn_strndup(const char *s, size_t n);   /* NUL-terminated copy */
char *jn_strdup(const char *s);

size_t jn_mem_used(void);      /* live bytes allocated through jn_* */
size_t jn_mem_allocs(void);    /* live allocation count */

#endif
