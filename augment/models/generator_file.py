"""The exported generator: `generator.safetensors` (EMA weights) + `generator.json` (spec and
provenance). This pair is the contract the generation job reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augment.models.weights_file import info_name, load_module, read_info, save_module, weights_name

if TYPE_CHECKING:  # torch loads with the model, not with this module (read_generator_info needs none)
    import torch
    from torch import nn

    from augment.models.gan import GanSpec

NAME = "generator"
WEIGHTS_FILE = weights_name(NAME)
INFO_FILE = info_name(NAME)


def export_generator(uri: str, generator: nn.Module, spec: GanSpec, **provenance: Any) -> dict[str, Any]:
    return save_module(uri, NAME, generator, spec.to_dict(), **provenance)


_DESCRIBED = {"what": "exported generator", "missing_hint": "not a GAN run, or training not finished?"}


def read_generator_info(uri: str) -> dict[str, Any]:
    """generator.json, with the weights checked present and matching its digest (no torch)."""
    return read_info(uri, NAME, **_DESCRIBED)[0]


def load_generator(uri: str, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The generator in eval mode and its info; refuses a weights file whose digest does not match."""
    from augment.models.gan import GanSpec, build_generator

    generator, info = load_module(uri, NAME, lambda spec: build_generator(GanSpec.from_dict(spec)), **_DESCRIBED)
    return generator.to(device).eval(), info
