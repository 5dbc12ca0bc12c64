"""Errors shared by the agent system and the tools it uses (the calculator)."""

__all__ = ["PermanentTaskError"]


class PermanentTaskError(Exception):
    """Raise (a subclass of) this from ``process_task`` when a retry cannot help:
    the task fails at once instead of being retried on another agent."""
