"""`augment app`: check the options, then become `streamlit run augment/app/main.py`.

The process is replaced (exec) rather than forked, so Ctrl+C, a supervisor's SIGTERM or a test's
kill reach Streamlit itself and nothing is left running behind the command.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from augment.app.config import AppConfig
from augment.app.locate import locate
from augment.app.main_path import MAIN_SCRIPT, RUN_ENV
from augment.core.errors import AugmentError

LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def validate(cfg: AppConfig) -> None:
    if not is_loopback(cfg.host) and not cfg.allow_remote:
        raise AugmentError(
            f"--host {cfg.host} serves the app to other machines (it can read your run folders and load models); "
            "pass --allow-remote to do that on purpose"
        )
    if not 1 <= cfg.port <= 65535:
        raise AugmentError(f"--port must be 1-65535 (got {cfg.port})")
    locate(cfg.run)  # a missing or foreign --run is refused now, not as a message in the page
    if importlib.util.find_spec("streamlit") is None:
        raise AugmentError("the app needs Streamlit: pip install 'augment[app]'")
    with socket.socket(socket.AF_INET6 if ":" in cfg.host else socket.AF_INET) as probe:
        try:
            probe.bind((cfg.host, cfg.port))
        except OSError as exc:
            raise AugmentError(f"cannot serve on {cfg.host}:{cfg.port}: {exc.strerror or exc}") from None


def streamlit_command(cfg: AppConfig) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(MAIN_SCRIPT),
        "--server.address",
        cfg.host,
        "--server.port",
        str(cfg.port),
        "--server.headless",
        "true",  # no browser opened from a server process
        "--server.fileWatcherType",
        "none",  # installed code does not change under a running app
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "none",  # belt and braces: pages already catch everything
        "--client.toolbarMode",
        "viewer",
    ]


def launch(cfg: AppConfig, *, echo: Callable[[str], None] = print) -> None:
    validate(cfg)
    env = dict(os.environ)
    if cfg.run:
        env[RUN_ENV] = cfg.run if "://" in cfg.run else str(Path(cfg.run).resolve())
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    echo(f"augment app: http://{host}:{cfg.port} (Ctrl+C stops it)")
    sys.stdout.flush()
    sys.stderr.flush()
    command = streamlit_command(cfg)
    os.execve(command[0], command, env)
