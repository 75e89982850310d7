"""The public view caches a version's questions; the quiz row and access stay live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import AuthSession
from tests.factories import Factory
from tests.quizzes.helpers import quiz_body


async def _setup(client: AsyncClient, factory: Factory) -> tuple[int, dict[str, str], dict]:
    owner = await factory.user()
    member = await factory.user()
    company = await factory.company(owner, members=[member])
    owner_headers = await factory.headers(owner)
    created = await client.post(
        f"/companies/{company.id}/quizzes", json=quiz_body(3, answers=4), headers=owner_headers
    )
    assert created.status_code == 201
    return created.json()["id"], owner_headers, {"member": await factory.headers(member)}


async def test_second_read_is_served_from_the_cache_and_matches_the_first(
    client: AsyncClient, factory: Factory, count_statements
) -> None:
    quiz_id, _, h = await _setup(client, factory)
    first = await client.get(f"/quizzes/{quiz_id}", headers=h["member"])
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    with count_statements as counter:
        second = await client.get(f"/quizzes/{quiz_id}", headers=h["member"])
    assert second.json() == first.json()
    # the login + quiz + membership + current version in one query: no questions query
    assert counter.count == 1, counter.statements
    body = second.json()
    assert [a["text"] for a in body["questions"][0]["answers"]] == [
        "Answer 1.1",
        "Answer 1.2",
        "Answer 1.3",
        "Answer 1.4",
    ]
    assert all(set(a) == {"id", "text"} for q in body["questions"] for a in q["answers"])


async def test_patch_and_put_show_at_once(client: AsyncClient, factory: Factory) -> None:
    quiz_id, owner_headers, h = await _setup(client, factory)
    assert (await client.get(f"/quizzes/{quiz_id}", headers=h["member"])).status_code == 200

    patched = await client.patch(
        f"/quizzes/{quiz_id}", json={"title": "Renamed"}, headers=owner_headers
    )
    assert patched.status_code == 200
    view = (await client.get(f"/quizzes/{quiz_id}", headers=h["member"])).json()
    assert view["title"] == "Renamed"
    assert view["updated_at"] == patched.json()["updated_at"]

    replaced = await client.put(
        f"/quizzes/{quiz_id}", json=quiz_body(2, answers=2, title="New"), headers=owner_headers
    )
    assert replaced.status_code == 200
    view = (await client.get(f"/quizzes/{quiz_id}", headers=h["member"])).json()
    assert view["version"] == 2
    assert [q["id"] for q in view["questions"]] == [q["id"] for q in replaced.json()["questions"]]
    assert view["questions"][0]["text"] == "Question 1?"


async def test_a_removed_member_loses_a_cached_quiz(client: AsyncClient, factory: Factory) -> None:
    owner = await factory.user()
    member = await factory.user()
    company = await factory.company(owner, members=[member])
    owner_headers = await factory.headers(owner)
    member_headers = await factory.headers(member)
    quiz_id = (
        await client.post(
            f"/companies/{company.id}/quizzes", json=quiz_body(2), headers=owner_headers
        )
    ).json()["id"]
    assert (await client.get(f"/quizzes/{quiz_id}", headers=member_headers)).status_code == 200

    removed = await client.delete(
        f"/companies/{company.id}/members/{member.id}", headers=owner_headers
    )
    assert removed.status_code == 204
    assert (await client.get(f"/quizzes/{quiz_id}", headers=member_headers)).status_code == 404
    assert (await client.get(f"/quizzes/{quiz_id}")).status_code == 401


# --- the login is checked in the view's own query, on every read ---------------------


async def _member_reading(
    client: AsyncClient, factory: Factory
) -> tuple[int, dict[str, str], str, int]:
    """A quiz, and a member who has read it once (token and view both cached now)."""
    owner = await factory.user()
    member = await factory.user()
    company = await factory.company(owner, members=[member])
    quiz = await factory.quiz(company)
    access, refresh, login = await factory.tokens(member)
    headers = {"Authorization": f"Bearer {access}"}
    assert (await client.get(f"/quizzes/{quiz.id}", headers=headers)).status_code == 200
    return quiz.id, headers, refresh, login.id


async def test_a_cached_read_is_one_statement(
    client: AsyncClient, factory: Factory, count_statements
) -> None:
    quiz_id, headers, _, _ = await _member_reading(client, factory)
    with count_statements as counter:
        response = await client.get(f"/quizzes/{quiz_id}", headers=headers)
    assert response.status_code == 200
    # the login, its user, the quiz, the caller's membership and the version: one query
    assert counter.count == 1, counter.statements


async def test_a_logged_out_login_is_refused_at_once(client: AsyncClient, factory: Factory) -> None:
    quiz_id, headers, refresh, _ = await _member_reading(client, factory)
    out = await client.post("/auth/logout", json={"refresh_token": refresh}, headers=headers)
    assert out.status_code == 204
    response = await client.get(f"/quizzes/{quiz_id}", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or expired token", "code": "not_authenticated"}
    assert response.headers["WWW-Authenticate"] == "Bearer"
    # auth comes first: a quiz that does not exist is still a 401, not a 404
    assert (await client.get("/quizzes/2147483647", headers=headers)).status_code == 401


async def test_a_deleted_user_is_refused_at_once(client: AsyncClient, factory: Factory) -> None:
    quiz_id, headers, _, _ = await _member_reading(client, factory)
    assert (await client.delete("/users/me", headers=headers)).status_code == 204
    assert (await client.get(f"/quizzes/{quiz_id}", headers=headers)).status_code == 401


async def test_an_expired_login_is_refused(
    client: AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    quiz_id, headers, _, login_id = await _member_reading(client, factory)
    await db.execute(
        update(AuthSession)
        .where(AuthSession.id == login_id)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await db.commit()
    assert (await client.get(f"/quizzes/{quiz_id}", headers=headers)).status_code == 401


async def test_missing_and_bad_tokens_are_401(client: AsyncClient, factory: Factory) -> None:
    quiz_id, headers, refresh, _ = await _member_reading(client, factory)
    for bad in (None, "not-a-token", refresh, headers["Authorization"][7:-2] + "xx"):
        response = await client.get(
            f"/quizzes/{quiz_id}",
            headers={"Authorization": f"Bearer {bad}"} if bad else {},
        )
        assert response.status_code == 401, bad
