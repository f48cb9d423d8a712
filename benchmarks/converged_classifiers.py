"""Classifiers trained to convergence, and issue 40's arms: what are the synthetic digits worth
against real + classic when every run holds out the real split's last 5,000 rows, exports its best
epoch and stops after --patience epochs without a better one?

    AUGMENT_DATA_ROOT=DIR python benchmarks/converged_classifiers.py --work DIR \\
        [--data RUN/merged --judge RUN/judge] [--arms real-only,real+classic,syn25,...] \\
        [--seeds 0,1] [--cap 30] [--patience 3] [--workers 1] [--retrain-options "--lr-decay 0.85"] [--real-rows 55000]
        [--baseline real+classic] [--metric test_accuracy|balanced_accuracy]

Without --data: the real MNIST split, exported once (`augment data export`); arms with synthetic
rows need --data (a merged dataset) and the soft-target arms --judge. Per arm and seed (seeds are
paired: the same seed, the same initial weights) `augment retrain --validation-rows 5000 --patience
P --epochs CAP --seed S` with the arm's options (ARMS below); `syn25-finetune` fine-tunes the best
epoch of `syn25`'s run of the same seed (trained first if missing) on the real rows (real + classic,
a tenth of the peak learning rate, the same patience). One JSON line per run, on stdout and
appended to WORK/results.jsonl as it finishes: epochs trained, best epoch, whether it converged, validation and
test accuracy (test scored once, on the best epoch), test errors, balanced accuracy, worst-class
recall, minutes. Then each arm's paired difference against --baseline (real + classic; on the long
tail real + classic with the class-balanced loss) in --metric over the seeds both have: mean,
standard error (and test errors).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.stages.report.tables import paired_difference  # noqa: E402

REAL_TRAINED = 55_000  # MNIST's train split less the 5,000 validation rows (--real-rows' default)
SHARES = (10, 25, 50)  # percent of every epoch's rows synthetic


def synthetic_share(percent: int) -> list[str]:
    """Options for `percent` of every epoch's rows synthetic (fresh ones each epoch): real rows fixed,
    so the count follows --real-rows (filled in by run_arm)."""
    return ["--synthetic-per-epoch", f"{{share{percent}}}"]


def synthetic_rows(real_rows: int) -> dict[str, str]:
    """Synthetic rows per epoch that make each share of an epoch over `real_rows` real rows."""
    return {f"share{percent}": str(round(real_rows * percent / (100 - percent))) for percent in SHARES}


CLASSIC = ["--classic-augment"]
ARMS = {
    "real-only": ["--real-only"],
    "real+classic": ["--real-only", *CLASSIC],
    "syn10": [*CLASSIC, *synthetic_share(10)],
    "syn25": [*CLASSIC, *synthetic_share(25)],
    "syn50": [*CLASSIC, *synthetic_share(50)],
    "syn25-weight0.5": [*CLASSIC, *synthetic_share(25), "--synthetic-weight", "0.5"],
    "syn25-soft": [*CLASSIC, *synthetic_share(25), "--teacher", "{judge}"],
    "distill": ["--real-only", *CLASSIC, "--teacher", "{judge}"],  # the judge's knowledge, no synthetic rows
    "syn25-finetune": [*CLASSIC, *synthetic_share(25)],  # then a real-only fine-tune (fine_tune below)
    # The long tail (a merged dataset of `generate --class-weights fill` rows): the baseline is the
    # practitioner's class-balanced loss; `fill` trains on every fill row each epoch (the classes
    # balanced by the rows themselves), `fill-balanced` keeps the balanced loss on top.
    "real+classic-balanced": ["--real-only", *CLASSIC, "--balanced-loss"],
    "fill": [*CLASSIC],
    "fill-balanced": [*CLASSIC, "--balanced-loss"],
    # a tenth of every epoch's rows from the fill (fresh ones each epoch), the rest real, balanced loss:
    # all of the fill made the rare classes 98% synthetic, and lost
    "fill10-balanced": [*CLASSIC, "--balanced-loss", *synthetic_share(10)],
}
METRICS = ("test_accuracy", "balanced_accuracy")


def augment(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "augment", *args], check=True)


def host() -> str:
    models = (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line)
    name = next(models, platform.processor())
    return f"{name}, {os.cpu_count()} CPUs"


def retrain(data: Path, out: Path, options: list[str], seed: int, args) -> dict:
    augment(
        "retrain", "--data", str(data), "--out", str(out), *options, "--validation-rows", "5000",
        "--patience", str(args.patience), "--epochs", str(args.cap), "--seed", str(seed),
        "--workers", str(args.workers), *args.retrain_options.split(), "--offline",
    )  # fmt: skip
    return json.loads((out / "_manifest.json").read_text())


def fine_tune(data: Path, start: Path, seed: int, args) -> dict:
    """The arm's best epoch fine-tuned on real rows with classic augmentation at a tenth of the peak rate."""
    lr = 3e-4 if "--lr" not in args.retrain_options else None
    options = ["--real-only", *CLASSIC, "--init-from", str(start), *(["--lr", str(lr)] if lr else [])]
    return retrain(data, start.with_name(start.name + "-finetuned"), options, seed, args)


def run_arm(arm: str, seed: int, data: Path, args) -> dict:
    # A fine-tune arm starts from its base arm's run of the same seed: the same folder, so a base
    # already trained is skipped (`augment retrain` keeps a finished run), not trained again.
    out = args.work / f"{arm.removesuffix('-finetune')}-seed{seed}"
    started = time.perf_counter()
    options = [option.format(judge=args.judge, **synthetic_rows(args.real_rows)) for option in ARMS[arm]]
    done = retrain(data, out, options, seed, args)
    if arm.endswith("-finetune"):
        done = fine_tune(data, out, seed, args)
    return {
        "host": host(),
        "arm": arm,
        "seed": seed,
        "cap": args.cap,
        "patience": args.patience,
        "retrain_options": args.retrain_options,
        "epochs": done["epochs"],
        "best_epoch": done["best_epoch"],
        "converged": done["converged"],
        "validation_accuracy": done["validation_accuracy"],
        "test_accuracy": done["test_accuracy"],
        "test_errors": round((1 - done["test_accuracy"]) * 10_000),
        "balanced_accuracy": done["balanced_accuracy"],
        "worst_class_recall": done["worst_class_recall"],
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--data", type=Path, help="a merged dataset (default: the real split, exported)")
    parser.add_argument("--judge", type=Path, help="the teacher of the soft-target arms")
    parser.add_argument("--arms", default="real-only,real+classic")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--cap", type=int, default=30)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--real-rows",
        type=int,
        default=REAL_TRAINED,
        help="real rows an epoch trains on, which the synthetic shares are counted against (1000 for a "
        "--real-per-class 100 merged dataset)",
    )
    parser.add_argument("--retrain-options", default="", help="more `augment retrain` options for every run")
    parser.add_argument("--baseline", default="real+classic", help="the arm every other is paired against")
    parser.add_argument("--metric", default="test_accuracy", choices=METRICS, help="what the pairs compare")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.data
    if data is None:
        data = args.work / "real"
        augment("data", "export", "--out", str(data), "--offline")
    results = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for arm in args.arms.split(","):
            row = run_arm(arm, seed, data, args)
            results[arm, seed] = row
            print(json.dumps(row), flush=True)
            with open(args.work / "results.jsonl", "a") as log:
                log.write(json.dumps(row) + "\n")
    summarize(results, args.baseline, args.metric)


def summarize(results: dict, baseline_arm: str, metric: str) -> None:
    """Each arm's paired difference in `metric` against the baseline arm, over the seeds both have."""
    for arm in dict.fromkeys(a for a, _ in results if a != baseline_arm):
        seeds = sorted(s for a, s in results if a == arm and (baseline_arm, s) in results)
        if seeds:
            runs, baseline = ([results[name, s][metric] for s in seeds] for name in (arm, baseline_arm))
            pair = paired_difference(runs, baseline, 10_000)
            error = "unknown (1 seed)" if pair["standard_error"] is None else f"{pair['standard_error'] * 100:.2f} pt"
            counts = f", test errors {pair['errors']} vs {pair['baseline_errors']}" if metric == "test_accuracy" else ""
            print(f"{arm} - {baseline_arm} ({metric}): {pair['mean_difference'] * 100:+.2f} pt, "
                  f"standard error {error}{counts} (seeds {seeds})", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
