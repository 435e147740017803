/* Unit tests of how the CLI finds and trusts a running oncesignd (docs/DESIGN.md §4b):
 * - host/lib/daemon_lock.c: a held lock is found with the daemon's pid, admin socket and device; a
 *   second daemon on the ledger is refused; a file left by a killed daemon (not locked) counts as no
 *   daemon; release removes the file.
 * - host/lib/device_ops.c's admin-socket JSON: what the daemon encodes decodes to the same values,
 *   and an answer with a field missing, of the wrong type, out of range or with bad hex is refused
 *   (the CLI prints nothing a hostile or broken daemon made up). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "daemon_lock.h"
#include "device_ops.h"
#include "oncesign/status.h"

static char dir[64], db[96];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/oncesign-devops-XXXXXX");
    if (mkdtemp(dir) == NULL) return -1;
    snprintf(db, sizeof db, "%s/ledger.db", dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char p[160];
    snprintf(p, sizeof p, "%s.oncesignd", db);
    unlink(p);
    rmdir(dir);
    return 0;
}

static void test_lock_found_refused_released(void **state) {
    (void)state;
    long pid = -1;
    char admin[256], device[256], err[256] = "";
    assert_int_equal(os_daemon_lock_probe(db, &pid, admin, device, sizeof admin), OS_ERR_NOT_FOUND);
    os_daemon_lock lock, second;
    assert_int_equal(os_daemon_lock_acquire(db, "/tmp/x.admin.sock", "sim:/tmp/x.sock", &lock, err, sizeof err), OS_OK);
    assert_int_equal(os_daemon_lock_probe(db, &pid, admin, device, sizeof admin), OS_OK);
    assert_int_equal(pid, (long)getpid());
    assert_string_equal(admin, "/tmp/x.admin.sock");
    assert_string_equal(device, "sim:/tmp/x.sock");
    /* a second daemon on the same ledger */
    assert_int_equal(os_daemon_lock_acquire(db, "/tmp/y.admin.sock", "hid", &second, err, sizeof err), OS_ERR_BUSY);
    char expect[64];
    snprintf(expect, sizeof expect, "(pid %ld)", (long)getpid());
    assert_non_null(strstr(err, expect));
    assert_int_equal(os_daemon_lock_probe(db, &pid, admin, device, sizeof admin), OS_OK);
    assert_string_equal(admin, "/tmp/x.admin.sock");   /* the refused one wrote nothing */
    os_daemon_lock_release(&lock);
    assert_int_equal(os_daemon_lock_probe(db, &pid, admin, device, sizeof admin), OS_ERR_NOT_FOUND);
    char path[160];
    snprintf(path, sizeof path, "%s.oncesignd", db);
    assert_int_not_equal(access(path, F_OK), 0);
    os_daemon_lock_release(&lock);   /* twice: ignored */
}

static void test_stale_file_is_no_daemon(void **state) {
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "%s.oncesignd", db);
    /* what a daemon killed by SIGKILL leaves: the file, naming a pid, with no lock on it */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    const char text[] = "pid 1\nadmin /tmp/stale.admin.sock\ndevice hid\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    long pid = -1;
    char admin[256], device[256], err[256] = "";
    assert_int_equal(os_daemon_lock_probe(db, &pid, admin, device, sizeof admin), OS_ERR_NOT_FOUND);
    /* the next daemon takes it over and rewrites it */
    os_daemon_lock lock;
    assert_int_equal(os_daemon_lock_acquire(db, "/tmp/z.admin.sock", "hid", &lock, err, sizeof err), OS_OK);
    assert_int_equal(os_daemon_lock_probe(db, &pid, admin, device, sizeof admin), OS_OK);
    assert_int_equal(pid, (long)getpid());
    assert_string_equal(admin, "/tmp/z.admin.sock");
    os_daemon_lock_release(&lock);
}

static os_msg_info sample_info(void) {
    os_msg_info i;
    memset(&i, 0, sizeof i);
    i.protocol_version = 3;
    memcpy(i.firmware_version, "0.1.0-test", 10);
    i.initialized = 1;
    i.network = OS_NET_REGTEST;
    i.script_type = OS_SCRIPT_P2PKH;
    for (int k = 0; k < 32; k++) {
        i.nonce_root[k] = (uint8_t)k;
        i.log_head[k] = (uint8_t)(0xF0 ^ k);
        i.attestation_pubkey[k] = (uint8_t)(3 * k);
    }
    i.log_seq = 1234567890123ull;
    i.log_acked_seq = 99;
    i.log_capacity = 512;
    i.policy = (os_policy){ 1000000000ull, 10000000000ull, 86400u, 1000000ull, 100000ull, 100000000ull };
    i.state_seq = 77;
    return i;
}

static void test_info_round_trip_and_hostile(void **state) {
    (void)state;
    os_msg_info in = sample_info(), out;
    json_t *o = os_device_info_json(&in);
    assert_non_null(o);
    assert_int_equal(os_device_info_from_json(o, &out), OS_OK);
    assert_memory_equal(&in, &out, sizeof in);
    /* each field broken in turn: refused */
    static const char *const fields[] = { "protocol_version", "firmware_version", "initialized", "network",
                                          "script_type", "test_only_rng", "nonce_root", "log_seq", "log_head",
                                          "log_acked_seq", "log_capacity", "attestation_pubkey", "policy", "state_seq" };
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        json_t *broken = json_deep_copy(o);
        json_object_del(broken, fields[k]);
        assert_int_equal(os_device_info_from_json(broken, &out), OS_ERR_MSG_MALFORMED);
        json_object_set_new(broken, fields[k], k == 1 ? json_integer(5) : json_string("zz"));
        assert_int_equal(os_device_info_from_json(broken, &out), OS_ERR_MSG_MALFORMED);
        json_decref(broken);
    }
    json_t *broken = json_deep_copy(o);
    json_object_set_new(broken, "log_head", json_string("00"));                     /* too short */
    assert_int_equal(os_device_info_from_json(broken, &out), OS_ERR_MSG_MALFORMED);
    json_object_set_new(broken, "log_head", json_string(
        "g000000000000000000000000000000000000000000000000000000000000000"));      /* not hex */
    assert_int_equal(os_device_info_from_json(broken, &out), OS_ERR_MSG_MALFORMED);
    json_decref(broken);
    broken = json_deep_copy(o);
    json_object_set_new(broken, "network", json_integer(256));                       /* out of a byte */
    assert_int_equal(os_device_info_from_json(broken, &out), OS_ERR_MSG_MALFORMED);
    json_object_set_new(broken, "network", json_integer(-1));
    assert_int_equal(os_device_info_from_json(broken, &out), OS_ERR_MSG_MALFORMED);
    json_decref(broken);
    broken = json_deep_copy(o);
    json_object_del(json_object_get(broken, "policy"), "fee_budget");
    assert_int_equal(os_device_info_from_json(broken, &out), OS_ERR_MSG_MALFORMED);
    json_decref(broken);
    json_t *not_object = json_array();
    assert_int_equal(os_device_info_from_json(not_object, &out), OS_ERR_MSG_MALFORMED);
    json_decref(not_object);
    json_decref(o);
}

static void test_address_failure_status_round_trip(void **state) {
    (void)state;
    os_device_address_out a = { "mutXcGt1CJdkRvXuN2xoz2quAAQYQ59bRX", OS_NET_REGTEST, OS_SCRIPT_P2PKH }, a2;
    json_t *o = os_device_address_json(&a);
    assert_int_equal(os_device_address_from_json(o, &a2), OS_OK);
    assert_string_equal(a2.address, a.address);
    assert_int_equal(a2.network, a.network);
    char too_long[OS_MAX_ADDRESS + 2];
    memset(too_long, 'm', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    json_object_set_new(o, "address", json_string(too_long));
    assert_int_equal(os_device_address_from_json(o, &a2), OS_ERR_MSG_MALFORMED);
    json_decref(o);

    os_device_failure f = { 1, OS_ERR_NOT_INITIALIZED, 0xFFFF, "the device is not initialised [not-initialized]" }, f2;
    o = os_device_failure_json(&f);
    assert_int_equal(os_device_failure_from_json(o, &f2), OS_OK);
    assert_int_equal(f2.refused, 1);
    assert_int_equal(f2.code, OS_ERR_NOT_INITIALIZED);
    assert_int_equal(f2.index, 0xFFFF);
    assert_string_equal(f2.text, f.text);
    json_object_set_new(o, "refused", json_integer(1));   /* a boolean, nothing else */
    assert_int_equal(os_device_failure_from_json(o, &f2), OS_ERR_MSG_MALFORMED);
    json_decref(o);

    os_engine_status st, st2;
    memset(&st, 0, sizeof st);
    for (int s = OS_PAYOUT_REQUESTED; s <= OS_PAYOUT_STATUS_LAST; s++) st.counts[s] = (uint64_t)(10 * s);
    st.payouts_pending = 7;
    st.payouts_confirmed = 60;
    st.ledger_ok = 1;
    st.with_signer = 1;
    st.log_seq = 42;
    st.nonce_root[0] = 0xAB;
    st.log_head[31] = 0xCD;
    st.matches_ledger = 0;
    snprintf(st.mismatch, sizeof st.mismatch, "the signer's root is not the ledger's");
    o = os_engine_status_json(&st);
    assert_int_equal(os_engine_status_from_json(o, &st2), OS_OK);
    assert_memory_equal(&st, &st2, sizeof st);
    json_object_del(json_object_get(o, "payouts"), "confirmed");
    assert_int_equal(os_engine_status_from_json(o, &st2), OS_ERR_MSG_MALFORMED);
    json_decref(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_found_refused_released),
        cmocka_unit_test(test_stale_file_is_no_daemon),
        cmocka_unit_test(test_info_round_trip_and_hostile),
        cmocka_unit_test(test_address_failure_status_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
