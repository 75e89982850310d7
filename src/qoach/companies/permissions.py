"""Roles as data: what each company role may do, and the dependencies that check it.

`ROLE_ACTIONS` is the permission table of API.md; routes name an `Action` and
never test roles themselves. A company the caller may not see answers 404 before
any role check, so that a 403 never reveals what a 404 hides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.auth.dependencies import CurrentUser
from qoach.db.session import SessionDep
from qoach.errors import Forbidden, NotFound
from qoach.models import Company, CompanyRole, Membership, User
from qoach.params import CompanyIdPath


class Action(StrEnum):
    company_update = "company.update"
    company_delete = "company.delete"
    members_read = "members.read"
    members_remove = "members.remove"
    company_leave = "company.leave"
    owner_transfer = "owner.transfer"
    admins_read = "admins.read"
    admins_manage = "admins.manage"
    invitations_manage = "invitations.manage"
    requests_manage = "requests.manage"
    quizzes_read = "quizzes.read"
    quizzes_manage = "quizzes.manage"
    attempts_submit = "attempts.submit"
    attempts_read_any = "attempts.read_any"
    analytics_read = "analytics.read"
    leaderboard_read = "leaderboard.read"
    export_read = "export.read"


_MEMBER = frozenset(
    {
        Action.members_read,
        Action.company_leave,
        Action.admins_read,
        Action.quizzes_read,
        Action.attempts_submit,
        Action.leaderboard_read,
    }
)
_STAFF = _MEMBER | {
    Action.members_remove,
    Action.invitations_manage,
    Action.requests_manage,
    Action.quizzes_manage,
    Action.attempts_read_any,
    Action.analytics_read,
    Action.export_read,
}
_OWNER = _STAFF | {
    Action.company_update,
    Action.company_delete,
    Action.owner_transfer,
    Action.admins_manage,
}

ROLE_ACTIONS: dict[CompanyRole, frozenset[Action]] = {
    CompanyRole.member: _MEMBER,
    CompanyRole.admin: frozenset(_STAFF),
    CompanyRole.owner: frozenset(_OWNER),
}

STAFF_ROLES = frozenset({CompanyRole.owner, CompanyRole.admin})


def can(role: CompanyRole | str | None, action: Action) -> bool:
    return role is not None and action in ROLE_ACTIONS[CompanyRole(role)]


@dataclass(frozen=True, slots=True)
class CompanyAccess:
    company: Company
    user: User
    role: CompanyRole | None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


async def load_company_access(
    session: AsyncSession, company_id: int, user: User, *, for_update: bool = False
) -> CompanyAccess:
    """The company and the caller's role in it; 404 when missing or hidden from them."""
    stmt = (
        select(Company, Membership.role)
        .outerjoin(
            Membership,
            (Membership.company_id == Company.id) & (Membership.user_id == user.id),
        )
        .where(Company.id == company_id)
    )
    if for_update:
        stmt = stmt.with_for_update(of=Company)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound("Company not found", code="company_not_found")
    company, role = row
    if role is None and not company.is_visible:
        raise NotFound("Company not found", code="company_not_found")
    return CompanyAccess(company=company, user=user, role=CompanyRole(role) if role else None)


def ensure(access: CompanyAccess, action: Action) -> CompanyAccess:
    """403 unless the caller's role allows `action` (non-members of a visible company too)."""
    if not can(access.role, action):
        raise Forbidden("Your role in this company does not allow this", code="forbidden_role")
    return access


_ACTION_ATTR = "__qoach_action__"  # set on each `require()` dependency: its Action


def require(action: Action) -> object:
    """Dependency for routes with a `{company_id}` path parameter."""

    async def dependency(
        company_id: CompanyIdPath,
        session: SessionDep,
        user: CurrentUser,
    ) -> CompanyAccess:
        return ensure(await load_company_access(session, company_id, user), action)

    setattr(dependency, _ACTION_ATTR, action)
    return Depends(dependency)


def route_action(route: object) -> Action | None:
    """The `Action` a route requires through `require()`, or None (role-matrix tests read it)."""
    pending = list(getattr(getattr(route, "dependant", None), "dependencies", []))
    while pending:
        dependant = pending.pop()
        action = getattr(dependant.call, _ACTION_ATTR, None)
        if action is not None:
            return Action(action)
        pending.extend(dependant.dependencies)
    return None


def company_access(action: Action) -> type[CompanyAccess]:
    """`Annotated` alias: `access: company_access(Action.x)` in a route signature."""
    return Annotated[CompanyAccess, require(action)]  # type: ignore[return-value]
