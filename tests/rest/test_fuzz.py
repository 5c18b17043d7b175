"""Property-based fuzzing of the REST shim from its own OpenAPI document: no input gives a 5xx,
and documented inputs get documented responses.

`test_schemathesis_all_checks` runs the schemathesis command line with every check (schema-valid
data accepted, schema-violating data rejected, `Allow` on 405s, headers, stateful links...)
against a real uvicorn server: every limit the service enforces must be in the document.

Schemathesis generates the cases (valid and invalid, against random ids and against a real
conversation of the test's tenant); they are sent through the real app on the test's event loop,
so both backends are fuzzed with the shared `container`. Hypothesis runs in a worker thread and
hands each request to the loop; the number of examples keeps the run to a few seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conversation_service.adapters.rate_limits import RateLimiter
from conversation_service.bootstrap import Container
from conversation_service.web.app import create_app
from conversation_service.web.server import uvicorn_config
from tests.realtime.conftest import free_port
from tests.rest.conftest import Rest

EXAMPLES = int(os.environ.get("REST_FUZZ_EXAMPLES", "150"))  # raise it for a deeper local run
BASE_URL = "http://testserver/api/v1"
STRICT = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _strategies(doc: dict[str, Any], tenant: str, cid: str) -> st.SearchStrategy[Any]:
    schema = schemathesis.openapi.from_dict(doc)
    out: list[st.SearchStrategy[Any]] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        op = result.ok()
        fixed: dict[str, Any] = {"headers": {"X-Tenant-ID": tenant}}
        if "{conversation_id}" in op.path:
            fixed["path_parameters"] = {"conversation_id": cid}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            out.append(st.tuples(st.just(mode), op.as_strategy(mode)))
            out.append(st.tuples(st.just(mode), op.as_strategy(mode, **fixed)))
    return st.one_of(out)


def _send_kwargs(case: Any) -> dict[str, Any]:
    kw = case.as_transport_kwargs(base_url=BASE_URL)
    headers: dict[str, bytes] = {}
    for name, value in (kw.get("headers") or {}).items():
        try:
            headers[name] = value.encode("latin-1") if isinstance(value, str) else value
        except UnicodeEncodeError:
            reject()  # not sendable over HTTP/1.1 at all
    out: dict[str, Any] = {"method": kw["method"], "url": kw["url"], "headers": headers}
    out["params"] = kw.get("params") or None
    if "json" in kw:
        out["json"] = kw["json"]
    elif kw.get("data") is not None:
        out["content"] = kw["data"]
    return out


async def test_fuzz_never_a_server_error(rest: Rest, unlimited_client: httpx.AsyncClient) -> None:
    # The examples go out as fast as the app answers: above the default RATE_LIMIT on a fast
    # machine, and a 429 is not in the OpenAPI document.
    client = unlimited_client
    doc = (await client.get("/api/v1/openapi.json")).json()
    conv = await rest.create(title="fuzz")
    await rest.add(conv["id"], content="hola")
    await rest.post(f"/conversations/{conv['id']}/state", json={"key": "k", "value": 1})
    assert rest.tenant is not None
    loop = asyncio.get_running_loop()
    statuses: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(_strategies(doc, rest.tenant, conv["id"]))
    def run(generated: tuple[GenerationMode, Any]) -> None:
        mode, case = generated
        request = _send_kwargs(case)
        response = asyncio.run_coroutine_threadsafe(client.request(**request), loop).result(30)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (request, response.text)
        checks = STRICT if mode is GenerationMode.POSITIVE else [not_a_server_error]
        case.validate_response(response, checks=checks)

    await asyncio.to_thread(run)
    print(f"fuzz statuses: {sorted(statuses.items())}")
    # The run reached the domain, not only the validators.
    assert statuses.get(422, 0) > 0
    assert sum(n for s, n in statuses.items() if s < 300) > 0, statuses


CLI_EXAMPLES = int(os.environ.get("REST_FUZZ_CLI_EXAMPLES", "10"))
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")


@pytest.mark.parametrize("container", ["postgresql"], indirect=True)  # ~40 s a backend
async def test_schemathesis_all_checks(container: Container, tenant: str, tmp_path: Path) -> None:
    port = free_port()
    # schemathesis sends one tenant's requests as fast as the server answers: RATE_LIMIT raised
    # (a 429 is not in the OpenAPI document).
    unlimited = dataclasses.replace(container, rate_limiter=RateLimiter("1000000/second"))
    config = uvicorn_config(
        create_app(container=unlimited),
        container.settings.with_(port=port, host="127.0.0.1", log_level="WARNING"),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{port}/api/v1"
        cli = Path(sys.executable).with_name("schemathesis")
        proc = await asyncio.create_subprocess_exec(
            str(cli),
            "run",
            f"{base}/openapi.json",
            "--url",
            base,
            "--checks",
            "all",
            "--header",
            f"X-Tenant-ID: {tenant}",
            "--max-examples",
            str(CLI_EXAMPLES),
            "--workers",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--continue-on-failure",
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
            cwd=tmp_path,  # its report directory
        )
        async with asyncio.timeout(300):
            out, _ = await proc.communicate()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-20_000:]
    assert "Tested: 8" in report, report[-5_000:]
