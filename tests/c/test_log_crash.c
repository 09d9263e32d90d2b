/* test_log_crash.c — kill -9 a writer at random moments and check recovery.
 *
 * Each round forks a child that opens the log and appends batches of records
 * whose contents are a pure function of their offset (so the parent can check
 * any record without being told what was written), publishing the end of
 * what was acknowledged to shared memory after every append. The parent
 * SIGKILLs it after 0-50 ms, reopens the log as a writer (recovery runs), and
 * checks: every acknowledged record is there and intact, every record that is
 * there is intact, offsets are dense. The next round's child continues from
 * the recovered end. Durability `os` and `sync` promise to survive kill -9;
 * `buffered` promises nothing for unflushed records, so it is only checked
 * for integrity. Small segments make rolls happen under the kills.
 * CRASH_KILLS=n sets the rounds in os and in sync (default 50); buffered runs
 * a fifth of that, at least one (10 by default). */
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "test_util.h"

#define BASE_TS 1600000000000LL
#define MAX_VALUE 300
#define SEGMENT_BYTES (64u * 1024)

/* What a child tells its parent, in a MAP_SHARED page: plain stores by the
 * child, read by the parent after waitpid. */
typedef struct shared {
    _Atomic uint64_t acked_end; /* offsets below it were acknowledged */
    _Atomic int error;          /* the child's failure code, 0 if none */
    _Atomic uint64_t got_end;   /* the end the child found at open */
} shared;

static size_t value_for(uint64_t off, unsigned char *buf) {
    return tu_make_value(tu_seed, off, MAX_VALUE, buf);
}
static int64_t ts_for(uint64_t off) {
    return BASE_TS + (int64_t)(off % 100000);
}

/* The child: append forever (until killed). Never returns; never uses
 * exit() (the parent's atexit handlers are not the child's to run). */
static void child_writer(const char *dir, int durability, uint64_t start, uint64_t round_seed,
                         shared *sh) {
    lsmlog_options o = tu_opts(durability, SEGMENT_BYTES);
    lsmlog_log *log = NULL;
    if (lsmlog_log_open(dir, &o, &log) != LSMLOG_OK) {
        atomic_store(&sh->error, 1);
        _exit(2);
    }
    uint64_t end = 0;
    if (lsmlog_log_bounds(log, NULL, &end) != LSMLOG_OK) {
        atomic_store(&sh->error, 2);
        _exit(2);
    }
    atomic_store(&sh->got_end, end);
    if (end != start) { /* the parent recovered and closed: the child must see the same end */
        atomic_store(&sh->error, 3);
        _exit(2);
    }
    uint64_t st = round_seed;
    static unsigned char vals[8][MAX_VALUE];
    for (;;) {
        size_t n = 1 + (size_t)(tu_splitmix64(&st) % 8);
        lsmlog_entry e[8];
        for (size_t i = 0; i < n; i++) {
            e[i].len = value_for(end + i, vals[i]);
            e[i].data = vals[i];
            e[i].ts = ts_for(end + i);
        }
        uint64_t first = UINT64_MAX;
        int rc;
        if (n == 1 && (tu_splitmix64(&st) & 1))
            rc = lsmlog_log_append(log, e[0].data, e[0].len, e[0].ts, &first);
        else
            rc = lsmlog_log_append_batch(log, e, n, &first);
        if (rc != LSMLOG_OK) {
            atomic_store(&sh->error, 4);
            _exit(2);
        }
        if (first != end) {
            atomic_store(&sh->error, 5);
            _exit(2);
        }
        end += n;
        atomic_store(&sh->acked_end, end); /* acknowledged: the append returned */
    }
}

/* Checks records [from, end) through an iterator: dense, intact. */
static void verify_range(lsmlog_log *log, uint64_t from, uint64_t end) {
    lsmlog_iter_opts o;
    lsmlog_iter_opts_init(&o);
    o.start = from;
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, &o, &it));
    unsigned char want[MAX_VALUE];
    for (uint64_t off = from; off < end; off++) {
        lsmlog_record rec;
        int rc = lsmlog_log_iter_next(it, &rec);
        CHECKF(rc == LSMLOG_OK, "offset %" PRIu64 ": %d (%s)", off, rc, tu_status_name(rc));
        CHECKF(rec.offset == off, "offset %" PRIu64 " came as %" PRIu64, off, rec.offset);
        size_t len = value_for(off, want);
        CHECKF(rec.len == len && memcmp(rec.value, want, len) == 0,
               "offset %" PRIu64 ": value differs (len %zu, want %zu)", off, rec.len, len);
        CHECKF(rec.timestamp == ts_for(off), "offset %" PRIu64 ": ts", off);
    }
    lsmlog_record rec;
    CHECK_EQ_INT(lsmlog_log_iter_next(it, &rec), LSMLOG_NOTFOUND);
    lsmlog_log_iter_close(it);
}

typedef struct stats {
    int kills;
    uint64_t verified, lost, truncated_bytes, recoveries_with_cut;
} stats;

static void run_mode(const char *name, int durability, int kills, int must_keep_acked) {
    const char *dir_root = tu_mkdtemp();
    char dir[300];
    snprintf(dir, sizeof dir, "%s/log", dir_root);
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    stats s = {0};
    uint64_t start = 0;    /* the end recovered by the previous round */
    uint64_t verified = 0; /* records [0, verified) checked at least once */

    for (int round = 0; round < kills; round++) {
        atomic_store(&sh->acked_end, start);
        atomic_store(&sh->error, 0);
        atomic_store(&sh->got_end, UINT64_MAX);
        uint64_t round_seed = tu_rand();
        long delay_ms = (long)tu_rand_below(51);
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            child_writer(dir, durability, start, round_seed, sh);
            _exit(0);
        }
        tu_sleep_ms(delay_ms);
        CHECK(kill(pid, SIGKILL) == 0);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        int err = atomic_load(&sh->error);
        CHECKF(err == 0,
               "%s round %d: the child failed with code %d (found end %" PRIu64
               ", expected %" PRIu64 ")",
               name, round, err, atomic_load(&sh->got_end), start);
        CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
               "%s round %d: child ended with status %d", name, round, status);
        s.kills++;
        uint64_t acked = atomic_load(&sh->acked_end);

        lsmlog_options o = tu_opts(durability, SEGMENT_BYTES);
        lsmlog_log *log = NULL;
        int rc = lsmlog_log_open(dir, &o, &log);
        CHECKF(rc == LSMLOG_OK, "%s round %d: reopen after kill: %d (%s)", name, round, rc,
               tu_status_name(rc));
        const lsmlog_recovery *r = lsmlog_log_recovery(log);
        if (r->truncated_bytes) {
            s.recoveries_with_cut++;
            s.truncated_bytes += r->truncated_bytes;
        }
        CHECK_EQ_U64(r->dropped_batches, 0);
        uint64_t lo = 0, end = 0;
        CHECK_OK(lsmlog_log_bounds(log, &lo, &end));
        CHECK_EQ_U64(lo, 0);
        /* what the previous round recovered was closed cleanly: never lost */
        CHECKF(end >= start, "%s round %d: end %" PRIu64 " below the last recovered end %" PRIu64,
               name, round, end, start);
        if (end < acked) s.lost += acked - end;
        if (must_keep_acked)
            CHECKF(end >= acked,
                   "%s round %d (killed after %ld ms): acknowledged up to %" PRIu64
                   ", recovered end %" PRIu64,
                   name, round, delay_ms, acked, end);
        /* the new records (acknowledged or not, whatever is there is whole) */
        verify_range(log, verified < end ? verified : end, end);
        s.verified += end - (verified < end ? verified : end);
        verified = end;
        if (round % 10 == 9 || round == kills - 1) {
            verify_range(log, 0, end); /* and now and then all of it again */
            uint64_t count = 0;
            CHECK_OK(lsmlog_log_verify(log, &count));
            CHECK_EQ_U64(count, end);
        }
        CHECK_OK(lsmlog_log_close(log));
        start = end;
    }
    uint64_t segs[1];
    printf("%s: %d kills, %" PRIu64 " records verified, %" PRIu64
           " acknowledged records lost%s, %" PRIu64 " recoveries cut a torn tail (%" PRIu64
           " bytes), %zu segments\n",
           name, s.kills, s.verified, s.lost, must_keep_acked ? "" : " (allowed)",
           s.recoveries_with_cut, s.truncated_bytes, tu_list_segments(dir, segs, 0));
    fflush(stdout);
    munmap(sh, sizeof *sh);
    tu_rmtemp(dir_root);
}

static int g_kills = 50;

static void case_kill_os(void) {
    run_mode("os", LSMLOG_DURABILITY_OS, g_kills, 1);
}
static void case_kill_sync(void) {
    run_mode("sync", LSMLOG_DURABILITY_SYNC, g_kills, 1);
}
static void case_kill_buffered(void) {
    run_mode("buffered", LSMLOG_DURABILITY_BUFFERED, g_kills >= 10 ? g_kills / 5 : 1, 0);
}

int main(void) {
    tu_init("test_log_crash");
    if (getenv("CRASH_KILLS")) g_kills = atoi(getenv("CRASH_KILLS"));
    TU_CASE(case_kill_os);
    TU_CASE(case_kill_sync);
    TU_CASE(case_kill_buffered);
    return tu_finish();
}
