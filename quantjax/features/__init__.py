"""JAX-native HFT features, labels, windows and leakage-safe splits (see docs/features.md)."""

from quantjax.features.batch import compute_batch, compute_symbol, feature_names
from quantjax.features.labels import Labels, make_labels
from quantjax.features.market_features import FeatureSet, compute_features
from quantjax.features.scaler import Scaler, apply_scaler, fit_scaler
from quantjax.features.windows import gather_windows

__all__ = [
    "FeatureSet",
    "Labels",
    "Scaler",
    "apply_scaler",
    "compute_batch",
    "compute_features",
    "compute_symbol",
    "feature_names",
    "fit_scaler",
    "gather_windows",
    "make_labels",
]
