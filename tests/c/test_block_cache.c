/* test_block_cache.c — the LRU block cache: hits and misses, the capacity
 * bound, least-recently-used order, pinned entries that outlive eviction and
 * erasure, every value freed exactly once, and many threads at once.
 *
 * Values are counted objects: the deleter marks them dead, so a value freed
 * twice, freed while pinned, or never freed is caught (with ASan and LSan). */
#include "alloc.h"
#include "block_cache.h"
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct val {
    uint64_t file, off; /* the key it was inserted under */
    int alive;
} val;

static atomic_long live; /* values made and not yet deleted */

static val *mk(uint64_t file, uint64_t off) {
    val *v = malloc(sizeof *v);
    v->file = file;
    v->off = off;
    v->alive = 1;
    atomic_fetch_add(&live, 1);
    return v;
}

/* CHECK for worker threads: the harness's check counter is not atomic. */
#define TCHECK(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) tu_fail(__FILE__, __LINE__, #c, "in a worker thread");                           \
    } while (0)

static void del(void *p) {
    val *v = p;
    TCHECK(v->alive == 1); /* never twice */
    v->alive = 0;
    atomic_fetch_sub(&live, 1);
    free(v);
}

static block_cache_handle *ins(block_cache *c, uint64_t file, uint64_t off, size_t charge) {
    block_cache_handle *h = NULL;
    CHECK_OK(block_cache_insert(c, file, off, mk(file, off), charge, del, &h));
    CHECK(h != NULL);
    val *v = block_cache_value(h);
    CHECK(v->alive && v->file == file && v->off == off);
    return h;
}

static int present(block_cache *c, uint64_t file, uint64_t off) {
    block_cache_handle *h = block_cache_lookup(c, file, off);
    if (!h) return 0;
    val *v = block_cache_value(h);
    CHECK(v->alive && v->file == file && v->off == off);
    block_cache_release(c, h);
    return 1;
}

static block_cache_stats stats(block_cache *c) {
    block_cache_stats s;
    block_cache_get_stats(c, &s);
    return s;
}

static void hits_and_misses(void) {
    block_cache *c;
    CHECK_OK(block_cache_new(1000, &c));
    CHECK(block_cache_lookup(c, 1, 0) == NULL);
    block_cache_release(c, ins(c, 1, 0, 10));
    block_cache_release(c, ins(c, 1, 4096, 10));
    block_cache_release(c, ins(c, 2, 0, 10)); /* same offset, other file */
    CHECK(present(c, 1, 0) && present(c, 1, 4096) && present(c, 2, 0));
    CHECK(!present(c, 2, 4096) && !present(c, 3, 0));
    block_cache_stats s = stats(c);
    CHECK_EQ_U64(s.hits, 3);
    CHECK_EQ_U64(s.misses, 3);
    CHECK_EQ_U64(s.inserts, 3);
    CHECK_EQ_U64(s.entries, 3);
    CHECK_EQ_U64(s.usage, 30);
    CHECK_EQ_U64(s.pinned, 0);
    CHECK_EQ_U64(s.capacity, 1000);
    block_cache_release(c, NULL); /* a no-op */
    block_cache_free(c);
    CHECK_EQ_INT(atomic_load(&live), 0);
    block_cache_free(NULL);
}

/* Unpinned, the charges never exceed the capacity; many sizes. */
static void capacity_bound(void) {
    block_cache *c;
    CHECK_OK(block_cache_new(10000, &c));
    for (int i = 0; i < 5000; i++) {
        size_t charge = 1 + (size_t)tu_rand_below(900);
        block_cache_release(c, ins(c, tu_rand_below(8), tu_rand_below(2000) * 4096, charge));
        block_cache_stats s = stats(c);
        CHECKF(s.usage <= s.capacity, "usage %llu over capacity", (unsigned long long)s.usage);
        CHECK_EQ_U64(s.pinned, 0);
        CHECK_EQ_U64((uint64_t)atomic_load(&live), s.entries);
    }
    CHECK(stats(c).evictions > 0);
    block_cache_free(c);
    CHECK_EQ_INT(atomic_load(&live), 0);
}

/* Least recently used goes first; a lookup makes an entry recent again. */
static void lru_order(void) {
    block_cache *c;
    CHECK_OK(block_cache_new(10, &c));
    for (uint64_t i = 0; i < 10; i++)
        block_cache_release(c, ins(c, 1, i, 1));
    CHECK(present(c, 1, 0)); /* 0 is now the most recent; 1 the least */
    block_cache_release(c, ins(c, 1, 10, 1));
    CHECK(!present(c, 1, 1));
    CHECK(present(c, 1, 0));
    block_cache_release(c, ins(c, 1, 11, 2)); /* pushes out the two oldest: 2 and 3 */
    CHECK(!present(c, 1, 2) && !present(c, 1, 3));
    for (uint64_t i = 4; i < 12; i++)
        CHECK(present(c, 1, i));
    CHECK(present(c, 1, 0));
    CHECK_EQ_U64(stats(c).usage, 10);
    CHECK_EQ_U64(stats(c).evictions, 3);
    /* One entry larger than the whole cache: held while pinned, then gone,
     * taking nothing else with it until it is released. */
    block_cache_handle *big = ins(c, 2, 0, 50);
    CHECK(present(c, 2, 0));
    block_cache_stats s = stats(c);
    CHECK_EQ_U64(s.pinned, 50);
    CHECK_EQ_U64(s.usage, 50); /* everything unpinned made room */
    block_cache_release(c, big);
    CHECK(!present(c, 2, 0));
    CHECK_EQ_U64(stats(c).usage, 0);
    block_cache_free(c);
    CHECK_EQ_INT(atomic_load(&live), 0);
}

/* A pinned entry is never freed: not by eviction, not by erase_file. */
static void pinned_survive(void) {
    block_cache *c;
    CHECK_OK(block_cache_new(100, &c));
    block_cache_handle *a = ins(c, 1, 0, 10);
    block_cache_handle *a2 = block_cache_lookup(c, 1, 0); /* pinned twice */
    CHECK(a2 == a);
    for (uint64_t i = 1; i < 1000; i++)
        block_cache_release(c, ins(c, 1, i * 4096, 10));
    val *v = block_cache_value(a);
    CHECK(v->alive && v->off == 0);
    CHECK(present(c, 1, 0)); /* still in the cache: pinned entries are not evicted */
    block_cache_stats s = stats(c);
    CHECK(s.usage <= s.capacity);
    CHECK_EQ_U64(s.pinned, 10);

    block_cache_erase_file(c, 1);
    CHECK_EQ_U64(stats(c).entries, 0);
    CHECK_EQ_U64(stats(c).usage, 0);
    CHECK(!present(c, 1, 0)); /* out of the cache ... */
    CHECK(v->alive);          /* ... but alive while pinned */
    CHECK_EQ_INT(atomic_load(&live), 1);
    block_cache_release(c, a);
    CHECK(v->alive);
    CHECK_EQ_INT(atomic_load(&live), 1);
    block_cache_release(c, a2); /* the last pin: now freed */
    CHECK_EQ_INT(atomic_load(&live), 0);
    block_cache_free(c);
}

static void erase_file(void) {
    block_cache *c;
    CHECK_OK(block_cache_new(1 << 20, &c));
    for (uint64_t f = 1; f <= 5; f++)
        for (uint64_t o = 0; o < 200; o++)
            block_cache_release(c, ins(c, f, o * 100, 7));
    block_cache_erase_file(c, 3);
    block_cache_erase_file(c, 99); /* nothing to do */
    for (uint64_t f = 1; f <= 5; f++)
        for (uint64_t o = 0; o < 200; o += 13)
            CHECK_EQ_INT(present(c, f, o * 100), f != 3);
    CHECK_EQ_U64(stats(c).entries, 800);
    CHECK_EQ_U64(stats(c).usage, 800 * 7);
    CHECK_EQ_INT(atomic_load(&live), 800);
    /* A table of the same number, read again, caches again. */
    block_cache_release(c, ins(c, 3, 0, 7));
    CHECK(present(c, 3, 0));
    block_cache_free(c);
    CHECK_EQ_INT(atomic_load(&live), 0);
}

/* Two readers that both missed insert the same block: the first copy wins,
 * the second is freed at once, and both handles see the first. */
static void duplicate_insert(void) {
    block_cache *c;
    CHECK_OK(block_cache_new(100, &c));
    block_cache_handle *h1 = ins(c, 1, 0, 10);
    val *first = block_cache_value(h1);
    block_cache_handle *h2;
    CHECK_OK(block_cache_insert(c, 1, 0, mk(1, 0), 10, del, &h2));
    CHECK(block_cache_value(h2) == first);
    CHECK_EQ_INT(atomic_load(&live), 1);
    CHECK_EQ_U64(stats(c).entries, 1);
    CHECK_EQ_U64(stats(c).usage, 10);
    CHECK_EQ_U64(stats(c).inserts, 1);
    block_cache_release(c, h1);
    block_cache_release(c, h2);
    CHECK(present(c, 1, 0));
    block_cache_free(c);
    CHECK_EQ_INT(atomic_load(&live), 0);
}

/* Capacity 0: nothing stays once released; pins still work. */
static void zero_capacity(void) {
    block_cache *c;
    CHECK_OK(block_cache_new(0, &c));
    block_cache_handle *h = ins(c, 1, 0, 10);
    CHECK(present(c, 1, 0));
    block_cache_release(c, h);
    CHECK(!present(c, 1, 0));
    CHECK_EQ_INT(atomic_load(&live), 0);
    CHECK_EQ_U64(stats(c).usage, 0);
    block_cache_free(c);
}

static long alloc_left = -1;

static void *failing_malloc(size_t n) {
    if (alloc_left >= 0 && alloc_left-- == 0) return NULL;
    return malloc(n);
}

static void *failing_realloc(void *p, size_t n) {
    if (alloc_left >= 0 && alloc_left-- == 0) return NULL;
    return realloc(p, n);
}

/* Out of memory: new fails cleanly; insert frees the value and says so; a
 * failed table growth only makes chains longer. */
static void out_of_memory(void) {
    alloc_hooks hooks = {failing_malloc, failing_realloc, free};
    block_cache *c;
    for (long n = 0; n < 2; n++) {
        alloc_set_hooks(&hooks);
        alloc_left = n;
        CHECK_EQ_INT(block_cache_new(100, &c), LSMLOG_E_NOMEM);
        alloc_left = -1;
        alloc_set_hooks(NULL);
    }
    CHECK_OK(block_cache_new(1 << 20, &c));
    alloc_set_hooks(&hooks);
    alloc_left = 0;
    block_cache_handle *h = (block_cache_handle *)1;
    CHECK_EQ_INT(block_cache_insert(c, 1, 0, mk(1, 0), 10, del, &h), LSMLOG_E_NOMEM);
    CHECK(h == NULL);
    CHECK_EQ_INT(atomic_load(&live), 0);
    /* Fail every table growth (the calloc of a bigger bucket array). */
    for (uint64_t i = 0; i < 300; i++) {
        alloc_left = 1; /* the entry succeeds, the growth (if any) fails */
        block_cache_release(c, ins(c, 1, i, 1));
    }
    alloc_left = -1;
    alloc_set_hooks(NULL);
    for (uint64_t i = 0; i < 300; i++)
        CHECK(present(c, 1, i));
    block_cache_free(c);
    CHECK_EQ_INT(atomic_load(&live), 0);
}

typedef struct targ {
    block_cache *c;
    uint64_t seed;
} targ;

static void *worker(void *p) {
    targ *a = p;
    uint64_t st = a->seed;
    block_cache_handle *held[8] = {0};
    for (int i = 0; i < 40000; i++) {
        uint64_t r = tu_splitmix64(&st);
        uint64_t file = r % 4, off = (r >> 8) % 300;
        int slot = (int)((r >> 20) % 8);
        if (held[slot]) {
            val *v = block_cache_value(held[slot]);
            TCHECK(v->alive);
            block_cache_release(a->c, held[slot]);
            held[slot] = NULL;
        }
        block_cache_handle *h = block_cache_lookup(a->c, file, off);
        if (!h)
            TCHECK(block_cache_insert(a->c, file, off, mk(file, off), 1 + (r >> 40) % 64, del,
                                      &h) == 0);
        val *v = block_cache_value(h);
        TCHECK(v->alive && v->file == file && v->off == off);
        if ((r >> 30) % 4 == 0)
            held[slot] = h; /* keep it pinned for a while */
        else
            block_cache_release(a->c, h);
        if ((r >> 50) % 5000 == 0) block_cache_erase_file(a->c, file);
    }
    for (int s = 0; s < 8; s++)
        block_cache_release(a->c, held[s]);
    return NULL;
}

static void threads(void) {
    block_cache *c;
    CHECK_OK(block_cache_new(16384, &c));
    pthread_t th[4];
    targ args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (targ){c, tu_hash2(tu_seed, (uint64_t)i)};
        CHECK(pthread_create(&th[i], NULL, worker, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    block_cache_stats s = stats(c);
    CHECK(s.usage <= s.capacity);
    CHECK_EQ_U64(s.pinned, 0);
    CHECK_EQ_U64((uint64_t)atomic_load(&live), s.entries);
    printf("  4 threads: %llu hits, %llu misses, %llu evictions\n", (unsigned long long)s.hits,
           (unsigned long long)s.misses, (unsigned long long)s.evictions);
    block_cache_free(c);
    CHECK_EQ_INT(atomic_load(&live), 0);
}

int main(void) {
    tu_init("test_block_cache");
    TU_CASE(hits_and_misses);
    TU_CASE(capacity_bound);
    TU_CASE(lru_order);
    TU_CASE(pinned_survive);
    TU_CASE(erase_file);
    TU_CASE(duplicate_insert);
    TU_CASE(zero_capacity);
    TU_CASE(out_of_memory);
    TU_CASE(threads);
    return tu_finish();
}
