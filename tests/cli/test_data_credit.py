"""``quantjax data synth-credit`` and ``quantjax data validate-credit``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantjax.cli.main import main

from support.paths import GERMAN_CSV, ROOT

CONFIG = str(ROOT / "configs" / "synth_credit.yaml")
SYNTH_SCHEMA = str(ROOT / "configs" / "credit_schema_synthetic.yaml")
GERMAN_SCHEMA = str(ROOT / "configs" / "credit_schema_german.yaml")
GERMAN_CSV = str(GERMAN_CSV)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_synth_credit_writes_data_and_meta(tmp_path, capsys):
    out = tmp_path / "credit.csv"
    rc, text, _ = run(capsys, "data", "synth-credit", "--rows", "300", "--seed", "4",
                      "--out", str(out), "--config", CONFIG)
    assert rc == 0
    assert "wrote 300 applications" in text and "Bayes AUC" in text
    meta = json.loads((tmp_path / "credit.csv.meta.json").read_text())
    assert meta["rows"] == 300 and meta["seed"] == 4
    assert 0.5 < meta["bayes_auc"] < 1
    first = out.read_bytes()
    rc, _, _ = run(capsys, "data", "synth-credit", "--rows", "300", "--seed", "4",
                   "--out", str(out), "--config", CONFIG)
    assert rc == 0 and out.read_bytes() == first


def test_synth_credit_parquet_and_overrides(tmp_path, capsys):
    out = tmp_path / "c.parquet"
    rc, _, _ = run(capsys, "data", "synth-credit", "--rows", "200", "--out", str(out),
                   "--set", "default_rate=0.5", "--set", "cardinalities=[3,4]")
    assert rc == 0 and out.is_file()
    meta = json.loads((tmp_path / "c.parquet.meta.json").read_text())
    assert meta["config"]["default_rate"] == 0.5
    assert meta["columns"]["categorical"] == ["purpose", "region"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "bogus=1"], "unknown config key 'bogus'; valid keys: rows, seed"),
        (["--set", "default_rate=2"], "default_rate"),
        (["--rows", "0"], "rows"),
    ],
)
def test_synth_credit_bad_config_exits_2(tmp_path, capsys, args, message):
    rc, _, err = run(capsys, "data", "synth-credit", "--out", str(tmp_path / "c.csv"), *args)
    assert rc == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_synth_credit_bad_suffix(tmp_path, capsys):
    rc, _, err = run(capsys, "data", "synth-credit", "--rows", "10",
                     "--out", str(tmp_path / "c.xlsx"))
    assert rc == 2 and ".csv or .parquet" in err


def test_validate_credit_synthetic(tmp_path, capsys):
    out = tmp_path / "c.csv"
    assert run(capsys, "data", "synth-credit", "--rows", "400", "--out", str(out))[0] == 0
    rc, text, _ = run(capsys, "data", "validate-credit", str(out), "--schema", SYNTH_SCHEMA)
    assert rc == 0
    assert "rows 400" in text and "positive '1'" in text and "missing values per column" in text
    assert "income:" in text


def test_validate_credit_german(capsys):
    rc, text, _ = run(capsys, "data", "validate-credit", GERMAN_CSV, "--schema", GERMAN_SCHEMA)
    assert rc == 0
    assert "rows 200" in text and "positive 'bad'" in text and "missing values: none" in text


def test_validate_credit_errors(tmp_path, capsys):
    rc, _, err = run(capsys, "data", "validate-credit", GERMAN_CSV, "--schema", SYNTH_SCHEMA)
    assert rc == 2 and "missing column 'income'" in err and len(err.strip().splitlines()) == 1
    bad_schema = tmp_path / "s.yaml"
    bad_schema.write_text("numeric: [age]\ntarget: class\npositive: bad\ntext_col: x\n")
    rc, _, err = run(capsys, "data", "validate-credit", GERMAN_CSV, "--schema", str(bad_schema))
    assert rc == 2 and "unknown config key 'text_col'; valid keys: numeric, categorical" in err
    lines = Path(GERMAN_CSV).read_text().splitlines()
    cells = lines[5].split(",")
    cells[0] = "twelve"
    lines[5] = ",".join(cells)
    broken = tmp_path / "g.csv"
    broken.write_text("\n".join(lines) + "\n")
    rc, _, err = run(capsys, "data", "validate-credit", str(broken), "--schema", GERMAN_SCHEMA)
    assert rc == 2 and "column 'duration' must be numeric: value 'twelve' at row 4" in err
    wrong_positive = tmp_path / "p.yaml"
    wrong_positive.write_text(Path(GERMAN_SCHEMA).read_text().replace("positive: bad",
                                                                      "positive: default"))
    rc, _, err = run(capsys, "data", "validate-credit", GERMAN_CSV, "--schema",
                     str(wrong_positive))
    assert rc == 2 and "positive label 'default' not found in target column 'class'" in err


def test_validate_credit_scoring_file(tmp_path, capsys):
    lines = Path(GERMAN_CSV).read_text().splitlines()
    no_target = tmp_path / "score.csv"
    no_target.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    rc, _, err = run(capsys, "data", "validate-credit", str(no_target), "--schema", GERMAN_SCHEMA)
    assert rc == 2 and "missing target column 'class'" in err
    rc, text, _ = run(capsys, "data", "validate-credit", str(no_target), "--schema",
                      GERMAN_SCHEMA, "--no-target")
    assert rc == 0 and "unknown 200" in text


def test_help(capsys):
    for cmd in ("synth-credit", "validate-credit"):
        with pytest.raises(SystemExit) as e:
            main(["data", cmd, "--help"])
        assert e.value.code == 0
        assert "usage" in capsys.readouterr().out
