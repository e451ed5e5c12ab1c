"""The embedded demo: a simulated hyperspectral scene, fused from a low-res HSI and an RGB image.

The scene is SIMULATED, not measured: each pixel of a photograph bundled with scikit-image
(``astronaut``) gets a non-negative mixture of the 24 measured ColorChecker reflectance spectra
shipped by colour-science (BabelColor average) that reproduces its colour, over 400-700 nm in
10 nm steps (31 bands, as CAVE). The RGB guide uses the Nikon D5100 sensitivities measured by
NPL (also shipped by colour-science); the low-res HSI is the 8 x 8 block average. No download,
no GPU and no ``../shared`` are needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .io import InputError, UsageError, from_tensor, preview_bands, to_rgb8, to_tensor, write_image, write_json
from .metrics import summary
from .progress import ProgressBar

__all__ = ["WAVELENGTHS", "camera_response", "run_demo", "simulated_scene"]

WAVELENGTHS = np.arange(400, 701, 10)

# CIE XYZ -> linear sRGB (IEC 61966-2-1).
_XYZ_TO_RGB = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])


def _need(module: str) -> object:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"the demo needs {module}; install it with: pip install 'gdd[demo]'") from None


def _reflectances() -> np.ndarray:
    """The 24 ColorChecker reflectances, (24, 31), on 400-700 nm."""
    colour = _need("colour")
    sds = colour.SDS_COLOURCHECKERS["BabelColor Average"]  # type: ignore[attr-defined]
    return np.stack([np.asarray(sd[WAVELENGTHS], dtype=np.float64) for sd in sds.values()])


def camera_response() -> np.ndarray:
    """Nikon D5100 (NPL) sensitivities as a (3, 31) matrix, rows R, G, B, each summing to 1."""
    colour = _need("colour")
    msds = colour.MSDS_CAMERA_SENSITIVITIES["Nikon 5100 (NPL)"]  # type: ignore[attr-defined]
    r = np.asarray(msds[WAVELENGTHS], dtype=np.float64).T
    return r / r.sum(axis=1, keepdims=True)


def simulated_scene(size: int = 128, *, image: str = "astronaut") -> np.ndarray:
    """A (size, size, 31) reflectance cube in [0, 1] arranged by a scikit-image photograph.

    Each pixel's linear sRGB colour c is written as c = M a with a >= 0 (non-negative least
    squares over the 24 patches' colours M under an equal-energy white); its spectrum is
    S^T a, a mixture of at most three measured reflectances.
    """
    colour = _need("colour")
    data = _need("skimage.data")
    transform = _need("skimage.transform")
    from scipy.optimize import nnls

    photo = getattr(data, image)()[..., :3].astype(np.float64) / 255
    h, w = photo.shape[:2]
    side = min(h, w)
    photo = photo[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
    photo = transform.resize(photo, (size, size), anti_aliasing=True)  # type: ignore[attr-defined]
    linear = np.where(photo <= 0.04045, photo / 12.92, ((photo + 0.055) / 1.055) ** 2.4)

    spectra = _reflectances()
    cmfs = np.asarray(colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"][WAVELENGTHS])  # type: ignore[attr-defined]
    xyz = spectra @ cmfs / cmfs[:, 1].sum()
    patches_rgb = xyz @ _XYZ_TO_RGB.T  # (24, 3): colour of each patch
    # Colours are quantised to 6 bits for the solve: the cube keeps the photo's shading through
    # the per-pixel brightness ratio below.
    q = np.round(linear.reshape(-1, 3) * 63).astype(np.int64)
    keys, inverse = np.unique(q[:, 0] * 4096 + q[:, 1] * 64 + q[:, 2], return_inverse=True)
    colours = np.stack([keys // 4096, (keys // 64) % 64, keys % 64], axis=1) / 63
    abund = np.stack([nnls(patches_rgb.T, c)[0] for c in colours])
    cube = (abund @ spectra)[inverse.ravel()]
    # Keep the photo's fine shading that quantisation removed.
    lum = linear.reshape(-1, 3).mean(axis=1)
    qlum = colours[inverse.ravel()].mean(axis=1)
    cube *= np.where(qlum > 1e-4, lum / np.maximum(qlum, 1e-4), 1.0)[:, None]
    return np.clip(cube.reshape(size, size, len(WAVELENGTHS)), 0, 1).astype(np.float32)


def _figure(
    path: Path,
    panels: dict[str, np.ndarray],
    cube: np.ndarray,
    est: np.ndarray,
    base: np.ndarray,
    history: list[tuple[int, float]],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 8.4))
    for ax, (title, img) in zip(axes[0], panels.items()):
        ax.imshow(img)
        ax.set_title(title)
        ax.axis("off")
    err_b = np.sqrt(((base - cube) ** 2).mean(axis=2))
    err_g = np.sqrt(((est - cube) ** 2).mean(axis=2))
    vmax = float(np.percentile(err_b, 99))
    for ax, err, title in ((axes[1, 0], err_b, "bicubic: RMSE per pixel"), (axes[1, 1], err_g, "GDD: RMSE per pixel")):
        im = ax.imshow(err, cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(title)
        ax.axis("off")
        fig.colorbar(im, ax=ax, fraction=0.046)
    h, w = cube.shape[:2]
    ax = axes[1, 2]
    for (i, j), style in zip(((h // 3, w // 3), (2 * h // 3, w // 2)), ("-", "--")):
        ax.plot(WAVELENGTHS, cube[i, j], "k" + style, label=f"truth ({i},{j})")
        ax.plot(WAVELENGTHS, base[i, j], "C0" + style, label="bicubic")
        ax.plot(WAVELENGTHS, est[i, j], "C3" + style, label="GDD")
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("reflectance")
    ax.set_title("spectra at two pixels")
    ax.legend(fontsize=7)
    ax = axes[1, 3]
    if history:
        steps, losses = zip(*history)
        ax.semilogy(steps, losses)
    ax.set_xlabel("iteration")
    ax.set_title("loss")
    fig.suptitle("gdd demo on a SIMULATED scene (ColorChecker spectra arranged by a photograph)")
    fig.tight_layout()
    tmp = path.with_name("." + path.name)
    fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    tmp.replace(path)


#: The largest demo scene a side: its cube and fit are held whole in memory.
MAX_SIZE = 2048


def run_demo(
    out: Path,
    *,
    size: int | None = None,
    iterations: int | None = None,
    factor: int = 8,
    device: str = "auto",
    seed: int = 0,
    force: bool = False,
    quiet: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, object]:
    """Simulate, fuse, compare with bicubic, write the result, figures and metrics to ``out``."""
    from .app import choice_line, rule_line, steps_line
    from .fusion import resolve_device
    from .problems import PRESETS, Budget, hs_problem, solve

    dev = resolve_device(device)
    gpu = dev.type != "cpu"
    size = size or (512 if gpu else 128)
    if size % factor:
        raise UsageError(f"--size {size} is not divisible by the factor {factor}")
    if size > MAX_SIZE:
        raise UsageError(f"--size {size}: the demo's scene is at most {MAX_SIZE} pixels a side (gdd hs fuses any size)")
    if size < 4 * factor:
        raise UsageError(f"--size {size}: at least {4 * factor}, so that the low-resolution image has 4 x 4 pixels")
    names = ["result.npy", "figure.png", "metrics.json", "truth.npy", "hsi_lowres.npy", "rgb.npy", "srf.csv"]
    existing = [n for n in names if (out / n).exists()]
    if existing and not force:
        raise InputError(f"{out} already holds {', '.join(existing)}; use --force to overwrite")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    budget: Budget = "authors" if gpu else "cpu"
    preset = PRESETS[("hs", budget)]
    n_iter = iterations if iterations is not None else (3000 if gpu else preset.iterations)

    t0 = time.perf_counter()
    cube = simulated_scene(size)
    srf = camera_response()
    truth = to_tensor(cube)
    hsi = torch.nn.functional.avg_pool2d(truth, factor)
    rgb = torch.einsum("kc,bchw->bkhw", torch.from_numpy(srf).float(), truth)
    echo(
        f"simulated scene: {size} x {size} x {cube.shape[2]} (400-700 nm), HSI {size // factor} x {size // factor} "
        f"(x{factor} block average), RGB by the Nikon D5100 response ({time.perf_counter() - t0:.1f} s)"
    )
    problem = hs_problem(hsi, rgb, torch.from_numpy(srf), factor)
    progress = ProgressBar(preset.steps(n_iter), quiet=quiet, reference=truth)
    try:
        result = solve(problem, device=str(dev), seed=seed, budget=budget, iterations=n_iter, callback=progress)
    finally:
        progress.close()
    est = result.x.detach().cpu().clamp(0, 1)
    base = problem.baseline().clamp(0, 1)
    metrics = {"bicubic": summary(base, truth, ratio=factor), "gdd": summary(est, truth, ratio=factor)}
    total = time.perf_counter() - t0

    out.mkdir(parents=True, exist_ok=True)
    est_np, base_np = from_tensor(est), from_tensor(base)
    write_image(out / "result.npy", est_np, force=True)
    write_image(out / "truth.npy", cube, force=True)
    write_image(out / "hsi_lowres.npy", from_tensor(hsi), force=True)
    write_image(out / "rgb.npy", from_tensor(rgb), force=True)
    np.savetxt(out / "srf.csv", srf, delimiter=",", header="Nikon D5100 (NPL), rows R,G,B; columns 400..700 nm step 10")
    bands = preview_bands(cube.shape[2])
    lr_up = np.repeat(np.repeat(from_tensor(hsi), factor, 0), factor, 1)
    panels = {
        "RGB guide (Nikon D5100)": to_rgb8(from_tensor(rgb), bands=[0, 1, 2]),
        f"low-res HSI (x{factor}), bands {bands}": to_rgb8(lr_up, bands=bands),
        f"GDD: {metrics['gdd']['psnr']:.2f} dB, SAM {metrics['gdd']['sam']:.2f}": to_rgb8(est_np, bands=bands),
        "truth (simulated)": to_rgb8(cube, bands=bands),
    }
    try:
        _figure(out / "figure.png", panels, cube, est_np, base_np, result.history)
        figure = "figure.png"
    except ImportError:
        figure = None
    report = {
        "simulated": True,
        "scene": {
            "size": size,
            "bands": int(cube.shape[2]),
            "factor": factor,
            "photo": "skimage astronaut",
            "spectra": "colour-science ColorChecker BabelColor Average",
            "srf": "Nikon 5100 (NPL)",
        },
        "metrics": metrics,
        "iterations": n_iter,
        "device": dev.type,
        "fit_seconds": result.seconds,
        "ms_per_iteration": 1000 * result.seconds_per_iteration,
        "total_seconds": total,
        "settings": {**result.config.to_dict(), **result.details},
        "choice": result.choice,
    }
    write_json(out / "metrics.json", report)
    echo(f"{'':8s} {'PSNR':>7s} {'SAM':>7s} {'ERGAS':>7s}")
    for name, m in metrics.items():
        echo(f"{name:8s} {m['psnr']:7.2f} {m['sam']:7.3f} {m['ergas']:7.3f}")
    ran = steps_line(result.choice, result.steps, n_iter)
    echo(f"GDD: {ran} in {result.seconds:.1f} s on {dev.type}; total {total:.1f} s")
    for line in (rule_line(result.details), choice_line(result.choice, result.details)):
        if line:
            echo(line)
    echo(f"wrote {out}/: result.npy, {figure or '(no figure: matplotlib missing)'}, metrics.json, inputs")
    return report
