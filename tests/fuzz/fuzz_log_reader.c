/* fuzz_log_reader.c — libFuzzer target: the Log's recovery and readers over
 * arbitrary segment and index files.
 *
 * Input: the bytes of the segment file 00000000000000000000.log. Optionally
 * more files follow, each after the separator "#LSMFUZZ#" (FZ_SEP):
 *
 *   part 0  00000000000000000000.log         the first segment
 *   part 1  00000000000000000000.index       its offset index
 *   part 2  00000000000000000000.timeindex   its time index
 *   part 3  a second segment, named by the base in its header (bytes 16..23,
 *           little-endian; 1 when that is 0 or the part is shorter), so the
 *           first one is sealed and its index files are read
 *   part 4  options, one byte each: durability (% 3), segment_ms (0 when
 *           even, else (b >> 1) * 10 + 1), segment_bytes (4096 << (b % 8)),
 *           retain max_bytes for the writer's retention (b * 64)
 * An empty part means "no such file".
 *
 * Every input runs twice: as given, and with every checksum made right again
 * (segment header and base, batch header and body CRCs, index base, size,
 * count and CRCs; fuzz_util.h), so that mutations reach the checks behind
 * the CRCs. Each run opens the directory
 *   1. read-only, 2. as the writer (recovery), then appends, reads its
 *   records back, opens a read-only handle beside it, applies retention,
 *   closes, and reopens (recovery must be idempotent and lose nothing
 *   acknowledged), 3. with repair on a fresh copy of the files, then plainly.
 * Each handle is read in every way: bounds, stat, a full iteration, get at
 * every record and at probe offsets, offset_for_time, a bounded iterator,
 * verify, wait.
 *
 * Invariants (besides no crash, leak, UB or hang): offsets from an iterator
 * strictly ascend and values are within the input's size; when the answers
 * come from scanning the segments (no index file is trusted: no sealed
 * segment with index files, or repair), every read agrees with the full
 * iteration: get, offset_for_time, bounded iterators, verify's count; after a
 * successful repair the log verifies clean. */
#include "fuzz_util.h"

#include <stdbool.h>

#define SEG0 "00000000000000000000.log"
#define IDX0 "00000000000000000000.index"
#define TIDX0 "00000000000000000000.timeindex"
#define MAX_RECORDS 100000

typedef struct rec_model {
    uint64_t off;
    int64_t ts;
    size_t len;
    uint64_t hash;
} rec_model;

typedef struct run_ctx {
    uint64_t seed;       /* from the input: picks probes */
    size_t bound;        /* no value can be longer */
    bool strict;         /* answers come from scans: cross-check everything */
    bool repair;         /* the handle was opened with repair */
    lsmlog_options o;    /* the writer's options */
    uint64_t retain_bytes;
    /* the full iteration of the handle being checked */
    rec_model *m;
    size_t nm, cap;
    bool complete;       /* it ended with NOTFOUND, not an error */
} run_ctx;

static void model_push(run_ctx *c, const lsmlog_record *r) {
    if (c->nm == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->m = realloc(c->m, c->cap * sizeof *c->m);
        if (!c->m) abort();
    }
    c->m[c->nm++] = (rec_model){r->offset, r->timestamp, r->len, fz_hash(r->value, r->len)};
}

/* The model's record at offset o, or NULL. */
static const rec_model *model_find(const run_ctx *c, uint64_t o) {
    size_t lo = 0, hi = c->nm;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->m[mid].off < o) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->nm && c->m[lo].off == o ? &c->m[lo] : NULL;
}

static void check_record(const run_ctx *c, const lsmlog_record *r) {
    FUZZ_CHECK(r->len <= c->bound, "a value of %zu bytes from %zu bytes of files", r->len, c->bound);
    FUZZ_CHECK(r->value || r->len == 0, "a NULL value of %zu bytes", r->len);
}

/* Full iteration into the model. */
static void iterate_all(lsmlog_log *log, run_ctx *c, uint64_t start, uint64_t end) {
    c->nm = 0;
    c->complete = false;
    lsmlog_log_iter *it;
    if (lsmlog_log_iter_open(log, NULL, &it) != LSMLOG_OK) return;
    lsmlog_record r;
    int rc;
    while ((rc = lsmlog_log_iter_next(it, &r)) == LSMLOG_OK && c->nm < MAX_RECORDS) {
        check_record(c, &r);
        if (c->nm)
            FUZZ_CHECK(r.offset > c->m[c->nm - 1].off, "offset %llu after %llu",
                       (unsigned long long)r.offset, (unsigned long long)c->m[c->nm - 1].off);
        if (c->strict)
            FUZZ_CHECK(r.offset >= start && r.offset < end, "offset %llu outside [%llu, %llu)",
                       (unsigned long long)r.offset, (unsigned long long)start,
                       (unsigned long long)end);
        model_push(c, &r);
    }
    c->complete = rc == LSMLOG_NOTFOUND;
    FUZZ_CHECK(rc <= LSMLOG_NOTFOUND || rc == LSMLOG_OK, "iter_next returned %d", rc);
    lsmlog_log_iter_close(it);
}

/* get(o) against the model. */
static void check_get(lsmlog_log *log, const run_ctx *c, uint64_t o) {
    int64_t ts = 0;
    void *v = NULL;
    size_t len = 0;
    int rc = lsmlog_log_get(log, o, &ts, &v, &len);
    if (rc == LSMLOG_OK) {
        FUZZ_CHECK(v != NULL, "get returned OK and no value");
        FUZZ_CHECK(len <= c->bound, "get: a value of %zu bytes", len);
    }
    if (c->strict && c->complete) {
        const rec_model *m = model_find(c, o);
        if (m) {
            FUZZ_CHECK(rc == LSMLOG_OK, "get(%llu) = %d, but the iterator returned it",
                       (unsigned long long)o, rc);
            FUZZ_CHECK(ts == m->ts && len == m->len && fz_hash(v, len) == m->hash,
                       "get(%llu) differs from the iterator's record", (unsigned long long)o);
        } else {
            FUZZ_CHECK(rc != LSMLOG_OK, "get(%llu) found a record the iterator did not return",
                       (unsigned long long)o);
        }
    }
    lsmlog_free(v);
}

static void check_time(lsmlog_log *log, const run_ctx *c, int64_t t) {
    uint64_t o = 0;
    int rc = lsmlog_log_offset_for_time(log, t, &o);
    if (!(c->strict && c->complete)) return;
    const rec_model *want = NULL;
    for (size_t i = 0; i < c->nm && !want; i++)
        if (c->m[i].ts >= t) want = &c->m[i];
    if (want)
        FUZZ_CHECK(rc == LSMLOG_OK && o == want->off,
                   "offset_for_time(%lld) = %d, %llu; the first record at or after it is %llu",
                   (long long)t, rc, (unsigned long long)o, (unsigned long long)want->off);
    else
        FUZZ_CHECK(rc == LSMLOG_NOTFOUND, "offset_for_time(%lld) = %d, %llu; no record is that late",
                   (long long)t, rc, (unsigned long long)o);
}

/* A value picked by the input's seed: a model offset or timestamp, one
 * beside it, or an extreme. */
static uint64_t pick_off(const run_ctx *c, uint64_t k, uint64_t start, uint64_t end) {
    uint64_t r = fz_mix(c->seed ^ k);
    switch (r % 6) {
    case 0: return start;
    case 1: return end;
    case 2: return r >> 8;
    default: return c->nm ? c->m[(r >> 8) % c->nm].off + (r >> 4) % 3 - 1 : r >> 32;
    }
}

static int64_t pick_ts(const run_ctx *c, uint64_t k) {
    uint64_t r = fz_mix(c->seed ^ (k * 0x51));
    switch (r % 6) {
    case 0: return INT64_MIN;
    case 1: return INT64_MAX;
    case 2: return (int64_t)r;
    default: /* a record's timestamp, or one beside it (wrapping, as the format does) */
        return c->nm ? (int64_t)((uint64_t)c->m[(r >> 8) % c->nm].ts + (r >> 4) % 3 - 1) : 0;
    }
}

/* An iterator with bounds, against the model. */
static void check_bounded(lsmlog_log *log, const run_ctx *c, uint64_t k, uint64_t start, uint64_t end) {
    lsmlog_iter_opts o;
    lsmlog_iter_opts_init(&o);
    uint64_t r = fz_mix(c->seed + k);
    if (r & 1) o.start = pick_off(c, k + 1, start, end);
    if (r & 2) o.stop = pick_off(c, k + 2, start, end);
    if (r & 4) o.since = pick_ts(c, k + 3);
    if (r & 8) o.until = pick_ts(c, k + 4);
    /* what it must return, from the model */
    uint64_t from = o.start;
    bool none = false;
    if (o.since != INT64_MIN) {
        size_t i = 0;
        while (i < c->nm && c->m[i].ts < o.since) i++;
        if (i < c->nm) {
            if (c->m[i].off > from) from = c->m[i].off;
        } else {
            none = true; /* it starts at the end */
        }
    }
    size_t i = 0;
    while (i < c->nm && c->m[i].off < from) i++;
    lsmlog_log_iter *it;
    if (lsmlog_log_iter_open(log, &o, &it) != LSMLOG_OK) return;
    lsmlog_record rec;
    int rc;
    size_t got = 0;
    uint64_t prev = 0;
    while ((rc = lsmlog_log_iter_next(it, &rec)) == LSMLOG_OK && got < MAX_RECORDS) {
        check_record(c, &rec);
        FUZZ_CHECK(got == 0 || rec.offset > prev, "bounded iterator: offset %llu after %llu",
                   (unsigned long long)rec.offset, (unsigned long long)prev);
        FUZZ_CHECK(rec.offset < o.stop, "bounded iterator: offset %llu at or past stop %llu",
                   (unsigned long long)rec.offset, (unsigned long long)o.stop);
        if (c->strict && c->complete) {
            const rec_model *m = none ? NULL : (i < c->nm ? &c->m[i] : NULL);
            bool stop = !m || m->off >= o.stop || (o.until != INT64_MAX && m->ts >= o.until);
            FUZZ_CHECK(!stop && m->off == rec.offset && m->ts == rec.timestamp &&
                           m->len == rec.len && m->hash == fz_hash(rec.value, rec.len),
                       "bounded iterator (start %llu stop %llu since %lld until %lld) returned "
                       "%llu, the model says %s %llu",
                       (unsigned long long)o.start, (unsigned long long)o.stop, (long long)o.since,
                       (long long)o.until, (unsigned long long)rec.offset, stop ? "stop at" : "",
                       (unsigned long long)(m ? m->off : 0));
            i++;
        }
        prev = rec.offset;
        got++;
    }
    if (c->strict && c->complete && rc == LSMLOG_NOTFOUND) {
        const rec_model *m = none ? NULL : (i < c->nm ? &c->m[i] : NULL);
        bool stop = !m || m->off >= o.stop || (o.until != INT64_MAX && m->ts >= o.until);
        FUZZ_CHECK(stop, "bounded iterator ended early, before %llu", (unsigned long long)m->off);
    }
    lsmlog_log_iter_close(it);
}

/* Reads the handle every way there is and checks the answers. */
static void exercise(lsmlog_log *log, run_ctx *c, bool writer) {
    uint64_t start = 0, end = 0;
    if (lsmlog_log_bounds(log, &start, &end) != LSMLOG_OK) return;
    FUZZ_CHECK(start <= end, "start %llu > end %llu", (unsigned long long)start,
               (unsigned long long)end);
    lsmlog_log_info info;
    if (lsmlog_log_stat(log, &info) == LSMLOG_OK)
        FUZZ_CHECK(info.start == start && info.end == end,
                   "stat (%llu, %llu, %llu segments) disagrees with bounds (%llu, %llu)",
                   (unsigned long long)info.start, (unsigned long long)info.end,
                   (unsigned long long)info.segments, (unsigned long long)start,
                   (unsigned long long)end);
    const lsmlog_recovery *rec = lsmlog_log_recovery(log);
    FUZZ_CHECK(rec && rec->message, "no recovery report");
    (void)strlen(rec->message);

    iterate_all(log, c, start, end);
    if (c->strict && c->complete)
        /* start is the first segment's base offset: the first record may
         * lie above it (a repair set the first records aside and their
         * offsets stay missing, API.md; or the first segment holds nothing
         * after its tail was cut), never below it */
        FUZZ_CHECK(c->nm ? c->m[0].off >= start : start <= end,
                   "bounds start %llu, end %llu; the first record is %llu of %zu",
                   (unsigned long long)start, (unsigned long long)end,
                   (unsigned long long)(c->nm ? c->m[0].off : 0), c->nm);
    if (c->repair)
        FUZZ_CHECK(c->complete, "a repaired log does not read to its end");

    /* get: every record (the first and last 256 of a long log), then probes */
    for (size_t i = 0; i < c->nm; i++) {
        if (i == 256 && c->nm > 512) i = c->nm - 256;
        check_get(log, c, c->m[i].off);
    }
    uint64_t probes[] = {0, start, end, end - 1, end + 1, start - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) check_get(log, c, probes[i]);
    for (uint64_t k = 0; k < 4; k++) check_get(log, c, pick_off(c, 100 + k, start, end));

    int64_t times[] = {INT64_MIN, INT64_MAX, 0, info.first_ts, info.max_ts,
                       (int64_t)((uint64_t)info.max_ts + 1)};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) check_time(log, c, times[i]);
    for (uint64_t k = 0; k < 4; k++) check_time(log, c, pick_ts(c, 200 + k));

    for (uint64_t k = 0; k < 4; k++) check_bounded(log, c, 300 + 10 * k, start, end);

    uint64_t n = 0;
    int rc = lsmlog_log_verify(log, &n);
    if (c->repair)
        FUZZ_CHECK(rc == LSMLOG_OK, "a repaired log does not verify: %d", rc);
    if (c->strict && c->complete && rc == LSMLOG_OK)
        FUZZ_CHECK(n == c->nm, "verify counted %llu records, the iterator returned %zu",
                   (unsigned long long)n, c->nm);

    if (writer) {
        FUZZ_CHECK(lsmlog_log_wait(log, end, 0) == LSMLOG_TIMEOUT, "wait(end) did not time out");
        if (end > 0) FUZZ_CHECK(lsmlog_log_wait(log, end - 1, 0) == LSMLOG_OK, "wait(end - 1)");
    } else {
        lsmlog_log_wait(log, end, 0);
    }
}

/* ---- the files of one run ------------------------------------------------------ */

typedef struct files {
    fz_part seg0, idx0, tidx0, seg1;
    uint64_t base1;
} files;

static void write_files(const char *dir, const files *f) {
    char p[1024];
    if (f->seg0.n) fz_path(p, sizeof p, dir, SEG0), fz_write(p, f->seg0.p, f->seg0.n);
    if (f->idx0.n) fz_path(p, sizeof p, dir, IDX0), fz_write(p, f->idx0.p, f->idx0.n);
    if (f->tidx0.n) fz_path(p, sizeof p, dir, TIDX0), fz_write(p, f->tidx0.p, f->tidx0.n);
    if (f->seg1.n) {
        char name[64];
        snprintf(name, sizeof name, "%020llu.log", (unsigned long long)f->base1);
        fz_path(p, sizeof p, dir, name);
        fz_write(p, f->seg1.p, f->seg1.n);
    }
}

static lsmlog_options ro_opts(void) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.readonly = 1;
    o.create = 0;
    return o;
}

/* The writer's part: appends, reads them back, a reader beside it, retention,
 * then a reopen that must find everything acknowledged. */
static void writer_run(const char *dir, run_ctx *c) {
    lsmlog_log *log;
    if (lsmlog_log_open(dir, &c->o, &log) != LSMLOG_OK) return;
    exercise(log, c, true);
    uint64_t end0 = 0;
    lsmlog_log_bounds(log, NULL, &end0);

    /* appends after recovery: they must read back */
    static const char v1[] = "fuzz-record";
    static const char v2[] = "second";
    lsmlog_entry e[3] = {{v2, 6, INT64_MIN + 1}, {NULL, 0, INT64_MAX}, {v1, 4, LSMLOG_NOW}};
    uint64_t o1 = 0, o2 = 0;
    bool a1 = lsmlog_log_append(log, v1, sizeof v1 - 1, 1700000000000, &o1) == LSMLOG_OK;
    bool a2 = lsmlog_log_append_batch(log, e, 3, &o2) == LSMLOG_OK;
    if (a1) FUZZ_CHECK(o1 == end0, "the first append got offset %llu, end was %llu",
                       (unsigned long long)o1, (unsigned long long)end0);
    int64_t ts;
    void *v;
    size_t len;
    if (a1) {
        int rc = lsmlog_log_get(log, o1, &ts, &v, &len);
        FUZZ_CHECK(rc == LSMLOG_OK, "get(%llu) of an acknowledged append: %d", (unsigned long long)o1, rc);
        FUZZ_CHECK(len == sizeof v1 - 1 && memcmp(v, v1, len) == 0 && ts == 1700000000000,
                   "get(%llu) returned another value than appended", (unsigned long long)o1);
        lsmlog_free(v);
    }
    if (a2) {
        for (int i = 0; i < 3; i++) {
            int rc = lsmlog_log_get(log, o2 + (uint64_t)i, &ts, &v, &len);
            FUZZ_CHECK(rc == LSMLOG_OK, "get(%llu) of an acknowledged batch record: %d",
                       (unsigned long long)(o2 + (uint64_t)i), rc);
            FUZZ_CHECK(len == e[i].len && (len == 0 || memcmp(v, e[i].data, len) == 0) &&
                           (i == 2 || ts == e[i].ts),
                       "get(%llu) returned another record than appended",
                       (unsigned long long)(o2 + (uint64_t)i));
            lsmlog_free(v);
        }
    }
    lsmlog_log_flush(log);
    uint64_t end1 = 0;
    bool have_end1 = lsmlog_log_bounds(log, NULL, &end1) == LSMLOG_OK;

    /* a reader beside the writer sees what it wrote */
    lsmlog_options ro = ro_opts();
    lsmlog_log *r;
    if (lsmlog_log_open(dir, &ro, &r) == LSMLOG_OK) {
        uint64_t rend = 0;
        if (have_end1 && lsmlog_log_bounds(r, NULL, &rend) == LSMLOG_OK)
            FUZZ_CHECK(rend == end1, "a reader beside the writer sees end %llu, the writer %llu",
                       (unsigned long long)rend, (unsigned long long)end1);
        run_ctx rc2 = *c;
        rc2.m = NULL, rc2.nm = rc2.cap = 0, rc2.repair = false;
        exercise(r, &rc2, false);
        free(rc2.m);
        lsmlog_log_close(r);
    }

    /* retention, then a look at what is left */
    uint64_t dropped;
    lsmlog_log_retain(log, c->retain_bytes, 0, &dropped);
    if (fz_mix(c->seed) & 1) lsmlog_log_truncate_before(log, end1);
    uint64_t end2 = 0;
    bool have_end2 = lsmlog_log_bounds(log, NULL, &end2) == LSMLOG_OK;
    if (have_end1 && have_end2)
        FUZZ_CHECK(end2 == end1, "retention moved the end from %llu to %llu",
                   (unsigned long long)end1, (unsigned long long)end2);
    iterate_all(log, c, 0, UINT64_MAX);
    lsmlog_log_close(log);

    /* reopen: recovery is idempotent and keeps what was acknowledged */
    if (!have_end2) return;
    int rc = lsmlog_log_open(dir, &c->o, &log);
    FUZZ_CHECK(rc == LSMLOG_OK, "the writer's own log does not reopen: %d", rc);
    uint64_t end3 = 0;
    FUZZ_CHECK(lsmlog_log_bounds(log, NULL, &end3) == LSMLOG_OK && end3 == end2,
               "reopened with end %llu, closed with %llu", (unsigned long long)end3,
               (unsigned long long)end2);
    FUZZ_CHECK(lsmlog_log_recovery(log)->truncated_bytes == 0,
               "the reopen cut %llu bytes of a cleanly closed log: %s",
               (unsigned long long)lsmlog_log_recovery(log)->truncated_bytes,
               lsmlog_log_recovery(log)->message);
    if (a2) {
        rc = lsmlog_log_get(log, o2, &ts, &v, &len);
        FUZZ_CHECK(rc == LSMLOG_OK && len == e[0].len && memcmp(v, e[0].data, len) == 0 &&
                       ts == e[0].ts,
                   "after reopen, get(%llu) = %d: an acknowledged record is lost",
                   (unsigned long long)o2, rc);
        lsmlog_free(v);
    }
    lsmlog_log_close(log);
}

static void run(const files *f, run_ctx *c, bool has_index) {
    const char *dir = fz_dir();
    fz_empty_dir(dir);
    write_files(dir, f);
    c->strict = !(has_index && f->seg1.n);
    c->repair = false;

    /* 1. read-only, over the files as they are */
    lsmlog_options ro = ro_opts();
    lsmlog_log *log;
    if (lsmlog_log_open(dir, &ro, &log) == LSMLOG_OK) {
        exercise(log, c, false);
        FUZZ_CHECK(lsmlog_log_close(log) == LSMLOG_OK, "close");
    }

    /* 2. the writer: recovery */
    writer_run(dir, c);

    /* 3. repair, over a fresh copy */
    fz_empty_dir(dir);
    write_files(dir, f);
    lsmlog_options ropt = c->o;
    ropt.repair = 1;
    if (lsmlog_log_open(dir, &ropt, &log) == LSMLOG_OK) {
        c->strict = c->repair = true;
        exercise(log, c, true);
        uint64_t end = 0;
        lsmlog_log_bounds(log, NULL, &end);
        FUZZ_CHECK(lsmlog_log_close(log) == LSMLOG_OK, "close");
        /* a repaired log opens plainly, with nothing more to cut */
        int rc = lsmlog_log_open(dir, &c->o, &log);
        FUZZ_CHECK(rc == LSMLOG_OK, "a repaired log does not open without repair: %d", rc);
        uint64_t end2 = 0;
        lsmlog_log_bounds(log, NULL, &end2);
        FUZZ_CHECK(end2 == end, "the repaired log had end %llu, reopened %llu",
                   (unsigned long long)end, (unsigned long long)end2);
        FUZZ_CHECK(lsmlog_log_recovery(log)->truncated_bytes == 0, "a repaired log was cut again");
        c->repair = false; /* the indexes repair wrote are truthful: still strict */
        exercise(log, c, true);
        lsmlog_log_close(log);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_part parts[FZ_MAX_PARTS];
    size_t np = fz_split(data, size, parts);
    files f;
    memset(&f, 0, sizeof f);
    f.seg0 = parts[0];
    if (np > 1) f.idx0 = parts[1];
    if (np > 2) f.tidx0 = parts[2];
    if (np > 3) f.seg1 = parts[3];
    f.base1 = f.seg1.n >= 24 ? get_u64(f.seg1.p + 16) : 0;
    if (f.base1 == 0) f.base1 = 1;

    run_ctx c;
    memset(&c, 0, sizeof c);
    c.seed = fz_hash(data, size);
    c.bound = size + 64;
    lsmlog_options_init(&c.o);
    c.o.create = 0;
    if (np > 4 && parts[4].n) {
        const uint8_t *p = parts[4].p;
        size_t n = parts[4].n;
        c.o.durability = p[0] % 3;
        if (n > 1) c.o.segment_ms = (p[1] & 1) ? (int64_t)(p[1] >> 1) * 10 + 1 : 0;
        if (n > 2) c.o.segment_bytes = 4096u << (p[2] % 8);
        if (n > 3) c.retain_bytes = (uint64_t)p[3] * 64;
    }
    bool has_index = f.idx0.n || f.tidx0.n;

    run(&f, &c, has_index);

    /* the same files with their checksums made right */
    size_t total = f.seg0.n + f.idx0.n + f.tidx0.n + f.seg1.n;
    uint8_t *buf = malloc(total ? total : 1);
    if (!buf) abort();
    files g = f;
    uint8_t *p = buf;
    fz_part *src[4] = {&f.seg0, &f.idx0, &f.tidx0, &f.seg1};
    fz_part *dst[4] = {&g.seg0, &g.idx0, &g.tidx0, &g.seg1};
    for (int i = 0; i < 4; i++) {
        if (src[i]->n) memcpy(p, src[i]->p, src[i]->n);
        dst[i]->p = p;
        p += src[i]->n;
    }
    int changed = fz_fix_segment((uint8_t *)g.seg0.p, g.seg0.n, 0);
    changed |= fz_fix_segment((uint8_t *)g.seg1.p, g.seg1.n, g.base1);
    changed |= fz_fix_index((uint8_t *)g.idx0.p, &g.idx0.n, 0, g.seg0.n, IDX_ENTRY_SIZE);
    changed |= fz_fix_index((uint8_t *)g.tidx0.p, &g.tidx0.n, 0, g.seg0.n, TIDX_ENTRY_SIZE);
    if (changed) run(&g, &c, has_index);
    free(buf);
    free(c.m);
    return 0;
}
