"""``check.<name>(answer)``: every exercise check of every lesson, found by name.

The checks are defined in ``bert_ms/exercises/lessonNN.py`` (listed in each module's ``__all__``);
this module looks them up on first use, so lessons can be added without editing it.
"""

from __future__ import annotations

import importlib
import pkgutil

import bert_ms.exercises as _pkg  # the folder whose lessonNN.py modules hold the checks


def _lesson_modules():
    for info in sorted(pkgutil.iter_modules(_pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("lesson"):
            yield importlib.import_module(f"bert_ms.exercises.{info.name}")


def all_checks() -> dict[str, object]:
    """name -> check function, over all lessons (a name used twice is an error)."""
    found: dict[str, object] = {}
    for module in _lesson_modules():
        for name in getattr(module, "__all__", ()):
            if name in found:
                raise RuntimeError(f"exercise check {name!r} is defined twice ({module.__name__})")
            found[name] = getattr(module, name)
    return found


def __getattr__(name: str):
    checks = all_checks()
    if name not in checks:
        raise AttributeError(f"no exercise check named {name!r}; known: {', '.join(sorted(checks))}")
    return checks[name]


def __dir__():
    return sorted(all_checks())
