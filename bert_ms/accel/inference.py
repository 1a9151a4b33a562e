"""The inference fast path on CPU: a model's forward pass compiled with one fused kernel per encoder layer.

:func:`compile_forward` is what a caller that only runs a trained model (``bert-ms`` commands that predict,
the inference benchmark) uses: it swaps the fused cells into the model from outside
(:func:`bert_ms.accel.accelerate` with ``inference=True``: a :class:`~bert_ms.accel.FusedEncoderLayer`
per encoder layer), puts the model in evaluation mode and returns its forward pass compiled by
``mindspore.jit`` as a function of tensors that returns **only tensors**.

Why only tensors: in MindSpore 2.7 a compiled graph with a ``None`` among its outputs (``BertModel``
returns ``(sequence_output, pooled_output, None, None)`` without hidden states and attentions) is run
through an "AnyType" actor that compiles the graph again at run time and cannot infer a ``Custom`` op,
whose shapes are Python functions ("RuntimeError: The prim is not a PrimitivePy. Prim name: Custom"; in
some graphs the process aborts). The ``None`` outputs are known before compiling (they depend only on
the flags and on whether the model has a pooler), so the compiled function leaves them out. A model's
heads (``BertForSequenceClassification`` and the others) return tensors already and are compiled as they are.

The numbers equal the reference ops in evaluation mode within ~1e-6 (``tests/test_fused_kernels.py``).
Where the kernels are not available (not on CPU, not built) the same function runs MindSpore's ops.
"""

from __future__ import annotations

import mindspore as ms

from bert_ms.accel.cells import accelerate


def for_inference(model, fused: bool | None = None):
    """``model`` (a head model, whose outputs hold no ``None``) with one fused kernel per encoder layer swapped
    in, for evaluation only. ``fused`` as ``TrainerConfig.fused``: ``None`` where ``make setup`` built the
    kernels, ``True`` also builds them if missing, ``False`` leaves MindSpore's ops. What ``bert-ms predict`` uses."""
    if fused is not False:
        accelerate(model, build=bool(fused), inference=True)
    return model


def compile_forward(model, build: bool = True):
    """``model``'s inference forward pass, fused and compiled: ``(forward, swapped)``.

    ``forward(*inputs)`` takes what ``model`` takes. For a model with ``forward_tuple`` (``BertModel``) it
    calls that and returns ``(sequence_output, pooled_output)``, or ``(sequence_output,)`` without a
    pooler; for any other cell it returns what the cell returns (which must hold no ``None``). ``swapped``
    names the cells :func:`~bert_ms.accel.accelerate` replaced (``[]`` where the kernels are not available:
    ``forward`` then runs MindSpore's ops; ``build``: see :func:`bert_ms.accel.fused.library`).
    :func:`~bert_ms.accel.restore` undoes the swap."""
    swapped = accelerate(model, build=build, inference=True)
    model.set_train(False)
    if not hasattr(model, "forward_tuple"):
        def forward(*inputs):
            return model(*inputs)
    elif getattr(model, "pooler", None) is None:
        def forward(input_ids, token_type_ids=None, attention_mask=None):
            return (model.forward_tuple(input_ids, token_type_ids, attention_mask)[0],)
    else:
        def forward(input_ids, token_type_ids=None, attention_mask=None):
            out = model.forward_tuple(input_ids, token_type_ids, attention_mask)
            return out[0], out[1]
    return ms.jit(forward), swapped
