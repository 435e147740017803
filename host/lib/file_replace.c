/* oncesign host — replacing a file whole (contract in file_replace.h). */
#include "file_replace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oncesign/check.h"
#include "oncesign/status.h"

static void say(char *err, size_t cap, const char *fmt, ...) {
    if (err == NULL || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* lstat, not stat: a symlink is itself "not a regular file", whatever it points to. */
static int target_replaceable(const char *target, char *err, size_t cap) {
    struct stat st;
    if (lstat(target, &st) != 0) {
        if (errno == ENOENT) return OS_OK;
        say(err, cap, "%s: %s", target, strerror(errno));
        return OS_ERR_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        say(err, cap, "%s exists and is not a regular file; not replacing it", target);
        return OS_ERR_ARG;
    }
    return OS_OK;
}

int os_file_replace_open(os_file_replace *r, const char *target, mode_t mode, char *err, size_t cap) {
    ARG_CHECK(r != NULL && target != NULL);
    memset(r, 0, sizeof *r);
    if (strlen(target) >= sizeof r->target) {
        say(err, cap, "path too long");
        return OS_ERR_ARG;
    }
    int rc = target_replaceable(target, err, cap);
    if (rc != OS_OK) return rc;
    memcpy(r->target, target, strlen(target) + 1);
    int fd = -1;
    /* A fresh name each try; O_EXCL refuses anything already there (a planted symlink included). */
    for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
        snprintf(r->tmp, sizeof r->tmp, "%s.tmp%d.%d", target, (int)getpid(), attempt);
        fd = open(r->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        say(err, cap, "%s: %s", r->tmp, strerror(errno));
        r->tmp[0] = '\0';
        return OS_ERR_IO;
    }
    /* open() applied the umask; the caller's mode is what the file gets */
    if (fchmod(fd, mode) != 0 || (r->f = fdopen(fd, "w")) == NULL) {
        say(err, cap, "%s: %s", r->tmp, strerror(errno));
        close(fd);
        unlink(r->tmp);
        r->tmp[0] = '\0';
        return OS_ERR_IO;
    }
    return OS_OK;
}

int os_file_replace_commit(os_file_replace *r, char *err, size_t cap) {
    ARG_CHECK(r != NULL && r->f != NULL);
    int ok = fflush(r->f) == 0 && fsync(fileno(r->f)) == 0;
    int saved = errno;
    ok = fclose(r->f) == 0 && ok;
    r->f = NULL;
    if (!ok) {
        say(err, cap, "writing %s: %s", r->tmp, strerror(saved != 0 ? saved : errno));
        unlink(r->tmp);
        return OS_ERR_IO;
    }
    int rc = target_replaceable(r->target, err, cap);
    if (rc == OS_OK && rename(r->tmp, r->target) != 0) {
        say(err, cap, "renaming %s to %s: %s", r->tmp, r->target, strerror(errno));
        rc = OS_ERR_IO;
    }
    if (rc != OS_OK) unlink(r->tmp);
    return rc;
}

void os_file_replace_abort(os_file_replace *r) {
    if (r == NULL || r->f == NULL) return;
    fclose(r->f);
    r->f = NULL;
    unlink(r->tmp);
}
