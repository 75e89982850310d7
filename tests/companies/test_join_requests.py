"""Join requests: a user asks, staff accept or reject, the requester may cancel."""

from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Invitation, JoinRequest, Membership
from tests.companies.conftest import MakeWorld, World
from tests.companies.helpers import count, scalar
from tests.companies.test_invitations import notifications
from tests.factories import Factory


async def ask(client: AsyncClient, world: World, role: str = "outsider"):
    return await client.post(f"/companies/{world.company.id}/requests", headers=world.headers[role])


async def test_create_request(client: AsyncClient, world: World, db: AsyncSession) -> None:
    response = await ask(client, world)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "company_id", "user_id", "status", "created_at"}
    assert (body["company_id"], body["user_id"], body["status"]) == (
        world.company.id,
        world.outsider.id,
        "pending",
    )
    payload = {
        "company_id": world.company.id,
        "request_id": body["id"],
        "user_id": world.outsider.id,
    }
    assert await notifications(db, "join_request_received") == sorted(
        [
            (world.owner.id, world.company.id, payload),
            (world.admin.id, world.company.id, payload),
        ]
    )
    twice = await ask(client, world)
    assert twice.status_code == 409
    assert twice.json()["code"] == "request_exists"
    for role in ("owner", "admin", "member"):
        response = await ask(client, world, role)
        assert response.status_code == 409, role
        assert response.json()["code"] == "already_member"
    assert (await client.post(f"/companies/{world.company.id}/requests")).status_code == 401
    assert await count(db, JoinRequest) == 1


async def test_hidden_company_request_is_404(
    client: AsyncClient, make_world: MakeWorld, db: AsyncSession
) -> None:
    hidden = await make_world(is_visible=False)
    response = await ask(client, hidden)
    assert response.status_code == 404
    assert await count(db, JoinRequest) == 0
    assert (
        await client.post("/companies/999999/requests", headers=hidden.headers["outsider"])
    ).status_code == 404


async def test_list_requests(client: AsyncClient, world: World, factory: Factory) -> None:
    users = [await factory.user() for _ in range(3)]
    ids = []
    for user in users:
        response = await client.post(
            f"/companies/{world.company.id}/requests", headers=await factory.headers(user)
        )
        ids.append(response.json()["id"])
    owner, admin = world.headers["owner"], world.headers["admin"]
    assert (await client.post(f"/requests/{ids[0]}/reject", headers=admin)).status_code == 204

    base = f"/companies/{world.company.id}/requests"
    pending = await client.get(base, headers=owner)
    assert pending.status_code == 200
    assert [item["id"] for item in pending.json()["items"]] == [ids[2], ids[1]]
    rejected = await client.get(base, params={"status": "rejected"}, headers=admin)
    assert [item["id"] for item in rejected.json()["items"]] == [ids[0]]
    everything = await client.get(base, params={"status": "all", "limit": 1}, headers=owner)
    assert everything.json()["total"] == 3 and len(everything.json()["items"]) == 1
    assert (await client.get(base, params={"status": "x"}, headers=owner)).status_code == 422
    for role in ("member", "outsider"):
        assert (await client.get(base, headers=world.headers[role])).status_code == 403
    assert (await client.get(base)).status_code == 401

    mine = await client.get("/users/me/requests", headers=await factory.headers(users[0]))
    assert mine.json()["items"] == []
    mine_all = await client.get(
        "/users/me/requests", params={"status": "all"}, headers=await factory.headers(users[0])
    )
    assert [(item["id"], item["status"]) for item in mine_all.json()["items"]] == [
        (ids[0], "rejected")
    ]
    assert (await client.get("/users/me/requests")).status_code == 401
    bad = await client.get("/users/me/requests", params={"limit": 0}, headers=owner)
    assert bad.status_code == 422


async def test_accept_request(client: AsyncClient, world: World, db: AsyncSession) -> None:
    # a pending invitation of the requester is closed when they join
    invitation = await client.post(
        f"/companies/{world.company.id}/invitations",
        json={"user_id": world.outsider.id},
        headers=world.headers["owner"],
    )
    request_id = (await ask(client, world)).json()["id"]
    url = f"/requests/{request_id}/accept"
    for role in ("member", "outsider"):
        response = await client.post(url, headers=world.headers[role])
        assert response.status_code == 403, role
    assert (await client.post(url)).status_code == 401

    accepted = await client.post(url, headers=world.headers["admin"])
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (body["user"]["id"], body["company_id"], body["role"]) == (
        world.outsider.id,
        world.company.id,
        "member",
    )
    assert (
        await count(
            db,
            Membership,
            Membership.company_id == world.company.id,
            Membership.user_id == world.outsider.id,
        )
        == 1
    )
    status = await scalar(
        db, select(Invitation.status).where(Invitation.id == invitation.json()["id"])
    )
    assert status == "canceled"
    assert await notifications(db, "request_accepted") == [
        (
            world.outsider.id,
            world.company.id,
            {
                "company_id": world.company.id,
                "request_id": request_id,
                "user_id": world.outsider.id,
            },
        )
    ]
    again = await client.post(url, headers=world.headers["owner"])
    assert again.status_code == 409
    assert again.json()["code"] == "not_pending"
    assert (
        await client.post(f"/requests/{request_id}/reject", headers=world.headers["owner"])
    ).status_code == 409
    assert (
        await client.post("/requests/999999/accept", headers=world.headers["owner"])
    ).status_code == 404


async def test_request_of_a_hidden_company_is_404_to_outsiders(
    client: AsyncClient, make_world: MakeWorld, factory: Factory, db: AsyncSession
) -> None:
    world = await make_world()
    request_id = (await ask(client, world)).json()["id"]
    # the company becomes hidden: a stranger cannot learn the request exists
    await client.patch(
        f"/companies/{world.company.id}", json={"is_visible": False}, headers=world.headers["owner"]
    )
    stranger = await factory.headers(await factory.user())
    for action in ("accept", "reject"):
        response = await client.post(f"/requests/{request_id}/{action}", headers=stranger)
        assert response.status_code == 404
    # a plain member can see the company: 403
    member = await client.post(f"/requests/{request_id}/reject", headers=world.headers["member"])
    assert member.status_code == 403
    assert (
        await client.post(f"/requests/{request_id}/reject", headers=world.headers["owner"])
    ).status_code == 204
    assert await count(db, Membership, Membership.user_id == world.outsider.id) == 0


async def test_cancel_request(client: AsyncClient, world: World, db: AsyncSession) -> None:
    request_id = (await ask(client, world)).json()["id"]
    url = f"/requests/{request_id}"
    for role in ("owner", "admin", "member"):
        assert (await client.delete(url, headers=world.headers[role])).status_code == 404
    assert (await client.delete(url)).status_code == 401
    canceled = await client.delete(url, headers=world.headers["outsider"])
    assert canceled.status_code == 204
    again = await client.delete(url, headers=world.headers["outsider"])
    assert again.status_code == 409
    assert again.json()["code"] == "not_pending"
    accept = await client.post(f"{url}/accept", headers=world.headers["owner"])
    assert accept.status_code == 409
    assert await count(db, Membership, Membership.user_id == world.outsider.id) == 0
    # a new request may follow
    assert (await ask(client, world)).status_code == 201


async def test_accepting_a_request_of_a_member_is_409(
    client: AsyncClient, world: World, factory: Factory, db: AsyncSession
) -> None:
    request_id = (await ask(client, world)).json()["id"]
    await factory.member(world.company, world.outsider)
    response = await client.post(f"/requests/{request_id}/accept", headers=world.headers["owner"])
    assert response.status_code == 409
    assert response.json()["code"] == "already_member"
    status = await scalar(db, select(JoinRequest.status).where(JoinRequest.id == request_id))
    assert status == "pending"
