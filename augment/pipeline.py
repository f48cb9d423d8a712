"""`augment run`: run(cfg) runs every stage in order under one folder, on one Ray session.

    OUT/real  gan  judge  synthetic  merged  classifier  report

NEEDS says what each stage reads; pipeline_config.stage_config builds its config from the run's.
Each is the same `run(cfg)` its own command calls (stage_runner), and each skips itself when its output is
complete with the same settings, so an interrupted run continues where it stopped. A stage is
redone (its output replaced) when it is named in --force, when a stage it needs did work in this
invocation, or when its output was made with other settings (only a redone upstream stage leaves
that here: the run's own settings are fixed in pipeline.json, refused unless --overwrite). Every
option is written to OUT/config.yaml, which `augment run --config` takes back.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from augment.core import storage
from augment.core.console import plural
from augment.core.errors import AugmentError, OtherSettings, in_stage
from augment.core.node_types import cluster_shape
from augment.core.placement import gpus_possible
from augment.core.ray_session import ray_session, refuse_gpu_on_a_cpu_machine
from augment.forecast import MachineSpeed, measure_apart, stage_seconds
from augment.pipeline_config import STAGES, PipelineConfig, folder_of, stage_config
from augment.stages.classifier.plan import readable_rows

RUN_FILE = "pipeline.json"
SETTINGS_FILE = "config.yaml"  # the run's resolved options: `augment run --config OUT/config.yaml` repeats it
NEEDS = {  # the stages whose outputs each one reads
    "real": (),
    "gan": (),
    "judge": (),
    "synthetic": ("gan", "judge"),
    "merged": ("real", "synthetic"),
    "classifier": ("merged",),
    "report": ("gan", "judge", "synthetic", "merged", "classifier"),
}


def folder(cfg: PipelineConfig, stage: str) -> str:
    return folder_of(cfg.out, stage)


def stage_runner(stage: str) -> Callable:
    """The stage's run(cfg): the same function its own command calls (imported here, one hop)."""
    if stage == "real":
        from augment.stages.real.export import run
    elif stage == "gan":
        from augment.stages.gan.train import run
    elif stage == "judge":
        from augment.stages.judge.train import run
    elif stage == "synthetic":
        from augment.stages.synthetic.generate import run
    elif stage == "merged":
        from augment.stages.merged.merge import run
    elif stage == "classifier":
        from augment.stages.classifier.runs import run
    else:
        from augment.stages.report.evaluate import run
    return run


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


def stages_to_redo(forced: tuple[str, ...]) -> set[str]:
    """The forced stages and every stage downstream of them."""
    redo = set(forced)
    for stage in STAGES:  # in order, so one pass closes over the dependency chain
        if any(dep in redo for dep in NEEDS[stage]):
            redo.add(stage)
    return redo


def run(cfg: PipelineConfig, *, echo: Callable[[str], None] = print) -> PipelineResult:
    _check_folder(cfg)
    storage.check_writable(cfg.out)
    redo = stages_to_redo(cfg.force) if not cfg.overwrite else set(STAGES)
    result = PipelineResult(cfg.out)
    did_work: set[str] = set()
    refuse_gpu_on_a_cpu_machine(cfg.gpu, cfg.address)  # before the first stage, not after it
    speed = None if cfg.gpu else measure_apart()  # before Ray starts: its start-up would share the cores being timed
    with ray_session(cfg.address, ray_train=True):  # its train stages
        _record_settings(cfg)
        workers = cfg.workers
        expected = forecast(cfg, workers, speed)
        echo(expected_duration(cfg, workers, expected, speed))
        chosen = [stage for stage in STAGES if stage in cfg.stages]
        for k, stage in enumerate(chosen, 1):
            replace = stage in redo or any(dep in did_work for dep in NEEDS[stage])
            redo_note = " (redo)" if replace and _has_output(cfg, stage) else ""
            echo(
                f"[{stage}] stage {k}/{len(chosen)}: {folder(cfg, stage)}{redo_note}; forecast "
                f"{_minutes(expected.get(stage, 0.0))}"
            )
            started = time.perf_counter()
            with in_stage(stage):
                stage_result = _run_stage(cfg, stage, workers, replace, echo)
            seconds = time.perf_counter() - started
            result.stages.append(StageReport(stage, seconds, stage_result.skipped, stage_result.summary))
            result.report = getattr(stage_result, "report", result.report)
            if not stage_result.skipped:
                did_work.add(stage)
            took = "complete already, skipped" if stage_result.skipped else f"done in {_minutes(seconds)}"
            echo(f"[{stage}] {took}: {stage_result.summary}")
    return result


def _run_stage(cfg: PipelineConfig, stage: str, workers: int, replace: bool, echo: Callable[[str], None]):
    """The stage's own run(cfg) on its config in this run. Redone because an upstream stage was, the
    classifier stage keeps the runs that never read a synthetic row when their real rows are unchanged."""
    config = dataclasses.replace(stage_config(cfg, stage, workers), overwrite=replace)
    if stage == "classifier" and replace and not (cfg.overwrite or "classifier" in cfg.force):
        config = dataclasses.replace(config, keep_real_only=True)
    run_stage = stage_runner(stage)
    try:
        return run_stage(config)
    except OtherSettings as why:
        echo(f"[{stage}] {why}: redoing it")
        return run_stage(dataclasses.replace(config, overwrite=True))


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
        if not names <= {*STAGES, SETTINGS_FILE}:
            raise AugmentError(f"--out {cfg.out} holds other files; pass --overwrite or choose another folder")


def _record_settings(cfg: PipelineConfig) -> None:
    """pipeline.json (what makes the run this run) and config.yaml (every option, as --print-config)."""
    from augment.cli_build import settings_yaml

    fs, out = storage.resolve(cfg.out)
    storage.write_bytes_atomic(
        fs, storage.join(out, RUN_FILE), json.dumps(cfg.identity(), indent=2, sort_keys=True).encode()
    )
    storage.write_bytes_atomic(fs, storage.join(out, SETTINGS_FILE), settings_yaml(cfg).encode())


def forecast(cfg: PipelineConfig, workers: int, speed: MachineSpeed | None) -> dict[str, float]:
    """Seconds per stage, scaled from this machine's measured speed (augment/forecast/; None with --gpu)."""
    import ray

    return stage_seconds(
        n=cfg.n,
        gan_epochs=cfg.gan_epochs(),
        gan_images=cfg.model_rows() or 60_000,
        classifier_epochs=cfg.classifier_epochs,
        merge_synthetic=cfg.merge_synthetic,
        seeds=cfg.seeds,
        cpus=max(1.0, ray.cluster_resources().get("CPU", 1.0)),
        speed=speed,
        curve_runs=len(curve_runs_beyond_gain_table(cfg)),
        min_confidence=cfg.min_confidence,
        temperature=cfg.temperature,
        gpus=int(gpus_possible(cluster_shape())) if cfg.gpu else 1,
        workers=workers,
        training_cpus=None if cfg.gpu else _training_cpus(workers),
    )


def _training_cpus(workers: int) -> float:
    """The CPUs `workers` training workers use: their torch threads, each on CPUs of its own."""
    from augment.core.placement import plan

    return float(plan(workers, False, what="augment run").threads * workers)


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
        f"classifiers {plural(cfg.classifier_epochs, 'epoch')}"
        + (f" at most (each stops once converged, patience {cfg.patience})" if cfg.validation_rows != 0 else "")
        + f", {plural(workers, 'worker')} on {where}; "
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
