"""`--precision auto` for generation, decided by measurement: a short timed run of the actual
generator + judge in fp32 and in bf16 on the hardware the actors run on.

CPU flags did not predict it: the rule "bf16 only with AMX" (set from an emulation) left 1.26-1.5x
on the table on a Zen 5 CPU with AVX-512-BF16 and no AMX. So "auto" times both formats on the same
latents and picks bf16 only when it is faster by MARGIN and its rows pass the quality checks of
benchmarks/RESULTS.md: pixels within one uint8 step of fp32's for >= 99% of pixels, and the judge
agreeing with the label as often as in fp32 (within FIDELITY_TOLERANCE). ~2 s; the decision, its
figures and the machine go into the manifest, and a rerun of an interrupted job keeps the
format its parts were made in (generate.py).

The decision is also kept in a small file per user (`remembered`/`remember`): the same models on
the same kind of machine with the same torch decide the same way, so a later job adopts it
instead of paying the probe again (~10% of a 200,000-row job on two cores).

Like model_check, it runs in a short-lived child process when the caller has not loaded torch.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from augment.core.apart import run_module_apart
from augment.core.errors import AugmentError

PROBE_ROWS = 512
REPEATS = 3
MARGIN = 1.10  # bf16 must be this much faster: a smaller gain is within a shared machine's drift
PIXELS_WITHIN_ONE_STEP = 0.99
FIDELITY_TOLERANCE = 0.005
CLEARLY_SLOWER = 2.0


def machine() -> str:
    """The hardware kind a decision holds for: CPU model (and GPU name), threads."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} CPUs"


CACHE_ENV = "AUGMENT_CACHE_DIR"
DEFAULT_CACHE_DIR = "~/.cache/augment"
CACHE_FILE = "precision-decisions.json"
CACHE_ENTRIES_KEPT = 64


def cache_file() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser() / CACHE_FILE


def decision_key(generator_sha256: str, judge_sha256: str, gpu: bool) -> str:
    """What a decision holds for: these models, this kind of machine, this torch (read without
    importing it: the driver stays light)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = "unknown"
    return json.dumps([machine(), "gpu" if gpu else "cpu", torch_version, generator_sha256, judge_sha256])


def remembered(key: str) -> dict | None:
    """The probe's figures from an earlier job with this key, or None."""
    try:
        return json.loads(cache_file().read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None  # no file yet, or one we cannot read: probe again


def remember(key: str, found: dict) -> None:
    """Keeps `found` for `key` (the newest CACHE_ENTRIES_KEPT keys); never fails a job."""
    path = cache_file()
    try:
        try:
            entries = json.loads(path.read_text())
            entries = entries if isinstance(entries, dict) else {}
        except (OSError, ValueError):
            entries = {}
        entries.pop(key, None)
        entries[key] = {**found, "measured_at": time.strftime("%Y-%m-%d %H:%M")}
        entries = dict(list(entries.items())[-CACHE_ENTRIES_KEPT:])
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(entries, indent=1))
        partial.replace(path)  # whole or not at all, also beside another job writing it
    except OSError:
        pass


def probe(checkpoint: str, judge: str | None, gpu: bool = False) -> dict:
    """Time both formats on the same rows; the decision and the figures behind it."""
    import torch

    from augment.stages.synthetic.sampling import latents_for
    from augment.stages.synthetic.synthesis import DigitScorer

    device = "cuda" if gpu else "cpu"
    results, outputs = {}, {}
    for precision in ("fp32", "bf16"):
        scorer = DigitScorer(checkpoint, judge, device=device, precision=precision)
        labels = np.arange(PROBE_ROWS) % scorer.num_classes
        z = latents_for(np.arange(PROBE_ROWS), 0, scorer.latent_dim, attempt=1 << 21)
        scorer.score(z, labels)  # warm-up: kernel selection, caches
        best = float("inf")
        for _ in range(REPEATS):
            if gpu:
                torch.cuda.synchronize()
            started = time.perf_counter()
            images, confidence = scorer.score(z, labels)
            if gpu:
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - started)
            if precision == "bf16" and PROBE_ROWS / best < results["fp32_rows_per_s"] / CLEARLY_SLOWER:
                break  # emulated bf16 (no native support: 9x slower on an AVX2 CPU); more repeats only cost time
        results[f"{precision}_rows_per_s"] = round(PROBE_ROWS / best, 1)
        outputs[precision] = (images, confidence, _fidelity(scorer, z, labels) if judge else None)
    (fp32_images, _, fp32_fidelity), (bf16_images, _, bf16_fidelity) = outputs["fp32"], outputs["bf16"]
    within = float((np.abs(fp32_images.astype(np.int16) - bf16_images.astype(np.int16)) <= 1).mean())
    speedup = results["bf16_rows_per_s"] / results["fp32_rows_per_s"]
    return {
        "precision": decide(speedup, within, fp32_fidelity, bf16_fidelity),
        "machine": machine() + (f", {torch.cuda.get_device_name()}" if gpu else ""),
        "speedup_bf16": round(speedup, 3),
        "pixels_within_one_step": round(within, 5),
        "fidelity_fp32": fp32_fidelity,
        "fidelity_bf16": bf16_fidelity,
        "rows": PROBE_ROWS,
        "torch_threads": torch.get_num_threads(),
        **results,
    }


def decide(
    speedup_bf16: float, pixels_within_one_step: float, fidelity_fp32: float | None, fidelity_bf16: float | None
) -> str:
    """bf16 only when it is faster by MARGIN and its rows pass the quality checks."""
    quality = pixels_within_one_step >= PIXELS_WITHIN_ONE_STEP and (
        fidelity_fp32 is None or fidelity_bf16 >= fidelity_fp32 - FIDELITY_TOLERANCE
    )
    return "bf16" if speedup_bf16 >= MARGIN and quality else "fp32"


def _fidelity(scorer, z, labels: np.ndarray) -> float:
    """How often the judge's top class is the conditioning label, in this scorer's format."""
    import torch

    from augment.core import mnist

    with torch.inference_mode():
        y = torch.from_numpy(labels.astype(np.int64)).to(scorer.device)
        pixels = mnist.from_gan_range(scorer.generator(z.to(scorer.dtype).to(scorer.device), y).float())
        judged = mnist.to_gan_range(pixels).to(scorer.dtype).contiguous(memory_format=torch.channels_last)
        predicted = scorer.judge(judged).float().argmax(1).cpu().numpy()
    return round(float((predicted == labels).mean()), 5)


def probe_apart(checkpoint: str, judge: str | None, gpu: bool = False) -> dict:
    """probe(), in a child process unless this process has torch loaded already."""
    if "torch" in sys.modules:
        return probe(checkpoint, judge, gpu)
    stdout = run_module_apart(
        "augment.stages.synthetic.precision_probe",
        checkpoint,
        judge or "",
        str(gpu),
        failed="timing fp32 against bf16 failed",
    )
    return json.loads(stdout.strip().splitlines()[-1])


def _main(checkpoint: str, judge: str, gpu: str) -> None:
    try:
        print(json.dumps(probe(checkpoint, judge or None, gpu == "True")))
    except AugmentError as exc:  # a model that does not load: its own line, exit 2 as the CLI would
        print(exc, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    _main(*sys.argv[1:4])
