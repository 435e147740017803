/* oncesign tests — small helpers every unit test would otherwise write again. */
#ifndef ONCESIGN_TEST_UTIL_H
#define ONCESIGN_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Decodes a hex string into out (cap bytes); fails the running cmocka test on odd length, bad
 * digits or overflow. Returns the number of bytes written. */
size_t test_unhex(const char *hex, uint8_t *out, size_t cap);

/* cmocka group setup: crypto_init with a fixed randomisation seed (tests stay reproducible). */
int test_crypto_setup(void **state);

#endif /* ONCESIGN_TEST_UTIL_H */
