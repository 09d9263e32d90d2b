/* arena.h — a bump allocator for objects that all die together (a memtable's
 * nodes, keys and values). Memory comes from the system in blocks of
 * ARENA_BLOCK_SIZE; a request larger than a quarter block gets a block of its
 * own, so big values waste nothing and small ones stay packed. Nothing is
 * freed before arena_destroy, which frees everything at once.
 *
 * Thread rules: one thread allocates at a time (the caller serializes);
 * arena_memory_usage may be read from any thread at any time. Memory handed
 * out stays put until arena_destroy, so other threads may read objects that
 * were published to them safely (see memtable.c). */
#ifndef LSMLOG_ARENA_H
#define LSMLOG_ARENA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define ARENA_BLOCK_SIZE 65536

/* arena_alloc_aligned's alignment: enough for pointers and 64-bit integers. */
#define ARENA_ALIGN (sizeof(void *) > 8 ? sizeof(void *) : 8)

struct arena_block;

typedef struct arena {
    uint8_t *ptr;               /* next free byte of the current block */
    size_t left;                /* bytes free after ptr in the current block */
    struct arena_block *blocks; /* every block, newest first; owned */
    atomic_size_t usage;        /* bytes taken from the system, headers included */
    atomic_size_t allocated;    /* bytes handed out (alignment padding included) */
} arena;

/* Makes an empty arena (takes no memory until the first allocation). */
void arena_init(arena *a);

/* Frees every block; every pointer the arena handed out dies. The arena is
 * empty again afterwards (reusable). */
void arena_destroy(arena *a);

/* n > 0 bytes with no alignment promise, owned by the arena. NULL when the
 * system allocator fails (the arena is then unchanged). */
void *arena_alloc(arena *a, size_t n);

/* Like arena_alloc, aligned to ARENA_ALIGN. */
void *arena_alloc_aligned(arena *a, size_t n);

/* Bytes allocated from the system so far (blocks and their headers); any
 * thread, a relaxed read. */
size_t arena_memory_usage(const arena *a);

/* Bytes handed out so far (what the contents take, without the unused rest
 * of the blocks); any thread, a relaxed read. */
size_t arena_allocated(const arena *a);

#endif
