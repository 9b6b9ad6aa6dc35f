"""Compiled inference, portable artifacts, streaming state, real-time replay and monitoring.

- :mod:`~quantjax.inference.predictor`: :class:`CompiledPredictor` (AOT-compiled batch buckets);
- :mod:`~quantjax.inference.export`: ``export_checkpoint`` / ``load_artifact`` (``.qjx`` files);
- streaming features (O(F) per tick, equal to the batch features) live in
  :mod:`~quantjax.features.streaming`;
- :mod:`~quantjax.inference.causal`: O(1)-per-tick update of the causal HFT model (packed,
  AOT-compiled, state donated);
- :mod:`~quantjax.inference.replay`: tick replay through features, model, risk engine;
- :mod:`~quantjax.inference.monitor`: the spec's alert thresholds, JSONL alerts.

Import the submodules directly (this package does not import jax eagerly).
"""
