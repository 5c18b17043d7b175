"""A real HTTP server emulating both CRMs (the generic connector's endpoints and HubSpot's CRM v3
contacts/notes API), run on uvicorn on a free port. State is per bearer token, so each test (and
each tenant) has its own CRM account; each account can fail (500), be slow, or answer garbage."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Account:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> customer
    mode: str = "ok"  # ok | fail | slow | malformed | reject
    delay_s: float = 0.0
    fail_next: int = 0  # fail this many requests, then behave per `mode`
    requests: list[tuple[str, str]] = field(default_factory=list)
    pushed: Counter[str] = field(default_factory=Counter)  # Idempotency-Key -> accepted pushes
    failed_pushes: int = 0
    bodies: dict[str, Any] = field(default_factory=dict)  # Idempotency-Key -> first body

    def lookups(self) -> int:
        return sum(1 for m, p in self.requests if "conversations" not in p and "notes" not in p)


class FakeCrm:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.url = ""
        self.app = Starlette(
            routes=[
                Route("/customers/{cid}", self.customer),
                Route("/customers", self.customers),
                Route("/conversations", self.push, methods=["POST"]),
                Route("/crm/v3/objects/contacts/search", self.hs_search, methods=["POST"]),
                Route("/crm/v3/objects/contacts/{cid}", self.hs_contact),
                Route("/crm/v3/objects/notes", self.hs_note, methods=["POST"]),
            ]
        )

    def account(self, token: str) -> Account:
        return self.accounts.setdefault(token, Account())

    async def _gate(self, request: Request) -> tuple[Account | None, Response | None]:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.accounts:
            return None, JSONResponse({"message": "unauthorized"}, status_code=401)
        acc = self.accounts[auth[7:]]
        acc.requests.append((request.method, request.url.path))
        if acc.fail_next > 0:
            acc.fail_next -= 1
            return acc, JSONResponse({"message": "boom"}, status_code=500)
        if acc.mode == "fail":
            return acc, JSONResponse({"message": "boom"}, status_code=500)
        if acc.mode == "slow":
            await asyncio.sleep(acc.delay_s)
        if acc.mode == "malformed":
            return acc, Response(b"<html>not json", media_type="text/html")
        if acc.mode == "reject":
            return acc, JSONResponse({"message": "bad payload"}, status_code=400)
        return acc, None

    # --- generic connector ---
    async def customer(self, request: Request) -> Response:
        acc, early = await self._gate(request)
        if early is not None or acc is None:
            return early or Response(status_code=500)
        found = acc.customers.get(request.path_params["cid"])
        return JSONResponse(found) if found else JSONResponse({"error": "nf"}, status_code=404)

    async def customers(self, request: Request) -> Response:
        acc, early = await self._gate(request)
        if early is not None or acc is None:
            return early or Response(status_code=500)
        params = dict(request.query_params)
        (key, email), *_ = params.items()
        items = [c for c in acc.customers.values() if str(c.get(key, "")).lower() == email]
        return JSONResponse({"items": items})

    async def _accept_push(self, request: Request, answer_id: str) -> Response:
        acc, early = await self._gate(request)
        if early is not None or acc is None:
            if acc is not None:
                acc.failed_pushes += 1
            return early or Response(status_code=500)
        key = request.headers.get("idempotency-key", "")
        acc.pushed[key] += 1
        acc.bodies.setdefault(key, await request.json())
        return JSONResponse({"id": f"{answer_id}-{key}"}, status_code=201)

    async def push(self, request: Request) -> Response:
        return await self._accept_push(request, "crm")

    # --- HubSpot CRM v3 ---
    @staticmethod
    def _hs(c: dict[str, Any]) -> dict[str, Any]:
        props = {k: v for k, v in c.items() if k != "id"}
        return {"id": c["id"], "properties": props, "archived": False}

    async def hs_contact(self, request: Request) -> Response:
        acc, early = await self._gate(request)
        if early is not None or acc is None:
            return early or Response(status_code=500)
        found = acc.customers.get(request.path_params["cid"])
        if not found:
            return JSONResponse({"status": "error", "category": "OBJECT_NOT_FOUND"}, 404)
        return JSONResponse(self._hs(found))

    async def hs_search(self, request: Request) -> Response:
        acc, early = await self._gate(request)
        if early is not None or acc is None:
            return early or Response(status_code=500)
        body = await request.json()
        f = body["filterGroups"][0]["filters"][0]
        assert f["propertyName"] == "email"
        assert f["operator"] == "EQ"
        hits = [self._hs(c) for c in acc.customers.values() if c.get("email") == f["value"]]
        return JSONResponse({"total": len(hits), "results": hits[: body.get("limit", 10)]})

    async def hs_note(self, request: Request) -> Response:
        body = await request.json()
        assoc = body["associations"][0]
        if assoc["types"][0]["associationTypeId"] != 202 or not body["properties"].get(
            "hs_note_body"
        ):
            return JSONResponse({"message": "invalid note"}, status_code=400)
        return await self._accept_push(request, "note")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_fake_crm() -> tuple[FakeCrm, uvicorn.Server, asyncio.Task[None]]:
    fake = FakeCrm()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    fake.url = f"http://127.0.0.1:{port}"
    return fake, server, task
