"""MNIST-family datasets through torchvision, and the one place pixels are scaled for the GAN.

torchvision owns the file format, the download and the md5 checks; this module only chooses the
folder, turns torchvision's failures into one-line errors that name the folder and the files, and
hands out plain numpy arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from augment.core.errors import AugmentError
from augment.core.per_class import PerClass, per_class_counts

# Dataset name -> torchvision.datasets class name. All share MNIST's layout (28x28 uint8, 10
# classes, four IDX files), so nothing below is special-cased per dataset.
DATASETS = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "kmnist": "KMNIST",
}
SPLITS = ("train", "test")
DATA_ROOT_ENV = "AUGMENT_DATA_ROOT"
DEFAULT_DATA_ROOT = "~/.cache/augment/data"


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) int64
    classes: tuple[str, ...]


def check_dataset(name: str) -> None:
    if name not in DATASETS:
        raise AugmentError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")


def dataset_class(name: str):
    check_dataset(name)
    import torchvision.datasets  # 3 s: only when data is really read

    return getattr(torchvision.datasets, DATASETS[name])


def resolve_data_root(data_root: str | None = None) -> Path:
    """--data-root, else $AUGMENT_DATA_ROOT, else ~/.cache/augment/data (local: torchvision needs it)."""
    root = Path(data_root or os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT).expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise AugmentError(f"data root {root} is a file, not a folder")
    return root


def archive_names(name: str) -> list[str]:
    """The four .gz files torchvision expects for this dataset, in its own order."""
    return [os.path.basename(url) for url, _md5 in dataset_class(name).resources]


def load_split(name: str, split: str, data_root: str | None = None, *, download: bool = True) -> Split:
    """Load one split as uint8 (N, 28, 28) images and integer labels, downloading when allowed."""
    if split not in SPLITS:
        raise AugmentError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    cls = dataset_class(name)
    root = resolve_data_root(data_root)
    _ensure_files(cls, name, root, download)
    try:
        dataset = cls(root=str(root), train=split == "train", download=False)
    except Exception as exc:  # torchvision reports a damaged extracted file in several ways
        raw = _raw_folder(cls, root)
        raise AugmentError(
            f"cannot read {name} from {raw} ({type(exc).__name__}: {exc}); "
            "delete the extracted files there (not the .gz) to re-extract"
        ) from None
    return Split(
        images=dataset.data.numpy(),
        labels=dataset.targets.numpy().astype(np.int64),
        classes=tuple(dataset.classes),
    )


def _raw_folder(cls, root: Path) -> Path:
    return root / cls.__name__ / "raw"


def _ensure_files(cls, name: str, root: Path, download: bool) -> None:
    """Make torchvision's extracted files exist, or explain in one line why they cannot."""
    from torchvision.datasets.utils import check_integrity

    raw = _raw_folder(cls, root)
    archives = [(os.path.basename(url), md5) for url, md5 in cls.resources]
    if all((raw / os.path.splitext(archive)[0]).is_file() for archive, _ in archives):
        return
    corrupt = [a for a, md5 in archives if (raw / a).is_file() and not check_integrity(str(raw / a), md5)]
    missing = [a for a, _ in archives if not (raw / a).is_file()]
    if not download and (corrupt or missing):
        raise _files_error(name, raw, archives, corrupt, missing, "offline")
    created = [p for p in (raw, *raw.parents) if not p.exists()]  # innermost first
    try:
        # With all four archives present and intact this only extracts: no network needed.
        cls(root=str(root), train=True, download=True)
    except Exception as exc:
        for folder in created:  # leave no empty folders behind a failed attempt
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if isinstance(exc, PermissionError):
            raise AugmentError(f"cannot extract {name} into {raw}: {exc.strerror}") from None
        raise _files_error(name, raw, archives, corrupt, missing, "download failed") from None


def _files_error(name, raw, archives, corrupt, missing, why) -> AugmentError:
    if corrupt and not missing:
        return AugmentError(
            f"{name}: {', '.join(corrupt)} in {raw} is corrupt (md5 mismatch; truncated download?) "
            f"and could not be replaced ({why}): delete it and retry online, or copy an intact one there"
        )
    return AugmentError(
        f"{name} files not found in {raw} and could not be downloaded ({why}): place "
        f"{', '.join(a for a, _ in archives)} there (torchvision layout), or pass --data-root / "
        f"set {DATA_ROOT_ENV} to a folder that holds them"
    )


def to_gan_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels [0, 255] -> float [-1, 1], the range of the generator's tanh output."""
    return images.float().div_(127.5).sub_(1.0)


def from_gan_range(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 pixels, rounded and clamped (inverse of to_gan_range)."""
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def first_per_class(labels: np.ndarray, per_class: int | np.ndarray) -> np.ndarray:
    """Indices (ascending) of the first `per_class` rows of every class (fewer where a class has
    fewer); `per_class` is one count for all classes or one per class (indexed by label)."""
    labels = np.asarray(labels)
    keep = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        count = per_class if np.isscalar(per_class) else int(per_class[label])
        keep[np.flatnonzero(labels == label)[:count]] = True
    return np.flatnonzero(keep)


def low_data_rows(labels: np.ndarray, per_class: PerClass, num_classes: int) -> np.ndarray:
    """The --real-per-class subset: the first rows of every class (K each, or one entry per
    class), refusing a class with fewer.

    One rule for every stage (GAN, judge, merge), so the GAN and the classifiers of a low-data or
    long-tail experiment see exactly the same real images.
    """
    counts = per_class_counts(per_class, np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes))
    return first_per_class(labels, counts)


def balanced_repeat(labels: np.ndarray) -> np.ndarray:
    """Row indices that repeat each class's rows, in order and cycling, up to the largest class's
    count: a long tail's rare classes seen as often as the common ones (GAN --balance-classes).
    A conditional GAN trained on the rows as they are saw a rare class of 2% fifty times less
    often than the rest, and wrote its digits worst (benchmarks/RESULTS.md, long tail)."""
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels)
    picks = [np.resize(np.flatnonzero(labels == c), counts.max()) for c in np.flatnonzero(counts)]
    return np.concatenate(picks)


def training_subset(split: Split, limit: int | None, per_class: PerClass | None) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) a training stage sees: all, the first `limit`, or the low-data subset."""
    rows = slice(limit) if per_class is None else low_data_rows(split.labels, per_class, len(split.classes))
    return split.images[rows], split.labels[rows]
