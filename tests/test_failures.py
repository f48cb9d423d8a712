"""Failures a user can cause are one line and exit 2 with nothing written; a failure nobody foresaw
is one line naming the stage and the file that holds its traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from augment.core import console
from augment.stages.real import export
from tests.conftest import assert_one_line_error, run_cli_process
from tests.fixtures import write_tiny_dataset
from tests.s3_server import s3_server


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        server.create_bucket("augment-tests")
        yield server


def test_an_unwritable_out_is_one_line_before_any_work(run_cli, tiny_mnist):
    result = run_cli("data", "export", "--out", "/proc/augment-out", "--data-root", tiny_mnist.root, "--offline")
    assert_one_line_error(result, "--out /proc/augment-out is not writable here")
    assert not Path("/proc/augment-out").exists()


def test_an_out_below_a_file_is_one_line(run_cli, tiny_mnist, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_cli("data", "export", "--out", blocker / "real", "--data-root", tiny_mnist.root, "--offline")
    assert_one_line_error(result, f"--out {blocker / 'real'} is not writable here")
    assert blocker.read_text() == "not a folder"


def test_an_out_in_a_missing_bucket_is_one_line(s3, tmp_path):
    data = write_tiny_dataset(tmp_path / "data").root
    result = run_cli_process(
        "data", "export", "--out", "s3://no-such-bucket/real", "--data-root", data, "--offline", env=s3.env
    )
    assert_one_line_error(result, "--out s3://no-such-bucket/real: bucket no-such-bucket does not exist")


def test_an_out_in_a_bucket_is_written_and_a_refused_one_leaves_it_untouched(s3, tmp_path):
    data = write_tiny_dataset(tmp_path / "data").root
    done = run_cli_process(
        "data", "export", "--out", "s3://augment-tests/real", "--data-root", data, "--offline", env=s3.env
    )
    assert done.returncode == 0, done.stderr
    again = run_cli_process(
        "data",
        "export",
        "--out",
        "s3://augment-tests/real",
        "--data-root",
        data,
        "--offline",
        "--dataset",
        "kmnist",
        env=s3.env,
    )
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert "made with other settings (dataset)" in again.stderr
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    keys = sorted(item["Key"] for item in client.list_objects_v2(Bucket="augment-tests", Prefix="real/")["Contents"])
    assert "real/_manifest.json" in keys and not any("augment-write-probe" in key for key in keys)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["pipeline", "--", "--out", "runs/aug"], "--out runs/aug is not an absolute path"),
        (
            ["generate", "--", "--checkpoint", "gan", "--n", "10", "--out", "/shared/syn"],
            "--checkpoint gan is not an absolute path",
        ),
        (["pipeline", "--", "--n", "10"], "a cluster job needs --out"),
    ],
)
def test_augment_submit_refuses_paths_no_node_has_before_contacting_the_cluster(run_cli, args, fragment):
    job, *rest = args
    result = run_cli("submit", job, "--address", "http://127.0.0.1:1", *rest)  # nothing listens there
    assert_one_line_error(result, fragment, "absolute")


def test_an_unexpected_failure_is_one_line_naming_the_stage_and_the_saved_traceback(
    run_cli, tiny_mnist, tmp_path, monkeypatch
):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug nobody foresaw")

    monkeypatch.setattr(export.schema, "write_parquet", broken)
    monkeypatch.setenv("AUGMENT_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(console, "_log_path", None)  # one log file per process: this test's process already has one
    result = run_cli("data", "export", "--out", tmp_path / "real", "--data-root", tiny_mnist.root, "--offline")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(
        "augment: error: augment data export failed unexpectedly (ZeroDivisionError: a bug nobody foresaw)"
    )
    saved = Path(lines[0].rsplit("full traceback in ", 1)[1])
    assert saved.parent == tmp_path / "logs" and "Traceback (most recent call last)" in saved.read_text()
    assert "write_parquet" in saved.read_text()
    assert not (tmp_path / "real" / "_manifest.json").exists()
