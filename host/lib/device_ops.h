/* oncesign host — the operator's read and show operations on the signer (`oncesign device info`,
 * `device address`, `log export`), one implementation for both ways of reaching it: the CLI holding
 * the signer itself, and oncesignd lending its signer to the same call on its admin socket while
 * the CLI renders what the daemon answers (docs/DESIGN.md §4b, docs/OPERATING.md "The signer while
 * oncesignd runs"). The JSON forms below are the admin socket's wire format; encoder and decoder
 * sit side by side so the two ends cannot drift apart.
 */
#ifndef ONCESIGN_HOST_DEVICE_OPS_H
#define ONCESIGN_HOST_DEVICE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "client.h"
#include "engine.h"
#include "oncesign/protocol.h"

/* How a device operation failed, for the operator: refused by the device (exit 3 in the CLI), or
 * the link or the client failed (exit 2). */
typedef struct {
    int refused;            /* 1: the device answered ERROR (code, index) */
    int code;               /* the device's refusal code, or the client's os_status */
    uint16_t index;         /* the refusal's input/output index, 0xFFFF when none */
    char text[768];         /* one line: os_client_error_text, or the client's last error */
} os_device_failure;

/* GET_INFO.
 * Returns: OS_OK (*info set); OS_ERR_DEVICE_REFUSED when the device refused (why filled); the client's
 *          status otherwise (why filled).
 * In:      c: an open client. timeout_ms > 0.
 * Out:     info, why (both not NULL). */
int os_device_info(os_client *c, int timeout_ms, os_msg_info *info, os_device_failure *why);

/* What `device address` asks for. have_script_type 0: the device's own script type. */
typedef struct {
    int have_script_type;
    uint8_t script_type, change, show;
    uint32_t account, index;
} os_device_address_req;

typedef struct {
    char address[OS_MAX_ADDRESS + 1];
    uint8_t network, script_type;
} os_device_address_out;

/* GET_INFO (the network, the default script type; an uninitialised device is refused with
 * OS_ERR_NOT_INITIALIZED), then GET_ADDRESS; with show the device displays the address and waits
 * for the operator's button (on_wait is called once when it starts waiting).
 * Returns: as os_device_info.
 * In:      c, q (not NULL); on_wait, ctx may be NULL. */
int os_device_address(os_client *c, int timeout_ms, const os_device_address_req *q, void (*on_wait)(void *ctx),
                      void *ctx, os_device_address_out *out, os_device_failure *why);

/* The admin socket's JSON for the results above and for os_engine_status (engine.h). Encoders
 * return a new reference (NULL when out of memory); decoders return OS_OK, or OS_ERR_MSG_MALFORMED
 * when a field is missing or of the wrong type. */
json_t *os_device_info_json(const os_msg_info *info);
int os_device_info_from_json(const json_t *o, os_msg_info *info);
json_t *os_device_address_json(const os_device_address_out *a);
int os_device_address_from_json(const json_t *o, os_device_address_out *a);
json_t *os_device_failure_json(const os_device_failure *why);
int os_device_failure_from_json(const json_t *o, os_device_failure *why);
json_t *os_engine_status_json(const os_engine_status *st);
int os_engine_status_from_json(const json_t *o, os_engine_status *st);

#endif /* ONCESIGN_HOST_DEVICE_OPS_H */
