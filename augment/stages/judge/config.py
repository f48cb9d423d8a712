"""The `judge/` stage's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augment.core.options import ComputeOptions, DataOptions, StageConfig
from augment.core.per_class import PerClass, recorded

FOLDER = "judge"


@dataclass(frozen=True, kw_only=True)
class JudgeConfig(StageConfig, DataOptions, ComputeOptions):
    """Train the judge: a digit classifier on the real training split (the `judge/` stage)."""

    PATHS = ("out", "data_root")

    out: str
    epochs: int = 4
    batch_size: int = 128  # global
    lr: float = 3e-3  # peak, after a short warm-up (the classifier stage's recipe: models/classifier_training.py)
    lr_decay: float = 0.5  # per 60,000 samples seen
    weight_decay: float = 1e-4
    limit: int | None = None
    real_per_class: PerClass | None = None  # low-data regime, the same images as the low-data GAN
    seed: int = 0

    def identity(self) -> dict[str, Any]:
        keys = ("dataset", "epochs", "batch_size", "lr", "lr_decay", "weight_decay", "limit", "real_per_class", "seed")
        return {**{key: getattr(self, key) for key in keys}, "real_per_class": recorded(self.real_per_class)}
