"""The triggers that keep the rollup tables (`qoach.models.stats`) exact, and a rebuild.

Inserts, PostgreSQL: a row-level trigger on `attempts` (one plain upsert of
`NEW` per table, planned once per connection: `attempt_row_upserts`) and a
statement-level trigger on `attempt_answers` over its transition table (one
grouped upsert for all the answers of a statement: twenty single-row upserts
cost about twice as much, see bench/trigger_bench.py). SQLite: row-level
triggers running the grouped upserts over `NEW`. The grouped upserts also serve
`rebuild()`, which recomputes every table from the attempts (used by the
migration that introduced the tables and by bulk loads that skip triggers).
Deletions are a row-level BEFORE DELETE trigger on `attempts` on both databases
(the attempt's answers are still there to subtract), skipped when the company
itself is being deleted (its rollup rows go with it).

Lock order: a submission is one statement inserting one attempt, then its
answers; at the end of the statement the attempt's row trigger fires first (its
event was queued first), upserting company (day, month, year), member, quiz and
score rows in that order, then the answers' trigger upserts the question rows
sorted by key. Concurrent submissions thus take row locks in one order: no
deadlock. (A statement inserting several attempts locks their rows attempt by
attempt: bulk loads of that kind should not run concurrently in one company.)
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from qoach.models.stats import COMPANY_SHARDS, QUIZ_SHARDS, Grain

_ATTEMPT_COLUMNS = (
    "id",
    "company_id",
    "user_id",
    "quiz_id",
    "quiz_version_id",
    "correct_count",
    "question_count",
    "completed_at",
)
_ANSWER_COLUMNS = ("attempt_id", "question_id", "selected_mask", "is_correct")
_COARSE = (Grain.month, Grain.year)
_ALL = (Grain.day, Grain.month, Grain.year)
# per version and question: months only (a version's all-time sums are a few hundred
# month rows at most, and each submission upserts one row per question, not two)
_VERSION = (Grain.month,)
STATS_TABLES = ("stats_company", "stats_member", "stats_quiz", "stats_score", "stats_item")


class _Dialect:
    def __init__(self, name: str) -> None:
        self.pg = name == "postgresql"

    def period(self, grain: str, ts: str) -> str:
        """SQL for the start (a date) of the period of `grain` holding timestamp `ts`.

        `grain` is SQL too: a column holding a grain name or a quoted literal.
        """
        if self.pg:
            return f"date_trunc({grain}, {ts} AT TIME ZONE 'UTC')::date"
        return (
            f"CASE {grain} WHEN 'day' THEN date({ts}) "
            f"WHEN 'month' THEN date({ts}, 'start of month') "
            f"ELSE date({ts}, 'start of year') END"
        )

    def bounds(self, grain: Grain, period: str) -> tuple[str, str]:
        """SQL comparable with `completed_at` for the start and end of a period."""
        if self.pg:
            return (
                f"(({period})::timestamp AT TIME ZONE 'UTC')",
                f"((({period}) + interval '1 {grain.value}') AT TIME ZONE 'UTC')",
            )
        return f"({period})", f"date({period}, '+1 {grain.value}')"

    def greatest(self, a: str, b: str) -> str:
        return f"greatest({a}, {b})" if self.pg else f"max(coalesce({a}, {b}), coalesce({b}, {a}))"


def _grains(grains: Sequence[Grain]) -> str:
    return "(" + " UNION ALL ".join(f"SELECT '{g.value}' AS grain" for g in grains) + ")"


def _sums_update(target: str, d: _Dialect, *, last_at: bool) -> str:
    sets = [
        f"attempts = {target}.attempts + excluded.attempts",
        f"correct = {target}.correct + excluded.correct",
        f"questions = {target}.questions + excluded.questions",
    ]
    if last_at:
        sets.append(f"last_at = {d.greatest(f'{target}.last_at', 'excluded.last_at')}")
    return ", ".join(sets)


def attempt_upserts(d: _Dialect, source: str) -> list[str]:
    """Upserts adding the attempts of relation `source` (aliased `a`) to the rollups."""
    period = d.period("g.grain", "a.completed_at")
    sums = "count(*), sum(a.correct_count), sum(a.question_count)"
    return [
        f"""INSERT INTO stats_company
            (company_id, grain, period_start, shard, attempts, correct, questions)
        SELECT a.company_id, g.grain, {period}, a.user_id % {COMPANY_SHARDS}, {sums}
        FROM {source} AS a CROSS JOIN {_grains(_ALL)} AS g
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (company_id, grain, period_start, shard)
        DO UPDATE SET {_sums_update("stats_company", d, last_at=False)}""",
        f"""INSERT INTO stats_member
            (company_id, grain, period_start, user_id, attempts, correct, questions, last_at)
        SELECT a.company_id, g.grain, {period}, a.user_id, {sums}, max(a.completed_at)
        FROM {source} AS a CROSS JOIN {_grains(_COARSE)} AS g
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (company_id, grain, period_start, user_id)
        DO UPDATE SET {_sums_update("stats_member", d, last_at=True)}""",
        f"""INSERT INTO stats_quiz
            (company_id, grain, period_start, quiz_id, shard, attempts, correct, questions,
             last_at)
        SELECT a.company_id, g.grain, {period}, a.quiz_id, a.user_id % {QUIZ_SHARDS}, {sums},
            max(a.completed_at)
        FROM {source} AS a CROSS JOIN {_grains(_COARSE)} AS g
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (company_id, grain, period_start, quiz_id, shard)
        DO UPDATE SET {_sums_update("stats_quiz", d, last_at=True)}""",
        f"""INSERT INTO stats_score
            (quiz_version_id, grain, period_start, correct_count, attempts)
        SELECT a.quiz_version_id, g.grain, {period}, a.correct_count, count(*)
        FROM {source} AS a CROSS JOIN {_grains(_VERSION)} AS g
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (quiz_version_id, grain, period_start, correct_count)
        DO UPDATE SET attempts = stats_score.attempts + excluded.attempts""",
    ]


def _chosen(alias: str) -> list[str]:
    return [f"(({alias}.selected_mask >> {p}) & 1)" for p in range(4)]


def answer_upsert(d: _Dialect, source: str) -> str:
    """Upsert adding the answers of relation `source` (aliased `n`) to `stats_item`."""
    period = d.period("g.grain", "a.completed_at")
    right = "CASE WHEN n.is_correct THEN 1 ELSE 0 END"
    chosen = ", ".join(f"sum({bit})" for bit in _chosen("n"))
    chosen_set = ", ".join(
        f"chosen_{p} = stats_item.chosen_{p} + excluded.chosen_{p}" for p in range(4)
    )
    return f"""INSERT INTO stats_item
            (quiz_version_id, grain, period_start, question_id, shard, attempts, correct,
             correct_times_total, chosen_0, chosen_1, chosen_2, chosen_3)
        SELECT a.quiz_version_id, g.grain, {period}, n.question_id, a.user_id % {QUIZ_SHARDS},
            count(*), sum({right}), sum({right} * a.correct_count), {chosen}
        FROM {source} AS n JOIN attempts AS a ON a.id = n.attempt_id
        CROSS JOIN {_grains(_VERSION)} AS g
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (quiz_version_id, grain, period_start, question_id, shard)
        DO UPDATE SET attempts = stats_item.attempts + excluded.attempts,
            correct = stats_item.correct + excluded.correct,
            correct_times_total = stats_item.correct_times_total + excluded.correct_times_total,
            {chosen_set}"""


def _values_upsert(
    table: str, key: Sequence[str], rest: Sequence[str], rows: Sequence[Sequence[str]], update: str
) -> str:
    """`INSERT … VALUES rows ON CONFLICT (key) DO UPDATE SET update`."""
    values = ",\n            ".join("(" + ", ".join(row) + ")" for row in rows)
    return (
        f"INSERT INTO {table} ({', '.join((*key, *rest))})\n"
        f"        VALUES {values}\n"
        f"        ON CONFLICT ({', '.join(key)}) DO UPDATE SET {update}"
    )


def attempt_row_upserts(d: _Dialect) -> list[str]:
    """Upserts adding the attempt `NEW` to the rollups: PostgreSQL's row trigger.

    One statement per table, over `VALUES` of `NEW.*` only: plpgsql plans each
    once per connection, and a one-row `VALUES` costs less to run than the
    grouped upserts (a join with the grains, a sort, an aggregate per table).
    Tables and periods go in the grouped upserts' key order.
    """
    sums = ("attempts", "correct", "questions")
    added = ["1", "NEW.correct_count", "NEW.question_count"]

    def period(grain: Grain) -> list[str]:
        return [f"'{grain.value}'", d.period(f"'{grain.value}'", "NEW.completed_at")]

    company_shard = f"NEW.user_id % {COMPANY_SHARDS}"
    quiz_shard = f"NEW.user_id % {QUIZ_SHARDS}"
    return [
        _values_upsert(
            "stats_company",
            ("company_id", "grain", "period_start", "shard"),
            sums,
            [["NEW.company_id", *period(g), company_shard, *added] for g in _ALL],
            _sums_update("stats_company", d, last_at=False),
        ),
        _values_upsert(
            "stats_member",
            ("company_id", "grain", "period_start", "user_id"),
            (*sums, "last_at"),
            [
                ["NEW.company_id", *period(g), "NEW.user_id", *added, "NEW.completed_at"]
                for g in _COARSE
            ],
            _sums_update("stats_member", d, last_at=True),
        ),
        _values_upsert(
            "stats_quiz",
            ("company_id", "grain", "period_start", "quiz_id", "shard"),
            (*sums, "last_at"),
            [
                [
                    "NEW.company_id",
                    *period(g),
                    "NEW.quiz_id",
                    quiz_shard,
                    *added,
                    "NEW.completed_at",
                ]
                for g in _COARSE
            ],
            _sums_update("stats_quiz", d, last_at=True),
        ),
        _values_upsert(
            "stats_score",
            ("quiz_version_id", "grain", "period_start", "correct_count"),
            ("attempts",),
            [["NEW.quiz_version_id", *period(g), "NEW.correct_count", "1"] for g in _VERSION],
            "attempts = stats_score.attempts + excluded.attempts",
        ),
    ]


def _exists(table: str, id_: str) -> str:
    return f"EXISTS (SELECT 1 FROM {table} WHERE id = {id_})"


def attempt_decrements(d: _Dialect) -> list[str]:
    """Statements (in a row trigger on `attempts`) subtracting the attempt `OLD`.

    Rows whose user, quiz or version is being deleted with the attempt are left
    alone: their own foreign keys delete them, and updating them would fail the
    foreign key check.
    """
    statements: list[str] = []
    version_exists = _exists("quiz_versions", "OLD.quiz_version_id")
    for grain in _ALL:
        period = d.period(f"'{grain.value}'", "OLD.completed_at")
        lo, hi = d.bounds(grain, period)
        minus = (
            "attempts = attempts - 1, correct = correct - OLD.correct_count, "
            "questions = questions - OLD.question_count"
        )
        key = f"grain = '{grain.value}' AND period_start = {period}"
        statements.append(
            f"UPDATE stats_company SET {minus} WHERE company_id = OLD.company_id AND {key} "
            f"AND shard = OLD.user_id % {COMPANY_SHARDS}"
        )
        if grain is Grain.day:
            continue
        last = (
            "SELECT max(x.completed_at) FROM attempts AS x WHERE {match} AND x.id <> OLD.id "
            f"AND x.completed_at >= {lo} AND x.completed_at < {hi}"
        )
        same_member = "x.user_id = OLD.user_id AND x.company_id = OLD.company_id"
        statements.append(
            f"""UPDATE stats_member SET {minus}, last_at = CASE WHEN last_at = OLD.completed_at
                THEN ({last.format(match=same_member)})
                ELSE last_at END
            WHERE company_id = OLD.company_id AND {key} AND user_id = OLD.user_id
                AND {_exists("users", "OLD.user_id")}"""
        )
        same_shard = (
            f"x.quiz_id = OLD.quiz_id AND x.user_id % {QUIZ_SHARDS} = OLD.user_id % {QUIZ_SHARDS}"
        )
        statements.append(
            f"""UPDATE stats_quiz SET {minus}, last_at = CASE WHEN last_at = OLD.completed_at
                THEN ({last.format(match=same_shard)})
                ELSE last_at END
            WHERE company_id = OLD.company_id AND {key} AND quiz_id = OLD.quiz_id
                AND shard = OLD.user_id % {QUIZ_SHARDS} AND {_exists("quizzes", "OLD.quiz_id")}"""
        )
        if grain not in _VERSION:
            continue
        statements.append(
            f"UPDATE stats_score SET attempts = attempts - 1 "
            f"WHERE quiz_version_id = OLD.quiz_version_id AND {key} "
            f"AND correct_count = OLD.correct_count AND {version_exists}"
        )
        right = "CASE WHEN n.is_correct THEN 1 ELSE 0 END"
        chosen = ", ".join(f"chosen_{p} = chosen_{p} - {bit}" for p, bit in enumerate(_chosen("n")))
        statements.append(
            f"""UPDATE stats_item SET attempts = attempts - 1, correct = correct - {right},
                correct_times_total = correct_times_total - {right} * OLD.correct_count,
                {chosen}
            FROM attempt_answers AS n
            WHERE n.attempt_id = OLD.id AND stats_item.question_id = n.question_id
                AND stats_item.quiz_version_id = OLD.quiz_version_id
                AND stats_item.{key} AND stats_item.shard = OLD.user_id % {QUIZ_SHARDS}
                AND {version_exists}"""
        )
    return statements


def _row(prefix: str, columns: Sequence[str]) -> str:
    return "(SELECT " + ", ".join(f"{prefix}.{c} AS {c}" for c in columns) + ")"


def _pg_function(name: str, body: Sequence[str], returns: str) -> str:
    statements = "".join(f"    {s};\n" for s in body)
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        f"{statements}    RETURN {returns};\nEND\n$$"
    )


def create_statements(dialect_name: str) -> list[str]:
    """DDL creating the rollup triggers on `attempts` and `attempt_answers`."""
    d = _Dialect(dialect_name)
    guard = "EXISTS (SELECT 1 FROM companies WHERE id = OLD.company_id)"
    if not d.pg:
        return [
            "CREATE TRIGGER stats_attempt_inserted AFTER INSERT ON attempts BEGIN "
            + "; ".join(attempt_upserts(d, _row("NEW", _ATTEMPT_COLUMNS)))
            + "; END",
            "CREATE TRIGGER stats_answer_inserted AFTER INSERT ON attempt_answers BEGIN "
            + answer_upsert(d, _row("NEW", _ANSWER_COLUMNS))
            + "; END",
            f"CREATE TRIGGER stats_attempt_deleted BEFORE DELETE ON attempts WHEN {guard} BEGIN "
            + "; ".join(attempt_decrements(d))
            + "; END",
        ]
    return [
        _pg_function("stats_attempt_inserted", attempt_row_upserts(d), "NULL"),
        "CREATE TRIGGER stats_attempt_inserted AFTER INSERT ON attempts "
        "FOR EACH ROW EXECUTE FUNCTION stats_attempt_inserted()",
        _pg_function("stats_answers_inserted", [answer_upsert(d, "new_rows")], "NULL"),
        "CREATE TRIGGER stats_answers_inserted AFTER INSERT ON attempt_answers "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION stats_answers_inserted()",
        _pg_function(
            "stats_attempt_deleted",
            [f"IF NOT {guard} THEN RETURN OLD; END IF", *attempt_decrements(d)],
            "OLD",
        ),
        "CREATE TRIGGER stats_attempt_deleted BEFORE DELETE ON attempts "
        "FOR EACH ROW EXECUTE FUNCTION stats_attempt_deleted()",
    ]


# PostgreSQL's triggers (each with its function), those of every revision:
# `stats_attempts_inserted` was the statement-level attempts trigger of migration 0002
_PG_TRIGGERS = (
    ("stats_attempts_inserted", "attempts"),
    ("stats_attempt_inserted", "attempts"),
    ("stats_answers_inserted", "attempt_answers"),
    ("stats_attempt_deleted", "attempts"),
)


def drop_statements(dialect_name: str) -> list[str]:
    """DDL dropping the rollup triggers (on PostgreSQL: of any revision, if present)."""
    if dialect_name != "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {name}"
            for name in ("stats_attempt_inserted", "stats_answer_inserted", "stats_attempt_deleted")
        ]
    return [
        *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in _PG_TRIGGERS),
        *(f"DROP FUNCTION IF EXISTS {name}()" for name, _ in _PG_TRIGGERS),
    ]


def rebuild_statements(dialect_name: str) -> list[str]:
    """Empty the rollup tables and recompute them from `attempts` / `attempt_answers`."""
    d = _Dialect(dialect_name)
    return [
        *(f"DELETE FROM {table}" for table in STATS_TABLES),
        *attempt_upserts(d, "attempts"),
        answer_upsert(d, "attempt_answers"),
    ]


async def rebuild(conn: AsyncConnection) -> None:
    """Recompute every rollup table (in the caller's transaction)."""
    for statement in rebuild_statements(conn.dialect.name):
        await conn.exec_driver_sql(statement)
