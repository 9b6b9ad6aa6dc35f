"""Generic trainer, in the PureJaxRL ``make_train`` style.

A model plugs in through a :class:`Task` (init, loss, validation score); everything a sweep
may vary is a traced leaf of :class:`HParams`. Two drivers share the same step function:

- :func:`make_train` -> ``train(hp, data) -> (TrainState, history)``: the whole run (epochs
  of ``lax.scan`` over batches, validation, best-params tracking, early stopping) as ONE pure
  function, so ``jax.jit(jax.vmap(train, in_axes=(0, None)))`` trains K configs at once.
- :func:`quantjax.train.loop.fit`: the host loop used by the CLI (checkpoints, exact resume,
  NaN guard, progress bar, ``metrics.jsonl``). It runs :func:`make_chunk_fn` chunks.

RNG: ``key = PRNGKey(hp.seed)``; ``split(key, 3)`` gives the init, dropout and shuffle keys.
Step ``s`` uses ``fold_in(dropout_key, s)``; epoch ``e`` shuffles with
``fold_in(shuffle_key, e)``. So a run is a pure function of (hp, data, step), which makes
resume exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from quantjax.train import early_stopping, parallel
from quantjax.train.config import TrainConfig

PyTree = Any


class HParams(NamedTuple):
    """Traced hyperparameters (each a scalar or small array; batch them for vmap sweeps)."""

    learning_rate: jax.Array  # [] float32
    weight_decay: jax.Array  # [] float32
    dropout_rate: jax.Array  # [] float32
    loss_weights: jax.Array  # [K] float32
    class_weights: jax.Array  # [C] float32
    seed: jax.Array  # [] int32


def hparams_from_config(cfg: TrainConfig, dropout_rate: float, n_classes: int) -> HParams:
    """HParams from a :class:`TrainConfig` (class weights default to ones)."""
    cw = cfg.class_weights if cfg.class_weights is not None else (1.0,) * n_classes
    f = lambda v: jnp.asarray(v, jnp.float32)  # noqa: E731
    return HParams(f(cfg.learning_rate), f(cfg.weight_decay), f(dropout_rate),
                   f(cfg.loss_weights), f(cw), jnp.asarray(cfg.seed, jnp.int32))


class Task(NamedTuple):
    """What the trainer needs from a model + data.

    - ``init_params(key) -> params``
    - ``loss_fn(params, data, rows[B], hp, key) -> (loss[], aux: dict[str, []])``: train mode;
      ``rows`` index the training examples of ``data``.
    - ``val_score(params, hp, data) -> dict`` with at least ``score`` (higher is better) and
      ``loss``; jittable, eval mode.
    - ``n_train``: number of training examples (static).
    - optional, for the prefetching host loop (data too large for the device; ``data`` then
      holds host numpy arrays): ``host_batch(data, rows[B]) -> batch`` gathers one batch on
      the host (numpy), ``batch_loss_fn(params, batch, hp, key)`` is ``loss_fn`` on that
      gathered batch and ``host_val_score(params, hp, data) -> dict`` is ``val_score``
      computed from device-sized batches gathered on the host (not jitted by the caller).
    """

    init_params: Callable[[jax.Array], PyTree]
    loss_fn: Callable[..., tuple[jax.Array, dict]]
    val_score: Callable[..., dict]
    n_train: int
    host_batch: Callable[..., PyTree] | None = None
    batch_loss_fn: Callable[..., tuple[jax.Array, dict]] | None = None
    host_val_score: Callable[..., dict] | None = None


class TrainState(NamedTuple):
    """Everything that evolves during training (a pytree; checkpointed as is)."""

    params: PyTree
    opt_state: PyTree
    step: jax.Array  # [] int32, optimizer steps done
    key: jax.Array  # [2] uint32, PRNGKey(seed)


def steps_per_epoch(cfg: TrainConfig, n_train: int) -> int:
    """Full batches per epoch (the remainder of the shuffled epoch is dropped)."""
    return max(n_train // cfg.batch_size, 1)


def total_steps(cfg: TrainConfig, n_train: int) -> int:
    """Optimizer steps of a run that never stops early."""
    n = cfg.epochs * steps_per_epoch(cfg, n_train)
    return min(n, cfg.max_steps) if cfg.max_steps else n


def lr_schedule(cfg: TrainConfig, n_steps: int) -> optax.Schedule:
    """Unit learning-rate schedule: linear warmup over ``warmup_fraction`` of ``n_steps``, then
    cosine decay to ``min_lr_ratio`` (multiply by the traced peak ``hp.learning_rate``)."""
    warmup = int(cfg.warmup_fraction * n_steps)
    return optax.warmup_cosine_decay_schedule(
        0.0 if warmup else 1.0, 1.0, warmup, max(n_steps, warmup + 1), end_value=cfg.min_lr_ratio)


ADAM_CONSTANTS = ("b1", "b2", "eps", "eps_root")


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Global-norm clipping + AdamW whose learning rate and weight decay live in the optimizer
    state (``optax.inject_hyperparams``), so one optimizer serves every (vmapped) trial: the
    state holds the trial's ``weight_decay`` and :func:`make_step_fn` writes each step's
    learning rate, ``hp.learning_rate * lr_schedule(step)``, before the update."""
    return optax.chain(
        optax.clip_by_global_norm(cfg.grad_clip_norm),
        # only the learning rate and weight decay are state; Adam's constants stay Python floats
        # (as arrays, b1 and b2 would round differently in float32)
        optax.inject_hyperparams(optax.adamw, static_args=ADAM_CONSTANTS)(
            learning_rate=0.0, weight_decay=0.0),
    )


def set_hyperparams(opt_state, **values):
    """``opt_state`` of :func:`make_optimizer` with AdamW's injected hyperparams
    (``learning_rate``, ``weight_decay``) replaced by ``values``."""
    clip, adamw = opt_state
    return clip, adamw._replace(hyperparams={**adamw.hyperparams, **values})


def _keys(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    k = jax.random.split(key, 3)
    return k[0], k[1], k[2]


def init_state(task: Task, cfg: TrainConfig, hp: HParams) -> TrainState:
    """Initial TrainState (pure; jit/vmap it)."""
    key = jax.random.PRNGKey(hp.seed)
    params = task.init_params(_keys(key)[0])
    opt_state = make_optimizer(cfg).init(params)
    opt_state = set_hyperparams(opt_state, learning_rate=jnp.asarray(hp.learning_rate),
                                  weight_decay=jnp.asarray(hp.weight_decay))
    return TrainState(params, opt_state, jnp.zeros((), jnp.int32), key)


def make_step_fn(task: Task, cfg: TrainConfig, host: bool = False, mesh=None) -> Callable:
    """``step(state, hp, data, rows[B]) -> (state, (loss, aux))``: one optimizer step.

    ``host=True``: ``step(state, hp, batch) -> ...`` on a batch gathered by ``task.host_batch``.
    ``mesh`` (:func:`quantjax.train.parallel.data_mesh`): the batch rows (or the host batch)
    are split over its data axis. ``cfg.precision``: the loss runs on params cast to the
    compute dtype (data arrive cast, see :func:`make_chunk_fn`); loss and grads are float32.
    """
    unit = lr_schedule(cfg, total_steps(cfg, task.n_train))
    opt = make_optimizer(cfg)
    dtype = parallel.compute_dtype(cfg)

    def step(state: TrainState, hp: HParams, *inputs):
        k_drop = jax.random.fold_in(_keys(state.key)[1], state.step)
        if host:
            batch = parallel.constrain_batch(inputs[0], mesh)
            loss_of = lambda p: task.batch_loss_fn(p, batch, hp, k_drop)  # noqa: E731
        else:
            rows = parallel.constrain_batch(inputs[1], mesh)
            loss_of = lambda p: task.loss_fn(p, inputs[0], rows, hp, k_drop)  # noqa: E731

        def loss_fn(params):
            loss, aux = loss_of(parallel.compute_cast(params, dtype))
            return loss.astype(jnp.float32), jax.tree.map(lambda a: a.astype(jnp.float32), aux)

        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        opt_state = set_hyperparams(state.opt_state,
                                      learning_rate=hp.learning_rate * unit(state.step))
        updates, opt_state = opt.update(grads, opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, opt_state, state.step + 1, state.key), (loss, aux)

    return step


def epoch_permutation(cfg: TrainConfig, n_train: int, key: jax.Array, epoch) -> jax.Array:
    """``[steps_per_epoch, B]`` example rows of epoch ``epoch`` (shuffled, remainder dropped)."""
    nb = steps_per_epoch(cfg, n_train)
    b = min(cfg.batch_size, n_train)
    perm = jax.random.permutation(jax.random.fold_in(_keys(key)[2], epoch), n_train)
    return perm[: nb * b].reshape(nb, b)


def make_chunk_fn(task: Task, cfg: TrainConfig, chunk: int, mesh=None) -> Callable:
    """``run(state, hp, data, epoch, first_batch) -> (state, stats)``: ``chunk`` steps of one epoch.

    Batches past the end of the epoch (or past ``max_steps``) are skipped, so every call has
    the same shapes. ``stats``: ``loss`` (mean over done steps), ``n`` (steps done),
    ``finite`` (all losses finite), and the task's aux means. ``mesh``: data parallel (see
    :func:`make_step_fn`); with ``train.precision: bf16`` the floating-point ``data`` is cast
    once per call.
    """
    step = make_step_fn(task, cfg, mesh=mesh)
    nb = steps_per_epoch(cfg, task.n_train)
    limit = cfg.max_steps or 2**31 - 1
    dtype = parallel.compute_dtype(cfg)

    def run(state: TrainState, hp: HParams, data, epoch, first_batch):
        batches = epoch_permutation(cfg, task.n_train, state.key, epoch)
        data = parallel.compute_cast(data, dtype)

        def inputs(j):
            return data, batches[jnp.minimum(first_batch + j, nb - 1)]

        return _scan_steps(step, state, hp, chunk, first_batch, nb, limit, inputs)

    return run


def make_host_chunk_fn(task: Task, cfg: TrainConfig, chunk: int, mesh=None) -> Callable:
    """``run(state, hp, batches, first_batch) -> (state, stats)``: like :func:`make_chunk_fn`
    but on ``batches`` (leaves ``[chunk, B, ...]``) gathered on the host by ``task.host_batch``
    from the rows of :func:`epoch_permutation`; same RNG, same steps, same stats."""
    step = make_step_fn(task, cfg, host=True, mesh=mesh)
    nb = steps_per_epoch(cfg, task.n_train)
    limit = cfg.max_steps or 2**31 - 1
    dtype = parallel.compute_dtype(cfg)

    def run(state: TrainState, hp: HParams, batches, first_batch):
        batches = parallel.compute_cast(batches, dtype)
        def inputs(j):
            return (jax.tree.map(lambda a: a[j], batches),)

        return _scan_steps(step, state, hp, chunk, first_batch, nb, limit, inputs)

    return run


def _scan_steps(step, state, hp, chunk: int, first_batch, nb: int, limit: int, inputs):
    """``chunk`` optimizer steps ``step(state, hp, *inputs(j))`` under ``lax.scan``; step ``j``
    is skipped (``lax.cond``) past the epoch's ``nb`` batches or ``limit`` steps."""

    def body(st, j):
        active = first_batch + j < nb
        if limit < 2**31 - 1:  # only then depend on the (per-trial, under vmap) step counter,
            active = active & (st.step < limit)  # else vmap turns the cond into a select
        args = inputs(j)

        def do(s):
            s2, (loss, aux) = step(s, hp, *args)
            return s2, loss, aux

        def skip(s):
            _, (loss, aux) = jax.eval_shape(lambda: step(s, hp, *args))
            z = lambda a: jnp.zeros(a.shape, a.dtype)  # noqa: E731
            return s, z(loss), jax.tree.map(z, aux)

        st, loss, aux = jax.lax.cond(active, do, skip, st)
        return st, (loss, aux, active)

    state, (losses, auxs, active) = jax.lax.scan(body, state, jnp.arange(chunk))
    return state, _chunk_stats(losses, auxs, active)


def _chunk_stats(losses, auxs, active) -> dict:
    n = jnp.sum(active)
    act = active.astype(jnp.float32)
    mean = lambda v: jnp.sum(v * act) / jnp.maximum(n, 1)  # noqa: E731
    stats = {"loss": mean(losses), "n": n, "finite": jnp.all(jnp.isfinite(losses) | ~active)}
    stats.update({k: mean(v) for k, v in auxs.items()})
    return stats


class TrainHistory(NamedTuple):
    """Per-epoch history returned by :func:`make_train` (arrays ``[epochs]``)."""

    train_loss: jax.Array
    val_score: jax.Array
    val_loss: jax.Array
    active: jax.Array  # bool: epoch was run (False after early stopping)


def make_train(task: Task, cfg: TrainConfig) -> Callable:
    """``train(hp, data) -> (TrainState, TrainHistory, best)``: the whole run, pure.

    The returned state's ``params`` are the best-by-validation-score params; ``best`` is a
    dict with ``score``, ``epoch`` and ``step`` of the best epoch. Early stopping after
    ``cfg.patience`` epochs without improvement freezes the state (remaining epochs are
    skipped with ``lax.cond``, i.e. a select under vmap). ``max_steps`` is honoured.
    """
    nb = steps_per_epoch(cfg, task.n_train)
    run_epoch = make_chunk_fn(task, cfg, nb)

    def train(hp: HParams, data) -> tuple[TrainState, TrainHistory, dict]:
        state = init_state(task, cfg, hp)
        carry0 = (state, state.params, early_stopping.init(), jnp.asarray(False))

        def epoch_body(carry, epoch):
            state, best_params, es, stopped = carry
            active = ~stopped & (state.step < (cfg.max_steps or 2**31 - 1))

            def do(c):
                state, best_params, es = c
                state, stats = run_epoch(state, hp, data, epoch, 0)
                val = task.val_score(state.params, hp, data)
                score = jnp.where(stats["finite"], val["score"], -jnp.inf)
                es, improved, stop = early_stopping.update(
                    es, score, epoch, state.step, patience=cfg.patience,
                    start_from_epoch=cfg.start_from_epoch)
                best_params = jax.tree.map(lambda n, o: jnp.where(improved, n, o),
                                           state.params, best_params)
                return (state, best_params, es), (stats["loss"], val["score"], val["loss"], stop)

            def skip(c):
                nan = jnp.asarray(jnp.nan, jnp.float32)
                return c, (nan, nan, nan, jnp.asarray(True))

            (state, best_params, es), rec = jax.lax.cond(active, do, skip,
                                                         (state, best_params, es))
            stopped = stopped | rec[3] | ~active
            return (state, best_params, es, stopped), (*rec[:3], active)

        (state, best_params, es, _), hist = jax.lax.scan(epoch_body, carry0,
                                                         jnp.arange(cfg.epochs))
        best = {"score": es.best_score, "epoch": es.best_epoch, "step": es.best_step}
        return state._replace(params=best_params), TrainHistory(*hist), best

    return train
