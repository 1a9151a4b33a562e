// A fused linear layer for bert_ms on CPU (MindSpore AOT custom operators): y = x W^T + b and its gradient.
//
// Why: MindSpore 2.7's CPU MatMul runs BERT's projections (2048 x 256 x 256, 2048 x 256 x 1024, ...) at
// ~180-220 GFLOP/s on two cores, where the same products reach ~400-440 through oneDNN's sgemm (the
// library MindSpore itself ships, mindspore/lib/libdnnl.so.2); and the bias gradient is a separate
// ReduceSum kernel. Here the forward is one call (the bias is written into y, then the product is added
// to it), and the backward is one call that computes dx = dy W, dW = dy^T x and db = the column sums of
// dy. The maths is bert_ms.transformer.layers.Linear's; see bert_ms/accel/fused.py.
//
// Threads: MindSpore's libdnnl is built for a thread-pool runtime and runs sgemm on one thread when no
// pool is active, so the work is split into blocks, one per OpenMP thread (omp_get_max_threads(): the
// CPUs this process may use, or OMP_NUM_THREADS), each block one sgemm: blocks of rows, or of output
// columns when there are few rows. The blocks are fixed by the shapes, so results do not depend on
// scheduling.
//
// Interface: as in fused_ops.cc (params = inputs then outputs, float32 only; returns 0 on success).

#include <omp.h>

#include <cstdint>
#include <cstring>

#include "kernel_math.h"
#include "onednn.h"

namespace {

using bert_ms_kernels::all_f32;
using bert_ms_kernels::numel;

// The [begin, end) share of n rows for thread t of T.
inline int64_t share(int64_t n, int t, int T) { return n * t / T; }

}  // namespace

// y[M, N] = x[M, K] W[N, K]^T + b[N]. params: x (any leading dims), W, b, y.
extern "C" int LinearForward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                             void *stream, void *extra) {
  (void)stream; (void)extra;
  if (nparam != 4 || !all_f32(nparam, dtypes)) return 1;
  const float *x = static_cast<const float *>(params[0]);
  const float *w = static_cast<const float *>(params[1]);
  const float *b = static_cast<const float *>(params[2]);
  float *y = static_cast<float *>(params[3]);
  const int64_t K = shapes[0][ndims[0] - 1], M = numel(ndims[0], shapes[0]) / K, N = shapes[1][0];
  int status = 0;
#pragma omp parallel reduction(| : status)
  {
    const int T = omp_get_num_threads(), t = omp_get_thread_num();
    if (M >= 64 * T) {  // blocks of rows (a training batch: 16 x 128 rows)
      const int64_t r0 = share(M, t, T), r1 = share(M, t + 1, T);
      for (int64_t r = r0; r < r1; ++r) std::memcpy(y + r * N, b, N * sizeof(float));
      if (r1 > r0) status |= dnnl_sgemm('N', 'T', r1 - r0, N, K, 1.0f, x + r0 * K, K, w, K, 1.0f, y + r0 * N, N);
    } else {  // few rows (one sequence, the pooler): blocks of output columns
      const int64_t c0 = share(N, t, T), c1 = share(N, t + 1, T);
      for (int64_t r = 0; r < M; ++r) std::memcpy(y + r * N + c0, b + c0, (c1 - c0) * sizeof(float));
      if (c1 > c0) status |= dnnl_sgemm('N', 'T', M, c1 - c0, K, 1.0f, x, K, w + c0 * K, K, 1.0f, y + c0, N);
    }
  }
  return status;
}

// Gradient of LinearForward. params: x [M, K], W [N, K], dy [M, N]; outputs dx [M, K], dW [N, K], db [N].
extern "C" int LinearBackward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                              void *stream, void *extra) {
  (void)stream; (void)extra;
  if (nparam != 6 || !all_f32(nparam, dtypes)) return 1;
  const float *x = static_cast<const float *>(params[0]);
  const float *w = static_cast<const float *>(params[1]);
  const float *dy = static_cast<const float *>(params[2]);
  float *dx = static_cast<float *>(params[3]);
  float *dw = static_cast<float *>(params[4]);
  float *db = static_cast<float *>(params[5]);
  const int64_t K = shapes[0][ndims[0] - 1], M = numel(ndims[0], shapes[0]) / K, N = shapes[1][0];
  int status = 0;
#pragma omp parallel reduction(| : status)
  {
    const int T = omp_get_num_threads(), t = omp_get_thread_num();
    // dx = dy W: rows of dx
    const int64_t r0 = share(M, t, T), r1 = share(M, t + 1, T);
    if (r1 > r0) status |= dnnl_sgemm('N', 'N', r1 - r0, K, N, 1.0f, dy + r0 * N, N, w, K, 0.0f, dx + r0 * K, K);
    // dW = dy^T x and db = sum over rows of dy: rows n0..n1 of dW (columns n0..n1 of dy)
    const int64_t n0 = share(N, t, T), n1 = share(N, t + 1, T);
    if (n1 > n0) {
      status |= dnnl_sgemm('T', 'N', n1 - n0, K, M, 1.0f, dy + n0, N, x, K, 0.0f, dw + n0 * K, K);
      float *acc = db + n0;
      std::memset(acc, 0, (n1 - n0) * sizeof(float));
      for (int64_t m = 0; m < M; ++m) {
        const float *row = dy + m * N + n0;
#pragma omp simd
        for (int64_t j = 0; j < n1 - n0; ++j) acc[j] += row[j];
      }
    }
  }
  return status;
}
