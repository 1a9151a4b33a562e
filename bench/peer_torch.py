"""The peer a user would pick: the same BERT step in PyTorch + Hugging Face transformers, run by *their* Python.

    /path/to/torch-env/bin/python bench/peer_torch.py --what train --vocab 8000 --steps 8
    /path/to/torch-env/bin/python bench/peer_torch.py --what infer

``bench/bench_train.py --peer-python PATH`` runs this file with PATH and interleaves it with bert_ms. It
imports only torch, transformers and numpy (nothing of bert_ms, nothing added to the project's lock) and
prints one JSON line.

* ``train``: ``transformers.BertForPreTraining`` with the mini config (L4 H256 A4 I1024), batch 16 x 128,
  two segments, 15 % of positions labelled (``labels=-100`` elsewhere: HF computes the MLM logits at all
  128 positions, its design), dropout 0.1 in training mode, AdamW (lr 1e-4, weight decay 0.01), gradient
  clipping to norm 1.0: the step a user writes from the HF course. ``attn_implementation="sdpa"``
  (PyTorch's fused attention), the library's default. Median of ``--steps`` after 2 warm-up steps.
* ``infer``: ``transformers.BertModel`` bert-base (random weights: the time does not depend on them), one
  128-token sequence, ``torch.inference_mode()``, eager (what ``pipeline`` runs). Median of ``--steps``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

BATCH, SEQ, MASKED = 16, 128, 19
MINI = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)


def _median(fn, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def train(vocab: int, steps: int) -> dict:
    import torch
    import transformers

    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=vocab, attn_implementation="sdpa", **MINI)
    model = transformers.BertForPreTraining(cfg)
    model.train()
    rng = np.random.default_rng(0)
    ids = torch.tensor(rng.integers(5, vocab, (BATCH, SEQ)))
    labels = torch.full((BATCH, SEQ), -100)
    for b in range(BATCH):
        pos = rng.choice(np.arange(1, SEQ), MASKED, replace=False)
        labels[b, pos] = ids[b, pos]
    types = torch.zeros_like(ids)
    types[:, SEQ // 2:] = 1
    nsp = torch.tensor(rng.integers(0, 2, BATCH))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    before = model.bert.embeddings.word_embeddings.weight.detach().clone()

    def step():
        out = model(input_ids=ids, token_type_ids=types, attention_mask=torch.ones_like(ids), labels=labels,
                    next_sentence_label=nsp)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(out.loss)

    sec = _median(step, 2, steps)
    moved = float((model.bert.embeddings.word_embeddings.weight.detach() - before).abs().max())
    return {"step_s": sec, "weights_moved": moved, "params": sum(p.numel() for p in model.parameters())}


def infer(steps: int) -> dict:
    import torch
    import transformers

    torch.manual_seed(0)
    model = transformers.BertModel(transformers.BertConfig(attn_implementation="sdpa")).eval()
    ids = torch.tensor(np.random.default_rng(0).integers(5, 30000, (1, SEQ)))
    with torch.inference_mode():
        sec = _median(lambda: model(input_ids=ids).last_hidden_state, 3, steps)
    return {"infer_s": sec}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--what", choices=("train", "infer"), default="train")
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=8)
    args = ap.parse_args()
    import torch
    import transformers

    result = train(args.vocab, args.steps) if args.what == "train" else infer(args.steps)
    result.update({"peer": f"torch {torch.__version__} + transformers {transformers.__version__}",
                   "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
                   "what": args.what, "vocab": args.vocab})
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
