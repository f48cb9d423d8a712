"""The `merged/` stage's settings: each option declared once (core/options.py)."""

from __future__ import annotations

from dataclasses import dataclass

from augment.core.errors import require
from augment.core.options import REAL_PER_CLASS_HELP, REQUIRED, StageConfig, option
from augment.core.per_class import PerClass, parse_per_class

FOLDER = "merged"


@dataclass(frozen=True, kw_only=True)
class MergedConfig(StageConfig):
    """Merge the real training split with synthetic rows into one Parquet dataset (the merged/ stage)."""

    COMMAND = "merge"
    PATHS = ("real", "synthetic", "out")

    real: str = option(REQUIRED, "A real export (`augment data export`); only its train split is used.")
    synthetic: str = option(REQUIRED, "A generation output with its _manifest.json.")
    out: str = option(
        REQUIRED, "Merged dataset folder or URI: train/real/ + train/synthetic/ + README.md + _manifest.json."
    )
    synthetic_fraction: float | None = option(
        None, "Share of synthetic rows in the result, in [0, 1).", at_least=0, below=1
    )
    max_synthetic: int | None = option(
        None, "At most this many synthetic rows (ids 0..K-1, class-balanced; default: all).", at_least=0
    )
    real_per_class: PerClass | None = option(None, REAL_PER_CLASS_HELP, parse=parse_per_class)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.synthetic_fraction is None or self.max_synthetic is None,
            "pass either --synthetic-fraction or --max-synthetic, not both",
        )
        require(
            not isinstance(self.real_per_class, int) or self.real_per_class >= 1,
            f"--real-per-class must be at least 1 (got {self.real_per_class})",
        )
