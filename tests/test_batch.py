"""gdd batch: manifests, skipping done jobs, retries, a killed worker, a killed batch, Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gdd.app import tile_folder
from gdd.batch import State, read_manifest, run_local, state_folder
from gdd.cli import main

FAST = {"iterations": 3, "width": 8}


def _pairs(folder: Path, n: int, size: int = 32) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        np.save(folder / f"pan{i}.npy", rng.random((size, size)).astype(np.float32))
        np.save(folder / f"ms{i}.npy", rng.random((size // 4, size // 4, 3)).astype(np.float32))


def _jobs(n: int, **options: object) -> list[dict[str, object]]:
    return [
        {"id": f"scene{i}", "task": "pan", "ms": f"ms{i}.npy", "pan": f"pan{i}.npy", "ratio": 4,
         "out": f"out/fused{i}.npy", **FAST, **options}
        for i in range(n)
    ]  # fmt: skip


def _processes_with(text: str) -> list[int]:
    """Pids of processes whose command line holds ``text`` (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmd and "-m gdd" in cmd and int(entry.name) != os.getpid():
                pids.append(int(entry.name))
    return pids


def _kill_when(condition, text: str, timeout: float = 120) -> threading.Thread:  # type: ignore[no-untyped-def]
    """In the background: once ``condition()`` holds, SIGKILL the job processes that hold ``text``."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                pids = _processes_with(text)
                if pids:
                    for pid in pids:
                        os.kill(pid, signal.SIGKILL)
                    return
            time.sleep(0.01)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("suffix", [".json", ".csv", ".toml"])
def test_manifest_formats_give_the_same_jobs(tmp_path: Path, suffix: str) -> None:
    rows = _jobs(2, keep_best=False)
    path = tmp_path / f"jobs{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(rows))
    elif suffix == ".csv":
        keys = list(rows[0])
        path.write_text(",".join(keys) + "\n" + "\n".join(",".join(str(r[k]) for k in keys) for r in rows) + "\n")
    else:
        text = ""
        for r in rows:
            text += "[[jobs]]\n" + "".join(
                f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}\n" for k, v in r.items()
            )
        path.write_text(text)
    jobs = read_manifest(path)
    assert [j.id for j in jobs] == ["scene0", "scene1"]
    assert jobs[1].argv[:3] == ["pan", "--ms", str(tmp_path / "ms1.npy")]
    assert "--no-keep-best" in jobs[0].argv and jobs[0].out == tmp_path / "out" / "fused0.npy"


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_lists_in_a_manifest_give_an_options_values(tmp_path: Path, suffix: str) -> None:
    lists = {"bands": [3, 2, 1], "pixel": [[1, 2], [3, 4]], "co": ["COMPRESS=ZSTD", "BLOCKSIZE=256"], "gnyq": [0.3] * 3}
    rows = [{**_jobs(1)[0], "out": "out/fused0.tif", "spatial": "mtf", **lists}]
    path = tmp_path / f"jobs{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("[[jobs]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in rows[0].items()))
    (job,) = read_manifest(path)
    argv = " ".join(job.argv)
    assert "--bands 3,2,1" in argv and "--pixel 1,2 --pixel 3,4" in argv and "--gnyq 0.3,0.3,0.3" in argv
    assert "--co COMPRESS=ZSTD --co BLOCKSIZE=256" in argv


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"task": "sharpen", "out": "a.npy"}], "task must be one of"),
        ([{"task": "pan", "ms": "a.npy", "pan": "b.npy", "ratio": 4}], "no 'out'"),
        ([{"task": "pan", "ms": "a.npy", "pan": "b.npy", "ratio": "four", "out": "x.npy"}], "--ratio"),
        ([{"task": "pan", "ms": "a.npy", "pan": "b.npy", "ratio": 4, "out": "x.npy", "colour": 1}], "colour"),
        (
            [{"task": "pan", "ms": "a", "pan": "b", "ratio": 4, "out": "x.npy"}] * 2,
            "jobs 1 and 2 both write",
        ),
        # One job's --json (or report, or preview) is another's: the second run would replace it.
        (
            [{"task": "pan", "ms": "a", "pan": "b", "ratio": 4, "out": f"{n}.npy", "json": "m.json"} for n in "xy"],
            "(as --json of x.npy and as --json of y.npy)",
        ),
        (
            [
                {"task": "pan", "ms": "a", "pan": "b", "ratio": 4, "out": "x.npy"},
                {"task": "pan", "ms": "a", "pan": "b", "ratio": 4, "out": "y.npy", "report": "x.png"},
            ],
            "(as the result's preview and as --report)",
        ),
        (
            [
                {"task": "pan", "ms": "a", "pan": "b", "ratio": 4, "out": "x.npy", "id": "s"},
                {"task": "pan", "ms": "a", "pan": "b", "ratio": 4, "out": "y.npy", "id": "s"},
            ],
            "two jobs have the id s",
        ),
        # An id names the job's files in the state folder: no path out of it.
        ([{"id": "../notes", "task": "pan", "ms": "a", "pan": "b", "ratio": 4, "out": "x.npy"}], "an id names"),
        ([{"id": "/tmp/x", "task": "pan", "ms": "a", "pan": "b", "ratio": 4, "out": "x.npy"}], "an id names"),
    ],
)
def test_bad_manifests_are_refused_with_one_line(
    tmp_path: Path, rows: list[dict[str, object]], message: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(rows))
    assert main(["batch", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and err.startswith("gdd: error: manifest")


def test_a_manifest_that_is_not_utf8_is_named(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "jobs.csv"
    path.write_bytes("task,ms,pan,ratio,out\npan,a.npy,b.npy,4,caf\u00e9.npy\n".encode("latin-1"))
    assert main(["batch", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"gdd: error: manifest {path}: not UTF-8 text (byte 43); save it as UTF-8"


def test_ray_missing_is_said_before_anything_is_kept(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import importlib.util

    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find(name, *a))
    _pairs(tmp_path, 1)
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps(_jobs(1)))
    assert main(["batch", str(manifest), "--ray", "local"]) == 1
    assert capsys.readouterr().err == "gdd: error: gdd batch --ray needs Ray: pip install 'gdd[ray]'\n"
    assert not (tmp_path / ".jobs.json.state").exists()


def test_a_batch_runs_its_jobs_and_skips_them_the_second_time(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    _pairs(tmp_path, 2)
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps(_jobs(2)))
    assert main(["batch", str(manifest), "--workers", "2", "--quiet"]) == 0
    assert "2 of 2 jobs done (2 now, 0 before)" in capsys.readouterr().out
    assert all((tmp_path / "out" / f"fused{i}.npy").exists() for i in range(2))
    assert main(["batch", str(manifest), "--quiet"]) == 0
    assert "(0 now, 2 before)" in capsys.readouterr().out
    # A changed job is not the one done.
    rows = _jobs(2)
    rows[1]["iterations"] = 4
    manifest.write_text(json.dumps(rows))
    assert main(["batch", str(manifest), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "job scene1: its output" in err and "made by this job with another command" in err, err
    assert main(["batch", str(manifest), "--dry-run"]) == 0  # a dry run lists it, and what it needs
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("scene0\tdone\t"), listed
    assert listed[1].startswith("scene1\tto do (with --force: its output exists, made by an edited job)\t"), listed
    assert main(["batch", str(manifest), "--quiet", "--force"]) == 0
    assert "(1 now, 1 before)" in capsys.readouterr().out


def test_a_job_with_a_missing_input_is_reported_without_a_second_attempt(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    _pairs(tmp_path, 2)
    rows = _jobs(2)
    rows[1]["ms"] = "missing.npy"
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps(rows))
    assert main(["batch", str(manifest), "--retries", "1", "--quiet"]) == 1
    captured = capsys.readouterr()
    # Bad input (exit 1): another attempt cannot change it. Killed jobs are tried again (below).
    assert "trying again" not in captured.err and "not tried again" in captured.err
    assert "job scene1 failed after 1 attempt(s): gdd: error: ms " in captured.err
    assert "1 job(s) failed: scene1; logs in" in captured.err
    assert (tmp_path / "out" / "fused0.npy").exists() and not (tmp_path / "out" / "fused1.npy").exists()
    assert "file not found" in (state_folder(manifest) / "scene1.log").read_text()


def test_a_worker_killed_mid_tile_loses_no_tile_and_the_batch_completes(tmp_path: Path) -> None:
    _pairs(tmp_path, 1, size=96)
    rows = _jobs(1, tile=48, overlap=12, iterations=20)
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps(rows))
    # The same jobs, never interrupted, for the bytes to compare with (with the same thread
    # count: a GDD tile's last bits depend on it).
    whole = tmp_path / "whole.json"
    whole.write_text(json.dumps([{**r, "out": f"whole/{Path(str(r['out'])).name}"} for r in rows]))
    assert not run_local(read_manifest(whole), State(state_folder(whole)), threads=1)

    jobs = read_manifest(manifest)
    folder = tile_folder(jobs[0].out)
    watcher = _kill_when(lambda: len(list(folder.glob("tile-*.json"))) >= 2, str(jobs[0].out))
    events: list[tuple[str, str, str]] = []
    failed = run_local(
        jobs, State(state_folder(manifest)), retries=2, threads=1,
        on_event=lambda kind, job, text: events.append((kind, job.id, text)),
    )  # fmt: skip
    watcher.join()
    assert not failed
    assert ("retry", "scene0", "killed by signal 9") in events
    log = (state_folder(manifest) / "scene0.log").read_text()
    resumed = [ln for ln in log.splitlines() if "from an earlier run" in ln]
    assert resumed and int(resumed[0].split(", ")[-1].split()[0]) >= 2  # the finished tiles were kept
    assert (tmp_path / "out" / "fused0.npy").read_bytes() == (tmp_path / "whole" / "fused0.npy").read_bytes()


def test_a_killed_batch_resumed_gives_the_same_bytes(tmp_path: Path) -> None:
    _pairs(tmp_path, 2, size=64)
    rows = _jobs(2, tile=32, overlap=8, iterations=5)
    manifest, whole = tmp_path / "jobs.json", tmp_path / "whole.json"
    manifest.write_text(json.dumps(rows))
    whole.write_text(json.dumps([{**r, "out": f"whole/{Path(str(r['out'])).name}"} for r in rows]))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, "-m", "gdd", "batch", str(whole), "--quiet"], check=True, env=env, capture_output=True
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gdd", "batch", str(manifest), "--quiet"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    state = state_folder(manifest)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (state / "scene0.done.json").exists():
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the job running at the kill dies with the batch
    assert not _processes_with(str(tmp_path / "jobs.json"))
    done = subprocess.run(
        [sys.executable, "-m", "gdd", "batch", str(manifest), "--quiet"], check=True, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    assert "2 of 2 jobs done (1 now, 1 before)" in done.stdout
    for i in range(2):
        assert (tmp_path / "out" / f"fused{i}.npy").read_bytes() == (tmp_path / "whole" / f"fused{i}.npy").read_bytes()


def test_dry_run_lists_the_jobs(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    _pairs(tmp_path, 2)
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps(_jobs(2)))
    assert main(["batch", str(manifest), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("scene0\tto do\tgdd pan --ms ")
    assert not (tmp_path / "out").exists()


def test_a_forced_batch_starts_again_a_job_whose_tiles_are_of_another_command(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from gdd.app import TileStore, tile_folder

    _pairs(tmp_path, 1, size=64)
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps(_jobs(1, tile=32, overlap=8)))
    # What a job killed mid-way leaves, from before its command was edited: a finished tile.
    TileStore(tile_folder(tmp_path / "out" / "fused0.npy"), {"an": "edited command"}, force=False).save(
        0, np.zeros((2, 2, 3), np.float32), {}
    )
    assert main(["batch", str(manifest), "--dry-run"]) == 0
    assert "to do (has finished tiles: resumed, or with --force" in capsys.readouterr().out
    assert main(["batch", str(manifest), "--quiet"]) == 1
    assert "holds the tiles of another run" in capsys.readouterr().err
    assert main(["batch", str(manifest), "--quiet", "--force"]) == 0
    assert (tmp_path / "out" / "fused0.npy").is_file()


def test_an_interrupted_batch_says_what_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import gdd.batch

    _pairs(tmp_path, 2)
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps(_jobs(2)))

    def one_then_ctrl_c(jobs, state, *, on_event, **kwargs):  # type: ignore[no-untyped-def]
        on_event("done", jobs[0], "")
        raise KeyboardInterrupt

    monkeypatch.setattr(gdd.batch, "run_local", one_then_ctrl_c)
    assert main(["batch", str(manifest), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert err.startswith("gdd batch: interrupted; 1 of 2 jobs done;") and "no output was written" not in err, err


def test_two_results_with_one_preview_are_named(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rows = [{**_jobs(1)[0], "id": f"s{n}", "out": f"out/c.{n}"} for n in ("npy", "mat")]
    (tmp_path / "jobs.json").write_text(json.dumps(rows))
    assert main(["batch", str(tmp_path / "jobs.json"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "(as the result's preview of c.npy and as the result's preview of c.mat)" in err, err


def _ray_or_skip():  # type: ignore[no-untyped-def]
    return pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'gdd[ray]'")


def test_ray_retries_a_job_whose_process_was_killed(tmp_path: Path) -> None:
    ray = _ray_or_skip()
    from gdd.batch import run_ray

    _pairs(tmp_path, 1, size=96)
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps(_jobs(1, tile=48, overlap=12, iterations=20)))
    jobs = read_manifest(manifest)
    folder = tile_folder(jobs[0].out)
    watcher = _kill_when(lambda: len(list(folder.glob("tile-*.json"))) >= 1, str(jobs[0].out), timeout=180)
    failed = run_ray(
        jobs, State(state_folder(manifest)), address="local", retries=2,
        init={"num_cpus": 2, "include_dashboard": False, "log_to_driver": False},
    )  # fmt: skip
    watcher.join()
    assert not failed and jobs[0].out.exists() and not ray.is_initialized()


@pytest.mark.slow
def test_a_ray_batch_of_eight_jobs_on_a_local_cluster(tmp_path: Path) -> None:
    ray = _ray_or_skip()
    _pairs(tmp_path, 8)
    manifest = tmp_path / "jobs.toml"
    text = ""
    for r in _jobs(8):
        text += "[[jobs]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in r.items())
    manifest.write_text(text)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["batch", str(manifest), "--ray", "auto", "--quiet"]) == 0
    finally:
        ray.shutdown()
    assert all((tmp_path / "out" / f"fused{i}.npy").exists() for i in range(8))
    assert len(list(state_folder(manifest).glob("*.done.json"))) == 8


def test_a_manifest_resolves_every_file_option_against_its_folder(tmp_path: Path) -> None:
    # --blur names a file too: it was once resolved against the working directory instead.
    folder = tmp_path / "jobs"
    folder.mkdir()
    job = {"id": "a", "task": "hs", "hsi": "hsi.npy", "guide": "rgb.npy", "srf": "srf.csv", "factor": 4,
           "blur": "kernel.npy", "out": "out/a.npy"}  # fmt: skip
    (folder / "jobs.json").write_text(json.dumps([job, {**job, "id": "b", "blur": "estimate", "out": "out/b.npy"}]))
    first, second = read_manifest(folder / "jobs.json")
    for name in ("hsi", "guide", "srf", "blur", "out"):
        value = first.argv[first.argv.index(f"--{name}") + 1]
        assert Path(value) == folder.resolve() / job[name]  # type: ignore[operator]
    assert second.argv[second.argv.index("--blur") + 1] == "estimate"


def test_shards_split_the_manifest_and_resume_alone(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    _pairs(tmp_path, 5)
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps(_jobs(5)))
    assert main(["batch", str(manifest), "--shard", "2/3", "--dry-run"]) == 0
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == ["scene1", "scene4"]
    assert main(["batch", str(manifest), "--shard", "1/2", "--quiet"]) == 0  # scenes 0, 2, 4
    assert "(share 1/2): 3 of 3 jobs done (3 now, 0 before)" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.npy")) == ["fused0.npy", "fused2.npy", "fused4.npy"]
    assert main(["batch", str(manifest), "--shard", "1/2", "--quiet"]) == 0  # done: nothing runs again
    assert "3 of 3 jobs done (0 now, 3 before)" in capsys.readouterr().out
    assert main(["batch", str(manifest), "--quiet"]) == 0  # the whole batch: only the other share is left
    assert "5 of 5 jobs done (2 now, 3 before)" in capsys.readouterr().out
    for bad in ("0/2", "3/2", "1-2", "a/b"):
        assert main(["batch", str(manifest), "--shard", bad]) == 2
        assert "--shard" in capsys.readouterr().err


def test_a_job_with_bad_input_is_not_tried_again(tmp_path: Path) -> None:
    _pairs(tmp_path, 1)
    np.save(tmp_path / "ms0.npy", np.full((8, 8, 3), np.nan, dtype=np.float32))  # NaNs: exit 1
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps(_jobs(1)))
    jobs = read_manifest(manifest)
    events: list[tuple[str, str]] = []
    failed = run_local(jobs, State(state_folder(manifest)), retries=2, on_event=lambda k, j, t: events.append((k, t)))
    assert failed == jobs and jobs[0].attempts == 1 and [k for k, _ in events] == ["start", "failed"]
    assert "NaN" in events[-1][1] and events[-1][1].endswith("(bad input or usage: not tried again)")


def _gpus_asked(ray, monkeypatch: pytest.MonkeyPatch) -> list[float]:  # type: ignore[no-untyped-def]
    """The GPUs each Ray task of the batch asks for, as they are submitted."""
    asked: list[float] = []
    real_remote = ray.remote

    def spy_remote(*args, **kwargs):  # type: ignore[no-untyped-def]
        def wrap(fn):  # type: ignore[no-untyped-def]
            task = real_remote(*args, **kwargs)(fn)

            class Spy:
                def options(self, **opts):  # type: ignore[no-untyped-def]
                    asked.append(opts["num_gpus"])
                    return task.options(**opts)

            return Spy()

        return wrap

    monkeypatch.setattr(ray, "remote", spy_remote)
    return asked


def _one_gpu_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Ray, one pansharpening job of a manifest, and the GPUs its tasks ask for; on a host without a GPU."""
    ray = _ray_or_skip()
    import torch

    assert not torch.cuda.is_available() or pytest.skip("checks a host without a GPU submitting to a cluster with one")
    _pairs(tmp_path, 1)
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps(_jobs(1)))
    return ray, read_manifest(manifest), manifest, _gpus_asked(ray, monkeypatch)


def test_ray_jobs_ask_for_gpus_when_the_cluster_has_them_and_log_each_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray, jobs, manifest, asked = _one_gpu_job(tmp_path, monkeypatch)
    from gdd.batch import run_ray

    # This host has no GPU; the cluster declares one (a fake GPU resource): the job asks for it.
    failed = run_ray(
        jobs, State(state_folder(manifest)), address="local", retries=0,
        init={"num_cpus": 2, "num_gpus": 1, "include_dashboard": False, "log_to_driver": False},
    )  # fmt: skip
    assert not failed and asked == [1.0] and not ray.is_initialized()
    log = State(state_folder(manifest)).log(jobs[0]).read_text()
    assert log.startswith("--- attempt 1 (Ray): gdd pan ")


def test_jobs_run_on_the_worker_with_a_gpu_when_the_head_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray, jobs, manifest, asked = _one_gpu_job(tmp_path, monkeypatch)
    from ray.cluster_utils import Cluster

    from gdd.batch import run_ray

    # A head with no GPU (a login node) and a worker that declares one (a fake GPU resource): a
    # job that asks for a GPU can run on the worker only, so its completing shows where it ran.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1, num_gpus=1)
        cluster.wait_for_nodes()
        failed = run_ray(jobs, State(state_folder(manifest)), address=cluster.address, retries=0)
    finally:
        cluster.shutdown()
    assert not failed and asked == [1.0] and not ray.is_initialized()
    assert (tmp_path / "out" / "fused0.npy").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_ray_batch_leaves_no_task_running_on_the_cluster(tmp_path: Path, sig: int) -> None:
    ray = _ray_or_skip()
    _pairs(tmp_path, 2)
    manifest = tmp_path / "jobs.json"
    # far longer than the test: no held-out stop (a tiny pair stops by itself within seconds)
    manifest.write_text(json.dumps(_jobs(2, iterations=100000, patience=0)))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # the cluster outlives the batch
    try:
        batch = subprocess.Popen([sys.executable, "-m", "gdd", "batch", str(manifest), "--ray", "auto", "--quiet"])
        deadline = time.monotonic() + 120
        while not _processes_with(str(tmp_path / "out")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _processes_with(str(tmp_path / "out")), "no job started"
        batch.send_signal(sig)
        assert batch.wait(timeout=60) != 0
        deadline = time.monotonic() + 30
        while _processes_with(str(tmp_path / "out")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _processes_with(str(tmp_path / "out")), "a job kept running after the batch was interrupted"
        assert not list((tmp_path / "out").glob("*.npy")) if (tmp_path / "out").exists() else True
    finally:
        ray.shutdown()
