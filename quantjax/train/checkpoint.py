"""Checkpoints with orbax ``CheckpointManager`` and the public inference loader.

Layout: ``RUN/checkpoints/<step>/{params, train, meta, metrics}``:

- ``params``: the model parameters (restorable without any template);
- ``train``: ``{opt_state, step, key}`` of :class:`quantjax.train.trainer.TrainState`;
- ``meta`` (JSON, :func:`checkpoint_meta`): ``config`` (resolved config mapping), ``task``
  ("hft" | "credit"), ``model`` (the registry name of ``config.model``, see
  :mod:`quantjax.models.registry`), ``scaler`` (``mean``/``std`` lists), ``feature_names``,
  ``extra`` (task data such as target scales), and loop state (``epoch``, ``best_score``,
  ``best_step``, ``bad_epochs``);
- ``metrics`` (JSON, written by orbax): ``{"score": validation score}`` (-1e30 for a non-finite
  score or an epoch before ``train.start_from_epoch``), read back by the retention policy.

The latest checkpoint is always kept (for ``--resume``) plus the ``max_to_keep`` best by the
validation score. Saves are asynchronous by default; a half-written checkpoint (process
killed) is never visible as a step, so resume falls back to the previous one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as ocm

from quantjax.config import from_dict, to_dict
from quantjax.errors import UserError
from quantjax.features.scaler import Scaler
from quantjax.models.registry import get as get_model

_NO_SCORE = -1e30

__all__ = ["CheckpointStore", "Scaler", "checkpoint_meta", "load_for_inference"]


class CheckpointStore:
    """Thin wrapper over ``ocp.CheckpointManager`` for TrainState + JSON metadata.

    In a multi-process run every process must open, save and close the store of a training
    run together (orbax's multi-process checkpointing: process 0 writes the replicated
    arrays and the metadata, the processes meet at orbax's barriers). ``this_process_only``
    opens a store that one process uses alone (reading a finished run, the sweep's best
    trial written by process 0)."""

    def __init__(self, directory: str | Path, max_to_keep: int = 3, async_save: bool = True,
                 this_process_only: bool = False):
        self.directory = Path(directory).absolute()
        policy = ocm.AnyPreservationPolicy([
            ocm.LatestN(n=1),
            ocm.BestN(get_metric_fn=_score, n=max_to_keep,
                      keep_checkpoints_without_metrics=False),
        ])
        # best_fn only makes orbax WRITE each step's metrics to disk (retention is the policy);
        # without it a reopened manager (--resume) sees no score for the earlier steps and
        # BestN deletes the best checkpoint at the next save.
        multi: dict[str, Any] = {"create": True}
        if this_process_only and jax.process_count() > 1:
            me = jax.process_index()
            self.directory.mkdir(parents=True, exist_ok=True)  # orbax: no create= with it
            multi = {"create": False, "multiprocessing_options": ocp.options.MultiprocessingOptions(
                primary_host=me, active_processes={me},
                barrier_sync_key_prefix=f"quantjax_p{me}")}
        options = ocp.CheckpointManagerOptions(
            preservation_policy=policy, best_fn=_score, best_mode="max",
            enable_async_checkpointing=async_save, cleanup_tmp_directories=True, **multi)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, state, meta: dict, score: float) -> None:
        """Save ``state`` (a TrainState) at ``state.step`` with metric ``score`` (higher=better)."""
        step = int(state.step)
        score = float(score) if np.isfinite(score) else _NO_SCORE
        args = ocp.args.Composite(
            params=ocp.args.StandardSave(state.params),
            train=ocp.args.StandardSave({"opt_state": state.opt_state, "step": state.step,
                                         "key": state.key}),
            meta=ocp.args.JsonSave(meta),
        )
        self.manager.save(step, args=args, metrics={"score": score}, force=True)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def read_meta(self, step: int) -> dict:
        out = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        return dict(out["meta"])

    def restore_params(self, step: int, template: Any = None) -> Any:
        """Params of ``step``; ``template`` fixes the tree structure and the placement.

        Without a template the params come back on this process's first device, whatever
        devices wrote them (a data-parallel run on N devices, a GPU): the template is built
        from the checkpoint's own shapes and dtypes (:func:`one_device_template`)."""
        template = one_device_template(self.directory / str(step) / "params") \
            if template is None else _abstract(template)
        arg = ocp.args.StandardRestore(template)
        return self.manager.restore(step, args=ocp.args.Composite(params=arg))["params"]

    def restore(self, step: int, template) -> tuple[Any, dict]:
        """``(TrainState, meta)`` of ``step``; ``template`` is a TrainState of the right shapes."""
        train_t = {"opt_state": template.opt_state, "step": template.step, "key": template.key}
        out = self.manager.restore(step, args=ocp.args.Composite(
            params=ocp.args.StandardRestore(_abstract(template.params)),
            train=ocp.args.StandardRestore(_abstract(train_t)),
            meta=ocp.args.JsonRestore(),
        ))
        tr = out["train"]
        state = template._replace(params=out["params"], opt_state=tr["opt_state"],
                                  step=tr["step"], key=tr["key"])
        return state, dict(out["meta"])

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def _score(metrics: dict) -> float:
    return metrics["score"]


def _abstract(tree):
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def one_device_template(item_dir: Path) -> Any:
    """``ShapeDtypeStruct`` tree of a saved pytree item (orbax metadata), every leaf placed on
    this process's first device: restoring with it ignores the saved device layout."""
    tree = ocp.StandardCheckpointHandler().metadata(Path(item_dir)).tree
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), tree)


def checkpoint_meta(cfg: Any, task: str, extra: dict, *, scaler: Any = None,
                    feature_names=()) -> dict:
    """The checkpoint ``meta`` of a training run of config ``cfg`` (a dataclass with a
    ``model`` section): resolved ``config``, ``task``, ``model`` (registry name), ``scaler``
    (``None`` or a :class:`Scaler`-like ``mean``/``std``), ``feature_names`` and ``extra``."""
    return {"config": to_dict(cfg), "task": task, "model": cfg.model.name,
            "scaler": None if scaler is None else Scaler(scaler.mean, scaler.std).to_dict(),
            "feature_names": list(feature_names), "extra": extra}


def load_for_inference(run_dir: str | Path) -> tuple[Any, Any, Scaler, dict]:
    """Load the best checkpoint of a training run for inference.

    ``run_dir`` is the ``--workdir`` of ``quantjax train`` (or its ``checkpoints`` folder).
    Returns ``(model_cfg, params, scaler, extra)``: the model config dataclass (e.g.
    :class:`quantjax.models.lstm_attention.LSTMAttentionConfig`), the params pytree (pass to
    ``quantjax.models.registry.build(model_cfg).apply(params, x)``), the feature
    :class:`Scaler` and a dict with ``task``,
    ``feature_names``, ``config`` (the full resolved config mapping), ``step`` and the task's
    ``extra`` entries (for HFT: ``price_scale``, ``vol_scale``, ``horizon``...).
    """
    run_dir = Path(run_dir)
    ck = run_dir / "checkpoints" if (run_dir / "checkpoints").is_dir() else run_dir
    if not ck.is_dir():
        raise UserError(f"no checkpoints folder in {run_dir}")
    store = CheckpointStore(ck, async_save=False, this_process_only=True)
    try:
        latest = store.latest_step()
        if latest is None:
            raise UserError(f"{ck}: no checkpoint found")
        meta = store.read_meta(latest)
        step = (meta.get("loop") or {}).get("best_step")
        step = step if step in store.steps() else latest
        meta = store.read_meta(step) if step != latest else meta
        params = store.restore_params(step)
    finally:
        store.close()
    if "model" not in meta:
        raise UserError(f"{ck}: a checkpoint of an older quantjax (no model name in its meta); "
                        "retrain it with this version")
    model_cfg = from_dict(get_model(meta["model"]).config, meta["config"]["model"],
                          prefix="model.")
    scaler = Scaler.from_dict(meta.get("scaler") or {"mean": [], "std": []})
    extra = dict(meta.get("extra", {}))
    extra.update(feature_names=tuple(meta.get("feature_names", ())), config=meta["config"],
                 step=step, task=meta["task"])
    return model_cfg, params, scaler, extra

