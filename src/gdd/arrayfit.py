"""How the array API fits (:mod:`gdd.arrays`): one fit of the whole scene, or tiles that share what is decided once.

A tiled run of the array API makes the choices a tiled ``gdd`` run makes once for every tile
(:mod:`gdd.app.tiled`), on the central window: the pansharpening degradation model and start,
and the check of the HS response and blur. Each tile then fits alike, and the blend shows no
seam between tiles that chose differently.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import torch

from .checks import layout_known
from .io import InputError
from .problems.pixels import too_few_to_hold_out

__all__ = ["check_settings", "decided", "fuse", "window_mask"]


def window_mask(mask: np.ndarray | None, window: tuple[slice, slice]) -> torch.Tensor | None:
    """The mask's window as a tensor, None where it has no nodata pixel."""
    if mask is None or mask[window].all():
        return None
    return torch.from_numpy(np.ascontiguousarray(mask[window]))


def _preset(task: str, device: str, options: dict[str, Any]) -> Any:
    """The preset a fit with these options runs (the task's for the device, the caller's settings over it)."""
    from .fusion import resolve_device
    from .problems.presets import Preset, choose_preset

    fields = {k: v for k, v in options.items() if k in Preset.__dataclass_fields__}
    return choose_preset(task, resolve_device(device), options.get("budget"), fields)[1]  # type: ignore[arg-type]


#: What the array API passes to :func:`gdd.problems.solve` besides the preset's fields.
_SOLVE = frozenset({"iterations", "width", "budget", "log_every", "callback", "fast", "observe"})


def _integer(value: Any, name: str, least: int) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least):
        raise InputError(f"{name}: an integer" + (f" of at least {least}" if least >= 0 else "") + f", got {value!r}")


def check_settings(
    task: str, device: str, seed: Any, bit_depth: Any, tile: Any, overlap: Any, options: dict[str, Any]
) -> None:
    """Refuse, in one line and before any input is read, a setting the fit would refuse later.

    Unknown settings, a device that is not there, a seed, bit depth, tile or overlap that is no
    integer in range, and the preset's fields as the fit checks them (budget, fast path, steps,
    learning rate, held-out share ...).
    """
    from .fusion import resolve_device
    from .problems.presets import Preset, check_fast, fit_config

    unknown = sorted(set(options) - _SOLVE - set(Preset.__dataclass_fields__))
    if unknown:
        raise InputError(f"unknown settings: {', '.join(unknown)}")
    if seed is None:
        raise InputError("seed: an integer, got None")
    for value, name, least in (
        (seed, "seed", -(2**63)),
        (bit_depth, "bit_depth", 1),
        (tile, "tile", 1),
        (overlap, "overlap", 0),
    ):
        _integer(value, name, least)
    if overlap is not None and tile is None:
        raise InputError(f"overlap={overlap} is the overlap of tiles: give tile= too")
    _integer(options.get("iterations"), "iterations", 0)
    _integer(options.get("width"), "width", 1)
    try:
        resolved = resolve_device(device)
        preset = _preset(task, device, options)
        check_fast(options.get("fast"))
        if not 0 <= preset.holdout < 1:
            raise ValueError(f"holdout: a share of at least 0 and below 1, got {preset.holdout}")
        fit_config(preset, seed=int(seed), device=resolved, log_every=options.get("log_every", 50),
                   fast=options.get("fast"), classic_start=True)  # fmt: skip
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc)) from None


def _built(make: Any) -> Any:
    """``make`` with a setting its problem refuses (``spatial="foo"``) said as an :class:`InputError`."""

    def built(*args: Any, **settings: Any) -> Any:
        try:
            return make(*args, **settings)
        except InputError:
            raise
        except ValueError as exc:
            raise InputError(str(exc)) from None

    return built


def _solve(
    problem: Any, device: str, seed: int, options: dict[str, Any], label: str | None, say: bool = False
) -> torch.Tensor:
    """One fit; NaN where the problem has no data (``Problem.valid``).

    ``label``: a progress bar so named; ``say``: then print how the result was chosen, as the
    command line does.
    """
    from .problems import solve
    from .progress import ProgressBar

    options = dict(options)
    calls = [c for c in (options.pop("callback", None),) if c is not None]
    bar = None
    if label is not None:
        bar = ProgressBar(_preset(problem.task, device, options).steps(), quiet=False, desc=label)
        calls.append(bar)

    def callback(step: int, x: torch.Tensor, loss: float) -> None:
        for call in calls:
            call(step, x, loss)

    try:
        result = solve(problem, device=device, seed=seed, callback=callback if calls else None, **options)
    finally:
        if bar is not None:
            bar.close()
    if say:
        from .problems.said import choice_line, rule_line, steps_line

        steps = steps_line(result.choice, result.steps, result.config.iterations)
        for line in (
            f"gdd {problem.task}: {steps}",
            rule_line(result.details),
            choice_line(result.choice, result.details),
        ):
            if line:
                print(line, file=sys.stderr)
    x = result.x.detach().cpu()
    return x if problem.valid is None else torch.where(problem.valid.cpu(), x, torch.nan)


def _share(problem: Any, device: str, options: dict[str, Any]) -> float:
    """The share of the observed pixels the fit holds out (the caller's, else its preset's)."""
    return float(options.get("holdout", _preset(problem.task, device, options).holdout))


@layout_known()  # the arrays were read as H x W x C
def fuse(
    make: Any,
    shape: tuple[int, int],
    factor: int,
    tile: int | None,
    overlap: int | None,
    device: str,
    seed: int,
    options: dict[str, Any],
    masks: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    names: tuple[str, str] = ("the low-resolution input", "the high-resolution one"),
    progress: bool = False,
) -> torch.Tensor:
    """One fit of ``make(lr_window, hr_window)``, or (``tile``) one per overlapping tile, blended.

    ``make(low, high, **settings)`` builds the problem of a window (the builder's settings over
    the caller's). As in a tiled ``gdd`` run, what the tiles share is decided once, on the
    central window (:func:`decided`), and the tiles are blended with the command line's
    weights, so that no seam shows. With nodata (``masks``, the low- and high-resolution
    inputs' pixels with data), a pixel without data in both is NaN; a tile with none is not
    fitted, and one with too few observed pixels to hold two out is fitted without held-out
    pixels.
    """
    from .tiles import blend_weights, tile_grid

    h, w = shape
    make = _built(make)
    everything = (slice(0, None), slice(0, None))
    if tile is None:
        problem = make(everything, everything)
        if problem.valid is not None and not bool(problem.valid.any()):
            from .app.inputs import no_pixel_valid_in_both

            raise no_pixel_valid_in_both(*names)
        share, observed = _share(problem, device, options), problem.observation_mask
        count = (h // factor) * (w // factor) if observed is None else int(observed.sum())
        if too_few_to_hold_out(observed, share) or (share > 0 and count < 2):
            raise InputError(
                f"{names[0]}: {count} pixel(s) with data, too few for held-out validation "
                f"(at least {2 if observed is None else math.ceil(2 / share)}); holdout=0 fits without it"
            )
        return _solve(problem, device, seed, options, "gdd" if progress else None, say=progress)
    if tile % factor or tile < 2 * factor:
        raise InputError(f"tile: a multiple of the ratio {factor}, at least {2 * factor}, got {tile}")
    if overlap is None:
        overlap = max(factor, tile // 8 // factor * factor)
    try:
        tiles = tile_grid(h, w, tile=tile, overlap=overlap, factor=factor)
    except ValueError as exc:
        raise InputError(f"tile {tile}, overlap {overlap}: {exc}") from None

    def where(side: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
        windows = _decision_window(h, w, factor, side or tile, tiles, masks)
        if windows is None:
            from .app.inputs import no_pixel_valid_in_both

            raise no_pixel_valid_in_both(*names)
        return windows

    build, fit = decided(make, where, device, seed, options)
    num: torch.Tensor | None = None
    den = torch.zeros(1, 1, h, w, dtype=torch.float64)
    for i, t in enumerate(tiles, 1):
        low, high = t.window(factor), t.window()
        if any(m is not None and not m[window].any() for m, window in zip(masks, (low, high), strict=True)):
            continue  # no data in one input: nodata throughout
        problem = make(low, high, **build)
        if problem.valid is not None and not bool(problem.valid.any()):
            continue
        few = too_few_to_hold_out(problem.observation_mask, _share(problem, device, options))
        label = f"tile {i}/{len(tiles)}" if progress else None
        x = _solve(problem, device, seed, {**options, **fit, **({"holdout": 0.0} if few else {})}, label).double()
        if num is None:
            num = torch.zeros(1, x.shape[1], h, w, dtype=torch.float64)
        weight = torch.from_numpy(blend_weights(t, h, w, overlap=overlap)) * torch.isfinite(x).all(1, keepdim=True)
        num[..., high[0], high[1]] += weight * torch.nan_to_num(x)
        den[..., high[0], high[1]] += weight
    if num is None:
        from .app.inputs import no_pixel_valid_in_both

        raise no_pixel_valid_in_both(*names)
    return torch.where(den > 0, num / den, torch.nan).float()


def _decision_window(
    h: int, w: int, factor: int, side: int, tiles: list[Any], masks: tuple[np.ndarray | None, np.ndarray | None]
) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """The (low, high) windows on which a choice of every tile is made; None where no pixel has data in both inputs.

    As :func:`gdd.app.decision.decision_window`: the central window of at most ``side`` pixels
    a side where at least half its pixels have data in both inputs; else the first tile,
    nearest the centre first, that has; else the tile with the most.
    """
    from .app.decision import central, share_with_data

    def share(t: Any) -> float:
        windows = (t.window(factor), t.window())
        lr, hr = (None if m is None else m[window] for m, window in zip(masks, windows, strict=True))
        return share_with_data(lr, hr, factor, (t.height, t.width))

    centre = central(h, w, factor, side)
    if share(centre) >= 0.5:
        return centre.window(factor), centre.window()
    near = sorted(tiles, key=lambda t: (t.row + t.height / 2 - h / 2) ** 2 + (t.col + t.width / 2 - w / 2) ** 2)
    shares = [share(t) for t in near]
    best = next((t for t, v in zip(near, shares, strict=True) if v >= 0.5), near[int(np.argmax(shares))])
    return (best.window(factor), best.window()) if max(shares) > 0 else None


@layout_known()
def decided(
    make: Any, where: Any, device: str, seed: int, options: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What every tile shares, decided as a tiled ``gdd`` run decides it (:mod:`gdd.app.tiled`).

    ``where(side)`` gives the windows to decide on: the pansharpening degradation model is
    chosen on a window of one tile, the start and the check of the HS degradations on the
    central window of :data:`gdd.app.decision.CENTRAL_WINDOW`. Returns the builder's settings
    (the model; for HS, no check per tile, and the estimated response and blur where the
    check prefers them) and the fit's (the pansharpening start of ``init="auto"``).
    """
    from .app.decision import CENTRAL_WINDOW
    from .operators import KernelDownsample
    from .problems import choose_start, held_out
    from .problems.holdout import choose_model
    from .problems.solve import checked_degradations, checked_problem

    def choosing(problem: Any) -> float:
        """The held-out share to choose by on this window's problem: 0 where it has too few observed pixels."""
        share = _share(problem, device, options)
        return 0.0 if too_few_to_hold_out(problem.observation_mask, share) else share

    problem = make(*where(CENTRAL_WINDOW))
    share, preset = choosing(problem), _preset(problem.task, device, options)
    build: dict[str, Any] = {}
    fit: dict[str, Any] = {}
    if problem.task == "hs":
        build["check_degradations"] = False
        if problem.check is not None and share > 0:
            better, details = checked_problem(problem)
            if details["chosen"] == "estimated":
                srf, kernel = checked_degradations(better)
                build.update(srf=srf, normalize_srf=False, spatial=KernelDownsample(kernel, problem.factor))
    if problem.task == "pan" and problem.alternatives:
        one = make(*where(0))  # a window of one tile
        by = choosing(one)  # without held-out pixels to choose by, the authors' bicubic (as a run without them)
        build["spatial"] = choose_model(one, by, seed=seed, init=preset.init)[0] if by else "bicubic"
        problem = problem.alternatives[build["spatial"]]()
    if problem.task == "pan" and share > 0:
        if preset.init == "auto" and "more_starts" not in options:
            init, residual, _ = choose_start(*held_out(problem, share, seed=seed))
            fit = {"init": init, "residual": options.get("residual", residual)}
    return build, fit
