"""JWT verification with PyJWT: HS256 with `JWT_SECRET`, RS256/ES256 with the keys of a JWKS
file (`JWT_JWKS_FILE`, chosen by the token's `kid`). `exp` is required; `iss`/`aud` are checked
when configured. The tenant is the `JWT_TENANT_CLAIM` claim, roles come from `roles` (a list) or
`scope` (space-separated; words that are no role are ignored), the actor is `sub`.

A verified token is remembered until it expires (bounded), so a client that sends the same
token on every request pays the signature check once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import jwt

from conversation_service.config import Settings
from conversation_service.domain import validation
from conversation_service.domain.errors import Unauthenticated
from conversation_service.domain.identity import SERVICE_TENANT, Principal, Role

ASYMMETRIC = ("RS256", "ES256")
MAX_CACHED = 10_000
INVALID = "invalid or expired token"


class JwtVerifier:
    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks: jwt.PyJWKSet | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        tenant_claim: str = "tenant_id",
        leeway_s: float = 30.0,
    ) -> None:
        self._secret = secret
        self._keys: dict[str | None, jwt.PyJWK] = {}
        for key in jwks.keys if jwks is not None else []:
            self._keys[key.key_id] = key
        self._issuer = issuer
        self._audience = audience
        self._tenant_claim = tenant_claim
        self._leeway_s = leeway_s
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtVerifier | None:
        """None when neither `JWT_SECRET` nor `JWT_JWKS_FILE` is set (JWTs are not accepted)."""
        if not settings.jwt_secret and not settings.jwt_jwks_file:
            return None
        jwks = None
        if settings.jwt_jwks_file:
            jwks = jwt.PyJWKSet.from_json(Path(settings.jwt_jwks_file).read_text(encoding="utf-8"))
        return cls(
            secret=settings.jwt_secret,
            jwks=jwks,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            tenant_claim=settings.jwt_tenant_claim,
            leeway_s=settings.jwt_leeway_s,
        )

    def verify(self, token: str) -> Principal:
        hit = self._cache.get(token)
        if hit is not None:
            principal, exp = hit
            if time.time() < exp + self._leeway_s:
                return principal
            del self._cache[token]
        claims = self._decode(token)
        principal = self._principal(claims)
        self._cache[token] = (principal, float(claims["exp"]))
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
        return principal

    def _key(self, token: str) -> tuple[Any, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated(INVALID) from None
        alg = header.get("alg")
        if alg == "HS256" and self._secret:
            return self._secret, alg
        if alg in ASYMMETRIC and self._keys:
            kid = header.get("kid")
            key = self._keys.get(kid)
            if key is None and kid is None and len(self._keys) == 1:
                key = next(iter(self._keys.values()))
            if key is not None and key.algorithm_name in (alg, None):
                return key.key, alg
        raise Unauthenticated(INVALID)

    def _decode(self, token: str) -> dict[str, Any]:
        key, alg = self._key(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_s,
                options={
                    "require": ["exp"],
                    "verify_aud": self._audience is not None,
                    "verify_iss": self._issuer is not None,
                },
            )
        except jwt.PyJWTError:
            raise Unauthenticated(INVALID) from None
        return claims

    def _principal(self, claims: dict[str, Any]) -> Principal:
        sub = claims.get("sub")
        tenant = claims.get(self._tenant_claim)
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise Unauthenticated("the token has no subject (sub)")
        if tenant != SERVICE_TENANT:
            try:
                tenant = validation.tenant_id(tenant if isinstance(tenant, str) else None)
            except Unauthenticated:
                raise Unauthenticated(
                    f"the token's {self._tenant_claim} claim names no valid tenant"
                ) from None
        return Principal(tenant, sub, _roles(claims))


def _roles(claims: dict[str, Any]) -> frozenset[Role]:
    raw = claims.get("roles")
    words: list[Any] = list(raw) if isinstance(raw, list) else []
    scope = claims.get("scope")
    if isinstance(scope, str):
        words.extend(scope.split())
    known = {r.value: r for r in Role}
    return frozenset(known[w] for w in words if isinstance(w, str) and w in known)
