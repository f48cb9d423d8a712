"""A model on storage as a pair: `NAME.safetensors` (weights) + `NAME.json` (spec, sha256 of the
weights, provenance). safetensors holds tensors only, so loading can never run code; the JSON is
written last and names the weights' digest, so a half-written or swapped pair is detected."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from augment.core import storage
from augment.core.errors import AugmentError

if TYPE_CHECKING:  # torch loads only where weights are saved or loaded: see read_info
    from torch import nn


def weights_name(name: str) -> str:
    return f"{name}.safetensors"


def info_name(name: str) -> str:
    return f"{name}.json"


def save_module(uri: str, name: str, module: nn.Module, spec: dict[str, Any], **provenance: Any) -> dict[str, Any]:
    from safetensors.torch import save as save_safetensors

    fs, folder = storage.resolve(uri)
    tensors = {key: t.detach().cpu().contiguous() for key, t in module.state_dict().items()}
    blob = save_safetensors(tensors)
    info = {"spec": spec, "sha256": hashlib.sha256(blob).hexdigest(), **provenance}
    storage.delete(fs, storage.join(folder, info_name(name)))
    storage.write_bytes_atomic(fs, storage.join(folder, weights_name(name)), blob)
    storage.write_bytes_atomic(fs, storage.join(folder, info_name(name)), json.dumps(info, indent=2).encode())
    return info


def read_info(uri: str, name: str, *, what: str, missing_hint: str) -> tuple[dict[str, Any], bytes]:
    """NAME.json and the weights it vouches for (present, digest matching), or one clear line.

    Needs no torch, so a driver that only plans and schedules can check a model pair without paying
    for torch (~300 MB per process); whether the spec fits the weights needs load_module.
    """
    fs, folder = storage.resolve(uri)
    info_path = storage.join(folder, info_name(name))
    if storage.file_type(fs, info_path).name != "File":
        raise AugmentError(f"{uri} holds no {what} ({info_name(name)} missing: {missing_hint})")
    try:
        info = json.loads(storage.read_bytes(fs, info_path))
    except ValueError as exc:
        raise AugmentError(f"{uri}/{info_name(name)} is not a valid {what} description ({exc})") from None
    missing = [key for key in ("spec", "sha256") if not isinstance(info, dict) or key not in info]
    if missing:
        raise AugmentError(f"{uri}/{info_name(name)} is not a valid {what} description (no {', '.join(missing)})")
    weights_path = storage.join(folder, weights_name(name))
    if storage.file_type(fs, weights_path).name != "File":
        raise AugmentError(f"{uri} has {info_name(name)} but no {weights_name(name)}")
    blob = storage.read_bytes(fs, weights_path)
    if hashlib.sha256(blob).hexdigest() != info["sha256"]:
        raise AugmentError(
            f"{uri}/{weights_name(name)} does not match the sha256 in {info_name(name)}: corrupt or replaced"
        )
    return info, blob


def load_module(
    uri: str, name: str, build: Callable[[dict[str, Any]], nn.Module], *, what: str, missing_hint: str
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the module from its JSON spec and load the weights, or fail with one clear line."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    info, blob = read_info(uri, name, what=what, missing_hint=missing_hint)
    try:
        module = build(info["spec"])
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
