"""A fake LLM token stream and a typewriter display for it.

Example use (in a notebook)::

    from course_lib.streaming import Typewriter, fake_llm_stream

    writer = Typewriter()                      # a widget, or text when no widgets
    text = await writer.consume(fake_llm_stream("异步让程序不再傻等。"))

`fake_llm_stream` sleeps with ``asyncio.sleep``: under `course_lib.run_virtual`
it costs no real time and its timings are exact.
"""

from __future__ import annotations

import asyncio
import html
import random
import re
from collections.abc import AsyncIterator
from typing import Any, Callable, Optional

from ._jupyter import WidgetDisplay, ipython_shell, widgets_available

__all__ = ["Typewriter", "fake_llm_stream", "split_tokens"]

_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
# A run of CJK characters, an English word (with its leading space), or any other single character.
_TOKEN = re.compile(rf"[{_CJK}]+| ?[A-Za-z0-9_']+|.", re.DOTALL)
_CJK_SIZES = (2, 1, 2, 2, 1)  # real tokenizers cut Chinese into pieces of uneven length


def split_tokens(text: str, *, max_cjk: int = 2) -> list[str]:
    """Cut *text* into LLM-like tokens: English words, Chinese in pieces of 1..max_cjk characters.

    Joining the tokens gives back *text* exactly.  The cut is deterministic.
    """
    if max_cjk < 1:
        raise ValueError(f"max_cjk must be at least 1, got {max_cjk}")
    tokens: list[str] = []
    for match in _TOKEN.finditer(text):
        piece = match.group()
        if not re.fullmatch(rf"[{_CJK}]+", piece):
            tokens.append(piece)
            continue
        i = k = 0
        while i < len(piece):
            size = min(_CJK_SIZES[k % len(_CJK_SIZES)], max_cjk)
            tokens.append(piece[i:i + size])
            i += size
            k += 1
    return tokens


async def fake_llm_stream(
    text: str,
    *,
    first_token_delay: float = 0.5,
    token_delay: float = 0.05,
    jitter: float = 0.0,
    seed: Optional[int] = 0,
    on_close: Optional[Callable[[int], Any]] = None,
) -> AsyncIterator[str]:
    """Yield *text* token by token, like a streaming chat-completion API.

    The first token comes after *first_token_delay* seconds ("thinking"),
    each following one after *token_delay* seconds, times a factor drawn from
    ``[1-jitter, 1+jitter]`` with ``random.Random(seed)``.

    ``on_close(tokens_sent)`` is called when the stream really closes, where
    a real SDK would release its connection: at the end, on ``aclose()``
    (``contextlib.aclosing``, ``async with``), or when the generator is
    garbage-collected.  A ``break`` out of ``async for`` does not close it.
    """
    if not 0 <= jitter <= 1:
        raise ValueError(f"jitter must be between 0 and 1, got {jitter}")
    rng = random.Random(seed)
    sent = 0
    try:
        for i, token in enumerate(split_tokens(text)):
            base = first_token_delay if i == 0 else token_delay
            await asyncio.sleep(base * rng.uniform(1 - jitter, 1 + jitter) if jitter else base)
            sent += 1
            yield token
    finally:
        if on_close is not None:
            on_close(sent)


class Typewriter:
    """Shows a growing text live: an ipywidgets box in Jupyter, text elsewhere.

    ``mode`` is "widget", "text" or "auto" (widgets when a Jupyter kernel with
    ipywidgets is running).  In text mode inside Jupyter the text updates one
    display in place; in a terminal each token is printed as it comes.
    """

    def __init__(self, *, mode: str = "auto", title: str = "") -> None:
        if mode not in ("auto", "widget", "text"):
            raise ValueError(f"mode must be 'auto', 'widget' or 'text', got {mode!r}")
        self.mode = ("widget" if widgets_available() else "text") if mode == "auto" else mode
        self.title = title
        self.text = ""
        self.tokens = 0
        self.finished = False
        self.widget: Any = None
        self._handle: Any = None
        self._shown = False
        if self.mode == "widget":
            import ipywidgets

            self.widget = ipywidgets.HTML(self._html())

    def show(self) -> Typewriter:
        """Display the (empty) typewriter; `write` and `consume` call it if needed."""
        if self._shown:
            return self
        self._shown = True
        if ipython_shell() is None:
            if self.mode == "text" and self.title:
                print(self.title)
        elif self.mode == "widget":
            self._handle = WidgetDisplay(self.widget, self._plain())
        else:
            from IPython.display import Pretty, display

            self._handle = display(Pretty(self._plain()), display_id=True)
        return self

    def write(self, token: str) -> None:
        """Append one token and redraw."""
        self.show()
        self.text += token
        self.tokens += 1
        self._render(token)

    def finish(self) -> str:
        """Drop the cursor; return the whole text."""
        self.show()
        self.finished = True
        self._render("\n")
        return self.text

    async def consume(self, stream: AsyncIterator[str]) -> str:
        """Write every token of *stream* as it arrives; return the whole text."""
        self.show()
        async for token in stream:
            self.write(token)
        return self.finish()

    def _render(self, token: str) -> None:
        if self.mode == "widget":
            self.widget.value = self._html()
            if self.finished and self._handle is not None:
                self._handle.update(self._plain())  # the stored text shows the whole answer
        elif self._handle is not None:
            from IPython.display import Pretty

            self._handle.update(Pretty(self._plain()))
        else:
            print(token, end="", flush=True)

    def _plain(self) -> str:
        head = f"{self.title}\n" if self.title else ""
        return head + self.text + ("" if self.finished else "▌")

    def _html(self) -> str:
        head = f"<b>{html.escape(self.title)}</b><br>" if self.title else ""
        cursor = "" if self.finished else '<span style="color:#1f77b4">▌</span>'
        body = html.escape(self.text)
        return (f'<div style="white-space:pre-wrap;font-size:1.05em;line-height:1.6;'
                f'border-left:3px solid #1f77b4;padding:4px 10px">{head}{body}{cursor}</div>')
