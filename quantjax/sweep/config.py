"""Config of ``quantjax sweep`` (``configs/sweep_hft.yaml``, ``sweep_credit.yaml``,
``sweep_backtest.yaml``).

Sections: ``sweep`` (what to sweep and how to run it), ``search`` (grid or random search
space over keys of the base config) and ``backtest`` (signal source of strategy sweeps).
The search space ``search.params`` maps a dotted key of the base config
(``train.learning_rate``, ``risk.stop_loss``...) to a list of values (grid or random choice)
or to ``{uniform: [lo, hi]}``, ``{log_uniform: [lo, hi]}``, ``{int_uniform: [lo, hi]}``,
``{choice: [...]}`` (random search). It is checked by :mod:`quantjax.sweep.space`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from quantjax.config.base import spec
from quantjax.errors import ConfigError

KINDS = ("hft", "credit", "backtest")
DEFAULT_BASE = {"hft": "configs/hft_lstm_tiny.yaml", "credit": "configs/credit_transformer_tiny.yaml",
                "backtest": "configs/backtest.yaml"}
DEFAULT_OBJECTIVE = {"hft": "val_score", "credit": "val_score", "backtest": "sharpe"}


@dataclasses.dataclass(frozen=True)
class SweepSection:
    """What is swept and how the trials are run."""

    kind: str = spec("hft", choices=KINDS, doc="hft | credit (training sweeps) | backtest")
    base_config: str | None = spec(None, doc="config of one trial (None: the kind's tiny default)")
    overrides: tuple[str, ...] = spec((), doc="--set style overrides applied to the base config")
    data: str | None = spec(None, doc="market file (hft, backtest) or credit table; None = synthetic")
    schema: str | None = spec(None, doc="credit schema YAML (credit sweeps with data)")
    objective: str = spec("", doc="metric that ranks trials ('' = val_score, or sharpe for backtest)")
    mode: str = spec("max", choices=("max", "min"), doc="maximize or minimize the objective")
    chunk: int = spec(8, ge=1, doc="training sweeps: trials per compiled program (at most the "
                      "group's trials). The results depend on it and on nothing else of the "
                      "machine: every device (of every process) runs whole chunks")
    max_parallel: int = spec(0, ge=0, doc="strategy sweeps: parameter sets per call (0 = from the "
                             "memory estimate; the results do not depend on it)")
    memory_fraction: float = spec(0.5, gt=0, le=1, doc="share of free device memory a chunk may use")
    host_chunk_mb: float = spec(512.0, gt=0, doc="backtest: max MB of equity fetched per chunk")
    shard: bool = spec(True, doc="spread chunks of trials (and symbols) over all devices")
    mesh_symbols: int = spec(0, ge=0, doc="backtest: devices on the symbol axis (0 = auto)")
    train_layout: str = spec("devices", choices=("devices", "spmd"),
                             doc="training sweeps on several devices (one or more processes): "
                             "devices = the one-device program of a chunk on every device "
                             "(bitwise identical to a one-device run); spmd = one shard_map "
                             "program over all devices (equal to float32 rounding)")

    @property
    def base_path(self) -> str:
        return self.base_config or DEFAULT_BASE[self.kind]

    @property
    def objective_name(self) -> str:
        return self.objective or DEFAULT_OBJECTIVE[self.kind]


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Grid (cartesian product of lists) or random search (``n_trials`` draws)."""

    method: str = spec("grid", choices=("grid", "random"), doc="grid | random")
    n_trials: int = spec(8, ge=1, doc="random search: number of trials")
    seed: int = spec(0, ge=0, doc="random search: sampling seed")
    params: Any = spec(default_factory=dict, doc="dotted base-config key -> values / distribution")

    def validate(self) -> None:
        if not isinstance(self.params, dict) or not self.params:
            raise ConfigError("search.params: expected a non-empty mapping of key -> values")


@dataclasses.dataclass(frozen=True)
class BacktestSweepConfig:
    """Model outputs fed to ``strategies.model_signal`` in strategy sweeps: pseudo-models from
    the market, or a trained HFT model (see :mod:`quantjax.sweep.model_inputs`)."""

    signal: str = spec("ofi", choices=("ofi", "momentum", "checkpoint", "predictions"),
                       doc="ofi: quote order-flow imbalance; momentum: vol-scaled lookback "
                       "return; checkpoint: an HFT run's best checkpoint predicts every bar; "
                       "predictions: an HFT run's predictions.npz")
    signal_scale: float = spec(4.0, gt=0, doc="probs = softmax(scale * [-x, 0, x]) of the signal x")
    checkpoint: str | None = spec(None, doc="signal=checkpoint: HFT run folder (quantjax train "
                                  "hft --workdir, or a training sweep's best/)")
    predictions: str | None = spec(None, doc="signal=predictions: predictions.npz of quantjax "
                                   "train hft (config.yaml beside it gives the market)")
    period: str = spec("auto", choices=("auto", "all"),
                       doc="model-driven sweeps on the run's own market: auto = only bars the "
                       "model did not train on (test split / predicted span); all = every bar")

    def validate(self) -> None:
        need = {"checkpoint": self.checkpoint, "predictions": self.predictions}
        if self.signal in need and not need[self.signal]:
            raise ConfigError(f"backtest.{self.signal}: required when backtest.signal="
                              f"{self.signal}")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    sweep: SweepSection = spec(default_factory=SweepSection)
    search: SearchConfig = spec(default_factory=SearchConfig)
    backtest: BacktestSweepConfig = spec(default_factory=BacktestSweepConfig)

    def validate(self) -> None:
        if self.backtest.signal in ("checkpoint", "predictions") and self.sweep.kind != "backtest":
            raise ConfigError(f"backtest.signal: {self.backtest.signal!r} needs sweep.kind: "
                              "backtest")
