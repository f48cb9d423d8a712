"""`augment run`'s settings: the stages' own options, each still declared once in its stage's config,
the one preset where the run wants another default than a stage alone, and how each stage's config
is built from the run's. No torch, no Ray: the CLI reads it for --help.
"""

from __future__ import annotations

import os
from dataclasses import Field, dataclass, fields
from typing import Any

from augment.core import storage
from augment.core.errors import require
from augment.core.options import DataOptions, StageConfig, default_of, option, option_fields, parse_names, restated
from augment.stages.classifier.config import (
    CPU_EPOCH_CAP,
    GPU_EPOCH_CAP,
    REAL_TRAIN_ROWS,
    ClassifierRunsConfig,
    held_out_rows,
)
from augment.stages.gan.config import CPU_EPOCHS, GPU_EPOCHS, GanConfig
from augment.stages.judge.config import JudgeConfig
from augment.stages.merged.config import MergedConfig
from augment.stages.real.config import RealConfig
from augment.stages.report.config import ReportConfig
from augment.stages.synthetic.config import SyntheticConfig

STAGES = ("real", "gan", "judge", "synthetic", "merged", "classifier", "report")
PRESET = "augment run"
# Where `augment run` wants another default than the stage run alone: this table only, and both
# commands' --help name the difference.
RUN_PRESET: dict[tuple[type, str], Any] = {
    (SyntheticConfig, "n"): 1_000_000,  # `augment generate` asks for it
    # The judge's filter: 0.99 rather than 0.9: real-only classifiers that never saw the filter
    # agree with 99.6% of the rows' labels instead of 98.4%, same CAS, 1.73 draws per row instead
    # of 1.39 (benchmarks/RESULTS.md). A generation alone keeps every draw unless asked.
    (SyntheticConfig, "min_confidence"): 0.99,
    # More varied digits, which the filter above keeps honest. Plain CAS of 60,000 filtered rows:
    # 97.95% at T = 1, 98.40% at 1.5, 98.56% at 2 (2 seeds each).
    (SyntheticConfig, "temperature"): 2.0,
    (ClassifierRunsConfig, "seeds"): 1,  # the default run's time budget; 3 give a spread
    (ClassifierRunsConfig, "curve"): (0, 10_000, 60_000, 250_000, 1_000_000),
}


def _field(config_class: type, name: str) -> Field:
    return {spec.name: spec for spec in fields(config_class)}[name]


def same_as(config_class: type, name: str, *, every_stage: bool = False) -> Any:
    """A run option that is a stage's option: its declaration, with the run's preset default. Its value
    goes to that stage's config, or with `every_stage` to every stage's config that has the option."""
    spec = _field(config_class, name)
    default = RUN_PRESET.get((config_class, name), default_of(spec))
    return restated(spec, default, same_as=(config_class, name), every_stage=every_stage)


def preset_note(config_class: type, spec: Field) -> str:
    """What --help adds where the run's preset and the stage alone differ."""
    same = spec.metadata.get("same_as")
    if same is not None and same in RUN_PRESET:
        stage_class, name = same
        alone = _shown(default_of(_field(stage_class, name)))
        return f"({PRESET} preset; augment {stage_class.COMMAND} alone: {alone})"
    if same is None and (config_class, spec.name) in RUN_PRESET:
        return f"({PRESET} preset: {_shown(RUN_PRESET[config_class, spec.name])})"
    return ""


def _shown(value: Any) -> str:
    if value is None:
        return "none (required)"
    if value == ():
        return "none"
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


@dataclass(frozen=True, kw_only=True)
class PipelineConfig(StageConfig, DataOptions):
    """Run the whole pipeline: real → gan → judge → synthetic → merged → classifier → report."""

    COMMAND = "run"
    PATHS = ("out", "data_root")

    out: str = option("augment-out", "Run folder or URI: one subfolder per stage.")
    n: int = same_as(SyntheticConfig, "n")
    epochs: int | None = same_as(GanConfig, "epochs")
    arch: str = same_as(GanConfig, "arch")
    limit: int | None = same_as(GanConfig, "limit", every_stage=True)  # the GAN and the judge: model_rows()
    seed: int = same_as(GanConfig, "seed", every_stage=True)  # every stage with a seed
    min_confidence: float = same_as(SyntheticConfig, "min_confidence")
    temperature: float = same_as(SyntheticConfig, "temperature")
    rows_per_file: int = same_as(SyntheticConfig, "rows_per_file")
    # None: all N (whole files are linked, not copied); the synthetic classifiers draw one real
    # rows' worth of fresh ones every epoch.
    merge_synthetic: int | None = same_as(MergedConfig, "max_synthetic")
    classifier_epochs: int | None = same_as(ClassifierRunsConfig, "epochs")
    samples_seen: int | None = same_as(ClassifierRunsConfig, "samples_seen")
    seeds: int = same_as(ClassifierRunsConfig, "seeds")
    validation_rows: int | None = same_as(ClassifierRunsConfig, "validation_rows")
    patience: int = same_as(ClassifierRunsConfig, "patience")
    curve: tuple[int, ...] = same_as(ClassifierRunsConfig, "curve")
    samples: int = same_as(ReportConfig, "samples")
    workers: int = option(
        1,
        "Ray Train workers (DDP replicas). One of all a node's CPUs trained these small models 1.3x faster than "
        "two of half each (2 vCPUs, measured); on GPUs one should too (not yet measured). Generation uses every "
        "CPU or GPU whatever this is.",
        at_least=1,
    )
    gpu: bool = option(False, "Use GPUs (defaults sized for a GPU).")
    address: str | None = same_as(GanConfig, "address", every_stage=True)
    force: tuple[str, ...] = option(
        (),
        f"Redo these stages (comma-separated: {','.join(STAGES)}) and what depends on them.",
        parse=parse_names,
        action=True,
    )
    stages: tuple[str, ...] = option(
        STAGES, "Run only these stages (the cluster job chain).", parse=parse_names, hidden=True, action=True
    )
    overwrite: bool = option(False, "Replace a run folder made with other settings.", action=True)

    def __post_init__(self) -> None:
        if self.epochs is None:
            object.__setattr__(self, "epochs", GPU_EPOCHS if self.gpu else CPU_EPOCHS)
        if self.classifier_epochs is None:
            object.__setattr__(self, "classifier_epochs", GPU_EPOCH_CAP if self.gpu else CPU_EPOCH_CAP)
        super().__post_init__()
        for option_name, names in (("--force", self.force), ("--stages", self.stages)):
            unknown = [name for name in names if name not in STAGES]
            require(not unknown, f"{option_name} {','.join(unknown)}: stages are {', '.join(STAGES)}")

    def gan_epochs(self) -> int:
        return self.epochs

    def model_rows(self) -> int | None:
        """The real rows the GAN and the judge train on: the first --limit, and never the rows the
        classifiers hold out to pick their best epoch. A judge that saw them would grade its own
        training rows there (it filters the synthetic rows and can teach), and the GAN's digits would
        carry them into every synthetic variant's choice of epoch. None: the whole split."""
        held_out = held_out_rows(self.validation_rows, REAL_TRAIN_ROWS)
        if not held_out:
            return self.limit
        return min(self.limit or REAL_TRAIN_ROWS, REAL_TRAIN_ROWS - held_out)

    def identity(self) -> dict[str, Any]:
        keys = (
            "n",
            "dataset",
            "classifier_epochs",
            "arch",
            "limit",
            "merge_synthetic",
            "samples",
            "min_confidence",
            "temperature",
            "seeds",
            "seed",
        )
        budget = (
            {} if self.samples_seen is None else {"samples_seen": self.samples_seen}
        )  # absent: older runs keep theirs
        if self.validation_rows != 0:
            budget.update(validation_rows=self.validation_rows, patience=self.patience)
        return {
            "gan_epochs": self.epochs,
            **{key: getattr(self, key) for key in keys},
            "curve": list(self.curve),
            **budget,
        }


def folder_of(out: str, stage: str) -> str:
    """A stage's folder in a run folder: named after the stage."""
    return storage.join(out, stage) if "://" in out else os.path.join(out, stage)


CONFIGS = {
    "real": RealConfig,
    "gan": GanConfig,
    "judge": JudgeConfig,
    "synthetic": SyntheticConfig,
    "merged": MergedConfig,
    "classifier": ClassifierRunsConfig,
    "report": ReportConfig,
}
# The run's own options, which no stage takes as they are: its folder, what to redo, its worker default.
RUN_ONLY = ("out", "force", "stages", "overwrite", "workers")


def stage_config(cfg: PipelineConfig, stage: str, workers: int):
    """The stage's config in this run: every run option that is the stage's (by its declaration: the
    stage it restates, or one of the options every stage shares), then the run's wiring."""
    config_class = CONFIGS[stage]
    values = {}
    for spec in option_fields(PipelineConfig):
        stage_class, name = spec.metadata.get("same_as") or (None, spec.name)
        ours = stage_class in (None, config_class) or spec.metadata.get("every_stage")
        if ours and spec.name not in RUN_ONLY and name in config_class.__dataclass_fields__:
            values[name] = getattr(cfg, spec.name)
    return config_class(**{**values, **_wiring(cfg, stage, workers)})


def _wiring(cfg: PipelineConfig, stage: str, workers: int) -> dict:
    """Where each stage writes and what it reads in the run folder; the training workers; and the
    sizes the run derives from --n."""
    where = {name: folder_of(cfg.out, name) for name in STAGES}
    return {
        "real": {"out": where["real"]},
        "gan": {"out": where["gan"], "workers": workers, "limit": cfg.model_rows()},
        "judge": {"out": where["judge"], "workers": workers, "limit": cfg.model_rows()},
        "synthetic": {"checkpoint": where["gan"], "judge": where["judge"], "out": where["synthetic"]},
        "merged": {"real": where["real"], "synthetic": where["synthetic"], "out": where["merged"]},
        "classifier": {
            "out": where["classifier"],
            "synthetic": where["synthetic"],
            "merged": where["merged"],
            "workers": workers,
            "cas_rows": min(cfg.n, 60_000),
        },
        "report": {
            "checkpoint": where["gan"],
            "judge": where["judge"],
            "out": where["report"],
            "synthetic": where["synthetic"],
            "classifiers": where["classifier"],
            "samples": min(cfg.samples, cfg.n),
        },
    }[stage]
