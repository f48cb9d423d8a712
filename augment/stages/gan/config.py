"""The `gan/` stage's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augment.core.options import ComputeOptions, DataOptions, StageConfig
from augment.core.per_class import PerClass, recorded

FOLDER = "gan"


@dataclass(frozen=True, kw_only=True)
class GanConfig(StageConfig, DataOptions, ComputeOptions):
    """Train a class-conditional GAN with Ray Train (the `gan/` stage)."""

    PATHS = ("out", "data_root")

    out: str
    epochs: int = 20
    cpus_per_worker: int | None = None  # None: the cluster's CPUs shared evenly among the workers
    arch: str = "dcgan"
    batch_size: int = 128  # global: split evenly across workers, so results do not depend on W
    limit: int | None = None  # first N training images, for quick runs
    real_per_class: PerClass | None = None  # low-data regime: the first K images of each class (data.low_data_rows)
    seed: int = 0
    latent_dim: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    loss: str = "bce"  # "bce" (non-saturating) or "hinge"
    ema_decay: float = 0.999
    spectral_norm: bool = True
    diff_augment: str | None = None  # e.g. "translation,cutout": DiffAugment for low-data runs
    checkpoint_every: int = 1  # epochs
    max_failures: int = 2  # worker crashes survived per run (each restarts from the last checkpoint)
    fail_at_epoch: int | None = None  # fault injection: one worker dies once during this epoch
    # "auto": bf16 autocast on AMX CPUs, fp32 elsewhere (precision.resolve_for_training).
    # Not part of the identity: weights and optimizer state are fp32 either way, so a run may be
    # continued on other hardware.
    precision: str = "auto"

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same run: continuing with more epochs or other workers is fine."""
        keys = (
            "dataset",
            "arch",
            "batch_size",
            "limit",
            "real_per_class",
            "seed",
            "latent_dim",
            "lr",
            "beta1",
            "beta2",
            "loss",
            "ema_decay",
            "spectral_norm",
            "diff_augment",
        )
        return {**{key: getattr(self, key) for key in keys}, "real_per_class": recorded(self.real_per_class)}
