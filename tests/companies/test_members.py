"""Members, removal, leaving, ownership transfer and admins."""

from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Membership
from tests.companies.conftest import World
from tests.companies.helpers import all_rows, count
from tests.factories import Factory


async def roles_of(db: AsyncSession, company_id: int) -> dict[int, str]:
    rows = await all_rows(
        db,
        select(Membership.user_id, Membership.role).where(Membership.company_id == company_id),
    )
    return dict(rows)


async def test_list_members(client: AsyncClient, world: World, factory: Factory) -> None:
    extra = await factory.member(world.company)
    url = f"/companies/{world.company.id}/members"
    response = await client.get(url, headers=world.headers["member"])
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 4
    assert [(item["user"]["id"], item["role"]) for item in body["items"]] == [
        (world.owner.id, "owner"),
        (world.admin.id, "admin"),
        (world.member.id, "member"),
        (extra.id, "member"),
    ]
    first = body["items"][0]
    assert set(first) == {"user", "role", "joined_at"}
    assert set(first["user"]) == {"id", "email", "first_name", "last_name", "created_at"}
    assert first["user"]["email"] == world.owner.email

    admins_only = await client.get(url, params={"role": "admin"}, headers=world.headers["owner"])
    assert [item["user"]["id"] for item in admins_only.json()["items"]] == [world.admin.id]
    assert admins_only.json()["total"] == 1
    paged = await client.get(url, params={"limit": 1, "offset": 1}, headers=world.headers["admin"])
    assert paged.json()["total"] == 4
    assert [item["user"]["id"] for item in paged.json()["items"]] == [world.admin.id]
    bad_role = await client.get(url, params={"role": "boss"}, headers=world.headers["owner"])
    assert bad_role.status_code == 422

    assert (await client.get(url, headers=world.headers["outsider"])).status_code == 403
    assert (await client.get(url)).status_code == 401


async def test_owner_removes_anyone_but_self(
    client: AsyncClient, world: World, db: AsyncSession
) -> None:
    base = f"/companies/{world.company.id}/members"
    headers = world.headers["owner"]
    response = await client.delete(f"{base}/{world.owner.id}", headers=headers)
    assert response.status_code == 409
    assert response.json()["code"] == "owner_cannot_leave"
    assert (await client.delete(f"{base}/{world.admin.id}", headers=headers)).status_code == 204
    assert (await client.delete(f"{base}/{world.member.id}", headers=headers)).status_code == 204
    assert await roles_of(db, world.company.id) == {world.owner.id: "owner"}
    missing = await client.delete(f"{base}/{world.outsider.id}", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "member_not_found"
    assert (await client.delete(f"{base}/999999", headers=headers)).status_code == 404


async def test_admin_removes_plain_members_only(
    client: AsyncClient, world: World, factory: Factory, db: AsyncSession
) -> None:
    other_admin = await factory.member(world.company, role="admin")
    base = f"/companies/{world.company.id}/members"
    headers = world.headers["admin"]
    for target in (world.owner, other_admin, world.admin):
        response = await client.delete(f"{base}/{target.id}", headers=headers)
        assert response.status_code == 403, target
        assert response.json()["code"] == "forbidden_role"
    assert (await client.delete(f"{base}/{world.outsider.id}", headers=headers)).status_code == 404
    assert (await client.delete(f"{base}/{world.member.id}", headers=headers)).status_code == 204
    assert world.member.id not in await roles_of(db, world.company.id)


async def test_members_cannot_remove(client: AsyncClient, world: World, factory: Factory) -> None:
    other = await factory.member(world.company)
    base = f"/companies/{world.company.id}/members"
    for role in ("member", "outsider"):
        response = await client.delete(f"{base}/{other.id}", headers=world.headers[role])
        assert response.status_code == 403
    assert (await client.delete(f"{base}/{other.id}")).status_code == 401


async def test_leave(client: AsyncClient, world: World, db: AsyncSession) -> None:
    url = f"/companies/{world.company.id}/leave"
    owner = await client.post(url, headers=world.headers["owner"])
    assert owner.status_code == 409
    assert owner.json()["code"] == "owner_cannot_leave"
    assert (await client.post(url, headers=world.headers["outsider"])).status_code == 403
    assert (await client.post(url)).status_code == 401
    assert (await client.post(url, headers=world.headers["admin"])).status_code == 204
    assert (await client.post(url, headers=world.headers["member"])).status_code == 204
    assert await roles_of(db, world.company.id) == {world.owner.id: "owner"}
    # gone: now an outsider of a visible company
    assert (await client.post(url, headers=world.headers["member"])).status_code == 403


async def test_leaving_a_hidden_company_then_it_disappears(
    client: AsyncClient, make_world, db: AsyncSession
) -> None:
    hidden = await make_world(is_visible=False)
    url = f"/companies/{hidden.company.id}"
    assert (await client.post(f"{url}/leave", headers=hidden.headers["member"])).status_code == 204
    assert (await client.get(url, headers=hidden.headers["member"])).status_code == 404
    listed = await client.get("/companies", headers=hidden.headers["member"])
    assert hidden.company.id not in [item["id"] for item in listed.json()["items"]]


async def test_transfer_ownership(client: AsyncClient, world: World, db: AsyncSession) -> None:
    url = f"/companies/{world.company.id}/owner"
    response = await client.post(
        url, json={"user_id": world.member.id}, headers=world.headers["owner"]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == world.company.id and body["role"] == "admin"
    assert await roles_of(db, world.company.id) == {
        world.owner.id: "admin",
        world.admin.id: "admin",
        world.member.id: "owner",
    }
    # the old owner is now an admin: no longer allowed
    again = await client.post(url, json={"user_id": world.owner.id}, headers=world.headers["owner"])
    assert again.status_code == 403
    # the new owner can give it back, to an admin this time
    back = await client.post(url, json={"user_id": world.owner.id}, headers=world.headers["member"])
    assert back.status_code == 200
    assert (
        await count(
            db, Membership, Membership.company_id == world.company.id, Membership.role == "owner"
        )
        == 1
    )


async def test_transfer_ownership_errors(
    client: AsyncClient, world: World, db: AsyncSession
) -> None:
    url = f"/companies/{world.company.id}/owner"
    headers = world.headers["owner"]
    outsider = await client.post(url, json={"user_id": world.outsider.id}, headers=headers)
    assert outsider.status_code == 409
    assert outsider.json()["code"] == "not_a_member"
    unknown = await client.post(url, json={"user_id": 999999}, headers=headers)
    assert unknown.status_code == 409
    self_ = await client.post(url, json={"user_id": world.owner.id}, headers=headers)
    assert self_.status_code == 409
    for payload in ({}, {"user_id": "x"}, {"user_id": world.member.id, "extra": 1}):
        assert (await client.post(url, json=payload, headers=headers)).status_code == 422
    for role in ("admin", "member", "outsider"):
        response = await client.post(
            url, json={"user_id": world.member.id}, headers=world.headers[role]
        )
        assert response.status_code == 403, role
    assert (await client.post(url, json={"user_id": world.member.id})).status_code == 401
    assert (await roles_of(db, world.company.id))[world.owner.id] == "owner"


async def test_admins(
    client: AsyncClient, world: World, factory: Factory, db: AsyncSession
) -> None:
    base = f"/companies/{world.company.id}/admins"
    listed = await client.get(base, headers=world.headers["member"])
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 1 and body["limit"] == 20 and body["offset"] == 0
    item = body["items"][0]
    assert set(item) == {"user", "company_id", "role", "joined_at"}
    assert (item["user"]["id"], item["company_id"], item["role"]) == (
        world.admin.id,
        world.company.id,
        "admin",
    )
    assert (await client.get(base, headers=world.headers["outsider"])).status_code == 403
    assert (
        await client.get(base, params={"limit": 0}, headers=world.headers["owner"])
    ).status_code == 422

    owner = world.headers["owner"]
    promoted = await client.post(f"{base}/{world.member.id}", headers=owner)
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin"
    assert promoted.json()["user"]["id"] == world.member.id
    for target, code in (
        (world.member.id, "already_admin"),
        (world.owner.id, "is_owner"),
        (world.outsider.id, "not_a_member"),
    ):
        response = await client.post(f"{base}/{target}", headers=owner)
        assert response.status_code == 409, target
        assert response.json()["code"] == code

    demoted = await client.delete(f"{base}/{world.member.id}", headers=owner)
    assert demoted.status_code == 200
    assert demoted.json()["role"] == "member"
    for target in (world.member.id, world.owner.id, world.outsider.id):
        response = await client.delete(f"{base}/{target}", headers=owner)
        assert response.status_code == 409, target
    assert (await roles_of(db, world.company.id))[world.member.id] == "member"

    for role in ("admin", "member", "outsider"):
        headers = world.headers[role]
        assert (await client.post(f"{base}/{world.member.id}", headers=headers)).status_code == 403
        assert (await client.delete(f"{base}/{world.admin.id}", headers=headers)).status_code == 403
    assert (await client.post(f"{base}/{world.member.id}")).status_code == 401
