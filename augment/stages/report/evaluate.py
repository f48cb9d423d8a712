"""The `report/` stage: run(cfg) measures what the synthetic digits are worth.

REPORT/report.json + report.md + PNG plots:
  * label fidelity, mean judge confidence and the judge's confusion matrix on synthetic digits;
  * Fréchet distance in judge-feature space, synthetic vs real test, with real train vs real test
    as the floor, overall and per class (quality.py);
  * CAS (classification accuracy score): a classifier trained on synthetic digits only, tested on
    the real test split;
  * the augmentation gain table: real only / real + synthetic / real + classic augmentation /
    real + classic + synthetic, same epochs, over `seeds` seeds, for each merged dataset given
    (full data, and a low-data merge made with --real-per-class).
CAS and the gain table are read from the classifier runs `augment classifiers` trained (--classifiers,
or the `classifier/` folder beside OUT in an `augment run` folder): this stage trains nothing.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

from augment.core import card, mnist, storage
from augment.core.datasets import open_dataset
from augment.core.errors import AugmentError, first_line
from augment.core.stage import Made, Output, finished_output, run_stage
from augment.models.classifier_file import load_classifier
from augment.models.generator_file import load_generator
from augment.stages.classifier.config import ClassifierRunsConfig
from augment.stages.classifier.plan import SCORER_SEEDS, run_name
from augment.stages.classifier.runs import recorded_plan, trained_runs
from augment.stages.classifier.train import ClassifierResult
from augment.stages.report import plots, tables
from augment.stages.report.config import CLASSIFIERS_BESIDE, FOLDER, PLOTS, REPORT_FILE, REPORT_TEXT, ReportConfig
from augment.stages.report.markdown import card_quality, report_markdown
from augment.stages.report.quality import confusion, fidelity, frechet_distance, per_class_frechet, predictions
from augment.stages.report.samples import synthetic_samples, unfiltered_fidelity
from augment.stages.synthetic.config import JUDGE_SUBFOLDER

KIND = FOLDER  # the manifest's kind: the stage's name
OWNED = (REPORT_FILE, REPORT_TEXT, *PLOTS)


@dataclass(frozen=True)
class ReportResult:
    out: str
    report: dict
    seconds: float
    skipped: bool

    @property
    def summary(self) -> str:
        fid, cas = self.report["frechet_distance"], self.report["cas"].get("accuracy")
        raw, independent = self.report.get("generator_fidelity"), self.report.get("independent_fidelity") or {}
        judged = f"the filtering judge: {self.report['label_fidelity']['overall']:.2%}" + (
            "" if raw is None else f", {raw['overall']:.2%} before its filter"
        )
        # Led by what classifiers that never saw the filter say: the judge agrees with rows it kept.
        lead = (
            f"fidelity {independent['overall']:.2%} by classifiers that never saw the filter ({judged})"
            if "overall" in independent
            else f"fidelity not measured independently ({judged})"
        )
        return (
            f"{lead}, FD {fid['synthetic_vs_real_test']:.2f} "
            f"(floor {fid['real_train_vs_real_test']:.2f}), CAS {'n/a' if cas is None else f'{cas:.2%}'}"
        )


class ReportStage:
    """The report, as the stage contract (core/stage.py) sees it; its inputs are read once, by identity()."""

    KIND, OWNED, CONTINUES = KIND, OWNED, False

    def identity(self, cfg: ReportConfig) -> dict:
        self.models = _Models.load(cfg)
        self.plan = _plan(cfg)
        self.synthetic = _synthetic_input(cfg)
        return {
            "generator_sha256": self.models.generator_info["sha256"],
            "judge_sha256": self.models.judge_info["sha256"],
            **({"synthetic": self.synthetic.manifest["config_digest"]} if self.synthetic else {}),
            **{key: getattr(cfg, key) for key in ("dataset", "samples", "seed")},
            **({"classifiers": self.plan[1]["config_digest"]} if self.plan else {}),
        }

    def finished(self, cfg: ReportConfig, output: Output) -> dict | None:
        return finished_output(cfg, output, KIND)

    def from_manifest(self, cfg: ReportConfig, done: dict) -> ReportResult:
        fs, out = storage.resolve(cfg.out)
        return ReportResult(cfg.out, json.loads(storage.read_bytes(fs, storage.join(out, REPORT_FILE))), 0.0, True)

    def work(self, cfg: ReportConfig, output: Output) -> Made[ReportResult]:
        started = time.perf_counter()
        output.start()
        report, samples = _fidelity_and_distance(cfg, self.models, self.synthetic)
        plan = self.plan[0] if self.plan else None
        report.update(_classifier_tables(plan, samples, self.models.judge_info, report["test_rows"]))
        report["targets"] = tables.targets(report)
        report["elapsed_s"] = round(time.perf_counter() - started, 3)
        written = _write(output, report, samples)
        measured = [self.synthetic] if self.synthetic else []
        if self.plan:
            sources = self.plan[1]["sources"]
            measured += [open_dataset(uri, what="--merged") for name, uri in sources.items() if name != "synthetic"]
        _refresh_cards(cfg, report, {dataset.uri: dataset for dataset in measured}.values())
        result = ReportResult(cfg.out, report, report["elapsed_s"], skipped=False)
        return Made(result, [output.entry(name) for name in written])


def run(cfg: ReportConfig) -> ReportResult:
    return run_stage(ReportStage(), cfg)


@dataclass(frozen=True)
class _Models:
    generator_info: dict
    judge: Any
    judge_info: dict
    judge_uri: str

    @classmethod
    def load(cls, cfg: ReportConfig) -> _Models:
        _, generator_info = load_generator(cfg.checkpoint)
        judge_uri = cfg.judge or storage.join(cfg.checkpoint, JUDGE_SUBFOLDER)
        judge, judge_info = load_classifier(judge_uri)
        return cls(generator_info, judge, judge_info, judge_uri)


def _plan(cfg: ReportConfig) -> tuple[ClassifierRunsConfig, dict] | None:
    """The classifier runs to read: --classifiers, else OUT/../classifier when it holds a plan."""
    if cfg.classifiers:
        found = recorded_plan(cfg.classifiers)
        if found is None:
            raise AugmentError(
                f"--classifiers {cfg.classifiers} holds no completed `augment classifiers` output "
                "(its _manifest.json is written when every run is trained)"
            )
        return found
    return recorded_plan(_beside(cfg.out, CLASSIFIERS_BESIDE))


def _beside(uri: str, name: str) -> str:
    """The folder `name` next to `uri` (a run folder's stage beside another)."""
    if "://" in uri:
        return uri.rstrip("/").rsplit("/", 1)[0] + "/" + name
    return os.path.join(os.path.dirname(uri.rstrip(os.sep)), name)


def _synthetic_input(cfg: ReportConfig):
    if not cfg.synthetic:
        return None
    dataset = open_dataset(cfg.synthetic, what="--synthetic")
    if dataset.stage != "synthetic":
        raise AugmentError(f"--synthetic {cfg.synthetic} is a {dataset.stage} output, not a generation output")
    return dataset


def _fidelity_and_distance(cfg: ReportConfig, models: _Models, synthetic) -> tuple[dict, tuple]:
    """Label fidelity, the judge's confusion and Fréchet distances of the scored samples."""
    judge = models.judge
    train = mnist.load_split(cfg.dataset, "train", cfg.data_root, download=cfg.download)
    test = mnist.load_split(cfg.dataset, "test", cfg.data_root, download=cfg.download)
    images, labels, confidence, origin = synthetic_samples(cfg, models.judge_uri)
    predicted = predictions(judge, images)
    threshold = synthetic.manifest["config"].get("min_confidence", 0.0) if synthetic else 0.0
    matrix = confusion(predicted, labels)
    floor_rows = mnist.first_per_class(train.labels, max(2, len(labels) // 10))
    info = models.generator_info
    report = {
        "generator": {"uri": cfg.checkpoint, "sha256": info["sha256"], "epochs": info.get("epochs")},
        "judge": {
            "uri": models.judge_uri,
            "sha256": models.judge_info["sha256"],
            "test_accuracy": models.judge_info.get("test_accuracy"),
        },
        "samples": {"rows": int(len(labels)), "from": origin},
        "test_rows": int(len(test.labels)),  # the real test split every accuracy is measured on
        "label_fidelity": fidelity(predicted, labels),
        "mean_confidence": float(confidence.mean()),
        # Rows kept by the same judge at confidence >= min_confidence agree with it by construction:
        # the generator's own draws, before that filter, are scored too.
        "filtered_at": threshold,
        # each class's threshold (--keep-share may lower a class's), and the draws' spread
        "class_thresholds": (synthetic.manifest.get("thresholds") or []) if synthetic else [],
        "temperature": synthetic.manifest["config"].get("temperature", 1.0) if synthetic else 1.0,
        **({"generator_fidelity": unfiltered_fidelity(cfg, models, synthetic)} if threshold > 0 else {}),
        "frechet_distance": {
            "feature_space": f"judge penultimate layer ({judge.spec.hidden} features)",
            "synthetic_vs_real_test": frechet_distance(judge, test.images, images),
            "real_train_vs_real_test": frechet_distance(judge, test.images, train.images[floor_rows]),
            "per_class": per_class_frechet(judge, test.images, test.labels, images, labels),
        },
        "confusion": matrix.tolist(),
    }
    return report, (images, labels, confidence, matrix)


def _classifier_tables(plan: ClassifierRunsConfig | None, samples: tuple, judge_info: dict, test_rows: int) -> dict:
    if plan is None:
        why = "no classifier runs (`augment classifiers`, or --classifiers)"
        return {
            "independent_fidelity": {"skipped": why},
            "cas": {"skipped": why},
            "gain": {},
            "gain_budget": {},
            "curve": {},
        }
    trained = trained_runs(plan)
    images, labels = samples[0], samples[1]
    return {
        "independent_fidelity": _independent_fidelity(plan, trained, images, labels, judge_info),
        "cas": tables.cas(trained),
        "gain": tables.gain_table(plan, trained, test_rows),
        "gain_budget": tables.gain_budgets(plan),
        "curve": tables.curve(plan, trained),
    }


def _write(output: Output, report: dict, samples: tuple) -> list[str]:
    """The report's files; their names, for the manifest."""
    images, labels, confidence, matrix = samples
    fs, out = output.fs, output.path
    storage.write_bytes_atomic(fs, storage.join(out, "confusion.png"), plots.confusion_png(matrix))
    storage.write_bytes_atomic(fs, storage.join(out, "samples.png"), plots.samples_png(images, labels, confidence))
    written = [REPORT_FILE, REPORT_TEXT, *PLOTS[:2]]
    if report["gain"]:
        storage.write_bytes_atomic(fs, storage.join(out, "gain.png"), plots.gain_png(report["gain"]))
        written.append("gain.png")
    if report["curve"]:
        storage.write_bytes_atomic(fs, storage.join(out, "curve.png"), plots.curve_png(report["curve"]))
        written.append("curve.png")
    storage.write_bytes_atomic(
        fs, storage.join(out, REPORT_FILE), json.dumps(report, indent=2, sort_keys=True).encode()
    )
    storage.write_bytes_atomic(fs, storage.join(out, REPORT_TEXT), report_markdown(report).encode())
    return written


def _refresh_cards(cfg: ReportConfig, report: dict, datasets) -> None:
    """The measured folders' cards now say how good their rows are."""
    for dataset in datasets:
        try:
            card.refresh_quality(dataset.uri, card_quality(report, cfg.out))
        except OSError as exc:
            print(
                f"the report is written, but the card of {dataset.uri} could not be updated: {first_line(exc)}",
                flush=True,
            )


def _independent_fidelity(
    plan: ClassifierRunsConfig, trained: dict[str, ClassifierResult], images, labels, judge_info: dict
) -> dict:
    """Agreement with the rows' labels by the full-data real-only classifiers of seeds other than the
    judge's: trained on real digits alone, they never saw the filter, which the judge's agreement
    cannot say (its real-only twin, same seed and recipe, agrees with it on nearly every digit)."""
    judge_seed = (judge_info.get("training") or {}).get("seed")
    seeds = range(max(plan.seeds, SCORER_SEEDS))  # the plan trains real-only runs of at least SCORER_SEEDS seeds
    names = {seed: run_name("full data", "real only", seed) for seed in seeds if seed != judge_seed}
    names = {seed: name for seed, name in names.items() if name in trained}
    if not names:
        why = (
            "no full-data merged dataset given"
            if not plan.merged
            else f"no full-data real-only classifier of a seed other than the judge's ({judge_seed}), which shares "
            "the judge's recipe"
        )
        return {"skipped": why}
    by_seed = {}
    for seed, name in names.items():
        model, _ = load_classifier(trained[name].out)
        by_seed[seed] = fidelity(predictions(model, images), labels)
    return {
        "overall": statistics.fmean(f["overall"] for f in by_seed.values()),
        "per_seed": {str(seed): f["overall"] for seed, f in by_seed.items()},
        "worst_class": min(min(f["per_class"].values()) for f in by_seed.values()),
        "scorers": [trained[name].out for name in names.values()],
    }
