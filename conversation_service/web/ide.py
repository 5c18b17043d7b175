"""GraphiQL, served with the vendored assets (no public CDN: offline networks got "Loading...")."""

from __future__ import annotations

from functools import cache

import orjson
from starlette.staticfiles import StaticFiles

from conversation_service.assets import ASSETS_PATH, VENDOR_DIR


def assets_app() -> StaticFiles:
    """Static files with ETag/Last-Modified, so a browser fetches the 3.5 MB bundle once."""
    return StaticFiles(directory=VENDOR_DIR)


@cache
def graphiql_html(auth_header: bool = False) -> str:
    """GraphiQL with the headers a caller needs already in its header editor.

    `X-Tenant-ID` always (it names the tenant); `Authorization` too when credentials are
    required, so a person only pastes the token after `Bearer `.
    """
    headers: dict[str, str] = {"X-Tenant-ID": ""}
    if auth_header:
        headers["Authorization"] = "Bearer "
    as_js_string = orjson.dumps(orjson.dumps(headers, option=orjson.OPT_INDENT_2).decode())
    page = (VENDOR_DIR / "graphiql.html").read_text(encoding="utf-8")
    return page.replace("{assets}", ASSETS_PATH).replace("{default_headers}", as_js_string.decode())
