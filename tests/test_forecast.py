"""`augment run`'s forecast: measured on this machine's models, scaled per stage."""

import math
from dataclasses import replace

import pytest

from augment.core.storage import RAY_JOB_ENV
from augment.forecast import MachineSpeed, measure, stage_seconds
from augment.forecast.stages import (
    CLASSIC_EFFICIENCY,
    CLASSIFIER_EFFICIENCY,
    CLASSIFIER_RUN_START_S,
    GAN_EFFICIENCY,
    GAN_START_S,
    GENERATE_START_S,
)

SPEED = MachineSpeed(
    machine="test CPU, 2 CPUs",
    threads=2,
    gan_samples_per_s=1_000.0,
    gan_precision="fp32",
    generate_rows_per_s=8_000.0,
    generate_precision="bf16",
    classifier_samples_per_s=4_000.0,
    classic_samples_per_s=3_000.0,
    seconds=4.0,
)
RUN = dict(n=1_000_000, gan_epochs=5, gan_images=60_000, classifier_epochs=4, merge_synthetic=60_000, seeds=1, cpus=2.0)


def _work(seconds: dict, stage: str, fixed: float) -> float:
    return seconds[stage] - fixed


def test_each_stage_follows_the_rate_that_drives_it():
    base = stage_seconds(**RUN, speed=SPEED)
    assert list(base) == ["real", "gan", "judge", "synthetic", "merged", "classifier", "report"]
    faster_generation = stage_seconds(**RUN, speed=replace(SPEED, generate_rows_per_s=16_000.0))
    assert _work(faster_generation, "synthetic", GENERATE_START_S) == pytest.approx(
        _work(base, "synthetic", GENERATE_START_S) / 2
    )
    assert {k: v for k, v in faster_generation.items() if k != "synthetic"} == {
        k: v for k, v in base.items() if k != "synthetic"
    }
    faster_gan = stage_seconds(**RUN, speed=replace(SPEED, gan_samples_per_s=2_000.0))
    assert _work(faster_gan, "gan", GAN_START_S) == pytest.approx(_work(base, "gan", GAN_START_S) / 2)
    assert faster_gan["classifier"] == base["classifier"]
    # The two gain-table variants with classic augmentation run at its rate; the other three at the plain one.
    slower_classic = stage_seconds(**RUN, speed=replace(SPEED, classic_samples_per_s=1_500.0))
    classic_rows = 2 * 4 * 60_000  # equal budgets: both variants see real only's 4 epochs x 60,000 samples
    extra = (classic_rows / 1_500.0 - classic_rows / 3_000.0) / CLASSIC_EFFICIENCY[1]
    assert slower_classic["classifier"] - base["classifier"] == pytest.approx(extra, rel=1e-3)


def test_the_judges_filter_and_the_curve_runs_add_their_work():
    base = stage_seconds(**RUN, speed=SPEED)
    base_work = _work(base, "synthetic", GENERATE_START_S)

    def draws(min_confidence: float, temperature: float) -> float:
        seconds = stage_seconds(**RUN, speed=SPEED, min_confidence=min_confidence, temperature=temperature)
        return _work(seconds, "synthetic", GENERATE_START_S) / base_work

    assert draws(0.9, 2.0) == pytest.approx(1 / 0.701)  # measured points
    assert draws(0.99, 2.0) == pytest.approx(1 / 0.561)
    assert draws(0.9, 1.75) == pytest.approx(1 / ((0.853 + 0.701) / 2))  # between temperatures
    assert draws(0.5, 2.0) == draws(0.9, 2.0)  # below the measured thresholds: the lowest counts
    # Between thresholds, by strictness -log10(1 - c): 0.995 lies log10(2) of the way from 0.99 to 0.999.
    share = math.log10(2)
    assert draws(0.995, 2.0) == pytest.approx(1 / (0.561 + (0.394 - 0.561) * share))
    assert draws(0.99, 2.0) < draws(0.99, 2.5) < draws(0.999, 2.5)  # stricter or hotter: more draws
    assert stage_seconds(**RUN, speed=SPEED, temperature=2.0) == base  # no filter: every first draw is a row
    curve = stage_seconds(**RUN, speed=SPEED, curve_runs=2)
    one_run = CLASSIFIER_RUN_START_S + 4 * 60_000 / (SPEED.classifier_samples_per_s * CLASSIFIER_EFFICIENCY[1])
    assert curve["classifier"] - base["classifier"] == pytest.approx(2 * one_run, rel=1e-3)


def test_seeds_repeat_the_gain_table_and_cpus_scale_the_rates():
    one, three = stage_seconds(**RUN, speed=SPEED), stage_seconds(**{**RUN, "seeds": 3}, speed=SPEED)
    two = stage_seconds(**{**RUN, "seeds": 2}, speed=SPEED)
    per_seed = three["classifier"] - two["classifier"]  # CAS is trained once, whatever the seeds
    assert two["classifier"] - stage_seconds(**{**RUN, "seeds": 1}, speed=SPEED)["classifier"] < per_seed
    # One seed trains the independent scorer too (real only, seed 1): a real-only run, the cheapest
    # of a seed's four, so one seed costs a seed less than two plus one such run.
    scorer = per_seed - (two["classifier"] - one["classifier"])
    assert 0 < scorer < per_seed / 4
    cluster = stage_seconds(**{**RUN, "cpus": 8.0}, speed=SPEED)  # 4x the threads measured here
    assert _work(cluster, "gan", GAN_START_S) == pytest.approx(_work(one, "gan", GAN_START_S) / 4)
    # One worker of a cluster's 8 CPUs trains on the 2 CPUs of its node; generation still uses all 8.
    one_node = stage_seconds(**{**RUN, "cpus": 8.0}, speed=SPEED, training_cpus=2.0)
    assert one_node["gan"] == one["gan"] and one_node["synthetic"] == cluster["synthetic"] < one["synthetic"]
    # Two DDP workers on the same CPUs run at their own (measured, lower) efficiency.
    two_workers = stage_seconds(**RUN, speed=SPEED, workers=2)
    assert _work(two_workers, "gan", GAN_START_S) == pytest.approx(
        _work(one, "gan", GAN_START_S) * GAN_EFFICIENCY[1] / GAN_EFFICIENCY[2]
    )
    assert two_workers["synthetic"] == one["synthetic"]
    gpu = stage_seconds(**RUN, speed=None)
    assert gpu["gan"] < one["gan"] and gpu["synthetic"] < one["synthetic"]


def test_measuring_times_the_real_models_in_the_precision_auto_picks(monkeypatch):
    monkeypatch.setenv(RAY_JOB_ENV, "{}")  # as in `augment submit pipeline`, where a relative path is refused
    speed = measure()
    assert (
        speed.threads >= 1 and speed.generate_precision in ("fp32", "bf16") and speed.gan_precision in ("fp32", "bf16")
    )
    for rate in (
        speed.gan_samples_per_s,
        speed.generate_rows_per_s,
        speed.classifier_samples_per_s,
        speed.classic_samples_per_s,
    ):
        assert rate > 0
    # Generation is inference only; a GAN step is a forward and backward pass of both networks.
    assert speed.generate_rows_per_s > speed.gan_samples_per_s
    assert speed.classic_samples_per_s < speed.classifier_samples_per_s * 1.2  # augmentation adds work
