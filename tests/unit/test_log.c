/* Unit tests of host/lib/log.c: the text, journald and JSON forms of one event (time, level, event
 * name, fields, message), level filtering, escaping of control characters and quotes (a value from
 * a request cannot forge a second line), and cutting of an overlong line that still ends with a
 * newline (and, in JSON, still parses). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"
#include "oncesign/status.h"

static int pipe_fd[2];

static size_t drain(char *out, size_t cap) {
    size_t got = 0;
    for (;;) {
        ssize_t n = read(pipe_fd[0], out + got, cap - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
        if (got >= cap - 1) break;
    }
    out[got] = '\0';
    return got;
}

static int setup(void **state) {
    (void)state;
    if (pipe(pipe_fd) != 0) return -1;
    /* reads must not block when a test expects nothing */
    return fcntl(pipe_fd[0], F_SETFL, O_NONBLOCK) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    close(pipe_fd[0]);
    close(pipe_fd[1]);
    os_log_configure(OS_LOG_FORMAT_AUTO, OS_LOG_INFO, 2);
    return 0;
}

static void test_text_form(void **state) {
    (void)state;
    char out[8192];
    assert_int_equal(os_log_configure(OS_LOG_FORMAT_TEXT, OS_LOG_INFO, pipe_fd[1]), OS_OK);
    os_log_field f[] = { OS_LOG_INT("payout_id", 42), OS_LOG_STR("txid", "ab01"), OS_LOG_STR("why", "two words") };
    os_log(OS_LOG_WARNING, "payout.failed", f, 3, "the node refused it: %s", "missing-inputs");
    drain(out, sizeof out);
    /* 2026-12-03T13:14:00.123Z warning payout.failed payout_id=42 txid=ab01 why="two words": ... */
    assert_int_equal(strlen(out) > 25 && out[4] == '-' && out[10] == 'T' && out[23] == 'Z', 1);
    assert_string_equal(out + 25, "warning payout.failed payout_id=42 txid=ab01 why=\"two words\": "
                                  "the node refused it: missing-inputs\n");
    os_log(OS_LOG_DEBUG, "noise", NULL, 0, "dropped below info");
    assert_int_equal(drain(out, sizeof out), 0);
    os_log(OS_LOG_INFO, "x", NULL, 0, "line\nforged 2026 error fake.event");
    drain(out, sizeof out);
    assert_non_null(strstr(out, "line\\u000aforged"));
    assert_int_equal(strchr(out, '\n') - out, (long)strlen(out) - 1);   /* exactly one line */
}

static void test_journal_form(void **state) {
    (void)state;
    char out[8192];
    assert_int_equal(os_log_configure(OS_LOG_FORMAT_JOURNAL, OS_LOG_DEBUG, pipe_fd[1]), OS_OK);
    os_log(OS_LOG_ERROR, "signer.lost", NULL, 0, "no answer");
    drain(out, sizeof out);
    assert_string_equal(out, "<3>error signer.lost: no answer\n");
    os_log(OS_LOG_DEBUG, "d", NULL, 0, NULL);
    drain(out, sizeof out);
    assert_string_equal(out, "<7>debug d\n");
}

static void test_json_form(void **state) {
    (void)state;
    char out[8192];
    assert_int_equal(os_log_configure(OS_LOG_FORMAT_JSON, OS_LOG_INFO, pipe_fd[1]), OS_OK);
    os_log_field f[] = { OS_LOG_INT("payout_id", -7), OS_LOG_STR("address", "a\"b\\c\td") };
    os_log(OS_LOG_NOTICE, "payout.broadcast", f, 2, "sent %d", 1);
    drain(out, sizeof out);
    json_error_t e;
    json_t *doc = json_loads(out, 0, &e);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "level")), "notice");
    assert_string_equal(json_string_value(json_object_get(doc, "event")), "payout.broadcast");
    assert_int_equal(json_integer_value(json_object_get(doc, "payout_id")), -7);
    assert_string_equal(json_string_value(json_object_get(doc, "address")), "a\"b\\c\td");
    assert_string_equal(json_string_value(json_object_get(doc, "msg")), "sent 1");
    assert_int_equal(strlen(json_string_value(json_object_get(doc, "ts"))), 24);
    json_decref(doc);
}

static void test_overlong_line_is_cut(void **state) {
    (void)state;
    static char big[6000], out[16384];
    memset(big, 'x', sizeof big - 1);
    os_log_field f[] = { OS_LOG_STR("blob", big) };
    assert_int_equal(os_log_configure(OS_LOG_FORMAT_JSON, OS_LOG_INFO, pipe_fd[1]), OS_OK);
    os_log(OS_LOG_INFO, "big", f, 1, "m");
    size_t n = drain(out, sizeof out);
    assert_true(n <= 4096 && out[n - 1] == '\n');
    json_error_t e;
    json_t *doc = json_loads(out, 0, &e);
    assert_non_null(doc);   /* still one valid JSON object */
    json_decref(doc);
    assert_int_equal(os_log_configure(OS_LOG_FORMAT_TEXT, OS_LOG_INFO, pipe_fd[1]), OS_OK);
    os_log(OS_LOG_INFO, "big", f, 1, "m");
    n = drain(out, sizeof out);
    assert_true(n <= 4096 && out[n - 1] == '\n');
    assert_non_null(strstr(out, "...\n"));
    assert_int_equal(os_log_configure(OS_LOG_FORMAT_TEXT, 9, pipe_fd[1]), OS_ERR_ARG);
    os_log_format fmt;
    assert_int_equal(os_log_format_parse("json", &fmt), OS_OK);
    assert_int_equal(fmt, OS_LOG_FORMAT_JSON);
    assert_int_equal(os_log_format_parse("xml", &fmt), OS_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_form),
        cmocka_unit_test(test_journal_form),
        cmocka_unit_test(test_json_form),
        cmocka_unit_test(test_overlong_line_is_cut),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
