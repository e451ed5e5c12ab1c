"""Faults while writing: a full disk, a read-only folder; nothing half-written, nothing of the user's lost."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from gdd.cli import main


def _flash(tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "noisy.npy", rng.random((16, 16, 3)).astype(np.float32))
    np.save(tmp_path / "flash.npy", rng.random((16, 16, 3)).astype(np.float32))
    return ["flash", "--noisy", str(tmp_path / "noisy.npy"), "--guide", str(tmp_path / "flash.npy"),
            "--iterations", "2", "--width", "8", "--device", "cpu", "--quiet"]  # fmt: skip


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".mat"])
def test_a_full_disk_while_writing_leaves_no_half_file_and_the_previous_result_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    argv = _flash(tmp_path)
    out = tmp_path / "out" / f"denoised{suffix}"
    assert main([*argv, "--out", str(out), "--seed", "1"]) == 0  # the user's earlier result
    before = out.read_bytes()
    real_write = os.write

    def full(fd: int, data: bytes) -> int:  # every write past the first 64 bytes finds the disk full
        if len(data) > 64:
            real_write(fd, bytes(data)[:64])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    import io

    real_open = io.open

    class Full(io.FileIO):
        def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
            if len(data) > 64:
                super().write(bytes(data)[:64])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return super().write(data)

    def open_full(file, mode="r", *args, **kwargs):  # type: ignore[no-untyped-def]
        if "w" in mode and str(file).startswith(str(tmp_path / "out")):
            raw = Full(file, mode.replace("b", "").replace("+", "") or "w")
            return io.BufferedWriter(raw) if "b" in mode else io.TextIOWrapper(io.BufferedWriter(raw))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", open_full)

    # GDAL writes below Python: its writer fails alike.
    def geotiff_full(t: Path, *args: object, **kwargs: object) -> None:
        with open(t, "wb") as fh:
            fh.write(b"II*\x00" + bytes(100))

    monkeypatch.setattr("gdd.io.write._write_geotiff", geotiff_full)
    code = main([*argv, "--out", str(out), "--force"])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and "No space left on device" in err, err
    assert out.read_bytes() == before  # the earlier result is untouched
    assert _leftovers(out.parent) == []  # no temporary file left behind


def test_a_read_only_output_folder_stops_before_the_fit_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _flash(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == locked else real_access(p, mode, **k))
    fitted: list[bool] = []
    monkeypatch.setattr("gdd.problems.solve", lambda *a, **k: fitted.append(True))
    assert main([*argv, "--out", str(locked / "x.npy")]) == 1
    err = capsys.readouterr().err
    assert "not writable" in err and err.count("\n") == 1 and not fitted
    assert list(locked.iterdir()) == []
