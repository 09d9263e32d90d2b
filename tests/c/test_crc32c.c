/* Unit tests of crc32c.c: known vectors (RFC 3720), the hardware and table
 * paths agree on random data at every length and alignment, extend composes,
 * and masking round-trips. */
#include "crc32c.h"
#include "test_util.h"

static void known_vectors(void) {
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    CHECK_EQ_U64(crc32c_value(buf, 32), 0x8a9136aau);
    memset(buf, 0xff, sizeof buf);
    CHECK_EQ_U64(crc32c_value(buf, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    CHECK_EQ_U64(crc32c_value(buf, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)(31 - i);
    CHECK_EQ_U64(crc32c_value(buf, 32), 0x113fdb5cu);
    CHECK_EQ_U64(crc32c_value("123456789", 9), 0xe3069283u);
    CHECK_EQ_U64(crc32c_value("", 0), 0);
}

static void paths_agree(void) {
    static uint8_t buf[4096 + 16];
    uint64_t st = tu_rand();
    tu_fill_random(&st, buf, sizeof buf);
    for (size_t align = 0; align < 8; align++)
        for (size_t n = 0; n <= 600; n++)
            CHECK_EQ_U64(crc32c_extend(7, buf + align, n), crc32c_extend_portable(7, buf + align, n));
    CHECK_EQ_U64(crc32c_value(buf, 4096), crc32c_extend_portable(0, buf, 4096));
    /* long inputs take the three-stream path, joined by shift tables */
    static uint8_t big[100000 + 8];
    tu_fill_random(&st, big, sizeof big);
    for (int i = 0; i < 300; i++) {
        size_t n = (size_t)tu_rand_below(100000), align = (size_t)tu_rand_below(8);
        CHECK_EQ_U64(crc32c_extend(i, big + align, n), crc32c_extend_portable(i, big + align, n));
    }
    size_t edges[] = {3 * 256, 3 * 256 - 1, 3 * 8192, 3 * 8192 + 1, 6 * 8192 + 3 * 256 + 7};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        CHECK_EQ_U64(crc32c_value(big, edges[i]), crc32c_extend_portable(0, big, edges[i]));
    printf("  hardware path: %s\n", crc32c_hw() ? "yes" : "no (table)");
}

static void extend_composes(void) {
    uint8_t buf[1000];
    uint64_t st = tu_rand();
    tu_fill_random(&st, buf, sizeof buf);
    uint32_t whole = crc32c_value(buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut += 37)
        CHECK_EQ_U64(crc32c_extend(crc32c_value(buf, cut), buf + cut, sizeof buf - cut), whole);
}

static void masking(void) {
    for (int i = 0; i < 1000; i++) {
        uint32_t c = (uint32_t)tu_rand();
        CHECK(crc32c_mask(c) != c);
        CHECK_EQ_U64(crc32c_unmask(crc32c_mask(c)), c);
    }
}

int main(void) {
    tu_init("test_crc32c");
    TU_CASE(known_vectors);
    TU_CASE(paths_agree);
    TU_CASE(extend_composes);
    TU_CASE(masking);
    return tu_finish();
}
