"""The ``gdd`` command line: ``gdd hs|pan|flash|eval|simulate|bench|demo``; ``main(argv) -> exit code``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from . import __version__
from .io import InputError, UsageError, check_output, read_image, write_json
from .problems import PAN_SPATIAL
from .run import check_report_options, fuse
from .sensors import SENSORS

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line and exit code 2, as argparse does, without the usage block.
        words = self.prog.split()
        where = f"gdd {words[-1]}" if len(words) > 1 else "gdd"
        self.exit(2, f"gdd: error: {message} (see {where} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _bit_depth(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a bit depth from 1 to 32, got {text!r}") from None
    if not 1 <= value <= 32:
        raise argparse.ArgumentTypeError(f"expected a bit depth from 1 to 32, got {text!r}")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _ints(text: str, count: int | None, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if (count is not None and len(values) != count) or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return values


def _tile(text: str) -> str | int:
    if text in ("auto", "none"):
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a tile size in pixels, auto or none, got {text!r}") from None
    if value < 8:
        raise argparse.ArgumentTypeError(f"expected a tile of at least 8 pixels, got {text!r}")
    return value


def _overlap(text: str) -> str | int:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an overlap in pixels or auto, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative overlap, got {text!r}")
    return value


def _shift(text: str) -> tuple[int, int]:
    try:
        dy, dx = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DY,DX in whole pixels, got {text!r}") from None
    return dy, dx


def _band_triple(text: str) -> tuple[int, ...]:
    return _ints(text, 3, "three band numbers R,G,B counted from 0")


def _pixel(text: str) -> tuple[int, ...]:
    return _ints(text, 2, "ROW,COL counted from 0")


def _supports(text: str) -> tuple[tuple[int, int], ...]:
    spans = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi if sep else lo)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected band ranges LO-HI,... counted from 0, got {text!r}") from None
        if a < 0 or b < a:
            raise argparse.ArgumentTypeError(f"expected band ranges LO-HI with 0 <= LO <= HI, got {part.strip()!r}")
        spans.append((a, b))
    return tuple(spans)


def _percentiles(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH percentiles, got {text!r}") from None
    if not 0 <= lo < hi <= 100:
        raise argparse.ArgumentTypeError(f"expected 0 <= LOW < HIGH <= 100, got {text!r}")
    return lo, hi


def _report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--report", metavar="REPORT.html", help="write one self-contained HTML report: inputs, result, figures, indices"
    )
    p.add_argument("--bands", type=_band_triple, metavar="R,G,B", help="report: the false-colour band triple")
    p.add_argument(
        "--stretch", type=_percentiles, default=(1.0, 99.0), metavar="LOW,HIGH", help="report: percentiles (1,99)"
    )
    p.add_argument(
        "--pixel", type=_pixel, action="append", metavar="ROW,COL", help="report: a pixel for the spectra (repeatable)"
    )


def _nodata(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or nan, got {text!r}") from None


def _file_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--layout",
        default="auto",
        choices=["auto", "hwc", "chw"],
        help="axis order of 3-D .npy/.npz/.mat inputs (default auto: the one short axis holds the bands)",
    )
    p.add_argument(
        "--nodata",
        type=_nodata,
        metavar="VALUE",
        help="mask pixels with this value in any band (nan: NaN/Inf); default: the files' declared nodata",
    )


def _common(p: argparse.ArgumentParser, *, out_required: bool = True) -> None:
    p.add_argument(
        "--out",
        required=out_required,
        help="result file: .npy, .mat, .tif (GeoTIFF when the inputs are georeferenced) or .hdr (ENVI); "
        "a PNG preview is written beside it",
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
    p.add_argument(
        "--init",
        metavar="METHOD",
        help="start from a classic fusion and learn its correction: gsa (GSA / GSA-HS), sfim, exp, mtf_glp, cnmf, "
        "..., none (the authors' start) or auto (pan: chosen from the pair); default: the task's preset "
        "(README, 'Never worse than classic')",
    )
    p.add_argument(
        "--warm-start",
        type=_nonneg_int,
        metavar="STEPS",
        help="with --init: first fit the network to the classic image for STEPS steps (default: the preset's; "
        "100 for pan, 0 for hs)",
    )
    p.add_argument(
        "--residual",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --init: learn a correction of the classic image through a scale that starts at 0 "
        "(default for a named method; --init auto chooses); --no-residual with --warm-start N: the network's "
        "own output, warm-started",
    )
    p.add_argument(
        "--keep-best",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="choose the result by data consistency among the final estimate, the best logged one and the "
        "classic image (default: on for hs and pan, off for flash)",
    )
    p.add_argument("--bit-depth", type=_bit_depth, help="scale integer inputs by 2^N - 1 (e.g. 11 for WorldView DN)")
    _file_options(p)
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "uint16"],
        help="output type (uint16: scaled back by --bit-depth, or 16 bits)",
    )
    _report_options(p)
    fast = p.add_argument_group(
        "fast path", "measured switches of the fit (README, 'Speed'); all off by default, results differ slightly"
    )
    fast.add_argument("--channels-last", action="store_true", help="the network in channels-last memory format")
    fast.add_argument("--amp", choices=["off", "bf16"], default="off", help="bf16 autocast for the network only")
    fast.add_argument(
        "--compile",
        choices=["off", "default", "reduce-overhead"],
        default="off",
        help="torch.compile the network (reduce-overhead: CUDA graphs on CUDA); falls back to eager on failure",
    )
    fast.add_argument("--fused-adam", action="store_true", help="fused Adam (CUDA)")
    fast.add_argument(
        "--no-running-stats", action="store_true", help="batch norm without running statistics (same fit)"
    )
    fast.add_argument("--lr-final", type=float, metavar="LR", help="cosine decay of the learning rate to LR")
    p.add_argument(
        "--tile",
        type=_tile,
        default="auto",
        metavar="SIZE",
        help="fuse in overlapping tiles of SIZE x SIZE pixels, blended back without seams and resumable "
        "(default auto: one fit when the scene fits in the device's free memory, else the largest tile that does; "
        "none: one fit)",
    )
    p.add_argument(
        "--overlap",
        type=_overlap,
        default="auto",
        metavar="PIXELS",
        help="pixels shared by neighbouring tiles (default auto: an eighth of the tile)",
    )
    p.add_argument(
        "--keep-tiles", action="store_true", help="keep the finished tiles' folder after the result is written"
    )
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
    hs.add_argument(
        "--srf",
        required=True,
        help="spectral response matrix, guide bands x HS bands (.csv, .npy, .mat), or 'estimate': from the pair "
        "(written beside --out as STEM.srf.csv)",
    )
    hs.add_argument("--factor", required=True, type=_positive_int, help="resolution ratio")
    hs.add_argument(
        "--spatial",
        choices=["block", "gaussian", "bicubic", "mtf"],
        help="spatial degradation (default block)",
    )
    hs.add_argument(
        "--blur",
        metavar="estimate|KERNEL",
        help="the HS image's blur instead of --spatial: 'estimate' (from the pair, with its registration offset; "
        "written beside --out as STEM.kernel.npy) or a kernel file (.npy/.csv, s x s on the guide's grid)",
    )
    hs.add_argument(
        "--srf-support",
        type=_supports,
        metavar="LO-HI,...",
        help="with --srf estimate: per guide band, the HS bands (from 0) it may respond to, e.g. 0-12,8-22,18-30",
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
    pan.add_argument(
        "--spatial",
        default=PAN_SPATIAL,
        choices=["mtf", "bicubic", "estimate"],
        help=f"how the MS image relates to the result: the sensor's MTF (see --sensor), the authors' bicubic "
        f"(default {PAN_SPATIAL}), or an MTF whose gain and the PAN's band weights are estimated from the pair "
        "(written beside --out as STEM.pan-weights.csv)",
    )
    pan.add_argument(
        "--sensor",
        default="none",
        choices=list(SENSORS),
        help="MTF gains of --spatial mtf (default none: 0.29 per MS band)",
    )
    pan.add_argument(
        "--tile-mixing",
        choices=["per-tile", "shared"],
        default="per-tile",
        help="with tiles: learn the PAN band mixture in every tile (default), or once on the central tile "
        "and keep it for all",
    )
    pan.add_argument(
        "--ensemble",
        action="store_true",
        help="fit from SFIM as a residual and from GSA warm-started, and average the two results "
        "(twice the time; README, 'Never worse than classic')",
    )
    _common(pan)

    fl = sub.add_parser("flash", help="denoise a no-flash image guided by a flash image")
    fl.add_argument("--noisy", required=True, help="noisy no-flash image")
    fl.add_argument("--guide", required=True, help="flash image")
    _common(fl)

    ev = sub.add_parser(
        "eval",
        help="quality indices of results: with --reference, or with --ms and --pan (no reference)",
        description="Reduced resolution: gdd eval RESULT... --reference GT [--ratio R]. "
        "Full resolution: gdd eval RESULT... --ms MS --pan PAN [--sensor S].",
    )
    ev.add_argument("results", nargs="+", metavar="RESULT", help="fused images to evaluate (one table row each)")
    ev.add_argument("--reference", metavar="GT", help="ground truth (reduced-resolution protocol)")
    ev.add_argument("--ms", help="the observed MS image (full-resolution protocol)")
    ev.add_argument("--pan", help="the PAN image (full-resolution protocol)")
    ev.add_argument("--pan-lr", metavar="PAN_LR", help="the PAN at the MS's size (default: PAN through the sensor MTF)")
    ev.add_argument(
        "--sensor", default="none", choices=list(SENSORS), help="MTF gains for D_s and HQNR (default none: 0.29/0.15)"
    )
    ev.add_argument(
        "--pan-degradation",
        default="mtf",
        choices=["mtf", "bicubic"],
        help="how D_s makes the low-res PAN without --pan-lr: the sensor's PAN MTF (default) or bicubic (D_s.m)",
    )
    ev.add_argument(
        "--layout", default="auto", choices=["auto", "hwc", "chw"], help="axis order of 3-D .npy/.npz/.mat inputs"
    )
    ev.add_argument("--ratio", type=_positive_int, help="resolution ratio (needed for ERGAS)")
    ev.add_argument("--data-range", type=float, default=1.0, help="peak value for PSNR and SSIM (default 1.0)")
    ev.add_argument("--dim-cut", type=_nonneg_int, default=0, help="the toolbox's border cut (default 0: none)")
    ev.add_argument("--clip", type=float, metavar="MAX", help="clip results to [0, MAX] first (the toolbox's 2^L)")
    ev.add_argument("--block-size", type=_positive_int, default=32, help="block of Q, Q2n and QNR (default 32)")
    ev.add_argument("--bit-depth", type=_bit_depth, help="scale integer inputs by 2^N - 1")
    ev.add_argument("--json", metavar="OUT.json", help="write the indices and settings as JSON")
    ev.add_argument("--csv", metavar="OUT.csv", help="write the indices as CSV, one row per result")
    _report_options(ev)
    ev.add_argument("--force", action="store_true", help="overwrite existing output files")

    si = sub.add_parser(
        "simulate",
        help="make a reduced-resolution test case from a reference (Wald's protocol)",
        description="An HS case (--srf): the reference cube degraded in space by --factor and projected "
        "by the response. A pansharpening case (--pan): the MS reference and its PAN MTF-filtered and "
        "decimated by --factor. Writes the inputs, the reference and case.json for gdd bench.",
    )
    si.add_argument("reference", help="ground truth: an image file or a CAVE folder of band PNGs")
    si.add_argument("--out", required=True, help="case folder to write")
    si.add_argument("--factor", required=True, type=_positive_int, help="scale factor (the PAN ratio with --pan)")
    si.add_argument(
        "--srf",
        help="HS case: the guide's response: CSV with wavelengths first, satellite .mat[:ms|:pan|:ROWS], "
        "a K x C .npy, or cie1931 / nikon-d5100 / sigma-sdmerill (needs gdd[demo])",
    )
    si.add_argument("--pan", help="pansharpening case: the PAN at factor x the reference's size")
    si.add_argument(
        "--spatial", choices=["block", "gaussian", "mtf"], help="HS degradation (default block); pan cases use the MTF"
    )
    si.add_argument(
        "--sensor", default="none", choices=list(SENSORS), help="MTF gains (none: 0.29 per MS band, 0.15 for the PAN)"
    )
    si.add_argument(
        "--sigma", type=float, help="hs: the Gaussian blur's std in high-resolution pixels (--spatial gaussian)"
    )
    si.add_argument(
        "--shift",
        type=_shift,
        default=(0, 0),
        metavar="DY,DX",
        help="hs: misregister the HSI by whole high-resolution pixels (rows, columns); writes kernel.npy",
    )
    si.add_argument("--snr-db", type=float, help="Gaussian noise per band on both inputs, at this SNR in dB")
    si.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    si.add_argument("--bit-depth", type=_bit_depth, help="divide integer data by 2^N - 1 (reference and PAN)")
    si.add_argument("--crop", action="store_true", help="crop the top-left corner to a multiple of the factor")
    si.add_argument("--force", action="store_true", help="overwrite an existing case")

    be = sub.add_parser(
        "bench",
        help="run GDD and the classic methods on test cases, side by side",
        description="Every method on every case (folders from gdd simulate, or case.json files): "
        "a Markdown and CSV table of the indices and times, and a figure per case.",
    )
    be.add_argument("cases", nargs="+", metavar="CASE", help="case folders (or their case.json)")
    be.add_argument(
        "--methods",
        type=lambda t: [m.strip().replace("-", "_").lower() for m in t.split(",") if m.strip()],
        help="comma-separated, e.g. gdd,gsa,mtf-glp (default: GDD, EXP and the task's classic methods)",
    )
    be.add_argument("--out", required=True, help="folder for bench.md, bench.csv, rows.jsonl, figures, results")
    be.add_argument("--srf", help="simulate CASEs that are references (e.g. CAVE folders) with this response")
    be.add_argument("--factor", type=_positive_int, help="and this factor (block average)")
    be.add_argument("--iterations", type=_nonneg_int, help="GDD's Adam steps (default: the preset for the device)")
    be.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    be.add_argument(
        "--budget",
        choices=["authors", "cpu"],
        help="GDD's preset on any device (default: the device's: authors on a GPU, cpu on a CPU)",
    )
    be.add_argument("--seed", type=int, default=0)
    be.add_argument("--resume", action="store_true", help="go on with the run in --out, skipping what is done")
    be.add_argument("--force", action="store_true", help="start again over a run in --out")
    be.add_argument("--no-figures", action="store_true", help="tables only")
    be.add_argument("--quiet", action="store_true", help="no progress bar")

    ba = sub.add_parser(
        "batch",
        help="run the fusion jobs of a manifest (CSV, JSON or TOML), skipping those done; locally or on Ray",
        description="Each job is a fusion command: task (hs, pan, flash) and its options by long name. "
        "Jobs done (recorded in .MANIFEST.state/ beside the manifest, output present) are skipped; "
        "a failed job is tried again; tiled jobs resume their finished tiles.",
    )
    ba.add_argument("manifest", help="the jobs: .csv (one row each), .json (a list) or .toml ([[jobs]] tables)")
    ba.add_argument("--workers", type=_positive_int, help="jobs at a time on the CPU (default 1; one per GPU on GPUs)")
    ba.add_argument(
        "--gpus", default="auto", help="GPU ids for one worker each, e.g. 0,1 (default auto: every visible GPU; none)"
    )
    ba.add_argument("--retries", type=_nonneg_int, default=2, help="more attempts for a failed job (default 2)")
    ba.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the jobs as Ray tasks: auto (the running cluster), local (start one here), or HOST:PORT / ray://...",
    )
    ba.add_argument(
        "--ray-gpus", type=float, default=None, help="GPUs per job on Ray (default 1 if the cluster has GPUs)"
    )
    ba.add_argument("--ray-cpus", type=float, default=1.0, help="CPUs per job on Ray (default 1)")
    ba.add_argument("--force", action="store_true", help="jobs may overwrite outputs that this batch did not make")
    ba.add_argument("--dry-run", action="store_true", help="list the jobs and whether they are done; run nothing")
    ba.add_argument("--quiet", action="store_true", help="no progress bar")

    demo = sub.add_parser("demo", help="run the embedded, simulated hyperspectral demo")
    demo.add_argument("--out", default="gdd-demo", help="output folder (default gdd-demo)")
    demo.add_argument("--size", type=_positive_int, help="scene size in pixels (default 128 on CPU, 512 on GPU)")
    demo.add_argument("--iterations", type=_nonneg_int, help="Adam steps (default by device)")
    demo.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--force", action="store_true", help="overwrite files in the output folder")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_files, format_table, to_csv, to_json, write_text

    for path, suffix in ((args.json, ".json"), (args.csv, ".csv"), (args.report, ".html")):
        if path:
            check_output(path, force=args.force, suffixes=(suffix, ".htm") if suffix == ".html" else (suffix,))
    if args.report:
        from .report import need_matplotlib

        need_matplotlib()
        result = read_image(args.results[0], name="result", bit_depth=args.bit_depth, layout=args.layout)
        check_report_options(args, result.shape)
    ev = evaluate_files(
        args.results,
        reference=args.reference,
        ms=args.ms,
        pan=args.pan,
        pan_lr=args.pan_lr,
        ratio=args.ratio,
        sensor=args.sensor,
        pan_degradation=args.pan_degradation,
        layout=args.layout,
        data_range=args.data_range,
        dim_cut=args.dim_cut,
        clip=args.clip,
        block_size=args.block_size,
        bit_depth=args.bit_depth,
    )
    print(format_table(ev))
    if args.json:
        write_json(Path(args.json), to_json(ev))
        print(f"wrote {args.json}")
    if args.csv:
        write_text(args.csv, to_csv(ev), suffix=".csv", force=args.force)
        print(f"wrote {args.csv}")
    if args.report:
        from .report import write_report

        bits = args.bit_depth
        if args.reference:
            inputs = {"reference": read_image(args.reference, name="reference", bit_depth=bits)}
        else:
            inputs = {n: read_image(getattr(args, n), name=n, bit_depth=bits) for n in ("ms", "pan")}
        write_report(
            args.report,
            title=f"gdd eval: {ev.rows[0][0]}" + (f" and {len(ev.rows) - 1} more" if len(ev.rows) > 1 else ""),
            inputs={k: v for k, v in inputs.items() if k != "reference"},
            result=result,
            reference=inputs.get("reference"),
            metrics={name: m for name, _, m in ev.rows},
            settings={k: v for k, v in ev.settings.items() if v is not None},
            factor=int(ev.settings.get("ratio") or 1),  # type: ignore[call-overload]
            bands=args.bands,
            pixels=args.pixel,
            percentiles=args.stretch,
            force=args.force,
        )
        print(f"wrote {args.report}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from .simulate import run_simulate

    path = run_simulate(
        reference=args.reference,
        out=args.out,
        factor=args.factor,
        pan=args.pan,
        srf=args.srf,
        spatial=args.spatial,
        sensor=args.sensor,
        snr_db=args.snr_db,
        seed=args.seed,
        bit_depth=args.bit_depth,
        crop=args.crop,
        force=args.force,
        sigma=args.sigma,
        shift=args.shift,
    )
    print(f"wrote {path} and the case's files beside it")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    run_bench(
        args.cases,
        out=args.out,
        methods=args.methods,
        device=args.device,
        seed=args.seed,
        iterations=args.iterations,
        budget=args.budget,
        resume=args.resume,
        force=args.force,
        figures=not args.no_figures,
        quiet=args.quiet,
        srf=args.srf,
        factor=args.factor,
    )
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


def _batch(args: argparse.Namespace) -> int:
    from .batch import run_batch

    return run_batch(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "hs": fuse,
    "pan": fuse,
    "flash": fuse,
    "eval": _eval,
    "simulate": _simulate,
    "bench": _bench,
    "demo": _demo,
    "batch": _batch,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 bad input or failure, 2 bad usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"gdd: error: {str(exc).splitlines()[0]} (see gdd {args.command} --help)", file=sys.stderr)
        return 2
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
