"""`qoach serve | migrate | reminders run | demo-data`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from qoach.config import get_settings

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, Command] = {}


def _setup_logging() -> None:
    logging.basicConfig(
        level=get_settings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def cmd_migrate(_: argparse.Namespace) -> int:
    from qoach.db.migrate import upgrade

    upgrade(get_settings().database_url)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    if settings.is_sqlite and args.workers > 1:
        print(
            "The embedded mode (SQLite + in-process broker) runs one process; "
            "set DATABASE_URL and REDIS_URL to run more than one worker.",
            file=sys.stderr,
        )
        return 2
    if settings.is_sqlite or args.migrate:
        from qoach.db.migrate import upgrade

        upgrade(settings.database_url)
    uvicorn.run(
        "qoach.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        timeout_graceful_shutdown=30,
        log_level=settings.log_level.lower(),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qoach", description="Qoach service commands")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--migrate",
        action="store_true",
        help="apply migrations first (always done on the embedded SQLite default)",
    )
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    migrate.set_defaults(func=cmd_migrate)

    for register in _EXTENSIONS:
        register(sub)
    return parser


# Domains add their subcommands here (reminders, demo-data, ...).
_EXTENSIONS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = []


def _load_extensions() -> None:
    import importlib

    for module in ("qoach.notifications.cli", "qoach.demo.cli"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # that domain is not part of this build
            raise
        _EXTENSIONS.append(mod.register)


def main(argv: Sequence[str] | None = None) -> int:
    _load_extensions()
    args = build_parser().parse_args(argv)
    _setup_logging()
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    raise SystemExit(main())
