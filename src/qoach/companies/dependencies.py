"""Path parameters and the "can see this company" dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from qoach.auth.dependencies import CurrentUser
from qoach.companies.permissions import CompanyAccess, load_company_access
from qoach.db.session import SessionDep
from qoach.params import (
    CompanyIdPath,
    InvitationIdPath,
    RequestIdPath,
    UserIdPath,
)

CompanyId = CompanyIdPath
UserId = UserIdPath
InvitationId = InvitationIdPath
RequestId = RequestIdPath


async def _visible_company(
    company_id: CompanyId, session: SessionDep, user: CurrentUser
) -> CompanyAccess:
    return await load_company_access(session, company_id, user)


# any user who can see the company (404 for a hidden one they are not in); no role needed
VisibleCompany = Annotated[CompanyAccess, Depends(_visible_company)]
