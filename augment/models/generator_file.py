"""The exported generator: `generator.safetensors` (EMA weights) + `generator.json` (spec and
provenance). This pair is the contract the generation job reads."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from augment.models.gan import GanSpec, build_generator
from augment.models.weights_file import info_name, load_module, save_module, weights_name

NAME = "generator"
WEIGHTS_FILE = weights_name(NAME)
INFO_FILE = info_name(NAME)


def export_generator(uri: str, generator: nn.Module, spec: GanSpec, **provenance: Any) -> dict[str, Any]:
    return save_module(uri, NAME, generator, spec.to_dict(), **provenance)


def load_generator(uri: str, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The generator in eval mode and its info; refuses a weights file whose digest does not match."""
    generator, info = load_module(
        uri, NAME, lambda spec: build_generator(GanSpec.from_dict(spec)),
        what="exported generator", missing_hint="not a GAN run, or training not finished?",
    )
    return generator.to(device).eval(), info
