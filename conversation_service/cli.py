"""`conversation-service serve | worker | migrate | export-schema`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from conversation_service.config import Settings
from conversation_service.observability.logs import configure_logging


def _logging(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)


def cmd_serve(args: argparse.Namespace) -> int:
    from conversation_service.web.app import create_app

    settings = Settings.from_env()
    if args.host:
        settings = settings.with_(host=args.host)
    if args.port:
        settings = settings.with_(port=args.port)
    _logging(settings)
    if settings.is_sqlite or args.migrate:
        # The embedded default creates/upgrades its own database so `make run` needs nothing else.
        from conversation_service.migrate import upgrade_url

        upgrade_url(settings.database_url)
    from conversation_service.web.server import serve

    serve(create_app(settings, with_worker=args.with_worker), settings)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from conversation_service.migrate import upgrade_url

    settings = Settings.from_env()
    _logging(settings)
    upgrade_url(settings.database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:
    from conversation_service.schema import export_sdl

    sys.stdout.write(export_sdl())
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import asyncio

    from conversation_service.worker.runner import run_worker

    settings = Settings.from_env()
    _logging(settings)
    if settings.is_sqlite:
        from conversation_service.migrate import upgrade_url

        upgrade_url(settings.database_url)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        asyncio.run(run_worker(settings))
    else:
        uvloop.run(run_worker(settings))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conversation-service")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve GraphQL (HTTP + WebSocket) and REST")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--with-worker", action="store_true", help="also consume actions")
    serve.add_argument("--migrate", action="store_true", help="upgrade the database first")
    serve.set_defaults(func=cmd_serve)
    migrate = sub.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.set_defaults(func=cmd_migrate)
    export = sub.add_parser("export-schema", help="print the GraphQL SDL")
    export.set_defaults(func=cmd_export_schema)
    worker = sub.add_parser("worker", help="consume nooble4 actions from Redis Streams")
    worker.set_defaults(func=cmd_worker)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
