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
    for statement in rollups.create_statements(dialect):
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
