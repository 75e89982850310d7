"""Who may call each quiz route: anonymous 401, wrong role 403, outsiders 404."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.factories import Factory
from tests.quizzes.helpers import ROLES, World, make_world, quiz_body

STAFF_ONLY = {"owner": 2, "admin": 2, "member": 403, "outsider": 404}
MEMBERS = {"owner": 2, "admin": 2, "member": 2, "outsider": 404}

# (method, path, body, expected status per role; 2 = the route's success status)
QUIZ_ROUTES: list[tuple[str, str, Any, dict[str, int]]] = [
    ("GET", "/quizzes/{quiz}", None, MEMBERS),
    ("GET", "/quizzes/{quiz}/admin", None, STAFF_ONLY),
    ("PUT", "/quizzes/{quiz}", quiz_body(), STAFF_ONLY),
    ("PATCH", "/quizzes/{quiz}", {"title": "New"}, STAFF_ONLY),
    ("DELETE", "/quizzes/{quiz}", None, STAFF_ONLY),
]
# a non-member of a visible company is refused by role (403), of a hidden one not found
COMPANY_ROUTES: list[tuple[str, str, Any, dict[str, int]]] = [
    ("POST", "/companies/{company}/quizzes", quiz_body(), {**STAFF_ONLY, "outsider": 403}),
    ("GET", "/companies/{company}/quizzes", None, {**MEMBERS, "outsider": 403}),
]
SUCCESS = {"GET": 200, "PUT": 200, "PATCH": 200, "DELETE": 204, "POST": 201}


def _path(template: str, world: World) -> str:
    return template.format(quiz=world.quiz.id, company=world.company.id)


async def _call(
    client: AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> int:
    response = await client.request(method, path, json=body, headers=headers)
    return response.status_code


@pytest.mark.parametrize(
    ("method", "template", "body", "expected"),
    QUIZ_ROUTES + COMPANY_ROUTES,
    ids=[f"{m} {p}" for m, p, _, _ in QUIZ_ROUTES + COMPANY_ROUTES],
)
async def test_route_roles(
    client: AsyncClient,
    factory: Factory,
    method: str,
    template: str,
    body: Any,
    expected: dict[str, int],
) -> None:
    for role in ROLES:
        # a fresh world per role (DELETE and PUT change the quiz); SQLite may reuse the
        # id of a deleted row, so forget the objects of the previous round first
        factory.session.expunge_all()
        world = await make_world(factory)
        status = await _call(client, method, _path(template, world), body, world.h(role))
        want = SUCCESS[method] if expected[role] == 2 else expected[role]
        assert status == want, (role, status)


@pytest.mark.parametrize(
    ("method", "template", "body"),
    [(m, p, b) for m, p, b, _ in QUIZ_ROUTES + COMPANY_ROUTES],
    ids=[f"{m} {p}" for m, p, _, _ in QUIZ_ROUTES + COMPANY_ROUTES],
)
async def test_route_needs_a_valid_token(
    client: AsyncClient, world: World, method: str, template: str, body: Any
) -> None:
    path = _path(template, world)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("method", "template", "body"),
    [(m, p, b) for m, p, b, _ in COMPANY_ROUTES],
    ids=[f"{m} {p}" for m, p, _, _ in COMPANY_ROUTES],
)
async def test_hidden_company_is_404_to_outsiders(
    client: AsyncClient, factory: Factory, method: str, template: str, body: Any
) -> None:
    world = await make_world(factory, is_visible=False)
    response = await client.request(
        method, _path(template, world), json=body, headers=world.h("outsider")
    )
    assert response.status_code == 404
    assert response.json()["code"] == "company_not_found"
    member = await client.request(
        method, _path(template, world), json=body, headers=world.h("member")
    )
    assert member.status_code == (403 if method == "POST" else 200)


async def test_missing_ids_are_404_and_bad_ids_422(client: AsyncClient, world: World) -> None:
    for method, template, body, _ in QUIZ_ROUTES:
        path = template.format(quiz=987654)
        response = await client.request(method, path, json=body, headers=world.h("owner"))
        assert response.status_code == 404, path
        assert response.json()["code"] == "quiz_not_found"
        for bad in ("0", "abc", "99999999999"):
            response = await client.request(
                method, template.format(quiz=bad), json=body, headers=world.h("owner")
            )
            assert response.status_code == 422, (method, bad)
    for method, template, body, _ in COMPANY_ROUTES:
        response = await client.request(
            method, template.format(company=987654), json=body, headers=world.h("owner")
        )
        assert response.status_code == 404


async def test_staff_of_another_company_cannot_touch_the_quiz(
    client: AsyncClient, world: World, factory: Factory
) -> None:
    other_owner = await factory.user()
    await factory.company(other_owner)
    headers = await factory.headers(other_owner)
    for method, template, body, _ in QUIZ_ROUTES:
        response = await client.request(method, _path(template, world), json=body, headers=headers)
        assert response.status_code == 404
