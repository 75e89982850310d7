"""`qoach demo-data`: row counts, consistency in SQL, and the API on the generated data."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.cli import main
from qoach.demo import DemoDataError, DemoSpec, generate_demo_data

PASSWORD = "demo-pass-123"


async def _scalar(db: AsyncSession, sql: str) -> int:
    value = (await db.execute(text(sql))).scalar_one()
    await db.rollback()
    return int(value or 0)


async def _counts(db: AsyncSession) -> dict[str, int]:
    tables = ("companies", "users", "memberships", "quizzes", "quiz_versions")
    tables += ("questions", "answers", "attempts", "attempt_answers")
    return {t: await _scalar(db, f"SELECT COUNT(*) FROM {t}") for t in tables}


# Each query counts rows that break a rule; all must be 0.
VIOLATIONS = {
    "correct_count != sum of is_correct": """
        SELECT COUNT(*) FROM attempts a
        WHERE a.correct_count != (SELECT COALESCE(SUM(CASE WHEN aa.is_correct THEN 1 ELSE 0 END), 0)
                                  FROM attempt_answers aa WHERE aa.attempt_id = a.id)""",
    "question_count != questions of the version": """
        SELECT COUNT(*) FROM attempts a JOIN quiz_versions v ON v.id = a.quiz_version_id
        WHERE a.question_count != v.question_count
           OR a.question_count != (SELECT COUNT(*) FROM questions q WHERE q.quiz_version_id = v.id)
           OR a.quiz_id != v.quiz_id OR a.quiz_version != v.version""",
    "attempt without one answer row per question": """
        SELECT COUNT(*) FROM attempts a
        WHERE (SELECT COUNT(*) FROM attempt_answers aa
               JOIN questions q ON q.id = aa.question_id
               WHERE aa.attempt_id = a.id AND q.quiz_version_id = a.quiz_version_id)
              != a.question_count
           OR (SELECT COUNT(*) FROM attempt_answers aa WHERE aa.attempt_id = a.id)
              != a.question_count""",
    "is_correct disagrees with the answers": """
        SELECT COUNT(*) FROM attempt_answers aa
        JOIN (SELECT question_id, SUM(CASE WHEN is_correct THEN (1 << position) ELSE 0 END) AS m
              FROM answers GROUP BY question_id) r ON r.question_id = aa.question_id
        WHERE aa.is_correct != (aa.selected_mask = r.m)""",
    "selected answer that does not exist": """
        SELECT COUNT(*) FROM attempt_answers aa
        JOIN (SELECT question_id, SUM(1 << position) AS m FROM answers GROUP BY question_id) r
          ON r.question_id = aa.question_id
        WHERE (aa.selected_mask & ~r.m) != 0""",
    "company without exactly one owner": """
        SELECT COUNT(*) FROM companies c
        WHERE (SELECT COUNT(*) FROM memberships m
               WHERE m.company_id = c.id AND m.role = 'owner') != 1""",
    "user in 0 or more than 3 companies": """
        SELECT COUNT(*) FROM users u
        WHERE (SELECT COUNT(*) FROM memberships m WHERE m.user_id = u.id) NOT BETWEEN 1 AND 3""",
    "question without 2-4 answers, one right and one wrong": """
        SELECT COUNT(*) FROM questions q
        WHERE (SELECT COUNT(*) FROM answers a WHERE a.question_id = q.id) NOT BETWEEN 2 AND 4
           OR NOT EXISTS (SELECT 1 FROM answers a WHERE a.question_id = q.id AND a.is_correct)
           OR NOT EXISTS (SELECT 1 FROM answers a
                          WHERE a.question_id = q.id AND NOT a.is_correct)""",
    "attempt by a non-member or in another company": """
        SELECT COUNT(*) FROM attempts a JOIN quizzes z ON z.id = a.quiz_id
        WHERE a.company_id != z.company_id
           OR NOT EXISTS (SELECT 1 FROM memberships m
                          WHERE m.company_id = a.company_id AND m.user_id = a.user_id)""",
    "quiz not at version 1": """
        SELECT COUNT(*) FROM quizzes z
        WHERE z.version != 1
           OR NOT EXISTS (SELECT 1 FROM quiz_versions v
                          WHERE v.quiz_id = z.id AND v.version = 1)""",
    "dangling reference": """
        SELECT (SELECT COUNT(*) FROM attempt_answers aa
                WHERE NOT EXISTS (SELECT 1 FROM attempts a WHERE a.id = aa.attempt_id)
                   OR NOT EXISTS (SELECT 1 FROM questions q WHERE q.id = aa.question_id))
             + (SELECT COUNT(*) FROM attempts a
                WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.user_id))
             + (SELECT COUNT(*) FROM memberships m
                WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id)
                   OR NOT EXISTS (SELECT 1 FROM companies c WHERE c.id = m.company_id))""",
}


async def _assert_consistent(db: AsyncSession) -> None:
    broken = {name: await _scalar(db, sql) for name, sql in VIOLATIONS.items()}
    assert broken == dict.fromkeys(VIOLATIONS, 0)


async def _login(client, email: str, password: str) -> dict[str, str]:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_cli_writes_a_consistent_data_set_the_api_serves(client, db, capsys) -> None:
    argv = [
        "demo-data",
        "--companies", "3",
        "--users", "15",
        "--quizzes", "6",
        "--attempts", "120",
        "--min-questions", "3",
        "--max-questions", "8",
        "--days", "30",
        "--seed", "7",
        "--password", PASSWORD,
        "--chunk-attempts", "50",
    ]  # fmt: skip
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    assert f"Log in as owner@demo.qoach / {PASSWORD}" in out

    counts = await _counts(db)
    assert {
        k: counts[k] for k in ("companies", "users", "quizzes", "quiz_versions", "attempts")
    } == {
        "companies": 3,
        "users": 15,
        "quizzes": 6,
        "quiz_versions": 6,
        "attempts": 120,
    }
    assert 15 <= counts["memberships"] <= 45
    assert 6 * 3 <= counts["questions"] <= 6 * 8
    assert counts["attempt_answers"] == await _scalar(
        db, "SELECT SUM(question_count) FROM attempts"
    )
    await _assert_consistent(db)
    # attempts fall inside the last 30 days
    first, last = (
        await db.execute(text("SELECT MIN(completed_at), MAX(completed_at) FROM attempts"))
    ).one()
    await db.rollback()
    now = datetime.now(UTC)
    for moment in (first, last):
        moment = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)
        moment = moment.replace(tzinfo=moment.tzinfo or UTC)
        assert now - timedelta(days=30, minutes=5) <= moment <= now

    # the product works on it: the demo owner logs in and sees their company
    headers = await _login(client, "owner@demo.qoach", PASSWORD)
    companies = (await client.get("/companies", headers=headers)).json()["items"]
    demo = next(c for c in companies if c["name"] == "Demo Co")
    assert demo["role"] == "owner"
    members = await client.get(f"/companies/{demo['id']}/members", headers=headers)
    assert members.status_code == 200
    assert members.json()["total"] == await _scalar(
        db, f"SELECT COUNT(*) FROM memberships WHERE company_id = {demo['id']}"
    )
    # and a plain member logs in with the same password
    member_email = (
        await db.execute(
            text(
                "SELECT u.email FROM users u JOIN memberships m ON m.user_id = u.id "
                "WHERE m.role = 'member' ORDER BY u.id LIMIT 1"
            )
        )
    ).scalar_one()
    await db.rollback()
    await _login(client, member_email, PASSWORD)


async def test_small_preset_builds_demo_co_with_quizzes_and_analytics(client, db, capsys) -> None:
    assert await asyncio.to_thread(main, ["demo-data", "--small", "--password", PASSWORD]) == 0
    assert "owner@demo.qoach" in capsys.readouterr().out
    counts = await _counts(db)
    assert (counts["companies"], counts["users"], counts["quizzes"], counts["attempts"]) == (
        1,
        20,
        5,
        400,
    )
    await _assert_consistent(db)

    headers = await _login(client, "owner@demo.qoach", PASSWORD)
    (company,) = (await client.get("/companies", headers=headers)).json()["items"]
    assert company["name"] == "Demo Co"
    quizzes = await client.get(f"/companies/{company['id']}/quizzes", headers=headers)
    assert quizzes.status_code == 200
    assert quizzes.json()["total"] == 5
    quiz = await client.get(f"/quizzes/{quizzes.json()['items'][0]['id']}", headers=headers)
    assert quiz.status_code == 200
    assert 10 <= len(quiz.json()["questions"]) <= 50
    summary = await client.get(f"/companies/{company['id']}/analytics", headers=headers)
    assert summary.status_code == 200
    body = summary.json()
    assert body["attempts"] == 400
    right, asked = (
        await db.execute(text("SELECT SUM(correct_count), SUM(question_count) FROM attempts"))
    ).one()
    await db.rollback()
    assert body["average_score"] == pytest.approx(right / asked)


async def test_hot_quiz_skill_spread_and_refusal_to_run_twice(clean_app, db) -> None:
    engine = clean_app.state.engine
    spec = DemoSpec(
        companies=2,
        users=40,
        quizzes=5,
        attempts=600,
        min_questions=10,
        max_questions=30,
        hot_quiz_attempts=250,
        first_company_share=0.7,
        password=PASSWORD,
        seed=3,
        chunk_attempts=100,
    )
    result = await generate_demo_data(engine, spec, progress=lambda _: None)
    assert result.counts["attempts"] == 600
    assert result.hot_quiz_id is not None
    hot = await _scalar(db, f"SELECT COUNT(*) FROM attempts WHERE quiz_id = {result.hot_quiz_id}")
    assert hot == 250
    assert (
        await _scalar(
            db, f"SELECT question_count FROM quiz_versions WHERE quiz_id = {result.hot_quiz_id}"
        )
        == 20
    )
    assert (
        await _scalar(db, f"SELECT company_id FROM quizzes WHERE id = {result.hot_quiz_id}")
        == result.first_company_id
    )
    await _assert_consistent(db)
    # the first company holds most of the members
    first = await _scalar(
        db, f"SELECT COUNT(*) FROM memberships WHERE company_id = {result.first_company_id}"
    )
    assert first > 40 * 0.5
    # some users are clearly better than others
    averages = [
        row[0]
        for row in (
            await db.execute(
                text(
                    "SELECT 1.0 * SUM(correct_count) / SUM(question_count) FROM attempts "
                    "GROUP BY user_id HAVING COUNT(*) >= 5"
                )
            )
        ).all()
    ]
    await db.rollback()
    assert len(averages) >= 10
    assert max(averages) - min(averages) > 0.2
    # attempt ids ascend with time
    assert (
        await _scalar(
            db,
            "SELECT COUNT(*) FROM attempts a JOIN attempts b ON b.id = a.id + 1 "
            "WHERE b.completed_at < a.completed_at",
        )
        == 0
    )

    # a second run on the same domain is refused and writes nothing
    before = await _counts(db)
    with pytest.raises(DemoDataError, match="already holds demo data"):
        await generate_demo_data(engine, spec, progress=lambda _: None)
    assert await _counts(db) == before
    # another domain adds a second set next to the first one, ids and all
    other = await generate_demo_data(
        engine,
        DemoSpec(companies=1, users=5, quizzes=2, attempts=30, domain="other.qoach"),
        password_hash=(await db.execute(text("SELECT password_hash FROM users LIMIT 1"))).scalar(),
        progress=lambda _: None,
    )
    await db.rollback()
    assert other.owner_email == "owner@other.qoach"
    assert await _scalar(db, "SELECT COUNT(*) FROM attempts") == 630
    await _assert_consistent(db)


def test_invalid_options_exit_with_a_message(capsys) -> None:
    assert main(["demo-data", "--users", "1", "--companies", "2"]) == 2
    assert "--users must be at least --companies" in capsys.readouterr().err
    assert main(["demo-data", "--min-questions", "1"]) == 2
    assert "--min-questions" in capsys.readouterr().err
