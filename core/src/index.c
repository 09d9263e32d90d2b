/* index.c — sparse offset and time indexes of a segment. */
#include "index.h"

#include "alloc.h"
#include "crc32c.h"
#include "env.h"
#include "status.h"

#include <string.h>

int idx_maybe_add(segment *s, uint64_t pos, uint64_t base, int64_t max_before) {
    if (s->nidx > 0 && pos - s->idx_last_pos < INDEX_INTERVAL_BYTES) return LSMLOG_OK;
    if (s->nidx == s->idx_cap) {
        size_t cap = s->idx_cap ? s->idx_cap * 2 : 64;
        idx_entry *n = lm_realloc(s->idx, cap * sizeof *n);
        if (!n) return st_error(LSMLOG_E_NOMEM, "out of memory indexing %s", s->path);
        s->idx = n;
        s->idx_cap = cap;
    }
    s->idx[s->nidx++] = (idx_entry){(uint32_t)(base - s->base), (uint32_t)pos, max_before};
    s->idx_last_pos = pos;
    return LSMLOG_OK;
}

void idx_truncate(segment *s, uint64_t pos) {
    while (s->nidx > 0 && s->idx[s->nidx - 1].pos >= pos) s->nidx--;
    s->idx_last_pos = s->nidx ? s->idx[s->nidx - 1].pos : 0;
}

uint64_t idx_pos_for_offset(const segment *s, uint64_t offset) {
    if (s->nidx == 0 || offset < s->base) return SEG_HEADER_SIZE;
    uint64_t rel = offset - s->base;
    size_t lo = 0, hi = s->nidx; /* find the last entry with rel <= offset */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->idx[mid].rel <= rel) lo = mid;
        else hi = mid;
    }
    return s->idx[lo].rel <= rel ? s->idx[lo].pos : SEG_HEADER_SIZE;
}

uint64_t idx_pos_for_time(const segment *s, int64_t ts) {
    /* max_before never decreases along the index: every record before the
     * chosen entry's batch has a timestamp < ts. */
    size_t lo = 0, hi = s->nidx;
    while (lo < hi) { /* first entry with max_before >= ts */
        size_t mid = lo + (hi - lo) / 2;
        if (s->idx[mid].max_before < ts) lo = mid + 1;
        else hi = mid;
    }
    return lo == 0 ? SEG_HEADER_SIZE : s->idx[lo - 1].pos;
}

static void put_header(uint8_t *h, const char *magic, const segment *s, const uint8_t *entries,
                       size_t esize) {
    memcpy(h, magic, 8);
    put_u32(h + 8, LOG_FORMAT_VERSION);
    put_u32(h + 12, (uint32_t)s->nidx);
    put_u64(h + 16, s->base);
    put_u64(h + 24, s->size);
    put_u64(h + 32, s->end);
    put_i64(h + 40, s->first_off == s->end ? 0 : s->first_ts);
    put_i64(h + 48, s->max_ts);
    put_u32(h + 56, crc32c_mask(crc32c_value(entries, esize)));
    put_u32(h + 60, crc32c_mask(crc32c_value(h, 60)));
}

static int save_one(const segment *s, const char *dir, const char *suffix, int timeidx) {
    size_t es = timeidx ? TIDX_ENTRY_SIZE : IDX_ENTRY_SIZE;
    size_t n = IDX_HEADER_SIZE + s->nidx * es;
    uint8_t *buf = lm_malloc(n);
    char *path = seg_file_path(dir, s->base, suffix);
    int rc;
    if (!buf || !path) {
        rc = st_error(LSMLOG_E_NOMEM, "out of memory");
    } else {
        uint8_t *e = buf + IDX_HEADER_SIZE;
        for (size_t i = 0; i < s->nidx; i++, e += es) {
            if (timeidx) {
                put_i64(e, s->idx[i].max_before);
                put_u32(e + 8, s->idx[i].rel);
                put_u32(e + 12, s->idx[i].pos);
            } else {
                put_u32(e, s->idx[i].rel);
                put_u32(e + 4, s->idx[i].pos);
            }
        }
        put_header(buf, timeidx ? TIDX_MAGIC : IDX_MAGIC, s, buf + IDX_HEADER_SIZE, n - IDX_HEADER_SIZE);
        /* Not fsynced: a torn index fails its checksum and is rebuilt. */
        rc = env_write_file_atomic(dir, path, buf, n, 0);
    }
    lm_free(buf);
    lm_free(path);
    return rc;
}

int idx_save(const segment *s, const char *dir) {
    int rc = save_one(s, dir, IDX_SUFFIX, 0);
    return rc ? rc : save_one(s, dir, TIDX_SUFFIX, 1);
}

/* Reads one index file; 0 when it is whole and describes a segment of
 * file_size bytes at s->base. */
static int load_one(const segment *s, const char *dir, const char *suffix, int timeidx,
                    uint64_t file_size, uint8_t **out, size_t *n) {
    char *path = seg_file_path(dir, s->base, suffix);
    if (!path) return st_error(LSMLOG_E_NOMEM, "out of memory");
    uint8_t *b = NULL;
    size_t len = 0;
    int rc = env_read_file(path, &b, &len);
    lm_free(path);
    if (rc == LSMLOG_E_NOENT || rc == LSMLOG_E_CORRUPT) return LSMLOG_NOTFOUND;
    if (rc) return rc;
    size_t es = timeidx ? TIDX_ENTRY_SIZE : IDX_ENTRY_SIZE;
    int ok = len >= IDX_HEADER_SIZE && memcmp(b, timeidx ? TIDX_MAGIC : IDX_MAGIC, 8) == 0 &&
             crc32c_unmask(get_u32(b + 60)) == crc32c_value(b, 60) &&
             get_u32(b + 8) == LOG_FORMAT_VERSION && get_u64(b + 16) == s->base &&
             get_u64(b + 24) == file_size && len == IDX_HEADER_SIZE + (size_t)get_u32(b + 12) * es &&
             crc32c_unmask(get_u32(b + 56)) == crc32c_value(b + IDX_HEADER_SIZE, len - IDX_HEADER_SIZE);
    if (!ok) {
        lm_free(b);
        return LSMLOG_NOTFOUND;
    }
    *out = b;
    *n = len;
    return LSMLOG_OK;
}

int idx_load(segment *s, const char *dir, uint64_t file_size) {
    uint8_t *ib = NULL, *tb = NULL;
    size_t il = 0, tl = 0;
    int rc = load_one(s, dir, IDX_SUFFIX, 0, file_size, &ib, &il);
    if (rc == LSMLOG_OK) rc = load_one(s, dir, TIDX_SUFFIX, 1, file_size, &tb, &tl);
    if (rc == LSMLOG_OK && memcmp(ib + 12, tb + 12, 56 - 12) != 0) rc = LSMLOG_NOTFOUND;
    uint32_t n = rc == LSMLOG_OK ? get_u32(ib + 12) : 0;
    idx_entry *v = NULL;
    if (rc == LSMLOG_OK && n > 0 && !(v = lm_malloc(n * sizeof *v))) rc = st_error(LSMLOG_E_NOMEM, "out of memory");
    for (uint32_t i = 0; rc == LSMLOG_OK && i < n; i++) {
        const uint8_t *e = ib + IDX_HEADER_SIZE + (size_t)i * IDX_ENTRY_SIZE;
        const uint8_t *t = tb + IDX_HEADER_SIZE + (size_t)i * TIDX_ENTRY_SIZE;
        v[i] = (idx_entry){get_u32(e), get_u32(e + 4), get_i64(t)};
        /* the two files must agree, and positions must lie inside the file */
        if (get_u32(t + 8) != v[i].rel || get_u32(t + 12) != v[i].pos || v[i].pos < SEG_HEADER_SIZE ||
            v[i].pos >= file_size || (i > 0 && v[i].pos <= v[i - 1].pos))
            rc = LSMLOG_NOTFOUND;
    }
    if (rc == LSMLOG_OK) {
        uint64_t end = get_u64(ib + 32);
        if (end < s->base || (n > 0 && end <= s->base + v[n - 1].rel)) rc = LSMLOG_NOTFOUND;
        else {
            lm_free(s->idx);
            s->idx = v;
            s->nidx = s->idx_cap = n;
            s->idx_last_pos = n ? v[n - 1].pos : 0;
            s->size = file_size;
            s->end = end;
            s->first_off = n ? s->base + v[0].rel : end;
            s->first_ts = get_i64(ib + 40);
            s->max_ts = get_i64(ib + 48);
            v = NULL;
        }
    }
    lm_free(v);
    lm_free(ib);
    lm_free(tb);
    return rc;
}

void idx_remove(const char *dir, uint64_t base) {
    const char *suffixes[] = {IDX_SUFFIX, TIDX_SUFFIX};
    for (int i = 0; i < 2; i++) {
        char *p = seg_file_path(dir, base, suffixes[i]);
        if (p) env_unlink(p);
        lm_free(p);
    }
}
