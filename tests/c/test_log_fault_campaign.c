/* test_log_fault_campaign.c — SQLite-style fault simulation for the Log: a
 * scripted workload is run again and again, failing a different operation
 * each time, through tests/c/fault_env (fault_env.h):
 *
 *  - every file operation in turn (open, pread, pwrite, pwritev, fdatasync,
 *    fsync, ftruncate, fstat, stat, rename, unlink, mkdir, flock, mmap), once,
 *    with EIO (FAULT_FULL=1: also with ENOSPC, a failing write first writing
 *    part of its bytes);
 *  - every changing file operation in turn, from then on ("sticky"), with
 *    ENOSPC and partial writes (FAULT_FULL=1: also EIO with short writes);
 *  - every allocation in turn, once, and from then on for every 4th (every
 *    one with FAULT_FULL=1);
 *  - no failure but every write short (the caller must loop).
 * Then one named regression case per bug this campaign found in the core.
 * FAULT_STRIDE=k (fault_env.h) tries only every k-th point of each of these
 * sweeps (file operations, changing operations, allocations; a sticky
 * allocation failure at every 4th point tried), from a start below k drawn
 * from the seed, so that the whole workload is still covered: for slow runs
 * (valgrind memcheck in scripts/test.sh). The regression cases run whole.
 *
 * The workload (two profiles): open, appends, batches, a sync, rolls across
 * small segments, time lookups, iterators, truncate_before, verify, close,
 * reopen, more appends, flush, sync, reads, close; the "big" profile writes
 * batches of ten 4-6 KiB values from separate buffers, so that they go out
 * by pwritev from where they lie. Durabilities os, sync and buffered.
 *
 * What each run checks:
 *  - a call fails only with LSMLOG_E_IO, LSMLOG_E_NOMEM or LSMLOG_E_FAILED,
 *    and with a message; never a crash (the ASan build also catches leaks
 *    and bad accesses on every error path);
 *  - with a single fault, only the call during which it fired fails; later
 *    calls work, except that...
 *  - ...a failed fsync/fdatasync of a segment is reported by that call, and
 *    every later write on the handle gets LSMLOG_E_FAILED (the workload then
 *    reopens, as a user would); LSMLOG_E_FAILED never appears otherwise;
 *  - every record read during the run is the one written at its offset;
 *  - afterwards, reopened with the real operations: open succeeds (no
 *    corruption), every acknowledged record is there, in order, with its
 *    value and timestamp, records of failed appends are either absent or
 *    whole and right, offsets are dense, and lsmlog_log_verify passes.
 * Values and timestamps are a pure function of the offset, so a retried
 * offset holds the same record whichever attempt landed. */
#include "fault_env.h"
#include "test_util.h"

#include "env.h"

#define BASE_TS 1650000000000LL
#define MAXREC 4096
#define BIGV 6144

typedef struct profile {
    const char *name;
    uint64_t segment_bytes;
    int big; /* values of 4-6 KiB, batches of ten from separate buffers */
} profile;

static const profile P_SMALL = {"small", 4096, 0};
static const profile P_BIG = {"big", 128 * 1024, 1};

static size_t value_for(const profile *p, uint64_t off, unsigned char *buf) {
    if (!p->big) return tu_make_value(tu_seed, off, 200, buf);
    uint64_t st = tu_hash2(tu_seed ^ 0xB16B16, off);
    size_t len = 4096 + (size_t)(tu_splitmix64(&st) % 2048);
    tu_fill_random(&st, buf, len);
    tu_put_u64(buf, off);
    return len;
}

static int64_t ts_for(uint64_t off) {
    return BASE_TS + (int64_t)(off * 5);
}

/* ---- one run ------------------------------------------------------------ */

enum { F_NONE, F_IO, F_ALLOC };

typedef struct run {
    const char *dir;
    const profile *p;
    int durability;
    int kind;   /* F_* */
    int sticky; /* the fault stays */
    lsmlog_log *log;
    uint64_t next;             /* the offset the next append gets */
    uint64_t attempted_end;    /* no append went past this */
    uint64_t trunc_to;         /* largest truncate_before called */
    uint8_t must[MAXREC];      /* acknowledged (durable against a reopen) */
    uint64_t pend_lo, pend_hi; /* buffered: acknowledged into the buffer, not yet flushed */
    int error_calls;           /* calls that failed (not counting LSMLOG_E_FAILED) */
    int failed_calls;          /* calls that got LSMLOG_E_FAILED */
    int may_fail_handle;       /* a fault that may fail the handle has fired */
    int expect_failed;         /* a segment's fsync failed: the next write must get E_FAILED */
    int fsync_checked;         /* ... and it did */
    int reopens;
    char what[200];
} run;

static uint64_t injected_now(const run *r) {
    return r->kind == F_ALLOC ? fault_alloc_injected() : r->kind == F_IO ? fault_injected() : 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Buffered: a failed write loses the buffer (documented: the records were
 * acknowledged into it, and the handle then stops taking writes). The handle
 * says where its log ends now. */
static void resync(run *r) {
    uint64_t end = 0;
    if (!r->log || r->durability != LSMLOG_DURABILITY_BUFFERED) return;
    if (lsmlog_log_bounds(r->log, NULL, &end) != LSMLOG_OK || end >= r->next) return;
    r->next = end;
    if (r->pend_hi > end) r->pend_hi = end > r->pend_lo ? end : r->pend_lo;
}

/* Judges the result of one call. Returns 1 if it succeeded. */
static int judge(run *r, const char *call, int rc, uint64_t inj_before, int is_write) {
    int fired = injected_now(r) > inj_before;
    int op = r->kind == F_IO ? fault_failed_op() : -1;
    int sync_op = op == FAULT_OP_FDATASYNC || op == FAULT_OP_FSYNC;
    /* a segment whose fsync failed, and that is still there */
    int seg_sync = fired && sync_op && ends_with(fault_failed_path(), ".log") &&
                   tu_exists(fault_failed_path());
    if (fired && (sync_op || (r->durability == LSMLOG_DURABILITY_BUFFERED &&
                              (op == FAULT_OP_PWRITE || op == FAULT_OP_PWRITEV ||
                               op == FAULT_OP_FTRUNCATE || r->kind == F_ALLOC))))
        r->may_fail_handle = 1;
    if (r->sticky && fired) r->may_fail_handle = 1; /* the cut after a failed write fails too */
    if (r->expect_failed && is_write) {
        CHECKF(rc == LSMLOG_E_FAILED, "%s: %s after a failed fsync gave %d (%s), not E_FAILED",
               r->what, call, rc, tu_status_name(rc));
        r->expect_failed = 0;
        r->fsync_checked++;
    }
    if (rc == LSMLOG_OK) {
        CHECKF(!(fired && sync_op && r->kind == F_IO && !r->sticky),
               "%s: %s succeeded although an %s failed during it (%s)", r->what, call,
               fault_op_name((fault_op)op), fault_failed_path());
        return 1;
    }
    CHECKF(rc == LSMLOG_E_IO || rc == LSMLOG_E_NOMEM || rc == LSMLOG_E_FAILED,
           "%s: %s failed with %d (%s): %s", r->what, call, rc, tu_status_name(rc),
           lsmlog_errmsg());
    CHECKF(lsmlog_errmsg()[0] != '\0', "%s: %s failed without a message", r->what, call);
    if (rc == LSMLOG_E_FAILED) {
        CHECKF(r->may_fail_handle,
               "%s: %s: E_FAILED, but no fault could fail the handle (the fault: %s on %s)",
               r->what, call, r->kind == F_IO ? fault_op_name((fault_op)fault_failed_op()) : "-",
               r->kind == F_IO ? fault_failed_path() : "-");
        r->failed_calls++;
    } else {
        r->error_calls++;
        if (!r->sticky)
            CHECKF(fired, "%s: %s failed with %s after the single fault (%s on %s) was over: %s",
                   r->what, call, tu_status_name(rc),
                   r->kind == F_IO ? fault_op_name((fault_op)fault_failed_op()) : "allocation",
                   r->kind == F_IO ? fault_failed_path() : "-", lsmlog_errmsg());
    }
    if (seg_sync && r->log && !r->sticky) r->expect_failed = 1;
    resync(r);
    return 0;
}

/* rc = expr, judged (the fault counter is read before the call). */
#define CALL(r, name, is_write, rc, expr)                                                          \
    do {                                                                                           \
        uint64_t inj_ = injected_now(r);                                                           \
        (rc) = (expr);                                                                             \
        judge((r), (name), (rc), inj_, (is_write));                                                \
    } while (0)

static lsmlog_options run_opts(const run *r) {
    return tu_opts(r->durability, r->p->segment_bytes);
}

/* Opens the handle if there is none; 1 if there is one. */
static int ensure_open(run *r) {
    if (r->log) return 1;
    lsmlog_options o = run_opts(r);
    lsmlog_log *log = NULL;
    int rc;
    CALL(r, "open", 0, rc, lsmlog_log_open(r->dir, &o, &log));
    if (rc != LSMLOG_OK) return 0;
    r->log = log;
    r->reopens++;
    uint64_t end = 0;
    CALL(r, "bounds", 0, rc, lsmlog_log_bounds(log, NULL, &end));
    if (rc == LSMLOG_OK) {
        /* an append that failed may still have landed (a failed fsync) */
        CHECKF(end >= r->next && end <= r->attempted_end,
               "%s: opened with end %" PRIu64 ", expected %" PRIu64 "..%" PRIu64, r->what, end,
               r->next, r->attempted_end);
        r->next = end;
    }
    return 1;
}

static void do_close(run *r) {
    if (!r->log) return;
    int rc;
    lsmlog_log *log = r->log;
    r->log = NULL; /* freed by the close, even when it fails */
    CALL(r, "close", 0, rc, lsmlog_log_close(log));
    r->expect_failed = 0;
    if (rc == LSMLOG_OK && r->pend_hi > r->pend_lo) { /* flushed by the close */
        for (uint64_t i = r->pend_lo; i < r->pend_hi; i++)
            r->must[i] = 1;
    }
    r->pend_lo = r->pend_hi = 0;
}

/* After LSMLOG_E_FAILED: what a user does, close and reopen. */
static void after_failed(run *r, int rc) {
    if (rc != LSMLOG_E_FAILED || !r->log) return;
    lsmlog_log_close(r->log); /* E_FAILED is not reported again by close */
    r->log = NULL;
    r->pend_lo = r->pend_hi = 0;
    r->expect_failed = 0;
}

/* Appends n records (a batch when n > 1) at the next offset. */
static void w_append(run *r, size_t n) {
    if (!ensure_open(r)) return;
    static unsigned char vals[10][BIGV];
    lsmlog_entry e[10];
    CHECK(n <= 10 && r->next + n < MAXREC);
    for (size_t i = 0; i < n; i++) {
        e[i].len = value_for(r->p, r->next + i, vals[i]);
        e[i].data = vals[i];
        e[i].ts = ts_for(r->next + i);
    }
    if (r->next + n > r->attempted_end) r->attempted_end = r->next + n;
    uint64_t first = UINT64_MAX;
    int rc;
    if (n == 1)
        CALL(r, "append", 1, rc, lsmlog_log_append(r->log, e[0].data, e[0].len, e[0].ts, &first));
    else
        CALL(r, "append_batch", 1, rc, lsmlog_log_append_batch(r->log, e, n, &first));
    if (rc != LSMLOG_OK) {
        after_failed(r, rc);
        return;
    }
    CHECKF(first == r->next, "%s: append got offset %" PRIu64 ", expected %" PRIu64, r->what, first,
           r->next);
    if (r->durability == LSMLOG_DURABILITY_BUFFERED) {
        if (r->pend_hi == r->pend_lo) r->pend_lo = first;
        r->pend_hi = first + n;
    } else {
        for (size_t i = 0; i < n; i++)
            r->must[first + i] = 1;
    }
    r->next = first + n;
}

/* flush (sync = 0) or sync (1): buffered records are now acknowledged for good */
static void w_flush(run *r, int sync) {
    if (!ensure_open(r)) return;
    int rc;
    if (sync)
        CALL(r, "sync", 1, rc, lsmlog_log_sync(r->log));
    else
        CALL(r, "flush", 1, rc, lsmlog_log_flush(r->log));
    if (rc != LSMLOG_OK) {
        after_failed(r, rc);
        return;
    }
    for (uint64_t i = r->pend_lo; i < r->pend_hi; i++)
        r->must[i] = 1;
    r->pend_lo = r->pend_hi = 0;
}

static void check_value(const run *r, uint64_t off, int64_t ts, const void *v, size_t len) {
    static unsigned char want[BIGV];
    size_t wl = value_for(r->p, off, want);
    CHECKF(len == wl && (len == 0 || memcmp(v, want, len) == 0) && ts == ts_for(off),
           "%s: offset %" PRIu64 " read back wrong (len %zu, want %zu)", r->what, off, len, wl);
}

static void w_get(run *r, uint64_t off) {
    if (!ensure_open(r)) return;
    void *v = NULL;
    size_t len = 0;
    int64_t ts = 0;
    uint64_t inj = injected_now(r);
    int rc = lsmlog_log_get(r->log, off, &ts, &v, &len);
    if (rc == LSMLOG_NOTFOUND) {
        CHECKF(off >= r->next || (r->trunc_to && off < r->trunc_to),
               "%s: get(%" PRIu64 ") NOTFOUND below the end %" PRIu64, r->what, off, r->next);
        return;
    }
    if (!judge(r, "get", rc, inj, 0)) return;
    check_value(r, off, ts, v, len);
    lsmlog_free(v);
}

/* Reads everything from `start` by iterator (opts: bounds, or NULL). */
static void w_iterate(run *r, const lsmlog_iter_opts *opts) {
    if (!ensure_open(r)) return;
    lsmlog_log_iter *it = NULL;
    int rc;
    CALL(r, "iter_open", 0, rc, lsmlog_log_iter_open(r->log, opts, &it));
    if (rc != LSMLOG_OK) return;
    uint64_t prev = UINT64_MAX;
    for (;;) {
        lsmlog_record rec;
        uint64_t inj = injected_now(r);
        rc = lsmlog_log_iter_next(it, &rec);
        if (rc == LSMLOG_NOTFOUND) break;
        if (!judge(r, "iter_next", rc, inj, 0)) break;
        CHECKF(prev == UINT64_MAX || rec.offset == prev + 1,
               "%s: iterator skipped from %" PRIu64 " to %" PRIu64, r->what, prev, rec.offset);
        check_value(r, rec.offset, rec.timestamp, rec.value, rec.len);
        prev = rec.offset;
    }
    lsmlog_log_iter_close(it);
}

static void w_truncate(run *r, uint64_t off) {
    if (!ensure_open(r)) return;
    if (off > r->trunc_to) r->trunc_to = off;
    int rc;
    CALL(r, "truncate_before", 0, rc, lsmlog_log_truncate_before(r->log, off));
}

static uint64_t w_segments(run *r) {
    if (!ensure_open(r)) return 0;
    lsmlog_log_info info;
    int rc;
    CALL(r, "stat", 0, rc, lsmlog_log_stat(r->log, &info));
    if (rc != LSMLOG_OK) return 0;
    return info.segments;
}

static void workload_small(run *r) {
    for (int i = 0; i < 8; i++)
        w_append(r, 1);
    for (int i = 0; i < 3; i++)
        w_append(r, 4);
    w_get(r, 0);
    w_get(r, 9);
    w_get(r, r->next ? r->next - 1 : 0);
    w_iterate(r, NULL);
    w_flush(r, 1);
    for (int i = 0; i < 120 && w_segments(r) < 4; i++)
        w_append(r, i % 5 == 4 ? 3 : 1);
    if (ensure_open(r)) {
        uint64_t off = 0;
        uint64_t inj = injected_now(r);
        int rc = lsmlog_log_offset_for_time(r->log, ts_for(5), &off);
        if (rc != LSMLOG_NOTFOUND && judge(r, "offset_for_time", rc, inj, 0))
            CHECKF(off == 5 || (r->trunc_to && off > 5), "%s: offset_for_time gave %" PRIu64,
                   r->what, off);
    }
    lsmlog_iter_opts io;
    lsmlog_iter_opts_init(&io);
    io.since = ts_for(3);
    io.until = ts_for(40);
    w_iterate(r, &io);
    w_truncate(r, r->next * 3 / 4); /* drops two or three segments */
    for (int i = 0; i < 5; i++)
        w_append(r, 1);
    if (ensure_open(r)) {
        uint64_t n = 0;
        int rc;
        CALL(r, "verify", 0, rc, lsmlog_log_verify(r->log, &n));
    }
    do_close(r);
    for (int i = 0; i < 6; i++)
        w_append(r, 1); /* reopens */
    w_append(r, 3);
    w_flush(r, 0);
    w_flush(r, 1);
    w_append(r, 1); /* a write after the sync (refused if the sync failed) */
    lsmlog_iter_opts from;
    lsmlog_iter_opts_init(&from);
    from.start = r->trunc_to;
    w_iterate(r, &from);
    w_get(r, r->next ? r->next - 1 : 0);
    do_close(r);
}

static void workload_big(run *r) {
    w_append(r, 1);
    w_append(r, 1);
    w_append(r, 10); /* eleven pieces, written by pwritev from the callers' buffers */
    w_flush(r, 1);
    w_append(r, 10);
    w_append(r, 10); /* rolls */
    w_get(r, 2);
    w_iterate(r, NULL);
    do_close(r);
    w_append(r, 10);
    w_get(r, r->next ? r->next - 1 : 0);
    do_close(r);
}

/* Reopens with the real operations and checks everything. */
static void check_final(run *r) {
    lsmlog_options o = run_opts(r);
    lsmlog_log *log = NULL;
    int rc = lsmlog_log_open(r->dir, &o, &log);
    CHECKF(rc == LSMLOG_OK, "%s: reopen after the run: %d (%s): %s", r->what, rc,
           tu_status_name(rc), lsmlog_errmsg());
    CHECKF(lsmlog_log_recovery(log)->dropped_batches == 0, "%s: recovery dropped batches", r->what);
    uint64_t start = 0, end = 0;
    CHECK_OK(lsmlog_log_bounds(log, &start, &end));
    CHECKF(end <= r->attempted_end, "%s: end %" PRIu64 " past every append (%" PRIu64 ")", r->what,
           end, r->attempted_end);
    if (r->trunc_to == 0)
        CHECKF(start == 0, "%s: start %" PRIu64 " without truncation", r->what, start);
    else
        CHECKF(start <= r->trunc_to, "%s: start %" PRIu64 " past %" PRIu64, r->what, start,
               r->trunc_to);
    for (uint64_t off = r->trunc_to; off < MAXREC; off++)
        CHECKF(!r->must[off] || off < end,
               "%s: acknowledged record %" PRIu64 " lost (end %" PRIu64 ")", r->what, off, end);
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &it));
    uint64_t want = start, n = 0;
    for (;;) {
        lsmlog_record rec;
        rc = lsmlog_log_iter_next(it, &rec);
        if (rc == LSMLOG_NOTFOUND) break;
        CHECKF(rc == LSMLOG_OK, "%s: iterating at %" PRIu64 ": %d (%s)", r->what, want, rc,
               lsmlog_errmsg());
        CHECKF(rec.offset == want, "%s: offset %" PRIu64 " where %" PRIu64 " was due", r->what,
               rec.offset, want);
        check_value(r, rec.offset, rec.timestamp, rec.value, rec.len);
        want++;
        n++;
    }
    lsmlog_log_iter_close(it);
    CHECKF(want == end, "%s: iteration ended at %" PRIu64 ", end %" PRIu64, r->what, want, end);
    uint64_t checked = 0;
    rc = lsmlog_log_verify(log, &checked);
    CHECKF(rc == LSMLOG_OK, "%s: verify: %s", r->what, lsmlog_errmsg());
    CHECK_EQ_U64(checked, n);
    CHECK_OK(lsmlog_log_close(log));
}

typedef struct totals {
    uint64_t runs, faults, failing_calls, failed_handles, reopens, records, fsync_checked;
} totals;

static void run_one(const profile *p, int durability, int kind, uint64_t nth, int sticky, int err,
                    int partial, int shorts, totals *t) {
    static run r;
    memset(&r, 0, sizeof r);
    const char *root = tu_mkdtemp();
    char dir[400];
    snprintf(dir, sizeof dir, "%s/log", root);
    r.dir = dir;
    r.p = p;
    r.durability = durability;
    r.kind = kind;
    r.sticky = sticky;
    snprintf(r.what, sizeof r.what, "%s/%s: %s %s #%" PRIu64 "%s", p->name,
             durability == LSMLOG_DURABILITY_SYNC ? "sync"
             : durability == LSMLOG_DURABILITY_OS ? "os"
                                                  : "buffered",
             sticky ? "sticky" : "single",
             kind == F_IO      ? "I/O fault"
             : kind == F_ALLOC ? "allocation failure"
                               : "no fault",
             nth, shorts ? " (short writes)" : "");
    fault_env_install();
    fault_skip_real_sync(1);
    fault_seed(tu_rand());
    fault_short_writes(shorts);
    if (kind == F_IO) {
        fault_partial_writes(partial);
        fault_fail_nth(sticky ? FAULT_MASK_MUTATING : FAULT_MASK_ALL, nth, err, sticky);
    }
    if (kind == F_ALLOC) {
        fault_alloc_install();
        fault_alloc_fail_nth(nth, sticky);
    }
    if (p->big)
        workload_big(&r);
    else
        workload_small(&r);
    if (r.log) { /* a sticky fault can leave it open: close as a user would */
        lsmlog_log_close(r.log);
        r.log = NULL;
    }
    uint64_t inj = injected_now(&r);
    if (kind == F_ALLOC) fault_alloc_uninstall();
    fault_env_uninstall();
    check_final(&r);
    t->runs++;
    t->faults += inj;
    t->failing_calls += (uint64_t)(r.error_calls + r.failed_calls);
    t->failed_handles += r.failed_calls > 0;
    t->reopens += (uint64_t)r.reopens;
    t->fsync_checked += (uint64_t)r.fsync_checked;
    for (uint64_t i = 0; i < MAXREC; i++)
        t->records += r.must[i];
    tu_rmtemp(root);
}

/* The number of operations (mask) and allocations of a fault-free run. */
static void count_ops(const profile *p, int durability, uint64_t *all, uint64_t *mut,
                      uint64_t *allocs) {
    static run r;
    memset(&r, 0, sizeof r);
    const char *root = tu_mkdtemp();
    char dir[400];
    snprintf(dir, sizeof dir, "%s/log", root);
    r.dir = dir;
    r.p = p;
    r.durability = durability;
    snprintf(r.what, sizeof r.what, "%s dry run", p->name);
    fault_env_install();
    fault_skip_real_sync(1);
    fault_alloc_install();
    if (p->big)
        workload_big(&r);
    else
        workload_small(&r);
    CHECKF(r.error_calls == 0 && r.failed_calls == 0, "%s: the fault-free run failed", p->name);
    *all = fault_count(FAULT_MASK_ALL);
    *mut = fault_count(FAULT_MASK_MUTATING);
    *allocs = fault_alloc_count();
    fault_alloc_uninstall();
    fault_env_uninstall();
    check_final(&r);
    tu_rmtemp(root);
}

/* The first point of a sweep that tries every k-th one (FAULT_STRIDE): 0
 * when every point is tried, else drawn below k from the seed. */
static uint64_t first_point(uint64_t k) {
    return k > 1 ? tu_rand_below(k) : 0;
}

static void campaign(const profile *p, int durability, const char *dname) {
    uint64_t all, mut, allocs;
    count_ops(p, durability, &all, &mut, &allocs);
    double t0 = tu_mono_ms();
    totals io = {0}, st = {0}, al = {0};
    /* FAULT_STRIDE=k: every k-th point of each sweep (sticky allocation
     * failures: every 4th point tried, i counting them) */
    uint64_t k = fault_stride();
    for (uint64_t n = first_point(k); n < all; n += k) {
        run_one(p, durability, F_IO, n, 0, EIO, 0, 0, &io);
        if (fault_full()) run_one(p, durability, F_IO, n, 0, ENOSPC, 1, 0, &io);
    }
    for (uint64_t n = first_point(k); n < mut; n += k) {
        run_one(p, durability, F_IO, n, 1, ENOSPC, 1, 0, &st);
        if (fault_full()) run_one(p, durability, F_IO, n, 1, EIO, 0, 1, &st);
    }
    uint64_t step = fault_full() ? 1 : 4, planned = 0;
    for (uint64_t i = 0, n = first_point(k); n < allocs; i++, n += k) {
        run_one(p, durability, F_ALLOC, n, 0, 0, 0, 0, &al);
        planned++;
        if (i % step == 0) run_one(p, durability, F_ALLOC, n, 1, 0, 0, 0, &al);
    }
    totals sh = {0};
    for (int i = 0; i < (fault_full() ? 10 : 2); i++)
        run_one(p, durability, F_NONE, 0, 0, 0, 0, 1, &sh);
    if (k > 1)
        printf("%s/%s: FAULT_STRIDE=%" PRIu64 ": one point in %" PRIu64 " of each sweep\n", p->name,
               dname, k, k);
    printf("%s/%s: %" PRIu64 " file ops (%" PRIu64 " changing), %" PRIu64 " allocations per run; "
           "%" PRIu64 " runs; faults injected: %" PRIu64 " I/O single, %" PRIu64
           " I/O sticky, %" PRIu64 " allocation; %" PRIu64 " calls failed, %" PRIu64
           " runs saw E_FAILED (%" PRIu64 " after a failed fsync, as required), %" PRIu64
           " acknowledged records checked; %.1f s\n",
           p->name, dname, all, mut, allocs, io.runs + st.runs + al.runs + sh.runs, io.faults,
           st.faults, al.faults, io.failing_calls + st.failing_calls + al.failing_calls,
           io.failed_handles + st.failed_handles + al.failed_handles, io.fsync_checked,
           io.records + st.records + al.records + sh.records, (tu_mono_ms() - t0) / 1000.0);
    fflush(stdout);
    CHECK(io.faults >= io.runs); /* every planned fault fired */
    CHECK(al.faults >= planned);
}

static void small_os(void) {
    campaign(&P_SMALL, LSMLOG_DURABILITY_OS, "os");
}
static void small_sync(void) {
    campaign(&P_SMALL, LSMLOG_DURABILITY_SYNC, "sync");
}
static void small_buffered(void) {
    campaign(&P_SMALL, LSMLOG_DURABILITY_BUFFERED, "buffered");
}
static void big_os(void) {
    campaign(&P_BIG, LSMLOG_DURABILITY_OS, "os");
}
static void big_sync(void) {
    campaign(&P_BIG, LSMLOG_DURABILITY_SYNC, "sync");
}
static void big_buffered(void) {
    campaign(&P_BIG, LSMLOG_DURABILITY_BUFFERED, "buffered");
}

/* ---- regressions: one named case per bug the campaign found ------------- */

/* Appends records [m->n, m->n + n) one by one with values by offset. */
static void reg_append(lsmlog_log *log, const profile *p, uint64_t *end, size_t n) {
    static unsigned char buf[BIGV];
    for (size_t i = 0; i < n; i++) {
        size_t len = value_for(p, *end, buf);
        uint64_t off = 0;
        CHECK_OK(lsmlog_log_append(log, buf, len, ts_for(*end), &off));
        CHECK_EQ_U64(off, *end);
        (*end)++;
    }
}

/* Reopens with the real operations: open OK, [start, end) dense and right. */
static void reg_check(const char *dir, const profile *p, int durability, uint64_t start,
                      uint64_t end) {
    run r;
    memset(&r, 0, sizeof r);
    r.dir = dir;
    r.p = p;
    r.durability = durability;
    r.attempted_end = end;
    r.trunc_to = start;
    for (uint64_t i = start; i < end; i++)
        r.must[i] = 1;
    snprintf(r.what, sizeof r.what, "%s", tu_current_case);
    check_final(&r);
}

/* log_open.c/segment.c: running out of memory while scanning a segment at
 * open (the index grows) was reported as damage: LSMLOG_E_CORRUPT, or worse,
 * a "torn tail" cut off valid batches. Now LSMLOG_E_NOMEM, nothing cut. */
static void regress_open_nomem_is_not_corruption(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, 1u << 20);
    lsmlog_log *log;
    uint64_t end = 0;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    reg_append(log, &P_SMALL, &end, 2000); /* ~250 KB: the index outgrows its first 64 entries */
    CHECK_OK(lsmlog_log_close(log));
    fault_alloc_install();
    uint64_t n = 0, failures = 0;
    for (;; n++) {
        fault_alloc_fail_nth(n, 0);
        int rc = lsmlog_log_open(dir, &o, &log);
        if (rc == LSMLOG_OK) {
            lsmlog_log_close(log);
            if (fault_alloc_injected() == failures) break; /* n is past the open's allocations */
            failures = fault_alloc_injected();
            continue;
        }
        failures = fault_alloc_injected();
        CHECKF(rc == LSMLOG_E_NOMEM, "allocation %" PRIu64 " failed: open gave %d (%s): %s", n, rc,
               tu_status_name(rc), lsmlog_errmsg());
    }
    fault_alloc_uninstall();
    CHECK(n > 3);
    reg_check(dir, &P_SMALL, LSMLOG_DURABILITY_OS, 0, end);
    tu_rmtemp(dir);
}

/* log.c write_out: when the iovec for more than 8 pieces could not be
 * allocated, the group was left pending: the next append wrote the batch
 * whose caller had been told it failed, and got offsets past it. */
static void regress_write_nomem_leaves_nothing(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, 1u << 20);
    lsmlog_log *log;
    static unsigned char vals[10][BIGV];
    lsmlog_entry e[10];
    uint64_t end = 0, first = 0;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 10; i++) {
            e[i].len = value_for(&P_BIG, end + (uint64_t)i, vals[i]);
            e[i].data = vals[i];
            e[i].ts = ts_for(end + (uint64_t)i);
        }
        if (round == 1) { /* the only allocation left on the path: the iovec */
            fault_alloc_install();
            fault_alloc_fail_nth(0, 1);
            CHECK_EQ_INT(lsmlog_log_append_batch(log, e, 10, &first), LSMLOG_E_NOMEM);
            fault_alloc_uninstall();
            break;
        }
        CHECK_OK(lsmlog_log_append_batch(log, e, 10, &first)); /* grows the buffers */
        end += 10;
    }
    reg_append(log, &P_BIG, &end, 1); /* the offset the failed batch would have had */
    CHECK_OK(lsmlog_log_close(log));
    reg_check(dir, &P_BIG, LSMLOG_DURABILITY_OS, 0, end);
    tu_rmtemp(dir);
}

/* log.c roll: after a roll failed with the next segment's file left behind
 * (its header write failed, then its removal), smaller batches still went
 * into the old segment; a torn one there made the log unopenable
 * (LSMLOG_E_CORRUPT: damage before the last segment). Now nothing more goes
 * into a segment once its successor was tried. */
static void regress_failed_roll_leaves_old_segment_alone(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, 4096);
    lsmlog_log *log;
    uint64_t end = 0;
    unsigned char buf[300];
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    lsmlog_log_info info;
    for (;;) { /* fill the first segment to ~3.8 KB */
        CHECK_OK(lsmlog_log_stat(log, &info));
        if (info.bytes > 3800) break;
        reg_append(log, &P_SMALL, &end, 1);
    }
    fault_env_install();
    fault_partial_writes(1);
    memset(buf, 'x', sizeof buf);
    /* 300 bytes do not fit: a roll, whose header write and cleanup fail */
    fault_fail_nth(FAULT_MASK_WRITE | FAULT_MASK(FAULT_OP_UNLINK), 0, ENOSPC, 1);
    CHECK_EQ_INT(lsmlog_log_append(log, buf, sizeof buf, 1, NULL), LSMLOG_E_IO);
    /* 1 byte would fit in the old segment: its write tears, the cut fails */
    fault_fail_nth(FAULT_MASK_WRITE | FAULT_MASK(FAULT_OP_FTRUNCATE), 0, ENOSPC, 1);
    int rc = lsmlog_log_append(log, "y", 1, 1, NULL);
    CHECK(rc == LSMLOG_E_IO || rc == LSMLOG_E_FAILED);
    fault_env_uninstall();
    lsmlog_log_close(log);
    reg_check(dir, &P_SMALL, LSMLOG_DURABILITY_OS, 0, end);
    tu_rmtemp(dir);
}

/* log.c drop_front: when removing the first of several dropped segments
 * failed, the later ones were still removed, leaving a hole in the middle of
 * the log at the next open. Now it stops at the first failure. */
static void regress_truncate_failure_leaves_no_hole(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_SYNC, 4096);
    lsmlog_log *log;
    uint64_t end = 0;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    lsmlog_log_info info;
    for (;;) {
        CHECK_OK(lsmlog_log_stat(log, &info));
        if (info.segments >= 5) break;
        reg_append(log, &P_SMALL, &end, 1);
    }
    fault_env_install();
    fault_fail_nth(FAULT_MASK(FAULT_OP_UNLINK), 0, EIO, 0);
    CHECK_EQ_INT(lsmlog_log_truncate_before(log, end), LSMLOG_E_IO); /* drops four */
    fault_env_uninstall();
    CHECK_OK(lsmlog_log_close(log));
    reg_check(dir, &P_SMALL, LSMLOG_DURABILITY_SYNC, 0, end); /* start 0: nothing went */
    tu_rmtemp(dir);
}

int main(void) {
    tu_init("test_log_fault_campaign");
    TU_CASE(regress_open_nomem_is_not_corruption);
    TU_CASE(regress_write_nomem_leaves_nothing);
    TU_CASE(regress_failed_roll_leaves_old_segment_alone);
    TU_CASE(regress_truncate_failure_leaves_no_hole);
    TU_CASE(small_os);
    TU_CASE(small_sync);
    TU_CASE(small_buffered);
    TU_CASE(big_os);
    TU_CASE(big_sync);
    TU_CASE(big_buffered);
    return tu_finish();
}
