/*
 * bench_util.h — the small harness every C benchmark shares: a monotonic
 * clock, medians, the db_bench key format, a seeded RNG, resident memory,
 * the process's I/O counters, disk usage of a directory, and JSON output.
 *
 * Header-only (static inline), so each benchmark stays one executable with no
 * extra library; nothing here allocates except bu_du/bu_rm_rf's nftw.
 * Failures of the harness itself (a /proc file missing where it must exist, a
 * path too long) end the process with a message: a benchmark that cannot
 * measure must not print a figure.
 */
#ifndef LSMLOG_BENCH_UTIL_H
#define LSMLOG_BENCH_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- dying ----------------------------------------------------------------- */

static inline void bu_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static inline void bu_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* ---- time -------------------------------------------------------------------- */

static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline double secs_since(int64_t t0) {
    return (double)(now_ns() - t0) / 1e9;
}

/* ---- statistics ------------------------------------------------------------- */

static inline int bu_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n), n <= 64; v is left as it was. */
static inline double median(const double *v, int n) {
    double t[64];
    if (n < 1 || n > 64) bu_die("median: %d values", n);
    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, bu_cmp_double);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* ---- keys and values ------------------------------------------------------ */

/* splitmix64: the seeded generator of every random choice (payload bytes, key
 * order, lookups), so a run is reproducible from its seed. */
static inline uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A uniform integer in [0, n) (n > 0; the modulo bias is below 2^-40 for the
 * n used here). */
static inline uint64_t bu_below(uint64_t *s, uint64_t n) {
    return splitmix64(s) % n;
}

/* Fills buf[0..len) with pseudo-random (incompressible) bytes. */
static inline void bu_fill_random(uint8_t *buf, size_t len, uint64_t seed) {
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = splitmix64(&seed);
        memcpy(buf + i, &v, 8);
    }
    for (uint64_t v = splitmix64(&seed); i < len; i++, v >>= 8)
        buf[i] = (uint8_t)v;
}

#define BU_KEY_LEN 16

/* db_bench's key: i as 16 zero-padded decimal digits ("0000000000000042"),
 * so byte order is numeric order. No terminating zero is written. */
static inline void bu_key16(char out[BU_KEY_LEN], uint64_t i) {
    for (int p = BU_KEY_LEN - 1; p >= 0; p--) {
        out[p] = (char)('0' + i % 10);
        i /= 10;
    }
}

/* An 8-byte big-endian integer: sorts as the number. */
static inline void bu_put_be64(uint8_t out[8], uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static inline uint64_t bu_get_be64(const uint8_t in[8]) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

/* Reads the first and the last byte of a value a read returned, so that every
 * store's read really reaches the bytes (a mapped page is faulted in, a
 * pointer is not just passed on). */
static inline void bu_touch(const void *p, size_t n) {
    static volatile uint64_t sink;
    if (n) sink += ((const uint8_t *)p)[0] + ((const uint8_t *)p)[n - 1];
}

/* ---- memory ----------------------------------------------------------------- */

/* A field of /proc/self/status in bytes ("VmRSS", "VmHWM"); -1 if absent. */
static inline double bu_status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    size_t n = strlen(field);
    double v = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtod(line + n + 1, NULL) * 1024.0; /* the kernel prints kB */
            break;
        }
    }
    fclose(f);
    return v;
}

/* Resets the process's peak resident set (VmHWM) to its current size, so the
 * peak of one workload can be read on its own (Linux >= 4.0). 0 when done, -1
 * when the kernel does not allow it (then only the process's peak is known). */
static inline int bu_peak_rss_reset(void) {
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok ? 0 : -1;
}

/* The peak resident set (VmHWM) in bytes, since start or the last reset. */
static inline double bu_peak_rss(void) {
    double v = bu_status_bytes("VmHWM");
    if (v < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        v = (double)ru.ru_maxrss * 1024.0;
    }
    return v;
}

/* ---- I/O --------------------------------------------------------------------- */

/* Bytes this process (all its threads) caused to be written to storage, from
 * /proc/self/io write_bytes: counted when a page cache page first turns dirty
 * (or at direct I/O), so rewriting a page still dirty counts once. -1 when the
 * kernel does not keep the counter. */
static inline double bu_io_write_bytes(void) {
    FILE *f = fopen("/proc/self/io", "r");
    if (!f) return -1;
    char line[128];
    double v = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "write_bytes:", 12) == 0) {
            v = strtod(line + 12, NULL);
            break;
        }
    }
    fclose(f);
    return v;
}

static double bu_du_total; /* nftw has no context argument */

static inline int bu_du_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)p;
    (void)ftw;
    if (flag == FTW_F) bu_du_total += (double)sb->st_blocks * 512.0;
    return 0;
}

/* Bytes allocated on disk under path (st_blocks, as du): sparse files count
 * what they use. */
static inline double bu_du(const char *path) {
    bu_du_total = 0;
    nftw(path, bu_du_cb, 16, FTW_PHYS);
    return bu_du_total;
}

static inline int bu_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void rm_rf(const char *path) {
    nftw(path, bu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes back everything dirty on the file system holding dir, so a timed run
 * does not pay for the previous run's writeback. */
static inline void bu_syncfs(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) bu_die("open %s: %s", dir, strerror(errno));
    if (syncfs(fd) != 0) bu_die("syncfs %s: %s", dir, strerror(errno));
    close(fd);
}

/* ---- JSON ------------------------------------------------------------------- */

static inline void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static inline void json_num(FILE *f, double v) {
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

#endif
