"""Seconds per stage of `augment run`, from this machine's measured speed (machine_speed.py).

A stage on Ray runs slower than the plain loop machine_speed.py times: DDP's all-reduce, Ray Data feeding
the trainers, the raylet and object store sharing the cores. The efficiencies below are those ratios
(the stage's samples/s on Ray over the plain loop's on the same host, benchmarks/RESULTS.md, "The
measured forecast"); the start-up costs are what each stage spends before its first batch. On a cluster this
machine stands in for the workers: rates scale with the cluster's CPUs over the threads measured here.
"""

from __future__ import annotations

import math

from augment.forecast.machine_speed import MachineSpeed
from augment.stages.classifier.plan import GAIN_VARIANTS, SCORER_SEEDS

# Stage rate on Ray / plain-loop rate, and the seconds outside epochs: calibrated with `augment run
# --n 100000 --epochs 1 --classifier-epochs 1` (AMD EPYC Zen 1, AVX2, 2 vCPUs, two workers) and then
# on the README run itself (benchmarks/RESULTS.md, "The measured forecast" and the ninth session).
# Training stages have one value per worker count: (one worker, several). The plain loop's probe
# runs without Ray Data, checkpoints or a test pass, so even one worker of both cores, 1.3x faster
# than two DDP workers of one core each on 2 vCPUs, trains below it; the classifier's rows come
# through Ray Data on the same cores.
# 1 worker: 0.87 for the 32x24 GAN (1,123-1,360 samples/s on Zen 3); the 32x16 one (the default since
# 2026-12-07) trains 1.22-1.27x faster in the plain loop, less so on Ray: 810 s against 678
# forecast at 0.87 in its first README run (Zen 3), so 0.73; two workers scaled alike.
GAN_EFFICIENCY = {1: 0.73, 2: 0.63}
GAN_START_S = 25.0
JUDGE_EFFICIENCY = {1: 0.75, 2: 0.83}  # its test pass after every epoch is in the start-up
JUDGE_START_S = 40.0
# Actors with one torch thread each, writing Parquet, against the probe's 2 threads: 0.55-0.68 measured
# while each batch redrew its own doubted rows; pooling the redraws of a row group made part making
# 1.48x faster (synthesis.PartMaker.make_rows, Zen 3, 2026-12-07).
GENERATE_EFFICIENCY = 0.85
GENERATE_START_S = 15.0  # actors starting, the precision probe, the manifest
# Two workers: 1,474-1,504 samples/s in a first epoch (0.61), later epochs faster (Ray Data warm);
# classic augmentation 1,220 against 2,250. One worker: three README runs on Zen 3 (2026-12-07,
# the 4,096-row fetch in the last two) took 0.82, 0.71 and 0.89 of what 0.54 / 0.48 forecast (the
# probe's ±15% noise), so both are divided by their mean, 0.81.
CLASSIFIER_EFFICIENCY = {1: 0.67, 2: 0.65}
CLASSIC_EFFICIENCY = {1: 0.59, 2: 0.58}
JUDGE_EPOCHS = 4
FIT_START_S = 29.0  # a Ray Train fit() outside its epochs: worker group, Ray Data, checkpoints
# The classifier stage trains all its classifiers in one worker group (one fit()); each run then
# costs only its own Ray Data pipeline start, checkpoints and export (5 runs in ~22 s outside epochs, tiny data).
CLASSIFIER_RUN_START_S = 2.0
# Draws the judge's filter keeps, by --min-confidence then sampling temperature (the default CPU
# run's 20-epoch 32x24 GAN and its judge, 20,000 first draws each: benchmarks/filter_kept.py,
# benchmarks/RESULTS.md; the 64x64 GAN kept within 2 points of these): generation makes 1 / kept
# draws per row.
FILTER_KEPT = {
    0.9: {1.0: 0.962, 1.5: 0.853, 2.0: 0.701, 2.5: 0.559, 3.0: 0.445},
    0.95: {1.0: 0.951, 1.5: 0.828, 2.0: 0.660, 2.5: 0.513, 3.0: 0.396},
    0.99: {1.0: 0.919, 1.5: 0.752, 2.0: 0.561, 2.5: 0.406, 3.0: 0.297},
    0.999: {1.0: 0.837, 1.5: 0.603, 2.0: 0.394, 2.5: 0.250, 3.0: 0.168},
}
# --gpu: not measured on a GPU yet (no GPU here); rates from the GPU benchmarks, per GPU.
GPU_RATES = {"gan": 20_000.0, "judge": 30_000.0, "generate": 100_000.0, "classifier": 30_000.0, "classic": 30_000.0}


def stage_seconds(
    *,
    n: int,
    gan_epochs: int,
    gan_images: int,
    classifier_epochs: int,
    merge_synthetic: int | None,
    seeds: int,
    cpus: float,
    speed: MachineSpeed | None,
    curve_runs: int = 0,
    min_confidence: float = 0.0,
    temperature: float = 1.0,
    gpus: int = 1,
    workers: int = 1,
    training_cpus: float | None = None,
) -> dict[str, float]:
    """Seconds per stage; speed None means --gpu (the GPU rates above: training on one GPU,
    generation on `gpus`, every GPU the node types allow). `curve_runs`: the
    synthetic-rows curve's runs beyond the gain table, per seed; `min_confidence` above 0: the judge's
    filter redraws what it doubts, more of it the stricter it is and the higher the sampling `temperature`.
    `training_cpus`: the CPUs the `workers` training workers use (default: all `cpus`); generation
    uses every CPU."""
    if speed is None:
        rate = {**GPU_RATES, "generate": GPU_RATES["generate"] * max(1, gpus)}
    else:
        rate = cpu_rates(speed, cpus, training_cpus or cpus, workers)
    real, merged = 60_000, 60_000 + min(n, n if merge_synthetic is None else merge_synthetic)

    def fit(rows: int, epochs: int, kind: str = "classifier", start: float = FIT_START_S) -> float:
        return start + epochs * rows / rate[kind]

    # The classifier stage trains every classifier of the report: CAS on the synthetic rows, then per
    # seed each gain-table variant, all on real only's budget of samples (epochs x real rows).
    gain_table = sum(
        fit(
            real,
            classifier_epochs,
            "classic" if options.get("classic_augment") else "classifier",
            CLASSIFIER_RUN_START_S,
        )
        for options in GAIN_VARIANTS.values()
    ) + curve_runs * fit(real, classifier_epochs, start=CLASSIFIER_RUN_START_S)
    return {
        "real": 10.0,  # reading the IDX files and writing Parquet: 8 s measured
        "gan": fit(gan_images, gan_epochs, "gan", GAN_START_S),
        "judge": fit(gan_images, JUDGE_EPOCHS, "judge", JUDGE_START_S),
        "synthetic": GENERATE_START_S + n * draws_per_row(min_confidence, temperature) / rate["generate"],
        "merged": 3.0 + merged / 100_000,  # file links or copies: 3 s for 120,000 rows
        "classifier": FIT_START_S
        + fit(min(n, 60_000), classifier_epochs, start=CLASSIFIER_RUN_START_S)
        + seeds * gain_table
        # the real-only runs that score label fidelity without having seen the filter (plan.SCORER_SEEDS)
        + max(0, SCORER_SEEDS - seeds) * fit(real, classifier_epochs, start=CLASSIFIER_RUN_START_S),
        "report": 30.0,  # fidelity, FD, the sample grid and the card: 19-35 s measured
    }


def cpu_rates(speed: MachineSpeed, cpus: float, training_cpus: float, workers: int) -> dict[str, float]:
    """Samples (rows) per second of each stage on Ray, from the plain-loop rates measured here."""
    train = training_cpus / speed.threads

    def efficiency(table: dict[int, float]) -> float:
        return table[min(workers, 2)]

    return {
        "gan": speed.gan_samples_per_s * train * efficiency(GAN_EFFICIENCY),
        "judge": speed.classifier_samples_per_s * train * efficiency(JUDGE_EFFICIENCY),
        "generate": speed.generate_rows_per_s * cpus / speed.threads * GENERATE_EFFICIENCY,
        "classifier": speed.classifier_samples_per_s * train * efficiency(CLASSIFIER_EFFICIENCY),
        "classic": speed.classic_samples_per_s * train * efficiency(CLASSIC_EFFICIENCY),
    }


def draws_per_row(min_confidence: float, temperature: float) -> float:
    """1 / the share of draws the filter keeps, interpolated in temperature and in the filter's
    strictness -log10(1 - confidence) (0.9, 0.99, 0.999 equally apart); outside the measured range the
    nearest end counts (a threshold below 0.9 forecasts a little more work than it makes)."""
    if min_confidence <= 0:
        return 1.0
    by_strictness = {_strictness(c): _interpolate(kept, temperature) for c, kept in FILTER_KEPT.items()}
    return 1.0 / _interpolate(by_strictness, _strictness(min_confidence))


def _strictness(confidence: float) -> float:
    return -math.log10(1 - confidence)


def _interpolate(table: dict[float, float], x: float) -> float:
    """Linear between the two points around x; clamped to the table's ends."""
    points = sorted(table)
    x = min(max(x, points[0]), points[-1])
    low, high = max(p for p in points if p <= x), min(p for p in points if p >= x)
    if low == high:
        return table[low]
    return table[low] + (table[high] - table[low]) * (x - low) / (high - low)
