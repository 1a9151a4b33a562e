"""Command line: ``python -m bert_ms <command>`` (also installed as ``bert-ms``).

Each sub-command lives in the module that owns the concept and registers itself through
:data:`COMMANDS`; this file only parses and dispatches, so the command line and the
notebooks run the same code.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
from importlib import metadata

from bert_ms import __version__
from bert_ms.runtime import settings
from bert_ms.runtime.device import MODES, PRECISIONS, DeviceError

# name -> "module:function" taking (argparse.Namespace) -> int, and "module:function" adding arguments
COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (help, "module:add_arguments", "module:run")
    "pretrain": ("pretrain BERT (MLM + NSP) on a corpus", "bert_ms.commands:add_pretrain_args",
                 "bert_ms.commands:run_pretrain"),
    "finetune": ("fine-tune a pretrained BERT on a task", "bert_ms.commands:add_finetune_args",
                 "bert_ms.commands:run_finetune"),
    "evaluate": ("evaluate a model folder on a task split", "bert_ms.commands:add_evaluate_args",
                 "bert_ms.commands:run_evaluate"),
    "predict": ("print predictions for texts (or [MASK] fill-ins)", "bert_ms.commands:add_predict_args",
                "bert_ms.commands:run_predict"),
}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def info_lines() -> list[str]:
    """What ``bert-ms info`` prints: versions, devices, mode/precision, folders."""
    import os

    from bert_ms.runtime import device

    available = device.available_targets()
    lines = [
        f"bert_ms     {__version__}",
        f"python      {platform.python_version()} ({sys.executable})",
        f"mindspore   {_version('mindspore')}",
        f"mindnlp     {_version('mindnlp')}",
        f"platform    {platform.platform()}",
        f"targets     {', '.join(available)} available",
    ]
    for target in device.TARGETS:
        if target not in available:
            lines.append(f"            {device._missing_reason(target)}")
    env_target = os.environ.get("BERT_MS_DEVICE") or "auto"
    if env_target.strip().lower() == "auto":
        chosen = available[0]
    elif env_target.strip().lower() in {t.lower() for t in available}:
        chosen = env_target
    else:
        chosen = f"none: {env_target!r} is not available here"
    lines.append(f"chosen      {chosen} (BERT_MS_DEVICE={env_target}; auto prefers Ascend, then GPU, then CPU)")
    lines.append(f"mode        {os.environ.get('BERT_MS_MODE', 'graph')} (BERT_MS_MODE; one of {', '.join(MODES)})")
    lines.append(f"precision   {os.environ.get('BERT_MS_PRECISION', 'fp32')} "
                 f"(BERT_MS_PRECISION; one of {', '.join(PRECISIONS)})")
    import shutil

    compiler = shutil.which(os.environ.get("CXX", "g++"))
    lines.append(f"fused       opt-in (TrainerConfig(fused=True); CPU training only: GELU, LayerNorm, dropout and "
                 f"gradient norm as C++ kernels, bert_ms.accel; compiler: {compiler or 'none found, so the ops run'})")
    lines.append(f"smoke mode  {'on' if settings.smoke() else 'off'} (BERT_MS_SMOKE)")
    lines.append(f"data        {settings.data_dir()} (BERT_MS_DATA)")
    lines.append(f"cache       {settings.cache_dir()} (BERT_MS_CACHE)")
    return lines


def _run_info(args: argparse.Namespace) -> int:
    print("\n".join(info_lines()))
    if args.device:
        from bert_ms.runtime import device

        device.setup(target=args.device, verbose=True)
    return 0


def _resolve(spec: str):
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bert-ms", description="BERT in MindSpore: course companion")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="versions, devices, mode, precision and folders")
    info.add_argument("--device", help="also try to set up this device target (CPU, GPU, Ascend, auto)")
    info.set_defaults(func=_run_info)
    for name, (help_text, add_args, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--device", default="auto", help="auto, CPU, GPU or Ascend")
        p.add_argument("--precision", default="fp32", choices=PRECISIONS)
        p.add_argument("--mode", default="graph", choices=MODES)
        _resolve(add_args)(p)
        p.set_defaults(func=_resolve(run))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DeviceError as err:
        print(f"bert-ms: error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as err:
        print(f"bert-ms: error: {err}", file=sys.stderr)
        return 2
