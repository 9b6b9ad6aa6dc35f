#!/usr/bin/env python
"""Thin wrapper: ``python scripts/train_hft.py ARGS`` == ``quantjax train hft ARGS``."""

import sys

from quantjax.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main(["train", "hft", *sys.argv[1:]]))
