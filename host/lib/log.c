/* oncesign host — the event log (contract in log.h). */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oncesign/check.h"
#include "oncesign/status.h"

#define LOG_LINE_MAX 4096

static os_log_format g_format = OS_LOG_FORMAT_AUTO;
static os_log_level g_min = OS_LOG_INFO;
static int g_fd = 2;

int os_log_configure(os_log_format format, os_log_level min_level, int fd) {
    ARG_CHECK(format >= OS_LOG_FORMAT_AUTO && format <= OS_LOG_FORMAT_JSON);
    ARG_CHECK(min_level >= OS_LOG_ERROR && min_level <= OS_LOG_DEBUG && fd >= 0);
    g_format = format;
    g_min = min_level;
    g_fd = fd;
    return OS_OK;
}

int os_log_format_parse(const char *name, os_log_format *out) {
    ARG_CHECK(name != NULL && out != NULL);
    static const struct { const char *name; os_log_format f; } names[] = {
        { "auto", OS_LOG_FORMAT_AUTO }, { "text", OS_LOG_FORMAT_TEXT },
        { "journal", OS_LOG_FORMAT_JOURNAL }, { "json", OS_LOG_FORMAT_JSON },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].f;
            return OS_OK;
        }
    }
    return OS_ERR_ARG;
}

static const char *level_name(os_log_level l) {
    switch (l) {
    case OS_LOG_ERROR: return "error";
    case OS_LOG_WARNING: return "warning";
    case OS_LOG_NOTICE: return "notice";
    case OS_LOG_INFO: return "info";
    default: return "debug";
    }
}

typedef struct {
    char buf[LOG_LINE_MAX];
    size_t len;
    int cut;
} line;

static void put(line *l, const char *s, size_t n) {
    if (l->len + n > sizeof l->buf - 8) {       /* room for the ellipsis, quote, brace and newline */
        n = l->len < sizeof l->buf - 8 ? sizeof l->buf - 8 - l->len : 0;
        l->cut = 1;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(line *l, const char *s) { put(l, s, strlen(s)); }

/* The line's end ("...", closing quote and brace, newline: at most 7 bytes) goes into the 8 bytes
 * put() keeps spare, so even a cut line ends properly. */
static void put_tail(line *l, const char *s) {
    size_t n = strlen(s);
    if (l->len + n <= sizeof l->buf) {
        memcpy(l->buf + l->len, s, n);
        l->len += n;
    }
}

/* Copies s with control characters (and, in JSON, quotes and backslashes) escaped: a value taken
 * from a request can never end the line or start a forged one. */
static void put_escaped(line *l, const char *s, int json) {
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && !l->cut; p++) {
        char esc[8];
        if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            puts_(l, esc);
        } else if (json && (*p == '"' || *p == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(l, esc, 2);
        } else {
            put(l, (const char *)p, 1);
        }
    }
}

/* A text value with a space or '=' is quoted, so fields split unambiguously. */
static void put_text_value(line *l, const char *s) {
    int quote = s[0] == '\0' || strpbrk(s, " =\"") != NULL;
    if (quote) puts_(l, "\"");
    put_escaped(l, s, quote);
    if (quote) puts_(l, "\"");
}

static void timestamp(char out[32]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

void os_log(os_log_level level, const char *event, const os_log_field *fields, size_t n, const char *msg_fmt, ...) {
    if (level > g_min || event == NULL) return;
    os_log_format format = g_format;
    if (format == OS_LOG_FORMAT_AUTO) format = getenv("JOURNAL_STREAM") != NULL ? OS_LOG_FORMAT_JOURNAL : OS_LOG_FORMAT_TEXT;
    char msg[LOG_LINE_MAX / 2] = "";
    if (msg_fmt != NULL) {
        va_list ap;
        va_start(ap, msg_fmt);
        vsnprintf(msg, sizeof msg, msg_fmt, ap);
        va_end(ap);
    }
    char ts[32], num[32];
    timestamp(ts);
    static line l;      /* too big for small thread stacks; guarded by the lock */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    l.len = 0;
    l.cut = 0;
    if (format == OS_LOG_FORMAT_JSON) {
        puts_(&l, "{\"ts\":\"");
        puts_(&l, ts);
        puts_(&l, "\",\"level\":\"");
        puts_(&l, level_name(level));
        puts_(&l, "\",\"event\":\"");
        put_escaped(&l, event, 1);
        puts_(&l, "\"");
        for (size_t i = 0; i < n && fields != NULL; i++) {
            puts_(&l, ",\"");
            put_escaped(&l, fields[i].key, 1);
            puts_(&l, "\":");
            if (fields[i].str != NULL) {
                puts_(&l, "\"");
                put_escaped(&l, fields[i].str, 1);
                puts_(&l, "\"");
            } else {
                snprintf(num, sizeof num, "%lld", (long long)fields[i].num);
                puts_(&l, num);
            }
        }
        puts_(&l, ",\"msg\":\"");
        put_escaped(&l, msg, 1);
        put_tail(&l, l.cut ? "...\"}\n" : "\"}\n");
    } else {
        if (format == OS_LOG_FORMAT_JOURNAL) {
            snprintf(num, sizeof num, "<%d>", (int)level);
            puts_(&l, num);
        } else {
            puts_(&l, ts);
            puts_(&l, " ");
        }
        puts_(&l, level_name(level));
        puts_(&l, " ");
        put_escaped(&l, event, 0);
        for (size_t i = 0; i < n && fields != NULL; i++) {
            puts_(&l, " ");
            put_escaped(&l, fields[i].key, 0);
            puts_(&l, "=");
            if (fields[i].str != NULL) {
                put_text_value(&l, fields[i].str);
            } else {
                snprintf(num, sizeof num, "%lld", (long long)fields[i].num);
                puts_(&l, num);
            }
        }
        if (msg[0] != '\0') {
            puts_(&l, ": ");
            put_escaped(&l, msg, 0);
        }
        put_tail(&l, l.cut ? "...\n" : "\n");
    }
    ssize_t w = write(g_fd, l.buf, l.len);
    (void)w;
    pthread_mutex_unlock(&lock);
}
