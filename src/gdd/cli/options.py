"""The option table: every option of every command, once.

The parser is built from it (:func:`gdd.cli.parser.build_parser`), and so is everything else that
lists options: which options of a fusion command name files (a batch manifest resolves them
against its folder) and which may differ when a tiled run resumes (they change neither a tile's
pixels nor the blend). This module imports neither torch nor numpy: ``gdd --help`` stays quick.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from ..sensors import SENSORS
from . import types as t

__all__ = ["COMMANDS", "FUSION_TASKS", "Command", "Option", "not_in_plan", "path_options"]

SENSOR_NAMES = tuple(SENSORS)


@dataclass(frozen=True)
class Option:
    """One option: its flags and argparse keywords, its help group, and what it means to a run.

    Attributes:
        path: its value names a file (``estimate`` is a keyword, not a file).
        in_plan: it may change a tiled run's tiles, so a resume with another value starts again.
    """

    flags: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    group: str | None = None
    path: bool = False
    in_plan: bool = True

    @property
    def dest(self) -> str:
        if "dest" in self.kwargs:
            return str(self.kwargs["dest"])
        long = next((f for f in self.flags if f.startswith("--")), self.flags[0])
        return long.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Command:
    help: str
    options: tuple[Option, ...]
    description: str | None = None


def _o(*flags: str, group: str | None = None, path: bool = False, in_plan: bool = True, **kwargs: Any) -> Option:
    return Option(tuple(flags), kwargs, group, path, in_plan)


def _sensor(help_text: str) -> Option:
    return _o("--sensor", default="none", choices=list(SENSOR_NAMES), help=help_text)


FORCE = _o("--force", action="store_true", help="overwrite existing output files", in_plan=False)
QUIET = _o("--quiet", action="store_true", help="no progress bar", in_plan=False)

REPORT: tuple[Option, ...] = (
    _o("--report", metavar="REPORT.html", path=True, in_plan=False, group="report",
       help="write one self-contained HTML report: inputs, result, figures, indices"),
    _o("--bands", type=t.band_triple, metavar="R,G,B", in_plan=False, group="report",
       help="report: the false-colour band triple, counted from 0 (e.g. 4,2,1)"),
    _o("--stretch", type=t.percentiles, default=(1.0, 99.0), metavar="LOW,HIGH", in_plan=False, group="report",
       help="report: percentiles (1,99)"),
    _o("--pixel", type=t.pixel, action="append", metavar="ROW,COL", in_plan=False, group="report",
       help="report: a pixel for the spectra (repeatable)"),
)  # fmt: skip

FUSION: tuple[Option, ...] = (
    _o("--out", required=True, path=True, in_plan=False, group="outputs",
       help="result file: .npy, .mat, .tif (a Cloud-Optimized GeoTIFF, georeferenced like the inputs), .hdr "
       "(ENVI), or .png/.jpg (one or three bands); a PNG preview is written beside it"),
    _o("--iterations", type=t.nonneg_int, group="model",
       help="Adam steps of each fit, --warm-start's among them; the chosen fit may then go on with every pixel "
       "for as many again (--refit). Default: the task's preset for the device (on a CPU hs 600, pan 500, "
       "flash 250; the authors' budget 20001, 8001, 1001)"),
    _o("--width", type=t.positive, group="model", help="feature channels of the network (default: the preset's)"),
    _o("--seed", type=int, default=0, group="model", help="random seed (default 0)"),
    _o("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], group="model",
       help="default auto: CUDA, else MPS, else CPU"),
    _o("--budget", choices=["authors", "cpu"], group="model",
       help="preset: the authors' settings or the CPU ones (default: by device)"),
    _o("--reference", metavar="GT", path=True, group="inputs",
       help="ground truth: print PSNR, SAM, ERGAS of the result and of the input as it is (bicubic upsampling; "
       "flash: the noisy photo)"),
    _o("--json", metavar="METRICS.json", path=True, in_plan=False, group="outputs",
       help="write metrics, time and settings as JSON"),
    _o("--average-last", type=t.nonneg_int, group="model",
       help="result = mean of the last N estimates (0: the last one; default: preset)"),
    _o("--init", metavar="METHOD", group="model",
       help="start from a classic fusion and learn its correction: gsa (GSA / GSA-HS), sfim, exp, mtf_glp, cnmf, "
       "..., none (the authors' start) or auto (pan: chosen from the pair); a named start is fitted alone; "
       "default: the task's preset (hs: GSA-HS and none, each fitted, held-out pixels choose; flash has no "
       "classic start: none)"),
    _o("--warm-start", type=t.nonneg_int, metavar="STEPS", group="model",
       help="with --init: first fit the network to the classic image for STEPS steps (default: the preset's, "
       "at most a fifth of --iterations; 100 for pan, 0 for hs; not for flash)"),
    _o("--residual", action=argparse.BooleanOptionalAction, default=None, group="model",
       help="with --init: learn a correction of the classic image through a scale that starts at 0 "
       "(default for a named method; --init auto chooses); --no-residual with --warm-start N: the network's "
       "own output, warm-started"),
    _o("--keep-best", action=argparse.BooleanOptionalAction, default=None, group="model",
       help="return the candidate (the final estimate, the best checked iterate, the classic image) that predicts "
       "the held-out pixels best, or with --holdout 0 that fits the data closest (default: on)"),
    _o("--holdout", type=t.share, metavar="SHARE", group="model",
       help="share of the low-resolution (flash: noisy) pixels left out of the loss to choose the start, the "
       "iterate and the result by their error (default 0.1; 0: none)"),
    _o("--patience", type=t.nonneg_int, metavar="CHECKS", group="model",
       help="with --holdout: stop after CHECKS scorings (every 25 steps) without a better held-out error "
       "(default: the preset's; 0: run every step)"),
    _o("--refit", action=argparse.BooleanOptionalAction, default=None, group="model",
       help="with --holdout: give the chosen fit every pixel back: it goes on with every pixel from the estimate "
       "chosen (where it ended, or the earlier step chosen) until the held-out pixels are fitted as well as the kept "
       "ones were (default: on; --no-refit returns the chosen estimate as fitted, without the held-out pixels, "
       "a residual on its classic start made from every pixel)"),
    _o("--bit-depth", type=t.bit_depth, group="inputs",
       help="scale integer inputs by 2^N - 1 (e.g. 11 for WorldView DN)"),
    _o("--layout", default="auto", choices=["auto", "hwc", "chw"], group="inputs",
       help="axis order of 3-D .npy/.npz/.mat inputs (default auto: the one short axis holds the bands)"),
    _o("--nodata", type=t.nodata, metavar="VALUE", group="inputs",
       help="mask pixels with this value in any band (nan: NaN/Inf), as stored (before a GDAL or ENVI scale "
       "and offset); default: the files' declared nodata"),
    _o("--dtype", default="float32", choices=["float32", "uint16", "input"], in_plan=False, group="outputs",
       help="output type: float32 (default); uint16 (scaled back by --bit-depth, or 16 bits); input: the "
       "low-resolution input's type and scale (its digital numbers, or its GDAL scale and offset, kept)"),
    _o("--co", type=t.creation_option, action="append", metavar="KEY=VALUE", in_plan=False, group="outputs",
       help="a GDAL creation option of a .tif result, a Cloud-Optimized GeoTIFF (repeatable; e.g. COMPRESS=ZSTD, "
       "BLOCKSIZE=256; default COMPRESS=DEFLATE PREDICTOR=YES OVERVIEWS=AUTO RESAMPLING=AVERAGE; options that "
       "reproject, such as TARGET_SRS or TILING_SCHEME, are refused)"),
    _o("--extent", default="same", choices=["same", "intersection"], group="inputs",
       help="georeferenced inputs: same (default: the two must cover one area on aligned grids) or intersection "
       "(fuse the area both cover, on grids that meet at whole pixels)"),
    *REPORT,
    _o("--channels-last", action=argparse.BooleanOptionalAction, default=None, group="fast path",
       help="the network in channels-last memory format (default: on for a CPU)"),
    _o("--amp", choices=["auto", "off", "bf16"], default="auto", group="fast path",
       help="bf16 autocast for the network only (default auto: bf16 on a CPU with hardware bf16, else off)"),
    _o("--compile", choices=["off", "default", "reduce-overhead"], default="off", group="fast path",
       help="torch.compile the network (reduce-overhead: CUDA graphs on CUDA); falls back to eager on failure"),
    _o("--fused-adam", action="store_true", group="fast path", help="fused Adam (CUDA)"),
    _o("--no-running-stats", action="store_true", group="fast path",
       help="batch norm without running statistics (same fit)"),
    _o("--lr-final", type=t.positive_number, metavar="LR", group="fast path",
       help="cosine decay of the learning rate to LR"),
    _o("--deterministic", action="store_true", in_plan=False, group="fast path",
       help="deterministic GPU kernels, so that a seeded rerun on a GPU gives the same result (slower; "
       "warns where an operation has none); a CPU rerun with the same thread count already does"),
    _o("--tile", type=t.tile, default="auto", metavar="SIZE", in_plan=False, group="tiling",
       help="fuse in overlapping tiles of SIZE x SIZE pixels, blended back without seams and resumable "
       "(default auto: one fit when the scene fits in the device's free memory, else the largest tile that does; "
       "none: one fit)"),
    _o("--overlap", type=t.overlap, default="auto", metavar="PIXELS", in_plan=False, group="tiling",
       help="pixels shared by neighbouring tiles (default auto: an eighth of the tile)"),
    _o("--keep-tiles", action="store_true", in_plan=False, group="tiling",
       help="keep the finished tiles' folder after the result is written"),
    FORCE,
    QUIET,
)  # fmt: skip

#: The groups of a fusion command's help, in order, with their descriptions.
GROUPS = {
    "inputs": None,
    "model": None,
    "outputs": None,
    "report": None,
    "tiling": None,
    "fast path": "measured switches of the fit (docs: Speed); on a CPU channels-last and (with hardware bf16) "
    "bf16 are on by default, the rest off",
}

HS: tuple[Option, ...] = (
    _o("--hsi", required=True, path=True, group="inputs",
       help="low-resolution HS image (file, file.mat:VAR or a folder of band PNGs)"),
    _o("--guide", required=True, path=True, group="inputs", help="high-resolution RGB/MS image"),
    _o("--srf", required=True, path=True, group="inputs",
       help="spectral response: a matrix, guide bands x HS bands (.csv, .npy, .mat); a table by wavelength "
       "(CSV with wavelengths first, satellite .mat[:ms|:ROWS], cie1931 ... with gdd[demo]), resampled onto the HS "
       "image's band "
       "wavelengths; or 'estimate': from the pair (written beside --out as STEM.srf.csv)"),
    _o("--factor", required=True, type=t.positive, group="inputs", help="resolution ratio"),
    _o("--spatial", choices=["block", "gaussian", "bicubic", "mtf"], group="model",
       help="spatial degradation (default block)"),
    _o("--blur", metavar="estimate|KERNEL", path=True, group="model",
       help="the HS image's blur instead of --spatial: 'estimate' (from the pair, with its registration offset; "
       "written beside --out as STEM.kernel.npy) or a kernel file (.npy/.csv, s x s on the guide's grid)"),
    _o("--srf-support", type=t.supports, metavar="LO-HI,...", group="model",
       help="with --srf estimate: per guide band, the HS bands (from 0) it may respond to, e.g. 0-12,8-22,18-30"),
    _o("--no-normalize-srf", action="store_true", group="model",
       help="use the response rows as given (default: scale each to sum 1)"),
    _o("--average-at-noise", action="store_true", default=None, group="model",
       help="of the two fits, return their mean where the one that predicts the held-out pixels best does so "
       "to within twice the HS image's estimated noise variance and is less than 2 standard errors ahead of "
       "the mean (default: the best predictor)"),
    _o("--keep-degradations", action="store_true", group="model",
       help="fit with the given --srf and spatial degradation even where a response and blur estimated from "
       "the pair predict its unseen half better (by default those are used then; a tiled run checks on its "
       "central window)"),
)  # fmt: skip

PAN: tuple[Option, ...] = (
    _o("--ms", required=True, path=True, group="inputs", help="multispectral image"),
    _o("--pan", required=True, path=True, group="inputs", help="panchromatic image (H x W or H x W x 1)"),
    _o("--ratio", required=True, type=t.positive, group="inputs", help="resolution ratio (e.g. 4)"),
    _o("--full-resolution", action="store_true", group="model",
       help="fuse at full resolution (MS weight 100 instead of 10)"),
    # The default is the problem's (gdd.problems.PAN_SPATIAL, checked equal by a test).
    _o("--spatial", default="auto", choices=["auto", "mtf", "bicubic", "estimate"], group="model",
       help="how the MS image relates to the result: auto chooses between the authors' bicubic and the sensor's MTF "
       "the one under which the classic start, made consistent with the kept MS pixels, predicts held-out ones "
       "best, or the sensor's MTF "
       "(see --sensor), bicubic, or an MTF whose gain and the PAN's band weights are estimated from the pair "
       "(written beside --out as STEM.pan-weights.csv); default auto"),
    _o("--sensor", default="none", choices=list(SENSOR_NAMES), group="model",
       help="MTF gains of --spatial mtf (default none: 0.29 per MS band; --gnyq for another sensor)"),
    _o("--gnyq", type=t.gains, metavar="G[,G...]", group="model",
       help="the MS bands' MTF gains at the Nyquist frequency, for a sensor --sensor does not list: one for every "
       "band or one per band (e.g. 0.34,0.32,0.30,0.22); instead of --sensor's"),
    _o("--tile-mixing", choices=["per-tile", "shared"], default="per-tile", group="tiling",
       help="with tiles: learn the PAN band mixture in every tile (default), or once on the central tile "
       "and keep it for all"),
    _o("--ensemble", action="store_true", group="model",
       help="fit from SFIM as a residual and from GSA warm-started; return the fit, their mean or SFIM, "
       "whichever predicts the held-out pixels best (with --holdout 0: the mean) (twice the time)"),
)  # fmt: skip

FLASH: tuple[Option, ...] = (
    _o("--noisy", required=True, path=True, group="inputs", help="noisy no-flash image"),
    _o("--guide", required=True, path=True, group="inputs", help="flash image"),
)

EVAL: tuple[Option, ...] = (
    _o("results", nargs="+", metavar="RESULT", help="fused images to evaluate (one table row each)"),
    _o("--reference", metavar="GT", help="ground truth (reduced-resolution protocol)"),
    _o("--ms", help="the observed MS image (full-resolution protocol)"),
    _o("--pan", help="the PAN image (full-resolution protocol)"),
    _o("--pan-lr", metavar="PAN_LR", help="the PAN at the MS's size (default: PAN through the sensor MTF)"),
    _sensor("MTF gains for D_s and HQNR (default none: 0.29/0.15)"),
    _o("--pan-degradation", default="mtf", choices=["mtf", "bicubic"],
       help="how D_s makes the low-res PAN without --pan-lr: the sensor's PAN MTF (default) or bicubic (D_s.m)"),
    _o("--layout", default="auto", choices=["auto", "hwc", "chw"], help="axis order of 3-D .npy/.npz/.mat inputs"),
    _o("--ratio", type=t.positive, help="resolution ratio (needed for ERGAS)"),
    _o("--data-range", type=t.positive_number, default=1.0, help="peak value for PSNR and SSIM (default 1.0)"),
    _o("--dim-cut", type=t.nonneg_int, default=0, help="the toolbox's border cut (default 0: none)"),
    _o("--clip", type=t.positive_number, metavar="MAX", help="clip results to [0, MAX] first (the toolbox's 2^L)"),
    _o("--block-size", type=t.positive, help="block of Q, Q2n and QNR (default 32)"),
    _o("--bit-depth", type=t.bit_depth, help="scale integer inputs by 2^N - 1"),
    _o("--nodata", type=t.nodata, metavar="VALUE",
       help="pixels with this value in any band (nan: NaN/Inf) are nodata (default: the files' declared "
       "nodata); the indices are computed on the rectangle of valid pixels, or on the largest rectangle of "
       "data where nodata cuts into it"),
    _o("--window", type=t.positive, default=2048, metavar="PIXELS",
       help="with --reference, images larger than this on a side are read and evaluated window by window "
       "(the same figures, a window of each file in memory; default 2048)"),
    _o("--json", metavar="OUT.json", help="write the indices and settings as JSON"),
    _o("--csv", metavar="OUT.csv", help="write the indices as CSV, one row per result"),
    *REPORT,
    FORCE,
)  # fmt: skip

SIMULATE: tuple[Option, ...] = (
    _o("reference", help="ground truth: an image file or a CAVE folder of band PNGs"),
    _o("--out", required=True, help="case folder to write"),
    _o("--factor", required=True, type=t.factor, help="scale factor (the PAN ratio with --pan)"),
    _o("--srf", help="HS case: the guide's response: CSV with wavelengths first, satellite .mat[:ms|:pan|:ROWS], "
       "a K x C .npy, or cie1931 / nikon-d5100 / sigma-sdmerrill (needs gdd[demo])"),
    _o("--pan", help="pansharpening case: the PAN at factor x the reference's size"),
    _o("--spatial", choices=["block", "gaussian", "mtf"], help="HS degradation (default block); pan cases use the MTF"),
    _sensor("MTF gains (none: 0.29 per MS band, 0.15 for the PAN)"),
    _o("--sigma", type=t.positive_number,
       help="hs: the Gaussian blur's std in high-resolution pixels (--spatial gaussian)"),
    _o("--shift", type=t.shift, default=(0, 0), metavar="DY,DX",
       help="hs: misregister the HSI by whole high-resolution pixels (rows, columns); writes kernel.npy"),
    _o("--snr-db", type=t.finite_number, help="Gaussian noise per band on both inputs, at this SNR in dB"),
    _o("--seed", type=t.nonneg_int, default=0, help="noise seed (default 0)"),
    _o("--bit-depth", type=t.bit_depth, help="divide integer data by 2^N - 1 (reference and PAN)"),
    _o("--crop", action="store_true", help="crop the top-left corner to a multiple of the factor"),
    _o("--force", action="store_true", help="overwrite an existing case"),
)  # fmt: skip

#: The methods of ``gdd bench`` by task, named in its help (``gdd.bench.method_names`` has them; a test checks).
BENCH_METHODS = {
    "both": ("gdd", "gdd_authors", "dip", "exp"),
    "pan": ("brovey", "pca", "gs", "gsa", "mtf_glp", "mtf_glp_hpm", "sfim"),
    "hs": ("gsa_hs", "sfim_hs", "glp_hs", "cnmf"),
}

BENCH: tuple[Option, ...] = (
    _o("cases", nargs="+", metavar="CASE", help="case folders (or their case.json)"),
    _o("--methods", type=t.method_list,
       help="comma-separated (default: GDD, EXP and the task's classic methods); any task: "
       f"{', '.join(BENCH_METHODS['both'])}; pansharpening: {', '.join(BENCH_METHODS['pan'])}; "
       f"HS fusion: {', '.join(BENCH_METHODS['hs'])}"),
    _o("--out", required=True, help="folder for bench.md, bench.csv, rows.jsonl, figures, results"),
    _o("--srf", help="simulate CASEs that are references (e.g. CAVE folders) with this response"),
    _o("--factor", type=t.positive, help="and this factor (block average)"),
    _o("--iterations", type=t.nonneg_int, help="GDD's Adam steps (default: the preset for the device)"),
    _o("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"]),
    _o("--budget", choices=["authors", "cpu"],
       help="GDD's preset on any device (default: the device's: authors on a GPU, cpu on a CPU)"),
    _o("--seed", type=int, default=0),
    _o("--resume", action="store_true", help="go on with the run in --out, skipping what is done"),
    _o("--force", action="store_true", help="start again over a run in --out"),
    _o("--no-figures", action="store_true", help="tables only"),
    QUIET,
)  # fmt: skip

BATCH: tuple[Option, ...] = (
    _o("manifest", help="the jobs: .csv (one row each), .json (a list) or .toml ([[jobs]] tables)"),
    _o("--workers", type=t.positive, help="jobs at a time on the CPU (default 1; one per GPU on GPUs)"),
    _o("--gpus", default="auto", help="GPU ids for one worker each, e.g. 0,1 (default auto: every visible GPU; none)"),
    _o("--retries", type=t.nonneg_int, default=2, help="more attempts for a failed job (default 2)"),
    _o("--ray", metavar="ADDRESS",
       help="run the jobs as Ray tasks: auto (the running cluster), local (start one here), or HOST:PORT / ray://..."),
    _o("--ray-gpus", type=float, default=None, help="GPUs per job on Ray (default 1 if the cluster has GPUs)"),
    _o("--ray-cpus", type=float, default=1.0, help="CPUs per job on Ray (default 1)"),
    _o("--force", action="store_true",
       help="jobs may overwrite outputs that this batch did not make, and start again tiles of another command"),
    _o("--shard", type=t.shard, metavar="I/N",
       help="run only the I-th of N shares of the jobs (jobs I, I+N, I+2N, ... in manifest order), e.g. "
       "--shard $SLURM_ARRAY_TASK_ID/4 in a job array of 1-4; shares share the done records and resume alike"),
    _o("--dry-run", action="store_true", help="list the jobs and whether they are done; run nothing"),
    QUIET,
)  # fmt: skip

DEMO: tuple[Option, ...] = (
    _o("--out", default="gdd-demo", help="output folder (default gdd-demo)"),
    _o("--size", type=t.positive, help="scene size in pixels (default 128 on CPU, 512 on GPU)"),
    _o("--iterations", type=t.nonneg_int, help="Adam steps (default by device)"),
    _o("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"]),
    _o("--seed", type=int, default=0),
    _o("--force", action="store_true", help="overwrite files in the output folder"),
    QUIET,
)

FUSION_TASKS = ("hs", "pan", "flash")

COMMANDS: dict[str, Command] = {
    "hs": Command("fuse a low-res hyperspectral image with a high-res RGB/MS image", HS + FUSION),
    "pan": Command("pansharpen an MS image with a PAN image", PAN + FUSION),
    "flash": Command("denoise a no-flash image guided by a flash image", FLASH + FUSION),
    "eval": Command(
        "quality indices of results: with --reference, or with --ms and --pan (no reference)",
        EVAL,
        "Reduced resolution: gdd eval RESULT... --reference GT [--ratio R]. "
        "Full resolution: gdd eval RESULT... --ms MS --pan PAN [--sensor S].",
    ),
    "simulate": Command(
        "make a reduced-resolution test case from a reference (Wald's protocol)",
        SIMULATE,
        "An HS case (--srf): the reference cube degraded in space by --factor and projected "
        "by the response. A pansharpening case (--pan): the MS reference and its PAN MTF-filtered and "
        "decimated by --factor. Writes the inputs, the reference and case.json for gdd bench.",
    ),
    "bench": Command(
        "run GDD and the classic methods on test cases, side by side",
        BENCH,
        "Every method on every case (folders from gdd simulate, or case.json files): "
        "a Markdown and CSV table of the indices and times, and a figure per case.",
    ),
    "batch": Command(
        "run the fusion jobs of a manifest (CSV, JSON or TOML), skipping those done; locally or on Ray",
        BATCH,
        "Each job is a fusion command: task (hs, pan, flash) and its options by long name. "
        "Jobs done (recorded in .MANIFEST.state/ beside the manifest, output present) are skipped; "
        "a failed job is tried again; tiled jobs resume their finished tiles.",
    ),
    "demo": Command("run the embedded, simulated hyperspectral demo", DEMO),
}


def path_options() -> frozenset[str]:
    """The fusion options (by ``dest``) whose values name files."""
    return frozenset(o.dest for task in FUSION_TASKS for o in COMMANDS[task].options if o.path)


def repeated_options() -> frozenset[str]:
    """The fusion options (by ``dest``) that may be given more than once."""
    options = (o for task in FUSION_TASKS for o in COMMANDS[task].options)
    return frozenset(o.dest for o in options if o.kwargs.get("action") == "append")


def not_in_plan() -> frozenset[str]:
    """The fusion options (by ``dest``) that change neither a tile's pixels nor the blend."""
    return frozenset(o.dest for task in FUSION_TASKS for o in COMMANDS[task].options if not o.in_plan)
