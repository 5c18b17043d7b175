"""Response writing: orjson bodies, and a route class that parses request JSON with orjson.

Routes return `Response`s built here, so FastAPI does not re-validate what `serializers.py`
already shaped (the response models document it; the fuzz test checks that they agree).
Request bodies are parsed by orjson, which rejects what PostgreSQL cannot store and stdlib
`json` lets through (lone surrogates, NaN): those become FastAPI's 422 `json_invalid`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


def json_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status_code, media_type="application/json", headers=headers
    )


class _OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class OrjsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_with_orjson(request: Request) -> Response:
            return await handler(_OrjsonRequest(request.scope, request.receive))

        return parse_with_orjson
