/* Unit tests of the memtable and what it stands on: the internal key format
 * (dbformat.h), the arena and the skiplist (memtable.h).
 *
 * The random cases check everything against a trivial model: an array of the
 * entries added, sorted with a comparator written here from the documented
 * order (not with ikey_cmp), and gets answered by a linear scan. They print
 * their seed (SEED= replays). Allocation failures are injected through
 * alloc_set_hooks; the concurrent case is meant for ThreadSanitizer too. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "alloc.h"
#include "arena.h"
#include "dbformat.h"
#include "memtable.h"
#include "test_util.h"

/* ---- the model ---------------------------------------------------------- */

typedef struct ment {
    uint8_t *ukey; /* malloc'd (NULL when empty) */
    size_t ulen;
    uint64_t seq;
    int type;
    uint8_t *val; /* malloc'd (NULL when empty) */
    size_t vlen;
} ment;

typedef struct model {
    ment *e;
    size_t n, cap;
} model;

static uint8_t *dup_bytes(const void *p, size_t n) {
    if (!n) return NULL;
    uint8_t *d = malloc(n);
    memcpy(d, p, n);
    return d;
}

static void model_add(model *md, const void *k, size_t klen, uint64_t seq, int type, const void *v,
                      size_t vlen) {
    if (md->n == md->cap) {
        md->cap = md->cap ? md->cap * 2 : 256;
        md->e = realloc(md->e, md->cap * sizeof *md->e);
    }
    md->e[md->n++] = (ment){dup_bytes(k, klen), klen, seq, type, dup_bytes(v, vlen), vlen};
}

static void model_free(model *md) {
    for (size_t i = 0; i < md->n; i++) {
        free(md->e[i].ukey);
        free(md->e[i].val);
    }
    free(md->e);
    memset(md, 0, sizeof *md);
}

/* The documented order, written independently of dbformat.c: user key bytes
 * (a prefix first), then seq descending, then type descending. */
static int model_cmp_parts(const uint8_t *ak, size_t al, uint64_t aseq, int atype,
                           const uint8_t *bk, size_t bl, uint64_t bseq, int btype) {
    for (size_t i = 0; i < al && i < bl; i++)
        if (ak[i] != bk[i]) return ak[i] < bk[i] ? -1 : 1;
    if (al != bl) return al < bl ? -1 : 1;
    if (aseq != bseq) return aseq > bseq ? -1 : 1;
    if (atype != btype) return atype > btype ? -1 : 1;
    return 0;
}

static int model_cmp(const void *a, const void *b) {
    const ment *x = a, *y = b;
    return model_cmp_parts(x->ukey, x->ulen, x->seq, x->type, y->ukey, y->ulen, y->seq, y->type);
}

static void model_sort(model *md) {
    qsort(md->e, md->n, sizeof *md->e, model_cmp);
}

/* The newest entry of key with seq <= snap, by a linear scan; NULL if none. */
static const ment *model_get(const model *md, const void *k, size_t klen, uint64_t snap) {
    const ment *best = NULL;
    for (size_t i = 0; i < md->n; i++) {
        const ment *e = &md->e[i];
        if (e->ulen != klen || (klen && memcmp(e->ukey, k, klen) != 0) || e->seq > snap) continue;
        if (!best || e->seq > best->seq) best = e;
    }
    return best;
}

/* The iterator's current entry must be exactly e. */
static void check_entry(const memtable_iter *it, const ment *e, const char *where, size_t idx) {
    CHECKF(memtable_iter_valid(it), "%s: not valid at model index %zu", where, idx);
    size_t iklen, vlen, ulen;
    const uint8_t *ik = memtable_iter_key(it, &iklen);
    const uint8_t *v = memtable_iter_value(it, &vlen);
    uint64_t seq;
    int type;
    CHECK(ikey_parse(ik, iklen, &ulen, &seq, &type) == 0);
    CHECKF(ulen == e->ulen && (ulen == 0 || memcmp(ik, e->ukey, ulen) == 0),
           "%s: model index %zu: user key differs (len %zu, want %zu)", where, idx, ulen, e->ulen);
    CHECKF(seq == e->seq && type == e->type,
           "%s: model index %zu: seq %" PRIu64 " type %d, want %" PRIu64 " type %d", where, idx,
           seq, type, e->seq, e->type);
    CHECKF(vlen == e->vlen && (vlen == 0 || memcmp(v, e->val, vlen) == 0),
           "%s: model index %zu: value differs (len %zu, want %zu)", where, idx, vlen, e->vlen);
}

/* The whole memtable equals the (sorted) model: count, both directions. */
static void verify_all(memtable *m, const model *md) {
    CHECK_EQ_U64(memtable_count(m), md->n);
    memtable_iter it;
    memtable_iter_init(&it, m);
    memtable_iter_seek_to_first(&it);
    for (size_t i = 0; i < md->n; i++) {
        check_entry(&it, &md->e[i], "forward", i);
        memtable_iter_next(&it);
    }
    CHECK(!memtable_iter_valid(&it));
    memtable_iter_seek_to_last(&it);
    for (size_t i = md->n; i-- > 0;) {
        check_entry(&it, &md->e[i], "backward", i);
        memtable_iter_prev(&it);
    }
    CHECK(!memtable_iter_valid(&it));
    memtable_iter_done(&it);
}

/* get(key, snap) must agree with the model's linear scan. */
static void check_get(memtable *m, const model *md, const void *k, size_t klen, uint64_t snap) {
    const ment *want = model_get(md, k, klen, snap);
    int type = -1;
    const void *v = NULL;
    size_t vlen = 0;
    int rc = memtable_get(m, k, klen, snap, &type, &v, &vlen);
    if (!want) {
        CHECKF(rc == LSMLOG_NOTFOUND, "get(klen %zu, snap %" PRIu64 ") = %d, want NOTFOUND", klen,
               snap, rc);
        return;
    }
    CHECKF(rc == LSMLOG_OK, "get(klen %zu, snap %" PRIu64 ") = %d (%s), want seq %" PRIu64, klen,
           snap, rc, tu_status_name(rc), want->seq);
    CHECKF(type == want->type,
           "get(klen %zu, snap %" PRIu64 "): type %d, want %d (seq %" PRIu64 ")", klen, snap, type,
           want->type, want->seq);
    CHECKF(vlen == want->vlen && (vlen == 0 || memcmp(v, want->val, vlen) == 0),
           "get(klen %zu, snap %" PRIu64 "): value differs", klen, snap);
}

/* A memtable_get that must succeed with (type, value as a C string). */
static void expect_get(memtable *m, const char *k, size_t klen, uint64_t snap, int type,
                       const char *val) {
    int t = -1;
    const void *v = NULL;
    size_t vlen = 99;
    int rc = memtable_get(m, k, klen, snap, &t, &v, &vlen);
    CHECKF(rc == LSMLOG_OK, "get(\"%.*s\", %" PRIu64 ") = %d (%s)", (int)klen, k, snap, rc,
           tu_status_name(rc));
    CHECKF(t == type, "get(\"%.*s\", %" PRIu64 "): type %d, want %d", (int)klen, k, snap, t, type);
    CHECKF(vlen == strlen(val) && memcmp(v, val, vlen) == 0,
           "get(\"%.*s\", %" PRIu64 "): value \"%.*s\", want \"%s\"", (int)klen, k, snap, (int)vlen,
           (const char *)v, val);
}

static void expect_notfound(memtable *m, const char *k, size_t klen, uint64_t snap) {
    int rc = memtable_get(m, k, klen, snap, NULL, NULL, NULL);
    CHECKF(rc == LSMLOG_NOTFOUND, "get(\"%.*s\", %" PRIu64 ") = %d (%s), want NOTFOUND", (int)klen,
           k, snap, rc, tu_status_name(rc));
}

/* ---- internal keys ------------------------------------------------------ */

static size_t make_ikey(uint8_t *buf, const void *k, size_t klen, uint64_t seq, int type) {
    if (klen) memcpy(buf, k, klen);
    ikey_put_trailer(buf + klen, seq, type);
    return klen + IKEY_TRAILER_SIZE;
}

static int sign(int x) {
    return (x > 0) - (x < 0);
}

static void format_order(void) {
    uint8_t a[64], b[64];
    size_t al, bl;
    /* the trailer: little-endian (seq << 8) | type */
    al = make_ikey(a, "k", 1, 0x0102030405, KT_PUT_TTL);
    CHECK_EQ_INT(al, 9);
    CHECK_EQ_INT(a[1], KT_PUT_TTL);
    CHECK_EQ_INT(a[2], 0x05);
    CHECK_EQ_INT(a[6], 0x01);
    CHECK_EQ_INT(a[7], 0);
    CHECK_EQ_U64(ikey_trailer(a, al), 0x0102030405ull << 8 | 2);
    size_t ul;
    uint64_t seq;
    int type;
    CHECK(ikey_parse(a, al, &ul, &seq, &type) == 0);
    CHECK(ul == 1 && seq == 0x0102030405ull && type == KT_PUT_TTL);
    CHECK(ikey_parse(a, 7, &ul, &seq, &type) == -1); /* shorter than a trailer */
    a[1] = 3;                                        /* an unknown type */
    CHECK(ikey_parse(a, al, &ul, &seq, &type) == -1);
    al = make_ikey(a, NULL, 0, MAX_SEQ, KT_DELETE);
    CHECK(ikey_parse(a, al, &ul, &seq, &type) == 0);
    CHECK(ul == 0 && seq == MAX_SEQ && type == KT_DELETE);
    CHECK_EQ_U64(ikey_pack(MAX_SEQ, KT_PUT_TTL), UINT64_MAX - 0xfd);
    ikey_unpack(ikey_pack(77, KT_PUT), &seq, &type);
    CHECK(seq == 77 && type == KT_PUT);
    CHECK_EQ_U64(ikey_lookup_trailer(UINT64_MAX), ikey_pack(MAX_SEQ, KT_PUT_TTL));
    CHECK_EQ_U64(ikey_lookup_trailer(5), ikey_pack(5, KT_PUT_TTL));
    CHECK_EQ_INT(KT_DELETE, 0);
    CHECK_EQ_INT(KT_PUT, 1);
    CHECK_EQ_INT(KT_PUT_TTL, 2);

    /* user key first, the shorter first on a common prefix, bytes unsigned */
    struct {
        const char *k;
        size_t kl;
        uint64_t seq;
        int type;
    } order[] = {
        {"", 0, 9, KT_PUT},       {"", 0, 1, KT_PUT},           {"\0", 1, 100, KT_PUT},
        {"\0\0", 2, 100, KT_PUT}, {"a", 1, MAX_SEQ, KT_DELETE}, {"a", 1, 5, KT_PUT_TTL},
        {"a", 1, 5, KT_PUT},      {"a", 1, 5, KT_DELETE},       {"a", 1, 4, KT_PUT_TTL},
        {"a", 1, 0, KT_DELETE},   {"a\0", 2, 50, KT_PUT},       {"a\0b", 3, 50, KT_PUT},
        {"ab", 2, 1, KT_PUT},     {"b", 1, 1, KT_PUT},          {"\x7f", 1, 1, KT_PUT},
        {"\x80", 1, 1, KT_PUT},   {"\xff", 1, 1, KT_PUT},       {"\xff\xff", 2, 1, KT_PUT},
    };
    size_t n = sizeof order / sizeof order[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            al = make_ikey(a, order[i].k, order[i].kl, order[i].seq, order[i].type);
            bl = make_ikey(b, order[j].k, order[j].kl, order[j].seq, order[j].type);
            int want = i < j ? -1 : i > j;
            CHECKF(sign(ikey_cmp(a, al, b, bl)) == want, "ikey_cmp(order[%zu], order[%zu])", i, j);
            CHECKF(sign(ikey_cmp_parts(a, al, b, bl - 8, ikey_trailer(b, bl))) == want,
                   "ikey_cmp_parts(order[%zu], order[%zu])", i, j);
        }
    }
    CHECK(ukey_cmp(NULL, 0, NULL, 0) == 0);
    CHECK(ukey_cmp(NULL, 0, (const uint8_t *)"a", 1) < 0);

    /* random pairs: ikey_cmp agrees with the test's own comparator */
    for (int r = 0; r < 20000; r++) {
        uint8_t ka[8], kb[8];
        size_t kal = tu_rand_below(4), kbl = tu_rand_below(4);
        for (size_t i = 0; i < kal; i++)
            ka[i] = (uint8_t)"\x00\x01\x80\xff"[tu_rand_below(4)];
        for (size_t i = 0; i < kbl; i++)
            kb[i] = (uint8_t)"\x00\x01\x80\xff"[tu_rand_below(4)];
        uint64_t sa = tu_rand_below(4) ? tu_rand_below(3) : tu_rand() & MAX_SEQ;
        uint64_t sb = tu_rand_below(4) ? tu_rand_below(3) : tu_rand() & MAX_SEQ;
        int ta = (int)tu_rand_below(3), tb = (int)tu_rand_below(3);
        al = make_ikey(a, ka, kal, sa, ta);
        bl = make_ikey(b, kb, kbl, sb, tb);
        CHECK(sign(ikey_cmp(a, al, b, bl)) == model_cmp_parts(ka, kal, sa, ta, kb, kbl, sb, tb));
    }
}

/* ---- arena -------------------------------------------------------------- */

static void arena_stats(void) {
    arena a;
    arena_init(&a);
    CHECK_EQ_U64(arena_memory_usage(&a), 0);

    /* every allocation is distinct memory: fill each with its own byte, then
     * check every one is intact (and ASan checks the bounds) */
    enum { NALLOC = 3000 };
    static uint8_t *ptrs[NALLOC];
    static size_t lens[NALLOC];
    size_t requested = 0;
    for (int i = 0; i < NALLOC; i++) {
        size_t n = 1 + tu_rand_below(tu_rand_below(20) ? 200 : 40000);
        int aligned = (int)tu_rand_below(2);
        uint8_t *p = aligned ? arena_alloc_aligned(&a, n) : arena_alloc(&a, n);
        CHECK(p != NULL);
        if (aligned) CHECKF(((uintptr_t)p & (ARENA_ALIGN - 1)) == 0, "allocation %d misaligned", i);
        memset(p, (uint8_t)i, n);
        ptrs[i] = p;
        lens[i] = n;
        requested += n;
    }
    for (int i = 0; i < NALLOC; i++)
        for (size_t j = 0; j < lens[i]; j++)
            CHECKF(ptrs[i][j] == (uint8_t)i, "allocation %d overwritten at byte %zu", i, j);
    size_t usage = arena_memory_usage(&a);
    /* a block is left when a request of at most a quarter block does not fit,
     * so at least 3/4 of each is used */
    CHECKF(usage >= requested && usage <= requested + requested / 3 + 3 * ARENA_BLOCK_SIZE,
           "usage %zu for %zu bytes requested", usage, requested);
    arena_destroy(&a);
    CHECK_EQ_U64(arena_memory_usage(&a), 0);

    /* block accounting: one block for small requests; a big request gets its
     * own block and leaves the current block's free space in use */
    uint8_t *p = arena_alloc(&a, 1);
    CHECK(p != NULL);
    size_t one = arena_memory_usage(&a);
    CHECKF(one >= ARENA_BLOCK_SIZE && one < ARENA_BLOCK_SIZE + 64, "one block: %zu", one);
    for (int i = 0; i < 100; i++)
        CHECK(arena_alloc_aligned(&a, 100) != NULL);
    CHECK_EQ_U64(arena_memory_usage(&a), one);
    CHECK(arena_alloc(&a, 100000) != NULL);
    size_t two = arena_memory_usage(&a);
    CHECKF(two >= one + 100000 && two < one + 100000 + 64, "big block: %zu", two - one);
    CHECK(arena_alloc(&a, ARENA_BLOCK_SIZE / 4) != NULL); /* still fits the first block */
    CHECK_EQ_U64(arena_memory_usage(&a), two);
    /* the first block is ~26 KiB full; 40 KiB more takes a second block */
    for (int i = 0; i < 400; i++)
        CHECK(arena_alloc(&a, 100) != NULL);
    size_t three = arena_memory_usage(&a);
    CHECKF(three >= two + ARENA_BLOCK_SIZE && three < two + ARENA_BLOCK_SIZE + 64, "new block: %zu",
           three - two);
    arena_destroy(&a);
    arena_destroy(&a); /* empty again: destroying twice is harmless */

    /* the memtable's size follows what it holds (no key filter here; with
     * one, its bytes come on top: 1 per 64 of the buffer) */
    memtable *m;
    CHECK_OK(memtable_new(&m, 0));
    size_t empty = memtable_bytes(m);
    CHECKF(empty >= ARENA_BLOCK_SIZE && empty < ARENA_BLOCK_SIZE + 256, "empty: %zu", empty);
    memtable *filtered;
    CHECK_OK(memtable_new(&filtered, 1 << 20));
    CHECK_EQ_U64(memtable_bytes(filtered), empty + (1 << 20) / 64);
    memtable_unref(filtered);
    static uint8_t val[1000];
    size_t payload = 0;
    for (int i = 0; i < 4000; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "k%06d", i);
        size_t vl = tu_rand_below(sizeof val + 1);
        CHECK_OK(memtable_add(m, (uint64_t)i, KT_PUT, k, (size_t)kl, val, vl));
        payload += (size_t)kl + vl;
    }
    size_t bytes = memtable_bytes(m);
    /* per entry: the data, a node and its links, two varints and a trailer */
    CHECKF(bytes >= payload && bytes <= payload + payload / 5 + 4000 * 64 + ARENA_BLOCK_SIZE,
           "memtable_bytes %zu for %zu bytes of keys and values", bytes, payload);
    CHECK_EQ_U64(memtable_count(m), 4000);
    memtable_unref(m);
}

/* ---- the memtable: fixed cases ----------------------------------------- */

static void ordering(void) {
    memtable *m;
    CHECK_OK(memtable_new(&m, 1 << 20));
    CHECK_EQ_U64(memtable_count(m), 0);
    uint64_t lo = 123, hi = 456;
    CHECK_EQ_INT(memtable_seq_range(m, &lo, &hi), LSMLOG_NOTFOUND);
    CHECK(lo == 123 && hi == 456);
    /* added out of order; expected order: (user key asc, seq desc) */
    CHECK_OK(memtable_add(m, 5, KT_PUT, "b", 1, "b5", 2));
    CHECK_OK(memtable_add(m, 3, KT_PUT, "a", 1, "a3", 2));
    CHECK_OK(memtable_add(m, 9, KT_DELETE, "a", 1, NULL, 0));
    CHECK_OK(memtable_add(m, 1, KT_PUT, "b", 1, "b1", 2));
    CHECK_OK(memtable_add(m, 7, KT_PUT_TTL, "ab", 2, "12345678x", 9));
    CHECK_OK(memtable_add(m, 8, KT_PUT, "a", 1, "a8", 2));
    const char *want_k[] = {"a", "a", "a", "ab", "b", "b"};
    uint64_t want_s[] = {9, 8, 3, 7, 5, 1};
    int want_t[] = {KT_DELETE, KT_PUT, KT_PUT, KT_PUT_TTL, KT_PUT, KT_PUT};
    memtable_iter it;
    memtable_iter_init(&it, m);
    CHECK(!memtable_iter_valid(&it));
    int i = 0;
    for (memtable_iter_seek_to_first(&it); memtable_iter_valid(&it); memtable_iter_next(&it), i++) {
        size_t len, ul;
        const uint8_t *k = memtable_iter_key(&it, &len);
        uint64_t seq;
        int type;
        CHECK(ikey_parse(k, len, &ul, &seq, &type) == 0);
        CHECKF(ul == strlen(want_k[i]) && memcmp(k, want_k[i], ul) == 0, "entry %d", i);
        CHECKF(seq == want_s[i] && type == want_t[i], "entry %d: seq %" PRIu64, i, seq);
    }
    CHECK_EQ_INT(i, 6);
    /* seek to a lookup key lands on the newest visible entry */
    uint8_t lk[16];
    size_t lkl = make_ikey(lk, "a", 1, 8, KT_MAX);
    memtable_iter_seek(&it, lk, lkl);
    size_t vl;
    const uint8_t *v = memtable_iter_value(&it, &vl);
    CHECK(vl == 2 && memcmp(v, "a8", 2) == 0);
    lkl = make_ikey(lk, "a", 1, 2, KT_MAX); /* "a" has nothing at seq <= 2 ... */
    memtable_iter_seek(&it, lk, lkl);
    v = memtable_iter_key(&it, &vl); /* ... so the seek lands on the next user key */
    CHECK(vl == 10 && memcmp(v, "ab", 2) == 0);
    lkl = make_ikey(lk, "c", 1, 0, KT_DELETE);
    memtable_iter_seek(&it, lk, lkl);
    CHECK(!memtable_iter_valid(&it));
    lkl = make_ikey(lk, "", 0, 0, KT_DELETE);
    memtable_iter_seek(&it, lk, lkl);
    CHECK(memtable_iter_valid(&it));
    memtable_iter_prev(&it);
    CHECK(!memtable_iter_valid(&it));
    memtable_iter_seek_to_last(&it);
    v = memtable_iter_value(&it, &vl);
    CHECK(vl == 2 && memcmp(v, "b1", 2) == 0);
    memtable_iter_next(&it);
    CHECK(!memtable_iter_valid(&it));
    memtable_iter_done(&it);

    CHECK_EQ_U64(memtable_count(m), 6);
    CHECK_OK(memtable_seq_range(m, &lo, &hi));
    CHECK(lo == 1 && hi == 9);
    memtable_unref(m);
}

static void snapshots(void) {
    memtable *m;
    CHECK_OK(memtable_new(&m, 1 << 20));
    CHECK_OK(memtable_add(m, 10, KT_PUT, "key", 3, "v10", 3));
    CHECK_OK(memtable_add(m, 20, KT_PUT, "key", 3, "v20", 3));
    CHECK_OK(memtable_add(m, 30, KT_DELETE, "key", 3, NULL, 0));
    CHECK_OK(memtable_add(m, 40, KT_PUT_TTL, "key", 3, "\x01\x02\x03\x04\x05\x06\x07\x08v40", 11));
    CHECK_OK(memtable_add(m, 15, KT_PUT, "kex", 3, "x", 1));
    CHECK_OK(memtable_add(m, 16, KT_PUT, "kez", 3, "z", 1));
    CHECK_OK(memtable_add(m, 17, KT_PUT, "ke", 2, "short", 5));
    CHECK_OK(memtable_add(m, 18, KT_PUT, "keyy", 4, "long", 4));

    expect_notfound(m, "key", 3, 0);
    expect_notfound(m, "key", 3, 9);
    expect_get(m, "key", 3, 10, KT_PUT, "v10");
    expect_get(m, "key", 3, 19, KT_PUT, "v10"); /* the newer put is invisible */
    expect_get(m, "key", 3, 20, KT_PUT, "v20");
    expect_get(m, "key", 3, 29, KT_PUT, "v20");
    expect_get(m, "key", 3, 30, KT_DELETE, ""); /* the delete shadows, and is reported */
    expect_get(m, "key", 3, 39, KT_DELETE, "");
    expect_get(m, "key", 3, 40, KT_PUT_TTL, "\x01\x02\x03\x04\x05\x06\x07\x08v40");
    expect_get(m, "key", 3, MAX_SEQ, KT_PUT_TTL, "\x01\x02\x03\x04\x05\x06\x07\x08v40");
    expect_get(m, "key", 3, UINT64_MAX, KT_PUT_TTL, "\x01\x02\x03\x04\x05\x06\x07\x08v40");
    /* neighbours and prefixes stay apart */
    expect_get(m, "ke", 2, UINT64_MAX, KT_PUT, "short");
    expect_notfound(m, "ke", 2, 16);
    expect_get(m, "keyy", 4, 18, KT_PUT, "long");
    expect_notfound(m, "keyy", 4, 17);
    expect_get(m, "kex", 3, 100, KT_PUT, "x");
    expect_get(m, "kez", 3, 100, KT_PUT, "z");
    expect_notfound(m, "k", 1, UINT64_MAX);
    expect_notfound(m, "keya", 4, UINT64_MAX);
    expect_notfound(m, "kf", 2, UINT64_MAX);
    expect_notfound(m, "", 0, UINT64_MAX);

    /* the extreme seqs */
    CHECK_OK(memtable_add(m, MAX_SEQ, KT_PUT, "max", 3, "m", 1));
    CHECK_OK(memtable_add(m, 0, KT_PUT, "max", 3, "0", 1));
    expect_get(m, "max", 3, 0, KT_PUT, "0");
    expect_get(m, "max", 3, MAX_SEQ - 1, KT_PUT, "0");
    expect_get(m, "max", 3, MAX_SEQ, KT_PUT, "m");
    uint64_t lo, hi;
    CHECK_OK(memtable_seq_range(m, &lo, &hi));
    CHECK(lo == 0 && hi == MAX_SEQ);
    memtable_unref(m);
}

static void empty_and_zero_bytes(void) {
    memtable *m;
    CHECK_OK(memtable_new(&m, 1 << 20));
    /* keys that differ only in zero bytes and length, the empty key, empty values */
    CHECK_OK(memtable_add(m, 1, KT_PUT, NULL, 0, "empty-key", 9));
    CHECK_OK(memtable_add(m, 2, KT_PUT, "\0", 1, "zero", 4));
    CHECK_OK(memtable_add(m, 3, KT_PUT, "\0\0", 2, NULL, 0));
    CHECK_OK(memtable_add(m, 4, KT_PUT, "a\0b", 3, "a0b", 3));
    CHECK_OK(memtable_add(m, 5, KT_PUT, "a", 1, "", 0));
    CHECK_OK(memtable_add(m, 6, KT_PUT, "a\0", 2, "a0", 2));
    CHECK_OK(memtable_add(m, 7, KT_PUT, "", 0, NULL, 0)); /* the empty key again, empty value */
    expect_get(m, "", 0, 6, KT_PUT, "empty-key");
    expect_get(m, "", 0, 7, KT_PUT, "");
    int t;
    const void *v = (const void *)1;
    size_t vl = 99;
    CHECK_OK(memtable_get(m, NULL, 0, UINT64_MAX, &t, &v, &vl));
    CHECK(t == KT_PUT && vl == 0 && v != NULL); /* an empty value still points somewhere */
    expect_get(m, "\0", 1, 10, KT_PUT, "zero");
    expect_get(m, "\0\0", 2, 10, KT_PUT, "");
    expect_notfound(m, "\0\0\0", 3, 10);
    expect_get(m, "a\0b", 3, 10, KT_PUT, "a0b");
    expect_get(m, "a", 1, 10, KT_PUT, "");
    expect_get(m, "a\0", 2, 10, KT_PUT, "a0");
    expect_notfound(m, "a\0c", 3, 10);
    expect_notfound(m, "b", 1, 10);

    /* order: "" (7, 1), "\0", "\0\0", "a", "a\0", "a\0b" */
    const char *keys[] = {"", "", "\0", "\0\0", "a", "a\0", "a\0b"};
    size_t lens[] = {0, 0, 1, 2, 1, 2, 3};
    uint64_t seqs[] = {7, 1, 2, 3, 5, 6, 4};
    memtable_iter it;
    memtable_iter_init(&it, m);
    memtable_iter_seek_to_last(&it);
    for (int i = 6; i >= 0; i--) {
        CHECK(memtable_iter_valid(&it));
        size_t len;
        const uint8_t *k = memtable_iter_key(&it, &len);
        CHECKF(len == lens[i] + 8 && memcmp(k, keys[i], lens[i]) == 0, "entry %d", i);
        CHECKF(ikey_trailer(k, len) >> 8 == seqs[i], "entry %d", i);
        memtable_iter_prev(&it);
    }
    CHECK(!memtable_iter_valid(&it));
    memtable_iter_done(&it);
    memtable_unref(m);
}

static void refused(void) {
    memtable *m;
    CHECK_OK(memtable_new(&m, 1 << 20));
    CHECK_OK(memtable_add(m, 5, KT_PUT, "k", 1, "v", 1));
    size_t bytes = memtable_bytes(m);
    CHECK_EQ_INT(memtable_add(m, 6, 3, "k", 1, "v", 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(memtable_add(m, 6, -1, "k", 1, "v", 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(memtable_add(m, MAX_SEQ + 1, KT_PUT, "k", 1, "v", 1), LSMLOG_E_INVALID);
    /* a duplicate internal key */
    CHECK_EQ_INT(memtable_add(m, 5, KT_PUT, "k", 1, "other", 5), LSMLOG_E_INVALID);
    CHECK_EQ_INT(memtable_add(m, 1, KT_PUT, "k", 1, "v", SIZE_MAX - 4), LSMLOG_E_INVALID);
    CHECK_EQ_U64(memtable_count(m), 1);
    CHECK_EQ_U64(memtable_bytes(m), bytes);
    expect_get(m, "k", 1, UINT64_MAX, KT_PUT, "v");
    /* same user key and seq, another type: a distinct internal key */
    CHECK_OK(memtable_add(m, 5, KT_DELETE, "k", 1, NULL, 0));
    expect_get(m, "k", 1, 5, KT_PUT, "v"); /* the larger type sorts first */
    memtable_unref(m);
}

/* The key filter never hides a key added (however full: one line for
 * thousands of keys) and rules out nearly every key absent at its usual
 * size; without a filter every key "may" be there. */
static void key_filter(void) {
    size_t sizes[] = {4096, 1 << 20}; /* 1 line (64 bytes), 256 lines */
    for (int s = 0; s < 2; s++) {
        memtable *m;
        CHECK_OK(memtable_new(&m, sizes[s]));
        for (int i = 0; i < 5000; i++) {
            char k[16];
            int kl = snprintf(k, sizeof k, "key%07d", 2 * i);
            CHECK_OK(memtable_add(m, (uint64_t)i + 1, i % 7 ? KT_PUT : KT_DELETE, k, (size_t)kl, k, (size_t)kl));
            CHECK(memtable_may_contain(m, k, (size_t)kl));
        }
        int passed = 0;
        for (int i = 0; i < 5000; i++) {
            char k[16];
            int kl = snprintf(k, sizeof k, "key%07d", 2 * i);
            CHECKF(memtable_may_contain(m, k, (size_t)kl), "%s hidden by a %zu-byte buffer's filter", k, sizes[s]);
            CHECK_OK(memtable_get(m, k, (size_t)kl, UINT64_MAX, NULL, NULL, NULL));
            kl = snprintf(k, sizeof k, "key%07d", 2 * i + 1); /* never added */
            passed += memtable_may_contain(m, k, (size_t)kl);
            expect_notfound(m, k, (size_t)kl, UINT64_MAX);
        }
        if (s == 1) /* ~32 bits per key, 6 probes in a line: well under 1 % */
            CHECKF(passed < 50, "%d of 5000 absent keys passed the filter", passed);
        else /* saturated: nearly everything passes, and gets still answer right */
            CHECKF(passed > 4000, "%d of 5000 absent keys passed a full filter", passed);
        memtable_unref(m);
    }
    memtable *m;
    CHECK_OK(memtable_new(&m, 0));
    CHECK(memtable_may_contain(m, "absent", 6));
    CHECK(memtable_may_contain(m, NULL, 0));
    memtable_unref(m);
}

static void references(void) {
    memtable *m;
    CHECK_OK(memtable_new(&m, 1 << 20));
    CHECK_OK(memtable_add(m, 1, KT_PUT, "k", 1, "value", 5));
    memtable_ref(m);
    memtable_iter it;
    memtable_iter_init(&it, m);
    memtable_unref(m);
    memtable_unref(m); /* the creator's two references are gone; the iterator's holds */
    memtable_iter_seek_to_first(&it);
    size_t vl;
    const uint8_t *v = memtable_iter_value(&it, &vl);
    CHECK(vl == 5 && memcmp(v, "value", 5) == 0); /* ASan: still allocated */
    memtable_iter_done(&it);                      /* frees it */
    memtable_unref(NULL);
}

/* ---- the memtable against the model ------------------------------------ */

/* A random user key from a small alphabet (zero bytes, 0xff), mostly short so
 * that keys repeat, prefix each other and get several versions. */
static size_t rand_key(uint8_t *k) {
    static const uint8_t alpha[] = {0x00, 0x01, 'a', 'b', 0xff};
    size_t len = tu_rand_below(8) ? tu_rand_below(4) : tu_rand_below(40);
    for (size_t i = 0; i < len; i++)
        k[i] = alpha[tu_rand_below(sizeof alpha)];
    return len;
}

/* A value of random length: mostly small, sometimes empty, now and then
 * larger than a quarter block (the arena's own-block path). */
static size_t rand_value(uint8_t *v, size_t cap) {
    uint64_t r = tu_rand_below(100);
    size_t len = r < 10 ? 0 : r < 97 ? tu_rand_below(120) : 16000 + tu_rand_below(30000);
    if (len > cap) len = cap;
    uint64_t st = tu_rand();
    tu_fill_random(&st, v, len);
    return len;
}

static uint64_t *shuffled_seqs(size_t n) {
    uint64_t *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++)
        s[i] = i + 1;
    for (size_t i = n; i > 1; i--) {
        size_t j = tu_rand_below(i);
        uint64_t t = s[i - 1];
        s[i - 1] = s[j];
        s[j] = t;
    }
    return s;
}

/* The first model index whose entry is >= (k, seq, type): a linear scan. */
static size_t model_lower_bound(const model *md, const uint8_t *k, size_t kl, uint64_t seq,
                                int type) {
    size_t i = 0;
    while (i < md->n && model_cmp_parts(md->e[i].ukey, md->e[i].ulen, md->e[i].seq, md->e[i].type,
                                        k, kl, seq, type) < 0)
        i++;
    return i;
}

static void random_vs_model(void) {
    enum { N = 6000 };
    static uint8_t val[46000];
    memtable *m;
    CHECK_OK(memtable_new(&m, 1 << 20));
    model md = {0};
    uint64_t *seqs = shuffled_seqs(N);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < N; i++) {
        uint8_t k[40];
        size_t kl = rand_key(k);
        int type = (int)tu_rand_below(3);
        size_t vl = type == KT_DELETE ? 0 : rand_value(val, sizeof val);
        CHECK_OK(memtable_add(m, seqs[i], type, k, kl, val, vl));
        model_add(&md, k, kl, seqs[i], type, val, vl);
        if (seqs[i] < lo) lo = seqs[i];
        if (seqs[i] > hi) hi = seqs[i];
        if (i % 1500 == 0) { /* midway: the partial table is right too */
            model_sort(&md);
            verify_all(m, &md);
        }
    }
    model_sort(&md);
    verify_all(m, &md);
    uint64_t l2, h2;
    CHECK_OK(memtable_seq_range(m, &l2, &h2));
    CHECK(l2 == lo && h2 == hi);

    /* gets at random snapshots, for keys present and absent */
    for (int r = 0; r < 3000; r++) {
        uint8_t k[40];
        size_t kl;
        if (tu_rand_below(2)) {
            const ment *e = &md.e[tu_rand_below(md.n)];
            kl = e->ulen;
            if (kl) memcpy(k, e->ukey, kl);
        } else {
            kl = rand_key(k);
        }
        uint64_t snap = tu_rand_below(20) ? tu_rand_below(N + 2) : UINT64_MAX;
        check_get(m, &md, k, kl, snap);
    }

    /* seeks to random internal keys, then a random walk both ways */
    memtable_iter it;
    memtable_iter_init(&it, m);
    for (int r = 0; r < 1500; r++) {
        uint8_t k[40], ik[48];
        size_t kl;
        uint64_t seq = tu_rand_below(N + 2);
        int type = (int)tu_rand_below(3);
        if (tu_rand_below(2)) {
            const ment *e = &md.e[tu_rand_below(md.n)];
            kl = e->ulen;
            if (kl) memcpy(k, e->ukey, kl);
            if (tu_rand_below(2)) {
                seq = e->seq; /* exactly an entry's key */
                type = e->type;
            }
        } else {
            kl = rand_key(k);
        }
        size_t pos = model_lower_bound(&md, k, kl, seq, type);
        memtable_iter_seek(&it, ik, make_ikey(ik, k, kl, seq, type));
        if (pos == md.n) {
            CHECK(!memtable_iter_valid(&it));
            continue;
        }
        check_entry(&it, &md.e[pos], "seek", pos);
        for (int step = 0; step < 20; step++) {
            if (tu_rand_below(2)) {
                memtable_iter_next(&it);
                if (++pos == md.n) {
                    CHECK(!memtable_iter_valid(&it)); /* past the last */
                    break;
                }
            } else {
                memtable_iter_prev(&it);
                if (pos == 0) {
                    CHECK(!memtable_iter_valid(&it)); /* before the first */
                    break;
                }
                pos--;
            }
            check_entry(&it, &md.e[pos], "walk", pos);
        }
    }
    memtable_iter_done(&it);
    free(seqs);
    model_free(&md);
    memtable_unref(m);
}

/* ---- allocation failures ----------------------------------------------- */

static atomic_ulong fail_calls; /* allocations seen while the hooks are in */
static atomic_ulong fail_at;    /* fail the allocation with this number (0: none) */

static void *failing_malloc(size_t n) {
    unsigned long c = atomic_fetch_add(&fail_calls, 1) + 1;
    if (c == atomic_load(&fail_at)) return NULL;
    return malloc(n);
}

static void *failing_realloc(void *p, size_t n) {
    unsigned long c = atomic_fetch_add(&fail_calls, 1) + 1;
    if (c == atomic_load(&fail_at)) return NULL;
    return realloc(p, n);
}

static void alloc_failures(void) {
    alloc_hooks h = {failing_malloc, failing_realloc, free};
    alloc_set_hooks(&h);

    /* memtable_new: failing each of its allocations in turn, then none */
    memtable *m = NULL;
    int failed_news = 0;
    for (unsigned long nth = 1;; nth++) {
        atomic_store(&fail_calls, 0);
        atomic_store(&fail_at, nth);
        int rc = memtable_new(&m, 1 << 20);
        if (rc == LSMLOG_OK) break;
        CHECK_EQ_INT(rc, LSMLOG_E_NOMEM);
        CHECK(m == NULL);
        failed_news++;
        CHECK(nth < 10);
    }
    CHECK_EQ_INT(failed_news, 3); /* the handle, its key filter, then the arena's first block */

    /* every add runs with its next allocation failing: the adds that need a
     * block fail, must leave the table as it was, and succeed when retried */
    static uint8_t val[46000];
    model md = {0};
    uint64_t *seqs = shuffled_seqs(3000);
    int nomem = 0;
    for (size_t i = 0; i < 3000; i++) {
        uint8_t k[40];
        size_t kl = rand_key(k);
        int type = (int)tu_rand_below(3);
        size_t vl = type == KT_DELETE ? 0 : rand_value(val, sizeof val);
        size_t bytes = memtable_bytes(m);
        atomic_store(&fail_at, atomic_load(&fail_calls) + 1);
        int rc = memtable_add(m, seqs[i], type, k, kl, val, vl);
        if (rc == LSMLOG_E_NOMEM) {
            nomem++;
            CHECK_EQ_U64(memtable_count(m), md.n);
            CHECK_EQ_U64(memtable_bytes(m), bytes);
            check_get(m, &md, k, kl, UINT64_MAX); /* the failed entry is not there */
            if (nomem % 8 == 1) {
                model_sort(&md);
                verify_all(m, &md);
            }
            atomic_store(&fail_at, 0);
            rc = memtable_add(m, seqs[i], type, k, kl, val, vl);
        }
        CHECK_OK(rc);
        model_add(&md, k, kl, seqs[i], type, val, vl);
    }
    atomic_store(&fail_at, 0);
    CHECKF(nomem > 20, "only %d adds met a failing allocation", nomem);
    if (getenv("VERBOSE")) fprintf(stderr, "    %d adds failed and were retried\n", nomem);
    model_sort(&md);
    verify_all(m, &md);
    for (size_t i = 0; i < md.n; i += 7)
        check_get(m, &md, md.e[i].ukey, md.e[i].ulen, md.e[i].seq);
    memtable_unref(m);
    alloc_set_hooks(NULL);
    free(seqs);
    model_free(&md);
}

/* ---- one writer, three readers ------------------------------------------ */

enum { CW_N = 200000, CW_READERS = 3 };

static atomic_size_t cw_added; /* entries whose add has returned */
static atomic_int cw_done;

/* Entry i: key "key" + 8 digits of a permutation of i (random insertion
 * order), seq i + 1, a value recomputable from i. */
static size_t cw_key(uint64_t i, char *k) {
    uint64_t p = (i * 7919 + 13) % CW_N; /* 7919 is prime and does not divide CW_N */
    memcpy(k, "key", 3);
    for (int d = 10; d >= 3; d--, p /= 10) /* by hand: snprintf is slow under TSan */
        k[d] = (char)('0' + p % 10);
    return 11;
}

static size_t cw_value(uint64_t i, uint8_t *v) {
    uint64_t st = tu_hash2(42, i);
    size_t len = 8 + (size_t)(tu_splitmix64(&st) % 40);
    tu_put_u64(v, i);
    tu_fill_random(&st, v + 8, len - 8);
    return len;
}

static void *cw_writer(void *arg) {
    memtable *m = arg;
    char k[16];
    uint8_t v[64];
    for (uint64_t i = 0; i < CW_N; i++) {
        size_t kl = cw_key(i, k), vl = cw_value(i, v);
        if (memtable_add(m, i + 1, KT_PUT, k, kl, v, vl) != LSMLOG_OK) abort();
        atomic_store_explicit(&cw_added, (size_t)i + 1, memory_order_release);
    }
    atomic_store(&cw_done, 1);
    return NULL;
}

typedef struct cw_reader {
    memtable *m;
    uint64_t rng;
    unsigned long scans, gets, seen; /* work done, for the report */
    char err[256];                   /* the first failure ("" if none) */
} cw_reader;

/* The iterator's entry must be entry i exactly; i from its seq. */
static int cw_check_entry(const memtable_iter *it, uint64_t *seq_out, char *err) {
    size_t iklen, vlen, ulen;
    const uint8_t *ik = memtable_iter_key(it, &iklen);
    const uint8_t *v = memtable_iter_value(it, &vlen);
    uint64_t seq;
    int type;
    char k[16];
    uint8_t want[64];
    if (ikey_parse(ik, iklen, &ulen, &seq, &type) != 0 || type != KT_PUT || seq == 0 ||
        seq > CW_N) {
        snprintf(err, 256, "a malformed internal key (len %zu)", iklen);
        return -1;
    }
    size_t kl = cw_key(seq - 1, k), wl = cw_value(seq - 1, want);
    if (ulen != kl || memcmp(ik, k, kl) != 0 || vlen != wl || memcmp(v, want, wl) != 0) {
        snprintf(err, 256, "entry of seq %" PRIu64 " is not as written", seq);
        return -1;
    }
    *seq_out = seq;
    return 0;
}

static void *cw_reader_main(void *arg) {
    cw_reader *r = arg;
    memtable_iter it;
    memtable_iter_init(&it, r->m);
    /* not spinning over an empty table, which would only take CPU from the writer */
    while (atomic_load_explicit(&cw_added, memory_order_acquire) == 0)
        sched_yield();
    int last_round = 0;
    size_t last_full = 0;
    for (unsigned round = 0; !r->err[0]; round++) {
        int finished = atomic_load(&cw_done);
        /* A full scan each time the table has grown by 50000 entries, and at
         * the end: everything added before it began must be seen, in order.
         * The rounds between walk 500 entries from a random one. (Full scans
         * are what makes this case slow under TSan, and the writer needs the
         * CPU: 3 readers share 2 cores with it.) */
        size_t before = atomic_load_explicit(&cw_added, memory_order_acquire);
        int full = round == 0 || before >= last_full + 50000 || last_round;
        if (full) last_full = before;
        size_t n = 0;
        uint8_t prev[32];
        size_t prevlen = 0;
        if (full) {
            memtable_iter_seek_to_first(&it);
        } else {
            uint8_t ik[24];
            size_t kl = cw_key(tu_splitmix64(&r->rng) % before, (char *)ik);
            ikey_put_trailer(ik + kl, MAX_SEQ, KT_PUT_TTL);
            memtable_iter_seek(&it, ik, kl + 8);
        }
        for (; memtable_iter_valid(&it) && (full || n < 500); memtable_iter_next(&it)) {
            uint64_t seq;
            if (cw_check_entry(&it, &seq, r->err)) break;
            size_t len;
            const uint8_t *k = memtable_iter_key(&it, &len);
            if (n && ikey_cmp(prev, prevlen, k, len) >= 0) {
                snprintf(r->err, sizeof r->err, "scan out of order at entry %zu", n);
                break;
            }
            memcpy(prev, k, len);
            prevlen = len;
            n++;
        }
        if (!r->err[0] && full && n < before)
            snprintf(r->err, sizeof r->err, "scan saw %zu entries, %zu were added before it", n,
                     before);
        r->scans += (unsigned long)full;
        r->seen += n;
        /* gets of added entries, and seeks with a few steps both ways */
        for (int g = 0; g < 50 && !r->err[0]; g++) {
            size_t added = atomic_load_explicit(&cw_added, memory_order_acquire);
            if (!added) break;
            uint64_t i = tu_splitmix64(&r->rng) % added;
            char k[16];
            uint8_t want[64];
            size_t kl = cw_key(i, k), wl = cw_value(i, want);
            int type;
            const void *v;
            size_t vl;
            int rc = memtable_get(r->m, k, kl, UINT64_MAX, &type, &v, &vl);
            if (rc != LSMLOG_OK || type != KT_PUT || vl != wl || memcmp(v, want, wl) != 0) {
                snprintf(r->err, sizeof r->err, "get of entry %" PRIu64 " (added): rc %d", i, rc);
                break;
            }
            rc = memtable_get(r->m, k, kl, i, NULL, NULL, NULL); /* seq i + 1 is too new */
            if (rc != LSMLOG_NOTFOUND) {
                snprintf(r->err, sizeof r->err, "get of entry %" PRIu64 " before it: rc %d", i, rc);
                break;
            }
            r->gets++;
            uint8_t ik[24];
            memcpy(ik, k, kl);
            ikey_put_trailer(ik + kl, MAX_SEQ, KT_PUT_TTL);
            memtable_iter_seek(&it, ik, kl + 8);
            uint64_t seq;
            if (!memtable_iter_valid(&it) || cw_check_entry(&it, &seq, r->err)) {
                if (!r->err[0]) snprintf(r->err, sizeof r->err, "seek to entry %" PRIu64, i);
                break;
            }
            if (seq != i + 1) {
                snprintf(r->err, sizeof r->err, "seek to entry %" PRIu64 " found %" PRIu64, i,
                         seq - 1);
                break;
            }
            for (int s = 0; s < 4 && memtable_iter_valid(&it); s++) {
                if (g & 1)
                    memtable_iter_prev(&it);
                else
                    memtable_iter_next(&it);
                if (memtable_iter_valid(&it) && cw_check_entry(&it, &seq, r->err)) break;
            }
        }
        if (last_round) break;
        if (finished) last_round = 1; /* one more full pass over the final table */
        /* The next round after 1000 more adds: the readers' work follows the
         * writer's progress, not the clock, so a slow (TSan, loaded) machine
         * does not drown the writer in reads. */
        while (!atomic_load(&cw_done) &&
               atomic_load_explicit(&cw_added, memory_order_acquire) < before + 1000)
            tu_sleep_ms(1);
    }
    memtable_iter_done(&it);
    return NULL;
}

static void concurrent(void) {
    memtable *m;
    CHECK_OK(memtable_new(&m, 1 << 20));
    atomic_store(&cw_added, 0);
    atomic_store(&cw_done, 0);
    cw_reader rd[CW_READERS];
    pthread_t rt[CW_READERS], wt;
    for (int i = 0; i < CW_READERS; i++) {
        rd[i] = (cw_reader){.m = m, .rng = tu_rand()};
        CHECK(pthread_create(&rt[i], NULL, cw_reader_main, &rd[i]) == 0);
    }
    CHECK(pthread_create(&wt, NULL, cw_writer, m) == 0);
    /* the stats are readable while the writer runs */
    while (!atomic_load(&cw_done)) {
        size_t c = memtable_count(m);
        uint64_t lo, hi;
        if (memtable_seq_range(m, &lo, &hi) == LSMLOG_OK) CHECK(lo == 1 && hi >= c);
        CHECK(memtable_bytes(m) >= c * 20);
        tu_sleep_ms(5);
    }
    CHECK(pthread_join(wt, NULL) == 0);
    for (int i = 0; i < CW_READERS; i++) {
        CHECK(pthread_join(rt[i], NULL) == 0);
        CHECKF(rd[i].err[0] == '\0', "reader %d: %s", i, rd[i].err);
        CHECKF(rd[i].scans >= 2, "reader %d: only %lu scans", i, rd[i].scans);
        if (getenv("VERBOSE"))
            fprintf(stderr, "    reader %d: %lu scans (%lu entries), %lu gets\n", i, rd[i].scans,
                    rd[i].seen, rd[i].gets);
    }
    CHECK_EQ_U64(memtable_count(m), CW_N);
    uint64_t lo, hi;
    CHECK_OK(memtable_seq_range(m, &lo, &hi));
    CHECK(lo == 1 && hi == CW_N);
    memtable_unref(m);
}

int main(void) {
    tu_init("test_memtable");
    TU_CASE(format_order);
    TU_CASE(arena_stats);
    TU_CASE(ordering);
    TU_CASE(snapshots);
    TU_CASE(empty_and_zero_bytes);
    TU_CASE(refused);
    TU_CASE(key_filter);
    TU_CASE(references);
    TU_CASE(random_vs_model);
    TU_CASE(alloc_failures);
    TU_CASE(concurrent);
    return tu_finish();
}
