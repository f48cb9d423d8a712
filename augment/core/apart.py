"""Work that needs torch, run in a child process from a driver that stays without it (the CLI's
driver imports no torch: a second copy of its threads and memory would compete with Ray's workers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from augment.core.errors import AugmentError


def run_module_apart(module: str, *args: str, failed: str) -> str:
    """`python -m module args` with this checkout's augment importable (a `ray job` working dir is
    not installed); its stdout. A failure is one line: the child's own augment error as it is
    (exit 2), anything else after `failed`."""
    package_root = str(Path(__file__).resolve().parents[2])  # the folder holding `augment/`
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        raise AugmentError(("" if proc.returncode == 2 else f"{failed}: ") + lines[-1])
    return proc.stdout
