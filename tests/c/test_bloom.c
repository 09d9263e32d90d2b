/* test_bloom.c — the table's bloom filter, in both layouts (CLASSIC of format
 * version 1 tables, BLOCKED of version 2): the hash is LevelDB's (it is part
 * of the file format, so it must never drift), no false negatives ever, and a
 * false-positive rate near the theory of the layout for the bits per key in
 * use: (1 - e^(-kn/m))^k for CLASSIC; for BLOCKED the same within one line,
 * averaged over the Poisson-distributed number of keys per line. */
#include "bloom.h"
#include "coding.h"
#include "sst_format.h"
#include "test_util.h"

/* e^x without libm (the tests link only the library): the series on x
 * halved until small, then squared back. */
static double exp_(double x) {
    int halvings = 0;
    while (x > 1 || x < -1) {
        x /= 2;
        halvings++;
    }
    double sum = 1, term = 1;
    for (int i = 1; i < 30; i++) {
        term *= x / i;
        sum += term;
    }
    while (halvings-- > 0)
        sum *= sum;
    return sum;
}

static double sqrt_(double x) {
    double r = x > 1 ? x : 1;
    for (int i = 0; i < 100; i++)
        r = (r + x / r) / 2;
    return r;
}

static const bloom_layout LAYOUTS[2] = {BLOOM_CLASSIC, BLOOM_BLOCKED};
static const char *const LAYOUT_NAME[3] = {"", "classic", "blocked"};

/* ln(1 - x) for small x > 0, by its series. */
static double log1m_(double x) {
    double sum = 0, term = 1;
    for (int i = 1; i < 60; i++) {
        term *= x;
        sum -= term / i;
    }
    return sum;
}

/* The expected false-positive rate of filter f over n keys. */
static double theory(size_t n, const bloom_filter *f) {
    uint32_t k = f->k;
    if (f->layout == BLOOM_CLASSIC) {
        double p = 1 - exp_(-(double)k * (double)n / (double)f->size), r = 1;
        for (uint32_t i = 0; i < k; i++)
            r *= p;
        return r;
    }
    /* keys per line ~ Poisson(n / lines); a line with x keys has each bit
     * still clear with probability (1 - 1/512)^(k x) */
    double lambda = (double)n / (double)f->size, pmf = exp_(-lambda), sum = 0;
    for (int x = 0; x < 1000; x++) {
        double p = 1 - exp_((double)k * x * log1m_(1.0 / SST_BLOOM_LINE_BITS)), r = 1;
        for (uint32_t i = 0; i < k; i++)
            r *= p;
        sum += pmf * r;
        pmf *= lambda / (x + 1);
    }
    return sum;
}

/* Builds a filter over keys base..base+n-1 (as 8-byte little-endian
 * integers) in layout lay, as if its block started at file offset `at`,
 * into a new buffer; *f is parsed over it. */
static uint8_t *build_at(bloom_layout lay, int bits, size_t n, uint64_t base, uint64_t at, size_t *len,
                         bloom_filter *f) {
    bloom_builder bb;
    bloom_builder_init(&bb, bits);
    for (size_t i = 0; i < n; i++) {
        uint8_t k[8];
        put_u64(k, base + i);
        CHECK_OK(bloom_builder_add(&bb, k, 8));
    }
    *len = bloom_builder_size(&bb, lay, at);
    uint8_t *buf = malloc(*len);
    bloom_builder_finish(&bb, lay, at, buf);
    bloom_builder_release(&bb);
    CHECK(bloom_filter_parse(buf, *len, lay, f));
    return buf;
}

static uint8_t *build(bloom_layout lay, int bits, size_t n, uint64_t base, size_t *len, bloom_filter *f) {
    return build_at(lay, bits, n, base, 0, len, f);
}

static int may(const bloom_filter *f, uint64_t key) {
    uint8_t k[8];
    put_u64(k, key);
    return bloom_may_match(f, k, 8);
}

/* MurmurHash64A's known answers: the inputs and results that Apache Commons
 * Codec's MurmurHash2Test took from the original C implementation (seed
 * 0x344d1f5c), so our little-endian, portable rewrite is the real thing. */
#define BLOOM_APPLE 0x4b11f3c0a49d22e1ull

static void hash_vectors(void) {
    static const uint8_t in[17][16] = {
        {0xed, 0x53, 0xc4, 0xa5, 0x3b, 0x1b, 0xbd, 0xc2, 0x52, 0x7d, 0xc3, 0xef, 0x53, 0x5f, 0xae,
         0x3b},
        {0x21, 0x65, 0x59, 0x4e, 0xd8, 0x12, 0xf9, 0x05, 0x80, 0xe9, 0x1e, 0xed, 0xe4, 0x56, 0xbb},
        {0x2b, 0x02, 0xb1, 0xd0, 0x3d, 0xce, 0x31, 0x3d, 0x97, 0xc4, 0x91, 0x0d, 0xf7, 0x17},
        {0x8e, 0xa7, 0x9a, 0x02, 0xe8, 0xb9, 0x6a, 0xda, 0x92, 0xad, 0xe9, 0x2d, 0x21},
        {0xa9, 0x6d, 0xea, 0x77, 0x06, 0xce, 0x1b, 0x85, 0x48, 0x27, 0x4c, 0xfe},
        {0xec, 0x93, 0xa0, 0x12, 0x60, 0xee, 0xc8, 0x0a, 0xc5, 0x90, 0x62},
        {0x55, 0x6d, 0x93, 0x66, 0x14, 0x6d, 0xdf, 0x00, 0x58, 0x99},
        {0x3c, 0x72, 0x20, 0x1f, 0xd2, 0x59, 0x19, 0xdb, 0xa1},
        {0x23, 0xa8, 0xb1, 0x87, 0x55, 0xf7, 0x8a, 0x4b},
        {0xe2, 0x42, 0x1c, 0x2d, 0xc1, 0xe4, 0x3e},
        {0x66, 0xa6, 0xb5, 0x5a, 0x74, 0xd9},
        {0xe8, 0x76, 0xa8, 0x90, 0x76},
        {0xeb, 0x25, 0x3f, 0x87},
        {0x37, 0xa0, 0xa9},
        {0x5b, 0x5d},
        {0x7e},
        {0},
    };
    static const uint64_t want[17] = {
        0x0822b1481a92e97bull, 0xf8a9223fef0822ddull, 0x4b49e56affae3a89ull, 0xc970296e32e1d1c1ull,
        0xe2f9f88789f1b08full, 0x2b0459d9b4c10c61ull, 0x377e97ea9197ee89ull, 0xd2ccad460751e0e7ull,
        0xff162ca8d6da8c47ull, 0xf12e051405769857ull, 0xdabba41293d5b035ull, 0xacf326b0bb690d0eull,
        0x0617f431bc1a8e04ull, 0x15b81f28d576e1b2ull, 0x28c1fe59e4f8e5baull, 0x694dd315c9354ca9ull,
        0xa97052a8f088ae6cull,
    };
    for (size_t i = 0; i < 17; i++)
        CHECKF(bloom_murmur64(in[i], 16 - i, 0x344d1f5c) == want[i], "vector %zu", i);
    /* And the filter's own hash, pinned: it is part of the file format. */
    CHECK_EQ_U64(bloom_hash(NULL, 0), bloom_murmur64(NULL, 0, SST_BLOOM_SEED));
    CHECK_EQ_U64(bloom_hash((const uint8_t *)"apple", 5), BLOOM_APPLE);
}

static void probes(void) {
    CHECK_EQ_U64(bloom_k(1), 1);
    CHECK_EQ_U64(bloom_k(2), 1);
    CHECK_EQ_U64(bloom_k(3), 2);
    CHECK_EQ_U64(bloom_k(10), 6);
    CHECK_EQ_U64(bloom_k(16), 11);
    CHECK_EQ_U64(bloom_k(43), 29);
    CHECK_EQ_U64(bloom_k(44), 30);
    CHECK_EQ_U64(bloom_k(1000), 30);
    size_t len;
    bloom_filter f;
    uint8_t *buf = build(BLOOM_CLASSIC, 10, 1000, 0, &len, &f);
    CHECK_EQ_U64(len, 1250 + 1);
    CHECK_EQ_U64(buf[len - 1], 6);
    CHECK(f.k == 6 && f.size == 10000 && f.bits == buf);
    free(buf);
    /* blocked: 10000 bits are 20 lines; k and the pad at the end */
    buf = build(BLOOM_BLOCKED, 10, 1000, 0, &len, &f);
    CHECK_EQ_U64(len, 20 * 64 + 2);
    CHECK(buf[len - 2] == 6 && buf[len - 1] == 0);
    CHECK(f.k == 6 && f.size == 20 && f.bits == buf);
    free(buf);
}

/* A blocked filter's lines start on a 64-byte boundary of the file: the pad
 * makes up for where the block starts; the filter is the same otherwise. */
static void blocked_alignment(void) {
    size_t len0;
    bloom_filter f0;
    uint8_t *b0 = build_at(BLOOM_BLOCKED, 10, 777, 5, 0, &len0, &f0);
    uint64_t ats[] = {1, 2, 63, 64, 65, 100, 4096 + 5, 1000003};
    for (size_t i = 0; i < sizeof ats / sizeof ats[0]; i++) {
        size_t len;
        bloom_filter f;
        uint8_t *b = build_at(BLOOM_BLOCKED, 10, 777, 5, ats[i], &len, &f);
        size_t pad = (64 - ats[i] % 64) % 64;
        CHECKF(len == len0 + pad && b[len - 1] == pad, "at %llu", (unsigned long long)ats[i]);
        CHECK((ats[i] + (uint64_t)(f.bits - b)) % 64 == 0);
        CHECK(memcmp(f.bits, f0.bits, len0 - 2) == 0 && f.size == f0.size && f.k == f0.k);
        for (size_t j = 0; j < pad; j++)
            CHECK(b[j] == 0);
        free(b);
    }
    free(b0);
}

static void empty_filter(void) {
    for (int l = 0; l < 2; l++) {
        size_t len;
        bloom_filter f;
        uint8_t *buf = build(LAYOUTS[l], 10, 0, 0, &len, &f);
        CHECK_EQ_U64(len, LAYOUTS[l] == BLOOM_CLASSIC ? SST_BLOOM_MIN_BITS / 8 + 1 : 64 + 2);
        for (uint64_t i = 0; i < 1000; i++)
            CHECK(!may(&f, i));
        CHECK(!bloom_may_match(&f, (const uint8_t *)"", 0));
        free(buf);
    }
}

/* Filters are a pure function of the set of keys: order does not matter. */
static void order_independent(void) {
    for (int l = 0; l < 2; l++) {
        bloom_builder a, b;
        bloom_builder_init(&a, 10);
        bloom_builder_init(&b, 10);
        for (uint64_t i = 0; i < 500; i++) {
            uint8_t k[8];
            put_u64(k, i * 7919);
            CHECK_OK(bloom_builder_add(&a, k, 8));
            put_u64(k, (499 - i) * 7919);
            CHECK_OK(bloom_builder_add(&b, k, 8));
        }
        size_t n = bloom_builder_size(&a, LAYOUTS[l], 0);
        CHECK_EQ_U64(bloom_builder_size(&b, LAYOUTS[l], 0), n);
        uint8_t *fa = malloc(n), *fb = malloc(n);
        bloom_builder_finish(&a, LAYOUTS[l], 0, fa);
        bloom_builder_finish(&b, LAYOUTS[l], 0, fb);
        CHECK(memcmp(fa, fb, n) == 0);
        free(fa);
        free(fb);
        bloom_builder_release(&a);
        bloom_builder_release(&b);
    }
}

/* Every key added matches, for sizes from 1 to 100000 and keys of any
 * length (0 to 100 bytes, zeros included). */
static void no_false_negatives(void) {
    for (int l = 0; l < 2; l++) {
        size_t sizes[] = {1, 2, 7, 10, 100, 1000, 10000, 100000};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t len, n = sizes[s];
            uint64_t base = tu_rand();
            bloom_filter f;
            uint8_t *buf = build_at(LAYOUTS[l], 10, n, base, tu_rand_below(200), &len, &f);
            for (size_t i = 0; i < n; i++)
                CHECKF(may(&f, base + i), "%s: key %zu of %zu not found", LAYOUT_NAME[LAYOUTS[l]], i, n);
            free(buf);
        }
        /* Random byte strings of random lengths. */
        bloom_builder bb;
        bloom_builder_init(&bb, 10);
        static uint8_t keys[2000][100];
        size_t lens[2000];
        for (int i = 0; i < 2000; i++) {
            lens[i] = (size_t)tu_rand_below(101);
            tu_fill_random(&tu_rng_state, keys[i], lens[i]);
            if (i % 3 == 0) memset(keys[i], 0, lens[i]);
            CHECK_OK(bloom_builder_add(&bb, keys[i], lens[i]));
        }
        size_t len = bloom_builder_size(&bb, LAYOUTS[l], 3);
        uint8_t *buf = malloc(len);
        bloom_builder_finish(&bb, LAYOUTS[l], 3, buf);
        bloom_filter f;
        CHECK(bloom_filter_parse(buf, len, LAYOUTS[l], &f));
        for (int i = 0; i < 2000; i++)
            CHECK(bloom_may_match(&f, keys[i], lens[i]));
        free(buf);
        bloom_builder_release(&bb);
    }
}

/* Measured false positives against the layout's theory for n keys and the
 * filter's real size and k. At 10 bits per key: k = 6 and ~0.84% classic,
 * ~0.9% blocked. */
static void false_positive_rate(void) {
    struct {
        int bits;
        size_t n;
    } cfg[] = {{10, 1000}, {10, 10000}, {10, 100000}, {5, 10000}, {20, 10000}, {1, 10000}};
    const uint64_t probes = 200000;
    for (int l = 0; l < 2; l++) {
        for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
            /* Runs of consecutive integers (a common shape of keys) from random
             * places, so that each seed measures other keys. */
            size_t len;
            uint64_t base = tu_rand(), other = tu_rand();
            bloom_filter f;
            uint8_t *buf = build(LAYOUTS[l], cfg[c].bits, cfg[c].n, base, &len, &f);
            uint64_t fp = 0;
            for (uint64_t i = 0; i < probes; i++)
                fp += (uint64_t)may(&f, other + i);
            double rate = (double)fp / (double)probes;
            double want = theory(cfg[c].n, &f);
            printf("  %s: %2d bits/key, k=%u, n=%6zu: false positives %.3f%% (theory %.3f%%)\n",
                   LAYOUT_NAME[LAYOUTS[l]], cfg[c].bits, f.k, cfg[c].n, 100 * rate, 100 * want);
            /* Within sampling noise (5 standard deviations of a count of
             * rare events, ~sqrt of the count) plus 10% for the probe
             * sequences not being fully independent. */
            double expect = want * (double)probes, diff = (double)fp - expect;
            if (diff < 0) diff = -diff;
            CHECKF(diff <= 0.1 * expect + 5 * sqrt_(expect) + 1, "%s: rate %.4f%% too far from theory %.4f%%",
                   LAYOUT_NAME[LAYOUTS[l]], 100 * rate, 100 * want);
            if (cfg[c].bits == 10) CHECK(rate < 0.0125);
            free(buf);
        }
    }
}

/* Small tables get the floor: 64 bits (classic) or one line of 512
 * (blocked). Averaged over many 5-key classic filters the rate is near 1%:
 * above the independent-probe theory for 64 bits (~0.3%), because double
 * hashing in so few bits has only 64 x 32 distinct probe sequences, yet in
 * line with what 10 bits per key promise (< 1.25%). */
static void small_filters(void) {
    for (int l = 0; l < 2; l++) {
        const int filters = 4000, per = 50;
        uint64_t fp = 0;
        double want = 0;
        for (int i = 0; i < filters; i++) {
            size_t len;
            bloom_filter f;
            uint8_t *buf = build(LAYOUTS[l], 10, 5, tu_rand(), &len, &f);
            CHECK_EQ_U64(len, LAYOUTS[l] == BLOOM_CLASSIC ? 9 : 66);
            want += theory(5, &f);
            uint64_t other = tu_rand();
            for (int j = 0; j < per; j++)
                fp += (uint64_t)may(&f, other + (uint64_t)j);
            free(buf);
        }
        double rate = (double)fp / (filters * per);
        printf("  %s: 5 keys: false positives %.3f%% (independent-probe theory %.3f%%)\n",
               LAYOUT_NAME[LAYOUTS[l]], 100 * rate, 100 * want / filters);
        CHECK(rate < 0.0125);
    }
}

static void malformed(void) {
    bloom_filter f;
    uint8_t b[200] = {0};
    /* classic: bits, then k in [1, 30] */
    CHECK(!bloom_filter_parse(b, 0, BLOOM_CLASSIC, &f));
    CHECK(!bloom_filter_parse(b, 1, BLOOM_CLASSIC, &f));
    b[9] = 0;
    CHECK(!bloom_filter_parse(b, 10, BLOOM_CLASSIC, &f)); /* k = 0 */
    b[9] = 31;
    CHECK(!bloom_filter_parse(b, 10, BLOOM_CLASSIC, &f)); /* k beyond the limit */
    b[9] = 30;
    CHECK(bloom_filter_parse(b, 10, BLOOM_CLASSIC, &f));
    b[1] = 5;
    CHECK(bloom_filter_parse(b, 2, BLOOM_CLASSIC, &f)); /* one byte of bits is enough */
    /* blocked: pad, whole lines, k, pad length */
    memset(b, 0, sizeof b);
    b[64] = 6, b[65] = 0;
    CHECK(bloom_filter_parse(b, 66, BLOOM_BLOCKED, &f) && f.size == 1 && f.k == 6 && f.bits == b);
    CHECK(!bloom_filter_parse(b, 65, BLOOM_BLOCKED, &f)); /* too short */
    CHECK(!bloom_filter_parse(b, 1, BLOOM_BLOCKED, &f));
    b[64] = 0;
    CHECK(!bloom_filter_parse(b, 66, BLOOM_BLOCKED, &f)); /* k = 0 */
    b[64] = 31;
    CHECK(!bloom_filter_parse(b, 66, BLOOM_BLOCKED, &f)); /* k beyond the limit */
    b[74] = 6, b[75] = 10; /* 10 bytes of pad, one line */
    CHECK(bloom_filter_parse(b, 76, BLOOM_BLOCKED, &f) && f.bits == b + 10 && f.size == 1);
    b[75] = 11; /* the lines would not be whole */
    CHECK(!bloom_filter_parse(b, 76, BLOOM_BLOCKED, &f));
    b[75] = 64; /* a pad of a whole line or more */
    CHECK(!bloom_filter_parse(b, 76, BLOOM_BLOCKED, &f));
    b[129] = 6, b[130] = 1; /* pad 1, 2 lines */
    CHECK(bloom_filter_parse(b, 131, BLOOM_BLOCKED, &f) && f.size == 2 && f.bits == b + 1);
    CHECK(!bloom_filter_parse(b, 131, (bloom_layout)3, &f)); /* no such layout */
}

int main(void) {
    tu_init("test_bloom");
    TU_CASE(hash_vectors);
    TU_CASE(probes);
    TU_CASE(blocked_alignment);
    TU_CASE(empty_filter);
    TU_CASE(order_independent);
    TU_CASE(no_false_negatives);
    TU_CASE(false_positive_rate);
    TU_CASE(small_filters);
    TU_CASE(malformed);
    return tu_finish();
}
