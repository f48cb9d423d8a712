"""Checks across a Ray Train stage's options (each option's own bounds live with its declaration).
No torch: configs run them where they are built."""

from __future__ import annotations

from augment.core.errors import AugmentError, require
from augment.core.per_class import describe_per_class


def check_training_options(cfg) -> None:
    """What the options of a Ray Train stage must hold together: a global batch that splits evenly
    over the workers (each option's own bounds are checked with its declaration)."""
    require(
        cfg.batch_size >= cfg.workers and cfg.batch_size % cfg.workers == 0,
        f"--batch-size {cfg.batch_size} must be a positive multiple of --workers {cfg.workers}",
    )


def check_training_subset(limit: int | None, real_per_class, batch_size: int, num_classes: int = 10) -> None:
    """--limit / --real-per-class: one of them at most, and at least one global batch of images
    (checked here for counts; percentages of each class once the data is read)."""
    require(limit is None or real_per_class is None, "--limit and --real-per-class cannot be combined: choose one")
    if limit is not None:
        require(limit >= batch_size, f"--limit {limit} is smaller than one batch ({batch_size})")
    if isinstance(real_per_class, int):
        require(real_per_class >= 1, f"--real-per-class must be at least 1 (got {real_per_class})")
        rows = real_per_class * num_classes
        require(
            rows >= batch_size,
            f"--real-per-class {real_per_class} gives {rows} images, fewer than one batch ({batch_size})",
        )
    elif real_per_class is not None and len(real_per_class) != num_classes:
        raise AugmentError(
            f"--real-per-class {describe_per_class(real_per_class)}: needs {num_classes} entries (one per class), "
            f"got {len(real_per_class)}"
        )
    elif real_per_class is not None and all(isinstance(entry, int) for entry in real_per_class):
        require(
            all(entry >= 1 for entry in real_per_class),
            f"--real-per-class: every class needs at least 1 image (got {describe_per_class(real_per_class)})",
        )
        rows = sum(real_per_class)
        require(
            rows >= batch_size,
            f"--real-per-class {describe_per_class(real_per_class)} gives {rows} images, fewer than one batch "
            f"({batch_size})",
        )
