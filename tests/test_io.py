from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from gdd.io import InputError, read_image, read_matrix, split_spec, write_image, write_preview


@pytest.fixture
def cube() -> np.ndarray:
    return np.random.default_rng(0).random((12, 10, 4)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".npy", ".mat", ".tif"])
def test_write_read_round_trip(tmp_path: Path, cube: np.ndarray, suffix: str) -> None:
    path = write_image(tmp_path / f"sub/out{suffix}", cube)
    spec = f"{path}:out" if suffix == ".mat" else path
    assert np.array_equal(read_image(spec), cube)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_never_overwrites_without_force(tmp_path: Path, cube: np.ndarray) -> None:
    path = write_image(tmp_path / "out.npy", cube)
    with pytest.raises(InputError, match="exists; use --force"):
        write_image(path, cube * 0)
    write_image(path, cube * 0, force=True)
    assert not read_image(path).any()


def test_npz_and_mat_variables(tmp_path: Path, cube: np.ndarray) -> None:
    np.savez(tmp_path / "a.npz", hsi=cube, other=cube[..., :1])
    assert read_image(f"{tmp_path / 'a.npz'}:hsi").shape == (12, 10, 4)
    with pytest.raises(InputError, match="several arrays"):
        read_image(tmp_path / "a.npz")
    scipy.io.savemat(tmp_path / "b.mat", {"GT": cube, "PAN": cube[..., 0]})
    assert read_image(f"{tmp_path / 'b.mat'}:PAN").shape == (12, 10, 1)
    with pytest.raises(InputError, match="no variable 'X'; it has GT, PAN"):
        read_image(f"{tmp_path / 'b.mat'}:X")


def test_integer_images_are_scaled(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 5, 3), 255, np.uint8)).save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png").max() == 1.0
    Image.fromarray(np.full((4, 5), 65535, np.uint16)).save(tmp_path / "b.png")
    b = read_image(tmp_path / "b.png")
    assert b.shape == (4, 5, 1) and b.max() == 1.0


def test_band_folder(tmp_path: Path) -> None:
    for i in range(1, 4):
        Image.fromarray(np.full((6, 7), i * 1000, np.uint16)).save(tmp_path / f"scene_ms_{i:02d}.png")
    Image.fromarray(np.zeros((6, 7, 3), np.uint8)).save(tmp_path / "scene_RGB.bmp")
    cube = read_image(tmp_path)
    assert cube.shape == (6, 7, 3)
    assert np.allclose(cube[0, 0], np.array([1000, 2000, 3000]) / 65535)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(b""), "file is empty"),
        (lambda p: p.write_bytes(b"\x93NUMPY garbage"), "cannot read"),
        (lambda p: np.save(p, np.array([1.0, np.nan, 2.0, 3.0]).reshape(2, 2)), "NaN or Inf"),
        (lambda p: np.save(p, np.zeros((2, 2, 2, 2))), "expected an H x W or H x W x C image"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "x.npy"
    make(path)
    with pytest.raises(InputError, match=message) as info:
        read_image(path, name="hsi")
    assert "\n" not in str(info.value) and str(info.value).startswith("hsi ")


def test_truncated_mat(tmp_path: Path, cube: np.ndarray) -> None:
    scipy.io.savemat(tmp_path / "a.mat", {"GT": cube})
    data = (tmp_path / "a.mat").read_bytes()
    (tmp_path / "t.mat").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot read"):
        read_image(tmp_path / "t.mat")


def test_read_matrix_csv_drops_wavelengths(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("# a comment\nwavelength_nm,r,g\n400,1,2\n410,3,4\n420,5,6\n")
    assert read_matrix(tmp_path / "r.csv").tolist() == [[1, 2], [3, 4], [5, 6]]


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("0.1 0.2 0.3\n0.4 0.5 0.6\n", "utf-8"),  # np.savetxt
        ("0.1\t0.2\t0.3\n0.4\t0.5\t0.6\n", "utf-8"),
        ("0,1;0,2;0,3\n0,4;0,5;0,6\n", "utf-8"),  # a spreadsheet with decimal commas
        ("0.1,0.2,0.3,\n0.4,0.5,0.6,\n", "utf-8"),  # a delimiter at the end of each row
        ("0.1,0.2,0.3\n0.4,0.5,0.6\n", "utf-8-sig"),  # Excel's CSV UTF-8 (a byte-order mark)
        ("0,1\t0,2\t0,3\n0,4\t0,5\t0,6\n", "utf-8"),  # tab-separated with decimal commas
        ("Wavelength (nm),R,G,B\n400,0.1,0.2,0.3\n500,0.4,0.5,0.6\n", "utf-8"),  # names with spaces
        ("wavelength,Band 1,Band 2,Band 3\n400,0.1,0.2,0.3\n500,0.4,0.5,0.6\n", "utf-8"),  # digits in names
        ('"wavelength","r","g","b"\n400,0.1,0.2,0.3\n500,0.4,0.5,0.6\n', "utf-8"),  # quoted (R's write.csv)
    ],
)
def test_read_matrix_reads_the_text_tables_spreadsheets_write(tmp_path: Path, text: str, encoding: str) -> None:
    (tmp_path / "r.csv").write_text(text, encoding=encoding)
    assert np.allclose(read_matrix(tmp_path / "r.csv"), [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])


def test_read_matrix_names_a_cell_that_is_not_a_number(tmp_path: Path) -> None:
    # A first row with a number is data, not a header: its bad cell is named, not dropped with the row.
    (tmp_path / "r.csv").write_text("0.1,0.2,n/a\n0.4,0.5,0.6\n")
    with pytest.raises(InputError, match=r"^srf .*r\.csv: row 1, column 3 holds 'n/a', not a number$"):
        read_matrix(tmp_path / "r.csv", name="srf")
    (tmp_path / "r.csv").write_text("0.1,0.2\n0.4,0.5,0.6\n")
    with pytest.raises(InputError, match=r"rows of different lengths \(2, 3 values\)"):
        read_matrix(tmp_path / "r.csv", name="srf")
    (tmp_path / "r.csv").write_text("0.1,,0.3\n0.4,0.5,0.6\n")  # an empty cell is not merged away
    with pytest.raises(InputError, match=r"row 1, column 2 holds '', not a number"):
        read_matrix(tmp_path / "r.csv", name="srf")
    (tmp_path / "r.csv").write_text("wavelength,r,g\n400,0.1,0.2,0.3\n")
    with pytest.raises(InputError, match=r"its header names 3 columns, its rows have 4"):
        read_matrix(tmp_path / "r.csv", name="srf")


def test_read_matrix_real_srf(shared: Path) -> None:
    m = read_matrix(shared / "srf" / "nikon_d700_akhtar2014_400-700nm_10nm.csv")
    assert m.shape == (31, 3)


def test_split_spec() -> None:
    assert split_spec("a/b.mat:X") == (Path("a/b.mat"), "X")
    assert split_spec("a/b.npy") == (Path("a/b.npy"), None)


def test_preview(tmp_path: Path, cube: np.ndarray) -> None:
    path = write_preview(tmp_path / "p.png", cube)
    with Image.open(path) as im:
        assert im.size == (10, 12) and im.mode == "RGB"


def test_bit_depth(tmp_path: Path) -> None:
    np.save(tmp_path / "dn.npy", np.array([[0, 1023], [2047, 5]], dtype=np.uint16))
    assert read_image(tmp_path / "dn.npy", bit_depth=11).max() == 1.0
    with pytest.raises(InputError, match="do not fit --bit-depth 8"):
        read_image(tmp_path / "dn.npy", bit_depth=8)


def test_written_files_get_ordinary_permissions(tmp_path: Path, cube: np.ndarray) -> None:
    import os

    mask = os.umask(0o022)
    try:
        path = write_image(tmp_path / "o.npy", cube)
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_preview_keeps_the_colour_of_photographs(tmp_path: Path) -> None:
    photo = np.zeros((4, 4, 3), np.float32)
    photo[..., 0], photo[..., 1], photo[..., 2] = 0.5, 0.25, 0.1
    with Image.open(write_preview(tmp_path / "p.png", photo)) as im:
        assert np.asarray(im)[0, 0].tolist() == [128, 64, 26]


def test_read_matrix_names_the_input(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "r.mat", {"R": np.ones((3, 31))})
    assert read_matrix(f"{tmp_path / 'r.mat'}:R").shape == (3, 31)
    with pytest.raises(InputError, match=r"^srf .*no variable 'X'; it has R$"):
        read_matrix(f"{tmp_path / 'r.mat'}:X", name="srf")
