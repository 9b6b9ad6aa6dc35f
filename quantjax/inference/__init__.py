"""Compiled inference, portable artifacts, streaming state, real-time replay and monitoring.

- :mod:`~quantjax.inference.predictor`: :class:`CompiledPredictor` (AOT-compiled batch buckets);
- :mod:`~quantjax.inference.export`: ``export_checkpoint`` / ``load_artifact`` (``.qjx`` files);
- :mod:`~quantjax.inference.stream`: O(F) streaming features equal to the batch features
  (per-symbol update in :mod:`~quantjax.inference.stream_features`; the former O(W F)
  recompute in :mod:`~quantjax.inference.stream_window`);
- :mod:`~quantjax.inference.causal`: O(1)-per-tick update of the causal HFT model (packed,
  AOT-compiled, state donated);
- :mod:`~quantjax.inference.replay`: tick replay through features, model, risk engine;
- :mod:`~quantjax.inference.monitor`: the spec's alert thresholds, JSONL alerts.

Import the submodules directly (this package does not import jax eagerly).
"""
