/* test_db_crash.c — kill -9 a DB writer at random moments and check recovery.
 *
 * Each round forks a child that opens the DB and writes numbered batches,
 * each a pure function of its number j (so the parent can check any of them
 * without being told what was written):
 *
 *   put k<j>-<m> for m < K(j) (2..5 keys, values from (j, m); now and then a
 *       20 KB value, so that memtables fill and flush often),
 *   put hot-<j % 16> = j      (overwrites: only the newest may show),
 *   put ctr = j               (the last batch applied),
 *   delete k<j-50>-0          (deletes that reach into tables).
 *
 * After each acknowledged write the child sends j through a pipe. A tiny
 * memtable makes flushes and compactions run all the time, so the SIGKILLs
 * land in the middle of WAL appends, table writes, manifest edits and file
 * deletions. The parent then reopens the DB (recovery runs) and checks, with
 * a full scan and gets:
 *
 *   - the batches present are exactly 0..P-1 (the WAL is a log: a prefix);
 *   - every acknowledged batch is among them (durability os and sync both
 *     promise to survive kill -9);
 *   - every batch is whole: all its keys with their exact values, k<j>-0 gone
 *     exactly when batch j+50 is present, hot-* the newest, ctr = P-1;
 *   - nothing else is there.
 *
 * The next round's child continues at P. At the end the recovered DB takes
 * more writes and a full compaction, and is checked again after a reopen.
 * CRASH_KILLS= sets the rounds per durability (default 50). */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "test_util.h"

#define READY UINT64_MAX
#define FAILED_BASE (UINT64_MAX - 1000) /* child failures: FAILED_BASE + code */
#define MEMTABLE_BYTES (24u << 10)
#define DELETE_LAG 50

static uint64_t g_vseed; /* values depend on the seed, so that runs differ */

static int nkeys(uint64_t j) {
    return 2 + (int)(tu_hash2(g_vseed + 1, j) % 4);
}

static size_t value_of(uint64_t j, int m, unsigned char *buf) {
    uint64_t h = tu_hash2(g_vseed + 2, j * 8 + (uint64_t)m);
    size_t n = 8 + (size_t)(h % 200);
    if (m == 1 && tu_hash2(g_vseed + 3, j) % 40 == 0) n = 20000;
    uint64_t st = h;
    tu_fill_random(&st, buf, n);
    tu_put_u64(buf, j * 8 + (uint64_t)m); /* the value names its key */
    return n;
}

static void key_of(uint64_t j, int m, char *k) {
    snprintf(k, 32, "k%010llu-%d", (unsigned long long)j, m);
}

/* Batch j into b (cleared first). */
static int make_batch(lsmlog_batch *b, uint64_t j, unsigned char *vbuf) {
    lsmlog_batch_clear(b);
    char k[32], num[32];
    int rc = LSMLOG_OK;
    for (int m = 0; rc == LSMLOG_OK && m < nkeys(j); m++) {
        key_of(j, m, k);
        size_t n = value_of(j, m, vbuf);
        rc = lsmlog_batch_put(b, k, strlen(k), vbuf, n);
    }
    snprintf(num, sizeof num, "%llu", (unsigned long long)j);
    snprintf(k, sizeof k, "hot-%02d", (int)(j % 16));
    if (rc == LSMLOG_OK) rc = lsmlog_batch_put(b, k, strlen(k), num, strlen(num));
    if (rc == LSMLOG_OK) rc = lsmlog_batch_put(b, "ctr", 3, num, strlen(num));
    if (rc == LSMLOG_OK && j >= DELETE_LAG) {
        key_of(j - DELETE_LAG, 0, k);
        rc = lsmlog_batch_delete(b, k, strlen(k));
    }
    return rc;
}

static lsmlog_options crash_opts(int durability) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.durability = durability;
    o.memtable_bytes = MEMTABLE_BYTES;
    o.cache_bytes = 1 << 20;
    return o;
}

static void send_u64(int fd, uint64_t v) {
    const char *p = (const char *)&v;
    size_t n = sizeof v;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(9);
        p += w;
        n -= (size_t)w;
    }
}

/* The child: write batches from `start` until killed. Never returns; never
 * exit() (the parent's atexit handlers are not the child's). */
static void child_writer(const char *dir, int durability, uint64_t start, uint64_t round_seed, int fd) {
    lsmlog_options o = crash_opts(durability);
    lsmlog_db *db = NULL;
    if (lsmlog_db_open(dir, &o, &db) != LSMLOG_OK) {
        send_u64(fd, FAILED_BASE + 1);
        _exit(2);
    }
    lsmlog_batch *b = NULL;
    static unsigned char vbuf[20000];
    if (lsmlog_batch_new(&b) != LSMLOG_OK) _exit(2);
    send_u64(fd, READY);
    uint64_t st = round_seed;
    for (uint64_t j = start;; j++) {
        if (make_batch(b, j, vbuf) != LSMLOG_OK || lsmlog_db_write(db, b) != LSMLOG_OK) {
            send_u64(fd, FAILED_BASE + 2);
            _exit(2);
        }
        send_u64(fd, j); /* acknowledged */
        uint64_t r = tu_splitmix64(&st) % 400;
        int rc = LSMLOG_OK;
        if (r == 0) rc = lsmlog_db_flush_memtable(db);
        else if (r == 1) rc = lsmlog_db_compact(db, "k", 1, "l", 1, NULL, NULL);
        if (rc != LSMLOG_OK) {
            send_u64(fd, FAILED_BASE + 3);
            _exit(2);
        }
    }
}

/* ---- checking a recovered DB ----------------------------------------------------- */

static uint64_t parse_num(const void *p, size_t n) {
    char buf[32];
    CHECKF(n > 0 && n < sizeof buf, "a number of %zu bytes", n);
    memcpy(buf, p, n);
    buf[n] = 0;
    char *end;
    uint64_t v = strtoull(buf, &end, 10);
    CHECKF(*end == 0, "not a number: %s", buf);
    return v;
}

/* Scans the whole DB and checks it holds exactly batches 0..P-1; returns P. */
static uint64_t verify_db(lsmlog_db *db, const char *what) {
    /* the last batch applied, then everything against it */
    void *v = NULL;
    size_t vl = 0;
    int rc = lsmlog_db_get(db, NULL, "ctr", 3, &v, &vl);
    CHECKF(rc == LSMLOG_OK || rc == LSMLOG_NOTFOUND, "%s: get ctr: %d (%s)", what, rc, tu_status_name(rc));
    uint64_t P = rc == LSMLOG_OK ? parse_num(v, vl) + 1 : 0;
    lsmlog_free(v);

    unsigned char *seen = calloc(P ? P : 1, 1); /* bit m: key m of batch j seen */
    int hot_seen[16] = {0};
    static unsigned char want[20000];
    lsmlog_db_iter *it = NULL;
    CHECK_OK(lsmlog_db_iter_open(db, NULL, &it));
    CHECK_OK(lsmlog_db_iter_first(it));
    while (lsmlog_db_iter_valid(it)) {
        size_t kl;
        const char *k = lsmlog_db_iter_key(it, &kl);
        const void *val = lsmlog_db_iter_value(it, &vl);
        char key[64];
        CHECKF(kl < sizeof key, "%s: a key of %zu bytes", what, kl);
        memcpy(key, k, kl);
        key[kl] = 0;
        if (strcmp(key, "ctr") == 0) {
            CHECKF(P && parse_num(val, vl) == P - 1, "%s: scan shows ctr %.*s, get said %llu", what, (int)vl,
                   (const char *)val, (unsigned long long)P - 1);
        } else if (strncmp(key, "hot-", 4) == 0) {
            int h = atoi(key + 4);
            CHECKF(h >= 0 && h < 16 && (uint64_t)h < P, "%s: unexpected %s", what, key);
            uint64_t newest = (P - 1) - ((P - 1 - (uint64_t)h) % 16); /* largest j < P with j % 16 == h */
            uint64_t got = parse_num(val, vl);
            CHECKF(got == newest, "%s: %s = %llu, want %llu (P %llu)", what, key, (unsigned long long)got,
                   (unsigned long long)newest, (unsigned long long)P);
            hot_seen[h] = 1;
        } else {
            unsigned long long j = 0;
            int m = -1;
            char extra;
            CHECKF(sscanf(key, "k%llu-%d%c", &j, &m, &extra) == 2, "%s: unexpected key %s", what, key);
            CHECKF(j < P, "%s: %s belongs to batch %llu, but ctr says %llu batches", what, key, j,
                   (unsigned long long)P);
            CHECKF(m >= 0 && m < nkeys(j), "%s: %s: batch %llu has %d keys", what, key, j, nkeys(j));
            size_t n = value_of(j, m, want);
            CHECKF(vl == n && memcmp(val, want, n) == 0, "%s: %s: wrong value (%zu bytes, want %zu)", what, key, vl,
                   n);
            CHECKF(!(seen[j] & (1u << m)), "%s: %s seen twice", what, key);
            seen[j] |= (unsigned char)(1u << m);
        }
        CHECK_OK(lsmlog_db_iter_next(it));
    }
    lsmlog_db_iter_close(it);
    for (uint64_t j = 0; j < P; j++) {
        unsigned want_bits = (1u << nkeys(j)) - 1;
        if (j + DELETE_LAG < P) want_bits &= ~1u; /* k<j>-0 deleted by batch j+50 */
        CHECKF(seen[j] == want_bits, "%s: batch %llu of %llu is partial: keys %#x, want %#x", what,
               (unsigned long long)j, (unsigned long long)P, seen[j], want_bits);
    }
    for (int h = 0; h < 16; h++) CHECKF(hot_seen[h] == ((uint64_t)h < P), "%s: hot-%02d", what, h);
    free(seen);

    /* gets agree with the scan: the newest batches, a sample of older ones, and the next (absent) */
    char k[32];
    for (int s = 0; s < 64 && P; s++) {
        uint64_t j = s < 16 ? P - 1 - (uint64_t)s % P : tu_rand_below(P);
        for (int m = 0; m < nkeys(j); m++) {
            key_of(j, m, k);
            void *gv = NULL;
            size_t gl = 0;
            rc = lsmlog_db_get(db, NULL, k, strlen(k), &gv, &gl);
            if (m == 0 && j + DELETE_LAG < P) {
                CHECKF(rc == LSMLOG_NOTFOUND, "%s: get %s: %d, want deleted", what, k, rc);
            } else {
                CHECKF(rc == LSMLOG_OK, "%s: get %s: %d (%s)", what, k, rc, tu_status_name(rc));
                size_t n = value_of(j, m, want);
                CHECKF(gl == n && memcmp(gv, want, n) == 0, "%s: get %s: wrong value", what, k);
            }
            lsmlog_free(gv);
        }
    }
    key_of(P, 1, k);
    CHECK_EQ_INT(lsmlog_db_get(db, NULL, k, strlen(k), NULL, NULL), LSMLOG_NOTFOUND);
    return P;
}

/* ---- the rounds ------------------------------------------------------------------ */

/* Reads what the child sent until `deadline_ms` (monotonic), the end of the
 * pipe, or (until_ready) the child's READY; updates *acked (the highest batch
 * acknowledged, +1), *ready and *failed. */
static void drain(int fd, double deadline_ms, int until_ready, uint64_t *acked, int *ready, uint64_t *failed) {
    for (;;) {
        if (until_ready && (*ready || *failed)) return;
        double left = deadline_ms - tu_mono_ms();
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, left > 0 ? (int)left + 1 : 0);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return;
        uint64_t buf[512];
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return;
        for (size_t i = 0; i < (size_t)r / sizeof buf[0]; i++) {
            if (buf[i] == READY) *ready = 1;
            else if (buf[i] >= FAILED_BASE) *failed = buf[i] - FAILED_BASE;
            else if (buf[i] + 1 > *acked) *acked = buf[i] + 1;
        }
        if (r % sizeof buf[0]) return; /* a kill cut a number in half: the stream ends there */
    }
}

typedef struct stats {
    int kills;
    uint64_t acked, recovered, in_flight, truncated, cuts, flushes, compactions;
} stats;

static void run_mode(const char *name, int durability, int kills) {
    const char *root = tu_mkdtemp();
    char dir[300];
    snprintf(dir, sizeof dir, "%s/db", root);
    stats s = {0};
    uint64_t P = 0; /* batches recovered by the previous round */
    double t0 = tu_mono_ms();
    for (int round = 0; round < kills; round++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        uint64_t round_seed = tu_rand();
        long delay_ms = (long)tu_rand_below(41);
        if (tu_rand_below(8) == 0) delay_ms += 100; /* now and then a longer run: deeper levels */
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_writer(dir, durability, P, round_seed, fds[1]);
            _exit(0);
        }
        close(fds[1]);
        uint64_t acked = P, failed = 0;
        int ready = 0;
        /* wait for the child to be open (it recovers too), then let it write */
        drain(fds[0], tu_mono_ms() + 60000, 1, &acked, &ready, &failed);
        CHECKF(ready || failed, "%s round %d: the child did not open the DB within 60 s", name, round);
        drain(fds[0], tu_mono_ms() + (double)delay_ms, 0, &acked, &ready, &failed);
        CHECK(kill(pid, SIGKILL) == 0);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        drain(fds[0], tu_mono_ms(), 0, &acked, &ready, &failed); /* what was sent before the kill */
        close(fds[0]);
        CHECKF(!failed, "%s round %d: the child failed (code %llu)", name, round, (unsigned long long)failed);
        CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "%s round %d: child status %d", name, round,
               status);
        s.kills++;

        lsmlog_options o = crash_opts(durability);
        lsmlog_db *db = NULL;
        int rc = lsmlog_db_open(dir, &o, &db);
        CHECKF(rc == LSMLOG_OK, "%s round %d: reopen after kill: %d (%s)", name, round, rc, tu_status_name(rc));
        const lsmlog_recovery *r = lsmlog_db_recovery(db);
        CHECK_EQ_U64(r->dropped_batches, 0);
        if (r->truncated_bytes) {
            s.cuts++;
            s.truncated += r->truncated_bytes;
        }
        char what[64];
        snprintf(what, sizeof what, "%s round %d (killed after %ld ms)", name, round, delay_ms);
        uint64_t got = verify_db(db, what);
        CHECKF(got >= P, "%s: %llu batches, the previous round recovered %llu", what, (unsigned long long)got,
               (unsigned long long)P);
        CHECKF(got >= acked, "%s: batches up to %llu acknowledged, %llu recovered", what, (unsigned long long)acked,
               (unsigned long long)got);
        s.acked += acked - P;
        s.recovered += got - P;
        s.in_flight += got - acked;
        if (round % 10 == 9) { /* a compaction of everything and a reopen, now and then */
            CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
            CHECK_OK(lsmlog_db_close(db));
            CHECK_OK(lsmlog_db_open(dir, &o, &db));
            CHECK_EQ_U64(verify_db(db, what), got);
        }
        lsmlog_db_stats st;
        CHECK_OK(lsmlog_db_get_stats(db, &st));
        s.flushes += st.flushes;
        s.compactions += st.compactions + st.trivial_moves;
        CHECK_OK(lsmlog_db_close(db));
        P = got;
    }

    /* the DB keeps working after all that: more batches, a compaction, a reopen */
    lsmlog_options o = crash_opts(durability);
    lsmlog_db *db = NULL;
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    lsmlog_batch *b = NULL;
    CHECK_OK(lsmlog_batch_new(&b));
    static unsigned char vbuf[20000];
    for (uint64_t j = P; j < P + 300; j++) {
        CHECK_OK(make_batch(b, j, vbuf));
        CHECK_OK(lsmlog_db_write(db, b));
    }
    lsmlog_batch_free(b);
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    CHECK_EQ_U64(verify_db(db, "after the rounds"), P + 300);
    lsmlog_db_stats st;
    CHECK_OK(lsmlog_db_get_stats(db, &st));
    CHECK_OK(lsmlog_db_close(db));
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    CHECK_EQ_U64(verify_db(db, "after the rounds, reopened"), P + 300);
    CHECK_OK(lsmlog_db_close(db));
    uint64_t tables = 0;
    for (int l = 0; l < LSMLOG_DB_LEVELS; l++) tables += st.levels[l].files;
    CHECKF(tu_count_suffix(dir, ".sst") == tables, "%zu .sst files for %llu tables: leftovers of the crashes",
           tu_count_suffix(dir, ".sst"), (unsigned long long)tables);
    /* one manifest: those of earlier opens are gone, crashed or not */
    {
        DIR *d = opendir(dir);
        CHECK(d != NULL);
        int manifests = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) manifests += strncmp(e->d_name, "manifest-", 9) == 0;
        closedir(d);
        CHECK_EQ_INT(manifests, 1);
    }
    printf("%s: %d kills in %.1f s, %llu batches acknowledged, %llu recovered (%llu in flight at the kill), "
           "%llu recoveries cut a torn tail (%llu bytes), %llu flushes and %llu compactions in the parent's opens, "
           "levels now %llu/%llu/%llu/%llu tables\n",
           name, s.kills, (tu_mono_ms() - t0) / 1000, (unsigned long long)s.acked, (unsigned long long)s.recovered,
           (unsigned long long)s.in_flight, (unsigned long long)s.cuts, (unsigned long long)s.truncated,
           (unsigned long long)s.flushes, (unsigned long long)s.compactions, (unsigned long long)st.levels[0].files,
           (unsigned long long)st.levels[1].files, (unsigned long long)st.levels[2].files,
           (unsigned long long)st.levels[3].files);
    fflush(stdout);
    tu_rmtemp(root);
}

static int g_kills = 50;

static void case_kill_os(void) {
    run_mode("os", LSMLOG_DURABILITY_OS, g_kills);
}
static void case_kill_sync(void) {
    run_mode("sync", LSMLOG_DURABILITY_SYNC, g_kills);
}

int main(void) {
    tu_init("test_db_crash");
    g_vseed = tu_seed;
    signal(SIGPIPE, SIG_IGN);
    if (getenv("CRASH_KILLS")) g_kills = atoi(getenv("CRASH_KILLS"));
    TU_CASE(case_kill_os);
    TU_CASE(case_kill_sync);
    return tu_finish();
}
