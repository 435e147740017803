/* libFuzzer target: decode arbitrary bytes as a message and as a nonce proof.
 * Invariants: the decoder returns only the codes its contract names; whenever it accepts, encoding
 * the decoded message reproduces the input byte for byte (the encoding is canonical). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static void require(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t out[OS_MAX_MESSAGE + 4096];
    os_msg msg;
    os_nonce_proof proof;
    size_t len = 0, used = 0;
    int status;

    status = os_msg_decode(data, size, &msg);
    require(status == OS_OK || status == OS_ERR_MSG_VERSION || status == OS_ERR_MSG_TYPE ||
            status == OS_ERR_MSG_MALFORMED || status == OS_ERR_PROOF_TOO_LARGE);
    if (status == OS_OK) {
        require(os_msg_encode(&msg, out, sizeof out, &len) == OS_OK);
        require(len == size && memcmp(out, data, size) == 0);
        /* One byte short of room is refused, never truncated. */
        require(os_msg_encode(&msg, out, size - 1, &len) == OS_ERR_BUFFER);
    }

    status = os_nonce_proof_decode(data, size, &proof, &used);
    require(status == OS_OK || status == OS_ERR_MSG_MALFORMED || status == OS_ERR_PROOF_TOO_LARGE);
    if (status == OS_OK) {
        require(used <= size && proof.n_siblings <= NONCE_PROOF_MAX_SIBLINGS);
        require(os_nonce_proof_encode(&proof, out, sizeof out, &len) == OS_OK);
        require(len == used && memcmp(out, data, used) == 0);
    }
    return 0;
}
