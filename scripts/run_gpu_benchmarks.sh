#!/usr/bin/env bash
# Run the GPU benchmark set, one stage after another, each under its own time limit.
#
#   bash scripts/run_gpu_benchmarks.sh OUT_DIR [stage ...]
#
# Stages (default: all, in this order): env credit hft backtest sweep inference e2e.
# Each stage writes OUT_DIR/<stage>.json (the benchmark's one JSON object; the backtest stage
# writes backtest_u1, backtest_u8, backtest_trades and backtest_budget; e2e writes e2e_train, e2e_export,
# e2e_compare and e2e_sweep) and OUT_DIR/<stage>.err (its stderr); a stage that fails or runs
# out of time does not stop the others. Sizes are the GPU ones named in docs/benchmarks.md
# ("GPU"). Needs a Python with quantjax importable (PYTHONPATH=. is enough) and, for the torch
# comparisons, torch with CUDA.
#
# e2e (docs/gpu.md): train the spec-size HFT model on the synthetic market for as many epochs
# as E2E_TRAIN_S seconds allow (SIGINT at the limit, then --resume with train.epochs = the
# epochs done, which only evaluates: test accuracy against the generator's oracle), export it
# for cuda,cpu, check the GPU checkpoint and the artifact on the CPU against the GPU's
# predictions, and run a K=16 sweep of the same model in one program. Settings (environment):
# E2E_CONFIG (configs/hft_lstm.yaml), E2E_TRAIN_S (900), E2E_SWEEP_CONFIG
# (configs/sweep_hft_spec.yaml), E2E_SWEEP_SETS (extra --set flags of the sweep),
# E2E_EXPORT_PLATFORMS (cuda,cpu). Dry run: PYTHON=echo prints the commands; on a CPU,
# E2E_CONFIG=configs/hft_lstm_tiny.yaml E2E_TRAIN_S=60 E2E_EXPORT_PLATFORMS=cpu runs the stage
# at test size.
set -u
out=${1:?usage: run_gpu_benchmarks.sh OUT_DIR [stage ...]}
shift
mkdir -p "$out"
stages=${*:-env credit hft backtest sweep inference e2e}
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

e2e_stage() {  # the GPU path end to end (see the header)
    local cfg=${E2E_CONFIG:-configs/hft_lstm.yaml} w="$out/e2e_run" t0=$SECONDS rc epochs
    local qj=("$py" -m quantjax.cli.main)
    rm -rf "$w" "$out/e2e_sweep"
    # 1. train until done or until the time limit (SIGINT: the run closes its checkpoints)
    timeout -s INT -k 120 "${E2E_TRAIN_S:-900}" "${qj[@]}" train hft --config "$cfg" \
        --synthetic --workdir "$w" --no-progress >"$out/e2e_train.log" 2>"$out/e2e_train.err"
    rc=$?
    echo "[gpu-bench] e2e_train: rc=$rc in $((SECONDS - t0)) s" | tee -a "$out/summary.txt"
    if [ "$rc" -ne 0 ] && [ "$py" != echo ]; then  # stopped at the limit: evaluate what is done
        epochs=0
        [ -f "$w/metrics.jsonl" ] && epochs=$(wc -l <"$w/metrics.jsonl")
        if [ "$epochs" -lt 1 ]; then
            echo "[gpu-bench] e2e: no epoch finished within E2E_TRAIN_S; stage stopped" \
                | tee -a "$out/summary.txt"
            return
        fi
        run e2e_finish 900 "${qj[@]}" train hft --config "$cfg" --synthetic --workdir "$w" \
            --no-progress --resume --set "train.epochs=$epochs"
    fi
    [ -f "$w/metrics.json" ] && cp "$w/metrics.json" "$out/e2e_train.json"
    # 2. export; 3. the checkpoint and the artifact on the CPU against the GPU's predictions
    run e2e_export 300 "${qj[@]}" export --checkpoint "$w" --out "$w/hft.qjx" \
        --platforms "${E2E_EXPORT_PLATFORMS:-cuda,cpu}"
    JAX_PLATFORMS=cpu run e2e_compare 900 "$py" scripts/compare_artifact_hft.py "$w" "$w/hft.qjx"
    # 4. a K=16 sweep of the same model, one compiled program (sweep.chunk=16)
    # shellcheck disable=SC2086  # E2E_SWEEP_SETS: several --set flags
    run e2e_sweep 900 "${qj[@]}" sweep --config "${E2E_SWEEP_CONFIG:-configs/sweep_hft_spec.yaml}" \
        --workdir "$out/e2e_sweep" --no-progress --set "sweep.base_config=$cfg" \
        ${E2E_SWEEP_SETS:-}
    [ -f "$out/e2e_sweep/metrics.json" ] && cp "$out/e2e_sweep/metrics.json" "$out/e2e_sweep.json"
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
            --device-data --levels trades,equity --symbols 10000 --steps 10000 --repeat 3
        # every level at 10,000 x 100,000 in time chunks from the memory budget (half the free
        # memory, as quantjax backtest does): the trades level without running out of memory
        run backtest_budget 300 "$py" scripts/bench_backtest.py --no-vectorbt --skip-chunked \
            --device-data --levels trades,equity --symbols 10000 --steps 100000 --repeat 1 \
            --memory-budget auto ;;
    sweep)
        run sweep 110 "$py" scripts/bench_sweep.py --k 16 --config configs/hft_lstm.yaml \
            --skip-backtest --set train.epochs=1 --set train.max_steps=100 \
            --jax-cache /tmp/quantjax_bench_cache ;;
    inference)
        run inference 240 "$py" scripts/bench_inference.py ;;
    e2e)
        e2e_stage ;;
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
    keys = ("speedup", "per_s", "per_sec", "p50", "agreement", "device", "accuracy",
            "over_bayes", "diff", "wall_s", "best_trial")
    flat = {k: v for k, v in d.items() if any(s in k for s in keys) and not isinstance(v, dict)}
    for sub in ("quantjax", "torch", "bf16_inference", "symbol_steps_per_s_median", "train",
                "test", "checkpoint_vs_run", "artifact_vs_run", "artifact_vs_checkpoint",
                "best_metrics"):
        if isinstance(d.get(sub), dict):
            flat.update({f"{sub}.{k}": v for k, v in d[sub].items()
                         if any(s in k for s in keys) and not isinstance(v, dict)})
    print(f.stem, json.dumps(flat, default=str))
EOF_PY
