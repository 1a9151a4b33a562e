"""Loading and saving weights (权重读写): Hugging Face BERT directories.

A Hugging Face BERT directory holds ``config.json``, ``model.safetensors`` (or the older
``pytorch_model.bin``) and ``vocab.txt``. Tensor names are mapped to this package's names
(e.g. ``encoder.layer.3.attention.output.LayerNorm.weight`` -> ``encoder.layers.3.attention_norm.norm.weight``;
TF-era ``gamma``/``beta`` are read as ``weight``/``bias``). Loading is all-or-nothing: every name
and shape is checked before the first Parameter is changed. This package writes safetensors only
(:func:`save_pretrained`; the Trainer's checkpoints are :mod:`bert_ms.train.checkpoint`'s).

Why a ``pytorch_model.bin`` reader at all: it is the learner's path of ``load_pretrained(folder)`` and
``bert-ms finetune --init folder`` for a BERT folder that holds no ``model.safetensors`` -- a model
saved with ``save_pretrained(..., safe_serialization=False)`` by transformers or by mindnlp (the
course's own library; ``tests/test_parity_mindnlp.py`` reads such a file), and downloads made before
safetensors existed. No model shipped with this project needs it.

Files from the internet are untrusted (不可信文件). ``pytorch_model.bin`` is read without PyTorch and
without running its pickle: only tensors and an ordered dict are rebuilt, every tensor view is
checked to lie inside its storage, each zip entry may hold exactly the bytes its tensors need, and
everything read together is capped at :data:`MAX_TORCH_BIN_BYTES`. See ``docs/reliability.md``.
"""

from __future__ import annotations

import collections
import os
import pickle
import re
import shutil
import warnings
import zipfile
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn
from safetensors import safe_open
from safetensors.numpy import save_file

from bert_ms.runtime.files import read_json_object

# Hugging Face module name -> this package's module name (per-layer names below).
_TOP = {
    "embeddings.word_embeddings": "embeddings.word_embeddings",
    "embeddings.position_embeddings": "embeddings.position_embeddings.table",
    "embeddings.token_type_embeddings": "embeddings.token_type_embeddings",
    "embeddings.LayerNorm": "embeddings.norm",
    "pooler.dense": "pooler.dense",
    "cls.predictions.transform.dense": "mlm.transform.dense",
    "cls.predictions.transform.LayerNorm": "mlm.transform.norm",
    "cls.predictions": "mlm",  # only for cls.predictions.bias
    "cls.seq_relationship": "nsp",
    "classifier": "classifier",
    "qa_outputs": "qa_outputs",
}
_LAYER = {
    "attention.self.query": "attention.query",
    "attention.self.key": "attention.key",
    "attention.self.value": "attention.value",
    "attention.output.dense": "attention.output",
    "attention.output.LayerNorm": "attention_norm.norm",
    "intermediate.dense": "ffn.intermediate",
    "output.dense": "ffn.output",
    "output.LayerNorm": "ffn_norm.norm",
}
_TOP_INV = {v: k for k, v in _TOP.items()}
_LAYER_INV = {v: k for k, v in _LAYER.items()}
_LEAF = {"gamma": "weight", "beta": "bias", "weight": "weight", "bias": "bias"}
# Present in HF files but not separate parameters here (tied to other tensors, or buffers).
_IGNORED = re.compile(r"^(bert\.)?(embeddings\.position_ids|cls\.predictions\.decoder\.(weight|bias))$")
_ENCODER_PARTS = ("embeddings.", "encoder.")

# The most bytes a pytorch_model.bin may make this process hold: the storages read plus the tensors
# rebuilt from them, summed (BERT-large in float32 needs 2 x 1.34 GB). A file that claims more is
# refused before anything is decompressed. Raise it (``weights.MAX_TORCH_BIN_BYTES = ...``) for a
# bigger model that you trust.
MAX_TORCH_BIN_BYTES = 8 << 30
# data.pkl of a BERT state dict is a few tens of kB; a bigger one is refused unread.
MAX_TORCH_PICKLE_BYTES = 64 << 20


class WeightsError(ValueError):
    """A checkpoint that does not fit the model; the message names the tensor(s)."""


def hf_to_local(name: str) -> str | None:
    """``[bert.]encoder.layer.0.attention.self.query.weight`` -> ``encoder.layers.0.attention.query.weight``
    (keeps a ``bert.`` prefix); None for names this package does not know."""
    prefix = "bert." if name.startswith("bert.") else ""
    body = name[len(prefix):]
    if "." not in body:
        return None
    module, leaf = body.rsplit(".", 1)
    if leaf not in _LEAF:
        return None
    m = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)", module)
    if m and m.group(2) in _LAYER:
        local = f"encoder.layers.{m.group(1)}.{_LAYER[m.group(2)]}"
    elif module in _TOP and (module != "cls.predictions" or leaf == "bias"):
        local = _TOP[module]
    else:
        return None
    return f"{prefix}{local}.{_LEAF[leaf]}"


def local_to_hf(name: str) -> str:
    """Inverse of :func:`hf_to_local`."""
    prefix = "bert." if name.startswith("bert.") else ""
    module, leaf = name[len(prefix):].rsplit(".", 1)
    m = re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", module)
    if m:
        return f"{prefix}encoder.layer.{m.group(1)}.{_LAYER_INV[m.group(2)]}.{leaf}"
    if module not in _TOP_INV:
        raise KeyError(f"parameter {name!r} has no Hugging Face name")
    return f"{prefix}{_TOP_INV[module]}.{leaf}"


def _params(model: nn.Cell) -> dict[str, ms.Parameter]:
    """name -> Parameter, each shared Parameter once (under its first name)."""
    out, seen = {}, set()
    for name, p in model.parameters_and_names():
        if id(p) not in seen:
            seen.add(id(p))
            out[name] = p
    return out


def _corrupt(path: Path, err: Exception) -> WeightsError:
    return WeightsError(f"cannot read {path}: the file is corrupt or truncated ({err})")


def safetensors_names(path: str | Path) -> set[str]:
    """The tensor names of a ``.safetensors`` file, read from its header only; a corrupt file (empty, a
    header too large or cut short, bad JSON, offsets out of range) is the same one-line :class:`WeightsError`
    as for loading it."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            return set(f.keys())
    except Exception as err:  # safetensors raises its own error types for bad headers/truncation
        raise _corrupt(path, err) from None


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    tensors = {}
    try:
        with safe_open(str(path), framework="numpy") as f:
            for key in f.keys():
                tensors[key] = f.get_tensor(key)
    except Exception as err:  # safetensors raises its own error types for bad headers/truncation
        raise _corrupt(path, err) from None
    return tensors


_TORCH_DTYPES = {"FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64,
                 "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
                 "ShortStorage": np.int16, "ByteStorage": np.uint8, "CharStorage": np.int8, "BoolStorage": np.bool_}


def _itemsize(dtype) -> int:
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def _read_torch_bin(path: Path, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Read a PyTorch ``torch.save`` zip file (``pytorch_model.bin``) *without* PyTorch.

    The file is a zip holding ``data.pkl`` (a pickle of the state dict) and one raw little-endian
    buffer per storage. A restricted unpickler rebuilds each tensor as a numpy array and refuses
    every other Python object, so a malicious pickle cannot run code. Files written by mindnlp's
    torch shim (``mindtorch``) are read too. The legacy (pre-1.6, non-zip) format is refused.

    Hostile files are refused with a :class:`WeightsError` before they can read memory they do not
    own or make the process allocate without bound:

    * a tensor is ``storage[offset + sum(i_k * stride_k)]``; sizes, strides and the offset must be
      non-negative integers with ``offset + sum((size_k - 1) * stride_k) < numel(storage)``
      (``as_strided`` itself checks nothing);
    * a storage's zip entry must declare (in its header, read before decompressing) exactly the
      ``numel * itemsize`` bytes the pickle says it holds, and decompression stops there;
    * storages read plus tensors rebuilt may not exceed ``max_bytes`` (default
      :data:`MAX_TORCH_BIN_BYTES`), and ``data.pkl`` not :data:`MAX_TORCH_PICKLE_BYTES`.
    """
    budget = MAX_TORCH_BIN_BYTES if max_bytes is None else max_bytes
    used = 0

    def spend(n: int, what: str) -> None:
        nonlocal used
        used += n
        if used > budget:
            raise WeightsError(f"{path}: {what} would bring the bytes read to {used:,}, over the limit of "
                               f"{budget:,} (bert_ms.bert.weights.MAX_TORCH_BIN_BYTES); refusing the file")

    def storage_dtype(kind):
        name = kind if isinstance(kind, str) else getattr(kind, "storage_name", "")
        if name not in _TORCH_DTYPES:
            raise WeightsError(f"{path}: unsupported storage type {name!r}")
        return _TORCH_DTYPES[name]

    class _StorageType:
        def __init__(self, name: str):
            self.storage_name = name

    def _is_index(x) -> bool:
        return isinstance(x, int | np.integer) and not isinstance(x, bool) and 0 <= x < 1 << 62

    def rebuild_tensor(storage, offset, size, stride, *_):
        if not isinstance(storage, np.ndarray) or storage.ndim != 1:
            raise WeightsError(f"{path}: a tensor is not built on a storage")
        size, stride = tuple(size), tuple(stride)
        if not (_is_index(offset) and len(size) == len(stride) and all(map(_is_index, size + stride))):
            raise WeightsError(f"{path}: a tensor has an invalid view (offset {offset!r}, size {size!r}, "
                               f"stride {stride!r}): sizes, strides and offset must be non-negative integers")
        numel = 1
        for n in size:
            numel *= int(n)
        spend(numel * storage.itemsize, f"a tensor of shape {size}")
        if numel:
            last = int(offset) + sum((int(n) - 1) * int(st) for n, st in zip(size, stride))
            if last >= storage.size:
                raise WeightsError(f"{path}: a tensor of shape {size} (offset {offset}, stride {stride}) reaches "
                                   f"element {last} of a storage of {storage.size}; refusing to read past it")
        view = np.lib.stride_tricks.as_strided(storage[int(offset):], tuple(int(n) for n in size),
                                               tuple(int(st) * storage.itemsize for st in stride), writeable=False)
        return view.copy()

    allowed = {
        ("_utils", "_rebuild_tensor_v2"): rebuild_tensor,
        ("_utils", "_rebuild_parameter"): lambda data, *_: data,
        ("_tensor", "_rebuild_from_type_v2"): lambda func, _type, args, _state: func(*args),
        ("nn.parameter", "Parameter"): lambda data, *_: data,
    }

    try:
        archive = zipfile.ZipFile(path)
        pkl = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
    except (zipfile.BadZipFile, OSError) as err:
        raise WeightsError(f"cannot read {path}: not a PyTorch zip checkpoint (corrupt, truncated or the legacy "
                           f"pre-1.6 format; convert it to model.safetensors) ({err})") from None
    if pkl is None:
        raise WeightsError(f"cannot read {path}: no data.pkl inside (not a torch.save file)")
    if archive.getinfo(pkl).file_size > MAX_TORCH_PICKLE_BYTES:
        raise WeightsError(f"{path}: data.pkl declares {archive.getinfo(pkl).file_size:,} bytes, over the limit of "
                           f"{MAX_TORCH_PICKLE_BYTES:,} for a state dict's pickle; refusing the file")
    root = pkl[: -len("data.pkl")]
    storages: dict[str, np.ndarray] = {}

    def read_storage(kind, key, numel) -> np.ndarray:
        dtype = storage_dtype(kind)
        if not isinstance(key, str) or not _is_index(numel):
            raise WeightsError(f"{path}: a storage reference is malformed (key {key!r}, numel {numel!r})")
        name = f"{root}data/{key}"
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise WeightsError(f"cannot read {path}: storage {name} is missing (corrupt or truncated file)") from None
        need = int(numel) * _itemsize(dtype)
        if info.file_size != need:
            raise WeightsError(f"{path}: storage {name} declares {info.file_size:,} bytes but its {numel} "
                               f"element(s) need {need:,}; refusing to decompress it")
        spend(need, f"storage {name}")
        with archive.open(info) as f:
            raw = f.read(need)
        if len(raw) != need:
            raise WeightsError(f"cannot read {path}: storage {name} is truncated")
        if dtype == "bfloat16":  # numpy has no bfloat16: widen the 16 bits to float32
            spend(2 * need, f"storage {name} widened to float32")
            return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        return np.frombuffer(raw, np.dtype(dtype).newbyteorder("<"))

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            top, _, rest = module.partition(".")
            if top in ("torch", "mindtorch"):
                if (rest, name) in allowed:
                    return allowed[(rest, name)]
                if not rest and name in _TORCH_DTYPES:
                    return _StorageType(name)
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            raise WeightsError(f"{path}: refusing to unpickle {module}.{name} (only tensors are allowed)")

        def persistent_load(self, pid):
            if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage":
                raise WeightsError(f"{path}: unexpected persistent id in data.pkl (not a torch storage)")
            _tag, kind, key, _location, numel = pid
            if key not in storages:  # a storage shared by several tensors is read once
                storages[key] = read_storage(kind, key, numel)
            elif storages[key].size != numel:
                raise WeightsError(f"{path}: storage {key!r} is referenced with two different sizes")
            return storages[key]

    try:
        with archive.open(pkl) as f:
            state = _Unpickler(f).load()
    except WeightsError:
        raise
    except Exception as err:
        raise WeightsError(f"cannot read {path}: the file is corrupt or truncated ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise WeightsError(f"{path} does not hold a flat state dict of tensors")
    return dict(state)


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Tensors of a ``.safetensors`` or ``pytorch_model.bin`` file (or of the model file in a
    directory, safetensors preferred) as numpy arrays."""
    path = Path(path)
    if path.is_dir():
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {path}")
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    return _read_torch_bin(path) if path.suffix == ".bin" else _read_safetensors(path)


def _check_architecture(raw: dict, config_path: Path) -> None:
    archs = raw.get("architectures") or []
    if isinstance(archs, str):  # a single name written without the list brackets
        archs = [archs]
    if not isinstance(archs, list):
        raise WeightsError(f"{config_path}: \"architectures\" must be a list of class names, got {archs!r}")
    bad = [a for a in archs if not str(a).startswith("Bert")]
    if bad:
        raise WeightsError(f"{config_path}: architecture {bad[0]!r} is not a BERT model "
                           "(expected BertModel, BertForPreTraining, BertForMaskedLM, ...)")


def _is_core(name: str) -> bool:
    """An embedding or encoder tensor (local or Hugging Face name, with or without ``bert.``)."""
    return name.removeprefix("bert.").startswith(_ENCODER_PARTS)


def assign_state(model: nn.Cell, state: dict[str, np.ndarray], source: str,
                 allow_unused: bool = False) -> dict[str, list[str]]:
    """Copy ``state`` (local names) into ``model`` after validating everything.

    Raises :class:`WeightsError` on any shape mismatch, on missing encoder tensors and on unused
    encoder/embedding tensors (e.g. a config with fewer layers than the weights, which would silently
    drop layers) unless ``allow_unused=True``. Missing head tensors (pooler, MLM/NSP, classifiers) are
    kept freshly initialised and unused head tensors (the MLM/NSP heads of a pretraining checkpoint
    loaded into ``BertModel`` or a classifier) are dropped; both are named in a warning, as are
    tensors holding NaN or Inf. Returns {"missing": [...], "unused": [...]}.
    """
    params = _params(model)
    errors = [f"{name}: checkpoint shape {tuple(arr.shape)}, model expects {tuple(params[name].shape)}"
              for name, arr in state.items() if name in params and tuple(arr.shape) != tuple(params[name].shape)]
    if errors:
        raise WeightsError(f"{source} does not fit the model; {len(errors)} shape mismatch(es): " + "; ".join(errors))
    missing = [n for n in params if n not in state]
    core = [n for n in missing if _is_core(n)]
    if core:
        raise WeightsError(f"{source} lacks {len(core)} encoder tensor(s), e.g. {', '.join(core[:3])}")
    unused = [n for n in state if n not in params]
    core_unused = [n for n in unused if _is_core(n)]
    if core_unused and not allow_unused:
        raise WeightsError(f"{source} has {len(core_unused)} encoder tensor(s) the model does not use, e.g. "
                           f"{', '.join(core_unused[:3])} (does the config have fewer layers than the weights?); "
                           "pass allow_unused=True to drop them on purpose")
    for name, arr in state.items():
        if name in params and not np.issubdtype(arr.dtype, np.floating):
            raise WeightsError(f"{name}: checkpoint dtype {arr.dtype} is not a float type")
    bad = [f"{name} ({int(np.size(arr) - np.isfinite(arr).sum())} values)" for name, arr in state.items()
           if name in params and not np.isfinite(arr).all()]
    for name, arr in state.items():
        if name in params:
            params[name].set_data(Tensor(np.ascontiguousarray(arr, dtype=np.float32)))
    if bad:
        warnings.warn(f"{source}: {len(bad)} tensor(s) hold NaN or Inf: {', '.join(bad)}; the model's outputs "
                      "will be NaN", UserWarning, stacklevel=3)
    if missing:
        warnings.warn(f"{source}: {len(missing)} tensor(s) not in the checkpoint were freshly initialised "
                      f"(a new head to train): {', '.join(missing)}", UserWarning, stacklevel=3)
    if unused:
        warnings.warn(f"{source}: {len(unused)} tensor(s) of the checkpoint are not used by this model and were "
                      f"dropped: {', '.join(unused)}", UserWarning, stacklevel=3)
    return {"missing": missing, "unused": unused}


def read_config(path: str | Path) -> dict:
    """The ``config.json`` of a Hugging Face BERT directory as a dict (read once per model load), after
    checking that the folder exists and that the config describes a BERT."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"pretrained model directory not found: {path}")
    config_path = path / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{path} has no config.json")
    raw = read_json_object(config_path, "config.json", error=WeightsError)
    _check_architecture(raw, config_path)
    return raw


def stored_shapes(path: str | Path) -> dict[str, tuple[int, ...]] | None:
    """name -> shape of every tensor in a folder's ``model.safetensors``, from its header alone (no tensor is
    read); None where the folder holds a ``pytorch_model.bin`` instead (shapes need the whole file)."""
    path = Path(path)
    st = path / "model.safetensors" if path.is_dir() else path
    if st.suffix != ".safetensors" or not st.is_file():
        return None
    try:
        with safe_open(str(st), framework="numpy") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as err:  # noqa: BLE001 - safetensors' own error types
        raise _corrupt(st, err) from None


def check_config_against_file(config, path: str | Path) -> None:
    """Before a model is built: the sizes config.json states must be those of the stored tensors (a config
    that lies about ``vocab_size`` or ``hidden_size`` would otherwise allocate, then fail, or load wrongly)."""
    shapes = stored_shapes(path)
    if not shapes:
        return
    expect = {"embeddings.word_embeddings.weight": ((config.vocab_size, config.hidden_size), "vocab_size, hidden_size"),
              "embeddings.position_embeddings.weight": ((config.max_position_embeddings, config.hidden_size),
                                                        "max_position_embeddings, hidden_size"),
              "embeddings.token_type_embeddings.weight": ((config.type_vocab_size, config.hidden_size),
                                                          "type_vocab_size, hidden_size"),
              "encoder.layer.0.intermediate.dense.weight": ((config.intermediate_size, config.hidden_size),
                                                            "intermediate_size, hidden_size")}
    for suffix, (want, fields_) in expect.items():
        found = next(((n, s) for n, s in shapes.items() if n == suffix or n.endswith("." + suffix)), None)
        if found is not None and tuple(found[1]) != want:
            raise WeightsError(f"{path}: config.json gives ({fields_}) = {want} but the stored {found[0]} has shape "
                               f"{tuple(found[1])}; the config does not belong to these weights")
    layers = {int(m.group(1)) for n in shapes for m in [re.search(r"encoder\.layer\.(\d+)\.", n)] if m}
    if layers and config.num_hidden_layers > max(layers) + 1:
        raise WeightsError(f"{path}: config.json gives num_hidden_layers={config.num_hidden_layers} but the file "
                           f"stores {max(layers) + 1} layers")


def load_weights(model: nn.Cell, path: str | Path, allow_unused: bool = False) -> dict[str, list[str]]:
    """Fill ``model`` (built by :func:`bert_ms.bert.model.load_pretrained` or by hand) with the tensors of
    a Hugging Face checkpoint (a directory, ``.safetensors`` or ``pytorch_model.bin``).

    Names are mapped from Hugging Face's to this package's; encoder tensors go under ``bert.`` when the
    model is a head class. Embedding/encoder tensors that the model does not use (more layers in the file
    than in the config, or names this package does not know) are an error unless ``allow_unused=True``;
    unused head tensors are dropped with a warning. Returns {"missing": [...], "unused": [...]} (see
    :func:`assign_state`)."""
    raw = read_state_dict(path)
    prefix = "bert." if hasattr(model, "bert") else ""
    state, unknown = {}, []
    for key, arr in raw.items():
        if _IGNORED.match(key):
            continue
        local = hf_to_local(key)
        if local is None:
            unknown.append(key)
            continue
        body = local.removeprefix("bert.")
        local = prefix + body if body.startswith(("embeddings.", "encoder.", "pooler.")) else body
        state[local] = arr
    core_unknown = [k for k in unknown if _is_core(k)]
    if core_unknown and not allow_unused:
        raise WeightsError(f"{path}: {len(core_unknown)} encoder tensor(s) of an unknown kind, e.g. "
                           f"{', '.join(core_unknown[:3])} (not a plain BERT?); pass allow_unused=True to drop them")
    if unknown:
        warnings.warn(f"{path}: ignored {len(unknown)} unknown tensor(s): {', '.join(unknown[:5])}", UserWarning,
                      stacklevel=2)
    return assign_state(model, state, str(path), allow_unused=allow_unused)


def _hf_state(model: nn.Cell) -> dict[str, np.ndarray]:
    prefix = "bert." if hasattr(model, "bert") else ""
    out = {}
    for name, p in _params(model).items():
        body = name.removeprefix("bert.")
        hf = local_to_hf(body)
        if body.startswith(("embeddings.", "encoder.", "pooler.")):
            hf = prefix + hf
        out[hf] = p.asnumpy().astype(np.float32)
    return out


def save_pretrained(model: nn.Cell, path: str | Path, vocab_file: str | Path | None = None,
                    label_names: list[str] | None = None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` with Hugging Face names (+ ``vocab.txt``), so the
    directory loads with :func:`load_pretrained` and with ``transformers``' ``from_pretrained``.
    ``label_names`` (one per class of a classifier) go into config.json's ``id2label``/``label2id``;
    without them the labels are ``LABEL_0``, ``LABEL_1``, ... as in ``transformers``."""
    path = Path(path)
    extra = {}
    if hasattr(model, "num_labels"):  # so transformers builds a classifier of the right size
        names = list(label_names) if label_names is not None else [f"LABEL_{i}" for i in range(model.num_labels)]
        if len(names) != model.num_labels or len(set(names)) != len(names):
            raise ValueError(f"label_names must be {model.num_labels} distinct names, got {names}")
        extra["id2label"] = {str(i): n for i, n in enumerate(names)}
        extra["label2id"] = {n: i for i, n in enumerate(names)}
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole into a sibling folder first: a full disk or a crash while writing leaves the folder as it
    # was (never a config.json without its weights); then each file is moved in with an atomic rename.
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        model.config.to_json_file(tmp / "config.json", architectures=[type(model).__name__], **extra)
        try:
            save_file(_hf_state(model), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        except Exception as err:  # safetensors reports a full disk as its own error type, without the file name
            if isinstance(err, OSError):
                raise
            raise OSError(getattr(err, "errno", None) or 28, f"cannot write {path / 'model.safetensors'}: {err}",
                          str(path / "model.safetensors")) from None
        if vocab_file is not None:
            shutil.copyfile(vocab_file, tmp / "vocab.txt")
        path.mkdir(exist_ok=True)
        for file in tmp.iterdir():
            os.replace(file, path / file.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
