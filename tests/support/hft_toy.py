"""A small stand-in HFTDataset (same fields as quantjax.hft.dataset.HFTDataset) with a
planted, learnable signal; used by the HFT model / trainer tests and the resume subprocess."""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np


class ToyScaler(NamedTuple):
    mean: np.ndarray
    std: np.ndarray


class ToyHFTDataset(NamedTuple):
    features: np.ndarray
    valid: np.ndarray
    direction: np.ndarray
    future_return: np.ndarray
    future_vol: np.ndarray
    label_valid: np.ndarray
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    feature_names: tuple
    scaler: ToyScaler
    notes: tuple


def toy_dataset(S=2, T=300, F=4, seq_len=8, horizon=2, threshold=0.5, seed=0) -> ToyHFTDataset:
    """Direction of the future return is driven by features 0 and 1 (plus noise)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((S, T, F)).astype(np.float32)
    signal = x[:, :, 0] + 0.5 * np.roll(x[:, :, 1], 2, axis=1)
    fr = (signal + 0.3 * rng.standard_normal((S, T))).astype(np.float32)
    fv = (np.abs(x[:, :, 2]) + 0.5).astype(np.float32)
    direction = np.where(fr > threshold, 2, np.where(fr < -threshold, 0, 1)).astype(np.int32)
    label_valid = np.ones((S, T), bool)
    label_valid[:, T - horizon:] = False
    ends = np.arange(seq_len - 1, T - horizon)
    n = len(ends)
    cut1, cut2 = int(n * 0.7), int(n * 0.85)
    def idx(e):
        return np.array([(s, t) for t in e for s in range(S)], np.int32).reshape(-1, 2)
    return ToyHFTDataset(
        features=x, valid=np.ones((S, T), bool), direction=direction, future_return=fr,
        future_vol=fv, label_valid=label_valid, train_index=idx(ends[:cut1]),
        val_index=idx(ends[cut1:cut2]), test_index=idx(ends[cut2:]),
        feature_names=tuple(f"f{i}" for i in range(F)),
        scaler=ToyScaler(np.zeros(F, np.float32), np.ones(F, np.float32)), notes=("toy",),
    )


TINY_OVERRIDES = [
    "model.sequence_length=8", "model.hidden_size=8", "model.num_layers=2",
    "model.attention_heads=2", "train.batch_size=16", "train.epochs=3",
    "train.steps_per_call=4", "train.eval_batch_size=64", "train.patience=50",
    "train.async_checkpoints=true",
]


def tiny_config(extra=()):
    from quantjax.config import load
    from quantjax.hft.config import HFTConfig

    return load(HFTConfig, None, TINY_OVERRIDES + list(extra))


if __name__ == "__main__":
    # child process of the resume test: hft_toy.py WORKDIR [--resume] [OVERRIDE ...], the
    # overrides on top of TINY_OVERRIDES (the test's own run config)
    # the compilation cache: the suite's, from the environment (tests/conftest.py)
    from quantjax.hft.run import train_hft

    args = sys.argv[1:]
    overrides = [a for a in args[1:] if a != "--resume"]
    train_hft(tiny_config(overrides), toy_dataset(), args[0], resume="--resume" in args,
              progress=False, log=lambda *a: print(*a, flush=True))
