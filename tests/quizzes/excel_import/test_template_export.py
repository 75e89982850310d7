"""The template imports as it is; an exported quiz imports back as an identical new version."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from httpx import AsyncClient
from python_calamine import CalamineWorkbook
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Factory
from tests.quizzes.excel_import.conftest import Staff
from tests.quizzes.excel_import.helpers import content, upload
from tests.quizzes.excel_import.workbooks import HEADER, XLSX


def first_sheet(data: bytes) -> list[list[Any]]:
    workbook = CalamineWorkbook.from_filelike(BytesIO(data))
    return list(workbook.get_sheet_by_index(0).to_python())


async def test_template_has_the_layout_and_imports_cleanly(
    client: AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    url = f"/companies/{staff.company.id}/quizzes/import/template"
    response = await client.get(url, headers=staff.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and ".xlsx" in disposition
    rows = first_sheet(response.content)
    assert rows[0] == HEADER
    assert len(rows) >= 3  # the header and an example quiz of 2+ questions
    assert CalamineWorkbook.from_filelike(BytesIO(response.content)).sheet_names[0] == "Quizzes"

    imported = await upload(client, staff.company.id, response.content, staff.headers)
    assert imported.status_code == 200, imported.text
    created = imported.json()["created"]
    assert len(created) == 1
    quiz = await content(db, created[0])
    assert quiz["title"] == rows[1][1]
    assert len(quiz["questions"]) == len(rows) - 1
    assert any(sum(ok for _, ok in answers) > 1 for _, answers in quiz["questions"])

    # importing it again updates that quiz (same title) instead of making a copy
    again = await upload(client, staff.company.id, response.content, staff.headers)
    assert again.json() == {"created": [], "updated": created, "dry_run": False}


async def test_template_is_for_staff(client: AsyncClient, staff: Staff, factory: Factory) -> None:
    def url(company_id: int) -> str:
        return f"/companies/{company_id}/quizzes/import/template"

    assert (await client.get(url(staff.company.id))).status_code == 401
    member = await factory.headers(staff.member)
    response = await client.get(url(staff.company.id), headers=member)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"
    outsider = await factory.headers(await factory.user())
    assert (await client.get(url(staff.company.id), headers=outsider)).status_code == 403
    hidden = await factory.company(is_visible=False)
    assert (await client.get(url(hidden.id), headers=outsider)).status_code == 404
    owner = await factory.headers(staff.owner)
    assert (await client.get(url(staff.company.id), headers=owner)).status_code == 200


async def test_export_then_import_makes_an_identical_new_version(
    client: AsyncClient, staff: Staff, factory: Factory, db: AsyncSession
) -> None:
    quiz = await factory.quiz(
        staff.company,
        title="Round trip",
        description="Über alles: “quotes”, emoji 🚒 and a\nsecond line",
        frequency_days=9,
        questions=[
            ("=1+1 is not a formula here?", [("Yes", True), ("No", False)]),
            ("Pick two", [("a", True), ("b", False), ("c", True), ("d", False)]),
            ("  Leading spaces are trimmed on import", [("42", False), ("0.5", True)]),
            ("Only the last", [("x", False), ("y", False), ("z", True)]),
        ],
    )
    before = await content(db, quiz.id)

    response = await client.get(f"/quizzes/{quiz.id}/export.xlsx", headers=staff.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    assert f'filename="quiz-{quiz.id}-v1.xlsx"' in response.headers["content-disposition"]
    rows = first_sheet(response.content)
    assert rows[0] == HEADER
    assert {row[0] for row in rows[1:]} == {float(quiz.id)}  # every row carries quiz_id

    imported = await upload(client, staff.company.id, response.content, staff.headers)
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"created": [], "updated": [quiz.id], "dry_run": False}
    after = await content(db, quiz.id)
    assert after["version"] == 2
    expected = {**before, "version": 2}
    expected["questions"][2] = (
        "Leading spaces are trimmed on import",
        expected["questions"][2][1],
    )
    assert after == expected

    # a second round trip changes nothing but the version
    second = await client.get(f"/quizzes/{quiz.id}/export.xlsx", headers=staff.headers)
    assert (
        'filename="quiz-' in second.headers["content-disposition"]
        and "-v2" in (second.headers["content-disposition"])
    )
    await upload(client, staff.company.id, second.content, staff.headers)
    assert await content(db, quiz.id) == {**after, "version": 3}


async def test_export_is_for_staff_of_the_quiz_company(
    client: AsyncClient, staff: Staff, factory: Factory
) -> None:
    quiz = await factory.quiz(staff.company)
    url = f"/quizzes/{quiz.id}/export.xlsx"
    assert (await client.get(url)).status_code == 401
    member = await factory.headers(staff.member)
    response = await client.get(url, headers=member)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"
    outsider = await factory.headers(await factory.user())
    assert (await client.get(url, headers=outsider)).status_code == 404
    assert (await client.get("/quizzes/999999/export.xlsx", headers=staff.headers)).status_code == (
        404
    )
    owner = await factory.headers(staff.owner)
    assert (await client.get(url, headers=owner)).status_code == 200
