"""Client errors cannot amplify the log: one short line per request, no traceback."""

from __future__ import annotations

import logging
import uuid

import pytest
from graphql import GraphQLError

from conversation_service.schema.errors import shape_error
from tests.conftest import GQL


def _formatted(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(r) for r in records)


def _capture(caplog: pytest.LogCaptureFixture) -> None:
    for name in ("conversation_service", "strawberry"):
        caplog.set_level(logging.DEBUG, logger=name)


def _service_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The service's lines, less the fast path's one DEBUG line per request saying why it handed
    the request to Strawberry (a bounded diagnostic, checked here to be at most one)."""
    fast_path = [r for r in caplog.records if r.name == "conversation_service.schema.fast_path"]
    assert len(fast_path) <= 1, _formatted(fast_path)
    assert all(r.levelno == logging.DEBUG and len(r.getMessage()) < 300 for r in fast_path)
    return [
        r
        for r in caplog.records
        if r.name.startswith(("conversation_service", "strawberry"))
        and r.levelno >= logging.DEBUG
        and r not in fast_path
    ]


@pytest.mark.parametrize(
    ("alias", "count"),
    [
        ("a{i}: noSuchField{i}", 1000),  # validation errors
        # Resolver errors: with 1,000 of them (55 KB) the log was 30.7 MB (366,630 lines: a
        # traceback and the query per error); 200 keep the test quick.
        ('a{i}: conversation(id: "not-a-uuid-{i}") {{ id title }}', 200),
    ],
)
async def test_many_bad_aliases_make_one_short_line(
    gql: GQL, caplog: pytest.LogCaptureFixture, alias: str, count: int
) -> None:
    query = "{ " + " ".join(alias.format(i=i) for i in range(count)) + " }"
    assert len(query) > 8_000
    _capture(caplog)
    r = await gql.raw(query)
    assert r.json()["errors"]
    records = _service_records(caplog)
    assert len(records) == 1, _formatted(records)[:2000]
    (record,) = records
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    text = _formatted(records)
    assert len(text) < 800
    assert "BAD_USER_INPUT x" in text


async def test_execution_errors_of_many_fields_make_one_line(
    gql: GQL, caplog: pytest.LogCaptureFixture
) -> None:
    fields = " ".join(
        f'c{i}: messages(conversationId: "{uuid.uuid4()}") {{ totalCount }}' for i in range(20)
    )
    _capture(caplog)
    r = await gql.raw("{ " + fields + " }")
    codes = {e["extensions"]["code"] for e in r.json()["errors"]}
    assert codes == {"NOT_FOUND"}
    records = _service_records(caplog)
    assert len(records) == 1, _formatted(records)[:2000]
    assert records[0].levelno == logging.INFO
    assert records[0].exc_info is None
    assert f"NOT_FOUND x{len(r.json()['errors'])}" in records[0].getMessage()


def test_unexpected_errors_stay_at_error_with_traceback(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        error = GraphQLError("boom", path=["x"], original_error=exc)
    caplog.set_level(logging.DEBUG)
    shaped = shape_error(error)
    assert shaped.extensions == {"code": "INTERNAL"}
    (record,) = [r for r in caplog.records if r.name.startswith("conversation_service")]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
