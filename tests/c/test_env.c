/* Unit tests of env.c (the file-I/O layer): atomic file writes, mkdir -p,
 * directory checks, the writer lock, and that swapped operations are really
 * used (the hook fault campaigns rely on). */
#include "env.h"
#include "alloc.h"
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>

static void files(void) {
    const char *dir = tu_mkdtemp();
    char *p = env_join(dir, "a.bin");
    CHECK_OK(env_write_file_atomic(dir, p, "hello", 5, 1));
    uint8_t *b;
    size_t n;
    CHECK_OK(env_read_file(p, &b, &n));
    CHECK(n == 5 && memcmp(b, "hello", 5) == 0);
    lm_free(b);
    CHECK_OK(env_write_file_atomic(dir, p, "bye", 3, 0)); /* replaces */
    CHECK_OK(env_read_file(p, &b, &n));
    CHECK(n == 3 && memcmp(b, "bye", 3) == 0);
    lm_free(b);
    char *q = env_join(dir, "missing");
    CHECK_EQ_INT(env_read_file(q, &b, &n), LSMLOG_E_NOENT);
    CHECK(strstr(lsmlog_errmsg(), "missing") != NULL); /* names the file */
    CHECK_OK(env_unlink(q)); /* missing is fine */
    lm_free(p);
    lm_free(q);
    tu_rmtemp(dir);
}

static void dirs(void) {
    const char *dir = tu_mkdtemp();
    char *deep = env_join(dir, "x/y/z");
    CHECK_EQ_INT(env_check_dir(deep), LSMLOG_E_NOENT);
    CHECK_OK(env_mkdirs(deep));
    CHECK_OK(env_check_dir(deep));
    CHECK_OK(env_mkdirs(deep)); /* exists: fine */
    char *f = env_join(dir, "file");
    CHECK_EQ_INT(tu_write_file(f, "x", 1), 0);
    CHECK_EQ_INT(env_check_dir(f), LSMLOG_E_IO);
    CHECK_EQ_INT(lsmlog_errno(), ENOTDIR);
    lm_free(deep);
    lm_free(f);
    tu_rmtemp(dir);
}

static void lock(void) {
    const char *dir = tu_mkdtemp();
    int a, b;
    CHECK_OK(env_lock(dir, "LOCK", &a));
    CHECK_EQ_INT(env_lock(dir, "LOCK", &b), LSMLOG_E_LOCKED); /* same process, second open */
    env_close(a);
    CHECK_OK(env_lock(dir, "LOCK", &b));
    env_close(b);
    tu_rmtemp(dir);
}

static int failing_pwrites;
static ssize_t failing_pwrite(int fd, const void *buf, size_t n, off_t off) {
    (void)fd; (void)buf; (void)n; (void)off;
    failing_pwrites++;
    errno = ENOSPC;
    return -1;
}

static ssize_t short_pwrite(int fd, const void *buf, size_t n, off_t off) {
    return pwrite(fd, buf, n > 3 ? 3 : n, off); /* always short: must be looped */
}

static void swapped_ops(void) {
    const char *dir = tu_mkdtemp();
    char *p = env_join(dir, "f");
    env_ops o = *env_get_ops();
    o.pwrite = failing_pwrite;
    env_set_ops(&o);
    CHECK_EQ_INT(env_write_file_atomic(dir, p, "data", 4, 0), LSMLOG_E_IO);
    CHECK(failing_pwrites > 0);
    CHECK_EQ_INT(lsmlog_errno(), ENOSPC);
    CHECK(!tu_exists(p));
    o.pwrite = short_pwrite;
    env_set_ops(&o);
    CHECK_OK(env_write_file_atomic(dir, p, "0123456789", 10, 0));
    env_set_ops(NULL);
    uint8_t *b;
    size_t n;
    CHECK_OK(env_read_file(p, &b, &n));
    CHECK(n == 10 && memcmp(b, "0123456789", 10) == 0);
    lm_free(b);
    lm_free(p);
    tu_rmtemp(dir);
}

int main(void) {
    tu_init("test_env");
    TU_CASE(files);
    TU_CASE(dirs);
    TU_CASE(lock);
    TU_CASE(swapped_ops);
    return tu_finish();
}
