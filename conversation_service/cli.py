"""`conversation-service serve | worker | migrate | export-schema | config`.

Every option's help shows its default; every setting is an environment variable (`config` prints
the effective values, secrets masked; README's configuration table says what each one does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from conversation_service import __version__
from conversation_service.archive import ArchiveError, export_archive, import_archive
from conversation_service.bootstrap import build_container
from conversation_service.config import Settings
from conversation_service.domain import validation
from conversation_service.migrate import upgrade_url
from conversation_service.observability.logs import configure_logging
from conversation_service.schema import export_sdl
from conversation_service.web.app import create_app
from conversation_service.web.server import serve
from conversation_service.worker.runner import run_worker


def _logging(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    overrides = {
        name: value
        for name in ("host", "port", "ssl_certfile", "ssl_keyfile")
        if (value := getattr(args, name)) is not None
    }
    if overrides:
        settings = settings.with_(**overrides)
    _logging(settings)
    if settings.is_sqlite or args.migrate:
        # The embedded default creates/upgrades its own database so `make run` needs nothing else.
        upgrade_url(settings.database_url, app_role=settings.database_app_role)
    serve(create_app(settings, with_worker=args.with_worker), settings)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    _logging(settings)
    upgrade_url(settings.database_url, args.revision, settings.database_app_role)
    print(f"database at {args.revision}")
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(export_sdl())
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    _logging(settings)
    if settings.is_sqlite:
        upgrade_url(settings.database_url, app_role=settings.database_app_role)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        asyncio.run(run_worker(settings))
    else:
        uvloop.run(run_worker(settings))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """The effective configuration, one `VARIABLE=value` per line, secrets masked."""
    for variable, value in effective_config(Settings.from_env()):
        print(f"{variable}={value}")
    return 0


def _utc(text: str) -> datetime:
    """An ISO-8601 date or date-time; naive is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def _archive(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    container = await build_container(settings)
    try:
        if args.archive_command == "export":
            summary = await export_archive(container.db, args.tenant, args.before, Path(args.out))
            return asdict(summary)
        return await import_archive(container.db, Path(args.file))
    finally:
        await container.close()


def cmd_archive(args: argparse.Namespace) -> int:
    """`archive export` / `archive import`: prints a JSON summary; a damaged file exits 1."""
    settings = Settings.from_env()
    _logging(settings)
    if args.archive_command == "export" and not validation.TENANT_RE.match(args.tenant):
        print(f"--tenant {args.tenant!r} is not a tenant id", file=sys.stderr)
        return 2
    if settings.is_sqlite:
        upgrade_url(settings.database_url)
    try:
        result = asyncio.run(_archive(args, settings))
    except ArchiveError as exc:
        print(f"archive import refused: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, sort_keys=True))
    return 0


_SECRET_WORDS = ("token", "secret", "password", "key")


def _masked(name: str, value: object) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if any(word in name for word in _SECRET_WORDS) and text:
        return "***"
    # user:password@ in a URL (database, Redis)
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)


def effective_config(settings: Settings) -> list[tuple[str, str]]:
    rows = []
    for name, field in type(settings).model_fields.items():
        rows.append((field.alias or name.upper(), _masked(name, getattr(settings, name))))
    return rows


_Help = argparse.RawDescriptionHelpFormatter


def _env(name: str) -> str:
    """`env VARIABLE, default VALUE` of a setting, for an option's help."""
    field = Settings.model_fields[name]
    return f"env {field.alias}, default {field.default if field.default is not None else 'unset'}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="conversation-service",
        description="The nooble4 Conversation Service. Configured by environment variables: "
        "`conversation-service config` prints them with their effective values.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="serve GraphQL (HTTP + WebSocket) and REST",
        description="Serve /graphql (HTTP + WebSocket), /api/v1, /healthz, /readyz, /metrics.",
        formatter_class=_Help,
    )
    serve.add_argument("--host", help=f"address to listen on ({_env('host')})")
    serve.add_argument("--port", type=int, help=f"port to listen on ({_env('port')})")
    serve.add_argument(
        "--ssl-certfile",
        help=f"TLS certificate chain (PEM); with --ssl-keyfile, HTTPS and WSS "
        f"({_env('ssl_certfile')})",
    )
    serve.add_argument("--ssl-keyfile", help=f"TLS private key (PEM) ({_env('ssl_keyfile')})")
    serve.add_argument(
        "--with-worker", action="store_true", help="also consume actions in this process (off)"
    )
    serve.add_argument(
        "--migrate",
        action="store_true",
        help="upgrade the database first (off; always on for the embedded SQLite default)",
    )
    serve.set_defaults(func=cmd_serve)
    migrate = sub.add_parser("migrate", help="upgrade the database schema", formatter_class=_Help)
    migrate.add_argument(
        "revision", nargs="?", default="head", help="Alembic revision (default head)"
    )
    migrate.set_defaults(func=cmd_migrate)
    export = sub.add_parser("export-schema", help="print the GraphQL SDL", formatter_class=_Help)
    export.set_defaults(func=cmd_export_schema)
    worker = sub.add_parser(
        "worker", help="consume nooble4 actions from Redis Streams", formatter_class=_Help
    )
    worker.set_defaults(func=cmd_worker)
    config = sub.add_parser(
        "config",
        help="print the effective configuration (secrets masked)",
        formatter_class=_Help,
    )
    config.set_defaults(func=cmd_config)
    archive = sub.add_parser(
        "archive",
        help="export ARCHIVED conversations to a gzipped JSONL file, or import one",
        description="Cold storage of archived conversations (README: Data lifecycle, Archive "
        "format). Both commands stream; import is idempotent and checks the file's checksum.",
        formatter_class=_Help,
    )
    archive_sub = archive.add_subparsers(dest="archive_command", required=True, metavar="ACTION")
    archive_export = archive_sub.add_parser(
        "export", help="write a tenant's ARCHIVED conversations last active before a date"
    )
    archive_export.add_argument("--tenant", required=True, help="the tenant id")
    archive_export.add_argument(
        "--before",
        required=True,
        type=_utc,
        help="ISO-8601 date or date-time (naive is UTC): last activity before it",
    )
    archive_export.add_argument("--out", required=True, help="the file to write (.jsonl.gz)")
    archive_import = archive_sub.add_parser(
        "import", help="re-import an archive file (idempotent; refuses a damaged file)"
    )
    archive_import.add_argument("file", help="an archive written by `archive export`")
    archive.set_defaults(func=cmd_archive)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
