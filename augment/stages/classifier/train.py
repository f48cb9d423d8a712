"""The `classifier/` stage: run(cfg) trains the digit classifier on a Parquet dataset (real,
synthetic or merged) with Ray Train, the rows streaming in through Ray Data.

Parquet row groups read with row selection (--real-only / --synthetic-only / --max-synthetic;
rows.py) -> `datasets={"train": ...}`; each worker iterates its shard with `iter_torch_batches`, so
millions of rows never sit in memory at once, and applies classic augmentation on its training
thread. Every epoch visits the blocks in a new random order and mixes rows in a local shuffle
buffer (Ray's cheap per-epoch shuffle; a full `random_shuffle` would move the whole dataset through
the object store every epoch). Accuracy, balanced accuracy and worst-class recall are measured on
the *real* test split after every epoch. Checkpoints, crash recovery and
"rerun = continue" work as in GAN training; `classifier.safetensors` + `classifier.json` are the
export.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from augment.core import manifest, mnist, storage
from augment.core.console import plural
from augment.core.datasets import Dataset, open_dataset
from augment.core.errors import AugmentError, first_line
from augment.core.progress import progress_channel
from augment.core.ray_session import ray_session, refuse_gpu_on_a_cpu_machine
from augment.core.ray_train import (
    FAULT_MARKER,
    RAY_RUN_NAME,
    fit,
    newest_checkpoint,
    nodes_of,
    placed_workers,
)
from augment.core.run_folder import RUN_INFO, completed_epochs, run_info, write_run_info
from augment.models.classifier import ClassifierSpec, DigitClassifier
from augment.models.classifier_file import (
    INFO_FILE,
    WEIGHTS_FILE,
    export_classifier,
    read_classifier_info,
)
from augment.stages.classifier.config import FOLDER, ClassifierConfig
from augment.stages.classifier.rows import Selection, row_group_index, select_rows, training_rows
from augment.stages.classifier.worker import retrain_worker, shard_name

KIND = FOLDER  # the manifest's kind: the stage's name
METRICS_FILE = "metrics.csv"
OWNED = (manifest.MANIFEST_NAME, RUN_INFO, RAY_RUN_NAME, WEIGHTS_FILE, INFO_FILE, METRICS_FILE, FAULT_MARKER)
# CPUs left to Ray Data's read tasks when the trainers are sized: trainers holding every CPU would
# wait forever for rows.
DATA_CPU_RESERVE = 1.0


@dataclass(frozen=True)
class ClassifierResult:
    out: str
    epochs: int
    test_accuracy: float
    rows: int  # training rows per epoch
    rows_per_source: dict[str, int]
    seconds: float
    samples_per_s: float
    skipped: bool
    samples_seen: int = 0  # optimizer steps x global batch over the whole run
    balanced_accuracy: float | None = None  # mean of the per-class recalls on the real test split
    worst_class_recall: float | None = None
    # With --validation-rows: the epoch exported (best by validation accuracy), its validation
    # accuracy, and whether the run stopped by --patience (converged) rather than at the cap.
    best_epoch: int | None = None
    validation_accuracy: float | None = None
    converged: bool | None = None

    @classmethod
    def from_manifest(cls, out: str, done: dict) -> ClassifierResult:
        """The result of a run already trained, as its manifest records it."""
        return cls(
            out,
            done["epochs"],
            done["test_accuracy"],
            done["rows"],
            done["rows_per_source"],
            0.0,
            done["samples_per_s"],
            skipped=True,
            samples_seen=done.get("samples_seen", 0),
            balanced_accuracy=done.get("balanced_accuracy"),
            worst_class_recall=done.get("worst_class_recall"),
            best_epoch=done.get("best_epoch"),
            validation_accuracy=done.get("validation_accuracy"),
            converged=done.get("converged"),
        )

    @property
    def summary(self) -> str:
        sources = ", ".join(f"{n:,} {source}" for source, n in self.rows_per_source.items() if n)
        best = (
            ""
            if self.best_epoch is None
            else f"; best epoch {self.best_epoch} (validation {self.validation_accuracy:.4f}, "
            + ("converged)" if self.converged else "stopped at the cap)")
        )
        return (
            f"{plural(self.epochs, 'epoch')} over {sources} rows ({self.samples_seen:,} samples seen); "
            f"real test accuracy {self.test_accuracy:.4f}{best}"
        )


def run(cfg: ClassifierConfig) -> ClassifierResult:
    return run_many([cfg])[0]


@dataclass(frozen=True)
class _Pending:
    """One classifier run still to train, checked and counted on the driver."""

    cfg: ClassifierConfig
    dataset: Dataset
    identity: dict
    selection: Selection
    label: str


def run_many(cfgs: Sequence[ClassifierConfig], labels: Sequence[str] | None = None) -> list[ClassifierResult]:
    """Train several classifier runs, in order, one after another in one Ray Train worker group.

    The same as run(cfg) for each (its own folder, checkpoints, resume and export), but a worker
    group, its controller and Ray Data's coordinators start once for all of them: ~20 s per run
    on a 2-core machine, more than a small classifier's whole training. A run already trained
    with its settings is kept. `labels` name the runs in progress lines ("classifier" when one).
    """
    started = time.perf_counter()
    labels = list(labels) if labels is not None else ["classifier"] * len(cfgs)
    results: dict[int, ClassifierResult] = {}
    pending: dict[int, _Pending] = {}
    for index, (cfg, label) in enumerate(zip(cfgs, labels)):
        finished = _prepare(cfg, label)
        if isinstance(finished, ClassifierResult):
            results[index] = finished
        else:
            pending[index] = finished
    groups: dict[tuple, list[int]] = {}
    for index, job in pending.items():
        groups.setdefault((job.cfg.address, job.cfg.workers, job.cfg.gpu), []).append(index)
    for indices in groups.values():
        jobs = [pending[i] for i in indices]
        for index, result in zip(indices, _train_together(jobs, started)):
            results[index] = result
    return [results[index] for index in range(len(cfgs))]


def _prepare(cfg: ClassifierConfig, label: str) -> ClassifierResult | _Pending:
    """The finished run's result when it is already trained with these settings, else what
    training it needs; refuses bad options and folders before any Ray work starts."""
    refuse_gpu_on_a_cpu_machine(cfg.gpu, cfg.address)
    dataset = open_dataset(cfg.data, what="--data")
    cfg = _with_validation_split(cfg)
    identity = cfg.identity(_data_digest(dataset, cfg), _init_sha256(cfg), _teacher_sha256(cfg))
    selection = select_rows(cfg, dataset)
    cfg = replace(cfg, epochs=cfg.epochs_for(selection.rows))
    done = completed_epochs(
        cfg.out, kind=KIND, what="classifier run", identity=identity, epochs=cfg.epochs, overwrite=cfg.overwrite
    )
    finished = manifest.read_manifest(*storage.resolve(cfg.out)) if done else None
    if done == cfg.epochs or (finished or {}).get("converged"):  # a converged run is done below its cap too
        return ClassifierResult.from_manifest(cfg.out, finished)
    storage.check_writable(cfg.out)
    return _Pending(cfg, dataset, identity, selection, label)


def _train_together(jobs: list[_Pending], started: float) -> list[ClassifierResult]:
    """One fit() for every run in `jobs` (same address, workers and device), then each run's export."""
    import ray

    first = jobs[0].cfg
    tests = {}
    for job in jobs:
        tests.setdefault(
            (job.cfg.dataset, job.cfg.data_root),
            mnist.load_split(job.cfg.dataset, "test", job.cfg.data_root, download=job.cfg.download),
        )
    with (
        ray_session(first.address, ray_train=True),
        progress_channel() as progress,
        placed_workers(first, what="classifier", cpus_kept_free=DATA_CPU_RESERVE) as placement,
    ):
        test_refs = {key: ray.put((test.images, test.labels)) for key, test in tests.items()}
        validation_refs = _validation_refs(jobs)
        for job in jobs:
            fs, run = storage.resolve(job.cfg.out)
            if job.cfg.overwrite:
                manifest.clear_output(fs, run, OWNED)
            storage.delete(fs, storage.join(run, manifest.MANIFEST_NAME))  # training again: incomplete until exported
            write_run_info(fs, run, KIND, job.identity)
        runs = [
            {
                "config": asdict(job.cfg),
                "rows": job.selection.rows,
                "per_label": job.selection.per_label,
                "label": job.label,
                "fresh": job.selection.fresh,
                "test": test_refs[job.cfg.dataset, job.cfg.data_root],
                "validation": validation_refs.get((job.cfg.dataset, job.cfg.data_root, job.cfg.validation_rows)),
                "num_classes": len(tests[job.cfg.dataset, job.cfg.data_root].classes),
            }
            for job in jobs
        ]
        fs, run = storage.resolve(first.out)
        fit(
            retrain_worker,
            {"runs": runs, "threads": placement.threads, "progress": progress},
            what="classifier",
            cfg=first,
            placement=placement,
            storage_path=run,
            fs=fs,
            max_failures=max(job.cfg.max_failures for job in jobs),
            datasets=_datasets(jobs),
        )
    return [_export(job, len(tests[job.cfg.dataset, job.cfg.data_root].classes), started) for job in jobs]


def _with_validation_split(cfg: ClassifierConfig) -> ClassifierConfig:
    """cfg knowing the real train split's length, whose last --validation-rows rows are held out."""
    if cfg.validation_rows == 0:
        return cfg
    rows = _train_split_rows(cfg.dataset, str(mnist.resolve_data_root(cfg.data_root)), cfg.download)
    if cfg.validation_rows is not None and cfg.validation_rows >= rows:
        raise AugmentError(f"--validation-rows {cfg.validation_rows}: the real train split has only {rows} rows")
    resolved = replace(cfg, real_train_rows=rows)
    return replace(resolved, validation_rows=resolved.held_out_rows())


@functools.lru_cache(maxsize=4)
def _train_split_rows(dataset: str, data_root: str, download: bool) -> int:
    """The real train split's length, read once per process and folder (resolved: the cache never
    answers for another AUGMENT_DATA_ROOT): the report's runs all ask."""
    return len(mnist.load_split(dataset, "train", data_root, download=download).labels)


def _validation_refs(jobs: list[_Pending]) -> dict:
    """(dataset, data root, N) -> the last N rows of the real train split in the object store: the
    held-out rows that pick each run's best epoch (rows.py leaves them out of training)."""
    import ray

    refs = {}
    for job in jobs:
        cfg = job.cfg
        key = (cfg.dataset, cfg.data_root, cfg.validation_rows)
        if cfg.validation_rows and key not in refs:
            train = mnist.load_split(cfg.dataset, "train", cfg.data_root, download=cfg.download)
            below = cfg.real_ids_below()
            refs[key] = ray.put((train.images[below:], train.labels[below:]))
    return refs


def _datasets(jobs: list[_Pending]) -> dict:
    """Run i reads dataset `train{i}` every epoch; with fresh synthetic rows each epoch reads rows of
    its own, `train{i}.{epoch}` (Ray Train repeats one dataset's plan every epoch)."""
    datasets, indexes = {}, {}
    for i, job in enumerate(jobs):
        if job.dataset.uri not in indexes:  # the report's runs share one merged dataset: its footers are read once
            indexes[job.dataset.uri] = row_group_index(job.dataset)
        groups = indexes[job.dataset.uri]
        for epoch in range(1, job.cfg.epochs + 1) if job.selection.fresh else (None,):
            datasets[shard_name(i, epoch)] = training_rows(job.cfg, job.dataset, job.selection, epoch, groups)
    return datasets


def _export(job: _Pending, num_classes: int, started: float) -> ClassifierResult:
    cfg, selection, identity = job.cfg, job.selection, job.identity
    fs, run = storage.resolve(cfg.out)
    found = newest_checkpoint(cfg.out, None)
    if found is None:
        raise AugmentError(f"classifier training ended without a checkpoint in {cfg.out}")
    state, history = found
    model, final, chosen = _chosen_epoch(state, history, num_classes)
    info = export_classifier(
        cfg.out,
        model.eval(),
        dataset=cfg.dataset,
        epochs=state["epoch"],
        test_accuracy=final["test_accuracy"],
        trained_on=_trained_on(cfg),
        training=identity,
        rows_per_source=selection.per_source,
    )
    storage.write_bytes_atomic(fs, storage.join(run, METRICS_FILE), _metrics_csv(history))
    seconds = time.perf_counter() - started  # since the worker group's first run began
    done = manifest.write_manifest(
        fs,
        run,
        stage=KIND,
        config=identity,
        files=[manifest.file_entry(fs, run, name, rows=0) for name in (WEIGHTS_FILE, INFO_FILE, METRICS_FILE)],
        epochs=state["epoch"],
        test_accuracy=final["test_accuracy"],
        **chosen,
        classifier_sha256=info["sha256"],
        rows=selection.rows,
        rows_per_source=selection.per_source,
        rows_per_label={str(c): n for c, n in enumerate(selection.per_label)},
        samples_per_s=final["samples_per_s"],
        data=cfg.data,
        history=history,
        nodes=nodes_of(history),
        samples_seen=final["steps"] * cfg.batch_size,
        balanced_accuracy=final.get("balanced_accuracy"),
        worst_class_recall=final.get("worst_class_recall"),
        recall_per_class=final.get("recall_per_class"),
        elapsed_s=round(seconds, 3),
        # fresh synthetic rows: the pool drawn from, and how many distinct rows the epochs took from it
        **(
            {"synthetic_pool": selection.pool, "synthetic_rows_drawn": selection.synthetic_read(state["epoch"])}
            if selection.fresh
            else {}
        ),
    )
    return replace(ClassifierResult.from_manifest(cfg.out, done), seconds=seconds, skipped=False)


def _chosen_epoch(state: dict, history: list[dict], num_classes: int) -> tuple[DigitClassifier, dict, dict]:
    """The exported model, its figures and what the manifest says of the choice: with validation
    rows the best epoch's weights and its one test score, else the last epoch's."""
    model = DigitClassifier(ClassifierSpec(num_classes=num_classes))
    best = state.get("best")
    model.load_state_dict(best["model"] if best else state["model"])
    if best is None:
        return model, history[-1], {"best_test_accuracy": max(r["test_accuracy"] for r in history)}
    chosen = {"best_epoch": best["epoch"], "validation_accuracy": best["validation_accuracy"]}
    return model, {**history[-1], **best["scores"]}, {**chosen, "converged": best["converged"]}


def _init_sha256(cfg: ClassifierConfig) -> str | None:
    """The starting weights' digest (--init-from), checked readable before any Ray work."""
    return _weights_sha256(cfg.init_from, "--init-from")


def _teacher_sha256(cfg: ClassifierConfig) -> str | None:
    """The teacher's digest (--teacher), checked readable before any Ray work."""
    return _weights_sha256(cfg.teacher, "--teacher")


def _weights_sha256(folder: str | None, option: str) -> str | None:
    if folder is None:
        return None
    try:
        return read_classifier_info(folder)["sha256"]
    except (AugmentError, OSError) as exc:
        raise AugmentError(f"{option} {folder}: {first_line(exc)}") from None


def _trained_on(cfg: ClassifierConfig) -> str:
    what = "real rows of " if cfg.real_only else "synthetic rows of " if cfg.synthetic_only else ""
    return (
        what
        + cfg.data
        + (" with classic augmentation" if cfg.classic_augment else "")
        + (f", starting from {cfg.init_from}" if cfg.init_from else "")
        + (f", synthetic rows weighted {cfg.synthetic_weight:g}" if cfg.synthetic_weight != 1.0 else "")
        + (f", {cfg.teacher_share:.0%} of the loss on {cfg.teacher}'s soft targets" if cfg.teacher else "")
    )


def unless_current(cfg: ClassifierConfig) -> ClassifierConfig:
    """cfg for a caller that owns the run folder: a run made with these settings on this data is
    kept, or continued if interrupted; anything else there is replaced. So a real-only classifier
    survives a new generation, whose merged real/ files are the same."""
    dataset = open_dataset(cfg.data, what="--data")
    resolved = _with_validation_split(cfg)  # the identity names the held-out rows as counted
    identity = resolved.identity(_data_digest(dataset, cfg), _init_sha256(cfg), _teacher_sha256(cfg))
    current = run_info(cfg.out).get("identity") == identity
    return replace(cfg, overwrite=not current)


def _data_digest(dataset: Dataset, cfg: ClassifierConfig) -> str:
    """Content identity of the rows this run can read: the same files give the same digest wherever
    they live, and a real-only run on a merged dataset depends on its real/ files alone."""
    files = [f for f in dataset.manifest["files"] if f["path"].endswith(".parquet")]
    if dataset.stage == "merged" and (cfg.real_only or cfg.synthetic_only):
        source = "train/real/" if cfg.real_only else "train/synthetic/"
        files = [f for f in files if f["path"].startswith(source)]
    return hashlib.sha256(json.dumps([dataset.stage, sorted(f["sha256"] for f in files)]).encode()).hexdigest()


def _metrics_csv(history: list[dict]) -> bytes:
    text = io.StringIO()
    columns = list(
        dict.fromkeys(key for row in history for key in row)
    )  # a resumed run's older rows may lack newer columns
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(
        {key: " ".join(map(str, value)) if isinstance(value, list) else value for key, value in row.items()}
        for row in history
    )  # per-class recalls: one cell, space-separated
    return text.getvalue().encode()
