"""bf16 generation: where "auto" picks it, and that it changes the digits only in the last bits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from augment.core import precision
from augment.core.errors import AugmentError
from augment.stages.synthetic.config import SyntheticConfig
from augment.stages.synthetic.sampling import latents_for
from augment.stages.synthetic.synthesis import DigitScorer
from tests.fixtures import part_maker, write_untrained_models

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile
bogomips\t: 5200.00
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    return write_untrained_models(tmp_path_factory.mktemp("models"))


def test_cpu_flags_come_from_cpuinfo_and_are_empty_without_it(tmp_path):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    flags = precision.cpu_flags(tmp_path / "cpuinfo")
    assert {"avx512_bf16", "amx_bf16", "avx2"} <= flags and "bogomips" not in flags
    assert precision.cpu_flags(tmp_path / "missing") == set()


@pytest.mark.parametrize(
    "flags, expected",
    [
        ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "bf16"),
        ({"avx2", "avx512f", "avx512_bf16"}, "fp32"),  # bf16 dot products without AMX measured slower than fp32
        ({"avx2"}, "fp32"),
    ],
)
def test_auto_picks_bf16_only_on_cpus_with_amx(monkeypatch, flags, expected):
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    assert precision.resolve_here("auto", gpu=False) == expected
    assert precision.resolve_here("fp32", gpu=False) == "fp32"
    assert precision.resolve_here("bf16", gpu=False) == "bf16"
    assert precision.resolve_for_training("auto", gpu=False) == expected  # training: same rule on CPUs


def test_training_auto_stays_fp32_on_gpus_until_measured_there(monkeypatch):
    monkeypatch.setattr(precision, "bf16_is_fast", lambda gpu: True)  # an Ampere GPU, for generation
    assert precision.resolve_here("auto", gpu=True) == "bf16"
    assert precision.resolve_for_training("auto", gpu=True) == "fp32"
    assert precision.resolve_for_training("bf16", gpu=True) == "bf16"  # asked for: given


def test_bf16_digits_and_confidence_stay_within_rounding_of_fp32(models):
    gan, judge = models
    fp32, bf16 = (DigitScorer(str(gan), str(judge), precision=p) for p in ("fp32", "bf16"))
    labels = np.arange(256) % 10
    z = latents_for(np.arange(256), 0, fp32.latent_dim)
    images32, confidence32 = fp32.score(z, labels)
    images16, confidence16 = bf16.score(z, labels)
    steps = np.abs(images32.astype(np.int16) - images16.astype(np.int16))
    assert images16.dtype == np.uint8 and images16.shape == images32.shape
    assert steps.max() <= 3 and steps.mean() < 0.1  # a few pixels one step apart, never a different digit
    assert confidence16.dtype == np.float32 and np.abs(confidence32 - confidence16).max() < 0.02


def test_bf16_rows_do_not_depend_on_batch_size(models):
    gan, judge = models

    def rows(batch_size: int) -> tuple[bytes, bytes]:
        maker = part_maker(gan, judge, n=512, seed=3, batch_size=batch_size, precision="bf16")
        made = [maker.make_rows(np.arange(512)[first : first + batch_size]) for first in range(0, 512, batch_size)]
        return b"".join(m[0].tobytes() for m in made), b"".join(m[2].tobytes() for m in made)

    assert rows(64) == rows(512) == rows(192)


def test_an_unknown_precision_is_refused():
    with pytest.raises(AugmentError, match="unknown --precision 'fp16': choose one of auto, fp32, bf16"):
        SyntheticConfig(checkpoint="gan", out="out", n=1, precision="fp16")
    with pytest.raises(ValueError, match="fp32 or bf16"):
        DigitScorer.__init__(object.__new__(DigitScorer), "unused", None, precision="auto")


@pytest.mark.parametrize(
    "speedup, within, fid32, fid16, expected",
    [
        (1.40, 0.995, 0.97, 0.968, "bf16"),  # faster, same digits to a uint8 step, fidelity unchanged
        (1.05, 0.999, 0.97, 0.97, "fp32"),  # within a shared machine's drift: not worth a second format
        (0.60, 0.999, 0.97, 0.97, "fp32"),  # a CPU that converts every tensor
        (1.40, 0.950, 0.97, 0.97, "fp32"),  # faster but the pixels move
        (1.40, 0.995, 0.97, 0.95, "fp32"),  # faster but the judge agrees less often
        (1.40, 0.995, None, None, "bf16"),  # no judge: pixels decide
    ],
)
def test_the_probe_picks_bf16_only_when_faster_by_a_margin_and_the_quality_holds(
    speedup, within, fid32, fid16, expected
):
    from augment.stages.synthetic.precision_probe import decide

    assert decide(speedup, within, fid32, fid16) == expected


def test_the_probe_times_the_actual_models_in_both_formats(models):
    from augment.stages.synthetic.precision_probe import PROBE_ROWS, decide, probe

    gan, judge = models
    found = probe(str(gan), str(judge))
    assert found["rows"] == PROBE_ROWS and found["fp32_rows_per_s"] > 0 and found["bf16_rows_per_s"] > 0
    assert found["speedup_bf16"] == pytest.approx(found["bf16_rows_per_s"] / found["fp32_rows_per_s"], rel=1e-2)
    assert 0.0 <= found["pixels_within_one_step"] <= 1.0 and 0.0 <= found["fidelity_fp32"] <= 1.0
    assert found["precision"] == decide(
        found["speedup_bf16"], found["pixels_within_one_step"], found["fidelity_fp32"], found["fidelity_bf16"]
    )
    assert "CPUs" in found["machine"]
