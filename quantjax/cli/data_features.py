"""``quantjax data features``: compute the HFT features of a market file (or synthetic data)."""

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
