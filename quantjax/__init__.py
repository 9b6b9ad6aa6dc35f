"""quantjax: a JAX framework for quantitative modelling.

Subpackages, one per concern (see docs/architecture.md):
``config`` typed configs, ``data`` loaders and generators, ``features`` indicators,
labels, windows and splits, ``models`` Flax linen models, ``train`` the generic trainer,
``risk`` the state-passing risk engine, ``backtest`` the scan/vmap runner and metrics,
``sweep`` vmapped sweeps, ``inference`` compiled predictors and replay, ``report`` HTML.
"""

__version__ = "0.1.0"
