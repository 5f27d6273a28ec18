/*
 * filestore_hooks.h - fault injection for the file store's tests. Not for
 * production callers: it exists so that ENOSPC/EIO handling can be tested
 * without a full disk.
 */
#ifndef JN_FILESTORE_HOOKS_H
#define JN_FILESTORE_HOOKS_H

#include <stdbool.h>

struct jn_store;

enum jn_fs_fault {
	JN_FS_FAULT_NONE = 0,
	JN_FS_FAULT_FALLOCATE,   /* the next space reservation fails */
	JN_FS_FAULT_WRITE,       /* the next write of records fails */
	JN_FS_FAULT_FSYNC,       /* the next data fsync fails */
};

/* Make the next operation of kind `where` fail with errno `err`. With
 * partial, a failing write first writes half of its bytes (a torn write). */
void jn_filestore_inject_fault(struct jn_store *st, enum jn_fs_fault where,
                               int err, bool partial);

/* Turn space reservation off, as on a file system without fallocate(2):
 * every append is then written through, and a failed write is rolled back
 * by truncating the segment to its previous end. */
void jn_filestore_set_prealloc(struct jn_store *st, bool on);

#endif
