"""Closed sets of values are enums; open ones stay strings, on purpose."""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)

from conversation_service.domain.records import CrmSyncStatus
from conversation_service.schema import schema


def _field(type_name: str, name: str) -> Any:
    t = schema._schema.type_map[type_name]
    assert isinstance(t, GraphQLObjectType | GraphQLInputObjectType)
    return t.fields[name]


def test_crm_sync_status_is_an_enum_with_the_wire_values_it_had() -> None:
    """It was `String!` holding NONE/PENDING/SYNCED/FAILED: the enum's values are exactly those
    strings, so responses do not change (tests/crm check them on the wire)."""
    field = _field("CrmSync", "status")
    assert isinstance(field.type, GraphQLNonNull)
    enum = field.type.of_type
    assert isinstance(enum, GraphQLEnumType)
    assert enum.name == "CrmSyncStatus"
    assert list(enum.values) == ["NONE", "PENDING", "SYNCED", "FAILED"]
    assert list(enum.values) == [s.name for s in CrmSyncStatus]
    assert all(enum.serialize(s) == s.name for s in CrmSyncStatus)


def test_participant_kind_stays_an_open_string() -> None:
    """Callers define participant kinds; an enum would refuse the next one they invent."""
    for f in (_field("Participant", "kind"), _field("ParticipantInput", "kind")):
        named = f.type.of_type if isinstance(f.type, GraphQLNonNull) else f.type
        assert isinstance(named, GraphQLScalarType)
        assert named.name == "String"
