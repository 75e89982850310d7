"""The per-process cap on concurrent Excel imports (`IMPORT_MAX_CONCURRENT`).

A parse holds one of the app's import slots. When none frees up within
`IMPORT_QUEUE_SECONDS` the upload gets 503 `import_busy` with `Retry-After` and
nothing is written; a slot freed during the wait lets it through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.config import Settings
from qoach.models import Quiz
from qoach.quizzes.excel_import.service import import_slots
from tests.auth.helpers import client_for, running_app
from tests.factories import Factory
from tests.security.world import xlsx_template

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
QUEUE_SECONDS = 0.5


@pytest.fixture
async def capped_app(clean_app: FastAPI, settings: Settings) -> AsyncIterator[FastAPI]:
    capped = settings.model_copy(
        update={"import_max_concurrent": 2, "import_queue_seconds": QUEUE_SECONDS}
    )
    async with running_app(capped) as application:
        yield application


@pytest.fixture
async def http(capped_app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with client_for(capped_app) as client:
        yield client


async def _upload(http: AsyncClient, company_id: int, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return await http.post(
        f"/companies/{company_id}/quizzes/import",
        params={"dry_run": "false"},
        files={"file": ("quizzes.xlsx", xlsx_template(), XLSX)},
        headers=headers,
    )


async def _quizzes(db: AsyncSession, company_id: int) -> int:
    count = await db.scalar(
        select(func.count()).select_from(Quiz).where(Quiz.company_id == company_id)
    )
    await db.commit()
    return int(count or 0)


async def test_saturated_imports_wait_then_get_503_with_retry_after(
    http: AsyncClient, capped_app: FastAPI, factory: Factory, db: AsyncSession
) -> None:
    owner = await factory.user()
    company = await factory.company(owner)
    headers = await factory.headers(owner)
    slots = import_slots(capped_app.state, capped_app.state.settings)
    # two imports are being parsed: every slot is taken
    await slots.acquire()
    await slots.acquire()
    try:
        started = time.monotonic()
        response = await _upload(http, company.id, headers)
        waited = time.monotonic() - started
    finally:
        slots.release()
        slots.release()
    assert response.status_code == 503, response.text
    assert response.json() == {
        "detail": "Too many imports are being processed; try again shortly",
        "code": "import_busy",
    }
    assert response.headers["Retry-After"] == "1"
    assert waited >= QUEUE_SECONDS * 0.9
    assert await _quizzes(db, company.id) == 0
    # with the slots free again the same upload goes through
    again = await _upload(http, company.id, headers)
    assert again.status_code == 200, again.text
    assert await _quizzes(db, company.id) == 1


async def test_an_import_waits_for_a_slot_that_frees_up(
    http: AsyncClient, capped_app: FastAPI, factory: Factory, db: AsyncSession
) -> None:
    owner = await factory.user()
    company = await factory.company(owner)
    headers = await factory.headers(owner)
    slots = import_slots(capped_app.state, capped_app.state.settings)
    await slots.acquire()
    await slots.acquire()

    async def free_one_soon() -> None:
        await asyncio.sleep(QUEUE_SECONDS / 3)
        slots.release()

    try:
        response, _ = await asyncio.gather(_upload(http, company.id, headers), free_one_soon())
    finally:
        slots.release()
    assert response.status_code == 200, response.text
    assert await _quizzes(db, company.id) == 1
    assert not slots.locked()  # both slots are free again: the import gave its back


async def test_a_burst_within_the_queue_time_is_absorbed(
    clean_app: FastAPI, settings: Settings, factory: Factory, db: AsyncSession
) -> None:
    """Four uploads at once with two slots: all succeed, none is refused."""
    roomy = settings.model_copy(update={"import_max_concurrent": 2, "import_queue_seconds": 30})
    owner = await factory.user()
    companies = [await factory.company(owner) for _ in range(4)]
    headers = await factory.headers(owner)
    async with running_app(roomy) as application, client_for(application) as http:
        responses = await asyncio.gather(
            *(_upload(http, company.id, headers) for company in companies)
        )
        slots = import_slots(application.state, roomy)
        assert not slots.locked()
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    for company in companies:
        assert await _quizzes(db, company.id) == 1
