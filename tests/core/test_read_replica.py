"""`DATABASE_READ_URL`: analytics and exports read through it, writes never do.

The replica is played by the primary itself through a read-only role, so any write
routed to the read engine would fail.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from qoach.config import Settings
from tests import lanes
from tests.factories import Factory

pytestmark = pytest.mark.postgres_only


@pytest.fixture
async def read_only_role(migrated_database: str) -> AsyncIterator[str]:
    role = f"qoach_ro_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(lanes.pg_url(driver="postgresql"))
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        await admin.execute(f'GRANT CONNECT ON DATABASE "{lanes.PG_DATABASE}" TO {role}')
        await admin.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        await admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        yield role
    finally:
        await admin.execute(f"DROP OWNED BY {role}")
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


@pytest.fixture
async def replica_client(
    clean_app: FastAPI, settings: Settings, read_only_role: str
) -> AsyncIterator[AsyncClient]:
    from qoach.main import create_app

    base = lanes.pg_url().replace("postgres@", f"{read_only_role}@", 1)
    application = create_app(settings.model_copy(update={"database_read_url": base}))
    async with LifespanManager(application):
        transport = ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with AsyncClient(transport=transport, base_url="http://test") as http:
            http.app = application  # type: ignore[attr-defined]
            yield http


async def test_analytics_and_exports_read_from_the_replica_and_writes_go_to_the_primary(
    replica_client: AsyncClient, factory: Factory, read_only_role: str
) -> None:
    owner, member = await factory.user(), await factory.user()
    company = await factory.company(owner, members=[member])
    quiz = await factory.quiz(company)
    await factory.attempt(quiz, member, correct=[True, False])
    staff = await factory.headers(owner)

    analytics = await replica_client.get(f"/companies/{company.id}/analytics", headers=staff)
    assert analytics.status_code == 200, analytics.text
    assert analytics.json()["attempts"] == 1
    assert analytics.json()["average_score"] == 0.5

    export = await replica_client.get(
        f"/companies/{company.id}/export", params={"format": "csv"}, headers=staff
    )
    assert export.status_code == 200, export.text
    assert len(export.text.strip().splitlines()) == 3  # header + one row per question

    # a write still goes to the primary (the read-only role could not do it)
    answer_ids = (await replica_client.get(f"/quizzes/{quiz.id}", headers=staff)).json()
    submitted = await replica_client.post(
        f"/quizzes/{quiz.id}/attempts",
        json={
            "answers": [
                {"question_id": q["id"], "answer_ids": [q["answers"][0]["id"]]}
                for q in answer_ids["questions"]
            ]
        },
        headers=await factory.headers(member),
    )
    assert submitted.status_code == 201, submitted.text

    # and the read engine really is the read-only role
    application = replica_client.app  # type: ignore[attr-defined]
    async with application.state.read_engine.connect() as conn:
        assert (await conn.exec_driver_sql("SELECT current_user")).scalar() == read_only_role
