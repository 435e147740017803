/* oncesign host — an HTTP response body as libcurl hands it over, grown on the heap: the one body sink
 * of the JSON-RPC client, the CLI's admin-socket calls and the tests' API clients. */
#ifndef ONCESIGN_HOST_HTTP_BODY_H
#define ONCESIGN_HOST_HTTP_BODY_H

#include <stddef.h>

typedef struct {
    char *data;         /* NUL-terminated once anything arrived; NULL before (heap: os_http_body_free) */
    size_t len, cap;
    size_t max;         /* the most bytes kept, 0: no limit; set by the caller */
    int overflow;       /* the body went past max: the transfer was aborted */
} os_http_body;

/* CURLOPT_WRITEFUNCTION, with the os_http_body as CURLOPT_WRITEDATA: appends size * nmemb bytes.
 * Returns: the bytes taken; 0 (libcurl aborts with CURLE_WRITE_ERROR) when memory runs out or the
 *          body would pass max (overflow set). */
size_t os_http_body_write(char *ptr, size_t size, size_t nmemb, void *body);

/* Empties body for the next transfer, keeping its buffer and max. */
void os_http_body_reset(os_http_body *body);

/* Frees the buffer and zeroes body but for max. */
void os_http_body_free(os_http_body *body);

#endif /* ONCESIGN_HOST_HTTP_BODY_H */
