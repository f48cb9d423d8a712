"""Training state on disk without pickled code: `torch.save` of plain state dicts, always loaded
with `weights_only=True`, so a tampered checkpoint cannot execute anything when read."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from augment.core.errors import AugmentError

STATE_FILE = "state.pt"


def save_state(folder: str | Path, state: dict[str, Any]) -> None:
    torch.save(state, Path(folder) / STATE_FILE)


def load_state(folder: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(folder) / STATE_FILE
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AugmentError(
            f"refusing to load {path}: it holds more than tensors and plain containers "
            f"(pickled code or objects), which augment never writes ({first[:160]})"
        ) from None
