"""Concurrent state changes leave one consistent outcome (PostgreSQL: real concurrency).

Each call is its own HTTP request with its own transaction; `asyncio.gather` starts
them together. Several rounds make an actual overlap likely; every round must end
with exactly one winner and the loser answered 409 (never 500).
"""

from __future__ import annotations

import asyncio

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Invitation, JoinRequest, Membership
from tests.companies.conftest import MakeWorld
from tests.companies.helpers import all_rows, count, scalar
from tests.factories import Factory

pytestmark = pytest.mark.postgres_only

ROUNDS = 5


async def _membership_count(db: AsyncSession, company_id: int, user_id: int) -> int:
    return await count(
        db, Membership, Membership.company_id == company_id, Membership.user_id == user_id
    )


def _assert_one_outcome(accept: Response, cancel: Response, members: int, status: str) -> None:
    """Accept racing cancel: either joined (cancel 409) or canceled (accept 409), never both."""
    if accept.status_code == 200:
        assert cancel.status_code == 409
        assert (members, status) == (1, "accepted")
    else:
        assert (accept.status_code, cancel.status_code) == (409, 204)
        assert (members, status) == (0, "canceled")


async def test_two_accepts_of_one_invitation(
    client: AsyncClient, factory: Factory, make_world: MakeWorld, db: AsyncSession
) -> None:
    world = await make_world()
    for _ in range(ROUNDS):
        invitee = await factory.user()
        invitation = Invitation(company_id=world.company.id, user_id=invitee.id)
        factory.session.add(invitation)
        await factory.session.commit()
        headers = await factory.headers(invitee)
        url = f"/invitations/{invitation.id}/accept"
        responses = await asyncio.gather(
            client.post(url, headers=headers), client.post(url, headers=headers)
        )
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        assert await _membership_count(db, world.company.id, invitee.id) == 1
        status = await scalar(db, select(Invitation.status).where(Invitation.id == invitation.id))
        assert status == "accepted"


async def test_accept_racing_cancel_of_an_invitation(
    client: AsyncClient, factory: Factory, make_world: MakeWorld, db: AsyncSession
) -> None:
    world = await make_world()
    for _ in range(ROUNDS):
        invitee = await factory.user()
        invitation = Invitation(company_id=world.company.id, user_id=invitee.id)
        factory.session.add(invitation)
        await factory.session.commit()
        accept, cancel = await asyncio.gather(
            client.post(
                f"/invitations/{invitation.id}/accept", headers=await factory.headers(invitee)
            ),
            client.delete(
                f"/companies/{world.company.id}/invitations/{invitation.id}",
                headers=world.headers["admin"],
            ),
        )
        members = await _membership_count(db, world.company.id, invitee.id)
        status = await scalar(db, select(Invitation.status).where(Invitation.id == invitation.id))
        _assert_one_outcome(accept, cancel, members, status)


async def test_two_staff_accept_one_request(
    client: AsyncClient, factory: Factory, make_world: MakeWorld, db: AsyncSession
) -> None:
    world = await make_world()
    for _ in range(ROUNDS):
        requester = await factory.user()
        request = JoinRequest(company_id=world.company.id, user_id=requester.id)
        factory.session.add(request)
        await factory.session.commit()
        url = f"/requests/{request.id}/accept"
        responses = await asyncio.gather(
            client.post(url, headers=world.headers["owner"]),
            client.post(url, headers=world.headers["admin"]),
        )
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        assert await _membership_count(db, world.company.id, requester.id) == 1


async def test_accept_racing_cancel_of_a_request(
    client: AsyncClient, factory: Factory, make_world: MakeWorld, db: AsyncSession
) -> None:
    world = await make_world()
    for _ in range(ROUNDS):
        requester = await factory.user()
        request = JoinRequest(company_id=world.company.id, user_id=requester.id)
        factory.session.add(request)
        await factory.session.commit()
        accept, cancel = await asyncio.gather(
            client.post(f"/requests/{request.id}/accept", headers=world.headers["owner"]),
            client.delete(f"/requests/{request.id}", headers=await factory.headers(requester)),
        )
        members = await _membership_count(db, world.company.id, requester.id)
        status = await scalar(db, select(JoinRequest.status).where(JoinRequest.id == request.id))
        _assert_one_outcome(accept, cancel, members, status)


async def test_invitation_accept_racing_request_accept(
    client: AsyncClient, factory: Factory, make_world: MakeWorld, db: AsyncSession
) -> None:
    """Two paths into the company at once: one membership, the other path 409."""
    world = await make_world()
    for _ in range(ROUNDS):
        user = await factory.user()
        invitation = Invitation(company_id=world.company.id, user_id=user.id)
        request = JoinRequest(company_id=world.company.id, user_id=user.id)
        factory.session.add_all([invitation, request])
        await factory.session.commit()
        responses = await asyncio.gather(
            client.post(
                f"/invitations/{invitation.id}/accept", headers=await factory.headers(user)
            ),
            client.post(f"/requests/{request.id}/accept", headers=world.headers["admin"]),
        )
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        assert await _membership_count(db, world.company.id, user.id) == 1


async def test_concurrent_invitations_of_one_user(
    client: AsyncClient, factory: Factory, make_world: MakeWorld, db: AsyncSession
) -> None:
    world = await make_world()
    for _ in range(ROUNDS):
        invitee = await factory.user()
        url = f"/companies/{world.company.id}/invitations"
        responses = await asyncio.gather(
            client.post(url, json={"user_id": invitee.id}, headers=world.headers["owner"]),
            client.post(url, json={"user_id": invitee.id}, headers=world.headers["admin"]),
        )
        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        assert await count(db, Invitation, Invitation.user_id == invitee.id) == 1


async def test_concurrent_ownership_transfers_keep_one_owner(
    client: AsyncClient, factory: Factory, make_world: MakeWorld, db: AsyncSession
) -> None:
    world = await make_world()
    url = f"/companies/{world.company.id}/owner"
    for _ in range(ROUNDS):
        rows = await all_rows(
            db,
            select(Membership.user_id).where(
                Membership.company_id == world.company.id, Membership.role == "owner"
            ),
        )
        owner_id = rows[0][0]
        owner_headers = next(
            world.headers[role] for role, user in world.users.items() if user.id == owner_id
        )
        a, b = await factory.member(world.company), await factory.member(world.company)
        responses = await asyncio.gather(
            client.post(url, json={"user_id": a.id}, headers=owner_headers),
            client.post(url, json={"user_id": b.id}, headers=owner_headers),
        )
        assert sorted(r.status_code for r in responses) == [200, 403], [r.text for r in responses]
        owners = await all_rows(
            db,
            select(Membership.user_id).where(
                Membership.company_id == world.company.id, Membership.role == "owner"
            ),
        )
        assert len(owners) == 1 and owners[0][0] in {a.id, b.id}
        # give it back for the next round (the new owner has no headers in `world`)
        back = await client.post(
            url,
            json={"user_id": owner_id},
            headers=await factory.headers(a if owners[0][0] == a.id else b),
        )
        assert back.status_code == 200
