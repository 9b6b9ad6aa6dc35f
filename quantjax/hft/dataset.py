"""The HFT window dataset: standardized features, labels and leakage-safe sample indices.

- ``build_hft_dataset(market, cfg, seq_len, horizon, threshold, split) -> HFTDataset``. Memory
  is O(S*T*F): samples are ``(symbol, t_end)`` index pairs, windows are cut inside jit by
  :func:`gather_windows`.
- ``prepare_source(market, cfg, seq_len, horizon, threshold) -> HFTSource``: raw features,
  labels and the valid-sample mask; :func:`split_dataset` standardizes it for given train /
  val / test indices (a chronological split, or one walk-forward fold).
- ``load_hft_dataset(cfg, data_path) -> (HFTDataset, info)``: the dataset of a run's
  :class:`~quantjax.hft.config.HFTConfig`, from a market file or the synthetic generator (used by
  ``quantjax train hft``, the sweeps, the HFT report and :mod:`quantjax.hft.predict`). Cross
  timeframes that do not fit the data are switched off (:mod:`quantjax.features.warmup`);
  ``info["features"]`` holds the effective ``data.features`` mapping.
"""

from __future__ import annotations

import dataclasses
import json
from typing import NamedTuple

import numpy as np

from quantjax.config import from_dict, to_dict
from quantjax.config.data import SynthMarketConfig
from quantjax.data.extra_columns import ExtraColumns, read_extra_columns
from quantjax.data.market import MarketArrays
from quantjax.data.market_io import load_market, market_from_frame
from quantjax.data.synth_market import generate, meta_path
from quantjax.errors import DataError
from quantjax.features.batch import lookbacks, max_lookback
from quantjax.features.config import FeaturesConfig
from quantjax.features.labels import Labels, make_labels
from quantjax.features.market_features import FeatureSet, compute_features
from quantjax.features.prep import label_price
from quantjax.features.scaler import Scaler, apply_scaler, fit_scaler
from quantjax.features.splits import chronological, default_embargo
from quantjax.features.warmup import adapt_timeframes
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
    symbols: tuple[str, ...] = ()  # S symbol names (market order)
    timestamps: np.ndarray | None = None  # [T] int64 ns UTC of the bars


class HFTSource(NamedTuple):
    """A market's raw (unstandardized) features, labels and valid samples."""

    features: FeatureSet  # values [S, T, F] raw, valid [S, T]
    labels: Labels
    ok: np.ndarray  # [S, T] bool: a full valid window and a valid label end at t
    symbols: tuple[str, ...]
    timestamps: np.ndarray  # [T] int64 ns UTC


def prepare_source(market: MarketArrays, cfg: FeaturesConfig, seq_len: int, horizon: int,
                   threshold: float, chunk_symbols: int | None = 16, key_prefix: str = "data.features.",
                   extra: ExtraColumns | None = None) -> HFTSource:
    """Features and labels of ``market`` and the sample mask; a one-line DataError naming the
    longest warm-up when no sample is valid (see :func:`build_hft_dataset`)."""
    if seq_len < 1 or horizon < 1:
        raise DataError(f"seq_len and horizon must be >= 1, got {seq_len}, {horizon}")
    fs = compute_features(market, cfg, chunk_symbols=chunk_symbols, extra=extra)
    lab = make_labels(label_price(market), market.mask, horizon, threshold)
    ok = sample_valid(fs.valid, lab.label_valid, seq_len)
    if not ok.any():
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
    return HFTSource(fs, lab, ok, tuple(market.symbols), np.asarray(market.timestamps))


def split_dataset(src: HFTSource, train: np.ndarray, val: np.ndarray, test: np.ndarray,
                  clip: float | None) -> HFTDataset:
    """The :class:`HFTDataset` of ``src`` for sample indices ``[N, 2]`` (symbol, t_end) of
    the three parts; the scaler is fitted on the rows ``train`` windows read, nothing later."""
    if len(train) == 0:
        raise DataError("the training split has no valid samples; use more data")
    fs, lab = src.features, src.labels
    scaler = fit_scaler(fs.values, fs.valid, train)
    feats = apply_scaler(scaler, fs.values, fs.valid, clip=clip)
    return HFTDataset(
        features=feats, valid=fs.valid, direction=lab.direction,
        future_return=lab.future_return, future_vol=lab.future_vol,
        label_valid=lab.label_valid, train_index=train, val_index=val, test_index=test,
        feature_names=fs.names, scaler=scaler, notes=fs.notes, past_return=lab.past_return,
        past_vol=lab.past_vol, symbols=src.symbols, timestamps=src.timestamps,
    )


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
    extra: ExtraColumns | None = None,
) -> HFTDataset:
    """Compute features and labels, pick valid windows, split chronologically with an
    embargo (``embargo`` or ``cfg.splits.embargo`` or ``horizon + seq_len``), fit the scaler
    on the training split and standardize (clipped to ``cfg.clip``).

    ``key_prefix``: where ``cfg`` sits in the user's config, for error messages (the default
    is the ``data.features`` section of the HFT configs: ``train hft``, HFT sweeps, reports;
    ``""`` for a standalone features config). ``extra``: the extra columns that
    ``cfg.extra_columns`` selects."""
    src = prepare_source(market, cfg, seq_len, horizon, threshold, chunk_symbols, key_prefix,
                         extra)
    times = np.nonzero(src.ok.any(axis=0))[0]
    if embargo is None:
        embargo = cfg.splits.embargo
    if embargo is None:
        embargo = default_embargo(horizon, seq_len)
    ranges = chronological(int(times[0]), int(times[-1]), tuple(split), int(embargo))
    train, val, test = (sample_index(src.ok, r) for r in ranges)
    return split_dataset(src, train, val, test, cfg.clip)


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
                    generator_majority_accuracy=meta.get("majority_class_accuracy"),
                    synthetic_config=meta["params"])
    else:
        market, _ = load_market(data_path)
        info.update(source=str(data_path), bayes_accuracy=None)
        mp = meta_path(data_path)
        if mp.is_file():
            meta = json.loads(mp.read_text())
            info["bayes_accuracy"] = bayes_from_meta(meta, h, thr)
            if meta.get("generator") == "quantjax.data.synth_market" and "params" in meta:
                info["synthetic_config"] = meta["params"]
    return market, info


def load_extra(cfg, data_path: str | None, market: MarketArrays) -> ExtraColumns | None:
    """The extra columns ``data.features.extra_columns`` selects, read from ``data_path``
    (None when none are selected); the synthetic market has none."""
    sel = cfg.data.features.get("extra_columns", ())
    if not (sel == "all" or sel):
        return None
    if data_path is None:
        if sel == "all":
            return ExtraColumns.empty(market)
        raise DataError("data.features.extra_columns: the synthetic market has no extra "
                        "columns; use --data FILE with those columns")
    return read_extra_columns(data_path, market, sel)


def adapt_features(cfg, market: MarketArrays, log=print):
    """``(cfg, dropped)``: ``cfg`` whose ``data.features`` fits ``market`` (cross timeframes
    that do not fit are switched off, one warning line; see :mod:`quantjax.features.warmup`)."""
    fcfg, dropped, warning = adapt_timeframes(features_config(cfg), market.n_steps)
    if not dropped:
        return cfg, ()
    log(warning)
    feats = {**cfg.data.features, "timeframes": list(fcfg.timeframes),
             "groups": list(fcfg.groups)}
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, features=feats)), dropped


def load_hft_dataset(cfg, data_path: str | None, log=print):
    """``(HFTDataset, info)`` from ``--data PATH`` or the synthetic generator (``None``).

    ``info``: ``source``, ``bayes_accuracy`` (the generator's population figure),
    ``synthetic_config`` (the generator's parameters, when known), ``n_symbols``, ``n_steps``,
    ``n_features``, ``features`` (the effective ``data.features`` mapping, after the warm-up
    adapted to the data) and ``dropped_timeframes``."""
    market, info = load_hft_market(cfg, data_path)
    cfg, dropped = adapt_features(cfg, market, log)
    extra = load_extra(cfg, data_path, market)
    log(f"building features: {market.n_symbols} symbols x {market.n_steps} bars, "
        f"fields {', '.join(market.fields)}"
        + (f", extra columns {', '.join(extra.names)}" if extra is not None else ""))
    ds = build_hft_dataset(market, features_config(cfg), cfg.model.sequence_length,
                           cfg.data.prediction_horizon, cfg.data.direction_threshold,
                           split=tuple(cfg.data.split), extra=extra)
    info.update(n_symbols=market.n_symbols, n_steps=market.n_steps,
                n_features=int(ds.features.shape[-1]), features=to_dict(cfg.data.features),
                dropped_timeframes=list(dropped))
    return ds, info


def effective_config(cfg, info: dict):
    """``cfg`` with the ``data.features`` that :func:`load_hft_dataset` used (``info``)."""
    feats = info.get("features")
    if feats is None or feats == cfg.data.features:
        return cfg
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, features=dict(feats)))
