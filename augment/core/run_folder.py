"""What a Ray Train run folder is: `run.json` names the kind of run and the settings that make it
that run, written before training starts, so a rerun can tell "continue this run" from "another run"
before any worker starts (the manifest comes only once the run is exported)."""

from __future__ import annotations

import json

from augment.core import manifest, storage
from augment.core.errors import AugmentError, OtherSettings

RUN_INFO = "run.json"  # what kind of run a folder holds and the settings that make it that run


def write_run_info(fs, run: str, kind: str, identity: dict) -> None:
    info = {"kind": kind, "identity": identity}
    storage.write_bytes_atomic(fs, storage.join(run, RUN_INFO), json.dumps(info, indent=2).encode())


def run_info(uri: str) -> dict:
    """The run.json of the run in `uri` ({} when there is none)."""
    fs, run = storage.resolve(uri)
    path = storage.join(run, RUN_INFO)
    return json.loads(storage.read_bytes(fs, path)) if storage.file_type(fs, path).name == "File" else {}


def completed_epochs(uri: str, *, kind: str, what: str, identity: dict, epochs: int, overwrite: bool) -> int:
    """Epochs a run in `uri` has finished (0: empty folder) when it is this run, continued by
    rerunning. Refuses anything that is not this run: a foreign folder, another stage's output, a
    run of this kind with other settings, or one already trained for more epochs."""
    fs, run = storage.resolve(uri)
    if storage.file_type(fs, run).name == "File":
        raise AugmentError(f"--out {uri} is a file, not a folder")
    if overwrite or not storage.entries(fs, run):
        return 0
    info = run_info(uri)
    if info.get("kind") != kind:
        raise AugmentError(
            f"--out {uri} holds something other than a {what}; pass --overwrite or choose another folder"
        )
    changed = manifest.changed_settings(info.get("identity"), identity)
    if changed:
        raise OtherSettings(
            f"--out {uri} holds a {what} with other settings ({', '.join(changed)}); pass --overwrite or choose "
            "another folder"
        )
    done = (manifest.read_manifest(fs, run) or {}).get("epochs", 0)
    if done > epochs:
        raise AugmentError(f"--out {uri} is already trained for {done} epochs (> --epochs {epochs})")
    return done
