/* fuzz_util.h — what the libFuzzer targets of tests/fuzz/ share: a scratch
 * directory per process (made once, emptied for every input), writing files,
 * splitting one input into several files, fixing up the checksums of Log
 * files so that mutations reach the checks behind the CRCs, and a check
 * macro that aborts (libFuzzer then keeps the input as a crash).
 *
 * The scratch directory is made under $LSMLOG_FUZZ_TMP, else /dev/shm (a
 * tmpfs: no disk I/O, fsync is free), else /tmp; it is removed at a normal
 * exit. scripts/fuzz.sh points LSMLOG_FUZZ_TMP at a directory of its own
 * and removes that, so a crashed target leaves nothing behind either. */
#ifndef LSMLOG_FUZZ_UTIL_H
#define LSMLOG_FUZZ_UTIL_H

#include "coding.h"
#include "crc32c.h"
#include "log_format.h"
#include "lsmlog.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An invariant of the library that does not hold: print it and abort, which
 * libFuzzer reports as a crash (and keeps the input). Errors the library
 * returns for damaged input are not failures: only wrong answers are. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n    ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n    lsmlog_errmsg: %s\n", lsmlog_errmsg());                         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- the scratch directory ------------------------------------------------ */

static char fz_root[512];

/* Removes everything inside `dir` (recursively: repair makes lost/). */
static inline void fz_empty_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            fz_empty_dir(path);
            rmdir(path);
        } else {
            unlink(path);
        }
    }
    closedir(d);
}

static inline void fz_remove_root(void) {
    if (!fz_root[0]) return;
    fz_empty_dir(fz_root);
    rmdir(fz_root);
}

/* The per-process scratch directory, made on first use. */
static inline const char *fz_dir(void) {
    if (fz_root[0]) return fz_root;
    const char *bases[3] = {getenv("LSMLOG_FUZZ_TMP"), "/dev/shm", "/tmp"};
    for (int i = 0; i < 3; i++) {
        if (!bases[i] || !bases[i][0]) continue;
        snprintf(fz_root, sizeof fz_root, "%s/lsmlog-fuzz-XXXXXX", bases[i]);
        if (mkdtemp(fz_root)) {
            atexit(fz_remove_root);
            return fz_root;
        }
    }
    fprintf(stderr, "fuzz: cannot make a scratch directory\n");
    abort();
}

/* dir/name into out. */
static inline void fz_path(char *out, size_t n, const char *dir, const char *name) {
    snprintf(out, n, "%s/%s", dir, name);
}

static inline void fz_mkdir(const char *path) {
    if (mkdir(path, 0755) != 0) {
        perror(path);
        abort();
    }
}

static inline void fz_write(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            perror(path);
            abort();
        }
        p += w;
        n -= (size_t)w;
    }
    close(fd);
}

/* ---- one input, several files --------------------------------------------- */

/* Parts of an input are separated by this string (it is in the targets'
 * dictionaries, so the fuzzer learns to make and drop it). An input without
 * it is a single part. */
#define FZ_SEP "#LSMFUZZ#"
#define FZ_SEP_LEN 9u
#define FZ_MAX_PARTS 8

typedef struct fz_part {
    const uint8_t *p;
    size_t n;
} fz_part;

/* Splits data at each FZ_SEP into at most FZ_MAX_PARTS parts (the last part
 * keeps any further separators); returns the number of parts (>= 1). */
static inline size_t fz_split(const uint8_t *data, size_t size, fz_part *parts) {
    size_t np = 0, start = 0;
    for (size_t i = 0; np + 1 < FZ_MAX_PARTS && i + FZ_SEP_LEN <= size;) {
        if (memcmp(data + i, FZ_SEP, FZ_SEP_LEN) == 0) {
            parts[np++] = (fz_part){data + start, i - start};
            i += FZ_SEP_LEN;
            start = i;
        } else {
            i++;
        }
    }
    parts[np++] = (fz_part){data + start, size - start};
    return np;
}

/* ---- checksum fix-ups ----------------------------------------------------------
 * A mutation almost always breaks a CRC, and a CRC mismatch is all the reader
 * then sees. So each target also runs every input with its checksums made
 * right again (where the structure lets us find them): the reader must then
 * cope with well-checksummed nonsense, the harder case. Each returns 1 if it
 * changed a byte. */

static inline int fz_put32(uint8_t *p, uint32_t v) {
    if (get_u32(p) == v) return 0;
    put_u32(p, v);
    return 1;
}

static inline int fz_put64(uint8_t *p, uint64_t v) {
    if (get_u64(p) == v) return 0;
    put_u64(p, v);
    return 1;
}

/* A segment file: its header's base (set to `base`) and CRC, then each batch's
 * body CRC (when the body is whole) and header CRC, walking by body_len. */
static inline int fz_fix_segment(uint8_t *b, size_t n, uint64_t base) {
    if (n < SEG_HEADER_SIZE) return 0;
    int ch = fz_put64(b + 16, base);
    ch |= fz_put32(b + 36, crc32c_mask(crc32c_value(b, 36)));
    size_t pos = SEG_HEADER_SIZE;
    while (n - pos >= BATCH_HEADER_SIZE) {
        uint8_t *h = b + pos;
        uint32_t body_len = get_u32(h + 4);
        int whole = body_len <= n - pos - BATCH_HEADER_SIZE;
        if (whole) ch |= fz_put32(h + 28, crc32c_mask(crc32c_value(h + BATCH_HEADER_SIZE, body_len)));
        ch |= fz_put32(h, crc32c_mask(crc32c_value(h + 4, BATCH_HEADER_SIZE - 4)));
        if (!whole) break;
        pos += BATCH_HEADER_SIZE + body_len;
    }
    return ch;
}

/* An index file (.index: esize 8, .timeindex: 16) of the segment at `base`
 * of seg_size bytes: base, seg_size and the entry count made to match, then
 * both CRCs. *n may shrink to a whole number of entries. So the index is
 * believed, and what it says is put to the test. */
static inline int fz_fix_index(uint8_t *b, size_t *n, uint64_t base, uint64_t seg_size, size_t esize) {
    if (*n < IDX_HEADER_SIZE) return 0;
    size_t count = (*n - IDX_HEADER_SIZE) / esize;
    int ch = *n != IDX_HEADER_SIZE + count * esize;
    *n = IDX_HEADER_SIZE + count * esize;
    ch |= fz_put32(b + 12, (uint32_t)count);
    ch |= fz_put64(b + 16, base);
    ch |= fz_put64(b + 24, seg_size);
    ch |= fz_put32(b + 56, crc32c_mask(crc32c_value(b + IDX_HEADER_SIZE, *n - IDX_HEADER_SIZE)));
    ch |= fz_put32(b + 60, crc32c_mask(crc32c_value(b, 60)));
    return ch;
}

/* A cheap, stable 64-bit mix (splitmix64), for picking values from input. */
static inline uint64_t fz_mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* FNV-1a over bytes: touches every byte of a returned value (so that ASan
 * sees a read outside a buffer) and gives something to compare. */
static inline uint64_t fz_hash(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

#endif
