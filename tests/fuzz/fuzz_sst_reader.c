/* fuzz_sst_reader.c — libFuzzer target: the sorted string table reader over
 * an arbitrary file.
 *
 * Input: the bytes of a table file. Every input runs twice: as given, and
 * with its checksums made right again (the footer's magic and CRC, the
 * trailers of the index, filter and properties blocks, and of every data
 * block the index names, found by a lenient parse of the index), so that
 * mutations reach the decoding behind the CRCs. Each run opens the table
 * mapped, without a cache, then read with pread through a block cache (its
 * capacity picked by the input: none, 4 KiB, 1 MiB; a mapped table is read
 * in place, past the cache), and reads it every way: forward and backward
 * iteration, seeks to the keys found and to keys cut from the input (with a
 * few steps either way around each), point lookups of their user keys at
 * several snapshots, approximate offsets, two iterators at once.
 *
 * It must never crash, leak, hang or hit undefined behaviour; errors are
 * fine. For a table as given (not fixed up) the reader either refuses it or
 * it is a table the library wrote and every CRC vouches for, so the answers
 * must also agree: backward is forward reversed, a seek to a key finds it, a
 * get of a user key finds it. */
#include "fuzz_util.h"

#include "block_cache.h"
#include "bloom.h"
#include "dbformat.h"
#include "env.h"
#include "sst_format.h"
#include "sst_reader.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/mman.h>

#define MAX_KEYS 64       /* keys kept from the forward scan for seeks and gets */
#define MAX_ENTRIES 200000

/* ---- checksum fix-up -------------------------------------------------------- */

static int fix_trailer(uint8_t *b, size_t n, uint64_t off, uint64_t size) {
    if (off > n || size > n - off || n - off - size < SST_BLOCK_TRAILER_SIZE) return 0;
    uint8_t *t = b + off + size;
    uint32_t crc = crc32c_mask(crc32c_extend(crc32c_value(b + off, (size_t)size), t, 1));
    return fz_put32(t + 1, crc);
}

/* The data block handles of an index block's contents, parsed leniently (any
 * malformed entry ends the walk). */
static size_t index_handles(const uint8_t *p, size_t size, uint64_t (*h)[2], size_t max) {
    if (size < 4) return 0;
    uint32_t nr = get_u32(p + size - 4);
    size_t end = nr <= (size - 4) / 4 ? size - 4 - 4 * (size_t)nr : size - 4;
    const uint8_t *q = p, *e = p + end;
    size_t k = 0;
    while (q < e && k < max) {
        uint64_t s, ns, vl, off, bs;
        if (!(q = get_varint(q, e, &s, 5)) || !(q = get_varint(q, e, &ns, 5)) ||
            !(q = get_varint(q, e, &vl, 5)) || ns > (uint64_t)(e - q) || vl > (uint64_t)(e - q) - ns)
            break;
        q += ns;
        const uint8_t *v = q, *ve = q + vl;
        q = ve;
        if (!(v = get_varint(v, ve, &off, 10)) || !(v = get_varint(v, ve, &bs, 10))) continue;
        h[k][0] = off;
        h[k][1] = bs;
        k++;
    }
    return k;
}

static int fix_table(uint8_t *b, size_t n) {
    if (n < SST_FOOTER_SIZE) return 0;
    uint8_t *f = b + n - SST_FOOTER_SIZE;
    size_t meta_end = n - SST_FOOTER_SIZE;
    int ch = fz_put64(f + SST_FOOTER_MAGIC_AT, SST_MAGIC);
    uint64_t i_off = get_u64(f), i_size = get_u64(f + 8);
    uint64_t f_off = get_u64(f + 16), f_size = get_u64(f + 24);
    uint64_t p_off = get_u64(f + 32), p_size = get_u64(f + 40);
    /* data blocks first: the index's contents are read before any trailer
     * is written, and the metadata trailers win where blocks overlap */
    static uint64_t h[4096][2];
    size_t nh = 0;
    if (i_off <= meta_end && i_size <= meta_end - i_off)
        nh = index_handles(b + i_off, (size_t)i_size, h, 4096);
    for (size_t i = 0; i < nh; i++) ch |= fix_trailer(b, meta_end, h[i][0], h[i][1]);
    if (f_size) ch |= fix_trailer(b, meta_end, f_off, f_size);
    ch |= fix_trailer(b, meta_end, p_off, p_size);
    ch |= fix_trailer(b, meta_end, i_off, i_size);
    ch |= fz_put32(f + SST_FOOTER_CRC_AT, crc32c_mask(crc32c_value(f, SST_FOOTER_CRC_AT)));
    return ch;
}

/* ---- reading ------------------------------------------------------------------ */

typedef struct key {
    uint8_t *k;
    size_t n;
} key;

typedef struct run_ctx {
    const uint8_t *in; /* the input, for keys */
    size_t size;
    uint64_t seed;
    bool strict;       /* the table as given: the answers must agree */
    key keys[MAX_KEYS];
    size_t nkeys;
    uint64_t nfwd;     /* entries forward */
    uint64_t *fh;      /* each one's hash (key and value) */
    size_t hcap;
    bool fwd_ok;       /* forward ended at the end, without an error */
} run_ctx;

static void check_status(int rc, const char *what) {
    FUZZ_CHECK(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT || rc == LSMLOG_E_IO ||
                   rc == LSMLOG_E_NOMEM || rc == LSMLOG_E_VERSION || rc == LSMLOG_NOTFOUND,
               "%s returned %d", what, rc);
}

/* The current entry: its key is an internal key, both lie in readable memory. */
static uint64_t entry_hash(sst_iter *it) {
    size_t kl, vl;
    const uint8_t *k = sst_iter_key(it, &kl), *v = sst_iter_value(it, &vl);
    FUZZ_CHECK(kl >= IKEY_TRAILER_SIZE, "a key of %zu bytes", kl);
    FUZZ_CHECK(vl <= (1u << 30), "a value of %zu bytes", vl);
    return fz_mix(fz_hash(k, kl)) ^ fz_hash(v, vl);
}

static void forward(sst_reader *r, run_ctx *c) {
    c->nfwd = 0;
    c->fwd_ok = false;
    sst_iter *it;
    if (sst_iter_new(r, &it) != LSMLOG_OK) return;
    int rc = sst_iter_first(it);
    uint64_t n = 0;
    while (rc == LSMLOG_OK && sst_iter_valid(it) && n < MAX_ENTRIES) {
        if (n == c->hcap) {
            c->hcap = c->hcap ? 2 * c->hcap : 256;
            c->fh = realloc(c->fh, c->hcap * sizeof *c->fh);
            if (!c->fh) abort();
        }
        c->fh[n] = entry_hash(it);
        if (c->nkeys < MAX_KEYS && (n < MAX_KEYS / 2 || (fz_mix(c->seed + n) & 7) == 0)) {
            size_t kl;
            const uint8_t *k = sst_iter_key(it, &kl);
            key *d = &c->keys[c->nkeys++];
            d->k = malloc(kl);
            if (!d->k) abort();
            memcpy(d->k, k, kl);
            d->n = kl;
        }
        n++;
        rc = sst_iter_next(it);
    }
    check_status(rc, "forward iteration");
    FUZZ_CHECK(rc == sst_iter_status(it), "a move returned %d, the status is %d", rc,
               sst_iter_status(it));
    c->fwd_ok = rc == LSMLOG_OK && n < MAX_ENTRIES;
    c->nfwd = n;
    sst_iter_close(it);
}

/* Backward from the last entry; for a sound table, forward reversed. */
static void backward(sst_reader *r, run_ctx *c) {
    sst_iter *it;
    if (sst_iter_new(r, &it) != LSMLOG_OK) return;
    int rc = sst_iter_last(it);
    uint64_t n = 0;
    bool cmp = c->strict && c->fwd_ok;
    while (rc == LSMLOG_OK && sst_iter_valid(it) && n < MAX_ENTRIES) {
        uint64_t h = entry_hash(it);
        if (cmp)
            FUZZ_CHECK(n < c->nfwd && h == c->fh[c->nfwd - 1 - n],
                       "backward entry %llu is not forward entry %llu", (unsigned long long)n,
                       (unsigned long long)(c->nfwd - 1 - n));
        n++;
        rc = sst_iter_prev(it);
    }
    check_status(rc, "backward iteration");
    if (cmp)
        FUZZ_CHECK(rc == LSMLOG_OK && n == c->nfwd, "backward: %d after %llu entries, forward %llu",
                   rc, (unsigned long long)n, (unsigned long long)c->nfwd);
    sst_iter_close(it);
}

/* A seek, then a few steps either way. */
static void seek_and_step(sst_iter *it, const uint8_t *k, size_t kl, uint64_t steps) {
    int rc = sst_iter_seek(it, k, kl);
    check_status(rc, "seek");
    for (uint64_t i = 0; rc == LSMLOG_OK && sst_iter_valid(it) && i < 4; i++, steps >>= 1) {
        entry_hash(it);
        rc = (steps & 1) ? sst_iter_prev(it) : sst_iter_next(it);
        check_status(rc, "step after a seek");
    }
}

/* A key cut from the input: `len` bytes at a position picked by k. */
static size_t input_key(const run_ctx *c, uint64_t k, const uint8_t **p) {
    uint64_t r = fz_mix(c->seed ^ (k * 0x9e37));
    size_t len = (size_t)(r % 40);
    if (len > c->size) len = c->size;
    size_t at = c->size > len ? (size_t)((r >> 16) % (c->size - len + 1)) : 0;
    *p = c->in + at;
    return len;
}

static void lookups(sst_reader *r, run_ctx *c) {
    sst_iter *it, *it2;
    if (sst_iter_new(r, &it) != LSMLOG_OK) return;
    if (sst_iter_new(r, &it2) != LSMLOG_OK) {
        sst_iter_close(it);
        return;
    }
    sst_iter_first(it2); /* a second iterator pins its block meanwhile */

    for (size_t i = 0; i < c->nkeys; i++) {
        const key *k = &c->keys[i];
        int rc = sst_iter_seek(it, k->k, k->n);
        check_status(rc, "seek to a key of the table");
        if (c->strict && c->fwd_ok) {
            size_t kl;
            FUZZ_CHECK(rc == LSMLOG_OK && sst_iter_valid(it), "seek to key %zu: %d, not found", i, rc);
            const uint8_t *got = sst_iter_key(it, &kl);
            FUZZ_CHECK(kl == k->n && memcmp(got, k->k, kl) == 0, "seek to key %zu landed elsewhere", i);
        }
        seek_and_step(it, k->k, k->n, fz_mix(c->seed + i));

        /* get of its user key, at the latest, at its own seq, just below */
        size_t ul = k->n - IKEY_TRAILER_SIZE;
        uint64_t seq = ikey_trailer(k->k, k->n) >> 8;
        uint64_t snaps[3] = {UINT64_MAX, seq, seq ? seq - 1 : 0};
        for (int s = 0; s < 3; s++) {
            int type = -1;
            uint64_t gseq = 0;
            uint8_t *v = NULL;
            size_t vl = 0;
            /* the latest as a DB asks its deepest table (data block before filter) */
            rc = s == 0 ? sst_reader_get_hashed(r, k->k, ul, bloom_hash(k->k, ul), 1, snaps[s], &type, &gseq, &v, &vl)
                        : sst_reader_get(r, k->k, ul, snaps[s], &type, &gseq, s == 1 ? NULL : &v, &vl);
            check_status(rc, "get");
            if (rc == LSMLOG_OK) {
                FUZZ_CHECK(gseq <= snaps[s], "get at snapshot %llu returned seq %llu",
                           (unsigned long long)snaps[s], (unsigned long long)gseq);
                if (s != 1) {
                    FUZZ_CHECK(type == 0 ? v == NULL && vl == 0 : v != NULL,
                               "get: type %d with value %p", type, (void *)v);
                    fz_hash(v, vl);
                }
            }
            if (c->strict && c->fwd_ok && s < 2) {
                FUZZ_CHECK(rc == LSMLOG_OK && gseq >= seq,
                           "get of a user key the table holds (seq %llu), snapshot %llu: %d, seq %llu",
                           (unsigned long long)seq, (unsigned long long)snaps[s], rc,
                           (unsigned long long)gseq);
            }
            lsmlog_free(v);
        }
        uint64_t off;
        if (sst_reader_approx_offset(r, k->k, k->n, &off) == LSMLOG_OK)
            FUZZ_CHECK(off <= c->size, "approx_offset %llu past the file", (unsigned long long)off);
    }

    /* keys cut from the input: as internal keys (seek) and user keys (get) */
    for (uint64_t i = 0; i < 16; i++) {
        const uint8_t *p;
        size_t n = input_key(c, i, &p);
        if (n >= IKEY_TRAILER_SIZE) {
            seek_and_step(it, p, n, fz_mix(c->seed ^ i));
            uint64_t off;
            if (sst_reader_approx_offset(r, p, n, &off) == LSMLOG_OK)
                FUZZ_CHECK(off <= c->size, "approx_offset %llu past the file", (unsigned long long)off);
        } else {
            FUZZ_CHECK(sst_iter_seek(it, p, n) == LSMLOG_E_INVALID, "seek to a %zu-byte key", n);
        }
        uint8_t *v = NULL;
        size_t vl = 0;
        int type;
        int rc = i % 2 ? sst_reader_get(r, n ? p : NULL, n, fz_mix(c->seed + i), &type, NULL, &v, &vl)
                       : sst_reader_get_hashed(r, n ? p : NULL, n, bloom_hash(n ? p : NULL, n), 1, fz_mix(c->seed + i),
                                               &type, NULL, &v, &vl);
        check_status(rc, "get");
        lsmlog_free(v);
    }
    /* a long user key (the lookup key no longer fits the stack buffer) */
    if (c->size > 300) {
        uint8_t *v = NULL;
        size_t vl = 0;
        sst_reader_get(r, c->in, 300, UINT64_MAX, NULL, NULL, &v, &vl);
        lsmlog_free(v);
    }
    if (sst_iter_valid(it2)) sst_iter_next(it2);
    sst_iter_close(it2);
    sst_iter_close(it);
}

static void *no_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    (void)addr, (void)len, (void)prot, (void)flags, (void)fd, (void)off;
    errno = ENOMEM;
    return MAP_FAILED;
}

/* Reads the table mapped when there is no cache, else with pread through
 * the cache (the mapping fails while the reader opens). */
static void read_table(const char *path, run_ctx *c, block_cache *cache) {
    sst_reader *r;
    env_ops saved = *env_get_ops(), unmapped = saved;
    unmapped.mmap = no_mmap;
    if (cache) env_set_ops(&unmapped);
    int rc = sst_reader_open(path, 7, cache, ikey_cmp, &r);
    if (cache) env_set_ops(&saved);
    check_status(rc, "open");
    if (rc) return;
    const sst_props *p = sst_reader_props(r);
    if (p->num_entries)
        FUZZ_CHECK(p->smallest_len >= IKEY_TRAILER_SIZE && p->largest_len >= IKEY_TRAILER_SIZE &&
                       p->num_deletions <= p->num_entries,
                   "the reader accepted inconsistent properties");
    FUZZ_CHECK(p->file_size == c->size, "file_size %llu of %zu bytes",
               (unsigned long long)p->file_size, c->size);
    for (size_t i = 0; i < c->nkeys; i++) free(c->keys[i].k);
    c->nkeys = 0;
    forward(r, c);
    if (c->strict && c->fwd_ok)
        FUZZ_CHECK(c->nfwd == p->num_entries, "%llu entries, the properties say %llu",
                   (unsigned long long)c->nfwd, (unsigned long long)p->num_entries);
    backward(r, c);
    lookups(r, c);
    sst_reader_stats st;
    sst_reader_get_stats(r, &st);
    sst_reader_close(r);
    if (cache) block_cache_erase_file(cache, 7);
}

static void run(const uint8_t *data, size_t size, bool strict, uint64_t seed) {
    char path[1024];
    fz_path(path, sizeof path, fz_dir(), "000007.sst");
    fz_write(path, data, size);
    run_ctx c;
    memset(&c, 0, sizeof c);
    c.in = data;
    c.size = size;
    c.seed = seed;
    c.strict = strict;
    read_table(path, &c, NULL);
    static const size_t caps[3] = {0, 4096, 1 << 20};
    block_cache *cache;
    if (block_cache_new(caps[seed % 3], &cache) == LSMLOG_OK) {
        read_table(path, &c, cache);
        block_cache_stats st;
        block_cache_get_stats(cache, &st);
        FUZZ_CHECK(st.pinned == 0, "%llu bytes still pinned after every iterator closed",
                   (unsigned long long)st.pinned);
        block_cache_free(cache);
    }
    for (size_t i = 0; i < c.nkeys; i++) free(c.keys[i].k);
    free(c.fh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint64_t seed = fz_hash(data, size);
    run(data, size, true, seed);
    uint8_t *b = malloc(size ? size : 1);
    if (!b) abort();
    if (size) memcpy(b, data, size);
    if (fix_table(b, size)) run(b, size, false, seed);
    free(b);
    return 0;
}
