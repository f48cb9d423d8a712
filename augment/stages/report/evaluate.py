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
Every classifier is a `stages.classifier` run under REPORT/runs/ (all of them in one Ray Train worker
group), so an interrupted evaluation continues where it stopped and a rerun with the same settings
skips finished runs.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.parquet as pq

from augment import stages
from augment.core import card, manifest, mnist, storage
from augment.core.datasets import open_dataset
from augment.core.errors import AugmentError, first_line, require
from augment.models.classifier_file import load_classifier
from augment.models.generator_file import load_generator
from augment.stages.classifier.plan import GAIN_VARIANTS as VARIANTS
from augment.stages.classifier.plan import RUNS, classifier_runs, curve_points, gain_budget, regimes, run_name
from augment.stages.report import plots
from augment.stages.report.config import FOLDER, PLOTS, REPORT_FILE, REPORT_TEXT, ReportConfig
from augment.stages.report.quality import confusion, fidelity, frechet_distance, per_class_frechet, predictions
from augment.stages.synthetic.config import JUDGE_SUBFOLDER
from augment.stages.synthetic.parts import PartPlan
from augment.stages.synthetic.sampling import class_boundaries
from augment.stages.synthetic.synthesis import PartMaker

if TYPE_CHECKING:
    from augment.stages.classifier.train import ClassifierResult

KIND = FOLDER  # the manifest's kind: the stage's name
OWNED = (REPORT_FILE, REPORT_TEXT, RUNS, *PLOTS)
CAS_ANCHOR = 0.971  # a labeled DCGAN's CAS on MNIST in the literature


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
        notes = ([] if raw is None else [f"{raw['overall']:.2%} before the judge's filter"]) + (
            [f"{independent['overall']:.2%} by real-only classifiers that never saw it"]
            if "overall" in independent
            else []
        )
        notes_text = f" ({'; '.join(notes)})" if notes else ""
        return (
            f"fidelity {self.report['label_fidelity']['overall']:.2%}{notes_text}, FD "
            f"{fid['synthetic_vs_real_test']:.2f} "
            f"(floor {fid['real_train_vs_real_test']:.2f}), CAS {'n/a' if cas is None else f'{cas:.2%}'}"
        )


def validate(cfg: ReportConfig) -> None:
    mnist.check_dataset(cfg.dataset)
    require(cfg.samples >= 20, f"--samples must be at least 20 (got {cfg.samples})")
    require(cfg.seeds >= 1, f"--seeds must be at least 1 (got {cfg.seeds})")
    require(cfg.epochs >= 1 and cfg.low_data_epochs >= 1, "--epochs and --low-data-epochs must be at least 1")
    require(cfg.cas_rows >= 1, f"--cas-rows must be at least 1 (got {cfg.cas_rows})")
    require(cfg.workers >= 1, f"--workers must be at least 1 (got {cfg.workers})")


def run(cfg: ReportConfig) -> ReportResult:
    started = time.perf_counter()
    validate(cfg)
    _, generator_info = load_generator(cfg.checkpoint)
    judge_uri = cfg.judge or storage.join(cfg.checkpoint, JUDGE_SUBFOLDER)
    judge, judge_info = load_classifier(judge_uri)
    inputs = {
        name: open_dataset(uri, what=f"--{name.replace('_', '-')}")
        for name, uri in (
            ("synthetic", cfg.synthetic),
            ("merged", cfg.merged),
            ("low_data_merged", cfg.low_data_merged),
        )
        if uri
    }
    if "synthetic" in inputs and inputs["synthetic"].stage != "synthetic":
        raise AugmentError(
            f"--synthetic {cfg.synthetic} is a {inputs['synthetic'].stage} output, not a generation output"
        )
    identity = {
        "generator_sha256": generator_info["sha256"],
        "judge_sha256": judge_info["sha256"],
        **{name: dataset.manifest["config_digest"] for name, dataset in inputs.items()},
        **{
            key: getattr(cfg, key)
            for key in ("dataset", "samples", "seed", "seeds", "epochs", "low_data_epochs", "cas_rows")
        },
        "gain_budget": _gain_budgets(cfg),  # gain tables at equal samples seen (reports before it trained equal epochs)
        "fresh_synthetic": True,  # synthetic variants draw new synthetic rows every epoch, one real rows' worth
        **({"curve": list(cfg.curve)} if cfg.curve else {}),
    }
    fs, out = storage.resolve(cfg.out)
    done = manifest.finished_output(
        fs, out, uri=cfg.out, kind=KIND, identity=identity, owned=OWNED, overwrite=cfg.overwrite
    )
    if done:
        report = json.loads(storage.read_bytes(fs, storage.join(out, REPORT_FILE)))
        return ReportResult(cfg.out, report, 0.0, skipped=True)
    storage.check_writable(cfg.out)
    if cfg.overwrite:
        manifest.clear_output(fs, out, OWNED if cfg.runs is None else [name for name in OWNED if name != RUNS])
    storage.delete(fs, storage.join(out, manifest.MANIFEST_NAME))

    train = mnist.load_split(cfg.dataset, "train", cfg.data_root, download=cfg.download)
    test = mnist.load_split(cfg.dataset, "test", cfg.data_root, download=cfg.download)
    images, labels, confidence, origin = _synthetic_samples(cfg, judge_uri, generator_info)
    predicted = predictions(judge, images)
    threshold = inputs["synthetic"].manifest["config"].get("min_confidence", 0.0) if "synthetic" in inputs else 0.0
    matrix = confusion(predicted, labels)
    floor_rows = mnist.first_per_class(train.labels, max(2, len(labels) // 10))
    report = {
        "generator": {
            "uri": cfg.checkpoint,
            "sha256": generator_info["sha256"],
            "epochs": generator_info.get("epochs"),
        },
        "judge": {"uri": judge_uri, "sha256": judge_info["sha256"], "test_accuracy": judge_info.get("test_accuracy")},
        "samples": {"rows": int(len(labels)), "from": origin},
        "label_fidelity": fidelity(predicted, labels),
        "mean_confidence": float(confidence.mean()),
        # Rows kept by the same judge at confidence >= min_confidence agree with it by construction:
        # the generator's own draws, before that filter, are scored too.
        "filtered_at": threshold,
        **(
            {"generator_fidelity": _unfiltered_fidelity(cfg, judge, judge_uri, generator_info, inputs["synthetic"])}
            if threshold > 0
            else {}
        ),
        "frechet_distance": {
            "feature_space": f"judge penultimate layer ({judge.spec.hidden} features)",
            "synthetic_vs_real_test": frechet_distance(judge, test.images, images),
            "real_train_vs_real_test": frechet_distance(judge, test.images, train.images[floor_rows]),
            "per_class": per_class_frechet(judge, test.images, test.labels, images, labels),
        },
        "confusion": matrix.tolist(),
    }
    trained = train_classifiers(cfg)
    report["independent_fidelity"] = _independent_fidelity(cfg, trained, images, labels, judge_info)
    report["cas"] = _cas(trained)
    report["gain"] = _gain_table(cfg, trained)
    report["gain_budget"] = _gain_budgets(cfg)
    report["curve"] = _curve(cfg, trained)
    report["targets"] = _targets(report)
    report["elapsed_s"] = round(time.perf_counter() - started, 3)

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
    manifest.write_manifest(
        fs,
        out,
        stage=KIND,
        config=identity,
        files=[manifest.file_entry(fs, out, name, rows=0) for name in written],
        elapsed_s=report["elapsed_s"],
    )
    for dataset in inputs.values():  # the measured folders' cards now say how good their rows are
        try:
            card.refresh_quality(dataset.uri, card_quality(report, cfg.out))
        except OSError as exc:
            print(
                f"the report is written, but the card of {dataset.uri} could not be updated: {first_line(exc)}",
                flush=True,
            )
    return ReportResult(cfg.out, report, report["elapsed_s"], skipped=False)


def card_quality(report: dict, where: str) -> list[tuple[str, str]]:
    """The report's headline figures as rows of a dataset card's quality table."""
    fid, independent = report["frechet_distance"], report.get("independent_fidelity") or {}
    rows = [
        (
            "label fidelity (judge agrees with the label)",
            f"{report['label_fidelity']['overall']:.2%} of {report['samples']['rows']:,} rows" + _filter_note(report),
        ),
        *(
            [("label fidelity by real-only classifiers that never saw the filter", f"{independent['overall']:.2%}")]
            if "overall" in independent
            else []
        ),
        ("mean judge confidence", f"{report['mean_confidence']:.3f}"),
        (
            "Fréchet distance to real test (judge features)",
            f"{fid['synthetic_vs_real_test']:.2f} (real train vs real test: {fid['real_train_vs_real_test']:.2f})",
        ),
    ]
    cas = report["cas"]
    rows.append(
        (
            "CAS (train on synthetic, test on real)",
            f"{cas['accuracy']:.2%} ({cas['rows']:,} rows, {cas['epochs']} epochs)"
            if "accuracy" in cas
            else "not measured",
        )
    )
    for regime, variants in report["gain"].items():
        for variant, row in variants.items():
            rows.append(
                (
                    f"real test accuracy, {regime}: {variant}",
                    f"{row['mean']:.2%} ± {row['std'] * 100:.2f} pt ({len(row['runs'])} runs)",
                )
            )
    rows.append(("report", f"`{where}` (report.md, report.json)"))
    return rows


def _unfiltered_fidelity(cfg: ReportConfig, judge, judge_uri: str, generator_info: dict, synthetic) -> dict:
    """The judge on the generator's first draws, at the temperature the rows were drawn with."""
    temperature = synthetic.manifest["config"].get("temperature", 1.0)
    images, labels, _, _ = _synthetic_samples(
        dataclasses.replace(cfg, synthetic=None), judge_uri, generator_info, temperature
    )
    return {**fidelity(predictions(judge, images), labels), "temperature": temperature}


def _synthetic_samples(cfg: ReportConfig, judge_uri: str, generator_info: dict, temperature: float = 1.0):
    """(images, labels, confidence, where from): ids 0..samples-1, a nearly class-balanced prefix."""
    if cfg.synthetic:
        fs, _ = storage.resolve(cfg.synthetic)
        paths = list(open_dataset(cfg.synthetic, what="--synthetic", stages=("synthetic",)).paths)
        table = pq.read_table(
            paths, filesystem=fs, columns=["id", "image", "label", "confidence"], filters=[("id", "<", cfg.samples)]
        )
        table = table.sort_by("id")
        if table.num_rows < cfg.samples:
            raise AugmentError(
                f"--synthetic {cfg.synthetic} holds {table.num_rows} rows, fewer than --samples {cfg.samples}"
            )
        images = table["image"].combine_chunks().to_numpy_ndarray()
        return images, table["label"].to_numpy().astype(np.int64), table["confidence"].to_numpy(), cfg.synthetic
    plan = PartPlan(
        checkpoint=cfg.checkpoint,
        judge=judge_uri,
        out=cfg.out,
        n=cfg.samples,
        seed=cfg.seed,
        boundaries=tuple(class_boundaries(generator_info["spec"]["num_classes"], None).tolist()),
        min_confidence=0.0,
        max_attempts=1,
        batch_size=512,
        metadata={},
        temperature=temperature,
    )
    images, labels, confidence, _ = PartMaker(plan).make_rows(np.arange(cfg.samples))
    return images, labels, confidence, f"generated here from {cfg.checkpoint} (seed {cfg.seed})"


def train_classifiers(cfg: ReportConfig) -> dict[str, ClassifierResult]:
    """Every classifier of the report, by run name, trained in one Ray Train worker group: CAS
    first, then the gain table seed by seed, every variant, so an evaluation stopped part-way
    leaves whole seeds, which a rerun with fewer --seeds on the same --out reuses as they are."""
    runs = classifier_runs(cfg)
    order = [name for name in runs if name == "cas"]
    for regime, merged, epochs in regimes(cfg):
        for seed in range(cfg.seeds):
            order += [run_name(regime, variant, seed) for variant in VARIANTS]
            order += [
                name
                for name in (p.run_name(regime, seed) for p in curve_points(cfg, merged, epochs))
                if name not in order
            ]
    results = stages.classifier.run_many([runs[name] for name in order], labels=[_label(name) for name in order])
    return dict(zip(order, results))


def _independent_fidelity(
    cfg: ReportConfig, trained: dict[str, ClassifierResult], images, labels, judge_info: dict
) -> dict:
    """Agreement with the rows' labels by the full-data real-only classifiers of seeds other than the
    judge's: trained on real digits alone, they never saw the filter, which the judge's agreement
    cannot say (its real-only twin, same seed and recipe, agrees with it on nearly every digit)."""
    judge_seed = (judge_info.get("training") or {}).get("seed")
    names = {seed: run_name("full data", "real only", seed) for seed in range(cfg.seeds) if seed != judge_seed}
    names = {seed: name for seed, name in names.items() if name in trained}
    if not names:
        why = (
            "no full-data merged dataset given"
            if not cfg.merged
            else f"needs --seeds 2 or more: the real-only classifier of seed {judge_seed} shares the judge's seed "
            "and recipe"
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


def _label(name: str) -> str:
    """How a run's progress lines name it: "classifier cas", "classifier full-data/real-only/seed0"."""
    return f"classifier {name}"


def _cas(trained: dict[str, ClassifierResult]) -> dict:
    if "cas" not in trained:
        return {"skipped": "no --synthetic output given: CAS trains on generated rows"}
    result = trained["cas"]
    return {"accuracy": result.test_accuracy, "rows": result.rows, "epochs": result.epochs, "anchor": CAS_ANCHOR}


def _gain_table(cfg: ReportConfig, trained: dict[str, ClassifierResult]) -> dict:
    table = {}
    for regime, _, _ in regimes(cfg):
        table[regime] = {}
        for variant in VARIANTS:
            results = [trained[run_name(regime, variant, seed)] for seed in range(cfg.seeds)]
            table[regime][variant] = {
                **_summary(results),
                # equal budgets: the samples every run saw (steps x batch), and the passes that took over its rows
                "epochs": results[0].epochs,
                "samples_seen": results[0].samples_seen,
                "rows": results[0].rows,
            }
    return table


def _curve(cfg: ReportConfig, trained: dict[str, ClassifierResult]) -> dict:
    """regime -> one row per --curve point: real + synthetic accuracy with that many synthetic rows available."""
    curve = {}
    for regime, merged, epochs in regimes(cfg):
        points = curve_points(cfg, merged, epochs)
        if points:
            curve[regime] = [
                {
                    "rows_available": point.rows_available,
                    "rows_read": point.rows_read,
                    **_summary([trained[point.run_name(regime, seed)] for seed in range(cfg.seeds)]),
                }
                for point in points
            ]
    return curve


def _summary(results: list[ClassifierResult]) -> dict:
    """Accuracy over seeds, and what a class-imbalanced comparison reads (None: runs trained
    before those were recorded)."""
    accuracies = [result.test_accuracy for result in results]
    return {
        "mean": statistics.fmean(accuracies),
        "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "runs": accuracies,
        "balanced_accuracy": _mean_of(result.balanced_accuracy for result in results),
        "worst_class_recall": _mean_of(result.worst_class_recall for result in results),
    }


def _mean_of(values) -> float | None:
    values = list(values)
    return None if any(value is None for value in values) else statistics.fmean(values)


def _gain_budgets(cfg: ReportConfig) -> dict:
    """Samples seen by every variant of each regime: the comparison holds this fixed."""
    return {regime: gain_budget(cfg, merged, epochs) for regime, merged, epochs in regimes(cfg)}


def _targets(report: dict) -> dict:
    independent = report.get("independent_fidelity", {})
    if "overall" in independent:
        targets = {
            "label fidelity >= 99% (real-only classifiers that never saw the filter)": independent["overall"] >= 0.99
        }
    else:  # the judge's own agreement: by construction when it filtered the rows
        targets = {
            "label fidelity >= 99%"
            + (" (by the judge that filtered the rows)" if report.get("filtered_at") else ""): report["label_fidelity"][
                "overall"
            ]
            >= 0.99
        }
    if "accuracy" in report["cas"]:
        targets["CAS >= 98%"] = report["cas"]["accuracy"] >= 0.98
    gain = report["gain"]
    if "full data" in gain:
        full = gain["full data"]
        targets["augmented >= real only (full data)"] = full["real + synthetic"]["mean"] >= full["real only"]["mean"]
    if "low data" in gain:
        low = gain["low data"]
        best_plain = max(low["real only"]["mean"], low["real + classic"]["mean"])
        best_gan = max(low["real + synthetic"]["mean"], low["real + classic + synthetic"]["mean"])
        targets["low data: GAN gain >= +1 point over real only and classic"] = best_gan - best_plain >= 0.01
    return targets


def _filter_note(report: dict) -> str:
    if "generator_fidelity" not in report:
        return ""
    return (
        f" (these rows were kept by the same judge at confidence >= {report['filtered_at']:g}; the generator's "
        f"unfiltered draws: {report['generator_fidelity']['overall']:.2%})"
    )


def _independent_lines(independent: dict | None) -> list[str]:
    if not independent:  # reports written before it was measured
        return []
    if "skipped" in independent:
        return [
            f"Label fidelity by classifiers that never saw the filter: not measured ({independent['skipped']}).",
            "",
        ]
    seeds = ", ".join(f"seed {seed}: {value:.2%}" for seed, value in independent["per_seed"].items())
    return [
        "Classifiers trained on real digits only, which never saw the filter, agree with "
        f"**{independent['overall']:.2%}** "
        f"of these labels ({seeds}; worst class {independent['worst_class']:.2%}).",
        "",
    ]


def report_markdown(report: dict) -> str:
    fid = report["frechet_distance"]
    per_class = report["label_fidelity"]["per_class"]
    fidelity_row = " | ".join(f"{per_class.get(str(c), per_class.get(c, float('nan'))):.3f}" for c in range(10))
    fid_row = " | ".join(
        f"{fid['per_class'].get(str(c), fid['per_class'].get(c, float('nan'))):.2f}" for c in range(10)
    )
    lines = [
        "# augment report",
        "",
        f"Generator `{report['generator']['sha256'][:16]}…` ({report['generator']['epochs']} epochs); judge "
        f"`{report['judge']['sha256'][:16]}…` (real test accuracy {report['judge']['test_accuracy']}).",
        f"{report['samples']['rows']:,} synthetic digits from {report['samples']['from']}.",
        "",
        "## Label fidelity and Fréchet distance",
        "",
        f"- Label fidelity (judge agrees with the conditioning label): **{report['label_fidelity']['overall']:.2%}**; "
        f"mean judge confidence {report['mean_confidence']:.3f}" + _filter_note(report),
        f"- Fréchet distance in {fid['feature_space']}: synthetic vs real test "
        f"**{fid['synthetic_vs_real_test']:.2f}**; "
        f"floor (real train vs real test) {fid['real_train_vs_real_test']:.2f}",
        "",
        "| class | " + " | ".join(map(str, range(10))) + " |",
        "|---" * 11 + "|",
        f"| fidelity | {fidelity_row} |",
        f"| Fréchet distance | {fid_row} |",
        "",
        *_independent_lines(report.get("independent_fidelity")),
        "![confusion](confusion.png) ![samples](samples.png)",
        "",
        "## Classification accuracy score (train on synthetic, test on real)",
        "",
    ]
    cas = report["cas"]
    if "accuracy" in cas:
        lines.append(
            f"**{cas['accuracy']:.2%}** on the real test split after {cas['epochs']} epochs over {cas['rows']:,} "
            f"synthetic digits (literature anchor for a labeled DCGAN: {cas['anchor']:.1%})."
        )
    else:
        lines.append(f"Not measured: {cas['skipped']}.")
    lines += ["", "## Augmentation gain (real test accuracy)", ""]
    if not report["gain"]:
        lines.append("Not measured: no merged dataset given.")
    for regime, variants in report["gain"].items():
        budget = report.get("gain_budget", {}).get(regime)
        lines += [f"### {regime}", ""]
        if budget:
            lines += [
                f"Every variant trains on {budget:,} samples (optimizer steps x batch): what real only sees in its "
                "epochs; a variant with more rows makes fewer passes over them.",
                "",
            ]
        lines += [
            "| variant | mean | std | runs | balanced accuracy | worst-class recall | rows | samples seen | epochs |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for variant, row in variants.items():
            runs = ", ".join(f"{r:.4f}" for r in row["runs"])
            seen = f"{row['samples_seen']:,}" if row.get("samples_seen") else "—"
            rows = f"{row['rows']:,}" if row.get("rows") else "—"
            balanced, worst = (
                f"{row[key]:.2%}" if row.get(key) is not None else "—"
                for key in ("balanced_accuracy", "worst_class_recall")
            )
            lines.append(
                f"| {variant} | {row['mean']:.2%} | {row['std'] * 100:.2f} pt | {runs} | {balanced} | {worst} | "
                f"{rows} | {seen} | {row['epochs']} |"
            )
        lines.append("")
    if report["gain"]:
        lines.append("![gain](gain.png)")
    for regime, points in report.get("curve", {}).items():
        budget = report.get("gain_budget", {}).get(regime)
        lines += [
            "",
            f"### How many synthetic rows: {regime}",
            "",
            f"Real + synthetic at the same budget ({budget:,} samples), the synthetic pool cut to the first K rows; "
            "every epoch takes one real rows' worth of the pool's next rows. Rows read: what the budget can draw.",
            "",
            "| synthetic rows available | rows read | mean | std | runs |",
            "|---|---|---|---|---|",
        ]
        for point in points:
            runs = ", ".join(f"{r:.4f}" for r in point["runs"])
            lines.append(
                f"| {point['rows_available']:,} | {point['rows_read']:,} | {point['mean']:.2%} | "
                f"{point['std'] * 100:.2f} pt | {runs} |"
            )
    if report.get("curve"):
        lines += ["", "![curve](curve.png)"]
    lines += ["", "## Targets", ""] + [
        f"- {'met' if ok else '**missed**'}: {name}" for name, ok in report["targets"].items()
    ]
    return "\n".join(lines) + "\n"
