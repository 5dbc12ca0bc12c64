"""The language of what learners read: Chinese by default, English on request.

Example use::

    import course_lib
    course_lib.set_language("en")   # plots, dashboards, reports, event lines in English
    course_lib.set_language("zh")   # back to Chinese (the default)

Views write their text in Chinese, through `tr`; the English catalog
(`_catalog.EN`) maps each Chinese template to an English one.  The scheduler
and the coordinator record *why* something happened as a `Reason`: English
text that remembers its template and values, and `say` puts it into the
current language (`_catalog.ZH`).  A text missing from a catalog is shown
as written; the tests keep both catalogs complete.

The language is a setting of the process, read when text is made: set it
once, at the top of a notebook or script.  The quiz and the grader's
feedback are Chinese only: they are part of the Chinese course.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from ._catalog import EN, NAMES, ZH

__all__ = ["LANGUAGES", "Reason", "get_language", "say", "set_language", "tr"]

LANGUAGES = ("zh", "en")
_language = "zh"


def set_language(language: str) -> None:
    """Show learner-facing text in *language*: ``"zh"`` (the default) or ``"en"``."""
    global _language
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}; got {language!r}")
    _language = language


def get_language() -> str:
    """The current language, ``"zh"`` or ``"en"``."""
    return _language


def tr(text: str, /, **values: Any) -> str:
    """*text* (a Chinese ``str.format`` template) in the current language, filled with *values*."""
    if _language == "en":
        text = EN.get(text, text)
    return text.format(**values) if values else text


class Reason(str):
    """Why an event happened: English text that remembers its template and values.

    ``Reason("no heartbeat for {seconds:g} s", seconds=3)`` is the string
    ``"no heartbeat for 3 s"``; `say` turns it into Chinese.  An Enum value
    is written as its ``value``.  Without values the template is the text as
    is (braces and all).
    """

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, /, **values: Any) -> Reason:
        plain = {key: value.value if isinstance(value, Enum) else value for key, value in values.items()}
        self = super().__new__(cls, template.format(**plain) if values else template)
        self.template = template
        self.values = values
        return self


def say(what: Any) -> str:
    """A `Reason` or a state (a member of an Enum of states) in the current language.

    ``say(TaskStatus.RUNNING)`` is "运行中" in Chinese and "running" in
    English; anything else is shown as ``str(what)``.
    """
    if isinstance(what, Enum):
        return NAMES.get(what.value, what.value) if _language == "zh" else what.value
    if _language == "en" or not isinstance(what, Reason) or what.template not in ZH:
        return str(what)
    values = {key: say(value) if isinstance(value, (Reason, Enum)) else value
              for key, value in what.values.items()}
    return ZH[what.template].format(**values)
