"""Generic training: losses, metrics, the ``make_train`` trainer, checkpoints, evaluation.

Import the submodules directly (``quantjax.train.trainer``, ``quantjax.train.checkpoint``...);
this package imports nothing heavy so configs can import :mod:`quantjax.train.config`.
"""
