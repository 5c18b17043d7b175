"""README.md's configuration table and `Settings` agree exactly: the same variables, and each
default in the table is the default `Settings` has (read back through `Settings.from_env`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conversation_service.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
_CODE = re.compile(r"^`([^`]*)`$")


def _table() -> dict[str, str]:
    """`{VARIABLE: default cell}` from the table under `## Configuration`; rows like
    `` `A` / `B` | `1` / `2` `` hold two variables."""
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        names = [n.strip() for n in cells[0].split(" / ")]
        defaults = [d.strip() for d in cells[1].split(" / ")]
        assert len(names) == len(defaults), (
            f"README row {line!r}: names and defaults differ in number"
        )
        for name, default in zip(names, defaults, strict=True):
            match = _CODE.match(name)
            assert match, f"README row {line!r}: variable {name!r} not in backticks"
            assert match[1] not in rows, f"README lists {match[1]} twice"
            rows[match[1]] = default
    return rows


def _variables() -> dict[str, str]:
    """`{VARIABLE: field name}` of `Settings`."""
    out: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        assert field.alias, f"Settings.{name} has no environment variable (alias)"
        out[field.alias] = name
    return out


TABLE = _table()
VARIABLES = _variables()


def test_the_table_was_found() -> None:
    assert len(TABLE) >= 10
    assert "DATABASE_URL" in TABLE


def test_every_setting_is_in_the_table() -> None:
    assert sorted(set(VARIABLES) - set(TABLE)) == []


def test_every_table_variable_is_a_setting() -> None:
    assert sorted(set(TABLE) - set(VARIABLES)) == []


@pytest.mark.parametrize("variable", sorted(TABLE))
def test_the_table_default_is_the_settings_default(variable: str) -> None:
    if variable not in VARIABLES:
        pytest.fail(f"{variable} is in README but not in Settings")
    field = VARIABLES[variable]
    cell = TABLE[variable]
    default = getattr(Settings(), field)
    if cell == "unset":
        assert default in (None, ()), (
            f"README says {variable} is unset by default, Settings has {default!r}"
        )
        return
    match = _CODE.match(cell)
    assert match, f"README default of {variable} must be `value` or unset, got {cell!r}"
    literal = match[1]
    if literal in VARIABLES and literal != variable:
        # The default is another variable's value (BROADCAST_URL defaults to REDIS_URL).
        assert default is None
        other = VARIABLES[literal]
        probe = "probe://value"
        s = Settings.from_env({literal: probe})
        assert (getattr(s, other), getattr(s, field)) == (probe, probe)
        return
    assert default is not None, f"README gives {variable} a default, Settings has none"
    from_readme = getattr(Settings.from_env({variable: literal}), field)
    assert from_readme == default, (
        f"README says {variable} defaults to {literal!r}, which reads as {from_readme!r}; "
        f"Settings' default is {default!r}"
    )
