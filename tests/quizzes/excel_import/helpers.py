"""Calling the import and reading back what it wrote."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from qoach.models import Answer, Notification, Question, Quiz, QuizVersion
from tests.quizzes.excel_import.workbooks import XLSX


async def upload(
    client: AsyncClient,
    company_id: int,
    content: bytes,
    headers: dict[str, str] | None,
    *,
    dry_run: bool | None = None,
    filename: str = "quizzes.xlsx",
) -> Response:
    params = {} if dry_run is None else {"dry_run": str(dry_run).lower()}
    return await client.post(
        f"/companies/{company_id}/quizzes/import",
        files={"file": (filename, content, XLSX)},
        params=params,
        headers=headers or {},
    )


def problems(response: Response) -> list[tuple[int, str | None]]:
    """(row, column) of each error of an `import_invalid` 422."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "import_invalid", body
    return [(error["row"], error["column"]) for error in body["errors"]]


def messages(response: Response) -> dict[tuple[int, str | None], str]:
    return {(e["row"], e["column"]): e["message"] for e in response.json()["errors"]}


def fresh(db: AsyncSession) -> AsyncSession:
    """A new session on the same engine: sees every commit, leaves `db`'s objects alone."""
    return AsyncSession(db.bind, expire_on_commit=False)


async def counts(db: AsyncSession) -> dict[str, int]:
    """Rows of every table an import writes to."""
    result = {}
    async with fresh(db) as session:
        for model in (Quiz, QuizVersion, Question, Answer, Notification):
            result[model.__tablename__] = (
                await session.execute(select(func.count()).select_from(model))
            ).scalar_one()
    return result


async def content(db: AsyncSession, quiz_id: int) -> dict[str, Any]:
    """A quiz's fields and current version as plain data."""
    async with fresh(db) as session:
        return await _content(session, quiz_id)


async def _content(db: AsyncSession, quiz_id: int) -> dict[str, Any]:
    quiz = (await db.execute(select(Quiz).where(Quiz.id == quiz_id))).scalar_one()
    version = (
        await db.execute(
            select(QuizVersion)
            .where(QuizVersion.quiz_id == quiz_id, QuizVersion.version == quiz.version)
            .options(selectinload(QuizVersion.questions).selectinload(Question.answers))
        )
    ).scalar_one()
    return {
        "company_id": quiz.company_id,
        "title": quiz.title,
        "description": quiz.description,
        "frequency_days": quiz.frequency_days,
        "version": quiz.version,
        "questions": [
            (q.text, [(a.text, a.is_correct) for a in q.answers]) for q in version.questions
        ],
    }
