"""A model on storage as a pair: `NAME.safetensors` (weights) + `NAME.json` (spec, sha256 of the
weights, provenance). safetensors holds tensors only, so loading can never run code; the JSON is
written last and names the weights' digest, so a half-written or swapped pair is detected."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from augment import storage
from augment.errors import AugmentError


def weights_name(name: str) -> str:
    return f"{name}.safetensors"


def info_name(name: str) -> str:
    return f"{name}.json"


def save_module(uri: str, name: str, module: nn.Module, spec: dict[str, Any], **provenance: Any) -> dict[str, Any]:
    fs, folder = storage.resolve(uri)
    tensors = {key: t.detach().cpu().contiguous() for key, t in module.state_dict().items()}
    blob = save_safetensors(tensors)
    info = {"spec": spec, "sha256": hashlib.sha256(blob).hexdigest(), **provenance}
    storage.delete(fs, storage.join(folder, info_name(name)))
    storage.write_bytes_atomic(fs, storage.join(folder, weights_name(name)), blob)
    storage.write_bytes_atomic(fs, storage.join(folder, info_name(name)), json.dumps(info, indent=2).encode())
    return info


def load_module(
    uri: str, name: str, build: Callable[[dict[str, Any]], nn.Module], *, what: str, missing_hint: str
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the module from its JSON spec and load the weights, or fail with one clear line."""
    fs, folder = storage.resolve(uri)
    info_path = storage.join(folder, info_name(name))
    if storage.file_type(fs, info_path).name != "File":
        raise AugmentError(f"{uri} holds no {what} ({info_name(name)} missing: {missing_hint})")
    try:
        info = json.loads(storage.read_bytes(fs, info_path))
        spec = info["spec"]
        digest = info["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AugmentError(f"{uri}/{info_name(name)} is not a valid {what} description ({exc})") from None
    weights_path = storage.join(folder, weights_name(name))
    if storage.file_type(fs, weights_path).name != "File":
        raise AugmentError(f"{uri} has {info_name(name)} but no {weights_name(name)}")
    blob = storage.read_bytes(fs, weights_path)
    if hashlib.sha256(blob).hexdigest() != digest:
        raise AugmentError(f"{uri}/{weights_name(name)} does not match the sha256 in {info_name(name)}: corrupt or replaced")
    try:
        module = build(spec)
        module.load_state_dict(load_safetensors(blob))
    except (RuntimeError, TypeError, ValueError, SafetensorError) as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else (first[0] if first else type(exc).__name__)
        raise AugmentError(f"{uri}: {info_name(name)} does not match its weights ({detail[:200]})") from None
    return module, info


def sha256_of(uri: str, name: str) -> str:
    """The weights digest recorded in NAME.json (the identity of a trained model)."""
    fs, folder = storage.resolve(uri)
    return json.loads(storage.read_bytes(fs, storage.join(folder, info_name(name))))["sha256"]
