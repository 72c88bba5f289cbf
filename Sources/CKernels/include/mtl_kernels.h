#ifndef MTL_KERNELS_H
#define MTL_KERNELS_H
#include <stdint.h>

// int8 inference kernels: a weight matrix quantised per output channel (symmetric int8) times
// a row quantised on the fly (asymmetric uint8 with a zero point, for the u8 x s8 dot product
// instructions). Hand-written because none of Debian's libraries offers an int8
// matrix-vector product for one row at a time with per-channel scales (OpenBLAS has no int8
// GEMM; oneDNN's needs a primitive per shape and costs more than the product at batch 1).

/// Packed layout: blocks of 16 output channels; within a block, k in groups of 4, each group
/// 16 channels x 4 bytes. k is padded to a multiple of 4 (zeros), n to a multiple of 16.
int64_t mtl_q8_packed_size(int k, int n);
int mtl_q8_padded_k(int k);
int mtl_q8_padded_n(int n);

/// Packs q (n, k) row-major, int8 per output row, into `packed` (mtl_q8_packed_size bytes) and
/// writes the sum of each row's values to `sum` (n).
void mtl_q8_pack(const int8_t *q, int k, int n, int8_t *packed, int32_t *sum);

/// Rows quantised at a time by mtl_q8_linear_rows (the scratch it needs is per this many rows).
#define MTL_Q8_BLOCK_ROWS 32

/// y (m, n; row stride ldy) = bias + (x quantised row by row) . W^T dequantised, x (m, k; row
/// stride ldx). `xq` holds MTL_Q8_BLOCK_ROWS * mtl_q8_padded_k(k) bytes, `acc`
/// MTL_Q8_BLOCK_ROWS * mtl_q8_padded_n(n) ints.
void mtl_q8_linear_rows(const float *x, int ldx, int m, int k, const int8_t *packed, int n, const float *scale,
                        const int32_t *sum, const float *bias, uint8_t *xq, int32_t *acc, float *y, int ldy);

/// The raw product with one instruction set (0 generic, 1 avx2, 2 avx512-vnni), for tests:
/// acc (padded n) = xq (padded k, uint8) . packed; returns -1 when this CPU lacks the set.
int mtl_q8_gemv(int isa, const uint8_t *xq, const int8_t *packed, int k, int n, int32_t *acc);

/// Which instruction set the kernels use here: "avx512-vnni", "avx2" or "generic".
const char *mtl_q8_isa(void);
#endif
