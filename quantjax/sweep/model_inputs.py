"""Model outputs fed to strategy sweeps: pseudo-models, an HFT checkpoint or a predictions.npz.

Every source gives ``(market, probs[S, T, 3], pred_return[S, T], pred_vol[S, T])`` (class
order down/flat/up, real units, NaN = no prediction = no decision at that bar):

- ``ofi`` / ``momentum``: pseudo-model outputs built from the market (:func:`pseudo_outputs`).
- ``checkpoint``: a trained HFT run (``quantjax train hft --workdir RUN`` or a training
  sweep's ``best/``) predicts every bar of the market through
  :func:`quantjax.hft.predict.predict_market`.
- ``predictions``: the ``predictions.npz`` that ``quantjax train hft`` writes (test split:
  ``index[N, 2]`` (symbol, t_end), ``direction_probs[N, 3]``, ``pred_return[N]``,
  ``pred_vol[N]``), scattered onto the run's market.

Without ``sweep.data`` a model-driven sweep runs on the HFT run's own market (its config's
synthetic generator or data file) and, with ``backtest.period: auto``, only on bars the model
did not train or select on: the test split of the run (the bars after the train + val
fractions; for predictions.npz, its predicted span).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml

from quantjax.backtest import strategies
from quantjax.config import from_dict
from quantjax.data.market_io import load_market
from quantjax.errors import DataError, UserError
from quantjax.hft.config import HFTConfig
from quantjax.hft.dataset import load_hft_market
from quantjax.hft.predict import predict_market
from quantjax.train.checkpoint import load_for_inference

MODEL_SIGNALS = ("checkpoint", "predictions")


def log_returns(close: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.concatenate([np.full((close.shape[0], 1), np.nan),
                               np.log(close[:, 1:] / close[:, :-1])], axis=1)


def pseudo_outputs(market, signal: str, scale: float, lookback: int, halflife: float):
    """Pseudo-model outputs ``(probs[S,T,3], pred_return[S,T], pred_vol[S,T])``.

    ``x`` in [-1, 1] is the order-flow imbalance (``ofi``) or ``tanh`` of the lookback log
    return in units of EWMA vol (``momentum``), both known at t; ``probs = softmax(scale *
    [-x, 0, x])``, ``pred_return = x * vol``, ``pred_vol = vol`` = EWMA vol known at t-1.
    """
    close = market.field("close")
    vol = strategies.ewma_vol(log_returns(close), halflife)
    with np.errstate(invalid="ignore", divide="ignore"):
        if signal == "ofi":
            if not (market.has("bid_volume") and market.has("ask_volume")):
                raise UserError("backtest.signal=ofi needs bid_volume/ask_volume columns; use "
                                "--set backtest.signal=momentum for OHLCV bars")
            b, a = market.field("bid_volume"), market.field("ask_volume")
            x = (b - a) / (b + a)
        else:
            lc = np.log(close)
            mom = np.full(close.shape, np.nan)
            mom[:, lookback:] = lc[:, lookback:] - lc[:, :-lookback]
            x = np.tanh(mom / (vol * math.sqrt(lookback)))
    x0 = np.where(np.isfinite(x), x, 0.0)
    z = scale * np.stack([-x0, np.zeros_like(x0), x0], -1)
    z = np.exp(z - z.max(-1, keepdims=True))
    probs = np.where(np.isfinite(x)[..., None], z / z.sum(-1, keepdims=True), np.nan)
    return probs, x * vol, vol


def slice_time(market, a: int, b: int):
    """Bars ``a:b`` of a :class:`~quantjax.data.market.MarketArrays`."""
    return market._replace(values=market.values[:, a:b], mask=market.mask[:, a:b],
                           timestamps=market.timestamps[a:b])


def _hft_config(d: dict, where: str):
    try:
        return from_dict(HFTConfig, d)
    except Exception as e:  # noqa: BLE001 - any config problem: one line naming the file
        raise UserError(f"{where}: not the config of an HFT run ({e})") from None


def _run_market(hft_cfg, data: str | None):
    return load_hft_market(hft_cfg, data)[0]


def load_model_outputs(bsw, data: str | None):
    """``(market, probs, pred_return, pred_vol, (a, b), info)`` of a model-driven strategy
    sweep (``bsw`` = the ``backtest:`` section; ``data`` = ``sweep.data``): the full market
    and outputs; the backtest runs on bars ``a:b`` (EWMA vol is computed on the full market
    first, so it is warm at bar ``a``)."""
    if bsw.signal == "checkpoint":
        return _from_checkpoint(bsw, data)
    return _from_predictions(bsw, data)


def _from_checkpoint(bsw, data: str | None):
    run = Path(bsw.checkpoint)
    if not run.exists():
        raise UserError(f"backtest.checkpoint: run folder not found: {run}")
    _, _, _, extra = load_for_inference(run)
    hcfg = _hft_config(extra.get("config") or {}, f"backtest.checkpoint {run}")
    market = _run_market(hcfg, data)
    probs, ret, vol = predict_market(run, market)
    start = 0
    if data is None and bsw.period == "auto":
        start = int(math.floor((1.0 - hcfg.data.split[2]) * market.n_steps))
    info = {"source": "checkpoint", "path": str(run), "first_bar": start,
            "on_run_market": data is None}
    return _window(market, probs, ret, vol, start, market.n_steps, info)


def _from_predictions(bsw, data: str | None):
    path = Path(bsw.predictions)
    if not path.is_file():
        raise UserError(f"backtest.predictions: file not found: {path}")
    with np.load(path, allow_pickle=False) as z:
        need = ("index", "direction_probs", "pred_return", "pred_vol")
        missing = [k for k in need if k not in z.files]
        if missing:
            raise DataError(f"backtest.predictions {path}: missing arrays {missing} (expected "
                            "the predictions.npz of `quantjax train hft`)")
        idx = np.asarray(z["index"], np.int64).reshape(-1, 2)
        p = np.asarray(z["direction_probs"], np.float32)
        r = np.asarray(z["pred_return"], np.float32)
        v = np.asarray(z["pred_vol"], np.float32)
    if len(idx) == 0 or p.shape != (len(idx), 3) or r.shape != (len(idx),) or \
            v.shape != (len(idx),):
        raise DataError(f"backtest.predictions {path}: expected index[N, 2], "
                        f"direction_probs[N, 3], pred_return[N], pred_vol[N] with N > 0; got "
                        f"{idx.shape}, {p.shape}, {r.shape}, {v.shape}")
    cfg_path = path.parent / "config.yaml"
    if data is None and not cfg_path.is_file():
        raise UserError(f"backtest.predictions: no config.yaml beside {path} to rebuild the "
                        "run's market; set sweep.data to the market the predictions index")
    if cfg_path.is_file():
        hcfg = _hft_config(yaml.safe_load(cfg_path.read_text()) or {}, str(cfg_path))
        market = _run_market(hcfg, data)
    else:

        market = load_market(data)[0]
    S, T = market.n_symbols, market.n_steps
    bad = (idx[:, 0] < 0) | (idx[:, 0] >= S) | (idx[:, 1] < 0) | (idx[:, 1] >= T)
    if bad.any():
        s, t = idx[np.argmax(bad)]
        raise DataError(f"backtest.predictions {path}: row {int(np.argmax(bad))} indexes "
                        f"(symbol {s}, t {t}) outside the market's {S} symbols x {T} bars")
    probs = np.full((S, T, 3), np.nan, np.float32)
    ret = np.full((S, T), np.nan, np.float32)
    vol = np.full((S, T), np.nan, np.float32)
    probs[idx[:, 0], idx[:, 1]], ret[idx[:, 0], idx[:, 1]], vol[idx[:, 0], idx[:, 1]] = p, r, v
    a, b = (int(idx[:, 1].min()), int(idx[:, 1].max()) + 1) if bsw.period == "auto" else (0, T)
    info = {"source": "predictions", "path": str(path), "first_bar": a, "n_predictions": len(idx),
            "on_run_market": data is None}
    return _window(market, probs, ret, vol, a, b, info)


def _window(market, probs, ret, vol, a: int, b: int, info: dict):
    if b - a < 3:
        raise DataError(f"backtest.period: only {b - a} bars to backtest (from bar {a}); use "
                        "more data or backtest.period=all")
    info.update(n_bars=b - a, first_timestamp=int(market.timestamps[a]))
    return market, probs, ret, vol, (a, b), info
