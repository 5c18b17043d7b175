"""The one place credentials become a `Principal`, for every door (GraphQL HTTP, WebSocket, REST).

A door hands over what the request carried (`Authorization` and `X-API-Key` values, the
`X-Tenant-ID` values) and gets the principal it acts as, or a typed error: no or invalid
credential UNAUTHENTICATED, a tenant the credential does not grant FORBIDDEN, a header sent
twice BAD_USER_INPUT. API keys (`cs_...`) are told from JWTs by their prefix.
"""

from __future__ import annotations

from conversation_service.adapters.auth.api_keys import ApiKeys
from conversation_service.adapters.auth.jwt import JwtVerifier
from conversation_service.adapters.database import Database
from conversation_service.config import Settings
from conversation_service.domain.api_keys import looks_like_key
from conversation_service.domain.errors import Unauthenticated, ValidationFailed
from conversation_service.domain.identity import Principal, acting_for, named_tenant

MISSING = "a credential is required: Authorization: Bearer <API key or JWT>"


def credential_of(authorization: list[str], api_key: list[str]) -> str | None:
    """The token a request carries: `Authorization: Bearer <token>` or `X-API-Key: <key>`.
    More than one different credential is refused (which one would act?)."""
    tokens: set[str] = set()
    for value in authorization:
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        tokens.add(token.strip())
    tokens.update(v.strip() for v in api_key if v.strip())
    if len(tokens) > 1:
        raise ValidationFailed("send one credential, not several", field="Authorization")
    return next(iter(tokens), None)


class Authenticator:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.required = settings.auth_required
        self.keys = ApiKeys(
            db,
            ttl_s=settings.api_key_cache_ttl_s,
            touch_interval_s=settings.api_key_touch_interval_s,
        )
        self.jwt = JwtVerifier.from_settings(settings)

    async def verify(self, token: str | None) -> Principal:
        """The credential's own principal (tenant `*` for a service credential)."""
        if not token:
            raise Unauthenticated(MISSING)
        if looks_like_key(token):
            return await self.keys.verify(token)
        if self.jwt is None:
            raise Unauthenticated("invalid API key (JWTs are not accepted: no JWT_* settings)")
        return self.jwt.verify(token)

    async def principal(
        self, *, authorization: list[str], api_key: list[str], tenant: list[str]
    ) -> Principal:
        """Who the request acts as (AUTH_MODE=required)."""
        credential = await self.verify(credential_of(authorization, api_key))
        try:
            named = named_tenant(tenant)
        except Unauthenticated as exc:  # malformed: the credential is fine, the name is not
            raise ValidationFailed(exc.message, field="X-Tenant-ID") from None
        return acting_for(credential, named)

    def start(self) -> None:
        self.keys.start()

    async def stop(self) -> None:
        await self.keys.stop()
