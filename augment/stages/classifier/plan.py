"""Which classifiers the report needs: the gain-table variants and their runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from augment.core import manifest, storage
from augment.stages.classifier.config import ClassifierConfig

if TYPE_CHECKING:  # the report stage asks for these runs; the classifier stage owns the plan
    from augment.stages.report.config import ReportConfig

RUNS = "runs"  # REPORT/runs: where the report trains them unless told another folder

# The augmentation gain table: variant -> the ClassifierConfig options that train it.
GAIN_VARIANTS = {
    "real only": {"real_only": True},
    "real + synthetic": {},
    "real + classic": {"real_only": True, "classic_augment": True},
    "real + classic + synthetic": {"classic_augment": True},
}


def run_name(regime: str, variant: str, seed: int) -> str:
    """Folder of one gain-table classifier, relative to the runs folder."""
    return f"{regime.replace(' ', '-')}/{variant.replace(' + ', '+').replace(' ', '-')}/seed{seed}"


def classifier_runs(cfg: ReportConfig) -> dict[str, ClassifierConfig]:
    """Every classifier the report needs, by run name: "cas", then the gain table's runs.

    In the default runs folder (REPORT/runs) --overwrite replaces them with the report; runs in a
    folder given with `runs` belong to the caller (`augment run` trains them as its retrain stage)
    and are reused as they are.
    """
    def config(data_uri: str, name: str, epochs: int, seed: int, **options) -> ClassifierConfig:
        return ClassifierConfig(
            data=data_uri, out=storage.join(cfg.runs or storage.join(cfg.out, RUNS), name), dataset=cfg.dataset,
            data_root=cfg.data_root, download=cfg.download, epochs=epochs, workers=cfg.workers, gpu=cfg.gpu,
            seed=seed, address=cfg.address, overwrite=cfg.overwrite and cfg.runs is None, **options,
        )

    runs = {}
    if cfg.synthetic:
        runs["cas"] = config(cfg.synthetic, "cas", cfg.epochs, cfg.seed, synthetic_only=True, max_synthetic=cfg.cas_rows)
    for regime, merged, epochs in regimes(cfg):
        budget = gain_budget(cfg, merged, epochs)
        for variant, options in GAIN_VARIANTS.items():
            for seed in range(cfg.seeds):
                runs[run_name(regime, variant, seed)] = config(merged, run_name(regime, variant, seed), epochs, seed,
                                                               samples_seen=budget, **options)
    return runs


def gain_budget(cfg: ReportConfig, merged: str, epochs: int) -> int | None:
    """Samples seen by every variant of a regime: --samples-seen, else what real only sees in
    `epochs` passes over the merged dataset's real rows (from its manifest; None, whole epochs,
    without one)."""
    if cfg.samples_seen is not None:
        return cfg.samples_seen
    rows = (manifest.read_manifest(*storage.resolve(merged)) or {}).get("rows")
    real_rows = rows.get("real") if isinstance(rows, dict) else None
    batch = ClassifierConfig.batch_size  # an epoch drops its last partial batch: real only sees whole batches
    return epochs * (real_rows // batch * batch) if real_rows and real_rows >= batch else None


def regimes(cfg: ReportConfig) -> list[tuple[str, str, int]]:
    candidates = [("full data", cfg.merged, cfg.epochs), ("low data", cfg.low_data_merged, cfg.low_data_epochs)]
    return [(regime, merged, epochs) for regime, merged, epochs in candidates if merged]
