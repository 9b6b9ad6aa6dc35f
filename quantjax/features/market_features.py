"""``compute_features(market, cfg) -> FeatureSet``: all symbols, host arrays, with notes."""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from quantjax.data.market import MarketArrays
from quantjax.features.batch import compute_batch, dropped_features, feature_names
from quantjax.features.config import FeaturesConfig
from quantjax.features.prep import SymbolInputs, prepare


class FeatureSet(NamedTuple):
    """Raw (unstandardized) features of every symbol."""

    values: np.ndarray  # [S, T, F] float32, 0 where invalid, finite
    feature_valid: np.ndarray  # [S, T, F] bool, per-feature validity
    valid: np.ndarray  # [S, T] bool, all features valid (row usable as model input)
    names: tuple[str, ...]
    notes: tuple[str, ...]


def feature_notes(cfg: FeaturesConfig, has_quotes: bool) -> tuple[str, ...]:
    """Human-readable notes, e.g. the features dropped for lack of quote fields."""
    dropped = dropped_features(cfg, has_quotes)
    if not dropped:
        return ()
    return (
        "no quote fields (bid, ask, bid_volume, ask_volume) in the data: dropped "
        + ", ".join(dropped),
    )


def compute_features(
    market: MarketArrays, cfg: FeaturesConfig, chunk_symbols: int | None = None
) -> FeatureSet:
    """Compute every selected feature for every symbol (jit + vmap, ``chunk_symbols`` symbols
    per call to bound memory; None = all at once)."""
    has_quotes = market.has_quotes
    inputs = prepare(market)
    S = market.n_symbols
    step = S if chunk_symbols is None else max(1, int(chunk_symbols))
    vals, oks = [], []
    for s0 in range(0, S, step):
        part = SymbolInputs(*(a[s0 : s0 + step] for a in inputs))
        if part.present.shape[0] < step and s0 > 0:  # pad the last chunk: one compiled shape
            n = part.present.shape[0]
            idx = np.arange(step) % n
            part = SymbolInputs(*(a[idx] for a in part))
            v, ok = jax.device_get(compute_batch(part, cfg, has_quotes))
            v, ok = v[:n], ok[:n]
        else:
            v, ok = jax.device_get(compute_batch(part, cfg, has_quotes))
        vals.append(np.asarray(v))
        oks.append(np.asarray(ok))
    values = np.concatenate(vals)
    fvalid = np.concatenate(oks)
    return FeatureSet(
        values=values,
        feature_valid=fvalid,
        valid=fvalid.all(axis=-1),
        names=feature_names(cfg, has_quotes),
        notes=feature_notes(cfg, has_quotes),
    )
