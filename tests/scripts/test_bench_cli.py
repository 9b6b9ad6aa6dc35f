"""The benchmark scripts refuse bad flags with one message and exit code 2, before any work."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support.paths import ROOT

SCRIPTS = ROOT / "scripts"


@pytest.mark.parametrize("script,args,names", [
    ("bench_backtest.py", ["--levels", "equity,bogus"], "--levels"),
    ("bench_backtest.py", ["--device-data"], "--no-vectorbt"),
    ("bench_hft_model.py", ["--torch-device", "tpu"], "--torch-device"),
    ("bench_credit.py", ["--gpu-precision", "fp8"], "--gpu-precision"),
])
def test_bad_bench_flags_exit_2_naming_the_flag(script, args, names):
    r = subprocess.run([sys.executable, str(SCRIPTS / script), *args], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert names in r.stderr and "Traceback" not in r.stderr
