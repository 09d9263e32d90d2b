/* Unit tests of write_batch.c: ops round-trip with their sequence numbers,
 * TTL puts carry their expiry, limits refuse without changing the batch,
 * merged batches keep order, and every truncation or a wrong count is caught
 * before any op is applied. */
#include "write_batch.h"
#include "alloc.h"
#include "coding.h"
#include "lsmlog.h"
#include "test_util.h"

typedef struct seen {
    int n;
    uint64_t seq[16];
    int type[16];
    char key[16][32];
    char val[16][64];
    size_t vlen[16];
} seen;

static int collect(void *ctx, uint64_t seq, int type, const uint8_t *key, size_t klen, const uint8_t *val,
                   size_t vlen) {
    seen *s = ctx;
    CHECK(s->n < 16 && klen < 32 && vlen < 64);
    s->seq[s->n] = seq;
    s->type[s->n] = type;
    memcpy(s->key[s->n], key, klen);
    s->key[s->n][klen] = 0;
    memcpy(s->val[s->n], val, vlen);
    s->vlen[s->n] = vlen;
    s->n++;
    return 0;
}

static void round_trip(void) {
    wbatch b;
    wbatch_init(&b);
    CHECK_OK(wbatch_put(&b, "a", 1, "1", 1, 0));
    CHECK_OK(wbatch_delete(&b, "b", 1));
    CHECK_OK(wbatch_put(&b, "", 0, "", 0, 0)); /* empty key and value */
    CHECK_OK(wbatch_put(&b, "t", 1, "x\0y", 3, 1234567));
    wbatch_set_seq(&b, 100);
    CHECK_EQ_U64(wbatch_rep_seq(b.rep), 100);
    CHECK_EQ_U64(wbatch_rep_count(b.rep), 4);
    CHECK_EQ_U64(b.user_bytes, 1 + 1 + 1 + 0 + 1 + 3);
    seen s = {0};
    CHECK_OK(wbatch_iterate(b.rep, b.len, collect, &s));
    CHECK_EQ_INT(s.n, 4);
    int types[] = {WB_PUT, WB_DELETE, WB_PUT, WB_PUT_TTL};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_U64(s.seq[i], 100 + (uint64_t)i);
        CHECK_EQ_INT(s.type[i], types[i]);
    }
    CHECK(strcmp(s.key[0], "a") == 0 && s.vlen[0] == 1 && s.val[0][0] == '1');
    CHECK(strcmp(s.key[1], "b") == 0 && s.vlen[1] == 0);
    CHECK(s.key[2][0] == 0 && s.vlen[2] == 0);
    CHECK_EQ_U64(s.vlen[3], 8 + 3); /* the expiry first, as stored */
    CHECK(get_i64((const uint8_t *)s.val[3]) == 1234567);
    CHECK(memcmp(s.val[3] + 8, "x\0y", 3) == 0);
    wbatch_clear(&b);
    CHECK_EQ_U64(b.count, 0);
    s.n = 0;
    CHECK_OK(wbatch_iterate(b.rep, b.len, collect, &s));
    CHECK_EQ_INT(s.n, 0);
    wbatch_free(&b);
}

static void limits(void) {
    wbatch b;
    wbatch_init(&b);
    CHECK_OK(wbatch_put(&b, "k", 1, "v", 1, 0));
    size_t len = b.len;
    static char big[WB_MAX_KEY + 1];
    CHECK_EQ_INT(wbatch_put(&b, big, sizeof big, "v", 1, 0), LSMLOG_E_TOOBIG);
    CHECK(strstr(lsmlog_errmsg(), "limit") != NULL);
    CHECK_EQ_INT(wbatch_delete(&b, big, sizeof big), LSMLOG_E_TOOBIG);
    CHECK_OK(wbatch_put(&b, big, WB_MAX_KEY, "v", 1, 0)); /* exactly the limit is fine */
    CHECK(b.len > len && b.count == 2);
    wbatch_free(&b);
}

static void append_keeps_order(void) {
    wbatch a, b;
    wbatch_init(&a);
    wbatch_init(&b);
    CHECK_OK(wbatch_put(&a, "a1", 2, "x", 1, 0));
    CHECK_OK(wbatch_put(&b, "b1", 2, "y", 1, 0));
    CHECK_OK(wbatch_delete(&b, "b2", 2));
    CHECK_OK(wbatch_append(&a, &b));
    wbatch_set_seq(&a, 7);
    seen s = {0};
    CHECK_OK(wbatch_iterate(a.rep, a.len, collect, &s));
    CHECK_EQ_INT(s.n, 3);
    CHECK(strcmp(s.key[0], "a1") == 0 && strcmp(s.key[1], "b1") == 0 && strcmp(s.key[2], "b2") == 0);
    CHECK_EQ_U64(s.seq[2], 9);
    wbatch_free(&a);
    wbatch_free(&b);
}

static int never(void *ctx, uint64_t seq, int type, const uint8_t *key, size_t klen, const uint8_t *val,
                 size_t vlen) {
    (void)ctx; (void)seq; (void)type; (void)key; (void)klen; (void)val; (void)vlen;
    CHECKF(0, "an op of a malformed batch was applied");
    return 0;
}

static void malformed_caught_first(void) {
    wbatch b;
    wbatch_init(&b);
    for (int i = 0; i < 5; i++) CHECK_OK(wbatch_put(&b, "key", 3, "value", 5, i == 2 ? 99 : 0));
    CHECK_OK(wbatch_delete(&b, "gone", 4));
    for (size_t len = 0; len < b.len; len++)
        CHECK_EQ_INT(wbatch_iterate(b.rep, len, never, NULL), LSMLOG_E_CORRUPT);
    put_u32(b.rep + 8, b.count + 1);
    CHECK_EQ_INT(wbatch_iterate(b.rep, b.len, never, NULL), LSMLOG_E_CORRUPT);
    put_u32(b.rep + 8, b.count - 1);
    CHECK_EQ_INT(wbatch_iterate(b.rep, b.len, never, NULL), LSMLOG_E_CORRUPT);
    put_u32(b.rep + 8, b.count);
    b.rep[WB_HEADER] = 9; /* an unknown op type */
    CHECK_EQ_INT(wbatch_iterate(b.rep, b.len, never, NULL), LSMLOG_E_CORRUPT);
    wbatch_free(&b);
}

static int fail_at, allocs;
static void *failing_malloc(size_t n) { return allocs++ == fail_at ? NULL : malloc(n); }
static void *failing_realloc(void *p, size_t n) { return allocs++ == fail_at ? NULL : realloc(p, n); }

static void allocation_failure(void) {
    alloc_hooks h = {failing_malloc, failing_realloc, free};
    for (fail_at = 0; fail_at < 8; fail_at++) {
        allocs = 0;
        alloc_set_hooks(&h);
        wbatch b;
        wbatch_init(&b);
        int ok = 0;
        for (int i = 0; i < 40; i++) {
            size_t before = b.len;
            uint32_t count = b.count;
            int rc = wbatch_put(&b, "some key", 8, "a value of some length....................", 42, 0);
            if (rc == LSMLOG_OK) ok++;
            else CHECK(rc == LSMLOG_E_NOMEM && b.len == before && b.count == count);
        }
        alloc_set_hooks(NULL);
        CHECK_EQ_U64(b.count, (uint64_t)ok);
        wbatch_free(&b);
    }
}

int main(void) {
    tu_init("test_write_batch");
    TU_CASE(round_trip);
    TU_CASE(limits);
    TU_CASE(append_keeps_order);
    TU_CASE(malformed_caught_first);
    TU_CASE(allocation_failure);
    return tu_finish();
}
