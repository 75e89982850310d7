"""Every companies-section endpoint against every kind of caller.

One table: each row names the route, the `Action` it needs (expected statuses then
follow from `ROLE_ACTIONS`: allowed → the success status, otherwise 403) or the
explicit status per caller when no role decides. The table is checked against the
router (every route listed once, each `{company_id}` route requiring exactly the
action the table names), so code and table cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import APIRoute
from httpx import AsyncClient

from qoach.companies.permissions import Action, can, route_action
from qoach.companies.router import router as companies_router
from qoach.models import CompanyRole, Invitation, JoinRequest
from tests.factories import Factory

ROLES = ("owner", "admin", "member", "outsider")
# (caller, company hidden?) — the hidden company is checked for an outsider (404 everywhere)
CALLERS = [("anonymous", False), *((role, False) for role in ROLES), ("outsider", True)]


@dataclass
class Ids:
    company_id: int
    user_id: dict[str, int]
    target_id: int  # a plain member other than the callers
    candidate_id: int  # not a member; has a pending invitation and a pending request
    invitee_id: int  # not a member, nothing pending
    invitation_id: int
    request_id: int


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    action: Action | None = None
    ok: int = 200
    # statuses for allowed roles that a business rule answers differently
    rule: dict[str, int] = field(default_factory=dict)
    # per caller when no role decides (action is None)
    explicit: dict[str, int] = field(default_factory=dict)
    body: Callable[[Ids], Any] | None = None
    # the path's {user_id}: "target" (a plain member) or a role name
    user: str = "target"

    @property
    def company_scoped(self) -> bool:
        return "{company_id}" in self.path or "{request_id}" in self.path

    def expected(self, caller: str, hidden: bool) -> int:
        if caller == "anonymous":
            return 401
        if hidden and caller == "outsider" and self.company_scoped:
            return 404
        if self.action is None:
            return self.explicit[caller]
        role = None if caller == "outsider" else CompanyRole(caller)
        if not can(role, self.action):
            return 403
        return self.rule.get(caller, self.ok)

    def url(self, ids: Ids) -> str:
        return self.path.format(
            company_id=ids.company_id,
            user_id=ids.target_id if self.user == "target" else ids.user_id[self.user],
            invitation_id=ids.invitation_id,
            request_id=ids.request_id,
        )


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


C = "/companies/{company_id}"
TABLE = [
    Row("POST", "/companies", explicit=everyone(201), body=lambda ids: {"name": "New"}),
    Row("GET", "/companies", explicit=everyone(200)),
    Row("GET", C, explicit=everyone(200)),
    Row("PATCH", C, Action.company_update, body=lambda ids: {"name": "Renamed"}),
    Row("DELETE", C, Action.company_delete, ok=204),
    Row("GET", C + "/members", Action.members_read),
    Row("DELETE", C + "/members/{user_id}", Action.members_remove, ok=204),
    Row("POST", C + "/leave", Action.company_leave, ok=204, rule={"owner": 409}),
    Row(
        "POST",
        C + "/owner",
        Action.owner_transfer,
        body=lambda ids: {"user_id": ids.target_id},
    ),
    Row("GET", C + "/admins", Action.admins_read),
    Row("POST", C + "/admins/{user_id}", Action.admins_manage),
    Row("DELETE", C + "/admins/{user_id}", Action.admins_manage, user="admin"),
    Row(
        "POST",
        C + "/invitations",
        Action.invitations_manage,
        ok=201,
        body=lambda ids: {"user_id": ids.invitee_id},
    ),
    Row("GET", C + "/invitations", Action.invitations_manage),
    Row("DELETE", C + "/invitations/{invitation_id}", Action.invitations_manage, ok=204),
    Row("GET", "/users/me/invitations", explicit=everyone(200)),
    Row("POST", "/invitations/{invitation_id}/accept", explicit=everyone(404)),
    Row("POST", "/invitations/{invitation_id}/decline", explicit=everyone(404)),
    Row(
        "POST",
        C + "/requests",
        explicit={"owner": 409, "admin": 409, "member": 409, "outsider": 201},
    ),
    Row("GET", C + "/requests", Action.requests_manage),
    Row("GET", "/users/me/requests", explicit=everyone(200)),
    # a non-member who is not the requester: 404, like a request that does not exist
    Row(
        "POST",
        "/requests/{request_id}/accept",
        explicit={"owner": 200, "admin": 200, "member": 403, "outsider": 404},
    ),
    Row(
        "POST",
        "/requests/{request_id}/reject",
        explicit={"owner": 204, "admin": 204, "member": 403, "outsider": 404},
    ),
    Row("DELETE", "/requests/{request_id}", explicit=everyone(404)),
]


def _row_id(row: Row) -> str:
    return f"{row.method} {row.path}"


def _api_routes(router: Any) -> list[APIRoute]:
    """Routes of a router and the routers it includes (none of ours adds a prefix)."""
    found: list[APIRoute] = []
    for route in router.routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # FastAPI keeps included routers lazily
            found.extend(_api_routes(route.original_router))
    return found


def test_table_covers_every_route_with_the_action_the_code_requires() -> None:
    routes = {
        (method, route.path): route
        for route in _api_routes(companies_router)
        for method in route.methods or ()
    }
    assert len(routes) == 24
    table = {(row.method, row.path): row for row in TABLE}
    assert len(table) == len(TABLE), "a route is listed twice"
    assert set(table) == set(routes)
    for key, row in table.items():
        if "{company_id}" in row.path:
            assert route_action(routes[key]) == row.action, key
    # `/requests/{id}/…` find their company in the service, which checks the action itself
    for row in TABLE:
        if row.action and "{company_id}" not in row.path:
            assert route_action(routes[(row.method, row.path)]) is None


async def _arrange(factory: Factory, hidden: bool) -> tuple[Ids, dict[str, dict[str, str]]]:
    users = {role: await factory.user() for role in ROLES}
    target = await factory.user()
    candidate = await factory.user()
    invitee = await factory.user()
    company = await factory.company(
        users["owner"],
        is_visible=not hidden,
        admins=[users["admin"]],
        members=[users["member"], target],
    )
    invitation = Invitation(company_id=company.id, user_id=candidate.id)
    request = JoinRequest(company_id=company.id, user_id=candidate.id)
    factory.session.add_all([invitation, request])
    await factory.session.commit()
    headers = {role: await factory.headers(user) for role, user in users.items()}
    ids = Ids(
        company_id=company.id,
        user_id={role: user.id for role, user in users.items()},
        target_id=target.id,
        candidate_id=candidate.id,
        invitee_id=invitee.id,
        invitation_id=invitation.id,
        request_id=request.id,
    )
    return ids, headers


@pytest.mark.parametrize("row", TABLE, ids=_row_id)
async def test_role_matrix(client: AsyncClient, factory: Factory, row: Row) -> None:
    mismatches = []
    for caller, hidden in CALLERS:
        ids, headers = await _arrange(factory, hidden)
        body = row.body(ids) if row.body else None
        response = await client.request(
            row.method,
            row.url(ids),
            json=body,
            headers=headers.get(caller, {}),
        )
        expected = row.expected(caller, hidden)
        if response.status_code != expected:
            mismatches.append(
                f"{caller}{' (hidden)' if hidden else ''}: {response.status_code} "
                f"!= {expected} {response.text[:120]}"
            )
    assert not mismatches, "\n".join(mismatches)
