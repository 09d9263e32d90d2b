/* test_sst.c — the sorted string table: blocks, the table builder and reader,
 * the two-level iterator, point lookups at snapshots, and damage.
 *
 * Every table is checked against a reference model: a sorted array of the
 * entries written. Whatever the reader returns — by iteration in either
 * direction, seek, or get at a snapshot — must be exactly the model's answer.
 * Under damage (every byte flipped, every truncation) it must instead be
 * LSMLOG_E_CORRUPT naming the file, and still never a wrong byte.
 *
 * Keys are internal keys as dbformat.h defines them, ordered by a local
 * comparator (user key bytewise, then trailer descending) so that this test
 * depends on nothing but the SST code. */
#include "alloc.h"
#include "block.h"
#include "block_builder.h"
#include "block_cache.h"
#include "bloom.h"
#include "coding.h"
#include "crc32c.h"
#include "env.h"
#include "sst_builder.h"
#include "sst_format.h"
#include "sst_index.h"
#include "sst_reader.h"
#include "test_util.h"

#include <sys/mman.h>

#include <pthread.h>

/* CHECK_OK as an expression, for loop headers. */
static void must(int rc) {
    CHECK_OK(rc);
}

/* ---- keys and the reference model ------------------------------------------ */

static int ukey_order(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    int r = n ? memcmp(a, b, n) : 0;
    if (r) return r;
    return alen < blen ? -1 : alen > blen;
}

/* The internal key order: user key ascending, then trailer (seq << 8 | type)
 * descending. */
static int tcmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    if (alen < 8 || blen < 8) { /* the reader must never pass shorter keys */
        fprintf(stderr, "tcmp: a key of %zu bytes\n", alen < blen ? alen : blen);
        abort();
    }
    int r = ukey_order(a, alen - 8, b, blen - 8);
    if (r) return r;
    uint64_t ta = get_u64(a + alen - 8), tb = get_u64(b + blen - 8);
    return ta > tb ? -1 : ta < tb;
}

static void *no_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    (void)addr, (void)len, (void)prot, (void)flags, (void)fd, (void)off;
    errno = ENOMEM;
    return MAP_FAILED;
}

/* Opens a reader as on a system where the table cannot be mapped: its
 * blocks are read with pread and go through `cache` (a mapped table's are
 * read in place and never cached). */
static int open_unmapped(const char *path, uint64_t fileno, block_cache *cache, sst_reader **r) {
    env_ops saved = *env_get_ops(), ops = saved;
    ops.mmap = no_mmap;
    env_set_ops(&ops);
    int rc = sst_reader_open(path, fileno, cache, tcmp, r);
    env_set_ops(&saved);
    return rc;
}

/* Writes user key + trailer at dst; returns the length. */
static size_t mk_ikey(uint8_t *dst, const void *uk, size_t ulen, uint64_t seq, int type) {
    if (ulen) memcpy(dst, uk, ulen);
    put_u64(dst + ulen, seq << 8 | (uint64_t)type);
    return ulen + 8;
}

typedef struct kv {
    uint8_t *k, *v;
    size_t klen, vlen;
} kv;

typedef struct model {
    kv *e;
    size_t n, cap;
} model;

static void model_add(model *m, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen) {
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
    }
    kv *e = &m->e[m->n++];
    e->k = malloc(klen);
    memcpy(e->k, k, klen);
    e->klen = klen;
    e->v = malloc(vlen ? vlen : 1);
    if (vlen) memcpy(e->v, v, vlen);
    e->vlen = vlen;
}

static int kv_cmp(const void *a, const void *b) {
    const kv *x = a, *y = b;
    return tcmp(x->k, x->klen, y->k, y->klen);
}

static void model_sort(model *m) {
    if (m->n) qsort(m->e, m->n, sizeof *m->e, kv_cmp);
}

/* Sorts and keeps one entry per internal key (the first of equals). */
static void model_sort_unique(model *m) {
    model_sort(m);
    size_t w = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (w && tcmp(m->e[w - 1].k, m->e[w - 1].klen, m->e[i].k, m->e[i].klen) == 0) {
            free(m->e[i].k);
            free(m->e[i].v);
            continue;
        }
        m->e[w++] = m->e[i];
    }
    m->n = w;
}

static void model_free(model *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].k);
        free(m->e[i].v);
    }
    free(m->e);
    memset(m, 0, sizeof *m);
}

/* Index of the first entry >= key (m->n if none). */
static size_t model_lower(const model *m, const uint8_t *k, size_t klen) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tcmp(m->e[mid].k, m->e[mid].klen, k, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t trailer_of(const kv *e) {
    return get_u64(e->k + e->klen - 8);
}

/* A random user key from a small alphabet (so that keys share prefixes and
 * hold zero and 0xff bytes); length 0..maxlen. */
static size_t rand_ukey(uint8_t *dst, size_t maxlen) {
    static const uint8_t alpha[] = {0x00, 0x01, 'a', 'b', 'c', 0x7f, 0xfe, 0xff};
    size_t len = (size_t)tu_rand_below(maxlen + 1);
    for (size_t i = 0; i < len; i++)
        dst[i] = tu_rand_below(4) ? alpha[tu_rand_below(sizeof alpha)] : (uint8_t)tu_rand();
    return len;
}

/* A model of about `nkeys` distinct user keys with 1..maxver versions each,
 * every seq distinct. Deletions have empty values; TTL puts start with an
 * 8-byte expiry. */
static void model_random(model *m, size_t nkeys, int maxver, size_t maxval, size_t ukeymax) {
    uint8_t uk[300], k[310];
    uint8_t *val = malloc(maxval + 8 + 1);
    uint64_t seq = 1;
    for (size_t i = 0; i < nkeys; i++) {
        size_t ulen = rand_ukey(uk, ukeymax);
        int nv = 1 + (int)tu_rand_below((uint64_t)maxver);
        for (int j = 0; j < nv; j++) {
            int type = (int)tu_rand_below(3);
            size_t vlen = 0;
            if (type != 0) {
                vlen = tu_rand_below(8) == 0 ? (size_t)tu_rand_below(maxval + 1)
                                             : (size_t)tu_rand_below(maxval / 8 + 1);
                if (type == 2) vlen += 8;
                tu_fill_random(&tu_rng_state, val, vlen);
            }
            size_t klen = mk_ikey(k, uk, ulen, seq += 1 + tu_rand_below(3), type);
            model_add(m, k, klen, val, vlen);
        }
    }
    free(val);
    model_sort(m);
    /* Random user keys may repeat with equal seqs only if seqs repeat, and
     * they do not; still, drop exact duplicates to be safe. */
    size_t w = 0;
    for (size_t r = 0; r < m->n; r++) {
        if (w > 0 && kv_cmp(&m->e[w - 1], &m->e[r]) == 0) {
            free(m->e[r].k);
            free(m->e[r].v);
            continue;
        }
        m->e[w++] = m->e[r];
    }
    m->n = w;
}

static void build_table(const char *path, const sst_options *o, const model *m, sst_props *props) {
    sst_builder *b = NULL;
    CHECK_OK(sst_builder_open(path, o, &b));
    for (size_t i = 0; i < m->n; i++)
        CHECK_OK(sst_builder_add(b, m->e[i].k, m->e[i].klen, m->e[i].v, m->e[i].vlen));
    CHECK_EQ_U64(sst_builder_entries(b), m->n);
    CHECK_OK(sst_builder_finish(b, 1, props));
    sst_builder_free(b);
}

static sst_options opts_small(size_t block_size, uint32_t restart) {
    sst_options o;
    sst_options_init(&o, tcmp);
    o.block_size = block_size;
    o.restart_interval = restart;
    return o;
}

static char *table_path(const char *dir, const char *name) {
    static char buf[8][400];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* ---- checks of a whole table against its model ---------------------------- */

static void check_entry(const sst_iter *it, const model *m, size_t i, const char *how) {
    CHECKF(i < m->n, "%s: iterator has an entry past the model's end", how);
    size_t klen, vlen;
    const uint8_t *k = sst_iter_key(it, &klen), *v = sst_iter_value(it, &vlen);
    CHECKF(klen == m->e[i].klen && memcmp(k, m->e[i].k, klen) == 0, "%s: key %zu differs", how, i);
    CHECKF(vlen == m->e[i].vlen && (vlen == 0 || memcmp(v, m->e[i].v, vlen) == 0),
           "%s: value %zu differs (len %zu, want %zu)", how, i, vlen, m->e[i].vlen);
}

static void check_forward(sst_reader *r, const model *m) {
    sst_iter *it;
    CHECK_OK(sst_iter_new(r, &it));
    size_t i = 0;
    for (int rc = sst_iter_first(it); sst_iter_valid(it); rc = sst_iter_next(it), i++) {
        CHECK_OK(rc);
        check_entry(it, m, i, "forward");
    }
    CHECK_OK(sst_iter_status(it));
    CHECK_EQ_U64(i, m->n);
    sst_iter_close(it);
}

static void check_backward(sst_reader *r, const model *m) {
    sst_iter *it;
    CHECK_OK(sst_iter_new(r, &it));
    size_t i = m->n;
    for (int rc = sst_iter_last(it); sst_iter_valid(it); rc = sst_iter_prev(it)) {
        CHECK_OK(rc);
        CHECK(i > 0);
        check_entry(it, m, --i, "backward");
    }
    CHECK_OK(sst_iter_status(it));
    CHECK_EQ_U64(i, 0);
    sst_iter_close(it);
}

/* Seeks to every key, to random probes, and walks randomly from there. */
static void check_seeks(sst_reader *r, const model *m, int probes) {
    sst_iter *it;
    CHECK_OK(sst_iter_new(r, &it));
    for (size_t i = 0; i < m->n; i++) {
        CHECK_OK(sst_iter_seek(it, m->e[i].k, m->e[i].klen));
        CHECK(sst_iter_valid(it));
        check_entry(it, m, i, "seek to a key");
    }
    uint8_t uk[64], k[80];
    for (int p = 0; p < probes; p++) {
        size_t klen;
        if (m->n && tu_rand_below(2)) { /* near a real key: its user key, another seq */
            const kv *e = &m->e[tu_rand_below(m->n)];
            klen = mk_ikey(k, e->k, e->klen - 8, tu_rand_below(trailer_of(e) >> 8) + 1,
                           (int)tu_rand_below(256));
        } else {
            size_t ulen = rand_ukey(uk, 12);
            klen = mk_ikey(k, uk, ulen, tu_rand_below(1u << 20), (int)tu_rand_below(3));
        }
        size_t want = model_lower(m, k, klen);
        CHECK_OK(sst_iter_seek(it, k, klen));
        if (want == m->n) {
            CHECK(!sst_iter_valid(it));
            continue;
        }
        CHECK(sst_iter_valid(it));
        check_entry(it, m, want, "seek to a probe");
        /* A random walk from here. */
        size_t pos = want;
        for (int s = 0; s < 20; s++) {
            if (tu_rand_below(2)) {
                CHECK_OK(sst_iter_next(it));
                if (++pos == m->n) {
                    CHECK(!sst_iter_valid(it));
                    break;
                }
            } else {
                CHECK_OK(sst_iter_prev(it));
                if (pos-- == 0) {
                    CHECK(!sst_iter_valid(it));
                    break;
                }
            }
            CHECK(sst_iter_valid(it));
            check_entry(it, m, pos, "random walk");
        }
    }
    sst_iter_close(it);
}

/* The model's answer to get(ukey, snap): index of the newest entry of ukey
 * with seq <= snap, or m->n. */
static size_t model_get(const model *m, const uint8_t *uk, size_t ulen, uint64_t snap) {
    uint8_t k[300];
    uint64_t s = snap > SST_MAX_SEQ ? SST_MAX_SEQ : snap;
    size_t klen = mk_ikey(k, uk, ulen, s, 0xff);
    size_t i = model_lower(m, k, klen);
    if (i < m->n && ukey_order(m->e[i].k, m->e[i].klen - 8, uk, ulen) == 0) return i;
    return m->n;
}

static void check_get(sst_reader *r, const model *m, const uint8_t *uk, size_t ulen,
                      uint64_t snap) {
    size_t want = model_get(m, uk, ulen, snap);
    int type = -1;
    uint64_t seq = 0;
    uint8_t *v = (uint8_t *)"x";
    size_t vlen = 99;
    /* half the time as a DB asks its deepest table: hashed once, the data
     * block looked up before the filter answers */
    int rc = tu_rand_below(2) ? sst_reader_get(r, uk, ulen, snap, &type, &seq, &v, &vlen)
                              : sst_reader_get_hashed(r, uk, ulen, bloom_hash(uk, ulen), 1, snap, &type, &seq, &v, &vlen);
    if (want == m->n) {
        CHECKF(rc == LSMLOG_NOTFOUND, "get at snapshot %llu: %d (%s), want NOTFOUND",
               (unsigned long long)snap, rc, tu_status_name(rc));
        return;
    }
    CHECKF(rc == LSMLOG_OK, "get at snapshot %llu: %d (%s)", (unsigned long long)snap, rc,
           tu_status_name(rc));
    const kv *e = &m->e[want];
    uint64_t t = trailer_of(e);
    CHECK_EQ_INT(type, (int)(t & 0xff));
    CHECK_EQ_U64(seq, t >> 8);
    if (type == 0) {
        CHECK(v == NULL);
        CHECK_EQ_U64(vlen, 0);
    } else {
        CHECK(v != NULL);
        CHECKF(vlen == e->vlen && (vlen == 0 || memcmp(v, e->v, vlen) == 0), "get: value differs");
    }
    lm_free(v);
}

/* Every user key at every interesting snapshot (each version's seq, one
 * below, and "latest"), plus absent keys. */
static void check_gets(sst_reader *r, const model *m, int absent) {
    for (size_t i = 0; i < m->n; i++) {
        const kv *e = &m->e[i];
        uint64_t s = trailer_of(e) >> 8;
        check_get(r, m, e->k, e->klen - 8, s);
        check_get(r, m, e->k, e->klen - 8, s - 1);
        if (i == 0 || ukey_order(e->k, e->klen - 8, m->e[i - 1].k, m->e[i - 1].klen - 8) != 0)
            check_get(r, m, e->k, e->klen - 8, UINT64_MAX);
    }
    uint8_t uk[64];
    for (int a = 0; a < absent; a++) {
        size_t ulen = rand_ukey(uk, 20);
        check_get(r, m, uk, ulen, tu_rand_below(2) ? UINT64_MAX : tu_rand_below(1u << 16));
    }
}

static void check_all(sst_reader *r, const model *m) {
    check_forward(r, m);
    check_backward(r, m);
    check_seeks(r, m, 300);
    check_gets(r, m, 300);
}

/* ---- blocks ---------------------------------------------------------------- */

/* Builds a block of n sorted random keys (bytewise) with the given restart
 * interval and checks every way of reading it. */
static void block_case(size_t n, uint32_t interval) {
    model m = {0};
    uint8_t k[40], v[40];
    for (size_t i = 0; i < n; i++) {
        size_t klen = rand_ukey(k, 30) + 8; /* >= 8 so the model's comparator applies */
        for (size_t j = klen - 8; j < klen; j++)
            k[j] = (uint8_t)tu_rand();
        size_t vlen = (size_t)tu_rand_below(sizeof v);
        tu_fill_random(&tu_rng_state, v, vlen);
        model_add(&m, k, klen, v, vlen);
    }
    model_sort(&m);
    size_t w = 0; /* drop duplicate keys */
    for (size_t r = 0; r < m.n; r++) {
        if (w > 0 && kv_cmp(&m.e[w - 1], &m.e[r]) == 0) {
            free(m.e[r].k);
            free(m.e[r].v);
            continue;
        }
        m.e[w++] = m.e[r];
    }
    m.n = w;

    block_builder bb;
    block_builder_init(&bb, interval);
    for (size_t i = 0; i < m.n; i++)
        CHECK_OK(block_builder_add(&bb, m.e[i].k, m.e[i].klen, m.e[i].v, m.e[i].vlen));
    size_t est = block_builder_size(&bb);
    const uint8_t *data;
    size_t len;
    CHECK_OK(block_builder_finish(&bb, &data, &len));
    CHECK_EQ_U64(len, est);
    block b;
    block_loc loc = {"test", "data", 0};
    CHECK_OK(block_init(&b, data, len, &loc));
    CHECK_EQ_U64(b.nrestarts, (m.n + interval - 1) / interval);

    block_iter it;
    block_iter_init(&it, tcmp, 8);
    block_iter_set(&it, &b, &loc);
    size_t i = 0;
    for (must(block_iter_first(&it)); it.valid; must(block_iter_next(&it)), i++) {
        CHECK(i < m.n);
        CHECK(it.klen == m.e[i].klen && memcmp(it.key, m.e[i].k, it.klen) == 0);
        CHECK(it.vlen == m.e[i].vlen && (it.vlen == 0 || memcmp(it.val, m.e[i].v, it.vlen) == 0));
    }
    CHECK_EQ_U64(i, m.n);
    for (must(block_iter_last(&it)); it.valid; must(block_iter_prev(&it))) {
        CHECK(i > 0);
        i--;
        CHECK(it.klen == m.e[i].klen && memcmp(it.key, m.e[i].k, it.klen) == 0);
    }
    CHECK_EQ_U64(i, 0);
    for (size_t j = 0; j < m.n; j++) {
        CHECK_OK(block_iter_seek(&it, m.e[j].k, m.e[j].klen));
        CHECK(it.valid && it.klen == m.e[j].klen && memcmp(it.key, m.e[j].k, it.klen) == 0);
        /* Just after key j: lands on j+1. */
        uint8_t p[48];
        memcpy(p, m.e[j].k, m.e[j].klen);
        uint64_t t = get_u64(p + m.e[j].klen - 8);
        if (t == 0) continue;
        put_u64(p + m.e[j].klen - 8, t - 1);
        CHECK_OK(block_iter_seek(&it, p, m.e[j].klen));
        if (j + 1 == m.n) {
            CHECK(!it.valid);
        } else {
            CHECK(it.valid && it.klen == m.e[j + 1].klen &&
                  memcmp(it.key, m.e[j + 1].k, it.klen) == 0);
        }
    }
    block_iter_release(&it);
    block_builder_release(&bb);
    model_free(&m);
}

static void block_roundtrip(void) {
    size_t sizes[] = {0, 1, 2, 15, 16, 17, 100, 1000};
    uint32_t intervals[] = {1, 2, 3, 16, 1000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t i = 0; i < sizeof intervals / sizeof intervals[0]; i++)
            block_case(sizes[s], intervals[i]);

    /* Reuse after reset gives the same bytes. */
    block_builder bb;
    block_builder_init(&bb, 4);
    const uint8_t *d1, *d2;
    size_t l1, l2;
    uint8_t k[16];
    for (int round = 0; round < 2; round++) {
        block_builder_reset(&bb);
        for (int i = 0; i < 50; i++) {
            size_t kl = mk_ikey(k, "key", 3, 1000 - (uint64_t)i, 1);
            CHECK_OK(block_builder_add(&bb, k, kl, (const uint8_t *)"v", 1));
        }
        CHECK_OK(block_builder_finish(&bb, round ? &d2 : &d1, round ? &l2 : &l1));
        if (round == 0) {
            uint8_t *copy = malloc(l1);
            memcpy(copy, d1, l1);
            d1 = copy;
        }
    }
    CHECK(l1 == l2 && memcmp(d1, d2, l1) == 0);
    free((void *)d1);
    block_builder_release(&bb);
}

/* Runs every operation over a (possibly damaged) block: each must end in
 * LSMLOG_OK or LSMLOG_E_CORRUPT, never read outside the block (ASan). */
static void exercise_block(const uint8_t *data, size_t len, const model *probe) {
    block b;
    block_loc loc = {"fuzz", "data", 0};
    /* A copy of exactly len bytes, so that ASan sees any read past it. */
    uint8_t *buf = malloc(len ? len : 1);
    memcpy(buf, data, len);
    int rc = block_init(&b, buf, len, &loc);
    if (rc) {
        CHECK_EQ_INT(rc, LSMLOG_E_CORRUPT);
        free(buf);
        return;
    }
    block_iter it;
    block_iter_init(&it, tcmp, 8);
    block_iter_set(&it, &b, &loc);
    int steps = 0;
    for (rc = block_iter_first(&it); rc == 0 && it.valid && steps < 10000; steps++)
        rc = block_iter_next(&it);
    CHECK(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT);
    block_iter_set(&it, &b, &loc);
    for (rc = block_iter_last(&it), steps = 0; rc == 0 && it.valid && steps < 10000; steps++)
        rc = block_iter_prev(&it);
    CHECK(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT);
    for (size_t i = 0; i < probe->n; i += 3) {
        block_iter_set(&it, &b, &loc);
        rc = block_iter_seek(&it, probe->e[i].k, probe->e[i].klen);
        CHECK(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT);
        if (rc == 0 && it.valid) {
            rc = block_iter_prev(&it);
            CHECK(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT);
        }
    }
    block_iter_release(&it);
    free(buf);
}

/* Damage that the CRC would catch, fed to the block layer directly: every
 * byte flipped three ways, every truncation, random multi-byte damage. */
static void block_damage(void) {
    model m = {0};
    uint8_t k[40];
    for (int i = 0; i < 60; i++) {
        size_t kl = mk_ikey(k, "user_key_long", 4 + (size_t)(i / 10), 1000 - (uint64_t)i, 1);
        memset(k, 'a' + i % 7, 2);
        model_add(&m, k, kl, k, (size_t)i % 9);
    }
    model_sort(&m);
    block_builder bb;
    block_builder_init(&bb, 4);
    for (size_t i = 0; i < m.n; i++)
        if (i == 0 || kv_cmp(&m.e[i - 1], &m.e[i]) != 0)
            CHECK_OK(block_builder_add(&bb, m.e[i].k, m.e[i].klen, m.e[i].v, m.e[i].vlen));
    const uint8_t *data;
    size_t len;
    CHECK_OK(block_builder_finish(&bb, &data, &len));
    uint8_t *img = malloc(len);
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t mi = 0; mi < sizeof masks; mi++) {
            memcpy(img, data, len);
            img[pos] ^= masks[mi];
            exercise_block(img, len, &m);
        }
    }
    for (size_t cut = 0; cut < len; cut++)
        exercise_block(data, cut, &m);
    for (int r = 0; r < 3000; r++) {
        memcpy(img, data, len);
        int nflip = 1 + (int)tu_rand_below(6);
        for (int f = 0; f < nflip; f++)
            img[tu_rand_below(len)] = (uint8_t)tu_rand();
        exercise_block(img, len, &m);
    }
    /* Hand-made damage with precise expectations. */
    uint8_t tiny[4] = {1, 0, 0, 0}; /* one restart, but no room for it */
    block b;
    block_loc loc = {"hand", "data", 7};
    CHECK_EQ_INT(block_init(&b, tiny, 4, &loc), LSMLOG_E_CORRUPT);
    CHECK(strstr(lsmlog_errmsg(), "hand") && strstr(lsmlog_errmsg(), "byte 7"));
    uint8_t no_restart[8] = {0, 1, 0, 0, 0, 0, 0, 0}; /* entries, zero restarts */
    CHECK_EQ_INT(block_init(&b, no_restart, 8, &loc), LSMLOG_E_CORRUPT);
    CHECK_EQ_INT(block_init(&b, tiny, 3, &loc), LSMLOG_E_CORRUPT);
    free(img);
    block_builder_release(&bb);
    model_free(&m);
}

/* ---- tables ---------------------------------------------------------------- */

static void table_roundtrip(void) {
    const char *dir = tu_mkdtemp();
    struct {
        size_t nkeys, block;
        uint32_t restart;
        int maxver, bloom;
        size_t maxval;
    } cfg[] = {
        {3000, SST_BLOCK_SIZE, SST_RESTART_INTERVAL, 3, 10, 200},
        {2000, 256, 4, 6, 10, 100}, /* many small blocks; versions straddle blocks */
        {500, 64, 1, 8, 0, 40},     /* a block per entry or two; no filter */
        {1500, 1 << 16, 16, 2, 3, 400},
    };
    block_cache *cache;
    CHECK_OK(block_cache_new(64 * 1024, &cache));
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        model m = {0};
        model_random(&m, cfg[c].nkeys, cfg[c].maxver, cfg[c].maxval, 16);
        sst_options o = opts_small(cfg[c].block, cfg[c].restart);
        o.bloom_bits = cfg[c].bloom;
        char *path = table_path(dir, "t.sst");
        sst_props props;
        build_table(path, &o, &m, &props);
        CHECK_EQ_U64(props.num_entries, m.n);
        CHECK_EQ_U64(props.file_size, (uint64_t)tu_file_size(path));
        /* mapped without a cache; mapped with one, which it leaves alone;
         * read with pread through the cache */
        for (int mode = 0; mode < 3; mode++) {
            sst_reader *r;
            block_cache_stats before, after;
            block_cache_get_stats(cache, &before);
            if (mode < 2)
                CHECK_OK(sst_reader_open(path, 100 + c, mode ? cache : NULL, tcmp, &r));
            else
                CHECK_OK(open_unmapped(path, 100 + c, cache, &r));
            const sst_props *rp = sst_reader_props(r);
            CHECK_EQ_U64(rp->num_entries, m.n);
            CHECK_EQ_U64(rp->num_data_blocks, props.num_data_blocks);
            CHECK_EQ_U64(rp->created_ms, props.created_ms);
            check_all(r, &m);
            sst_reader_stats st;
            sst_reader_get_stats(r, &st);
            CHECK(st.gets > 0 && st.block_reads > 0);
            if (cfg[c].bloom == 0) CHECK_EQ_U64(st.bloom_useful + st.bloom_useless, 0);
            sst_reader_close(r);
            block_cache_get_stats(cache, &after);
            if (mode < 2) /* a mapped table's blocks are read in place */
                CHECK(after.hits == before.hits && after.misses == before.misses &&
                      after.inserts == before.inserts);
            else
                CHECK(after.misses > before.misses && after.inserts > before.inserts);
        }
        block_cache_erase_file(cache, 100 + c);
        sst_props_clear(&props);
        model_free(&m);
    }
    block_cache_stats cs;
    block_cache_get_stats(cache, &cs);
    CHECK(cs.hits > 0 && cs.misses > 0);
    CHECK_EQ_U64(cs.entries, 0); /* every file erased */
    block_cache_free(cache);
}

/* An iterator that bypasses the cache (a compaction's) reads right, both
 * ways, with blocks of every size up to the last, and leaves the cache as it
 * was: no lookup, no insert. */
static void uncached_scan(void) {
    const char *dir = tu_mkdtemp();
    model m = {0};
    model_random(&m, 2000, 3, 300, 16);
    sst_options o = opts_small(512, 4);
    char *path = table_path(dir, "u.sst");
    build_table(path, &o, &m, NULL);
    block_cache *cache;
    CHECK_OK(block_cache_new(1 << 20, &cache));
    sst_reader *r;
    CHECK_OK(open_unmapped(path, 1, cache, &r)); /* else no block would be cached */
    sst_iter *it;
    CHECK_OK(sst_iter_new(r, &it));
    sst_iter_bypass_cache(it);
    size_t i = 0;
    for (int rc = sst_iter_first(it); sst_iter_valid(it); rc = sst_iter_next(it), i++) {
        CHECK_OK(rc);
        check_entry(it, &m, i, "uncached forward");
    }
    CHECK_OK(sst_iter_status(it));
    CHECK_EQ_U64(i, m.n);
    for (int rc = sst_iter_last(it); sst_iter_valid(it); rc = sst_iter_prev(it)) {
        CHECK_OK(rc);
        CHECK(i > 0);
        check_entry(it, &m, --i, "uncached backward");
    }
    CHECK_EQ_U64(i, 0);
    sst_iter_close(it);
    block_cache_stats cs;
    block_cache_get_stats(cache, &cs);
    CHECK_EQ_U64(cs.hits + cs.misses + cs.inserts, 0);
    check_forward(r, &m); /* a cached iterator still fills it */
    block_cache_get_stats(cache, &cs);
    CHECK(cs.inserts > 0);
    sst_reader_close(r);
    block_cache_free(cache);
    model_free(&m);
}

/* Many versions of one user key, across blocks, and gets at each snapshot. */
static void versions_and_snapshots(void) {
    const char *dir = tu_mkdtemp();
    model m = {0};
    uint8_t k[64];
    /* "key": seq 10 put, 20 delete, 30 put, 40 TTL put; then 200 versions of
     * "many" so that they span several tiny blocks. */
    uint8_t ttl[12];
    put_i64(ttl, 1700000000000);
    memcpy(ttl + 8, "abcd", 4);
    model_add(&m, k, mk_ikey(k, "key", 3, 10, 1), (const uint8_t *)"ten", 3);
    model_add(&m, k, mk_ikey(k, "key", 3, 20, 0), NULL, 0);
    model_add(&m, k, mk_ikey(k, "key", 3, 30, 1), (const uint8_t *)"thirty", 6);
    model_add(&m, k, mk_ikey(k, "key", 3, 40, 2), ttl, sizeof ttl);
    for (uint64_t s = 100; s < 300; s++) {
        char v[16];
        int n = snprintf(v, sizeof v, "v%llu", (unsigned long long)s);
        model_add(&m, k, mk_ikey(k, "many", 4, s, 1), (const uint8_t *)v, (size_t)n);
    }
    model_add(&m, k, mk_ikey(k, "a", 1, 5, 1), (const uint8_t *)"A", 1);
    model_add(&m, k, mk_ikey(k, "z", 1, 5, 1), (const uint8_t *)"Z", 1);
    model_sort(&m);
    sst_options o = opts_small(128, 2);
    char *path = table_path(dir, "v.sst");
    sst_props props;
    build_table(path, &o, &m, &props);
    CHECK_EQ_U64(props.num_deletions, 1);
    CHECK_EQ_U64(props.smallest_seq, 5);
    CHECK_EQ_U64(props.largest_seq, 299);
    CHECK(props.num_data_blocks > 10);
    sst_reader *r;
    CHECK_OK(sst_reader_open(path, 1, NULL, tcmp, &r));
    const uint8_t *key = (const uint8_t *)"key";
    for (uint64_t snap = 0; snap < 50; snap++)
        check_get(r, &m, key, 3, snap);
    int type;
    uint64_t seq;
    uint8_t *v;
    size_t vlen;
    CHECK_EQ_INT(sst_reader_get(r, key, 3, 9, &type, &seq, &v, &vlen), LSMLOG_NOTFOUND);
    CHECK_OK(sst_reader_get(r, key, 3, 25, &type, &seq, &v, &vlen));
    CHECK(type == 0 && seq == 20 && v == NULL && vlen == 0);
    CHECK_OK(sst_reader_get(r, key, 3, 39, &type, &seq, &v, &vlen));
    CHECK(type == 1 && seq == 30 && vlen == 6 && memcmp(v, "thirty", 6) == 0);
    lm_free(v);
    CHECK_OK(sst_reader_get(r, key, 3, UINT64_MAX, &type, &seq, &v, &vlen));
    CHECK(type == 2 && seq == 40 && vlen == 12 && get_i64(v) == 1700000000000);
    lm_free(v);
    /* Without a value copy. */
    CHECK_OK(sst_reader_get(r, key, 3, 15, &type, NULL, NULL, NULL));
    CHECK_EQ_INT(type, 1);
    for (uint64_t snap = 90; snap < 310; snap++)
        check_get(r, &m, (const uint8_t *)"many", 4, snap);
    check_all(r, &m);
    sst_reader_close(r);
    sst_props_clear(&props);
    model_free(&m);
}

/* Empty user keys and values, zero bytes, 0xff runs, and a 1 MiB value. */
static void edge_keys_values(void) {
    const char *dir = tu_mkdtemp();
    model m = {0};
    uint8_t k[64];
    static const uint8_t zeros[8] = {0};
    static const uint8_t ffs[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    size_t big = 1u << 20;
    uint8_t *bigv = malloc(big);
    uint64_t st = tu_seed;
    tu_fill_random(&st, bigv, big);
    model_add(&m, k, mk_ikey(k, "", 0, 7, 1), (const uint8_t *)"empty key", 9);
    model_add(&m, k, mk_ikey(k, "", 0, 3, 1), NULL, 0);
    model_add(&m, k, mk_ikey(k, zeros, 1, 7, 1), NULL, 0);
    model_add(&m, k, mk_ikey(k, zeros, 2, 7, 1), (const uint8_t *)"\0\0", 2);
    model_add(&m, k, mk_ikey(k, zeros, 8, 7, 1), (const uint8_t *)"eight zeros", 11);
    model_add(&m, k, mk_ikey(k, "a\0b", 3, 7, 1), (const uint8_t *)"a0b", 3);
    model_add(&m, k, mk_ikey(k, "big", 3, 9, 1), bigv, big);
    model_add(&m, k, mk_ikey(k, "big2", 4, 9, 1), bigv + 1, big - 1);
    model_add(&m, k, mk_ikey(k, ffs, 3, 7, 1), (const uint8_t *)"ff", 2);
    model_add(&m, k, mk_ikey(k, ffs, 8, 7, 0), NULL, 0);
    model_sort(&m);
    for (int cached = 0; cached < 2; cached++) {
        sst_options o;
        sst_options_init(&o, tcmp);
        char *path = table_path(dir, "e.sst");
        build_table(path, &o, &m, NULL);
        block_cache *cache = NULL;
        if (cached) CHECK_OK(block_cache_new(1 << 16, &cache)); /* smaller than the big block */
        sst_reader *r;
        CHECK_OK(cached ? open_unmapped(path, 9, cache, &r) : sst_reader_open(path, 9, NULL, tcmp, &r));
        check_all(r, &m);
        uint8_t *v;
        size_t vlen;
        int type;
        CHECK_OK(sst_reader_get(r, (const uint8_t *)"big", 3, UINT64_MAX, &type, NULL, &v, &vlen));
        CHECK(vlen == big && memcmp(v, bigv, big) == 0);
        lm_free(v);
        CHECK_OK(sst_reader_get(r, (const uint8_t *)"", 0, 5, &type, NULL, &v, &vlen));
        CHECK(type == 1 && vlen == 0 && v != NULL); /* an empty value is still a buffer */
        lm_free(v);
        sst_reader_close(r);
        if (cache) {
            block_cache_stats cs;
            block_cache_get_stats(cache, &cs);
            CHECK(cs.usage <= cs.capacity);
            CHECK_EQ_U64(cs.pinned, 0);
        }
        block_cache_free(cache);
    }
    free(bigv);
    model_free(&m);
}

/* ---- the flat index (sst_index.h) ----------------------------------------- */

/* A user key: `prefix`, then up to 12 bytes from an alphabet of four, so
 * that keys often tie in the 8 bytes the flat index keeps, run shorter than
 * them, or end in zero bytes that its padding could confuse. */
static size_t prefixed_ukey(uint8_t *dst, const uint8_t *prefix, size_t plen) {
    static const uint8_t alpha[] = {0x00, 0x01, 'a', 0xff};
    memcpy(dst, prefix, plen);
    size_t len = plen + (size_t)tu_rand_below(13);
    for (size_t i = plen; i < len; i++) dst[i] = alpha[tu_rand_below(sizeof alpha)];
    return len;
}

/* sst_index_find agrees with the index block's own seek, over index blocks
 * of random separators sharing a random prefix, for targets of every kind:
 * each separator at other seqs, random prefixed keys, keys that stop inside
 * the prefix or leave it above or below. Block positions agree with the
 * handles. */
static void flat_index_search(void) {
    for (int round = 0; round < 300; round++) {
        uint8_t prefix[12];
        size_t plen = (size_t)tu_rand_below(sizeof prefix + 1);
        for (size_t i = 0; i < plen; i++) prefix[i] = (uint8_t)"a\0\xff\x01"[tu_rand_below(4)];
        model m = {0};
        uint8_t uk[32], k[48];
        size_t n = 1 + (size_t)tu_rand_below(round % 10 == 0 ? 400 : 40);
        for (size_t i = 0; i < n; i++) {
            size_t ulen = prefixed_ukey(uk, prefix, plen);
            model_add(&m, k, mk_ikey(k, uk, ulen, 1 + tu_rand_below(1000), (int)tu_rand_below(3)), NULL, 0);
        }
        model_sort_unique(&m); /* separators are distinct internal keys */
        /* often a last separator past the prefix, as the builder's short
         * successor of a table's last key is ("1" after "0999..."): the
         * prefix must still be found */
        size_t succ = plen;
        while (succ > 0 && prefix[succ - 1] == 0xff) succ--;
        if (succ > 0 && tu_rand_below(2)) {
            memcpy(uk, prefix, succ);
            uk[succ - 1]++;
            model_add(&m, k, mk_ikey(k, uk, succ, 1, 1), NULL, 0);
        }
        /* the index block: every entry a restart, handles laid end to end */
        block_builder bb;
        block_builder_init(&bb, 1);
        uint64_t off = 0;
        uint64_t *offs = malloc((m.n + 1) * sizeof *offs);
        for (size_t i = 0; i < m.n; i++) {
            uint8_t h[20], *e = put_varint(h, off);
            uint64_t size = 1 + tu_rand_below(5000);
            e = put_varint(e, size);
            offs[i] = off;
            CHECK_OK(block_builder_add(&bb, m.e[i].k, m.e[i].klen, h, (size_t)(e - h)));
            off += size + SST_BLOCK_TRAILER_SIZE;
        }
        const uint8_t *data;
        size_t len;
        CHECK_OK(block_builder_finish(&bb, &data, &len));
        block_loc loc = {"ix", "index", 0};
        block b;
        CHECK_OK(block_init(&b, data, len, &loc));
        sst_index x;
        CHECK_OK(sst_index_build(&x, &b, &loc, off, SST_BLOCK_TRAILER_SIZE));
        CHECK_EQ_U64(x.n, m.n);
        CHECKF(x.clen >= plen, "round %d: a prefix of %zu bytes found, %zu shared", round, x.clen, plen);
        for (uint32_t i = 0; i < x.n; i++) {
            uint64_t bo, bs;
            sst_index_block(&x, i, SST_BLOCK_TRAILER_SIZE, &bo, &bs);
            CHECK_EQ_U64(bo, offs[i]);
            CHECK_EQ_U64(bo + bs + SST_BLOCK_TRAILER_SIZE, i + 1 < x.n ? offs[i + 1] : off);
        }
        block_iter it;
        block_iter_init(&it, tcmp, 8);
        block_iter_set(&it, &b, &loc);
        for (int p = 0; p < 200; p++) {
            size_t klen, ulen;
            int kind = (int)tu_rand_below(4);
            if (kind == 0) { /* a separator's user key at another seq */
                const kv *e = &m.e[tu_rand_below(m.n)];
                ulen = e->klen - 8;
                memcpy(uk, e->k, ulen);
            } else if (kind == 1) {
                ulen = prefixed_ukey(uk, prefix, plen);
            } else if (kind == 2) { /* cut inside the prefix */
                ulen = plen ? (size_t)tu_rand_below(plen) : 0;
                memcpy(uk, prefix, ulen);
            } else { /* the prefix changed at one byte */
                ulen = prefixed_ukey(uk, prefix, plen);
                if (plen) uk[tu_rand_below(plen)] ^= (uint8_t)(1 + tu_rand_below(255));
            }
            klen = mk_ikey(k, uk, ulen, tu_rand_below(1001), (int)tu_rand_below(256));
            CHECK_OK(block_iter_seek(&it, k, klen));
            uint32_t want = it.valid ? it.ridx : (uint32_t)m.n, got;
            CHECK_OK(sst_index_find(&x, &b, &loc, tcmp, k, klen, &got));
            CHECKF(got == want, "round %d, target kind %d: entry %u, the block's seek says %u", round, kind, got,
                   want);
        }
        block_iter_release(&it);
        sst_index_free(&x);
        CHECK(x.key8 == NULL && x.start == NULL && x.n == 0);
        block_builder_release(&bb);
        free(offs);
        model_free(&m);
    }
}

/* An index whose order is not bytewise over user keys (here descending) is
 * refused, and the array left empty: the reader then searches the block. A
 * table past 4 GiB keeps the keys but not the block positions. */
static void flat_index_refusals(void) {
    block_builder bb;
    block_builder_init(&bb, 1);
    uint8_t k[16], h[20];
    const char *keys[] = {"zz", "yy", "xa"};
    for (int i = 0; i < 3; i++) {
        uint8_t *e = put_varint(h, (uint64_t)i * 105);
        e = put_varint(e, 100);
        CHECK_OK(block_builder_add(&bb, k, mk_ikey(k, keys[i], 2, 1, 1), h, (size_t)(e - h)));
    }
    const uint8_t *data;
    size_t len;
    CHECK_OK(block_builder_finish(&bb, &data, &len));
    block_loc loc = {"ix", "index", 0};
    block b;
    CHECK_OK(block_init(&b, data, len, &loc));
    sst_index x;
    CHECK_EQ_INT(sst_index_build(&x, &b, &loc, 315, SST_BLOCK_TRAILER_SIZE), LSMLOG_E_INVALID);
    CHECK(x.key8 == NULL && x.start == NULL && x.common == NULL);
    block_builder_reset(&bb);
    for (int i = 2; i >= 0; i--) {
        uint8_t *e = put_varint(h, (uint64_t)(2 - i) * 105);
        e = put_varint(e, 100);
        CHECK_OK(block_builder_add(&bb, k, mk_ikey(k, keys[i], 2, 1, 1), h, (size_t)(e - h)));
    }
    CHECK_OK(block_builder_finish(&bb, &data, &len));
    CHECK_OK(block_init(&b, data, len, &loc));
    CHECK_OK(sst_index_build(&x, &b, &loc, (uint64_t)UINT32_MAX + 1, SST_BLOCK_TRAILER_SIZE));
    CHECK(x.key8 != NULL && x.start == NULL && x.n == 3);
    uint32_t got;
    CHECK_OK(sst_index_find(&x, &b, &loc, tcmp, k, mk_ikey(k, "y", 1, 1, 1), &got));
    CHECK_EQ_U64(got, 1);
    sst_index_free(&x);
    /* handles that do not follow each other (a gap after the first block)
     * are damage: the sizes derived from the offsets would be wrong */
    block_builder_reset(&bb);
    for (int i = 2; i >= 0; i--) {
        uint8_t *e = put_varint(h, (uint64_t)(2 - i) * 105 + (i < 2 ? 10 : 0));
        e = put_varint(e, 100);
        CHECK_OK(block_builder_add(&bb, k, mk_ikey(k, keys[i], 2, 1, 1), h, (size_t)(e - h)));
    }
    CHECK_OK(block_builder_finish(&bb, &data, &len));
    CHECK_OK(block_init(&b, data, len, &loc));
    CHECK_EQ_INT(sst_index_build(&x, &b, &loc, 325, SST_BLOCK_TRAILER_SIZE), LSMLOG_E_CORRUPT);
    CHECK(x.key8 == NULL && x.start == NULL);
    block_builder_release(&bb);
}

/* A table whose CRCs are all right but whose index has one restart point
 * more than entries, inside the last entry's key, where the bytes decode as
 * an entry "d" with a handle past the data (found by a review: the flat
 * index, which decodes restarts, derived a block of ~4 GiB from it). Open
 * refuses it, mapped or not. */
static const char inner_restart_hex[] =
    "000a016131010a00000000000076000000000100000000b567b133000a016132"
    "010b000000000000760000000001000000002f49a410000a016231010c000000"
    "00000076000000000100000000102f4a81000a016232010d0000000000007600"
    "00000001000000008a514bc404000428040a0d15a8e40da20100000a6131010a"
    "0000000000000a6232010d0000000000000030b985f6000a026131010a000000"
    "0000000016000a026132010b0000000000001b16000a026231010c0000000000"
    "003616001702630009026401010000000000005200ffffffffffffff00511600"
    "0000000f0000001e0000002d000000310000000500000000f893ea1896000000"
    "000000006100000000000000000000000000000000000000000000006c000000"
    "0000000025000000000000000200000000d9d0b56c736d6c6f675354";

static void flat_index_inner_restart(void) {
    const char *dir = tu_mkdtemp();
    size_t len = strlen(inner_restart_hex) / 2;
    uint8_t *img = malloc(len);
    for (size_t i = 0; i < len; i++) {
        unsigned byte;
        CHECK(sscanf(inner_restart_hex + 2 * i, "%2x", &byte) == 1);
        img[i] = (uint8_t)byte;
    }
    char *path = table_path(dir, "000007.sst");
    CHECK(tu_write_file(path, img, len) == 0);
    block_cache *cache;
    CHECK_OK(block_cache_new(1 << 20, &cache));
    for (int mapped = 0; mapped < 2; mapped++) {
        sst_reader *r = NULL;
        int rc = mapped ? sst_reader_open(path, 7, NULL, tcmp, &r) : open_unmapped(path, 7, cache, &r);
        CHECKF(rc == LSMLOG_E_CORRUPT, "open: %d (%s)", rc, tu_status_name(rc));
        CHECK(strstr(lsmlog_errmsg(), "restart") != NULL);
        if (rc == LSMLOG_OK) sst_reader_close(r);
    }
    block_cache_free(cache);
    free(img);
}

/* A table whose keys share a long prefix and tie in the next 8 bytes, in
 * blocks of one to a few entries: seeks land through the flat index and walk
 * on from there both ways (the index entry is found only when a walk leaves
 * the block), gets find every version. */
static void flat_index_table(void) {
    const char *dir = tu_mkdtemp();
    static const uint8_t prefix[] = "sensor/0000000000/";
    size_t plen = sizeof prefix - 1;
    model m = {0};
    uint8_t uk[64], k[80];
    uint64_t seq = 1;
    for (int i = 0; i < 1500; i++) {
        size_t ulen = prefixed_ukey(uk, prefix, plen);
        for (int v = 0; v < 1 + (int)tu_rand_below(3); v++)
            model_add(&m, k, mk_ikey(k, uk, ulen, seq++, 1), uk, ulen);
    }
    model_sort_unique(&m);
    uint32_t blocks[] = {64, 256};
    for (int c = 0; c < 2; c++) {
        sst_options o = opts_small(blocks[c], 2);
        char *path = table_path(dir, "f.sst");
        build_table(path, &o, &m, NULL);
        sst_reader *r;
        CHECK_OK(sst_reader_open(path, 1, NULL, tcmp, &r));
        check_all(r, &m);
        sst_iter *it;
        CHECK_OK(sst_iter_new(r, &it));
        for (int p = 0; p < 2000; p++) {
            size_t ulen = prefixed_ukey(uk, prefix, plen);
            size_t klen = mk_ikey(k, uk, ulen, tu_rand_below(seq + 1), 1);
            size_t want = model_lower(&m, k, klen);
            CHECK_OK(sst_iter_seek(it, k, klen));
            if (want == m.n) {
                CHECK(!sst_iter_valid(it));
                continue;
            }
            check_entry(it, &m, want, "prefixed seek");
            int back = (int)tu_rand_below(2);
            size_t pos = want;
            for (int s = 0; s < 6; s++) {
                CHECK_OK(back ? sst_iter_prev(it) : sst_iter_next(it));
                if (back ? pos-- == 0 : ++pos == m.n) {
                    CHECK(!sst_iter_valid(it));
                    break;
                }
                check_entry(it, &m, pos, back ? "back from a prefixed seek" : "on from a prefixed seek");
            }
        }
        sst_iter_close(it);
        sst_reader_close(r);
    }
    model_free(&m);
}

static void empty_table(void) {
    const char *dir = tu_mkdtemp();
    model m = {0};
    for (int bloom = 0; bloom <= 10; bloom += 10) {
        sst_options o;
        sst_options_init(&o, tcmp);
        o.bloom_bits = bloom;
        char *path = table_path(dir, "empty.sst");
        sst_props props;
        build_table(path, &o, &m, &props);
        CHECK_EQ_U64(props.num_entries, 0);
        CHECK(props.smallest_key == NULL && props.largest_key == NULL);
        sst_reader *r;
        CHECK_OK(sst_reader_open(path, 1, NULL, tcmp, &r));
        check_all(r, &m);
        uint64_t off = 99;
        uint8_t k[16];
        CHECK_OK(sst_reader_approx_offset(r, k, mk_ikey(k, "x", 1, 1, 1), &off));
        CHECK_EQ_U64(off, 0);
        sst_reader_close(r);
        sst_props_clear(&props);
    }
}

/* Misuse is refused and leaves the builder usable. */
static void builder_misuse(void) {
    const char *dir = tu_mkdtemp();
    char *path = table_path(dir, "m.sst");
    sst_options o;
    sst_options_init(&o, tcmp);
    sst_builder *b;
    sst_options bad = o;
    bad.cmp = NULL;
    CHECK_EQ_INT(sst_builder_open(path, &bad, &b), LSMLOG_E_INVALID);
    bad = o;
    bad.bloom_bits = -1;
    CHECK_EQ_INT(sst_builder_open(path, &bad, &b), LSMLOG_E_INVALID);
    CHECK_EQ_INT(sst_builder_open("/nonexistent/dir/x.sst", &o, &b), LSMLOG_E_NOENT);

    CHECK_OK(sst_builder_open(path, &o, &b));
    uint8_t k[32];
    CHECK_OK(sst_builder_add(b, k, mk_ikey(k, "b", 1, 5, 1), (const uint8_t *)"1", 1));
    CHECK_EQ_INT(sst_builder_add(b, k, mk_ikey(k, "a", 1, 5, 1), NULL, 0), LSMLOG_E_INVALID);
    CHECK(strstr(lsmlog_errmsg(), path) != NULL);
    CHECK_EQ_INT(sst_builder_add(b, k, mk_ikey(k, "b", 1, 5, 1), NULL, 0), LSMLOG_E_INVALID);
    CHECK_EQ_INT(sst_builder_add(b, k, mk_ikey(k, "b", 1, 6, 1), NULL, 0), LSMLOG_E_INVALID);
    CHECK_EQ_INT(sst_builder_add(b, k, 7, NULL, 0), LSMLOG_E_INVALID);
    CHECK_EQ_INT(sst_builder_add(b, k, mk_ikey(k, "c", 1, 5, 1), NULL, SST_MAX_ENTRY_BYTES),
                 LSMLOG_E_TOOBIG);
    CHECK_OK(sst_builder_add(b, k, mk_ikey(k, "b", 1, 4, 0), NULL, 0)); /* older version: after */
    CHECK_OK(sst_builder_add(b, k, mk_ikey(k, "c", 1, 9, 1), (const uint8_t *)"3", 1));
    CHECK(sst_builder_file_size(b) > 0);
    CHECK_OK(sst_builder_finish(b, 0, NULL));
    CHECK_EQ_INT(sst_builder_finish(b, 0, NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(sst_builder_add(b, k, mk_ikey(k, "d", 1, 9, 1), NULL, 0), LSMLOG_E_INVALID);
    CHECK_EQ_U64(sst_builder_file_size(b), (uint64_t)tu_file_size(path));
    sst_builder_free(b);
    CHECK(tu_exists(path));
    sst_reader *r;
    CHECK_OK(sst_reader_open(path, 1, NULL, tcmp, &r));
    CHECK_EQ_U64(sst_reader_props(r)->num_entries, 3);
    CHECK_EQ_U64(sst_reader_props(r)->num_deletions, 1);
    sst_iter *it;
    CHECK_OK(sst_iter_new(r, &it));
    CHECK_EQ_INT(sst_iter_seek(it, k, 7), LSMLOG_E_INVALID); /* shorter than a trailer */
    CHECK_OK(sst_iter_status(it));                           /* refused, not failed */
    CHECK_OK(sst_iter_first(it));
    CHECK(sst_iter_valid(it));
    sst_iter_close(it);
    uint64_t off;
    CHECK_EQ_INT(sst_reader_approx_offset(r, k, 3, &off), LSMLOG_E_INVALID);
    sst_reader_close(r);
    CHECK_EQ_INT(sst_reader_open(path, 1, NULL, NULL, &r), LSMLOG_E_INVALID);

    /* Abandon removes the file, before or after finish. */
    CHECK_OK(sst_builder_open(path, &o, &b));
    CHECK_OK(sst_builder_add(b, k, mk_ikey(k, "b", 1, 5, 1), (const uint8_t *)"1", 1));
    sst_builder_abandon(b);
    CHECK(!tu_exists(path));
    CHECK_OK(sst_builder_open(path, &o, &b));
    CHECK_OK(sst_builder_finish(b, 1, NULL));
    sst_builder_abandon(b);
    CHECK(!tu_exists(path));
    sst_builder_free(NULL);
    sst_builder_abandon(NULL);
    sst_reader_close(NULL);
    sst_iter_close(NULL);
    CHECK_EQ_INT(sst_reader_open(path, 1, NULL, tcmp, &r), LSMLOG_E_NOENT);
}

/* Properties from finish and from the reader agree with the model. */
static void properties(void) {
    const char *dir = tu_mkdtemp();
    model m = {0};
    model_random(&m, 800, 3, 100, 12);
    uint64_t dels = 0, kb = 0, vb = 0, smin = UINT64_MAX, smax = 0;
    for (size_t i = 0; i < m.n; i++) {
        uint64_t t = trailer_of(&m.e[i]);
        dels += (t & 0xff) == 0;
        kb += m.e[i].klen;
        vb += m.e[i].vlen;
        if (t >> 8 < smin) smin = t >> 8;
        if (t >> 8 > smax) smax = t >> 8;
    }
    sst_options o;
    sst_options_init(&o, tcmp);
    o.created_ms = 1234567;
    char *path = table_path(dir, "p.sst");
    sst_props p;
    build_table(path, &o, &m, &p);
    sst_reader *r;
    CHECK_OK(sst_reader_open(path, 1, NULL, tcmp, &r));
    const sst_props *q = sst_reader_props(r);
    const sst_props *both[2] = {&p, q};
    for (int i = 0; i < 2; i++) {
        const sst_props *x = both[i];
        CHECK_EQ_U64(x->num_entries, m.n);
        CHECK_EQ_U64(x->num_deletions, dels);
        CHECK_EQ_U64(x->raw_key_bytes, kb);
        CHECK_EQ_U64(x->raw_value_bytes, vb);
        CHECK_EQ_U64(x->smallest_seq, smin);
        CHECK_EQ_U64(x->largest_seq, smax);
        CHECK_EQ_U64(x->created_ms, 1234567);
        CHECK_EQ_U64(x->file_size, (uint64_t)tu_file_size(path));
        CHECK(x->smallest_len == m.e[0].klen &&
              memcmp(x->smallest_key, m.e[0].k, x->smallest_len) == 0);
        CHECK(x->largest_len == m.e[m.n - 1].klen &&
              memcmp(x->largest_key, m.e[m.n - 1].k, x->largest_len) == 0);
    }
    CHECK_EQ_U64(p.num_data_blocks, q->num_data_blocks);
    /* approx_offset ascends with the key and stays inside the data. */
    uint64_t prev = 0;
    for (size_t i = 0; i < m.n; i += 7) {
        uint64_t off;
        CHECK_OK(sst_reader_approx_offset(r, m.e[i].k, m.e[i].klen, &off));
        CHECK(off >= prev && off < p.file_size);
        prev = off;
    }
    uint8_t k[32];
    uint64_t end;
    CHECK_OK(sst_reader_approx_offset(r, k,
                                      mk_ikey(k,
                                              "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
                                              "\xff\xff\xff\xff",
                                              14, 0, 0),
                                      &end));
    CHECK(end > prev && end < p.file_size);
    sst_reader_close(r);
    sst_props_clear(&p);
    model_free(&m);
}

/* The bloom filter spares block reads for absent keys and never hides a
 * present one; the counters say so. */
/* Both table versions: 2 (written now, BLOCKED filter) and 1 (CLASSIC
 * filter, still read). The footer says which; the filter answers "absent"
 * for nearly every absent key and never for a present one. */
static void bloom_counters(void) {
    const char *dir = tu_mkdtemp();
    model m = {0};
    model_random(&m, 2000, 1, 20, 16);
    for (uint32_t version = 1; version <= SST_FORMAT_VERSION; version++) {
        sst_options o;
        sst_options_init(&o, tcmp);
        o.format_version = version;
        char name[16];
        snprintf(name, sizeof name, "b%u.sst", version);
        char *path = table_path(dir, name);
        build_table(path, &o, &m, NULL);
        size_t flen = 0;
        unsigned char *img = tu_read_file(path, &flen);
        CHECK(img && flen > SST_FOOTER_SIZE);
        uint8_t *footer = img + flen - SST_FOOTER_SIZE;
        CHECK_EQ_U64(get_u32(footer + 48), version);
        if (version == SST_FORMAT_VERSION) {
            /* the same table claiming the next version (its footer CRC made
             * right) is refused as too new, not read as this one */
            put_u32(footer + 48, SST_FORMAT_VERSION + 1);
            put_u32(footer + SST_FOOTER_CRC_AT, crc32c_mask(crc32c_value(footer, SST_FOOTER_CRC_AT)));
            char *newer = table_path(dir, "newer.sst");
            CHECK(tu_write_file(newer, img, flen) == 0);
            sst_reader *nr = NULL;
            CHECK_EQ_INT(sst_reader_open(newer, 99, NULL, tcmp, &nr), LSMLOG_E_VERSION);
            CHECK(nr == NULL);
        }
        free(img);
        sst_reader *r;
        CHECK_OK(sst_reader_open(path, version, NULL, tcmp, &r));
        int absent = 0;
        for (int i = 0; i < 20000; i++) {
            uint8_t uk[32];
            size_t ulen = 17 + (size_t)tu_rand_below(8); /* longer than any key in the table */
            tu_fill_random(&tu_rng_state, uk, ulen);
            CHECK_EQ_INT(sst_reader_get(r, uk, ulen, UINT64_MAX, NULL, NULL, NULL, NULL),
                         LSMLOG_NOTFOUND);
            absent++;
        }
        sst_reader_stats st;
        sst_reader_get_stats(r, &st);
        CHECK_EQ_U64(st.gets, (uint64_t)absent);
        CHECK_EQ_U64(st.bloom_useful + st.bloom_useless, (uint64_t)absent);
        double fp = (double)st.bloom_useless / absent;
        printf("  bloom (version %u): %llu of %d absent gets passed the filter (%.2f%%), %llu block reads\n",
               version, (unsigned long long)st.bloom_useless, absent, 100 * fp,
               (unsigned long long)st.block_reads);
        CHECK(fp < 0.02);
        /* Blocks are read only past the filter: one per get, or two when the
         * target falls between a block's last key and its separator. */
        CHECK(st.block_reads <= 2 * st.bloom_useless);
        for (size_t i = 0; i < m.n; i++)
            CHECK_OK(sst_reader_get(r, m.e[i].k, m.e[i].klen - 8, UINT64_MAX, NULL, NULL, NULL, NULL));
        check_all(r, &m);
        sst_reader_close(r);
    }
    /* a version this library does not know yet is refused as such */
    sst_options o;
    sst_options_init(&o, tcmp);
    o.format_version = SST_FORMAT_VERSION + 1;
    sst_builder *b;
    CHECK_EQ_INT(sst_builder_open(table_path(dir, "x.sst"), &o, &b), LSMLOG_E_INVALID);
    model_free(&m);
}

/* ---- damage ---------------------------------------------------------------- */

/* Reads a damaged table every way there is. Every call must return correct
 * data or LSMLOG_E_CORRUPT with the path in the message. Returns 1 if any
 * call reported the damage. */
static int probe_damaged(const char *path, const model *m, block_cache *cache, uint64_t fileno) {
    sst_reader *r;
    int rc = cache ? open_unmapped(path, fileno, cache, &r) : sst_reader_open(path, fileno, NULL, tcmp, &r);
    if (rc) {
        CHECKF(rc == LSMLOG_E_CORRUPT, "open: %d (%s)", rc, tu_status_name(rc));
        CHECKF(strstr(lsmlog_errmsg(), path) != NULL, "message lacks the path: %s",
               lsmlog_errmsg());
        return 1;
    }
    int detected = 0;
    /* Forward, backward: each entry returned must be the model's next. */
    sst_iter *it;
    CHECK_OK(sst_iter_new(r, &it));
    size_t i = 0;
    for (rc = sst_iter_first(it); rc == 0 && sst_iter_valid(it); rc = sst_iter_next(it))
        check_entry(it, m, i++, "damaged forward");
    if (rc) {
        CHECK_EQ_INT(rc, LSMLOG_E_CORRUPT);
        CHECK(strstr(lsmlog_errmsg(), path) != NULL);
        detected = 1;
    } else {
        CHECK_EQ_U64(i, m->n);
    }
    sst_iter_close(it);
    CHECK_OK(sst_iter_new(r, &it));
    i = m->n;
    for (rc = sst_iter_last(it); rc == 0 && sst_iter_valid(it); rc = sst_iter_prev(it)) {
        CHECK(i > 0);
        check_entry(it, m, --i, "damaged backward");
    }
    if (rc) {
        CHECK_EQ_INT(rc, LSMLOG_E_CORRUPT);
        detected = 1;
    } else {
        CHECK_EQ_U64(i, 0);
    }
    /* Seeks and gets of every key. */
    for (size_t j = 0; j < m->n; j++) {
        rc = sst_iter_seek(it, m->e[j].k, m->e[j].klen);
        if (rc) {
            CHECK_EQ_INT(rc, LSMLOG_E_CORRUPT);
            detected = 1;
            sst_iter_close(it);
            CHECK_OK(sst_iter_new(r, &it));
        } else {
            CHECK(sst_iter_valid(it));
            check_entry(it, m, j, "damaged seek");
        }
        uint64_t t = trailer_of(&m->e[j]);
        int type;
        uint64_t seq;
        uint8_t *v = NULL;
        size_t vlen;
        const uint8_t *uk = m->e[j].k;
        size_t ulen = m->e[j].klen - 8;
        rc = j % 2 ? sst_reader_get(r, uk, ulen, t >> 8, &type, &seq, &v, &vlen)
                   : sst_reader_get_hashed(r, uk, ulen, bloom_hash(uk, ulen), 1, t >> 8, &type, &seq, &v, &vlen);
        if (rc) {
            CHECKF(rc == LSMLOG_E_CORRUPT, "get: %d (%s)", rc, tu_status_name(rc));
            CHECK(strstr(lsmlog_errmsg(), path) != NULL);
            detected = 1;
        } else {
            CHECK(seq == t >> 8 && type == (int)(t & 0xff));
            CHECK(type == 0 ||
                  (vlen == m->e[j].vlen && (vlen == 0 || memcmp(v, m->e[j].v, vlen) == 0)));
            lm_free(v);
        }
    }
    sst_iter_close(it);
    sst_reader_close(r);
    return detected;
}

/* Writes n bytes at off in place. Rewriting the whole file with O_TRUNC
 * instead would make ext4 flush it at every close (its replace-via-truncate
 * heuristic), and a sweep of thousands would wait on the disk. */
static void write_at(const char *path, const void *buf, size_t n, uint64_t off) {
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, buf, n, (off_t)off) == (ssize_t)n);
    close(fd);
}

/* A small table; every byte flipped one at a time, then every truncation.
 * Every byte of a table is under a CRC (or is the footer's magic or CRC), so
 * every flip must be reported, and nothing wrong ever returned. */
static void corruption_sweep(void) {
    const char *dir = tu_mkdtemp();
    model m = {0};
    model_random(&m, 30, 3, 24, 6);
    sst_options o = opts_small(160, 4);
    char *path = table_path(dir, "c.sst");
    sst_props props;
    build_table(path, &o, &m, &props);
    CHECK(props.num_data_blocks >= 4);
    size_t len;
    unsigned char *orig = tu_read_file(path, &len);
    CHECK(orig != NULL && len == props.file_size);
    unsigned char *img = malloc(len + 16);
    block_cache *cache;
    CHECK_OK(block_cache_new(4096, &cache));
    uint64_t fileno = 1;
    size_t flips = 0;
    for (size_t pos = 0; pos < len; pos++) {
        unsigned char b = orig[pos] ^ (unsigned char)(1u << (pos % 8));
        write_at(path, &b, 1, pos);
        /* Most runs read with pread through the cache (a fresh file number
         * each time, as a rewritten table would have), some from the mapped
         * file. */
        int detected = probe_damaged(path, &m, pos % 4 ? cache : NULL, fileno++);
        CHECKF(detected, "a flip at byte %zu of %zu went unnoticed", pos, len);
        write_at(path, &orig[pos], 1, pos);
        flips++;
    }
    for (size_t cut = len; cut-- > 0;) {
        CHECK(truncate(path, (off_t)cut) == 0);
        CHECKF(probe_damaged(path, &m, NULL, fileno++), "truncation to %zu bytes unnoticed", cut);
    }
    /* Bytes appended after the footer hide it: also damage. */
    memcpy(img, orig, len);
    memset(img + len, 0, 16);
    CHECK(tu_write_file(path, img, len + 16) == 0);
    CHECK(probe_damaged(path, &m, NULL, fileno++));
    /* And the pristine file is fine. */
    CHECK(tu_write_file(path, orig, len) == 0);
    CHECK(!probe_damaged(path, &m, cache, fileno++));
    printf("  %zu flips and %zu truncations of a %zu-byte table, %llu data blocks: all reported\n",
           flips, len, len, (unsigned long long)props.num_data_blocks);
    block_cache_free(cache);
    free(img);
    free(orig);
    sst_props_clear(&props);
    model_free(&m);
}

/* The table's layout as the test reads it from the footer and index. */
typedef struct layout {
    uint64_t off[64], size[64]; /* every block: data blocks, then filter, props, index */
    int n;
} layout;

static void read_layout(const unsigned char *img, size_t len, layout *l) {
    const unsigned char *f = img + len - SST_FOOTER_SIZE;
    l->n = 0;
    uint64_t ioff = get_u64(f), isize = get_u64(f + 8);
    block b;
    block_loc loc = {"layout", "index", ioff};
    CHECK_OK(block_init(&b, img + ioff, (size_t)isize, &loc));
    block_iter it;
    block_iter_init(&it, tcmp, 8);
    block_iter_set(&it, &b, &loc);
    for (must(block_iter_first(&it)); it.valid; must(block_iter_next(&it))) {
        const uint8_t *p = it.val, *e = it.val + it.vlen;
        CHECK((p = get_varint(p, e, &l->off[l->n], 10)) && get_varint(p, e, &l->size[l->n], 10));
        l->n++;
    }
    block_iter_release(&it);
    uint64_t order[3][2] = {
        {get_u64(f + 16), get_u64(f + 24)}, {get_u64(f + 32), get_u64(f + 40)}, {ioff, isize}};
    for (int i = 0; i < 3; i++) {
        if (order[i][1] == 0) continue;
        l->off[l->n] = order[i][0];
        l->size[l->n] = order[i][1];
        l->n++;
    }
}

static void fix_crc(unsigned char *img, uint64_t off, uint64_t size) {
    uint32_t crc = crc32c_extend(crc32c_value(img + off, (size_t)size), img + off + size, 1);
    put_u32(img + off + size + 1, crc32c_mask(crc));
}

/* Damage that passes the CRC (a block's bytes changed and its checksum made
 * right again), in every block: the structural checks must hold the line.
 * Data may then be wrong — the CRC is what catches that — but every call
 * must return OK / NOTFOUND / LSMLOG_E_CORRUPT and never touch memory
 * outside what it read (ASan). */
static void crc_fixed_damage(void) {
    const char *dir = tu_mkdtemp();
    model m = {0};
    model_random(&m, 25, 3, 16, 6);
    sst_options o = opts_small(128, 3);
    char *path = table_path(dir, "f.sst");
    build_table(path, &o, &m, NULL);
    size_t len;
    unsigned char *orig = tu_read_file(path, &len);
    unsigned char *img = malloc(len);
    layout l;
    read_layout(orig, len, &l);
    CHECK(l.n >= 5);
    size_t cases = 0, refused = 0;
    memcpy(img, orig, len);
    for (int bi = 0; bi < l.n; bi++) {
        uint64_t boff = l.off[bi], bsize = l.size[bi] + SST_BLOCK_TRAILER_SIZE;
        for (uint64_t p = 0; p < l.size[bi]; p++) {
            static const uint8_t masks[] = {0x01, 0x10, 0xff};
            for (size_t mi = 0; mi < sizeof masks; mi++) {
                img[boff + p] ^= masks[mi];
                fix_crc(img, boff, l.size[bi]);
                write_at(path, img + boff, (size_t)bsize, boff);
                memcpy(img + boff, orig + boff, (size_t)bsize); /* for the next case */
                cases++;
                sst_reader *r;
                int rc = sst_reader_open(path, 1, NULL, tcmp, &r);
                if (rc) {
                    CHECKF(rc == LSMLOG_E_CORRUPT, "open: %d (%s)", rc, tu_status_name(rc));
                    CHECK(strstr(lsmlog_errmsg(), path) != NULL);
                    refused++;
                    continue;
                }
                sst_iter *it;
                CHECK_OK(sst_iter_new(r, &it));
                int steps = 0;
                for (rc = sst_iter_first(it); rc == 0 && sst_iter_valid(it) && steps < 10000;
                     steps++)
                    rc = sst_iter_next(it);
                CHECK(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT);
                sst_iter_close(it);
                CHECK_OK(sst_iter_new(r, &it));
                for (rc = sst_iter_last(it), steps = 0;
                     rc == 0 && sst_iter_valid(it) && steps < 10000; steps++)
                    rc = sst_iter_prev(it);
                CHECK(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT);
                sst_iter_close(it);
                for (size_t j = 0; j < m.n; j++) {
                    uint8_t *v = NULL;
                    size_t vlen;
                    rc = sst_reader_get(r, m.e[j].k, m.e[j].klen - 8, UINT64_MAX, NULL, NULL, &v,
                                        &vlen);
                    CHECK(rc == LSMLOG_OK || rc == LSMLOG_NOTFOUND || rc == LSMLOG_E_CORRUPT);
                    lm_free(v);
                }
                sst_reader_close(r);
            }
        }
        write_at(path, orig + boff, (size_t)bsize, boff);
    }
    printf("  %zu CRC-fixed damages over %d blocks: %zu refused at open\n", cases, l.n, refused);
    free(img);
    free(orig);
    model_free(&m);
}

/* ---- faults: I/O and allocation --------------------------------------------- */

static int fail_after = -1; /* calls left before the fault; -1: never */
static int faults;

static ssize_t faulty_pwrite(int fd, const void *buf, size_t n, off_t off) {
    if (fail_after >= 0 && fail_after-- == 0) {
        faults++;
        errno = ENOSPC;
        return -1;
    }
    return pwrite(fd, buf, n, off);
}

static ssize_t faulty_pread(int fd, void *buf, size_t n, off_t off) {
    if (fail_after >= 0 && fail_after-- == 0) {
        faults++;
        errno = EIO;
        return -1;
    }
    return pread(fd, buf, n, off);
}

static int faulty_fdatasync(int fd) {
    if (fail_after >= 0 && fail_after-- == 0) {
        faults++;
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static void io_faults(void) {
    const char *dir = tu_mkdtemp();
    model m = {0};
    model_random(&m, 3000, 2, 200, 12); /* > 64 KiB: several buffered writes */
    sst_options o;
    sst_options_init(&o, tcmp);
    char *path = table_path(dir, "io.sst");
    env_ops ops = *env_get_ops();
    ops.pwrite = faulty_pwrite;
    ops.fdatasync = faulty_fdatasync;
    /* Writes: fail the Nth write or the sync; the builder reports E_IO and
     * stays failed; abandon removes the file. */
    for (int n = 0;; n++) {
        env_set_ops(&ops);
        fail_after = n;
        faults = 0;
        sst_builder *b;
        CHECK_OK(sst_builder_open(path, &o, &b));
        int rc = LSMLOG_OK;
        for (size_t i = 0; i < m.n && rc == LSMLOG_OK; i++)
            rc = sst_builder_add(b, m.e[i].k, m.e[i].klen, m.e[i].v, m.e[i].vlen);
        if (rc == LSMLOG_OK) rc = sst_builder_finish(b, 1, NULL);
        env_set_ops(NULL);
        fail_after = -1;
        if (faults == 0) {
            CHECK_OK(rc);
            sst_builder_free(b);
            break;
        }
        CHECK_EQ_INT(rc, LSMLOG_E_IO);
        CHECK(strstr(lsmlog_errmsg(), path) != NULL);
        uint8_t k[16];
        CHECK_EQ_INT(sst_builder_add(b, k, mk_ikey(k, "\xff\xff", 2, 1, 1), NULL, 0), LSMLOG_E_IO);
        CHECK_EQ_INT(sst_builder_finish(b, 1, NULL), LSMLOG_E_IO);
        sst_builder_abandon(b);
        CHECK(!tu_exists(path));
    }
    /* Reads: fail the Nth read, at open or later; E_IO, never a crash or a
     * wrong answer. */
    env_ops rops = *env_get_ops();
    rops.pread = faulty_pread;
    rops.mmap = no_mmap; /* reads from a mapping make no system call to fail */
    for (int n = 0; n < 12; n++) {
        env_set_ops(&rops);
        fail_after = n;
        faults = 0;
        sst_reader *r;
        int rc = sst_reader_open(path, 1, NULL, tcmp, &r);
        if (rc) {
            CHECK_EQ_INT(rc, LSMLOG_E_IO);
            CHECK(strstr(lsmlog_errmsg(), path) != NULL);
            CHECK_EQ_INT(lsmlog_errno(), EIO);
        } else {
            int seen = 0;
            for (size_t i = 0; i < m.n; i += 97) {
                uint8_t *v = NULL;
                size_t vlen;
                rc =
                    sst_reader_get(r, m.e[i].k, m.e[i].klen - 8, UINT64_MAX, NULL, NULL, &v, &vlen);
                if (rc == LSMLOG_E_IO)
                    seen++;
                else
                    CHECK(rc == LSMLOG_OK);
                lm_free(v);
            }
            CHECK(seen <= 1);
            sst_reader_close(r);
        }
        env_set_ops(NULL);
        fail_after = -1;
        CHECK_EQ_INT(faults, 1);
    }
    model_free(&m);
}

static long alloc_left = -1; /* allocations left before failing; -1: never */
static long alloc_failures;

static void *failing_malloc(size_t n) {
    if (alloc_left >= 0 && alloc_left-- == 0) {
        alloc_failures++;
        return NULL;
    }
    return malloc(n);
}

static void *failing_realloc(void *p, size_t n) {
    if (alloc_left >= 0 && alloc_left-- == 0) {
        alloc_failures++;
        return NULL;
    }
    return realloc(p, n);
}

/* One full life of a table under a failing allocator. Every call returns OK
 * or LSMLOG_E_NOMEM; what is read is right; nothing leaks (LeakSanitizer). */
static int alloc_scenario(const char *path, const model *m, int mapped) {
    sst_options o = opts_small(512, 4);
    sst_builder *b;
    int rc = sst_builder_open(path, &o, &b);
    if (rc) return rc;
    for (size_t i = 0; i < m->n && rc == 0; i++)
        rc = sst_builder_add(b, m->e[i].k, m->e[i].klen, m->e[i].v, m->e[i].vlen);
    sst_props p;
    if (rc == 0) rc = sst_builder_finish(b, 0, &p);
    if (rc) {
        sst_builder_abandon(b);
        return rc;
    }
    sst_props_clear(&p);
    sst_builder_free(b);
    block_cache *cache;
    if ((rc = block_cache_new(2048, &cache))) return rc;
    sst_reader *r;
    if ((rc = mapped ? sst_reader_open(path, 1, cache, tcmp, &r) : open_unmapped(path, 1, cache, &r))) {
        block_cache_free(cache);
        return rc;
    }
    for (size_t i = 0; i < m->n && rc == 0; i += 5) {
        uint8_t *v = NULL;
        size_t vlen;
        int type;
        rc = sst_reader_get(r, m->e[i].k, m->e[i].klen - 8, trailer_of(&m->e[i]) >> 8, &type, NULL,
                            &v, &vlen);
        if (rc == 0) {
            CHECK(type != 0 || v == NULL);
            CHECK(type == 0 || (vlen == m->e[i].vlen && (!vlen || !memcmp(v, m->e[i].v, vlen))));
            lm_free(v);
        }
    }
    sst_iter *it = NULL;
    if (rc == 0) rc = sst_iter_new(r, &it);
    if (rc == 0) {
        size_t i = 0;
        for (rc = sst_iter_first(it); rc == 0 && sst_iter_valid(it); rc = sst_iter_next(it))
            check_entry(it, m, i++, "alloc faults");
        if (rc == 0) CHECK_EQ_U64(i, m->n);
        for (rc = rc ? rc : sst_iter_last(it); rc == 0 && sst_iter_valid(it);
             rc = sst_iter_prev(it))
            check_entry(it, m, --i, "alloc faults backward");
    }
    sst_iter_close(it);
    sst_reader_close(r);
    block_cache_free(cache);
    return rc;
}

static void alloc_faults(void) {
    const char *dir = tu_mkdtemp();
    model m = {0};
    model_random(&m, 150, 2, 60, 10);
    char *path = table_path(dir, "a.sst");
    alloc_hooks hooks = {failing_malloc, failing_realloc, free};
    for (int mapped = 0; mapped < 2; mapped++) { /* pread through the cache, then in place */
        int n;
        for (n = 0;; n++) {
            alloc_set_hooks(&hooks);
            alloc_left = n;
            alloc_failures = 0;
            int rc = alloc_scenario(path, &m, mapped);
            alloc_left = -1;
            alloc_set_hooks(NULL);
            if (alloc_failures == 0) {
                CHECK_OK(rc);
                break;
            }
            CHECKF(rc == LSMLOG_E_NOMEM, "failing allocation %d: %d (%s)", n, rc, tu_status_name(rc));
        }
        printf("  %s: failed each of %d allocations in turn\n", mapped ? "mapped" : "pread", n);
    }
    model_free(&m);
}

/* ---- threads ---------------------------------------------------------------- */

/* CHECK for worker threads: the harness's check counter is not atomic. */
#define TCHECK(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) tu_fail(__FILE__, __LINE__, #c, "in a worker thread");                           \
    } while (0)

typedef struct thread_arg {
    sst_reader *r;
    const model *m;
    uint64_t seed;
} thread_arg;

static void *reader_thread(void *p) {
    thread_arg *a = p;
    uint64_t st = a->seed;
    const model *m = a->m;
    for (int round = 0; round < 3; round++) {
        for (int g = 0; g < 2000; g++) {
            const kv *e = &m->e[tu_splitmix64(&st) % m->n];
            uint64_t t = trailer_of(e);
            int type;
            uint64_t seq;
            uint8_t *v = NULL;
            size_t vlen;
            int rc = sst_reader_get(a->r, e->k, e->klen - 8, t >> 8, &type, &seq, &v, &vlen);
            TCHECK(rc == LSMLOG_OK);
            TCHECK(seq == t >> 8 && type == (int)(t & 0xff));
            TCHECK(type == 0 || (vlen == e->vlen && (!vlen || !memcmp(v, e->v, vlen))));
            lm_free(v);
        }
        sst_iter *it;
        TCHECK(sst_iter_new(a->r, &it) == LSMLOG_OK);
        size_t i = 0;
        for (int rc = sst_iter_first(it); sst_iter_valid(it); rc = sst_iter_next(it), i++) {
            TCHECK(rc == LSMLOG_OK && i < m->n);
            size_t klen, vlen;
            const uint8_t *k = sst_iter_key(it, &klen), *v = sst_iter_value(it, &vlen);
            const kv *e = &m->e[i];
            TCHECK(klen == e->klen && memcmp(k, e->k, klen) == 0);
            TCHECK(vlen == e->vlen && (!vlen || memcmp(v, e->v, vlen) == 0));
        }
        TCHECK(sst_iter_status(it) == LSMLOG_OK && i == m->n);
        sst_iter_close(it);
    }
    return NULL;
}

/* Readers in 4 threads share one reader: of a mapped table (its blocks
 * checksummed on first use), then of one read with pread through a cache
 * small enough to churn. */
static void threads(void) {
    const char *dir = tu_mkdtemp();
    model m = {0};
    model_random(&m, 3000, 2, 100, 12);
    sst_options o;
    sst_options_init(&o, tcmp);
    char *path = table_path(dir, "th.sst");
    build_table(path, &o, &m, NULL);
    for (int mapped = 1; mapped >= 0; mapped--) {
        block_cache *cache;
        CHECK_OK(block_cache_new(16 * 1024, &cache));
        sst_reader *r;
        CHECK_OK(mapped ? sst_reader_open(path, 1, cache, tcmp, &r) : open_unmapped(path, 1, cache, &r));
        pthread_t th[4];
        thread_arg args[4];
        for (int i = 0; i < 4; i++) {
            args[i] = (thread_arg){r, &m, tu_hash2(tu_seed, (uint64_t)i)};
            CHECK(pthread_create(&th[i], NULL, reader_thread, &args[i]) == 0);
        }
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);
        block_cache_stats cs;
        block_cache_get_stats(cache, &cs);
        if (mapped)
            CHECK_EQ_U64(cs.hits + cs.misses, 0);
        else
            CHECK(cs.evictions > 0 && cs.hits > 0);
        CHECK(cs.usage <= cs.capacity);
        CHECK_EQ_U64(cs.pinned, 0);
        sst_reader_close(r);
        block_cache_free(cache);
    }
    model_free(&m);
}

/* ---- the worked example of docs/format-sst.md ------------------------------- */

/* The table of docs/format-sst.md's worked example, byte for byte. */
static const char example_hex[] = "000d036170706c650102000000000000"
                                  "7265640508000001000000000000020d"
                                  "067269636f7401030000000000006f72"
                                  "616e676500000000010000000003bac6"
                                  "39000000000000000000000000000000"
                                  "00000000000000000000000000000000"
                                  "00000000000000000000000000000000"
                                  "00000000000000000000000000000000"
                                  "00001000000000001200000000000000"
                                  "00108000000040000000000000000100"
                                  "00000020804000000002000008000000"
                                  "00000000000000000000000000000000"
                                  "063f002a0fa127030101290901030068"
                                  "e5cf8b0100000d6170706c6501020000"
                                  "000000000f61707269636f7401030000"
                                  "00000000006230b7be00090262ffffff"
                                  "ffffffffff003c000000000100000000"
                                  "37556ef5f90000000000000016000000"
                                  "00000000410000000000000081000000"
                                  "00000000c7000000000000002d000000"
                                  "0000000002000000542baae26c736d6c"
                                  "6f675354";

static void worked_example(void) {
    const char *dir = tu_mkdtemp();
    model m = {0};
    uint8_t k[32];
    model_add(&m, k, mk_ikey(k, "apple", 5, 2, 1), (const uint8_t *)"red", 3);
    model_add(&m, k, mk_ikey(k, "apple", 5, 1, 0), NULL, 0);
    model_add(&m, k, mk_ikey(k, "apricot", 7, 3, 1), (const uint8_t *)"orange", 6);
    sst_options o;
    sst_options_init(&o, tcmp);
    o.created_ms = 1700000000000;
    char *path = table_path(dir, "000007.sst");
    build_table(path, &o, &m, NULL);
    size_t len;
    unsigned char *img = tu_read_file(path, &len);
    if (getenv("SST_DUMP")) {
        for (size_t i = 0; i < len; i += 16) {
            printf("%08zx:", i);
            for (size_t j = i; j < i + 16; j++) {
                if (j % 2 == 0) printf(" ");
                if (j < len)
                    printf("%02x", img[j]);
                else
                    printf("  ");
            }
            printf("  ");
            for (size_t j = i; j < i + 16 && j < len; j++)
                putchar(img[j] >= 32 && img[j] < 127 ? img[j] : '.');
            printf("\n");
        }
    }
    /* The document shows these bytes; a change of format must change both
     * (SST_DUMP=1 prints them in its layout). */
    CHECK_EQ_U64(len, strlen(example_hex) / 2);
    for (size_t i = 0; i < len; i++) {
        unsigned want;
        CHECK(sscanf(example_hex + 2 * i, "%2x", &want) == 1);
        CHECKF(img[i] == want, "byte %zu is %02x, the document says %02x", i, img[i], want);
    }
    sst_reader *r;
    CHECK_OK(sst_reader_open(path, 7, NULL, tcmp, &r));
    check_all(r, &m);
    sst_reader_close(r);
    free(img);
    model_free(&m);
}

int main(void) {
    tu_init("test_sst");
    TU_CASE(block_roundtrip);
    TU_CASE(block_damage);
    TU_CASE(table_roundtrip);
    TU_CASE(uncached_scan);
    TU_CASE(versions_and_snapshots);
    TU_CASE(edge_keys_values);
    TU_CASE(flat_index_search);
    TU_CASE(flat_index_refusals);
    TU_CASE(flat_index_table);
    TU_CASE(flat_index_inner_restart);
    TU_CASE(empty_table);
    TU_CASE(builder_misuse);
    TU_CASE(properties);
    TU_CASE(bloom_counters);
    TU_CASE(corruption_sweep);
    TU_CASE(crc_fixed_damage);
    TU_CASE(io_faults);
    TU_CASE(alloc_faults);
    TU_CASE(threads);
    TU_CASE(worked_example);
    return tu_finish();
}
