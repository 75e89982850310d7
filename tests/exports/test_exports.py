"""Exports: rows, order, filters, the three formats, formula injection, access."""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import re
import tempfile
from datetime import UTC, datetime

import openpyxl
import pytest
from httpx import AsyncClient
from openpyxl.utils.escape import unescape

from qoach.dates import DateRange
from qoach.db.types import utcnow
from qoach.exports import service as export_service
from qoach.exports.repository import ExportFilters
from qoach.exports.service import ExportFormat, start_export
from tests.analytics.dataset import World, at, build_world
from tests.factories import Factory

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = [
    "attempt_id",
    "completed_at",
    "user_id",
    "user_email",
    "company_id",
    "quiz_id",
    "quiz_title",
    "question_id",
    "question_text",
    "selected_answers",
    "is_correct",
]


@pytest.fixture
async def world(factory: Factory) -> World:
    return await build_world(factory)


async def fetch(client: AsyncClient, factory: Factory, user, url: str, **params):
    response = await client.get(url, params=params, headers=await factory.headers(user))
    assert response.status_code == 200, response.text
    return response


def parse_csv(response) -> list[list[str]]:
    assert response.content.endswith(b"\r\n")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))


def parse_xlsx(response) -> list[list[object]]:
    """Cell values of every sheet. Control characters are stored `_x000D_`-escaped (as
    OOXML wants); openpyxl undoes that for shared strings but not for the inline
    strings of a constant-memory workbook, so undo it here as Excel does."""
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    rows = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            assert all(cell.data_type in {"s", "n"} for cell in row), "no formulas, no dates"
            rows.append([unescape(c.value) if isinstance(c.value, str) else c.value for c in row])
    return rows


async def test_my_export_json(client, factory, world: World):
    before = datetime.now(UTC).replace(microsecond=0)
    response = await fetch(client, factory, world.m2, "/users/me/export")
    assert response.headers["content-type"] == "application/json"
    today = datetime.now(UTC).date().isoformat()
    assert response.headers["content-disposition"] == (
        f'attachment; filename="qoach-export-me-{today}.json"'
    )
    body = response.json()
    metadata = body["metadata"]
    exported_at = datetime.fromisoformat(metadata.pop("exported_at").replace("Z", "+00:00"))
    assert before <= exported_at <= datetime.now(UTC)
    assert metadata == {
        "user_id": world.m2.id,
        "company_id": None,
        "quiz_id": None,
        "from": None,
        "to": None,
    }
    rows = body["rows"]
    # m2: a0 (q1 v1, 2 questions), a2 (q1 v2, 4), a5 (q2, 2), by completed_at
    a0, a2, a5 = (world.attempts[k] for k in ("a0", "a2", "a5"))
    assert [(r["attempt_id"], r["question_text"]) for r in rows] == [
        (a0.id, "Question 1?"),
        (a0.id, "Question 2?"),
        (a2.id, "Q1.1"),
        (a2.id, "Q1.2"),
        (a2.id, "Q1.3"),
        (a2.id, "Q1.4"),
        (a5.id, "Question 1?"),
        (a5.id, "Question 2?"),
    ]
    assert rows[2] == {
        "attempt_id": a2.id,
        "completed_at": "2026-10-01T10:00:00Z",
        "user_id": world.m2.id,
        "user_email": "m2@example.com",
        "company_id": world.company.id,
        "quiz_id": world.q1.id,
        "quiz_title": "Quiz one",
        "question_id": rows[2]["question_id"],
        "question_text": "Q1.1",
        "selected_answers": "r11",
        "is_correct": True,
    }
    # a2 chose [0] [1] [0] [] : the unanswered question is a row, empty and wrong
    assert [(r["selected_answers"], r["is_correct"]) for r in rows[2:6]] == [
        ("r11", True),
        ("w12", False),
        ("r13", True),
        ("", False),
    ]
    # the rows reproduce each attempt's score
    for attempt in (a0, a2, a5):
        assert sum(r["is_correct"] for r in rows if r["attempt_id"] == attempt.id) == (
            attempt.correct_count
        )


async def test_multiple_answers_in_position_order(client, factory, world: World):
    response = await fetch(
        client, factory, world.owner, "/users/me/export", quiz_id=world.q1.id, format="csv"
    )
    rows = parse_csv(response)
    # a4 chose [1] [2] [1] [0, 1]; the last is both right answers, joined in answer order
    assert [(r[8], r[9], r[10]) for r in rows[1:]] == [
        ("Q1.1", "w11", "false"),
        ("Q1.2", "x12", "false"),
        ("Q1.3", "w13", "false"),
        ("Q1.4", "a14; b14", "true"),
    ]


async def test_company_export_csv_order_and_filters(client, factory, world: World):
    url = f"/companies/{world.company.id}/export"
    response = await fetch(client, factory, world.admin, url, format="csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        rf'attachment; filename="qoach-export-company-{world.company.id}-\d{{4}}-\d\d-\d\d\.csv"',
        response.headers["content-disposition"],
    )
    rows = parse_csv(response)
    assert rows[0] == HEADER
    a = world.attempts
    # by completed_at: a0 09-27, a1 09-28, a2 10-01, a6 10-02, a5 10-04 12:00, a3 10-04 23:59:59,
    # a4 10-05; 2 + 4 + 4 + 2 + 2 + 4 + 4 = 22 rows; a7 is another company's
    order = ["a0", "a1", "a2", "a6", "a5", "a3", "a4"]
    sizes = [2, 4, 4, 2, 2, 4, 4]
    expected_ids = [str(a[k].id) for k, n in zip(order, sizes, strict=True) for _ in range(n)]
    assert [r[0] for r in rows[1:]] == expected_ids
    # every row's company, and the former member's attempt is in
    assert {r[4] for r in rows[1:]} == {str(world.company.id)}
    assert str(world.former.id) in {r[2] for r in rows[1:]}
    # is_correct as true / false; question positions ascend within an attempt
    assert {r[10] for r in rows[1:]} == {"true", "false"}
    a1_rows = [r for r in rows[1:] if r[0] == str(a["a1"].id)]
    assert [r[8] for r in a1_rows] == ["Q1.1", "Q1.2", "Q1.3", "Q1.4"]
    assert [r[1] for r in a1_rows] == ["2026-09-28T09:00:00Z"] * 4

    by_user = parse_csv(
        await fetch(client, factory, world.admin, url, format="csv", user_id=world.m1.id)
    )
    assert {r[0] for r in by_user[1:]} == {str(a["a1"].id), str(a["a3"].id)}
    by_quiz = parse_csv(
        await fetch(client, factory, world.admin, url, format="csv", quiz_id=world.q2.id)
    )
    assert [r[0] for r in by_quiz[1:]] == [str(a["a6"].id)] * 2 + [str(a["a5"].id)] * 2
    # bare `to` date includes its whole day; datetime `from` is inclusive
    in_range = parse_csv(
        await fetch(
            client,
            factory,
            world.admin,
            url,
            format="csv",
            **{"from": "2026-10-04T12:00:00Z", "to": "2026-10-04"},
        )
    )
    assert [r[0] for r in in_range[1:]] == [str(a["a5"].id)] * 2 + [str(a["a3"].id)] * 4

    body = (
        await fetch(
            client, factory, world.admin, url, quiz_id=world.q2.id, **{"from": "2026-10-03"}
        )
    ).json()
    assert body["metadata"]["company_id"] == world.company.id
    assert body["metadata"]["quiz_id"] == world.q2.id
    assert body["metadata"]["user_id"] is None
    assert (body["metadata"]["from"], body["metadata"]["to"]) == ("2026-10-03", None)
    assert [r["attempt_id"] for r in body["rows"]] == [a["a5"].id] * 2


async def test_empty_exports(client, factory, world: World):
    params = {"from": "2030-01-01"}
    response = await fetch(client, factory, world.m3, "/users/me/export", **params)
    assert response.json()["rows"] == []
    response = await fetch(client, factory, world.m3, "/users/me/export", format="csv", **params)
    assert response.content == (",".join(HEADER) + "\r\n").encode()
    response = await fetch(client, factory, world.m3, "/users/me/export", format="xlsx", **params)
    assert parse_xlsx(response) == [HEADER]


async def test_many_batches(client, factory, world: World, monkeypatch):
    """Batches of 3 rows: the JSON stays one valid document, CSV and XLSX keep every row."""
    monkeypatch.setattr(export_service, "BATCH_SIZE", 3)
    url = f"/companies/{world.company.id}/export"
    rows = (await fetch(client, factory, world.owner, url)).json()["rows"]
    assert len(rows) == 22
    assert len(parse_csv(await fetch(client, factory, world.owner, url, format="csv"))) == 23
    assert len(parse_xlsx(await fetch(client, factory, world.owner, url, format="xlsx"))) == 23


INJECTIONS = ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tTab", "\rCR"]


async def test_csv_formula_injection_and_xlsx_equivalence(client, factory):
    owner = await factory.user(email="-owner@example.com")
    company = await factory.company(owner)
    quiz = await factory.quiz(
        company,
        title='=HYPERLINK("http://evil.example", "x")',
        questions=[
            (
                'Say "hi", then\nleave; ok?',
                [(text, i == 0) for i, text in enumerate(INJECTIONS[:4])],
            ),
            ("@question", [("\tTab", True), ("\rCR", False), ("plain, with comma", False)]),
        ],
    )
    await factory.attempt(quiz, owner, choices=[[0, 1], [1]], completed_at=at("2026-10-01 08:00"))
    await factory.attempt(
        quiz, owner, choices=[[2, 3], [0, 2]], completed_at=at("2026-10-02 08:00")
    )
    url = f"/companies/{company.id}/export"
    csv_rows = parse_csv(await fetch(client, factory, owner, url, format="csv"))
    assert csv_rows[0] == HEADER
    data = csv_rows[1:]
    assert [(r[3], r[6], r[8], r[9]) for r in data] == [
        ("'-owner@example.com", "'" + quiz.title, 'Say "hi", then\nleave; ok?', "'=1+1; +SUM(A1)"),
        ("'-owner@example.com", "'" + quiz.title, "'@question", "'\rCR"),
        ("'-owner@example.com", "'" + quiz.title, 'Say "hi", then\nleave; ok?', "'-2; @cmd"),
        ("'-owner@example.com", "'" + quiz.title, "'@question", "'\tTab; plain, with comma"),
    ]
    # no cell of the CSV starts with a formula character any more
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in data for cell in r)

    xlsx_rows = parse_xlsx(await fetch(client, factory, owner, url, format="xlsx"))
    assert xlsx_rows[0] == HEADER

    # the same rows: ids are numbers, text is stored as text (unprefixed: never a formula)
    def as_csv(cell: object) -> str:
        if isinstance(cell, str):
            return "'" + cell if cell.startswith(("=", "+", "-", "@", "\t", "\r")) else cell
        assert isinstance(cell, int)
        return str(cell)

    assert [[as_csv(c) for c in row] for row in xlsx_rows[1:]] == data
    assert isinstance(xlsx_rows[1][0], int)
    assert xlsx_rows[1][6] == quiz.title


async def test_xlsx_same_rows_as_csv(client, factory, world: World):
    url = f"/companies/{world.company.id}/export"
    response = await fetch(client, factory, world.owner, url, format="xlsx")
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"].endswith('.xlsx"')
    xlsx_rows = parse_xlsx(response)
    csv_rows = parse_csv(await fetch(client, factory, world.owner, url, format="csv"))
    assert len(xlsx_rows) == 23
    assert [[str(c) for c in row] for row in xlsx_rows] == csv_rows
    json_rows = (await fetch(client, factory, world.owner, url)).json()["rows"]
    assert [
        [str(v).lower() if isinstance(v, bool) else str(v) for v in r.values()] for r in json_rows
    ] == (csv_rows[1:])


async def test_export_access(client, factory):
    owner = await factory.user()
    admin = await factory.user()
    plain = await factory.user()
    stranger = await factory.user()
    visible = await factory.company(owner, admins=[admin], members=[plain])
    hidden = await factory.company(owner, members=[plain], is_visible=False)
    url = "/companies/{}/export"
    assert (await client.get(url.format(visible.id))).status_code == 401
    assert (await client.get("/users/me/export")).status_code == 401
    response = await client.get(url.format(visible.id), headers=await factory.headers(plain))
    assert (response.status_code, response.json()["code"]) == (403, "forbidden_role")
    headers = await factory.headers(stranger)
    assert (await client.get(url.format(visible.id), headers=headers)).status_code == 403
    assert (await client.get(url.format(hidden.id), headers=headers)).status_code == 404
    for staff in (owner, admin):
        response = await client.get(url.format(visible.id), headers=await factory.headers(staff))
        assert response.status_code == 200
    response = await client.get(
        "/users/me/export", params={"format": "pdf"}, headers=await factory.headers(plain)
    )
    assert response.status_code == 422


async def test_member_export_is_their_own(client, factory, world: World):
    rows = (await fetch(client, factory, world.m1, "/users/me/export")).json()["rows"]
    a = world.attempts
    # a1, a7 (another company), a3: every company of the caller, nobody else's rows
    assert [r["attempt_id"] for r in rows] == [a["a1"].id] * 4 + [a["a7"].id] * 2 + [a["a3"].id] * 4
    assert {r["user_id"] for r in rows} == {world.m1.id}
    rows = (
        await fetch(client, factory, world.m1, "/users/me/export", company_id=world.company2.id)
    ).json()["rows"]
    assert [r["attempt_id"] for r in rows] == [a["a7"].id] * 2
    assert json.dumps(rows)  # plain JSON values


async def test_abandoned_stream_releases_its_connection_and_file(clean_app, world: World):
    """A client that goes away mid-body: the generator is closed, and with it the export's
    own session (connection back to the pool) and the XLSX temporary file."""
    pool = clean_app.state.engine.sync_engine.pool
    baseline = pool.checkedout()
    pattern = os.path.join(tempfile.gettempdir(), "qoach-export-*.xlsx")
    for export_format in ExportFormat:
        before = set(glob.glob(pattern))
        export = start_export(
            clean_app.state.read_sessionmaker,
            ExportFilters(dates=DateRange(None, None), company_id=world.company.id),
            export_format,
            scope="test",
            now=utcnow(),
        )
        assert await anext(export.body)
        if export_format is not ExportFormat.xlsx:
            assert await anext(export.body)  # a batch of rows: the query is running
            assert pool.checkedout() == baseline + 1
        created = set(glob.glob(pattern)) - before
        assert len(created) == (1 if export_format is ExportFormat.xlsx else 0)
        await export.body.aclose()
        assert pool.checkedout() == baseline
        assert not created & set(glob.glob(pattern))
