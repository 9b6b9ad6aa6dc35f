"""The risk engine as a chain of rules: one source for every parameter, open to new rules."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.backtest.config import BacktestConfig, RiskConfig
from quantjax.backtest.runner import run
from quantjax.config import load
from quantjax.risk import (
    CHAIN,
    DEFAULTS,
    PARAMS,
    MarketStep,
    Param,
    RiskParams,
    Rule,
    StepRecord,
    init,
    make_params,
    step,
)
from quantjax.risk import state as book
from quantjax.risk.chain import apply_chain
from quantjax.risk.chain import declared as declared_params

from support.shared_market import STEPS, SYMBOLS, shared_market

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- risk-params:begin", "<!-- risk-params:end -->"


def _bounds(d: Param) -> str:
    ops = ((">=", d.ge), (">", d.gt), ("<=", d.le), ("<", d.lt))
    return ", ".join(f"{op} {v:g}" for op, v in ops if v is not None)


def params_table() -> str:
    """The docs table of every declared parameter, with the rule that declares it."""
    owned = (("book", book.PARAMS),) + tuple((r.name, r.params) for r in CHAIN)
    rows = ["| key | default | bounds | rule | meaning |", "|---|---|---|---|---|"]
    for owner, params in owned:
        for d in params:
            doc = d.doc.replace("|", "\\|")
            rows.append(f"| `risk.{d.name}` | {d.default!r} | {_bounds(d)} | `{owner}` | {doc} |")
    return "\n".join(rows)


def test_docs_table_lists_exactly_the_declared_parameters():
    text = (ROOT / "docs" / "backtest.md").read_text()
    begin = text.index(BEGIN)
    block = text[text.index("\n", begin) + 1:text.index(END)].strip()
    assert block == params_table(), (
        "docs/backtest.md 'Risk parameters' is out of date; put this between the markers:\n"
        + params_table())
    keys = re.findall(r"^\| `risk\.(\w+)` \|", block, flags=re.M)
    assert keys == [d.name for d in PARAMS]


def test_every_view_derives_from_the_declarations():
    names = [d.name for d in PARAMS]
    assert len(set(names)) == len(names)
    assert list(RiskParams._fields) == names
    assert DEFAULTS == {d.name: d.default for d in PARAMS}
    assert make_params(jnp.float32) == RiskParams(*(jnp.float32(d.default) for d in PARAMS))
    fields = dataclasses.fields(RiskConfig)
    assert [f.name for f in fields] == names
    for f, d in zip(fields, PARAMS, strict=True):
        assert f.default == d.default and isinstance(f.default, float)
        assert {k: f.metadata[k] for k in ("ge", "gt", "le", "lt", "doc")} == {
            "ge": d.ge, "gt": d.gt, "le": d.le, "lt": d.lt, "doc": d.doc}
    # the shipped YAML restates nothing: its risk section is empty, so it loads the declarations
    assert load(BacktestConfig, ROOT / "configs" / "backtest.yaml").risk == RiskConfig()
    assert dataclasses.asdict(RiskConfig()) == DEFAULTS


def test_step_writes_every_record_field():
    p = make_params()
    m = MarketStep(*(jnp.float32(100.0),) * 4, jnp.float32(1e9), jnp.asarray(True), jnp.int32(0))
    _, rec = step(p, init(p), m, jnp.float32(1.0))
    assert isinstance(rec, StepRecord) and all(v is not None for v in rec)


def test_a_new_rule_is_one_function_and_its_parameters():
    """A rule added to the chain brings its parameter and runs inside the step."""
    cap = Param("max_units", 5.0, "max |position| in units", gt=0)

    def max_units(p, s, rec, m, signal):
        return s._replace(position=jnp.clip(s.position, -p.max_units, p.max_units)), rec

    after_fill = [r.name for r in CHAIN].index("fill") + 1
    chain = CHAIN[:after_fill] + (Rule("max_units", (cap,), max_units),) + CHAIN[after_fill:]
    declared = book.PARAMS + declared_params(chain)
    n_before = len(book.PARAMS + declared_params(CHAIN[:after_fill]))
    assert [d.name for d in declared] == [d.name for d in PARAMS[:n_before]] + ["max_units"] + [
        d.name for d in PARAMS[n_before:]]
    Params = NamedTuple("Params", [(d.name, jax.Array) for d in declared])
    params = Params(**{d.name: jnp.float32(d.default) for d in declared})._replace(
        stop_loss=jnp.float32(0.0), take_profit=jnp.float32(0.0))
    m = MarketStep(*(jnp.float32(100.0),) * 4, jnp.float32(1e9), jnp.asarray(True), jnp.int32(0))
    st, _ = apply_chain(chain, params, init(params), m, jnp.float32(1.0))
    st, rec = apply_chain(chain, params, st, m, jnp.float32(np.nan))
    assert float(rec.order_qty) > 5.0 and float(st.position) == 5.0
    # the unchanged chain is exactly step
    p0 = make_params()
    ref = step(p0, init(p0), m, jnp.float32(1.0))
    got = apply_chain(CHAIN, p0, init(p0), m, jnp.float32(1.0))
    for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(a, b)


def test_default_params_run_a_backtest():
    m = shared_market(4)
    sig = np.random.default_rng(0).choice([-1.0, 0.0, 1.0, np.nan], (SYMBOLS, STEPS))
    res = run(make_params(), m, sig)
    assert np.isfinite(res.records["equity"]).all()
