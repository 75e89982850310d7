"""`qoach serve | migrate | reminders run | demo-data`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

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
    options: dict[str, Any] = {
        "factory": True,
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "proxy_headers": True,
        "forwarded_allow_ips": args.forwarded_allow_ips,
        "timeout_graceful_shutdown": 30,
        # notification frames are a few hundred bytes: compressing them costs CPU
        # and ~30 KiB of memory per socket for little gain (bench/README.md)
        "ws_per_message_deflate": False,
        "log_level": settings.log_level.lower(),
    }
    if args.workers > 1:
        uvicorn.run("qoach.main:create_app", **options)
        return 0
    return _serve_one_process(uvicorn.Config("qoach.main:create_app", **options))


def _serve_one_process(config: Any) -> int:
    """Serve until SIGTERM / SIGINT; 0 once uvicorn has drained the requests in flight.

    uvicorn re-raises the signal it shut down for, so that a default handler would end
    the process *by* SIGTERM (status 143) even after a clean drain. Our handler lets
    that re-raised signal pass once the shutdown is complete; a signal that arrives
    before uvicorn took over still ends the process at once (status 128 + signal).
    """
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        drained = False

        async def shutdown(self, sockets: Any = None) -> None:
            await super().shutdown(sockets)
            self.drained = True

    server = Server(config)

    def on_signal(signum: int, _frame: Any) -> None:
        if not server.drained:
            raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if server.started else 3  # 3: uvicorn's "startup failed"


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
        if mod.register not in _EXTENSIONS:  # main() may run more than once in a process
            _EXTENSIONS.append(mod.register)


def main(argv: Sequence[str] | None = None) -> int:
    _load_extensions()
    args = build_parser().parse_args(argv)
    _setup_logging()
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    raise SystemExit(main())
