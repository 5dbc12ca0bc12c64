"""Fake LLM stream (on the virtual clock) and the typewriter's text mode."""

import asyncio
import contextlib

import pytest

from course_lib import run_virtual
from course_lib.streaming import Typewriter, fake_llm_stream, split_tokens

TEXT = "异步编程让程序不再傻等。Streaming makes the first word appear early!"


def test_tokens_join_back_to_the_text():
    tokens = split_tokens(TEXT)
    assert "".join(tokens) == TEXT
    assert " Streaming" not in tokens and "Streaming" in tokens and " makes" in tokens
    assert all(len(t) <= 2 for t in tokens if "\u4e00" <= t[0] <= "\u9fff")
    assert split_tokens("你好世界", max_cjk=1) == ["你", "好", "世", "界"]
    with pytest.raises(ValueError):
        split_tokens("x", max_cjk=0)


def test_stream_timing_is_exact_on_the_virtual_clock():
    async def main():
        loop = asyncio.get_running_loop()
        arrivals = []
        async for token in fake_llm_stream("你好世界 ok", first_token_delay=0.5, token_delay=0.1):
            arrivals.append((round(loop.time(), 6), token))
        return arrivals

    arrivals = run_virtual(main())
    assert arrivals == [(0.5, "你好"), (0.6, "世"), (0.7, "界"), (0.8, " ok")]
    assert "".join(tok for _, tok in arrivals) == "你好世界 ok"


def test_jitter_is_reproducible_and_bounded():
    async def times(seed):
        loop = asyncio.get_running_loop()
        return [loop.time() async for _ in fake_llm_stream(TEXT, token_delay=0.1, jitter=0.5, seed=seed)]

    first, again = run_virtual(times(7)), run_virtual(times(7))
    assert first == again
    gaps = [b - a for a, b in zip(first, first[1:])]
    assert all(0.05 - 1e-9 <= g <= 0.15 + 1e-9 for g in gaps)
    with pytest.raises(ValueError):
        run_virtual(_bad_jitter())


async def _bad_jitter():
    async for _ in fake_llm_stream("x", jitter=2):
        pass


def test_typewriter_text_mode_prints_tokens_as_they_come(capsys):
    writer = Typewriter(mode="text")
    text = run_virtual(writer.consume(fake_llm_stream("你好 world", token_delay=0.01)))
    assert text == "你好 world" and writer.finished and writer.tokens == 2
    assert capsys.readouterr().out == "你好 world\n"


def test_typewriter_widget_mode_renders_escaped_html_with_a_cursor():
    pytest.importorskip("ipywidgets")
    writer = Typewriter(mode="widget", title="AI")
    writer._shown = True  # no front end in tests: skip display()
    writer.write("<b>")
    assert "&lt;b&gt;" in writer.widget.value and "▌" in writer.widget.value
    assert writer.finish() == "<b>"
    assert "▌" not in writer.widget.value


def test_typewriter_rejects_unknown_modes():
    with pytest.raises(ValueError):
        Typewriter(mode="fancy")


def test_a_bare_break_leaves_the_stream_open_and_aclosing_closes_it():
    """03 teaches this: break does not close an async generator; aclosing() does, at once."""
    closed = []

    async def bare_break():
        stream = fake_llm_stream("一二三四五六", on_close=closed.append)
        async for _ in stream:
            break
        await asyncio.sleep(1)  # still holding the stream: nothing has closed it
        still_open = not closed
        await stream.aclose()
        return still_open

    assert run_virtual(bare_break()) is True
    assert closed == [1]  # closed by aclose(), one token sent

    closed.clear()

    async def with_aclosing():
        async with contextlib.aclosing(fake_llm_stream("一二三四五六", on_close=closed.append)) as stream:
            async for _ in stream:
                break
        return list(closed)

    assert run_virtual(with_aclosing()) == [1]


def test_a_stream_read_to_the_end_reports_every_token_sent():
    closed = []

    async def read_all():
        return [t async for t in fake_llm_stream("一二三", on_close=closed.append)]

    tokens = run_virtual(read_all())
    assert "".join(tokens) == "一二三" and closed == [len(tokens)]


ANSWER = ("异步编程的核心只有一句话：遇到要等的事，先把控制权交还给事件循环，"
          "让它去照看别的任务；等结果回来，再从暂停的地方接着往下走。")


def _stop_generation(stop_at, *, use_aclosing=True):
    """03's 停止生成: a chat task shows each token (0.02 s), the user cancels it at *stop_at*.

    Returns the ordered events, the task's cancelled() and the tokens shown.
    The stream is created by the caller and held during the whole run, as an
    app that keeps the response object would.
    """
    events = []

    async def main():
        loop = asyncio.get_running_loop()
        stream = fake_llm_stream(ANSWER, on_close=lambda sent: events.append(("closed", round(loop.time(), 9), sent)))
        shown = []

        async def chat():
            try:
                async with (contextlib.aclosing(stream) if use_aclosing else contextlib.nullcontext(stream)):
                    async for token in stream:
                        await asyncio.sleep(0.02)        # show_to_user
                        shown.append(token)
            except asyncio.CancelledError:
                events.append(("chat got CancelledError", round(loop.time(), 9), len(shown)))
                raise

        task = asyncio.create_task(chat())
        await asyncio.sleep(stop_at)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(1)                           # still holding the stream a second later
        events.append(("a second later", round(loop.time(), 9), None))
        await stream.aclose()
        return task.cancelled(), "".join(shown)

    cancelled, shown = run_virtual(main())
    return events, cancelled, shown


def test_cancelling_a_stream_consumer_closes_the_stream_before_the_consumer_sees_cancellederror():
    """03: the cancel lands in the consumer's own await (t=0.86); aclosing closes the stream at once."""
    events, cancelled, shown = _stop_generation(0.86)
    assert events == [("closed", 0.86, 6), ("chat got CancelledError", 0.86, 5), ("a second later", 1.86, None)]
    assert cancelled is True
    assert shown == "异步编程的核心只"


def test_a_cancel_while_waiting_for_the_next_token_closes_the_stream_from_inside():
    """The cancel lands in the stream's own sleep (t=0.83): the generator ends itself, with or without aclosing."""
    for use_aclosing in (True, False):
        events, cancelled, _ = _stop_generation(0.83, use_aclosing=use_aclosing)
        assert events[:2] == [("closed", 0.83, 5), ("chat got CancelledError", 0.83, 5)]
        assert cancelled is True


def test_without_aclosing_a_cancel_in_the_consumers_own_await_leaves_a_held_stream_open():
    """Like a bare break: the generator waits at its yield until someone closes it."""
    events, cancelled, _ = _stop_generation(0.86, use_aclosing=False)
    assert events == [("chat got CancelledError", 0.86, 5), ("a second later", 1.86, None), ("closed", 1.86, 6)]
    assert cancelled is True
