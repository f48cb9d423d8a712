"""`augment generate --precision auto` against pinned fp32 and bf16 on this machine, each a fresh
`augment generate` process (Ray start-up, the probe, the actor pool: what a user runs).

    python benchmarks/precision_auto.py [--n 200000] [--rounds 2] [--checkpoint RUN --judge JUDGE]

Rows/s is the manifest's (rows made / seconds from the stage's start, so auto's ~2 s probe counts
against it). The formats run interleaved, `rounds` times, and each takes its best round (a shared
2-core box drifts by 10-20% within minutes). auto's first run times both formats (a fresh
decision file, AUGMENT_CACHE_DIR in the work folder); its later runs adopt the remembered decision,
as a user's later jobs with the same models do: both are reported. Target (issue 24): auto within
5% of the better of fp32 and bf16. Untrained models by default: throughput does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from commands import generate_command  # noqa: E402  (benchmarks/ is the script folder)

from augment.stages.synthetic.precision_probe import machine  # noqa: E402


def generate(checkpoint: str, judge: str, out: Path, n: int, precision: str) -> dict:
    words = generate_command(checkpoint, judge, out, n, "--precision", precision)
    env = {
        **{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
        "AUGMENT_CACHE_DIR": str(out.parent / "cache"),
    }
    proc = subprocess.run(words, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        sys.exit(proc.stdout[-2000:] + proc.stderr[-2000:])
    found = json.loads((out / "_manifest.json").read_text())
    shutil.rmtree(out)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--checkpoint")
    parser.add_argument("--judge")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="precision-auto-"))
    if args.checkpoint and args.judge:
        checkpoint, judge = args.checkpoint, args.judge
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.fixtures import write_untrained_models

        checkpoint, judge = map(str, write_untrained_models(work))
    print(f"host: {machine()}; {args.n:,} rows per run, {args.rounds} rounds", flush=True)
    best: dict[str, float] = {}
    auto_runs: dict[str, float] = {}  # "probed" / "remembered" -> best rows/s
    for round_ in range(args.rounds):
        order = ("fp32", "bf16", "auto") if round_ % 2 == 0 else ("auto", "bf16", "fp32")
        for precision in order:
            found = generate(checkpoint, judge, work / "out", args.n, precision)
            rate = found["rows_per_s"]
            probe = found.get("precision_probe") or {}
            how = "remembered" if probe.get("remembered_from") else "probed"
            chosen = (
                f" -> {found['config']['precision']} ({how}: bf16 {probe.get('speedup_bf16')}x)"
                if precision == "auto"
                else ""
            )
            print(f"round {round_ + 1}  {precision:5s} {rate:9,.0f} rows/s{chosen}", flush=True)
            best[precision] = max(best.get(precision, 0.0), rate)
            if precision == "auto":
                auto_runs[how] = max(auto_runs.get(how, 0.0), rate)
    better = max(best["fp32"], best["bf16"])
    print(
        f"best: fp32 {best['fp32']:,.0f}  bf16 {best['bf16']:,.0f}  auto {best['auto']:,.0f} rows/s; "
        f"auto / better = {best['auto'] / better:.3f} (target >= 0.95)"
    )
    for how, rate in auto_runs.items():
        print(f"auto {how}: {rate:,.0f} rows/s, / better = {rate / better:.3f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
