"""Benchmark/profile scripts reject bad arguments with one message naming the flag (exit 2)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("args, flag", [(["--sizes", "0"], "--sizes"), (["--chain", "0"], "--chain"),
                                        (["--calls", "-1"], "--calls")])
def test_profile_matvec_cache_rejects_non_positive_arguments(args, flag):
    r = subprocess.run([sys.executable, "scripts/profile_matvec_cache.py", *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and flag in r.stderr and "Traceback" not in r.stderr
