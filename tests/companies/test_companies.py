"""POST/GET/PATCH/DELETE /companies: creation, visibility, search, updates."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Company, Membership
from tests.companies.conftest import MakeWorld, World
from tests.companies.helpers import count, scalar
from tests.factories import Factory


async def test_create_company_makes_the_caller_owner(
    client: AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    user = await factory.user()
    headers = await factory.headers(user)
    response = await client.post(
        "/companies", json={"name": "  Acme  ", "description": "Rockets"}, headers=headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "Acme"
    assert body["description"] == "Rockets"
    assert body["is_visible"] is True
    assert body["role"] == "owner"
    assert body["created_at"].endswith("Z") and body["updated_at"].endswith("Z")
    assert set(body) == {
        "id",
        "name",
        "description",
        "is_visible",
        "created_at",
        "updated_at",
        "role",
    }
    role = await scalar(
        db,
        select(Membership.role).where(
            Membership.company_id == body["id"], Membership.user_id == user.id
        ),
    )
    assert role == "owner"

    hidden = await client.post(
        "/companies", json={"name": "Secret", "is_visible": False}, headers=headers
    )
    assert hidden.status_code == 201
    assert hidden.json()["is_visible"] is False
    assert hidden.json()["description"] is None


async def test_create_company_validation(client: AsyncClient, factory: Factory) -> None:
    headers = await factory.headers(await factory.user())
    for payload in (
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "ok", "description": "d" * 1001},
        {"name": "ok", "owner_id": 1},
        {"name": "ok", "is_visible": "maybe"},
    ):
        response = await client.post("/companies", json=payload, headers=headers)
        assert response.status_code == 422, payload
        assert response.json()["code"] == "validation_error"
    ok = await client.post(
        "/companies", json={"name": "x" * 100, "description": "d" * 1000}, headers=headers
    )
    assert ok.status_code == 201


async def test_companies_need_a_token(client: AsyncClient, world: World) -> None:
    cid = world.company.id
    assert (await client.post("/companies", json={"name": "A"})).status_code == 401
    assert (await client.get("/companies")).status_code == 401
    assert (await client.get(f"/companies/{cid}")).status_code == 401
    assert (await client.patch(f"/companies/{cid}", json={"name": "B"})).status_code == 401
    assert (await client.delete(f"/companies/{cid}")).status_code == 401
    bad = {"Authorization": "Bearer nonsense"}
    response = await client.get("/companies", headers=bad)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_list_shows_visible_and_own_hidden_companies_with_roles(
    client: AsyncClient, factory: Factory, make_world: MakeWorld
) -> None:
    visible = await make_world(name="Visible Co")
    hidden = await make_world(is_visible=False, name="Hidden Co")
    # the visible company's member is also an admin of the hidden one
    await factory.member(hidden.company, visible.member, "admin")

    def roles(body: dict[str, Any]) -> dict[int, str | None]:
        return {item["id"]: item["role"] for item in body["items"]}

    outsider = await client.get("/companies", headers=visible.headers["outsider"])
    assert outsider.status_code == 200
    assert roles(outsider.json()) == {visible.company.id: None}
    assert outsider.json()["total"] == 1

    member = await client.get("/companies", headers=visible.headers["member"])
    assert roles(member.json()) == {visible.company.id: "member", hidden.company.id: "admin"}

    owner = await client.get("/companies", headers=hidden.headers["owner"])
    assert roles(owner.json()) == {visible.company.id: None, hidden.company.id: "owner"}
    hidden_member = await client.get("/companies", headers=hidden.headers["member"])
    assert roles(hidden_member.json())[hidden.company.id] == "member"


async def test_list_search_is_literal_and_paginated(client: AsyncClient, factory: Factory) -> None:
    owner = await factory.user()
    for name in ("100% Pure", "1000 Pure", "snake_case", "snakeXcase", "Alpha", "alphabet"):
        await factory.company(owner, name=name)
    headers = await factory.headers(await factory.user())

    async def names(**params: str) -> list[str]:
        response = await client.get("/companies", params=params, headers=headers)
        assert response.status_code == 200
        return [item["name"] for item in response.json()["items"]]

    assert await names(search="0%") == ["100% Pure"]
    assert await names(search="e_c") == ["snake_case"]
    assert await names(search="ALPHA") == ["Alpha", "alphabet"]
    assert await names(search="nothing") == []

    page = await client.get("/companies", params={"limit": 2, "offset": 3}, headers=headers)
    body = page.json()
    assert body["total"] == 6 and body["limit"] == 2 and body["offset"] == 3
    assert [item["name"] for item in body["items"]] == ["snakeXcase", "Alpha"]
    default = (await client.get("/companies", headers=headers)).json()
    assert default["limit"] == 20 and default["offset"] == 0
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}):
        response = await client.get("/companies", params=params, headers=headers)
        assert response.status_code == 422, params


async def test_get_company(client: AsyncClient, make_world: MakeWorld) -> None:
    world = await make_world()
    hidden = await make_world(is_visible=False)
    for role, expected in (("owner", "owner"), ("admin", "admin"), ("member", "member")):
        response = await client.get(f"/companies/{world.company.id}", headers=world.headers[role])
        assert response.status_code == 200
        assert response.json()["role"] == expected
        response = await client.get(f"/companies/{hidden.company.id}", headers=hidden.headers[role])
        assert response.status_code == 200
    outsider = await client.get(f"/companies/{world.company.id}", headers=world.headers["outsider"])
    assert outsider.status_code == 200 and outsider.json()["role"] is None
    hidden_outsider = await client.get(
        f"/companies/{hidden.company.id}", headers=hidden.headers["outsider"]
    )
    assert hidden_outsider.status_code == 404
    assert hidden_outsider.json()["code"] == "company_not_found"
    missing = await client.get("/companies/999999", headers=world.headers["owner"])
    assert missing.status_code == 404
    assert missing.json()["code"] == "company_not_found"
    huge = await client.get("/companies/99999999999", headers=world.headers["owner"])
    assert huge.status_code == 422


async def test_patch_company(client: AsyncClient, world: World, db: AsyncSession) -> None:
    url = f"/companies/{world.company.id}"
    before = (await client.get(url, headers=world.headers["owner"])).json()
    response = await client.patch(
        url,
        json={"name": " New name ", "description": "New", "is_visible": False},
        headers=world.headers["owner"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["description"], body["is_visible"]) == ("New name", "New", False)
    assert body["role"] == "owner"
    assert body["updated_at"] >= before["updated_at"]

    partial = await client.patch(url, json={"description": None}, headers=world.headers["owner"])
    assert partial.status_code == 200
    assert partial.json()["name"] == "New name" and partial.json()["description"] is None

    # now hidden: the outsider no longer sees it
    assert (await client.get(url, headers=world.headers["outsider"])).status_code == 404
    assert (
        await client.patch(url, json={"name": "x"}, headers=world.headers["outsider"])
    ).status_code == 404

    for payload in ({"id": 5}, {"name": ""}, {"name": None}, {"is_visible": None}, {"role": "x"}):
        response = await client.patch(url, json=payload, headers=world.headers["owner"])
        assert response.status_code == 422, payload
    for role in ("admin", "member"):
        response = await client.patch(url, json={"name": "x"}, headers=world.headers[role])
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden_role"
    assert await count(db, Company, Company.id == world.company.id) == 1


async def test_delete_company(client: AsyncClient, world: World, db: AsyncSession) -> None:
    url = f"/companies/{world.company.id}"
    for role in ("admin", "member", "outsider"):
        assert (await client.delete(url, headers=world.headers[role])).status_code == 403
    response = await client.delete(url, headers=world.headers["owner"])
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(url, headers=world.headers["owner"])).status_code == 404
    assert await count(db, Company, Company.id == world.company.id) == 0
    assert (await client.delete(url, headers=world.headers["owner"])).status_code == 404


async def test_openapi_documents_the_error_statuses(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    remove = spec["paths"]["/companies/{company_id}/members/{user_id}"]["delete"]
    assert {"204", "401", "403", "404", "409", "422"} <= set(remove["responses"])
    assert remove["summary"]
    accept = spec["paths"]["/invitations/{invitation_id}/accept"]["post"]
    assert {"200", "401", "404", "409"} <= set(accept["responses"])
    create = spec["paths"]["/companies"]["post"]
    assert "201" in create["responses"]
