"""Speed on CPU: fused C++ kernels (GELU, LayerNorm, linear layers, attention, seeded dropout, gradient norm; a whole encoder layer for inference), built by make setup, applied to a model from outside."""

from bert_ms.accel.cells import (
    FusedAttention,
    FusedEncoderLayer,
    FusedGELU,
    FusedLayerNorm,
    FusedLinear,
    accelerate,
    fused_cells,
    restore,
)

__all__ = ["FusedAttention", "FusedEncoderLayer", "FusedGELU", "FusedLayerNorm", "FusedLinear", "accelerate", "fused_cells", "restore"]
