/* The DB against an in-memory model: random puts, TTL puts, deletes and
 * batches, with gets, bounded scans in both directions, snapshots, memtable
 * flushes, compactions and reopens in between. A tiny memtable makes every
 * run flush and compact many times. SEED= replays a run. */
#include "test_util.h"

#include "db_internal.h" /* db_set_test_clock: TTL expiry without sleeping */

#include <stdatomic.h>

#define NKEYS 600
#define MAXV 300

typedef struct mval {
    int present;
    size_t len;
    uint8_t *data;
    int64_t expiry; /* 0: none */
} mval;

typedef struct model {
    mval v[NKEYS];
} model;

static void model_free(model *m) {
    for (int i = 0; i < NKEYS; i++) free(m->v[i].data);
    memset(m, 0, sizeof *m);
}

static void model_copy(model *dst, const model *src) {
    *dst = *src;
    for (int i = 0; i < NKEYS; i++)
        if (src->v[i].data) {
            dst->v[i].data = malloc(src->v[i].len ? src->v[i].len : 1);
            memcpy(dst->v[i].data, src->v[i].data, src->v[i].len);
        }
}

static void key_of(int i, char *buf) {
    snprintf(buf, 16, "k%05d", i);
}

/* The clock: the wall clock, or (fake_clock) one the test moves, which the
 * DB is given with db_set_test_clock before it opens (its compactions judge
 * TTLs by it from the start), so that expiry is exact. */
static int fake_clock;
static _Atomic int64_t fake_now = 1700000000000; /* the background threads read it too */

static int64_t test_clock(void *ctx) {
    (void)ctx;
    return atomic_load_explicit(&fake_now, memory_order_relaxed);
}

static int64_t now_ms(void) {
    return fake_clock ? atomic_load_explicit(&fake_now, memory_order_relaxed) : tu_now_ms();
}

/* 1: visible, 0: not, -1: too close to its expiry to tell (wall clock) */
static int model_visible(const mval *v, int64_t now) {
    if (!v->present) return 0;
    if (!v->expiry) return 1;
    if (fake_clock) return v->expiry > now;
    if (v->expiry > now + 2000) return 1;
    if (v->expiry < now - 50) return 0;
    return -1;
}

static void model_set(mval *v, const void *data, size_t len, int64_t expiry) {
    free(v->data);
    v->data = malloc(len ? len : 1);
    memcpy(v->data, data, len);
    v->len = len;
    v->present = 1;
    v->expiry = expiry;
}

static void model_del(mval *v) {
    free(v->data);
    memset(v, 0, sizeof *v);
}

static lsmlog_db *open_db(const char *dir) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.memtable_bytes = 4096 * 4;
    o.cache_bytes = 64 << 10;
    lsmlog_db *db = NULL;
    db_set_test_clock(fake_clock ? test_clock : NULL, NULL);
    CHECK_EQ_INT(lsmlog_db_open(dir, &o, &db), LSMLOG_OK);
    /* level 1 of 16 KiB and tables of 4 KiB: the few hundred KiB of the run
     * spread over levels 0-3, so background compactions between levels >= 1
     * (least-overlap picking, input expansion, grandparent and aligned
     * cuts) run too */
    db_set_shape(db, 16 << 10, 4 << 10);
    return db;
}

static void check_get(lsmlog_db *db, const lsmlog_snapshot *s, const model *m, int i) {
    char k[16];
    key_of(i, k);
    void *val = NULL;
    size_t len = 0;
    int64_t now = now_ms();
    int rc = lsmlog_db_get(db, s, k, strlen(k), &val, &len);
    int vis = model_visible(&m->v[i], now);
    if (vis < 0) {
        lsmlog_free(val);
        return;
    }
    if (vis) {
        CHECKF(rc == LSMLOG_OK, "get %s: rc %d, want a value of %zu bytes", k, rc, m->v[i].len);
        CHECKF(len == m->v[i].len && memcmp(val, m->v[i].data, len) == 0, "get %s: wrong value", k);
    } else {
        CHECKF(rc == LSMLOG_NOTFOUND, "get %s: rc %d, want NOTFOUND", k, rc);
    }
    lsmlog_free(val);
    CHECKF(lsmlog_db_get(db, s, k, strlen(k), NULL, NULL) == (vis ? LSMLOG_OK : LSMLOG_NOTFOUND),
           "existence test of %s", k);
}

/* Scans [lo, hi) of the key space in one direction and compares. */
static void check_scan(lsmlog_db *db, const lsmlog_snapshot *s, const model *m, int lo, int hi, int reverse) {
    char klo[16], khi[16];
    key_of(lo, klo);
    key_of(hi, khi);
    lsmlog_db_iter_opts o;
    lsmlog_db_iter_opts_init(&o);
    o.snapshot = s;
    o.start = klo;
    o.start_len = strlen(klo);
    o.stop = khi;
    o.stop_len = strlen(khi);
    lsmlog_db_iter *it = NULL;
    CHECK_EQ_INT(lsmlog_db_iter_open(db, &o, &it), LSMLOG_OK);
    int64_t now = now_ms();
    int rc = reverse ? lsmlog_db_iter_last(it) : lsmlog_db_iter_first(it);
    int i = reverse ? hi - 1 : lo;
    while (rc == LSMLOG_OK && lsmlog_db_iter_valid(it)) {
        size_t kl, vl;
        const char *k = lsmlog_db_iter_key(it, &kl);
        const void *v = lsmlog_db_iter_value(it, &vl);
        int at = kl == 6 ? (int)tu_atoi_n(k + 1, 5) : -1;
        CHECKF(at >= lo && at < hi, "scan key out of range: %.*s", (int)kl, k);
        /* every key the model shows between the last one and this one must be absent */
        while (i != at) {
            CHECKF(model_visible(&m->v[i], now) != 1, "scan skipped key %d (at %d)", i, at);
            i += reverse ? -1 : 1;
            CHECKF(i >= lo - 1 && i <= hi, "scan order broken at %d", at);
        }
        int vis = model_visible(&m->v[i], now);
        CHECKF(vis != 0, "scan shows key %d, which the model does not have", i);
        if (vis == 1) CHECKF(vl == m->v[i].len && memcmp(v, m->v[i].data, vl) == 0, "scan: wrong value for %d", i);
        i += reverse ? -1 : 1;
        rc = reverse ? lsmlog_db_iter_prev(it) : lsmlog_db_iter_next(it);
    }
    CHECK_EQ_INT(rc, LSMLOG_OK);
    for (; reverse ? i >= lo : i < hi; i += reverse ? -1 : 1)
        CHECKF(model_visible(&m->v[i], now) != 1, "scan missed key %d at the end", i);
    lsmlog_db_iter_close(it);
}

static void random_value(uint8_t *buf, size_t *len) {
    size_t n = tu_rand_below(8) == 0 ? 3000 + tu_rand_below(3000) : tu_rand_below(MAXV);
    uint64_t st = tu_rand();
    tu_fill_random(&st, buf, n);
    *len = n;
}

static void random_ops(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_db *db = open_db(dir);
    static model m, snapm;
    static uint8_t buf[8192];
    lsmlog_snapshot *snap = NULL;
    int steps = getenv("DB_STEPS") ? atoi(getenv("DB_STEPS")) : 8000;
    for (int step = 0; step < steps; step++) {
        if (fake_clock) atomic_fetch_add_explicit(&fake_now, (int64_t)tu_rand_below(8), memory_order_relaxed);
        int op = (int)tu_rand_below(1000);
        int i = (int)tu_rand_below(NKEYS);
        char k[16];
        key_of(i, k);
        size_t len;
        if (op < 450) {
            random_value(buf, &len);
            CHECK_EQ_INT(lsmlog_db_put(db, k, 6, buf, len), LSMLOG_OK);
            model_set(&m.v[i], buf, len, 0);
        } else if (op < 500) {
            random_value(buf, &len);
            int64_t ttl = fake_clock ? 1 + (int64_t)tu_rand_below(400) : tu_rand_below(2) ? 1 : 3600 * 1000;
            int64_t before = now_ms();
            CHECK_EQ_INT(lsmlog_db_put_ttl(db, k, 6, buf, len, ttl), LSMLOG_OK);
            model_set(&m.v[i], buf, len, before + ttl);
        } else if (op < 600) {
            CHECK_EQ_INT(lsmlog_db_delete(db, k, 6), LSMLOG_OK);
            model_del(&m.v[i]);
        } else if (op < 650) {
            lsmlog_batch *b = NULL;
            CHECK_EQ_INT(lsmlog_batch_new(&b), LSMLOG_OK);
            int n = 1 + (int)tu_rand_below(20);
            for (int j = 0; j < n; j++) {
                int x = (int)tu_rand_below(NKEYS);
                key_of(x, k);
                if (tu_rand_below(3)) {
                    random_value(buf, &len);
                    CHECK_EQ_INT(lsmlog_batch_put(b, k, 6, buf, len), LSMLOG_OK);
                    model_set(&m.v[x], buf, len, 0);
                } else {
                    CHECK_EQ_INT(lsmlog_batch_delete(b, k, 6), LSMLOG_OK);
                    model_del(&m.v[x]);
                }
            }
            CHECK_EQ_INT(lsmlog_batch_count(b), n);
            CHECK_EQ_INT(lsmlog_db_write(db, b), LSMLOG_OK);
            lsmlog_batch_free(b);
        } else if (op < 900) {
            check_get(db, NULL, &m, i);
        } else if (op < 930) {
            int lo = (int)tu_rand_below(NKEYS), hi = lo + (int)tu_rand_below(NKEYS - lo + 1);
            check_scan(db, NULL, &m, lo, hi, (int)tu_rand_below(2));
        } else if (op < 950) {
            if (snap) {
                for (int j = 0; j < 20; j++) check_get(db, snap, &snapm, (int)tu_rand_below(NKEYS));
                check_scan(db, snap, &snapm, 0, NKEYS, (int)tu_rand_below(2));
                lsmlog_db_snapshot_release(snap);
                model_free(&snapm);
                snap = NULL;
            } else {
                CHECK_EQ_INT(lsmlog_db_snapshot(db, &snap), LSMLOG_OK);
                model_copy(&snapm, &m);
            }
        } else if (op < 970) {
            CHECK_EQ_INT(lsmlog_db_flush_memtable(db), LSMLOG_OK);
        } else if (op < 985) {
            int lo = (int)tu_rand_below(NKEYS), hi = lo + (int)tu_rand_below(NKEYS - lo + 1);
            char klo[16], khi[16];
            key_of(lo, klo);
            key_of(hi, khi);
            if (tu_rand_below(2)) CHECK_EQ_INT(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL), LSMLOG_OK);
            else CHECK_EQ_INT(lsmlog_db_compact(db, klo, 6, khi, 6, NULL, NULL), LSMLOG_OK);
        } else if (!snap) {
            CHECK_EQ_INT(lsmlog_db_close(db), LSMLOG_OK);
            db = open_db(dir);
        }
    }
    if (snap) lsmlog_db_snapshot_release(snap);
    model_free(&snapm);
    check_scan(db, NULL, &m, 0, NKEYS, 0);
    lsmlog_db_stats st;
    CHECK_EQ_INT(lsmlog_db_get_stats(db, &st), LSMLOG_OK);
    int deepest = 0;
    for (int l = 0; l < LSMLOG_DB_LEVELS; l++)
        if (st.levels[l].files) deepest = l;
    CHECKF(steps < 4000 || deepest >= 2, "the run never reached level 2 (deepest %d): the shape is wrong", deepest);
    CHECK_EQ_INT(lsmlog_db_close(db), LSMLOG_OK);
    db = open_db(dir);
    for (int i = 0; i < NKEYS; i++) check_get(db, NULL, &m, i);
    check_scan(db, NULL, &m, 0, NKEYS, 1);
    CHECK_EQ_INT(lsmlog_db_close(db), LSMLOG_OK);
    model_free(&m);
    if (getenv("VERBOSE"))
        fprintf(stderr, "  flushes %llu compactions %llu moves %llu stalls %llu wamp %.2f deepest level %d\n",
                (unsigned long long)st.flushes, (unsigned long long)st.compactions,
                (unsigned long long)st.trivial_moves, (unsigned long long)st.stalls, st.write_amp, deepest);
}

static void case_random_ops(void) {
    fake_clock = 0;
    random_ops();
}

/* The same with a clock the test moves: TTLs of 1-400 ms expire exactly when
 * the model says, in memtables, tables, snapshots and compactions. */
static void case_random_ops_ttl_clock(void) {
    fake_clock = 1;
    random_ops();
    fake_clock = 0;
}

int main(void) {
    tu_init("test_db_model");
    TU_CASE(case_random_ops);
    TU_CASE(case_random_ops_ttl_clock);
    return tu_finish();
}
