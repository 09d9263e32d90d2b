/* db_writer.c — the DB process tests/crash/kill_campaign.py SIGKILLs (--store
 * db), and the verifier it runs after each kill. Public API only (lsmlog.h).
 *
 *   crash_db_writer write  DIR DURABILITY SEED
 *       Opens the DB (recovery runs) with a 64 KiB memtable, so that kills
 *       land in flushes and compactions too; prints "ready 0 END", then writes
 *       batch END, END+1, ... for ever, each one atomic batch:
 *         put "b<n>/<j>" = value(n, j)   for j < 1 + n % 4
 *         delete "b<n-20>/0"             (when n >= 20)
 *         put "last" = "<n>"
 *       After each write returns it prints the number of batches acknowledged
 *       ("n+1\n", flushed). Exits by itself after 60 s.
 *
 *   crash_db_writer verify DIR DURABILITY FROM [full]
 *       Opens the DB as a writer (recovery), reads "last" = L (END = L + 1, or
 *       0), and checks batches [FROM, END) (every batch with "full", plus a
 *       full scan that must hold exactly the expected keys): every key of a
 *       batch present with its exact value, except those a later batch up to
 *       L deleted, which must be absent; and no key of batch END (a batch is
 *       all or nothing). Prints "start=0 end=END checked=N truncated=T" and
 *       exits 0, or "BAD ..." and exits 1 (2 for a usage or open error). */
#define _POSIX_C_SOURCE 200809L
#include "lsmlog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DELETE_LAG 20

static int keys_of(uint64_t n) {
    return 1 + (int)(n % 4);
}

static size_t key_for(uint64_t n, int j, char *buf) {
    return (size_t)snprintf(buf, 48, "b%010" PRIu64 "/%d", n, j);
}

static size_t value_for(uint64_t n, int j, unsigned char *buf) {
    size_t len = (size_t)((n * 7 + (uint64_t)j * 13) % 120);
    uint64_t x = n * 0x9E3779B97F4A7C15ull + (uint64_t)j;
    for (size_t i = 0; i < len; i++) {
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        buf[i] = (unsigned char)(x * 0x2545F4914F6CDD1Dull >> 56);
    }
    return len;
}

static int deleted(uint64_t n, int j, uint64_t last) { /* by batch n + DELETE_LAG <= last */
    return j == 0 && n + DELETE_LAG <= last;
}

static lsmlog_db *open_db(const char *dir, const char *dur) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    if (lsmlog_durability_parse(dur, &o.durability) != LSMLOG_OK) return NULL;
    o.memtable_bytes = 64 << 10;
    lsmlog_db *db = NULL;
    if (lsmlog_db_open(dir, &o, &db) != LSMLOG_OK) {
        printf("BAD open: %s\n", lsmlog_errmsg());
        return NULL;
    }
    return db;
}

/* Batches recorded so far: "last" + 1, or 0. -1 on an error. */
static int64_t batches(lsmlog_db *db) {
    void *v = NULL;
    size_t len = 0;
    int rc = lsmlog_db_get(db, NULL, "last", 4, &v, &len);
    if (rc == LSMLOG_NOTFOUND) return 0;
    if (rc != LSMLOG_OK) {
        printf("BAD get last: %s\n", lsmlog_errmsg());
        return -1;
    }
    char text[32] = "";
    if (len < sizeof text) memcpy(text, v, len);
    lsmlog_free(v);
    return (int64_t)strtoull(text, NULL, 10) + 1;
}

static int do_write(const char *dir, const char *dur) {
    lsmlog_db *db = open_db(dir, dur);
    if (!db) return 2;
    int64_t end = batches(db);
    if (end < 0) return 2;
    printf("ready 0 %" PRId64 "\n", end);
    fflush(stdout);
    lsmlog_batch *b = NULL;
    if (lsmlog_batch_new(&b) != LSMLOG_OK) return 2;
    time_t t0 = time(NULL);
    char key[48], last[32];
    unsigned char val[128];
    for (uint64_t n = (uint64_t)end; time(NULL) - t0 < 60; n++) {
        lsmlog_batch_clear(b);
        for (int j = 0; j < keys_of(n); j++) {
            size_t kl = key_for(n, j, key), vl = value_for(n, j, val);
            if (lsmlog_batch_put(b, key, kl, val, vl) != LSMLOG_OK) return 2;
        }
        if (n >= DELETE_LAG && lsmlog_batch_delete(b, key, key_for(n - DELETE_LAG, 0, key)) != LSMLOG_OK) return 2;
        int ll = snprintf(last, sizeof last, "%" PRIu64, n);
        if (lsmlog_batch_put(b, "last", 4, last, (size_t)ll) != LSMLOG_OK) return 2;
        if (lsmlog_db_write(db, b) != LSMLOG_OK) {
            printf("BAD write of batch %" PRIu64 ": %s\n", n, lsmlog_errmsg());
            fflush(stdout);
            return 1;
        }
        printf("%" PRIu64 "\n", n + 1);
        fflush(stdout);
    }
    lsmlog_batch_free(b);
    lsmlog_db_close(db);
    return 0;
}

/* Checks one key: present with its value, or absent. 0 or 1 (printed). */
static int check_key(lsmlog_db *db, uint64_t n, int j, int want) {
    char key[48];
    unsigned char val[128];
    size_t kl = key_for(n, j, key), vl = value_for(n, j, val);
    void *v = NULL;
    size_t len = 0;
    int rc = lsmlog_db_get(db, NULL, key, kl, &v, &len);
    int ok = want ? rc == LSMLOG_OK && len == vl && (vl == 0 || memcmp(v, val, vl) == 0) : rc == LSMLOG_NOTFOUND;
    if (!ok) printf("BAD key %s: get %d (%zu bytes), want %s\n", key, rc, len, want ? "its value" : "absent");
    lsmlog_free(v);
    return ok ? 0 : 1;
}

static int do_verify(const char *dir, const char *dur, uint64_t from, int full) {
    lsmlog_db *db = open_db(dir, dur);
    if (!db) return 2;
    const lsmlog_recovery *rec = lsmlog_db_recovery(db);
    uint64_t truncated = rec ? rec->truncated_bytes : 0;
    int64_t end = batches(db);
    if (end < 0) return 1;
    uint64_t e = (uint64_t)end, last = e ? e - 1 : 0, checked = 0, expected_keys = 0;
    if (full) from = 0;
    /* a batch also deletes DELETE_LAG back: look at those too */
    uint64_t lo = from > DELETE_LAG ? from - DELETE_LAG : 0;
    for (uint64_t n = lo; n < e; n++)
        for (int j = 0; j < keys_of(n); j++) {
            if (check_key(db, n, j, !deleted(n, j, last))) return 1;
            checked++;
        }
    for (int j = 0; j < keys_of(e); j++)
        if (check_key(db, e, j, 0)) return 1; /* the batch after the last: none of it */
    if (full) {
        for (uint64_t n = 0; n < e; n++)
            for (int j = 0; j < keys_of(n); j++) expected_keys += !deleted(n, j, last);
        lsmlog_db_iter_opts o;
        lsmlog_db_iter_opts_init(&o);
        o.prefix = "b";
        o.prefix_len = 1;
        lsmlog_db_iter *it = NULL;
        uint64_t seen = 0;
        int rc = lsmlog_db_iter_open(db, &o, &it);
        for (rc = rc ? rc : lsmlog_db_iter_first(it); rc == LSMLOG_OK && lsmlog_db_iter_valid(it);
             rc = lsmlog_db_iter_next(it))
            seen++;
        lsmlog_db_iter_close(it);
        if (rc != LSMLOG_OK || seen != expected_keys) {
            printf("BAD full scan: %d, %" PRIu64 " keys, want %" PRIu64 ": %s\n", rc, seen, expected_keys,
                   lsmlog_errmsg());
            return 1;
        }
    }
    if (lsmlog_db_close(db) != LSMLOG_OK) {
        printf("BAD close: %s\n", lsmlog_errmsg());
        return 1;
    }
    printf("start=0 end=%" PRIu64 " checked=%" PRIu64 " truncated=%" PRIu64 "\n", e, checked, truncated);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "write") == 0) return do_write(argv[2], argv[3]);
    if (argc >= 5 && strcmp(argv[1], "verify") == 0)
        return do_verify(argv[2], argv[3], strtoull(argv[4], NULL, 10), argc > 5 && strcmp(argv[5], "full") == 0);
    fprintf(stderr, "usage: crash_db_writer write DIR DURABILITY SEED | verify DIR DURABILITY FROM [full]\n");
    return 2;
}
