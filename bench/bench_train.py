"""Pretraining throughput of the Trainer's compiled step (forward + backward + AdamW update).

    python bench/bench_train.py                          # mini (10 steps) and base (2 steps), CPU
    python bench/bench_train.py --configs mini --steps 20 --batch-size 32 --seq-len 64
    python bench/bench_train.py --no-fused               # without the fused CPU kernels of bert_ms.accel
    BERT_MS_DEVICE=GPU python bench/bench_train.py --precision fp16

Prints one JSON line per configuration: steps/s and tokens/s measured after the first
(compiling) step, on synthetic batches with the real shapes (15 % of positions predicted). The Trainer
runs with ``TrainerConfig(fused=True)`` (the opt-in C++ CPU kernels) unless ``--no-fused``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def synthetic_batch(n: int, seq_len: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = max(1, round(0.15 * seq_len))
    return {"input_ids": rng.integers(5, vocab, (n, seq_len)).astype(np.int32),
            "token_type_ids": (np.arange(seq_len)[None, :] >= seq_len // 2).repeat(n, 0).astype(np.int32),
            "attention_mask": np.ones((n, seq_len), np.int32),
            "masked_lm_positions": np.sort(rng.choice(np.arange(1, seq_len), (n, p)), 1).astype(np.int32),
            "masked_lm_ids": rng.integers(5, vocab, (n, p)).astype(np.int32),
            "masked_lm_weights": np.ones((n, p), np.float32),
            "next_sentence_label": rng.integers(0, 2, n).astype(np.int32)}


def bench(config: str, steps: int, batch_size: int, seq_len: int, vocab: int, fused: bool = True) -> dict:
    import mindspore as ms

    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.model import BertForPreTraining, count_parameters
    from bert_ms.runtime import device
    from bert_ms.train.tasks import PretrainingTask
    from bert_ms.train.trainer import Trainer, TrainerConfig

    ms.set_seed(0)
    model = BertForPreTraining(BertConfig.preset(config, vocab_size=vocab))
    data = synthetic_batch(batch_size * (steps + 1), seq_len, vocab)
    cfg = TrainerConfig(total_steps=steps + 1, batch_size=batch_size, progress=False, log_every=10 ** 9, fused=fused)
    trainer = Trainer(model, PretrainingTask(), data, cfg)
    t0 = time.perf_counter()
    trainer.fit(until_step=1)  # compiles the step
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    trainer.fit()
    dt = (time.perf_counter() - t0) / steps
    dev = device.current()
    return {"bench": "train", "config": config, "params": count_parameters(model), "vocab": vocab,
            "batch_size": batch_size, "seq_len": seq_len, "steps": steps, "first_step_s": round(compile_s, 3),
            "step_s": round(dt, 4), "steps_per_s": round(1 / dt, 4), "tokens_per_s": round(batch_size * seq_len / dt, 1),
            "device": dev.target, "mode": dev.mode, "precision": trainer.precision, "fused": fused}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="mini,base")
    p.add_argument("--steps", type=int, default=10, help="timed steps for small configs")
    p.add_argument("--base-steps", type=int, default=2, help="timed steps for base and large")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--vocab", type=int, default=8000, help="8000: a trained WordPiece vocab; 30522: bert-base")
    p.add_argument("--device", default="auto")
    p.add_argument("--mode", default="graph")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--no-fused", action="store_true", help="MindSpore's ops instead of the fused CPU kernels")
    args = p.parse_args()
    from bert_ms.runtime import device

    device.setup(args.device, mode=args.mode, precision=args.precision, seed=0, verbose=False)
    for config in args.configs.split(","):
        steps = args.base_steps if config in ("base", "large") else args.steps
        print(json.dumps(bench(config, steps, args.batch_size, args.seq_len, args.vocab, fused=not args.no_fused)),
              flush=True)


if __name__ == "__main__":
    main()
