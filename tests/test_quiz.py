"""The self-test quiz: content, feedback, score, widget and text modes."""

import pytest

from course_lib.quiz import QUESTIONS, Quiz

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
    assert not correct and "正确答案是 A" in text
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
