"""The README's Quickstart, run as written: every `augment` command of its blocks, in order, as a
subprocess, from an empty folder outside the repository, with relative paths and default options.

Only sizes change (a smaller --n, one epoch, …), and options that name a server point at the one
this test starts (for `augment submit`: a Ray cluster of a head with no CPUs and two 1-CPU worker
nodes, with an S3-protocol server; a free port for `augment app`). A command the README gains
without an entry in SIZES fails the test, so the test follows the README.

The cluster command is also the cluster promise's first scenario: its first attempt loses its
driver (the train job is stopped while the judge trains), and the same command again continues
from what is in the bucket; Train workers and generation actors ran on both nodes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.fixtures import write_tiny_dataset
from tests.ray_cluster import ray_cluster
from tests.ray_head import free_port, ray_cli
from tests.s3_server import s3_server

ROOT = Path(__file__).resolve().parents[1]
# 60,000 rows: a few seconds of generation, long enough for its progress lines (12,000 took 1.4 s
# with bf16 on an idle AMX host, most of it the first batch: no rate to print yet)
TINY_PIPELINE = {
    "--n": "60000",
    "--epochs": "1",
    "--classifier-epochs": "1",
    "--samples": "200",
    "--merge-synthetic": "400",
    "--workers": "1",
}  # the default filter too: a one-epoch GAN's classes each keep their best draws (--keep-share)
# Per command (its first words): size options to set, replacing the README's value or appended.
SIZES = {
    ("data", "export"): {},
    # The stage-by-stage block with `augment run`'s sizes: it must give the same outputs.
    ("train",): {"--epochs": "1", "--workers": "1"},
    ("judge",): {},
    ("generate",): {"--n": TINY_PIPELINE["--n"]},
    ("merge",): {"--max-synthetic": "400"},
    ("classifiers",): {"--epochs": "1"},
    ("evaluate",): {"--samples": "200"},
    ("run",): TINY_PIPELINE,
    # the job's options, after `--`: a worker per node, and parts small enough for an actor per node
    ("submit", "pipeline"): {**TINY_PIPELINE, "--workers": "2", "--rows-per-file": "3000"},
    ("app",): {},
}
# What Ray printed between augment's lines before the console was made readable.
RAY_CHATTER = (
    "Token authentication",
    "core_worker.cc",
    "PreemptionWatcher",
    "MapWorker(",
    "Reporting training result",
    "TrainingReport(",
    "Moving model to device",
    "Wrapping provided model",
    "RayDeprecationWarning",
    "exclude_resources",
    "new progress UI",
    "(raylet)",
    "pid=",
    "tqdm",
    " INFO ",
    "Traceback",
)


def quickstart_commands(readme: str) -> list[str]:
    """The `augment …` commands of the Quickstart section's bash blocks, continuation lines joined.
    Install and test commands (`git clone`, `pip install`, `pytest`) are what CI itself runs."""
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "augment":
                commands.append(shlex.join(words))
    return commands


def command_key(words: list[str]) -> tuple[str, ...]:
    for key in SIZES:
        if tuple(words[1 : 1 + len(key)]) == key:
            return key
    raise AssertionError(f"the README's Quickstart has a command this test has no sizes for: {shlex.join(words)}")


def resized(words: list[str], sizes: dict[str, str]) -> list[str]:
    words = list(words)
    for option, value in sizes.items():
        if option in words:
            words[words.index(option) + 1] = value
        else:
            words += [option, value]
    return words


def augment_script() -> str:
    return shutil.which("augment", path=os.path.dirname(sys.executable)) or "augment"


def test_the_quickstart_block_runs_as_written(tmp_path_factory, monkeypatch):
    commands = quickstart_commands((ROOT / "README.md").read_text())
    assert [shlex.split(c)[1] for c in commands][:2] == ["run", "app"]  # the headline commands come first
    data = write_tiny_dataset(tmp_path_factory.mktemp("readme-data"), n_train=1500, n_test=200, learnable=True).root
    work = tmp_path_factory.mktemp("fresh-folder")
    assert ROOT not in work.parents and not any(work.iterdir())
    env = {**os.environ, "AUGMENT_DATA_ROOT": str(data), "AUGMENT_OFFLINE": "1", "AUGMENT_PROGRESS_EVERY_S": "0.2"}
    env.pop("RAY_ADDRESS", None)

    with (
        s3_server() as s3,
        ray_cluster(2, 1, env_extra={**s3.env, "AUGMENT_DATA_ROOT": str(data), "AUGMENT_OFFLINE": "1"}) as cluster,
    ):
        s3.create_bucket("bucket")
        for command in commands:
            words = shlex.split(command)
            key = command_key(words)
            words = [augment_script(), *words[1:]]
            if key == ("app",):
                _serve_app_until_healthy(resized(words, {"--port": str(free_port())}), work, env)
                continue
            if key == ("submit", "pipeline"):
                words[words.index("--address") + 1] = cluster.address
                job_env = {**env, **cluster.env, **s3.env}
                _stop_the_first_job_after_the_gan(resized(words, SIZES[key]), work, job_env, cluster.address)
                result = _run(resized(words, SIZES[key]), work, job_env)
                assert any(line.startswith("[gan] complete already, skipped") for line in result.stdout.splitlines()), (
                    result.stdout
                )
                _check_cluster_outputs(result, s3.env)
                continue
            result = _run(resized(words, SIZES[key]), work, env)
            if key == ("run",):
                _check_console(result.stdout + result.stderr)

    # Everything landed where the relative paths say, in the folder the commands ran from.
    assert json.loads((work / "augment-out" / "synthetic" / "_manifest.json").read_text())["rows"] == int(
        TINY_PIPELINE["--n"]
    )
    assert (work / "augment-out" / "report" / "report.md").exists()
    assert (work / "stages" / "judge" / "classifier.json").exists()  # exported by a Ray Train worker
    assert (work / "stages" / "report" / "report.md").exists()
    assert (work / "stages" / "classifier" / "cas" / "metrics.csv").exists()
    _check_stage_by_stage_is_the_run(work / "stages", work / "augment-out")


def _check_stage_by_stage_is_the_run(stages: Path, run: Path) -> None:
    """The README's stage-by-stage block, with `augment run`'s settings, made what the run made: the
    same identity in every manifest (the GAN's and judge's weights included, through the digests
    downstream), the same scored samples, and the same classifier runs with the same accuracies:
    a run's seed fixes its batches (block order, shuffle buffer, blocks handed out in order), so
    two trainings of one run are the same training."""
    manifest = lambda folder: json.loads((folder / "_manifest.json").read_text())
    for stage in ("real", "gan", "judge", "synthetic", "merged", "classifier", "report"):
        assert manifest(stages / stage)["config"] == manifest(run / stage)["config"], stage
    for name in manifest(run / "classifier")["runs"]:
        assert manifest(stages / "classifier" / name)["config"] == manifest(run / "classifier" / name)["config"], name
    report = lambda folder: json.loads((folder / "report" / "report.json").read_text())
    ours, theirs = report(stages), report(run)
    for key in ("label_fidelity", "mean_confidence", "frechet_distance", "confusion", "filtered_at", "gain_budget"):
        assert ours[key] == theirs[key], key  # the samples and what the judge says of them: exactly
    assert _runs_of(ours) == _runs_of(theirs)
    assert _accuracies(ours) == _accuracies(theirs)


def _runs_of(report: dict) -> list:
    """The classifier runs a report read: CAS's rows and epochs, each gain-table and curve row's budget."""
    gain = [(regime, variant, row["epochs"], row["samples_seen"], row["rows"], len(row["runs"]))
            for regime, variants in report["gain"].items() for variant, row in variants.items()]  # fmt: skip
    curve = [
        (regime, p["rows_available"], p["rows_read"]) for regime, points in report["curve"].items() for p in points
    ]
    return [report["cas"].get("rows"), report["cas"].get("epochs"), *gain, *curve]


def _accuracies(report: dict) -> list[float]:
    gain = [accuracy for variants in report["gain"].values() for row in variants.values() for accuracy in row["runs"]]
    curve = [accuracy for points in report["curve"].values() for p in points for accuracy in p["runs"]]
    return [report["cas"]["accuracy"], *gain, *curve]


def _run(words: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    started = time.perf_counter()
    result = subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    print(f"{time.perf_counter() - started:6.1f} s  {shlex.join(words[1:])}", flush=True)  # where the test's time goes
    assert result.returncode == 0, (shlex.join(words), result.stdout[-3000:], result.stderr[-3000:])
    return result


def _stop_the_first_job_after_the_gan(words: list[str], cwd: Path, env: dict, address: str) -> None:
    """The command's first attempt: once its train job has finished the GAN, the job is stopped
    (its driver gets SIGTERM, then SIGKILL) and the client following it is killed."""
    started = time.perf_counter()
    proc = subprocess.Popen(words, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    job = None
    for line in proc.stdout:
        if line.startswith("submitted train job "):
            job = line.split()[3].rstrip(":")
        if line.startswith("[gan] done"):
            stopped = subprocess.run(
                [ray_cli(), "job", "stop", "--address", address, job],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert stopped.returncode == 0, stopped.stderr
            break
    proc.kill()
    proc.wait(timeout=60)
    assert job, "the train job never started"
    print(f"{time.perf_counter() - started:6.1f} s  {shlex.join(words[1:])}  (stopped after the GAN)", flush=True)


def _check_console(console: str) -> None:
    for chatter in RAY_CHATTER:
        assert chatter not in console, (chatter, console)
    lines = console.splitlines()
    assert any(re.match(r"\[gan\] stage 2/7: .*; forecast ", line) for line in lines), console
    # progress from inside a GAN epoch and inside a generation part, with a rate and an ETA
    assert any(
        re.match(r"  gan epoch 1/1: [\d,]+/[\d,]+ samples \(\d+%\), [\d,]+ samples/s, ETA ", line) for line in lines
    ), console
    assert any(
        re.match(
            r"  generating: [\d,]+/" + f"{int(TINY_PIPELINE['--n']):,}" + r" rows \(\d+%\), [\d,]+ rows/s, ETA ", line
        )
        for line in lines
    ), console


def _serve_app_until_healthy(words: list[str], cwd: Path, env: dict) -> None:
    port = words[words.index("--port") + 1]
    app = subprocess.Popen(words, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while True:
            assert app.poll() is None, app.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    if answer.read().decode().strip() == "ok":
                        return
            except OSError:
                pass
            assert time.time() < deadline, "augment app did not answer its health check in 120 s"
            time.sleep(0.5)
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=30)


def _check_cluster_outputs(result: subprocess.CompletedProcess, s3_env: dict) -> None:
    """The chain's three jobs succeeded and every stage's output is in the bucket."""
    assert result.stdout.strip().splitlines()[-1].endswith("ended SUCCEEDED, SUCCEEDED, SUCCEEDED"), result.stdout[
        -3000:
    ]
    for chatter in RAY_CHATTER[:-2]:  # the job's log, as the user sees it
        assert chatter not in result.stdout, (chatter, result.stdout[-3000:])
    previous = {key: os.environ.get(key) for key in s3_env}
    os.environ.update(s3_env)
    try:
        import duckdb
        import pyarrow.dataset as ds
        from pyarrow import fs as pafs

        s3, _ = pafs.FileSystem.from_uri("s3://bucket/aug")
        for folder in ("real", "gan", "judge", "synthetic", "merged", "classifier/cas", "report"):
            assert s3.get_file_info(f"bucket/aug/{folder}/_manifest.json").type == pafs.FileType.File, folder
        synthetic = ds.dataset("bucket/aug/synthetic/train", filesystem=s3, format="parquet")
        merged = ds.dataset("bucket/aug/merged/train", filesystem=s3, format="parquet")  # noqa: F841 (DuckDB reads it by name)
        assert synthetic.count_rows() == int(TINY_PIPELINE["--n"])
        # DuckDB over pyarrow's S3 filesystem (its own httpfs extension is a download this machine cannot make)
        counts = duckdb.sql(
            "SELECT source, count(*), count(DISTINCT id) FROM merged GROUP BY source ORDER BY source"
        ).fetchall()
        assert counts == [("real", 1500, 1500), ("synthetic", 400, 400)]
        # Train workers and generation actors ran on both nodes
        manifest = lambda folder: json.loads(s3.open_input_stream(f"bucket/aug/{folder}/_manifest.json").read())
        assert len(manifest("gan")["nodes"]) == 2
        assert len(set(manifest("synthetic")["made_on"].values())) == 2
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_a_relative_data_root_and_out_are_the_working_folders(tmp_path):
    stage_args = ["data", "export", "--out", "real"]
    data = write_tiny_dataset(tmp_path / "data", n_train=300, n_test=100, learnable=True).root
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "AUGMENT_DATA_ROOT": "../data", "AUGMENT_OFFLINE": "1"}  # a relative data root too
    env.pop("RAY_ADDRESS", None)
    result = subprocess.run(
        [augment_script(), *stage_args], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = work / stage_args[stage_args.index("--out") + 1]
    assert json.loads((out / "_manifest.json").read_text())["rows"] == {"train": 300, "test": 100}
    assert data.exists()
