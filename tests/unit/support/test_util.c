/* oncesign tests — see test_util.h. */
#include "test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "oncesign/status.h"

size_t test_unhex(const char *hex, uint8_t *out, size_t cap) {
    size_t n = strlen(hex) / 2, i;
    assert_int_equal(strlen(hex) % 2, 0);
    assert_true(n <= cap);
    for (i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

int test_crypto_setup(void **state) {
    uint8_t r[32];
    (void)state;
    memset(r, 0x55, sizeof r);
    return crypto_init(r) == OS_OK ? 0 : -1;
}
