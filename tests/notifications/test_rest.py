from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Notification, NotificationKind
from tests.factories import Factory
from tests.notifications.helpers import make_notifications

LIST = "/users/me/notifications"
READ_ALL = "/users/me/notifications/read-all"


async def test_anonymous_is_401(client: AsyncClient) -> None:
    for method, path in (("GET", LIST), ("POST", "/notifications/1/read"), ("POST", READ_ALL)):
        response = await client.request(method, path)
        assert response.status_code == 401, (method, path)
        assert response.json()["code"] == "not_authenticated"
        bad = await client.request(method, path, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401


async def test_list_is_paginated_newest_first_with_unread_count(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app: FastAPI
) -> None:
    alice, bob = await factory.user(), await factory.user()
    company = await factory.company(alice)
    mine = await make_notifications(db, clean_app, alice, 5, company_id=company.id)
    await make_notifications(db, clean_app, bob, 2)
    headers = await factory.headers(alice)
    ids_desc = [n.id for n in reversed(mine)]

    first = (await client.get(LIST, params={"limit": 2}, headers=headers)).json()
    assert [n["id"] for n in first["items"]] == ids_desc[:2]
    assert (first["total"], first["limit"], first["offset"], first["unread_count"]) == (5, 2, 0, 5)

    last = (await client.get(LIST, params={"limit": 2, "offset": 4}, headers=headers)).json()
    assert [n["id"] for n in last["items"]] == ids_desc[4:]
    beyond = (await client.get(LIST, params={"offset": 10}, headers=headers)).json()
    assert beyond["items"] == [] and beyond["total"] == 5 and beyond["unread_count"] == 5

    default = (await client.get(LIST, headers=headers)).json()
    assert (default["limit"], default["offset"]) == (20, 0)
    item = default["items"][-1]
    assert item == {
        "id": mine[0].id,
        "kind": "quiz_created",
        "title": "Notification 1",
        "body": "body",
        "company_id": company.id,
        "payload": {"n": 1},
        "is_read": False,
        "created_at": item["created_at"],
    }
    assert item["created_at"].endswith("Z")


async def test_unread_only_and_unread_count(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app: FastAPI
) -> None:
    alice = await factory.user()
    rows = await make_notifications(db, clean_app, alice, 5)
    headers = await factory.headers(alice)
    for row in rows[:2]:
        assert (await client.post(f"/notifications/{row.id}/read", headers=headers)).is_success

    unread = (await client.get(LIST, params={"unread_only": "true"}, headers=headers)).json()
    assert [n["id"] for n in unread["items"]] == [r.id for r in reversed(rows[2:])]
    assert all(not n["is_read"] for n in unread["items"])
    assert unread["total"] == 3 and unread["unread_count"] == 3

    everything = (await client.get(LIST, params={"unread_only": "false"}, headers=headers)).json()
    assert everything["total"] == 5 and everything["unread_count"] == 3
    assert [n["is_read"] for n in everything["items"]] == [False, False, False, True, True]


async def test_list_validation(client: AsyncClient, factory: Factory) -> None:
    headers = await factory.headers(await factory.user())
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"unread_only": "maybe"}):
        response = await client.get(LIST, params=params, headers=headers)
        assert response.status_code == 422, params
        assert response.json()["code"] == "validation_error"


async def test_list_uses_a_constant_number_of_statements(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app: FastAPI, count_statements
) -> None:
    alice = await factory.user()
    await make_notifications(db, clean_app, alice, 30)
    headers = await factory.headers(alice)
    with count_statements as counter:
        response = await client.get(LIST, params={"limit": 100}, headers=headers)
    assert response.status_code == 200 and len(response.json()["items"]) == 30
    assert counter.count <= 4  # auth, counts, page (+ COMMIT)


async def test_mark_read(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app: FastAPI
) -> None:
    alice = await factory.user()
    (note,) = await make_notifications(db, clean_app, alice)
    headers = await factory.headers(alice)

    response = await client.post(f"/notifications/{note.id}/read", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == note.id and body["is_read"] is True
    assert set(body) == {
        "id",
        "kind",
        "title",
        "body",
        "company_id",
        "payload",
        "is_read",
        "created_at",
    }
    again = await client.post(f"/notifications/{note.id}/read", headers=headers)
    assert again.status_code == 200 and again.json()["is_read"] is True

    stored = await db.scalar(select(Notification).where(Notification.id == note.id))
    await db.commit()
    assert stored is not None
    await db.refresh(stored)
    assert stored.is_read and stored.read_at is not None
    await db.commit()


async def test_mark_read_of_someone_else_or_missing_is_404(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app: FastAPI
) -> None:
    alice, bob = await factory.user(), await factory.user()
    (note,) = await make_notifications(db, clean_app, alice)
    bob_headers = await factory.headers(bob)

    response = await client.post(f"/notifications/{note.id}/read", headers=bob_headers)
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    missing = await client.post(f"/notifications/{note.id + 1000}/read", headers=bob_headers)
    assert missing.status_code == 404
    for bad in ("0", "abc", "99999999999"):
        assert (
            await client.post(f"/notifications/{bad}/read", headers=bob_headers)
        ).status_code == 422

    alice_page = (await client.get(LIST, headers=await factory.headers(alice))).json()
    assert alice_page["items"][0]["is_read"] is False


async def test_read_all_counts_only_the_callers_unread(
    client: AsyncClient, factory: Factory, db: AsyncSession, clean_app: FastAPI
) -> None:
    alice, bob = await factory.user(), await factory.user()
    rows = await make_notifications(db, clean_app, alice, 4, kind=NotificationKind.quiz_reminder)
    await make_notifications(db, clean_app, bob, 3)
    headers = await factory.headers(alice)
    await client.post(f"/notifications/{rows[0].id}/read", headers=headers)

    response = await client.post(READ_ALL, headers=headers)
    assert response.status_code == 200 and response.json() == {"updated": 3}
    assert (await client.post(READ_ALL, headers=headers)).json() == {"updated": 0}
    page = (await client.get(LIST, headers=headers)).json()
    assert page["unread_count"] == 0 and all(n["is_read"] for n in page["items"])

    bob_page = (await client.get(LIST, headers=await factory.headers(bob))).json()
    assert bob_page["unread_count"] == 3


async def test_openapi_documents_the_routes(client: AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths[LIST]["get"]["responses"]) >= {"200", "401", "422"}
    assert set(paths["/notifications/{notification_id}/read"]["post"]["responses"]) >= {
        "200",
        "401",
        "404",
    }
    assert set(paths[READ_ALL]["post"]["responses"]) >= {"200", "401"}
