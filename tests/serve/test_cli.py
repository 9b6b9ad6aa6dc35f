"""``quantjax serve`` user errors: one line on stderr, exit code 2, before anything starts."""

from __future__ import annotations

import pytest

from quantjax.cli.main import main
from quantjax.serve.auth import key_matches, load_keys, presented_key


def test_serve_refuses_bad_flags_and_files(tmp_path, capsys):
    art = tmp_path / "m.qjx"
    art.write_bytes(b"x")
    with pytest.raises(SystemExit) as e:  # neither --api-key-file nor --no-auth
        main(["serve", "--artifact", str(art)])
    assert e.value.code == 2
    assert "one of the arguments --api-key-file --no-auth is required" in capsys.readouterr().err
    short = tmp_path / "short.txt"
    short.write_text("# comment\n\nabc\n")
    cases = [
        (["--api-key-file", str(short)], "line 3: key shorter than 16"),
        (["--api-key-file", str(tmp_path / "none.txt")], "file not found"),
        (["--no-auth", "--set", "batching.nope=1"], "nope"),
        (["--no-auth", "--port", "0"], "--port: must be in 1..65535"),
    ]
    for extra, frag in cases:
        assert main(["serve", "--artifact", str(art), *extra]) == 2
        err = capsys.readouterr().err
        assert frag in err and len(err.strip().splitlines()) == 1, err
    assert main(["serve", "--artifact", str(tmp_path / "missing.qjx"), "--no-auth"]) == 2
    assert "--artifact: file not found" in capsys.readouterr().err
    assert main(["serve", "--artifact", f"a={art}", "--artifact", f"a={art}", "--no-auth"]) == 2
    assert "two artifacts named 'a'" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("# no keys\n")
    assert main(["serve", "--artifact", str(art), "--api-key-file", str(empty)]) == 2
    assert "holds no key" in capsys.readouterr().err


def test_keys_compare_in_constant_time_against_every_key(tmp_path):
    f = tmp_path / "k.txt"
    f.write_text("first-key-0123456789\n  second-key-0123456789  \n")
    keys = load_keys(f)
    assert keys == (b"first-key-0123456789", b"second-key-0123456789")
    assert key_matches(b"second-key-0123456789", keys)
    assert not key_matches(b"second-key-012345678", keys) and not key_matches(None, keys)
    assert presented_key({"authorization": "Bearer abc "}) == b"abc"
    assert presented_key({"x-api-key": "k"}) == b"k" and presented_key({}) is None
