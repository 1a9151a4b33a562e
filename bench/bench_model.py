"""Training-step speed and memory of bert_ms vs mindnlp's BertForPreTraining, on the same MindSpore.

Usage::

    .venv/bin/python bench/bench_model.py            # full run (~10 minutes on 2 cores)
    .venv/bin/python bench/bench_model.py --quick    # fewer steps
    .venv/bin/python bench/bench_model.py --out results.jsonl
    .venv/bin/python bench/bench_model.py --ab-fused 3 --vocabs 8000      # fused kernels on vs off
    .venv/bin/python bench/bench_model.py --ab-against /tmp/old --pairs 3 --vocabs 8000   # this tree vs another

bert_ms runs with the opt-in fused CPU kernels of ``bert_ms.accel`` (``accelerate(model)``, the fused
seeded dropout, ``TrainerConfig(fused=True)``), turned on explicitly here; ``--ab-fused`` measures them.

Every measurement runs in its own subprocess, so its peak memory is that process's RSS high-water
mark (``resource.getrusage(RUSAGE_SELF).ru_maxrss``; tracemalloc cannot see MindSpore's C++
allocations) and ``import mindnlp`` (which patches MindSpore's Tensor) cannot affect bert_ms.
Output: one JSON line per configuration on stdout (and in ``--out``). Nothing here is asserted:
timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BATCH, SEQ, MASK_RATE = 16, 128, 0.15
N_PRED = round(SEQ * MASK_RATE)  # 19 masked positions per sequence (15 %)


def make_batch(vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random pre-training batch: two segments, no padding, 15 % masked positions, NSP labels."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, (BATCH, SEQ)).astype(np.int32)
    tt = np.zeros_like(ids)
    tt[:, SEQ // 2:] = 1
    pos = np.sort(np.stack([rng.choice(np.arange(1, SEQ), N_PRED, replace=False) for _ in range(BATCH)]), 1)
    pos = pos.astype(np.int32)
    return {"input_ids": ids, "token_type_ids": tt, "attention_mask": np.ones_like(ids), "positions": pos,
            "labels": np.take_along_axis(ids, pos, 1), "weights": np.ones(pos.shape, np.float32),
            "nsp": rng.integers(0, 2, BATCH).astype(np.int32)}


def tps(r: dict) -> float | None:
    """Training tokens per second of one measurement."""
    return BATCH * SEQ / r["step_s"] if "step_s" in r else None


def matmul_flops(cfg: dict, n_mlm: int) -> float:
    """Matmul FLOPs (2 m n k) of one forward pass; a training step counts 3x (forward + 2x backward)."""
    h, i, L, v, t, b = cfg["hidden"], cfg["inter"], cfg["layers"], cfg["vocab"], SEQ, BATCH
    per_layer = 2 * t * h * h * 4 + 2 * t * t * h * 2 + 2 * t * h * i * 2
    heads = 2 * h * h + 2 * h * 2 + n_mlm * (2 * h * h + 2 * h * v)  # pooler + NSP + MLM (transform, decoder)
    return float(b * (L * per_layer + heads))


def _timed(fn, warmup: int, steps: int) -> float:
    """Median seconds per call (the median resists other processes' bursts on a shared machine)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


# ------------------------------------------------------------------------------- workers (subprocess)
# [M, K] x [N, K]^T: the MLM decoder's shape at vocab 8000, and the model's own projections
# (Q/K/V/output 256 -> 256, FFN 256 -> 1024 and 1024 -> 256) for 16 x 128 tokens
PEAK_SHAPES = ((2048, 256, 8000), (2048, 256, 256), (2048, 256, 1024), (2048, 1024, 256))


def worker_matmul(args) -> dict:
    """MindSpore's fp32 matmul throughput on this machine: the best GFLOP/s over PEAK_SHAPES.

    Each product runs in a ``mindspore.jit`` graph that returns only its [0, 0] element, so the time is
    the matmul's, not a copy of the [M, N] result into NumPy. (Until 2026-12-01 this benchmark timed
    ``mm(a, w).asnumpy()`` on the 2048 x 8000 output: the 65 MB copy made the "peak" 66-150 GFLOP/s,
    while the matmul alone runs at ~160-210 here, so the fractions of peak it printed were too high.)"""
    import mindspore as ms
    from mindspore import ops

    from bert_ms.runtime import device

    device.setup("CPU", verbose=False)
    mm = ops.MatMul(transpose_b=True)

    @ms.jit
    def corner(a, w):
        return mm(a, w)[:1, :1]  # the full product is computed; only one number leaves the graph

    rng = np.random.default_rng(0)
    per_shape = {}
    for m, k, n in PEAK_SHAPES:
        a = ms.Tensor(rng.random((m, k), np.float32))
        w = ms.Tensor(rng.random((n, k), np.float32))
        sec = _timed(lambda a=a, w=w: corner(a, w).asnumpy(), 2, 10 if args.quick else 20)
        per_shape[f"{m}x{k}x{n}"] = 2 * m * k * n / sec / 1e9
    return {"matmul_gflops": max(per_shape.values()), "matmul_gflops_by_shape": per_shape}


def build_train_step(preset: str, vocab: int, what: str = "step", fused: bool = True):
    """bert_ms's compiled pretraining step on the benchmark batch: (step, inputs, names of the fused cells).
    ``what="step"`` is forward + backward + AdamW; ``"fwdbwd"`` stops before the optimizer. ``fused``: the
    C++ kernels of bert_ms.accel (GELU, LayerNorm, linear, attention, seeded dropout, AdamW). Call after ``device.setup``."""
    import mindspore as ms
    from mindspore import nn

    from bert_ms.accel import accelerate
    from bert_ms.accel import fused as kernels
    from bert_ms.accel.optimizer import FusedAdamWeightDecay
    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.losses import pretraining_loss
    from bert_ms.bert.model import BertForPreTraining
    from bert_ms.runtime import device
    from bert_ms.train.dropout import seed_parameter, seeded_dropouts, swap

    model = BertForPreTraining(BertConfig.preset(preset, vocab_size=vocab))
    # the dropout the Trainer trains with: reproducible seeded masks (one fused kernel with fused=True)
    seed = seed_parameter()
    drops = swap(seeded_dropouts(model, seed, kernels.dropout() if fused else None))
    seed.set_data(ms.Tensor(1, ms.int64))
    swapped = accelerate(model) if fused else []
    if fused:
        swapped += [f"{type(parent).__name__}.{attr}" for parent, attr, _ in drops]
    model.set_train(True)
    d = {k: ms.Tensor(v) for k, v in make_batch(vocab).items()}
    # with fused=True the Trainer's fused AdamW (one call for all parameters), else MindSpore's
    optimizer = FusedAdamWeightDecay if fused else nn.AdamWeightDecay
    opt = optimizer(model.trainable_params(), learning_rate=1e-4, weight_decay=0.01)

    def loss_fn(ids, tt, am, pos, lab, w, nsp):
        mlm, nsp_logits = model(ids, tt, am, pos)
        return pretraining_loss(mlm, nsp_logits, lab, w, nsp)

    grad_fn = ms.value_and_grad(loss_fn, None, opt.parameters)

    def step(*xs):
        loss, grads = grad_fn(*xs)
        if what == "step":
            opt(grads)
            return loss
        return loss, grads  # return the gradients, or the compiler drops the backward pass as dead code

    xs = [d[k] for k in ("input_ids", "token_type_ids", "attention_mask", "positions", "labels", "weights", "nsp")]
    return device.jit(step), xs, swapped


def worker_bert_ms(args) -> dict:
    import bert_ms
    from bert_ms.runtime import device

    device.setup("CPU", mode=args.mode, precision="fp32", seed=0, verbose=False)
    step, xs, swapped = build_train_step(args.preset, args.vocab, args.what, fused=getattr(args, "fused", True))

    def run():
        out = step(*xs)
        return (out[0] if isinstance(out, tuple) else out).asnumpy()

    t0 = time.perf_counter()
    run()
    compile_s = time.perf_counter() - t0
    sec = _timed(run, 1, args.steps)
    return {"step_s": sec, "first_step_s": compile_s, "fused_kernels": bool(swapped),
            "bert_ms_from": str(Path(bert_ms.__file__).parent)}


def worker_trainer(args) -> dict:
    """The step a learner's ``bert-ms pretrain`` runs: ``Trainer.fit`` (batches from NumPy, forward,
    backward, global-norm clipping, AdamW with the lr schedule), via bench_train.py."""
    from bench_train import bench

    import bert_ms
    from bert_ms.runtime import device

    device.setup("CPU", mode="graph", precision="fp32", seed=0, verbose=False)
    r = bench(args.preset, args.steps, BATCH, SEQ, args.vocab, fused=getattr(args, "fused", True))
    return {"step_s": r["step_s"], "first_step_s": r["first_step_s"], "bert_ms_from": str(Path(bert_ms.__file__).parent)}


def worker_mindnlp(args) -> dict:
    import mindnlp  # noqa: F401
    import torch
    import transformers

    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=args.vocab, **_hf_sizes(args.preset))
    model = transformers.BertForPreTraining(cfg)
    model.train()
    d = make_batch(args.vocab)
    labels = np.full(d["input_ids"].shape, -100, np.int64)
    np.put_along_axis(labels, d["positions"].astype(np.int64), d["labels"].astype(np.int64), 1)
    kw = {"input_ids": torch.tensor(d["input_ids"].astype(np.int64)),
          "token_type_ids": torch.tensor(d["token_type_ids"].astype(np.int64)),
          "attention_mask": torch.tensor(d["attention_mask"].astype(np.int64)),
          "labels": torch.tensor(labels), "next_sentence_label": torch.tensor(d["nsp"].astype(np.int64))}
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)
    state = {"optimizer": args.what == "step"}
    # mindnlp 0.5.1's Tensor.backward() is a no-op (it returns self and leaves every p.grad None), so
    # gradients are taken the way mindnlp's own Trainer takes them: mindtorch.autograd.value_and_grad,
    # which runs MindSpore's autodiff and stores the gradients in p.grad.
    from mindtorch import autograd

    loss_and_grads = autograd.value_and_grad(lambda: model(**kw).loss, params)

    def step():
        loss = loss_and_grads()
        if state["optimizer"]:
            try:
                opt.step()
            except Exception as err:  # mindtorch gaps on CPU (see the README)
                state["optimizer"], state["error"] = False, f"{type(err).__name__}: {str(err)[:120]}"
        for p in params:
            p.grad = None
        return float(loss.item())

    # prove the measured step really computes gradients and updates the weights
    before = params[0].detach().numpy().copy()
    loss = loss_and_grads()
    # the key bias is the one parameter whose gradient is exactly zero: it adds the same q.b_k to every
    # score of a query, which the softmax cancels
    names = [n for n, _ in model.named_parameters()]
    with_grad = sum(p.grad is not None and (float(p.grad.abs().sum()) > 0 or n.endswith("key.bias"))
                    for n, p in zip(names, params))
    if with_grad < len(params):
        raise RuntimeError(f"mindnlp gave gradients for only {with_grad} of {len(params)} parameters")
    for p in params:
        p.grad = None
    del loss
    t0 = time.perf_counter()
    step()
    compile_s = time.perf_counter() - t0
    sec = _timed(step, 1, args.steps)
    moved = float(np.abs(params[0].detach().numpy() - before).max())
    out = {"step_s": sec, "first_step_s": compile_s, "optimizer_ran": state["optimizer"] and moved > 0,
           "params_with_grad": f"{with_grad}/{len(params)}", "weights_moved": moved}
    if "error" in state:
        out["optimizer_error"] = state["error"]
    return out


def worker_latency(args) -> dict:
    """bert-base (BertModel) inference latency for one 128-token sequence: the model called eagerly
    (``pynative_ms``), compiled with MindSpore's ops (``jit_ops_ms``: ``jit(model.forward_tuple)``) and compiled
    by the package's inference path (``jit_ms``: :func:`bert_ms.accel.inference.compile_forward`, one fused
    kernel per encoder layer where ``make setup`` built them; ``fused_layers`` counts them). ``jit_ms`` is
    what a learner's inference runs; with ``fused=False`` it is the ops graph too."""
    import mindspore as ms

    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.model import BertModel
    from bert_ms.runtime import device

    device.setup("CPU", mode="graph", seed=0, verbose=False)
    model = BertModel(BertConfig.preset("base"))
    model.set_train(False)
    ids = ms.Tensor(np.random.default_rng(0).integers(5, 30000, (1, SEQ)).astype(np.int32))
    n = 3 if args.quick else 10
    eager = _timed(lambda: model(ids)[0].asnumpy(), 1, n)
    ops_fwd = ms.jit(model.forward_tuple)
    ops_graph = _timed(lambda: ops_fwd(ids)[0].asnumpy(), 1, n)
    out = {"pynative_ms": eager * 1e3, "jit_ops_ms": ops_graph * 1e3, "jit_ms": ops_graph * 1e3, "fused_layers": 0}
    if getattr(args, "fused", True):
        from bert_ms.accel.inference import compile_forward

        fwd, swapped = compile_forward(model, build=False)  # as a default run: load what make setup built
        graph = _timed(lambda: fwd(ids)[0].asnumpy(), 1, n)
        out.update(jit_ms=graph * 1e3, fused_layers=sum(name.startswith("encoder.layers.") for name in swapped))
    return out


def _hf_sizes(preset: str) -> dict:
    from bert_ms.bert.config import PRESETS

    p = {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072,
         **PRESETS[preset]}
    return p


WORKERS = {"matmul": worker_matmul, "bert_ms": worker_bert_ms, "trainer": worker_trainer, "mindnlp": worker_mindnlp,
           "latency": worker_latency}


def run_worker(root: Path = ROOT, **kw) -> dict:
    """Run one measurement in a fresh interpreter with the bench and bert_ms of the checkout ``root``
    (this one by default); returns its JSON result plus ``max_rss_mb``."""
    cmd = [sys.executable, str(Path(root) / "bench" / "bench_model.py"), "--worker", json.dumps(kw)]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=1800, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout)[-800:]}
    return json.loads(lines[-1])


def best_of(runs: list[dict], key: str = "step_s") -> dict:
    """The run with the smallest ``key`` (the least disturbed one), with all samples attached."""
    ok = [r for r in runs if key in r]
    if not ok:
        return runs[0]
    best = dict(min(ok, key=lambda r: r[key]))
    best["samples"] = [round(r[key], 4) for r in ok]
    best["max_rss_mb"] = max(r["max_rss_mb"] for r in ok)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer timed steps")
    ap.add_argument("--out", help="also write the JSON lines to this file")
    ap.add_argument("--vocabs", default="8000,30522")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs per framework; the best counts")
    ap.add_argument("--ab-fused", type=int, metavar="N", default=0,
                    help="only A/B bert_ms's jit step with and without the fused CPU kernels (bert_ms.accel), "
                         "N interleaved pairs per vocabulary; prints the medians")
    ap.add_argument("--ab-against", metavar="DIR",
                    help="only A/B this checkout against the one in DIR (e.g. `git worktree add /tmp/old <commit>`): "
                         "bert_ms's jit step and Trainer step, fused kernels on, --pairs interleaved pairs")
    ap.add_argument("--pairs", type=int, default=3, help="pairs for --ab-against")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        ns = argparse.Namespace(**{"quick": False, **spec})
        sys.path.insert(0, str(ROOT))
        sys.path.insert(0, str(ROOT / "bench"))
        result = WORKERS[spec["kind"]](ns)
        result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    steps = 3 if args.quick else 8
    if args.ab_fused:
        return ab_fused(args, steps)
    if args.ab_against:
        return ab_against(args, steps)
    repeats = 1 if args.quick else args.repeats
    lines = []
    peaks = [run_worker(kind="matmul", quick=args.quick)]
    machine = {"cpu": _cpu_model(), "cores": _cores(), "python": platform.python_version()}
    for vocab in (int(v) for v in args.vocabs.split(",")):
        sizes = {"layers": 4, "hidden": 256, "inter": 1024, "vocab": vocab}
        common = dict(preset="mini", vocab=vocab, steps=steps, quick=args.quick)
        runs: dict[str, list[dict]] = {"step": [], "fb": [], "eager": [], "theirs": []}
        for _ in range(repeats):  # interleaved, so a burst of load hits both frameworks alike
            runs["step"].append(run_worker(kind="bert_ms", what="step", mode="graph", **common))
            runs["theirs"].append(run_worker(kind="mindnlp", what="step", **common))
            runs["fb"].append(run_worker(kind="bert_ms", what="fwdbwd", mode="graph", **common))
            peaks.append(run_worker(kind="matmul", quick=args.quick))
        runs["eager"].append(run_worker(kind="bert_ms", what="step", mode="pynative", **common))
        trainer = run_worker(kind="trainer", **common)
        ours_step, ours_fb, ours_eager, theirs = (best_of(runs[k]) for k in ("step", "fb", "eager", "theirs"))
        best_peak = max(peaks, key=lambda p: p.get("matmul_gflops", float("-inf")))
        gflops = best_peak.get("matmul_gflops", float("nan"))
        if "error" in theirs or not theirs.get("optimizer_ran", False):
            theirs_kind = "fwd+bwd only"
            ours_cmp = ours_fb
        else:
            theirs_kind = "full step (AdamW)"
            ours_cmp = ours_step
        f_ours = 3 * matmul_flops(sizes, N_PRED)
        f_theirs = 3 * matmul_flops(sizes, SEQ)

        def frac(flops, r, gflops=gflops):
            return flops / (r["step_s"] * gflops * 1e9) if "step_s" in r else None

        line = {
            "config": f"mini L4 H256 A4 I1024 vocab {vocab}", "batch": f"{BATCH}x{SEQ}", "masked": N_PRED,
            "bert_ms_step_tokens_per_s": tps(ours_step), "bert_ms_step_ms": ours_step.get("step_s", 0) * 1e3,
            "bert_ms_step_pynative_ms": ours_eager.get("step_s", 0) * 1e3,
            "bert_ms_trainer_step_ms": trainer.get("step_s", 0) * 1e3,
            "bert_ms_step_samples_s": ours_step.get("samples"), "mindnlp_samples_s": theirs.get("samples"),
            "bert_ms_fwd_bwd_ms": ours_fb.get("step_s", 0) * 1e3,
            "mindnlp_step": theirs_kind, "mindnlp_ms": theirs.get("step_s", 0) * 1e3,
            "mindnlp_tokens_per_s": tps(theirs),
            "ratio_tokens_per_s": (tps(ours_cmp) / tps(theirs)) if tps(theirs) and tps(ours_cmp) else None,
            "ratio_compares": f"bert_ms {'fwd+bwd' if ours_cmp is ours_fb else 'full step'} vs mindnlp {theirs_kind}",
            "bert_ms_peak_rss_mb": ours_step.get("max_rss_mb"), "mindnlp_peak_rss_mb": theirs.get("max_rss_mb"),
            "matmul_gflops": gflops, "matmul_gflops_by_shape": best_peak.get("matmul_gflops_by_shape"),
            "bert_ms_step_gflop": f_ours / 1e9, "mindnlp_step_gflop": f_theirs / 1e9,
            "bert_ms_fraction_of_practical_peak": frac(f_ours, ours_step),
            "mindnlp_fraction_of_practical_peak": frac(f_theirs, theirs),
            "bert_ms_first_step_s": ours_step.get("first_step_s"),
            "errors": {k: r["error"] for k, r in (("bert_ms", ours_step), ("mindnlp", theirs)) if "error" in r},
            "mindnlp_optimizer_error": theirs.get("optimizer_error"),
            "mindnlp_params_with_grad": theirs.get("params_with_grad"), **machine,
        }
        lines.append(line)
        print(json.dumps(line), flush=True)
    lat = run_worker(kind="latency", quick=args.quick)
    line = {"config": "bert-base inference, 1 x 128 tokens", "bert_ms_pynative_ms": lat.get("pynative_ms"),
            "bert_ms_jit_ms": lat.get("jit_ms"), "peak_rss_mb": lat.get("max_rss_mb"), **machine}
    if "error" in lat:
        line["error"] = lat["error"]
    lines.append(line)
    print(json.dumps(line), flush=True)
    if args.out:
        Path(args.out).write_text("".join(json.dumps(x) + "\n" for x in lines))


def ab_fused(args, steps: int) -> None:
    """Interleaved A/B of the jit training step, fused CPU kernels on vs off, in alternating order."""
    for vocab in (int(v) for v in args.vocabs.split(",")):
        common = dict(kind="bert_ms", what="step", mode="graph", preset="mini", vocab=vocab, steps=steps,
                      quick=args.quick)
        on, off = [], []
        for i in range(args.ab_fused):
            for flag in ((True, False) if i % 2 == 0 else (False, True)):  # ABBA: drift hits both alike
                r = run_worker(fused=flag, **common)
                if "step_s" not in r:
                    print(json.dumps({"vocab": vocab, "fused": flag, "error": r.get("error")}), flush=True)
                    continue
                (on if flag else off).append(r["step_s"])
                if flag and not r.get("fused_kernels"):
                    print(json.dumps({"warning": "fused kernels requested but not used"}), flush=True)
        line = {"config": f"mini L4 H256 A4 I1024 vocab {vocab}", "ab": "bert_ms jit step (AdamW), fused on/off",
                "fused_median_ms": 1e3 * float(np.median(on)) if on else None,
                "ops_median_ms": 1e3 * float(np.median(off)) if off else None,
                "fused_samples_ms": [round(1e3 * t, 1) for t in on],
                "ops_samples_ms": [round(1e3 * t, 1) for t in off],
                "pairs_fused_faster": sum(a < b for a, b in zip(on, off)), "pairs": min(len(on), len(off))}
        print(json.dumps(line), flush=True)


def ab_against(args, steps: int) -> None:
    """Interleaved A/B (ABBA) of this checkout against ``--ab-against DIR``: the jit step and the Trainer
    step of the mini config, fused kernels on in both, one subprocess per sample."""
    other = Path(args.ab_against).resolve()
    if not (other / "bench" / "bench_model.py").exists():
        raise SystemExit(f"bench_model.py: {other} has no bench/bench_model.py")
    trees = {"this": ROOT, "other": other}
    for vocab in (int(v) for v in args.vocabs.split(",")):
        for kind in ("bert_ms", "trainer"):
            spec = dict(kind=kind, what="step", mode="graph", preset="mini", vocab=vocab, steps=steps,
                        quick=args.quick, fused=True)
            samples: dict[str, list[float]] = {"this": [], "other": []}
            for i in range(args.pairs):
                for tree in (("this", "other") if i % 2 == 0 else ("other", "this")):
                    r = run_worker(trees[tree], **spec)
                    if "step_s" not in r:
                        print(json.dumps({"tree": str(trees[tree]), "kind": kind, "error": r.get("error")}), flush=True)
                        continue
                    samples[tree].append(r["step_s"])
            med = {t: 1e3 * float(np.median(v)) if v else None for t, v in samples.items()}
            line = {"config": f"mini L4 H256 A4 I1024 vocab {vocab}",
                    "ab": f"{'jit step (AdamW)' if kind == 'bert_ms' else 'Trainer step'}, fused on, this vs other",
                    "this": str(ROOT), "other": str(other), "this_median_ms": med["this"],
                    "other_median_ms": med["other"],
                    "this_samples_ms": [round(1e3 * t, 1) for t in samples["this"]],
                    "other_samples_ms": [round(1e3 * t, 1) for t in samples["other"]],
                    "pairs_this_faster": sum(a < b for a, b in zip(samples["this"], samples["other"])),
                    "pairs": min(len(samples["this"]), len(samples["other"]))}
            print(json.dumps(line), flush=True)


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name"))
    except Exception:
        return platform.processor()


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
