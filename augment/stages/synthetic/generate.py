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

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from augment.core import card, console, schema, storage
from augment.core.errors import AugmentError, first_line
from augment.core.node_types import cluster_shape
from augment.core.placement import compute_device, gpus_possible, nodes_held
from augment.core.placement import plan as plan_placement
from augment.core.progress import ProgressReporter, progress_channel
from augment.core.ray_session import ray_session, refuse_gpu_on_a_cpu_machine
from augment.core.stage import Made, Output, run_stage
from augment.models.classifier_file import read_classifier_info
from augment.models.generator_file import read_generator_info
from augment.stages.synthetic import resume
from augment.stages.synthetic.config import FOLDER, SyntheticConfig
from augment.stages.synthetic.inputs import judge_folder, judge_or_plan_to_train, resolved_weights, train_default_judge
from augment.stages.synthetic.model_check import check_models_apart
from augment.stages.synthetic.parts import PARTS_FOLDER, PartPlan, part_bounds
from augment.stages.synthetic.precision_policy import decide_precision
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
    thresholds: tuple[float, ...] = ()  # each class's confidence threshold (empty: no filter)
    min_confidence: float = 0.0

    @classmethod
    def from_manifest(cls, out: str, done: dict) -> SyntheticResult:
        parts = [f for f in done["files"] if f["path"].endswith(".parquet")]
        return cls(
            out=out,
            rows=done["rows"],
            files=len(parts),
            bytes=sum(f["bytes"] for f in parts),
            seconds=0.0,
            rows_per_s=0.0,
            per_label={int(c): n for c, n in done["rows_per_label"].items()},
            mean_confidence=done["mean_confidence"],
            rejected=done["rejected_samples"],
            reused_parts=0,
            precision=done["config"]["precision"],
            skipped=True,
            thresholds=tuple(done.get("thresholds") or ()),
            min_confidence=done["config"].get("min_confidence", 0.0),
        )

    @property
    def summary(self) -> str:
        speed = "" if self.skipped else f", {self.rows_per_s:,.0f} rows/s"
        return f"{self.rows:,} rows{speed}, mean confidence {self.mean_confidence:.3f}{self.lowered()}"

    def lowered(self) -> str:
        """The classes whose own threshold is below --min-confidence (--keep-share), said in words."""
        low = [f"{c} ≥ {t:.3g}" for c, t in enumerate(self.thresholds) if t < self.min_confidence]
        return f"; filter lowered for class {', '.join(low)} (their top --keep-share of draws)" if low else ""


class SyntheticStage:
    """Generation, as the stage contract (core/stage.py) sees it. identity() reads the models (training
    the default judge on first use); work() settles "auto" precision into the identity, keeps the
    parts an interrupted run left and makes the rest on a Ray Data actor pool."""

    KIND, OWNED, CONTINUES = KIND, (), True

    def identity(self, cfg: SyntheticConfig) -> dict:
        refuse_gpu_on_a_cpu_machine(cfg.gpu, cfg.address)
        fs, out = storage.resolve(cfg.out)
        if storage.file_type(fs, out).name == "File":
            raise AugmentError(f"--out {cfg.out} is a file, not a folder")
        storage.check_writable(cfg.out)
        self.generator_info = read_generator_info(cfg.checkpoint)  # refuses a missing or corrupt generator now
        self.cfg = resolved_weights(cfg, self.generator_info)
        judge_info = judge_or_plan_to_train(self.cfg, self.generator_info)
        if judge_info is None:
            train_default_judge(self.cfg, self.generator_info)
            judge_info = read_classifier_info(judge_folder(self.cfg))
        self.judge_sha256 = judge_info["sha256"]
        return self.cfg.identity(self.generator_info["sha256"], self.judge_sha256, self.cfg.precision)

    def finished(self, cfg: SyntheticConfig, output: Output) -> dict | None:
        return resume.finished(self.cfg, output.fs, output.path, output.identity)

    def from_manifest(self, cfg: SyntheticConfig, done: dict) -> SyntheticResult:
        return SyntheticResult.from_manifest(cfg.out, done)

    def work(self, _: SyntheticConfig, output: Output) -> Made[SyntheticResult]:
        started, cfg = time.perf_counter(), self.cfg
        precision, probed = decide_precision(cfg, output.fs, output.path, output.identity, judge_folder(cfg))
        output.identity = cfg.identity(self.generator_info["sha256"], self.judge_sha256, precision)
        plan = self.part_plan(output.identity, precision)
        plan = replace(plan, thresholds=check_models_apart(plan))  # before reusable_parts, which may clear the folder
        bounds = part_bounds(cfg.n, cfg.rows_per_file)
        num_classes = self.generator_info["spec"]["num_classes"]
        reused = resume.reusable_parts(cfg, output.fs, output.path, output.identity, bounds, num_classes)
        todo = [(k, start, stop) for k, (start, stop) in enumerate(bounds) if k not in reused]
        parts = {**reused, **(_run_parts(cfg, plan, todo, len(bounds)) if todo else {})}
        resume.remove_temporaries(output.fs, output.path)  # a writer on a node lost mid-run leaves its own
        files = [parts[k] for k in range(len(bounds))]
        rows = sum(f["rows"] for f in files)
        if rows != cfg.n:  # an invariant of the layout: fail loudly rather than publish a wrong count
            raise AugmentError(
                f"internal error: parts hold {rows} rows, expected {cfg.n}; output left without a manifest"
            )
        made_rows = sum(stop - start for _, start, stop in todo)
        seconds = time.perf_counter() - started
        result = SyntheticResult(
            out=cfg.out,
            rows=rows,
            files=len(files),
            bytes=sum(f["bytes"] for f in files),
            seconds=seconds,
            rows_per_s=made_rows / seconds if made_rows else 0.0,
            per_label={c: int(sum(f["per_label"][c] for f in files)) for c in range(num_classes)},
            mean_confidence=sum(f["confidence_sum"] for f in files) / rows,
            rejected=sum(f["rejected"] for f in files),
            reused_parts=len(reused),
            precision=precision,
            skipped=False,
            thresholds=plan.thresholds,
            min_confidence=cfg.min_confidence,
        )
        entries = [{key: f[key] for key in ("path", "rows", "bytes", "sha256")} for f in files]
        made_card = _card(cfg, self.generator_info, self.judge_sha256, result, entries)
        return Made(result, entries, self.facts(result, probed, files), card=made_card)

    def part_plan(self, identity: dict, precision: str) -> PartPlan:
        """What every actor needs to know about the whole generation."""
        cfg, info = self.cfg, self.generator_info
        metadata = schema.file_metadata(info.get("dataset", "mnist"), generator=info["sha256"], run_config=identity)
        return PartPlan(
            checkpoint=cfg.checkpoint,
            judge=judge_folder(cfg),
            out=cfg.out,
            n=cfg.n,
            seed=cfg.seed,
            boundaries=tuple(class_boundaries(info["spec"]["num_classes"], cfg.class_weights).tolist()),
            min_confidence=cfg.min_confidence,
            max_attempts=cfg.max_attempts,
            batch_size=cfg.forward_batch(),
            metadata=metadata,
            precision=precision,
            temperature=cfg.temperature,
            keep_share=cfg.keep_share,
        )

    def facts(self, result: SyntheticResult, probed: dict | None, files: list[dict]) -> dict:
        cfg = self.cfg
        return {
            "rows": result.rows,
            "rows_per_label": {str(c): v for c, v in result.per_label.items()},
            "generator_sha256": self.generator_info["sha256"],
            "judge_sha256": self.judge_sha256,
            "seed": cfg.seed,
            "n": cfg.n,
            "mean_confidence": result.mean_confidence,
            "thresholds": list(result.thresholds),  # per class: --min-confidence, or lower (--keep-share)
            "rejected_samples": result.rejected,
            "reused_parts": result.reused_parts,
            "rows_per_s": round(result.rows_per_s, 1),
            "precision_probe": probed,
            "run": {"workers": cfg.workers, "gpu": cfg.gpu, "batch_size": cfg.forward_batch()},
            "made_on": {f["path"]: f["node"] for f in files if f.get("node")},  # the Ray node of each part made now
        }


def run(cfg: SyntheticConfig) -> SyntheticResult:
    return run_stage(SyntheticStage(), cfg)


def _card(
    cfg: SyntheticConfig, generator_info: dict, judge_sha256: str, result: SyntheticResult, files: list[dict]
) -> card.Card:
    per_label, rejected, precision = result.per_label, result.rejected, result.precision
    dataset = generator_info.get("dataset", "mnist")
    weights = "equal" if cfg.class_weights is None else ", ".join(f"{w:g}" for w in cfg.class_weights)
    judge = (
        (
            f"kept draws the judge gives ≥ {cfg.min_confidence:g} for their label{result.lowered()}; {rejected:,} "
            f"draws were replaced (at most {cfg.max_attempts} per row)"
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
                + (f" --keep-share {cfg.keep_share:g}" if cfg.min_confidence else "")
                + (f" --temperature {cfg.temperature:g}" if cfg.temperature != 1.0 else "")
                + "`",
            ),
        ],
        rows_per_label={PARTS_FOLDER: per_label},
        uri=cfg.out,
    )


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
    """Ray Data batch inference, as in Ray's examples: part descriptors in, one row per written part out."""
    import ray

    with (
        ray_session(cfg.address, ray_train=False),
        progress_channel() as progress,
        _actor_pool(cfg, len(todo)) as (actors, resources, threads),
    ):
        # augment prints a line per part and the rows inside parts (progress); Ray Data's own
        # progress blocks would come between them every few seconds
        ray.data.DataContext.get_current().enable_progress_bars = console.verbose()
        # (1) the work items: one row per part still to make (ids start..stop-1), one block each
        items = [{"part": k, "start": start, "stop": stop} for k, start, stop in todo]
        parts = ray.data.from_items(items, override_num_blocks=len(items))
        # (2) a pool of actors, each loading the models once (PartGenerator.__init__) and making one
        #     part per call (__call__); (3) their resources: CPUs and threads, or a GPU each
        written = parts.map_batches(
            PartGenerator,
            fn_constructor_args=(plan, compute_device(cfg.gpu), threads, progress, sum(r[2] - r[1] for r in todo)),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
            **resources,
        )
        # (4) consume the written parts as they finish: the images stay in the files, only these rows come back
        return _collect(written, len(todo), total_parts)


def _collect(written, todo: int, total_parts: int) -> dict[int, dict]:
    results: dict[int, dict] = {}
    started = time.perf_counter()
    try:
        for row in written.iter_rows():
            result = {key: _plain(value) for key, value in row.items()}
            results[result["part"]] = result
            made = sum(r["rows"] for r in results.values())
            print(
                f"{result['path']} done ({len(results)}/{todo} this run, {total_parts} in all): "
                f"{result['rows']:,} rows in {result['seconds']:.1f} s; "
                f"{made / (time.perf_counter() - started):,.0f} rows/s overall",
                flush=True,
            )
    except Exception as exc:  # Ray wraps the actor's exception; the user needs its first line
        raise AugmentError(
            f"generation failed ({len(results)} of {todo} parts finished; rerun to continue): {first_line(exc)}"
        ) from None
    return results


def _plain(value):
    """A Ray Data row's value as the manifest records it (numpy scalars and arrays to Python)."""
    return value.tolist() if isinstance(value, np.ndarray | np.generic) else value


class PartGenerator:
    """The predictor: __init__ loads the generator and the judge once per actor; __call__ makes each
    part descriptor of the batch into a Parquet part (written inside the actor) and returns one row
    per part: where it is, its rows, per-label counts, confidence sum and draws replaced."""

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

            done.append({**self.maker.write_part(int(k), int(start), int(stop), on_rows=rows_done), "node": self.node})
        return {key: np.array([part[key] for part in done]) for key in done[0]}
