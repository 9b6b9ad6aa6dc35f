"""``quantjax data features`` end to end (small config) and its user errors (exit 2)."""

from __future__ import annotations

import pandas as pd
import yaml

from quantjax.cli.main import main


def test_cli_synthetic_writes_long_table_and_config(tmp_path, capsys):
    out = tmp_path / "f.parquet"
    rc = main([
        "data", "features", "--synthetic", "--symbols", "2", "--steps", "300",
        "--config", "configs/features.yaml", "--out", str(out),
        "--set", "groups=[returns,volatility,rsi]",
    ])
    assert rc == 0
    df = pd.read_parquet(out)
    assert list(df.columns[:3]) == ["timestamp", "symbol", "valid"]
    assert "volatility_20" in df.columns and "rsi" in df.columns
    assert len(df) == 600 and df["valid"].any() and not df["valid"].all()
    # invalid features are NaN in the file, valid rows have no NaN
    assert df.loc[df["valid"], df.columns[3:]].notna().all().all()
    assert df["returns"].isna().sum() == 2
    cfg = yaml.safe_load((tmp_path / "f.config.yaml").read_text())
    assert cfg["groups"] == ["returns", "volatility", "rsi"]


def test_cli_user_errors_exit_2(tmp_path, capsys):
    assert main(["data", "features", "--synthetic", "--out", str(tmp_path / "x.txt")]) == 2
    assert main([
        "data", "features", "--synthetic", "--out", str(tmp_path / "x.parquet"),
        "--config", "configs/features.yaml", "--set", "groups=[nope]",
    ]) == 2
    assert main([
        "data", "features", "--data", str(tmp_path / "missing.csv"),
        "--out", str(tmp_path / "x.parquet"), "--config", "configs/features.yaml",
    ]) == 2
    err = capsys.readouterr().err
    assert "groups" in err and "x.txt" in err
