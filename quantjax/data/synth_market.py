"""Synthetic multi-symbol bar data with a planted, tunable order-flow-imbalance signal.

Per symbol ``s`` and bar ``t`` (arrays are ``[T, S]`` internally; equations in docs/data.md):

- log-vol ``h_t = phi h_{t-1} + vv sqrt(1 - phi^2) nu_t`` (stationary std ``vv``),
  ``sigma_t = sigma_bar g_t exp(h_t - vv^2)`` with the U-shaped intraday profile ``g_t``;
- latent order flow ``z_t = rho z_{t-1} + sqrt(1 - rho^2) xi_t``, ``ofi_t = tanh(c z_t)``;
- log mid return ``r_t = beta sigma_{t-1} ofi_{t-1} + sigma_t eps_t + J_t`` where ``eps`` has a
  market factor and ``J`` are compound-Bernoulli jumps; ``beta = signal_strength``;
- ``close = mid``, ``open`` = previous mid, high/low from the Brownian-bridge extremes,
  ``bid/ask = mid (1 -/+ spread/2)``, ``bid_volume/ask_volume = depth (1 +/- ofi) / 2``.

The oracle (Bayes-optimal directional accuracy) is computed by Monte Carlo from the true
conditional distribution of the future given ``(h_t, z_t)``, the bar's place in the session
schedule and the parameters; see :func:`oracle_accuracy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import quantjax
from quantjax.config.base import to_dict
from quantjax.config.data import SynthMarketConfig, freq_seconds, hhmm_seconds
from quantjax.data.market_io import iso

COLUMNS: tuple[str, ...] = (
    "timestamp", "symbol", "open", "high", "low", "close", "volume",
    "bid", "ask", "bid_volume", "ask_volume",
)
LABEL_NAMES: tuple[str, ...] = ("down", "flat", "up")
_NS = 1_000_000_000

# Independent random streams (SeedSequence.spawn order is part of the determinism contract).
_BLOCK = 16  # symbols per block of the observable computation (part of the determinism contract)
_STREAMS = ("init", "vol", "ofi", "eps", "factor", "jump", "hilo", "spread", "depth",
            "volume", "missing", "oracle")


def meta_path(path: str | Path) -> Path:
    """The metadata file written beside ``path``: ``<path>.meta.json``."""
    p = Path(path)
    return p.with_name(p.name + ".meta.json")


def symbol_names(n: int) -> tuple[str, ...]:
    """``SYM000, SYM001, ...`` (zero-padded so that sorted order = generation order)."""
    width = max(3, len(str(n - 1)))
    return tuple(f"SYM{i:0{width}d}" for i in range(n))


def schedule(cfg: SynthMarketConfig) -> tuple[np.ndarray, np.ndarray, float]:
    """Bar timestamps, intraday profile and base bar vol.

    Returns ``(timestamps[T] int64 ns UTC (bar end), g[T] float64, sigma_bar)``. ``g`` is the
    U-shaped volatility profile normalized so that ``mean(g^2) = 1`` over a session; the
    base bar vol is ``daily_vol sqrt(bar / session length)`` (``daily_vol`` for ``1D``).
    """
    bar = freq_seconds(cfg.freq)
    o = hhmm_seconds(cfg.session_open, "session_open")
    c = hhmm_seconds(cfg.session_close, "session_close")
    start = np.datetime64(cfg.start, "D")
    if cfg.freq == "1D":
        days = np.busday_offset(start, np.arange(cfg.steps), roll="forward")
        ts = days.astype("datetime64[ns]").astype(np.int64) + c * _NS
        return ts, np.ones(cfg.steps), cfg.daily_vol
    n_per = (c - o) // bar
    n_days = -(-cfg.steps // n_per)
    days = np.busday_offset(start, np.arange(n_days), roll="forward")
    day_ns = days.astype("datetime64[ns]").astype(np.int64)
    i = np.arange(n_per)
    intraday = (o + (i + 1) * bar) * np.int64(_NS)
    ts = (day_ns[:, None] + intraday[None, :]).reshape(-1)[: cfg.steps]
    tau = (i + 0.5) / n_per
    g = 1.0 + cfg.intraday_amplitude * (2.0 * tau - 1.0) ** 2
    g = g / np.sqrt(np.mean(g**2))
    g = np.tile(g, n_days)[: cfg.steps]
    return ts, g, cfg.daily_vol * np.sqrt(bar / (c - o))


def _ar1(x0: np.ndarray, coef: np.ndarray, shocks: np.ndarray) -> np.ndarray:
    """``x_t = coef x_{t-1} + shocks_t`` with ``x_0 = x0``; shocks ``[T, N]`` (row 0 unused)."""
    out = shocks
    out[0] = x0
    for t in range(1, out.shape[0]):
        out[t] += coef * out[t - 1]
    return out


def direction_labels(
    mid: np.ndarray, horizon: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """The direction label along the last axis (time).

    ``change_t = mean(mid_{t+1..t+k}) / mid_t - 1``; label ``+1`` if ``change_t > alpha``,
    ``-1`` if ``change_t < -alpha`` else ``0``. Returns ``(labels int8 [..., T], valid bool
    [..., T])``; the last ``k`` positions are invalid (label 0).
    """
    mid = np.asarray(mid, dtype=np.float64)
    k = horizon
    T = mid.shape[-1]
    labels = np.zeros(mid.shape, np.int8)
    valid = np.zeros(mid.shape, bool)
    if T <= k:
        return labels, valid
    fut = np.zeros(mid.shape[:-1] + (T - k,))
    for j in range(1, k + 1):
        fut += mid[..., j : T - k + j]
    change = fut / k / mid[..., : T - k] - 1.0
    labels[..., : T - k] = np.where(change > threshold, 1, np.where(change < -threshold, -1, 0))
    valid[..., : T - k] = True
    return labels, valid


def generate(cfg: SynthMarketConfig) -> tuple[Any, dict]:
    """Generate the long DataFrame and its metadata.

    Returns ``(df, meta)``: ``df`` has columns :data:`COLUMNS` (timestamp datetime64[ns, UTC],
    symbol str, float64 fields), sorted by (timestamp, symbol); ``meta`` is a JSON-ready dict
    with ``params`` (every config field), ``oracle_accuracy``, ``class_frequencies``,
    ``label_horizon``, ``label_threshold``, ``seed`` and ``quantjax_version``.
    """

    sim = simulate(cfg)
    T, S = sim["mid"].shape
    names = symbol_names(S)
    keep = sim["keep"]
    flat = keep.reshape(-1) if keep is not None else slice(None)
    ts = np.repeat(sim["timestamps"], S)[flat]
    codes = np.tile(np.arange(S, dtype=np.int32), T)[flat]
    cols: dict[str, Any] = {
        "timestamp": pd.DatetimeIndex(ts.view("datetime64[ns]")).tz_localize("UTC"),
        "symbol": pd.Categorical.from_codes(codes, categories=list(names)).astype("str"),
    }
    for name in COLUMNS[2:]:
        cols[name] = sim[name].reshape(-1)[flat]
    df = pd.DataFrame(cols, copy=False)

    labels, valid = direction_labels(
        np.ascontiguousarray(sim["mid"].T), cfg.label_horizon, cfg.label_threshold
    )
    oracle = oracle_accuracy(cfg, sim, labels)
    counts = np.array([np.sum((labels == v) & valid) for v in (-1, 0, 1)], dtype=np.float64)
    freqs = counts / max(counts.sum(), 1.0)
    meta = {
        "generator": "quantjax.data.synth_market",
        "quantjax_version": quantjax.__version__,
        "seed": cfg.seed,
        "params": to_dict(cfg),
        "label_horizon": cfg.label_horizon,
        "label_threshold": cfg.label_threshold,
        "label_definition": "change_t = mean(mid[t+1..t+k]) / mid[t] - 1; up if change_t > "
        "alpha, down if change_t < -alpha, else flat; mid = (bid+ask)/2 = close",
        "oracle_accuracy": oracle["accuracy"],
        "oracle_accuracy_se": oracle["se"],
        "oracle_realized_accuracy": oracle["realized"],
        "oracle_conditions_on": "latent log-vol h_t (so sigma_t), latent order flow z_t (so "
        "ofi_t), the bar's position in the session schedule and all generator parameters; "
        "not future shocks. By the Markov property this equals conditioning on the full "
        "history of all symbols up to t.",
        "oracle_method": f"Monte Carlo: {oracle['states']} states (s, t) drawn from the "
        f"generated path, {oracle['paths']} future paths each; each half of the paths "
        "chooses the most probable class and the other half scores it (cross-fitting)",
        "class_frequencies": dict(zip(LABEL_NAMES, freqs.tolist(), strict=True)),
        "majority_class_accuracy": float(freqs.max()),
        "sigma_bar": sim["sigma_bar"],
        "bar_seconds": freq_seconds(cfg.freq),
        "n_rows": len(df),
        "n_missing_bars": int(T * S - len(df)),
        "symbols": list(names),
        "start": iso(sim["timestamps"][0]),
        "end": iso(sim["timestamps"][-1]),
        "columns": list(COLUMNS),
    }
    return df, meta


def simulate(cfg: SynthMarketConfig) -> dict[str, Any]:
    """The full path: ``[T, S]`` arrays of every output column and of the latent ``h``, ``z``.

    Observables are computed in blocks of :data:`_BLOCK` symbols (bounded temporaries, fewer
    page faults); the block size is fixed, so the output depends only on the config.
    """
    T, S = cfg.steps, cfg.symbols
    ss = np.random.SeedSequence(cfg.seed)
    rng = dict(zip(_STREAMS, (np.random.default_rng(c) for c in ss.spawn(len(_STREAMS))),
                   strict=True))
    ts, g, sigma_bar = schedule(cfg)
    vv, phi, rho = cfg.vol_of_vol, cfg.vol_persistence, cfg.ofi_persistence

    # Latent states: log-vol h and order flow z, one AR(1) loop over [T, 2S].
    shocks = np.empty((T, 2 * S))
    shocks[:, :S] = rng["vol"].standard_normal((T, S)) * (vv * np.sqrt(1 - phi**2))
    shocks[:, S:] = rng["ofi"].standard_normal((T, S)) * np.sqrt(1 - rho**2)
    x0 = np.concatenate([shocks[0, :S] / np.sqrt(1 - phi**2), shocks[0, S:] / np.sqrt(1 - rho**2)])
    coef = np.concatenate([np.full(S, phi), np.full(S, rho)])
    states = _ar1(x0, coef, shocks)
    h, z = states[:, :S], states[:, S:]

    factor = rng["factor"].standard_normal((T, 1)) * np.sqrt(cfg.market_correlation)
    x_init = np.log(cfg.initial_price) + cfg.initial_price_dispersion * rng[
        "init"
    ].standard_normal(S)
    out = np.empty((len(COLUMNS) - 2, T, S))
    for s0 in range(0, S, _BLOCK):
        sl = slice(s0, min(s0 + _BLOCK, S))
        _bars(cfg, h[:, sl], z[:, sl], g, sigma_bar, factor, x_init[sl], rng, out[:, :, sl])
    keep = None
    if cfg.missing_fraction > 0:
        keep = rng["missing"].random((T, S)) >= cfg.missing_fraction
        # Never drop a whole timestamp: the loaded grid keeps all T steps.
        keep[~keep.any(axis=1), 0] = True
    cols = dict(zip(COLUMNS[2:], out, strict=True))
    return {
        **cols, "mid": cols["close"], "h": h, "z": z, "g": g, "timestamps": ts,
        "sigma_bar": float(sigma_bar), "keep": keep, "rng": rng["oracle"],
    }


def _bars(cfg: SynthMarketConfig, h: np.ndarray, z: np.ndarray, g: np.ndarray,
          sigma_bar: float, factor: np.ndarray, x_init: np.ndarray,
          rng: dict[str, np.random.Generator], out: np.ndarray) -> None:
    """Observables of one block of symbols: ``h, z [T, B]`` -> ``out [F, T, B]`` (COLUMNS[2:])."""
    T, B = h.shape
    vv = cfg.vol_of_vol
    vol_state = np.exp(h - vv**2)  # sigma_t / (sigma_bar g_t)
    sigma = vol_state * (sigma_bar * g[:, None])
    ofi = np.tanh(cfg.ofi_scale * z)

    # Returns: planted drift from the previous bar's OFI, diffusion with a market factor, jumps.
    eps = rng["eps"].standard_normal((T, B)) * np.sqrt(1 - cfg.market_correlation)
    eps += factor
    jumps = (rng["jump"].random((T, B)) < cfg.jump_prob) * rng["jump"].standard_normal((T, B))
    r = sigma * eps
    r += jumps * (cfg.jump_scale * sigma_bar)
    del jumps
    r[1:] += cfg.signal_strength * sigma[:-1] * ofi[:-1]
    x = np.cumsum(r, axis=0)
    x += x_init[None, :]
    x_prev = np.empty_like(x)
    x_prev[0] = x_init
    x_prev[1:] = x[:-1]

    # OHLC: Brownian-bridge extremes between the previous and the current log mid.
    var2 = 2.0 * sigma**2
    d2 = (x - x_prev) ** 2
    mid_sum = x + x_prev
    half_range = np.sqrt(d2 - var2 * np.log1p(-rng["hilo"].random((T, B))))
    hi = np.exp(0.5 * (mid_sum + half_range))
    half_range = np.sqrt(d2 - var2 * np.log1p(-rng["hilo"].random((T, B))))
    lo = np.exp(0.5 * (mid_sum - half_range))
    del var2, d2, mid_sum, half_range
    mid, opn = np.exp(x), np.exp(x_prev)
    o_open, o_high, o_low, o_close, o_vol, o_bid, o_ask, o_bv, o_av = out
    o_open[:] = opn
    o_close[:] = mid
    np.maximum(hi, np.maximum(mid, opn), out=o_high)
    np.minimum(lo, np.minimum(mid, opn), out=o_low)
    del hi, lo, opn

    vol_noise = np.exp(cfg.volume_noise * rng["volume"].standard_normal((T, B)))
    o_vol[:] = np.round(cfg.volume_mean * g[:, None] * vol_noise * (0.5 + 0.6 * np.abs(eps)))
    spread = cfg.spread_mean * vol_state**cfg.spread_vol_elasticity * g[:, None]
    spread *= np.exp(cfg.spread_noise * rng["spread"].standard_normal((T, B)))
    np.minimum(spread, 0.2, out=spread)
    o_bid[:] = mid * (1.0 - 0.5 * spread)
    o_ask[:] = mid * (1.0 + 0.5 * spread)
    depth = cfg.depth_mean * np.exp(cfg.depth_noise * rng["depth"].standard_normal((T, B)))
    o_bv[:] = depth * (1.0 + ofi) * 0.5
    o_av[:] = depth * (1.0 - ofi) * 0.5


def future_classes(cfg: SynthMarketConfig, sim: dict[str, Any], t_idx: np.ndarray,
                   s_idx: np.ndarray, n_paths: int, rng: np.random.Generator) -> np.ndarray:
    """``cls[m, n_paths]`` in {0 down, 1 flat, 2 up}: the label class of ``n_paths`` simulated
    futures of each state ``(s_idx[m], t_idx[m])`` (``t < T - k``), drawn from the true
    conditional distribution given ``h_t``, ``z_t``, the session schedule and the parameters
    (what :func:`oracle_accuracy` knows)."""
    k, alpha = cfg.label_horizon, cfg.label_threshold
    h_all, z_all, g = sim["h"], sim["z"], sim["g"]
    vv, phi, rho = cfg.vol_of_vol, cfg.vol_persistence, cfg.ofi_persistence
    sd_h, sd_z = vv * np.sqrt(1 - phi**2), np.sqrt(1 - rho**2)
    ti, si = np.asarray(t_idx), np.asarray(s_idx)
    m = len(ti)
    h = np.repeat(h_all[ti, si][:, None], n_paths, axis=1)
    z = np.repeat(z_all[ti, si][:, None], n_paths, axis=1)
    sig_prev = (sim["sigma_bar"] * g[ti] * np.exp(h_all[ti, si] - vv**2))[:, None]
    ofi_prev = np.tanh(cfg.ofi_scale * z)
    R = np.zeros((m, n_paths))
    fut = np.zeros((m, n_paths))
    for j in range(1, k + 1):
        h = phi * h + sd_h * rng.standard_normal(h.shape)
        z = rho * z + sd_z * rng.standard_normal(z.shape)
        sig = sim["sigma_bar"] * g[ti + j][:, None] * np.exp(h - vv**2)
        jump = (rng.random(h.shape) < cfg.jump_prob) * rng.standard_normal(h.shape)
        R += (cfg.signal_strength * sig_prev * ofi_prev + sig * rng.standard_normal(h.shape)
              + jump * (cfg.jump_scale * sim["sigma_bar"]))
        fut += np.exp(R)
        sig_prev, ofi_prev = sig, np.tanh(cfg.ofi_scale * z)
    change = fut / k - 1.0
    return np.where(change > alpha, 2, np.where(change < -alpha, 0, 1))


def row_oracle(cfg: SynthMarketConfig, s_idx: np.ndarray, t_idx: np.ndarray,
               paths: int = 1000, seed: int = 0, sim: dict[str, Any] | None = None,
               chunk_rows: int = 2000) -> dict[str, np.ndarray]:
    """The oracle on given rows ``(s_idx[N], t_idx[N])`` of the generated path (``t < T - k``),
    from ``paths`` simulated futures per row (:func:`future_classes`, its own random stream
    ``seed``; the generated data are not touched).

    Returns ``probs[N, 3]`` (the true conditional class probabilities, down/flat/up, estimated
    from all paths), ``pred[N]`` (the Bayes class, 0/1/2, argmax of ``probs``) and
    ``accuracy[N]``: the expected accuracy of the Bayes class at that state, cross-fitted like
    :func:`oracle_accuracy` (each half of the paths picks the class, the other half scores it),
    so its mean over rows is the same-rows ceiling of any model's expected accuracy."""
    sim = simulate(cfg) if sim is None else sim
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 20, int(seed)]))
    s_idx, t_idx = np.asarray(s_idx, np.int64), np.asarray(t_idx, np.int64)
    n, half = len(s_idx), max(int(paths) // 2, 1)
    probs = np.empty((n, 3))
    acc = np.empty(n)
    for lo in range(0, n, chunk_rows):
        cls = future_classes(cfg, sim, t_idx[lo:lo + chunk_rows], s_idx[lo:lo + chunk_rows],
                             2 * half, rng)
        a, b = cls[:, :half], cls[:, half:]
        count_a = np.stack([(a == c).sum(axis=1) for c in range(3)], axis=1)
        count_b = np.stack([(b == c).sum(axis=1) for c in range(3)], axis=1)
        rows = np.arange(len(cls))
        choice_a, choice_b = np.argmax(count_a, axis=1), np.argmax(count_b, axis=1)
        acc[lo:lo + len(cls)] = (count_b[rows, choice_a] + count_a[rows, choice_b]) / (2.0 * half)
        probs[lo:lo + len(cls)] = (count_a + count_b) / (2.0 * half)
    return {"probs": probs, "pred": np.argmax(probs, axis=1), "accuracy": acc}


def oracle_accuracy(
    cfg: SynthMarketConfig, sim: dict[str, Any], labels: np.ndarray | None = None
) -> dict[str, Any]:
    """Monte Carlo Bayes-optimal directional accuracy for ``(label_horizon, label_threshold)``.

    The oracle knows, at bar t: ``h_t`` (hence ``sigma_t``), ``z_t`` (hence ``ofi_t``), the
    future intraday profile ``g_{t+1..t+k}`` and every parameter; it does not know the future
    shocks (nu, xi, eps, jumps). Given that, it predicts the most probable class. ``states``
    pairs (s, t) with ``t < T - k`` are drawn uniformly from the simulated path; for each,
    ``paths`` futures are simulated; each half picks the most probable class and the other
    half scores it (cross-fitting, no selection bias). Returns the accuracy, its standard
    error over states, and the realized accuracy of those predictions against the path's
    actual labels.
    """
    rng: np.random.Generator = sim["rng"]
    k, alpha = cfg.label_horizon, cfg.label_threshold
    T, S = sim["h"].shape
    n = cfg.oracle_states
    t_idx = rng.integers(0, T - k, size=n)
    s_idx = rng.integers(0, S, size=n)
    half = max(cfg.oracle_paths // 2, 1)
    if labels is None:  # [S, T] realized labels of the path
        labels, _ = direction_labels(np.ascontiguousarray(sim["mid"].T), k, alpha)
    acc = np.empty(n)
    pred = np.empty(n, np.int64)
    chunk = max(1, 400_000 // (2 * half))
    for lo in range(0, n, chunk):
        ti, si = t_idx[lo : lo + chunk], s_idx[lo : lo + chunk]
        m = len(ti)
        cls = future_classes(cfg, sim, ti, si, 2 * half, rng)
        a, b = cls[:, :half], cls[:, half:]
        count_a = np.stack([(a == c).sum(axis=1) for c in range(3)], axis=1)
        count_b = np.stack([(b == c).sum(axis=1) for c in range(3)], axis=1)
        rows = np.arange(m)
        # Cross-fitting: each half picks the class, the other half scores it.
        choice_a, choice_b = np.argmax(count_a, axis=1), np.argmax(count_b, axis=1)
        acc[lo : lo + m] = (count_b[rows, choice_a] + count_a[rows, choice_b]) / (2.0 * half)
        pred[lo : lo + m] = np.argmax(count_a + count_b, axis=1) - 1
    realized = float(np.mean(pred == labels[s_idx, t_idx]))
    return {
        "accuracy": float(acc.mean()),
        "se": float(acc.std(ddof=1) / np.sqrt(n)),
        "realized": realized,
        "states": n,
        "paths": 2 * half,
    }
