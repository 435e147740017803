/* Unit tests of host/lib/descriptor.c: BIP380's published checksum vector, refusal of characters
 * outside its input set and of short buffers, and the account descriptors for each script type
 * (key origin, chain, range, checksum). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "descriptor.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"

static void test_checksum_vector(void **state) {
    (void)state;
    char out[64];
    /* BIP380 "Test Vectors": raw(deadbeef)#89f8spxm is the valid checksum */
    assert_int_equal(os_descriptor_add_checksum("raw(deadbeef)", out, sizeof out), OS_OK);
    assert_string_equal(out, "raw(deadbeef)#89f8spxm");
    /* one character changed changes the checksum */
    assert_int_equal(os_descriptor_add_checksum("raw(deadbeee)", out, sizeof out), OS_OK);
    assert_string_not_equal(out, "raw(deadbeee)#89f8spxm");
    assert_int_equal(os_descriptor_add_checksum("raw(d\xc3\xa9)", out, sizeof out), OS_ERR_ARG);
    assert_int_equal(os_descriptor_add_checksum("raw(\t)", out, sizeof out), OS_ERR_ARG);
    assert_int_equal(os_descriptor_add_checksum("raw(deadbeef)", out, 22), OS_ERR_ARG);   /* needs 23 */
    assert_int_equal(os_descriptor_add_checksum("raw(deadbeef)", out, 23), OS_OK);
}

static void test_account_descriptors(void **state) {
    (void)state;
    const uint8_t fp[4] = { 0x73, 0xc5, 0xda, 0x0a };
    const char *xpub = "tpubDC8msFGeGuwnKG9Upg7DM2b4DaRqg3CUZa5g8v2SRQ6K4NSkxUgd7HsL2XVWbVm39yBA4LAxysQAm397zwQSQoQgewGiYZqrA9DsP4zbQ1M";
    char out[OS_DESCRIPTOR_MAX], plain[OS_DESCRIPTOR_MAX], again[OS_DESCRIPTOR_MAX];
    assert_int_equal(os_descriptor_account(fp, 44, 1, 0, OS_SCRIPT_P2PKH, xpub, 0, out, sizeof out), OS_OK);
    size_t len = strlen(out);
    assert_true(len > 9 && out[len - 9] == '#');
    memcpy(plain, out, len - 9);
    plain[len - 9] = '\0';
    assert_string_equal(plain, "pkh([73c5da0a/44h/1h/0h]tpubDC8msFGeGuwnKG9Upg7DM2b4DaRqg3CUZa5g8v2SRQ6K4NSkxUgd7HsL2XVW"
                               "bVm39yBA4LAxysQAm397zwQSQoQgewGiYZqrA9DsP4zbQ1M/0/*)");
    assert_int_equal(os_descriptor_add_checksum(plain, again, sizeof again), OS_OK);
    assert_string_equal(again, out);
    assert_int_equal(os_descriptor_account(fp, 49, 22, 3, OS_SCRIPT_P2SH_P2WPKH, xpub, 1, out, sizeof out), OS_OK);
    assert_int_equal(strncmp(out, "sh(wpkh([73c5da0a/49h/22h/3h]tpub", 33), 0);
    assert_non_null(strstr(out, "/1/*))#"));
    assert_int_equal(os_descriptor_account(fp, 84, 22, 0, OS_SCRIPT_P2WPKH, xpub, 0, out, sizeof out), OS_OK);
    assert_int_equal(strncmp(out, "wpkh([73c5da0a/84h/22h/0h]", 26), 0);
    assert_int_equal(os_descriptor_account(fp, 44, 1, 0, 7, xpub, 0, out, sizeof out), OS_ERR_ARG);
    assert_int_equal(os_descriptor_account(fp, 44, 1, 0, OS_SCRIPT_P2PKH, "", 0, out, sizeof out), OS_ERR_ARG);
    assert_int_equal(os_descriptor_account(fp, 44, 1, 0, OS_SCRIPT_P2PKH, xpub, 2, out, sizeof out), OS_ERR_ARG);
    assert_int_equal(os_descriptor_account(fp, 44, 1, 0, OS_SCRIPT_P2PKH, xpub, 0, out, 40), OS_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_vector),
        cmocka_unit_test(test_account_descriptors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
