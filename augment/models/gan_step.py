"""One GAN update (D step, then G step), pure PyTorch: the Ray Train loop and the plain
single-process benchmark loop call the same code.

DDP notes (G and D are separate DDP modules when there are several workers):
- D runs once on cat(real, fake) for its step: one forward, one backward, one all-reduce.
- The G step runs the *unwrapped* D: D is not updated by that step, so all-reducing its
  gradients would be wasted traffic; the local D gradients it leaves are cleared by the next
  D step's zero_grad. G's gradients are all-reduced by G's DDP wrapper.
- G has BatchNorm and sees exactly one forward per step, so broadcast_buffers (on by default)
  never modifies a buffer between a forward and its backward; D has no BatchNorm at all.
- With DiffAugment the D step augments cat(real, fake) in one call: real and fake draw their
  transforms from the same distribution, which is all the method asks.

Precision: with `autocast_dtype` (bf16) the forward passes run under torch.autocast; weights,
gradients, optimizer state and the EMA stay fp32, and the losses are computed from fp32 logits.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from augment.models.diff_augment import diff_augment

LOSSES = ("bce", "hinge")
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16}  # a resolved --precision -> GanStep.autocast_dtype
STAT_NAMES = ("loss_d", "loss_g", "d_real", "d_fake", "acc_real", "acc_fake")


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def discriminator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()  # BCE with logits


def generator_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    if kind == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()  # non-saturating: maximise log D(G(z))


def make_ema(generator: nn.Module, decay: float) -> WarmedUpEma:
    """EMA of G's weights *and* BatchNorm statistics, used for samples and export."""
    return WarmedUpEma(unwrap(generator), decay)


class WarmedUpEma(AveragedModel):
    """AveragedModel (its state_dict: `module.*` and `n_averaged`) whose decay warms up as
    min(decay, (1 + t) / (10 + t)) after t updates: a fixed 0.999 still weighs the random initial
    weights at 63% after one MNIST epoch (468 steps), and the epoch-1 sample grid came out flat grey.

    One fused `_foreach_lerp_` per update, and the update count read from a CPU buffer: the stock
    update with a custom avg_fn runs one kernel per tensor and moves the count to the GPU for each
    (a host-device sync per tensor, ~14 per step on CUDA).
    """

    def __init__(self, generator: nn.Module, decay: float) -> None:
        super().__init__(generator, use_buffers=True)
        self.decay = decay

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        updates = int(self.n_averaged)  # a CPU tensor: no sync
        averaged = [*self.module.parameters(), *self.module.buffers()]
        current = [t.detach() for t in (*model.parameters(), *model.buffers())]
        floats = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
        for a, c in zip(averaged, current):
            if updates == 0 or not a.is_floating_point():  # the first update copies; counters are copied
                a.copy_(c)
        if updates > 0 and floats:
            rate = min(self.decay, (1.0 + updates) / (10.0 + updates))
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], 1.0 - rate)
        self.n_averaged += 1


@dataclass
class GanStep:
    generator: nn.Module  # possibly DDP-wrapped
    discriminator: nn.Module  # possibly DDP-wrapped
    g_optimizer: torch.optim.Optimizer
    d_optimizer: torch.optim.Optimizer
    ema: WarmedUpEma
    loss: str
    latent_dim: int
    augment_policy: tuple[str, ...] = ()  # DiffAugment on everything D sees (diff_augment.py); () = off
    autocast_dtype: torch.dtype | None = None  # torch.bfloat16: forward passes under autocast; None: fp32

    def _forward_precision(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)

    def __call__(self, real: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Update D then G on one batch; returns the STAT_NAMES as one detached tensor."""
        batch = real.size(0)
        z = torch.randn(batch, self.latent_dim, device=real.device)
        with self._forward_precision(real.device):
            fake = self.generator(z, labels)
            seen = diff_augment(torch.cat([real, fake.detach().to(real.dtype)]), self.augment_policy)
            logits = self.discriminator(seen, torch.cat([labels, labels])).float()
        real_logits, fake_logits = logits[:batch], logits[batch:]
        loss_d = discriminator_loss(self.loss, real_logits, fake_logits)
        self.d_optimizer.zero_grad(set_to_none=True)
        loss_d.backward()
        self.d_optimizer.step()

        with self._forward_precision(real.device):
            fake_logits_for_g = unwrap(self.discriminator)(diff_augment(fake, self.augment_policy), labels).float()
        loss_g = generator_loss(self.loss, fake_logits_for_g)
        self.g_optimizer.zero_grad(set_to_none=True)
        loss_g.backward()
        self.g_optimizer.step()
        self.ema.update_parameters(unwrap(self.generator))

        with torch.no_grad():
            return torch.stack(
                [
                    loss_d.detach(),
                    loss_g.detach(),
                    torch.sigmoid(real_logits).mean(),
                    torch.sigmoid(fake_logits).mean(),
                    (real_logits > 0).float().mean(),
                    (fake_logits < 0).float().mean(),
                ]
            )
