"""Memory-bounded backtests: the time-chunk length that keeps one chunk of the engine within a
device memory budget.

One chunk of ``Tc`` steps over ``S`` symbols holds on the device its inputs (open, high, low,
close, volume, bid, ask and the signal as float32, ``valid`` as bool: 33 bytes per
symbol-step) and its records, whose size depends on the record level (bytes per
symbol-step):

- ``full``: the 13 ``StepRecord`` fields, 52;
- ``trades``: equity (4) plus the event log (42-byte rows, 1/32 of the symbol-steps: 1.3); on
  a GPU and in portfolio mode the dense ``full`` program plus its compaction (52 + 16);
- ``equity``: 4; ``total``: 4 per step (not per symbol).

XLA's temporaries and the scan's carried copies are covered by a factor
:data:`OVERHEAD`. The budget is ``backtest.memory_budget_mb`` (``quantjax backtest
--memory-budget``), else :data:`FREE_FRACTION` of the device's free memory. The chunked run
carries the ``RiskState`` from chunk to chunk and equals the one-shot run bit for bit
(:func:`quantjax.backtest.runner.run_chunked`).
"""

from __future__ import annotations

import math

from quantjax.errors import UserError
from quantjax.platform import device_free_bytes, is_cpu

INPUT_BYTES = 8 * 4 + 1
RECORD_BYTES = {"full": 13 * 4, "trades": 4 + 42 / 32, "equity": 4, "total": 0}
DENSE_TRADES_BYTES = 13 * 4 + 16
OVERHEAD = 2.0
FREE_FRACTION = 0.5
_UNITS = {"": 2**20, "b": 1, "kb": 2**10, "k": 2**10, "mb": 2**20, "m": 2**20, "gb": 2**30,
          "g": 2**30, "tb": 2**40, "t": 2**40}


def bytes_per_step(n_symbols: int, record: str, mode: str) -> float:
    """Device bytes of one time step of a run over ``n_symbols`` (see the module doc)."""
    rec = RECORD_BYTES[record]
    if record == "trades" and (mode == "portfolio" or not is_cpu()):
        rec = DENSE_TRADES_BYTES
    per = n_symbols * (INPUT_BYTES + rec) + (4 if record == "total" else 0)
    return OVERHEAD * per


def budget_bytes(budget_mb: float) -> int:
    """``budget_mb`` MB, or (0) :data:`FREE_FRACTION` of the free memory of a device."""
    if budget_mb > 0:
        return int(budget_mb * 2**20)
    return int(FREE_FRACTION * device_free_bytes())


def chunk_steps(n_steps: int, n_symbols: int, record: str, mode: str, budget: int) -> int:
    """Steps per chunk so that one chunk fits ``budget`` bytes; ``n_steps`` when the whole
    run fits (one shot); at least 1."""
    per = bytes_per_step(n_symbols, record, mode)
    return int(max(1, min(n_steps, math.floor(budget / max(per, 1.0)))))


def parse_size_mb(text: str, name: str = "--memory-budget") -> float:
    """``'512MB'``, ``'2GB'``, ``'1.5g'``, ``'300'`` (MB) -> MB; a one-line UserError
    naming ``name`` otherwise."""
    raw = str(text).strip().lower().replace(" ", "")
    num = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(num):]
    try:
        value = float(num)
    except ValueError:
        value = math.nan
    if unit not in _UNITS or not math.isfinite(value) or value <= 0:
        raise UserError(f"{name}: expected a positive size such as 512MB or 2GB, got {text!r}")
    return value * _UNITS[unit] / 2**20
