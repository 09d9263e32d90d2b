/* test_log_api.c — the Log through the public header, end to end.
 *
 * Each case_* function is one named sub-case over its own temp dir. The
 * contract is lsmlog.h's doc comments and /work/shared/API.md; where a case
 * reads files it uses only the documented layout (log_format.h). Values are
 * compared byte for byte against a model of what was written (test_util.h). */
#include <pthread.h>

#include "log_format.h"
#include "test_util.h"

/* ---- helpers -------------------------------------------------------------- */

/* "<tmp>/log": a log dir that does not exist yet. */
static const char *fresh_dir(void) {
    static char buf[8][300];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/log", tu_mkdtemp());
    return p;
}

static lsmlog_log *open_log(const char *dir, int durability, uint64_t segment_bytes) {
    lsmlog_options o = tu_opts(durability, segment_bytes);
    lsmlog_log *log = NULL;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    CHECK(log != NULL);
    return log;
}

static lsmlog_log *open_ro(const char *dir) {
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, 0);
    o.readonly = 1;
    lsmlog_log *log = NULL;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    CHECK(log != NULL);
    return log;
}

/* Appends one record and mirrors it in the model; checks the offset. */
static uint64_t append_one(lsmlog_log *log, tu_model *m, const void *data, size_t len, int64_t ts) {
    uint64_t off = UINT64_MAX;
    CHECK_OK(lsmlog_log_append(log, data, len, ts, &off));
    CHECK_EQ_U64(off, m->n);
    tu_model_add(m, data, len, ts);
    return off;
}

/* Appends `n` deterministic records (one per call) with the given ts. */
static void append_n(lsmlog_log *log, tu_model *m, size_t n, size_t maxlen, int64_t ts) {
    unsigned char buf[4096];
    for (size_t i = 0; i < n; i++) {
        size_t len = tu_make_value(tu_seed, m->n, maxlen, buf);
        append_one(log, m, buf, len, ts);
    }
}

/* A listing of a dir (names and sizes), to check that nothing changed. */
typedef struct dir_state {
    char names[256][256];
    long long sizes[256];
    int n;
} dir_state;

static int cmp_name(const void *a, const void *b) {
    return strcmp(a, b);
}

static void dir_snapshot(const char *dir, dir_state *s) {
    memset(s, 0, sizeof *s);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        CHECK(s->n < 256);
        snprintf(s->names[s->n++], 256, "%s", e->d_name);
    }
    closedir(d);
    qsort(s->names, (size_t)s->n, 256, cmp_name);
    for (int i = 0; i < s->n; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", dir, s->names[i]);
        s->sizes[i] = tu_file_size(p);
    }
}

static void check_dir_unchanged(const dir_state *a, const dir_state *b) {
    CHECK_EQ_INT(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        CHECKF(strcmp(a->names[i], b->names[i]) == 0, "file %s became %s", a->names[i],
               b->names[i]);
        CHECKF(a->sizes[i] == b->sizes[i], "%s changed size %lld -> %lld", a->names[i], a->sizes[i],
               b->sizes[i]);
    }
}

/* Collects up to `max` records from an iterator until NOTFOUND; checks each
 * against the model and returns how many. offs[] receives the offsets. */
static size_t drain(lsmlog_log_iter *it, const tu_model *m, uint64_t *offs, size_t max) {
    size_t n = 0;
    for (;;) {
        lsmlog_record rec;
        int rc = lsmlog_log_iter_next(it, &rec);
        if (rc == LSMLOG_NOTFOUND) break;
        CHECKF(rc == LSMLOG_OK, "iter_next = %d (%s)", rc, tu_status_name(rc));
        tu_check_rec(m, rec.offset, rec.timestamp, rec.value, rec.len);
        CHECK(n < max);
        offs[n++] = rec.offset;
    }
    return n;
}

/* Asserts that offs[0..n) is exactly lo, lo+1, ..., hi-1. */
static void check_range(const uint64_t *offs, size_t n, uint64_t lo, uint64_t hi) {
    CHECKF(n == hi - lo, "got %zu records, want [%" PRIu64 ", %" PRIu64 ")", n, lo, hi);
    for (size_t i = 0; i < n; i++)
        CHECKF(offs[i] == lo + i, "record %zu has offset %" PRIu64 ", want %" PRIu64, i, offs[i],
               lo + i);
}

/* Iterates with opts and checks the offsets are exactly [lo, hi). */
static void check_iter(lsmlog_log *log, const tu_model *m, const lsmlog_iter_opts *o, uint64_t lo,
                       uint64_t hi) {
    static uint64_t offs[20000];
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, o, &it));
    size_t n = drain(it, m, offs, 20000);
    check_range(offs, n, lo, hi);
    lsmlog_log_iter_close(it);
}

static size_t segment_count(const char *dir) {
    uint64_t bases[1];
    return tu_list_segments(dir, bases, 0);
}

/* ---- open / close --------------------------------------------------------- */

static void case_open_create_close(void) {
    const char *dir = fresh_dir();
    CHECK(!tu_exists(dir));
    lsmlog_log *log = NULL;
    CHECK_OK(lsmlog_log_open(dir, NULL, &log)); /* NULL opts: the defaults, create on */
    CHECK(log != NULL);
    CHECK(tu_is_dir(dir));

    uint64_t s = 99, e = 99;
    CHECK_OK(lsmlog_log_bounds(log, &s, &e));
    CHECK_EQ_U64(s, 0);
    CHECK_EQ_U64(e, 0);
    CHECK_OK(lsmlog_log_bounds(log, NULL, NULL));

    lsmlog_log_info info;
    memset(&info, 0xAB, sizeof info);
    CHECK_OK(lsmlog_log_stat(log, &info));
    CHECK_EQ_U64(info.start, 0);
    CHECK_EQ_U64(info.end, 0);
    CHECK_EQ_INT(info.first_ts, 0);
    CHECK_EQ_INT(info.max_ts, 0);

    /* A fresh log had nothing to recover. */
    const lsmlog_recovery *r = lsmlog_log_recovery(log);
    CHECK(r != NULL);
    CHECK_EQ_U64(r->truncated_bytes, 0);
    CHECK_EQ_U64(r->dropped_batches, 0);
    CHECK_EQ_U64(r->dropped_bytes, 0);
    CHECK_EQ_U64(r->rebuilt_indexes, 0);
    CHECK(r->message != NULL);
    CHECKF(r->message[0] == '\0', "message for a clean open: \"%s\"", r->message);

    CHECK_OK(lsmlog_log_close(log));
    CHECK_OK(lsmlog_log_close(NULL)); /* closing NULL is a no-op */

    /* Reopening the existing empty log, with create off, works. */
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.create = 0;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    CHECK_OK(lsmlog_log_bounds(log, &s, &e));
    CHECK_EQ_U64(e, 0);
    CHECK_OK(lsmlog_log_close(log));
}

static void case_options_defaults(void) {
    lsmlog_options o;
    memset(&o, 0x5A, sizeof o);
    lsmlog_options_init(&o);
    CHECK_EQ_INT(o.durability, LSMLOG_DURABILITY_OS);
    CHECK_EQ_INT(o.create, 1);
    CHECK_EQ_INT(o.readonly, 0);
    CHECK_EQ_INT(o.repair, 0);
    CHECK_EQ_U64(o.segment_bytes, 64u << 20);
    CHECK_EQ_INT(o.segment_ms, 0);

    lsmlog_iter_opts io;
    memset(&io, 0x5A, sizeof io);
    lsmlog_iter_opts_init(&io);
    CHECK_EQ_U64(io.start, 0);
    CHECK_EQ_U64(io.stop, UINT64_MAX);
    CHECK(io.since == INT64_MIN);
    CHECK(io.until == INT64_MAX);
}

static void case_open_missing_nocreate(void) {
    const char *dir = fresh_dir();
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.create = 0;
    lsmlog_log *log = NULL;
    CHECK_EQ_INT(lsmlog_log_open(dir, &o, &log), LSMLOG_E_NOENT);
    CHECK(lsmlog_errmsg()[0] != '\0');
    CHECK(!tu_exists(dir));
}

static void case_open_readonly_missing(void) {
    const char *dir = fresh_dir();
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.readonly = 1; /* create stays 1: readonly must still not create */
    lsmlog_log *log = NULL;
    CHECK_EQ_INT(lsmlog_log_open(dir, &o, &log), LSMLOG_E_NOENT);
    CHECK(!tu_exists(dir));
    o.create = 0;
    CHECK_EQ_INT(lsmlog_log_open(dir, &o, &log), LSMLOG_E_NOENT);
    CHECK(!tu_exists(dir));
}

static void case_open_path_is_file(void) {
    const char *root = tu_mkdtemp();
    char file[300];
    snprintf(file, sizeof file, "%s/plain", root);
    CHECK(tu_write_file(file, "hello", 5) == 0);

    lsmlog_log *log = NULL;
    CHECK_EQ_INT(lsmlog_log_open(file, NULL, &log), LSMLOG_E_IO);
    CHECK(lsmlog_errmsg()[0] != '\0');
    CHECKF(lsmlog_errno() != 0, "no errno behind an E_IO");

    lsmlog_options o;
    lsmlog_options_init(&o);
    o.readonly = 1;
    CHECK(lsmlog_log_open(file, &o, &log) < 0);
    o.readonly = 0;
    o.create = 0;
    CHECK(lsmlog_log_open(file, &o, &log) < 0);

    /* A log under a file: cannot be made. */
    char under[400];
    snprintf(under, sizeof under, "%s/log", file);
    CHECK(lsmlog_log_open(under, NULL, &log) < 0);

    /* Nothing changed: still a 5-byte regular file holding "hello". */
    size_t len = 0;
    unsigned char *b = tu_read_file(file, &len);
    CHECK(b != NULL);
    CHECK(!tu_is_dir(file));
    CHECK(len == 5 && memcmp(b, "hello", 5) == 0);
    free(b);
}

static void case_open_bad_options(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = NULL;
    uint64_t bad_sizes[] = {0, LSMLOG_MIN_SEGMENT_BYTES - 1, (uint64_t)LSMLOG_MAX_SEGMENT_BYTES + 1,
                            UINT64_MAX};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        lsmlog_options o;
        lsmlog_options_init(&o);
        o.segment_bytes = bad_sizes[i];
        int rc = lsmlog_log_open(dir, &o, &log);
        CHECKF(rc == LSMLOG_E_INVALID, "segment_bytes %" PRIu64 ": %d (%s)", bad_sizes[i], rc,
               tu_status_name(rc));
    }
    int bad_dur[] = {7, -1, 3};
    for (size_t i = 0; i < 3; i++) {
        lsmlog_options o;
        lsmlog_options_init(&o);
        o.durability = bad_dur[i];
        int rc = lsmlog_log_open(dir, &o, &log);
        CHECKF(rc == LSMLOG_E_INVALID, "durability %d: %d (%s)", bad_dur[i], rc,
               tu_status_name(rc));
    }
    /* A refused open changes nothing on disk. */
    CHECK(!tu_exists(dir));

    /* The limits themselves are valid. */
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.segment_bytes = LSMLOG_MIN_SEGMENT_BYTES;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    CHECK_OK(lsmlog_log_append(log, "x", 1, 1, NULL));
    CHECK_OK(lsmlog_log_close(log));
    const char *dir2 = fresh_dir();
    o.segment_bytes = LSMLOG_MAX_SEGMENT_BYTES;
    CHECK_OK(lsmlog_log_open(dir2, &o, &log));
    CHECK_OK(lsmlog_log_append(log, "x", 1, 1, NULL));
    CHECK_OK(lsmlog_log_close(log));
}

/* ---- append / get --------------------------------------------------------- */

static void case_append_and_get(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    tu_model m = {0};

    append_one(log, &m, "hello", 5, 1000);
    append_one(log, &m, NULL, 0, 1001); /* empty value, data NULL */
    append_one(log, &m, "", 0, 1002);   /* empty value, data not NULL */
    static const unsigned char zeros[] = {0, 0, 'a', 0, 0xff, 0};
    append_one(log, &m, zeros, sizeof zeros, 999); /* zero bytes; ts going back */
    /* offset pointer NULL is allowed */
    CHECK_OK(lsmlog_log_append(log, "w", 1, 5, NULL));
    tu_model_add(&m, "w", 1, 5);

    /* A batch: first offset returned, contiguous offsets, per-record ts. */
    lsmlog_entry ents[5] = {
        {"alpha", 5, 2000},
        {NULL, 0, 1500},
        {zeros, sizeof zeros, -7},
        {"d", 1, 0},
        {"epsilon", 7, 4000000000000LL},
    };
    uint64_t first = UINT64_MAX;
    CHECK_OK(lsmlog_log_append_batch(log, ents, 5, &first));
    CHECK_EQ_U64(first, 5);
    for (int i = 0; i < 5; i++)
        tu_model_add(&m, ents[i].data, ents[i].len, ents[i].ts);
    CHECK_OK(lsmlog_log_append_batch(log, ents, 1, NULL)); /* first may be NULL */
    tu_model_add(&m, ents[0].data, ents[0].len, ents[0].ts);

    /* A big value (past the index interval and the varint's 2-byte range). */
    size_t big = 200000;
    unsigned char *bv = malloc(big);
    uint64_t st = tu_seed;
    tu_fill_random(&st, bv, big);
    append_one(log, &m, bv, big, 7);
    free(bv);

    tu_verify_log(log, &m, 0);

    /* The empty value comes back as a non-NULL pointer with len 0. */
    void *v = NULL;
    size_t len = 99;
    int64_t ts = 0;
    CHECK_OK(lsmlog_log_get(log, 1, &ts, &v, &len));
    CHECK(v != NULL);
    CHECK_EQ_U64(len, 0);
    CHECK_EQ_INT(ts, 1001);
    lsmlog_free(v);
    /* Every output of get may be NULL. */
    CHECK_OK(lsmlog_log_get(log, 0, NULL, NULL, NULL));
    CHECK_EQ_INT(lsmlog_log_get(log, m.n, NULL, NULL, NULL), LSMLOG_NOTFOUND);
    CHECK_EQ_INT(lsmlog_log_get(log, m.n + 1000, &ts, &v, &len), LSMLOG_NOTFOUND);
    CHECK_EQ_INT(lsmlog_log_get(log, UINT64_MAX, &ts, &v, &len), LSMLOG_NOTFOUND);
    lsmlog_free(NULL);

    lsmlog_log_info info;
    CHECK_OK(lsmlog_log_stat(log, &info));
    CHECK_EQ_U64(info.start, 0);
    CHECK_EQ_U64(info.end, m.n);
    CHECK_EQ_INT(info.first_ts, 1000);
    CHECK_EQ_INT(info.max_ts, 4000000000000LL);
    CHECK_EQ_U64(info.segments, segment_count(dir));
    CHECK(info.bytes >= SEG_HEADER_SIZE + 200000);

    CHECK_OK(lsmlog_log_close(log));
    /* And all of it again from a new handle. */
    log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

/* Timestamps are any int64 but LSMLOG_NOW: the extremes must round-trip,
 * including deltas inside one batch that overflow int64. */
static void case_extreme_timestamps(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    tu_model m = {0};
    append_one(log, &m, "a", 1, INT64_MAX);
    append_one(log, &m, "b", 1, INT64_MIN + 1);
    append_one(log, &m, "c", 1, -1);
    lsmlog_entry ents[4] = {
        {"d", 1, INT64_MAX}, {"e", 1, INT64_MIN + 1}, {"f", 1, 0}, {"g", 1, INT64_MAX - 1}};
    uint64_t first = 0;
    CHECK_OK(lsmlog_log_append_batch(log, ents, 4, &first));
    CHECK_EQ_U64(first, 3);
    for (int i = 0; i < 4; i++)
        tu_model_add(&m, ents[i].data, ents[i].len, ents[i].ts);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

static void case_now_timestamp(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    int64_t before = tu_now_ms();
    uint64_t off = 0;
    CHECK_OK(lsmlog_log_append(log, "n", 1, LSMLOG_NOW, &off));
    lsmlog_entry ents[3] = {{"x", 1, LSMLOG_NOW}, {"y", 1, 42}, {"z", 1, LSMLOG_NOW}};
    CHECK_OK(lsmlog_log_append_batch(log, ents, 3, NULL));
    int64_t after = tu_now_ms();
    int64_t want_ts[4] = {0, 0, 42, 0};
    for (uint64_t i = 0; i < 4; i++) {
        int64_t ts = 0;
        CHECK_OK(lsmlog_log_get(log, i, &ts, NULL, NULL));
        if (i == 2) {
            CHECK_EQ_INT(ts, want_ts[i]);
        } else {
            /* The same wall clock, read around the call; a few ms of slack
             * for a clock read at a coarser grain. */
            CHECKF(ts >= before - 5 && ts <= after + 5,
                   "offset %" PRIu64 ": ts %" PRId64 " not in [%" PRId64 ", %" PRId64 "]", i, ts,
                   before, after);
        }
    }
    CHECK_OK(lsmlog_log_close(log));
}

/* ---- iterators ------------------------------------------------------------ */

static void case_iterators(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    tu_model m = {0};
    /* 50 records, ts = 1000 + 10*offset, a mix of single appends and batches */
    while (m.n < 50) {
        size_t k = 1 + tu_rand_below(4);
        if (m.n + k > 50) k = 50 - m.n;
        lsmlog_entry ents[4];
        unsigned char vals[4][300];
        for (size_t i = 0; i < k; i++) {
            uint64_t off = m.n + i;
            ents[i].len = tu_make_value(tu_seed, off, 200, vals[i]);
            ents[i].data = vals[i];
            ents[i].ts = 1000 + 10 * (int64_t)off;
        }
        uint64_t first = 0;
        CHECK_OK(lsmlog_log_append_batch(log, ents, k, &first));
        CHECK_EQ_U64(first, m.n);
        for (size_t i = 0; i < k; i++)
            tu_model_add(&m, ents[i].data, ents[i].len, ents[i].ts);
    }

    lsmlog_iter_opts o;
    check_iter(log, &m, NULL, 0, 50);
    lsmlog_iter_opts_init(&o);
    check_iter(log, &m, &o, 0, 50);

    lsmlog_iter_opts_init(&o);
    o.start = 20;
    check_iter(log, &m, &o, 20, 50);
    o.stop = 30;
    check_iter(log, &m, &o, 20, 30);
    o.start = 49;
    o.stop = UINT64_MAX;
    check_iter(log, &m, &o, 49, 50);
    lsmlog_iter_opts_init(&o);
    o.stop = 0; /* offsets >= 0 are not returned: nothing */
    check_iter(log, &m, &o, 0, 0);

    lsmlog_iter_opts_init(&o);
    o.since = 1150; /* exactly offset 15's ts */
    check_iter(log, &m, &o, 15, 50);
    o.since = 1151;
    check_iter(log, &m, &o, 16, 50);
    o.since = INT64_MIN + 1;
    check_iter(log, &m, &o, 0, 50);
    o.since = 1000 + 10 * 49 + 1; /* after every record */
    check_iter(log, &m, &o, 0, 0);

    lsmlog_iter_opts_init(&o);
    o.until = 1300; /* offset 30's ts: excluded */
    check_iter(log, &m, &o, 0, 30);
    o.until = 1301;
    check_iter(log, &m, &o, 0, 31);
    o.until = 1000; /* the first record's ts: nothing */
    check_iter(log, &m, &o, 0, 0);
    o.since = 1100;
    o.until = 1200;
    check_iter(log, &m, &o, 10, 20);
    o.start = 12; /* start and since together: the later of the two */
    check_iter(log, &m, &o, 12, 20);
    o.stop = 15;
    check_iter(log, &m, &o, 12, 15);

    /* Iterating does not consume: a second iterator at the same time. */
    lsmlog_log_iter *a = NULL, *b = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &a));
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &b));
    lsmlog_record ra, rb;
    CHECK_OK(lsmlog_log_iter_next(a, &ra));
    CHECK_OK(lsmlog_log_iter_next(a, &ra));
    CHECK_OK(lsmlog_log_iter_next(b, &rb));
    CHECK_EQ_U64(ra.offset, 1);
    CHECK_EQ_U64(rb.offset, 0);
    tu_check_rec(&m, ra.offset, ra.timestamp, ra.value, ra.len);
    tu_check_rec(&m, rb.offset, rb.timestamp, rb.value, rb.len);
    lsmlog_log_iter_close(a);
    lsmlog_log_iter_close(b);
    lsmlog_log_iter_close(NULL);

    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

/* An iterator returns records appended after it was opened: NOTFOUND at the
 * end of what exists now, then OK after another append. A stop bound that
 * was met stays met. */
static void case_iterator_follows_appends(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 4096);
    tu_model m = {0};
    uint64_t offs[1000];

    /* on an empty log */
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &it));
    lsmlog_record rec;
    CHECK_EQ_INT(lsmlog_log_iter_next(it, &rec), LSMLOG_NOTFOUND);
    CHECK_EQ_INT(lsmlog_log_iter_next(it, &rec), LSMLOG_NOTFOUND);
    append_n(log, &m, 3, 100, 10);
    check_range(offs, drain(it, &m, offs, 1000), 0, 3);
    CHECK_EQ_INT(lsmlog_log_iter_next(it, &rec), LSMLOG_NOTFOUND);
    append_one(log, &m, "next", 4, 11);
    CHECK_OK(lsmlog_log_iter_next(it, &rec));
    CHECK_EQ_U64(rec.offset, 3);
    tu_check_rec(&m, rec.offset, rec.timestamp, rec.value, rec.len);
    CHECK_EQ_INT(lsmlog_log_iter_next(it, &rec), LSMLOG_NOTFOUND);

    /* a stop bound met stays met; a tail iterator (start = end) sees only
     * what comes after */
    lsmlog_iter_opts o;
    lsmlog_iter_opts_init(&o);
    o.stop = 6;
    lsmlog_log_iter *bounded = NULL, *tail = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, &o, &bounded));
    lsmlog_iter_opts_init(&o);
    o.start = m.n;
    CHECK_OK(lsmlog_log_iter_open(log, &o, &tail));
    CHECK_EQ_INT(lsmlog_log_iter_next(tail, &rec), LSMLOG_NOTFOUND);

    /* Enough to roll segments (4096 bytes each) under the open iterators. */
    append_n(log, &m, 150, 100, 12);
    check_range(offs, drain(it, &m, offs, 1000), 4, m.n);
    check_range(offs, drain(bounded, &m, offs, 1000), 0, 6);
    check_range(offs, drain(tail, &m, offs, 1000), 4, m.n);
    CHECK(segment_count(dir) > 2);
    append_n(log, &m, 1, 100, 13);
    CHECK_EQ_INT(lsmlog_log_iter_next(bounded, &rec), LSMLOG_NOTFOUND);
    check_range(offs, drain(tail, &m, offs, 1000), m.n - 1, m.n);
    check_range(offs, drain(it, &m, offs, 1000), m.n - 1, m.n);

    lsmlog_log_iter_close(it);
    lsmlog_log_iter_close(bounded);
    lsmlog_log_iter_close(tail);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

/* since/until are positions, not filters: "start at the first record with
 * timestamp >= since", "stop at the first record with timestamp >= until" —
 * with timestamps out of order, what lies between is returned as is. */
static void case_iterator_time_bounds_unordered(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    tu_model m = {0};
    int64_t tss[] = {100, 50, 200, 150, 300, 120};
    for (int i = 0; i < 6; i++)
        append_one(log, &m, "r", 1, tss[i]);
    lsmlog_iter_opts o;
    lsmlog_iter_opts_init(&o);
    o.since = 150; /* first ts >= 150 is offset 2 (200) */
    check_iter(log, &m, &o, 2, 6);
    lsmlog_iter_opts_init(&o);
    o.until = 150; /* first ts >= 150 is offset 2: stop there */
    check_iter(log, &m, &o, 0, 2);
    lsmlog_iter_opts_init(&o);
    o.since = 120; /* offset 2 */
    o.until = 250; /* from offset 2 on, the first ts >= 250 is offset 4 */
    check_iter(log, &m, &o, 2, 4);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

/* No record has ts >= since yet: the iterator starts at the current end
 * (docs/log.md), and returns what is appended after. */
static void case_iterator_since_future(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    tu_model m = {0};
    append_n(log, &m, 5, 50, 100);
    lsmlog_iter_opts o;
    lsmlog_iter_opts_init(&o);
    o.since = 5000;
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, &o, &it));
    lsmlog_record rec;
    CHECK_EQ_INT(lsmlog_log_iter_next(it, &rec), LSMLOG_NOTFOUND);
    append_one(log, &m, "late", 4, 6000);
    append_one(log, &m, "older", 5, 200); /* a position range: returned too */
    uint64_t offs[4];
    check_range(offs, drain(it, &m, offs, 4), 5, 7);
    lsmlog_log_iter_close(it);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

/* ---- offset_for_time ------------------------------------------------------ */

/* The model's answer: the first offset in [start, n) with ts >= t. */
static int model_offset_for_time(const tu_model *m, uint64_t start, int64_t t, uint64_t *out) {
    for (uint64_t i = start; i < m->n; i++)
        if (m->r[i].present && m->r[i].ts >= t) {
            *out = i;
            return LSMLOG_OK;
        }
    return LSMLOG_NOTFOUND;
}

static void check_oft(lsmlog_log *log, const tu_model *m, uint64_t start, int64_t t) {
    uint64_t want = UINT64_MAX, got = UINT64_MAX;
    int wrc = model_offset_for_time(m, start, t, &want);
    int rc = lsmlog_log_offset_for_time(log, t, &got);
    CHECKF(rc == wrc, "offset_for_time(%" PRId64 ") = %d (%s), want %d", t, rc, tu_status_name(rc),
           wrc);
    if (rc == LSMLOG_OK)
        CHECKF(got == want, "offset_for_time(%" PRId64 ") = %" PRIu64 ", want %" PRIu64, t, got,
               want);
}

static void case_offset_for_time_small(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    tu_model m = {0};
    uint64_t off = 0;
    CHECK_EQ_INT(lsmlog_log_offset_for_time(log, 0, &off), LSMLOG_NOTFOUND); /* empty log */
    int64_t tss[] = {100, 50, 200, 150, 300, 120};
    for (int i = 0; i < 6; i++)
        append_one(log, &m, "r", 1, tss[i]);
    struct {
        int64_t t;
        int rc;
        uint64_t off;
    } want[] = {{INT64_MIN + 1, 0, 0},
                {0, 0, 0},
                {100, 0, 0},
                {101, 0, 2},
                {160, 0, 2},
                {200, 0, 2},
                {201, 0, 4},
                {300, 0, 4},
                {301, LSMLOG_NOTFOUND, 0},
                {INT64_MAX, LSMLOG_NOTFOUND, 0}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        off = 777;
        int rc = lsmlog_log_offset_for_time(log, want[i].t, &off);
        CHECKF(rc == want[i].rc, "t=%" PRId64 ": rc %d", want[i].t, rc);
        if (rc == LSMLOG_OK) CHECKF(off == want[i].off, "t=%" PRId64 ": %" PRIu64, want[i].t, off);
    }
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

/* Random, out-of-order timestamps over many segments and index entries,
 * checked against a linear scan of the model. */
static void case_offset_for_time_random(void) {
    uint64_t seg_sizes[] = {4096, 65536};
    for (int s = 0; s < 2; s++) {
        const char *dir = fresh_dir();
        lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, seg_sizes[s]);
        tu_model m = {0};
        unsigned char buf[400];
        int64_t base = 1700000000000LL;
        for (int i = 0; i < 3000; i++) {
            /* mostly rising with jitter, sometimes far back, sometimes a jump */
            int64_t ts = base + i * 5 + (int64_t)tu_rand_below(40) - 20;
            if (tu_rand_below(50) == 0) ts = base - (int64_t)tu_rand_below(100000);
            if (tu_rand_below(200) == 0) ts = base + 100000 + (int64_t)tu_rand_below(1000);
            size_t len = tu_make_value(tu_seed, m.n, 300, buf);
            append_one(log, &m, buf, len, ts);
        }
        for (int q = 0; q < 400; q++) {
            int64_t t = base - 100000 + (int64_t)tu_rand_below(220000);
            check_oft(log, &m, 0, t);
        }
        for (uint64_t i = 0; i < m.n; i += 97)
            check_oft(log, &m, 0, m.r[i].ts);
        check_oft(log, &m, 0, INT64_MAX);
        check_oft(log, &m, 0, INT64_MIN + 1);
        /* The same after reopening (indexes read from disk). */
        CHECK_OK(lsmlog_log_close(log));
        log = open_log(dir, LSMLOG_DURABILITY_OS, seg_sizes[s]);
        for (int q = 0; q < 200; q++) {
            int64_t t = base - 100000 + (int64_t)tu_rand_below(220000);
            check_oft(log, &m, 0, t);
        }
        CHECK_OK(lsmlog_log_close(log));
        tu_model_free(&m);
    }
}

/* ---- segments ------------------------------------------------------------- */

/* Checks the files against the documented layout: names are 20-digit base
 * offsets, the header's base equals the name, the batches of segment i hold
 * exactly offsets [base_i, base_i+1), no file is larger than segment_bytes. */
static void check_segment_files(const char *dir, uint64_t end, uint64_t segment_bytes) {
    uint64_t bases[512];
    size_t n = tu_list_segments(dir, bases, 512);
    CHECK(n >= 1 && n <= 512);
    CHECK_EQ_U64(n, tu_count_suffix(dir, ".log")); /* no .log file with another name */
    for (size_t i = 0; i < n; i++) {
        char p[400];
        tu_seg_path(p, sizeof p, dir, bases[i], ".log");
        size_t len = 0;
        unsigned char *b = tu_read_file(p, &len);
        CHECK(b != NULL);
        CHECKF(len >= SEG_HEADER_SIZE, "%s: %zu bytes", p, len);
        CHECKF(len <= segment_bytes, "%s: %zu bytes > segment_bytes %" PRIu64, p, len,
               segment_bytes);
        CHECK(memcmp(b, SEG_MAGIC, 8) == 0);
        CHECK_EQ_U64(tu_get_u32(b + 8), LOG_FORMAT_VERSION);
        CHECK_EQ_U64(tu_get_u64(b + 16), bases[i]);
        CHECK(tu_get_u32(b + 12) >= len); /* max_len: never grown past */
        tu_batch bt[4096];
        size_t nb = tu_parse_batches(b, len, bt, 4096);
        CHECK(nb <= 4096);
        CHECKF(nb == 0 || bt[nb - 1].end == (long long)len, "%s: bytes after the last batch", p);
        uint64_t next = bases[i];
        for (size_t k = 0; k < nb; k++) {
            CHECK_EQ_U64(bt[k].base, next);
            next += bt[k].count;
        }
        uint64_t want_next = i + 1 < n ? bases[i + 1] : end;
        CHECK_EQ_U64(next, want_next);
        free(b);
    }
    CHECK_EQ_U64(bases[0] <= end, 1);
}

static void case_roll_by_size(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 4096);
    tu_model m = {0};
    unsigned char buf[400];
    for (int i = 0; i < 300; i++) {
        if (i % 3 == 0) {
            lsmlog_entry ents[3];
            unsigned char vals[3][400];
            for (int k = 0; k < 3; k++) {
                ents[k].len = tu_make_value(tu_seed, m.n + (uint64_t)k, 250, vals[k]);
                ents[k].data = vals[k];
                ents[k].ts = 5000 + i;
            }
            uint64_t first = 0;
            CHECK_OK(lsmlog_log_append_batch(log, ents, 3, &first));
            CHECK_EQ_U64(first, m.n);
            for (int k = 0; k < 3; k++)
                tu_model_add(&m, vals[k], ents[k].len, ents[k].ts);
        } else {
            size_t len = tu_make_value(tu_seed, m.n, 250, buf);
            append_one(log, &m, buf, len, 5000 + i);
        }
    }
    size_t nseg = segment_count(dir);
    CHECKF(nseg > 10, "only %zu segments", nseg);
    lsmlog_log_info info;
    CHECK_OK(lsmlog_log_stat(log, &info));
    CHECK_EQ_U64(info.segments, nseg);
    CHECK_EQ_U64(info.end, m.n);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));

    check_segment_files(dir, m.n, 4096);
    uint64_t bases[1];
    tu_list_segments(dir, bases, 1);
    CHECK_EQ_U64(bases[0], 0);

    /* bytes is the size of the segment files */
    log = open_log(dir, LSMLOG_DURABILITY_OS, 4096);
    CHECK_OK(lsmlog_log_stat(log, &info));
    uint64_t sum = 0, all[512];
    size_t n = tu_list_segments(dir, all, 512);
    for (size_t i = 0; i < n; i++) {
        char p[400];
        tu_seg_path(p, sizeof p, dir, all[i], ".log");
        sum += (uint64_t)tu_file_size(p);
    }
    CHECK_EQ_U64(info.bytes, sum);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

static void case_roll_by_age(void) {
    const char *dir = fresh_dir();
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, 0);
    o.segment_ms = 400;
    lsmlog_log *log = NULL;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    tu_model m = {0};
    append_n(log, &m, 3, 50, 1);
    CHECK_EQ_U64(segment_count(dir), 1);
    tu_sleep_ms(500);
    append_n(log, &m, 2, 50, 2); /* the active segment is older than 400 ms: roll */
    CHECK_EQ_U64(segment_count(dir), 2);
    char p[400];
    tu_seg_path(p, sizeof p, dir, 3, ".log");
    CHECKF(tu_exists(p), "no segment with base 3");
    tu_sleep_ms(500);
    CHECK_OK(lsmlog_log_close(log));
    /* The age survives a reopen: it is in the segment header. */
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    append_n(log, &m, 1, 50, 3);
    CHECK_EQ_U64(segment_count(dir), 3);
    tu_seg_path(p, sizeof p, dir, 5, ".log");
    CHECKF(tu_exists(p), "no segment with base 5");
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

static void case_toobig(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 4096);
    tu_model m = {0};
    static unsigned char big[8192];
    memset(big, 'B', sizeof big);

    /* on an empty log, then on a log with records */
    for (int round = 0; round < 2; round++) {
        dir_state before, after;
        dir_snapshot(dir, &before);
        CHECK_EQ_INT(lsmlog_log_append(log, big, 4096, 1, NULL), LSMLOG_E_TOOBIG);
        CHECK_EQ_INT(lsmlog_log_append(log, big, 8192, 1, NULL), LSMLOG_E_TOOBIG);
        lsmlog_entry one[1] = {{big, 5000, 1}};
        CHECK_EQ_INT(lsmlog_log_append_batch(log, one, 1, NULL), LSMLOG_E_TOOBIG);
        /* each fits alone, the batch does not */
        lsmlog_entry three[3] = {{big, 2000, 1}, {big, 2000, 1}, {big, 2000, 1}};
        CHECK_EQ_INT(lsmlog_log_append_batch(log, three, 3, NULL), LSMLOG_E_TOOBIG);
        dir_snapshot(dir, &after);
        check_dir_unchanged(&before, &after);
        tu_verify_log(log, &m, 0);
        append_n(log, &m, 5, 100, 2);
    }
    /* The handle still works, and a value that fits with room to spare is
     * taken. */
    append_one(log, &m, big, 4000, 3);
    append_n(log, &m, 5, 100, 4);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    log = open_log(dir, LSMLOG_DURABILITY_OS, 4096);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

/* The documented format fixes the largest value a 4096-byte segment holds:
 * 4096 - 40 (segment header) - 32 (batch header) - 1 (ts delta 0) - 2 (length
 * varint) = 4021 bytes. */
static void case_toobig_exact_boundary(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 4096);
    tu_model m = {0};
    static unsigned char big[4096];
    memset(big, 'C', sizeof big);
    CHECK_EQ_INT(lsmlog_log_append(log, big, 4022, 7, NULL), LSMLOG_E_TOOBIG);
    append_one(log, &m, "a", 1, 7);
    append_one(log, &m, big, 4021, 7);
    append_one(log, &m, "b", 1, 7);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    check_segment_files(dir, m.n, 4096);
    tu_model_free(&m);
}

/* ---- argument checks ------------------------------------------------------ */

static void case_empty_batch(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    lsmlog_entry e[1] = {{"a", 1, 1}};
    uint64_t first = 0;
    CHECK_EQ_INT(lsmlog_log_append_batch(log, e, 0, &first), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_append_batch(log, NULL, 0, &first), LSMLOG_E_INVALID);
    uint64_t end = 9;
    CHECK_OK(lsmlog_log_bounds(log, NULL, &end));
    CHECK_EQ_U64(end, 0);
    CHECK_OK(lsmlog_log_append_batch(log, e, 1, &first));
    CHECK_EQ_U64(first, 0);
    CHECK_OK(lsmlog_log_close(log));
}

static void case_null_args(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = NULL;
    CHECK_EQ_INT(lsmlog_log_open(NULL, NULL, &log), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_open(dir, NULL, NULL), LSMLOG_E_INVALID);
    CHECK(!tu_exists(dir));
    log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    CHECK_OK(lsmlog_log_append(log, "abc", 3, 1, NULL));

    uint64_t u = 0;
    int64_t ts = 0;
    void *v = NULL;
    size_t len = 0;
    lsmlog_log_info info;
    lsmlog_record rec;
    lsmlog_entry e[1] = {{"a", 1, 1}};
    lsmlog_entry bad[2] = {{"a", 1, 1}, {NULL, 5, 1}}; /* NULL data with len > 0 */

    CHECK_EQ_INT(lsmlog_log_append(NULL, "a", 1, 1, &u), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_append(log, NULL, 5, 1, &u), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_append_batch(NULL, e, 1, &u), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_append_batch(log, NULL, 1, &u), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_append_batch(log, bad, 2, &u), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_flush(NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_sync(NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_get(NULL, 0, &ts, &v, &len), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_bounds(NULL, &u, &u), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_stat(NULL, &info), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_stat(log, NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_offset_for_time(NULL, 0, &u), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_offset_for_time(log, 0, NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_wait(NULL, 0, 0), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_truncate_before(NULL, 0), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_retain(NULL, 0, 0, &u), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_verify(NULL, &u), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_iter_open(NULL, NULL, NULL), LSMLOG_E_INVALID);
    lsmlog_log_iter *it = NULL;
    CHECK_EQ_INT(lsmlog_log_iter_open(NULL, NULL, &it), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_iter_open(log, NULL, NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_log_iter_next(NULL, &rec), LSMLOG_E_INVALID);
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &it));
    CHECK_EQ_INT(lsmlog_log_iter_next(it, NULL), LSMLOG_E_INVALID);
    lsmlog_log_iter_close(it);
    int d = 0;
    CHECK_EQ_INT(lsmlog_durability_parse(NULL, &d), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_durability_parse("os", NULL), LSMLOG_E_INVALID);

    /* None of that appended anything. */
    uint64_t end = 0;
    CHECK_OK(lsmlog_log_bounds(log, NULL, &end));
    CHECK_EQ_U64(end, 1);
    CHECK_OK(lsmlog_log_verify(log, NULL)); /* records may be NULL */
    CHECK_OK(lsmlog_log_retain(log, 0, 0, NULL));
    CHECK_OK(lsmlog_log_close(log));
}

/* ---- read-only handles ---------------------------------------------------- */

static void case_readonly(void) {
    const char *dir = fresh_dir();
    lsmlog_log *w = open_log(dir, LSMLOG_DURABILITY_OS, 4096);
    tu_model m = {0};
    append_n(w, &m, 10, 100, 100);

    lsmlog_log *ro = open_ro(dir); /* while the writer is open: no lock needed */
    tu_verify_log(ro, &m, 0);

    /* writes are refused, and change nothing */
    uint64_t u = 0;
    lsmlog_entry e[1] = {{"a", 1, 1}};
    CHECK_EQ_INT(lsmlog_log_append(ro, "a", 1, 1, &u), LSMLOG_E_READONLY);
    CHECK_EQ_INT(lsmlog_log_append_batch(ro, e, 1, &u), LSMLOG_E_READONLY);
    CHECK_EQ_INT(lsmlog_log_truncate_before(ro, 5), LSMLOG_E_READONLY);
    CHECK_EQ_INT(lsmlog_log_retain(ro, 1, 0, &u), LSMLOG_E_READONLY);
    tu_verify_log(w, &m, 0);

    /* it sees what the writer appends after it opened: bounds, get, an
     * iterator opened before, including across segment rolls */
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(ro, NULL, &it));
    uint64_t offs[2000];
    check_range(offs, drain(it, &m, offs, 2000), 0, 10);
    append_n(w, &m, 5, 100, 101);
    uint64_t end = 0;
    CHECK_OK(lsmlog_log_bounds(ro, NULL, &end));
    CHECK_EQ_U64(end, 15);
    tu_check_get(ro, &m, 12);
    check_range(offs, drain(it, &m, offs, 2000), 10, 15);
    append_n(w, &m, 300, 100, 102);
    CHECK(segment_count(dir) > 5);
    check_range(offs, drain(it, &m, offs, 2000), 15, m.n);
    tu_verify_log(ro, &m, 0);
    lsmlog_log_info info;
    CHECK_OK(lsmlog_log_stat(ro, &info));
    CHECK_EQ_U64(info.end, m.n);
    CHECK_EQ_U64(info.segments, segment_count(dir));
    uint64_t count = 0;
    CHECK_OK(lsmlog_log_verify(ro, &count));
    CHECK_EQ_U64(count, m.n);

    /* the iterator keeps it open */
    CHECK_EQ_INT(lsmlog_log_close(ro), LSMLOG_E_BUSY);
    lsmlog_log_iter_close(it);
    CHECK_OK(lsmlog_log_close(ro));
    CHECK_OK(lsmlog_log_close(w));

    /* a read-only open of a closed log */
    ro = open_ro(dir);
    tu_verify_log(ro, &m, 0);
    CHECK_OK(lsmlog_log_close(ro));
    tu_model_free(&m);
}

/* A read-only handle on a log that has no records yet (a writer made it
 * and closed, or is still open): an empty log, not an error. */
/* A read-only handle keeps following after retention removed the segment
 * after the last one it knew (regression: it stayed at its old end). */
static void case_readonly_after_retention(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, 4096);
    lsmlog_log *w, *r;
    char v[60];
    memset(v, '.', sizeof v);
    CHECK_OK(lsmlog_log_open(dir, &o, &w));
    for (int i = 0; i < 100; i++) CHECK_OK(lsmlog_log_append(w, v, sizeof v, LSMLOG_NOW, NULL));
    o.readonly = 1;
    CHECK_OK(lsmlog_log_open(dir, &o, &r));
    uint64_t rend, wend;
    CHECK_OK(lsmlog_log_bounds(r, NULL, &rend));
    CHECK_EQ_U64(rend, 100);
    for (int i = 0; i < 300; i++) CHECK_OK(lsmlog_log_append(w, v, sizeof v, LSMLOG_NOW, NULL));
    CHECK_OK(lsmlog_log_bounds(w, NULL, &wend));
    CHECK_OK(lsmlog_log_truncate_before(w, wend)); /* every sealed segment, the reader's too */
    CHECK_OK(lsmlog_log_append(w, "new", 3, LSMLOG_NOW, NULL));
    CHECK_OK(lsmlog_log_bounds(w, NULL, &wend));
    CHECK_EQ_INT(lsmlog_log_wait(r, wend - 1, 2000), LSMLOG_OK);
    CHECK_OK(lsmlog_log_bounds(r, NULL, &rend));
    CHECK_EQ_U64(rend, wend);
    void *val;
    size_t len;
    CHECK_OK(lsmlog_log_get(r, wend - 1, NULL, &val, &len));
    CHECK(len == 3 && memcmp(val, "new", 3) == 0);
    lsmlog_free(val);
    CHECK_OK(lsmlog_log_close(r));
    CHECK_OK(lsmlog_log_close(w));
    tu_rmtemp(dir);
}

static void case_readonly_empty_log(void) {
    const char *dir = fresh_dir();
    lsmlog_log *w = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    CHECK_OK(lsmlog_log_close(w));
    lsmlog_log *ro = open_ro(dir);
    uint64_t s = 9, e = 9;
    CHECK_OK(lsmlog_log_bounds(ro, &s, &e));
    CHECK_EQ_U64(s, 0);
    CHECK_EQ_U64(e, 0);
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(ro, NULL, &it));
    lsmlog_record rec;
    CHECK_EQ_INT(lsmlog_log_iter_next(it, &rec), LSMLOG_NOTFOUND);
    CHECK_EQ_INT(lsmlog_log_get(ro, 0, NULL, NULL, NULL), LSMLOG_NOTFOUND);

    /* a writer opens it and appends: the read-only handle follows */
    w = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    CHECK_OK(lsmlog_log_bounds(ro, &s, &e));
    CHECK_EQ_U64(e, 0);
    tu_model m = {0};
    append_n(w, &m, 3, 50, 1);
    CHECK_OK(lsmlog_log_bounds(ro, &s, &e));
    CHECK_EQ_U64(e, 3);
    uint64_t offs[8];
    check_range(offs, drain(it, &m, offs, 8), 0, 3);
    lsmlog_log_iter_close(it);
    CHECK_OK(lsmlog_log_close(ro));
    CHECK_OK(lsmlog_log_close(w));
    tu_model_free(&m);
}

/* ---- reopen and durability ------------------------------------------------ */

static void case_reopen_keeps_everything(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 8192);
    tu_model m = {0};
    unsigned char buf[600];
    for (int i = 0; i < 500; i++) {
        size_t len = tu_make_value(tu_seed, m.n, 500, buf);
        append_one(log, &m, buf, len, (int64_t)tu_rand_below(1000000) - 1000);
    }
    lsmlog_log_info a, b;
    CHECK_OK(lsmlog_log_stat(log, &a));
    CHECK_OK(lsmlog_log_close(log));
    for (int round = 0; round < 3; round++) {
        log = open_log(dir, LSMLOG_DURABILITY_OS, 8192);
        const lsmlog_recovery *r = lsmlog_log_recovery(log);
        CHECK_EQ_U64(r->truncated_bytes, 0);
        CHECK_EQ_U64(r->rebuilt_indexes, 0);
        CHECK_OK(lsmlog_log_stat(log, &b));
        CHECK_EQ_U64(b.start, a.start);
        CHECK_EQ_U64(b.end, a.end);
        CHECK_EQ_U64(b.segments, a.segments);
        CHECK_EQ_U64(b.bytes, a.bytes);
        CHECK_EQ_INT(b.first_ts, a.first_ts);
        CHECK_EQ_INT(b.max_ts, a.max_ts);
        tu_verify_log(log, &m, 0);
        CHECK_OK(lsmlog_log_close(log));
    }
    /* and it continues where it stopped */
    log = open_log(dir, LSMLOG_DURABILITY_OS, 8192);
    append_n(log, &m, 20, 500, 5);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    log = open_ro(dir);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

static void case_durability_levels(void) {
    int levels[3] = {LSMLOG_DURABILITY_BUFFERED, LSMLOG_DURABILITY_OS, LSMLOG_DURABILITY_SYNC};
    for (int l = 0; l < 3; l++) {
        const char *dir = fresh_dir();
        lsmlog_log *log = open_log(dir, levels[l], 4096);
        tu_model m = {0};
        append_n(log, &m, 100, 200, 9);
        lsmlog_entry e[3] = {{"b1", 2, 10}, {"", 0, 11}, {"b3", 2, 12}};
        CHECK_OK(lsmlog_log_append_batch(log, e, 3, NULL));
        for (int i = 0; i < 3; i++)
            tu_model_add(&m, e[i].data, e[i].len, e[i].ts);
        /* readable through the same handle at every level */
        tu_verify_log(log, &m, 0);
        if (levels[l] != LSMLOG_DURABILITY_BUFFERED) {
            /* handed to the OS: another handle sees it now */
            lsmlog_log *ro = open_ro(dir);
            tu_verify_log(ro, &m, 0);
            CHECK_OK(lsmlog_log_close(ro));
        }
        CHECK_OK(lsmlog_log_flush(log));
        lsmlog_log *ro = open_ro(dir);
        tu_verify_log(ro, &m, 0);
        CHECK_OK(lsmlog_log_close(ro));
        append_n(log, &m, 10, 200, 13);
        CHECK_OK(lsmlog_log_sync(log));
        ro = open_ro(dir);
        tu_verify_log(ro, &m, 0);
        CHECK_OK(lsmlog_log_close(ro));
        append_n(log, &m, 10, 200, 14);
        CHECK_OK(lsmlog_log_close(log)); /* close flushes */
        log = open_log(dir, levels[l], 4096);
        tu_verify_log(log, &m, 0);
        CHECK_OK(lsmlog_log_close(log));
        tu_model_free(&m);
    }
}

/* ---- retention ------------------------------------------------------------ */

/* A log of ~30 sealed 4096-byte segments plus an active one. */
static lsmlog_log *make_multi_segment(const char *dir, tu_model *m, int64_t ts) {
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 4096);
    append_n(log, m, 900, 200, ts);
    CHECK(segment_count(dir) > 20);
    return log;
}

/* The start that dropping every sealed segment wholly below `off` leaves:
 * the base of the first segment holding an offset >= off, or the active
 * segment's base. */
static uint64_t expected_start_after_truncate(const uint64_t *bases, size_t n, uint64_t off) {
    size_t i = 0;
    while (i + 1 < n && bases[i + 1] <= off)
        i++;
    return bases[i];
}

static void check_dropped_files(const char *dir, const uint64_t *bases, size_t n, uint64_t start) {
    for (size_t i = 0; i < n; i++) {
        char p[400];
        const char *sfx[3] = {".log", ".index", ".timeindex"};
        for (int k = 0; k < 3; k++) {
            tu_seg_path(p, sizeof p, dir, bases[i], sfx[k]);
            if (bases[i] < start) CHECKF(!tu_exists(p), "%s still there", p);
        }
        tu_seg_path(p, sizeof p, dir, bases[i], ".log");
        if (bases[i] >= start) CHECKF(tu_exists(p), "%s was dropped", p);
    }
}

static void case_truncate_before(void) {
    const char *dir = fresh_dir();
    tu_model m = {0};
    lsmlog_log *log = make_multi_segment(dir, &m, 50);
    uint64_t bases[512];
    size_t n = tu_list_segments(dir, bases, 512);

    CHECK_OK(lsmlog_log_truncate_before(log, 0)); /* nothing below 0 */
    tu_verify_log(log, &m, 0);

    /* an offset inside segment 5: segments 0..4 go */
    uint64_t off = bases[5] + 1;
    CHECK(off < bases[6]);
    CHECK_OK(lsmlog_log_truncate_before(log, off));
    uint64_t start = expected_start_after_truncate(bases, n, off);
    CHECK_EQ_U64(start, bases[5]);
    tu_verify_log(log, &m, start); /* get below start: NOTFOUND */
    check_dropped_files(dir, bases, n, start);
    lsmlog_log_info info;
    CHECK_OK(lsmlog_log_stat(log, &info));
    CHECK_EQ_U64(info.start, start);
    CHECK_EQ_U64(info.segments, n - 5);
    CHECK_EQ_INT(info.first_ts, 50);
    uint64_t count = 0;
    CHECK_OK(lsmlog_log_verify(log, &count));
    CHECK_EQ_U64(count, m.n - start);

    /* time lookups only see what is retained */
    check_oft(log, &m, start, INT64_MIN + 1);
    check_oft(log, &m, start, 50);
    check_oft(log, &m, start, 51);

    /* exactly at a segment boundary: the segment before goes */
    CHECK_OK(lsmlog_log_truncate_before(log, bases[8]));
    start = bases[8];
    tu_verify_log(log, &m, start);
    check_dropped_files(dir, bases, n, start);

    /* going backwards is a no-op */
    CHECK_OK(lsmlog_log_truncate_before(log, 3));
    tu_verify_log(log, &m, start);

    /* past the end: every sealed segment goes, the active one stays */
    CHECK_OK(lsmlog_log_truncate_before(log, m.n + 1000));
    start = bases[n - 1];
    tu_verify_log(log, &m, start);
    CHECK_EQ_U64(segment_count(dir), 1);

    /* it stays truncated across a reopen, and appends continue */
    CHECK_OK(lsmlog_log_close(log));
    log = open_log(dir, LSMLOG_DURABILITY_OS, 4096);
    tu_verify_log(log, &m, start);
    append_n(log, &m, 5, 200, 51);
    tu_verify_log(log, &m, start);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

/* An iterator about to read a dropped segment moves on to the new start. */
static void case_truncate_moves_iterators(void) {
    const char *dir = fresh_dir();
    tu_model m = {0};
    lsmlog_log *log = make_multi_segment(dir, &m, 50);
    uint64_t bases[512];
    tu_list_segments(dir, bases, 512);

    /* `it` has read all of segment 0; `fresh` has read nothing */
    lsmlog_log_iter *it = NULL, *fresh = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &it));
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &fresh));
    lsmlog_record rec;
    for (uint64_t i = 0; i < bases[1]; i++) {
        CHECK_OK(lsmlog_log_iter_next(it, &rec));
        CHECK_EQ_U64(rec.offset, i);
    }
    CHECK_OK(lsmlog_log_truncate_before(log, bases[4]));
    CHECK_OK(lsmlog_log_iter_next(it, &rec));
    CHECK_EQ_U64(rec.offset, bases[4]);
    tu_check_rec(&m, rec.offset, rec.timestamp, rec.value, rec.len);
    uint64_t want = bases[4] + 1;
    while (lsmlog_log_iter_next(it, &rec) == LSMLOG_OK) {
        CHECK_EQ_U64(rec.offset, want);
        tu_check_rec(&m, rec.offset, rec.timestamp, rec.value, rec.len);
        want++;
    }
    CHECK_EQ_U64(want, m.n);

    /* `fresh` may still hand out records it had reached before the drop,
     * but every record is right, offsets only go up, and from the new start
     * on they are dense */
    uint64_t prev = 0;
    int any = 0;
    int reached = 0;
    for (;;) {
        int rc = lsmlog_log_iter_next(fresh, &rec);
        if (rc == LSMLOG_NOTFOUND) break;
        CHECK_OK(rc);
        tu_check_rec(&m, rec.offset, rec.timestamp, rec.value, rec.len);
        if (any) CHECK(rec.offset > prev);
        if (reached) CHECK_EQ_U64(rec.offset, prev + 1);
        if (rec.offset >= bases[4]) reached = 1;
        prev = rec.offset;
        any = 1;
    }
    CHECK(reached && prev == m.n - 1);

    /* a new iterator with the default start begins at the new start */
    lsmlog_log_iter *late = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &late));
    CHECK_OK(lsmlog_log_iter_next(late, &rec));
    CHECK_EQ_U64(rec.offset, bases[4]);

    lsmlog_log_iter_close(it);
    lsmlog_log_iter_close(fresh);
    lsmlog_log_iter_close(late);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

static void case_retain_bytes(void) {
    const char *dir = fresh_dir();
    tu_model m = {0};
    lsmlog_log *log = make_multi_segment(dir, &m, 50);
    uint64_t bases[512];
    long long sizes[512];
    size_t n = tu_list_segments(dir, bases, 512);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char p[400];
        tu_seg_path(p, sizeof p, dir, bases[i], ".log");
        sizes[i] = tu_file_size(p);
        total += (uint64_t)sizes[i];
    }
    lsmlog_log_info info;
    CHECK_OK(lsmlog_log_stat(log, &info));
    CHECK_EQ_U64(info.bytes, total);

    uint64_t dropped = 99;
    CHECK_OK(lsmlog_log_retain(log, 0, 0, &dropped)); /* no limits: nothing */
    CHECK_EQ_U64(dropped, 0);
    CHECK_OK(lsmlog_log_retain(log, total, 0, &dropped)); /* not larger than: nothing */
    CHECK_EQ_U64(dropped, 0);
    tu_verify_log(log, &m, 0);

    /* keep ~half: drop the oldest while larger than the limit */
    uint64_t limit = total / 2;
    uint64_t t = total;
    size_t k = 0;
    while (t > limit && k + 1 < n)
        t -= (uint64_t)sizes[k++];
    CHECK_OK(lsmlog_log_retain(log, limit, 0, &dropped));
    CHECK_EQ_U64(dropped, k);
    tu_verify_log(log, &m, bases[k]);
    check_dropped_files(dir, bases, n, bases[k]);
    CHECK_OK(lsmlog_log_stat(log, &info));
    CHECK_EQ_U64(info.bytes, t);
    CHECK(info.bytes <= limit);

    /* a limit of one byte: everything but the active segment */
    CHECK_OK(lsmlog_log_retain(log, 1, 0, &dropped));
    CHECK_EQ_U64(dropped, n - 1 - k);
    tu_verify_log(log, &m, bases[n - 1]);
    CHECK_EQ_U64(segment_count(dir), 1);
    CHECK_OK(lsmlog_log_retain(log, 1, 0, &dropped)); /* the active one never goes */
    CHECK_EQ_U64(dropped, 0);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

static void case_retain_age(void) {
    const char *dir = fresh_dir();
    tu_model m = {0};
    int64_t now = tu_now_ms();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 4096);
    append_n(log, &m, 200, 200, now - 3600 * 1000); /* an hour old */
    uint64_t first_new = m.n;
    append_n(log, &m, 200, 200, now); /* fresh */
    uint64_t bases[512];
    size_t n = tu_list_segments(dir, bases, 512);
    /* segments wholly below first_new hold only old records */
    size_t old = 0;
    while (old + 1 < n && bases[old + 1] <= first_new)
        old++;
    CHECK(old > 3);

    uint64_t dropped = 99;
    CHECK_OK(lsmlog_log_retain(log, 0, 2 * 3600 * 1000, &dropped)); /* nothing that old */
    CHECK_EQ_U64(dropped, 0);
    CHECK_OK(lsmlog_log_retain(log, 0, 600 * 1000, &dropped)); /* ten minutes */
    CHECK_EQ_U64(dropped, old);
    tu_verify_log(log, &m, bases[old]);
    check_dropped_files(dir, bases, n, bases[old]);
    /* the segment holding both old and new records is kept: its newest is new */
    CHECK_OK(lsmlog_log_retain(log, 0, 600 * 1000, &dropped));
    CHECK_EQ_U64(dropped, 0);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);

    /* an all-old log: only sealed segments go, never the active one */
    dir = fresh_dir();
    log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    append_n(log, &m, 10, 100, now - 3600 * 1000);
    CHECK_OK(lsmlog_log_retain(log, 1, 1, &dropped));
    CHECK_EQ_U64(dropped, 0);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

/* ---- the rest ------------------------------------------------------------- */

static void case_close_busy(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    tu_model m = {0};
    append_n(log, &m, 3, 50, 1);
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &it));
    CHECK_EQ_INT(lsmlog_log_close(log), LSMLOG_E_BUSY);
    /* the handle stays open and usable */
    append_n(log, &m, 2, 50, 2);
    uint64_t offs[10];
    check_range(offs, drain(it, &m, offs, 10), 0, 5);
    CHECK_EQ_INT(lsmlog_log_close(log), LSMLOG_E_BUSY);
    lsmlog_log_iter_close(it);
    CHECK_OK(lsmlog_log_close(log));
    log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

static void case_verify_counts(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 4096);
    uint64_t count = 99;
    CHECK_OK(lsmlog_log_verify(log, &count));
    CHECK_EQ_U64(count, 0);
    tu_model m = {0};
    append_n(log, &m, 250, 200, 1);
    lsmlog_entry e[4] = {{"a", 1, 1}, {NULL, 0, 2}, {"c", 1, 3}, {"d", 1, 4}};
    CHECK_OK(lsmlog_log_append_batch(log, e, 4, NULL));
    CHECK_OK(lsmlog_log_verify(log, &count));
    CHECK_EQ_U64(count, 254);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

static void case_strerror(void) {
    int codes[] = {LSMLOG_OK,        LSMLOG_NOTFOUND, LSMLOG_TIMEOUT,    LSMLOG_E_IO,
                   LSMLOG_E_CORRUPT, LSMLOG_E_NOMEM,  LSMLOG_E_INVALID,  LSMLOG_E_BUSY,
                   LSMLOG_E_LOCKED,  LSMLOG_E_CLOSED, LSMLOG_E_READONLY, LSMLOG_E_TOOBIG,
                   LSMLOG_E_VERSION, LSMLOG_E_NOENT,  LSMLOG_E_FAILED};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = lsmlog_strerror(codes[i]);
        CHECKF(s != NULL && s[0] != '\0', "strerror(%d) empty", codes[i]);
        for (size_t j = 0; j < i; j++)
            CHECKF(strcmp(s, lsmlog_strerror(codes[j])) != 0, "strerror(%d) == strerror(%d)",
                   codes[i], codes[j]);
    }
    CHECK(lsmlog_strerror(-424242) != NULL);
    CHECK(lsmlog_strerror(424242) != NULL);
    CHECK(lsmlog_errmsg() != NULL);
}

static void case_durability_parse(void) {
    int d = -5;
    CHECK_OK(lsmlog_durability_parse("buffered", &d));
    CHECK_EQ_INT(d, LSMLOG_DURABILITY_BUFFERED);
    CHECK_OK(lsmlog_durability_parse("os", &d));
    CHECK_EQ_INT(d, LSMLOG_DURABILITY_OS);
    CHECK_OK(lsmlog_durability_parse("sync", &d));
    CHECK_EQ_INT(d, LSMLOG_DURABILITY_SYNC);
    const char *bad[] = {"", "fsync", "OS_", "sync ", "none", "buffer"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = 77;
        CHECKF(lsmlog_durability_parse(bad[i], &d) == LSMLOG_E_INVALID, "\"%s\" accepted", bad[i]);
    }
}

/* The message belongs to the thread: another thread's failure does not
 * overwrite it. */
struct other_failure {
    const char *path;
    char msg[512];
};

static void *fail_elsewhere(void *p) {
    struct other_failure *f = p;
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.create = 0;
    lsmlog_log *log = NULL;
    if (lsmlog_log_open(f->path, &o, &log) != LSMLOG_E_NOENT) abort();
    snprintf(f->msg, sizeof f->msg, "%s", lsmlog_errmsg());
    return NULL;
}

static void case_errmsg_per_thread(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    CHECK_EQ_INT(lsmlog_log_append_batch(log, NULL, 0, NULL), LSMLOG_E_INVALID);
    char mine[512];
    snprintf(mine, sizeof mine, "%s", lsmlog_errmsg());
    CHECK(mine[0] != '\0');
    struct other_failure f = {"/tmp/lsmlog-no-such-dir/really-not-there", ""};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, fail_elsewhere, &f) == 0);
    pthread_join(th, NULL);
    CHECKF(strstr(f.msg, "really-not-there") != NULL, "other thread's message: %s", f.msg);
    CHECKF(strcmp(lsmlog_errmsg(), mine) == 0, "mine became: %s", lsmlog_errmsg());
    CHECK_OK(lsmlog_log_close(log));
}

/* ---- wait ----------------------------------------------------------------- */

struct delayed_append {
    lsmlog_log *log;
    long delay_ms;
};

static void *delayed_append_main(void *arg) {
    struct delayed_append *d = arg;
    tu_sleep_ms(d->delay_ms);
    if (lsmlog_log_append(d->log, "late", 4, 1, NULL) != LSMLOG_OK) abort();
    return NULL;
}

static void case_wait_same_handle(void) {
    const char *dir = fresh_dir();
    lsmlog_log *log = open_log(dir, LSMLOG_DURABILITY_OS, 0);
    tu_model m = {0};
    append_n(log, &m, 3, 50, 1);
    CHECK_OK(lsmlog_log_wait(log, 0, 0)); /* already there: at once */
    CHECK_OK(lsmlog_log_wait(log, 2, 0));
    CHECK_OK(lsmlog_log_wait(log, 2, -1));
    double t0 = tu_mono_ms();
    CHECK_EQ_INT(lsmlog_log_wait(log, 3, 0), LSMLOG_TIMEOUT);
    CHECK_EQ_INT(lsmlog_log_wait(log, 3, 100), LSMLOG_TIMEOUT);
    double waited = tu_mono_ms() - t0;
    CHECKF(waited >= 90, "a 100 ms wait took %.1f ms", waited);

    /* woken by an append from another thread, well before the timeout */
    struct delayed_append d = {log, 150};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, delayed_append_main, &d) == 0);
    t0 = tu_mono_ms();
    CHECK_OK(lsmlog_log_wait(log, 3, 20000));
    waited = tu_mono_ms() - t0;
    pthread_join(th, NULL);
    /* woken by the append (it is there), well before the timeout */
    uint64_t end = 0;
    CHECK_OK(lsmlog_log_bounds(log, NULL, &end));
    CHECK_EQ_U64(end, 4);
    CHECKF(waited < 5000, "woke after %.1f ms", waited);
    /* and with no limit */
    CHECK(pthread_create(&th, NULL, delayed_append_main, &d) == 0);
    CHECK_OK(lsmlog_log_wait(log, 4, -1));
    pthread_join(th, NULL);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
}

int main(void) {
    tu_init("test_log_api");
    TU_CASE(case_open_create_close);
    TU_CASE(case_options_defaults);
    TU_CASE(case_open_missing_nocreate);
    TU_CASE(case_open_readonly_missing);
    TU_CASE(case_open_path_is_file);
    TU_CASE(case_open_bad_options);
    TU_CASE(case_append_and_get);
    TU_CASE(case_extreme_timestamps);
    TU_CASE(case_now_timestamp);
    TU_CASE(case_iterators);
    TU_CASE(case_iterator_follows_appends);
    TU_CASE(case_iterator_time_bounds_unordered);
    TU_CASE(case_iterator_since_future);
    TU_CASE(case_offset_for_time_small);
    TU_CASE(case_offset_for_time_random);
    TU_CASE(case_roll_by_size);
    TU_CASE(case_roll_by_age);
    TU_CASE(case_toobig);
    TU_CASE(case_toobig_exact_boundary);
    TU_CASE(case_empty_batch);
    TU_CASE(case_null_args);
    TU_CASE(case_readonly);
    TU_CASE(case_readonly_empty_log);
    TU_CASE(case_readonly_after_retention);
    TU_CASE(case_reopen_keeps_everything);
    TU_CASE(case_durability_levels);
    TU_CASE(case_truncate_before);
    TU_CASE(case_truncate_moves_iterators);
    TU_CASE(case_retain_bytes);
    TU_CASE(case_retain_age);
    TU_CASE(case_close_busy);
    TU_CASE(case_verify_counts);
    TU_CASE(case_wait_same_handle);
    TU_CASE(case_strerror);
    TU_CASE(case_errmsg_per_thread);
    TU_CASE(case_durability_parse);
    return tu_finish();
}
