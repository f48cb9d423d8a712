"""A real single-node Ray cluster for tests: `ray start --head` on loopback ports, stopped by its
own processes only (never a broad `ray stop`, which would take down every Ray on the machine)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def ray_cli() -> str:
    """The `ray` script of this interpreter's environment (PATH may lack it, e.g. a venv not activated)."""
    return shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray") or "ray"


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
            ppid = int(
                next(line for line in (entry / "status").read_text().splitlines() if line.startswith("PPid:")).split()[
                    1
                ]
            )
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


@dataclass(frozen=True)
class RayHead:
    address: str  # the Jobs API: http://127.0.0.1:PORT
    env: dict[str, str]  # what a client process needs: this cluster's auth token, no RAY_ADDRESS


def client_env(env_extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a cluster of its own: an auth token of its own (Ray >= 2.59
    requires one for local clusters, and the default token file lives in a HOME that tests
    replace), no RAY_ADDRESS, and `env_extra` (storage credentials, data root)."""
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), **(env_extra or {}))
    return env


def head_command(temp_dir: str, gcs_port: int, dashboard_port: int, num_cpus: int, *extra: str) -> list[str]:
    """`ray start --head` on loopback with the Jobs API, no GPU, and ports of its own: the test
    session's Ray may already hold the defaults (agent 52365 ...), and a head whose job agent
    cannot bind answers every submission "No available agent"."""
    own_ports = (
        "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port",
        "runtime-env-agent-port",
        "metrics-export-port",
        "ray-client-server-port",
    )
    return [
        ray_cli(), "start", "--head", f"--port={gcs_port}", f"--num-cpus={num_cpus}", "--num-gpus=0", *extra,
        "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
        f"--temp-dir={temp_dir}", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
        *(f"--{name}={free_port()}" for name in own_ports),
    ]  # fmt: skip


def in_driver(gcs_address: str, env: dict[str, str], code: str):
    """What `code` prints as JSON (its last line), run in a driver attached to the cluster at
    `gcs_address` (never in the test process, which may hold a Ray of its own)."""
    connect = f"ray.init(address={gcs_address!r}, configure_logging=False, log_to_driver=False)"
    script = f"import json, ray\n{connect}\n{code}"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


@contextmanager
def ray_head(num_cpus: int = 2, env_extra: dict[str, str] | None = None) -> Iterator[RayHead]:
    """Start a head node with its own auth token. `env_extra`: more variables for the cluster's
    processes, jobs included (storage credentials, data root)."""
    temp_dir = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    dashboard = free_port()
    env = client_env(env_extra)
    subprocess.run(head_command(temp_dir, free_port(), dashboard, num_cpus), check=True, capture_output=True, text=True,
                   timeout=120, env=env)  # fmt: skip
    head = RayHead(f"http://127.0.0.1:{dashboard}", env)
    try:
        _wait_for_jobs_api(head)
        yield head
    finally:
        stop_processes(temp_dir, graceful=True)
        shutil.rmtree(temp_dir, ignore_errors=True)


def stop_processes(temp_dir: str, graceful: bool) -> None:
    """Every process of the Ray node(s) started with `temp_dir`, and their descendants: SIGTERM,
    then SIGKILL for what is left (graceful), or SIGKILL at once (a node lost without warning)."""
    steps = ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)) if graceful else ((signal.SIGKILL, 5.0),)
    for sig, pause in steps:
        for pid in _cluster_pids(temp_dir):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + pause
        while _cluster_pids(temp_dir) and time.time() < deadline:
            time.sleep(0.2)


def _wait_for_jobs_api(head: RayHead, timeout_s: float = 120.0) -> None:
    """Until the head runs jobs: the HTTP API answers before its job agent has registered."""
    probe = (
        "import time\n"
        "from ray.job_submission import JobSubmissionClient\n"
        f"client = JobSubmissionClient({head.address!r})\n"
        "job = client.submit_job(entrypoint='python -c pass')\n"
        "while client.get_job_status(job).value not in ('SUCCEEDED', 'FAILED', 'STOPPED'): time.sleep(0.5)\n"
        "assert client.get_job_status(job).value == 'SUCCEEDED'\n"
    )
    deadline = time.time() + timeout_s
    while True:
        try:  # in a child process: the token is read from the environment
            subprocess.run([sys.executable, "-c", probe], env=head.env, check=True, capture_output=True, timeout=60)
            return
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(1.0)
