/*
 * stream_demo.c — the Log's main job, end to end, checking itself.
 *
 * A producer thread appends simulated sensor events, JSON text such as
 *   {"sensor":"s3","temp":21.4,"seq":123}
 * in batches for about two seconds, while the main thread tails the log live
 * (an iterator plus lsmlog_log_wait) and keeps per-sensor counts and mean
 * temperatures. Then it reads back a time window (since/until iterator and
 * lsmlog_log_offset_for_time), applies size retention over small segments,
 * verifies the log, and prints a summary. Every figure is checked against
 * what the producer knows it wrote; the exit status is 0 only if all agree.
 *
 * The log may already hold records from earlier runs: this run's records
 * start at the log's end at open, and its checks are relative to that.
 *
 * Usage: stream_demo [DIR]      (default ./demo-data/events)
 */
#include "lsmlog.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NSENSORS 8
#define BATCH_EVENTS 100          /* events per append_batch */
#define BATCH_INTERVAL_NS 2000000 /* one batch every 2 ms: 50,000 events/s */
#define RUN_NS 2000000000LL       /* produce for 2 s */
#define SEGMENT_BYTES (256u * 1024u)
#define RETAIN_BYTES (1024u * 1024u)
#define EVENT_MAX 96

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int g_failures;

/* Reports a failed lsmlog call with the library's message for this thread. */
static int lsm_failed(const char *what, int rc) {
    fprintf(stderr, "stream_demo: %s failed: %d (%s): %s\n", what, rc, lsmlog_strerror(rc),
            lsmlog_errmsg());
    return rc;
}

/* A check of the demo's own bookkeeping: prints and counts a mismatch. */
static void expect(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "stream_demo: CHECK FAILED: %s\n", what);
        g_failures++;
    }
}

/* Per-sensor aggregates. Temperatures are kept in tenths of a degree, as
 * they are written, so sums compare exactly. */
typedef struct agg {
    uint64_t count;
    int64_t tenths_sum;
    int tenths_min, tenths_max;
} agg;

static void agg_add(agg *a, int tenths) {
    if (a->count == 0 || tenths < a->tenths_min) a->tenths_min = tenths;
    if (a->count == 0 || tenths > a->tenths_max) a->tenths_max = tenths;
    a->count++;
    a->tenths_sum += tenths;
}

/* ---- producer ---------------------------------------------------------------- */

typedef struct producer {
    lsmlog_log *log;
    uint64_t base;               /* offset of this run's first event (seq 0) */
    atomic_uint_fast64_t appended; /* events appended so far, published per batch */
    atomic_int done;             /* set after the last append (or a failure) */
    int failed;
    agg truth[NSENSORS];         /* what was written */
    uint64_t batches;
    int64_t append_ns;           /* time spent inside append_batch */
    int64_t run_ns;              /* wall time of the producing phase */
    uint64_t value_bytes;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    static char text[BATCH_EVENTS][EVENT_MAX];
    lsmlog_entry e[BATCH_EVENTS];
    int temp[NSENSORS];
    uint64_t rng = 0x5eed5eedull, seq = 0;
    int64_t last_ts = 0;
    for (int s = 0; s < NSENSORS; s++) temp[s] = 180 + 10 * s;

    int64_t start = mono_ns();
    while (mono_ns() - start < RUN_NS) {
        int64_t ts = wall_ms();
        if (ts < last_ts) ts = last_ts; /* keep timestamps non-decreasing */
        last_ts = ts;
        int tenths[BATCH_EVENTS], sensor[BATCH_EVENTS];
        for (int i = 0; i < BATCH_EVENTS; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            int s = (int)((rng >> 33) % NSENSORS);
            int step = (int)((rng >> 40) % 5) - 2; /* a random walk, -0.2 .. +0.2 */
            temp[s] += step;
            if (temp[s] < 100) temp[s] = 100;
            if (temp[s] > 400) temp[s] = 400;
            int n = snprintf(text[i], EVENT_MAX,
                             "{\"sensor\":\"s%d\",\"temp\":%d.%d,\"seq\":%llu}", s,
                             temp[s] / 10, temp[s] % 10, (unsigned long long)(seq + (uint64_t)i));
            e[i].data = text[i];
            e[i].len = (size_t)n;
            e[i].ts = ts;
            tenths[i] = temp[s];
            sensor[i] = s;
            p->value_bytes += (uint64_t)n;
        }
        uint64_t first = 0;
        int64_t t0 = mono_ns();
        int rc = lsmlog_log_append_batch(p->log, e, BATCH_EVENTS, &first);
        p->append_ns += mono_ns() - t0;
        if (rc != LSMLOG_OK) {
            lsm_failed("lsmlog_log_append_batch", rc);
            p->failed = 1;
            break;
        }
        if (first != p->base + seq) {
            fprintf(stderr, "stream_demo: batch got first offset %llu, expected %llu\n",
                    (unsigned long long)first, (unsigned long long)(p->base + seq));
            p->failed = 1;
            break;
        }
        for (int i = 0; i < BATCH_EVENTS; i++) agg_add(&p->truth[sensor[i]], tenths[i]);
        seq += BATCH_EVENTS;
        p->batches++;
        atomic_store(&p->appended, seq);

        int64_t due = start + (int64_t)p->batches * BATCH_INTERVAL_NS;
        struct timespec d = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL) == EINTR) {
        }
    }
    p->run_ns = mono_ns() - start;
    atomic_store(&p->done, 1);
    return NULL;
}

/* ---- helpers for the reader --------------------------------------------------- */

/* Parses one event; 0 on success. */
static int parse_event(const lsmlog_record *rec, int *sensor, int *tenths, uint64_t *seq) {
    char buf[EVENT_MAX + 1];
    if (rec->len == 0 || rec->len > EVENT_MAX) return -1;
    memcpy(buf, rec->value, rec->len);
    buf[rec->len] = 0;
    int whole, frac, end = 0;
    unsigned long long sq;
    if (sscanf(buf, "{\"sensor\":\"s%d\",\"temp\":%d.%d,\"seq\":%llu}%n", sensor, &whole, &frac,
               &sq, &end) != 4 ||
        (size_t)end != rec->len || *sensor < 0 || *sensor >= NSENSORS || frac < 0 || frac > 9)
        return -1;
    *tenths = whole * 10 + frac;
    *seq = sq;
    return 0;
}

static int mkdir_parents(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (buf[i] != '/') continue;
        buf[i] = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "stream_demo: mkdir %s: %s\n", buf, strerror(errno));
            return -1;
        }
        buf[i] = '/';
    }
    return 0;
}

/* ---- main ----------------------------------------------------------------------- */

static int run(const char *dir) {
    int64_t t_start = mono_ns();
    int rc;
    if (mkdir_parents(dir) != 0) return 1;

    lsmlog_options o;
    lsmlog_options_init(&o);
    o.durability = LSMLOG_DURABILITY_OS;
    o.segment_bytes = SEGMENT_BYTES; /* small segments, so retention has work to do */
    lsmlog_log *log = NULL;
    if ((rc = lsmlog_log_open(dir, &o, &log)) != LSMLOG_OK) {
        lsm_failed("lsmlog_log_open", rc);
        return 1;
    }
    const lsmlog_recovery *rv = lsmlog_log_recovery(log);
    if (rv && rv->message && rv->message[0]) printf("recovery: %s\n", rv->message);

    static producer p; /* large: keep it off the stack */
    memset(&p, 0, sizeof p);
    p.log = log;
    atomic_init(&p.appended, 0);
    atomic_init(&p.done, 0);
    if ((rc = lsmlog_log_bounds(log, NULL, &p.base)) != LSMLOG_OK) {
        lsm_failed("lsmlog_log_bounds", rc);
        lsmlog_log_close(log);
        return 1;
    }
    printf("log %s: this run starts at offset %llu\n", dir, (unsigned long long)p.base);

    /* The tail iterator is opened before the producer starts, at the end. */
    lsmlog_iter_opts io;
    lsmlog_iter_opts_init(&io);
    io.start = p.base;
    lsmlog_log_iter *it = NULL;
    if ((rc = lsmlog_log_iter_open(log, &io, &it)) != LSMLOG_OK) {
        lsm_failed("lsmlog_log_iter_open", rc);
        lsmlog_log_close(log);
        return 1;
    }

    pthread_t th;
    if (pthread_create(&th, NULL, produce, &p) != 0) {
        fprintf(stderr, "stream_demo: pthread_create failed\n");
        lsmlog_log_iter_close(it);
        lsmlog_log_close(log);
        return 1;
    }

    /* Tail live. */
    agg seen[NSENSORS];
    memset(seen, 0, sizeof seen);
    uint64_t tailed = 0, cap = 1 << 16, bad = 0, timeouts_after_done = 0;
    int64_t *tsv = malloc(cap * sizeof *tsv); /* timestamp of each tailed event */
    int64_t lag_sum = 0, lag_max = 0, next_print = mono_ns() + 500000000;
    int err = 0;
    if (!tsv) {
        fprintf(stderr, "stream_demo: out of memory\n");
        err = 1;
    }
    while (!err) {
        lsmlog_record rec;
        rc = lsmlog_log_iter_next(it, &rec);
        if (rc == LSMLOG_OK) {
            int sensor, tenths;
            uint64_t seq;
            if (rec.offset != p.base + tailed || parse_event(&rec, &sensor, &tenths, &seq) != 0 ||
                seq != tailed) {
                if (bad++ == 0)
                    fprintf(stderr, "stream_demo: unexpected record at offset %llu: %.*s\n",
                            (unsigned long long)rec.offset, (int)(rec.len < 96 ? rec.len : 96),
                            (const char *)rec.value);
                err = 1;
                break;
            }
            agg_add(&seen[sensor], tenths);
            int64_t lag = wall_ms() - rec.timestamp;
            lag_sum += lag;
            if (lag > lag_max) lag_max = lag;
            if (tailed == cap) {
                int64_t *g = realloc(tsv, 2 * cap * sizeof *tsv);
                if (!g) {
                    fprintf(stderr, "stream_demo: out of memory\n");
                    err = 1;
                    break;
                }
                tsv = g;
                cap *= 2;
            }
            tsv[tailed++] = rec.timestamp;
        } else if (rc == LSMLOG_NOTFOUND) {
            int done = atomic_load(&p.done);
            uint64_t appended = atomic_load(&p.appended);
            if (done && (tailed == appended || p.failed)) break;
            rc = lsmlog_log_wait(log, p.base + tailed, 200);
            if (rc == LSMLOG_TIMEOUT && done && ++timeouts_after_done > 10) {
                fprintf(stderr, "stream_demo: tail stuck at %llu of %llu events\n",
                        (unsigned long long)tailed, (unsigned long long)appended);
                err = 1;
            } else if (rc != LSMLOG_OK && rc != LSMLOG_TIMEOUT) {
                lsm_failed("lsmlog_log_wait", rc);
                err = 1;
            }
        } else {
            lsm_failed("lsmlog_log_iter_next", rc);
            err = 1;
        }
        if (mono_ns() >= next_print) {
            next_print += 500000000;
            uint64_t a = atomic_load(&p.appended);
            printf("  live: %7llu appended, %7llu tailed, s0 mean %.2f C, s7 mean %.2f C\n",
                   (unsigned long long)a, (unsigned long long)tailed,
                   seen[0].count ? (double)seen[0].tenths_sum / 10.0 / (double)seen[0].count : 0.0,
                   seen[7].count ? (double)seen[7].tenths_sum / 10.0 / (double)seen[7].count : 0.0);
            fflush(stdout);
        }
    }
    pthread_join(th, NULL);
    lsmlog_log_iter_close(it);
    if (err || p.failed) {
        free(tsv);
        lsmlog_log_close(log);
        return 1;
    }
    uint64_t appended = atomic_load(&p.appended);

    expect(tailed == appended, "records tailed == records appended");
    for (int s = 0; s < NSENSORS; s++) {
        expect(seen[s].count == p.truth[s].count, "per-sensor count tailed == written");
        expect(seen[s].tenths_sum == p.truth[s].tenths_sum,
               "per-sensor temperature sum tailed == written");
        expect(seen[s].tenths_min == p.truth[s].tenths_min &&
                   seen[s].tenths_max == p.truth[s].tenths_max,
               "per-sensor min/max tailed == written");
    }
    uint64_t end = 0;
    if ((rc = lsmlog_log_bounds(log, NULL, &end)) != LSMLOG_OK) {
        lsm_failed("lsmlog_log_bounds", rc);
        free(tsv);
        lsmlog_log_close(log);
        return 1;
    }
    expect(end == p.base + appended, "log end == start of run + records appended");

    /* Read back the middle half of the run by time. */
    int ok = tailed >= 2 && tsv[tailed - 1] - tsv[0] >= 4;
    expect(ok, "the run spans at least 4 ms");
    uint64_t win_count = 0, win_lo_idx = 0, win_hi_idx = 0;
    int64_t lo = 0, hi = 0, win_ns = 0;
    if (ok) {
        int64_t span = tsv[tailed - 1] - tsv[0];
        lo = tsv[0] + span / 4;
        hi = tsv[0] + 3 * span / 4;
        while (win_lo_idx < tailed && tsv[win_lo_idx] < lo) win_lo_idx++;
        win_hi_idx = win_lo_idx;
        while (win_hi_idx < tailed && tsv[win_hi_idx] < hi) win_hi_idx++;

        uint64_t off_lo = 0, off_hi = 0;
        if ((rc = lsmlog_log_offset_for_time(log, lo, &off_lo)) != LSMLOG_OK) {
            lsm_failed("lsmlog_log_offset_for_time", rc);
            g_failures++;
        } else {
            expect(off_lo == p.base + win_lo_idx,
                   "offset_for_time(window start) is the first event at or after it");
        }
        if ((rc = lsmlog_log_offset_for_time(log, hi, &off_hi)) != LSMLOG_OK) {
            lsm_failed("lsmlog_log_offset_for_time", rc);
            g_failures++;
        } else {
            expect(off_hi == p.base + win_hi_idx,
                   "offset_for_time(window end) is the first event at or after it");
        }
        rc = lsmlog_log_offset_for_time(log, tsv[tailed - 1] + 1, &off_hi);
        expect(rc == LSMLOG_NOTFOUND, "offset_for_time past the newest event is NOTFOUND");

        lsmlog_iter_opts wo;
        lsmlog_iter_opts_init(&wo);
        wo.since = lo;
        wo.until = hi;
        lsmlog_log_iter *wit = NULL;
        int64_t t0 = mono_ns();
        if ((rc = lsmlog_log_iter_open(log, &wo, &wit)) != LSMLOG_OK) {
            lsm_failed("lsmlog_log_iter_open(since, until)", rc);
            g_failures++;
        } else {
            lsmlog_record rec;
            while ((rc = lsmlog_log_iter_next(wit, &rec)) == LSMLOG_OK) {
                int sensor, tenths;
                uint64_t seq;
                int good = rec.offset == p.base + win_lo_idx + win_count && rec.timestamp >= lo &&
                           rec.timestamp < hi && parse_event(&rec, &sensor, &tenths, &seq) == 0 &&
                           seq == win_lo_idx + win_count;
                if (!good) {
                    expect(0, "window record has the expected offset, time and sequence");
                    break;
                }
                win_count++;
            }
            win_ns = mono_ns() - t0;
            if (rc != LSMLOG_NOTFOUND && rc != LSMLOG_OK) {
                lsm_failed("lsmlog_log_iter_next(window)", rc);
                g_failures++;
            }
            lsmlog_log_iter_close(wit);
        }
        expect(win_count == win_hi_idx - win_lo_idx,
               "window read returns every event in [since, until)");
    }

    /* Retention: keep about RETAIN_BYTES of small segments. */
    lsmlog_log_info before, after;
    uint64_t dropped = 0, verified = 0;
    if ((rc = lsmlog_log_stat(log, &before)) != LSMLOG_OK ||
        (rc = lsmlog_log_retain(log, RETAIN_BYTES, 0, &dropped)) != LSMLOG_OK ||
        (rc = lsmlog_log_stat(log, &after)) != LSMLOG_OK) {
        lsm_failed("lsmlog_log_stat/retain", rc);
        free(tsv);
        lsmlog_log_close(log);
        return 1;
    }
    expect(after.end == before.end, "retention keeps the end");
    expect(after.segments + dropped == before.segments, "segments after == before - dropped");
    expect(after.bytes <= RETAIN_BYTES || after.segments == 1,
           "retention brings the log to its size limit");
    expect(before.bytes <= 2ull * RETAIN_BYTES || dropped > 0,
           "retention dropped segments from a log over its limit");
    expect(dropped == 0 || after.start > before.start, "dropping segments moves the start");
    if (after.start > 0) {
        rc = lsmlog_log_get(log, after.start - 1, NULL, NULL, NULL);
        expect(rc == LSMLOG_NOTFOUND, "the record before the new start is gone");
    }
    {
        void *v = NULL;
        size_t len = 0;
        int64_t ts = 0;
        rc = lsmlog_log_get(log, after.start, &ts, &v, &len);
        if (rc != LSMLOG_OK) lsm_failed("lsmlog_log_get(start)", rc);
        expect(rc == LSMLOG_OK && v != NULL, "the record at the new start reads back");
        lsmlog_free(v);
    }
    {
        uint64_t want = p.base > after.start ? p.base : after.start, got = 0;
        rc = lsmlog_log_offset_for_time(log, tsv[0], &got);
        if (rc != LSMLOG_OK) lsm_failed("lsmlog_log_offset_for_time(after retention)", rc);
        expect(rc == LSMLOG_OK && got == want,
               "offset_for_time after retention starts at the retained data");
    }
    if ((rc = lsmlog_log_verify(log, &verified)) != LSMLOG_OK) {
        lsm_failed("lsmlog_log_verify", rc);
        g_failures++;
    }
    expect(verified == after.end - after.start, "verify checked every retained record");

    double run_s = (double)p.run_ns / 1e9, append_s = (double)p.append_ns / 1e9;
    printf("\nsummary\n");
    printf("  records appended   %llu in %llu batches of %d over %.2f s\n",
           (unsigned long long)appended, (unsigned long long)p.batches, BATCH_EVENTS, run_s);
    printf("  records tailed     %llu (%s), lag mean %.2f ms, max %lld ms\n",
           (unsigned long long)tailed, tailed == appended ? "equal" : "MISMATCH",
           tailed ? (double)lag_sum / (double)tailed : 0.0, (long long)lag_max);
    printf("  throughput         %.0f events/s paced (%.2f MB/s of values); append_batch alone\n"
           "                     %.0f events/s (%.2f ms in %llu calls)\n",
           (double)appended / run_s, (double)p.value_bytes / run_s / 1e6,
           append_s > 0 ? (double)appended / append_s : 0.0, append_s * 1e3,
           (unsigned long long)p.batches);
    printf("  time window        [%lld, %lld) ms: %llu events (offsets %llu..%llu)"
           " read in %.3f ms\n",
           (long long)lo, (long long)hi, (unsigned long long)win_count,
           (unsigned long long)(p.base + win_lo_idx), (unsigned long long)(p.base + win_hi_idx),
           (double)win_ns / 1e6);
    printf("  segments           %llu (%.2f MiB) before retention, %llu dropped,"
           " %llu left (%.2f MiB);\n"
           "                     offsets [%llu, %llu), %llu records verified\n",
           (unsigned long long)before.segments, (double)before.bytes / 1048576.0,
           (unsigned long long)dropped, (unsigned long long)after.segments,
           (double)after.bytes / 1048576.0, (unsigned long long)after.start,
           (unsigned long long)after.end, (unsigned long long)verified);
    printf("  sensor     count   mean C    min C    max C\n");
    for (int s = 0; s < NSENSORS; s++) {
        const agg *a = &seen[s];
        printf("  s%-6d %8llu %8.2f %8.1f %8.1f\n", s, (unsigned long long)a->count,
               a->count ? (double)a->tenths_sum / 10.0 / (double)a->count : 0.0,
               a->tenths_min / 10.0, a->tenths_max / 10.0);
    }

    free(tsv);
    if ((rc = lsmlog_log_close(log)) != LSMLOG_OK) {
        lsm_failed("lsmlog_log_close", rc);
        g_failures++;
    }
    printf("  whole run          %.2f s\n", (double)(mono_ns() - t_start) / 1e9);
    if (g_failures) {
        printf("FAILED: %d check(s) did not add up\n", g_failures);
        return 1;
    }
    printf("OK: every check adds up\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: stream_demo [DIR]   (default ./demo-data/events)\n");
        return 2;
    }
    return run(argc == 2 ? argv[1] : "./demo-data/events");
}
