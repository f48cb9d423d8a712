"""--real-per-class: K (the first K images of every class: the low-data regime) or one entry per
class, a count or a percentage of that class's images ("100%,…,2%": a long tail).

Without torch: the CLI parses the option with it before any stage starts.
"""

from __future__ import annotations

import math

import numpy as np

from augment.core.errors import AugmentError

PerClass = int | tuple


def parse_per_class(text: str | int | list | tuple | None) -> PerClass | None:
    """--real-per-class as the CLI gives it ("100", "100%,…,2%") or as a config recorded it (K or
    a list) -> K or a tuple of counts (int) and percentages ("2%")."""
    if text is None or isinstance(text, int):
        return text
    entries = (
        [str(entry).strip() for entry in text]
        if isinstance(text, (list, tuple))
        else [e.strip() for e in str(text).split(",")]
    )
    parsed = []
    for entry in entries:
        try:
            if entry.endswith("%"):
                share = float(entry[:-1])
                if not 0.0 < share <= 100.0:
                    raise ValueError
                parsed.append(f"{share:g}%")
            else:
                parsed.append(int(entry))
        except ValueError:
            raise AugmentError(
                f"--real-per-class takes K or one entry per class, each a count or a percentage in (0, 100]% "
                f"(got {text!r})"
            ) from None
    return parsed[0] if len(parsed) == 1 and isinstance(parsed[0], int) else tuple(parsed)


def recorded(per_class: PerClass | None) -> int | list | None:
    """The JSON form run records compare: K, or a list."""
    return list(per_class) if isinstance(per_class, tuple) else per_class


def describe_per_class(per_class: PerClass) -> str:
    return str(per_class) if isinstance(per_class, int) else ",".join(map(str, per_class))


def per_class_counts(per_class: PerClass, available: np.ndarray) -> np.ndarray:
    """How many images of each class --real-per-class asks for, given each class's `available`
    images; refuses an entry per class that does not match the classes, or more than a class has."""
    what = f"--real-per-class {describe_per_class(per_class)}"
    num_classes = len(available)
    if isinstance(per_class, int):
        entries = [per_class] * num_classes
    else:
        if len(per_class) != num_classes:
            raise AugmentError(f"{what}: needs {num_classes} entries (one per class), got {len(per_class)}")
        entries = list(per_class)
    counts = np.array(
        [
            max(1, math.floor(float(entry[:-1]) / 100.0 * available[c] + 1e-9))
            if isinstance(entry, str)
            else int(entry)
            for c, entry in enumerate(entries)
        ],
        dtype=np.int64,
    )
    if (counts < 1).any():
        raise AugmentError(f"{what}: every class needs at least 1 image (class {int(np.flatnonzero(counts < 1)[0])})")
    scarce = np.flatnonzero(counts > available)
    if len(scarce):
        c = int(scarce[0])
        raise AugmentError(f"{what}: class {c} has only {available[c]} real images")
    return counts
