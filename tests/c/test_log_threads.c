/* test_log_threads.c — one Log handle shared by threads.
 *
 * Four appender threads (a mix of single appends and batches) race on one
 * handle while three reader threads tail it with their own iterators and
 * lsmlog_log_wait. Every value names its writer and sequence number (thread
 * id, seq) and the rest of its bytes derive from those, so any reader can
 * check a value on its own. At the end:
 *  - the offsets handed to appenders are exactly 0..N-1, each once, and each
 *    thread's own records got rising offsets (a batch: contiguous ones);
 *  - every reader saw every offset 0..N-1 once, in order, each value intact
 *    and the one its appender wrote at that offset;
 *  - a reopened handle reads the same.
 * Run with durability sync (group commit), os and buffered. Then a get()
 * hammer: four threads reading random offsets while a fifth appends. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "test_util.h"

#define APPENDERS 4
#define READERS 3
#define GETTERS 4
#define MAX_FILL 64

/* ---- self-describing values ------------------------------------------------ */

/* value := u32 tid, u32 seq, fill bytes derived from (tid, seq) */
static size_t make_value(uint32_t tid, uint32_t seq, unsigned char *buf) {
    uint64_t st = tu_hash2(tu_seed ^ ((uint64_t)tid << 32), seq);
    size_t fill = (size_t)(tu_splitmix64(&st) % (MAX_FILL + 1));
    tu_put_u32(buf, tid);
    tu_put_u32(buf + 4, seq);
    tu_fill_random(&st, buf + 8, fill);
    return 8 + fill;
}
static int64_t ts_of(uint32_t tid, uint32_t seq) {
    return 1000000 * (int64_t)tid + seq;
}

/* 1 if (value, ts) is a well-formed value; its tid and seq in *tid, *seq. */
static int check_value(const void *v, size_t len, int64_t ts, uint32_t *tid, uint32_t *seq) {
    if (len < 8) return 0;
    *tid = tu_get_u32(v);
    *seq = tu_get_u32((const unsigned char *)v + 4);
    unsigned char want[8 + MAX_FILL];
    size_t wl = make_value(*tid, *seq, want);
    return wl == len && memcmp(v, want, len) == 0 && ts == ts_of(*tid, *seq);
}

/* ---- one run ------------------------------------------------------------------ */

typedef struct run {
    lsmlog_log *log;
    uint32_t per_thread; /* records per appender */
    uint64_t total;      /* APPENDERS * per_thread */
    uint32_t *owner_tid; /* [offset]: written by appenders (each offset by one) */
    uint32_t *owner_seq;
    _Atomic int appenders_done;
    _Atomic int failed; /* a thread's failure code; threads report, main checks */
    char why[256];
} run;

typedef struct thread_arg {
    run *r;
    uint32_t tid;
    uint64_t seed;
    /* readers: what they saw */
    uint32_t *seen_tid, *seen_seq;
    uint64_t seen, waits, timeouts;
} thread_arg;

/* Threads do not exit on failure: the first one records why, all stop, and
 * the main thread reports it. */
__attribute__((format(printf, 2, 3))) static void fail_run(run *r, const char *fmt, ...) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&r->failed, &expected, 1)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why, sizeof r->why, fmt, ap);
        va_end(ap);
    }
}

static void *appender_main(void *p) {
    thread_arg *a = p;
    run *r = a->r;
    uint64_t st = a->seed;
    uint64_t last = 0;
    int any = 0;
    uint32_t seq = 0;
    unsigned char vals[5][8 + MAX_FILL];
    while (seq < r->per_thread && !atomic_load(&r->failed)) {
        uint32_t k = 1 + (uint32_t)(tu_splitmix64(&st) % 5);
        if (k > r->per_thread - seq) k = r->per_thread - seq;
        lsmlog_entry e[5];
        for (uint32_t i = 0; i < k; i++) {
            e[i].len = make_value(a->tid, seq + i, vals[i]);
            e[i].data = vals[i];
            e[i].ts = ts_of(a->tid, seq + i);
        }
        uint64_t first = UINT64_MAX;
        int rc;
        if (k == 1 && (tu_splitmix64(&st) & 1))
            rc = lsmlog_log_append(r->log, e[0].data, e[0].len, e[0].ts, &first);
        else
            rc = lsmlog_log_append_batch(r->log, e, k, &first);
        if (rc != LSMLOG_OK) {
            fail_run(r, "append failed: %d (%s), thread %u: %s", rc, tu_status_name(rc), a->tid,
                     lsmlog_errmsg());
            break;
        }
        if (first + k > r->total) {
            fail_run(r, "offset %" PRIu64 " beyond the %" PRIu64 " records written", first,
                     r->total);
            break;
        }
        if (any && first <= last) {
            fail_run(r, "a thread's offsets went back: %" PRIu64 " after %" PRIu64, first, last);
            break;
        }
        for (uint32_t i = 0; i < k; i++) {
            r->owner_tid[first + i] = a->tid;
            r->owner_seq[first + i] = seq + i;
        }
        last = first + k - 1;
        any = 1;
        seq += k;
    }
    return NULL;
}

static void *reader_main(void *p) {
    thread_arg *a = p;
    run *r = a->r;
    lsmlog_log_iter *it = NULL;
    if (lsmlog_log_iter_open(r->log, NULL, &it) != LSMLOG_OK) {
        fail_run(r, "iter_open failed (reader %u)", a->tid);
        return NULL;
    }
    uint64_t next = 0;
    int idle = 0;
    while (next < r->total && !atomic_load(&r->failed)) {
        lsmlog_record rec;
        int rc = lsmlog_log_iter_next(it, &rec);
        if (rc == LSMLOG_NOTFOUND) {
            a->waits++;
            rc = lsmlog_log_wait(r->log, next, 2000);
            if (rc == LSMLOG_TIMEOUT) {
                a->timeouts++;
                /* the appenders are done or stuck, and nothing came in 5 x 2 s */
                if (++idle >= 5) {
                    fail_run(r, "a reader stalled at offset %" PRIu64 " of %" PRIu64, next,
                             r->total);
                    break;
                }
            } else if (rc != LSMLOG_OK) {
                fail_run(r, "wait failed: %d (%s) at %" PRIu64, rc, tu_status_name(rc), next);
                break;
            }
            continue;
        }
        idle = 0;
        if (rc != LSMLOG_OK) {
            fail_run(r, "iter_next failed: %d (%s) at %" PRIu64 ": %s", rc, tu_status_name(rc),
                     next, lsmlog_errmsg());
            break;
        }
        if (rec.offset != next) {
            fail_run(r, "reader got offset %" PRIu64 ", expected %" PRIu64, rec.offset, next);
            break;
        }
        uint32_t tid, seq;
        if (!check_value(rec.value, rec.len, rec.timestamp, &tid, &seq)) {
            fail_run(r, "reader got a damaged value at offset %" PRIu64 " (len %zu)", next,
                     rec.len);
            break;
        }
        a->seen_tid[next] = tid;
        a->seen_seq[next] = seq;
        next++;
    }
    a->seen = next;
    lsmlog_log_iter_close(it);
    return NULL;
}

static void check_run_failed(run *r) {
    CHECKF(!atomic_load(&r->failed), "%s", r->why);
}

static void tail_run(const char *name, int durability, uint32_t per_thread) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/log", tu_mkdtemp());
    lsmlog_options o = tu_opts(durability, 64 * 1024);
    run r;
    memset(&r, 0, sizeof r);
    CHECK_OK(lsmlog_log_open(dir, &o, &r.log));
    r.per_thread = per_thread;
    r.total = (uint64_t)APPENDERS * per_thread;
    r.owner_tid = calloc(r.total, sizeof *r.owner_tid);
    r.owner_seq = calloc(r.total, sizeof *r.owner_seq);

    thread_arg ap[APPENDERS], rd[READERS];
    pthread_t apt[APPENDERS], rdt[READERS];
    double t0 = tu_mono_ms();
    for (int i = 0; i < READERS; i++) {
        memset(&rd[i], 0, sizeof rd[i]);
        rd[i].r = &r;
        rd[i].tid = (uint32_t)i;
        rd[i].seen_tid = calloc(r.total, sizeof(uint32_t));
        rd[i].seen_seq = calloc(r.total, sizeof(uint32_t));
        CHECK(pthread_create(&rdt[i], NULL, reader_main, &rd[i]) == 0);
    }
    for (int i = 0; i < APPENDERS; i++) {
        memset(&ap[i], 0, sizeof ap[i]);
        ap[i].r = &r;
        ap[i].tid = (uint32_t)i + 1;
        ap[i].seed = tu_rand();
        CHECK(pthread_create(&apt[i], NULL, appender_main, &ap[i]) == 0);
    }
    for (int i = 0; i < APPENDERS; i++)
        pthread_join(apt[i], NULL);
    atomic_store(&r.appenders_done, 1);
    double t_app = tu_mono_ms() - t0;
    for (int i = 0; i < READERS; i++)
        pthread_join(rdt[i], NULL);
    check_run_failed(&r);

    /* offsets 0..N-1, each handed out once, in each thread's order */
    uint64_t end = 0;
    CHECK_OK(lsmlog_log_bounds(r.log, NULL, &end));
    CHECK_EQ_U64(end, r.total);
    uint32_t *next_seq = calloc(APPENDERS + 1, sizeof *next_seq);
    for (uint64_t off = 0; off < r.total; off++) {
        uint32_t tid = r.owner_tid[off];
        CHECKF(tid >= 1 && tid <= APPENDERS, "offset %" PRIu64 " handed to no appender", off);
        CHECKF(r.owner_seq[off] == next_seq[tid], "offset %" PRIu64 ": thread %u seq %u, want %u",
               off, tid, r.owner_seq[off], next_seq[tid]);
        next_seq[tid]++;
    }
    for (uint32_t t = 1; t <= APPENDERS; t++)
        CHECK_EQ_U64(next_seq[t], per_thread);
    free(next_seq);

    /* each reader saw exactly what was written at each offset */
    uint64_t waits = 0;
    for (int i = 0; i < READERS; i++) {
        CHECK_EQ_U64(rd[i].seen, r.total);
        for (uint64_t off = 0; off < r.total; off++)
            CHECKF(rd[i].seen_tid[off] == r.owner_tid[off] &&
                       rd[i].seen_seq[off] == r.owner_seq[off],
                   "reader %d at offset %" PRIu64 ": (%u,%u), appender wrote (%u,%u)", i, off,
                   rd[i].seen_tid[off], rd[i].seen_seq[off], r.owner_tid[off], r.owner_seq[off]);
        waits += rd[i].waits;
    }
    CHECK_OK(lsmlog_log_close(r.log));

    /* and so does a new handle */
    lsmlog_log *log = NULL;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &it));
    for (uint64_t off = 0; off < r.total; off++) {
        lsmlog_record rec;
        CHECK_OK(lsmlog_log_iter_next(it, &rec));
        CHECK_EQ_U64(rec.offset, off);
        uint32_t tid, seq;
        CHECK(check_value(rec.value, rec.len, rec.timestamp, &tid, &seq));
        CHECK(tid == r.owner_tid[off] && seq == r.owner_seq[off]);
    }
    lsmlog_log_iter_close(it);
    uint64_t count = 0;
    CHECK_OK(lsmlog_log_verify(log, &count));
    CHECK_EQ_U64(count, r.total);
    CHECK_OK(lsmlog_log_close(log));

    printf("  %s: %" PRIu64 " records by %d appenders in %.0f ms, %d readers each saw all "
           "(%" PRIu64 " waits)\n",
           name, r.total, APPENDERS, t_app, READERS, waits);
    fflush(stdout);
    for (int i = 0; i < READERS; i++) {
        free(rd[i].seen_tid);
        free(rd[i].seen_seq);
    }
    free(r.owner_tid);
    free(r.owner_seq);
}

static void case_tail_sync(void) {
    tail_run("sync", LSMLOG_DURABILITY_SYNC, 1500);
}
static void case_tail_os(void) {
    tail_run("os", LSMLOG_DURABILITY_OS, 20000);
}
static void case_tail_buffered(void) {
    tail_run("buffered", LSMLOG_DURABILITY_BUFFERED, 10000);
}

/* ---- get() hammer ------------------------------------------------------------- */

typedef struct hammer {
    lsmlog_log *log;
    uint64_t base_end; /* records written before the hammer started */
    _Atomic int stop;
    _Atomic int failed;
    char why[256];
} hammer;

typedef struct getter_arg {
    hammer *h;
    uint64_t seed;
    uint64_t gets, found, notfound;
} getter_arg;

__attribute__((format(printf, 2, 3))) static void hammer_fail(hammer *h, const char *fmt, ...) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&h->failed, &expected, 1)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(h->why, sizeof h->why, fmt, ap);
        va_end(ap);
    }
}

static void *getter_main(void *p) {
    getter_arg *g = p;
    hammer *h = g->h;
    uint64_t st = g->seed;
    while (!atomic_load(&h->stop) && !atomic_load(&h->failed)) {
        uint64_t end = 0;
        if (lsmlog_log_bounds(h->log, NULL, &end) != LSMLOG_OK) {
            hammer_fail(h, "bounds failed: %s", lsmlog_errmsg());
            break;
        }
        /* mostly below the end seen (must be there), sometimes just past it */
        uint64_t off = tu_splitmix64(&st) % (end + 8);
        int64_t ts = 0;
        void *v = NULL;
        size_t len = 0;
        int rc = lsmlog_log_get(h->log, off, &ts, &v, &len);
        g->gets++;
        if (rc == LSMLOG_NOTFOUND && off >= end) {
            g->notfound++;
            continue;
        }
        if (rc != LSMLOG_OK) {
            hammer_fail(h, "get(%" PRIu64 ") with end %" PRIu64 ": %d (%s) %s", off, end, rc,
                        tu_status_name(rc), lsmlog_errmsg());
            break;
        }
        uint32_t tid, seq;
        int ok = check_value(v, len, ts, &tid, &seq);
        /* the hammer's appender writes seq == offset - base_end */
        if (ok && off >= h->base_end) ok = tid == 99 && seq == (uint32_t)(off - h->base_end);
        lsmlog_free(v);
        if (!ok) {
            hammer_fail(h, "get(%" PRIu64 ") returned a wrong value", off);
            break;
        }
        g->found++;
    }
    return NULL;
}

static void *hammer_appender_main(void *p) {
    hammer *h = p;
    unsigned char buf[8 + MAX_FILL];
    uint32_t seq = 0;
    double t0 = tu_mono_ms();
    while (tu_mono_ms() - t0 < 1500 && !atomic_load(&h->failed)) {
        size_t len = make_value(99, seq, buf);
        uint64_t off = 0;
        if (lsmlog_log_append(h->log, buf, len, ts_of(99, seq), &off) != LSMLOG_OK ||
            off != h->base_end + seq) {
            hammer_fail(h, "hammer append at %" PRIu64 " failed", off);
            break;
        }
        seq++;
    }
    atomic_store(&h->stop, 1);
    return NULL;
}

static void case_get_hammer(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/log", tu_mkdtemp());
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, 16 * 1024);
    hammer h;
    memset(&h, 0, sizeof h);
    CHECK_OK(lsmlog_log_open(dir, &o, &h.log));
    /* a base of records from two threads' worth of values */
    unsigned char buf[8 + MAX_FILL];
    for (uint32_t s = 0; s < 5000; s++) {
        size_t len = make_value(1 + (s & 1), s, buf);
        CHECK_OK(lsmlog_log_append(h.log, buf, len, ts_of(1 + (s & 1), s), NULL));
    }
    h.base_end = 5000;
    getter_arg g[GETTERS];
    pthread_t gt[GETTERS], at;
    for (int i = 0; i < GETTERS; i++) {
        memset(&g[i], 0, sizeof g[i]);
        g[i].h = &h;
        g[i].seed = tu_rand();
        CHECK(pthread_create(&gt[i], NULL, getter_main, &g[i]) == 0);
    }
    CHECK(pthread_create(&at, NULL, hammer_appender_main, &h) == 0);
    pthread_join(at, NULL);
    for (int i = 0; i < GETTERS; i++)
        pthread_join(gt[i], NULL);
    CHECKF(!atomic_load(&h.failed), "%s", h.why);
    uint64_t gets = 0, found = 0;
    for (int i = 0; i < GETTERS; i++) {
        gets += g[i].gets;
        found += g[i].found;
    }
    CHECK(found > 1000);
    uint64_t end = 0;
    CHECK_OK(lsmlog_log_bounds(h.log, NULL, &end));
    CHECK_OK(lsmlog_log_close(h.log));
    printf("  get hammer: %" PRIu64 " gets by %d threads (%" PRIu64 " found) while the log grew "
           "to %" PRIu64 "\n",
           gets, GETTERS, found, end);
    fflush(stdout);
}

int main(void) {
    tu_init("test_log_threads");
    TU_CASE(case_tail_sync);
    TU_CASE(case_tail_os);
    TU_CASE(case_tail_buffered);
    TU_CASE(case_get_hammer);
    return tu_finish();
}
