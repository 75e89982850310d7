"""Every rule of a quiz definition is a 422 that names the field (POST and PUT share it)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import pytest
from httpx import AsyncClient

from tests.quizzes.helpers import World, quiz_body


def _with(path: tuple[Any, ...], value: Any, body: dict[str, Any] | None = None) -> dict[str, Any]:
    body = deepcopy(body or quiz_body(4))
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


_DROP = object()


def _answers(*specs: tuple[str, bool]) -> list[dict[str, Any]]:
    return [{"text": text, "is_correct": ok} for text, ok in specs]


CASES = [
    # (case id, body, expected loc)
    ("title missing", _with(("title",), _DROP), ["body", "title"]),
    ("title blank", _with(("title",), "   "), ["body", "title"]),
    ("title too long", _with(("title",), "x" * 201), ["body", "title"]),
    ("description too long", _with(("description",), "x" * 2001), ["body", "description"]),
    ("frequency zero", _with(("frequency_days",), 0), ["body", "frequency_days"]),
    ("frequency negative", _with(("frequency_days",), -3), ["body", "frequency_days"]),
    ("frequency too large", _with(("frequency_days",), 3651), ["body", "frequency_days"]),
    ("frequency not int", _with(("frequency_days",), 1.5), ["body", "frequency_days"]),
    ("one question", quiz_body(1), ["body", "questions"]),
    ("no questions", quiz_body(0), ["body", "questions"]),
    ("101 questions", quiz_body(101), ["body", "questions"]),
    ("question text blank", _with(("questions", 2, "text"), " "), ["body", "questions", 2, "text"]),
    (
        "question text too long",
        _with(("questions", 1, "text"), "q" * 1001),
        ["body", "questions", 1, "text"],
    ),
    (
        "one answer",
        _with(("questions", 3, "answers"), _answers(("A", True))),
        ["body", "questions", 3, "answers"],
    ),
    (
        "five answers",
        _with(
            ("questions", 3, "answers"),
            _answers(("A", True), ("B", False), ("C", False), ("D", False), ("E", False)),
        ),
        ["body", "questions", 3, "answers"],
    ),
    (
        "duplicate answer texts (trimmed, any case)",
        _with(("questions", 3, "answers"), _answers(("Paris", True), (" paris ", False))),
        ["body", "questions", 3, "answers"],
    ),
    (
        "no correct answer",
        _with(("questions", 3, "answers"), _answers(("A", False), ("B", False))),
        ["body", "questions", 3, "answers"],
    ),
    (
        "answer text blank",
        _with(("questions", 0, "answers", 1, "text"), ""),
        ["body", "questions", 0, "answers", 1, "text"],
    ),
    (
        "answer text too long",
        _with(("questions", 0, "answers", 1, "text"), "a" * 501),
        ["body", "questions", 0, "answers", 1, "text"],
    ),
    (
        "is_correct missing",
        _with(("questions", 0, "answers", 1, "is_correct"), _DROP),
        ["body", "questions", 0, "answers", 1, "is_correct"],
    ),
    ("unknown top-level field", _with(("version",), 3), ["body", "version"]),
    (
        "unknown answer field",
        _with(("questions", 1, "answers", 0, "id"), 5),
        ["body", "questions", 1, "answers", 0, "id"],
    ),
]


@pytest.mark.parametrize(("body", "loc"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_create_rejects_with_field_loc(
    client: AsyncClient, world: World, body: dict[str, Any], loc: list[Any]
) -> None:
    response = await client.post(
        f"/companies/{world.company.id}/quizzes", json=body, headers=world.h("admin")
    )
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["code"] == "validation_error"
    assert loc in [error["loc"] for error in payload["detail"]], payload


@pytest.mark.parametrize(
    ("body", "loc"),
    [c[1:] for c in CASES if c[0] in {"one question", "no correct answer", "frequency zero"}],
)
async def test_replace_uses_the_same_rules(
    client: AsyncClient, world: World, body: dict[str, Any], loc: list[Any]
) -> None:
    response = await client.put(f"/quizzes/{world.quiz.id}", json=body, headers=world.h("owner"))
    assert response.status_code == 422
    assert loc in [error["loc"] for error in response.json()["detail"]]


async def test_limits_are_inclusive(client: AsyncClient, world: World) -> None:
    body = quiz_body(100, answers=4, title="t" * 200, description="d" * 2000, frequency_days=3650)
    response = await client.post(
        f"/companies/{world.company.id}/quizzes", json=body, headers=world.h("owner")
    )
    assert response.status_code == 201, response.text
    quiz = response.json()
    assert len(quiz["questions"]) == 100
    assert all(len(q["answers"]) == 4 for q in quiz["questions"])
    assert quiz["frequency_days"] == 3650


async def test_texts_are_trimmed_and_defaults_apply(client: AsyncClient, world: World) -> None:
    body = {
        "title": "  Fire drill  ",
        "questions": [
            {"text": " Where? ", "answers": _answers((" Out ", True), ("In", False))},
            {"text": "When?", "answers": _answers(("Now", True), ("Later", True))},
        ],
    }
    response = await client.post(
        f"/companies/{world.company.id}/quizzes", json=body, headers=world.h("owner")
    )
    assert response.status_code == 201, response.text
    quiz = response.json()
    assert quiz["title"] == "Fire drill"
    assert quiz["description"] is None
    assert quiz["frequency_days"] == 1
    assert quiz["questions"][0]["text"] == "Where?"
    assert quiz["questions"][0]["answers"][0]["text"] == "Out"
