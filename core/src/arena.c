/* arena.c — the bump allocator (arena.h), after LevelDB's util/arena.cc. */
#include "arena.h"

#include <assert.h>
#include <stddef.h>

#include "alloc.h"

/* A block from the system: this header, then the memory handed out. */
struct arena_block {
    struct arena_block *next; /* the block allocated before this one */
};

/* The header rounded up so that every block's memory starts at malloc's
 * alignment, which is what arena_alloc_aligned's fresh blocks rely on. */
#define BLOCK_HDR                                                                                  \
    ((sizeof(struct arena_block) + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1))

_Static_assert((ARENA_ALIGN & (ARENA_ALIGN - 1)) == 0, "ARENA_ALIGN must be a power of 2");
_Static_assert(ARENA_ALIGN <= _Alignof(max_align_t), "fresh blocks must be ARENA_ALIGN-aligned");

void arena_init(arena *a) {
    a->ptr = NULL;
    a->left = 0;
    a->blocks = NULL;
    atomic_init(&a->usage, 0);
    atomic_init(&a->allocated, 0);
}

void arena_destroy(arena *a) {
    struct arena_block *b = a->blocks;
    while (b) {
        struct arena_block *next = b->next;
        lm_free(b);
        b = next;
    }
    arena_init(a);
}

/* A new block with `size` usable bytes, linked into the arena; NULL (and
 * nothing changed) when the system says no. */
static uint8_t *new_block(arena *a, size_t size) {
    if (size > SIZE_MAX - BLOCK_HDR) return NULL;
    struct arena_block *b = lm_malloc(BLOCK_HDR + size);
    if (!b) return NULL;
    b->next = a->blocks;
    a->blocks = b;
    atomic_fetch_add_explicit(&a->usage, BLOCK_HDR + size, memory_order_relaxed);
    return (uint8_t *)b + BLOCK_HDR;
}

/* The current block cannot hold n bytes. */
static void *alloc_fallback(arena *a, size_t n) {
    if (n > ARENA_BLOCK_SIZE / 4) {
        /* A block of its own: the current block keeps its free space for the
         * small requests that follow, and a big value wastes nothing. */
        return new_block(a, n);
    }
    /* Start a new current block. The old one's free tail (less than n, so
     * under a quarter block, and usually a few bytes) is wasted. */
    uint8_t *p = new_block(a, ARENA_BLOCK_SIZE);
    if (!p) return NULL;
    a->ptr = p + n;
    a->left = ARENA_BLOCK_SIZE - n;
    return p;
}

static void count(arena *a, size_t n) {
    atomic_store_explicit(&a->allocated, atomic_load_explicit(&a->allocated, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

void *arena_alloc(arena *a, size_t n) {
    assert(n > 0);
    if (n <= a->left) {
        uint8_t *p = a->ptr;
        a->ptr += n;
        a->left -= n;
        count(a, n);
        return p;
    }
    uint8_t *p = alloc_fallback(a, n);
    if (p) count(a, n);
    return p;
}

void *arena_alloc_aligned(arena *a, size_t n) {
    assert(n > 0);
    size_t mod = (uintptr_t)a->ptr & (ARENA_ALIGN - 1);
    size_t slop = mod ? ARENA_ALIGN - mod : 0;
    if (n <= a->left && slop <= a->left - n) {
        uint8_t *p = a->ptr + slop;
        a->ptr += n + slop;
        a->left -= n + slop;
        count(a, n + slop);
        return p;
    }
    void *p = alloc_fallback(a, n); /* fresh blocks are max_align_t-aligned */
    if (p) count(a, n);
    assert(((uintptr_t)p & (ARENA_ALIGN - 1)) == 0);
    return p;
}

size_t arena_memory_usage(const arena *a) {
    /* the cast: older compilers refuse an atomic load through a const pointer */
    return atomic_load_explicit((atomic_size_t *)&a->usage, memory_order_relaxed);
}

size_t arena_allocated(const arena *a) {
    return atomic_load_explicit((atomic_size_t *)&a->allocated, memory_order_relaxed);
}
