"""The README's headline command, timed as a user runs it: `augment run --n N` (default 1,000,000)
from an empty folder, every console line timestamped as it arrives; then each stage's wall time
against the forecast the command printed first, and the whole run against its forecast.

    AUGMENT_DATA_ROOT=/path/to/data python benchmarks/readme_run.py [--n 1000000] [-- more augment run options]

Writes the timestamped console to FOLDER/console.log (FOLDER is printed; kept afterwards).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.stages.synthetic.precision_probe import machine  # noqa: E402

FORECAST = re.compile(r"expected ~([\d.]+) (min|s)\b.*?\((.*)\)")
STAGE_START = re.compile(r"^\[(\w+)\] stage \d+/\d+: .*; forecast (.+)$")
STAGE_END = re.compile(r"^\[(\w+)\] (done in|complete already)")


def seconds(text: str) -> float:
    value, unit = text.strip().split()[:2] if " " in text.strip() else (text.strip()[:-1], text.strip()[-1:])
    return float(value) * (60.0 if unit.startswith("min") else 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("extra", nargs="*", help="more `augment run` options, after --")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="readme-run-"))
    augment = str(Path(sys.executable).parent / "augment")
    command = [augment if os.path.exists(augment) else "augment", "run", "--n", str(args.n), *args.extra]
    print(f"host: {machine()}; in {folder}: {' '.join(command)}", flush=True)

    started = time.perf_counter()
    lines: list[tuple[float, str]] = []
    with open(folder / "console.log", "w") as log:
        proc = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            at = time.perf_counter() - started
            lines.append((at, line.rstrip("\n")))
            log.write(f"{at:8.1f}  {line}")
            log.flush()
        code = proc.wait()
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"augment run exited {code}; console in {folder / 'console.log'}")

    total = next(FORECAST.search(text) for _, text in lines if FORECAST.search(text))
    forecast_total = float(total[1]) * (60.0 if total[2] == "min" else 1.0)
    starts, ends, forecasts = {}, {}, {}
    for at, text in lines:
        if match := STAGE_START.match(text):
            starts[match[1]], forecasts[match[1]] = at, seconds(match[2])
        elif match := STAGE_END.match(text):
            ends[match[1]] = at
    print(f"{'stage':<11}{'forecast s':>11}{'wall s':>9}{'wall/forecast':>15}")
    for stage, begun in starts.items():
        took = ends.get(stage, wall) - begun
        print(f"{stage:<11}{forecasts[stage]:>11.0f}{took:>9.0f}{took / max(forecasts[stage], 1e-9):>15.2f}")
    print(
        f"whole run: forecast {forecast_total / 60:.1f} min, wall {wall / 60:.1f} min, "
        f"wall / forecast {wall / forecast_total:.2f}; {len(lines)} console lines; console: {folder / 'console.log'}"
    )


if __name__ == "__main__":
    main()
