/* test_db_fault_campaign.c — SQLite-style fault simulation for the DB: a
 * scripted workload is run again and again, failing a different operation
 * each time, through tests/c/fault_env (fault_env.h), as
 * test_log_fault_campaign.c does for the Log:
 *
 *  - every file operation in turn (open, pread, pwrite, pwritev, fdatasync,
 *    fsync, ftruncate, fstat, stat, rename, unlink, mkdir, rmdir, flock,
 *    mmap), once, with EIO (FAULT_FULL=1: also with ENOSPC, a failing write
 *    first writing part of its bytes);
 *  - every changing file operation in turn, from then on ("sticky"), with
 *    ENOSPC and partial writes (FAULT_FULL=1: also EIO with short writes);
 *  - every allocation in turn, once (in sync durability, whose allocations
 *    are those of os, every 8th from a random start), and from then on for
 *    every 4th (32nd in sync; all of them, both ways, with FAULT_FULL=1);
 *  - no failure but every write short (the caller must loop).
 * Then one named regression case per bug this campaign found in the core.
 *
 * The workload: open with a 4 KiB memtable (so that background flushes run
 * every few dozen writes and level 0 reaches its compaction trigger) and a
 * small level shape (db_set_shape: level 1 holds 8 KiB, compactions cut
 * 4 KiB tables, so level 1 compacts into level 2 too), puts,
 * deletes, atomic batches, puts with a TTL (a short one that the test's
 * clock then expires, and long ones), gets, forward and backward iterators,
 * flush_memtable, a full manual compaction, a sync, close, reopen (WAL
 * replay, a new manifest), more writes, a range compaction, close.
 * Durabilities os and sync. After every call the test waits until the
 * background thread has nothing left to do (through db_internal.h), so that
 * the operations come in the same order run after run (except inside a
 * write that starts a flush, where the flush and the write's own WAL append
 * run side by side). No power is lost here, so the fault layer journals
 * nothing (fault_no_journal). FAULT_RUNS_MAX=n stops each loop after n runs
 * (triage). FAULT_STRIDE=k (fault_env.h) tries only every k-th point of each
 * sweep (file operations, changing operations, allocations: there k times
 * the steps above, so sticky at every 4th point tried), from a start below
 * the step drawn from the seed, so that the whole workload is still covered:
 * for slow runs (valgrind memcheck in scripts/test.sh). The regression
 * cases run whole.
 *
 * What each run checks:
 *  - a call fails only with LSMLOG_E_IO, LSMLOG_E_NOMEM or LSMLOG_E_FAILED,
 *    and with a message; never a crash (the ASan build also catches leaks
 *    and bad accesses on every error path); nothing fails before the fault
 *    fires;
 *  - with a single fault: a read (get, iterator) fails only if the fault
 *    fired during it; an open fails only if the fault fired during it (a
 *    reopen after any fault recovers); a write fails only if the fault fired
 *    during it, or because of the background error an earlier fault left
 *    (its message says the DB "takes no more writes"), which then sticks:
 *    every later write of the handle fails too;
 *  - a failed fdatasync of the WAL fails the call it happened in, and the
 *    next put/delete/write/sync gets LSMLOG_E_FAILED; a failed fsync of a
 *    table or of the manifest leaves a handle that refuses every later write
 *    (docs/db.md: errors are sticky); E_FAILED never comes without a fault
 *    that can fail a handle;
 *  - every value read during the run is one of the states the model allows
 *    for its key: the last acknowledged write, or a write whose call failed
 *    (it may have reached the WAL); a failed write seen once stays;
 *  - afterwards, reopened with the real operations (fsyncs skipped, nothing
 *    failed): open succeeds, every key holds its last acknowledged value (or
 *    the value of a later write that failed), every batch of a failed call
 *    is there wholly or not at all, gets agree with a forward and a backward
 *    scan, a full compaction reads every table without error and changes
 *    nothing, and the DB takes a write.
 * Values are a pure function of (key, version), with the version in the
 * value, so whichever attempt landed is recognised. */
#include "fault_env.h"
#include "test_util.h"
#include "db_test_util.h"

#include "db_internal.h"
#include "env.h"

#include <pthread.h>
#include <stdatomic.h>

#define NKEYS 64
#define MAXV 3200
#define MAXMAYBE 40
#define MAXBATCH 6
#define MAXFB 512
#define MEMTABLE 4096
#define L1_BYTES (8u << 10) /* db_set_shape: level 1 holds 8 KiB, tables of 4 KiB */
#define TABLE_BYTES (4u << 10)
#define TTL_SHORT 1000                      /* expired by the test's clock */
#define TTL_LONG (24LL * 3600 * 1000)       /* never within a run */
#define TTL_BATCH (30LL * 24 * 3600 * 1000) /* batches: measured on the wall clock */

/* ---- keys, values, the clock --------------------------------------------- */

/* The value of version `ver` of key `key`: 16 to ~3000 bytes, beginning with
 * the version and the key, the rest from a hash of both. */
static size_t value_for(int key, uint64_t ver, unsigned char *buf) {
    uint64_t st = tu_hash2(tu_seed ^ 0xDBFA017ull, ver * 131 + (uint64_t)key);
    uint64_t h = tu_splitmix64(&st);
    /* every 13th version large (the same share whatever the seed) */
    size_t len = 16 + (ver % 13 == 7 ? 1500 + (size_t)(h >> 8) % 1500 : (size_t)(h >> 8) % 200);
    tu_fill_random(&st, buf, len);
    tu_put_u64(buf, ver);
    tu_put_u32(buf + 8, (uint32_t)key);
    return len;
}

/* The test's clock, ten days ahead of the wall clock: the wall clock (which
 * the DB uses before the test sets its own, and for batches' TTLs) never
 * expires anything the test expects to see. */
static _Atomic int64_t fake_now;

static int64_t fake_clock(void *ctx) {
    (void)ctx;
    return atomic_load(&fake_now);
}

/* ---- the model ----------------------------------------------------------- */

enum { S_NONE, S_PUT, S_TTL, S_DEL }; /* S_NONE: never written */

typedef struct kstate {
    uint64_t ver;
    int type;
    int64_t expiry; /* S_TTL */
} kstate;

typedef struct kmodel {
    kstate acked;           /* the last acknowledged write */
    kstate maybe[MAXMAYBE]; /* later writes whose calls failed: each may be there */
    int nmaybe;
    int overflow;      /* too many to track: any right value of the key goes */
    uint64_t last_ver; /* the newest write tried */
} kmodel;

typedef struct fbatch { /* a batch whose call failed: all of it or none */
    int n;
    int key[MAXBATCH];
    kstate st[MAXBATCH];
} fbatch;

/* What a read shows: absent (0) or the version of the value. */
static uint64_t visible(const kstate *s, int64_t now) {
    if (s->type == S_PUT || (s->type == S_TTL && s->expiry > now)) return s->ver;
    return 0;
}

/* ---- one run ------------------------------------------------------------ */

enum { F_NONE, F_IO, F_ALLOC };
enum { C_READ, C_WRITE, C_SYNC, C_BGWRITE, C_OPEN, C_CLOSE };

typedef struct run {
    const char *dir;
    int durability;
    int kind;   /* F_* */
    int sticky; /* the fault stays */
    lsmlog_db *db;
    uint64_t inj_at_open; /* faults injected when the handle was opened */
    uint64_t ver;         /* the next version */
    kmodel keys[NKEYS];
    fbatch fb[MAXFB];
    int nfb;
    int may_fail_handle; /* a fault that may fail a handle has fired */
    int expect_failed;   /* the WAL's fsync failed: the next put/delete/write/sync gets E_FAILED */
    int must_refuse;     /* the handle refuses every write from now on */
    int refusals;        /* writes refused by this handle for an earlier failure */
    int error_calls, failed_calls, fsync_checked, refuse_checked, reopens, scans;
    uint64_t acked, checked_keys;
    char what[200];
} run;

static uint64_t injected_now(const run *r) {
    return r->kind == F_ALLOC ? fault_alloc_injected() : r->kind == F_IO ? fault_injected() : 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static const char *fault_desc(const run *r) {
    static char buf[700];
    if (r->kind == F_IO && fault_failed_op() >= 0)
        snprintf(buf, sizeof buf, "%s on %s", fault_op_name((fault_op)fault_failed_op()),
                 fault_failed_path());
    else if (r->kind == F_ALLOC)
        snprintf(buf, sizeof buf, "allocation failure");
    else
        snprintf(buf, sizeof buf, "no fault yet");
    return buf;
}

/* The failed operation was an fsync of this kind of file. */
static int failed_sync_of(const char *what) {
    int op = fault_failed_op();
    if (op != FAULT_OP_FDATASYNC && op != FAULT_OP_FSYNC) return 0;
    const char *p = fault_failed_path();
    if (!strcmp(what, "wal")) return strstr(p, "/wal/") != NULL && ends_with(p, ".log");
    if (!strcmp(what, "table")) return ends_with(p, ".sst");
    if (!strcmp(what, "manifest")) return strstr(p, "/manifest-") != NULL && ends_with(p, ".log");
    return 0;
}

/* Judges the result of one call. Returns 1 if it succeeded. */
static int judge(run *r, const char *call, int rc, uint64_t inj_before, int cls) {
    uint64_t inj = injected_now(r);
    int fired_now = inj > inj_before, fired_any = inj > 0;
    int op = r->kind == F_IO ? fault_failed_op() : -1;
    int sync_op = op == FAULT_OP_FDATASYNC || op == FAULT_OP_FSYNC;
    int is_write = cls == C_WRITE || cls == C_SYNC || cls == C_BGWRITE;
    int refusable =
        cls == C_WRITE || cls == C_BGWRITE; /* a sync may still succeed after a flush failed */
    if (fired_any && (sync_op || op == FAULT_OP_FTRUNCATE || r->sticky)) r->may_fail_handle = 1;
    /* a table's or the manifest's fsync failed while this handle was open:
     * its flush or compaction failed, and the handle takes no more writes */
    int bg_sync =
        r->kind == F_IO && r->db && (failed_sync_of("table") || failed_sync_of("manifest"));
    if (bg_sync && inj_before > r->inj_at_open) r->must_refuse = 1; /* it fired before this call */
    if (r->expect_failed && (cls == C_WRITE || cls == C_SYNC)) {
        CHECKF(rc == LSMLOG_E_FAILED,
               "%s: %s after a failed fsync of the WAL gave %d (%s), not E_FAILED", r->what, call,
               rc, tu_status_name(rc));
        r->expect_failed = 0;
        r->fsync_checked++;
    }
    int refuse_before = r->must_refuse;
    if (bg_sync && inj > r->inj_at_open) r->must_refuse = 1; /* for the calls after this one */
    if (rc == LSMLOG_OK) {
        CHECKF(!(fired_now && (cls == C_WRITE || cls == C_SYNC) && r->kind == F_IO && !r->sticky &&
                 failed_sync_of("wal")),
               "%s: %s succeeded although the WAL's fsync failed during it (%s)", r->what, call,
               fault_desc(r));
        CHECKF(!(refusable && refuse_before),
               "%s: %s succeeded on a handle that should refuse writes after %s", r->what, call,
               fault_desc(r));
        return 1;
    }
    if (refusable && refuse_before) r->refuse_checked++;
    CHECKF(rc == LSMLOG_E_IO || rc == LSMLOG_E_NOMEM || rc == LSMLOG_E_FAILED,
           "%s: %s failed with %d (%s) [the fault: %s]: %s", r->what, call, rc, tu_status_name(rc),
           fault_desc(r), lsmlog_errmsg());
    CHECKF(lsmlog_errmsg()[0] != '\0', "%s: %s failed without a message", r->what, call);
    CHECKF(fired_any, "%s: %s failed (%s) before any fault fired: %s", r->what, call,
           tu_status_name(rc), lsmlog_errmsg());
    if (rc == LSMLOG_E_FAILED) {
        CHECKF(r->may_fail_handle, "%s: %s: E_FAILED, but no fault could fail a handle (%s): %s",
               r->what, call, fault_desc(r), lsmlog_errmsg());
        r->failed_calls++;
    } else {
        r->error_calls++;
    }
    if (!r->sticky && !fired_now) {
        /* a single fault that is over: only a write may still fail, refused
         * for the earlier failure */
        CHECKF(is_write, "%s: %s failed with %s after the single fault (%s) was over: %s", r->what,
               call, tu_status_name(rc), fault_desc(r), lsmlog_errmsg());
        CHECKF(strstr(lsmlog_errmsg(), "no more writes") != NULL,
               "%s: %s failed after the single fault (%s) was over, not as a refusal: %s", r->what,
               call, fault_desc(r), lsmlog_errmsg());
    }
    if (is_write && !fired_now && strstr(lsmlog_errmsg(), "no more writes")) {
        r->must_refuse = 1; /* refusals stick */
        r->refusals++;
    }
    if (!r->sticky && fired_now && r->kind == F_IO && failed_sync_of("wal") && r->db)
        r->expect_failed = 1;
    return 0;
}

/* rc = expr, judged (the fault counter is read before the call). */
#define CALL(r, name, cls, rc, expr)                                                               \
    do {                                                                                           \
        uint64_t inj_ = injected_now(r);                                                           \
        (rc) = (expr);                                                                             \
        judge((r), (name), (rc), inj_, (cls));                                                     \
    } while (0)

static lsmlog_options run_opts(int durability) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.durability = durability;
    o.memtable_bytes = MEMTABLE;
    o.cache_bytes = 32 << 10;
    return o;
}

static void forget_handle(run *r) {
    r->db = NULL;
    r->expect_failed = 0;
    r->must_refuse = 0;
    r->refusals = 0;
}

/* Opens the handle if there is none; 1 if there is one. */
static int ensure_open(run *r) {
    if (r->db) return 1;
    lsmlog_options o = run_opts(r->durability);
    lsmlog_db *db = NULL;
    int rc;
    CALL(r, "open", C_OPEN, rc, lsmlog_db_open(r->dir, &o, &db));
    if (rc != LSMLOG_OK) return 0;
    db_set_shape(db, L1_BYTES, TABLE_BYTES);
    r->db = db;
    r->inj_at_open = injected_now(r);
    r->reopens++;
    dbt_wait_idle(db);
    return 1;
}

static void do_close(run *r) {
    if (!r->db) return;
    int rc;
    lsmlog_db *db = r->db;
    forget_handle(r); /* freed by the close, even when it fails */
    CALL(r, "close", C_CLOSE, rc, lsmlog_db_close(db));
}

/* A handle that refused a second write: close it, as a user would. */
static void after_refusal(run *r) {
    if (r->db && r->refusals >= 2) {
        lsmlog_db_close(r->db);
        forget_handle(r);
    }
}

static void settle(run *r) {
    if (r->db) dbt_wait_idle(r->db);
    after_refusal(r);
}

/* The model after a write of (key, state) pairs. */
static void model_write(run *r, int n, const int *keys, const kstate *st, int ok) {
    if (!ok && n > 1 && r->nfb < MAXFB) {
        fbatch *b = &r->fb[r->nfb++];
        b->n = n;
        for (int i = 0; i < n; i++) {
            b->key[i] = keys[i];
            b->st[i] = st[i];
        }
    }
    for (int i = 0; i < n; i++) {
        kmodel *k = &r->keys[keys[i]];
        if (st[i].ver > k->last_ver) k->last_ver = st[i].ver;
        if (ok) {
            k->acked = st[i];
            k->nmaybe = 0;
            k->overflow = 0;
            r->acked++;
        } else if (k->nmaybe < MAXMAYBE) {
            k->maybe[k->nmaybe++] = st[i];
        } else {
            k->overflow = 1;
        }
    }
}

/* Checks one observation of key `key` (0: absent, else the version read):
 * it must be a state the model allows. A failed write seen becomes the
 * acknowledged state (it is in the DB now, and must stay). */
static void model_observe(run *r, int key, uint64_t ver) {
    kmodel *k = &r->keys[key];
    int64_t now = atomic_load(&fake_now);
    r->checked_keys++;
    if (visible(&k->acked, now) == ver) return;
    for (int i = k->nmaybe - 1; i >= 0; i--) {
        if (visible(&k->maybe[i], now) != ver) continue;
        if (ver) { /* seen: from now on the baseline */
            k->acked = k->maybe[i];
            memmove(&k->maybe[0], &k->maybe[i + 1],
                    (size_t)(k->nmaybe - i - 1) * sizeof k->maybe[0]);
            k->nmaybe -= i + 1;
        }
        return;
    }
    if (k->overflow && ver < r->ver) return;
    char kb[16];
    dbt_key_of(key, kb);
    CHECKF(0,
           "%s: key \"%s\" shows %s%" PRIu64 "; acknowledged: version %" PRIu64
           " (type %d), %d failed writes after it",
           r->what, kb, ver ? "version " : "nothing ", ver, k->acked.ver, k->acked.type, k->nmaybe);
}

/* Decodes and checks a value read for key `key`; returns its version. */
static uint64_t check_value(const run *r, int key, const void *v, size_t len) {
    static unsigned char want[MAXV];
    char kb[16];
    dbt_key_of(key, kb);
    CHECKF(len >= 16, "%s: key \"%s\": a value of %zu bytes, not one the test wrote", r->what, kb,
           len);
    uint64_t ver = tu_get_u64(v);
    CHECKF(ver > 0 && ver < r->ver && tu_get_u32((const unsigned char *)v + 8) == (uint32_t)key,
           "%s: key \"%s\": a value of another key or of no write (version %" PRIu64 ")", r->what,
           kb, ver);
    size_t wl = value_for(key, ver, want);
    CHECKF(wl == len && memcmp(want, v, len) == 0,
           "%s: key \"%s\": version %" PRIu64 " read back wrong", r->what, kb, ver);
    return ver;
}

/* Batches of failed calls: all or nothing, judged on the keys whose state
 * tells: in if a put of the batch shows, out if a key the batch put and
 * nothing wrote since shows something else. */
static void check_batches(const run *r, const uint64_t *seen) {
    int64_t now = atomic_load(&fake_now);
    for (int b = 0; b < r->nfb; b++) {
        const fbatch *f = &r->fb[b];
        int in = 0, out = 0;
        for (int i = 0; i < f->n; i++) {
            uint64_t v = visible(&f->st[i], now);
            if (!v) continue; /* a delete or an expired put: cannot tell */
            if (seen[f->key[i]] == v)
                in++;
            else if (r->keys[f->key[i]].last_ver == f->st[i].ver)
                out++;
        }
        if (in && out) {
            for (int i = 0; i < f->n; i++)
                fprintf(stderr, "  batch key %d: type %d version %" PRIu64 ", seen %" PRIu64 "\n",
                        f->key[i], f->st[i].type, f->st[i].ver, seen[f->key[i]]);
        }
        CHECKF(!(in && out),
               "%s: a failed batch is there in part: %d of its puts present, %d absent [%s]",
               r->what, in, out, fault_desc(r));
    }
}

/* ---- the workload's steps ------------------------------------------------ */

/* One write: kind 0 put, 1 delete, 2 put with a short TTL, 3 with a long one. */
static void w_one(run *r, int key, int kind) {
    if (!ensure_open(r)) return;
    static unsigned char val[MAXV];
    char kb[16];
    size_t kl = dbt_key_of(key, kb);
    kstate st = {r->ver++, S_PUT, 0};
    size_t vl = value_for(key, st.ver, val);
    int rc;
    if (kind == 1) {
        st.type = S_DEL;
        CALL(r, "delete", C_WRITE, rc, lsmlog_db_delete(r->db, kb, kl));
    } else if (kind == 0) {
        CALL(r, "put", C_WRITE, rc, lsmlog_db_put(r->db, kb, kl, val, vl));
    } else {
        int64_t ttl = kind == 2 ? TTL_SHORT : TTL_LONG;
        st.type = S_TTL;
        st.expiry = atomic_load(&fake_now) + ttl;
        CALL(r, "put_ttl", C_WRITE, rc, lsmlog_db_put_ttl(r->db, kb, kl, val, vl, ttl));
    }
    model_write(r, 1, &key, &st, rc == LSMLOG_OK);
    settle(r);
}

/* An atomic batch of n writes to distinct keys from `first` by `stride`. */
static void w_batch(run *r, int n, int first, int stride) {
    if (!ensure_open(r)) return;
    static unsigned char val[MAXV];
    int keys[MAXBATCH];
    kstate st[MAXBATCH];
    lsmlog_batch *b = NULL;
    int rc;
    CALL(r, "batch_new", C_READ, rc, lsmlog_batch_new(&b));
    if (rc) return;
    for (int i = 0; i < n; i++) {
        char kb[16];
        keys[i] = (first + i * stride) % NKEYS;
        size_t kl = dbt_key_of(keys[i], kb);
        st[i] = (kstate){r->ver++, S_PUT, 0};
        size_t vl = value_for(keys[i], st[i].ver, val);
        int which = (int)(tu_hash2(tu_seed, st[i].ver) % 5);
        if (which == 0) {
            st[i].type = S_DEL;
            CALL(r, "batch_delete", C_READ, rc, lsmlog_batch_delete(b, kb, kl));
        } else if (which == 1) {
            st[i].type = S_TTL;
            st[i].expiry = INT64_MAX; /* a batch's TTL runs on the wall clock: 30 days */
            CALL(r, "batch_put_ttl", C_READ, rc,
                 lsmlog_batch_put_ttl(b, kb, kl, val, vl, TTL_BATCH));
        } else {
            CALL(r, "batch_put", C_READ, rc, lsmlog_batch_put(b, kb, kl, val, vl));
        }
        if (rc) { /* out of memory building it: nothing was written */
            lsmlog_batch_free(b);
            return;
        }
    }
    CALL(r, "write", C_WRITE, rc, lsmlog_db_write(r->db, b));
    lsmlog_batch_free(b);
    model_write(r, n, keys, st, rc == LSMLOG_OK);
    settle(r);
}

static void w_get(run *r, int key) {
    if (!ensure_open(r)) return;
    char kb[16];
    size_t kl = dbt_key_of(key, kb);
    void *v = NULL;
    size_t len = 0;
    uint64_t inj = injected_now(r);
    int rc = lsmlog_db_get(r->db, NULL, kb, kl, &v, &len);
    if (rc == LSMLOG_NOTFOUND) {
        model_observe(r, key, 0);
    } else if (judge(r, "get", rc, inj, C_READ)) {
        model_observe(r, key, check_value(r, key, v, len));
        lsmlog_free(v);
    }
    settle(r);
}

/* Iterates over every key (forward, or backward from the last); with a
 * complete pass, checks every key against the model and the failed batches. */
static int scan(run *r, lsmlog_db *db, int reverse, uint64_t *seen, int judged) {
    lsmlog_db_iter *it = NULL;
    int rc;
    uint64_t inj = injected_now(r);
    rc = lsmlog_db_iter_open(db, NULL, &it);
    if (judged ? !judge(r, "iter_open", rc, inj, C_READ) : rc != LSMLOG_OK) {
        CHECKF(judged, "%s: iter_open: %d (%s): %s", r->what, rc, tu_status_name(rc),
               lsmlog_errmsg());
        return 0;
    }
    memset(seen, 0, NKEYS * sizeof *seen);
    int prev = reverse ? NKEYS : -1, ok = 1;
    inj = injected_now(r);
    rc = reverse ? lsmlog_db_iter_last(it) : lsmlog_db_iter_first(it);
    for (;;) {
        if (rc != LSMLOG_OK) {
            CHECKF(judged, "%s: iterating: %d (%s): %s", r->what, rc, tu_status_name(rc),
                   lsmlog_errmsg());
            judge(r, "iter_step", rc, inj, C_READ);
            ok = 0;
            break;
        }
        if (!lsmlog_db_iter_valid(it)) break;
        size_t kl, vl;
        const void *k = lsmlog_db_iter_key(it, &kl), *v = lsmlog_db_iter_value(it, &vl);
        int i = dbt_key_index(k, kl, NKEYS);
        CHECKF(i >= 0, "%s: the iterator shows a key the test never wrote (%zu bytes)", r->what,
               kl);
        CHECKF(reverse ? i < prev : i > prev, "%s: the iterator goes out of order (%d after %d)",
               r->what, i, prev);
        prev = i;
        seen[i] = check_value(r, i, v, vl);
        inj = injected_now(r);
        rc = reverse ? lsmlog_db_iter_prev(it) : lsmlog_db_iter_next(it);
    }
    lsmlog_db_iter_close(it);
    if (!ok) return 0;
    r->scans++;
    for (int i = 0; i < NKEYS; i++)
        model_observe(r, i, seen[i]);
    check_batches(r, seen);
    return 1;
}

static void w_scan(run *r, int reverse) {
    if (!ensure_open(r)) return;
    uint64_t seen[NKEYS];
    scan(r, r->db, reverse, seen, 1);
    settle(r);
}

static void w_flush_memtable(run *r) {
    if (!ensure_open(r)) return;
    int rc;
    CALL(r, "flush_memtable", C_BGWRITE, rc, lsmlog_db_flush_memtable(r->db));
    settle(r);
}

/* Compacts [k<lo>, k<hi>) (-1: unbounded). */
static void w_compact(run *r, int lo, int hi) {
    if (!ensure_open(r)) return;
    char a[16], b[16];
    size_t al = lo >= 0 ? dbt_key_of(lo, a) : 0, bl = hi >= 0 ? dbt_key_of(hi, b) : 0;
    int rc;
    CALL(r, "compact", C_BGWRITE, rc,
         lsmlog_db_compact(r->db, lo >= 0 ? a : NULL, al, hi >= 0 ? b : NULL, bl, NULL, NULL));
    settle(r);
}

static void w_sync(run *r) {
    if (!ensure_open(r)) return;
    int rc;
    CALL(r, "sync", C_SYNC, rc, lsmlog_db_sync(r->db));
    settle(r);
}

/* Step i of the writes: mostly single writes, every fifth a batch (which
 * kind is fixed by i, so that every seed writes about as much; the keys
 * come from the seed). */
static void w_step(run *r, int i) {
    uint64_t h = tu_hash2(tu_seed ^ 0x57E9, (uint64_t)i);
    int key = (int)(h % NKEYS), what = (int)((uint64_t)i * 7 % 10);
    if (what < 5)
        w_one(r, key, 0);
    else if (what == 5)
        w_one(r, key, 1);
    else if (what == 6)
        w_one(r, key, 2);
    else if (what == 7)
        w_one(r, key, 3);
    else
        w_batch(r, 2 + i % (MAXBATCH - 1), key, 1 + (int)((h >> 32) % 7));
}

static void workload(run *r) {
    int i = 0;
    for (; i < 20; i++)
        w_step(r, i); /* background flushes */
    w_get(r, 1);
    w_get(r, 0);
    w_flush_memtable(r);
    for (; i < 40; i++)
        w_step(r, i); /* level 0 reaches 4 tables: a background compaction */
    w_scan(r, 1);
    /* the memtable flushed first, and the background's own compaction let
     * run: else it races the manual one, and the operations vary */
    w_flush_memtable(r);
    w_compact(r, -1, -1);
    atomic_fetch_add(&fake_now, 5000); /* the short TTLs expire */
    for (int k = 2; k < 5; k++)
        w_get(r, (int)(tu_hash2(tu_seed, (uint64_t)k) % NKEYS));
    w_sync(r);
    do_close(r);
    for (; i < 52; i++)
        w_step(r, i); /* reopens */
    w_flush_memtable(r);
    w_compact(r, 20, 45);
    w_scan(r, 0);
    do_close(r);
}

/* ---- after the run ------------------------------------------------------- */

static void final_open(run *r, lsmlog_db **db) {
    lsmlog_options o = run_opts(r->durability);
    int rc = lsmlog_db_open(r->dir, &o, db);
    CHECKF(rc == LSMLOG_OK, "%s: reopen after the run (%s): %d (%s): %s", r->what, fault_desc(r),
           rc, tu_status_name(rc), lsmlog_errmsg());
    db_set_shape(*db, L1_BYTES, TABLE_BYTES);
    dbt_wait_idle(*db);
    CHECKF((*db)->bg_error == 0, "%s: after the reopen the background failed: %s", r->what,
           (*db)->bg_msg);
}

/* Reopens with the real operations (fsyncs skipped: no power is lost) and
 * checks everything. */
static void check_final(run *r) {
    fault_env_install();
    fault_skip_real_sync(1);
    fault_no_journal(); /* no power is lost here: nothing to undo */
    r->kind = F_NONE;
    lsmlog_db *db = NULL;
    final_open(r, &db);
    uint64_t fwd[NKEYS], back[NKEYS], after[NKEYS];
    CHECK(scan(r, db, 0, fwd, 0));
    CHECK(scan(r, db, 1, back, 0));
    for (int i = 0; i < NKEYS; i++) {
        char kb[16];
        size_t kl = dbt_key_of(i, kb);
        void *v = NULL;
        size_t len = 0;
        int rc = lsmlog_db_get(db, NULL, kb, kl, &v, &len);
        CHECKF(rc == LSMLOG_OK || rc == LSMLOG_NOTFOUND, "%s: get \"%s\": %d (%s): %s", r->what, kb,
               rc, tu_status_name(rc), lsmlog_errmsg());
        uint64_t got = rc == LSMLOG_OK ? check_value(r, i, v, len) : 0;
        lsmlog_free(v);
        CHECKF(got == fwd[i] && got == back[i],
               "%s: key \"%s\": get shows %" PRIu64 ", the scans %" PRIu64 " and %" PRIu64, r->what,
               kb, got, fwd[i], back[i]);
    }
    /* every table read through, and nothing changes */
    int rc = lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL);
    CHECKF(rc == LSMLOG_OK, "%s: a full compaction after the reopen: %d (%s): %s", r->what, rc,
           tu_status_name(rc), lsmlog_errmsg());
    CHECK(scan(r, db, 0, after, 0));
    CHECK(memcmp(after, fwd, sizeof after) == 0);
    /* the DB takes a write, and keeps it */
    static unsigned char val[MAXV];
    int key = 7;
    kstate st = {r->ver++, S_PUT, 0};
    char kb[16];
    size_t kl = dbt_key_of(key, kb);
    size_t vl = value_for(key, st.ver, val);
    CHECK_OK(lsmlog_db_put(db, kb, kl, val, vl));
    model_write(r, 1, &key, &st, 1);
    void *v = NULL;
    size_t len = 0;
    CHECK_OK(lsmlog_db_get(db, NULL, kb, kl, &v, &len));
    CHECK_EQ_U64(check_value(r, key, v, len), st.ver);
    lsmlog_free(v);
    CHECK_OK(lsmlog_db_close(db));
    fault_env_uninstall();
}

typedef struct totals {
    uint64_t runs, faults, failing_calls, failed_handles, reopens, acked, checked, fsync_checked,
        refuse_checked, scans;
} totals;

static void run_one(int durability, int kind, uint64_t nth, int sticky, int err, int partial,
                    int shorts, totals *t) {
    const char *lim = getenv("FAULT_RUNS_MAX"); /* triage: stop each loop early */
    if (lim && t->runs >= strtoull(lim, NULL, 10)) return;
    static run r;
    memset(&r, 0, sizeof r);
    const char *root = tu_mkdtemp();
    char dir[400];
    snprintf(dir, sizeof dir, "%s/db", root);
    r.dir = dir;
    r.durability = durability;
    r.kind = kind;
    r.sticky = sticky;
    r.ver = 1;
    snprintf(r.what, sizeof r.what, "%s: %s %s #%" PRIu64 "%s",
             durability == LSMLOG_DURABILITY_SYNC ? "sync" : "os", sticky ? "sticky" : "single",
             kind == F_IO      ? (err == EIO ? "EIO" : "ENOSPC")
             : kind == F_ALLOC ? "allocation failure"
                               : "no fault",
             nth, shorts ? " (short writes)" : "");
    atomic_store(&fake_now, tu_now_ms() + 10LL * 24 * 3600 * 1000);
    fault_env_install();
    fault_skip_real_sync(1);
    fault_no_journal(); /* no power is lost here: nothing to undo */
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
    workload(&r);
    if (r.db) { /* a sticky fault can leave it open: close as a user would */
        lsmlog_db_close(r.db);
        forget_handle(&r);
    }
    uint64_t inj = injected_now(&r);
    if (kind == F_ALLOC) fault_alloc_uninstall();
    char desc[700];
    snprintf(desc, sizeof desc, "%s", fault_desc(&r));
    fault_env_uninstall();
    snprintf(r.what + strlen(r.what), sizeof r.what - strlen(r.what), " [%.120s]", desc);
    check_final(&r);
    t->runs++;
    t->faults += inj;
    t->failing_calls += (uint64_t)(r.error_calls + r.failed_calls);
    t->failed_handles += r.failed_calls > 0;
    t->reopens += (uint64_t)r.reopens;
    t->fsync_checked += (uint64_t)r.fsync_checked;
    t->refuse_checked += (uint64_t)r.refuse_checked;
    t->acked += r.acked;
    t->checked += r.checked_keys;
    t->scans += (uint64_t)r.scans;
    tu_rmtemp(root);
}

/* The number of operations (all, changing) and allocations of a fault-free run. */
static void count_ops(int durability, uint64_t *all, uint64_t *mut, uint64_t *allocs) {
    static run r;
    memset(&r, 0, sizeof r);
    const char *root = tu_mkdtemp();
    char dir[400];
    snprintf(dir, sizeof dir, "%s/db", root);
    r.dir = dir;
    r.durability = durability;
    r.ver = 1;
    snprintf(r.what, sizeof r.what, "dry run");
    atomic_store(&fake_now, tu_now_ms() + 10LL * 24 * 3600 * 1000);
    fault_env_install();
    fault_skip_real_sync(1);
    fault_no_journal(); /* no power is lost here: nothing to undo */
    fault_alloc_install();
    workload(&r);
    CHECKF(r.error_calls == 0 && r.failed_calls == 0, "the fault-free run failed");
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

static void campaign(int durability, const char *dname) {
    uint64_t all, mut, allocs;
    count_ops(durability, &all, &mut, &allocs);
    double t0 = tu_mono_ms();
    totals io = {0}, st = {0}, al = {0}, sh = {0};
    /* allocations: every one in os; in sync (the same allocations, only the
     * fsyncs differ) every 8th from a random start; sticky every 4th / 32nd.
     * FAULT_STRIDE=k: every k-th point of each sweep (k times the steps of
     * the allocations), from a random start */
    uint64_t k = fault_stride();
    uint64_t astep = (fault_full() ? 1 : durability == LSMLOG_DURABILITY_SYNC ? 8 : 1) * k;
    uint64_t sstep = fault_full() ? 1 : astep * 4, a0 = astep > 1 ? tu_rand_below(astep) : 0;
    for (uint64_t n = first_point(k); n < all; n += k) {
        run_one(durability, F_IO, n, 0, EIO, 0, 0, &io);
        if (fault_full()) run_one(durability, F_IO, n, 0, ENOSPC, 1, 0, &io);
    }
    for (uint64_t n = first_point(k); n < mut; n += k) {
        run_one(durability, F_IO, n, 1, ENOSPC, 1, 0, &st);
        if (fault_full()) run_one(durability, F_IO, n, 1, EIO, 0, 1, &st);
    }
    uint64_t planned = 0;
    for (uint64_t n = a0; n < allocs; n += astep) {
        run_one(durability, F_ALLOC, n, 0, 0, 0, 0, &al);
        planned++;
        if ((n - a0) % sstep == 0) run_one(durability, F_ALLOC, n, 1, 0, 0, 0, &al);
    }
    for (int i = 0; i < (fault_full() ? 10 : 2); i++)
        run_one(durability, F_NONE, 0, 0, 0, 0, 1, &sh);
    if (k > 1)
        printf("%s: FAULT_STRIDE=%" PRIu64 ": one point in %" PRIu64 " of each sweep\n", dname, k,
               k);
    printf("%s: %" PRIu64 " file ops (%" PRIu64 " changing), %" PRIu64 " allocations per run; "
           "%" PRIu64 " runs; faults injected: %" PRIu64 " I/O single, %" PRIu64
           " I/O sticky, %" PRIu64 " allocation; %" PRIu64 " calls failed, %" PRIu64
           " runs saw E_FAILED (%" PRIu64 " after a failed WAL fsync, as required), %" PRIu64
           " writes refused as required, %" PRIu64 " acknowledged writes, %" PRIu64
           " key states checked in %" PRIu64 " full scans; %.1f s\n",
           dname, all, mut, allocs, io.runs + st.runs + al.runs + sh.runs, io.faults, st.faults,
           al.faults, io.failing_calls + st.failing_calls + al.failing_calls,
           io.failed_handles + st.failed_handles + al.failed_handles,
           io.fsync_checked + st.fsync_checked,
           io.refuse_checked + st.refuse_checked + al.refuse_checked,
           io.acked + st.acked + al.acked + sh.acked,
           io.checked + st.checked + al.checked + sh.checked,
           io.scans + st.scans + al.scans + sh.scans, (tu_mono_ms() - t0) / 1000.0);
    fflush(stdout);
    /* nearly every planned fault fired (the background work's order varies a
     * little, so a run may do a few operations fewer than the dry run) */
    CHECKF(io.faults * 100 >= io.runs * 95,
           "only %" PRIu64 " of %" PRIu64 " single I/O faults fired", io.faults, io.runs);
    CHECKF(al.faults >= planned * 95 / 100,
           "only %" PRIu64 " of %" PRIu64 " allocation faults fired", al.faults, planned);
}

static void db_os(void) {
    campaign(LSMLOG_DURABILITY_OS, "os");
}
static void db_sync(void) {
    campaign(LSMLOG_DURABILITY_SYNC, "sync");
}

/* ---- regressions: one named case per bug the campaign found ------------- */

/* Writes keys 1..n (version 1000 + i) and returns the handle open. */
static lsmlog_db *reg_fill(const char *dir, int durability, uint64_t mem_bytes, int n) {
    static unsigned char val[MAXV];
    lsmlog_options o = run_opts(durability);
    o.memtable_bytes = mem_bytes;
    lsmlog_db *db = NULL;
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    for (int i = 1; i <= n; i++) {
        char kb[16];
        size_t kl = dbt_key_of(i, kb), vl = value_for(i, 1000 + (uint64_t)i, val);
        CHECK_OK(lsmlog_db_put(db, kb, kl, val, vl));
    }
    return db;
}

/* Opens with the real operations (fsyncs skipped): keys 1..n hold their
 * values, a full compaction reads every table, and the DB takes a write. */
static void reg_check(const char *dir, int n, const char *what) {
    static unsigned char val[MAXV];
    fault_env_install();
    fault_skip_real_sync(1);
    fault_no_journal(); /* no power is lost here: nothing to undo */
    lsmlog_options o = run_opts(LSMLOG_DURABILITY_OS);
    lsmlog_db *db = NULL;
    int rc = lsmlog_db_open(dir, &o, &db);
    CHECKF(rc == LSMLOG_OK, "%s: reopen: %d (%s): %s", what, rc, tu_status_name(rc),
           lsmlog_errmsg());
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 1; i <= n; i++) {
            char kb[16];
            size_t kl = dbt_key_of(i, kb), wl = value_for(i, 1000 + (uint64_t)i, val);
            void *v = NULL;
            size_t len = 0;
            rc = lsmlog_db_get(db, NULL, kb, kl, &v, &len);
            CHECKF(rc == LSMLOG_OK && len == wl && memcmp(v, val, wl) == 0,
                   "%s: key %s: %d (%s): %s", what, kb, rc, tu_status_name(rc),
                   rc ? lsmlog_errmsg() : "a wrong value");
            lsmlog_free(v);
        }
        if (pass == 0) {
            rc = lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL);
            CHECKF(rc == LSMLOG_OK, "%s: compact: %s", what, lsmlog_errmsg());
        }
    }
    CHECK_OK(lsmlog_db_put(db, "after", 5, "x", 1));
    CHECK_OK(lsmlog_db_close(db));
    fault_env_uninstall();
}

/* Runs `step` (on a handle made by reg_fill) with the nth operation of
 * `mask` failing, for every n until a run injects nothing; after each, the
 * DB reopens with everything acknowledged. Returns the faults injected. */
typedef int (*reg_step_fn)(lsmlog_db *db);

static uint64_t reg_sweep(unsigned mask, int durability, uint64_t mem_bytes, int n,
                          reg_step_fn prepare, reg_step_fn step, const char *name) {
    uint64_t injected = 0;
    for (uint64_t nth = 0;; nth++) {
        const char *root = tu_mkdtemp();
        char dir[400], what[300];
        snprintf(dir, sizeof dir, "%s/db", root);
        lsmlog_db *db = reg_fill(dir, durability, mem_bytes, n);
        if (prepare) CHECK_OK(prepare(db));
        fault_env_install();
        fault_skip_real_sync(1);
        fault_no_journal(); /* no power is lost here: nothing to undo */
        fault_fail_nth(mask, nth, EIO, 0);
        int rc = step(db);
        uint64_t inj = fault_injected();
        snprintf(what, sizeof what, "%s, operation %" PRIu64 " failing (%s on %s)", name, nth,
                 inj ? fault_op_name((fault_op)fault_failed_op()) : "none",
                 inj ? fault_failed_path() : "-");
        CHECKF(rc == LSMLOG_OK || rc == LSMLOG_E_IO, "%s: %d (%s): %s", what, rc,
               tu_status_name(rc), lsmlog_errmsg());
        CHECKF(rc == LSMLOG_OK || inj, "%s: failed with no fault: %s", what, lsmlog_errmsg());
        lsmlog_db_close(db);
        fault_env_uninstall();
        reg_check(dir, n, what);
        tu_rmtemp(root);
        injected += inj;
        if (!inj) break;
    }
    return injected;
}

/* Like reg_sweep, for an open of a DB with tables and a WAL. */
static uint64_t reg_sweep_open(unsigned mask, const char *name) {
    uint64_t injected = 0;
    for (uint64_t nth = 0;; nth++) {
        const char *root = tu_mkdtemp();
        char dir[400], what[300];
        snprintf(dir, sizeof dir, "%s/db", root);
        lsmlog_db *db = reg_fill(dir, LSMLOG_DURABILITY_OS, MEMTABLE, 40); /* tables and a WAL */
        CHECK_OK(lsmlog_db_close(db));
        fault_env_install();
        fault_skip_real_sync(1);
        fault_no_journal(); /* no power is lost here: nothing to undo */
        fault_fail_nth(mask, nth, EIO, 0);
        lsmlog_options o = run_opts(LSMLOG_DURABILITY_OS);
        int rc = lsmlog_db_open(dir, &o, &db);
        uint64_t inj = fault_injected();
        snprintf(what, sizeof what, "%s, operation %" PRIu64 " failing (%s on %s)", name, nth,
                 inj ? fault_op_name((fault_op)fault_failed_op()) : "none",
                 inj ? fault_failed_path() : "-");
        CHECKF(rc == LSMLOG_OK || rc == LSMLOG_E_IO, "%s: open: %d (%s): %s", what, rc,
               tu_status_name(rc), lsmlog_errmsg());
        if (rc == LSMLOG_OK) lsmlog_db_close(db);
        fault_env_uninstall();
        reg_check(dir, 40, what);
        tu_rmtemp(root);
        injected += inj;
        if (!inj) break;
    }
    return injected;
}

/* version.c new_manifest: when the directory's fsync after CURRENT's rename
 * failed, open removed the new manifest that CURRENT now named: the next
 * open failed with LSMLOG_E_CORRUPT ("CURRENT names a manifest that does
 * not exist"). Now the new manifest stays once renamed (and the old one,
 * which CURRENT names again if the rename was not durable). */
static void regress_current_renamed_then_dir_fsync_fails(void) {
    CHECK(reg_sweep_open(FAULT_MASK_SYNC | FAULT_MASK(FAULT_OP_OPEN_READ),
                         "open with a sync failing") > 5);
}

/* db.c check_current_not_lost: a stat of CURRENT that failed (EIO) was taken
 * for a missing CURRENT, and open reported LSMLOG_E_CORRUPT ("CURRENT is
 * missing ... refusing to start a new DB"). Now LSMLOG_E_IO. */
static void regress_stat_failure_is_not_a_lost_current(void) {
    CHECK(reg_sweep_open(FAULT_MASK(FAULT_OP_STAT), "open with a stat failing") > 2);
}

static int step_flush(lsmlog_db *db) {
    return lsmlog_db_flush_memtable(db);
}

/* version.c vset_apply: when the manifest's fsync failed after the edit of a
 * flush was written, the version that was not installed was freed and its
 * new table reported obsolete, so its file was deleted; but the edit was in
 * the manifest, and the next open met "table N, named by the manifest, is
 * missing" (with the WAL records below the edit's offset skipped). Now the
 * tables of a version not installed are never reported obsolete. */
static void regress_failed_flush_edit_keeps_its_table(void) {
    CHECK(reg_sweep(FAULT_MASK_SYNC, LSMLOG_DURABILITY_OS, 1u << 20, 30, NULL, step_flush,
                    "flush_memtable with a sync failing") >= 3);
}

static int prepare_three_tables(lsmlog_db *db) {
    static unsigned char val[MAXV];
    for (int t = 0; t < 3; t++) {
        int rc = lsmlog_db_flush_memtable(db);
        if (rc) return rc;
        for (int i = 1; i <= 30; i += 2) { /* overwrite with the same values: overlapping tables */
            char kb[16];
            size_t kl = dbt_key_of(i, kb), vl = value_for(i, 1000 + (uint64_t)i, val);
            if ((rc = lsmlog_db_put(db, kb, kl, val, vl))) return rc;
        }
    }
    return LSMLOG_OK;
}

static int step_compact(lsmlog_db *db) {
    return lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL);
}

/* compaction.c merge_tables: when vset_apply failed, the output tables were
 * removed, even when the edit naming them had reached the manifest (its
 * fsync failed): the next open met missing tables. Now the outputs stay once
 * vset_apply was tried (orphans are removed at the next open). */
static void regress_failed_compaction_edit_keeps_its_outputs(void) {
    CHECK(reg_sweep(FAULT_MASK_SYNC, LSMLOG_DURABILITY_OS, 1u << 20, 30, prepare_three_tables,
                    step_compact, "compact with a sync failing") >= 5);
}

/* db.c lsmlog_db_close: after a failed fsync of the WAL, close reported
 * LSMLOG_E_FAILED once more (the Log's close does not: it was reported when
 * it happened). */
static void regress_close_after_failed_wal_fsync(void) {
    const char *root = tu_mkdtemp();
    char dir[400];
    snprintf(dir, sizeof dir, "%s/db", root);
    lsmlog_db *db = reg_fill(dir, LSMLOG_DURABILITY_OS, 1u << 20, 10);
    fault_env_install();
    fault_skip_real_sync(1);
    fault_no_journal(); /* no power is lost here: nothing to undo */
    fault_fail_nth(FAULT_MASK(FAULT_OP_FDATASYNC), 0, EIO, 0);
    CHECK_EQ_INT(lsmlog_db_sync(db), LSMLOG_E_IO);
    CHECK_EQ_INT(lsmlog_db_put(db, "x", 1, "y", 1), LSMLOG_E_FAILED);
    CHECK_EQ_INT(lsmlog_db_close(db), LSMLOG_OK);
    fault_env_uninstall();
    reg_check(dir, 10, "close after a failed WAL fsync");
    tu_rmtemp(root);
}

/* db.c lsmlog_db_compact, bg_main: a manual compaction did not look for a
 * background failure that came after its flush (a compaction the background
 * thread started before it took its turn), and the background thread
 * recorded its failure only after letting go of work_mu: the manual
 * compaction wrote its tables anyway and failed at the manifest with
 * LSMLOG_E_FAILED. Now the failure is recorded before the compaction
 * counts as finished (then under work_mu; since the two background threads,
 * before it leaves db->running, which the manual compaction waits to
 * empty), and the manual compaction returns it and writes nothing. Timing decides who runs the
 * level-0 compaction, so the case runs ten rounds. */
static void regress_compact_after_background_failure(void) {
    for (int round = 0; round < 10; round++) {
        const char *root = tu_mkdtemp();
        char dir[400];
        snprintf(dir, sizeof dir, "%s/db", root);
        lsmlog_db *db = reg_fill(dir, LSMLOG_DURABILITY_OS, 1u << 20, 30);
        CHECK_OK(prepare_three_tables(db)); /* level 0: 3 tables, the memtable not empty */
        fault_env_install();
        fault_skip_real_sync(1);
        fault_no_journal(); /* no power is lost here: nothing to undo */
        /* compact's flush makes the 4th table (its fdatasync and its edit's
         * are #0 and #1); the level-0 compaction that follows, whoever runs
         * it, fails at its edit's fdatasync (#3, after its output's #2) */
        fault_fail_nth(FAULT_MASK(FAULT_OP_FDATASYNC), 3, EIO, 0);
        int rc = lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL);
        CHECKF(rc == LSMLOG_E_IO, "round %d: compact gave %d (%s): %s", round, rc,
               tu_status_name(rc), lsmlog_errmsg());
        CHECK_EQ_U64(fault_injected(), 1);
        uint64_t creates = fault_count(FAULT_MASK(FAULT_OP_OPEN_WRITE));
        CHECK_EQ_INT(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL), LSMLOG_E_IO);
        CHECK(strstr(lsmlog_errmsg(), "no more writes") != NULL);
        CHECK_EQ_U64(fault_count(FAULT_MASK(FAULT_OP_OPEN_WRITE)), creates); /* no table written */
        lsmlog_db_close(db);
        fault_env_uninstall();
        reg_check(dir, 30, "compact after a background failure");
        tu_rmtemp(root);
    }
}

int main(void) {
    tu_init("test_db_fault_campaign");
    db_set_test_clock(fake_clock, NULL); /* every DB of the run, from its open on */
    TU_CASE(regress_current_renamed_then_dir_fsync_fails);
    TU_CASE(regress_stat_failure_is_not_a_lost_current);
    TU_CASE(regress_failed_flush_edit_keeps_its_table);
    TU_CASE(regress_failed_compaction_edit_keeps_its_outputs);
    TU_CASE(regress_close_after_failed_wal_fsync);
    TU_CASE(regress_compact_after_background_failure);
    TU_CASE(db_os);
    TU_CASE(db_sync);
    return tu_finish();
}
