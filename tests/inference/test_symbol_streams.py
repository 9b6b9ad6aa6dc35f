"""Per-symbol isolated streams (the service's ticks): a symbol's answers do not depend on the
other symbols' ticks, equal the fused streaming predictor of that symbol alone, and a refused
request changes no state."""

from __future__ import annotations

import numpy as np
import pytest

from quantjax.errors import UserError
from quantjax.inference.artifact import load_artifact
from quantjax.inference.causal import CausalStream
from quantjax.inference.stream_predictor import StreamingPredictor
from quantjax.inference.symbol_streams import SymbolStreams

from support.serve_artifacts import causal_artifact, market_ticks

#: every stream set below: 3 symbol slots, one compiled bucket of 3 ticks (a request of one
#: tick is padded into the scratch slot), so the whole module compiles ONE step program, the
#: one the service tests' streams (capacity 3, buckets 1, 2, 3) compile for 3 ticks too
CAPACITY, BUCKETS = 3, (3,)


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    return load_artifact(causal_artifact(tmp_path_factory.mktemp("ss") / "causal.qjx"))


def _run(ss, ticks, only=None):
    out = {}
    for s, ts, v in ticks:
        if only is not None and s != only:
            continue
        o = ss.step([s], [ts], [[v[f] for f in ss.fields]])
        out.setdefault(s, []).append((bool(o.ready[0]), o.price[0], o.direction_probs[0]))
    return out


def test_streams_are_isolated_and_equal_the_fused_predictor(art):
    ticks = market_ticks(2, 40, seed=2)
    a, b = ticks[0][0], next(t[0] for t in ticks if t[0] != ticks[0][0])
    both = _run(SymbolStreams(art, None, CAPACITY, BUCKETS, warmup=0), ticks)
    ss = SymbolStreams(art, None, CAPACITY, BUCKETS, warmup=0)
    alone = _run(ss, ticks, only=a)
    assert ss.symbols == [a]
    assert [x[0] for x in both[a]] == [x[0] for x in alone[a]] and both[a][-1][0]
    for (_, p1, d1), (_, p2, d2) in zip(both[a], alone[a], strict=True):
        np.testing.assert_array_equal(p1, p2)  # B's ticks never touch A's state
        np.testing.assert_array_equal(d1, d2)
    assert len(both[b]) > 0
    # the same semantics as the replay's fused causal step of one symbol (ss.features is
    # stateless: the streams' state lives in ss.state)
    sp = StreamingPredictor(ss.features, CausalStream(art.params, art.config["model"], art.extra))
    st = sp.init(1)
    for (_s, ts, v), got in zip([t for t in ticks if t[0] == a], alone[a], strict=True):
        st, (out, ready) = sp.step(st, ss.features.make_tick(
            np.array([[v[f] for f in ss.fields]]), np.ones(1, bool), ts))
        assert bool(np.asarray(ready)[0]) == got[0]
        if got[0]:
            np.testing.assert_allclose(got[1], np.asarray(out)[0, 3], atol=1e-6)


def test_refused_requests_change_no_state(art):
    ticks = market_ticks(1, 30, seed=3)
    s = ticks[0][0]
    universe = [s, "OTHER1", "OTHER2"]  # a fixed universe: other symbols are refused
    ss = SymbolStreams(art, universe, buckets=BUCKETS, warmup=0)
    ref = SymbolStreams(art, universe, buckets=BUCKETS, warmup=0)
    assert ss.capacity == CAPACITY
    for i, (sym, ts, v) in enumerate(ticks):
        row = [[v[f] for f in ss.fields]]
        if i == 20:
            for syms, stamps, rows, frag in (
                    ([sym], [ticks[i - 1][1]], row, "duplicate"),
                    ([sym], [ticks[i - 2][1]], row, "out-of-order"),
                    (["NOPE"], [ts], row, "unknown symbol"),
                    ([sym, sym], [ts, ts + 1], row * 2, "second tick")):
                with pytest.raises(UserError, match=frag):
                    ss.step(syms, stamps, rows)
        got, want = ss.step([sym], [ts], row), ref.step([sym], [ts], row)
        np.testing.assert_array_equal(got.price, want.price)
        assert got.bars[0] == want.bars[0] == i + 1


def test_dynamic_symbols_up_to_capacity(art):
    ticks = market_ticks(1, 2, seed=4)
    _, ts, v = ticks[0]
    ss = SymbolStreams(art, None, CAPACITY, BUCKETS, warmup=0)
    row = [v[f] for f in ss.fields]
    ss.step(["A", "B"], [ts, ts], [row, row])
    ss.step(["C"], [ts], [row])
    with pytest.raises(UserError, match="capacity of 3 symbols"):
        ss.step(["D"], [ts], [row])
    assert ss.symbols == ["A", "B", "C"]
