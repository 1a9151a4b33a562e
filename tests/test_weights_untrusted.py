"""Untrusted weight files (issue 15, library side): a hand-written torch.save zip read back, views outside
their storage, zip bombs and size caps refused; NaN/inf weights named, unused or unknown tensors handled."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from bert_ms.bert import weights
from bert_ms.bert.config import BertConfig
from bert_ms.bert.model import BertForPreTraining, BertModel, load_pretrained
from bert_ms.bert.weights import WeightsError, read_state_dict, save_pretrained

CFG = BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16,
                 max_position_embeddings=16)
IDS = ms.Tensor(np.arange(1, 15, dtype=np.int32).reshape(2, 7))
ROOT = Path(__file__).resolve().parents[1]



# --- a torch.save zip, written by hand
def _op(obj) -> bytes:
    """The opcodes that push one int/str/bool/None/tuple of those (protocol 2, without PROTO and STOP)."""
    return pickle.dumps(obj, protocol=2)[2:-1]


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def torch_pickle(tensors: list[tuple[str, str, int, int, tuple, tuple]], storage_type: str = "FloatStorage") -> bytes:
    """data.pkl as ``torch.save(state_dict)`` writes it (protocol 2, torch's global names).

    ``tensors``: (name, storage key, storage numel, offset, size, stride) per tensor. Each tensor is
    ``torch._utils._rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict())`` and the
    storage is the persistent id ``("storage", torch.FloatStorage, key, "cpu", numel)``."""
    out = [b"\x80\x02", _global("collections", "OrderedDict"), b")R", b"("]
    for name, key, numel, offset, size, stride in tensors:
        out += [_op(name), _global("torch._utils", "_rebuild_tensor_v2"), b"(",
                b"(", _op("storage"), _global("torch", storage_type), _op(key), _op("cpu"), _op(numel), b"tQ",
                _op(offset), _op(tuple(size)), _op(tuple(stride)), b"\x89",
                _global("collections", "OrderedDict"), b")R", b"tR"]
    out += [b"u."]
    return b"".join(out)


def write_bin(path: Path, tensors, storages: dict[str, bytes], compress: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", torch_pickle(tensors))
        zf.writestr("archive/byteorder", "little")
        for key, raw in storages.items():
            zf.writestr(f"archive/data/{key}", raw)
    return path


def f32(*values) -> bytes:
    return np.asarray(values, np.float32).tobytes()


def test_handwritten_torch_zip_reads_back(tmp_path):
    """The writer above is what torch writes: a plain file and a transposed view read correctly."""
    data = np.arange(6, dtype=np.float32)
    path = write_bin(tmp_path / "ok.bin", [("a", "0", 6, 0, (2, 3), (3, 1)), ("a_t", "0", 6, 0, (3, 2), (1, 3)),
                                           ("tail", "0", 6, 4, (2,), (1,))], {"0": data.tobytes()})
    state = read_state_dict(path)
    np.testing.assert_array_equal(state["a"], data.reshape(2, 3))
    np.testing.assert_array_equal(state["a_t"], data.reshape(2, 3).T)
    np.testing.assert_array_equal(state["tail"], [4, 5])


@pytest.mark.parametrize("offset, size, stride, words", [
    (0, (1000,), (1,), "reaches element 999 of a storage of 4"),  # leaked process memory before the fix
    (3, (2,), (1,), "reaches element 4"),                        # the offset pushes the view past the end
    (0, (2, 3), (3, 1), "reaches element 5"),                    # a 2-D view one row too tall
    (0, (2,), (-1,), "non-negative"),                            # a negative stride reads before the start
    (-1, (1,), (1,), "non-negative"),
    (0, (2 ** 63, 2), (1, 1), "non-negative integers"),          # overflows int64 inside numpy
    (0, (1 << 40,), (1,), "over the limit"),                     # a SIGSEGV before the fix
    (0, (1 << 20, 1 << 20), (0, 0), "over the limit"),           # stride 0: 4 TB from 16 bytes
])
def test_tensor_views_outside_their_storage_are_refused(tmp_path, offset, size, stride, words):
    path = write_bin(tmp_path / "evil.bin", [("w", "0", 4, offset, size, stride)], {"0": f32(1, 2, 3, 4)})
    with pytest.raises(WeightsError, match=words):
        read_state_dict(path)


def test_zip_bomb_is_refused_before_decompressing(tmp_path):
    """10 MB of zeros deflate to ~10 kB; the pickle says the storage holds 4 floats."""
    path = write_bin(tmp_path / "bomb.bin", [("w", "0", 4, 0, (4,), (1,))], {"0": bytes(10 << 20)}, compress=True)
    assert path.stat().st_size < 100_000
    with pytest.raises(WeightsError, match=r"declares 10,485,760 bytes but its 4 element\(s\) need 16"):
        read_state_dict(path)
    # a storage that claims a trillion elements is refused by its zip header, not by running out of memory
    path = write_bin(tmp_path / "claim.bin", [("w", "0", 10 ** 12, 0, (1,), (1,))], {"0": f32(1)})
    with pytest.raises(WeightsError, match="declares 4 bytes"):
        read_state_dict(path)


def test_total_size_is_capped(tmp_path, monkeypatch):
    path = write_bin(tmp_path / "big.bin", [("a", "0", 256, 0, (256,), (1,)), ("b", "1", 256, 0, (256,), (1,))],
                     {"0": bytes(1024), "1": bytes(1024)})
    assert read_state_dict(path)["b"].shape == (256,)
    monkeypatch.setattr(weights, "MAX_TORCH_BIN_BYTES", 3000)  # 2 storages + 2 tensors = 4096 bytes
    with pytest.raises(WeightsError, match="over the limit of 3,000"):
        read_state_dict(path)
    # one storage viewed 1000 times: each view is a copy, so the views count too
    many = [(f"t{i}", "0", 256, 0, (256,), (1,)) for i in range(1000)]
    monkeypatch.setattr(weights, "MAX_TORCH_BIN_BYTES", 100_000)
    with pytest.raises(WeightsError, match="over the limit"):
        read_state_dict(write_bin(tmp_path / "views.bin", many, {"0": bytes(1024)}))


def test_malformed_storage_references(tmp_path):
    path = write_bin(tmp_path / "missing.bin", [("w", "7", 4, 0, (4,), (1,))], {"0": f32(1, 2, 3, 4)})
    with pytest.raises(WeightsError, match="storage archive/data/7 is missing"):
        read_state_dict(path)
    path = write_bin(tmp_path / "neg.bin", [("w", "0", -4, 0, (1,), (1,))], {"0": f32(1, 2, 3, 4)})
    with pytest.raises(WeightsError, match="malformed"):
        read_state_dict(path)


# ------------------------------------------------------------------- NaN / Inf, unused tensors
@pytest.fixture
def pretraining_dir(tmp_path):
    model = BertForPreTraining(CFG)
    save_pretrained(model, tmp_path / "m")
    return tmp_path / "m", model


def test_nan_and_inf_weights_are_named_in_a_warning(pretraining_dir):
    path, _ = pretraining_dir
    tensors = load_file(str(path / "model.safetensors"))
    tensors["bert.encoder.layer.1.output.dense.weight"][0, :3] = np.nan
    tensors["bert.embeddings.LayerNorm.bias"][2] = np.inf
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.warns(UserWarning, match="NaN or Inf") as record:
        load_pretrained(path, head="pretraining")
    msg = next(str(w.message) for w in record if "NaN or Inf" in str(w.message))
    assert "2 tensor(s)" in msg and "encoder.layers.1.ffn.output.weight (3 values)" in msg
    assert "embeddings.norm.bias (1 values)" in msg


def test_fewer_layers_than_the_weights_is_an_error(pretraining_dir):
    path, model = pretraining_dir
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": 1}))
    with pytest.raises(WeightsError, match=r"16 encoder tensor\(s\) the model does not use.*encoder\.layers\.1\."
                                           r".*allow_unused=True"):
        load_pretrained(path, head="pretraining")
    with pytest.warns(UserWarning, match=r"not used by this model and were dropped: bert\.encoder\.layers\.1\."):
        short = load_pretrained(path, head="pretraining", allow_unused=True)  # on purpose: the first layer only
    assert short.config.num_hidden_layers == 1
    np.testing.assert_array_equal(short.bert.encoder.layers[0].ffn.output.weight.asnumpy(),
                                  model.bert.encoder.layers[0].ffn.output.weight.asnumpy())


def test_unknown_encoder_tensor_is_an_error(pretraining_dir):
    path, _ = pretraining_dir
    tensors = load_file(str(path / "model.safetensors"))
    tensors["bert.encoder.layer.0.attention.self.distance_embedding.weight"] = np.zeros((3, 8), np.float32)
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(WeightsError, match="unknown kind.*distance_embedding"):
        load_pretrained(path, head="pretraining")
    load_pretrained(path, head="pretraining", allow_unused=True)


def test_unused_head_tensors_only_warn(pretraining_dir):
    """The normal Hugging Face case: a pretraining checkpoint feeds BertModel or a classifier."""
    path, model = pretraining_dir
    with pytest.warns(UserWarning, match=r"not used by this model and were dropped: .*mlm\..*nsp\.weight"):
        enc = load_pretrained(path)
    assert isinstance(enc, BertModel)
    np.testing.assert_array_equal(enc(IDS).sequence_output.asnumpy(), model.bert(IDS).sequence_output.asnumpy())


@pytest.mark.parametrize("arch, ok", [("RobertaModel", False), ("BertForMaskedLM", True), (["RobertaModel"], False),
                                      (7, False)])
def test_architectures_as_a_plain_string(pretraining_dir, arch, ok):
    path, _ = pretraining_dir
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**cfg, "architectures": arch}))
    if ok:
        load_pretrained(path, head="pretraining")
    else:
        with pytest.raises(WeightsError, match="RobertaModel" if arch != 7 else "must be a list"):
            load_pretrained(path, head="pretraining")
