/* sst_reader.c — opening a table, point lookups, and the two-level iterator.
 *
 * At open the footer, index, filter and properties are read, checked and kept
 * for the reader's life — in the mapping when the file is mapped (so that the
 * heap does not grow with the number and size of the tables: their pages are
 * the page cache's to keep or drop), else in memory; the index is walked once
 * so that every handle in it is known to tile the data region, and laid out
 * flat for seeks (sst_index.h). Data blocks are read on demand: in place
 * from the mapping, or with pread through the block cache when there is
 * one. */
#include "sst_reader.h"

#include "alloc.h"
#include "bloom.h"
#include "coding.h"
#include "crc32c.h"
#include "env.h"
#include "lsmlog.h"
#include "sst_format.h"
#include "sst_index.h"
#include "status.h"

#include <assert.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>

struct sst_reader {
    char *path; /* owned */
    int fd;
    const uint8_t *map; /* the whole file mapped read-only, or NULL: blocks are read with pread */
    uint64_t file_number; /* its blocks' key in the cache (only pread tables use it) */
    /* Mapped files: verified[i] is set once data block i (the i-th index
     * entry) has passed its CRC, so that a block read again from the
     * mapping — the file never changes — is not checksummed again. NULL when
     * not mapped, or when index entries and their ordinals do not match. */
    atomic_uchar *verified;
    uint64_t nblocks; /* the cache key's first half */
    uint64_t file_size;
    block_cache *cache; /* borrowed; NULL: no caching */
    sst_cmp_fn cmp;
    block index;        /* its contents: owned (index.owned) or in the mapping */
    uint64_t index_off; /* its file position, for messages */
    /* The index as a flat array, what seeks search (key8 NULL: the index
     * block is searched itself, when its entries are not all restarts or its
     * order is not bytewise) */
    sst_index fast;
    bloom_filter filter;   /* over the filter block (in the mapping or filter_owned) */
    int has_filter;        /* 0: the table has no filter block */
    uint8_t *filter_owned;
    sst_props props;   /* keys owned */
    uint64_t data_end; /* the data blocks fill [0, data_end) */
    atomic_uint_fast64_t gets, bloom_useful, bloom_useless, block_reads;
    atomic_int iters; /* open iterators, to catch a close before them */
};

static void count(atomic_uint_fast64_t *c) {
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static int corrupt_at(const sst_reader *r, const char *kind, uint64_t off, const char *what) {
    return st_error(LSMLOG_E_CORRUPT, "%s: %s block at byte %llu: %s", r->path, kind,
                    (unsigned long long)off, what);
}

/* ---- blocks -------------------------------------------------------------- */

/* 1 if a block of `size` bytes at `off`, trailer included, lies in [lo, hi). */
static int in_range(uint64_t off, uint64_t size, uint64_t lo, uint64_t hi) {
    return off >= lo && off <= hi && size <= hi - off && SST_BLOCK_TRAILER_SIZE <= hi - off - size;
}

/* Reads a block's contents and trailer into a new buffer (*buf, owned) and
 * checks the trailer. The handle was checked to lie inside the file. */
static int read_block(sst_reader *r, const char *kind, uint64_t off, uint64_t size, uint8_t **buf) {
    if (size > SIZE_MAX - SST_BLOCK_TRAILER_SIZE) return corrupt_at(r, kind, off, "too large");
    size_t n = (size_t)size;
    uint8_t *b = lm_malloc(n + SST_BLOCK_TRAILER_SIZE);
    if (!b) return st_error(LSMLOG_E_NOMEM, "out of memory reading %s", r->path);
    int rc = LSMLOG_OK;
    if (!r->map) {
        rc = env_pread_all(r->fd, b, n + SST_BLOCK_TRAILER_SIZE, off, r->path);
    } else if (off > r->file_size || n + SST_BLOCK_TRAILER_SIZE > r->file_size - off) {
        rc = corrupt_at(r, kind, off, "runs past the end of the file");
    } else {
        /* a copy from the mapping: no system call; tables never change */
        memcpy(b, r->map + off, n + SST_BLOCK_TRAILER_SIZE);
    }
    if (rc) {
        lm_free(b);
        return rc;
    }
    uint32_t want = crc32c_unmask(get_u32(b + n + 1));
    uint32_t got = crc32c_extend(crc32c_value(b, n), b + n, 1);
    if (want != got) {
        lm_free(b);
        return st_error(LSMLOG_E_CORRUPT,
                        "%s: %s block at byte %llu (%zu bytes): checksum mismatch", r->path, kind,
                        (unsigned long long)off, n);
    }
    if (b[n] != SST_BLOCK_RAW) {
        unsigned type = b[n]; /* read before the buffer is freed (found by fuzz_sst_reader) */
        lm_free(b);
        return st_error(LSMLOG_E_CORRUPT, "%s: %s block at byte %llu: unknown block type %u",
                        r->path, kind, (unsigned long long)off, type);
    }
    *buf = b;
    return LSMLOG_OK;
}

/* A data block in use: pinned in the cache (h), or read past it into the
 * pin's own block (b == &own, h NULL), whose buffer, if any, goes at unpin.
 * A pin lives inside its iterator and is never copied. */
typedef struct blk_pin {
    block *b;
    block_cache_handle *h;
    block own;
} blk_pin;

static void free_block(void *v) {
    block_release(v);
    lm_free(v);
}

static void unpin(sst_reader *r, blk_pin *p) {
    if (p->h)
        block_cache_release(r->cache, p->h);
    else if (p->b)
        block_release(p->b);
    p->b = NULL;
    p->h = NULL;
}

/* A block of the mapped file, checked in place (no copy): its contents stay
 * in the mapping. */
static int map_block(sst_reader *r, const char *kind, uint64_t off, uint64_t size, uint64_t ordinal,
                     const uint8_t **out) {
    if (size > SIZE_MAX - SST_BLOCK_TRAILER_SIZE) return corrupt_at(r, kind, off, "too large");
    size_t n = (size_t)size;
    if (off > r->file_size || n + SST_BLOCK_TRAILER_SIZE > r->file_size - off)
        return corrupt_at(r, kind, off, "runs past the end of the file");
    const uint8_t *b = r->map + off;
    int known = r->verified && ordinal < r->nblocks &&
                atomic_load_explicit(&r->verified[ordinal], memory_order_relaxed);
    if (!known && crc32c_unmask(get_u32(b + n + 1)) != crc32c_extend(crc32c_value(b, n), b + n, 1))
        return st_error(LSMLOG_E_CORRUPT, "%s: %s block at byte %llu (%zu bytes): checksum mismatch", r->path,
                        kind, (unsigned long long)off, n);
    if (b[n] != SST_BLOCK_RAW)
        return st_error(LSMLOG_E_CORRUPT, "%s: %s block at byte %llu: unknown block type %u", r->path, kind,
                        (unsigned long long)off, (unsigned)b[n]);
    if (!known && r->verified && ordinal < r->nblocks)
        atomic_store_explicit(&r->verified[ordinal], 1, memory_order_relaxed);
    *out = b;
    return LSMLOG_OK;
}

/* Reads data block (off, size) into *b, checked and parsed. ordinal: the
 * block's index entry number (UINT64_MAX: unknown). */
static int read_data_block(sst_reader *r, uint64_t off, uint64_t size, uint64_t ordinal, block *b) {
    count(&r->block_reads);
    uint8_t *buf = NULL;
    const uint8_t *data = NULL;
    int rc = r->map ? map_block(r, "data", off, size, ordinal, &data) : read_block(r, "data", off, size, &buf);
    if (rc) return rc;
    block_loc loc = {r->path, "data", off};
    if ((rc = block_init(b, buf ? buf : data, (size_t)size, &loc))) {
        lm_free(buf);
        return rc;
    }
    b->owned = buf; /* NULL for a block in the mapping */
    return LSMLOG_OK;
}

/* Pins data block (off, size): through the cache when `cached` and the
 * reader has one and the table is read with pread, else read into the pin's
 * own block. A block of a mapped table is already in memory (the page cache
 * is its cache), so it is read in place, as LevelDB does: the cache would
 * cost a lookup, an insert and an eviction per read, to save only the
 * restart array's check (measured: 6 % of a random get over a DB 10x the
 * cache). */
static int load_data_block(sst_reader *r, uint64_t off, uint64_t size, uint64_t ordinal, int cached,
                           blk_pin *pin) {
    pin->b = NULL;
    pin->h = NULL;
    block_cache *c = cached && !r->map ? r->cache : NULL;
    if (!c) {
        int rc = read_data_block(r, off, size, ordinal, &pin->own);
        if (rc == LSMLOG_OK) pin->b = &pin->own;
        return rc;
    }
    if ((pin->h = block_cache_lookup(c, r->file_number, off))) {
        pin->b = block_cache_value(pin->h);
        return LSMLOG_OK;
    }
    block *b = lm_malloc(sizeof *b);
    if (!b) return st_error(LSMLOG_E_NOMEM, "out of memory reading %s", r->path);
    int rc = read_data_block(r, off, size, ordinal, b);
    if (rc) {
        lm_free(b);
        return rc;
    }
    /* Charged with what the block really holds in memory. */
    size_t charge = (size_t)size + SST_BLOCK_TRAILER_SIZE + sizeof *b;
    if ((rc = block_cache_insert(c, r->file_number, off, b, charge, free_block, &pin->h))) return rc;
    pin->b = block_cache_value(pin->h);
    return LSMLOG_OK;
}

/* Decodes an index value: offset and size of a data block inside the data
 * region. At exactly the value's end: trailing bytes mean damage. */
static int decode_handle(const sst_reader *r, const block_iter *ix, uint64_t *off, uint64_t *size) {
    const uint8_t *p = ix->val, *end = ix->val + ix->vlen;
    if (!(p = get_varint(p, end, off, 10)) || !(p = get_varint(p, end, size, 10)) || p != end)
        return corrupt_at(r, "index", ix->loc.offset, "malformed block handle");
    if (!in_range(*off, *size, 0, r->data_end))
        return corrupt_at(r, "index", ix->loc.offset, "block handle outside the data");
    return LSMLOG_OK;
}

/* ---- open ---------------------------------------------------------------- */

static int decode_props(sst_reader *r, const uint8_t *p, size_t n, uint64_t at) {
    const uint8_t *end = p + n;
    sst_props *pr = &r->props;
    uint64_t *nums[] = {&pr->num_entries,   &pr->num_deletions,   &pr->num_data_blocks,
                        &pr->raw_key_bytes, &pr->raw_value_bytes, &pr->smallest_seq,
                        &pr->largest_seq};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (!(p = get_varint(p, end, nums[i], 10)))
            return corrupt_at(r, "properties", at, "malformed number");
    if (end - p < 8) return corrupt_at(r, "properties", at, "truncated");
    pr->created_ms = get_i64(p);
    p += 8;
    uint8_t **keys[2] = {&pr->smallest_key, &pr->largest_key};
    size_t *lens[2] = {&pr->smallest_len, &pr->largest_len};
    for (int i = 0; i < 2; i++) {
        uint64_t len;
        if (!(p = get_varint(p, end, &len, 5)) || len > (uint64_t)(end - p))
            return corrupt_at(r, "properties", at, "malformed key");
        if (len) {
            if (!(*keys[i] = lm_malloc((size_t)len)))
                return st_error(LSMLOG_E_NOMEM, "out of memory reading %s", r->path);
            memcpy(*keys[i], p, (size_t)len);
        }
        *lens[i] = (size_t)len;
        p += len;
    }
    /* Bytes after the known fields belong to later additions: ignored. */
    int ok;
    if (pr->num_entries == 0)
        ok = pr->num_deletions == 0 && pr->num_data_blocks == 0 && pr->smallest_len == 0 &&
             pr->largest_len == 0;
    else
        ok = pr->num_deletions <= pr->num_entries && pr->num_data_blocks >= 1 &&
             pr->num_data_blocks <= pr->num_entries && pr->smallest_seq <= pr->largest_seq &&
             pr->smallest_seq <= SST_MAX_SEQ && pr->largest_seq <= SST_MAX_SEQ &&
             pr->smallest_len >= SST_IKEY_TRAILER && pr->largest_len >= SST_IKEY_TRAILER &&
             r->cmp(pr->smallest_key, pr->smallest_len, pr->largest_key, pr->largest_len) <= 0;
    if (!ok) return corrupt_at(r, "properties", at, "inconsistent values");
    return LSMLOG_OK;
}

/* Walks the index once: separators strictly ascending, handles laid end to
 * end from byte 0 to data_end, one per data block the properties count. Later
 * reads can then trust any handle the index gives. */
static int check_index(sst_reader *r, uint64_t at) {
    block_iter ix;
    block_iter_init(&ix, r->cmp, SST_IKEY_TRAILER);
    block_loc loc = {r->path, "index", at};
    block_iter_set(&ix, &r->index, &loc);
    uint8_t *prev = NULL;
    size_t plen = 0, pcap = 0;
    uint64_t expect = 0, blocks = 0;
    int ordinals_ok = 1;
    uint32_t restarts_met = 0; /* restarts that are where an entry starts */
    int rc = block_iter_first(&ix);
    while (rc == LSMLOG_OK && ix.valid) {
        uint64_t off, size;
        if ((rc = decode_handle(r, &ix, &off, &size))) break;
        if (off != expect) {
            rc = corrupt_at(r, "index", at, "data blocks do not follow each other");
            break;
        }
        if (blocks > 0 && r->cmp(prev, plen, ix.key, ix.klen) >= 0) {
            rc = corrupt_at(r, "index", at, "keys out of order");
            break;
        }
        if (ix.klen > pcap) {
            uint8_t *np = lm_realloc(prev, ix.klen);
            if (!np) {
                rc = st_error(LSMLOG_E_NOMEM, "out of memory reading %s", r->path);
                break;
            }
            prev = np;
            pcap = ix.klen;
        }
        memcpy(prev, ix.key, ix.klen);
        plen = ix.klen;
        expect = off + size + SST_BLOCK_TRAILER_SIZE;
        /* entry i is restart i, exactly: what the verified bits and the
         * flat index (which decodes restarts) take for granted */
        int at_restart = ix.cur == block_restart_offset(&r->index, ix.ridx);
        restarts_met += at_restart;
        if (ix.ridx != blocks || !at_restart) ordinals_ok = 0;
        blocks++;
        rc = block_iter_next(&ix);
    }
    lm_free(prev);
    block_iter_release(&ix);
    if (rc) return rc;
    if (expect != r->data_end)
        return corrupt_at(r, "index", at, "data blocks do not fill the data");
    if (blocks != r->props.num_data_blocks)
        return corrupt_at(r, "index", at, "block count differs from the properties");
    if (restarts_met != r->index.nrestarts) /* a seek starting there would decode garbage */
        return corrupt_at(r, "index", at, "a restart point inside an entry");
    if (r->map && ordinals_ok && blocks > 0 && blocks <= SIZE_MAX / sizeof *r->verified) {
        if (!(r->verified = lm_calloc((size_t)blocks, sizeof *r->verified)))
            return st_error(LSMLOG_E_NOMEM, "out of memory reading %s", r->path);
        r->nblocks = blocks;
    }
    if (ordinals_ok) {
        rc = sst_index_build(&r->fast, &r->index, &loc, r->data_end, SST_BLOCK_TRAILER_SIZE);
        if (rc == LSMLOG_E_INVALID) rc = LSMLOG_OK; /* searched the slow way */
    }
    return rc;
}

static int open_table(sst_reader *r) {
    int rc = env_open(r->path, O_RDONLY, &r->fd);
    if (rc) return rc;
    if ((rc = env_file_size(r->fd, &r->file_size, r->path))) return rc;
    uint64_t fs = r->file_size;
    if (fs < SST_FOOTER_SIZE)
        return st_error(LSMLOG_E_CORRUPT, "%s: %llu bytes is too short for a table (footer: %u)",
                        r->path, (unsigned long long)fs, SST_FOOTER_SIZE);
    void *map = NULL;
    if (fs <= SIZE_MAX && env_mmap(r->fd, (size_t)fs, r->path, &map) == LSMLOG_OK) {
        r->map = map;
    }
    uint64_t meta_end = fs - SST_FOOTER_SIZE;
    uint8_t f[SST_FOOTER_SIZE];
    if ((rc = env_pread_all(r->fd, f, sizeof f, meta_end, r->path))) return rc;
    /* Magic first: a file that is not a table (or was cut short) should say
     * so, rather than report a bad checksum. */
    if (get_u64(f + SST_FOOTER_MAGIC_AT) != SST_MAGIC)
        return st_error(LSMLOG_E_CORRUPT,
                        "%s: footer at byte %llu: bad magic (not a table, or cut short)", r->path,
                        (unsigned long long)meta_end);
    if (crc32c_unmask(get_u32(f + SST_FOOTER_CRC_AT)) != crc32c_value(f, SST_FOOTER_CRC_AT))
        return st_error(LSMLOG_E_CORRUPT, "%s: footer at byte %llu: checksum mismatch", r->path,
                        (unsigned long long)meta_end);
    uint32_t version = get_u32(f + 48);
    if (version > SST_FORMAT_VERSION)
        return st_error(LSMLOG_E_VERSION,
                        "%s: table format version %u, this library reads up to %u", r->path,
                        version, SST_FORMAT_VERSION);
    if (version == 0)
        return st_error(LSMLOG_E_CORRUPT, "%s: footer at byte %llu: version 0", r->path,
                        (unsigned long long)meta_end);
    uint64_t i_off = get_u64(f), i_size = get_u64(f + 8);
    uint64_t f_off = get_u64(f + 16), f_size = get_u64(f + 24);
    uint64_t p_off = get_u64(f + 32), p_size = get_u64(f + 40);
    /* The blocks after the data are laid end to end: filter (if any),
     * properties, index, footer. Anything else is damage. */
    int layout = in_range(i_off, i_size, 0, meta_end) &&
                 i_off + i_size + SST_BLOCK_TRAILER_SIZE == meta_end &&
                 in_range(p_off, p_size, 0, i_off) &&
                 p_off + p_size + SST_BLOCK_TRAILER_SIZE == i_off;
    if (layout && f_size == 0) {
        layout = f_off == 0;
        r->data_end = p_off;
    } else if (layout) {
        layout =
            in_range(f_off, f_size, 0, p_off) && f_off + f_size + SST_BLOCK_TRAILER_SIZE == p_off;
        r->data_end = f_off;
    }
    if (!layout)
        return st_error(LSMLOG_E_CORRUPT,
                        "%s: footer at byte %llu: block handles do not fit the file", r->path,
                        (unsigned long long)meta_end);

    uint8_t *buf = NULL;
    const uint8_t *data = NULL;
    rc = r->map ? map_block(r, "index", i_off, i_size, UINT64_MAX, &data) : read_block(r, "index", i_off, i_size, &buf);
    if (rc) return rc;
    block_loc iloc = {r->path, "index", i_off};
    if ((rc = block_init(&r->index, buf ? buf : data, (size_t)i_size, &iloc))) {
        lm_free(buf);
        return rc;
    }
    r->index.owned = buf; /* NULL: in the mapping */
    r->index_off = i_off;

    if (f_size) {
        const uint8_t *fb = NULL;
        if (r->map) {
            rc = map_block(r, "filter", f_off, f_size, UINT64_MAX, &fb);
        } else {
            rc = read_block(r, "filter", f_off, f_size, &r->filter_owned);
            fb = r->filter_owned;
        }
        if (rc) return rc;
        bloom_layout lay = version == 1 ? BLOOM_CLASSIC : BLOOM_BLOCKED;
        if (!bloom_filter_parse(fb, (size_t)f_size, lay, &r->filter))
            return corrupt_at(r, "filter", f_off, "bad probe count or size");
        r->has_filter = 1;
    }

    if ((rc = read_block(r, "properties", p_off, p_size, &buf))) return rc;
    rc = decode_props(r, buf, (size_t)p_size, p_off);
    lm_free(buf);
    if (rc) return rc;
    r->props.file_size = fs;
    return check_index(r, i_off);
}

int sst_reader_open(const char *path, uint64_t file_number, block_cache *cache, sst_cmp_fn cmp,
                    sst_reader **out) {
    if (!cmp) return st_error(LSMLOG_E_INVALID, "table %s: no comparator", path);
    sst_reader *r = lm_calloc(1, sizeof *r);
    if (!r) return st_error(LSMLOG_E_NOMEM, "out of memory opening %s", path);
    r->fd = -1;
    r->file_number = file_number;
    r->cache = cache;
    r->cmp = cmp;
    atomic_init(&r->gets, 0);
    atomic_init(&r->bloom_useful, 0);
    atomic_init(&r->bloom_useless, 0);
    atomic_init(&r->block_reads, 0);
    atomic_init(&r->iters, 0);
    int rc;
    if (!(r->path = lm_strdup(path)))
        rc = st_error(LSMLOG_E_NOMEM, "out of memory opening %s", path);
    else
        rc = open_table(r);
    if (rc) {
        sst_reader_close(r);
        return rc;
    }
    *out = r;
    return LSMLOG_OK;
}

void sst_reader_close(sst_reader *r) {
    if (!r) return;
    assert(atomic_load(&r->iters) == 0);
    lm_free(r->verified);
    if (r->map) env_munmap((void *)r->map, (size_t)r->file_size); /* no cached block points into it */
    env_close(r->fd);
    block_release(&r->index);
    sst_index_free(&r->fast);
    lm_free(r->filter_owned);
    sst_props_clear(&r->props);
    lm_free(r->path);
    lm_free(r);
}

const sst_props *sst_reader_props(const sst_reader *r) {
    return &r->props;
}

uint64_t sst_reader_file_number(const sst_reader *r) {
    return r->file_number;
}

void sst_reader_get_stats(const sst_reader *r, sst_reader_stats *out) {
    out->gets = atomic_load_explicit(&r->gets, memory_order_relaxed);
    out->bloom_useful = atomic_load_explicit(&r->bloom_useful, memory_order_relaxed);
    out->bloom_useless = atomic_load_explicit(&r->bloom_useless, memory_order_relaxed);
    out->block_reads = atomic_load_explicit(&r->block_reads, memory_order_relaxed);
}

/* ---- the two-level iterator ---------------------------------------------- */

struct sst_iter {
    sst_reader *r;
    block_iter ix;    /* over the reader's index block */
    block_iter data;  /* over the pinned data block */
    blk_pin pin;      /* the data block `data` walks; b NULL when none */
    uint64_t pin_off; /* its offset */
    /* A seek through the flat index goes straight to the data block and
     * leaves ix to be put on its entry (ix_at) when a move needs it */
    uint32_t ix_at;
    int ix_lazy;
    int cached;       /* blocks go through the reader's cache (sst_iter_bypass_cache) */
    int valid;
    int status; /* first error: sticky */
};

static void iter_init(sst_iter *it, sst_reader *r) {
    memset(it, 0, sizeof *it);
    it->r = r;
    it->cached = 1;
    block_iter_init(&it->ix, r->cmp, SST_IKEY_TRAILER);
    block_iter_init(&it->data, r->cmp, SST_IKEY_TRAILER);
    block_loc loc = {r->path, "index", r->index_off};
    block_iter_set(&it->ix, &r->index, &loc);
}

static void iter_cleanup(sst_iter *it) {
    unpin(it->r, &it->pin);
    block_iter_release(&it->ix);
    block_iter_release(&it->data);
}

static int iter_fail(sst_iter *it, int rc) {
    it->status = rc;
    it->valid = 0;
    unpin(it->r, &it->pin);
    return rc;
}

/* Not on an entry: the data block is let go. */
static int iter_end(sst_iter *it) {
    it->valid = 0;
    unpin(it->r, &it->pin);
    return LSMLOG_OK;
}

/* Points the data iterator at data block (off, size), index entry
 * `ordinal`. */
static int set_block(sst_iter *it, uint64_t off, uint64_t size, uint64_t ordinal) {
    if (it->pin.b && it->pin_off == off) return LSMLOG_OK; /* already there */
    unpin(it->r, &it->pin);
    int rc = load_data_block(it->r, off, size, ordinal, it->cached, &it->pin);
    if (rc) return iter_fail(it, rc);
    it->pin_off = off;
    block_loc loc = {it->r->path, "data", off};
    block_iter_set(&it->data, it->pin.b, &loc);
    return LSMLOG_OK;
}

/* Points the data iterator at the block the index iterator is on. */
static int set_data_block(sst_iter *it) {
    uint64_t off, size;
    int rc = decode_handle(it->r, &it->ix, &off, &size);
    if (rc) return iter_fail(it, rc);
    return set_block(it, off, size, it->ix.ridx);
}

/* Puts the index iterator on the entry a seek through the flat index found. */
static int ix_sync(sst_iter *it) {
    if (!it->ix_lazy) return LSMLOG_OK;
    it->ix_lazy = 0;
    return block_iter_seek_restart(&it->ix, it->ix_at);
}

/* After a move of the data iterator: on an entry, or on to the next block's
 * first entry (a block may be empty), or past the last. */
static int skip_forward(sst_iter *it, int rc) {
    for (;;) {
        if (rc) return iter_fail(it, rc);
        if (it->data.valid) {
            it->valid = 1;
            return LSMLOG_OK;
        }
        if ((rc = ix_sync(it)) || (rc = block_iter_next(&it->ix))) return iter_fail(it, rc);
        if (!it->ix.valid) return iter_end(it);
        if ((rc = set_data_block(it))) return rc;
        rc = block_iter_first(&it->data);
    }
}

static int skip_backward(sst_iter *it, int rc) {
    for (;;) {
        if (rc) return iter_fail(it, rc);
        if (it->data.valid) {
            it->valid = 1;
            return LSMLOG_OK;
        }
        if ((rc = ix_sync(it)) || (rc = block_iter_prev(&it->ix))) return iter_fail(it, rc);
        if (!it->ix.valid) return iter_end(it);
        if ((rc = set_data_block(it))) return rc;
        rc = block_iter_last(&it->data);
    }
}

/* Seeks to k, whose entry in the flat index (r->fast.key8 set) is e. */
static int seek_entry(sst_iter *it, uint32_t e, const uint8_t *k, size_t klen) {
    const sst_reader *r = it->r;
    it->ix_lazy = 0;
    if (e == r->fast.n) { /* past the last block, as the index's own seek leaves it */
        block_iter_set(&it->ix, &r->index, &it->ix.loc);
        return iter_end(it);
    }
    int rc;
    if (r->fast.start) { /* to the data block; the index entry when needed */
        uint64_t off, size;
        sst_index_block(&r->fast, e, SST_BLOCK_TRAILER_SIZE, &off, &size);
        it->ix_at = e;
        it->ix_lazy = 1;
        if ((rc = set_block(it, off, size, e))) return rc;
        return skip_forward(it, block_iter_seek(&it->data, k, klen));
    }
    if ((rc = block_iter_seek_restart(&it->ix, e))) return iter_fail(it, rc);
    if ((rc = set_data_block(it))) return rc;
    return skip_forward(it, block_iter_seek(&it->data, k, klen));
}

static int iter_seek(sst_iter *it, const uint8_t *k, size_t klen) {
    if (it->status) return it->status;
    const sst_reader *r = it->r;
    int rc;
    if (r->fast.key8) {
        uint32_t e;
        if ((rc = sst_index_find(&r->fast, &r->index, &it->ix.loc, r->cmp, k, klen, &e))) return iter_fail(it, rc);
        return seek_entry(it, e, k, klen);
    }
    it->ix_lazy = 0;
    rc = block_iter_seek(&it->ix, k, klen);
    if (rc) return iter_fail(it, rc);
    if (!it->ix.valid) return iter_end(it);
    if ((rc = set_data_block(it))) return rc;
    return skip_forward(it, block_iter_seek(&it->data, k, klen));
}

int sst_iter_new(sst_reader *r, sst_iter **out) {
    sst_iter *it = lm_malloc(sizeof *it);
    if (!it) return st_error(LSMLOG_E_NOMEM, "out of memory iterating %s", r->path);
    iter_init(it, r);
    atomic_fetch_add(&r->iters, 1);
    *out = it;
    return LSMLOG_OK;
}

void sst_iter_bypass_cache(sst_iter *it) {
    it->cached = 0;
}

void sst_iter_close(sst_iter *it) {
    if (!it) return;
    atomic_fetch_sub(&it->r->iters, 1);
    iter_cleanup(it);
    lm_free(it);
}

int sst_iter_first(sst_iter *it) {
    if (it->status) return it->status;
    it->ix_lazy = 0;
    int rc = block_iter_first(&it->ix);
    if (rc) return iter_fail(it, rc);
    if (!it->ix.valid) return iter_end(it);
    if ((rc = set_data_block(it))) return rc;
    return skip_forward(it, block_iter_first(&it->data));
}

int sst_iter_last(sst_iter *it) {
    if (it->status) return it->status;
    it->ix_lazy = 0;
    int rc = block_iter_last(&it->ix);
    if (rc) return iter_fail(it, rc);
    if (!it->ix.valid) return iter_end(it);
    if ((rc = set_data_block(it))) return rc;
    return skip_backward(it, block_iter_last(&it->data));
}

int sst_iter_seek(sst_iter *it, const uint8_t *ikey, size_t klen) {
    /* The comparator reads a trailer: a shorter target is the caller's bug,
     * refused without failing the iterator. */
    if (klen < SST_IKEY_TRAILER)
        return st_error(LSMLOG_E_INVALID, "%s: seek to a key of %zu bytes", it->r->path, klen);
    return iter_seek(it, ikey, klen);
}

int sst_iter_next(sst_iter *it) {
    if (it->status) return it->status;
    assert(it->valid);
    return skip_forward(it, block_iter_next(&it->data));
}

int sst_iter_prev(sst_iter *it) {
    if (it->status) return it->status;
    assert(it->valid);
    return skip_backward(it, block_iter_prev(&it->data));
}

int sst_iter_valid(const sst_iter *it) {
    return it->valid;
}

int sst_iter_status(const sst_iter *it) {
    return it->status;
}

const uint8_t *sst_iter_key(const sst_iter *it, size_t *len) {
    assert(it->valid);
    *len = it->data.klen;
    return it->data.key;
}

const uint8_t *sst_iter_value(const sst_iter *it, size_t *len) {
    assert(it->valid);
    *len = it->data.vlen;
    return it->data.val;
}

/* ---- salvage -------------------------------------------------------------- */

/* One data block, read and checked apart from the cache (a repair reads each
 * block once), then walked twice: first to see that all of it parses, then
 * to hand its entries out. So a block damaged past its checksum (a writer's
 * bug, or a collision) gives nothing rather than a prefix. */
static int salvage_block(sst_reader *r, uint64_t off, uint64_t size, block_iter *d, sst_entry_fn entry,
                         sst_bad_block_fn bad, void *ctx) {
    uint8_t *buf = NULL;
    const uint8_t *data = NULL;
    int rc = r->map ? map_block(r, "data", off, size, UINT64_MAX, &data) : read_block(r, "data", off, size, &buf);
    if (buf) data = buf;
    block b;
    memset(&b, 0, sizeof b);
    block_loc loc = {r->path, "data", off};
    if (rc == LSMLOG_OK) rc = block_init(&b, data, (size_t)size, &loc);
    if (rc == LSMLOG_OK) {
        block_iter_set(d, &b, &loc);
        for (rc = block_iter_first(d); rc == LSMLOG_OK && d->valid;) rc = block_iter_next(d);
    }
    if (rc == LSMLOG_OK) {
        block_iter_set(d, &b, &loc);
        for (rc = block_iter_first(d); rc == LSMLOG_OK && d->valid;) {
            if ((rc = entry(ctx, d->key, d->klen, d->val, d->vlen))) break;
            rc = block_iter_next(d);
        }
    } else if (rc == LSMLOG_E_CORRUPT) {
        rc = bad(ctx, off, size + SST_BLOCK_TRAILER_SIZE, lsmlog_errmsg());
    }
    lm_free(buf); /* d points at nothing live now: set again before its next use */
    return rc;
}

int sst_reader_salvage(sst_reader *r, sst_entry_fn entry, sst_bad_block_fn bad, void *ctx) {
    block_iter ix, d;
    block_iter_init(&ix, r->cmp, SST_IKEY_TRAILER);
    block_iter_init(&d, r->cmp, SST_IKEY_TRAILER);
    block_loc loc = {r->path, "index", r->index_off};
    block_iter_set(&ix, &r->index, &loc);
    int rc = block_iter_first(&ix);
    while (rc == LSMLOG_OK && ix.valid) {
        uint64_t off, size;
        if ((rc = decode_handle(r, &ix, &off, &size))) break; /* checked at open: cannot fail */
        if ((rc = salvage_block(r, off, size, &d, entry, bad, ctx))) break;
        rc = block_iter_next(&ix);
    }
    block_iter_release(&ix);
    block_iter_release(&d);
    return rc;
}

/* ---- point lookups -------------------------------------------------------- */

void sst_reader_prefetch_filter(const sst_reader *r, uint64_t h) {
    if (r->has_filter) bloom_prefetch(&r->filter, h);
}

int sst_reader_get(sst_reader *r, const uint8_t *ukey, size_t ulen, uint64_t snapshot_seq,
                   int *type, uint64_t *seq, uint8_t **val, size_t *vlen) {
    return sst_reader_get_hashed(r, ukey, ulen, bloom_hash(ukey, ulen), 0, snapshot_seq, type, seq, val, vlen);
}

int sst_reader_get_hashed(sst_reader *r, const uint8_t *ukey, size_t ulen, uint64_t h, int likely,
                          uint64_t snapshot_seq, int *type, uint64_t *seq, uint8_t **val, size_t *vlen) {
    count(&r->gets);
    /* The lookup key: the user key with the trailer that sorts first among
     * its entries of seq <= snapshot, so a seek lands on the newest visible. */
    uint8_t stack[256], *lk = stack;
    size_t lklen = ulen + SST_IKEY_TRAILER;
    if (lklen > sizeof stack && !(lk = lm_malloc(lklen)))
        return st_error(LSMLOG_E_NOMEM, "out of memory reading %s", r->path);
    if (ulen) memcpy(lk, ukey, ulen);
    uint64_t snap = snapshot_seq > SST_MAX_SEQ ? SST_MAX_SEQ : snapshot_seq;
    put_u64(lk + ulen, snap << 8 | 0xff);
    /* Likely here: the data block is found and asked for before the filter
     * answers, so that its cache misses and the filter's overlap. */
    uint32_t e = 0;
    int found_e = 0;
    if (likely && r->map && r->fast.start) {
        block_loc loc = {r->path, "index", r->index_off};
        found_e = sst_index_find(&r->fast, &r->index, &loc, r->cmp, lk, lklen, &e) == LSMLOG_OK;
        if (found_e && e < r->fast.n) {
            uint64_t off, size;
            sst_index_block(&r->fast, e, SST_BLOCK_TRAILER_SIZE, &off, &size);
            __builtin_prefetch(r->map + off);        /* the first restart run */
            __builtin_prefetch(r->map + off + size); /* the restart array's end, the trailer */
        }
    }
    if (r->has_filter && !bloom_may_match_hash(&r->filter, h)) {
        if (lk != stack) lm_free(lk);
        count(&r->bloom_useful);
        return LSMLOG_NOTFOUND;
    }

    sst_iter it;
    iter_init(&it, r);
    /* (an index entry that did not decode is met again, and reported, by the seek) */
    int rc = found_e ? seek_entry(&it, e, lk, lklen) : iter_seek(&it, lk, lklen);
    if (lk != stack) lm_free(lk);
    if (rc == LSMLOG_OK) {
        rc = LSMLOG_NOTFOUND;
        const uint8_t *k = it.data.key;
        size_t klen = it.data.klen;
        if (it.valid && klen - SST_IKEY_TRAILER == ulen &&
            (ulen == 0 || memcmp(k, ukey, ulen) == 0)) {
            uint64_t t = get_u64(k + ulen);
            /* The order guarantees seq <= snapshot; checked so that a wrong
             * comparator cannot leak a newer version. */
            if ((t >> 8) <= snap) rc = LSMLOG_OK;
            if (rc == LSMLOG_OK) {
                int ty = (int)(t & 0xff);
                if (val) {
                    uint8_t *copy = NULL;
                    size_t n = it.data.vlen;
                    if (ty != SST_TYPE_DELETE) {
                        if (!(copy = lm_malloc(n)))
                            rc = st_error(LSMLOG_E_NOMEM, "out of memory reading %s", r->path);
                        else if (n)
                            memcpy(copy, it.data.val, n);
                    } else {
                        n = 0;
                    }
                    if (rc == LSMLOG_OK) {
                        *val = copy;
                        *vlen = n;
                    }
                }
                if (rc == LSMLOG_OK) {
                    if (type) *type = ty;
                    if (seq) *seq = t >> 8;
                }
            }
        }
        if (rc == LSMLOG_NOTFOUND && r->has_filter) count(&r->bloom_useless);
    }
    iter_cleanup(&it);
    return rc;
}

int sst_reader_approx_offset(sst_reader *r, const uint8_t *ikey, size_t klen, uint64_t *off) {
    if (klen < SST_IKEY_TRAILER)
        return st_error(LSMLOG_E_INVALID, "%s: a key of %zu bytes", r->path, klen);
    block_iter ix;
    block_iter_init(&ix, r->cmp, SST_IKEY_TRAILER);
    block_loc loc = {r->path, "index", r->index_off};
    block_iter_set(&ix, &r->index, &loc);
    uint64_t size;
    int rc = block_iter_seek(&ix, ikey, klen);
    if (rc == LSMLOG_OK) {
        if (ix.valid)
            rc = decode_handle(r, &ix, off, &size);
        else
            *off = r->data_end;
    }
    block_iter_release(&ix);
    return rc;
}
