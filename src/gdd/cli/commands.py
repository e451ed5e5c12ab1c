"""``main(argv)``: parse, run the command, and turn every failure into one line and an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..interrupt import Terminated, sigterm_as_interrupt
from ..io import InputError, UsageError, check_output, read_image, write_json
from .parser import build_parser, join_negative_values

__all__ = ["main", "main_entry"]


def _eval(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate_files, format_table, to_csv, to_json, write_text

    for path, suffix in ((args.json, ".json"), (args.csv, ".csv"), (args.report, ".html")):
        if path:
            check_output(path, force=args.force, suffixes=(suffix, ".htm") if suffix == ".html" else (suffix,))
    if args.report:
        from ..app import check_report_options
        from ..report import need_matplotlib

        need_matplotlib()
        result = read_image(args.results[0], name="result", bit_depth=args.bit_depth, layout=args.layout)
        check_report_options(args.bands, args.pixel, result.shape)
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
        nodata=args.nodata,
        window=args.window,
    )
    print(format_table(ev))
    if args.json:
        write_json(Path(args.json), to_json(ev))
        print(f"wrote {args.json}")
    if args.csv:
        write_text(args.csv, to_csv(ev), suffix=".csv", force=args.force)
        print(f"wrote {args.csv}")
    if args.report:
        from ..report import write_report

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
    from ..simulate import run_simulate

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
    from ..bench import run_bench

    _cores()
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
    from ..demo import run_demo

    _cores()
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


def _cores() -> None:
    """Torch's threads no more than the cores this process may use (a cgroup's quota, which torch does not see)."""
    import torch

    from ..app.memory import usable_cpus

    cores = usable_cpus()
    if torch.get_num_threads() > cores:
        torch.set_num_threads(cores)


def _fuse(args: argparse.Namespace) -> int:
    from ..app import fuse
    from ..fusion import deterministic
    from .fusion import fusion_settings

    _cores()
    with deterministic(bool(getattr(args, "deterministic", False))):
        return fuse(fusion_settings(args))


def _batch(args: argparse.Namespace) -> int:
    from ..batch import run_batch

    return run_batch(
        args.manifest, workers=args.workers, gpus=args.gpus, retries=args.retries, ray=args.ray,
        ray_gpus=args.ray_gpus, ray_cpus=args.ray_cpus, force=args.force, dry_run=args.dry_run, quiet=args.quiet,
        shard=args.shard,
    )  # fmt: skip


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "hs": _fuse,
    "pan": _fuse,
    "flash": _fuse,
    "eval": _eval,
    "simulate": _simulate,
    "bench": _bench,
    "demo": _demo,
    "batch": _batch,
}


def _out_of_gpu_memory(exc: BaseException) -> bool:
    torch = sys.modules.get("torch")  # never imported here just to ask
    return torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 bad input or failure, 2 bad usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(join_negative_values(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        with sigterm_as_interrupt():  # a scheduler's time limit: no half-written file stays
            return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"gdd: error: {str(exc).splitlines()[0]} (see gdd {args.command} --help)", file=sys.stderr)
        return 2
    except (InputError, ValueError) as exc:
        print(f"gdd: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        how = "terminated" if isinstance(exc, Terminated) else "interrupted"
        if args.command == "batch":  # its finished jobs' outputs are written: it says what is kept
            print(f"gdd batch: {how}" + (f"; {exc}" if str(exc) else ""), file=sys.stderr)
        else:
            print(f"gdd: {how}; no output was written" + (f" ({exc})" if str(exc) else ""), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except OSError as exc:
        print(f"gdd: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except Exception as exc:
        if _out_of_gpu_memory(exc):
            print("gdd: error: the GPU ran out of memory; try --device cpu or a smaller --width", file=sys.stderr)
            return 1
        raise


def main_entry() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
