"""Element-wise inference ops that PyTorch's CPU kernels run slowly, rewritten to give exactly the
same values. Measured on one CPU thread (512 images, channels_last activations): bf16 element-wise
kernels run at half the fp32 speed (each element goes through fp32), and aten's max_pool2d also
computes argmax indices that inference never reads.
"""

from __future__ import annotations

import torch
from torch import nn


def relu_(x: torch.Tensor) -> torch.Tensor:
    """In-place ReLU. A bf16 tensor is clamped through its int16 bits: the sign bit makes every
    negative bf16 value (and -0) a negative int16 and leaves positives' order intact, so clamping at
    0 gives relu's values exactly (negatives and -0 become +0), 5x faster than relu_ on bf16 (0.45 vs 2.6 ms
    for a 512x64x14x14 map)."""
    if x.dtype == torch.bfloat16:
        x.view(torch.int16).clamp_min_(0)
        return x
    return x.relu_()


class Relu(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relu_(x)


class MaxPool2ThenRelu(nn.Module):
    """relu(max_pool2d(x, 2)) as two element-wise maxima of strided views: exactly the same values
    (max is exact; ReLU is monotonic, so pooling first does a quarter of its work), 1.3-3.6x faster
    than aten's max_pool2d (fp32 and bf16).

    bf16 maps are compared as their int16 bits (1.6x faster again): int16 order is bf16 order for
    non-negative values and puts every negative below every non-negative, so whenever the maximum
    is positive it is found exactly, and when it is not, the ReLU's clamp makes it 0 either way."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2  # floor, as MaxPool2d(2)
        as_bits = x.dtype == torch.bfloat16 and not x.requires_grad  # a dtype view has no gradient
        bits = x.view(torch.int16) if as_bits else x
        rows = torch.maximum(bits[..., 0:h:2, :w], bits[..., 1:h:2, :w])
        pooled = torch.maximum(rows[..., 0::2], rows[..., 1::2]).clamp_min_(0)
        return pooled.view(x.dtype) if as_bits else pooled
