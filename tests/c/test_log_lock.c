/* test_log_lock.c — one writer per directory, across processes; read-only
 * handles in other processes follow the writer.
 *
 * A forked child runs a small command loop (commands over one pipe, replies
 * over another) so the parent can make it do one thing at a time and check
 * the effect from its own side. Children leave with _exit: the parent's
 * atexit handlers (temp dir removal) are not theirs to run. */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "test_util.h"

#define MAX_VALUE 100

static char g_dir[300];

static size_t value_for(uint64_t off, unsigned char *buf) {
    return tu_make_value(tu_seed, off, MAX_VALUE, buf);
}
static int64_t ts_for(uint64_t off) {
    return 1000 + (int64_t)off;
}

/* ---- a child and its pipes --------------------------------------------------- */

typedef struct child {
    pid_t pid;
    int cmd_w;   /* parent writes commands */
    int reply_r; /* parent reads replies */
} child;

/* A reply: a status and two numbers. */
typedef struct reply {
    int rc;
    uint64_t a, b;
} reply;

static void write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(9); /* the other side is gone */
        c += w;
        n -= (size_t)w;
    }
}

/* Reads exactly n bytes, or fails after timeout_ms. 0 on success. */
static int read_all(int fd, void *p, size_t n, int timeout_ms) {
    char *c = p;
    while (n) {
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, timeout_ms);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return -1;
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static void reply_send(int fd, int rc, uint64_t a, uint64_t b) {
    reply r;
    memset(&r, 0, sizeof r); /* the padding too: it goes through a pipe */
    r.rc = rc;
    r.a = a;
    r.b = b;
    write_all(fd, &r, sizeof r);
}

static reply expect_reply(const child *c, const char *what) {
    reply r;
    CHECKF(read_all(c->reply_r, &r, sizeof r, 20000) == 0, "no reply from the child for %s", what);
    return r;
}

static void send_cmd(const child *c, char cmd) {
    write_all(c->cmd_w, &cmd, 1);
}

static child spawn(void (*body)(int cmd_r, int reply_w)) {
    int cmd[2], rep[2];
    CHECK(pipe(cmd) == 0 && pipe(rep) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(cmd[1]);
        close(rep[0]);
        body(cmd[0], rep[1]);
        _exit(0);
    }
    close(cmd[0]);
    close(rep[1]);
    child c = {pid, cmd[1], rep[0]};
    return c;
}

/* Waits for the child to end; returns its wait status. */
static int reap(child *c) {
    int status = 0;
    CHECK(waitpid(c->pid, &status, 0) == c->pid);
    close(c->cmd_w);
    close(c->reply_r);
    return status;
}

static lsmlog_options opts(int readonly) {
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, 8192); /* rolls under the readers */
    o.readonly = readonly;
    return o;
}

/* Appends n deterministic records at the log's end. */
static int append_some(lsmlog_log *log, int n) {
    for (int i = 0; i < n; i++) {
        uint64_t end = 0;
        int rc = lsmlog_log_bounds(log, NULL, &end);
        if (rc) return rc;
        unsigned char buf[MAX_VALUE];
        size_t len = value_for(end, buf);
        uint64_t off = 0;
        rc = lsmlog_log_append(log, buf, len, ts_for(end), &off);
        if (rc) return rc;
        if (off != end) return -99;
    }
    return LSMLOG_OK;
}

/* Every record [0, end) is the deterministic one; 0 or the first bad offset + 1. */
static uint64_t check_records(lsmlog_log *log, uint64_t end) {
    lsmlog_log_iter *it = NULL;
    if (lsmlog_log_iter_open(log, NULL, &it) != LSMLOG_OK) return UINT64_MAX;
    uint64_t bad = 0;
    for (uint64_t off = 0; off < end && !bad; off++) {
        lsmlog_record rec;
        unsigned char want[MAX_VALUE];
        size_t len = value_for(off, want);
        if (lsmlog_log_iter_next(it, &rec) != LSMLOG_OK || rec.offset != off || rec.len != len ||
            memcmp(rec.value, want, len) != 0 || rec.timestamp != ts_for(off))
            bad = off + 1;
    }
    lsmlog_log_iter_close(it);
    return bad;
}

/* ---- child bodies --------------------------------------------------------------- */

/* Holds the writer; appends on command. Commands:
 *  'a' append 5 records          -> rc, end
 *  'd' sleep 300 ms, append 1    -> rc, end
 *  'r' roll: append 200 records  -> rc, end
 *  'L' a second writer open here -> its rc; also opens and closes a read-only
 *      handle, which must not release this process's lock
 *  'q' close and leave */
static void writer_child(int cmd_r, int reply_w) {
    lsmlog_options o = opts(0);
    lsmlog_log *log = NULL;
    int rc = lsmlog_log_open(g_dir, &o, &log);
    uint64_t end = 0;
    if (rc == LSMLOG_OK) lsmlog_log_bounds(log, NULL, &end);
    reply_send(reply_w, rc, end, 0);
    if (rc) _exit(1);
    for (;;) {
        char c;
        if (read_all(cmd_r, &c, 1, -1) != 0) _exit(3);
        switch (c) {
        case 'a':
        case 'd':
        case 'r':
            if (c == 'd') tu_sleep_ms(300);
            rc = append_some(log, c == 'a' ? 5 : c == 'd' ? 1 : 200);
            lsmlog_log_bounds(log, NULL, &end);
            reply_send(reply_w, rc, end, 0);
            break;
        case 'L': {
            lsmlog_log *second = NULL;
            int rc2 = lsmlog_log_open(g_dir, &o, &second);
            if (rc2 == LSMLOG_OK) lsmlog_log_close(second);
            lsmlog_options ro = opts(1);
            lsmlog_log *r = NULL;
            int rc3 = lsmlog_log_open(g_dir, &ro, &r);
            uint64_t rend = 0;
            if (rc3 == LSMLOG_OK) {
                lsmlog_log_bounds(r, NULL, &rend);
                lsmlog_log_close(r);
            }
            reply_send(reply_w, rc2, (uint64_t)(rc3 == LSMLOG_OK ? 0 : -rc3), rend);
            break;
        }
        case 'q':
            rc = lsmlog_log_close(log);
            reply_send(reply_w, rc, 0, 0);
            _exit(0);
        default:
            _exit(4);
        }
    }
}

/* A read-only handle that tails. Commands:
 *  'w' wait for a record at the current end (timeout 10 s) -> rc, ms, new end
 *  'c' check every record                                   -> first bad + 1 (0: all good), end
 *  'q' leave */
static void reader_child(int cmd_r, int reply_w) {
    lsmlog_options o = opts(1);
    lsmlog_log *log = NULL;
    int rc = lsmlog_log_open(g_dir, &o, &log);
    uint64_t end = 0;
    if (rc == LSMLOG_OK) rc = lsmlog_log_bounds(log, NULL, &end);
    reply_send(reply_w, rc, end, 0);
    if (rc) _exit(1);
    for (;;) {
        char c;
        if (read_all(cmd_r, &c, 1, -1) != 0) _exit(3);
        if (c == 'w') {
            /* tell the parent where the wait starts, then wait for the
             * record at that offset (a spurious wake-up shows as an
             * unchanged end in the reply) */
            lsmlog_log_bounds(log, NULL, &end);
            reply_send(reply_w, 0, end, 0);
            double t0 = tu_mono_ms();
            rc = lsmlog_log_wait(log, end, 10000);
            double ms = tu_mono_ms() - t0;
            uint64_t now = 0;
            lsmlog_log_bounds(log, NULL, &now);
            reply_send(reply_w, rc, (uint64_t)ms, now);
        } else if (c == 'c') {
            lsmlog_log_bounds(log, NULL, &end);
            reply_send(reply_w, 0, check_records(log, end), end);
        } else if (c == 'q') {
            lsmlog_log_close(log);
            reply_send(reply_w, 0, 0, 0);
            _exit(0);
        } else {
            _exit(4);
        }
    }
}

/* Holds the writer and appends without pause until killed. */
static void busy_writer_child(int cmd_r, int reply_w) {
    (void)cmd_r;
    lsmlog_options o = opts(0);
    lsmlog_log *log = NULL;
    int rc = lsmlog_log_open(g_dir, &o, &log);
    reply_send(reply_w, rc, 0, 0);
    if (rc) _exit(1);
    for (;;)
        if (append_some(log, 1) != LSMLOG_OK) _exit(5);
}

/* ---- cases ------------------------------------------------------------------------ */

static lsmlog_log *open_ro(void) {
    lsmlog_options o = opts(1);
    lsmlog_log *log = NULL;
    CHECK_OK(lsmlog_log_open(g_dir, &o, &log));
    return log;
}

/* A child holds the writer: the parent cannot write, but reads and follows. */
static void case_child_writer_parent_reader(void) {
    child c = spawn(writer_child);
    reply r = expect_reply(&c, "open");
    CHECK_OK(r.rc);
    uint64_t end = r.a;

    lsmlog_options w = opts(0);
    lsmlog_log *log = NULL;
    CHECK_EQ_INT(lsmlog_log_open(g_dir, &w, &log), LSMLOG_E_LOCKED);
    CHECK(lsmlog_errmsg()[0] != '\0');
    w.create = 0;
    CHECK_EQ_INT(lsmlog_log_open(g_dir, &w, &log), LSMLOG_E_LOCKED);
    w.repair = 1; /* repair needs the lock too */
    CHECK_EQ_INT(lsmlog_log_open(g_dir, &w, &log), LSMLOG_E_LOCKED);

    lsmlog_log *ro = open_ro();
    uint64_t ro_end = 0;
    CHECK_OK(lsmlog_log_bounds(ro, NULL, &ro_end));
    CHECK_EQ_U64(ro_end, end);

    /* the child appends; the parent's read-only handle sees it */
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(ro, NULL, &it));
    send_cmd(&c, 'a');
    r = expect_reply(&c, "append");
    CHECK_OK(r.rc);
    CHECK_EQ_U64(r.a, end + 5);
    end = r.a;
    CHECK_OK(lsmlog_log_bounds(ro, NULL, &ro_end));
    CHECK_EQ_U64(ro_end, end);
    CHECK_EQ_U64(check_records(ro, end), 0);
    for (uint64_t off = 0; off < end; off++) {
        unsigned char want[MAX_VALUE];
        size_t len = value_for(off, want);
        void *v = NULL;
        size_t vlen = 0;
        CHECK_OK(lsmlog_log_get(ro, off, NULL, &v, &vlen));
        CHECK(vlen == len && memcmp(v, want, len) == 0);
        lsmlog_free(v);
        lsmlog_record rec;
        CHECK_OK(lsmlog_log_iter_next(it, &rec));
        CHECK_EQ_U64(rec.offset, off);
    }
    lsmlog_record rec;
    CHECK_EQ_INT(lsmlog_log_iter_next(it, &rec), LSMLOG_NOTFOUND);

    /* across segment rolls by the other process */
    send_cmd(&c, 'r');
    r = expect_reply(&c, "roll");
    CHECK_OK(r.rc);
    end = r.a;
    CHECK_EQ_U64(check_records(ro, end), 0);
    uint64_t n = 0;
    while (lsmlog_log_iter_next(it, &rec) == LSMLOG_OK)
        n++;
    CHECK_EQ_U64(n, 200);

    /* nothing appended: a wait times out, after about its timeout */
    double t0 = tu_mono_ms();
    CHECK_EQ_INT(lsmlog_log_wait(ro, end, 200), LSMLOG_TIMEOUT);
    double ms = tu_mono_ms() - t0;
    CHECKF(ms >= 190 && ms < 5000, "a 200 ms wait took %.0f ms", ms);

    /* a wait woken by the other process's append, well before its timeout */
    send_cmd(&c, 'd'); /* appends after 300 ms */
    t0 = tu_mono_ms();
    CHECK_OK(lsmlog_log_wait(ro, end, 10000));
    ms = tu_mono_ms() - t0;
    CHECKF(ms < 3000, "woke after %.0f ms (append at ~300 ms, timeout 10000)", ms);
    r = expect_reply(&c, "delayed append");
    CHECK_OK(r.rc);
    end = r.a;
    CHECK_OK(lsmlog_log_bounds(ro, NULL, &ro_end));
    CHECK_EQ_U64(ro_end, end);
    CHECK_OK(lsmlog_log_iter_next(it, &rec));
    CHECK_EQ_U64(rec.offset, end - 1);

    /* in the child's own process: a second writer is refused too, and a
     * read-only open and close there must not drop its lock */
    send_cmd(&c, 'L');
    r = expect_reply(&c, "second writer");
    CHECK_EQ_INT(r.rc, LSMLOG_E_LOCKED);
    CHECKF(r.a == 0, "read-only open in the writer's process failed: %d", -(int)r.a);
    CHECK_EQ_U64(r.b, end);
    w = opts(0);
    CHECK_EQ_INT(lsmlog_log_open(g_dir, &w, &log), LSMLOG_E_LOCKED);

    /* the child closes and leaves: the lock is free */
    send_cmd(&c, 'q');
    r = expect_reply(&c, "close");
    CHECK_OK(r.rc);
    int status = reap(&c);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    lsmlog_log_iter_close(it);
    CHECK_OK(lsmlog_log_open(g_dir, &w, &log));
    CHECK_EQ_U64(check_records(log, end), 0);
    CHECK_OK(lsmlog_log_close(log));
    CHECK_OK(lsmlog_log_close(ro));
}

/* The parent writes; a read-only handle in a child follows and wakes. */
static void case_parent_writer_child_reader(void) {
    /* the child is forked before the parent takes the lock, so it does not
     * inherit the parent's lock descriptor */
    child c = spawn(reader_child);
    reply r = expect_reply(&c, "read-only open");
    CHECK_OK(r.rc);
    uint64_t end = r.a;

    lsmlog_options w = opts(0);
    lsmlog_log *log = NULL;
    CHECK_OK(lsmlog_log_open(g_dir, &w, &log));
    lsmlog_log *second = NULL;
    CHECK_EQ_INT(lsmlog_log_open(g_dir, &w, &second), LSMLOG_E_LOCKED); /* same process */
    lsmlog_log *ro = open_ro(); /* and read-only beside it, in the same process */
    CHECK_OK(lsmlog_log_close(ro));
    CHECK_EQ_INT(lsmlog_log_open(g_dir, &w, &second), LSMLOG_E_LOCKED); /* still held */

    for (int round = 0; round < 3; round++) {
        send_cmd(&c, 'w');
        r = expect_reply(&c, "about to wait");
        CHECK_EQ_U64(r.a, end); /* the child sees all the parent wrote */
        tu_sleep_ms(300);
        CHECK_OK(append_some(log, 1));
        end++;
        r = expect_reply(&c, "wait");
        CHECKF(r.rc == LSMLOG_OK, "the child's wait: %d (%s)", r.rc, tu_status_name(r.rc));
        /* woken by the append (the record is there), well before the 10 s timeout */
        CHECK_EQ_U64(r.b, end);
        CHECKF(r.a < 3000, "the child woke after %" PRIu64 " ms", r.a);
    }
    CHECK_OK(append_some(log, 300)); /* with rolls */
    end += 300;
    send_cmd(&c, 'c');
    r = expect_reply(&c, "check");
    CHECKF(r.a == 0, "the child read a wrong record at offset %" PRIu64, r.a - 1);
    CHECK_EQ_U64(r.b, end);
    send_cmd(&c, 'q');
    expect_reply(&c, "quit");
    int status = reap(&c);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_OK(lsmlog_log_close(log));
}

/* A writer killed with SIGKILL while holding the lock (and appending): the
 * lock goes with the process. */
static void case_lock_freed_by_kill(void) {
    for (int i = 0; i < 3; i++) {
        child c = spawn(busy_writer_child);
        reply r = expect_reply(&c, "open");
        CHECK_OK(r.rc);
        lsmlog_options w = opts(0);
        lsmlog_log *log = NULL;
        CHECK_EQ_INT(lsmlog_log_open(g_dir, &w, &log), LSMLOG_E_LOCKED);
        tu_sleep_ms(20 + (long)tu_rand_below(30));
        CHECK(kill(c.pid, SIGKILL) == 0);
        int status = reap(&c);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        CHECK_OK(lsmlog_log_open(g_dir, &w, &log));
        uint64_t end = 0;
        CHECK_OK(lsmlog_log_bounds(log, NULL, &end));
        CHECK_EQ_U64(check_records(log, end), 0);
        CHECK_OK(lsmlog_log_close(log));
    }
}

/* In one process: the lock is per directory, and free again after close. */
static void case_same_process(void) {
    lsmlog_options w = opts(0);
    lsmlog_log *a = NULL, *b = NULL;
    CHECK_OK(lsmlog_log_open(g_dir, &w, &a));
    CHECK_EQ_INT(lsmlog_log_open(g_dir, &w, &b), LSMLOG_E_LOCKED);
    CHECK_EQ_INT(lsmlog_log_open(g_dir, &w, &b), LSMLOG_E_LOCKED);
    /* another directory is another lock */
    char other[400];
    snprintf(other, sizeof other, "%s/other", tu_mkdtemp());
    lsmlog_log *c = NULL;
    CHECK_OK(lsmlog_log_open(other, &w, &c));
    CHECK_OK(lsmlog_log_close(c));
    CHECK_OK(lsmlog_log_close(a));
    CHECK_OK(lsmlog_log_open(g_dir, &w, &b));
    CHECK_OK(lsmlog_log_close(b));
}

int main(void) {
    tu_init("test_log_lock");
    snprintf(g_dir, sizeof g_dir, "%s/log", tu_mkdtemp());
    /* a log with a few records to start from */
    lsmlog_options w = opts(0);
    lsmlog_log *log = NULL;
    CHECK_OK(lsmlog_log_open(g_dir, &w, &log));
    CHECK_OK(append_some(log, 2));
    CHECK_OK(lsmlog_log_close(log));

    TU_CASE(case_same_process);
    TU_CASE(case_child_writer_parent_reader);
    TU_CASE(case_parent_writer_child_reader);
    TU_CASE(case_lock_freed_by_kill);
    return tu_finish();
}
