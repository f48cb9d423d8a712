"""The `gan/` stage: run(cfg) trains a class-conditional GAN on Ray Train (DDP) and exports
`generator.safetensors` + `generator.json` for the generation job.

The driver validates, loads the training split once and hands it to the workers through the
object store (47 MB for MNIST: every worker keeps its own copy in memory, on the GPU when there is
one). Each worker draws its shard of every epoch with a DistributedSampler. Rank 0 checkpoints every
`checkpoint_every` epochs; Ray restarts crashed workers from the latest checkpoint, and rerunning
the same command on the same RUN continues the run (Train V2 restores by run name and storage).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from augment.core import manifest, mnist, storage
from augment.core.console import plural
from augment.core.errors import AugmentError
from augment.core.precision import resolve_for_training
from augment.core.progress import progress_channel
from augment.core.ray_session import ray_session, refuse_gpu_on_a_cpu_machine
from augment.core.ray_train import (
    FAULT_MARKER,
    RAY_RUN_NAME,
    RUN_INFO,
    completed_epochs,
    crash_once,
    digits_on_device,
    fit,
    newest_checkpoint,
    nodes_of,
    placed_workers,
    start_worker,
    write_checkpoint_meta,
    write_run_info,
)
from augment.models.checkpoint import save_state
from augment.models.diff_augment import parse_policy
from augment.models.gan import GanSpec, build_discriminator, build_generator, init_weights, memory_format_for
from augment.models.gan_step import AUTOCAST_DTYPES, STAT_NAMES, GanStep, make_ema
from augment.models.generator_file import INFO_FILE, WEIGHTS_FILE, export_generator
from augment.stages.gan import artifacts
from augment.stages.gan.config import FOLDER, GanConfig

KIND = FOLDER  # the manifest's kind: the stage's name
OWNED = (
    manifest.MANIFEST_NAME,
    RUN_INFO,
    RAY_RUN_NAME,
    artifacts.SAMPLES_DIR,
    artifacts.METRICS_FILE,
    artifacts.LOSSES_PLOT,
    artifacts.PROGRESS_GIF,
    WEIGHTS_FILE,
    INFO_FILE,
    FAULT_MARKER,
)


@dataclass(frozen=True)
class GanResult:
    out: str
    epochs: int
    generator_sha256: str
    seconds: float
    samples_per_s: float
    skipped: bool  # already trained to `epochs` with these settings: nothing was done
    precision: str  # the last epoch's forward passes: fp32 or bf16 (autocast)

    @property
    def summary(self) -> str:
        return f"{plural(self.epochs, 'epoch')}, {self.samples_per_s:,.0f} samples/s"


def check_diff_augment(cfg: GanConfig) -> None:
    """--diff-augment names DiffAugment's policies, which models/diff_augment.py knows."""
    try:
        parse_policy(cfg.diff_augment)
    except ValueError as exc:
        raise AugmentError(str(exc)) from None


def run(cfg: GanConfig) -> GanResult:
    started = time.perf_counter()
    check_diff_augment(cfg)
    refuse_gpu_on_a_cpu_machine(cfg.gpu, cfg.address)
    done = completed_epochs(
        cfg.out, kind=KIND, what="GAN run", identity=cfg.identity(), epochs=cfg.epochs, overwrite=cfg.overwrite
    )
    fs, run = storage.resolve(cfg.out)
    if done == cfg.epochs:
        finished = manifest.read_manifest(fs, run)
        return GanResult(
            cfg.out,
            done,
            finished["generator_sha256"],
            0.0,
            finished["samples_per_s"],
            skipped=True,
            precision=finished.get("precision", "fp32"),
        )

    split = mnist.load_split(cfg.dataset, "train", cfg.data_root, download=cfg.download)
    images, labels = mnist.training_subset(split, cfg.limit, cfg.real_per_class)
    storage.check_writable(cfg.out)
    import ray

    with (
        ray_session(cfg.address, ray_train=True),
        progress_channel() as progress,
        placed_workers(cfg, what="GAN", cpus=cfg.cpus_per_worker) as placement,
    ):
        if cfg.overwrite:
            manifest.clear_output(fs, run, OWNED)
        storage.delete(fs, storage.join(run, manifest.MANIFEST_NAME))  # training again: incomplete until exported
        write_run_info(fs, run, KIND, cfg.identity())

        result = fit(
            _train_worker,
            {
                "config": asdict(cfg),
                "train": ray.put((images, labels)),
                "num_classes": len(split.classes),
                "threads": cfg.cpus_per_worker or placement.threads,
                "progress": progress,
            },
            what="GAN",
            cfg=cfg,
            placement=placement,
            storage_path=run,
            fs=fs,
            max_failures=cfg.max_failures,
        )
        state, history = newest_checkpoint(cfg.out, result.checkpoint)

    spec = GanSpec(
        arch=cfg.arch, latent_dim=cfg.latent_dim, num_classes=len(split.classes), spectral_norm=cfg.spectral_norm
    )
    ema = make_ema(build_generator(spec), cfg.ema_decay)
    ema.load_state_dict(state["ema"])
    info = export_generator(
        cfg.out,
        ema.module,
        spec,
        dataset=cfg.dataset,
        epochs=state["epoch"],
        classes=list(split.classes),
        training=cfg.identity(),
        rows_per_label=np.bincount(labels.astype(np.int64), minlength=len(split.classes)).tolist(),
    )
    artifacts.write_metrics_csv(cfg.out, history)
    artifacts.write_progress_gif(cfg.out, state["epoch"])
    artifacts.write_losses_png(cfg.out, history)
    seconds = time.perf_counter() - started
    samples_per_s = history[-1]["samples_per_s"]
    precision = history[-1].get("precision", "fp32")  # epochs of runs older than --precision were fp32
    manifest.write_manifest(
        fs,
        run,
        stage=KIND,
        config=cfg.identity(),
        files=[manifest.file_entry(fs, run, name, rows=0) for name in (WEIGHTS_FILE, INFO_FILE)],
        epochs=state["epoch"],
        generator_sha256=info["sha256"],
        samples_per_s=samples_per_s,
        precision=precision,
        precision_per_epoch=[row.get("precision", "fp32") for row in history],
        nodes=nodes_of(history),
        elapsed_s=round(seconds, 3),
    )
    return GanResult(
        cfg.out, state["epoch"], info["sha256"], seconds, samples_per_s, skipped=False, precision=precision
    )


def _train_worker(loop: dict) -> None:
    """Runs on every Ray Train worker."""
    import ray.train
    import ray.train.torch
    import torch.distributed as dist
    from torch.utils.data import DistributedSampler

    worker = start_worker(loop, GanConfig)
    cfg, rank, world, device = worker.cfg, worker.rank, worker.world, worker.device
    precision = resolve_for_training(cfg.precision, device.type == "cuda")  # on the worker: its hardware decides

    images, labels = digits_on_device(loop["train"], device)
    spec = GanSpec(
        arch=cfg.arch, latent_dim=cfg.latent_dim, num_classes=loop["num_classes"], spectral_norm=cfg.spectral_norm
    )

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    generator, discriminator = build_generator(spec), build_discriminator(spec)
    generator.apply(init_weights)
    discriminator.apply(init_weights)
    layout = memory_format_for(spec)
    generator.to(device, memory_format=layout)
    discriminator.to(device, memory_format=layout)
    images = images.contiguous(memory_format=layout)
    betas = (cfg.beta1, cfg.beta2)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=betas)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr, betas=betas)
    ema = make_ema(generator, cfg.ema_decay)
    if world > 1 and device.type == "cuda":
        # G's BatchNorm statistics over the global batch, as with one worker: per-worker statistics
        # of 128/k samples made the result depend on --workers. The same Parameters and buffers
        # (the optimizer's and the EMA's), the same state_dict keys. (NCCL only: gloo has no
        # SyncBatchNorm kernel, so CPU workers keep per-worker statistics.)
        generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(generator)

    first_epoch, history, resumed_from = 1, [], 0
    resume = newest_checkpoint(cfg.out, ray.train.get_checkpoint())
    if resume:
        state, history = resume
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        ema.load_state_dict(state["ema"])
        g_optimizer.load_state_dict(state["g_optimizer"])
        d_optimizer.load_state_dict(state["d_optimizer"])
        first_epoch = resumed_from = state["epoch"]
        first_epoch += 1

    step = GanStep(
        ray.train.torch.prepare_model(generator, move_to_device=device),
        ray.train.torch.prepare_model(discriminator, move_to_device=device),
        g_optimizer,
        d_optimizer,
        ema,
        cfg.loss,
        cfg.latent_dim,
        parse_policy(cfg.diff_augment),
        autocast_dtype=AUTOCAST_DTYPES[precision],
    )
    per_worker = cfg.batch_size // world
    sampler = DistributedSampler(
        range(len(labels)), num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True
    )
    grid_z, grid_labels = artifacts.fixed_grid_inputs(cfg.latent_dim, spec.num_classes, cfg.seed)
    progress = loop["progress"]

    for epoch in range(first_epoch, cfg.epochs + 1):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        torch.manual_seed(hash((cfg.seed, epoch, rank)) % (1 << 62))  # a resumed epoch draws the same noise
        order = torch.tensor(list(sampler), device=device)
        steps = len(order) // per_worker
        totals = torch.zeros(len(STAT_NAMES), device=device)
        for i in range(steps):
            batch = order[i * per_worker : (i + 1) * per_worker]
            totals += step(images[batch], labels[batch])
            if rank == 0:
                progress.update(
                    f"gan epoch {epoch}/{cfg.epochs}",
                    (i + 1) * per_worker * world,
                    steps * per_worker * world,
                    "samples",
                )
            if cfg.fail_at_epoch == epoch and rank == world - 1:
                crash_once(cfg.out)
        if world > 1:
            dist.all_reduce(totals)
            totals /= world
        seconds = time.perf_counter() - started
        row = {
            "epoch": epoch,
            **{name: round(value, 5) for name, value in zip(STAT_NAMES, (totals / steps).tolist())},
            "seconds": round(seconds, 3),
            "samples_per_s": round(steps * per_worker * world / seconds, 1),
            "optimizer_steps": int(next(iter(d_optimizer.state.values()))["step"]),
            "resumed_from_epoch": resumed_from,
            "replica_max_abs_diff": _replica_max_abs_diff([generator, discriminator], world),
            "precision": precision,
            "workers": world,
            "nodes": worker.nodes,
        }
        history.append(row)
        if rank == 0:
            progress.line(_epoch_line(row, cfg.epochs))
            artifacts.write_grid(
                cfg.out, epoch, artifacts.sample_grid_png(ema.module, grid_z, grid_labels, spec.num_classes)
            )
            artifacts.write_metrics_csv(cfg.out, history)
        if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
            with tempfile.TemporaryDirectory() as folder:
                saved = None
                if rank == 0:
                    save_state(
                        folder,
                        {
                            "epoch": epoch,
                            "generator": generator.state_dict(),
                            "discriminator": discriminator.state_dict(),
                            "ema": ema.state_dict(),
                            "g_optimizer": g_optimizer.state_dict(),
                            "d_optimizer": d_optimizer.state_dict(),
                        },
                    )
                    write_checkpoint_meta(folder, epoch, history, asdict(cfg))
                    saved = ray.train.Checkpoint.from_directory(folder)
                ray.train.report(row, checkpoint=saved)
        else:
            ray.train.report(row)


def _replica_max_abs_diff(models: list[torch.nn.Module], world: int) -> float:
    """Largest difference between ranks of per-tensor parameter sums: 0.0 when DDP keeps replicas identical."""
    if world == 1:
        return 0.0
    import torch.distributed as dist

    sums = torch.stack([p.detach().double().sum() for m in models for p in m.parameters()])
    gathered = [torch.empty_like(sums) for _ in range(world)]
    dist.all_gather(gathered, sums)
    return max(float((g - gathered[0]).abs().max()) for g in gathered)


def _epoch_line(row: dict, epochs: int) -> str:
    return (
        f"epoch {row['epoch']}/{epochs}  loss_D {row['loss_d']:.3f}  loss_G {row['loss_g']:.3f}  "
        f"D(x) {row['d_real']:.2f}  D(G(z)) {row['d_fake']:.2f}  acc real/fake "
        f"{row['acc_real']:.2f}/{row['acc_fake']:.2f}  "
        f"{row['seconds']:.1f} s  {row['samples_per_s']:,.0f} samples/s ({row['precision']})"
    )
