"""Vendored browser assets (GraphiQL, Swagger UI), shared by the GraphQL and REST doors.

Pinned versions with their licences; `vendor/README.md` says where each file comes from.
"""

from __future__ import annotations

from pathlib import Path

VENDOR_DIR = Path(__file__).parent / "vendor"
#: Where the app mounts `VENDOR_DIR`.
ASSETS_PATH = "/assets"
