/* test_util.h — the tiny header-only harness shared by the C tests.
 *
 * - CHECK* macros print file:line, the expression, the values and
 *   lsmlog_errmsg(), then exit(1): a failing test stops at the first wrong
 *   fact, so the first message is the one to read.
 * - TU_CASE(fn) runs one named sub-case and counts it; tu_finish() prints
 *   "<test>: N passed, 0 failed".
 * - A seeded PRNG (splitmix64). The seed comes from env SEED= or the clock and
 *   is printed at start, so a failing random run can be replayed.
 * - Temp dirs under /tmp (mkdtemp), removed at exit by the process that made
 *   them (a forked child that calls exit() must not delete its parent's
 *   dirs). Set KEEP_TMP=1 to keep them for a post-mortem.
 * - File helpers: read/write whole files, flip a byte, list segment files.
 */
#ifndef LSMLOG_TEST_UTIL_H
#define LSMLOG_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "lsmlog.h"

/* ---- counting and failing ----------------------------------------------- */

static const char *tu_test_name = "test";
static int tu_cases_passed;
static int tu_cases_skipped;
static unsigned long tu_checks;
static const char *tu_current_case = "";

/* The decimal number of exactly the n bytes at s (keys handed out by
 * iterators are not NUL-terminated), or -1 if one is not a digit. */
static inline long tu_atoi_n(const char *s, size_t n) {
    long v = 0;
    if (n == 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

__attribute__((noreturn)) static inline void tu_fail(const char *file, int line, const char *expr,
                                                     const char *detail) {
    fprintf(stderr, "%s:%d: FAILED in %s/%s: %s\n", file, line, tu_test_name, tu_current_case,
            expr);
    if (detail && detail[0]) fprintf(stderr, "    %s\n", detail);
    fprintf(stderr, "    lsmlog_errmsg: %s\n", lsmlog_errmsg());
    fflush(stderr);
    exit(1);
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        tu_checks++;                                                                               \
        if (!(cond)) tu_fail(__FILE__, __LINE__, #cond, "");                                       \
    } while (0)

/* Like CHECK, with a printf-style explanation (which case, which offset). */
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        tu_checks++;                                                                               \
        if (!(cond)) {                                                                             \
            char tu_buf_[1536];                                                                    \
            snprintf(tu_buf_, sizeof tu_buf_, __VA_ARGS__);                                        \
            tu_fail(__FILE__, __LINE__, #cond, tu_buf_);                                           \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long tu_a_ = (long long)(a), tu_b_ = (long long)(b);                                  \
        tu_checks++;                                                                               \
        if (tu_a_ != tu_b_) {                                                                      \
            char tu_buf_[160];                                                                     \
            snprintf(tu_buf_, sizeof tu_buf_, "left = %lld (%s), right = %lld (%s)", tu_a_,        \
                     tu_status_name((int)tu_a_), tu_b_, tu_status_name((int)tu_b_));               \
            tu_fail(__FILE__, __LINE__, #a " == " #b, tu_buf_);                                    \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                                         \
    do {                                                                                           \
        uint64_t tu_a_ = (uint64_t)(a), tu_b_ = (uint64_t)(b);                                     \
        tu_checks++;                                                                               \
        if (tu_a_ != tu_b_) {                                                                      \
            char tu_buf_[160];                                                                     \
            snprintf(tu_buf_, sizeof tu_buf_, "left = %" PRIu64 ", right = %" PRIu64, tu_a_,       \
                     tu_b_);                                                                       \
            tu_fail(__FILE__, __LINE__, #a " == " #b, tu_buf_);                                    \
        }                                                                                          \
    } while (0)

#define CHECK_OK(call) CHECK_EQ_INT((call), LSMLOG_OK)

/* A name for a status, for failure messages only. */
static inline const char *tu_status_name(int s) {
    switch (s) {
    case LSMLOG_OK:
        return "OK";
    case LSMLOG_NOTFOUND:
        return "NOTFOUND";
    case LSMLOG_TIMEOUT:
        return "TIMEOUT";
    case LSMLOG_E_IO:
        return "E_IO";
    case LSMLOG_E_CORRUPT:
        return "E_CORRUPT";
    case LSMLOG_E_NOMEM:
        return "E_NOMEM";
    case LSMLOG_E_INVALID:
        return "E_INVALID";
    case LSMLOG_E_BUSY:
        return "E_BUSY";
    case LSMLOG_E_LOCKED:
        return "E_LOCKED";
    case LSMLOG_E_CLOSED:
        return "E_CLOSED";
    case LSMLOG_E_READONLY:
        return "E_READONLY";
    case LSMLOG_E_TOOBIG:
        return "E_TOOBIG";
    case LSMLOG_E_VERSION:
        return "E_VERSION";
    case LSMLOG_E_NOENT:
        return "E_NOENT";
    case LSMLOG_E_FAILED:
        return "E_FAILED";
    default:
        return "-";
    }
}

/* 1 if `name` is a whole word of the comma/space separated list `list`. */
static inline int tu_in_list(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n) {
        int starts = p == list || p[-1] == ',' || p[-1] == ' ';
        int ends = p[n] == '\0' || p[n] == ',' || p[n] == ' ';
        if (starts && ends) return 1;
    }
    return 0;
}

/* Runs one named sub-case; a failure inside exits, so reaching the end means
 * it passed. For triage, TU_ONLY=a,b runs only those cases and TU_SKIP=a,b
 * leaves them out (reported as skipped, never as passed). */
#define TU_CASE(fn)                                                                                \
    do {                                                                                           \
        const char *tu_only_ = getenv("TU_ONLY"), *tu_skip_ = getenv("TU_SKIP");                   \
        if ((tu_only_ && !tu_in_list(tu_only_, #fn)) || (tu_skip_ && tu_in_list(tu_skip_, #fn))) { \
            tu_cases_skipped++;                                                                    \
            fprintf(stderr, "  skipped %s\n", #fn);                                                \
            break;                                                                                 \
        }                                                                                          \
        tu_current_case = #fn;                                                                     \
        double tu_t0_ = tu_mono_ms();                                                              \
        fn();                                                                                      \
        tu_cases_passed++;                                                                         \
        if (getenv("VERBOSE")) fprintf(stderr, "  ok %s (%.0f ms)\n", #fn, tu_mono_ms() - tu_t0_); \
    } while (0)

static inline int tu_finish(void) {
    if (tu_cases_skipped)
        printf("%s: %d passed, 0 failed, %d SKIPPED (%lu checks)\n", tu_test_name, tu_cases_passed,
               tu_cases_skipped, tu_checks);
    else
        printf("%s: %d passed, 0 failed (%lu checks)\n", tu_test_name, tu_cases_passed, tu_checks);
    fflush(stdout);
    return 0;
}

/* ---- PRNG --------------------------------------------------------------- */

static uint64_t tu_seed;
static uint64_t tu_rng_state;

static inline uint64_t tu_splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A stateless hash of (a, b): for contents that must be recomputable from an
 * offset alone (the crash test's child and parent agree on them). */
static inline uint64_t tu_hash2(uint64_t a, uint64_t b) {
    uint64_t s = a ^ (b * 0xD1B54A32D192ED03ull);
    tu_splitmix64(&s);
    return tu_splitmix64(&s);
}

static inline uint64_t tu_rand(void) {
    return tu_splitmix64(&tu_rng_state);
}

/* Uniform-ish in [0, n); n > 0. */
static inline uint64_t tu_rand_below(uint64_t n) {
    return tu_rand() % n;
}

static inline void tu_fill_random(uint64_t *state, void *buf, size_t len) {
    unsigned char *p = buf;
    while (len > 0) {
        uint64_t r = tu_splitmix64(state);
        size_t k = len < 8 ? len : 8;
        memcpy(p, &r, k);
        p += k;
        len -= k;
    }
}

/* ---- time --------------------------------------------------------------- */

static inline int64_t tu_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline double tu_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static inline void tu_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- temp dirs ---------------------------------------------------------- */

#define TU_MAX_TMPDIRS 64
static char tu_tmpdirs[TU_MAX_TMPDIRS][256];
static int tu_ntmpdirs;
static pid_t tu_owner_pid;

static inline int tu_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static inline int tu_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Removes `path` and everything under it. Missing is fine. */
static inline int tu_rmrf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return -1;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            size_t need = strlen(path) + strlen(e->d_name) + 2;
            char *sub = malloc(need);
            snprintf(sub, need, "%s/%s", path, e->d_name);
            tu_rmrf(sub);
            free(sub);
        }
        closedir(d);
        return rmdir(path);
    }
    return unlink(path);
}

static inline void tu_cleanup_tmpdirs(void) {
    /* Only the process that made the dirs removes them: a forked child that
     * returns through exit() would otherwise pull the floor from under its
     * parent. */
    if (getpid() != tu_owner_pid) return;
    if (getenv("KEEP_TMP")) {
        for (int i = 0; i < tu_ntmpdirs; i++)
            fprintf(stderr, "kept %s\n", tu_tmpdirs[i]);
        return;
    }
    for (int i = 0; i < tu_ntmpdirs; i++) {
        if (tu_rmrf(tu_tmpdirs[i]) != 0 && (errno == EMFILE || errno == ENFILE)) {
            /* A failing run may have run out of descriptors (a leak is one
             * way to fail); the process is ending, so let them go and retry. */
            long max = sysconf(_SC_OPEN_MAX);
            for (int fd = 3; fd < (max > 0 && max < 1 << 20 ? max : 1 << 16); fd++)
                close(fd);
            tu_rmrf(tu_tmpdirs[i]);
        }
        if (tu_exists(tu_tmpdirs[i])) fprintf(stderr, "could not remove %s\n", tu_tmpdirs[i]);
    }
    tu_ntmpdirs = 0;
}

/* Makes a fresh empty directory under /tmp; removed at exit. Returns a
 * pointer into a static table (valid for the whole run). */
static inline const char *tu_mkdtemp(void) {
    if (tu_ntmpdirs >= TU_MAX_TMPDIRS) {
        /* Recycle the oldest slot: long-running tests make many dirs. */
        tu_rmrf(tu_tmpdirs[0]);
        memmove(tu_tmpdirs[0], tu_tmpdirs[1], sizeof tu_tmpdirs[0] * (TU_MAX_TMPDIRS - 1));
        tu_ntmpdirs--;
    }
    char *slot = tu_tmpdirs[tu_ntmpdirs];
    snprintf(slot, sizeof tu_tmpdirs[0], "/tmp/lsmlog_%s_XXXXXX", tu_test_name);
    if (!mkdtemp(slot)) {
        perror("mkdtemp");
        exit(1);
    }
    tu_ntmpdirs++;
    return slot;
}

/* Removes a dir made by tu_mkdtemp now rather than at exit. */
static inline void tu_rmtemp(const char *dir) {
    for (int i = 0; i < tu_ntmpdirs; i++) {
        if (tu_tmpdirs[i] == dir || strcmp(tu_tmpdirs[i], dir) == 0) {
            tu_rmrf(tu_tmpdirs[i]);
            memmove(tu_tmpdirs[i], tu_tmpdirs[i + 1],
                    sizeof tu_tmpdirs[0] * (size_t)(tu_ntmpdirs - i - 1));
            tu_ntmpdirs--;
            return;
        }
    }
    tu_rmrf(dir);
}

/* Call first in main: names the test, seeds the PRNG, prints the seed. */
static inline void tu_init(const char *name) {
    tu_test_name = name;
    tu_owner_pid = getpid();
    const char *s = getenv("SEED");
    if (s && *s) {
        tu_seed = strtoull(s, NULL, 10);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        tu_seed =
            ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 20);
        tu_seed %= 1000000000000ull; /* short enough to retype */
    }
    tu_rng_state = tu_seed;
    printf("%s: seed=%" PRIu64 " (rerun with SEED=%" PRIu64 ")\n", name, tu_seed, tu_seed);
    fflush(stdout);
    atexit(tu_cleanup_tmpdirs);
}

/* ---- files -------------------------------------------------------------- */

/* File size, or -1 if missing. */
static inline long long tu_file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return (long long)st.st_size;
}

/* Reads a whole file into a malloc'd buffer (free with free). NULL if it
 * cannot be read. */
static inline unsigned char *tu_read_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Replaces a file's contents. 0 on success. */
static inline int tu_write_file(const char *path, const void *buf, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    const unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    return close(fd);
}

/* Writes `len` bytes at `pos` without changing the rest. 0 on success. */
static inline int tu_pwrite_file(const char *path, long long pos, const void *buf, size_t len) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    ssize_t w = pwrite(fd, buf, len, (off_t)pos);
    close(fd);
    return w == (ssize_t)len ? 0 : -1;
}

/* XORs the byte at `pos` with `mask`. 0 on success. */
static inline int tu_flip_byte(const char *path, long long pos, unsigned char mask) {
    int fd = open(path, O_RDWR);
    if (fd < 0) return -1;
    unsigned char b;
    if (pread(fd, &b, 1, (off_t)pos) != 1) {
        close(fd);
        return -1;
    }
    b ^= mask;
    ssize_t w = pwrite(fd, &b, 1, (off_t)pos);
    close(fd);
    return w == 1 ? 0 : -1;
}

static inline int tu_truncate_file(const char *path, long long len) {
    return truncate(path, (off_t)len);
}

/* ---- segment files ------------------------------------------------------ */

/* "<dir>/<20-digit base><suffix>" into buf. */
static inline void tu_seg_path(char *buf, size_t cap, const char *dir, uint64_t base,
                               const char *suffix) {
    int n = snprintf(buf, cap, "%s/%020" PRIu64 "%s", dir, base, suffix);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "path too long: %s/...\n", dir);
        exit(1);
    }
}

static inline int tu_cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists the segment files of a log dir: fills bases[0..max) with the
 * smallest base offsets of files named exactly 20 digits + ".log", in
 * order, and returns how many such files there are (may exceed max). */
static inline size_t tu_list_segments(const char *dir, uint64_t *bases, size_t max) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0, cap = 64;
    uint64_t *all = malloc(cap * sizeof *all);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        if (strlen(nm) != 20 + 4 || strcmp(nm + 20, ".log") != 0) continue;
        int digits = 1;
        for (int i = 0; i < 20; i++)
            if (nm[i] < '0' || nm[i] > '9') digits = 0;
        if (!digits) continue;
        if (n == cap) all = realloc(all, (cap *= 2) * sizeof *all);
        all[n++] = strtoull(nm, NULL, 10);
    }
    closedir(d);
    qsort(all, n, sizeof all[0], tu_cmp_u64);
    memcpy(bases, all, (n < max ? n : max) * sizeof *all);
    free(all);
    return n;
}

/* Number of directory entries whose name ends with `suffix`. */
static inline size_t tu_count_suffix(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0, sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len >= sl && strcmp(e->d_name + len - sl, suffix) == 0) n++;
    }
    closedir(d);
    return n;
}

/* ---- little-endian ------------------------------------------------------ */

static inline uint32_t tu_get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t tu_get_u64(const unsigned char *p) {
    return (uint64_t)tu_get_u32(p) | (uint64_t)tu_get_u32(p + 4) << 32;
}
static inline void tu_put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline void tu_put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* ---- log helpers -------------------------------------------------------- */

/* Options with the defaults, plus the few fields tests vary. */
static inline lsmlog_options tu_opts(int durability, uint64_t segment_bytes) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.durability = durability;
    if (segment_bytes) o.segment_bytes = segment_bytes;
    return o;
}

/* The index of the first differing byte (or the shorter length). */
static inline size_t tu_first_diff(const void *a, size_t alen, const void *b, size_t blen) {
    const unsigned char *x = a, *y = b;
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i]) return i;
    return n;
}

/* ---- the documented segment format (docs/format-log.md, log_format.h) ----
 * The tests parse files themselves, from the documented layout, so that a
 * test that damages "the third batch" damages exactly that. CRCs are not
 * checked here (the corruption test does that with crc32c.h). */

#define TU_SEG_HEADER 40
#define TU_BATCH_HEADER 32

typedef struct tu_batch {
    long long pos;     /* file position of the batch header */
    long long end;     /* position after its body */
    uint32_t body_len; /* from the header */
    uint64_t base;     /* base_offset */
    int64_t first_ts;  /* first_ts */
    uint32_t count;    /* records */
} tu_batch;

/* Walks the batches of a segment image by their length fields. Returns how
 * many whole batches (header and body inside `len`) were found, storing up to
 * `max` of them; stops at the first one that does not fit. */
static inline size_t tu_parse_batches(const unsigned char *buf, size_t len, tu_batch *out,
                                      size_t max) {
    size_t n = 0;
    long long pos = TU_SEG_HEADER;
    while ((size_t)pos + TU_BATCH_HEADER <= len) {
        const unsigned char *h = buf + pos;
        uint32_t body_len = tu_get_u32(h + 4);
        uint32_t count = tu_get_u32(h + 24);
        long long end = pos + TU_BATCH_HEADER + (long long)body_len;
        if ((size_t)end > len || count == 0) break;
        if (n < max) {
            out[n].pos = pos;
            out[n].end = end;
            out[n].body_len = body_len;
            out[n].base = tu_get_u64(h + 8);
            out[n].first_ts = (int64_t)tu_get_u64(h + 16);
            out[n].count = count;
        }
        n++;
        pos = end;
    }
    return n;
}

/* Reads a varint (up to 10 bytes). Returns bytes used, 0 if malformed. */
static inline size_t tu_get_varint(const unsigned char *p, size_t avail, uint64_t *v) {
    uint64_t r = 0;
    for (size_t i = 0; i < avail && i < 10; i++) {
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

/* Record i of a batch body (format-log.md: all prefixes, then all values):
 * its value's length and position within the body. 1, or 0 if malformed. */
static inline int tu_body_record(const unsigned char *body, size_t body_len, uint32_t count,
                                 uint32_t i, uint64_t *vlen, size_t *vpos) {
    size_t p = 0, values_before = 0;
    uint64_t d, len = 0;
    for (uint32_t k = 0; k < count; k++) {
        size_t a = tu_get_varint(body + p, body_len - p, &d);
        if (!a) return 0;
        p += a;
        size_t b = tu_get_varint(body + p, body_len - p, &len);
        if (!b) return 0;
        p += b;
        if (k < i) values_before += (size_t)len;
        if (k == i) *vlen = len;
    }
    *vpos = p + values_before; /* p is now where the values begin */
    return *vpos + *vlen <= body_len;
}

/* ---- a reference model of a log ------------------------------------------
 * Every test keeps what it wrote here and compares what it reads back, byte
 * for byte: nothing the library returns may differ from what was written. */

typedef struct tu_rec {
    unsigned char *data; /* malloc'd copy (NULL when len is 0) */
    size_t len;
    int64_t ts;
    int present; /* 0: set aside by a repair or never written */
} tu_rec;

typedef struct tu_model {
    tu_rec *r;
    size_t n, cap;
} tu_model;

/* Appends a record to the model; returns its offset. */
static inline uint64_t tu_model_add(tu_model *m, const void *data, size_t len, int64_t ts) {
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->r = realloc(m->r, m->cap * sizeof *m->r);
    }
    tu_rec *r = &m->r[m->n];
    r->data = NULL;
    if (len) {
        r->data = malloc(len);
        memcpy(r->data, data, len);
    }
    r->len = len;
    r->ts = ts;
    r->present = 1;
    return m->n++;
}

/* Forgets records from `n` on (a truncated tail). */
static inline void tu_model_cut(tu_model *m, size_t n) {
    while (m->n > n)
        free(m->r[--m->n].data);
}

static inline void tu_model_free(tu_model *m) {
    tu_model_cut(m, 0);
    free(m->r);
    m->r = NULL;
    m->cap = 0;
}

/* Checks one returned record against the model. */
static inline void tu_check_rec(const tu_model *m, uint64_t off, int64_t ts, const void *value,
                                size_t len) {
    CHECKF(off < m->n, "offset %" PRIu64 " beyond the model (%zu records)", off, m->n);
    const tu_rec *r = &m->r[off];
    CHECKF(r->present, "offset %" PRIu64 " was expected to be missing", off);
    CHECKF(ts == r->ts, "offset %" PRIu64 ": ts %" PRId64 ", wrote %" PRId64, off, ts, r->ts);
    CHECKF(len == r->len, "offset %" PRIu64 ": len %zu, wrote %zu", off, len, r->len);
    CHECKF(len == 0 || memcmp(value, r->data, len) == 0,
           "offset %" PRIu64 ": value differs at byte %zu", off,
           tu_first_diff(value, len, r->data, r->len));
}

/* lsmlog_log_get(off) must return exactly the model's record. */
static inline void tu_check_get(lsmlog_log *log, const tu_model *m, uint64_t off) {
    int64_t ts = 0;
    void *v = NULL;
    size_t len = 12345;
    int rc = lsmlog_log_get(log, off, &ts, &v, &len);
    CHECKF(rc == LSMLOG_OK, "get(%" PRIu64 ") = %d (%s)", off, rc, tu_status_name(rc));
    CHECKF(v != NULL, "get(%" PRIu64 ") gave a NULL value", off);
    tu_check_rec(m, off, ts, v, len);
    lsmlog_free(v);
}

/* The whole log must equal the model: bounds end == m->n, start == `start`
 * (skip with UINT64_MAX), every present offset >= start readable by get and
 * returned in order by a full iterator, every other offset NOTFOUND. */
static inline void tu_verify_log(lsmlog_log *log, const tu_model *m, uint64_t start) {
    uint64_t s = 0, e = 0;
    CHECK_OK(lsmlog_log_bounds(log, &s, &e));
    CHECK_EQ_U64(e, m->n);
    if (start != UINT64_MAX)
        CHECK_EQ_U64(s, start);
    else
        start = s;
    for (uint64_t off = 0; off < m->n + 2; off++) {
        int want = off >= start && off < m->n && m->r[off].present;
        if (want) {
            tu_check_get(log, m, off);
        } else {
            void *v = NULL;
            int rc = lsmlog_log_get(log, off, NULL, &v, NULL);
            CHECKF(rc == LSMLOG_NOTFOUND, "get(%" PRIu64 ") = %d (%s), want NOTFOUND", off, rc,
                   tu_status_name(rc));
        }
    }
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &it));
    uint64_t want = start;
    for (;;) {
        while (want < m->n && !m->r[want].present)
            want++;
        lsmlog_record rec;
        int rc = lsmlog_log_iter_next(it, &rec);
        if (want >= m->n) {
            CHECKF(rc == LSMLOG_NOTFOUND, "iterator past the end gave %d (%s)", rc,
                   tu_status_name(rc));
            break;
        }
        CHECKF(rc == LSMLOG_OK, "iterator at %" PRIu64 " gave %d (%s)", want, rc,
               tu_status_name(rc));
        CHECKF(rec.offset == want, "iterator gave offset %" PRIu64 ", want %" PRIu64, rec.offset,
               want);
        tu_check_rec(m, rec.offset, rec.timestamp, rec.value, rec.len);
        want++;
    }
    lsmlog_log_iter_close(it);
}

/* A deterministic value for (seed, offset): length in [0, maxlen], the first
 * 8 bytes (when there is room) the offset itself, the rest pseudo-random.
 * Returns the length; buf must hold maxlen bytes. */
static inline size_t tu_make_value(uint64_t seed, uint64_t off, size_t maxlen, unsigned char *buf) {
    uint64_t st = tu_hash2(seed, off);
    size_t len = (size_t)(tu_splitmix64(&st) % (maxlen + 1));
    tu_fill_random(&st, buf, len);
    unsigned char o[8];
    tu_put_u64(o, off);
    memcpy(buf, o, len < 8 ? len : 8);
    return len;
}

#endif
