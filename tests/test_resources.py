"""Memory and cores from the limits the process actually has: cgroup v1/v2 and the affinity mask, faked."""

from __future__ import annotations

from pathlib import Path

import pytest

from gdd.app.memory import available_memory, cgroup_memory_left, usable_cpus

GIB = 2**30


def _files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _proc(tmp_path: Path, cgroup_line: str, available_kib: int = 64 * 2**20) -> Path:
    proc = tmp_path / "proc"
    _files(proc, {"self/cgroup": cgroup_line + "\n", "meminfo": f"MemTotal: 1 kB\nMemAvailable: {available_kib} kB\n"})
    return proc


def test_a_cgroup_v2_memory_limit_caps_the_memory_a_fit_may_use(tmp_path: Path) -> None:
    proc = _proc(tmp_path, "0::/slurm/job_7")  # 64 GiB free on the machine
    cg = tmp_path / "cg"
    _files(cg, {"slurm/job_7/memory.max": str(4 * GIB), "slurm/job_7/memory.current": str(GIB)})
    assert cgroup_memory_left(proc=str(proc), cgroup=str(cg)) == 3 * GIB
    assert available_memory("cpu", proc=str(proc), cgroup=str(cg)) == 3 * GIB


def test_a_limit_on_a_parent_cgroup_holds_and_the_tightest_wins(tmp_path: Path) -> None:
    proc = _proc(tmp_path, "0::/a/b")
    cg = tmp_path / "cg"
    _files(cg, {"a/b/memory.max": "max", "a/memory.max": str(2 * GIB), "a/memory.current": str(GIB // 2)})
    assert cgroup_memory_left(proc=str(proc), cgroup=str(cg)) == GIB + GIB // 2


def test_a_cgroup_v1_memory_limit_counts_and_its_no_limit_does_not(tmp_path: Path) -> None:
    proc = _proc(tmp_path, "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc")
    cg = tmp_path / "cg"
    _files(cg, {"memory/docker/abc/memory.limit_in_bytes": str(8 * GIB),
                "memory/docker/abc/memory.usage_in_bytes": str(2 * GIB)})  # fmt: skip
    assert cgroup_memory_left(proc=str(proc), cgroup=str(cg)) == 6 * GIB
    _files(cg, {"memory/docker/abc/memory.limit_in_bytes": str(2**63 - 4096)})  # v1's "no limit"
    assert cgroup_memory_left(proc=str(proc), cgroup=str(cg)) is None
    assert available_memory("cpu", proc=str(proc), cgroup=str(cg)) == 64 * GIB


def test_without_a_cgroup_limit_the_machine_s_free_memory_counts(tmp_path: Path) -> None:
    proc = _proc(tmp_path, "0::/", available_kib=3 * 2**20)
    assert available_memory("cpu", proc=str(proc), cgroup=str(tmp_path / "none")) == 3 * GIB


def test_a_cgroup_cpu_quota_and_the_affinity_mask_cap_the_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7}, raising=False)
    proc = _proc(tmp_path, "0::/job")
    cg = tmp_path / "cg"
    assert usable_cpus(proc=str(proc), cgroup=str(cg)) == 8  # no quota: the affinity mask
    _files(cg, {"job/cpu.max": "250000 100000"})  # 2.5 CPUs of quota
    assert usable_cpus(proc=str(proc), cgroup=str(cg)) == 3
    _files(cg, {"job/cpu.max": "max 100000"})
    assert usable_cpus(proc=str(proc), cgroup=str(cg)) == 8
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {3}, raising=False)  # taskset -c 3
    assert usable_cpus(proc=str(proc), cgroup=str(cg)) == 1


def test_a_cgroup_v1_cpu_quota_caps_the_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    proc = _proc(tmp_path, "3:cpu,cpuacct:/docker/abc")
    cg = tmp_path / "cg"
    _files(
        cg, {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "400000", "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000"}
    )
    assert usable_cpus(proc=str(proc), cgroup=str(cg)) == 4
    _files(cg, {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "-1"})  # no quota
    assert usable_cpus(proc=str(proc), cgroup=str(cg)) == 16


def test_the_command_line_caps_torch_s_threads_at_the_usable_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import torch

    from gdd.cli import main

    rng = np.random.default_rng(0)
    np.save(tmp_path / "noisy.npy", rng.random((16, 16, 3)).astype(np.float32))
    np.save(tmp_path / "flash.npy", rng.random((16, 16, 3)).astype(np.float32))
    before = torch.get_num_threads()
    seen: list[int] = []
    monkeypatch.setattr("gdd.app.memory.usable_cpus", lambda **_: 1)
    monkeypatch.setattr("gdd.app.fuse", lambda settings: seen.append(torch.get_num_threads()) or 0)
    try:
        torch.set_num_threads(2)
        argv = ["flash", "--noisy", str(tmp_path / "noisy.npy"), "--guide", str(tmp_path / "flash.npy")]
        assert main([*argv, "--out", str(tmp_path / "o.npy")]) == 0
        assert seen == [1]
    finally:
        torch.set_num_threads(before)


def test_deterministic_sets_and_restores_every_switch_it_touches(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from gdd.fusion import deterministic

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    with deterministic():
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        import os

        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before
    import os

    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def test_seeded_leaves_the_global_generators_as_they_were(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from gdd.fusion import seeded

    reseeded: list[int] = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: reseeded.append(seed))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: reseeded.append(seed))
    state = torch.random.get_rng_state()
    with seeded(5):
        a = torch.rand(3)
    with seeded(5):
        b = torch.rand(3)
    assert torch.equal(a, b) and torch.equal(torch.random.get_rng_state(), state)
    assert reseeded == []  # CUDA's generators are not touched
