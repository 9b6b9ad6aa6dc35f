"""Opt-in per-test cost report: ``QUANTJAX_TEST_PROFILE=DIR pytest -p support.profile_plugin``.

Appends one JSON line per test phase to ``DIR/<worker>.jsonl`` with the CPU seconds of this
process and of its finished children (CLI and multi-process subprocesses), XLA backend compile
seconds and counts, and persistent-cache hits and misses. Not used by the suite itself.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import jax
import pytest

_STATS = {"compile_s": 0.0, "compiles": 0, "trace_s": 0.0, "lower_s": 0.0, "hits": 0, "misses": 0}


_PROGRAMS: list = []  # (program name, compile seconds) of this phase's slower compiles


def _on_duration(event: str, secs: float, fun_name: str = "", **_) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _STATS["compile_s"] += secs
        _STATS["compiles"] += 1
        if secs >= 0.2:
            _PROGRAMS.append((fun_name, round(secs, 2)))
    elif event == "/jax/core/compile/jaxpr_trace_duration":
        _STATS["trace_s"] += secs
    elif event == "/jax/core/compile/jaxpr_to_mlir_module_duration":
        _STATS["lower_s"] += secs


def _on_event(event: str, **_) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _STATS["hits"] += 1
    elif event == "/jax/compilation_cache/cache_misses":
        _STATS["misses"] += 1


jax.monitoring.register_event_duration_secs_listener(_on_duration)
jax.monitoring.register_event_listener(_on_event)


def _cpu() -> tuple[float, float]:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime


def _out() -> Path:
    folder = Path(os.environ["QUANTJAX_TEST_PROFILE"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.jsonl"


def _measure(item, phase):
    before, t0, cpu0 = dict(_STATS), time.perf_counter(), _cpu()
    _PROGRAMS.clear()
    yield
    cpu1 = _cpu()
    row = {"test": item.nodeid, "phase": phase, "wall_s": time.perf_counter() - t0,
           "cpu_s": cpu1[0] - cpu0[0], "child_cpu_s": cpu1[1] - cpu0[1]}
    row.update({k: _STATS[k] - before[k] for k in _STATS}, programs=list(_PROGRAMS))
    with open(_out(), "a") as f:
        f.write(json.dumps(row) + "\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    yield from _measure(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield from _measure(item, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    yield from _measure(item, "teardown")
