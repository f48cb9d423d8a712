"""Issue 24: where the Ray trainer's last 20% goes. Plain loop (2 and 1 torch threads) against
augment retrain with the trainer's torch threads 2 / 1 and Ray's worker niceness 15 (default) / 0.

    AUGMENT_DATA_ROOT=DIR python benchmarks/retrain_threads_niceness.py [t2n15,t1n15,t2n0,t1n0] [augment]

tNnM: N torch threads in the trainer, Ray workers at nice M. The variants are made by replacing two
private functions (the classifier stage's thread count, the local Ray's init options): a measuring
script's shortcut, not something the package offers. A second argument adds --classic-augment runs."""

import csv
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import retrain_throughput as B

import augment.core.ray_session as RS
import augment.stages.classifier.train as T
from augment.stages.classifier.config import ClassifierConfig

variants = sys.argv[1].split(",") if len(sys.argv) > 1 else ["t2n15", "t1n15", "t2n0", "t1n0"]
work = Path(tempfile.mkdtemp(prefix="threads-"))
export, images, labels = B.export_real(work)
cfg = ClassifierConfig(data=export, out=str(work / "unused"), epochs=3, workers=1, download=False)


def plain(threads):
    return B.plain_loop(images, labels, cfg, 2, augment=False, threads=threads)


orig_res, orig_opts = T._worker_resources, RS._local_options


def ray(variant, augment=False):
    threads, nice = int(variant[1]), int(variant.split("n")[1])
    T._worker_resources = lambda c: (orig_res(c)[0], threads)
    RS._local_options = lambda a, t: {
        **orig_opts(a, t),
        **({"_system_config": {"worker_niceness": nice}} if nice != 15 else {}),
    }
    out = str(work / f"ray-{variant}-{augment}")
    B.ray_run(export, out, replace(cfg, classic_augment=augment))
    rows = list(csv.DictReader(open(Path(out) / "metrics.csv")))
    return [float(r["samples_per_s"]) for r in rows]


res = {}
res["plain2 before"] = plain(2)
print(res, flush=True)
res["plain1 before"] = plain(1)
print(res, flush=True)
for v in variants:
    res[v] = ray(v)
    print(v, res[v], flush=True)
    if len(sys.argv) > 2:
        res[v + " aug"] = ray(v, True)
        print(v, "aug", res[v + " aug"], flush=True)
res["plain2 after"] = plain(2)
res["plain1 after"] = plain(1)
print(json.dumps(res), flush=True)
