// Fused self-attention core for bert_ms on CPU (MindSpore AOT custom operators): from the projections
// q, k, v [B, T, H] to the context [B, T, H], and its gradient.
//
// Vaswani et al. 2017, eq. (1), per batch row b and head h (d = H / heads, columns h*d .. h*d+d-1):
//   S = (Q K^T) * scale + mask[b]       P = softmax(S) (rows)       C = dropout(P) V
// with BERT's dropout on the probabilities, the mask of bert_ms.train.dropout.SeededDropout bit for bit
// (element index of the [B, heads, T, T] tensor, as the reference applies it). The reference
// (bert_ms.transformer.attention) splits the heads with a reshape and a transpose, runs BatchMatMul,
// adds the mask with a broadcast, softmax, dropout, BatchMatMul and merges the heads with another
// transpose: on MindSpore's CPU backend those element-wise passes and transposes (and their gradients)
// cost more than the products. Here each head reads its columns of q, k, v in place (a leading dimension
// of H), and every product is one oneDNN sgemm (MindSpore's own libdnnl, as in linear_ops.cc).
//
// Forward outputs: the context and P (before dropout: what the reference returns as the attention
// probabilities, and what the backward pass needs). Backward, with M the kept mask times 1 / (1 - p):
//   dV = (P*M)^T dC      dP = (dC V^T) * M + dP_out      dS = P * (dP - rowsum(dP * P))
//   dQ = dS K * scale    dK = dS^T Q * scale
//
// params forward: q, k, v [B, T, H], mask [B, T] (additive: 0 or a large negative number), key int64 [1],
//   rate float32 [4] = (p, 1 / (1 - p), scale, heads); outputs ctx [B, T, H], probs [B, heads, T, T].
// params backward: q, k, v, mask, key, rate, probs, dctx, dprobs; outputs dq, dk, dv.
// float32 only; one (b, head) pair per task, tasks split over OpenMP threads (fixed by the shapes, so the
// results do not depend on scheduling); returns 0 on success.

#include <omp.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernel_math.h"
#include "onednn.h"


namespace {

using bert_ms_kernels::masked_softmax_row;
using bert_ms_kernels::is_f32;
using bert_ms_kernels::seeded_uniform;

// The six inputs both kernels take (q, k, v, mask, key, rate) and the sizes they imply.
struct Inputs {
  const float *q, *k, *v, *mask;
  uint32_t key;
  float p, inv_keep, scale;
  int64_t B, T, H, heads, d;
};

bool read_inputs(void **params, int *ndims, int64_t **shapes, const char **dtypes, Inputs *in) {
  if (ndims[0] != 3 || !is_f32(dtypes[0]) || !is_f32(dtypes[3]) || std::strcmp(dtypes[4], "int64") != 0) return false;
  in->q = static_cast<const float *>(params[0]);
  in->k = static_cast<const float *>(params[1]);
  in->v = static_cast<const float *>(params[2]);
  in->mask = static_cast<const float *>(params[3]);
  in->key = static_cast<uint32_t>(*static_cast<const int64_t *>(params[4]) & 0x7FFFFFFF);
  const float *rate = static_cast<const float *>(params[5]);
  in->p = rate[0];
  in->inv_keep = rate[1];
  in->scale = rate[2];
  in->heads = static_cast<int64_t>(rate[3]);
  in->B = shapes[0][0];
  in->T = shapes[0][1];
  in->H = shapes[0][2];
  if (in->heads < 1 || in->H % in->heads != 0) return false;
  in->d = in->H / in->heads;
  return in->B * in->heads * in->T * in->T < (int64_t{1} << 31);  // the dropout hash is defined on 31-bit indices
}

// out[j] = in[j] * keep(j) * inv_keep for one row of T probabilities starting at flat index base
inline void drop_row(const float *in, float *out, int64_t T, uint32_t base, uint32_t key, float p, float inv_keep) {
  if (p == 0.0f) {
    if (out != in) std::memcpy(out, in, T * sizeof(float));
    return;
  }
#pragma omp simd
  for (int64_t j = 0; j < T; ++j)
    out[j] = seeded_uniform(base + static_cast<uint32_t>(j), key) >= p ? in[j] * inv_keep : 0.0f;
}

}  // namespace

extern "C" int AttentionForward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                void *stream, void *extra) {
  (void)stream; (void)extra;
  Inputs in;
  if (nparam != 8 || !read_inputs(params, ndims, shapes, dtypes, &in)) return 1;
  float *ctx = static_cast<float *>(params[6]);
  float *probs = static_cast<float *>(params[7]);
  const float *q = in.q, *k = in.k, *v = in.v, *mask = in.mask;
  const uint32_t key = in.key;
  const int64_t T = in.T, H = in.H, d = in.d, heads = in.heads, tasks = in.B * in.heads;
  const float p = in.p, inv_keep = in.inv_keep, scale = in.scale;
  int status = 0;
#pragma omp parallel reduction(| : status)
  {
    std::vector<float> dropped(T * T);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t b = task / heads, h = task % heads;
      const int64_t off = b * T * H + h * d;
      float *P = probs + task * T * T;
      status |= dnnl_sgemm('N', 'T', T, T, d, scale, q + off, H, k + off, H, 0.0f, P, T);
      const float *m = mask + b * T;
      for (int64_t i = 0; i < T; ++i) {
        float *row = P + i * T;
        masked_softmax_row(row, m, T);
        if (p > 0.0f) drop_row(row, dropped.data() + i * T, T, static_cast<uint32_t>((task * T + i) * T), key, p, inv_keep);
      }
      const float *used = p > 0.0f ? dropped.data() : P;
      status |= dnnl_sgemm('N', 'N', T, d, T, 1.0f, used, T, v + off, H, 0.0f, ctx + off, H);
    }
  }
  return status;
}

extern "C" int AttentionBackward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                 void *stream, void *extra) {
  (void)stream; (void)extra;
  Inputs in;
  if (nparam != 12 || !read_inputs(params, ndims, shapes, dtypes, &in)) return 1;
  const float *probs = static_cast<const float *>(params[6]);
  const float *dctx = static_cast<const float *>(params[7]);
  const float *dprobs = static_cast<const float *>(params[8]);
  float *dq = static_cast<float *>(params[9]);
  float *dk = static_cast<float *>(params[10]);
  float *dv = static_cast<float *>(params[11]);
  const float *q = in.q, *k = in.k, *v = in.v;
  const uint32_t key = in.key;
  const int64_t T = in.T, H = in.H, d = in.d, heads = in.heads, tasks = in.B * in.heads;
  const float p = in.p, inv_keep = in.inv_keep, scale = in.scale;
  int status = 0;
#pragma omp parallel reduction(| : status)
  {
    std::vector<float> dropped(T * T), dP(T * T);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t b = task / heads, h = task % heads;
      const int64_t off = b * T * H + h * d;
      const float *P = probs + task * T * T;
      const float *dPo = dprobs + task * T * T;
      if (p > 0.0f)
        for (int64_t i = 0; i < T; ++i)
          drop_row(P + i * T, dropped.data() + i * T, T, static_cast<uint32_t>((task * T + i) * T), key, p, inv_keep);
      // dV = dropout(P)^T dC
      status |= dnnl_sgemm('T', 'N', T, d, T, 1.0f, p > 0.0f ? dropped.data() : P, T, dctx + off, H, 0.0f, dv + off, H);
      // d dropout(P) = dC V^T, then through the dropout (the same mask), then dS in place
      status |= dnnl_sgemm('N', 'T', T, T, d, 1.0f, dctx + off, H, v + off, H, 0.0f, dP.data(), T);
      for (int64_t i = 0; i < T; ++i) {
        float *g = dP.data() + i * T;
        drop_row(g, g, T, static_cast<uint32_t>((task * T + i) * T), key, p, inv_keep);
        const float *pr = P + i * T, *go = dPo + i * T;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < T; ++j) {
          g[j] += go[j];
          dot += g[j] * pr[j];
        }
#pragma omp simd
        for (int64_t j = 0; j < T; ++j) g[j] = pr[j] * (g[j] - dot);
      }
      status |= dnnl_sgemm('N', 'N', T, d, T, scale, dP.data(), T, k + off, H, 0.0f, dq + off, H);
      status |= dnnl_sgemm('T', 'N', T, d, T, scale, dP.data(), T, q + off, H, 0.0f, dk + off, H);
    }
  }
  return status;
}
