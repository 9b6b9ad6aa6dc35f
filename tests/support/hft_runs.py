"""The tiny HFT run the tests share: config, synthetic market helpers and the trainer call.

``train_tiny_run(workdir)`` is ``quantjax train hft`` (through :func:`quantjax.hft.run.
train_hft_run`: config.yaml, checkpoints, metrics.json, predictions.npz, attention samples) on a
2-symbol x 500-bar synthetic market with small feature windows, 6 optimizer steps. The conftest
fixture ``tiny_hft_run`` trains it once per test session and every test reads it.
"""

from __future__ import annotations

from quantjax.config.data import SynthMarketConfig
from quantjax.data.market_io import market_from_frame
from quantjax.data.synth_market import generate
from quantjax.hft.run import train_hft_run

from support.paths import CONFIGS

# small feature windows so a 2-symbol x 500-bar synthetic market trains in seconds
TINY_FEATURES = dict(timeframes=[2, 5], regime_window=20, stat_windows=[10], volume_window=20,
                     groups=["returns", "volatility", "microstructure", "volume", "trend",
                             "rsi", "macd", "bollinger", "atr"])
OVERRIDES = [
    "data.synthetic.symbols=2", "data.synthetic.steps=500", "train.max_steps=6",
    "train.epochs=1", "train.steps_per_call=3", "train.async_checkpoints=false",
    "train.eval_batch_size=64", "model.sequence_length=8", "train.batch_size=16",
    "model.attention_heads=2",
]
TINY_CONFIG = CONFIGS / "hft_lstm_tiny.yaml"


def feature_overrides(features: dict = TINY_FEATURES) -> list[str]:
    """``--set data.features.<key>=<value>`` entries of a features mapping."""
    def yaml_value(v):
        return "[" + ", ".join(map(str, v)) + "]" if isinstance(v, list) else str(v)

    return [f"data.features.{k}={yaml_value(v)}" for k, v in features.items()]


def tiny_overrides(causal: bool = False) -> list[str]:
    return OVERRIDES + feature_overrides() + [f"model.causal={str(causal).lower()}"]


def train_tiny_run(workdir, causal: bool = False) -> dict:
    """Train the tiny run into ``workdir``; returns its metrics.json mapping."""
    return train_hft_run(str(TINY_CONFIG), workdir, overrides=tiny_overrides(causal),
                         progress=False, log=lambda *a, **k: None)


def tiny_market(symbols=2, steps=500, seed=0):
    """A synthetic market (MarketArrays) of ``symbols`` x ``steps`` bars."""
    df, _ = generate(SynthMarketConfig(symbols=symbols, steps=steps, seed=seed))
    return market_from_frame(df)[0]


def slice_market(market, t0, t1):
    """Bars ``[t0, t1)`` of a MarketArrays."""
    return market._replace(values=market.values[:, t0:t1], mask=market.mask[:, t0:t1],
                           timestamps=market.timestamps[t0:t1])
