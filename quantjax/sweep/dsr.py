"""The Deflated Sharpe Ratio (Bailey & Lopez de Prado 2014), float64 on host.

Bailey, D. H. and Lopez de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting for
Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management
40(5), 94-107. All Sharpe ratios here are per period (not annualized).

- Expected maximum Sharpe of ``N`` unskilled trials whose Sharpe ratios have variance ``V``
  (eq. for ``SR_0``)::

      SR_0 = sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e))),   g = 0.5772...

- DSR = PSR(SR_0): the probability that the true Sharpe of the selected trial exceeds
  ``SR_0``, given ``T`` returns with skewness ``g3`` and (non-excess) kurtosis ``g4``::

      DSR = Z((SR - SR_0) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

EULER_GAMMA = 0.5772156649015329


def expected_max_sharpe(n_trials: int, var_sharpe: float) -> float:
    """``SR_0``: expected maximum of ``n_trials`` Sharpe ratios with zero mean and variance
    ``var_sharpe`` (per period). 0 for a single trial."""
    if n_trials < 2 or not var_sharpe > 0:
        return 0.0
    z1 = stats.norm.ppf(1.0 - 1.0 / n_trials)
    z2 = stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(var_sharpe) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2))


def psr_from_moments(sharpe: float, sr_benchmark: float, n_obs: int, skew: float,
                     kurtosis: float) -> float:
    """Probabilistic Sharpe ratio from moments (``kurtosis`` non-excess, 3 for normal)."""
    if n_obs < 2 or not np.isfinite(sharpe):
        return math.nan
    den = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if not den > 0:
        return math.nan
    z = (sharpe - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(den)
    return float(stats.norm.cdf(z))


def deflated_sharpe_ratio(sharpe: float, n_trials: int, var_sharpe: float, n_obs: int,
                          skew: float = 0.0, kurtosis: float = 3.0) -> dict:
    """DSR of a selected trial. Returns ``{"dsr", "sr0", "sharpe", "n_trials", "var_sharpe"}``
    (per-period Sharpe ratios)."""
    sr0 = expected_max_sharpe(n_trials, var_sharpe)
    return {"dsr": psr_from_moments(sharpe, sr0, n_obs, skew, kurtosis), "sr0": sr0,
            "sharpe": float(sharpe), "n_trials": int(n_trials), "var_sharpe": float(var_sharpe)}


def dsr_of_best(returns: np.ndarray, trial_sharpes: np.ndarray) -> dict:
    """DSR of the trial with returns ``returns[T]`` selected among trials whose per-period
    Sharpe ratios are ``trial_sharpes[N]`` (NaN trials are ignored; variance with ddof=1)."""
    r = np.asarray(returns, np.float64)
    r = r[np.isfinite(r)]
    sr = np.asarray(trial_sharpes, np.float64)
    sr = sr[np.isfinite(sr)]
    n = len(sr)
    var = float(np.var(sr, ddof=1)) if n > 1 else 0.0
    sd = float(np.std(r, ddof=1)) if len(r) > 1 else 0.0
    best = float(np.mean(r) / sd) if sd > 0 else math.nan
    skew = float(stats.skew(r)) if sd > 0 else 0.0
    kurt = float(stats.kurtosis(r, fisher=False)) if sd > 0 else 3.0
    out = deflated_sharpe_ratio(best, n, var, len(r), skew, kurt)
    out.update(skew=skew, kurtosis=kurt, n_obs=len(r))
    return out
