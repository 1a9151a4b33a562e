"""Data parallelism with msrun on CPU: two workers end with identical weights, and the loss and
weights equal a single process that sees the same global batch."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bert_ms.runtime import distributed

REPO = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent('''
    import json, sys
    import numpy as np
    import mindspore as ms
    from mindspore import nn, ops
    from bert_ms.runtime import device
    from bert_ms.runtime import distributed
    from bert_ms.train.tasks import SequenceClassificationTask
    from bert_ms.train.trainer import Trainer, TrainerConfig

    out = sys.argv[1]
    device.setup("CPU", mode="graph", verbose=False)
    dist = distributed.init()

    class Net(nn.Cell):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(30, 16)
            self.norm = nn.LayerNorm((16,))
            self.out = nn.Dense(16, 2)

        def construct(self, ids):
            return self.out(ops.tanh(self.norm(self.emb(ids))).mean(1))

    rng = np.random.default_rng(0)
    data = {"ids": rng.integers(0, 30, (32, 6)).astype(np.int32)}
    data["labels"] = (data["ids"][:, 0] > 14).astype(np.int32)
    cfg = TrainerConfig(total_steps=4, batch_size=8, lr=1e-2, log_every=1, progress=False)
    ms.set_seed(0)  # the same initial weights on every worker
    t = Trainer(Net(), SequenceClassificationTask(2, feature_keys=("ids",)), data, cfg, out_dir=out + "/run")
    t.fit()
    w = {p.name: p.asnumpy().tolist() for p in t.model.trainable_params()}
    json.dump({"rank": dist.rank, "world": dist.world_size, "losses": t.losses(), "params": w},
              open(f"{out}/rank{dist.rank}-of-{dist.world_size}.json", "w"))
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_not_distributed_outside_msrun(monkeypatch):
    monkeypatch.delenv("MS_WORKER_NUM", raising=False)
    assert not distributed.launched_by_msrun()
    info = distributed.init()
    assert (info.rank, info.world_size, info.is_main) == (0, 1, True)


@pytest.mark.slow
def test_two_msrun_workers_match_each_other_and_a_single_process(tmp_path):
    msrun = shutil.which("msrun") or str(Path(sys.executable).parent / "msrun")
    script = tmp_path / "dp.py"
    script.write_text(SCRIPT)
    # msrun starts "python <args>" as found on PATH: put this interpreter's folder first
    env = {**os.environ, "PYTHONPATH": str(REPO), "GLOG_v": "3",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    single, multi = tmp_path / "single", tmp_path / "multi"
    single.mkdir()
    multi.mkdir()
    subprocess.run([sys.executable, str(script), str(single)], env=env, check=True, capture_output=True, timeout=240)
    cmd = [msrun, "--worker_num=2", "--local_worker_num=2", f"--master_port={_free_port()}", "--join=True",
           f"--log_dir={tmp_path / 'logs'}", "python", str(script), str(multi)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    logs = "".join(p.read_text()[-2000:] for p in sorted((tmp_path / "logs").glob("worker_*.log")))
    assert proc.returncode == 0, proc.stdout[-2000:] + logs

    ref = json.loads((single / "rank0-of-1.json").read_text())
    r0 = json.loads((multi / "rank0-of-2.json").read_text())
    r1 = json.loads((multi / "rank1-of-2.json").read_text())
    for name in ref["params"]:
        a, b = np.array(r0["params"][name]), np.array(r1["params"][name])
        np.testing.assert_array_equal(a, b, err_msg=f"workers disagree on {name}")
        np.testing.assert_allclose(a, np.array(ref["params"][name]), atol=1e-5, err_msg=name)
    # the logged loss is the mean over workers = the single-process loss over the same global batch
    np.testing.assert_allclose([v for _, v in r0["losses"]], [v for _, v in ref["losses"]], atol=1e-6)
    # only rank 0 writes checkpoints and logs
    assert (multi / "run" / "metrics.jsonl").exists()
    assert len(list((multi / "run" / "checkpoints").glob("*.json"))) == 1
