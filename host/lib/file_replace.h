/* oncesign host — writing a file whole and then renaming it over its target, so a reader never sees
 * half a file and a crash leaves the old one. The target is replaced only when it is absent or a
 * regular file: `--out /dev/sda`, a FIFO, a directory or a symlink planted at the path is refused,
 * never replaced. The temporary file is created beside the target with O_EXCL (a name planted in
 * advance is never followed) and the given mode.
 */
#ifndef ONCESIGN_HOST_FILE_REPLACE_H
#define ONCESIGN_HOST_FILE_REPLACE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct {
    FILE *f;                /* write the contents here */
    char target[4096];
    char tmp[4096 + 16];
} os_file_replace;

/* Opens the temporary file for target.
 * Returns: OS_OK; OS_ERR_ARG (the target exists and is not a regular file, or the path is too
 *          long: err says); OS_ERR_IO (cannot create the temporary file: err says).
 * In:      target: the path to replace. mode: the new file's permission bits (e.g. 0644).
 * Out:     r: r->f is open for writing on OS_OK. err: a sentence on failure (may be NULL if cap 0). */
int os_file_replace_open(os_file_replace *r, const char *target, mode_t mode, char *err, size_t cap);

/* Flushes, syncs and closes the temporary file, checks the target again (it may have been swapped
 * for something else meanwhile) and renames the temporary file over it.
 * Returns: OS_OK; OS_ERR_ARG (the target is no longer a regular file); OS_ERR_IO. On failure the
 *          temporary file is removed and the target is untouched. */
int os_file_replace_commit(os_file_replace *r, char *err, size_t cap);

/* Closes and removes the temporary file; the target is untouched. r->f == NULL is ignored. */
void os_file_replace_abort(os_file_replace *r);

#endif /* ONCESIGN_HOST_FILE_REPLACE_H */
