/* oncesign CLI — reaching the signer through a running oncesignd (docs/OPERATING.md "The signer while
 * oncesignd runs", docs/DESIGN.md §4b). The daemon holds the signer; the commands that need it find
 * the daemon by its lock next to the ledger (host/lib/daemon_lock.h) and ask its admin socket, whose
 * answers are the same library calls' results (host/lib/device_ops.h) the CLI renders as if it had
 * made them itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli_cmds.h"
#include "daemon_lock.h"
#include "http_body.h"
#include "oncesign/status.h"

int cli_daemon_find(const cli_globals *g, const char *db_path, cli_daemon *d) {
    memset(d, 0, sizeof *d);
    char device[sizeof d->admin_path];
    if (os_daemon_lock_probe(db_path, &d->pid, d->admin_path, device, sizeof device) != OS_OK) return 0;
    /* a daemon on this ledger with another signer does not hold the one this command names */
    return g->device == NULL || g->device[0] == '\0' || device[0] == '\0' || strcmp(device, g->device) == 0;
}

int cli_daemon_busy(const cli_globals *g, const cli_daemon *d, const char *why) {
    return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_HELD_BY_DAEMON, "busy: held by oncesignd (pid %ld): %s", d->pid, why);
}

int cli_daemon_call(const cli_globals *g, const cli_daemon *d, const char *method, const char *path,
                    const char *body, long timeout_ms, long *http, json_t **out) {
    *out = NULL;
    *http = 0;
    if (d->admin_path[0] == '\0') return cli_daemon_busy(g, d, "it names no admin socket (is it starting?); retry");
    CURL *h = curl_easy_init();
    if (h == NULL) return cli_daemon_busy(g, d, "cannot start an HTTP client");
    char url[256];
    snprintf(url, sizeof url, "http://oncesignd%s", path);
    os_http_body s = { 0 };
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, d->admin_path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, os_http_body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    if (timeout_ms > 0) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    if (strcmp(method, "GET") == 0) curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, http);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (cc != CURLE_OK) {
        os_http_body_free(&s);
        char why[4400];
        snprintf(why, sizeof why, "its admin socket %s does not answer (%s); retry, or stop it to use the signer"
                                  " directly", d->admin_path, curl_easy_strerror(cc));
        return cli_daemon_busy(g, d, why);
    }
    json_error_t e;
    *out = s.data != NULL ? json_loads(s.data, 0, &e) : NULL;
    os_http_body_free(&s);
    if (*out == NULL) return cli_daemon_busy(g, d, "its admin socket answered something that is not JSON");
    return CLI_EXIT_OK;
}

int cli_daemon_error(const cli_globals *g, const cli_daemon *d, long http, const json_t *answer) {
    const json_t *err = json_object_get(answer, "error");
    const char *name = json_string_value(json_object_get(err, "code"));
    const char *message = json_string_value(json_object_get(err, "message"));
    const json_t *device = json_object_get(err, "device");
    if (message == NULL) message = "no message";
    if (device != NULL) {
        os_device_failure why;
        if (os_device_failure_from_json(device, &why) == OS_OK && why.refused) {
            return cli_fail(g, CLI_EXIT_REFUSED, why.code, "refused by the device (through oncesignd pid %ld): %s",
                            d->pid, why.text);
        }
    }
    if (http == 503 && name != NULL && strcmp(name, "busy") == 0)
        return cli_daemon_busy(g, d, message);
    if (http == 403 || http == 404 || http == 405) {
        char why[600];
        snprintf(why, sizeof why, "it does not carry this request (HTTP %ld %s: %s); stop it to use the signer"
                                  " directly", http, name != NULL ? name : "?", message);
        return cli_daemon_busy(g, d, why);
    }
    return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_HELD_BY_DAEMON, "oncesignd (pid %ld): HTTP %ld %s: %s", d->pid, http,
                    name != NULL ? name : "?", message);
}
