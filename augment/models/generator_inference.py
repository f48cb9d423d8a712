"""The generator's inference form: the same function as the eval-mode generator, rearranged for
throughput. Generation spends most of its time in the generator, so this is where images/s are won
(measured on one CPU thread, 512 images, dcgan: fp32 165 -> ~120 ms; bf16 on an AMX CPU ~30 ms).

- The label half of the projection's input is one of `num_classes` embeddings, so its product with
  the weights is a (num_classes, features) table computed once: half the projection's multiply-adds go.
- The BatchNorm1d after the projection is an affine map in eval mode and folds into it.
- Conv archs run channels_last: oneDNN's transposed convolution is ~1.4x faster in that layout
  (87 vs 124 ms for the 128->64 layer). The projection's output features are reordered (C, H, W) ->
  (H, W, C), so its (N, features) output already *is* the channels_last 7x7 map: a view, no copy.
- In fp32, BatchNorm2d stays a separate module: folding it into the transposed conv gives that conv
  a bias, and oneDNN's biased channels_last fp32 path lost the gain. In bf16 it folds (measured no
  slower, and one rounding fewer than a bf16 BatchNorm), before the cast.
- ReLUs are fast_ops.Relu (exact; bf16 clamped through its int16 bits).
- The last transposed conv (64 -> 1 channel) is a matmul and an overlap-add (F.fold): oneDNN's
  transposed conv is slow with one output channel (fp32 23 -> 7 ms, bf16 6.7 -> 4 ms). Its sums
  are added and returned in fp32 in either precision, so bf16 pixels lose no more bits there.
Outputs match the plain generator to ~3e-6 in fp32 (float reassociation): a few pixels in a
million land one uint8 step apart, which is why generation always uses this form, never a mix.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_weights

from augment.models.fast_ops import Relu, relu_
from augment.models.gan import ConvGenerator, MlpGenerator


class ChannelsLastMap(nn.Module):
    """(N, H*W*C) features in (H, W, C) order -> the (N, C, H, W) channels_last view of them."""

    def __init__(self, channels: int, height: int, width: int):
        super().__init__()
        self.shape = (height, width, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(-1, *self.shape).permute(0, 3, 1, 2)


class FoldedGenerator(nn.Module):
    """noise @ W_noise^T + table[label] (projection, label embedding and BatchNorm1d in one), then the
    rest of the generator. `feature_order` permutes the projection's output features."""

    def __init__(
        self,
        embed: nn.Embedding,
        linear: nn.Linear,
        norm: nn.BatchNorm1d,
        rest: nn.Module,
        feature_order: torch.Tensor | None = None,
    ):
        super().__init__()
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        shift = norm.bias - norm.running_mean * scale
        if linear.bias is not None:
            shift = shift + linear.bias * scale
        weight = linear.weight * scale[:, None]
        if feature_order is not None:
            weight, shift = weight[feature_order], shift[feature_order]
        latent_dim = linear.in_features - embed.embedding_dim  # input is cat(noise, embed(label))
        self.register_buffer("noise_weight", weight[:, :latent_dim].detach().clone())
        self.register_buffer("class_table", (embed.weight @ weight[:, latent_dim:].T + shift).detach().clone())
        self.rest = rest

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.rest(torch.addmm(self.class_table[labels], z, self.noise_weight.T))


class TransposedConvAsMatmul(nn.Module):
    """A ConvTranspose2d as (N*H*W, Cin) @ (Cin, Cout*k*k) and F.fold's overlap-add, summed in fp32."""

    def __init__(self, conv: nn.ConvTranspose2d):
        super().__init__()
        assert conv.groups == 1 and conv.dilation == (1, 1) and conv.output_padding == (0, 0)
        cin, cout, kh, kw = conv.weight.shape
        self.register_buffer("weight", conv.weight.detach().reshape(cin, cout * kh * kw).clone())
        # a plain attribute, not a buffer: module.to(bf16) casts the weight, the fp32 sums keep an fp32 bias
        self.bias = None if conv.bias is None else conv.bias.detach().float().clone()
        self.kernel, self.stride, self.padding = (kh, kw), conv.stride, conv.padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, cin, h, w = x.shape
        cols = x.permute(0, 2, 3, 1).reshape(n * h * w, cin) @ self.weight  # a view when x is channels_last
        return self.overlap_add(cols.view(n, h * w, -1), h, w)

    def overlap_add(self, cols: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(N, H*W, Cout*k*k) products, input positions row-major -> (N, Cout, H', W') fp32 output."""
        size = [(d - 1) * s - 2 * p + k for d, s, p, k in zip((h, w), self.stride, self.padding, self.kernel)]
        out = F.fold(cols.transpose(1, 2).float(), size, self.kernel, padding=self.padding, stride=self.stride)
        if self.bias is None:
            return out
        if self.bias.device != out.device:  # moved once: the module's .to(device) does not see it
            self.bias = self.bias.to(out.device)
        return out.add_(self.bias.view(1, -1, 1, 1))


# ConvTranspose2d(kernel 4, stride 2, padding 1): output row 2m + a sums input rows m - 1 + a + u
# (u = 0, 1) through kernel rows PHASE_TAPS[a][u]; the same for columns.
PHASE_TAPS = ((3, 1), (2, 0))


class SubPixelTail(nn.Module):
    """[ConvTranspose2d(4, 2, 1) with bias, ReLU, TransposedConvAsMatmul] for bf16, the same function.

    The upsampling transposed conv becomes one 2x2 conv (padding 1) whose 4*C output channels are
    the four output phases (even/odd rows x even/odd columns): oneDNN runs that conv on AMX about
    twice as fast as the transposed conv (6.9 vs 13.6 ms, 512 images, one thread). The phases are
    never interleaved into a 14x14 map: the last layer's matmul runs on them as they lie (it does not
    care where a row comes from), and only its 4x smaller products are put in spatial order, by one
    strided copy, for the overlap-add. Not used in fp32, where that conv is no faster.
    """

    def __init__(self, up: nn.ConvTranspose2d, last: TransposedConvAsMatmul):
        super().__init__()
        assert (up.kernel_size, up.stride, up.padding) == ((4, 4), (2, 2), (1, 1)) and up.bias is not None
        cin, cout = up.weight.shape[:2]
        weight = up.weight.detach()
        phases = torch.empty(2, 2, cout, cin, 2, 2, dtype=weight.dtype, device=weight.device)
        for a, b, u, v in ((a, b, u, v) for a in (0, 1) for b in (0, 1) for u in (0, 1) for v in (0, 1)):
            phases[a, b, :, :, u, v] = weight[:, :, PHASE_TAPS[a][u], PHASE_TAPS[b][v]].T
        self.register_buffer(
            "phase_weight", phases.reshape(4 * cout, cin, 2, 2).contiguous(memory_format=torch.channels_last)
        )
        self.register_buffer("phase_bias", up.bias.detach().repeat(4))
        self.channels = cout
        self.last = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = relu_(F.conv2d(x, self.phase_weight, self.phase_bias, padding=1))  # (N, 4C, H+1, W+1) channels_last
        n, _, hp, wp = y.shape
        h, w = hp - 1, wp - 1
        products = y.permute(0, 2, 3, 1).reshape(-1, self.channels) @ self.last.weight  # rows (n, i, j, a, b)
        k = products.shape[1]
        s = products.view(n, hp, wp, 2, 2, k).stride()
        # output pixel (2m + a, 2j + b) is phase (a, b) at conv position (m + a, j + b)
        spatial = products.as_strided((n, h, 2, w, 2, k), (s[0], s[1], s[1] + s[3], s[2], s[2] + s[4], 1))
        return self.last.overlap_add(spatial.reshape(n, 4 * h * w, k), 2 * h, 2 * w)


def _fold_batchnorm_into(conv: nn.ConvTranspose2d, norm: nn.BatchNorm2d) -> nn.ConvTranspose2d:
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(
        conv.weight,
        conv.bias,
        norm.running_mean,
        norm.running_var,
        norm.eps,
        norm.weight,
        norm.bias,
        transpose=True,
    )
    return fused


def for_inference(generator: nn.Module, dtype: torch.dtype = torch.float32) -> nn.Module:
    """An eval-mode copy of `generator` in its fastest equivalent form for `dtype` (float32 or
    bfloat16; feed it latents of that dtype). The original is untouched."""
    generator = copy.deepcopy(generator).eval()
    order = None
    if isinstance(generator, ConvGenerator):
        linear, norm, _relu = generator.project
        channels = 2 * generator.width
        order = (
            torch.arange(channels * 7 * 7, device=linear.weight.device)
            .view(channels, 7, 7)
            .permute(1, 2, 0)
            .reshape(-1)
        )
        body = [Relu() if isinstance(m, nn.ReLU) else m for m in generator.body]
        body[-2] = TransposedConvAsMatmul(body[-2])  # the last layer, to image channels
        if dtype != torch.float32:
            body[0:2] = [_fold_batchnorm_into(body[0], body[1])]
            if isinstance(body[2], nn.Identity):  # no attention between the two upsamplings (dcgan)
                body[0:4] = [SubPixelTail(body[0], body[3])]
        rest = nn.Sequential(Relu(), ChannelsLastMap(channels, 7, 7), *body).to(memory_format=torch.channels_last)
    elif isinstance(generator, MlpGenerator):
        linear, norm, *layers = generator.body
        rest = nn.Sequential(*layers, nn.Unflatten(1, generator.image_shape))
    else:
        raise TypeError(f"no inference form for {type(generator).__name__}")
    with torch.no_grad():
        return FoldedGenerator(generator.embed, linear, norm, rest, order).to(dtype).eval()
