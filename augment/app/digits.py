"""Digits on demand: chosen classes, a seed, temperature and truncation -> images with the judge's
confidence, as a PNG grid or a schema-v2 Parquet file.

Latents come from `sampling.latents_for(i, seed)` like the generation job's, so digit i of a
request is reproducible from the request alone. Temperature scales the latent (below 1: more
typical digits, above 1: more varied); truncation redraws every latent component beyond ±t (the
"truncation trick": fewer odd samples at some loss of variety).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
import torch

from augment.core import schema
from augment.core.errors import AugmentError
from augment.stages.synthetic.sampling import latents_for
from augment.stages.synthetic.synthesis import DigitScorer

MAX_DIGITS = 2_000  # a page of images, not a dataset: `augment generate` makes millions
TRUNCATION_REDRAWS = 8  # redraws before the rare leftover beyond ±t is clipped


@dataclass(frozen=True)
class DigitRequest:
    classes: tuple[int, ...]
    count: int
    seed: int = 0
    temperature: float = 1.0
    truncation: float | None = None  # None: no truncation

    def check(self, num_classes: int) -> None:
        if not self.classes:
            raise AugmentError("choose at least one class")
        bad = [c for c in self.classes if not 0 <= c < num_classes]
        if bad:
            raise AugmentError(f"class {bad[0]} is not one of the generator's classes 0-{num_classes - 1}")
        if not 1 <= self.count <= MAX_DIGITS:
            raise AugmentError(
                f"how many must be 1-{MAX_DIGITS} (got {self.count}); use `augment generate` for datasets"
            )
        if not 0.0 < self.temperature <= 3.0:
            raise AugmentError(f"temperature must be in (0, 3] (got {self.temperature})")
        if self.truncation is not None and self.truncation <= 0.0:
            raise AugmentError(f"truncation must be positive (got {self.truncation})")


@dataclass(frozen=True)
class Digits:
    request: DigitRequest
    images: np.ndarray  # (N, 28, 28) uint8, exactly what a Parquet row stores
    labels: np.ndarray  # (N,) int64
    confidence: np.ndarray | None  # (N,) judge probability of the label; None without a judge
    generator_sha256: str
    dataset: str


def request_labels(request: DigitRequest) -> np.ndarray:
    """Contiguous runs of each chosen class, sizes within one of each other."""
    classes = np.asarray(sorted(set(request.classes)), dtype=np.int64)
    return classes[np.arange(request.count) * len(classes) // request.count]


def request_latents(request: DigitRequest, dim: int) -> torch.Tensor:
    ids = np.arange(request.count)
    z = latents_for(ids, request.seed, dim)
    if request.truncation is not None:
        limit = request.truncation
        for attempt in range(1, TRUNCATION_REDRAWS + 1):
            outside = z.abs() > limit
            if not outside.any():
                break
            z = torch.where(outside, latents_for(ids, request.seed, dim, attempt), z)
        z = z.clamp(-limit, limit)
    return z * request.temperature


def make_digits(scorer: DigitScorer, request: DigitRequest) -> Digits:
    request.check(scorer.num_classes)
    labels = request_labels(request)
    images, confidence = scorer.score(request_latents(request, scorer.latent_dim), labels)
    dataset = scorer.generator_info.get("dataset", "mnist")
    return Digits(request, images, labels, confidence, scorer.generator_sha256, dataset)


def digits_table(digits: Digits):
    metadata = schema.file_metadata(
        digits.dataset, generator=digits.generator_sha256, run_config={"app": asdict(digits.request)}
    )
    return schema.make_table(
        np.arange(len(digits.labels)),
        digits.images,
        digits.labels,
        source="synthetic",
        metadata=metadata,
        confidence=digits.confidence,
        generator=digits.generator_sha256,
    )


def digits_parquet(digits: Digits) -> bytes:
    return schema.parquet_bytes(digits_table(digits))


def digits_png(digits: Digits, per_row: int = 10) -> bytes:
    from torchvision.utils import save_image

    images = torch.from_numpy(digits.images).unsqueeze(1).float() / 255.0
    buffer = io.BytesIO()
    save_image(images, buffer, format="png", nrow=per_row, padding=2, pad_value=1.0)
    return buffer.getvalue()


def enlarged(images: np.ndarray, factor: int = 3) -> np.ndarray:
    """Nearest-neighbour upscaling: browsers blur a 28-pixel image shown larger."""
    return images.repeat(factor, axis=-2).repeat(factor, axis=-1)
