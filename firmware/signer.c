/* oncesign — the signer core: channel handling, message dispatch, the signing session and the
 * operator's decisions.
 *
 * The signing flow, as a state machine (every arrow not drawn is a refusal that ends the session
 * with ERROR and leaves the durable state untouched, except where "logged" says otherwise):
 *
 *   IDLE --SIGN_BEGIN(version, locktime, n_in, n_out, n_anchored)--> INPUTS
 *   INPUTS: for i = 0 .. n_in-1
 *       SIGN_INPUT i (prevout, sequence, path,     derive the key, remember the expected script,
 *                     anchor proof)                feed the sighash contexts; the anchor proof
 *                                                  says whether prevout anchors committed payouts
 *                                                  (their count) or not; input 0 with n_anchored > 0
 *                                                  and no entry: insert (prevout, n_anchored)
 *       SIGN_PREVTX i (contiguous chunks)          stream the previous tx: recompute its txid,
 *                                                  take amount + script of prevout.vout from it,
 *                                                  script must be the derived key's (else refuse)
 *   OUTPUTS: for o = 0 .. n_out-1
 *       SIGN_OUTPUT o CHANGE (path)                script derived on the device's change chain
 *       SIGN_OUTPUT o PAYOUT (script, nonce, proof) destination rules, dust, nonce keys strictly
 *                                                  increasing;
 *                                                  NEW:     non-membership proof against the
 *                                                           pending root; insert with anchor =
 *                                                           input 0's prevout
 *                                                  REPLACE: membership proof of (anchor, script,
 *                                                           amount); the tx must spend the anchor,
 *                                                           else refuse NONCE_COMMITTED (logged)
 *   FINISH: n_new + n_reanchored must be n_anchored (else TX_ORDER); every input that anchors c
 *           payouts must have exactly c REPLACE outputs anchored at it, and input 0 may anchor new
 *           payouts only if it anchored none (else refuse ANCHOR_SPENT, logged REFUSE_ANCHOR)
 *           fee = inputs - outputs; policy decides
 *       within policy                   --> COMMIT
 *       outside policy                  --> AWAIT_OPERATOR (PENDING; POLL until a button)
 *           approve --> COMMIT          reject --> refuse USER_REJECTED (logged)
 *   COMMIT: SIGN entry + new root + velocity in ONE state record, written and read back (I2)
 *       --> DONE (SIGN_DONE)
 *   DONE: SIGN_GET_SIGS pages; signatures are computed only here, after the commit
 *
 * A new channel (frame INIT), SIGN_BEGIN or CANCEL ends any session. Nothing before COMMIT
 * touches flash, so a host can never obtain a signature whose nonce commitment is not durable.
 */
#include "signer.h"

#include <string.h>

#include "address.h"
#include "audit_log.h"
#include "bytes.h"
#include "bip32.h"
#include "bip39.h"
#include "board.h"
#include "bytes.h"
#include "codec.h"
#include "crypto.h"
#include "frame.h"
#include "nonce_set.h"
#include "oncesign/check.h"
#include "oncesign/protocol.h"
#include "oncesign/version.h"
#include "policy.h"
#include "storage.h"
#include "tx.h"
#include "voucher.h"

/* Host and firmware are released together from one tree, so they carry one version number. */
#define FIRMWARE_VERSION ONCESIGN_VERSION
_Static_assert(sizeof FIRMWARE_VERSION <= sizeof ((os_msg_info *)0)->firmware_version, "the version fits DEVICE_INFO");
#define SIGHASH_ALL 1u
#define POLL_AFTER_MS 200u
#define CHANGE_GAP_LIMIT 20u         /* BIP44's gap limit, beyond the log's count of transactions */

/* ------------------------------------------------------------------ state */

typedef enum {
    PHASE_IDLE = 0,
    PHASE_INPUTS,           /* waiting for SIGN_INPUT next_input */
    PHASE_PREVTX,           /* streaming the previous tx of next_input */
    PHASE_OUTPUTS,
    PHASE_READY,            /* all outputs in: waiting for SIGN_FINISH */
    PHASE_AWAIT_OPERATOR,
    PHASE_DONE,
} sign_phase;

typedef struct {
    os_outpoint prevout;
    uint32_t sequence;
    uint8_t script_type;
    uint32_t account;
    uint8_t change;
    uint32_t addr_index;
    uint64_t amount;            /* from the previous transaction, never from the host */
    uint8_t pubkey[33];
} input_record;

/* Nodes derived from the seed, kept until the seed changes. The seed they come from stays in RAM
 * (g_state) all along, so keeping them exposes nothing more, and it saves the curve
 * multiplications that dominate a payout on the microcontroller (docs/DECISIONS.md). */
typedef struct {
    uint8_t valid, script_type, chain_valid[2];
    uint32_t account;
    bip32_node node;            /* m/purpose'/coin'/account' with its private key */
    bip32_node chain[2];        /* .../0 (receive) and .../1 (change) */
} account_cache;

static struct {
    sign_phase phase;
    uint32_t version, locktime;
    uint16_t n_inputs, n_outputs, next_input, next_output;
    input_record inputs[OS_MAX_INPUTS];
    tx_prev_parser prev;
    uint32_t prev_len, prev_received;
    uint8_t expected_script[25];
    size_t expected_script_len;
    tx_sighasher hasher;
    uint64_t total_in, total_out, total_payout, new_payout_sum, max_payout, fee;
    uint16_t n_new, n_replaced, n_payout_scripts_bytes;
    uint32_t output_script_bytes;
    uint8_t pending_root[32];
    /* Anchors (docs/DESIGN.md §3 "Anchors"): how many committed payouts each input anchors (0: an
     * ordinary coin), and how many of them this transaction replaces. */
    uint16_t n_anchored;        /* SIGN_BEGIN: payouts this transaction anchors at input 0 */
    uint16_t anchor_count[OS_MAX_INPUTS];
    uint16_t anchor_replaced[OS_MAX_INPUTS];
    uint8_t anchor_reused;      /* input 0 is an anchor already, and n_anchored > 0 */
    uint8_t last_key[32];
    uint8_t have_last_key;
    /* Every payout, for the approval screens (the operator sees each one, not a summary). */
    uint16_t n_payouts;
    uint64_t payout_amount[OS_MAX_OUTPUTS];
    uint8_t payout_script[OS_MAX_OUTPUTS][OS_MAX_PAYOUT_SCRIPT];
    uint8_t payout_script_len[OS_MAX_OUTPUTS];
    uint32_t vsize;
    /* A re-anchored payout (at most one per transaction): its nonce, the anchor it had and the
     * payout it is, for the screen and the log. */
    uint8_t n_reanchored;
    uint8_t reanchor_nonce[32];
    os_outpoint reanchor_old;
    uint16_t reanchor_payout;
    uint32_t needs;             /* POLICY_NEEDS_* */
    uint64_t log_seq;           /* the SIGN entry of this session, once committed */
    /* Vouchers (issue 14): the one SIGN_VOUCHER awaiting its output, and the chained hash of the
     * ids of the vouchers the NEW payouts were accepted under, for the VOUCHERS entry. */
    uint8_t have_voucher;
    uint16_t voucher_index;
    os_voucher voucher;
    uint16_t n_vouchers;
    uint8_t vouchers_digest[32];
    /* Operator approvals (issue 14 part 2): the distinct registered operators whose approval of
     * this transaction verified, in arrival order, for the screens and the APPROVALS entry. */
    uint8_t n_approvals;
    uint8_t approvers[OS_MAX_OPERATORS][32];
} g_sess;

typedef enum {
    PENDING_NONE = 0,
    PENDING_INIT_WORDS,         /* showing mnemonic pages; approve advances */
    PENDING_INIT_RESTORE,
    PENDING_ADDRESS,
    PENDING_WIPE,
    PENDING_POLICY,
    PENDING_SIGN,
    PENDING_NONCE_RESET,
    PENDING_ISSUERS,
    PENDING_OPERATORS,
} pending_kind;

static struct {
    pending_kind kind;
    board_button decision;      /* set by a press on the last page (or a reject), consumed by POLL */
    uint16_t page, pages;       /* approve on a page before the last shows the next one */
    uint8_t subject[32];        /* prompt_subject() when the prompt opened: what an approval approves */
    /* INIT */
    uint8_t network, script_type, restore, word_count;   /* word_count 0 for a restore */
    os_policy policy;
    char mnemonic[OS_MAX_MNEMONIC + 1];
    size_t mnemonic_len;
    /* NONCE_RESET */
    os_msg_nonce_reset nonce_reset;
    /* ADDRESS */
    os_msg_address address;
    uint8_t address_change;
    uint32_t address_index;
    /* ISSUERS: the set to register */
    uint8_t voucher_flags, n_issuers;
    uint8_t issuers[OS_MAX_ISSUERS][32];
    /* OPERATORS: the set to register */
    uint8_t quorum_k, n_operators;
    uint64_t quorum_threshold;
    uint8_t operators[OS_MAX_OPERATORS][32];
} g_pend;

static os_state g_state;            /* the committed durable state, as loaded or last committed */
static os_state g_next;             /* scratch copy for the next commit (too big for the stack) */
static uint64_t g_state_seq;
static int g_boot_status = OS_ERR_INTERNAL;
static uint64_t g_velocity_ms;      /* board_millis() when velocity_spent and fee_spent were last refilled */
static account_cache g_accounts[3];
static struct {
    uint8_t valid;
    crypto_schnorr_key key;         /* g_state.attestation_key, loaded: see attestation_key() */
} g_attestation;

/* The WIPE entry of the log a wipe erased (signed with the erased attestation key): kept in RAM
 * until the next setup, readable with LOG_READ meanwhile, and linked by the next SETUP entry. */
static struct {
    uint8_t valid;
    uint64_t seq;
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    uint8_t hash[32];
} g_wiped;

static os_frame_rx g_rx;
static uint32_t g_cid;              /* current channel; 0 = none allocated */
static uint32_t g_next_cid = 1;
static uint8_t g_out[OS_MAX_MESSAGE];
static uint8_t g_records[OS_SIGS_PER_MESSAGE * (1 + OS_MAX_DER_SIG + 33)];

/* ------------------------------------------------------------------ text for the display */

typedef struct { char buf[BOARD_DISPLAY_ROWS * (BOARD_DISPLAY_COLS + 1) + 1]; size_t len; } screen_text;

static void text_reset(screen_text *t) { t->len = 0; t->buf[0] = 0; }

static void text_add(screen_text *t, const char *s) {
    while (*s && t->len + 1 < sizeof t->buf) t->buf[t->len++] = *s++;
    t->buf[t->len] = 0;
}

static void text_add_u64(screen_text *t, uint64_t v) {
    char digits[21];
    size_t n = 0;
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v && n < sizeof digits);
    char out[22];
    size_t i;
    for (i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    out[n] = 0;
    text_add(t, out);
}

/* MONA with up to 8 decimals, trailing zeros dropped: "12.5", "0.0001". */
static void text_add_amount(screen_text *t, uint64_t sat) {
    text_add_u64(t, sat / 100000000u);
    uint64_t frac = sat % 100000000u;
    if (frac) {
        char f[10];
        int i;
        f[0] = '.';
        for (i = 8; i >= 1; i--) { f[i] = (char)('0' + frac % 10); frac /= 10; }
        int end = 8;
        while (end > 1 && f[end] == '0') end--;
        f[end + 1] = 0;
        text_add(t, f);
    }
    text_add(t, " MONA");
}

/* Breaks a long token (an address) into display-width lines. */
static void text_add_wrapped(screen_text *t, const char *s) {
    size_t col = 0;
    while (*s && t->len + 2 < sizeof t->buf) {
        if (col == BOARD_DISPLAY_COLS) { t->buf[t->len++] = '\n'; col = 0; }
        t->buf[t->len++] = *s++;
        col++;
    }
    t->buf[t->len] = 0;
}

static uint64_t g_shown_ms;        /* board_millis() when the current screen appeared */

static void show(const screen_text *t) {
    board_display_show(t->buf);
    g_shown_ms = board_millis();
}

/* One labelled value line: "\n" prefix value, wrapped at the display width. */
static void text_add_line(screen_text *t, const char *prefix, const char *value) {
    char line[48];
    size_t n = 0;
    while (*prefix && n + 1 < sizeof line) line[n++] = *prefix++;
    while (*value && n + 1 < sizeof line) line[n++] = *value++;
    line[n] = 0;
    text_add(t, "\n");
    text_add_wrapped(t, line);
}

/* Text of a satoshi amount in MONA without a unit (the label carries it), or of a plain number. */
static const char *amount_text(uint64_t sat, char out[32]) {
    screen_text t;
    text_reset(&t);
    text_add_amount(&t, sat);
    size_t len = t.len >= 5 ? t.len - 5 : t.len;   /* drop " MONA" */
    memcpy(out, t.buf, len);
    out[len] = 0;
    return out;
}

static const char *number_text(uint64_t v, char out[32]) {
    screen_text t;
    text_reset(&t);
    text_add_u64(&t, v);
    memcpy(out, t.buf, t.len + 1);
    return out;
}

/* "Title i/n" as a page's first line. */
static void text_add_title(screen_text *t, const char *title, uint32_t i, uint32_t n) {
    text_add(t, title);
    text_add(t, " ");
    text_add_u64(t, i);
    text_add(t, "/");
    text_add_u64(t, n);
}

static void show_idle(void) {
    screen_text t;
    text_reset(&t);
    if (g_boot_status != OS_OK) {
        text_add(&t, "oncesign\nSTORAGE CORRUPT\nsigning disabled\nwipe to recover");
    } else if (!g_state.initialized) {
        text_add(&t, "oncesign " FIRMWARE_VERSION "\nnot initialised");
    } else {
        text_add(&t, "oncesign " FIRMWARE_VERSION "\nready\nlog #");
        text_add_u64(&t, g_state.log_seq);
    }
    if (board_random_is_test_only()) text_add(&t, "\nTEST RNG - NOT SAFE");
    show(&t);
}

/* ------------------------------------------------------------------ durable state helpers */

static int random_bytes(uint8_t *out, size_t len) { return board_random(out, len); }

/* st's attestation key, loaded once. st is g_state or g_next (the state being committed), which
 * share their attestation key except during setup, which loads the key it draws (finish_init). */
static int attestation_key(const os_state *st, const crypto_schnorr_key **out) {
    if (!g_attestation.valid) {
        CHECK_OK(crypto_schnorr_key_load(st->attestation_key, &g_attestation.key));
        g_attestation.valid = 1;
    }
    *out = &g_attestation.key;
    return OS_OK;
}

/* Appends one log entry to g_next (a copy of g_state the caller has prepared), commits it, then
 * copies the entry into the ring. On OS_OK g_state becomes g_next. */
static int commit_with_entry(uint8_t type, const uint8_t *payload, size_t payload_len) {
    uint8_t entry[OS_LOG_ENTRY_BYTES], entry_hash[32], aux[32];
    const crypto_schnorr_key *attestation;
    uint64_t seq = g_state_seq;
    CHECK_OK(audit_log_can_append(&g_next));
    CHECK_OK(attestation_key(&g_next, &attestation));
    CHECK_OK(random_bytes(aux, sizeof aux));
    CHECK_OK(audit_log_make_entry(&g_next, attestation, type, payload, payload_len, board_millis(), aux,
                                  entry, entry_hash));
    audit_log_apply(&g_next, entry, entry_hash);
    int rc = storage_commit(&g_next, &seq);
    if (rc != OS_OK) {
        /* The old record is intact (A/B); forget the attempt and keep serving the old state. */
        crypto_wipe(&g_next, sizeof g_next);
        return rc;
    }
    g_state_seq = seq;
    memcpy(&g_state, &g_next, sizeof g_state);
    crypto_wipe(&g_next, sizeof g_next);
    /* The ring copy is redundant with the record just written; a failure here is repaired at boot
     * and must not hide that the commit itself succeeded. */
    (void)audit_log_ring_write(&g_state);
    return OS_OK;
}

static void prepare_next(void) { memcpy(&g_next, &g_state, sizeof g_next); }

static uint64_t velocity_now(void) {
    uint64_t now = board_millis();
    uint64_t spent = policy_velocity_refill(&g_state.policy, g_state.velocity_spent, now - g_velocity_ms);
    return spent;
}

/* ------------------------------------------------------------------ keys */

static int master_node(bip32_node *out) {
    return bip32_from_seed(g_state.seed, sizeof g_state.seed, out);
}

/* Called whenever the seed or the attestation key may change (setup, restore, wipe, boot). */
static void keys_forget(void) {
    crypto_wipe(g_accounts, sizeof g_accounts);
    crypto_schnorr_key_wipe(&g_attestation.key);
    g_attestation.valid = 0;
}

/* The account node m/purpose'/coin'/account' for a script type (cached: see account_cache). */
static int account_node(uint8_t script_type, uint32_t account, const bip32_node **out) {
    ARG_CHECK(script_type <= OS_SCRIPT_P2WPKH);
    if (account >= BIP32_HARDENED) return OS_ERR_BAD_PATH;
    account_cache *c = &g_accounts[script_type];
    if (!c->valid || c->account != account) {
        uint32_t path[3];
        bip32_node master;
        CHECK_OK(address_account_path(g_state.network, script_type, account, path));
        int rc = master_node(&master);
        if (rc == OS_OK) rc = bip32_derive_path(&master, path, 3, &c->node);
        bip32_wipe(&master);
        if (rc != OS_OK) { crypto_wipe(c, sizeof *c); return rc; }
        c->valid = 1;
        c->chain_valid[0] = c->chain_valid[1] = 0;
        c->script_type = script_type;
        c->account = account;
    }
    *out = &c->node;
    return OS_OK;
}

/* The chain node m/purpose'/coin'/account'/change (cached with its account). */
static int chain_node(uint8_t script_type, uint32_t account, uint8_t change, const bip32_node **out) {
    const bip32_node *acct;
    if (change > 1) return OS_ERR_BAD_PATH;
    CHECK_OK(account_node(script_type, account, &acct));
    account_cache *c = &g_accounts[script_type];
    if (!c->chain_valid[change]) {
        CHECK_OK(bip32_derive_child(acct, change, &c->chain[change]));
        c->chain_valid[change] = 1;
    }
    *out = &c->chain[change];
    return OS_OK;
}

/* Derives m/purpose'/coin'/account'/change/index with its public key. */
static int leaf_node(uint8_t script_type, uint32_t account, uint8_t change, uint32_t index, bip32_node *out) {
    const bip32_node *chain;
    if (index >= BIP32_HARDENED) return OS_ERR_BAD_PATH;
    CHECK_OK(chain_node(script_type, account, change, &chain));
    return bip32_derive_child(chain, index, out);
}

/* The private key of m/purpose'/coin'/account'/change/index alone (see bip32_derive_private_key). */
static int leaf_private_key(uint8_t script_type, uint32_t account, uint8_t change, uint32_t index,
                            uint8_t key[32]) {
    const bip32_node *chain;
    if (index >= BIP32_HARDENED) return OS_ERR_BAD_PATH;
    CHECK_OK(chain_node(script_type, account, change, &chain));
    return bip32_derive_private_key(chain, index, key);
}

/* ------------------------------------------------------------------ replies */

static int reply_simple(const os_msg *req, uint8_t type, os_msg *reply) {
    memset(reply, 0, sizeof *reply);
    reply->version = OS_PROTOCOL_VERSION;
    reply->type = type;
    reply->request_id = req->request_id;
    return OS_OK;
}

static void send_frame(uint32_t cid, uint8_t cmd, const uint8_t *data, size_t len) {
    os_frame_tx tx;
    uint8_t report[OS_REPORT_SIZE];
    if (os_frame_tx_init(&tx, cid, cmd, data, len) != OS_OK) return;
    while (os_frame_tx_next(&tx, report) == 1) {
        if (board_transport_send(report) != OS_OK) return;
    }
}

static void send_reply(const os_msg *reply) {
    size_t len = 0;
    int rc = os_msg_encode(reply, g_out, sizeof g_out, &len);
    if (rc != OS_OK) {
        /* An encoding failure is a bug in this file; answer with it rather than stay silent. */
        uint8_t code[2] = { (uint8_t)(OS_ERR_INTERNAL >> 8), (uint8_t)OS_ERR_INTERNAL };
        send_frame(g_cid, OS_FRAME_CMD_ERROR, code, 2);
        return;
    }
    send_frame(g_cid, OS_FRAME_CMD_MSG, g_out, len);
}

static void send_error(const os_msg *req, int code, uint16_t index, const uint8_t *detail, uint8_t detail_len) {
    os_msg reply;
    reply_simple(req, OS_MSG_ERROR, &reply);
    reply.u.error.code = (uint16_t)code;
    reply.u.error.index = index;
    reply.u.error.detail = detail;
    reply.u.error.detail_len = detail_len;
    send_reply(&reply);
}

static void send_pending(const os_msg *req) {
    os_msg reply;
    reply_simple(req, OS_MSG_PENDING, &reply);
    reply.u.pending.reason = OS_PENDING_OPERATOR;
    reply.u.pending.poll_after_ms = POLL_AFTER_MS;
    send_reply(&reply);
}

static void send_success(const os_msg *req) {
    os_msg reply;
    reply_simple(req, OS_MSG_SUCCESS, &reply);
    send_reply(&reply);
}

/* ------------------------------------------------------------------ session */

static void session_reset(void) {
    crypto_wipe(&g_sess, sizeof g_sess);
    g_sess.phase = PHASE_IDLE;
}

static void pending_reset(void) {
    crypto_wipe(&g_pend, sizeof g_pend);
    g_pend.kind = PENDING_NONE;
}

static void end_all(void) {
    int was_pending = g_pend.kind != PENDING_NONE;
    session_reset();
    pending_reset();
    if (was_pending) show_idle();
}

/* ------------------------------------------------------------------ GET_INFO */

static void handle_get_info(const os_msg *req) {
    os_msg reply;
    uint32_t first_sector, capacity;
    reply_simple(req, OS_MSG_INFO, &reply);
    os_msg_info *info = &reply.u.info;
    info->protocol_version = OS_PROTOCOL_VERSION;
    memcpy(info->firmware_version, FIRMWARE_VERSION, sizeof FIRMWARE_VERSION);
    info->initialized = g_state.initialized;
    info->network = g_state.network;
    info->script_type = g_state.script_type;
    info->test_only_rng = (uint8_t)(board_random_is_test_only() ? 1 : 0);
    memcpy(info->nonce_root, g_state.nonce_root, 32);
    info->log_seq = g_state.log_seq;
    memcpy(info->log_head, g_state.log_head, 32);
    info->log_acked_seq = g_state.log_acked_seq;
    storage_log_geometry(&first_sector, &capacity);
    info->log_capacity = capacity;
    if (g_state.initialized) {
        const crypto_schnorr_key *attestation;
        int rc = attestation_key(&g_state, &attestation);
        if (rc == OS_OK) rc = crypto_schnorr_key_xonly(attestation, info->attestation_pubkey);
        if (rc != OS_OK) { send_error(req, rc, 0xFFFF, NULL, 0); return; }
    }
    info->policy = g_state.policy;
    info->state_seq = g_state_seq;
    send_reply(&reply);
}

/* ------------------------------------------------------------------ INIT_DEVICE */

#define WORDS_PER_PAGE 6
#define SETUP_PAGES 3
#define POLICY_PAGES 3
#define SIGN_SUMMARY_PAGES 2

static void show_prompt_page(void);

static uint16_t word_pages(void) {
    return g_pend.kind == PENDING_INIT_WORDS ? (uint16_t)(g_pend.word_count / WORDS_PER_PAGE) : 0;
}

/* One word per line, six per page: the longest English BIP39 word has 8 letters, so "24. abstract"
 * always fits the 21-column screen and nothing is ever cut off. */
static void show_words_page(void) {
    screen_text t;
    text_reset(&t);
    text_add_title(&t, "Write down", (uint32_t)g_pend.page + 1, word_pages());
    const char *p = g_pend.mnemonic;
    unsigned word = 0, first = (unsigned)g_pend.page * WORDS_PER_PAGE;
    while (*p) {
        const char *start = p;
        while (*p && *p != ' ') p++;
        if (word >= first && word < first + WORDS_PER_PAGE) {
            char line[16];
            size_t n = 0, len = (size_t)(p - start);
            unsigned w = word + 1;
            if (len > 8) len = 8;
            line[n++] = '\n';
            if (w >= 10) line[n++] = (char)('0' + w / 10);
            line[n++] = (char)('0' + w % 10);
            line[n++] = '.';
            line[n++] = ' ';
            memcpy(line + n, start, len);
            n += len;
            line[n] = 0;
            text_add(&t, line);
        }
        word++;
        if (*p == ' ') p++;
    }
    text_add(&t, "\napprove = next");
    show(&t);
}

static const char *network_name(uint8_t network) {
    return network == OS_NET_MAIN ? "main" : network == OS_NET_TEST ? "test" : "regtest";
}

static const char *script_type_name(uint8_t script_type) {
    return script_type == OS_SCRIPT_P2PKH ? "P2PKH" : script_type == OS_SCRIPT_P2SH_P2WPKH ? "P2SH-P2WPKH" : "P2WPKH";
}

/* Every field INIT_DEVICE sets, on SETUP_PAGES pages: nothing the host chose goes unseen. */
static void show_setup_page(uint16_t page) {
    screen_text t;
    char v[32];
    text_reset(&t);
    text_add_title(&t, "Setup", (uint32_t)page + 1, SETUP_PAGES);
    if (page == 0) {
        text_add(&t, "\nnetwork: ");
        text_add(&t, network_name(g_pend.network));
        text_add(&t, "\ncoins: ");
        text_add(&t, script_type_name(g_pend.script_type));
        text_add(&t, g_pend.restore ? "\nkeys: restored words" : "\nkeys: new words");
        text_add(&t, "\npayout cap, MONA:");
        text_add_line(&t, " ", amount_text(g_pend.policy.per_payout_cap, v));
        text_add(&t, "\napprove = next");
    } else if (page == 1) {
        text_add(&t, "\nvelocity cap, MONA:");
        text_add_line(&t, " ", amount_text(g_pend.policy.velocity_cap, v));
        text_add(&t, "\nvelocity window, s:");
        text_add_line(&t, " ", number_text(g_pend.policy.velocity_window_s, v));
        text_add(&t, "\nfee cap, MONA:");
        text_add_line(&t, " ", amount_text(g_pend.policy.fee_cap, v));
        text_add(&t, "\napprove = next");
    } else {
        text_add(&t, "\nfee rate cap sat/kvB");
        text_add_line(&t, " ", number_text(g_pend.policy.fee_rate_cap, v));
        text_add(&t, "\nfee budget, MONA:");
        text_add_line(&t, " ", amount_text(g_pend.policy.fee_budget, v));
        text_add(&t, g_pend.restore ? "\nRestore this wallet?" : "\nWords written down?");
        text_add(&t, "\napprove = create");
    }
    if (board_random_is_test_only()) text_add(&t, "\nTEST RNG - NOT SAFE");
    show(&t);
}

static int open_prompt(pending_kind kind, uint16_t pages);

static void handle_init_device(const os_msg *req) {
    const os_msg_init_device *m = &req->u.init_device;
    if (g_state.initialized) { send_error(req, OS_ERR_ALREADY_INITIALIZED, 0xFFFF, NULL, 0); return; }
    if (m->network > OS_NET_REGTEST || m->script_type > OS_SCRIPT_P2WPKH) {
        send_error(req, OS_ERR_MSG_MALFORMED, 0xFFFF, NULL, 0);
        return;
    }
    /* Keys from a reproducible random stream are anyone's keys: never for real coins. */
    if (m->network == OS_NET_MAIN && board_random_is_test_only()) {
        send_error(req, OS_ERR_TEST_RNG, 0xFFFF, NULL, 0);
        return;
    }
    if (policy_validate(&m->policy) != OS_OK) { send_error(req, OS_ERR_ARG, 0xFFFF, NULL, 0); return; }
    /* Setup ends every session: nothing signed under the old keys survives it. */
    end_all();
    g_pend.network = m->network;
    g_pend.script_type = m->script_type;
    g_pend.policy = m->policy;
    g_pend.restore = m->restore;
    g_pend.word_count = m->restore ? 0 : (m->word_count == 24 ? 24 : 12);
    int rc;
    if (m->restore) {
        uint8_t entropy[32];
        size_t entropy_len = 0;
        if (m->mnemonic_len == 0 || m->mnemonic_len > OS_MAX_MNEMONIC) {
            pending_reset();
            send_error(req, OS_ERR_BAD_MNEMONIC, 0xFFFF, NULL, 0);
            return;
        }
        memcpy(g_pend.mnemonic, m->mnemonic, m->mnemonic_len);
        g_pend.mnemonic[m->mnemonic_len] = 0;
        g_pend.mnemonic_len = m->mnemonic_len;
        rc = bip39_mnemonic_to_entropy(g_pend.mnemonic, g_pend.mnemonic_len, entropy, sizeof entropy, &entropy_len);
        crypto_wipe(entropy, sizeof entropy);
        if (rc != OS_OK) { pending_reset(); send_error(req, OS_ERR_BAD_MNEMONIC, 0xFFFF, NULL, 0); return; }
        rc = open_prompt(PENDING_INIT_RESTORE, SETUP_PAGES);
    } else {
        uint8_t entropy[32];
        size_t entropy_len = g_pend.word_count == 24 ? 32 : 16;
        rc = random_bytes(entropy, entropy_len);
        if (rc == OS_OK)
            rc = bip39_mnemonic_from_entropy(entropy, entropy_len, g_pend.mnemonic, sizeof g_pend.mnemonic,
                                             &g_pend.mnemonic_len);
        crypto_wipe(entropy, sizeof entropy);
        if (rc == OS_OK)
            rc = open_prompt(PENDING_INIT_WORDS, (uint16_t)(g_pend.word_count / WORDS_PER_PAGE + SETUP_PAGES));
    }
    if (rc != OS_OK) { pending_reset(); send_error(req, rc, 0xFFFF, NULL, 0); return; }
    send_pending(req);
}

/* The operator confirmed: make the seed and the attestation key durable. */
static int finish_init(void) {
    uint8_t payload[4 + OS_POLICY_BYTES + 4 + 8 + 32];
    bip32_node master;
    int rc;
    prepare_next();
    memset(&g_next, 0, sizeof g_next);
    g_next.network = g_pend.network;
    g_next.script_type = g_pend.script_type;
    g_next.policy = g_pend.policy;
    g_next.test_only_rng = (uint8_t)(board_random_is_test_only() ? 1 : 0);
    rc = bip39_seed(g_pend.mnemonic, g_pend.mnemonic_len, NULL, g_next.seed);
    if (rc != OS_OK) return rc;
    /* The attestation key is independent of the seed: whoever restores the mnemonic elsewhere gets
     * the wallet, not this device's identity as an auditor sees it. Loading it is its validity
     * check, and leaves it loaded for the SETUP entry (keys_forget first drops any older key). */
    keys_forget();
    do {
        rc = random_bytes(g_next.attestation_key, 32);
        if (rc != OS_OK) return rc;
        rc = crypto_schnorr_key_load(g_next.attestation_key, &g_attestation.key);
    } while (rc == OS_ERR_CRYPTO);
    if (rc != OS_OK) return rc;
    g_attestation.valid = 1;
    nonce_set_empty_root(g_next.nonce_root);
    g_next.initialized = 1;
    rc = bip32_from_seed(g_next.seed, sizeof g_next.seed, &master);
    if (rc != OS_OK) return rc;
    payload[0] = g_next.network;
    payload[1] = g_next.script_type;
    payload[2] = g_pend.restore;
    payload[3] = g_next.test_only_rng;
    os_policy_encode(&g_next.policy, payload + 4);
    bip32_fingerprint(&master, payload + 4 + OS_POLICY_BYTES);
    bip32_wipe(&master);
    /* The log this device kept before a wipe in this boot ends at its WIPE entry: name it, so the
     * two logs are one chain to an auditor (zeros: none known). */
    uint8_t *prev_log = payload + 4 + OS_POLICY_BYTES + 4;
    memset(prev_log, 0, 40);
    if (g_wiped.valid) {
        int b;
        for (b = 0; b < 8; b++) prev_log[b] = (uint8_t)(g_wiped.seq >> (8 * b));
        memcpy(prev_log + 8, g_wiped.hash, 32);
    }
    g_velocity_ms = board_millis();
    rc = commit_with_entry(OS_LOG_SETUP, payload, sizeof payload);
    if (rc == OS_OK) crypto_wipe(&g_wiped, sizeof g_wiped);
    return rc;
}

/* ------------------------------------------------------------------ keys out */

static void handle_get_xpub(const os_msg *req) {
    const bip32_node *acct;
    bip32_node pub;
    os_msg reply;
    int rc = account_node(req->u.get_xpub.script_type, req->u.get_xpub.account, &acct);
    if (rc != OS_OK) { send_error(req, rc, 0xFFFF, NULL, 0); return; }
    memcpy(&pub, acct, sizeof pub);
    bip32_neuter(&pub);
    reply_simple(req, OS_MSG_XPUB, &reply);
    rc = bip32_serialize(&pub, address_network(g_state.network)->xpub_version, reply.u.xpub.data);
    bip32_wipe(&pub);
    if (rc != OS_OK) { send_error(req, rc, 0xFFFF, NULL, 0); return; }
    send_reply(&reply);
}

static int address_for(uint8_t script_type, uint32_t account, uint8_t change, uint32_t index, os_msg_address *out) {
    bip32_node node;
    uint8_t script[25];
    size_t script_len = 0;
    int rc = leaf_node(script_type, account, change, index, &node);
    if (rc == OS_OK) rc = script_for_pubkey(script_type, node.public_key, script, sizeof script, &script_len);
    bip32_wipe(&node);
    if (rc != OS_OK) return rc;
    CHECK_OK(address_from_script(g_state.network, script, script_len, out->text, sizeof out->text));
    out->len = (uint8_t)strlen(out->text);
    return OS_OK;
}

static void handle_get_address(const os_msg *req) {
    const os_msg_get_address *m = &req->u.get_address;
    os_msg reply;
    reply_simple(req, OS_MSG_ADDRESS, &reply);
    int rc = address_for(m->script_type, m->account, m->change, m->index, &reply.u.address);
    if (rc != OS_OK) { send_error(req, rc, 0xFFFF, NULL, 0); return; }
    if (!m->show) { send_reply(&reply); return; }
    pending_reset();
    g_pend.address = reply.u.address;
    g_pend.address_change = m->change;
    g_pend.address_index = m->index;
    rc = open_prompt(PENDING_ADDRESS, 1);
    if (rc != OS_OK) { pending_reset(); send_error(req, rc, 0xFFFF, NULL, 0); return; }
    send_pending(req);
}

static void show_address_page(void) {
    screen_text t;
    text_reset(&t);
    text_add(&t, g_pend.address_change ? "Change address #" : "Receive address #");
    text_add_u64(&t, g_pend.address_index);
    text_add(&t, "\n");
    text_add_wrapped(&t, g_pend.address.text);
    text_add(&t, "\napprove if it matches");
    show(&t);
}

/* ------------------------------------------------------------------ policy, wipe, log */

static void handle_set_policy(const os_msg *req) {
    if (policy_validate(&req->u.set_policy) != OS_OK) { send_error(req, OS_ERR_ARG, 0xFFFF, NULL, 0); return; }
    pending_reset();
    g_pend.policy = req->u.set_policy;
    int rc = open_prompt(PENDING_POLICY, POLICY_PAGES);
    if (rc != OS_OK) { pending_reset(); send_error(req, rc, 0xFFFF, NULL, 0); return; }
    send_pending(req);
}

/* One policy field as three lines: label (marked '*' when it changes), old value, "-> " new value. */
static void text_add_change(screen_text *t, const char *label, const char *old_value, const char *new_value) {
    char old_copy[32];
    size_t n = 0;
    while (old_value[n] && n + 1 < sizeof old_copy) { old_copy[n] = old_value[n]; n++; }
    old_copy[n] = 0;
    text_add(t, strcmp(old_copy, new_value) != 0 ? "\n*" : "\n");
    text_add(t, label);
    text_add_line(t, " ", old_copy);
    text_add_line(t, "-> ", new_value);
}

/* Every policy field, old -> new, on POLICY_PAGES pages: a change hides nowhere. */
static void show_policy_page(uint16_t page) {
    const os_policy *o = &g_state.policy, *n = &g_pend.policy;
    screen_text t;
    char a[32], b[32];
    text_reset(&t);
    text_add_title(&t, "Policy", (uint32_t)page + 1, POLICY_PAGES);
    if (page == 0) {
        text_add_change(&t, "payout cap, MONA:", amount_text(o->per_payout_cap, a), amount_text(n->per_payout_cap, b));
        text_add_change(&t, "velocity cap, MONA:", amount_text(o->velocity_cap, a), amount_text(n->velocity_cap, b));
        text_add(&t, "\napprove = next");
    } else if (page == 1) {
        text_add_change(&t, "velocity window, s:", number_text(o->velocity_window_s, a),
                        number_text(n->velocity_window_s, b));
        text_add_change(&t, "fee cap, MONA:", amount_text(o->fee_cap, a), amount_text(n->fee_cap, b));
        text_add(&t, "\napprove = next");
    } else {
        text_add_change(&t, "fee rate cap sat/kvB", number_text(o->fee_rate_cap, a), number_text(n->fee_rate_cap, b));
        text_add_change(&t, "fee budget, MONA:", amount_text(o->fee_budget, a), amount_text(n->fee_budget, b));
        text_add(&t, "\napprove = set policy");
    }
    show(&t);
}

static int finish_policy(void) {
    uint8_t payload[2 * OS_POLICY_BYTES];
    prepare_next();
    os_policy_encode(&g_state.policy, payload);
    os_policy_encode(&g_pend.policy, payload + OS_POLICY_BYTES);
    g_next.policy = g_pend.policy;
    return commit_with_entry(OS_LOG_POLICY, payload, sizeof payload);
}

/* ------------------------------------------------------------------ SET_ISSUERS (issue 14) */

/* An issuer key as the operator compares it with the issuer tool's output: the first 8 bytes of
 * the x-only key in hex (`oncesign voucher keygen` prints the same). */
static const char *issuer_fingerprint(const uint8_t key[32], char out[32]) {
    static const char hex[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 8; i++) {
        out[2 * i] = hex[key[i] >> 4];
        out[2 * i + 1] = hex[key[i] & 15];
    }
    out[16] = 0;
    return out;
}

static uint16_t issuers_pages(void) {
    uint8_t n = g_state.n_issuers > g_pend.n_issuers ? g_state.n_issuers : g_pend.n_issuers;
    return (uint16_t)(1u + n);
}

/* Page 0: "vouchers required" and the count, old -> new; then one page per key slot, old -> new,
 * so a key replaced, added or removed shows as such. */
static void show_issuers_page(uint16_t page) {
    screen_text t;
    char a[32], b[32];
    text_reset(&t);
    text_add_title(&t, "Issuers", (uint32_t)page + 1, issuers_pages());
    if (page == 0) {
        text_add_change(&t, "vouchers required:", (g_state.voucher_flags & OS_VOUCHERS_REQUIRED) ? "yes" : "no",
                        (g_pend.voucher_flags & OS_VOUCHERS_REQUIRED) ? "yes" : "no");
        text_add_change(&t, "issuer keys:", number_text(g_state.n_issuers, a), number_text(g_pend.n_issuers, b));
    } else {
        uint8_t i = (uint8_t)(page - 1);
        text_add_change(&t, "key:", i < g_state.n_issuers ? issuer_fingerprint(g_state.issuers[i], a) : "-",
                        i < g_pend.n_issuers ? issuer_fingerprint(g_pend.issuers[i], b) : "-");
    }
    text_add(&t, page + 1u < issuers_pages() ? "\napprove = next" : "\napprove = set issuers");
    show(&t);
}

static void handle_set_issuers(const os_msg *req) {
    const os_msg_set_issuers *m = &req->u.set_issuers;
    pending_reset();
    g_pend.voucher_flags = m->flags;
    g_pend.n_issuers = m->n_issuers;
    if (m->n_issuers > 0) memcpy(g_pend.issuers, m->keys, 32u * m->n_issuers);
    int rc = open_prompt(PENDING_ISSUERS, issuers_pages());
    if (rc != OS_OK) { pending_reset(); send_error(req, rc, 0xFFFF, NULL, 0); return; }
    send_pending(req);
}

/* The ISSUERS entry carries the whole new set: flags, count, OS_MAX_ISSUERS keys zero-padded. */
static int finish_issuers(void) {
    uint8_t payload[2 + OS_MAX_ISSUERS * 32];
    _Static_assert(sizeof payload <= OS_LOG_PAYLOAD_MAX, "the issuer set fits one entry");
    prepare_next();
    g_next.voucher_flags = g_pend.voucher_flags;
    g_next.n_issuers = g_pend.n_issuers;
    memcpy(g_next.issuers, g_pend.issuers, sizeof g_next.issuers);
    payload[0] = g_next.voucher_flags;
    payload[1] = g_next.n_issuers;
    memcpy(payload + 2, g_next.issuers, sizeof g_next.issuers);
    return commit_with_entry(OS_LOG_ISSUERS, payload, sizeof payload);
}

/* ------------------------------------------------------------------ SET_OPERATORS (issue 14 part 2) */

static uint16_t operators_pages(void) {
    uint8_t n = g_state.n_operators > g_pend.n_operators ? g_state.n_operators : g_pend.n_operators;
    return (uint16_t)(1u + n);
}

/* Page 0: k, n and the threshold, old -> new; then one page per key slot, old -> new, as the
 * issuers' screens (the same fingerprint `oncesign voucher keygen` prints). */
static void show_operators_page(uint16_t page) {
    screen_text t;
    char a[32], b[32];
    text_reset(&t);
    text_add_title(&t, "Operators", (uint32_t)page + 1, operators_pages());
    if (page == 0) {
        text_add_change(&t, "approvals needed:", number_text(g_state.quorum_k, a), number_text(g_pend.quorum_k, b));
        text_add_change(&t, "operator keys:", number_text(g_state.n_operators, a), number_text(g_pend.n_operators, b));
        text_add_change(&t, "above, MONA:", amount_text(g_state.quorum_threshold, a),
                        amount_text(g_pend.quorum_threshold, b));
    } else {
        uint8_t i = (uint8_t)(page - 1);
        text_add_change(&t, "key:", i < g_state.n_operators ? issuer_fingerprint(g_state.operators[i], a) : "-",
                        i < g_pend.n_operators ? issuer_fingerprint(g_pend.operators[i], b) : "-");
    }
    text_add(&t, page + 1u < operators_pages() ? "\napprove = next" : "\napprove = set operators");
    show(&t);
}

static void handle_set_operators(const os_msg *req) {
    const os_msg_set_operators *m = &req->u.set_operators;
    pending_reset();
    g_pend.quorum_k = m->k;
    g_pend.n_operators = m->n_operators;
    g_pend.quorum_threshold = m->threshold;
    if (m->n_operators > 0) memcpy(g_pend.operators, m->keys, 32u * m->n_operators);
    int rc = open_prompt(PENDING_OPERATORS, operators_pages());
    if (rc != OS_OK) { pending_reset(); send_error(req, rc, 0xFFFF, NULL, 0); return; }
    send_pending(req);
}

/* The OPERATORS entry carries the whole new set: k, n, threshold, OS_MAX_OPERATORS keys zero-padded. */
static int finish_operators(void) {
    uint8_t payload[2 + 8 + OS_MAX_OPERATORS * 32];
    _Static_assert(sizeof payload <= OS_LOG_PAYLOAD_MAX, "the operator set fits one entry");
    prepare_next();
    g_next.quorum_k = g_pend.quorum_k;
    g_next.n_operators = g_pend.n_operators;
    g_next.quorum_threshold = g_pend.quorum_threshold;
    memcpy(g_next.operators, g_pend.operators, sizeof g_next.operators);
    payload[0] = g_next.quorum_k;
    payload[1] = g_next.n_operators;
    os_write_le64(payload + 2, g_next.quorum_threshold);
    memcpy(payload + 10, g_next.operators, sizeof g_next.operators);
    return commit_with_entry(OS_LOG_OPERATORS, payload, sizeof payload);
}

static void handle_wipe(const os_msg *req) {
    /* A wipe ends every session, approved or not: nothing half-signed outlives the question. */
    end_all();
    int rc = open_prompt(PENDING_WIPE, 1);
    if (rc != OS_OK) { pending_reset(); send_error(req, rc, 0xFFFF, NULL, 0); return; }
    send_pending(req);
}

/* Signs the WIPE entry that closes the log about to be erased (g_wiped). A device whose store is
 * corrupt or blank has no log to close. Payload: log_acked_seq u64 (entries after it were never
 * archived by the host), state_seq u64, nonce_root 32. */
static int wipe_with_entry(void) {
    crypto_wipe(&g_wiped, sizeof g_wiped);
    if (g_boot_status != OS_OK || !g_state.initialized) return OS_OK;
    uint8_t payload[8 + 8 + 32], aux[32];
    const crypto_schnorr_key *attestation;
    int b;
    for (b = 0; b < 8; b++) {
        payload[b] = (uint8_t)(g_state.log_acked_seq >> (8 * b));
        payload[8 + b] = (uint8_t)(g_state_seq >> (8 * b));
    }
    memcpy(payload + 16, g_state.nonce_root, 32);
    CHECK_OK(attestation_key(&g_state, &attestation));
    CHECK_OK(random_bytes(aux, sizeof aux));
    CHECK_OK(audit_log_make_entry(&g_state, attestation, OS_LOG_WIPE, payload, sizeof payload, board_millis(), aux,
                                  g_wiped.entry, g_wiped.hash));
    g_wiped.seq = g_state.log_seq + 1;
    g_wiped.valid = 1;
    return OS_OK;
}

static void show_wipe_page(void) {
    screen_text t;
    text_reset(&t);
    text_add(&t, "WIPE the device?\nkeys, nonce set and\nlog are erased.\nArchive the log\nfirst.\napprove = wipe");
    show(&t);
}

/* ------------------------------------------------------------------ nonce-set reset */

#define NONCE_RESET_PAGES 2

/* The body of a NONCE_RESET as its prompt subject and its check: the same bytes the host sent. */
static void nonce_reset_bytes(const os_msg_nonce_reset *m, uint8_t out[OS_NONCE_RESET_BYTES]) {
    memcpy(out, m->fingerprint, 4);
    os_write_le64(out + 4, m->device_log_seq);
    memcpy(out + 12, m->device_log_head, 32);
    memcpy(out + 44, m->prev_attestation_key, 32);
    os_write_le64(out + 76, m->prev_log_seq);
    memcpy(out + 84, m->prev_log_head, 32);
}

/* Whether m still describes this device as it is now: its wallet, and its log head at this moment
 * (so a replayed or stale request, or one that raced another entry, asks nothing); a reset that names
 * the device's own attestation key continues its own chain, so it must name that same head. */
static int nonce_reset_check(const os_msg_nonce_reset *m) {
    bip32_node master;
    uint8_t fingerprint[4];
    CHECK_OK(master_node(&master));
    bip32_fingerprint(&master, fingerprint);
    bip32_wipe(&master);
    if (memcmp(fingerprint, m->fingerprint, 4) != 0) return OS_ERR_WRONG_WALLET;
    if (m->device_log_seq != g_state.log_seq || memcmp(m->device_log_head, g_state.log_head, 32) != 0)
        return OS_ERR_LOG_HEAD;
    const crypto_schnorr_key *attestation;
    uint8_t own_key[32];
    CHECK_OK(attestation_key(&g_state, &attestation));
    CHECK_OK(crypto_schnorr_key_xonly(attestation, own_key));
    if (memcmp(own_key, m->prev_attestation_key, 32) == 0 &&
        (m->prev_log_seq != g_state.log_seq || memcmp(m->prev_log_head, g_state.log_head, 32) != 0))
        return OS_ERR_LOG_HEAD;
    return OS_OK;
}

/* Emptying the nonce set lets every code be signed again: I1 then rests on the operator, who checks
 * that the sweep of every coin of the wallet confirmed (docs/RECOVERY.md) before approving. So it is
 * always asked, and the screens say what it continues from and what the operator must check. */
static void handle_nonce_reset(const os_msg *req) {
    int rc = nonce_reset_check(&req->u.nonce_reset);
    if (rc != OS_OK) { send_error(req, rc, 0xFFFF, NULL, 0); return; }
    end_all();
    g_pend.nonce_reset = req->u.nonce_reset;
    rc = open_prompt(PENDING_NONCE_RESET, NONCE_RESET_PAGES);
    if (rc != OS_OK) { pending_reset(); send_error(req, rc, 0xFFFF, NULL, 0); return; }
    send_pending(req);
}

static void show_nonce_reset_page(uint16_t page) {
    static const char hex[] = "0123456789abcdef";
    const os_msg_nonce_reset *m = &g_pend.nonce_reset;
    char key[17], head[17];
    int b;
    for (b = 0; b < 8; b++) {
        key[2 * b] = hex[m->prev_attestation_key[b] >> 4];
        key[2 * b + 1] = hex[m->prev_attestation_key[b] & 15];
        head[2 * b] = hex[m->prev_log_head[b] >> 4];
        head[2 * b + 1] = hex[m->prev_log_head[b] & 15];
    }
    key[16] = head[16] = 0;
    screen_text t;
    text_reset(&t);
    text_add_title(&t, "Reset nonce set", (uint32_t)page + 1, NONCE_RESET_PAGES);
    if (page == 0) {
        text_add_line(&t, "continue from key ", key);
        text_add(&t, "\nlog #");
        text_add_u64(&t, m->prev_log_seq);
        text_add_line(&t, "head ", head);
        text_add(&t, "\napprove = next");
    } else {
        /* The host sweeps every coin after the reset (it cannot prove the old set's anchors): what the
         * operator vouches for here is that a ledger was restored or the signer replaced. */
        text_add(&t, "\nOnly if you restored\nthe ledger or\nreplaced the signer.\napprove = reset");
    }
    show(&t);
}

/* The approved reset: the set becomes empty, and the entry names what it continues from and the
 * root it retired (payload: prev key 32, prev seq u64, prev head 32, retired root 32). */
static int finish_nonce_reset(void) {
    uint8_t payload[OS_NONCE_RESET_LOG_BYTES];
    const os_msg_nonce_reset *m = &g_pend.nonce_reset;
    CHECK_OK(nonce_reset_check(m));
    memcpy(payload, m->prev_attestation_key, 32);
    os_write_le64(payload + 32, m->prev_log_seq);
    memcpy(payload + 40, m->prev_log_head, 32);
    memcpy(payload + 72, g_state.nonce_root, 32);
    prepare_next();
    nonce_set_empty_root(g_next.nonce_root);
    return commit_with_entry(OS_LOG_NONCE_RESET, payload, sizeof payload);
}

static void handle_log_read(const os_msg *req) {
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    os_msg reply;
    int rc;
    if (!g_state.initialized) {
        /* A wiped device still hands out the WIPE entry that closed its old log. */
        if (!g_wiped.valid || req->u.log_read.seq != g_wiped.seq) { send_error(req, OS_ERR_LOG_RANGE, 0xFFFF, NULL, 0); return; }
        memcpy(entry, g_wiped.entry, sizeof entry);
        rc = OS_OK;
    } else {
        rc = audit_log_read(&g_state, req->u.log_read.seq, entry);
    }
    if (rc != OS_OK) { send_error(req, rc, 0xFFFF, NULL, 0); return; }
    reply_simple(req, OS_MSG_LOG_ENTRY, &reply);
    reply.u.log_entry.len = OS_LOG_ENTRY_BYTES;
    reply.u.log_entry.entry = entry;
    send_reply(&reply);
}

static void handle_log_ack(const os_msg *req) {
    uint64_t seq = req->u.log_read.seq, previous = g_state.log_acked_seq;
    if (seq > g_state.log_seq) { send_error(req, OS_ERR_LOG_RANGE, 0xFFFF, NULL, 0); return; }
    if (seq <= previous) { send_success(req); return; }
    prepare_next();
    g_next.log_acked_seq = seq;
    int rc;
    if (seq == g_state.log_seq && previous + 1 == seq && g_state.last_entry[AUDIT_LOG_OFF_TYPE] == OS_LOG_ACK) {
        /* Acknowledging only the previous acknowledgement's own entry is not logged again: else
         * every LOG_ACK would leave one more entry to acknowledge. */
        uint64_t state_seq = g_state_seq;
        rc = storage_commit(&g_next, &state_seq);
        if (rc == OS_OK) {
            g_state_seq = state_seq;
            memcpy(&g_state, &g_next, sizeof g_state);
        }
        crypto_wipe(&g_next, sizeof g_next);
    } else {
        /* The log says what the host declared archived: entries it may overwrite from now on. */
        uint8_t payload[16];
        int b;
        for (b = 0; b < 8; b++) {
            payload[b] = (uint8_t)(seq >> (8 * b));
            payload[8 + b] = (uint8_t)(previous >> (8 * b));
        }
        rc = commit_with_entry(OS_LOG_ACK, payload, sizeof payload);
    }
    if (rc != OS_OK) { send_error(req, rc, 0xFFFF, NULL, 0); return; }
    send_success(req);
}

/* ------------------------------------------------------------------ signing */

static void sign_fail(const os_msg *req, int code, uint16_t index) {
    session_reset();
    send_error(req, code, index, NULL, 0);
}

static void handle_sign_begin(const os_msg *req) {
    const os_msg_sign_begin *m = &req->u.sign_begin;
    session_reset();
    if (m->n_inputs == 0 || m->n_inputs > OS_MAX_INPUTS || m->n_outputs == 0 || m->n_outputs > OS_MAX_OUTPUTS) {
        sign_fail(req, OS_ERR_TX_LIMITS, 0xFFFF);
        return;
    }
    if (m->version < 1 || m->version > 2) { sign_fail(req, OS_ERR_TX_LIMITS, 0xFFFF); return; }
    int rc = tx_sighasher_begin(&g_sess.hasher, m->version, m->locktime, m->n_inputs, m->n_outputs);
    if (rc != OS_OK) { sign_fail(req, rc, 0xFFFF); return; }
    g_sess.version = m->version;
    g_sess.locktime = m->locktime;
    g_sess.n_inputs = m->n_inputs;
    g_sess.n_outputs = m->n_outputs;
    g_sess.n_anchored = m->n_anchored;
    memcpy(g_sess.pending_root, g_state.nonce_root, 32);
    g_sess.phase = PHASE_INPUTS;
    send_success(req);
}

/* Input index spends prevout; proof is the host's proof for prevout's anchor key under the pending
 * root. Absence: an ordinary coin, unless it is input 0 of a transaction anchoring payouts, whose
 * entry is inserted here (before any payout proof, which the host builds on top of it). Presence:
 * the entry's count is kept for SIGN_FINISH's check; the root does not change (an entry is never
 * rewritten, so input 0 that already anchors payouts cannot anchor more: refused at FINISH). */
static int input_anchor(uint16_t index, const os_outpoint *prevout, const os_nonce_proof *proof) {
    uint8_t key[32], value[32];
    CHECK_OK(nonce_set_anchor_key(prevout, key));
    int rc = nonce_set_verify_member(g_sess.pending_root, key, proof->leaf_value, proof);
    if (rc == OS_OK) {
        CHECK_OK(nonce_set_anchor_count(proof->leaf_value, &g_sess.anchor_count[index]));
        if (index == 0 && g_sess.n_anchored > 0) g_sess.anchor_reused = 1;
        return OS_OK;
    }
    if (rc != OS_ERR_PROOF_KIND) return rc;
    if (index != 0 || g_sess.n_anchored == 0) return OS_OK;
    CHECK_OK(nonce_set_anchor_value(g_sess.n_anchored, value));
    return nonce_set_verify_insert(g_sess.pending_root, key, value, proof, g_sess.pending_root);
}

static void handle_sign_input(const os_msg *req) {
    const os_msg_sign_input *m = &req->u.sign_input;
    if (g_sess.phase != PHASE_INPUTS) { sign_fail(req, OS_ERR_MSG_UNEXPECTED, m->index); return; }
    if (m->index != g_sess.next_input) { sign_fail(req, OS_ERR_TX_ORDER, m->index); return; }
    if (m->script_type > OS_SCRIPT_P2WPKH) { sign_fail(req, OS_ERR_BAD_PATH, m->index); return; }
    /* A transaction spending one outpoint twice is invalid; refusing it also stops a host from
     * counting one input's amount twice towards the fee. */
    uint16_t i;
    for (i = 0; i < g_sess.next_input; i++) {
        if (g_sess.inputs[i].prevout.vout == m->prevout.vout &&
            memcmp(g_sess.inputs[i].prevout.txid, m->prevout.txid, 32) == 0) {
            sign_fail(req, OS_ERR_TX_ORDER, m->index);
            return;
        }
    }
    input_record *in = &g_sess.inputs[m->index];
    bip32_node node;
    uint8_t script_code[25];
    int rc = leaf_node(m->script_type, m->account, m->change, m->addr_index, &node);
    if (rc == OS_OK) {
        memcpy(in->pubkey, node.public_key, 33);
        rc = script_for_pubkey(m->script_type, node.public_key, g_sess.expected_script,
                               sizeof g_sess.expected_script, &g_sess.expected_script_len);
    }
    bip32_wipe(&node);
    if (rc == OS_OK) rc = script_code_for_pubkey(in->pubkey, script_code);
    if (rc == OS_OK) rc = tx_sighasher_add_input(&g_sess.hasher, m->index, &m->prevout, m->sequence,
                                                 script_code, sizeof script_code);
    if (rc == OS_OK) rc = tx_prev_init(&g_sess.prev, m->prev_tx_len, m->prevout.vout);
    if (rc == OS_OK) rc = input_anchor(m->index, &m->prevout, &m->anchor_proof);
    if (rc != OS_OK) { sign_fail(req, rc, m->index); return; }
    in->prevout = m->prevout;
    in->sequence = m->sequence;
    in->script_type = m->script_type;
    in->account = m->account;
    in->change = m->change;
    in->addr_index = m->addr_index;
    g_sess.prev_len = m->prev_tx_len;
    g_sess.prev_received = 0;
    g_sess.phase = PHASE_PREVTX;
    send_success(req);
}

static void handle_sign_prevtx(const os_msg *req) {
    const os_msg_sign_prevtx *m = &req->u.sign_prevtx;
    if (g_sess.phase != PHASE_PREVTX) { sign_fail(req, OS_ERR_MSG_UNEXPECTED, m->input_index); return; }
    if (m->input_index != g_sess.next_input || m->offset != g_sess.prev_received ||
        m->len > g_sess.prev_len - g_sess.prev_received) {
        sign_fail(req, OS_ERR_TX_ORDER, m->input_index);
        return;
    }
    int rc = tx_prev_feed(&g_sess.prev, m->data, m->len);
    if (rc != OS_OK) { sign_fail(req, rc, m->input_index); return; }
    g_sess.prev_received += m->len;
    if (g_sess.prev_received < g_sess.prev_len) { send_success(req); return; }

    /* The whole previous transaction is in: its txid, amount and script are now the device's own. */
    input_record *in = &g_sess.inputs[g_sess.next_input];
    uint8_t txid[32], script[TX_SCRIPT_CAPTURE_MAX];
    size_t script_len = 0;
    uint64_t amount = 0;
    rc = tx_prev_finish(&g_sess.prev, txid, &amount, script, &script_len);
    if (rc != OS_OK) { sign_fail(req, rc, m->input_index); return; }
    if (memcmp(txid, in->prevout.txid, 32) != 0) { sign_fail(req, OS_ERR_TX_PREV_TXID, m->input_index); return; }
    if (script_len != g_sess.expected_script_len || memcmp(script, g_sess.expected_script, script_len) != 0) {
        sign_fail(req, OS_ERR_TX_NOT_OURS, m->input_index);
        return;
    }
    if (amount == 0 || amount > OS_MAX_MONEY || g_sess.total_in + amount > OS_MAX_MONEY) {
        sign_fail(req, OS_ERR_TX_AMOUNT, m->input_index);
        return;
    }
    in->amount = amount;
    g_sess.total_in += amount;
    g_sess.next_input++;
    g_sess.phase = g_sess.next_input == g_sess.n_inputs ? PHASE_OUTPUTS : PHASE_INPUTS;
    send_success(req);
}

/* The index of the input spending op, or n_inputs when none does. */
static uint16_t input_spending(const os_outpoint *op) {
    uint16_t i;
    for (i = 0; i < g_sess.n_inputs; i++) {
        if (g_sess.inputs[i].prevout.vout == op->vout && memcmp(g_sess.inputs[i].prevout.txid, op->txid, 32) == 0)
            return i;
    }
    return g_sess.n_inputs;
}

static int spends_outpoint(const os_outpoint *op) { return input_spending(op) < g_sess.n_inputs; }

/* Records the refusal of a committed nonce in the log (I5), then answers with the anchor. */
static void refuse_committed(const os_msg *req, const os_msg_sign_output *m) {
    uint8_t payload[32 + 32 + 4 + 2 + 32], detail[32 + 32 + 4];
    memcpy(payload, m->nonce, 32);
    memcpy(payload + 32, m->anchor.txid, 32);
    payload[64] = (uint8_t)m->anchor.vout;
    payload[65] = (uint8_t)(m->anchor.vout >> 8);
    payload[66] = (uint8_t)(m->anchor.vout >> 16);
    payload[67] = (uint8_t)(m->anchor.vout >> 24);
    payload[68] = (uint8_t)m->index;
    payload[69] = (uint8_t)(m->index >> 8);
    /* hashPrevouts identifies which inputs the refused transaction tried to spend (all inputs are
     * in once outputs arrive, so it cannot fail here; zeros would mark it unknown if it did). */
    if (tx_sighasher_hash_prevouts(&g_sess.hasher, payload + 70) != OS_OK) memset(payload + 70, 0, 32);
    memcpy(detail, payload, sizeof detail);
    uint16_t index = m->index;
    session_reset();
    prepare_next();
    int rc = commit_with_entry(OS_LOG_REFUSE_COMMITTED, payload, sizeof payload);
    /* The refusal stands whether or not it could be logged; a failed log write is reported instead. */
    send_error(req, rc == OS_OK ? OS_ERR_NONCE_COMMITTED : rc, index, detail, sizeof detail);
}

/* ------------------------------------------------------------------ vouchers (issue 14) */

/* SIGN_VOUCHER: held for the next SIGN_OUTPUT, which must be the NEW payout it names. */
static void handle_sign_voucher(const os_msg *req) {
    const os_msg_sign_voucher *m = &req->u.sign_voucher;
    if (g_sess.phase != PHASE_OUTPUTS || g_sess.have_voucher) { sign_fail(req, OS_ERR_MSG_UNEXPECTED, m->index); return; }
    if (m->index != g_sess.next_output) { sign_fail(req, OS_ERR_TX_ORDER, m->index); return; }
    g_sess.voucher = m->voucher;
    g_sess.voucher_index = m->index;
    g_sess.have_voucher = 1;
    send_success(req);
}

/* Whether the held voucher allows the NEW payout m to script: authentic first (a registered issuer
 * signed it), then for this signer, network and nonce, unexpired, and the amount and destination
 * within it. Out: id: the voucher's id (zero when there is none). */
static int voucher_allows(const os_msg_sign_output *m, const uint8_t *script, size_t script_len, uint8_t id[32]) {
    const os_voucher *v = &g_sess.voucher;
    const crypto_schnorr_key *attestation;
    uint8_t self[32];
    uint8_t i, registered = 0;
    memset(id, 0, 32);
    if (!g_sess.have_voucher) return OS_ERR_VOUCHER_MISSING;
    VERIFY_CHECK(g_sess.voucher_index == m->index);
    CHECK_OK(os_voucher_id(v, id));
    for (i = 0; i < g_state.n_issuers; i++) registered |= (uint8_t)(memcmp(g_state.issuers[i], v->issuer, 32) == 0);
    if (!registered || crypto_schnorr_verify(v->issuer, id, v->sig) != OS_OK) return OS_ERR_VOUCHER_ISSUER;
    CHECK_OK(attestation_key(&g_state, &attestation));
    CHECK_OK(crypto_schnorr_key_xonly(attestation, self));
    if (memcmp(v->signer, self, 32) != 0 || v->network != g_state.network || memcmp(v->nonce, m->nonce, 32) != 0)
        return OS_ERR_VOUCHER_MISMATCH;
    /* The log only grows, and every signature the device releases appends to it: see
     * docs/DESIGN.md §8 for what the host can and cannot do with this clock. */
    if (g_state.log_seq >= v->expiry_seq) return OS_ERR_VOUCHER_EXPIRED;
    if (m->amount > v->amount) return OS_ERR_VOUCHER_AMOUNT;
    if ((v->flags & OS_VOUCHER_DESTINATION) &&
        (script_len != v->script_len || memcmp(script, v->script, script_len) != 0))
        return OS_ERR_VOUCHER_DESTINATION;
    return OS_OK;
}

/* Records a payout refused for its voucher (I5): reason, output, amount asked, nonce, voucher id
 * (zero when none came), hashPrevouts; then ends the session with the reason. */
static void refuse_voucher(const os_msg *req, const os_msg_sign_output *m, int reason, const uint8_t id[32]) {
    uint8_t payload[2 + 2 + 8 + 32 + 32 + 32];
    os_write_le16(payload, (uint16_t)reason);
    os_write_le16(payload + 2, m->index);
    os_write_le64(payload + 4, m->amount);
    memcpy(payload + 12, m->nonce, 32);
    memcpy(payload + 44, id, 32);
    if (tx_sighasher_hash_prevouts(&g_sess.hasher, payload + 76) != OS_OK) memset(payload + 76, 0, 32);
    uint16_t index = m->index;
    session_reset();
    prepare_next();
    int rc = commit_with_entry(OS_LOG_REFUSE_VOUCHER, payload, sizeof payload);
    send_error(req, rc == OS_OK ? reason : rc, index, NULL, 0);
}

/* ------------------------------------------------------------------ operator approvals (issue 14 part 2) */

/* Records a transaction refused for an approval or for the lack of a quorum (I5): reason,
 * approvals held (valid ones before this), tx digest, the approval's operator key and expiry_seq
 * (zero for a missing quorum); then ends the session with the reason. */
static void refuse_approval(const os_msg *req, int reason, const os_approval *a) {
    uint8_t payload[2 + 2 + 32 + 32 + 8];
    memset(payload, 0, sizeof payload);
    os_write_le16(payload, (uint16_t)reason);
    os_write_le16(payload + 2, g_sess.n_approvals);
    if (tx_sighasher_tx_digest(&g_sess.hasher, payload + 4) != OS_OK) memset(payload + 4, 0, 32);
    if (a != NULL) {
        memcpy(payload + 36, a->operator_key, 32);
        os_write_le64(payload + 68, a->expiry_seq);
    }
    session_reset();
    prepare_next();
    int rc = commit_with_entry(OS_LOG_REFUSE_APPROVAL, payload, sizeof payload);
    send_error(req, rc == OS_OK ? reason : rc, 0xFFFF, NULL, 0);
}

/* Whether approval a is a registered operator's, the first of that operator, unexpired, and signed
 * over THIS transaction's commitment on this signer. Registration first: a key the host made up
 * costs no signature check. */
static int approval_valid(const os_approval *a) {
    const crypto_schnorr_key *att;
    uint8_t signer[32], digest[32], msg[32];
    uint8_t i, registered = 0, seen = 0;
    for (i = 0; i < g_state.n_operators; i++) registered |= (uint8_t)(memcmp(g_state.operators[i], a->operator_key, 32) == 0);
    if (!registered) return OS_ERR_APPROVAL_OPERATOR;
    for (i = 0; i < g_sess.n_approvals; i++) seen |= (uint8_t)(memcmp(g_sess.approvers[i], a->operator_key, 32) == 0);
    if (seen) return OS_ERR_APPROVAL_DUPLICATE;
    /* distinct registered keys: a new one means fewer than n_operators were held (the arrays' bound) */
    VERIFY_CHECK(g_sess.n_approvals < g_state.n_operators && g_state.n_operators <= OS_MAX_OPERATORS);
    /* the log only runs forward: an approval lives while log_seq < expiry_seq (DESIGN.md §8) */
    if (g_state.log_seq >= a->expiry_seq) return OS_ERR_APPROVAL_EXPIRED;
    CHECK_OK(attestation_key(&g_state, &att));
    CHECK_OK(crypto_schnorr_key_xonly(att, signer));
    CHECK_OK(tx_sighasher_tx_digest(&g_sess.hasher, digest));
    CHECK_OK(os_approval_hash(digest, a->expiry_seq, signer, msg));
    if (crypto_schnorr_verify(a->operator_key, msg, a->sig) != OS_OK) return OS_ERR_APPROVAL_MISMATCH;
    return OS_OK;
}

/* SIGN_APPROVAL: after the last output (the transaction digest is then fixed), before SIGN_FINISH.
 * Every approval is checked as it arrives; one that fails ends the session, logged: a host that
 * forwards a bad approval is either broken or attacking, and neither should get to retry quietly. */
static void handle_sign_approval(const os_msg *req) {
    const os_approval *a = &req->u.sign_approval.approval;
    if (g_sess.phase != PHASE_READY) { sign_fail(req, OS_ERR_MSG_UNEXPECTED, 0xFFFF); return; }
    int rc = approval_valid(a);
    if (rc == OS_ERR_APPROVAL_OPERATOR || rc == OS_ERR_APPROVAL_DUPLICATE || rc == OS_ERR_APPROVAL_EXPIRED ||
        rc == OS_ERR_APPROVAL_MISMATCH) {
        refuse_approval(req, rc, a);
        return;
    }
    if (rc != OS_OK) { sign_fail(req, rc, 0xFFFF); return; }
    memcpy(g_sess.approvers[g_sess.n_approvals], a->operator_key, 32);
    g_sess.n_approvals++;
    send_success(req);
}

/* Whether this transaction needs the operators' quorum: its payouts total above the threshold. */
static int quorum_required(void) {
    return os_quorum_required(g_state.n_operators, g_state.quorum_threshold, g_sess.total_payout);
}

static void handle_sign_output(const os_msg *req) {
    const os_msg_sign_output *m = &req->u.sign_output;
    int rc;
    if (g_sess.phase != PHASE_OUTPUTS) { sign_fail(req, OS_ERR_MSG_UNEXPECTED, m->index); return; }
    if (m->index != g_sess.next_output) { sign_fail(req, OS_ERR_TX_ORDER, m->index); return; }
    if (m->amount == 0 || m->amount > OS_MAX_MONEY || g_sess.total_out + m->amount > OS_MAX_MONEY) {
        sign_fail(req, OS_ERR_TX_AMOUNT, m->index);
        return;
    }
    /* A voucher speaks only for the NEW payout it was sent before. */
    if (g_sess.have_voucher && (m->kind != OS_OUTPUT_PAYOUT || m->proof_kind != OS_PROOF_NEW)) {
        sign_fail(req, OS_ERR_MSG_UNEXPECTED, m->index);
        return;
    }
    uint8_t script[OS_MAX_PAYOUT_SCRIPT];
    size_t script_len = 0;
    if (m->kind == OS_OUTPUT_CHANGE) {
        bip32_node node;
        if (m->change_script_type != g_state.script_type) { sign_fail(req, OS_ERR_TX_CHANGE, m->index); return; }
        /* Change a wallet restored from the seed finds (docs/DECISIONS.md, "Change gap limit"):
         * account 0, index at most log_seq + CHANGE_GAP_LIMIT. Each transaction with change is a
         * SIGN entry, so a host numbering its change addresses in order never reaches the bound,
         * and a recovery that scans the change chain that far (the log says how far) finds all. */
        if (m->change_account != 0 || m->change_index > g_state.log_seq + CHANGE_GAP_LIMIT) {
            sign_fail(req, OS_ERR_TX_CHANGE, m->index);
            return;
        }
        rc = leaf_node(m->change_script_type, m->change_account, 1, m->change_index, &node);
        if (rc == OS_OK) rc = script_for_pubkey(m->change_script_type, node.public_key, script, sizeof script, &script_len);
        bip32_wipe(&node);
        if (rc != OS_OK) { sign_fail(req, rc == OS_ERR_BAD_PATH ? OS_ERR_TX_CHANGE : rc, m->index); return; }
    } else if (m->kind == OS_OUTPUT_PAYOUT) {
        script_kind kind = script_classify(m->script, m->script_len);
        if (kind == SCRIPT_KIND_OTHER) { sign_fail(req, OS_ERR_POLICY_DESTINATION, m->index); return; }
        memcpy(script, m->script, m->script_len);
        script_len = m->script_len;
        uint8_t key[32], value[32];
        rc = nonce_set_key(m->nonce, key);
        if (rc != OS_OK) { sign_fail(req, rc, m->index); return; }
        /* Strictly increasing keys: one nonce can never appear twice in one transaction. */
        if (g_sess.have_last_key && memcmp(key, g_sess.last_key, 32) <= 0) {
            sign_fail(req, OS_ERR_NONCE_ORDER, m->index);
            return;
        }
        if (m->proof_kind == OS_PROOF_NEW) {
            uint8_t new_root[32], voucher_id[32] = { 0 };
            if (g_sess.have_voucher || (g_state.voucher_flags & OS_VOUCHERS_REQUIRED)) {
                rc = voucher_allows(m, script, script_len, voucher_id);
                if (rc != OS_OK) { refuse_voucher(req, m, rc, voucher_id); return; }
            }
            rc = nonce_set_leaf_value(&g_sess.inputs[0].prevout, script, script_len, m->amount, value);
            if (rc == OS_OK) rc = nonce_set_verify_insert(g_sess.pending_root, key, value, &m->proof, new_root);
            if (rc == OS_ERR_PROOF_KIND) {
                /* A valid proof that the nonce is committed, offered as new: the host's ledger lost
                 * it. The anchor is not known from a bare presence proof, so none is reported. */
                os_msg_sign_output unknown_anchor = *m;
                memset(&unknown_anchor.anchor, 0, sizeof unknown_anchor.anchor);
                refuse_committed(req, &unknown_anchor);
                return;
            }
            if (rc != OS_OK) { sign_fail(req, rc, m->index); return; }
            memcpy(g_sess.pending_root, new_root, 32);
            g_sess.n_new++;
            g_sess.new_payout_sum += m->amount;
            if (g_sess.have_voucher) {
                /* vouchers_digest = SHA256(vouchers_digest | id), in output order */
                uint8_t chain[64];
                memcpy(chain, g_sess.vouchers_digest, 32);
                memcpy(chain + 32, voucher_id, 32);
                crypto_sha256(chain, sizeof chain, g_sess.vouchers_digest);
                g_sess.n_vouchers++;
                g_sess.have_voucher = 0;
            }
        } else if (m->proof_kind == OS_PROOF_REPLACE) {
            rc = nonce_set_leaf_value(&m->anchor, script, script_len, m->amount, value);
            if (rc == OS_OK) rc = nonce_set_verify_member(g_sess.pending_root, key, value, &m->proof);
            if (rc != OS_OK) { sign_fail(req, rc, m->index); return; }
            /* The committed payout, proven. Signing again is safe only if this transaction
             * conflicts with every earlier one for the nonce: all of them spend the anchor. */
            uint16_t at = input_spending(&m->anchor);
            if (at == g_sess.n_inputs) { refuse_committed(req, m); return; }
            g_sess.anchor_replaced[at]++;
            g_sess.n_replaced++;
        } else if (m->proof_kind == OS_PROOF_REANCHOR) {
            /* A committed payout whose anchor another transaction spent can never confirm as
             * signed: its leaf moves to this transaction's input 0, once the operator approved
             * (it is the operator who checks that the old anchor is spent, which the device
             * cannot see). A transaction that still spends the old anchor is a replacement. */
            uint8_t new_value[32], new_root[32];
            if (g_sess.n_reanchored != 0 || spends_outpoint(&m->anchor)) {
                sign_fail(req, OS_ERR_PROOF_KIND, m->index);
                return;
            }
            rc = nonce_set_leaf_value(&m->anchor, script, script_len, m->amount, value);
            if (rc == OS_OK)
                rc = nonce_set_leaf_value(&g_sess.inputs[0].prevout, script, script_len, m->amount, new_value);
            if (rc == OS_OK) rc = nonce_set_verify_update(g_sess.pending_root, key, value, new_value, &m->proof, new_root);
            if (rc != OS_OK) { sign_fail(req, rc, m->index); return; }
            memcpy(g_sess.pending_root, new_root, 32);
            g_sess.n_reanchored = 1;
            memcpy(g_sess.reanchor_nonce, m->nonce, 32);
            g_sess.reanchor_old = m->anchor;
            g_sess.reanchor_payout = g_sess.n_payouts;
            g_sess.n_replaced++;
        } else {
            /* the codec admits no other kind; never sign a payout no proof covered */
            sign_fail(req, OS_ERR_MSG_MALFORMED, m->index);
            return;
        }
        memcpy(g_sess.last_key, key, 32);
        g_sess.have_last_key = 1;
        g_sess.total_payout += m->amount;
        if (m->amount > g_sess.max_payout) g_sess.max_payout = m->amount;
        /* n_outputs <= OS_MAX_OUTPUTS bounds it; checked since it indexes the arrays */
        if (g_sess.n_payouts >= OS_MAX_OUTPUTS) { sign_fail(req, OS_ERR_INTERNAL, m->index); return; }
        g_sess.payout_amount[g_sess.n_payouts] = m->amount;
        memcpy(g_sess.payout_script[g_sess.n_payouts], script, script_len);
        g_sess.payout_script_len[g_sess.n_payouts] = (uint8_t)script_len;
        g_sess.n_payouts++;
    } else {
        sign_fail(req, OS_ERR_MSG_MALFORMED, m->index);
        return;
    }
    if (m->amount < policy_dust_threshold(script_classify(script, script_len))) {
        sign_fail(req, OS_ERR_TX_DUST, m->index);
        return;
    }
    rc = tx_sighasher_add_output(&g_sess.hasher, m->amount, script, script_len);
    if (rc != OS_OK) { sign_fail(req, rc, m->index); return; }
    g_sess.total_out += m->amount;
    g_sess.output_script_bytes += (uint32_t)script_len;
    g_sess.next_output++;
    if (g_sess.next_output == g_sess.n_outputs) g_sess.phase = PHASE_READY;
    send_success(req);
}

static int commit_signing(int approved) {
    uint8_t payload[32 * 3 + 8 + 8 + 2 + 2 + 1];
    uint8_t *p = payload;
    /* hashPrevouts (a REFUSE_COMMITTED entry names the same inputs by it) and the transaction digest
     * (proto/tx_digest.h): version, locktime, sequences, inputs and outputs, the exact transaction
     * an auditor finds on chain. Both are known before any signature exists. */
    CHECK_OK(tx_sighasher_hash_prevouts(&g_sess.hasher, p));
    CHECK_OK(tx_sighasher_tx_digest(&g_sess.hasher, p + 32));
    p += 64;
    memcpy(p, g_sess.pending_root, 32);
    p += 32;
    uint64_t v[2] = { g_sess.fee, g_sess.total_payout };
    int i, b;
    for (i = 0; i < 2; i++)
        for (b = 0; b < 8; b++) *p++ = (uint8_t)(v[i] >> (8 * b));
    *p++ = (uint8_t)g_sess.n_new;
    *p++ = (uint8_t)(g_sess.n_new >> 8);
    *p++ = (uint8_t)g_sess.n_replaced;
    *p++ = (uint8_t)(g_sess.n_replaced >> 8);
    *p++ = (uint8_t)(approved ? 1 : 0);
    VERIFY_CHECK((size_t)(p - payload) == sizeof payload);

    if (g_sess.n_vouchers > 0) {
        /* The vouchers the new payouts were accepted under: an entry of its own before the SIGN
         * entry (which has no room left), naming the same transaction digest: tx_digest, count,
         * vouchers_digest. A power cut between the two leaves the vouchers logged and nothing
         * signed. */
        uint8_t vouchers[32 + 2 + 32];
        memcpy(vouchers, payload + 32, 32);
        os_write_le16(vouchers + 32, g_sess.n_vouchers);
        memcpy(vouchers + 34, g_sess.vouchers_digest, 32);
        prepare_next();
        CHECK_OK(commit_with_entry(OS_LOG_VOUCHERS, vouchers, sizeof vouchers));
    }
    if (g_sess.n_approvals > 0) {
        /* The operators who approved: an entry of its own before the SIGN entry, like the
         * vouchers': tx_digest, count, their keys (zero-padded to OS_MAX_OPERATORS). */
        uint8_t approvals[32 + 1 + OS_MAX_OPERATORS * 32];
        _Static_assert(sizeof approvals <= OS_LOG_PAYLOAD_MAX, "the approvers fit one entry");
        memset(approvals, 0, sizeof approvals);
        memcpy(approvals, payload + 32, 32);
        approvals[32] = g_sess.n_approvals;
        memcpy(approvals + 33, g_sess.approvers, 32u * g_sess.n_approvals);
        prepare_next();
        CHECK_OK(commit_with_entry(OS_LOG_APPROVALS, approvals, sizeof approvals));
    }
    if (g_sess.n_reanchored) {
        /* The operator's re-anchor approval is an entry of its own, before the SIGN entry that
         * commits the moved leaf: what 4, approved 1, nonce, old anchor, new anchor. A power cut
         * between the two leaves the approval logged and nothing signed. */
        uint8_t reanchor[2 + 32 + 36 + 36];
        reanchor[0] = 4;
        reanchor[1] = 1;
        memcpy(reanchor + 2, g_sess.reanchor_nonce, 32);
        memcpy(reanchor + 34, g_sess.reanchor_old.txid, 32);
        memcpy(reanchor + 70, g_sess.inputs[0].prevout.txid, 32);
        for (i = 0; i < 4; i++) {
            reanchor[66 + i] = (uint8_t)(g_sess.reanchor_old.vout >> (8 * i));
            reanchor[102 + i] = (uint8_t)(g_sess.inputs[0].prevout.vout >> (8 * i));
        }
        prepare_next();
        CHECK_OK(commit_with_entry(OS_LOG_APPROVAL, reanchor, sizeof reanchor));
    }
    uint64_t now = board_millis();
    prepare_next();
    memcpy(g_next.nonce_root, g_sess.pending_root, 32);
    g_next.velocity_spent = policy_velocity_refill(&g_state.policy, g_state.velocity_spent, now - g_velocity_ms);
    /* both terms <= OS_MAX_MONEY (< 2^54): no overflow */
    uint64_t counted = g_sess.new_payout_sum + g_sess.fee;
    g_next.velocity_spent = g_next.velocity_spent + counted > OS_MAX_MONEY ? OS_MAX_MONEY
                                                                          : g_next.velocity_spent + counted;
    g_next.fee_spent = policy_fee_refill(&g_state.policy, g_state.fee_spent, now - g_velocity_ms);
    g_next.fee_spent = g_next.fee_spent + g_sess.fee > OS_MAX_MONEY ? OS_MAX_MONEY : g_next.fee_spent + g_sess.fee;
    CHECK_OK(commit_with_entry(OS_LOG_SIGN, payload, sizeof payload));
    g_velocity_ms = now;
    g_sess.log_seq = g_state.log_seq;
    g_sess.phase = PHASE_DONE;
    return OS_OK;
}

static void send_sign_done(const os_msg *req) {
    os_msg reply;
    reply_simple(req, OS_MSG_SIGN_DONE, &reply);
    reply.u.sign_done.n_signatures = g_sess.n_inputs;
    reply.u.sign_done.log_seq = g_sess.log_seq;
    memcpy(reply.u.sign_done.nonce_root, g_state.nonce_root, 32);
    send_reply(&reply);
}

/* The page naming the operators who approved, when any did. */
static uint16_t approvers_pages(void) { return g_sess.n_approvals > 0 ? 1u : 0u; }

/* What the operator approves: SIGN_SUMMARY_PAGES pages (why asked; totals, fee and fee rate),
 * the re-anchor page, the approvers page, then one page per payout with its amount and full
 * address. */
static void show_sign_page(uint16_t page) {
    screen_text t;
    char v[32];
    text_reset(&t);
    text_add_title(&t, "Sign", (uint32_t)page + 1, g_pend.pages);
    if (page == 0) {
        text_add(&t, " asked:");   /* on the title row: six reasons and the prompt fill the 8 rows */
        if (g_sess.needs & POLICY_NEEDS_PAYOUT_CAP) text_add(&t, "\na payout > payout cap");
        if (g_sess.needs & POLICY_NEEDS_VELOCITY) text_add(&t, "\nover velocity budget");
        if (g_sess.needs & POLICY_NEEDS_FEE) text_add(&t, "\nfee > fee cap");
        if (g_sess.needs & POLICY_NEEDS_FEE_RATE) text_add(&t, "\nfee rate > its cap");
        if (g_sess.needs & POLICY_NEEDS_FEE_BUDGET) text_add(&t, "\nover fee budget");
        if (g_sess.needs & POLICY_NEEDS_REANCHOR) text_add(&t, "\nRE-ANCHOR of a payout");
        /* the approvers' page names the quorum; here only when it is the sole reason (seven
         * lines and the prompt would not fit the 8 rows) */
        if (g_sess.needs == POLICY_NEEDS_QUORUM) text_add(&t, "\ntotal > quorum limit");
        text_add(&t, "\napprove = next");
    } else if (page == 1) {
        text_add(&t, "\npayouts: ");
        text_add_u64(&t, g_sess.n_payouts);
        text_add(&t, "\ntotal, MONA:");
        text_add_line(&t, " ", amount_text(g_sess.total_payout, v));
        text_add(&t, "\nfee, MONA:");
        text_add_line(&t, " ", amount_text(g_sess.fee, v));
        text_add(&t, "\nfee rate sat/kvB:");
        /* rounded up, as policy_evaluate compares it */
        text_add_line(&t, " ", number_text((g_sess.fee * 1000u + g_sess.vsize - 1) / g_sess.vsize, v));
    } else if (page == SIGN_SUMMARY_PAGES && g_sess.n_reanchored) {
        /* The old anchor in display order (txid reversed), for the operator to look up. */
        static const char hex[] = "0123456789abcdef";
        char txid[65];
        int b;
        for (b = 0; b < 32; b++) {
            txid[2 * b] = hex[g_sess.reanchor_old.txid[31 - b] >> 4];
            txid[2 * b + 1] = hex[g_sess.reanchor_old.txid[31 - b] & 15];
        }
        txid[64] = 0;
        text_add(&t, "\nre-anchor payout ");
        text_add_u64(&t, (uint64_t)g_sess.reanchor_payout + 1);
        text_add(&t, ";\nits anchor, spent?\n");
        text_add_wrapped(&t, txid);
        text_add(&t, ":");
        text_add_u64(&t, g_sess.reanchor_old.vout);
    } else if (page == SIGN_SUMMARY_PAGES + g_sess.n_reanchored && approvers_pages() > 0) {
        uint8_t i;
        if (g_sess.needs & POLICY_NEEDS_QUORUM) text_add(&t, "\ntotal > quorum limit");
        text_add(&t, "\napproved by ");
        text_add_u64(&t, g_sess.n_approvals);
        text_add(&t, " of ");
        text_add_u64(&t, g_state.n_operators);
        text_add(&t, ":");
        for (i = 0; i < g_sess.n_approvals; i++) text_add_line(&t, " ", issuer_fingerprint(g_sess.approvers[i], v));
    } else {
        uint16_t i = (uint16_t)(page - SIGN_SUMMARY_PAGES - g_sess.n_reanchored - approvers_pages());
        char addr[OS_MAX_ADDRESS + 1];
        text_reset(&t);
        text_add_title(&t, "Payout", (uint32_t)i + 1, g_sess.n_payouts);
        text_add(&t, ", MONA:");
        text_add_line(&t, " ", amount_text(g_sess.payout_amount[i], v));
        text_add(&t, "\nto:\n");
        /* Destinations were classified on arrival; one that has no address text is shown as its
         * failure rather than hidden. */
        if (address_from_script(g_state.network, g_sess.payout_script[i], g_sess.payout_script_len[i], addr,
                                sizeof addr) == OS_OK) {
            text_add_wrapped(&t, addr);
        } else {
            text_add(&t, "(no address form)");
        }
        text_add(&t, page + 1 == g_pend.pages ? "\napprove = sign" : "\napprove = next");
    }
    show(&t);
}

/* Records the refusal of a transaction spending input `index`, the anchor of committed payouts it
 * does not all replace (I5), then answers ANCHOR_SPENT. Payload: anchor txid, vout u32, input u16,
 * anchored u16 (payouts the entry counts), replaced u16 (of them, replaced here), new u16 (payouts
 * the transaction would anchor at input 0), hash_prevouts. */
static void refuse_anchor(const os_msg *req, uint16_t index) {
    uint8_t payload[32 + 4 + 2 * 4 + 32];
    const os_outpoint *anchor = &g_sess.inputs[index].prevout;
    uint16_t counts[4] = { index, g_sess.anchor_count[index], g_sess.anchor_replaced[index], g_sess.n_anchored };
    int i;
    memcpy(payload, anchor->txid, 32);
    for (i = 0; i < 4; i++) payload[32 + i] = (uint8_t)(anchor->vout >> (8 * i));
    for (i = 0; i < 4; i++) {
        payload[36 + 2 * i] = (uint8_t)counts[i];
        payload[37 + 2 * i] = (uint8_t)(counts[i] >> 8);
    }
    if (tx_sighasher_hash_prevouts(&g_sess.hasher, payload + 44) != OS_OK) memset(payload + 44, 0, 32);
    session_reset();
    prepare_next();
    int rc = commit_with_entry(OS_LOG_REFUSE_ANCHOR, payload, sizeof payload);
    send_error(req, rc == OS_OK ? OS_ERR_ANCHOR_SPENT : rc, index, NULL, 0);
}

/* The first input that anchors committed payouts this transaction does not exactly replace, or
 * n_inputs. Each replaced payout was proven a member whose leaf names its anchor, and payout keys
 * strictly increase, so `count` REPLACE outputs anchored at an input are all of its payouts
 * (docs/DESIGN.md §3). An input without an entry (count 0) anchors nothing the device committed. */
static uint16_t anchor_not_replaced(void) {
    uint16_t i;
    for (i = 0; i < g_sess.n_inputs; i++) {
        if (g_sess.anchor_count[i] == 0) continue;
        if (g_sess.anchor_replaced[i] != g_sess.anchor_count[i] || (i == 0 && g_sess.anchor_reused)) return i;
    }
    return g_sess.n_inputs;
}

static void handle_sign_finish(const os_msg *req) {
    if (g_sess.phase != PHASE_READY) { sign_fail(req, OS_ERR_MSG_UNEXPECTED, 0xFFFF); return; }
    /* The entry inserted at input 0 counted n_anchored payouts: it must be the truth. */
    if (g_sess.n_new + g_sess.n_reanchored != g_sess.n_anchored) { sign_fail(req, OS_ERR_TX_ORDER, 0xFFFF); return; }
    uint16_t spent = anchor_not_replaced();
    if (spent != g_sess.n_inputs) { refuse_anchor(req, spent); return; }
    if (g_sess.total_out > g_sess.total_in) { sign_fail(req, OS_ERR_TX_FEE_NEGATIVE, 0xFFFF); return; }
    g_sess.fee = g_sess.total_in - g_sess.total_out;
    uint16_t n_type[3] = { 0, 0, 0 };
    uint16_t i;
    for (i = 0; i < g_sess.n_inputs; i++) n_type[g_sess.inputs[i].script_type]++;
    uint32_t vsize = os_tx_vsize_max(n_type[OS_SCRIPT_P2PKH], n_type[OS_SCRIPT_P2SH_P2WPKH],
                                     n_type[OS_SCRIPT_P2WPKH], g_sess.n_outputs, g_sess.output_script_bytes);
    g_sess.vsize = vsize;
    /* The fee leaves the wallet like a payout: it counts toward the velocity budget, and toward the
     * fee budget of its own, so fees of consolidations (no payouts, no operator otherwise) are
     * bounded too. */
    uint64_t fee_spent = policy_fee_refill(&g_state.policy, g_state.fee_spent, board_millis() - g_velocity_ms);
    g_sess.needs = policy_evaluate(&g_state.policy, g_sess.max_payout, g_sess.new_payout_sum + g_sess.fee,
                                   velocity_now(), g_sess.fee, fee_spent, vsize);
    if (g_sess.n_reanchored) g_sess.needs |= POLICY_NEEDS_REANCHOR;
    int rc = audit_log_can_append(&g_state);
    if (rc != OS_OK) { sign_fail(req, rc, 0xFFFF); return; }
    if (quorum_required()) {
        if (g_sess.n_approvals < g_state.quorum_k) { refuse_approval(req, OS_ERR_QUORUM_MISSING, NULL); return; }
        /* the quorum adds to the operator's press, never replaces it */
        g_sess.needs |= POLICY_NEEDS_QUORUM;
    }
    if (g_sess.needs) {
        pending_reset();
        g_sess.phase = PHASE_AWAIT_OPERATOR;
        rc = open_prompt(PENDING_SIGN, (uint16_t)(SIGN_SUMMARY_PAGES + g_sess.n_reanchored + approvers_pages() +
                                                  g_sess.n_payouts));
        if (rc != OS_OK) { pending_reset(); sign_fail(req, rc, 0xFFFF); return; }
        send_pending(req);
        return;
    }
    rc = commit_signing(0);
    if (rc != OS_OK) { sign_fail(req, rc, 0xFFFF); return; }
    send_sign_done(req);
}

static void handle_sign_get_sigs(const os_msg *req) {
    uint16_t start = req->u.sign_get_sigs.start;
    if (g_sess.phase != PHASE_DONE) { send_error(req, OS_ERR_MSG_UNEXPECTED, 0xFFFF, NULL, 0); return; }
    if (start >= g_sess.n_inputs) { send_error(req, OS_ERR_ARG, start, NULL, 0); return; }
    uint16_t count = (uint16_t)(g_sess.n_inputs - start);
    if (count > OS_SIGS_PER_MESSAGE) count = OS_SIGS_PER_MESSAGE;
    size_t off = 0;
    uint16_t i;
    for (i = start; i < start + count; i++) {
        const input_record *in = &g_sess.inputs[i];
        uint8_t sighash[32], script_code[25], der[72];
        size_t der_len = sizeof der;
        uint8_t key[32];
        int rc = script_code_for_pubkey(in->pubkey, script_code);
        if (rc == OS_OK) {
            if (in->script_type == OS_SCRIPT_P2PKH)
                rc = tx_sighasher_legacy(&g_sess.hasher, i, SIGHASH_ALL, sighash);
            else
                rc = tx_sighasher_bip143(&g_sess.hasher, &in->prevout, script_code, sizeof script_code, in->amount,
                                         in->sequence, SIGHASH_ALL, sighash);
        }
        if (rc == OS_OK) rc = leaf_private_key(in->script_type, in->account, in->change, in->addr_index, key);
        /* The signature is checked against in->pubkey, the key whose script the previous transaction
         * paid: a key that is not its private key fails here (OS_ERR_INTERNAL), as does a fault. */
        if (rc == OS_OK) rc = crypto_ecdsa_sign(key, in->pubkey, sighash, der, &der_len);
        crypto_wipe(key, sizeof key);
        if (rc != OS_OK) { send_error(req, rc, i, NULL, 0); return; }
        g_records[off++] = (uint8_t)(der_len + 1);
        memcpy(g_records + off, der, der_len);
        off += der_len;
        g_records[off++] = (uint8_t)SIGHASH_ALL;
        memcpy(g_records + off, in->pubkey, 33);
        off += 33;
    }
    os_msg reply;
    reply_simple(req, OS_MSG_SIGNATURES, &reply);
    reply.u.signatures.start = start;
    reply.u.signatures.count = count;
    reply.u.signatures.records = g_records;
    reply.u.signatures.records_len = (uint16_t)off;
    send_reply(&reply);
}

/* ------------------------------------------------------------------ operator decisions */

/* What an approval of the open prompt approves, as a hash: the transaction digest, the policy
 * (old and new), every setup field, the address shown. Computed when the prompt opens and again
 * when the approval is acted on; the two must match, so an approval can only ever commit what
 * its screens showed. */
static int prompt_subject(uint8_t out[32]) {
    uint8_t buf[4 + OS_POLICY_BYTES * 2 + OS_MAX_MNEMONIC];
    size_t n = 0;
    switch (g_pend.kind) {
    case PENDING_SIGN:
        VERIFY_CHECK(g_sess.phase == PHASE_AWAIT_OPERATOR);
        /* the transaction digest (proto/tx_digest.h), the one the SIGN entry records */
        return tx_sighasher_tx_digest(&g_sess.hasher, out);
    case PENDING_POLICY:
        CHECK_OK(os_policy_encode(&g_state.policy, buf));
        CHECK_OK(os_policy_encode(&g_pend.policy, buf + OS_POLICY_BYTES));
        n = 2 * OS_POLICY_BYTES;
        break;
    case PENDING_INIT_WORDS:
    case PENDING_INIT_RESTORE:
        buf[0] = g_pend.network;
        buf[1] = g_pend.script_type;
        buf[2] = g_pend.restore;
        buf[3] = g_pend.word_count;
        CHECK_OK(os_policy_encode(&g_pend.policy, buf + 4));
        VERIFY_CHECK(g_pend.mnemonic_len <= OS_MAX_MNEMONIC);
        memcpy(buf + 4 + OS_POLICY_BYTES, g_pend.mnemonic, g_pend.mnemonic_len);
        n = 4 + OS_POLICY_BYTES + g_pend.mnemonic_len;
        break;
    case PENDING_ADDRESS:
        VERIFY_CHECK(g_pend.address.len <= OS_MAX_ADDRESS);
        memcpy(buf, g_pend.address.text, g_pend.address.len);
        n = g_pend.address.len;
        break;
    case PENDING_WIPE:
        buf[0] = PENDING_WIPE;
        n = 1;
        break;
    case PENDING_NONCE_RESET:
        nonce_reset_bytes(&g_pend.nonce_reset, buf);
        n = OS_NONCE_RESET_BYTES;
        break;
    case PENDING_ISSUERS:
        /* old set, then new: flags, count, keys (zero-padded), as the screens show them */
        VERIFY_CHECK(sizeof buf >= 2 * (2 + sizeof g_state.issuers));
        buf[0] = g_state.voucher_flags;
        buf[1] = g_state.n_issuers;
        memcpy(buf + 2, g_state.issuers, sizeof g_state.issuers);
        n = 2 + sizeof g_state.issuers;
        buf[n] = g_pend.voucher_flags;
        buf[n + 1] = g_pend.n_issuers;
        memcpy(buf + n + 2, g_pend.issuers, sizeof g_pend.issuers);
        n += 2 + sizeof g_pend.issuers;
        break;
    case PENDING_OPERATORS: {
        /* old set, then new: k, count, threshold, keys (zero-padded), as the screens show them */
        const size_t one = 2 + 8 + sizeof g_state.operators;
        VERIFY_CHECK(sizeof buf >= 2 * one);
        buf[0] = g_state.quorum_k;
        buf[1] = g_state.n_operators;
        os_write_le64(buf + 2, g_state.quorum_threshold);
        memcpy(buf + 10, g_state.operators, sizeof g_state.operators);
        buf[one] = g_pend.quorum_k;
        buf[one + 1] = g_pend.n_operators;
        os_write_le64(buf + one + 2, g_pend.quorum_threshold);
        memcpy(buf + one + 10, g_pend.operators, sizeof g_pend.operators);
        n = 2 * one;
        break;
    }
    default:
        return OS_ERR_INTERNAL;
    }
    crypto_sha256(buf, n, out);
    crypto_wipe(buf, sizeof buf);
    return OS_OK;
}

static void show_prompt_page(void) {
    switch (g_pend.kind) {
    case PENDING_INIT_WORDS:
        if (g_pend.page < word_pages()) show_words_page();
        else show_setup_page((uint16_t)(g_pend.page - word_pages()));
        break;
    case PENDING_INIT_RESTORE: show_setup_page(g_pend.page); break;
    case PENDING_ADDRESS: show_address_page(); break;
    case PENDING_WIPE: show_wipe_page(); break;
    case PENDING_POLICY: show_policy_page(g_pend.page); break;
    case PENDING_SIGN: show_sign_page(g_pend.page); break;
    case PENDING_NONCE_RESET: show_nonce_reset_page(g_pend.page); break;
    case PENDING_ISSUERS: show_issuers_page(g_pend.page); break;
    case PENDING_OPERATORS: show_operators_page(g_pend.page); break;
    default: show_idle(); break;
    }
}

/* Opens an operator prompt whose fields (g_pend, or the session for PENDING_SIGN) are filled in:
 * binds it to its subject and shows its first page. */
static int open_prompt(pending_kind kind, uint16_t pages) {
    VERIFY_CHECK(pages >= 1);
    g_pend.kind = kind;
    g_pend.page = 0;
    g_pend.pages = pages;
    g_pend.decision = BOARD_BUTTON_NONE;
    CHECK_OK(prompt_subject(g_pend.subject));
    show_prompt_page();
    return OS_OK;
}

/* A press, as the board reports it. It counts only after the screen has been shown for
 * BOARD_PRESS_SETTLE_MS (board.h); approve on any page but the last shows the next page, so an
 * approval is given on the last page, after every page was shown. */
static void operator_pressed(board_button b) {
    if (g_pend.kind == PENDING_NONE || g_pend.decision != BOARD_BUTTON_NONE) return;
    if (board_millis() - g_shown_ms < BOARD_PRESS_SETTLE_MS) return;
    if (b == BOARD_BUTTON_APPROVE && g_pend.page + 1 < g_pend.pages) {
        g_pend.page++;
        show_prompt_page();
        return;
    }
    g_pend.decision = b;
    screen_text t;
    text_reset(&t);
    text_add(&t, b == BOARD_BUTTON_APPROVE ? "approved\nwaiting for host" : "rejected");
    show(&t);
}

static void handle_poll(const os_msg *req) {
    if (g_pend.kind == PENDING_NONE) { send_error(req, OS_ERR_NO_PENDING, 0xFFFF, NULL, 0); return; }
    board_button decision = g_pend.decision;
    g_pend.decision = BOARD_BUTTON_NONE;
    if (decision == BOARD_BUTTON_NONE) { send_pending(req); return; }

    pending_kind kind = g_pend.kind;
    if (decision == BOARD_BUTTON_REJECT) {
        /* A rejection of what would have changed the durable state is an entry of its own:
         * what (1 sign, 2 policy, 3 wipe, 5 nonce reset, 6 issuers, 7 operators), approved 0, and its subject (a payout: the inputs it
         * would have spent, hashPrevouts; a policy or wipe: the prompt's subject hash). */
        uint8_t payload[2 + 32];
        payload[0] = kind == PENDING_SIGN ? 1 : kind == PENDING_POLICY ? 2 : kind == PENDING_WIPE ? 3
                   : kind == PENDING_NONCE_RESET ? 5 : kind == PENDING_ISSUERS ? 6
                   : kind == PENDING_OPERATORS ? 7 : 0;
        payload[1] = 0;
        if (kind == PENDING_SIGN) {
            if (tx_sighasher_hash_prevouts(&g_sess.hasher, payload + 2) != OS_OK) memset(payload + 2, 0, 32);
        } else {
            memcpy(payload + 2, g_pend.subject, 32);
        }
        session_reset();
        if (payload[0] != 0 && g_boot_status == OS_OK && g_state.initialized) {
            prepare_next();
            (void)commit_with_entry(OS_LOG_APPROVAL, payload, sizeof payload);
        }
        end_all();
        send_error(req, OS_ERR_USER_REJECTED, 0xFFFF, NULL, 0);
        return;
    }
    /* approved: only what the screens showed */
    uint8_t subject[32];
    int rc = prompt_subject(subject);
    if (rc == OS_OK && memcmp(subject, g_pend.subject, 32) != 0) rc = OS_ERR_INTERNAL;
    if (rc != OS_OK) {
        end_all();
        show_idle();
        send_error(req, rc, 0xFFFF, NULL, 0);
        return;
    }
    switch (kind) {
    case PENDING_INIT_WORDS:
    case PENDING_INIT_RESTORE:
        rc = finish_init();
        break;
    case PENDING_ADDRESS: {
        os_msg reply;
        reply_simple(req, OS_MSG_ADDRESS, &reply);
        reply.u.address = g_pend.address;
        pending_reset();
        show_idle();
        send_reply(&reply);
        return;
    }
    case PENDING_WIPE:
        rc = wipe_with_entry();
        if (rc != OS_OK) break;
        rc = storage_wipe();
        memset(&g_state, 0, sizeof g_state);
        g_state_seq = 0;
        g_boot_status = rc == OS_OK ? OS_OK : rc;
        break;
    case PENDING_POLICY:
        rc = finish_policy();
        break;
    case PENDING_NONCE_RESET:
        rc = finish_nonce_reset();
        break;
    case PENDING_ISSUERS:
        rc = finish_issuers();
        break;
    case PENDING_OPERATORS:
        rc = finish_operators();
        break;
    case PENDING_SIGN:
        pending_reset();
        rc = commit_signing(1);
        if (rc != OS_OK) { sign_fail(req, rc, 0xFFFF); show_idle(); return; }
        show_idle();
        send_sign_done(req);
        return;
    default:
        rc = OS_ERR_INTERNAL;
        break;
    }
    pending_reset();
    keys_forget();
    show_idle();
    if (rc != OS_OK) { send_error(req, rc, 0xFFFF, NULL, 0); return; }
    send_success(req);
}

/* ------------------------------------------------------------------ dispatch */

static void dispatch(const os_msg *req) {
    if (req->type == OS_MSG_GET_INFO && g_boot_status == OS_OK) { handle_get_info(req); return; }
    if (req->type == OS_MSG_CANCEL) { end_all(); send_success(req); return; }
    if (req->type == OS_MSG_POLL) { handle_poll(req); return; }
    if (g_pend.kind != PENDING_NONE) { send_error(req, OS_ERR_BUSY, 0xFFFF, NULL, 0); return; }
    if (g_boot_status != OS_OK) {
        /* Fail closed: the only way forward from a corrupt store is an operator-confirmed wipe. */
        if (req->type == OS_MSG_WIPE) { handle_wipe(req); return; }
        send_error(req, g_boot_status, 0xFFFF, NULL, 0);
        return;
    }
    if (req->type == OS_MSG_INIT_DEVICE) { handle_init_device(req); return; }
    if (req->type == OS_MSG_WIPE) { handle_wipe(req); return; }
    if (!g_state.initialized && req->type == OS_MSG_LOG_READ && g_wiped.valid) { handle_log_read(req); return; }
    if (!g_state.initialized) { send_error(req, OS_ERR_NOT_INITIALIZED, 0xFFFF, NULL, 0); return; }
    switch (req->type) {
    case OS_MSG_GET_XPUB: handle_get_xpub(req); break;
    case OS_MSG_GET_ADDRESS: handle_get_address(req); break;
    case OS_MSG_SET_POLICY: handle_set_policy(req); break;
    case OS_MSG_LOG_READ: handle_log_read(req); break;
    case OS_MSG_LOG_ACK: handle_log_ack(req); break;
    case OS_MSG_NONCE_RESET: handle_nonce_reset(req); break;
    case OS_MSG_SIGN_BEGIN: handle_sign_begin(req); break;
    case OS_MSG_SIGN_INPUT: handle_sign_input(req); break;
    case OS_MSG_SIGN_PREVTX: handle_sign_prevtx(req); break;
    case OS_MSG_SIGN_OUTPUT: handle_sign_output(req); break;
    case OS_MSG_SIGN_FINISH: handle_sign_finish(req); break;
    case OS_MSG_SIGN_GET_SIGS: handle_sign_get_sigs(req); break;
    case OS_MSG_SET_ISSUERS: handle_set_issuers(req); break;
    case OS_MSG_SIGN_VOUCHER: handle_sign_voucher(req); break;
    case OS_MSG_SET_OPERATORS: handle_set_operators(req); break;
    case OS_MSG_SIGN_APPROVAL: handle_sign_approval(req); break;
    default: send_error(req, OS_ERR_MSG_TYPE, 0xFFFF, NULL, 0); break;
    }
}

static void send_frame_error(uint32_t cid, int code) {
    uint8_t data[2] = { (uint8_t)((unsigned)code >> 8), (uint8_t)code };
    send_frame(cid, OS_FRAME_CMD_ERROR, data, sizeof data);
}

static void handle_message(void) {
    os_msg req;
    if (g_rx.cmd == OS_FRAME_CMD_INIT) {
        if (g_rx.cid != OS_CID_BROADCAST || g_rx.length != 8) { send_frame_error(g_rx.cid, OS_ERR_FRAME_COMMAND); return; }
        uint8_t resp[8 + 4 + 1 + 2];
        memcpy(resp, g_rx.data, 8);
        /* A new channel is a new host: whatever the old one left half-done is abandoned. */
        end_all();
        g_cid = g_next_cid++;
        if (g_next_cid == OS_CID_BROADCAST || g_next_cid == 0) g_next_cid = 1;
        resp[8] = (uint8_t)(g_cid >> 24);
        resp[9] = (uint8_t)(g_cid >> 16);
        resp[10] = (uint8_t)(g_cid >> 8);
        resp[11] = (uint8_t)g_cid;
        resp[12] = OS_PROTOCOL_VERSION;
        resp[13] = (uint8_t)(OS_MAX_MESSAGE >> 8);
        resp[14] = (uint8_t)OS_MAX_MESSAGE;
        send_frame(OS_CID_BROADCAST, OS_FRAME_CMD_INIT, resp, sizeof resp);
        return;
    }
    if (g_cid == 0 || g_rx.cid != g_cid) { send_frame_error(g_rx.cid, OS_ERR_FRAME_CHANNEL); return; }
    if (g_rx.cmd == OS_FRAME_CMD_PING) { send_frame(g_cid, OS_FRAME_CMD_PING, g_rx.data, g_rx.length); return; }
    if (g_rx.cmd != OS_FRAME_CMD_MSG) { send_frame_error(g_cid, OS_ERR_FRAME_COMMAND); return; }
    int rc = os_msg_decode(g_rx.data, g_rx.length, &req);
    if (rc != OS_OK) {
        /* Answer in protocol form when the header at least names a request id. */
        if (g_rx.length >= OS_MSG_HEADER) {
            os_msg stub;
            memset(&stub, 0, sizeof stub);
            stub.request_id = (uint32_t)g_rx.data[2] | ((uint32_t)g_rx.data[3] << 8) |
                              ((uint32_t)g_rx.data[4] << 16) | ((uint32_t)g_rx.data[5] << 24);
            /* A malformed message ends the session and any prompt with it: an approval never
             * outlives the session it was asked for. */
            end_all();
            send_error(&stub, rc, 0xFFFF, NULL, 0);
        } else {
            send_frame_error(g_cid, rc);
        }
        return;
    }
    dispatch(&req);
}

/* ------------------------------------------------------------------ entry points */

int signer_boot(void) {
    uint8_t seed[32];
    os_frame_rx_init(&g_rx);
    session_reset();
    pending_reset();
    g_cid = 0;
    keys_forget();
    CHECK_OK(board_random(seed, sizeof seed));
    int rc = crypto_init(seed);
    crypto_wipe(seed, sizeof seed);
    if (rc != OS_OK) { g_boot_status = rc; return rc; }
    g_boot_status = storage_load(&g_state, &g_state_seq);
    if (g_boot_status != OS_OK) {
        memset(&g_state, 0, sizeof g_state);
        show_idle();
        return g_boot_status;
    }
    g_velocity_ms = board_millis();
    if (g_state.initialized) {
        if (g_state.log_seq > 0) (void)audit_log_ring_repair(&g_state);
        uint8_t payload[8];
        int b;
        for (b = 0; b < 8; b++) payload[b] = (uint8_t)(g_state_seq >> (8 * b));
        prepare_next();
        /* A full log (host not archiving) must not stop the device from booting; signing will
         * refuse with LOG_FULL until the host acknowledges. */
        rc = commit_with_entry(OS_LOG_BOOT, payload, sizeof payload);
        if (rc != OS_OK && rc != OS_ERR_LOG_FULL) {
            g_boot_status = rc;
            show_idle();
            return rc;
        }
    }
    show_idle();
    return OS_OK;
}

int signer_poll(uint32_t timeout_ms) {
    uint8_t report[OS_REPORT_SIZE];
    int got = board_transport_recv(report, timeout_ms);
    board_button b = board_button_poll();
    if (b != BOARD_BUTTON_NONE) operator_pressed(b);
    if (got < 0 || (got != 0 && got != 1)) return OS_ERR_IO;
    if (got == 0) return OS_OK;
    int complete = 0;
    int rc = os_frame_rx_feed(&g_rx, report, &complete);
    if (rc != OS_OK) {
        send_frame_error(g_rx.cid, rc);
        return OS_OK;
    }
    if (complete) handle_message();
    return OS_OK;
}
