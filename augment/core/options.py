"""Options, declared once: each stage's config dataclass is the single source of its options.

A field declared with `option(default, help, bounds…)` is an option: the CLI command of its stage,
`augment run` and the jobs are built from that declaration (cli_build.py), and its bounds are
checked where the config is built, so every way in refuses the same bad value with the same line.
A field without `option()` is internal (a test hook, a value a stage fills in).

Every config is a frozen, keyword-only dataclass: `identity()` (where a stage has one) names the
settings that determine its output, and the path options listed in PATHS are made absolute (or
kept as URIs) where the config is built, in the driver, before any Ray worker sees them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field, fields
from types import SimpleNamespace
from typing import Any, ClassVar

from augment.core.errors import AugmentError
from augment.core.storage import absolute_fields

REQUIRED = MISSING  # option(REQUIRED, ...): no default; the command asks for it


@dataclass(frozen=True)
class Bounds:
    """Where a number option may lie; None: no bound on that side."""

    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    below: float | None = None

    def holds(self, value: float) -> bool:
        return not (
            (self.at_least is not None and value < self.at_least)
            or (self.above is not None and value <= self.above)
            or (self.at_most is not None and value > self.at_most)
            or (self.below is not None and value >= self.below)
            or (isinstance(value, float) and not math.isfinite(value))
        )

    def describe(self) -> str:
        low = self.at_least if self.at_least is not None else self.above
        high = self.at_most if self.at_most is not None else self.below
        if high is None:
            return f"at least {low:,}" if self.at_least is not None else f"above {low:g}"
        if low is None:
            return f"at most {high:,}" if self.at_most is not None else f"below {high:g}"
        if self.at_least is not None and self.at_most is not None and isinstance(high, int):
            return f"between {low:,} and {high:,}"
        return (
            f"in {'[' if self.at_least is not None else '('}{low:g}, {high:g}{']' if self.at_most is not None else ')'}"
        )


def option(
    default: Any = REQUIRED,
    help: str = "",
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
    choices: tuple[str, ...] | None = None,
    parse: Callable[[Any], Any] | None = None,
    flag: str | None = None,
    envvar: str | None = None,
    hidden: bool = False,
    text: str | None = None,
    action: bool = False,
) -> Any:
    """A config field that is an option. `parse` turns the CLI's text (or a record's list) into the
    field's value; `flag` names the command-line flag when it is not --field-name (a bool flag
    named otherwise, like --offline for download, is the field's negation); `text` shows a
    default the CLI cannot print as it is (a tuple)."""
    bounds = Bounds(at_least, above, at_most, below)
    metadata = {
        "help": help,
        "bounds": bounds if bounds != Bounds() else None,
        "choices": choices,
        "parse": parse,
        "flag": flag,
        "envvar": envvar,
        "hidden": hidden,
        "text": text,
        "action": action,  # what to do this time, not a setting: left out of --print-config
    }
    if isinstance(default, list | dict | set):
        return field(default_factory=lambda: default, metadata=metadata)
    return field(default=default, metadata=metadata)


def restated(spec: Field, default: Any, **metadata: Any) -> Any:
    """Another config's field for the same option (`augment run`'s): the same declaration, metadata
    added, and the default given."""
    return field(default=default, metadata={**spec.metadata, **metadata})


def is_option(spec: Field) -> bool:
    return "help" in spec.metadata


def option_fields(config_class) -> list[Field]:
    return [spec for spec in fields(config_class) if is_option(spec)]


def flag_of(spec: Field) -> str:
    return spec.metadata.get("flag") or "--" + spec.name.replace("_", "-")


def default_of(spec: Field) -> Any:
    if spec.default is not MISSING:
        return spec.default
    if spec.default_factory is not MISSING:
        return spec.default_factory()
    return REQUIRED


def check_option(spec: Field, value: Any) -> None:
    """One line for a value outside the option's declared bounds or choices."""
    flag = flag_of(spec)
    if value is None:
        return
    choices, bounds = spec.metadata.get("choices"), spec.metadata.get("bounds")
    if choices is not None and value not in choices:
        raise AugmentError(f"unknown {flag} {value!r}: choose one of {', '.join(choices)}")
    if (
        bounds is not None
        and not isinstance(value, bool)
        and isinstance(value, int | float)
        and not bounds.holds(value)
    ):
        raise AugmentError(f"{flag} must be {bounds.describe()} (got {value})")


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    PATHS: ClassVar[tuple[str, ...]] = ("out",)
    COMMAND: ClassVar[str] = ""  # the `augment` command that runs this stage alone

    overwrite: bool = option(False, "Replace what --out holds (made with other settings, or foreign).", action=True)

    def __post_init__(self) -> None:
        for spec in option_fields(self):
            value, parse = getattr(self, spec.name), spec.metadata.get("parse")
            if parse is not None and value is not None:
                value = parse(value)
                object.__setattr__(self, spec.name, value)
            check_option(spec, value)
        absolute_fields(self, *self.PATHS)

    @classmethod
    def defaults(cls) -> SimpleNamespace:
        """The default settings, without building a config: building one resolves its paths, and in a
        cluster job a placeholder path would be refused as relative."""
        return SimpleNamespace(
            **{spec.name: default_of(spec) for spec in fields(cls) if default_of(spec) is not REQUIRED}
        )


def parse_row_counts(value, option: str = "--curve") -> tuple[int, ...]:
    """Row counts as "0,10000,60000" (the CLI) or a sequence (a record): sorted, without repeats."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        counts = [int(str(item).strip().replace("_", "")) for item in items if str(item).strip()]
    except ValueError:
        raise AugmentError(
            f"{option} takes row counts separated by commas, e.g. 0,10000,60000 (got {value!r})"
        ) from None
    if any(count < 0 for count in counts):
        raise AugmentError(f"{option} takes row counts of 0 or more (got {value!r})")
    return tuple(sorted(set(counts)))


def parse_names(value) -> tuple[str, ...]:
    """Names as "a,b" (the CLI) or a sequence (a record)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())


DATASETS = ("mnist", "fashion-mnist", "kmnist")
DATA_ROOT_HELP = "Folder with the raw dataset files (default: $AUGMENT_DATA_ROOT, else ~/.cache/augment/data)."
# --limit of the GAN and the judge (one text: `augment run` restates the GAN's)
LIMIT_HELP = (
    "Train on the first N images only (quick runs). `augment run` trains on 55,000 at most: the last 5,000 are its "
    "classifiers' validation rows."
)
REAL_PER_CLASS_HELP = (
    "The first K images of each class (low data), or one entry per class, a count or a percentage "
    "of that class (a long tail: 100%,100%,100%,100%,100%,2%,2%,2%,2%,2%)."
)


@dataclass(frozen=True, kw_only=True)
class DataOptions:
    """The real dataset, read through torchvision (stages/real, gan, judge, classifier, report)."""

    dataset: str = option("mnist", "mnist, fashion-mnist or kmnist.", choices=DATASETS)
    data_root: str | None = option(None, DATA_ROOT_HELP)
    download: bool = option(
        True, "Never download; fail if the files are not there.", flag="--offline", envvar="AUGMENT_OFFLINE"
    )


@dataclass(frozen=True, kw_only=True)
class ComputeOptions:
    """Where and on what a stage runs."""

    workers: int = option(1, "Ray Train workers (DDP replicas).", at_least=1)
    gpu: bool = option(False, "One GPU per worker (nccl); default CPU (gloo).")
    address: str | None = option(None, "Ray cluster to join (default: start a local Ray).")
