"""The command line under careless and hostile use (issue 15, sections 2, 3, 4 and 6).

Every error is one line ``bert-ms: error: ...`` and exit code 2, never a traceback; a used, shared or
damaged run folder is refused or repaired, never silently trained into; a head that was never trained
is refused. Each test reproduces a failure of the probe that filed the issue. One tiny pretraining run
(BERT-tiny, 3 steps) is shared by the tests that need a real run folder; they work on copies of it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import one_line_error, run_cli

from bert_ms import cli, device
from bert_ms.bert import pretraining
from bert_ms.bert.pretraining import cached_pretraining_arrays
from bert_ms.data import ChecksumError
from bert_ms.runtime.device import DeviceError
from bert_ms.train import run_folder
from bert_ms.train.checkpoint import CheckpointError
from bert_ms.train.run_folder import RunFolderError, RunLock

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def restore_device():
    yield
    device.setup("CPU", mode="pynative", precision="fp32", verbose=False)


@pytest.fixture(scope="module")
def other_corpus(tmp_path_factory) -> Path:
    from bert_ms.data import load_sotu

    path = tmp_path_factory.mktemp("corpus2") / "corpus.txt"
    path.write_text("\n\n".join("\n".join(d[:40]) for d in load_sotu("test")[:6]) + "\n", encoding="utf-8")
    return path


def pretrain_args(corpus: Path, out: Path) -> list[str]:
    return ["pretrain", "--config", "tiny", "--corpus", corpus, "--vocab", "train", "--vocab-size", "300",
            "--out", out, "--steps", "3", "--batch-size", "8", "--seq-len", "32", "--save-every", "1",
            "--log-every", "1", "--no-progress", "--device", "CPU"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, corpus):
    """(run folder, its arguments, final metrics) of one finished tiny pretraining run."""
    out = tmp_path_factory.mktemp("run") / "pre"
    args = pretrain_args(corpus, out)
    code, stdout, err = run_cli(*args)
    assert code == 0, err
    device.setup("CPU", mode="pynative", precision="fp32", verbose=False)
    return out, args, json.loads(stdout.strip().splitlines()[-1])


def copy_run(run, tmp_path: Path) -> tuple[Path, list[str]]:
    out, args, _ = run
    new = tmp_path / "copy"
    shutil.copytree(out, new)
    (new / ".lock").unlink(missing_ok=True)
    return new, [str(new) if a == out else a for a in args]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, run) -> Path:
    """A tiny spam classifier folder (random weights, but a stored classifier head and ham/spam labels)."""
    import mindspore as ms

    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.model import BertForSequenceClassification
    from bert_ms.bert.weights import save_pretrained

    vocab = run[0] / "model" / "vocab.txt"
    n = sum(1 for _ in vocab.open(encoding="utf-8"))
    ms.set_seed(0)
    model = BertForSequenceClassification(BertConfig.preset("tiny", vocab_size=n, max_position_embeddings=128),
                                          num_labels=2)
    return save_pretrained(model, tmp_path_factory.mktemp("cls") / "model", vocab_file=vocab,
                           label_names=["ham", "spam"])


# ----------------------------------------------------------------------------------------------
# section 6: arguments, and the errors main() turns into one line
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, option", [
    (["pretrain", "--out", "OUT", "--batch-size", "0"], "--batch-size"),
    (["pretrain", "--out", "OUT", "--batch-size", "-4"], "--batch-size"),
    (["pretrain", "--out", "OUT", "--log-every", "0"], "--log-every"),
    (["pretrain", "--out", "OUT", "--steps", "0"], "--steps"),
    (["pretrain", "--out", "OUT", "--lr", "0"], "--lr"),
    (["pretrain", "--out", "OUT", "--lr", "-1e-4"], "--lr"),
    (["pretrain", "--out", "OUT", "--lr", "nan"], "--lr"),
    (["pretrain", "--out", "OUT", "--max-predictions", "0"], "--max-predictions"),
    (["pretrain", "--out", "OUT", "--save-every", "0"], "--save-every"),
    (["pretrain", "--out", "OUT", "--seq-len", "32", "--max-predictions", "30"], "--max-predictions"),
    (["finetune", "--init", "random", "--out", "OUT", "--batch-size", "0"], "--batch-size"),
    (["finetune", "--init", "random", "--out", "OUT", "--steps", "-1"], "--steps"),
    (["evaluate", "--model", "MODEL", "--batch-size", "0"], "--batch-size"),
    (["predict", "--model", "MODEL", "--top-k", "0", "hello"], "--top-k"),
    (["predict", "--model", "MODEL", "--top-k", "-2", "hello"], "--top-k"),
])
def test_bad_numbers_are_one_line_errors(tmp_path, argv, option):
    argv = [str(tmp_path / "out") if a == "OUT" else str(tmp_path / "m") if a == "MODEL" else a for a in argv]
    one_line_error(run_cli(*argv, "--device", "CPU"), option)
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.parametrize("error", [
    CheckpointError("checkpoint runs/x/checkpoints/step-00000004.json was made with other settings "
                    "(checkpoint vs now): {'lr': (0.0003, 0.001)}"),
    ChecksumError("checksum mismatch for data/spam/test.jsonl.gz: expected sha256 ab, got cd"),
    OSError(errno.ENOSPC, "No space left on device", "runs/x/model/model.safetensors"),
    PermissionError(errno.EACCES, "Permission denied", "/read-only/out/.lock"),
    DeviceError("device target 'GPU' is not available here. GPU: no NVIDIA driver found"),
    ValueError("a message\nover several\nlines"),
    ValueError("x" * 60_000),
])
def test_main_prints_project_errors_as_one_line(monkeypatch, error):
    def failing(args):
        raise error

    monkeypatch.setattr(cli, "run_info", failing)
    line = one_line_error(run_cli("info"))
    assert len(line) <= len("bert-ms: error: ") + cli.MESSAGE_LIMIT
    if isinstance(error, OSError):
        assert error.strerror in line and error.filename in line
    monkeypatch.setenv("BERT_MS_DEBUG", "1")  # the traceback on demand
    with pytest.raises(type(error)):
        cli.main(["info"])


def test_debug_variable_shows_the_traceback(tmp_path):
    argv = [sys.executable, "-m", "bert_ms", "evaluate", "--model", str(tmp_path / "none"), "--device", "CPU"]
    env = {k: v for k, v in os.environ.items() if k != "BERT_MS_DEBUG"}
    plain = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env)
    assert plain.returncode == 2 and plain.stderr.strip().count("\n") == 0 and "no model at" in plain.stderr
    debug = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env={**env, "BERT_MS_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "FileNotFoundError" in debug.stderr


def test_unwritable_out_is_one_line(tmp_path, corpus, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    one_line_error(run_cli(*pretrain_args(corpus, blocker / "run")), str(blocker))

    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(run_folder, "atomic_write_bytes", disk_full)  # run.json, the first file a run writes
    one_line_error(run_cli(*pretrain_args(corpus, tmp_path / "full")), "No space left on device", "run.json")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_is_one_line(tmp_path, corpus):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        one_line_error(run_cli(*pretrain_args(corpus, ro)), "Permission denied")
    finally:
        ro.chmod(0o755)


# ----------------------------------------------------------------------------------------------
# section 2: one writer per run folder, one set of settings, a data cache keyed by what it holds
# ----------------------------------------------------------------------------------------------


def test_a_second_writer_is_refused_naming_the_other_process(tmp_path, corpus):
    out = tmp_path / "shared"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from bert_ms.train.run_folder import RunLock; "
                               "lock = RunLock(sys.argv[1], 'bert-ms pretrain --out shared').__enter__(); "
                               "print('locked', flush=True); time.sleep(120)", str(out)],
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        line = one_line_error(run_cli(*pretrain_args(corpus, out)), f"pid {holder.pid}", "in use")
        assert "bert-ms pretrain --out shared" in line
        assert not (out / "run.json").exists() and not (out / "vocab.txt").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder is dead: its lock file is taken over (flock died with it)
    with RunLock(out, "test") as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    with RunLock(out, "test"), pytest.raises(RunFolderError, match=f"pid {os.getpid()}"):
        RunLock(out, "another").__enter__()


def test_rerun_into_a_used_folder_with_other_settings_is_refused(run, tmp_path, other_corpus):
    out, args = copy_run(run, tmp_path)
    before = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}
    one_line_error(run_cli(*args[:-2], "--lr", "1e-3", "--device", "CPU"), "--resume", "new --out", "lr")
    i = args.index("--corpus") + 1
    one_line_error(run_cli(*args[:i], other_corpus, *args[i + 1:]), "corpus_sha256", "--resume")
    # --resume needs the run's own settings (the probe's changed --lr)
    one_line_error(run_cli(*args, "--resume", "--lr", "1e-3"), "--resume", "lr")
    assert {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()} == before  # nothing touched


def test_resume_of_a_folder_without_run_record_and_changed_lr_is_one_line(run, tmp_path):
    """An older run folder (no run.json): the Trainer's own CheckpointError is one line too."""
    out, args = copy_run(run, tmp_path)
    (out / "run.json").unlink()
    one_line_error(run_cli(*args, "--resume", "--lr", "1e-3"), "other settings")
    assert not (out / "run.json").exists()  # not recorded with settings that never ran


def test_data_cache_is_keyed_by_corpus_vocab_and_masking(tmp_path, capsys, monkeypatch):
    from bert_ms.bert.tokenization import BertTokenizer
    from bert_ms.data import load_sotu

    tok = BertTokenizer.bert_base_uncased()
    docs_a, docs_b = load_sotu("dev")[:3], load_sotu("test")[:3]
    key = {"corpus_sha256": "a", "vocab_sha256": "v"}
    a = cached_pretraining_arrays(docs_a, tok, 32, 5, 0, 1, tmp_path, key)
    (npz_a,) = tmp_path.glob("train-*.npz")
    b = cached_pretraining_arrays(docs_b, tok, 32, 5, 0, 1, tmp_path, {**key, "corpus_sha256": "b"})
    c = cached_pretraining_arrays(docs_a, tok, 32, 5, 0, 1, tmp_path, {**key, "vocab_sha256": "w"})
    d = cached_pretraining_arrays(docs_a, tok, 32, 5, 1, 1, tmp_path, key)  # another masking seed
    assert len(list(tmp_path.glob("train-*.npz"))) == 4  # the same sizes, four caches
    assert not np.array_equal(a["input_ids"][:10], b["input_ids"][:10])
    assert not np.array_equal(a["masked_lm_positions"], d["masked_lm_positions"])
    assert all(np.array_equal(a[k], c[k]) for k in a)

    def never(*args, **kw):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(pretraining, "make_pretraining_arrays", never)
    again = cached_pretraining_arrays(docs_a, tok, 32, 5, 0, 1, tmp_path, key)
    assert all(np.array_equal(a[k], again[k]) for k in a)
    monkeypatch.undo()
    # a damaged cache (a crash of an older version, a bad disk) is detected and rebuilt
    npz_a.write_bytes(npz_a.read_bytes()[:100])
    capsys.readouterr()
    rebuilt = cached_pretraining_arrays(docs_a, tok, 32, 5, 0, 1, tmp_path, key)
    assert "damaged" in capsys.readouterr().err and all(np.array_equal(a[k], rebuilt[k]) for k in a)


# ----------------------------------------------------------------------------------------------
# section 3: --resume never silently restarts; data and vocabulary verified on resume
# ----------------------------------------------------------------------------------------------


def test_resume_without_a_valid_checkpoint_is_an_error(run, tmp_path, corpus):
    one_line_error(run_cli(*pretrain_args(corpus, tmp_path / "fresh"), "--resume"), "--resume", "no checkpoint")
    out, args = copy_run(run, tmp_path)
    for f in (out / "checkpoints").iterdir():
        if f.suffix != ".json":
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # every checkpoint truncated
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    one_line_error(run_cli(*args, "--resume"), "--resume", "usable")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == names  # nothing pruned or replaced


def test_resume_rebuilds_a_damaged_data_cache_and_refuses_a_damaged_vocab(run, tmp_path):
    out, args = copy_run(run, tmp_path)
    (npz,) = (out / "data").glob("train-*.npz")
    npz.write_bytes(npz.read_bytes()[:1000])  # the probe's truncated array file
    code, stdout, err = run_cli(*args, "--resume")
    assert code == 0, err
    assert "damaged" in err and json.loads(stdout.strip().splitlines()[-1]) == run[2]  # the same result
    with open(out / "vocab.txt", "a", encoding="utf-8") as f:
        f.write("extra\n")
    one_line_error(run_cli(*args, "--resume"), "vocab.txt", "not the vocabulary")


def test_rerun_with_the_same_settings_is_allowed(run, tmp_path):
    out, args = copy_run(run, tmp_path)
    code, stdout, err = run_cli(*args)
    assert code == 0, err
    assert json.loads(stdout.strip().splitlines()[-1]) == run[2]


# ----------------------------------------------------------------------------------------------
# sections 4 and 6: models and inputs
# ----------------------------------------------------------------------------------------------


def test_a_head_that_was_never_trained_is_refused(run, classifier):
    model = run[0] / "model"  # a pretraining model: no classifier weights
    one_line_error(run_cli("predict", "--model", model, "--task", "spam", "Win a FREE cruise", "--device", "CPU"),
                   "not fine-tuned", "bert-ms finetune")
    one_line_error(run_cli("evaluate", "--model", model, "--task", "spam", "--device", "CPU"), "not fine-tuned")
    one_line_error(run_cli("predict", "--model", classifier, "--task", "fill-mask", "a [MASK] b", "--device", "CPU"),
                   "masked-LM head")
    one_line_error(run_cli("predict", "--model", classifier, "--task", "sentiment", "good", "--device", "CPU"),
                   "ham, spam")


def test_sequence_longer_than_the_positions_is_refused_before_compiling(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = run[0] / "model"
    one_line_error(run_cli("evaluate", "--model", model, "--task", "pretraining", "--seq-len", "1000",
                           "--device", "CPU"), "--seq-len 1000", "max_position_embeddings=128")
    one_line_error(run_cli("predict", "--model", model, "--task", "fill-mask", "--seq-len", "1000", "a [MASK]",
                           "--device", "CPU"), "max_position_embeddings")
    assert not (tmp_path / "rank_0").exists()  # no compiler dump in the working folder


def test_fill_mask_past_the_window_says_so_without_printing_the_input(run):
    text = "the union " * 6000 + "is [MASK] ."  # ~60 KB, the [MASK] far past 32 tokens
    line = one_line_error(run_cli("predict", "--model", run[0] / "model", "--task", "fill-mask", "--seq-len", "32",
                                  text, "--device", "CPU"), "past the window", "--seq-len")
    assert len(line) < 400
    code, stdout, err = run_cli("predict", "--model", run[0] / "model", "--task", "fill-mask", "--seq-len", "32",
                                "the [MASK] of the union", "--top-k", "3", "--device", "CPU")
    assert code == 0, err
    assert len(stdout.strip().splitlines()[-1].split("\t")[-1].split("  ")) == 3


def test_files_with_bad_utf8_are_named(run, tmp_path):
    bad = tmp_path / "inputs.txt"
    bad.write_bytes(b"fine line\ncaf\xe9 latin-1\n")
    one_line_error(run_cli("predict", "--model", run[0] / "model", "--task", "fill-mask", "--file", bad,
                           "--device", "CPU"), str(bad), "UTF-8", "line 2")
    model = tmp_path / "model"
    shutil.copytree(run[0] / "model", model)
    (model / "vocab.txt").write_bytes((run[0] / "model" / "vocab.txt").read_bytes() + b"\xff\xfe\n")
    one_line_error(run_cli("predict", "--model", model, "--task", "fill-mask", "a [MASK]", "--device", "CPU"),
                   str(model / "vocab.txt"), "UTF-8")
    one_line_error(run_cli(*pretrain_args(bad, tmp_path / "out")), str(bad), "UTF-8")  # a corpus file too


def test_corrupt_shipped_data_is_one_line(classifier, tmp_path, monkeypatch):
    shutil.copytree(REPO / "data", tmp_path / "data")
    target = tmp_path / "data" / "spam" / "test.jsonl.gz"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    target.write_bytes(bytes(raw))
    monkeypatch.setenv("BERT_MS_DATA", str(tmp_path / "data"))
    one_line_error(run_cli("evaluate", "--model", classifier, "--task", "spam", "--seq-len", "32",
                           "--device", "CPU"), "checksum mismatch", str(target))
    (tmp_path / "data" / "MANIFEST.json").write_bytes(b'{"files": {"spam/test.jsonl.gz": ')  # cut short
    one_line_error(run_cli("evaluate", "--model", classifier, "--task", "spam", "--seq-len", "32",
                           "--device", "CPU"), "MANIFEST.json")
