"""Host training loop: compiled chunks of steps and validation, with the side effects as
hooks (:class:`NanGuard`, :class:`ProgressBar`, :class:`MetricsLog`, :class:`Checkpointer`)
and exact resume.

Determinism: the run is a pure function of (hp, data, step) (see :mod:`trainer`), and
checkpoints are written at the end of each epoch, so a run killed at any point and resumed
with ``resume=True`` ends with params bit-identical to an uninterrupted run (same machine).
:func:`check_workdir` refuses a run before anything is written into its folder.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax import distributed
from quantjax.errors import UserError
from quantjax.jsonio import dumps, jsonable
from quantjax.train import early_stopping, parallel
from quantjax.train.checkpoint import CheckpointStore
from quantjax.train.config import TrainConfig
from quantjax.train.prefetch import Prefetcher, chunk_rows, tree_nbytes
from quantjax.train.progress import TrainProgress
from quantjax.train.trainer import (
    HParams,
    Task,
    TrainState,
    epoch_permutation,
    init_state,
    make_chunk_fn,
    make_host_chunk_fn,
    steps_per_epoch,
    total_steps,
)


class TrainingDiverged(UserError):
    """A non-finite training loss or parameter; the run stopped and kept its last good
    checkpoint."""


# train.* keys a --resume may change: they extend the run (epochs, max_steps, patience; the
# cosine schedule then spans the new total) or only change how it is run, not its math
RESUMABLE_KEYS = ("train.epochs", "train.max_steps", "train.patience", "train.steps_per_call",
                  "train.max_to_keep", "train.async_checkpoints", "train.device_data_limit_mb",
                  "train.data_parallel")


class FitResult(NamedTuple):
    state: TrainState  # final state (last step)
    best_params: Any  # params of the best validation epoch
    best_step: int
    steps: int
    epochs_run: int
    train_samples_per_sec: float
    history: list[dict]  # the records appended to metrics.jsonl by this call


def _truncate_jsonl(path: Path, max_step: int) -> None:
    if not path.exists():
        return
    keep = [ln for ln in path.read_text().splitlines()
            if ln.strip() and json.loads(ln).get("step", 0) <= max_step]
    path.write_text("".join(ln + "\n" for ln in keep))


def _append_jsonl(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(dumps(record) + "\n")


class ChunkEnd(NamedTuple):
    """What hooks see after each compiled chunk of steps (host values)."""

    epoch: int
    first_step: int  # optimizer steps done before the chunk
    step: int  # after it
    loss: float  # mean training loss of the chunk
    finite: bool  # every training loss of the chunk was finite
    params_finite: bool  # every parameter after the chunk is finite
    samples_per_sec: float  # training throughput so far (the first, compiling call excluded)


class EpochEnd(NamedTuple):
    """What hooks see after each epoch's validation."""

    epoch: int
    step: int
    state: TrainState
    record: dict  # the metrics.jsonl record of the epoch
    loop: dict  # the loop state stored in the checkpoint meta (resume)
    score: float  # checkpoint score: the validation score, -inf when not eligible or not finite


class Hook:
    """A side effect of the host loop (in the style of CLU's periodic actions): called after
    every compiled chunk and after every epoch; a hook that raises stops training."""

    def on_chunk(self, info: ChunkEnd) -> None:
        pass

    def on_epoch(self, info: EpochEnd) -> None:
        pass


class NanGuard(Hook):
    """Stops the run with :class:`TrainingDiverged` on a non-finite loss or parameter; the
    chunk's state is discarded, the last good checkpoint stays."""

    def __init__(self, store: CheckpointStore):
        self.store = store

    def on_chunk(self, info: ChunkEnd) -> None:
        if not (info.finite and info.params_finite):
            what = ("training loss" if not info.finite else
                    "parameters (every training loss was finite)")
            raise _diverged(self.store, what, info.epoch, info.first_step, info.step)


class ProgressBar(Hook):
    """The rich progress bar (step, loss, samples/s, ETA)."""

    def __init__(self, bar: TrainProgress):
        self.bar = bar

    def on_chunk(self, info: ChunkEnd) -> None:
        self.bar.update(info.step, info.loss, info.samples_per_sec, info.epoch)


class MetricsLog(Hook):
    """Appends each epoch's record to ``metrics.jsonl``."""

    def __init__(self, path: Path):
        self.path = path

    def on_epoch(self, info: EpochEnd) -> None:
        _append_jsonl(self.path, info.record)


class Checkpointer(Hook):
    """Saves the state at the end of each epoch (meta: ``meta`` plus the loop state)."""

    def __init__(self, store: CheckpointStore, meta: dict):
        self.store, self.meta = store, meta

    def on_epoch(self, info: EpochEnd) -> None:
        self.store.save(info.state, {**self.meta, "loop": info.loop}, info.score)


def fit(task: Task, cfg: TrainConfig, hp: HParams, data: Any, workdir: str | Path, *,
        meta: dict, resume: bool = False, progress: bool = True, log=print) -> FitResult:
    """Train with checkpoints under ``workdir/checkpoints`` and metrics in ``workdir/metrics.jsonl``.

    ``meta`` (JSON-able) is stored in every checkpoint (config, scaler, feature names...).
    Early stopping and the best epoch follow :mod:`quantjax.train.early_stopping` (the same
    rule as :func:`~quantjax.train.trainer.make_train`); epochs before
    ``cfg.start_from_epoch`` are saved with score -inf, so the best-N checkpoint retention never
    prefers them. Side effects are hooks called per chunk and per epoch: :class:`NanGuard`,
    :class:`ProgressBar`, :class:`MetricsLog`, :class:`Checkpointer`.
    ``resume=True`` continues from the latest checkpoint; without it an existing checkpoint
    folder is an error (:func:`check_workdir` makes that check, and the config check of a
    resume, before anything is written). Raises :class:`TrainingDiverged` on a non-finite loss
    or non-finite params after a chunk. Data over ``cfg.device_data_limit_mb`` (and a task
    with the host hooks) stays in host memory (:func:`use_host_loop`); else it is put on the
    device once.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    metrics_path = workdir / "metrics.jsonl"
    nb = steps_per_epoch(cfg, task.n_train)
    chunk = min(cfg.steps_per_call, nb)
    n_chunks = math.ceil(nb / chunk)
    n_total = total_steps(cfg, task.n_train)
    batch = min(cfg.batch_size, task.n_train)
    n_epochs = min(cfg.epochs, math.ceil(n_total / nb))
    if cfg.start_from_epoch >= n_epochs:
        raise UserError(f"train.start_from_epoch={cfg.start_from_epoch} must be < the {n_epochs} "
                        f"epochs this run can have (train.epochs={cfg.epochs}, train.max_steps="
                        f"{cfg.max_steps}, {nb} steps per epoch): no epoch could be the best")

    host = use_host_loop(task, cfg, data)
    mesh = parallel.data_mesh(cfg, batch)
    main = distributed.is_main_process()
    if mesh is not None:
        log(f"data parallel: each batch of {batch} split over {mesh.devices.size} devices "
            f"({jax.process_count()} process(es)), params and optimizer state replicated")
    place = _placement(mesh)
    if host:
        log(f"training data {tree_nbytes(data) / 2**20:.1f} MB > train.device_data_limit_mb="
            f"{cfg.device_data_limit_mb:g}: it stays in host memory; training and validation "
            "batches are gathered on the host and prefetched")
        data = jax.device_get(data)
        val = task.host_val_score
        val_data = data
        run_host = jax.jit(make_host_chunk_fn(task, cfg, chunk, mesh), **place.out)
        perm_fn = jax.jit(lambda key, e: epoch_permutation(cfg, task.n_train, key, e))

        def host_chunks(state, epoch):
            perm = np.asarray(jax.device_get(distributed.local_copy(
                perm_fn(distributed.local_copy(state.key), epoch))))
            pieces = chunk_rows(perm, chunk)
            return Prefetcher(lambda rows: place.gather(task, data, rows), pieces, depth=2,
                              put=place.put_batches)
    else:
        data = place.replicate(data)  # once (a no-op for device arrays), not at every call
        val = jax.jit(task.val_score)
        val_data = distributed.local_copy(data)
        run = jax.jit(make_chunk_fn(task, cfg, chunk, mesh), **place.out)

    store = CheckpointStore(workdir / "checkpoints", cfg.max_to_keep, cfg.async_checkpoints)
    hp = place.replicate(hp)
    hp_local = distributed.local_copy(hp)
    state = jax.jit(lambda h: init_state(task, cfg, h), **place.out)(hp)
    # committed to the devices it is on, as a restored state is: a fresh run and a resumed one
    # then compile the same programs (and a resume hits the compilation cache)
    state = jax.tree.map(lambda x: jax.device_put(x, x.sharding), state)

    es, epoch0, stopped = early_stopping.init(), 0, False
    latest = store.latest_step()
    if latest is not None and not resume:
        store.close()
        raise UserError(f"{workdir}: already holds checkpoints (latest step {latest}); "
                        "pass --resume to continue or choose a new --workdir")
    if resume and latest is not None:
        state, m = store.restore(latest, state)
        es, epoch0 = _loop_from_meta(m["loop"])
        stopped = bool(es.bad_epochs >= cfg.patience)  # epochs/max_steps may have grown
        if main:
            _truncate_jsonl(metrics_path, latest)
        log(f"resumed from step {latest} (epoch {epoch0 - 1})")
    elif metrics_path.exists() and main:  # fresh run (or --resume without any checkpoint)
        metrics_path.unlink()

    history: list[dict] = []
    timed_samples, timed_secs, first_call = 0, 0.0, True
    step = int(state.step)
    pf = None
    try:
        with TrainProgress(n_total, step, enabled=progress and main) as bar:
            hooks = (NanGuard(store), ProgressBar(bar), *([MetricsLog(metrics_path)] if main else []),
                     Checkpointer(store, meta))
            for epoch in range(epoch0, cfg.epochs):
                if stopped or step >= n_total:
                    break
                losses = []
                pf = host_chunks(state, epoch) if host else None
                batches = iter(pf) if host else None
                for c in range(n_chunks):
                    t0 = time.perf_counter()
                    if host:
                        new_state, stats = run_host(state, hp, next(batches), c * chunk)
                    else:
                        new_state, stats = run(state, hp, data, epoch, c * chunk)
                    stats, params_ok = jax.device_get(distributed.local_copy(
                        (stats, all_finite(new_state.params))))
                    dt = time.perf_counter() - t0
                    n = int(stats["n"])
                    if not first_call:
                        timed_samples += n * batch
                        timed_secs += dt
                    elif n_chunks * (cfg.epochs - epoch) == 1:  # only one call ever: count it
                        timed_samples, timed_secs = n * batch, dt
                    first_call = False
                    sps = timed_samples / timed_secs if timed_secs else n * batch / max(dt, 1e-9)
                    info = ChunkEnd(epoch, step, step + n, float(stats["loss"]),
                                    bool(stats["finite"]), bool(params_ok), sps)
                    for hook in hooks:
                        hook.on_chunk(info)
                    state, step = new_state, step + n
                    if n:
                        losses.append((float(stats["loss"]), n))
                    if n < chunk:
                        break
                if pf is not None:
                    pf.close()
                v = val(distributed.local_copy(state.params), hp_local, val_data)
                v = {k: float(x) for k, x in jax.device_get(v).items()}
                train_loss = (sum(lo * n for lo, n in losses) / max(sum(n for _, n in losses), 1))
                es, improved, stop = early_stopping.update(
                    es, v["score"], epoch, step, patience=cfg.patience,
                    start_from_epoch=cfg.start_from_epoch)
                eligible = epoch >= cfg.start_from_epoch and math.isfinite(v["score"])
                stopped = bool(stop) or step >= n_total
                loop = _loop_to_meta(es, epoch)
                record = {"epoch": epoch, "step": step, "train_loss": train_loss,
                          **{f"val_{k}": x for k, x in v.items()},
                          "best_step": loop["best_step"], "time": time.time()}
                history.append(record)
                info = EpochEnd(epoch, step, state, record, loop,
                                v["score"] if eligible else -math.inf)
                for hook in hooks:
                    hook.on_epoch(info)
                if stopped:
                    if bool(stop):
                        log(f"early stopping at epoch {epoch}: no improvement of the validation "
                            f"score for {cfg.patience} epochs")
                    break
        store.wait()
        best_step = int(es.best_step) if int(es.best_epoch) >= 0 else step
        if best_step != step and best_step in store.steps():
            best_params = store.restore_params(best_step, state.params)
            best_params = jax.tree.map(jax.numpy.asarray, best_params)
        else:
            best_params = state.params
        # replicated results as this process's one-device copies (evaluation, export)
        state, best_params = distributed.local_copy((state, best_params))
    finally:
        if pf is not None:  # the prefetch thread of an epoch cut short (error, interrupt)
            pf.close()
        store.close()
    sps = timed_samples / timed_secs if timed_secs else float("nan")
    return FitResult(state, best_params, int(best_step), step, _epochs_run(es, history, epoch0),
                     sps, history)


def _loop_to_meta(es: early_stopping.EarlyStopping, epoch: int) -> dict:
    """The loop state of a checkpoint's meta (JSON): last epoch done and the early stopping."""
    has_best = int(es.best_epoch) >= 0
    return {"epoch": epoch, "best_score": float(es.best_score) if has_best else None,
            "best_epoch": int(es.best_epoch), "best_step": int(es.best_step) if has_best else None,
            "bad_epochs": int(es.bad_epochs)}


def _loop_from_meta(loop: dict) -> tuple[early_stopping.EarlyStopping, int]:
    """``(early stopping state, first epoch to run)`` from :func:`_loop_to_meta`'s mapping."""
    best = loop.get("best_score")
    es = early_stopping.EarlyStopping(
        jnp.asarray(-jnp.inf if best is None else best, jnp.float32),
        jnp.asarray(loop.get("best_epoch", -1), jnp.int32),
        jnp.asarray(loop.get("best_step") or 0, jnp.int32),
        jnp.asarray(loop["bad_epochs"], jnp.int32))
    return es, int(loop["epoch"]) + 1


def _epochs_run(es, history: list[dict], epoch0: int) -> int:
    """Epochs done by the run so far (the last epoch's index + 1)."""
    return history[-1]["epoch"] + 1 if history else epoch0


@jax.jit
def all_finite(tree: Any) -> jax.Array:
    """``[]`` bool: every element of every leaf of ``tree`` is finite."""
    return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(tree)], bool))


def _diverged(store: CheckpointStore, what: str, epoch: int, a: int, b: int) -> TrainingDiverged:
    store.wait()
    good = store.latest_step()
    where = (f"last good checkpoint: step {good} in {store.directory}"
             if good is not None else "no checkpoint was written yet")
    return TrainingDiverged(
        f"non-finite {what} in epoch {epoch} between steps {a} and {b}; training stopped, "
        f"{where} (try a lower train.learning_rate or train.grad_clip_norm)")


def check_workdir(workdir: str | Path, *, resume: bool, config: dict | None = None,
                  log=None) -> None:
    """Refuse a run into ``workdir`` before anything is written there.

    Without ``resume`` a folder that holds checkpoints is an error (as in :func:`fit`). With
    ``resume`` and ``config`` (the resolved config mapping), a config that differs from the
    one stored in the latest checkpoint's ``meta`` is an error listing the differing keys
    (dotted, ``old -> new``), since an exact resume needs the same config; only the
    :data:`RESUMABLE_KEYS` may change (each change is passed to ``log``).
    """
    ck = Path(workdir) / "checkpoints"
    if not ck.is_dir():
        return
    store = CheckpointStore(ck, async_save=False, this_process_only=True)
    try:
        latest = store.latest_step()
        if latest is None:
            return
        if not resume:
            raise UserError(f"{workdir}: already holds checkpoints (latest step {latest}); "
                            "pass --resume to continue or choose a new --workdir")
        old = store.read_meta(latest).get("config") if config is not None else None
    finally:
        store.close()
    if old is None:
        return
    diff = config_diff(old, config)
    bad = {k: v for k, v in diff.items() if k not in RESUMABLE_KEYS}
    if bad:
        raise UserError(
            f"--resume: the config differs from the one of the checkpoint (step {latest}) in "
            + "; ".join(f"{k}: {o} -> {n}" for k, (o, n) in bad.items())
            + f". An exact resume needs the same config (--config {Path(workdir) / 'config.yaml'}"
            " without those --set overrides) or choose a new --workdir")
    if log is not None:
        for k, (o, n) in diff.items():
            log(f"resuming with a changed {k}: {o} -> {n}")


def config_diff(old: dict, new: dict) -> dict[str, tuple[str, str]]:
    """``{dotted key: (old, new)}`` (JSON texts, ``<absent>`` when missing) of two nested
    config mappings, compared after a JSON round trip (tuples == lists)."""
    a, b = (_flat(json.loads(json.dumps(jsonable(x)))) for x in (old, new))
    show = lambda d, k: json.dumps(d[k]) if k in d else "<absent>"  # noqa: E731
    return {k: (show(a, k), show(b, k)) for k in sorted(a.keys() | b.keys())
            if a.get(k, _ABSENT) != b.get(k, _ABSENT)}


_ABSENT = object()


def _flat(d: Any, prefix: str = "") -> dict:
    if not isinstance(d, dict) or (prefix and not d):
        return {prefix[:-1]: d}
    out: dict = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}."))
    return out


class _Placement(NamedTuple):
    """Where :func:`fit` puts things: ``replicate(tree)`` (the state, hyperparameters and
    device-resident data), ``out`` (the ``jit`` keywords of a step program), ``gather(task,
    data, rows[chunk, B])`` (this process's part of host batches) and ``put_batches`` (host
    batches to the device, split over the data axis)."""

    replicate: Any
    out: dict
    gather: Any
    put_batches: Any


def _placement(mesh) -> _Placement:
    if mesh is None:
        return _Placement(jax.device_put, {}, _gather_chunk, jax.device_put)
    repl = parallel.replicated(mesh)
    rows_sharding = parallel.batch_sharding(mesh, 1)

    def gather(task: Task, data: Any, rows: np.ndarray):
        lo, hi = distributed.local_range(rows_sharding, rows.shape, 1)
        return rows.shape, _gather_chunk(task, data, rows[:, lo:hi])

    def put_batches(item):
        shape, local = item
        return jax.tree.map(lambda a: distributed.from_process_local(
            a, rows_sharding, shape + a.shape[2:]), local)

    return _Placement(lambda tree: distributed.global_tree(tree, repl), {"out_shardings": repl},
                      gather, put_batches)


def use_host_loop(task: Task, cfg: TrainConfig, data: Any) -> bool:
    """True when ``data`` exceeds ``cfg.device_data_limit_mb`` and the task supports the
    host loop (``task.host_batch``, ``task.batch_loss_fn`` and ``task.host_val_score``)."""
    if task.host_batch is None or task.batch_loss_fn is None or task.host_val_score is None:
        return False
    return tree_nbytes(data) > cfg.device_data_limit_mb * 2**20


def _gather_chunk(task: Task, data: Any, rows: np.ndarray) -> Any:
    """Host batches ``[chunk, B, ...]`` for ``rows[chunk, B]``."""
    c, b = rows.shape
    flat = task.host_batch(data, rows.reshape(-1))
    return jax.tree.map(lambda a: np.asarray(a).reshape((c, b) + np.asarray(a).shape[1:]), flat)


def as_numpy(tree: Any) -> Any:
    """Host copy of a pytree (for comparisons / saving)."""
    return jax.tree.map(np.asarray, tree)
