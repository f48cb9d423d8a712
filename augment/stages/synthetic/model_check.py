"""Load the generator and the judge once before generation starts, so that a model pair that cannot
work (a spec that does not fit its weights, a --min-confidence some class almost never reaches) is
refused before anything is written, and settle each class's confidence threshold (--keep-share).

The generate driver only plans and schedules; the models live in the actors. Importing torch costs
~300 MB of private memory per process (measured with the CUDA wheel), and a driver holding it for
the whole run put a 1M-row job over its 2.5 GiB budget. So where the calling process has not loaded
torch, the check runs in a short-lived child process (~1.5 s) that exits before the actors start;
where torch is already loaded (tests, notebooks, `augment run` after training) it runs in place.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import numpy as np

from augment.core.apart import run_module_apart
from augment.core.errors import AugmentError
from augment.stages.synthetic.parts import PartPlan
from augment.stages.synthetic.sampling import expected_counts, latents_for

# Enough that a class keeping 44% of its draws (the rarest at the defaults, T = 2 and 0.99) is not
# mistaken, by sampling noise, for one under the ~32% that a million rows cannot live with: 4 standard
# errors apart at 256 draws, 2 at 64.
PREFLIGHT_PER_CLASS = 256


def check_models(plan: PartPlan) -> tuple[float, ...]:
    """Load both models (the spec must fit the weights); with a --min-confidence, settle each
    class's threshold and try it. Returns the thresholds (empty without a filter)."""
    from augment.stages.synthetic.synthesis import PartMaker

    maker = PartMaker(plan)  # loads generator and judge, refusing a mismatch in one line
    if plan.min_confidence <= 0:
        return ()
    labels, scores = _preflight_scores(maker, plan)
    thresholds = class_thresholds(labels, scores, plan.min_confidence, plan.keep_share)
    _refuse_unreachable(labels, scores, thresholds, plan)
    return thresholds


def check_models_apart(plan: PartPlan) -> tuple[float, ...]:
    """check_models, in a child process unless this process has torch loaded already."""
    if "torch" in sys.modules:
        return check_models(plan)
    printed = run_module_apart(
        "augment.stages.synthetic.model_check", json.dumps(asdict(plan)), failed="checking the models failed"
    )
    return tuple(json.loads(printed.strip().splitlines()[-1]))


def class_thresholds(labels: np.ndarray, scores: np.ndarray, min_confidence: float, keep_share: float):
    """Per class: min_confidence, or lower where fewer than `keep_share` of its draws reach it, the
    confidence its top `keep_share` reach (a percentile of its own draws: the filter adapts to the
    generator, a weak class still keeps its best draws instead of refusing the run)."""
    thresholds = []
    for c in range(int(labels.max()) + 1):
        own = scores[labels == c]
        percentile = float(np.quantile(own, 1.0 - keep_share, method="lower")) if keep_share > 0 else min_confidence
        thresholds.append(min(min_confidence, percentile))
    return tuple(thresholds)


def _preflight_scores(maker, plan: PartPlan) -> tuple[np.ndarray, np.ndarray]:
    """The judge's confidence in PREFLIGHT_PER_CLASS fresh draws of every class (their own latents:
    attempt numbers far above max_attempts, which no row uses)."""
    labels = np.repeat(np.arange(len(plan.boundaries)), PREFLIGHT_PER_CLASS)
    z = latents_for(np.arange(len(labels)), plan.seed, maker.latent_dim, attempt=1 << 20) * plan.temperature
    _, scores = maker.score(z, labels)
    return labels, scores


def _refuse_unreachable(labels: np.ndarray, scores: np.ndarray, thresholds: tuple, plan: PartPlan) -> None:
    """Refuse up front a threshold some class almost never reaches, instead of failing mid-run."""
    rows = expected_counts(plan.n, np.asarray(plan.boundaries))
    for c, threshold in enumerate(thresholds):
        if rows[c] == 0:
            continue
        rate = float((scores[labels == c] >= threshold).mean())
        expected_failures = rows[c] * (1.0 - rate) ** plan.max_attempts
        if expected_failures > 0.5:
            raise AugmentError(
                f"--min-confidence {plan.min_confidence}: only {rate:.0%} of class {c} samples reach "
                f"{threshold:.4g} ({PREFLIGHT_PER_CLASS} tried), so about {expected_failures:.0f} of its {rows[c]} "
                f"rows would find none in {plan.max_attempts} tries; lower --min-confidence or raise --keep-share"
            )


def _main(payload: str) -> None:
    values = json.loads(payload)
    plan = PartPlan(**{**values, "boundaries": tuple(values["boundaries"]), "thresholds": tuple(values["thresholds"])})
    try:
        print(json.dumps(list(check_models(plan))))
    except AugmentError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    _main(sys.argv[1])
