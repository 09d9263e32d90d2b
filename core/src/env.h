/* env.h — the file-I/O layer. Every byte the core moves to or from a file, and
 * every file-system operation, goes through here, so that tests can swap the
 * operations (env_set_ops) to inject faults. The helpers return lsmlog status
 * codes and set the thread's message, naming the path and the OS error. */
#ifndef LSMLOG_ENV_H
#define LSMLOG_ENV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct env_ops {
    int (*open)(const char *path, int flags, mode_t mode);
    int (*close)(int fd);
    ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    ssize_t (*pwritev)(int fd, const struct iovec *iov, int cnt, off_t off);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*ftruncate)(int fd, off_t len);
    int (*fstat)(int fd, struct stat *st);
    int (*stat)(const char *path, struct stat *st);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*mkdir)(const char *path, mode_t mode);
    int (*rmdir)(const char *path);
    int (*flock)(int fd, int op);
    void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
    int (*munmap)(void *addr, size_t len);
} env_ops;

/* The operations in use; env_set_ops(NULL) restores the real ones. Not
 * thread-safe: for tests, before any handle exists. */
const env_ops *env_get_ops(void);
void env_set_ops(const env_ops *ops);

/* Opens `path`; *fd receives the descriptor. */
int env_open(const char *path, int flags, int *fd);
void env_close(int fd);

/* Writes all n bytes at off, looping over short writes. On failure the file
 * may hold a prefix of the bytes. */
int env_pwrite_all(int fd, const void *buf, size_t n, uint64_t off, const char *path);

/* Writes the cnt pieces at off, in calls of at most ENV_IOV_MAX pieces,
 * looping over short writes. Changes iov. */
#define ENV_IOV_MAX 1024
int env_pwritev_all(int fd, struct iovec *iov, int cnt, uint64_t off, const char *path);

/* Reads exactly n bytes at off; LSMLOG_E_CORRUPT if the file ends first. */
int env_pread_all(int fd, void *buf, size_t n, uint64_t off, const char *path);

int env_fdatasync(int fd, const char *path);
int env_ftruncate(int fd, uint64_t len, const char *path);
int env_file_size(int fd, uint64_t *size, const char *path);

/* fsyncs the directory `dir`, so that names created, renamed or removed in it
 * survive power loss. */
int env_fsync_dir(const char *dir);

/* Writes `n` bytes to `path` through a temporary file and an atomic rename;
 * with `sync`, fsyncs the file and the directory. */
int env_write_file_atomic(const char *dir, const char *path, const void *buf, size_t n, int sync);

/* Reads a whole small file into a new buffer (free with lm_free). */
int env_read_file(const char *path, uint8_t **buf, size_t *n);

int env_rename(const char *from, const char *to);
/* Removes path; a missing file is not an error. */
int env_unlink(const char *path);
/* Removes a directory and the files in it (not recursive: no subdirectories
 * expected); a missing directory is not an error. */
int env_remove_dir(const char *path);
/* Creates dir and missing parents ("mkdir -p"). */
int env_mkdirs(const char *path);

/* 0: exists and is a directory; LSMLOG_E_NOENT: missing; else an error. */
int env_check_dir(const char *path);
/* 1 if path exists. */
int env_exists(const char *path);

/* Takes the exclusive writer lock on dir/LOCK; *fd keeps it. LSMLOG_E_LOCKED
 * if another handle, in any process, holds it. */
int env_lock(const char *dir, const char *name, int *fd);

/* Maps len bytes of fd read-only and shared. */
int env_mmap(int fd, size_t len, const char *path, void **addr);
void env_munmap(void *addr, size_t len);

/* Lists the names in dir (not "." and ".."), *names an array of owned
 * strings; free with env_free_names. */
int env_list_dir(const char *dir, char ***names, size_t *n);
void env_free_names(char **names, size_t n);

/* path joined: dir + "/" + name (owned, lm_free). NULL on no memory. */
char *env_join(const char *dir, const char *name);

/* Wall clock in ms, and a monotonic clock in ms. */
int64_t env_now_ms(void);
int64_t env_mono_ms(void);

#endif
