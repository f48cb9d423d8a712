"""The report's pictures (PNG bytes): confusion matrix, per-class samples with confidence, gains."""

from __future__ import annotations

import io

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    _pyplot().close(fig)
    return buffer.getvalue()


def confusion_png(matrix: np.ndarray) -> bytes:
    plt = _pyplot()
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, col), value in np.ndenumerate(shares):
        if matrix[row, col]:
            ax.text(
                col,
                row,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value > 0.5 else "black",
            )
    ax.set_xlabel("judge's prediction")
    ax.set_ylabel("conditioning label")
    ax.set_xticks(range(len(matrix)))
    ax.set_yticks(range(len(matrix)))
    ax.set_title("Judge on synthetic digits (row-normalised)")
    fig.tight_layout()
    return _png(fig)


def samples_png(images: np.ndarray, labels: np.ndarray, confidence: np.ndarray, per_class: int = 8) -> bytes:
    """One row per class: the first `per_class` digits of that class, each titled with its confidence."""
    plt = _pyplot()
    classes = np.unique(labels)
    fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class * 0.9, len(classes) * 1.0), squeeze=False)
    for row, label in enumerate(classes):
        picks = np.flatnonzero(labels == label)[:per_class]
        for col in range(per_class):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(picks):
                ax.imshow(images[picks[col]], cmap="gray", vmin=0, vmax=255)
                ax.set_title(f"{confidence[picks[col]]:.2f}", fontsize=7, pad=1)
        axes[row, 0].text(-8, 14, str(label), fontsize=10, ha="right", va="center")
    fig.suptitle("Synthetic digits per class (judge confidence)", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def gain_png(gain: dict) -> bytes:
    """Bars of mean test accuracy (± std over seeds) per variant, one panel per data regime."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(gain), figsize=(5 * len(gain), 3.5), squeeze=False)
    for ax, (regime, variants) in zip(axes[0], gain.items()):
        names = list(variants)
        means = [variants[n]["mean"] * 100 for n in names]
        spreads = [variants[n]["std"] * 100 for n in names]
        ax.bar(range(len(names)), means, yerr=spreads, capsize=4, color="#4c72b0")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
        ax.set_ylim(max(0.0, min(means) - 3), 100)
        ax.set_ylabel("real test accuracy (%)")
        ax.set_title(regime)
    fig.tight_layout()
    return _png(fig)


def curve_png(curve: dict) -> bytes:
    """Real test accuracy (± std over seeds) against synthetic rows available, one line per regime."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for regime, points in curve.items():
        ax.errorbar(
            [p["rows_available"] for p in points],
            [p["mean"] * 100 for p in points],
            yerr=[p["std"] * 100 for p in points],
            marker="o",
            capsize=3,
            label=regime,
        )
    # symlog: 0 (real only) sits on the axis with 10k…1M; its default ticks crowd the linear part
    # ("0" on top of "10^2"), so the ticks are the points themselves
    ax.set_xscale("symlog", linthresh=1000)
    ticks = sorted({p["rows_available"] for points in curve.values() for p in points})
    ax.set_xticks(ticks, [_count(n) for n in ticks])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("synthetic rows available (0: real only)")
    ax.set_ylabel("real test accuracy (%)")
    ax.set_title("Real + synthetic at an equal budget")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _count(n: int) -> str:
    """10000 -> 10k, 1000000 -> 1M: axis labels a reader takes in at a glance."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g}{suffix}"
    return f"{n:,}"
