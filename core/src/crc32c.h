/* crc32c.h — CRC32C (Castagnoli). Uses the SSE4.2 instruction when the CPU
 * has it and a slicing-by-8 table otherwise, chosen once at run time. */
#ifndef LSMLOG_CRC32C_H
#define LSMLOG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c of data[0..n) appended to the crc of earlier bytes `crc`. */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n);

static inline uint32_t crc32c_value(const void *data, size_t n) { return crc32c_extend(0, data, n); }

/* The portable implementation, exposed for tests that compare both. */
uint32_t crc32c_extend_portable(uint32_t crc, const void *data, size_t n);

/* 1 if the hardware path is in use. */
int crc32c_hw(void);

/* Stored CRCs are masked (as LevelDB does) because a CRC computed over a
 * string that itself contains CRCs is weak. */
#define CRC_MASK_DELTA 0xa282ead8u
static inline uint32_t crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + CRC_MASK_DELTA; }
static inline uint32_t crc32c_unmask(uint32_t m) {
    uint32_t rot = m - CRC_MASK_DELTA;
    return (rot >> 17) | (rot << 15);
}

#endif
