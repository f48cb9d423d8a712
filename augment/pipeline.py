"""`augment run`: run(cfg) runs every stage in order under one folder, on one Ray session.

    OUT/real  gan  judge  synthetic  merged  classifier  report

Each stage is the same function the single-stage commands call, and each skips itself when its
output is complete with the same settings, so an interrupted run continues where it stopped. A
stage is redone (its output replaced) when it is named in --force or when a stage it depends on
did work in this invocation; a run folder made with other settings is refused unless --overwrite.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from augment import storage
from augment.config import (
    GAIN_VARIANTS, STAGES, EvaluateConfig, ExportConfig, GenerateConfig, JudgeConfig, MergeConfig, PipelineConfig,
    TrainGanConfig,
)
from augment.errors import AugmentError, in_stage, require
from augment.precision import bf16_is_fast
from augment.ray_session import ray_session

RUN_FILE = "pipeline.json"
FOLDERS = {
    "real": "real", "gan": "gan", "judge": "judge", "generate": "synthetic", "merge": "merged",
    "retrain": "classifier", "evaluate": "report",
}
DEPENDS_ON = {
    "real": (), "gan": (), "judge": (), "generate": ("gan", "judge"), "merge": ("real", "generate"),
    "retrain": ("merge",), "evaluate": ("gan", "judge", "generate", "merge", "retrain"),
}
BASELINE, AUGMENTED = "real only", "real + synthetic"


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
    unknown = [s for s in cfg.force if s not in STAGES]
    require(not unknown, f"--force {','.join(unknown)}: stages are {', '.join(STAGES)}")


def folder(cfg: PipelineConfig, stage: str) -> str:
    return folder_of(cfg.out, stage)


def stages_to_redo(forced: tuple[str, ...]) -> set[str]:
    """The forced stages and every stage downstream of them."""
    redo = set(forced)
    for stage in STAGES:  # in order, so one pass closes over the dependency chain
        if any(dep in redo for dep in DEPENDS_ON[stage]):
            redo.add(stage)
    return redo


def run(cfg: PipelineConfig, *, only: tuple[str, ...] = STAGES, echo: Callable[[str], None] = print) -> PipelineResult:
    validate(cfg)
    _check_folder(cfg)
    storage.check_writable(cfg.out)
    redo = stages_to_redo(cfg.force) if not cfg.overwrite else set(STAGES)
    result = PipelineResult(cfg.out)
    did_work: set[str] = set()
    with ray_session(cfg.address, ray_train=True):  # its train stages
        _record_settings(cfg)
        workers = cfg.workers or _default_workers(cfg.gpu)
        expected = forecast(cfg, workers)
        echo(expected_duration(cfg, workers, expected))
        chosen = [stage for stage in STAGES if stage in only]
        for k, stage in enumerate(chosen, 1):
            replace = stage in redo or any(dep in did_work for dep in DEPENDS_ON[stage])
            redo_note = " (redo)" if replace and _has_output(cfg, stage) else ""
            echo(f"[{stage}] stage {k}/{len(chosen)}: {folder(cfg, stage)}{redo_note}; forecast {_minutes(expected.get(stage, 0.0))}")
            started = time.perf_counter()
            with in_stage(stage):
                skipped, figures, report = _STAGE_FUNCTIONS[stage](cfg, workers, replace)
            seconds = time.perf_counter() - started
            result.stages.append(StageReport(stage, seconds, skipped, figures))
            if report is not None:
                result.report = report
            if not skipped:
                did_work.add(stage)
            took = "complete already, skipped" if skipped else f"done in {_minutes(seconds)}"
            echo(f"[{stage}] {took}: {figures}")
    return result


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


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
                f"--out {cfg.out} holds a run with other settings ({', '.join(changed)}); pass --overwrite or choose another folder"
            )
    elif storage.entries(fs, out) and not cfg.overwrite:
        names = {e.base_name for e in storage.entries(fs, out)}
        if not names <= set(FOLDERS.values()):
            raise AugmentError(f"--out {cfg.out} holds other files; pass --overwrite or choose another folder")


def _record_settings(cfg: PipelineConfig) -> None:
    fs, out = storage.resolve(cfg.out)
    storage.write_bytes_atomic(fs, storage.join(out, RUN_FILE), json.dumps(cfg.identity(), indent=2, sort_keys=True).encode())


def _default_workers(gpu: bool) -> int:
    import ray

    resources = ray.cluster_resources()
    return max(1, int(resources.get("GPU", 1))) if gpu else (2 if resources.get("CPU", 1) >= 2 else 1)


def forecast(cfg: PipelineConfig, workers: int) -> dict[str, float]:
    """Seconds per stage, a rough forecast from rates measured on a 2-core CPU box
    (benchmarks/RESULTS.md), scaled by cores."""
    import ray

    cpus = max(1.0, ray.cluster_resources().get("CPU", 1.0))
    images = cfg.limit or 60_000
    if cfg.gpu:
        gan, gen, clf = 20_000.0, 100_000.0, 30_000.0
    else:
        # GAN samples/s and generated rows/s per CPU: bf16 on AMX CPUs (the stages' "auto"), fp32
        # elsewhere. This machine's CPU stands in for a cluster's workers: it is a forecast.
        gan_per_cpu, gen_per_cpu = (520.0, 10_000.0) if bf16_is_fast(gpu=False) else (260.0, 2_000.0)
        gan, gen, clf = gan_per_cpu * cpus, gen_per_cpu * cpus, 1_300.0 * cpus
    fit = 20.0
    real, merged = 60_000, 60_000 + min(cfg.n, cfg.merge_synthetic)
    # The retrain stage trains every classifier of the report: CAS, then per seed each gain-table
    # variant, on the real rows alone or on the merged ones.
    rows_per_seed = sum(real if options.get("real_only") else merged for options in GAIN_VARIANTS.values())
    per_seed = len(GAIN_VARIANTS) * fit + cfg.classifier_epochs * rows_per_seed / clf
    seconds = {
        "gan": fit + cfg.gan_epochs() * images / gan,
        "judge": fit + 4 * images / clf,
        "generate": 10 + cfg.n / gen,
        "retrain": fit + cfg.classifier_epochs * min(cfg.n, 60_000) / clf + cfg.seeds * per_seed,
        "evaluate": 15.0,
    }
    return seconds


def expected_duration(cfg: PipelineConfig, workers: int, seconds: dict[str, float]) -> str:
    import ray

    where = "GPU" if cfg.gpu else f"{max(1.0, ray.cluster_resources().get('CPU', 1.0)):g} CPUs"
    total = sum(seconds.values())
    parts = ", ".join(f"{stage} ~{_minutes(value)}" for stage, value in seconds.items())
    return (f"augment run: {cfg.n:,} synthetic digits, GAN {plural(cfg.gan_epochs(), 'epoch')}, {plural(workers, 'worker')} on {where}; "
            f"expected ~{_minutes(total)} if nothing is done yet ({parts})")


def _real(cfg: PipelineConfig, workers: int, replace: bool):
    from augment import manifest
    from augment.export import export_real

    fs, out = storage.resolve(folder(cfg, "real"))
    done = manifest.read_manifest(fs, out)
    export = ExportConfig(out=folder(cfg, "real"), dataset=cfg.dataset, data_root=cfg.data_root, download=cfg.download, overwrite=True)
    if done and done.get("config") == export.identity() and not replace:
        return True, f"{done['rows']['train']:,} train + {done['rows']['test']:,} test rows", None
    result = export_real(export)
    return False, f"{result.counts['train'].rows:,} train + {result.counts['test'].rows:,} test rows", None


def _gan(cfg: PipelineConfig, workers: int, replace: bool):
    from augment.train_gan import train_gan

    result = train_gan(TrainGanConfig(
        out=folder(cfg, "gan"), dataset=cfg.dataset, data_root=cfg.data_root, download=cfg.download,
        epochs=cfg.gan_epochs(), workers=workers, gpu=cfg.gpu, arch=cfg.arch, limit=cfg.limit, seed=cfg.seed,
        address=cfg.address, overwrite=replace,
    ))
    return result.skipped, f"{plural(result.epochs, 'epoch')}, {result.samples_per_s:,.0f} samples/s", None


def _judge(cfg: PipelineConfig, workers: int, replace: bool):
    from augment.judge import train_judge

    result = train_judge(JudgeConfig(
        out=folder(cfg, "judge"), dataset=cfg.dataset, data_root=cfg.data_root, download=cfg.download,
        workers=workers, gpu=cfg.gpu, limit=cfg.limit, seed=cfg.seed, address=cfg.address, overwrite=replace,
    ))
    return result.skipped, f"real test accuracy {result.test_accuracy:.4f}", None


def _generate(cfg: PipelineConfig, workers: int, replace: bool):
    from augment import manifest
    from augment.generate import generate

    gen = GenerateConfig(
        checkpoint=folder(cfg, "gan"), judge=folder(cfg, "judge"), n=cfg.n, out=folder(cfg, "generate"), seed=cfg.seed,
        gpu=cfg.gpu, data_root=cfg.data_root, download=cfg.download, address=cfg.address,
    )
    fs, out = storage.resolve(gen.out)
    done = manifest.read_manifest(fs, out)
    if done is not None:
        # precision "auto" accepts whichever format the hardware chose for the finished output
        recorded_precision = (done.get("config") or {}).get("precision")
        expected = gen.identity(_sha(gen.checkpoint, "generator.json"), _sha(gen.judge, "classifier.json"), recorded_precision)
        if done.get("config") == expected and not replace:
            return True, f"{done['rows']:,} rows, mean confidence {done['mean_confidence']:.3f}", None
        replace = True
    result = generate(GenerateConfig(**{**gen.__dict__, "overwrite": replace}))
    return False, f"{result.rows:,} rows, {result.rows_per_s:,.0f} rows/s, mean confidence {result.mean_confidence:.3f}", None


def _sha(uri: str, info_file: str) -> str:
    fs, path = storage.resolve(uri)
    return json.loads(storage.read_bytes(fs, storage.join(path, info_file)))["sha256"]


def _merge(cfg: PipelineConfig, workers: int, replace: bool):
    from augment.merge import merge

    result = merge(MergeConfig(
        real=folder(cfg, "real"), synthetic=folder(cfg, "generate"), out=folder(cfg, "merge"),
        max_synthetic=cfg.merge_synthetic, overwrite=replace,
    ))
    return result.skipped, f"{result.real_rows:,} real + {result.synthetic_rows:,} synthetic rows", None


def _evaluate_config(cfg: PipelineConfig, workers: int, replace: bool) -> EvaluateConfig:
    return EvaluateConfig(
        checkpoint=folder(cfg, "gan"), judge=folder(cfg, "judge"), out=folder(cfg, "evaluate"),
        synthetic=folder(cfg, "generate"), merged=folder(cfg, "merge"), dataset=cfg.dataset, data_root=cfg.data_root,
        download=cfg.download, samples=min(cfg.samples, cfg.n), seed=cfg.seed, seeds=cfg.seeds,
        epochs=cfg.classifier_epochs, cas_rows=min(cfg.n, 60_000), runs=folder(cfg, "retrain"), workers=workers,
        gpu=cfg.gpu, address=cfg.address, overwrite=replace,
    )


def _retrain(cfg: PipelineConfig, workers: int, replace: bool):
    """Every classifier the report needs (CAS, real-only baseline, augmented, classic...), in
    OUT/classifier; the report stage then only reads them. Redone because generation or the
    merge was redone, it keeps the runs that never read a synthetic row (real only, real +
    classic) when their real rows are unchanged."""
    from augment.evaluate import classifier_runs, run_name
    from augment.retrain import retrain, retrain_unless_current

    forced = cfg.overwrite or "retrain" in cfg.force
    results = {}
    for name, run in classifier_runs(_evaluate_config(cfg, workers, replace)).items():
        if replace and run.real_only and not forced:
            results[name] = retrain_unless_current(run)
        else:
            results[name] = retrain(dataclasses.replace(run, overwrite=replace))
    baseline, augmented = (results[run_name("full data", variant, 0)].test_accuracy for variant in (BASELINE, AUGMENTED))
    kept = sum(result.skipped for result in results.values())
    trained = f"{len(results) - kept} classifiers trained" + (f", {kept} kept" if kept else "")
    return kept == len(results), f"{trained}; real only {baseline:.4f} vs augmented {augmented:.4f} (seed 0)", None


def _evaluate(cfg: PipelineConfig, workers: int, replace: bool):
    from augment.evaluate import evaluate

    result = evaluate(_evaluate_config(cfg, workers, replace))
    return result.skipped, summary_figures(result.report), result.report


def summary_figures(report: dict) -> str:
    fid = report["frechet_distance"]
    cas = report["cas"].get("accuracy")
    return (f"fidelity {report['label_fidelity']['overall']:.2%}, FD {fid['synthetic_vs_real_test']:.2f} "
            f"(floor {fid['real_train_vs_real_test']:.2f}), CAS {'n/a' if cas is None else f'{cas:.2%}'}")


_STAGE_FUNCTIONS: dict[str, Callable[[PipelineConfig, int, bool], tuple[bool, str, Any]]] = {
    "real": _real, "gan": _gan, "judge": _judge, "generate": _generate, "merge": _merge, "retrain": _retrain,
    "evaluate": _evaluate,
}


def summary_table(result: PipelineResult) -> str:
    rows = [("stage", "seconds", "figures")] + [
        (s.stage, "skipped" if s.skipped else f"{s.seconds:,.0f}", s.figures) for s in result.stages
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a.ljust(widths[0])}  {b.rjust(widths[1])}  {c}" for a, b, c in rows]
    if result.report is not None:
        lines.append(f"report: {folder_of(result.out, 'evaluate')}/report.md")
    return "\n".join(lines)


def folder_of(out: str, stage: str) -> str:
    return storage.join(out, FOLDERS[stage]) if "://" in out else os.path.join(out, FOLDERS[stage])
