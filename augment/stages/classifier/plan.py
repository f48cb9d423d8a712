"""Which classifiers the report needs: CAS, the gain-table variants and the curve's runs, by name."""

from __future__ import annotations

from dataclasses import dataclass

from augment.core import manifest, storage
from augment.stages.classifier.config import ClassifierConfig, ClassifierRunsConfig, held_out_rows

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


def classifier_runs(cfg: ClassifierRunsConfig) -> dict[str, ClassifierConfig]:
    """Every classifier the report needs, by run name, in training order: "cas", then the gain
    table seed by seed (every variant, then the curve's own runs), so a run stopped part-way leaves
    whole seeds, which a rerun with fewer --seeds on the same --out reuses as they are."""

    def config(data_uri: str, name: str, epochs: int, seed: int, **options) -> ClassifierConfig:
        return ClassifierConfig(
            data=data_uri,
            out=storage.join(cfg.out, name),
            dataset=cfg.dataset,
            data_root=cfg.data_root,
            download=cfg.download,
            epochs=epochs,
            workers=cfg.workers,
            gpu=cfg.gpu,
            seed=seed,
            address=cfg.address,
            overwrite=cfg.overwrite,
            validation_rows=cfg.validation_rows,
            patience=cfg.patience if cfg.validation_rows != 0 else None,
            **options,
        )

    runs = {}
    if cfg.synthetic:
        runs["cas"] = config(
            cfg.synthetic, "cas", cfg.epochs, cfg.seed, synthetic_only=True, max_synthetic=cfg.cas_rows
        )
    for regime, merged, epochs in regimes(cfg):
        budget, real_rows = gain_budget(cfg, merged, epochs), trained_real_rows(cfg, merged)
        points = curve_points(cfg, merged, epochs)
        for seed in range(cfg.seeds):
            for variant, options in GAIN_VARIANTS.items():
                fresh = {} if options.get("real_only") or not real_rows else {"synthetic_per_epoch": real_rows}
                name = run_name(regime, variant, seed)
                runs[name] = config(merged, name, epochs, seed, samples_seen=budget, **options, **fresh)
            for point in points:
                name = point.run_name(regime, seed)
                if name not in runs:
                    runs[name] = config(
                        merged,
                        name,
                        epochs,
                        seed,
                        samples_seen=budget,
                        max_synthetic=point.rows_read,
                        synthetic_per_epoch=real_rows,
                    )
    runs.update(_independent_scorers(cfg, runs, config))
    return runs


# Label fidelity measured by the judge that filtered the rows is high by construction; classifiers
# that never saw the filter measure it honestly: full-data real-only runs of seeds other than the
# judge's (0 by default). With one seed the gain table has none, so one more is trained.
SCORER_SEEDS = 2


def _independent_scorers(cfg: ClassifierRunsConfig, runs: dict, config) -> dict[str, ClassifierConfig]:
    """Full-data real-only runs of the seeds below SCORER_SEEDS that --seeds leaves out (the report's
    independent label fidelity; the gain table still reads --seeds of them)."""
    if not cfg.merged:
        return {}
    budget, epochs = gain_budget(cfg, cfg.merged, cfg.epochs), cfg.epochs
    extra = {}
    for seed in range(cfg.seeds, SCORER_SEEDS):
        name = run_name("full data", "real only", seed)
        if name not in runs:
            extra[name] = config(cfg.merged, name, epochs, seed, samples_seen=budget, **GAIN_VARIANTS["real only"])
    return extra


def merged_rows(merged: str) -> dict:
    """The merged dataset's rows per source, from its manifest ({} without one)."""
    rows = (manifest.read_manifest(*storage.resolve(merged)) or {}).get("rows")
    return rows if isinstance(rows, dict) else {}


def trained_real_rows(cfg: ClassifierRunsConfig, merged: str) -> int | None:
    """The merged dataset's real rows that runs train on: the full-data regime's hold out the real
    split's last --validation-rows (its merged dataset is the whole split); the low-data regime's
    real rows are the split's first ones per class, none of them held out."""
    real = merged_rows(merged).get("real")
    if not real or cfg.validation_rows == 0 or merged == cfg.low_data_merged:
        return real
    return real - held_out_rows(cfg.validation_rows, real)


def gain_budget(cfg: ClassifierRunsConfig, merged: str, epochs: int) -> int | None:
    """Samples seen by every variant of a regime: --samples-seen, else what real only sees in
    `epochs` passes over the merged dataset's real rows (from its manifest; None, whole epochs,
    without one)."""
    if cfg.samples_seen is not None:
        return cfg.samples_seen
    real_rows = trained_real_rows(cfg, merged)
    batch = ClassifierConfig.batch_size  # an epoch drops its last partial batch: real only sees whole batches
    return epochs * (real_rows // batch * batch) if real_rows and real_rows >= batch else None


@dataclass(frozen=True)
class CurvePoint:
    """One point of the synthetic-rows curve: real + synthetic at the regime's budget, the pool cut
    to the first `rows_available` synthetic rows. At that budget a classifier draws from at most
    `readable` synthetic rows (its epochs x one real rows' worth each), so every point at or above
    it is the gain table's real + synthetic run, and 0 is real only."""

    rows_available: int
    readable: int

    @property
    def rows_read(self) -> int:
        return min(self.rows_available, self.readable)

    def run_name(self, regime: str, seed: int) -> str:
        if self.rows_read == 0:
            return run_name(regime, "real only", seed)
        if self.rows_read == self.readable:
            return run_name(regime, "real + synthetic", seed)
        return f"{regime.replace(' ', '-')}/synthetic-rows-{self.rows_read}/seed{seed}"


def curve_points(cfg: ClassifierRunsConfig, merged: str, epochs: int) -> list[CurvePoint]:
    rows = merged_rows(merged)
    real, pool, budget = trained_real_rows(cfg, merged), rows.get("synthetic", 0), gain_budget(cfg, merged, epochs)
    if not cfg.curve or not real or budget is None:
        return []
    return [CurvePoint(available, min(pool, readable_rows(budget, real))) for available in cfg.curve]


def readable_rows(budget: int, real_rows: int) -> int:
    """Synthetic rows a real + synthetic run draws from within `budget` samples: one real rows'
    worth per epoch over the real rows and as many synthetic ones."""
    batch = ClassifierConfig.batch_size
    return -(-(budget // batch) // ((2 * real_rows) // batch)) * real_rows


def regimes(cfg: ClassifierRunsConfig) -> list[tuple[str, str, int]]:
    candidates = [("full data", cfg.merged, cfg.epochs), ("low data", cfg.low_data_merged, cfg.low_data_epochs)]
    return [(regime, merged, epochs) for regime, merged, epochs in candidates if merged]
