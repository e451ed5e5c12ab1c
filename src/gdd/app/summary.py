"""What a fusion run tells the user: the lines it prints, its JSON record and its HTML report."""

from __future__ import annotations

import numpy as np
import torch

from ..io import InputError, from_tensor, to_tensor
from ..problems import Problem
from .settings import FuseSettings

__all__ = ["check_report_options", "fusion_report"]


def check_report_options(
    bands: tuple[int, ...] | None, pixels: tuple[tuple[int, ...], ...] | None, shape: tuple[int, int, int]
) -> None:
    """Fail before any work when the report's bands or pixels do not fit the result (H, W, C)."""
    h, w, c = shape
    if bands and max(bands) >= c:
        raise InputError(f"--bands {','.join(map(str, bands))}: the result has bands 0 to {c - 1}")
    for r, col in pixels or []:
        if r >= h or col >= w:
            raise InputError(f"--pixel {r},{col} is outside the {h} x {w} result")


def fusion_report(
    s: FuseSettings,
    problem: Problem,
    inputs: dict[str, np.ndarray],
    arr: np.ndarray,
    reference: torch.Tensor | None,
    history: list[tuple[int, float]],
    psnr_history: list[tuple[int, float]],
    info: dict[str, object],
    wavelengths: tuple[float, ...] | None = None,
) -> None:
    """The HTML report of a fusion run: inputs, result, baseline, the indices and the curves."""
    from ..metrics import full_resolution, reduced_resolution
    from ..report import write_report

    base = problem.baseline().detach().cpu()
    base_name = "bicubic"
    if problem.task == "flash":
        # The flash baseline is the noisy input itself: shown once, as the baseline.
        base_name = "noisy input"
        inputs = {k: v for k, v in inputs.items() if k != "noisy"}
    x = to_tensor(arr)
    metrics: dict[str, dict[str, float | None]] = {}
    if reference is not None:
        for name, est in (("gdd", x), (base_name, base)):
            metrics[name] = reduced_resolution(est.clamp(0, 1), reference, ratio=max(problem.factor, 1))
    elif problem.task == "pan":
        ms, pan = to_tensor(inputs["ms"]), to_tensor(inputs["pan"])
        for name, est in (("gdd", x), (base_name, base)):
            try:
                metrics[name] = full_resolution(est, ms, pan, ratio=problem.factor)
            except ValueError:
                break
    settings = {k: v for k, v in info.items() if k in ("task", "iterations", "seconds", "device", "rollbacks")}
    if metrics and reference is None:
        settings["indices"] = "QNR protocol, sensor none (MTF gains 0.29 MS, 0.15 PAN); gdd eval --sensor for others"
    settings.update({k: v for k, v in dict(info.get("settings", {})).items()})  # type: ignore[call-overload]
    write_report(
        str(s.outputs.report),
        title=f"gdd {problem.task}: {s.outputs.out.name}",
        inputs=inputs,
        result=arr,
        reference=from_tensor(reference) if reference is not None else None,
        baseline=from_tensor(base),
        baseline_name=base_name,
        metrics=metrics or None,
        history=history,
        psnr=psnr_history or None,
        settings=settings,
        factor=max(problem.factor, 1),
        wavelengths=wavelengths,
        bands=s.outputs.bands,
        pixels=s.outputs.pixels,
        percentiles=s.outputs.stretch,
        force=s.outputs.force,
    )
    print(f"wrote {s.outputs.report}")
