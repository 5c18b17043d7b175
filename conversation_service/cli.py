"""`conversation-service serve | worker | migrate | export-schema | config | keys`.

Every option's help shows its default; every setting is an environment variable (`config` prints
the effective values, secrets masked; README's configuration table says what each one does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
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
from conversation_service.domain import api_keys, validation
from conversation_service.domain.errors import DomainError
from conversation_service.domain.identity import SERVICE_TENANT
from conversation_service.lifecycle_cli import cmd_retention_run
from conversation_service.migrate import upgrade_url
from conversation_service.observability.logs import configure_logging
from conversation_service.schema import export_sdl
from conversation_service.web.app import create_app
from conversation_service.web.server import serve
from conversation_service.worker.runner import run_worker

log = logging.getLogger("conversation_service.cli")

#: logged at start-up by `serve` under AUTH_MODE=none (tests look for its first words)
OPEN_WARNING = (
    "AUTH_MODE=none: NO AUTHENTICATION. Any caller can act for any tenant by naming it in "
    "X-Tenant-ID. Only for local development: set AUTH_MODE=required (the default whenever "
    "DATABASE_URL is set) and create a key with `conversation-service keys create`."
)


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
    if not settings.auth_required:
        log.warning(OPEN_WARNING)
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


#: the actor of what operators do from the command line (audit log)
CLI_ACTOR = "cli"


async def _keys(args: argparse.Namespace, settings: Settings) -> int:
    container = await build_container(settings)
    db = container.db.acting(CLI_ACTOR)
    try:
        if args.keys_command == "create":
            issued = await db.run(
                args.tenant,
                api_keys.create_key,
                args.tenant,
                args.role,
                args.name,
                args.expires_days,
            )
            rec = issued.record
            expires = rec.expires_at.isoformat() if rec.expires_at else "never"
            print(issued.token)
            print(
                f"created {rec.key_id} (tenant {rec.tenant_id}, role {rec.role.value}, "
                f"expires {expires}): store the key now, it is not shown again",
                file=sys.stderr,
            )
        elif args.keys_command == "list":
            print("key_id\ttenant\trole\tname\tcreated\texpires\trevoked\tlast_used")
            for rec in await db.query(args.tenant, api_keys.list_keys, args.tenant):
                cells = [rec.key_id, rec.tenant_id, rec.role.value, rec.name or ""]
                for at in (rec.created_at, rec.expires_at, rec.revoked_at, rec.last_used_at):
                    cells.append(at.isoformat() if at else "")
                print("\t".join(cells))
        else:
            found = await db.query(SERVICE_TENANT, api_keys.find_key, args.key_id)
            if found is None:
                print(f"no API key {args.key_id}", file=sys.stderr)
                return 1
            revoked = await db.run(found.tenant_id, api_keys.revoke_key, args.key_id)
            assert revoked.revoked_at is not None
            print(
                f"revoked {revoked.key_id} at {revoked.revoked_at.isoformat()} "
                f"(running servers stop accepting it within API_KEY_CACHE_TTL_S="
                f"{settings.api_key_cache_ttl_s:g}s)"
            )
    except DomainError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 2
    finally:
        await container.close()
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    _logging(settings)
    if settings.is_sqlite:
        upgrade_url(settings.database_url)
    return asyncio.run(_keys(args, settings))


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
    retention = sub.add_parser(
        "retention",
        help="apply the tenants' retention policies",
        formatter_class=_Help,
    )
    retention_sub = retention.add_subparsers(dest="retention_command", required=True)
    run = retention_sub.add_parser(
        "run",
        help="one pass now: archive idle conversations, erase old messages, delete old state "
        "and audit entries (one runner at a time across processes: the retention lease)",
        formatter_class=_Help,
    )
    run.add_argument(
        "--now",
        help="apply the policies as of this ISO-8601 instant (with an offset or Z; default: "
        "the clock)",
    )
    run.add_argument("--tenant", help="only this tenant (default: every tenant)")
    run.add_argument(
        "--dry-run", action="store_true", help="only count what is due; change nothing (off)"
    )
    run.set_defaults(func=cmd_retention_run)
    config = sub.add_parser(
        "config",
        help="print the effective configuration (secrets masked)",
        formatter_class=_Help,
    )
    config.set_defaults(func=cmd_config)
    keys = sub.add_parser(
        "keys",
        help="create, list and revoke API keys",
        description="API keys (prefix cs_) for AUTH_MODE=required. The key is printed once on "
        "create; only its hash is stored.",
        formatter_class=_Help,
    )
    keys.set_defaults(func=cmd_keys)
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="issue a key and print it (once)")
    create.add_argument(
        "--tenant", required=True, help="the tenant it acts for; '*' with --role service: any"
    )
    create.add_argument(
        "--role", required=True, help="reader, writer, admin, or service (with --tenant '*')"
    )
    create.add_argument("--name", help="a label for operators (who holds it)")
    create.add_argument("--expires-days", type=int, help="days until it expires (default never)")
    listing = keys_sub.add_parser("list", help="the keys of a tenant (no secrets)")
    listing.add_argument("--tenant", required=True, help="the tenant ('*': service keys)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the key's id (key_...)")
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
