"""The `synthetic/` stage: run(cfg) writes N labeled synthetic digits as Parquet with Ray Data.

Layout: ids 0..N-1 are cut into parts of at most `rows_per_file` rows (`train/part-00000.parquet`, ...),
then the dataset card `README.md`, then `_manifest.json`.
A part is the unit of work: Ray Data hands part descriptors to a pool of actors that each load the
generator and the judge once (`synthesis.PartMaker`) and write whole parts, each published by an
atomic rename. `_manifest.json` comes last. So:
  * the output never depends on worker count, batch size or scheduling (same ids, same files);
  * a killed run leaves only complete parts; rerunning the command makes the missing ones and
    keeps the rest (their footers name the settings that made them), so the result has exactly N
    unique ids;
  * images travel from the model straight into the file inside the actor: no image ever crosses
    the object store, which keeps memory flat in N.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from augment.core import card, console, manifest, schema, storage
from augment.core.card import CARD_NAME
from augment.core.errors import AugmentError, first_line, require
from augment.core.node_types import cluster_shape
from augment.core.per_class import parse_per_class
from augment.core.placement import compute_device, gpus_possible, nodes_held
from augment.core.placement import plan as plan_placement
from augment.core.progress import ProgressReporter, progress_channel
from augment.core.ray_session import ray_session, refuse_gpu_on_a_cpu_machine
from augment.models.classifier_file import INFO_FILE as JUDGE_INFO
from augment.models.classifier_file import read_classifier_info
from augment.models.generator_file import read_generator_info
from augment.stages.judge.config import JudgeConfig
from augment.stages.synthetic.config import FILL, FOLDER, JUDGE_SUBFOLDER, SyntheticConfig
from augment.stages.synthetic.model_check import check_models_apart
from augment.stages.synthetic.parts import PARTS_FOLDER, PartPlan, part_bounds, part_name
from augment.stages.synthetic.precision_probe import cache_file, decision_key, probe, probe_apart, remember, remembered
from augment.stages.synthetic.sampling import class_boundaries

KIND = FOLDER


@dataclass(frozen=True)
class SyntheticResult:
    out: str
    rows: int
    files: int
    bytes: int
    seconds: float
    rows_per_s: float
    per_label: dict[int, int]
    mean_confidence: float
    rejected: int
    reused_parts: int  # complete parts kept from an interrupted run
    precision: str  # the forward passes' number format: fp32 or bf16
    skipped: bool  # already complete with these settings

    @property
    def summary(self) -> str:
        speed = "" if self.skipped else f", {self.rows_per_s:,.0f} rows/s"
        return f"{self.rows:,} rows{speed}, mean confidence {self.mean_confidence:.3f}"


def class_deficits(cfg: SyntheticConfig, generator_info: dict, num_classes: int) -> list[int]:
    """What each class of the GAN's real training rows lacks against the largest class: the rows
    `--class-weights fill` writes. Counts as the GAN recorded them, else from its training settings
    and the real data (a GAN exported before it recorded them)."""
    counts = generator_info.get("rows_per_label")
    if counts is None:
        from augment.core import mnist

        training = generator_info.get("training") or {}
        split = mnist.load_split(training.get("dataset", "mnist"), "train", cfg.data_root, download=cfg.download)
        _, labels = mnist.training_subset(split, training.get("limit"), parse_per_class(training.get("real_per_class")))
        counts = np.bincount(labels.astype(np.int64), minlength=num_classes).tolist()
    return [max(counts) - count for count in counts]


def filled(cfg: SyntheticConfig, deficits: list[int]) -> SyntheticConfig:
    """cfg with --class-weights fill resolved: the deficits as weights, and as N unless --n was given
    (then N rows in the deficits' proportions). Exactly the deficit per class when N is their sum
    (sampling.labels_for places class k's rows at the quantiles of its share)."""
    total = sum(deficits)
    require(total > 0, "--class-weights fill: the GAN's real rows are balanced (no class lacks any): nothing to fill")
    return replace(cfg, class_weights=tuple(float(d) for d in deficits), n=cfg.n if cfg.n is not None else total)


def judge_folder(cfg: SyntheticConfig) -> str:
    return cfg.judge or storage.join(cfg.checkpoint, JUDGE_SUBFOLDER)


def run(cfg: SyntheticConfig) -> SyntheticResult:
    started = time.perf_counter()
    refuse_gpu_on_a_cpu_machine(cfg.gpu, cfg.address)
    fs, out = storage.resolve(cfg.out)
    if storage.file_type(fs, out).name == "File":
        raise AugmentError(f"--out {cfg.out} is a file, not a folder")
    storage.check_writable(cfg.out)
    generator_info = read_generator_info(cfg.checkpoint)  # refuses a missing or corrupt generator now
    spec = generator_info["spec"]
    num_classes = spec["num_classes"]
    if cfg.class_weights == FILL:
        cfg = filled(cfg, class_deficits(cfg, generator_info, num_classes))
    if cfg.class_weights is not None:
        require(
            len(cfg.class_weights) == num_classes,
            f"--class-weights needs {num_classes} weights (one per class), got {len(cfg.class_weights)}",
        )
    judge_info = _judge_or_plan_to_train(cfg, generator_info)
    if judge_info is None:
        _train_default_judge(cfg, generator_info)
        judge_info = read_classifier_info(judge_folder(cfg))
    judge_sha256 = judge_info["sha256"]
    done = _finished(cfg, fs, out, generator_info["sha256"], judge_sha256)
    if done:
        return done

    precision, probed = _precision(
        cfg, fs, out, cfg.identity(generator_info["sha256"], judge_sha256, cfg.precision), judge_folder(cfg)
    )
    identity = cfg.identity(generator_info["sha256"], judge_sha256, precision)
    metadata = schema.file_metadata(
        generator_info.get("dataset", "mnist"), generator=generator_info["sha256"], run_config=identity
    )
    boundaries = class_boundaries(num_classes, cfg.class_weights)
    plan = PartPlan(
        checkpoint=cfg.checkpoint,
        judge=judge_folder(cfg),
        out=cfg.out,
        n=cfg.n,
        seed=cfg.seed,
        boundaries=tuple(boundaries.tolist()),
        min_confidence=cfg.min_confidence,
        max_attempts=cfg.max_attempts,
        batch_size=cfg.forward_batch(),
        metadata=metadata,
        precision=precision,
        temperature=cfg.temperature,
    )
    check_models_apart(plan)  # before _reusable_parts, which may clear the folder
    bounds = part_bounds(cfg.n, cfg.rows_per_file)
    reused = _reusable_parts(cfg, fs, out, identity, bounds, num_classes)

    todo = [(k, start, stop) for k, (start, stop) in enumerate(bounds) if k not in reused]
    results = dict(reused)
    if todo:
        results.update(_run_parts(cfg, plan, todo, len(bounds)))

    files = [results[k] for k in range(len(bounds))]
    rows = sum(f["rows"] for f in files)
    if rows != cfg.n:  # an invariant of the layout: fail loudly rather than publish a wrong count
        raise AugmentError(f"internal error: parts hold {rows} rows, expected {cfg.n}; output left without a manifest")
    per_label = {c: int(sum(f["per_label"][c] for f in files)) for c in range(num_classes)}
    confidence_sum = sum(f["confidence_sum"] for f in files)
    rejected = sum(f["rejected"] for f in files)
    seconds = time.perf_counter() - started
    made_rows = sum(bounds[k][1] - bounds[k][0] for k, _, _ in todo)
    rows_per_s = made_rows / seconds if made_rows else 0.0
    entries = [{key: f[key] for key in ("path", "rows", "bytes", "sha256")} for f in files]
    entries.append(
        card.write_card(fs, out, _card(cfg, generator_info, judge_sha256, precision, entries, per_label, rejected))
    )
    manifest.write_manifest(
        fs,
        out,
        stage=KIND,
        config=identity,
        files=entries,
        rows=rows,
        rows_per_label={str(c): v for c, v in per_label.items()},
        generator_sha256=generator_info["sha256"],
        judge_sha256=judge_sha256,
        seed=cfg.seed,
        n=cfg.n,
        mean_confidence=confidence_sum / rows,
        rejected_samples=rejected,
        reused_parts=len(reused),
        elapsed_s=round(seconds, 3),
        rows_per_s=round(rows_per_s, 1),
        precision_probe=probed,
        run={"workers": cfg.workers, "gpu": cfg.gpu, "batch_size": cfg.forward_batch()},
        made_on={f["path"]: f["node"] for f in files if f.get("node")},  # the Ray node of each part made by this run
    )
    return SyntheticResult(
        out=cfg.out,
        rows=rows,
        files=len(files),
        bytes=sum(f["bytes"] for f in files),
        seconds=seconds,
        rows_per_s=rows_per_s,
        per_label=per_label,
        mean_confidence=confidence_sum / rows,
        rejected=rejected,
        reused_parts=len(reused),
        precision=precision,
        skipped=False,
    )


def _card(
    cfg: SyntheticConfig,
    generator_info: dict,
    judge_sha256: str,
    precision: str,
    files: list[dict],
    per_label: dict[int, int],
    rejected: int,
) -> card.Card:
    dataset = generator_info.get("dataset", "mnist")
    weights = "equal" if cfg.class_weights is None else ", ".join(f"{w:g}" for w in cfg.class_weights)
    judge = (
        (
            f"kept draws the judge gives ≥ {cfg.min_confidence:g} for their label; {rejected:,} draws were "
            f"replaced (at most {cfg.max_attempts} per row)"
        )
        if cfg.min_confidence > 0
        else "off: every first draw kept"
    )
    return card.Card(
        title=f"Synthetic {dataset} digits ({cfg.n:,} rows, augment)",
        summary=f"{cfg.n:,} labeled images drawn from a class-conditional DCGAN trained on {dataset}: row `id` = i "
        "is the i-th draw, its class and latent fixed by (seed, i) alone, so any prefix of ids is a "
        "class-balanced sample and a rerun rewrites the same rows.",
        dataset=dataset,
        classes=list(generator_info.get("classes") or [str(c) for c in range(len(per_label))]),
        splits=[card.Split(PARTS_FOLDER, cfg.n, card.split_bytes(files, PARTS_FOLDER))],
        provenance=[
            (
                "generator",
                f"`{generator_info['sha256']}` ({generator_info.get('epochs', '?')} GAN epochs on {dataset})",
            ),
            ("judge", f"`{judge_sha256}`"),
            ("seed", str(cfg.seed)),
            ("rows (N)", f"{cfg.n:,}"),
            ("class weights", weights),
            ("judge filter", judge),
            ("sampling temperature", f"{cfg.temperature:g}"),
            ("precision", precision),
            (
                "command",
                f"`augment generate --n {cfg.n} --seed {cfg.seed}"
                + (f" --min-confidence {cfg.min_confidence:g}" if cfg.min_confidence else "")
                + (f" --temperature {cfg.temperature:g}" if cfg.temperature != 1.0 else "")
                + "`",
            ),
        ],
        rows_per_label={PARTS_FOLDER: per_label},
        uri=cfg.out,
    )


def _at(folder: str, name: str):
    fs, path = storage.resolve(folder)
    return fs, storage.join(path, name)


def _finished(cfg: SyntheticConfig, fs, out: str, generator_sha256: str, judge_sha256: str) -> SyntheticResult | None:
    """The complete output already made with these settings (skip it), if there is one; made with
    other settings, it is refused unless --overwrite. Precision "auto" accepts whichever format
    the hardware chose for it."""
    recorded = manifest.read_manifest(fs, out)
    if recorded is None or cfg.overwrite:
        return None
    precision = (recorded.get("config") or {}).get("precision") if cfg.precision == "auto" else cfg.precision
    identity = cfg.identity(generator_sha256, judge_sha256, precision)
    done = manifest.finished_output(fs, out, uri=cfg.out, kind=KIND, identity=identity, owned=(), overwrite=False)
    parts = [f for f in done["files"] if f["path"].endswith(".parquet")]
    return SyntheticResult(
        out=cfg.out,
        rows=done["rows"],
        files=len(parts),
        bytes=sum(f["bytes"] for f in parts),
        seconds=0.0,
        rows_per_s=0.0,
        per_label={int(c): n for c, n in done["rows_per_label"].items()},
        mean_confidence=done["mean_confidence"],
        rejected=done["rejected_samples"],
        reused_parts=0,
        precision=precision,
        skipped=True,
    )


def _judge_or_plan_to_train(cfg: SyntheticConfig, generator_info: dict) -> dict | None:
    """The judge's info when a judge is there; None when the default one must be trained first."""
    folder = judge_folder(cfg)
    fs, info_path = _at(folder, JUDGE_INFO)
    if storage.file_type(fs, info_path).name == "File":
        info = read_classifier_info(folder)  # refuses a corrupt judge now
        classes = info["spec"].get("num_classes")
        require(
            classes == generator_info["spec"]["num_classes"],
            f"judge {folder} knows {classes} classes, the generator {generator_info['spec']['num_classes']}",
        )
        return info
    if cfg.judge is not None:
        raise AugmentError(
            f"--judge {cfg.judge} holds no trained classifier ({JUDGE_INFO} missing); train one with `augment judge`"
        )
    return None


def _train_default_judge(cfg: SyntheticConfig, generator_info: dict) -> None:
    from augment.models.generator_file import load_generator
    from augment.stages.judge.train import run as train_judge

    load_generator(cfg.checkpoint)  # its spec must fit its weights before minutes of judge training
    folder = judge_folder(cfg)
    dataset = generator_info.get("dataset", "mnist")
    print(f"no judge in {folder}: training one on real {dataset} first (a few minutes on a laptop CPU)", flush=True)
    train_judge(
        JudgeConfig(
            out=folder,
            dataset=dataset,
            data_root=cfg.data_root,
            download=cfg.download,
            gpu=cfg.gpu,
            address=cfg.address,
        )
    )


def _precision(cfg: SyntheticConfig, fs, out: str, identity: dict, judge: str) -> tuple[str, dict | None]:
    """cfg.precision, with "auto" decided once for the whole run: as the interrupted run being
    continued decided it, else as an earlier job on this machine decided for the same models, else
    by timing both formats on the hardware the actors will run on (precision_probe.py). Returns
    (precision, the probe's figures or None)."""
    if cfg.precision != "auto":
        return cfg.precision, None
    if not cfg.overwrite:
        for entry in storage.entries(fs, storage.join(out, PARTS_FOLDER)):
            if entry.base_name.startswith("part-") and entry.base_name.endswith(".parquet"):
                earlier = json.loads(schema.read_metadata(fs, entry.path).get("run_config", "null")) or {}
                if {**earlier, "precision": "auto"} == identity:
                    return earlier["precision"], None
    local = _actors_run_here(cfg.address)  # a cluster's workers may be another kind than this machine
    key = decision_key(identity["generator_sha256"], identity["judge_sha256"], compute_device(cfg.gpu) == "cuda")
    found = remembered(key) if local else None
    if found is not None:
        print(
            f"precision auto: {found['precision']} (as measured for these models on this machine on "
            f"{found['measured_at']}: bf16 {found['speedup_bf16']:.2f}x fp32's speed)",
            flush=True,
        )
        return found["precision"], {**found, "remembered_from": str(cache_file())}
    found = probe_on_actors_hardware(cfg, judge)
    print(
        f"precision auto: {found['precision']} (bf16 {found['speedup_bf16']:.2f}x fp32's speed here, "
        f"{found['pixels_within_one_step']:.1%} of pixels within one step)",
        flush=True,
    )
    if local:
        remember(key, found)
    return found["precision"], found


def probe_on_actors_hardware(cfg: SyntheticConfig, judge: str) -> dict:
    """precision_probe.probe where the actors will run: here (in a child process, the driver stays
    without torch) for a local run; in a Ray task on a cluster, whose driver may be another kind."""
    if not _attached_to_ray(cfg.address):
        return probe_apart(cfg.checkpoint, judge, compute_device(cfg.gpu) == "cuda")
    import ray

    with ray_session(cfg.address, ray_train=False):
        one = plan_placement(1, cfg.gpu, what="precision probe", cpus=0.5)
        remote = ray.remote(probe).options(num_cpus=0.5, num_gpus=1 if cfg.gpu else 0)
        try:
            with nodes_held(one, what="precision probe"):  # with --gpu, on a GPU node the autoscaler starts
                return ray.get(remote.remote(cfg.checkpoint, judge, compute_device(cfg.gpu) == "cuda"))
        except ray.exceptions.RayTaskError as exc:  # a model that does not load: its one line, not the task's traceback
            if isinstance(exc.cause, AugmentError):
                raise AugmentError(str(exc.cause)) from None
            raise


def _actors_run_here(address: str | None) -> bool:
    """Whether every node the actors can run on is this machine (a local Ray, or a test cluster of
    several nodes on one host)."""
    if not _attached_to_ray(address):
        return True
    import socket

    import ray

    with ray_session(address, ray_train=False):
        hosts = {node["NodeManagerHostname"] for node in ray.nodes() if node["Alive"]}
    return hosts == {socket.gethostname()}


def _attached_to_ray(address: str | None) -> bool:
    import ray

    return address not in (None, "local") or bool(os.environ.get("RAY_ADDRESS")) or ray.is_initialized()


def _reusable_parts(cfg: SyntheticConfig, fs, out: str, identity: dict, bounds, num_classes: int) -> dict[int, dict]:
    """Complete parts an interrupted run with the same settings left behind, checked by footer.

    Anything else in the folder is refused unless --overwrite (then it is removed first).
    """
    names = {part_name(k).rsplit("/", 1)[1]: k for k in range(len(bounds))}
    top = storage.entries(fs, out)
    if cfg.overwrite:
        manifest.clear_output(fs, out, [e.base_name for e in top])
        return {}
    foreign = [e.base_name for e in top if e.base_name not in (PARTS_FOLDER, CARD_NAME)]
    found = storage.entries(fs, storage.join(out, PARTS_FOLDER))
    stale = [e for e in found if e.base_name.startswith(".part-") and ".tmp-" in e.base_name]
    for entry in stale:  # temporaries of a killed writer: never visible to readers
        storage.delete(fs, entry.path)
    found = [e for e in found if e not in stale]
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


@contextmanager
def _actor_pool(cfg: SyntheticConfig, parts: int) -> Iterator[tuple[int, dict, int]]:
    """(actors, Ray resources per actor, torch threads per actor) from the cluster's resources.

    One actor per CPU (or GPU), never more than there are parts; when parts are fewer than CPUs,
    each actor gets more torch threads instead, so a small job still uses the whole machine.
    Actors reserve only part of their CPUs: Ray Data and the driver must always find a CPU to run
    on, or the pipeline stalls (an actor pool holding every CPU deadlocked on a 2-core machine).
    """
    import ray

    if cfg.gpu:
        # One actor per GPU the node types allow (not only those up now), each with its node's CPUs
        # per GPU (Ray Data's own tasks run on the head's CPUs where it has them).
        shape = cluster_shape()
        actors = min(cfg.workers or max(1, int(gpus_possible(shape))), parts)
        placement = plan_placement(actors, True, what="generation", cpus_kept_free=1.0, shape=shape)
        with nodes_held(placement, what="generation"):
            yield actors, {"num_gpus": 1, "num_cpus": placement.cpus}, placement.threads
        return
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    actors = min(cfg.workers or cpus, parts)
    threads = max(1, cpus // actors)
    yield actors, {"num_cpus": min(threads, cpus / actors) * 0.5}, threads


def _run_parts(
    cfg: SyntheticConfig, plan: PartPlan, todo: list[tuple[int, int, int]], total_parts: int
) -> dict[int, dict]:
    import ray

    with (
        ray_session(cfg.address, ray_train=False),
        progress_channel() as progress,
        _actor_pool(cfg, len(todo)) as (actors, resources, threads),
    ):
        # augment prints a line per part and the rows inside parts (progress); Ray Data's own
        # progress blocks would come between them every few seconds
        ray.data.DataContext.get_current().enable_progress_bars = console.verbose()
        items = [{"part": k, "start": start, "stop": stop} for k, start, stop in todo]
        rows_todo = sum(stop - start for _, start, stop in todo)
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            _RayPartMaker,
            fn_constructor_kwargs={
                "plan": plan,
                "device": compute_device(cfg.gpu),
                "threads": threads,
                "progress": progress,
                "rows_todo": rows_todo,
            },
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
            **resources,
        )
        results: dict[int, dict] = {}
        started = time.perf_counter()
        try:
            for row in dataset.iter_rows():
                result = json.loads(row["result"])
                results[result["part"]] = result
                made = sum(r["rows"] for r in results.values())
                print(
                    f"{result['path']} done ({len(results)}/{len(todo)} this run, {total_parts} in all): "
                    f"{result['rows']:,} rows in {result['seconds']:.1f} s; "
                    f"{made / (time.perf_counter() - started):,.0f} rows/s overall",
                    flush=True,
                )
        except Exception as exc:  # Ray wraps the actor's exception; the user needs its first line
            raise AugmentError(
                f"generation failed ({len(results)} of {len(todo)} parts finished; rerun to continue): "
                f"{first_line(exc)}"
            ) from None
    return results


class _RayPartMaker:
    """Ray Data actor: one PartMaker per actor; each batch is one part descriptor."""

    def __init__(self, plan: PartPlan, device: str, threads: int, progress: ProgressReporter, rows_todo: int):
        import ray

        from augment.stages.synthetic.synthesis import PartMaker  # torch: in the actor only

        self.maker = PartMaker(plan, device=device, threads=threads)
        self.progress, self.rows_todo = progress, rows_todo
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        done = []
        for k, start, stop in zip(batch["part"], batch["start"], batch["stop"]):

            def rows_done(rows: int, part: int = int(k), size: int = int(stop - start)) -> None:
                self.progress.update("generating", rows, self.rows_todo, "rows", key=part, final=rows == size)

            result = self.maker.write_part(int(k), int(start), int(stop), on_rows=rows_done)
            done.append(json.dumps({**result, "node": self.node}))
        return {"result": np.array(done, dtype=object)}
