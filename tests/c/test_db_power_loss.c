/* test_db_power_loss.c — power loss at every point of a scripted DB
 * workload, simulated by tests/c/fault_env (which journals what is not yet
 * durable and takes it back on disk; see fault_env.h for the model), as
 * test_log_power_loss.c does for the Log.
 *
 * Each crash point is one forked child: it runs the workload from scratch
 * with fault_crash_at(point), publishing its model of the DB (what each key
 * must hold, what it may hold) to shared memory as calls are made and
 * acknowledged; at the point the fault layer undoes every non-durable change
 * and _exit()s, whichever thread (the caller's or the background one) made
 * the operation. The parent then opens the DB with the real file operations
 * (fsyncs skipped: no more power is lost) and checks it. Values are a pure
 * function of (key, version), with the version in the value, so any value
 * found can be checked and placed.
 *
 * The workload: open with a 4 KiB memtable and a small level shape
 * (db_set_shape: level 1 holds 8 KiB, compactions cut 4 KiB tables), puts,
 * deletes, atomic batches,
 * puts with a TTL (a short one the test's clock then expires), background
 * flushes and a level-0 compaction, flush_memtable, a full manual
 * compaction, a sync, close, reopen (recovery: WAL replay, a new manifest,
 * CURRENT replaced), more writes, a range compaction, a sync, close. After
 * each call the test waits until the background thread is idle (through
 * db_internal.h), so that the operations, and so the points, are the same
 * in every run. The points exercise what the ALICE study found LevelDB
 * getting wrong: a table and its directory entry must be durable before a
 * manifest edit names it, and CURRENT must be replaced atomically and
 * durably.
 *
 *  - sync_every_point: durability "sync". A crash before every operation
 *    that changes a file and right after every fsync/fdatasync, each with
 *    every unsynced change dropped (DROP) and with random prefixes kept and
 *    the next write torn (TORN); REORDER too, and a second power loss inside
 *    each recovery, with FAULT_FULL=1. Open must succeed (no repair); every
 *    acknowledged write is there (or a later write of the same key that was
 *    in flight); nothing else is (every value read is one the test wrote to
 *    that key); the write in flight, a batch, is there wholly or not at all;
 *    gets agree with forward and backward scans; the DB takes writes again
 *    (overwrites of keys that live in tables show at once and after a
 *    reopen).
 *  - os_every_point: durability "os", a crash before every changing
 *    operation, DROP / TORN / REORDER in turn (all three with FAULT_FULL=1).
 *    Acknowledged writes may be lost (the contract is kill -9, not power
 *    loss) but every write acknowledged before a successful lsmlog_db_sync
 *    must be there (or a later one of its key), nothing wrong may be read,
 *    every batch is whole or absent; open succeeds, or reports
 *    LSMLOG_E_CORRUPT naming a file, and then an open with repair succeeds
 *    with the same guarantees.
 *  - regress_db_directory_is_durable, regress_set_shape_wakes_the_background:
 *    bugs these found (see the cases).
 *  - sync_then_power_loss: in os and buffered durability, every write
 *    acknowledged before a successful lsmlog_db_sync survives a power loss
 *    that takes everything unsynced, in a DB made, flushed and compacted
 *    since.
 *
 * FAULT_STRIDE=k (fault_env.h): sync_every_point and os_every_point crash
 * only at every k-th point of each plan (the points before changing
 * operations, those after syncs), from a start below k drawn from the seed,
 * so that early, middle and late points of the workload are all covered
 * (os: DROP, TORN, REORDER in turn over the points tried): for slow runs
 * (valgrind memcheck in scripts/test.sh). The other cases run whole. */
#include "fault_env.h"
#include "test_util.h"
#include "db_test_util.h"

#include "db_internal.h"
#include "env.h"

#include <sys/mman.h>
#include <sys/wait.h>

#define NKEYS 64
#define MAXV 3200
#define MAXLATER 32
#define MAXBATCH 6
#define MAXFB 128
#define MEMTABLE 4096
#define L1_BYTES (8u << 10) /* db_set_shape: level 1 holds 8 KiB, tables of 4 KiB */
#define TABLE_BYTES (4u << 10)
#define TTL_SHORT 1000
#define TTL_LONG (24LL * 3600 * 1000)
#define TTL_BATCH (30LL * 24 * 3600 * 1000)
#define CRASH_EXIT 77

/* ---- keys, values -------------------------------------------------------- */

static size_t value_for(int key, uint64_t ver, unsigned char *buf) {
    uint64_t st = tu_hash2(tu_seed ^ 0x9A0E1055ull, ver * 131 + (uint64_t)key);
    uint64_t h = tu_splitmix64(&st);
    /* every 13th version large (the same share whatever the seed) */
    size_t len = 16 + (ver % 13 == 7 ? 1500 + (size_t)(h >> 8) % 1500 : (size_t)(h >> 8) % 200);
    tu_fill_random(&st, buf, len);
    tu_put_u64(buf, ver);
    tu_put_u32(buf + 8, (uint32_t)key);
    return len;
}

/* ---- the model, in memory shared with the child --------------------------- */

enum { S_NONE, S_PUT, S_TTL, S_DEL };

typedef struct kstate {
    uint64_t ver;
    int type;
    int64_t expiry;
} kstate;

typedef struct kmodel {
    kstate base;            /* durable: must be there, unless a later write is */
    kstate later[MAXLATER]; /* writes since: in flight, or (os) acknowledged but not synced */
    int nlater;
    int overflow;      /* more than MAXLATER: any right value of the key goes */
    uint64_t last_ver; /* the newest write tried */
} kmodel;

typedef struct fbatch { /* a batch not yet durable: all of it or none */
    int n;
    int key[MAXBATCH];
    kstate st[MAXBATCH];
} fbatch;

typedef struct shared {
    kmodel keys[NKEYS];
    fbatch fb[MAXFB];
    int nfb, fb_overflow;
    int64_t now;    /* the test's clock */
    uint64_t ver;   /* the next version */
    uint64_t acked; /* writes acknowledged */
    int fail_line, fail_rc;
    char msg[512];
} shared;

static shared *sh;

static int64_t fake_clock(void *ctx) {
    (void)ctx;
    return __atomic_load_n(&sh->now, __ATOMIC_RELAXED);
}

static uint64_t visible(const kstate *s, int64_t now) {
    if (s->type == S_PUT || (s->type == S_TTL && s->expiry > now)) return s->ver;
    return 0;
}

static void sh_reset(int64_t now) {
    memset(sh, 0, sizeof *sh);
    sh->now = now;
    sh->ver = 1;
}

/* Before a write: its states may be there from now on. */
static void model_begin(int n, const int *keys, const kstate *st) {
    if (n > 1) {
        if (sh->nfb < MAXFB) {
            fbatch *b = &sh->fb[sh->nfb];
            b->n = n;
            for (int i = 0; i < n; i++) {
                b->key[i] = keys[i];
                b->st[i] = st[i];
            }
            sh->nfb++;
        } else {
            sh->fb_overflow = 1;
        }
    }
    for (int i = 0; i < n; i++) {
        kmodel *k = &sh->keys[keys[i]];
        if (st[i].ver > k->last_ver) k->last_ver = st[i].ver;
        if (k->nlater < MAXLATER)
            k->later[k->nlater++] = st[i];
        else
            k->overflow = 1;
    }
}

/* The writes so far are durable: each key's newest state is its base. The
 * base is set before the list is emptied, so a crash in between (from the
 * background thread) leaves a model that is still true. */
static void model_durable_all(void) {
    for (int i = 0; i < NKEYS; i++) {
        kmodel *k = &sh->keys[i];
        if (k->nlater == 0) continue;
        if (!k->overflow) k->base = k->later[k->nlater - 1];
        k->nlater = 0;
    }
    sh->nfb = 0;
}

/* A write acknowledged in sync durability: durable. */
static void model_durable(int n, const int *keys, const kstate *st) {
    for (int i = 0; i < n; i++) {
        kmodel *k = &sh->keys[keys[i]];
        k->base = st[i];
        k->nlater = 0;
        k->overflow = 0;
    }
    if (n > 1 && sh->nfb > 0) sh->nfb--; /* it was the last one begun */
}

/* ---- the workload (in the child) ----------------------------------------- */

static int wl_fail(int line, int rc) {
    snprintf(sh->msg, sizeof sh->msg, "%s", lsmlog_errmsg());
    sh->fail_rc = rc;
    sh->fail_line = line;
    return line;
}

#define WL(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != LSMLOG_OK) return wl_fail(__LINE__, rc_);                                       \
    } while (0)

static lsmlog_options db_opts(int durability) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.durability = durability;
    o.memtable_bytes = MEMTABLE;
    o.cache_bytes = 32 << 10;
    return o;
}

/* Step i: mostly single writes (put, delete, TTL puts), every fifth a batch. */
static int wl_step(lsmlog_db *db, int durability, int i) {
    static unsigned char val[MAXV];
    uint64_t h = tu_hash2(tu_seed ^ 0x57E9, (uint64_t)i);
    int key = (int)(h % NKEYS),
        what = (int)((uint64_t)i * 7 % 10); /* the kind by i, the keys by seed */
    int keys[MAXBATCH], n = 1;
    kstate st[MAXBATCH];
    char kb[16];
    int rc;
    if (what < 8) {
        size_t kl = dbt_key_of(key, kb);
        keys[0] = key;
        st[0] = (kstate){sh->ver++, S_PUT, 0};
        size_t vl = value_for(key, st[0].ver, val);
        if (what == 5) {
            st[0].type = S_DEL;
        } else if (what == 6 || what == 7) {
            st[0].type = S_TTL;
            st[0].expiry = sh->now + (what == 6 ? TTL_SHORT : TTL_LONG);
        }
        model_begin(1, keys, st);
        if (what == 5)
            rc = lsmlog_db_delete(db, kb, kl);
        else if (what == 6 || what == 7)
            rc = lsmlog_db_put_ttl(db, kb, kl, val, vl, what == 6 ? TTL_SHORT : TTL_LONG);
        else
            rc = lsmlog_db_put(db, kb, kl, val, vl);
    } else {
        lsmlog_batch *b = NULL;
        WL(lsmlog_batch_new(&b));
        n = 2 + i % (MAXBATCH - 1);
        int stride = 1 + (int)((h >> 32) % 7);
        rc = LSMLOG_OK;
        for (int j = 0; j < n && rc == LSMLOG_OK; j++) {
            keys[j] = (key + j * stride) % NKEYS;
            size_t kl = dbt_key_of(keys[j], kb);
            st[j] = (kstate){sh->ver++, S_PUT, 0};
            size_t vl = value_for(keys[j], st[j].ver, val);
            int which = (int)(tu_hash2(tu_seed, st[j].ver) % 5);
            if (which == 0) {
                st[j].type = S_DEL;
                rc = lsmlog_batch_delete(b, kb, kl);
            } else if (which == 1) {
                st[j].type = S_TTL;
                st[j].expiry = INT64_MAX; /* a batch's TTL runs on the wall clock: 30 days */
                rc = lsmlog_batch_put_ttl(b, kb, kl, val, vl, TTL_BATCH);
            } else {
                rc = lsmlog_batch_put(b, kb, kl, val, vl);
            }
        }
        if (rc == LSMLOG_OK) {
            model_begin(n, keys, st);
            rc = lsmlog_db_write(db, b);
        }
        lsmlog_batch_free(b);
    }
    if (rc != LSMLOG_OK) return wl_fail(__LINE__, rc);
    sh->acked += (uint64_t)n;
    if (durability == LSMLOG_DURABILITY_SYNC) model_durable(n, keys, st);
    dbt_wait_idle(db);
    return 0;
}

#define STEPS(from, to)                                                                            \
    do {                                                                                           \
        for (int i_ = (from); i_ < (to); i_++) {                                                   \
            int l_ = wl_step(db, durability, i_);                                                  \
            if (l_) return l_;                                                                     \
        }                                                                                          \
    } while (0)

static int wl_open(const char *dir, int durability, lsmlog_db **db) {
    lsmlog_options o = db_opts(durability);
    WL(lsmlog_db_open(dir, &o, db));
    db_set_shape(*db, L1_BYTES, TABLE_BYTES);
    dbt_wait_idle(*db);
    return 0;
}

static int wl_sync(lsmlog_db *db) {
    WL(lsmlog_db_sync(db));
    model_durable_all();
    return 0;
}

/* The same operations in the same order every time (the crash points are
 * counted on a dry run). */
static int workload(const char *dir, int durability) {
    lsmlog_db *db = NULL;
    int l;
    if ((l = wl_open(dir, durability, &db))) return l;
    STEPS(0, 20);
    WL(lsmlog_db_flush_memtable(db));
    dbt_wait_idle(db);
    STEPS(20, 40); /* level 0 reaches 4 tables: a background compaction */
    if ((l = wl_sync(db))) return l;
    /* the memtable flushed first, and the background's own compaction let
     * run: else it races the manual one, and the operations vary */
    WL(lsmlog_db_flush_memtable(db));
    dbt_wait_idle(db);
    WL(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    dbt_wait_idle(db);
    __atomic_add_fetch(&sh->now, 5000, __ATOMIC_RELAXED); /* the short TTLs expire */
    STEPS(40, 50);
    WL(lsmlog_db_close(db));
    db = NULL;
    if ((l = wl_open(dir, durability, &db))) return l; /* recovery: replay, a new manifest */
    STEPS(50, 65);
    WL(lsmlog_db_flush_memtable(db));
    dbt_wait_idle(db);
    WL(lsmlog_db_compact(db, "k020", 4, "k045", 4, NULL, NULL));
    dbt_wait_idle(db);
    if ((l = wl_sync(db))) return l;
    STEPS(65, 70);
    WL(lsmlog_db_close(db));
    return 0;
}

/* ---- checking what a power loss left ------------------------------------ */

typedef struct totals {
    uint64_t points, crashes, keys_checked, acked_lost, inflight_present, batches_checked,
        opens_corrupt, repairs, double_crashes, written_after;
} totals;

static uint64_t check_value(const char *what, int key, const void *v, size_t len) {
    static unsigned char want[MAXV];
    char kb[16];
    dbt_key_of(key, kb);
    CHECKF(len >= 16, "%s: key \"%s\": a value of %zu bytes, not one the test wrote", what, kb,
           len);
    uint64_t ver = tu_get_u64(v);
    CHECKF(ver > 0 && ver < sh->ver && tu_get_u32((const unsigned char *)v + 8) == (uint32_t)key,
           "%s: key \"%s\": a value of another key or of no write (version %" PRIu64 ")", what, kb,
           ver);
    size_t wl = value_for(key, ver, want);
    CHECKF(wl == len && memcmp(want, v, len) == 0,
           "%s: key \"%s\": version %" PRIu64 " read back wrong", what, kb, ver);
    return ver;
}

/* Iterates over every key; seen[i]: the version shown (0: absent). */
static int scan(lsmlog_db *db, int reverse, uint64_t *seen, const char *what, int may_corrupt) {
    lsmlog_db_iter *it = NULL;
    int rc = lsmlog_db_iter_open(db, NULL, &it);
    CHECKF(rc == LSMLOG_OK, "%s: iter_open: %d (%s): %s", what, rc, tu_status_name(rc),
           lsmlog_errmsg());
    memset(seen, 0, NKEYS * sizeof *seen);
    int prev = reverse ? NKEYS : -1;
    for (rc = reverse ? lsmlog_db_iter_last(it) : lsmlog_db_iter_first(it);
         rc == LSMLOG_OK && lsmlog_db_iter_valid(it);
         rc = reverse ? lsmlog_db_iter_prev(it) : lsmlog_db_iter_next(it)) {
        size_t kl, vl;
        const void *k = lsmlog_db_iter_key(it, &kl), *v = lsmlog_db_iter_value(it, &vl);
        int i = dbt_key_index(k, kl, NKEYS);
        CHECKF(i >= 0, "%s: the iterator shows a key the test never wrote (%zu bytes)", what, kl);
        CHECKF(reverse ? i < prev : i > prev, "%s: the iterator goes out of order (%d after %d)",
               what, i, prev);
        prev = i;
        seen[i] = check_value(what, i, v, vl);
    }
    lsmlog_db_iter_close(it);
    if (rc == LSMLOG_E_CORRUPT && may_corrupt) return rc;
    CHECKF(rc == LSMLOG_OK, "%s: iterating: %d (%s): %s", what, rc, tu_status_name(rc),
           lsmlog_errmsg());
    return LSMLOG_OK;
}

/* Checks what the DB shows against the model: every key, every batch. */
static void check_model(const uint64_t *seen, const char *what, int durability, totals *t) {
    int64_t now = sh->now;
    for (int i = 0; i < NKEYS; i++) {
        const kmodel *k = &sh->keys[i];
        uint64_t got = seen[i], ok = visible(&k->base, now) == got, later = 0;
        for (int j = 0; j < k->nlater && !ok; j++)
            if (visible(&k->later[j], now) == got) ok = later = 1;
        if (!ok && k->overflow && got < sh->ver) ok = 1;
        char kb[16];
        dbt_key_of(i, kb);
        if (!ok) {
            fprintf(stderr, "  key \"%s\": base version %" PRIu64 " type %d;", kb, k->base.ver,
                    k->base.type);
            for (int j = 0; j < k->nlater; j++)
                fprintf(stderr, " later %" PRIu64 " type %d;", k->later[j].ver, k->later[j].type);
            fprintf(stderr, "\n");
        }
        CHECKF(ok,
               "%s: key \"%s\" shows %s%" PRIu64 ", which is neither its %s state nor a write %s",
               what, kb, got ? "version " : "nothing ", got,
               durability == LSMLOG_DURABILITY_SYNC ? "acknowledged" : "synced",
               durability == LSMLOG_DURABILITY_SYNC ? "in flight" : "made since the last sync");
        if (later && got) t->inflight_present++;
        if (durability != LSMLOG_DURABILITY_SYNC && !later && k->nlater &&
            visible(&k->later[k->nlater - 1], now) != got)
            t->acked_lost++; /* os: written since the last sync, and not there */
        t->keys_checked++;
    }
    for (int b = 0; b < sh->nfb; b++) {
        const fbatch *f = &sh->fb[b];
        int in = 0, out = 0;
        for (int i = 0; i < f->n; i++) {
            uint64_t v = visible(&f->st[i], now);
            if (!v) continue;
            if (seen[f->key[i]] == v)
                in++;
            else if (sh->keys[f->key[i]].last_ver == f->st[i].ver)
                out++;
        }
        CHECKF(!(in && out), "%s: a batch is there in part: %d of its puts present, %d absent",
               what, in, out);
        t->batches_checked++;
    }
}

/* Opens the DB after the power loss, with the real operations (fsyncs
 * skipped); a reported corruption (os) is LSMLOG_E_CORRUPT naming a file. */
static int open_after(const char *dir, int durability, int repair, lsmlog_db **db,
                      const char *what) {
    lsmlog_options o = db_opts(durability);
    o.repair = repair;
    int rc = lsmlog_db_open(dir, &o, db);
    if (rc == LSMLOG_E_CORRUPT && durability != LSMLOG_DURABILITY_SYNC && !repair) {
        CHECKF(strstr(lsmlog_errmsg(), dir) != NULL, "%s: the corruption message names no file: %s",
               what, lsmlog_errmsg());
        return rc;
    }
    CHECKF(rc == LSMLOG_OK, "%s: open after power loss%s: %d (%s): %s", what,
           repair ? " with repair" : "", rc, tu_status_name(rc), lsmlog_errmsg());
    db_set_shape(*db, L1_BYTES, TABLE_BYTES);
    dbt_wait_idle(*db);
    CHECKF((*db)->bg_error == 0, "%s: the background failed after recovery: %s", what,
           (*db)->bg_msg);
    return LSMLOG_OK;
}

/* One pass: open (with or without repair), check, write, reopen, check.
 * Returns LSMLOG_E_CORRUPT if (os) a corruption was reported, to be tried
 * again with repair. */
static int check_pass(const char *dir, int durability, const char *what, int repair, totals *t) {
    lsmlog_db *db = NULL;
    if (open_after(dir, durability, repair, &db, what) != LSMLOG_OK) return LSMLOG_E_CORRUPT;
    uint64_t fwd[NKEYS], back[NKEYS];
    int may_corrupt = durability != LSMLOG_DURABILITY_SYNC && !repair;
    if (scan(db, 0, fwd, what, may_corrupt) != LSMLOG_OK ||
        scan(db, 1, back, what, may_corrupt) != LSMLOG_OK) {
        CHECK_OK(lsmlog_db_close(db));
        return LSMLOG_E_CORRUPT;
    }
    check_model(fwd, what, durability, t);
    for (int i = 0; i < NKEYS; i++) {
        char kb[16];
        size_t kl = dbt_key_of(i, kb);
        void *v = NULL;
        size_t len = 0;
        int rc = lsmlog_db_get(db, NULL, kb, kl, &v, &len);
        CHECKF(rc == LSMLOG_OK || rc == LSMLOG_NOTFOUND, "%s: get \"%s\": %d (%s): %s", what, kb,
               rc, tu_status_name(rc), lsmlog_errmsg());
        uint64_t got = rc == LSMLOG_OK ? check_value(what, i, v, len) : 0;
        lsmlog_free(v);
        CHECKF(got == fwd[i] && got == back[i],
               "%s: key \"%s\": get shows %" PRIu64 ", the scans %" PRIu64 " and %" PRIu64, what,
               kb, got, fwd[i], back[i]);
    }
    /* the DB takes writes again: overwrite (or delete) every 8th key, many of
     * them living in tables, so a sequence number recovered too low would
     * leave the new values hidden */
    static unsigned char val[MAXV];
    uint64_t ver = sh->ver + 1000;
    for (int i = 1; i < NKEYS; i += 8) {
        char kb[16];
        size_t kl = dbt_key_of(i, kb);
        if (i % 16 == 9) {
            CHECK_OK(lsmlog_db_delete(db, kb, kl));
            fwd[i] = 0;
        } else {
            size_t vl = value_for(i, ver, val);
            CHECK_OK(lsmlog_db_put(db, kb, kl, val, vl));
            fwd[i] = ver++;
        }
        t->written_after++;
    }
    CHECK_OK(lsmlog_db_close(db));
    uint64_t saved = sh->ver;
    sh->ver = ver; /* the versions just written are known now */
    CHECKF(open_after(dir, durability, 0, &db, what) == LSMLOG_OK, "%s: reopen after writing",
           what);
    uint64_t again[NKEYS];
    CHECK_OK(scan(db, 0, again, what, 0));
    for (int i = 0; i < NKEYS; i++) {
        char kb[16];
        dbt_key_of(i, kb);
        CHECKF(again[i] == fwd[i],
               "%s: key \"%s\" shows %" PRIu64 " after writing and reopening, not %" PRIu64, what,
               kb, again[i], fwd[i]);
    }
    CHECK_OK(lsmlog_db_close(db));
    sh->ver = saved;
    return LSMLOG_OK;
}

static void check_after(const char *dir, int durability, const char *what, totals *t) {
    fault_env_install(); /* the real operations, but no real fsync: no power is lost now */
    fault_skip_real_sync(1);
    fault_no_journal();
    if (check_pass(dir, durability, what, 0, t) != LSMLOG_OK) {
        t->opens_corrupt++;
        t->repairs++;
        CHECK_OK(check_pass(dir, durability, what, 1, t));
    }
    fault_env_uninstall();
}

/* Runs the workload in a child that crashes at `point`; 1 if it crashed. */
static int run_crash(const char *dir, int durability, unsigned mask, uint64_t point, int after,
                     fault_pl_mode mode, uint64_t seed, int64_t now) {
    sh_reset(now);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fault_env_install();
        fault_skip_real_sync(1);
        fault_crash_at(mask, point, after, mode, seed, CRASH_EXIT);
        int line = workload(dir, durability);
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
           sh->fail_line, sh->fail_rc, tu_status_name(sh->fail_rc), sh->msg);
    return code == CRASH_EXIT;
}

/* A second power loss during the recovery open of a crashed DB. */
static void crash_recovery(const char *dir, int durability, uint64_t point, uint64_t seed) {
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fault_env_install();
        fault_skip_real_sync(1);
        fault_crash_at(FAULT_MASK_MUTATING, point, 0, FAULT_PL_TORN, seed, CRASH_EXIT);
        lsmlog_options o = db_opts(durability);
        lsmlog_db *db = NULL;
        int rc = lsmlog_db_open(dir, &o, &db);
        if (rc == LSMLOG_OK) {
            db_set_shape(db, L1_BYTES, TABLE_BYTES);
            dbt_wait_idle(db); /* a compaction at open may run: crash inside it too */
            rc = lsmlog_db_close(db);
        }
        fault_env_uninstall();
        _exit(rc == LSMLOG_OK || (rc == LSMLOG_E_CORRUPT && durability != LSMLOG_DURABILITY_SYNC)
                  ? 0
                  : 3);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == CRASH_EXIT),
           "recovery under a second crash failed (status %d)", status);
}

/* Counts the workload's operations of `mask` on a dry run (in this process). */
static uint64_t dry_run(int durability, unsigned mask, int64_t now) {
    const char *root = tu_mkdtemp();
    char dir[400];
    snprintf(dir, sizeof dir, "%s/db", root);
    sh_reset(now);
    fault_env_install();
    fault_skip_real_sync(1);
    int line = workload(dir, durability);
    uint64_t n = fault_count(mask);
    fault_env_uninstall();
    CHECKF(line == 0, "dry run failed at line %d: %d (%s): %s", line, sh->fail_rc,
           tu_status_name(sh->fail_rc), sh->msg);
    tu_rmtemp(root);
    return n;
}

/* The first point of a sweep that tries every k-th one (FAULT_STRIDE): 0
 * when every point is tried, else drawn below k from the seed. */
static uint64_t first_point(uint64_t k) {
    return k > 1 ? tu_rand_below(k) : 0;
}

/* threads: the DB's background threads (db_set_test_bg_threads). With one,
 * a run repeats the dry run's operations exactly and every point must be
 * reached; with two, which compactions run side by side varies, a run may
 * end a few operations short, and every 4th point is tried. */
static void campaign(int durability, const char *name, int threads) {
    int sync = durability == LSMLOG_DURABILITY_SYNC;
    db_set_test_bg_threads(threads);
    int64_t now = tu_now_ms() + 10LL * 24 * 3600 * 1000; /* ahead of the wall clock */
    uint64_t nmut = dry_run(durability, FAULT_MASK_MUTATING, now);
    uint64_t nsync = dry_run(durability, FAULT_MASK_SYNC, now);
    uint64_t acked = sh->acked;
    totals t;
    memset(&t, 0, sizeof t);
    double t0 = tu_mono_ms();
    struct plan {
        unsigned mask;
        uint64_t n;
        int after;
    } plans[2] = {{FAULT_MASK_MUTATING, nmut, 0}, {FAULT_MASK_SYNC, nsync, 1}};
    /* FAULT_STRIDE: every stride-th point of each plan (i counts those tried) */
    uint64_t stride = fault_stride() * (threads == 1 ? 1 : 4);
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
                if (fault_full()) {
                    modes[nm++] = (fault_pl_mode)((i + 1) % 3);
                    modes[nm++] = (fault_pl_mode)((i + 2) % 3);
                }
            }
            for (int m = 0; m < nm; m++) {
                const char *root = tu_mkdtemp();
                char dir[400], what[200];
                snprintf(dir, sizeof dir, "%s/db", root);
                uint64_t seed = tu_rand();
                snprintf(what, sizeof what, "%s: power loss %s op %" PRIu64 " (%s), seed %" PRIu64,
                         name, plans[p].after ? "after sync" : "before", k,
                         fault_pl_mode_name(modes[m]), seed);
                t.points++;
                if (run_crash(dir, durability, plans[p].mask, k, plans[p].after, modes[m], seed,
                              now))
                    t.crashes++;
                if (fault_full()) {
                    crash_recovery(dir, durability, tu_rand_below(12), tu_rand());
                    t.double_crashes++;
                }
                check_after(dir, durability, what, &t);
                tu_rmtemp(root);
            }
        }
    }
    if (stride > 1)
        printf("%s: FAULT_STRIDE=%" PRIu64 ": one point in %" PRIu64 " of each plan\n", name,
               stride, stride);
    printf("%s: %" PRIu64 " power-loss points (%" PRIu64 " changing ops, %" PRIu64
           " syncs in a workload of %" PRIu64 " acknowledged writes), %" PRIu64 " crashed, %" PRIu64
           " key states checked, %" PRIu64 " batches checked whole, %" PRIu64
           " writes in flight found, %" PRIu64 " acknowledged writes lost%s, %" PRIu64
           " reported corruption (%" PRIu64 " repaired), %" PRIu64
           " writes after recovery%s; %.1f s\n",
           name, t.points, nmut, nsync, acked, t.crashes, t.keys_checked, t.batches_checked,
           t.inflight_present, t.acked_lost, sync ? "" : " (allowed: os, not synced)",
           t.opens_corrupt, t.repairs, t.written_after,
           t.double_crashes ? ", second crash in each recovery" : "", (tu_mono_ms() - t0) / 1000.0);
    fflush(stdout);
    if (sync) CHECK_EQ_U64(t.opens_corrupt, 0);
    if (threads == 1) {
        CHECK_EQ_U64(t.crashes, t.points); /* every point was reached */
    } else {
        /* nearly every point: the points a shorter run never reaches are at
         * its end (close's last flushes and compactions) */
        CHECKF(t.crashes * 100 >= t.points * 95,
               "only %" PRIu64 " of %" PRIu64 " power-loss points reached", t.crashes, t.points);
    }
    db_set_test_bg_threads(0);
}

static void sync_every_point(void) {
    campaign(LSMLOG_DURABILITY_SYNC, "sync", 1);
}

static void os_every_point(void) {
    campaign(LSMLOG_DURABILITY_OS, "os", 1);
}

/* The DB's default, two background threads: compactions side by side. */
static void sync_two_threads(void) {
    campaign(LSMLOG_DURABILITY_SYNC, "sync, two background threads", 2);
}

/* In os and buffered durability: what lsmlog_db_sync covered survives a
 * power loss that takes everything else not yet durable, in a DB whose
 * directory, manifest, tables and WAL were all made since. */
static void sync_then_power_loss(void) {
    int64_t now = tu_now_ms() + 10LL * 24 * 3600 * 1000;
    for (int durability = LSMLOG_DURABILITY_BUFFERED; durability <= LSMLOG_DURABILITY_OS;
         durability++) {
        for (int mode = FAULT_PL_DROP; mode <= FAULT_PL_REORDER; mode++) {
            const char *root = tu_mkdtemp();
            char dir[400], what[200];
            snprintf(dir, sizeof dir, "%s/x/y/db", root);
            snprintf(what, sizeof what, "sync_then_power_loss: durability %d, %s", durability,
                     fault_pl_mode_name((fault_pl_mode)mode));
            sh_reset(now);
            fault_env_install();
            fault_skip_real_sync(1);
            lsmlog_db *db = NULL;
            lsmlog_options o = db_opts(durability);
            CHECK_OK(lsmlog_db_open(dir, &o, &db));
            db_set_shape(db, L1_BYTES, TABLE_BYTES);
            for (int i = 0; i < 40; i++) { /* flushes and a compaction */
                CHECK_EQ_INT(wl_step(db, durability, i), 0);
                if (i == 20) CHECK_OK(lsmlog_db_flush_memtable(db));
            }
            CHECK_OK(lsmlog_db_sync(db));
            model_durable_all();
            for (int i = 40; i < 50; i++)
                CHECK_EQ_INT(wl_step(db, durability, i), 0); /* may go */
            dbt_wait_idle(db);
            fault_pl_stats s;
            fault_power_loss((fault_pl_mode)mode, tu_rand(), &s);
            /* the handle only to free it: its files are not what it thinks */
            fault_fail_nth(FAULT_MASK_ALL, 0, EIO, 1);
            lsmlog_db_close(db);
            fault_env_uninstall();
            totals t;
            memset(&t, 0, sizeof t);
            check_after(dir, LSMLOG_DURABILITY_OS, what, &t);
            tu_rmtemp(root);
        }
    }
}

/* Regression (db.c lsmlog_db_open): the DB's directory, and the parents
 * open made for it, were never fsynced into their parents, so a power loss
 * could take the whole DB, acknowledged writes of durability "sync"
 * included (CURRENT, the manifest, the tables and the WAL were all durable,
 * inside a directory whose own name was not). Found by sync_every_point (and
 * by sync_then_power_loss in os and buffered durability). */
static void regress_db_directory_is_durable(void) {
    static unsigned char val[MAXV];
    for (int mode = FAULT_PL_DROP; mode <= FAULT_PL_REORDER; mode++) {
        const char *root = tu_mkdtemp();
        char dir[400];
        snprintf(dir, sizeof dir, "%s/a/b/db", root);
        fault_env_install();
        fault_skip_real_sync(1);
        lsmlog_options o = db_opts(LSMLOG_DURABILITY_SYNC);
        lsmlog_db *db = NULL;
        CHECK_OK(lsmlog_db_open(dir, &o, &db));
        size_t vl = value_for(1, 1, val);
        CHECK_OK(lsmlog_db_put(db, "k001", 4, val, vl)); /* acknowledged: durable */
        fault_pl_stats s;
        fault_power_loss((fault_pl_mode)mode, tu_rand(), &s);
        fault_fail_nth(FAULT_MASK_ALL, 0, EIO, 1); /* the handle only to free it */
        lsmlog_db_close(db);
        fault_env_uninstall();
        o.create = 0;
        int rc = lsmlog_db_open(dir, &o, &db);
        CHECKF(rc == LSMLOG_OK, "%s: the DB is gone after a power loss: %d (%s): %s",
               fault_pl_mode_name((fault_pl_mode)mode), rc, tu_status_name(rc), lsmlog_errmsg());
        void *v = NULL;
        size_t len = 0;
        CHECK_OK(lsmlog_db_get(db, NULL, "k001", 4, &v, &len));
        CHECK(len == vl && memcmp(v, val, vl) == 0);
        lsmlog_free(v);
        CHECK_OK(lsmlog_db_close(db));
        tu_rmtemp(root);
    }
}

/* Regression (db.c db_set_shape, the test hook): setting a smaller shape
 * did not wake the background thread, which had found no compaction to do
 * with the old one: the compaction waited for the next write, and a test
 * waiting for the background to settle hung (sync_every_point, when a crash
 * left level 1 larger than the small shape allows). */
static void regress_set_shape_wakes_the_background(void) {
    static unsigned char val[MAXV];
    const char *root = tu_mkdtemp();
    char dir[400];
    snprintf(dir, sizeof dir, "%s/db", root);
    lsmlog_options o = db_opts(LSMLOG_DURABILITY_OS);
    lsmlog_db *db = NULL;
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    for (int i = 1; i < NKEYS; i++) {
        char kb[16];
        size_t kl = dbt_key_of(i, kb), vl = value_for(i, 7, val);
        CHECK_OK(lsmlog_db_put(db, kb, kl, val, vl));
    }
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL,
                               NULL)); /* one level-1 table: fine at 10 MiB */
    CHECK_OK(lsmlog_db_close(db));
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    tu_sleep_ms(20); /* the background has looked, and found nothing to do */
    lsmlog_db_stats st;
    CHECK_OK(lsmlog_db_get_stats(db, &st));
    CHECK(st.levels[1].bytes > 4096 && st.compactions + st.trivial_moves == 0);
    db_set_shape(db, 4096, 1024); /* level 1 is now over its size */
    for (int i = 0; i < 500 && st.compactions + st.trivial_moves == 0; i++) {
        tu_sleep_ms(10);
        CHECK_OK(lsmlog_db_get_stats(db, &st));
    }
    CHECKF(st.compactions + st.trivial_moves > 0,
           "no compaction 5 s after db_set_shape made level 1 too large");
    CHECK_OK(lsmlog_db_close(db));
    tu_rmtemp(root);
}

int main(void) {
    tu_init("test_db_power_loss");
    db_set_test_clock(fake_clock, NULL); /* every DB of the run, from its open on */
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    TU_CASE(regress_db_directory_is_durable);
    TU_CASE(regress_set_shape_wakes_the_background);
    TU_CASE(sync_then_power_loss);
    TU_CASE(sync_every_point);
    TU_CASE(os_every_point);
    TU_CASE(sync_two_threads);
    munmap(sh, sizeof *sh);
    return tu_finish();
}
