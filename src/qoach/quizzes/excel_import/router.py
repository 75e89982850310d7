"""Excel import of quizzes, its template, and a quiz exported in the same layout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Request, Response, UploadFile, status

from qoach.auth.dependencies import CurrentUser
from qoach.broker import BrokerDep
from qoach.companies.permissions import Action, company_access
from qoach.config import Settings
from qoach.db.session import SessionDep
from qoach.params import QuizIdPath
from qoach.quizzes.excel_import import service
from qoach.quizzes.excel_import.schemas import (
    EXPORT_RESPONSES,
    IMPORT_RESPONSES,
    TEMPLATE_RESPONSES,
    ImportResult,
)
from qoach.quizzes.excel_import.template import XLSX_MEDIA_TYPE

router = APIRouter(tags=["quiz import"])

_IMPORT_DESCRIPTION = """
Reads the **first sheet** of an .xlsx: a header row, then one row per question.
Columns in any order (case-insensitive): `quiz_id` (optional), `quiz_title`,
`quiz_description`, `frequency_days`, `question`, `answer_1` … `answer_4`,
`correct` (1-based answer numbers: `2`, `1,3`) — or the older `is_correct_1` …
`is_correct_4` columns (TRUE/FALSE, 1/0, yes/no) instead of `correct`.

Consecutive rows with the same `quiz_id` (or, where it is empty, the same
`quiz_title`) are one quiz; its title, description and frequency come from its
first row. A `quiz_id` of this company — or else an existing quiz of this company
with exactly the same title (after trimming, case-sensitive) — gets a new version;
otherwise the quiz is created and members are notified.

All or nothing: the whole file is checked first and any problem is a 422
`import_invalid` listing every one with its `row` (header = 1) and `column`.
`?dry_run=true` runs every check, database lookups included, and writes nothing
(`created` then holds `null` per quiz that would be created).

At most `IMPORT_MAX_CONCURRENT` (default 2) workbooks are parsed at once per
process; another upload waits for a slot up to `IMPORT_QUEUE_SECONDS` (default
10), then gets 503 `import_busy` with `Retry-After`.
"""

XlsxFile = Annotated[UploadFile, File(description="The .xlsx workbook.")]


def _xlsx(content: bytes, filename: str) -> Response:
    return Response(
        content=content,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post(
    "/companies/{company_id}/quizzes/import",
    response_model=ImportResult,
    status_code=status.HTTP_200_OK,
    summary="Import quizzes from an .xlsx (staff)",
    description=_IMPORT_DESCRIPTION,
    responses=IMPORT_RESPONSES,
)
async def import_quizzes(
    request: Request,
    file: XlsxFile,
    session: SessionDep,
    broker: BrokerDep,
    access: company_access(Action.quizzes_manage),  # type: ignore[valid-type]
    dry_run: Annotated[
        bool, Query(description="Validate everything and report; write nothing.")
    ] = False,
) -> ImportResult:
    settings: Settings = request.app.state.settings
    # one byte more than allowed is enough to know it is too large
    content = await file.read(settings.import_max_bytes + 1)
    return await service.import_quizzes(
        session,
        broker,
        access,
        content=content,
        dry_run=dry_run,
        settings=settings,
        slots=service.import_slots(request.app.state, settings),
    )


@router.get(
    "/companies/{company_id}/quizzes/import/template",
    response_class=Response,
    status_code=status.HTTP_200_OK,
    summary="Download the import template (staff)",
    description="An .xlsx with the header and one example quiz that imports as it is; a "
    "second sheet explains the columns.",
    responses=TEMPLATE_RESPONSES,
)
async def import_template(
    access: company_access(Action.quizzes_manage),  # type: ignore[valid-type]
) -> Response:
    return _xlsx(await service.template_file(access), "quiz-import-template.xlsx")


@router.get(
    "/quizzes/{quiz_id}/export.xlsx",
    response_class=Response,
    status_code=status.HTTP_200_OK,
    summary="Export a quiz in the import layout (staff)",
    description="The quiz's current version (admin view, `quiz_id` filled in): edit it and "
    "import it back to make the next version.",
    responses=EXPORT_RESPONSES,
)
async def export_quiz(
    quiz_id: QuizIdPath,
    session: SessionDep,
    user: CurrentUser,
) -> Response:
    filename, content = await service.export_quiz(session, quiz_id, user)
    return _xlsx(content, filename)
