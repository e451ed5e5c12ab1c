"""Property-based tests of the readers and the command line: random shapes, types, NaNs, layouts, bytes.

Every input ends in a result or a one-line error (``InputError`` from the readers; exit 1 or 2
and one line on stderr from the command line), never a traceback, never a partial output file.
The numbers of examples are fixed (``max_examples``) and the draws are derandomised, so the
suite does the same work on every run.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="property-based tests need hypothesis (the test extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from gdd.io import InputError, read_raster  # noqa: E402

DTYPES = st.sampled_from(["uint8", "uint16", "int16", "int32", "float32", "float64", "bool", "complex64"])
SHAPES = st.lists(st.integers(0, 9), min_size=0, max_size=4).map(tuple)
SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip


def _values(dtype: str, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    elements = None
    if dtype.startswith("float"):
        elements = st.one_of(st.floats(-2, 70000, width=32), st.sampled_from([np.nan, np.inf, -np.inf]))
    return arrays(dtype, shape, elements=elements)


@SETTINGS
@given(data=st.data(), dtype=DTYPES, shape=SHAPES, layout=st.sampled_from(["auto", "hwc", "chw"]),
       nodata=st.sampled_from([None, 0.0, float("nan")]))  # fmt: skip
def test_any_array_in_a_npy_file_reads_or_fails_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, dtype: str, shape: tuple[int, ...],
    layout: str, nodata: float | None,
) -> None:  # fmt: skip
    a = data.draw(_values(dtype, shape))
    path = tmp_path_factory.mktemp("npy") / "a.npy"
    np.save(path, a)
    try:
        r = read_raster(path, layout=layout, nodata=nodata)  # type: ignore[arg-type]
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert r.data.ndim == 3 and r.data.dtype == np.float32 and np.isfinite(r.data).all()
    assert r.mask is None or r.mask.shape == r.data.shape[:2]


SUFFIXES = st.sampled_from([".npy", ".npz", ".mat", ".tif", ".png", ".jpg", ".bmp", ".hdr", ".jp2", ".vrt", ".img"])


@SETTINGS
@given(suffix=SUFFIXES, payload=st.binary(min_size=1, max_size=600), header=st.sampled_from(
    [b"", b"\x93NUMPY", b"II*\x00", b"MM\x00*", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"MATLAB 5.0", b"ENVI\n",
     b"<VRTDataset", b"BM"]))  # fmt: skip
def test_corrupt_bytes_under_any_suffix_fail_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, suffix: str, payload: bytes, header: bytes
) -> None:
    path = tmp_path_factory.mktemp("bytes") / f"x{suffix}"
    path.write_bytes(header + payload)
    if suffix == ".img":  # an ENVI header beside it, half the time
        (path.with_suffix(".hdr")).write_bytes(b"ENVI\n" + payload[:40]) if payload[0] % 2 else None
    try:
        read_raster(path)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), dtype=st.sampled_from(["uint8", "uint16", "float32", "float64", "int16"]),
       noisy_shape=st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(1, 4)),
       same=st.booleans(), nan=st.booleans())  # fmt: skip
def test_the_command_line_on_random_inputs_ends_in_a_result_or_one_line(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, dtype: str,
    noisy_shape: tuple[int, int, int], same: bool, nan: bool,
) -> None:  # fmt: skip
    from gdd.cli import main

    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    noisy = (rng.random(noisy_shape) * (255 if dtype == "uint8" else 1000 if dtype != "float32" else 1)).astype(dtype)
    guide_shape = (
        noisy_shape if same else data.draw(st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(1, 4)))
    )
    guide = rng.random(guide_shape).astype(np.float32)
    if nan and dtype.startswith("float"):
        noisy.flat[0] = np.nan
    np.save(folder / "noisy.npy", noisy)
    np.save(folder / "guide.npy", guide)
    out = folder / "out" / "x.npy"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["flash", "--noisy", str(folder / "noisy.npy"), "--guide", str(folder / "guide.npy"), "--out",
                     str(out), "--iterations", "1", "--width", "4", "--device", "cpu", "--quiet"])  # fmt: skip
    if code == 0:
        assert out.is_file() and np.isfinite(np.load(out)).all()
    else:
        assert code in (1, 2) and err.getvalue().count("\n") == 1 and err.getvalue().startswith("gdd: error:")
        assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))
