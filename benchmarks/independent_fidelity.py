"""Label fidelity of an `augment run`'s synthetic rows by classifiers that did not filter them.

    python benchmarks/independent_fidelity.py RUN [--rows 100000] [--classifiers OTHER_RUN]

RUN: an `augment run --out` folder (synthetic/, judge/, classifier/full-data/…). The judge that
filtered the rows agrees with every kept row by construction; the report's real-only and
real + classic classifiers were trained on real digits alone and never saw the filter, so their
agreement is an independent measure. Also what a stricter --min-confidence would keep, from the
rows' own `confidence` column: rows at or above each threshold and the independent agreement on
them (generating with that threshold draws rows distributed like this subset, class by class).
--classifiers: take the real-only and real + classic classifiers from another run's folder (e.g. one
evaluated with --seeds 3, so that seeds other than the judge's exist; they depend on real data only).
"""

import argparse
import glob
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from augment.models.classifier_file import load_classifier
from augment.stages.report.quality import fidelity, predictions

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("run")
parser.add_argument("--rows", type=int, default=100_000)
parser.add_argument("--classifiers", help="run folder whose classifier/ to score with (default: RUN)")
args = parser.parse_args()
run = Path(args.run)
first = pq.ParquetFile(sorted(glob.glob(str(run / "synthetic/train/*.parquet")))[0])
table = first.read(columns=["image", "label", "confidence"]).slice(0, args.rows)
images = table["image"].combine_chunks().to_numpy_ndarray().reshape(-1, 28, 28).astype(np.uint8)
labels, confidence = table["label"].to_numpy(), table["confidence"].to_numpy()


scorers = {"judge (filtered the rows)": run / "judge"}
for variant in ("real-only", "real+classic"):
    for seed_folder in sorted((Path(args.classifiers or run) / "classifier/full-data" / variant).glob("seed*")):
        scorers[f"{variant} {seed_folder.name}"] = seed_folder
independent = {}
for name, folder in scorers.items():
    model, info = load_classifier(str(folder))
    with torch.inference_mode():
        predicted = predictions(model, images)
    if name.startswith("real-only"):
        independent[name] = predicted
    agreement = fidelity(predicted, labels)
    print(
        json.dumps(
            {
                "scorer": name,
                "test_accuracy": info.get("test_accuracy"),
                "agree_%": round(agreement["overall"] * 100, 2),
                "per_class_%": [round(agreement["per_class"][c] * 100, 2) for c in range(10)],
            }
        ),
        flush=True,
    )
for threshold in (0.9, 0.95, 0.99, 0.999):
    keep = confidence >= threshold
    print(
        json.dumps(
            {
                "min_confidence": threshold,
                "rows_kept_%": round(float(keep.mean()) * 100, 1),
                "worst_class_kept_%": min(round(float(keep[labels == c].mean()) * 100, 1) for c in range(10)),
                **{
                    f"agree_%_{name}": round(float((p[keep] == labels[keep]).mean()) * 100, 2)
                    for name, p in independent.items()
                },
            }
        ),
        flush=True,
    )
