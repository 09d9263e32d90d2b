/* memtable.c — the memtable's skiplist (memtable.h), after LevelDB's
 * db/skiplist.h and db/memtable.cc.
 *
 * Why the lock-free reads are safe (one writer, many readers):
 * - A node is written completely (entry bytes, its own next pointers) before
 *   it is published by a release store into its predecessor's next pointer;
 *   readers load next pointers with acquire, so whatever node they reach,
 *   they see all of it.
 * - A node is linked in bottom level first, and its own next pointer at a
 *   level is set before it is published at that level. So a reader that
 *   reaches a node at level i finds it linked at every level below, with
 *   valid next pointers there. Level 0 holds every node; the levels above
 *   are shortcuts, so a node not yet linked above is merely walked to.
 * - Nothing is ever unlinked or freed while a reference is held: the arena
 *   dies with the last reference.
 * - max_height may be seen raised before the head's new levels are linked:
 *   those levels read NULL from the head and the search just drops down. */
#include "memtable.h"

#include <assert.h>
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "arena.h"
#include "bloom.h"
#include "coding.h"
#include "status.h"

#define MT_MAX_HEIGHT 12
/* A node reaches level i+1 with probability 1/MT_BRANCHING: about n/4^i
 * nodes at level i, so a search does ~4 steps per level. */
#define MT_BRANCHING 4
/* The skiplist's seed: fixed, so that a run is reproducible. Heights do not
 * depend on keys, so no input can degrade the list. */
#define MT_RNG_SEED 0x2545F4914F6CDD1Dull

struct mt_node {
    const uint8_t *entry;             /* the encoded entry (memtable.h); NULL for the head */
    _Atomic(struct mt_node *) next[]; /* next[i]: the following node at level i; as many
                                          as the node's height, then its entry */
};

/* Bytes of a node of height h, before its entry. */
#define NODE_SIZE(h) (sizeof(struct mt_node) + (size_t)(h) * sizeof(_Atomic(struct mt_node *)))

/* The key filter: a blocked bloom filter over the user keys added, so that a
 * get for a key the table does not hold (nearly every get, once the DB is
 * much larger than a memtable) skips the skiplist search, a cache miss per
 * level. Each key sets MT_FILTER_PROBES bits in one 64-byte line, picked by
 * its hash: one cache miss per probe at most (RocksDB's memtable whole-key
 * filter, with the line-local layout of its FastLocalBloom). Sized at one bit
 * per 8 bytes of write buffer (MT_FILTER_RATIO): a 4 MiB buffer of 100-byte
 * values gets ~17 bits per key, tiny entries ~5; the false-positive rate only
 * costs a search, never an answer. */
#define MT_FILTER_PROBES 6
#define MT_FILTER_LINE_BITS 512
#define MT_FILTER_RATIO 64 /* bytes of write buffer per byte of filter */

struct memtable {
    arena arena;              /* owns every node, key and value */
    _Atomic uint64_t *filter; /* filter_lines lines of 8 words; NULL: no filter */
    size_t filter_lines;
    struct mt_node *head;     /* a sentinel of MT_MAX_HEIGHT levels, before every entry */
    atomic_int max_height;    /* levels in use (1..MT_MAX_HEIGHT); set by the writer */
    uint64_t rng;             /* the writer's xorshift state for node heights */
    atomic_int refs;          /* references; the last unref frees */
    atomic_size_t count;      /* entries; released after min/max_seq are updated */
    _Atomic uint64_t min_seq; /* smallest seq added (UINT64_MAX when empty) */
    _Atomic uint64_t max_seq; /* largest seq added */
};

/* A search target given in parts, so that get needs no buffer for its
 * lookup key. */
typedef struct target {
    const uint8_t *ukey; /* user key (NULL allowed when ulen is 0) */
    size_t ulen;
    uint64_t trailer; /* (seq << 8) | type */
} target;

/* ---- entries ------------------------------------------------------------ */

/* Reads one of our own varint lengths (always well formed: we wrote it). */
static const uint8_t *get_len(const uint8_t *p, size_t *len) {
    uint64_t v = 0;
    p = get_varint(p, p + 10, &v, 10);
    assert(p != NULL);
    *len = (size_t)v;
    return p;
}

static const uint8_t *node_ikey(const struct mt_node *n, size_t *len) {
    return get_len(n->entry, len);
}

static const uint8_t *node_value(const struct mt_node *n, size_t *len) {
    size_t klen;
    const uint8_t *k = get_len(n->entry, &klen);
    return get_len(k + klen, len);
}

/* ikey_cmp(node's key, target) */
static int node_cmp(const struct mt_node *n, const target *t) {
    size_t len;
    const uint8_t *k = node_ikey(n, &len);
    return ikey_cmp_parts(k, len, t->ukey, t->ulen, t->trailer);
}

static target node_target(const struct mt_node *n) {
    size_t len;
    const uint8_t *k = node_ikey(n, &len);
    return (target){k, len - IKEY_TRAILER_SIZE, ikey_trailer(k, len)};
}

/* ---- links -------------------------------------------------------------- */

static struct mt_node *next_acq(const struct mt_node *n, int level) {
    return atomic_load_explicit((_Atomic(struct mt_node *) *)&n->next[level], memory_order_acquire);
}

static int height_acq(const memtable *m) {
    return atomic_load_explicit((atomic_int *)&m->max_height, memory_order_acquire);
}

/* The first node >= t (NULL if none). With prev, also each level's last node
 * < t: where a new node for t is linked in. */
static struct mt_node *find_ge(const memtable *m, const target *t,
                               struct mt_node *prev[MT_MAX_HEIGHT]) {
    struct mt_node *x = m->head;
    int level = height_acq(m) - 1;
    for (;;) {
        struct mt_node *next = next_acq(x, level);
        if (next && node_cmp(next, t) < 0) {
            x = next; /* still before t: go right */
        } else {
            if (prev) prev[level] = x;
            if (level == 0) return next;
            level--;
        }
    }
}

/* The last node < t, or the head if none. */
static const struct mt_node *find_lt(const memtable *m, const target *t) {
    const struct mt_node *x = m->head;
    int level = height_acq(m) - 1;
    for (;;) {
        const struct mt_node *next = next_acq(x, level);
        if (next && node_cmp(next, t) < 0) {
            x = next;
        } else {
            if (level == 0) return x;
            level--;
        }
    }
}

/* The last node, or the head if empty. */
static const struct mt_node *find_last(const memtable *m) {
    const struct mt_node *x = m->head;
    int level = height_acq(m) - 1;
    for (;;) {
        const struct mt_node *next = next_acq(x, level);
        if (next) {
            x = next;
        } else {
            if (level == 0) return x;
            level--;
        }
    }
}

static int random_height(memtable *m) {
    uint64_t x = m->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    m->rng = x;
    uint64_t r = (x * 0x2545F4914F6CDD1Dull) >> 32; /* the high bits are the good ones */
    int h = 1;
    while (h < MT_MAX_HEIGHT && r % MT_BRANCHING == 0) {
        h++;
        r /= MT_BRANCHING;
    }
    return h;
}

/* ---- the key filter ------------------------------------------------------ */

/* A user key's line (the high half of its hash, scaled to the line count
 * without a division) and the mixed hash whose top bits give the probes. */
static _Atomic uint64_t *filter_line(const memtable *m, const void *key, size_t klen, uint64_t *mix) {
    uint64_t h = bloom_hash(key, klen);
    *mix = h * 0x9E3779B97F4A7C15ull; /* the top bits depend on every bit of h */
    return m->filter + (size_t)(((h >> 32) * m->filter_lines) >> 32) * (MT_FILTER_LINE_BITS / 64);
}

/* The probe i's bit in a line: 9 bits of the mixed hash each. */
#define FILTER_BIT(mix, i) ((unsigned)((mix) >> (64 - 9 * ((i) + 1))) & (MT_FILTER_LINE_BITS - 1))

/* Sets a key's bits. Only the writer calls it (adds are serialized), so a
 * relaxed load and store suffice: no two threads ever store into one word.
 * Readers learn of the entry through the release that publishes its node (or
 * the DB's sequence), which orders these stores before it. */
static void filter_add(memtable *m, const void *key, size_t klen) {
    uint64_t mix;
    _Atomic uint64_t *line = filter_line(m, key, klen, &mix);
    for (int i = 0; i < MT_FILTER_PROBES; i++) {
        unsigned b = FILTER_BIT(mix, i);
        uint64_t w = atomic_load_explicit(&line[b >> 6], memory_order_relaxed);
        atomic_store_explicit(&line[b >> 6], w | (1ull << (b & 63)), memory_order_relaxed);
    }
}

int memtable_may_contain(const memtable *m, const void *key, size_t klen) {
    if (!m->filter) return 1;
    uint64_t mix;
    _Atomic uint64_t *line = filter_line(m, key, klen, &mix);
    for (int i = 0; i < MT_FILTER_PROBES; i++) {
        unsigned b = FILTER_BIT(mix, i);
        if (!(atomic_load_explicit(&line[b >> 6], memory_order_relaxed) & (1ull << (b & 63))))
            return 0;
    }
    return 1;
}

/* ---- the table ---------------------------------------------------------- */

int memtable_new(memtable **out, size_t buffer_bytes) {
    *out = NULL;
    memtable *m = lm_malloc(sizeof *m);
    if (!m) return st_error(LSMLOG_E_NOMEM, "memtable: out of memory");
    arena_init(&m->arena);
    m->filter = NULL;
    m->filter_lines = 0;
    if (buffer_bytes) {
        size_t bytes = buffer_bytes / MT_FILTER_RATIO, line = MT_FILTER_LINE_BITS / 8;
        m->filter_lines = bytes / line ? bytes / line : 1;
        if (m->filter_lines > UINT32_MAX) m->filter_lines = UINT32_MAX;
        m->filter = lm_calloc(m->filter_lines, line);
    }
    m->head = arena_alloc_aligned(&m->arena, NODE_SIZE(MT_MAX_HEIGHT));
    if (!m->head || (buffer_bytes && !m->filter)) {
        arena_destroy(&m->arena);
        lm_free((void *)m->filter);
        lm_free(m);
        return st_error(LSMLOG_E_NOMEM, "memtable: out of memory");
    }
    m->head->entry = NULL;
    for (int i = 0; i < MT_MAX_HEIGHT; i++)
        atomic_init(&m->head->next[i], NULL);
    atomic_init(&m->max_height, 1);
    m->rng = MT_RNG_SEED;
    atomic_init(&m->refs, 1);
    atomic_init(&m->count, 0);
    atomic_init(&m->min_seq, UINT64_MAX);
    atomic_init(&m->max_seq, 0);
    *out = m;
    return LSMLOG_OK;
}

void memtable_ref(memtable *m) {
    /* relaxed: the caller already holds a reference, so m cannot die here */
    int old = atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    assert(old > 0);
    (void)old;
}

void memtable_unref(memtable *m) {
    if (!m) return;
    /* acq_rel: every holder's reads happen before the free by the last one */
    int old = atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel);
    assert(old > 0);
    if (old == 1) {
        arena_destroy(&m->arena);
        lm_free((void *)m->filter);
        lm_free(m);
    }
}

/* a + b into *sum; 0 on overflow. */
static int add_size(size_t a, size_t b, size_t *sum) {
    if (a > SIZE_MAX - b) return 0;
    *sum = a + b;
    return 1;
}

int memtable_add(memtable *m, uint64_t seq, int type, const void *key, size_t klen, const void *val,
                 size_t vlen) {
    if (type < 0 || type > KT_MAX)
        return st_error(LSMLOG_E_INVALID, "memtable: unknown entry type %d", type);
    if (seq > MAX_SEQ)
        return st_error(LSMLOG_E_INVALID, "memtable: seq %llu above the 56-bit maximum",
                        (unsigned long long)seq);
    /* iklen: the internal key; entry: its encoding with the value; total: with
     * the largest node, computed only to refuse sizes that would wrap around */
    size_t iklen, entry, total;
    if (!add_size(klen, IKEY_TRAILER_SIZE, &iklen) ||
        !add_size((size_t)varint_len(iklen) + (size_t)varint_len(vlen), iklen, &entry) ||
        !add_size(entry, vlen, &entry) || !add_size(entry, NODE_SIZE(MT_MAX_HEIGHT), &total))
        return st_error(LSMLOG_E_INVALID, "memtable: entry of %zu + %zu bytes too large", klen,
                        vlen);

    target t = {key, klen, ikey_pack(seq, type)};
    struct mt_node *prev[MT_MAX_HEIGHT];
    struct mt_node *x = find_ge(m, &t, prev);
    /* Equal internal keys would make get and the flush ambiguous; the DB never
     * reuses a seq, so this is a caller's bug, refused before any change. */
    if (x && node_cmp(x, &t) == 0)
        return st_error(LSMLOG_E_INVALID, "memtable: entry with seq %llu type %d already present",
                        (unsigned long long)seq, type);

    uint64_t rng_before = m->rng;
    int h = random_height(m);
    struct mt_node *n = arena_alloc_aligned(&m->arena, NODE_SIZE(h) + entry);
    if (!n) {
        m->rng = rng_before; /* unchanged, as promised: the next add gets this height */
        return st_error(LSMLOG_E_NOMEM, "memtable: cannot allocate an entry of %zu bytes", entry);
    }

    if (m->filter) filter_add(m, key, klen);
    uint8_t *p = (uint8_t *)&n->next[h];
    n->entry = p;
    p = put_varint(p, iklen);
    if (klen) memcpy(p, key, klen);
    ikey_put_trailer(p + klen, seq, type);
    p = put_varint(p + iklen, vlen);
    if (vlen) memcpy(p, val, vlen);

    int maxh = atomic_load_explicit(&m->max_height, memory_order_relaxed); /* we set it */
    if (h > maxh) {
        for (int i = maxh; i < h; i++)
            prev[i] = m->head;
        atomic_store_explicit(&m->max_height, h, memory_order_release);
    }
    for (int i = 0; i < h; i++) {
        /* n is unpublished, so a relaxed store suffices for its own links; the
         * release store into prev publishes n together with its entry. Level 0
         * first: a reader that finds n at a level above finds it below too. */
        struct mt_node *succ = atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed);
        atomic_store_explicit(&n->next[i], succ, memory_order_relaxed);
        atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
    }

    if (seq < atomic_load_explicit(&m->min_seq, memory_order_relaxed))
        atomic_store_explicit(&m->min_seq, seq, memory_order_relaxed);
    if (seq > atomic_load_explicit(&m->max_seq, memory_order_relaxed))
        atomic_store_explicit(&m->max_seq, seq, memory_order_relaxed);
    /* release: a reader that sees the count sees the seq range that goes with it */
    atomic_fetch_add_explicit(&m->count, 1, memory_order_release);
    return LSMLOG_OK;
}

int memtable_get(memtable *m, const void *key, size_t klen, uint64_t snapshot_seq, int *type,
                 const void **val, size_t *vlen) {
    if (!memtable_may_contain(m, key, klen)) return LSMLOG_NOTFOUND;
    target t = {key, klen, ikey_lookup_trailer(snapshot_seq)};
    const struct mt_node *x = find_ge(m, &t, NULL);
    if (!x) return LSMLOG_NOTFOUND;
    size_t iklen;
    const uint8_t *ik = node_ikey(x, &iklen);
    /* x is the first entry at or after (key, snapshot): the newest visible one
     * if it is of this user key at all */
    if (ukey_cmp(ik, iklen - IKEY_TRAILER_SIZE, key, klen) != 0) return LSMLOG_NOTFOUND;
    int tp;
    ikey_unpack(ikey_trailer(ik, iklen), NULL, &tp);
    size_t vl;
    const uint8_t *v = node_value(x, &vl);
    if (type) *type = tp;
    if (val) *val = v;
    if (vlen) *vlen = vl;
    return LSMLOG_OK;
}

size_t memtable_bytes(const memtable *m) {
    return arena_memory_usage(&m->arena) + m->filter_lines * (MT_FILTER_LINE_BITS / 8);
}

size_t memtable_data_bytes(const memtable *m) {
    return arena_allocated(&m->arena);
}

size_t memtable_count(const memtable *m) {
    return atomic_load_explicit((atomic_size_t *)&m->count, memory_order_acquire);
}

int memtable_seq_range(const memtable *m, uint64_t *smallest, uint64_t *largest) {
    if (memtable_count(m) == 0) return LSMLOG_NOTFOUND;
    memtable *mm = (memtable *)m; /* atomic loads through a non-const pointer */
    if (smallest) *smallest = atomic_load_explicit(&mm->min_seq, memory_order_relaxed);
    if (largest) *largest = atomic_load_explicit(&mm->max_seq, memory_order_relaxed);
    return LSMLOG_OK;
}

/* ---- iterator ----------------------------------------------------------- */

void memtable_iter_init(memtable_iter *it, memtable *m) {
    memtable_ref(m);
    it->m = m;
    it->node = NULL;
}

void memtable_iter_done(memtable_iter *it) {
    memtable_unref(it->m);
    it->m = NULL;
    it->node = NULL;
}

int memtable_iter_valid(const memtable_iter *it) {
    return it->node != NULL;
}

void memtable_iter_seek_to_first(memtable_iter *it) {
    it->node = next_acq(it->m->head, 0);
}

void memtable_iter_seek_to_last(memtable_iter *it) {
    const struct mt_node *x = find_last(it->m);
    it->node = x == it->m->head ? NULL : x;
}

void memtable_iter_seek(memtable_iter *it, const uint8_t *ikey, size_t len) {
    assert(len >= IKEY_TRAILER_SIZE);
    target t = {ikey, len - IKEY_TRAILER_SIZE, ikey_trailer(ikey, len)};
    it->node = find_ge(it->m, &t, NULL);
}

void memtable_iter_next(memtable_iter *it) {
    assert(it->node);
    it->node = next_acq(it->node, 0);
}

void memtable_iter_prev(memtable_iter *it) {
    assert(it->node);
    /* No back links (they could not be published atomically with the forward
     * ones): search for the last node before this one instead. */
    target t = node_target(it->node);
    const struct mt_node *x = find_lt(it->m, &t);
    it->node = x == it->m->head ? NULL : x;
}

const uint8_t *memtable_iter_key(const memtable_iter *it, size_t *len) {
    assert(it->node);
    return node_ikey(it->node, len);
}

const uint8_t *memtable_iter_value(const memtable_iter *it, size_t *len) {
    assert(it->node);
    return node_value(it->node, len);
}
