"""Data parallelism (数据并行), lesson 10: a real ``msrun`` job on one machine, whose workers can be compared.

Every worker holds the whole model and reads the same global batch (same seed, same order); worker ``r`` of
``W`` keeps its own block of rows (:func:`bert_ms.runtime.distributed.shard_rows`), computes the gradient of its mean loss, and the
workers average their gradients (an all-reduce; ``nn.DistributedGradReducer`` in
:class:`bert_ms.train.trainer.TrainStep`). Every worker then makes the same update, so the weights stay
identical, and for a loss that is a mean over examples the averaged gradient is the gradient of the whole
global batch. (BERT's MLM loss is a mean over the *masked tokens* of a batch: the average of per-shard
means equals it only when every shard holds as many masked tokens; Google's TPU code had the same
per-shard normalisation. Lesson 10, section 1.)

:func:`launch` runs :func:`worker` under ``msrun`` with ``W`` CPU worker processes (``W = 1``: one plain
process, no msrun), so that a notebook or a test can compare the weights the workers end with::

    job = {"model": "models/mini-bert-sotu", "arrays": "runs/dp/arrays.npz",
           "config": {"total_steps": 20, "batch_size": 16, "lr": 1e-3}}
    result = launch(job, "runs/dp/two", workers=2)      # msrun: a scheduler and 2 workers
    result.weights(0), result.weights(1)               # rank 0's and rank 1's final weights

The same command runs on GPU and Ascend (``"device": "GPU"`` in the job, one worker per card); see
docs/distributed.md for one and several machines.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bert_ms.runtime.settings import REPO_ROOT

# ----------------------------------------------------------------------------------------------
# A job: the same training run in each worker process
# ----------------------------------------------------------------------------------------------

JOB_FILE = "job.json"


class LaunchError(RuntimeError):
    """msrun is missing or the job failed; the message is one line (the workers' logs are kept)."""


@dataclass
class JobResult:
    """What :func:`launch` left in ``out``: one ``rank{r}-of-{W}.npz`` (weights) and ``.json`` (losses, times)."""

    out: Path
    workers: int
    seconds: float  # wall time of the whole launch (start-up and compilation included)
    log: str        # the launcher's and the workers' output, as a learner would read it
    command: list   # what was run

    def weights(self, rank: int = 0) -> dict[str, np.ndarray]:
        with np.load(self.out / f"rank{rank}-of-{self.workers}.npz") as f:
            return {k: f[k] for k in f.files}

    def record(self, rank: int = 0) -> dict:
        return json.loads((self.out / f"rank{rank}-of-{self.workers}.json").read_text())


def msrun_path() -> str | None:
    """The ``msrun`` launcher of this interpreter's MindSpore (the venv's bin folder first), or None."""
    here = Path(sys.executable).parent / "msrun"
    return str(here) if here.exists() else shutil.which("msrun")


def launch_env() -> dict[str, str]:
    """The environment for a job's processes: this repository importable, MindSpore's log at errors only, and
    this interpreter's folder first on PATH (msrun starts "python ..." as found there); no msrun variables
    inherited from a process that was itself launched by msrun. The workers share the machine's cores, so the
    fused kernels' OpenMP threads wait passively (``OMP_WAIT_POLICY=PASSIVE``, unless set): a thread spinning
    at a barrier would take the core from the other worker's thread it waits for."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "GLOG_v": "3", "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.pop("MS_WORKER_NUM", None)
    env.pop("MS_ROLE", None)
    return env


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now (for msrun's scheduler)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(job: dict, out: str | os.PathLike, workers: int = 2, timeout: float = 300) -> JobResult:
    """Run :func:`worker` on ``job`` in ``workers`` processes (``msrun`` for 2 or more) and wait for them.

    ``job``: ``model`` (a folder with config.json + weights), ``arrays`` (an .npz of the pretraining
    columns), ``config`` (TrainerConfig fields), optionally ``device`` ("CPU"). Raises :class:`LaunchError`
    with one line if msrun is missing, a worker fails or the job runs past ``timeout`` seconds.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("rank*-of-*.*"):
        old.unlink()
    (out / JOB_FILE).write_text(json.dumps(job, indent=1))
    env = launch_env()
    module = ["-m", "bert_ms.train.data_parallel", str(out)]
    logs = out / "logs"
    if workers == 1:
        cmd = [sys.executable, *module]
    else:
        msrun = msrun_path()
        if msrun is None:
            raise LaunchError("msrun was not found next to this Python or on PATH: is MindSpore installed here?")
        shutil.rmtree(logs, ignore_errors=True)
        cmd = [msrun, f"--worker_num={workers}", f"--local_worker_num={workers}", f"--master_port={free_port()}",
               "--join=True", f"--log_dir={logs}", "python", *module]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LaunchError(f"the {workers}-worker job ran past {timeout:.0f} s and was stopped (logs: {logs})") from None
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    for path in sorted(logs.glob("worker_*.log")) if workers > 1 else []:
        log += f"\n--- {path.name} ---\n" + path.read_text(errors="replace")
    missing = [r for r in range(workers) if not (out / f"rank{r}-of-{workers}.npz").exists()]
    if proc.returncode != 0 or missing:
        last = next((line for line in reversed(log.splitlines()) if line.strip()), "no output")
        raise LaunchError(f"the {workers}-worker job failed (exit {proc.returncode}; no weights from ranks "
                          f"{missing}): {last[:300]}")
    return JobResult(out, workers, seconds, log, cmd)


def worker(out: str | os.PathLike) -> None:
    """One worker of a job (what msrun starts): train ``job["model"]`` on ``job["arrays"]`` with the
    Trainer, data-parallel when launched by msrun, and write this rank's weights, losses and step time."""
    import mindspore as ms

    if os.environ.get("MS_ROLE") == "MS_SCHED":  # msrun's scheduler: serve the job at once (the workers wait for it)
        from mindspore.communication import init as serve

        ms.set_device("CPU")
        serve()
        return

    from bert_ms.bert.model import load_pretrained
    from bert_ms.runtime import device, distributed
    from bert_ms.train.tasks import PretrainingTask
    from bert_ms.train.trainer import Trainer, TrainerConfig

    out = Path(out)
    job = json.loads((out / JOB_FILE).read_text())
    device.setup(job.get("device", "CPU"), mode=job.get("mode", "graph"), verbose=False)
    dist = distributed.init()  # under msrun: join the job
    ms.set_seed(0)
    model = load_pretrained(job["model"], head="pretraining")
    with np.load(job["arrays"]) as f:
        arrays = {k: f[k] for k in f.files}
    cfg = TrainerConfig(**{"progress": False, "log_every": 1, **job["config"]})
    trainer = Trainer(model, PretrainingTask(), arrays, cfg)
    t0 = time.perf_counter()
    trainer.fit(until_step=1)  # the first step compiles the graph: timed apart
    t1 = time.perf_counter()
    trainer.fit()
    t2 = time.perf_counter()
    name = f"rank{dist.rank}-of-{dist.world_size}"
    np.savez(out / f"{name}.npz", **{p.name: p.asnumpy() for p in model.trainable_params()})
    steps = cfg.total_steps - 1
    record = {"rank": dist.rank, "world_size": dist.world_size, "losses": [v for _, v in trainer.losses()],
              "grad_norms": [h["grad_norm"] for h in trainer.state.history if "grad_norm" in h],
              "first_step_s": t1 - t0, "step_s": (t2 - t1) / max(steps, 1), "steps": cfg.total_steps}
    (out / f"{name}.json").write_text(json.dumps(record))
    print(f"[rank {dist.rank} of {dist.world_size}] {cfg.total_steps} steps, loss {record['losses'][0]:.4f} -> "
          f"{record['losses'][-1]:.4f}, {record['step_s'] * 1000:.0f} ms per step after the first", flush=True)


if __name__ == "__main__":  # python -m bert_ms.train.data_parallel OUT  (started by launch())
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m bert_ms.train.data_parallel OUT   (OUT holds job.json; see launch())")
    worker(sys.argv[1])
