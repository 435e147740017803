/* oncesign host — how the CLI knows that oncesignd runs on a ledger, and where to reach it: the
 * daemon holds an exclusive lock (flock) on "<ledger>.oncesignd" for its whole life, the file naming
 * its pid, its admin socket ("<ledger>.admin.sock") and the signer it holds (its device spec). The lock, not the file, is the truth: a file
 * left by a killed daemon holds no lock and counts as absent (docs/DESIGN.md §4b). */
#ifndef ONCESIGN_HOST_DAEMON_LOCK_H
#define ONCESIGN_HOST_DAEMON_LOCK_H

#include <stddef.h>

typedef struct {
    int fd;                 /* -1 when not held */
    char path[4096];
} os_daemon_lock;

/* The admin socket's path for a ledger: db_path + ".admin.sock".
 * Returns: OS_OK; OS_ERR_BUFFER when it does not fit cap. */
int os_daemon_admin_path(const char *db_path, char *out, size_t cap);

/* Takes the lock of db_path for this process and writes its pid and admin socket path.
 * Returns: OS_OK; OS_ERR_BUSY when another live daemon holds it (err names its pid); OS_ERR_IO
 *          (err says why).
 * Out:     lock: held on OS_OK (release with os_daemon_lock_release). */
int os_daemon_lock_acquire(const char *db_path, const char *admin_path, const char *device, os_daemon_lock *lock,
                           char *err, size_t cap);

/* Removes the file and drops the lock. A lock not held is ignored. */
void os_daemon_lock_release(os_daemon_lock *lock);

/* Whether a live daemon holds db_path's lock.
 * Returns: OS_OK (*pid, admin_path and device set; pid 0 when it has not written its file yet);
 *          OS_ERR_NOT_FOUND (no file, or one nobody holds).
 * Out:     pid, admin_path and device (cap bytes each). */
int os_daemon_lock_probe(const char *db_path, long *pid, char *admin_path, char *device, size_t cap);

#endif /* ONCESIGN_HOST_DAEMON_LOCK_H */
