/*
 * subject.h - the NATS subject rules, used by every adapter.
 *
 * A subject is tokens separated by '.'; no empty token; no whitespace
 * (space, tab, CR, LF, FF, VT) anywhere. In a filter (subscription pattern)
 * a token that is exactly "*" matches one token, a token that is exactly ">"
 * matches one or more trailing tokens and must be the last token. Tokens like
 * "a*" or ">x" are literals. Publish subjects must be literals (no wildcard
 * tokens). Matching is byte-wise and case-sensitive.
 */
#ifndef JN_SUBJECT_H
#define JN_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

#define JN_SUBJECT_MAX_TOKENS 256

bool jn_subject_valid_filter(const char *s, size_t len);   /* wildcards allowed */
bool jn_subject_valid_literal(const char *s, size_t len);  /* no wildcards */
bool jn_subject_has_wildcard(const char *s, size_t len);   /* any "*" or ">" token */

/* Does literal subject `subj` match `filter`? Both assumed valid. */
bool jn_subject_match(const char *filter, size_t flen, const char *subj, size_t slen);

/* Is every subject matched by filter `sub` also matched by filter `super`?
 * Used for permissions: SUB "foo.*" is allowed by allow "foo.>", SUB ">" is not. */
bool jn_subject_subset(const char *sub, size_t sublen, const char *super, size_t superlen);

/* Could some literal subject match both filters? (stream subject overlap) */
bool jn_subject_overlap(const char *a, size_t alen, const char *b, size_t blen);

/* Split into tokens; returns token count, or -1 if more than max. */
int jn_subject_tokenize(const char *s, size_t len, const char **tok, size_t *toklen, int max);

#endif
