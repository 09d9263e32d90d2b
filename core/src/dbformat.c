/* dbformat.c — the order of user keys and internal keys (dbformat.h). */
#include "dbformat.h"

#include <string.h>

int ukey_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    /* memcmp with a NULL pointer is undefined even for 0 bytes */
    int r = n ? memcmp(a, b, n) : 0;
    if (r) return r;
    return alen < blen ? -1 : alen > blen;
}

/* Trailers sort descending: the newest seq first, then the largest type. */
static int trailer_cmp(uint64_t ta, uint64_t tb) {
    return ta > tb ? -1 : ta < tb;
}

int ikey_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    assert(alen >= IKEY_TRAILER_SIZE && blen >= IKEY_TRAILER_SIZE);
    int r = ukey_cmp(a, alen - IKEY_TRAILER_SIZE, b, blen - IKEY_TRAILER_SIZE);
    if (r) return r;
    return trailer_cmp(ikey_trailer(a, alen), ikey_trailer(b, blen));
}

int ikey_cmp_parts(const uint8_t *a, size_t alen, const uint8_t *ukey, size_t ulen,
                   uint64_t trailer) {
    assert(alen >= IKEY_TRAILER_SIZE);
    int r = ukey_cmp(a, alen - IKEY_TRAILER_SIZE, ukey, ulen);
    if (r) return r;
    return trailer_cmp(ikey_trailer(a, alen), trailer);
}
