"""How many CPUs this process may really use: the container's quota, not the host's.

``os.cpu_count()`` (and the affinity mask, unless the runtime pins CPUs) reports
the node's cores: a pod limited to one CPU on a 32-core node would start 33
gunicorn workers and 32 phone-parsing processes, all throttled by the CFS quota
and competing for the pod's memory limit. The quota is in the cgroup files:

- cgroup v2: ``cpu.max`` = ``"<quota> <period>"`` (microseconds) or ``"max <period>"``;
- cgroup v1: ``cpu.cfs_quota_us`` (``-1`` = none) and ``cpu.cfs_period_us``, in the
  ``cpu`` (or ``cpu,cpuacct``) hierarchy.

The process's own cgroup is read from ``/proc/self/cgroup`` and every level up to
the mount point is looked at (a limit on a parent, such as a Kubernetes pod's
cgroup or a systemd slice, binds its children too); the tightest one wins. In
a container the mount point is usually the container's own cgroup, which is
looked at last. Used by ``config/gunicorn.conf.py`` (workers) and
``imports.normalize.PhoneNormalizer`` (phone worker processes), so it imports
nothing from Django.
"""

import math
import os
from pathlib import Path, PurePosixPath

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
_V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def available_cpus():
    """Whole CPUs this process may use: its affinity, capped by the cgroup quota.

    A fractional quota is rounded up (1.5 CPUs → 2: the half CPU is usable
    time too). Never less than 1.
    """
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    quota = cpu_quota()
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def cpu_quota():
    """The tightest CFS quota on this process's cgroup path, in CPUs; None if none."""
    quotas = []
    for directory, reader in _cgroup_dirs():
        quota = reader(directory)
        if quota is not None:
            quotas.append(quota)
    return min(quotas) if quotas else None


def _cgroup_dirs():
    """``(directory, reader)`` for each level of this process's cpu cgroup(s)."""
    try:
        lines = PROC_SELF_CGROUP.read_text().splitlines()
    except OSError:
        lines = []
    found = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            found += [(d, _read_v2) for d in _levels(CGROUP_ROOT, path)]
        elif "cpu" in controllers.split(","):
            for mount in _V1_CPU_MOUNTS:
                if (CGROUP_ROOT / mount).is_dir():
                    found += [(d, _read_v1) for d in _levels(CGROUP_ROOT / mount, path)]
                    break
    if not found:
        # No /proc (or nothing in it for cpu): the mount points themselves.
        found = [(CGROUP_ROOT, _read_v2)]
        found += [(CGROUP_ROOT / mount, _read_v1) for mount in _V1_CPU_MOUNTS]
    return found


def _levels(mount, path):
    """``mount/path`` and each parent up to ``mount`` itself (paths that are
    missing, as in a container that sees only its own cgroup, are skipped by
    the readers)."""
    relative = PurePosixPath(path or "/").relative_to("/")
    if ".." in relative.parts:  # a cgroup outside our namespace: only the mount is ours
        return [mount]
    levels = [mount / relative]
    levels += [mount / parent for parent in relative.parents]
    return levels


def _read_v2(directory):
    try:
        quota, period = (directory / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        return _ratio(int(quota), int(period))
    except (OSError, ValueError):
        return None


def _read_v1(directory):
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return _ratio(quota, period)


def _ratio(quota, period):
    return quota / period if quota > 0 and period > 0 else None
