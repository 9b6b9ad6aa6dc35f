"""``quantjax data synth-credit`` and ``quantjax data validate-credit``."""

from __future__ import annotations

from quantjax.cli.common import add_config_args

DEFAULT_CONFIG = "configs/synth_credit.yaml"


def say(text: str) -> None:
    """Print one logical line without rich's hard wrapping (paths stay copyable)."""
    from quantjax.cli.common import console

    console.print(text, soft_wrap=True)


def register(dsub, parents) -> None:
    p = dsub.add_parser(
        "synth-credit",
        help="generate synthetic multi-modal credit applications",
        description="Write synthetic loan applications (numeric, categorical, text and a "
        "monthly balance series) with labels drawn from a known model, plus "
        "PATH.meta.json with every parameter and the Bayes AUC. Same seed -> identical files.",
        parents=parents,
    )
    p.add_argument("--rows", type=int, default=None, help="number of applications (config: rows)")
    p.add_argument("--seed", type=int, default=None, help="random seed (config: seed)")
    p.add_argument("--out", required=True, help="output file, .csv or .parquet")
    add_config_args(p, default=None)
    p.set_defaults(func=run_synth)

    v = dsub.add_parser(
        "validate-credit",
        help="check a credit applications file against a schema",
        description="Load a CSV/Parquet applications file through a schema YAML "
        "(docs/credit_data.md), check it and print a summary: rows, positive rate and "
        "missing values per column. Errors print one line and exit 2.",
        parents=parents,
    )
    v.add_argument("path", help="applications file (.csv or .parquet)")
    v.add_argument("--schema", required=True, help="schema YAML, e.g. configs/credit_schema_german.yaml")
    v.add_argument(
        "--no-target", action="store_true",
        help="the file is for scoring: the target column may be absent",
    )
    v.set_defaults(func=run_validate)


def _load_synth_config(args):
    from pathlib import Path

    from quantjax.config import load
    from quantjax.config.credit_data import SynthCreditConfig

    path = args.config
    if path is None and Path(DEFAULT_CONFIG).is_file():
        path = DEFAULT_CONFIG
    overrides = list(args.overrides)
    if args.rows is not None:
        overrides.append(f"rows={args.rows}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    return load(SynthCreditConfig, path, overrides)


def run_synth(args) -> int:
    from quantjax.data.synth_credit import generate_credit, write_credit

    cfg = _load_synth_config(args)
    df, meta = generate_credit(cfg)
    data_path, meta_file = write_credit(df, meta, args.out)
    say(
        f"wrote {len(df):,} applications to {data_path} (metadata {meta_file})\n"
        f"default rate {meta['default_rate']:.4f} (target {cfg.default_rate}), "
        f"Bayes AUC {meta['bayes_auc']:.4f} (expected {meta['bayes_auc_expected']:.4f})"
    )
    return 0


def summarize(df, schema) -> dict:
    """Rows, positive rate and per-column missing counts of a checked credit frame."""
    from quantjax.data.credit import target_array

    y = target_array(df, schema)
    known = y[y >= 0]
    cols = list(schema.columns)
    out = {
        "rows": len(df),
        "positive_label": str(schema.positive),
        "positives": int((known == 1).sum()),
        "positive_rate": float(known.mean()) if known.size else None,
        "unknown_target": int((y < 0).sum()),
        "missing": {c: int(df[c].isna().sum()) for c in cols},
        "distinct": {c: int(df[c].nunique(dropna=True)) for c in schema.categorical},
    }
    if schema.text is not None:
        empty = df[schema.text].isna() | (df[schema.text].fillna("").str.strip() == "")
        out["empty_text"] = int(empty.sum())
    return out


def run_validate(args) -> int:
    from quantjax.config import load
    from quantjax.config.credit_schema import CreditSchema
    from quantjax.data.credit import read_credit_table

    schema = load(CreditSchema, args.schema)
    df = read_credit_table(args.path, schema, require_target=not args.no_target)
    s = summarize(df, schema)
    rate = "n/a" if s["positive_rate"] is None else f"{s['positive_rate']:.4f}"
    say(f"[bold]{args.path}[/bold]: OK")
    say(
        f"rows {s['rows']:,} | numeric {len(schema.numeric)} | categorical "
        f"{len(schema.categorical)} | text {schema.text or '-'} | series {len(schema.time_series)}"
    )
    say(
        f"target '{schema.target}': positive '{s['positive_label']}' {s['positives']:,} "
        f"rows, rate {rate}, unknown {s['unknown_target']:,}"
    )
    if "empty_text" in s:
        say(f"empty text: {s['empty_text']:,}")
    missing = {c: n for c, n in s["missing"].items() if n}
    if missing:
        say("missing values per column:")
        for c, n in missing.items():
            say(f"  {c}: {n:,}")
    else:
        say("missing values: none")
    if s["distinct"]:
        say(
            "categories: " + ", ".join(f"{c}={n}" for c, n in s["distinct"].items())
        )
    return 0
