"""The `real/` stage's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augment.core.storage import absolute_fields

FOLDER = "real"


@dataclass(frozen=True)
class RealConfig:
    """Export a real dataset's train and test splits to Parquet (the `real/` stage)."""

    out: str
    dataset: str = "mnist"
    data_root: str | None = None  # None: $AUGMENT_DATA_ROOT, else ~/.cache/augment/data
    download: bool = True
    overwrite: bool = False

    def __post_init__(self) -> None:
        absolute_fields(self, "out", "data_root")

    def identity(self) -> dict[str, Any]:
        """The settings that determine the output's content (where the files came from does not)."""
        return {"dataset": self.dataset}
