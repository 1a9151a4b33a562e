"""Opt-in speed: fused C++ CPU kernels (GELU, LayerNorm, seeded dropout, gradient norm), applied to a model from outside.

``accelerate(model)`` swaps the fused cells in (``restore(model)`` undoes it); ``TrainerConfig(fused=True)``
does that during training and adds the dropout and gradient-norm kernels. Off unless asked for.
"""

from bert_ms.accel.cells import FusedGELU, FusedLayerNorm, accelerate, fused_cells, restore

__all__ = ["FusedGELU", "FusedLayerNorm", "accelerate", "fused_cells", "restore"]
