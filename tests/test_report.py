from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gdd import __version__
from gdd.io import InputError
from gdd.report import (
    default_pixels,
    false_colour,
    figure_curves,
    figure_error_maps,
    figure_images,
    figure_spectra,
    spectrum_at,
    stretch_limits,
    write_report,
)

# gdd.report imports matplotlib only when it draws, so the import above works without it.
pytest.importorskip("matplotlib")

FACTOR = 4


class _Collector(HTMLParser):
    """Every tag's attributes and all the text, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "src" and tag == "img":
                self.images.append(value or "")
            elif name in {"src", "href"}:
                self.links.append(value or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(path: Path) -> _Collector:
    parser = _Collector()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def _decode(png: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(png))
    im.load()
    return im


@pytest.fixture
def scene() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    h, w, c = 32, 40, 8
    ref = rng.random((h // 8, w // 8, c))
    ref = np.kron(ref, np.ones((8, 8, 1))) + 0.05 * rng.random((h, w, c))
    lowres = ref.reshape(h // FACTOR, FACTOR, w // FACTOR, FACTOR, c).mean(axis=(1, 3))
    return {
        "reference": ref,
        "result": ref + 0.02 * rng.standard_normal(ref.shape),
        "baseline": ref + 0.05 * rng.standard_normal(ref.shape),
        "lowres": lowres,
        "guide": ref[..., :3].mean(axis=2),
    }


def _report(path: Path, scene: dict[str, np.ndarray], *, full: bool, **kw: object) -> Path:
    args: dict[str, object] = {
        "title": "test run",
        "inputs": {"low-res HS": scene["lowres"], "guide": scene["guide"]},
        "result": scene["result"],
        "factor": FACTOR,
    }
    if full:
        args |= {
            "reference": scene["reference"],
            "baseline": scene["baseline"],
            "metrics": {"gdd": {"psnr": 33.3333333, "sam": 1.23456, "qnr": None}, "bicubic": {"psnr": 25.0}},
            "history": [(i, 1.0 / i) for i in range(1, 60, 5)],
            "psnr": [(i, 20 + i / 10) for i in range(1, 60, 5)],
            "settings": {"iterations": 60, "lr": 0.01, "srf": [[1, 2], [3, 4]]},
        }
    return write_report(path, **(args | kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(("full", "expected"), [(True, 4), (False, 2)])
def test_report_images_all_decode(tmp_path: Path, scene: dict[str, np.ndarray], full: bool, expected: int) -> None:
    # full: images, error maps, spectra, curves; bare: images and spectra only.
    page = _parse(_report(tmp_path / "r.html", scene, full=full))
    assert len(page.images) == expected
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        im = _decode(base64.b64decode(src.split(",", 1)[1], validate=True))
        assert im.format == "PNG" and min(im.size) > 100


def test_report_has_no_external_resources(tmp_path: Path, scene: dict[str, np.ndarray]) -> None:
    path = _report(tmp_path / "r.html", scene, full=True)
    text = path.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    page = _parse(path)
    assert page.links == []
    assert all(src.startswith("data:") for src in page.images)


def test_report_text_metrics_and_escaping(tmp_path: Path, scene: dict[str, np.ndarray]) -> None:
    title = "<script>alert('x')</script> & co"
    path = _report(tmp_path / "r.html", scene, full=True, title=title, settings={"note": "<b>raw</b>"})
    raw = path.read_text(encoding="utf-8")
    assert "<script>" not in raw and "<b>raw</b>" not in raw
    text = " ".join(_parse(path).text)
    assert title in text  # shown to the reader as written
    assert "<b>raw</b>" in text
    for shown in ("33.33", "1.235", "25", "n/a", "PSNR", "SAM", "QNR", "gdd", "bicubic", __version__):
        assert shown in text
    assert "Higher is better for PSNR, QNR; lower is better for SAM" in text


def test_report_refuses_to_overwrite(tmp_path: Path, scene: dict[str, np.ndarray]) -> None:
    path = tmp_path / "r.html"
    path.write_text("keep me")
    with pytest.raises(InputError, match="exists"):
        _report(path, scene, full=False)
    assert path.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
    _report(path, scene, full=False, force=True)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # no temporary file left


def test_report_rejects_other_suffixes(tmp_path: Path, scene: dict[str, np.ndarray]) -> None:
    with pytest.raises(InputError, match=r"\.html"):
        _report(tmp_path / "r.png", scene, full=False)


def test_false_colour_shape_and_shared_stretch(scene: dict[str, np.ndarray]) -> None:
    ref = scene["reference"]
    rgb = false_colour(ref)
    assert rgb.shape == (*ref.shape[:2], 3) and rgb.dtype == np.uint8
    limits = stretch_limits(ref, percentiles=(2, 98))
    assert np.array_equal(false_colour(ref.copy(), limits=limits), false_colour(ref, limits=limits))
    # With a shared stretch a darker image looks darker; with its own stretch it would not.
    dark = false_colour(0.5 * ref, limits=limits)
    assert dark.mean() < false_colour(ref, limits=limits).mean()
    assert not np.array_equal(false_colour(0.5 * ref), dark)
    grey = false_colour(scene["guide"])
    assert np.array_equal(grey[..., 0], grey[..., 2])


def test_false_colour_percentiles_literal() -> None:
    # Values 0..100: the 10th and 90th percentiles are 10 and 90, so v -> (v - 10) / 80, clipped;
    # by hand: 0 -> 0, 30 -> 0.25 * 255 = 63.75 -> 64, 50 -> 127.5 -> 128, 95 -> 255.
    arr = np.arange(101.0).reshape(1, 101)
    rgb = false_colour(arr, percentiles=(10, 90))
    assert rgb[0, [0, 10, 30, 50, 90, 95, 100], 0].tolist() == [0, 0, 64, 128, 255, 255, 255]
    cube = np.stack([arr, 2 * arr, 100 - arr], axis=-1)
    rgb = false_colour(cube, bands=[2, 1, 0], percentiles=(10, 90))
    assert rgb[0, 30].tolist() == [191, 64, 64]  # band 2 at 30 is 70 -> 0.75
    with pytest.raises(ValueError, match="three indices"):
        false_colour(cube, bands=[0, 1, 3])


def test_spectrum_at_samples_the_low_resolution_grid(scene: dict[str, np.ndarray]) -> None:
    low = scene["lowres"]
    for r, c in [(0, 0), (5, 7), (31, 39)]:
        assert np.array_equal(spectrum_at(low, (r, c), factor=FACTOR), low[r // FACTOR, c // FACTOR])
    assert np.array_equal(spectrum_at(scene["result"], (5, 7)), scene["result"][5, 7])
    with pytest.raises(ValueError, match="outside"):
        spectrum_at(low, (32, 0), factor=FACTOR)
    # Three distinct pixels, away from the borders (an eighth of the side at least).
    pixels = default_pixels(32, 40)
    assert len(set(pixels)) == 3 and all(4 <= r < 28 and 5 <= c < 35 for r, c in pixels)


def test_figures_are_png(scene: dict[str, np.ndarray]) -> None:
    panels = {"low": scene["lowres"], "guide": scene["guide"], "result": scene["result"]}
    pngs = [
        figure_images(panels, pixels=[(3, 4)]),
        figure_error_maps(scene["result"], scene["reference"]),
        figure_spectra({"result": scene["result"], "low": scene["lowres"]}, factor=FACTOR, wavelengths=range(8)),
        figure_curves([(1, 1.0), (2, 0.5), (3, -1.0)]),
    ]
    for png in pngs:
        assert _decode(png).format == "PNG"
    with pytest.raises(ValueError, match="factor"):
        figure_spectra({"result": scene["result"], "low": scene["lowres"]})
    with pytest.raises(ValueError, match="same number of bands"):
        figure_spectra({"result": scene["result"], "guide": scene["guide"]})


def test_error_maps_survive_all_zero_spectra() -> None:
    # SAM is NaN everywhere: the colour scale must still be finite (no matplotlib warning).
    zero = np.zeros((6, 5, 3))
    assert _decode(figure_error_maps(zero, zero, baseline=zero)).format == "PNG"
