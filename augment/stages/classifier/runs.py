"""The classifier/ stage of `augment run` (`augment classifiers`): run(cfg) trains every classifier
the report reads, CAS and the gain table's runs (plan.py), in one Ray Train worker group, each in
its own subfolder of OUT; then OUT/_manifest.json records the plan, which `augment evaluate
--classifiers OUT` reads. A rerun keeps the runs that are complete with their settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from augment.core import manifest, storage
from augment.core.console import plural
from augment.core.datasets import open_dataset
from augment.core.stage import Made, Output, finished_output, run_stage
from augment.stages.classifier.config import ClassifierRunsConfig
from augment.stages.classifier.plan import classifier_runs, run_name
from augment.stages.classifier.train import ClassifierResult, run_many, unless_current

KIND = "classifiers"
SOURCES = ("synthetic", "merged", "low_data_merged")
RUN_FOLDERS = ("cas", "full-data", "low-data")  # plan.run_name's first part


@dataclass(frozen=True)
class ClassifierRunsResult:
    out: str
    runs: dict[str, ClassifierResult]  # run name -> its result
    seconds: float
    skipped: bool  # every run was complete already

    @property
    def summary(self) -> str:
        kept = sum(result.skipped for result in self.runs.values())
        trained = f"{plural(len(self.runs) - kept, 'classifier')} trained" + (f", {kept} kept" if kept else "")
        pair = [self.runs.get(run_name("full data", variant, 0)) for variant in ("real only", "real + synthetic")]
        if None in pair:
            return trained
        stopped = sum(result.converged is False for result in self.runs.values())
        capped = f"; {stopped} of {len(self.runs)} still improving at their cap: no verdict" if stopped else ""
        return (
            f"{trained}; real only {pair[0].test_accuracy:.4f} vs augmented {pair[1].test_accuracy:.4f} (seed 0)"
            + capped
        )


class ClassifierRunsStage:
    """The report's classifiers, as the stage contract (core/stage.py) sees them: complete once every
    run is; a rerun keeps the runs complete with their settings and continues the others."""

    KIND, OWNED, CONTINUES = KIND, RUN_FOLDERS, True

    def identity(self, cfg: ClassifierRunsConfig) -> dict:
        return cfg.identity({name: _digest(cfg, name) for name in SOURCES if getattr(cfg, name)})

    def finished(self, cfg: ClassifierRunsConfig, output: Output) -> dict | None:
        return finished_output(cfg, output, KIND)

    def from_manifest(self, cfg: ClassifierRunsConfig, done: dict) -> ClassifierRunsResult:
        return ClassifierRunsResult(cfg.out, trained_runs(cfg), 0.0, skipped=True)

    def work(self, cfg: ClassifierRunsConfig, output: Output) -> Made[ClassifierRunsResult]:
        started = time.perf_counter()
        runs = classifier_runs(cfg)
        if cfg.keep_real_only:  # redone for new synthetic rows: a real-only run on unchanged real rows stays
            runs = {name: unless_current(run) if run.real_only else run for name, run in runs.items()}
        output.start_over = False  # each run replaces its own folder when it must (its overwrite)
        output.start()
        results = dict(zip(runs, run_many(list(runs.values()), labels=[f"classifier {name}" for name in runs])))
        skipped = all(result.skipped for result in results.values())
        result = ClassifierRunsResult(cfg.out, results, time.perf_counter() - started, skipped)
        facts = {
            "settings": cfg.settings(),
            "sources": {name: getattr(cfg, name) for name in SOURCES if getattr(cfg, name)},
            "runs": {name: name for name in runs},
        }
        return Made(result, [], facts)


def run(cfg: ClassifierRunsConfig) -> ClassifierRunsResult:
    return run_stage(ClassifierRunsStage(), cfg)


def _digest(cfg: ClassifierRunsConfig, name: str) -> str:
    option = "--" + name.replace("_", "-")
    return open_dataset(getattr(cfg, name), what=option).manifest["config_digest"]


def recorded_plan(classifiers: str) -> tuple[ClassifierRunsConfig, dict] | None:
    """The plan `augment classifiers` completed in this folder, and its manifest (None: no plan there)."""
    done = manifest.read_manifest(*storage.resolve(classifiers))
    if done is None or done.get("stage") != KIND:
        return None
    return ClassifierRunsConfig(out=classifiers, **done["settings"], **done["sources"]), done


def trained_runs(plan: ClassifierRunsConfig) -> dict[str, ClassifierResult]:
    """Each run of a completed plan, as its manifest records it."""
    results = {}
    for name, run_cfg in classifier_runs(plan).items():
        done = manifest.read_manifest(*storage.resolve(run_cfg.out))
        if done is None:
            from augment.core.errors import AugmentError

            raise AugmentError(
                f"--classifiers {plan.out}: run {name} is not complete; rerun `augment classifiers` with the same "
                "options to finish it"
            )
        results[name] = ClassifierResult.from_manifest(run_cfg.out, done)
    return results
