"""The one exception type that reaches users as a single line instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_stages: list[str] = []


class AugmentError(Exception):
    """Bad input or an unusable environment: the CLI prints the message alone and exits 2.

    Raise it *before* writing anything, so a refused command leaves data untouched.
    """


class OtherSettings(AugmentError):
    """An output folder holds this stage's output made with other settings (refused unless
    --overwrite). `augment run` owns its folders and redoes such an output: there it can only be
    left by an upstream stage that was redone."""


def require(ok: bool, message: str) -> None:
    if not ok:
        raise AugmentError(message)


def first_line(exc: BaseException) -> str:
    """The root cause of a (Ray-wrapped) exception as one short line."""
    cause = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()] or [type(cause).__name__]
    text = lines.pop(0)
    while text.endswith(":") and lines:  # "Training failed due to controller error:" says nothing yet
        text += " " + lines.pop(0)
    return text[:300]


@contextmanager
def in_stage(name: str) -> Iterator[None]:
    """Name the stage running now, for the one line an unexpected failure prints."""
    _stages.append(name)
    try:
        yield
    finally:
        _stages.pop()


def current_stage() -> str | None:
    return _stages[-1] if _stages else None
