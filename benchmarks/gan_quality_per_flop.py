"""Quality per FLOP of the GAN (issue 39): G and D widths and epochs against what the run's quality
rests on, with the default run's sampling (T = 2, the judge's filter at 0.99).

    AUGMENT_DATA_ROOT=DIR python benchmarks/gan_quality_per_flop.py --work DIR \\
        [--variants 64x32:20,32x32:20] [--workers 2] [--precision fp32] [--cas-seeds 0,1] \\
        [--train-options "--loss hinge"]

Once per WORK: the judge (`augment judge`, seed 0: the one that filters) and a scorer (`augment
judge --seed 1`: a real-only classifier of another seed, which never saw the filter). Per variant
`GxD:E` (G width, D width, epochs): `augment train --width G --d-width D --epochs E`, timed; then in
this process, with the default run's sampling: the share of first draws the filter keeps (fewer kept
= more generation FLOPs), 60,000 filtered rows, their label fidelity by the scorer (the independent
fidelity the report leads with), their Fréchet distance to the real test split in the judge's
features (with the real-train floor), and CAS (the classifier stage's recipe, 4 epochs, on those
rows alone, one figure per --cas-seeds seed and their mean). FLOPs per training sample by torch's
FlopCounterMode. A variant's GAN already trained in WORK is measured again, not retrained (its
training time read from its manifest). --train-options go to every variant's `augment train` and
name its folder (a recipe variant). One JSON line per variant, on stdout and appended to
WORK/results.jsonl as it finishes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cas_temperature import cas, filtered_digits  # noqa: E402  (benchmarks/ is the script folder)
from stage_gflops import gan_step_flops  # noqa: E402

from augment.core import mnist  # noqa: E402
from augment.models.classifier_file import load_classifier  # noqa: E402
from augment.models.gan import GanSpec  # noqa: E402
from augment.models.generator_file import load_generator  # noqa: E402
from augment.stages.report.quality import frechet_distance, predictions  # noqa: E402
from augment.stages.synthetic.precision_probe import machine  # noqa: E402

TEMPERATURE, MIN_CONFIDENCE, ROWS = 2.0, 0.99, 60_000


def augment(*args) -> float:
    """Run `augment ARGS` as a user would; its wall seconds."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "augment", *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"augment {' '.join(map(str, args))} failed: {proc.stderr.strip()[-2000:]}")
    return time.perf_counter() - started


def quality(gan: Path, judge: Path, scorer: Path, data_root: str, cas_seeds: list[int]) -> dict:
    generator, _ = load_generator(str(gan))
    judge_model, _ = load_classifier(str(judge))
    scorer_model, _ = load_classifier(str(scorer))
    images, labels, replaced = filtered_digits(generator, judge_model, ROWS, TEMPERATURE, MIN_CONFIDENCE, seed=0)
    stored = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).squeeze(1).numpy()
    test = mnist.load_split("mnist", "test", data_root, download=False)
    train = mnist.load_split("mnist", "train", data_root, download=False)
    test_images = mnist.to_gan_range(torch.from_numpy(test.images)).unsqueeze(1)
    test_labels = torch.from_numpy(test.labels.astype(np.int64))
    agree = predictions(scorer_model, stored) == labels.numpy()
    return {
        "draws_kept": round(1 - replaced, 4),
        "independent_fidelity": round(float(agree.mean()), 5),
        "worst_class_fidelity": round(min(float(agree[labels.numpy() == c].mean()) for c in range(10)), 4),
        "frechet_distance": round(frechet_distance(judge_model, test.images, stored[:10_000]), 2),
        "frechet_floor": round(frechet_distance(judge_model, test.images, train.images[:10_000]), 2),
        **cas_over_seeds(images, labels, test_images, test_labels, cas_seeds),
    }


def cas_over_seeds(images, labels, test_images, test_labels, seeds: list[int]) -> dict:
    """CAS per classifier seed (the same rows) and their mean: one seed's figure moves ~0.1 pt."""
    figures = [round(cas(images, labels, test_images, test_labels, seed=seed, epochs=4), 4) for seed in seeds]
    return {"cas": round(float(np.mean(figures)), 4), "cas_per_seed": figures}


def trained_gan(work: Path, variant: str, args) -> tuple[Path, float, GanSpec]:
    """The variant's GAN folder (trained here unless WORK has it finished), training minutes, spec."""
    widths, epochs = variant.split(":")
    g_width, d_width = (int(w) for w in widths.split("x"))
    tag = args.train_options.replace("--", "").replace(" ", "-").strip("-")
    gan = work / f"gan-g{g_width}-d{d_width}-e{epochs}{'-' + tag if tag else ''}"
    manifest = gan / "_manifest.json"
    if not manifest.exists():
        options = ("--width", g_width, "--d-width", d_width, "--epochs", epochs, "--workers", args.workers)
        options += (*args.train_options.split(), "--precision", args.precision, "--offline")
        augment("train", "--out", gan, *options)
    minutes = json.loads(manifest.read_text())["elapsed_s"] / 60
    return gan, minutes, GanSpec(width=g_width, d_width=d_width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--variants", default="64x32:20,32x32:20")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--cas-seeds", default="0,1")
    parser.add_argument("--train-options", default="", help="more `augment train` options for every variant")
    args = parser.parse_args()
    data_root = os.environ["AUGMENT_DATA_ROOT"]
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    judge, scorer = work / "judge", work / "scorer"
    augment("judge", "--out", judge, "--seed", 0, "--offline")
    augment("judge", "--out", scorer, "--seed", 1, "--offline")
    for variant in args.variants.split(","):
        gan, minutes, spec = trained_gan(work, variant, args)
        trained = json.loads((gan / "_manifest.json").read_text())
        row = {
            "host": machine(),
            "variant": variant + (f" {args.train_options}" if args.train_options else ""),
            # as trained: the default loss moved to hinge on CPUs (2026-12-07), so a folder a WORK
            # kept from before is bce under the same name
            "loss": json.loads((gan / "run.json").read_text())["identity"]["loss"],
            "mflop_per_sample": round(gan_step_flops(spec) / 1e6, 1),
            "train_minutes": round(minutes, 1),
            "samples_per_s_last_epoch": trained["samples_per_s"],
            **quality(gan, judge, scorer, data_root, [int(seed) for seed in args.cas_seeds.split(",")]),
        }
        print(json.dumps(row), flush=True)
        with open(work / "results.jsonl", "a") as out:
            out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
