"""Warm-up that adapts to the data: cross-timeframe features whose lookback does not fit.

The default cross timeframes ``[5, 60, 300]`` need ``tf_vol_periods * 300 = 3000`` bars of
history, which a few weeks of hourly bars do not have. :func:`adapt_timeframes` keeps a
timeframe ``m`` only if its lookback ``max(tf_momentum_periods, tf_vol_periods) * m`` is at
most ``max_warmup_fraction`` of the bars per symbol; the others are switched off (one warning
line names them). With ``adapt_warmup: false`` a timeframe that does not fit is a
:class:`DataError` naming the exact ``--set`` that fixes it.
"""

from __future__ import annotations

import dataclasses

from quantjax.errors import DataError
from quantjax.features.batch import feature_groups
from quantjax.features.config import FeaturesConfig


def timeframe_lookback(cfg: FeaturesConfig, m: int) -> int:
    """Bars of history the cross-timeframe features of multiple ``m`` read."""
    return max(cfg.tf_momentum_periods, cfg.tf_vol_periods) * int(m)


def _yaml_list(values) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def adapt_timeframes(cfg: FeaturesConfig, n_steps: int, key_prefix: str = "data.features."
                     ) -> tuple[FeaturesConfig, tuple[int, ...], str | None]:
    """``(cfg, dropped timeframes, warning line or None)`` for series of ``n_steps`` bars.

    A timeframe fits if its lookback (:func:`timeframe_lookback`) is at most
    ``cfg.max_warmup_fraction * n_steps``. Those that do not fit are removed (the
    ``cross_timeframe`` group too when none is left) if ``cfg.adapt_warmup``; otherwise a
    DataError names the ``--set`` that keeps only the fitting ones."""
    if "cross_timeframe" not in cfg.groups or not cfg.timeframes:
        return cfg, (), None
    budget = cfg.max_warmup_fraction * n_steps
    keep = tuple(m for m in cfg.timeframes if timeframe_lookback(cfg, m) <= budget)
    dropped = tuple(m for m in cfg.timeframes if m not in keep)
    if not dropped:
        return cfg, (), None
    names = ", ".join(f"momentum_tf{m}/volatility_tf{m} ({timeframe_lookback(cfg, m)} bars)"
                      for m in dropped)
    if keep:
        fix = f"--set {key_prefix}timeframes={_yaml_list(keep)}"
        new = dataclasses.replace(cfg, timeframes=keep)
    else:
        groups = tuple(g for g in cfg.groups if g != "cross_timeframe")
        fix = f"--set {key_prefix}groups={_yaml_list(groups)}"
        new = dataclasses.replace(cfg, groups=groups)
    if not cfg.adapt_warmup:
        raise DataError(
            f"the cross-timeframe features {names} need more history than "
            f"{key_prefix}max_warmup_fraction={cfg.max_warmup_fraction:g} of the {n_steps} bars "
            f"per symbol; use {fix} (or --set {key_prefix}adapt_warmup=true)")
    warning = (f"warning: {n_steps} bars per symbol: switched off the cross-timeframe "
               f"features {names} (lookback > {key_prefix}max_warmup_fraction="
               f"{cfg.max_warmup_fraction:g} of the bars); set it yourself with {fix}")
    return new, dropped, warning


def restrict_to_names(cfg: FeaturesConfig, names: tuple[str, ...],
                      has_quotes: bool) -> FeaturesConfig:
    """``cfg`` without the cross timeframes whose features are absent from ``names`` (the
    feature names a model was trained on, after :func:`adapt_timeframes`)."""
    groups = feature_groups(cfg, has_quotes)
    if "cross_timeframe" not in groups:
        return cfg
    have = set(names)
    keep = tuple(m for m in cfg.timeframes if f"momentum_tf{m}" in have)
    if keep == tuple(cfg.timeframes):
        return cfg
    if keep:
        return dataclasses.replace(cfg, timeframes=keep)
    return dataclasses.replace(cfg, groups=tuple(g for g in cfg.groups if g != "cross_timeframe"))
