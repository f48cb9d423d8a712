"""The `report/` stage's settings: each option declared once (core/options.py)."""

from __future__ import annotations

from dataclasses import dataclass

from augment.core.options import REQUIRED, DataOptions, StageConfig, option

FOLDER = "report"
REPORT_FILE, REPORT_TEXT = "report.json", "report.md"
PLOTS = ("confusion.png", "samples.png", "gain.png", "curve.png")
CLASSIFIERS_BESIDE = "classifier"  # OUT/../classifier: where `augment run` keeps the report's classifiers


@dataclass(frozen=True, kw_only=True)
class ReportConfig(StageConfig, DataOptions):
    """Measure fidelity, Fréchet distance, CAS and augmentation gain; write the report (the report/ stage).
    Trains nothing: CAS and the gain table come from the classifier runs `augment classifiers` trained."""

    COMMAND = "evaluate"
    PATHS = ("checkpoint", "out", "synthetic", "judge", "data_root", "classifiers")

    checkpoint: str = option(REQUIRED, "GAN run folder (exported generator; judge in CHECKPOINT/judge by default).")
    out: str = option(REQUIRED, "Report folder or URI: report.json, report.md, plots.")
    synthetic: str | None = option(None, "Generation output: the samples scored for fidelity and Fréchet distance.")
    judge: str | None = option(None, "Judge folder (default CHECKPOINT/judge).")
    samples: int = option(10_000, "Synthetic digits scored for fidelity and Fréchet distance.", at_least=20)
    seed: int = option(0, "Seed of in-process samples when no --synthetic is given.")
    classifiers: str | None = option(
        None,
        "The classifier runs `augment classifiers` trained (CAS, gain table); default OUT/../classifier when it "
        "holds them, else the report has fidelity and Fréchet distance only.",
    )
