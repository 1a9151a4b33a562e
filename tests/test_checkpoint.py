"""Checkpoints: atomic save, pruning to last-good + new, clear errors for corrupt / truncated /
mismatched files, and a real SIGKILL mid-run followed by an exact resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from bert_ms.train import checkpoint as ckpt

REPO = Path(__file__).resolve().parent.parent


def tensors(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"model/w": rng.normal(size=(3, 4)).astype(np.float32), "optim/global_step": np.array([seed], np.int32)}


def test_roundtrip_and_pruning_keeps_last_good_and_new(tmp_path):
    for step in (10, 20, 30):
        ckpt.save(tmp_path, step, tensors(step), {"epoch": 1, "batch_index": step}, keep=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["step-00000020.json", "step-00000020.safetensors", "step-00000030.json",
                     "step-00000030.safetensors"]
    c = ckpt.load(ckpt.latest(tmp_path))
    assert c.step == 30 and c.state["batch_index"] == 30
    np.testing.assert_array_equal(c.group("model")["w"], tensors(30)["model/w"])
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temp files left behind


def test_saving_the_same_step_again_does_not_rewrite_it(tmp_path):
    side = ckpt.save(tmp_path, 5, tensors(1), {})
    stamp = side.with_suffix(".safetensors").stat().st_mtime_ns
    ckpt.save(tmp_path, 5, tensors(2), {})
    assert side.with_suffix(".safetensors").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(ckpt.load(side).group("model")["w"], tensors(1)["model/w"])


@pytest.mark.parametrize("damage", ["flip", "truncate", "json"])
def test_corrupt_checkpoint_is_refused_and_the_last_good_one_survives(tmp_path, damage):
    ckpt.save(tmp_path, 1, tensors(1), {})
    bad = ckpt.save(tmp_path, 2, tensors(2), {})
    data = bad.with_suffix(".safetensors")
    if damage == "flip":
        raw = bytearray(data.read_bytes())
        raw[-5] ^= 0xFF
        data.write_bytes(bytes(raw))
        msg = "SHA-256"
    elif damage == "truncate":
        data.write_bytes(data.read_bytes()[:-10])
        msg = "truncated"
    else:
        bad.write_text(bad.read_text()[:-20])
        msg = "does not parse"
    with pytest.raises(ckpt.CheckpointError, match=msg):
        ckpt.load(bad)
    with pytest.raises(ckpt.CheckpointError, match=msg):
        ckpt.latest(tmp_path, strict=True)
    with pytest.warns(RuntimeWarning, match="skipping bad checkpoint"):
        good = ckpt.latest(tmp_path)
    assert good.name == "step-00000001.json"
    # the next save replaces nothing good: step 1 stays until a new valid checkpoint exists
    ckpt.save(tmp_path, 3, tensors(3), {}, keep=2)
    assert ckpt.load(tmp_path / "step-00000003.json").step == 3
    # pruning keeps the newest 2 that verify (3 and 1); the broken 2 is not counted, nor deleted
    assert (tmp_path / "step-00000001.json").exists() and (tmp_path / "step-00000002.json").exists()
    ckpt.save(tmp_path, 4, tensors(4), {}, keep=2)  # now 4 and 3 are the newest good ones
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-00000003.json", "step-00000004.json"]


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="does not exist"):
        ckpt.load(tmp_path / "step-00000001.json")
    (tmp_path / "step-00000001.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ckpt.CheckpointError, match="not a bert_ms checkpoint"):
        ckpt.load(tmp_path / "step-00000001.json")
    side = ckpt.save(tmp_path / "b", 4, tensors(), {})
    side.with_suffix(".safetensors").unlink()
    with pytest.raises(ckpt.CheckpointError, match="is missing"):
        ckpt.load(side)


def test_compatibility_check_names_the_differences(tmp_path):
    found = {"a": np.zeros((2, 3)), "c": np.zeros(1)}
    with pytest.raises(ckpt.CheckpointError, match=r"missing \['b'\].*unexpected \['c'\].*a: \(2, 3\) vs \(3, 3\)"):
        ckpt.check_compatible({"a": (3, 3), "b": (1,)}, found, "model", tmp_path)


def test_rng_state_roundtrip():
    import random

    np.random.seed(3)
    random.seed(3)
    state = json.loads(json.dumps(ckpt.rng_state()))  # survives JSON
    a = (np.random.rand(3), random.random())
    ckpt.set_rng_state(state)
    b = (np.random.rand(3), random.random())
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]


def test_trainer_refuses_a_checkpoint_of_another_model_or_settings(tmp_path):
    import mindspore as ms
    from mindspore import nn

    from bert_ms.train.tasks import SequenceClassificationTask
    from bert_ms.train.trainer import Trainer, TrainerConfig

    class Lin(nn.Cell):
        def __init__(self, dim):
            super().__init__()
            self.emb = nn.Embedding(20, dim)
            self.out = nn.Dense(dim, 2)

        def construct(self, ids):
            return self.out(self.emb(ids).mean(1))

    rng = np.random.default_rng(0)
    data = {"ids": rng.integers(0, 20, (16, 4)).astype(np.int32), "labels": rng.integers(0, 2, 16).astype(np.int32)}
    task = SequenceClassificationTask(2, feature_keys=("ids",))
    cfg = TrainerConfig(total_steps=2, batch_size=8, progress=False)
    ms.set_seed(0)
    Trainer(Lin(8), task, data, cfg, out_dir=tmp_path).fit()
    with pytest.raises(ckpt.CheckpointError, match=r"does not match this model.*shape"):
        Trainer(Lin(4), task, data, cfg, out_dir=tmp_path).fit(resume=True)
    other = TrainerConfig(total_steps=2, batch_size=8, lr=1.0, progress=False)
    with pytest.raises(ckpt.CheckpointError, match="other settings.*'lr'"):
        Trainer(Lin(8), task, data, other, out_dir=tmp_path).fit(resume=True)


SCRIPT = textwrap.dedent('''
    import json, sys, time
    import numpy as np
    import mindspore as ms
    from mindspore import nn, ops
    from bert_ms.runtime import device
    from bert_ms.train.tasks import SequenceClassificationTask
    from bert_ms.train.trainer import ArrayBatches, Trainer, TrainerConfig

    out, resume, slow = sys.argv[1], sys.argv[2] == "resume", float(sys.argv[3])
    device.setup("CPU", mode="graph", verbose=False)

    class Net(nn.Cell):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(30, 16)
            self.drop = nn.Dropout(p=0.2)
            self.out = nn.Dense(16, 2)

        def construct(self, ids):
            return self.out(self.drop(ops.tanh(self.emb(ids))).mean(1))

    class SlowBatches(ArrayBatches):
        def epoch(self, epoch, start=0):
            for b in super().epoch(epoch, start):
                time.sleep(slow)
                yield b

    rng = np.random.default_rng(0)
    data = {"ids": rng.integers(0, 30, (24, 6)).astype(np.int32)}
    data["labels"] = (data["ids"][:, 0] > 14).astype(np.int32)
    cfg = TrainerConfig(total_steps=16, batch_size=8, lr=1e-2, save_every=2, log_every=1, progress=False)
    ms.set_seed(1 if resume else 0)
    t = Trainer(Net(), SequenceClassificationTask(2, feature_keys=("ids",)), SlowBatches(data, 8, seed=0), cfg,
                out_dir=out)
    t.fit(resume=resume)
    w = {p.name: p.asnumpy().tolist() for p in t.model.trainable_params()}
    json.dump({"losses": t.losses(), "params": w}, open(out + "/result.json", "w"))
''')


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "GLOG_v": "3"}
    run = [sys.executable, str(script)]
    ref_dir, cut_dir = tmp_path / "ref", tmp_path / "cut"
    subprocess.run([*run, str(ref_dir), "fresh", "0"], env=env, check=True, capture_output=True, timeout=240)

    proc = subprocess.Popen([*run, str(cut_dir), "fresh", "0.3"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    target = cut_dir / "checkpoints" / "step-00000006.json"
    deadline = time.time() + 180
    while not target.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # no clean-up, no final checkpoint
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (cut_dir / "result.json").exists()  # it really died mid-run
    killed_at = ckpt.load(ckpt.latest(cut_dir / "checkpoints")).step
    assert 6 <= killed_at < 16

    subprocess.run([*run, str(cut_dir), "resume", "0"], env=env, check=True, capture_output=True, timeout=240)
    ref = json.loads((ref_dir / "result.json").read_text())
    got = json.loads((cut_dir / "result.json").read_text())
    ref_losses = dict((int(s), v) for s, v in ref["losses"])
    got_losses = dict((int(s), v) for s, v in got["losses"])
    assert min(got_losses) == killed_at + 1 and max(got_losses) == 16
    for step, value in got_losses.items():
        assert value == pytest.approx(ref_losses[step], abs=1e-6), step
    for name, value in ref["params"].items():
        np.testing.assert_allclose(np.array(got["params"][name]), np.array(value), atol=1e-6, err_msg=name)
