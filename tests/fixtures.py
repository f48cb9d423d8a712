"""Tiny MNIST-family datasets written as IDX files, in torchvision's extracted layout.

The library never parses IDX itself (torchvision does); the tests write it so they need no
download and no ../shared data.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# `augment run` options for a whole pipeline on tiny data in a few minutes on 2 CPUs. A one-epoch
# GAN's digits would rarely pass the judge's default filter (0.99): it is off here.
TINY_RUN = (
    "--n",
    1000,
    "--epochs",
    1,
    "--classifier-epochs",
    1,
    "--samples",
    200,
    "--min-confidence",
    0,
    "--workers",
    1,
    "--offline",
)


@dataclass(frozen=True)
class TinyDataset:
    root: Path  # the data root (holds <ClassName>/raw/)
    raw: Path
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def idx_images(images: np.ndarray) -> bytes:
    n, rows, cols = images.shape
    return struct.pack(">IIII", IMAGES_MAGIC, n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", LABELS_MAGIC, len(labels)) + labels.astype(np.uint8).tobytes()


def random_split(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    return images, labels


def learnable_split(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Class c is a bright 7x7 block in cell c of a 4x4 grid over faint noise: a classifier can learn it."""
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 4)
        images[i, row * 7 : row * 7 + 7, col * 7 : col * 7 + 7] = 255
    return images, labels


def write_tiny_dataset(
    root: Path, class_name: str = "MNIST", n_train: int = 300, n_test: int = 100, seed: int = 0, learnable: bool = False
):
    rng = np.random.default_rng(seed)
    raw = root / class_name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    make_split = learnable_split if learnable else random_split
    train = make_split(rng, n_train)
    test = make_split(rng, n_test)
    for (images_name, labels_name), (images, labels) in ((TRAIN_FILES, train), (TEST_FILES, test)):
        (raw / images_name).write_bytes(idx_images(images))
        (raw / labels_name).write_bytes(idx_labels(labels))
    return TinyDataset(root, raw, train[0], train[1].astype(np.int64), test[0], test[1].astype(np.int64))


def write_truncated_archives(root: Path, class_name: str = "MNIST") -> Path:
    """Only .gz archives, each cut short: what an interrupted download leaves behind."""
    raw = root / class_name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    images, labels = random_split(np.random.default_rng(1), 50)
    for name, payload in zip(TRAIN_FILES + TEST_FILES, [idx_images(images), idx_labels(labels)] * 2):
        archive = gzip.compress(payload)
        (raw / f"{name}.gz").write_bytes(archive[: len(archive) // 2])
    return raw


# torchvision's MNIST.classes, as the GAN stage records them with the generator.
MNIST_CLASSES = [f"{k} - {name}" for k, name in enumerate("zero one two three four five six seven eight nine".split())]


def write_untrained_models(root: Path) -> tuple[Path, Path]:
    """(GAN run folder with an exported generator, judge folder): untrained, seeded weights."""
    import torch

    from augment.models.classifier import ClassifierSpec, DigitClassifier
    from augment.models.classifier_file import export_classifier
    from augment.models.gan import GanSpec, build_generator, init_weights
    from augment.models.generator_file import export_generator

    torch.manual_seed(0)
    spec = GanSpec()
    generator = build_generator(spec)
    generator.apply(init_weights)
    export_generator(str(root / "gan"), generator.eval(), spec, dataset="mnist", epochs=0, classes=MNIST_CLASSES)
    export_classifier(str(root / "judge"), DigitClassifier(ClassifierSpec()).eval(), dataset="mnist", test_accuracy=0.0)
    return root / "gan", root / "judge"


def tiny_report(gan: Path, judge: Path, out: Path, data_root: Path, **options):
    """The report stage's config on the tiny dataset, offline, 100 samples unless told otherwise."""
    from augment.stages.report.config import ReportConfig

    return ReportConfig(
        checkpoint=str(gan),
        judge=str(judge),
        out=str(out),
        data_root=str(data_root),
        download=False,
        **{"samples": 100, **options},
    )


def tiny_generation(root: Path, *, n: int, rows_per_file: int):
    """The tiny learnable dataset (400 train, 100 test), its real export, the fixture models and an
    N-row generation from them: (dataset, real export, generator run, judge, generation)."""
    from augment.stages.real.config import RealConfig
    from augment.stages.real.export import run as export_real
    from augment.stages.synthetic.config import SyntheticConfig
    from augment.stages.synthetic.generate import run as generate

    tiny = write_tiny_dataset(root / "data", n_train=400, n_test=100, learnable=True)
    export_real(RealConfig(out=str(root / "real"), data_root=str(tiny.root), download=False))
    gan, judge = write_untrained_models(root)
    syn = root / "syn"
    generate(SyntheticConfig(checkpoint=str(gan), judge=str(judge), n=n, out=str(syn), rows_per_file=rows_per_file))
    return tiny, root / "real", gan, judge, syn


def part_maker(gan: Path, judge: Path, **plan):
    """A PartMaker for these models outside any generation: balanced classes, no filter, 64-row
    forwards, seed 0, unless `plan` says otherwise."""
    import numpy as np

    from augment.stages.synthetic.parts import PartPlan
    from augment.stages.synthetic.synthesis import PartMaker

    defaults = {
        "out": "unused",
        "n": 1,
        "seed": 0,
        "boundaries": tuple(np.linspace(0.1, 1.0, 10).tolist()),
        "min_confidence": 0.0,
        "max_attempts": 1,
        "batch_size": 64,
        "metadata": {},
    }
    return PartMaker(PartPlan(checkpoint=str(gan), judge=str(judge), **{**defaults, **plan}))
