"""Speed on CPU: fused C++ kernels (GELU, LayerNorm, linear layers, attention, seeded dropout, gradient norm, the AdamW update; a whole encoder layer for inference), built by make setup, applied to a model from outside."""

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
from bert_ms.accel.optimizer import FusedAdamWeightDecay

__all__ = ["FusedAdamWeightDecay", "FusedAttention", "FusedEncoderLayer", "FusedGELU", "FusedLayerNorm", "FusedLinear", "accelerate", "fused_cells", "restore"]
