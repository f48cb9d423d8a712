"""The `classifier/` stage's settings: one classifier run, and the runs the report reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augment.core.errors import require
from augment.core.options import (
    DATASETS,
    REQUIRED,
    ComputeOptions,
    DataOptions,
    StageConfig,
    option,
    parse_row_counts,
)
from augment.core.training_checks import check_training_options

FOLDER = "classifier"


def held_out_rows(validation_rows: int | None, real_rows: int) -> int:
    """--validation-rows resolved against a split of `real_rows`: unset is MNIST's usual 5,000, or 1/12
    of a smaller split."""
    return min(5_000, real_rows // 12) if validation_rows is None else validation_rows


CPU_EPOCH_CAP, GPU_EPOCH_CAP = 4, 50  # the report's classifiers: most epochs, on CPUs and with --gpu
REAL_TRAIN_ROWS = 60_000  # MNIST's and Fashion-MNIST's train split; a real row's id is its index there


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig(StageConfig, DataOptions, ComputeOptions):
    """Retrain the digit classifier on Ray Train, streaming the rows through Ray Data (one classifier run)."""

    COMMAND = "retrain"
    PATHS = ("data", "out", "data_root", "init_from", "teacher")

    data: str = option(REQUIRED, "Training data: a merged, synthetic or real output (a real one: its train split).")
    out: str = option(REQUIRED, "Classifier run folder or URI: checkpoints, metrics, exported classifier.")
    dataset: str = option("mnist", "Whose real test split measures accuracy.", choices=DATASETS)
    epochs: int = option(4, "Total epochs; raise it on an existing run to train more.", at_least=1)
    # Runs on datasets of different sizes compared at equal cost (the gain table's variants):
    # training runs ceil(budget / epoch) epochs and stops inside the last one.
    samples_seen: int | None = option(
        None,
        "Train on this many samples (steps x batch) instead of whole --epochs: the last pass stops part-way.",
        at_least=1,
    )
    batch_size: int = option(128, "Global batch, split evenly across workers.", at_least=1)
    lr: float = option(3e-3, "Peak AdamW learning rate, after a short warm-up.", above=0)
    # per 60,000 samples seen: needs no total length, so a run can be extended
    lr_decay: float = option(0.5, "Learning-rate factor per 60,000 samples seen.", above=0, at_most=1)
    weight_decay: float = option(1e-4, "AdamW weight decay.", at_least=0)
    seed: int = option(0, "Seed for weights, shuffling and noise.")
    real_only: bool = option(False, "Train on the real rows only (the baseline).")
    synthetic_only: bool = option(False, "Train on the synthetic rows only (CAS).")
    max_synthetic: int | None = option(None, "Leave out synthetic rows with id >= K.", at_least=1)
    # Fresh synthetic rows: each epoch trains on the real rows and the next K rows of the synthetic
    # pool, wrapping around (rows.py), instead of every synthetic row every epoch.
    synthetic_per_epoch: int | None = option(
        None,
        "Each epoch: the real rows + the next K synthetic rows (fresh ones every epoch, wrapping around).",
        at_least=1,
    )
    classic_augment: bool = option(False, "torchvision affine + elastic augmentation.")
    # the long-tail baseline of practitioners: a rare class counts as much as a common one
    balanced_loss: bool = option(
        False, "Weigh each class's rows by rows / (classes x its rows) in the loss (a long-tail baseline)."
    )
    # Two recipes of the synthetic-data literature (issue 40): synthetic rows count for less, or
    # every row's target mixes in a teacher's probabilities (with the judge as teacher and no
    # synthetic rows it is the control for what the judge alone knows).
    synthetic_weight: float = option(
        1.0, "Loss weight of a synthetic row against a real row's 1 (e.g. 0.5 down-weights the digits).", above=0
    )
    teacher: str | None = option(
        None,
        "A classifier folder (e.g. the judge) whose predicted probabilities are mixed into every row's target "
        "(knowledge distillation).",
    )
    teacher_share: float = option(0.5, "With --teacher: the share of the loss on its soft targets.", above=0, at_most=1)
    # pretrain-then-fine-tune: the optimizer and schedule start afresh
    init_from: str | None = option(
        None,
        "Start from this classifier's weights (a retrain folder), e.g. one trained --synthetic-only: fine-tuning.",
    )
    # Convergence as the rule (issue 40): the best epoch by held-out real rows, not the last one, and
    # a run that stops once it stops improving; the test split is then scored once, on that epoch.
    validation_rows: int | None = option(
        0,
        "Hold out the last N rows of the real training split (never trained on, the same for every run) to pick the "
        "best epoch; the test split is then scored once, on it. Unset in a config: MNIST's usual 5000, or 1/12 of a "
        "smaller split.",
        at_least=0,
        below=REAL_TRAIN_ROWS,
    )
    patience: int | None = option(
        None,
        "With --validation-rows: stop once validation accuracy has not improved for P epochs (--epochs is the cap).",
        at_least=1,
    )
    checkpoint_every: int = option(1, "Checkpoint every K epochs (and always the last).", at_least=1)
    max_failures: int = option(2, "Worker crashes survived, each resumed from the last checkpoint.", at_least=0)
    fail_at_epoch: int | None = None  # fault injection: one worker dies once during this epoch
    # The real train split's length, which the validation rows end (train.py reads it from the split).
    real_train_rows: int = REAL_TRAIN_ROWS

    def __post_init__(self) -> None:
        super().__post_init__()
        check_training_options(self)
        require(not (self.real_only and self.synthetic_only), "pass at most one of --real-only and --synthetic-only")
        require(
            self.synthetic_per_epoch is None or not self.real_only,
            "--synthetic-per-epoch needs synthetic rows: not with --real-only",
        )
        require(self.patience is None or self.validation_rows != 0, "--patience needs --validation-rows")
        require(
            self.samples_seen is None or self.samples_seen >= self.batch_size,
            f"--samples-seen must be at least one batch ({self.batch_size}; got {self.samples_seen})",
        )

    def identity(
        self, data_digest: str, init_sha256: str | None = None, teacher_sha256: str | None = None
    ) -> dict[str, Any]:
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
        weighted = {} if self.synthetic_weight == 1.0 else {"synthetic_weight": self.synthetic_weight}
        taught = {} if teacher_sha256 is None else {"teacher": teacher_sha256, "teacher_share": self.teacher_share}
        held_out = {"validation_rows": self.held_out_rows(), "patience": self.patience} if self.held_out_rows() else {}
        return {
            "data": data_digest,
            **{key: getattr(self, key) for key in keys},
            "classic_augment": augment,
            **budget,
            **balanced,
            **fresh,
            **init,
            **held_out,
            **weighted,
            **taught,
        }

    def flags_sources(self) -> bool:
        """Whether the trainers need each row's source and id: classic augmentation keys its draws
        on them; a synthetic weight below 1 weighs by source."""
        return self.classic_augment or self.synthetic_weight != 1.0

    def real_ids_below(self) -> int | None:
        """Real rows with this id or above are the validation rows, never trained on (None: all trained on)."""
        return self.real_train_rows - self.held_out_rows() if self.held_out_rows() else None

    def held_out_rows(self) -> int:
        """--validation-rows, with unset resolved against the split: 5000, or 1/12 of a smaller split."""
        return held_out_rows(self.validation_rows, self.real_train_rows)

    def steps(self) -> int | None:
        """The optimizer steps the budget allows (None: whole epochs)."""
        return None if self.samples_seen is None else self.samples_seen // self.batch_size

    def epochs_for(self, rows: int) -> int:
        """Epochs over `rows` training rows: --epochs, or as many as the budget reaches into."""
        steps = self.steps()
        return self.epochs if steps is None else max(1, -(-steps // (rows // self.batch_size)))


@dataclass(frozen=True, kw_only=True)
class ClassifierRunsConfig(StageConfig, DataOptions, ComputeOptions):
    """Train every classifier the report reads: CAS and the gain table's runs (the classifier/ stage of
    `augment run`; `augment evaluate --classifiers` reads them)."""

    COMMAND = "classifiers"
    PATHS = ("out", "synthetic", "merged", "low_data_merged", "data_root")

    out: str = option(REQUIRED, "Folder of the runs: one classifier run per subfolder, then _manifest.json.")
    synthetic: str | None = option(None, "Generation output: the CAS classifier's training rows.")
    merged: str | None = option(None, "Merged dataset for the full-data gain table.")
    low_data_merged: str | None = option(None, "Merged dataset made with --real-per-class (low-data gain table).")
    seeds: int = option(3, "Seeds per gain-table variant (3 gives a spread).", at_least=1)
    seed: int = option(0, "Seed of the CAS classifier.")
    # A cap: every run stops once it converges (--patience). On CPUs the default run's time budget
    # affords 4, where the runs are still improving (the report then gives no verdict); a GPU
    # affords enough to converge.
    epochs: int | None = option(
        None,
        f"Most epochs of every CAS and full-data classifier; runs stop earlier once converged (default "
        f"{CPU_EPOCH_CAP} on CPUs, {GPU_EPOCH_CAP} with --gpu).",
        at_least=1,
    )
    # 1,000 real images need many more passes than 60,000
    low_data_epochs: int = option(30, "Epochs of every low-data classifier.", at_least=1)
    # Every gain-table variant trains on the same number of samples (steps x batch): by default what
    # real only sees in --epochs (--low-data-epochs) over the real rows, so a variant with twice the
    # rows makes half the passes instead of twice the steps.
    samples_seen: int | None = option(
        None,
        "Samples (steps x batch) every gain-table classifier trains on; default: real only's epochs x real rows.",
        at_least=1,
    )
    cas_rows: int = option(60_000, "Synthetic rows the CAS classifier trains on.", at_least=1)
    # Convergence as the rule: a run's result is its best epoch on held-out real rows, and it stops
    # once that stops improving; the epochs options become caps. The report judges a gain only
    # between runs that stopped by patience.
    validation_rows: int | None = option(
        None,
        "Real train rows every run holds out to pick its best epoch (default: the split's last 5000, or 1/12 of a "
        "smaller split; 0: none, a run's last epoch counts).",
        at_least=0,
        below=REAL_TRAIN_ROWS,
    )
    patience: int = option(3, "Stop a run once validation accuracy has not improved for P epochs.", at_least=1)
    curve: tuple[int, ...] = option(
        (),
        "Synthetic rows available, e.g. 0,10000,60000,250000,1000000: real + synthetic at the gain budget with "
        "the pool cut to each (the report's curve; '' for none).",
        parse=lambda value: parse_row_counts(value, "--curve"),
    )
    workers: int = option(1, "Ray Train workers per classifier.", at_least=1)
    # `augment run` redoing this stage because generation was redone: the runs that never read a
    # synthetic row are kept when their real rows are unchanged (not an option: the run decides).
    keep_real_only: bool = False

    def __post_init__(self) -> None:
        if self.epochs is None:
            object.__setattr__(self, "epochs", GPU_EPOCH_CAP if self.gpu else CPU_EPOCH_CAP)
        super().__post_init__()

    def settings(self) -> dict[str, Any]:
        """The plan's settings, as its manifest records them for `augment evaluate` to rebuild it."""
        keys = (
            "dataset", "seeds", "seed", "epochs", "low_data_epochs", "samples_seen", "cas_rows", "validation_rows",
            "patience",
        )  # fmt: skip
        return {**{key: getattr(self, key) for key in keys}, "curve": list(self.curve)}

    def identity(self, source_digests: dict[str, str]) -> dict[str, Any]:
        """The plan: its settings and the content of what it reads (each run's identity is in its folder)."""
        return {**self.settings(), "sources": source_digests}
