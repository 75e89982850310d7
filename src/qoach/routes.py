"""Every router of the service, included in one place."""

from __future__ import annotations

from fastapi import FastAPI


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

    for router in (
        health_router,
        auth_router,
        users_router,
        companies_router,
        quiz_import_router,
        quizzes_router,
        attempts_router,
        analytics_router,
        exports_router,
        notifications_router,
    ):
        app.include_router(router)
