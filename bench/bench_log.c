/*
 * bench_log.c — the Log against the ceilings of the machine, in one run.
 *
 * Every figure printed is measured in this run: each workload runs REPS times
 * (default 3, each in a fresh directory) and the median is printed with the
 * range; ratios are computed from the medians of this run. Clock:
 * CLOCK_MONOTONIC. Before every timed write run the file system is synced
 * (syncfs) so no run pays for the previous run's writeback; the sides of a
 * comparison alternate order. The fdatasync comparison runs first, while the
 * device is quiet; an untimed warm-up round precedes the bulk writes. The
 * figures are only as good as the machine is idle: other I/O on it (builds,
 * tests) shows up as a wide min..max range.
 *
 * Workload: N values of 100 incompressible bytes (seeded pseudo-random,
 * SEED= to change it) with explicit timestamps T0 + i/10 ms (ten records per
 * millisecond, so offset_for_time has a known answer), appended in batches of
 * 1,000 with lsmlog_log_append_batch.
 *
 *   ceiling 1   write() of N*100 bytes in 100 KB chunks to a fresh file
 *   lsmlog os   the same values, durability "os"; ratio vs ceiling 1
 *   ceiling 2   write() of 100 KB + fdatasync() per batch, N_SYNC records
 *   lsmlog sync the same N_SYNC values, durability "sync"; ratio vs ceiling 2
 *   scan        a fresh handle iterates the "os" log (warm page cache)
 *   ...         single appends, "buffered" batches, offset_for_time, memory,
 *               writer->reader tail latency
 *
 * Timed write runs include opening and closing (the file, or the log), since
 * both are part of writing the data. Throughput in MB/s counts payload bytes
 * (N*100), MB = 10^6 bytes.
 *
 * Usage: bench_log [-n N] [-s N_SYNC] [-d DIR] [-r REPS] [-k] [--json FILE]
 */
#include "lsmlog.h"

#include "bench_util.h"
#include "crc32c.h" /* internal: the CRC32C ceiling uses the core's own */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define VALUE_LEN 100
#define BATCH 1000
#define CHUNK (VALUE_LEN * BATCH) /* 100 KB: one batch's payload */
#define MAX_REPS 9
#define T0_MS 1700000000000LL
#define RECS_PER_MS 10
#define DEFAULT_N 1000000ull
#define DEFAULT_N_SYNC 200000ull
#define DEFAULT_N_SINGLE 200000ull
#define N_SEEK 10000
#define N_TAIL 20000ull
#define TAIL_RATE 10000ull /* records per second: N_TAIL over ~2 s */

/* ---- small helpers -------------------------------------------------------- */

static char g_base[4096]; /* the run's own directory, removed at exit */
static int g_keep;        /* -k: keep it */
static volatile uint64_t g_sink; /* keeps the scan's work observable */

static void die_lsm(const char *what, int rc) {
    fprintf(stderr, "bench_log: %s failed: %d (%s): %s\n", what, rc, lsmlog_strerror(rc),
            lsmlog_errmsg());
    exit(1);
}

static void die_os(const char *what, const char *path) {
    fprintf(stderr, "bench_log: %s %s: %s\n", what, path ? path : "", strerror(errno));
    exit(1);
}

static void die_msg(const char *msg) {
    fprintf(stderr, "bench_log: %s\n", msg);
    exit(1);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != LSMLOG_OK) die_lsm(#call, rc_);                                                 \
    } while (0)

/* Directories -d made (outermost first), removed at exit if left empty. */
static char g_made[16][4096];
static int g_nmade;

static void mkdir_p(const char *dir) {
    char buf[4096];
    size_t n = strlen(dir);
    if (n >= sizeof buf) die_msg("directory path too long");
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0755) == 0) {
            if (g_nmade < 16) snprintf(g_made[g_nmade++], sizeof g_made[0], "%s", buf);
        } else if (errno != EEXIST) {
            die_os("mkdir", buf);
        }
        buf[i] = c;
    }
}

static void cleanup(void) {
    if (g_base[0] && !g_keep) {
        rm_rf(g_base);
        for (int i = g_nmade - 1; i >= 0; i--) rmdir(g_made[i]);
    }
}

/* Writes back everything dirty on the data file system, so the next timed
 * run starts from the same clean state whatever ran before it. */
static void quiesce(void) {
    int fd = open(g_base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) die_os("open", g_base);
    if (syncfs(fd) != 0) die_os("syncfs", g_base);
    close(fd);
}

static void path_in_base(char *out, size_t cap, const char *name, int rep) {
    int k = snprintf(out, cap, "%s/%s-%d", g_base, name, rep);
    if (k < 0 || (size_t)k >= cap) die_msg("path too long");
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Resident set from /proc/self/statm: total and the part not backed by files
 * (resident - shared), in bytes. */
static void rss_now(double *resident, double *anon) {
    unsigned long size = 0, res = 0, shared = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%lu %lu %lu", &size, &res, &shared) != 3)
        die_os("read", "/proc/self/statm");
    fclose(f);
    double page = (double)sysconf(_SC_PAGESIZE);
    *resident = (double)res * page;
    *anon = (double)(res - shared) * page;
}

/* ---- figures ---------------------------------------------------------------- */

typedef struct figure {
    const char *section; /* table heading this row sits under */
    const char *key;     /* JSON key */
    const char *label;   /* table label */
    const char *unit;
    double median, lo, hi;
    int nruns;               /* 0: derived from other medians */
    double runs[MAX_REPS];   /* per-run values */
    const char *goal;        /* "≥ 80%"-style text, NULL if none */
    int met;                 /* goal met: 1, missed: 0, no goal: -1 */
} figure;

static figure g_figs[64];
static int g_nfigs;

static figure *fig_runs(const char *section, const char *key, const char *label,
                        const char *unit, const double *runs, int n) {
    if (g_nfigs == (int)(sizeof g_figs / sizeof g_figs[0])) die_msg("too many figures");
    figure *f = &g_figs[g_nfigs++];
    memset(f, 0, sizeof *f);
    f->section = section;
    f->key = key;
    f->label = label;
    f->unit = unit;
    f->nruns = n;
    f->met = -1;
    memcpy(f->runs, runs, (size_t)n * sizeof *runs);
    f->median = median(runs, n);
    f->lo = f->hi = runs[0];
    for (int i = 1; i < n; i++) {
        if (runs[i] < f->lo) f->lo = runs[i];
        if (runs[i] > f->hi) f->hi = runs[i];
    }
    return f;
}

static figure *fig_value(const char *section, const char *key, const char *label,
                         const char *unit, double v) {
    figure *f = fig_runs(section, key, label, unit, &v, 1);
    f->nruns = 0;
    return f;
}

static void fig_goal_min(figure *f, const char *text, double min) {
    f->goal = text;
    f->met = f->median >= min;
}

/* Per-run derived values: out[i] = num / t[i] * scale. */
static void per_sec(double *out, const double *t, int n, double num, double scale) {
    for (int i = 0; i < n; i++) out[i] = num / t[i] * scale;
}

static void fmt_num(char *buf, size_t cap, double v) {
    double a = v < 0 ? -v : v;
    if (!isfinite(v)) snprintf(buf, cap, "n/a");
    else if (a < 1e15 && v == (double)(int64_t)v) snprintf(buf, cap, "%lld", (long long)v);
    else if (a >= 1000) snprintf(buf, cap, "%.0f", v);
    else if (a >= 100) snprintf(buf, cap, "%.1f", v);
    else if (a >= 10) snprintf(buf, cap, "%.2f", v);
    else snprintf(buf, cap, "%.3f", v);
}

static void print_table(void) {
    const char *section = NULL;
    printf("%-46s %11s %-7s %-23s %s\n", "figure", "median", "unit", "range (min .. max)",
           "goal");
    for (int i = 0; i < g_nfigs; i++) {
        const figure *f = &g_figs[i];
        if (!section || strcmp(section, f->section) != 0) {
            section = f->section;
            printf("\n[%s]\n", section);
        }
        char med[32], lo[32], hi[32], range[80] = "";
        fmt_num(med, sizeof med, f->median);
        if (f->nruns > 1) {
            fmt_num(lo, sizeof lo, f->lo);
            fmt_num(hi, sizeof hi, f->hi);
            snprintf(range, sizeof range, "%s .. %s", lo, hi);
        } else if (f->nruns == 0) {
            snprintf(range, sizeof range, "(from medians)");
        } else {
            snprintf(range, sizeof range, "(one run)");
        }
        char goal[64] = "";
        if (f->goal) snprintf(goal, sizeof goal, "%s  %s", f->goal, f->met ? "MET" : "MISSED");
        printf("  %-44s %11s %-7s %-23s %s\n", f->label, med, f->unit, range, goal);
    }
}

/* ---- machine context ------------------------------------------------------- */

typedef struct machine {
    char cpu[256];
    long nproc;
    char kernel[256];
    char fs[64];
} machine;

static const char *fs_name(unsigned long t) {
    switch (t) {
    case 0xEF53: return "ext2/3/4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs (fdatasync is a no-op)";
    case 0x794c7630: return "overlayfs";
    case 0x6969: return "nfs";
    case 0x2fc12fc1: return "zfs";
    case 0xF2F52010: return "f2fs";
    case 0x65735546: return "fuse";
    case 0x858458f6: return "ramfs (fdatasync is a no-op)";
    default: return NULL;
    }
}

static void machine_read(machine *m, const char *dir) {
    snprintf(m->cpu, sizeof m->cpu, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                const char *p = strchr(line, ':');
                if (p) {
                    p++;
                    while (*p == ' ' || *p == '\t') p++;
                    snprintf(m->cpu, sizeof m->cpu, "%s", p);
                    m->cpu[strcspn(m->cpu, "\n")] = 0;
                }
                break;
            }
        }
        fclose(f);
    }
    m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(m->kernel, sizeof m->kernel, "%s %s %s", u.sysname, u.release, u.machine);
    else
        snprintf(m->kernel, sizeof m->kernel, "unknown");
    struct statfs sf;
    if (statfs(dir, &sf) == 0) {
        const char *n = fs_name((unsigned long)sf.f_type);
        if (n) snprintf(m->fs, sizeof m->fs, "%s", n);
        else snprintf(m->fs, sizeof m->fs, "f_type 0x%lx", (unsigned long)sf.f_type);
    } else {
        snprintf(m->fs, sizeof m->fs, "unknown");
    }
}

/* ---- workloads ---------------------------------------------------------------- */

static const uint8_t *g_data; /* n_max * VALUE_LEN payload bytes */
/* The same values each in its own slot of SCATTER_STRIDE bytes, the way
 * separate objects lie on a heap (a Python bytes of 100 B takes ~140 B), so
 * that no two are adjacent: the writer must copy them. */
#define SCATTER_STRIDE 160
static const uint8_t *g_scattered;
static const uint8_t *g_src = NULL; /* where fill_batch takes values from */
static size_t g_stride = VALUE_LEN;

static void fill_batch(lsmlog_entry *e, uint64_t first, size_t k) {
    if (!g_src) g_src = g_data;
    for (size_t j = 0; j < k; j++) {
        uint64_t i = first + j;
        e[j].data = g_src + i * g_stride;
        e[j].len = VALUE_LEN;
        e[j].ts = T0_MS + (int64_t)(i / RECS_PER_MS);
    }
}

/* Ceilings: write `total` bytes of the payload in CHUNK pieces to a fresh
 * file, with an fdatasync after each piece when `sync_each`. Seconds, open to
 * close. */
static double ceiling_write(const char *path, uint64_t total, int sync_each) {
    int64_t t0 = now_ns();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die_os("open", path);
    uint64_t done = 0;
    while (done < total) {
        size_t want = total - done < CHUNK ? (size_t)(total - done) : CHUNK;
        size_t put = 0;
        while (put < want) {
            ssize_t w = write(fd, g_data + done + put, want - put);
            if (w < 0) {
                if (errno == EINTR) continue;
                die_os("write", path);
            }
            put += (size_t)w;
        }
        if (sync_each && fdatasync(fd) != 0) die_os("fdatasync", path);
        done += want;
    }
    if (close(fd) != 0) die_os("close", path);
    double s = secs_since(t0);
    if (unlink(path) != 0) die_os("unlink", path);
    return s;
}

static lsmlog_log *open_log(const char *dir, int durability) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.durability = durability;
    lsmlog_log *log = NULL;
    CHECK(lsmlog_log_open(dir, &o, &log));
    return log;
}

/* A read-only handle on an existing log. */
static lsmlog_log *open_ro(const char *dir) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.readonly = 1;
    o.create = 0;
    lsmlog_log *log = NULL;
    CHECK(lsmlog_log_open(dir, &o, &log));
    return log;
}

/* Appends records 0..n-1 in batches of BATCH into a fresh log at `dir`.
 * Seconds, open to close. *info (may be NULL) receives the log's figures
 * just before close. */
static double lsm_batched(const char *dir, int durability, uint64_t n, lsmlog_log_info *info) {
    static lsmlog_entry e[BATCH];
    int64_t t0 = now_ns();
    lsmlog_log *log = open_log(dir, durability);
    for (uint64_t i = 0; i < n; i += BATCH) {
        size_t k = n - i < BATCH ? (size_t)(n - i) : BATCH;
        fill_batch(e, i, k);
        uint64_t first = UINT64_MAX;
        CHECK(lsmlog_log_append_batch(log, e, k, &first));
        if (first != i) {
            fprintf(stderr, "bench_log: append_batch gave first offset %llu, expected %llu\n",
                    (unsigned long long)first, (unsigned long long)i);
            exit(1);
        }
    }
    if (info) CHECK(lsmlog_log_stat(log, info));
    CHECK(lsmlog_log_close(log));
    return secs_since(t0);
}

/* One lsmlog_log_append per record, durability "os". Seconds, open to close. */
static double lsm_single(const char *dir, uint64_t n) {
    int64_t t0 = now_ns();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t off = UINT64_MAX;
        CHECK(lsmlog_log_append(log, g_data + i * VALUE_LEN, VALUE_LEN,
                                T0_MS + (int64_t)(i / RECS_PER_MS), &off));
        if (off != i) die_msg("lsmlog_log_append gave an unexpected offset");
    }
    CHECK(lsmlog_log_close(log));
    return secs_since(t0);
}

/* Full scan with a fresh handle: *open_s is the lsmlog_log_open time, the
 * return value the iteration time (iter_open to the final NOTFOUND). */
static double lsm_scan(const char *dir, uint64_t n, double *open_s) {
    int64_t t0 = now_ns();
    lsmlog_log *log = open_ro(dir);
    *open_s = secs_since(t0);

    int64_t t1 = now_ns();
    lsmlog_log_iter *it = NULL;
    CHECK(lsmlog_log_iter_open(log, NULL, &it));
    uint64_t count = 0, sum = 0, bad = 0;
    lsmlog_record rec;
    int rc;
    while ((rc = lsmlog_log_iter_next(it, &rec)) == LSMLOG_OK) {
        sum += (rec.len ? ((const uint8_t *)rec.value)[0] : 0) + rec.len;
        bad += rec.offset != count;
        count++;
    }
    double s = secs_since(t1);
    if (rc != LSMLOG_NOTFOUND) die_lsm("lsmlog_log_iter_next", rc);
    g_sink += sum;
    lsmlog_log_iter_close(it);
    CHECK(lsmlog_log_close(log));
    if (count != n || bad) {
        fprintf(stderr, "bench_log: scan saw %llu records (%llu out of order), expected %llu\n",
                (unsigned long long)count, (unsigned long long)bad, (unsigned long long)n);
        exit(1);
    }
    return s;
}

/* Average seconds per lsmlog_log_offset_for_time over N_SEEK random
 * timestamps; every answer is checked against the known layout. */
static double lsm_seek(const char *dir, uint64_t n, uint64_t seed) {
    lsmlog_log *log = open_ro(dir);
    uint64_t span = (n + RECS_PER_MS - 1) / RECS_PER_MS; /* distinct ms in the log */
    static int64_t ts[N_SEEK];
    for (int i = 0; i < N_SEEK; i++) ts[i] = T0_MS + (int64_t)(splitmix64(&seed) % span);
    uint64_t wrong = 0, first_wrong_ts = 0, first_wrong_got = 0;
    int64_t t0 = now_ns();
    for (int i = 0; i < N_SEEK; i++) {
        uint64_t off = UINT64_MAX;
        int rc = lsmlog_log_offset_for_time(log, ts[i], &off);
        if (rc != LSMLOG_OK) die_lsm("lsmlog_log_offset_for_time", rc);
        uint64_t want = (uint64_t)(ts[i] - T0_MS) * RECS_PER_MS;
        if (off != want && wrong++ == 0) {
            first_wrong_ts = (uint64_t)ts[i];
            first_wrong_got = off;
        }
    }
    double s = secs_since(t0) / N_SEEK;
    /* Past the last timestamp there is no record: NOTFOUND. */
    uint64_t off = 0;
    int rc = lsmlog_log_offset_for_time(log, T0_MS + (int64_t)span, &off);
    if (rc != LSMLOG_NOTFOUND) {
        fprintf(stderr, "bench_log: offset_for_time past the end returned %d, not NOTFOUND\n",
                rc);
        exit(1);
    }
    CHECK(lsmlog_log_close(log));
    if (wrong) {
        fprintf(stderr,
                "bench_log: offset_for_time wrong %llu/%d times; e.g. ts %llu gave %llu, "
                "expected %llu\n",
                (unsigned long long)wrong, N_SEEK, (unsigned long long)first_wrong_ts,
                (unsigned long long)first_wrong_got,
                (unsigned long long)((first_wrong_ts - (uint64_t)T0_MS) * RECS_PER_MS));
        exit(1);
    }
    return s;
}

/* Resident bytes at each step of one scan, from before the handle is opened. */
typedef struct rss_result {
    double before, after_open, at_half, max_during, after_iter_close, after_log_close;
    double anon_before, anon_max_during; /* anonymous part */
} rss_result;

/* An untimed scan that samples the resident set every 64 Ki records and
 * checks every record's value and timestamp against the payload. */
static void lsm_rss_scan(const char *dir, uint64_t n, rss_result *r) {
    double res, anon;
    rss_now(&r->before, &r->anon_before);
    lsmlog_log *log = open_ro(dir);
    rss_now(&r->after_open, &anon);
    r->max_during = r->after_open;
    r->anon_max_during = anon;
    r->at_half = r->after_open;
    lsmlog_log_iter *it = NULL;
    CHECK(lsmlog_log_iter_open(log, NULL, &it));
    uint64_t count = 0;
    lsmlog_record rec;
    int rc;
    while ((rc = lsmlog_log_iter_next(it, &rec)) == LSMLOG_OK) {
        if (rec.offset != count || rec.len != VALUE_LEN ||
            rec.timestamp != T0_MS + (int64_t)(count / RECS_PER_MS) ||
            memcmp(rec.value, g_data + count * VALUE_LEN, VALUE_LEN) != 0) {
            fprintf(stderr,
                    "bench_log: record %llu read back wrong (offset %llu, len %zu, ts %lld)\n",
                    (unsigned long long)count, (unsigned long long)rec.offset, rec.len,
                    (long long)rec.timestamp);
            exit(1);
        }
        count++;
        if ((count & 0xFFFF) == 0 || count == n / 2) {
            rss_now(&res, &anon);
            if (res > r->max_during) r->max_during = res;
            if (anon > r->anon_max_during) r->anon_max_during = anon;
            if (count == n / 2) r->at_half = res;
        }
    }
    if (rc != LSMLOG_NOTFOUND) die_lsm("lsmlog_log_iter_next", rc);
    if (count != n) die_msg("rss scan: wrong record count");
    rss_now(&res, &anon);
    if (res > r->max_during) r->max_during = res;
    if (anon > r->anon_max_during) r->anon_max_during = anon;
    lsmlog_log_iter_close(it);
    rss_now(&r->after_iter_close, &anon);
    CHECK(lsmlog_log_close(log));
    rss_now(&r->after_log_close, &anon);
}

/* ---- tail latency ------------------------------------------------------------ */

typedef struct tail_ctx {
    lsmlog_log *log;
    lsmlog_log_iter *it;
    uint64_t n;
    int64_t interval_ns;
    int64_t *lat_ns;          /* n writer->reader latencies */
    atomic_int writer_done;
    uint64_t empty_after_ok;  /* iter_next NOTFOUND right after wait said OK */
} tail_ctx;

static void *tail_writer(void *arg) {
    tail_ctx *c = arg;
    uint8_t buf[VALUE_LEN];
    memcpy(buf, g_data, VALUE_LEN);
    int64_t start = now_ns();
    for (uint64_t i = 0; i < c->n; i++) {
        int64_t due = start + (int64_t)i * c->interval_ns;
        struct timespec ts = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
        int64_t stamp = now_ns();
        memcpy(buf, &stamp, sizeof stamp);
        uint64_t off = UINT64_MAX;
        CHECK(lsmlog_log_append(c->log, buf, VALUE_LEN, LSMLOG_NOW, &off));
        if (off != i) die_msg("tail writer: unexpected offset");
    }
    atomic_store(&c->writer_done, 1);
    return NULL;
}

static void *tail_reader(void *arg) {
    tail_ctx *c = arg;
    uint64_t next = 0;
    int64_t last_progress = now_ns();
    int waited_ok = 0;
    while (next < c->n) {
        lsmlog_record rec;
        int rc = lsmlog_log_iter_next(c->it, &rec);
        if (rc == LSMLOG_OK) {
            int64_t t = now_ns();
            if (rec.offset != next || rec.len != VALUE_LEN) {
                fprintf(stderr, "bench_log: tail reader got offset %llu len %zu, expected %llu\n",
                        (unsigned long long)rec.offset, rec.len, (unsigned long long)next);
                exit(1);
            }
            int64_t stamp;
            memcpy(&stamp, rec.value, sizeof stamp);
            c->lat_ns[next++] = t - stamp;
            last_progress = t;
            waited_ok = 0;
        } else if (rc == LSMLOG_NOTFOUND) {
            if (waited_ok) c->empty_after_ok++;
            rc = lsmlog_log_wait(c->log, next, 1000);
            if (rc == LSMLOG_OK) {
                waited_ok = 1;
            } else if (rc == LSMLOG_TIMEOUT) {
                waited_ok = 0;
            } else {
                die_lsm("lsmlog_log_wait", rc);
            }
            if (now_ns() - last_progress > 10 * 1000000000LL) {
                fprintf(stderr,
                        "bench_log: tail reader stuck at offset %llu for 10 s (writer %s)\n",
                        (unsigned long long)next,
                        atomic_load(&c->writer_done) ? "done" : "running");
                exit(1);
            }
        } else {
            die_lsm("lsmlog_log_iter_next", rc);
        }
    }
    return NULL;
}

/* Percentiles in microseconds: out[0..3] = p50, p99, p99.9, max. */
static void lsm_tail(const char *dir, uint64_t n, double out[4], uint64_t *empty_after_ok) {
    tail_ctx c;
    memset(&c, 0, sizeof c);
    c.log = open_log(dir, LSMLOG_DURABILITY_OS);
    c.n = n;
    c.interval_ns = (int64_t)(1000000000ull / TAIL_RATE);
    c.lat_ns = malloc(n * sizeof *c.lat_ns);
    if (!c.lat_ns) die_msg("out of memory");
    atomic_init(&c.writer_done, 0);
    CHECK(lsmlog_log_iter_open(c.log, NULL, &c.it));
    pthread_t w, r;
    if (pthread_create(&r, NULL, tail_reader, &c) != 0) die_msg("pthread_create");
    if (pthread_create(&w, NULL, tail_writer, &c) != 0) die_msg("pthread_create");
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    lsmlog_log_iter_close(c.it);
    CHECK(lsmlog_log_close(c.log));
    qsort(c.lat_ns, n, sizeof *c.lat_ns, cmp_i64);
    const double p[3] = {0.50, 0.99, 0.999};
    for (int i = 0; i < 3; i++) {
        uint64_t rank = (uint64_t)(p[i] * (double)n); /* nearest rank: ceil(p*n) */
        if ((double)rank < p[i] * (double)n) rank++;
        out[i] = (double)c.lat_ns[(rank ? rank : 1) - 1] / 1e3;
    }
    out[3] = (double)c.lat_ns[n - 1] / 1e3;
    *empty_after_ok = c.empty_after_ok;
    free(c.lat_ns);
}

/* ---- main ------------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr,
            "usage: bench_log [-n N] [-s N_SYNC] [-d DIR] [-r REPS] [-k] [--json FILE]\n"
            "  -n N         records for the batched and scan workloads (default %llu)\n"
            "  -s N_SYNC    records for the fdatasync / durability=sync comparison\n"
            "               (default min(N, %llu))\n"
            "  -d DIR       make the run's data directory under DIR (default /tmp)\n"
            "  -r REPS      runs per workload, median printed (default 3, max %d)\n"
            "  -k           keep the data directory\n"
            "  --json FILE  also write the figures as JSON\n"
            "  SEED=S       payload seed (environment)\n",
            DEFAULT_N, DEFAULT_N_SYNC, MAX_REPS);
    exit(2);
}

static uint64_t parse_u64(const char *s, const char *flag) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || s[0] == '-') {
        fprintf(stderr, "bench_log: %s wants a positive integer, got '%s'\n", flag, s);
        usage();
    }
    return v;
}

int main(int argc, char **argv) {
    uint64_t n = DEFAULT_N, n_sync = 0;
    const char *dir = "/tmp", *json = NULL;
    int reps = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) usage();
        else if (!strcmp(a, "-k")) g_keep = 1;
        else if (i + 1 >= argc) usage();
        else if (!strcmp(a, "-n")) n = parse_u64(argv[++i], a);
        else if (!strcmp(a, "-s")) n_sync = parse_u64(argv[++i], a);
        else if (!strcmp(a, "-d")) dir = argv[++i];
        else if (!strcmp(a, "-r")) reps = (int)parse_u64(argv[++i], a);
        else if (!strcmp(a, "--json")) json = argv[++i];
        else usage();
    }
    if (reps > MAX_REPS) usage();
    if (!n_sync) n_sync = n < DEFAULT_N_SYNC ? n : DEFAULT_N_SYNC;
    uint64_t n_single = n < DEFAULT_N_SINGLE ? n : DEFAULT_N_SINGLE;
    uint64_t seed = 0x6c736d6c6f67ull; /* "lsmlog" */
    const char *seed_env = getenv("SEED");
    if (seed_env && *seed_env) seed = strtoull(seed_env, NULL, 0);

    int64_t t_all = now_ns();
    mkdir_p(dir);
    int k = snprintf(g_base, sizeof g_base, "%s/lsmlog-bench-XXXXXX", dir);
    if (k < 0 || (size_t)k >= sizeof g_base) die_msg("directory path too long");
    if (!mkdtemp(g_base)) die_os("mkdtemp", g_base);
    atexit(cleanup);

    machine m;
    machine_read(&m, g_base);
    printf("bench_log — lsmlog %s, Log vs the machine's ceilings (one run)\n", LSMLOG_VERSION);
    printf("  cpu       %s\n", m.cpu);
    printf("  nproc     %ld\n", m.nproc);
    printf("  kernel    %s\n", m.kernel);
    printf("  data dir  %s (%s)\n", g_base, m.fs);
    printf("  workload  N=%llu x %d B values, batches of %d; N_SYNC=%llu; single appends=%llu;\n"
           "            %d runs each, median shown; seed=0x%llx; MB = 10^6 B\n\n",
           (unsigned long long)n, VALUE_LEN, BATCH, (unsigned long long)n_sync,
           (unsigned long long)n_single, reps, (unsigned long long)seed);
    fflush(stdout);

    /* The payload: incompressible bytes for the largest workload. */
    uint64_t n_max = n;
    if (n_sync > n_max) n_max = n_sync;
    if (n_single > n_max) n_max = n_single;
    size_t data_bytes = (size_t)(n_max * VALUE_LEN);
    uint8_t *data = malloc(data_bytes + 8);
    if (!data) die_msg("out of memory for the payload");
    {
        uint64_t s = seed;
        for (size_t i = 0; i < data_bytes; i += 8) {
            uint64_t v = splitmix64(&s);
            memcpy(data + i, &v, 8);
        }
    }
    g_data = data;
    uint8_t *scattered = malloc((size_t)n * SCATTER_STRIDE);
    if (!scattered) die_msg("out of memory for the scattered payload");
    for (uint64_t i = 0; i < n; i++) memcpy(scattered + i * SCATTER_STRIDE, data + i * VALUE_LEN, VALUE_LEN);
    g_scattered = scattered;

    char path[4200];
    double t_c1[MAX_REPS], t_os[MAX_REPS], t_scat[MAX_REPS], t_buf[MAX_REPS], t_c2[MAX_REPS], t_sync[MAX_REPS],
        t_single[MAX_REPS], t_memcpy[MAX_REPS], t_crc[MAX_REPS], t_scan[MAX_REPS], t_open[MAX_REPS],
        t_seek[MAX_REPS], tail[4][MAX_REPS];
    lsmlog_log_info info_os;
    memset(&info_os, 0, sizeof info_os);
    uint64_t empty_after_ok = 0;

    /* B. Durable writes vs write()+fdatasync(), first: after the bulk writes
     * below, the device keeps working in the background for a while and
     * fdatasync latency turns erratic for both sides. Alternating order. */
    for (int r = 0; r < reps; r++) {
        fprintf(stderr, "[%d/%d] fdatasync ceiling, lsmlog sync (N_SYNC=%llu)\n", r + 1, reps,
                (unsigned long long)n_sync);
        for (int step = 0; step < 2; step++) {
            quiesce();
            if ((step ^ r % 2) == 0) {
                path_in_base(path, sizeof path, "ceiling2.dat", r);
                t_c2[r] = ceiling_write(path, n_sync * VALUE_LEN, 1);
            } else {
                path_in_base(path, sizeof path, "log-sync", r);
                t_sync[r] = lsm_batched(path, LSMLOG_DURABILITY_SYNC, n_sync, NULL);
                rm_rf(path);
            }
        }
    }

    /* Warm-up, untimed: the process's first large write runs far slower than
     * the rest (page-cache and allocator growth), whichever side it is. */
    fprintf(stderr, "warm-up (untimed)\n");
    path_in_base(path, sizeof path, "warmup.dat", 0);
    quiesce();
    ceiling_write(path, n * VALUE_LEN, 0);
    path_in_base(path, sizeof path, "log-warmup", 0);
    quiesce();
    lsm_batched(path, LSMLOG_DURABILITY_OS, n, NULL);
    rm_rf(path);

    /* A. Batched writes vs write(): interleaved, in alternating order, so
     * drift on the machine hits every side alike. */
    for (int r = 0; r < reps; r++) {
        fprintf(stderr, "[%d/%d] write ceiling, lsmlog os (contiguous, scattered), buffered (N=%llu)\n", r + 1,
                reps, (unsigned long long)n);
        for (int step = 0; step < 4; step++) {
            int w = r % 2 ? 3 - step : step;
            quiesce();
            if (w == 0) {
                path_in_base(path, sizeof path, "ceiling1.dat", r);
                t_c1[r] = ceiling_write(path, n * VALUE_LEN, 0);
            } else if (w == 1) {
                path_in_base(path, sizeof path, "log-os", r);
                t_os[r] = lsm_batched(path, LSMLOG_DURABILITY_OS, n, &info_os);
                rm_rf(path);
            } else if (w == 2) {
                path_in_base(path, sizeof path, "log-buffered", r);
                t_buf[r] = lsm_batched(path, LSMLOG_DURABILITY_BUFFERED, n, NULL);
                rm_rf(path);
            } else {
                path_in_base(path, sizeof path, "log-os-scattered", r);
                g_src = g_scattered;
                g_stride = SCATTER_STRIDE;
                t_scat[r] = lsm_batched(path, LSMLOG_DURABILITY_OS, n, NULL);
                g_src = g_data;
                g_stride = VALUE_LEN;
                rm_rf(path);
            }
        }
    }
    if (info_os.end != n || info_os.start != 0) die_msg("lsmlog os: log bounds do not match N");

    /* C. One append per record. */
    for (int r = 0; r < reps; r++) {
        fprintf(stderr, "[%d/%d] lsmlog single appends (%llu)\n", r + 1, reps,
                (unsigned long long)n_single);
        path_in_base(path, sizeof path, "log-single", r);
        quiesce();
        t_single[r] = lsm_single(path, n_single);
        rm_rf(path);
    }

    /* D. Reads: one "os" log, written untimed and synced, scanned by fresh
     * handles (warm page cache). */
    fprintf(stderr, "reads: memcpy, CRC32C, scan, offset_for_time, memory\n");
    char scan_dir[4200];
    path_in_base(scan_dir, sizeof scan_dir, "log-scan", 0);
    lsm_batched(scan_dir, LSMLOG_DURABILITY_OS, n, NULL);
    quiesce();
    {
        uint8_t *dst = malloc(data_bytes);
        if (!dst) die_msg("out of memory for memcpy");
        memset(dst, 1, data_bytes); /* fault the pages in before timing */
        size_t bytes = (size_t)(n * VALUE_LEN);
        for (int r = 0; r < reps; r++) {
            int64_t t0 = now_ns();
            memcpy(dst, data, bytes);
            t_memcpy[r] = secs_since(t0);
            g_sink += dst[(size_t)r * 4099 % bytes];
        }
        free(dst);
        /* CRC32C, the checksum the writer computes over every batch: the
         * core's own implementation, over the payload in one-batch pieces. */
        for (int r = 0; r < reps; r++) {
            uint32_t crc = 0;
            int64_t t0 = now_ns();
            for (size_t off = 0; off < bytes; off += CHUNK)
                crc ^= crc32c_value(data + off, bytes - off < CHUNK ? bytes - off : CHUNK);
            t_crc[r] = secs_since(t0);
            g_sink += crc;
        }
    }
    double rss_scan_start, anon_scan_start;
    rss_now(&rss_scan_start, &anon_scan_start);
    for (int r = 0; r < reps; r++) t_scan[r] = lsm_scan(scan_dir, n, &t_open[r]);
    double rss_scan_end, anon_scan_end;
    rss_now(&rss_scan_end, &anon_scan_end);
    for (int r = 0; r < reps; r++) t_seek[r] = lsm_seek(scan_dir, n, seed + (uint64_t)r);
    rss_result rr;
    lsm_rss_scan(scan_dir, n, &rr);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double peak_rss = (double)ru.ru_maxrss * 1024.0;
    rm_rf(scan_dir);

    /* E. Tail latency. */
    for (int r = 0; r < reps; r++) {
        fprintf(stderr, "[%d/%d] tail latency (%llu records at %llu/s)\n", r + 1, reps,
                (unsigned long long)N_TAIL, (unsigned long long)TAIL_RATE);
        path_in_base(path, sizeof path, "log-tail", r);
        quiesce();
        double out[4];
        uint64_t e = 0;
        lsm_tail(path, N_TAIL, out, &e);
        empty_after_ok += e;
        for (int j = 0; j < 4; j++) tail[j][r] = out[j];
        rm_rf(path);
    }

    /* ---- figures ---- */
    const double mb = 1e6, mrec = 1e6;
    double v[MAX_REPS];
    const char *S1 = "batched writes, no sync: N records, batches of 1,000";
    per_sec(v, t_c1, reps, (double)(n * VALUE_LEN), 1 / mb);
    figure *c1 =
        fig_runs(S1, "ceiling_write_mbps", "ceiling 1: write() 100 KB chunks", "MB/s", v, reps);
    per_sec(v, t_c1, reps, (double)n, 1 / mrec);
    fig_runs(S1, "ceiling_write_mrecs", "ceiling 1: as records of 100 B", "Mrec/s", v, reps);
    per_sec(v, t_os, reps, (double)(n * VALUE_LEN), 1 / mb);
    figure *os_mb = fig_runs(S1, "os_batch_mbps", "lsmlog os, values side by side", "MB/s", v, reps);
    per_sec(v, t_os, reps, (double)n, 1 / mrec);
    fig_runs(S1, "os_batch_mrecs", "lsmlog durability=os", "Mrec/s", v, reps);
    fig_goal_min(fig_value(S1, "ratio_os_vs_write", "ratio lsmlog os / ceiling 1", "%",
                           100 * os_mb->median / c1->median),
                 ">= 80%", 80);
    per_sec(v, t_scat, reps, (double)(n * VALUE_LEN), 1 / mb);
    figure *scat_mb = fig_runs(S1, "os_scattered_batch_mbps",
                               "lsmlog os, values scattered (160 B apart)", "MB/s", v, reps);
    fig_value(S1, "ratio_os_scattered_vs_write", "ratio lsmlog os scattered / ceiling 1", "%",
              100 * scat_mb->median / c1->median);
    per_sec(v, t_buf, reps, (double)(n * VALUE_LEN), 1 / mb);
    figure *buf_mb =
        fig_runs(S1, "buffered_batch_mbps", "lsmlog durability=buffered", "MB/s", v, reps);
    per_sec(v, t_buf, reps, (double)n, 1 / mrec);
    fig_runs(S1, "buffered_batch_mrecs", "lsmlog durability=buffered", "Mrec/s", v, reps);
    fig_value(S1, "ratio_buffered_vs_write", "ratio lsmlog buffered / ceiling 1", "%",
              100 * buf_mb->median / c1->median);
    fig_value(S1, "os_disk_bytes_per_record", "lsmlog bytes on disk per 100 B record", "B",
              (double)info_os.bytes / (double)n);
    fig_value(S1, "os_segments", "lsmlog segments for N records", "files",
              (double)info_os.segments);

    const char *S2 = "durable writes: N_SYNC records, one fdatasync per batch of 1,000";
    per_sec(v, t_c2, reps, (double)(n_sync * VALUE_LEN), 1 / mb);
    figure *c2 = fig_runs(S2, "ceiling_fdatasync_mbps", "ceiling 2: write() 100 KB + fdatasync()",
                          "MB/s", v, reps);
    per_sec(v, t_c2, reps, (double)((n_sync + BATCH - 1) / BATCH), 1);
    fig_runs(S2, "ceiling_fdatasync_per_s", "ceiling 2: fdatasyncs", "1/s", v, reps);
    per_sec(v, t_sync, reps, (double)(n_sync * VALUE_LEN), 1 / mb);
    figure *sy_mb = fig_runs(S2, "sync_batch_mbps", "lsmlog durability=sync", "MB/s", v, reps);
    per_sec(v, t_sync, reps, (double)n_sync, 1 / mrec);
    fig_runs(S2, "sync_batch_mrecs", "lsmlog durability=sync", "Mrec/s", v, reps);
    fig_goal_min(fig_value(S2, "ratio_sync_vs_fdatasync", "ratio lsmlog sync / ceiling 2", "%",
                           100 * sy_mb->median / c2->median),
                 ">= 90%", 90);

    const char *S3 = "single appends: one lsmlog_log_append per record, durability=os";
    per_sec(v, t_single, reps, (double)n_single, 1 / mrec);
    fig_runs(S3, "single_os_mrecs", "lsmlog_log_append", "Mrec/s", v, reps);
    for (int r = 0; r < reps; r++) v[r] = t_single[r] * 1e9 / (double)n_single;
    fig_runs(S3, "single_os_ns", "lsmlog_log_append", "ns/rec", v, reps);

    const char *S4 = "reads: fresh handle on the os log, warm page cache";
    per_sec(v, t_memcpy, reps, (double)(n * VALUE_LEN), 1 / mb);
    figure *mc = fig_runs(S4, "memcpy_mbps", "ceiling: memcpy of the payload", "MB/s", v, reps);
    per_sec(v, t_crc, reps, (double)(n * VALUE_LEN), 1 / mb);
    fig_runs(S4, "crc32c_mbps", crc32c_hw() ? "ceiling: CRC32C of the payload (SSE4.2)"
                                            : "ceiling: CRC32C of the payload (table)",
             "MB/s", v, reps);
    per_sec(v, t_scan, reps, (double)n, 1 / mrec);
    fig_goal_min(fig_runs(S4, "scan_mrecs", "full scan lsmlog_log_iter_next", "Mrec/s", v, reps),
                 ">= 20", 20);
    for (int r = 0; r < reps; r++) v[r] = t_scan[r] * 1e9 / (double)n;
    fig_runs(S4, "scan_ns_per_record", "full scan", "ns/rec", v, reps);
    per_sec(v, t_scan, reps, (double)(n * VALUE_LEN), 1 / mb);
    figure *sc_mb = fig_runs(S4, "scan_mbps", "full scan, payload bytes", "MB/s", v, reps);
    fig_value(S4, "ratio_scan_vs_memcpy", "ratio scan / memcpy bandwidth", "%",
              100 * sc_mb->median / mc->median);
    for (int r = 0; r < reps; r++) v[r] = t_open[r] * 1e3;
    fig_runs(S4, "open_ms", "lsmlog_log_open (readonly) of the log", "ms", v, reps);
    for (int r = 0; r < reps; r++) v[r] = t_seek[r] * 1e9;
    fig_runs(S4, "offset_for_time_ns", "lsmlog_log_offset_for_time (10k random)", "ns/op", v, reps);

    const char *S5 = "memory (/proc/self/statm; growth from before a readonly open)";
    const double mib = 1024.0 * 1024.0;
    fig_value(S5, "payload_buffer_mib", "bench payload buffer (anonymous)", "MiB",
              (double)data_bytes / mib);
    fig_value(S5, "peak_rss_mib", "peak RSS of the process (ru_maxrss)", "MiB", peak_rss / mib);
    fig_value(S5, "scan_rss_growth_mib", "RSS after - before the timed scans", "MiB",
              (rss_scan_end - rss_scan_start) / mib);
    fig_value(S5, "scan_anon_growth_mib", "anon RSS after - before the timed scans", "MiB",
              (anon_scan_end - anon_scan_start) / mib);
    fig_value(S5, "log_size_mib", "size of the scanned log (segment files)", "MiB",
              (double)info_os.bytes / mib);
    fig_value(S5, "rss_after_open_mib", "RSS growth after lsmlog_log_open", "MiB",
              (rr.after_open - rr.before) / mib);
    fig_value(S5, "scan_rss_at_half_mib", "RSS growth, iterator halfway", "MiB",
              (rr.at_half - rr.before) / mib);
    fig_value(S5, "scan_rss_max_during_mib", "RSS growth, max during a scan", "MiB",
              (rr.max_during - rr.before) / mib);
    fig_value(S5, "scan_anon_max_during_mib", "anon RSS growth, max during a scan", "MiB",
              (rr.anon_max_during - rr.anon_before) / mib);
    fig_value(S5, "rss_after_iter_close_mib", "RSS growth after iter close", "MiB",
              (rr.after_iter_close - rr.before) / mib);
    fig_value(S5, "rss_after_log_close_mib", "RSS growth after log close", "MiB",
              (rr.after_log_close - rr.before) / mib);

    const char *S6 = "tail latency: writer append -> reader iter_next (20k at 10k/s)";
    fig_runs(S6, "tail_p50_us", "p50", "us", tail[0], reps);
    fig_runs(S6, "tail_p99_us", "p99", "us", tail[1], reps);
    fig_runs(S6, "tail_p999_us", "p99.9", "us", tail[2], reps);
    fig_runs(S6, "tail_max_us", "max", "us", tail[3], reps);

    print_table();
    double total_s = secs_since(t_all);
    printf("\nnotes:\n"
           "  - CRC32C: the core's internal crc32c (the only thing used beyond lsmlog.h),\n"
           "    over the payload in 100 KB pieces, warm in the cache after memcpy.\n"
           "  - memory: file-backed RSS counts mapped page-cache pages of segments; the\n"
           "    anon figures are the reader's own allocations.\n"
           "  - tail: iter_next found nothing right after lsmlog_log_wait said OK %llu times.\n"
           "  - every scan checked count and offsets; one extra scan checked every value\n"
           "    and timestamp; every offset_for_time answer was checked.\n"
           "  - total run time %.1f s\n",
           (unsigned long long)empty_after_ok, total_s);

    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) die_os("open", json);
        fprintf(f, "{\n  \"bench\": \"bench_log\",\n  \"lsmlog_version\": ");
        json_str(f, LSMLOG_VERSION);
        fprintf(f, ",\n  \"machine\": {\"cpu\": ");
        json_str(f, m.cpu);
        fprintf(f, ", \"nproc\": %ld, \"kernel\": ", m.nproc);
        json_str(f, m.kernel);
        fprintf(f, ", \"fs\": ");
        json_str(f, m.fs);
        fprintf(f, ", \"data_dir\": ");
        json_str(f, g_base);
        fprintf(f,
                "},\n  \"params\": {\"n\": %llu, \"n_sync\": %llu, \"n_single\": %llu, "
                "\"value_bytes\": %d, \"batch\": %d, \"reps\": %d, \"seed\": %llu, "
                "\"n_seek\": %d, \"n_tail\": %llu, \"tail_rate_per_s\": %llu},\n",
                (unsigned long long)n, (unsigned long long)n_sync, (unsigned long long)n_single,
                VALUE_LEN, BATCH, reps, (unsigned long long)seed, N_SEEK,
                (unsigned long long)N_TAIL, (unsigned long long)TAIL_RATE);
        fprintf(f, "  \"total_seconds\": ");
        json_num(f, total_s);
        fprintf(f, ",\n  \"figures\": {\n");
        for (int i = 0; i < g_nfigs; i++) {
            const figure *g = &g_figs[i];
            fprintf(f, "    ");
            json_str(f, g->key);
            fprintf(f, ": {\"label\": ");
            json_str(f, g->label);
            fprintf(f, ", \"unit\": ");
            json_str(f, g->unit);
            fprintf(f, ", \"median\": ");
            json_num(f, g->median);
            fprintf(f, ", \"runs\": [");
            for (int r = 0; r < g->nruns; r++) {
                if (r) fputs(", ", f);
                json_num(f, g->runs[r]);
            }
            fprintf(f, "]");
            if (g->goal) {
                fprintf(f, ", \"goal\": ");
                json_str(f, g->goal);
                fprintf(f, ", \"met\": %s", g->met ? "true" : "false");
            }
            fprintf(f, "}%s\n", i + 1 < g_nfigs ? "," : "");
        }
        fprintf(f, "  }\n}\n");
        if (fclose(f) != 0) die_os("write", json);
        printf("  - JSON written to %s\n", json);
    }
    free(data);
    return 0;
}
