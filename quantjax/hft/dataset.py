"""The HFT window dataset: standardized features, labels and leakage-safe sample indices.

- ``build_hft_dataset(market, cfg, seq_len, horizon, threshold, split) -> HFTDataset``. Memory
  is O(S*T*F): samples are ``(symbol, t_end)`` index pairs, windows are cut inside jit by
  :func:`gather_windows`.
- ``load_hft_dataset(cfg, data_path) -> (HFTDataset, info)``: the dataset of a run's
  :class:`~quantjax.hft.config.HFTConfig`, from a market file or the synthetic generator (used by
  ``quantjax train hft``, the sweeps, the HFT report and :mod:`quantjax.hft.predict`).
"""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np

from quantjax.config import from_dict
from quantjax.config.data import SynthMarketConfig
from quantjax.data.market import MarketArrays
from quantjax.data.market_io import load_market, market_from_frame
from quantjax.data.synth_market import generate, meta_path
from quantjax.errors import DataError
from quantjax.features.batch import lookbacks, max_lookback
from quantjax.features.config import FeaturesConfig
from quantjax.features.labels import make_labels
from quantjax.features.market_features import compute_features
from quantjax.features.prep import label_price
from quantjax.features.scaler import Scaler, apply_scaler, fit_scaler
from quantjax.features.splits import chronological, default_embargo
from quantjax.features.windows import sample_index, sample_valid


class HFTDataset(NamedTuple):
    """Everything the HFT trainer needs; see docs/features.md."""

    features: np.ndarray  # [S, T, F] float32, standardized with the train scaler, finite
    valid: np.ndarray  # [S, T] bool, feature validity (all features valid)
    direction: np.ndarray  # [S, T] int32 in {0=down, 1=flat, 2=up}; 0 where invalid
    future_return: np.ndarray  # [S, T] float32; 0 where invalid
    future_vol: np.ndarray  # [S, T] float32; 0 where invalid
    label_valid: np.ndarray  # [S, T] bool
    train_index: np.ndarray  # [N_train, 2] int32 (symbol, t_end)
    val_index: np.ndarray  # [N_val, 2] int32
    test_index: np.ndarray  # [N_test, 2] int32
    feature_names: tuple[str, ...]
    scaler: Scaler  # mean[F], std[F] float32
    notes: tuple[str, ...]  # e.g. features dropped for lack of quote fields
    past_return: np.ndarray  # [S, T] float32: p[t]/p[t-k]-1, persistence baseline of returns
    past_vol: np.ndarray  # [S, T] float32: sqrt(mean r[t-k+1..t]^2), persistence of vol


def build_hft_dataset(
    market: MarketArrays,
    cfg: FeaturesConfig,
    seq_len: int,
    horizon: int,
    threshold: float,
    split: tuple[float, float, float] = (0.7, 0.15, 0.15),
    embargo: int | None = None,
    chunk_symbols: int | None = 16,
    key_prefix: str = "data.features.",
) -> HFTDataset:
    """Compute features and labels, pick valid windows, split chronologically with an
    embargo (``embargo`` or ``cfg.splits.embargo`` or ``horizon + seq_len``), fit the scaler
    on the training split and standardize (clipped to ``cfg.clip``).

    ``key_prefix``: where ``cfg`` sits in the user's config, for error messages (the default
    is the ``data.features`` section of the HFT configs: ``train hft``, HFT sweeps, reports;
    ``""`` for a standalone features config)."""
    if seq_len < 1 or horizon < 1:
        raise DataError(f"seq_len and horizon must be >= 1, got {seq_len}, {horizon}")
    fs = compute_features(market, cfg, chunk_symbols=chunk_symbols)
    lab = make_labels(label_price(market), market.mask, horizon, threshold)
    ok = sample_valid(fs.valid, lab.label_valid, seq_len)
    times = np.nonzero(ok.any(axis=0))[0]
    if times.size == 0:
        lb = lookbacks(cfg, market.has_quotes)
        worst = max(lb, key=lb.get) if lb else "none"
        hint = f"{key_prefix}timeframes=[5]"
        if key_prefix == "data.features.":
            hint = f"--set {hint} (quantjax train hft; in a sweep, an entry of sweep.overrides)"
        raise DataError(
            f"no valid samples: {market.n_steps} bars per symbol, feature warm-up "
            f"{max_lookback(cfg, market.has_quotes)} bars (longest: {worst}) + seq_len "
            f"{seq_len} + horizon {horizon}; use more data or shorter feature windows, e.g. "
            f"{hint}"
        )
    if embargo is None:
        embargo = cfg.splits.embargo
    if embargo is None:
        embargo = default_embargo(horizon, seq_len)
    ranges = chronological(int(times[0]), int(times[-1]), tuple(split), int(embargo))
    train, val, test = (sample_index(ok, r) for r in ranges)
    if len(train) == 0:
        raise DataError("the training split has no valid samples; use more data")
    scaler = fit_scaler(fs.values, fs.valid, train)
    feats = apply_scaler(scaler, fs.values, fs.valid, clip=cfg.clip)
    return HFTDataset(
        features=feats,
        valid=fs.valid,
        direction=lab.direction,
        future_return=lab.future_return,
        future_vol=lab.future_vol,
        label_valid=lab.label_valid,
        train_index=train,
        val_index=val,
        test_index=test,
        feature_names=fs.names,
        scaler=scaler,
        notes=fs.notes,
        past_return=lab.past_return,
        past_vol=lab.past_vol,
    )


def bayes_from_meta(meta: dict, horizon: int, threshold: float) -> float | None:
    """The generator's oracle accuracy, only if its labels are the ones we train on."""
    if meta.get("label_horizon") == horizon and meta.get("label_threshold") == threshold:
        return meta.get("oracle_accuracy")
    return None


def features_config(cfg) -> FeaturesConfig:
    """The :class:`FeaturesConfig` of an HFTConfig's ``data.features``."""
    return from_dict(FeaturesConfig, cfg.data.features, prefix="data.features.")


def load_hft_market(cfg, data_path: str | None):
    """``(MarketArrays, info)`` from a market file or the synthetic generator (``None``).

    ``info``: ``source`` ("synthetic" or the path) and ``bayes_accuracy`` (the generator's
    oracle accuracy when the labels match, else None).
    """
    h, thr = cfg.data.prediction_horizon, cfg.data.direction_threshold
    info: dict = {}
    if data_path is None:
        sc = cfg.data.synthetic
        df, meta = generate(SynthMarketConfig(symbols=sc.symbols, steps=sc.steps, seed=sc.seed,
                                              label_horizon=h, label_threshold=thr))
        market, _ = market_from_frame(df, name="<synthetic>")
        info.update(source="synthetic", bayes_accuracy=meta["oracle_accuracy"],
                    generator_majority_accuracy=meta.get("majority_class_accuracy"))
    else:
        market, _ = load_market(data_path)
        info.update(source=str(data_path), bayes_accuracy=None)
        mp = meta_path(data_path)
        if mp.is_file():
            info["bayes_accuracy"] = bayes_from_meta(json.loads(mp.read_text()), h, thr)
    return market, info


def load_hft_dataset(cfg, data_path: str | None, log=print):
    """``(HFTDataset, info)`` from ``--data PATH`` or the synthetic generator (``None``)."""
    market, info = load_hft_market(cfg, data_path)
    log(f"building features: {market.n_symbols} symbols x {market.n_steps} bars, "
        f"fields {', '.join(market.fields)}")
    ds = build_hft_dataset(market, features_config(cfg), cfg.model.sequence_length,
                           cfg.data.prediction_horizon, cfg.data.direction_threshold,
                           split=tuple(cfg.data.split))
    info.update(n_symbols=market.n_symbols, n_steps=market.n_steps,
                n_features=int(ds.features.shape[-1]))
    return ds, info
