"""The `judge/` stage's settings: each option declared once (core/options.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augment.core.options import (
    LIMIT_HELP,
    REAL_PER_CLASS_HELP,
    REQUIRED,
    ComputeOptions,
    DataOptions,
    StageConfig,
    option,
)
from augment.core.per_class import PerClass, parse_per_class, recorded
from augment.core.training_checks import check_training_options, check_training_subset

FOLDER = "judge"


@dataclass(frozen=True, kw_only=True)
class JudgeConfig(StageConfig, DataOptions, ComputeOptions):
    """Train the judge: the digit classifier that scores synthetic digits (real data only; the judge/ stage)."""

    COMMAND = "judge"
    PATHS = ("out", "data_root")

    out: str = option(REQUIRED, "Judge folder or URI: classifier.safetensors + classifier.json.")
    epochs: int = option(4, "Epochs over the real training split.", at_least=1)
    batch_size: int = option(128, "Global batch, split evenly across workers.", at_least=1)
    # the classifier stage's recipe: models/classifier_training.py
    lr: float = option(3e-3, "Peak AdamW learning rate, after a short warm-up.", above=0)
    lr_decay: float = option(0.5, "Learning-rate factor per 60,000 samples seen.", above=0, at_most=1)
    weight_decay: float = option(1e-4, "AdamW weight decay.", at_least=0)
    limit: int | None = option(None, LIMIT_HELP, at_least=1)
    # low-data regime: the same images as the low-data GAN
    real_per_class: PerClass | None = option(None, REAL_PER_CLASS_HELP, parse=parse_per_class)
    seed: int = option(0, "Seed for weights, shuffling and noise.")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_training_options(self)
        check_training_subset(self.limit, self.real_per_class, self.batch_size)

    def identity(self) -> dict[str, Any]:
        keys = ("dataset", "epochs", "batch_size", "lr", "lr_decay", "weight_decay", "limit", "real_per_class", "seed")
        return {**{key: getattr(self, key) for key in keys}, "real_per_class": recorded(self.real_per_class)}
