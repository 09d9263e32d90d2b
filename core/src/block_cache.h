/* block_cache.h — an LRU cache of table blocks, shared by every table of a DB,
 * keyed by (file number, block offset), bounded by the bytes its entries are
 * charged.
 *
 * Entries are reference-counted: a lookup or insert returns a handle that pins
 * its entry, and a pinned entry is never freed (evicting or erasing it only
 * takes it out of the cache; it is freed when its last handle is released).
 * Only unpinned entries are evicted, least recently released first, whenever
 * the charges exceed the capacity; so the cache holds at most `capacity`
 * bytes plus what is pinned. Capacity 0 caches nothing beyond the pins.
 *
 * Thread-safe: one mutex guards everything. Its critical sections are a hash
 * probe and a few pointer moves (blocks are read before insert and deleters
 * run after the mutex is dropped), so one lock is enough at our scale;
 * LevelDB shards its cache 16 ways, which we can do later behind this
 * interface.
 *
 * (LevelDB's util/cache.cc.) */
#ifndef LSMLOG_BLOCK_CACHE_H
#define LSMLOG_BLOCK_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct block_cache block_cache;
typedef struct block_cache_handle block_cache_handle;

typedef struct block_cache_stats {
    uint64_t hits;      /* lookups that found their entry */
    uint64_t misses;    /* lookups that did not */
    uint64_t inserts;   /* entries inserted (not counting a lost race, below) */
    uint64_t evictions; /* entries pushed out by capacity */
    uint64_t entries;   /* entries in the cache now (pinned or not) */
    uint64_t usage;     /* sum of their charges */
    uint64_t pinned;    /* charges of the entries in the cache with handles out */
    uint64_t capacity;
} block_cache_stats;

/* Makes a cache of `capacity` bytes; *out is owned, free with
 * block_cache_free. LSMLOG_OK or LSMLOG_E_NOMEM. */
int block_cache_new(size_t capacity, block_cache **out);

/* Frees the cache and every entry (calling their deleters). Every handle must
 * have been released. NULL is a no-op. */
void block_cache_free(block_cache *c);

/* The entry for (file, offset), pinned; NULL if absent (counted as a miss).
 * Release the handle with block_cache_release. */
block_cache_handle *block_cache_lookup(block_cache *c, uint64_t file, uint64_t offset);

/* Inserts `value` for (file, offset), charged `charge` bytes; the cache owns
 * value from now on, in every case, and frees it with deleter(value) when the
 * entry is gone and unpinned. *out receives a handle pinning the entry.
 * If another thread inserted the same key first, its entry is kept and
 * returned instead, and `value` is freed at once: both hold the same block.
 * LSMLOG_OK, or LSMLOG_E_NOMEM (value has then been freed, *out is NULL). */
int block_cache_insert(block_cache *c, uint64_t file, uint64_t offset, void *value, size_t charge,
                       void (*deleter)(void *value), block_cache_handle **out);

/* The value of a pinned entry; valid until its handle is released. */
void *block_cache_value(const block_cache_handle *h);

/* Unpins. The handle must not be used again. NULL is a no-op. */
void block_cache_release(block_cache *c, block_cache_handle *h);

/* Takes every entry of `file` out of the cache (for a deleted table). Pinned
 * ones live on until released. */
void block_cache_erase_file(block_cache *c, uint64_t file);

void block_cache_get_stats(block_cache *c, block_cache_stats *out);

#endif
