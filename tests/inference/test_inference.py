"""Compiled predictor, portable artifact and replay on a tiny trained HFT checkpoint."""

from __future__ import annotations

import json
import logging
import zipfile

import jax
import numpy as np
import pytest

from quantjax.config import from_dict, load
from quantjax.errors import UserError
from quantjax.features.config import FeaturesConfig
from quantjax.hft.config import HFTConfig
from quantjax.inference.artifact import load_artifact
from quantjax.inference.config import InferenceConfig
from quantjax.inference.model_fn import from_checkpoint
from quantjax.inference.model_fn import predictor as from_model_fn
from quantjax.inference.predictor import DEFAULT_BUCKETS, CompiledPredictor, buckets_for_rows

from support.hft_runs import TINY_FEATURES, slice_market, tiny_market


@pytest.fixture(scope="session")
def hft_run(tiny_hft_run, tiny_hft_data):
    """``(run folder, HFTConfig, HFTDataset)`` of the shared tiny run (conftest)."""
    return (tiny_hft_run, *tiny_hft_data)


@pytest.fixture(scope="session")
def hft_artifact(tiny_hft_artifact):
    return tiny_hft_artifact


def test_buckets_for_rows_are_the_buckets_predict_uses():
    assert DEFAULT_BUCKETS == (1, 8, 64, 512)
    cases = {1: (1,), 5: (8,), 20: (64,), 512: (512,), 530: (64, 512), 1024: (512,),
             1030: (8, 512), 1100: (512,)}
    for n, used in cases.items():
        assert buckets_for_rows(DEFAULT_BUCKETS, n) == used, n
        # CompiledPredictor.predict: chunks of the largest bucket, the last one padded
        top = max(used)
        last = n - top * ((n - 1) // top)
        assert min(b for b in used if b >= last) in used


def test_predictor_buckets_pad_and_match_apply(hft_run):
    run, cfg, ds = hft_run
    mf = from_checkpoint(run)
    pred = from_model_fn(mf, buckets=(1, 8), warmup=1, tune=False)
    L, F = mf.inputs[0].shape
    x = np.random.default_rng(0).normal(size=(11, L, F)).astype(np.float32)
    out = pred.predict(x)  # 11 > largest bucket: split into 8 + 3 (padded to 8)
    ref = jax.jit(mf.fn)(mf.params, {"x": x})
    for k in ("direction_probs", "price", "volatility"):
        assert out[k].shape[0] == 11
        np.testing.assert_allclose(out[k], np.asarray(ref[k]), atol=1e-6)
    assert pred.bucket_for(1) == 1 and pred.bucket_for(5) == 8 and pred.bucket_for(100) == 8
    # serving never compiles: the executables are fixed at load
    assert set(pred._compiled) == {1, 8}
    with pytest.raises(UserError, match="per-example shape"):
        pred.predict(np.zeros((2, L + 1, F), np.float32))


def test_large_buckets_use_the_cpu_batch_options_and_match_apply(hft_run):
    """Buckets of 64+ rows are compiled with runtime.batch_compiler_options (on CPU: XLA's
    YNNPACK fusions off); their outputs still equal apply."""
    from quantjax.platform import CPU_BATCH_OPTIONS, batch_compiler_options

    assert batch_compiler_options(8) is None
    assert batch_compiler_options(64) == (CPU_BATCH_OPTIONS if jax.default_backend() == "cpu"
                                          else None)
    mf = from_checkpoint(hft_run[0])
    pred = from_model_fn(mf, buckets=(8, 64), warmup=0, tune=False)
    L, F = mf.inputs[0].shape
    x = np.random.default_rng(2).normal(size=(40, L, F)).astype(np.float32)
    out = pred.predict(x)  # 40 rows: the 64-row bucket
    ref = jax.jit(mf.fn)(mf.params, {"x": x})
    for k in ("direction_probs", "price", "volatility"):
        np.testing.assert_allclose(out[k], np.asarray(ref[k]), rtol=1e-5, atol=1e-5)


def test_params_are_arguments_not_constants(hft_run):
    mf = from_checkpoint(hft_run[0])
    pred = CompiledPredictor(mf.fn, mf.params, mf.inputs, buckets=(1,), warmup=0)
    x = np.ones((1, *mf.inputs[0].shape), np.float32)
    a = pred.predict(x)["price"]
    pred.set_params(jax.tree.map(lambda p: p * 0.5, mf.params))
    b = pred.predict(x)["price"]
    assert not np.allclose(a, b)


def test_artifact_equals_in_process_apply(hft_run, hft_artifact):
    from quantjax.models.lstm_attention import LSTMAttentionModel
    from quantjax.train.checkpoint import load_for_inference

    model_cfg, params, _, extra = load_for_inference(hft_run[0])
    art = load_artifact(hft_artifact)
    with zipfile.ZipFile(hft_artifact) as z:
        names = set(z.namelist())
        assert names == {"manifest.json", "functions/predict.jaxexport",
                         "functions/predict@unrolled.jaxexport", "params.npz"}
        man = json.loads(z.read("manifest.json"))
    assert man["task"] == "hft" and man["functions"]["predict"]["batch"] == "b"
    assert man["functions"]["predict@unrolled"]["batch"] == 1
    assert man["platforms"] == ["cpu", "cuda"]  # exported for CUDA on a CPU-only machine
    L, F = art.inputs[0].shape
    apply = jax.jit(LSTMAttentionModel(model_cfg).apply)
    for n in (1, 37):  # symbolic batch dimension
        x = np.random.default_rng(n).normal(size=(n, L, F)).astype(np.float32)
        got = art.fn(art.params, {"x": x})
        ref = apply(params, x)
        np.testing.assert_allclose(np.asarray(got["direction_probs"]),
                                   np.asarray(jax.nn.softmax(ref["direction"], -1)), atol=1e-6)
        np.testing.assert_allclose(np.asarray(got["price"]),
                                   np.asarray(ref["price"]) * extra["price_scale"], atol=1e-6)
        np.testing.assert_allclose(np.asarray(got["volatility"]),
                                   np.asarray(ref["volatility"]) * extra["vol_scale"], atol=1e-6)
    pred = art.predictor(buckets=(1,), warmup=1)  # tuned: rolled vs unrolled at batch 1
    assert set(pred.choices[1].timings_us) >= {"rolled/default", "unrolled/default"}
    x = np.random.default_rng(9).normal(size=(3, L, F)).astype(np.float32)
    np.testing.assert_allclose(pred.predict(x)["price"],
                               np.asarray(art.fn(art.params, {"x": x})["price"]), atol=1e-6)


def test_incompatible_artifact_refused(hft_artifact, tmp_path):
    bad = tmp_path / "bad.qjx"
    with zipfile.ZipFile(hft_artifact) as zi, zipfile.ZipFile(bad, "w") as zo:
        for n in zi.namelist():
            data = zi.read(n)
            if n == "manifest.json":
                m = json.loads(data)
                m["format_version"] = 99
                data = json.dumps(m)
            zo.writestr(n, data)
    with pytest.raises(UserError, match="format_version 99"):
        load_artifact(bad)
    (tmp_path / "junk.qjx").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="unreadable artifact"):
        load_artifact(tmp_path / "junk.qjx")
    with pytest.raises(UserError, match="not found"):
        load_artifact(tmp_path / "missing.qjx")


# ----------------------------------------------------------------------------- replay
@pytest.fixture(scope="session")
def replay_setup(hft_artifact):
    from quantjax.backtest.config import BacktestConfig
    from quantjax.backtest.pipeline import risk_params

    icfg = load(InferenceConfig, "configs/inference.yaml",
                ["strategy.confidence=0.0", "strategy.vol_target=1.0", "predictor.buckets=[1,2]",
                 "predictor.warmup=1", "monitor.min_samples=10"])
    art = load_artifact(hft_artifact)
    # the shape of the shared tiny run's market (2 x 500 bars): the batch features of
    # test_replay_predictions_equal_batch reuse its compiled feature program
    market = tiny_market(2, 500, seed=3)
    risk = risk_params(load(BacktestConfig, "configs/backtest.yaml"))
    pred = art.predictor(icfg.predictor.buckets, icfg.predictor.warmup, tune=False)
    return art, icfg, market, risk, pred


def _engine(setup, tmp_path, name="alerts.jsonl"):
    from quantjax.inference.replay import ReplayEngine

    art, icfg, market, risk, pred = setup
    return ReplayEngine(art, risk, market.symbols, market.fields, icfg,
                        alerts_path=tmp_path / name, predictor=pred)


@pytest.fixture(scope="session")
def clean_replay(replay_setup, tmp_path_factory):
    from quantjax.inference.replay import replay_market

    eng = _engine(replay_setup, tmp_path_factory.mktemp("replay"))
    return replay_market(eng, replay_setup[2])


def test_replay_equals_vectorized_backtest(replay_setup, clean_replay):
    from quantjax.backtest.runner import run

    _, _, market, risk, _ = replay_setup
    res = clean_replay
    assert res.n_predictions > 0 and np.isfinite(res.signals).any()
    bt = run(risk, market, res.signals)
    for k in ("equity", "position", "order_qty", "exit_qty", "cash"):
        np.testing.assert_array_equal(res.records[k], bt.records[k], err_msg=k)
    m = res.metrics()
    assert m["trades"] == int(np.sum(bt.state.n_trades)) and m["trades"] > 0
    assert m["pnl"] == pytest.approx(float(bt.total_equity()[-1]) - bt.total_initial())
    for k in ("latency_p50_us", "latency_p95_us", "latency_p99_us", "latency_max_us",
              "predictions_per_second"):
        assert m[k] > 0
    assert 0 < m["resolved_predictions"] <= m["predictions"]
    assert 0.0 <= m["directional_accuracy"] <= 1.0


def test_replay_predictions_equal_batch(hft_run, replay_setup, clean_replay):
    from quantjax.features.market_features import compute_features
    from quantjax.features.scaler import apply_scaler
    from quantjax.features.windows import gather_windows, sample_valid

    _, cfg, ds = hft_run
    _, _, market, _, pred = replay_setup
    fcfg = from_dict(FeaturesConfig, TINY_FEATURES)
    fs = compute_features(market, fcfg)
    feats = apply_scaler(ds.scaler, fs.values, fs.valid, clip=fcfg.clip)
    L = cfg.model.sequence_length
    ok = sample_valid(fs.valid, np.ones_like(fs.valid), L) & market.mask
    idx = np.argwhere(ok).astype(np.int32)
    batch = pred.predict(np.asarray(gather_windows(feats, idx, L)))["direction_probs"]
    got = clean_replay.probs[idx[:, 0], idx[:, 1]]
    np.testing.assert_allclose(got, batch, atol=1e-4)
    no = ~ok
    assert np.isnan(clean_replay.probs[no]).all()
    # the monitor's realized labels follow the training label rule
    from quantjax.features.labels import make_labels
    from quantjax.features.prep import label_price

    lab = make_labels(label_price(market), market.mask, cfg.data.prediction_horizon,
                      cfg.data.direction_threshold)
    scored = ok & lab.label_valid
    hits = clean_replay.probs.argmax(-1)[scored] == lab.direction[scored]
    assert clean_replay.resolved == (int(scored.sum()), int(hits.sum()))


def test_bad_ticks_rejected_and_state_intact(replay_setup, clean_replay, tmp_path, caplog):
    _, _, market, _, _ = replay_setup
    eng = _engine(replay_setup, tmp_path)
    ts = market.timestamps
    s0, s1 = market.symbols
    n_bad = 0
    with caplog.at_level(logging.ERROR, logger="quantjax.replay"):
        for t in range(market.n_steps):
            for s in np.nonzero(market.mask[:, t])[0]:
                v = market.values[s, t]
                if t == 40 and s == 0:
                    bad = v.copy()
                    bad[3] = np.nan
                    assert not eng.submit(int(ts[t]), s0, bad)  # NaN
                    bad[3] = np.inf
                    assert not eng.submit(int(ts[t]), s0, bad)  # inf
                    assert not eng.submit(int(ts[t]), s0, v[:-1])  # wrong field count
                    assert not eng.submit(int(ts[t]), "NOPE", v)  # unknown symbol
                    assert not eng.submit(int(ts[t + 3]), s1, bad)  # bad tick from the future
                    n_bad += 5
                assert eng.submit(int(ts[t]), market.symbols[s], v)
                if t == 60 and s == 1:
                    assert not eng.submit(int(ts[t - 1]), s0, v)  # out of order
                    assert not eng.submit(int(ts[t]), s1, v)  # duplicate
                    n_bad += 2
        res = eng.finish()
    assert len(res.rejected) == n_bad
    reasons = " | ".join(r.reason for r in res.rejected)
    for frag in ("non-finite", "wrong field count", "unknown symbol", "out-of-order",
                 "duplicate"):
        assert frag in reasons
    assert sum("rejected tick" in r.getMessage() for r in caplog.records) == n_bad
    np.testing.assert_array_equal(res.records["equity"], clean_replay.records["equity"])
    np.testing.assert_array_equal(res.probs, clean_replay.probs)


# ----------------------------------------------------------------------------- monitor + CLI
def test_monitor_alerts_edge_triggered_jsonl(tmp_path):
    from quantjax.inference.config import MonitorConfig
    from quantjax.inference.monitor import Monitor

    cfg = MonitorConfig(window=20, min_samples=10, latency_p95_us=100.0)
    mon = Monitor(cfg, tmp_path / "alerts.jsonl", periods_per_year=252)
    ts = 1_700_000_000_000_000_000
    eq = np.concatenate([np.linspace(100, 110, 15), [103.0, 102.0, 108, 112, 118]])
    for i, e in enumerate(eq):
        mon.latency(50.0 if i < 12 else 500.0)
        mon.resolved(np.array([1, 2]), np.array([1, 0]))  # 50% accuracy
        mon.bar(ts + i, i, e)
    lines = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    by = {(a["rule"], a["level"]) for a in lines}
    assert ("drawdown", "CRITICAL") in by and ("drawdown", "INFO") in by  # fired, resolved
    assert ("accuracy", "WARNING") in by and ("latency_p95", "WARNING") in by
    dd = next(a for a in lines if a["rule"] == "drawdown")
    assert dd["action"] == "REDUCE_POSITIONS" and dd["value"] < -0.05 and dd["bar"] == 15
    acc = [a for a in lines if a["rule"] == "accuracy"]
    assert len(acc) == 1 and acc[0]["action"] == "RETRAIN_MODEL"  # edge-triggered: once
    assert set(lines[0]) == {"timestamp", "bar", "level", "rule", "value", "threshold",
                             "action", "message"}


def test_cli_export_and_replay(hft_run, tmp_path):
    from quantjax.cli.main import main
    from quantjax.data.market_io import market_to_frame, write_market

    out = tmp_path / "m.qjx"
    assert main(["export", "--checkpoint", str(hft_run[0]), "--out", str(out)]) == 0
    assert load_artifact(out).task == "hft"
    data = tmp_path / "ticks.parquet"
    write_market(market_to_frame(slice_market(tiny_market(2, 500, seed=5), 0, 60)), data)
    rd = tmp_path / "replay"
    rc = main(["replay", "--artifact", str(out), "--data", str(data), "--risk",
               "configs/backtest.yaml", "--out", str(rd), "--no-progress",
               "--set", "predictor.buckets=[1,2]", "--set", "predictor.warmup=0"])
    assert rc == 0
    m = json.loads((rd / "metrics.json").read_text())
    for k in ("latency_p50_us", "latency_p95_us", "latency_p99_us", "latency_max_us",
              "predictions_per_second", "trades", "pnl", "bars", "predictions",
              "cpu_async_dispatch"):
        assert k in m
    assert m["bars"] == 60 and m["predictions"] > 0
    assert m["cpu_async_dispatch"] is True  # JAX already started in this process: unchanged
    choice = m["predictor"]["choices"]["1"]  # the variant timed fastest here, recorded
    assert choice["variant"] in ("rolled", "unrolled") and len(choice["timings_us"]) >= 2
    assert (rd / "alerts.jsonl").exists() and (rd / "replay.parquet").exists()
    assert main(["export", "--checkpoint", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert main(["replay", "--artifact", str(tmp_path / "nope.qjx"), "--data", str(data),
                 "--out", str(rd)]) == 2


def test_cpu_async_dispatch_is_set_before_jax_starts():
    """runtime.set_cpu_async_dispatch switches JAX's option before the backend exists, and
    reports (without changing anything) once it does."""
    import subprocess
    import sys

    code = ("import jax\n"
            "from quantjax.platform import set_cpu_async_dispatch as s\n"
            "assert s(False) is False\n"
            "assert jax.config.values['jax_cpu_enable_async_dispatch'] is False\n"
            "jax.numpy.ones(2).block_until_ready()\n"
            "assert s(True) is False\n"
            "print('OK')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-2000:]


def _tiny_hft_fn():
    import dataclasses

    from quantjax.inference.model_fn import hft_fn, hft_variants
    from quantjax.inference.signature import InputSpec, flatten_params
    from quantjax.models.registry import init_hft_params

    cfg = dataclasses.replace(load(HFTConfig, "configs/hft_lstm_tiny.yaml").model,
                              sequence_length=5, num_layers=1)
    flat = flatten_params(init_hft_params(cfg, 3, jax.random.key(0)))
    return hft_fn(cfg, {}), hft_variants(cfg, {}), flat, (InputSpec("x", (5, 3), "float32"),)


def test_predictor_keeps_the_fastest_timed_variant():
    """Every candidate x option set of a bucket is compiled and timed; the fastest is kept and
    recorded (replaces the former 'unroll batch 1 on every CPU' rule)."""
    from quantjax.inference.predictor import Candidate

    fn, variants, flat, specs = _tiny_hft_fn()

    def slow(p, inputs):  # same outputs, far more work: never the fastest
        out = fn(p, inputs)
        # a rolled loop (a small program to compile) of 50,000 steps: ~2 ms a call here, 20x
        # the model's time
        x = jax.lax.fori_loop(0, 50_000, lambda _, v: jax.numpy.tanh(
            v @ jax.numpy.ones((3, 3)) * 1e-3), inputs["x"])
        return {**out, "price": out["price"] + 0.0 * x.sum((1, 2))}

    cands = [Candidate("rolled", fn), *variants, Candidate("slow", slow, (1,))]
    pred = CompiledPredictor(cands, flat, specs, buckets=(1, 4), warmup=1, tune_calls=3)
    c1 = pred.choices[1]
    assert {"rolled/default", "unrolled/default", "slow/default"} <= set(c1.timings_us)
    assert c1.variant != "slow"
    assert c1.timings_us[f"{c1.variant}/{c1.options}"] == min(c1.timings_us.values())
    assert "unrolled/default" not in pred.choices[4].timings_us  # a batch-1 variant only
    x = np.random.default_rng(0).normal(size=(3, 5, 3)).astype(np.float32)
    ref = jax.jit(fn)(flat, {"x": x})
    for n in (1, 3):
        np.testing.assert_allclose(pred.predict(x[:n])["price"], np.asarray(ref["price"])[:n],
                                   atol=1e-6)
    d = pred.describe()
    assert d["choices"]["1"]["variant"] == c1.variant and d["tuned"] is True


def test_batch_invariant_predictor_gives_the_same_bits_in_any_batch():
    fn, variants, flat, specs = _tiny_hft_fn()
    from quantjax.inference.predictor import Candidate

    pred = CompiledPredictor([Candidate("rolled", fn), *variants], flat, specs,
                             buckets=(1, 4, 16), warmup=0, tune_calls=3, batch_invariant=True)
    assert 16 in pred.buckets  # the reference bucket is always kept
    for b, why in pred.dropped.items():
        assert "bitwise" in why and b not in pred.buckets
    x = np.random.default_rng(1).normal(size=(16, 5, 3)).astype(np.float32)
    full = pred.predict(x)
    for n in (1, 3, 4, 9):
        part = pred.predict(x[:n])
        for k in full:
            np.testing.assert_array_equal(part[k], full[k][:n])


def test_artifact_written_by_a_newer_jax_or_format_is_refused(hft_artifact, tmp_path):
    def rewrite(name, **changes):
        out = tmp_path / name
        with zipfile.ZipFile(hft_artifact) as zi, zipfile.ZipFile(out, "w") as zo:
            for n in zi.namelist():
                data = zi.read(n)
                if n == "manifest.json":
                    data = json.dumps({**json.loads(data), **changes})
                zo.writestr(n, data)
        return out

    with pytest.raises(UserError, match="written by jax 99.1.0, newer than this jax"):
        load_artifact(rewrite("new.qjx", jax_version="99.1.0"))
    with pytest.raises(UserError, match="format_version 1 is not supported"):
        load_artifact(rewrite("v1.qjx", format_version=1))
    with pytest.raises(UserError, match="exported for platforms \\['tpu'\\]"):
        load_artifact(rewrite("tpu.qjx", platforms=["tpu"]))
