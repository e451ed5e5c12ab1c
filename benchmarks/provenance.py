"""Where a benchmark's figures come from: the commit of the tree it ran on and the machine, for its record."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def commit(*, short: bool = False) -> str:
    """The commit of the benchmarks' tree.

    ``GDD_COMMIT`` names it where the caller knows better than git (a copied tree whose git
    metadata is not its own, or a machine without git); else git's ``HEAD`` (abbreviated with
    ``short``); ``"unknown"`` without either.
    """
    named = os.environ.get("GDD_COMMIT", "").strip()
    if named:
        return named
    argv = ["git", "rev-parse", *(["--short"] if short else []), "HEAD"]
    try:
        done = subprocess.run(argv, cwd=HERE, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine(device: str = "cpu") -> dict[str, object]:
    """The machine a benchmark ran on: CPU, cores, torch's threads, platform and versions (and the GPU on CUDA)."""
    import torch

    info: dict[str, object] = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    if torch.device(device).type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    return info
