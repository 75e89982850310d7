"""Lists load a page in a constant number of SQL statements (no N+1)."""

from __future__ import annotations

from httpx import AsyncClient

from qoach.models import Invitation
from tests.factories import Factory


async def _statements(client: AsyncClient, count_statements, url: str, headers) -> tuple[int, int]:
    with count_statements as counter:
        response = await client.get(url, params={"limit": 100}, headers=headers)
    assert response.status_code == 200, response.text
    return counter.count, len(response.json()["items"])


async def _scenario(factory: Factory, size: int):
    """A viewer in `size` companies; one company with `size` members and invitations."""
    viewer = await factory.user()
    home = await factory.company(viewer)
    for _ in range(size - 1):
        await factory.company(is_visible=False, members=[viewer])
    for _ in range(size - 1):
        await factory.member(home)
    for _ in range(size):
        invitee = await factory.user()
        factory.session.add(Invitation(company_id=home.id, user_id=invitee.id))
        other = await factory.company()
        factory.session.add(Invitation(company_id=other.id, user_id=viewer.id))
    await factory.session.commit()
    return home, await factory.headers(viewer)


async def test_lists_use_constant_statements(
    client: AsyncClient, factory: Factory, count_statements
) -> None:
    small_home, small = await _scenario(factory, 2)
    large_home, large = await _scenario(factory, 40)
    for path in ("/companies/{id}/members", "/companies/{id}/invitations"):
        few, n_few = await _statements(
            client, count_statements, path.format(id=small_home.id), small
        )
        many, n_many = await _statements(
            client, count_statements, path.format(id=large_home.id), large
        )
        assert (n_few, n_many) == (2, 40), path
        assert few == many, (path, few, many)
        assert few <= 4, path  # token, company + role, count, page
    for path in ("/users/me/invitations", "/companies"):
        few, n_few = await _statements(client, count_statements, path, small)
        many, n_many = await _statements(client, count_statements, path, large)
        assert n_few < n_many, path
        assert few == many, (path, few, many)
        assert few <= 3, path  # token, count, page
