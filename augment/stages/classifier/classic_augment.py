"""Classic image augmentation: the baseline a user tries before synthetic data.

torchvision.transforms.v2 draws one set of random parameters per call, so each image is
transformed on its own: small rotations, shifts, zoom and shear (RandomAffine) and, for half the
images, an elastic distortion with Simard et al.'s MNIST settings (alpha 34, sigma 4). About 1 ms
per image on one CPU core.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms import v2

TRANSFORM = v2.Compose([
    v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=8),
    v2.RandomApply([v2.ElasticTransform(alpha=34.0, sigma=4.0)], p=0.5),
])


def augment_images(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 28, 28) uint8, every image transformed with its own random draw."""
    batch = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)
    return torch.stack([TRANSFORM(image) for image in batch]).squeeze(1).numpy()
