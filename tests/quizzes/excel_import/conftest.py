from __future__ import annotations

from dataclasses import dataclass

import pytest

from qoach.models import Company, User
from tests.factories import Factory


@dataclass
class Staff:
    company: Company
    owner: User
    admin: User
    member: User
    headers: dict[str, str]
    """The admin's headers (staff, not the owner)."""


@pytest.fixture
async def staff(factory: Factory) -> Staff:
    owner, admin, member = await factory.user(), await factory.user(), await factory.user()
    company = await factory.company(owner, admins=[admin], members=[member])
    return Staff(company, owner, admin, member, await factory.headers(admin))
