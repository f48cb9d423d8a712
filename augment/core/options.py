"""The option groups several stages share, declared once; each stage's config is built from them.

Every config is a frozen, keyword-only dataclass: `identity()` (where a stage has one) names the
settings that determine its output, and the path options listed in PATHS are made absolute (or
kept as URIs) where the config is built, in the driver, before any Ray worker sees them.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from types import SimpleNamespace
from typing import ClassVar

from augment.core.errors import AugmentError
from augment.core.per_class import parse_per_class
from augment.core.storage import absolute_fields


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    PATHS: ClassVar[tuple[str, ...]] = ("out",)

    overwrite: bool = False  # replace an output made with other settings (or foreign files)

    def __post_init__(self) -> None:
        absolute_fields(self, *self.PATHS)
        names = {field.name for field in fields(self)}
        if "real_per_class" in names:  # text from the CLI, a list from a record
            object.__setattr__(self, "real_per_class", parse_per_class(self.real_per_class))
        if "curve" in names:
            object.__setattr__(self, "curve", parse_row_counts(self.curve, "--curve"))

    @classmethod
    def defaults(cls) -> SimpleNamespace:
        """The default settings, without building a config: building one resolves its paths, and in a
        cluster job a placeholder path would be refused as relative."""
        found = {}
        for field in fields(cls):
            if field.default is not MISSING:
                found[field.name] = field.default
            elif field.default_factory is not MISSING:
                found[field.name] = field.default_factory()
        return SimpleNamespace(**found)


def parse_row_counts(value, option: str) -> tuple[int, ...]:
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


@dataclass(frozen=True, kw_only=True)
class DataOptions:
    """The real dataset, read through torchvision (stages/real, gan, judge, classifier, report)."""

    dataset: str = "mnist"
    data_root: str | None = None  # None: $AUGMENT_DATA_ROOT, else ~/.cache/augment/data
    download: bool = True


@dataclass(frozen=True, kw_only=True)
class ComputeOptions:
    """Where and on what a stage runs."""

    workers: int = 1  # Ray Train workers (DDP replicas) or Ray Data actors
    gpu: bool = False
    address: str | None = None  # Ray cluster to join; None starts a local Ray
