/* Faults injected through the file-I/O layer (env_set_ops) into a Log's
 * write path: a write that fails part-way (ENOSPC) leaves no partial batch
 * and the log goes on; a failed fdatasync fails the handle for good (the
 * PostgreSQL "fsyncgate" lesson); short writes are completed. After each,
 * reopening shows every acknowledged record and nothing else. */
#include "env.h"
#include "test_util.h"

#include <errno.h>

static int fail_pwrite_at = -1; /* fail the Nth pwrite from now (0: next) */
static int fail_sync_at = -1;
static int pwrites, syncs;

static ssize_t fault_pwrite(int fd, const void *buf, size_t n, off_t off) {
    if (fail_pwrite_at >= 0 && pwrites++ == fail_pwrite_at) {
        /* write a prefix, then fail: what a full disk does to a long write */
        ssize_t w = pwrite(fd, buf, n / 2, off);
        (void)w;
        errno = ENOSPC;
        return -1;
    }
    return pwrite(fd, buf, n, off);
}

static ssize_t fault_pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
    if (fail_pwrite_at >= 0 && pwrites++ == fail_pwrite_at) {
        ssize_t w = pwrite(fd, iov[0].iov_base, iov[0].iov_len / 2, off); /* a prefix, then ENOSPC */
        (void)w;
        errno = ENOSPC;
        return -1;
    }
    return pwritev(fd, iov, cnt, off);
}

static int fault_fdatasync(int fd) {
    if (fail_sync_at >= 0 && syncs++ == fail_sync_at) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static void install(void) {
    env_ops o = *env_get_ops();
    o.pwrite = fault_pwrite;
    o.pwritev = fault_pwritev;
    o.fdatasync = fault_fdatasync;
    env_set_ops(&o);
    pwrites = syncs = 0;
}

static void reset(void) {
    env_set_ops(NULL);
    fail_pwrite_at = fail_sync_at = -1;
}

static void append_n(lsmlog_log *log, tu_model *m, int n) {
    unsigned char buf[300];
    for (int i = 0; i < n; i++) {
        size_t len = tu_make_value(tu_seed, m->n, sizeof buf, buf);
        uint64_t off;
        CHECK_OK(lsmlog_log_append(log, buf, len, 1000 + (int64_t)m->n, &off));
        CHECK_EQ_U64(off, m->n);
        tu_model_add(m, buf, len, 1000 + (int64_t)m->n);
    }
}

static void enospc_mid_write(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, 1u << 20);
    lsmlog_log *log;
    tu_model m = {0};
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    append_n(log, &m, 50);
    install();
    fail_pwrite_at = 0;
    unsigned char big[5000];
    memset(big, 7, sizeof big);
    uint64_t off;
    CHECK_EQ_INT(lsmlog_log_append(log, big, sizeof big, 5, &off), LSMLOG_E_IO);
    CHECK_EQ_INT(lsmlog_errno(), ENOSPC);
    CHECK(strstr(lsmlog_errmsg(), dir) != NULL); /* names the file */
    reset();
    /* the log goes on: the next append gets the offset the failed one would have */
    append_n(log, &m, 10);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    CHECK_EQ_U64(lsmlog_log_recovery(log)->truncated_bytes, 0); /* no partial batch was left */
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
    tu_rmtemp(dir);
}

static void failed_fsync_fails_handle(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_SYNC, 1u << 20);
    lsmlog_log *log;
    tu_model m = {0};
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    append_n(log, &m, 20);
    install();
    fail_sync_at = 0;
    CHECK_EQ_INT(lsmlog_log_append(log, "lost?", 5, 1, NULL), LSMLOG_E_IO);
    CHECK_EQ_INT(lsmlog_errno(), EIO);
    reset();
    /* never retried: the kernel may have dropped the pages */
    CHECK_EQ_INT(lsmlog_log_append(log, "after", 5, 1, NULL), LSMLOG_E_FAILED);
    CHECK_EQ_INT(lsmlog_log_sync(log), LSMLOG_E_FAILED);
    /* reads still work and show only acknowledged records */
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    /* a new handle works again; the unacknowledged record may or may not be
     * there, but everything acknowledged is */
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    uint64_t end;
    CHECK_OK(lsmlog_log_bounds(log, NULL, &end));
    CHECK(end == m.n || end == m.n + 1);
    for (uint64_t i = 0; i < m.n; i++) tu_check_get(log, &m, i);
    CHECK_OK(lsmlog_log_append(log, "again", 5, 1, NULL));
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
    tu_rmtemp(dir);
}

static ssize_t short_pwrite(int fd, const void *buf, size_t n, off_t off) {
    return pwrite(fd, buf, n > 7 ? 7 : n, off);
}

static ssize_t short_pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
    (void)cnt;
    return pwrite(fd, iov[0].iov_base, iov[0].iov_len > 7 ? 7 : iov[0].iov_len, off);
}

static void short_writes_completed(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, 32768);
    lsmlog_log *log;
    tu_model m = {0};
    env_ops ops = *env_get_ops();
    ops.pwrite = short_pwrite;
    ops.pwritev = short_pwritev;
    env_set_ops(&ops);
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    append_n(log, &m, 200); /* several segments */
    /* values long enough to be written from where they lie (pwritev) */
    static unsigned char big[3][6000];
    lsmlog_entry e[3];
    for (int i = 0; i < 3; i++) {
        memset(big[i], 'a' + i, sizeof big[i]);
        e[i] = (lsmlog_entry){big[i], sizeof big[i], 50 + i};
    }
    uint64_t first;
    CHECK_OK(lsmlog_log_append_batch(log, e, 3, &first));
    CHECK_EQ_U64(first, m.n);
    for (int i = 0; i < 3; i++) tu_model_add(&m, big[i], sizeof big[i], 50 + i);
    env_set_ops(NULL);
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    tu_verify_log(log, &m, 0);
    CHECK_OK(lsmlog_log_close(log));
    tu_model_free(&m);
    tu_rmtemp(dir);
}

/* Buffered records were acknowledged; if handing them to the OS fails they
 * are gone, and the handle says so rather than going on with a hole. */
static void buffered_write_failure(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_BUFFERED, 1u << 20);
    lsmlog_log *log;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    CHECK_OK(lsmlog_log_append(log, "a", 1, 1, NULL));
    install();
    fail_pwrite_at = 0;
    CHECK_EQ_INT(lsmlog_log_flush(log), LSMLOG_E_IO);
    reset();
    CHECK_EQ_INT(lsmlog_log_append(log, "b", 1, 1, NULL), LSMLOG_E_FAILED);
    CHECK_OK(lsmlog_log_close(log));
    tu_rmtemp(dir);
}

int main(void) {
    tu_init("test_log_faults");
    TU_CASE(enospc_mid_write);
    TU_CASE(failed_fsync_fails_handle);
    TU_CASE(short_writes_completed);
    TU_CASE(buffered_write_failure);
    return tu_finish();
}
