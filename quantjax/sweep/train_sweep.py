"""Training sweeps: ``jit(vmap(train))`` over K traced hyperparameter sets.

PureJaxRL pattern on top of :func:`quantjax.train.trainer.make_train`: one compiled
program trains a chunk of K trials at once (``HParams`` leaves batched on axis 0, data
shared). Trials with different static (shape-changing) values form separate groups. The
chunk axis is sharded over all devices (``NamedSharding(mesh, P("trial"))``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

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


def _spmd_runner(prep: Prepared, cfg: TrainConfig, mesh, k: int):
    """One SPMD program over the mesh (``shard_map`` over ``"trial"``); multi-host safe.
    ``run(hp_host[k]) -> ((hist, best, val, steps) on host, take(j) -> host TrainState)``."""
    program = make_program(prep.task, cfg, mesh)
    data = sharding.put_tree(prep.data, mesh, lambda a: P())
    take = jax.jit(lambda s, j: jax.tree.map(lambda a: a[j], s),
                   out_shardings=NamedSharding(mesh, P()))

    def run(hp, p0):
        hp, p0 = sharding.put_tree((hp, p0), mesh, lambda a: P("trial"))
        state, hist, bst, val = program(hp, p0, data)
        out = sharding.to_host((hist, bst, val, state.step))
        return out, lambda j: sharding.to_host(take(state, j))

    return run


def _per_device_runner(prep: Prepared, cfg: TrainConfig, mesh, k: int):
    """The single-device program on each local device, ``k / n_devices`` trials each,
    dispatched asynchronously (the devices run concurrently). Every device runs the very
    executable a one-device run of the same trials per call would run, so results are
    bitwise identical to it. Same contract as :func:`_spmd_runner`."""
    devices = list(mesh.devices.flat)
    kl = k // len(devices)
    program = make_program(prep.task, cfg)
    data = [jax.device_put(prep.data, d) for d in devices]

    def run(hp, p0):
        part = lambda t, i: jax.tree.map(lambda a: a[i * kl:(i + 1) * kl], t)  # noqa: E731
        outs = [program(*jax.device_put((part(hp, i), part(p0, i)), d), data[i])
                for i, d in enumerate(devices)]  # async: all devices start before we wait
        host = [sharding.to_host((h, b, v, s.step)) for s, h, b, v in outs]
        cat = jax.tree.map(lambda *xs: np.concatenate(xs), *host)

        def take(j):
            return sharding.to_host(jax.tree.map(lambda a: a[j % kl], outs[j // kl][0]))

        return cat, take

    return run


def run_train_sweep(cfg, trials: list[dict], *, max_parallel: int = 0, progress=None,
                    log=print, kind=None) -> dict:
    """Run a training sweep. Returns ``{"rows": [...], "best": {...}, "groups": [...]}``;
    ``best`` holds ``index``, ``config``, ``state`` (host TrainState) and ``meta``.
    ``kind`` (a :class:`quantjax.sweep.tasks.TrainKind`) defaults to ``sweep.kind``'s."""
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
        mesh = sharding.make_mesh(len(idx), 1, sec.shard)
        n_dev = mesh.devices.size
        k = memory.chunk_size(len(idx), per, memory.tree_bytes(prep.data), n_dev,
                              sec.memory_fraction, max_parallel or sec.max_parallel)
        n_chunks = math.ceil(len(idx) / k)
        info.append({"group": g, "static": static, "n_trials": len(idx), "chunk": k,
                     "n_chunks": n_chunks, "per_trial_mb": per / 2**20, "devices": n_dev,
                     "steps_per_trial": total_steps(gcfg.train, prep.task.n_train)})
        log(f"group {g} {static or ''}: {len(idx)} trials, {n_chunks} chunk(s) of {k} "
            f"on {n_dev} device(s), ~{per / 2**20:.1f} MB/trial")
        layout = ("one_device" if n_dev == 1 else
                  sec.train_layout if jax.process_count() == 1 else "spmd")
        info[-1]["layout"] = layout
        init = make_init(prep.task, gcfg.train)
        run_chunk = (_per_device_runner if layout == "devices" else _spmd_runner)(
            prep, gcfg.train, mesh, k)
        for c in range(n_chunks):
            ids = idx[c * k:(c + 1) * k]
            hp = jax.tree.map(functools.partial(sharding.pad_axis, axis=0, size=k),
                              stack([hps[i] for i in ids]))
            p0 = jax.tree.map(functools.partial(sharding.pad_axis, axis=0, size=k),
                              init_params(prep.task, gcfg.train, [hps[i] for i in ids], init))
            (hist, bst, val, steps), take = run_chunk(hp, p0)
            for j, i in enumerate(ids):
                row = {"trial": i, "group": g, **trials[i], **_metrics(hist, bst, val, steps, j)}
                if obj not in row:
                    metric_keys = [m for m in row if m not in trials[i]]
                    raise ConfigError(f"sweep.objective: {obj!r} is not a trial metric; "
                                      f"choose one of {metric_keys}")
                rows[i] = row
                score = sign * row[obj] if np.isfinite(row[obj]) else -math.inf
                if best["index"] is None or score > best["score"]:
                    s = take(j)
                    best = {"score": score, "index": i, "config": trial_cfgs[i],
                            "state": s, "meta": prep.meta(trial_cfgs[i]), "row": row}
            if progress is not None:
                progress(len(ids))
    return {"rows": rows, "best": best, "groups": info}

