/* test_log_power_loss.c — power loss at every point of a scripted Log
 * workload, simulated by tests/c/fault_env (which journals what is not yet
 * durable and takes it back on disk; see fault_env.h for the model).
 *
 * Each crash point is one forked child: it runs the workload from scratch
 * with fault_crash_at(point), publishing what was acknowledged to shared
 * memory; at the point the fault layer undoes every non-durable change and
 * _exit()s. The parent then opens the log with the real file operations and
 * checks it. Values and timestamps are a pure function of the offset, so any
 * record found can be checked, acknowledged or not.
 *
 *  - sync_every_point: durability "sync". A crash before every operation
 *    that changes a file (writes, syncs, creates, renames, unlinks,
 *    truncations, mkdir) and right after every fsync/fdatasync, each with
 *    every unsynced change dropped (DROP) and with random prefixes of it
 *    kept and the next write torn (TORN). Open must succeed (a torn tail is
 *    cut, never reported as corruption), every record acknowledged before
 *    the crash is there, in order, intact, and nothing else is there but
 *    records of appends in flight (whole, correct); verify passes; the log
 *    takes appends again. With FAULT_FULL=1 also REORDER, and a second power
 *    loss inside the recovery of each crash.
 *  - os_every_point: durability "os", a crash before every changing
 *    operation, DROP / TORN / REORDER in turn. Acknowledged records may be
 *    lost (the contract is kill -9, not power loss) but never is a corrupt or
 *    wrong record returned: open succeeds or reports LSMLOG_E_CORRUPT naming
 *    the file (so may a read of a sealed segment whose index still matches
 *    its size: damage there is found when read), in which case an open with
 *    repair succeeds; every record read is the one written at its offset.
 *    Records acknowledged before a successful lsmlog_log_sync must survive
 *    (its contract: "everything appended so far survives power loss").
 *    Gaps between segments are counted (see docs/reliability.md).
 *  - sync_is_a_barrier: in every durability, records appended before a
 *    successful lsmlog_log_sync survive a power loss, in a log whose
 *    directory (three levels) and segments were all made since (a regression
 *    test for two bugs: see the case).
 *  - fault_env_self_check: the simulation itself, on a few files.
 *
 * FAULT_STRIDE=k (fault_env.h): sync_every_point and os_every_point crash
 * only at every k-th point of each plan (the points before changing
 * operations, those after syncs), from a start below k drawn from the seed,
 * so that early, middle and late points of the workload are all covered
 * (os: DROP, TORN, REORDER in turn over the points tried): for slow runs
 * (valgrind memcheck in scripts/test.sh). The other cases run whole. */
#include "fault_env.h"
#include "test_util.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "alloc.h"
#include "env.h"

#define SEG 4096u
#define MAXV 200
#define BASE_TS 1700000000000LL
#define CRASH_EXIT 77

static size_t value_for(uint64_t off, unsigned char *buf) {
    return tu_make_value(tu_seed, off, MAXV, buf);
}
static int64_t ts_for(uint64_t off) {
    return BASE_TS + (int64_t)(off * 3 % 1000);
}

/* What the workload tells the parent, in a MAP_SHARED page. */
typedef struct shared {
    _Atomic uint64_t acked_end;     /* offsets below it were acknowledged */
    _Atomic uint64_t synced_end;    /* ... and made durable (sync mode, or lsmlog_log_sync) */
    _Atomic uint64_t attempted_end; /* no append ever went past this */
    _Atomic uint64_t trunc_to;      /* largest truncate_before called (0: none) */
    _Atomic int fail_line;          /* the workload's failure, 0 if none */
    _Atomic int fail_rc;
    char msg[512];
} shared;

static void sh_reset(shared *sh) {
    atomic_store(&sh->acked_end, 0);
    atomic_store(&sh->synced_end, 0);
    atomic_store(&sh->attempted_end, 0);
    atomic_store(&sh->trunc_to, 0);
    atomic_store(&sh->fail_line, 0);
    atomic_store(&sh->fail_rc, 0);
    sh->msg[0] = '\0';
}

/* ---- the workload ------------------------------------------------------- */

static int wl_fail(shared *sh, int line, int rc) {
    snprintf(sh->msg, sizeof sh->msg, "%s", lsmlog_errmsg());
    atomic_store(&sh->fail_rc, rc);
    atomic_store(&sh->fail_line, line);
    return line;
}

#define WL(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != LSMLOG_OK) return wl_fail(sh, __LINE__, rc_);                                   \
    } while (0)

/* Appends n records at the acknowledged end; 0 or a failure line. */
static int wl_append(lsmlog_log *log, int durability, shared *sh, size_t n) {
    static unsigned char vals[8][MAXV];
    lsmlog_entry e[8];
    uint64_t at = atomic_load(&sh->acked_end), first = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        e[i].len = value_for(at + i, vals[i]);
        e[i].data = vals[i];
        e[i].ts = ts_for(at + i);
    }
    atomic_store(&sh->attempted_end, at + n);
    int rc = n == 1 ? lsmlog_log_append(log, e[0].data, e[0].len, e[0].ts, &first)
                    : lsmlog_log_append_batch(log, e, n, &first);
    if (rc != LSMLOG_OK) return wl_fail(sh, __LINE__, rc);
    if (first != at) return wl_fail(sh, __LINE__, LSMLOG_E_INVALID);
    atomic_store(&sh->acked_end, at + n);
    if (durability == LSMLOG_DURABILITY_SYNC) atomic_store(&sh->synced_end, at + n);
    return 0;
}

#define WLA(n)                                                                                     \
    do {                                                                                           \
        int l_ = wl_append(log, durability, sh, (n));                                              \
        if (l_) return l_;                                                                         \
    } while (0)

static int wl_sync(lsmlog_log *log, shared *sh) {
    uint64_t acked = atomic_load(&sh->acked_end);
    int rc = lsmlog_log_sync(log);
    if (rc != LSMLOG_OK) return wl_fail(sh, __LINE__, rc);
    atomic_store(&sh->synced_end, acked);
    return 0;
}

/* Open, appends and batches, a sync, rolls across five small segments,
 * truncate_before, close, reopen, more appends, a sync, reads, close. The
 * same operations in the same order every time (the crash points are
 * counted on a dry run). */
static int workload(const char *dir, int durability, shared *sh) {
    lsmlog_options o = tu_opts(durability, SEG);
    lsmlog_log *log = NULL;
    WL(lsmlog_log_open(dir, &o, &log));
    for (int i = 0; i < 12; i++)
        WLA(i % 4 == 3 ? 2 + (size_t)i % 5 : 1);
    if (wl_sync(log, sh)) return atomic_load(&sh->fail_line);
    lsmlog_log_info info;
    for (int i = 0;; i++) {
        WL(lsmlog_log_stat(log, &info));
        if (info.segments >= 5) break;
        WLA(i % 7 == 6 ? 5 : 1);
    }
    uint64_t cut = atomic_load(&sh->acked_end) / 3;
    atomic_store(&sh->trunc_to, cut);
    WL(lsmlog_log_truncate_before(log, cut));
    for (int i = 0; i < 6; i++)
        WLA(1);
    WL(lsmlog_log_close(log));
    log = NULL;
    WL(lsmlog_log_open(dir, &o, &log));
    for (int i = 0; i < 10; i++)
        WLA(i % 3 == 2 ? 3 : 1);
    if (wl_sync(log, sh)) return atomic_load(&sh->fail_line);
    void *v = NULL;
    WL(lsmlog_log_get(log, atomic_load(&sh->acked_end) - 1, NULL, &v, NULL));
    lsmlog_free(v);
    lsmlog_log_iter *it = NULL;
    WL(lsmlog_log_iter_open(log, NULL, &it));
    lsmlog_record rec;
    while (lsmlog_log_iter_next(it, &rec) == LSMLOG_OK) {
    }
    lsmlog_log_iter_close(it);
    for (int i = 0; i < 5; i++)
        WLA(1);
    WL(lsmlog_log_close(log));
    return 0;
}

/* ---- checking what a power loss left ------------------------------------ */

typedef struct totals {
    uint64_t points, crashes, verified, lost_acked, opens_corrupt, repairs, double_crashes, holes;
    uint64_t bytes_undone, writes_undone, dir_undone, torn_tails;
} totals;

/* A corruption reported (os durability): the message must name the file. */
static int reported(const char *dir, const char *what, const char *where) {
    CHECKF(strstr(lsmlog_errmsg(), dir) != NULL, "%s: %s: the corruption message names no file: %s",
           what, where, lsmlog_errmsg());
    return 1;
}

/* One pass over the log after a power loss, opened with or without repair.
 * need_acked: every acknowledged record must be there (sync); else only the
 * records before the last successful sync must be, and a reported corruption
 * (at open, or by a read of a sealed segment whose index still matched its
 * size) returns 1 so that the caller tries again with repair. */
static int check_pass(const char *dir, int durability, const shared *sh, int need_acked,
                      const char *what, totals *t, int repair) {
    uint64_t acked = atomic_load(&sh->acked_end), synced = atomic_load(&sh->synced_end);
    uint64_t attempted = atomic_load(&sh->attempted_end), trunc_to = atomic_load(&sh->trunc_to);
    lsmlog_options o = tu_opts(durability, SEG);
    o.repair = repair;
    lsmlog_log *log = NULL;
    int rc = lsmlog_log_open(dir, &o, &log);
    if (rc == LSMLOG_E_CORRUPT && !need_acked && !repair) return reported(dir, what, "open");
    CHECKF(rc == LSMLOG_OK, "%s: open after power loss%s: %d (%s): %s", what,
           repair ? " with repair" : "", rc, tu_status_name(rc), lsmlog_errmsg());
    const lsmlog_recovery *r = lsmlog_log_recovery(log);
    if (!repair) CHECKF(r->dropped_batches == 0, "%s: recovery dropped batches", what);
    if (r->truncated_bytes) t->torn_tails++;
    uint64_t start = 0, end = 0;
    CHECK_OK(lsmlog_log_bounds(log, &start, &end));
    uint64_t must = need_acked ? acked : synced;
    CHECKF(end >= must,
           "%s: %" PRIu64 " records %s, but the log ends at %" PRIu64 " (acked %" PRIu64
           ", synced %" PRIu64 ")",
           what, must, need_acked ? "acknowledged" : "synced", end, acked, synced);
    CHECKF(end <= attempted, "%s: end %" PRIu64 " past every append made (%" PRIu64 ")", what, end,
           attempted);
    if (!need_acked) {
        /* os: unsynced records may vanish anywhere, even a whole sealed
         * segment's; only the synced ones are checked (below, by offset) */
        if (start > trunc_to) t->holes++;
    } else if (!repair) {
        if (trunc_to == 0)
            CHECKF(start == 0, "%s: start %" PRIu64 " with no truncation", what, start);
        else
            CHECKF(start <= trunc_to, "%s: start %" PRIu64 " past truncate_before(%" PRIu64 ")",
                   what, start, trunc_to);
    }
    /* every record, in order, exactly as written; dense in sync mode. In os
     * mode a power loss may keep a new segment's name but not the last
     * unsynced batches of the one before: open accepts the gap between them
     * (the format allows gaps, as repair leaves them), so offsets go missing
     * without a report. Counted, not failed: those records were never synced. */
    int dense = need_acked && !repair, corrupt = 0;
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &it));
    unsigned char want[MAXV];
    uint64_t n = 0, next = start, present_below_acked = 0, holes = 0;
    lsmlog_record rec;
    for (;;) {
        rc = lsmlog_log_iter_next(it, &rec);
        if (rc == LSMLOG_NOTFOUND) break;
        if (rc == LSMLOG_E_CORRUPT && !need_acked && !repair) {
            corrupt = reported(dir, what, "iterator");
            break;
        }
        CHECKF(rc == LSMLOG_OK, "%s: iterator at %" PRIu64 ": %d (%s): %s", what, next, rc,
               tu_status_name(rc), lsmlog_errmsg());
        if (dense)
            CHECKF(rec.offset == next, "%s: offset %" PRIu64 " where %" PRIu64 " was due", what,
                   rec.offset, next);
        CHECKF(rec.offset >= next, "%s: offsets go backwards", what);
        if (rec.offset > next) holes++;
        size_t len = value_for(rec.offset, want);
        CHECKF(rec.len == len && memcmp(rec.value, want, len) == 0 &&
                   rec.timestamp == ts_for(rec.offset),
               "%s: offset %" PRIu64 " is not what was written there", what, rec.offset);
        if (rec.offset < acked) present_below_acked++;
        next = rec.offset + 1;
        n++;
    }
    lsmlog_log_iter_close(it);
    if (!corrupt) {
        if (dense)
            CHECKF(next == end, "%s: the iterator ended at %" PRIu64 ", the log at %" PRIu64, what,
                   next, end);
        else if (next < end)
            holes++;
        /* records a sync made durable survive, even through a repair */
        for (uint64_t off = trunc_to; off < must; off++) {
            void *v = NULL;
            size_t len = 0;
            rc = lsmlog_log_get(log, off, NULL, &v, &len);
            CHECKF(rc == LSMLOG_OK, "%s: durable record %" PRIu64 " is missing: %d", what, off, rc);
            CHECK(len == value_for(off, want) && memcmp(v, want, len) == 0);
            lsmlog_free(v);
        }
        uint64_t checked = 0;
        rc = lsmlog_log_verify(log, &checked);
        if (rc == LSMLOG_E_CORRUPT && !need_acked && !repair) {
            corrupt = reported(dir, what, "verify");
        } else {
            CHECKF(rc == LSMLOG_OK, "%s: verify: %d (%s)", what, rc, lsmlog_errmsg());
            CHECK_EQ_U64(checked, n);
        }
    }
    if (corrupt) {
        CHECK_OK(lsmlog_log_close(log));
        return 1;
    }
    uint64_t lo = acked < start ? acked : start;
    if (acked > lo + present_below_acked) t->lost_acked += acked - lo - present_below_acked;
    t->verified += n;
    t->holes += holes;
    /* the log goes on */
    size_t len = value_for(end, want);
    uint64_t off = 0;
    CHECK_OK(lsmlog_log_append(log, want, len, ts_for(end), &off));
    CHECK_EQ_U64(off, end);
    CHECK_OK(lsmlog_log_close(log));
    return 0;
}

/* Opens the log after a power loss and checks it against what the child
 * acknowledged (check_pass); in os durability a reported corruption is
 * allowed, and repair must then salvage every synced record. */
static void check_after(const char *dir, int durability, const shared *sh, int need_acked,
                        const char *what, totals *t) {
    if (check_pass(dir, durability, sh, need_acked, what, t, 0) == 0) return;
    t->opens_corrupt++;
    t->repairs++;
    CHECK_EQ_INT(check_pass(dir, durability, sh, need_acked, what, t, 1), 0);
}

/* Runs the workload in a child that crashes at `point`; 1 if it crashed. */
static int run_crash(const char *dir, int durability, shared *sh, unsigned mask, uint64_t point,
                     int after, fault_pl_mode mode, uint64_t seed) {
    sh_reset(sh);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fault_env_install();
        fault_skip_real_sync(1);
        fault_crash_at(mask, point, after, mode, seed, CRASH_EXIT);
        int line = workload(dir, durability, sh);
        fault_env_uninstall(); /* no crash came: its backups go */
        _exit(line ? 3 : 0);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status), "point %" PRIu64 ": the child died of signal %d", point,
           WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    int code = WEXITSTATUS(status);
    CHECKF(code == 0 || code == CRASH_EXIT,
           "point %" PRIu64 ": the workload failed before the crash at line %d: %d (%s): %s", point,
           atomic_load(&sh->fail_line), atomic_load(&sh->fail_rc),
           tu_status_name(atomic_load(&sh->fail_rc)), sh->msg);
    return code == CRASH_EXIT;
}

/* A second power loss during the recovery open of a crashed log. */
static void crash_recovery(const char *dir, int durability, uint64_t point, uint64_t seed) {
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fault_env_install();
        fault_skip_real_sync(1);
        fault_crash_at(FAULT_MASK_MUTATING, point, 0, FAULT_PL_TORN, seed, CRASH_EXIT);
        lsmlog_options o = tu_opts(durability, SEG);
        lsmlog_log *log = NULL;
        int rc = lsmlog_log_open(dir, &o, &log);
        if (rc == LSMLOG_OK) rc = lsmlog_log_close(log);
        fault_env_uninstall();
        _exit(rc == LSMLOG_OK ? 0 : 3);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == CRASH_EXIT),
           "recovery under a second crash failed (status %d)", status);
}

/* Counts the workload's operations of `mask` on a dry run. */
static uint64_t dry_run(int durability, unsigned mask, shared *sh) {
    const char *root = tu_mkdtemp();
    char dir[400];
    snprintf(dir, sizeof dir, "%s/a/b", root);
    sh_reset(sh);
    fault_env_install();
    fault_skip_real_sync(1);
    int line = workload(dir, durability, sh);
    uint64_t n = fault_count(mask);
    fault_env_uninstall();
    CHECKF(line == 0, "dry run failed at line %d: %s", line, sh->msg);
    tu_rmtemp(root);
    return n;
}

/* The first point of a sweep that tries every k-th one (FAULT_STRIDE): 0
 * when every point is tried, else drawn below k from the seed. */
static uint64_t first_point(uint64_t k) {
    return k > 1 ? tu_rand_below(k) : 0;
}

static void campaign(int durability, const char *name) {
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    int sync = durability == LSMLOG_DURABILITY_SYNC;
    uint64_t nmut = dry_run(durability, FAULT_MASK_MUTATING, sh);
    uint64_t nsync = dry_run(durability, FAULT_MASK_SYNC, sh);
    uint64_t records = atomic_load(&sh->acked_end);
    totals t;
    memset(&t, 0, sizeof t);
    double t0 = tu_mono_ms();
    /* the points: before every changing operation, after every sync */
    struct plan {
        unsigned mask;
        uint64_t n;
        int after;
    } plans[2] = {{FAULT_MASK_MUTATING, nmut, 0}, {FAULT_MASK_SYNC, nsync, 1}};
    /* FAULT_STRIDE: every stride-th point of each plan (i counts those tried) */
    uint64_t stride = fault_stride();
    for (int p = 0; p < 2; p++) {
        if (!sync && plans[p].after) continue; /* os: the points before suffice */
        for (uint64_t i = 0, k = first_point(stride); k < plans[p].n; i++, k += stride) {
            fault_pl_mode modes[3];
            int nm = 0;
            if (sync) {
                modes[nm++] = FAULT_PL_DROP;
                modes[nm++] = FAULT_PL_TORN;
                if (fault_full()) modes[nm++] = FAULT_PL_REORDER;
            } else {
                modes[nm++] = (fault_pl_mode)(i % 3); /* DROP, TORN, REORDER in turn */
                if (fault_full()) modes[nm++] = (fault_pl_mode)((i + 1) % 3);
            }
            for (int m = 0; m < nm; m++) {
                const char *root = tu_mkdtemp();
                char dir[400], what[200];
                snprintf(dir, sizeof dir, "%s/a/b", root);
                uint64_t seed = tu_rand();
                snprintf(what, sizeof what, "%s: power loss %s op %" PRIu64 " (%s), seed %" PRIu64,
                         name, plans[p].after ? "after sync" : "before", k,
                         fault_pl_mode_name(modes[m]), seed);
                t.points++;
                if (run_crash(dir, durability, sh, plans[p].mask, k, plans[p].after, modes[m],
                              seed))
                    t.crashes++;
                if (sync && fault_full()) {
                    crash_recovery(dir, durability, tu_rand_below(8), tu_rand());
                    t.double_crashes++;
                }
                check_after(dir, durability, sh, sync, what, &t);
                tu_rmtemp(root);
            }
        }
    }
    if (stride > 1)
        printf("%s: FAULT_STRIDE=%" PRIu64 ": one point in %" PRIu64 " of each plan\n", name,
               stride, stride);
    printf("%s: %" PRIu64 " power-loss points (%" PRIu64 " changing ops, %" PRIu64
           " syncs in a %" PRIu64 "-record workload), %" PRIu64 " crashed, %" PRIu64
           " records verified, %" PRIu64 " acknowledged records lost%s, %" PRIu64
           " torn tails cut, %" PRIu64 " reported corruption (%" PRIu64 " repaired), %" PRIu64
           " unreported offset gaps%s, %.1f s\n",
           name, t.points, nmut, nsync, records, t.crashes, t.verified, t.lost_acked,
           sync ? "" : " (allowed: os)", t.torn_tails, t.opens_corrupt, t.repairs, t.holes,
           t.double_crashes ? ", second crash in each recovery" : "", (tu_mono_ms() - t0) / 1000.0);
    fflush(stdout);
    if (sync) CHECK_EQ_U64(t.lost_acked, 0);
    if (sync) CHECK_EQ_U64(t.holes, 0);
    CHECK_EQ_U64(t.crashes, t.points); /* every point was reached */
    munmap(sh, sizeof *sh);
}

static void sync_every_point(void) {
    campaign(LSMLOG_DURABILITY_SYNC, "sync");
}

static void os_every_point(void) {
    campaign(LSMLOG_DURABILITY_OS, "os");
}

/* Regression (log.c): lsmlog_log_sync in os durability fdatasynced only the
 * active segment, so after "everything appended so far survives power loss"
 * a power loss still took the records of sealed segments (never synced), the
 * segment files' names and the log directory itself (never fsynced in their
 * directories). Also (log.c make_dir): in sync durability, opening a log at a
 * path of several new directories fsynced only the last one's parent. */
static void sync_is_a_barrier(void) {
    for (int durability = LSMLOG_DURABILITY_BUFFERED; durability <= LSMLOG_DURABILITY_SYNC;
         durability++) {
        for (int mode = FAULT_PL_DROP; mode <= FAULT_PL_REORDER; mode++) {
            const char *root = tu_mkdtemp();
            char dir[400];
            snprintf(dir, sizeof dir, "%s/x/y/z", root);
            fault_env_install();
            fault_skip_real_sync(1);
            lsmlog_options o = tu_opts(durability, SEG);
            lsmlog_log *log = NULL;
            CHECK_OK(lsmlog_log_open(dir, &o, &log));
            unsigned char buf[MAXV];
            uint64_t end = 0;
            lsmlog_log_info info;
            do { /* three segments */
                size_t len = value_for(end, buf);
                CHECK_OK(lsmlog_log_append(log, buf, len, ts_for(end), NULL));
                end++;
                CHECK_OK(lsmlog_log_stat(log, &info));
            } while (info.segments < 3);
            CHECK_OK(lsmlog_log_sync(log));
            uint64_t synced = end;
            for (int i = 0; i < 5; i++, end++) { /* not synced: may go */
                size_t len = value_for(end, buf);
                CHECK_OK(lsmlog_log_append(log, buf, len, ts_for(end), NULL));
            }
            fault_pl_stats s;
            fault_power_loss((fault_pl_mode)mode, tu_rand(), &s);
            lsmlog_log_close(log); /* after the power loss: only to free it */
            fault_env_uninstall();
            int rc = lsmlog_log_open(dir, &o, &log);
            if (rc == LSMLOG_E_CORRUPT && durability != LSMLOG_DURABILITY_SYNC) {
                /* the unsynced appends after the sync came back with a hole
                 * before a whole batch (REORDER): reported, and repaired */
                o.repair = 1;
                rc = lsmlog_log_open(dir, &o, &log);
            }
            CHECKF(rc == LSMLOG_OK, "durability %d, %s: open: %s", durability,
                   fault_pl_mode_name((fault_pl_mode)mode), lsmlog_errmsg());
            for (uint64_t off = 0; off < synced; off++) {
                void *v = NULL;
                size_t len = 0;
                rc = lsmlog_log_get(log, off, NULL, &v, &len);
                CHECKF(rc == LSMLOG_OK,
                       "durability %d, %s: record %" PRIu64 " of %" PRIu64 " synced is gone (%d)",
                       durability, fault_pl_mode_name((fault_pl_mode)mode), off, synced, rc);
                CHECK(len == value_for(off, buf) && memcmp(v, buf, len) == 0);
                lsmlog_free(v);
            }
            CHECK_OK(lsmlog_log_verify(log, NULL));
            CHECK_OK(lsmlog_log_close(log));
            tu_rmtemp(root);
        }
    }
}

/* ---- the simulation itself ---------------------------------------------- */

static void put_file(const char *dir, const char *name, const char *text) {
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    CHECK(tu_write_file(p, text, strlen(text)) == 0);
}

/* The file's content as a string ("<absent>" if missing). */
static const char *get_file(const char *dir, const char *name) {
    static char buf[256];
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_RDONLY);
    if (fd < 0) return "<absent>";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* Through the env layer, as the core would. */
static void env_write(const char *dir, const char *name, int flags, const char *text, uint64_t at,
                      int sync) {
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = -1;
    CHECK_OK(env_open(p, flags, &fd));
    CHECK_OK(env_pwrite_all(fd, text, strlen(text), at, p));
    if (sync) CHECK_OK(env_fdatasync(fd, p));
    env_close(fd);
}

static void changes(const char *dir) {
    char a[400], b[400];
    env_write(dir, "A", O_WRONLY, "HELLO world", 0, 0);   /* overwrite and grow */
    env_write(dir, "B", O_WRONLY | O_CREAT, "bbb", 0, 1); /* new file, data synced */
    snprintf(a, sizeof a, "%s/C", dir);
    snprintf(b, sizeof b, "%s/D", dir);
    CHECK_OK(env_rename(a, b)); /* C replaces D */
    snprintf(a, sizeof a, "%s/E", dir);
    CHECK_OK(env_unlink(a));
    snprintf(a, sizeof a, "%s/F", dir);
    CHECK_OK(env_mkdirs(a));
    env_write(dir, "F/G", O_WRONLY | O_CREAT, "ggg", 0, 1);
}

static void fresh(const char *dir) {
    const char *names[] = {"A", "B", "C", "D", "E", "F/G", "F"};
    for (int i = 0; i < 7; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        tu_rmrf(p);
    }
    put_file(dir, "A", "hello");
    put_file(dir, "C", "ccc");
    put_file(dir, "D", "ddd");
    put_file(dir, "E", "eee");
}

static void fault_env_self_check(void) {
    const char *dir = tu_mkdtemp();
    fault_pl_stats s;

    /* nothing synced: everything goes back */
    fresh(dir);
    fault_env_install();
    changes(dir);
    CHECK(strcmp(get_file(dir, "D"), "ccc") == 0);
    CHECK_EQ_INT(fault_power_loss(FAULT_PL_DROP, 1, &s), 0);
    CHECK(strcmp(get_file(dir, "A"), "hello") == 0);
    CHECK(strcmp(get_file(dir, "B"), "<absent>") == 0);
    CHECK(strcmp(get_file(dir, "C"), "ccc") == 0);
    CHECK(strcmp(get_file(dir, "D"), "ddd") == 0);
    CHECK(strcmp(get_file(dir, "E"), "eee") == 0);
    char fpath[400];
    snprintf(fpath, sizeof fpath, "%s/F", dir);
    CHECK(!tu_exists(fpath));
    CHECK_EQ_U64(s.dir_undone, 5); /* create B, rename, unlink, mkdir F, create G */
    fault_env_uninstall();

    /* the directory synced: names stay; A's data was never synced */
    fresh(dir);
    fault_env_install();
    changes(dir);
    CHECK_OK(env_fsync_dir(dir));
    CHECK_EQ_INT(fault_power_loss(FAULT_PL_DROP, 2, &s), 0);
    CHECK(strcmp(get_file(dir, "A"), "hello") == 0);
    CHECK(strcmp(get_file(dir, "B"), "bbb") == 0);
    CHECK(strcmp(get_file(dir, "C"), "<absent>") == 0);
    CHECK(strcmp(get_file(dir, "D"), "ccc") == 0);
    CHECK(strcmp(get_file(dir, "E"), "<absent>") == 0);
    CHECK(strcmp(get_file(dir, "F/G"), "<absent>") == 0); /* F's own entries were not synced */
    fault_env_uninstall();

    /* TORN: every byte of A is old, new or zero; the size in between */
    for (uint64_t seed = 0; seed < 40; seed++) {
        fresh(dir);
        fault_env_install();
        env_write(dir, "A", O_WRONLY, "HELLO ", 0, 0);
        env_write(dir, "A", O_WRONLY, "world", 6, 0);
        CHECK_OK(env_fsync_dir(dir));
        fault_power_loss(seed % 2 ? FAULT_PL_TORN : FAULT_PL_REORDER, seed, &s);
        const char *got = get_file(dir, "A"), *o = "hello", *nw = "HELLO world";
        size_t n = strlen(got);
        CHECKF(n >= 5 && n <= 11, "seed %" PRIu64 ": size %zu", seed, n);
        for (size_t i = 0; i < n; i++)
            CHECKF(got[i] == nw[i] || got[i] == '\0' || (i < 5 && got[i] == o[i]),
                   "seed %" PRIu64 ": byte %zu is %d", seed, i, got[i]);
        fault_env_uninstall();
    }

    /* a failed fsync dooms the data: a later successful one does not save it */
    fresh(dir);
    fault_env_install();
    {
        char p[400];
        snprintf(p, sizeof p, "%s/A", dir);
        int fd = -1;
        CHECK_OK(env_open(p, O_WRONLY, &fd));
        CHECK_OK(env_pwrite_all(fd, "HELLO", 5, 0, p));
        fault_fail_nth(FAULT_MASK_SYNC, 0, EIO, 0);
        CHECK_EQ_INT(env_fdatasync(fd, p), LSMLOG_E_IO);
        CHECK_EQ_INT(fault_failed_op(), FAULT_OP_FDATASYNC);
        CHECK(strcmp(fault_failed_path(), p) == 0);
        CHECK_OK(env_fdatasync(fd, p));
        env_close(fd);
        fault_power_loss(FAULT_PL_TORN, 3, &s);
        CHECK(strcmp(get_file(dir, "A"), "hello") == 0);
    }
    fault_env_uninstall();

    /* counting, failing once and from then on, short writes */
    fault_env_install();
    fault_fail_nth(FAULT_MASK(FAULT_OP_RENAME), 1, ENOSPC, 0);
    char a[400], b[400];
    snprintf(a, sizeof a, "%s/C", dir);
    snprintf(b, sizeof b, "%s/C2", dir);
    CHECK_OK(env_rename(a, b));
    CHECK_EQ_INT(env_rename(b, a), LSMLOG_E_IO);
    CHECK_EQ_INT(lsmlog_errno(), ENOSPC);
    CHECK_OK(env_rename(b, a));
    CHECK_EQ_U64(fault_count(FAULT_MASK(FAULT_OP_RENAME)), 3);
    CHECK_EQ_U64(fault_injected(), 1);
    fault_fail_nth(FAULT_MASK(FAULT_OP_RENAME), 0, EIO, 1);
    CHECK_EQ_INT(env_rename(a, b), LSMLOG_E_IO);
    CHECK_EQ_INT(env_rename(a, b), LSMLOG_E_IO);
    fault_fail_off();
    fault_short_writes(1);
    fault_seed(7);
    env_write(dir, "S", O_WRONLY | O_CREAT, "a longer text, written in pieces", 0, 0);
    CHECK(strcmp(get_file(dir, "S"), "a longer text, written in pieces") == 0);
    CHECK(fault_count(FAULT_MASK(FAULT_OP_PWRITE)) > 1);
    fault_env_uninstall();

    /* allocation */
    fault_alloc_install();
    fault_alloc_fail_nth(1, 0);
    void *p1 = lm_malloc(10), *p2 = lm_malloc(10), *p3 = lm_malloc(10);
    CHECK(p1 && !p2 && p3);
    CHECK_EQ_U64(fault_alloc_count(), 3);
    CHECK_EQ_U64(fault_alloc_injected(), 1);
    lm_free(p1);
    lm_free(p3);
    fault_alloc_uninstall();
    tu_rmtemp(dir);
}

int main(void) {
    tu_init("test_log_power_loss");
    TU_CASE(fault_env_self_check);
    TU_CASE(sync_is_a_barrier);
    TU_CASE(sync_every_point);
    TU_CASE(os_every_point);
    return tu_finish();
}
