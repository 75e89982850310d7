"""What the import answers, and the shape of its 422 (for the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from qoach.errors import error_responses


class ImportResult(BaseModel):
    created: list[int | None] = Field(
        description="Ids of the quizzes created, in sheet order; `null` for each quiz a dry "
        "run would create."
    )
    updated: list[int] = Field(
        description="Ids of the quizzes given a new version, in sheet order."
    )
    dry_run: bool


class ImportRowError(BaseModel):
    row: int = Field(description="The sheet's row number (the header is row 1).")
    column: str | None = Field(description="The column's name, e.g. `answer_2`; null for the row.")
    message: str


class ImportInvalid(BaseModel):
    detail: str | list[dict[str, Any]] = Field(
        description="A sentence; FastAPI's list of problems for `validation_error`."
    )
    code: str = Field(description="`import_invalid`, `invalid_file` or `validation_error`")
    errors: list[ImportRowError] | None = Field(
        default=None, description="With `import_invalid` only: every problem of the sheet."
    )


_XLSX_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}
            }
        },
        "description": "An .xlsx workbook (attachment).",
    }
}

IMPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(
        403,
        404,
        413,
        503,
        e403="The caller is not staff of this company (`forbidden_role`)",
        e404="No such company, or a hidden one the caller is not in (`company_not_found`)",
        e413="The upload is larger than `IMPORT_MAX_BYTES` (default 5 MiB) (`payload_too_large`)",
        e503="`import_busy`: `IMPORT_MAX_CONCURRENT` imports were being parsed for "
        "`IMPORT_QUEUE_SECONDS`; retry after `Retry-After` seconds",
    ),
    422: {
        "model": ImportInvalid,
        "description": "`import_invalid`: every problem of the sheet with its row and column, "
        "nothing written. `invalid_file` (no `errors`): not an .xlsx, corrupt, encrypted, or "
        "refused as unsafe (zip bomb, XML entities, a sheet far too large). "
        "`validation_error`: no `file` field.",
    },
}

TEMPLATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_XLSX_RESPONSE,
    **error_responses(
        403,
        404,
        e403="The caller is not staff of this company (`forbidden_role`)",
        e404="No such company, or a hidden one the caller is not in (`company_not_found`)",
    ),
}

EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_XLSX_RESPONSE,
    **error_responses(
        403,
        404,
        422,
        e403="The caller is a plain member of the quiz's company (`forbidden_role`)",
        e404="No such quiz, or the caller is not a member of its company (`quiz_not_found`)",
    ),
}
