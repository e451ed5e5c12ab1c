"""Files <-> arrays; the only place where H x W x C numpy meets (B, C, H, W) torch.

Readers return float32 H x W x C arrays (integer images scaled to [0, 1] by their bit depth);
writers are atomic (a temporary file renamed into place), so an interrupted run leaves no half
file. Every problem a user can cause is raised as :class:`InputError` with a one-line message.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "InputError",
    "check_output",
    "from_tensor",
    "preview_bands",
    "read_image",
    "read_matrix",
    "split_spec",
    "to_rgb8",
    "to_tensor",
    "write_image",
    "write_json",
    "write_preview",
]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
OUTPUT_SUFFIXES = (".npy", ".mat", ".tif", ".tiff")


class InputError(ValueError):
    """A problem with the user's files or arguments, told in one line."""


def split_spec(spec: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """Split ``file.mat:VAR`` / ``file.npz:KEY`` into the path and the variable name.

    Example:
        >>> split_spec("data/pan_im4.mat:I_MS_GT")
        (PosixPath('data/pan_im4.mat'), 'I_MS_GT')
    """
    text = os.fspath(spec)
    m = re.match(r"^(.*\.(?:mat|npz)):([^/\\:]+)$", text, flags=re.IGNORECASE)
    if m:
        return Path(m.group(1)), m.group(2)
    return Path(text), None


def _scale_integers(a: np.ndarray, name: str, bit_depth: int | None = None) -> np.ndarray:
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        top = float(2**bit_depth - 1) if bit_depth else (255.0 if a.dtype.itemsize == 1 else 65535.0)
        if a.size and a.max() > top:
            what = f"--bit-depth {bit_depth}" if bit_depth else "16 bits"
            raise InputError(f"{name}: integer values up to {a.max()} do not fit {what}; give the right --bit-depth")
        return a.astype(np.float32) / top
    if np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float32)
    raise InputError(f"{name}: unsupported data type {a.dtype}")


def _pick(arrays: dict[str, np.ndarray], var: str | None, name: str) -> np.ndarray:
    if var is not None:
        if var not in arrays:
            raise InputError(f"{name}: no variable {var!r}; it has {', '.join(sorted(arrays)) or 'none'}")
        return arrays[var]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    raise InputError(f"{name}: holds several arrays ({', '.join(sorted(arrays))}); choose one as {name}:NAME")


def _read_mat(path: Path, var: str | None) -> np.ndarray:
    import scipy.io

    try:
        data = scipy.io.loadmat(path)
    except NotImplementedError as exc:
        raise InputError(f"{path}: MATLAB v7.3 (HDF5) files are not supported yet; save with -v7") from exc
    arrays = {k: v for k, v in data.items() if not k.startswith("__") and isinstance(v, np.ndarray)}
    arrays = {k: v for k, v in arrays.items() if v.dtype != object and v.size > 1}
    return _pick(arrays, var, str(path))


def _read_npz(path: Path, var: str | None) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if z[k].ndim >= 2}
    return _pick(arrays, var, str(path))


def _read_picture(path: Path) -> np.ndarray:
    if path.suffix.lower() in {".tif", ".tiff"}:
        import tifffile

        return np.asarray(tifffile.imread(path))
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode in {"P", "CMYK", "YCbCr", "LA", "PA"}:
            im = im.convert("RGBA" if "A" in im.mode else "RGB")
        return np.asarray(im)


def _read_band_folder(path: Path) -> np.ndarray:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png" and re.search(r"\d+$", p.stem))
    if not files:
        raise InputError(f"{path}: a folder must hold one numbered PNG per band (e.g. name_01.png)")
    files.sort(key=lambda p: int(re.search(r"(\d+)$", p.stem).group(1)))  # type: ignore[union-attr]
    bands: list[np.ndarray] = []
    for f in files:
        b = _read_picture(f)
        if b.ndim == 3:
            b = b[..., 0] if b.shape[2] in (1, 3, 4) else b
        if bands and b.shape != bands[0].shape:
            raise InputError(f"{f}: band size {b.shape} differs from {bands[0].shape}")
        bands.append(_scale_integers(b, str(f)))
    return np.stack(bands, axis=-1)


_READERS: dict[str, Callable[[Path, str | None], np.ndarray]] = {
    ".npy": lambda p, v: np.load(p, allow_pickle=False),
    ".npz": _read_npz,
    ".mat": _read_mat,
}


def read_image(spec: str | os.PathLike[str], *, name: str = "image", bit_depth: int | None = None) -> np.ndarray:
    """Read an image as float32 H x W x C (a 2-D array becomes H x W x 1).

    Accepts ``.npy``, ``.npz[:KEY]``, ``.mat[:VAR]`` (v5), PNG/JPG/BMP/TIFF and a CAVE-style
    folder of one PNG per band. Integer data is scaled to [0, 1] by ``bit_depth`` when given
    (e.g. 11 for WorldView digital numbers: divided by 2047), else by its type (8 or 16 bits).
    Float data is taken as it is.

    Raises:
        InputError: missing or unreadable file, unknown variable, wrong dimensions, NaN/Inf.
    """
    path, var = split_spec(spec)
    label = f"{name} {path}"
    if not path.exists():
        raise InputError(f"{label}: file not found")
    try:
        if path.is_dir():
            arr = _read_band_folder(path)
        elif path.stat().st_size == 0:
            raise InputError(f"{label}: file is empty")
        elif path.suffix.lower() in _READERS:
            arr = _READERS[path.suffix.lower()](path, var)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            arr = _read_picture(path)
        else:
            raise InputError(
                f"{label}: unknown format {path.suffix!r} (use .npy, .npz, .mat, .png, .jpg, .tif or a folder)"
            )
    except InputError as exc:
        raise InputError(str(exc) if str(exc).startswith(name) else f"{name} {exc}") from None
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{label}: cannot read ({reason})") from None
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise InputError(f"{label}: expected an H x W or H x W x C image, got shape {arr.shape}")
    if bit_depth is not None and not 1 <= bit_depth <= 32:
        raise InputError(f"--bit-depth must be between 1 and 32, got {bit_depth}")
    arr = _scale_integers(arr, label, bit_depth)
    if not np.isfinite(arr).all():
        raise InputError(f"{label}: contains NaN or Inf values")
    return np.ascontiguousarray(arr)


def read_matrix(spec: str | os.PathLike[str], *, name: str = "matrix") -> np.ndarray:
    """Read a 2-D matrix (a spectral response) from CSV/TXT, ``.npy``, ``.npz`` or ``.mat``.

    In a CSV with a header row, columns whose name starts with ``wavelength`` or ``lambda`` are
    dropped (they label the rows); comment lines start with ``#``.
    """
    path, var = split_spec(spec)
    label = f"{name} {path}"
    if not path.is_file():
        raise InputError(f"{label}: file not found")
    try:
        if path.suffix.lower() in {".csv", ".txt"}:
            with open(path, newline="") as fh:
                rows = [r for r in csv.reader(line for line in fh if line.strip() and not line.startswith("#"))]
            if not rows:
                raise InputError(f"{label}: file is empty")
            header: list[str] | None = None
            try:
                [float(v) for v in rows[0]]
            except ValueError:
                header, rows = [h.strip().lower() for h in rows[0]], rows[1:]
            m = np.array([[float(v) for v in r] for r in rows], dtype=np.float64)
            if header is not None:
                keep = [i for i, h in enumerate(header) if not h.startswith(("wavelength", "lambda"))]
                m = m[:, keep]
        elif path.suffix.lower() in _READERS:
            m = np.asarray(_READERS[path.suffix.lower()](path, var), dtype=np.float64)
        else:
            raise InputError(f"{label}: unknown format {path.suffix!r} (use .csv, .npy, .npz or .mat)")
    except InputError as exc:
        raise InputError(str(exc) if str(exc).startswith(name) else f"{name} {exc}") from None
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{label}: cannot read ({reason})") from None
    m = np.squeeze(m) if m.ndim > 2 else m
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2:
        raise InputError(f"{label}: expected a 2-D matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise InputError(f"{label}: contains NaN or Inf values")
    return m


def to_tensor(a: np.ndarray) -> Tensor:
    """H x W x C numpy -> (1, C, H, W) float32 torch."""
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))[None]


def from_tensor(x: Tensor) -> np.ndarray:
    """(1, C, H, W) torch -> H x W x C float32 numpy."""
    return x[0].detach().float().cpu().permute(1, 2, 0).numpy()


def check_output(
    path: str | os.PathLike[str], *, force: bool, suffixes: Sequence[str] = OUTPUT_SUFFIXES, what: str = "output"
) -> Path:
    """Check that ``path`` can be written: one of ``suffixes``, and not there unless ``force``."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise InputError(f"{what} {p}: unknown format {p.suffix!r} (use {', '.join(suffixes)})")
    if p.exists() and not force:
        raise InputError(f"output {p} exists; use --force to overwrite it")
    if p.exists() and p.is_dir():
        raise InputError(f"output {p} is a folder")
    return p


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp makes the file private (0600); give it the permissions of a plain open().
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(path: str | os.PathLike[str], arr: np.ndarray, *, force: bool = False, name: str = "out") -> Path:
    """Write an H x W x C float32 array by the suffix: ``.npy``, ``.mat`` (variable ``name``), ``.tif``."""
    p = check_output(path, force=force)
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        _atomic(p, lambda t: np.save(t, arr))
    elif suffix == ".mat":
        import scipy.io

        _atomic(p, lambda t: scipy.io.savemat(t, {name: arr}))
    else:
        import tifffile

        _atomic(p, lambda t: tifffile.imwrite(t, arr, photometric="minisblack", planarconfig="contig"))
    return p


def preview_bands(channels: int) -> list[int]:
    """Bands shown as red, green, blue in previews.

    Three bands are taken as they are; 8 bands follow WorldView-2/3 order (red 4, green 2,
    blue 1, as in the authors' demo); otherwise bands at 80, 50 and 15 % of the range, which
    for 31 bands over 400-700 nm are about 640, 550 and 450 nm.

    Example:
        >>> preview_bands(31)
        [24, 15, 4]
    """
    if channels == 1:
        return [0, 0, 0]
    if channels in (2, 3):
        return [0, 1, channels - 1]
    if channels == 8:
        return [4, 2, 1]
    return [round((channels - 1) * f) for f in (0.8, 0.5, 0.15)]


def to_rgb8(
    arr: np.ndarray, *, bands: list[int] | None = None, percentiles: tuple[float, float] | None = (1, 99)
) -> np.ndarray:
    """An 8-bit RGB rendering: a percentile stretch per band, or values as they are (clipped to
    [0, 1]) with ``percentiles=None``. Three-band images (photographs) default to the latter,
    which keeps their colour balance."""
    if bands is None and arr.shape[2] == 3 and percentiles == (1, 99):
        percentiles = None
    bands = bands or preview_bands(arr.shape[2])
    rgb = arr[..., bands].astype(np.float64)
    if percentiles is None:
        return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    lo = np.percentile(rgb, percentiles[0], axis=(0, 1))
    hi = np.percentile(rgb, percentiles[1], axis=(0, 1))
    rgb = np.clip((rgb - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def write_preview(path: str | os.PathLike[str], arr: np.ndarray, *, bands: list[int] | None = None) -> Path:
    """Write an 8-bit PNG preview of an H x W x C image (atomic)."""
    from PIL import Image

    p = Path(path)
    img = Image.fromarray(to_rgb8(arr, bands=bands))
    _atomic(p, lambda t: img.save(t, format="PNG"))
    return p


def write_json(path: str | os.PathLike[str], data: dict[str, object]) -> Path:
    """Write a dict as indented JSON, atomically; non-finite floats become strings."""

    def clean(v: object) -> object:
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, dict):
            return {k: clean(w) for k, w in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(w) for w in v]
        return v

    text = json.dumps(clean(data), indent=2)
    p = Path(path)
    _atomic(p, lambda t: t.write_text(text + "\n"))
    return p
