/* oncesign host — the operating system's random source, the one way host code gets random bytes
 * (nonces, secrets, API keys, BIP340 auxiliary randomness). */
#ifndef ONCESIGN_HOST_RANDOM_H
#define ONCESIGN_HOST_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with len bytes from getrandom(2) (the kernel's CSPRNG, blocking until it is seeded),
 * retrying short reads and EINTR.
 * Returns: OS_OK; OS_ERR_ARG (buf NULL with len > 0); OS_ERR_IO (getrandom failed).
 * Out:     buf: len bytes. */
int os_random_bytes(uint8_t *buf, size_t len);

#endif /* ONCESIGN_HOST_RANDOM_H */
