"""The number format of forward passes: fp32, or bf16 where the hardware has bf16 matrix units.

Generation's "auto" is decided by timing the models (stages/synthetic/precision_probe.py); GAN
training's by the rule below (resolve_for_training), because whether bf16 *trains* as well needs a
training run to tell, which a two-second probe cannot give. No torch at import.

Why bf16 pays only on some machines (generator + judge, 512 rows, one CPU thread, measured):
Intel CPUs with AMX (Sapphire Rapids and later) run both models 3x faster in bf16 autocast; CPUs
without bf16 units convert every tensor and lose. GPUs from Ampere (compute capability 8.0) on have
bf16 tensor cores. 94% of pixels equal fp32's and the rest differ by 1-6 uint8 steps, and the output
stays independent of batch size and worker count within one precision (tested). The precision
is part of a generation's identity: a run never mixes parts made in two formats.
"""

from __future__ import annotations

from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")
AMPERE = (8, 0)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo does not exist."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def bf16_is_fast(gpu: bool) -> bool:
    """Whether this machine's compute device has bf16 matrix units (so bf16 is the faster format)."""
    if gpu:
        import torch

        return torch.cuda.is_available() and torch.cuda.get_device_capability() >= AMPERE
    return "amx_bf16" in cpu_flags()


def resolve_here(requested: str, gpu: bool) -> str:
    """`requested`, with "auto" decided by this machine's hardware."""
    if requested != "auto":
        return requested
    return "bf16" if bf16_is_fast(gpu) else "fp32"


def resolve_for_training(requested: str, gpu: bool) -> str:
    """GAN training's "auto": bf16 autocast only where it was measured to train as well as fp32
    (AMX CPUs, benchmarks/RESULTS.md). On GPUs it stays fp32 until measured there: CUDA autocast
    also runs spectral norm's power iteration (mv, vdot) in bf16, which CPU autocast does not."""
    if requested == "auto" and gpu:
        return "fp32"
    return resolve_here(requested, gpu)


def strict_fp32_on_cuda() -> None:
    """ "fp32" on a GPU means fp32: PyTorch runs cuDNN convolutions in TF32 by default (10-bit
    mantissa on Ampere and newer), which would make "fp32" rows and training differ from fp32 by
    more than kernel order. bf16 is chosen explicitly (--precision) where it pays."""
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
