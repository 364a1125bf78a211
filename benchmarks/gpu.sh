#!/usr/bin/env bash
# The CUDA runs of README "GPU": the same commands as on the CPU, on one GPU.
#
#     bash benchmarks/gpu.sh DATA OUT [PNEUMONIA_BUDGET_S] [HIPPOCAMPUS_BUDGET_S ...]
#     bash benchmarks/gpu.sh ../shared/data /tmp/gpu 120 120 300
#
# DATA holds medmnist/pneumoniamnist.npz and msd_hippocampus/ (as ../shared/data does). First a smoke check that
# fails fast (the device, a 5 s classification fit and a 1-epoch hippocampus fit through the CLI, with their
# evaluation; SMOKE=0 skips it); then, one after another, each alone on the GPU: PneumoniaMNIST's budgeted default
# plan for seeds 0, 1, 2 (benchmarks/medmnist.py) and the hippocampus default plan under each training budget
# (benchmarks/segmentation.py --budgets). One at a time because five such runs side by side on one H200 trained
# about 13x slower each (PneumoniaMNIST: 355 images/s against 4,700 alone) with the GPU busy 7% of the time.
# nvidia-smi samples the GPU's load every second. OUT gets the JSONs and logs.
set -u
DATA=${1:?DATA folder}
OUT=${2:?OUT folder}
PNEUMONIA_BUDGET=${3:-120}
shift $(( $# < 3 ? $# : 3 ))
HIPPOCAMPUS_BUDGETS=("$@")
[ ${#HIPPOCAMPUS_BUDGETS[@]} -gt 0 ] || HIPPOCAMPUS_BUDGETS=(120 300)
PYTHON=${PYTHON:-python3}
THREADS=${THREADS:-8}
RUNS=$(mktemp -d)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

"$PYTHON" - > "$OUT/gpu_device.json" <<'EOF' || exit 1
import json, platform, torch
assert torch.cuda.is_available(), "no CUDA device"
p = torch.cuda.get_device_properties(0)
print(json.dumps({"gpu": p.name, "memory_gib": round(p.total_memory / 2**30, 1), "torch": torch.__version__,
                  "cuda": torch.version.cuda, "bf16": torch.cuda.is_bf16_supported(),
                  "cpu": platform.processor() or platform.machine()}))
EOF
cat "$OUT/gpu_device.json"

smoke() {
    local started=$SECONDS
    timeout 240 "$PYTHON" -m medimg fit "$DATA/medmnist/pneumoniamnist.npz" --no-progress --threads "$THREADS" \
        --run-dir "$RUNS/smoke_classify" --set time_budget_s=5 --set ensemble_budget_max=1 || return 1
    grep -q '"device": "cuda' "$RUNS/smoke_classify/"*.json || { echo "the smoke run did not train on CUDA"; return 1; }
    timeout 240 "$PYTHON" -m medimg fit "$DATA/msd_hippocampus" --task segment --no-progress --threads "$THREADS" \
        --run-dir "$RUNS/smoke_segment" --epochs 1 || return 1
    echo "smoke: $((SECONDS - started)) s"
}
if [ "${SMOKE:-1}" = 1 ]; then
    smoke > "$OUT/smoke.log" 2>&1 || { tail -40 "$OUT/smoke.log"; exit 1; }
    tail -3 "$OUT/smoke.log"
fi

nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 > "$OUT/gpu_load.csv" 2>&1 &
SAMPLER=$!
status=0
for seed in 0 1 2; do
    "$PYTHON" benchmarks/medmnist.py --data "$DATA/medmnist" --only pneumoniamnist --configs auto --seeds "$seed" \
        --budget-s "$PNEUMONIA_BUDGET" --threads "$THREADS" --no-speed --scale-images 0 \
        --out "$OUT/medmnist_gpu_seed$seed.json" > "$OUT/medmnist_seed$seed.log" 2>&1 || status=1
    tail -3 "$OUT/medmnist_seed$seed.log"
done
for budget in "${HIPPOCAMPUS_BUDGETS[@]}"; do
    "$PYTHON" benchmarks/segmentation.py hippocampus --data "$DATA" --budgets "$budget" --seeds 0 \
        --threads "$THREADS" --runs "$RUNS/hippocampus_$budget" \
        --out "$OUT/segmentation_hippocampus_gpu_$budget.json" > "$OUT/hippocampus_$budget.log" 2>&1 || status=1
    tail -6 "$OUT/hippocampus_$budget.log"
done
kill "$SAMPLER" 2>/dev/null
exit $status
