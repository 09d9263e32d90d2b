/* block_cache.c — the LRU block cache.
 *
 * Every entry is in at most one of two circular lists, as in LevelDB:
 *   lru:    in the cache, no handles out (refs == 1): evictable, oldest first;
 *   in_use: in the cache, pinned (refs >= 2): never evicted.
 * An entry taken out of the cache while pinned is in neither list and is freed
 * by its last release. refs counts the handles plus one for the cache's own
 * reference while the entry is in the hash table.
 *
 * Deleters run after the mutex is dropped: freeing a large block should not
 * stall other readers. */
#include "block_cache.h"

#include "alloc.h"
#include "lsmlog.h"
#include "status.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>

typedef struct entry {
    uint64_t file, off; /* the key */
    uint32_t hash;      /* of the key */
    void *value;        /* owned; freed by deleter */
    size_t charge;      /* bytes counted against the capacity */
    void (*deleter)(void *value);
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* lru or in_use list */
    uint32_t refs;             /* handles + 1 while in the cache */
    int in_cache;              /* in the hash table (and one of the lists) */
} entry;

struct block_cache {
    pthread_mutex_t mu;
    size_t capacity;
    size_t usage;    /* charges of the entries in the cache */
    entry lru;       /* list head; lru.next is the least recently used */
    entry in_use;    /* list head */
    entry **buckets; /* hash table; nbuckets a power of two */
    size_t nbuckets, count;
    uint64_t hits, misses, inserts, evictions;
};

/* ---- lists and hash table (mutex held) ---------------------------------- */

static void list_remove(entry *e) {
    e->next->prev = e->prev;
    e->prev->next = e->next;
}

/* Appends at the newest end. */
static void list_append(entry *head, entry *e) {
    e->next = head;
    e->prev = head->prev;
    e->prev->next = e;
    e->next->prev = e;
}

static uint32_t key_hash(uint64_t file, uint64_t off) {
    uint64_t z = file * 0x9E3779B97F4A7C15ull ^ (off + 0xBF58476D1CE4E5B9ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)(z ^ (z >> 31));
}

/* The link that points at the entry for the key, or at the NULL ending its
 * chain. */
static entry **find_slot(block_cache *c, uint64_t file, uint64_t off, uint32_t hash) {
    entry **p = &c->buckets[hash & (c->nbuckets - 1)];
    while (*p && ((*p)->hash != hash || (*p)->file != file || (*p)->off != off))
        p = &(*p)->hnext;
    return p;
}

/* Doubles the table when it is fuller than one entry per bucket. If memory is
 * short the chains just grow longer. */
static void maybe_grow(block_cache *c) {
    if (c->count <= c->nbuckets) return;
    size_t n = c->nbuckets * 2;
    entry **nb = lm_calloc(n, sizeof *nb);
    if (!nb) return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        entry *e = c->buckets[i];
        while (e) {
            entry *next = e->hnext;
            entry **slot = &nb[e->hash & (n - 1)];
            e->hnext = *slot;
            *slot = e;
            e = next;
        }
    }
    lm_free(c->buckets);
    c->buckets = nb;
    c->nbuckets = n;
}

/* Drops one reference; an entry whose last reference goes is pushed on
 * *dead, to be freed once the mutex is dropped. */
static void unref(block_cache *c, entry *e, entry **dead) {
    assert(e->refs > 0);
    e->refs--;
    if (e->refs == 0) {
        assert(!e->in_cache);
        e->next = *dead;
        *dead = e;
    } else if (e->in_cache && e->refs == 1) {
        list_remove(e);
        list_append(&c->lru, e);
    }
}

static void ref(block_cache *c, entry *e) {
    if (e->in_cache && e->refs == 1) {
        list_remove(e);
        list_append(&c->in_use, e);
    }
    e->refs++;
}

/* Takes an entry already unlinked from the hash table out of the cache. */
static void finish_erase(block_cache *c, entry *e, entry **dead) {
    assert(e->in_cache);
    e->in_cache = 0;
    list_remove(e);
    c->usage -= e->charge;
    c->count--;
    unref(c, e, dead);
}

static void evict(block_cache *c, entry **dead) {
    while (c->usage > c->capacity && c->lru.next != &c->lru) {
        entry *e = c->lru.next;
        assert(e->refs == 1);
        entry **slot = find_slot(c, e->file, e->off, e->hash);
        assert(*slot == e);
        *slot = e->hnext;
        finish_erase(c, e, dead);
        c->evictions++;
    }
}

static void free_dead(entry *dead) {
    while (dead) {
        entry *next = dead->next;
        if (dead->deleter) dead->deleter(dead->value);
        lm_free(dead);
        dead = next;
    }
}

/* ---- the interface ------------------------------------------------------- */

int block_cache_new(size_t capacity, block_cache **out) {
    block_cache *c = lm_calloc(1, sizeof *c);
    if (!c) return st_error(LSMLOG_E_NOMEM, "out of memory making a block cache");
    c->nbuckets = 64;
    c->buckets = lm_calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        lm_free(c);
        return st_error(LSMLOG_E_NOMEM, "out of memory making a block cache");
    }
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        lm_free(c->buckets);
        lm_free(c);
        return st_error(LSMLOG_E_NOMEM, "cannot make a mutex for the block cache");
    }
    c->capacity = capacity;
    c->lru.next = c->lru.prev = &c->lru;
    c->in_use.next = c->in_use.prev = &c->in_use;
    *out = c;
    return LSMLOG_OK;
}

void block_cache_free(block_cache *c) {
    if (!c) return;
    assert(c->in_use.next == &c->in_use); /* every handle released */
    entry *dead = NULL;
    for (size_t i = 0; i < c->nbuckets; i++) {
        while (c->buckets[i]) {
            entry *e = c->buckets[i];
            c->buckets[i] = e->hnext;
            finish_erase(c, e, &dead);
        }
    }
    free_dead(dead);
    pthread_mutex_destroy(&c->mu);
    lm_free(c->buckets);
    lm_free(c);
}

block_cache_handle *block_cache_lookup(block_cache *c, uint64_t file, uint64_t offset) {
    uint32_t h = key_hash(file, offset);
    pthread_mutex_lock(&c->mu);
    entry *e = *find_slot(c, file, offset, h);
    if (e) {
        ref(c, e);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return (block_cache_handle *)e;
}

int block_cache_insert(block_cache *c, uint64_t file, uint64_t offset, void *value, size_t charge,
                       void (*deleter)(void *value), block_cache_handle **out) {
    *out = NULL;
    entry *e = lm_malloc(sizeof *e);
    if (!e) {
        if (deleter) deleter(value);
        return st_error(LSMLOG_E_NOMEM, "out of memory caching a block");
    }
    e->file = file;
    e->off = offset;
    e->hash = key_hash(file, offset);
    e->value = value;
    e->charge = charge;
    e->deleter = deleter;
    e->hnext = NULL;
    entry *dead = NULL;
    pthread_mutex_lock(&c->mu);
    entry **slot = find_slot(c, file, offset, e->hash);
    if (*slot) {
        /* Two readers missed on the same block and both read it: keep the
         * first, so that every pin refers to one copy. */
        entry *old = *slot;
        ref(c, old);
        e->next = dead;
        dead = e;
        e = old;
    } else {
        e->refs = 2; /* the cache's and the caller's */
        e->in_cache = 1;
        list_append(&c->in_use, e);
        *slot = e;
        c->usage += charge;
        c->count++;
        c->inserts++;
        maybe_grow(c);
        evict(c, &dead);
    }
    pthread_mutex_unlock(&c->mu);
    free_dead(dead);
    *out = (block_cache_handle *)e;
    return LSMLOG_OK;
}

void *block_cache_value(const block_cache_handle *h) {
    return ((const entry *)h)->value;
}

void block_cache_release(block_cache *c, block_cache_handle *h) {
    if (!h) return;
    entry *dead = NULL;
    pthread_mutex_lock(&c->mu);
    unref(c, (entry *)h, &dead);
    evict(c, &dead);
    pthread_mutex_unlock(&c->mu);
    free_dead(dead);
}

void block_cache_erase_file(block_cache *c, uint64_t file) {
    entry *dead = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nbuckets; i++) {
        entry **p = &c->buckets[i];
        while (*p) {
            entry *e = *p;
            if (e->file == file) {
                *p = e->hnext;
                finish_erase(c, e, &dead);
            } else {
                p = &e->hnext;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    free_dead(dead);
}

void block_cache_get_stats(block_cache *c, block_cache_stats *out) {
    pthread_mutex_lock(&c->mu);
    out->hits = c->hits;
    out->misses = c->misses;
    out->inserts = c->inserts;
    out->evictions = c->evictions;
    out->entries = c->count;
    out->usage = c->usage;
    out->capacity = c->capacity;
    uint64_t pinned = 0;
    for (entry *e = c->in_use.next; e != &c->in_use; e = e->next)
        pinned += e->charge;
    out->pinned = pinned;
    pthread_mutex_unlock(&c->mu);
}
