"""Every router of the service, included in one place."""

from __future__ import annotations

from fastapi import FastAPI

# The order of the sections in /docs (otherwise the order in which routes are included).
OPENAPI_TAGS = [
    {"name": "health", "description": "Liveness and the database / Redis checks."},
    {"name": "auth", "description": "Register, log in, refresh and log out (JWT)."},
    {"name": "users", "description": "Profiles, the caller's own account."},
    {"name": "companies", "description": "Companies, members, admins and ownership."},
    {"name": "invitations", "description": "A company invites a user."},
    {"name": "join requests", "description": "A user asks to join a company."},
    {"name": "quizzes", "description": "Quizzes and their versions (public and admin views)."},
    {"name": "quiz import", "description": "Quizzes from and to Excel (.xlsx)."},
    {"name": "attempts", "description": "Taking a quiz; scored on the server."},
    {"name": "analytics", "description": "Averages, timelines, leaderboards, item analysis."},
    {"name": "exports", "description": "Attempt answers as JSON, CSV or XLSX."},
    {"name": "notifications", "description": "Stored notifications and their WebSocket."},
]


def include_routers(app: FastAPI) -> None:
    from qoach.analytics.router import router as analytics_router
    from qoach.attempts.router import router as attempts_router
    from qoach.auth.router import router as auth_router
    from qoach.companies.router import router as companies_router
    from qoach.exports.router import router as exports_router
    from qoach.health.router import router as health_router
    from qoach.notifications.router import router as notifications_router
    from qoach.quizzes.excel_import.router import router as quiz_import_router
    from qoach.quizzes.router import router as quizzes_router
    from qoach.users.router import router as users_router

    # Routes are matched in inclusion order, router by router: the hot routes (taking a
    # quiz, submitting it) come first so a request for them is not tried against
    # every other path. No two routers have paths that one request could match.
    for router in (
        quizzes_router,
        attempts_router,
        health_router,
        auth_router,
        users_router,
        companies_router,
        quiz_import_router,
        analytics_router,
        exports_router,
        notifications_router,
    ):
        app.include_router(router)
