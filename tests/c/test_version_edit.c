/* Unit tests of version_edit.c: an edit round-trips field by field; every
 * truncation and every unknown tag is refused as corruption naming where. */
#include "version_edit.h"
#include "lsmlog.h"
#include "test_util.h"

static void sample(vedit *e) {
    vedit_init(e);
    vedit_set_wal_offset(e, 123456);
    vedit_set_next_file(e, 42);
    vedit_set_last_seq(e, (1ull << 56) - 1);
    CHECK_OK(vedit_delete_file(e, 0, 7));
    CHECK_OK(vedit_delete_file(e, 6, 1ull << 40));
    const uint8_t s[] = {'a', 0, 'b', 1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_OK(vedit_add_file(e, 1, 9, 4096, s, sizeof s, (const uint8_t *)"zzzzzzzzzz", 10, 5, 900));
    const uint8_t k8[8] = {0}; /* an empty user key with its trailer */
    CHECK_OK(vedit_add_file(e, 2, 10, 0, k8, 8, k8, 8, 0, 0));
}

static void round_trip(void) {
    vedit e, d;
    sample(&e);
    uint8_t *b;
    size_t n;
    CHECK_OK(vedit_encode(&e, &b, &n));
    CHECK_OK(vedit_decode(&d, b, n, "test"));
    CHECK(d.has_wal_offset && d.wal_offset == 123456);
    CHECK(d.has_next_file && d.next_file == 42);
    CHECK(d.has_last_seq && d.last_seq == (1ull << 56) - 1);
    CHECK_EQ_U64(d.ndeleted, 2);
    CHECK(d.deleted[1].level == 6 && d.deleted[1].number == 1ull << 40);
    CHECK_EQ_U64(d.nadded, 2);
    for (size_t i = 0; i < 2; i++) {
        const file_meta *a = &e.added[i], *c = &d.added[i];
        CHECK(a->level == c->level && a->number == c->number && a->size == c->size);
        CHECK(a->smallest_len == c->smallest_len && memcmp(a->smallest, c->smallest, a->smallest_len) == 0);
        CHECK(a->largest_len == c->largest_len && memcmp(a->largest, c->largest, a->largest_len) == 0);
        CHECK(a->smallest_seq == c->smallest_seq && a->largest_seq == c->largest_seq);
    }
    vedit_free(&d);
    /* an empty edit is valid */
    vedit empty;
    vedit_init(&empty);
    lsmlog_free(b);
    CHECK_OK(vedit_encode(&empty, &b, &n));
    CHECK_EQ_U64(n, 0);
    CHECK_OK(vedit_decode(&d, b, n, "test"));
    vedit_free(&d);
    lsmlog_free(b);
    vedit_free(&e);
}

static void malformed(void) {
    vedit e, d;
    sample(&e);
    uint8_t *b;
    size_t n;
    CHECK_OK(vedit_encode(&e, &b, &n));
    int refused = 0;
    for (size_t len = 1; len < n; len++) { /* every cut that is not at a field boundary */
        int rc = vedit_decode(&d, b, len, "MANIFEST@7");
        if (rc == LSMLOG_OK) vedit_free(&d);
        else {
            CHECK_EQ_INT(rc, LSMLOG_E_CORRUPT);
            CHECK(strstr(lsmlog_errmsg(), "MANIFEST@7") != NULL);
            refused++;
        }
    }
    CHECK(refused >= (int)n - 8); /* only the few field boundaries decode */
    uint8_t bad[] = {99, 1};
    CHECK_EQ_INT(vedit_decode(&d, bad, sizeof bad, "x"), LSMLOG_E_CORRUPT);
    uint8_t badlevel[] = {4, 9, 1}; /* level 9 does not exist */
    CHECK_EQ_INT(vedit_decode(&d, badlevel, sizeof badlevel, "x"), LSMLOG_E_CORRUPT);
    lsmlog_free(b);
    vedit_free(&e);
}

/* Keys without an 8-byte trailer, or a range whose ends are swapped, are
 * refused: every comparison made with them would read out of bounds or lie.
 * (Regression: found by fuzz_manifest, which crashed vset_open with them.) */
static void bad_key_ranges(void) {
    const uint8_t fuzz[] = {0x05, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
                            0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x16, 0x16};
    vedit d, e;
    CHECK_EQ_INT(vedit_decode(&d, fuzz, sizeof fuzz, "fuzz"), LSMLOG_E_CORRUPT);
    vedit_init(&e);
    uint8_t lo[9] = {'a', 1, 0, 0, 0, 0, 0, 0, 0}, hi[9] = {'b', 1, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(vedit_add_file(&e, 1, 5, 10, lo, 7, hi, 9, 0, 0), LSMLOG_E_INVALID); /* short */
    CHECK_EQ_INT(vedit_add_file(&e, 1, 5, 10, hi, 9, lo, 9, 0, 0), LSMLOG_E_INVALID); /* swapped */
    CHECK_EQ_INT(vedit_add_file(&e, 9, 5, 10, lo, 9, hi, 9, 0, 0), LSMLOG_E_INVALID); /* no level 9 */
    CHECK_OK(vedit_add_file(&e, 1, 5, 10, lo, 9, hi, 9, 0, 0));
    uint8_t *b;
    size_t n;
    CHECK_OK(vedit_encode(&e, &b, &n));
    /* swap the two keys' first bytes in the encoding: decodes, but refused */
    for (size_t i = 0; i + 9 < n; i++)
        if (b[i] == 9 && b[i + 1] == 'a') b[i + 1] = 'c';
    CHECK_EQ_INT(vedit_decode(&d, b, n, "swapped"), LSMLOG_E_CORRUPT);
    lsmlog_free(b);
    vedit_free(&e);
}

int main(void) {
    tu_init("test_version_edit");
    TU_CASE(round_trip);
    TU_CASE(malformed);
    TU_CASE(bad_key_ranges);
    return tu_finish();
}
