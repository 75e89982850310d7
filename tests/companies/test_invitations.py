"""Invitations: staff invite, the invitee accepts or declines, staff cancel."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Invitation, JoinRequest, Membership, Notification
from tests.companies.conftest import MakeWorld, World
from tests.companies.helpers import all_rows, count, scalar
from tests.factories import Factory


async def invite(
    client: AsyncClient, world: World, payload: dict[str, Any], role: str = "owner"
) -> Response:
    return await client.post(
        f"/companies/{world.company.id}/invitations", json=payload, headers=world.headers[role]
    )


async def notifications(db: AsyncSession, kind: str) -> list[tuple[Any, ...]]:
    rows = await all_rows(
        db,
        select(Notification.user_id, Notification.company_id, Notification.payload)
        .where(Notification.kind == kind)
        .order_by(Notification.user_id),
    )
    return [tuple(row) for row in rows]


async def test_invite_by_id_and_by_email(
    client: AsyncClient, world: World, factory: Factory, db: AsyncSession
) -> None:
    by_id = await invite(client, world, {"user_id": world.outsider.id})
    assert by_id.status_code == 201, by_id.text
    body = by_id.json()
    assert set(body) == {"id", "company_id", "user_id", "status", "created_at"}
    assert (body["company_id"], body["user_id"], body["status"]) == (
        world.company.id,
        world.outsider.id,
        "pending",
    )
    assert await notifications(db, "invitation_received") == [
        (
            world.outsider.id,
            world.company.id,
            {
                "company_id": world.company.id,
                "invitation_id": body["id"],
                "user_id": world.outsider.id,
            },
        )
    ]
    other = await factory.user(email="Someone.Else@Example.com")
    by_email = await invite(client, world, {"email": "SOMEONE.else@example.com"}, role="admin")
    assert by_email.status_code == 201
    assert by_email.json()["user_id"] == other.id


async def test_invite_errors(client: AsyncClient, world: World, db: AsyncSession) -> None:
    unknown = await invite(client, world, {"email": "nobody@example.com"})
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "user_not_found"
    assert (await invite(client, world, {"user_id": 999999})).status_code == 404
    member = await invite(client, world, {"user_id": world.member.id})
    assert member.status_code == 409
    assert member.json()["code"] == "already_member"
    assert (await invite(client, world, {"user_id": world.owner.id})).status_code == 409
    assert (await invite(client, world, {"user_id": world.outsider.id})).status_code == 201
    twice = await invite(client, world, {"user_id": world.outsider.id}, role="admin")
    assert twice.status_code == 409
    assert twice.json()["code"] == "invitation_exists"
    for payload in (
        {},
        {"user_id": world.outsider.id, "email": world.outsider.email},
        {"email": "not-an-email"},
        {"user_id": 0},
        {"user_id": world.outsider.id, "role": "admin"},
    ):
        response = await invite(client, world, payload)
        assert response.status_code == 422, payload
    for role in ("member", "outsider"):
        response = await invite(client, world, {"user_id": world.outsider.id}, role=role)
        assert response.status_code == 403
    anonymous = await client.post(
        f"/companies/{world.company.id}/invitations", json={"user_id": world.outsider.id}
    )
    assert anonymous.status_code == 401
    assert await count(db, Invitation) == 1


async def test_list_and_cancel_company_invitations(
    client: AsyncClient, world: World, factory: Factory, make_world: MakeWorld
) -> None:
    base = f"/companies/{world.company.id}/invitations"
    invitees = [await factory.user() for _ in range(3)]
    ids = []
    for user in invitees:
        ids.append((await invite(client, world, {"user_id": user.id})).json()["id"])
    owner = world.headers["owner"]

    canceled = await client.delete(f"{base}/{ids[0]}", headers=world.headers["admin"])
    assert canceled.status_code == 204
    again = await client.delete(f"{base}/{ids[0]}", headers=owner)
    assert again.status_code == 409
    assert again.json()["code"] == "not_pending"
    assert (await client.delete(f"{base}/999999", headers=owner)).status_code == 404
    other = await make_world()
    foreign = await client.post(
        f"/companies/{other.company.id}/invitations",
        json={"user_id": world.outsider.id},
        headers=other.headers["owner"],
    )
    assert (await client.delete(f"{base}/{foreign.json()['id']}", headers=owner)).status_code == 404
    assert (
        await client.delete(f"{base}/{ids[1]}", headers=world.headers["member"])
    ).status_code == 403
    assert (await client.delete(f"{base}/{ids[1]}")).status_code == 401

    pending = await client.get(base, headers=owner)
    assert pending.status_code == 200
    assert [item["id"] for item in pending.json()["items"]] == [ids[2], ids[1]]
    assert pending.json()["total"] == 2
    only_canceled = await client.get(base, params={"status": "canceled"}, headers=owner)
    assert [item["id"] for item in only_canceled.json()["items"]] == [ids[0]]
    everything = await client.get(base, params={"status": "all"}, headers=world.headers["admin"])
    assert everything.json()["total"] == 3
    assert (await client.get(base, params={"status": "bogus"}, headers=owner)).status_code == 422
    for role in ("member", "outsider"):
        assert (await client.get(base, headers=world.headers[role])).status_code == 403
    assert (await client.get(base)).status_code == 401


async def test_accept_invitation(
    client: AsyncClient, world: World, factory: Factory, db: AsyncSession
) -> None:
    invitee = world.outsider
    headers = world.headers["outsider"]
    # a pending join request of the invitee is closed when they join
    request = await client.post(f"/companies/{world.company.id}/requests", headers=headers)
    assert request.status_code == 201
    invitation = (await invite(client, world, {"user_id": invitee.id})).json()

    mine = await client.get("/users/me/invitations", headers=headers)
    assert [item["id"] for item in mine.json()["items"]] == [invitation["id"]]

    for role in ("owner", "admin", "member"):
        response = await client.post(
            f"/invitations/{invitation['id']}/accept", headers=world.headers[role]
        )
        assert response.status_code == 404, role
    assert (await client.post(f"/invitations/{invitation['id']}/accept")).status_code == 401

    accepted = await client.post(f"/invitations/{invitation['id']}/accept", headers=headers)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert set(body) == {"user", "company_id", "role", "joined_at"}
    assert (body["user"]["id"], body["company_id"], body["role"]) == (
        invitee.id,
        world.company.id,
        "member",
    )
    role = await scalar(
        db,
        select(Membership.role).where(
            Membership.company_id == world.company.id, Membership.user_id == invitee.id
        ),
    )
    assert role == "member"
    status = await scalar(
        db, select(JoinRequest.status).where(JoinRequest.id == request.json()["id"])
    )
    assert status == "canceled"
    payload = {
        "company_id": world.company.id,
        "invitation_id": invitation["id"],
        "user_id": invitee.id,
    }
    assert await notifications(db, "invitation_accepted") == sorted(
        [
            (world.owner.id, world.company.id, payload),
            (world.admin.id, world.company.id, payload),
        ]
    )

    again = await client.post(f"/invitations/{invitation['id']}/accept", headers=headers)
    assert again.status_code == 409
    assert again.json()["code"] == "not_pending"
    assert (
        await client.post(f"/invitations/{invitation['id']}/decline", headers=headers)
    ).status_code == 409
    assert (await client.post("/invitations/999999/accept", headers=headers)).status_code == 404

    pending = await client.get("/users/me/invitations", headers=headers)
    assert pending.json()["items"] == []
    history = await client.get("/users/me/invitations", params={"status": "all"}, headers=headers)
    assert [item["status"] for item in history.json()["items"]] == ["accepted"]
    accepted_only = await client.get(
        "/users/me/invitations", params={"status": "accepted"}, headers=headers
    )
    assert accepted_only.json()["total"] == 1


async def test_accepting_when_already_a_member_is_409(
    client: AsyncClient, world: World, factory: Factory, db: AsyncSession
) -> None:
    invitation = (await invite(client, world, {"user_id": world.outsider.id})).json()
    await factory.member(world.company, world.outsider)  # joined some other way meanwhile
    response = await client.post(
        f"/invitations/{invitation['id']}/accept", headers=world.headers["outsider"]
    )
    assert response.status_code == 409
    assert response.json()["code"] == "already_member"
    # the whole request rolled back: the invitation is still pending
    status = await scalar(db, select(Invitation.status).where(Invitation.id == invitation["id"]))
    assert status == "pending"
    assert await notifications(db, "invitation_accepted") == []


async def test_decline_invitation(client: AsyncClient, world: World, db: AsyncSession) -> None:
    invitation = (await invite(client, world, {"user_id": world.outsider.id})).json()
    url = f"/invitations/{invitation['id']}/decline"
    assert (await client.post(url, headers=world.headers["member"])).status_code == 404
    assert (await client.post(url)).status_code == 401
    declined = await client.post(url, headers=world.headers["outsider"])
    assert declined.status_code == 204
    assert (await client.post(url, headers=world.headers["outsider"])).status_code == 409
    accept = await client.post(
        f"/invitations/{invitation['id']}/accept", headers=world.headers["outsider"]
    )
    assert accept.status_code == 409
    assert await count(db, Membership, Membership.user_id == world.outsider.id) == 0
    listed = await client.get(
        "/users/me/invitations", params={"status": "declined"}, headers=world.headers["outsider"]
    )
    assert [item["id"] for item in listed.json()["items"]] == [invitation["id"]]
    # declined is final, a new invitation may follow
    assert (await invite(client, world, {"user_id": world.outsider.id})).status_code == 201


async def test_my_invitations_needs_a_token_and_valid_page(
    client: AsyncClient, world: World
) -> None:
    assert (await client.get("/users/me/invitations")).status_code == 401
    headers = world.headers["outsider"]
    for params in ({"limit": 101}, {"offset": -1}, {"status": "nope"}):
        response = await client.get("/users/me/invitations", params=params, headers=headers)
        assert response.status_code == 422, params
    empty = await client.get("/users/me/invitations", headers=headers)
    assert empty.json() == {"items": [], "total": 0, "limit": 20, "offset": 0}
