"""The public view caches a version's questions; the quiz row and access stay live."""

from __future__ import annotations

from httpx import AsyncClient

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
    # auth, then quiz + membership + current version in one query: no questions query
    assert counter.count <= 2, counter.statements
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
