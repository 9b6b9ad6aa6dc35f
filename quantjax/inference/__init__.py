"""Compiled inference, portable artifacts, streaming state, real-time replay and monitoring.

- :mod:`~quantjax.inference.signature`: named inputs and flat params of an exported function;
- :mod:`~quantjax.inference.predictor`: :class:`CompiledPredictor` (AOT-compiled batch buckets,
  variants chosen by timing, batch-invariant mode);
- :mod:`~quantjax.inference.model_fn`: the functions of a checkpoint (in-process model code);
- :mod:`~quantjax.inference.export` / :mod:`~quantjax.inference.artifact`: writing and loading
  ``.qjx`` files (loading imports no model or training code);
- :mod:`~quantjax.inference.credit_scorer`: credit decisions from a credit artifact alone;
- :mod:`~quantjax.inference.symbol_streams`: per-symbol isolated tick streams (the service);
- streaming features (O(F) per tick, equal to the batch features) live in
  :mod:`~quantjax.features.streaming`;
- :mod:`~quantjax.inference.causal`: O(1)-per-tick update of the causal HFT model (packed,
  AOT-compiled, state donated);
- :mod:`~quantjax.inference.replay`: tick replay through features, model, risk engine;
- :mod:`~quantjax.inference.monitor`: the spec's alert thresholds, JSONL alerts.

Import the submodules directly (this package does not import jax eagerly).
"""
