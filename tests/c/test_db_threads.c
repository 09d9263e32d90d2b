/* test_db_threads.c — one DB handle shared by 4 writer threads (single puts,
 * deletes and batches), 2 reader threads (gets, iterators, snapshots) and the
 * background flushes and compactions a small memtable sets off. Run under
 * ThreadSanitizer by scripts/test.sh.
 *
 * What must hold:
 *  - an acknowledged write is seen by every read that starts after it, from
 *    any thread (writers publish how far they got; readers check up to there);
 *  - a batch is seen whole or not at all: each writer keeps a pair of keys
 *    (A<t>, B<t>) that every batch sets to the same counter, and adds two keys
 *    P<t>-<j>-a and P<t>-<j>-b together; no snapshot, iterator or get through
 *    a snapshot may show one without the other, and a writer's counter never
 *    goes back in the eyes of one reader;
 *  - iterators return strictly increasing keys (no duplicate, nothing twice);
 *  - at the end, every write is there exactly once (gets, a full scan, and
 *    again after a reopen);
 *  - nobody waits for ever: writer 0 runs manual range compactions and
 *    writer 1 memtable flushes while the others may stall on a full level 0
 *    (a manual compaction that drained level 0 used to wake no stalled
 *    writer; the watchdog turns such a hang into a failure).
 * THREAD_OPS= scales the run (ops per writer: 4000, 2500 under TSan; 10000
 * reproduced that hang in about a third of runs before its fix);
 * SEED= replays the values. WATCHDOG_S= (default 240) turns a hang into a
 * failure. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "test_util.h"

/* The harness counts checks in a plain global; these threads check too, so
 * the checks are redefined here to count atomically (added up at the end). */
static _Atomic unsigned long g_checks;
#undef CHECK
#undef CHECKF
#undef CHECK_EQ_INT
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        atomic_fetch_add_explicit(&g_checks, 1, memory_order_relaxed);                             \
        if (!(cond)) tu_fail(__FILE__, __LINE__, #cond, "");                                       \
    } while (0)
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        atomic_fetch_add_explicit(&g_checks, 1, memory_order_relaxed);                             \
        if (!(cond)) {                                                                             \
            char tu_buf_[1536];                                                                    \
            snprintf(tu_buf_, sizeof tu_buf_, __VA_ARGS__);                                        \
            tu_fail(__FILE__, __LINE__, #cond, tu_buf_);                                           \
        }                                                                                          \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long tu_a_ = (long long)(a), tu_b_ = (long long)(b);                                  \
        CHECKF(tu_a_ == tu_b_, "%s == %s: left = %lld (%s), right = %lld (%s)", #a, #b, tu_a_,      \
               tu_status_name((int)tu_a_), tu_b_, tu_status_name((int)tu_b_));                     \
    } while (0)

#define WRITERS 4
#define READERS 2

static lsmlog_db *g_db;
#if defined(__SANITIZE_THREAD__)
static int g_ops = 2500; /* ThreadSanitizer makes each op ~10x dearer */
#else
static int g_ops = 4000;
#endif
static _Atomic uint64_t g_acked[WRITERS];   /* single puts S<t>-<i> with i < this are acknowledged */
static _Atomic uint64_t g_pairs[WRITERS];   /* batches j < this are acknowledged */
static _Atomic int g_writers_done;
static _Atomic uint64_t g_reader_checks[READERS];

static void skey(int t, uint64_t i, char *k) {
    snprintf(k, 32, "S%d-%06llu", t, (unsigned long long)i);
}
static void pkey(int t, uint64_t j, char ab, char *k) {
    snprintf(k, 32, "P%d-%06llu-%c", t, (unsigned long long)j, ab);
}
/* S<t>-<i> is deleted when i % 10 == 3 (by the writer, later) */
static int deleted(uint64_t i) {
    return i % 10 == 3;
}
static size_t sval(int t, uint64_t i, char *v) {
    uint64_t h = tu_hash2(tu_seed + (uint64_t)t, i);
    size_t n = 16 + (size_t)(h % 200);
    int w = snprintf(v, 64, "S%d-%llu:", t, (unsigned long long)i);
    for (size_t x = (size_t)w; x < n; x++) v[x] = (char)('a' + (h >> (x % 50)) % 26);
    return n;
}

/* Fails from any thread: CHECK exits the process, which is what we want. */

static void *writer_main(void *arg) {
    int t = (int)(intptr_t)arg;
    char k[32], k2[32], v[256], cnt[32];
    lsmlog_batch *b = NULL;
    CHECK_OK(lsmlog_batch_new(&b));
    uint64_t i = 0, j = 0;
    uint64_t st = tu_seed ^ (uint64_t)(t + 1) * 0x9E3779B97F4A7C15ull;
    for (int op = 0; op < g_ops; op++) {
        int r = (int)(tu_splitmix64(&st) % 100);
        if (r < 55) { /* a single put */
            skey(t, i, k);
            size_t n = sval(t, i, v);
            CHECK_OK(lsmlog_db_put(g_db, k, strlen(k), v, n));
            i++;
            atomic_store_explicit(&g_acked[t], i, memory_order_release);
        } else if (r < 90) { /* a batch: the pair and two new keys, together */
            lsmlog_batch_clear(b);
            snprintf(cnt, sizeof cnt, "%llu", (unsigned long long)j);
            snprintf(k, sizeof k, "A%d", t);
            snprintf(k2, sizeof k2, "B%d", t);
            CHECK_OK(lsmlog_batch_put(b, k, strlen(k), cnt, strlen(cnt)));
            pkey(t, j, 'a', k);
            CHECK_OK(lsmlog_batch_put(b, k, strlen(k), cnt, strlen(cnt)));
            /* some filler so that batches differ in size (group commit merges them) */
            size_t n = (size_t)(tu_splitmix64(&st) % 200);
            memset(v, 'f', n);
            CHECK_OK(lsmlog_batch_put(b, "filler", 6, v, n));
            pkey(t, j, 'b', k);
            CHECK_OK(lsmlog_batch_put(b, k, strlen(k), cnt, strlen(cnt)));
            CHECK_OK(lsmlog_batch_put(b, k2, strlen(k2), cnt, strlen(cnt)));
            CHECK_OK(lsmlog_db_write(g_db, b));
            j++;
            atomic_store_explicit(&g_pairs[t], j, memory_order_release);
        } else if (r < 97) { /* delete an older single key (i % 10 == 3 only) */
            if (i > 20) {
                uint64_t d = i - 1 - (tu_splitmix64(&st) % 20);
                d = d - d % 10 + 3;
                if (d < i) {
                    skey(t, d, k);
                    CHECK_OK(lsmlog_db_delete(g_db, k, strlen(k)));
                }
            }
        } else if (r < 98) { /* a put with a long TTL: visible like a put */
            snprintf(k, sizeof k, "T%d", t);
            CHECK_OK(lsmlog_db_put_ttl(g_db, k, strlen(k), "ttl", 3, 3600 * 1000));
        } else if (t == 0) { /* now and then a manual compaction of a range (writers stall meanwhile) */
            char lo[8], hi[8];
            snprintf(lo, sizeof lo, "S%d", (int)(tu_splitmix64(&st) % WRITERS));
            snprintf(hi, sizeof hi, "S%c", lo[1] + 1);
            CHECK_OK(lsmlog_db_compact(g_db, lo, 2, hi, 2, NULL, NULL));
        } else if (t == 1) {
            CHECK_OK(lsmlog_db_flush_memtable(g_db));
        }
    }
    /* the deletes the model expects: every i % 10 == 3 below i */
    for (uint64_t d = 3; d < i; d += 10) {
        skey(t, d, k);
        CHECK_OK(lsmlog_db_delete(g_db, k, strlen(k)));
    }
    lsmlog_batch_free(b);
    atomic_fetch_add(&g_writers_done, 1);
    return NULL;
}

static uint64_t parse_u64(const void *p, size_t n) {
    char buf[32];
    CHECKF(n > 0 && n < sizeof buf, "a counter of %zu bytes", n);
    memcpy(buf, p, n);
    buf[n] = 0;
    return strtoull(buf, NULL, 10);
}

/* The pair of writer t as of snap: both absent or both the same counter. */
static int64_t read_pair(const lsmlog_snapshot *snap, int t) {
    char ka[8], kb[8];
    snprintf(ka, sizeof ka, "A%d", t);
    snprintf(kb, sizeof kb, "B%d", t);
    void *va = NULL, *vb = NULL;
    size_t la = 0, lb = 0;
    int ra = lsmlog_db_get(g_db, snap, ka, strlen(ka), &va, &la);
    int rb = lsmlog_db_get(g_db, snap, kb, strlen(kb), &vb, &lb);
    CHECKF(ra == rb, "writer %d: A %d, B %d under one snapshot", t, ra, rb);
    int64_t c = -1;
    if (ra == LSMLOG_OK) {
        uint64_t a = parse_u64(va, la), bb = parse_u64(vb, lb);
        CHECKF(a == bb, "writer %d: A = %llu, B = %llu under one snapshot", t, (unsigned long long)a,
               (unsigned long long)bb);
        c = (int64_t)a;
    } else {
        CHECK_EQ_INT(ra, LSMLOG_NOTFOUND);
    }
    lsmlog_free(va);
    lsmlog_free(vb);
    return c;
}

/* A full scan: strictly increasing keys, pairs whole, counters consistent. */
static void check_scan(const lsmlog_snapshot *snap, int64_t *pair_seen) {
    lsmlog_db_iter_opts o;
    lsmlog_db_iter_opts_init(&o);
    o.snapshot = snap;
    lsmlog_db_iter *it = NULL;
    CHECK_OK(lsmlog_db_iter_open(g_db, &o, &it));
    char prev[64] = "";
    size_t prev_len = 0;
    int have_prev = 0;
    int64_t a[WRITERS], bcount[WRITERS], pa[WRITERS], pb[WRITERS];
    for (int t = 0; t < WRITERS; t++) a[t] = bcount[t] = -1, pa[t] = pb[t] = 0;
    char pending_a[64] = "";
    CHECK_OK(lsmlog_db_iter_first(it));
    while (lsmlog_db_iter_valid(it)) {
        size_t kl, vl;
        const char *k = lsmlog_db_iter_key(it, &kl);
        const char *v = lsmlog_db_iter_value(it, &vl);
        CHECKF(kl < sizeof prev, "a key of %zu bytes", kl);
        if (have_prev) {
            size_t m = kl < prev_len ? kl : prev_len;
            int c = memcmp(prev, k, m);
            CHECKF(c < 0 || (c == 0 && prev_len < kl), "scan not increasing: %.*s then %.*s", (int)prev_len, prev,
                   (int)kl, k);
        }
        memcpy(prev, k, kl);
        prev_len = kl;
        have_prev = 1;
        if (kl == 2 && (k[0] == 'A' || k[0] == 'B')) {
            int t = k[1] - '0';
            CHECK(t >= 0 && t < WRITERS);
            (k[0] == 'A' ? a : bcount)[t] = (int64_t)parse_u64(v, vl);
        } else if (k[0] == 'P') {
            int t = k[1] - '0';
            CHECK(t >= 0 && t < WRITERS);
            if (k[kl - 1] == 'a') {
                CHECKF(pending_a[0] == 0, "P key %s without its b", pending_a);
                snprintf(pending_a, sizeof pending_a, "%.*s", (int)kl, k);
                pa[t]++;
            } else {
                CHECKF(pending_a[0] && memcmp(pending_a, k, kl - 1) == 0, "P key %.*s without its a (pending %s)",
                       (int)kl, k, pending_a);
                pending_a[0] = 0;
                pb[t]++;
            }
        } else if (k[0] == 'S') {
            int t = k[1] - '0';
            uint64_t i = strtoull(k + 3, NULL, 10);
            char want[256];
            size_t n = sval(t, i, want);
            CHECKF(vl == n && memcmp(v, want, n) == 0, "scan: wrong value for %.*s", (int)kl, k);
        }
        CHECK_OK(lsmlog_db_iter_next(it));
    }
    CHECKF(pending_a[0] == 0, "P key %s without its b at the end", pending_a);
    lsmlog_db_iter_close(it);
    for (int t = 0; t < WRITERS; t++) {
        CHECKF(a[t] == bcount[t], "writer %d: scan shows A = %lld, B = %lld", t, (long long)a[t],
               (long long)bcount[t]);
        /* batches 0..a are there, and no later one */
        CHECKF(pa[t] == a[t] + 1, "writer %d: %lld P pairs, counter %lld", t, (long long)pa[t], (long long)a[t]);
        if (pair_seen) {
            CHECKF(a[t] >= pair_seen[t], "writer %d: counter went back from %lld to %lld", t, (long long)pair_seen[t],
                   (long long)a[t]);
            pair_seen[t] = a[t];
        }
    }
}

static void *reader_main(void *arg) {
    int r = (int)(intptr_t)arg;
    uint64_t st = tu_seed ^ (uint64_t)(r + 101) * 0xD1B54A32D192ED03ull;
    int64_t seen[WRITERS], scan_seen[WRITERS];
    for (int t = 0; t < WRITERS; t++) seen[t] = scan_seen[t] = -1;
    char k[32], want[256];
    uint64_t checks = 0;
    while (atomic_load(&g_writers_done) < WRITERS) {
        int op = (int)(tu_splitmix64(&st) % 100);
        if (op < 60) { /* acknowledged single puts are visible */
            int t = (int)(tu_splitmix64(&st) % WRITERS);
            uint64_t acked = atomic_load_explicit(&g_acked[t], memory_order_acquire);
            if (!acked) continue;
            uint64_t i = tu_splitmix64(&st) % acked;
            if (tu_splitmix64(&st) % 4 == 0) i = acked - 1; /* the newest */
            if (deleted(i)) continue;                        /* may or may not be deleted yet */
            skey(t, i, k);
            void *v = NULL;
            size_t vl = 0;
            int rc = lsmlog_db_get(g_db, NULL, k, strlen(k), &v, &vl);
            CHECKF(rc == LSMLOG_OK, "reader %d: acknowledged %s: %d (%s)", r, k, rc, tu_status_name(rc));
            size_t n = sval(t, i, want);
            CHECKF(vl == n && memcmp(v, want, n) == 0, "reader %d: wrong value for %s", r, k);
            lsmlog_free(v);
        } else if (op < 85) { /* the pairs: under the latest view and a snapshot */
            int t = (int)(tu_splitmix64(&st) % WRITERS);
            uint64_t acked = atomic_load_explicit(&g_pairs[t], memory_order_acquire);
            lsmlog_snapshot *snap = NULL;
            CHECK_OK(lsmlog_db_snapshot(g_db, &snap));
            int64_t c = read_pair(snap, t);
            CHECKF(c + 1 >= (int64_t)acked, "reader %d: writer %d acknowledged %llu batches, snapshot shows %lld", r,
                   t, (unsigned long long)acked, (long long)c);
            CHECKF(c >= seen[t], "reader %d: writer %d's counter went back from %lld to %lld", r, t,
                   (long long)seen[t], (long long)c);
            seen[t] = c;
            /* the batch's own keys agree with the pair, through the same snapshot */
            if (c >= 0) {
                pkey(t, (uint64_t)c, 'a', k);
                CHECK_EQ_INT(lsmlog_db_get(g_db, snap, k, strlen(k), NULL, NULL), LSMLOG_OK);
                pkey(t, (uint64_t)c, 'b', k);
                CHECK_EQ_INT(lsmlog_db_get(g_db, snap, k, strlen(k), NULL, NULL), LSMLOG_OK);
            }
            pkey(t, (uint64_t)(c + 1), 'a', k);
            CHECK_EQ_INT(lsmlog_db_get(g_db, snap, k, strlen(k), NULL, NULL), LSMLOG_NOTFOUND);
            pkey(t, (uint64_t)(c + 1), 'b', k);
            CHECK_EQ_INT(lsmlog_db_get(g_db, snap, k, strlen(k), NULL, NULL), LSMLOG_NOTFOUND);
            /* let writes and compactions pass under the snapshot, then look again */
            if (tu_splitmix64(&st) % 4 == 0) {
                tu_sleep_ms(2);
                CHECK_EQ_INT(read_pair(snap, t), c);
            }
            lsmlog_db_snapshot_release(snap);
        } else if (op < 95) { /* a full scan, as of its opening or of a snapshot */
            lsmlog_snapshot *snap = NULL;
            if (op % 2) CHECK_OK(lsmlog_db_snapshot(g_db, &snap));
            check_scan(snap, scan_seen);
            if (snap) {
                check_scan(snap, NULL); /* the same snapshot again, later */
                lsmlog_db_snapshot_release(snap);
            }
        } else if (op < 98) { /* bounded scans of one writer's P keys, both ways */
            int t = (int)(tu_splitmix64(&st) % WRITERS);
            char prefix[8];
            snprintf(prefix, sizeof prefix, "P%d-", t);
            lsmlog_db_iter_opts o;
            lsmlog_db_iter_opts_init(&o);
            o.prefix = prefix;
            o.prefix_len = strlen(prefix);
            lsmlog_db_iter *it = NULL;
            CHECK_OK(lsmlog_db_iter_open(g_db, &o, &it));
            CHECK_OK(lsmlog_db_iter_last(it));
            uint64_t n = 0;
            char expect = 'b';
            while (lsmlog_db_iter_valid(it)) {
                size_t kl;
                const char *pk = lsmlog_db_iter_key(it, &kl);
                CHECKF(pk[kl - 1] == expect, "reverse scan of %s: %.*s out of pairs", prefix, (int)kl, pk);
                expect = expect == 'a' ? 'b' : 'a';
                n++;
                CHECK_OK(lsmlog_db_iter_prev(it));
            }
            CHECKF(n % 2 == 0, "reverse scan of %s: %llu keys", prefix, (unsigned long long)n);
            lsmlog_db_iter_close(it);
        } else {
            lsmlog_db_stats s;
            CHECK_OK(lsmlog_db_get_stats(g_db, &s));
        }
        checks++;
    }
    atomic_store(&g_reader_checks[r], checks);
    return NULL;
}

static void check_final(lsmlog_db *db) {
    char k[32], want[256];
    for (int t = 0; t < WRITERS; t++) {
        uint64_t n = atomic_load(&g_acked[t]);
        for (uint64_t i = 0; i < n; i++) {
            skey(t, i, k);
            void *v = NULL;
            size_t vl = 0;
            int rc = lsmlog_db_get(db, NULL, k, strlen(k), &v, &vl);
            if (deleted(i)) {
                CHECKF(rc == LSMLOG_NOTFOUND, "%s: %d, want deleted", k, rc);
            } else {
                CHECKF(rc == LSMLOG_OK, "%s: %d (%s)", k, rc, tu_status_name(rc));
                size_t wn = sval(t, i, want);
                CHECKF(vl == wn && memcmp(v, want, wn) == 0, "%s: wrong value", k);
            }
            lsmlog_free(v);
        }
        CHECK_EQ_INT(read_pair(NULL, t), (int64_t)atomic_load(&g_pairs[t]) - 1);
    }
    int64_t seen[WRITERS];
    for (int t = 0; t < WRITERS; t++) seen[t] = (int64_t)atomic_load(&g_pairs[t]) - 1;
    check_scan(NULL, seen);
    for (int t = 0; t < WRITERS; t++) CHECK_EQ_INT(seen[t], (int64_t)atomic_load(&g_pairs[t]) - 1);
    /* the total: S keys not deleted, 2 per batch, A/B, filler, T keys */
    uint64_t want_total = 1; /* filler */
    for (int t = 0; t < WRITERS; t++) {
        uint64_t n = atomic_load(&g_acked[t]);
        want_total += n - (n + 6) / 10;
        uint64_t p = atomic_load(&g_pairs[t]);
        want_total += 2 * p + (p ? 2 : 0);
    }
    lsmlog_db_iter *it = NULL;
    CHECK_OK(lsmlog_db_iter_open(db, NULL, &it));
    uint64_t total = 0, tkeys = 0;
    CHECK_OK(lsmlog_db_iter_first(it));
    while (lsmlog_db_iter_valid(it)) {
        size_t kl;
        const char *kk = lsmlog_db_iter_key(it, &kl);
        if (kk[0] == 'T') tkeys++;
        total++;
        CHECK_OK(lsmlog_db_iter_next(it));
    }
    lsmlog_db_iter_close(it);
    CHECKF(total - tkeys == want_total, "%llu keys (%llu T), want %llu + T", (unsigned long long)total,
           (unsigned long long)tkeys, (unsigned long long)want_total);
}

static void case_threads(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.memtable_bytes = 128 << 10;
    o.cache_bytes = 256 << 10;
    CHECK_OK(lsmlog_db_open(dir, &o, &g_db));
    pthread_t w[WRITERS], r[READERS];
    double t0 = tu_mono_ms();
    for (int i = 0; i < READERS; i++) CHECK(pthread_create(&r[i], NULL, reader_main, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < WRITERS; i++) CHECK(pthread_create(&w[i], NULL, writer_main, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < WRITERS; i++) pthread_join(w[i], NULL);
    for (int i = 0; i < READERS; i++) pthread_join(r[i], NULL);
    double t1 = tu_mono_ms();
    lsmlog_db_stats st;
    CHECK_OK(lsmlog_db_get_stats(g_db, &st));
    check_final(g_db);
    CHECK_OK(lsmlog_db_close(g_db));
    CHECK_OK(lsmlog_db_open(dir, &o, &g_db));
    check_final(g_db);
    CHECK_OK(lsmlog_db_compact(g_db, NULL, 0, NULL, 0, NULL, NULL));
    check_final(g_db);
    CHECK_OK(lsmlog_db_close(g_db));
    g_db = NULL;
    if (getenv("VERBOSE"))
        fprintf(stderr,
                "  %.0f ms; reader checks %llu + %llu; flushes %llu compactions %llu moves %llu stalls %llu; "
                "L0 %llu L1 %llu L2 %llu\n",
                t1 - t0, (unsigned long long)g_reader_checks[0], (unsigned long long)g_reader_checks[1],
                (unsigned long long)st.flushes, (unsigned long long)st.compactions,
                (unsigned long long)st.trivial_moves, (unsigned long long)st.stalls,
                (unsigned long long)st.levels[0].files, (unsigned long long)st.levels[1].files,
                (unsigned long long)st.levels[2].files);
    CHECK(st.flushes > 2);
    for (int i = 0; i < READERS; i++) CHECK(g_reader_checks[i] > 0);
}

/* A hang (a writer waiting for a wakeup that never comes) fails the test
 * with a message instead of running into the ctest timeout. */
static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_db_threads: no progress for the watchdog's time: a hang (lost wakeup?)\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    abort();
}

int main(void) {
    tu_init("test_db_threads");
    signal(SIGALRM, on_alarm);
    alarm(getenv("WATCHDOG_S") ? (unsigned)atoi(getenv("WATCHDOG_S")) : 240);
    if (getenv("THREAD_OPS")) g_ops = atoi(getenv("THREAD_OPS"));
    TU_CASE(case_threads);
    tu_checks += atomic_load(&g_checks);
    return tu_finish();
}
