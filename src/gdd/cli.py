"""The ``gdd`` command line: ``gdd hs|pan|flash|demo``; ``main(argv) -> exit code``."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .fusion import resolve_device
from .io import (
    InputError,
    check_output,
    from_tensor,
    read_image,
    read_matrix,
    to_tensor,
    write_image,
    write_json,
    write_preview,
)
from .metrics import summary
from .problems import PRESETS, Problem, flash_problem, hs_problem, pan_problem, preset_for, solve
from .progress import ProgressBar

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line and exit code 2, as argparse does, without the usage block.
        self.exit(2, f"gdd: error: {message} (see gdd {self.prog.split()[-1]} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _common(p: argparse.ArgumentParser, *, out_required: bool = True) -> None:
    p.add_argument(
        "--out", required=out_required, help="result file: .npy, .mat or .tif (a PNG preview is written beside it)"
    )
    p.add_argument("--iterations", type=_nonneg_int, help="Adam steps (default: the task's preset for the device)")
    p.add_argument("--width", type=_positive_int, help="feature channels of the network (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="default auto: CUDA, else MPS, else CPU",
    )
    p.add_argument(
        "--budget",
        choices=["authors", "cpu"],
        help="preset: the authors' settings or the CPU ones (default: by device)",
    )
    p.add_argument(
        "--reference", metavar="GT", help="ground truth: print PSNR, SAM, ERGAS of the result and of bicubic"
    )
    p.add_argument("--json", metavar="METRICS.json", help="write metrics, time and settings as JSON")
    p.add_argument(
        "--average-last",
        type=_nonneg_int,
        help="result = mean of the last N estimates (0: the last one; default: preset)",
    )
    p.add_argument("--bit-depth", type=_positive_int, help="scale integer inputs by 2^N - 1 (e.g. 11 for WorldView DN)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gdd", description="Guided Deep Decoder: unsupervised fusion of image pairs.")
    parser.add_argument("--version", action="version", version=f"gdd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    hs = sub.add_parser("hs", help="fuse a low-res hyperspectral image with a high-res RGB/MS image")
    hs.add_argument(
        "--hsi", required=True, help="low-resolution HS image (file, file.mat:VAR or a folder of band PNGs)"
    )
    hs.add_argument("--guide", required=True, help="high-resolution RGB/MS image")
    hs.add_argument("--srf", required=True, help="spectral response matrix, guide bands x HS bands (.csv, .npy, .mat)")
    hs.add_argument("--factor", required=True, type=_positive_int, help="resolution ratio")
    hs.add_argument(
        "--spatial",
        default="block",
        choices=["block", "gaussian", "bicubic"],
        help="spatial degradation (default block)",
    )
    hs.add_argument(
        "--no-normalize-srf", action="store_true", help="use the response rows as given (default: scale each to sum 1)"
    )
    _common(hs)

    pan = sub.add_parser("pan", help="pansharpen an MS image with a PAN image")
    pan.add_argument("--ms", required=True, help="multispectral image")
    pan.add_argument("--pan", required=True, help="panchromatic image (H x W or H x W x 1)")
    pan.add_argument("--ratio", required=True, type=_positive_int, help="resolution ratio (e.g. 4)")
    pan.add_argument(
        "--full-resolution", action="store_true", help="fuse at full resolution (MS weight 100 instead of 10)"
    )
    _common(pan)

    fl = sub.add_parser("flash", help="denoise a no-flash image guided by a flash image")
    fl.add_argument("--noisy", required=True, help="noisy no-flash image")
    fl.add_argument("--guide", required=True, help="flash image")
    _common(fl)

    demo = sub.add_parser("demo", help="run the embedded, simulated hyperspectral demo")
    demo.add_argument("--out", default="gdd-demo", help="output folder (default gdd-demo)")
    demo.add_argument("--size", type=_positive_int, help="scene size in pixels (default 128 on CPU, 512 on GPU)")
    demo.add_argument("--iterations", type=_nonneg_int, help="Adam steps (default by device)")
    demo.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--force", action="store_true", help="overwrite files in the output folder")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _preview_path(out: Path) -> Path:
    return out.with_name(out.stem + ".png")


def _load_reference(spec: str, shape: torch.Size, bit_depth: int | None = None) -> torch.Tensor:
    ref = to_tensor(read_image(spec, name="reference", bit_depth=bit_depth))
    if ref.shape != shape:
        raise InputError(
            f"reference {spec}: shape {tuple(ref.shape[2:])} x {ref.shape[1]} bands does not match the result "
            f"{tuple(shape[2:])} x {shape[1]} bands"
        )
    return ref


def _problem(args: argparse.Namespace) -> Problem:
    if args.command == "hs":
        hsi = to_tensor(read_image(args.hsi, name="hsi", bit_depth=args.bit_depth))
        guide = to_tensor(read_image(args.guide, name="guide", bit_depth=args.bit_depth))
        srf = torch.from_numpy(read_matrix(args.srf, name="srf"))
        return hs_problem(hsi, guide, srf, args.factor, spatial=args.spatial, normalize_srf=not args.no_normalize_srf)
    if args.command == "pan":
        ms = to_tensor(read_image(args.ms, name="ms", bit_depth=args.bit_depth))
        pan = to_tensor(read_image(args.pan, name="pan", bit_depth=args.bit_depth))
        return pan_problem(ms, pan, args.ratio, full_resolution=args.full_resolution)
    noisy = to_tensor(read_image(args.noisy, name="noisy", bit_depth=args.bit_depth))
    guide = to_tensor(read_image(args.guide, name="guide", bit_depth=args.bit_depth))
    return flash_problem(noisy, guide)


def _fuse(args: argparse.Namespace) -> int:
    out = check_output(args.out, force=args.force)
    preview = _preview_path(out)
    if preview.exists() and not args.force:
        raise InputError(f"preview {preview} exists; use --force to overwrite it")
    if args.json:
        json_path = Path(args.json)
        if json_path.exists() and not args.force:
            raise InputError(f"json {json_path} exists; use --force to overwrite it")
    problem = _problem(args)
    reference = None
    if args.reference:
        shape = torch.Size((1, problem.out_channels, *problem.guide.shape[-2:]))
        reference = _load_reference(args.reference, shape, args.bit_depth)

    device = resolve_device(args.device)
    budget = args.budget or preset_for(problem.task, device)[0]
    total = args.iterations if args.iterations is not None else PRESETS[(problem.task, budget)].iterations
    progress = ProgressBar(total, quiet=args.quiet, reference=reference)
    start = time.perf_counter()
    try:
        result = solve(
            problem,
            device=str(device),
            seed=args.seed,
            budget=budget,
            iterations=args.iterations,
            width=args.width,
            callback=progress,
            **({"average_last": args.average_last} if args.average_last is not None else {}),
        )
    finally:
        progress.close()
    wall = time.perf_counter() - start
    x = result.x.detach().cpu()
    arr = from_tensor(x)
    write_image(out, arr, force=args.force)
    write_preview(preview, np.clip(arr, 0, None))

    n = result.config.iterations
    print(
        f"gdd {problem.task}: {n} iterations in {wall:.1f} s "
        f"({1000 * result.seconds_per_iteration:.1f} ms/iteration) on {device.type}"
    )
    print(f"wrote {out} and {preview}")
    report: dict[str, object] = {
        "task": problem.task,
        "output": str(out),
        "seconds": wall,
        "fit_seconds": result.seconds,
        "ms_per_iteration": 1000 * result.seconds_per_iteration,
        "iterations": n,
        "rollbacks": result.rollbacks,
        "final_loss": float(result.loss[-1]) if n else None,
        "device": device.type,
        "settings": {**result.config.to_dict(), **result.details},
        "versions": {"gdd": __version__, "torch": torch.__version__, "python": platform.python_version()},
    }
    if reference is not None:
        ratio = max(problem.factor, 1)
        base = problem.baseline().detach().cpu()
        metrics = {
            "gdd": summary(x.clamp(0, 1), reference, ratio=ratio),
            "bicubic" if problem.task != "flash" else "input": summary(base.clamp(0, 1), reference, ratio=ratio),
        }
        report["metrics"] = metrics
        report["psnr_history"] = progress.psnr
        print(f"{'':10s} {'PSNR':>8s} {'SAM':>8s} {'ERGAS':>8s}")
        for name, m in metrics.items():
            print(f"{name:10s} {m['psnr']:8.2f} {m['sam']:8.3f} {m['ergas']:8.3f}")
    if args.json:
        write_json(Path(args.json), report)
        print(f"wrote {args.json}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(
        Path(args.out),
        size=args.size,
        iterations=args.iterations,
        device=args.device,
        seed=args.seed,
        force=args.force,
        quiet=args.quiet,
        echo=print,
    )
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"hs": _fuse, "pan": _fuse, "flash": _fuse, "demo": _demo}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 bad input or failure, 2 bad usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return COMMANDS[args.command](args)
    except (InputError, ValueError) as exc:
        print(f"gdd: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gdd: interrupted; no output was written", file=sys.stderr)
        return 130
    except torch.cuda.OutOfMemoryError:
        print("gdd: error: the GPU ran out of memory; try --device cpu or a smaller --width", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"gdd: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


def main_entry() -> None:
    """Console-script entry point."""
    raise SystemExit(main())


if __name__ == "__main__":  # pragma: no cover
    main_entry()
