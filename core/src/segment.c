/* segment.c — segment files: header, mapping, and the batch scan. */
#include "segment.h"

#include "alloc.h"
#include "crc32c.h"
#include "env.h"
#include "index.h"
#include "status.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

int seg_parse_name(const char *name, const char *suffix, uint64_t *base) {
    size_t sl = strlen(suffix);
    if (strlen(name) != SEG_NAME_DIGITS + sl || strcmp(name + SEG_NAME_DIGITS, suffix) != 0) return 0;
    uint64_t v = 0;
    for (int i = 0; i < SEG_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9') return 0;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    *base = v;
    return 1;
}

char *seg_file_path(const char *dir, uint64_t base, const char *suffix) {
    char name[SEG_NAME_DIGITS + 16];
    snprintf(name, sizeof name, "%020llu%s", (unsigned long long)base, suffix);
    return env_join(dir, name);
}

void seg_header_encode(uint8_t *h, uint64_t base, uint32_t max_len, int64_t created_ms) {
    memcpy(h, SEG_MAGIC, 8);
    put_u32(h + 8, LOG_FORMAT_VERSION);
    put_u32(h + 12, max_len);
    put_u64(h + 16, base);
    put_i64(h + 24, created_ms);
    put_u32(h + 32, 0);
    put_u32(h + 36, crc32c_mask(crc32c_value(h, 36)));
}

static segment *seg_new(const char *dir, uint64_t base) {
    segment *s = lm_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->path = seg_file_path(dir, base, SEG_SUFFIX);
    if (!s->path) {
        lm_free(s);
        return NULL;
    }
    s->base = base;
    s->fd = -1;
    s->refs = 1;
    s->size = SEG_HEADER_SIZE;
    s->first_off = s->end = base;
    return s;
}

/* Sizes s->checked to the segment: a slot per 16 KiB, 16 to 4096 slots. */
static void seg_alloc_checked(segment *s) {
    uint32_t n = 16;
    while (n < 4096 && (uint64_t)n * 16384 < s->max_len) n *= 2;
    lm_free(s->checked);
    s->checked = lm_calloc(n, sizeof *s->checked);
    s->checked_mask = s->checked ? n - 1 : 0;
}

static uint32_t checked_slot(const segment *s, uint64_t pos) {
    uint64_t h = pos * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 40) & s->checked_mask;
}

int seg_check_batch_once(segment *s, uint64_t pos, uint64_t limit, batch_hdr *h, const char **what) {
    /* a slot holds (pos + 1) << 32 | values_at (what the body's check
     * finds besides its validity); positions are < 2^32 - 1 (max_len) */
    if (s->checked) {
        uint64_t seen = atomic_load_explicit(&s->checked[checked_slot(s, pos)], memory_order_relaxed);
        if (seen >> 32 == pos + 1 && limit - pos >= BATCH_HEADER_SIZE && batch_parse_header(s->map + pos, h) == 0 &&
            h->body_len <= limit - pos - BATCH_HEADER_SIZE && (uint32_t)seen <= h->body_len) {
            h->values_at = (uint32_t)seen;
            return 1;
        }
    }
    int v = seg_check_batch(s, pos, limit, 0, h, NULL, what);
    if (v == 0) {
        *what = "batch cut off";
        v = -1;
    }
    if (v == 1 && s->checked)
        atomic_store_explicit(&s->checked[checked_slot(s, pos)], (pos + 1) << 32 | h->values_at, memory_order_relaxed);
    return v;
}

void seg_free(segment *s) {
    if (!s) return;
    lm_free(s->checked);
    env_munmap(s->map, s->max_len);
    env_close(s->fd);
    lm_free(s->idx);
    lm_free(s->path);
    lm_free(s);
}

int seg_create(const char *dir, uint64_t base, uint32_t max_len, int64_t created_ms, int sync,
               segment **out) {
    segment *s = seg_new(dir, base);
    if (!s) return st_error(LSMLOG_E_NOMEM, "out of memory");
    uint8_t h[SEG_HEADER_SIZE];
    seg_header_encode(h, base, max_len, created_ms);
    int wfd = -1, rc = env_open(s->path, O_WRONLY | O_CREAT | O_EXCL, &wfd);
    if (rc) {
        seg_free(s);
        return rc;
    }
    rc = env_pwrite_all(wfd, h, sizeof h, 0, s->path);
    /* In sync mode the file and its name are durable before any record in it
     * is acknowledged. */
    if (rc == LSMLOG_OK && sync) rc = env_fdatasync(wfd, s->path);
    env_close(wfd);
    if (rc == LSMLOG_OK && sync) rc = env_fsync_dir(dir);
    if (rc == LSMLOG_OK) rc = env_open(s->path, O_RDONLY, &s->fd);
    if (rc) {
        env_unlink(s->path);
        seg_free(s);
        return rc;
    }
    s->max_len = max_len;
    s->created_ms = created_ms;
    seg_alloc_checked(s);
    *out = s;
    return LSMLOG_OK;
}

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

int seg_open(const char *dir, uint64_t base, segment **out) {
    segment *s = seg_new(dir, base);
    if (!s) return st_error(LSMLOG_E_NOMEM, "out of memory");
    uint64_t size = 0;
    uint8_t h[SEG_HEADER_SIZE];
    int rc = env_open(s->path, O_RDONLY, &s->fd);
    if (rc == LSMLOG_OK) rc = env_file_size(s->fd, &size, s->path);
    if (rc) {
        seg_free(s);
        return rc;
    }
    memset(h, 0, sizeof h);
    if (size > 0 && (rc = env_pread_all(s->fd, h, size < sizeof h ? size : sizeof h, 0, s->path))) {
        seg_free(s);
        return rc;
    }
    *out = s;
    /* A crash between creating the file and writing its header leaves it
     * short or zero-filled: a torn creation, not damage. */
    if (size < SEG_HEADER_SIZE || all_zero(h, sizeof h)) {
        st_error(LSMLOG_E_CORRUPT, "%s: header is torn (%llu bytes)", s->path, (unsigned long long)size);
        return LSMLOG_NOTFOUND;
    }
    if (memcmp(h, SEG_MAGIC, 8) != 0 || crc32c_unmask(get_u32(h + 36)) != crc32c_value(h, 36))
        rc = st_error(LSMLOG_E_CORRUPT, "%s: bad segment header at byte 0", s->path);
    else if (get_u32(h + 8) > LOG_FORMAT_VERSION)
        rc = st_error(LSMLOG_E_VERSION, "%s: format version %u is newer than this library's (%u)",
                      s->path, get_u32(h + 8), LOG_FORMAT_VERSION);
    else if (get_u64(h + 16) != base)
        rc = st_error(LSMLOG_E_CORRUPT, "%s: header says base offset %llu, the name says %llu", s->path,
                      (unsigned long long)get_u64(h + 16), (unsigned long long)base);
    else if (get_u32(h + 12) < LSMLOG_MIN_SEGMENT_BYTES || size > get_u32(h + 12))
        rc = st_error(LSMLOG_E_CORRUPT, "%s: header capacity %u is below the minimum segment or the file's %llu bytes",
                      s->path, get_u32(h + 12), (unsigned long long)size);
    if (rc) {
        seg_free(s);
        *out = NULL;
        return rc;
    }
    s->max_len = get_u32(h + 12);
    s->created_ms = get_i64(h + 24);
    seg_alloc_checked(s);
    return LSMLOG_OK;
}

int seg_rewrite_header(segment *s, uint32_t max_len, int64_t created_ms, int sync) {
    uint8_t h[SEG_HEADER_SIZE];
    seg_header_encode(h, s->base, max_len, created_ms);
    int wfd = -1, rc = env_open(s->path, O_WRONLY, &wfd);
    if (rc) return rc;
    rc = env_ftruncate(wfd, 0, s->path);
    if (rc == LSMLOG_OK) rc = env_pwrite_all(wfd, h, sizeof h, 0, s->path);
    if (rc == LSMLOG_OK && sync) rc = env_fdatasync(wfd, s->path);
    env_close(wfd);
    if (rc == LSMLOG_OK) {
        s->max_len = max_len;
        s->created_ms = created_ms;
        seg_alloc_checked(s); /* what was checked is gone */
    }
    return rc;
}

int seg_map(segment *s) {
    if (s->map) return LSMLOG_OK;
    void *a;
    int rc = env_mmap(s->fd, s->max_len, s->path, &a);
    if (rc == LSMLOG_OK) s->map = a;
    return rc;
}

void seg_note_batch(segment *s, uint64_t pos, const batch_hdr *h, int64_t max_ts) {
    if (s->first_off == s->end) { /* the first record of the segment */
        s->first_off = h->base;
        s->first_ts = h->first_ts;
        s->max_ts = max_ts;
    } else if (max_ts > s->max_ts) {
        s->max_ts = max_ts;
    }
    s->end = h->base + h->count;
    s->size = pos + BATCH_HEADER_SIZE + h->body_len;
}

/* Checks the batch at pos: 1 valid, 0 incomplete (runs past limit), -1 bad. */
int seg_check_batch(const segment *s, uint64_t pos, uint64_t limit, uint64_t min_off, batch_hdr *h,
                    int64_t *max_ts, const char **what) {
    if (limit - pos < BATCH_HEADER_SIZE) {
        *what = "batch header cut off";
        return 0;
    }
    if (batch_parse_header(s->map + pos, h) != 0) {
        *what = "bad batch header";
        return -1;
    }
    if (h->body_len > limit - pos - BATCH_HEADER_SIZE) {
        *what = "batch cut off";
        return 0;
    }
    if (h->base < min_off) {
        *what = "batch offsets go backwards";
        return -1;
    }
    if (batch_check_body(h, s->map + pos + BATCH_HEADER_SIZE, max_ts) != 0) {
        *what = "batch checksum mismatch";
        return -1;
    }
    return 1;
}

void seg_scan(segment *s, uint64_t limit, scan_result *r) {
    memset(r, 0, sizeof *r);
    if (limit > s->max_len) limit = s->max_len;
    uint64_t pos = s->size;
    for (;;) {
        if (pos >= limit) {
            r->why = SCAN_END;
            break;
        }
        batch_hdr h;
        int64_t mx;
        int v = seg_check_batch(s, pos, limit, s->end, &h, &mx, &r->what);
        if (v <= 0) {
            r->why = v == 0 ? SCAN_INCOMPLETE : SCAN_BAD;
            break;
        }
        int64_t before = s->first_off == s->end ? INT64_MIN : s->max_ts;
        if (idx_maybe_add(s, pos, h.base, before) != 0) {
            r->why = SCAN_NOMEM;
            r->what = "out of memory";
            break;
        }
        seg_note_batch(s, pos, &h, mx);
        r->batches++;
        r->records += h.count;
        pos = s->size;
    }
    r->pos = pos;
}

int seg_find_valid(const segment *s, uint64_t from, uint64_t limit, uint64_t min_off, uint64_t *pos) {
    if (limit > s->max_len) limit = s->max_len;
    for (uint64_t p = from; p + BATCH_HEADER_SIZE <= limit; p++) {
        /* cheap filter before the checksums: a plausible base offset */
        uint64_t base = get_u64(s->map + p + 8);
        if (base < min_off || base - min_off > ((uint64_t)1 << 40)) continue;
        batch_hdr h;
        int64_t mx;
        const char *what;
        if (seg_check_batch(s, p, limit, min_off, &h, &mx, &what) == 1) {
            *pos = p;
            return 1;
        }
    }
    return 0;
}
