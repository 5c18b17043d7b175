"""Archive files: a tenant's ARCHIVED conversations (with their messages and state entries) as
gzipped JSON Lines for cold storage, and their idempotent re-import.

Format (README, "Archive format"): line 1 a header `{"type": "header", "format":
"conversation-service-archive", "version": 1, "tenant_id", "before", "exported_at"}`; then one
line per stored row, `{"type": "conversation" | "message" | "state", "row": {column: value}}`
(every column, datetimes ISO-8601 UTC), conversations first; the last line
`{"type": "checksum", "algorithm": "sha256", "lines": N, "digest": hex}` is the SHA-256 of the
N uncompressed lines before it, newlines included. Written and read as streams: memory stays
flat whatever the archive holds.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Table

from conversation_service.adapters.database import Database
from conversation_service.domain import export as domain
from conversation_service.domain.commands import KINDS, Kind
from conversation_service.models import conversation_state, conversations, messages
from conversation_service.models.types import UTCDateTime

FORMAT = "conversation-service-archive"
VERSION = 1
ACTOR = "cli:archive"
_TABLES: dict[str, Table] = {
    "conversation": conversations,
    "message": messages,
    "state": conversation_state,
}
#: Per kind: every column, and those holding datetimes (ISO strings in the file).
_COLUMNS = {kind: [c.name for c in t.c] for kind, t in _TABLES.items()}
_TIMES = {
    kind: {c.name for c in t.c if isinstance(c.type, UTCDateTime)} for kind, t in _TABLES.items()
}


class ArchiveError(Exception):
    """The file is not an intact archive (corrupted, truncated, or not an archive at all)."""


@dataclass(slots=True)
class ExportSummary:
    path: str
    tenant_id: str
    before: str
    conversations: int = 0
    messages: int = 0
    state: int = 0
    lines: int = 0
    digest: str = ""


def _encode(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_UTC_Z) + b"\n"


async def export_archive(
    db: Database, tenant_id: str, before: datetime, out: Path
) -> ExportSummary:
    """Write the tenant's ARCHIVED conversations last active before `before` to `out`. The
    file appears complete or not at all (written beside it, then renamed)."""
    summary = ExportSummary(str(out), tenant_id, before.isoformat())
    digest = hashlib.sha256()
    partial = out.with_name(out.name + ".partial")
    header = {
        "type": "header",
        "format": FORMAT,
        "version": VERSION,
        "tenant_id": tenant_id,
        "before": before.isoformat(),
        "exported_at": datetime.now(UTC).isoformat(),
    }
    try:
        with gzip.open(partial, "wb") as f:
            line = _encode(header)
            digest.update(line)
            f.write(line)
            summary.lines = 1
            async with db.reading(tenant_id) as uow:
                async for kind, row in domain.archived_rows(uow, before):
                    line = _encode({"type": kind, "row": row})
                    digest.update(line)
                    f.write(line)
                    summary.lines += 1
                    if kind == "conversation":
                        summary.conversations += 1
                    elif kind == "message":
                        summary.messages += 1
                    else:
                        summary.state += 1
            summary.digest = digest.hexdigest()
            f.write(
                _encode(
                    {
                        "type": "checksum",
                        "algorithm": "sha256",
                        "lines": summary.lines,
                        "digest": summary.digest,
                    }
                )
            )
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    async with db(tenant_id, actor=ACTOR) as uow:
        uow.audit("archive.export", out.name)
        await uow.commit()
    return summary


def _lines(path: Path) -> Iterator[bytes]:
    """The uncompressed lines of a gzip file; a damaged file is an ArchiveError."""
    try:
        with gzip.open(path, "rb") as f:
            yield from f
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise ArchiveError(f"{path} is corrupted: {exc}") from exc


def verify(path: Path) -> dict[str, Any]:
    """Check the whole file against its checksum line before anything is imported; the header."""
    digest = hashlib.sha256()
    count = 0
    header: dict[str, Any] | None = None
    trailer: dict[str, Any] | None = None
    for line in _lines(path):
        if trailer is not None:
            raise ArchiveError(f"{path} is corrupted: lines after the checksum line")
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ArchiveError(f"{path} is corrupted: line {count + 1} is not JSON") from exc
        if not isinstance(obj, dict):
            raise ArchiveError(f"{path} is corrupted: line {count + 1} is not an object")
        if obj.get("type") == "checksum":
            trailer = obj
            continue
        if count == 0:
            header = obj
        digest.update(line)
        count += 1
    if header is None or header.get("type") != "header" or header.get("format") != FORMAT:
        raise ArchiveError(f"{path} is not a conversation-service archive")
    if header.get("version") != VERSION:
        raise ArchiveError(f"{path}: unsupported archive version {header.get('version')!r}")
    if trailer is None:
        raise ArchiveError(f"{path} is corrupted or truncated: no checksum line")
    if trailer.get("lines") != count or trailer.get("digest") != digest.hexdigest():
        raise ArchiveError(f"{path} is corrupted: the checksum does not match its content")
    return header


def _decode(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """A row as the tables take it: datetimes parsed, columns missing from older files null."""
    out = {name: row.get(name) for name in _COLUMNS[kind]}
    for name in _TIMES[kind]:
        value = out[name]
        if isinstance(value, str):
            out[name] = datetime.fromisoformat(value)
    return out


async def import_archive(db: Database, path: Path, batch: int | None = None) -> dict[str, Any]:
    """Verify the file, then re-import it in one transaction: conversations already stored are
    left untouched (with their messages and state), so importing twice changes nothing."""
    header = verify(path)
    tenant_id = str(header["tenant_id"])
    size = batch or db.settings.export_batch_rows
    counts = domain.ImportCounts()
    fresh: set[str] = set()
    pending: dict[Kind, list[dict[str, Any]]] = {k: [] for k in KINDS}
    async with db(tenant_id, actor=ACTOR) as uow:

        async def flush(kind: Kind) -> None:
            rows, pending[kind] = pending[kind], []
            await domain.import_rows(uow, kind, rows, fresh, counts)

        for number, line in enumerate(_lines(path)):
            obj = orjson.loads(line)
            kind = obj.get("type")
            if number == 0 or kind == "checksum":
                continue
            if kind not in pending:
                raise ArchiveError(f"{path}: line {number + 1} has unknown type {kind!r}")
            for earlier in KINDS[: KINDS.index(kind)]:  # parents before children
                if pending[earlier]:
                    await flush(earlier)
            pending[kind].append(_decode(kind, obj["row"]))
            if len(pending[kind]) >= size:
                await flush(kind)
        for kind in KINDS:
            if pending[kind]:
                await flush(kind)
        uow.audit("archive.import", path.name)
        await uow.commit()
    return {"path": str(path), "tenant_id": tenant_id, **asdict(counts)}
