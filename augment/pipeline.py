"""`augment run`: run(cfg) runs every stage in order under one folder, on one Ray session.

    OUT/real  gan  judge  synthetic  merged  classifier  report

The stages are a table: what each needs, and how its config is built from the run's. Each is the
same `stages.<name>.run` the single-stage commands call, and each skips itself when its output is
complete with the same settings, so an interrupted run continues where it stopped. A stage is
redone (its output replaced) when it is named in --force, when a stage it needs did work in this
invocation, or when its output was made with other settings (only a redone upstream stage leaves
that here: the run's own settings are fixed in pipeline.json, refused unless --overwrite).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from augment import stages
from augment.core import storage
from augment.core.console import plural
from augment.core.errors import AugmentError, OtherSettings, in_stage, require
from augment.core.node_types import cluster_shape
from augment.core.options import ComputeOptions, DataOptions, StageConfig
from augment.core.placement import gpus_possible
from augment.core.ray_session import ray_session, refuse_gpu_on_a_cpu_machine
from augment.forecast import MachineSpeed, measure_apart, stage_seconds
from augment.stages.classifier.plan import classifier_runs, readable_rows, run_name
from augment.stages.gan.config import GanConfig
from augment.stages.judge.config import JudgeConfig
from augment.stages.merged.config import MergedConfig
from augment.stages.real.config import RealConfig
from augment.stages.report.config import ReportConfig
from augment.stages.synthetic.config import SyntheticConfig

STAGES = ("real", "gan", "judge", "synthetic", "merged", "classifier", "report")


@dataclass(frozen=True, kw_only=True)
class PipelineConfig(StageConfig, DataOptions, ComputeOptions):
    """`augment run`: every stage in order under one folder, skipping the complete ones."""

    PATHS = ("out", "data_root")

    out: str = "augment-out"
    n: int = 1_000_000
    # GAN epochs; None: 20 on CPU, 30 with --gpu. 5 CPU epochs gave digits of 96% label fidelity and
    # 94% CAS; 20 give ~98.8% and the quality bar with the filter below (benchmarks/RESULTS.md).
    epochs: int | None = None
    classifier_epochs: int = 4
    samples_seen: int | None = None  # every gain-table classifier's budget; None: real only's epochs x real rows
    arch: str = "dcgan"
    limit: int | None = None  # GAN and judge see the first N training images only (quick runs)
    # Synthetic rows merged with the 60,000 real ones (None: all N; whole files are linked, not
    # copied). The synthetic classifiers draw one real rows' worth of fresh ones every epoch.
    merge_synthetic: int | None = None
    curve: tuple[int, ...] = (0, 10_000, 60_000, 250_000, 1_000_000)  # the report's synthetic-rows curve
    samples: int = 10_000
    # The judge's filter: a draw it gives less than this probability of its label is replaced by a
    # fresh one (43% of a 20-epoch GAN's draws at temperature 2). 0.99 rather than 0.9: real-only
    # classifiers that never saw the filter agree with 99.6% of the rows' labels instead of 98.4%,
    # same CAS, 1.73 draws per row instead of 1.39 (benchmarks/RESULTS.md). 0 keeps every draw.
    min_confidence: float = 0.99
    # Latents ~ N(0, T^2) in generation: more varied digits, which the filter above keeps honest.
    # Plain CAS of 60,000 filtered rows: 97.95% at T = 1, 98.40% at 1.5, 98.56% at 2 (2 seeds each).
    temperature: float = 2.0
    seeds: int = 1
    seed: int = 0
    rows_per_file: int = (
        SyntheticConfig.rows_per_file
    )  # synthetic parts: smaller ones spread generation over more actors
    workers: int | None = None  # None: 1 per GPU with --gpu, else 2 when the machine has 2+ CPUs
    force: tuple[str, ...] = ()

    def gan_epochs(self) -> int:
        return self.epochs if self.epochs is not None else (30 if self.gpu else 20)

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
        )  # absent: older runs keep their identity
        return {
            "gan_epochs": self.gan_epochs(),
            **{key: getattr(self, key) for key in keys},
            "curve": list(self.curve),
            **budget,
        }


RUN_FILE = "pipeline.json"
BASELINE, AUGMENTED = "real only", "real + synthetic"


@dataclass(frozen=True)
class Stage:
    needs: tuple[str, ...]  # stages whose outputs this one reads
    config: Callable[[PipelineConfig, int], Any] | None  # the stage's config from the run's (None: its own step)


def folder(cfg: PipelineConfig, stage: str) -> str:
    return folder_of(cfg.out, stage)


def _real(cfg: PipelineConfig, workers: int) -> RealConfig:
    return RealConfig(out=folder(cfg, "real"), dataset=cfg.dataset, data_root=cfg.data_root, download=cfg.download)


def _gan(cfg: PipelineConfig, workers: int) -> GanConfig:
    return GanConfig(
        out=folder(cfg, "gan"),
        dataset=cfg.dataset,
        data_root=cfg.data_root,
        download=cfg.download,
        epochs=cfg.gan_epochs(),
        workers=workers,
        gpu=cfg.gpu,
        arch=cfg.arch,
        limit=cfg.limit,
        seed=cfg.seed,
        address=cfg.address,
    )


def _judge(cfg: PipelineConfig, workers: int) -> JudgeConfig:
    return JudgeConfig(
        out=folder(cfg, "judge"),
        dataset=cfg.dataset,
        data_root=cfg.data_root,
        download=cfg.download,
        workers=workers,
        gpu=cfg.gpu,
        limit=cfg.limit,
        seed=cfg.seed,
        address=cfg.address,
    )


def _synthetic(cfg: PipelineConfig, workers: int) -> SyntheticConfig:
    return SyntheticConfig(
        checkpoint=folder(cfg, "gan"),
        judge=folder(cfg, "judge"),
        n=cfg.n,
        out=folder(cfg, "synthetic"),
        seed=cfg.seed,
        min_confidence=cfg.min_confidence,
        temperature=cfg.temperature,
        rows_per_file=cfg.rows_per_file,
        gpu=cfg.gpu,
        data_root=cfg.data_root,
        download=cfg.download,
        address=cfg.address,
    )


def _merged(cfg: PipelineConfig, workers: int) -> MergedConfig:
    return MergedConfig(
        real=folder(cfg, "real"),
        synthetic=folder(cfg, "synthetic"),
        out=folder(cfg, "merged"),
        max_synthetic=cfg.merge_synthetic,
    )


def _report(cfg: PipelineConfig, workers: int) -> ReportConfig:
    """The report reads the classifiers the classifier stage trained in OUT/classifier."""
    return ReportConfig(
        checkpoint=folder(cfg, "gan"),
        judge=folder(cfg, "judge"),
        out=folder(cfg, "report"),
        synthetic=folder(cfg, "synthetic"),
        merged=folder(cfg, "merged"),
        dataset=cfg.dataset,
        data_root=cfg.data_root,
        download=cfg.download,
        samples=min(cfg.samples, cfg.n),
        seed=cfg.seed,
        seeds=cfg.seeds,
        epochs=cfg.classifier_epochs,
        samples_seen=cfg.samples_seen,
        cas_rows=min(cfg.n, 60_000),
        curve=cfg.curve,
        runs=folder(cfg, "classifier"),
        workers=workers,
        gpu=cfg.gpu,
        address=cfg.address,
    )


PIPELINE = {
    "real": Stage((), _real),
    "gan": Stage((), _gan),
    "judge": Stage((), _judge),
    "synthetic": Stage(("gan", "judge"), _synthetic),
    "merged": Stage(("real", "synthetic"), _merged),
    "classifier": Stage(("merged",), None),  # every classifier of the report: _classifiers
    "report": Stage(("gan", "judge", "synthetic", "merged", "classifier"), _report),
}
assert tuple(PIPELINE) == STAGES


@dataclass
class StageReport:
    stage: str
    seconds: float
    skipped: bool
    figures: str


@dataclass
class PipelineResult:
    out: str
    stages: list[StageReport] = field(default_factory=list)
    report: dict | None = None


def validate(cfg: PipelineConfig) -> None:
    require(cfg.n >= 1, f"--n must be at least 1 (got {cfg.n})")
    require(cfg.gan_epochs() >= 1, f"--epochs must be at least 1 (got {cfg.gan_epochs()})")
    require(cfg.workers is None or cfg.workers >= 1, f"--workers must be at least 1 (got {cfg.workers})")
    require(0.0 <= cfg.min_confidence < 1.0, f"--min-confidence must be in [0, 1) (got {cfg.min_confidence})")
    require(0.0 < cfg.temperature <= 3.0, f"--temperature must be in (0, 3] (got {cfg.temperature})")
    unknown = [s for s in cfg.force if s not in STAGES]
    require(not unknown, f"--force {','.join(unknown)}: stages are {', '.join(STAGES)}")


def stages_to_redo(forced: tuple[str, ...]) -> set[str]:
    """The forced stages and every stage downstream of them."""
    redo = set(forced)
    for stage in STAGES:  # in order, so one pass closes over the dependency chain
        if any(dep in redo for dep in PIPELINE[stage].needs):
            redo.add(stage)
    return redo


def run(cfg: PipelineConfig, *, only: tuple[str, ...] = STAGES, echo: Callable[[str], None] = print) -> PipelineResult:
    validate(cfg)
    _check_folder(cfg)
    storage.check_writable(cfg.out)
    redo = stages_to_redo(cfg.force) if not cfg.overwrite else set(STAGES)
    result = PipelineResult(cfg.out)
    did_work: set[str] = set()
    refuse_gpu_on_a_cpu_machine(cfg.gpu, cfg.address)  # before the first stage, not after it
    speed = None if cfg.gpu else measure_apart()  # before Ray starts: its start-up would share the cores being timed
    with ray_session(cfg.address, ray_train=True):  # its train stages
        _record_settings(cfg)
        workers = cfg.workers or _default_workers(cfg.gpu)
        expected = forecast(cfg, workers, speed)
        echo(expected_duration(cfg, workers, expected, speed))
        chosen = [stage for stage in STAGES if stage in only]
        for k, stage in enumerate(chosen, 1):
            replace = stage in redo or any(dep in did_work for dep in PIPELINE[stage].needs)
            redo_note = " (redo)" if replace and _has_output(cfg, stage) else ""
            echo(
                f"[{stage}] stage {k}/{len(chosen)}: {folder(cfg, stage)}{redo_note}; forecast "
                f"{_minutes(expected.get(stage, 0.0))}"
            )
            started = time.perf_counter()
            with in_stage(stage):
                skipped, figures, report = _run_stage(cfg, stage, workers, replace, echo)
            seconds = time.perf_counter() - started
            result.stages.append(StageReport(stage, seconds, skipped, figures))
            if report is not None:
                result.report = report
            if not skipped:
                did_work.add(stage)
            took = "complete already, skipped" if skipped else f"done in {_minutes(seconds)}"
            echo(f"[{stage}] {took}: {figures}")
    return result


def _run_stage(cfg: PipelineConfig, stage: str, workers: int, replace: bool, echo: Callable[[str], None]):
    if PIPELINE[stage].config is None:
        return _classifiers(cfg, workers, replace)
    config = PIPELINE[stage].config(cfg, workers)
    run_stage = getattr(stages, stage).run
    try:
        result = run_stage(dataclasses.replace(config, overwrite=replace))
    except OtherSettings as why:
        echo(f"[{stage}] {why}: redoing it")
        result = run_stage(dataclasses.replace(config, overwrite=True))
    return result.skipped, result.summary, getattr(result, "report", None)


def _classifiers(cfg: PipelineConfig, workers: int, replace: bool):
    """Every classifier the report needs (CAS, real-only baseline, augmented, classic...), in
    OUT/classifier; the report stage then only reads them. Redone because generation or the
    merge was redone, it keeps the runs that never read a synthetic row (real only, real +
    classic) when their real rows are unchanged."""
    forced = cfg.overwrite or "classifier" in cfg.force
    runs = classifier_runs(_report(cfg, workers))
    for name, run_cfg in runs.items():
        keep_current = replace and run_cfg.real_only and not forced
        runs[name] = (
            stages.classifier.unless_current(run_cfg)
            if keep_current
            else dataclasses.replace(run_cfg, overwrite=replace)
        )
    results = dict(
        zip(runs, stages.classifier.run_many(list(runs.values()), labels=[f"classifier {name}" for name in runs]))
    )
    baseline, augmented = (
        results[run_name("full data", variant, 0)].test_accuracy for variant in (BASELINE, AUGMENTED)
    )
    kept = sum(result.skipped for result in results.values())
    trained = f"{plural(len(results) - kept, 'classifier')} trained" + (f", {kept} kept" if kept else "")
    return kept == len(results), f"{trained}; real only {baseline:.4f} vs augmented {augmented:.4f} (seed 0)", None


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _has_output(cfg: PipelineConfig, stage: str) -> bool:
    fs, path = storage.resolve(folder(cfg, stage))
    return bool(storage.entries(fs, path))


def _check_folder(cfg: PipelineConfig) -> None:
    """Refuse a run folder made with other settings (or holding other files) unless --overwrite."""
    fs, out = storage.resolve(cfg.out)
    if storage.file_type(fs, out).name == "File":
        raise AugmentError(f"--out {cfg.out} is a file, not a folder")
    path = storage.join(out, RUN_FILE)
    if storage.file_type(fs, path).name == "File" and not cfg.overwrite:
        previous = json.loads(storage.read_bytes(fs, path))
        if previous != cfg.identity():
            changed = sorted(k for k in cfg.identity() if previous.get(k) != cfg.identity()[k])
            raise AugmentError(
                f"--out {cfg.out} holds a run with other settings ({', '.join(changed)}); pass --overwrite or choose "
                "another folder"
            )
    elif storage.entries(fs, out) and not cfg.overwrite:
        names = {e.base_name for e in storage.entries(fs, out)}
        if not names <= set(STAGES):
            raise AugmentError(f"--out {cfg.out} holds other files; pass --overwrite or choose another folder")


def _record_settings(cfg: PipelineConfig) -> None:
    fs, out = storage.resolve(cfg.out)
    storage.write_bytes_atomic(
        fs, storage.join(out, RUN_FILE), json.dumps(cfg.identity(), indent=2, sort_keys=True).encode()
    )


def _default_workers(gpu: bool) -> int:
    """Training workers when --workers is not given. With --gpu: 1. The models are small (a DCGAN
    and a CNN on 28x28 digits at a global batch of 128): split over k GPUs each step is launch-bound
    at 128/k samples per GPU and adds an all-reduce, so more GPUs should not train faster (reasoned,
    not yet measured on a GPU); generation, which splits into independent parts, still uses every
    GPU the node types allow. On CPUs: 2 where
    the training nodes hold two workers of a whole CPU or more (on 2 cores two workers of one core
    train faster than one of both, benchmarks/RESULTS.md), else 1."""
    if gpu:
        return 1
    from augment.core.placement import plan

    return 2 if plan(2, False, what="augment run").cpus >= 1 else 1


def forecast(cfg: PipelineConfig, workers: int, speed: MachineSpeed | None) -> dict[str, float]:
    """Seconds per stage, scaled from this machine's measured speed (augment/forecast/; None with --gpu)."""
    import ray

    return stage_seconds(
        n=cfg.n,
        gan_epochs=cfg.gan_epochs(),
        gan_images=cfg.limit or 60_000,
        classifier_epochs=cfg.classifier_epochs,
        merge_synthetic=cfg.merge_synthetic,
        seeds=cfg.seeds,
        cpus=max(1.0, ray.cluster_resources().get("CPU", 1.0)),
        speed=speed,
        curve_runs=len(curve_runs_beyond_gain_table(cfg)),
        min_confidence=cfg.min_confidence,
        temperature=cfg.temperature,
        gpus=int(gpus_possible(cluster_shape())) if cfg.gpu else 1,
    )


def curve_runs_beyond_gain_table(cfg: PipelineConfig) -> set[int]:
    """The curve's points that are runs of their own (not real only, not the gain table's real +
    synthetic run), from the default budget: epochs x the 60,000 real rows' whole batches."""
    real = 60_000
    merged = cfg.n if cfg.merge_synthetic is None else min(cfg.n, cfg.merge_synthetic)
    budget = cfg.samples_seen or cfg.classifier_epochs * (real // 128 * 128)
    readable = min(merged, readable_rows(budget, real))
    return {min(rows, readable) for rows in cfg.curve} - {0, readable}


def expected_duration(
    cfg: PipelineConfig, workers: int, seconds: dict[str, float], speed: MachineSpeed | None = None
) -> str:
    import ray

    where = "GPU" if cfg.gpu else f"{max(1.0, ray.cluster_resources().get('CPU', 1.0)):g} CPUs"
    total = sum(seconds.values())
    parts = ", ".join(f"{stage} ~{_minutes(value)}" for stage, value in seconds.items())
    basis = (
        f"; from this machine's speed, measured in {speed.seconds:.0f} s"
        if speed is not None
        else "; GPU rates assumed, not yet measured on a GPU (benchmarks/gpu_check.sh measures them)"
    )
    return (
        f"augment run: {cfg.n:,} synthetic digits, GAN {plural(cfg.gan_epochs(), 'epoch')}, "
        f"{plural(workers, 'worker')} on {where}; "
        f"expected ~{_minutes(total)} if nothing is done yet ({parts}){basis}"
    )


def summary_table(result: PipelineResult) -> str:
    rows = [("stage", "seconds", "figures")] + [
        (s.stage, "skipped" if s.skipped else f"{s.seconds:,.0f}", s.figures) for s in result.stages
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a.ljust(widths[0])}  {b.rjust(widths[1])}  {c}" for a, b, c in rows]
    if result.report is not None:
        lines.append(f"report: {folder_of(result.out, 'report')}/report.md")
    return "\n".join(lines)


def folder_of(out: str, stage: str) -> str:
    """A stage's folder in a run folder: named after the stage."""
    return storage.join(out, stage) if "://" in out else os.path.join(out, stage)
