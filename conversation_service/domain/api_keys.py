"""API keys: what a key is, how it is issued and revoked.

A key is `cs_<key id>_<secret>`: the id finds the row in one primary-key read, the secret (32
random bytes) proves possession and is stored only as its SHA-256 (a 256-bit random secret
needs no slow hash: there is nothing to guess). Keys are issued and revoked by operators
(`conversation-service keys ...`); each issue and revocation is an audit entry.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from conversation_service.domain import validation
from conversation_service.domain.errors import NotFound, ValidationFailed
from conversation_service.domain.identity import SERVICE_TENANT, Principal, Role, parse_role
from conversation_service.domain.ports import UnitOfWork

KEY_PREFIX = "cs_"
SECRET_BYTES = 32
MAX_NAME_CHARS = 200
MAX_EXPIRES_DAYS = 3650
_TOKEN_RE = re.compile(r"^cs_(key_[0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
KEY_ID_RE = re.compile(r"^key_[0-9a-f]{16}$")


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_id: str
    tenant_id: str
    role: Role
    name: str | None
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, hash_secret(secret))

    def principal(self) -> Principal:
        """Who this key is: its tenant (`*` for a service key), its id as the actor."""
        return Principal(self.tenant_id, self.key_id, frozenset({self.role}))


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: `token` is shown once and never stored."""

    token: str
    record: ApiKeyRecord


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key; None for anything else."""
    match = _TOKEN_RE.match(token)
    return (match[1], match[2]) if match else None


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def _check_tenant_and_role(tenant: str, role: Role) -> None:
    if tenant == SERVICE_TENANT:
        if role is not Role.SERVICE:
            raise ValidationFailed(
                "a key for every tenant ('*') has the service role", field="role"
            )
        return
    try:
        validation.tenant_id(tenant)
    except Exception:
        raise ValidationFailed(
            "tenant must be '*' or 1-64 characters of letters, digits, '_', '.', ':' or '-'",
            field="tenant",
        ) from None
    if role is Role.SERVICE:
        raise ValidationFailed("a service key is for every tenant: --tenant '*'", field="tenant")


async def create_key(
    uow: UnitOfWork,
    tenant: str,
    role: str,
    name: str | None = None,
    expires_days: int | None = None,
) -> IssuedKey:
    parsed = parse_role(role)
    _check_tenant_and_role(tenant, parsed)
    name = validation.optional_text(name, "name", MAX_NAME_CHARS)
    if expires_days is not None and not 0 < expires_days <= MAX_EXPIRES_DAYS:
        raise ValidationFailed(f"expires-days must be 1-{MAX_EXPIRES_DAYS}", field="expires_days")
    now = uow.now()
    key_id = "key_" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    record = ApiKeyRecord(
        key_id=key_id,
        tenant_id=tenant,
        role=parsed,
        name=name,
        secret_hash=hash_secret(secret),
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    await uow.api_keys.insert(record)
    uow.audit("key.create", key_id)
    return IssuedKey(f"{KEY_PREFIX}{key_id}_{secret}", record)


async def list_keys(uow: UnitOfWork, tenant: str) -> list[ApiKeyRecord]:
    return await uow.api_keys.of_tenant(tenant)


async def find_key(uow: UnitOfWork, key_id: str) -> ApiKeyRecord | None:
    """Any tenant's key by id (the key table is read before a tenant is known)."""
    if not KEY_ID_RE.match(key_id):
        return None
    return await uow.api_keys.get(key_id)


async def revoke_key(uow: UnitOfWork, key_id: str) -> ApiKeyRecord:
    """Revoke a key of the unit of work's tenant; revoking it again changes nothing."""
    found = await find_key(uow, key_id)
    if found is None or found.tenant_id != uow.tenant_id:
        raise NotFound("API key not found")
    if found.revoked_at is not None:
        return found
    revoked = await uow.api_keys.revoke(key_id, uow.now())
    uow.audit("key.revoke", key_id)
    return revoked
