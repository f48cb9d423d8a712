"""Generation to object storage against local disk, on the same machine in one run.

`augment generate --n N` in fresh processes, writing (1) to a local folder and (2) to
s3://bench/… on a local S3-protocol server (moto's, started here as its own process and reached
as on AWS: the standard variables + AWS_ENDPOINT_URL_S3), then (1) again: the local figure is the
mean of the two, as the box drifts within minutes. Prints rows/s for each and the ratio S3 / local.

    python benchmarks/generate_s3.py --n 200000 [--precision auto]

Untrained models of the default sizes (throughput does not depend on the weights). The S3 server
runs on the same two cores as the job: what it costs (request parsing, MD5s, keeping the objects
in memory) is charged to the S3 run, so the ratio is a lower bound for a real endpoint.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_throughput import untrained_models  # noqa: E402

from augment.stages.synthetic.precision_probe import machine  # noqa: E402
from tests.s3_server import moto_server_command, s3_env  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def generate(checkpoint: str, judge: str, out: str, n: int, precision: str, env: dict) -> float:
    """rows/s as `augment generate` reports it (rows made / the command's own seconds)."""
    command = [
        sys.executable,
        "-c",
        "from augment.cli import main; main()",
        "generate",
        "--checkpoint",
        checkpoint,
        "--judge",
        judge,
        "--out",
        out,
        "--n",
        str(n),
        "--precision",
        precision,
        "--seed",
        "0",
    ]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    rate = float(re.search(r"([\d,]+) rows/s, mean confidence", done.stdout)[1].replace(",", ""))
    print(f"  {out}: {rate:,.0f} rows/s ({wall:.1f} s wall, with start-up)", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    print(f"host: {machine()}; n={args.n:,}, precision {args.precision}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="gen-s3-"))
    port = free_port()
    server = subprocess.Popen(
        moto_server_command(port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        checkpoint, judge = untrained_models(work)
        s3 = s3_env(f"http://127.0.0.1:{port}", "bench", "bench")
        env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
        time.sleep(2.0)
        import boto3

        boto3.client(
            "s3",
            endpoint_url=s3["AWS_ENDPOINT_URL_S3"],
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket="bench")
        local = [generate(checkpoint, judge, str(work / "local-1"), args.n, args.precision, env)]
        remote = generate(checkpoint, judge, "s3://bench/synthetic", args.n, args.precision, {**env, **s3})
        local.append(generate(checkpoint, judge, str(work / "local-2"), args.n, args.precision, env))
        baseline = sum(local) / len(local)
        print(
            f"local disk {baseline:,.0f} rows/s (mean of {local[0]:,.0f} and {local[1]:,.0f}); "
            f"S3 {remote:,.0f} rows/s; S3 / local = {remote / baseline:.2f}",
            flush=True,
        )
    finally:
        server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
