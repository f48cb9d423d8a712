"""The GAN's per-worker training loop (Ray Train runs it on every worker; train.py is the driver):
build or resume G, D, the EMA and their optimizers, then epochs of DDP steps on a DistributedSampler
shard, each reported to Ray Train with rank 0's checkpoint.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass

import torch

from augment.core.precision import resolve_for_training
from augment.core.ray_train import crash_once, digits_on_device, newest_checkpoint, start_worker, write_checkpoint_meta
from augment.models.checkpoint import save_state
from augment.models.diff_augment import parse_policy
from augment.models.gan import GanSpec, build_discriminator, build_generator, init_weights, memory_format_for
from augment.models.gan_step import AUTOCAST_DTYPES, STAT_NAMES, GanStep, make_ema
from augment.stages.gan import artifacts
from augment.stages.gan.config import GanConfig


@dataclass
class _Nets:
    """G, D, G's weight average and their optimizers: what a checkpoint holds."""

    generator: torch.nn.Module
    discriminator: torch.nn.Module
    ema: torch.nn.Module
    g_optimizer: torch.optim.Optimizer
    d_optimizer: torch.optim.Optimizer

    @classmethod
    def build(cls, cfg: GanConfig, spec: GanSpec, device: torch.device, world: int) -> _Nets:
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        generator, discriminator = build_generator(spec), build_discriminator(spec)
        for net in (generator, discriminator):
            net.apply(init_weights)
            net.to(device, memory_format=memory_format_for(spec))
        betas = (cfg.beta1, cfg.beta2)
        g_optimizer = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=betas)
        d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=cfg.d_lr or cfg.lr, betas=betas)
        ema = make_ema(generator, cfg.ema_decay)
        if world > 1 and device.type == "cuda":
            # G's BatchNorm statistics over the global batch, as with one worker: per-worker statistics
            # of 128/k samples made the result depend on --workers. The same Parameters and buffers
            # (the optimizer's and the EMA's), the same state_dict keys. (NCCL only: gloo has no
            # SyncBatchNorm kernel, so CPU workers keep per-worker statistics.)
            generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(generator)
        return cls(generator, discriminator, ema, g_optimizer, d_optimizer)

    def set_learning_rates(self, cfg: GanConfig, epoch: int) -> None:
        """--lr-decay: a function of the epoch alone, so a resumed or extended run keeps its schedule."""
        factor = cfg.lr_decay ** (epoch - 1)
        for optimizer, base in ((self.g_optimizer, cfg.lr), (self.d_optimizer, cfg.d_lr or cfg.lr)):
            for group in optimizer.param_groups:
                group["lr"] = base * factor

    def state(self, epoch: int) -> dict:
        return {"epoch": epoch, **{name: getattr(self, name).state_dict() for name in STATE_KEYS}}

    def load(self, state: dict) -> None:
        for name in STATE_KEYS:
            getattr(self, name).load_state_dict(state[name])


STATE_KEYS = ("generator", "discriminator", "ema", "g_optimizer", "d_optimizer")


def train_worker(loop: dict) -> None:
    """Runs on every Ray Train worker: build or resume, then epochs, each reported with its checkpoint."""
    import ray.train
    import ray.train.torch
    from torch.utils.data import DistributedSampler

    worker = start_worker(loop, GanConfig)
    cfg, device = worker.cfg, worker.device
    precision = resolve_for_training(cfg.precision, device.type == "cuda")  # on the worker: its hardware decides
    images, labels = digits_on_device(loop["train"], device)
    spec = cfg.spec(loop["num_classes"])
    nets = _Nets.build(cfg, spec, device, worker.world)
    images = images.contiguous(memory_format=memory_format_for(spec))
    history, resumed_from = [], 0
    resume = newest_checkpoint(cfg.out, ray.train.get_checkpoint())
    if resume:
        state, history = resume
        nets.load(state)
        resumed_from = state["epoch"]
    prepare = lambda net: ray.train.torch.prepare_model(net, move_to_device=device)  # noqa: E731
    step = GanStep(
        prepare(nets.generator),
        prepare(nets.discriminator),
        nets.g_optimizer,
        nets.d_optimizer,
        nets.ema,
        cfg.loss,
        cfg.latent_dim,
        parse_policy(cfg.diff_augment),
        autocast_dtype=AUTOCAST_DTYPES[precision],
    )
    sampler = DistributedSampler(
        range(len(labels)), num_replicas=worker.world, rank=worker.rank, shuffle=True, seed=cfg.seed, drop_last=True
    )
    grid = artifacts.fixed_grid_inputs(cfg.latent_dim, spec.num_classes, cfg.seed)
    for epoch in range(resumed_from + 1, cfg.epochs + 1):
        nets.set_learning_rates(cfg, epoch)
        row = _epoch(worker, step, sampler, images, labels, epoch, loop["progress"])
        row.update(
            optimizer_steps=int(next(iter(nets.d_optimizer.state.values()))["step"]),
            resumed_from_epoch=resumed_from,
            replica_max_abs_diff=_replica_max_abs_diff([nets.generator, nets.discriminator], worker.world),
            precision=precision,
            workers=worker.world,
            nodes=worker.nodes,
        )
        history.append(row)
        if worker.rank == 0:
            loop["progress"].line(_epoch_line(row, cfg.epochs))
            png = artifacts.sample_grid_png(nets.ema.module, *grid, spec.num_classes)
            artifacts.write_grid(cfg.out, epoch, png)
            artifacts.write_metrics_csv(cfg.out, history)
        _report(worker, nets, epoch, history, row)


def _epoch(worker, step: GanStep, sampler, images, labels, epoch: int, progress) -> dict:
    """One epoch of G and D steps on this worker's shard; the losses averaged over the workers."""
    import torch.distributed as dist

    cfg, rank, world, device = worker.cfg, worker.rank, worker.world, worker.device
    started = time.perf_counter()
    per_worker = cfg.batch_size // world
    sampler.set_epoch(epoch)
    torch.manual_seed(hash((cfg.seed, epoch, rank)) % (1 << 62))  # a resumed epoch draws the same noise
    order = torch.tensor(list(sampler), device=device)
    steps = len(order) // per_worker
    totals = torch.zeros(len(STAT_NAMES), device=device)
    for i in range(steps):
        batch = order[i * per_worker : (i + 1) * per_worker]
        totals += step(images[batch], labels[batch])
        if rank == 0:
            samples = (i + 1) * per_worker * world, steps * per_worker * world
            progress.update(f"gan epoch {epoch}/{cfg.epochs}", *samples, "samples")
        if cfg.fail_at_epoch == epoch and rank == world - 1:
            crash_once(cfg.out)
    if world > 1:
        dist.all_reduce(totals)
        totals /= world
    seconds = time.perf_counter() - started
    return {
        "epoch": epoch,
        **{name: round(value, 5) for name, value in zip(STAT_NAMES, (totals / steps).tolist())},
        "seconds": round(seconds, 3),
        "samples_per_s": round(steps * per_worker * world / seconds, 1),
    }


def _report(worker, nets: _Nets, epoch: int, history: list, row: dict) -> None:
    """The epoch's metrics to Ray Train, with rank 0's checkpoint every checkpoint_every epochs and the last."""
    import ray.train

    cfg = worker.cfg
    if epoch % cfg.checkpoint_every and epoch != cfg.epochs:
        ray.train.report(row)
        return
    with tempfile.TemporaryDirectory() as folder:
        saved = None
        if worker.rank == 0:
            save_state(folder, nets.state(epoch))
            write_checkpoint_meta(folder, epoch, history, asdict(cfg))
            saved = ray.train.Checkpoint.from_directory(folder)
        ray.train.report(row, checkpoint=saved)


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
