"""The `real/` stage's settings: each option declared once (core/options.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augment.core.options import REQUIRED, DataOptions, StageConfig, option
from augment.core.schema import SCHEMA_VERSION

FOLDER = "real"


@dataclass(frozen=True, kw_only=True)
class RealConfig(StageConfig, DataOptions):
    """Write a dataset's train and test splits in augment's Parquet schema (the real/ stage)."""

    COMMAND = "data export"
    PATHS = ("out", "data_root")

    out: str = option(REQUIRED, "Output folder or URI (s3://…); gets train/ and test/.")

    def identity(self) -> dict[str, Any]:
        """The settings that determine the output's content (where the files came from does not)."""
        return {"dataset": self.dataset, "schema_version": SCHEMA_VERSION}
