"""The `report/` stage's settings."""

from __future__ import annotations

from dataclasses import dataclass

from augment.core.options import ComputeOptions, DataOptions, StageConfig

FOLDER = "report"
REPORT_FILE, REPORT_TEXT = "report.json", "report.md"
PLOTS = ("confusion.png", "samples.png", "gain.png", "curve.png")


@dataclass(frozen=True, kw_only=True)
class ReportConfig(StageConfig, DataOptions, ComputeOptions):
    """Measure what the synthetic digits are worth and write the report (the `report/` stage)."""

    PATHS = ("checkpoint", "out", "synthetic", "judge", "data_root", "merged", "low_data_merged", "runs")

    checkpoint: str  # GAN run folder: the generator (and, by default, its judge in CHECKPOINT/judge)
    out: str
    synthetic: str | None = None  # a generation output: fidelity/FID samples and the CAS training set
    judge: str | None = None
    samples: int = 10_000  # synthetic digits scored for fidelity and Fréchet distance
    seed: int = 0
    merged: str | None = None  # full-data merged dataset: the augmentation gain table
    low_data_merged: str | None = None  # merged with --real-per-class (GAN trained on those images too)
    seeds: int = 3
    epochs: int = 4
    low_data_epochs: int = 30  # 1,000 real images need many more passes than 60,000
    # Every gain-table variant trains on the same number of samples (steps x batch): by default what
    # real only sees in --epochs (--low-data-epochs) over the real rows, so a variant with twice the
    # rows makes half the passes instead of twice the steps.
    samples_seen: int | None = None
    cas_rows: int = 60_000
    # The synthetic-rows curve: real + synthetic at each regime's budget with the pool cut to each
    # of these row counts (0: real only), e.g. (0, 10_000, 60_000, 250_000, 1_000_000).
    curve: tuple[int, ...] = ()
    runs: str | None = None  # where the CAS and gain-table classifiers live (default OUT/runs)
