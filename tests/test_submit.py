"""The cluster path against a real Ray head on loopback ports: `augment submit` and `ray job submit`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, augment_argv, run_cli_process
from tests.fixtures import write_untrained_models
from tests.ray_head import ray_cli, ray_head

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def head():
    with ray_head(num_cpus=2) as started:
        yield started


def _submit(head, *args) -> subprocess.CompletedProcess:
    """`augment submit JOB --address HEAD …` from the project folder (the working dir it uploads), in its own
    process."""
    job, *rest = args
    return subprocess.run(
        augment_argv("submit", job, "--address", head.address, *rest),
        cwd=ROOT,
        env=head.env,
        capture_output=True,
        text=True,
        timeout=900,
    )


# `augment submit pipeline` end to end (three jobs, S3 output) is the README's own command:
# tests/test_readme.py runs it against a loopback head.


def _ray_job_submit_generation(head, gan: Path, judge: Path, n: int, out) -> subprocess.CompletedProcess:
    """Plain `ray job submit … -- python jobs/generate.py`, from the project folder."""
    entry = ["python", "jobs/generate.py", "--checkpoint", str(gan), "--judge", str(judge), "--n", str(n)]
    return subprocess.run(
        [ray_cli(), "job", "submit", "--address", head.address, "--working-dir", ".", "--", *entry, "--out", str(out)],
        cwd=ROOT,
        env=head.env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_plain_ray_job_submit_runs_the_generation_entry_point(head, tmp_path):
    gan, judge = write_untrained_models(tmp_path)
    out = tmp_path / "syn"
    result = _ray_job_submit_generation(head, gan, judge, 500, out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "wrote 500 rows" in result.stdout
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["rows"] == 500 and sum(manifest["rows_per_label"].values()) == 500


def test_a_relative_path_in_a_cluster_job_is_refused_in_one_line(head, tmp_path):
    """The job's working folder is a temporary copy on the head: a relative --out there is no node's folder."""
    gan, judge = write_untrained_models(tmp_path)
    result = _ray_job_submit_generation(head, gan, judge, 10, "syn")
    assert result.returncode != 0
    assert (
        "augment: error: --out syn is a relative path: in a cluster job it names a folder on no node"
        in result.stdout + result.stderr
    )


def test_a_failing_job_exits_non_zero_and_shows_its_last_log_lines(head, tmp_path):
    out = tmp_path / "syn"
    result = _submit(
        head, "generate", "--wait", "--", "--checkpoint", tmp_path / "no-such-run", "--n", 10, "--out", out
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert not any("Uploading package" in line for line in lines)  # Ray's packaging chatter stays off the console
    ours = 0  # our error first, then the job's last lines
    assert (
        lines[ours].startswith("augment: error: generate job ") and "ended FAILED; its last log lines:" in lines[ours]
    )
    tail = lines[ours + 1 :]
    assert 1 <= len(tail) <= 15
    assert any("augment: error:" in line and "no-such-run" in line for line in tail), result.stderr
    assert not out.exists()


def test_an_unreachable_jobs_api_is_one_line(tmp_path):
    result = run_cli_process(
        "submit", "generate", "--address", "http://127.0.0.1:1", "--", "--n", 10, "--out", tmp_path / "syn"
    )
    assert_one_line_error(result, "cannot reach the Ray Jobs API at http://127.0.0.1:1")


def test_an_unknown_job_is_one_line():
    result = run_cli_process("submit", "painting", "--address", "http://127.0.0.1:1")
    assert_one_line_error(result, "unknown job 'painting'", "pipeline")


class _GrowingJob:
    """A job whose log arrives in pieces that split lines, with a raylet message among them."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces, self.polls = pieces, 0

    def get_job_status(self, job_id):
        done = self.polls >= len(self.pieces)
        return type("Status", (), {"value": "SUCCEEDED" if done else "RUNNING"})()

    def get_job_logs(self, job_id):
        self.polls += 1
        return "".join(self.pieces[: self.polls])


def test_following_a_job_prints_whole_lines_and_leaves_out_the_raylets_messages():
    from augment.submit import follow

    raylet = (
        "\x1b[33m(raylet)\x1b[0m WARNING: 10 PYTHON worker processes have been started on node: 0d28 with "
        "address: 192.0.2.2"
    )
    client = _GrowingJob(
        ["report     15  fid", f"elity 99%\n{raylet}\n", "stage  seconds\n", "last line without newline"]
    )
    printed: list[str] = []
    assert follow(client, "job", printed.append, poll_s=0) == "SUCCEEDED"
    assert printed == ["report     15  fidelity 99%", "stage  seconds", "last line without newline"]
