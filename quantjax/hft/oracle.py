"""The synthetic market's oracle on exactly the evaluated rows (``test.bayes_accuracy``).

The generator's ``oracle_accuracy`` is a population figure (random states of the whole path),
while a model is scored on its test rows; a ceiling must be computed on those rows. For a run
on synthetic data (``--synthetic``, or a ``--data`` file with the generator's ``.meta.json``
whose prices are the generator's), :func:`same_rows_oracle` re-simulates the latent path from
the generator config and returns ``oracle(index[N, 2]) -> {probs, pred, accuracy}``
(:func:`quantjax.data.synth_market.row_oracle`) for the label horizon and threshold of the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from quantjax.config import from_dict
from quantjax.config.data import SynthMarketConfig
from quantjax.data.market import MarketArrays
from quantjax.data.synth_market import row_oracle, simulate

RowOracle = Callable[[np.ndarray], dict]


def same_rows_oracle(generator: dict | None, market: MarketArrays | None, horizon: int,
                     threshold: float, paths: int, seed: int = 0
                     ) -> tuple[RowOracle | None, str | None]:
    """``(oracle, None)`` or ``(None, reason)``.

    ``generator``: the generator config mapping (``info["synthetic_config"]`` of
    :func:`quantjax.hft.dataset.load_hft_market`); a ``market`` read from a file must be that
    generator's path (same symbols and bars, closes equal to 1e-9), else no oracle (None: the
    market was generated from ``generator`` in this process). ``oracle(index[N, 2])``
    (symbol, t_end) returns ``probs[N, 3]``, ``pred[N]`` and ``accuracy[N]`` (the expected
    accuracy of the Bayes class at each row) for labels of ``horizon`` and ``threshold``."""
    if generator is None:
        return None, "not synthetic data (no generator config)"
    cfg = dataclasses.replace(from_dict(SynthMarketConfig, generator), label_horizon=int(horizon),
                              label_threshold=float(threshold))
    sim = simulate(cfg)
    close = np.asarray(sim["close"]).T  # [S, T]
    if market is None:
        pass
    elif close.shape != (market.n_symbols, market.n_steps):
        return None, (f"the market ({market.n_symbols} x {market.n_steps}) is not the "
                      f"generator's path ({close.shape[0]} x {close.shape[1]})")
    elif not np.allclose(market.field("close")[market.mask], close[market.mask], rtol=1e-9,
                         atol=0.0):
        return None, "the market's closes differ from the generator's path"

    def oracle(index: np.ndarray) -> dict:
        index = np.asarray(index, np.int64).reshape(-1, 2)
        return row_oracle(cfg, index[:, 0], index[:, 1], paths=paths, seed=seed, sim=sim)

    return oracle, None
