"""The real Apollo Client (Node) against a real server: persisted queries and batching.

Needs node and npm; `npm ci` installs the locked client into tests/js when it is missing.
Skipped only when node/npm are absent and CI is not set.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import CI
from tests.http.conftest import Serve

JS = Path(__file__).resolve().parent.parent / "js"


async def _run(*cmd: str, timeout: float) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=JS, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        raise
    assert proc.returncode == 0, err.decode()[-2000:]
    return out


@pytest.fixture(scope="session")
async def apollo() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if CI:
            pytest.fail("node and npm are required under CI=true", pytrace=False)
        pytest.skip("node/npm not installed")
    if not (JS / "node_modules" / "@apollo" / "client").is_dir():
        await _run(npm, "ci", "--no-audit", "--no-fund", timeout=300)
    return Path(node)


async def _scenarios(node: Path, url: str, tenant: str) -> dict[str, Any]:
    out = await _run(str(node), "apollo_links.mjs", url, tenant, timeout=60)
    result: dict[str, Any] = orjson.loads(out)
    return result


def _ops(request: dict[str, Any]) -> list[dict[str, Any]]:
    body = request["body"]
    return body if isinstance(body, list) else [body]


async def test_apollo_persisted_queries_and_batching(apollo: Path, serve: Serve) -> None:
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    async with serve() as srv:
        out = await _scenarios(apollo, f"{srv.http_url}/graphql", tenant)

    page = {"conversations": {"__typename": "ConversationConnection", "totalCount": 0}}
    # POST: hash only -> not found -> hash + query registers; a second client: hash only hits.
    post = out["persistedPost"]
    assert post["answers"] == [page, page]
    sent = post["requests"]
    assert [r["method"] for r in sent] == ["POST", "POST", "POST"]
    assert ["query" in r["body"] for r in sent] == [False, True, False]
    assert all(r["body"]["extensions"]["persistedQuery"]["version"] == 1 for r in sent)
    assert [r["status"] for r in sent][1:] == [200, 200]

    # useGETForHashedQueries: the hash travels in the URL (cacheable), registration by POST.
    get = out["persistedGet"]
    assert get["answers"] == [page, page]
    sent = get["requests"]
    assert [r["method"] for r in sent] == ["GET", "POST", "GET"]
    assert "query=" not in sent[2]["url"]
    assert sent[2]["status"] == 200

    # BatchHttpLink: one HTTP request per batch, answers in order, mutations applied.
    batched = out["batched"]
    assert len(set(batched["created"])) == 2
    assert [a["conversations"]["totalCount"] for a in batched["three"]] == [2, 2, 2]
    sizes = [len(_ops(r)) for r in batched["requests"]]
    assert sizes[:3] == [2, 3, 11]
    # Over MAX_BATCH_SIZE: refused as a whole with a clear error, nothing run.
    refused = batched["requests"][2]
    assert refused["status"] == 400
    assert "at most 10 operations, got 11" in refused["text"]
    assert batched["tooMany"] is not None
    assert batched["count"] == {
        "conversations": {"__typename": "ConversationConnection", "totalCount": 2}
    }
