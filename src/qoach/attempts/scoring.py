"""Server-side scoring, as a pure function of the answer key and the submission.

A question counts as correct when the set of chosen answers equals the set of
correct answers exactly; an unanswered question (no answer ids, or left out) is
wrong. Chosen answers are stored as a bit mask of answer positions (bit i = the
answer at position i), the same encoding as `attempt_answers.selected_mask`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class KeyQuestion:
    """One question of a quiz version: its answers (id → position) and the correct mask."""

    id: int
    answers: Mapping[int, int]
    correct_mask: int


class Submitted(Protocol):
    """One submitted item: `SubmittedAnswer`, or the request's own `AttemptAnswerCreate`."""

    @property
    def question_id(self) -> int: ...

    @property
    def answer_ids(self) -> Sequence[int]: ...


@dataclass(frozen=True, slots=True)
class SubmittedAnswer:
    question_id: int
    answer_ids: Sequence[int] = ()


@dataclass(frozen=True, slots=True)
class QuestionResult:
    question_id: int
    selected_mask: int
    is_correct: bool


@dataclass(frozen=True, slots=True)
class Score:
    """Per question of the key, in key order: parallel lists (what the INSERT binds)."""

    question_ids: list[int] = field(default_factory=list)
    masks: list[int] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)

    @property
    def results(self) -> list[QuestionResult]:
        return [
            QuestionResult(question_id=q, selected_mask=m, is_correct=ok)
            for q, m, ok in zip(self.question_ids, self.masks, self.correct, strict=True)
        ]

    @property
    def question_count(self) -> int:
        return len(self.question_ids)

    @property
    def correct_count(self) -> int:
        return sum(self.correct)

    @property
    def score(self) -> float:
        return self.correct_count / self.question_count if self.question_count else 0.0


class InvalidSubmission(ValueError):
    """A submission that does not fit the key; `loc` is relative to the answers list."""

    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def build_key(rows: Iterable[tuple[int, int, int, bool]]) -> list[KeyQuestion]:
    """The key from `(question_id, answer_id, answer_position, is_correct)` rows, in order."""
    answers: dict[int, dict[int, int]] = {}
    masks: dict[int, int] = {}
    for question_id, answer_id, position, is_correct in rows:
        answers.setdefault(question_id, {})[answer_id] = position
        masks[question_id] = masks.get(question_id, 0) | ((1 << position) if is_correct else 0)
    return [
        KeyQuestion(id=qid, answers=ans, correct_mask=masks[qid]) for qid, ans in answers.items()
    ]


def score_submission(key: Sequence[KeyQuestion], answers: Sequence[Submitted]) -> Score:
    """Check every submitted item against the key, then score each question of the key.

    Raises `InvalidSubmission` for an unknown question id, a question given twice,
    an answer id given twice, or an answer id that belongs to another question.
    """
    by_id = {question.id: question for question in key}
    chosen: dict[int, int] = {}
    for index, item in enumerate(answers):
        question_id = item.question_id
        question = by_id.get(question_id)
        if question is None:
            raise InvalidSubmission(
                (index, "question_id"),
                f"Question {question_id} is not a question of the current quiz version",
            )
        if question_id in chosen:
            raise InvalidSubmission(
                (index, "question_id"), f"Question {question_id} is given more than once"
            )
        mask = 0
        positions = question.answers
        seen: set[int] = set()
        for position, answer_id in enumerate(item.answer_ids):
            if answer_id in seen:
                raise InvalidSubmission(
                    (index, "answer_ids", position), f"Answer {answer_id} is given more than once"
                )
            seen.add(answer_id)
            answer_position = positions.get(answer_id)
            if answer_position is None:
                raise InvalidSubmission(
                    (index, "answer_ids", position),
                    f"Answer {answer_id} is not an answer of question {question_id}",
                )
            mask |= 1 << answer_position
        chosen[question_id] = mask
    question_ids = [question.id for question in key]
    masks = [chosen.get(question.id, 0) for question in key]
    correct = [
        mask != 0 and mask == question.correct_mask
        for mask, question in zip(masks, key, strict=True)
    ]
    return Score(question_ids=question_ids, masks=masks, correct=correct)
