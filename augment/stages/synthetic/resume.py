"""Continuing a generation: the complete output made with these settings (skip it), or the complete
parts an interrupted run with the same settings left behind (checked by their footers)."""

from __future__ import annotations

import json

import numpy as np

from augment.core import manifest, schema, storage
from augment.core.card import CARD_NAME
from augment.core.errors import AugmentError
from augment.stages.synthetic.config import FOLDER, SyntheticConfig
from augment.stages.synthetic.parts import PARTS_FOLDER, part_name

KIND = FOLDER


def finished(cfg: SyntheticConfig, fs, out: str, identity: dict) -> dict | None:
    """The manifest of the complete output already made with these settings (skip it), if there is
    one; made with other settings, it is refused unless --overwrite. Precision "auto" accepts
    whichever format the hardware chose for it."""
    recorded = manifest.read_manifest(fs, out)
    if recorded is None or cfg.overwrite:
        return None
    if cfg.precision == "auto":
        identity = {**identity, "precision": (recorded.get("config") or {}).get("precision")}
    return manifest.finished_output(fs, out, uri=cfg.out, kind=KIND, identity=identity, owned=(), overwrite=False)


def remove_temporaries(fs, out: str) -> list:
    """Delete the temporaries killed writers left in train/ (`.part-*.tmp-*`, never visible to readers)
    and return the folder's other entries. Before a run reuses parts, and again once its parts are all
    written: a writer on a node lost mid-run leaves its temporary behind while Ray retries the part on
    another node, and downstream tools that list the folder should find only the parts."""
    found = storage.entries(fs, storage.join(out, PARTS_FOLDER))
    stale = [e for e in found if e.base_name.startswith(".part-") and ".tmp-" in e.base_name]
    for entry in stale:
        storage.delete(fs, entry.path)
    return [e for e in found if e not in stale]


def reusable_parts(cfg: SyntheticConfig, fs, out: str, identity: dict, bounds, num_classes: int) -> dict[int, dict]:
    """Complete parts an interrupted run with the same settings left behind, checked by footer.

    Anything else in the folder is refused unless --overwrite (then it is removed first).
    """
    names = {part_name(k).rsplit("/", 1)[1]: k for k in range(len(bounds))}
    top = storage.entries(fs, out)
    if cfg.overwrite:
        manifest.clear_output(fs, out, [e.base_name for e in top])
        return {}
    foreign = [e.base_name for e in top if e.base_name not in (PARTS_FOLDER, CARD_NAME)]
    found = remove_temporaries(fs, out)
    reusable = {}
    for entry in found:
        k = names.get(entry.base_name)
        meta = schema.read_metadata(fs, entry.path) if k is not None else {}
        if k is None or json.loads(meta.get("run_config", "null")) != identity:
            foreign.append(f"{PARTS_FOLDER}/{entry.base_name}")
            continue
        table = schema.read_table(fs, entry.path, columns=["label", "confidence"])
        if table.num_rows != bounds[k][1] - bounds[k][0]:
            foreign.append(f"{PARTS_FOLDER}/{entry.base_name}")
            continue
        labels = table.column("label").to_numpy()
        reusable[k] = {
            "part": k,
            "path": part_name(k),
            "rows": table.num_rows,
            "bytes": entry.size,
            "sha256": storage.sha256(fs, entry.path),
            "per_label": np.bincount(labels, minlength=num_classes).tolist(),
            "confidence_sum": float(table.column("confidence").to_numpy().sum(dtype=np.float64)),
            "rejected": 0,
        }
    if foreign:
        raise AugmentError(
            f"--out {cfg.out} holds data not made by this command with these settings "
            f"({', '.join(sorted(foreign)[:3])}{', …' if len(foreign) > 3 else ''}); pass --overwrite to replace it"
        )
    return reusable
