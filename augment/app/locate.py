"""Which artifacts a folder given to `augment app --run` holds.

Accepted: an `augment run` folder (gan/ judge/ synthetic/ merged/ real/ report/), a GAN run
folder (generator.json, its judge in judge/ when generate trained one there), or a single
generation, merge, export or report folder. Missing pieces are None; the pages say what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from augment.core import manifest, storage
from augment.core.errors import AugmentError
from augment.models.classifier_file import INFO_FILE as JUDGE_INFO
from augment.models.generator_file import INFO_FILE as GENERATOR_INFO
from augment.stages.report.config import REPORT_FILE

DATASET_STAGES = ("synthetic", "merged", "real")  # the order the Dataset page offers them in


@dataclass(frozen=True)
class RunLayout:
    run: str | None = None
    gan: str | None = None  # folder with generator.json + generator.safetensors
    judge: str | None = None  # folder with classifier.json + classifier.safetensors
    datasets: dict[str, str] = field(default_factory=dict)  # stage -> folder with a Parquet manifest
    report: str | None = None  # folder with report.json


def _is_file(fs, path: str) -> bool:
    return storage.file_type(fs, path).name == "File"


def _stage(fs, folder: str) -> str | None:
    try:
        found = manifest.read_manifest(fs, folder)
    except AugmentError:
        return None
    return found.get("stage") if isinstance(found, dict) else None


def locate(run: str | None) -> RunLayout:
    if not run:
        return RunLayout()
    fs, root = storage.resolve(run)
    if storage.file_type(fs, root).name != "Directory":
        raise AugmentError(f"--run {run} does not exist (or is not a folder)")
    base = run.rstrip("/") if "://" in run else root

    def has(*parts: str) -> bool:
        return _is_file(fs, storage.join(root, *parts))

    def stage_of(*parts: str) -> str | None:
        return _stage(fs, storage.join(root, *parts))

    def uri(*parts: str) -> str:
        return storage.join(base, *parts)

    if has("gan", GENERATOR_INFO) or has("pipeline.json"):
        return RunLayout(
            run=run,
            gan=uri("gan") if has("gan", GENERATOR_INFO) else None,
            judge=next((uri(*p) for p in (("judge",), ("gan", "judge")) if has(*p, JUDGE_INFO)), None),
            datasets={s: uri(s) for s in DATASET_STAGES if stage_of(s) == s},
            report=uri("report") if has("report", REPORT_FILE) else None,
        )
    if has(GENERATOR_INFO):
        return RunLayout(run=run, gan=base, judge=uri("judge") if has("judge", JUDGE_INFO) else None)
    stage = stage_of()
    if stage in DATASET_STAGES:
        return RunLayout(run=run, datasets={stage: base})
    if has(REPORT_FILE):
        return RunLayout(run=run, report=base)
    if has(JUDGE_INFO):
        return RunLayout(run=run, judge=base)
    raise AugmentError(
        f"--run {run} holds no augment output (no generator.json, pipeline folders, dataset manifest or report.json)"
    )


def read_report(folder: str) -> dict:
    fs, path = storage.resolve(storage.join(folder, REPORT_FILE))
    try:
        return json.loads(storage.read_bytes(fs, path))
    except ValueError as exc:
        raise AugmentError(f"{folder}/{REPORT_FILE} is not valid JSON ({exc})") from None
