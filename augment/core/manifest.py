"""`_manifest.json`: the last file a stage writes, and the only proof that its output is complete.

A folder without a manifest is incomplete, whatever else it holds. The manifest records what made
the output (config + its digest) and what it holds (files with row counts and sha256), so a rerun
can tell "already done with these settings" from "done with other settings" from "half done".
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from pyarrow import fs as pafs

from augment import __version__
from augment.core import storage
from augment.core.errors import AugmentError, OtherSettings
from augment.core.schema import SCHEMA_VERSION

MANIFEST_NAME = "_manifest.json"


def config_digest(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def file_entry(fs: pafs.FileSystem, folder: str, relative_path: str, rows: int) -> dict[str, Any]:
    path = storage.join(folder, relative_path)
    return {
        "path": relative_path,
        "rows": rows,
        "bytes": fs.get_file_info(path).size,
        "sha256": storage.sha256(fs, path),
    }


def write_manifest(
    fs: pafs.FileSystem,
    folder: str,
    *,
    stage: str,
    config: Mapping[str, Any],
    files: Iterable[Mapping[str, Any]],
    **facts: Any,
) -> dict[str, Any]:
    """Write the manifest atomically. Call it after every other file of the output exists."""
    manifest = {
        "stage": stage,
        "schema_version": SCHEMA_VERSION,
        "augment_version": __version__,
        "created_unix": round(time.time(), 3),
        "config": dict(config),
        "config_digest": config_digest(config),
        "files": list(files),
        **facts,
    }
    storage.write_bytes_atomic(
        fs, storage.join(folder, MANIFEST_NAME), json.dumps(manifest, indent=2, sort_keys=True).encode()
    )
    return manifest


def read_manifest(fs: pafs.FileSystem, folder: str) -> dict[str, Any] | None:
    path = storage.join(folder, MANIFEST_NAME)
    if storage.file_type(fs, path) != pafs.FileType.File:
        return None
    try:
        return json.loads(storage.read_bytes(fs, path))
    except ValueError as exc:
        raise AugmentError(f"{path} is not valid JSON ({exc}); delete it to redo this stage") from None


def clear_output(fs: pafs.FileSystem, folder: str, owned: Iterable[str]) -> None:
    """Remove a previous output of this stage: manifest first, so a crash mid-way reads as incomplete.

    Only the entries this stage writes are removed; anything else in the folder is left alone.
    """
    storage.delete(fs, storage.join(folder, MANIFEST_NAME))
    for name in owned:
        storage.delete(fs, storage.join(folder, name))


def changed_settings(recorded: Mapping[str, Any] | None, identity: Mapping[str, Any]) -> list[str]:
    """Settings that differ between a recorded identity and this one. A setting absent on one side
    equals None (off) on the other, so outputs made before an optional setting existed still match."""
    recorded = recorded or {}
    return sorted(k for k in set(identity) | set(recorded) if recorded.get(k) != identity.get(k))


def finished_output(
    fs: pafs.FileSystem,
    folder: str,
    *,
    uri: str,
    kind: str,
    identity: Mapping[str, Any],
    owned: Iterable[str],
    overwrite: bool,
) -> dict[str, Any] | None:
    """The manifest of an output of this `kind` already made with `identity` (rerun: skip it), else None.

    None also for an empty folder or this stage's own interrupted output (only names in `owned`, no
    manifest), which the caller redoes. Anything else is refused unless `overwrite`: another
    stage's output, this stage with other settings, a folder of foreign files.
    """
    if storage.file_type(fs, folder) == pafs.FileType.File:
        raise AugmentError(f"--out {uri} is a file, not a folder")
    found = storage.entries(fs, folder)
    if overwrite or not found:
        return None
    done = read_manifest(fs, folder)
    if done is None:
        if {entry.base_name for entry in found} <= {MANIFEST_NAME, *owned}:
            return None
        raise AugmentError(
            f"--out {uri} holds something other than a {kind} output; pass --overwrite or choose another folder"
        )
    if done.get("stage") != kind:
        raise AugmentError(
            f"--out {uri} holds a {done.get('stage')} output, not a {kind} output; choose another folder"
        )
    changed = changed_settings(done.get("config"), identity)
    if changed:
        raise OtherSettings(
            f"--out {uri} holds a {kind} output made with other settings ({', '.join(changed)}); "
            "pass --overwrite or choose another folder"
        )
    return done
