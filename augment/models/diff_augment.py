"""Differentiable augmentation for GAN training on little data (DiffAugment, Zhao et al. 2020).

With ~1000 real images the discriminator tends to memorise them and stop teaching the generator
(the paper's finding). DiffAugment applies the same kind of random, differentiable transform to
*every* image D sees — real and fake, in D's step and in G's — so D cannot lean on pixel-exact
memories while G still learns the un-augmented distribution (the transforms never leak into G's
output because fakes are augmented only on their way into D).

Policies follow the paper's recommendation for small data: `translation` (shift by up to 1/8 of
the side) and `cutout` (blank a square of half the side). Pixels are in the GAN range [-1, 1]; the
background of MNIST-family digits is -1, so that is what shifted-in and cut-out areas get (the
paper's 0 would be mid grey here: a give-away D could learn).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("translation", "cutout")
BACKGROUND = -1.0


def parse_policy(text: str | None) -> tuple[str, ...]:
    """'translation,cutout' -> ('translation', 'cutout'); None or '' -> () (off)."""
    names = tuple(name.strip() for name in (text or "").split(",") if name.strip())
    unknown = [name for name in names if name not in POLICIES]
    if unknown:
        raise ValueError(f"unknown --diff-augment policy {unknown[0]!r}: choose from {', '.join(POLICIES)}")
    return names


def diff_augment(images: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    """Apply each policy in order, with independent random draws per image (torch's global RNG)."""
    for name in policy:
        images = translate(images) if name == "translation" else cutout(images)
    return images


def translate(images: torch.Tensor, ratio: float = 0.125, fill: float = BACKGROUND) -> torch.Tensor:
    n, _, height, width = images.shape
    reach_y, reach_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    padded = F.pad(images, (reach_x, reach_x, reach_y, reach_y), value=fill)
    shift_y = torch.randint(0, 2 * reach_y + 1, (n, 1, 1), device=images.device)
    shift_x = torch.randint(0, 2 * reach_x + 1, (n, 1, 1), device=images.device)
    rows = torch.arange(height, device=images.device).view(1, height, 1) + shift_y
    cols = torch.arange(width, device=images.device).view(1, 1, width) + shift_x
    batch = torch.arange(n, device=images.device).view(n, 1, 1)
    # Gather on an (N, H, W, C) view: one indexing op per batch, differentiable, channels_last out.
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(images: torch.Tensor, ratio: float = 0.5, fill: float = BACKGROUND) -> torch.Tensor:
    n, _, height, width = images.shape
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    # Square centres anywhere in the image, so a square may hang over the border (as in the paper).
    centre_y = torch.randint(0, height + (1 - size_y % 2), (n, 1, 1), device=images.device)
    centre_x = torch.randint(0, width + (1 - size_x % 2), (n, 1, 1), device=images.device)
    rows = torch.arange(height, device=images.device).view(1, height, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, width)
    inside_y = (rows >= centre_y - size_y // 2) & (rows < centre_y - size_y // 2 + size_y)
    inside_x = (cols >= centre_x - size_x // 2) & (cols < centre_x - size_x // 2 + size_x)
    return images.masked_fill((inside_y & inside_x).unsqueeze(1), fill)
