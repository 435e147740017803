/* oncesign host — what the transport backends (transport.c, transport_hid.c, transport_serial.c)
 * share: the monotonic clock, waiting for input, Unix socket connects, filling in an opened transport,
 * and freeing one. Not a public contract. */
#ifndef ONCESIGN_HOST_TRANSPORT_INTERNAL_H
#define ONCESIGN_HOST_TRANSPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "errtext.h"
#include "transport.h"

/* Milliseconds of CLOCK_MONOTONIC: receive deadlines. */
int64_t os_transport_now_ms(void);

/* Waits until fd has input or deadline_ms (os_transport_now_ms) passes.
 * Returns: 1 input is there; 0 not yet (the deadline passed, or a signal interrupted: the caller
 *          checks its deadline); OS_ERR_IO poll failed. */
int os_transport_wait_readable(int fd, int64_t deadline_ms);

/* Connects a Unix socket of the given type (SOCK_SEQPACKET, SOCK_STREAM, with flags) to path.
 * Returns: OS_OK; OS_ERR_ARG (path too long for sockaddr_un); OS_ERR_IO (errmsg: "connect(PATH): why
 *          (hint)").
 * In:      scheme: the spec's prefix for messages ("sim", "serial"); hint: what should listen there.
 * Out:     *fd: the connected socket (close-on-exec), -1 on failure (nothing left open). */
int os_transport_unix_connect(const char *path, int type, const char *scheme, const char *hint, int *fd,
                              char *errmsg, size_t cap);

/* Closes a backend's descriptor (unless -1) and frees the backend t (allocated with its os_transport
 * first): what a file-descriptor backend's close does. */
void os_transport_free_fd(os_transport *t, int fd);

/* Completes an opened backend: its three functions, its description (printf format), *out = t.
 * Returns: OS_OK. */
int os_transport_ready(os_transport *t, os_transport **out, int (*send)(os_transport *, const uint8_t *),
                       int (*recv)(os_transport *, uint8_t *, int), void (*close_fn)(os_transport *), const char *fmt,
                       ...) __attribute__((format(printf, 6, 7)));

#endif /* ONCESIGN_HOST_TRANSPORT_INTERNAL_H */
