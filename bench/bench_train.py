"""Pretraining throughput of the Trainer's compiled step (forward + backward + AdamW update).

    python bench/bench_train.py                          # mini (10 steps) and base (2 steps), CPU
    python bench/bench_train.py --configs mini --steps 20 --batch-size 32 --seq-len 64
    python bench/bench_train.py --no-fused               # without the fused CPU kernels of bert_ms.accel
    BERT_MS_DEVICE=GPU python bench/bench_train.py --precision fp16
    python bench/bench_train.py --peer-python ~/torch-env/bin/python   # against PyTorch + HF, interleaved

Prints one JSON line per configuration: steps/s and tokens/s measured after the first
(compiling) step, on synthetic batches with the real shapes (15 % of positions predicted). The Trainer
runs with its default, the fused C++ CPU kernels where ``make setup`` built them (``"fused"`` in the line
says whether they ran); ``--no-fused`` measures MindSpore's ops.

``--peer-python PATH`` compares with the peer a user would pick: ``bench/peer_torch.py`` run by PATH (a
Python with torch and transformers: the user's own environment, nothing is added to this project's lock)
does the same mini-BERT step with ``transformers.BertForPreTraining`` and AdamW, and bert-base inference
on one 128-token sequence; bert_ms runs its Trainer step (default and ``--no-fused``) and its inference
path (``bert_ms.accel.inference.compile_forward``: ``BertModel`` compiled with one fused kernel per encoder
layer; the same worker also times MindSpore's ops graph). ``--infer-only`` runs only the inference pair. Every measurement is its own process, ``--rounds`` rounds in alternating order, so load
on a shared machine hits both alike; one JSON line of medians and ratios (peer time / bert_ms time: above
1 means bert_ms is faster), with the CPU named.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

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


def bench(config: str, steps: int, batch_size: int, seq_len: int, vocab: int, fused: bool | None = None) -> dict:
    import mindspore as ms

    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.model import BertForPreTraining, count_parameters
    from bert_ms.runtime import device
    from bert_ms.train.tasks import PretrainingTask
    from bert_ms.train.trainer import Trainer, TrainerConfig

    ms.set_seed(0)
    model = BertForPreTraining(BertConfig.preset(config, vocab_size=vocab))
    data = synthetic_batch(batch_size * (steps + 1), seq_len, vocab)
    # log_every=1: the loss leaves the device every step, so each step is complete when it is timed
    cfg = TrainerConfig(total_steps=steps + 1, batch_size=batch_size, progress=False, log_every=1, fused=fused)
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
            "device": dev.target, "mode": dev.mode, "precision": trainer.precision, "fused": trainer._accelerate}


HERE = Path(__file__).resolve().parent


def _json_line(cmd: list[str]) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"bench_train.py: {' '.join(cmd[:3])} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")
    return json.loads(lines[-1])


def against_peer(peer: str, vocab: int, steps: int, rounds: int, infer_only: bool = False) -> dict:
    """bert_ms (Trainer step, default and --no-fused; compiled bert-base inference) against PyTorch + HF run by
    ``peer``, each measurement in its own process, rounds in alternating order. ``infer_only``: only the
    inference pair (bert_ms's inference path and HF eager), interleaved the same way."""
    import numpy as np

    sys.path.insert(0, str(HERE))
    from bench_model import N_PRED, _cores, _cpu_model, matmul_flops, run_worker

    ours = [sys.executable, str(HERE / "bench_train.py"), "--configs", "mini", "--steps", str(steps), "--vocab", str(vocab)]
    theirs = [peer, str(HERE / "peer_torch.py"), "--vocab", str(vocab), "--steps", str(steps)]
    latency: dict = {}  # the last inference worker's line (its ops-graph time and fused layer count)

    def bert_ms_infer():
        got = run_worker(kind="latency", quick=False)
        if "jit_ms" not in got:
            raise SystemExit(f"bench_train.py: the latency worker failed: {got.get('error', got)}")
        latency.update(got)
        return got["jit_ms"] / 1e3

    jobs = {
        "bert_ms": lambda: _json_line(ours)["step_s"],
        "bert_ms_no_fused": lambda: _json_line(ours + ["--no-fused"])["step_s"],
        "peer": lambda: _json_line(theirs + ["--what", "train"]),
        "bert_ms_infer": bert_ms_infer,
        "peer_infer": lambda: _json_line(theirs + ["--what", "infer"]),
    }
    if infer_only:
        jobs = {k: jobs[k] for k in ("bert_ms_infer", "peer_infer")}
    samples: dict[str, list[float]] = {k: [] for k in jobs}
    peaks: list[float] = []  # MindSpore's best matmul GFLOP/s, measured once per round among the rest
    peer_info: dict = {}
    order = [*jobs] if infer_only else [*jobs, "matmul_peak"]
    ops_infer: list[float] = []  # the same worker's MindSpore-ops graph, for the fused speed-up
    for r in range(rounds):
        for name in (order if r % 2 == 0 else order[::-1]):
            if name == "matmul_peak":
                peaks.append(run_worker(kind="matmul", quick=False)["matmul_gflops"])
                print(json.dumps({"round": r, "what": name, "gflops": round(peaks[-1], 1)}), file=sys.stderr, flush=True)
                continue
            got = jobs[name]()
            if isinstance(got, dict):
                peer_info = {k: got[k] for k in ("peer", "torch_threads", "python")}
                got = got.get("step_s", got.get("infer_s"))
            samples[name].append(got)
            if name == "bert_ms_infer":
                ops_infer.append(latency["jit_ops_ms"] / 1e3)
            print(json.dumps({"round": r, "what": name, "ms": round(1e3 * got, 1)}), file=sys.stderr, flush=True)
    med = {k: 1e3 * float(np.median(v)) for k, v in samples.items()}
    infer = {"inference": "bert-base, 1 x 128 tokens", "bert_ms_infer_path": "accel.inference.compile_forward",
             "bert_ms_infer_fused_layers": latency.get("fused_layers"),
             "bert_ms_infer_ms": round(med["bert_ms_infer"], 1), "peer_infer_ms": round(med["peer_infer"], 1),
             "bert_ms_infer_ops_ms": round(1e3 * float(np.median(ops_infer)), 1),
             "ratio_infer_peer_over_bert_ms": round(med["peer_infer"] / med["bert_ms_infer"], 2),
             "ratio_infer_per_round": [round(p / b, 2) for p, b in zip(samples["peer_infer"], samples["bert_ms_infer"])]}
    if infer_only:
        return {"bench": "peer-infer", "cpu": _cpu_model(), "cores": _cores(), **peer_info, "rounds": rounds, **infer,
                "samples_ms": {k: [round(1e3 * t, 1) for t in v] for k, v in samples.items()}}
    peak = max(peaks)  # the practical peak: the best of the run
    gflop = 3 * matmul_flops({"layers": 4, "hidden": 256, "inter": 1024, "vocab": vocab}, N_PRED) / 1e9
    return {"bench": "peer", "config": f"mini L4 H256 A4 I1024 vocab {vocab}, batch 16x128, AdamW, clip 1.0",
            "cpu": _cpu_model(), "cores": _cores(), **peer_info, "rounds": rounds,
            "bert_ms_trainer_step_ms": round(med["bert_ms"], 1),
            "bert_ms_no_fused_step_ms": round(med["bert_ms_no_fused"], 1), "peer_step_ms": round(med["peer"], 1),
            "ratio_peer_over_bert_ms": round(med["peer"] / med["bert_ms"], 2),
            "ratio_peer_over_bert_ms_no_fused": round(med["peer"] / med["bert_ms_no_fused"], 2),
            "fused_speedup": round(med["bert_ms_no_fused"] / med["bert_ms"], 2),
            "practical_peak_gflops": round(peak, 1), "bert_ms_step_gflop": round(gflop, 2),
            "bert_ms_fraction_of_practical_peak": round(gflop / (med["bert_ms"] / 1e3 * peak), 3),
            **infer, "samples_ms": {k: [round(1e3 * t, 1) for t in v] for k, v in samples.items()}}


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
    p.add_argument("--peer-python", metavar="PATH",
                   help="a Python with torch + transformers: run bench/peer_torch.py with it, interleaved, and print "
                        "the ratios (mini step at --vocab, bert-base inference)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds for --peer-python")
    p.add_argument("--infer-only", action="store_true",
                   help="with --peer-python: only the bert-base inference pair, interleaved")
    args = p.parse_args()
    if args.peer_python:
        print(json.dumps(against_peer(args.peer_python, args.vocab, args.steps, args.rounds, args.infer_only)),
              flush=True)
        return
    from bert_ms.runtime import device

    device.setup(args.device, mode=args.mode, precision=args.precision, seed=0, verbose=False)
    for config in args.configs.split(","):
        steps = args.base_steps if config in ("base", "large") else args.steps
        print(json.dumps(bench(config, steps, args.batch_size, args.seq_len, args.vocab,
                               fused=False if args.no_fused else None)), flush=True)


if __name__ == "__main__":
    main()
