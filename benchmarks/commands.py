"""Command lines the benchmarks run as a user would (a fresh interpreter each)."""

from __future__ import annotations

import argparse
import sys


def generate_command(checkpoint, judge, out, n: int, *options) -> list[str]:
    """`augment generate` with the given models, N and output, then `options`."""
    return [
        sys.executable,
        "-m",
        "augment",
        "generate",
        *("--checkpoint", str(checkpoint), "--judge", str(judge), "--n", str(n), "--out", str(out)),
        *map(str, options),
    ]


def models_parser(description: str) -> argparse.ArgumentParser:
    """A benchmark's options, starting with the GAN run and judge folders it measures."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--gan", required=True, help="GAN run folder (exported generator)")
    parser.add_argument("--judge", required=True, help="judge folder")
    return parser
