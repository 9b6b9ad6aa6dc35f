#!/usr/bin/env bash
# Run the GPU benchmark set, one stage after another, each under its own time limit.
#
#   bash scripts/run_gpu_benchmarks.sh OUT_DIR [stage ...]
#
# Stages (default: all, in this order): env credit hft backtest sweep inference.
# Each stage writes OUT_DIR/<stage>.json (the benchmark's one JSON object; the backtest stage
# writes backtest_u1, backtest_u8 and backtest_trades) and OUT_DIR/<stage>.err (its stderr); a stage that fails or runs out of time does not stop the
# others. Sizes are the GPU ones named in docs/benchmarks.md ("GPU"). Needs a Python with
# quantjax importable (PYTHONPATH=. is enough) and, for the torch comparisons, torch with CUDA.
set -u
out=${1:?usage: run_gpu_benchmarks.sh OUT_DIR [stage ...]}
shift
mkdir -p "$out"
stages=${*:-env credit hft backtest sweep inference}
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

run() {  # run NAME LIMIT_S CMD...
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" >"$out/$name.json" 2>"$out/$name.err"
    local rc=$?
    echo "[gpu-bench] $name: rc=$rc in $((SECONDS - t0)) s" | tee -a "$out/summary.txt"
}

for s in $stages; do
    case $s in
    env)
        { nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm \
              --format=csv 2>&1
          "$py" -c "import jax, flax, optax, orbax.checkpoint, torch, sys; \
print(sys.version.split()[0], 'jax', jax.__version__, 'flax', flax.__version__, \
'optax', optax.__version__, 'torch', torch.__version__, 'cudnn', \
torch.backends.cudnn.version(), jax.devices())" 2>&1
        } | tee "$out/env.txt" ;;
    credit)  # JAX and torch share the GPU in one process: JAX takes half of its memory
        XLA_PYTHON_CLIENT_MEM_FRACTION=0.5 run credit 80 "$py" scripts/bench_credit.py \
            --batch 8192 --bucket-rows 2048 --reps 10 ;;
    hft)
        XLA_PYTHON_CLIENT_MEM_FRACTION=0.5 run hft 130 "$py" scripts/bench_hft_model.py \
            --train-steps 100 --inference-batch 16384 --skip-unrolled --bf16 ;;
    backtest)  # 10,000 x 100,000 at unroll 1 and 8 (the `trades` level does not fit there)
        for u in 1 8; do
            run "backtest_u$u" 90 "$py" scripts/bench_backtest.py --no-vectorbt \
                --skip-chunked --device-data --levels equity,total --symbols 10000 \
                --steps 100000 --repeat 3 --unroll "$u"
        done
        run backtest_trades 60 "$py" scripts/bench_backtest.py --no-vectorbt --skip-chunked \
            --device-data --levels trades,equity --symbols 10000 --steps 10000 --repeat 3 ;;
    sweep)
        run sweep 110 "$py" scripts/bench_sweep.py --k 16 --config configs/hft_lstm.yaml \
            --skip-backtest --set train.epochs=1 --set train.max_steps=100 \
            --jax-cache /tmp/quantjax_bench_cache ;;
    inference)
        run inference 240 "$py" scripts/bench_inference.py ;;
    *)
        echo "unknown stage: $s" >&2
        exit 2 ;;
    esac
done
# the headline figures of every stage that printed its JSON
"$py" - "$out" <<'EOF_PY'
import json, pathlib, sys

for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    try:
        d = json.loads(f.read_text())
    except ValueError:
        print(f"{f.stem}: no JSON")
        continue
    keys = ("speedup", "per_s", "per_sec", "p50", "agreement", "device")
    flat = {k: v for k, v in d.items() if any(s in k for s in keys) and not isinstance(v, dict)}
    for sub in ("quantjax", "torch", "bf16_inference", "symbol_steps_per_s_median", "train"):
        if isinstance(d.get(sub), dict):
            flat.update({f"{sub}.{k}": v for k, v in d[sub].items()
                         if any(s in k for s in keys) and not isinstance(v, dict)})
    print(f.stem, json.dumps(flat, default=str))
EOF_PY
