"""CRM failures. Messages are built here from known parts only, never from the raw request,
so the CRM token can never leak into a log line, an exception or a stored error string."""

from __future__ import annotations


class CrmError(Exception):
    """A CRM call failed. `retryable` says whether trying the same call later may succeed."""

    retryable = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CrmUnavailable(CrmError):
    """Timeout, connection failure, 5xx or 429: the CRM may answer later."""


class CrmCircuitOpen(CrmUnavailable):
    """The circuit breaker is open; no call was made (does not count as an attempt)."""

    def __init__(self, message: str, retry_at: float) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class CrmBadResponse(CrmError):
    """The CRM answered 2xx with a body we cannot read (retrying the same key is safe)."""


class CrmRejected(CrmError):
    """The CRM refused the request (4xx other than 404/408/429): retrying will not help."""

    retryable = False


def redact(text: str, *secrets: str) -> str:
    """Defence in depth: blank out any secret that might have slipped into `text`."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


def answer_id(answer: object, what: str) -> str:
    """The `id` of a CRM's answer to a create (string or number), or CrmBadResponse."""
    crm_id = answer.get("id") if isinstance(answer, dict) else None
    if not isinstance(crm_id, str | int) or isinstance(crm_id, bool):
        raise CrmBadResponse(f"{what}: no `id` in the answer")
    return str(crm_id)
