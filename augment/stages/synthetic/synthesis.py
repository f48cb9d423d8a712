"""Making synthetic rows: generator + judge -> labeled, scored digits -> one Parquet part file.

No Ray here: generate.py runs `PartMaker` inside Ray Data actors, and the benchmark runs the very
same object in a plain loop. A part is a fixed id range, so it is written identically whoever
writes it, and it becomes visible only when complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from augment.core import mnist, schema, storage
from augment.core.memory import steady_heap
from augment.core.precision import strict_fp32_on_cuda
from augment.models.classifier import fuse_for_inference
from augment.models.classifier_file import load_classifier
from augment.models.generator_file import load_generator, read_generator_info
from augment.models.generator_inference import for_inference
from augment.stages.synthetic.parts import PartPlan, part_name
from augment.stages.synthetic.sampling import class_boundaries, labels_for, latents_for

# Every forward pass runs on a multiple of this many rows (padding the rest): CPU kernels choose
# their blocking by batch shape, and odd small batches gave last-bit differences in images.
FORWARD_MULTIPLE = 64
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


class NoConfidentSample(RuntimeError):
    pass


class DigitScorer:
    """The generator and, when given, the judge, loaded once: latents + labels -> stored pixels and the
    judge's probability of each label. Weights load from safetensors only (no pickle).
    `precision` "bf16" runs both models in bf16 (augment/core/precision.py says where that pays); BatchNorms
    are folded in fp32 first, and pixels are rounded to uint8 in fp32."""

    def __init__(self, checkpoint: str, judge: str | None, *, device: str = "cpu", precision: str = "fp32"):
        if precision not in DTYPES:
            raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
        self.device = torch.device(device)
        self.dtype = DTYPES[precision]
        if self.device.type == "cuda":
            strict_fp32_on_cuda()
        generator, info = load_generator(checkpoint, self.device)
        self.generator = for_inference(generator, self.dtype)
        self.generator_info = info
        self.latent_dim = info["spec"]["latent_dim"]
        self.num_classes = info["spec"]["num_classes"]
        self.generator_sha256 = info["sha256"]
        self.judge = None
        if judge is not None:
            model, _ = load_classifier(judge)
            self.judge = fuse_for_inference(model, self.dtype).to(self.device)

    @torch.inference_mode()
    def score(self, latents: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 images (N, 28, 28) and the judge's probability of each conditioning label (None: no judge)."""
        rows = len(labels)
        padded = -(-rows // FORWARD_MULTIPLE) * FORWARD_MULTIPLE
        z = torch.zeros(padded, self.latent_dim, dtype=self.dtype)
        z[:rows] = latents
        y = torch.zeros(padded, dtype=torch.int64)
        y[:rows] = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        z, y = z.to(self.device), y.to(self.device)
        pixels = mnist.from_gan_range(self.generator(z, y).float())  # what is stored is what gets judged
        images = pixels[:rows, 0].cpu().numpy()
        if self.judge is None:
            return images, None
        judged = mnist.to_gan_range(pixels).to(self.dtype).contiguous(memory_format=torch.channels_last)
        probs = torch.softmax(self.judge(judged).float(), dim=1)
        confidence = probs.gather(1, y[:, None]).squeeze(1)
        return images, confidence[:rows].cpu().numpy()


class PartMaker(DigitScorer):
    """Loads the generator and the judge once, then writes whole parts."""

    def __init__(self, plan: PartPlan, *, device: str = "cpu", threads: int | None = None):
        steady_heap()
        if threads:
            torch.set_num_threads(threads)
        super().__init__(plan.checkpoint, plan.judge, device=device, precision=plan.precision)
        self.plan = plan
        self.boundaries = np.asarray(plan.boundaries)
        self.thresholds = np.asarray(plan.threshold_of_each_class(), dtype=np.float64)  # as the float it was given
        self.fs, self.folder = storage.resolve(plan.out)

    def make_rows(
        self,
        ids: np.ndarray,
        images: np.ndarray | None = None,
        confidence: np.ndarray | None = None,
        on_accepted: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(images, labels, confidence, rejected) for these ids; rejected rows draw fresh latents.
        `images` and `confidence`, when given, are filled in place and returned; `on_accepted(rows
        accepted so far)` after every forward pass.

        Each attempt runs over every row still pending among `ids`, in forward passes of the plan's
        batch size: the filter's redraws of a whole row group fill full batches, where redrawing each
        batch's few doubted rows on its own ran hundreds of padded passes of a handful of rows (0.99
        filter, 40,000 rows: 803 passes, 518 of them under 50 rows, where 158 do; 1.48x, measured).
        A row's image depends only on its id and attempt (every pass is padded to FORWARD_MULTIPLE),
        not on which rows share its pass."""
        plan = self.plan
        labels = labels_for(ids, plan.n, self.boundaries)
        if images is None:
            images = np.empty((len(ids), *schema.IMAGE_SHAPE), dtype=np.uint8)
        if confidence is None:
            confidence = np.empty(len(ids), dtype=np.float32)
        pending, rejected = np.arange(len(ids)), 0
        for attempt in range(plan.max_attempts):
            done, doubted = len(ids) - len(pending), []
            for first in range(0, len(pending), plan.batch_size):
                batch = pending[first : first + plan.batch_size]
                z = latents_for(ids[batch], plan.seed, self.latent_dim, attempt) * plan.temperature
                pixels, scores = self.score(z, labels[batch])
                accepted = scores >= self.thresholds[labels[batch]]
                images[batch[accepted]] = pixels[accepted]
                confidence[batch[accepted]] = scores[accepted]
                doubted.append(batch[~accepted])
                done += int(accepted.sum())
                if on_accepted is not None:
                    on_accepted(done)
            pending = np.concatenate(doubted)
            if not pending.size:
                return images, labels, confidence, rejected
            rejected += len(pending)
        worst = np.bincount(labels[pending]).argmax()
        raise NoConfidentSample(
            f"{len(pending)} rows (class {worst} most) found no sample with judge confidence >= "
            f"{self.thresholds[worst]:.4g} in {plan.max_attempts} tries; lower --min-confidence or raise --keep-share"
        )

    def table(self, ids: np.ndarray, images: np.ndarray, labels: np.ndarray, confidence: np.ndarray):
        """Rows as the schema's Arrow table, with this generation's footer metadata."""
        return schema.make_table(
            ids,
            images,
            labels,
            source="synthetic",
            metadata=self.plan.metadata,
            confidence=confidence,
            generator=self.generator_sha256,
        )

    def write_part(
        self, index: int, start: int, stop: int, on_rows: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        """Make rows start..stop-1 into part `index`, published whole; `on_rows(rows done)` after each batch."""
        started = time.perf_counter()
        plan = self.plan
        path = storage.join(self.folder, part_name(index))
        writer = schema.PartWriter(self.fs, path, plan.metadata)
        counts = np.zeros(len(self.boundaries), dtype=np.int64)
        confidence_sum, rejected = 0.0, 0
        try:
            for group_start in range(start, stop, schema.ROW_GROUP_ROWS):
                ids = np.arange(group_start, min(group_start + schema.ROW_GROUP_ROWS, stop), dtype=np.int64)
                # Filled in place, one large buffer per row group: a small array per batch outlives
                # the batch's activations on malloc's heap and fragments it (actor RSS 0.8 -> 2.4 GB
                # measured); one large allocation goes to mmap and leaves the heap to the model.
                images = np.empty((len(ids), *schema.IMAGE_SHAPE), dtype=np.uint8)
                confidence = np.empty(len(ids), dtype=np.float32)
                done = None if on_rows is None else (lambda rows, before=group_start - start: on_rows(before + rows))
                _, labels, _, group_rejected = self.make_rows(ids, images, confidence, on_accepted=done)
                rejected += group_rejected
                writer.write(self.table(ids, images, labels, confidence))
                counts += np.bincount(labels, minlength=len(counts))
                confidence_sum += float(confidence.sum(dtype=np.float64))
                del images  # before the next group's buffer exists, not after
        except BaseException:
            writer.abort()
            raise
        writer.close()
        return {
            "part": index,
            "path": part_name(index),
            "rows": stop - start,
            "bytes": self.fs.get_file_info(path).size,
            "sha256": storage.sha256(self.fs, path),
            "per_label": counts.tolist(),
            "confidence_sum": confidence_sum,
            "rejected": rejected,
            "seconds": time.perf_counter() - started,
        }


def first_draws(
    checkpoint: str, judge: str, n: int, *, seed: int = 0, temperature: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, the judge's probability of each label) of ids 0..n-1, each its first draw (no
    filter): what the generator makes before the judge has a say. Class-balanced, as any id prefix."""
    num_classes = read_generator_info(checkpoint)["spec"]["num_classes"]  # the json only: PartMaker loads the weights
    plan = PartPlan(
        checkpoint=checkpoint,
        judge=judge,
        out="unused",
        n=n,
        seed=seed,
        boundaries=tuple(class_boundaries(num_classes, None).tolist()),
        min_confidence=0.0,
        max_attempts=1,
        batch_size=512,
        metadata={},
        temperature=temperature,
    )
    images, labels, confidence, _ = PartMaker(plan).make_rows(np.arange(n))
    return images, labels, confidence
