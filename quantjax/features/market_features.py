"""``compute_features(market, cfg[, extra]) -> FeatureSet``: all symbols, host arrays, with
notes; the extra columns of ``features.extra_columns`` (:mod:`quantjax.features.extra`) come
after the built-in features."""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from quantjax.data.extra_columns import ExtraColumns
from quantjax.data.market import MarketArrays
from quantjax.errors import DataError
from quantjax.features.batch import compute_batch, dropped_features, feature_names
from quantjax.features.config import FeaturesConfig
from quantjax.features.extra import extra_features, selected
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
    market: MarketArrays, cfg: FeaturesConfig, chunk_symbols: int | None = None,
    extra: ExtraColumns | None = None,
) -> FeatureSet:
    """Compute every selected feature for every symbol (jit + vmap, ``chunk_symbols`` symbols
    per call to bound memory; None = all at once), then append the extra columns ``extra``
    (required when ``cfg.extra_columns`` selects some; their NaN policy ``cfg.extra_nan``)."""
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
    names = feature_names(cfg, has_quotes)
    notes = feature_notes(cfg, has_quotes)
    if selected(cfg):
        if extra is None:
            raise DataError("data.features.extra_columns: the market has no extra column "
                            "values (extra columns come from a --data file)")
        clash = sorted(set(extra.names) & set(names))
        if clash:
            raise DataError(f"extra column '{clash[0]}' has the name of a built-in feature; "
                            "rename the column")
        ev, eok, filled = extra_features(extra, market.mask, cfg.extra_nan, market.symbols,
                                         market.timestamps)
        values = np.concatenate([values, ev], axis=-1)
        fvalid = np.concatenate([fvalid, eok], axis=-1)
        names = names + tuple(extra.names)
        notes = notes + (f"extra columns {', '.join(extra.names) or 'none'}: NaN policy "
                         f"{cfg.extra_nan}, {filled} value(s) filled",)
    return FeatureSet(
        values=values,
        feature_valid=fvalid,
        valid=fvalid.all(axis=-1),
        names=names,
        notes=notes,
    )
