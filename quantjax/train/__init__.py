"""Generic training, for any model and task: losses, metrics, the ``make_train`` trainer and
the host loop (with its hooks), early stopping, prefetching and orbax checkpoints. It names no
model: a task plugs in through :class:`quantjax.train.trainer.Task` (see ``quantjax.hft.task``
and ``quantjax.credit.task``).

Import the submodules directly (``quantjax.train.trainer``, ``quantjax.train.loop``...).
"""
