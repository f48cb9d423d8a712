"""The report's tables from the classifier runs: CAS, the gain table, the rows curve, the targets."""

from __future__ import annotations

import statistics

from augment.stages.classifier.config import ClassifierRunsConfig
from augment.stages.classifier.plan import GAIN_VARIANTS as VARIANTS
from augment.stages.classifier.plan import curve_points, gain_budget, regimes, run_name
from augment.stages.classifier.train import ClassifierResult
from augment.stages.report.markdown import judged

CAS_ANCHOR = 0.971  # a labeled DCGAN's CAS on MNIST in the literature


def cas(trained: dict[str, ClassifierResult]) -> dict:
    if "cas" not in trained:
        return {"skipped": "no classifier runs with a --synthetic output: CAS trains on generated rows"}
    result = trained["cas"]
    return {
        "accuracy": result.test_accuracy,
        "rows": result.rows,
        "epochs": result.epochs,
        "anchor": CAS_ANCHOR,
        **convergence([result]),
    }


def gain_table(plan: ClassifierRunsConfig, trained: dict[str, ClassifierResult], test_rows: int = 10_000) -> dict:
    table = {}
    for regime, _, _ in regimes(plan):
        table[regime] = {}
        for variant in VARIANTS:
            results = [trained[run_name(regime, variant, seed)] for seed in range(plan.seeds)]
            table[regime][variant] = {
                **summary(results),
                # equal budgets: the samples every run saw (steps x batch), and the passes that took over its rows
                "epochs": results[0].epochs,
                "samples_seen": results[0].samples_seen,
                "rows": results[0].rows,
            }
        for variant, row in table[regime].items():
            if variant != BASELINE:
                baseline = table[regime][BASELINE]["runs"]
                row["paired_vs_baseline"] = paired_difference(row["runs"], baseline, test_rows)
    return table


# What every variant is compared with: the recipe a practitioner uses without a generator.
BASELINE = "real + classic"


def paired_difference(runs: list[float], baseline: list[float], test_rows: int) -> dict:
    """Seed by seed (the same seed: the same initial weights), the variant's accuracy minus the
    baseline's: the mean, its standard error over seeds (None with one seed: unknown), and the
    test errors of each as counts."""
    differences = [a - b for a, b in zip(runs, baseline)]
    error = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else None
    return {
        "mean_difference": statistics.fmean(differences),
        "standard_error": error,
        "errors": [round((1 - a) * test_rows) for a in runs],  # of the test split's rows
        "baseline_errors": [round((1 - b) * test_rows) for b in baseline],
    }


def curve(plan: ClassifierRunsConfig, trained: dict[str, ClassifierResult]) -> dict:
    """regime -> one row per --curve point: real + synthetic accuracy with that many synthetic rows available."""
    curve = {}
    for regime, merged, epochs in regimes(plan):
        points = curve_points(plan, merged, epochs)
        if points:
            curve[regime] = [
                {
                    "rows_available": point.rows_available,
                    "rows_read": point.rows_read,
                    **summary([trained[point.run_name(regime, seed)] for seed in range(plan.seeds)]),
                }
                for point in points
            ]
    return curve


def summary(results: list[ClassifierResult]) -> dict:
    """Accuracy over seeds, and what a class-imbalanced comparison reads (None: runs trained
    before those were recorded)."""
    accuracies = [result.test_accuracy for result in results]
    return {
        "mean": statistics.fmean(accuracies),
        "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "runs": accuracies,
        "balanced_accuracy": mean_of(result.balanced_accuracy for result in results),
        "worst_class_recall": mean_of(result.worst_class_recall for result in results),
        **convergence(results),
    }


def convergence(results: list[ClassifierResult]) -> dict:
    """Per run: the best epoch on the held-out rows, and whether the run stopped by patience
    (converged) or at its cap; {} for runs trained without held-out rows."""
    if any(result.best_epoch is None for result in results):
        return {}
    return {
        "best_epochs": [result.best_epoch for result in results],
        "validation_accuracy": [result.validation_accuracy for result in results],
        "converged": [bool(result.converged) for result in results],
    }


def mean_of(values) -> float | None:
    values = list(values)
    return None if any(value is None for value in values) else statistics.fmean(values)


def gain_budgets(plan: ClassifierRunsConfig) -> dict:
    """Samples seen by every variant of each regime: the comparison holds this fixed."""
    return {regime: gain_budget(plan, merged, epochs) for regime, merged, epochs in regimes(plan)}


def targets(report: dict) -> dict:
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
    if "full data" in gain and judged(list(gain["full data"].values())):
        full = gain["full data"]
        targets["augmented >= real only (full data)"] = full["real + synthetic"]["mean"] >= full["real only"]["mean"]
    if "low data" in gain and judged(list(gain["low data"].values())):
        low = gain["low data"]
        best_plain = max(low["real only"]["mean"], low["real + classic"]["mean"])
        best_gan = max(low["real + synthetic"]["mean"], low["real + classic + synthetic"]["mean"])
        targets["low data: GAN gain >= +1 point over real only and classic"] = best_gan - best_plain >= 0.01
    return targets
