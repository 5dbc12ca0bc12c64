"""The self-test quiz: content, feedback, score, widget and text modes."""

import pytest

from course_lib.quiz import QUESTIONS, Quiz, inline_markdown

KEY = "".join(q.answer for q in QUESTIONS)


def test_chapter_questions_come_first_and_there_are_at_least_twelve():
    assert len(QUESTIONS) >= 12
    assert [q.answer for q in QUESTIONS[:3]] == ["B", "A", "B"]  # the chapter's answers
    assert "gather" in QUESTIONS[1].prompt and "__aenter__" in QUESTIONS[2].options[1]
    for q in QUESTIONS:
        assert q.answer in q.letters() and q.explanation and len(set(q.options)) == len(q.options)


def test_feedback_explains_right_and_wrong_answers():
    quiz = Quiz()
    correct, text = quiz.answer(0, "b")
    assert correct and text.startswith("✅") and "多进程" in text
    correct, text = quiz.answer(1, "C")
    assert not correct and text.startswith("❌") and "gather" in text  # the explanation either way
    assert quiz.score == 1


def test_text_mode_grades_a_whole_answer_string():
    report = Quiz().grade(" ".join(KEY))
    assert report.endswith(f"得分：{len(QUESTIONS)} / {len(QUESTIONS)}")
    wrong = "A" + KEY[1:]
    assert f"得分：{len(QUESTIONS) - 1} / {len(QUESTIONS)}" in Quiz().grade(wrong)
    text = Quiz().text()
    assert text.startswith("1. ") and "   A. " in text
    assert len(text.splitlines()) < 60  # fits a notebook output


def test_bad_answers_get_clear_errors():
    with pytest.raises(ValueError, match="one per question"):
        Quiz().grade("AB")
    with pytest.raises(ValueError, match="one of ABCD"):
        Quiz().answer(0, "Z")


def test_widget_gives_feedback_and_score_on_submit():
    quiz = Quiz()
    box = quiz.build_widget()
    card = box.children[0]
    _, choice, submit, feedback = card.children
    submit.click()
    assert "请先选" in feedback.value
    choice.value = "B"
    submit.click()
    assert "正确" in feedback.value
    assert "得分：1 /" in box.children[-1].value


def test_no_letter_holds_more_than_two_fifths_of_the_keys():
    for letter in "ABCD":
        assert KEY.count(letter) <= 0.4 * len(KEY), (letter, KEY)
        assert Quiz().grade(letter * len(QUESTIONS)).endswith(f"得分：{KEY.count(letter)} / {len(QUESTIONS)}")


def test_the_score_counts_first_attempts_and_a_retry_still_explains():
    quiz = Quiz()
    wrong = next(l for l in QUESTIONS[4].letters() if l != QUESTIONS[4].answer)
    correct, first = quiz.answer(4, wrong)
    assert not correct and QUESTIONS[4].explanation in first
    correct, again = quiz.answer(4, QUESTIONS[4].answer)
    assert correct and QUESTIONS[4].explanation in again and "第一次" in again
    assert quiz.score == 0
    quiz.answer(0, QUESTIONS[0].answer)
    quiz.answer(0, "A")  # a later wrong answer does not take the point away
    assert quiz.score == 1


def test_markdown_in_questions_and_options_renders():
    assert inline_markdown("用 `asyncio.Queue` 和 **两个** <b>") == \
        "用 <code>asyncio.Queue</code> 和 <b>两个</b> &lt;b&gt;"
    box = Quiz().build_widget()
    shown = "".join(card.children[0].value for card in box.children[:-1])
    assert "<code>" in shown and "`" not in shown
    assert all("`" not in option for card in box.children[:-1] for option in card.children[1].options)
