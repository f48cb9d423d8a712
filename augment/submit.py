"""`augment submit`: the same jobs on a Ray cluster through the Jobs API.

Each job runs one of jobs/*.py (thin entry points over the stage functions) with this working
directory uploaded through `runtime_env`. `pipeline` is a chain: the training job, then -- only if
it succeeded -- the generation job that reads its exported generator, then the job that merges,
retrains and evaluates. Every job of the chain is `jobs/pipeline.py` limited to its stages, so it
sees the same folder layout and skips what an earlier job finished.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from augment.core.console import RAYLET_LINE
from augment.core.errors import AugmentError

JOB_SCRIPTS = {
    "train": "jobs/train_gan.py",
    "generate": "jobs/generate.py",
    "retrain": "jobs/retrain.py",
    "pipeline": "jobs/pipeline.py",
}
PIPELINE_CHAIN = (("train", "real,gan,judge"), ("generate", "synthetic"), ("retrain", "merged,classifier,report"))
UPLOAD_EXCLUDES = ["**/__pycache__", "*.egg-info", "augment-out", ".pytest_cache", "benchmarks/*.log"]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
LAST_LOG_LINES = 15
AGENT_PATIENCE_S = 120.0


def path_options() -> set[str]:
    """Every option of the jobs that names a folder or file (each config's PATHS); on a cluster each
    must be absolute or a URI."""
    from augment.cli_build import flag_of_field
    from augment.pipeline_config import PipelineConfig
    from augment.stages.classifier.config import ClassifierConfig, ClassifierRunsConfig
    from augment.stages.gan.config import GanConfig
    from augment.stages.synthetic.config import SyntheticConfig

    configs = (PipelineConfig, GanConfig, SyntheticConfig, ClassifierConfig, ClassifierRunsConfig)
    return {flag_of_field(config, name) for config in configs for name in config.PATHS}


@dataclass(frozen=True)
class SubmitConfig:
    job: str  # train | generate | retrain | pipeline
    address: str  # http://HEAD:8265
    args: tuple[str, ...] = ()  # the job's own options, passed through
    wait: bool = False
    working_dir: str | None = None  # None: this project's folder (the one holding jobs/)
    poll_s: float = 2.0


@dataclass
class SubmitResult:
    job_ids: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)


def client_for(address: str):
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # ConnectionError, ValueError, RuntimeError depending on what failed
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AugmentError(f"cannot reach the Ray Jobs API at {address}: {text[:200]}") from None


def refuse_local_relative_paths(args: tuple[str, ...]) -> None:
    """A job runs on the head node in a temporary copy of the working dir: a relative path (or one
    under `~`, the head's home) would name a folder there, on no worker, and vanish with the job."""
    values = {}
    for i, token in enumerate(args):
        name, has_value, value = token.partition("=")
        if name in path_options():
            values[name] = value if has_value else (args[i + 1] if i + 1 < len(args) else "")
    if "--out" not in values:
        raise AugmentError(
            "a cluster job needs --out: an absolute path on storage every node shares, or a URI (s3://bucket/prefix)"
        )
    for name, value in values.items():
        if "://" not in value and not os.path.isabs(value):
            raise AugmentError(
                f"{name} {value} is not an absolute path: a cluster job would look for it on the head node only; "
                "pass an absolute path on storage every node shares, or a URI (s3://bucket/prefix)"
            )


def project_folder() -> str:
    """The folder `ray job submit` uploads: this project's source, wherever the command is run from."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "jobs").is_dir():
        raise AugmentError(
            f"no jobs/ folder beside the augment package in {root}; pass --working-dir with the project's folder"
        )
    return str(root)


def submit(cfg: SubmitConfig, echo: Callable[[str], None] = print) -> SubmitResult:
    if cfg.job not in JOB_SCRIPTS:
        raise AugmentError(f"unknown job {cfg.job!r}: choose one of {', '.join(JOB_SCRIPTS)}")
    refuse_local_relative_paths(cfg.args)
    working_dir = cfg.working_dir or project_folder()
    client = client_for(cfg.address)
    # Packaging chatter (which files were skipped, "Uploading package …", and on every upload a
    # notice that .git is no longer packaged) would bury the job's own output and a failure's
    # one-line error. Set after Ray's import, whose logging setup resets its loggers' levels.
    logging.getLogger("ray._private.runtime_env").setLevel(logging.WARNING)
    logging.getLogger("ray._private.runtime_env.working_dir").setLevel(logging.ERROR)
    logging.getLogger("ray.dashboard.modules.dashboard_sdk").setLevel(logging.WARNING)
    result = SubmitResult()
    if cfg.job != "pipeline":
        steps = [(cfg.job, f"python {JOB_SCRIPTS[cfg.job]} {shlex.join(cfg.args)}".strip())]
    else:
        steps = [
            (name, f"python jobs/pipeline.py {shlex.join(cfg.args)} --stages {stages}".strip())
            for name, stages in PIPELINE_CHAIN
        ]
    chained = len(steps) > 1
    for name, entrypoint in steps:
        job_id = _submit_job(client, entrypoint, {"working_dir": working_dir, "excludes": UPLOAD_EXCLUDES})
        result.job_ids.append(job_id)
        echo(f"submitted {name} job {job_id}: {entrypoint}")
        if not (cfg.wait or chained):
            continue
        status = follow(client, job_id, echo)
        result.statuses.append(status)
        if status != "SUCCEEDED":
            tail = "\n".join(client.get_job_logs(job_id).rstrip().splitlines()[-LAST_LOG_LINES:])
            raise AugmentError(f"{name} job {job_id} ended {status}; its last log lines:\n{tail}")
    return result


def _submit_job(client, entrypoint: str, runtime_env: dict, patience_s: float = AGENT_PATIENCE_S) -> str:
    """submit_job, retried while the head says its job agent is not up yet (a fresh or busy head
    answers HTTP 500 "No available agent to submit job, please try again later")."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env)
        except RuntimeError as exc:
            transient = "try again later" in str(exc)
            if not transient or time.monotonic() > deadline:
                text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                raise AugmentError(f"the cluster refused the job: {text[:300]}") from None
            time.sleep(2.0)


# What the Jobs API itself writes into a job's log before the entry point runs; `submit` has
# already said which job it submitted and what it runs.
JOB_MANAGER_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+INFO job_manager\.py|Running entrypoint for job )"
)


def _own_lines(lines: list[str]) -> list[str]:
    """The job's own lines: without the raylet's messages (and their indented continuation
    lines) or the job manager's."""
    kept, in_raylet_message = [], False
    for line in lines:
        if RAYLET_LINE.match(line) or (in_raylet_message and line[:1] in ("\t", " ")):
            in_raylet_message = True
            continue
        in_raylet_message = False
        if not JOB_MANAGER_LINE.match(line):
            kept.append(line)
    return kept


def follow(client, job_id: str, echo: Callable[[str], None], poll_s: float = 2.0) -> str:
    """Print the job's log as it grows, whole lines only; return its final status. The raylet's
    messages ("(raylet) WARNING: 10 PYTHON worker processes have been started …") that Ray writes
    into a job's log are left out, as a local run leaves them out: `ray job logs` still has them."""
    printed = 0
    while True:
        status = client.get_job_status(job_id).value
        logs = client.get_job_logs(job_id)
        end = len(logs) if status in TERMINAL else logs.rfind("\n", printed) + 1
        if end > printed:
            lines = _own_lines(logs[printed:end].rstrip("\n").split("\n"))
            if lines:
                echo("\n".join(lines))
            printed = end
        if status in TERMINAL:
            return status
        time.sleep(poll_s)
