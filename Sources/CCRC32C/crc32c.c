// CRC-32C (Castagnoli). The hardware path uses SSE4.2 `crc32` on x86-64 and the
// ARMv8 CRC extension on aarch64, chosen once at run time; x86-64 CPUs with
// AVX-512 and VPCLMULQDQ fold long inputs with carry-less multiplies instead.
// The portable path is slicing-by-8 over tables built on first use.
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82F63B78u

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int t = 1; t < 8; t++) {
            c = table[0][c & 0xff] ^ (c >> 8);
            table[t][n] = c;
        }
    }
}

static uint32_t crc_software(uint32_t crc, const unsigned char *p, size_t n) {
    pthread_once(&table_once, build_table);
    while (n && ((uintptr_t)p & 7)) { crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8); n--; }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
              table[1][(w >> 48) & 0xff] ^ table[0][(w >> 56) & 0xff];
        p += 8; n -= 8;
    }
    while (n--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

// Combining CRCs of adjacent blocks (after Mark Adler's crc32c.c): the CRC of
// A followed by B is shift(crc(A), |B|) ^ crc0(B), where crc0 starts from 0 and
// shift multiplies by x^(8|B|) modulo the polynomial. Tables for the two block
// sizes below turn shift into four lookups, so three independent streams can
// hide the 3-cycle latency of the crc32 instruction.
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256
static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

static uint32_t gf2_matrix_times(const uint32_t *mat, uint32_t vec) {
    uint32_t sum = 0;
    while (vec) {
        if (vec & 1) sum ^= *mat;
        vec >>= 1;
        mat++;
    }
    return sum;
}

static void gf2_matrix_square(uint32_t *square, const uint32_t *mat) {
    for (int n = 0; n < 32; n++) square[n] = gf2_matrix_times(mat, mat[n]);
}

// The operator that appends `len` zero bytes (len a power of two) to a CRC.
static void zeros_operator(uint32_t *even, size_t len) {
    uint32_t odd[32];
    odd[0] = POLY;  // one zero bit
    uint32_t row = 1;
    for (int n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_matrix_square(even, odd);  // two zero bits
    gf2_matrix_square(odd, even);  // four zero bits
    do {
        gf2_matrix_square(even, odd);  // first round: one zero byte
        len >>= 1;
        if (len == 0) return;
        gf2_matrix_square(odd, even);
        len >>= 1;
    } while (len);
    for (int n = 0; n < 32; n++) even[n] = odd[n];
}

static void build_shift(uint32_t zeros[][256], size_t len) {
    uint32_t op[32];
    zeros_operator(op, len);
    for (uint32_t n = 0; n < 256; n++) {
        zeros[0][n] = gf2_matrix_times(op, n);
        zeros[1][n] = gf2_matrix_times(op, n << 8);
        zeros[2][n] = gf2_matrix_times(op, n << 16);
        zeros[3][n] = gf2_matrix_times(op, n << 24);
    }
}

__attribute__((unused)) static inline uint32_t shift(uint32_t zeros[][256], uint32_t crc) {
    return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}

__attribute__((unused)) static void build_shift_tables(void) {
    build_shift(shift_long, LONG_BLOCK);
    build_shift(shift_short, SHORT_BLOCK);
}

#if defined(__x86_64__)
#include <nmmintrin.h>
// Consumes whole groups of three `block`-byte blocks from *p, one stream each,
// and combines the three CRCs with the shift table for `block` bytes.
__attribute__((target("sse4.2"), always_inline))
static inline uint64_t crc_three_streams(uint64_t c, const unsigned char **pp, size_t *np, size_t block, uint32_t zeros[][256]) {
    const unsigned char *p = *pp;
    size_t n = *np;
    while (n >= 3 * block) {
        uint64_t c1 = 0, c2 = 0;
        const unsigned char *end = p + block;
        do {
            uint64_t w0, w1, w2;
            memcpy(&w0, p, 8);
            memcpy(&w1, p + block, 8);
            memcpy(&w2, p + 2 * block, 8);
            c = _mm_crc32_u64(c, w0);
            c1 = _mm_crc32_u64(c1, w1);
            c2 = _mm_crc32_u64(c2, w2);
            p += 8;
        } while (p < end);
        c = shift(zeros, (uint32_t)c) ^ (uint32_t)c1;
        c = shift(zeros, (uint32_t)c) ^ (uint32_t)c2;
        p += 2 * block;
        n -= 3 * block;
    }
    *pp = p;
    *np = n;
    return c;
}

__attribute__((target("sse4.2")))
static uint32_t crc_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n && ((uintptr_t)p & 7)) { c = _mm_crc32_u8((uint32_t)c, *p++); n--; }
    if (n >= 3 * SHORT_BLOCK) pthread_once(&shift_once, build_shift_tables);
    c = crc_three_streams(c, &p, &n, LONG_BLOCK, shift_long);
    c = crc_three_streams(c, &p, &n, SHORT_BLOCK, shift_short);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8; n -= 8;
    }
    while (n--) c = _mm_crc32_u8((uint32_t)c, *p++);
    return (uint32_t)c;
}
static int has_hardware(void) { return __builtin_cpu_supports("sse4.2"); }

// Folding (the method of Intel's "Fast CRC Computation Using PCLMULQDQ"): a
// 16-byte lane moves F bytes forward by multiplying its first 8 bytes by
// x^(8F+31) and its last 8 by x^(8F-33) modulo the polynomial (bit-reflected
// 32-bit constants; the exponents absorb the reflected product's one-bit
// offset). The 128-bit sum has the lane's CRC contribution as if it stood F
// bytes on, so it is XORed into the data there. Constants are x^n mod
// 0x11EDC6F41 bit-reversed, in _mm_set_epi64x order {last 8, first 8 bytes}.
#include <immintrin.h>
#define FOLD_MIN 256
#define K256 0xB9E02B86, 0xDCB17AA4 // x^2015, x^2079
#define K64 0x9E4ADDF8, 0x740EEF02  // x^479, x^543
#define K48 0xDDC0152B, 0x1C291D04  // x^351, x^415
#define K32 0xBA4FC28E, 0x3DA6D0CB  // x^223, x^287
#define K16 0x493C7D27, 0xF20C0DFE  // x^95, x^159
#define FOLD_TARGET "avx512f,vpclmulqdq,pclmul,sse4.2"

__attribute__((target(FOLD_TARGET), always_inline))
static inline __m512i fold(__m512i acc, __m512i k, __m512i next) {
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(acc, k, 0x00), _mm512_clmulepi64_epi128(acc, k, 0x11),
                                     next, 0x96);  // a ^ b ^ c
}

// Four accumulators of 64 bytes hide the multiply latency; each lane folds 256
// bytes forward per iteration.
__attribute__((target(FOLD_TARGET)))
static uint32_t crc_folding(uint32_t crc, const unsigned char *p, size_t n) {
    if (n < FOLD_MIN) return crc_hardware(crc, p, n);
    const __m512i k256 = _mm512_broadcast_i32x4(_mm_set_epi64x(K256));
    const __m512i k64 = _mm512_broadcast_i32x4(_mm_set_epi64x(K64));
    __m512i x0 = _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)crc)));
    __m512i x1 = _mm512_loadu_si512(p + 64);
    __m512i x2 = _mm512_loadu_si512(p + 128);
    __m512i x3 = _mm512_loadu_si512(p + 192);
    p += 256; n -= 256;
    while (n >= 256) {
        x0 = fold(x0, k256, _mm512_loadu_si512(p));
        x1 = fold(x1, k256, _mm512_loadu_si512(p + 64));
        x2 = fold(x2, k256, _mm512_loadu_si512(p + 128));
        x3 = fold(x3, k256, _mm512_loadu_si512(p + 192));
        p += 256; n -= 256;
    }
    x1 = fold(x0, k64, x1);
    x2 = fold(x1, k64, x2);
    x3 = fold(x2, k64, x3);
    while (n >= 64) {
        x3 = fold(x3, k64, _mm512_loadu_si512(p));
        p += 64; n -= 64;
    }
    // Lanes 0-2 fold 48, 32 and 16 bytes forward onto lane 3, which stays as is.
    const __m512i k = _mm512_set_epi64(0, 0, K16, K32, K48);
    __m512i t = _mm512_xor_si512(_mm512_clmulepi64_epi128(x3, k, 0x00), _mm512_clmulepi64_epi128(x3, k, 0x11));
    t = _mm512_mask_blend_epi64(0xC0, t, x3);
    __m256i y = _mm256_xor_si256(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1));
    __m128i z = _mm_xor_si128(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
    // The 16-byte remainder stands for 16 message bytes, read with the CRC at 0.
    uint64_t c = _mm_crc32_u64(_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(z)), (uint64_t)_mm_extract_epi64(z, 1));
    return crc_hardware((uint32_t)c, p, n);
}
static int has_folding(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul") &&
           __builtin_cpu_supports("sse4.2");
}
#define HARDWARE_NAME "sse4.2"
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
static uint32_t crc_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    while (n && ((uintptr_t)p & 7)) { crc = __crc32cb(crc, *p++); n--; }
    while (n >= 8) { uint64_t w; memcpy(&w, p, 8); crc = __crc32cd(crc, w); p += 8; n -= 8; }
    while (n--) crc = __crc32cb(crc, *p++);
    return crc;
}
static int has_hardware(void) { return 1; }
#define HARDWARE_NAME "armv8"
#else
static uint32_t crc_hardware(uint32_t crc, const unsigned char *p, size_t n) { return crc_software(crc, p, n); }
static int has_hardware(void) { return 0; }
#define HARDWARE_NAME "table"
#endif
#if !defined(__x86_64__)
static uint32_t crc_folding(uint32_t crc, const unsigned char *p, size_t n) { return crc_hardware(crc, p, n); }
static int has_folding(void) { return 0; }
#endif

static int mode = -1; // -1 unknown, 0 software, 1 hardware, 2 folding

static int current_mode(void) {
    int m = __atomic_load_n(&mode, __ATOMIC_RELAXED);
    if (m < 0) {
        m = has_folding() ? 2 : has_hardware() ? 1 : 0;
        __atomic_store_n(&mode, m, __ATOMIC_RELAXED);
    }
    return m;
}

int logd_crc32c_is_hardware(void) { return current_mode() != 0; }

const char *logd_crc32c_implementation(void) {
    static const char *const names[] = {"table", HARDWARE_NAME, "avx512-vpclmulqdq"};
    return names[current_mode()];
}

uint32_t logd_crc32c_extend(uint32_t crc, const void *bytes, size_t length) {
    const unsigned char *p = (const unsigned char *)bytes;
    crc = ~crc;
    switch (current_mode()) {
    case 2: crc = crc_folding(crc, p, length); break;
    case 1: crc = crc_hardware(crc, p, length); break;
    default: crc = crc_software(crc, p, length); break;
    }
    return ~crc;
}

uint32_t logd_crc32c_extend_portable(uint32_t crc, const void *bytes, size_t length) {
    return ~crc_software(~crc, (const unsigned char *)bytes, length);
}
