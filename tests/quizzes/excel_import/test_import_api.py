"""POST /companies/{id}/quizzes/import: creates, updates, dry runs, every error listed."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
import xlsxwriter
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.models import Notification
from tests.factories import Factory
from tests.quizzes.excel_import.conftest import Staff
from tests.quizzes.excel_import.helpers import (
    content,
    counts,
    fresh,
    messages,
    problems,
    upload,
)
from tests.quizzes.excel_import.workbooks import HEADER, question_rows, xlsx


async def test_creates_several_quizzes(client: AsyncClient, staff: Staff, db: AsyncSession) -> None:
    rows = [
        HEADER,
        *question_rows("Fire safety", 2, description="Twice a year", frequency=30),
        *question_rows("First aid", 3),
        *question_rows("Ladders", 2, frequency="14"),
    ]
    rows[2][9] = "1,3"  # two right answers
    response = await upload(client, staff.company.id, xlsx(rows), staff.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["updated"] == [] and body["dry_run"] is False
    assert len(body["created"]) == 3 and all(isinstance(i, int) for i in body["created"])

    fire, aid, ladders = [await content(db, quiz_id) for quiz_id in body["created"]]
    assert fire == {
        "company_id": staff.company.id,
        "title": "Fire safety",
        "description": "Twice a year",
        "frequency_days": 30,
        "version": 1,
        "questions": [
            (
                "Q1 of Fire safety?",
                [("Q1 wrong", False), ("Q1 right", True), ("Q1 also wrong", False)],
            ),
            (
                "Q2 of Fire safety?",
                [("Q2 wrong", True), ("Q2 right", False), ("Q2 also wrong", True)],
            ),
        ],
    }
    assert aid["description"] is None and aid["frequency_days"] == 1
    assert len(aid["questions"]) == 3
    assert ladders["frequency_days"] == 14

    # members hear about each new quiz, like with POST /companies/{id}/quizzes
    async with fresh(db) as session:
        notified = (
            await session.execute(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.user_id == staff.member.id,
                    Notification.kind == "quiz_created",
                )
            )
        ).scalar_one()
    assert notified == 3


async def test_updates_by_quiz_id_as_a_new_version(
    client: AsyncClient, staff: Staff, factory: Factory, db: AsyncSession
) -> None:
    quiz = await factory.quiz(staff.company, title="Old title")
    before = await content(db, quiz.id)
    rows = [HEADER, *question_rows("New title", 3, quiz_id=quiz.id, frequency=5)]
    response = await upload(client, staff.company.id, xlsx(rows), staff.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"created": [], "updated": [quiz.id], "dry_run": False}

    after = await content(db, quiz.id)
    assert after["version"] == 2
    assert after["title"] == "New title" and after["frequency_days"] == 5
    assert [q for q, _ in after["questions"]] == [f"Q{i} of New title?" for i in (1, 2, 3)]
    # the old version is untouched
    old = await factory.version_of(quiz, 1)
    assert [q.text for q in old.questions] == [q for q, _ in before["questions"]]


async def test_updates_by_exact_title(
    client: AsyncClient, staff: Staff, factory: Factory, db: AsyncSession
) -> None:
    quiz = await factory.quiz(staff.company, title="Safety")
    other_company = await factory.company()
    await factory.quiz(other_company, title="Safety rules")
    rows = [
        HEADER,
        *question_rows("Safety", 2),
        *question_rows("safety", 2),  # matching is case-sensitive: a new quiz
        *question_rows("Safety rules", 2),  # only another company has it: a new quiz
    ]
    response = await upload(client, staff.company.id, xlsx(rows), staff.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["updated"] == [quiz.id]
    assert len(body["created"]) == 2
    assert (await content(db, quiz.id))["version"] == 2
    created = [await content(db, quiz_id) for quiz_id in body["created"]]
    assert [(c["title"], c["company_id"]) for c in created] == [
        ("safety", staff.company.id),
        ("Safety rules", staff.company.id),
    ]


async def test_dry_run_reports_and_writes_nothing(
    client: AsyncClient, staff: Staff, factory: Factory, db: AsyncSession
) -> None:
    quiz = await factory.quiz(staff.company, title="Existing")
    rows = [
        HEADER,
        *question_rows("Brand new", 2),
        *question_rows("Existing", 2),
        *question_rows("Another new", 2),
    ]
    before = await counts(db)
    response = await upload(client, staff.company.id, xlsx(rows), staff.headers, dry_run=True)
    assert response.status_code == 200, response.text
    assert response.json() == {"created": [None, None], "updated": [quiz.id], "dry_run": True}
    assert await counts(db) == before
    assert (await content(db, quiz.id))["version"] == 1

    # the same file for real
    response = await upload(client, staff.company.id, xlsx(rows), staff.headers, dry_run=False)
    assert response.status_code == 200
    after = await counts(db)
    assert after["quizzes"] == before["quizzes"] + 2
    assert after["quiz_versions"] == before["quiz_versions"] + 3


async def test_every_problem_is_listed_and_nothing_is_written(
    client: AsyncClient, staff: Staff, factory: Factory, db: AsyncSession
) -> None:
    foreign = await factory.quiz(await factory.company(), title="Not yours")
    row = [None, "Errors", None, None]  # quiz_id, title, description, frequency
    rows: list[list[Any]] = [
        [*HEADER, "answer_5"],
        [None, "Good", None, 7, "G1?", "a", "b", None, None, "1"],  # 2: fine
        [None, "Good", None, None, "G2?", "a", "b", None, None, "2"],  # 3: fine
        [None, "Errors", None, "abc", "", "a", "b", None, None, "1"],  # 4
        [*row, "Only one answer?", "a", None, None, None, "1"],  # 5
        [*row, "Five answers?", "a", "b", "c", "d", "1", "e"],  # 6
        [*row, "Points at an empty answer?", "a", "b", None, None, "3"],  # 7
        [*row, "No correct answer?", "a", "b", None, None, None],  # 8
        [*row, "Unreadable correct?", "a", "b", None, None, "two"],  # 9
        [*row, "Duplicates?", "Yes", " yes ", None, None, "1"],  # 10
        [*row, "Q" * 1001, "a", "b" * 501, None, None, "1"],  # 11
        [*row, "Out of range?", "a", "b", None, None, "5"],  # 12
        [None, None, None, None, "No title?", "a", "b", None, None, "1"],  # 13
        [foreign.id, "Stolen", None, None, "S1?", "a", "b", None, None, "1"],  # 14
        [foreign.id, "Stolen", None, None, "S2?", "a", "b", None, None, "1"],  # 15
        [None, "Lonely", "d" * 2001, 0, "L1?", "a", "b", None, None, "1"],  # 16
        [None, "T" * 201, None, None, "x?", "a", "b", None, None, "1"],  # 17
        [None, "Good", None, None, "G3?", "a", "b", None, None, "1"],  # 18
        ["abc", "Bad id", None, None, "B1?", "a", "b", None, None, "1"],  # 19
        ["abc", "Bad id", None, None, "B2?", "a", "b", None, None, "1"],  # 20
    ]
    before = await counts(db)
    response = await upload(client, staff.company.id, xlsx(rows), staff.headers)
    found = problems(response)
    assert sorted(found, key=str) == sorted(
        [
            (4, "frequency_days"),
            (4, "question"),
            (5, "answer_2"),
            (6, "answer_5"),
            (7, "correct"),
            (8, "correct"),
            (9, "correct"),
            (10, "answer_2"),
            (11, "question"),
            (11, "answer_2"),
            (12, "correct"),
            (13, "quiz_title"),
            (14, "quiz_id"),
            (16, "quiz_description"),
            (16, "frequency_days"),
            (16, "question"),
            (17, "quiz_title"),
            (17, "question"),
            (18, "quiz_title"),
            (18, "question"),
            (19, "quiz_id"),
        ],
        key=str,
    )
    assert [r for r, _ in found] == sorted(r for r, _ in found)  # in sheet order
    body = response.json()
    assert body["detail"].startswith("The file has 21 problems")
    said = messages(response)
    assert "at least 2 answers" in said[(5, "answer_2")]
    assert "at most 4 answers" in said[(6, "answer_5")]
    assert "answer_3, which is empty" in said[(7, "correct")]
    assert "no correct answer" in said[(8, "correct")]
    assert "'two'" in said[(9, "correct")]
    assert "repeats answer_1" in said[(10, "answer_2")]
    assert "longer than 1000" in said[(11, "question")]
    assert "longer than 500" in said[(11, "answer_2")]
    assert "from 1 to 4" in said[(12, "correct")]
    assert "not a quiz of this company" in said[(14, "quiz_id")]
    assert "at least 2 questions" in said[(16, "question")]
    assert "consecutive" in said[(18, "quiz_title")]
    assert await counts(db) == before


async def test_quiz_id_of_another_company_alone_blocks_the_whole_file(
    client: AsyncClient, staff: Staff, factory: Factory, db: AsyncSession
) -> None:
    foreign = await factory.quiz(await factory.company())
    mine = await factory.quiz(staff.company)
    rows = [
        HEADER,
        *question_rows("Fine", 2),
        *question_rows("Mine", 2, quiz_id=mine.id),
        *question_rows("Theirs", 2, quiz_id=foreign.id),
    ]
    before = await counts(db)
    response = await upload(client, staff.company.id, xlsx(rows), staff.headers)
    assert problems(response) == [(6, "quiz_id")]
    assert await counts(db) == before
    assert (await content(db, foreign.id))["version"] == 1
    assert (await content(db, mine.id))["version"] == 1

    missing = [HEADER, *question_rows("Ghost", 2, quiz_id=999_999)]
    response = await upload(client, staff.company.id, xlsx(missing), staff.headers, dry_run=True)
    assert problems(response) == [(2, "quiz_id")]


async def test_title_matches_that_are_ambiguous_or_repeated(
    client: AsyncClient, staff: Staff, factory: Factory
) -> None:
    await factory.quiz(staff.company, title="Twin")
    await factory.quiz(staff.company, title="Twin")
    target = await factory.quiz(staff.company, title="Target")
    rows = [
        HEADER,
        *question_rows("Twin", 2),  # 2-3: which one?
        *question_rows("Renamed", 2, quiz_id=target.id),  # 4-5
        *question_rows("Target", 2),  # 6-7: the same quiz again, by title
    ]
    response = await upload(client, staff.company.id, xlsx(rows), staff.headers)
    assert problems(response) == [(2, "quiz_title"), (6, "quiz_title")]
    said = messages(response)
    assert "2 quizzes of this company are titled 'Twin'" in said[(2, "quiz_title")]
    assert f"quiz {target.id} is already updated by the rows from row 4" in said[(6, "quiz_title")]


async def test_too_many_questions_in_one_quiz(client: AsyncClient, staff: Staff) -> None:
    rows = [HEADER, *question_rows("Huge", 101)]
    response = await upload(client, staff.company.id, xlsx(rows), staff.headers)
    assert problems(response) == [(102, "question")]
    assert "at most 100 questions" in messages(response)[(102, "question")]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], [(1, None)]),
        ([HEADER], [(2, None)]),
        ([[None], HEADER], [(3, None)]),  # the header is found below blank rows
        (
            [["quiz_title", "answer_1", "answer_2", "notes"], ["T", "a", "b", "x"]],
            [(1, "question"), (1, "correct")],
        ),
        (
            [[*HEADER, "is_correct_1"], question_rows("T", 1)[0]],
            [(1, "correct")],
        ),
        ([[*HEADER, "Question"]], [(1, "question")]),
    ],
    ids=[
        "empty sheet",
        "header only",
        "blank rows first",
        "missing columns",
        "both layouts",
        "column twice",
    ],
)
async def test_sheet_level_problems(
    client: AsyncClient, staff: Staff, rows: list[list[object]], expected: list[tuple[int, str]]
) -> None:
    response = await upload(client, staff.company.id, xlsx(rows), staff.headers)
    assert problems(response) == expected


async def test_legacy_is_correct_layout(
    client: AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    header = ["quiz_title", "question", "answer_1", "answer_2", "answer_3"]
    header += ["is_correct_1", "is_correct_2", "is_correct_3"]
    rows: list[list[Any]] = [
        header,
        ["Legacy", "Booleans?", "a", "b", "c", True, False, None],
        ["Legacy", "Numbers?", "a", "b", "c", 0, 1, 1],
        ["Legacy", "Words?", "a", "b", None, "no", "YES", None],
        ["Legacy", "Text booleans?", "a", "b", None, "TRUE", "false", None],
    ]
    response = await upload(client, staff.company.id, xlsx(rows), staff.headers)
    assert response.status_code == 200, response.text
    quiz = await content(db, response.json()["created"][0])
    assert [[ok for _, ok in answers] for _, answers in quiz["questions"]] == [
        [True, False, False],
        [False, True, True],
        [False, True],
        [True, False],
    ]

    bad: list[list[Any]] = [
        header,
        ["Legacy", "Unreadable?", "a", "b", None, "maybe", True, None],
        ["Legacy", "Nothing marked?", "a", "b", None, False, 0, None],
        ["Legacy", "Marks an empty answer?", "a", "b", None, True, False, True],
    ]
    response = await upload(client, staff.company.id, xlsx(bad), staff.headers)
    assert problems(response) == [(2, "is_correct_1"), (3, "is_correct_1"), (4, "is_correct_3")]


async def test_columns_in_any_order_and_cell_types(
    client: AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    header = [
        "Correct",
        "Answer 2",
        "notes",
        " QUIZ_TITLE ",
        "question",
        "answer_1",
        "Frequency-Days",
    ]
    rows: list[list[Any]] = [
        header,
        [2.0, "Two", "ignored", "Shuffled", "Numeric correct?", "One", 3],
        ["1, 2", "Deux", None, "Shuffled", "Several?", "Un", None],
        [1, 42, None, "Shuffled", 7, True, None],  # numbers and booleans as texts
    ]
    response = await upload(client, staff.company.id, xlsx(rows), staff.headers)
    assert response.status_code == 200, response.text
    quiz = await content(db, response.json()["created"][0])
    assert quiz["frequency_days"] == 3
    assert quiz["questions"] == [
        ("Numeric correct?", [("One", False), ("Two", True)]),
        ("Several?", [("Un", True), ("Deux", True)]),
        ("7", [("TRUE", True), ("42", False)]),
    ]


async def test_title_merged_down_over_its_rows(
    client: AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    buffer = BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, HEADER)
    sheet.merge_range(1, 1, 3, 1, "Merged title")  # B2:B4
    sheet.merge_range(1, 3, 3, 3, 5)  # D2:D4, frequency_days
    sheet.merge_range(4, 1, 5, 1, "Second")  # B5:B6
    for index, question in enumerate(["One?", "Two?", "Three?", "Four?", "Five?"], start=1):
        sheet.write_row(index, 4, [question, "yes", "no", None, None, "1"])
    workbook.close()
    response = await upload(client, staff.company.id, buffer.getvalue(), staff.headers)
    assert response.status_code == 200, response.text
    first, second = [await content(db, i) for i in response.json()["created"]]
    assert (first["title"], first["frequency_days"], len(first["questions"])) == (
        "Merged title",
        5,
        3,
    )
    assert (second["title"], len(second["questions"])) == ("Second", 2)


async def test_too_many_rows(
    client: AsyncClient, staff: Staff, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "import_max_rows", 4)
    ok = [HEADER, *question_rows("A", 2), *question_rows("B", 2)]
    assert (await upload(client, staff.company.id, xlsx(ok), staff.headers)).status_code == 200
    over = [HEADER, *question_rows("C", 2), *question_rows("D", 3)]
    response = await upload(client, staff.company.id, xlsx(over), staff.headers)
    assert problems(response) == [(6, None)]
    assert "more than 4 rows" in response.json()["detail"]


async def test_missing_file_field_is_a_validation_error(client: AsyncClient, staff: Staff) -> None:
    response = await client.post(
        f"/companies/{staff.company.id}/quizzes/import",
        data={"other": "x"},
        headers=staff.headers,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_owner_and_admin_may_import_others_may_not(
    client: AsyncClient, staff: Staff, factory: Factory
) -> None:
    content_ = xlsx([HEADER, *question_rows("Roles", 2)])
    company_id = staff.company.id
    assert (await upload(client, company_id, content_, None)).status_code == 401
    response = await upload(client, company_id, content_, {"Authorization": "Bearer nonsense"})
    assert response.status_code == 401
    member = await factory.headers(staff.member)
    response = await upload(client, company_id, content_, member, dry_run=True)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"
    outsider = await factory.headers(await factory.user())
    assert (await upload(client, company_id, content_, outsider)).status_code == 403
    hidden = await factory.company(is_visible=False)
    assert (await upload(client, hidden.id, content_, outsider)).status_code == 404
    assert (await upload(client, 999_999, content_, outsider)).status_code == 404
    owner = await factory.headers(staff.owner)
    for headers in (owner, staff.headers):
        response = await upload(client, company_id, content_, headers, dry_run=True)
        assert response.status_code == 200, response.text


async def test_openapi_documents_the_import(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/companies/{company_id}/quizzes/import"]["post"]
    assert {"200", "401", "403", "404", "413", "422"} <= set(operation["responses"])
    assert "multipart/form-data" in operation["requestBody"]["content"]
    template = spec["paths"]["/companies/{company_id}/quizzes/import/template"]["get"]
    assert (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        in (template["responses"]["200"]["content"])
    )
