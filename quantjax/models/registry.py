"""The model plug-in point: every model is registered here by name (``model.name`` in its
config), with its task, config dataclass and Flax module.

Adding a model means one model file (the module and its config dataclass, whose ``name``
field defaults to the registry name) and one line in :data:`MODELS`. Training, sweeps,
checkpoints, export, the compiled predictor and the reports then find it through
:func:`get`. An HFT model follows the contract of
:class:`quantjax.models.lstm_attention.LSTMAttentionModel`: ``Module(cfg).apply(params,
x[B, L, F], train=..., dropout_rate=..., unroll=...)`` returns ``price[B]``,
``direction[B, 3]`` (logits), ``volatility[B]`` and ``hidden[B, E]``; its config has at least
``name``, ``sequence_length``, ``dropout`` and ``unroll``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from quantjax.errors import ConfigError
from quantjax.models import credit, gru, lstm_attention


class ModelSpec(NamedTuple):
    """One registered model."""

    task: str  # "hft" | "credit"
    config: type  # frozen config dataclass with a ``name`` field
    module: type  # flax linen module class, built as ``module(cfg, ...)``
    streaming: bool = False  # has ``stream_init``/``stream_step`` (O(1) causal update)
    attention: bool = False  # ``apply(..., return_attention=True)`` gives attention maps


MODELS: dict[str, ModelSpec] = {
    "lstm_attention": ModelSpec("hft", lstm_attention.LSTMAttentionConfig,
                                lstm_attention.LSTMAttentionModel, streaming=True,
                                attention=True),
    "gru": ModelSpec("hft", gru.GRUConfig, gru.GRUModel),
    "credit_transformer": ModelSpec("credit", credit.CreditModelConfig, credit.CreditTransformer),
}

#: the model of a config section without ``name``, per task
DEFAULT_MODEL = {"hft": "lstm_attention", "credit": "credit_transformer"}


def names(task: str) -> list[str]:
    """Registered model names of ``task``."""
    return [n for n, s in MODELS.items() if s.task == task]


def get(name: str, task: str | None = None) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; unknown names (or another task's) are a
    :class:`ConfigError` listing the valid ones."""
    spec = MODELS.get(name)
    if spec is None or (task is not None and spec.task != task):
        valid = names(task) if task is not None else list(MODELS)
        raise ConfigError(f"model.name: unknown model {name!r}; valid: {', '.join(valid)}")
    return spec


def spec_of(cfg: Any) -> ModelSpec:
    """The :class:`ModelSpec` of a model config instance."""
    return get(cfg.name)


def model_config_selector(task: str) -> Callable[[dict], type]:
    """``select(mapping) -> config class`` for a ``model:`` section of ``task`` (the
    ``select`` of :func:`quantjax.config.base.spec`): the class registered under the
    mapping's ``name`` (default :data:`DEFAULT_MODEL`)."""

    def select(mapping: dict) -> type:
        name = mapping.get("name", DEFAULT_MODEL[task])
        if not isinstance(name, str):
            raise ConfigError(f"model.name: expected a string, got {name!r}")
        return get(name, task).config

    return select


def build(cfg: Any):
    """The HFT module of config ``cfg``: ``MODELS[cfg.name].module(cfg)``."""
    return spec_of(cfg).module(cfg)


def to_real_units(out: dict, price_scale: float, vol_scale: float) -> dict:
    """HFT model outputs (scaled targets, direction logits) -> ``direction_probs[..., 3]``,
    ``price[...]`` (future return) and ``volatility[...]`` (future vol), in that key order."""
    return {"direction_probs": jax.nn.softmax(out["direction"], -1),
            "price": out["price"] * price_scale, "volatility": out["volatility"] * vol_scale}


def init_hft_params(cfg: Any, n_features: int, key: jax.Array) -> dict:
    """Parameters of the HFT model ``cfg`` for inputs ``[B, cfg.sequence_length, n_features]``."""
    x = jnp.zeros((1, cfg.sequence_length, n_features), jnp.float32)
    return build(cfg).init(key, x)
