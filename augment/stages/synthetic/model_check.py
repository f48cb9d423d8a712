"""Load the generator and the judge once before generation starts, so that a model pair that cannot
work (a spec that does not fit its weights, a --min-confidence some class almost never reaches) is
refused before anything is written.

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


def check_models(plan: PartPlan) -> None:
    """Load both models (the spec must fit the weights); with a --min-confidence, try it per class."""
    from augment.stages.synthetic.synthesis import PartMaker

    maker = PartMaker(plan)  # loads generator and judge, refusing a mismatch in one line
    if plan.min_confidence > 0:
        _preflight_min_confidence(maker, plan)


def check_models_apart(plan: PartPlan) -> None:
    """check_models, in a child process unless this process has torch loaded already."""
    if "torch" in sys.modules:
        check_models(plan)
        return
    run_module_apart(
        "augment.stages.synthetic.model_check", json.dumps(asdict(plan)), failed="checking the models failed"
    )


def _preflight_min_confidence(maker, plan: PartPlan) -> None:
    """Refuse up front a threshold some class almost never reaches, instead of failing mid-run."""
    boundaries = np.asarray(plan.boundaries)
    num_classes = len(boundaries)
    labels = np.repeat(np.arange(num_classes), PREFLIGHT_PER_CLASS)
    # Attempt numbers far above max_attempts: fresh latents that no real row uses.
    z = latents_for(np.arange(len(labels)), plan.seed, maker.latent_dim, attempt=1 << 20) * plan.temperature
    _, scores = maker.score(z, labels)
    rows = expected_counts(plan.n, boundaries)
    for c in range(num_classes):
        if rows[c] == 0:
            continue
        rate = float((scores[labels == c] >= plan.min_confidence).mean())
        expected_failures = rows[c] * (1.0 - rate) ** plan.max_attempts
        if expected_failures > 0.5:
            raise AugmentError(
                f"--min-confidence {plan.min_confidence}: only {rate:.0%} of class {c} samples reach it "
                f"({PREFLIGHT_PER_CLASS} tried), so about {expected_failures:.0f} of its {rows[c]} rows would "
                f"find none in {plan.max_attempts} tries; lower --min-confidence"
            )


def _main(payload: str) -> None:
    values = json.loads(payload)
    try:
        check_models(PartPlan(**{**values, "boundaries": tuple(values["boundaries"])}))
    except AugmentError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    _main(sys.argv[1])
