"""Swagger UI for the REST shim, loading the vendored Swagger UI (pinned; no public CDN)."""

from __future__ import annotations

from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse

from conversation_service.assets import ASSETS_PATH

SWAGGER = ASSETS_PATH + "/swagger"


def swagger_page(openapi_url: str, title: str) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
    )
