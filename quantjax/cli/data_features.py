"""``quantjax data features``: compute the HFT features of a market file (or synthetic data);
``quantjax data check-causality``: the look-ahead screen of a file's extra columns."""

from __future__ import annotations

import argparse

from quantjax.cli.common import add_config_args


def register(dsub, parents) -> None:
    p = dsub.add_parser(
        "features",
        help="compute HFT features and indicators into a long-format file",
        description="Compute every selected feature (configs/features.yaml) for every symbol and "
        "write a long-format table: timestamp, symbol, valid, then one column per feature "
        "(NaN where that feature is invalid: warm-up or a missing bar in its lookback). The "
        "resolved config is written next to the output as OUT_STEM.config.yaml.",
        parents=parents,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="market file (.csv, .csv.gz or .parquet)")
    src.add_argument("--synthetic", action="store_true", help="use the synthetic generator")
    p.add_argument("--symbols", type=int, default=4, help="synthetic: number of symbols")
    p.add_argument("--steps", type=int, default=5000, help="synthetic: bars per symbol")
    p.add_argument("--seed", type=int, default=0, help="synthetic: random seed")
    p.add_argument("--out", required=True, help="output file (.parquet or .csv)")
    add_config_args(p, default="configs/features.yaml")
    p.set_defaults(func=run_features)
    c = dsub.add_parser(
        "check-causality",
        help="screen a market file's extra columns for look-ahead (future information)",
        description="For each extra column of a long market file (or the ones given), the rank "
        "correlation of the column with the future returns over 1..--max-horizon bars (and of "
        "its change with the future one-bar returns). A column known at its bar stays far "
        "below --threshold; one that holds the future (a future return, the label, a future "
        "price) goes above it and is flagged. Exit code 1 when a column is flagged. A screen "
        "for gross leaks, not a proof (docs/features.md, causality contract).",
        parents=parents,
    )
    c.add_argument("--data", required=True, help="market file (.csv, .csv.gz or .parquet)")
    c.add_argument("--columns", default="all",
                   help="comma-separated extra columns, or 'all' (default)")
    c.add_argument("--max-horizon", type=int, default=10, help="future bars checked (default 10)")
    c.add_argument("--threshold", type=float, default=0.5,
                   help="flag a column whose |rank correlation| exceeds this (default 0.5)")
    c.add_argument("--out", default=None, help="also write the result as JSON here")
    c.set_defaults(func=run_check_causality)


def _load_market(args: argparse.Namespace):
    if args.data:
        from quantjax.data.market_io import load_market

        return load_market(args.data)[0]
    from quantjax.config.data import SynthMarketConfig
    from quantjax.data.market_io import market_from_frame
    from quantjax.data.synth_market import generate

    cfg = SynthMarketConfig(symbols=args.symbols, steps=args.steps, seed=args.seed,
                            oracle_states=10, oracle_paths=10)
    return market_from_frame(generate(cfg)[0])[0]


def run_features(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from quantjax.cli.common import console
    from quantjax.config import load, save
    from quantjax.errors import UserError
    from quantjax.features.config import FeaturesConfig
    from quantjax.features.market_features import compute_features

    out = Path(args.out)
    if not out.name.lower().endswith((".csv", ".parquet")):
        raise UserError(f"--out {out}: use a .parquet or .csv file name")
    if args.synthetic and (args.symbols < 1 or args.steps < 2):
        raise UserError("--symbols must be >= 1 and --steps >= 2")
    cfg = load(FeaturesConfig, args.config, args.overrides)
    market = _load_market(args)
    t0 = time.perf_counter()
    with console.status("computing features (jit compile + run)..."):
        fs = compute_features(market, cfg, chunk_symbols=16)
    elapsed = time.perf_counter() - t0
    s_idx, t_idx = np.nonzero(market.mask)
    frame = {
        "timestamp": pd.DatetimeIndex(
            market.timestamps[t_idx].view("datetime64[ns]")).tz_localize("UTC"),
        "symbol": np.asarray(market.symbols, dtype=object)[s_idx],
        "valid": fs.valid[s_idx, t_idx],
    }
    vals = np.where(fs.feature_valid, fs.values, np.nan)[s_idx, t_idx]
    for i, name in enumerate(fs.names):
        frame[name] = vals[:, i]
    df = pd.DataFrame(frame).sort_values(["timestamp", "symbol"], kind="stable")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.name.lower().endswith(".parquet"):
        df.to_parquet(out, index=False)
    else:
        df.to_csv(out, index=False)
    cfg_path = save(cfg, out.parent, name=f"{out.name.split('.')[0]}.config.yaml")
    console.print(
        f"wrote {out} ({len(df)} rows, {len(fs.names)} features, "
        f"{int(fs.valid.sum())} valid rows) in {elapsed:.1f}s; config: {cfg_path}",
        markup=False, soft_wrap=True,
    )
    for note in fs.notes:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    return 0


def run_check_causality(args: argparse.Namespace) -> int:
    from quantjax.cli.common import console
    from quantjax.data.extra_columns import read_extra_columns
    from quantjax.data.market_io import load_market
    from quantjax.errors import UserError
    from quantjax.features.causality import lookahead_scan
    from quantjax.jsonio import write_json

    if args.max_horizon < 1 or not 0 < args.threshold < 1:
        raise UserError("--max-horizon must be >= 1 and --threshold in (0, 1)")
    market, _ = load_market(args.data)
    sel = "all" if args.columns == "all" else tuple(c for c in args.columns.split(",") if c)
    extra = read_extra_columns(args.data, market, sel)
    if not extra.names:
        raise UserError(f"{args.data}: no extra numeric columns to check")
    res = lookahead_scan(market, extra, args.max_horizon, args.threshold)
    flagged = [n for n, r in res.items() if r["leak"]]
    for name, r in res.items():
        verdict = "LOOK-AHEAD" if r["leak"] else "ok"
        console.print(f"{name}: {verdict} (max |rank IC| with the future "
                      f"{r['max_abs_forward']:.3f} at {r['horizon']} bar(s); with the last bar's "
                      f"return {r['backward_rank_ic'][0]:.3f})", markup=False)
    if args.out:
        write_json(args.out, {"threshold": args.threshold, "max_horizon": args.max_horizon,
                              "columns": res, "flagged": flagged})
    if flagged:
        console.print(f"{len(flagged)} column(s) look like they hold future information: "
                      f"{', '.join(flagged)}", markup=False)
        return 1
    console.print(f"no look-ahead found in {len(res)} column(s) (threshold {args.threshold})",
                  markup=False)
    return 0
