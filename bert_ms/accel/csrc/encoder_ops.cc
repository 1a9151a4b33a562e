// One post-norm Transformer encoder layer in one call, for inference (MindSpore AOT custom operator).
//
// The maths of bert_ms.transformer.model.EncoderLayer (pre_norm=False) in evaluation mode, where every
// dropout is the identity (Vaswani et al. 2017, sec. 3.1-3.3; BERT's sizes and GELU, Devlin et al. 2019):
//   Q, K, V = x Wq^T + bq, x Wk^T + bk, x Wv^T + bv
//   per batch row b and head h:  P = softmax(Q_h K_h^T * scale + mask[b]),  C_h = P V_h      (eq. 1)
//   h1 = LayerNorm(x + C Wo^T + bo)                                                           (Add & Norm)
//   y  = LayerNorm(h1 + act(h1 W1^T + b1) W2^T + b2)                                          (FFN, eq. 2)
//
// Why one call: a bert-base forward pass on one 128-token sequence is 12 layers of ~15 small kernels each
// (projections, bias adds, the attention core, residual adds, LayerNorms, GELU). Each MindSpore kernel
// launch costs tens of microseconds on the CPU backend, and the six products per layer are weight-bound
// (128 rows against 0.6-2.4 million weights). Here a layer is six oneDNN sgemm calls (MindSpore's own
// libdnnl, as in linear_ops.cc) with the element-wise work fused into their epilogues: the bias and the
// activation after the first FFN product, the residual add and LayerNorm after the output and the second
// FFN products. The products run feature-major (W x^T: one column per token), each thread on its own block
// of W's rows, so it streams its own half of the weights; the activations are transposed in and out.
//
// params: x [B, T, H], mask [B, T] (additive: 0 or a large negative number), wq, bq, wk, bk, wv, bv, wo, bo
//   ([H, H], [H]), gamma1, beta1 [H] (the attention's Add & Norm), w1 [I, H], b1 [I], w2 [H, I], b2 [H],
//   gamma2, beta2 [H] (the FFN's Add & Norm), cfg float32 [4] = (heads, eps, activation: 0 exact GELU,
//   1 ReLU, unused); outputs y [B, T, H], probs [B, heads, T, T] (the attention probabilities, as the
//   reference returns them). float32 only; returns 0 on success. The blocks are fixed by the shapes, so
// the results do not depend on thread scheduling.

#include <omp.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernel_math.h"
#include "onednn.h"

namespace {

using bert_ms_kernels::all_f32;
using bert_ms_kernels::masked_softmax_row;
using bert_ms_kernels::normal_cdf;
using bert_ms_kernels::row_stats;
using bert_ms_kernels::RowStats;

enum Act { kNone = -1, kGelu = 0, kRelu = 1 };

// The [begin, end) share of n items for thread t of T.
inline int64_t share(int64_t n, int t, int T) { return n * t / T; }

// Thread t's rows of yT[N, M] = act(W[N, K] xT[K, M] + b): the products run feature-major (one column per
// token), each thread on its own block of W's rows, so it streams its own part of the weights; oneDNN's
// sgemm is faster in this layout than x W^T for the few rows of an inference batch.
int gemm_part(const float *w, const float *xT, const float *b, float *yT, int64_t N, int64_t M, int64_t K, Act act,
              int t, int T) {
  const int64_t r0 = share(N, t, T), r1 = share(N, t + 1, T);
  if (r1 <= r0) return 0;
  const int status = dnnl_sgemm('N', 'N', r1 - r0, M, K, 1.0f, w + r0 * K, K, xT, M, 0.0f, yT + r0 * M, M);
  for (int64_t r = r0; r < r1; ++r) {
    float *row = yT + r * M;
    const float bias = b[r];
    if (act == kGelu) {
#pragma omp simd
      for (int64_t j = 0; j < M; ++j) {
        const float v = row[j] + bias;
        row[j] = v * normal_cdf(v);
      }
    } else if (act == kRelu) {
#pragma omp simd
      for (int64_t j = 0; j < M; ++j) {
        const float v = row[j] + bias;
        row[j] = v > 0.0f ? v : 0.0f;
      }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < M; ++j) row[j] += bias;
    }
  }
  return status;
}

// dst[i * ld_dst + j] (+)= src[j * ld_src + i] for rows i in [r0, r1) and j in [0, n), in 16 x 16 tiles; with
// `base` the transposed block is added to it (dst = base + src^T; base has dst's layout).
inline void transpose_block(const float *src, int64_t ld_src, float *dst, int64_t ld_dst, int64_t r0, int64_t r1,
                            int64_t n, const float *base = nullptr) {
  for (int64_t i0 = r0; i0 < r1; i0 += 16) {
    const int64_t i1 = i0 + 16 < r1 ? i0 + 16 : r1;
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
      const int64_t j1 = j0 + 16 < n ? j0 + 16 : n;
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j)
          dst[i * ld_dst + j] = (base != nullptr ? base[i * ld_dst + j] : 0.0f) + src[j * ld_src + i];
    }
  }
}

// Thread t's rows of out[M, H] = LayerNorm(a[M, H] + rT[H, M]^T) * gamma + beta, and of outT = out^T when it
// is not null.
inline void add_norm(const float *a, const float *rT, const float *gamma, const float *beta, float eps, float *out,
                     float *outT, int64_t M, int64_t H, int t, int T) {
  const int64_t r0 = share(M, t, T), r1 = share(M, t + 1, T);
  transpose_block(rT, M, out, H, r0, r1, H, a);
  for (int64_t i = r0; i < r1; ++i) {
    float *o = out + i * H;
    const RowStats st = row_stats(o, H, eps);
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) o[j] = (o[j] - st.mean) * st.rstd * gamma[j] + beta[j];
  }
  if (outT != nullptr)  // outT[j, i] = out[i, j] for this thread's columns i of outT
    for (int64_t i0 = r0; i0 < r1; i0 += 16) {
      const int64_t i1 = i0 + 16 < r1 ? i0 + 16 : r1;
      for (int64_t j0 = 0; j0 < H; j0 += 16) {
        const int64_t j1 = j0 + 16 < H ? j0 + 16 : H;
        for (int64_t j = j0; j < j1; ++j)
          for (int64_t i = i0; i < i1; ++i) outT[j * M + i] = out[i * H + j];
      }
    }
}

}  // namespace

extern "C" int EncoderLayerForward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                   void *stream, void *extra) {
  (void)stream; (void)extra;
  if (nparam != 21 || !all_f32(nparam, dtypes) || ndims[0] != 3) return 1;
  const float *const *in = reinterpret_cast<const float *const *>(params);
  const float *x = in[0], *mask = in[1];
  const float *wq = in[2], *bq = in[3], *wk = in[4], *bk = in[5], *wv = in[6], *bv = in[7], *wo = in[8], *bo = in[9];
  const float *g1 = in[10], *be1 = in[11], *w1 = in[12], *b1 = in[13], *w2 = in[14], *b2 = in[15];
  const float *g2 = in[16], *be2 = in[17], *cfg = in[18];
  float *y = static_cast<float *>(params[19]);
  float *probs = static_cast<float *>(params[20]);
  const int64_t B = shapes[0][0], T = shapes[0][1], H = shapes[0][2], I = shapes[12][0], M = B * T;
  const int64_t heads = static_cast<int64_t>(cfg[0]);
  const float eps = cfg[1];
  const Act act = cfg[2] == 0.0f ? kGelu : kRelu;
  if (heads < 1 || H % heads != 0 || shapes[14][1] != I) return 1;
  const int64_t d = H / heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  // scratch of the calling thread, kept between calls (feature-major: one column per token): x^T, Q^T, K^T,
  // V^T, the context^T, the attention output^T, h1 and h1^T, the FFN's output^T, its inner layer^T
  thread_local std::vector<float> work;
  const size_t need = static_cast<size_t>(9 * M * H + M * I);
  if (work.size() < need) work.resize(need);
  float *xT = work.data(), *qT = xT + M * H, *kT = qT + M * H, *vT = kT + M * H, *ctxT = vT + M * H;
  float *attT = ctxT + M * H, *h1 = attT + M * H, *h1T = h1 + M * H, *outT = h1T + M * H, *innerT = outT + M * H;
  int status = 0;
#pragma omp parallel reduction(| : status)
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    transpose_block(x, H, xT, M, share(H, t, nt), share(H, t + 1, nt), M);  // xT = x^T, this thread's rows
#pragma omp barrier
    status |= gemm_part(wq, xT, bq, qT, H, M, H, kNone, t, nt);
    status |= gemm_part(wk, xT, bk, kT, H, M, H, kNone, t, nt);
    status |= gemm_part(wv, xT, bv, vT, H, M, H, kNone, t, nt);
#pragma omp barrier
#pragma omp for schedule(static)
    for (int64_t task = 0; task < B * heads; ++task) {  // the attention core, one (row, head) per task
      const int64_t b = task / heads, h = task % heads, off = h * d * M + b * T;  // Q_h^T: rows h*d.., columns b*T..
      float *P = probs + task * T * T;
      status |= dnnl_sgemm('T', 'N', T, T, d, scale, qT + off, M, kT + off, M, 0.0f, P, T);  // Q_h K_h^T
      const float *m = mask + b * T;
      for (int64_t i = 0; i < T; ++i) {
        float *row = P + i * T;
        masked_softmax_row(row, m, T);
      }
      status |= dnnl_sgemm('N', 'T', d, T, T, 1.0f, vT + off, M, P, T, 0.0f, ctxT + off, M);  // (P V_h)^T
    }
    status |= gemm_part(wo, ctxT, bo, attT, H, M, H, kNone, t, nt);
#pragma omp barrier
    add_norm(x, attT, g1, be1, eps, h1, h1T, M, H, t, nt);
#pragma omp barrier
    status |= gemm_part(w1, h1T, b1, innerT, I, M, H, act, t, nt);
#pragma omp barrier
    status |= gemm_part(w2, innerT, b2, outT, H, M, I, kNone, t, nt);
#pragma omp barrier
    add_norm(h1, outT, g2, be2, eps, y, nullptr, M, H, t, nt);
  }
  return status;
}
