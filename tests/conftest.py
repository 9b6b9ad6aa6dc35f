"""Shared test setup: a persistent JAX compilation cache, deterministic CPU runs, and the tiny
trained runs that many tests read (trained once per session, across pytest-xdist workers).

Fixtures:

- ``tiny_hft_run``: folder of the tiny HFT run (:mod:`support.hft_runs`), read-only;
- ``tiny_hft_data``: ``(HFTConfig, HFTDataset)`` of that run, rebuilt in-process;
- ``tiny_hft_artifact``: its exported ``.qjx``;
- ``tiny_credit_run``: folder of a tiny credit run on ``support/german_like.csv``, read-only;
- ``real_ticks_replay``: the real Binance recording imported, the tiny config trained on its
  1 s bars, exported and replayed with every execution rule on (:mod:`support.real_ticks`).

Tests must not write into these folders; copy them (``shutil.copytree``) to change one.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# in-process CLI calls must not switch XLA's CPU loop mode for the rest of the session;
# tests that need the fast loops run them in a subprocess
os.environ.setdefault("QUANTJAX_FAST_CPU_LOOPS", "0")
os.environ.setdefault("QUANTJAX_CPU_DEVICES", "1")  # likewise: one CPU device in-process

import jax  # noqa: E402
import pytest  # noqa: E402

from support.credit_runs import GERMAN_DATA, TINY  # noqa: E402
from support.paths import JAX_CACHE  # noqa: E402

_CACHE = Path(os.environ.get("QUANTJAX_TEST_JAX_CACHE", JAX_CACHE))
# every program is cached, however fast it compiles: the suite compiles thousands of small ones
# again and again across tests, workers and subprocesses (0 instead of 0.5 s cut the cold suite's
# CPU time by a fifth, docs/benchmarks.md)
_CACHE_MIN_COMPILE_S = 0.0
jax.config.update("jax_compilation_cache_dir", str(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", _CACHE_MIN_COMPILE_S)
# test subprocesses (CLI runs, multi-device and multi-process children) inherit both settings
# through these variables, which JAX reads at import
os.environ["JAX_COMPILATION_CACHE_DIR"] = str(_CACHE)
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = str(_CACHE_MIN_COMPILE_S)


def shared_folder(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` once per test session, also across pytest-xdist workers (their base
    temp folders share a parent); later calls, in any worker, return the built folder."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                if folder.exists():
                    shutil.rmtree(folder)
                build(folder)
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


@pytest.fixture(scope="session")
def tiny_hft_run(tmp_path_factory) -> Path:
    from support.hft_runs import train_tiny_run

    return shared_folder(tmp_path_factory, "tiny_hft_run", train_tiny_run)


@pytest.fixture(scope="session")
def tiny_hft_data(tiny_hft_run):
    from quantjax.config import load
    from quantjax.hft.config import HFTConfig
    from quantjax.hft.dataset import load_hft_dataset

    cfg = load(HFTConfig, tiny_hft_run / "config.yaml")
    return cfg, load_hft_dataset(cfg, None, log=lambda *a, **k: None)[0]


@pytest.fixture(scope="session")
def tiny_hft_artifact(tiny_hft_run, tmp_path_factory) -> Path:
    from quantjax.inference.export import export_checkpoint

    folder = shared_folder(tmp_path_factory, "tiny_hft_artifact",
                           lambda d: export_checkpoint(tiny_hft_run, d / "hft.qjx"))
    return folder / "hft.qjx"


@pytest.fixture(scope="session")
def real_ticks_replay(tmp_path_factory) -> Path:
    from support.real_ticks import build_real_ticks_replay

    return shared_folder(tmp_path_factory, "real_ticks_replay", build_real_ticks_replay)


@pytest.fixture(scope="session")
def tiny_credit_run(tmp_path_factory) -> Path:
    from quantjax.cli.main import main

    def build(folder):
        rc = main(["train", "credit", *TINY, *GERMAN_DATA, "--workdir", str(folder)])
        assert rc == 0

    return shared_folder(tmp_path_factory, "tiny_credit_run", build)
