"""Faults while writing: a full disk, a read-only folder; nothing half-written, nothing of the user's lost."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
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


_SHORT_WRITES = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (40000, 40000))  # a tile (32 kB) fits, the result not
from gdd.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("tiles", [[], ["--tile", "32", "--overlap", "8"]], ids=["whole", "tiled"])
def test_a_geotiff_gdal_cannot_write_in_full_fails_in_one_line(tmp_path: Path, tiles: list[str]) -> None:
    pytest.importorskip("rasterio", reason="GeoTIFF output needs the geo extra: pip install 'gdd[geo]'")
    rng = np.random.default_rng(3)
    np.save(tmp_path / "ms.npy", rng.random((16, 16, 8)).astype(np.float32))
    np.save(tmp_path / "pan.npy", rng.random((64, 64)).astype(np.float32))
    out = tmp_path / "out" / "fused.tif"  # 128 kB of float32: past a file size limit of 40 kB
    argv = ["pan", "--ms", str(tmp_path / "ms.npy"), "--pan", str(tmp_path / "pan.npy"), "--ratio", "4",
            "--out", str(out), "--iterations", "2", "--width", "8", "--device", "cpu", "--quiet", *tiles]  # fmt: skip
    # GDAL's TIFF writer says such a failure on standard error only, and closed the file as if whole.
    run = subprocess.run([sys.executable, "-c", _SHORT_WRITES, *argv], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    assert run.stderr.count("\n") == 1 and "is the disk full?" in run.stderr, run.stderr
    assert "File too large" in run.stderr and "Traceback" not in run.stderr
    assert not out.exists() and [p.name for p in out.parent.iterdir() if not p.name.endswith(".tiles")] == []


def test_a_geotiff_is_written_where_the_process_has_no_standard_error(tmp_path: Path) -> None:
    pytest.importorskip("rasterio", reason="GeoTIFF output needs the geo extra: pip install 'gdd[geo]'")
    # A closed descriptor 2 (a daemon, `cmd 2>&-`): nothing to keep GDAL's messages aside from.
    code = "import os, sys, numpy as np; os.close(2); from gdd.io import write_image; "
    code += f"write_image({str(tmp_path / 'r.tif')!r}, np.random.rand(16, 16, 3).astype('f4')); print('written')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "written", run
    from gdd.io import read_raster

    assert read_raster(tmp_path / "r.tif").data.shape == (16, 16, 3)


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


def _tiled_pan(tmp_path: Path) -> list[str]:
    """A tiled pansharpening run of nine tiles, quick enough to be stopped and resumed many times."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "ms.npy", rng.random((20, 20, 3)).astype(np.float32))
    np.save(tmp_path / "pan.npy", rng.random((80, 80)).astype(np.float32))
    return ["pan", "--ms", str(tmp_path / "ms.npy"), "--pan", str(tmp_path / "pan.npy"), "--ratio", "4",
            "--tile", "32", "--overlap", "8", "--iterations", "15", "--width", "8", "--device", "cpu",
            "--quiet"]  # fmt: skip


def test_an_input_replaced_while_a_tiled_run_is_paused_is_refused_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gdd.app.tilestore import TileStore

    argv, out = _tiled_pan(tmp_path), tmp_path / "fused.npy"
    real_save, saved = TileStore.save, []

    def save_then_stop(self: TileStore, index: int, x: np.ndarray, info: dict[str, object]) -> None:
        real_save(self, index, x, info)
        saved.append(index)
        if len(saved) == 2:
            raise KeyboardInterrupt  # the run is stopped with two tiles done

    monkeypatch.setattr(TileStore, "save", save_then_stop)
    assert main([*argv, "--out", str(out)]) == 130  # Ctrl-C
    monkeypatch.undo()
    assert not out.exists() and len(list((tmp_path / ".fused.npy.tiles").glob("tile-*.npy"))) == 2
    # The PAN is replaced while the run is paused: same name, other pixels.
    time.sleep(0.01)
    np.save(tmp_path / "pan.npy", np.random.default_rng(5).random((80, 80)).astype(np.float32))
    capsys.readouterr()
    assert main([*argv, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tiles made from an earlier pan file" in err and "has changed since" in err, err
    assert not out.exists()
    assert main([*argv, "--out", str(out), "--force"]) == 0  # starts again from the new PAN


def test_kills_at_random_points_resume_to_the_bytes_of_an_uninterrupted_run(tmp_path: Path) -> None:
    """SIGTERM and SIGKILL in turn: once while starting, then after 1 or 2 more tiles each time (seeded)."""
    argv = _tiled_pan(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    gdd = [sys.executable, "-m", "gdd", *argv]
    subprocess.run([*gdd, "--out", str(tmp_path / "whole.npy")], check=True, env=env, capture_output=True)
    out, folder = tmp_path / "fused.npy", tmp_path / ".fused.npy.tiles"
    rng = random.Random(20)

    def done() -> int:
        return len(list(folder.glob("tile-*.json")))

    kills: list[tuple[str, int]] = []
    target = 1  # the first kill: after a random start-up time, or at the first tile if that comes sooner
    while target < 9:
        proc = subprocess.Popen(
            [*gdd, "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + (rng.uniform(0.5, 3.0) if not kills else 120)
        while time.monotonic() < deadline and proc.poll() is None and done() < target:
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before it was killed"
        sig = (signal.SIGTERM, signal.SIGKILL)[len(kills) % 2]
        proc.send_signal(sig)
        proc.wait()
        kills.append((sig.name, done()))
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fused.") and p.suffix == ".npy"]
        target = done() + rng.randint(1, 2)
    subprocess.run([*gdd, "--out", str(out)], check=True, env=env, capture_output=True)
    assert len(kills) >= 3 and len({k for _, k in kills}) >= 3, kills  # several points, at several stages
    assert out.read_bytes() == (tmp_path / "whole.npy").read_bytes()


@pytest.mark.parametrize("tile", ["none", "8"])
def test_sigterm_while_writing_leaves_no_half_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tile: str
) -> None:
    """A scheduler's time limit (SIGTERM) in the middle of writing a GeoTIFF ends the run as Ctrl-C does."""
    pytest.importorskip("rasterio")
    import gdd.io.cog
    import gdd.io.windows

    real = gdd.io.cog.to_cog

    def killed(staged: Path, out: Path, *args: object, **kwargs: object) -> None:
        real(staged, out, *args, **kwargs)  # type: ignore[arg-type]
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal arrives first

    for module in (gdd.io.cog, gdd.io.windows):
        monkeypatch.setattr(module, "to_cog", killed)
    out = tmp_path / "out" / "denoised.tif"
    before = signal.getsignal(signal.SIGTERM)
    tiles = ["--tile", tile] + (["--overlap", "0"] if tile != "none" else [])
    assert main([*_flash(tmp_path), "--out", str(out), *tiles]) == 143  # as a process killed by SIGTERM
    assert "gdd: terminated; no output was written" in capsys.readouterr().err
    assert not out.exists() and [p.name for p in out.parent.iterdir() if not p.name.endswith(".tiles")] == []
    assert signal.getsignal(signal.SIGTERM) is before  # the process's own handler again
