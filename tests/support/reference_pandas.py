"""The pandas reference implementation (test oracle and benchmark baseline).

It follows the spec's ``engineer_hft_features`` and ``calculate_technical_indicators`` line by
line, in float64, with these documented differences:

- no ``fillna(0)``: warm-up and missing values stay NaN (quantjax reports them as invalid);
- a missing bar (a NaN row on the time grid) has no features: its whole row is NaN;
- ``volatility_regime`` is NaN where the rolling quantile is NaN (the spec's comparison turns
  the warm-up into 0);
- window lengths come from :class:`FeaturesConfig`; cross-timeframe features are defined on
  multiples m of the base bar (the spec reads other-timeframe buffers):
  ``momentum_tf{m} = close.pct_change(n_mom * m)``, ``volatility_tf{m}`` = std (ddof=1) of the
  last ``n_vol`` m-bar returns ``close.pct_change(m)`` sampled every m bars;
- ``rsi``: a missing price change stays NaN (the spec's ``where`` turns it into a 0 gain);
- ``trend_strength`` uses ``rolling.apply(raw=True)`` (same values, faster than raw=False).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantjax.data.market import MarketArrays
from quantjax.features.config import FeaturesConfig


def symbol_frame(market: MarketArrays, s: int) -> pd.DataFrame:
    """One symbol on the full time grid (DatetimeIndex, UTC), NaN rows for missing bars."""
    idx = pd.DatetimeIndex(np.asarray(market.timestamps).view("datetime64[ns]"), tz="UTC")
    return pd.DataFrame(
        {f: market.values[s, :, i] for i, f in enumerate(market.fields)}, index=idx
    )


def _corr_with_time(x: np.ndarray) -> float:
    return np.corrcoef(np.arange(len(x)), x)[0, 1]


def reference_features(data: pd.DataFrame, cfg: FeaturesConfig) -> pd.DataFrame:
    """All features of one symbol (columns named as :func:`feature_names`)."""
    g = set(cfg.groups)
    has_quotes = all(c in data for c in ("bid", "ask", "bid_volume", "ask_volume"))
    f = pd.DataFrame(index=data.index)
    close = data["close"]
    returns = close.pct_change()
    ref = cfg.vol_ref_window
    vol = {w: returns.rolling(w).std() for w in {*cfg.vol_windows, ref}}
    if "returns" in g:
        f["returns"] = returns
        f["log_returns"] = np.log(close / close.shift(1))
        f["price_acceleration"] = returns.diff()
    if "volatility" in g:
        for w in cfg.vol_windows:
            f[f"volatility_{w}"] = vol[w]
        for w in cfg.vol_windows:
            f[f"volatility_ratio_{w}"] = vol[w] / vol[ref].shift(1)
    if "microstructure" in g and has_quotes:
        f["bid_ask_spread"] = (data["ask"] - data["bid"]) / close
        f["mid_price"] = (data["bid"] + data["ask"]) / 2
        f["price_to_mid"] = close / f["mid_price"]
        depth = data["bid_volume"] + data["ask_volume"]
        f["order_flow_imbalance"] = (data["bid_volume"] - data["ask_volume"]) / depth
        f["liquidity_ratio"] = data["volume"] / depth
    if "volume" in g:
        W = cfg.vwap_window
        f["vwap"] = (close * data["volume"]).rolling(W).sum() / data["volume"].rolling(W).sum()
        f["price_to_vwap"] = close / f["vwap"]
        f["volume_intensity"] = data["volume"] / data["volume"].rolling(cfg.volume_window).mean()
    if "time" in g:
        f["hour"] = data.index.hour
        f["minute"] = data.index.minute
        f["second"] = data.index.second
        f["time_since_open"] = (data.index - data.index.normalize()).total_seconds() / 3600
    if "regime" in g:
        q = vol[ref].rolling(cfg.regime_window).quantile(cfg.regime_quantile)
        f["volatility_regime"] = (vol[ref] > q).astype(float).where(q.notna())
    if "trend" in g:
        f["trend_strength"] = close.rolling(cfg.trend_window).apply(_corr_with_time, raw=True)
    if "cross_timeframe" in g:
        phase = np.arange(len(close))
        for m in cfg.timeframes:
            f[f"momentum_tf{m}"] = close.pct_change(cfg.tf_momentum_periods * m)
            rm = close.pct_change(m)
            f[f"volatility_tf{m}"] = rm.groupby(phase % m).transform(
                lambda s: s.rolling(cfg.tf_vol_periods).std()
            )
    if "lags" in g:
        for lag in cfg.lags:
            f[f"returns_lag_{lag}"] = returns.shift(lag)
            f[f"volatility_lag_{lag}"] = vol[ref].shift(lag)
    if "rolling_stats" in g:
        for w in cfg.stat_windows:
            roll = returns.rolling(w)
            f[f"returns_mean_{w}"] = roll.mean()
            f[f"returns_std_{w}"] = roll.std()
            f[f"returns_skew_{w}"] = roll.skew()
            f[f"returns_kurt_{w}"] = roll.kurt()
    if "rsi" in g:
        delta = close.diff()
        gain = delta.where(delta > 0, 0).where(delta.notna())  # the spec turns NaN into 0
        loss = -delta.where(delta < 0, 0).where(delta.notna())
        rs = gain.rolling(cfg.rsi_window).mean() / loss.rolling(cfg.rsi_window).mean()
        f["rsi"] = 100 - (100 / (1 + rs))
    if "macd" in g:
        exp1 = close.ewm(span=cfg.macd_fast).mean()
        exp2 = close.ewm(span=cfg.macd_slow).mean()
        f["macd"] = exp1 - exp2
        f["macd_signal"] = f["macd"].ewm(span=cfg.macd_signal).mean()
        f["macd_histogram"] = f["macd"] - f["macd_signal"]
    if "bollinger" in g:
        bb_mean = close.rolling(cfg.bb_window).mean()
        bb_std = close.rolling(cfg.bb_window).std()
        f["bb_upper"] = bb_mean + cfg.bb_width * bb_std
        f["bb_lower"] = bb_mean - cfg.bb_width * bb_std
        f["bb_position"] = (close - f["bb_lower"]) / (f["bb_upper"] - f["bb_lower"])
    if "stochastic" in g:
        lowest_low = data["low"].rolling(cfg.stoch_window).min()
        highest_high = data["high"].rolling(cfg.stoch_window).max()
        f["stoch_k"] = 100 * (close - lowest_low) / (highest_high - lowest_low)
        f["stoch_d"] = f["stoch_k"].rolling(cfg.stoch_smooth).mean()
    if "atr" in g:
        high_low = data["high"] - data["low"]
        high_close = np.abs(data["high"] - close.shift())
        low_close = np.abs(data["low"] - close.shift())
        true_range = np.maximum(high_low, np.maximum(high_close, low_close))
        f["atr"] = true_range.rolling(cfg.atr_window).mean()
    f = f.astype(float)
    f[close.isna().to_numpy()] = np.nan
    return f
