/* oncesign — mbedtls 2.28 configuration for the firmware (Cortex-M4) build.
 *
 * Selected with -DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"' when the Makefile compiles Debian's mbedtls
 * source for ARM (build/arm/libmbedcrypto.a) and the core for ARM; the host-native build uses
 * Debian's installed libmbedcrypto and its default configuration instead.
 *
 * Only what the signer core uses: SHA-256, SHA-512, RIPEMD-160, the MD layer (HMAC), PKCS#5
 * (PBKDF2-HMAC-SHA512 for BIP39), HMAC_DRBG and mbedtls_platform_zeroize. No file system, sockets,
 * time, entropy polling or threading: the board seam (boards/board.h) is the only way out.
 *
 * Memory: the MD layer (and so HMAC, PBKDF2 and HMAC_DRBG) allocates its hash and HMAC contexts
 * with mbedtls_calloc. Here that is NOT libc's calloc (MBEDTLS_PLATFORM_NO_STD_FUNCTIONS): until the
 * firmware installs an allocator, mbedtls_calloc returns NULL and mbedtls_md_setup fails with
 * MBEDTLS_ERR_MD_ALLOC_FAILED (fail closed). The firmware installs a fixed static pool with
 *     mbedtls_memory_buffer_alloc_init(pool, sizeof pool);
 * under `#if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)` (the host's Debian build has no such call and
 * uses libc's calloc). The pool is bounded and static, so no malloc/free/_sbrk reaches the image.
 */
#ifndef ONCESIGN_MBEDTLS_CONFIG_H
#define ONCESIGN_MBEDTLS_CONFIG_H

/* ---- system support ---- */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
#define MBEDTLS_DEPRECATED_REMOVED
/* The buffer allocator calls mbedtls_exit() when it finds its pool corrupted (a free of a block it
 * never handed out): there is no process to exit, and the signer must not go on, so it halts. */
#define MBEDTLS_PLATFORM_EXIT_MACRO(status) do { (void)(status); for (;;) { } } while (0)

/* ---- hashes: smaller, slower loops suit a microcontroller's flash ---- */
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_SHA512_C
#define MBEDTLS_SHA512_SMALLER
#define MBEDTLS_SHA512_NO_SHA384
#define MBEDTLS_RIPEMD160_C

/* ---- MD (HMAC), PBKDF2, deterministic random bit generator ---- */
#define MBEDTLS_MD_C
#define MBEDTLS_PKCS5_C
#define MBEDTLS_HMAC_DRBG_C

/* Explicitly not wanted (documented here so nobody turns them on by accident):
 * MBEDTLS_FS_IO, MBEDTLS_NET_C, MBEDTLS_TIMING_C, MBEDTLS_HAVE_TIME, MBEDTLS_HAVE_TIME_DATE,
 * MBEDTLS_ENTROPY_C (the board's random source feeds HMAC_DRBG), MBEDTLS_THREADING_C,
 * MBEDTLS_SELF_TEST (needs printf), MBEDTLS_ERROR_C. */

#include "mbedtls/check_config.h"

#endif /* ONCESIGN_MBEDTLS_CONFIG_H */
