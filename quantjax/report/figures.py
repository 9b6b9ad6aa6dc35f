"""Shared matplotlib helpers (object API on the Agg canvas: no pyplot global state)."""

from __future__ import annotations

from quantjax.errors import UserError


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError("the report needs matplotlib, which is not installed; "
                        "install it with: pip install 'quantjax[report]'") from None


def new_figure(width: float = 9.0, height: float = 3.6, nrows: int = 1, ncols: int = 1,
               **kw):
    """``(fig, axes)`` of a fresh Figure (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=True, **kw)
    return fig, axes


def style(ax, title: str | None = None, xlabel: str | None = None,
          ylabel: str | None = None) -> None:
    if title:
        ax.set_title(title, fontsize=10)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=9)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=8)
