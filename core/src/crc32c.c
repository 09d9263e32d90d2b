/* crc32c.c — CRC32C, hardware or table, chosen at run time. */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t table[8][256];

static void make_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (POLY & (0u - (c & 1)));
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

static uint32_t portable(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
        n--;
    }
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
        lo ^= crc; /* little-endian hosts only; the build targets x86-64 and aarch64 */
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
              table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
              table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

/* The raw CRC register is linear: running it over A then B equals shifting
 * A's register over len(B) zero bytes, xored with B's register from zero. So
 * three streams can run side by side and be joined; a shift over a fixed
 * length is four table look-ups. */
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256
static uint32_t long_shift[4][256], short_shift[4][256];

static uint32_t zeros_raw(uint32_t r, size_t n) {
    while (n--) r = (r >> 8) ^ table[0][r & 0xff];
    return r;
}

static void make_shift(uint32_t t[4][256], size_t len) {
    uint32_t basis[32];
    for (int b = 0; b < 32; b++) basis[b] = zeros_raw(1u << b, len);
    for (int k = 0; k < 4; k++)
        for (uint32_t v = 0; v < 256; v++) {
            uint32_t r = 0;
            for (int b = 0; b < 8; b++)
                if (v & (1u << b)) r ^= basis[8 * k + b];
            t[k][v] = r;
        }
}

static inline uint32_t shift(uint32_t t[4][256], uint32_t r) {
    return t[0][r & 0xff] ^ t[1][(r >> 8) & 0xff] ^ t[2][(r >> 16) & 0xff] ^ t[3][r >> 24];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define HAVE_HW_PATH 1

__attribute__((target("sse4.2"))) static inline uint64_t three_way(uint64_t c0, const uint8_t **pp,
                                                                    size_t block, uint32_t t[4][256]) {
    const uint8_t *p = *pp;
    uint64_t c1 = 0, c2 = 0;
    for (size_t i = 0; i < block; i += 8) {
        uint64_t a, b, c;
        if ((i & 63) == 0) { /* cold data: ask for the next lines of all three streams early */
            __builtin_prefetch(p + i + 1024, 0, 0);
            __builtin_prefetch(p + block + i + 1024, 0, 0);
            __builtin_prefetch(p + 2 * block + i + 1024, 0, 0);
        }
        memcpy(&a, p + i, 8);
        memcpy(&b, p + block + i, 8);
        memcpy(&c, p + 2 * block + i, 8);
        c0 = _mm_crc32_u64(c0, a);
        c1 = _mm_crc32_u64(c1, b);
        c2 = _mm_crc32_u64(c2, c);
    }
    c0 = shift(t, (uint32_t)c0) ^ (uint32_t)c1;
    c0 = shift(t, (uint32_t)c0) ^ (uint32_t)c2;
    *pp = p + 3 * block;
    return c0;
}

__attribute__((target("sse4.2"))) static uint32_t hardware(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
    }
    while (n >= 3 * LONG_BLOCK) {
        c = three_way(c, &p, LONG_BLOCK, long_shift);
        n -= 3 * LONG_BLOCK;
    }
    while (n >= 3 * SHORT_BLOCK) {
        c = three_way(c, &p, SHORT_BLOCK, short_shift);
        n -= 3 * SHORT_BLOCK;
    }
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        n -= 8;
    }
    while (n--) c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
#endif

static uint32_t (*impl)(uint32_t, const uint8_t *, size_t);
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose(void) {
    make_tables();
    make_shift(long_shift, LONG_BLOCK);
    make_shift(short_shift, SHORT_BLOCK);
    impl = portable;
#ifdef HAVE_HW_PATH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) impl = hardware;
#endif
}

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n) {
    pthread_once(&once, choose);
    return impl(crc, data, n);
}

uint32_t crc32c_extend_portable(uint32_t crc, const void *data, size_t n) {
    pthread_once(&once, choose);
    return portable(crc, data, n);
}

int crc32c_hw(void) {
    pthread_once(&once, choose);
    return impl != portable;
}
