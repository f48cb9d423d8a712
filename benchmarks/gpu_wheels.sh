#!/usr/bin/env bash
# Wheels for tier 2 of benchmarks/gpu_check.sh, made here (the device machine reaches no registry):
# Ray for CPython 3.12 (about 76 MiB, over the 64 MiB one device call carries) split into two parts,
# with the small wheels Ray needs that the device image lacks, spread over the two folders so each
# stays under the limit. Both folders are git-ignored; carry .gpu-wheels/part1 on one call and
# .gpu-wheels/part2 on the next, to the same warm machine.
set -euo pipefail
cd "$(dirname "$0")/.."
RAY_VERSION="$(python -c 'import ray; print(ray.__version__)')"
rm -rf .gpu-wheels && mkdir -p .gpu-wheels/all .gpu-wheels/part1 .gpu-wheels/part2
python -m pip download --quiet --dest .gpu-wheels/all --python-version 3.12 --only-binary=:all: \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  "ray[train,data]==${RAY_VERSION}"
# what the device image already has (torch and its CUDA libraries, pyarrow, numpy, typer ...) stays out
for have in torch nvidia triton numpy pyarrow typer safetensors torchmetrics torchvision sympy networkx jinja2 \
            markupsafe filelock fsspec mpmath setuptools; do
  rm -f .gpu-wheels/all/${have}-*.whl .gpu-wheels/all/${have}_*.whl
done
ray_wheel="$(ls .gpu-wheels/all/ray-*.whl)"
basename "$ray_wheel" > .gpu-wheels/part1/ray.whl.name
half=$(( ( $(stat -c %s "$ray_wheel") + 1 ) / 2 ))
split -b "$half" -a 2 "$ray_wheel" .gpu-wheels/part1/ray.whl.part-
mv .gpu-wheels/part1/ray.whl.part-ab .gpu-wheels/part2/
rm "$ray_wheel"
# the small wheels: into whichever part is lighter
for wheel in .gpu-wheels/all/*.whl; do
  one=$(du -sb .gpu-wheels/part1 | cut -f1); two=$(du -sb .gpu-wheels/part2 | cut -f1)
  if [ "$one" -le "$two" ]; then mv "$wheel" .gpu-wheels/part1/; else mv "$wheel" .gpu-wheels/part2/; fi
done
rmdir .gpu-wheels/all
du -sh .gpu-wheels/part1 .gpu-wheels/part2
