"""One typed config per stage. The CLI and jobs/ build these; stage functions only read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ExportConfig:
    """Export a real dataset's train and test splits to Parquet (the `real/` stage)."""

    out: str
    dataset: str = "mnist"
    data_root: str | None = None  # None: $AUGMENT_DATA_ROOT, else ~/.cache/augment/data
    download: bool = True
    overwrite: bool = False

    def identity(self) -> dict[str, Any]:
        """The settings that determine the output's content (where the files came from does not)."""
        return {"dataset": self.dataset}
