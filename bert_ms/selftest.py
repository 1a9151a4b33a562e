"""``bert-ms selftest``: does the course run on this machine's CPU, GPU or Ascend card? One command.

On the chosen device (``--device auto|CPU|GPU|Ascend``) and precision (``--precision fp32|fp16|bf16``)
it runs, and prints as one line each (PASS / FAIL / SKIP with the measured figure):

1. ``environment`` -- versions, the device targets this machine has, the one chosen (what
   ``bert-ms info`` shows), and for GPU / Ascend the libraries MindSpore's plugin needs
   (:mod:`bert_ms.runtime.diagnosis`);
2. ``forward`` -- :class:`~bert_ms.bert.model.BertModel` equals the float64 NumPy BERT of
   :mod:`bert_ms.bert.reference` (embeddings + LayerNorm, multi-head self-attention, FFN with the exact GELU,
   post-norm; Devlin et al. 2019 sec. 3, Vaswani et al. 2017 sec. 3.2-3.3) within :data:`FORWARD_TOL` for
   the precision;
3. ``train-graph`` / ``train-pynative`` -- a few MLM + NSP steps of the :class:`~bert_ms.train.trainer.Trainer`
   on one fixed batch: the loss must fall, in graph mode (compiled) and in PyNative mode (eager), and
   the two modes must agree (the Trainer's seeded dropout gives both the same masks);
4. ``fused`` -- CPU, fp32 only: the same steps with the fused C++ kernels (``TrainerConfig(fused=True)``,
   :func:`bert_ms.accel.accelerate`) give the same losses;
5. ``save-load`` -- ``save_pretrained`` then ``load_pretrained`` gives the same outputs;
6. ``speed`` -- tokens/s of the graph-mode training step of 3 (a mini model, so a figure to compare
   machines with, not the course's real speed);
7. ``notebook`` -- ``notebooks/00_setup.py`` executed in smoke mode on the same device (``--quick`` skips it).

The last line is a one-line verdict; the exit code is 0 only if nothing failed (SKIP is not a failure).
Every FAIL names its cause and a next step (a missing CUDA library by soname, the cuDNN or CANN
version, bf16 on a card without it, ...). ``--json FILE`` writes the same report as JSON.

MindSpore picks one device target per process (see :func:`bert_ms.runtime.device.setup`), so one run
checks one device; run it again in a new process for another. Graph and PyNative mode are both
checked in the one process (the mode may change, the target may not).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bert_ms.runtime import device, diagnosis, nvidia, settings

__version__ = sys.modules[__package__].__version__  # the package's own (importing bert_ms/__init__ is reserved
# for the public API, tests/test_architecture.py)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "00_setup.py"

# Largest |BertModel - NumPy| allowed on the outputs (LayerNorm'd, so of order 1), per compute precision.
# fp16 keeps ~11 bits, bf16 ~8 bits of mantissa in every matmul; LayerNorm and softmax stay in fp32.
FORWARD_TOL = {"fp32": 1e-4, "fp16": 2e-2, "bf16": 1e-1}
# Largest relative difference between the losses of two runs of the same steps (graph vs PyNative,
# fused vs ops).
LOSS_TOL = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 5e-2}
STEPS = 6
# the mini model of the training checks: small enough for seconds on a laptop CPU
MINI = {"vocab_size": 128, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 256, "max_position_embeddings": 64}
BATCH, SEQ, PREDICTIONS = 8, 32, 5


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------


@dataclass
class Check:
    """One line of the report."""

    name: str
    status: str  # "PASS", "FAIL" or "SKIP"
    figure: str = ""  # what was measured
    cause: str = ""  # FAIL: what went wrong; SKIP: why not run
    next_step: str = ""  # FAIL: what to do
    seconds: float = 0.0
    also: list[str] = field(default_factory=list)  # FAIL: further problems found, "cause; next: step"

    def line(self) -> str:
        text = f"{self.status:4s}  {self.name:15s}" + (f" {self.figure}" if self.figure else "")
        if self.status == "FAIL":
            text += f" -- cause: {self.cause}; next: {self.next_step}"
        elif self.status == "SKIP" and self.cause:
            text += f" ({self.cause})"
        return "\n".join([text] + [f"      also: {a}" for a in self.also])


@dataclass
class Report:
    device: str
    precision: str
    quick: bool
    checks: list[Check] = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    verdict: str = ""
    ok: bool = False

    def to_json(self) -> dict:
        return {**asdict(self), "checks": [asdict(c) for c in self.checks]}


class Failure(Exception):
    """A check failed for a known reason: ``cause`` and ``next_step`` are for the learner."""

    def __init__(self, cause: str, next_step: str, figure: str = "", also: list[str] | None = None):
        super().__init__(cause)
        self.cause, self.next_step, self.figure, self.also = cause, next_step, figure, also or []


class Skip(Exception):
    """The check does not apply here (say why)."""


def explain(err: BaseException, target: str = "") -> tuple[str, str]:
    """(cause, next step) for an error in a check: a :class:`Failure` and the device switch's own one-line
    errors carry their cause; any other error is read by :func:`bert_ms.runtime.diagnosis.error_advice`."""
    if isinstance(err, Failure):
        return err.cause, err.next_step
    if isinstance(err, device.DeviceError):
        return str(err), diagnosis.device_error_step(str(err))
    return diagnosis.error_advice(err, target)


# ----------------------------------------------------------------------------------------------
# The checks
# ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_mindspore():
    """MindSpore's Python warnings (e.g. "compiled again", expected here: each check builds a new Trainer) off."""
    import logging

    from mindspore import log as ms_log

    logger = ms_log._get_logger()  # noqa: SLF001 - MindSpore has no public switch for its Python logger
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _setup(target: str, mode: str, precision: str, seed: int | None = None):
    """``device.setup`` with exactly these choices (explicit arguments beat the BERT_MS_* variables); no
    reseeding unless asked (the checks seed what they need themselves)."""
    return device.setup(target=target, mode=mode, precision=precision, seed=seed, verbose=False)


class Selftest:
    """The checks, run in order on one device; results collected in :attr:`report`."""

    def __init__(self, target: str, precision: str, quick: bool, out=print):
        self.requested, self.precision, self.quick, self.out = target, precision, quick, out
        self.target: str | None = None
        self.report = Report(device=target, precision=precision, quick=quick)
        self.tmp = Path(tempfile.mkdtemp(prefix="bert_ms_selftest_"))
        self.graph_losses: list[float] | None = None
        self.trained = None  # (model, batch) after the graph-mode run
        self.tokens_per_s: float | None = None

    # -- running and recording -----------------------------------------------------------------
    def check(self, name: str, fn, needs_device: bool = True) -> Check:
        t0 = time.perf_counter()
        if needs_device and self.target is None:
            c = Check(name, "SKIP", cause="not run: the device is not usable")
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    c = Check(name, "PASS", figure=fn())
            except Skip as s:
                c = Check(name, "SKIP", cause=str(s))
            except Failure as f:
                c = Check(name, "FAIL", figure=f.figure, cause=f.cause, next_step=f.next_step, also=f.also)
            except Exception as err:  # noqa: BLE001 - every error becomes a FAIL line with its cause
                cause, step = explain(err, self.target or self.requested)
                c = Check(name, "FAIL", cause=cause, next_step=step)
                self.report.versions.setdefault("tracebacks", {})[name] = traceback.format_exc()[-4000:]
        c.seconds = round(time.perf_counter() - t0, 2)
        self.report.checks.append(c)
        self.out(c.line())
        return c

    # -- 1. environment ---------------------------------------------------------------------------
    def environment(self) -> str:
        import mindspore as ms

        versions = {"bert_ms": __version__, "python": platform.python_version(), "mindspore": ms.__version__,
                    "mindnlp": settings.package_version("mindnlp"), "platform": platform.platform()}
        self.report.versions.update(versions)
        available = device.available_targets()
        self.report.versions["available"] = list(available)
        wanted = self.requested
        problems: list[tuple[str, str]] = []
        if wanted == "GPU" and "GPU" not in available:
            problems = diagnosis.gpu_problems()
        elif wanted == "Ascend" and "Ascend" not in available:
            problems = diagnosis.ascend_problems()
        figure = (f"bert_ms {__version__}, MindSpore {ms.__version__}, Python {versions['python']}; "
                  f"targets here: {', '.join(available)}")
        if problems:
            raise Failure(problems[0][0], problems[0][1], figure,
                          also=[f"{cause}; next: {step}" for cause, step in problems[1:]])
        try:
            info = _setup(wanted, "graph", self.precision)
        except device.DeviceError as err:
            raise Failure(*explain(err, wanted), figure) from None
        self.target = info.target
        self.report.device = info.target
        if info.target == "GPU":
            figure += "; CUDA libraries: " + ("preloaded from the nvidia wheels"
                                               if nvidia.status()["preloaded"] else "from the system")
        figure += f"; using {info.target} ({info.reason}), precision {info.precision}"
        if ms.__version__ != diagnosis.MINDSPORE_VERSION:  # the device works, so the other checks still run
            raise Failure(f"MindSpore {ms.__version__} is not the tested {diagnosis.MINDSPORE_VERSION}",
                          "run `make setup` (it installs requirements/lock.txt)", figure)
        return figure

    # -- 2. forward against NumPy -------------------------------------------------------------------
    def forward(self) -> str:
        import mindspore as ms

        from bert_ms.bert import reference
        from bert_ms.bert.config import BertConfig
        from bert_ms.bert.model import BertModel
        from bert_ms.bert.weights import read_state_dict, save_pretrained

        _setup(self.target, "pynative", self.precision)
        cfg = BertConfig(**{**MINI, "vocab_size": 50, "hidden_size": 32, "intermediate_size": 64},
                         hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        model = BertModel(cfg, dtype=self.precision)
        model.set_train(False)
        rng = np.random.default_rng(0)
        for p in model.get_parameters():  # non-trivial weights: LayerNorm scales and biases too
            base = 1.0 if p.name.endswith("norm.weight") else 0.0
            p.set_data(ms.Tensor((base + rng.normal(0, 0.1, p.shape)).astype(np.float32)))
        save_pretrained(model, self.tmp / "forward")
        state = read_state_dict(self.tmp / "forward")
        ids = rng.integers(1, cfg.vocab_size, (2, 12)).astype(np.int32)
        types = np.zeros_like(ids)
        types[:, 6:] = 1
        mask = np.ones_like(ids)
        mask[1, 8:] = 0  # the second row has 4 padding tokens
        out = model(ms.Tensor(ids), ms.Tensor(types), ms.Tensor(mask))
        ref_seq, ref_pooled = reference.bert_model(state, cfg, ids, types, mask)
        got_seq = out[0].asnumpy().astype(np.float64)
        real = mask.astype(bool)
        diff = max(np.abs(got_seq - ref_seq)[real].max(), np.abs(out[1].asnumpy() - ref_pooled).max())
        tol = FORWARD_TOL[self.precision]
        figure = f"max |BertModel - NumPy| = {diff:.1e} (tolerance {tol:.0e}, {self.precision})"
        if not np.isfinite(diff) or diff > tol:
            raise Failure(f"BertModel differs from the NumPy reference by {diff:.2e} > {tol:.0e}",
                          "run `pytest tests/test_bert.py` to locate the layer; on an accelerator, compare "
                          "with --device CPU", figure)
        return figure

    # -- 3. training -------------------------------------------------------------------------------
    def _data(self) -> dict[str, np.ndarray]:
        """One fixed MLM + NSP batch (random tokens, 5 masked positions, a learnable NSP label)."""
        rng = np.random.default_rng(1)
        v = MINI["vocab_size"]
        ids = rng.integers(5, v, (BATCH, SEQ)).astype(np.int32)
        ids[:, 0] = 2  # a [CLS]-like first token
        types = np.zeros_like(ids)
        types[:, SEQ // 2:] = 1
        mask = np.ones_like(ids)
        mask[::2, -6:] = 0
        ids[mask == 0] = 0
        positions = np.stack([rng.choice(np.arange(1, SEQ - 6), PREDICTIONS, replace=False)
                              for _ in range(BATCH)]).astype(np.int32)
        labels = np.take_along_axis(ids, positions, 1).astype(np.int32)
        np.put_along_axis(ids, positions, 4, 1)  # [MASK]-like token 4
        nsp = (ids[:, 1] % 2).astype(np.int32)
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "masked_lm_positions": positions,
                "masked_lm_ids": labels, "masked_lm_weights": np.ones((BATCH, PREDICTIONS), np.float32),
                "next_sentence_label": nsp}

    def _initial_state(self) -> dict[str, np.ndarray]:
        if not hasattr(self, "_init"):
            import mindspore as ms

            from bert_ms.bert.config import BertConfig
            from bert_ms.bert.model import BertForPreTraining

            ms.set_seed(0)
            model = BertForPreTraining(BertConfig(**MINI), dtype="fp32")
            self._init = {p.name: p.asnumpy().copy() for p in model.get_parameters()}
        return self._init

    def _model(self, dropout: bool = True):
        import mindspore as ms

        from bert_ms.bert.config import BertConfig
        from bert_ms.bert.model import BertForPreTraining

        off = {} if dropout else {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
        model = BertForPreTraining(BertConfig(**MINI, **off), dtype=self.precision)
        init = self._initial_state()
        for p in model.get_parameters():
            p.set_data(ms.Tensor(init[p.name]))
        return model

    def _train(self, mode: str, fused: bool = False, steps: int = STEPS):
        """(model, per-step losses, seconds of steps 2..N, tokens per step) of ``steps`` Trainer steps."""
        from bert_ms.train.tasks import build_task
        from bert_ms.train.trainer import Trainer, TrainerConfig

        _setup(self.target, mode, self.precision)
        self._initial_state()
        model = self._model()
        cfg = TrainerConfig(total_steps=steps, batch_size=BATCH, lr=3e-3, warmup_steps=0, decay="constant", seed=0,
                            log_every=steps, progress=False, init_loss_scale=2.0 ** 10, fused=fused)
        data = self._data()
        task = build_task("pretraining")
        trainer = Trainer(model, task, data, cfg)
        trainer.fit(until_step=1)  # compiles in graph mode
        t0 = time.perf_counter()
        trainer.fit()
        seconds = time.perf_counter() - t0
        losses = [loss for _, loss in trainer.losses()]
        tokens = int(task.tokens(data))
        return model, losses, seconds, tokens

    def _loss_falls(self, losses: list[float]) -> str:
        figure = f"loss {losses[0]:.3f} -> {losses[-1]:.3f} over {len(losses)} steps"
        if not all(np.isfinite(losses)):
            raise Failure(f"the loss is not finite ({losses})", "try --precision fp32; with fp16 check the loss scale",
                          figure)
        if not losses[-1] < losses[0] - 0.05:
            raise Failure(f"the loss did not fall ({losses[0]:.4f} -> {losses[-1]:.4f})",
                          "check the optimizer and the gradients (`pytest tests/test_training.py`)", figure)
        return figure

    def train_graph(self) -> str:
        model, losses, seconds, tokens = self._train("graph")
        self.graph_losses = losses
        self.trained = model
        self.tokens_per_s = tokens * (len(losses) - 1) / max(seconds, 1e-9)
        return self._loss_falls(losses)

    def _same_losses(self, losses: list[float], what: str) -> float:
        if self.graph_losses is None:
            raise Skip("no graph-mode run to compare with")
        ref = np.asarray(self.graph_losses)
        rel = float(np.max(np.abs(np.asarray(losses) - ref) / np.maximum(np.abs(ref), 1e-6)))
        tol = LOSS_TOL[self.precision]
        if not rel <= tol:
            raise Failure(f"{what} losses differ from graph mode's by {rel:.1e} (relative) > {tol:.0e}",
                          "report it with --json (the losses are in it)",
                          f"graph {np.round(ref, 4).tolist()} vs {np.round(losses, 4).tolist()}")
        return rel

    def train_pynative(self) -> str:
        _, losses, _, _ = self._train("pynative")
        figure = self._loss_falls(losses)
        rel = self._same_losses(losses, "PyNative")
        return figure + f"; equal to graph mode within {rel:.1e}"

    # -- 4. fused kernels ----------------------------------------------------------------------------
    def fused(self) -> str:
        if self.target != "CPU":
            raise Skip(f"the fused C++ kernels are CPU only, this run is on {self.target}")
        if self.precision != "fp32":
            raise Skip(f"the fused kernels are float32 only, this run is {self.precision}")
        from bert_ms.accel import fused as kernels

        _setup(self.target, "graph", self.precision)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ok = kernels.available()
        if not ok:
            why = "; ".join(str(w.message) for w in caught) or "the kernels did not build"
            raise Skip(f"optional, off: {why}")
        from bert_ms.accel import accelerate, restore

        figure = self._fused_cells_match(accelerate, restore) + "; "
        calls = self._trainer_kernel_calls(kernels)
        if calls == 0:
            raise Failure("Trainer(fused=True) trained with MindSpore's ops: the fused cells never ran their kernels",
                          "report it with --json (bert_ms.train.trainer / bert_ms.accel); meanwhile fused=False",
                          figure.rstrip("; "))
        _, losses, _, _ = self._train("graph", fused=True)
        rel = self._same_losses(losses, "fused")
        runs = f"{calls} kernel calls in one step, " if calls > 0 else ""
        return figure + (f"Trainer(fused=True): {runs}losses equal MindSpore's ops within {rel:.1e} "
                         f"over {len(losses)} steps")

    def _trainer_kernel_calls(self, kernels) -> int:
        """How often one eager Trainer(fused=True) step calls the GELU / LayerNorm kernels (-1: cannot count)."""
        names = [n for n in ("gelu", "layer_norm") if callable(getattr(kernels, n, None))]
        if not names:
            return -1
        calls = {"n": 0}
        originals = {n: getattr(kernels, n) for n in names}

        def counting(make):
            def made():
                op = make()

                def counted(*xs):
                    calls["n"] += 1
                    return op(*xs)

                return counted
            return made

        try:
            for n in names:
                setattr(kernels, n, counting(originals[n]))
            self._train("pynative", fused=True, steps=1)
        finally:
            for n in names:
                setattr(kernels, n, originals[n])
        return calls["n"]

    def _fused_cells_match(self, accelerate, restore) -> str:
        """accelerate(model) in training mode: the C++ kernels run (counted) and loss and gradients equal the ops."""
        import mindspore as ms

        from bert_ms.train.tasks import build_task

        _setup(self.target, "pynative", self.precision)  # eager, so the kernel calls can be counted
        task = build_task("pretraining")
        data = self._data()
        inputs = [ms.Tensor(data[k]) for k in task.input_keys]
        results = []
        calls = {"n": 0}
        for fused_on in (False, True):
            model = self._model(dropout=False)  # the same function on both sides: no random masks
            swapped = accelerate(model) if fused_on else []
            if fused_on:
                if not swapped:
                    raise Failure("accelerate(model) swapped no cell although the kernels are available",
                                  "report it with --json")
                for name, cell in model.cells_and_names():
                    if name in swapped:
                        kernel = cell.kernel

                        def counted(*xs, _kernel=kernel):
                            calls["n"] += 1
                            return _kernel(*xs)

                        cell.kernel = counted
            model.set_train(True)
            params = model.trainable_params()
            grad_fn = ms.value_and_grad(lambda *xs, m=model: task.loss(m, *xs), None, params)
            loss, grads = grad_fn(*inputs)
            results.append((float(loss.asnumpy()), {p.name: g.asnumpy() for p, g in zip(params, grads)}))
            if fused_on:
                restore(model)
        if calls["n"] == 0:
            raise Failure("the fused cells ran MindSpore's ops, not the C++ kernels",
                          "report it with --json (bert_ms.accel)")
        (loss0, g0), (loss1, g1) = results
        if set(g0) != set(g1):
            raise Failure(f"accelerate(model) changed the parameters: {sorted(set(g0) ^ set(g1))[:3]}",
                          "report it with --json (bert_ms.accel)")
        # relative per tensor, with a floor: some gradients are exactly zero in exact arithmetic (the key
        # bias: softmax ignores a constant added to every score) and hold only rounding noise
        floor = 1e-3 * max(float(np.abs(g).max()) for g in g0.values())
        grad_diff = max(float(np.abs(g0[n] - g1[n]).max()) / max(float(np.abs(g0[n]).max()), floor) for n in g0)
        loss_diff = abs(loss1 - loss0) / max(abs(loss0), 1e-12)
        figure = (f"{len(swapped)} cells fused, {calls['n']} kernel calls: loss within {loss_diff:.1e}, "
                  f"gradients within {grad_diff:.1e} of the ops")
        if not max(loss_diff, grad_diff) <= 1e-4:
            raise Failure(f"the fused kernels differ from MindSpore's ops by {max(loss_diff, grad_diff):.1e}",
                          "run `pytest tests/test_fused_kernels.py`; meanwhile train with fused=False", figure)
        return figure

    # -- 5. save and load ------------------------------------------------------------------------------
    def save_load(self) -> str:
        import mindspore as ms

        from bert_ms.bert.model import load_pretrained
        from bert_ms.bert.tokenization import INPUT_KEYS

        _setup(self.target, "pynative", self.precision)
        model = self.trained if self.trained is not None else self._model()
        model.set_train(False)
        data = self._data()
        inputs = [ms.Tensor(data[k]) for k in (*INPUT_KEYS, "masked_lm_positions")]
        before = [o.asnumpy() for o in model(*inputs)]
        path = self.tmp / "saved"
        model.save_pretrained(path)
        loaded = load_pretrained(path, head="pretraining", dtype=self.precision)
        after = [o.asnumpy() for o in loaded(*inputs)]
        diff = max(float(np.abs(a.astype(np.float64) - b).max()) for a, b in zip(after, before))
        figure = f"max |loaded - saved| = {diff:.1e} on the MLM and NSP logits ({path.name}: safetensors + config.json)"
        if not diff <= 1e-6:
            raise Failure(f"the loaded model's outputs differ by {diff:.2e}",
                          "run `pytest tests/test_weights.py` to find the tensor that is not saved or read", figure)
        return figure

    # -- 6. speed ------------------------------------------------------------------------------------
    def speed(self) -> str:
        if self.tokens_per_s is None:
            raise Skip("no graph-mode training run to time")
        return (f"{self.tokens_per_s:,.0f} tokens/s in the graph-mode training step (mini BERT L2/H64, batch "
                f"{BATCH} x {SEQ}; measured over {STEPS - 1} steps after compiling)")

    # -- 7. a notebook ------------------------------------------------------------------------------
    def notebook(self) -> str:
        if self.quick:
            raise Skip("--quick")
        if not NOTEBOOK.is_file():
            raise Skip(f"{NOTEBOOK} is not here (an installed package without the course folder)")
        import jupytext
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager
        from nbclient import NotebookClient

        spec_dir = self.tmp / "kernels" / "bert-ms-selftest"
        spec_dir.mkdir(parents=True, exist_ok=True)
        env = {"BERT_MS_SMOKE": "1", "BERT_MS_DEVICE": self.target, "BERT_MS_PRECISION": self.precision,
               "BERT_MS_MODE": "graph", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        (spec_dir / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "bert-ms selftest", "language": "python", "env": env}))
        ksm = KernelSpecManager(kernel_dirs=[str(self.tmp / "kernels")])
        km = KernelManager(kernel_name="bert-ms-selftest", kernel_spec_manager=ksm)
        nb = jupytext.read(NOTEBOOK)
        t0 = time.perf_counter()
        try:
            NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
        except Exception as err:  # noqa: BLE001
            cause, step = explain(err, self.target)
            raise Failure(f"{NOTEBOOK.name} failed: {cause}", step) from None
        finally:
            if km.has_kernel:  # the client shuts down only kernels it started itself
                km.shutdown_kernel(now=True)
        return f"{NOTEBOOK.name} ran in smoke mode on {self.target} in {time.perf_counter() - t0:.0f} s"

    # -- all of it ----------------------------------------------------------------------------------
    def run(self) -> Report:
        with _quiet_mindspore():
            return self._run()

    def _run(self) -> Report:
        t0 = time.perf_counter()
        self.check("environment", self.environment, needs_device=False)
        self.check("forward", self.forward)
        self.check("train-graph", self.train_graph)
        self.check("train-pynative", self.train_pynative)
        self.check("fused", self.fused)
        self.check("save-load", self.save_load)
        self.check("speed", self.speed)
        self.check("notebook", self.notebook)
        shutil.rmtree(self.tmp, ignore_errors=True)
        r = self.report
        failed = [c.name for c in r.checks if c.status == "FAIL"]
        skipped = [c.name for c in r.checks if c.status == "SKIP"]
        passed = len(r.checks) - len(failed) - len(skipped)
        where = f"{r.device} ({r.precision})"
        took = f"{time.perf_counter() - t0:.0f} s"
        if failed:
            first = next(c for c in r.checks if c.status == "FAIL")
            r.verdict = (f"FAIL: {len(failed)} of {len(r.checks)} checks failed on {where}: {', '.join(failed)}; "
                         f"first fix: {first.next_step} ({took})")
        else:
            r.verdict = (f"PASS: the course runs on {where}: {passed} passed, {len(skipped)} skipped "
                         f"({', '.join(skipped) or 'none'}) in {took}")
        r.ok = not failed
        return r


# ----------------------------------------------------------------------------------------------
# Command line (registered as ``bert-ms selftest`` by bert_ms/cli.py)
# ----------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, type=str,
                        help="auto, CPU, GPU or Ascend (default: BERT_MS_DEVICE, else auto)")
    parser.add_argument("--precision", default=None, choices=device.PRECISIONS,
                        help="fp32, fp16 or bf16 (default: BERT_MS_PRECISION, else fp32)")
    parser.add_argument("--quick", action="store_true", help="skip the notebook check")
    parser.add_argument("--json", metavar="FILE", default=None, help="also write the report as JSON to FILE")


def run(args: argparse.Namespace) -> int:
    """Run every check, print one line each and the verdict; 0 only if nothing failed."""
    target = settings.device_target(getattr(args, "device", None))
    precision = settings.precision(getattr(args, "precision", None))
    try:
        target = "auto" if target.strip().lower() == "auto" else device._canonical(target, device.TARGETS,  # noqa: SLF001
                                                                                     "device target")
        precision = device._canonical(precision, device.PRECISIONS, "precision")  # noqa: SLF001
    except device.DeviceError as err:
        print(f"bert-ms selftest: error: {err}", file=sys.stderr)
        return 2
    # MindSpore's C++ warnings (graph compiler notes) would bury the report; errors still show. Only
    # effective before MindSpore is imported (bert-ms imports it lazily); a GLOG_v the user set wins.
    os.environ.setdefault("GLOG_v", "3")
    if target == "auto":
        target = device.available_targets()[0]
    print(f"bert-ms selftest: device {target}, precision {precision}{', quick' if args.quick else ''}")
    previous = device.chosen()  # restored at the end for in-process callers (tests, notebooks)
    test = Selftest(target, precision, bool(getattr(args, "quick", False)))
    try:
        report = test.run()
    finally:
        if previous is not None:
            with contextlib.suppress(Exception):
                _setup(previous.target, previous.mode, previous.precision)
    print(f"verdict: {report.verdict}")
    if getattr(args, "json", None):
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"report written to {path}")
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bert-ms selftest", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
