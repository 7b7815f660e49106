"""CPUs from the container's quota (fake cgroup files), for gunicorn and the phone pool.

The host here has 32 cores (a fake affinity mask); the container may use what
its cgroup allows. Before, the phone pool asked only the affinity mask (32
processes in a one-CPU pod) and gunicorn only read cgroup v2 at the mount root.
"""

import runpy
from pathlib import Path

import pytest

from common import cpus
from imports.normalize import PhoneNormalizer

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "config" / "gunicorn.conf.py"
HOST_CORES = 32


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A fake machine: ``host.cgroup(line, {path: text})`` writes its cgroup files."""
    root = tmp_path / "cgroup"
    root.mkdir()
    proc = tmp_path / "proc-self-cgroup"
    monkeypatch.setattr(cpus, "CGROUP_ROOT", root)
    monkeypatch.setattr(cpus, "PROC_SELF_CGROUP", proc)
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: set(range(HOST_CORES)))

    class Host:
        def cgroup(self, lines, files):
            proc.write_text("".join(line + "\n" for line in lines))
            for name, text in files.items():
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text + "\n")

    return Host()


V2 = ["0::/"]
V1 = ["12:pids:/docker/abc", "4:cpu,cpuacct:/docker/abc", "2:memory:/docker/abc"]


@pytest.mark.parametrize(
    "lines, files, expected",
    [
        # cgroup v2, container namespace: its own cgroup is the mount root.
        (V2, {"cpu.max": "100000 100000"}, 1),
        (V2, {"cpu.max": "150000 100000"}, 2),  # 1.5 CPUs: rounded up
        (V2, {"cpu.max": "400000 100000"}, 4),
        (V2, {"cpu.max": "max 100000"}, HOST_CORES),
        # A limit on the pod (a parent) binds the container below it.
        (
            ["0::/kubepods/pod1/ctr"],
            {"kubepods/pod1/cpu.max": "200000 100000", "kubepods/pod1/ctr/cpu.max": "max 100000"},
            2,
        ),
        (
            ["0::/kubepods/pod1/ctr"],
            {"kubepods/pod1/cpu.max": "800000 100000", "kubepods/pod1/ctr/cpu.max": "50000 100000"},
            1,
        ),
        # cgroup v1: the container sees its cgroup at the mount point, while
        # /proc/self/cgroup names the host's path.
        (
            V1,
            {"cpu,cpuacct/cpu.cfs_quota_us": "200000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            2,
        ),
        (
            V1,
            {"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            HOST_CORES,
        ),
        (["3:cpu:/"], {"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"}, 1),
        # Nothing readable, or nonsense: the affinity mask.
        (V2, {}, HOST_CORES),
        (V2, {"cpu.max": "garbage"}, HOST_CORES),
        ([], {}, HOST_CORES),
    ],
)
def test_available_cpus_follow_the_cgroup_quota(host, lines, files, expected):
    host.cgroup(lines, files)
    assert cpus.available_cpus() == expected


def test_a_narrow_affinity_mask_wins_over_a_wide_quota(host, monkeypatch):
    host.cgroup(V2, {"cpu.max": "800000 100000"})
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: {0, 1})
    assert cpus.available_cpus() == 2


def test_without_proc_the_mount_points_are_read(host, tmp_path, monkeypatch):
    host.cgroup([], {"cpu.max": "300000 100000"})
    monkeypatch.setattr(cpus, "PROC_SELF_CGROUP", tmp_path / "missing")
    assert cpus.available_cpus() == 3


def test_the_phone_pool_is_sized_by_the_quota(host, settings):
    settings.IMPORT_WORKERS = 0
    host.cgroup(V2, {"cpu.max": "100000 100000"})
    assert PhoneNormalizer.worker_count() == 1
    host.cgroup(
        V1, {"cpu,cpuacct/cpu.cfs_quota_us": "300000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}
    )
    assert PhoneNormalizer.worker_count() == 3


def test_import_workers_still_overrides_the_quota(host, settings):
    settings.IMPORT_WORKERS = 5
    host.cgroup(V2, {"cpu.max": "100000 100000"})
    assert PhoneNormalizer.worker_count() == 5


@pytest.mark.parametrize(
    "lines, files, workers",
    [
        (V2, {"cpu.max": "100000 100000"}, 2),  # one CPU: 1 + 1, as deploy/k8s expects
        (
            V1,
            {"cpu,cpuacct/cpu.cfs_quota_us": "300000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            4,
        ),
        (V2, {"cpu.max": "max 100000"}, 8),  # 32 cores: capped by GUNICORN_MAX_WORKERS
    ],
)
def test_gunicorn_workers_follow_the_quota(host, monkeypatch, lines, files, workers):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("GUNICORN_MAX_WORKERS", raising=False)
    host.cgroup(lines, files)
    assert runpy.run_path(str(GUNICORN_CONF))["workers"] == workers
