"""The exported generator: `generator.safetensors` (EMA weights) + `generator.json` (spec and
provenance). This pair is the contract the generation job reads; safetensors cannot carry code."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from augment import storage
from augment.errors import AugmentError
from augment.models.gan import GanSpec, build_generator

WEIGHTS_FILE = "generator.safetensors"
INFO_FILE = "generator.json"


def export_generator(uri: str, generator: nn.Module, spec: GanSpec, **provenance: Any) -> dict[str, Any]:
    """Write weights, then the JSON that names their sha256 (the JSON last marks the pair complete)."""
    fs, folder = storage.resolve(uri)
    tensors = {name: t.detach().cpu().contiguous() for name, t in generator.state_dict().items()}
    blob = save_safetensors(tensors, metadata={"arch": spec.arch})
    info = {"spec": spec.to_dict(), "sha256": hashlib.sha256(blob).hexdigest(), **provenance}
    storage.delete(fs, storage.join(folder, INFO_FILE))
    storage.write_bytes_atomic(fs, storage.join(folder, WEIGHTS_FILE), blob)
    storage.write_bytes_atomic(fs, storage.join(folder, INFO_FILE), json.dumps(info, indent=2).encode())
    return info


def load_generator(uri: str, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The generator in eval mode and its info; refuses a weights file whose digest does not match."""
    fs, folder = storage.resolve(uri)
    info_path = storage.join(folder, INFO_FILE)
    if storage.file_type(fs, info_path).name != "File":
        raise AugmentError(f"{uri} holds no exported generator ({INFO_FILE} missing: training not finished?)")
    info = json.loads(storage.read_bytes(fs, info_path))
    blob = storage.read_bytes(fs, storage.join(folder, WEIGHTS_FILE))
    if hashlib.sha256(blob).hexdigest() != info["sha256"]:
        raise AugmentError(f"{uri}/{WEIGHTS_FILE} does not match the sha256 in {INFO_FILE}: corrupt or replaced")
    generator = build_generator(GanSpec.from_dict(info["spec"]))
    generator.load_state_dict(load_safetensors(blob))
    return generator.to(device).eval(), info
