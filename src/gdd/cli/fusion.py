"""``gdd hs|pan|flash``: the parsed options become :class:`gdd.app.FuseSettings`, once."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..io import UsageError
from .options import not_in_plan

__all__ = ["command_line", "fast_settings", "fusion_settings", "preset_overrides"]

#: The fast-path switches of gdd.fusion.FitConfig by option: (switch, value when set); an option at
#: its default (_OFF) leaves the device's default (gdd.fusion.fastpath.device_defaults).
_FAST = {
    "channels_last": ("channels_last", None),
    "amp": ("amp", None),
    "compile": ("compile", None),
    "fused_adam": ("fused_adam", True),
    "no_running_stats": ("running_stats", False),
    "lr_final": ("lr_final", None),
}
_OFF: dict[str, Any] = {"channels_last": None, "amp": "auto", "compile": "off", "fused_adam": False,
                        "no_running_stats": False, "lr_final": None}  # fmt: skip


def fast_settings(args: argparse.Namespace) -> dict[str, object]:
    """The fast-path switches asked for on the command line (``solve(fast=...)``)."""
    fast: dict[str, object] = {}
    for option, (switch, on) in _FAST.items():
        value = getattr(args, option, _OFF[option])
        if value != _OFF[option]:
            fast[switch] = value if on is None else on
    return fast


def preset_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The preset fields a fusion command line overrides (``solve(**...)``)."""
    from ..problems import ENSEMBLE

    pairs = (
        ("average_last", args.average_last),
        ("init", args.init),
        ("keep_best", args.keep_best),
        ("warm_start", args.warm_start),
        ("residual", args.residual),
        ("holdout", getattr(args, "holdout", None)),
        ("patience", getattr(args, "patience", None)),
        ("refit", getattr(args, "refit", None)),
        ("average_at_noise", getattr(args, "average_at_noise", None)),
    )
    overrides = {k: v for k, v in pairs if v is not None}
    if overrides.get("average_at_noise") and overrides.get("holdout") == 0:
        raise UsageError("--average-at-noise chooses by held-out pixels; it does nothing with --holdout 0")
    if getattr(args, "ensemble", False):
        (init, _, residual), *more = ENSEMBLE[args.command]
        # --init, --warm-start and --residual given with --ensemble change its first start; its
        # warm start is otherwise the preset's, which a shorter run shortens (gdd.problems.warm_steps).
        overrides = {"init": init, "residual": residual, **overrides, "more_starts": tuple(more)}
    return overrides


def _tiling(args: argparse.Namespace) -> Any:
    """The tiling settings; tile options with ``--tile none`` are a usage error."""
    from ..app import TilingSettings

    if args.tile == "none" and (args.overlap != "auto" or args.keep_tiles):
        option = "--overlap" if args.overlap != "auto" else "--keep-tiles"
        raise UsageError(f"{option} is for tiles; it does nothing with --tile none")
    return TilingSettings(tile=args.tile, overlap=args.overlap, keep_tiles=args.keep_tiles)


def _check_init(init: str | None, task: str) -> None:
    """Refuse an unknown --init before anything is read."""
    from ..problems import classic_method

    if init == "auto" and task != "pan":
        what = "flash has no classic start: use none" if task == "flash" else f"name a method for {task}"
        raise UsageError(f"--init auto: only pansharpening chooses its start from the pair; {what}")
    if init is not None and init not in ("none", "auto"):
        try:
            classic_method(task, init)
        except ValueError as exc:
            raise UsageError(f"--init {init}: {exc}") from None


def command_line(args: argparse.Namespace) -> str:
    """The command as a shell line, every option that differs from its default in the table's order."""
    import shlex

    from .options import COMMANDS

    words = ["gdd", args.command]
    for option in COMMANDS[args.command].options:
        value = getattr(args, option.dest, None)
        if value is None or value == option.kwargs.get("default"):
            continue
        flag = next(f for f in option.flags if f.startswith("--"))
        if option.kwargs.get("action") is argparse.BooleanOptionalAction:
            words.append(flag if value else "--no-" + flag[2:])
        elif value is False:
            continue
        elif value is True:
            words.append(flag)
        elif option.kwargs.get("action") == "append":
            for item in value:
                words += [flag, "=".join(item) if isinstance(item, tuple) and option.dest == "co" else _word(item)]
        else:
            words += [flag, _word(value)]
    return shlex.join(words)


def _word(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(_word(v) for v in value)
    return str(value)


def _plain(value: object) -> object:
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def fusion_settings(args: argparse.Namespace) -> Any:
    """The settings of a fusion command: the device, the budget and the preset resolved once."""
    from ..app import (
        ROLES,
        DegradationSettings,
        FitSettings,
        FuseSettings,
        InputSettings,
        OutputSettings,
    )
    from ..fusion import resolve_device
    from ..problems import PRESETS, preset_for

    task = args.command
    _check_init(args.init, task)
    if task == "flash" and (args.warm_start or args.residual):  # accepted, and nothing to act on
        option = "--warm-start" if args.warm_start else "--residual"
        raise UsageError(f"{option}: flash has no classic start to warm up from or to correct")
    device = resolve_device(args.device)
    budget = args.budget or preset_for(task, device)[0]
    overrides = preset_overrides(args)
    preset = replace(PRESETS[(task, budget)], **overrides)
    if args.iterations == 0 and preset.init == "none":  # no classic start to return: an untrained network
        raise UsageError(f"--iterations 0: {task} {'has no classic start' if task == 'flash' else 'with --init none'} "
                         "would return the network untrained; give at least 1")  # fmt: skip
    steps = preset.steps(args.iterations)

    def get(name: str, default: Any = None) -> Any:
        return getattr(args, name, default)

    return FuseSettings(
        task=task,
        inputs=InputSettings(
            files=tuple((n, getattr(args, n)) for n in ROLES[task]),
            factor=int(get("factor") or get("ratio") or 1),
            bit_depth=args.bit_depth,
            layout=args.layout,
            nodata=args.nodata,
            reference=args.reference,
            extent=get("extent", "same"),
        ),
        degradation=DegradationSettings(
            srf=get("srf"),
            spatial=get("spatial"),
            blur=get("blur"),
            srf_support=get("srf_support"),
            normalize_srf=not get("no_normalize_srf", False),
            check=not get("keep_degradations", False),
            full_resolution=get("full_resolution", False),
            sensor=get("sensor", "none"),
            gnyq=get("gnyq"),
            tile_mixing=get("tile_mixing", "per-tile"),
        ),
        fit=FitSettings(
            device=str(device),
            budget=budget,
            iterations=args.iterations,
            width=args.width,
            seed=args.seed,
            overrides=tuple(overrides.items()),
            fast=tuple(fast_settings(args).items()),
            steps=steps,
        ),
        tiling=_tiling(args),
        outputs=OutputSettings(
            out=Path(args.out),
            json=args.json,
            dtype=args.dtype,
            force=args.force,
            quiet=args.quiet,
            report=args.report,
            bands=args.bands,
            stretch=args.stretch,
            pixels=_plain(args.pixel),  # type: ignore[arg-type]
            creation=tuple(args.co or ()),
            command=command_line(args),
        ),
        options=tuple((k, _plain(v)) for k, v in sorted(vars(args).items())),
        unplanned=not_in_plan(),
    )
