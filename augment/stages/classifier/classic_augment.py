"""Classic image augmentation: the baseline a user tries before synthetic data, for whole batches.

The distortions of torchvision's per-image recipe (`v2.RandomAffine(degrees=10, translate=(0.1,
0.1), scale=(0.9, 1.1), shear=8)`, then for half the images `v2.ElasticTransform(alpha=34,
sigma=4)`, Simard et al.'s MNIST settings), drawn from the same distributions, but applied to a
whole batch with one `affine_grid` + one `grid_sample`: the elastic field is added to the identity
grid and the affine map applied to the sum, so both distortions cost one bilinear resampling. The
per-image transforms cost ~1 ms per image on one core, more than training on it.

Every row's draw is a pure function of (seed, epoch, source, id) through a counter-based hash, not
of a generator's state: the same run makes the same images whatever the workers, batch size or
shuffle, and each epoch makes new ones.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

DEGREES = 10.0
TRANSLATE = 0.1  # of the image side; torchvision rounds the shift to whole pixels
SCALE = (0.9, 1.1)
SHEAR = 8.0  # x-shear only, as torchvision reads a single number
ELASTIC_P = 0.5
ELASTIC_ALPHA, ELASTIC_SIGMA = 34.0, 4.0
SIDE = 28

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijective scramble of uint64 values."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def row_keys(seed: int, epoch: int, sources: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """One uint64 key per row from (seed, epoch, source, id)."""
    with np.errstate(over="ignore"):
        key = _mix(np.full(len(ids), (seed * 0x9E3779B97F4A7C15 + epoch) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64))
        key = _mix(key ^ np.asarray(sources, dtype=np.uint64))
        return _mix(key ^ (np.asarray(ids, dtype=np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))


def uniforms(keys: np.ndarray, count: int) -> np.ndarray:
    """(N, count) uniforms in [0, 1), the k-th a hash of (key, k)."""
    with np.errstate(over="ignore"):
        counters = np.arange(1, count + 1, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)
        bits = _mix(keys[:, None] ^ counters[None, :])
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


@torch.no_grad()
def draw(keys: np.ndarray) -> dict[str, torch.Tensor]:
    """Each row's distortion parameters, with torchvision's distributions."""
    u = torch.from_numpy(uniforms(keys, 6))
    max_shift = TRANSLATE * SIDE
    params = {
        "angle": (u[:, 0] * 2 - 1) * DEGREES,
        "tx": torch.round((u[:, 1] * 2 - 1) * max_shift),
        "ty": torch.round((u[:, 2] * 2 - 1) * max_shift),
        "scale": SCALE[0] + u[:, 3] * (SCALE[1] - SCALE[0]),
        "shear": (u[:, 4] * 2 - 1) * SHEAR,
        "elastic": u[:, 5] < ELASTIC_P,
    }
    displacement = torch.zeros(len(keys), SIDE, SIDE, 2)
    elastic = params["elastic"].numpy()
    if elastic.any():  # a field only for the rows that get one: half the hashing
        noise = torch.from_numpy(_uniforms32(_mix(keys[elastic] ^ np.uint64(0x5851F42D4C957F2D)), 2 * SIDE * SIDE))
        displacement[torch.from_numpy(elastic)] = _elastic_field(noise.view(-1, 2, SIDE, SIDE) * 2 - 1)
    params["displacement"] = displacement
    return params


def _uniforms32(keys: np.ndarray, count: int) -> np.ndarray:
    """(N, count) float32 uniforms in [0, 1): two per 64-bit hash (float32 needs only 24 bits)."""
    with np.errstate(over="ignore"):
        counters = np.arange(1, (count + 1) // 2 + 1, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)
        bits = _mix(keys[:, None] ^ counters[None, :]).view(np.uint32)[:, :count]
    return (bits >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


_BLUR: torch.Tensor | None = None


def _blur_matrix() -> torch.Tensor:
    """torchvision's Gaussian blur (kernel 33, sigma 4, reflect padding) along one axis, as the
    (28, 28) matrix it is: a blur of every row with the same unit vector is that matrix's column.
    Two small matrix products then blur a batch ~100x faster than the convolution (2.5 ms/image)."""
    global _BLUR
    if _BLUR is None:
        from torchvision.transforms.v2 import functional as TF

        size = int(8 * ELASTIC_SIGMA + 1) | 1
        basis = torch.eye(SIDE, dtype=torch.float64).view(SIDE, 1, 1, SIDE).expand(SIDE, 1, SIDE, SIDE)
        blurred = TF.gaussian_blur(basis.contiguous(), [size, size], [ELASTIC_SIGMA, ELASTIC_SIGMA])
        _BLUR = blurred[:, 0, 0, :].T.float().contiguous()  # column j = blur of unit vector j
    return _BLUR


def _elastic_field(noise: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) uniform noise in [-1, 1] -> (N, H, W, 2) displacement in grid units, as torchvision."""
    blur = _blur_matrix()
    blurred = blur @ noise @ blur.T
    return (blurred * ELASTIC_ALPHA / SIDE).permute(0, 2, 3, 1)


def affine_theta(params: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N, 2, 3) output -> input maps in `affine_grid`'s normalized coordinates: torchvision's
    inverse affine matrix (rotation, x-shear, scale about the centre, then the shift)."""
    rot, sx = torch.deg2rad(params["angle"].double()), torch.deg2rad(params["shear"].double())
    scale = params["scale"].double()
    a, b = torch.cos(rot), -torch.cos(rot) * torch.tan(sx) - torch.sin(rot)
    c, d = torch.sin(rot), -torch.sin(rot) * torch.tan(sx) + torch.cos(rot)
    m = torch.stack([d, -b, -c, a], dim=1).view(-1, 2, 2) / scale.view(-1, 1, 1)
    shift = torch.stack([params["tx"].double(), params["ty"].double()], dim=1)
    offset = -(m @ shift.unsqueeze(2)).squeeze(2) / (SIDE / 2)
    return torch.cat([m, offset.unsqueeze(2)], dim=2).float()


@torch.no_grad()
def distort(images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N, 28, 28) uint8 -> (N, 28, 28) uint8 with each row's affine + elastic distortion."""
    n = len(images)
    params = {
        key: value.to(images.device) for key, value in params.items()
    }  # drawn on the CPU; applied where the images are
    identity = torch.eye(2, 3, device=images.device).expand(n, 2, 3)
    base = F.affine_grid(identity, [n, 1, SIDE, SIDE], align_corners=False)
    moved = base + params["displacement"]
    theta = affine_theta(params)
    grid = moved @ theta[:, :, :2].transpose(1, 2).unsqueeze(1) + theta[:, :, 2].view(n, 1, 1, 2)
    out = F.grid_sample(images.unsqueeze(1).float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.squeeze(1).round_().clamp_(0, 255).to(torch.uint8)


def augment_batch(images: np.ndarray | torch.Tensor, keys: np.ndarray) -> torch.Tensor:
    """A batch of uint8 images, each distorted by the draw of its key."""
    images = torch.as_tensor(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) else images
    return distort(images, draw(keys))
