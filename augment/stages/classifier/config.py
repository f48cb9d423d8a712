"""The `classifier/` stage's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augment.core.options import ComputeOptions, DataOptions, StageConfig

FOLDER = "classifier"


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig(StageConfig, DataOptions, ComputeOptions):
    """Train the digit classifier on a Parquet dataset through Ray Data (the `classifier/` stage)."""

    PATHS = ("data", "out", "data_root", "init_from")

    data: str  # a merged, synthetic or real output (a real export contributes its train split only)
    out: str
    dataset: str = "mnist"  # whose real test split measures accuracy
    epochs: int = 4
    # A budget of samples seen (optimizer steps x global batch) instead of whole epochs: training
    # runs ceil(budget / epoch) epochs and stops inside the last one, so runs on datasets of
    # different sizes can be compared at equal cost (the gain table's variants).
    samples_seen: int | None = None
    batch_size: int = 128  # global
    lr: float = 3e-3  # peak, after a short warm-up
    lr_decay: float = 0.5  # per 60,000 samples seen: needs no total length, so a run can be extended
    weight_decay: float = 1e-4
    seed: int = 0
    real_only: bool = False  # train on the source=real rows only
    synthetic_only: bool = False  # train on the source=synthetic rows only (classification accuracy score)
    max_synthetic: int | None = None  # synthetic rows with id >= this are left out
    # Fresh synthetic rows: each epoch trains on the real rows and the next K rows of the synthetic
    # pool, wrapping around (rows.py), instead of every synthetic row every epoch.
    synthetic_per_epoch: int | None = None
    classic_augment: bool = False  # torchvision's affine + elastic distortions, batched, on every training image
    # Class-balanced loss: each class's rows weigh rows / (classes x that class's rows) in the cross
    # entropy, so a rare class counts as much as a common one: the long-tail baseline of practitioners.
    balanced_loss: bool = False
    # Start from another classifier's weights (e.g. one trained on synthetic rows only) instead of
    # a fresh initialisation: pretrain-then-fine-tune. The optimizer and schedule start afresh.
    init_from: str | None = None
    checkpoint_every: int = 1
    max_failures: int = 2
    fail_at_epoch: int | None = None  # fault injection: one worker dies once during this epoch

    def identity(self, data_digest: str, init_sha256: str | None = None) -> dict[str, Any]:
        """What makes two runs the same run: more epochs or other workers continue it."""
        keys = (
            "dataset",
            "batch_size",
            "lr",
            "lr_decay",
            "weight_decay",
            "seed",
            "real_only",
            "synthetic_only",
            "max_synthetic",
        )
        # Named, not True: runs made with the earlier per-image, unseeded transforms are other runs.
        augment = "batched, keyed by (seed, epoch, source, id)" if self.classic_augment else False
        # absent when unset: runs made before these options keep their identity
        budget = {} if self.samples_seen is None else {"samples_seen": self.samples_seen}
        balanced = {"balanced_loss": True} if self.balanced_loss else {}
        fresh = {} if self.synthetic_per_epoch is None else {"synthetic_per_epoch": self.synthetic_per_epoch}
        init = {} if init_sha256 is None else {"init_from": init_sha256}  # the weights, wherever they live
        return {
            "data": data_digest,
            **{key: getattr(self, key) for key in keys},
            "classic_augment": augment,
            **budget,
            **balanced,
            **fresh,
            **init,
        }

    def steps(self) -> int | None:
        """The optimizer steps the budget allows (None: whole epochs)."""
        return None if self.samples_seen is None else self.samples_seen // self.batch_size

    def epochs_for(self, rows: int) -> int:
        """Epochs over `rows` training rows: --epochs, or as many as the budget reaches into."""
        steps = self.steps()
        return self.epochs if steps is None else max(1, -(-steps // (rows // self.batch_size)))
