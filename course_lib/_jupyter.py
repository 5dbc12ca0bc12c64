"""Where are we running?  Jupyter kernel, widget support."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["WidgetDisplay", "ipython_shell", "show_figures_inline", "widgets_available"]


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


class WidgetDisplay:
    """A widget shown in a notebook together with a readable text version.

    Jupyter saves both into the notebook: a front end with the saved widget
    state draws the widget; any other (GitHub, a text viewer, a front end
    without ipywidgets) shows *text*, not ipywidgets' ``VBox(children=...)``
    repr.  `update` replaces the text; the widget redraws itself anyway.
    """

    def __init__(self, widget: Any, text: str) -> None:
        from IPython.display import display

        self.widget = widget
        self._handle = display(self._bundle(text), raw=True, display_id=True)

    def update(self, text: str) -> None:
        """Make *text* the widget's stored text version (say, its final state)."""
        self._handle.update(self._bundle(text), raw=True)

    def _bundle(self, text: str) -> dict[str, Any]:
        return {**self.widget._repr_mimebundle_(), "text/plain": text}


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
    """PNG bytes of *figure*, drawn in the course's plot style (Chinese font)."""
    from .viz.fonts import plot_style

    buffer = io.BytesIO()
    with plot_style():
        figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()
