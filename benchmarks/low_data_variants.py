"""Issue 23 item 4 (needs AUGMENT_DATA_ROOT), the rest: the 600-epoch DiffAugment GAN (the 300-epoch one continued), a
600-epoch GAN without DiffAugment (control), a stricter filter (0.99), a higher temperature, fewer
rows (a 2,000-row pool); each at the budget of 26,880 samples, seeds 0/1/2."""

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from augment.stages.classifier import train as classifier_stage
from augment.stages.classifier.config import ClassifierConfig

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument(
    "--previous", required=True, help="folder with the 300-epoch low-data gan/ and judge/ (last session's run)"
)
parser.add_argument("--real", required=True, help="an `augment data export` folder")
parser.add_argument("--work", required=True, help="where this run writes (runs already there are kept)")
args = parser.parse_args()
L, W, REAL = Path(args.previous), Path(args.work), args.real
W.mkdir(parents=True, exist_ok=True)
OUT = open(W / "results.jsonl", "a")


def log(**kw):
    print(json.dumps(kw), flush=True)
    OUT.write(json.dumps(kw) + "\n")
    OUT.flush()


def augment(*args):
    print("$ augment " + " ".join(map(str, args)), flush=True)
    t = time.time()
    r = subprocess.run([sys.executable, "-m", "augment", *map(str, args)])
    log(command="augment " + " ".join(map(str, args)), seconds=round(time.time() - t), rc=r.returncode)
    return r.returncode == 0


if not (W / "gan").exists():
    shutil.copytree(L / "gan", W / "gan")
gan_options = ("--real-per-class", 100, "--epochs", 600, "--checkpoint-every", 50, "--workers", 1, "--offline")
augment("train", "--out", W / "gan", "--diff-augment", "translation,cutout", *gan_options)
augment("train", "--out", W / "gan_nodiff", *gan_options)
sets = {  # name: (gan, min confidence, temperature)
    "diffaug600 c0.9": ("gan", 0.9, 1.0),
    "diffaug600 c0.99": ("gan", 0.99, 1.0),
    "diffaug600 c0.9 T1.5": ("gan", 0.9, 1.5),
    "nodiff600 c0.9": ("gan_nodiff", 0.9, 1.0),
}
ready = []
for name, (gan, conf, temp) in sets.items():
    tag = name.replace(" ", "_")
    ok = augment(
        "generate",
        "--checkpoint",
        W / gan,
        "--judge",
        L / "judge",
        "--n",
        20000,
        "--min-confidence",
        conf,
        "--temperature",
        temp,
        "--out",
        W / f"syn_{tag}",
        "--offline",
    )
    ok = ok and augment(
        "merge", "--real", REAL, "--synthetic", W / f"syn_{tag}", "--real-per-class", 100, "--out", W / f"merged_{tag}"
    )
    if ok:
        ready.append((name, tag))
budget = 30 * (1000 // 128 * 128)
common = dict(data_root="/work/shared/data", download=False, workers=1)
pre = []
for _name, tag in ready:
    pre += [
        ClassifierConfig(
            **common,
            data=str(W / f"merged_{tag}"),
            out=str(W / f"runs/{tag}/pretrain/seed{s}"),
            synthetic_only=True,
            epochs=4,
            seed=s,
        )
        for s in range(3)
    ]
for c, r in zip(pre, classifier_stage.run_many(pre, [c.out for c in pre])):
    log(run=c.out, accuracy=r.test_accuracy, samples_seen=r.samples_seen, epochs=r.epochs)
cfgs = []
for s in range(3):
    # every variant: 30 real-equivalent epochs' budget, classic augmentation, seed s
    variant = lambda merged, out, seed=s, **options: ClassifierConfig(  # noqa: E731
        **common, data=str(W / f"merged_{merged}"), out=str(W / out), classic_augment=True, samples_seen=budget,
        epochs=30, seed=seed, **options,
    )  # fmt: skip
    first = ready[0][1]
    cfgs.append(variant(first, f"runs/real_classic/seed{s}", real_only=True))
    for _name, tag in ready:
        cfgs.append(variant(tag, f"runs/{tag}/mix/seed{s}", synthetic_per_epoch=1000))
        pretrained = str(W / f"runs/{tag}/pretrain/seed{s}")
        cfgs.append(variant(tag, f"runs/{tag}/finetune/seed{s}", real_only=True, init_from=pretrained))
    pool = f"runs/{first}/mix_pool2000_1to4/seed{s}"
    cfgs.append(variant(first, pool, max_synthetic=2000, synthetic_per_epoch=250))
for c, r in zip(cfgs, classifier_stage.run_many(cfgs, [c.out for c in cfgs])):
    log(run=c.out, accuracy=r.test_accuracy, samples_seen=r.samples_seen, epochs=r.epochs)
log(done=True)
