"""The quantjax command: help everywhere, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from quantjax.cli.main import build_parser, main

GROUPS = ["data", "train", "sweep", "backtest", "score", "export", "replay", "serve", "report",
          "demo"]


def _subcommands(parser):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            yield from action.choices.items()


def test_every_command_has_help(capsys):
    parser = build_parser()
    names = dict(_subcommands(parser))
    assert set(GROUPS) <= set(names)
    stack = [(["quantjax", n], p) for n, p in names.items()]
    seen = 0
    while stack:
        path, p = stack.pop()
        with pytest.raises(SystemExit) as e:
            main(path[1:] + ["--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "usage:" in out
        seen += 1
        stack.extend((path + [n], sp) for n, sp in _subcommands(p))
    assert seen >= len(GROUPS)


def test_bad_flag_is_one_line_exit_2():
    r = subprocess.run(
        [sys.executable, "-m", "quantjax.cli.main", "data", "--no-such-flag"],
        capture_output=True, text=True,
    )
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_user_error_exit_2_and_debug_traceback(monkeypatch, capsys):
    from quantjax.cli import common
    from quantjax.errors import UserError

    parser = common.Parser(prog="x")

    def boom(args):
        raise UserError("bad thing in field 'x'")

    import quantjax.cli.main as cli_main

    class FakeParser:
        def parse_args(self, argv):
            import argparse

            ns = argparse.Namespace(func=boom)
            if "--debug" in argv:
                ns.debug = True
            return ns

    monkeypatch.setattr(cli_main, "build_parser", lambda: FakeParser())
    assert cli_main.main(["x"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "quantjax: error: bad thing in field 'x'"
    assert cli_main.main(["x", "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err
    assert parser.prog == "x"


def test_score_artifact_refuses_distributed(tmp_path, capsys):
    """--artifact scoring runs in one process: --distributed is refused before any file is
    read or JAX started (one line naming the flag, exit 2)."""
    rc = main(["score", "credit", "--artifact", str(tmp_path / "c.qjx"), "--data",
               str(tmp_path / "a.csv"), "--out", str(tmp_path / "s.csv"), "--distributed"])
    err = capsys.readouterr().err
    assert rc == 2 and "--distributed" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("source", ["--artifact", "--checkpoint"])
def test_score_credit_refuses_a_batch_size_below_1(tmp_path, capsys, source):
    """--batch-size (rows per call; with --artifact the largest compiled bucket) must be >= 1:
    one line naming the flag, exit 2, nothing written."""
    rc = main(["score", "credit", source, str(tmp_path / "c"), "--data",
               str(tmp_path / "a.csv"), "--out", str(tmp_path / "s.csv"), "--batch-size", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "--batch-size: must be >= 1, got 0" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "s.csv").exists()
