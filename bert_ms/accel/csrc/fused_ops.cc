// Fused element-wise CPU kernels for bert_ms (MindSpore AOT custom operators).
//
// Why: on CPU, MindSpore runs exact GELU, 0.5 * x * (1 + erf(x / sqrt(2))), as five separate kernels
// (Div, Erf, Add, Mul, Mul) and its autodiff gradient as about ten more (Exp, Square, Neg, Mul, ...),
// each one a full pass over the [batch, seq, 4H] activation. Here the forward is one pass and the
// backward, dx = dout * (Phi(x) + x * phi(x)), is one pass too; the intermediate tensors are never
// written to memory. The maths is the reference in bert_ms/feedforward.py; see bert_ms/fused.py.
//
// Interface (MindSpore "aot" custom op, CPU): extern "C" int f(int nparam, void **params, int *ndims,
// int64_t **shapes, const char **dtypes, void *stream, void *extra); params = inputs then outputs;
// returns 0 on success. Only float32 is supported (the Python side never calls these otherwise).
//
// Phi (through erfc) and exp are written out as polynomials, with no branches and no libm calls, so that
// the compiler vectorises the loops (glibc's erff/expf are scalar calls). Phi is accurate to ~1e-7
// absolute, exp to ~1e-7 relative; tests/test_fused_kernels.py checks GELU and its gradient against
// MindSpore's own ops to 1e-6.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>

#include "kernel_math.h"

namespace {

using bert_ms_kernels::all_f32;
using bert_ms_kernels::exp_neg;
using bert_ms_kernels::normal_cdf;
using bert_ms_kernels::numel;
using bert_ms_kernels::seeded_uniform;

#ifndef BERT_MS_THREADS
#define BERT_MS_THREADS 2  // the course machine has 2 cores; more threads only oversubscribe
#endif
constexpr int kThreads = BERT_MS_THREADS;

constexpr float kInvSqrt2Pi = 0.39894228040143268f;

}  // namespace

// GELU forward: y = 0.5 * x * (1 + erf(x / sqrt(2))). params: x, y.
extern "C" int GeluForward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                           void *stream, void *extra) {
  (void)stream; (void)extra;
  if (nparam != 2 || !all_f32(nparam, dtypes)) return 1;
  const float *x = static_cast<const float *>(params[0]);
  float *y = static_cast<float *>(params[1]);
  const int64_t n = numel(ndims[0], shapes[0]);
#pragma omp parallel for simd num_threads(kThreads) schedule(dynamic, 16384)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = v * normal_cdf(v);
  }
  return 0;
}

// GELU backward: dx = dout * (Phi(x) + x * phi(x)). params: x, dout, dx.
extern "C" int GeluBackward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                            void *stream, void *extra) {
  (void)stream; (void)extra;
  if (nparam != 3 || !all_f32(nparam, dtypes)) return 1;
  const float *x = static_cast<const float *>(params[0]);
  const float *dy = static_cast<const float *>(params[1]);
  float *dx = static_cast<float *>(params[2]);
  const int64_t n = numel(ndims[0], shapes[0]);
#pragma omp parallel for simd num_threads(kThreads) schedule(dynamic, 16384)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float pdf = kInvSqrt2Pi * exp_neg(-0.5f * v * v);
    dx[i] = dy[i] * std::fma(v, pdf, normal_cdf(v));
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------
// LayerNorm over the last axis (Ba et al. 2016): y = (x - mean) / sqrt(var + eps) * gamma + beta.
//
// MindSpore's CPU LayerNormGrad is the costliest element-wise kernel of a BERT step. The backward here
// is one kernel that re-reads x, recomputes each row's mean and 1/std (cheaper than storing them: a
// row is H floats), and writes dx, dgamma and dbeta:
//   xhat = (x - mean) * rstd,  g = dy * gamma,
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dgamma = sum_rows(dy * xhat),  dbeta = sum_rows(dy).
// Row statistics are accumulated in double. dgamma/dbeta are summed per thread over a fixed half of the
// rows and then added in a fixed order, so results do not depend on scheduling.

namespace {

using bert_ms_kernels::row_stats;
using bert_ms_kernels::RowStats;

inline bool layer_norm_shapes(int nparam, int *ndims, int64_t **shapes, int64_t *rows, int64_t *h) {
  if (ndims[0] < 1) return false;
  *h = shapes[0][ndims[0] - 1];
  *rows = *h > 0 ? numel(ndims[0], shapes[0]) / *h : 0;
  (void)nparam;
  return ndims[1] == 1 && shapes[1][0] == *h;
}

}  // namespace

// LayerNorm forward. params: x [.., H], gamma [H], beta [H], eps [1], y [.., H].
extern "C" int LayerNormForward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                void *stream, void *extra) {
  (void)stream; (void)extra;
  int64_t rows, h;
  if (nparam != 5 || !all_f32(nparam, dtypes) || !layer_norm_shapes(nparam, ndims, shapes, &rows, &h)) return 1;
  const float *x = static_cast<const float *>(params[0]);
  const float *gamma = static_cast<const float *>(params[1]);
  const float *beta = static_cast<const float *>(params[2]);
  const float eps = *static_cast<const float *>(params[3]);
  float *y = static_cast<float *>(params[4]);
#pragma omp parallel for num_threads(kThreads) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * h;
    float *yr = y + r * h;
    const RowStats st = row_stats(xr, h, eps);
#pragma omp simd
    for (int64_t j = 0; j < h; ++j) yr[j] = (xr[j] - st.mean) * st.rstd * gamma[j] + beta[j];
  }
  return 0;
}

// LayerNorm backward. params: x [.., H], gamma [H], dy [.., H], eps [1], dx [.., H], dgamma [H], dbeta [H].
extern "C" int LayerNormBackward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                 void *stream, void *extra) {
  (void)stream; (void)extra;
  int64_t rows, h;
  if (nparam != 7 || !all_f32(nparam, dtypes) || !layer_norm_shapes(nparam, ndims, shapes, &rows, &h)) return 1;
  const float *x = static_cast<const float *>(params[0]);
  const float *gamma = static_cast<const float *>(params[1]);
  const float *dy = static_cast<const float *>(params[2]);
  const float eps = *static_cast<const float *>(params[3]);
  float *dx = static_cast<float *>(params[4]);
  float *dgamma = static_cast<float *>(params[5]);
  float *dbeta = static_cast<float *>(params[6]);
  // per-part partial sums of dgamma and dbeta, in double; kThreads fixed parts of the rows
  double *part = new (std::nothrow) double[2 * kThreads * h]();
  if (part == nullptr) return 1;
#pragma omp parallel for num_threads(kThreads) schedule(static, 1)
  for (int p = 0; p < kThreads; ++p) {
    double *pg = part + 2 * p * h;
    double *pb = pg + h;
    const int64_t r0 = rows * p / kThreads, r1 = rows * (p + 1) / kThreads;
    for (int64_t r = r0; r < r1; ++r) {
      const float *xr = x + r * h;
      const float *dyr = dy + r * h;
      float *dxr = dx + r * h;
      const RowStats st = row_stats(xr, h, eps);
      float sg = 0.0f, sgx = 0.0f;
#pragma omp simd reduction(+ : sg, sgx)
      for (int64_t j = 0; j < h; ++j) {
        const float xhat = (xr[j] - st.mean) * st.rstd;
        const float g = dyr[j] * gamma[j];
        sg += g;
        sgx += g * xhat;
      }
      const float mg = sg / static_cast<float>(h), mgx = sgx / static_cast<float>(h);
#pragma omp simd
      for (int64_t j = 0; j < h; ++j) {
        const float xhat = (xr[j] - st.mean) * st.rstd;
        dxr[j] = st.rstd * (dyr[j] * gamma[j] - mg - xhat * mgx);
        pg[j] += static_cast<double>(dyr[j]) * xhat;
        pb[j] += dyr[j];
      }
    }
  }
  for (int64_t j = 0; j < h; ++j) {
    double g = 0.0, b = 0.0;
    for (int p = 0; p < kThreads; ++p) {
      g += part[2 * p * h + j];
      b += part[2 * p * h + h + j];
    }
    dgamma[j] = static_cast<float>(g);
    dbeta[j] = static_cast<float>(b);
  }
  delete[] part;
  return 0;
}

// ---------------------------------------------------------------------------------------------------
// Seeded dropout (Srivastava et al. 2014, inverted): the mask of bert_ms.training.SeededDropout, bit for
// bit, in one pass. SeededDropout keeps element i when u_i >= p, where
//   u_i = float32(mix(mix(i) xor key)) / 2^31,   mix(h) = xor-shift-multiply (murmur3's finalizer shape):
//   h ^= h >> 16; h = (h * 0x45D9F3B) & (2^31 - 1); h ^= h >> 16; h = (h * 0x45D9F3B) & (2^31 - 1); h ^= h >> 16
// and key = mix((seed * 131 + layer) & (2^31 - 1)) is computed in the graph. MindSpore computes mix on int64
// tensors with ~15 kernels per dropout; here every h is below 2^31, so (h * c) & (2^31 - 1) equals the same
// in uint32 arithmetic (the low 31 bits of a product depend only on the low 32 bits of its factors), which
// the compiler vectorises. The mask is never stored: the backward pass is this same function applied to
// dout (d/dx of x * keep * scale), regenerating the mask from the key.
//
// params: x [any shape, < 2^31 elements], key int64 [1], rate float32 [2] = (p, 1 / (1 - p)), y [x's shape].


extern "C" int SeededDropout(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                             void *stream, void *extra) {
  (void)stream; (void)extra;
  if (nparam != 4) return 1;
  if (std::strcmp(dtypes[0], "float32") != 0 && std::strcmp(dtypes[0], "float") != 0) return 1;
  if (std::strcmp(dtypes[1], "int64") != 0) return 1;
  const int64_t n = numel(ndims[0], shapes[0]);
  if (n >= (int64_t{1} << 31)) return 1;  // the index hash is defined on 31-bit indices
  const float *x = static_cast<const float *>(params[0]);
  const uint32_t key = static_cast<uint32_t>(*static_cast<const int64_t *>(params[1]) & 0x7FFFFFFF);
  const float *rate = static_cast<const float *>(params[2]);
  const float p = rate[0], scale = rate[1];
  float *y = static_cast<float *>(params[3]);
#pragma omp parallel for simd num_threads(kThreads) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float u = seeded_uniform(static_cast<uint32_t>(i), key);
    y[i] = u >= p ? x[i] * scale : 0.0f;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------
// Sum of squares of many tensors, for the global gradient norm of gradient clipping (Pascanu et al. 2013):
// ||g||^2 = sum over every tensor of sum(g^2). MindSpore runs Square + ReduceSum per tensor (two kernels
// and a temporary each, ~160 launches for BERT-mini) and an AddN; here it is one call. Accumulated in
// double over a fixed split of each tensor, added in a fixed order, so the result does not depend on
// thread scheduling.
// params: t_1 .. t_k (float32, any shapes), out float32 [1].

extern "C" int SumOfSquares(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                            void *stream, void *extra) {
  (void)stream; (void)extra;
  if (nparam < 2 || !all_f32(nparam, dtypes)) return 1;
  const int k = nparam - 1;
  double part[kThreads] = {};
#pragma omp parallel num_threads(kThreads)
  {
#pragma omp for schedule(static, 1)
    for (int t = 0; t < kThreads; ++t) {
      double acc = 0.0;
      for (int j = 0; j < k; ++j) {
        const float *g = static_cast<const float *>(params[j]);
        const int64_t n = numel(ndims[j], shapes[j]);
        const int64_t a = n * t / kThreads, b = n * (t + 1) / kThreads;
        // blocks of float sums (vectorised), each added to the double total
        for (int64_t s = a; s < b; s += 4096) {
          const int64_t e = s + 4096 < b ? s + 4096 : b;
          float blk = 0.0f;
#pragma omp simd reduction(+ : blk)
          for (int64_t i = s; i < e; ++i) blk += g[i] * g[i];
          acc += blk;
        }
      }
      part[t] = acc;
    }
  }
  double total = 0.0;
  for (int t = 0; t < kThreads; ++t) total += part[t];
  *static_cast<float *>(params[k]) = static_cast<float>(total);
  return 0;
}

// AdamW's update of every parameter tensor in one call (nn.AdamWeightDecay's rule: Loshchilov & Hutter 2019,
// decoupled weight decay; no bias correction, as in the BERT reference optimizer), with gradient clipping's
// scale folded in:
//   g = grad * scale;  m += (g - m) (1 - beta1);  v += (g^2 - v) (1 - beta2)
//   p -= lr_j (m / (sqrt(v) + eps) + wd_j p)
// written with the fused multiply-adds of MindSpore's own CPU AdamWeightDecay kernel, so that m and v are
// bit for bit its results and p to one rounding of the last subtraction. MindSpore launches that kernel once per
// tensor (78 for BERT-mini) and clipping's scale is another Mul per tensor; the update is memory-bound, so
// one pass over all of them, split evenly between the threads, is what it costs.
// The parameters and both moments are updated in place: the op is marked as having side effects
// (bert_ms.accel.optimizer), and its inputs are the Parameters' own buffers.
// params: p_1..p_k, m_1..m_k, v_1..v_k, g_1..g_k (float32, p_j, m_j, v_j, g_j of one shape), hyper float32
// [4 + 2k] = (beta1, beta2, eps, scale, lr_1..lr_k, wd_1..wd_k), out float32 [1] (set to 0).

extern "C" int AdamWeightDecayUpdate(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                     void *stream, void *extra) {
  (void)stream; (void)extra;
  if (nparam < 6 || (nparam - 2) % 4 != 0 || !all_f32(nparam, dtypes)) return 1;
  const int k = (nparam - 2) / 4;
  const float *hyper = static_cast<const float *>(params[4 * k]);
  if (numel(ndims[4 * k], shapes[4 * k]) != 4 + 2 * k) return 1;
  int64_t total = 0;
  for (int j = 0; j < k; ++j) {
    const int64_t n = numel(ndims[j], shapes[j]);
    for (int r = 1; r < 4; ++r)
      if (numel(ndims[j + r * k], shapes[j + r * k]) != n) return 1;
    total += n;
  }
  const float beta1 = hyper[0], beta2 = hyper[1], eps = hyper[2], scale = hyper[3];
  const float one_minus_b1 = 1.0f - beta1, one_minus_b2 = 1.0f - beta2;
#pragma omp parallel num_threads(kThreads)
  {
#pragma omp for schedule(static, 1)
    for (int t = 0; t < kThreads; ++t) {
      // this thread's share [lo, hi) of all elements, counted across the tensors in order
      const int64_t lo = total * t / kThreads, hi = total * (t + 1) / kThreads;
      int64_t start = 0;
      for (int j = 0; j < k; ++j) {
        const int64_t n = numel(ndims[j], shapes[j]);
        const int64_t a = lo > start ? lo - start : 0, b = hi - start < n ? hi - start : n;
        start += n;
        if (b <= a) continue;
        float *p = static_cast<float *>(params[j]), *m = static_cast<float *>(params[j + k]);
        float *v = static_cast<float *>(params[j + 2 * k]);
        const float *g = static_cast<const float *>(params[j + 3 * k]);
        const float lr = hyper[4 + j], wd = hyper[4 + k + j];
#pragma omp simd
        for (int64_t i = a; i < b; ++i) {
          const float gi = g[i] * scale;
          const float mi = std::fma(gi - m[i], one_minus_b1, m[i]);
          const float vi = std::fma(std::fma(gi, gi, -v[i]), one_minus_b2, v[i]);
          const float step = mi / (std::sqrt(vi) + eps);
          m[i] = mi;
          v[i] = vi;
          p[i] = std::fma(-lr, std::fma(wd, p[i], step), p[i]);
        }
      }
    }
  }
  *static_cast<float *>(params[4 * k + 1]) = 0.0f;
  return 0;
}
