"""Sweeps on 8 forced CPU devices give the same results as on one device (training and
backtest), run in a subprocess with XLA_FLAGS=--xla_force_host_platform_device_count=8: the
training sweep's chunk is declared by the config (sweep.chunk), so the trial table is bitwise
the same on any device count. (2 devices and 2 processes: tests/distributed.) Also: a
vmapped training sweep equals K separate runs of the trainer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from support.paths import ROOT
from support.toy_sweep import TOY_BASE, TOY_PARAMS, toy_kind

BT_PARAMS = {"strategy.confidence": [0.4, 0.6, 0.8], "risk.stop_loss": 0.002,
             "risk.fee_rate": [0.0, 0.0005]}
#: trials per compiled training program: 12 trials per group -> 2 chunks
TRAIN_CHUNK = 6
BT_OVERRIDES = ["synthetic.symbols=3", "synthetic.steps=300", "risk.max_drawdown=0.0"]


def _sweep_cfg(kind: str, base: str | None, params: dict, overrides=(), shard=True,
               chunk=2, layout="devices"):
    from quantjax.config import from_dict
    from quantjax.sweep.config import SweepConfig

    return from_dict(SweepConfig, {
        "sweep": {"kind": kind, "base_config": base, "overrides": list(overrides),
                  "shard": shard, "chunk": chunk, "train_layout": layout},
        "search": {"method": "grid", "params": params}})


def run_both(tmp: Path) -> dict:
    """Training (toy) and backtest sweeps on all devices and on one device."""
    import jax

    from quantjax.sweep.backtest_sweep import run_backtest_sweep
    from quantjax.sweep.space import make_trials
    from quantjax.sweep.train_sweep import run_train_sweep

    base = tmp / "toy.yaml"
    base.write_text(TOY_BASE)
    out: dict = {"n_devices": len(jax.devices())}
    for shard, layout in ((True, "devices"), (False, "devices"), (True, "spmd")):
        # the same declared chunk (6 trials per program) in every layout: 2 chunks per
        # group, so the "devices" layout runs (and compiles: on CPU an executable belongs to
        # its device) the chunk program on 2 of the 8 devices
        cfg = _sweep_cfg("hft", str(base), TOY_PARAMS, shard=shard, chunk=TRAIN_CHUNK,
                         layout=layout)
        res = run_train_sweep(cfg, make_trials(cfg.search), kind=toy_kind(), log=lambda s: None)
        params = jax.tree.map(lambda a: np.asarray(a).tolist(), res["best"]["state"].params)
        name = f"train_{shard}" + ("_spmd" if layout == "spmd" else "")
        out[name] = {"rows": res["rows"], "best": res["best"]["index"],
                     "params": params, "groups": res["groups"]}
        if layout == "spmd":
            continue
        cfg = _sweep_cfg("backtest", None, BT_PARAMS, BT_OVERRIDES, shard=shard)
        res = run_backtest_sweep(cfg, make_trials(cfg.search), log=lambda s: None)
        out[f"bt_{shard}"] = {"rows": res["rows"], "dsr": res["dsr"], "groups": res["groups"]}
    return out


def test_sharded_sweeps_match_single_device(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]))
    res = subprocess.run([sys.executable, __file__, str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["n_devices"] == 8
    # backtest: every book is computed elementwise, so the results are bit-identical
    assert out["bt_True"]["rows"] == out["bt_False"]["rows"]
    assert out["bt_True"]["dsr"] == out["bt_False"]["dsr"]
    # training, layout "devices": every device runs the one-device executable of a chunk of
    # sweep.chunk=6 trials, the very program of the single-device run: bitwise identical
    a, b = out["train_True"], out["train_False"]
    assert a["best"] == b["best"]
    assert len(a["rows"]) == len(b["rows"]) == 24
    assert a["rows"] == b["rows"]
    assert a["params"] == b["params"]
    # layout "spmd" (one shard_map program over the mesh, the multi-host path): XLA compiles
    # the partitioned module differently (fusion, loop-carry layout), last-ulp differences
    c = out["train_True_spmd"]
    assert c["best"] == b["best"]
    for rc, rb in zip(c["rows"], b["rows"], strict=True):
        assert rc.keys() == rb.keys()
        for k in rc:
            if isinstance(rc[k], float):
                np.testing.assert_allclose(rc[k], rb[k], rtol=1e-5, err_msg=k)
            else:
                assert rc[k] == rb[k], k
    assert [g["layout"] for g in a["groups"]] == ["devices"] * 2
    assert [g["layout"] for g in c["groups"]] == ["spmd"] * 2
    # the backtest mesh used both axes (6 trials -> 4 trial devices x 2 symbol devices)
    assert out["bt_True"]["groups"][0]["mesh"] == [4, 2]
    assert out["train_True"]["groups"][0]["devices"] == 8
    assert [g["chunk"] for g in a["groups"]] == [g["chunk"] for g in b["groups"]] == [6, 6]
    assert [g["n_chunks"] for g in a["groups"]] == [2, 2]  # a round of 2 devices per group
    assert len(out["train_True"]["groups"]) == 2  # model.hidden is shape-changing


def test_vmapped_sweep_equals_separate_runs(tmp_path):
    import jax

    from quantjax.sweep.space import make_trials
    from quantjax.sweep.train_sweep import resolve_trials, run_train_sweep
    from quantjax.train.trainer import make_train

    base = tmp_path / "toy.yaml"
    base.write_text(TOY_BASE)
    params = {"train.learning_rate": [0.01, 0.1], "train.seed": [0, 1]}
    cfg = _sweep_cfg("hft", str(base), params, shard=False)
    trials = make_trials(cfg.search)
    kind = toy_kind()
    res = run_train_sweep(cfg, trials, kind=kind, log=lambda s: None)
    cfgs = resolve_trials(kind, str(base), (), trials)
    prep = kind.prepare(cfgs[0], cfg.sweep, {})
    train = jax.jit(make_train(prep.task, cfgs[0].train))
    for i, c in enumerate(cfgs):
        state, hist, best = train(prep.hparams(c), prep.data)
        row = res["rows"][i]
        np.testing.assert_allclose(row["val_score"], float(best["score"]), rtol=1e-5)
        assert row["best_epoch"] == int(best["epoch"])
        assert row["steps"] == int(state.step)
    best = res["best"]["index"]
    state, _, _ = train(prep.hparams(cfgs[best]), prep.data)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(res["best"]["state"].params),
                    strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


if __name__ == "__main__":
    # the compilation cache: the suite's, from the environment (tests/conftest.py)
    tmp = Path(sys.argv[1])
    result = run_both(tmp)
    (tmp / "out.json").write_text(json.dumps(result, default=float))
