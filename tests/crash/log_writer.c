/* log_writer.c — the process tests/crash/kill_campaign.py SIGKILLs, and the
 * verifier it runs after each kill. Public API only (lsmlog.h).
 *
 *   crash_log_writer write  DIR DURABILITY SEGMENT_BYTES SEED
 *       Opens the log (recovery runs), prints "ready START END", then appends
 *       forever: single records and batches of 1-8, records whose value and
 *       timestamp are a pure function of their offset (below). After each
 *       append returns it prints the end of what is acknowledged ("END\n",
 *       flushed), so the last whole line the campaign read before the kill is
 *       a lower bound of what was acknowledged. Exits by itself after 60 s
 *       (no orphan if the campaign dies).
 *
 *   crash_log_writer verify DIR DURABILITY SEGMENT_BYTES FROM [full]
 *       Opens the log as a writer (recovery: a torn tail is cut), checks every
 *       record in [FROM, end) (and [start, end) with "full", plus
 *       lsmlog_log_verify): offsets dense, values and timestamps right. Prints
 *       "start=S end=E checked=N truncated=T" and exits 0, or prints
 *       "BAD ..." and exits 1 (2 for a usage or open error).
 *
 * The record at offset o (kill_campaign.py computes the same):
 *   length    (o * 7 + 3) % 101 bytes (0..100)
 *   value     the 16 bytes le64(o) le64(o * 0x9E3779B97F4A7C15 mod 2^64),
 *             repeated and cut to the length
 *   timestamp 1600000000000 + o (ms) */
#define _POSIX_C_SOURCE 200809L
#include "lsmlog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BASE_TS 1600000000000LL
#define MAXV 101

static size_t value_for(uint64_t off, unsigned char *buf) {
    size_t len = (size_t)((off * 7 + 3) % 101);
    unsigned char pat[16];
    uint64_t a = off, b = off * 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 8; i++) {
        pat[i] = (unsigned char)(a >> (8 * i));
        pat[8 + i] = (unsigned char)(b >> (8 * i));
    }
    for (size_t i = 0; i < len; i++)
        buf[i] = pat[i % 16];
    return len;
}

static int64_t ts_for(uint64_t off) {
    return BASE_TS + (int64_t)off;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_log(const char *dir, const char *durability, const char *segment_bytes,
                    lsmlog_log **log) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    if (lsmlog_durability_parse(durability, &o.durability) != LSMLOG_OK) {
        fprintf(stderr, "bad durability %s\n", durability);
        return 2;
    }
    o.segment_bytes = strtoull(segment_bytes, NULL, 10);
    int rc = lsmlog_log_open(dir, &o, log);
    if (rc != LSMLOG_OK) {
        printf("BAD open: %d %s\n", rc, lsmlog_errmsg());
        return 2;
    }
    return 0;
}

static int do_write(const char *dir, const char *durability, const char *segment_bytes,
                    uint64_t seed) {
    lsmlog_log *log = NULL;
    int rc = open_log(dir, durability, segment_bytes, &log);
    if (rc) return rc;
    uint64_t start = 0, end = 0;
    if (lsmlog_log_bounds(log, &start, &end) != LSMLOG_OK) return 2;
    printf("ready %" PRIu64 " %" PRIu64 "\n", start, end);
    fflush(stdout);
    static unsigned char vals[8][MAXV];
    lsmlog_entry e[8];
    uint64_t st = seed;
    double deadline = now_s() + 60;
    for (unsigned long i = 0;; i++) {
        size_t n = 1 + (size_t)(splitmix(&st) % 8);
        for (size_t k = 0; k < n; k++) {
            e[k].len = value_for(end + k, vals[k]);
            e[k].data = vals[k];
            e[k].ts = ts_for(end + k);
        }
        uint64_t first = UINT64_MAX;
        if (n == 1 && (splitmix(&st) & 1))
            rc = lsmlog_log_append(log, e[0].data, e[0].len, e[0].ts, &first);
        else
            rc = lsmlog_log_append_batch(log, e, n, &first);
        if (rc != LSMLOG_OK || first != end) {
            printf("BAD append at %" PRIu64 ": %d (first %" PRIu64 ") %s\n", end, rc, first,
                   lsmlog_errmsg());
            return 1;
        }
        end += n;
        printf("%" PRIu64 "\n", end); /* acknowledged: the append returned */
        fflush(stdout);
        if (i % 256 == 0 && now_s() > deadline) break;
    }
    lsmlog_log_close(log);
    return 0;
}

static int check_range(lsmlog_log *log, uint64_t from, uint64_t end, uint64_t *checked) {
    lsmlog_iter_opts io;
    lsmlog_iter_opts_init(&io);
    io.start = from;
    lsmlog_log_iter *it = NULL;
    if (lsmlog_log_iter_open(log, &io, &it) != LSMLOG_OK) {
        printf("BAD iter_open: %s\n", lsmlog_errmsg());
        return 1;
    }
    unsigned char want[MAXV];
    int bad = 0;
    uint64_t off = from;
    for (; off < end; off++) {
        lsmlog_record rec;
        int rc = lsmlog_log_iter_next(it, &rec);
        if (rc != LSMLOG_OK) {
            printf("BAD offset %" PRIu64 ": %d %s\n", off, rc,
                   rc < 0 ? lsmlog_errmsg() : "missing");
            bad = 1;
            break;
        }
        size_t len = value_for(off, want);
        if (rec.offset != off || rec.len != len || memcmp(rec.value, want, len) != 0 ||
            rec.timestamp != ts_for(off)) {
            printf("BAD offset %" PRIu64 ": got offset %" PRIu64 " len %zu, want len %zu\n", off,
                   rec.offset, rec.len, len);
            bad = 1;
            break;
        }
        (*checked)++;
    }
    if (!bad) {
        lsmlog_record rec;
        if (lsmlog_log_iter_next(it, &rec) != LSMLOG_NOTFOUND) {
            printf("BAD a record past the end %" PRIu64 "\n", end);
            bad = 1;
        }
    }
    lsmlog_log_iter_close(it);
    return bad;
}

static int do_verify(const char *dir, const char *durability, const char *segment_bytes,
                     uint64_t from, int full) {
    lsmlog_log *log = NULL;
    int rc = open_log(dir, durability, segment_bytes, &log);
    if (rc) return rc;
    uint64_t start = 0, end = 0, checked = 0;
    lsmlog_log_bounds(log, &start, &end);
    const lsmlog_recovery *r = lsmlog_log_recovery(log);
    int bad = 0;
    if (r->dropped_batches) {
        printf("BAD recovery dropped %" PRIu64 " batches: %s\n", r->dropped_batches, r->message);
        bad = 1;
    }
    if (!bad && from > end) {
        printf("BAD end %" PRIu64 " is below %" PRIu64 ", which was there before\n", end, from);
        bad = 1;
    }
    if (!bad) bad = check_range(log, full ? start : (from > start ? from : start), end, &checked);
    if (!bad && full) {
        uint64_t n = 0;
        rc = lsmlog_log_verify(log, &n);
        if (rc != LSMLOG_OK || n != end - start) {
            printf("BAD verify: %d, %" PRIu64 " records: %s\n", rc, n, lsmlog_errmsg());
            bad = 1;
        }
    }
    if (!bad)
        printf("start=%" PRIu64 " end=%" PRIu64 " checked=%" PRIu64 " truncated=%" PRIu64 "\n",
               start, end, checked, r->truncated_bytes);
    lsmlog_log_close(log);
    return bad;
}

int main(int argc, char **argv) {
    if (argc >= 6 && strcmp(argv[1], "write") == 0)
        return do_write(argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 10));
    if (argc >= 6 && strcmp(argv[1], "verify") == 0)
        return do_verify(argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 10),
                         argc >= 7 && strcmp(argv[6], "full") == 0);
    fprintf(stderr,
            "usage: %s write DIR DURABILITY SEGMENT_BYTES SEED\n"
            "       %s verify DIR DURABILITY SEGMENT_BYTES FROM [full]\n",
            argv[0], argv[0]);
    return 2;
}
