"""The DataLoaders return domain records and the GraphQL types convert them: the loaders do not
depend on the schema at all, not even through imports inside functions (which would hide a cycle
loaders <-> types)."""

from __future__ import annotations

import ast
from pathlib import Path

import conversation_service.resolvers.loaders as loaders


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_loaders_do_not_import_the_schema() -> None:
    imported = _imported_modules(Path(loaders.__file__))
    assert "conversation_service.resolvers.context" in imported  # the walk sees imports
    assert sorted(m for m in imported if m.startswith("conversation_service.schema")) == []
