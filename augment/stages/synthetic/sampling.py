"""What synthetic row `i` is, from `i` alone: its class and its latent vector.

Nothing here depends on batch boundaries, worker counts or the order rows are made in, so any
slice of a generation can be recomputed by itself and the output is the same on every layout.

Labels: row i sits at position p(i) = (i * A) mod n of a golden-ratio permutation of 0..n-1, and
takes the class whose slice of the cumulative class weights holds (p + 0.5) / n. Each class gets
its share of n within one row (exact balance by default), and consecutive ids cycle through all
classes, so any contiguous slice is itself nearly balanced.

Latents: rows are grouped in aligned blocks of 64 ids; block b's latents are torch.randn(64, dim)
from a CPU generator seeded with splitmix64(seed, attempt, b). One seeded generator per 64 rows is
~10x faster than hashing every number (1M rows: ~1 s), and drawing on the CPU gives GPU runs the
same latents. `attempt` > 0 gives a row fresh latents when the judge rejected the previous ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # labels need numpy only: the generate driver plans them without loading torch
    import torch

MAX_ROWS = 1 << 32  # keeps i * A below 2**64 in the label permutation
LATENT_BLOCK = 64
_MASK = (1 << 64) - 1


def class_boundaries(num_classes: int, weights: Sequence[float] | None) -> np.ndarray:
    """Cumulative class shares ending at exactly 1.0 (balanced when `weights` is None)."""
    w = np.ones(num_classes) if weights is None else np.asarray(weights, dtype=np.float64)
    cumulative = np.cumsum(w) / w.sum()
    cumulative[-1] = 1.0
    return cumulative


def _coprime_stride(n: int) -> int:
    stride = max(1, round(n * (math.sqrt(5) - 1) / 2))
    while math.gcd(stride, n) != 1:
        stride += 1
    return stride


def labels_for(ids: np.ndarray, n: int, boundaries: np.ndarray) -> np.ndarray:
    """Class of each row id in a generation of n rows (int64)."""
    ids = np.asarray(ids, dtype=np.uint64)
    position = (ids * np.uint64(_coprime_stride(n))) % np.uint64(n)
    quantile = (position.astype(np.float64) + 0.5) / n
    return np.searchsorted(boundaries, quantile, side="right").astype(np.int64)


def expected_counts(n: int, boundaries: np.ndarray) -> np.ndarray:
    """Rows per class that labels_for assigns over ids 0..n-1 (no need to enumerate them)."""
    # Positions form a permutation of 0..n-1, so count quantiles (p + 0.5) / n per class slice.
    edges = np.concatenate([[0.0], boundaries])
    below = np.ceil(edges * n - 0.5).clip(0, n).astype(np.int64)  # positions with quantile < edge
    below[-1] = n
    return np.diff(below)


def _mix(x: int) -> int:
    """splitmix64's finaliser: a bijection on 64-bit integers that scatters nearby inputs."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _block_latents(seed: int, attempt: int, block: int, dim: int) -> torch.Tensor:
    import torch

    key = _mix(_mix(_mix(seed) + attempt) ^ block) >> 1  # torch seeds are < 2**63
    return torch.randn(LATENT_BLOCK, dim, generator=torch.Generator().manual_seed(key))


def latents_for(ids: np.ndarray, seed: int, dim: int, attempt: int = 0) -> torch.Tensor:
    """Standard-normal latents (len(ids), dim), float32 on the CPU, for any set of row ids."""
    import torch

    ids = np.asarray(ids, dtype=np.int64)
    blocks, which = np.unique(ids // LATENT_BLOCK, return_inverse=True)
    table = torch.cat([_block_latents(seed, attempt, int(b), dim) for b in blocks])
    rows = which.reshape(-1) * LATENT_BLOCK + ids % LATENT_BLOCK
    return table.index_select(0, torch.from_numpy(rows))
