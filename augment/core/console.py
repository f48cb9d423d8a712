"""What a person sees while augment runs: augment's own lines. Ray's chatter goes to log files.

Left alone, a default run printed Ray's internals between augment's lines: the token-auth banner,
C++ `core_worker.cc` errors about actor arguments, every worker's "Moving model to device" and
"Reporting training result" lines, Ray Data's progress blocks and hints. Here:
  * workers' output stays in Ray's own log files (`ray.init(log_to_driver=False)`); progress and
    epoch lines reach the console through augment's progress channel (progress.py);
  * Python log records of libraries in the driver go to this process's log file, not to stderr;
  * Ray Data's console handler is left out (its `ray-data.log` file handler stays);
  * C++ log lines Ray's core writes to the driver's stderr are moved to the log file.
`augment --verbose …` (or AUGMENT_VERBOSE=1) keeps Ray's console as Ray makes it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

VERBOSE_ENV = "AUGMENT_VERBOSE"
LOG_DIR_ENV = "AUGMENT_LOG_DIR"
DEFAULT_LOG_DIR = "~/.cache/augment/logs"
RAY_DATA_LOGGING_ENV = "RAY_DATA_LOGGING_CONFIG"
RAY_DATA_QUIET_CONFIG = Path(__file__).with_name("ray_data_logging.yaml")
# "[2026-12-02 06:39:28,305 E 3497 3497] core_worker.cc:2465: …": Ray's C++ log format.
RAY_CORE_LINE = re.compile(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z] \d+ \d+\] ")
# "(raylet) WARNING: 8 PYTHON worker processes have been started …": the raylet's messages, which
# Ray prints to the driver's stdout whatever log_to_driver says.
RAYLET_LINE = re.compile(r"^(\x1b\[[0-9;]*m)?\(raylet\)")

_log_path: Path | None = None
_lock = threading.Lock()


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").lower() in ("1", "true", "yes")


def set_verbose() -> None:
    os.environ[VERBOSE_ENV] = "1"


def log_file() -> Path:
    """This process's log file (made on first use): Ray's driver-side messages and saved tracebacks."""
    global _log_path
    with _lock:
        if _log_path is None:
            folder = Path(os.environ.get(LOG_DIR_ENV) or DEFAULT_LOG_DIR).expanduser()
            folder.mkdir(parents=True, exist_ok=True)
            _log_path = folder / f"augment-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        return _log_path


class _LazyFileHandler(logging.Handler):
    """Writes to log_file(), opened on the first record, so a quiet run makes no empty file."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            with open(log_file(), "a", encoding="utf-8") as stream:
                stream.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def quiet_libraries() -> None:
    """Before Ray is imported: keep library log records and Ray Data's console output off the terminal."""
    if verbose():
        return
    os.environ.setdefault(RAY_DATA_LOGGING_ENV, str(RAY_DATA_QUIET_CONFIG))
    root = logging.getLogger()
    if not any(isinstance(handler, _LazyFileHandler) for handler in root.handlers):
        # Records that reach the root without a handler would go to stderr (logging.lastResort).
        root.addHandler(_LazyFileHandler())


def before_ray_init() -> None:
    """ray.init(configure_logging=False) removes the "ray" logger's handlers, and that logger does not
    propagate: its warnings (the token-auth banner on every start) then went to logging.lastResort,
    stderr. Propagating, they reach the root's handler: the log file."""
    if not verbose():
        logging.getLogger("ray").propagate = True


@contextmanager
def ray_chatter_to_log() -> Iterator[None]:
    """While Ray runs in this process: the C++ log lines its core writes to stderr (fd 2) and the
    raylet's messages it prints to stdout go to the log file; everything else passes unchanged."""
    if verbose():
        yield
        return
    with _raylet_lines_to_log(), _core_lines_to_log():
        yield


@contextmanager
def _raylet_lines_to_log() -> Iterator[None]:
    original = sys.stdout
    sys.stdout = _LineFilter(original)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stdout = original


class _LineFilter:
    """A text stream that writes whole lines through, except raylet lines (to the log file)."""

    def __init__(self, stream) -> None:
        self.stream, self.pending, self.logged = stream, "", False

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            # a tab-indented line continues the message before it ("\t(2) raylet has lagging heartbeats …")
            self.logged = bool(RAYLET_LINE.match(line) or (self.logged and line.startswith("\t")))
            if self.logged:
                with open(log_file(), "a", encoding="utf-8") as log:
                    log.write(line + "\n")
            else:
                self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.stream.write(self.pending)
            self.pending = ""
        self.stream.flush()

    def __getattr__(self, name: str):  # isatty, fileno, encoding, …: the real stream's
        return getattr(self.stream, name)


@contextmanager
def _core_lines_to_log() -> Iterator[None]:
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    forwarder = threading.Thread(target=_forward, args=(read_end, original), name="augment-stderr", daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last write end held here: the forwarder drains and ends
        forwarder.join(timeout=2.0)
        os.close(original)


def _forward(read_end: int, terminal: int) -> None:
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        pending, logged = b"", False
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                logged = _route(line + b"\n", terminal, logged)
        if pending:
            _route(pending, terminal, logged)


def _route(line: bytes, terminal: int, after_logged: bool) -> bool:
    """Ray's core lines, and the tab-indented lines that continue one, to the log file; the rest
    to the terminal. Returns whether `line` went to the log."""
    if RAY_CORE_LINE.match(line) or (after_logged and line.startswith(b"\t")):
        with open(log_file(), "ab") as stream:
            stream.write(line)
        return True
    os.write(terminal, line)
    return False


def save_traceback(exc: BaseException, context: str) -> Path:
    """Append the whole traceback to the log file; the console gets one line naming the file."""
    path = log_file()
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {context}\n")
        stream.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return path
