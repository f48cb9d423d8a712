"""Share of a generator's draws the judge's filter keeps, by sampling temperature and --min-confidence:
what `forecast/stages.FILTER_KEPT` holds (generation makes 1 / kept draws per row).

    python benchmarks/filter_kept.py --gan RUN/gan --judge RUN/judge [--temperatures 1,1.5,2,2.5,3]
        [--thresholds 0.9,0.99] [--draws 20000] [--max-attempts 32]

Each draw goes through the generation stage's own part maker (`PartMaker.make_rows`, first draws of
ids 0..draws-1, classes in turn, the judge scoring the uint8 pixels a row stores). One JSON line per
(temperature, threshold): the share kept, the worst class's share, and the expected number of rows of
a million that would exhaust --max-attempts draws (rows whose class keeps share k fail with (1-k)^attempts).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from commands import models_parser  # noqa: E402  (benchmarks/ is the script folder)

from augment.stages.synthetic.synthesis import first_draws  # noqa: E402


def first_draw_confidence(
    gan: str, judge: str, draws: int, temperature: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, the judge's probability of each label) for the first draws of ids 0..draws-1."""
    _, labels, confidence = first_draws(gan, judge, draws, seed=seed, temperature=temperature)
    return labels, confidence


def main() -> None:
    parser = models_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--temperatures", default="1,1.5,2,2.5,3")
    parser.add_argument("--thresholds", default="0.9,0.99")
    parser.add_argument("--draws", type=int, default=20_000)
    parser.add_argument("--max-attempts", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for temperature in (float(t) for t in args.temperatures.split(",")):
        labels, confidence = first_draw_confidence(args.gan, args.judge, args.draws, temperature, args.seed)
        for threshold in (float(c) for c in args.thresholds.split(",")):
            kept = confidence >= threshold
            by_class = np.array([kept[labels == k].mean() for k in np.unique(labels)])
            failing = 1_000_000 / len(by_class) * float(np.sum((1 - by_class) ** args.max_attempts))
            print(
                json.dumps(
                    {
                        "temperature": temperature,
                        "min_confidence": threshold,
                        "kept": round(float(kept.mean()), 4),
                        "worst_class": int(by_class.argmin()),
                        "worst_class_kept": round(float(by_class.min()), 4),
                        "rows_of_a_million_exhausting_attempts": float(f"{failing:.3g}"),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
