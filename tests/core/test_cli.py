from __future__ import annotations

import subprocess
import sys

from tests import lanes


def test_serve_refuses_several_workers_on_the_embedded_default(tmp_path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "REDIS_URL": "",
        "APP_ENV": "development",
    }
    result = subprocess.run(
        [sys.executable, "-m", "qoach.cli", "serve", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "one process" in result.stderr


def test_migrate_creates_the_schema(tmp_path) -> None:
    db_file = tmp_path / "m.db"
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{db_file}",
        "APP_ENV": "development",
    }
    result = subprocess.run(
        [sys.executable, "-m", "qoach.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    import sqlite3

    tables = {r[0] for r in sqlite3.connect(db_file).execute("select name from sqlite_master")}
    assert {"users", "companies", "quizzes", "attempts", "notifications"} <= tables
    assert lanes.LANE in {"postgres", "embedded"}
