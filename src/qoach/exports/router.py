"""Exports of attempt answers as JSON, CSV or XLSX, streamed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from qoach.auth.dependencies import CurrentUser
from qoach.companies.permissions import Action, CompanyAccess, require
from qoach.companies.schemas import errors
from qoach.dates import DateRangeDep
from qoach.db.types import utcnow
from qoach.exports.repository import ExportFilters
from qoach.exports.service import MEDIA_TYPES, ExportFormat, start_export
from qoach.params import CompanyIdPath, IdQuery

router = APIRouter(tags=["exports"])

OptionalId = IdQuery
StaffAccess = Annotated[CompanyAccess, require(Action.export_read)]
FormatQuery = Annotated[ExportFormat, Query(alias="format", description="json, csv or xlsx.")]


class ExportMetadata(BaseModel):
    user_id: int | None
    company_id: int | None
    quiz_id: int | None
    from_: str | None = Field(alias="from", description="`from` as given, or null.")
    to: str | None = Field(description="`to` as given, or null.")
    exported_at: datetime


class ExportRow(BaseModel):
    attempt_id: int
    completed_at: datetime
    user_id: int
    user_email: str
    company_id: int
    quiz_id: int
    quiz_title: str
    question_id: int
    question_text: str
    selected_answers: str = Field(
        description="Chosen answer texts in answer order, joined with `; `; empty if none."
    )
    is_correct: bool


class ExportDocument(BaseModel):
    metadata: ExportMetadata
    rows: list[ExportRow]


_DESCRIPTION = """
One row per question of every attempt in range, ordered by `completed_at`, attempt id,
then question position. Unanswered questions are included too (empty
`selected_answers`, `is_correct` false), so that the rows reproduce each attempt's
score. `quiz_title` is the quiz's current title; `question_text` the text the
attempt saw.

- `json`: `{"metadata": {...}, "rows": [...]}`.
- `csv`: RFC 4180 (CRLF, header row), UTF-8, `is_correct` as `true` / `false`; a cell
  starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'` so that no
  spreadsheet runs it as a formula.
- `xlsx`: the same columns, text cells as text and ids as numbers (never formulas,
  so no cell needs the CSV's quote). A sheet holds 1,048,575 rows; more continue on
  further sheets.

The body is streamed (memory stays flat whatever the size) as an attachment named
`qoach-export-<scope>-<date>.<ext>`. A failure in the middle of a stream can only
cut the body short.
"""

_200: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The export, as an attachment.",
        "model": ExportDocument,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            MEDIA_TYPES[ExportFormat.xlsx]: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _respond(
    request: Request, filters: ExportFilters, export_format: ExportFormat, scope: str
) -> StreamingResponse:
    export = start_export(
        request.app.state.read_sessionmaker, filters, export_format, scope=scope, now=utcnow()
    )
    return StreamingResponse(
        export.body,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/users/me/export",
    response_class=StreamingResponse,
    status_code=status.HTTP_200_OK,
    summary="Export the caller's answers",
    description=_DESCRIPTION + "\nThe caller's own attempts, in every company unless "
    "`company_id` / `quiz_id` narrow them.",
    responses={**_200, **errors()},
)
async def export_mine(
    request: Request,
    user: CurrentUser,
    dates: DateRangeDep,
    export_format: FormatQuery = ExportFormat.json,
    company_id: OptionalId = None,
    quiz_id: OptionalId = None,
) -> StreamingResponse:
    filters = ExportFilters(dates=dates, user_id=user.id, company_id=company_id, quiz_id=quiz_id)
    return _respond(request, filters, export_format, "me")


@router.get(
    "/companies/{company_id}/export",
    response_class=StreamingResponse,
    status_code=status.HTTP_200_OK,
    summary="Export a company's answers (staff)",
    description=_DESCRIPTION + "\nEvery attempt made in the company, including those of "
    "people who have left it since; `user_id` / `quiz_id` narrow them.",
    responses={**_200, **errors(403, 404)},
)
async def export_company(
    request: Request,
    company_id: CompanyIdPath,
    access: StaffAccess,
    dates: DateRangeDep,
    export_format: FormatQuery = ExportFormat.json,
    user_id: OptionalId = None,
    quiz_id: OptionalId = None,
) -> StreamingResponse:
    filters = ExportFilters(dates=dates, company_id=company_id, user_id=user_id, quiz_id=quiz_id)
    return _respond(request, filters, export_format, f"company-{company_id}")
