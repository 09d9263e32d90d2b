/*
 * kv_bench.c — the driver of the db_bench-shaped workloads (kv_bench.h).
 *
 * For each peer, REPS times, each in fresh directories (scripts/bench.sh runs
 * one repetition per process instead, the peers interleaved, and report.py
 * takes the medians):
 *
 *   fillseq     N puts, keys 0..N-1 in order, batches of 1,000 (a fresh store)
 *   fillrandom  N puts, the keys 0..N-1 in a random order (a fresh store)
 *   overwrite   N puts of uniformly random keys of that store
 *   readrandom  READS gets of uniformly random keys (all present)
 *   readseq     a full scan in key order
 *   seekrandom  READS seeks to a random key, reading the entry found
 *   log_append  log-shaped: N appends in batches of 1,000 (a fresh store)
 *   log_scan    log-shaped: a full scan in offset order
 *
 * fillrandom .. seekrandom share one open store, in that order, as db_bench
 * runs them: background work (compaction) a write workload leaves behind is
 * paid by the next one. Timed: only the store's calls (keys and values are
 * prepared outside the clock, the same for every peer); opening and closing
 * are not timed. Before each write workload the file system is synced, so no
 * workload pays for the previous one's writeback.
 *
 * Per workload: the median over REPS of the time (ops/s, us/op, MB/s with
 * 116 bytes of key + value per record), of the process's peak resident set
 * during it (VmHWM, reset before it), of the bytes it caused to be written to
 * storage (/proc/self/io write_bytes) and of the store's size on disk after it
 * (du). Every read is checked: gets must find every key, scans must see every
 * record in order, seeks must land on the key sought.
 */
#include "kv_bench.h"

#include "bench_util.h"

#include <sys/stat.h>

#define BATCH 1000
#define VALUE_LEN 100
#define KV_BYTES_PER_OP (BU_KEY_LEN + VALUE_LEN) /* = 8 + 8 + 100 in the log shape too */
#define POOL_BYTES (1u << 20)                    /* values are slices of it, as in db_bench */
#define DEFAULT_N 1000000ull
#define DEFAULT_READS 200000ull
#define MAX_REPS 9
#define MAX_PEERS 16
#define T0_MS 1700000000000LL
#define RECS_PER_MS 10

enum {
    W_FILLSEQ,
    W_FILLRANDOM,
    W_OVERWRITE,
    W_READRANDOM,
    W_READSEQ,
    W_SEEKRANDOM,
    W_LOG_APPEND,
    W_LOG_SCAN,
    W_COUNT
};

static const struct {
    const char *key;   /* JSON key */
    const char *label; /* printed */
    int mode;
} g_wl[W_COUNT] = {
    {"fillseq", "fillseq (keys in order)", KV_MODE_KV},
    {"fillrandom", "fillrandom (keys in random order)", KV_MODE_KV},
    {"overwrite", "overwrite (random existing keys)", KV_MODE_KV},
    {"readrandom", "readrandom (gets, all found)", KV_MODE_KV},
    {"readseq", "readseq (full scan)", KV_MODE_KV},
    {"seekrandom", "seekrandom (seek + read one)", KV_MODE_KV},
    {"log_append", "log-shaped append (batches)", KV_MODE_LOG},
    {"log_scan", "log-shaped full scan", KV_MODE_LOG},
};

/* One workload's measures in one repetition. */
typedef struct sample {
    double secs;        /* the store's calls only */
    double peak_rss;    /* bytes, VmHWM during the workload */
    double write_bytes; /* bytes, /proc/self/io write_bytes delta; < 0: unknown */
    double disk_bytes;  /* bytes, du of the store's directory after the workload */
    double anon_bytes;  /* bytes, anonymous memory (RssAnon) after the workload less before the open */
} sample;

typedef struct result {
    uint64_t ops;
    int nruns;
    sample s[MAX_REPS];
} result;

static uint8_t *g_pool;  /* POOL_BYTES + VALUE_LEN random bytes */
static uint32_t *g_perm; /* fillrandom's key order */
static char *g_readkeys; /* READS keys, formatted before the clock starts */
static uint8_t *g_found; /* seekrandom: the key found, per op */
static int g_rss_reset_ok = 1;
static double g_anon_base; /* RssAnon before the store was opened */
static char g_base[4096];
static int g_keep;

static const uint8_t *value_of(uint64_t i) {
    return g_pool + (i * VALUE_LEN) % POOL_BYTES;
}

static void cleanup(void) {
    if (g_base[0] && !g_keep) rm_rf(g_base);
}

static void fresh_dir(char *out, size_t cap, const char *peer, const char *what, int rep) {
    int k = snprintf(out, cap, "%s/%s-%s-%d", g_base, peer, what, rep);
    if (k < 0 || (size_t)k >= cap) bu_die("kv_bench: path too long");
    rm_rf(out);
    if (mkdir(out, 0755) != 0) bu_die("kv_bench: mkdir %s: %s", out, strerror(errno));
}

/* ---- measuring --------------------------------------------------------------- */

typedef struct meter {
    double wb0;
} meter;

static void meter_start(meter *m) {
    if (bu_peak_rss_reset() != 0) g_rss_reset_ok = 0;
    m->wb0 = bu_io_write_bytes();
}

static void meter_stop(const meter *m, sample *s, double secs, const char *dir) {
    s->secs = secs;
    s->peak_rss = bu_peak_rss();
    double wb1 = bu_io_write_bytes();
    s->write_bytes = m->wb0 >= 0 && wb1 >= 0 ? wb1 - m->wb0 : -1;
    s->disk_bytes = bu_du(dir);
    double anon = bu_status_bytes("RssAnon");
    s->anon_bytes = anon >= 0 && g_anon_base >= 0 ? anon - g_anon_base : NAN;
}

/* Opens the store, noting the anonymous memory before it. */
static void *open_store(const kv_peer *p, const char *dir, int mode, uint64_t n) {
    g_anon_base = bu_status_bytes("RssAnon");
    return p->open(dir, mode, n);
}

/* ---- workloads ---------------------------------------------------------------- */

typedef struct batch {
    char keys[BATCH][BU_KEY_LEN];
    uint8_t vals[BATCH][KV_LOG_TS_LEN + VALUE_LEN]; /* log shape only */
    kv_rec recs[BATCH];
} batch;

/* N writes in batches of BATCH; the key of each op per workload w. Seconds
 * spent in the store's write calls. */
static double run_writes(const kv_peer *p, void *h, int w, uint64_t n, uint64_t *rng) {
    static batch b;
    int64_t spent = 0;
    for (uint64_t i = 0; i < n; i += BATCH) {
        size_t k = n - i < BATCH ? (size_t)(n - i) : BATCH;
        for (size_t j = 0; j < k; j++) {
            uint64_t op = i + j;
            kv_rec *r = &b.recs[j];
            if (w == W_LOG_APPEND) {
                bu_put_be64((uint8_t *)b.keys[j], op);
                bu_put_be64(b.vals[j], (uint64_t)(T0_MS + (int64_t)(op / RECS_PER_MS)));
                memcpy(b.vals[j] + KV_LOG_TS_LEN, value_of(op), VALUE_LEN);
                *r = (kv_rec){b.keys[j], KV_LOG_KEY_LEN, b.vals[j], KV_LOG_TS_LEN + VALUE_LEN};
                continue;
            }
            uint64_t key = w == W_FILLSEQ ? op : w == W_FILLRANDOM ? g_perm[op] : bu_below(rng, n);
            bu_key16(b.keys[j], key);
            *r = (kv_rec){b.keys[j], BU_KEY_LEN, value_of(op), VALUE_LEN};
        }
        int64_t t0 = now_ns();
        p->write(h, b.recs, k);
        spent += now_ns() - t0;
    }
    return (double)spent / 1e9;
}

static void prepare_read_keys(uint64_t reads, uint64_t n, uint64_t *rng) {
    for (uint64_t i = 0; i < reads; i++)
        bu_key16(g_readkeys + i * BU_KEY_LEN, bu_below(rng, n));
}

static double run_gets(const kv_peer *p, void *h, uint64_t reads) {
    uint64_t missing = 0, wrong_len = 0;
    int64_t t0 = now_ns();
    for (uint64_t i = 0; i < reads; i++) {
        size_t vlen = 0;
        if (!p->get(h, g_readkeys + i * BU_KEY_LEN, BU_KEY_LEN, &vlen))
            missing++;
        else
            wrong_len += vlen != VALUE_LEN;
    }
    double s = secs_since(t0);
    if (missing || wrong_len)
        bu_die("kv_bench: %s readrandom: %llu of %llu keys missing, %llu values of a wrong length",
               p->name, (unsigned long long)missing, (unsigned long long)reads,
               (unsigned long long)wrong_len);
    return s;
}

static double run_seeks(const kv_peer *p, void *h, uint64_t reads) {
    uint64_t wrong = 0;
    int64_t t0 = now_ns();
    for (uint64_t i = 0; i < reads; i++) {
        size_t flen = 0;
        uint8_t *got = g_found + i * BU_KEY_LEN;
        if (!p->seek(h, g_readkeys + i * BU_KEY_LEN, BU_KEY_LEN, got, BU_KEY_LEN, &flen) ||
            flen != BU_KEY_LEN)
            wrong++;
    }
    double s = secs_since(t0);
    for (uint64_t i = 0; i < reads; i++)
        wrong += memcmp(g_found + i * BU_KEY_LEN, g_readkeys + i * BU_KEY_LEN, BU_KEY_LEN) != 0;
    if (wrong)
        bu_die("kv_bench: %s seekrandom: %llu of %llu seeks did not land on the key sought",
               p->name, (unsigned long long)wrong, (unsigned long long)reads);
    return s;
}

static double run_scan(const kv_peer *p, void *h, uint64_t n, const char *what) {
    uint64_t bytes = 0;
    int64_t t0 = now_ns();
    uint64_t count = p->scan(h, &bytes);
    double s = secs_since(t0);
    if (count != n)
        bu_die("kv_bench: %s %s saw %llu records, expected %llu", p->name, what,
               (unsigned long long)count, (unsigned long long)n);
    return s;
}

/* ---- one peer -------------------------------------------------------------------- */

static void record(result *res, int w, uint64_t ops, const meter *m, double secs, const char *dir) {
    result *r = &res[w];
    r->ops = ops;
    meter_stop(m, &r->s[r->nruns++], secs, dir);
}

static void run_peer(const kv_peer *p, uint64_t n, uint64_t reads, int reps, uint64_t seed,
                     result *res, double *close_s) {
    char dir[4200];
    meter m;
    for (int rep = 0; rep < reps; rep++) {
        uint64_t rng = seed + (uint64_t)rep * 0x1000;
        if (p->modes & KV_MODE_KV) {
            fprintf(stderr, "  [%s %d/%d] fillseq\n", p->name, rep + 1, reps);
            fresh_dir(dir, sizeof dir, p->name, "seq", rep);
            void *h = open_store(p, dir, KV_MODE_KV, n);
            bu_syncfs(g_base);
            meter_start(&m);
            record(res, W_FILLSEQ, n, &m, run_writes(p, h, W_FILLSEQ, n, &rng), dir);
            p->close(h);
            rm_rf(dir);

            fprintf(stderr, "  [%s %d/%d] fillrandom, overwrite, readrandom, readseq, seekrandom\n",
                    p->name, rep + 1, reps);
            fresh_dir(dir, sizeof dir, p->name, "random", rep);
            h = open_store(p, dir, KV_MODE_KV, n);
            bu_syncfs(g_base);
            meter_start(&m);
            record(res, W_FILLRANDOM, n, &m, run_writes(p, h, W_FILLRANDOM, n, &rng), dir);
            bu_syncfs(g_base);
            meter_start(&m);
            record(res, W_OVERWRITE, n, &m, run_writes(p, h, W_OVERWRITE, n, &rng), dir);
            prepare_read_keys(reads, n, &rng);
            meter_start(&m);
            record(res, W_READRANDOM, reads, &m, run_gets(p, h, reads), dir);
            meter_start(&m);
            record(res, W_READSEQ, n, &m, run_scan(p, h, n, "readseq"), dir);
            prepare_read_keys(reads, n, &rng);
            meter_start(&m);
            record(res, W_SEEKRANDOM, reads, &m, run_seeks(p, h, reads), dir);
            int64_t t0 = now_ns();
            p->close(h);
            close_s[rep] = secs_since(t0);
            rm_rf(dir);
        }
        if (p->modes & KV_MODE_LOG) {
            fprintf(stderr, "  [%s %d/%d] log-shaped append, scan\n", p->name, rep + 1, reps);
            fresh_dir(dir, sizeof dir, p->name, "log", rep);
            void *h = open_store(p, dir, KV_MODE_LOG, n);
            bu_syncfs(g_base);
            meter_start(&m);
            record(res, W_LOG_APPEND, n, &m, run_writes(p, h, W_LOG_APPEND, n, &rng), dir);
            meter_start(&m);
            record(res, W_LOG_SCAN, n, &m, run_scan(p, h, n, "log_scan"), dir);
            p->close(h);
            rm_rf(dir);
        }
    }
}

/* ---- output ------------------------------------------------------------------------- */

static double med_of(const result *r, size_t field_offset) {
    double v[MAX_REPS];
    for (int i = 0; i < r->nruns; i++)
        memcpy(&v[i], (const char *)&r->s[i] + field_offset, sizeof(double));
    return median(v, r->nruns);
}

#define MED(r, field) med_of((r), offsetof(sample, field))

static void print_peer(const kv_peer *p, const result *res) {
    const double mib = 1024.0 * 1024.0;
    printf("\n%s %s — %s\n", p->name, p->version(), p->settings);
    printf("  %-36s %12s %10s %9s %9s %9s %11s %9s\n", "workload", "ops/s", "us/op", "MB/s", "peak RSS",
           "anon", "written", "on disk");
    for (int w = 0; w < W_COUNT; w++) {
        const result *r = &res[w];
        if (!r->nruns) continue;
        double secs = MED(r, secs), wb = MED(r, write_bytes);
        char wbuf[32] = "n/a";
        if (wb >= 0) snprintf(wbuf, sizeof wbuf, "%.1f MiB", wb / mib);
        printf("  %-36s %12.0f %10.3f %9.1f %5.0f MiB %5.0f MiB %11s %5.0f MiB\n", g_wl[w].label,
               (double)r->ops / secs, secs * 1e6 / (double)r->ops,
               (double)r->ops * KV_BYTES_PER_OP / secs / 1e6, MED(r, peak_rss) / mib,
               MED(r, anon_bytes) / mib, wbuf, MED(r, disk_bytes) / mib);
    }
}

static void json_peer(FILE *f, const kv_peer *p, const result *res, const double *close_s,
                      int reps) {
    fprintf(f, "    {\"peer\": ");
    json_str(f, p->name);
    fprintf(f, ", \"status\": \"ran\", \"version\": ");
    json_str(f, p->version());
    fprintf(f, ", \"settings\": ");
    json_str(f, p->settings);
    if (p->modes & KV_MODE_KV) {
        fprintf(f, ", \"close_seconds\": ");
        json_num(f, median(close_s, reps));
    }
    fprintf(f, ",\n     \"workloads\": {");
    int first = 1;
    for (int w = 0; w < W_COUNT; w++) {
        const result *r = &res[w];
        if (!r->nruns) continue;
        double secs = MED(r, secs);
        fprintf(f, "%s\n      ", first ? "" : ",");
        first = 0;
        json_str(f, g_wl[w].key);
        fprintf(f, ": {\"label\": ");
        json_str(f, g_wl[w].label);
        fprintf(f, ", \"ops\": %llu, \"seconds\": ", (unsigned long long)r->ops);
        json_num(f, secs);
        fprintf(f, ", \"ops_per_s\": ");
        json_num(f, (double)r->ops / secs);
        fprintf(f, ", \"us_per_op\": ");
        json_num(f, secs * 1e6 / (double)r->ops);
        fprintf(f, ", \"mb_per_s\": ");
        json_num(f, (double)r->ops * KV_BYTES_PER_OP / secs / 1e6);
        fprintf(f, ", \"peak_rss_bytes\": ");
        json_num(f, MED(r, peak_rss));
        double wb = MED(r, write_bytes);
        fprintf(f, ", \"write_bytes\": ");
        json_num(f, wb >= 0 ? wb : NAN);
        fprintf(f, ", \"disk_bytes\": ");
        json_num(f, MED(r, disk_bytes));
        fprintf(f, ", \"anon_bytes\": ");
        json_num(f, MED(r, anon_bytes));
        fprintf(f, ", \"runs_seconds\": [");
        for (int i = 0; i < r->nruns; i++) {
            if (i) fputs(", ", f);
            json_num(f, r->s[i].secs);
        }
        fprintf(f, "]}");
    }
    fprintf(f, "\n     }}");
}

/* ---- main ----------------------------------------------------------------------------- */

static void usage(const char *prog, const kv_peer *const *peers, size_t npeers) {
    fprintf(stderr,
            "usage: %s [-n N] [-R READS] [-r REPS] [-d DIR] [-k] [--peer NAME]... [--json FILE]\n"
            "  -n N         records written by the fill, overwrite and log workloads (default "
            "%llu)\n"
            "  -R READS     gets and seeks (default min(N, %llu))\n"
            "  -r REPS      repetitions, median printed (default 3, max %d)\n"
            "  -d DIR       make the run's data directory under DIR (default /tmp)\n"
            "  -k           keep the data directory\n"
            "  --peer NAME  run this peer only (repeatable); compiled in:",
            prog, DEFAULT_N, DEFAULT_READS, MAX_REPS);
    for (size_t i = 0; i < npeers; i++)
        fprintf(stderr, " %s", peers[i]->name);
    fprintf(stderr, "\n  --json FILE  also write the figures as JSON\n"
                    "  SEED=S       seed of values, key orders and lookups (environment)\n");
    exit(2);
}

static uint64_t parse_u64(const char *prog, const char *s, const char *flag) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || s[0] == '-')
        bu_die("%s: %s wants a positive integer, got '%s'", prog, flag, s);
    return v;
}

int kv_bench_main(const char *prog, int argc, char **argv, const kv_peer *const *peers,
                  size_t npeers, const kv_skipped *skipped, size_t nskipped) {
    uint64_t n = DEFAULT_N, reads = 0;
    int reps = 3;
    const char *dir = "/tmp", *json = NULL;
    const char *only[MAX_PEERS];
    size_t nonly = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            usage(prog, peers, npeers);
        else if (!strcmp(a, "-k"))
            g_keep = 1;
        else if (i + 1 >= argc)
            usage(prog, peers, npeers);
        else if (!strcmp(a, "-n"))
            n = parse_u64(prog, argv[++i], a);
        else if (!strcmp(a, "-R"))
            reads = parse_u64(prog, argv[++i], a);
        else if (!strcmp(a, "-r"))
            reps = (int)parse_u64(prog, argv[++i], a);
        else if (!strcmp(a, "-d"))
            dir = argv[++i];
        else if (!strcmp(a, "--json"))
            json = argv[++i];
        else if (!strcmp(a, "--peer") && nonly < MAX_PEERS)
            only[nonly++] = argv[++i];
        else
            usage(prog, peers, npeers);
    }
    if (reps > MAX_REPS || n > UINT32_MAX) usage(prog, peers, npeers);
    if (!reads) reads = n < DEFAULT_READS ? n : DEFAULT_READS;
    uint64_t seed = 0x6b7662656e6368ull; /* "kvbench" */
    const char *seed_env = getenv("SEED");
    if (seed_env && *seed_env) seed = strtoull(seed_env, NULL, 0);

    /* Which peers run; a --peer that was compiled out is reported as skipped. */
    const kv_peer *run[MAX_PEERS];
    size_t nrun = 0;
    const kv_skipped *skip[MAX_PEERS];
    size_t nskip = 0;
    for (size_t i = 0; i < npeers && nrun < MAX_PEERS; i++) {
        int want = nonly == 0;
        for (size_t j = 0; j < nonly; j++)
            want |= !strcmp(only[j], peers[i]->name);
        if (want) run[nrun++] = peers[i];
    }
    for (size_t i = 0; i < nskipped && nskip < MAX_PEERS; i++) {
        int want = nonly == 0;
        for (size_t j = 0; j < nonly; j++)
            want |= !strcmp(only[j], skipped[i].name);
        if (want) skip[nskip++] = &skipped[i];
    }
    for (size_t j = 0; j < nonly; j++) {
        int known = 0;
        for (size_t i = 0; i < nrun; i++)
            known |= !strcmp(only[j], run[i]->name);
        for (size_t i = 0; i < nskip; i++)
            known |= !strcmp(only[j], skip[i]->name);
        if (!known) bu_die("%s: no peer named '%s' (see --help)", prog, only[j]);
    }

    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        bu_die("%s: mkdir %s: %s", prog, dir, strerror(errno));
    int k = snprintf(g_base, sizeof g_base, "%s/lsmlog-kvbench-XXXXXX", dir);
    if (k < 0 || (size_t)k >= sizeof g_base) bu_die("%s: directory path too long", prog);
    if (!mkdtemp(g_base)) bu_die("%s: mkdtemp %s: %s", prog, g_base, strerror(errno));
    atexit(cleanup);

    g_pool = malloc(POOL_BYTES + VALUE_LEN);
    g_perm = malloc(n * sizeof *g_perm);
    g_readkeys = malloc(reads * BU_KEY_LEN);
    g_found = malloc(reads * BU_KEY_LEN);
    if (!g_pool || !g_perm || !g_readkeys || !g_found) bu_die("%s: out of memory", prog);
    /* touched now, so that the anonymous memory measured for a store is its own */
    memset(g_readkeys, 0, reads * BU_KEY_LEN);
    memset(g_found, 0, reads * BU_KEY_LEN);
    bu_fill_random(g_pool, POOL_BYTES + VALUE_LEN, seed);
    {
        uint64_t s = seed ^ 0x5065726d; /* Fisher-Yates */
        for (uint64_t i = 0; i < n; i++)
            g_perm[i] = (uint32_t)i;
        for (uint64_t i = n - 1; i > 0; i--) {
            uint64_t j = bu_below(&s, i + 1);
            uint32_t t = g_perm[i];
            g_perm[i] = g_perm[j];
            g_perm[j] = t;
        }
    }

    printf("%s — db_bench-shaped workloads, one run\n", prog);
    printf("  N=%llu records (16-byte keys, 100-byte random values; log shape: 8-byte offset\n"
           "  keys, 8-byte timestamp + 100-byte values), batches of %d, READS=%llu, %d runs\n"
           "  each (median shown), seed=0x%llx; data in %s\n"
           "  timed: the store's calls only; MB/s counts %d bytes of key + value per record;\n"
           "  peak RSS: VmHWM during the workload%s; written: /proc/self/io write_bytes;\n"
           "  on disk: du of the store after the workload\n",
           (unsigned long long)n, BATCH, (unsigned long long)reads, reps, (unsigned long long)seed,
           g_base, KV_BYTES_PER_OP,
           bu_peak_rss_reset() == 0 ? "" : " (NOT resettable here: the process's peak)");
    for (size_t i = 0; i < nskip; i++)
        printf("\n%s: skipped: %s\n", skip[i]->name, skip[i]->reason);
    fflush(stdout);

    static result res[MAX_PEERS][W_COUNT];
    static double close_s[MAX_PEERS][MAX_REPS];
    double base_rss = bu_status_bytes("VmRSS");
    for (size_t i = 0; i < nrun; i++) {
        fprintf(stderr, "%s: %s\n", prog, run[i]->name);
        run_peer(run[i], n, reads, reps, seed, res[i], close_s[i]);
        print_peer(run[i], res[i]);
        fflush(stdout);
    }
    if (!g_rss_reset_ok)
        printf("\nnote: peak RSS could not be reset: figures are the process's peak\n");
    printf("\nthe harness's own resident set before any store was opened: %.0f MiB\n",
           base_rss / (1024.0 * 1024.0));

    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) bu_die("%s: open %s: %s", prog, json, strerror(errno));
        fprintf(f, "{\n  \"bench\": ");
        json_str(f, prog);
        fprintf(f,
                ",\n  \"params\": {\"n\": %llu, \"reads\": %llu, \"reps\": %d, \"batch\": %d, "
                "\"key_bytes\": %d, \"value_bytes\": %d, \"seed\": %llu, \"data_dir\": ",
                (unsigned long long)n, (unsigned long long)reads, reps, BATCH, BU_KEY_LEN,
                VALUE_LEN, (unsigned long long)seed);
        json_str(f, g_base);
        fprintf(f, ", \"peak_rss_per_workload\": %s, \"harness_rss_bytes\": ",
                g_rss_reset_ok ? "true" : "false");
        json_num(f, base_rss);
        fprintf(f, "},\n  \"peers\": [\n");
        for (size_t i = 0; i < nrun; i++) {
            json_peer(f, run[i], res[i], close_s[i], reps);
            fprintf(f, "%s\n", i + 1 < nrun || nskip ? "," : "");
        }
        for (size_t i = 0; i < nskip; i++) {
            fprintf(f, "    {\"peer\": ");
            json_str(f, skip[i]->name);
            fprintf(f, ", \"status\": \"skipped\", \"reason\": ");
            json_str(f, skip[i]->reason);
            fprintf(f, "}%s\n", i + 1 < nskip ? "," : "");
        }
        fprintf(f, "  ]\n}\n");
        if (fclose(f) != 0) bu_die("%s: write %s: %s", prog, json, strerror(errno));
    }
    free(g_pool);
    free(g_perm);
    free(g_readkeys);
    free(g_found);
    return 0;
}
