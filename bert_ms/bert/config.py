"""BERT hyper-parameters (BERT 配置), compatible with Hugging Face ``config.json``.

Devlin et al. 2019, sec. 3: L = number of layers, H = hidden size, A = attention heads, and the
feed-forward size is 4H. BERT-base is L12/H768/A12 (110M parameters), BERT-large L24/H1024/A16
(340M). The small presets are the "compact" BERTs of Turc et al. 2019 (tiny, mini, small).
:func:`read_model_config` reads a model folder's ``config.json``, an error naming the file if it lies.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bert_ms.runtime.files import read_json_object

PRESETS: dict[str, dict] = {
    "tiny": dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512),
    "mini": dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
    "small": dict(num_hidden_layers=4, hidden_size=512, num_attention_heads=8, intermediate_size=2048),
    "base": dict(),
    "large": dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=16, intermediate_size=4096),
}


# field -> (lowest, highest): generous for any real BERT (base: vocab 30,522, H 768, L 12; large: H 1024, L 24)
_INT_LIMITS = {"vocab_size": (1, 10_000_000), "hidden_size": (1, 65_536), "num_hidden_layers": (1, 1_024),
               "num_attention_heads": (1, 4_096), "intermediate_size": (1, 1_048_576),
               "max_position_embeddings": (1, 1_048_576), "type_vocab_size": (1, 65_536), "pad_token_id": (0, 10_000_000)}
# field -> (lowest, highest (exclusive), lowest excluded)
_FLOAT_LIMITS = {"hidden_dropout_prob": (0.0, 1.0, False), "attention_probs_dropout_prob": (0.0, 1.0, False),
                 "initializer_range": (0.0, 10.0, True), "layer_norm_eps": (0.0, 1.0, True)}
MAX_PARAMETERS = 20_000_000_000  # 80 GB in fp32: larger is a typo, not a BERT


@dataclass
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    def __post_init__(self):
        """Every field checked (type, range, divisibility) before anything is allocated: a config.json that
        lies (``vocab_size: 1e12``, ``num_attention_heads: 0``, ``num_hidden_layers: 2.5``, ``layer_norm_eps:
        "abc"``) is one ValueError naming the field, never a TypeError, a ZeroDivisionError or a 100 TiB
        allocation."""
        for name, (low, high) in _INT_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
                raise ValueError(f"config field {name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"config field {name} must be between {low:,} and {high:,}, got {value!r}")
            setattr(self, name, int(value))
        for name, (low, high, open_low) in _FLOAT_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"config field {name} must be a number, got {value!r}")
            if value < low or (open_low and value == low) or value >= high:
                raise ValueError(f"config field {name} must be {'>' if open_low else '>='} {low:g} and < {high:g}, "
                                 f"got {value!r}")
            setattr(self, name, float(value))
        if not isinstance(self.hidden_act, str):  # its name is checked by the feed-forward layer that uses it
            raise ValueError(f"config field hidden_act must be a name such as 'gelu', got {self.hidden_act!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size={self.hidden_size} is not divisible by "
                             f"num_attention_heads={self.num_attention_heads}")
        if self.pad_token_id >= self.vocab_size:
            raise ValueError(f"config field pad_token_id={self.pad_token_id} is not an id of the vocabulary "
                             f"(vocab_size={self.vocab_size})")
        if self.parameter_estimate() > MAX_PARAMETERS:
            raise ValueError(f"this config describes about {self.parameter_estimate():,} parameters "
                             f"(over {MAX_PARAMETERS:,}, {4 * MAX_PARAMETERS / 2 ** 30:.0f} GiB in fp32); "
                             "is a size field wrong?")

    def parameter_estimate(self) -> int:
        """The encoder's parameter count, from the shapes alone (embeddings + layers), for the size check."""
        h, i, layers = self.hidden_size, self.intermediate_size, self.num_hidden_layers
        embeddings = (self.vocab_size + self.max_position_embeddings + self.type_vocab_size) * h + 2 * h
        layer = 4 * h * h + 4 * h + 2 * h * i + i + h + 4 * h
        return embeddings + layers * layer

    @classmethod
    def preset(cls, name: str, **overrides) -> BertConfig:
        """``tiny`` L2/H128/A2/I512, ``mini`` L4/H256/A4/I1024, ``small`` L4/H512/A8/I2048,
        ``base`` L12/H768/A12/I3072, ``large`` L24/H1024/A16/I4096; keyword overrides win."""
        if name not in PRESETS:
            raise ValueError(f"unknown BERT preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        """Hugging Face style dict (with ``model_type`` and ``architectures``)."""
        return {"architectures": ["BertForPreTraining"], "model_type": "bert", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> BertConfig:
        """Build from a (Hugging Face) dict; keys this class does not know are ignored."""
        if d.get("model_type", "bert") != "bert":
            raise ValueError(f"config model_type is {d['model_type']!r}, expected 'bert'")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def from_json_file(cls, path: str | Path) -> BertConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"BERT config file not found: {path}")
        return cls.from_dict(read_json_object(path, "BERT config file"))

    def to_json_file(self, path: str | Path, architectures: list[str] | None = None, **extra) -> None:
        """Write ``config.json``; ``extra`` adds Hugging Face keys such as ``id2label``."""
        d = {**self.to_dict(), **extra}
        if architectures:
            d["architectures"] = list(architectures)
        Path(path).write_text(json.dumps(d, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def scaled_init_range(hidden_size: int, base: float = 0.02) -> float:
    """BERT's ``initializer_range`` 0.02 was set for H = 768. Scaled by ``sqrt(768 / H)`` it gives a
    narrower model the same per-layer signal gain (``std * sqrt(H)``); BERT itself keeps 0.02 for all sizes.

    Departure from BERT (a default of ``python -m bert_ms pretrain``, not of :class:`BertConfig`). Measured
    here: at 0.02, BERT-tiny (H = 128) stayed on a bag-of-words plateau (uniform attention) for 10,000
    steps; at 0.049 its attention turned positional within 1,000 (``models/mini-bert-sotu/README.md``).
    """
    return base * (768 / hidden_size) ** 0.5


def read_model_config(folder: Path) -> tuple[BertConfig, dict]:
    """(BertConfig, the raw config.json dict) of a model folder; bad JSON or UTF-8 names the file."""
    path = folder / "config.json"
    raw = read_json_object(path, "model config")
    try:
        return BertConfig.from_dict(raw), raw
    except (TypeError, ValueError) as err:  # a field that lies: one line naming the file and the field
        raise ValueError(f"{path}: {err}") from None
