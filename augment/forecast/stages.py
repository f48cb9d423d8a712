"""Seconds per stage of `augment run`, from this machine's measured speed (machine_speed.py).

A stage on Ray runs slower than the plain loop machine_speed.py times: DDP's all-reduce, Ray Data feeding
the trainers, the raylet and object store sharing the cores. The efficiencies below are those ratios
(the stage's samples/s on Ray over the plain loop's on the same host, benchmarks/RESULTS.md, "The
forecast"); the start-up costs are what each stage spends before its first batch. On a cluster this
machine stands in for the workers: rates scale with the cluster's CPUs over the threads measured here.
"""

from __future__ import annotations

from augment.forecast.machine_speed import MachineSpeed
from augment.stages.classifier.plan import GAIN_VARIANTS

GAN_EFFICIENCY = 1.0
GENERATE_EFFICIENCY = 1.0
CLASSIFIER_EFFICIENCY = 1.0
FIT_START_S = 20.0  # a Ray Train fit() before its first batch: worker group, process group, dataset
JUDGE_EPOCHS = 4
# --gpu: not measured on a GPU yet (no GPU here); rates from the GPU benchmarks, per GPU.
GPU_RATES = {"gan": 20_000.0, "generate": 100_000.0, "classifier": 30_000.0, "classic": 30_000.0}


def stage_seconds(*, n: int, gan_epochs: int, gan_images: int, classifier_epochs: int, merge_synthetic: int,
                  seeds: int, cpus: float, speed: MachineSpeed | None) -> dict[str, float]:
    """Seconds per stage; speed None means --gpu (the GPU rates above, one GPU)."""
    if speed is None:
        rate = dict(GPU_RATES)
    else:
        scale = cpus / speed.threads
        rate = {
            "gan": speed.gan_samples_per_s * scale * GAN_EFFICIENCY,
            "generate": speed.generate_rows_per_s * scale * GENERATE_EFFICIENCY,
            "classifier": speed.classifier_samples_per_s * scale * CLASSIFIER_EFFICIENCY,
            "classic": speed.classic_samples_per_s * scale * CLASSIFIER_EFFICIENCY,
        }
    real, merged = 60_000, 60_000 + min(n, merge_synthetic)

    def fit(rows: int, epochs: int, kind: str = "classifier") -> float:
        return FIT_START_S + epochs * rows / rate[kind]

    # The classifier stage trains every classifier of the report: CAS on the synthetic rows, then per
    # seed each gain-table variant, on the real rows alone or on the merged ones.
    gain_table = sum(
        fit(real if options.get("real_only") else merged, classifier_epochs,
            "classic" if options.get("classic_augment") else "classifier")
        for options in GAIN_VARIANTS.values()
    )
    return {
        "real": 10.0,  # reading the IDX files and writing Parquet: 8 s measured
        "gan": fit(gan_images, gan_epochs, "gan"),
        "judge": fit(gan_images, JUDGE_EPOCHS),
        "synthetic": 10.0 + n / rate["generate"],  # + the actors' start-up and the precision probe
        "merged": 3.0 + merged / 100_000,  # file copies: 3 s for 120,000 rows
        "classifier": fit(min(n, 60_000), classifier_epochs) + seeds * gain_table,
        "report": 15.0,
    }
