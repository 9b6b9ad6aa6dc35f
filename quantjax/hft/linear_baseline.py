"""Linear baseline of the HFT model on the last step's features (trained alongside, in JAX).

Inputs: the standardized feature row at ``t_end`` of each sample window, ``x[N, F]`` (the
same scaler as the network). Two models:

- direction: multinomial logistic regression (softmax over down/flat/up with an intercept),
  L2 penalty ``l2 / 2 * |W|^2`` on the weights (not the intercept), fitted by Newton's method
  (the loss is convex; a fixed number of steps, jitted and vmapped over the penalties);
- price: ridge regression of the future return (intercept unpenalized), closed form.

Each penalty of ``evaluation.linear_l2`` is fitted on the training split; the validation
split picks one (best accuracy, best MSE; ties to the larger penalty).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

N_CLASSES = 3
NEWTON_STEPS = 30


class LinearBaseline(NamedTuple):
    """Fitted baseline: ``w_dir[F + 1, 3]`` (last row: intercept), ``w_price[F + 1]``."""

    w_dir: np.ndarray
    w_price: np.ndarray
    l2_direction: float
    l2_price: float
    price_scale: float

    def predict(self, x: np.ndarray) -> dict:
        """``direction_probs[N, 3]``, ``pred_direction[N]``, ``pred_return[N]`` (real units)."""
        xb = _with_bias(np.asarray(x, np.float64))
        logits = xb @ np.asarray(self.w_dir, np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return {"direction_probs": p, "pred_direction": p.argmax(axis=1).astype(np.int32),
                "pred_return": xb @ np.asarray(self.w_price, np.float64) * self.price_scale}


def _with_bias(x):
    xp = jnp if isinstance(x, jax.Array) else np
    return xp.concatenate([x, xp.ones((x.shape[0], 1), x.dtype)], axis=1)


def last_step_features(features: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``x[N, F]``: the feature row at ``t_end`` of each sample ``index[N, 2]``."""
    index = np.asarray(index, np.int64).reshape(-1, 2)
    return np.asarray(features)[index[:, 0], index[:, 1]]


@jax.jit
def _fit_logistic(x, y, l2):
    """Newton's method for softmax regression; ``x[N, F]``, ``y[N]``, ``l2[K]`` -> ``[K, F+1, 3]``."""
    xb = _with_bias(x)
    n, d = xb.shape
    onehot = jax.nn.one_hot(y, N_CLASSES, dtype=x.dtype)
    penal = jnp.concatenate([jnp.ones(d - 1), jnp.full(1, 1e-6)])  # tiny ridge on the intercept

    def one(lam):
        def loss(w_flat):
            w = w_flat.reshape(d, N_CLASSES)
            logp = jax.nn.log_softmax(xb @ w, axis=1)
            reg = 0.5 * lam * jnp.sum(penal[:, None] * w * w)
            return -jnp.sum(onehot * logp) / n + reg

        def step(w, _):
            g = jax.grad(loss)(w)
            h = jax.hessian(loss)(w)
            return w - jnp.linalg.solve(h, g), None

        w0 = jnp.zeros(d * N_CLASSES, x.dtype)
        w, _ = jax.lax.scan(step, w0, None, length=NEWTON_STEPS)
        return w.reshape(d, N_CLASSES)

    return jax.vmap(one)(l2)


@jax.jit
def _fit_ridge(x, y, l2):
    """Ridge with an unpenalized intercept: ``[K, F+1]`` for penalties ``l2[K]``."""
    n = x.shape[0]
    mx, my = x.mean(axis=0), y.mean()
    xc, yc = x - mx, y - my
    gram = xc.T @ xc / n
    rhs = xc.T @ yc / n

    def one(lam):
        w = jnp.linalg.solve(gram + lam * jnp.eye(x.shape[1], dtype=x.dtype), rhs)
        return jnp.concatenate([w, (my - mx @ w)[None]])

    return jax.vmap(one)(l2)


def fit_linear_baseline(x_train, y_dir_train, ret_train, x_val, y_dir_val, ret_val,
                        l2_grid) -> LinearBaseline:
    """Fit both models for every penalty of ``l2_grid`` on the training rows and keep the
    best on the validation rows. ``x[N, F]`` standardized features, ``y_dir[N]`` in {0, 1, 2},
    ``ret[N]`` future returns (real units)."""
    scale = float(np.std(ret_train)) or 1.0
    lam = jnp.asarray(sorted(l2_grid, reverse=True), jnp.float32)
    xt = jnp.asarray(x_train, jnp.float32)
    w_dir = np.asarray(_fit_logistic(xt, jnp.asarray(y_dir_train, jnp.int32), lam), np.float64)
    w_pr = np.asarray(_fit_ridge(xt, jnp.asarray(np.asarray(ret_train) / scale, jnp.float32),
                                 lam), np.float64)
    xv = _with_bias(np.asarray(x_val, np.float64))
    acc = [float(np.mean((xv @ w).argmax(axis=1) == np.asarray(y_dir_val))) for w in w_dir]
    mse = [float(np.mean((xv @ w * scale - np.asarray(ret_val)) ** 2)) for w in w_pr]
    i, j = int(np.argmax(acc)), int(np.argmin(mse))  # first = largest penalty among ties
    return LinearBaseline(w_dir[i], w_pr[j], float(lam[i]), float(lam[j]), scale)
