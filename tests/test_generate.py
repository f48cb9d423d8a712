"""Generation on Ray Data (session-scoped local Ray, 2 CPUs) with small untrained models."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from augment.core import schema
from augment.core.errors import AugmentError
from augment.models.gan import GanSpec, build_generator
from augment.models.generator_file import INFO_FILE, export_generator
from augment.stages.synthetic import generate as synthetic_stage
from augment.stages.synthetic import precision_policy
from augment.stages.synthetic.config import SyntheticConfig
from augment.stages.synthetic.parts import PartPlan
from augment.stages.synthetic.sampling import latents_for
from augment.stages.synthetic.synthesis import PartMaker
from tests.conftest import assert_one_line_error, run_cli_process
from tests.fixtures import MNIST_CLASSES, part_maker, write_untrained_models

READER_SCRIPT = Path(__file__).with_name("read_without_ray.py")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    return write_untrained_models(tmp_path_factory.mktemp("models"))


def _cfg(models, out: Path, **changes) -> SyntheticConfig:
    gan, judge = models
    return SyntheticConfig(checkpoint=str(gan), judge=str(judge), out=str(out), **{"n": 5000, **changes})


def _read(out: Path):
    return pq.read_table(out / "train")


def _manifest(out: Path) -> dict:
    return json.loads((out / "_manifest.json").read_text())


def test_exactly_n_balanced_unique_rows_with_two_workers(ray_local, models, tmp_path):
    out = tmp_path / "syn"
    result = synthetic_stage.run(_cfg(models, out, workers=2, rows_per_file=1000))

    table = _read(out)
    schema.check_schema(table.schema, where="generated")
    ids = table["id"].to_numpy()
    assert len(ids) == result.rows == 5000 and np.array_equal(np.sort(ids), np.arange(5000))
    labels, counts = np.unique(table["label"].to_numpy(), return_counts=True)
    assert labels.tolist() == list(range(10)) and counts.tolist() == [500] * 10
    confidence = table["confidence"].to_numpy()
    assert confidence.dtype == np.float32 and (confidence >= 0).all() and (confidence <= 1).all()
    assert set(table["source"].to_pylist()) == {"synthetic"}

    manifest = _manifest(out)
    assert manifest["rows"] == 5000 and manifest["rows_per_label"] == {str(c): 500 for c in range(10)}
    assert [f["path"] for f in manifest["files"]] == [*(f"train/part-{k:05d}.parquet" for k in range(5)), "README.md"]
    for entry in manifest["files"][:-1]:
        assert entry["rows"] == 1000
        assert entry["sha256"] == hashlib.sha256((out / entry["path"]).read_bytes()).hexdigest()
    assert manifest["generator_sha256"] == json.loads((models[0] / INFO_FILE).read_text())["sha256"]
    assert manifest["seed"] == 0 and manifest["n"] == 5000 and manifest["elapsed_s"] > 0
    # "auto" was decided by a probe on the actors' hardware (here: this machine) and recorded
    probed = manifest["precision_probe"]
    assert manifest["config"]["precision"] == result.precision == probed["precision"]
    assert (
        probed["fp32_rows_per_s"] > 0 and probed["bf16_rows_per_s"] > 0 and 0 <= probed["pixels_within_one_step"] <= 1
    )
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "_manifest.json", "train"]
    assert sorted(p.name for p in (out / "train").iterdir()) == [f"part-{k:05d}.parquet" for k in range(5)]


def test_rows_do_not_depend_on_workers_or_batch_size_and_any_slice_regenerates(ray_local, models, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    synthetic_stage.run(_cfg(models, a, n=3000, workers=2, batch_size=512, rows_per_file=700))
    synthetic_stage.run(_cfg(models, b, n=3000, workers=1, batch_size=200))
    table_a, table_b = _read(a).sort_by("id"), _read(b).sort_by("id")
    images_a = schema.images_to_numpy(table_a["image"])
    assert images_a.tobytes() == schema.images_to_numpy(table_b["image"]).tobytes()
    assert table_a["label"].equals(table_b["label"])
    np.testing.assert_allclose(table_a["confidence"].to_numpy(), table_b["confidence"].to_numpy(), atol=1e-6)
    # The same rows as different files: the layout follows rows_per_file, nothing else.
    assert len(_manifest(a)["files"]) == 5 + 1 and len(_manifest(b)["files"]) == 1 + 1  # parts + card

    gan, judge = models
    manifest = _manifest(a)
    maker = part_maker(gan, judge, n=3000, precision=manifest["config"]["precision"])
    assert manifest["generator_sha256"] == maker.generator_sha256
    ids = np.arange(1234, 1301)
    images, labels, _, _ = maker.make_rows(ids)
    assert images.tobytes() == images_a[ids].tobytes()
    assert labels.tolist() == table_a["label"].to_numpy()[ids].tolist()


def test_other_seed_other_rows_same_labels(ray_local, models, tmp_path):
    synthetic_stage.run(_cfg(models, tmp_path / "s0", n=640))
    synthetic_stage.run(_cfg(models, tmp_path / "s1", n=640, seed=1))
    t0, t1 = _read(tmp_path / "s0"), _read(tmp_path / "s1")
    assert t0["label"].equals(t1["label"])
    assert schema.images_to_numpy(t0["image"]).tobytes() != schema.images_to_numpy(t1["image"]).tobytes()


def test_a_temperature_scales_each_rows_latent_and_is_part_of_the_identity(ray_local, models, tmp_path):
    synthetic_stage.run(_cfg(models, tmp_path / "t1", n=640))
    hot = synthetic_stage.run(_cfg(models, tmp_path / "t2", n=640, temperature=2.0))
    t1, t2 = _read(tmp_path / "t1"), _read(tmp_path / "t2")
    assert t1["label"].equals(t2["label"]) and t1["id"].equals(t2["id"])
    assert schema.images_to_numpy(t1["image"]).tobytes() != schema.images_to_numpy(t2["image"]).tobytes()
    assert _manifest(tmp_path / "t2")["config"]["temperature"] == 2.0
    assert "temperature" not in _manifest(tmp_path / "t1")["config"]  # outputs made before it keep their identity
    assert "--temperature 2`" in (tmp_path / "t2" / "README.md").read_text()
    # row i at temperature T is the generator's image of T x row i's standard latent, whatever part makes it
    gan, judge = models
    plan = PartPlan(
        checkpoint=str(gan),
        judge=str(judge),
        out=str(tmp_path / "unused"),
        n=640,
        seed=0,
        boundaries=tuple(np.linspace(0.1, 1.0, 10).tolist()),
        min_confidence=0.0,
        max_attempts=1,
        batch_size=512,
        metadata={},
        temperature=2.0,
        precision=hot.precision,
    )
    ids = np.array([3, 200, 639])
    images, _, _, _ = PartMaker(plan).make_rows(ids)
    assert np.array_equal(images, schema.images_to_numpy(t2["image"].take(ids)))


def test_class_weights_set_the_label_distribution(ray_local, models, tmp_path):
    out = tmp_path / "weighted"
    synthetic_stage.run(_cfg(models, out, n=1000, class_weights=(1, 0, 0, 0, 0, 0, 0, 0, 0, 3)))
    labels, counts = np.unique(_read(out)["label"].to_numpy(), return_counts=True)
    assert dict(zip(labels.tolist(), counts.tolist())) == {0: 250, 9: 750}


def _threshold_every_class_mostly_passes(models) -> float:
    """A confidence threshold that rejects some samples of these untrained models but that every
    class passes at least 70% of the time (measured, so the test does not depend on luck)."""
    gan, judge = models
    maker = part_maker(gan, judge, boundaries=(1.0,), precision="fp32")
    labels = np.repeat(np.arange(10), 200)
    _, scores = maker.score(latents_for(np.arange(2000) + 10**6, 5, maker.latent_dim), labels)
    return float(min(np.quantile(scores[labels == c], 0.3) for c in range(10)))


def test_min_confidence_replaces_rejected_samples_keeping_n_and_balance(ray_local, models, tmp_path):
    # fp32 throughout: the threshold is measured in one precision and must hold in the run, and
    # "auto" is decided by timing, which may choose differently from one run to the next.
    threshold = _threshold_every_class_mostly_passes(models)
    out = tmp_path / "confident"
    result = synthetic_stage.run(
        _cfg(models, out, n=2000, min_confidence=threshold, workers=2, rows_per_file=1000, precision="fp32")
    )
    table = _read(out)
    assert table.num_rows == 2000 and np.array_equal(np.sort(table["id"].to_numpy()), np.arange(2000))
    assert (table["confidence"].to_numpy() >= np.float32(threshold)).all()
    assert np.unique(table["label"].to_numpy(), return_counts=True)[1].tolist() == [200] * 10
    assert result.rejected > 0 and _manifest(out)["rejected_samples"] == result.rejected

    unfiltered = _read(_generate_plain(models, tmp_path / "plain", n=2000, precision="fp32"))
    keep = unfiltered["confidence"].to_numpy() >= np.float32(threshold)
    # Rows whose first sample passed are untouched; the others were replaced by new samples.
    ordered = table.sort_by("id")
    first = schema.images_to_numpy(unfiltered.sort_by("id")["image"])
    final = schema.images_to_numpy(ordered["image"])
    assert np.array_equal(first[keep], final[keep]) and not np.array_equal(first[~keep], final[~keep])


def test_the_filters_redraws_fill_whole_forward_passes_and_give_the_same_rows(models, monkeypatch, tmp_path):
    """Making a part, each attempt runs every row of the row group still doubted in full passes (only
    its last pass short), not a few-row pass per batch; a row's image is the same either way."""
    from augment.stages.synthetic import synthesis

    gan, judge = models
    threshold = _threshold_every_class_mostly_passes(models)
    plan = dict(n=2000, min_confidence=threshold, max_attempts=50, precision="fp32", out=str(tmp_path))
    plan["metadata"] = schema.file_metadata("mnist", generator="test", run_config={})
    passes = []  # (attempt, rows) of every forward pass
    draw = synthesis.latents_for

    def counted(ids, seed, dim, attempt):
        passes.append((attempt, len(ids)))
        return draw(ids, seed, dim, attempt)

    monkeypatch.setattr(synthesis, "latents_for", counted)
    made = part_maker(gan, judge, **plan).write_part(0, 0, 2000)
    monkeypatch.setattr(synthesis, "latents_for", draw)
    attempts = {attempt for attempt, _ in passes}
    assert len(attempts) > 1 and sum(rows for _, rows in passes) == 2000 + made["rejected"]
    assert sum(rows < 64 for _, rows in passes) <= len(attempts)  # one short pass per attempt at most
    part = pq.read_table(tmp_path / made["path"])
    one_by_one = part_maker(gan, judge, **plan)
    for first in range(0, 2000, 64):  # the rows made one batch at a time: the same images
        images, _, confidence, _ = one_by_one.make_rows(np.arange(first, min(first + 64, 2000)))
        assert images.tobytes() == schema.images_to_numpy(part["image"][first : first + 64]).tobytes()
        assert np.array_equal(confidence, part["confidence"].to_numpy()[first : first + 64])


def _generate_plain(models, out: Path, n: int, **changes) -> Path:
    synthetic_stage.run(_cfg(models, out, n=n, **changes))
    return out


def test_class_weights_fill_writes_exactly_what_each_class_lacks(ray_local, models, tmp_path, run_cli):
    # A GAN that trained on a long tail (as `augment train --real-per-class …` records it): fill writes
    # the deficit against the largest class, per class, and N defaults to their sum.
    import torch

    from augment.models.gan import GanSpec, build_generator

    torch.manual_seed(0)
    tail = tmp_path / "tail-gan"
    counts = [300, 300, 280, 300, 300, 6, 7, 6, 6, 6]
    export_generator(
        str(tail),
        build_generator(GanSpec()).eval(),
        GanSpec(),
        dataset="mnist",
        epochs=0,
        classes=MNIST_CLASSES,
        rows_per_label=counts,
    )
    deficits = [300 - c for c in counts]
    result = run_cli(
        "generate", "--checkpoint", tail, "--judge", models[1], "--class-weights", "fill", "--out", tmp_path / "fill"
    )
    assert result.returncode == 0, result.stderr
    table = _read(tmp_path / "fill")
    assert table.num_rows == sum(deficits) == 1_489
    assert np.bincount(table["label"].to_numpy(), minlength=10).tolist() == deficits
    recorded = _manifest(tmp_path / "fill")["config"]
    assert recorded["class_weights"] == [float(d) for d in deficits] and recorded["n"] == 1_489
    assert "fill" not in recorded.values()  # the run records what fill meant for this GAN

    # an explicit --n keeps the proportions
    proportional = synthetic_stage.run(_cfg((tail, models[1]), tmp_path / "fill-600", n=600, class_weights="fill"))
    labels = np.bincount(_read(tmp_path / "fill-600")["label"].to_numpy(), minlength=10)
    assert proportional.rows == 600 and labels[[0, 1, 3, 4]].tolist() == [0] * 4
    assert np.abs(labels - 600 * np.array(deficits) / sum(deficits)).max() <= 1

    # a GAN trained on balanced rows has nothing to fill; without fill, --n is required
    export_generator(
        str(tmp_path / "even-gan"),
        build_generator(GanSpec()).eval(),
        GanSpec(),
        dataset="mnist",
        epochs=0,
        classes=MNIST_CLASSES,
        rows_per_label=[30] * 10,
    )
    balanced = run_cli(
        "generate",
        "--checkpoint",
        tmp_path / "even-gan",
        "--judge",
        models[1],
        "--class-weights",
        "fill",
        "--out",
        tmp_path / "none",
    )
    assert_one_line_error(
        balanced, "--class-weights fill: the GAN's real rows are balanced (no class lacks any): nothing to fill"
    )
    missing = run_cli("generate", "--checkpoint", tail, "--judge", models[1], "--out", tmp_path / "none")
    assert_one_line_error(missing, "--n is required (it may be left out with --class-weights fill)")
    assert not (tmp_path / "none").exists()


def test_a_later_job_with_the_same_models_on_this_machine_adopts_the_remembered_decision(
    ray_local, models, tmp_path, monkeypatch
):
    # The probe says bf16 once; a second job (another folder, same models) adopts it without probing;
    # another torch version (a different key) probes again. The file lives in ~/.cache/augment.
    probes = []
    figures = {
        "precision": "bf16",
        "speedup_bf16": 1.8,
        "pixels_within_one_step": 1.0,
        "fp32_rows_per_s": 1000.0,
        "bf16_rows_per_s": 1800.0,
    }
    monkeypatch.setattr(
        precision_policy, "probe_on_actors_hardware", lambda *args: probes.append(args) or dict(figures)
    )
    first = synthetic_stage.run(_cfg(models, tmp_path / "a", n=400))
    second = synthetic_stage.run(_cfg(models, tmp_path / "b", n=400))
    assert first.precision == second.precision == "bf16" and len(probes) == 1
    recorded = _manifest(tmp_path / "b")["precision_probe"]
    assert recorded["speedup_bf16"] == 1.8 and recorded["remembered_from"] == str(
        Path.home() / ".cache/augment/precision-decisions.json"
    )
    assert Path(recorded["remembered_from"]).is_file()

    from importlib import metadata

    real_version = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "0.0-other" if name == "torch" else real_version(name))
    synthetic_stage.run(_cfg(models, tmp_path / "c", n=400))
    assert len(probes) == 2


def test_a_rerun_continues_in_the_precision_the_interrupted_run_chose(ray_local, models, tmp_path, monkeypatch):
    # A probe that would pick the other format, so adopting the earlier one cannot be a coincidence;
    # a continued run does not probe at all.
    other = "bf16"
    probes = []
    monkeypatch.setattr(
        precision_policy, "probe_on_actors_hardware", lambda *args: probes.append(args) or {"precision": "fp32"}
    )
    out = tmp_path / "syn"
    synthetic_stage.run(_cfg(models, out, n=600, rows_per_file=200, precision=other))
    whole = _read(out).sort_by("id")
    (out / "_manifest.json").unlink()
    (out / "train/part-00001.parquet").unlink()  # as if killed before this part was finished

    result = synthetic_stage.run(_cfg(models, out, n=600, rows_per_file=200))  # precision "auto"
    assert result.precision == other and result.reused_parts == 2 and probes == []
    assert _manifest(out)["config"]["precision"] == other and _manifest(out)["precision_probe"] is None
    assert _read(out).sort_by("id").equals(whole)

    (out / "_manifest.json").unlink()
    (out / "train/part-00002.parquet").unlink()
    not_other = "fp32" if other == "bf16" else "bf16"
    with pytest.raises(AugmentError, match="not made by this command with these settings"):
        synthetic_stage.run(_cfg(models, out, n=600, rows_per_file=200, precision=not_other))


def test_an_unreachable_min_confidence_is_refused_before_writing(ray_local, models, tmp_path, run_cli):
    gan, judge = models
    out = tmp_path / "never"
    result = run_cli(
        "generate", "--checkpoint", gan, "--judge", judge, "--n", 100, "--out", out,
        "--min-confidence", 0.9, "--keep-share", 0,
    )  # fmt: skip
    assert_one_line_error(result, "--min-confidence 0.9", "lower --min-confidence or raise --keep-share")
    assert not out.exists()


def test_each_class_keeps_its_best_draws_where_few_reach_min_confidence(ray_local, models, tmp_path, run_cli):
    # The untrained judge gives every class ~0.1: no draw reaches 0.9. Instead of refusing the run,
    # each class's threshold drops to the confidence its top 40% of draws reach (--keep-share).
    gan, judge = models
    out = tmp_path / "kept"
    args = ("generate", "--checkpoint", gan, "--judge", judge, "--n", 1000, "--out", out, "--min-confidence", 0.9)
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    manifest = _manifest(out)
    thresholds = manifest["thresholds"]
    assert len(thresholds) == 10 and all(0 < t < 0.9 for t in thresholds)
    assert "filter lowered for class 0 ≥" in result.stdout
    table = _read(out)
    confidence, labels = table["confidence"].to_numpy(), table["label"].to_numpy()
    assert (confidence >= np.asarray(thresholds)[labels]).all()
    # about 40% of the draws pass: ~1.5 rejected per row kept (0.6 / 0.4), not the ~0 or ~30 of a
    # threshold that ignores the class
    assert 0.8 * 1000 < manifest["rejected_samples"] < 2.5 * 1000
    assert manifest["config"]["keep_share"] == 0.4
    again = run_cli(*args)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout
    assert _manifest(out)["thresholds"] == thresholds


def test_output_reads_with_ray_data_as_written(ray_local, models, tmp_path):
    # Readers without Ray (pyarrow, pandas, polars, duckdb, datasets, Spark): tests/test_readers.py.
    out = tmp_path / "syn"
    synthetic_stage.run(_cfg(models, out, n=1500, rows_per_file=500))
    table = _read(out).sort_by("id")
    rows = ray_local.data.read_parquet(str(out / "train")).take_all()
    rows.sort(key=lambda row: row["id"])
    assert [row["id"] for row in rows] == list(range(1500))
    assert np.stack([row["image"] for row in rows]).tobytes() == schema.images_to_numpy(table["image"]).tobytes()


def test_a_complete_output_is_skipped_with_the_same_settings_and_refused_with_others(
    ray_local, models, tmp_path, run_cli
):
    gan, judge = models
    out = tmp_path / "syn"
    args = ("generate", "--checkpoint", gan, "--judge", judge, "--n", 300, "--out", out, "--workers", 1)
    assert run_cli(*args).returncode == 0
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"{out} already holds these 300 rows (1 file): nothing to do"
    assert_one_line_error(run_cli(*args, "--seed", 7), "made with other settings (seed)", "--overwrite")
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

    result = run_cli(*args, "--overwrite", "--n", 200)
    assert result.returncode == 0, result.stderr
    assert "wrote 200 rows in 1 file " in result.stdout and "rows/s" in result.stdout
    assert _read(out).num_rows == 200


def test_a_killed_driver_leaves_no_partial_file_and_a_rerun_finishes_exactly(models, tmp_path):
    gan, judge = models
    out = tmp_path / "syn"
    n, per_file = 40_000, 2_000
    args = [
        sys.executable,
        "-m",
        "augment",
        "generate",
        "--checkpoint",
        str(gan),
        "--judge",
        str(judge),
        "--n",
        str(n),
        "--out",
        str(out),
        "--rows-per-file",
        str(per_file),
        "--workers",
        "2",
    ]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own local Ray, as a user gets
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list(out.glob("train/part-*.parquet"))) < 2:
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        time.sleep(0.05)  # a part of 2,000 rows takes ~0.2 s in bf16: kill while most are still to come
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = sorted(p.name for p in out.glob("train/part-*.parquet"))
    assert 2 <= len(finished_before) < n // per_file, "kill the run mid-way"
    assert not (out / "_manifest.json").exists()
    for part in out.glob("train/part-*.parquet"):  # whatever is visible is whole
        assert pq.read_metadata(part).num_rows == per_file

    # The same command, also reporting whether the driver ever loaded torch (the actors do, it must not).
    rerun_args = [sys.executable, "-c", TORCH_REPORT + "from augment.cli import main; main()", *args[3:]]
    rerun = subprocess.run(rerun_args, capture_output=True, text=True, timeout=600, env=env)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "parts kept from an interrupted run" in rerun.stdout
    assert "driver loaded torch: False" in rerun.stdout
    table = _read(out)
    assert table.num_rows == n and np.array_equal(np.sort(table["id"].to_numpy()), np.arange(n))
    manifest = _manifest(out)
    assert manifest["rows"] == n and manifest["reused_parts"] >= len(finished_before)
    assert not [p.name for p in out.rglob(".*")]  # temporaries cleaned up


def test_a_temporary_left_by_a_writer_lost_mid_run_is_removed_before_the_manifest(
    ray_local, models, tmp_path, monkeypatch
):
    """A node lost mid-run leaves its writer's `.part-*.tmp-*` in train/ while Ray retries the part on
    another node (seen on a 3-node cluster); the finished folder holds the parts and nothing else."""
    out, run_parts = tmp_path / "syn", synthetic_stage._run_parts

    def parts_with_a_lost_writer(*args, **kwargs):
        (out / "train").mkdir(parents=True, exist_ok=True)
        (out / "train" / ".part-00001.parquet.tmp-c64865a024f0").write_bytes(b"half a part")
        return run_parts(*args, **kwargs)

    monkeypatch.setattr(synthetic_stage, "_run_parts", parts_with_a_lost_writer)
    synthetic_stage.run(_cfg(models, out, n=600, rows_per_file=200))
    assert sorted(p.name for p in (out / "train").iterdir()) == [f"part-0000{k}.parquet" for k in range(3)]
    listed = [entry["path"] for entry in _manifest(out)["files"]]
    assert listed == [*(f"train/part-0000{k}.parquet" for k in range(3)), "README.md"]
    assert _read(out).num_rows == 600


TORCH_REPORT = "import atexit, sys; atexit.register(lambda: print('driver loaded torch:', 'torch' in sys.modules)); "


def test_a_driver_without_torch_checks_the_models_in_a_child_process(models, tmp_path):
    gan, judge = models
    out = tmp_path / "out"
    bad = _bad_generator(tmp_path / "bad")
    result = run_cli_process(
        "generate", "--checkpoint", bad, "--judge", judge, "--n", 100, "--out", out, prelude=TORCH_REPORT
    )
    assert_one_line_error(result, "generator.json does not match its weights")
    assert "driver loaded torch: False" in result.stdout
    assert not out.exists()
    result = run_cli_process(
        "generate",
        "--checkpoint",
        gan,
        "--judge",
        judge,
        "--n",
        100,
        "--out",
        out,
        "--min-confidence",
        "0.999999",
        "--keep-share",
        "0",
        prelude=TORCH_REPORT,
    )
    assert_one_line_error(result, "--min-confidence 0.999999", "lower --min-confidence")
    assert "driver loaded torch: False" in result.stdout
    assert not out.exists()


def _bad_generator(root: Path) -> Path:
    """A generator.json that promises a wider model than its weights hold."""
    spec = GanSpec(arch="mlp")
    export_generator(str(root), build_generator(spec), spec, dataset="mnist", epochs=0)
    info = json.loads((root / INFO_FILE).read_text())
    info["spec"]["latent_dim"] = 64
    (root / INFO_FILE).write_text(json.dumps(info))
    return root


@pytest.mark.parametrize(
    "options, fragments",
    [
        (["--n", "0"], ["--n must be between 1"]),
        (["--n", "-5"], ["--n must be between 1", "-5"]),
        (["--class-weights", "0,0,0,0,0,0,0,0,0,0"], ["--class-weights", "positive sum"]),
        (["--class-weights", "1,2,3"], ["--class-weights needs 10 weights", "got 3"]),
        (["--class-weights", "1,x"], ["--class-weights must be fill or comma-separated numbers"]),
        (["--min-confidence", "1.5"], ["--min-confidence must be in [0, 1)", "1.5"]),
        (["--temperature", "0"], ["--temperature must be in (0, 3]"]),
        (["--precision", "fp16"], ["unknown --precision 'fp16': choose one of auto, fp32, bf16"]),
        (["--checkpoint", "{empty}"], ["holds no exported generator"]),
        (["--checkpoint", "{bad}"], ["generator.json does not match its weights"]),
        (["--judge", "{empty}"], ["holds no trained classifier"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(models, tmp_path, run_cli, options, fragments):
    gan, judge = models
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = _bad_generator(tmp_path / "bad")
    options = [o.format(empty=empty, bad=bad) for o in options]
    out = tmp_path / "out"
    base = {"--checkpoint": str(gan), "--judge": str(judge), "--n": "100", "--out": str(out)}
    for flag in ("--checkpoint", "--judge", "--n"):
        if flag in options:
            base.pop(flag)
    result = run_cli("generate", *[x for pair in base.items() for x in pair], *options)
    assert_one_line_error(result, *fragments)
    assert not out.exists()
