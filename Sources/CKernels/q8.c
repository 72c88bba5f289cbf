#include "mtl_kernels.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

int mtl_q8_padded_k(int k) { return (k + 3) / 4 * 4; }
int mtl_q8_padded_n(int n) { return (n + 15) / 16 * 16; }
int64_t mtl_q8_packed_size(int k, int n) { return (int64_t)mtl_q8_padded_k(k) * mtl_q8_padded_n(n); }

void mtl_q8_pack(const int8_t *q, int k, int n, int8_t *packed, int32_t *sum) {
    int kp = mtl_q8_padded_k(k), np = mtl_q8_padded_n(n), k4n = kp / 4;
    memset(packed, 0, (size_t)kp * (size_t)np);
    for (int o = 0; o < n; o++) {
        const int8_t *row = q + (int64_t)o * k;
        int32_t total = 0;
        int nb = o / 16, lane = o % 16;
        for (int j = 0; j < k; j++) {
            total += row[j];
            packed[(((int64_t)nb * k4n + j / 4) * 16 + lane) * 4 + j % 4] = row[j];
        }
        sum[o] = total;
    }
}

/// Asymmetric quantisation of one row to uint8 (as ONNX Runtime's dynamic quantisation does):
/// x ~ scale * (q - zero), the range spanning 0 so that zero is exact; padding holds `zero`.
static float quantize_row(const float *x, int k, uint8_t *xq, int32_t *zero) {
    float lo = 0, hi = 0;
    for (int j = 0; j < k; j++) { if (x[j] < lo) lo = x[j]; if (x[j] > hi) hi = x[j]; }
    float s = hi > lo ? (hi - lo) / 255.0f : 1.0f, inv = 1.0f / s;
    float z = nearbyintf(-lo * inv);
    if (z < 0) z = 0;
    if (z > 255) z = 255;
    for (int j = 0; j < k; j++) {
        float q = nearbyintf(x[j] * inv) + z;
        if (q > 255) q = 255;
        if (q < 0) q = 0;
        xq[j] = (uint8_t)q;
    }
    int kp = mtl_q8_padded_k(k);
    for (int j = k; j < kp; j++) xq[j] = (uint8_t)z;
    *zero = (int32_t)z;
    return s;
}

#if defined(__x86_64__)
/// The same quantisation 16 values at a time (cvtps rounds to nearest even, as nearbyintf does).
__attribute__((target("avx512f,avx512bw,avx512vl")))
static float quantize_row_avx512(const float *x, int k, uint8_t *xq, int32_t *zero) {
    __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
    int j = 0;
    for (; j + 16 <= k; j += 16) { __m512 v = _mm512_loadu_ps(x + j); vlo = _mm512_min_ps(vlo, v); vhi = _mm512_max_ps(vhi, v); }
    if (j < k) {
        __mmask16 m = (__mmask16)((1u << (k - j)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + j);
        vlo = _mm512_min_ps(vlo, v); vhi = _mm512_max_ps(vhi, v);
    }
    float lo = _mm512_reduce_min_ps(vlo), hi = _mm512_reduce_max_ps(vhi);
    float s = hi > lo ? (hi - lo) / 255.0f : 1.0f, inv = 1.0f / s;
    float z = nearbyintf(-lo * inv);
    if (z < 0) z = 0;
    if (z > 255) z = 255;
    __m512 vinv = _mm512_set1_ps(inv);
    __m512i vz = _mm512_set1_epi32((int)z), v0 = _mm512_setzero_si512(), v255 = _mm512_set1_epi32(255);
    for (j = 0; j < k; j += 16) {
        int left = k - j;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + j), vinv)), vz);
        q = _mm512_min_epi32(_mm512_max_epi32(q, v0), v255);
        _mm_mask_storeu_epi8(xq + j, m, _mm512_cvtepi32_epi8(q));
    }
    int kp = mtl_q8_padded_k(k);
    for (j = k; j < kp; j++) xq[j] = (uint8_t)z;
    *zero = (int32_t)z;
    return s;
}
#endif

static void gemv_generic(const uint8_t *x, const int8_t *w, int kp, int np, int32_t *acc) {
    int k4n = kp / 4;
    for (int nb = 0; nb < np / 16; nb++) {
        int32_t a[16] = {0};
        const int8_t *block = w + (int64_t)nb * k4n * 64;
        for (int g = 0; g < k4n; g++) {
            const uint8_t *xg = x + 4 * g;
            const int8_t *wg = block + (int64_t)g * 64;
            for (int o = 0; o < 16; o++) {
                a[o] += xg[0] * wg[4 * o] + xg[1] * wg[4 * o + 1] + xg[2] * wg[4 * o + 2] + xg[3] * wg[4 * o + 3];
            }
        }
        memcpy(acc + nb * 16, a, sizeof a);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void gemv_avx2(const uint8_t *x, const int8_t *w, int kp, int np, int32_t *acc) {
    // u8 x s8 widened to 16 bits, then pairs summed to 32 bits (no saturation): 8 channels x
    // 4 k per 256-bit step, two steps per 16-channel group of 4 k.
    int k4n = kp / 4;
    for (int nb = 0; nb < np / 16; nb++) {
        __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
        const int8_t *block = w + (int64_t)nb * k4n * 64;
        for (int g = 0; g < k4n; g++) {
            int32_t four;
            memcpy(&four, x + 4 * g, 4);
            __m256i xb = _mm256_cvtepu8_epi16(_mm_set1_epi32(four));           // 16 x u16 (x0..x3 repeated)
            __m128i w0 = _mm_loadu_si128((const __m128i *)(block + g * 64));      // channels 0-3
            __m128i w1 = _mm_loadu_si128((const __m128i *)(block + g * 64 + 16)); // 4-7
            __m128i w2 = _mm_loadu_si128((const __m128i *)(block + g * 64 + 32)); // 8-11
            __m128i w3 = _mm_loadu_si128((const __m128i *)(block + g * 64 + 48)); // 12-15
            __m256i p0 = _mm256_madd_epi16(xb, _mm256_cvtepi8_epi16(w0));         // 8 pair sums: ch0..3 x 2
            __m256i p1 = _mm256_madd_epi16(xb, _mm256_cvtepi8_epi16(w1));
            __m256i p2 = _mm256_madd_epi16(xb, _mm256_cvtepi8_epi16(w2));
            __m256i p3 = _mm256_madd_epi16(xb, _mm256_cvtepi8_epi16(w3));
            // hadd pairs -> per channel sums; order fixed below by a permute.
            __m256i s01 = _mm256_hadd_epi32(p0, p1);  // [c0 c1 c4 c5 | c2 c3 c6 c7] (lanes)
            __m256i s23 = _mm256_hadd_epi32(p2, p3);
            lo = _mm256_add_epi32(lo, s01);
            hi = _mm256_add_epi32(hi, s23);
        }
        // Qwords (c0 c1)(c4 c5)(c2 c3)(c6 c7) -> channels in order.
        _mm256_storeu_si256((__m256i *)(acc + nb * 16), _mm256_permute4x64_epi64(lo, 0xD8));
        _mm256_storeu_si256((__m256i *)(acc + nb * 16 + 8), _mm256_permute4x64_epi64(hi, 0xD8));
    }
}

__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void gemv_vnni(const uint8_t *x, const int8_t *w, int kp, int np, int32_t *acc) {
    int k4n = kp / 4, blocks = np / 16, nb = 0;
    const int64_t stride = (int64_t)k4n * 64;
    // Four blocks (64 channels) share each broadcast of x: four independent accumulators.
    for (; nb + 4 <= blocks; nb += 4) {
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        const int8_t *b0 = w + nb * stride;
        for (int g = 0; g < k4n; g++) {
            int32_t four;
            memcpy(&four, x + 4 * g, 4);
            __m512i xb = _mm512_set1_epi32(four);
            a0 = _mm512_dpbusd_epi32(a0, xb, _mm512_loadu_si512(b0 + g * 64));
            a1 = _mm512_dpbusd_epi32(a1, xb, _mm512_loadu_si512(b0 + stride + g * 64));
            a2 = _mm512_dpbusd_epi32(a2, xb, _mm512_loadu_si512(b0 + 2 * stride + g * 64));
            a3 = _mm512_dpbusd_epi32(a3, xb, _mm512_loadu_si512(b0 + 3 * stride + g * 64));
        }
        _mm512_storeu_si512(acc + nb * 16, a0);
        _mm512_storeu_si512(acc + nb * 16 + 16, a1);
        _mm512_storeu_si512(acc + nb * 16 + 32, a2);
        _mm512_storeu_si512(acc + nb * 16 + 48, a3);
    }
    for (; nb < blocks; nb++) {
        __m512i a0 = _mm512_setzero_si512(), a1 = a0;
        const int8_t *b0 = w + nb * stride;
        int g = 0;
        for (; g + 2 <= k4n; g += 2) {
            int32_t f0, f1;
            memcpy(&f0, x + 4 * g, 4);
            memcpy(&f1, x + 4 * g + 4, 4);
            a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(f0), _mm512_loadu_si512(b0 + g * 64));
            a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(f1), _mm512_loadu_si512(b0 + g * 64 + 64));
        }
        if (g < k4n) {
            int32_t f0;
            memcpy(&f0, x + 4 * g, 4);
            a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(f0), _mm512_loadu_si512(b0 + g * 64));
        }
        _mm512_storeu_si512(acc + nb * 16, _mm512_add_epi32(a0, a1));
    }
}
#endif

#if defined(__x86_64__)
/// Four rows at a time: each 64-byte weight load feeds four rows' accumulators, so the weights
/// stream once per four rows instead of once per row.
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void gemm_vnni(const uint8_t *x, int m, const int8_t *w, int kp, int np, int32_t *acc) {
    int k4n = kp / 4, blocks = np / 16, r = 0;
    const int64_t stride = (int64_t)k4n * 64;
    for (; r + 4 <= m; r += 4) {
        const uint8_t *x0 = x + (int64_t)r * kp, *x1 = x0 + kp, *x2 = x1 + kp, *x3 = x2 + kp;
        for (int nb = 0; nb < blocks; nb++) {
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
            const int8_t *b = w + nb * stride;
            for (int g = 0; g < k4n; g++) {
                __m512i wv = _mm512_loadu_si512(b + g * 64);
                int32_t f0, f1, f2, f3;
                memcpy(&f0, x0 + 4 * g, 4); memcpy(&f1, x1 + 4 * g, 4); memcpy(&f2, x2 + 4 * g, 4); memcpy(&f3, x3 + 4 * g, 4);
                a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(f0), wv);
                a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(f1), wv);
                a2 = _mm512_dpbusd_epi32(a2, _mm512_set1_epi32(f2), wv);
                a3 = _mm512_dpbusd_epi32(a3, _mm512_set1_epi32(f3), wv);
            }
            int32_t *o = acc + (int64_t)r * np + nb * 16;
            _mm512_storeu_si512(o, a0);
            _mm512_storeu_si512(o + np, a1);
            _mm512_storeu_si512(o + 2 * np, a2);
            _mm512_storeu_si512(o + 3 * np, a3);
        }
    }
    for (; r < m; r++) gemv_vnni(x + (int64_t)r * kp, w, kp, np, acc + (int64_t)r * np);
}
#endif

typedef void (*gemv_fn)(const uint8_t *, const int8_t *, int, int, int32_t *);

static gemv_fn select_gemv(const char **name) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) { *name = "avx512-vnni"; return gemv_vnni; }
    if (__builtin_cpu_supports("avx2")) { *name = "avx2"; return gemv_avx2; }
#endif
    *name = "generic";
    return gemv_generic;
}

static gemv_fn chosen;
static const char *chosen_name;

static gemv_fn gemv(void) {
    gemv_fn f = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!f) {
        const char *name;
        f = select_gemv(&name);
        __atomic_store_n(&chosen_name, name, __ATOMIC_RELEASE);
        __atomic_store_n(&chosen, f, __ATOMIC_RELEASE);
    }
    return f;
}

int mtl_q8_gemv(int isa, const uint8_t *x, const int8_t *w, int k, int n, int32_t *acc) {
    int kp = mtl_q8_padded_k(k), np = mtl_q8_padded_n(n);
    switch (isa) {
    case 0: gemv_generic(x, w, kp, np, acc); return 0;
#if defined(__x86_64__)
    case 1:
        if (!__builtin_cpu_supports("avx2")) return -1;
        gemv_avx2(x, w, kp, np, acc); return 0;
    case 2:
        if (!__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512bw")) return -1;
        gemv_vnni(x, w, kp, np, acc); return 0;
#endif
    default: return -1;
    }
}

const char *mtl_q8_isa(void) { gemv(); return __atomic_load_n(&chosen_name, __ATOMIC_ACQUIRE); }

static int use_avx512(void) {
#if defined(__x86_64__)
    static int level = -1;
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l < 0) {
        __builtin_cpu_init();
        l = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") ? 1 : 0;
        l += l && __builtin_cpu_supports("avx512vnni") ? 1 : 0;
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    return l;
#else
    return 0;
#endif
}

void mtl_q8_linear_rows(const float *x, int ldx, int m, int k, const int8_t *packed, int n, const float *scale,
                        const int32_t *sum, const float *bias, uint8_t *xq, int32_t *acc, float *y, int ldy) {
    int kp = mtl_q8_padded_k(k), np = mtl_q8_padded_n(n), level = use_avx512();
    for (int r0 = 0; r0 < m; r0 += MTL_Q8_BLOCK_ROWS) {
        int rows = m - r0 < MTL_Q8_BLOCK_ROWS ? m - r0 : MTL_Q8_BLOCK_ROWS;
        float sx[MTL_Q8_BLOCK_ROWS];
        int32_t zero[MTL_Q8_BLOCK_ROWS];
        for (int r = 0; r < rows; r++) {
            const float *xr = x + (int64_t)(r0 + r) * ldx;
#if defined(__x86_64__)
            sx[r] = level ? quantize_row_avx512(xr, k, xq + (int64_t)r * kp, &zero[r]) : quantize_row(xr, k, xq + (int64_t)r * kp, &zero[r]);
#else
            sx[r] = quantize_row(xr, k, xq + (int64_t)r * kp, &zero[r]);
#endif
        }
#if defined(__x86_64__)
        if (level == 2) gemm_vnni(xq, rows, packed, kp, np, acc);
        else
#endif
        for (int r = 0; r < rows; r++) gemv()(xq + (int64_t)r * kp, packed, kp, np, acc + (int64_t)r * np);
        for (int r = 0; r < rows; r++) {
            float *yr = y + (int64_t)(r0 + r) * ldy;
            const int32_t *ar = acc + (int64_t)r * np;
            float s = sx[r];
            int32_t z = zero[r];
            for (int o = 0; o < n; o++) yr[o] = bias[o] + scale[o] * s * (float)(ar[o] - z * sum[o]);
        }
    }
}
