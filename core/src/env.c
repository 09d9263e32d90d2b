/* env.c — the real file operations, behind a swappable table. */
#include "env.h"

#include "alloc.h"
#include "lsmlog.h"
#include "status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int real_open(const char *path, int flags, mode_t mode) { return open(path, flags | O_CLOEXEC, mode); }
static int real_mkdir(const char *path, mode_t mode) { return mkdir(path, mode); }

static const env_ops real_ops = {
    real_open, close, pread, pwrite, pwritev, fdatasync, fsync, ftruncate, fstat, stat,
    rename,    unlink, real_mkdir, rmdir, flock, mmap, munmap,
};
static env_ops ops = {
    real_open, close, pread, pwrite, pwritev, fdatasync, fsync, ftruncate, fstat, stat,
    rename,    unlink, real_mkdir, rmdir, flock, mmap, munmap,
};

const env_ops *env_get_ops(void) { return &ops; }
void env_set_ops(const env_ops *o) { ops = o ? *o : real_ops; }

int env_open(const char *path, int flags, int *fd) {
    int f = ops.open(path, flags, 0644);
    if (f < 0) {
        if (errno == ENOENT) return st_errno(LSMLOG_E_NOENT, "open %s", path);
        return st_errno(LSMLOG_E_IO, "open %s", path);
    }
    *fd = f;
    return LSMLOG_OK;
}

void env_close(int fd) {
    if (fd >= 0) ops.close(fd);
}

int env_pwrite_all(int fd, const void *buf, size_t n, uint64_t off, const char *path) {
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = ops.pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return st_errno(LSMLOG_E_IO, "write %s at byte %llu", path, (unsigned long long)off);
        }
        if (w == 0) {
            errno = ENOSPC;
            return st_errno(LSMLOG_E_IO, "write %s at byte %llu", path, (unsigned long long)off);
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return LSMLOG_OK;
}

int env_pwritev_all(int fd, struct iovec *iov, int cnt, uint64_t off, const char *path) {
    while (cnt > 0) {
        ssize_t w = ops.pwritev(fd, iov, cnt < ENV_IOV_MAX ? cnt : ENV_IOV_MAX, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            return st_errno(LSMLOG_E_IO, "write %s at byte %llu", path, (unsigned long long)off);
        }
        off += (uint64_t)w;
        while (cnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return LSMLOG_OK;
}

int env_pread_all(int fd, void *buf, size_t n, uint64_t off, const char *path) {
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = ops.pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return st_errno(LSMLOG_E_IO, "read %s at byte %llu", path, (unsigned long long)off);
        }
        if (r == 0)
            return st_error(LSMLOG_E_CORRUPT, "%s: file ends at byte %llu, %zu bytes short", path,
                            (unsigned long long)off, n);
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return LSMLOG_OK;
}

int env_fdatasync(int fd, const char *path) {
    if (ops.fdatasync(fd) != 0) return st_errno(LSMLOG_E_IO, "fdatasync %s", path);
    return LSMLOG_OK;
}

int env_ftruncate(int fd, uint64_t len, const char *path) {
    if (ops.ftruncate(fd, (off_t)len) != 0)
        return st_errno(LSMLOG_E_IO, "truncate %s to %llu bytes", path, (unsigned long long)len);
    return LSMLOG_OK;
}

int env_file_size(int fd, uint64_t *size, const char *path) {
    struct stat st;
    if (ops.fstat(fd, &st) != 0) return st_errno(LSMLOG_E_IO, "stat %s", path);
    *size = (uint64_t)st.st_size;
    return LSMLOG_OK;
}

int env_fsync_dir(const char *dir) {
    int fd = -1, rc = env_open(dir, O_RDONLY | O_DIRECTORY, &fd);
    if (rc) return rc;
    if (ops.fsync(fd) != 0) rc = st_errno(LSMLOG_E_IO, "fsync directory %s", dir);
    env_close(fd);
    return rc;
}

int env_write_file_atomic(const char *dir, const char *path, const void *buf, size_t n, int sync) {
    size_t len = strlen(path) + 5;
    char *tmp = lm_malloc(len);
    if (!tmp) return st_error(LSMLOG_E_NOMEM, "out of memory writing %s", path);
    snprintf(tmp, len, "%s.tmp", path);
    int fd = -1, rc = env_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, &fd);
    if (rc == LSMLOG_OK) {
        rc = env_pwrite_all(fd, buf, n, 0, tmp);
        if (rc == LSMLOG_OK && sync && ops.fsync(fd) != 0) rc = st_errno(LSMLOG_E_IO, "fsync %s", tmp);
        env_close(fd);
        if (rc == LSMLOG_OK) rc = env_rename(tmp, path);
        if (rc != LSMLOG_OK) ops.unlink(tmp);
        if (rc == LSMLOG_OK && sync) rc = env_fsync_dir(dir);
    }
    lm_free(tmp);
    return rc;
}

int env_read_file(const char *path, uint8_t **buf, size_t *n) {
    int fd = -1, rc = env_open(path, O_RDONLY, &fd);
    if (rc) return rc;
    uint64_t size;
    rc = env_file_size(fd, &size, path);
    uint8_t *b = NULL;
    if (rc == LSMLOG_OK) {
        b = lm_malloc((size_t)size);
        if (!b) rc = st_error(LSMLOG_E_NOMEM, "out of memory reading %s", path);
    }
    if (rc == LSMLOG_OK) rc = env_pread_all(fd, b, (size_t)size, 0, path);
    env_close(fd);
    if (rc) {
        lm_free(b);
        return rc;
    }
    *buf = b;
    *n = (size_t)size;
    return LSMLOG_OK;
}

int env_rename(const char *from, const char *to) {
    if (ops.rename(from, to) != 0) return st_errno(LSMLOG_E_IO, "rename %s to %s", from, to);
    return LSMLOG_OK;
}

int env_unlink(const char *path) {
    if (ops.unlink(path) != 0 && errno != ENOENT) return st_errno(LSMLOG_E_IO, "remove %s", path);
    return LSMLOG_OK;
}

int env_remove_dir(const char *path) {
    char **names;
    size_t n;
    int rc = env_list_dir(path, &names, &n);
    if (rc == LSMLOG_E_NOENT) return LSMLOG_OK;
    if (rc) return rc;
    for (size_t i = 0; rc == LSMLOG_OK && i < n; i++) {
        char *f = env_join(path, names[i]);
        rc = f ? env_unlink(f) : st_error(LSMLOG_E_NOMEM, "out of memory");
        lm_free(f);
    }
    env_free_names(names, n);
    if (rc == LSMLOG_OK && ops.rmdir(path) != 0 && errno != ENOENT) rc = st_errno(LSMLOG_E_IO, "remove directory %s", path);
    return rc;
}

int env_mkdirs(const char *path) {
    char *p = lm_strdup(path);
    if (!p) return st_error(LSMLOG_E_NOMEM, "out of memory");
    int rc = LSMLOG_OK;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (ops.mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = st_errno(errno == ENOENT ? LSMLOG_E_NOENT : LSMLOG_E_IO, "create directory %s", p);
            break;
        }
        *s = c;
        if (c == '\0') break;
    }
    lm_free(p);
    return rc ? rc : env_check_dir(path);
}

int env_check_dir(const char *path) {
    struct stat st;
    if (ops.stat(path, &st) != 0) {
        if (errno == ENOENT) return st_errno(LSMLOG_E_NOENT, "%s", path);
        return st_errno(LSMLOG_E_IO, "%s", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return st_errno(LSMLOG_E_IO, "%s", path);
    }
    return LSMLOG_OK;
}

int env_exists(const char *path) {
    struct stat st;
    return ops.stat(path, &st) == 0;
}

int env_lock(const char *dir, const char *name, int *fd) {
    char *path = env_join(dir, name);
    if (!path) return st_error(LSMLOG_E_NOMEM, "out of memory");
    int f = -1, rc = env_open(path, O_RDWR | O_CREAT, &f);
    if (rc == LSMLOG_OK) {
        /* flock, not fcntl: its lock belongs to the open file description, so
         * a second handle in the same process is refused too. */
        if (ops.flock(f, LOCK_EX | LOCK_NB) != 0) {
            if (errno == EWOULDBLOCK)
                rc = st_error(LSMLOG_E_LOCKED, "%s is locked: another writer (in this or another process) has it open", path);
            else
                rc = st_errno(LSMLOG_E_IO, "lock %s", path);
            env_close(f);
        } else {
            *fd = f;
        }
    }
    lm_free(path);
    return rc;
}

int env_mmap(int fd, size_t len, const char *path, void **addr) {
    void *a = ops.mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (a == MAP_FAILED) return st_errno(LSMLOG_E_IO, "mmap %s (%zu bytes)", path, len);
    *addr = a;
    return LSMLOG_OK;
}

void env_munmap(void *addr, size_t len) {
    if (addr) ops.munmap(addr, len);
}

int env_list_dir(const char *dir, char ***names, size_t *n) {
    DIR *d = opendir(dir);
    if (!d) return st_errno(errno == ENOENT ? LSMLOG_E_NOENT : LSMLOG_E_IO, "list %s", dir);
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = LSMLOG_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = lm_realloc(v, cap * sizeof *v);
            if (!nv) { rc = st_error(LSMLOG_E_NOMEM, "out of memory listing %s", dir); break; }
            v = nv;
        }
        if (!(v[cnt] = lm_strdup(e->d_name))) { rc = st_error(LSMLOG_E_NOMEM, "out of memory"); break; }
        cnt++;
    }
    closedir(d);
    if (rc) {
        env_free_names(v, cnt);
        return rc;
    }
    *names = v;
    *n = cnt;
    return LSMLOG_OK;
}

void env_free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) lm_free(names[i]);
    lm_free(names);
}

char *env_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = lm_malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

int64_t env_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t env_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
