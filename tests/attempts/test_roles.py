"""Who may call each attempt route: anonymous 401, outsiders 404."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.factories import Factory
from tests.quizzes.helpers import ROLES, World


async def test_submit_roles(client: AsyncClient, world: World, factory: Factory) -> None:
    path = f"/quizzes/{world.quiz.id}/attempts"
    expected = {"owner": 201, "admin": 201, "member": 201, "outsider": 404}
    for role in ROLES:
        response = await client.post(path, json={"answers": []}, headers=world.h(role))
        assert response.status_code == expected[role], role
    # a visible company does not make its quizzes open to outsiders
    assert world.company.is_visible
    outsider = await client.post(path, json={"answers": []}, headers=world.h("outsider"))
    assert outsider.json()["code"] == "quiz_not_found"
    missing = await client.post(
        "/quizzes/987654/attempts", json={"answers": []}, headers=world.h("member")
    )
    assert missing.status_code == 404
    assert missing.json() == outsider.json()


async def test_anonymous_and_bad_tokens_are_401(client: AsyncClient, world: World) -> None:
    created = await client.post(
        f"/quizzes/{world.quiz.id}/attempts", json={"answers": []}, headers=world.h("member")
    )
    requests: list[tuple[str, str, Any]] = [
        ("POST", f"/quizzes/{world.quiz.id}/attempts", {"answers": []}),
        ("GET", f"/attempts/{created.json()['id']}", None),
        ("GET", "/users/me/attempts", None),
    ]
    for method, path, body in requests:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path)
            assert response.json()["code"] == "not_authenticated"


async def test_read_roles(client: AsyncClient, world: World) -> None:
    created = await client.post(
        f"/quizzes/{world.quiz.id}/attempts", json={"answers": []}, headers=world.h("member")
    )
    expected = {"owner": 200, "admin": 200, "member": 200, "outsider": 404}
    for role in ROLES:
        response = await client.get(f"/attempts/{created.json()['id']}", headers=world.h(role))
        assert response.status_code == expected[role], role
    # a staff member's own attempt is hidden from a plain member
    staff_attempt = await client.post(
        f"/quizzes/{world.quiz.id}/attempts", json={"answers": []}, headers=world.h("admin")
    )
    hidden = await client.get(f"/attempts/{staff_attempt.json()['id']}", headers=world.h("member"))
    assert hidden.status_code == 404


async def test_history_shows_only_own_attempts(client: AsyncClient, world: World) -> None:
    await client.post(
        f"/quizzes/{world.quiz.id}/attempts", json={"answers": []}, headers=world.h("admin")
    )
    for role in ("member", "outsider"):
        response = await client.get("/users/me/attempts", headers=world.h(role))
        assert response.status_code == 200
        assert response.json()["total"] == 0
