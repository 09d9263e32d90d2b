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
    uint64_t total;
    CHECK_EQ_U64(batch_encode(b, base, e, n, 1000, 1, &mx, &total, NULL, NULL), size);
    CHECK_EQ_U64(total, size);
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
    b[BATCH_HEADER_SIZE + 1] = 4; /* first value length 3 -> 4: the lengths no longer fill the body */
    put_u32(b + 28, crc32c_mask(crc32c_value(b + BATCH_HEADER_SIZE, len - BATCH_HEADER_SIZE)));
    put_u32(b, crc32c_mask(crc32c_value(b + 4, BATCH_HEADER_SIZE - 4)));
    batch_hdr h;
    CHECK_EQ_INT(batch_parse_header(b, &h), 0);
    CHECK_EQ_INT(batch_check_body(&h, b + BATCH_HEADER_SIZE, NULL), -1);
    free(b);
}

/* Written from where the values lie (pwritev), a batch is byte for byte the
 * one the copying encoder makes: header and prefixes from the buffer, then the
 * values, whatever runs they form in memory. */
static void zero_copy_same_bytes(void) {
    static uint8_t pool[20000];
    uint64_t st = tu_rand();
    tu_fill_random(&st, pool, sizeof pool);
    for (int round = 0; round < 200; round++) {
        lsmlog_entry e[40];
        size_t n = 1 + (size_t)tu_rand_below(40), at = 0;
        for (size_t i = 0; i < n; i++) {
            size_t len = tu_rand_below(4) == 0 ? 0 : (size_t)tu_rand_below(300);
            if (tu_rand_below(3) == 0 || at + len > sizeof pool) /* a new run */
                at = (size_t)tu_rand_below(sizeof pool - 300);
            e[i] = (lsmlog_entry){pool + at, len, (int64_t)tu_rand_below(5000) - 2500};
            at += len;
        }
        size_t null_at, runs;
        uint64_t bound = batch_bound(e, n, &null_at, &runs);
        CHECK_EQ_U64(null_at, n);
        uint8_t *copy = malloc(bound), *head = malloc(bound), *joined = malloc(bound);
        int64_t mx1, mx2;
        uint64_t t1, t2;
        batch_run rv[40];
        size_t nr = 99;
        uint64_t used1 = batch_encode(copy, 9, e, n, 77, 1, &mx1, &t1, NULL, NULL);
        uint64_t used2 = batch_encode(head, 9, e, n, 77, 0, &mx2, &t2, rv, &nr);
        CHECK(t1 == t2 && used1 == t1 && mx1 == mx2 && used2 <= used1);
        CHECK_EQ_U64(nr, runs); /* the runs batch_bound counted */
        memcpy(joined, head, used2);
        uint64_t p = used2;
        for (size_t i = 0; i < nr; i++) { /* written from where they lie */
            memcpy(joined + p, rv[i].data, rv[i].len);
            p += rv[i].len;
        }
        CHECK_EQ_U64(p, t1);
        CHECK(memcmp(joined, copy, t1) == 0);
        batch_hdr h;
        CHECK_EQ_INT(batch_parse_header(joined, &h), 0);
        CHECK_EQ_INT(batch_check_body(&h, joined + BATCH_HEADER_SIZE, NULL), 0);
        free(copy);
        free(head);
        free(joined);
    }
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
    TU_CASE(zero_copy_same_bytes);
    TU_CASE(sizes_and_limits);
    return tu_finish();
}
