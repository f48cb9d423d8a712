"""`augment run` end to end on tiny data: every stage, skip on rerun, --force, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augment.pipeline import STAGES, stages_to_redo
from augment.stages.classifier.plan import GAIN_VARIANTS as VARIANTS
from tests.conftest import assert_one_line_error
from tests.fixtures import TINY_RUN, write_tiny_dataset


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("pipeline-data"), n_train=400, n_test=100, learnable=True).root


def _manifest(out: Path, name: str) -> Path:
    """A stage's manifest; the classifier stage holds one run per classifier (the augmented one here)."""
    inner = "full-data/real+synthetic/seed0/" if name == "classifier" else ""
    return out / name / inner / "_manifest.json"


def _done(line: str) -> bool:
    return "] done in " in line


REAL_ONLY_RUNS = ("full-data/real-only/seed0", "full-data/real+classic/seed0", "full-data/real-only/seed1")


def _run_manifest(out: Path, run: str) -> Path:
    return out / "classifier" / run / "_manifest.json"


def _stage_lines(stdout: str) -> dict[str, str]:
    """stage -> its closing line ("[gan] done in 26 s: ..." / "[gan] complete already, skipped: ...")."""
    lines = [line for line in stdout.splitlines() if line.startswith("[") and (_done(line) or "skipped:" in line)]
    return {line[1 : line.index("]")]: line for line in lines}


def test_run_end_to_end_then_skip_everything_then_force_generate(ray_local, run_cli, tiny_data, tmp_path):
    out = tmp_path / "run"
    first = run_cli("run", "--out", out, "--data-root", tiny_data, *TINY_RUN)
    assert first.returncode == 0, first.stderr
    assert "expected ~" in first.stdout.splitlines()[0]
    assert all(_done(line) for line in _stage_lines(first.stdout).values())
    assert list(_stage_lines(first.stdout)) == list(STAGES)
    for stage in STAGES:
        assert _manifest(out, stage).exists(), stage
    assert (out / "classifier" / "cas" / "_manifest.json").exists()
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["samples"]["rows"] == 200 and list(report["gain"]) == ["full data"]
    assert sorted(report["gain"]["full data"]) == sorted(VARIANTS)
    for row in report["gain"]["full data"].values():
        assert len(row["runs"]) == 1 and row["std"] == 0.0 and 0.0 <= row["mean"] <= 1.0
        assert 0.0 <= row["worst_class_recall"] <= row["balanced_accuracy"] <= 1.0  # read for long tails
    # equal budgets: every variant sees real only's samples (1 epoch x the real rows), within one batch
    budget, gain = report["gain_budget"]["full data"], report["gain"]["full data"]
    real_rows = json.loads((out / "merged" / "_manifest.json").read_text())["rows"]["real"]
    trained = real_rows - real_rows // 12  # the last 1/12 of this small split is held out (--validation-rows)
    assert budget == trained // 128 * 128  # real only's one epoch, whole batches
    assert gain["real only"]["epochs"] == 1
    assert all(budget - 128 < row["samples_seen"] <= budget for row in gain.values()), gain
    assert (
        gain["real + synthetic"]["rows"] == 2 * gain["real only"]["rows"]
    )  # each epoch: the real rows + as many fresh synthetic
    assert (
        json.loads((out / "merged" / "_manifest.json").read_text())["rows"]["synthetic"] == 1000
    )  # every generated row
    # the synthetic-rows curve: one epoch draws at most one real rows' worth (367 trained) of synthetic
    # rows, so 10,000 and up are the gain table's run
    curve = report["curve"]["full data"]
    assert trained == 367 and [(p["rows_available"], p["rows_read"]) for p in curve] == [
        (0, 0),
        (10_000, 367),
        (60_000, 367),
        (250_000, 367),
        (1_000_000, 367),
    ]
    assert curve[0]["runs"] == gain["real only"]["runs"] and curve[-1]["runs"] == gain["real + synthetic"]["runs"]
    assert (out / "report" / "curve.png").stat().st_size > 0
    # label fidelity's target reads the independent scorer (real only, seed 1), which every run trains
    independent = "label fidelity >= 99% (real-only classifiers that never saw the filter)"
    assert report["cas"]["rows"] == 1000 and set(report["targets"]) >= {independent, "CAS >= 98%"}
    # one seed, yet measured: the plan adds the real-only run of seed 1 (seed 0's is the judge's twin)
    assert list(report["independent_fidelity"]["per_seed"]) == ["1"]
    scorer = json.loads(_run_manifest(out, "full-data/real-only/seed1").read_text())
    assert scorer["config"]["seed"] == 1 and scorer["config"]["real_only"] is True
    assert "Label fidelity" in (out / "report" / "report.md").read_text().split("## Label fidelity")[1].splitlines()[2]
    for name in ("report.md", "confusion.png", "samples.png", "gain.png"):
        assert (out / "report" / name).stat().st_size > 0, name
    synthetic = json.loads((out / "synthetic" / "_manifest.json").read_text())
    assert synthetic["rows"] == 1000
    assert "report: " in first.stdout and "stage" in first.stdout  # the summary table
    mtimes = {name: _manifest(out, name).stat().st_mtime_ns for name in STAGES}

    second = run_cli("run", "--out", out, "--data-root", tiny_data, *TINY_RUN)
    assert second.returncode == 0, second.stderr
    assert all("complete already, skipped" in line for line in _stage_lines(second.stdout).values()), second.stdout
    assert {name: _manifest(out, name).stat().st_mtime_ns for name in STAGES} == mtimes

    real_only = {run: _run_manifest(out, run).stat().st_mtime_ns for run in REAL_ONLY_RUNS}
    forced = run_cli("run", "--out", out, "--data-root", tiny_data, *TINY_RUN, "--force", "synthetic")
    assert forced.returncode == 0, forced.stderr
    lines = _stage_lines(forced.stdout)
    assert {s for s, line in lines.items() if _done(line)} == {"synthetic", "merged", "classifier", "report"}
    changed = {name for name in STAGES if _manifest(out, name).stat().st_mtime_ns != mtimes[name]}
    assert changed == {"synthetic", "merged", "classifier", "report"}
    # Classifiers that never read a synthetic row are kept: the new generation did not change their data.
    assert "3 classifiers trained, 3 kept" in lines["classifier"], lines["classifier"]
    assert {run: _run_manifest(out, run).stat().st_mtime_ns for run in REAL_ONLY_RUNS} == real_only


def test_stages_downstream_of_a_forced_stage_are_redone():
    assert stages_to_redo(("synthetic",)) == {"synthetic", "merged", "classifier", "report"}
    assert stages_to_redo(("gan",)) == {"gan", "synthetic", "merged", "classifier", "report"}
    assert stages_to_redo(("real",)) == {"real", "merged", "classifier", "report"}
    assert stages_to_redo(()) == set()


def test_a_run_folder_with_other_settings_is_refused(run_cli, tiny_data, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "pipeline.json").write_text(json.dumps({"n": 5}))
    result = run_cli("run", "--out", out, "--data-root", tiny_data, *TINY_RUN)
    assert_one_line_error(result, "holds a run with other settings", "n", "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == ["pipeline.json"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--n", "0"], "--n must be between 1 and"),
        (["--force", "painting"], "--force painting: stages are"),
        (["--address", "127.0.0.1:1"], "cannot reach a Ray cluster at 127.0.0.1:1"),
    ],
)
def test_bad_input_is_one_line(run_cli, tiny_data, tmp_path, args, fragment):
    out = tmp_path / "run"
    result = run_cli("run", "--out", out, "--data-root", tiny_data, "--offline", *args)
    assert_one_line_error(result, fragment)
