"""Every number of every analytics endpoint, checked against hand arithmetic.

The dataset and its table of attempts are in `tests/analytics/dataset.py`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.analytics import service
from qoach.dates import DateRange
from tests.analytics.dataset import World, at, build_world
from tests.factories import Factory


@pytest.fixture
async def world(factory: Factory) -> World:
    return await build_world(factory)


async def get(client: AsyncClient, factory: Factory, user, url: str, **params) -> dict:
    response = await client.get(url, params=params, headers=await factory.headers(user))
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------- /users/me/analytics


async def test_my_analytics_all_companies(client: AsyncClient, factory: Factory, world: World):
    body = await get(client, factory, world.m1, "/users/me/analytics")
    # m1: a1 4/4, a3 2/4 (q1, company C), a7 0/2 (q3, company C2)
    assert body == {
        "overall_rating": 6 / 10,  # (4 + 2 + 0) / (4 + 4 + 2)
        "attempts": 3,
        "correct_answers": 6,
        "questions_answered": 10,
        "quizzes": [
            {
                "quiz_id": world.q1.id,
                "quiz_title": "Quiz one",
                "company_id": world.company.id,
                "average_score": 6 / 8,  # (4 + 2) / (4 + 4)
                "attempts": 2,
                "last_completed_at": "2026-10-04T23:59:59Z",
            },
            {
                "quiz_id": world.q3.id,
                "quiz_title": "Quiz three",
                "company_id": world.company2.id,
                "average_score": 0.0,  # 0 / 2
                "attempts": 1,
                "last_completed_at": "2026-10-03T15:00:00Z",
            },
        ],
    }


async def test_my_analytics_within_one_company(client, factory, world: World):
    body = await get(client, factory, world.m1, "/users/me/analytics", company_id=world.company.id)
    assert body["overall_rating"] == 6 / 8  # a1 + a3 only
    assert (body["attempts"], body["correct_answers"], body["questions_answered"]) == (2, 6, 8)
    assert [q["quiz_id"] for q in body["quizzes"]] == [world.q1.id]

    # m2 across versions of q1 and q2: a0 1/2, a2 2/4, a5 2/2 → 5/8
    body = await get(client, factory, world.m2, "/users/me/analytics")
    assert body["overall_rating"] == 5 / 8
    assert [(q["quiz_id"], q["average_score"], q["attempts"]) for q in body["quizzes"]] == [
        (world.q1.id, 3 / 6, 2),  # a0 1/2 (version 1) + a2 2/4 (version 2)
        (world.q2.id, 2 / 2, 1),
    ]


async def test_my_analytics_empty(client, factory, world: World):
    empty = {
        "overall_rating": None,
        "attempts": 0,
        "correct_answers": 0,
        "questions_answered": 0,
        "quizzes": [],
    }
    assert await get(client, factory, world.m3, "/users/me/analytics") == empty
    assert await get(
        client, factory, world.m1, "/users/me/analytics", **{"from": "2030-01-01"}
    ) == (empty)


async def test_my_analytics_anonymous(client: AsyncClient):
    for url in ("/users/me/analytics", "/users/me/analytics/timeline"):
        response = await client.get(url)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


# ------------------------------------------------------------------------ timelines


async def test_my_timeline_buckets(client, factory, world: World):
    url = "/users/me/analytics/timeline"
    # m1: a1 2026-09-28 (Mon) 4/4, a7 2026-10-03 (Sat) 0/2, a3 2026-10-04 (Sun) 2/4
    assert await get(client, factory, world.m1, url) == [
        {"bucket_start": "2026-09-28", "average_score": 1.0, "attempts": 1},
        {"bucket_start": "2026-10-03", "average_score": 0.0, "attempts": 1},
        {"bucket_start": "2026-10-04", "average_score": 0.5, "attempts": 1},
    ]
    # one ISO week, Monday 2026-09-28 to Sunday 2026-10-04: (4 + 0 + 2) / (4 + 2 + 4)
    assert await get(client, factory, world.m1, url, bucket="week") == [
        {"bucket_start": "2026-09-28", "average_score": 6 / 10, "attempts": 3},
    ]
    # September: a1 4/4; October: a7 + a3 = (0 + 2) / (2 + 4)
    assert await get(client, factory, world.m1, url, bucket="month") == [
        {"bucket_start": "2026-09-01", "average_score": 1.0, "attempts": 1},
        {"bucket_start": "2026-10-01", "average_score": 2 / 6, "attempts": 2},
    ]
    assert await get(client, factory, world.m1, url, quiz_id=world.q3.id) == [
        {"bucket_start": "2026-10-03", "average_score": 0.0, "attempts": 1},
    ]
    assert await get(client, factory, world.m1, url, **{"from": "2030-01-01"}) == []
    response = await client.get(
        url, params={"bucket": "year"}, headers=await factory.headers(world.m1)
    )
    assert response.status_code == 422


async def test_company_timeline_buckets(client, factory, world: World):
    url = f"/companies/{world.company.id}/analytics/timeline"
    owner = world.owner
    # every attempt in C, former members included (a6)
    assert await get(client, factory, owner, url) == [
        {"bucket_start": "2026-09-27", "average_score": 1 / 2, "attempts": 1},  # a0
        {"bucket_start": "2026-09-28", "average_score": 4 / 4, "attempts": 1},  # a1
        {"bucket_start": "2026-10-01", "average_score": 2 / 4, "attempts": 1},  # a2
        {"bucket_start": "2026-10-02", "average_score": 1 / 2, "attempts": 1},  # a6
        {"bucket_start": "2026-10-04", "average_score": 4 / 6, "attempts": 2},  # a3 2/4 + a5 2/2
        {"bucket_start": "2026-10-05", "average_score": 1 / 4, "attempts": 1},  # a4
    ]
    assert await get(client, factory, owner, url, bucket="week") == [
        # Sunday 2026-09-27 belongs to the week of Monday 2026-09-21
        {"bucket_start": "2026-09-21", "average_score": 1 / 2, "attempts": 1},
        # a1 4/4, a2 2/4, a6 1/2, a3 2/4, a5 2/2: 11 / 16, across September → October
        {"bucket_start": "2026-09-28", "average_score": 11 / 16, "attempts": 5},
        {"bucket_start": "2026-10-05", "average_score": 1 / 4, "attempts": 1},
    ]
    assert await get(client, factory, owner, url, bucket="month") == [
        {"bucket_start": "2026-09-01", "average_score": 5 / 6, "attempts": 2},  # a0 + a1
        # a2 2/4 + a6 1/2 + a3 2/4 + a5 2/2 + a4 1/4 = 8 / 16
        {"bucket_start": "2026-10-01", "average_score": 8 / 16, "attempts": 5},
    ]
    assert await get(client, factory, owner, url, user_id=world.m1.id) == [
        {"bucket_start": "2026-09-28", "average_score": 1.0, "attempts": 1},
        {"bucket_start": "2026-10-04", "average_score": 0.5, "attempts": 1},
    ]
    assert await get(client, factory, owner, url, quiz_id=world.q2.id, bucket="week") == [
        {"bucket_start": "2026-09-28", "average_score": 3 / 4, "attempts": 2},  # a6 + a5
    ]
    assert await get(client, factory, owner, url, quiz_id=world.q2.id, user_id=world.former.id) == [
        {"bucket_start": "2026-10-02", "average_score": 0.5, "attempts": 1}
    ]
    assert await get(client, factory, owner, url, **{"to": "2026-09-01"}) == []


async def test_company_timeline_of_another_companys_quiz_is_empty(client, factory, world: World):
    boss = await factory.user()
    elsewhere = await factory.company(boss)
    quiz = await factory.quiz(elsewhere)
    await factory.attempt(quiz, await factory.member(elsewhere), completed_at=at("2026-10-01"))
    for bucket in ("day", "week", "month"):
        url = f"/companies/{world.company.id}/analytics/timeline"
        assert await get(client, factory, world.owner, url, quiz_id=quiz.id, bucket=bucket) == []
        url = f"/companies/{elsewhere.id}/analytics/timeline"
        assert len(await get(client, factory, boss, url, quiz_id=quiz.id, bucket=bucket)) == 1


# ------------------------------------------------------------------ company analytics


def member(user, average, attempts, last):
    return {
        "user_id": user.id,
        "average_score": average,
        "attempts": attempts,
        "last_attempt_at": last,
    }


async def test_company_analytics(client, factory, world: World):
    body = await get(client, factory, world.admin, f"/companies/{world.company.id}/analytics")
    assert body == {
        # a0..a6 (a6 by the former member counts): (1+4+2+2+1+2+1) / (2+4+4+4+4+2+2)
        "average_score": 13 / 22,
        "attempts": 7,
        "members": [  # current members by id; `former` is not listed
            member(world.owner, 1 / 4, 1, "2026-10-05T00:00:00Z"),
            member(world.admin, None, 0, None),
            member(world.m1, 6 / 8, 2, "2026-10-04T23:59:59Z"),  # a1 + a3
            member(world.m2, 5 / 8, 3, "2026-10-04T12:00:00Z"),  # a0 1/2 + a2 2/4 + a5 2/2
            member(world.m3, None, 0, None),
        ],
        "quizzes": [
            {
                "quiz_id": world.q1.id,
                "quiz_title": "Quiz one",
                "average_score": 10 / 18,  # a0 1/2, a1 4/4, a2 2/4, a3 2/4, a4 1/4
                "attempts": 5,
                "last_attempt_at": "2026-10-05T00:00:00Z",
            },
            {
                "quiz_id": world.q2.id,
                "quiz_title": "Quiz two",
                "average_score": 3 / 4,  # a5 2/2 + a6 1/2
                "attempts": 2,
                "last_attempt_at": "2026-10-04T12:00:00Z",
            },
            {
                "quiz_id": world.q4.id,
                "quiz_title": "Quiz never taken",
                "average_score": None,
                "attempts": 0,
                "last_attempt_at": None,
            },
        ],
    }


async def test_company_analytics_date_bounds(client, factory, world: World):
    url = f"/companies/{world.company.id}/analytics"
    # a bare `to` date includes that whole day: a5 (12:00) and a3 (23:59:59), not a4 (next 00:00)
    body = await get(
        client, factory, world.owner, url, **{"from": "2026-10-04", "to": "2026-10-04"}
    )
    assert (body["average_score"], body["attempts"]) == (4 / 6, 2)
    # datetime bounds are inclusive on both sides
    body = await get(
        client,
        factory,
        world.owner,
        url,
        **{"from": "2026-10-04T12:00:00Z", "to": "2026-10-04T23:59:59Z"},
    )
    assert (body["average_score"], body["attempts"]) == (4 / 6, 2)
    body = await get(
        client,
        factory,
        world.owner,
        url,
        **{"from": "2026-10-05T00:00:00Z", "to": "2026-10-05T00:00:00Z"},
    )
    assert (body["average_score"], body["attempts"]) == (1 / 4, 1)
    assert body["members"][0] == member(world.owner, 1 / 4, 1, "2026-10-05T00:00:00Z")
    # just outside on either side
    body = await get(
        client,
        factory,
        world.owner,
        url,
        **{"from": "2026-10-04T12:00:01Z", "to": "2026-10-04T23:59:58Z"},
    )
    assert body["attempts"] == 0


async def test_company_analytics_empty_range(client, factory, world: World):
    body = await get(
        client,
        factory,
        world.owner,
        f"/companies/{world.company.id}/analytics",
        **{"from": "2030-01-01"},
    )
    assert body["average_score"] is None
    assert body["attempts"] == 0
    assert [m["user_id"] for m in body["members"]] == [
        u.id for u in (world.owner, world.admin, world.m1, world.m2, world.m3)
    ]
    assert all(m["attempts"] == 0 and m["average_score"] is None for m in body["members"])
    assert all(m["last_attempt_at"] is None for m in body["members"])
    assert [(q["attempts"], q["average_score"]) for q in body["quizzes"]] == [(0, None)] * 3


async def test_company_analytics_constant_statements(
    client, factory, world: World, count_statements
):
    url = f"/companies/{world.company.id}/analytics"
    headers = await factory.headers(world.owner)
    with count_statements as few:
        assert (await client.get(url, headers=headers)).status_code == 200
    for _ in range(8):
        user = await factory.member(world.company)
        await factory.attempt(world.q2, user, correct=[True, False], completed_at=at("2026-10-06"))
    with count_statements as many:
        response = await client.get(url, headers=headers)
    assert response.status_code == 200
    assert len(response.json()["members"]) == 13
    assert many.count == few.count


async def test_member_analytics(client, factory, world: World):
    url = f"/companies/{world.company.id}/analytics/users/{world.m2.id}"
    body = await get(client, factory, world.admin, url)
    assert body == {
        "user_id": world.m2.id,
        "average_score": 5 / 8,  # a0 1/2 + a2 2/4 + a5 2/2
        "attempts": 3,
        "quizzes": [
            {
                "quiz_id": world.q1.id,
                "quiz_title": "Quiz one",
                "average_score": 3 / 6,  # a0 1/2 + a2 2/4
                "attempts": 2,
                "last_completed_at": "2026-10-01T10:00:00Z",
            },
            {
                "quiz_id": world.q2.id,
                "quiz_title": "Quiz two",
                "average_score": 1.0,
                "attempts": 1,
                "last_completed_at": "2026-10-04T12:00:00Z",
            },
            {
                "quiz_id": world.q4.id,
                "quiz_title": "Quiz never taken",
                "average_score": None,
                "attempts": 0,
                "last_completed_at": None,
            },
        ],
    }
    body = await get(client, factory, world.admin, url, **{"to": "2026-09-30"})
    assert (body["average_score"], body["attempts"]) == (1 / 2, 1)  # a0 only
    assert [q["attempts"] for q in body["quizzes"]] == [1, 0, 0]
    # a member without attempts: zeros, every quiz listed
    body = await get(
        client, factory, world.admin, f"/companies/{world.company.id}/analytics/users/{world.m3.id}"
    )
    assert (body["average_score"], body["attempts"], len(body["quizzes"])) == (None, 0, 3)

    headers = await factory.headers(world.owner)
    for user in (world.former, world.outsider):
        response = await client.get(
            f"/companies/{world.company.id}/analytics/users/{user.id}", headers=headers
        )
        assert response.status_code == 404
        assert response.json()["code"] == "member_not_found"


async def test_last_attempts(client, factory, world: World):
    url = f"/companies/{world.company.id}/analytics/last-attempts"
    body = await get(client, factory, world.owner, url)
    assert body == {
        "items": [
            {
                "user_id": world.owner.id,
                "user_email": "owner@example.com",
                "last_attempt_at": "2026-10-05T00:00:00Z",
            },
            {
                "user_id": world.m1.id,
                "user_email": "m1@example.com",
                "last_attempt_at": "2026-10-04T23:59:59Z",
            },
            {
                "user_id": world.m2.id,
                "user_email": "m2@example.com",
                "last_attempt_at": "2026-10-04T12:00:00Z",
            },
            # never: nulls last, then by user id
            {"user_id": world.admin.id, "user_email": "admin@example.com", "last_attempt_at": None},
            {"user_id": world.m3.id, "user_email": "m3@example.com", "last_attempt_at": None},
        ],
        "total": 5,
        "limit": 20,
        "offset": 0,
    }
    body = await get(client, factory, world.owner, url, limit=2, offset=1)
    assert [i["user_id"] for i in body["items"]] == [world.m1.id, world.m2.id]
    assert (body["total"], body["limit"], body["offset"]) == (5, 2, 1)
    # range up to 2026-10-01: m2's a2 (10-01 10:00) and m1's a1 (09-28 09:00)
    body = await get(client, factory, world.owner, url, **{"to": "2026-10-01"})
    assert [(i["user_id"], i["last_attempt_at"]) for i in body["items"]] == [
        (world.m2.id, "2026-10-01T10:00:00Z"),
        (world.m1.id, "2026-09-28T09:00:00Z"),
        (world.owner.id, None),
        (world.admin.id, None),
        (world.m3.id, None),
    ]
    response = await client.get(
        url, params={"limit": 0}, headers=await factory.headers(world.owner)
    )
    assert response.status_code == 422


async def test_leaderboard(client, factory, world: World):
    url = f"/companies/{world.company.id}/leaderboard"
    body = await get(client, factory, world.m3, url)  # any member may look
    assert body == {
        "items": [
            {
                "rank": 1,
                "user_id": world.m1.id,
                "user_email": "m1@example.com",
                "average_score": 6 / 8,
                "attempts": 2,
            },
            {
                "rank": 2,
                "user_id": world.m2.id,
                "user_email": "m2@example.com",
                "average_score": 5 / 8,
                "attempts": 3,
            },
            {
                "rank": 3,
                "user_id": world.owner.id,
                "user_email": "owner@example.com",
                "average_score": 1 / 4,
                "attempts": 1,
            },
        ],
        "total": 3,  # members with attempts; the former member's a6 does not rank
        "limit": 20,
        "offset": 0,
    }
    body = await get(client, factory, world.m3, url, **{"from": "2030-01-01"})
    assert body == {"items": [], "total": 0, "limit": 20, "offset": 0}


async def test_leaderboard_ties(client, factory):
    owner = await factory.user()
    u1, u2, u3, u4, u5 = [await factory.user() for _ in range(5)]
    company = await factory.company(owner, members=[u1, u2, u3, u4, u5])
    quiz = await factory.quiz(
        company,
        questions=[(f"Q{i}", [("right", True), ("wrong", False)]) for i in range(3)],
    )
    await factory.attempt(quiz, u1, correct=[True, False, False])  # 1/3, one attempt
    await factory.attempt(quiz, u2, correct=[True, False, False])  # 1/3 …
    await factory.attempt(quiz, u2, correct=[False, True, False])  # … + 1/3 = 2/6, two attempts
    await factory.attempt(quiz, u4, correct=[True, True, True])  # 3/3, one attempt
    await factory.attempt(quiz, u3, correct=[True, True, True])  # 3/3, one attempt
    url = f"/companies/{company.id}/leaderboard"
    body = await get(client, factory, u5, url)
    # 3/3 tie with one attempt each → lower id first; 2/6 = 1/3 tie → more attempts first
    assert [
        (i["rank"], i["user_id"], i["average_score"], i["attempts"]) for i in body["items"]
    ] == [
        (1, u3.id, 1.0, 1),
        (2, u4.id, 1.0, 1),
        (3, u2.id, 2 / 6, 2),
        (4, u1.id, 1 / 3, 1),
    ]
    body = await get(client, factory, u5, url, limit=2, offset=2)
    assert [(i["rank"], i["user_id"]) for i in body["items"]] == [(3, u2.id), (4, u1.id)]
    assert body["total"] == 4


# ------------------------------------------------------------------- item analysis


async def test_quiz_item_analysis(client, factory, world: World):
    """q1's current version (a1–a4; a0 was on version 1 and does not count).

    0/1 matrix (rows a1..a4, columns questions 1..4) and totals c:
        a1: 1 1 1 1 | 4      a3: 1 1 0 0 | 2
        a2: 1 0 1 0 | 2      a4: 0 0 0 1 | 1
    """
    body = await get(client, factory, world.admin, f"/quizzes/{world.q1.id}/analytics")
    assert body["quiz_id"] == world.q1.id
    assert body["quiz_version"] == 2
    assert body["attempts"] == 4
    assert body["mean"] == 9 / 16  # scores 1, .5, .5, .25
    assert body["median"] == 0.5  # (.5 + .5) / 2
    # population variance of totals: 25/4 − (9/4)² = 19/16; of scores: 19/256
    assert body["std_dev"] == pytest.approx(math.sqrt(19) / 16, rel=1e-12)
    assert body["score_histogram"] == [
        {"from": i / 10, "to": (i + 1) / 10, "count": {2: 1, 5: 2, 9: 1}.get(i, 0)}
        for i in range(10)
    ]
    # Σ p(1−p) = 3/16 + 1/4 + 1/4 + 1/4 = 15/16; alpha = 4/3 · (1 − (15/16) / (19/16)) = 16/57
    assert body["cronbach_alpha"] == pytest.approx(16 / 57, rel=1e-12)

    questions = body["questions"]
    assert [q["text"] for q in questions] == ["Q1.1", "Q1.2", "Q1.3", "Q1.4"]
    assert [q["facility"] for q in questions] == [3 / 4, 2 / 4, 2 / 4, 2 / 4]
    # q1: x = 1 1 1 0, rest = 3 1 1 1: cov = 1/8, var x = 3/16, var rest = 3/4 → r = 1/3
    # q2: x = 1 0 1 0, rest = 3 2 1 1: cov = 1/8, var x = 1/4, var rest = 11/16 → 1/√11
    # q3: x = 1 1 0 0, rest = 3 1 2 1: cov = 1/8, var rest = 11/16 → 1/√11
    # q4: x = 1 0 0 1, rest = 3 2 2 0: cov = −1/8, var rest = 19/16 → −1/√19
    expected_r = [1 / 3, 1 / math.sqrt(11), 1 / math.sqrt(11), -1 / math.sqrt(19)]
    for question, r in zip(questions, expected_r, strict=True):
        assert question["discrimination"] == pytest.approx(r, rel=1e-12)
    # chosen: a1 [0][0][0][0,1], a2 [0][1][0][], a3 [0][0][2][0], a4 [1][2][1][0,1]
    chosen = [[(a["text"], a["is_correct"], a["chosen"]) for a in q["answers"]] for q in questions]
    assert chosen == [
        [("r11", True, 3), ("w11", False, 1), ("x11", False, 0)],
        [("r12", True, 2), ("w12", False, 1), ("x12", False, 1)],
        [("r13", True, 2), ("w13", False, 1), ("x13", False, 1)],
        [("a14", True, 3), ("b14", True, 2), ("c14", False, 0)],
    ]
    assert all(isinstance(a["answer_id"], int) for q in questions for a in q["answers"])


async def test_quiz_item_analysis_ranges(client, factory, world: World):
    url = f"/quizzes/{world.q1.id}/analytics"
    body = await get(client, factory, world.owner, url, **{"from": "2030-01-01"})
    assert (body["attempts"], body["mean"], body["median"], body["std_dev"]) == (
        0,
        None,
        None,
        None,
    )
    assert body["cronbach_alpha"] is None
    assert [b["count"] for b in body["score_histogram"]] == [0] * 10
    assert [(q["facility"], q["discrimination"]) for q in body["questions"]] == [(None, None)] * 4
    assert {a["chosen"] for q in body["questions"] for a in q["answers"]} == {0}

    # one attempt (a1, 4/4): no variance anywhere, alpha needs two attempts
    body = await get(client, factory, world.owner, url, **{"to": "2026-09-30"})
    assert (body["attempts"], body["mean"], body["median"], body["std_dev"]) == (1, 1.0, 1.0, 0.0)
    assert body["cronbach_alpha"] is None
    assert body["score_histogram"][9]["count"] == 1
    assert [(q["facility"], q["discrimination"]) for q in body["questions"]] == [(1.0, None)] * 4

    # a3 (2/4) and a4 (1/4): median of an even count is the mean of the middle two
    body = await get(client, factory, world.owner, url, **{"from": "2026-10-02"})
    assert (body["attempts"], body["mean"], body["median"]) == (2, 3 / 8, 3 / 8)
    assert body["std_dev"] == pytest.approx(1 / 8)  # scores .5 and .25
    # x: q1 1 0, q2 1 0, q3 0 0, q4 0 1; totals 2, 1 → var total 1/4; Σ var = 1/4·3 = 3/4
    # alpha = 4/3 · (1 − 3) = −8/3
    assert body["cronbach_alpha"] == pytest.approx(-8 / 3)


async def test_quiz_analytics_access(client, factory, world: World):
    url = f"/quizzes/{world.q1.id}/analytics"
    assert (await client.get(url)).status_code == 401
    as_member = await client.get(url, headers=await factory.headers(world.m1))
    assert as_member.status_code == 403
    assert as_member.json()["code"] == "forbidden_role"
    outsider = await client.get(url, headers=await factory.headers(world.outsider))
    assert outsider.status_code == 404
    missing = await client.get(
        "/quizzes/999999/analytics", headers=await factory.headers(world.owner)
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "quiz_not_found"


# ------------------------------------------------------------------------- access

STAFF_PATHS = [
    "/companies/{c}/analytics",
    "/companies/{c}/analytics/timeline",
    "/companies/{c}/analytics/users/{u}",
    "/companies/{c}/analytics/last-attempts",
]


@pytest.mark.parametrize("path", STAFF_PATHS)
async def test_staff_only_endpoints(client, factory, path: str):
    owner = await factory.user()
    admin = await factory.user()
    plain = await factory.user()
    stranger = await factory.user()
    visible = await factory.company(owner, admins=[admin], members=[plain])
    hidden = await factory.company(owner, members=[plain], is_visible=False)

    def url(company) -> str:
        return path.format(c=company.id, u=plain.id)

    assert (await client.get(url(visible))).status_code == 401
    response = await client.get(url(visible), headers=await factory.headers(plain))
    assert (response.status_code, response.json()["code"]) == (403, "forbidden_role")
    response = await client.get(url(visible), headers=await factory.headers(stranger))
    assert response.status_code == 403
    response = await client.get(url(hidden), headers=await factory.headers(stranger))
    assert (response.status_code, response.json()["code"]) == (404, "company_not_found")
    for staff in (owner, admin):
        response = await client.get(url(visible), headers=await factory.headers(staff))
        assert response.status_code == 200, response.text


async def test_leaderboard_access(client, factory):
    owner = await factory.user()
    plain = await factory.user()
    stranger = await factory.user()
    visible = await factory.company(owner, members=[plain])
    hidden = await factory.company(owner, is_visible=False)
    url = "/companies/{}/leaderboard"
    assert (await client.get(url.format(visible.id))).status_code == 401
    headers = await factory.headers(stranger)
    assert (await client.get(url.format(visible.id), headers=headers)).status_code == 403
    assert (await client.get(url.format(hidden.id), headers=headers)).status_code == 404
    response = await client.get(url.format(visible.id), headers=await factory.headers(plain))
    assert response.status_code == 200


async def test_bad_dates_are_422(client, factory, world: World):
    headers = await factory.headers(world.m1)
    for params in ({"from": "yesterday"}, {"from": "2026-10-05", "to": "2026-10-04"}):
        response = await client.get("/users/me/analytics", params=params, headers=headers)
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"


async def test_new_attempt_is_visible_at_once(client, factory, world: World):
    url = f"/companies/{world.company.id}/analytics"
    assert (await get(client, factory, world.owner, url))["attempts"] == 7
    await factory.attempt(world.q4, world.m3, correct=[True, True])
    body = await get(client, factory, world.owner, url)
    assert (body["attempts"], body["average_score"]) == (8, (13 + 2) / (22 + 2))


@pytest.mark.postgres_only
async def test_company_analytics_json_from_postgresql_matches_the_model(
    factory: Factory, db: AsyncSession, world: World
):
    """PostgreSQL writes the breakdown arrays itself: byte for byte what pydantic writes."""
    odd = await factory.quiz(world.company, title='Quote " back\\slash \n naïve ✓ \x01 </')
    for moment, correct in [
        (datetime(2026, 10, 6, 8, 30, 15, 250, tzinfo=UTC), [True, True]),  # 1.0, µs
        (datetime(2026, 10, 7, 9, 0, 0, 999999, tzinfo=UTC), [False, False]),
        (datetime(2026, 10, 7, 23, 59, 59, tzinfo=UTC), [True, False]),
    ]:
        user = await factory.member(world.company)
        await factory.attempt(odd, user, correct=correct, completed_at=moment)
    for dates in (
        DateRange(None, None),
        DateRange(datetime(2026, 10, 4, 12, tzinfo=UTC), None),
        DateRange(None, datetime(2026, 10, 7, tzinfo=UTC)),
        DateRange(datetime(2030, 1, 1, tzinfo=UTC), None),
    ):
        fast = await service.company_analytics(db, world.company.id, dates)
        model = await service.company_analytics_model(db, world.company.id, dates)
        assert fast == model.model_dump_json().encode()
