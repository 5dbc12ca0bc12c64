"""Shared fixtures."""

import pytest

import course_lib


@pytest.fixture
def english():
    """Learner-facing text in English for one test (Chinese is the default)."""
    course_lib.set_language("en")
    yield
    course_lib.set_language("zh")
