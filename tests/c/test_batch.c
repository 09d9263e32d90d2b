/* Unit tests of coding.h and batch.c: varints and zigzag round-trip and
 * reject truncation; a batch encodes to the documented bytes, decodes back,
 * and every single-byte flip or truncation is caught by its checks. */
#include "batch.h"
#include "crc32c.h"
#include "test_util.h"

static void varints(void) {
    uint8_t buf[16];
    uint64_t vals[] = {0, 1, 127, 128, 255, 300, 16383, 16384, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        uint8_t *end = put_varint(buf, vals[i]);
        CHECK_EQ_INT((int)(end - buf), varint_len(vals[i]));
        uint64_t v;
        CHECK(get_varint(buf, end, &v, 10) == end);
        CHECK_EQ_U64(v, vals[i]);
        if (end - buf > 1) CHECK(get_varint(buf, end - 1, &v, 10) == NULL); /* truncated */
    }
    memset(buf, 0x80, sizeof buf); /* never terminates */
    uint64_t v;
    CHECK(get_varint(buf, buf + sizeof buf, &v, 10) == NULL);
    int64_t zz[] = {0, -1, 1, -2, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof zz / sizeof *zz; i++) CHECK(zigzag_dec(zigzag_enc(zz[i])) == zz[i]);
    CHECK_EQ_U64(zigzag_enc(-1), 1);
    CHECK_EQ_U64(zigzag_enc(1), 2);
}

static uint8_t *encode(const lsmlog_entry *e, size_t n, uint64_t base, size_t *len) {
    uint64_t size = batch_size(e, n, 1000, UINT32_MAX);
    CHECK(size > 0);
    uint8_t *b = malloc(size);
    int64_t mx;
    batch_encode(b, base, e, n, 1000, &mx);
    *len = (size_t)size;
    return b;
}

static void round_trip(void) {
    lsmlog_entry e[] = {{"hello", 5, 5000}, {"", 0, LSMLOG_NOW}, {"a\0b", 3, INT64_MIN + 1}, {"z", 1, INT64_MAX}};
    size_t len;
    uint8_t *b = encode(e, 4, 77, &len);
    batch_hdr h;
    CHECK_EQ_INT(batch_parse_header(b, &h), 0);
    CHECK_EQ_U64(h.base, 77);
    CHECK_EQ_U64(h.count, 4);
    CHECK(h.first_ts == 5000);
    CHECK_EQ_U64(h.body_len, len - BATCH_HEADER_SIZE);
    int64_t mx;
    CHECK_EQ_INT(batch_check_body(&h, b + BATCH_HEADER_SIZE, &mx), 0);
    CHECK(mx == INT64_MAX);
    batch_cursor c;
    lsmlog_record r;
    batch_cursor_init(&c, &h, b + BATCH_HEADER_SIZE);
    int64_t want_ts[] = {5000, 1000, INT64_MIN + 1, INT64_MAX};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(batch_cursor_next(&c, &r), 1);
        CHECK_EQ_U64(r.offset, 77 + (uint64_t)i);
        CHECK(r.timestamp == want_ts[i]);
        CHECK_EQ_U64(r.len, e[i].len);
        CHECK(memcmp(r.value, e[i].data, e[i].len) == 0);
    }
    CHECK_EQ_INT(batch_cursor_next(&c, &r), 0);
    free(b);
}

/* Every single-bit flip anywhere in the batch is caught by one of the checks. */
static void flips_caught(void) {
    lsmlog_entry e[] = {{"first value", 11, 10}, {"second", 6, 12}, {"", 0, 9}};
    size_t len;
    uint8_t *b = encode(e, 3, 5, &len);
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1 << bit);
            batch_hdr h;
            int bad = batch_parse_header(b, &h) != 0 || h.body_len != len - BATCH_HEADER_SIZE ||
                      batch_check_body(&h, b + BATCH_HEADER_SIZE, NULL) != 0;
            CHECKF(bad, "flip of bit %d of byte %zu went unnoticed", bit, i);
            b[i] ^= (uint8_t)(1 << bit);
        }
    free(b);
}

/* A body whose checksum is fixed up but whose records do not fill it exactly
 * is still refused: structure is checked, not only the CRC. */
static void structure_checked(void) {
    lsmlog_entry e[] = {{"abc", 3, 1}, {"de", 2, 1}};
    size_t len;
    uint8_t *b = encode(e, 2, 0, &len);
    b[BATCH_HEADER_SIZE + 1] = 9; /* first value length 3 -> 9: overruns */
    put_u32(b + 28, crc32c_mask(crc32c_value(b + BATCH_HEADER_SIZE, len - BATCH_HEADER_SIZE)));
    put_u32(b, crc32c_mask(crc32c_value(b + 4, BATCH_HEADER_SIZE - 4)));
    batch_hdr h;
    CHECK_EQ_INT(batch_parse_header(b, &h), 0);
    CHECK_EQ_INT(batch_check_body(&h, b + BATCH_HEADER_SIZE, NULL), -1);
    free(b);
}

static void sizes_and_limits(void) {
    lsmlog_entry e = {"x", 1, 0};
    CHECK_EQ_U64(batch_size(&e, 0, 0, 1000), 0);          /* empty batch */
    CHECK_EQ_U64(batch_size(&e, 1, 0, 1000), BATCH_HEADER_SIZE + 3);
    CHECK_EQ_U64(batch_size(&e, 1, 0, BATCH_HEADER_SIZE + 2), 0); /* over max */
    lsmlog_entry big = {NULL, 1u << 20, 0};
    CHECK_EQ_U64(batch_size(&big, 1, 0, 1u << 20), 0);
}

int main(void) {
    tu_init("test_batch");
    TU_CASE(varints);
    TU_CASE(round_trip);
    TU_CASE(flips_caught);
    TU_CASE(structure_checked);
    TU_CASE(sizes_and_limits);
    return tu_finish();
}
