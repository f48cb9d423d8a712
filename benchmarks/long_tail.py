"""The class-imbalanced (long-tail) regime, end to end at equal budgets: does a conditional GAN
trained on the long tail pay by writing what the rare classes lack?

    AUGMENT_DATA_ROOT=/path/to/data python benchmarks/long_tail.py [--tail 100%,100%,100%,100%,100%,2%,2%,2%,2%,2%]
        [--gan-epochs 10] [--epochs 4] [--seeds 3] [--work FOLDER]

The GAN, the judge and every classifier see the same long-tail real rows (`--real-per-class` with
one entry per class: the first rows of each class in file order). The generator then writes what
each class lacks against the largest (`generate --class-weights fill`), filtered by the long-tail
judge. Every variant trains on the same budget of samples seen (real only's epochs x whole batches
of the real rows), per seed:

    real only                        the rows as they are
    real, balanced loss              the practitioner's baseline: rows weighted by 1 / their class's share
    real, balanced loss + classic    + classic augmentation (affine + elastic, batched)
    real + fill                      + the synthetic rows that fill each class's deficit
    real + fill + classic            both
    real + 1/4 (1/16) fill, balanced loss   fewer synthetic rows (a balanced prefix of the fill), the baseline's loss

Prints test accuracy, balanced accuracy and worst-class recall (real MNIST test split; mean and
std over seeds) and writes them to WORK/long_tail.json as they come. The commands are the
CLI's, run as a user would; the classifiers go through `classifier_stage.run_many` (one Ray
Train worker group for all of them instead of ~25 s of start-up per run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.stages.classifier import train as classifier_stage
from augment.stages.classifier.config import ClassifierConfig  # noqa: E402
from augment.stages.synthetic.precision_probe import machine  # noqa: E402

VARIANTS = {
    "real only": dict(real_only=True),
    "real, balanced loss": dict(real_only=True, balanced_loss=True),
    "real, balanced loss + classic": dict(real_only=True, balanced_loss=True, classic_augment=True),
    "real + fill": dict(),
    "real + fill + classic": dict(classic_augment=True),
    # fewer synthetic rows, with the baseline's loss: a share of the fill (its ids are a balanced prefix)
    "real + 1/4 fill, balanced loss": dict(fill_share=1 / 4, balanced_loss=True),
    "real + 1/16 fill, balanced loss": dict(fill_share=1 / 16, balanced_loss=True),
}


def augment(*args) -> None:
    command = [sys.executable, "-m", "augment", *map(str, args)]
    print("$ augment " + " ".join(map(str, args)), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tail", default="100%,100%,100%,100%,100%,2%,2%,2%,2%,2%")
    parser.add_argument("--gan-epochs", type=int, default=10)
    parser.add_argument("--judge-epochs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=4, help="real only's epochs: the budget of every variant")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--min-confidence", type=float, default=0.5
    )  # the long-tail judge is unsure of its rare classes
    parser.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="generate's: another value writes its own fill/merged/runs folders (fill-t2, …), the "
        "real-only variants are shared",
    )
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    if not os.environ.get("AUGMENT_DATA_ROOT"):
        sys.exit("set AUGMENT_DATA_ROOT to a folder with MNIST/raw (the real files)")
    work = Path(args.work or tempfile.mkdtemp(prefix="long-tail-"))
    print(f"host: {machine()}; work folder {work}; tail {args.tail}", flush=True)
    started = time.perf_counter()
    augment("data", "export", "--out", work / "real", "--offline")
    augment("train", "--out", work / "gan", "--real-per-class", args.tail, "--epochs", args.gan_epochs, "--offline")
    augment("judge", "--out", work / "judge", "--real-per-class", args.tail, "--epochs", args.judge_epochs, "--offline")
    tag = "" if args.temperature == 1.0 else f"-t{args.temperature:g}"
    fill, merged = work / f"fill{tag}", work / f"merged{tag}"
    augment(
        "generate",
        "--checkpoint",
        work / "gan",
        "--judge",
        work / "judge",
        "--class-weights",
        "fill",
        "--min-confidence",
        args.min_confidence,
        "--temperature",
        args.temperature,
        "--out",
        fill,
    )
    augment("merge", "--real", work / "real", "--synthetic", fill, "--real-per-class", args.tail, "--out", merged)

    real_rows = json.loads((merged / "_manifest.json").read_text())["rows"]["real"]
    batch = ClassifierConfig.batch_size
    budget = args.epochs * (real_rows // batch * batch)
    filled_rows = json.loads((fill / "_manifest.json").read_text())["rows"]
    cfgs, labels = [], []
    for seed in range(args.seeds):
        for variant, options in VARIANTS.items():
            options = dict(options)
            if "fill_share" in options:
                options["max_synthetic"] = round(options.pop("fill_share") * filled_rows)
            name = f"{variant.replace(' ', '_').replace(',', '').replace('+', 'and').replace('/', '-in-')}/seed{seed}"
            # real-only runs read no fill row: one set of them serves every temperature
            shared = options.get("real_only") and (work / "merged" / "_manifest.json").exists()
            data, runs = (work / "merged", work / "runs") if shared else (merged, work / f"runs{tag}")
            cfgs.append(
                ClassifierConfig(
                    data=str(data),
                    out=str(runs / name),
                    epochs=args.epochs,
                    samples_seen=budget,
                    seed=seed,
                    workers=1,
                    download=False,
                    **options,
                )
            )
            labels.append(f"{variant} seed {seed}")
    print(f"budget: {budget:,} samples seen per classifier ({real_rows:,} real rows)", flush=True)
    results = classifier_stage.run_many(cfgs, labels)

    table = {}
    for variant in VARIANTS:
        runs = [r for r, label in zip(results, labels) if label.rsplit(" seed ", 1)[0] == variant]
        table[variant] = {
            key: {
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "runs": values,
            }
            for key, values in (
                ("accuracy", [r.test_accuracy for r in runs]),
                ("balanced_accuracy", [r.balanced_accuracy for r in runs]),
                ("worst_class_recall", [r.worst_class_recall for r in runs]),
            )
        }
        table[variant]["rows"], table[variant]["samples_seen"] = runs[0].rows, runs[0].samples_seen
    filled = json.loads((fill / "_manifest.json").read_text())
    out = {
        "host": machine(),
        "tail": args.tail,
        "gan_epochs": args.gan_epochs,
        "temperature": args.temperature,
        "budget": budget,
        "real_rows": real_rows,
        "synthetic_rows_per_label": filled["rows_per_label"],
        "seeds": args.seeds,
        "table": table,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (work / f"long_tail{tag}.json").write_text(json.dumps(out, indent=1))
    print("\n| variant | rows | accuracy | balanced accuracy | worst-class recall |\n|---|---|---|---|---|")
    for variant, row in table.items():
        cells = [
            f"{row[k]['mean']:.2%} ± {row[k]['std'] * 100:.2f}"
            for k in ("accuracy", "balanced_accuracy", "worst_class_recall")
        ]
        print(f"| {variant} | {row['rows']:,} | " + " | ".join(cells) + " |")
    best_plain = max(
        ("real only", "real, balanced loss", "real, balanced loss + classic"),
        key=lambda v: table[v]["balanced_accuracy"]["mean"],
    )
    best_fill = max((v for v in VARIANTS if "fill" in v), key=lambda v: table[v]["balanced_accuracy"]["mean"])
    for key, target in (("worst_class_recall", 0.02), ("balanced_accuracy", 0.005)):
        gain = table[best_fill][key]["mean"] - table[best_plain][key]["mean"]
        print(f"{key}: {best_fill} - {best_plain} = {gain * 100:+.2f} points (target >= +{target * 100:.1f})")
    print(f"whole experiment {time.perf_counter() - started:.0f} s; results in {work / f'long_tail{tag}.json'}")


if __name__ == "__main__":
    main()
