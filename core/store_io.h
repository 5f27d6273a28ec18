/*
 * store_io.h - small file-system helpers shared by the stores and the stream
 * layer: crash-safe whole-file replacement (meta.json, consumer snapshots),
 * directory fsync, recursive mkdir/remove.
 *
 * Errors map errno to Junction codes: ENOSPC/EDQUOT -> -JN_ENOSPC, ENOENT ->
 * -JN_ENOTFOUND, EEXIST -> -JN_EEXIST, ENOMEM -> -JN_ENOMEM, else -JN_EIO.
 */
#ifndef JN_STORE_IO_H
#define JN_STORE_IO_H

#include <stddef.h>

int jn_errno_to_err(int e);

/* Replace `path` atomically: write "<path>.tmp", fsync it, rename over
 * `path`, fsync the directory. After a crash either the old or the new
 * content is there, never a mix. The tmp file is removed on failure. */
int jn_file_write_atomic(const char *path, const void *data, size_t len);

/* Read a whole file. On success *out is a jn_malloc'ed buffer the caller
 * owns (NUL-terminated, the NUL not counted in *len). */
int jn_file_read_all(const char *path, char **out, size_t *len);

/* fsync a directory (makes creates, renames and unlinks in it durable). */
int jn_fsync_dir(const char *path);

/* mkdir -p with mode 0755; existing directories are fine. */
int jn_mkdirs(const char *path);

/* rm -rf; a missing path is not an error. */
int jn_rmtree(const char *path);

#endif
