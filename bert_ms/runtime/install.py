"""What this install has (``bert-ms info``): versions, the device targets and the one chosen, the execution
mode and precision, the fused kernels' state, smoke mode and the data and cache folders."""

from __future__ import annotations

import platform
import sys

from bert_ms.runtime import device, settings
from bert_ms.runtime.device import MODES, PRECISIONS
from bert_ms.runtime.settings import cache_dir, data_dir, package_version, smoke


def info_lines(version: str, fused_state: str) -> list[str]:
    """What ``bert-ms info`` prints: versions (``version``: bert_ms's own), devices, mode/precision, the
    fused kernels (``fused_state``: :func:`bert_ms.accel.fused.state`), folders. Uses only the public
    API of :mod:`bert_ms.runtime.device`."""
    available = device.available_targets()
    lines = [
        f"bert_ms     {version}",
        f"python      {platform.python_version()} ({sys.executable})",
        f"mindspore   {package_version('mindspore')}",
        f"mindnlp     {package_version('mindnlp')}",
        f"platform    {platform.platform()}",
        f"targets     {', '.join(available)} available",
    ]
    for target in device.TARGETS:
        if target not in available:
            lines.append(f"            {device.missing_reason(target)}")
    env_target = settings.device_target()
    if env_target.strip().lower() == "auto":
        chosen = available[0]
    elif env_target.strip().lower() in {t.lower() for t in available}:
        chosen = env_target
    else:
        chosen = f"none: {env_target!r} is not available here"
    lines.append(f"chosen      {chosen} (BERT_MS_DEVICE={env_target}; auto prefers Ascend, then GPU, then CPU)")
    lines.append(f"mode        {settings.execution_mode()} (BERT_MS_MODE; one of {', '.join(MODES)})")
    lines.append(f"precision   {settings.precision()} "
                 f"(BERT_MS_PRECISION; one of {', '.join(PRECISIONS)})")
    lines.append(f"fused       {fused_state} (CPU training; --no-fused / TrainerConfig(fused=False): MindSpore's ops)")
    lines.append(f"smoke mode  {'on' if smoke() else 'off'} (BERT_MS_SMOKE)")
    lines.append(f"data        {data_dir()} (BERT_MS_DATA)")
    lines.append(f"cache       {cache_dir()} (BERT_MS_CACHE)")
    return lines
