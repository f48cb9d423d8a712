#!/usr/bin/env bash
# The GPU check of issue 37, ready for the first session lent a GPU (the `device` tool): <= 5 minutes
# on one GPU, figures under $OUT. Run from the project's root:
#
#   bash benchmarks/gpu_check.sh                 # on the device: tier 1 (~2 min), and tier 2 when Ray is there
#   TIERS=2 bash benchmarks/gpu_check.sh         # the second call, with the second wheel part: tier 2 (<= 5 min)
#   DEVICE=cpu IMAGES=2048 ROWS=20000 N=2000 RUN_OPTIONS="--epochs 1 --limit 2000 --classifier-epochs 1 --min-confidence 0" \
#     bash benchmarks/gpu_check.sh              # the dry run on a CPU box (tiny tier 2)
#
# Tier 1 (benchmarks/gpu_check.py): the pure-PyTorch parts of every stage on the device, no Ray.
# Tier 2: `augment run --n $N --gpu` end to end, with Ray. The device image has no Ray and reaches no
# registry, and one call carries at most 64 MiB: make the wheels here with
# `bash benchmarks/gpu_wheels.sh` (Ray's cp312 wheel split in two parts, plus the small wheels the
# image lacks), carry `.gpu-wheels/part1` on a first call and `.gpu-wheels/part2` on a second call
# to the warm machine; this script installs them when it finds both. MNIST: carry
# `.gpu-data/MNIST/raw/*.gz` (11 MiB) and it is used; otherwise tier 1 uses random pixels.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-check-out}"
DEVICE="${DEVICE:-cuda}"
mkdir -p "$OUT"
{ nvidia-smi; python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } > "$OUT/environment.txt" 2>&1

if ls .gpu-data/MNIST/raw/*.gz >/dev/null 2>&1; then
  for gz in .gpu-data/MNIST/raw/*.gz; do [ -f "${gz%.gz}" ] || gunzip -k "$gz"; done
  export AUGMENT_DATA_ROOT="$PWD/.gpu-data"
fi

TIERS="${TIERS:-1 2}"  # the second device call (the one carrying .gpu-wheels/part2) can pass TIERS=2
if [[ " $TIERS " == *" 1 "* ]]; then
  echo "== tier 1: pure PyTorch on $DEVICE"
  timeout 200 python benchmarks/gpu_check.py --out "$OUT" --device "$DEVICE" --images "${IMAGES:-60000}" \
    --rows "${ROWS:-1000000}" 2>&1 | tee "$OUT/tier1.log"
fi
[[ " $TIERS " == *" 2 "* ]] || exit 0

if ! python -c "import ray" 2>/dev/null && [ -d .gpu-wheels/part1 ] && [ -d .gpu-wheels/part2 ]; then
  echo "== installing Ray from the carried wheels"
  cat .gpu-wheels/part1/ray.whl.part-* .gpu-wheels/part2/ray.whl.part-* > "/tmp/$(cat .gpu-wheels/part1/ray.whl.name)"
  python -m pip install --no-index --find-links .gpu-wheels/part1 --find-links .gpu-wheels/part2 \
    "/tmp/$(cat .gpu-wheels/part1/ray.whl.name)[train,data]" > "$OUT/ray-install.log" 2>&1 || tail -5 "$OUT/ray-install.log"
fi
if ! python -c "import ray" 2>/dev/null; then
  echo "== tier 2 skipped: no Ray here (carry the wheels: see the top of this script)"
  exit 0
fi
if [ -z "${AUGMENT_DATA_ROOT:-}" ]; then
  echo "== tier 2 skipped: no MNIST (carry .gpu-data/MNIST/raw/*.gz)"
  exit 0
fi

echo "== tier 2: augment run --n ${N:-1000000} on $DEVICE, Ray $(python -c 'import ray; print(ray.__version__)')"
gpu_flag=()
[ "$DEVICE" = cuda ] && gpu_flag=(--gpu)
started=$(date +%s)
timeout 330 python -m augment run --n "${N:-1000000}" "${gpu_flag[@]}" ${RUN_OPTIONS:-} --out "$OUT/run" --offline 2>&1 | tee "$OUT/tier2.log"
echo "tier 2 wall: $(( $(date +%s) - started )) s (target: <= 300 s for 1,000,000 rows on one GPU)" | tee -a "$OUT/tier2.log"
