"""A generation's plan and its parts: what every part maker needs to know, and which ids each part
file holds. No torch here: the generate driver plans and schedules parts, the actors make them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PartPlan:
    """What every part maker needs to know about the whole generation."""

    checkpoint: str
    judge: str
    out: str
    n: int
    seed: int
    boundaries: tuple[float, ...]  # cumulative class shares (sampling.class_boundaries)
    min_confidence: float
    max_attempts: int
    batch_size: int
    metadata: dict[str, str]  # footer metadata of every part file
    precision: str = "fp32"  # "fp32" or "bf16" (resolved: never "auto"; see augment/core/precision.py)
    temperature: float = 1.0  # latents ~ N(0, temperature^2)
    keep_share: float = 0.0  # per class, the least share of draws kept (model_check.class_thresholds)
    # Each class's confidence threshold, settled by the pre-flight before any part is made; empty:
    # min_confidence for every class.
    thresholds: tuple[float, ...] = ()

    def threshold_of_each_class(self) -> tuple[float, ...]:
        return self.thresholds or (self.min_confidence,) * len(self.boundaries)


# Rows live one folder down, so the dataset card (README.md) beside them is not read as Parquet by
# `pq.read_table(OUT/train)`, and Hugging Face names the split after the folder.
PARTS_FOLDER = "train"


def part_name(index: int) -> str:
    """A part's path inside the output folder."""
    return f"{PARTS_FOLDER}/part-{index:05d}.parquet"


def part_bounds(n: int, rows_per_file: int) -> list[tuple[int, int]]:
    """[start, stop) id ranges of the parts: as few as rows_per_file allows, sizes within one row."""
    parts = -(-n // rows_per_file)
    return [(k * n // parts, (k + 1) * n // parts) for k in range(parts)]
