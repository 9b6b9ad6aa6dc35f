"""Synthetic multi-modal credit applications drawn from a KNOWN default model.

Every row has numeric features, categorical features, a short free-text description,
a monthly balance series, a 0/1 ``default`` label and its true probability ``true_pd``::

    logit = intercept + f(numeric) + g(categorical) + h(text) + k(series)
    default ~ Bernoulli(sigmoid(logit))

- f: ``numeric_signal * (beta . z + numeric_interaction * z_0 z_1)`` where ``z_j`` is the
  standardized latent of numeric column j recovered from its (rounded) observed value
  (lognormal columns through the log); ``beta`` has ``n_informative`` nonzero entries
  scaled so that ``beta . z`` has unit variance.
- g: ``categorical_signal * sum_i e_i[c_i] / sqrt(C)``; each feature's effects have
  zero mean and unit variance under its category frequencies (both from ``model_seed``).
- h: ``text_signal * (sum of phrase effects - mean) / std`` over three grammar slots
  (purpose, job stability, payment history); noise words and the opener carry nothing;
  an empty description has h = 0.
- k: ``series_signal * (slope/0.2 + 0.5 * (log vol - log 0.03)/0.5
  + 0.5 * (mean - 0.4)/0.2)`` from the observed monthly balance (fraction of the credit
  limit): OLS slope over the year, volatility std(diff)/sqrt(2), mean level.
- intercept: set so that the mean true_pd over a fixed reference sample of 20,000
  applications (drawn with ``model_seed``) equals ``default_rate``.

``true_pd`` uses the values BEFORE cells are blanked (MCAR, ``missing_fraction`` etc.),
so ``bayes_auc`` is an upper bound for any model that sees the blanked data (the gap is
tiny at 2% missing). Same ``seed`` and config -> byte-identical output files.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantjax.config.credit_data import SynthCreditConfig
from quantjax.errors import UserError

GENERATOR = "quantjax.synth_credit/1"
TARGET, TRUE_PD, ID_COLUMN, TEXT_COLUMN = "default", "true_pd", "application_id", "description"
_REFERENCE_ROWS = 20_000

# (name, kind, location, scale, decimals): kind "n" = loc + scale * z,
# "pos" = max(0, loc + scale * z), "log" = exp(loc + scale * z); then rounded
_NUMERIC_BASE = [
    ("income", "log", 10.8, 0.45, 0),
    ("debt_ratio", "pos", 0.35, 0.08, 4),
    ("credit_score", "pos", 680.0, 50.0, 0),
    ("loan_amount", "log", 9.6, 0.6, 0),
    ("age", "pos", 42.0, 9.0, 0),
    ("employment_years", "pos", 9.0, 3.5, 1),
    ("open_accounts", "pos", 7.0, 2.5, 1),
    ("delinquency_index", "n", 0.0, 1.0, 3),
    ("inquiry_index", "n", 0.0, 1.0, 3),
    ("savings", "log", 8.5, 1.0, 0),
    ("utilization", "pos", 0.45, 0.1, 4),
    ("months_at_address", "pos", 60.0, 22.0, 0),
]

_OPENERS = ["applicant requests", "customer seeks", "borrower applies for", "client needs"]
# slot -> list of (phrase, effect on the logit before scaling, relative frequency)
_SLOTS: dict[str, list[tuple[str, float, float]]] = {
    "purpose": [
        ("money for home renovation", -0.3, 3), ("money for a new car", 0.0, 4),
        ("money for debt consolidation", 0.5, 4), ("money for medical bills", 0.4, 2),
        ("money for a small business", 0.6, 2), ("money for education costs", -0.1, 2),
        ("money for wedding expenses", 0.1, 1), ("money for holiday travel", 0.3, 1),
        ("money for a home purchase", -0.5, 2),
    ],
    "stability": [
        ("with a stable full time job", -0.8, 5), ("with long employment history", -0.7, 3),
        ("with steady salaried income", -0.6, 3), ("who recently changed jobs", 0.3, 2),
        ("with irregular freelance income", 0.7, 2), ("who is currently between jobs", 1.3, 1),
        ("doing seasonal contract work", 0.5, 1), ("working part time hours", 0.3, 2),
    ],
    "history": [
        ("and no missed payments", -0.8, 5), ("and a clean credit record", -0.6, 3),
        ("and one late payment last year", 0.3, 2), ("and several late payments", 0.9, 2),
        ("and a previous account in collections", 1.4, 1), ("and is new to credit", 0.2, 2),
        ("and paid off a previous loan early", -0.9, 2),
    ],
}
_CATEGORY_NAMES = ["purpose", "region", "occupation"]
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


# --------------------------------------------------------------------------- model


def _numeric_layout(n: int) -> list[tuple[str, str, float, float, int]]:
    base = _NUMERIC_BASE[:n]
    return base + [(f"feature_{j + 1:02d}", "n", 0.0, 1.0, 3) for j in range(len(base), n)]


def _grammar_words() -> list[str]:
    words = {w for o in _OPENERS for w in o.split()}
    for slot in _SLOTS.values():
        words |= {w for phrase, _, _ in slot for w in phrase.split()}
    return sorted(words)


def _noise_vocab(n: int, grammar: set[str]) -> list[str]:
    """n pronounceable pseudo-words (2-4 syllables), deterministic, disjoint from grammar."""
    sylls = [c + v for c in _CONSONANTS for v in _VOWELS]
    out: list[str] = []
    for length in (2, 3, 4):
        if len(out) >= n:
            break
        idx = np.indices((len(sylls),) * length).reshape(length, -1).T
        for row in idx:
            w = "".join(sylls[i] for i in row)
            if w not in grammar:
                out.append(w)
                if len(out) >= n:
                    break
    return out


@dataclasses.dataclass(frozen=True)
class _Model:
    layout: list
    beta: np.ndarray  # [n_numeric]
    cat_names: list[str]
    cat_probs: list[np.ndarray]
    cat_effects: list[np.ndarray]
    slot_probs: dict[str, np.ndarray]
    slot_mean: float
    slot_std: float
    noise_words: list[str]
    noise_probs: np.ndarray
    loading: float


def _build_model(cfg: SynthCreditConfig) -> _Model:
    rng = np.random.default_rng([cfg.model_seed, 2024])
    n = cfg.n_numeric
    rho = cfg.numeric_correlation
    beta = np.zeros(n)
    mag = rng.uniform(0.5, 1.0, cfg.n_informative)
    sign = np.where(np.arange(cfg.n_informative) % 2 == 0, 1.0, -1.0)
    beta[: cfg.n_informative] = mag * sign * rng.choice([-1.0, 1.0], cfg.n_informative)
    cov = rho * np.ones((n, n)) + (1 - rho) * np.eye(n)
    beta /= np.sqrt(beta @ cov @ beta)

    names, probs, effects = [], [], []
    for i, k in enumerate(cfg.cardinalities):
        names.append(_CATEGORY_NAMES[i] if i < len(_CATEGORY_NAMES) else f"category_{i + 1}")
        p = 1.0 / np.arange(1, k + 1) ** 0.8
        p = rng.permutation(p / p.sum())
        e = rng.normal(size=k)
        e = e - p @ e
        e = e / np.sqrt(p @ e**2)
        probs.append(p)
        effects.append(e)

    slot_probs, mean, var = {}, 0.0, 0.0
    for slot, items in _SLOTS.items():
        w = np.array([f for _, _, f in items], dtype=np.float64)
        w = w / w.sum()
        eff = np.array([e for _, e, _ in items])
        slot_probs[slot] = w
        mean += w @ eff
        var += w @ (eff - w @ eff) ** 2

    grammar = set(_grammar_words())
    noise = _noise_vocab(cfg.vocab_size - len(grammar), grammar)
    noise = [noise[i] for i in rng.permutation(len(noise))]
    zipf = 1.0 / np.arange(1, len(noise) + 1) ** 1.05
    return _Model(
        layout=_numeric_layout(n), beta=beta, cat_names=names, cat_probs=probs,
        cat_effects=effects, slot_probs=slot_probs, slot_mean=float(mean),
        slot_std=float(np.sqrt(var)), noise_words=noise, noise_probs=zipf / zipf.sum(),
        loading=float(np.sqrt(rho)),
    )


def _draw(cfg: SynthCreditConfig, model: _Model, rng: np.random.Generator, n: int) -> dict:
    """Draw the complete (un-blanked) observed values of n applications."""
    p = cfg.n_numeric
    common = rng.standard_normal((n, 1))
    z = model.loading * common + np.sqrt(1 - model.loading**2) * rng.standard_normal((n, p))
    x = np.empty((n, p))
    for j, (_, kind, loc, scale, dec) in enumerate(model.layout):
        v = loc + scale * z[:, j]
        # normal columns are floored at 0 (counts, years); z is recovered from the
        # observed (floored, rounded) value, so the model stays a function of the data
        if kind == "log":
            v = np.exp(v)
        elif kind == "pos":
            v = np.maximum(v, 0.0)
        x[:, j] = np.round(v, dec)
    cats = np.stack(
        [rng.choice(len(pr), size=n, p=pr) for pr in model.cat_probs], axis=1
    )
    slots = {s: rng.choice(len(pr), size=n, p=pr) for s, pr in model.slot_probs.items()}
    opener = rng.integers(0, len(_OPENERS), n)
    empty = rng.random(n) < cfg.empty_text_fraction
    T = cfg.series_len
    u0 = rng.beta(2.0, 3.0, n)
    trend = rng.normal(0.0, 0.2, n)
    vol = np.exp(np.log(0.03) + 0.5 * rng.standard_normal(n))
    t = np.arange(T) / (T - 1) - 0.5
    series = u0[:, None] + trend[:, None] * t + vol[:, None] * rng.standard_normal((n, T))
    series = np.round(np.maximum(series, 0.0), 4)
    return {"x": x, "cats": cats, "slots": slots, "opener": opener, "empty": empty,
            "series": series}


def _components(cfg: SynthCreditConfig, model: _Model, d: dict) -> dict[str, np.ndarray]:
    """The four logit parts f, g, h, k of the known model, computed from observed values."""
    x = d["x"]
    z = np.empty_like(x)
    for j, (_, kind, loc, scale, _) in enumerate(model.layout):
        v = np.log(np.maximum(x[:, j], 1e-12)) if kind == "log" else x[:, j]
        z[:, j] = (v - loc) / scale
    f = cfg.numeric_signal * (z @ model.beta + cfg.numeric_interaction * z[:, 0] * z[:, 1])
    g = sum(e[d["cats"][:, i]] for i, e in enumerate(model.cat_effects))
    g = cfg.categorical_signal * g / np.sqrt(len(model.cat_effects))
    h = sum(np.array([e for _, e, _ in _SLOTS[s]])[d["slots"][s]] for s in _SLOTS)
    h = cfg.text_signal * (h - model.slot_mean) / model.slot_std
    h = np.where(d["empty"], 0.0, h)
    s = d["series"]
    T = s.shape[1]
    t = np.arange(T) / (T - 1) - 0.5
    slope = (s - s.mean(1, keepdims=True)) @ t / (t @ t)
    vol = np.diff(s, axis=1).std(axis=1) / np.sqrt(2.0)
    k = slope / 0.2 + 0.5 * (np.log(vol + 1e-4) - np.log(0.03)) / 0.5
    k = cfg.series_signal * (k + 0.5 * (s.mean(1) - 0.4) / 0.2)
    return {"numeric": f, "categorical": g, "text": h, "series": k}


def _intercept(target_rate: float, logit: np.ndarray) -> float:
    lo, hi = -30.0, 30.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if _sigmoid(mid + logit).mean() > target_rate:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# --------------------------------------------------------------------------- AUC


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUC of ``scores`` for 0/1 ``labels`` (ties count one half)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def expected_auc(pd_true: np.ndarray) -> float:
    """Expected AUC of the score ``pd_true`` when labels ~ Bernoulli(pd_true), i != j pairs."""
    p = np.sort(np.asarray(pd_true, dtype=np.float64))
    q = 1.0 - p
    # distinct score values: positives at p_i beat negatives at strictly smaller scores
    uniq, inv = np.unique(p, return_inverse=True)
    neg_at = np.bincount(inv, weights=q)
    pos_at = np.bincount(inv, weights=p)
    neg_below = np.concatenate([[0.0], np.cumsum(neg_at)[:-1]])
    self_pairs = float((p * q).sum())
    tie_pairs = float((pos_at * neg_at).sum()) - self_pairs
    num = float((pos_at * neg_below).sum()) + 0.5 * tie_pairs
    den = float(p.sum() * q.sum()) - self_pairs
    return num / den if den > 0 else float("nan")


# --------------------------------------------------------------------------- public


def generate_credit(cfg: SynthCreditConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Draw ``cfg.rows`` applications; returns (DataFrame, metadata dict).

    Columns: ``application_id``, the numeric features, the categorical features (strings,
    None = missing), ``description`` (text), ``ts_balance_m01..`` (monthly balance as a
    fraction of the credit limit), ``default`` (0/1) and ``true_pd``. The metadata holds
    every parameter, the known model, ``bayes_auc`` (AUC of true_pd vs the labels),
    ``bayes_auc_expected`` (its expectation over label draws) and the column lists.
    """
    model = _build_model(cfg)
    ref = _draw(cfg, model, np.random.default_rng([cfg.model_seed, 77]), _REFERENCE_ROWS)
    intercept = _intercept(cfg.default_rate, sum(_components(cfg, model, ref).values()))

    rng = np.random.default_rng([cfg.seed, 1])
    n = cfg.rows
    d = _draw(cfg, model, rng, n)
    comps = _components(cfg, model, d)
    logit = intercept + sum(comps.values())
    true_pd = _sigmoid(logit)
    y = (rng.random(n) < true_pd).astype(np.int64)

    cols: dict[str, Any] = {ID_COLUMN: [f"A{i + 1:07d}" for i in range(n)]}
    numeric_names = [name for name, *_ in model.layout]
    x = d["x"].copy()
    x[rng.random(x.shape) < cfg.missing_fraction] = np.nan
    for j, name in enumerate(numeric_names):
        cols[name] = x[:, j]
    miss_cat = rng.random(d["cats"].shape) < cfg.missing_category_fraction
    for i, name in enumerate(model.cat_names):
        labels = np.array([f"{name}_{v + 1:02d}" for v in range(len(model.cat_probs[i]))],
                          dtype=object)
        col = labels[d["cats"][:, i]]
        col[miss_cat[:, i]] = None
        cols[name] = col
    cols[TEXT_COLUMN] = _render_text(cfg, model, d, rng)
    series_names = [f"ts_balance_m{t + 1:02d}" for t in range(cfg.series_len)]
    s = d["series"].copy()
    s[rng.random(s.shape) < cfg.series_missing_fraction] = np.nan
    for t, name in enumerate(series_names):
        cols[name] = s[:, t]
    cols[TARGET] = y
    cols[TRUE_PD] = np.round(true_pd, 6)
    df = pd.DataFrame(cols)

    meta = {
        "generator": GENERATOR,
        "config": _plain(dataclasses.asdict(cfg)),
        "seed": cfg.seed,
        "model_seed": cfg.model_seed,
        "rows": n,
        "default_rate_target": cfg.default_rate,
        "default_rate": float(y.mean()),
        "mean_true_pd": float(true_pd.mean()),
        "bayes_auc": roc_auc(true_pd, y),
        "bayes_auc_expected": expected_auc(true_pd),
        "intercept": intercept,
        "component_std": {k: float(v.std()) for k, v in comps.items()},
        "columns": {
            "id": ID_COLUMN,
            "numeric": numeric_names,
            "categorical": list(model.cat_names),
            "text": TEXT_COLUMN,
            "time_series": series_names,
            "target": TARGET,
            "positive": "1",
            "true_pd": TRUE_PD,
        },
        "text": {
            "vocab_size": cfg.vocab_size,
            "grammar_words": len(_grammar_words()),
            "noise_words": len(model.noise_words),
            "max_words": cfg.text_len,
        },
        "known_model": _describe_model(cfg, model),
        "notes": "true_pd is computed from the values before cells were blanked; "
        "bayes_auc = AUC(true_pd, default).",
    }
    return df, meta


def _render_text(cfg: SynthCreditConfig, model: _Model, d: dict, rng: np.random.Generator):
    n = len(d["opener"])
    slot_words = {s: [p.split() for p, _, _ in items] for s, items in _SLOTS.items()}
    opener_words = [o.split() for o in _OPENERS]
    template_max = max(len(w) for w in opener_words) + sum(
        max(len(w) for w in ws) for ws in slot_words.values()
    )
    max_noise = max(cfg.text_len - template_max, 0)
    n_noise = rng.integers(0, max_noise + 1, n)
    noise_ids = rng.choice(len(model.noise_words), size=(n, max(max_noise, 1)),
                           p=model.noise_probs)
    noise = np.asarray(model.noise_words, dtype=object)
    out = []
    for i in range(n):
        if d["empty"][i]:
            out.append("")
            continue
        words = list(opener_words[d["opener"][i]])
        for s in _SLOTS:
            words += slot_words[s][d["slots"][s][i]]
        words += list(noise[noise_ids[i, : n_noise[i]]])
        out.append(" ".join(words))
    return np.array(out, dtype=object)


def _describe_model(cfg: SynthCreditConfig, model: _Model) -> dict[str, Any]:
    return {
        "logit": "intercept + f(numeric) + g(categorical) + h(text) + k(series)",
        "numeric": {
            "formula": "numeric_signal * (sum_j beta_j z_j + numeric_interaction * z_0 * z_1)",
            "z": "(value - location) / scale; for kind 'log': (log(value) - location) / scale",
            "kinds": "n: location + scale*z; pos: max(0, location + scale*z); "
            "log: exp(location + scale*z); then rounded to `decimals`",
            "features": [
                {"name": name, "kind": kind, "location": loc, "scale": scale,
                 "decimals": dec, "beta": float(b)}
                for (name, kind, loc, scale, dec), b in zip(model.layout, model.beta, strict=True)
            ],
        },
        "categorical": {
            "formula": "categorical_signal * sum_i effect_i[value_i] / sqrt(C)",
            "features": {
                name: {f"{name}_{v + 1:02d}": {"probability": float(p), "effect": float(e)}
                       for v, (p, e) in enumerate(zip(pr, ef, strict=True))}
                for name, pr, ef in zip(model.cat_names, model.cat_probs, model.cat_effects,
                                        strict=True)
            },
        },
        "text": {
            "formula": "text_signal * (sum of slot phrase effects - mean) / std; 0 if empty",
            "template": "<opener> <purpose> <stability> <history> <noise words>",
            "slot_mean": model.slot_mean,
            "slot_std": model.slot_std,
            "openers": list(_OPENERS),
            "slots": {s: [{"phrase": p, "effect": e, "probability": float(pr)}
                          for (p, e, _), pr in zip(items, model.slot_probs[s], strict=True)]
                      for s, items in _SLOTS.items()},
        },
        "series": {
            "formula": "series_signal * (slope/0.2 + 0.5*(log(vol+1e-4) - log(0.03))/0.5 "
            "+ 0.5*(mean - 0.4)/0.2)",
            "slope": "OLS slope of the balance on t/(T-1) - 0.5",
            "vol": "std(diff(balance)) / sqrt(2)",
            "draw": "max(0, u0 + trend*(t/(T-1)-0.5) + vol*eps), u0~Beta(2,3), "
            "trend~N(0,0.2), log vol~N(log 0.03, 0.5), rounded to 4 decimals",
        },
    }


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


def _finite(v: Any) -> Any:
    """NaN/inf -> None (JSON null), e.g. an AUC of a file with one class."""
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def meta_path(data_path: str | Path) -> Path:
    """The metadata beside a generated file: ``credit.csv`` -> ``credit.csv.meta.json``.

    Same convention as the market generator.
    """
    p = Path(data_path)
    return p.with_name(p.name + ".meta.json")


def write_credit(df: pd.DataFrame, meta: dict[str, Any], path: str | Path) -> tuple[Path, Path]:
    """Write the table (``.csv`` or ``.parquet``) and its ``.meta.json``; returns both paths."""

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UserError(f"--out {p}: use a .csv or .parquet file name")
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        df.to_csv(p, index=False, lineterminator="\n")
    else:
        df.to_parquet(p, index=False)
    m = meta_path(p)
    m.write_text(json.dumps(_finite(meta), indent=2, allow_nan=False) + "\n")
    return p, m


def read_credit_meta(data_path: str | Path) -> dict[str, Any] | None:
    """The generator metadata beside a data file, or None if there is none."""
    m = meta_path(data_path)
    if not m.is_file():
        return None
    return json.loads(m.read_text())


# --------------------------------------------------------------------------- german-like

GERMAN_NUMERIC = ["duration", "credit_amount", "installment_commitment", "residence_since",
                  "age", "existing_credits", "num_dependents"]
GERMAN_CATEGORICAL: dict[str, list[str]] = {
    "checking_status": ["<0", "0<=X<200", "no checking", ">=200"],
    "credit_history": ["critical/other existing credit", "existing paid", "delayed previously",
                       "no credits/all paid", "all paid"],
    "purpose": ["radio/tv", "education", "furniture/equipment", "new car", "used car",
                "business", "domestic appliance", "repairs", "other", "retraining"],
    "savings_status": ["no known savings", "<100", "500<=X<1000", ">=1000", "100<=X<500"],
    "employment": [">=7", "1<=X<4", "4<=X<7", "unemployed", "<1"],
    "personal_status": ["male single", "female div/dep/mar", "male div/sep", "male mar/wid"],
    "other_parties": ["none", "guarantor", "co applicant"],
    "property_magnitude": ["real estate", "life insurance", "no known property", "car"],
    "other_payment_plans": ["none", "bank", "stores"],
    "housing": ["own", "free", "rent"],
    "job": ["skilled", "unskilled resident", "high qualif/self emp/mgmt",
            "unemp/unskilled non res"],
    "own_telephone": ["yes", "none"],
    "foreign_worker": ["yes", "no"],
}


def make_german_like(n: int = 200, seed: int = 0, bad_rate: float = 0.3) -> pd.DataFrame:
    """A SYNTHETIC table shaped like the classic German credit CSV (not the real data).

    7 integer numeric columns, 13 string categorical columns and ``class`` in
    {good, bad} (about ``bad_rate`` bad, drawn from a small logistic model). Used for
    ``tests/data/german_like.csv`` (``make_german_like(200, 0).to_csv(path, index=False)``).
    """
    rng = np.random.default_rng([seed, 49])
    cols: dict[str, Any] = {
        "duration": rng.choice(np.arange(4, 73, 2), n),
        "credit_amount": np.round(np.exp(rng.normal(7.8, 0.75, n))).astype(np.int64),
        "installment_commitment": rng.integers(1, 5, n),
        "residence_since": rng.integers(1, 5, n),
        "age": np.clip(np.round(rng.gamma(7.0, 5.0, n)), 19, 75).astype(np.int64),
        "existing_credits": rng.choice([1, 2, 3, 4], n, p=[0.63, 0.33, 0.03, 0.01]),
        "num_dependents": rng.choice([1, 2], n, p=[0.85, 0.15]),
    }
    logit = 0.03 * (cols["duration"] - 20) - 0.02 * (cols["age"] - 35)
    for name, values in GERMAN_CATEGORICAL.items():
        p = 1.0 / np.arange(1, len(values) + 1)
        idx = rng.choice(len(values), n, p=p / p.sum())
        cols[name] = np.asarray(values, dtype=object)[idx]
        if name in ("checking_status", "credit_history", "savings_status"):
            logit = logit + rng.normal(0, 0.8, len(values))[idx]
    df = pd.DataFrame(cols)
    b = _intercept(bad_rate, logit)
    bad = rng.random(n) < _sigmoid(b + logit)
    df["class"] = np.where(bad, "bad", "good")
    return df
