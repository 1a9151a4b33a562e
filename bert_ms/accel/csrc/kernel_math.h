// Small inline functions shared by the fused CPU kernels (fused_ops.cc, linear_ops.cc, attention_ops.cc,
// encoder_ops.cc).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace bert_ms_kernels {

// Number of elements of a tensor of shape[0..ndim).
inline int64_t numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[i];
  return n;
}

// MindSpore names float32 "float32" (or "float") in an AOT op's dtype strings.
inline bool is_f32(const char *dtype) { return std::strcmp(dtype, "float32") == 0 || std::strcmp(dtype, "float") == 0; }

inline bool all_f32(int nparam, const char **dtypes) {
  for (int i = 0; i < nparam; ++i)
    if (!is_f32(dtypes[i])) return false;
  return true;
}

inline float bits_to_float(int32_t i) {
  return __builtin_bit_cast(float, i);
}

// exp(x) for x <= 0 (all we need: exp(-x^2 / 2)); relative error ~1e-7, flushes to 0 below -87.
inline float exp_neg(float x) {
  x = x < -87.0f ? -87.0f : x;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
  float r = std::fma(n, -0.693359375f, x);  // ln2 split in two (Cody-Waite)
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r + 1.0f);
  // 2^n by building the float's exponent bits (n is in [-126, 0] here)
  return p * bits_to_float(static_cast<int32_t>(n + 127.0f) << 23);
}

// The 31-bit xor-shift-multiply hash of bert_ms.train.dropout.mix, in uint32 arithmetic (every h < 2^31, so
// (h * c) & (2^31 - 1) equals the int64 result: the low 31 bits of a product depend only on the low 32 bits).
inline uint32_t mix31(uint32_t h) {
  h ^= h >> 16;
  h = (h * 0x45D9F3Bu) & 0x7FFFFFFFu;
  h ^= h >> 16;
  h = (h * 0x45D9F3Bu) & 0x7FFFFFFFu;
  h ^= h >> 16;
  return h;
}

// SeededDropout's uniform number for element i under key: float32(mix(mix(i) xor key)) / 2^31 (int -> float
// rounds to nearest, as MindSpore's Cast does; * 2^-31 is exact).
inline float seeded_uniform(uint32_t i, uint32_t key) {
  return static_cast<float>(static_cast<int32_t>(mix31(mix31(i) ^ key))) * 4.656612873077392578125e-10f;
}

// Phi(x) = P(X <= x) for X ~ N(0, 1), i.e. 0.5 * (1 + erf(x / sqrt(2))), through erfc(z), z = |x| / sqrt(2):
// erfc(z) = t * exp(-z^2 + P(t)), t = 1 / (1 + z / 2), with the Chebyshev-fitted P of Numerical Recipes
// (Press et al., 2nd ed., sec. 6.2, "erfcc"): relative error < 1.2e-7 for every z >= 0. Working with erfc
// avoids the cancellation in 1 + erf(x) for negative x, so Phi is accurate to ~1e-7 absolute everywhere.
inline float normal_cdf(float x) {
  const float z = std::fabs(x) * 0.70710678118654752f;
  const float t = 1.0f / std::fma(0.5f, z, 1.0f);
  float p = 0.17087277f;
  p = std::fma(p, t, -0.82215223f);
  p = std::fma(p, t, 1.48851587f);
  p = std::fma(p, t, -1.13520398f);
  p = std::fma(p, t, 0.27886807f);
  p = std::fma(p, t, -0.18628806f);
  p = std::fma(p, t, 0.09678418f);
  p = std::fma(p, t, 0.37409196f);
  p = std::fma(p, t, 1.00002368f);
  p = std::fma(p, t, -1.26551223f);
  const float half_erfc = 0.5f * t * exp_neg(std::fma(-z, z, p));
  return x >= 0.0f ? 1.0f - half_erfc : half_erfc;
}

// Mean and 1 / sqrt(var + eps) of one row of h floats (LayerNorm, Ba et al. 2016), accumulated in double.
struct RowStats {
  float mean, rstd;
};

inline RowStats row_stats(const float *x, int64_t h, float eps) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < h; ++j) s += x[j];
  const double mean = s / static_cast<double>(h);
  double v = 0.0;
#pragma omp simd reduction(+ : v)
  for (int64_t j = 0; j < h; ++j) {
    const double d = x[j] - mean;
    v += d * d;
  }
  v /= static_cast<double>(h);
  return {static_cast<float>(mean), static_cast<float>(1.0 / std::sqrt(v + eps))};
}

// One row of attention scores: add the padding mask (0 or -1e9 per key), then softmax in place.
inline void masked_softmax_row(float *row, const float *mask, int64_t n) {
  float mx = -3.0e38f;
  for (int64_t j = 0; j < n; ++j) {
    row[j] += mask[j];
    mx = row[j] > mx ? row[j] : mx;
  }
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) {
    const float z = row[j] - mx;
    const float e = z < -87.0f ? 0.0f : exp_neg(z);  // exp(-1e9) is 0, as in the reference
    row[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) row[j] *= inv;
}

}  // namespace bert_ms_kernels
