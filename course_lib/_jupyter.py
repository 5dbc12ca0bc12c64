"""Where are we running?  Jupyter kernel, widget support."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["ipython_shell", "show_figures_inline", "widgets_available"]


def ipython_shell() -> Any:
    """The running IPython shell, or None (plain Python, or IPython not installed)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def widgets_available() -> bool:
    """True inside a Jupyter kernel with ipywidgets installed."""
    shell = ipython_shell()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def show_figures_inline() -> None:
    """Let IPython display bare matplotlib Figures as PNG.

    The course's plots are built with ``matplotlib.figure.Figure`` (no
    pyplot, so no global state and no ``plt.show()``).  IPython only knows how
    to draw figures once pyplot's inline backend is loaded, so we register the
    PNG formatter ourselves.
    """
    shell = ipython_shell()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, _figure_png)


def _figure_png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()
