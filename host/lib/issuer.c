/* oncesign host — issuer keys and voucher signing. See issuer.h. */
#include "issuer.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "psbt.h"
#include "random.h"
#include "rpc.h"
#include "voucher.h"

int os_issuer_key_create(const char *path, uint8_t xonly32[32]) {
    uint8_t priv[32];
    char line[66];
    int rc;
    if (path == NULL || xonly32 == NULL) return OS_ERR_ARG;
    if ((rc = psbt_crypto_ready()) != OS_OK) return rc;
    do {
        if ((rc = os_random_bytes(priv, sizeof priv)) != OS_OK) return rc;
    } while (!crypto_seckey_valid(priv));
    rc = crypto_xonly_from_priv(priv, xonly32);
    if (rc == OS_OK) {
        os_hex_encode(priv, 32, line);
        line[64] = '\n';
        line[65] = 0;
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = OS_ERR_VOUCHER_KEY;
        } else {
            if (write(fd, line, 65) != 65 || fsync(fd) != 0) rc = OS_ERR_VOUCHER_KEY;
            if (close(fd) != 0) rc = OS_ERR_VOUCHER_KEY;
            if (rc != OS_OK) unlink(path);
        }
    }
    crypto_wipe(priv, sizeof priv);
    crypto_wipe(line, sizeof line);
    return rc;
}

int os_issuer_key_load(const char *path, uint8_t priv32[32], uint8_t xonly32[32]) {
    char text[80];
    struct stat st;
    size_t len = 0;
    int rc = OS_ERR_VOUCHER_KEY;
    if (path == NULL || priv32 == NULL) return OS_ERR_ARG;
    if ((rc = psbt_crypto_ready()) != OS_OK) return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return OS_ERR_VOUCHER_KEY;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & (S_IRWXG | S_IRWXO)) == 0)
        n = read(fd, text, sizeof text - 1);
    close(fd);
    rc = OS_ERR_VOUCHER_KEY;
    if (n == 64 || (n == 65 && text[64] == '\n')) {
        text[64] = 0;
        if (os_hex_decode(text, priv32, 32, &len) == OS_OK && len == 32 && crypto_seckey_valid(priv32)) rc = OS_OK;
    }
    if (rc == OS_OK && xonly32 != NULL) rc = crypto_xonly_from_priv(priv32, xonly32);
    if (rc != OS_OK) crypto_wipe(priv32, 32);
    crypto_wipe(text, sizeof text);
    return rc;
}

int os_voucher_sign(os_voucher *v, const uint8_t priv32[32]) {
    crypto_schnorr_key key;
    uint8_t id[32], aux[32];
    int rc;
    if (v == NULL || priv32 == NULL) return OS_ERR_ARG;
    if ((rc = psbt_crypto_ready()) != OS_OK) return rc;
    if ((rc = crypto_xonly_from_priv(priv32, v->issuer)) != OS_OK) return rc;
    if ((rc = os_voucher_id(v, id)) != OS_OK) return rc;
    if ((rc = os_random_bytes(aux, sizeof aux)) != OS_OK) return rc;
    if ((rc = crypto_schnorr_key_load(priv32, &key)) != OS_OK) return rc;
    rc = crypto_schnorr_sign(&key, id, aux, v->sig);
    crypto_schnorr_key_wipe(&key);
    return rc;
}

int os_approval_sign(os_approval *a, const uint8_t tx_digest[32], uint64_t expiry_seq, const uint8_t signer[32],
                     const uint8_t priv32[32]) {
    crypto_schnorr_key key;
    uint8_t msg[32], aux[32];
    int rc;
    if (a == NULL || tx_digest == NULL || signer == NULL || priv32 == NULL || expiry_seq == 0) return OS_ERR_ARG;
    if ((rc = psbt_crypto_ready()) != OS_OK) return rc;
    memset(a, 0, sizeof *a);
    if ((rc = crypto_xonly_from_priv(priv32, a->operator_key)) != OS_OK) return rc;
    a->expiry_seq = expiry_seq;
    if ((rc = os_approval_hash(tx_digest, expiry_seq, signer, msg)) != OS_OK) return rc;
    if ((rc = os_random_bytes(aux, sizeof aux)) != OS_OK) return rc;
    if ((rc = crypto_schnorr_key_load(priv32, &key)) != OS_OK) return rc;
    rc = crypto_schnorr_sign(&key, msg, aux, a->sig);
    crypto_schnorr_key_wipe(&key);
    return rc;
}

int os_voucher_check(const os_voucher *v, const uint8_t issuer32[32]) {
    uint8_t id[32];
    int rc;
    if (v == NULL) return OS_ERR_ARG;
    if ((rc = psbt_crypto_ready()) != OS_OK) return rc;
    if ((rc = os_voucher_id(v, id)) != OS_OK) return rc;
    if (issuer32 != NULL && memcmp(issuer32, v->issuer, 32) != 0) return OS_ERR_VOUCHER_ISSUER;
    return crypto_schnorr_verify(v->issuer, id, v->sig) == OS_OK ? OS_OK : OS_ERR_VOUCHER_ISSUER;
}

int os_voucher_from_hex(const char *hex, os_voucher *v) {
    uint8_t buf[OS_VOUCHER_BYTES];
    size_t len = 0;
    if (hex == NULL || v == NULL) return OS_ERR_ARG;
    if (strlen(hex) != 2 * OS_VOUCHER_BYTES || os_hex_decode(hex, buf, sizeof buf, &len) != OS_OK ||
        len != OS_VOUCHER_BYTES)
        return OS_ERR_BAD_REQUEST;
    return os_voucher_decode(buf, v);
}

int os_voucher_to_hex(const os_voucher *v, char out[2 * OS_VOUCHER_BYTES + 1]) {
    uint8_t buf[OS_VOUCHER_BYTES];
    if (v == NULL || out == NULL) return OS_ERR_ARG;
    int rc = os_voucher_encode(v, buf);
    if (rc != OS_OK) return rc;
    os_hex_encode(buf, sizeof buf, out);
    return OS_OK;
}

void os_key_fingerprint(const uint8_t key32[32], char out[17]) { os_hex_encode(key32, 8, out); }
