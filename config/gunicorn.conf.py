"""Gunicorn settings for Leadline, every knob from the environment.

Used by the Docker image (``gunicorn -c config/gunicorn.conf.py config.wsgi:application``),
the Kubernetes Deployment, the benchmark and the two-instance test, so the
production process model is the one that gets measured.

Environment (all optional):

``GUNICORN_BIND``            listen address, default ``0.0.0.0:8000``
``WEB_CONCURRENCY``          worker processes, default ``CPUs + 1`` (the CPUs of the
                             container's quota, common/cpus.py) capped at
                             ``GUNICORN_MAX_WORKERS`` (default 8)
``GUNICORN_THREADS``         threads per worker, default 1 (the sync worker); > 1
                             switches to ``gthread``
``GUNICORN_TIMEOUT``         seconds a request may run before its worker is killed (120:
                            the largest upload, 10 MiB of XLSX, must import inside it)
``GUNICORN_GRACEFUL_TIMEOUT``  seconds to finish in-flight requests on shutdown (30)
``GUNICORN_KEEPALIVE``       idle keep-alive seconds (5)
``GUNICORN_MAX_REQUESTS``    recycle a worker after this many requests (1000; 0 = never)
``GUNICORN_MAX_REQUESTS_JITTER``  random extra requests before recycling (100)
``GUNICORN_BACKLOG``         listen backlog (2048)
``GUNICORN_LOG_LEVEL``       gunicorn's own log level (``LOG_LEVEL`` or info)
``GUNICORN_ACCESSLOG``       access log target, ``-`` = stdout (set ``off`` to disable)
``GUNICORN_PRELOAD``         ``true`` loads the app in the master before forking
``GUNICORN_CONTROL_SOCKET``  path of gunicorn's control socket (disabled when unset)
``FORWARDED_ALLOW_IPS``      proxies trusted for ``X-Forwarded-*`` (default loopback)
``PROMETHEUS_MULTIPROC_DIR`` shared metrics directory for all workers (see hooks below)
"""

import os
import shutil
import sys
from pathlib import Path

# gunicorn reads this file before it puts its working directory on sys.path;
# the project root has to be there for the shared CPU helper.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from common.cpus import available_cpus  # noqa: E402

_TRUE = {"1", "true", "yes", "on"}


def _env(name, default):
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# A container listens on all its interfaces; the pod network decides who reaches it.
bind = _env("GUNICORN_BIND", "0.0.0.0:8000")
backlog = _env_int("GUNICORN_BACKLOG", 2048)

# cores + 1 single-threaded (sync) processes. The work is CPU-bound Python with
# sub-millisecond database and Redis round trips, so threads in one process mostly
# wait for the GIL: bench/api_bench.py --sweep on 2 cores (29 Nov 2026, slices
# interleaved with the bare view) served the agents' lead list at p99 41-46 ms with
# 2-5 sync workers against 110-230 ms with gthread 2x2, 2x4, 3x2, 4x2, and at the
# same or better rates (540-620 req/s against 350-580). Sync workers need a
# buffering proxy in front (ingress-nginx, nginx), which holds slow clients and
# uploads so a worker is busy only while Django runs; where clients reach gunicorn
# directly, set GUNICORN_THREADS=4 (gthread) instead. The cap keeps a big node
# from opening more DB connections per pod than max_connections allows
# (workers x threads x pods).
# available_cpus(): the container's CPU quota (cgroup v1 or v2), not the node's
# cores; a pod limited to one CPU on a 32-core node would otherwise start 33
# workers, throttled and OOM-killed together (common/cpus.py).
workers = _env_int(
    "WEB_CONCURRENCY", min(available_cpus() + 1, _env_int("GUNICORN_MAX_WORKERS", 8))
)
threads = _env_int("GUNICORN_THREADS", 1)
# Threads only help with the gthread worker; the sync worker ignores them.
worker_class = "gthread" if threads > 1 else "sync"

# Long enough for a 10 MB import upload to be parsed; anything slower belongs in a
# management command, and a stuck worker is better killed than left holding a slot.
timeout = _env_int("GUNICORN_TIMEOUT", 120)
# Kubernetes waits terminationGracePeriodSeconds (45 in deploy/k8s) after SIGTERM;
# finishing in-flight requests must fit inside it.
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Behind a load balancer the upstream keep-alive avoids a TCP handshake per request
# (gthread only: the sync worker closes the connection after each response).
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)

# Recycling workers bounds slow memory growth (caches, fragmentation); the jitter
# keeps all workers from restarting at the same moment.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 100)

preload_app = _env("GUNICORN_PRELOAD", "false").lower() in _TRUE

# The heartbeat file is fchmod'ed on every loop; on an overlay or disk filesystem that
# can stall a worker, so use the in-memory /dev/shm when the container has it (it is
# writable even with a read-only root filesystem).
if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# Logs go to stdout/stderr, where the container runtime collects them.
_accesslog = _env("GUNICORN_ACCESSLOG", "-")
accesslog = None if _accesslog.lower() == "off" else _accesslog
errorlog = "-"
loglevel = _env("GUNICORN_LOG_LEVEL", _env("LOG_LEVEL", "info")).lower()
# The request id ties an access-log line to the application's JSON log lines;
# %(M)s is the request duration in milliseconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'

# Only these peers may set X-Forwarded-Proto/For: anyone else could claim HTTPS or
# spoof a client IP (which the rate limits key on). In Kubernetes, set it to the
# ingress controller's pod network.
forwarded_allow_ips = _env("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Gunicorn's runtime control socket lives in $HOME by default: read-only in the
# container, and shared between two instances on one machine. Opt in explicitly.
_control_socket = _env("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket

proc_name = "leadline"

# --- Prometheus multi-process mode ----------------------------------------------
# Every worker is a separate process with its own counters; /metrics served by one
# worker would show only that worker's share. prometheus_client's multi-process mode
# makes each worker write its samples to files in PROMETHEUS_MULTIPROC_DIR and the
# /metrics view sums them.
_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()


def on_starting(server):
    """Start with an empty metrics directory (runs once, in the master).

    Files left by a previous master (a container restart keeps an emptyDir) would be
    added to the new process's counters, and gauges of dead pids would linger.
    """
    if not _MULTIPROC_DIR:
        return
    path = Path(_MULTIPROC_DIR)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def child_exit(server, worker):
    """Drop a dead worker's live gauges so /metrics does not report ghosts.

    Its counters stay (they are cumulative); only ``livesum``/``liveall`` gauges of
    that pid are removed, which is what prometheus_client asks servers to do.
    """
    if not _MULTIPROC_DIR:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Hide the loaded application from the garbage collector (runs in each worker).

    Django, DRF and the URLconf leave ~120,000 long-lived objects that every full
    collection walks: measured at 60-67 ms on the bench machine, paid by whichever
    request happens to trigger it (the lone 75-110 ms samples of make bench-scale's
    p95). ``gc.freeze()`` moves them to the permanent generation, after which a full
    collection takes 1-6 ms. The URLconf is loaded first so the views, serializers
    and filters are frozen too; objects created by requests are collected as usual.
    """
    from common.gcfreeze import freeze_loaded_app

    freeze_loaded_app()
