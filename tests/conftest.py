from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures import TinyDataset, write_tiny_dataset


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> TinyDataset:
    return write_tiny_dataset(tmp_path / "data")


@pytest.fixture(autouse=True)
def _no_ambient_data_settings(monkeypatch, tmp_path):
    """Tests never see the developer's data root, home cache or offline switch."""
    monkeypatch.delenv("AUGMENT_DATA_ROOT", raising=False)
    monkeypatch.delenv("AUGMENT_OFFLINE", raising=False)
    monkeypatch.delenv("AUGMENT_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Call the console script's `main()` in this process with the given argv and environment.

    Exactly the user's code path minus interpreter start-up; an exception that escapes `main()`
    (what a user would see as a traceback) fails the test.
    """

    def run(*args, env: dict[str, str] | None = None) -> CliResult:
        from augment.cli import main

        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(sys, "argv", ["augment", *map(str, args)])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main()
        code = exit_info.value.code
        out, err = capsys.readouterr()
        return CliResult(
            code if isinstance(code, int) else (0 if code is None else 1), _own_lines(out), _own_lines(err)
        )

    return run


# "(RayTrainWorker pid=123) ..." lines: the test session's Ray forwards its actors' logs into this
# process at any moment, also while an unrelated in-process CLI call is being captured.
_FORWARDED_RAY_LOG = re.compile(r"^(\x1b\[[0-9;]*m)?\(.* pid=\d+(, ip=[0-9.]+)?\)")


def _own_lines(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not _FORWARDED_RAY_LOG.match(line))


def augment_argv(*args, prelude: str = "") -> list[str]:
    """The command line of the `augment` entry point in a fresh interpreter (this environment's
    Python; the `augment` script may not be on PATH)."""
    return [sys.executable, "-c", prelude + "from augment.cli import main; main()", *map(str, args)]


def run_cli_process(*args, env: dict[str, str] | None = None, prelude: str = "") -> CliResult:
    """Run the entry point in a fresh interpreter: what the terminal shows, byte for byte.

    `prelude` is Python run first in that process, e.g. to point downloads at an unreachable mirror.
    """
    proc = subprocess.run(
        augment_argv(*args, prelude=prelude),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(result: CliResult, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("augment: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="session")
def ray_local():
    """One small local Ray for the whole session: 2 CPUs, like CI, and no dashboard."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False)
    yield ray
    ray.shutdown()
