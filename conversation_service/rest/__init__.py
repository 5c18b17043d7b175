"""REST shim for legacy callers: the seven `/api/v1` routes of the original FastAPI design."""

from conversation_service.rest.app import create_rest_app

__all__ = ["create_rest_app"]
