"""A company with one user per role, and their auth headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from qoach.models import Company, User
from tests.factories import Factory

ROLES = ("owner", "admin", "member", "outsider")


@dataclass
class World:
    company: Company
    users: dict[str, User]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def owner(self) -> User:
        return self.users["owner"]

    @property
    def admin(self) -> User:
        return self.users["admin"]

    @property
    def member(self) -> User:
        return self.users["member"]

    @property
    def outsider(self) -> User:
        return self.users["outsider"]


MakeWorld = Callable[..., Awaitable[World]]


@pytest.fixture
def make_world(factory: Factory) -> MakeWorld:
    async def make(*, is_visible: bool = True, name: str | None = None) -> World:
        users = {role: await factory.user() for role in ROLES}
        company = await factory.company(
            users["owner"],
            name=name,
            is_visible=is_visible,
            admins=[users["admin"]],
            members=[users["member"]],
        )
        headers = {role: await factory.headers(user) for role, user in users.items()}
        return World(company=company, users=users, headers=headers)

    return make


@pytest.fixture
async def world(make_world: MakeWorld) -> World:
    return await make_world()
