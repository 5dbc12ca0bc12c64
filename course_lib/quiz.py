"""The chapter's self-test as an interactive quiz (ipywidgets, with a text mode).

Example use (in a notebook)::

    from course_lib.quiz import Quiz
    quiz = Quiz()
    quiz.show()              # widgets: pick, submit, read the explanation
    quiz.grade("BAB...")     # text mode: one letter per question

Questions, options, feedback and explanations are in Chinese: they are for
the learners.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from typing import Any, Sequence

from ._jupyter import WidgetDisplay, widgets_available

__all__ = ["Question", "QUESTIONS", "Quiz", "inline_markdown"]


@dataclass(frozen=True)
class Question:
    prompt: str
    options: tuple[str, ...]  # shown as A, B, C, ...
    answer: str  # the letter of the right option
    explanation: str

    def letters(self) -> str:
        return "ABCDEFGH"[: len(self.options)]

    def with_answer_at(self, letter: str) -> "Question":
        """The same question with its right option moved to *letter* (the others keep their order)."""
        index = "ABCDEFGH".index(self.answer)
        others = self.options[:index] + self.options[index + 1:]
        at = "ABCDEFGH".index(letter)
        return replace(self, options=others[:at] + (self.options[index],) + others[at:], answer=letter)


def inline_markdown(text: str) -> str:
    """*text* as HTML, with Markdown's code spans and bold rendered (all a question needs)."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(part)))
    return "".join(out)


_WRITTEN: tuple[Question, ...] = (
    # The chapter's three questions (reworded), then our own.
    Question(
        "下面哪一项【不是】我们选用异步编程的主要理由？",
        ("让大量 I/O 密集型任务跑得更快", "让 CPU 密集型计算在多个核上并行",
         "少花时间干等网络和磁盘", "让系统单位时间内处理更多请求"),
        "B",
        "异步只是在等待时切换去做别的事，全程只用一个线程；CPU 密集型计算要靠多进程才能真正并行。",
    ),
    Question(
        "asyncio.gather() 和 asyncio.wait() 最主要的区别是什么？",
        ("gather 按传入顺序返回结果列表；wait 返回 (done, pending) 两个集合",
         "gather 比 wait 跑得快", "wait 比 gather 更安全", "两者完全一样"),
        "A",
        "gather 关心“结果”，按顺序给你一个列表；wait 关心“状态”，把任务分成已完成和未完成两组，适合配合 FIRST_COMPLETED、超时等更细的控制。",
    ),
    Question(
        "要让一个类能用在 `async with` 里，它需要实现哪两个方法？",
        ("__enter__ 和 __exit__", "__aenter__ 和 __aexit__", "__init__ 和 __del__",
         "__call__ 和 __await__"),
        "B",
        "async with 会 await 这两个方法：进入时 await __aenter__()，离开时 await __aexit__()。__enter__/__exit__ 是普通 with 用的。",
    ),
    Question(
        "调用一个 `async def fetch()` 定义的函数、但不 await：`x = fetch()`，x 是什么？",
        ("fetch 的返回值", "一个协程对象，里面的代码还一行都没执行", "一个新线程", "立即抛出异常"),
        "B",
        "调用协程函数只会创建协程对象；要 await 它、或用 create_task 交给事件循环，代码才会真正开始运行。",
    ),
    Question(
        "在 Jupyter 笔记本里执行 `asyncio.run(main())`，通常会发生什么？",
        ("正常运行", "报错：cannot be called from a running event loop", "笔记本内核重启",
         "main 在后台线程运行"),
        "B",
        "Jupyter 自己已经有一个正在运行的事件循环，asyncio.run 不允许嵌套。在笔记本里直接写 `await main()` 即可。",
    ),
    Question(
        "`sem = asyncio.Semaphore(3)`，每个协程都 `async with sem:` 后再请求网络，这意味着？",
        ("最多 3 个协程同时在发请求，其余的排队等", "程序只会运行 3 个协程", "每个请求重试 3 次",
         "每 3 秒放行一个请求"),
        "A",
        "Semaphore 像只有 3 个窗口的柜台：同时进去的最多 3 个，有人出来，下一个才能进。",
    ),
    Question(
        "在 async 函数里写了 `time.sleep(2)`（而不是 `await asyncio.sleep(2)`），会怎样？",
        ("和 await asyncio.sleep(2) 一样", "整个事件循环被卡住 2 秒，其他协程也都停下",
         "只有这个协程等 2 秒", "Python 会自动把它改成异步的"),
        "B",
        "time.sleep 是阻塞调用，它不会把控制权交还给事件循环；这 2 秒里所有协程都动不了。",
    ),
    Question(
        "`task = asyncio.create_task(job())` 和 `await job()` 的区别是？",
        ("没有区别", "create_task 把 job 登记给事件循环，让它在后台运行，当前代码继续往下走",
         "create_task 会新开一个进程", "await job() 会并行运行"),
        "B",
        "create_task 安排任务“稍后开始、不等它”；await 则是“现在就等它做完”。想并发，就先 create_task，之后再 await 这些任务。"
        "两点要记住：事件循环只“弱引用”任务，自己要留着 task 变量；任务里的异常要有人读（await 它），否则会看到 “Task exception was never retrieved”。",
    ),
    Question(
        "要让对象能用在 `async for` 里，需要实现哪两个方法？",
        ("__iter__ 和 __next__", "__aiter__ 和 __anext__", "__aenter__ 和 __aexit__",
         "__getitem__ 和 __len__"),
        "B",
        "async for 先调用 __aiter__() 拿到异步迭代器，再反复 await __anext__()，直到它抛出 StopAsyncIteration。",
    ),
    Question(
        "指数退避重试时，为什么常常还要加一点随机抖动（jitter）？",
        ("让代码更难读", "避免很多客户端在同一时刻一起重试，把服务再次压垮",
         "让重试次数变少", "为了让第一次重试更快"),
        "B",
        "如果所有客户端都在第 1、2、4 秒整齐地重试，服务会周期性地被“同时涌入”击垮；加上抖动，重试时间就被打散了。",
    ),
    Question(
        "`await asyncio.wait_for(job(), timeout=1)`，如果 job 1 秒内没完成，会怎样？",
        ("job 继续运行，wait_for 返回 None", "job 被取消，wait_for 抛出 TimeoutError",
         "job 被重启一次", "程序直接退出"),
        "B",
        "wait_for 超时后会取消里面的任务，然后抛出 TimeoutError，调用方可以捕获它决定重试还是放弃。",
    ),
    Question(
        "有一批很耗 CPU 的计算（比如压缩图片），想在 4 核机器上提速，最合适的是？",
        ("asyncio.gather", "多开几个协程", "ProcessPoolExecutor（多进程）", "asyncio.Queue"),
        "C",
        "协程之间是轮流执行的，算得再多也只用一个核；多进程才能把计算分到多个核上真正并行。",
    ),
    Question(
        "`asyncio.Queue` 上的 `await queue.join()` 会等到什么时候？",
        ("队列里没有元素的那一刻", "每个放进去的元素都被取出并调用了 task_done()",
         "所有生产者退出", "一秒钟之后"),
        "B",
        "join 计的是“未完成的工作数”：put 加一，task_done 减一，减到 0 才返回。只 get 不 task_done，join 会永远等下去。",
    ),
    Question(
        "让大模型的回答“流式”输出（边生成边显示），最直接的好处是？",
        ("总生成时间变短", "用户更早看到第一个字，等待感大大降低", "消耗的 token 更少",
         "不再需要网络"),
        "B",
        "流式输出不会让模型算得更快，但第一个字几乎马上出现，用户体验好得多，也能随时中断。",
    ),
    Question(
        "`async with asyncio.TaskGroup() as tg:` 里开了三个任务，其中一个抛出了 ConnectionError，会怎样？",
        ("另外两个照常跑完，异常被悄悄忽略", "另外两个被取消；整个块结束时抛出一个包含这个 ConnectionError 的 ExceptionGroup",
         "整个程序立刻退出", "TaskGroup 自动把失败的任务重试一次"),
        "B",
        "TaskGroup 里一个任务失败，其余任务会被取消，块结束时把所有失败装进 ExceptionGroup 抛出，可以用 except* 按类型接住。"
        "这正好补上了 gather 的缺口：gather 抛出第一个异常后，其余任务还在后台跑。",
    ),
    Question(
        "一个任务被 `task.cancel()` 取消时，任务里的代码应该怎么做？",
        ("用 `except asyncio.CancelledError` 接住，不再抛出，接着干活", "什么都不用管，finally 不会执行",
         "在 finally 里收拾（关连接、记日志），然后让 CancelledError 继续往外抛", "调用 time.sleep 等一会儿"),
        "C",
        "cancel() 会在任务下一次 await 的地方抛出 CancelledError。可以在 finally 里做清理，但别把它吞掉：吞掉以后任务不算被取消，等它的人也得不到正确的结果。",
    ),
)

# Where each right option goes: the chapter's three keys, then spread so that
# no letter holds more than 40% of the keys (answering "all B" must not pass).
KEY_LAYOUT = "BAB" "DCADCBADCAD" "CB"
QUESTIONS: tuple[Question, ...] = tuple(q.with_answer_at(letter) for q, letter in zip(_WRITTEN, KEY_LAYOUT,
                                                                                       strict=True))


class Quiz:
    """Self-test with immediate feedback, an explanation per answer and a score.

    The score counts each question's first answer: the learner may answer
    again, and reads the explanation either way.
    """

    def __init__(self, questions: Sequence[Question] = QUESTIONS) -> None:
        self.questions = tuple(questions)
        self.first_answers: dict[int, str] = {}
        self.widget: Any = None

    @property
    def score(self) -> int:
        return sum(self.questions[i].answer == a for i, a in self.first_answers.items())

    def answer(self, index: int, letter: str) -> tuple[bool, str]:
        """Record an answer; return (correct, feedback text in Chinese)."""
        question = self.questions[index]
        letter = letter.strip().upper()
        if letter not in question.letters():
            raise ValueError(f"question {index + 1}: answer with one of {question.letters()}, got {letter!r}")
        again = index in self.first_answers
        self.first_answers.setdefault(index, letter)
        correct = letter == question.answer
        verdict = "✅ 正确！" if correct else "❌ 不对。"
        if again:
            verdict += "（这题按第一次的答案计分）"
        return correct, f"{verdict}{question.explanation}"

    def grade(self, letters: str) -> str:
        """Text mode: one letter per question (spaces ignored); returns the report."""
        letters = "".join(letters.split())
        if len(letters) != len(self.questions):
            raise ValueError(f"give {len(self.questions)} letters, one per question; got {len(letters)}")
        lines = []
        for i, letter in enumerate(letters):
            _, feedback = self.answer(i, letter)
            lines.append(f"第 {i + 1} 题：{feedback}")
        lines.append(f"得分：{self.score} / {len(self.questions)}")
        return "\n".join(lines)

    def text(self) -> str:
        """All questions as compact plain text (two lines each), for terminals and
        kernels without widgets."""
        blocks = []
        for i, q in enumerate(self.questions):
            options = "  ".join(f"{l}. {o}" for l, o in zip(q.letters(), q.options))
            blocks.append(f"{i + 1}. {q.prompt}\n   {options}")
        return "\n\n".join(blocks)

    def show(self) -> Any:
        """Display the widget quiz (or print the text version when widgets are missing)."""
        how = '\n\n用 quiz.grade("…") 提交答案，每题一个字母。'
        if not widgets_available():
            print(self.text() + how)
            return None
        WidgetDisplay(self.build_widget(), self.text() + how)
        return None

    def build_widget(self) -> Any:
        """One card per question: the prompt and options rendered, letter buttons, submit, feedback."""
        import ipywidgets as w

        score = w.HTML(self._score_html())
        cards = []
        for i, q in enumerate(self.questions):
            options = "".join(f"<div>{l}. {inline_markdown(o)}</div>" for l, o in zip(q.letters(), q.options))
            prompt = w.HTML(f"<b>{i + 1}. {inline_markdown(q.prompt)}</b>{options}")
            choice = w.ToggleButtons(options=list(q.letters()), value=None,
                                     style={"button_width": "3em"})
            submit = w.Button(description="提交", button_style="primary")
            feedback = w.HTML()
            submit.on_click(self._on_submit(i, choice, feedback, score))
            cards.append(w.VBox([prompt, choice, submit, feedback]))
        self.widget = w.VBox([*cards, score])
        return self.widget

    def _on_submit(self, index: int, choice: Any, feedback: Any, score: Any):
        def handler(_button: Any) -> None:
            if choice.value is None:
                feedback.value = "请先选一个选项。"
                return
            correct, text = self.answer(index, choice.value)
            color = "#2ca02c" if correct else "#d62728"
            feedback.value = f'<span style="color:{color}">{inline_markdown(text)}</span>'
            score.value = self._score_html()

        return handler

    def _score_html(self) -> str:
        return (f"<b>得分：{self.score} / {len(self.questions)}</b>"
                f"（已答 {len(self.first_answers)} 题；每题按第一次提交的答案计分）")
