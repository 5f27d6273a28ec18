/*
 * jsonpos.h - where in a JSON text a field is, for error messages.
 *
 * jansson reports line and column for syntax errors only; once a document
 * is loaded the positions of its values are gone. The config loader finds
 * them again by scanning the (already validated) text along a field path:
 *   "nats.port", "authorization.users[1].password", "" (the root value).
 * Lines and columns are 1-based; a column counts characters (UTF-8
 * sequences), not bytes, as jansson's do.
 */
#ifndef JN_JSONPOS_H
#define JN_JSONPOS_H

#include <stdbool.h>
#include <stddef.h>

/* Locate path in text. at_key: the position of the member's key (its
 * opening quote) instead of its value; ignored when the path ends in an
 * index. Returns 0 when the whole path was found, 1 when only an ancestor
 * was (line/col then point at the deepest one found), -1 when not even the
 * root was (line = col = 1). text need not be NUL-terminated. */
int jn_jsonpos_find(const char *text, size_t len, const char *path, bool at_key,
                    int *line, int *col);

#endif
