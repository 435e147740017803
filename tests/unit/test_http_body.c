/* The one HTTP body sink (host/lib/http_body.c): what libcurl hands over is kept whole and
 * NUL-terminated, a body past max aborts the transfer (the JSON-RPC client's 32 MiB limit), and a
 * reset keeps the buffer for the next answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http_body.h"

static void test_chunks_kept_whole_and_terminated(void **state) {
    (void)state;
    os_http_body b = { 0 };
    char big[5000];
    memset(big, 'x', sizeof big);
    assert_int_equal(os_http_body_write((char *)"{\"a\":", 1, 5, &b), 5);
    assert_int_equal(os_http_body_write(big, 1, sizeof big, &b), sizeof big);   /* past the first 4 KiB */
    assert_int_equal(os_http_body_write((char *)"1}", 2, 1, &b), 2);
    assert_int_equal(b.len, 5 + sizeof big + 2);
    assert_memory_equal(b.data, "{\"a\":", 5);
    assert_memory_equal(b.data + 5 + sizeof big, "1}", 3);   /* and the NUL */
    assert_int_equal(b.overflow, 0);
    os_http_body_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(os_http_body_write((char *)"ok", 1, 2, &b), 2);
    assert_string_equal(b.data, "ok");
    os_http_body_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_past_max_aborts(void **state) {
    (void)state;
    os_http_body b = { .max = 8 };
    assert_int_equal(os_http_body_write((char *)"12345678", 1, 8, &b), 8);   /* exactly max */
    assert_int_equal(b.overflow, 0);
    assert_int_equal(os_http_body_write((char *)"9", 1, 1, &b), 0);          /* libcurl aborts */
    assert_int_equal(b.overflow, 1);
    assert_string_equal(b.data, "12345678");
    os_http_body_reset(&b);
    assert_int_equal(b.overflow, 0);
    assert_int_equal(b.max, 8);
    os_http_body_free(&b);
    assert_int_equal(b.max, 8);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunks_kept_whole_and_terminated),
        cmocka_unit_test(test_past_max_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
