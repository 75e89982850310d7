"""Path parameters and the "can see this company" dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from qoach.auth.dependencies import CurrentUser
from qoach.companies.permissions import CompanyAccess, load_company_access
from qoach.db.session import SessionDep

MAX_ID = 2_147_483_647

CompanyId = Annotated[int, Path(ge=1, le=MAX_ID, description="Company id.")]
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="User id.")]
InvitationId = Annotated[int, Path(ge=1, le=MAX_ID, description="Invitation id.")]
RequestId = Annotated[int, Path(ge=1, le=MAX_ID, description="Join request id.")]


async def _visible_company(
    company_id: CompanyId, session: SessionDep, user: CurrentUser
) -> CompanyAccess:
    return await load_company_access(session, company_id, user)


# any user who can see the company (404 for a hidden one they are not in); no role needed
VisibleCompany = Annotated[CompanyAccess, Depends(_visible_company)]
