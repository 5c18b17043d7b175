"""`conversation-service retention run`: one retention pass from the command line.

Prints one JSON object per tenant (what was archived, erased and deleted, or with `--dry-run`
what is due) and a closing summary; exits 3 when another process holds the retention lease.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime

from conversation_service.bootstrap import build_container
from conversation_service.config import Settings
from conversation_service.domain import validation
from conversation_service.domain.errors import ValidationFailed
from conversation_service.migrate import upgrade_url
from conversation_service.observability.logs import configure_logging
from conversation_service.retention_runner import LeaseHeld, RunReport, run_once

EXIT_LEASE_HELD = 3


def parse_now(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"--now: not an ISO-8601 instant: {raw!r}") from None
    if value.tzinfo is None:
        raise SystemExit("--now needs an offset (e.g. 2026-01-31T00:00:00Z)")
    return value


def _lines(report: RunReport) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for run in report.tenants:
        p = run.policy
        line: dict[str, object] = {
            "tenant": run.tenant_id,
            "policy": {
                "messagesDays": p.messages_days,
                "stateDays": p.state_days,
                "archiveAfterDays": p.archive_after_days,
                "auditDays": p.audit_days,
            },
        }
        if report.dry_run:
            due = report.due[run.tenant_id]
            line["due"] = {
                "archive": due.archive,
                "messages": due.messages,
                "state": due.state,
                "audit": due.audit,
            }
        else:
            line.update(
                archived=run.archived,
                messagesErased=run.messages,
                stateDeleted=run.state,
                auditDeleted=run.audit,
                seconds=round(run.seconds, 3),
            )
        out.append(line)
    return out


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    container = await build_container(settings)
    try:
        report = await run_once(
            container.db,
            settings,
            now=parse_now(args.now),
            tenant=args.tenant,
            dry_run=args.dry_run,
        )
    except LeaseHeld as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_LEASE_HELD
    finally:
        await container.close()
    for line in _lines(report):
        print(json.dumps(line))
    summary = {
        "now": report.now.isoformat(),
        "dryRun": report.dry_run,
        "tenants": len(report.tenants),
        "rows": report.rows,
        "seconds": round(report.seconds, 3),
    }
    print(json.dumps({"summary": summary}))
    return 0


def cmd_retention_run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    parse_now(args.now)  # a bad --now or --tenant fails before anything connects
    if args.tenant is not None:
        try:
            args.tenant = validation.tenant_id(args.tenant)
        except ValidationFailed as exc:
            raise SystemExit(f"--tenant: {exc}") from None
    if settings.is_sqlite:
        upgrade_url(settings.database_url)
    return asyncio.run(_run(settings, args))
