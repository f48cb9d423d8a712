"""The `report/` stage: evaluate(cfg) measures what the synthetic digits are worth.

REPORT/report.json + report.md + PNG plots:
  * label fidelity, mean judge confidence and the judge's confusion matrix on synthetic digits;
  * Fréchet distance in judge-feature space, synthetic vs real test, with real train vs real test
    as the floor, overall and per class (quality.py);
  * CAS (classification accuracy score): a classifier trained on synthetic digits only, tested on
    the real test split;
  * the augmentation gain table: real only / real + synthetic / real + classic augmentation /
    real + classic + synthetic, same epochs, over `seeds` seeds, for each merged dataset given
    (full data, and a low-data merge made with --real-per-class).
Every classifier is a `retrain()` run under REPORT/runs/, so an interrupted evaluation continues
where it stopped and a rerun with the same settings skips finished runs.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from augment import data, manifest, report_plots, storage
from augment.config import GAIN_VARIANTS as VARIANTS, EvaluateConfig, RetrainConfig
from augment.datasets import open_dataset
from augment.errors import AugmentError, require
from augment.models.classifier_file import load_classifier
from augment.models.generator_file import load_generator
from augment.parts import PartPlan
from augment.quality import confusion, fidelity, frechet_distance, per_class_frechet, predictions
from augment.retrain import retrain
from augment.sampling import class_boundaries
from augment.synthesis import PartMaker

KIND = "report"
RUNS = "runs"
PLOTS = ("confusion.png", "samples.png", "gain.png")
OWNED = ("report.json", "report.md", RUNS, *PLOTS)
CAS_ANCHOR = 0.971  # a labeled DCGAN's CAS on MNIST in the literature


@dataclass(frozen=True)
class EvaluateResult:
    out: str
    report: dict
    seconds: float
    skipped: bool


def validate(cfg: EvaluateConfig) -> None:
    data.check_dataset(cfg.dataset)
    require(cfg.samples >= 20, f"--samples must be at least 20 (got {cfg.samples})")
    require(cfg.seeds >= 1, f"--seeds must be at least 1 (got {cfg.seeds})")
    require(cfg.epochs >= 1 and cfg.low_data_epochs >= 1, "--epochs and --low-data-epochs must be at least 1")
    require(cfg.cas_rows >= 1, f"--cas-rows must be at least 1 (got {cfg.cas_rows})")
    require(cfg.workers >= 1, f"--workers must be at least 1 (got {cfg.workers})")


def evaluate(cfg: EvaluateConfig) -> EvaluateResult:
    started = time.perf_counter()
    validate(cfg)
    _, generator_info = load_generator(cfg.checkpoint)
    judge_uri = cfg.judge or storage.join(cfg.checkpoint, "judge")
    judge, judge_info = load_classifier(judge_uri)
    inputs = {name: open_dataset(uri, what=f"--{name.replace('_', '-')}") for name, uri in
              (("synthetic", cfg.synthetic), ("merged", cfg.merged), ("low_data_merged", cfg.low_data_merged)) if uri}
    if "synthetic" in inputs and inputs["synthetic"].stage != "synthetic":
        raise AugmentError(f"--synthetic {cfg.synthetic} is a {inputs['synthetic'].stage} output, not a generation output")
    identity = {
        "generator_sha256": generator_info["sha256"], "judge_sha256": judge_info["sha256"],
        **{name: dataset.manifest["config_digest"] for name, dataset in inputs.items()},
        **{key: getattr(cfg, key) for key in ("dataset", "samples", "seed", "seeds", "epochs", "low_data_epochs", "cas_rows")},
    }
    fs, out = storage.resolve(cfg.out)
    done = manifest.finished_output(fs, out, uri=cfg.out, kind=KIND, identity=identity, owned=OWNED, overwrite=cfg.overwrite)
    if done:
        report = json.loads(storage.read_bytes(fs, storage.join(out, "report.json")))
        return EvaluateResult(cfg.out, report, 0.0, skipped=True)
    storage.check_writable(cfg.out)
    if cfg.overwrite:
        manifest.clear_output(fs, out, OWNED if cfg.runs is None else [name for name in OWNED if name != RUNS])
    storage.delete(fs, storage.join(out, manifest.MANIFEST_NAME))

    train = data.load_split(cfg.dataset, "train", cfg.data_root, download=cfg.download)
    test = data.load_split(cfg.dataset, "test", cfg.data_root, download=cfg.download)
    images, labels, confidence, origin = _synthetic_samples(cfg, judge_uri, generator_info)
    predicted = predictions(judge, images)
    matrix = confusion(predicted, labels)
    floor_rows = data.first_per_class(train.labels, max(2, len(labels) // 10))
    report = {
        "generator": {"uri": cfg.checkpoint, "sha256": generator_info["sha256"], "epochs": generator_info.get("epochs")},
        "judge": {"uri": judge_uri, "sha256": judge_info["sha256"], "test_accuracy": judge_info.get("test_accuracy")},
        "samples": {"rows": int(len(labels)), "from": origin},
        "label_fidelity": fidelity(predicted, labels),
        "mean_confidence": float(confidence.mean()),
        "frechet_distance": {
            "feature_space": f"judge penultimate layer ({judge.spec.hidden} features)",
            "synthetic_vs_real_test": frechet_distance(judge, test.images, images),
            "real_train_vs_real_test": frechet_distance(judge, test.images, train.images[floor_rows]),
            "per_class": per_class_frechet(judge, test.images, test.labels, images, labels),
        },
        "confusion": matrix.tolist(),
    }
    runs = classifier_runs(cfg)
    report["cas"] = _cas(cfg, runs)
    report["gain"] = _gain_table(cfg, runs)
    report["targets"] = _targets(report)
    report["elapsed_s"] = round(time.perf_counter() - started, 3)

    storage.write_bytes_atomic(fs, storage.join(out, "confusion.png"), report_plots.confusion_png(matrix))
    storage.write_bytes_atomic(fs, storage.join(out, "samples.png"), report_plots.samples_png(images, labels, confidence))
    written = ["report.json", "report.md", "confusion.png", "samples.png"]
    if report["gain"]:
        storage.write_bytes_atomic(fs, storage.join(out, "gain.png"), report_plots.gain_png(report["gain"]))
        written.append("gain.png")
    storage.write_bytes_atomic(fs, storage.join(out, "report.json"), json.dumps(report, indent=2, sort_keys=True).encode())
    storage.write_bytes_atomic(fs, storage.join(out, "report.md"), report_markdown(report).encode())
    manifest.write_manifest(
        fs, out, stage=KIND, config=identity, files=[manifest.file_entry(fs, out, name, rows=0) for name in written],
        elapsed_s=report["elapsed_s"],
    )
    return EvaluateResult(cfg.out, report, report["elapsed_s"], skipped=False)


def _synthetic_samples(cfg: EvaluateConfig, judge_uri: str, generator_info: dict):
    """(images, labels, confidence, where from): ids 0..samples-1, a nearly class-balanced prefix."""
    if cfg.synthetic:
        fs, folder = storage.resolve(cfg.synthetic)
        table = pq.read_table(folder, filesystem=fs, columns=["id", "image", "label", "confidence"], filters=[("id", "<", cfg.samples)])
        table = table.sort_by("id")
        if table.num_rows < cfg.samples:
            raise AugmentError(f"--synthetic {cfg.synthetic} holds {table.num_rows} rows, fewer than --samples {cfg.samples}")
        images = table["image"].combine_chunks().to_numpy_ndarray()
        return images, table["label"].to_numpy().astype(np.int64), table["confidence"].to_numpy(), cfg.synthetic
    plan = PartPlan(
        checkpoint=cfg.checkpoint, judge=judge_uri, out=cfg.out, n=cfg.samples, seed=cfg.seed,
        boundaries=tuple(class_boundaries(generator_info["spec"]["num_classes"], None).tolist()),
        min_confidence=0.0, max_attempts=1, batch_size=512, metadata={},
    )
    images, labels, confidence, _ = PartMaker(plan).make_rows(np.arange(cfg.samples))
    return images, labels, confidence, f"generated here from {cfg.checkpoint} (seed {cfg.seed})"


def run_name(regime: str, variant: str, seed: int) -> str:
    """Folder of one gain-table classifier, relative to the runs folder."""
    return f"{regime.replace(' ', '-')}/{variant.replace(' + ', '+').replace(' ', '-')}/seed{seed}"


def classifier_runs(cfg: EvaluateConfig) -> dict[str, RetrainConfig]:
    """Every classifier the report needs, by run name: "cas", then the gain table's runs.

    In the default runs folder (REPORT/runs) --overwrite replaces them with the report; runs in a
    folder given with `runs` belong to the caller (`augment run` trains them as its retrain stage)
    and are reused as they are.
    """
    def config(data_uri: str, name: str, epochs: int, seed: int, **options) -> RetrainConfig:
        return RetrainConfig(
            data=data_uri, out=storage.join(cfg.runs or storage.join(cfg.out, RUNS), name), dataset=cfg.dataset,
            data_root=cfg.data_root, download=cfg.download, epochs=epochs, workers=cfg.workers, gpu=cfg.gpu,
            seed=seed, address=cfg.address, overwrite=cfg.overwrite and cfg.runs is None, **options,
        )

    runs = {}
    if cfg.synthetic:
        runs["cas"] = config(cfg.synthetic, "cas", cfg.epochs, cfg.seed, synthetic_only=True, max_synthetic=cfg.cas_rows)
    for regime, merged, epochs in _regimes(cfg):
        for variant, options in VARIANTS.items():
            for seed in range(cfg.seeds):
                runs[run_name(regime, variant, seed)] = config(merged, run_name(regime, variant, seed), epochs, seed, **options)
    return runs


def _regimes(cfg: EvaluateConfig) -> list[tuple[str, str, int]]:
    candidates = [("full data", cfg.merged, cfg.epochs), ("low data", cfg.low_data_merged, cfg.low_data_epochs)]
    return [(regime, merged, epochs) for regime, merged, epochs in candidates if merged]


def _cas(cfg: EvaluateConfig, runs: dict[str, RetrainConfig]) -> dict:
    if "cas" not in runs:
        return {"skipped": "no --synthetic output given: CAS trains on generated rows"}
    result = retrain(runs["cas"])
    return {"accuracy": result.test_accuracy, "rows": result.rows, "epochs": result.epochs, "anchor": CAS_ANCHOR}


def _gain_table(cfg: EvaluateConfig, runs: dict[str, RetrainConfig]) -> dict:
    table = {}
    for regime, _, epochs in _regimes(cfg):
        # Seed by seed, every variant: an evaluation stopped part-way leaves whole seeds, which a
        # rerun with fewer --seeds on the same --out reuses as they are.
        accuracy = {(variant, seed): retrain(runs[run_name(regime, variant, seed)]).test_accuracy
                    for seed in range(cfg.seeds) for variant in VARIANTS}
        table[regime] = {}
        for variant in VARIANTS:
            accuracies = [accuracy[variant, seed] for seed in range(cfg.seeds)]
            table[regime][variant] = {
                "mean": statistics.fmean(accuracies), "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
                "runs": accuracies, "epochs": epochs,
            }
    return table


def _targets(report: dict) -> dict:
    targets = {"label fidelity >= 99%": report["label_fidelity"]["overall"] >= 0.99}
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


def report_markdown(report: dict) -> str:
    fid = report["frechet_distance"]
    fidelity_row = " | ".join(f"{report['label_fidelity']['per_class'].get(str(c), report['label_fidelity']['per_class'].get(c, float('nan'))):.3f}" for c in range(10))
    fid_row = " | ".join(f"{fid['per_class'].get(str(c), fid['per_class'].get(c, float('nan'))):.2f}" for c in range(10))
    lines = [
        "# augment report", "",
        f"Generator `{report['generator']['sha256'][:16]}…` ({report['generator']['epochs']} epochs); judge "
        f"`{report['judge']['sha256'][:16]}…` (real test accuracy {report['judge']['test_accuracy']}).",
        f"{report['samples']['rows']:,} synthetic digits from {report['samples']['from']}.", "",
        "## Label fidelity and Fréchet distance", "",
        f"- Label fidelity (judge agrees with the conditioning label): **{report['label_fidelity']['overall']:.2%}**; "
        f"mean judge confidence {report['mean_confidence']:.3f}",
        f"- Fréchet distance in {fid['feature_space']}: synthetic vs real test **{fid['synthetic_vs_real_test']:.2f}**; "
        f"floor (real train vs real test) {fid['real_train_vs_real_test']:.2f}", "",
        "| class | " + " | ".join(map(str, range(10))) + " |", "|---" * 11 + "|",
        f"| fidelity | {fidelity_row} |", f"| Fréchet distance | {fid_row} |", "",
        "![confusion](confusion.png) ![samples](samples.png)", "",
        "## Classification accuracy score (train on synthetic, test on real)", "",
    ]
    cas = report["cas"]
    if "accuracy" in cas:
        lines.append(f"**{cas['accuracy']:.2%}** on the real test split after {cas['epochs']} epochs over {cas['rows']:,} "
                     f"synthetic digits (literature anchor for a labeled DCGAN: {cas['anchor']:.1%}).")
    else:
        lines.append(f"Not measured: {cas['skipped']}.")
    lines += ["", "## Augmentation gain (real test accuracy)", ""]
    if not report["gain"]:
        lines.append("Not measured: no merged dataset given.")
    for regime, variants in report["gain"].items():
        lines += [f"### {regime}", "", "| variant | mean | std | runs | epochs |", "|---|---|---|---|---|"]
        for variant, row in variants.items():
            runs = ", ".join(f"{r:.4f}" for r in row["runs"])
            lines.append(f"| {variant} | {row['mean']:.2%} | {row['std'] * 100:.2f} pt | {runs} | {row['epochs']} |")
        lines.append("")
    if report["gain"]:
        lines.append("![gain](gain.png)")
    lines += ["", "## Targets", ""] + [f"- {'met' if ok else '**missed**'}: {name}" for name, ok in report["targets"].items()]
    return "\n".join(lines) + "\n"
