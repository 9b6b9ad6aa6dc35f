"""``quantjax data validate`` and ``quantjax data synth-market``: outputs and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from quantjax.cli.main import main

FAST = ["--set", "oracle_states=50", "--set", "oracle_paths=50"]


def synth(out, *extra):
    return main(["data", "synth-market", "--out", str(out), "--symbols", "2", "--steps", "300",
                 "--seed", "3", *FAST, *extra])


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_synth_market_then_validate(tmp_path, capsys, ext):
    out = tmp_path / f"m.{ext}"
    assert synth(out) == 0
    text = capsys.readouterr().out
    assert "oracle accuracy" in text and str(out) in text
    meta = json.loads((tmp_path / f"m.{ext}.meta.json").read_text())
    assert meta["params"]["symbols"] == 2 and meta["params"]["seed"] == 3
    assert meta["params"]["oracle_states"] == 50
    assert main(["data", "validate", str(out)]) == 0
    text = capsys.readouterr().out
    for needle in ("rows: 600", "symbols: 2", "SYM000", "missing bars: 0", "bid_volume",
                   "unsorted rows fixed: 0", "2024-01-02T09:30:01Z"):
        assert needle in text
    assert main(["data", "validate", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 600 and report["n_symbols"] == 2


def test_flags_override_config_file(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("symbols: 5\nsteps: 100\nfreq: 1min\nsignal_strength: 2.0\n")
    out = tmp_path / "m.parquet"
    assert synth(out, "--config", str(cfg)) == 0
    meta = json.loads((tmp_path / "m.parquet.meta.json").read_text())
    p = meta["params"]
    assert (p["symbols"], p["steps"], p["freq"], p["signal_strength"]) == (2, 300, "1min", 2.0)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--set", "freq=3x"], "freq"),
        (["--set", "nosuchkey=1"], "unknown config key 'nosuchkey'"),
        (["--config", "missing.yaml"], "config file not found"),
    ],
)
def test_synth_bad_config_exit_2(tmp_path, capsys, args, needle):
    assert synth(tmp_path / "m.csv", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_synth_bad_extension_exit_2(tmp_path, capsys):
    assert synth(tmp_path / "m.txt") == 2
    assert ".csv or .parquet" in capsys.readouterr().err


def test_validate_bad_data_exit_2(tmp_path, capsys):
    p = tmp_path / "bad.csv"
    p.write_text("timestamp,symbol,open,high,low,close,volume\n"
                 "2024-01-02T09:30:01Z,AAA,1,2,0.5,1,3\n"
                 "2024-01-02T09:30:01Z,AAA,1,2,0.5,1,3\n")
    assert main(["data", "validate", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "duplicate timestamp" in err[0] and "'AAA'" in err[0] and "09:30:01Z" in err[0]
    assert main(["data", "validate", str(tmp_path / "none.parquet")]) == 2
    assert "not found" in capsys.readouterr().err


def test_validate_subprocess_one_line_no_traceback(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("timestamp,symbol,open,high,low,close\n2024-01-02,AAA,1,2,0.5,1\n")
    r = subprocess.run([sys.executable, "-m", "quantjax.cli.main", "data", "validate", str(p)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"quantjax: error: {p}: missing required column 'volume' (columns present: timestamp, "
        "symbol, open, high, low, close)"
    ]
    assert "Traceback" not in r.stderr
