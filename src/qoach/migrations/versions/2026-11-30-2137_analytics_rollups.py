"""analytics rollups: stats_* tables, their triggers, and a backfill

The tables are filled from the existing attempts in this migration's
transaction (`qoach.analytics.rollups.rebuild_statements`); from then on the
triggers keep them exact. On PostgreSQL the company index becomes covering.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 21:37:45.931511+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qoach.db.types
from qoach.analytics import rollups

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL's triggers as this revision created them, frozen (0003 replaced the one on
# attempts); SQLite's are still those of `rollups.create_statements`
PG_TRIGGERS = (
    """CREATE FUNCTION stats_attempts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_company
            (company_id, grain, period_start, shard, attempts, correct, questions)
        SELECT a.company_id, g.grain, date_trunc(g.grain,
            a.completed_at AT TIME ZONE 'UTC')::date, a.user_id % 8, count(*),
            sum(a.correct_count), sum(a.question_count)
        FROM new_rows AS a CROSS JOIN (SELECT 'day' AS grain UNION ALL SELECT 'month' AS
            grain UNION ALL SELECT 'year' AS grain) AS g
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (company_id, grain, period_start, shard)
        DO UPDATE SET attempts = stats_company.attempts + excluded.attempts,
            correct = stats_company.correct + excluded.correct,
            questions = stats_company.questions + excluded.questions;
    INSERT INTO stats_member
            (company_id, grain, period_start, user_id, attempts, correct, questions,
                last_at)
        SELECT a.company_id, g.grain, date_trunc(g.grain,
            a.completed_at AT TIME ZONE 'UTC')::date, a.user_id, count(*),
            sum(a.correct_count), sum(a.question_count), max(a.completed_at)
        FROM new_rows AS a CROSS JOIN (SELECT 'month' AS grain UNION ALL SELECT 'year' AS
            grain) AS g
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (company_id, grain, period_start, user_id)
        DO UPDATE SET attempts = stats_member.attempts + excluded.attempts,
            correct = stats_member.correct + excluded.correct,
            questions = stats_member.questions + excluded.questions,
            last_at = greatest(stats_member.last_at, excluded.last_at);
    INSERT INTO stats_quiz
            (company_id, grain, period_start, quiz_id, shard, attempts, correct, questions,
             last_at)
        SELECT a.company_id, g.grain, date_trunc(g.grain,
            a.completed_at AT TIME ZONE 'UTC')::date, a.quiz_id, a.user_id % 4, count(*),
            sum(a.correct_count), sum(a.question_count),
            max(a.completed_at)
        FROM new_rows AS a CROSS JOIN (SELECT 'month' AS grain UNION ALL SELECT 'year' AS
            grain) AS g
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (company_id, grain, period_start, quiz_id, shard)
        DO UPDATE SET attempts = stats_quiz.attempts + excluded.attempts,
            correct = stats_quiz.correct + excluded.correct,
            questions = stats_quiz.questions + excluded.questions,
            last_at = greatest(stats_quiz.last_at, excluded.last_at);
    INSERT INTO stats_score
            (quiz_version_id, grain, period_start, correct_count, attempts)
        SELECT a.quiz_version_id, g.grain, date_trunc(g.grain,
            a.completed_at AT TIME ZONE 'UTC')::date, a.correct_count, count(*)
        FROM new_rows AS a CROSS JOIN (SELECT 'month' AS grain) AS g
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (quiz_version_id, grain, period_start, correct_count)
        DO UPDATE SET attempts = stats_score.attempts + excluded.attempts;
    RETURN NULL;
END
$$""",
    """CREATE TRIGGER stats_attempts_inserted AFTER INSERT ON attempts REFERENCING NEW TABLE AS
    new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_attempts_inserted()""",
    """CREATE FUNCTION stats_answers_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_item
            (quiz_version_id, grain, period_start, question_id, shard, attempts, correct,
             correct_times_total, chosen_0, chosen_1, chosen_2, chosen_3)
        SELECT a.quiz_version_id, g.grain, date_trunc(g.grain,
            a.completed_at AT TIME ZONE 'UTC')::date, n.question_id, a.user_id % 4,
            count(*), sum(CASE WHEN n.is_correct THEN 1 ELSE 0 END),
                sum(CASE WHEN n.is_correct THEN 1 ELSE 0 END * a.correct_count),
                sum(((n.selected_mask >> 0) & 1)), sum(((n.selected_mask >> 1) & 1)),
                sum(((n.selected_mask >> 2) & 1)), sum(((n.selected_mask >> 3) & 1))
        FROM new_rows AS n JOIN attempts AS a ON a.id = n.attempt_id
        CROSS JOIN (SELECT 'month' AS grain) AS g
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (quiz_version_id, grain, period_start, question_id, shard)
        DO UPDATE SET attempts = stats_item.attempts + excluded.attempts,
            correct = stats_item.correct + excluded.correct,
            correct_times_total = stats_item.correct_times_total +
                excluded.correct_times_total,
            chosen_0 = stats_item.chosen_0 + excluded.chosen_0,
                chosen_1 = stats_item.chosen_1 + excluded.chosen_1,
                chosen_2 = stats_item.chosen_2 + excluded.chosen_2,
                chosen_3 = stats_item.chosen_3 + excluded.chosen_3;
    RETURN NULL;
END
$$""",
    """CREATE TRIGGER stats_answers_inserted AFTER INSERT ON attempt_answers REFERENCING NEW TABLE
    AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_answers_inserted()""",
    """CREATE FUNCTION stats_attempt_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM companies WHERE id = OLD.company_id) THEN RETURN OLD; END
        IF;
    UPDATE stats_company SET attempts = attempts - 1, correct = correct - OLD.correct_count,
        questions = questions - OLD.question_count WHERE company_id = OLD.company_id AND
        grain = 'day' AND period_start = date_trunc('day',
        OLD.completed_at AT TIME ZONE 'UTC')::date AND shard = OLD.user_id % 8;
    UPDATE stats_company SET attempts = attempts - 1, correct = correct - OLD.correct_count,
        questions = questions - OLD.question_count WHERE company_id = OLD.company_id AND
        grain = 'month' AND period_start = date_trunc('month',
        OLD.completed_at AT TIME ZONE 'UTC')::date AND shard = OLD.user_id % 8;
    UPDATE stats_member SET attempts = attempts - 1, correct = correct - OLD.correct_count,
        questions = questions - OLD.question_count,
        last_at = CASE WHEN last_at = OLD.completed_at
                THEN (SELECT max(x.completed_at) FROM attempts AS x WHERE x.user_id =
                    OLD.user_id AND x.company_id = OLD.company_id AND x.id <> OLD.id AND
                    x.completed_at >= ((date_trunc('month',
                    OLD.completed_at AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE
                    'UTC') AND x.completed_at < (((date_trunc('month',
                    OLD.completed_at AT TIME ZONE 'UTC')::date) + interval '1 month') AT
                    TIME ZONE 'UTC'))
                ELSE last_at END
            WHERE company_id = OLD.company_id AND grain = 'month' AND period_start =
                date_trunc('month',
                OLD.completed_at AT TIME ZONE 'UTC')::date AND user_id = OLD.user_id
                AND EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id);
    UPDATE stats_quiz SET attempts = attempts - 1, correct = correct - OLD.correct_count,
        questions = questions - OLD.question_count,
        last_at = CASE WHEN last_at = OLD.completed_at
                THEN (SELECT max(x.completed_at) FROM attempts AS x WHERE x.quiz_id =
                    OLD.quiz_id AND x.user_id % 4 = OLD.user_id % 4 AND x.id <> OLD.id AND
                    x.completed_at >= ((date_trunc('month',
                    OLD.completed_at AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE
                    'UTC') AND x.completed_at < (((date_trunc('month',
                    OLD.completed_at AT TIME ZONE 'UTC')::date) + interval '1 month') AT
                    TIME ZONE 'UTC'))
                ELSE last_at END
            WHERE company_id = OLD.company_id AND grain = 'month' AND period_start =
                date_trunc('month',
                OLD.completed_at AT TIME ZONE 'UTC')::date AND quiz_id = OLD.quiz_id
                AND shard = OLD.user_id % 4 AND EXISTS (SELECT 1 FROM quizzes WHERE id =
                    OLD.quiz_id);
    UPDATE stats_score SET attempts = attempts - 1 WHERE quiz_version_id =
        OLD.quiz_version_id AND grain = 'month' AND period_start = date_trunc('month',
        OLD.completed_at AT TIME ZONE 'UTC')::date AND correct_count = OLD.correct_count AND
        EXISTS (SELECT 1 FROM quiz_versions WHERE id = OLD.quiz_version_id);
    UPDATE stats_item SET attempts = attempts - 1,
        correct = correct - CASE WHEN n.is_correct THEN 1 ELSE 0 END,
                correct_times_total = correct_times_total - CASE WHEN n.is_correct THEN 1
                    ELSE 0 END * OLD.correct_count,
                chosen_0 = chosen_0 - ((n.selected_mask >> 0) & 1),
                    chosen_1 = chosen_1 - ((n.selected_mask >> 1) & 1),
                    chosen_2 = chosen_2 - ((n.selected_mask >> 2) & 1),
                    chosen_3 = chosen_3 - ((n.selected_mask >> 3) & 1)
            FROM attempt_answers AS n
            WHERE n.attempt_id = OLD.id AND stats_item.question_id = n.question_id
                AND stats_item.quiz_version_id = OLD.quiz_version_id
                AND stats_item.grain = 'month' AND period_start = date_trunc('month',
                    OLD.completed_at AT TIME ZONE 'UTC')::date AND stats_item.shard =
                    OLD.user_id % 4
                AND EXISTS (SELECT 1 FROM quiz_versions WHERE id = OLD.quiz_version_id);
    UPDATE stats_company SET attempts = attempts - 1, correct = correct - OLD.correct_count,
        questions = questions - OLD.question_count WHERE company_id = OLD.company_id AND
        grain = 'year' AND period_start = date_trunc('year',
        OLD.completed_at AT TIME ZONE 'UTC')::date AND shard = OLD.user_id % 8;
    UPDATE stats_member SET attempts = attempts - 1, correct = correct - OLD.correct_count,
        questions = questions - OLD.question_count,
        last_at = CASE WHEN last_at = OLD.completed_at
                THEN (SELECT max(x.completed_at) FROM attempts AS x WHERE x.user_id =
                    OLD.user_id AND x.company_id = OLD.company_id AND x.id <> OLD.id AND
                    x.completed_at >= ((date_trunc('year',
                    OLD.completed_at AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE
                    'UTC') AND x.completed_at < (((date_trunc('year',
                    OLD.completed_at AT TIME ZONE 'UTC')::date) + interval '1 year') AT TIME
                    ZONE 'UTC'))
                ELSE last_at END
            WHERE company_id = OLD.company_id AND grain = 'year' AND period_start =
                date_trunc('year',
                OLD.completed_at AT TIME ZONE 'UTC')::date AND user_id = OLD.user_id
                AND EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id);
    UPDATE stats_quiz SET attempts = attempts - 1, correct = correct - OLD.correct_count,
        questions = questions - OLD.question_count,
        last_at = CASE WHEN last_at = OLD.completed_at
                THEN (SELECT max(x.completed_at) FROM attempts AS x WHERE x.quiz_id =
                    OLD.quiz_id AND x.user_id % 4 = OLD.user_id % 4 AND x.id <> OLD.id AND
                    x.completed_at >= ((date_trunc('year',
                    OLD.completed_at AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE
                    'UTC') AND x.completed_at < (((date_trunc('year',
                    OLD.completed_at AT TIME ZONE 'UTC')::date) + interval '1 year') AT TIME
                    ZONE 'UTC'))
                ELSE last_at END
            WHERE company_id = OLD.company_id AND grain = 'year' AND period_start =
                date_trunc('year',
                OLD.completed_at AT TIME ZONE 'UTC')::date AND quiz_id = OLD.quiz_id
                AND shard = OLD.user_id % 4 AND EXISTS (SELECT 1 FROM quizzes WHERE id =
                    OLD.quiz_id);
    RETURN OLD;
END
$$""",
    """CREATE TRIGGER stats_attempt_deleted BEFORE DELETE ON attempts FOR EACH ROW EXECUTE FUNCTION
    stats_attempt_deleted()""",
)


def upgrade() -> None:
    op.create_table(
        "stats_company",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("grain", sa.String(length=5), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("questions", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "grain IN ('day', 'month', 'year')", name=op.f("ck_stats_company_grain")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_stats_company_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "company_id", "grain", "period_start", "shard", name=op.f("pk_stats_company")
        ),
    )
    op.create_table(
        "stats_member",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("grain", sa.String(length=5), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_at", qoach.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("questions", sa.Integer(), nullable=False),
        sa.CheckConstraint("grain IN ('day', 'month', 'year')", name=op.f("ck_stats_member_grain")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_stats_member_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_stats_member_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "company_id", "grain", "period_start", "user_id", name=op.f("pk_stats_member")
        ),
    )
    with op.batch_alter_table("stats_member", schema=None) as batch_op:
        batch_op.create_index("ix_stats_member_user_id", ["user_id"], unique=False)

    op.create_table(
        "stats_quiz",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("grain", sa.String(length=5), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("quiz_id", sa.Integer(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("last_at", qoach.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("questions", sa.Integer(), nullable=False),
        sa.CheckConstraint("grain IN ('day', 'month', 'year')", name=op.f("ck_stats_quiz_grain")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_stats_quiz_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["quizzes.id"],
            name=op.f("fk_stats_quiz_quiz_id_quizzes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "company_id", "grain", "period_start", "quiz_id", "shard", name=op.f("pk_stats_quiz")
        ),
    )
    with op.batch_alter_table("stats_quiz", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stats_quiz_quiz_id", ["quiz_id", "grain", "period_start"], unique=False
        )

    op.create_table(
        "stats_score",
        sa.Column("quiz_version_id", sa.Integer(), nullable=False),
        sa.Column("grain", sa.String(length=5), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("correct_count", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.CheckConstraint("grain IN ('day', 'month', 'year')", name=op.f("ck_stats_score_grain")),
        sa.ForeignKeyConstraint(
            ["quiz_version_id"],
            ["quiz_versions.id"],
            name=op.f("fk_stats_score_quiz_version_id_quiz_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "quiz_version_id", "grain", "period_start", "correct_count", name=op.f("pk_stats_score")
        ),
    )
    op.create_table(
        "stats_item",
        sa.Column("quiz_version_id", sa.Integer(), nullable=False),
        sa.Column("grain", sa.String(length=5), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("correct_times_total", sa.Integer(), nullable=False),
        sa.Column("chosen_0", sa.Integer(), nullable=False),
        sa.Column("chosen_1", sa.Integer(), nullable=False),
        sa.Column("chosen_2", sa.Integer(), nullable=False),
        sa.Column("chosen_3", sa.Integer(), nullable=False),
        sa.CheckConstraint("grain IN ('day', 'month', 'year')", name=op.f("ck_stats_item_grain")),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_stats_item_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["quiz_version_id"],
            ["quiz_versions.id"],
            name=op.f("fk_stats_item_quiz_version_id_quiz_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "quiz_version_id",
            "grain",
            "period_start",
            "question_id",
            "shard",
            name=op.f("pk_stats_item"),
        ),
    )
    with op.batch_alter_table("stats_item", schema=None) as batch_op:
        batch_op.create_index("ix_stats_item_question_id", ["question_id"], unique=False)

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempts_quiz_version_id"))
        batch_op.create_index(
            "ix_attempts_quiz_version_id_completed_at",
            ["quiz_version_id", "completed_at"],
            unique=False,
        )
        batch_op.drop_index("ix_attempts_company_id_completed_at")
        batch_op.create_index(
            "ix_attempts_company_id_completed_at",
            ["company_id", "completed_at"],
            unique=False,
            postgresql_include=["user_id", "quiz_id", "correct_count", "question_count"],
        )
        batch_op.drop_index("ix_attempts_quiz_id_completed_at")
        batch_op.create_index(
            "ix_attempts_quiz_id_completed_at",
            ["quiz_id", "completed_at"],
            unique=False,
            postgresql_include=["correct_count", "question_count"],
        )
    dialect = op.get_bind().dialect.name
    triggers = PG_TRIGGERS if dialect == "postgresql" else rollups.create_statements(dialect)
    for statement in triggers:
        op.execute(statement)
    for statement in rollups.rebuild_statements(dialect):
        op.execute(statement)


def downgrade() -> None:
    for statement in rollups.drop_statements(op.get_bind().dialect.name):
        op.execute(statement)
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_quiz_id_completed_at")
        batch_op.create_index(
            "ix_attempts_quiz_id_completed_at", ["quiz_id", "completed_at"], unique=False
        )
        batch_op.drop_index("ix_attempts_company_id_completed_at")
        batch_op.create_index(
            "ix_attempts_company_id_completed_at", ["company_id", "completed_at"], unique=False
        )
        batch_op.drop_index("ix_attempts_quiz_version_id_completed_at")
        batch_op.create_index(
            batch_op.f("ix_attempts_quiz_version_id"), ["quiz_version_id"], unique=False
        )

    with op.batch_alter_table("stats_item", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_item_question_id")

    op.drop_table("stats_item")
    op.drop_table("stats_score")
    with op.batch_alter_table("stats_quiz", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_quiz_quiz_id")

    op.drop_table("stats_quiz")
    with op.batch_alter_table("stats_member", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_member_user_id")

    op.drop_table("stats_member")
    op.drop_table("stats_company")
