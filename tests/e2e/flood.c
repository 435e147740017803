/* oncesign tests — the Monappy flood (issue 5): many concurrent clients redeem every gift code
 * several times at once and repeat the same request, while the node answers sends late or drops
 * the connection after accepting them and the payout service is SIGKILLed and restarted; then the
 * faults stop, the service settles, blocks are mined, and the verdict comes FROM THE CHAIN
 * (testnode_received and the blocks themselves), never from the service's ledger.
 *
 *   oncesign-flood --design oncesign|naive [--codes N] [--dup K] [--clients C] [--seed S]
 *                  [--fault-rate P] [--delay-ms MS] [--kills K] [--batch-max B] [--batch-delay-ms MS]
 *                  [--settle-s S] [--build DIR] [--keep] [--label TEXT] [--approval] [--vouchers]
 *                  [--bench NAME [--bench-redeem-s S]] [--crash-points P1,P2,...]
 *
 * --crash-points (oncesign): every other restart arms ONCESIGN_CRASH_AT with one of them (the
 * daemon then dies at that point by itself) and the daemon is restarted when it does.
 * --approval (oncesign): after the flood, a 6 MONA withdrawal through POST /v1/payouts, above the
 * 5 MONA per-payout cap the device is set up with: the device asks, its screen is printed, approve
 * is pressed through the simulator's control socket, and the chain must pay it exactly once.
 * --vouchers (oncesign, issue 14): the signer requires issuer vouchers; the flood's backend registers
 * its issuer key (the operator approves the fingerprint), signs a voucher per code (and for the
 * --approval withdrawal, bound to its address), and oncesignd runs with vouchers-required 1. At the
 * end a compromised bridge is played: oncesignd restarted with vouchers-required 0 takes a
 * withdrawal to an address of the attacker's with a nonce it invented; the signer must refuse it
 * (bridge_attack=1: the payout failed with the signer's voucher refusal, the chain did not pay).
 * --bench NAME: no faults, no kills, each code redeemed once; prints
 * `bench e2e_payouts_per_s_NAME` (first redeem to every payout signed), then with
 * --bench-redeem-s S, S seconds of redeem load on kept-alive connections:
 * `bench redeem_daemon_rps`, `..._p50_ms`, `..._p99_ms` (the whole daemon; bench_api measures the
 * API alone as redeem_rps). The chain verdict still runs.
 *
 * Starts everything it needs on 127.0.0.1 (build/oncesign-testnode; for oncesign also
 * build/oncesign-sim, set up through build/oncesign, and build/oncesignd; for naive
 * build/oncesign-naive, the negative control), stops all of it at the end, and prints progress,
 * then one line:
 *
 *   flood: design=D codes=N paid=P double_payouts=X unpaid=U extra_payouts=E wrong_amount=W
 *          unknown_txs=T balance_ok=0|1 ...
 *
 * paid: codes whose destination the chain paid at least once; double_payouts: codes paid more
 * than once; unpaid: codes with no payment on chain; wrong_amount: codes whose destination got a
 * total other than count x amount; all counted from the chain. Exit 0 when the design behaved as
 * expected: oncesign exactly once (paid=N, double=0, unpaid=0, wrong=0, every chain transaction
 * spending the hot wallet known to the ledger, balance = funding - payouts - fees); naive caught
 * paying at least one code twice (the control is only useful if the flood can catch it).
 * Exit 1 otherwise, 2 for a usage or start-up failure.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "address.h"
#include "e2e_util.h"
#include "issuer.h"

/* ---- configuration ---- */

static const char *design = "oncesign";
static int n_codes = 40, dup_k = 4, n_clients = 16, kills = 3, keep = 0, batch_max = 20, batch_delay_ms = 50;
static uint64_t seed = 5;
static double fault_rate = 0.5, settle_s = 60;
static double query_fault_rate = 0;   /* --query-fault-rate: also late/dropped answers to the node's queries */
static long delay_ms = 1500;
static char build_dir[512] = "build";
static char workdir[512];
static const char *label = NULL;
static const char *bench = NULL;      /* --bench NAME: no faults, no kills, throughput figures */
static double bench_redeem_s = 0;     /* --bench-redeem-s S: then S seconds of redeem load */
static int fund_coins = 0;            /* --fund-coins: hot wallet funding outputs (default 20) */
static int vouchers = 0;              /* --vouchers: the signer requires issuer vouchers (issue 14); the
                                         flood's backend signs one per code with its own issuer key */
static int approval = 0;              /* --approval: after the flood, a withdrawal above the signer's
                                         per-payout cap, approved on the device */
#define APPROVAL_AMOUNT ((int64_t)600000000)   /* 6 MONA; the device is set up with a 5 MONA cap */

/* ---- children ---- */

static e2e_child node_ch = { 0, -1, "" }, sim_ch = { 0, -1, "" }, svc_ch = { 0, -1, "" };
static e2e_node node;
static char token[128];
static pthread_mutex_t svc_lock = PTHREAD_MUTEX_INITIALIZER;
static char svc_base[128];            /* http://127.0.0.1:PORT, changes when the service restarts */
static char *svc_argv[64];
static int vouchers_flag_arg = -1;     /* svc_argv index of vouchers-required's value */
/* --vouchers: the backend's voucher template (the signer, network and expiry from /v1/health) and
 * the key it signs with. */
static os_voucher voucher_template;
static uint8_t issuer_priv[32];

static void cleanup(void) {
    e2e_stop(&svc_ch, SIGTERM, 5000);
    e2e_stop(&sim_ch, SIGTERM, 3000);
    e2e_stop(&node_ch, SIGTERM, 3000);
    if (!keep && workdir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
        if (system(cmd) != 0) fprintf(stderr, "flood: could not remove %s\n", workdir);
    }
}

static void on_signal(int s) {
    /* Children first: never leave a node or a daemon behind. */
    if (svc_ch.pid > 0) kill(svc_ch.pid, SIGKILL);
    if (sim_ch.pid > 0) kill(sim_ch.pid, SIGKILL);
    if (node_ch.pid > 0) kill(node_ch.pid, SIGKILL);
    signal(s, SIG_DFL);
    raise(s);
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "flood: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fprintf(stderr, "flood: logs kept in %s\n", workdir);
    keep = 1;
    exit(2);
}

static json_t *rpc_must(const char *method, json_t *params) {
    int code = 0;
    json_t *r = e2e_rpc(&node, method, params, &code);
    if (!r) die("node call %s failed (code %d)", method, code);
    return r;
}

static void mine(int n, const char *addr) {
    json_decref(rpc_must("generatetoaddress", json_pack("[i,s]", n, addr)));
}

static void svc_url(char *out, size_t cap, const char *path) {
    pthread_mutex_lock(&svc_lock);
    snprintf(out, cap, "%s%s", svc_base, path);
    pthread_mutex_unlock(&svc_lock);
}

static e2e_resp svc(const char *method, const char *path, json_t *body, long timeout_ms) {
    char url[256];
    svc_url(url, sizeof url, path);
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body) json_decref(body);
    e2e_resp r = e2e_http(method, url, s, NULL, token, timeout_ms);
    free(s);
    return r;
}

/* ---- the simulated signer (oncesign design) ---- */

static int ctl(const char *cmd, char *answer, size_t cap) {
    char path[600];
    snprintf(path, sizeof path, "%s/ctl.sock", workdir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        close(fd);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    char line[64];
    snprintf(line, sizeof line, "%s\n", cmd);
    if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
        close(fd);
        return -1;
    }
    size_t n = 0;
    struct pollfd p = { fd, POLLIN, 0 };
    while (n + 1 < cap && poll(&p, 1, 2000) > 0) {
        ssize_t r = read(fd, answer + n, 1);
        if (r <= 0 || answer[n] == '\n') break;
        n++;
    }
    answer[n] = 0;
    close(fd);
    return 0;
}

static void start_sim(void) {
    char sock[600], flash[600], ctlp[600], log[600];
    snprintf(sock, sizeof sock, "%s/signer.sock", workdir);
    snprintf(flash, sizeof flash, "%s/flash.bin", workdir);
    snprintf(ctlp, sizeof ctlp, "%s/ctl.sock", workdir);
    snprintf(log, sizeof log, "%s/sim.log", workdir);
    char bin[600];
    snprintf(bin, sizeof bin, "%s/oncesign-sim", build_dir);
    char *argv[] = { bin, "--socket", sock, "--flash", flash, "--control", ctlp, "--no-tty", NULL };
    if (e2e_spawn(&sim_ch, "sim", argv, log) != 0) die("cannot start %s", bin);
    e2e_drain(&sim_ch, log);
    char ans[64];
    int i;
    for (i = 0; i < 200; i++) {
        if (ctl("ping", ans, sizeof ans) == 0 && strcmp(ans, "pong") == 0) return;
        e2e_sleep_ms(25);
    }
    die("the simulated signer did not answer ping (see %s)", log);
}

/* Runs the operator CLI with argv (argv[0] is replaced by build/oncesign), pressing approve on
 * every screen the device shows meanwhile, as an operator would; dies when it fails. */
static void run_cli_approving(char **argv, const char *what) {
    char bin[600], log[600];
    snprintf(bin, sizeof bin, "%s/oncesign", build_dir);
    snprintf(log, sizeof log, "%s/cli.log", workdir);
    argv[0] = bin;
    e2e_child cli = { 0, -1, "" };
    if (e2e_spawn(&cli, "cli", argv, log) != 0) die("cannot start %s", bin);
    e2e_drain(&cli, log);
    double deadline = e2e_now() + 60;
    int st;
    while (waitpid(cli.pid, &st, WNOHANG) == 0) {
        if (e2e_now() > deadline) {
            e2e_stop(&cli, SIGKILL, 1000);
            die("%s did not finish (see %s)", what, log);
        }
        char ans[64];
        (void)ctl("approve", ans, sizeof ans);
        e2e_sleep_ms(50);
    }
    cli.pid = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("%s failed (see %s)", what, log);
}

/* Restores a known seed on regtest through the operator CLI. */
static void init_device(void) {
    char dev[600];
    snprintf(dev, sizeof dev, "sim:%s/signer.sock", workdir);
    char *argv[] = { NULL, "--device", dev, "device", "init", "--network", "regtest",
                     "--per-payout-cap", "500000000", "--velocity-cap", "10000000000000",
                     "--restore",
                     "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
                     NULL };
    run_cli_approving(argv, "device init");
}

/* --vouchers: the backend's issuer key (workdir/issuer.key, made here as `oncesign voucher keygen`
 * would) registered on the signer with vouchers required; the operator approves its fingerprint. */
static void register_issuer(void) {
    char dev[600], path[600], hex[65];
    uint8_t xonly[32];
    snprintf(dev, sizeof dev, "sim:%s/signer.sock", workdir);
    snprintf(path, sizeof path, "%s/issuer.key", workdir);
    if (os_issuer_key_create(path, xonly) != OS_OK || os_issuer_key_load(path, issuer_priv, NULL) != OS_OK)
        die("cannot make the issuer key %s", path);
    for (int k = 0; k < 32; k++) snprintf(hex + 2 * k, 3, "%02x", xonly[k]);
    char *argv[] = { NULL, "--device", dev, "device", "issuers", "--required", "--issuer", hex, NULL };
    run_cli_approving(argv, "device issuers");
}

/* ---- the payout service ---- */

static char crash_points[512];        /* --crash-points a,b,c: ONCESIGN_CRASH_AT values */
static char crash_env[160];           /* the assignment the next start uses ("" = none) */
static atomic_long n_crashes;
static int svc_armed;                 /* the running service was started with a crash point */
static atomic_int start_failures;
static int unexpected_deaths;         /* the service died without a kill or an armed crash point */

static void start_service(void) {
    char log[600];
    snprintf(log, sizeof log, "%s/service.log", workdir);
    const char *prefix = strcmp(design, "naive") == 0 ? "naive" : "oncesignd";
    int attempt, port = -1;
    /* An operator's supervisor restarts a daemon that fails to start; so does the flood, up to 5
     * times, and reports each failure. */
    for (attempt = 1; attempt <= 5; attempt++) {
        if (e2e_spawn_env(&svc_ch, prefix, svc_argv, log, crash_env[0] ? crash_env : NULL) != 0)
            die("cannot start %s", svc_argv[0]);
        svc_armed = crash_env[0] != 0;
        port = e2e_wait_listening(&svc_ch, prefix, 30000);
        if (port > 0) break;
        e2e_stop(&svc_ch, SIGKILL, 2000);
        atomic_fetch_add(&start_failures, 1);
        char last[400] = "", line[400];
        FILE *f = fopen(log, "r");
        while (f && fgets(line, sizeof line, f)) snprintf(last, sizeof last, "%s", line);
        if (f) fclose(f);
        last[strcspn(last, "\n")] = 0;
        fprintf(stderr, "flood: %s did not start (attempt %d): %s\n", svc_argv[0], attempt, last);
        e2e_sleep_ms(200);
    }
    if (port <= 0) die("%s did not start after 5 attempts (see %s)", svc_argv[0], log);
    e2e_drain(&svc_ch, log);
    pthread_mutex_lock(&svc_lock);
    snprintf(svc_base, sizeof svc_base, "http://127.0.0.1:%d", port);
    pthread_mutex_unlock(&svc_lock);
}

static void build_service_argv(const char *node_port) {
    static char bin[600], url[128], tokf[600], pwf[600], db[600], dev[600], bm[16], bd[16];
    int i = 0;
    snprintf(pwf, sizeof pwf, "%s/rpc.password", workdir);
    snprintf(url, sizeof url, "http://127.0.0.1:%s/", node_port);
    snprintf(tokf, sizeof tokf, "%s/token", workdir);
    if (strcmp(design, "naive") == 0) {
        snprintf(bin, sizeof bin, "%s/oncesign-naive", build_dir);
        svc_argv[i++] = bin;
        svc_argv[i++] = "--rpc-timeout-ms";
        svc_argv[i++] = "500";
    } else {
        snprintf(bin, sizeof bin, "%s/oncesignd", build_dir);
        snprintf(db, sizeof db, "%s/ledger.db", workdir);
        snprintf(dev, sizeof dev, "sim:%s/signer.sock", workdir);
        snprintf(bm, sizeof bm, "%d", batch_max);
        snprintf(bd, sizeof bd, "%d", batch_delay_ms);
        svc_argv[i++] = bin;
        svc_argv[i++] = "--init";   /* the ledger is created at the first start */
        svc_argv[i++] = "--db";
        svc_argv[i++] = db;
        svc_argv[i++] = "--device";
        svc_argv[i++] = dev;
        svc_argv[i++] = "--network";
        svc_argv[i++] = "regtest";
        svc_argv[i++] = "--batch-max";
        svc_argv[i++] = bm;
        svc_argv[i++] = "--batch-delay-ms";
        svc_argv[i++] = bd;
        if (vouchers) {
            svc_argv[i++] = "--vouchers-required";
            vouchers_flag_arg = i;
            svc_argv[i++] = "1";
        }
        /* The node's late answers must come after the daemon's RPC timeout, or they are only slow:
         * give it the naive service's 500 ms when it takes the flag, else outwait its default. */
        char cmd[700], help[8192] = "";
        snprintf(cmd, sizeof cmd, "'%s' --help 2>&1", bin);
        FILE *hp = popen(cmd, "r");
        if (hp) {
            size_t got = fread(help, 1, sizeof help - 1, hp);
            help[got] = 0;
            pclose(hp);
        }
        if (strstr(help, "--rpc-timeout-ms")) {
            svc_argv[i++] = "--rpc-timeout-ms";
            svc_argv[i++] = "500";
        } else if (delay_ms < 6000) {
            delay_ms = 6000;   /* the engine's default RPC timeout is 5000 ms (host/lib/engine.c) */
        }
    }
    svc_argv[i++] = "--rpc-url";
    svc_argv[i++] = url;
    svc_argv[i++] = "--rpc-user";
    svc_argv[i++] = "flood";
    /* oncesignd takes secrets from files only (a command line is world-readable in /proc) */
    int from_file = strcmp(design, "naive") != 0;
    svc_argv[i++] = from_file ? "--rpc-password-file" : "--rpc-password";
    svc_argv[i++] = from_file ? pwf : "flood";
    svc_argv[i++] = "--port";
    svc_argv[i++] = "0";
    svc_argv[i++] = "--token-file";
    svc_argv[i++] = tokf;
    svc_argv[i] = NULL;
    FILE *f = fopen(tokf, "w");
    if (!f) die("cannot write %s", tokf);
    uint64_t s = seed ^ 0x746f6b656eull;
    snprintf(token, sizeof token, "%016" PRIx64 "%016" PRIx64, e2e_rng(&s), e2e_rng(&s));
    fprintf(f, "%s\n", token);
    fclose(f);
    chmod(tokf, 0600);
    f = fopen(pwf, "w");
    if (!f) die("cannot write %s", pwf);
    fputs("flood\n", f);
    fclose(f);
    chmod(pwf, 0600);
}

/* ---- the flood ---- */

typedef struct {
    char code[80];
    char address[80];
    int64_t amount;
    _Atomic int64_t payout_id;    /* first payout id an answer named (0: none yet) */
    atomic_int conflicting;       /* answers naming another payout id for the same code */
    atomic_int answered;
} code_rec;

static code_rec *codes;
static atomic_int next_task, tasks_done, flood_over;
static double flood_s = 4, flood_until;   /* --flood-s: the faults and kills last at least this long */
static atomic_long n_requests, n_ok, n_refused, n_failed, n_noanswer, n_kills;
static double *latencies;
static atomic_long n_lat;

static void record_latency(double s) {
    long i = atomic_fetch_add(&n_lat, 1);
    if (i < (long)n_codes * dup_k * 16) latencies[i] = s;
}

/* One user redeeming one code: tries again after an error, as Monappy's users did, until an
 * answer says the code is paid or already used (at most 12 attempts). */
static void redeem_task(code_rec *c, uint64_t *rng) {
    int attempt;
    for (attempt = 0; attempt < 12; attempt++) {
        char path[160];
        snprintf(path, sizeof path, "/v1/codes/%s/redeem", c->code);
        atomic_fetch_add(&n_requests, 1);
        e2e_resp r = svc("POST", path, json_pack("{s:s}", "address", c->address), 5000);
        if (r.http) record_latency(r.seconds);
        if (r.http == 200 || r.http == 201) {
            json_int_t id = json_integer_value(json_object_get(r.body, "id"));
            int64_t zero = 0;
            if (id > 0 && !atomic_compare_exchange_strong(&c->payout_id, &zero, (int64_t)id) && zero != id)
                atomic_fetch_add(&c->conflicting, 1);
            atomic_fetch_add(&c->answered, 1);
            atomic_fetch_add(&n_ok, 1);
            e2e_resp_free(&r);
            return;
        }
        if (r.http == 409) {
            atomic_fetch_add(&n_refused, 1);
            e2e_resp_free(&r);
            return;
        }
        if (r.http) atomic_fetch_add(&n_failed, 1);
        else atomic_fetch_add(&n_noanswer, 1);
        e2e_resp_free(&r);
        e2e_sleep_ms(10 + (long)(e2e_rng(rng) % 40));
    }
}

static void *client_main(void *arg) {
    uint64_t rng = seed * 1000003u + (uint64_t)(uintptr_t)arg;
    int total = n_codes * dup_k;
    for (;;) {
        int t = atomic_fetch_add(&next_task, 1);
        /* After the first round the same requests are sent again until the flood's time is up, so
         * the faults and kills meet the payouts while the service signs and broadcasts them. */
        if (t >= total && (bench || e2e_now() >= flood_until)) break;
        /* Task t is the (t % dup_k)-th redeem of code t / dup_k: the K redeems of a code sit next
         * to each other, so different clients send them at the same moment. */
        redeem_task(&codes[(t % total) / dup_k], &rng);
        if (t < total) atomic_fetch_add(&tasks_done, 1);
    }
    return NULL;
}

static char miner_addr[80];

static void *miner_main(void *arg) {
    (void)arg;
    while (!atomic_load(&flood_over)) {
        int code;
        json_t *r = e2e_rpc(&node, "generatetoaddress", json_pack("[i,s]", 1, miner_addr), &code);
        if (r) json_decref(r);
        e2e_sleep_ms(300);
    }
    return NULL;
}

/* SIGKILLs the service at seeded random moments while the flood runs and starts it again; with
 * --crash-points, every other restart arms one of the daemon's own crash points
 * (ONCESIGN_CRASH_AT) and the daemon is restarted when it dies there. */
static int service_died(void) {
    int st;
    if (svc_ch.pid > 0 && waitpid(svc_ch.pid, &st, WNOHANG) == svc_ch.pid) {
        svc_ch.pid = 0;
        if (WIFSIGNALED(st))
            fprintf(stderr, "flood: the service died of signal %d (%s)\n", WTERMSIG(st), strsignal(WTERMSIG(st)));
        else if (!svc_armed || WEXITSTATUS(st) != 137)
            fprintf(stderr, "flood: the service exited with status %d%s\n", WEXITSTATUS(st),
                    svc_armed ? "" : " (no crash point was armed)");
        unexpected_deaths += !svc_armed;
        return 1;
    }
    return 0;
}

static void pick_crash_env(uint64_t *rng, int restart_no) {
    crash_env[0] = 0;
    if (!crash_points[0] || restart_no % 2 == 0) return;
    char list[512], *save = NULL, *tok;
    int n = 0, want;
    snprintf(list, sizeof list, "%s", crash_points);
    for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) n++;
    if (n == 0) return;
    want = (int)(e2e_rng(rng) % (uint64_t)n);
    snprintf(list, sizeof list, "%s", crash_points);
    save = NULL;
    for (tok = strtok_r(list, ",", &save); tok && want > 0; tok = strtok_r(NULL, ",", &save)) want--;
    if (tok) snprintf(crash_env, sizeof crash_env, "ONCESIGN_CRASH_AT=%s", tok);
}

static void *killer_main(void *arg) {
    (void)arg;
    uint64_t rng = seed ^ 0x6b696c6cull;
    int done = 0, restarts = 0;
    while (!atomic_load(&flood_over)) {
        /* Spread over the flood: on average kills+1 gaps per flood_s. */
        long gap = (long)(flood_s * 1000 / (kills + 1));
        long wait = gap / 2 + (long)(e2e_rng(&rng) % (uint64_t)(gap > 1 ? gap : 1));
        double until = e2e_now() + wait / 1000.0;
        int crashed = 0;
        while (e2e_now() < until && !atomic_load(&flood_over) && !(crashed = service_died())) e2e_sleep_ms(10);
        if (atomic_load(&flood_over)) break;
        if (crashed) {
            atomic_fetch_add(&n_crashes, 1);
            if (svc_ch.out_fd >= 0) close(svc_ch.out_fd);
            svc_ch.out_fd = -1;
        } else if (done < kills) {
            e2e_stop(&svc_ch, SIGKILL, 2000);
            atomic_fetch_add(&n_kills, 1);
            done++;
        } else {
            continue;
        }
        e2e_sleep_ms(50 + (long)(e2e_rng(&rng) % 200));
        pick_crash_env(&rng, ++restarts);
        start_service();
    }
    crash_env[0] = 0;
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- benchmark mode ---- */

static int cmp_txid(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* Payouts per second from the first redeem until every payout has a signed transaction the
 * service stored (status signed, broadcast or confirmed). */
static void bench_payouts(double t0) {
    /* Called when every redeem was answered: how much of the time went to the redeems (one
     * durable ledger commit each) and how long signing and storing trailed behind them. */
    double redeems_done = e2e_now();
    printf("bench e2e_first_redeems_per_s_%s %.0f redeems/s\n", bench, n_codes / (redeems_done - t0));
    char *done = calloc((size_t)n_codes, 1);
    char (*txids)[65] = calloc((size_t)n_codes, sizeof *txids);
    int left = n_codes, i;
    double deadline = e2e_now() + 120;
    while (left > 0 && e2e_now() < deadline) {
        for (i = 0; i < n_codes; i++) {
            int64_t id = atomic_load(&codes[i].payout_id);
            if (done[i] || !id) continue;
            char path[64];
            snprintf(path, sizeof path, "/v1/payouts/%" PRId64, id);
            e2e_resp r = svc("GET", path, NULL, 5000);
            const char *st = json_string_value(json_object_get(r.body, "status"));
            const char *txid = json_string_value(json_object_get(r.body, "txid"));
            if (st && (strcmp(st, "signed") == 0 || strcmp(st, "broadcast") == 0 || strcmp(st, "confirmed") == 0)) {
                done[i] = 1;
                left--;
                snprintf(txids[i], sizeof txids[i], "%s", txid ? txid : "");
            }
            e2e_resp_free(&r);
        }
        if (left) e2e_sleep_ms(20);
    }
    double secs = e2e_now() - t0;
    free(done);
    if (left) {
        fprintf(stderr, "flood: bench: %d payouts never got a signed transaction\n", left);
        free(txids);
        return;
    }
    /* How full the batches were: payouts over distinct transactions carrying them. */
    qsort(txids, (size_t)n_codes, sizeof *txids, cmp_txid);
    int n_txs = 0;
    for (i = 0; i < n_codes; i++)
        if (txids[i][0] != '\0' && (i == 0 || strcmp(txids[i], txids[i - 1]) != 0)) n_txs++;
    free(txids);
    if (n_txs > 0) printf("bench e2e_payouts_per_tx_%s %.1f payouts/tx\n", bench, (double)n_codes / n_txs);
    printf("bench e2e_payouts_per_s_%s %.0f payouts/s\n", bench, n_codes / secs);
    printf("bench e2e_signing_lag_ms_%s %.0f ms\n", bench, (e2e_now() - redeems_done) * 1000);
}

typedef struct {
    uint64_t rng;
    long requests, errors;
    double *lat;
    long n_lat, cap_lat;
    double until;
} load_state;

/* One client on a kept-alive connection, redeeming already redeemed codes again (each answer is
 * the code's one payout). */
static void *load_main(void *arg) {
    load_state *ls = arg;
    CURL *c = curl_easy_init();
    os_http_body b = { 0 };
    char bh[200];
    snprintf(bh, sizeof bh, "Authorization: Bearer %s", token);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, bh);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, os_http_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    while (e2e_now() < ls->until) {
        code_rec *k = &codes[e2e_rng(&ls->rng) % (uint64_t)n_codes];
        char url[300], body[160];
        svc_url(url, sizeof url, "");
        snprintf(url + strlen(url), sizeof url - strlen(url), "/v1/codes/%s/redeem", k->code);
        snprintf(body, sizeof body, "{\"address\":\"%s\"}", k->address);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        os_http_body_reset(&b);
        double t0 = e2e_now();
        CURLcode rc = curl_easy_perform(c);
        double dt = e2e_now() - t0;
        long http = 0;
        if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
        ls->requests++;
        if (http != 200 && http != 201 && http != 409) ls->errors++;
        if (ls->n_lat < ls->cap_lat) ls->lat[ls->n_lat++] = dt;
    }
    os_http_body_free(&b);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static void bench_redeem_load(void) {
    int i;
    load_state *ls = calloc((size_t)n_clients, sizeof *ls);
    pthread_t *th = calloc((size_t)n_clients, sizeof *th);
    double until = e2e_now() + bench_redeem_s, t0 = e2e_now();
    for (i = 0; i < n_clients; i++) {
        ls[i].rng = seed + 77 * (uint64_t)i;
        ls[i].cap_lat = 400000;
        ls[i].lat = calloc((size_t)ls[i].cap_lat, sizeof(double));
        ls[i].until = until;
        pthread_create(&th[i], NULL, load_main, &ls[i]);
    }
    long req = 0, err = 0, nl = 0;
    for (i = 0; i < n_clients; i++) {
        pthread_join(th[i], NULL);
        req += ls[i].requests;
        err += ls[i].errors;
        nl += ls[i].n_lat;
    }
    double secs = e2e_now() - t0;
    double *all = calloc((size_t)nl + 1, sizeof *all);
    long k = 0;
    for (i = 0; i < n_clients; i++) {
        memcpy(all + k, ls[i].lat, (size_t)ls[i].n_lat * sizeof *all);
        k += ls[i].n_lat;
        free(ls[i].lat);
    }
    qsort(all, (size_t)nl, sizeof *all, cmp_double);
    /* Through the whole daemon (signer and node attached, worker and reconciler running);
     * tests/bench/bench_api.c measures the API on a ledger-only engine as redeem_rps. */
    printf("bench redeem_daemon_rps %.0f requests/s\n", req / secs);
    printf("bench redeem_daemon_p50_ms %.2f ms\n", nl ? all[nl / 2] * 1000 : 0);
    printf("bench redeem_daemon_p99_ms %.2f ms\n", nl ? all[(nl * 99) / 100] * 1000 : 0);
    printf("bench redeem_daemon_errors %ld requests\n", err);
    free(all);
    free(ls);
    free(th);
}

static void bench_figures(double t0) {
    bench_payouts(t0);
    if (bench_redeem_s > 0) bench_redeem_load();
    fflush(stdout);
}

/* ---- an operator approval on the device (oncesign design) ---- */

static int approval_ok = -1;
static char approval_addr[80], approval_txid[65];
static int64_t approval_id;

/* Adds "voucher" to body: the backend's voucher for amount, bound to address when it is not NULL. */
static void add_voucher(json_t *body, uint64_t amount, const char *address) {
    os_voucher v = voucher_template;
    char hex[2 * OS_VOUCHER_BYTES + 1];
    size_t len = 0;
    v.amount = amount;
    if (address != NULL) {
        if (address_to_script(OS_NET_REGTEST, address, v.script, sizeof v.script, &len) != OS_OK)
            die("cannot bind the voucher to %s", address);
        v.flags = OS_VOUCHER_DESTINATION;
        v.script_len = (uint8_t)len;
    }
    if (getrandom(v.nonce, sizeof v.nonce, 0) != (ssize_t)sizeof v.nonce || os_voucher_sign(&v, issuer_priv) != OS_OK ||
        os_voucher_to_hex(&v, hex) != OS_OK)
        die("cannot sign a voucher");
    json_object_set_new(body, "voucher", json_string(hex));
}

/* Asks for a withdrawal above the signer's per-payout cap through the payout API, waits for the
 * signer to ask the operator, shows what the device shows, presses approve through the
 * simulator's control socket, and waits for the signed transaction. The chain check is in the
 * verdict. Returns 1 when the payout got a transaction after the approval. */
static int run_approval(const char *tag) {
    json_t *a = rpc_must("getnewaddress", json_array());
    snprintf(approval_addr, sizeof approval_addr, "%s", json_string_value(a));
    json_decref(a);
    json_t *req = json_pack("{s:s,s:I,s:s}", "address", approval_addr, "amount", (json_int_t)APPROVAL_AMOUNT,
                            "idempotency_key", "flood-large-withdrawal-1");
    if (vouchers) add_voucher(req, APPROVAL_AMOUNT, approval_addr);
    e2e_resp r = svc("POST", "/v1/payouts", req, 10000);
    json_int_t id = json_integer_value(json_object_get(r.body, "id"));
    if ((r.http != 200 && r.http != 201) || id <= 0) {
        printf("flood[%s]: approval: POST /v1/payouts answered HTTP %ld %s\n", tag, r.http,
               r.body ? json_string_value(json_object_get(json_object_get(r.body, "error"), "message")) : "");
        e2e_resp_free(&r);
        return 0;
    }
    e2e_resp_free(&r);
    approval_id = (int64_t)id;
    printf("flood[%s]: approval: withdrawal of %.8f MONA requested (payout %lld), above the signer's 5 MONA cap\n",
           tag, APPROVAL_AMOUNT / 1e8, (long long)id);
    char path[64];
    snprintf(path, sizeof path, "/v1/payouts/%lld", (long long)id);
    double deadline = e2e_now() + 30;
    int pressed = 0;
    while (e2e_now() < deadline) {
        if (service_died()) {
            printf("flood[%s]: approval: the service died while the device waited for the operator\n", tag);
            if (unexpected_deaths > 3) return 0;
            start_service();
        }
        r = svc("GET", path, NULL, 5000);
        const char *st = json_string_value(json_object_get(r.body, "status"));
        const char *tx = json_string_value(json_object_get(r.body, "txid"));
        if (st && strcmp(st, "awaiting_approval") == 0) {
            /* The device pages through the request (why asked, totals, each payout): the
             * operator reads each page and presses approve on it. */
            /* What the operator reads before pressing: the screen, as the device draws it. */
            char screen[2048] = "", sock[600];
            snprintf(sock, sizeof sock, "%s/ctl.sock", workdir);
            int fd = socket(AF_UNIX, SOCK_STREAM, 0);
            struct sockaddr_un sa;
            memset(&sa, 0, sizeof sa);
            sa.sun_family = AF_UNIX;
            if (fd >= 0 && strlen(sock) < sizeof sa.sun_path) {
                memcpy(sa.sun_path, sock, strlen(sock) + 1);
                if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && write(fd, "screen\n", 7) == 7) {
                    size_t n = 0;
                    struct pollfd p = { fd, POLLIN, 0 };
                    while (n + 1 < sizeof screen && poll(&p, 1, 1000) > 0) {
                        ssize_t got = read(fd, screen + n, sizeof screen - 1 - n);
                        if (got <= 0) break;
                        n += (size_t)got;
                        screen[n] = 0;
                        if (strstr(screen, "\n.\n") || strncmp(screen, ".\n", 2) == 0) break;
                    }
                }
            }
            if (fd >= 0) close(fd);
            static char last_screen[2048];
            if (strcmp(screen, last_screen) != 0 && strncmp(screen, "approved", 8) != 0) {
                snprintf(last_screen, sizeof last_screen, "%s", screen);
                printf("flood[%s]: approval: the device asks the operator:\n", tag);
                char *line = strtok(screen, "\n");
                while (line && strcmp(line, ".") != 0) {
                    printf("           | %s\n", line[0] == '.' ? line + 1 : line);
                    line = strtok(NULL, "\n");
                }
                char ans[64];
                if (ctl("approve", ans, sizeof ans) == 0 && strcmp(ans, "ok") == 0) {
                    pressed = 1;
                    printf("flood[%s]: approval: operator pressed approve on the device\n", tag);
                }
            }
        }
        if (st && tx && (strcmp(st, "signed") == 0 || strcmp(st, "broadcast") == 0 || strcmp(st, "confirmed") == 0)) {
            snprintf(approval_txid, sizeof approval_txid, "%s", tx);
            printf("flood[%s]: approval: payout %lld %s in %s%s\n", tag, (long long)id, st, tx,
                   pressed ? "" : " (the signer did not ask for an approval!)");
            e2e_resp_free(&r);
            return pressed;
        }
        if (st && strcmp(st, "failed") == 0) {
            printf("flood[%s]: approval: payout %lld failed: %s\n", tag, (long long)id,
                   json_string_value(json_object_get(r.body, "error")));
            e2e_resp_free(&r);
            return 0;
        }
        e2e_resp_free(&r);
        e2e_sleep_ms(100);
    }
    printf("flood[%s]: approval: no signed transaction within 30 s (pressed: %s)\n", tag, pressed ? "yes" : "no");
    return 0;
}

/* ---- the chain walk (oncesign design) ---- */

typedef struct {
    char txid[65];
    int vout;
    int64_t value;
} hot_out;

static hot_out *hot;
static size_t n_hot, cap_hot;

static void hot_add(const char *txid, int vout, int64_t value) {
    if (n_hot == cap_hot) {
        cap_hot = cap_hot ? cap_hot * 2 : 256;
        hot = realloc(hot, cap_hot * sizeof *hot);
        if (!hot) abort();
    }
    snprintf(hot[n_hot].txid, sizeof hot[n_hot].txid, "%s", txid);
    hot[n_hot].vout = vout;
    hot[n_hot].value = value;
    n_hot++;
}

static int hot_take(const char *txid, int vout, int64_t *value) {
    size_t i;
    for (i = 0; i < n_hot; i++)
        if (hot[i].vout == vout && strcmp(hot[i].txid, txid) == 0) {
            *value = hot[i].value;
            hot[i] = hot[--n_hot];
            return 1;
        }
    return 0;
}

static const char *out_address(json_t *vout) {
    json_t *spk = json_object_get(vout, "scriptPubKey");
    const char *a = json_string_value(json_object_get(spk, "address"));
    if (!a) a = json_string_value(json_array_get(json_object_get(spk, "addresses"), 0));
    return a ? a : "";
}

/* The compromised bridge (--vouchers): oncesignd restarted with vouchers-required 0 (the attacker owns
 * the bridge and its settings) takes a withdrawal to the attacker with a nonce it made up, under every
 * cap. Returns 1 when the payout failed with the signer's voucher refusal and nothing was paid to
 * the attacker; the service is stopped again at the end. */
static int run_bridge_attack(const char *tag) {
    if (vouchers_flag_arg < 0) return 0;
    svc_argv[vouchers_flag_arg] = "0";
    start_service();
    json_t *a = rpc_must("getnewaddress", json_array());
    char attacker[80];
    snprintf(attacker, sizeof attacker, "%s", json_string_value(a));
    json_decref(a);
    e2e_resp r = svc("POST", "/v1/payouts",
                     json_pack("{s:s,s:I,s:s}", "address", attacker, "amount", (json_int_t)50000, "idempotency_key",
                               "compromised-bridge-1"), 10000);
    json_int_t id = json_integer_value(json_object_get(r.body, "id"));
    e2e_resp_free(&r);
    int refused = 0;
    if (id > 0) {
        char path[64];
        snprintf(path, sizeof path, "/v1/payouts/%lld", (long long)id);
        double deadline = e2e_now() + 30;
        while (e2e_now() < deadline && !refused) {
            r = svc("GET", path, NULL, 5000);
            const char *st = json_string_value(json_object_get(r.body, "status"));
            const char *err = json_string_value(json_object_get(r.body, "error"));
            if (st && strcmp(st, "failed") == 0) {
                refused = err && strstr(err, "voucher") != NULL ? 1 : -1;
                printf("flood[%s]: compromised bridge: an invented withdrawal of 0.0005 MONA to %s: %s (%s)\n", tag,
                       attacker, refused == 1 ? "REFUSED by the signer" : "failed otherwise", err ? err : "");
            } else if (st && strcmp(st, "requested") != 0 && strcmp(st, "signing") != 0) {
                printf("flood[%s]: compromised bridge: the invented withdrawal reached %s: NOT refused\n", tag, st);
                refused = -1;
            }
            e2e_resp_free(&r);
            if (!refused) e2e_sleep_ms(100);
        }
    }
    e2e_stop(&svc_ch, SIGTERM, 10000);
    /* mempool included (0 confirmations): nothing may even be on its way */
    json_t *got = rpc_must("testnode_received", json_pack("[[s],i]", attacker, 0));
    int64_t paid = (int64_t)json_integer_value(json_object_get(json_object_get(got, attacker), "count"));
    json_decref(got);
    if (paid != 0) printf("flood[%s]: compromised bridge: the chain paid the attacker %lld time(s)\n", tag, (long long)paid);
    return refused == 1 && paid == 0;
}

static int is_destination(const char *addr) {
    int i;
    if (approval_addr[0] && strcmp(addr, approval_addr) == 0) return 1;
    for (i = 0; i < n_codes; i++)
        if (strcmp(codes[i].address, addr) == 0) return 1;
    return 0;
}

int main(int argc, char **argv) {
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            keep = 1;
            continue;
        }
        if (strcmp(a, "--approval") == 0) {
            approval = 1;
            continue;
        }
        if (strcmp(a, "--vouchers") == 0) {
            vouchers = 1;
            continue;
        }
        if (!v) break;
        if (strcmp(a, "--design") == 0) design = v;
        else if (strcmp(a, "--codes") == 0) n_codes = atoi(v);
        else if (strcmp(a, "--dup") == 0) dup_k = atoi(v);
        else if (strcmp(a, "--clients") == 0) n_clients = atoi(v);
        else if (strcmp(a, "--seed") == 0) seed = strtoull(v, NULL, 0);
        else if (strcmp(a, "--fault-rate") == 0) fault_rate = atof(v);
        else if (strcmp(a, "--delay-ms") == 0) delay_ms = atol(v);
        else if (strcmp(a, "--kills") == 0) kills = atoi(v);
        else if (strcmp(a, "--batch-max") == 0) batch_max = atoi(v);
        else if (strcmp(a, "--batch-delay-ms") == 0) batch_delay_ms = atoi(v);
        else if (strcmp(a, "--settle-s") == 0) settle_s = atof(v);
        else if (strcmp(a, "--build") == 0) snprintf(build_dir, sizeof build_dir, "%s", v);
        else if (strcmp(a, "--label") == 0) label = v;
        else if (strcmp(a, "--bench") == 0) bench = v;
        else if (strcmp(a, "--flood-s") == 0) flood_s = atof(v);
        else if (strcmp(a, "--fund-coins") == 0) fund_coins = atoi(v);
        else if (strcmp(a, "--query-fault-rate") == 0) query_fault_rate = atof(v);
        else if (strcmp(a, "--crash-points") == 0) snprintf(crash_points, sizeof crash_points, "%s", v);
        else if (strcmp(a, "--bench-redeem-s") == 0) bench_redeem_s = atof(v);
        else break;
        i++;
    }
    int naive = strcmp(design, "naive") == 0;
    if (i < argc || (!naive && strcmp(design, "oncesign") != 0) || flood_s < 0 || flood_s > 600 || n_codes < 1 || n_codes > 20000 || dup_k < 1 ||
        dup_k > 64 || n_clients < 1 || n_clients > 256 || fault_rate < 0 || fault_rate > 1 || kills < 0) {
        fprintf(stderr, "usage: oncesign-flood --design oncesign|naive [--codes N] [--dup K] [--clients C] "
                        "[--seed S] [--fault-rate P] [--delay-ms MS] [--kills K] [--batch-max B] "
                        "[--batch-delay-ms MS] [--settle-s S] [--build DIR] [--keep] [--label TEXT] [--approval] [--vouchers] "
                        "[--bench NAME [--bench-redeem-s S]] [--crash-points P1,P2,...] [--flood-s S] [--fund-coins K] [--query-fault-rate P]\n");
        return 2;
    }
    if (naive) kills = 0;   /* the naive service keeps its table in memory: a kill would only hide its bug */
    if (bench) {
        kills = 0;
        fault_rate = 0;
        dup_k = 1;
    }
    const char *env_build = getenv("ONCESIGN_BUILD");
    if (env_build && strcmp(build_dir, "build") == 0) snprintf(build_dir, sizeof build_dir, "%s", env_build);
    const char *tag = label ? label : design;
    snprintf(workdir, sizeof workdir, "/tmp/oncesign-flood-%s.XXXXXX", design);
    if (!mkdtemp(workdir)) return 2;
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    double t_start = e2e_now();

    /* The node. */
    char bin[600], log[600], seedstr[32];
    snprintf(bin, sizeof bin, "%s/oncesign-testnode", build_dir);
    snprintf(log, sizeof log, "%s/testnode.log", workdir);
    snprintf(seedstr, sizeof seedstr, "%" PRIu64, seed);
    char *nargv[] = { bin, "--port", "0", "--rpcuser", "flood", "--rpcpassword", "flood", "--seed", seedstr, NULL };
    if (e2e_spawn(&node_ch, "testnode", nargv, log) != 0) die("cannot start %s", bin);
    int node_port = e2e_wait_listening(&node_ch, "testnode", 20000);
    if (node_port <= 0) die("the test node did not start (see %s)", log);
    e2e_drain(&node_ch, log);
    snprintf(node.url, sizeof node.url, "http://127.0.0.1:%d/", node_port);
    snprintf(node.auth, sizeof node.auth, "flood:flood");
    node.timeout_ms = 30000;
    char node_port_s[16];
    snprintf(node_port_s, sizeof node_port_s, "%d", node_port);

    /* Mature coins for the node's wallet: it funds oncesign's hot wallet, and for the naive design
     * it IS the hot wallet (one coinbase per send keeps its sends from chaining 25 deep). */
    json_t *a = rpc_must("getnewaddress", json_array());
    char fund_addr[80];
    snprintf(fund_addr, sizeof fund_addr, "%s", json_string_value(a));
    json_decref(a);
    a = rpc_must("getnewaddress", json_array());
    snprintf(miner_addr, sizeof miner_addr, "%s", json_string_value(a));
    json_decref(a);
    int coinbases = naive ? n_codes * 2 + 50 : 60;
    if (coinbases > 1500) coinbases = 1500;
    mine(101 + coinbases, fund_addr);

    /* The service. */
    build_service_argv(node_port_s);
    if (!naive) {
        snprintf(bin, sizeof bin, "%s/oncesignd", build_dir);
        if (access(bin, X_OK) != 0) die("%s is not built yet: the oncesign design needs the daemon", bin);
        start_sim();
        init_device();
        if (vouchers) register_issuer();
    }
    start_service();
    printf("flood[%s]: node 127.0.0.1:%d, service %s, workdir %s\n", tag, node_port, svc_base, workdir);
    fflush(stdout);

    /* Codes and destinations. Amounts 0.001 to 0.05 MONA, from the seed. */
    codes = calloc((size_t)n_codes, sizeof *codes);
    latencies = calloc((size_t)n_codes * dup_k * 16 + 1, sizeof *latencies);
    if (!codes || !latencies) die("out of memory");
    uint64_t rng = seed;
    int64_t total_amount = 0;
    for (i = 0; i < n_codes; i++) {
        codes[i].amount = 100000 + (int64_t)(e2e_rng(&rng) % 4900000);
        total_amount += codes[i].amount;
        a = rpc_must("getnewaddress", json_array());
        snprintf(codes[i].address, sizeof codes[i].address, "%s", json_string_value(a));
        json_decref(a);
    }

    /* Fund oncesign's hot wallet in fund_coins coins (so payouts need not wait for change to
     * confirm), then wait until the ledger sees them confirmed. */
    json_t *h0 = rpc_must("getblockcount", json_array());
    int64_t funding_height = (int64_t)json_integer_value(h0) + 1;
    json_decref(h0);
    int64_t funding = 0;
    char recv_addr[80] = "";
    if (!naive) {
        e2e_resp r = svc("GET", "/v1/wallet", NULL, 10000);
        const char *ra = json_string_value(json_object_get(r.body, "receive_address"));
        if (r.http != 200 || !ra) die("GET /v1/wallet: HTTP %ld", r.http);
        snprintf(recv_addr, sizeof recv_addr, "%s", ra);
        e2e_resp_free(&r);
        int coins = fund_coins ? fund_coins : 20;
        int64_t per = (total_amount * 2 + (approval ? APPROVAL_AMOUNT : 0)) / coins + 2000000;
        char amt[32];
        e2e_amount_str(per, amt);
        for (i = 0; i < coins; i++) {
            json_t *txid = rpc_must("sendtoaddress", json_pack("[s,s]", recv_addr, amt));
            json_decref(txid);
            funding += per;
            if (i % 20 == 19) mine(1, miner_addr);   /* the node's wallet chains at most 25 deep */
        }
        mine(1, miner_addr);
        double until = e2e_now() + 30;
        int64_t seen = 0;
        while (e2e_now() < until) {
            r = svc("GET", "/v1/wallet", NULL, 5000);
            seen = (int64_t)json_integer_value(json_object_get(json_object_get(r.body, "balance"), "confirmed"));
            e2e_resp_free(&r);
            if (seen >= funding) break;
            e2e_sleep_ms(100);
        }
        if (seen < funding)
            fprintf(stderr, "flood: the ledger sees %.8f of %.8f MONA funding confirmed after 30 s\n", seen / 1e8,
                    funding / 1e8);
    }
    /* The walk starts at the first funding block (its height before the funding, plus one). */

    /* With vouchers the backend names the signer (the attestation key the daemon pinned) and bounds
     * each voucher by the signer's log: a budget of a million entries outlasts the flood. */
    if (vouchers) {
        e2e_resp r = svc("GET", "/v1/health", NULL, 10000);
        const char *att = json_string_value(json_object_get(r.body, "signer_attestation_pubkey"));
        json_int_t seq = json_integer_value(json_object_get(r.body, "signer_log_seq"));
        if (!att || strlen(att) != 64) die("GET /v1/health: no signer_attestation_pubkey");
        for (int k = 0; k < 32; k++) {
            unsigned byte;
            sscanf(att + 2 * k, "%2x", &byte);
            voucher_template.signer[k] = (uint8_t)byte;
        }
        voucher_template.network = OS_NET_REGTEST;
        voucher_template.expiry_seq = (uint64_t)seq + 1000000u;
        e2e_resp_free(&r);
    }
    if (vouchers) {
        /* the mode is on: a code without its voucher is refused (a bridge that took it anyway meets
         * the signer's refusal: tests/unit/test_engine.c) */
        e2e_resp r = svc("POST", "/v1/codes", json_pack("{s:I}", "amount", (json_int_t)100000), 10000);
        if (r.http != 422) die("POST /v1/codes without a voucher: HTTP %ld, expected 422", r.http);
        e2e_resp_free(&r);
    }
    for (i = 0; i < n_codes; i++) {
        json_t *body = json_pack("{s:I}", "amount", (json_int_t)codes[i].amount);
        if (vouchers) add_voucher(body, (uint64_t)codes[i].amount, NULL);
        e2e_resp r = svc("POST", "/v1/codes", body, 10000);
        const char *code = json_string_value(json_object_get(r.body, "code"));
        if ((r.http != 200 && r.http != 201) || !code) die("POST /v1/codes: HTTP %ld", r.http);
        snprintf(codes[i].code, sizeof codes[i].code, "%s", code);
        e2e_resp_free(&r);
    }
    printf("flood[%s]: %d codes issued (%.8f MONA), %d clients, each code redeemed %dx at once; "
           "faults on sends: %.0f%% (delay %ld ms / drop), seed %" PRIu64 ", %d kills\n",
           tag, n_codes, (double)total_amount / 1e8, n_clients, dup_k, fault_rate * 100, delay_ms, seed, kills);
    fflush(stdout);

    /* Faults: accepted-then-late and accepted-then-dropped, on every way a payment leaves. */
    json_t *fault = json_pack("{s:s,s:I,s:{s:f,s:f},s:I,s:[s,s]}", "mode", "random", "seed", (json_int_t)seed, "probs",
                              "delay", fault_rate / 2, "drop", fault_rate / 2, "delay_ms", (json_int_t)delay_ms,
                              "methods", "sendrawtransaction", "sendtoaddress");
    if (fault_rate > 0) json_decref(rpc_must("testnode_setfault", json_pack("[o]", fault)));
    else json_decref(fault);
    if (query_fault_rate > 0 && !bench) {
        /* The reconciler's view of the chain is unreliable too (its own seed: seed + 1). */
        json_t *qf = json_pack("{s:s,s:I,s:{s:f,s:f},s:I,s:[s,s,s,s,s,s,s,s]}", "mode", "random", "seed",
                               (json_int_t)seed + 1, "probs", "delay", query_fault_rate / 2, "drop",
                               query_fault_rate / 2, "delay_ms", (json_int_t)delay_ms, "methods", "getrawtransaction",
                               "gettxout", "getmempoolentry", "gettransaction", "listunspent", "getblockcount",
                               "getblockchaininfo", "estimatesmartfee");
        json_decref(rpc_must("testnode_setfault", json_pack("[o]", qf)));
    }

    double t_flood = e2e_now();
    flood_until = t_flood + flood_s;
    pthread_t miner, killer, *clients = calloc((size_t)n_clients, sizeof *clients);
    pthread_create(&miner, NULL, miner_main, NULL);
    int killer_on = kills > 0 || crash_points[0];
    if (killer_on) pthread_create(&killer, NULL, killer_main, NULL);
    for (i = 0; i < n_clients; i++) pthread_create(&clients[i], NULL, client_main, (void *)(uintptr_t)i);
    int total_tasks = n_codes * dup_k;
    while (atomic_load(&tasks_done) < total_tasks || (!bench && e2e_now() < flood_until)) {
        e2e_sleep_ms(100);
        static double last;
        if (e2e_now() - last >= 1.0) {
            last = e2e_now();
            printf("flood[%s]: %5.1fs  redeems %d/%d  requests %ld  paid-answers %ld  already-used %ld  "
                   "errors %ld  no-answer %ld  kills %ld  crashes %ld\n",
                   tag, e2e_now() - t_flood, atomic_load(&tasks_done), total_tasks, atomic_load(&n_requests),
                   atomic_load(&n_ok), atomic_load(&n_refused), atomic_load(&n_failed), atomic_load(&n_noanswer),
                   atomic_load(&n_kills), atomic_load(&n_crashes));
            fflush(stdout);
        }
    }
    for (i = 0; i < n_clients; i++) pthread_join(clients[i], NULL);
    if (bench) bench_figures(t_flood);
    atomic_store(&flood_over, 1);
    if (killer_on) pthread_join(killer, NULL);
    pthread_join(miner, NULL);
    double flood_s = e2e_now() - t_flood;
    json_t *stats = rpc_must("testnode_stats", json_array());
    json_t *fs = json_object_get(stats, "faults");
    long f_delay = (long)json_integer_value(json_object_get(fs, "delay"));
    long f_drop = (long)json_integer_value(json_object_get(fs, "drop"));
    json_decref(stats);
    json_decref(rpc_must("testnode_clearfaults", json_array()));
    if (!naive && (service_died() || svc_ch.pid <= 0 || svc_armed)) {
        /* Settling happens on a daemon without an armed crash point. */
        if (svc_ch.pid > 0) e2e_stop(&svc_ch, SIGKILL, 2000);
        crash_env[0] = 0;
        start_service();
    }
    printf("flood[%s]: flood over after %.1fs; node injected %ld late answers and %ld dropped connections; "
           "faults cleared\n", tag, flood_s, f_delay, f_drop);

    /* A late user comes back for every code that never got a success answer (no faults now). */
    int late = 0;
    for (i = 0; i < n_codes; i++) {
        if (atomic_load(&codes[i].payout_id) != 0) continue;
        late++;
        uint64_t r2 = seed + (uint64_t)i;
        redeem_task(&codes[i], &r2);
    }

    if (approval && !naive) approval_ok = run_approval(tag);

    /* Settle: mine until every payout the service named is confirmed (oncesign), or the mempool is
     * empty (naive), within settle_s. */
    double deadline = e2e_now() + settle_s;
    int settled = 0;
    while (e2e_now() < deadline) {
        if (!naive && service_died()) {
            fprintf(stderr, "flood: the service died while settling\n");
            if (unexpected_deaths > 3) break;
            start_service();
        }
        mine(1, miner_addr);
        if (naive) {
            json_t *mp = rpc_must("getrawmempool", json_array());
            size_t left = json_array_size(mp);
            json_decref(mp);
            if (left == 0) {
                settled = 1;
                break;
            }
        } else {
            int pending = 0;
            for (i = 0; i <= n_codes && !pending; i++) {
                int64_t id = i < n_codes ? atomic_load(&codes[i].payout_id) : approval_id;
                if (i == n_codes && !approval_id) break;
                if (id == 0) {
                    pending = 1;
                    break;
                }
                char path[64];
                snprintf(path, sizeof path, "/v1/payouts/%" PRId64, id);
                e2e_resp r = svc("GET", path, NULL, 5000);
                const char *st = json_string_value(json_object_get(r.body, "status"));
                if (!st || (strcmp(st, "confirmed") != 0 && strcmp(st, "failed") != 0)) pending = 1;
                e2e_resp_free(&r);
            }
            if (!pending) {
                json_t *mp = rpc_must("getrawmempool", json_array());
                size_t left = json_array_size(mp);
                json_decref(mp);
                if (left == 0) {
                    settled = 1;
                    break;
                }
            }
        }
        e2e_sleep_ms(300);
    }
    mine(1, miner_addr);

    /* ---- verdict from the chain ---- */
    json_t *addrs = json_array();
    for (i = 0; i < n_codes; i++) json_array_append_new(addrs, json_string(codes[i].address));
    json_t *recv = rpc_must("testnode_received", json_pack("[o,i]", addrs, 1));
    int paid = 0, dbl = 0, unpaid = 0, wrong = 0, conflicting = 0;
    long extra = 0;
    int64_t paid_total = 0, extra_total = 0;
    for (i = 0; i < n_codes; i++) {
        json_t *e = json_object_get(recv, codes[i].address);
        int count = (int)json_integer_value(json_object_get(e, "count"));
        int64_t amount = e2e_amount_sat(json_object_get(e, "amount"));
        if (count == 0) unpaid++;
        else paid++;
        if (count > 1) {
            dbl++;
            extra += count - 1;
            extra_total += amount - codes[i].amount;
        }
        if (amount != codes[i].amount * count) wrong++;
        paid_total += amount;
        conflicting += atomic_load(&codes[i].conflicting);
    }
    json_decref(recv);
    int64_t approval_paid = 0;
    if (approval_ok == 1) {
        json_t *ar = rpc_must("testnode_received", json_pack("[[s],i]", approval_addr, 1));
        json_t *e = json_object_get(ar, approval_addr);
        approval_paid = e2e_amount_sat(json_object_get(e, "amount"));
        if (json_integer_value(json_object_get(e, "count")) != 1 || approval_paid != APPROVAL_AMOUNT) approval_ok = 0;
        json_decref(ar);
        printf("flood[%s]: approval: the chain paid the approved withdrawal %.8f MONA\n", tag, approval_paid / 1e8);
    }

    /* oncesign: walk every block since funding; every transaction spending the hot wallet's coins
     * must be one the ledger named, and what is left must equal funding - payouts - fees. */
    int unknown_txs = 0, balance_ok = naive ? -1 : 0, hot_txs = 0, bad_fee_txs = 0;
    int64_t fees = 0, chain_payouts = 0, hot_left = 0, ledger_balance = -1;
    if (!naive) {
        /* The txids the ledger knows, from the payouts it named. */
        size_t n_known = 0;
        char (*known)[65] = calloc((size_t)n_codes, 65);
        for (i = 0; i < n_codes; i++) {
            int64_t id = atomic_load(&codes[i].payout_id);
            if (!id) continue;
            char path[64];
            snprintf(path, sizeof path, "/v1/payouts/%" PRId64, id);
            e2e_resp r = svc("GET", path, NULL, 5000);
            const char *tx = json_string_value(json_object_get(r.body, "txid"));
            if (tx) snprintf(known[n_known++], 65, "%s", tx);
            e2e_resp_free(&r);
        }
        if (approval_txid[0]) {
            char (*grown)[65] = realloc(known, ((size_t)n_codes + 1) * 65);
            if (!grown) die("out of memory");
            known = grown;
            snprintf(known[n_known++], 65, "%s", approval_txid);
        }
        json_t *tip = rpc_must("getblockcount", json_array());
        int64_t tip_h = (int64_t)json_integer_value(tip);
        json_decref(tip);
        int64_t h;
        for (h = funding_height; h <= tip_h; h++) {
            json_t *bh = rpc_must("getblockhash", json_pack("[I]", (json_int_t)h));
            json_t *blk = rpc_must("getblock", json_pack("[O,i]", bh, 2));
            json_decref(bh);
            json_t *txs = json_object_get(blk, "tx");
            size_t ti;
            for (ti = 0; ti < json_array_size(txs); ti++) {
                json_t *tx = json_array_get(txs, ti);
                const char *txid = json_string_value(json_object_get(tx, "txid"));
                json_t *vin = json_object_get(tx, "vin"), *vout = json_object_get(tx, "vout");
                size_t k;
                int64_t in = 0, out = 0;
                int spends_hot = 0;
                for (k = 0; k < json_array_size(vin); k++) {
                    json_t *x = json_array_get(vin, k);
                    const char *pt = json_string_value(json_object_get(x, "txid"));
                    int64_t v;
                    if (pt && hot_take(pt, (int)json_integer_value(json_object_get(x, "vout")), &v)) {
                        in += v;
                        spends_hot = 1;
                    }
                }
                for (k = 0; k < json_array_size(vout); k++) {
                    json_t *o = json_array_get(vout, k);
                    const char *ad = out_address(o);
                    int64_t v = e2e_amount_sat(json_object_get(o, "value"));
                    if (strcmp(ad, recv_addr) == 0 && !spends_hot) {
                        hot_add(txid, (int)k, v);   /* funding */
                        continue;
                    }
                    if (!spends_hot) continue;
                    out += v;
                    if (is_destination(ad)) chain_payouts += v;
                    else hot_add(txid, (int)k, v);   /* change back to the signer's keys */
                }
                if (spends_hot) {
                    fees += in - out;
                    hot_txs++;
                    if (in - out < 0 || in - out > 1000000) {   /* the signer's default fee cap: 0.01 MONA */
                        bad_fee_txs++;
                        fprintf(stderr, "flood: transaction %s pays a fee of %" PRId64 " sat\n", txid, in - out);
                    }
                    size_t q;
                    int found = 0;
                    for (q = 0; q < n_known && !found; q++) found = strcmp(known[q], txid) == 0;
                    if (!found) {
                        unknown_txs++;
                        fprintf(stderr, "flood: transaction %s spends the hot wallet but no payout names it\n", txid);
                    }
                }
            }
            json_decref(blk);
        }
        free(known);
        size_t q;
        for (q = 0; q < n_hot; q++) hot_left += hot[q].value;
        e2e_resp r = svc("GET", "/v1/wallet", NULL, 5000);
        json_t *b = json_object_get(r.body, "balance");
        if (json_is_object(b)) /* oncesignd: {"confirmed","unconfirmed"} satoshi; the mempool is empty by now */
            ledger_balance = (int64_t)json_integer_value(json_object_get(b, "confirmed")) +
                             (int64_t)json_integer_value(json_object_get(b, "unconfirmed"));
        else if (json_is_integer(b))
            ledger_balance = (int64_t)json_integer_value(b);
        e2e_resp_free(&r);
        balance_ok = bad_fee_txs == 0 && hot_left == funding - chain_payouts - fees && chain_payouts == paid_total + approval_paid &&
                     (ledger_balance < 0 || ledger_balance == hot_left);
    }

    /* oncesign: with the daemon stopped, the operator CLI opens the ledger with the signer attached
     * and checks the signer's nonce root and log head against it (I6) -- after every kill and
     * crash point the two must still describe the same history. */
    int signer_check = -1;
    if (!naive) {
        e2e_stop(&svc_ch, SIGTERM, 10000);
        char cli[600], db[600], dev[600], out[600];
        snprintf(cli, sizeof cli, "%s/oncesign", build_dir);
        snprintf(db, sizeof db, "%s/ledger.db", workdir);
        snprintf(dev, sizeof dev, "sim:%s/signer.sock", workdir);
        snprintf(out, sizeof out, "%s/status.out", workdir);
        char *cargv[] = { cli, "--device", dev, "status", "--db", db, NULL };
        e2e_child st = { 0, -1, "" };
        if (e2e_spawn(&st, "cli", cargv, out) == 0) {
            e2e_drain(&st, out);
            double until = e2e_now() + 30;
            int wst = 0;
            pid_t w = 0;
            while ((w = waitpid(st.pid, &wst, WNOHANG)) == 0 && e2e_now() < until) e2e_sleep_ms(20);
            if (w == 0) e2e_stop(&st, SIGKILL, 1000);
            signer_check = w == st.pid && WIFEXITED(wst) && WEXITSTATUS(wst) == 0;
            e2e_sleep_ms(50);   /* the drain thread finishes the file */
            FILE *f = fopen(out, "r");
            char line[300];
            printf("flood[%s]: signer vs ledger (oncesign status --device, daemon stopped): %s\n", tag,
                   signer_check ? "consistent" : "MISMATCH or error");
            while (f && fgets(line, sizeof line, f)) printf("           | %s", line);
            if (f) fclose(f);
        }
    }

    int bridge_attack = vouchers && !naive ? run_bridge_attack(tag) : -1;

    double lat_p50 = 0, lat_p99 = 0;
    long nl = atomic_load(&n_lat);
    if (nl > (long)n_codes * dup_k * 16) nl = (long)n_codes * dup_k * 16;
    if (nl > 0) {
        qsort(latencies, (size_t)nl, sizeof *latencies, cmp_double);
        lat_p50 = latencies[nl / 2] * 1000;
        lat_p99 = latencies[(nl * 99) / 100] * 1000;
    }

    printf("\n  %-10s %6s %6s %8s %7s %8s %14s %10s\n", "design", "codes", "paid", "double", "unpaid", "extra",
           "overpaid MONA", "settled");
    printf("  %-10s %6d %6d %8d %7d %8ld %14.8f %10s\n", design, n_codes, paid, dbl, unpaid, extra,
           (double)extra_total / 1e8, settled ? "yes" : "no");
    if (!naive)
        printf("  chain: funding %.8f, payouts %.8f in %d transactions, fees %.8f, hot wallet left %.8f "
               "(ledger says %.8f), %d unknown transactions, %d with an out-of-range fee\n",
               funding / 1e8, chain_payouts / 1e8, hot_txs, fees / 1e8, hot_left / 1e8, ledger_balance / 1e8,
               unknown_txs, bad_fee_txs);
    printf("  requests %ld (p50 %.1f ms, p99 %.1f ms), late redeems %d, conflicting answers %d, kills %ld, "
           "crashes %ld, %.1fs in all\n\n",
           atomic_load(&n_requests), lat_p50, lat_p99, late, conflicting, atomic_load(&n_kills),
           atomic_load(&n_crashes), e2e_now() - t_start);
    printf("flood: design=%s codes=%d paid=%d double_payouts=%d unpaid=%d extra_payouts=%ld wrong_amount=%d "
           "unknown_txs=%d balance_ok=%d conflicting_answers=%d approval=%d service_deaths=%d signer_check=%d "
           "failed_starts=%d bridge_attack=%d seed=%" PRIu64 "\n",
           design, n_codes, paid, dbl, unpaid, extra, wrong, unknown_txs, balance_ok, conflicting, approval_ok,
           unexpected_deaths, signer_check, atomic_load(&start_failures), bridge_attack, seed);
    fflush(stdout);
    int ok = naive && !bench ? dbl > 0
                   : (paid == n_codes && dbl == 0 && unpaid == 0 && wrong == 0 && unknown_txs == 0 && (naive || balance_ok == 1) &&
                      conflicting == 0 && approval_ok != 0 && unexpected_deaths == 0 && signer_check != 0 &&
                      bridge_attack != 0);
    if (!ok) keep = 1;
    if (keep) fprintf(stderr, "flood: logs kept in %s\n", workdir);
    return ok ? 0 : 1;
}
