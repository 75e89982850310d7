"""The pure scoring function: exact set match, unanswered is wrong, bad items rejected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qoach.attempts.scoring import (
    InvalidSubmission,
    KeyQuestion,
    SubmittedAnswer,
    build_key,
    score_submission,
)

# question 10: answers 100..102, only 100 correct; question 20: 200..203, 200 and 201 correct
ROWS = [
    (10, 100, 0, True),
    (10, 101, 1, False),
    (10, 102, 2, False),
    (20, 200, 0, True),
    (20, 201, 1, True),
    (20, 202, 2, False),
    (20, 203, 3, False),
]
KEY = build_key(ROWS)


def _score(*items: tuple[int, list[int]]):
    return score_submission(KEY, [SubmittedAnswer(q, a) for q, a in items])


def test_build_key_keeps_order_and_masks() -> None:
    assert [q.id for q in KEY] == [10, 20]
    assert KEY[0].correct_mask == 0b001
    assert KEY[1].correct_mask == 0b011
    assert KEY[1].answers == {200: 0, 201: 1, 202: 2, 203: 3}


def test_all_correct() -> None:
    score = _score((10, [100]), (20, [201, 200]))
    assert (score.correct_count, score.question_count, score.score) == (2, 2, 1.0)
    assert [(r.question_id, r.selected_mask, r.is_correct) for r in score.results] == [
        (10, 0b001, True),
        (20, 0b011, True),
    ]


@pytest.mark.parametrize(
    ("answer_ids", "correct"),
    [
        ([200, 201], True),
        ([200], False),  # a subset of the correct set
        ([201], False),
        ([200, 201, 202], False),  # a superset
        ([202, 203], False),
        ([], False),  # unanswered
    ],
)
def test_multi_correct_needs_the_exact_set(answer_ids: list[int], correct: bool) -> None:
    score = _score((10, [100]), (20, answer_ids))
    assert score.results[1].is_correct is correct
    assert score.correct_count == 1 + correct


@pytest.mark.parametrize(
    ("answer_ids", "correct"), [([100], True), ([101], False), ([100, 101], False), ([], False)]
)
def test_single_correct(answer_ids: list[int], correct: bool) -> None:
    assert _score((10, answer_ids)).results[0].is_correct is correct


def test_unanswered_and_left_out_questions_are_wrong_and_listed() -> None:
    score = _score()
    assert score.correct_count == 0
    assert score.score == 0.0
    assert [(r.question_id, r.selected_mask, r.is_correct) for r in score.results] == [
        (10, 0, False),
        (20, 0, False),
    ]


def test_results_follow_the_key_order_not_the_submission() -> None:
    score = _score((20, [203]), (10, [101]))
    assert [r.question_id for r in score.results] == [10, 20]
    assert score.results[1].selected_mask == 0b1000


@pytest.mark.parametrize(
    ("items", "loc"),
    [
        ([(99, [])], (0, "question_id")),
        ([(10, [100]), (10, [100])], (1, "question_id")),
        ([(10, [100, 100])], (0, "answer_ids", 1)),
        ([(10, [100]), (20, [100])], (1, "answer_ids", 0)),
        ([(20, [200, 999])], (0, "answer_ids", 1)),
    ],
    ids=["unknown question", "question twice", "answer twice", "other question", "unknown"],
)
def test_invalid_items_name_the_item(
    items: list[tuple[int, list[int]]], loc: tuple[int | str, ...]
) -> None:
    with pytest.raises(InvalidSubmission) as caught:
        _score(*items)
    assert caught.value.loc == loc


# --- properties -------------------------------------------------------------------


@st.composite
def keys_and_choices(draw: st.DrawFn) -> tuple[list[KeyQuestion], list[list[int] | None]]:
    """A random key (1–30 questions, 2–4 answers, ≥ 1 correct) and a random choice each."""
    rows = []
    choices: list[list[int] | None] = []
    next_id = 1
    for question_id in range(1, draw(st.integers(1, 30)) + 1):
        n = draw(st.integers(2, 4))
        correct = draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))
        ids = list(range(next_id, next_id + n))
        next_id += n
        rows += [(question_id, ids[p], p, correct[p]) for p in range(n)]
        picked = draw(st.none() | st.lists(st.sampled_from(ids), unique=True, max_size=n))
        choices.append(picked)
    return build_key(rows), choices


@given(keys_and_choices(), st.randoms())
def test_score_is_the_number_of_exact_matches(data, rnd) -> None:
    key, choices = data
    items = [
        SubmittedAnswer(question.id, picked)
        for question, picked in zip(key, choices, strict=True)
        if picked is not None
    ]
    rnd.shuffle(items)  # the order of the items does not matter
    score = score_submission(key, items)

    expected = 0
    for question, picked in zip(key, choices, strict=True):
        chosen = set(picked or [])
        right = {aid for aid, pos in question.answers.items() if question.correct_mask >> pos & 1}
        expected += bool(chosen) and chosen == right
    assert score.correct_count == expected
    assert score.question_count == len(key)
    assert [r.question_id for r in score.results] == [q.id for q in key]
    assert 0.0 <= score.score <= 1.0
    for result, question, picked in zip(score.results, key, choices, strict=True):
        positions = {question.answers[aid] for aid in picked or []}
        assert result.selected_mask == sum(1 << p for p in positions)
        assert 0 <= result.selected_mask < 16


@given(keys_and_choices())
def test_choosing_exactly_the_correct_answers_scores_full_marks(data) -> None:
    key, _ = data
    items = [
        SubmittedAnswer(q.id, [aid for aid, pos in q.answers.items() if q.correct_mask >> pos & 1])
        for q in key
    ]
    score = score_submission(key, items)
    assert score.correct_count == score.question_count == len(key)
    assert score.score == 1.0
