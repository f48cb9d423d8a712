"""The evaluation report: every field present, plots written, runs resumable, bad input refused."""

from __future__ import annotations

import hashlib
import json
import types

import numpy as np
import pytest
import torch

from augment.models.classifier import ClassifierSpec, DigitClassifier
from augment.models.classifier_file import export_classifier, load_classifier
from augment.stages.classifier import runs as runs_stage
from augment.stages.classifier.config import ClassifierRunsConfig
from augment.stages.classifier.plan import GAIN_VARIANTS as VARIANTS
from augment.stages.classifier.plan import classifier_runs, run_name
from augment.stages.merged import merge as merged_stage
from augment.stages.merged.config import MergedConfig
from augment.stages.report import evaluate as evaluate_module
from augment.stages.report import evaluate as report_stage
from augment.stages.report import markdown as markdown_module
from augment.stages.report import tables
from augment.stages.report.config import ReportConfig
from augment.stages.report.markdown import report_markdown
from augment.stages.report.quality import confusion, fidelity, predictions
from augment.stages.report.tables import targets as _targets
from augment.stages.synthetic import generate as synthetic_stage
from augment.stages.synthetic.config import SyntheticConfig
from tests.conftest import assert_one_line_error
from tests.fixtures import tiny_generation, tiny_report


@pytest.fixture(scope="module")
def inputs(ray_local, tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate-inputs")
    tiny, real, gan, judge, syn = tiny_generation(root, n=600, rows_per_file=262_144)
    merged_stage.run(MergedConfig(real=str(real), synthetic=str(syn), out=str(root / "merged"), max_synthetic=200))
    return tiny, gan, judge, root


def classifiers_then_report(out, inputs=None, **options) -> tuple[ReportConfig, object]:
    """`augment classifiers` into OUT-classifiers, then `augment evaluate --classifiers` on it, each
    given the options it declares (the stage-by-stage path); with `inputs`, on the fixture's models
    and tiny dataset, offline."""
    if inputs is not None:
        tiny, gan, judge, _ = inputs
        options = {
            "checkpoint": str(gan),
            "judge": str(judge),
            "data_root": str(tiny.root),
            "download": False,
            **options,
        }
    runs = {name: v for name, v in options.items() if name in ClassifierRunsConfig.__dataclass_fields__}
    classifiers = out.parent / f"{out.name}-classifiers"
    runs_stage.run(ClassifierRunsConfig(out=str(classifiers), **runs))
    report = {name: v for name, v in options.items() if name in ReportConfig.__dataclass_fields__}
    cfg = ReportConfig(out=str(out), classifiers=str(classifiers), **report)
    return cfg, report_stage.run(cfg)


def test_report_has_every_field_and_plot(inputs, tmp_path):
    """`augment classifiers` (CAS only: no merged dataset) then `augment evaluate --classifiers`; the
    gain table's runs are covered by the `augment run` test."""
    tiny, gan, judge, root = inputs
    out = tmp_path / "report"
    cfg, result = classifiers_then_report(
        out,
        inputs,
        synthetic=str(root / "syn"),
        samples=200,
        seeds=1,
        epochs=1,
        cas_rows=300,
    )
    report = result.report

    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["samples"]["rows"] == 200
    assert set(on_disk) >= {
        "generator",
        "judge",
        "samples",
        "label_fidelity",
        "mean_confidence",
        "frechet_distance",
        "confusion",
        "cas",
        "gain",
        "targets",
    }
    assert 0.0 <= report["label_fidelity"]["overall"] <= 1.0 and len(report["label_fidelity"]["per_class"]) == 10
    fid = report["frechet_distance"]
    assert fid["synthetic_vs_real_test"] > 0 and fid["real_train_vs_real_test"] >= 0 and len(fid["per_class"]) == 10
    per_class = np.array(report["confusion"]).sum(axis=1)
    assert per_class.sum() == 200 and per_class.min() >= 18 and per_class.max() <= 22  # a near-balanced id prefix
    assert report["cas"]["rows"] == 300 and 0.0 <= report["cas"]["accuracy"] <= 1.0 and report["gain"] == {}
    assert report["filtered_at"] == 0.0 and "generator_fidelity" not in report  # unfiltered rows: one fidelity
    for name in ("report.md", "confusion.png", "samples.png", "_manifest.json"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "report.md").read_text().startswith("# augment report")
    assert not (out / "runs").exists()  # the report trains nothing: the CAS run is the classifiers stage's
    assert json.loads((tmp_path / "report-classifiers" / "_manifest.json").read_text())["runs"] == {"cas": "cas"}
    # The measured folder's dataset card now carries the figures, and its manifest the card's new digest.
    card_text = (root / "syn" / "README.md").read_text()
    assert (
        f"| label fidelity (judge agrees with the label) | {report['label_fidelity']['overall']:.2%} of 200 rows |"
        in card_text
    )
    assert f"{report['cas']['accuracy']:.2%} (300 rows" in card_text and "No report has measured" not in card_text
    listed = {f["path"]: f["sha256"] for f in json.loads((root / "syn" / "_manifest.json").read_text())["files"]}
    assert listed["README.md"] == hashlib.sha256(card_text.encode()).hexdigest()

    again = report_stage.run(cfg)
    assert again.skipped and again.report == on_disk


def test_rows_the_judge_filtered_also_report_the_generators_unfiltered_fidelity(inputs, tmp_path):
    tiny, gan, judge, root = inputs
    synthetic_stage.run(
        SyntheticConfig(checkpoint=str(gan), judge=str(judge), n=200, out=str(tmp_path / "syn"), min_confidence=0.05)
    )
    _, result = classifiers_then_report(
        tmp_path / "report",
        inputs,
        synthetic=str(tmp_path / "syn"),
        samples=100,
        epochs=1,
        cas_rows=200,
    )
    report = result.report
    assert report["filtered_at"] == 0.05 and 0.0 <= report["generator_fidelity"]["overall"] <= 1.0
    assert len(report["generator_fidelity"]["per_class"]) == 10
    assert "before its filter" in result.summary and result.summary.startswith("fidelity not measured independently")
    assert "kept by the same judge at confidence >= 0.05" in (tmp_path / "report" / "report.md").read_text()


def test_without_synthetic_samples_are_generated_here_and_cas_is_skipped(inputs, tmp_path):
    tiny, gan, judge, _ = inputs
    report = report_stage.run(tiny_report(gan, judge, tmp_path / "report", tiny.root)).report
    assert report["samples"]["from"].startswith("generated here") and report["samples"]["rows"] == 100
    assert "skipped" in report["cas"] and report["gain"] == {}


def test_targets_and_markdown_cover_both_regimes():
    # every run converged: stopped by patience on the held-out rows before its cap
    row = lambda mean: {
        "mean": mean, "std": 0.001, "runs": [mean], "epochs": 4, "best_epochs": [2], "converged": [True],
    }  # fmt: skip
    report = {
        **_minimal_report(),
        "cas": {"accuracy": 0.985, "rows": 60000, "epochs": 4, "anchor": 0.971},
        "gain": {
            "full data": {
                "real only": row(0.992),
                "real + synthetic": row(0.993),
                "real + classic": row(0.994),
                "real + classic + synthetic": row(0.995),
            },
            "low data": {
                "real only": row(0.90),
                "real + synthetic": row(0.93),
                "real + classic": row(0.925),
                "real + classic + synthetic": row(0.94),
            },
        },
    }
    targets = _targets(report)
    assert targets == {
        "label fidelity >= 99%": True,
        "CAS >= 98%": True,
        "augmented >= real only (full data)": True,
        "low data: GAN gain >= +1 point over real only and classic": True,
    }
    report["gain"]["low data"]["real + classic"] = row(0.935)
    assert not _targets(report)["low data: GAN gain >= +1 point over real only and classic"]
    report["targets"] = targets
    text = report_markdown(report)
    assert "| real + classic + synthetic | 94.00% |" in text and "### low data" in text and "98.50%" in text
    assert "| 94.00% | unknown (1 run) |" in text  # one seed: the spread is not known, not 0.00 pt
    assert "as far from real test digits as another sample of real digits does" in text
    assert "At --temperature 2 the latents are drawn 2x wider" in report_markdown({**report, "temperature": 2.0})
    assert "never saw the filter" not in text  # a report written before that check: nothing claimed
    report["independent_fidelity"] = {"overall": 0.9966, "per_seed": {"1": 0.9964, "2": 0.9968}, "worst_class": 0.9825}
    text = report_markdown(report)
    headline = "- **Label fidelity 99.66%**: classifiers trained on real digits only, which never saw the filter"
    assert headline in text and "(seed 1: 99.64%, seed 2: 99.68%; worst class 98.25%)" in text
    # it leads: before the filtering judge's own agreement, which is high by construction
    assert text.index(headline) < text.index("- The judge agrees with the conditioning label")
    report["independent_fidelity"] = {"skipped": "no classifier runs"}
    assert "never saw the filter: not measured (no classifier runs)" in report_markdown(report)
    assert "**Verdict (full data)**, every run converged: real + classic + synthetic +0.10 pt against" in text
    assert "| 1 of 1 (2) |" in text

    # One run still improving at its cap: no gain or loss is stated, and the report says what to raise.
    report["gain"]["full data"]["real + synthetic"] = {**row(0.993), "best_epochs": [4], "converged": [False]}
    text = report_markdown(report)
    assert "**No verdict (full data)**: 1 of 4 runs were still improving" in text and "at least 8" in text
    assert "augmented >= real only (full data)" not in _targets(report)
    # Runs trained without held-out rows: nothing says they converged.
    report["gain"]["full data"] = {name: {"mean": 0.99, "std": 0, "runs": [0.99], "epochs": 4} for name in VARIANTS}
    assert "trained without held-out rows" in report_markdown(report)
    assert "augmented >= real only (full data)" not in _targets(report)


def test_label_fidelity_is_checked_by_real_only_classifiers_of_other_seeds_than_the_judge(inputs, tmp_path):
    """The judge agrees with every row it kept; the report asks the gain table's full-data real-only
    classifiers of the other seeds, and says what it takes when there are none."""
    _, gan, _, root = inputs
    scorers = {}
    for seed in range(3):  # three differently initialised "real-only classifiers", one per seed
        torch.manual_seed(100 + seed)
        export_classifier(
            str(tmp_path / f"seed{seed}"), DigitClassifier(ClassifierSpec()).eval(), dataset="mnist", test_accuracy=0.0
        )
        scorers[seed] = str(tmp_path / f"seed{seed}")
    trained = {
        run_name("full data", "real only", seed): types.SimpleNamespace(out=out) for seed, out in scorers.items()
    }
    images = np.random.default_rng(0).integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    labels = np.arange(50) % 10
    agreement = {
        seed: fidelity(predictions(load_classifier(out)[0], images), labels)["overall"] for seed, out in scorers.items()
    }
    cfg = ClassifierRunsConfig(out=str(tmp_path / "r"), merged=str(root / "merged"), seeds=3)

    measured = evaluate_module._independent_fidelity(cfg, trained, images, labels, {"training": {"seed": 1}})
    assert measured["per_seed"] == {"0": agreement[0], "2": agreement[2]}  # seed 1 is the judge's: left out
    assert measured["overall"] == pytest.approx((agreement[0] + agreement[2]) / 2)
    one_seed = ClassifierRunsConfig(out=str(tmp_path / "r"), merged=str(root / "merged"), seeds=1)
    # With --seeds 1 the plan still trains a real-only run of seed 1: the default run measures it too.
    assert run_name("full data", "real only", 1) in classifier_runs(one_seed)
    scored = evaluate_module._independent_fidelity(one_seed, trained, images, labels, {"training": {"seed": 0}})
    assert scored["per_seed"] == {"1": agreement[1]}
    alone = evaluate_module._independent_fidelity(
        one_seed, {run_name("full data", "real only", 0): trained[run_name("full data", "real only", 0)]},
        images, labels, {"training": {"seed": 0}},
    )  # fmt: skip
    assert "no full-data real-only classifier of a seed other than the judge's (0)" in alone["skipped"]
    no_merged = evaluate_module._independent_fidelity(
        ClassifierRunsConfig(out=str(tmp_path / "r"), seeds=3),
        {},
        images,
        labels,
        {"training": {"seed": 0}},
    )
    assert "no full-data merged dataset" in no_merged["skipped"]

    # The target then reads the independent figure, not the filtering judge's 100%.
    report = {
        "label_fidelity": {"overall": 1.0},
        "filtered_at": 0.99,
        "cas": {},
        "gain": {},
        "independent_fidelity": {"overall": 0.985, "per_seed": {"1": 0.985}, "worst_class": 0.95},
    }
    assert _targets(report) == {"label fidelity >= 99% (real-only classifiers that never saw the filter)": False}
    report["independent_fidelity"] = alone
    assert _targets(report) == {"label fidelity >= 99% (by the judge that filtered the rows)": True}


def test_gain_runs_go_seed_by_seed_so_a_stopped_evaluation_leaves_whole_seeds(monkeypatch, tmp_path):
    trained = []

    def fake_run_many(cfgs, labels):
        trained.extend(cfg.out.split("/runs/")[1] for cfg in cfgs)
        assert labels == [f"classifier {cfg.out.split('/runs/')[1]}" for cfg in cfgs]
        return [
            types.SimpleNamespace(
                test_accuracy=0.9 + 0.01 * cfg.seed,
                epochs=cfg.epochs,
                samples_seen=0,
                rows=0,
                balanced_accuracy=None,
                worst_class_recall=None,
                best_epoch=None,
                validation_accuracy=None,
                converged=None,
                skipped=False,
            )
            for cfg in cfgs
        ]

    monkeypatch.setattr(runs_stage, "run_many", fake_run_many)
    monkeypatch.setattr(runs_stage, "_digest", lambda cfg, name: "digest")
    cfg = ClassifierRunsConfig(out=str(tmp_path / "runs"), merged="merged", seeds=2)
    table = tables.gain_table(cfg, runs_stage.run(cfg).runs)
    assert trained == [
        f"full-data/{variant}/seed{seed}"
        for seed in (0, 1)
        for variant in ("real-only", "real+synthetic", "real+classic", "real+classic+synthetic")
    ]
    assert table["full data"]["real + classic"]["runs"] == [0.9, 0.91]
    assert table["full data"]["real + classic"]["mean"] == pytest.approx(0.905)


def test_the_synthetic_rows_curve_trains_each_distinct_pool_once_at_the_gain_budget(inputs, monkeypatch, tmp_path):
    _, _, _, root = inputs  # merged: 400 real + 200 synthetic rows
    trained = {}

    def fake_run_many(cfgs, labels):
        for cfg in cfgs:
            trained[cfg.out.split("/runs/")[1]] = cfg
        return [
            types.SimpleNamespace(
                test_accuracy=0.5 + (cfg.max_synthetic or 1000) / 10_000 if not cfg.real_only else 0.5,
                epochs=cfg.epochs,
                samples_seen=cfg.samples_seen,
                rows=0,
                balanced_accuracy=0.5,
                worst_class_recall=0.4,
                best_epoch=None,
                validation_accuracy=None,
                converged=None,
                skipped=False,
            )
            for cfg in cfgs
        ]

    monkeypatch.setattr(runs_stage, "run_many", fake_run_many)
    cfg = ClassifierRunsConfig(
        out=str(tmp_path / "runs"), merged=str(root / "merged"), seeds=1, epochs=1, curve="1000,0,50,200",
        validation_rows=0,
    )  # fmt: skip
    assert cfg.curve == (0, 50, 200, 1000)
    runs = runs_stage.run(cfg).runs
    # budget 384 samples (one pass over the real rows' whole batches): one epoch of 400 real + 400 synthetic
    # rows reads at most the pool's 200, so 200 and 1,000 available are the gain table's real + synthetic run
    assert sorted(trained) == [
        "full-data/real+classic+synthetic/seed0",
        "full-data/real+classic/seed0",
        "full-data/real+synthetic/seed0",
        "full-data/real-only/seed0",
        "full-data/real-only/seed1",  # label fidelity's independent scorer (the judge's seed is 0)
        "full-data/synthetic-rows-50/seed0",
    ]
    assert trained["full-data/synthetic-rows-50/seed0"].max_synthetic == 50
    assert {trained[name].samples_seen for name in trained} == {384}
    assert (
        trained["full-data/real+synthetic/seed0"].synthetic_per_epoch == 400
        and trained["full-data/real-only/seed0"].synthetic_per_epoch is None
    )
    curve = tables.curve(cfg, runs)["full data"]
    assert [(p["rows_available"], p["rows_read"]) for p in curve] == [(0, 0), (50, 50), (200, 200), (1000, 200)]
    assert [p["mean"] for p in curve] == pytest.approx([0.5, 0.505, 0.6, 0.6])
    text = report_markdown({**_minimal_report(), "curve": {"full data": curve}, "gain_budget": {"full data": 384}})
    assert "| 1,000 | 200 | 60.00% |" in text and "How many synthetic rows: full data" in text
    assert evaluate_module.plots.curve_png({"full data": curve})[:4] == b"\x89PNG"
    # the x axis is labelled at the points, in the units a reader takes in at a glance
    assert [evaluate_module.plots._count(n) for n in (0, 50, 10_000, 250_000, 1_000_000, 12_345)] == [
        "0",
        "50",
        "10k",
        "250k",
        "1M",
        "12,345",
    ]


def _minimal_report() -> dict:
    return {
        "generator": {"sha256": "a" * 64, "epochs": 20},
        "judge": {"sha256": "b" * 64, "test_accuracy": 0.994},
        "samples": {"rows": 10, "from": "x"},
        "label_fidelity": fidelity(np.arange(10), np.arange(10)),
        "mean_confidence": 0.99,
        "confusion": confusion(np.arange(10), np.arange(10)).tolist(),
        "frechet_distance": {
            "feature_space": "judge",
            "synthetic_vs_real_test": 1.0,
            "real_train_vs_real_test": 0.1,
            "per_class": {c: 1.0 for c in range(10)},
        },
        "cas": {"skipped": "x"},
        "gain": {},
        "targets": {},
    }


BAD_OPTIONS = {  # (command, its bad options) -> what its one-line refusal says
    ("classifiers", "--curve 10,many"): "--curve takes row counts separated by commas",
    ("classifiers", "--curve -5"): "--curve takes row counts of 0 or more",
    ("classifiers", "--seeds 0"): "--seeds must be at least 1",
    ("evaluate", "--samples 5"): "--samples must be at least 20",
    ("evaluate", "--classifiers nowhere"): "--classifiers",
}


@pytest.mark.parametrize("command, options", BAD_OPTIONS)
def test_bad_input_is_one_line_and_writes_nothing(inputs, tmp_path, run_cli, command, options):
    tiny, gan, judge, root = inputs
    out = tmp_path / "report"
    inputs = ["--merged", root / "merged"] if command == "classifiers" else ["--checkpoint", gan, "--judge", judge]
    result = run_cli(command, *inputs, "--out", out, "--data-root", tiny.root, "--offline", *options.split())
    assert_one_line_error(result, BAD_OPTIONS[command, options])
    assert not out.exists()


def test_a_merged_dataset_as_synthetic_is_refused(inputs, tmp_path, run_cli):
    tiny, gan, judge, root = inputs
    out = tmp_path / "report"
    result = run_cli(
        "evaluate",
        "--checkpoint",
        gan,
        "--judge",
        judge,
        "--out",
        out,
        "--data-root",
        tiny.root,
        "--offline",
        "--synthetic",
        root / "merged",
    )
    assert_one_line_error(result, "is a merged output, not a generation output")
    assert not out.exists()


def test_each_variant_is_compared_with_real_plus_classic_seed_by_seed():
    pair = tables.paired_difference([0.9950, 0.9930, 0.9941], [0.9940, 0.9940, 0.9931], test_rows=10_000)
    assert pair["mean_difference"] == pytest.approx(0.0003333, abs=1e-6)  # (+10, -10, +10 errors) / 3
    assert pair["standard_error"] == pytest.approx(0.0006667, abs=1e-6)  # stdev 0.001155 / sqrt(3)
    assert pair["errors"] == [50, 70, 59] and pair["baseline_errors"] == [60, 60, 69]
    alone = tables.paired_difference([0.99], [0.98], test_rows=200)
    assert alone["standard_error"] is None and alone["errors"] == [2] and alone["baseline_errors"] == [4]
    variants = {"real + classic": {"runs": [0.994]}, "real + synthetic": {"paired_vs_baseline": pair}}
    lines = markdown_module._paired_lines(variants)
    assert "| real + synthetic | +0.03 pt | 0.07 pt | 50, 70, 59 (60, 60, 69) |" in lines
