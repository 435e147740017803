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

/* Copies the value of the line "key VALUE" of text into out. */
static void field(const char *text, const char *key, char *out, size_t cap) {
    size_t k = strlen(key);
    if (cap > 0) out[0] = '\0';
    const char *line = text;
    while (line != NULL) {
        if (strncmp(line, key, k) == 0 && line[k] == ' ') {
            size_t n = strcspn(line + k + 1, "\n");
            snprintf(out, cap, "%.*s", (int)n, line + k + 1);
            return;
        }
        line = strchr(line, '\n');
        if (line != NULL) line++;
    }
}

/* Reads "pid N\nadmin PATH\ndevice SPEC\n" from fd (from its start). */
static void read_owner(int fd, long *pid, char *admin_path, char *device, size_t cap) {
    char text[8400], num[32];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    field(text, "pid", num, sizeof num);
    *pid = strtol(num, NULL, 10);
    field(text, "admin", admin_path, cap);
    field(text, "device", device, cap);
}

int os_daemon_lock_acquire(const char *db_path, const char *admin_path, const char *device, os_daemon_lock *lock,
                           char *err, size_t cap) {
    if (db_path == NULL || admin_path == NULL || device == NULL || lock == NULL) return OS_ERR_ARG;
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
        char other[16], other_device[16];
        read_owner(fd, &pid, other, other_device, sizeof other);
        close(fd);
        if (errno == EWOULDBLOCK || errno == EAGAIN) {
            os_errf(err, cap, "another oncesignd (pid %ld) runs on this ledger (%s)", pid, lock->path);
            return OS_ERR_BUSY;
        }
        os_errf(err, cap, "%s: %s", lock->path, strerror(errno));
        return OS_ERR_IO;
    }
    char text[8400];
    int n = snprintf(text, sizeof text, "pid %ld\nadmin %s\ndevice %s\n", (long)getpid(), admin_path, device);
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

int os_daemon_lock_probe(const char *db_path, long *pid, char *admin_path, char *device, size_t cap) {
    if (db_path == NULL || pid == NULL || admin_path == NULL || device == NULL) return OS_ERR_ARG;
    char path[4096];
    *pid = 0;
    if (lock_path(db_path, path, sizeof path) != OS_OK) return OS_ERR_NOT_FOUND;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return OS_ERR_NOT_FOUND;
    int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && (errno == EWOULDBLOCK || errno == EAGAIN);
    if (held) read_owner(fd, pid, admin_path, device, cap);
    close(fd);   /* also drops the shared lock when it was granted */
    return held ? OS_OK : OS_ERR_NOT_FOUND;
}
