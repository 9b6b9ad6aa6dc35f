"""One compiled call per tick: O(F) streaming features -> causal model update.

``state, (out[S, 5], ready[S]) = StreamingPredictor.step(state, tick)`` runs
:mod:`quantjax.features.streaming` (features, scaler, clip, validity) and the packed causal
update of :class:`quantjax.inference.causal.CausalStream` in ONE AOT-compiled executable with
both states donated: one dispatch and no host round trip between the two (the replay loop
calls them separately because it also serves the window model).

Semantics as in replay's causal mode: the model state is reset at a symbol's first valid row
after an invalid one (``run <= 1``; invalid rows also reset, so no invalid row reaches the
recurrent state); ``ready`` = the last L rows are valid (``run >= L``). ``out`` columns:
:data:`quantjax.inference.causal.OUTPUTS` (``p_down, p_flat, p_up, price, volatility``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from quantjax.features.streaming import FeatureState, StreamingFeatures, Tick, make_step
from quantjax.inference.causal import CausalStream, PackedState


class PredictorState(NamedTuple):
    features: FeatureState
    model: PackedState


class StreamingPredictor:
    """Fused features + causal model for S symbols (see module docstring)."""

    def __init__(self, features: StreamingFeatures, model: CausalStream):
        if model.mesh is not None:
            raise ValueError("StreamingPredictor runs on one device: build its CausalStream "
                             "without a mesh")
        self.features, self.model = features, model
        fstep = make_step(features.cfg, features.has_quotes, features.cfg.clip)
        cstep = model._fn
        L = features.seq_len

        def fused(P, mean, std, st: PredictorState, tick: Tick):
            fst, (rows, _) = fstep(st.features, tick, mean, std)
            cst, out = cstep(P, st.model, rows, fst.run <= 1)
            return PredictorState(fst, cst), (out, fst.run >= L)

        self._fn = fused
        self._compiled: dict[int, object] = {}

    def init(self, n_symbols: int) -> PredictorState:
        return PredictorState(self.features.init(n_symbols), self.model.init(n_symbols))

    def compile(self, n_symbols: int, example_tick: Tick):
        """AOT-compile the fused step for ``n_symbols`` (shapes/dtypes of ``example_tick``)."""
        if n_symbols not in self._compiled:
            args = (self.model.packed, self.features.mean, self.features.std,
                    self.init(n_symbols), example_tick)
            self._compiled[n_symbols] = (
                jax.jit(self._fn, donate_argnums=3).lower(*args).compile())
        return self._compiled[n_symbols]

    def step(self, state: PredictorState, tick: Tick):
        """``(state, (out[S, 5], ready[S]))`` on the device; ``state`` is donated."""
        S = np.shape(tick.present)[0]
        exe = self._compiled.get(S) or self.compile(S, tick)
        return exe(self.model.packed, self.features.mean, self.features.std, state, tick)


def example_tick(n_symbols: int) -> Tick:
    """A tick of the right shapes and dtypes (for :meth:`StreamingPredictor.compile`)."""
    S = n_symbols
    z = np.zeros(S, np.float32)
    return Tick(np.zeros(S, bool), np.ones((S, 5), np.float32), np.zeros((S, 5), np.float32),
                z, z, z, np.zeros(S, np.int32), z)
