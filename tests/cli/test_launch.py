"""``quantjax launch``: bad flags are one-line errors (exit 2); a command that fails in every
process ends the launcher with that process's code and one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from quantjax.cli.main import main

from support.paths import ROOT


@pytest.mark.parametrize("argv, needle", [
    (["launch", "-n", "2"], "give the command after --"),
    (["launch", "-n", "0", "--", "train", "hft"], "-n: must be >= 1"),
    (["launch", "--cpu-devices", "0", "--", "train", "hft"], "--cpu-devices: must be >= 1"),
    (["launch", "--", "launch", "--", "train"], "cannot itself be 'launch'"),
])
def test_bad_launch_flags(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_a_failing_command_stops_the_launch_with_its_code(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-m", "quantjax.cli.main", "launch", "-n", "2", "--",
                          "train", "hft", "--synthetic", "--config", str(tmp_path / "no.yaml")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "quantjax launch: process" in res.stderr and "exited with code 2" in res.stderr
    assert "no.yaml" in res.stderr
