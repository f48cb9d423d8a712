"""The `synthetic/` stage's settings: each option declared once (core/options.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from augment.core.errors import AugmentError, require
from augment.core.options import DATA_ROOT_HELP, REQUIRED, ComputeOptions, StageConfig, option
from augment.core.placement import compute_device
from augment.core.precision import PRECISIONS
from augment.core.schema import SCHEMA_VERSION
from augment.stages.synthetic.sampling import MAX_ROWS

FOLDER = "synthetic"
JUDGE_SUBFOLDER = "judge"  # CHECKPOINT/judge: the default judge, trained there on first use
FILL = "fill"  # class_weights: each class's deficit in the GAN's real rows (generate.py resolves it)

CPU_FORWARD_BATCH, GPU_FORWARD_BATCH = 512, 8192


def parse_class_weights(value) -> tuple[float, ...] | str:
    """--class-weights as the CLI gives it ("fill", "1,1,…,2") or as a record holds it (a list)."""
    if isinstance(value, str) and value.strip() == FILL:
        return FILL
    try:
        weights = tuple(float(part) for part in (value.split(",") if isinstance(value, str) else value))
    except ValueError:
        raise AugmentError(
            f"--class-weights must be {FILL} or comma-separated numbers like 1,1,1,1,1,1,1,1,1,2 (got {value!r})"
        ) from None
    require(
        all(math.isfinite(w) and w >= 0 for w in weights) and sum(weights) > 0,
        f"--class-weights must be non-negative numbers with a positive sum (got {','.join(map(str, weights))})",
    )
    return weights


@dataclass(frozen=True, kw_only=True)
class SyntheticConfig(StageConfig, ComputeOptions):
    """Generate N labeled synthetic digits to Parquet with Ray Data (the synthetic/ stage)."""

    COMMAND = "generate"
    PATHS = ("checkpoint", "out", "judge", "data_root")

    checkpoint: str = option(REQUIRED, "GAN run folder holding generator.safetensors + generator.json.")
    n: int | None = option(
        None,
        "Rows to generate (exactly this many land); required, except with --class-weights fill: the deficit.",
        at_least=1,
        at_most=MAX_ROWS,
        flag="--n",
    )
    out: str = option(REQUIRED, "Output folder or URI (s3://…): train/part-*.parquet + README.md + _manifest.json.")
    judge: str | None = option(None, "Judge folder (default CHECKPOINT/judge, trained there on first use).")
    workers: int | None = option(
        None,
        "Actors (default: one per CPU, or with --gpu one per GPU the node types allow, started on demand).",
        at_least=1,
    )
    gpu: bool = option(False, "Generate on GPUs, one per actor.")
    # The models are small: a 512-row forward leaves a GPU idle between launches. Rows do not depend on it.
    batch_size: int | None = option(
        None,
        f"Rows per generator forward pass (default: {CPU_FORWARD_BATCH} on CPUs, {GPU_FORWARD_BATCH} on a GPU).",
        at_least=1,
    )
    seed: int = option(0, "Row i's latent depends on (seed, i) only.")
    class_weights: tuple[float, ...] | str | None = option(
        None,
        "Class distribution as w0,…,w9 (default balanced), or fill: what each class of the GAN's real rows lacks "
        "against the largest (a long tail made even; --n defaults to the total deficit).",
        parse=parse_class_weights,
    )
    min_confidence: float = option(
        0.0,
        "Replace samples the judge gives less than this probability of their label (0: keep all).",
        at_least=0,
        below=1,
    )
    # One threshold refused a short run outright (a 1-epoch GAN: no class-0 draw reached 0.99) and
    # holds a weak class to what a strong one reaches; per class, a confidence percentile adapts.
    keep_share: float = option(
        0.4,
        "Per class, the least share of draws the --min-confidence filter keeps: a class whose draws reach C "
        "less often gets its own lower threshold, the confidence its top SHARE reach (measured on 256 draws "
        "per class before generation; 0: one threshold for every class).",
        at_least=0,
        below=1,
    )
    # Above 1 the generator's digits vary more (and more of them fail the judge's filter, which
    # replaces them); a synthetic-only classifier learns more from them (benchmarks/RESULTS.md).
    temperature: float = option(
        1.0, "Latents ~ N(0, T^2): above 1 more varied digits (pair it with --min-confidence).", above=0, at_most=3
    )
    max_attempts: int = option(32, "Fresh samples a row may draw before the run gives up.", at_least=1)
    rows_per_file: int = option(
        262_144,
        "Most rows per part file (parts are split evenly); a part is one actor's task, so smaller parts spread "
        "generation over more nodes.",
        at_least=1,
    )
    precision: str = option(
        "auto",
        "fp32, bf16, or auto: bf16 where the hardware has bf16 matrix units (AMX CPUs, Ampere+ GPUs).",
        choices=PRECISIONS,
    )
    data_root: str | None = option(None, DATA_ROOT_HELP + " Only used to train a missing judge.")
    download: bool = option(
        True, "Never download; fail if the files are not there.", flag="--offline", envvar="AUGMENT_OFFLINE"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.n is not None or self.class_weights == FILL,
            "--n is required (it may be left out with --class-weights fill)",
        )

    def forward_batch(self) -> int:
        return self.batch_size or (GPU_FORWARD_BATCH if compute_device(self.gpu) == "cuda" else CPU_FORWARD_BATCH)

    def identity(self, generator_sha256: str, judge_sha256: str, precision: str) -> dict[str, Any]:
        """Everything that determines the rows (workers and batch size do not); `precision` resolved."""
        varied = (
            {} if self.temperature == 1.0 else {"temperature": self.temperature}
        )  # absent: older outputs keep theirs
        # The device is part of the rows: the same latents give other pixels through CUDA's kernels
        # than through the CPU's (TF32 is off, but summation orders differ), so parts made on one
        # are never mixed with parts made on the other. Absent on the CPU: older outputs keep theirs.
        if compute_device(self.gpu) == "cuda":
            varied["device"] = "cuda"
        return {
            **varied,
            "n": self.n,
            "seed": self.seed,
            "class_weights": None if self.class_weights is None else list(self.class_weights),
            "min_confidence": self.min_confidence,
            # absent without a filter or the per-class floor: older outputs keep theirs
            **({"keep_share": self.keep_share} if self.min_confidence > 0 and self.keep_share > 0 else {}),
            "max_attempts": self.max_attempts,
            "rows_per_file": self.rows_per_file,
            "generator_sha256": generator_sha256,
            "judge_sha256": judge_sha256,
            "precision": precision,
            "schema_version": SCHEMA_VERSION,
        }
