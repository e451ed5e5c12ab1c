"""The degradations of a run: given in files or estimated from the pair, and the problem they make.

:func:`estimate` runs once per run (on the whole scene, or on the central window of a tiled
one) and returns what it found as an :class:`Estimates` value; :func:`build_problem` turns a
window's images, the settings and those estimates into a :class:`gdd.problems.Problem`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..checks import layout_known
from ..estimate import (
    block_kernel,
    estimate_degradation,
    estimate_pan_degradation,
    estimate_srf,
    pair_residual,
)
from ..estimate.check import MAX_FACTOR, MIN_SIDE, inconsistency, unestimable
from ..io import InputError, UsageError, atomic, read_matrix, split_spec, write_preview
from ..operators import GaussianDownsample, KernelDownsample, LinearOperator, SpatialKind, make_spatial
from ..problems import Problem, flash_problem, hs_problem, pan_problem
from ..sensors import ms_gains
from ..simulate.responses import response_on_bands
from .inputs import check_free
from .settings import DegradationSettings, FuseSettings

__all__ = ["ESTIMATE_FILES", "Estimates", "build_problem", "check_degradation_options", "estimate"]

#: Files a run may write beside its result before the fit (the estimated degradations).
ESTIMATE_FILES = ("srf.csv", "kernel.npy", "kernel.png", "estimates.png", "pan-weights.csv")


@dataclass(frozen=True)
class Estimates:
    """What was estimated from the pair (None: not asked for)."""

    srf: torch.Tensor | None = None
    kernel: torch.Tensor | None = None
    gnyq: float | None = None
    #: What the estimate found and wrote, for the JSON record and the report.
    details: dict[str, object] = field(default_factory=dict)


def check_degradation_options(s: FuseSettings) -> None:
    """Refuse options that do not combine, before anything is read."""
    d = s.degradation
    if s.task == "pan" and d.gnyq is not None and d.spatial in ("bicubic", "estimate"):
        raise UsageError(f"--gnyq sets the MS MTF's gains: it does nothing with --spatial {d.spatial}")
    if s.task == "pan" and d.sensor != "none" and d.spatial in ("bicubic", "estimate"):
        raise UsageError(f"--sensor {d.sensor} sets the MS MTF's gains: it does nothing with --spatial {d.spatial}")
    if s.task != "hs":
        return
    if d.blur is not None and d.spatial is not None:
        raise UsageError(f"give --blur or --spatial, not both (--blur {d.blur}, --spatial {d.spatial})")
    if d.srf_support is not None and d.srf != "estimate":
        raise UsageError("--srf-support applies to --srf estimate only")


def _given_kernel(s: FuseSettings) -> torch.Tensor:
    """The ``--blur`` kernel file, checked: square, at least the factor, finite, non-negative, a positive sum."""
    kernel = torch.from_numpy(read_matrix(str(s.degradation.blur), name="blur")).double()
    label = f"blur {split_spec(str(s.degradation.blur))[0]}"
    try:
        KernelDownsample(kernel, s.inputs.factor)  # the shape and the values
    except ValueError as exc:
        raise InputError(f"{label}: {exc}") from None
    if bool((kernel < 0).any()):
        raise InputError(f"{label}: has negative entries (a blur weights the pixels it averages: none below 0)")
    if not float(kernel.sum()) > 0:
        raise InputError(f"{label}: its entries sum to {float(kernel.sum()):.6g}; a blur's entries sum to 1")
    return kernel


def with_response(s: FuseSettings, wavelengths: tuple[float, ...] | None, bands: int) -> FuseSettings:
    """The settings with ``--srf``'s response on the HS image's bands, where it is tabulated by wavelength.

    A response on another wavelength grid (a camera's curves at 1 nm, a satellite's .mat, a
    built-in) is resampled onto the HS image's band wavelengths, as ``gdd simulate`` does; a
    matrix on the bands is read as it is, later.
    """
    d = s.degradation
    if s.task != "hs" or d.srf in (None, "estimate"):
        return s
    m = response_on_bands(str(d.srf), wavelengths, bands)
    return s if m is None else replace(s, degradation=replace(d, response=m))


def _given_response(d: DegradationSettings) -> torch.Tensor:
    """The given response: resolved from its wavelengths (:func:`with_response`), or the file's matrix."""
    if d.response is not None:
        return torch.from_numpy(np.asarray(d.response, dtype=np.float64))
    return torch.from_numpy(read_matrix(str(d.srf), name="srf"))


def _hs_degradation(s: FuseSettings, est: Estimates) -> tuple[torch.Tensor, SpatialKind | LinearOperator, bool]:
    """The response, the spatial degradation and whether to normalise the response, for hs_problem."""
    d = s.degradation
    want_srf, want_blur = d.wants("hs")
    if (want_srf and est.srf is None) or (want_blur and est.kernel is None):
        raise InputError("estimating the degradations needs the whole scene in one fit; give --tile none")
    # Estimates are there when asked for, or when they replaced the given ones (a tiled run's check).
    srf = est.srf if est.srf is not None else _given_response(d)
    spatial: SpatialKind | LinearOperator = d.spatial or "block"  # type: ignore[assignment]
    if est.kernel is not None:
        spatial = KernelDownsample(est.kernel, s.inputs.factor)
    elif d.blur is not None:
        spatial = KernelDownsample(_given_kernel(s), s.inputs.factor)
    # An estimated response maps the HS image's units to the guide's as they are: keep its scale.
    return srf, spatial, d.normalize_srf and est.srf is None  # type: ignore[return-value]


@layout_known()  # the readers said the files' layout
def build_problem(
    s: FuseSettings,
    first: torch.Tensor,
    second: torch.Tensor,
    lr_mask: torch.Tensor | None,
    hr_mask: torch.Tensor | None,
    *,
    estimates: Estimates,
    mixture: torch.Tensor | None = None,
    whole: bool = False,
) -> Problem:
    """The problem of one window: its images (low resolution first), masks, the estimates, the PAN mixture.

    ``whole``: the window is the whole scene, where ``solve`` may check the given HS degradations
    against estimated ones (``Problem.check``); a tile never does, so that every tile fits alike.
    """
    d, factor = s.degradation, s.inputs.factor
    if s.task == "hs":
        srf, spatial, normalize = _hs_degradation(s, estimates)
        check = whole and d.check and not any(d.wants("hs"))
        return hs_problem(
            first, second, srf, factor, spatial=spatial, normalize_srf=normalize, hsi_mask=lr_mask,
            guide_mask=hr_mask, check_degradations=check,
        )  # fmt: skip
    if s.task == "pan":
        estimated = d.spatial == "estimate"
        if estimated and estimates.gnyq is None:
            raise InputError("estimating the degradations needs the whole scene in one fit; give --tile none")
        return pan_problem(
            first,
            second,
            factor,
            full_resolution=d.full_resolution,
            ms_mask=lr_mask,
            pan_mask=hr_mask,
            spatial="mtf" if estimated else d.spatial,  # type: ignore[arg-type]
            gnyq=(estimates.gnyq,) * first.shape[1] if estimated else tuple(ms_gains(d.sensor, first.shape[1], d.gnyq)),  # type: ignore[arg-type]
            mixture=mixture,
        )
    return flash_problem(first, second, noisy_mask=lr_mask, guide_mask=hr_mask)


def _paths(s: FuseSettings, names: tuple[str, ...], force: bool) -> dict[str, Path]:
    paths = {n: s.outputs.beside(n) for n in names}
    for p in paths.values():
        check_free(p, "output", force)
    return paths


_KERNELS = {
    "block": lambda f: block_kernel(f),
    "gaussian": lambda f: torch.outer(GaussianDownsample(f).kernel1d.double(), GaussianDownsample(f).kernel1d.double()),
}


def estimate(
    s: FuseSettings,
    first: torch.Tensor,
    second: torch.Tensor,
    *,
    masked: bool,
    wavelengths: tuple[float, ...] | None,
    force: bool,
) -> Estimates:
    """Estimate what ``--srf estimate``, ``--blur estimate`` or ``pan --spatial estimate`` ask for; write, report it."""
    want_srf, want_blur = s.degradation.wants(s.task)
    if not (want_srf or want_blur):
        return Estimates()
    if masked:
        raise InputError("estimating the degradations cannot leave nodata pixels out; crop them away first")
    if s.task == "pan":
        return _estimate_pan(s, first, second, force)
    d, factor = s.degradation, s.inputs.factor
    k, c = second.shape[1], first.shape[1]
    h, w = first.shape[-2:]
    asked = " and ".join(["--srf estimate"] * want_srf + ["--blur estimate"] * want_blur)
    why = unestimable(h, w, k, c, factor, srf=want_srf, blur=want_blur)
    if why:
        hint = (
            ""
            if min(h, w) < MIN_SIDE  # too small: no larger pair of this one to name
            else "; estimate on a larger pair, or give " + ("--blur or --spatial" if want_blur else "the response")
        )
        raise InputError(f"{asked}: {why}{hint}")
    support = None
    if d.srf_support is not None:
        if len(d.srf_support) != k:
            raise InputError(f"--srf-support gives {len(d.srf_support)} ranges for a guide of {k} bands")
        if max(hi for _, hi in d.srf_support) >= c:
            raise InputError(f"--srf-support: the HS image has bands 0 to {c - 1}")
        support = torch.zeros(k, c, dtype=torch.bool)
        for i, (lo, hi) in enumerate(d.srf_support):
            support[i, lo : hi + 1] = True
    names = ("srf.csv",) * want_srf + ("kernel.npy", "kernel.png") * want_blur + ("estimates.png",)
    paths = _paths(s, names, force)
    given_srf = None
    if not want_srf:
        given_srf = _given_response(d).double()
        if given_srf.shape != (k, c) and given_srf.shape == (c, k):
            given_srf = given_srf.T
        if d.normalize_srf:
            given_srf = given_srf / given_srf.sum(1, keepdim=True)
    kernel = None
    if not want_blur:
        spatial = d.spatial or "block"
        if d.blur is not None:
            kernel = _given_kernel(s)
        elif spatial in ("block", "gaussian"):
            kernel = _KERNELS[spatial](factor)
    read = ""  # says so where the estimate read a window of the pair
    if kernel is None and not want_blur:
        # A spatial model without a kernel form (bicubic, mtf): the response alone.
        op = make_spatial(d.spatial, factor)  # type: ignore[arg-type]
        srf = estimate_srf(first, second, factor, spatial=op, support=support)
        residual, bands = pair_residual(first, second, srf, op)
        offset = None
    else:
        if kernel is None and factor > MAX_FACTOR:
            # The check of given degradations stops at this factor; an estimate asked for goes on, slowly.
            unknowns = (3 * factor) ** 2 + (k * c if given_srf is None else 0)
            print(
                f"estimating a {3 * factor} x {3 * factor} blur at factor {factor} ({unknowns} unknowns): this can "
                "take minutes; --blur FILE or --spatial gaussian is quicker"
            )
        found = estimate_degradation(first, second, factor, srf=given_srf, kernel=kernel, support=support)
        srf, kernel, residual, bands, offset = (
            found.srf, found.kernel, found.residual, found.band_residuals, found.offset
        )  # fmt: skip
        if found.read != tuple(first.shape[-2:]):
            read = f" (from the central {found.read[0]} x {found.read[1]} low-resolution pixels)"
    if want_srf:
        _write_srf_csv(paths["srf.csv"], srf.double().numpy(), wavelengths)
    if want_blur and kernel is not None:
        kern = kernel.double().numpy()
        atomic(paths["kernel.npy"], lambda t: np.save(t, kern))
        write_preview(paths["kernel.png"], np.kron(kern / kern.max(), np.ones((8, 8)))[..., None])
    written = [str(p) for n, p in paths.items() if n != "estimates.png"]
    if _has_matplotlib():
        from ..report import figure_estimates

        png = figure_estimates(
            srf.double().numpy(), None if kernel is None else kernel.double().numpy(), factor=factor,
            wavelengths=wavelengths, residual=residual,
        )  # fmt: skip
        atomic(paths["estimates.png"], lambda t: t.write_bytes(png))
        written.append(str(paths["estimates.png"]))
    what = []
    if want_srf:
        what.append(f"response {k} x {c}")
    if want_blur and kernel is not None and offset is not None:
        what.append(f"blur {kernel.shape[0]} x {kernel.shape[1]} with offset ({offset[0]:+.2f}, {offset[1]:+.2f}) px")
    print(f"estimated {' and '.join(what)}{read}: {_residual_text(residual, bands)}; wrote {', '.join(written)}")
    _warn_inconsistent(residual, bands)
    details: dict[str, object] = {
        "rule": "estimated from the pair",
        "estimated": ["response"] * want_srf + ["blur"] * want_blur,
        "srf": srf.double().tolist(),
        "residual": residual,
        "band_residuals": list(bands),
        "files": written,
    }
    if want_blur and kernel is not None:
        details["kernel_size"] = list(kernel.shape)
        details["offset"] = None if offset is None else list(offset)
    if read:
        details["window"] = read.strip(" ()")
    return Estimates(srf=srf.float(), kernel=None if kernel is None else kernel.float(), details=details)


def _estimate_pan(s: FuseSettings, ms: torch.Tensor, pan: torch.Tensor, force: bool) -> Estimates:
    paths = _paths(s, ("pan-weights.csv",), force)
    d = estimate_pan_degradation(ms, pan, s.inputs.factor)
    lines = ["# PAN = sum_b weight_b MS_b + intercept; MS MTF gain at Nyquist gnyq (gdd pan --spatial estimate)"]
    lines += ["band,weight", *(f"{i + 1},{w:.8g}" for i, w in enumerate(d.weights.tolist()))]
    lines += [f"intercept,{d.intercept:.8g}", f"gnyq,{d.gnyq:.6g}", f"residual,{d.residual:.6g}"]
    text = "\n".join(lines) + "\n"
    atomic(paths["pan-weights.csv"], lambda t: t.write_text(text))
    weights = ", ".join(f"{w:.3f}" for w in d.weights.tolist())
    print(
        f"estimated MS MTF gain {d.gnyq:.3f} and PAN weights {weights} (+ {d.intercept:.3g}): "
        f"{_residual_text(d.residual, (d.residual,))}; wrote {paths['pan-weights.csv']}"
    )
    _warn_inconsistent(d.residual, (d.residual,))
    details = {
        "rule": "estimated from the pair",
        "estimated": ["MS MTF gain", "PAN weights"],
        "gnyq": d.gnyq,
        "pan_weights": d.weights.tolist(),
        "intercept": d.intercept,
        "residual": d.residual,
        "files": [str(paths["pan-weights.csv"])],
    }
    return Estimates(gnyq=d.gnyq, details=details)


def _residual_text(residual: float, bands: tuple[float, ...]) -> str:
    per = ", ".join(f"{b:.1%}" for b in bands)
    return f"the pair's residual {residual:.1%} (unexplained share of the degraded guide; per band {per})"


def _warn_inconsistent(residual: float, bands: tuple[float, ...]) -> None:
    if text := inconsistency(residual):
        print(f"gdd: warning: {text}", file=sys.stderr)


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _write_srf_csv(path: Path, srf: np.ndarray, wavelengths: tuple[float, ...] | None) -> None:
    """The response as gdd hs --srf reads it: one row per HS band, a wavelength column when known."""
    k, c = srf.shape
    header = ",".join(f"guide_band_{i + 1}" for i in range(k))
    body = srf.T
    if wavelengths is not None and len(wavelengths) == c:
        header = "wavelength_nm," + header
        body = np.column_stack([np.asarray(wavelengths, dtype=np.float64), body])
    atomic(path, lambda t: np.savetxt(t, body, delimiter=",", fmt="%.8g", header=header, comments=""))
