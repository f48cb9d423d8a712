"""The `synthetic/` stage's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augment.core.options import ComputeOptions, StageConfig
from augment.core.placement import compute_device
from augment.core.schema import SCHEMA_VERSION

FOLDER = "synthetic"
JUDGE_SUBFOLDER = "judge"  # CHECKPOINT/judge: the default judge, trained there on first use
FILL = "fill"  # class_weights: each class's deficit in the GAN's real rows (generate.py resolves it)


CPU_FORWARD_BATCH, GPU_FORWARD_BATCH = 512, 8192


@dataclass(frozen=True, kw_only=True)
class SyntheticConfig(StageConfig, ComputeOptions):
    """Generate N labeled synthetic digits to Parquet with Ray Data (the `synthetic/` stage)."""

    PATHS = ("checkpoint", "out", "judge", "data_root")

    checkpoint: str  # a GAN run folder holding generator.safetensors + generator.json
    n: int | None  # None only with class_weights FILL: the total deficit
    out: str
    judge: str | None = None  # a judge folder; None: CHECKPOINT/judge, trained there on first use
    workers: int | None = None  # None: one per GPU with --gpu, else one per CPU of the cluster
    # rows per generator forward; None: 512 on CPUs (the fastest measured there), 8192 on a GPU
    # (the models are small: a 512-row forward leaves a GPU idle between launches). Rows do not
    # depend on it.
    batch_size: int | None = None
    seed: int = 0
    class_weights: tuple[float, ...] | str | None = None  # None: balanced; FILL: resolved to the deficits before use
    min_confidence: float = 0.0
    # Latents drawn from N(0, temperature^2): above 1 the generator's digits vary more (and more of
    # them fail the judge's filter, which replaces them); a synthetic-only classifier learns more
    # from them (benchmarks/RESULTS.md).
    temperature: float = 1.0
    max_attempts: int = 32  # fresh latents a row may draw before the run gives up
    rows_per_file: int = 262_144  # at most; parts are split evenly (~65 MB each for MNIST digits)
    precision: str = "auto"  # "fp32", "bf16" or "auto": bf16 where the hardware has bf16 matrix units
    data_root: str | None = None  # real data, only needed when the judge must be trained
    download: bool = True

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
            "max_attempts": self.max_attempts,
            "rows_per_file": self.rows_per_file,
            "generator_sha256": generator_sha256,
            "judge_sha256": judge_sha256,
            "precision": precision,
            "schema_version": SCHEMA_VERSION,
        }
