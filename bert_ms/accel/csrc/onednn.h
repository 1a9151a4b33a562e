// oneDNN's C API as the fused kernels use it (dnnl.h, v2.x), from the library MindSpore ships
// (mindspore/lib/libdnnl.so.2, which bert_ms.accel.fused links linear_ops and attention_ops to).
#pragma once

#include <cstdint>

// Row-major C = alpha op(A) op(B) + beta C; returns dnnl_status_t (0 = success).
extern "C" int dnnl_sgemm(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                          int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
