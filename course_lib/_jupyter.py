"""Where are we running?  Jupyter kernel, widget support."""

from __future__ import annotations

from typing import Any

__all__ = ["ipython_shell", "widgets_available"]


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
