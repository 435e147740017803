/* oncesign host — the daemon's lock next to the ledger (contract in daemon_lock.h). */
#include "daemon_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "errtext.h"
#include "oncesign/status.h"

static int lock_path(const char *db_path, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s.oncesignd", db_path);
    return n > 0 && (size_t)n < cap ? OS_OK : OS_ERR_BUFFER;
}

int os_daemon_admin_path(const char *db_path, char *out, size_t cap) {
    if (db_path == NULL || out == NULL) return OS_ERR_ARG;
    int n = snprintf(out, cap, "%s.admin.sock", db_path);
    return n > 0 && (size_t)n < cap ? OS_OK : OS_ERR_BUFFER;
}

/* Reads "pid N\nadmin PATH\n" from fd (from its start). */
static void read_owner(int fd, long *pid, char *admin_path, size_t cap) {
    char text[4200];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    *pid = 0;
    if (cap > 0) admin_path[0] = '\0';
    if (n <= 0) return;
    text[n] = '\0';
    char *line2 = strchr(text, '\n');
    if (strncmp(text, "pid ", 4) == 0) *pid = strtol(text + 4, NULL, 10);
    if (line2 != NULL && strncmp(line2 + 1, "admin ", 6) == 0) {
        char *p = line2 + 7;
        p[strcspn(p, "\n")] = '\0';
        snprintf(admin_path, cap, "%s", p);
    }
}

int os_daemon_lock_acquire(const char *db_path, const char *admin_path, os_daemon_lock *lock, char *err, size_t cap) {
    if (db_path == NULL || admin_path == NULL || lock == NULL) return OS_ERR_ARG;
    lock->fd = -1;
    if (lock_path(db_path, lock->path, sizeof lock->path) != OS_OK) {
        os_errf(err, cap, "the ledger path %s is too long", db_path);
        return OS_ERR_IO;
    }
    int fd = open(lock->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        os_errf(err, cap, "%s: %s", lock->path, strerror(errno));
        return OS_ERR_IO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        long pid = 0;
        char other[16];
        read_owner(fd, &pid, other, sizeof other);
        close(fd);
        if (errno == EWOULDBLOCK || errno == EAGAIN) {
            os_errf(err, cap, "another oncesignd (pid %ld) runs on this ledger (%s)", pid, lock->path);
            return OS_ERR_BUSY;
        }
        os_errf(err, cap, "%s: %s", lock->path, strerror(errno));
        return OS_ERR_IO;
    }
    char text[4200];
    int n = snprintf(text, sizeof text, "pid %ld\nadmin %s\n", (long)getpid(), admin_path);
    if (n <= 0 || (size_t)n >= sizeof text || ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n) {
        os_errf(err, cap, "%s: cannot write it: %s", lock->path, strerror(errno));
        close(fd);
        return OS_ERR_IO;
    }
    lock->fd = fd;
    return OS_OK;
}

void os_daemon_lock_release(os_daemon_lock *lock) {
    if (lock == NULL || lock->fd < 0) return;
    /* unlinked while still locked: nobody finds a file that looks held */
    unlink(lock->path);
    close(lock->fd);
    lock->fd = -1;
}

int os_daemon_lock_probe(const char *db_path, long *pid, char *admin_path, size_t cap) {
    if (db_path == NULL || pid == NULL || admin_path == NULL) return OS_ERR_ARG;
    char path[4096];
    *pid = 0;
    if (lock_path(db_path, path, sizeof path) != OS_OK) return OS_ERR_NOT_FOUND;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return OS_ERR_NOT_FOUND;
    int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && (errno == EWOULDBLOCK || errno == EAGAIN);
    if (held) read_owner(fd, pid, admin_path, cap);
    close(fd);   /* also drops the shared lock when it was granted */
    return held ? OS_OK : OS_ERR_NOT_FOUND;
}
