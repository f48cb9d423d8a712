"""The `judge/` stage's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augment.core.storage import absolute_fields

FOLDER = "judge"


@dataclass(frozen=True)
class JudgeConfig:
    """Train the judge: a digit classifier on the real training split (the `judge/` stage)."""

    out: str
    dataset: str = "mnist"
    data_root: str | None = None
    download: bool = True
    epochs: int = 4
    workers: int = 1
    gpu: bool = False
    batch_size: int = 128  # global
    lr: float = 3e-3  # peak of the one-cycle schedule
    weight_decay: float = 1e-4
    limit: int | None = None
    real_per_class: int | None = None  # low-data regime, the same images as the low-data GAN
    seed: int = 0
    address: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        absolute_fields(self, "out", "data_root")

    def identity(self) -> dict[str, Any]:
        keys = ("dataset", "epochs", "batch_size", "lr", "weight_decay", "limit", "real_per_class", "seed")
        return {key: getattr(self, key) for key in keys}
