/* Unit tests of host/lib/file_replace.c: a regular or absent target is replaced whole with the
 * given mode; a FIFO, a directory, a symlink (to a file or to /dev/null) or a device at the target
 * is refused and left exactly as it was; no temporary file is left behind either way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>

#include "file_replace.h"
#include "oncesign/status.h"

static char dir[64];

static void path_of(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

static size_t entries(void) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    }
    closedir(d);
    return n;
}

static int write_via(const char *target, const char *text, mode_t mode) {
    os_file_replace r;
    char err[256] = "";
    int rc = os_file_replace_open(&r, target, mode, err, sizeof err);
    if (rc != OS_OK) return rc;
    fputs(text, r.f);
    return os_file_replace_commit(&r, err, sizeof err);
}

static void slurp(const char *path, char *out, size_t cap) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

static void test_regular_and_absent_targets(void **state) {
    (void)state;
    char p[128], got[64];
    path_of(p, sizeof p, "out.txt");
    assert_int_equal(write_via(p, "first\n", 0600), OS_OK);
    slurp(p, got, sizeof got);
    assert_string_equal(got, "first\n");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(write_via(p, "second\n", 0644), OS_OK);
    slurp(p, got, sizeof got);
    assert_string_equal(got, "second\n");
    assert_int_equal(entries(), 1);   /* no temporary file left */
    /* abort leaves the target as it was */
    os_file_replace r;
    assert_int_equal(os_file_replace_open(&r, p, 0644, NULL, 0), OS_OK);
    fputs("never", r.f);
    os_file_replace_abort(&r);
    slurp(p, got, sizeof got);
    assert_string_equal(got, "second\n");
    assert_int_equal(entries(), 1);
    unlink(p);
}

static void test_non_regular_targets_refused(void **state) {
    (void)state;
    char fifo[128], sub[128], link_file[128], link_null[128], victim[128], got[64], err[256];
    path_of(fifo, sizeof fifo, "fifo");
    path_of(sub, sizeof sub, "subdir");
    path_of(link_file, sizeof link_file, "link-to-file");
    path_of(link_null, sizeof link_null, "link-to-null");
    path_of(victim, sizeof victim, "victim");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fputs("keep\n", f);
    fclose(f);
    assert_int_equal(symlink(victim, link_file), 0);
    assert_int_equal(symlink("/dev/null", link_null), 0);
    const char *targets[] = { fifo, sub, link_file, link_null, "/dev/null" };
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        os_file_replace r;
        err[0] = '\0';
        assert_int_equal(os_file_replace_open(&r, targets[i], 0644, err, sizeof err), OS_ERR_ARG);
        assert_null(r.f);
        assert_non_null(strstr(err, "not a regular file"));
    }
    struct stat st;
    assert_int_equal(lstat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(lstat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(lstat(link_file, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    slurp(victim, got, sizeof got);
    assert_string_equal(got, "keep\n");
    assert_int_equal(entries(), 5);

    /* swapped for a FIFO between open and commit: refused at commit, temporary file removed */
    char late[128];
    path_of(late, sizeof late, "late");
    os_file_replace r;
    assert_int_equal(os_file_replace_open(&r, late, 0644, err, sizeof err), OS_OK);
    fputs("data", r.f);
    assert_int_equal(mkfifo(late, 0600), 0);
    assert_int_equal(os_file_replace_commit(&r, err, sizeof err), OS_ERR_ARG);
    assert_int_equal(lstat(late, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(entries(), 6);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/oncesign-replace-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regular_and_absent_targets),
        cmocka_unit_test(test_non_regular_targets_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
