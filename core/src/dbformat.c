/* dbformat.c — comparing an internal key with one given in parts (dbformat.h). */
#include "dbformat.h"

#include <string.h>

int ikey_cmp_parts(const uint8_t *a, size_t alen, const uint8_t *ukey, size_t ulen,
                   uint64_t trailer) {
    assert(alen >= IKEY_TRAILER_SIZE);
    int r = ukey_cmp(a, alen - IKEY_TRAILER_SIZE, ukey, ulen);
    if (r) return r;
    return ikey_trailer_cmp(ikey_trailer(a, alen), trailer);
}
