/* alloc.h — every allocation of the core passes through these, so that tests
 * can fail the Nth one (alloc_set_hooks). */
#ifndef LSMLOG_ALLOC_H
#define LSMLOG_ALLOC_H

#include <stddef.h>

void *lm_malloc(size_t n);
void *lm_calloc(size_t n, size_t size);
void *lm_realloc(void *p, size_t n);
void lm_free(void *p);
char *lm_strdup(const char *s);

typedef struct alloc_hooks {
    void *(*malloc_fn)(size_t n);
    void *(*realloc_fn)(void *p, size_t n);
    void (*free_fn)(void *p);
} alloc_hooks;

/* Replaces the allocator (NULL: back to libc). Not thread-safe: call it
 * before any handle exists. */
void alloc_set_hooks(const alloc_hooks *h);

#endif
