"""The `real/` stage's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augment.core.options import DataOptions, StageConfig
from augment.core.schema import SCHEMA_VERSION

FOLDER = "real"


@dataclass(frozen=True, kw_only=True)
class RealConfig(StageConfig, DataOptions):
    """Export a real dataset's train and test splits to Parquet (the `real/` stage)."""

    PATHS = ("out", "data_root")

    out: str

    def identity(self) -> dict[str, Any]:
        """The settings that determine the output's content (where the files came from does not)."""
        return {"dataset": self.dataset, "schema_version": SCHEMA_VERSION}
