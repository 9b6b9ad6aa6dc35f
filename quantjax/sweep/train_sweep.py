"""Training sweeps: ``jit(vmap(train))`` over K traced hyperparameter sets.

PureJaxRL pattern on top of :func:`quantjax.train.trainer.make_train`: one compiled
program trains a chunk of ``sweep.chunk`` trials at once (``HParams`` leaves batched on axis
0, data shared). Trials with different static (shape-changing) values form separate groups.
The chunk is declared by the config, so the trial table is a function of the config alone:
the devices of every process of the run each take whole chunks (layout ``devices``, bitwise
equal to one device), or one ``shard_map`` program spans them (layout ``spmd``).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from quantjax import distributed
from quantjax.config import apply_overrides, from_dict, load_dict
from quantjax.config.base import set_path
from quantjax.errors import ConfigError
from quantjax.sweep import memory, sharding
from quantjax.sweep.space import group_trials
from quantjax.sweep.tasks import Prepared, get_kind
from quantjax.train.config import TrainConfig
from quantjax.train.trainer import init_state, make_train, total_steps


def resolve_trials(kind, base_path: str, overrides, trials: list[dict]) -> list[Any]:
    """Full config of every trial (validated: a bad key or value raises ConfigError)."""
    base = apply_overrides(load_dict(base_path), overrides)
    out = []
    for t in trials:
        d = base
        for k, v in t.items():
            d = set_path(d, k, v)
        out.append(from_dict(kind.config_cls, d))
    return out


def stack(trees: list) -> Any:
    """Stack pytrees on a new leading axis (numpy)."""
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)


def make_init(task, cfg: TrainConfig):
    """``init(hp) -> params``: the trainer's initial params of one trial (jitted)."""
    return jax.jit(lambda hp: init_state(task, cfg, hp).params)


def init_params(task, cfg: TrainConfig, hps: list, init=None) -> Any:
    """Initial params of every trial, stacked on axis 0 (numpy), computed one trial per call.

    The training program then starts from these params instead of initializing inside
    ``vmap``, which keeps the init (one small program per trial) out of the compiled sweep.
    (The HFT orthogonal init no longer calls LAPACK's QR, whose concurrent calls could
    deadlock on CPU: see ``quantjax.models.layers.orthogonal``.) Same values as
    initializing inside the program (same key: ``init_state``)."""
    init = init or make_init(task, cfg)
    return stack([jax.block_until_ready(init(hp)) for hp in hps])


def make_program(task, cfg: TrainConfig, mesh=None):
    """``f(hp[K], params0[K], data) -> (TrainState[K], TrainHistory[K], best[K], val[K])``
    (jitted); ``params0`` from :func:`init_params`.

    With a ``mesh``, the vmapped trainer runs under ``jax.shard_map`` over its ``"trial"``
    axis (every device runs the program on its ``K / n_devices`` trials).
    """

    def one(hp, params0, data):
        train = make_train(task._replace(init_params=lambda key: params0), cfg)
        state, hist, best = train(hp, data)
        return state, hist, best, task.val_score(state.params, hp, data)

    fn = jax.vmap(one, in_axes=(0, 0, None))
    if mesh is not None:
        fn = jax.shard_map(fn, mesh=mesh, in_specs=(P("trial"), P("trial"), P()),
                           out_specs=P("trial"), check_vma=False)
    return jax.jit(fn)


def per_trial_bytes(prep: Prepared, cfg: TrainConfig, hp1) -> int:
    """Estimated device bytes of one trial: params x3 (params, best, grads), optimizer
    state and the activations of one training step / validation pass."""
    task = prep.task
    st = jax.eval_shape(lambda h: init_state(task, cfg, h), hp1)
    b = min(cfg.batch_size, task.n_train)
    rows = jax.ShapeDtypeStruct((b,), np.int32)
    key = jax.ShapeDtypeStruct((2,), np.uint32)
    grad = jax.value_and_grad(task.loss_fn, has_aux=True)
    act = memory.fn_bytes(lambda p, r, k: grad(p, prep.data, r, hp1, k), st.params, rows, key)
    val = memory.fn_bytes(lambda p: task.val_score(p, hp1, prep.data), st.params)
    return 3 * memory.tree_bytes(st.params) + memory.tree_bytes(st.opt_state) + max(act, val)


def _metrics(hist, best, val, state_step, i: int) -> dict:
    active = np.asarray(hist.active[i], bool)
    tl = np.asarray(hist.train_loss[i], np.float64)
    row = {f"val_{k}": float(np.asarray(v[i])) for k, v in val.items()}
    row.update(best_epoch=int(best["epoch"][i]), best_step=int(best["step"][i]),
               steps=int(state_step[i]), epochs_run=int(active.sum()),
               final_train_loss=float(tl[active][-1]) if active.any() else math.nan)
    return row


class Round(NamedTuple):
    """What a runner returns for a round of chunks (host values, in chunk order): per-trial
    ``hist``/``best``/``val``/``steps`` leaves ``[n_chunks * k, ...]``, and
    ``take(j) -> host TrainState`` of the round's trial ``j``, called by every process
    together (its value may live in another process)."""

    hist: Any
    best: Any
    val: Any
    steps: Any
    take: Any


def _device_runner(prep: Prepared, cfg: TrainConfig, k: int):
    """Layout ``devices``: the one-device program of ``k`` trials on every device of the run
    (every process's local devices), one chunk per device per round, dispatched
    asynchronously. A chunk always runs the very executable a one-device run of it runs,
    so the results are bitwise those of one device. ``run(chunks) -> Round`` for up to
    ``jax.device_count()`` chunks of ``(hp[k], params0[k])`` (host arrays; every process
    passes the same list and runs the chunks of its own devices)."""
    program = make_program(prep.task, cfg)
    local = {d.id: i for i, d in enumerate(jax.local_devices())}
    slots = [d for d in jax.devices()]
    data = {d.id: jax.device_put(prep.data, d) for d in jax.local_devices()}

    def run(chunks: list) -> Round:
        mine = {c: slots[c] for c in range(len(chunks)) if slots[c].id in local}
        outs = {c: program(*jax.device_put(chunks[c], d), data[d.id])  # async: all start
                for c, d in mine.items()}
        host = {c: jax.tree.map(np.asarray, (h, b, v, s.step)) for c, (s, h, b, v) in outs.items()}
        if jax.process_count() > 1:
            host = {c: r for part in distributed.allgather_objects(host) for c, r in part.items()}
        hist, best, val, steps = jax.tree.map(lambda *xs: np.concatenate(xs),
                                              *[host[c] for c in range(len(chunks))])

        def take(j):
            c = j // k
            state = (jax.tree.map(lambda a: np.asarray(a[j % k]), outs[c][0]) if c in outs
                     else None)
            if jax.process_count() == 1:
                return state
            return next(s for s in distributed.allgather_objects(state) if s is not None)

        return Round(hist, best, val, steps, take)

    return run


def _spmd_runner(prep: Prepared, cfg: TrainConfig, k: int):
    """Layout ``spmd``: one ``shard_map`` program over a ``trial`` mesh of every device of
    the run, ``k`` trials per device per call (the chunks of a round concatenated). Same
    contract as :func:`_device_runner`; results agree with it to float32 rounding (another
    compiled module, see docs/sweep.md)."""
    mesh = sharding.make_mesh(jax.device_count(), 1)
    n = mesh.devices.size
    program = make_program(prep.task, cfg, mesh)
    data = sharding.put_tree(prep.data, mesh, lambda a: P())
    take_fn = jax.jit(lambda s, j: jax.tree.map(lambda a: a[j], s),
                      out_shardings=NamedSharding(mesh, P()))

    def run(chunks: list) -> Round:
        pad = chunks + [chunks[-1]] * (n - len(chunks))
        hp, p0 = jax.tree.map(lambda *xs: np.concatenate(xs), *pad)
        hp, p0 = sharding.put_tree((hp, p0), mesh, lambda a: P("trial"))
        state, hist, bst, val = program(hp, p0, data)
        m = len(chunks) * k
        hist, bst, val, steps = jax.tree.map(lambda a: a[:m],
                                             sharding.to_host((hist, bst, val, state.step)))
        return Round(hist, bst, val, steps, lambda j: sharding.to_host(take_fn(state, j)))

    return run


def chunk_of(sec, n_trials: int) -> int:
    """Trials per compiled program: ``sweep.chunk``, at most the group's trial count. A
    function of the config alone, never of the device or process count."""
    return max(1, min(sec.chunk, n_trials))


def run_train_sweep(cfg, trials: list[dict], *, progress=None, log=print, kind=None) -> dict:
    """Run a training sweep. Returns ``{"rows": [...], "best": {...}, "groups": [...]}``;
    ``best`` holds ``index``, ``config``, ``state`` (host TrainState) and ``meta``.
    ``kind`` (a :class:`quantjax.sweep.tasks.TrainKind`) defaults to ``sweep.kind``'s.

    Each static group runs in chunks of :func:`chunk_of` trials (the last padded by
    repeating its last trial), every chunk one call of the same compiled program; the
    devices of all processes take one chunk each per round (``sweep.shard``)."""
    sec = cfg.sweep
    kind = kind or get_kind(sec.kind)
    trial_cfgs = resolve_trials(kind, sec.base_path, sec.overrides, trials)
    groups = group_trials(trials, lambda k: k in kind.traced)
    obj = sec.objective_name
    sign = 1.0 if sec.mode == "max" else -1.0
    rows: list[dict | None] = [None] * len(trials)
    best: dict = {"score": -math.inf, "index": None}
    cache: dict = {}
    info = []
    for g, (static, idx) in enumerate(groups):
        gcfg = trial_cfgs[idx[0]]
        prep = kind.prepare(gcfg, sec, cache)
        hps = {i: prep.hparams(trial_cfgs[i]) for i in idx}
        per = per_trial_bytes(prep, gcfg.train, hps[idx[0]])
        k = chunk_of(sec, len(idx))
        n_chunks = math.ceil(len(idx) / k)
        n_dev = jax.device_count() if sec.shard else 1
        layout = "one_device" if n_dev == 1 else sec.train_layout
        _check_memory(sec, k, per, memory.tree_bytes(prep.data), log)
        info.append({"group": g, "static": static, "n_trials": len(idx), "chunk": k,
                     "n_chunks": n_chunks, "per_trial_mb": per / 2**20, "devices": n_dev,
                     "layout": layout,
                     "steps_per_trial": total_steps(gcfg.train, prep.task.n_train)})
        log(f"group {g} {static or ''}: {len(idx)} trials, {n_chunks} chunk(s) of {k} "
            f"on {n_dev} device(s), ~{per / 2**20:.1f} MB/trial")
        init = make_init(prep.task, gcfg.train)
        runner = (_spmd_runner if layout == "spmd" else _device_runner)(prep, gcfg.train, k)
        chunk_ids = [idx[c * k:(c + 1) * k] for c in range(n_chunks)]
        for r in range(0, n_chunks, n_dev):
            round_ids = chunk_ids[r:r + n_dev]
            inputs = [_chunk_inputs(prep.task, gcfg.train, [hps[i] for i in ids], k, init)
                      for ids in round_ids]
            out = runner(inputs)
            flat = [i for ids in round_ids for i in ids]
            pos = [c * k + j for c, ids in enumerate(round_ids) for j in range(len(ids))]
            round_best = None
            for i, j in zip(flat, pos, strict=True):
                row = {"trial": i, "group": g, **trials[i],
                       **_metrics(out.hist, out.best, out.val, out.steps, j)}
                if obj not in row:
                    metric_keys = [m for m in row if m not in trials[i]]
                    raise ConfigError(f"sweep.objective: {obj!r} is not a trial metric; "
                                      f"choose one of {metric_keys}")
                rows[i] = row
                score = sign * row[obj] if np.isfinite(row[obj]) else -math.inf
                if best["index"] is None or score > best["score"]:
                    best = {"score": score, "index": i, "config": trial_cfgs[i],
                            "meta": prep.meta(trial_cfgs[i]), "row": row}
                    round_best = j
            if round_best is not None:  # every process takes it together
                best["state"] = out.take(round_best)
            if progress is not None:
                progress(len(flat))
    return {"rows": rows, "best": best, "groups": info}


def _chunk_inputs(task, cfg: TrainConfig, hps: list, k: int, init):
    """``(hp[k], params0[k])`` host arrays of a chunk's trials, padded to ``k`` by repeating
    the last trial."""
    pad = functools.partial(sharding.pad_axis, axis=0, size=k)
    return (jax.tree.map(pad, stack(hps)),
            jax.tree.map(pad, init_params(task, cfg, hps, init)))


def _check_memory(sec, k: int, per_trial: int, shared: int, log) -> None:
    """Warn when a chunk's estimate exceeds ``memory_fraction`` of a device's free memory
    (the chunk is declared by the config, so it is not shrunk: that would change results)."""
    free = memory.device_free_bytes()
    need = k * per_trial + shared
    if need > sec.memory_fraction * free:
        log(f"warning: sweep.chunk={k} needs ~{need / 2**20:.0f} MB per device, more than "
            f"sweep.memory_fraction={sec.memory_fraction:g} of the {free / 2**20:.0f} MB free; "
            "lower sweep.chunk if the run runs out of memory")
