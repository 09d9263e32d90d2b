/* alloc.c — allocation hooks. */
#include "alloc.h"
#include "lsmlog.h"

#include <stdlib.h>
#include <string.h>

static alloc_hooks hooks = {malloc, realloc, free};

void alloc_set_hooks(const alloc_hooks *h) {
    if (h) hooks = *h;
    else hooks = (alloc_hooks){malloc, realloc, free};
}

void *lm_malloc(size_t n) { return hooks.malloc_fn(n ? n : 1); }

void *lm_calloc(size_t n, size_t size) {
    if (size && n > (size_t)-1 / size) return NULL;
    void *p = lm_malloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void *lm_realloc(void *p, size_t n) { return hooks.realloc_fn(p, n ? n : 1); }

void lm_free(void *p) {
    if (p) hooks.free_fn(p);
}

char *lm_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = lm_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void lsmlog_free(void *p) { lm_free(p); }
