"""The `merged/` stage's settings."""

from __future__ import annotations

from dataclasses import dataclass

from augment.core.options import StageConfig
from augment.core.per_class import PerClass

FOLDER = "merged"


@dataclass(frozen=True, kw_only=True)
class MergedConfig(StageConfig):
    """Real train split + synthetic rows as one Parquet dataset (the `merged/` stage)."""

    PATHS = ("real", "synthetic", "out")

    real: str  # a `real/` export (only its train split is used)
    synthetic: str  # a generation output with its manifest
    out: str
    synthetic_fraction: float | None = None  # share of synthetic rows in the result
    max_synthetic: int | None = None  # at most this many synthetic rows (ids 0..K-1)
    real_per_class: PerClass | None = None  # the first K real images of each class, or one entry per class
