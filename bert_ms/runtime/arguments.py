"""Command-line argument types (argparse ``type=``): a bad value is a one-line error naming the option, never a
silent default. :class:`LazyChoices` are choices read when argparse first needs them (a registry whose import
is slow stays unloaded while the parser is built)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable

import numpy as np


def int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def float_in(low: float, high: float | None = None, low_open: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        if not np.isfinite(value) or too_low or (high is not None and value >= high):
            bounds = f"{'>' if low_open else '>='} {low:g}" + (f" and < {high:g}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"must be a number {bounds}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


POSITIVE_INT = int_at_least(1)
POSITIVE_FLOAT = float_in(0.0, low_open=True)
SEED_MAX = 2 ** 32 - 1  # what NumPy's and MindSpore's seeds accept


def seed_value(text: str) -> int:
    value = int_at_least(0)(text)
    if value > SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be at most {SEED_MAX} (2**32 - 1), got {value}")
    return value


seed_value.__name__ = "seed"


def label_list(text: str) -> list[str]:
    """``--labels a,b``: names separated by commas, none empty, none twice."""
    names = [x.strip() for x in text.split(",")]
    if any(not n for n in names):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty name")
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise argparse.ArgumentTypeError(f"{text!r} names {', '.join(doubled)} more than once; each class needs "
                                         "its own name")
    return names


label_list.__name__ = "labels"


def folder_name(text: str) -> str:
    """A run folder: not empty (``--out ""`` would write run.json, the lock and the model into the working directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder name, got an empty string")
    return text


class LazyChoices:
    """argparse ``choices`` from ``names()``, called when a value is checked or the help is printed, plus
    ``extra`` names known at once."""

    def __init__(self, names: Callable[[], Iterable[str]], *extra: str):
        self.names, self.extra = names, extra

    def _names(self) -> list[str]:
        return [*self.names(), *self.extra]

    def __contains__(self, name) -> bool:
        return name in self.extra or name in self._names()

    def __iter__(self):
        return iter(self._names())
