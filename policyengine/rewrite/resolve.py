"""Which contract a table reference in a query names, the way the database would resolve it.

DuckDB matches names case-insensitively (quoted ones too) and fills in the current catalog and
schema, so ``reviews``, ``main.reviews``, ``demo.reviews`` and ``demo.main.reviews`` are one table
when the database is ``demo``. A reference that could mean two contracts, or none, resolves to
nothing and the query is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policyengine.model import PolicySet, Table, name_key

CURRENT = ""  # the current database, whatever its name


@dataclass(frozen=True)
class TableResolver:
    policy_set: PolicySet
    #: names the current database answers to (DuckDB: the file's stem)
    catalogs: frozenset[str] = frozenset()
    default_schema: str = "main"
    #: canonical (catalog, schema, table) -> the contracts there; built on first use
    _index: dict[tuple[str, str, str], tuple[Table, ...]] | None = field(default=None, init=False, repr=False,
                                                                         compare=False)
    #: answers already given, by the parts as written (bounded: queries choose the parts)
    _answers: dict[tuple[str, ...], Table | None] = field(default_factory=dict, init=False, repr=False,
                                                          compare=False)

    def _interpretations(self, parts: tuple[str, ...]) -> list[tuple[str, str, str]]:
        """Every (catalog, schema, table) the reference can mean; CURRENT for the current database."""
        if len(parts) == 1:
            return [(CURRENT, self.default_schema, parts[0])]
        if len(parts) == 2:
            meanings = [(CURRENT, parts[0], parts[1])]
            if parts[0] in self.catalogs:
                meanings.append((CURRENT, self.default_schema, parts[1]))
            return meanings
        if len(parts) == 3:
            return [(CURRENT if parts[0] in self.catalogs else parts[0], parts[1], parts[2])]
        return []

    def canonical(self, table: Table) -> tuple[str, str, str]:
        parts = table.parts
        if len(parts) == 3:
            return (CURRENT if parts[0] in self.catalogs else parts[0], parts[1], parts[2])
        return (CURRENT, parts[0], parts[1]) if len(parts) == 2 else (CURRENT, self.default_schema, parts[0])

    def resolve(self, parts: tuple[str, ...]) -> Table | None:
        try:
            return self._answers[parts]
        except KeyError:
            pass
        index = self._index
        if index is None:
            built: dict[tuple[str, str, str], tuple[Table, ...]] = {}
            for table in self.policy_set.tables.values():
                key = self.canonical(table)
                built[key] = built.get(key, ()) + (table,)
            object.__setattr__(self, "_index", built)  # one reference swap: threads see all of it or none
            index = built
        matches: list[Table] = []
        for meaning in set(self._interpretations(tuple(name_key(p) for p in parts))):
            matches.extend(index.get(meaning, ()))
        found = matches[0] if len(matches) == 1 else None
        if len(self._answers) >= 4096:
            self._answers.clear()
        self._answers[parts] = found
        return found
