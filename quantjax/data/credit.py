"""Schema-driven credit table loader, the fitted encoder and stratified splits.

Flow::

    schema = quantjax.config.load(CreditSchema, "configs/credit_schema_german.yaml")
    df = read_credit_table("applications.csv", schema)          # validated, normalized
    tr, va, te = stratified_split(target_array(df, schema), seed=0)
    enc = fit_encoder(df.iloc[tr], schema)                      # training split only
    batch = encode(enc, df.iloc[va])                            # CreditBatch of numpy arrays

Value rules (documented in ``docs/credit_data.md``):

- numeric / time-series: a missing value is imputed with the training median. Numeric
  features that had any missing value in training also get a 0/1 missing-indicator column.
  Numeric features are standardized with the training mean/std of the observed values
  (std 0 -> 1). The time series is standardized with ONE mean/std pooled over all its
  columns so the shape of each series (trend, volatility) is preserved.
- categorical: values are compared as strings; index 0 = unseen in training,
  1 = missing, known categories from 2 in sorted order.
- text: lower-cased, split on non-alphanumerics; vocabulary built on the training split:
  0 = PAD, 1 = OOV, then by frequency (ties alphabetical); truncated / padded to
  ``text_len``; missing or empty text is all PAD.
- target: 1 = the schema's ``positive`` label, 0 = the other label, -1 = unknown
  (target column absent or value missing; only allowed when a target is not required).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from quantjax.config.credit_schema import CreditSchema
from quantjax.errors import DataError, UserError

PAD, OOV = "<pad>", "<oov>"
UNSEEN_INDEX, MISSING_INDEX, FIRST_CATEGORY_INDEX = 0, 1, 2
ENCODER_FORMAT = "quantjax.credit_encoder/1"
_TOKEN_RE = re.compile(r"[^\W_]+")


class CreditBatch(NamedTuple):
    """Encoded applications (numpy arrays), the contract the credit model consumes.

    numeric:     float32 [N, Dn]  standardized values, then the missing indicators
    categorical: int32   [N, C]   0 = unseen, 1 = missing, known categories from 2
    text:        int32   [N, Lt]  token ids, 0 = PAD, 1 = OOV
    time_series: float32 [N, Tts, 1]  standardized series (Tts may be 0)
    target:      int32   [N]      1 = default, 0 = not, -1 = unknown
    """

    numeric: np.ndarray
    categorical: np.ndarray
    text: np.ndarray
    time_series: np.ndarray
    target: np.ndarray


# --------------------------------------------------------------------------- reading


def read_credit_table(
    path: str | Path, schema: CreditSchema, *, require_target: bool = True
) -> pd.DataFrame:
    """Read a CSV or Parquet applications file and validate it against ``schema``.

    Returns all columns of the file; the schema's columns are normalized as in
    :func:`check_credit_frame`. Raises DataError naming the column (and row) on a
    missing column or a value of the wrong type. ``require_target=False`` is for scoring
    files, where the target column may be absent.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"credit file not found: {p}")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        elif p.name.lower().endswith((".csv", ".csv.gz", ".txt")):
            # Categories, text and target are read as strings so codes like "007" survive.
            as_str = list(schema.categorical) + [schema.target] + list(schema.group_columns)
            if schema.text is not None:
                as_str.append(schema.text)
            df = pd.read_csv(p, dtype=dict.fromkeys(as_str, object), low_memory=False)
        else:
            raise DataError(f"{p}: unsupported file type '{suffix}' (use .csv or .parquet)")
    except pd.errors.EmptyDataError:
        raise DataError(f"{p}: the file is empty") from None
    except (pd.errors.ParserError, OSError, ValueError) as e:
        msg = str(e).replace("\n", " ")
        raise DataError(f"{p}: cannot read the file: {msg}") from None
    return check_credit_frame(df, schema, require_target=require_target)


def check_credit_frame(
    df: pd.DataFrame, schema: CreditSchema, *, require_target: bool = True
) -> pd.DataFrame:
    """Validate and normalize the schema's columns of ``df`` (a new frame is returned).

    After this, numeric and time-series columns are float64 (NaN = missing; booleans become
    1/0), categorical and text columns are object arrays of ``str`` or ``None`` (integral
    floats such as ``3.0`` become ``"3"``, booleans ``"true"``/``"false"``), and the target
    column (if present) is object ``str``/``None``. Other columns are kept untouched.
    """
    if len(df) == 0:
        raise DataError("the credit table has no rows")
    missing = [c for c in schema.columns if c not in df.columns]
    if missing:
        more = f" (and {len(missing) - 1} more: {', '.join(missing[1:6])})" if len(missing) > 1 else ""
        raise DataError(f"missing column '{missing[0]}' required by the schema{more}")
    if require_target and schema.target not in df.columns:
        raise DataError(f"missing target column '{schema.target}' required by the schema")
    out = df.copy()
    for c in (*schema.numeric, *schema.time_series):
        out[c] = _numeric_column(df[c], c)
    for c in schema.categorical:
        out[c] = _category_column(df[c], c)
    if schema.text is not None:
        out[schema.text] = _text_column(df[schema.text], schema.text)
    if schema.target in df.columns:
        out[schema.target] = _target_column(df[schema.target], schema, require_target)
    inputs = set(schema.columns)
    for c in schema.group_columns:  # segments / protected: strings, missing = None
        if c in inputs:
            continue
        if c in df.columns:
            out[c] = _category_column(df[c], c)
        elif require_target:
            role = "segments" if c in schema.segments else "protected"
            raise DataError(f"missing column '{c}' named in the schema's {role}")
    return out


def _show(v: Any) -> str:
    """A value for an error message: plain Python (``0.5``, ``'x'``), not ``np.float64(0.5)``."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def _numeric_column(s: pd.Series, name: str) -> pd.Series:
    # booleans (a bool column, or pandas' CSV true/false) are read as 1/0 (docs/credit_data.md)
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("float64")
    if pd.api.types.is_numeric_dtype(s.dtype):
        values = s.astype("float64")
    else:
        values = pd.to_numeric(s, errors="coerce").astype("float64")
        bad = values.isna().to_numpy() & ~s.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"column '{name}' must be numeric: value {_show(s.iloc[i])} at row {i} "
                f"({int(bad.sum())} non-numeric values)"
            )
    inf = np.isinf(values.to_numpy())
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise DataError(f"column '{name}': infinite value at row {i}")
    return values


def _str_values(s: pd.Series, name: str, role: str) -> pd.Series:
    """Values as ``str`` (None = missing); integral floats become ints, bools lower-case."""
    isna = s.isna().to_numpy()
    if pd.api.types.is_bool_dtype(s.dtype):
        vals = ["true" if v else "false" for v in s.to_numpy()]
    elif pd.api.types.is_float_dtype(s.dtype):
        arr = s.to_numpy(dtype="float64", na_value=np.nan)
        frac = ~isna & (np.mod(arr, 1.0) != 0)
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise DataError(
                f"column '{name}' is {role} but holds non-integer numbers "
                f"(e.g. {_show(arr[i])} at row {i}); list it as numeric instead"
            )
        vals = [str(int(v)) if not m else None for v, m in zip(arr, isna, strict=True)]
    else:
        vals = [_one_str(v) for v in s.to_numpy(dtype=object)]
    out = pd.Series(np.array(vals, dtype=object), index=s.index, dtype=object)
    out[isna] = None
    return out


def _one_str(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _category_column(s: pd.Series, name: str) -> pd.Series:
    return _str_values(s, name, "categorical")


def _text_column(s: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s.dtype) and not s.isna().all():
        raise DataError(f"column '{name}' is the text column but holds numbers (dtype {s.dtype})")
    return _str_values(s, name, "text")


def _target_column(s: pd.Series, schema: CreditSchema, require_target: bool) -> pd.Series:
    name, positive = schema.target, str(schema.positive)
    if pd.api.types.is_float_dtype(s.dtype):
        arr = s.to_numpy(dtype="float64", na_value=np.nan)
        frac = ~np.isnan(arr) & (np.mod(arr, 1.0) != 0)
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise DataError(
                f"target column '{name}': value {_show(arr[i])} at row {i} is not a class label"
            )
    values = _str_values(s, name, "the target")
    isna = values.isna().to_numpy()
    if require_target and isna.any():
        i = int(np.flatnonzero(isna)[0])
        raise DataError(f"target column '{name}': missing value at row {i}")
    labels = sorted(set(values[~isna]))
    if len(labels) > 2:
        raise DataError(
            f"target column '{name}' has {len(labels)} distinct values "
            f"({', '.join(labels[:6])}); expected 2 labels, positive '{positive}'"
        )
    if require_target and positive not in labels:
        raise DataError(
            f"positive label '{positive}' not found in target column '{name}' "
            f"(values: {', '.join(labels) or 'none'})"
        )
    if positive not in labels and len(labels) == 2:
        raise DataError(
            f"positive label '{positive}' is neither of the two values of target column "
            f"'{name}' ({', '.join(labels)})"
        )
    return values


def target_array(df: pd.DataFrame, schema: CreditSchema) -> np.ndarray:
    """int32 [N]: 1 = positive label, 0 = other, -1 = unknown (column absent or missing)."""
    if schema.target not in df.columns:
        return np.full(len(df), -1, dtype=np.int32)
    col = df[schema.target]
    isna = col.isna().to_numpy()
    vals = col.to_numpy(dtype=object)
    positive = str(schema.positive)
    pos = np.array([_one_str(v) == positive for v in vals], dtype=bool)
    out = np.where(pos, 1, 0).astype(np.int32)
    out[isna] = -1
    return out


# --------------------------------------------------------------------------- encoder


def tokenize(text: str | None) -> list[str]:
    """Lower-case and split on non-alphanumerics (underscore counts as a separator)."""
    if not text:
        return []
    return _TOKEN_RE.findall(text.lower())


@dataclasses.dataclass(frozen=True)
class CreditEncoder:
    """Fitted on the training split; serializable with :meth:`to_dict` / :meth:`from_dict`.

    All fields are plain Python values (tuples of str/float/int), so ``to_dict()`` is
    JSON-able and ``from_dict(json.loads(json.dumps(enc.to_dict())))`` equals ``enc``.
    """

    numeric_columns: tuple[str, ...]
    numeric_median: tuple[float, ...]
    numeric_mean: tuple[float, ...]
    numeric_std: tuple[float, ...]
    indicator_columns: tuple[str, ...]
    categorical_columns: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]
    text_column: str | None
    vocab: tuple[str, ...]
    text_len: int
    series_columns: tuple[str, ...]
    series_median: tuple[float, ...]
    series_mean: float
    series_std: float
    target: str
    positive: str

    # -- derived attributes the model and the scorer use
    @property
    def schema(self) -> CreditSchema:
        return CreditSchema(
            numeric=self.numeric_columns,
            categorical=self.categorical_columns,
            text=self.text_column,
            time_series=self.series_columns,
            target=self.target,
            positive=self.positive,
        )

    @property
    def numeric_names(self) -> tuple[str, ...]:
        """Names of the Dn numeric columns: the features, then ``<name>_missing``."""
        return self.numeric_columns + tuple(f"{c}_missing" for c in self.indicator_columns)

    @property
    def categorical_names(self) -> tuple[str, ...]:
        return self.categorical_columns

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Embedding table size per categorical feature (incl. the unseen/missing slots)."""
        return tuple(FIRST_CATEGORY_INDEX + len(c) for c in self.categories)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def series_len(self) -> int:
        return len(self.series_columns)

    @property
    def numeric_dim(self) -> int:
        return len(self.numeric_columns) + len(self.indicator_columns)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: _listify(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"format": ENCODER_FORMAT, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CreditEncoder:
        if not isinstance(d, dict) or d.get("format") != ENCODER_FORMAT:
            raise UserError(
                f"not a credit encoder (expected format '{ENCODER_FORMAT}', "
                f"got {d.get('format') if isinstance(d, dict) else type(d).__name__!r})"
            )
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in d]
        if missing:
            raise UserError(f"credit encoder: missing key '{missing[0]}'")
        kw = {n: d[n] for n in names}
        for n in ("numeric_columns", "indicator_columns", "categorical_columns", "vocab",
                  "series_columns"):
            kw[n] = tuple(str(v) for v in kw[n])
        for n in ("numeric_median", "numeric_mean", "numeric_std", "series_median"):
            kw[n] = tuple(float(v) for v in kw[n])
        kw["categories"] = tuple(tuple(str(v) for v in c) for c in kw["categories"])
        kw["series_mean"], kw["series_std"] = float(kw["series_mean"]), float(kw["series_std"])
        kw["text_len"] = int(kw["text_len"])
        kw["positive"] = str(kw["positive"])
        return cls(**kw)


def _listify(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_listify(x) for x in v]
    return v


def fit_encoder(
    df_train: pd.DataFrame,
    schema: CreditSchema,
    max_text_len: int = 32,
    vocab_size: int = 10_000,
    min_freq: int = 1,
) -> CreditEncoder:
    """Fit the encoder on the TRAINING split only.

    ``vocab_size`` caps the vocabulary INCLUDING PAD and OOV (so at most
    ``vocab_size - 2`` words); words seen fewer than ``min_freq`` times map to OOV.
    Raises DataError if a numeric or series column has no value in the training split.
    """
    if max_text_len < 1:
        raise UserError(f"max_text_len: must be >= 1, got {max_text_len}")
    if vocab_size < 2:
        raise UserError(f"vocab_size: must be >= 2 (PAD and OOV), got {vocab_size}")
    df = check_credit_frame(df_train, schema, require_target=False)

    med, mean, std, indicators = [], [], [], []
    for c in schema.numeric:
        x = df[c].to_numpy(dtype=np.float64)
        obs = x[~np.isnan(x)]
        if obs.size == 0:
            raise DataError(f"numeric column '{c}' has no values in the training split")
        med.append(float(np.median(obs)))
        mean.append(float(obs.mean()))
        sd = float(obs.std())
        std.append(sd if sd > 0 else 1.0)
        if obs.size < x.size:
            indicators.append(c)

    categories = []
    for c in schema.categorical:
        vals = df[c]
        categories.append(tuple(sorted(set(vals[vals.notna()]))))

    vocab: tuple[str, ...] = (PAD, OOV)
    text_len = 0
    if schema.text is not None:
        counts: Counter[str] = Counter()
        for t in df[schema.text]:
            counts.update(tokenize(t))
        words = sorted(
            (w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w)
        )
        vocab = (PAD, OOV, *words[: vocab_size - 2])
        text_len = int(max_text_len)

    s_med: list[float] = []
    s_mean, s_std = 0.0, 1.0
    if schema.time_series:
        block = df[list(schema.time_series)].to_numpy(dtype=np.float64)
        for j, c in enumerate(schema.time_series):
            obs = block[:, j][~np.isnan(block[:, j])]
            if obs.size == 0:
                raise DataError(f"time-series column '{c}' has no values in the training split")
            s_med.append(float(np.median(obs)))
        obs_all = block[~np.isnan(block)]
        s_mean = float(obs_all.mean())
        sd = float(obs_all.std())
        s_std = sd if sd > 0 else 1.0

    return CreditEncoder(
        numeric_columns=tuple(schema.numeric),
        numeric_median=tuple(med),
        numeric_mean=tuple(mean),
        numeric_std=tuple(std),
        indicator_columns=tuple(indicators),
        categorical_columns=tuple(schema.categorical),
        categories=tuple(categories),
        text_column=schema.text,
        vocab=vocab,
        text_len=text_len,
        series_columns=tuple(schema.time_series),
        series_median=tuple(s_med),
        series_mean=s_mean,
        series_std=s_std,
        target=schema.target,
        positive=str(schema.positive),
    )


def encode(encoder: CreditEncoder, df: pd.DataFrame) -> CreditBatch:
    """Encode applications with a fitted encoder; never drops a row.

    The target column may be absent (scoring): ``target`` is then all -1.
    """
    schema = encoder.schema
    df = check_credit_frame(df, schema, require_target=False)
    n = len(df)

    # numeric: impute median, standardize, then indicators
    dn = encoder.numeric_dim
    numeric = np.zeros((n, dn), dtype=np.float32)
    if encoder.numeric_columns:
        x = df[list(encoder.numeric_columns)].to_numpy(dtype=np.float64)
        miss = np.isnan(x)
        x = np.where(miss, np.asarray(encoder.numeric_median), x)
        numeric[:, : x.shape[1]] = (x - np.asarray(encoder.numeric_mean)) / np.asarray(
            encoder.numeric_std
        )
        col = {c: j for j, c in enumerate(encoder.numeric_columns)}
        for k, c in enumerate(encoder.indicator_columns):
            numeric[:, x.shape[1] + k] = miss[:, col[c]]

    # categorical: 0 unseen, 1 missing, known from 2
    categorical = np.zeros((n, len(encoder.categorical_columns)), dtype=np.int32)
    for j, (c, cats) in enumerate(zip(encoder.categorical_columns, encoder.categories, strict=True)):
        lookup = {v: FIRST_CATEGORY_INDEX + i for i, v in enumerate(cats)}
        vals = df[c].to_numpy(dtype=object)
        categorical[:, j] = [
            MISSING_INDEX if v is None else lookup.get(v, UNSEEN_INDEX) for v in vals
        ]

    # text: PAD 0, OOV 1
    text = np.zeros((n, encoder.text_len), dtype=np.int32)
    if encoder.text_column is not None and encoder.text_len > 0:
        index = {w: i for i, w in enumerate(encoder.vocab)}
        index.pop(PAD, None)
        index.pop(OOV, None)
        L = encoder.text_len
        for i, t in enumerate(df[encoder.text_column].to_numpy(dtype=object)):
            toks = tokenize(t)[:L]
            if toks:
                text[i, : len(toks)] = [index.get(w, 1) for w in toks]

    # time series: impute per-column median, pooled standardization
    ts = np.zeros((n, encoder.series_len, 1), dtype=np.float32)
    if encoder.series_columns:
        s = df[list(encoder.series_columns)].to_numpy(dtype=np.float64)
        s = np.where(np.isnan(s), np.asarray(encoder.series_median), s)
        ts[:, :, 0] = (s - encoder.series_mean) / encoder.series_std

    return CreditBatch(
        numeric=numeric,
        categorical=categorical,
        text=text,
        time_series=ts,
        target=target_array(df, schema),
    )


# --------------------------------------------------------------------------- splits


def _check_binary(target: np.ndarray) -> np.ndarray:
    y = np.asarray(target)
    if y.ndim != 1:
        raise UserError(f"target must be 1-D, got shape {y.shape}")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"target must be 0/1 for a stratified split: value {_show(y[i])} at row {i}")
    return y.astype(np.int64)


def stratified_split(
    target: np.ndarray, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0
) -> tuple[np.ndarray, ...]:
    """Split row indices into parts with the class ratio of ``target`` (0/1) kept.

    Returns one sorted int64 index array per fraction (train, val, test by default).
    Within each class the rows are shuffled with ``seed`` and cut at the rounded
    cumulative fractions. Deterministic for a given seed.
    """
    y = _check_binary(target)
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.ndim != 1 or fr.size < 2 or (fr < 0).any() or abs(fr.sum() - 1.0) > 1e-6:
        raise UserError(f"fractions must be >= 0 and sum to 1, got {np.ravel(fr).tolist()}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fr]
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        idx = idx[rng.permutation(idx.size)]
        cuts = np.rint(np.cumsum(fr) * idx.size).astype(int)
        cuts[-1] = idx.size
        start = 0
        for k, stop in enumerate(cuts):
            parts[k].append(idx[start:stop])
            start = stop
    return tuple(np.sort(np.concatenate(p)).astype(np.int64) for p in parts)


def stratified_kfold(target: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """K stratified folds: a list of ``(train_idx, test_idx)`` sorted int64 arrays.

    Every row is in exactly one test fold; class ratios are kept per fold. Raises
    DataError if a class has fewer rows than ``k``.
    """
    y = _check_binary(target)
    if k < 2:
        raise UserError(f"k must be >= 2 for k-fold cross-validation, got {k}")
    rng = np.random.default_rng(seed)
    fold = np.empty(y.size, dtype=np.int64)
    offset = 0
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        if 0 < idx.size < k:
            raise DataError(f"class {cls} has {idx.size} rows, fewer than k={k} folds")
        idx = idx[rng.permutation(idx.size)]
        fold[idx] = (np.arange(idx.size) + offset) % k
        offset += idx.size
    all_idx = np.arange(y.size, dtype=np.int64)
    return [(all_idx[fold != f], all_idx[fold == f]) for f in range(k)]
