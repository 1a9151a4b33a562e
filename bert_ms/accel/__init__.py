"""Speed on CPU: fused C++ kernels (GELU, LayerNorm, linear layers, attention, seeded dropout, gradient norm), built by make setup, applied to a model from outside."""

from bert_ms.accel.cells import (
    FusedAttention,
    FusedGELU,
    FusedLayerNorm,
    FusedLinear,
    accelerate,
    fused_cells,
    restore,
)

__all__ = ["FusedAttention", "FusedGELU", "FusedLayerNorm", "FusedLinear", "accelerate", "fused_cells", "restore"]
