"""Classifiers trained to convergence (issue 40): where do real only and real + classic land when
each run holds out the real split's last 5,000 rows, exports its best epoch and stops after
--patience epochs without a better one, instead of stopping at a budget of ~4 epochs?

    AUGMENT_DATA_ROOT=DIR python benchmarks/converged_classifiers.py --work DIR \\
        [--variants real-only,real+classic] [--seeds 0,1] [--cap 30] [--patience 3] [--workers 1]

Exports the real MNIST split once (`augment data export`), then per variant and seed
`augment retrain --data WORK/real --real-only [--classic-augment] --validation-rows 5000
--patience P --epochs CAP --seed S`, timed. One JSON line per run, on stdout and appended to
WORK/results.jsonl as it finishes: epochs trained, best epoch, whether it converged, validation and
test accuracy (test scored once, on the best epoch), test errors, minutes. Then, per seed shared by
both variants, the paired difference.
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

VARIANTS = {"real-only": [], "real+classic": ["--classic-augment"]}


def augment(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "augment", *args], check=True)


def host() -> str:
    models = (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line)
    name = next(models, platform.processor())
    return f"{name}, {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--variants", default="real-only,real+classic")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--cap", type=int, default=30)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    real = work / "real"
    augment("data", "export", "--out", str(real), "--offline")
    results = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for variant in args.variants.split(","):
            out = work / f"{variant}-seed{seed}"
            started = time.perf_counter()
            augment(
                "retrain", "--data", str(real), "--out", str(out), "--real-only", *VARIANTS[variant],
                "--validation-rows", "5000", "--patience", str(args.patience), "--epochs", str(args.cap),
                "--seed", str(seed), "--workers", str(args.workers), "--offline",
            )  # fmt: skip
            done = json.loads((out / "_manifest.json").read_text())
            row = {
                "host": host(),
                "variant": variant,
                "seed": seed,
                "cap": args.cap,
                "patience": args.patience,
                "epochs": done["epochs"],
                "best_epoch": done["best_epoch"],
                "converged": done["converged"],
                "validation_accuracy": done["validation_accuracy"],
                "test_accuracy": done["test_accuracy"],
                "test_errors": round((1 - done["test_accuracy"]) * 10_000),
                "minutes": round((time.perf_counter() - started) / 60, 1),
            }
            results[variant, seed] = row
            print(json.dumps(row), flush=True)
            with open(work / "results.jsonl", "a") as log:
                log.write(json.dumps(row) + "\n")
    pairs = [s for (v, s) in results if v == "real+classic" and ("real-only", s) in results]
    for seed in pairs:
        difference = results["real+classic", seed]["test_accuracy"] - results["real-only", seed]["test_accuracy"]
        print(f"seed {seed}: real + classic - real only = {difference * 100:+.2f} pt", flush=True)


if __name__ == "__main__":
    main()
