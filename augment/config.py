"""One typed config per stage. The CLI and jobs/ build these; stage functions only read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augment import storage


def _absolute_paths(config: Any, *fields: str) -> None:
    """Resolve path options once, where the config is built (the driver): see storage.absolute."""
    for name in fields:
        value = getattr(config, name)
        if value is not None:
            object.__setattr__(config, name, storage.absolute(value, "--" + name.replace("_", "-")))


@dataclass(frozen=True)
class ExportConfig:
    """Export a real dataset's train and test splits to Parquet (the `real/` stage)."""

    out: str
    dataset: str = "mnist"
    data_root: str | None = None  # None: $AUGMENT_DATA_ROOT, else ~/.cache/augment/data
    download: bool = True
    overwrite: bool = False

    def __post_init__(self) -> None:
        _absolute_paths(self, "out", "data_root")

    def identity(self) -> dict[str, Any]:
        """The settings that determine the output's content (where the files came from does not)."""
        return {"dataset": self.dataset}


@dataclass(frozen=True)
class TrainGanConfig:
    """Train a class-conditional GAN with Ray Train (the `gan/` stage)."""

    out: str
    dataset: str = "mnist"
    data_root: str | None = None
    download: bool = True
    epochs: int = 20
    workers: int = 1
    gpu: bool = False
    cpus_per_worker: int | None = None  # None: the cluster's CPUs shared evenly among the workers
    arch: str = "dcgan"
    batch_size: int = 128  # global: split evenly across workers, so results do not depend on W
    limit: int | None = None  # first N training images, for quick runs
    real_per_class: int | None = None  # low-data regime: the first K images of each class (data.low_data_rows)
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
    address: str | None = None  # Ray cluster to join; None starts a local Ray
    overwrite: bool = False
    fail_at_epoch: int | None = None  # fault injection: one worker dies once during this epoch
    # "auto": bf16 autocast on AMX CPUs, fp32 elsewhere (precision.resolve_for_training).
    # Not part of the identity: weights and optimizer state are fp32 either way, so a run may be
    # continued on other hardware.
    precision: str = "auto"

    def __post_init__(self) -> None:
        _absolute_paths(self, "out", "data_root")

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same run: continuing with more epochs or other workers is fine."""
        keys = ("dataset", "arch", "batch_size", "limit", "real_per_class", "seed", "latent_dim", "lr", "beta1", "beta2",
                "loss", "ema_decay", "spectral_norm", "diff_augment")
        return {key: getattr(self, key) for key in keys}


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
        _absolute_paths(self, "out", "data_root")

    def identity(self) -> dict[str, Any]:
        keys = ("dataset", "epochs", "batch_size", "lr", "weight_decay", "limit", "real_per_class", "seed")
        return {key: getattr(self, key) for key in keys}


@dataclass(frozen=True)
class GenerateConfig:
    """Generate N labeled synthetic digits to Parquet with Ray Data (the `synthetic/` stage)."""

    checkpoint: str  # a GAN run folder holding generator.safetensors + generator.json
    n: int
    out: str
    judge: str | None = None  # a judge folder; None: CHECKPOINT/judge, trained there on first use
    workers: int | None = None  # None: one per GPU with --gpu, else one per CPU of the cluster
    gpu: bool = False
    batch_size: int = 512  # rows per generator forward
    seed: int = 0
    class_weights: tuple[float, ...] | None = None  # None: balanced
    min_confidence: float = 0.0
    max_attempts: int = 32  # fresh latents a row may draw before the run gives up
    rows_per_file: int = 262_144  # at most; parts are split evenly (~65 MB each for MNIST digits)
    precision: str = "auto"  # "fp32", "bf16" or "auto": bf16 where the hardware has bf16 matrix units
    data_root: str | None = None  # real data, only needed when the judge must be trained
    download: bool = True
    address: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        _absolute_paths(self, "checkpoint", "out", "judge", "data_root")

    def identity(self, generator_sha256: str, judge_sha256: str, precision: str) -> dict[str, Any]:
        """Everything that determines the rows (workers and batch size do not); `precision` resolved."""
        return {
            "n": self.n,
            "seed": self.seed,
            "class_weights": None if self.class_weights is None else list(self.class_weights),
            "min_confidence": self.min_confidence,
            "max_attempts": self.max_attempts,
            "rows_per_file": self.rows_per_file,
            "generator_sha256": generator_sha256,
            "judge_sha256": judge_sha256,
            "precision": precision,
        }


@dataclass(frozen=True)
class MergeConfig:
    """Real train split + synthetic rows as one Parquet dataset (the `merged/` stage)."""

    real: str  # a `real/` export (only its train split is used)
    synthetic: str  # a generation output with its manifest
    out: str
    synthetic_fraction: float | None = None  # share of synthetic rows in the result
    max_synthetic: int | None = None  # at most this many synthetic rows (ids 0..K-1)
    real_per_class: int | None = None  # low-data regime: the first K real images of each class
    overwrite: bool = False

    def __post_init__(self) -> None:
        _absolute_paths(self, "real", "synthetic", "out")


@dataclass(frozen=True)
class RetrainConfig:
    """Train the digit classifier on a Parquet dataset through Ray Data (the `classifier/` stage)."""

    data: str  # a merged, synthetic or real output (a real export contributes its train split only)
    out: str
    dataset: str = "mnist"  # whose real test split measures accuracy
    data_root: str | None = None
    download: bool = True
    epochs: int = 4
    workers: int = 1
    gpu: bool = False
    batch_size: int = 128  # global
    lr: float = 3e-3  # peak, after a short warm-up
    lr_decay: float = 0.5  # per 60,000 samples seen: needs no total length, so a run can be extended
    weight_decay: float = 1e-4
    seed: int = 0
    real_only: bool = False  # train on the source=real rows only
    synthetic_only: bool = False  # train on the source=synthetic rows only (classification accuracy score)
    max_synthetic: int | None = None  # synthetic rows with id >= this are left out
    classic_augment: bool = False  # torchvision affine + elastic on every training image
    checkpoint_every: int = 1
    max_failures: int = 2
    address: str | None = None
    overwrite: bool = False
    fail_at_epoch: int | None = None  # fault injection: one worker dies once during this epoch

    def __post_init__(self) -> None:
        _absolute_paths(self, "data", "out", "data_root")

    def identity(self, data_digest: str) -> dict[str, Any]:
        """What makes two runs the same run: more epochs or other workers continue it."""
        keys = ("dataset", "batch_size", "lr", "lr_decay", "weight_decay", "seed", "real_only", "synthetic_only",
                "max_synthetic", "classic_augment")
        return {"data": data_digest, **{key: getattr(self, key) for key in keys}}


@dataclass(frozen=True)
class EvaluateConfig:
    """Measure what the synthetic digits are worth and write the report (the `report/` stage)."""

    checkpoint: str  # GAN run folder: the generator (and, by default, its judge in CHECKPOINT/judge)
    out: str
    synthetic: str | None = None  # a generation output: fidelity/FID samples and the CAS training set
    judge: str | None = None
    dataset: str = "mnist"
    data_root: str | None = None
    download: bool = True
    samples: int = 10_000  # synthetic digits scored for fidelity and Fréchet distance
    seed: int = 0
    merged: str | None = None  # full-data merged dataset: the augmentation gain table
    low_data_merged: str | None = None  # merged with --real-per-class (GAN trained on those images too)
    seeds: int = 3
    epochs: int = 4
    low_data_epochs: int = 30  # 1,000 real images need many more passes than 60,000
    cas_rows: int = 60_000
    runs: str | None = None  # where the CAS and gain-table classifiers live (default OUT/runs)
    workers: int = 1
    gpu: bool = False
    address: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        _absolute_paths(self, "checkpoint", "out", "synthetic", "judge", "data_root", "merged", "low_data_merged", "runs")


# The augmentation gain table: variant -> the RetrainConfig options that train it.
GAIN_VARIANTS = {
    "real only": {"real_only": True},
    "real + synthetic": {},
    "real + classic": {"real_only": True, "classic_augment": True},
    "real + classic + synthetic": {"classic_augment": True},
}


STAGES = ("real", "gan", "judge", "generate", "merge", "retrain", "evaluate")


@dataclass(frozen=True)
class PipelineConfig:
    """`augment run`: every stage in order under one folder, skipping the complete ones."""

    out: str = "augment-out"
    n: int = 1_000_000
    dataset: str = "mnist"
    data_root: str | None = None
    download: bool = True
    epochs: int | None = None  # GAN epochs; None: 5 on CPU, 30 with --gpu
    classifier_epochs: int = 4
    arch: str = "dcgan"
    limit: int | None = None  # GAN and judge see the first N training images only (quick runs)
    merge_synthetic: int = 60_000  # synthetic rows merged with the 60,000 real ones for retraining
    samples: int = 10_000
    seeds: int = 1
    seed: int = 0
    workers: int | None = None  # None: 1 per GPU with --gpu, else 2 when the machine has 2+ CPUs
    gpu: bool = False
    address: str | None = None
    force: tuple[str, ...] = ()
    overwrite: bool = False

    def __post_init__(self) -> None:
        _absolute_paths(self, "out", "data_root")

    def gan_epochs(self) -> int:
        return self.epochs if self.epochs is not None else (30 if self.gpu else 5)

    def identity(self) -> dict[str, Any]:
        keys = ("n", "dataset", "classifier_epochs", "arch", "limit", "merge_synthetic", "samples", "seeds", "seed")
        return {"gan_epochs": self.gan_epochs(), **{key: getattr(self, key) for key in keys}}


@dataclass(frozen=True)
class AppConfig:
    """`augment app`: the Streamlit page, served on this machine."""

    run: str | None = None  # a run folder to open with; the page can switch to another
    port: int = 8501
    host: str = "127.0.0.1"
    allow_remote: bool = False  # serving beyond loopback is opt-in
