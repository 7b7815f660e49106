# ruff: noqa: S603, S607 - tests start local servers and manage.py
"""Throwaway Redis and MariaDB servers for the fault tests (``test_degradation``),
and ``free_port`` (also the gunicorn ports of ``test_two_instances``).

A test helper, not a test module. Each server starts on a free loopback port
with its data in a temporary directory and is killed by the test; the shared
services on 3306/6379 are never touched.
"""

import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


class RedisServer:
    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = Path(tmp_path)
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "/usr/bin/redis-server",
                "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir), "--protected-mode", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.port, self.proc)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class MariaDBServer:
    """A private mariadbd (root without password on a TCP port only)."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = Path(tmp_path) / "mariadb"
        data = self.dir / "data"
        data.mkdir(parents=True)
        self.socket = self.dir / "mysqld.sock"
        subprocess.run(
            [
                "mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                "--auth-root-authentication-method=normal", "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        self.proc = subprocess.Popen(
            [
                shutil.which("mariadbd") or "/usr/sbin/mariadbd", "--no-defaults",
                f"--datadir={data}", "--user=root", f"--port={self.port}",
                "--bind-address=127.0.0.1", f"--socket={self.socket}",
                f"--pid-file={self.dir / 'mariadbd.pid'}", "--skip-log-bin",
                "--innodb-buffer-pool-size=16M", "--skip-grant-tables=0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.port, self.proc, timeout=60)

    def url(self, name):
        return f"mysql://root@127.0.0.1:{self.port}/{name}"

    def sql(self, statement):
        subprocess.run(
            [
                "mariadb",
                "--protocol=tcp",
                "-h127.0.0.1",
                f"-P{self.port}",
                "-uroot",
                "-e",
                statement,
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
