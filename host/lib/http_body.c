/* oncesign host — HTTP response body sink (http_body.h). */
#include "http_body.h"

#include <stdlib.h>
#include <string.h>

size_t os_http_body_write(char *ptr, size_t size, size_t nmemb, void *body) {
    os_http_body *b = body;
    size_t n = size * nmemb;
    if (b->max && b->len + n > b->max) {
        b->overflow = 1;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

void os_http_body_reset(os_http_body *body) {
    body->len = 0;
    body->overflow = 0;
    if (body->data) body->data[0] = '\0';
}

void os_http_body_free(os_http_body *body) {
    size_t max = body->max;
    free(body->data);
    memset(body, 0, sizeof *body);
    body->max = max;
}
