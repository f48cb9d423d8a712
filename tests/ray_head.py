"""A real single-node Ray cluster for tests: `ray start --head` on loopback ports, stopped by its
own processes only (never a broad `ray stop`, which would take down every Ray on the machine)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int(next(line for line in (entry / "status").read_text().splitlines() if line.startswith("PPid:")).split()[1])
        except (OSError, StopIteration, ValueError):
            continue
        found[int(entry.name)] = (ppid, cmdline)
    return found


def _cluster_pids(temp_dir: str) -> set[int]:
    """Every process whose command line names this cluster's temp dir, and all their descendants."""
    table = _processes()
    pids = {pid for pid, (_, cmdline) in table.items() if temp_dir in cmdline}
    grew = True
    while grew:
        children = {pid for pid, (ppid, _) in table.items() if ppid in pids} - pids
        grew = bool(children)
        pids |= children
    pids.discard(os.getpid())
    return pids


@contextmanager
def ray_head(num_cpus: int = 2) -> Iterator[str]:
    """Start a head node; yield its Jobs API address (http://127.0.0.1:PORT)."""
    temp_dir = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    dashboard = free_port()
    command = [
        "ray", "start", "--head", f"--port={free_port()}", f"--num-cpus={num_cpus}", "--num-gpus=0",
        "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
        f"--temp-dir={temp_dir}", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
    ]
    env = {**os.environ, "RAY_ADDRESS": ""}
    env.pop("RAY_ADDRESS")
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=120, env=env)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        _wait_for_jobs_api(address)
        yield address
    finally:
        for sig, pause in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 1.0)):
            for pid in _cluster_pids(temp_dir):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + pause
            while _cluster_pids(temp_dir) and time.time() < deadline:
                time.sleep(0.2)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_for_jobs_api(address: str, timeout_s: float = 60.0) -> None:
    from ray.job_submission import JobSubmissionClient

    deadline = time.time() + timeout_s
    while True:
        try:
            JobSubmissionClient(address).list_jobs()
            return
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(1.0)
